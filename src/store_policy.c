/*
 * store_policy.c - the policies table; see store_policy.h and policy.h.
 *
 * Statements are prepared per connection on first use (db_run), in the
 * range of the prepared set that store_internal.h gives this file.
 */
#include "store_policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "store_internal.h"

enum { S_MATCH, S_ADD, S_LIST, S_LIST_ALL, S_REVOKE, S_COUNT };

#define POLICY_COLS                                                                                \
    "id, session_id, agent_session, tool, match, action, position, lg_ts(expires_at),"             \
    " created_by, lg_ts(created_at)"

static const struct db_stmt stmts[] = {
    /* the rules that may apply to one tool call, in the order they apply (policy.h point 3):
     * past the limit, allow rules are left out first */
    [S_MATCH] = {"policy_match",
                 "SELECT id, session_id, agent_session, match, action, position, created_by"
                 " FROM policies WHERE tenant = $1 AND tool = $2 AND revoked_at IS NULL"
                 "  AND (expires_at IS NULL OR expires_at > now())"
                 "  AND (session_id IS NULL OR session_id = $3)"
                 "  AND (agent_session IS NULL OR agent_session = $4)"
                 " ORDER BY CASE action WHEN 'deny' THEN 0 WHEN 'ask' THEN 1 ELSE 2 END,"
                 "  session_id IS NULL, position, id LIMIT 200",
                 true},
    /* a session rule needs the session; the audit row names the rule */
    [S_ADD] =
        {"policy_add",
         "WITH ins AS (INSERT INTO policies (tenant, session_id, agent_session, tool, match,"
         "               action, position, expires_at, created_by)"
         "             SELECT $1, $2, $3, $4, $5, $6, $7::int,"
         "                    CASE WHEN $8::int > 0 THEN now() + make_interval(secs => $8::int)"
         "                    END, $9"
         "             WHERE $2::text IS NULL OR EXISTS (SELECT 1 FROM sessions"
         "                   WHERE tenant = $1 AND session_id = $2)"
         "             RETURNING *),"
         " au AS (INSERT INTO audit_log (tenant, session_id, actor, action, detail)"
         "        SELECT tenant, session_id, created_by, 'policy_added',"
         "               jsonb_build_object('policy_id', id, 'tool', tool, 'match', match,"
         "                 'action', action, 'agent_session', agent_session,"
         "                 'position', position, 'expires_at', lg_ts(expires_at))"
         "        FROM ins)"
         " SELECT " POLICY_COLS " FROM ins",
         false},
    [S_LIST] =
        {"policy_list",
         "SELECT " POLICY_COLS " FROM policies"
         " WHERE tenant = $1 AND revoked_at IS NULL AND ($2::text IS NULL OR session_id = $2)"
         " ORDER BY session_id IS NULL, position, id LIMIT 1000",
         true},
    /* live rules first, in the order they apply; then the ended ones, the latest to end first */
    [S_LIST_ALL] =
        {"policy_list_all",
         "SELECT " POLICY_COLS ", lg_ts(revoked_at),"
         "       CASE WHEN revoked_at IS NOT NULL THEN 'revoked' WHEN NOT live THEN 'expired'"
         "            ELSE 'live' END"
         " FROM (SELECT *,"
         "              revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()) AS live"
         "       FROM policies WHERE tenant = $1 AND ($2::text IS NULL OR session_id = $2)) p"
         " ORDER BY live DESC, CASE WHEN live THEN session_id IS NULL END,"
         "          CASE WHEN live THEN position END, CASE WHEN live THEN id END,"
         "          coalesce(revoked_at, expires_at) DESC, id DESC"
         " LIMIT $3::int",
         true},
    [S_REVOKE] = {"policy_revoke",
                  "WITH u AS (UPDATE policies SET revoked_at = now()"
                  "           WHERE id = $2::bigint AND ($1::text IS NULL OR tenant = $1)"
                  "             AND revoked_at IS NULL"
                  "           RETURNING *),"
                  " au AS (INSERT INTO audit_log (tenant, session_id, actor, action, detail)"
                  "        SELECT tenant, session_id, $3, 'policy_revoked',"
                  "               jsonb_build_object('policy_id', id, 'tool', tool, 'match', match,"
                  "                                  'action', action)"
                  "        FROM u)"
                  " SELECT id FROM u",
                  false},
};

_Static_assert(S_COUNT <= STORE_RANGE_SIZE, "store_policy: more statements than its range");
static const struct db_table T = {stmts, S_COUNT, STORE_POLICY};

int store_policy_match(const char *tenant, const char *session_id, const char *agent_session,
                       const char *tool, json_t *tool_input, enum policy_action *action,
                       int64_t *rule_id, struct lg_error *err)
{
    const char *p[] = {tenant, tool, session_id, agent_session};
    struct policy_rule rules[POLICY_RULES_MAX];
    PGresult *res = store_run(&T, S_MATCH, 4, p, err);
    int n;

    if (!res)
        return -1;
    n = PQntuples(res) < POLICY_RULES_MAX ? PQntuples(res) : POLICY_RULES_MAX;
    for (int i = 0; i < n; i++) {
        memset(&rules[i], 0, sizeof(rules[i]));
        rules[i].id = col_int(res, i, 0);
        rules[i].session_id = col(res, i, 1);
        rules[i].agent_session = col(res, i, 2);
        rules[i].tool = tool;
        rules[i].match = col(res, i, 3);
        if (policy_action_parse(col(res, i, 4), &rules[i].action) < 0)
            rules[i].action = POLICY_ASK;
        rules[i].position = (int)col_int(res, i, 5);
        rules[i].exact = col(res, i, 6) && strstr(col(res, i, 6), POLICY_SESSION_MARK);
    }
    /* expiry and revocation were read by the statement */
    *action = policy_decide_call(rules, n, session_id, agent_session, tool, tool_input, 0, rule_id);
    PQclear(res);
    return 0;
}

