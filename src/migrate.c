/*
 * migrate.c - see migrate.h.
 *
 * 1. One run at a time: a session-level advisory lock serialises concurrent
 *    runs (several hosts starting at once); the second waits, then finds
 *    nothing to do. It waits by trying again, outside any transaction
 *    (take_lock): a waiter inside one would deadlock the holder's CREATE
 *    INDEX CONCURRENTLY (point 7). Each run names itself in application_name
 *    so that a waiter can say which run it waits for. schema_migrations and
 *    schema_objects are created by the run itself, like any bookkeeping of
 *    the tool.
 * 2. Migrations first, in file order, each pending one in its own
 *    transaction together with the INSERT into schema_migrations that
 *    records it: applied completely or not at all. A file that fails stops
 *    the run with PostgreSQL's message and the file's name; earlier files
 *    stay applied. Version strings never change: databases record them.
 * 3. Then the objects (sql/functions/), in file-name order, each whose
 *    SHA-256 differs from the one schema_objects records (or that it does
 *    not record), or that defines a function, trigger or view the database
 *    lacks (looked up by name: dropped by hand, or by a release that later
 *    brought the file back unchanged), in its own transaction with its new
 *    record. An unchanged file is not run again; a body replaced by hand
 *    under the same name is not seen (the checksums are of the files).
 *    Every object file is CREATE OR REPLACE, so running one on a database
 *    that already has the object is safe.
 * 4. Objects come after the migrations because they depend on them: a
 *    function's signature names table row types (RETURNS SETOF outbox), a
 *    trigger its table. Between object files, order does not matter:
 *    check_function_bodies is off for the whole run (as pg_restore does), so
 *    a function may call one whose file sorts later; a body is compiled at
 *    its first call.
 * 5. The ordering trap: a migration that needs an object at its own point
 *    in history (an index expression or a DEFAULT that calls a helper, a
 *    backfill that calls a function, a trigger that must start in the same
 *    transaction as the data it keeps, as 006's pending counter does) says
 *    so in its header, `-- loopgate: needs NAME...`. Those object files, when
 *    not current, are applied in the migration's transaction just before it
 *    (and recorded), so every database, fresh or old, sees them at that
 *    point; the pass of point 3 then finds them current. Such an object must
 *    be creatable with what the migrations before it made, and must keep
 *    meaning what the migration relied on: an index built on a helper never
 *    sees the helper change (a new meaning is a new helper).
 * 6. lock_timeout: every file runs with SET LOCAL lock_timeout (2 s unless
 *    --lock-timeout says otherwise), so a migration that waits for a lock
 *    held by a long transaction fails, naming the file, instead of queueing
 *    every worker's statements behind its own lock request for long: while
 *    it waits, the workers' statements on that table wait too, and a worker
 *    gives up on a statement after 5 s (503). The default stays well below.
 * 7. `-- loopgate: no-transaction` on a migration runs it outside a
 *    transaction, one statement at a time (split here on semicolons outside
 *    quotes, dollar quotes and comments), for what PostgreSQL refuses inside
 *    one: CREATE INDEX CONCURRENTLY, which builds an index on a large table
 *    without blocking writers. It is recorded after its last statement, so
 *    a run that fails in the middle runs the whole file again next time: such
 *    a file must be safe to run twice (DROP INDEX CONCURRENTLY IF EXISTS
 *    before CREATE INDEX CONCURRENTLY, which clears an invalid index a failed
 *    build leaves behind).
 * 8. Rolling upgrades: a database newer than the binary is fine. A newer
 *    database holds a migration this binary does not know, or objects that a
 *    newer release applied (schema_objects.applied_by, compared as
 *    MAJOR.MINOR.PATCH). Then the objects it records differently, or not
 *    at all in the database, are left as they are, never put back to this
 *    binary's older bodies: a host of the previous release that restarts
 *    (and migrates, as the systemd unit does) during the upgrade leaves the
 *    new release's functions in place. An object the database never
 *    recorded is created all the same. A release that drops an object keeps
 *    its schema_objects row, which tells older binaries it went on purpose.
 * 9. `loopgate serve` and `loopgate telegram poll` check before they start (migrate_check): every
 *    migration it embeds is applied and every object current (or newer);
 *    otherwise it names the first missing one and stops.
 */
#include "migrate.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "db.h"
#include "version.h"

