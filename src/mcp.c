/*
 * mcp.c - MCP over Streamable HTTP: the JSON-RPC dispatcher and the tools.
 *
 * 1. One JSON-RPC message per POST (a batch only under 2025-03-26). A
 *    notification or a response is answered 202 with no body; a request
 *    with application/json, or with text/event-stream when its tool waits
 *    for a human, so that notifications/progress can go out before the
 *    result.
 * 2. `initialize` negotiates the protocol version and creates a session row
 *    in PostgreSQL (Mcp-Session-Id); any worker serves any session. Every
 *    later request must carry the id (400 without, 404 unknown or ended).
 * 3. The tools are the REST API's own code paths (validate.c, the store,
 *    wait.c): one behaviour, two doors. A tool that fails returns a result
 *    with isError and a message a model can act on; an unknown tool or
 *    malformed params is JSON-RPC -32602.
 * 4. Waiting tools never outlive a stock client's 60 s timeout by default:
 *    they wait wait_seconds (45 unless asked), streaming progress every 5 s
 *    when the client sent a progressToken, and then return the request id
 *    with an instruction to keep waiting with check_request_status.
 * 5. Revision 2026-07-28 is stateless and served beside the four above: a
 *    request without Mcp-Session-Id whose MCP-Protocol-Version header or
 *    params._meta names it needs no initialize. Its Mcp-Method and Mcp-Name
 *    headers must match the body (-32020), _meta must carry the protocol
 *    version and the client capabilities (-32602), every result carries
 *    resultType, and server/discover says what is served. With the tasks
 *    extension (io.modelcontextprotocol/tasks) declared by the client,
 *    request_human_input returns at once as a task whose id is the request
 *    id: tasks/get reads it, tasks/cancel cancels the request.
 */
#include "mcp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hooks.h"
#include "log.h"
#include "notify.h"
#include "shape.h"
#include "store_mcp.h"
#include "store_requests.h"
#include "validate.h"
#include "version.h"
#include "wait.h"

#define RPC_PARSE_ERROR -32700
#define RPC_INVALID_REQUEST -32600
#define RPC_METHOD_NOT_FOUND -32601
#define RPC_INVALID_PARAMS -32602
#define RPC_INTERNAL_ERROR -32603

#define WAIT_DEFAULT 45
#define PROGRESS_EVERY 5    /* seconds between progress and client checks while waiting */
#define CLIENT_INFO_MAX 128 /* bytes kept of clientInfo.name and .version */
#define RPC_TOO_MANY_SESSIONS -32000
#define LATEST_VERSION "2025-11-25"
#define STATELESS_VERSION "2026-07-28"
#define TASKS_EXT "io.modelcontextprotocol/tasks"
#define META_VERSION "io.modelcontextprotocol/protocolVersion"
#define META_CAPS "io.modelcontextprotocol/clientCapabilities"
#define RPC_HEADER_MISMATCH -32020
#define RPC_MISSING_CAPABILITY -32021
#define RPC_UNSUPPORTED_VERSION -32022
#define LIST_TTL_MS 300000    /* how long a client may cache tools/list and server/discover */
#define TASK_POLL_MS 5000     /* how often a client is asked to poll tasks/get */
#define TASK_TTL_MS 604800000 /* a task stays readable a week (requests are kept longer) */

static const char *const versions[] = {"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25",
                                       NULL};

static bool version_supported(const char *v)
{
    for (int i = 0; v && versions[i]; i++)
        if (!strcmp(versions[i], v))
            return true;
    return false;
}

/* ---------------------------------------------------------------- tool table */

/* What one tool call sees. */
struct call {
    struct http_req *r;
    json_t *args;     /* borrowed; an object */
    json_t *progress; /* borrowed progressToken or NULL */
    json_t *id;       /* borrowed JSON-RPC id */
    bool streaming;   /* answering as text/event-stream */
    int *budget;      /* seconds this POST may still wait, shared by a batch */
    bool as_task;     /* 2026-07-28 with the tasks extension: answer with the task */
};

typedef json_t *(*tool_fn)(struct call *c);

struct tool {
    const char *name;
    const char *title;
    const char *description;
    const char *input_schema;
    const char *output_schema;
    tool_fn fn;
    bool waits;
};

#define REQUEST_OUTPUT                                                                             \
    "{\"type\":\"object\",\"properties\":{"                                                        \
    "\"request_id\":{\"type\":\"string\"},"                                                        \
    "\"status\":{\"type\":\"string\",\"enum\":[\"pending\",\"completed\",\"timeout\","             \
    "\"canceled\"]},"                                                                              \
    "\"completed\":{\"type\":\"boolean\"},\"approved\":{\"type\":\"boolean\"},"                    \
    "\"response\":{\"type\":\"string\"},\"instructions\":{\"type\":\"string\"},"                   \
    "\"options\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{"              \
    "\"label\":{\"type\":\"string\"},\"approve\":{\"type\":\"boolean\"}}}},"                       \
    "\"votes\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{"                \
    "\"responder\":{\"type\":\"object\",\"properties\":{\"id\":{},\"name\":{\"type\":"             \
    "\"string\"}}},\"channel\":{\"type\":\"string\"},\"approve\":{\"type\":\"boolean\"},"          \
    "\"response\":{\"type\":\"string\"},\"reason\":{\"type\":[\"string\",\"null\"]},"              \
    "\"at\":{\"type\":\"string\"}}}},"                                                             \
    "\"approvals\":{\"type\":\"integer\"},\"approvals_required\":{\"type\":\"integer\"},"          \
    "\"reason\":{\"type\":[\"string\",\"null\"]},"                                                 \
    "\"params\":{\"type\":[\"object\",\"null\"],\"description\":\"The params to act with: as "     \
    "the human approved them (edited) or as sent; null without params\"},"                         \
    "\"edited\":{\"type\":\"boolean\",\"description\":\"Whether the human changed the params\"},"  \
    "\"params_sha256\":{\"type\":[\"string\",\"null\"],\"description\":\"Hex SHA-256 of the "      \
    "canonical JSON of params (keys sorted, no spaces, UTF-8): what the human approved\"},"        \
    "\"escalated\":{\"type\":\"boolean\"},\"reminders\":{\"type\":\"integer\"}},"                  \
    "\"required\":[\"request_id\",\"status\",\"completed\",\"approved\",\"response\"]}"

static json_t *tool_request_human_input(struct call *c);
static json_t *task_created(struct call *c, const char *id);
static json_t *tool_check_request_status(struct call *c);
static json_t *tool_list_pending(struct call *c);
static json_t *tool_cancel(struct call *c);
static json_t *tool_register_callback(struct call *c);
static json_t *tool_permission_prompt(struct call *c);

