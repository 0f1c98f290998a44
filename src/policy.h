/*
 * policy.h - rules that decide a coding agent's tool call without asking.
 *
 * A request may say which tool call it asks about (validate.h: tool,
 * tool_input, agent_session). A tenant's rules (table policies, migration
 * 025) name a tool, a POSIX ERE `match` and an action:
 *
 * 1. The text a rule matches is the tool input rendered by policy_text: for
 *    a shell tool its command, for a file tool the one path field it
 *    holds (file_path, notebook_path, absolute_path or path; two or more:
 *    none) with `.`, `..` and empty segments resolved lexically
 *    (`/p/../etc//x` is `/etc/x`), else the compact JSON of the whole
 *    input (keys sorted).
 * 2. A rule applies to a request when it is live (not revoked, not past
 *    expires_at), names the request's tool, is the tenant's (session_id
 *    NULL) or the request's session's, and names no agent_session or the
 *    request's. An allow rule matches only when its regex matches the WHOLE
 *    text (so `^git status` does not allow "git status; rm -rf ~"); deny and
 *    ask rules match anywhere in it. Both directions fail closed.
 * 3. Deny before ask before allow, whatever their scope: a matching deny
 *    rule of any scope decides; else a matching ask rule; an allow rule
 *    decides only when no applying deny or ask rule matches. Among rules of
 *    one action the first in order decides (session rules before tenant
 *    rules, then position, then id); that is the rule named. None: ask.
 * 4. An allow rule never allows a text over POLICY_TEXT_MAX_BYTES, a text
 *    holding a control character other than tab (a newline or carriage
 *    return would start a second shell command), or for a file tool
 *    anything but an absolute path without a `..` segment after point 1 (a
 *    relative path, or no single path field); nor when some applying rule
 *    cannot be evaluated. Deny and ask rules are evaluated on texts of any
 *    length (a tool input is at most 64 KiB).
 *    Nor an input holding a field the rule does not see: for a shell tool
 *    any field but command, description (a string), timeout (a number) and
 *    run_in_background / dangerouslyDisableSandbox when false (a working
 *    directory such as Gemini's dir_path is asked); for a file tool any
 *    field but its path, description and the tool's own content fields
 *    (Write: content; Edit: old_string, new_string, replace_all...), so an
 *    operator's path rule allows the tool's writes under that path. A rule
 *    made by "Allow this exact call for this session" (created_by holds
 *    POLICY_SESSION_MARK) matches the whole input: for a file tool nothing
 *    but the path and description, so it never allows a later write's
 *    content.
 * 5. A rule's match is a bounded POSIX ERE (params_pattern_check, its
 *    repetitions expanded to at most POLICY_MATCH_COST_MAX positions) with
 *    balanced parentheses and no unbounded repetition of a group holding an
 *    alternative or a repetition ((a|aa)*, (a+)+). It is matched anchored
 *    (`^(match)$` for allow, `^.*(match)` otherwise) without sub-matches, in
 *    one pass of glibc's DFA: the cost is linear in the text. Each process
 *    keeps the compiled rules it used last (1024), so a call compiles only
 *    rules it has not seen.
 *
 * Pure except policy_allow_for_session (store_policy.c).
 */
#ifndef LG_POLICY_H
#define LG_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "util.h"
#include "validate.h"

#define POLICY_MATCH_MAX_BYTES 1024
#define POLICY_RULES_MAX 200       /* live rules of one tool read at a submit */
#define POLICY_TEXT_MAX_BYTES 4096 /* a longer text is never allowed (point 4) */
#define POLICY_MATCH_COST_MAX 100  /* positions of a match's expanded repetitions (point 5) */

enum policy_action { POLICY_ASK, POLICY_ALLOW, POLICY_DENY };

struct policy_rule {
    int64_t id;
    const char *session_id;    /* NULL: every session of the tenant */
    const char *agent_session; /* NULL: any */
    const char *tool;
    const char *match;
    enum policy_action action;
    int position;
    int64_t expires_at; /* Unix seconds; 0: never */
    bool revoked;
    bool exact; /* made by "Allow this exact call for this session" (point 4) */
};

/* What created_by of a rule made by "Allow this exact call for this session" holds. */
#define POLICY_SESSION_MARK "Allow this exact call for this session"

