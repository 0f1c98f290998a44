/*
 * store_janitor.c - retention statements; see store_janitor.h.
 *
 * The janitor's connection is its own (not the pool's): it holds the
 * advisory lock for a whole run, between batches too, while request threads
 * keep every pooled connection. Statements are prepared on it on first use
 * (db_run) in the range store_internal.h gives this file, and never retried
 * on a new connection: the lock would not come with it.
 */
#include "store_janitor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

enum { S_LOCK = JK_COUNT, S_REQUESTS, S_AUDIT, S_COUNT };

/* Rows of `table` matching `where`, at most $1, by ctid: one index walk, no re-check. */
#define BATCH_DELETE(table, where)                                                                 \
    "DELETE FROM " table " WHERE ctid = ANY (ARRAY(SELECT ctid FROM " table " WHERE " where        \
    " LIMIT $1::int))"

static const struct db_stmt stmts[] = {
    [JK_OUTBOX] = {"jan_outbox",
                   BATCH_DELETE("outbox", "state <> 'queued'"
                                          " AND done_at < now() - make_interval(days => $2::int)"),
                   false},
    [JK_TG_UPDATES] = {"jan_tg_updates",
                       BATCH_DELETE("tg_updates",
                                    "received_at < now() - make_interval(hours => $2::int)"),
                       false},
    [JK_MCP_SESSIONS] = {"jan_mcp_sessions",
                         BATCH_DELETE("mcp_sessions",
                                      "ended_at IS NOT NULL"
                                      " OR last_seen_at < now() - make_interval(secs => $2::int)"),
                         false},
    [JK_CONSOLE_SESSIONS] = {"jan_console_sessions",
                             BATCH_DELETE("console_sessions",
                                          "expires_at < now() - make_interval(secs => $2::int)"),
                             false},
    [JK_CONSOLE_LINKS] = {"jan_console_links",
                          BATCH_DELETE("console_links",
                                       "expires_at < now() - make_interval(secs => $2::int)"),
                          false},
    [JK_TG_LOGINS] = {"jan_tg_logins",
                      BATCH_DELETE("tg_logins",
                                   "expires_at < now() - make_interval(secs => $2::int)"),
                      false},
    [S_LOCK] = {"jan_lock", "SELECT pg_try_advisory_lock($1::int, $2::int)", false},
    /*
     * A request goes with its votes and outbox rows in one statement (the
     * outbox's foreign key is checked at its end); one still being
     * delivered, or locked by a decision or a delivery, waits for a later run.
     */
    [S_REQUESTS] =
        {"jan_requests",
         "WITH r AS (SELECT id FROM requests q"
         "           WHERE status <> 'pending'"
         "             AND created_at < now() - make_interval(days => $2::int)"
         "             AND NOT EXISTS (SELECT 1 FROM outbox o"
         "                             WHERE o.request_id = q.id AND o.state = 'queued')"
         "           ORDER BY created_at LIMIT $1::int FOR UPDATE SKIP LOCKED),"
         " v AS (DELETE FROM votes WHERE request_id IN (SELECT id FROM r) RETURNING 1),"
         " o AS (DELETE FROM outbox WHERE request_id IN (SELECT id FROM r) RETURNING 1),"
         " d AS (DELETE FROM requests WHERE id IN (SELECT id FROM r) RETURNING 1)"
         " SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM v), (SELECT count(*) FROM o)",
         false},
    /*
     * The start of one tenant's chain: its rows after pruned_seq, in seq
     * order, up to $1 of them, below exported_seq; the run ends before the
     * first row younger than $2 days or out of sequence (a gap is never
     * deleted over: verify must still see it). The last removed row's hash
     * is recorded with the tenant, in the same statement.
     */
    [S_AUDIT] =
        {"jan_audit",
         "WITH t AS (SELECT tenant, exported_seq, pruned_seq FROM audit_retention"
         "           WHERE tenant > $3 AND exported_seq > pruned_seq + 1"
         "           ORDER BY tenant LIMIT 1 FOR UPDATE),"
         " c AS (SELECT a.seq, a.at, a.seq - t.pruned_seq AS pos FROM audit_log a, t"
         "       WHERE a.tenant = t.tenant AND a.seq > t.pruned_seq AND a.seq < t.exported_seq"
         "       ORDER BY a.seq LIMIT $1::int),"
         " k AS (SELECT seq, at, pos, row_number() OVER (ORDER BY seq) AS rn FROM c),"
         " stop AS (SELECT min(seq) AS s FROM k"
         "          WHERE at >= now() - make_interval(days => $2::int) OR pos <> rn),"
         " d AS (DELETE FROM audit_log a USING t, k"
         "       WHERE a.tenant = t.tenant AND a.seq = k.seq"
         "         AND k.seq < coalesce((SELECT s FROM stop), 9223372036854775807)"
         "       RETURNING a.seq, a.row_sha256),"
         " m AS (SELECT seq, row_sha256 FROM d ORDER BY seq DESC LIMIT 1),"
         " u AS (UPDATE audit_retention r SET pruned_seq = m.seq, pruned_sha256 = m.row_sha256,"
         "              pruned_at = now() FROM m, t WHERE r.tenant = t.tenant RETURNING 1)"
         " SELECT t.tenant, (SELECT count(*) FROM d), (SELECT count(*) FROM u) FROM t",
         false},
};