static const struct tool tools[] = {
    {"request_human_input", "Ask a human",
     "Ask a human (in Telegram) to approve, choose or answer before you act. Waits up to "
     "wait_seconds for the answer; if the human has not answered by then, the result carries the "
     "request_id: call check_request_status with it to keep waiting.",
     "{\"type\":\"object\",\"properties\":{"
     "\"message\":{\"type\":\"string\",\"description\":\"What the human is asked\"},"
     "\"options\":{\"type\":\"array\",\"maxItems\":10,\"items\":{\"anyOf\":["
     "{\"type\":\"string\"},{\"type\":\"object\",\"properties\":{\"label\":{\"type\":"
     "\"string\"},\"approve\":{\"type\":\"boolean\"}},\"required\":[\"label\"]}]},"
     "\"description\":\"Buttons to choose from. A plain label approves only when every word in "
     "it is an approval word (approve, yes, deploy, ...) or a filler word (it, please, now, ...); "
     "give {label, approve} to say what a button means. The result's options list what each one "
     "means.\"},"
     "\"metadata\":{\"type\":\"object\",\"description\":\"Context shown as key/value lines\"},"
     "\"request_type\":{\"type\":\"string\",\"enum\":[\"confirmation\",\"choice\",\"input\"]},"
     "\"timeout_seconds\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":86400},"
     "\"callback_url\":{\"type\":\"string\"},"
     "\"approvals_required\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":10,"
     "\"description\":\"How many distinct approvers must approve (default 1); the session must "
     "list at least that many approvers\"},"
     "\"deny_vetoes\":{\"type\":\"boolean\",\"description\":\"Whether one denial denies "
     "(default true); false: as many denials as approvals_required deny\"},"
     "\"params\":{\"type\":\"object\",\"description\":\"The arguments you propose to act with "
     "(at most 8 KiB); the human may approve them with changes, and the result's params are the "
     "ones to use\"},"
     "\"params_schema\":{\"type\":\"object\",\"description\":\"What edited params must meet: "
     "{type: object, properties: {name: {type: string|number|integer|boolean} or {enum: [...]}, "
     "with minimum, maximum, maxLength, pattern (POSIX ERE)}, required, additionalProperties}\"},"
     "\"remind_after_seconds\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":86400,"
     "\"description\":\"If nobody has decided by then, remind the chat once (a reply to the "
     "message); less than timeout_seconds; 0: none (not even the session's default)\"},"
     "\"escalate_after_seconds\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":86400,"
     "\"description\":\"If nobody has decided by then, also ask the escalate_to session's chat; "
     "less than timeout_seconds; 0: none (not even the session's default)\"},"
     "\"escalate_to\":{\"type\":\"string\",\"description\":\"The session to escalate to "
     "(another active session of yours); needs escalate_after_seconds\"},"
     "\"session_id\":{\"type\":\"string\",\"description\":\"Defaults to the server's MCP "
     "session\"},"
     "\"client_id\":{\"type\":\"string\"},"
     "\"wait_seconds\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":3600,"
     "\"description\":\"How long to wait for the answer in this call (default 45)\"}},"
     "\"required\":[\"message\"]}",
     REQUEST_OUTPUT, tool_request_human_input, true},
    {"check_request_status", "Check a request",
     "Get the state of a request, waiting up to wait_seconds for the human's answer.",
     "{\"type\":\"object\",\"properties\":{\"request_id\":{\"type\":\"string\"},"
     "\"wait_seconds\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":3600}},"
     "\"required\":[\"request_id\"]}",
     REQUEST_OUTPUT, tool_check_request_status, true},
    {"list_pending_requests", "List pending requests",
     "List the requests still waiting for a human, optionally of one session.",
     "{\"type\":\"object\",\"properties\":{\"session_id\":{\"type\":\"string\"}}}",
     "{\"type\":\"object\",\"properties\":{\"pending_requests\":{\"type\":\"array\"},"
     "\"count\":{\"type\":\"integer\"}},\"required\":[\"pending_requests\",\"count\"]}",
     tool_list_pending, false},
    {"cancel_request", "Cancel a request", "Cancel a pending request; its message says so.",
     "{\"type\":\"object\",\"properties\":{\"request_id\":{\"type\":\"string\"}},"
     "\"required\":[\"request_id\"]}",
     "{\"type\":\"object\",\"properties\":{\"request_id\":{\"type\":\"string\"},"
     "\"status\":{\"type\":\"string\"}},\"required\":[\"request_id\",\"status\"]}",
     tool_cancel, false},
    {"register_callback", "Register a callback",
     "Set the URL the result of a pending request is POSTed to (a signed webhook).",
     "{\"type\":\"object\",\"properties\":{\"request_id\":{\"type\":\"string\"},"
     "\"callback_url\":{\"type\":\"string\"}},\"required\":[\"request_id\",\"callback_url\"]}",
     "{\"type\":\"object\",\"properties\":{\"request_id\":{\"type\":\"string\"},"
     "\"callback_url\":{\"type\":\"string\"}},\"required\":[\"request_id\",\"callback_url\"]}",
     tool_register_callback, false},
    {"permission_prompt", "Ask a human about a tool call",
     "Claude Code's --permission-prompt-tool: asks a human (in Telegram or the console) whether "
     "the tool call may run, waiting with progress, and answers {\"behavior\":\"allow\","
     "\"updatedInput\":{...}} or {\"behavior\":\"deny\",\"message\":\"...\"} as JSON text.",
     "{\"type\":\"object\",\"properties\":{"
     "\"tool_name\":{\"type\":\"string\",\"description\":\"The tool Claude Code wants to "
     "use\"},"
     "\"input\":{\"type\":\"object\",\"description\":\"Its input\"},"
     "\"tool_use_id\":{\"type\":\"string\"}},\"required\":[\"tool_name\",\"input\"]}",
     "{\"type\":\"object\",\"properties\":{"
     "\"behavior\":{\"type\":\"string\",\"enum\":[\"allow\",\"deny\"]},"
     "\"updatedInput\":{\"type\":\"object\"},\"message\":{\"type\":\"string\"}},"
     "\"required\":[\"behavior\"]}",
     tool_permission_prompt, true},
};

#define NTOOLS (sizeof(tools) / sizeof(tools[0]))

static const struct tool *tool_find(const char *name)
{
    for (size_t i = 0; name && i < NTOOLS; i++)
        if (!strcmp(tools[i].name, name))
            return &tools[i];
    return NULL;
}

