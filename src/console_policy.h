/*
 * console_policy.h - the console's page of policy rules (policy.h): the
 * tenant's rules listed, added and revoked by its admins through
 * /console/api/policies, with the session cookie and, on POST, the CSRF
 * token (console.h point 2).
 *
 *   GET  /console/api/policies[?session_id=]  {"policies":[...],"truncated":bool}
 *        (store_policy_list_all: live, expired and revoked rules)
 *   POST /console/api/policies                201 {"policy":{...}}
 *   POST /console/api/policies/<id>/revoke    200 {"revoked":true,"id":N}
 *
 * 1. Admins only: rules decide for every session of the tenant, so an
 *    approver (who sees only some sessions) is 403 forbidden on all three.
 * 2. A new rule's body is that of POST /v1/policies, read by the same
 *    policy_parse_new: a 400 names the bad field, a session of no tenant
 *    of the user's is 404 session_not_found.
 * 3. Adding and revoking are audited (policy_added, policy_revoked) with the
 *    console user ('console:<name>', 'telegram:<id>') as the actor; a rule
 *    of another tenant, or one already revoked, is 404 policy_not_found.
 */
#ifndef LG_CONSOLE_POLICY_H
#define LG_CONSOLE_POLICY_H

#include "http.h"

/* The handlers of the route table (api.c); each answers the request itself. */
void console_policies_get(struct http_req *r);
void console_policies_post(struct http_req *r);
void console_policy_revoke(struct http_req *r);

#endif
