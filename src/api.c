/*
 * api.c - the agent REST API of the Go original, made strict.
 *
 * api_handle() routes through the one table below, authenticates, checks the
 * body's media type, size and JSON, and calls a handler. Handlers validate
 * with validate.c, act through the store (store.h) and answer with http.c. Every failure
 * is a JSON error with a precise code; nothing is written unless the whole
 * input was valid.
 */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api_policy.h"
#include "apikey.h"
#include "console.h"
#include "console_policy.h"
#include "console_tglogin.h"
#include "cors.h"
#include "events.h"
#include "health.h"
#include "hooks.h"
#include "keycache.h"
#include "log.h"
#include "mcp.h"
#include "metrics.h"
#include "notify.h"
#include "router.h"
#include "shape.h"
#include "store.h"
#include "store_keys.h"
#include "store_outbox.h"
#include "store_requests.h"
#include "store_sessions.h"
#include "store_tg.h"
#include "telegram.h"
#include "validate.h"
#include "version.h"
#include "wait.h"

static void send_result(struct http_req *r, int rc, json_t *out, const struct lg_error *err)
{
    if (rc < 0)
        http_send_error(r, err);
    else
        http_send_json(r, 200, out);
}

/* The body's request_id: a string holding a UUID. */
static int body_request_id(json_t *body, const char **id, struct lg_error *err)
{
    json_t *v = json_object_get(body, "request_id");

    if (v && !json_is_null(v) && !json_is_string(v))
        return lg_fail(err, 400, "invalid_field", "request_id must be a string");
    *id = v ? json_string_value(v) : NULL;
    return validate_request_id(*id, "request_id", "field", err);
}

/* Parse the body as a JSON object, answering the error itself on failure. */
static json_t *body_object(struct http_req *r)
{
    struct lg_error err;
    json_t *body = NULL;

    if (parse_json_object(r->body, r->body_len, &body, &err) < 0) {
        http_send_error(r, &err);
        return NULL;
    }
    return body;
}

static void h_register(struct http_req *r)
{
    struct lg_error err;
    struct register_in in;
    json_t *body = body_object(r), *out = NULL;
    int rc;

    if (!body)
        return;
    rc = validate_register(body, &in, &err);
    if (rc == 0)
        rc = store_session_register(&r->who, &in, &out, &err);
    send_result(r, rc, out, &err);
    json_decref(body);
}

static void h_submit(struct http_req *r)
{
    struct lg_error err;
    struct submit_in in;
    json_t *body = body_object(r), *out = NULL;
    const char *idem = http_param(r, "HTTP_IDEMPOTENCY_KEY");
    bool queued = false;
    char hash[65];
    int rc;

    if (!body)
        return;
    rc = validate_submit(body, r->cfg->request_timeout, &in, &err);
    if (rc == 0 && idem) {
        if (!*idem || strlen(idem) > 255 || !utf8_valid(idem, strlen(idem)) ||
            utf8_has_unsafe(idem, strlen(idem)))
            rc = lg_fail(&err, 400, "invalid_header",
                         "Idempotency-Key must be 1-255 bytes of UTF-8 without control characters");
    }
    if (rc == 0) {
        sha256_hex(r->body, r->body_len, hash);
        rc = store_request_submit(&r->who, &in, idem, hash, r->cfg->max_concurrent_requests,
                                  &queued, &out, &err);
        if (queued)
            notify_outbox_kick_paced();
    }
    if (rc == 0)
        json_object_set_new(out, "options", validate_options_answer(&in));
    if (rc == 0)
        log_info("request submitted", "tenant=%s session=%s request=%s", r->who.tenant,
                 in.session_id, json_string_value(json_object_get(out, "request_id")));
    send_result(r, rc, out, &err);
    json_decref(body);
}

