/*
 * janitor.c - the retention thread of a worker process; see janitor.h.
 */
#include "janitor.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "db.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "store_janitor.h"

#define OUTBOX_KEEP_DAYS 7
#define PAUSE_MS 100       /* between two batches of a run */
#define DISABLED_LOOK_S 60 /* janitor_interval 0: look at the setting again this often */
#define FIRST_RUN_MS 2000  /* the first run, soon after the worker starts */
/* Expired sign-ins stay an hour: a late attempt is still told "expired", not "unknown". */
#define EXPIRED_KEEP_S 3600

static const char *const names[JT_COUNT] = {
    [JT_OUTBOX] = "outbox",
    [JT_TG_UPDATES] = "tg_updates",
    [JT_MCP_SESSIONS] = "mcp_sessions",
    [JT_CONSOLE_SESSIONS] = "console_sessions",
    [JT_CONSOLE_LINKS] = "console_links",
    [JT_TG_LOGINS] = "tg_logins",
    [JT_REQUESTS] = "requests",
    [JT_VOTES] = "votes",
    [JT_AUDIT_LOG] = "audit_log",
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping;
    bool woken; /* janitor_wake since the thread last looked */
    bool started;
    pthread_t thread;
    long totals[JT_COUNT];
} J = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

/* One run's figures. */
struct run {
    struct db_conn *c;
    int batch;
    long rows[JT_COUNT];
    long batches;
};

const char *janitor_table_name(enum janitor_table t)
{
    return t >= 0 && t < JT_COUNT ? names[t] : "?";
}

void janitor_totals(long rows[JT_COUNT])
{
    pthread_mutex_lock(&J.lock);
    memcpy(rows, J.totals, sizeof(J.totals));
    pthread_mutex_unlock(&J.lock);
}

/*
 * A run deleted `rows` rows of `table`: the per-process totals and the
 * host's metrics counter (loopgate_janitor_deleted_rows_total).
 */
static void janitor_deleted(enum janitor_table table, long rows)
{
    pthread_mutex_lock(&J.lock);
    J.totals[table] += rows;
    pthread_mutex_unlock(&J.lock);
    metrics_janitor_deleted(janitor_table_name(table), rows);
}

/* Sleep `ms` or until stopped; false when stopping. */
static bool pause_ms(long ms)
{
    struct timespec until = deadline_in_ms(CLOCK_REALTIME, ms);
    bool stopping;

    pthread_mutex_lock(&J.lock);
    while (!J.stopping && pthread_cond_timedwait(&J.wake, &J.lock, &until) == 0)
        ;
    stopping = J.stopping;
    pthread_mutex_unlock(&J.lock);
    return !stopping;
}

/* Delete one kind's old rows, batch after batch; -1 on an error (logged) or stop. */
static int sweep(struct run *r, enum janitor_kind kind, enum janitor_table table, int age)
{
    struct lg_error err;

    for (;;) {
        long n = store_janitor_delete(r->c, kind, age, r->batch, &err);

        if (n < 0) {
            log_warn("janitor: could not delete old rows", "table=%s error=\"%s\"", names[table],
                     err.message);
            return -1;
        }
        r->batches++;
        r->rows[table] += n;
        if (n < r->batch)
            return 0;
        if (!pause_ms(PAUSE_MS))
            return -1;
    }
}

static int sweep_requests(struct run *r, int days)
{
    struct lg_error err;

    for (;;) {
        long req = 0, votes = 0, outbox = 0;

        if (store_janitor_requests(r->c, days, r->batch, &req, &votes, &outbox, &err) < 0) {
            log_warn("janitor: could not delete old requests", "error=\"%s\"", err.message);
            return -1;
        }
        r->batches++;
        r->rows[JT_REQUESTS] += req;
        r->rows[JT_VOTES] += votes;
        r->rows[JT_OUTBOX] += outbox;
        if (req < r->batch)
            return 0;
        if (!pause_ms(PAUSE_MS))
            return -1;
    }
}