static json_t *tools_list(void)
{
    json_t *list = json_array();

    for (size_t i = 0; i < NTOOLS; i++)
        json_array_append_new(
            list, json_pack("{s:s, s:s, s:s, s:o, s:o}", "name", tools[i].name, "title",
                            tools[i].title, "description", tools[i].description, "inputSchema",
                            json_loads(tools[i].input_schema, 0, NULL), "outputSchema",
                            json_loads(tools[i].output_schema, 0, NULL)));
    return list;
}

/* ---------------------------------------------------------------- results */

/* A successful tool result: structuredContent plus its text rendering. */
static json_t *tool_ok(json_t *structured, const char *summary)
{
    char *text = json_dumps(structured, JSON_COMPACT);
    struct sbuf b = {0};
    json_t *res;

    if (summary) {
        sb_puts(&b, summary);
        sb_puts(&b, "\n");
    }
    sb_puts(&b, text ? text : "{}");
    res = json_pack("{s:[{s:s, s:s}], s:o, s:b}", "content", "type", "text", "text", b.p,
                    "structuredContent", structured, "isError", 0);
    free(text);
    sb_free(&b);
    return res;
}

/*
 * tool_ok() of a decided request, with a first line a model reads before
 * the JSON: the outcome, the people's reasons, and the params to act with
 * when the person changed them.
 */
static json_t *tool_ok_decided(json_t *poll)
{
    const char *reason = json_string_value(json_object_get(poll, "reason"));
    struct sbuf b = {0};
    json_t *res;

    sb_puts(&b, json_is_true(json_object_get(poll, "approved"))
                    ? "The human approved."
                    : "The human answered without approving.");
    if (reason && *reason)
        sb_printf(&b, " %s.", reason);
    if (json_is_true(json_object_get(poll, "edited"))) {
        char *params = json_dumps(json_object_get(poll, "params"), JSON_COMPACT | JSON_SORT_KEYS);

        sb_printf(&b, " The human changed the params: act with exactly these: %s",
                  params ? params : "{}");
        free(params);
    }
    res = tool_ok(poll, b.p);
    sb_free(&b);
    return res;
}

/* A failed tool run: isError with a message the model can act on. */
static json_t *tool_error(const struct lg_error *err)
{
    char text[400];

    snprintf(text, sizeof(text), "%s (%s)", err->message, err->code);
    return json_pack("{s:[{s:s, s:s}], s:b}", "content", "type", "text", "text", text, "isError",
                     1);
}

/* ---------------------------------------------------------------- waiting */

static int wait_seconds(struct call *c, struct lg_error *err)
{
    json_t *v = json_object_get(c->args, "wait_seconds");
    json_int_t s;

    if (!v || json_is_null(v))
        s = WAIT_DEFAULT;
    else if (!json_is_integer(v) || (s = json_integer_value(v)) < 0)
        return lg_fail(err, 400, "invalid_field", "wait_seconds must be a whole number >= 0");
    if (s > c->r->cfg->poll_wait_max)
        s = c->r->cfg->poll_wait_max;
    /* What earlier calls of the same POST (a batch) waited is spent. */
    return s > *c->budget ? *c->budget : (int)s;
}

static void send_progress(struct call *c, int done, int total)
{
    json_t *params;
    char msg[96];

    if (!c->progress || !c->streaming)
        return;
    snprintf(msg, sizeof(msg), "waiting for a human: %d of %d s", done, total);
    params = json_pack("{s:O, s:i, s:i, s:s}", "progressToken", c->progress, "progress", done,
                       "total", total, "message", msg);
    http_sse_send(c->r, json_pack("{s:s, s:s, s:o}", "jsonrpc", "2.0", "method",
                                  "notifications/progress", "params", params));
}

/*
 * Wait up to `total` seconds for request `id`, in slices of PROGRESS_EVERY
 * seconds: after each, progress goes out when the client asked for it, and
 * the wait ends early when the client has gone (nobody is left to answer).
 * The time waited is taken from the POST's budget. *out is the last poll
 * body (a new reference; final or not), or -1 with `err`.
 */
static int wait_progress(struct call *c, const char *id, int total, json_t **out,
                         struct lg_error *err)
{
    json_t *poll = NULL;
    int done = 0, rc;
    int64_t t0 = now_ms();

    for (;;) {
        int chunk = total - done > PROGRESS_EVERY ? PROGRESS_EVERY : total - done;
        rc = wait_poll(c->r->cfg, &c->r->who, id, chunk, &poll, err);
        if (rc < 0)
            break;
        done += chunk;
        if (json_is_true(json_object_get(poll, "completed")) || done >= total)
            break;
        json_decref(poll);
        poll = NULL;
        send_progress(c, done, total);
        if (http_client_gone(c->r)) {
            log_info("mcp wait ended: the client has gone", "tenant=%s request=%s waited_s=%d",
                     c->r->who.tenant, id, done);
            rc = lg_fail(err, 499, "client_gone", "the client closed the connection");
            break;
        }
    }
    *c->budget -= (int)((now_ms() - t0 + 999) / 1000);
    if (*c->budget < 0)
        *c->budget = 0;
    if (rc < 0)
        json_decref(poll);
    *out = rc < 0 ? NULL : poll;
    return rc;
}

/*
 * wait_progress() as a tool result: `options` (stolen; may be NULL) is what
 * each button of a new request means, added to the result.
 */
static json_t *wait_result(struct call *c, const char *id, int total, json_t *options)
{
    struct lg_error err;
    json_t *poll = NULL;
    int rc = wait_progress(c, id, total, &poll, &err);

    if (rc < 0) {
        json_decref(options);
        return tool_error(&err);
    }
    if (options)
        json_object_set_new(poll, "options", options);
    if (!json_is_true(json_object_get(poll, "completed"))) {
        char text[300];
        snprintf(text, sizeof(text),
                 "The human has not answered yet. Call check_request_status with request_id "
                 "\"%s\" and wait_seconds %d to keep waiting.",
                 id, total > 0 ? total : WAIT_DEFAULT);
        json_object_set_new(poll, "instructions", json_string(text));
        return tool_ok(poll, text);
    }
    return tool_ok_decided(poll);
}

/* ---------------------------------------------------------------- tools */

