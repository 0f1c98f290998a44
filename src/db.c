/*
 * db.c - see db.h.
 */
#include "db.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "metrics.h"

#define ACQUIRE_WAIT_MS 5000
#define IDLE_CHECK_MS 100
#define KEEPALIVE_IDLE_S "10"
#define KEEPALIVE_INTERVAL_S "5"
#define KEEPALIVE_COUNT "3"
/* Point 5 of db.h, per transaction, behind a transaction pooler. */
#define DURABLE_COMMIT "SET LOCAL synchronous_commit = on"

static struct {
    pthread_mutex_t lock;
    pthread_cond_t freed;
    char *conninfo;
    int size;
    int open;             /* connections that exist, idle or borrowed */
    struct db_conn *idle; /* stack of idle connections */
    bool pooled;          /* behind a transaction pooler (db_set_transaction_pooling) */
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER, .freed = PTHREAD_COND_INITIALIZER};

static __thread bool probing; /* db_probe_begin .. db_probe_end on this thread */

void db_set_transaction_pooling(bool on)
{
    pool.pooled = on;
}

void db_probe_begin(void)
{
    probing = true;
}

void db_probe_end(void)
{
    probing = false;
}

/* Put the probe's time limits on `c`; false (and `c` marked broken) when that failed. */
static bool probe_limits(struct db_conn *c)
{
    char sql[128];
    PGresult *res;
    bool ok;

    /*
     * Behind a transaction pooler a SET would stay on whichever server
     * connection ran it and bind other clients' statements: the probe keeps
     * only its short wait for a connection (the pooler's query_timeout
     * bounds the rest).
     */
    if (pool.pooled)
        return true;
    lg_snprintf(sql, sizeof(sql), "SET statement_timeout = %d; SET lock_timeout = %d",
                DB_PROBE_STATEMENT_MS, DB_PROBE_LOCK_MS);
    res = PQexec(c->pg, sql);
    ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    c->probe = true;
    if (!ok)
        c->broken = true;
    return ok;
}

void db_pool_init(const char *conninfo, int size)
{
    free(pool.conninfo);
    pool.conninfo = xstrdup(conninfo);
    pool.size = size;
    pool.open = 0;
    pool.idle = NULL;
}

void db_pool_shutdown(void)
{
    pthread_mutex_lock(&pool.lock);
    while (pool.idle) {
        struct db_conn *c = pool.idle;
        pool.idle = c->next;
        PQfinish(c->pg);
        free(c);
        pool.open--;
    }
    pthread_mutex_unlock(&pool.lock);
}

/* Our startup options (connect_to), unless the operator's conninfo gives its own. */
#define OUR_OPTIONS "-c jit=off -c DateStyle=ISO -c TimeZone=UTC -c synchronous_commit=on"

/* Whether `pg` was opened with OUR_OPTIONS (not replaced by the conninfo's `options`). */
static bool our_options(PGconn *pg)
{
    PQconninfoOption *opts = PQconninfo(pg);
    bool ours = false;

    for (PQconninfoOption *o = opts; o && o->keyword; o++)
        if (!strcmp(o->keyword, "options")) {
            ours = o->val && !strcmp(o->val, OUR_OPTIONS);
            break;
        }
    PQconninfoFree(opts);
    return ours;
}