static int sweep_audit(struct run *r, int days)
{
    char after[256] = "", tenant[256];
    struct lg_error err;

    for (;;) {
        long n = 0;

        if (store_janitor_audit(r->c, after, days, r->batch, tenant, sizeof(tenant), &n, &err) <
            0) {
            log_warn("janitor: could not remove exported audit rows", "error=\"%s\"", err.message);
            return -1;
        }
        if (!tenant[0])
            return 0; /* every tenant seen */
        r->batches++;
        r->rows[JT_AUDIT_LOG] += n;
        if (n < r->batch) /* this tenant is done: on to the next */
            memcpy(after, tenant, sizeof(after));
        if (n > 0 && !pause_ms(PAUSE_MS))
            return -1;
    }
}

/*
 * The conninfo of a run's session (janitor.h point 1), or NULL (logged)
 * when no connection is known to be a session of PostgreSQL's own.
 */
static const char *session_uri(const struct config *cfg)
{
    if (!*cfg->db_listen_uri) {
        if (!cfg->db_transaction_pooling)
            return cfg->db_uri;
        log_warn("janitor: db_transaction_pooling without db_listen_uri; skipping this run", "%s",
                 "");
        return NULL;
    }
    switch (notify_route()) {
    case NOTIFY_ROUTE_OWN:
        return cfg->db_listen_uri;
    case NOTIFY_ROUTE_POOLER:
        log_warn("janitor: db_listen_uri goes through a connection pooler (see /readyz); "
                 "skipping this run",
                 "%s", "");
        return NULL;
    case NOTIFY_ROUTE_OTHER_DB:
        log_warn("janitor: db_listen_uri reaches another database than db_uri (see /readyz); "
                 "skipping this run",
                 "%s", "");
        return NULL;
    case NOTIFY_ROUTE_UNKNOWN:
        break;
    }
    log_debug("janitor: the listener has not yet checked db_listen_uri; skipping this run", "%s",
              "");
    return NULL;
}

/*
 * Whether the run's session `c` (on db_listen_uri) is in the database db_uri
 * reaches: the listener compared its own connection, this one may have
 * found another server since. False (logged) when not, or when it could not
 * be asked.
 */
static bool same_database(struct db_conn *c)
{
    struct db_identity mine, theirs;
    struct lg_error err;
    char why[256];

    if (db_identity(c->pg, &mine, NULL, why, sizeof(why)) < 0) {
        log_warn("janitor: could not ask which database db_listen_uri reaches; skipping this run",
                 "error=\"%s\"", why);
        return false;
    }
    if (db_pool_identity(&theirs, &err) < 0) {
        log_warn("janitor: could not read which database db_uri reaches; skipping this run",
                 "error=\"%s\"", err.message);
        return false;
    }
    if (!db_identity_same(&mine, &theirs)) {
        log_warn("janitor: db_listen_uri reaches another database than db_uri; skipping this run",
                 "listen_database=%s listen_system_identifier=%s listen_id=%s database=%s "
                 "system_identifier=%s id=%s",
                 mine.database, mine.system, mine.id, theirs.database, theirs.system, theirs.id);
        return false;
    }
    return true;
}