static json_t *tool_request_human_input(struct call *c)
{
    struct lg_error err;
    struct submit_in in;
    json_t *body = json_deep_copy(c->args), *out = NULL, *res;
    bool queued = false;
    const char *id;
    int wait = 0, rc;

    /* A desktop client needs no ids: the configured default session. */
    if (!json_object_get(body, "session_id"))
        json_object_set_new(body, "session_id", json_string(c->r->cfg->mcp_default_session));
    if (!json_object_get(body, "client_id"))
        json_object_set_new(body, "client_id", json_string("mcp"));
    rc = validate_submit(body, c->r->cfg->request_timeout, &in, &err);
    if (rc == 0 && (wait = wait_seconds(c, &err)) < 0)
        rc = -1;
    if (rc == 0) {
        rc = store_request_submit(&c->r->who, &in, NULL, NULL, c->r->cfg->max_concurrent_requests,
                                  &queued, &out, &err);
        if (queued)
            notify_outbox_kick_paced();
    }
    if (rc < 0) {
        json_decref(body);
        return tool_error(&err);
    }
    id = json_string_value(json_object_get(out, "request_id"));
    log_info("request submitted", "tenant=%s session=%s request=%s via=mcp", c->r->who.tenant,
             in.session_id, id);
    res = c->as_task ? task_created(c, id) : wait_result(c, id, wait, validate_options_answer(&in));
    json_decref(out);
    json_decref(body);
    return res;
}

/*
 * permission_prompt (hooks.h): the call is a request in the session of the
 * header X-Loopgate-Session (else hooks_default_session, else
 * mcp_default_session), waited for as long as X-Loopgate-Wait says (else
 * HOOKS_WAIT_CLAUDE) within the POST's budget, and answered as the JSON
 * text Claude Code reads.
 */
static json_t *tool_permission_prompt(struct call *c)
{
    struct lg_error err;
    struct hooks_call hc;
    struct hooks_verdict v;
    const char *session;
    json_t *poll = NULL, *answer, *res;
    char id[64], *text;
    int64_t until;
    int wait;

    if (hooks_parse(HOOKS_CLAUDE_MCP, c->args, &hc, &err) < 0 ||
        hooks_call_session(c->r, HOOKS_CLAUDE_MCP, &session, &err) < 0 ||
        (wait = hooks_call_wait(c->r, HOOKS_CLAUDE_MCP, &err)) < 0)
        return tool_error(&err);
    if (wait > *c->budget)
        wait = *c->budget;
    if (wait < 1)
        wait = 1;
    if (hooks_submit(c->r->cfg, &c->r->who, &hc, session, wait, id, &err) < 0)
        return tool_error(&err);
    until = now_ms() + (int64_t)(wait + 1) * 1000;
    if (wait_progress(c, id, wait + 1, &poll, &err) < 0) {
        hooks_abandon(&c->r->who, id, until);
        return tool_error(&err);
    }
    hooks_decide(&c->r->who, &hc, session, poll, wait, &v);
    answer = hooks_answer(&hc, &v);
    hooks_verdict_free(&v);
    json_decref(poll);
    text = json_dumps(answer, JSON_COMPACT);
    res = json_pack("{s:[{s:s, s:s}], s:o, s:b}", "content", "type", "text", "text",
                    text ? text : "{}", "structuredContent", answer, "isError", 0);
    free(text);
    return res;
}

static int arg_request_id(struct call *c, const char **id, struct lg_error *err)
{
    json_t *v = json_object_get(c->args, "request_id");

    if (v && !json_is_string(v))
        return lg_fail(err, 400, "invalid_field", "request_id must be a string");
    *id = json_string_value(v);
    return validate_request_id(*id, "request_id", "field", err);
}

static json_t *tool_check_request_status(struct call *c)
{
    struct lg_error err;
    const char *id;
    int wait;

    if (arg_request_id(c, &id, &err) < 0 || (wait = wait_seconds(c, &err)) < 0)
        return tool_error(&err);
    return wait_result(c, id, wait, NULL);
}

static json_t *tool_list_pending(struct call *c)
{
    struct lg_error err;
    json_t *v = json_object_get(c->args, "session_id"), *out;

    if (v && !json_is_string(v))
        return tool_error(&(struct lg_error){400, "invalid_field", "session_id must be a string"});
    if (v && validate_id_text(json_string_value(v), "session_id", "field", &err) < 0)
        return tool_error(&err);
    if (store_request_pending(&c->r->who, json_string_value(v), &out, &err) < 0)
        return tool_error(&err);
    return tool_ok(out, NULL);
}

static json_t *tool_cancel(struct call *c)
{
    struct lg_error err;
    const char *id;
    json_t *out;

    if (arg_request_id(c, &id, &err) < 0 ||
        store_request_cancel(&c->r->who, id, METRICS_CH_MCP, &out, &err) < 0)
        return tool_error(&err);
    notify_outbox_kick(); /* the message edit, the agent's webhook */
    json_object_del(out, "success");
    json_object_del(out, "message");
    return tool_ok(out, "Canceled.");
}

static json_t *tool_register_callback(struct call *c)
{
    struct lg_error err;
    const char *id, *url;

    if (arg_request_id(c, &id, &err) < 0 ||
        validate_callback_url(json_object_get(c->args, "callback_url"), true, &url, &err) < 0 ||
        store_callback_set(&c->r->who, id, url, &err) < 0)
        return tool_error(&err);
    return tool_ok(json_pack("{s:s, s:s}", "request_id", id, "callback_url", url),
                   "The result will be POSTed there when the request is final.");
}

/* ---------------------------------------------------------------- JSON-RPC */

static json_t *rpc_result(json_t *id, json_t *result)
{
    return json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id, "result", result);
}

static json_t *rpc_error(json_t *id, int code, const char *message)
{
    return json_pack("{s:s, s:O, s:{s:i, s:s}}", "jsonrpc", "2.0", "id", id ? id : json_null(),
                     "error", "code", code, "message", message);
}

/*
 * Session ids are 64 lower-case hex digits (do_initialize): any other header
 * value names no session and never reaches the database.
 */
static bool sid_well_formed(const char *sid)
{
    size_t n = strspn(sid, "0123456789abcdef");

    return n == 64 && sid[n] == '\0';
}

/* The session named by the request's header; answers the error itself. */
static int session_check(struct http_req *r, char *version, size_t vlen)
{
    const char *sid = http_param(r, "HTTP_MCP_SESSION_ID");
    struct lg_error err;
    int rc;

    if (!sid || !*sid) {
        http_send_json(
            r, 400,
            rpc_error(NULL, RPC_INVALID_REQUEST, "Bad Request: Mcp-Session-Id header is required"));
        return -1;
    }
    rc = !sid_well_formed(sid) ? 1
                               : store_mcp_session_get(sid, r->who.tenant, r->cfg->mcp_session_idle,
                                                       version, vlen, &err);
    if (rc < 0) {
        http_send_error(r, &err);
        return -1;
    }
    if (rc == 1) {
        http_send_json(r, 404,
                       rpc_error(NULL, RPC_INVALID_REQUEST,
                                 "Session not found: it ended or never existed; "
                                 "initialize a new one"));
        return -1;
    }
    return 0;
}

/*
 * clientInfo's `field` as stored: at most CLIENT_INFO_MAX bytes, controls
 * and invisible characters escaped, cut on a character boundary; NULL when
 * absent or not a string.
 */