/* Open a connection; `pooled`: through a transaction pooler, which takes no startup options. */
static PGconn *connect_to(const char *conninfo, bool pooled, char *errbuf, size_t errlen)
{
    /*
     * Our defaults first; the operator's conninfo (expand_dbname) overrides
     * them. JIT compiles a query in tens of milliseconds: never worth it for
     * statements that run in a fraction of one. Commits wait for the disk
     * (and any synchronous standby) whatever the server's default: what an
     * agent is told must survive a crash (decisions also insist on it per
     * transaction, store_tg.c DECISION_DURABLE). Over TCP, keepalives find a
     * peer that vanished without closing (a host gone, a NAT or proxy that
     * dropped the connection) in about KEEPALIVE_IDLE_S + COUNT * INTERVAL
     * seconds instead of the kernel's two hours. A pooler (pgbouncer)
     * refuses the `options` startup parameter: then only DateStyle and
     * TimeZone are set, below, which it keeps for this client, and each
     * transaction sets synchronous_commit itself (db.h point 5).
     */
    const char *keys[] = {"connect_timeout",
                          "application_name",
                          "keepalives",
                          "keepalives_idle",
                          "keepalives_interval",
                          "keepalives_count",
                          "options",
                          "dbname",
                          NULL};
    const char *vals[] = {
        "5",         "loopgate", "1", KEEPALIVE_IDLE_S, KEEPALIVE_INTERVAL_S, KEEPALIVE_COUNT,
        OUR_OPTIONS, conninfo,   NULL};
    PGconn *pg;
    const char *style, *zone, *set = NULL;

    if (pooled) {
        keys[6] = "dbname";
        vals[6] = conninfo;
        keys[7] = NULL;
        vals[7] = NULL;
    }
    pg = PQconnectdbParams(keys, vals, 1);
    if (!pg) {
        lg_snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    if (PQstatus(pg) != CONNECTION_OK) {
        lg_strlcpy(errbuf, PQerrorMessage(pg), errlen);
        for (char *p = errbuf; *p; p++)
            if (*p == '\n')
                *p = ' ';
        PQfinish(pg);
        return NULL;
    }
    /*
     * Timestamps read as text are in ISO form and UTC (the store relies on it).
     * Options of the operator's own replace ours: then set both here, and,
     * on a connection of PostgreSQL's own, synchronous_commit (db.h point 5;
     * through a pooler each transaction sets it).
     */
    style = PQparameterStatus(pg, "DateStyle");
    zone = PQparameterStatus(pg, "TimeZone");
    if (!pooled && !our_options(pg))
        set = "SET DateStyle = ISO; SET TimeZone = UTC; SET synchronous_commit = on";
    else if (!style || strncmp(style, "ISO", 3) != 0 || !zone || strcmp(zone, "UTC") != 0)
        set = "SET DateStyle = ISO; SET TimeZone = UTC";
    if (set) {
        PGresult *res = PQexec(pg, set);
        bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;

        PQclear(res);
        if (!ok) {
            lg_strlcpy(errbuf, "could not set DateStyle, TimeZone and synchronous_commit", errlen);
            PQfinish(pg);
            return NULL;
        }
    }
    return pg;
}

PGconn *db_connect(const char *conninfo, char *errbuf, size_t errlen)
{
    return connect_to(conninfo, pool.pooled, errbuf, errlen);
}

static int64_t now_us(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

/* `c`, with the probe's time limits when this thread probes; NULL (released) when they failed. */
static struct db_conn *limited(struct db_conn *c, struct lg_error *err)
{
    if (!probing || probe_limits(c))
        return c;
    db_release(c);
    lg_fail(err, 503, "database_unavailable", "the database connection was lost; retry shortly");
    return NULL;
}

struct db_conn *db_acquire(struct lg_error *err)
{
    struct db_conn *c = NULL;
    struct timespec deadline;
    char errbuf[256];
    int64_t waited_from = 0; /* now_us() when this borrower began to wait */

    deadline = deadline_in_ms(CLOCK_REALTIME, probing ? DB_PROBE_WAIT_MS : ACQUIRE_WAIT_MS);

    pthread_mutex_lock(&pool.lock);
    for (;;) {
        if (pool.idle) {
            c = pool.idle;
            pool.idle = c->next;
            break;
        }
        if (pool.open < pool.size) {
            pool.open++;
            break;
        }
        if (!waited_from)
            waited_from = now_us();
        if (pthread_cond_timedwait(&pool.freed, &pool.lock, &deadline) == ETIMEDOUT) {
            pthread_mutex_unlock(&pool.lock);
            metrics_db_pool_wait(now_us() - waited_from, true);
            lg_fail(err, 503, "database_busy", "all database connections are busy; retry shortly");
            return NULL;
        }
    }
    pthread_mutex_unlock(&pool.lock);
    if (waited_from)
        metrics_db_pool_wait(now_us() - waited_from, false);

    /*
     * A server that restarted has closed our idle socket; reading what is
     * pending (no round trip) notices that before a statement is sent. A
     * restart takes longer than IDLE_CHECK_MS, so a connection given back
     * more recently than that needs no look (and costs no system call).
     */
    if (c && now_ms() - c->idle_since_ms < IDLE_CHECK_MS)
        return limited(c, err);
    if (c && PQconsumeInput(c->pg) && PQstatus(c->pg) == CONNECTION_OK) {
        PGnotify *n;
        while ((n = PQnotifies(c->pg)))
            PQfreemem(n);
        return limited(c, err);
    }
    if (c) {
        PQfinish(c->pg);
        c->pg = NULL;
    } else {
        c = xcalloc(1, sizeof(*c));
    }
    memset(c->prepared, 0, sizeof(c->prepared));
    c->pg = connect_to(pool.conninfo, pool.pooled, errbuf, sizeof(errbuf));
    if (!c->pg) {
        log_warn("could not connect to database", "error=\"%s\"", errbuf);
        free(c);
        pthread_mutex_lock(&pool.lock);
        pool.open--;
        pthread_cond_signal(&pool.freed); /* a borrower may go on */
        pthread_mutex_unlock(&pool.lock);
        lg_fail(err, 503, "database_unavailable", "the database is unreachable; retry shortly");
        return NULL;
    }
    return limited(c, err);
}

void db_release(struct db_conn *c)
{
    if (!c)
        return;
    if (c->probe && !c->broken && PQstatus(c->pg) == CONNECTION_OK &&
        PQtransactionStatus(c->pg) == PQTRANS_IDLE) {
        PGresult *res = PQexec(c->pg, "RESET statement_timeout; RESET lock_timeout");

        if (!res || PQresultStatus(res) != PGRES_COMMAND_OK)
            c->broken = true;
        PQclear(res);
    }
    c->probe = false;
    if (c->broken || PQstatus(c->pg) != CONNECTION_OK ||
        PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
        /* Broken, or left inside a transaction by a failed caller: drop it. */
        PQfinish(c->pg);
        free(c);
        pthread_mutex_lock(&pool.lock);
        pool.open--;
    } else {
        c->idle_since_ms = now_ms();
        pthread_mutex_lock(&pool.lock);
        c->next = pool.idle;
        pool.idle = c;
    }
    pthread_cond_signal(&pool.freed); /* a borrower may go on */
    pthread_mutex_unlock(&pool.lock);
}

/*
 * Whether SQLSTATE `state` says a connection is no use any more: the
 * server is going away or gone (57P01 admin shutdown, 57P02 crash, 57P03
 * cannot connect now, class 08 connection exceptions, which a pooler also
 * sends when its server went away) or takes no writes (25006: a standby, a
 * demoted primary, default_transaction_read_only). A new connection may
 * find the new primary.
 */
bool db_fatal_state(const char *state)
{
    return state && (!strncmp(state, "08", 2) || !strcmp(state, "57P01") ||
                     !strcmp(state, "57P02") || !strcmp(state, "57P03") || !strcmp(state, "25006"));
}

static void fail_from(struct db_conn *c, PGresult *res, const char *what, struct lg_error *err)
{
    const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(c->pg);
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

    if (!res || PQstatus(c->pg) != CONNECTION_OK || db_fatal_state(state)) {
        /*
         * No answer at all, a dead connection, or a server going away: dropped
         * on release (db_release) and opened again by the next borrower.
         */
        c->broken = true;
        log_warn("lost database connection", "stmt=%s sqlstate=%s error=\"%s\"", what,
                 state ? state : "-", msg);
        lg_fail(err, 503, "database_unavailable",
                "the database connection was lost; retry shortly");
    } else if (state && (!strcmp(state, "57014") || !strcmp(state, "55P03"))) {
        /* statement_timeout, lock_timeout (a probe's, or the operator's) */
        log_warn("database statement timed out", "stmt=%s error=\"%s\"", what, msg);
        lg_fail(err, 503, "database_busy",
                "the database did not answer in time (a lock or a slow statement); retry shortly");
    } else if (state && !strcmp(state, "26000")) {
        log_error("database statement failed: a prepared statement is missing (is db_uri a pooler "
                  "in transaction mode? then set db_transaction_pooling)",
                  "stmt=%s error=\"%s\"", what, msg);
        lg_fail(err, 500, "internal_error", "a database statement failed");
    } else {
        log_error("database statement failed", "stmt=%s error=\"%s\"", what, msg);
        lg_fail(err, 500, "internal_error", "a database statement failed");
    }
}

/* A statement found `c` dead: open it again (its prepared statements are gone). */
static bool reconnect(struct db_conn *c)
{
    PQreset(c->pg);
    memset(c->prepared, 0, sizeof(c->prepared));
    return PQstatus(c->pg) == CONNECTION_OK && PQpipelineStatus(c->pg) == PQ_PIPELINE_OFF;
}

/* Whether `sql` opens a transaction (then point 5's SET LOCAL follows it behind a pooler). */
static bool opens_transaction(const char *sql)
{
    return sql && !strncmp(sql, "BEGIN", 5) && (sql[5] == '\0' || sql[5] == ' ');
}

/* The pipeline's last result is its sync's, then pipeline mode ends: false
 * when either is not so (the connection is then broken). */
static bool pipeline_end(PGconn *pg)
{
    PGresult *res = PQgetResult(pg);
    bool ok = res && PQresultStatus(res) == PGRES_PIPELINE_SYNC;

    PQclear(res);
    return ok && PQexitPipelineMode(pg);
}

/*
 * Statement `s` in a transaction of its own that commits durably (db.h
 * point 5), for a connection through a transaction pooler: BEGIN, the SET
 * LOCAL, the statement and COMMIT in one pipeline, one round trip (the
 * pooler keeps one server connection for the lot). Returns the statement's
 * result when every step succeeded, else the first failed step's, or NULL
 * when the connection is out of step (dead, or the pipeline broke: the
 * caller marks it broken). A transaction a failure left open is rolled
 * back, so the connection can be used again.
 */
static PGresult *exec_durable(struct db_conn *c, const struct db_stmt *s, int nparams,
                              const char *const *params)
{
    const char *sql[4] = {"BEGIN", DURABLE_COMMIT, NULL, "COMMIT"};
    PGresult *got[4] = {NULL, NULL, NULL, NULL}, *res, *out = NULL;
    int i;

    if (!PQenterPipelineMode(c->pg))
        return NULL;
    for (i = 0; i < 4; i++)
        if (!(sql[i] ? PQsendQueryParams(c->pg, sql[i], 0, NULL, NULL, NULL, NULL, 0)
                     : PQsendQueryParams(c->pg, s->sql, nparams, NULL, params, NULL, NULL, 0)))
            goto broken;
    if (!PQpipelineSync(c->pg))
        goto broken;
    /* Each step answers one result and a NULL; the sync answers last. */
    for (i = 0; i < 4; i++) {
        if (!(got[i] = PQgetResult(c->pg)))
            goto broken;
        while ((res = PQgetResult(c->pg)))
            PQclear(res);
    }
    if (!pipeline_end(c->pg))
        goto broken;
    for (i = 0; i < 4 && !out; i++) {
        ExecStatusType st = PQresultStatus(got[i]);

        if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
            out = got[i];
            got[i] = NULL;
        }
    }
    if (!out) {
        out = got[2];
        got[2] = NULL;
    }
    for (i = 0; i < 4; i++)
        PQclear(got[i]);
    if (PQstatus(c->pg) == CONNECTION_OK && PQtransactionStatus(c->pg) == PQTRANS_INERROR) {
        res = PQexec(c->pg, "ROLLBACK");
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            c->broken = true;
        PQclear(res);
    }
    return out;

broken:
    for (i = 0; i < 4; i++)
        PQclear(got[i]);
    return NULL;
}

/* Prepare statement `idx` on `c` unless it already is; -1 with `err` on failure. */
static int prepare(struct db_conn *c, const struct db_table *t, int idx, int nparams, bool *retried,
                   struct lg_error *err)
{
    const struct db_stmt *s = &t->stmts[idx];
    int bit = t->base + idx;
    uint64_t mask = UINT64_C(1) << (bit % 64);
    PGresult *res;

again:
    if (pool.pooled || (c->prepared[bit / 64] & mask))
        return 0;
    res = PQprepare(c->pg, s->name, s->sql, nparams, NULL);
    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
        /* Preparing changes nothing: a connection found dead here is retried once. */
        if (retried && !*retried && PQstatus(c->pg) != CONNECTION_OK) {
            PQclear(res);
            res = NULL;
            *retried = true;
            if (reconnect(c))
                goto again;
        }
        fail_from(c, res, s->name, err);
        PQclear(res);
        return -1;
    }
    PQclear(res);
    c->prepared[bit / 64] |= mask;
    return 0;
}