/* The lock's key, and its two halves as pg_locks shows them (classid, objid). */
#define MIGRATE_LOCK_KEY "7262317405291017"
#define MIGRATE_LOCK_HI "1690890"
#define MIGRATE_LOCK_LO "154157577"
#define MIGRATE_TRY_LOCK "SELECT pg_try_advisory_lock(" MIGRATE_LOCK_KEY ")"
#define MIGRATE_UNLOCK "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")"
#define LOCK_POLL_MIN_MS 100
#define LOCK_POLL_MAX_MS 1000
#define LOCK_REPORT_S 30
#define SQLSTATE_LOCK_NOT_AVAILABLE "55P03"

/* What the database records, read once per run (and again after the migrations). */
struct db_state {
    PGresult *migs;    /* version, applied_at; NULL when schema_migrations does not exist */
    PGresult *objs;    /* name, sha256, applied_at, applied_by; NULL likewise */
    PGresult *have;    /* kind:name of every function, trigger and view in the database */
    const char *newer; /* a migration of the database that this binary does not know */
};

/*
 * OBJ_MISSING: recorded with this file's checksum, but something the file
 * defines is not in the database (dropped by hand, or by a migration of a
 * release that later brought the file back unchanged): applied again.
 */
enum obj_state { OBJ_CURRENT, OBJ_PENDING, OBJ_CHANGED, OBJ_MISSING, OBJ_NEWER };

/* The states that `migrate` applies and that `serve` refuses to start on. */
#define OBJ_TO_APPLY(s) ((s) == OBJ_PENDING || (s) == OBJ_CHANGED || (s) == OBJ_MISSING)

static void state_free(struct db_state *st)
{
    PQclear(st->migs);
    PQclear(st->objs);
    PQclear(st->have);
    memset(st, 0, sizeof(*st));
}

static PGresult *query(PGconn *pg, const char *sql)
{
    PGresult *res = PQexec(pg, sql);

    if (PQresultStatus(res) == PGRES_TUPLES_OK)
        return res;
    fprintf(stderr, "loopgate migrate: could not read the schema records: %s",
            res ? PQresultErrorMessage(res) : PQerrorMessage(pg));
    PQclear(res);
    return NULL;
}

static int find_row(const PGresult *res, const char *key)
{
    for (int i = 0; res && i < PQntuples(res); i++)
        if (!strcmp(PQgetvalue(res, i, 0), key))
            return i;
    return -1;
}

static int known_migration(const char *version)
{
    for (int i = 0; i < migrations_count; i++)
        if (!strcmp(migrations[i].version, version))
            return 1;
    return 0;
}

static const struct sql_object *find_object(const char *name, size_t len)
{
    for (int i = 0; i < sql_objects_count; i++)
        if (strlen(sql_objects[i].name) == len && !strncmp(sql_objects[i].name, name, len))
            return &sql_objects[i];
    return NULL;
}

static int load_state(PGconn *pg, struct db_state *st)
{
    PGresult *res;
    int have_migs, have_objs;

    memset(st, 0, sizeof(*st));
    res = query(pg, "SELECT to_regclass('schema_migrations') IS NOT NULL,"
                    " to_regclass('schema_objects') IS NOT NULL");
    if (!res)
        return -1;
    have_migs = !strcmp(PQgetvalue(res, 0, 0), "t");
    have_objs = !strcmp(PQgetvalue(res, 0, 1), "t");
    PQclear(res);
    if (have_migs &&
        !(st->migs = query(pg, "SELECT version, to_char(applied_at AT TIME ZONE 'UTC',"
                               " 'YYYY-MM-DD HH24:MI:SS \"UTC\"') FROM schema_migrations"
                               " ORDER BY version")))
        return -1;
    if (have_objs &&
        !(st->objs = query(pg, "SELECT name, sha256, to_char(applied_at AT TIME ZONE 'UTC',"
                               " 'YYYY-MM-DD HH24:MI:SS \"UTC\"'), applied_by"
                               " FROM schema_objects ORDER BY name"))) {
        state_free(st);
        return -1;
    }
    if (!(st->have = query(pg, "SELECT 'function:' || p.proname FROM pg_proc p"
                               " WHERE p.pronamespace = current_schema()::regnamespace"
                               " UNION SELECT 'trigger:' || t.tgname FROM pg_trigger t"
                               " JOIN pg_class c ON c.oid = t.tgrelid"
                               " WHERE NOT t.tgisinternal"
                               " AND c.relnamespace = current_schema()::regnamespace"
                               " UNION SELECT 'view:' || viewname FROM pg_views"
                               " WHERE schemaname = current_schema()"))) {
        state_free(st);
        return -1;
    }
    for (int i = 0; st->migs && i < PQntuples(st->migs); i++)
        if (!known_migration(PQgetvalue(st->migs, i, 0))) {
            st->newer = PQgetvalue(st->migs, i, 0);
            break;
        }
    return 0;
}