static const char *client_info(json_t *client, const char *field, char *buf, size_t n)
{
    const char *s = json_string_value(json_object_get(client, field));

    if (!s)
        return NULL;
    (void)lg_sanitize(buf, n, s);
    return buf;
}

/* `initialize`: a new session row; *status is the HTTP status to answer with. */
static json_t *do_initialize(struct http_req *r, json_t *id, json_t *params, char *sid_out,
                             int *status)
{
    const char *asked = json_string_value(json_object_get(params, "protocolVersion"));
    const char *version = version_supported(asked) ? asked : LATEST_VERSION;
    json_t *client = json_object_get(params, "clientInfo");
    char name[CLIENT_INFO_MAX + 1], cversion[CLIENT_INFO_MAX + 1], text[200];
    unsigned char raw[32];
    struct lg_error err;
    int rc;

    if (!json_is_object(params) || !asked)
        return rpc_error(id, RPC_INVALID_PARAMS, "initialize needs params.protocolVersion");
    if (random_bytes(raw, sizeof(raw)) < 0)
        return rpc_error(id, RPC_INTERNAL_ERROR, "no randomness available");
    hex_encode(raw, sizeof(raw), sid_out);
    rc = store_mcp_session_create(sid_out, r->who.tenant, version,
                                  client_info(client, "name", name, sizeof(name)),
                                  client_info(client, "version", cversion, sizeof(cversion)),
                                  r->cfg->mcp_sessions_max, r->cfg->mcp_session_idle, &err);
    if (rc != 0)
        sid_out[0] = '\0';
    if (rc < 0)
        return rpc_error(id, RPC_INTERNAL_ERROR, err.message);
    if (rc == 1) {
        log_warn("mcp session refused: tenant at its cap", "tenant=%s max=%d", r->who.tenant,
                 r->cfg->mcp_sessions_max);
        *status = 429;
        snprintf(text, sizeof(text),
                 "Too many live MCP sessions for this API key's tenant (mcp_sessions_max = %d); "
                 "end unused ones with DELETE /mcp or let them expire",
                 r->cfg->mcp_sessions_max);
        return rpc_error(id, RPC_TOO_MANY_SESSIONS, text);
    }
    return rpc_result(
        id, json_pack("{s:s, s:{s:{s:b}}, s:{s:s, s:s, s:s}, s:s}", "protocolVersion", version,
                      "capabilities", "tools", "listChanged", 0, "serverInfo", "name", "loopgate",
                      "title", "Loopgate", "version", LOOPGATE_VERSION, "instructions",
                      "Use request_human_input before any action a human should approve. If it "
                      "returns without an answer, keep waiting with check_request_status."));
}

static bool accepts_sse(struct http_req *r)
{
    const char *accept = http_param(r, "HTTP_ACCEPT");

    return accept && strstr(accept, "text/event-stream");
}

/* Dispatch one request message; the answer is a new reference or NULL. */
static json_t *dispatch(struct http_req *r, json_t *msg, bool *streamed, bool may_stream,
                        int *budget, bool as_task)
{
    json_t *id = json_object_get(msg, "id"), *params = json_object_get(msg, "params");
    const char *method = json_string_value(json_object_get(msg, "method"));

    if (params && !json_is_object(params))
        return rpc_error(id, RPC_INVALID_PARAMS, "params must be an object");
    if (!strcmp(method, "ping"))
        return rpc_result(id, json_object());
    if (!strcmp(method, "tools/list"))
        return rpc_result(id, json_pack("{s:o}", "tools", tools_list()));
    if (!strcmp(method, "tools/call")) {
        const struct tool *t = tool_find(json_string_value(json_object_get(params, "name")));
        json_t *args = json_object_get(params, "arguments"), *res;
        struct call c = {r, NULL, NULL, id, false, budget, as_task};
        json_t *empty = NULL;

        if (!t)
            return rpc_error(id, RPC_INVALID_PARAMS, "Unknown tool; see tools/list");
        if (args && !json_is_object(args))
            return rpc_error(id, RPC_INVALID_PARAMS, "arguments must be an object");
        c.args = args ? args : (empty = json_object());
        c.progress = json_object_get(json_object_get(params, "_meta"), "progressToken");
        if (t->waits && may_stream && !as_task && accepts_sse(r)) {
            /* Stream: progress may go out before the result. */
            http_sse_begin(r, NULL);
            c.streaming = true;
            *streamed = true;
        }
        res = t->fn(&c);
        json_decref(empty);
        return rpc_result(id, res);
    }
    if (!strcmp(method, "logging/setLevel") || !strcmp(method, "resources/list") ||
        !strcmp(method, "prompts/list"))
        return rpc_error(id, RPC_METHOD_NOT_FOUND, "Method not found: not offered by Loopgate");
    return rpc_error(id, RPC_METHOD_NOT_FOUND, "Method not found");
}

/* Is `m` a valid JSON-RPC 2.0 message? Kind: 'q' request, 'n' notification, 'r' response. */
static int classify(json_t *m, char *kind)
{
    json_t *id = json_object_get(m, "id"), *method = json_object_get(m, "method");

    if (!json_is_object(m) || !json_is_string(json_object_get(m, "jsonrpc")) ||
        strcmp(json_string_value(json_object_get(m, "jsonrpc")), "2.0") != 0)
        return -1;
    if (id && !json_is_string(id) && !json_is_integer(id) && !json_is_null(id))
        return -1;
    if (method) {
        /* MCP: a request's id must not be null; a notification has no id at all. */
        if (!json_is_string(method) || json_is_null(id))
            return -1;
        *kind = id ? 'q' : 'n';
        return 0;
    }
    if (id && (json_object_get(m, "result") || json_object_get(m, "error"))) {
        *kind = 'r';
        return 0;
    }
    return -1;
}

/*
 * A JSON-RPC batch: defined by 2025-03-26 only, so accepted only in a
 * session that negotiated it. Answered as one JSON array (tools do not
 * stream inside a batch), or 202 when it held no request.
 */