/* The request_id query parameter, checked; answers the error itself. */
static int query_request_id(struct http_req *r, char *id, size_t idlen)
{
    struct lg_error err;
    int rc = http_query_get(r->query, "request_id", id, idlen);

    if (rc < 0)
        rc = lg_fail(&err, 400, "invalid_parameter", "request_id must be a request id (UUID)");
    else if (rc == 1)
        rc = lg_fail(&err, 400, "missing_parameter", "request_id query parameter is required");
    else
        rc = validate_request_id(id, "request_id", "parameter", &err);
    if (rc < 0)
        http_send_error(r, &err);
    return rc;
}

/* The wait parameter of a poll, capped by poll_wait_max; -1 when malformed. */
static int query_wait(struct http_req *r, struct lg_error *err)
{
    char v[16];
    int64_t s;
    int rc = http_query_get(r->query, "wait", v, sizeof(v));

    if (rc == 1 || (rc == 0 && !*v))
        return 0;
    if (rc < 0 || parse_int64(v, &s) < 0 || s < 0)
        return lg_fail(err, 400, "invalid_parameter",
                       "wait must be a whole number of seconds, 0-%d", r->cfg->poll_wait_max);
    return s > r->cfg->poll_wait_max ? r->cfg->poll_wait_max : (int)s;
}

static void h_poll(struct http_req *r)
{
    struct lg_error err;
    char id[64];
    json_t *out = NULL;
    int rc, wait;

    if (query_request_id(r, id, sizeof(id)) < 0)
        return;
    wait = query_wait(r, &err);
    rc = wait < 0 ? -1 : wait_poll(r->cfg, &r->who, id, wait, &out, &err);
    send_result(r, rc, out, &err);
}

/* POST /hitl/callback {request_id, callback_url}: where to POST the result. */
static void h_callback(struct http_req *r)
{
    struct lg_error err;
    json_t *body = body_object(r);
    const char *id = NULL, *url = NULL;
    int rc;

    if (!body)
        return;
    rc = body_request_id(body, &id, &err);
    if (rc == 0)
        rc = validate_callback_url(json_object_get(body, "callback_url"), true, &url, &err);
    if (rc == 0)
        rc = store_callback_set(&r->who, id, url, &err);
    if (rc == 0)
        http_send_json(
            r, 200,
            json_pack("{s:b, s:s, s:s}", "success", 1, "request_id", id, "callback_url", url));
    else
        http_send_error(r, &err);
    json_decref(body);
}

static void h_status(struct http_req *r)
{
    struct lg_error err;
    char sid[ID_MAX_BYTES + 1];
    json_t *out = NULL;
    int rc = http_query_get(r->query, "session_id", sid, sizeof(sid));

    if (rc < 0)
        rc = lg_fail(&err, 400, "invalid_parameter",
                     "session_id must be at most %d bytes, properly URL-encoded", ID_MAX_BYTES);
    else if (rc == 1 || !*sid)
        rc = lg_fail(&err, 400, "missing_parameter", "session_id query parameter is required");
    else if ((rc = validate_id_text(sid, "session_id", "parameter", &err)) == 0)
        rc = store_session_get(&r->who, sid, &out, &err);
    send_result(r, rc, out, &err);
}

static void h_deactivate(struct http_req *r)
{
    struct lg_error err;
    const char *sid;
    json_t *body = body_object(r), *out = NULL;
    int rc;

    if (!body)
        return;
    rc = validate_id(body, "session_id", &sid, &err);
    if (rc == 0)
        rc = store_session_deactivate(&r->who, sid, &out, &err);
    send_result(r, rc, out, &err);
    json_decref(body);
}

static void h_pending(struct http_req *r)
{
    struct lg_error err;
    char sid[ID_MAX_BYTES + 1];
    json_t *out = NULL;
    int rc = http_query_get(r->query, "session_id", sid, sizeof(sid));

    if (rc < 0)
        rc = lg_fail(&err, 400, "invalid_parameter",
                     "session_id must be at most %d bytes, properly URL-encoded", ID_MAX_BYTES);
    else if (rc == 1 || !*sid)
        rc = store_request_pending(&r->who, NULL, &out, &err);
    else if ((rc = validate_id_text(sid, "session_id", "parameter", &err)) == 0)
        rc = store_request_pending(&r->who, sid, &out, &err);
    send_result(r, rc, out, &err);
}

