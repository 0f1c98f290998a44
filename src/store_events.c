/*
 * store_events.c - the event stream's reads of the audit trail; see
 * store_events.h.
 *
 * An event is shaped here, in the statement that reads it: what the audit
 * row says of the change (status, approved, response, reason), and the
 * request's summary as its row says now. Never its callback_url.
 */
#include "store_events.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "store_internal.h"

enum { S_EVENTS_HEAD, S_EVENTS_READ, S_EVENTS_LEASE, S_COUNT };

#define HEAD_OF_TENANT "coalesce((SELECT seq FROM audit_heads WHERE tenant = $1), 0)"

static const struct db_stmt stmts[] = {
    [S_EVENTS_HEAD] = {"events_head",
                       "SELECT " HEAD_OF_TENANT ","
                       " coalesce((SELECT at < now() - make_interval(secs => $3::int)"
                       "           FROM audit_log WHERE tenant = $1 AND seq = $2::bigint + 1),"
                       "          false)",
                       true},
    [S_EVENTS_READ] =
        {"events_read",
         "WITH h AS (SELECT " HEAD_OF_TENANT " AS head)"
         " SELECT h.head, e.seq, e.rid, e.session_id, e.action, e.data FROM h"
         " LEFT JOIN LATERAL ("
         "  SELECT a.seq, a.request_id::text AS rid, a.session_id, a.action,"
         "   jsonb_build_object("
         "    'request_id', a.request_id, 'session_id', a.session_id, 'action', a.action,"
         "    'status', CASE a.action WHEN 'decided' THEN 'completed'"
         "                            WHEN 'timed_out' THEN 'timeout'"
         "                            WHEN 'canceled' THEN 'canceled' ELSE 'pending' END,"
         "    'approved', coalesce(CASE WHEN a.action IN ('decided', 'timed_out')"
         "                              THEN (a.detail->>'approved')::boolean END, false),"
         "    'response', CASE WHEN a.action IN ('decided', 'voted')"
         "                     THEN a.detail->>'response' END,"
         "    'reason', a.detail->>'reason',"
         "    'at', lg_ts(a.at),"
         "    'client_id', r.client_id, 'message', r.message, 'request_type', r.request_type,"
         "    'options', r.options, 'created_at', lg_ts(r.created_at),"
         "    'expires_at', lg_ts(r.expires_at),"
         "    'approvals_required', greatest(coalesce(r.approvals_required, 1), 1),"
         "    'approvals', coalesce((a.detail->>'approvals')::int,"
         "        (SELECT count(*) FROM jsonb_array_elements(r.votes) v"
         "          WHERE v->>'approve' = 'true')),"
         "    'denials', coalesce((a.detail->>'denials')::int,"
         "        (SELECT count(*) FROM jsonb_array_elements(r.votes) v"
         "          WHERE v->>'approve' = 'false')),"
         "    'delivery', r.tg_state)::text AS data"
         "  FROM audit_log a LEFT JOIN requests r ON r.id = a.request_id AND r.tenant = a.tenant"
         "  WHERE a.tenant = $1 AND a.seq > $2::bigint AND a.seq <= h.head"
         "    AND a.action IN ('submitted', 'voted', 'decided', 'timed_out', 'canceled')"
         "    AND ($3::text IS NULL OR a.session_id = $3::text)"
         "  ORDER BY a.seq LIMIT $4::int) e ON true",
         true},
    /* Written only when the lease has less than two thirds of its time left. */
    [S_EVENTS_LEASE] = {"events_lease",
                        "INSERT INTO feed_tenants AS f (tenant, until)"
                        " VALUES ($1, now() + make_interval(secs => $2::int))"
                        " ON CONFLICT (tenant) DO UPDATE SET until = EXCLUDED.until"
                        " WHERE f.until < now() + make_interval(secs => $2::int * 2 / 3)",
                        true},
};

_Static_assert(S_COUNT <= STORE_RANGE_SIZE, "store_events: more statements than its range");
static const struct db_table T = {stmts, S_COUNT, STORE_EVENTS};

int store_events_head(const char *tenant, int64_t after, int max_age_s, int64_t *head, bool *stale,
                      struct lg_error *err)
{
    char a[24], age[16];
    const char *p[] = {tenant, a, age};
    PGresult *res;

    snprintf(a, sizeof(a), "%" PRId64, after);
    snprintf(age, sizeof(age), "%d", max_age_s);
    res = store_run(&T, S_EVENTS_HEAD, 3, p, err);
    if (!res)
        return -1;
    *head = col_int(res, 0, 0);
    *stale = col_bool(res, 0, 1);
    PQclear(res);
    return 0;
}

int store_events_read(const char *tenant, int64_t after, const char *session_id, int limit,
                      int64_t *head, int (*on_row)(const struct events_row *row, void *arg),
                      void *arg, struct lg_error *err)
{
    char a[24], lim[16];
    const char *p[] = {tenant, a, session_id, lim};
    PGresult *res;
    int n = 0, rc = 0;

    snprintf(a, sizeof(a), "%" PRId64, after);
    snprintf(lim, sizeof(lim), "%d", limit);
    /* store_run has given the connection back when it returns. */
    res = store_run(&T, S_EVENTS_READ, 4, p, err);
    if (!res)
        return -1;
    *head = col_int(res, 0, 0);
    for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
        struct events_row row;

        if (PQgetisnull(res, i, 1))
            continue; /* the head alone: no rows after `after` */
        row = (struct events_row){col_int(res, i, 1), col(res, i, 2), col(res, i, 3),
                                  col(res, i, 4), col(res, i, 5)};
        n++;
        rc = on_row(&row, arg);
    }
    PQclear(res);
    return rc ? -2 : n;
}

int store_events_lease(const char *tenant, int seconds, struct lg_error *err)
{
    char sec[16];
    const char *p[] = {tenant, sec};

    snprintf(sec, sizeof(sec), "%d", seconds);
    return store_run_void(&T, S_EVENTS_LEASE, 2, p, err);
}