static void batch(struct http_req *r, json_t *msgs)
{
    char version[32];
    json_t *answers, *m;
    bool streamed = false;
    int budget = r->cfg->poll_wait_max; /* the whole batch waits no longer than one call may */
    size_t i;
    char kind;

    if (session_check(r, version, sizeof(version)) < 0)
        return;
    if (strcmp(version, "2025-03-26") != 0 || json_array_size(msgs) == 0) {
        http_send_json(r, 400,
                       rpc_error(NULL, RPC_INVALID_REQUEST,
                                 "Invalid Request: batches exist only in protocol 2025-03-26"));
        return;
    }
    answers = json_array();
    json_array_foreach(msgs, i, m)
    {
        if (classify(m, &kind) < 0)
            json_array_append_new(answers, rpc_error(json_object_get(m, "id"), RPC_INVALID_REQUEST,
                                                     "Invalid Request"));
        else if (kind == 'q' &&
                 !strcmp(json_string_value(json_object_get(m, "method")), "initialize"))
            json_array_append_new(answers,
                                  rpc_error(json_object_get(m, "id"), RPC_INVALID_REQUEST,
                                            "Invalid Request: initialize cannot be batched"));
        else if (kind == 'q')
            json_array_append_new(answers, dispatch(r, m, &streamed, false, &budget, false));
    }
    if (json_array_size(answers) == 0) {
        json_decref(answers);
        http_send_empty(r, 202, NULL);
        return;
    }
    http_send_json(r, 200, answers);
}

/* ---------------------------------------------------------------- 2026-07-28 */

/* The task status of a request status. */
static const char *task_status(const char *status)
{
    if (!status || !strcmp(status, "pending"))
        return "working";
    if (!strcmp(status, "canceled"))
        return "cancelled";
    return "completed"; /* decided, or timed out: the tool ran and has its answer */
}

/*
 * The task of request `id` as tasks/get shows it (DetailedTask): status,
 * times, and when final the tool result inlined. `poll` is the request's
 * poll body (borrowed).
 */
static json_t *task_of(const char *id, json_t *poll, bool with_result)
{
    const char *status = json_string_value(json_object_get(poll, "status"));
    const char *created = json_string_value(json_object_get(poll, "created_at"));
    const char *responded = json_string_value(json_object_get(poll, "responded_at"));
    json_t *task = json_pack(
        "{s:s, s:s, s:s, s:s, s:I, s:I}", "taskId", id, "status", task_status(status), "createdAt",
        created ? created : "", "lastUpdatedAt", responded ? responded : (created ? created : ""),
        "ttlMs", (json_int_t)TASK_TTL_MS, "pollIntervalMs", (json_int_t)TASK_POLL_MS);

    if (with_result && !strcmp(task_status(status), "completed")) {
        json_t *res = json_is_true(json_object_get(poll, "completed"))
                          ? tool_ok_decided(json_deep_copy(poll))
                          : tool_ok(json_deep_copy(poll), NULL);

        json_object_set_new(res, "resultType", json_string("complete"));
        json_object_set_new(task, "result", res);
    }
    return task;
}

/* The CreateTaskResult of request `id`, just submitted (read back: durably created). */
static json_t *task_created(struct call *c, const char *id)
{
    struct lg_error err;
    json_t *poll, *task;

    if (store_request_poll(&c->r->who, id, &poll, &err) < 0)
        return tool_error(&err);
    task = task_of(id, poll, false);
    json_object_set_new(task, "resultType", json_string("task"));
    json_decref(poll);
    return task;
}

/*
 * Header `name`'s value without the whitespace around it (RFC 9110 5.5), in
 * buf; NULL when absent or longer than buf.
 */
static const char *header_value(struct http_req *r, const char *name, char *buf, size_t n)
{
    const char *v = http_param(r, name);
    size_t len;

    if (!v)
        return NULL;
    v += strspn(v, " \t");
    len = strlen(v);
    while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
        len--;
    if (len >= n)
        return NULL;
    memcpy(buf, v, len);
    buf[len] = '\0';
    return buf;
}

/*
 * Is `msg` a 2026-07-28 request? No session, and the MCP-Protocol-Version
 * header or params._meta names 2026-07-28 (or a version none of the four
 * stateful revisions knows), or the method is server/discover.
 */
static bool is_stateless(struct http_req *r, json_t *msg)
{
    const char *sid = http_param(r, "HTTP_MCP_SESSION_ID");
    const char *method = json_string_value(json_object_get(msg, "method"));
    json_t *meta = json_object_get(json_object_get(msg, "params"), "_meta");
    const char *mv = json_string_value(json_object_get(meta, META_VERSION));
    char pv[32];

    if (sid && *sid)
        return false;
    if (header_value(r, "HTTP_MCP_PROTOCOL_VERSION", pv, sizeof(pv)) &&
        !strcmp(pv, STATELESS_VERSION))
        return true;
    if (method && !strcmp(method, "server/discover"))
        return true;
    return mv && !version_supported(mv);
}

static void send_rpc_error(struct http_req *r, int status, json_t *id, int code,
                           const char *message, json_t *data)
{
    json_t *e = rpc_error(id, code, message);

    if (data)
        json_object_set_new(json_object_get(e, "error"), "data", data);
    http_send_json(r, status, e);
}

static json_t *all_versions(void)
{
    json_t *vs = json_array();

    for (int i = 0; versions[i]; i++)
        json_array_append_new(vs, json_string(versions[i]));
    json_array_append_new(vs, json_string(STATELESS_VERSION));
    return vs;
}

/* The body field a request's Mcp-Name header mirrors, or NULL. */
static const char *name_field(const char *method)
{
    if (!strcmp(method, "tools/call") || !strcmp(method, "prompts/get"))
        return "name";
    if (!strcmp(method, "resources/read"))
        return "uri";
    if (!strncmp(method, "tasks/", 6))
        return "taskId";
    return NULL;
}

/* The methods 2026-07-28 requests may call. */
static bool method_served(const char *method)
{
    static const char *const served[] = {
        "server/discover", "tools/list",   "tools/call",     "tasks/get",
        "tasks/update",    "tasks/cancel", "resources/read", NULL};

    for (int i = 0; served[i]; i++)
        if (!strcmp(served[i], method))
            return true;
    return false;
}

/* tasks/get, tasks/update, tasks/cancel. */
static json_t *stateless_task(struct http_req *r, json_t *id, const char *method, json_t *params)
{
    json_t *tid = json_object_get(params, "taskId"), *out = NULL, *res;
    struct lg_error err;

    if (!json_is_string(tid) ||
        validate_request_id(json_string_value(tid), "taskId", "field", &err) < 0)
        return rpc_error(id, RPC_INVALID_PARAMS, "Invalid params: unknown taskId");
    if (!strcmp(method, "tasks/cancel")) {
        if (store_request_cancel(&r->who, json_string_value(tid), METRICS_CH_MCP, &out, &err) == 0)
            notify_outbox_kick();   /* the message edit, the agent's webhook */
        else if (err.status != 409) /* already final: the same ack */
            return err.status == 404
                       ? rpc_error(id, RPC_INVALID_PARAMS, "Invalid params: unknown taskId")
                       : rpc_error(id, RPC_INTERNAL_ERROR, err.message);
        json_decref(out);
        return rpc_result(id, json_pack("{s:s}", "resultType", "complete"));
    }
    if (store_request_poll(&r->who, json_string_value(tid), &out, &err) < 0)
        return err.status == 404
                   ? rpc_error(id, RPC_INVALID_PARAMS, "Invalid params: unknown taskId")
                   : rpc_error(id, RPC_INTERNAL_ERROR, err.message);
    if (!strcmp(method, "tasks/update")) {
        /* Loopgate's tasks never ask the client for input: nothing to update. */
        json_decref(out);
        return rpc_result(id, json_pack("{s:s}", "resultType", "complete"));
    }
    res = task_of(json_string_value(tid), out, true);
    json_object_set_new(res, "resultType", json_string("complete"));
    json_decref(out);
    return rpc_result(id, res);
}