static int key_check(const char *hash, struct actor *who, struct lg_error *err);
static int request_key(struct http_req *r, const char **key, struct lg_error *err);

/*
 * Whether the key (`ctx`: its hex SHA-256) of an open event stream still
 * lets it in. A failed lookup ends the stream too: its client reconnects
 * and is checked as any new request.
 */
static bool events_key_allowed(void *ctx)
{
    struct actor who;
    struct lg_error err;

    return key_check(ctx, &who, &err) == 0;
}

/* GET /hitl/events[?session_id=]: the tenant's request changes as they happen (events.h). */
static void h_events(struct http_req *r)
{
    struct lg_error err;
    char sid[ID_MAX_BYTES + 1];
    char hash[65];
    const char *key;
    struct events_filter f = {.tenant = r->who.tenant};
    int rc = http_query_get(r->query, "session_id", sid, sizeof(sid));

    /* authenticate() has read the key: a stream opened with one ends when it is revoked. */
    if (request_key(r, &key, &err) == 0 && key && *key) {
        sha256_hex(key, strlen(key), hash);
        f.allowed = events_key_allowed;
        f.ctx = hash;
    }

    if (rc < 0) {
        lg_fail(&err, 400, "invalid_parameter",
                "session_id must be at most %d bytes, properly URL-encoded", ID_MAX_BYTES);
        http_send_error(r, &err);
        return;
    }
    if (rc == 0 && *sid) {
        if (validate_id_text(sid, "session_id", "parameter", &err) < 0) {
            http_send_error(r, &err);
            return;
        }
        f.session_id = sid;
    }
    if (events_stream(r, &f) < 0)
        return; /* answered with its error */
}

static void h_cancel(struct http_req *r)
{
    struct lg_error err;
    const char *id = NULL;
    json_t *body = body_object(r), *out = NULL;
    int rc;

    if (!body)
        return;
    rc = body_request_id(body, &id, &err);
    if (rc == 0)
        rc = store_request_cancel(&r->who, id, METRICS_CH_API, &out, &err);
    if (rc == 0)
        notify_outbox_kick(); /* the message edit, the agent's webhook */
    if (rc == 0)
        log_info("request canceled", "tenant=%s request=%s", r->who.tenant, id);
    send_result(r, rc, out, &err);
    json_decref(body);
}

/*
 * One outbox kind's depth and oldest age, summed into the gauges of /metrics.
 */
static void outbox_kind_seen(void *ctx, const char *kind, int64_t queued, double oldest_s)
{
    struct metrics_db *db = ctx;
    int k = metrics_outbox_kind(kind);

    db->outbox_depth[k] += queued;
    if (oldest_s > db->outbox_oldest_age[k])
        db->outbox_oldest_age[k] = oldest_s;
}

/*
 * GET /metrics: the host's figures (metrics.h) and the database's gauges in
 * the Prometheus text format. nginx lets only loopback or its allow-list
 * reach it. A database that does not answer leaves its gauges out.
 */
static void h_metrics(struct http_req *r)
{
    struct metrics_db db = {.ok = true};
    struct lg_error err;
    struct sbuf out = {0};

    /* Bounded like a health probe (db.h): gauges left out rather than a scrape that hangs. */
    db_probe_begin();
    if (store_pending_total(&db.pending, &err) < 0 ||
        store_outbox_depth(outbox_kind_seen, &db, &err) < 0) {
        log_warn("metrics: could not read the database's gauges", "error=\"%s\"", err.message);
        db.ok = false;
    }
    db_probe_end();
    metrics_render(&out, &db);
    http_send_text(r, 200, "text/plain; version=0.0.4; charset=utf-8", out.p, out.len);
    sb_free(&out);
}

/*
 * POST <telegram_webhook_path>: an update from Telegram. The secret header
 * was checked already; answer 200 only once the update is committed (or
 * recorded as refused for good, so Telegram stops repeating it). A body that
 * is not a JSON object within the limits is no update Telegram sends (its
 * updates nest a dozen levels at most): 400, logged, nothing recorded.
 */