/* Compare two MAJOR.MINOR.PATCH versions (anything after the numbers is ignored). */
static int version_cmp(const char *a, const char *b)
{
    for (int part = 0; part < 3; part++) {
        char *ea, *eb;
        long x = strtol(a, &ea, 10), y = strtol(b, &eb, 10);

        if (x != y)
            return x < y ? -1 : 1;
        a = *ea == '.' ? ea + 1 : ea;
        b = *eb == '.' ? eb + 1 : eb;
    }
    return 0;
}

/* Whether everything object `o` defines is in the database. */
static bool object_present(const struct db_state *st, const struct sql_object *o)
{
    for (const char *p = o->defines; *p;) {
        size_t len = strcspn(p, " ");
        bool found = false;

        for (int i = 0; i < PQntuples(st->have) && !found; i++)
            found = strlen(PQgetvalue(st->have, i, 0)) == len &&
                    !strncmp(PQgetvalue(st->have, i, 0), p, len);
        if (!found)
            return false;
        p += len + strspn(p + len, " ");
    }
    return true;
}

/*
 * An object never recorded is pending, whatever else the database holds. A
 * recorded one that differs from this binary's file, or that the database
 * lacks, is left alone when a newer release may have made it so (point 8):
 * the database holds a migration this binary does not know, or the record
 * names a newer version. Otherwise it is applied again.
 */
static enum obj_state object_state(const struct db_state *st, const struct sql_object *o)
{
    int r = find_row(st->objs, o->name);
    bool same, present;

    if (r < 0)
        return OBJ_PENDING;
    same = !strcmp(PQgetvalue(st->objs, r, 1), o->sha256);
    present = object_present(st, o);
    if (same && present)
        return OBJ_CURRENT;
    if (st->newer || version_cmp(PQgetvalue(st->objs, r, 3), LOOPGATE_VERSION) > 0)
        return OBJ_NEWER;
    return same ? OBJ_MISSING : OBJ_CHANGED;
}

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

/*
 * Run SQL from `file` (a path for messages; `line` > 0 names the line its
 * statement starts on). A lock not granted within lock_timeout gets a
 * message of its own: it is the one failure that running again later cures.
 */
static int run_sql(PGconn *pg, const char *sql, const char *file, int line, int lock_timeout_s)
{
    PGresult *res = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(res);
    const char *state;
    char where[32] = "";

    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) {
        PQclear(res);
        return 0;
    }
    if (line > 0)
        (void)lg_snprintf(where, sizeof(where), " (statement at line %d)", line);
    state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (state && !strcmp(state, SQLSTATE_LOCK_NOT_AVAILABLE))
        fprintf(
            stderr,
            "loopgate migrate: %s%s: a lock was not granted within %d s (lock_timeout): another "
            "session holds it, a long transaction perhaps. The file was not applied; run "
            "'loopgate migrate' again when the database is quieter, or with a longer "
            "--lock-timeout (the workers' statements on that table wait as long).\n",
            file, where, lock_timeout_s);
    else
        fprintf(stderr, "loopgate migrate: %s%s failed: %s", file, where,
                res ? PQresultErrorMessage(res) : PQerrorMessage(pg));
    PQclear(res);
    return -1;
}

static int set_lock_timeout(PGconn *pg, int local, int seconds)
{
    char sql[64];

    (void)lg_snprintf(sql, sizeof(sql), "SET %slock_timeout = '%ds'", local ? "LOCAL " : "",
                      seconds);
    return exec_ok(pg, sql, "setting lock_timeout");
}

static int record(PGconn *pg, const char *sql, int n, const char *const *params, const char *what)
{
    PGresult *res = PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;

    if (!ok)
        fprintf(stderr, "loopgate migrate: could not record %s: %s", what,
                PQresultErrorMessage(res));
    PQclear(res);
    return ok ? 0 : -1;
}