static void run_once(const struct config *cfg)
{
    struct run r = {.batch = cfg->janitor_batch};
    struct lg_error err;
    int64_t start = now_ms();
    const char *uri = session_uri(cfg);
    bool busy;
    int rc = 0;

    if (!uri)
        return;
    /* A session of its own (its lock is the session's): the direct connection. */
    r.c = store_janitor_open(uri, &busy, &err);
    if (!r.c) {
        if (busy)
            log_debug("janitor: another process holds the janitor lock; skipping this run", "%s",
                      "");
        else
            log_warn("janitor: could not reach the database", "error=\"%s\"", err.message);
        return;
    }
    if (*cfg->db_listen_uri && !same_database(r.c)) {
        store_janitor_close(r.c);
        return;
    }
    rc = sweep(&r, JK_OUTBOX, JT_OUTBOX, OUTBOX_KEEP_DAYS);
    if (rc == 0)
        rc = sweep(&r, JK_TG_UPDATES, JT_TG_UPDATES, cfg->telegram_update_window_hours);
    if (rc == 0)
        rc = sweep(&r, JK_MCP_SESSIONS, JT_MCP_SESSIONS, cfg->mcp_session_idle);
    if (rc == 0)
        rc = sweep(&r, JK_CONSOLE_SESSIONS, JT_CONSOLE_SESSIONS, EXPIRED_KEEP_S);
    if (rc == 0)
        rc = sweep(&r, JK_CONSOLE_LINKS, JT_CONSOLE_LINKS, EXPIRED_KEEP_S);
    if (rc == 0)
        rc = sweep(&r, JK_TG_LOGINS, JT_TG_LOGINS, EXPIRED_KEEP_S);
    if (rc == 0 && cfg->retention_days > 0)
        rc = sweep_requests(&r, cfg->retention_days);
    if (rc == 0 && cfg->audit_retention_days > 0)
        rc = sweep_audit(&r, cfg->audit_retention_days);
    store_janitor_close(r.c);
    for (int t = 0; t < JT_COUNT; t++)
        if (r.rows[t] > 0)
            janitor_deleted((enum janitor_table)t, r.rows[t]);
    log_info(rc == 0 ? "janitor run" : "janitor run ended early",
             "outbox=%ld tg_updates=%ld mcp_sessions=%ld console_sessions=%ld console_links=%ld "
             "tg_logins=%ld requests=%ld votes=%ld audit_log=%ld batches=%ld ms=%lld",
             r.rows[JT_OUTBOX], r.rows[JT_TG_UPDATES], r.rows[JT_MCP_SESSIONS],
             r.rows[JT_CONSOLE_SESSIONS], r.rows[JT_CONSOLE_LINKS], r.rows[JT_TG_LOGINS],
             r.rows[JT_REQUESTS], r.rows[JT_VOTES], r.rows[JT_AUDIT_LOG], r.batches,
             (long long)(now_ms() - start));
}

/*
 * Sleep until now_ms() reaches `until_ms`: 0 then, 1 when janitor_wake came
 * first, -1 when stopping.
 */
static int pause_until(int64_t until_ms)
{
    struct timespec until;
    int64_t ms = until_ms - now_ms();
    int rc = 0;

    if (ms < 0)
        ms = 0;
    until = deadline_in_ms(CLOCK_REALTIME, ms);
    pthread_mutex_lock(&J.lock);
    while (!J.stopping && !J.woken && pthread_cond_timedwait(&J.wake, &J.lock, &until) == 0)
        ;
    if (J.stopping)
        rc = -1;
    else if (J.woken)
        rc = 1;
    J.woken = false;
    pthread_mutex_unlock(&J.lock);
    return rc;
}

/* The time between two runs (or two looks at a disabled janitor), in ms. */
static int64_t interval_ms(const struct config *cfg)
{
    return (cfg->janitor_interval > 0 ? cfg->janitor_interval : DISABLED_LOOK_S) * 1000L;
}

static void *janitor_thread(void *arg)
{
    int64_t first = now_ms() + FIRST_RUN_MS, next = first, last = 0;
    bool ran = false;

    (void)arg;
    for (;;) {
        const struct config *cfg;
        int w = pause_until(next);

        if (w < 0)
            break;
        cfg = config_current(); /* a reload meanwhile applies to this run */
        if (w == 1) {
            /* A reload: the interval now set counts from the last run (at once if past). */
            next = ran ? last + interval_ms(cfg) : first;
            continue;
        }
        if (cfg->janitor_interval > 0) {
            run_once(cfg);
            ran = true;
            last = now_ms();
        }
        next = now_ms() + interval_ms(cfg);
    }
    return NULL;
}

void janitor_wake(void)
{
    pthread_mutex_lock(&J.lock);
    J.woken = true;
    pthread_cond_broadcast(&J.wake);
    pthread_mutex_unlock(&J.lock);
}

int janitor_start(void)
{
    J.stopping = false;
    if (pthread_create(&J.thread, NULL, janitor_thread, NULL) != 0)
        return -1;
    J.started = true;
    return 0;
}

void janitor_stop(void)
{
    if (!J.started)
        return;
    pthread_mutex_lock(&J.lock);
    J.stopping = true;
    pthread_cond_broadcast(&J.wake);
    pthread_mutex_unlock(&J.lock);
    pthread_join(J.thread, NULL);
    J.started = false;
}
