/*
 * console.c - the approval console's JSON API and `loopgate console link`;
 * see console.h for the model.
 */
#include "console.h"
#include "events.h"

#include <getopt.h>
#include <regex.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apikey.h"
#include "audit.h"
#include "db.h"
#include "decide.h"
#include "events.h"
#include "hooks.h"
#include "log.h"
#include "notify.h"
#include "params.h"
#include "shape.h"
#include "tgmsg.h"
#include "validate.h"

/* The length of a token (32 random bytes as base64url), as token_new makes them. */
#define TOKEN_LEN 43
/* The longest reason a console vote may carry, in bytes. */
#define REASON_MAX_BYTES 1024
/* The longest typed answer, in bytes (as long as a Telegram message). */
#define TEXT_MAX_BYTES 4096

static const char *remote_addr(const struct http_req *r)
{
    const char *a = http_param(r, "REMOTE_ADDR");

    return a && *a ? a : "-";
}

static bool over_https(const struct http_req *r)
{
    const char *h = http_param(r, "HTTPS");

    return h && (!strcmp(h, "on") || !strcmp(h, "ON"));
}

/* True for a token's shape: TOKEN_LEN characters of base64url. */
static bool token_shape(const char *t)
{
    size_t n = t ? strlen(t) : 0;

    return n == TOKEN_LEN && strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                       "0123456789-_") == n;
}

/*
 * The value of cookie `name` in the Cookie header into out[TOKEN_LEN + 1];
 * false when absent or not a token's shape.
 */
static bool cookie_get(const char *header, const char *name, char *out)
{
    size_t nl = strlen(name);
    const char *p = header;

    while (p && *p) {
        size_t len;

        p += strspn(p, " \t;");
        len = strcspn(p, ";");
        if (len > nl && !strncmp(p, name, nl) && p[nl] == '=') {
            size_t vl = len - nl - 1;

            if (vl != TOKEN_LEN)
                return false;
            memcpy(out, p + nl + 1, vl);
            out[vl] = '\0';
            return token_shape(out);
        }
        p += len;
    }
    return false;
}

/*
 * The session cookie of the request, hashed into sha[65]; false when none.
 * Over HTTPS only the __Host- cookie counts (a plain-named one can be set
 * by a sibling host or over plain HTTP: cookie tossing), over HTTP only
 * the plain one (the __Host- cookie is never sent there).
 */
static bool session_cookie_sha(const struct http_req *r, char sha[65])
{
    const char *h = http_param(r, "HTTP_COOKIE");
    char v[TOKEN_LEN + 1];

    if (!h || !cookie_get(h, over_https(r) ? CONSOLE_COOKIE_SECURE : CONSOLE_COOKIE, v))
        return false;
    sha256_hex(v, strlen(v), sha);
    return true;
}

/* "Set-Cookie: ...\r\n" for `value` (NULL: clear it) as the request's scheme wants. */
static void set_cookie_line(const struct http_req *r, const char *value, char *out, size_t len)
{
    bool https = over_https(r);

    snprintf(out, len, "Set-Cookie: %s=%s; Path=/; Max-Age=%d; HttpOnly; SameSite=Strict%s\r\n",
             https ? CONSOLE_COOKIE_SECURE : CONSOLE_COOKIE, value ? value : "",
             value ? CONSOLE_SESSION_SECONDS : 0, https ? "; Secure" : "");
}

/* Whether `id` may act under an allow-list (an empty list: everyone). */
static bool allow_listed(const struct id_list *l, int64_t id)
{
    if (l->n == 0)
        return true;
    for (int i = 0; i < l->n; i++)
        if (l->ids[i] == id)
            return true;
    return false;
}

int console_authenticate(struct http_req *r, struct console_user *u, struct lg_error *err)
{
    const char *csrf;
    char sha[65];
    int rc;

    if (!session_cookie_sha(r, sha))
        return lg_fail(err, 401, "unauthenticated", "sign in to the console first");
    rc = store_console_session_get(sha, u, err);
    if (rc < 0)
        return -1;
    if (rc == 1)
        return lg_fail(err, 401, "unauthenticated",
                       "the console session ended (signed out or expired); sign in again");
    /* Telegram's global allow-list holds in every channel. */
    if (u->telegram_id > 0 && !allow_listed(&r->cfg->telegram_allowed_users, u->telegram_id))
        return lg_fail(err, 403, "forbidden",
                       "this Telegram user is not in telegram_allowed_users");
    if (!strcmp(r->method, "POST")) {
        csrf = http_param(r, "HTTP_X_CSRF_TOKEN");
        if (!csrf || !*u->csrf || !ct_equal(csrf, strlen(csrf), u->csrf, strlen(u->csrf)))
            return lg_fail(err, 403, "csrf", "missing or wrong X-CSRF-Token header");
    }
    lg_strlcpy(r->who.tenant, u->tenant, sizeof(r->who.tenant));
    lg_strlcpy(r->who.name, u->person, sizeof(r->who.name));
    r->console = u;
    return 0;
}