PGresult *db_run(struct db_conn *c, const struct db_table *t, int idx, int nparams,
                 const char *const *params, struct lg_error *err)
{
    const struct db_stmt *s = &t->stmts[idx];
    PGresult *res;
    ExecStatusType st;
    bool retried = false, outside;

again:
    if (prepare(c, t, idx, nparams, &retried, err) < 0)
        return NULL;
    outside = PQtransactionStatus(c->pg) == PQTRANS_IDLE;
    if (pool.pooled && outside)
        res = exec_durable(c, s, nparams, params);
    else if (pool.pooled)
        res = PQexecParams(c->pg, s->sql, nparams, NULL, params, NULL, NULL, 0);
    else
        res = PQexecPrepared(c->pg, s->name, nparams, params, NULL, NULL, 0);
    st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        /*
         * A statement safe to repeat runs once more on a new connection when
         * this one died, or (outside a transaction of the caller's) when its
         * server went away or takes no writes: a fail-over that completed
         * costs it nothing.
         */
        if (s->retry && !retried &&
            (PQstatus(c->pg) != CONNECTION_OK ||
             (outside && res && db_fatal_state(PQresultErrorField(res, PG_DIAG_SQLSTATE))))) {
            PQclear(res);
            res = NULL;
            retried = true;
            if (reconnect(c))
                goto again;
        }
        fail_from(c, res, s->name, err);
        PQclear(res);
        return NULL;
    }
    return res;
}

