/*
 * hooks.h - coding agents ask a person before a tool call runs.
 *
 * Claude Code (PermissionRequest and PreToolUse hooks, and the MCP tool
 * permission_prompt of `claude -p --permission-prompt-tool`), OpenAI Codex
 * CLI (PermissionRequest) and Gemini CLI (BeforeTool) hand a tool call to an
 * external decider before it runs. Each such call becomes an ordinary
 * Loopgate request (the submit path of /hitl/request: validate.c, the store,
 * Telegram and the console), the thread waits for it as a long-poll does
 * (wait.c: no database connection held), and the decision goes back in the
 * agent's own JSON format:
 *
 *   - approved: allow; approved with edits (the person changed the command
 *     or the file's text with /edit): allow with updatedInput, the tool input
 *     with the edited fields replaced (Claude Code only: Codex refuses an
 *     answer that carries updatedInput, Gemini has no such field);
 *   - "Allow this exact call for this session" (offered when the call
 *     names its agent session, by Claude Code with permission_suggestions,
 *     always by Codex and Gemini CLI, and only when the rule lets nothing
 *     but this call through: never for a file write): allow, and a rule
 *     (policy.h) lets exactly the same call through in that agent session
 *     from then on without asking; Claude Code also gets back, as
 *     updatedPermissions with destination "session", an allow rule for the
 *     very command when it suggested exactly that, and nothing wider;
 *   - denied: deny with the person's reason, which the model reads;
 *   - no decision within the wait: deny, "No one approved this in N s
 *     (Loopgate)"; the request's own timeout is the same wait, so it is
 *     recorded as timed out and its message says so.
 *
 * The wait is bounded below each agent's own hook timeout (Claude Code and
 * Codex 600 s, Gemini CLI 60 s), and shorter when the caller asks
 * (X-Loopgate-Wait).
 *
 * A call can arrive more than once: the host waiting on it dies or stops,
 * and nginx sends it on to another host (fastcgi_next_upstream
 * non_idempotent on the hook locations), or `loopgate hook` sends it again.
 * Each arrival is keyed (hooks_call_key) by the endpoint, the Loopgate
 * session and the whole body as the agent sent it, which carries the
 * agent's own id of the call where it has one (Claude Code's tool_use_id,
 * Gemini CLI's timestamp); an arrival whose request with that key, the same
 * tool and the same input is still pending waits on that request, so the
 * person is asked once and one decision answers every arrival. Nothing
 * else is re-attached: a decided request is never answered again (the call
 * asks anew), and a different input is a different key. A waiter whose
 * caller hangs up cancels the request only when no later arrival took it
 * over; a stopping host answers its waiting calls 503 shutting_down and
 * leaves their requests pending for the next arrival.
 */
#ifndef LG_HOOKS_H
#define LG_HOOKS_H

#include <stdbool.h>

#include <jansson.h>

#include "actor.h"
#include "config.h"
#include "http.h"
#include "util.h"

enum hooks_agent {
    HOOKS_CLAUDE_CODE, /* a Claude Code hook: PermissionRequest or PreToolUse */
    HOOKS_CLAUDE_MCP,  /* Claude Code's --permission-prompt-tool (the MCP tool) */
    HOOKS_CODEX,       /* Codex CLI PermissionRequest */
    HOOKS_GEMINI,      /* Gemini CLI BeforeTool */
};

/* Default waits, seconds: below each agent's hook timeout. */
#define HOOKS_WAIT_CLAUDE 540
#define HOOKS_WAIT_CODEX 540
#define HOOKS_WAIT_GEMINI 50
/*
 * The end of a call's message that had to be cut (MESSAGE_CAP): the tool
 * input it left out is read whole in the console (requests.tool_input);
 * without that input stored, such a request can only be denied.
 */
#define HOOKS_CUT_MARK "\n[cut]"
#define HOOKS_WAIT_MAX_DEFAULT 900 /* hooks_wait_max's default: above the agents' 600 s */
#define HOOKS_WAIT_SLICE 5         /* seconds between checks that the caller is still there */

/* One tool call an agent asks about. Strings and JSON are borrowed from the parsed body. */
struct hooks_call {
    enum hooks_agent agent;
    bool pre_tool_use;         /* Claude Code's PreToolUse (else a permission request) */
    const char *tool;          /* tool_name */
    json_t *input;             /* tool_input: an object */
    const char *agent_session; /* the agent's session_id, or NULL */
    const char *cwd;           /* or NULL */
    json_t *suggestions;       /* Claude Code's permission_suggestions (an array), or NULL */
};