/* GET /console/api/me and the login's "user". New reference. */
static json_t *me_json(const struct console_user *u)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "tenant", u->tenant, "user", u->person,
                     "name", u->name, "role", u->role, "csrf", u->csrf, "expires_at",
                     u->expires_at);
}

int console_session_start(struct http_req *r, const char *tenant, const char *person,
                          const char *name, const char *role, const char *via, char *set_cookie,
                          size_t len, struct console_user *u, struct lg_error *err)
{
    struct console_user me;
    char token[TOKEN_LEN + 1], sha[65], csrf[TOKEN_LEN + 1], csha[65];

    if (console_user_set(&me, tenant, person, name, role, err) < 0)
        return -1;
    if (token_new(token, sha) < 0 || token_new(csrf, csha) < 0)
        return lg_fail(err, 503, "unavailable", "no randomness for a session token");
    lg_strlcpy(me.csrf, csrf, sizeof(me.csrf));
    if (store_console_session_create(&me, sha, CONSOLE_SESSION_SECONDS, via, remote_addr(r), err) <
        0)
        return -1;
    set_cookie_line(r, token, set_cookie, len);
    if (u)
        *u = me;
    return 0;
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

void console_login(struct http_req *r)
{
    struct console_user u;
    struct lg_error err;
    char key[96], hdr[64], lsha[65], token[TOKEN_LEN + 1], sha[65], csrf[TOKEN_LEN + 1], csha[65],
        cookie[256];
    const char *link;
    json_t *body, *out;
    int retry = 60, rc;

    snprintf(key, sizeof(key), "login:%s", remote_addr(r));
    rc = store_console_rate(key, CONSOLE_LOGIN_PER_MINUTE, &retry, &err);
    if (rc != 0) {
        if (rc > 0) {
            log_warn("console login refused", "reason=rate_limited remote=%s request_id=%s",
                     remote_addr(r), r->request_id);
            lg_fail(&err, 429, "rate_limited", "too many sign-in attempts; try again in %d s",
                    retry);
            snprintf(hdr, sizeof(hdr), "Retry-After: %d\r\n", retry);
            http_send_json_hdr(r, 429, shape_error(err.code, err.message), hdr);
        } else {
            http_send_error(r, &err);
        }
        return;
    }
    if (!(body = body_object(r)))
        return;
    link = json_string_value(json_object_get(body, "token"));
    if (!json_is_string(json_object_get(body, "token"))) {
        lg_fail(&err, 400, "invalid_field", "token must be the string after #login= in the link");
        goto fail;
    }
    if (!token_shape(link)) {
        log_warn("console login refused", "reason=malformed_link remote=%s request_id=%s",
                 remote_addr(r), r->request_id);
        lg_fail(&err, 401, "invalid_link",
                "this sign-in link is not valid (wrong, used or expired); ask for a new one");
        goto fail;
    }
    sha256_hex(link, strlen(link), lsha);
    if (token_new(token, sha) < 0 || token_new(csrf, csha) < 0) {
        lg_fail(&err, 503, "unavailable", "no randomness for a session token");
        goto fail;
    }
    rc = store_console_login(lsha, sha, csrf, CONSOLE_SESSION_SECONDS, remote_addr(r), &u, &err);
    if (rc < 0)
        goto fail;
    if (rc == 1) {
        log_warn("console login refused", "reason=unknown_used_or_expired remote=%s request_id=%s",
                 remote_addr(r), r->request_id);
        lg_fail(&err, 401, "invalid_link",
                "this sign-in link is not valid (wrong, used or expired); ask for a new one");
        goto fail;
    }
    log_info("console login", "tenant=%s user=%s role=%s remote=%s", u.tenant, u.person, u.role,
             remote_addr(r));
    set_cookie_line(r, token, cookie, sizeof(cookie));
    out = json_pack("{s:o, s:s}", "user", me_json(&u), "csrf", u.csrf);
    http_send_json_hdr(r, 200, out, cookie);
    json_decref(body);
    return;
fail:
    http_send_error(r, &err);
    json_decref(body);
}

void console_logout(struct http_req *r)
{
    struct lg_error err;
    char sha[65], cookie[256];

    if (!session_cookie_sha(r, sha) || store_console_logout(sha, remote_addr(r), &err) < 0) {
        if (!session_cookie_sha(r, sha))
            lg_fail(&err, 401, "unauthenticated", "sign in to the console first");
        http_send_error(r, &err);
        return;
    }
    log_info("console logout", "tenant=%s user=%s", r->console->tenant, r->console->person);
    set_cookie_line(r, NULL, cookie, sizeof(cookie));
    http_send_json_hdr(r, 200, json_pack("{s:b}", "ok", 1), cookie);
}

void console_me(struct http_req *r)
{
    http_send_json(r, 200, me_json(r->console));
}

static void answer(struct http_req *r, int rc, json_t *out, const struct lg_error *err)
{
    if (rc < 0)
        http_send_error(r, err);
    else
        http_send_json(r, 200, out);
}

/* What a console event stream needs to re-check its user (console_events). */
struct console_stream {
    const struct console_user *u;
    char sha[65]; /* the session cookie's SHA-256 */
};

/* An approver's stream shows only the requests it may see; a failed read shows nothing. */
static bool stream_visible(void *ctx, const struct events_row *row)
{
    const struct console_stream *cs = ctx;
    struct lg_error err;

    return row->request_id && store_console_can_see(cs->u, row->request_id, &err) == 1;
}

/* A stream ends with its session: signed out, expired, or unreadable (fail closed). */
static bool stream_allowed(void *ctx)
{
    const struct console_stream *cs = ctx;
    struct console_user now;
    struct lg_error err;

    return store_console_session_get(cs->sha, &now, &err) == 0;
}

void console_events(struct http_req *r)
{
    struct console_stream cs = {.u = r->console};
    struct events_filter f = {.tenant = r->console->tenant, .allowed = stream_allowed, .ctx = &cs};

    if (!session_cookie_sha(r, cs.sha)) { /* console_authenticate read it a moment ago */
        struct lg_error err;

        lg_fail(&err, 401, "unauthenticated", "sign in to the console first");
        http_send_error(r, &err);
        return;
    }
    if (strcmp(r->console->role, "admin") != 0)
        f.visible = stream_visible;
    if (events_stream(r, &f) < 0)
        return; /* answered with its error */
}

void console_pending(struct http_req *r)
{
    struct lg_error err;
    json_t *out = NULL;
    int rc = store_console_pending(r->console, &out, &err);

    answer(r, rc, out, &err);
}

/*
 * The request id of /console/api/requests/<id>[/vote] into id[37]; answers
 * 404 itself when it is not a UUID.
 */
static int path_request_id(struct http_req *r, char id[37])
{
    const char *p = r->path + strlen("/console/api/requests/");
    size_t n = strcspn(p, "/");
    struct lg_error err;

    if (n == 36) {
        memcpy(id, p, 36);
        id[36] = '\0';
        if (uuid_valid(id))
            return 0;
    }
    lg_fail(&err, 404, "not_found", "no such request");
    http_send_error(r, &err);
    return -1;
}

/*
 * Add "choices" to detail `d`: the request's buttons with what each means
 * ([{"label","approve"}], as Telegram offers them; Approve / Deny for a
 * confirmation without options, none for an input request), read from the
 * private "_option_approve" before it is removed.
 */
static void detail_choices(json_t *d)
{
    struct tg_choice choices[TG_MAX_CHOICES];
    struct lg_request req;
    json_t *hold = NULL, *arr = json_array(), *opts = json_object_get(d, "options");
    char *text = json_is_array(opts) ? json_dumps(opts, JSON_COMPACT) : NULL;
    int n;

    memset(&req, 0, sizeof(req));
    req.request_type = json_string_value(json_object_get(d, "request_type"));
    req.option_approve = json_string_value(json_object_get(d, "_option_approve"));
    if (req.option_approve && !*req.option_approve)
        req.option_approve = NULL;
    req.options_json = text;
    n = tgmsg_choices(&req, choices, &hold);
    for (int i = 0; i < n; i++)
        json_array_append_new(
            arr, json_pack("{s:s, s:b}", "label", choices[i].label, "approve", choices[i].approve));
    json_object_set_new(d, "choices", arr);
    json_decref(hold);
    free(text);
}

/* The detail of request `id` for the console user, with the vote's private fields removed. */
static int request_detail(const struct console_user *u, const char *id, json_t **out,
                          struct lg_error *err)
{
    int rc = store_console_request(u, id, out, err);

    if (rc == 0) {
        detail_choices(*out);
        json_object_del(*out, "_submitted_params");
        json_object_del(*out, "_option_approve");
    }
    return rc;
}

void console_request(struct http_req *r)
{
    struct lg_error err;
    char id[37];
    json_t *out = NULL;
    int rc;

    if (path_request_id(r, id) < 0)
        return;
    rc = request_detail(r->console, id, &out, &err);
    answer(r, rc, out, &err);
}

/* An optional reason: trimmed UTF-8 text without controls (newline and tab allowed). */
static int body_reason(json_t *body, char **out, struct lg_error *err)
{
    json_t *v = json_object_get(body, "reason");
    const char *s;
    size_t a, b;

    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return lg_fail(err, 400, "invalid_field", "reason must be a string");
    s = json_string_value(v);
    b = json_string_length(v);
    if (b > REASON_MAX_BYTES)
        return lg_fail(err, 400, "invalid_field", "reason must be at most %d bytes",
                       REASON_MAX_BYTES);
    if (!utf8_valid(s, b) || strlen(s) != b)
        return lg_fail(err, 400, "invalid_field", "reason must be UTF-8 text");
    for (size_t i = 0; i < b; i++)
        if (((unsigned char)s[i] < 0x20 && s[i] != '\n' && s[i] != '\t') || s[i] == 0x7f)
            return lg_fail(err, 400, "invalid_field",
                           "reason must not hold control characters (newline and tab are fine)");
    a = strspn(s, " \t\n");
    while (b > a && strchr(" \t\n", s[b - 1]))
        b--;
    if (b > a) {
        *out = xmalloc(b - a + 1);
        memcpy(*out, s + a, b - a);
        (*out)[b - a] = '\0';
    }
    return 0;
}

/*
 * Read a vote's body against request detail `d` into `v` (response,
 * approve, params) and its audit detail. Four shapes (console.h): approve,
 * option, text, approve with params. `hold` keeps what v's strings borrow.
 */
static int vote_from_body(json_t *body, json_t *d, struct console_vote *v, json_t **hold,
                          struct lg_error *err)
{
    static const char *const known[] = {"approve", "option", "text", "params", "reason", NULL};
    json_t *ja = json_object_get(body, "approve"), *jo = json_object_get(body, "option");
    json_t *jt = json_object_get(body, "text"), *jp = json_object_get(body, "params");
    const char *type = json_string_value(json_object_get(d, "request_type"));
    struct tg_choice choices[TG_MAX_CHOICES];
    struct lg_request req;
    const char *key;
    json_t *val;
    int n, shapes = (ja != NULL) + (jo != NULL) + (jt != NULL);

    json_object_foreach(body, key, val)
    {
        bool ok = false;
        for (int i = 0; known[i]; i++)
            ok = ok || !strcmp(key, known[i]);
        if (!ok)
            return lg_fail(err, 400, "invalid_field",
                           "unknown field '%.64s': a vote is {approve}, {option}, {text} or "
                           "{approve:true, params}, each with an optional reason",
                           key);
    }
    if (shapes != 1)
        return lg_fail(err, 400, "invalid_body",
                       "a vote has exactly one of approve (true or false), option (an index) or "
                       "text (a typed answer)");
    if (jp && !json_is_true(ja))
        return lg_fail(err, 400, "invalid_body", "params go with approve: true");
    /* the request's buttons, as Telegram shows them (tgmsg_choices) */
    memset(&req, 0, sizeof(req));
    req.request_type = type;
    req.option_approve = json_string_value(json_object_get(d, "_option_approve"));
    if (req.option_approve && !*req.option_approve)
        req.option_approve = NULL;
    *hold = NULL;
    {
        json_t *opts = json_object_get(d, "options");
        char *text = json_is_array(opts) ? json_dumps(opts, JSON_COMPACT) : NULL;

        req.options_json = text;
        n = tgmsg_choices(&req, choices, hold);
        free(text);
    }
    if (jo) {
        json_int_t i = json_is_integer(jo) ? json_integer_value(jo) : -1;

        if (n == 0 || !strcmp(type ? type : "", "input"))
            return lg_fail(err, 400, "invalid_field",
                           "this request has no options: vote with approve or text");
        if (!json_is_integer(jo) || i < 0 || i >= n)
            return lg_fail(err, 400, "invalid_field", "option must be an index 0-%d", n - 1);
        v->approve = choices[i].approve;
        v->response = choices[i].label;
        json_object_set_new(v->detail, "option", json_integer(i));
    } else if (jt) {
        const char *t = json_string_value(jt);

        if (!type || strcmp(type, "input") != 0)
            return lg_fail(err, 400, "invalid_field",
                           "text answers an input request; this one takes approve or option");
        if (!json_is_string(jt) || !*t || json_string_length(jt) > TEXT_MAX_BYTES ||
            strlen(t) != json_string_length(jt) || !utf8_valid(t, strlen(t)))
            return lg_fail(err, 400, "invalid_field", "text must be 1-%d bytes of UTF-8 text",
                           TEXT_MAX_BYTES);
        /* only a whole answer that is an approval word approves */
        v->approve = decide_answer_approves(t);
        v->response = t;
    } else {
        int approving = 0;
        const char *label = NULL;

        if (!json_is_boolean(ja))
            return lg_fail(err, 400, "invalid_field", "approve must be true or false");
        v->approve = json_is_true(ja);
        for (int i = 0; i < n; i++) {
            if (!v->approve && !choices[i].approve && !label)
                label = choices[i].label;
            if (v->approve && choices[i].approve) {
                approving++;
                label = choices[i].label;
            }
        }
        if (v->approve && n > 0 && approving != 1)
            return lg_fail(err, 400, "invalid_field",
                           approving ? "this request has several options that approve: vote "
                                       "with the option you mean"
                                     : "this request has no option that approves");
        v->response = label ? label : v->approve ? CONFIRM_APPROVE_LABEL : CONFIRM_DENY_LABEL;
    }
    return 0;
}

/*
 * Approve with edits: `edit` (an object) is the whole params the person
 * approves, as the form shows them, checked by params_replace (the rules of
 * Telegram's /edit: known keys, the schema, a required key stays; without a
 * schema each key keeps its submitted type). A key left out is removed.
 * *out is NULL when the result is the submitted params (an approval as sent).
 */
static int vote_params(json_t *d, json_t *edit, json_t **out, struct lg_error *err)
{
    json_t *params = json_object_get(d, "_submitted_params");
    json_t *schema = json_object_get(d, "params_schema");
    struct lg_error perr;

    *out = NULL;
    if (!json_is_object(edit))
        return lg_fail(err, 400, "invalid_field",
                       "params must be an object: the whole params approved");
    if (!json_is_object(params))
        return lg_fail(err, 422, "invalid_params", "this request has no parameters to edit");
    if (json_integer_value(json_object_get(d, "approvals_required")) > 1)
        return lg_fail(err, 422, "invalid_params",
                       "this request needs several approvals; edits need a request with a "
                       "single approver (nobody may approve parameters they did not see)");
    if (params_replace(params, json_is_object(schema) ? schema : NULL, edit, out, &perr) < 0)
        return lg_fail(err, 422, "invalid_params", "%s", perr.message);
    if (json_equal(*out, params)) {
        json_decref(*out);
        *out = NULL;
    }
    return 0;
}

/*
 * Whether the person can read request detail `d` whole in the console: a
 * coding agent's call whose message had to be cut (HOOKS_CUT_MARK) only
 * with its tool input stored, which the request page shows whole.
 */
static bool readable_whole(json_t *d)
{
    const char *m = json_string_value(json_object_get(d, "message"));
    size_t n = m ? strlen(m) : 0, k = strlen(HOOKS_CUT_MARK);

    if (n < k || strcmp(m + n - k, HOOKS_CUT_MARK))
        return true;
    return json_is_object(json_object_get(d, "tool_input"));
}

void console_vote(struct http_req *r)
{
    const struct console_user *u = r->console;
    struct console_vote v;
    struct lg_error err;
    json_t *body = NULL, *d = NULL, *hold = NULL, *out;
    char id[37], *reason = NULL;
    const char *result = NULL;
    int rc;

    memset(&v, 0, sizeof(v));
    if (path_request_id(r, id) < 0)
        return;
    if (!(body = body_object(r)))
        return;
    v.request_id = id;
    v.detail = json_pack("{s:s, s:s}", "via", "console", "user_name", u->name);
    if (u->telegram_id > 0)
        json_object_set_new(v.detail, "user_id", json_integer((json_int_t)u->telegram_id));
    rc = store_console_request(u, id, &d, &err);
    /* a person who voted hears that first, whether or not the request is decided since */
    if (rc == 0 && json_is_true(json_object_get(d, "already_voted")))
        rc = lg_fail(&err, 409, "already_voted", "you already voted on this request");
    if (rc == 0 && strcmp(json_string_value(json_object_get(d, "status")), "pending") != 0)
        rc = lg_fail(&err, 409, "not_pending", "this request is no longer pending");
    if (rc == 0 && !json_is_true(json_object_get(d, "may_vote")))
        rc = lg_fail(&err, 403, "forbidden",
                     "only the approvers its session lists decide this request; you may read it");
    if (rc == 0)
        rc = body_reason(body, &reason, &err);
    if (rc == 0)
        rc = vote_from_body(body, d, &v, &hold, &err);
    if (rc == 0 && json_object_get(body, "params"))
        rc = vote_params(d, json_object_get(body, "params"), &v.params, &err);
    if (rc == 0 && v.approve && !readable_whole(d))
        rc = lg_fail(&err, 409, "message_cut",
                     "this call's message was cut and its whole input is not stored, so nobody "
                     "can read all of it: it can only be denied");
    if (rc < 0)
        goto out;
    v.reason = reason;
    json_object_set_new(v.detail, "response", json_string(v.response));
    json_object_set_new(v.detail, "approved", json_boolean(v.approve));
    if (reason)
        json_object_set_new(v.detail, "reason", json_string(reason));
    if (v.params) {
        char sha[65];

        params_sha256(v.params, sha);
        json_object_set(v.detail, "params", v.params);
        json_object_set_new(v.detail, "params_sha256", json_string(sha));
        json_object_set_new(v.detail, "edited", json_true());
    }
    rc = store_console_vote(u, &v, &result, &err);
    if (rc < 0)
        goto out;
    notify_outbox_kick(); /* the Telegram message's edit, the agent's webhook */
    log_info("console vote", "tenant=%s request=%s user=%s result=%s", u->tenant, id, u->person,
             result);
    json_decref(d);
    d = NULL;
    rc = request_detail(u, id, &d, &err);
    if (rc < 0)
        goto out;
    out = json_pack("{s:s, s:O}", "result", result, "request", d);
    http_send_json(r, 200, out);
out:
    if (rc < 0)
        http_send_error(r, &err);
    free(reason);
    json_decref(v.params);
    json_decref(v.detail);
    json_decref(hold);
    json_decref(d);
    json_decref(body);
}

/* A query parameter of at most outlen-1 bytes; 1 absent or empty; answers the error itself. */
static int query_param(struct http_req *r, const char *name, char *out, size_t outlen)
{
    struct lg_error err;
    int rc = http_query_get(r->query, name, out, outlen);

    if (rc < 0) {
        lg_fail(&err, 400, "invalid_parameter", "%s is malformed or too long", name);
        http_send_error(r, &err);
        return -1;
    }
    return rc == 1 || !*out ? 1 : 0;
}

/* An RFC 3339 time (with a zone) as the history filters and cursor take it. */
static bool rfc3339(const char *ts)
{
    static const char *const shape = "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
                                     "[Tt ]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,6})?"
                                     "([Zz]|[+-](0[0-9]|1[0-4]):[0-5][0-9])$";
    regex_t re;
    bool ok;

    if (regcomp(&re, shape, REG_EXTENDED | REG_NOSUB) != 0)
        return false;
    ok = regexec(&re, ts, 0, NULL, 0) == 0;
    regfree(&re);
    if (ok) { /* a day the month has (2026-02-31 is no time), in years 1-9999 */
        static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        int y = (ts[0] - '0') * 1000 + (ts[1] - '0') * 100 + (ts[2] - '0') * 10 + (ts[3] - '0');
        int m = (ts[5] - '0') * 10 + (ts[6] - '0'), d = (ts[8] - '0') * 10 + (ts[9] - '0');
        bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

        ok = y >= 1 && d <= days[m - 1] + (m == 2 && leap);
    }
    return ok;
}

void console_history(struct http_req *r)
{
    struct console_history_q q = {0};
    struct lg_error err;
    char sid[ID_MAX_BYTES + 1], status[16], since[40], until[40], lim[8], cur[128];
    json_t *out = NULL;
    int64_t limit = 50;
    int rc;

    if ((rc = query_param(r, "session_id", sid, sizeof(sid))) < 0)
        return;
    if (rc == 0) {
        if (validate_id_text(sid, "session_id", "parameter", &err) < 0)
            goto bad;
        q.session_id = sid;
    }
    if ((rc = query_param(r, "status", status, sizeof(status))) < 0)
        return;
    if (rc == 0) {
        if (strcmp(status, "pending") && strcmp(status, "completed") && strcmp(status, "timeout") &&
            strcmp(status, "canceled")) {
            lg_fail(&err, 400, "invalid_parameter",
                    "status must be pending, completed, timeout or canceled");
            goto bad;
        }
        q.status = status;
    }
    if ((rc = query_param(r, "since", since, sizeof(since))) < 0)
        return;
    if (rc == 0 && !rfc3339(since)) {
        lg_fail(&err, 400, "invalid_parameter",
                "since must be an RFC 3339 time such as 2026-12-01T10:00:00Z");
        goto bad;
    }
    q.since = rc == 0 ? since : NULL;
    if ((rc = query_param(r, "until", until, sizeof(until))) < 0)
        return;
    if (rc == 0 && !rfc3339(until)) {
        lg_fail(&err, 400, "invalid_parameter",
                "until must be an RFC 3339 time such as 2026-12-01T10:00:00Z");
        goto bad;
    }
    q.until = rc == 0 ? until : NULL;
    if ((rc = query_param(r, "limit", lim, sizeof(lim))) < 0)
        return;
    if (rc == 0 && (parse_int64(lim, &limit) < 0 || limit < 1 || limit > 100)) {
        lg_fail(&err, 400, "invalid_parameter", "limit must be 1-100");
        goto bad;
    }
    q.limit = (int)limit;
    if ((rc = query_param(r, "before", cur, sizeof(cur))) < 0)
        return;
    if (rc == 0) {
        char *tilde = strchr(cur, '~');

        if (!tilde || (*tilde = '\0', !rfc3339(cur)) || !uuid_valid(tilde + 1)) {
            lg_fail(&err, 400, "invalid_parameter",
                    "before must be the \"next\" cursor of a previous page");
            goto bad;
        }
        q.before_at = cur;
        q.before_id = tilde + 1;
    }
    rc = store_console_history(r->console, &q, &out, &err);
    answer(r, rc, out, &err);
    return;
bad:
    http_send_error(r, &err);
}

/* Admin pages: 403 forbidden for an approver, answered here. */
static bool admin_only(struct http_req *r)
{
    struct lg_error err;

    if (!strcmp(r->console->role, "admin"))
        return true;
    lg_fail(&err, 403, "forbidden", "this page is for the tenant's admins");
    http_send_error(r, &err);
    return false;
}

void console_sessions(struct http_req *r)
{
    struct lg_error err;
    json_t *out = NULL;
    int rc;

    if (!admin_only(r))
        return;
    rc = store_console_sessions(r->console, &out, &err);
    answer(r, rc, out, &err);
}

/* Exports running in this process (console_audit_export); at most EXPORTS_MAX. */
#define EXPORTS_MAX 2
static atomic_int exports_running;

/*
 * The tenant's audit trail as a file. It is written to a temporary file
 * first, so the database connection is held only as long as PostgreSQL
 * takes to read the rows, never as long as a slow client takes to read the
 * file; a worker runs at most EXPORTS_MAX exports at once (503 beyond).
 */
void console_audit_export(struct http_req *r)
{
    struct lg_error err;
    char fmt[8], head[448], buf[16384];
    bool csv = false;
    long rows = 0;
    FILE *f = NULL;
    size_t n;
    int rc;

    if (!admin_only(r))
        return;
    if ((rc = query_param(r, "format", fmt, sizeof(fmt))) < 0)
        return;
    if (rc == 0 && strcmp(fmt, "jsonl") && strcmp(fmt, "csv")) {
        lg_fail(&err, 400, "invalid_parameter", "format must be jsonl or csv");
        http_send_error(r, &err);
        return;
    }
    csv = rc == 0 && !strcmp(fmt, "csv");
    if (atomic_fetch_add(&exports_running, 1) >= EXPORTS_MAX) {
        lg_fail(&err, 503, "busy", "other audit exports are running; retry in a minute");
        http_send_error(r, &err);
        goto out;
    }
    if (!(f = tmpfile())) {
        lg_fail(&err, 503, "unavailable", "could not open a temporary file for the export: %m");
        http_send_error(r, &err);
        goto out;
    }
    /* the tenant's rows only */
    if (audit_export(r->console->tenant, NULL, csv, true, f, &rows, &err) < 0 || fflush(f) != 0) {
        log_warn("console audit export failed", "tenant=%s rows=%ld error=\"%s\"",
                 r->console->tenant, rows, err.status ? err.message : "write failed");
        if (!err.status)
            lg_fail(&err, 503, "unavailable", "the export could not be written");
        http_send_error(r, &err);
        goto out;
    }
    rewind(f);
    snprintf(head, sizeof(head),
             "Status: 200 OK\r\nContent-Type: %s\r\nCache-Control: no-store\r\n"
             "Content-Disposition: attachment; filename=\"loopgate-audit.%s\"\r\n"
             "X-Content-Type-Options: nosniff\r\nX-Request-Id: %s\r\n\r\n",
             csv ? "text/csv; charset=utf-8" : "application/x-ndjson; charset=utf-8",
             csv ? "csv" : "jsonl", r->request_id);
    FCGX_PutS(head, r->fcgi->out);
    r->answered = true;
    r->status = 200;
    http_write_begins(); /* the client's reading is no work (http.h) */
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        if (FCGX_PutStr(buf, (int)n, r->fcgi->out) < 0)
            break; /* the client went away */
    http_write_ends();
out:
    if (f)
        fclose(f);
    atomic_fetch_sub(&exports_running, 1);
}

void console_audit_verify(struct http_req *r)
{
    struct audit_verify_result res;
    struct lg_error err;
    json_t *bad = json_null();

    if (!admin_only(r))
        return;
    if (audit_verify(r->console->tenant, NULL, &res, &err) < 0) {
        http_send_error(r, &err);
        return;
    }
    if (!res.ok)
        bad = json_pack("{s:I, s:s, s:s}", "seq", (json_int_t)res.seq, "kind", res.kind, "why",
                        res.why);
    http_send_json(
        r, 200,
        json_pack("{s:b, s:I, s:o}", "ok", res.ok, "rows", (json_int_t)res.rows, "first_bad", bad));
}

/* ------------------------------------------------------------ loopgate console link */

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: loopgate console link [--tenant T] [--user ID|NAME] [--name NAME]\n"
            "                             [--role approver|admin] [--base URL]\n"
            "\n"
            "Prints a one-time sign-in link to the approval console:\n"
            "  <base>/console/#login=<token>\n"
            "valid for %d minutes, once. Only the token's SHA-256 is stored; making it is\n"
            "audited (console_link_created).\n"
            "\n"
            "  --tenant T   the tenant (default: default): one that has API keys, or a\n"
            "               name by the rule of `loopgate apikey create`\n"
            "  --user ID    a Telegram user id (digits: the same person as in Telegram votes)\n"
            "               or a console user name (A-Z a-z 0-9 . _ @ -; default: --name,\n"
            "               else admin)\n"
            "  --name NAME  the name shown (default: the user)\n"
            "  --role R     approver (default) or admin\n"
            "  --base URL   the console's origin (default: PUBLIC_URL, else\n"
            "               http://127.0.0.1:SERVER_PORT)\n",
            CONSOLE_LINK_SECONDS / 60);
}