/* One 2026-07-28 request, its headers and _meta checked first. */
static void stateless(struct http_req *r, json_t *msg)
{
    json_t *id = json_object_get(msg, "id"), *params = json_object_get(msg, "params");
    const char *method = json_string_value(json_object_get(msg, "method"));
    const char *field, *hv, *mv;
    json_t *meta, *caps, *answer;
    bool streamed = false, tasks_ok;
    int budget = r->cfg->poll_wait_max;
    char hbuf[512];

    /* A method not served is that, whatever else is wrong with the request. */
    if (!method_served(method)) {
        send_rpc_error(r, 404, id, RPC_METHOD_NOT_FOUND, "Method not found", NULL);
        return;
    }
    hv = header_value(r, "HTTP_MCP_METHOD", hbuf, sizeof(hbuf));
    if (!hv || strcmp(hv, method) != 0) {
        send_rpc_error(r, 400, id, RPC_HEADER_MISMATCH,
                       "Header mismatch: the Mcp-Method header must equal the body's method", NULL);
        return;
    }
    if (params && !json_is_object(params)) {
        send_rpc_error(r, 400, id, RPC_INVALID_PARAMS, "params must be an object", NULL);
        return;
    }
    field = name_field(method);
    if (field && json_is_string(json_object_get(params, field))) {
        hv = header_value(r, "HTTP_MCP_NAME", hbuf, sizeof(hbuf));
        if (!hv || strcmp(hv, json_string_value(json_object_get(params, field))) != 0) {
            send_rpc_error(r, 400, id, RPC_HEADER_MISMATCH,
                           "Header mismatch: the Mcp-Name header must equal the body's name, "
                           "uri or taskId",
                           NULL);
            return;
        }
    }
    meta = json_object_get(params, "_meta");
    mv = json_string_value(json_object_get(meta, META_VERSION));
    caps = json_object_get(meta, META_CAPS);
    if (!mv || !json_is_object(caps)) {
        send_rpc_error(r, 400, id, RPC_INVALID_PARAMS,
                       "Invalid params: _meta must carry " META_VERSION " and " META_CAPS, NULL);
        return;
    }
    hv = header_value(r, "HTTP_MCP_PROTOCOL_VERSION", hbuf, sizeof(hbuf));
    if (!hv || strcmp(hv, mv) != 0) {
        send_rpc_error(r, 400, id, RPC_HEADER_MISMATCH,
                       "Header mismatch: the MCP-Protocol-Version header must equal _meta's "
                       "protocol version",
                       NULL);
        return;
    }
    if (strcmp(mv, STATELESS_VERSION) != 0) {
        send_rpc_error(r, 400, id, RPC_UNSUPPORTED_VERSION, "Unsupported protocol version",
                       json_pack("{s:o, s:s}", "supported", all_versions(), "requested", mv));
        return;
    }
    tasks_ok = json_object_get(json_object_get(caps, "extensions"), TASKS_EXT) != NULL;

    if (!strcmp(method, "server/discover")) {
        answer = rpc_result(
            id, json_pack("{s:o, s:{s:{s:b}, s:{s:{}}}, s:s, s:s, s:s, s:I, s:{s:{s:s, s:s, s:s}}}",
                          "supportedVersions", all_versions(), "capabilities", "tools",
                          "listChanged", 0, "extensions", TASKS_EXT, "instructions",
                          "Use request_human_input before any action a human should approve. "
                          "Declare the io.modelcontextprotocol/tasks extension and it returns a "
                          "task at once: poll it with tasks/get.",
                          "resultType", "complete", "cacheScope", "public", "ttlMs",
                          (json_int_t)LIST_TTL_MS, "_meta", "io.modelcontextprotocol/serverInfo",
                          "name", "loopgate", "title", "Loopgate", "version", LOOPGATE_VERSION));
    } else if (!strcmp(method, "tools/list")) {
        answer = rpc_result(id, json_pack("{s:o, s:s, s:s, s:I}", "tools", tools_list(),
                                          "resultType", "complete", "cacheScope", "public", "ttlMs",
                                          (json_int_t)LIST_TTL_MS));
    } else if (!strcmp(method, "tools/call")) {
        const char *name = json_string_value(json_object_get(params, "name"));
        json_t *res;

        answer = dispatch(r, msg, &streamed, true, &budget,
                          tasks_ok && name && !strcmp(name, "request_human_input"));
        res = json_object_get(answer, "result");
        if (res && !json_object_get(res, "resultType"))
            json_object_set_new(res, "resultType", json_string("complete"));
    } else if (!strcmp(method, "resources/read")) {
        /* Loopgate has no resources: every URI is one it does not know. */
        json_t *uri = json_object_get(params, "uri");

        answer = rpc_error(id, RPC_INVALID_PARAMS, "Resource not found");
        if (json_is_string(uri))
            json_object_set_new(json_object_get(answer, "error"), "data",
                                json_pack("{s:O}", "uri", uri));
    } else {
        if (!tasks_ok) {
            send_rpc_error(
                r, 400, id, RPC_MISSING_CAPABILITY,
                "Missing required client capability: the " TASKS_EXT " extension",
                json_pack("{s:{s:{s:{}}}}", "requiredCapabilities", "extensions", TASKS_EXT));
            return;
        }
        answer = stateless_task(r, id, method, params);
    }
    if (streamed)
        http_sse_send(r, answer);
    else
        http_send_json(r, 200, answer);
}

static void unsupported_version(struct http_req *r)
{
    http_send_json(
        r, 400,
        rpc_error(NULL, RPC_INVALID_REQUEST, "Bad Request: unsupported MCP-Protocol-Version"));
}