static void h_telegram(struct http_req *r)
{
    struct lg_error err;
    json_t *body = NULL;

    if (parse_json_object(r->body, r->body_len, &body, &err) < 0) {
        log_warn("telegram webhook body refused", "status=%d error=\"%s\"", err.status,
                 err.message);
        http_send_error(r, &err);
        return;
    }
    if (telegram_accept_update(r->cfg, body, &err) < 0)
        http_send_error(r, &err);
    else
        http_send_json(r, 200, json_pack("{s:b}", "ok", 1));
    json_decref(body);
}

static const struct route webhook_route = {"POST", "(telegram webhook)", h_telegram, AUTH_TELEGRAM,
                                           1};

static const struct route routes[] = {
    {"POST", "/hitl/register", h_register, AUTH_TENANT, 1},
    {"POST", "/sessions/register", h_register, AUTH_TENANT, 1},
    {"POST", "/hitl/request", h_submit, AUTH_TENANT, 1},
    {"GET", "/hitl/poll", h_poll, AUTH_TENANT, 0},
    {"GET", "/hitl/status", h_status, AUTH_TENANT, 0},
    {"POST", "/hitl/deactivate", h_deactivate, AUTH_TENANT, 1},
    {"GET", "/hitl/pending", h_pending, AUTH_TENANT, 0},
    {"GET", "/hitl/events", h_events, AUTH_TENANT, 0},
    {"POST", "/hitl/cancel", h_cancel, AUTH_TENANT, 1},
    {"POST", "/hitl/callback", h_callback, AUTH_TENANT, 1},
    {"POST", "/v1/hooks/claude-code", hooks_claude_code, AUTH_TENANT, 0}, /* body: hooks.c */
    {"POST", "/v1/hooks/codex", hooks_codex, AUTH_TENANT, 0},             /* body: hooks.c */
    {"POST", "/v1/hooks/gemini", hooks_gemini, AUTH_TENANT, 0},           /* body: hooks.c */
    /* rules for coding agents' tool calls (api_policy.h) */
    {"GET", "/v1/policies", api_policies_get, AUTH_TENANT, 0},
    {"POST", "/v1/policies", api_policies_post, AUTH_TENANT, 1},
    {"DELETE", "/v1/policies/*", api_policies_delete, AUTH_TENANT, 0},
    /* health.h: the original check, the process alive, ready for traffic */
    {"GET", "/health", health_get, AUTH_NONE, 0},
    {"GET", "/livez", health_livez, AUTH_NONE, 0},
    {"GET", "/readyz", health_readyz, AUTH_NONE, 0},
    {"GET", "/metrics", h_metrics, AUTH_NONE, 0},
    {"POST", "/mcp", mcp_post, AUTH_TENANT, 1},
    {"GET", "/mcp", mcp_get, AUTH_TENANT, 0},
    {"DELETE", "/mcp", mcp_delete, AUTH_TENANT, 0},
    {"GET", "/mcp/tools", mcp_tools_json, AUTH_NONE, 0},
    {"GET", "/mcp/capabilities", mcp_capabilities_json, AUTH_NONE, 0},
    /* the approval console (console.h): a session cookie, and a CSRF token on POST */
    {"POST", "/console/api/login", console_login, AUTH_NONE, 1},
    {"POST", "/console/api/logout", console_logout, AUTH_CONSOLE, 0},
    /* Telegram's login_url: its signed data vouches for the person (console_tglogin.h) */
    {"GET", "/console/api/telegram-login", console_telegram_login, AUTH_NONE, 0},
    {"GET", "/console/api/me", console_me, AUTH_CONSOLE, 0},
    {"GET", "/console/api/pending", console_pending, AUTH_CONSOLE, 0},
    {"GET", "/console/api/events", console_events, AUTH_CONSOLE, 0},
    {"GET", "/console/api/requests/*", console_request, AUTH_CONSOLE, 0},
    {"POST", "/console/api/requests/*/vote", console_vote, AUTH_CONSOLE, 1},
    {"GET", "/console/api/history", console_history, AUTH_CONSOLE, 0},
    {"GET", "/console/api/sessions", console_sessions, AUTH_CONSOLE, 0},
    {"GET", "/console/api/audit/export", console_audit_export, AUTH_CONSOLE, 0},
    {"GET", "/console/api/audit/verify", console_audit_verify, AUTH_CONSOLE, 0},
    /* policy rules, for the tenant's admins (console_policy.h) */
    {"GET", "/console/api/policies", console_policies_get, AUTH_CONSOLE, 0},
    {"POST", "/console/api/policies", console_policies_post, AUTH_CONSOLE, 1},
    {"POST", "/console/api/policies/*/revoke", console_policy_revoke, AUTH_CONSOLE, 1},
};