static int cmd_link(const struct config *cfg, int argc, char **argv)
{
    static const struct option opts[] = {{"tenant", required_argument, NULL, 't'},
                                         {"user", required_argument, NULL, 'u'},
                                         {"name", required_argument, NULL, 'n'},
                                         {"role", required_argument, NULL, 'r'},
                                         {"base", required_argument, NULL, 'b'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *tenant = "default", *user = NULL, *name = NULL, *role = "approver", *base = NULL;
    char person[CONSOLE_PERSON_MAX + 16], token[TOKEN_LEN + 1], sha[65], dflt[64];
    struct console_user u;
    struct lg_error err;
    size_t bl;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "t:u:n:r:b:h", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            tenant = optarg;
            break;
        case 'u':
            user = optarg;
            break;
        case 'n':
            name = optarg;
            break;
        case 'r':
            role = optarg;
            break;
        case 'b':
            base = optarg;
            break;
        default:
            usage(c == 'h' ? stdout : stderr);
            return c == 'h' ? 0 : 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "loopgate console link: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!user && name && !validate_console_name(name)) {
        fprintf(stderr,
                "loopgate console link: --name '%s' is no console user name (A-Z a-z 0-9 . _ @ -); "
                "give the user with --user\n",
                name);
        return 2;
    }
    if (!user)
        user = name ? name : "admin";
    if (user[0] && strspn(user, "0123456789") == strlen(user))
        snprintf(person, sizeof(person), "telegram:%s", user);
    else
        snprintf(person, sizeof(person), "console:%s", user);
    if (name && (!*name || strlen(name) > 128 || !utf8_valid(name, strlen(name)) ||
                 utf8_has_unsafe(name, strlen(name)))) {
        fprintf(stderr, "loopgate console link: --name takes 1-128 bytes of printable UTF-8\n");
        return 2;
    }
    if (console_user_set(&u, tenant, person, name ? name : user, role, &err) < 0) {
        fprintf(stderr, "loopgate console link: %s\n", err.message);
        return 2;
    }
    if (!base) {
        if (cfg->public_url && *cfg->public_url) {
            base = cfg->public_url;
        } else {
            snprintf(dflt, sizeof(dflt), "http://127.0.0.1:%d", cfg->server_port);
            base = dflt;
        }
    }
    if (token_new(token, sha) < 0) {
        fprintf(stderr, "loopgate console link: no randomness for a token\n");
        return 1;
    }
    db_pool_init(cfg->db_uri, 1);
    if (apikey_tenant_check(tenant, "--tenant", &err) < 0) {
        fprintf(stderr, "loopgate console link: %s\n", err.message);
        db_pool_shutdown();
        return err.status == 400 ? 2 : 1;
    }
    if (store_console_link_create(&u, sha, CONSOLE_LINK_SECONDS, "cli", &err) < 0) {
        fprintf(stderr, "loopgate console link: %s\n", err.message);
        db_pool_shutdown();
        return 1;
    }
    db_pool_shutdown();
    bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    printf("%.*s/console/#login=%s\n", (int)bl, base, token);
    return 0;
}

int console_main(const struct config *cfg, int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "link"))
        return cmd_link(cfg, argc - 1, argv + 1);
    fprintf(stderr, "loopgate console: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