void mcp_post(struct http_req *r)
{
    const char *pv = http_param(r, "HTTP_MCP_PROTOCOL_VERSION");
    char version[32] = "", sid[65] = "", hdr[128] = "";
    json_error_t jerr;
    json_t *msg, *answer = NULL;
    bool streamed = false;
    int budget = r->cfg->poll_wait_max, status = 200;
    char kind;

    /* An unknown version may still be a 2026-07-28-style request: decided after parsing. */
    bool bad_pv = pv && !version_supported(pv);

    if (bad_pv && (!json_depth_ok(r->body, r->body_len, LG_JSON_DEPTH_MAX) ||
                   !utf8_valid(r->body, r->body_len))) {
        unsupported_version(r);
        return;
    }
    if (!json_depth_ok(r->body, r->body_len, LG_JSON_DEPTH_MAX)) {
        char text[64];
        snprintf(text, sizeof(text), "Parse error: JSON nested deeper than %d levels",
                 LG_JSON_DEPTH_MAX);
        http_send_json(r, 400, rpc_error(NULL, RPC_PARSE_ERROR, text));
        return;
    }
    if (!utf8_valid(r->body, r->body_len) ||
        !(msg =
              json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr))) {
        if (bad_pv)
            unsupported_version(r);
        else
            http_send_json(r, 400, rpc_error(NULL, RPC_PARSE_ERROR, "Parse error"));
        return;
    }
    if (json_is_object(msg) && is_stateless(r, msg)) {
        if (classify(msg, &kind) < 0)
            http_send_json(
                r, 400,
                rpc_error(json_object_get(msg, "id"), RPC_INVALID_REQUEST, "Invalid Request"));
        else if (kind == 'q')
            stateless(r, msg);
        else
            http_send_empty(r, 202, NULL);
        json_decref(msg);
        return;
    }
    if (bad_pv) {
        unsupported_version(r);
        json_decref(msg);
        return;
    }
    if (json_is_array(msg)) {
        batch(r, msg);
        json_decref(msg);
        return;
    }
    if (classify(msg, &kind) < 0) {
        http_send_json(
            r, 400, rpc_error(json_object_get(msg, "id"), RPC_INVALID_REQUEST, "Invalid Request"));
        json_decref(msg);
        return;
    }
    if (kind == 'q' && !strcmp(json_string_value(json_object_get(msg, "method")), "initialize")) {
        answer = do_initialize(r, json_object_get(msg, "id"), json_object_get(msg, "params"), sid,
                               &status);
        if (sid[0])
            snprintf(hdr, sizeof(hdr), "Mcp-Session-Id: %s\r\n", sid);
        else if (status == 429)
            lg_strlcpy(hdr, "Retry-After: 60\r\n", sizeof(hdr));
        http_send_json_hdr(r, status, answer, hdr);
        json_decref(msg);
        return;
    }
    if (session_check(r, version, sizeof(version)) < 0) {
        json_decref(msg);
        return;
    }
    if (kind != 'q') {
        http_send_empty(r, 202, NULL);
        json_decref(msg);
        return;
    }
    answer = dispatch(r, msg, &streamed, true, &budget, false);
    if (streamed)
        http_sse_send(r, answer);
    else
        http_send_json(r, 200, answer);
    json_decref(msg);
}

void mcp_delete(struct http_req *r)
{
    const char *sid = http_param(r, "HTTP_MCP_SESSION_ID");
    struct lg_error err;
    int rc;

    if (!sid || !*sid) {
        lg_fail(&err, 400, "missing_header", "Mcp-Session-Id header is required");
        http_send_error(r, &err);
        return;
    }
    rc = !sid_well_formed(sid) ? 1 : store_mcp_session_end(sid, r->who.tenant, &err);
    if (rc < 0) {
        http_send_error(r, &err);
    } else if (rc == 1) {
        lg_fail(&err, 404, "session_not_found", "no such MCP session");
        http_send_error(r, &err);
    } else {
        http_send_empty(r, 204, NULL);
    }
}

void mcp_get(struct http_req *r)
{
    struct lg_error err;

    lg_fail(&err, 405, "method_not_allowed",
            "this server sends no server-initiated stream; POST JSON-RPC messages to /mcp");
    http_send_json_hdr(r, 405, shape_error(err.code, err.message), "Allow: POST, DELETE\r\n");
}

void mcp_tools_json(struct http_req *r)
{
    http_send_json(r, 200, json_pack("{s:o}", "tools", tools_list()));
}

void mcp_capabilities_json(struct http_req *r)
{
    json_t *vs = json_array();

    for (int i = 0; versions[i]; i++)
        json_array_append_new(vs, json_string(versions[i]));
    http_send_json(r, 200,
                   json_pack("{s:{s:{s:b}}, s:o, s:{s:s, s:s}, s:s}", "capabilities", "tools",
                             "listChanged", 0, "protocolVersions", vs, "serverInfo", "name",
                             "loopgate", "version", LOOPGATE_VERSION, "endpoint", "/mcp"));
}

/* "localhost", "127.0.0.1", "[::1]", with or without a port. */
static bool loopback_host(const char *host)
{
    static const char *const names[] = {"localhost", "127.0.0.1", "[::1]", NULL};

    for (int i = 0; names[i]; i++) {
        size_t n = strlen(names[i]);
        if (!strncasecmp(host, names[i], n) && (host[n] == '\0' || host[n] == ':'))
            return true;
    }
    return false;
}

/* The host of an Origin ("http://127.0.0.1:8080" -> "127.0.0.1:8080"), or NULL. */
static const char *origin_host(const char *origin)
{
    const char *p = strstr(origin, "://");

    return p ? p + 3 : NULL;
}

int mcp_check_origin(struct http_req *r, struct lg_error *err)
{
    const char *origin = http_param(r, "HTTP_ORIGIN");
    const char *host = http_param(r, "HTTP_HOST");
    const char *addr = http_param(r, "SERVER_ADDR");
    bool loopback = addr && (!strncmp(addr, "127.", 4) || !strcmp(addr, "::1"));

    /* A loopback listener answers loopback names only: DNS rebinding. */
    if (loopback && host && *host && !loopback_host(host))
        return lg_fail(err, 421, "misdirected_request",
                       "Host '%.100s' is not served on this loopback listener", host);
    if (origin && *origin) {
        const char *allowed = r->cfg->mcp_allowed_origins, *oh = origin_host(origin);
        /* A page served from loopback itself may call a loopback listener. */
        bool ok = loopback && oh && loopback_host(oh);
        /* An origin named in either list; `*` of cors_allowed_origins is no name. */
        ok = ok || config_list_has(allowed, origin) ||
             config_list_has(r->cfg->cors_allowed_origins, origin);
        if (!ok)
            return lg_fail(err, 403, "forbidden_origin",
                           "Origin '%.100s' is not allowed (mcp_allowed_origins, "
                           "cors_allowed_origins)",
                           origin);
    }
    return 0;
}
