/*
 * store_audit.c - reading the audit trail; see store_audit.h.
 *
 * 1. A scan is one transaction, REPEATABLE READ READ ONLY: the heads and the
 *    rows are of one snapshot, so a head never runs ahead of the rows read.
 * 2. Rows are streamed in libpq's single-row mode: the trail may be millions
 *    of rows and export and verify hold one at a time.
 * 3. The statements run once per command, unprepared: this file takes no
 *    range of the connections' prepared set (store_internal.h).
 * 4. Columns come raw, as PostgreSQL prints them: `loopgate audit verify`
 *    recomputes each hash from them in C, and calls no function of the
 *    database that a changed body could make agree.
 */
#include "store_audit.h"

#include <stdio.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "store_internal.h"

#define AUDIT_FILTER                                                                               \
    " WHERE ($1::text IS NULL OR tenant = $1::text)"                                               \
    "   AND ($2::timestamptz IS NULL OR at >= $2::timestamptz)"

static const char heads_sql[] =
    "SELECT h.tenant, h.seq, h.row_sha256, nullif(r.pruned_seq, 0), r.pruned_sha256"
    " FROM audit_heads h LEFT JOIN audit_retention r ON r.tenant = h.tenant"
    " WHERE $1::text IS NULL OR h.tenant = $1::text";

/* Moves the exported seq up when this export joins on to the last (store_audit.h). */
static const char mark_sql[] =
    "INSERT INTO audit_retention AS r (tenant, exported_seq, exported_sha256, exported_at)"
    " SELECT $1, $3::bigint, $4, now()"
    " WHERE $2::bigint <= 1"
    "    OR $2::bigint <= (SELECT exported_seq + 1 FROM audit_retention WHERE tenant = $1)"
    "    OR $2::bigint <= (SELECT min(seq) FROM audit_log WHERE tenant = $1)"
    " ON CONFLICT (tenant) DO UPDATE SET exported_seq = EXCLUDED.exported_seq,"
    "     exported_sha256 = EXCLUDED.exported_sha256, exported_at = EXCLUDED.exported_at"
    "   WHERE r.exported_seq < EXCLUDED.exported_seq";

static const char marked_sql[] =
    "SELECT coalesce((SELECT exported_seq FROM audit_retention WHERE tenant = $1), 0)";

/* Chain order: grouped by tenant, by seq; rows outside the chain (no seq) last. */
static const char rows_sql[] =
    "SELECT id, tenant, seq, at, request_id, session_id, actor, action, detail, prev_sha256,"
    "       row_sha256"
    " FROM audit_log" AUDIT_FILTER " ORDER BY tenant, seq NULLS LAST, id";

/*
 * Fill `err` from a failed result, by db.c's rule (db.h point 3): a lost
 * connection, or a server going away or taking no writes (db_fatal_state),
 * is a 503 and the connection is dropped on release; the rest a 500.
 */
static int fail_res(struct db_conn *c, const PGresult *res, const char *what, struct lg_error *err)
{
    const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(c->pg);
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    char clean[256];
    size_t n;

    lg_strlcpy(clean, msg && *msg ? msg : "no answer", sizeof(clean));
    n = strlen(clean);
    while (n > 0 && (clean[n - 1] == '\n' || clean[n - 1] == ' '))
        clean[--n] = '\0';
    if (PQstatus(c->pg) != CONNECTION_OK || db_fatal_state(state)) {
        c->broken = true;
        log_warn("lost database connection", "stmt=audit sqlstate=%s error=\"%s\"",
                 state ? state : "-", clean);
        return lg_fail(err, 503, "database_unavailable",
                       "could not %s (the database went away or takes no writes; retry shortly): "
                       "%s",
                       what, clean);
    }
    return lg_fail(err, 500, "database_error", "could not %s: %s", what, clean);
}

