/*
 * store_policy.h - the policies table (migration 025): a tenant's rules for
 * coding agents' tool calls (policy.h), read at submit, listed, added and
 * revoked. Every change is audited (policy_added, policy_revoked).
 */
#ifndef LG_STORE_POLICY_H
#define LG_STORE_POLICY_H

#include <stdint.h>

#include <jansson.h>

#include "policy.h"
#include "util.h"

/*
 * The decision of the tenant's live rules for a tool call
 * (policy_decide_call over the rules that may apply; one statement). 0 with *action and
 * *rule_id (0 when no rule matched), or -1.
 */
int store_policy_match(const char *tenant, const char *session_id, const char *agent_session,
                       const char *tool, json_t *tool_input, enum policy_action *action,
                       int64_t *rule_id, struct lg_error *err) LG_MUST_CHECK;

/*
 * Add a rule, audited as policy_added by p->created_by. 0 with *out the
 * rule (new reference, as store_policy_list shows it), or -1 (404 when
 * p->session_id names no session of the tenant).
 */
int store_policy_add(const struct policy_new *p, json_t **out, struct lg_error *err) LG_MUST_CHECK;

/*
 * The tenant's rules that are not revoked (of session `session_id` only,
 * when not NULL), in the order they apply: {"policies":[...]}.
 */
int store_policy_list(const char *tenant, const char *session_id, json_t **out,
                      struct lg_error *err) LG_MUST_CHECK;

#define POLICY_LIST_MAX 500 /* rules store_policy_list_all answers at most */

/*
 * Every rule of `tenant` (of session `session_id` only, when not NULL),
 * ended ones included, as the console lists them: the live ones first in
 * the order they apply, then the expired and revoked ones, the latest to
 * end first; at most POLICY_LIST_MAX. {"policies":[...], "truncated":
 * bool}, each rule as store_policy_list shows it plus "state" ("live",
 * "expired", "revoked") and "revoked_at" (null while not revoked).
 */
int store_policy_list_all(const char *tenant, const char *session_id, json_t **out,
                          struct lg_error *err) LG_MUST_CHECK;

/*
 * Revoke rule `id` of `tenant` (NULL: of any tenant, for the operator's
 * CLI), audited as policy_revoked by `actor`; 404 when none is live.
 */
int store_policy_revoke(const char *tenant, int64_t id, const char *actor,
                        struct lg_error *err) LG_MUST_CHECK;

#endif