/* Run one object file and record it, inside the caller's transaction. */
static int object_in_tx(PGconn *pg, const struct sql_object *o, int lock_timeout_s)
{
    const char *p[] = {o->name, o->sha256, LOOPGATE_VERSION};
    char file[128];

    (void)lg_snprintf(file, sizeof(file), "sql/functions/%s.sql", o->name);
    if (run_sql(pg, o->sql, file, 0, lock_timeout_s) < 0)
        return -1;
    return record(pg,
                  "INSERT INTO schema_objects (name, sha256, applied_by) VALUES ($1, $2, $3)"
                  " ON CONFLICT (name) DO UPDATE SET sha256 = EXCLUDED.sha256,"
                  " applied_at = now(), applied_by = EXCLUDED.applied_by",
                  3, p, o->name);
}

static int apply_object(PGconn *pg, const struct sql_object *o, int lock_timeout_s)
{
    if (exec_ok(pg, "BEGIN", "BEGIN") < 0)
        return -1;
    if (set_lock_timeout(pg, 1, lock_timeout_s) < 0 || object_in_tx(pg, o, lock_timeout_s) < 0) {
        (void)exec_ok(pg, "ROLLBACK", "ROLLBACK");
        return -1;
    }
    return exec_ok(pg, "COMMIT", "COMMIT");
}

/*
 * Apply the objects a migration needs (point 5) that are not current; with
 * `in_tx` inside the caller's transaction, else each in its own. Appends
 * their names to `done` for the caller's report.
 */
static int apply_needs(PGconn *pg, const struct db_state *st, const struct migration *m, int in_tx,
                       int lock_timeout_s, char *done, size_t done_len)
{
    for (const char *p = m->needs; *p;) {
        size_t len = strcspn(p, " ");
        const struct sql_object *o = find_object(p, len);
        enum obj_state s;

        p += len + strspn(p + len, " ");
        if (!o) /* embed_sql.sh checked every name */
            continue;
        s = object_state(st, o);
        if (!OBJ_TO_APPLY(s))
            continue;
        if ((in_tx ? object_in_tx(pg, o, lock_timeout_s) : apply_object(pg, o, lock_timeout_s)) < 0)
            return -1;
        (void)lg_snprintf(done + strlen(done), done_len - strlen(done), "%s%s", *done ? ", " : "",
                          o->name);
    }
    return 0;
}