void api_metrics_routes(void)
{
    metrics_route_add(webhook_route.path);
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        metrics_route_add(routes[i].path);
}

/*
 * Pick the tenant: a valid key names it; no key is the "default" tenant when
 * auth = off, a 401 when auth = required. A key that is present but unknown
 * is always a 401.
 */
/*
 * The API key `r` carries (Authorization: Bearer, else X-API-Key): a
 * borrowed pointer, NULL when there is none; -1 when Authorization is not a
 * Bearer key.
 */
static int request_key(struct http_req *r, const char **key, struct lg_error *err)
{
    const char *auth = http_param(r, "HTTP_AUTHORIZATION");

    *key = http_param(r, "HTTP_X_API_KEY");
    if (auth && *auth) {
        if (strncasecmp(auth, "Bearer ", 7) != 0)
            return lg_fail(err, 401, "unauthorized", "Authorization must be 'Bearer <api key>'");
        *key = auth + 7;
        while (**key == ' ')
            (*key)++;
    }
    return 0;
}

/* Whether the key with hex SHA-256 `hash` exists and is not revoked: 0 yes (`who` filled), 1 no. */
static int key_check(const char *hash, struct actor *who, struct lg_error *err)
{
    uint64_t gen;
    int rc;

    if (keycache_get(hash, who))
        return 0;
    gen = keycache_generation();
    rc = store_key_lookup(hash, who, err);
    if (rc == 0)
        keycache_put(hash, who, gen);
    return rc;
}

/*
 * Log a refused API key at warn: the reason, where it came from, and at most
 * the key's public prefix (what `loopgate apikey list` shows), only when the
 * key has the shape of ours; of anything else only its length.
 */
static void key_refused(const struct http_req *r, const char *reason, const char *key)
{
    char prefix[APIKEY_PREFIX_LEN + 1] = "-";
    size_t len = key ? strlen(key) : 0;
    bool ours = len == APIKEY_LEN && !strncmp(key, "lg_", 3);

    for (size_t i = 3; ours && i < len; i++)
        ours = (key[i] >= '0' && key[i] <= '9') || (key[i] >= 'a' && key[i] <= 'f');
    if (ours)
        lg_strlcpy(prefix, key, sizeof(prefix));
    log_warn("API key refused",
             "reason=%s key_prefix=%s key_length=%zu remote=%s route=%s request_id=%s", reason,
             prefix, len, http_param(r, "REMOTE_ADDR") ? http_param(r, "REMOTE_ADDR") : "-",
             r->route, r->request_id);
}

static int authenticate(struct http_req *r, struct lg_error *err)
{
    const char *key;
    char hash[65];
    int rc;

    if (request_key(r, &key, err) < 0) {
        key_refused(r, "not_bearer", NULL);
        return -1;
    }
    if (!key || !*key) {
        if (r->cfg->auth_required) {
            key_refused(r, "missing", NULL);
            return lg_fail(
                err, 401, "unauthorized",
                "an API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'");
        }
        lg_strlcpy(r->who.tenant, "default", sizeof(r->who.tenant));
        lg_strlcpy(r->who.name, "anonymous", sizeof(r->who.name));
        return 0;
    }
    if (strlen(key) > 200) {
        key_refused(r, "too_long", key);
        return lg_fail(err, 401, "unauthorized", "invalid API key");
    }
    sha256_hex(key, strlen(key), hash);
    rc = key_check(hash, &r->who, err);
    if (rc < 0)
        return -1;
    if (rc == 1) {
        key_refused(r, "unknown_or_revoked", key);
        return lg_fail(err, 401, "unauthorized", "invalid or revoked API key");
    }
    return 0;
}