int db_batch(struct db_conn *c, const struct db_table *t, struct db_step *steps, int n,
             struct lg_error *err)
{
    const char *what = "pipeline";
    PGresult *res;
    int rc = 0, i;

    for (i = 0; i < n; i++) {
        steps[i].res = NULL;
        if (!steps[i].sql && prepare(c, t, steps[i].idx, steps[i].n, NULL, err) < 0)
            return -1;
    }
    if (!PQenterPipelineMode(c->pg))
        goto broken;
    for (i = 0; i < n; i++) {
        const struct db_step *st = &steps[i];
        int ok;

        if (st->sql)
            ok = PQsendQueryParams(c->pg, st->sql, 0, NULL, NULL, NULL, NULL, 0) &&
                 (!pool.pooled || !opens_transaction(st->sql) ||
                  PQsendQueryParams(c->pg, DURABLE_COMMIT, 0, NULL, NULL, NULL, NULL, 0));
        else if (pool.pooled)
            ok = PQsendQueryParams(c->pg, t->stmts[st->idx].sql, st->n, NULL, st->params, NULL,
                                   NULL, 0);
        else
            ok = PQsendQueryPrepared(c->pg, t->stmts[st->idx].name, st->n, st->params, NULL, NULL,
                                     0);
        if (!ok)
            goto broken;
    }
    if (!PQpipelineSync(c->pg))
        goto broken;
    /* Each step answers one result and a NULL; the sync answers last. */
    for (i = 0; i < n; i++) {
        ExecStatusType st;

        what = steps[i].sql ? steps[i].sql : t->stmts[steps[i].idx].name;
        if (!(res = PQgetResult(c->pg)))
            goto broken;
        steps[i].res = res;
        while ((res = PQgetResult(c->pg)))
            PQclear(res);
        st = PQresultStatus(steps[i].res);
        if (rc == 0 && st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
            fail_from(c, steps[i].res, what, err);
            rc = -1;
        }
        if (pool.pooled && opens_transaction(steps[i].sql)) {
            /* the SET LOCAL sent after it */
            if (!(res = PQgetResult(c->pg)))
                goto broken;
            if (rc == 0 && PQresultStatus(res) != PGRES_COMMAND_OK) {
                fail_from(c, res, DURABLE_COMMIT, err);
                rc = -1;
            }
            PQclear(res);
            while ((res = PQgetResult(c->pg)))
                PQclear(res);
        }
    }
    if (!pipeline_end(c->pg))
        goto broken;
    if (rc < 0)
        for (i = 0; i < n; i++) {
            PQclear(steps[i].res);
            steps[i].res = NULL;
        }
    return rc;

broken:
    /* Out of step with the server: the connection is not reused (db_release). */
    if (rc == 0)
        fail_from(c, NULL, what, err);
    for (i = 0; i < n; i++) {
        PQclear(steps[i].res);
        steps[i].res = NULL;
    }
    c->broken = true;
    return -1;
}