/* The outcome of a tool call. */
struct hooks_verdict {
    bool allow;
    bool for_session;      /* "Allow this exact call for this session" was pressed */
    json_t *updated_input; /* the edited tool input (new reference), or NULL */
    char reason[600];      /* why, as the model reads it */
};

/* POST /v1/hooks/claude-code, /v1/hooks/codex, /v1/hooks/gemini (api.c routes them). */
void hooks_claude_code(struct http_req *r);
void hooks_codex(struct http_req *r);
void hooks_gemini(struct http_req *r);

/*
 * Check an agent's body and fill `hc` (borrowing from `body`): tool_name
 * 1-128 printable bytes, tool_input an object, the optional strings within
 * bounds, Claude Code's hook_event_name PermissionRequest or PreToolUse,
 * Codex's PermissionRequest, Gemini's BeforeTool. For HOOKS_CLAUDE_MCP the
 * body is the tool's arguments {tool_name, input, tool_use_id}. Returns -1
 * with a 400 naming the field.
 */
int hooks_parse(enum hooks_agent agent, json_t *body, struct hooks_call *hc,
                struct lg_error *err) LG_MUST_CHECK;

/*
 * The /hitl/request body that asks about `hc` in `session` (new reference;
 * pure): the call rendered for a phone as its message, the buttons (with
 * "Allow this exact call for this session" when offered), cwd and agent session as
 * metadata, timeout `wait_s` with on_timeout deny, tool and tool_input for
 * policy rules, and with `with_params` the fields a person may edit
 * (params and params_schema, Claude Code's Bash, Write and Edit only).
 */
json_t *hooks_request_body(const struct hooks_call *hc, const char *session, int wait_s,
                           bool with_params);

/*
 * Submit the request for `hc` in `session` (timeout `wait_s`), as `who`; its
 * id into `id`. Returns -1 with `err` (the submit's own errors: unknown
 * session, too many pending ...).
 */
int hooks_submit(const struct config *cfg, const struct actor *who, const struct hooks_call *hc,
                 const char *session, int wait_s, char id[64], struct lg_error *err) LG_MUST_CHECK;

/*
 * The key of a hook call (pure): hex SHA-256 of the agent's endpoint, the
 * Loopgate `session` and the body `body` as canonical JSON (sorted keys, no
 * spaces), into `out`.
 */
void hooks_call_key(enum hooks_agent agent, const char *session, json_t *body, char out[65]);

/*
 * Cancel request `id` when its wait failed (the agent gone, no waiter slot):
 * nobody is left to read a decision, so none is asked for. While the
 * database is unavailable or busy the cancel is tried again about every
 * second, logged at warn, up to `until_ms` (now_ms clock; the call's own
 * end, when the request times out by itself); it ends once the request is
 * canceled or no longer pending. Blocks the calling thread meanwhile.
 */
void hooks_abandon(const struct actor *who, const char *id, int64_t until_ms);

/*
 * The verdict of `hc` from its request's poll body `poll` (NULL or not
 * final: no decision within `wait_s`). "Allow this exact call for this session" adds
 * the rule that lets the same call through in that agent session (policy.h).
 * `v` is filled always; free it with hooks_verdict_free.
 */
void hooks_decide(const struct actor *who, const struct hooks_call *hc, const char *session,
                  json_t *poll, int wait_s, struct hooks_verdict *v);
void hooks_verdict_free(struct hooks_verdict *v);

/*
 * The Loopgate session of a call: the header X-Loopgate-Session (checked as
 * an id), else hooks_default_session, else for the MCP tool
 * mcp_default_session; none is a 400 naming the header.
 */
int hooks_call_session(struct http_req *r, enum hooks_agent agent, const char **session,
                       struct lg_error *err) LG_MUST_CHECK;

/*
 * How long a call waits: the header X-Loopgate-Wait (a whole number of
 * seconds, 1 or more; else a 400 naming it), else the agent's default
 * (HOOKS_WAIT_*), either lowered to hooks_wait_max. Returns -1 on error.
 */
int hooks_call_wait(struct http_req *r, enum hooks_agent agent, struct lg_error *err);

/* The answer in the agent's own format (new reference). */
json_t *hooks_answer(const struct hooks_call *hc, const struct hooks_verdict *v);

#endif
