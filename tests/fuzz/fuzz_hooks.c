/*
 * fuzz_hooks.c - a coding agent's hook body, as POST /v1/hooks/claude-code,
 * /v1/hooks/codex and /v1/hooks/gemini and the MCP tool permission_prompt
 * take it: parsed (parse_json_object) and checked for each agent
 * (hooks_parse: Claude Code's PermissionRequest and PreToolUse, its
 * permission-prompt tool, Codex, Gemini CLI), turned into the request a
 * person reads (hooks_request_body: the call rendered for a phone, the
 * buttons, the editable params), which must pass the submit's own checks
 * (validate_submit) and render as a Telegram message (policy_message_cut);
 * then every decision (approve, deny with a reason, approve with edits,
 * "Allow for this session", no answer) answered in the agent's format
 * (hooks_decide, hooks_answer), all on a request thread's stack. The store's
 * one call (policy_allow_for_session) is a stand-in that checks the rule it
 * is given lets exactly that call through.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "check.h"
#include "fuzz.h"
#include "hooks.h"
#include "notify.h"
#include "policy.h"
#include "store_requests.h"
#include "validate.h"
#include "wait.h"

/* The call being decided, for the stand-in below. */
static const struct hooks_call *current;

/* ---------------------------------------------------------------- stand-ins */

int policy_allow_for_session(const char *tenant, const char *session_id, const char *agent_session,
                             const char *tool, const char *match_regex, int expires_s,
                             const char *created_by, int64_t *rule_id, struct lg_error *err)
{
    char *text;
    int64_t id = 0;

    (void)tenant, (void)expires_s, (void)err;
    FUZZ_REQUIRE(current && current->agent_session && agent_session && session_id);
    FUZZ_REQUIRE(!strcmp(agent_session, current->agent_session));
    FUZZ_REQUIRE(!strcmp(tool, current->tool));
    FUZZ_REQUIRE(utf8_valid(created_by, strlen(created_by)));
    text = policy_text(current->tool, current->input);
    FUZZ_REQUIRE(text != NULL);
    FUZZ_REQUIRE(policy_decide(&(struct policy_rule){1, session_id, agent_session, tool,
                                                     match_regex, POLICY_ALLOW, 0, 0, false, true},
                               1, session_id, agent_session, tool, text, 0,
                               &id) == (policy_allowable(tool, text) ? POLICY_ALLOW : POLICY_ASK));
    free(text);
    *rule_id = 1;
    return 0;
}

/* Nothing below runs: hooks.c's HTTP and waiting side, never reached from the pure functions. */

const char *http_param(const struct http_req *r, const char *name)
{
    (void)r, (void)name;
    abort();
}

void http_send_json(struct http_req *r, int status, json_t *body)
{
    (void)r, (void)status, (void)body;
    abort();
}

void http_send_error(struct http_req *r, const struct lg_error *err)
{
    (void)r, (void)err;
    abort();
}

bool http_client_gone(struct http_req *r)
{
    (void)r;
    abort();
}

int http_read_body(struct http_req *r, size_t max, struct lg_error *err)
{
    (void)r, (void)max, (void)err;
    abort();
}

int store_request_submit(const struct actor *who, const struct submit_in *in, const char *idem_key,
                         const char *body_hash, int max_pending, bool *queued, json_t **out,
                         struct lg_error *err)
{
    (void)who, (void)in, (void)idem_key, (void)body_hash, (void)max_pending, (void)queued;
    (void)out, (void)err;
    abort();
}

int store_request_cancel(const struct actor *who, const char *id, enum metrics_channel via,
                         json_t **out, struct lg_error *err)
{
    (void)who, (void)id, (void)via, (void)out, (void)err;
    abort();
}

int store_request_abandon(const struct actor *who, const char *id, int attach, json_t **out,
                          struct lg_error *err)
{
    (void)who, (void)id, (void)attach, (void)out, (void)err;
    abort();
}

int wait_poll(const struct config *c, const struct actor *who, const char *id, int wait_s,
              json_t **out, struct lg_error *err)
{
    (void)c, (void)who, (void)id, (void)wait_s, (void)out, (void)err;
    abort();
}

void notify_outbox_kick(void)
{
    abort();
}

void notify_outbox_kick_paced(void)
{
    abort();
}

bool notify_stopping(void)
{
    abort();
}

/* ---------------------------------------------------------------- harness */

#define SESSION "fuzz-session"
#define WAIT_S 540

