/*
 * migrate.c - see migrate.h.
 *
 * 1. A session-level advisory lock serialises concurrent runs (two hosts
 *    starting at once): the second waits, then finds nothing to do.
 * 2. Each file runs in its own transaction together with the INSERT into
 *    schema_migrations that records it: applied completely or not at all.
 * 3. A file that fails stops the run with PostgreSQL's message and the file
 *    name; earlier files stay applied.
 */
#include "migrate.h"

#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "db.h"

#define MIGRATE_LOCK "SELECT pg_advisory_lock(7262317405291017)"
#define MIGRATE_UNLOCK "SELECT pg_advisory_unlock(7262317405291017)"

static int exec_ok(PGconn *pg, const char *sql, const char *what)
{
    PGresult *res = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(res);
    int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;

    if (!ok)
        fprintf(stderr, "loopgate migrate: %s failed: %s", what,
                res ? PQresultErrorMessage(res) : PQerrorMessage(pg));
    PQclear(res);
    return ok ? 0 : -1;
}

static int applied(PGconn *pg, const char *version, int *yes)
{
    const char *p[] = {version};
    PGresult *res = PQexecParams(pg, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, NULL,
                                 p, NULL, NULL, 0);

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fprintf(stderr, "loopgate migrate: could not read schema_migrations: %s",
                PQresultErrorMessage(res));
        PQclear(res);
        return -1;
    }
    *yes = PQntuples(res) > 0;
    PQclear(res);
    return 0;
}

static int apply(PGconn *pg, const struct migration *m)
{
    const char *p[] = {m->version};
    PGresult *res;

    if (exec_ok(pg, "BEGIN", "BEGIN") < 0)
        return -1;
    res = PQexec(pg, m->sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
        fprintf(stderr, "loopgate migrate: %s.sql failed: %s", m->version,
                PQresultErrorMessage(res));
        PQclear(res);
        (void)exec_ok(pg, "ROLLBACK", "ROLLBACK");
        return -1;
    }
    PQclear(res);
    res = PQexecParams(pg, "INSERT INTO schema_migrations (version) VALUES ($1)", 1, NULL, p, NULL,
                       NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        fprintf(stderr, "loopgate migrate: could not record %s: %s", m->version,
                PQresultErrorMessage(res));
        PQclear(res);
        (void)exec_ok(pg, "ROLLBACK", "ROLLBACK");
        return -1;
    }
    PQclear(res);
    return exec_ok(pg, "COMMIT", "COMMIT");
}

int migrate_run(const char *conninfo, int quiet)
{
    char err[512];
    PGconn *pg = db_connect(conninfo, err, sizeof(err));
    int rc = 1, done = 0;

    if (!pg) {
        fprintf(stderr, "loopgate migrate: could not connect to the database: %s\n", err);
        return 1;
    }
    if (exec_ok(pg, "SET client_min_messages = warning", "SET") < 0 ||
        exec_ok(pg, MIGRATE_LOCK, "taking the migration lock") < 0)
        goto out;
    if (exec_ok(pg,
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version text PRIMARY KEY,"
                " applied_at timestamptz NOT NULL DEFAULT now())",
                "creating schema_migrations") < 0)
        goto unlock;
    for (int i = 0; i < migrations_count; i++) {
        int yes;
        if (applied(pg, migrations[i].version, &yes) < 0)
            goto unlock;
        if (yes)
            continue;
        if (apply(pg, &migrations[i]) < 0)
            goto unlock;
        if (!quiet)
            printf("applied %s\n", migrations[i].version);
        done++;
    }
    if (!quiet && done == 0)
        printf("database is up to date (%d migrations)\n", migrations_count);
    rc = 0;
unlock:
    (void)exec_ok(pg, MIGRATE_UNLOCK, "releasing the migration lock");
out:
    PQfinish(pg);
    return rc;
}