int db_exec(struct db_conn *c, const char *sql, struct lg_error *err)
{
    char durable[256];
    PGresult *res;

    /* One round trip still: the simple protocol takes both statements at once. */
    if (pool.pooled && opens_transaction(sql) &&
        strlen(sql) + sizeof(DURABLE_COMMIT) + 2 <= sizeof(durable)) {
        lg_snprintf(durable, sizeof(durable), "%s; %s", sql, DURABLE_COMMIT);
        sql = durable;
    }
    res = PQexec(c->pg, sql);

    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
        fail_from(c, res, sql, err);
        PQclear(res);
        return -1;
    }
    PQclear(res);
    return 0;
}

int db_direct(PGconn *pg, char *errbuf, size_t errlen)
{
    PGresult *res = PQexec(pg, "SELECT pg_backend_pid()");
    char *end = NULL;
    long pid = 0;
    int rc = -1;

    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        pid = strtol(PQgetvalue(res, 0, 0), &end, 10);
        if (end && !*end && end != PQgetvalue(res, 0, 0))
            rc = pid == (long)PQbackendPID(pg) ? 1 : 0;
        else
            lg_strlcpy(errbuf, "pg_backend_pid() gave no number", errlen);
    } else {
        lg_strlcpy(errbuf, PQresultErrorMessage(res), errlen);
        for (char *p = errbuf; *p; p++)
            if (*p == '\n')
                *p = ' ';
    }
    PQclear(res);
    return rc;
}

