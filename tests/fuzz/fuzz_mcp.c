/*
 * fuzz_mcp.c - a POST /mcp body through the whole JSON-RPC handler
 * (mcp_post: parse, classify, batch, dispatch, the tools' argument checks,
 * progress notifications, the answer serialised) with the database, the
 * waits and FastCGI replaced by stand-ins below. The session exists and
 * speaks 2025-03-26 (batches allowed); the client accepts event streams.
 * mcp.c is compiled into this file so that its internals run unchanged.
 */
#include "../../src/mcp.c"

#include "check.h"
#include "config.h"
#include "fuzz.h"
#include "policy.h"

static struct config cfg;

/* ---------------------------------------------------------------- FastCGI */

const char *http_param(const struct http_req *r, const char *name)
{
    (void)r;
    if (!strcmp(name, "HTTP_MCP_SESSION_ID"))
        return "5a1e55105a1e55105a1e55105a1e55105a1e55105a1e55105a1e55105a1e5510";
    if (!strcmp(name, "HTTP_ACCEPT"))
        return "application/json, text/event-stream";
    return NULL;
}

void http_send_json(struct http_req *r, int status, json_t *body)
{
    FUZZ_REQUIRE(!r->answered);
    FUZZ_REQUIRE(status == 200 || (status >= 400 && status < 500));
    r->answered = true;
    fuzz_dump(body);
}

void http_send_json_hdr(struct http_req *r, int status, json_t *body, const char *headers)
{
    (void)headers;
    http_send_json(r, status, body);
}

void http_send_error(struct http_req *r, const struct lg_error *err)
{
    FUZZ_REQUIRE(!r->answered);
    FUZZ_REQUIRE(utf8_valid(err->message, strlen(err->message)));
    r->answered = true;
    fuzz_dump(shape_error(err->code, err->message));
}

void http_send_empty(struct http_req *r, int status, const char *headers)
{
    (void)headers;
    FUZZ_REQUIRE(!r->answered && status == 202);
    r->answered = true;
}

void http_sse_begin(struct http_req *r, const char *headers)
{
    (void)headers;
    FUZZ_REQUIRE(!r->answered);
    r->answered = true;
}

void http_sse_send(struct http_req *r, json_t *msg)
{
    FUZZ_REQUIRE(r->answered);
    fuzz_dump(msg);
}

/* hooks.c reads a hook call's body itself; mcp.c never calls it. */
int http_read_body(struct http_req *r, size_t max, struct lg_error *err)
{
    (void)r, (void)max, (void)err;
    abort();
}

bool http_client_gone(struct http_req *r)
{
    (void)r;
    return false;
}

/* ---------------------------------------------------------------- database */

int store_mcp_session_get(const char *id, const char *tenant, int idle, char *version, size_t vlen,
                          struct lg_error *err)
{
    (void)id, (void)tenant, (void)idle, (void)err;
    lg_strlcpy(version, "2025-03-26", vlen);
    return 0;
}

int store_mcp_session_create(const char *id, const char *tenant, const char *version,
                             const char *client_name, const char *client_version, int max, int idle,
                             struct lg_error *err)
{
    (void)id, (void)tenant, (void)version, (void)max, (void)idle, (void)err;
    FUZZ_REQUIRE(!client_name || utf8_valid(client_name, strlen(client_name)));
    FUZZ_REQUIRE(!client_version || utf8_valid(client_version, strlen(client_version)));
    return 0;
}

int store_mcp_session_end(const char *id, const char *tenant, struct lg_error *err)
{
    (void)id, (void)tenant, (void)err;
    return 0;
}

static json_t *pending_poll(const char *id)
{
    return json_pack("{s:s, s:s, s:b, s:b, s:s}", "request_id", id, "status", "pending",
                     "completed", 0, "approved", 0, "response", "");
}

int store_request_submit(const struct actor *who, const struct submit_in *in, const char *idem_key,
                         const char *body_hash, int max_pending, bool *queued, json_t **out,
                         struct lg_error *err)
{
    (void)who, (void)in, (void)idem_key, (void)body_hash, (void)max_pending, (void)err;
    *queued = false;
    *out = json_pack("{s:b, s:s, s:s}", "success", 1, "request_id",
                     "2b1c3a4e-5f60-4a7b-8c9d-0e1f2a3b4c5d", "status", "pending");
    return 0;
}

int store_request_pending(const struct actor *who, const char *session_id, json_t **out,
                          struct lg_error *err)
{
    (void)who, (void)session_id, (void)err;
    *out = json_pack("{s:[], s:i}", "pending_requests", "count", 0);
    return 0;
}

/* Rules (policy.h) are the store's: "Allow for this session" adds one that matches nothing. */
char *policy_text(const char *tool, json_t *tool_input)
{
    (void)tool_input;
    return xstrdup(tool);
}

bool policy_is_shell_tool(const char *tool)
{
    return tool && !strcmp(tool, "Bash");
}

bool policy_is_file_tool(const char *tool)
{
    return tool && (!strcmp(tool, "Write") || !strcmp(tool, "Edit"));
}

char *policy_exact_regex(const char *text, struct lg_error *err)
{
    (void)text, (void)err;
    return xstrdup("^$");
}

int policy_allow_for_session(const char *tenant, const char *session_id, const char *agent_session,
                             const char *tool, const char *match_regex, int expires_s,
                             const char *created_by, int64_t *rule_id, struct lg_error *err)
{
    (void)tenant, (void)session_id, (void)agent_session, (void)tool, (void)match_regex;
    (void)expires_s, (void)created_by, (void)err;
    *rule_id = 1;
    return 0;
}

/* Telegram's rendering is fuzzed by fuzz_telegram: every message fits here. */
bool policy_message_cut(const struct submit_in *in)
{
    (void)in;
    return false;
}

void notify_outbox_kick(void)
{
}

void notify_outbox_kick_paced(void)
{
}

int store_request_poll(const struct actor *who, const char *id, json_t **out, struct lg_error *err)
{
    (void)who, (void)out;
    return lg_fail(err, 404, "request_not_found", "request %s not found", id);
}

int store_request_cancel(const struct actor *who, const char *id, enum metrics_channel via,
                         json_t **out, struct lg_error *err)
{
    (void)who, (void)via, (void)out;
    return lg_fail(err, 404, "request_not_found", "request %s not found", id);
}

int store_request_abandon(const struct actor *who, const char *id, int attach, json_t **out,
                          struct lg_error *err)
{
    (void)who, (void)attach, (void)out;
    return lg_fail(err, 404, "request_not_found", "request %s not found", id);
}

bool notify_stopping(void)
{
    return false;
}

int store_callback_set(const struct actor *who, const char *id, const char *url,
                       struct lg_error *err)
{
    (void)who, (void)id, (void)url, (void)err;
    return 0;
}

int wait_poll(const struct config *c, const struct actor *who, const char *id, int wait_s,
              json_t **out, struct lg_error *err)
{
    (void)c, (void)who, (void)wait_s, (void)err;
    *out = pending_poll(id);
    return 0;
}

/* ---------------------------------------------------------------- harness */

static void fuzz_one(const char *data, size_t len)
{
    struct http_req r = {.cfg = &cfg, .method = "POST", .path = "/mcp"};

    if (!cfg.source)
        config_defaults(&cfg);
    lg_strlcpy(r.who.tenant, "fuzz", sizeof(r.who.tenant));
    r.body = (char *)data;
    r.body_len = len;
    mcp_post(&r);
    FUZZ_REQUIRE(r.answered);
}

FUZZ_MAIN