const char *migrate_statement_end(const char *start, const char *p)
{
#define IDENT(c)                                                                                   \
    (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z') || ((c) >= '0' && (c) <= '9') ||     \
     (c) == '_' || (c) == '$' || (unsigned char)(c) >= 0x80)
    while (*p && *p != ';') {
        if (p[0] == '-' && p[1] == '-') {
            p += strcspn(p, "\n");
        } else if (p[0] == '/' && p[1] == '*') {
            int depth = 1;

            for (p += 2; *p && depth > 0;) {
                if (p[0] == '/' && p[1] == '*')
                    depth++, p += 2;
                else if (p[0] == '*' && p[1] == '/')
                    depth--, p += 2;
                else
                    p++;
            }
        } else if (*p == '\'' || *p == '"') {
            char q = *p;
            int backslash = q == '\'' && p > start && (p[-1] == 'E' || p[-1] == 'e') &&
                            (p - 1 == start || !IDENT(p[-2]));

            for (p++; *p; p++) {
                if (backslash && *p == '\\' && p[1])
                    p++;
                else if (*p == q && p[1] == q)
                    p++;
                else if (*p == q)
                    break;
            }
            if (*p)
                p++;
        } else if (*p == '$' && !(p > start && IDENT(p[-1])) && !(p[1] >= '0' && p[1] <= '9')) {
            const char *t = p + 1, *close;
            char tag[66];

            while (IDENT(*t) && *t != '$')
                t++;
            if (*t != '$' || (size_t)(t - p + 1) >= sizeof(tag)) {
                p++;
                continue;
            }
            memcpy(tag, p, (size_t)(t - p + 1));
            tag[t - p + 1] = '\0';
            close = strstr(t + 1, tag);
            p = close ? close + strlen(tag) : t + 1 + strlen(t + 1);
        } else {
            p++;
        }
    }
    return p;
#undef IDENT
}

/* Past blanks and -- comments to a statement's first word, counting lines. */
static const char *skip_blank(const char *p, const char *end, int *line)
{
    while (p < end) {
        if (*p == '\n')
            (*line)++, p++;
        else if (*p == ' ' || *p == '\t' || *p == '\r')
            p++;
        else if (p[0] == '-' && p[1] == '-')
            p += strcspn(p, "\n");
        else
            break;
    }
    return p;
}

/* Point 7: a migration outside a transaction, one statement at a time. */
static int run_statements(PGconn *pg, const char *sql, const char *file, int lock_timeout_s)
{
    const char *p = sql;
    int line = 1, rc = 0;

    if (set_lock_timeout(pg, 0, lock_timeout_s) < 0)
        return -1;
    while (*p && rc == 0) {
        const char *end = migrate_statement_end(sql, p), *word = skip_blank(p, end, &line);
        size_t len = (size_t)(end - word);
        int first = line;

        if (len > 0) {
            char *stmt = xmalloc(len + 1);

            memcpy(stmt, word, len);
            stmt[len] = '\0';
            rc = run_sql(pg, stmt, file, first, lock_timeout_s);
            free(stmt);
        }
        for (const char *c = word; c < end; c++)
            line += *c == '\n';
        p = *end ? end + 1 : end;
    }
    if (exec_ok(pg, "RESET lock_timeout", "resetting lock_timeout") < 0)
        rc = -1;
    return rc;
}

static int apply_migration(PGconn *pg, const struct db_state *st, const struct migration *m,
                           int lock_timeout_s, char *done, size_t done_len)
{
    const char *p[] = {m->version};
    const char *insert = "INSERT INTO schema_migrations (version) VALUES ($1)";
    char file[128];

    (void)lg_snprintf(file, sizeof(file), "sql/migrations/%s.sql", m->version);
    if (m->no_transaction) {
        if (apply_needs(pg, st, m, 0, lock_timeout_s, done, done_len) < 0 ||
            run_statements(pg, m->sql, file, lock_timeout_s) < 0)
            return -1;
        return record(pg, insert, 1, p, m->version);
    }
    if (exec_ok(pg, "BEGIN", "BEGIN") < 0)
        return -1;
    if (set_lock_timeout(pg, 1, lock_timeout_s) < 0 ||
        apply_needs(pg, st, m, 1, lock_timeout_s, done, done_len) < 0 ||
        run_sql(pg, m->sql, file, 0, lock_timeout_s) < 0 ||
        record(pg, insert, 1, p, m->version) < 0) {
        (void)exec_ok(pg, "ROLLBACK", "ROLLBACK");
        return -1;
    }
    return exec_ok(pg, "COMMIT", "COMMIT");
}

/*
 * Who holds the migration lock, for the waiting messages: another run's
 * application_name (name_run), or the PostgreSQL backend of whatever else
 * took it (a psql session). Empty when it could not be told (the lock was
 * let go meanwhile, or pg_stat_activity hides another role's sessions).
 */
static void lock_holder(PGconn *pg, char *out, size_t len)
{
    PGresult *res = PQexec(
        pg, "SELECT l.pid, coalesce(a.application_name, ''),"
            " coalesce(host(a.client_addr), CASE WHEN a.pid IS NOT NULL THEN 'local' END, '')"
            " FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = " MIGRATE_LOCK_HI
            " AND l.objid = " MIGRATE_LOCK_LO " AND l.objsubid = 1"
            " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " LIMIT 1");

    *out = '\0';
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        const char *app = PQgetvalue(res, 0, 1), *client = PQgetvalue(res, 0, 2);

        if (!strncmp(app, "loopgate migrate ", 17))
            (void)lg_snprintf(out, len, "%s", app);
        else
            (void)lg_snprintf(out, len, "PostgreSQL backend pid %s%s%s%s%s", PQgetvalue(res, 0, 0),
                              *app ? ", application " : "", app, *client ? ", client " : "",
                              client);
    }
    PQclear(res);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/*
 * Point 1's lock. A run that finds it taken asks again and again, each try a
 * statement of its own outside any transaction, with a sleep between tries
 * (LOCK_POLL_MIN_MS, doubling to LOCK_POLL_MAX_MS). Blocking in
 * pg_advisory_lock instead would keep a transaction open for the whole wait,
 * and the holder's CREATE INDEX CONCURRENTLY (point 7) waits for every open
 * transaction to end: a deadlock PostgreSQL breaks by failing one of them.
 * It says that it waits, and every LOCK_REPORT_S seconds who holds the lock.
 * The wait itself has no end: the holder may build an index on a large table
 * for hours; it ends when the lock is taken, the connection fails or the
 * process is stopped.
 */
static int take_lock(PGconn *pg)
{
    int64_t start = now_ms(), reported = start;
    int delay_ms = LOCK_POLL_MIN_MS;
    char holder[160];

    for (int tries = 0;; tries++) {
        PGresult *res;
        int got;

        if (PQtransactionStatus(pg) != PQTRANS_IDLE) {
            fprintf(stderr, "loopgate migrate: the migration lock is never waited for inside a "
                            "transaction\n");
            return -1;
        }
        res = PQexec(pg, MIGRATE_TRY_LOCK);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            fprintf(stderr, "loopgate migrate: taking the migration lock failed: %s",
                    res ? PQresultErrorMessage(res) : PQerrorMessage(pg));
            PQclear(res);
            return -1;
        }
        got = !strcmp(PQgetvalue(res, 0, 0), "t");
        PQclear(res);
        if (got)
            return 0;
        if (tries == 0) {
            lock_holder(pg, holder, sizeof(holder));
            printf("waiting for another 'loopgate migrate' to finish (it holds the migration "
                   "lock%s%s)\n",
                   *holder ? ": " : "", holder);
            fflush(stdout);
        } else if (now_ms() - reported >= LOCK_REPORT_S * 1000) {
            reported = now_ms();
            lock_holder(pg, holder, sizeof(holder));
            printf("still waiting for the migration lock after %lld s%s%s\n",
                   (long long)((reported - start) / 1000), *holder ? ", held by " : "", holder);
            fflush(stdout);
        }
        sleep_ms(delay_ms);
        delay_ms = delay_ms * 2 > LOCK_POLL_MAX_MS ? LOCK_POLL_MAX_MS : delay_ms * 2;
    }
}

/*
 * This run's application_name, which a run waiting for the lock prints:
 * "loopgate migrate pid N on HOST" (PostgreSQL cuts it to 63 bytes).
 */
static int name_run(PGconn *pg)
{
    char host[256] = "", name[320];
    const char *p[] = {name};
    PGresult *res;
    int ok;

    if (gethostname(host, sizeof(host) - 1) != 0 || !*host)
        (void)lg_snprintf(host, sizeof(host), "an unnamed host");
    (void)lg_snprintf(name, sizeof(name), "loopgate migrate pid %ld on %s", (long)getpid(), host);
    res = PQexecParams(pg, "SELECT set_config('application_name', $1, false)", 1, NULL, p, NULL,
                       NULL, 0);
    ok = PQresultStatus(res) == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "loopgate migrate: setting application_name failed: %s",
                PQresultErrorMessage(res));
    PQclear(res);
    return ok ? 0 : -1;
}