static int read_heads(struct db_conn *c, const struct audit_scan *q, struct lg_error *err)
{
    const char *p[] = {q->tenant};
    PGresult *res = PQexecParams(c->pg, heads_sql, 1, NULL, p, NULL, NULL, 0);
    int rc = 0;

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = fail_res(c, res, "read the audit chain heads", err);
        PQclear(res);
        return rc;
    }
    for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
        struct audit_head h = {col(res, i, 0), col(res, i, 1), col(res, i, 2), col(res, i, 3),
                               col(res, i, 4)};
        rc = q->on_head(&h, q->arg) ? 1 : 0;
    }
    PQclear(res);
    return rc;
}

/*
 * Stop a query in flight after a callback said so: ask the server to cancel
 * it and read what is left, so that the connection is usable again.
 */
static void cancel_rows(struct db_conn *c)
{
    PGcancel *cancel = PQgetCancel(c->pg);
    char buf[256];
    PGresult *res;

    if (!cancel || !PQcancel(cancel, buf, sizeof(buf)))
        c->broken = true;
    PQfreeCancel(cancel);
    while ((res = PQgetResult(c->pg)) != NULL)
        PQclear(res);
}

static int stream_rows(struct db_conn *c, const struct audit_scan *q, struct lg_error *err)
{
    const char *p[] = {q->tenant, q->since};
    PGresult *res;
    int rc = 0;

    if (!PQsendQueryParams(c->pg, rows_sql, 2, NULL, p, NULL, NULL, 0))
        return fail_res(c, NULL, "read the audit trail", err);
    if (!PQsetSingleRowMode(c->pg)) {
        cancel_rows(c);
        c->broken = true;
        return lg_fail(err, 500, "database_error", "could not read the audit trail row by row");
    }
    while ((res = PQgetResult(c->pg)) != NULL) {
        ExecStatusType st = PQresultStatus(res);

        if (st == PGRES_SINGLE_TUPLE && rc == 0) {
            struct audit_row r = {col(res, 0, 0), col(res, 0, 1), col(res, 0, 2), col(res, 0, 3),
                                  col(res, 0, 4), col(res, 0, 5), col(res, 0, 6), col(res, 0, 7),
                                  col(res, 0, 8), col(res, 0, 9), col(res, 0, 10)};
            if (q->on_row(&r, q->arg)) {
                PQclear(res);
                cancel_rows(c);
                return 1;
            }
        } else if (st != PGRES_SINGLE_TUPLE && st != PGRES_TUPLES_OK && rc == 0) {
            rc = fail_res(c, res, "read the audit trail", err);
        }
        PQclear(res);
    }
    return rc;
}

int store_audit_scan(const struct audit_scan *q, struct lg_error *err)
{
    struct db_conn *c = db_acquire(err);
    int rc;

    if (!c)
        return -1;
    rc = db_exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err);
    if (rc == 0 && q->on_head)
        rc = read_heads(c, q, err);
    if (rc == 0)
        rc = stream_rows(c, q, err);
    if (PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
        struct lg_error ignored;

        if (db_exec(c, "ROLLBACK", &ignored) < 0)
            c->broken = true;
    }
    db_release(c);
    return rc;
}

int store_audit_mark(const char *tenant, int64_t first, int64_t last, const char *last_sha256,
                     int64_t *marked, struct lg_error *err)
{
    char f[24], l[24];
    const char *p[] = {tenant, f, l, last_sha256};
    struct db_conn *c = db_acquire(err);
    PGresult *res;
    int rc = 0;

    if (!c)
        return -1;
    snprintf(f, sizeof(f), "%lld", (long long)first);
    snprintf(l, sizeof(l), "%lld", (long long)last);
    res = PQexecParams(c->pg, mark_sql, 4, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = fail_res(c, res, "record the export", err);
    PQclear(res);
    if (rc == 0) {
        res = PQexecParams(c->pg, marked_sql, 1, NULL, p, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
            parse_int64(PQgetvalue(res, 0, 0), marked) < 0)
            rc = fail_res(c, res, "read the export record", err);
        PQclear(res);
    }
    db_release(c);
    return rc;
}
