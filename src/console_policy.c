/*
 * console_policy.c - the console's policy rules; see console_policy.h.
 */
#include "console_policy.h"

#include <string.h>

#include "log.h"
#include "policy.h"
#include "store_console.h"
#include "store_policy.h"
#include "validate.h"

#define POLICIES_PATH "/console/api/policies/"

/* Point 1: true for an admin; answers 403 itself otherwise. */
static bool admin(struct http_req *r)
{
    struct lg_error err;

    if (r->console && !strcmp(r->console->role, "admin"))
        return true;
    lg_fail(&err, 403, "forbidden", "policy rules are managed by the tenant's admins");
    http_send_error(r, &err);
    return false;
}

void console_policies_get(struct http_req *r)
{
    struct lg_error err;
    char sid[ID_MAX_BYTES + 1];
    json_t *out = NULL;
    int rc;

    if (!admin(r))
        return;
    rc = http_query_get(r->query, "session_id", sid, sizeof(sid));
    if (rc < 0)
        rc = lg_fail(&err, 400, "invalid_parameter",
                     "session_id must be at most %d bytes, properly URL-encoded", ID_MAX_BYTES);
    else if (rc == 1 || !*sid)
        rc = store_policy_list_all(r->console->tenant, NULL, &out, &err);
    else if ((rc = validate_id_text(sid, "session_id", "parameter", &err)) == 0)
        rc = store_policy_list_all(r->console->tenant, sid, &out, &err);
    if (rc < 0)
        http_send_error(r, &err);
    else
        http_send_json(r, 200, out);
}

void console_policies_post(struct http_req *r)
{
    struct lg_error err;
    struct policy_new pn;
    json_t *body = NULL, *out = NULL;
    int rc;

    if (!admin(r))
        return;
    rc = parse_json_object(r->body, r->body_len, &body, &err);
    if (rc == 0)
        rc = policy_parse_new(body, &pn, &err);
    if (rc == 0) {
        pn.tenant = r->console->tenant;
        pn.created_by = r->console->person;
        rc = store_policy_add(&pn, &out, &err);
    }
    if (rc < 0) {
        http_send_error(r, &err);
    } else {
        log_info("policy added", "tenant=%s policy=%lld action=%s by=%s", r->console->tenant,
                 (long long)json_integer_value(json_object_get(out, "id")),
                 policy_action_name(pn.action), r->console->person);
        json_object_set_new(out, "revoked_at", json_null());
        json_object_set_new(out, "state", json_string("live"));
        http_send_json(r, 201, json_pack("{s:o}", "policy", out));
    }
    json_decref(body);
}

/* The <id> of /console/api/policies/<id>/revoke; 0 when it is not a rule id. */
static int64_t path_policy_id(const char *path)
{
    const char *s = path + strlen(POLICIES_PATH);
    size_t n = strspn(s, "0123456789");
    char num[20];
    int64_t id = 0;

    if (strncmp(path, POLICIES_PATH, strlen(POLICIES_PATH)) != 0 || n == 0 || n > 18 ||
        strcmp(s + n, "/revoke") != 0)
        return 0;
    memcpy(num, s, n);
    num[n] = '\0';
    if (parse_int64(num, &id) < 0 || id < 1)
        return 0;
    return id;
}

void console_policy_revoke(struct http_req *r)
{
    struct lg_error err;
    int64_t id;

    if (!admin(r))
        return;
    id = path_policy_id(r->path);
    if (id == 0) {
        lg_fail(&err, 400, "invalid_parameter", "the policy id in the path must be a number");
        http_send_error(r, &err);
        return;
    }
    if (store_policy_revoke(r->console->tenant, id, r->console->person, &err) < 0) {
        http_send_error(r, &err);
        return;
    }
    log_info("policy revoked", "tenant=%s policy=%lld by=%s", r->console->tenant, (long long)id,
             r->console->person);
    http_send_json(r, 200, json_pack("{s:b, s:I}", "revoked", 1, "id", (json_int_t)id));
}