static PGconn *connect_db(const char *conninfo)
{
    char err[512];
    PGconn *pg = db_connect(conninfo, err, sizeof(err));

    if (!pg)
        fprintf(stderr, "loopgate migrate: could not connect to the database: %s\n", err);
    return pg;
}

/*
 * Under transaction pooling migrate runs on db_listen_uri (`pg`): it must be
 * the database db_uri (`pool_uri`, the pooler) reaches, the same cluster and
 * the same database on it (the server's name for it, not a pooler's alias),
 * or migrate would bring another database up to date and the one the
 * service uses would stay behind. 0, or -1 with the reason on stderr.
 */
static int same_database(PGconn *pg, const char *pool_uri)
{
    static const char q[] =
        "SELECT (pg_control_system()).system_identifier::text, current_database()";
    char err[512];
    PGconn *pool = db_connect(pool_uri, err, sizeof(err));
    PGresult *a, *b;
    int rc = -1;

    if (!pool) {
        fprintf(stderr,
                "loopgate migrate: could not reach db_uri to check that db_listen_uri, where "
                "migrate runs under db_transaction_pooling, is its database: %s\n",
                err);
        return -1;
    }
    a = PQexec(pg, q);
    b = PQexec(pool, q);
    if (PQresultStatus(a) != PGRES_TUPLES_OK || PQresultStatus(b) != PGRES_TUPLES_OK) {
        fprintf(stderr,
                "loopgate migrate: could not ask which database db_uri and db_listen_uri "
                "reach: %s\n",
                PQresultErrorMessage(PQresultStatus(a) != PGRES_TUPLES_OK ? a : b));
    } else if (strcmp(PQgetvalue(a, 0, 0), PQgetvalue(b, 0, 0)) ||
               strcmp(PQgetvalue(a, 0, 1), PQgetvalue(b, 0, 1))) {
        fprintf(stderr,
                "loopgate migrate: db_listen_uri reaches database '%s' (cluster %s) but db_uri "
                "reaches '%s' (cluster %s); under db_transaction_pooling migrate runs on "
                "db_listen_uri, so both must name the same database: fix db_listen_uri\n",
                PQgetvalue(a, 0, 1), PQgetvalue(a, 0, 0), PQgetvalue(b, 0, 1), PQgetvalue(b, 0, 0));
    } else {
        rc = 0;
    }
    PQclear(a);
    PQclear(b);
    PQfinish(pool);
    return rc;
}