/* A rule to add; strings borrowed. */
struct policy_new {
    const char *tenant;
    const char *session_id;    /* NULL: every session of the tenant */
    const char *agent_session; /* NULL: any */
    const char *tool;
    const char *match; /* checked by the caller (policy_check_match) */
    enum policy_action action;
    int position;
    int expires_s; /* 0: never */
    const char *created_by;
};

#define POLICY_EXPIRES_MAX (366 * 86400) /* expires_seconds: 1 s to a year */
#define POLICY_POSITION_MAX 1000000      /* position: -POLICY_POSITION_MAX to it */

/*
 * The body of POST /v1/policies: {session_id?, agent_session?, tool, match,
 * action, expires_seconds?, position?}; any other field is refused. Fills
 * everything but tenant and created_by (strings borrowed from `body`); a
 * 400 naming the field otherwise.
 */
int policy_parse_new(json_t *body, struct policy_new *out, struct lg_error *err) LG_MUST_CHECK;

/* "allow", "deny", "ask". */
const char *policy_action_name(enum policy_action a);

/* Parse an action name; -1 for anything else. */
int policy_action_parse(const char *s, enum policy_action *out) LG_MUST_CHECK;

/*
 * A rule's `match`: a bounded POSIX ERE (params_pattern_check) of at most
 * POLICY_MATCH_MAX_BYTES of the shape point 5 asks for; otherwise a 400
 * whose message names "match".
 */
int policy_check_match(const char *match, struct lg_error *err) LG_MUST_CHECK;

/* Whether `tool` is a shell tool: its rule text is its `command` (policy_text). */
bool policy_is_shell_tool(const char *tool);

/* Whether `tool` is a file tool: its rule text is its one path, normalised (policy_text). */
bool policy_is_file_tool(const char *tool);

/* The text rules match for `tool` and its input (point 1; NULL input is {}); malloc'd. */
char *policy_text(const char *tool, json_t *tool_input);

/*
 * An anchored POSIX ERE that matches exactly `text` and nothing else (every
 * character special to an ERE escaped); malloc'd, or NULL with a 400 when
 * it would not pass policy_check_match (too long).
 */
char *policy_exact_regex(const char *text, struct lg_error *err);

/*
 * The action of the first rule of `rules` that applies and matches (points
 * 2 to 4) at `now` (Unix seconds), with its id in *rule_id; POLICY_ASK
 * with *rule_id 0 when none does. `text` stands for the whole input: for a
 * tool call, use policy_decide_call.
 */
enum policy_action policy_decide(const struct policy_rule *rules, int n, const char *session_id,
                                 const char *agent_session, const char *tool, const char *text,
                                 int64_t now, int64_t *rule_id);

/*
 * policy_decide for a tool call: its text is policy_text(tool, tool_input),
 * and an allow rule allows it only when the input holds nothing the rule
 * did not see (point 4). What the submit path uses.
 */
enum policy_action policy_decide_call(const struct policy_rule *rules, int n,
                                      const char *session_id, const char *agent_session,
                                      const char *tool, json_t *tool_input, int64_t now,
                                      int64_t *rule_id);

/*
 * Whether an allow rule may allow `text` (policy_text) of `tool` at all
 * (point 4: its length, its characters, a file tool's path).
 */
bool policy_allowable(const char *tool, const char *text);

/* Whether the Telegram message of the request `in` would be cut to fit (tgmsg_request). */
bool policy_message_cut(const struct submit_in *in);

/*
 * Add an allow rule for `tool` with `match_regex` (checked as
 * policy_check_match) to session `session_id` of `tenant`, for
 * `agent_session` (NULL: any), expiring in `expires_s` seconds (0: never),
 * before the session's other rules (position -1), audited as policy_added
 * by `created_by`, which gets POLICY_SESSION_MARK when it lacks it (the
 * rule matches the whole input, point 4). 0 with *rule_id set, or -1 with *err (400 on a bad
 * regex, 404 no such session).
 */
int policy_allow_for_session(const char *tenant, const char *session_id, const char *agent_session,
                             const char *tool, const char *match_regex, int expires_s,
                             const char *created_by, int64_t *rule_id,
                             struct lg_error *err) LG_MUST_CHECK;

#endif
