/*
 * store_mcp.c - MCP sessions; see store_mcp.h.
 *
 * Statements are prepared per connection on first use (db_run), in the
 * range of the prepared set that store_internal.h gives this file.
 */
#include "store_mcp.h"

#include <stdio.h>
#include <string.h>

#include "db.h"
#include "store_internal.h"

enum { S_MCP_CREATE, S_MCP_GET, S_MCP_END, S_COUNT };

static const struct db_stmt stmts[] = {
    [S_MCP_CREATE] =
        {"mcp_create",
         /* prune some ended or idle sessions (any tenant), then insert unless at the cap */
         "WITH gone AS (DELETE FROM mcp_sessions WHERE id IN ("
         "                SELECT id FROM mcp_sessions WHERE ended_at IS NOT NULL"
         "                UNION ALL SELECT id FROM mcp_sessions"
         "                 WHERE last_seen_at < now() - make_interval(secs => $7::int)"
         "                LIMIT 100)),"
         " live AS (SELECT count(*) AS n FROM mcp_sessions WHERE tenant = $2"
         "          AND ended_at IS NULL"
         "          AND last_seen_at >= now() - make_interval(secs => $7::int))"
         " INSERT INTO mcp_sessions (id, tenant, protocol_version, client_name, client_version)"
         " SELECT $1, $2, $3, $4, $5 FROM live WHERE live.n < $6::int RETURNING 1",
         false},
    [S_MCP_GET] = {"mcp_get",
                   /* touch last_seen at most once a minute: a read on the hot path */
                   "WITH s AS (SELECT id, protocol_version, last_seen_at FROM mcp_sessions"
                   "           WHERE id = $1 AND tenant = $2 AND ended_at IS NULL"
                   "           AND last_seen_at >= now() - make_interval(secs => $3::int)),"
                   " u AS (UPDATE mcp_sessions m SET last_seen_at = now() FROM s"
                   "       WHERE m.id = s.id AND s.last_seen_at < now() - interval '60 seconds')"
                   " SELECT protocol_version FROM s",
                   true},
    [S_MCP_END] = {"mcp_end",
                   "UPDATE mcp_sessions SET ended_at = now()"
                   " WHERE id = $1 AND tenant = $2 AND ended_at IS NULL RETURNING 1",
                   false},
};

_Static_assert(S_COUNT <= STORE_RANGE_SIZE, "store_mcp: more statements than its range");
static const struct db_table T = {stmts, S_COUNT, STORE_MCP};

int store_mcp_session_create(const char *id, const char *tenant, const char *version,
                             const char *client_name, const char *client_version, int max, int idle,
                             struct lg_error *err)
{
    char smax[16], sidle[16];
    const char *p[] = {id, tenant, version, client_name, client_version, smax, sidle};
    PGresult *res;
    int rc;

    snprintf(smax, sizeof(smax), "%d", max);
    snprintf(sidle, sizeof(sidle), "%d", idle);
    res = store_run(&T, S_MCP_CREATE, 7, p, err);
    if (!res)
        return -1;
    rc = PQntuples(res) == 1 ? 0 : 1;
    PQclear(res);
    return rc;
}

int store_mcp_session_get(const char *id, const char *tenant, int idle, char *version, size_t vlen,
                          struct lg_error *err)
{
    char sidle[16];
    const char *p[] = {id, tenant, sidle};
    PGresult *res;
    int rc = 1;

    snprintf(sidle, sizeof(sidle), "%d", idle);
    res = store_run(&T, S_MCP_GET, 3, p, err);
    if (!res)
        return -1;
    if (PQntuples(res) == 1) {
        lg_strlcpy(version, PQgetvalue(res, 0, 0), vlen);
        rc = 0;
    }
    PQclear(res);
    return rc;
}

int store_mcp_session_end(const char *id, const char *tenant, struct lg_error *err)
{
    const char *p[] = {id, tenant};
    PGresult *res = store_run(&T, S_MCP_END, 2, p, err);
    int rc;

    if (!res)
        return -1;
    rc = PQntuples(res) == 1 ? 0 : 1;
    PQclear(res);
    return rc;
}
