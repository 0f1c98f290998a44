/*
 * db.c - see db.h.
 */
#include "db.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

#define ACQUIRE_WAIT_MS 5000

static struct {
    pthread_mutex_t lock;
    pthread_cond_t freed;
    char *conninfo;
    int size;
    int open;             /* connections that exist, idle or borrowed */
    struct db_conn *idle; /* stack of idle connections */
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, 0, NULL};

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

PGconn *db_connect(const char *conninfo, char *errbuf, size_t errlen)
{
    /* Our defaults first; the operator's conninfo (expand_dbname) overrides them. */
    const char *keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *vals[] = {"5", "loopgate", conninfo, NULL};
    PGconn *pg = PQconnectdbParams(keys, vals, 1);

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
    return pg;
}

struct db_conn *db_acquire(struct lg_error *err)
{
    struct db_conn *c = NULL;
    struct timespec deadline;
    char errbuf[256];

    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += ACQUIRE_WAIT_MS / 1000;

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
        if (pthread_cond_timedwait(&pool.freed, &pool.lock, &deadline) == ETIMEDOUT) {
            pthread_mutex_unlock(&pool.lock);
            lg_fail(err, 503, "database_busy", "all database connections are busy; retry shortly");
            return NULL;
        }
    }
    pthread_mutex_unlock(&pool.lock);

    /*
     * A server that restarted has closed our idle socket; reading what is
     * pending (no round trip) notices that before a statement is sent.
     */
    if (c && PQconsumeInput(c->pg) && PQstatus(c->pg) == CONNECTION_OK) {
        PGnotify *n;
        while ((n = PQnotifies(c->pg)))
            PQfreemem(n);
        return c;
    }
    if (c) {
        PQfinish(c->pg);
        c->pg = NULL;
    } else {
        c = xcalloc(1, sizeof(*c));
    }
    c->prepared = 0;
    c->pg = db_connect(pool.conninfo, errbuf, sizeof(errbuf));
    if (!c->pg) {
        log_warn("could not connect to database", "error=\"%s\"", errbuf);
        free(c);
        pthread_mutex_lock(&pool.lock);
        pool.open--;
        pthread_cond_signal(&pool.freed);
        pthread_mutex_unlock(&pool.lock);
        lg_fail(err, 503, "database_unavailable", "the database is unreachable; retry shortly");
        return NULL;
    }
    return c;
}

void db_release(struct db_conn *c)
{
    if (!c)
        return;
    if (PQstatus(c->pg) != CONNECTION_OK || PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
        /* Broken, or left inside a transaction by a failed caller: drop it. */
        PQfinish(c->pg);
        free(c);
        pthread_mutex_lock(&pool.lock);
        pool.open--;
    } else {
        pthread_mutex_lock(&pool.lock);
        c->next = pool.idle;
        pool.idle = c;
    }
    pthread_cond_signal(&pool.freed);
    pthread_mutex_unlock(&pool.lock);
}

static void fail_from(struct db_conn *c, PGresult *res, const char *what, struct lg_error *err)
{
    const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(c->pg);

    if (PQstatus(c->pg) != CONNECTION_OK) {
        log_warn("lost database connection", "stmt=%s error=\"%s\"", what, msg);
        lg_fail(err, 503, "database_unavailable",
                "the database connection was lost; retry shortly");
    } else {
        log_error("database statement failed", "stmt=%s error=\"%s\"", what, msg);
        lg_fail(err, 500, "internal_error", "a database statement failed");
    }
}

PGresult *db_run(struct db_conn *c, const struct db_stmt *stmts, int idx, int nparams,
                 const char *const *params, struct lg_error *err)
{
    const struct db_stmt *s = &stmts[idx];
    PGresult *res;
    ExecStatusType st;
    bool retried = false;

again:
    if (!(c->prepared & (UINT64_C(1) << idx))) {
        res = PQprepare(c->pg, s->name, s->sql, nparams, NULL);
        if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
            /* Preparing changes nothing: a connection found dead here is retried once. */
            if (!retried && PQstatus(c->pg) != CONNECTION_OK) {
                PQclear(res);
                retried = true;
                PQreset(c->pg);
                c->prepared = 0;
                if (PQstatus(c->pg) == CONNECTION_OK)
                    goto again;
                res = NULL;
            }
            fail_from(c, res, s->name, err);
            PQclear(res);
            return NULL;
        }
        PQclear(res);
        c->prepared |= UINT64_C(1) << idx;
    }
    res = PQexecPrepared(c->pg, s->name, nparams, params, NULL, NULL, 0);
    st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        if (s->retry && !retried && PQstatus(c->pg) != CONNECTION_OK) {
            PQclear(res);
            retried = true;
            PQreset(c->pg);
            c->prepared = 0;
            if (PQstatus(c->pg) == CONNECTION_OK)
                goto again;
            res = NULL;
        }
        fail_from(c, res, s->name, err);
        PQclear(res);
        return NULL;
    }
    return res;
}

int db_exec(struct db_conn *c, const char *sql, struct lg_error *err)
{
    PGresult *res = PQexec(c->pg, sql);

    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
        fail_from(c, res, sql, err);
        PQclear(res);
        return -1;
    }
    PQclear(res);
    return 0;
}