/* The request for `hc`, as hooks_submit builds it: with params, else without; it must pass. */
static void fuzz_request(const struct hooks_call *hc, json_t **params)
{
    struct lg_error err = {0};
    struct submit_in in;
    json_t *body = hooks_request_body(hc, SESSION, WAIT_S, true);
    int rc;

    FUZZ_REQUIRE(body != NULL);
    rc = validate_submit(body, 3600, &in, &err);
    if (rc < 0) {
        fuzz_client_error(&err);
        FUZZ_REQUIRE(json_object_get(body, "params") != NULL);
        json_decref(body);
        body = hooks_request_body(hc, SESSION, WAIT_S, false);
        FUZZ_REQUIRE(body != NULL);
        rc = validate_submit(body, 3600, &in, &err);
    }
    /* A call hooks_parse accepts is always asked: never a 400 the agent cannot act on. */
    if (rc < 0)
        fprintf(stderr, "fuzz: the request body is refused: %s\n", err.message);
    FUZZ_REQUIRE(rc == 0);
    FUZZ_REQUIRE(in.tool && !strcmp(in.tool, hc->tool));
    FUZZ_REQUIRE(utf8_valid(in.message, strlen(in.message)));
    (void)policy_message_cut(&in);
    *params = json_incref(in.params);
    fuzz_dump(body);
}

/* A poll body: the request's final state as the store would answer it. */
static json_t *poll_of(bool approved, const char *response, const char *reason, json_t *params)
{
    json_t *p = json_pack("{s:b, s:s, s:b, s:s, s:{s:s}}", "completed", 1, "status", "completed",
                          "approved", approved, "response", response, "responder", "name", "Ann");

    if (reason)
        json_object_set_new(p, "reason", json_string(reason));
    if (params) {
        json_object_set_new(p, "edited", json_true());
        json_object_set(p, "params", params);
    }
    return p;
}

/* Decide `hc` from `poll` (stolen; NULL: no answer) and answer it; the answer must serialise. */
static void fuzz_answer(const struct actor *who, const struct hooks_call *hc, json_t *poll)
{
    struct hooks_verdict v;

    current = hc;
    hooks_decide(who, hc, SESSION, poll, WAIT_S, &v);
    current = NULL;
    FUZZ_REQUIRE(utf8_valid(v.reason, strlen(v.reason)));
    FUZZ_REQUIRE(!v.updated_input || v.allow);
    fuzz_dump(hooks_answer(hc, &v));
    hooks_verdict_free(&v);
    json_decref(poll);
}

static void fuzz_agent(enum hooks_agent agent, json_t *body)
{
    static const struct actor who = {"fuzz", "fuzz", false};
    struct lg_error err = {0};
    struct hooks_call hc;
    json_t *params = NULL, *edited = NULL;

    if (hooks_parse(agent, body, &hc, &err) < 0) {
        fuzz_client_error(&err);
        return;
    }
    FUZZ_REQUIRE(hc.tool && json_is_object(hc.input));
    /* The call's key (a second arrival waits on the same request): the same body, the same key. */
    {
        char k1[65], k2[65];

        hooks_call_key(agent, SESSION, body, k1);
        hooks_call_key(agent, SESSION, body, k2);
        FUZZ_REQUIRE(strlen(k1) == 64 && !strcmp(k1, k2));
    }
    fuzz_request(&hc, &params);
    /* The person's edit: every editable field changed. */
    if (params) {
        const char *key;
        json_t *val;

        edited = json_deep_copy(params);
        json_object_foreach(params, key, val)
        {
            json_object_set_new(edited, key, json_string("edited"));
        }
    }
    fuzz_answer(&who, &hc, poll_of(true, "Approve", NULL, NULL));
    fuzz_answer(&who, &hc, poll_of(false, "Deny", "Denied by Ann: not now", NULL));
    fuzz_answer(&who, &hc, poll_of(true, "Approve", NULL, edited));
    fuzz_answer(&who, &hc, poll_of(true, "Allow this exact call for this session", NULL, NULL));
    fuzz_answer(&who, &hc, NULL);
    json_decref(edited);
    json_decref(params);
}

static void fuzz_one(const char *data, size_t len)
{
    static const enum hooks_agent agents[] = {HOOKS_CLAUDE_CODE, HOOKS_CLAUDE_MCP, HOOKS_CODEX,
                                              HOOKS_GEMINI};
    struct lg_error err = {0};
    json_t *body;

    if (parse_json_object(data, len, &body, &err) < 0) {
        fuzz_client_error(&err);
        return;
    }
    for (size_t i = 0; i < sizeof(agents) / sizeof(agents[0]); i++)
        fuzz_agent(agents[i], body);
    json_decref(body);
}

FUZZ_MAIN