int migrate_run(const char *conninfo, int lock_timeout_s, const char *pool_uri)
{
    PGconn *pg = connect_db(conninfo);
    struct db_state st = {0};
    int rc = 1, done = 0;
    char left[1024] = "";

    if (!pg)
        return 1;
    if (pool_uri) {
        char err[256] = "";
        int d = db_direct(pg, err, sizeof(err));

        if (d != 1) {
            fprintf(stderr,
                    d == 0 ? "loopgate migrate: the database connection goes through a pooler; "
                             "a run holds a session lock and session settings, so it must "
                             "reach PostgreSQL itself (db_listen_uri, used for migrate when "
                             "db_transaction_pooling is on)\n"
                           : "loopgate migrate: could not ask whether the connection reaches "
                             "PostgreSQL itself: %s\n",
                    err);
            PQfinish(pg);
            return 1;
        }
        if (same_database(pg, pool_uri) < 0) {
            PQfinish(pg);
            return 1;
        }
    }
    if (exec_ok(pg, "SET client_min_messages = warning", "SET") < 0 ||
        exec_ok(pg, "SET check_function_bodies = off", "SET") < 0 || name_run(pg) < 0 ||
        take_lock(pg) < 0)
        goto out;
    if (exec_ok(pg,
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version text PRIMARY KEY,"
                " applied_at timestamptz NOT NULL DEFAULT now())",
                "creating schema_migrations") < 0 ||
        exec_ok(pg,
                "CREATE TABLE IF NOT EXISTS schema_objects ("
                " name text PRIMARY KEY,"
                " sha256 text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now(),"
                " applied_by text NOT NULL)",
                "creating schema_objects") < 0 ||
        load_state(pg, &st) < 0)
        goto unlock;
    for (int i = 0; i < migrations_count; i++) {
        char with[512] = "";

        if (find_row(st.migs, migrations[i].version) >= 0)
            continue;
        if (apply_migration(pg, &st, &migrations[i], lock_timeout_s, with, sizeof(with)) < 0)
            goto unlock;
        printf("applied %s%s%s%s\n", migrations[i].version, *with ? " (with " : "", with,
               *with ? ")" : "");
        fflush(stdout);
        done++;
    }
    /* Point 3, on what the database records now (needs may have applied some). */
    state_free(&st);
    if (load_state(pg, &st) < 0)
        goto unlock;
    for (int i = 0; i < sql_objects_count; i++) {
        enum obj_state s = object_state(&st, &sql_objects[i]);

        if (s == OBJ_NEWER)
            (void)lg_snprintf(left + strlen(left), sizeof(left) - strlen(left), "%s%s",
                              *left ? ", " : "", sql_objects[i].name);
        if (!OBJ_TO_APPLY(s))
            continue;
        if (apply_object(pg, &sql_objects[i], lock_timeout_s) < 0)
            goto unlock;
        printf("applied %s\n", sql_objects[i].name);
        fflush(stdout);
        done++;
    }
    if (st.newer)
        printf("the database is newer than this binary (it holds migration %s)\n", st.newer);
    if (*left)
        printf("left as a newer release made them: %s\n", left);
    if (done == 0)
        printf("database is up to date (%d migrations, %d objects)\n", migrations_count,
               sql_objects_count);
    rc = 0;
unlock:
    state_free(&st);
    (void)exec_ok(pg, MIGRATE_UNLOCK, "releasing the migration lock");
out:
    PQfinish(pg);
    return rc;
}

