/*
 * api_policy.h - /v1/policies: a tenant's rules for coding agents' tool
 * calls (policy.h), with its API key.
 *
 *   GET    /v1/policies[?session_id=]  {"policies":[...]}, in the order they apply
 *   POST   /v1/policies                201 {"policy":{...}} (policy_parse_new)
 *   DELETE /v1/policies/<id>           200 {"revoked":true,"id":N}; 404 when no live rule
 *
 * Any key may list and add deny and ask rules; an allow rule and a
 * revocation need an admin key (actor.h), else a 403 `forbidden`. Every
 * change is audited with the key's actor name.
 */
#ifndef LG_API_POLICY_H
#define LG_API_POLICY_H

#include "http.h"

void api_policies_get(struct http_req *r);
void api_policies_post(struct http_req *r);
void api_policies_delete(struct http_req *r);

#endif
