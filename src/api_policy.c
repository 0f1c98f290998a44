/*
 * api_policy.c - /v1/policies; see api_policy.h.
 *
 * An agent holds its API key where the commands it runs can read it, so
 * what a key may do with rules depends on its scope (actor.h): any key,
 * and the API without a key when auth is off, may list the tenant's rules
 * and add deny and ask rules (they only make the agent ask more); adding
 * an allow rule and revoking a rule need an admin key. Without one those
 * are a 403: the operator uses the CLI, the console or an admin key.
 */
#include "api_policy.h"

#include <string.h>

#include "log.h"
#include "policy.h"
#include "store_policy.h"
#include "validate.h"

#define POLICIES_PATH "/v1/policies/"

void api_policies_get(struct http_req *r)
{
    struct lg_error err;
    char sid[ID_MAX_BYTES + 1];
    json_t *out = NULL;
    int rc = http_query_get(r->query, "session_id", sid, sizeof(sid));

    if (rc < 0)
        rc = lg_fail(&err, 400, "invalid_parameter",
                     "session_id must be at most %d bytes, properly URL-encoded", ID_MAX_BYTES);
    else if (rc == 1 || !*sid)
        rc = store_policy_list(r->who.tenant, NULL, &out, &err);
    else if ((rc = validate_id_text(sid, "session_id", "parameter", &err)) == 0)
        rc = store_policy_list(r->who.tenant, sid, &out, &err);
    if (rc < 0)
        http_send_error(r, &err);
    else
        http_send_json(r, 200, out);
}

void api_policies_post(struct http_req *r)
{
    struct lg_error err;
    struct policy_new pn;
    json_t *body = NULL, *out = NULL;
    int rc = parse_json_object(r->body, r->body_len, &body, &err);

    if (rc == 0)
        rc = policy_parse_new(body, &pn, &err);
    if (rc == 0 && pn.action == POLICY_ALLOW && !r->who.admin)
        rc = lg_fail(&err, 403, "forbidden",
                     "an allow rule needs an admin API key (loopgate apikey create --admin): "
                     "an agent's key may add only deny and ask rules; or use loopgate policy add "
                     "or the console");
    if (rc == 0) {
        pn.tenant = r->who.tenant;
        pn.created_by = r->who.name;
        rc = store_policy_add(&pn, &out, &err);
    }
    if (rc < 0) {
        http_send_error(r, &err);
    } else {
        log_info("policy added", "tenant=%s policy=%lld action=%s", r->who.tenant,
                 (long long)json_integer_value(json_object_get(out, "id")),
                 policy_action_name(pn.action));
        http_send_json(r, 201, json_pack("{s:o}", "policy", out));
    }
    json_decref(body);
}

void api_policies_delete(struct http_req *r)
{
    struct lg_error err;
    const char *s = r->path + strlen(POLICIES_PATH);
    int64_t id = 0;
    int rc = 0;

    if (strncmp(r->path, POLICIES_PATH, strlen(POLICIES_PATH)) != 0 || !*s ||
        strspn(s, "0123456789") != strlen(s) || strlen(s) > 18 || parse_int64(s, &id) < 0 || id < 1)
        rc = lg_fail(&err, 400, "invalid_parameter", "the policy id in the path must be a number");
    if (rc == 0 && !r->who.admin)
        rc = lg_fail(&err, 403, "forbidden",
                     "revoking a rule needs an admin API key (loopgate apikey create --admin); "
                     "or use loopgate policy rm or the console");
    if (rc == 0)
        rc = store_policy_revoke(r->who.tenant, id, r->who.name, &err);
    if (rc < 0) {
        http_send_error(r, &err);
        return;
    }
    log_info("policy revoked", "tenant=%s policy=%lld", r->who.tenant, (long long)id);
    http_send_json(r, 200, json_pack("{s:b, s:I}", "revoked", 1, "id", (json_int_t)id));
}