/* Telegram proves itself with the secret set by setWebhook; compared in constant time. */
static int telegram_secret_ok(struct http_req *r, struct lg_error *err)
{
    const char *got = http_param(r, "HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN");
    const char *want = r->cfg->telegram_webhook_secret;

    if (!want || !*want)
        return lg_fail(err, 401, "unauthorized",
                       "the Telegram webhook is disabled: no telegram_webhook_secret is set");
    if (!got || !ct_equal(got, strlen(got), want, strlen(want))) {
        log_warn("telegram webhook call with a missing or wrong secret",
                 "reason=%s remote=%s request_id=%s", got ? "wrong_secret" : "missing_secret",
                 http_param(r, "REMOTE_ADDR") ? http_param(r, "REMOTE_ADDR") : "-", r->request_id);
        return lg_fail(err, 401, "unauthorized",
                       "missing or wrong X-Telegram-Bot-Api-Secret-Token");
    }
    return 0;
}

void api_handle(struct http_req *r)
{
    const struct route *rt;
    struct console_user cu;
    struct lg_error err;
    char allow[64], hdr[96];
    int status = 405;

    if (!strcmp(r->path, r->cfg->telegram_webhook_path)) {
        rt = !strcmp(r->method, "POST") ? &webhook_route : NULL;
        lg_strlcpy(allow, "POST", sizeof(allow));
    } else {
        rt = router_match(routes, sizeof(routes) / sizeof(routes[0]), r->method, r->path, &status,
                          allow, sizeof(allow));
        if (cors_path(r->path))
            cors_prepare(r);
    }
    if (!rt) {
        if (status == 405 && r->cors[0] && cors_is_preflight(r)) {
            /* A preflight: the MCP checks of Host and Origin come first. */
            if (!strncmp(r->path, "/mcp", 4) && mcp_check_origin(r, &err) < 0)
                http_send_error(r, &err);
            else
                cors_preflight(r, allow);
        } else if (status == 405 && cors_path(r->path) && cors_is_preflight(r)) {
            lg_fail(&err, 403, "forbidden_origin",
                    "no browser origin may call %s (cors_allowed_origins is empty)", r->path);
            http_send_error(r, &err);
        } else if (status == 405) {
            lg_fail(&err, 405, "method_not_allowed", "%s is not allowed on %s; use %s", r->method,
                    r->path, allow);
            snprintf(hdr, sizeof(hdr), "Allow: %s\r\n", allow);
            http_send_json_hdr(r, 405, shape_error(err.code, err.message), hdr);
        } else {
            lg_fail(&err, 404, "not_found", "no such endpoint: %s %s", r->method, r->path);
            http_send_error(r, &err);
        }
        return;
    }
    r->route = rt->path;
    if (!strncmp(r->path, "/mcp", 4) && mcp_check_origin(r, &err) < 0) {
        http_send_error(r, &err);
        return;
    }
    if ((rt->auth == AUTH_TENANT && authenticate(r, &err) < 0) ||
        (rt->auth == AUTH_TELEGRAM && telegram_secret_ok(r, &err) < 0) ||
        (rt->auth == AUTH_CONSOLE && console_authenticate(r, &cu, &err) < 0)) {
        http_send_error(r, &err);
        return;
    }
    if (rt->json_body) {
        const char *ct = http_param(r, "CONTENT_TYPE");
        if (!media_type_is_json(ct)) {
            lg_fail(&err, 415, "unsupported_media_type",
                    "Content-Type must be application/json (got '%s')", ct && *ct ? ct : "none");
            http_send_error(r, &err);
            return;
        }
        if (http_read_body(r, (size_t)r->cfg->max_body_bytes, &err) < 0) {
            http_send_error(r, &err);
            return;
        }
    }
    rt->fn(r);
}