#define IDENTITY_WAIT_MS 5000 /* db_pool_identity's answer */
#define IDENTITY_SQL                                                                               \
    "SELECT pg_backend_pid(), s.system_identifier, current_database(), i.id"                       \
    "  FROM pg_control_system() s, database_identity i"

/* Fill `id` from IDENTITY_SQL's row; false when a value does not fit. */
static bool identity_from(PGresult *res, struct db_identity *id)
{
    return lg_strlcpy(id->system, PQgetvalue(res, 0, 1), sizeof(id->system)) == 0 &&
           lg_strlcpy(id->database, PQgetvalue(res, 0, 2), sizeof(id->database)) == 0 &&
           lg_strlcpy(id->id, PQgetvalue(res, 0, 3), sizeof(id->id)) == 0;
}

int db_identity(PGconn *pg, struct db_identity *id, int *direct, char *errbuf, size_t errlen)
{
    PGresult *res = PQexec(pg, IDENTITY_SQL);
    char *end = NULL;
    long pid;
    int rc = -1;

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        lg_strlcpy(errbuf, PQresultErrorMessage(res), errlen);
        for (char *p = errbuf; *p; p++)
            if (*p == '\n')
                *p = ' ';
        goto out;
    }
    if (PQntuples(res) != 1 || !identity_from(res, id)) {
        lg_strlcpy(errbuf, "database_identity does not hold one row", errlen);
        goto out;
    }
    pid = strtol(PQgetvalue(res, 0, 0), &end, 10);
    if (!end || *end || end == PQgetvalue(res, 0, 0)) {
        lg_strlcpy(errbuf, "pg_backend_pid() gave no number", errlen);
        goto out;
    }
    if (direct)
        *direct = pid == (long)PQbackendPID(pg) ? 1 : 0;
    rc = 0;