static const struct db_table T = {stmts, S_COUNT, STORE_JANITOR};

struct db_conn *store_janitor_open(const char *conninfo, bool *busy, struct lg_error *err)
{
    char errbuf[256], ns[16], id[16];
    const char *p[] = {ns, id};
    struct db_conn *c;
    PGresult *res;
    bool got;

    *busy = false;
    c = calloc(1, sizeof(*c));
    if (!c)
        abort();
    c->pg = db_connect(conninfo, errbuf, sizeof(errbuf));
    if (!c->pg) {
        free(c);
        lg_fail(err, 503, "database_unavailable", "could not connect: %s", errbuf);
        return NULL;
    }
    res =
        PQexec(c->pg, "SET loopgate.audit_prune = 'on'; SET application_name = 'loopgate-janitor'");
    got = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (!got) {
        lg_fail(err, 500, "database_error", "could not set up the janitor's session");
        goto fail;
    }
    snprintf(ns, sizeof(ns), "%d", JANITOR_LOCK_NS);
    snprintf(id, sizeof(id), "%d", JANITOR_LOCK_ID);
    res = db_run(c, &T, S_LOCK, 2, p, err);
    if (!res)
        goto fail;
    got = PQntuples(res) == 1 && !strcmp(PQgetvalue(res, 0, 0), "t");
    PQclear(res);
    if (got)
        return c;
    *busy = true;
fail:
    store_janitor_close(c);
    return NULL;
}

void store_janitor_close(struct db_conn *c)
{
    if (!c)
        return;
    PQfinish(c->pg);
    free(c);
}

static long count_of(const PGresult *res, int row, int column)
{
    int64_t n = 0;

    if (PQntuples(res) <= row || PQgetisnull(res, row, column) ||
        parse_int64(PQgetvalue(res, row, column), &n) < 0)
        return 0;
    return (long)n;
}

long store_janitor_delete(struct db_conn *c, enum janitor_kind kind, int age, int limit,
                          struct lg_error *err)
{
    char lim[16], a[16];
    const char *p[] = {lim, a};
    PGresult *res;
    int64_t n = 0;

    snprintf(lim, sizeof(lim), "%d", limit);
    snprintf(a, sizeof(a), "%d", age);
    res = db_run(c, &T, (int)kind, 2, p, err);
    if (!res)
        return -1;
    if (parse_int64(PQcmdTuples(res), &n) < 0)
        n = 0;
    PQclear(res);
    return (long)n;
}

int store_janitor_requests(struct db_conn *c, int days, int limit, long *requests, long *votes,
                           long *outbox, struct lg_error *err)
{
    char lim[16], d[16];
    const char *p[] = {lim, d};
    PGresult *res;

    snprintf(lim, sizeof(lim), "%d", limit);
    snprintf(d, sizeof(d), "%d", days);
    res = db_run(c, &T, S_REQUESTS, 2, p, err);
    if (!res)
        return -1;
    *requests = count_of(res, 0, 0);
    *votes = count_of(res, 0, 1);
    *outbox = count_of(res, 0, 2);
    PQclear(res);
    return 0;
}

int store_janitor_audit(struct db_conn *c, const char *after, int days, int limit, char *tenant,
                        size_t tenant_len, long *rows, struct lg_error *err)
{
    char lim[16], d[16];
    const char *p[] = {lim, d, after};
    PGresult *res;

    snprintf(lim, sizeof(lim), "%d", limit);
    snprintf(d, sizeof(d), "%d", days);
    res = db_run(c, &T, S_AUDIT, 3, p, err);
    if (!res)
        return -1;
    tenant[0] = '\0';
    *rows = 0;
    if (PQntuples(res) == 1) {
        lg_strlcpy(tenant, PQgetvalue(res, 0, 0), tenant_len);
        *rows = count_of(res, 0, 1);
    }
    PQclear(res);
    return 0;
}