int migrate_status(const char *conninfo, const char *pool_uri)
{
    static const char *const names[] = {"applied", "pending", "changed",
                                        "missing from the database", "newer"};
    PGconn *pg = connect_db(conninfo);
    struct db_state st;
    int todo = 0;

    if (!pg)
        return 2;
    if ((pool_uri && same_database(pg, pool_uri) < 0) || load_state(pg, &st) < 0) {
        PQfinish(pg);
        return 2;
    }
    for (int i = 0; i < migrations_count; i++) {
        int r = find_row(st.migs, migrations[i].version);

        if (r >= 0) {
            printf("migration  %-28s applied %s\n", migrations[i].version,
                   PQgetvalue(st.migs, r, 1));
        } else {
            printf("migration  %-28s pending\n", migrations[i].version);
            todo++;
        }
    }
    for (int i = 0; st.migs && i < PQntuples(st.migs); i++)
        if (!known_migration(PQgetvalue(st.migs, i, 0)))
            printf("migration  %-28s applied %s, not in this binary (a newer release's)\n",
                   PQgetvalue(st.migs, i, 0), PQgetvalue(st.migs, i, 1));
    for (int i = 0; i < sql_objects_count; i++) {
        const struct sql_object *o = &sql_objects[i];
        enum obj_state s = object_state(&st, o);
        int r = find_row(st.objs, o->name);

        printf("object     %-28s %s", o->name, names[s]);
        if (r >= 0 && s == OBJ_CURRENT)
            printf(" %s", PQgetvalue(st.objs, r, 2));
        else if (s == OBJ_MISSING)
            printf(" (applied %s by loopgate %s; defines %s)", PQgetvalue(st.objs, r, 2),
                   PQgetvalue(st.objs, r, 3), o->defines);
        else if (r >= 0)
            printf(" (applied %s by loopgate %s; sql/functions/%s.sql differs)",
                   PQgetvalue(st.objs, r, 2), PQgetvalue(st.objs, r, 3), o->name);
        printf("%s\n", s == OBJ_NEWER ? ", left as it is" : "");
        todo += OBJ_TO_APPLY(s);
    }
    for (int i = 0; st.objs && i < PQntuples(st.objs); i++) {
        const char *name = PQgetvalue(st.objs, i, 0);

        if (!find_object(name, strlen(name)))
            printf("object     %-28s applied %s by loopgate %s, not in this binary\n", name,
                   PQgetvalue(st.objs, i, 2), PQgetvalue(st.objs, i, 3));
    }
    if (todo)
        printf("%d to apply: run 'loopgate migrate'\n", todo);
    else
        printf("up to date (%d migrations, %d objects)\n", migrations_count, sql_objects_count);
    state_free(&st);
    PQfinish(pg);
    return todo ? 1 : 0;
}

int migrate_check(const char *conninfo, char *why, size_t len)
{
    PGconn *pg = db_connect(conninfo, why, len);
    struct db_state st;
    int rc = 0;

    if (!pg)
        return -1;
    if (load_state(pg, &st) < 0) {
        lg_snprintf(why, len, "could not read schema_migrations and schema_objects");
        PQfinish(pg);
        return -1;
    }
    for (int i = 0; i < migrations_count && rc == 0; i++)
        if (find_row(st.migs, migrations[i].version) < 0) {
            (void)lg_snprintf(why, len, "missing_migration=%s", migrations[i].version);
            rc = 1;
        }
    for (int i = 0; i < sql_objects_count && rc == 0; i++) {
        enum obj_state s = object_state(&st, &sql_objects[i]);

        if (OBJ_TO_APPLY(s)) {
            (void)lg_snprintf(why, len, "stale_object=%s state=%s", sql_objects[i].name,
                              s == OBJ_PENDING   ? "pending"
                              : s == OBJ_CHANGED ? "changed"
                                                 : "missing");
            rc = 1;
        }
    }
    state_free(&st);
    PQfinish(pg);
    return rc;
}