out:
    PQclear(res);
    return rc;
}

/*
 * Send `sql` on `c` and wait at most `ms` for its answer: a pooler holds a
 * query while it has no server, a listener must not wait that long. NULL
 * (with `c` marked broken, so closed on release) when it took longer or the
 * connection failed; else the first result (the caller PQclears it).
 */
static PGresult *exec_within(struct db_conn *c, const char *sql, int ms)
{
    int64_t deadline = now_ms() + ms;
    PGresult *res, *more;

    if (!PQsendQuery(c->pg, sql))
        return NULL;
    while (PQisBusy(c->pg)) {
        struct pollfd fd = {PQsocket(c->pg), POLLIN, 0};
        int64_t left = deadline - now_ms();

        if (left <= 0 || (poll(&fd, 1, (int)left) < 0 && errno != EINTR) ||
            !PQconsumeInput(c->pg)) {
            c->broken = true;
            return NULL;
        }
    }
    res = PQgetResult(c->pg);
    while ((more = PQgetResult(c->pg)))
        PQclear(more);
    return res;
}

int db_pool_identity(struct db_identity *id, struct lg_error *err)
{
    struct db_conn *c = db_acquire(err);
    PGresult *res;
    int rc = -1;

    if (!c)
        return -1;
    res = exec_within(c, IDENTITY_SQL, IDENTITY_WAIT_MS);
    if (!res && c->broken) {
        log_warn("could not read the database's identity", "timeout_ms=%d error=\"%s\"",
                 IDENTITY_WAIT_MS, PQerrorMessage(c->pg));
        lg_fail(err, 503, "database_unavailable",
                "the database did not answer in time; retry shortly");
        goto out;
    }
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        fail_from(c, res, "database identity", err);
        goto out;
    }
    if (PQntuples(res) != 1 || !identity_from(res, id)) {
        lg_fail(err, 500, "internal_error", "database_identity does not hold one row");
        goto out;
    }
    rc = 0;
out:
    PQclear(res);
    db_release(c);
    return rc;
}

bool db_identity_same(const struct db_identity *a, const struct db_identity *b)
{
    return !strcmp(a->system, b->system) && !strcmp(a->database, b->database) &&
           !strcmp(a->id, b->id);
}