static json_t *row_to_policy(const PGresult *res, int i)
{
    return json_pack("{s:I, s:s?, s:s?, s:s, s:s, s:s, s:i, s:s?, s:s, s:s}", "id",
                     (json_int_t)col_int(res, i, 0), "session_id", col(res, i, 1), "agent_session",
                     col(res, i, 2), "tool", col(res, i, 3), "match", col(res, i, 4), "action",
                     col(res, i, 5), "position", (int)col_int(res, i, 6), "expires_at",
                     col(res, i, 7), "created_by", col(res, i, 8), "created_at", col(res, i, 9));
}

int store_policy_add(const struct policy_new *pn, json_t **out, struct lg_error *err)
{
    char pos[16], exp[16];
    const char *p[] = {pn->tenant,
                       pn->session_id,
                       pn->agent_session,
                       pn->tool,
                       pn->match,
                       policy_action_name(pn->action),
                       pos,
                       exp,
                       pn->created_by};
    PGresult *res;

    snprintf(pos, sizeof(pos), "%d", pn->position);
    snprintf(exp, sizeof(exp), "%d", pn->expires_s > 0 ? pn->expires_s : 0);
    res = store_run(&T, S_ADD, 9, p, err);
    if (!res)
        return -1;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return lg_fail(err, 404, "session_not_found", "no session with id '%s'", pn->session_id);
    }
    *out = row_to_policy(res, 0);
    PQclear(res);
    return 0;
}

int store_policy_list(const char *tenant, const char *session_id, json_t **out,
                      struct lg_error *err)
{
    const char *p[] = {tenant, session_id};
    PGresult *res = store_run(&T, S_LIST, 2, p, err);
    json_t *list;

    if (!res)
        return -1;
    list = json_array();
    for (int i = 0; i < PQntuples(res); i++)
        json_array_append_new(list, row_to_policy(res, i));
    PQclear(res);
    *out = json_pack("{s:o}", "policies", list);
    return 0;
}

int store_policy_list_all(const char *tenant, const char *session_id, json_t **out,
                          struct lg_error *err)
{
    char lim[16];
    const char *p[] = {tenant, session_id, lim};
    PGresult *res;
    json_t *list;
    int n;

    snprintf(lim, sizeof(lim), "%d", POLICY_LIST_MAX + 1);
    res = store_run(&T, S_LIST_ALL, 3, p, err);
    if (!res)
        return -1;
    list = json_array();
    n = PQntuples(res) < POLICY_LIST_MAX ? PQntuples(res) : POLICY_LIST_MAX;
    for (int i = 0; i < n; i++) {
        json_t *rule = row_to_policy(res, i);

        json_object_set_new(rule, "revoked_at",
                            col(res, i, 10) ? json_string(col(res, i, 10)) : json_null());
        json_object_set_new(rule, "state", json_string(col(res, i, 11)));
        json_array_append_new(list, rule);
    }
    *out = json_pack("{s:o, s:b}", "policies", list, "truncated", PQntuples(res) > POLICY_LIST_MAX);
    PQclear(res);
    return 0;
}

int store_policy_revoke(const char *tenant, int64_t id, const char *actor, struct lg_error *err)
{
    char sid[24];
    const char *p[] = {tenant, sid, actor};
    PGresult *res;
    int rc = 0;

    snprintf(sid, sizeof(sid), "%lld", (long long)id);
    res = store_run(&T, S_REVOKE, 3, p, err);
    if (!res)
        return -1;
    if (PQntuples(res) != 1)
        rc = lg_fail(err, 404, "policy_not_found", "no live policy with id %lld", (long long)id);
    PQclear(res);
    return rc;
}

int policy_allow_for_session(const char *tenant, const char *session_id, const char *agent_session,
                             const char *tool, const char *match_regex, int expires_s,
                             const char *created_by, int64_t *rule_id, struct lg_error *err)
{
    struct policy_new pn = {.tenant = tenant,
                            .session_id = session_id,
                            .agent_session = agent_session,
                            .tool = tool,
                            .match = match_regex,
                            .action = POLICY_ALLOW,
                            .position = -1,
                            .expires_s = expires_s,
                            .created_by = created_by};
    json_t *out = NULL;
    char by[512];
    int rc;

    *rule_id = 0;
    if (!session_id || !tool || !created_by)
        return lg_fail(err, 400, "invalid_field",
                       "a session rule needs a session, a tool and "
                       "who adds it");
    /* the mark makes the rule match the whole input (policy.h point 4) */
    if (!strstr(created_by, POLICY_SESSION_MARK)) {
        lg_snprintf(by, sizeof(by), "%.400s (" POLICY_SESSION_MARK ")", created_by);
        pn.created_by = by;
    }
    rc = policy_check_match(match_regex, err);
    if (rc == 0)
        rc = store_policy_add(&pn, &out, err);
    if (rc < 0)
        return -1;
    *rule_id = (int64_t)json_integer_value(json_object_get(out, "id"));
    json_decref(out);
    return 0;
}
