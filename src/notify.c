/*
 * notify.c - see notify.h.
 */
#include "notify.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "db.h"
#include "keycache.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

static struct {
    const struct config *cfg;
    pthread_t thread;
    bool started;
    atomic_bool stopping;
    int wake_pipe[2];
    pthread_mutex_t lock;
    pthread_cond_t outbox_cond;   /* delivery threads wait for a kick */
    pthread_cond_t sleep_cond;    /* notify_sleep() waits for shutdown only */
    bool outbox_kicked;           /* a kick no delivery thread has answered yet */
    int64_t kick_at;              /* realtime ms from which that kick is due (0: now) */
    int64_t paced_until;          /* realtime ms before which the bot sends nothing */
    pthread_cond_t hook_cond;     /* the webhook lane's threads wait for a kick */
    bool hook_kicked;             /* a kick no webhook thread has answered yet */
    atomic_bool listening;        /* the LISTEN connection is up (notify_listening) */
    atomic_int route;             /* enum notify_route of the last connect */
    _Atomic int64_t down_since;   /* now_ms() when it last went down, or started */
    struct db_identity listen_id; /* db_listen_uri's database at the last comparison (lock) */
    struct db_identity uri_id;    /* db_uri's, then (lock) */
    bool compared;                /* those two were read (lock) */
} N = {.lock = PTHREAD_MUTEX_INITIALIZER,
       .outbox_cond = PTHREAD_COND_INITIALIZER,
       .hook_cond = PTHREAD_COND_INITIALIZER,
       .sleep_cond = PTHREAD_COND_INITIALIZER,
       .wake_pipe = {-1, -1}};

/* Shutdown: every thread asleep in notify_wait_outbox() or notify_sleep() returns. */
static void wake_sleepers(void)
{
    pthread_mutex_lock(&N.lock);
    pthread_cond_broadcast(&N.outbox_cond);
    pthread_cond_broadcast(&N.hook_cond);
    pthread_cond_broadcast(&N.sleep_cond);
    pthread_mutex_unlock(&N.lock);
}

/* ---------------------------------------------------------------- waiters */

#define BUCKETS 1024

static struct {
    pthread_mutex_t lock[BUCKETS];
    struct waiter *head[BUCKETS];
    pthread_mutex_t count_lock;
    int count;
    atomic_bool stopping;
} T = {.count_lock = PTHREAD_MUTEX_INITIALIZER};

static pthread_once_t T_once = PTHREAD_ONCE_INIT;

static void table_init(void)
{
    for (int i = 0; i < BUCKETS; i++)
        pthread_mutex_init(&T.lock[i], NULL);
}

static unsigned bucket_of(const char *id)
{
    unsigned h = 2166136261u;

    for (; *id; id++)
        h = (h ^ (unsigned char)*id) * 16777619u;
    return h % BUCKETS;
}

int notify_waiter_add(struct waiter *w, const char *id, const char *tenant, int max_waiters)
{
    unsigned b;
    pthread_condattr_t attr;

    pthread_once(&T_once, table_init);
    pthread_mutex_lock(&T.count_lock);
    if (T.count >= max_waiters) {
        pthread_mutex_unlock(&T.count_lock);
        return -1;
    }
    T.count++;
    pthread_mutex_unlock(&T.count_lock);

    lg_strlcpy(w->id, id, sizeof(w->id));
    w->tenant = tenant;
    w->woken = false;
    w->row = NULL;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cond, &attr);
    pthread_condattr_destroy(&attr);
    b = bucket_of(w->id);
    pthread_mutex_lock(&T.lock[b]);
    w->next = T.head[b];
    T.head[b] = w;
    pthread_mutex_unlock(&T.lock[b]);
    return 0;
}

void notify_waiter_remove(struct waiter *w)
{
    unsigned b = bucket_of(w->id);
    struct waiter **p;

    pthread_mutex_lock(&T.lock[b]);
    for (p = &T.head[b]; *p; p = &(*p)->next)
        if (*p == w) {
            *p = w->next;
            break;
        }
    pthread_mutex_unlock(&T.lock[b]);
    json_decref(w->row); /* handed over after the last wake */
    w->row = NULL;
    pthread_cond_destroy(&w->cond);
    pthread_mutex_lock(&T.count_lock);
    T.count--;
    pthread_mutex_unlock(&T.count_lock);
}

json_t *notify_waiter_sleep(struct waiter *w, int64_t deadline_ms)
{
    unsigned b = bucket_of(w->id);
    struct timespec until = {(time_t)(deadline_ms / 1000), (long)(deadline_ms % 1000) * 1000000};
    json_t *row;

    pthread_mutex_lock(&T.lock[b]);
    while (!w->woken && !T.stopping)
        if (pthread_cond_timedwait(&w->cond, &T.lock[b], &until) == ETIMEDOUT)
            break;
    w->woken = false;
    row = w->row;
    w->row = NULL;
    pthread_mutex_unlock(&T.lock[b]);
    return row;
}

int notify_waiters(void)
{
    int n;

    pthread_mutex_lock(&T.count_lock);
    n = T.count;
    pthread_mutex_unlock(&T.count_lock);
    return n;
}

/* Wake the waiters of request `id`, or every waiter when id is NULL. */
static void wake(const char *id)
{
    pthread_once(&T_once, table_init);
    for (unsigned b = id ? bucket_of(id) : 0; b < BUCKETS; b++) {
        pthread_mutex_lock(&T.lock[b]);
        for (struct waiter *w = T.head[b]; w; w = w->next)
            if (!id || !strcmp(w->id, id)) {
                w->woken = true;
                pthread_cond_signal(&w->cond);
            }
        pthread_mutex_unlock(&T.lock[b]);
        if (id)
            break;
    }
}

/* Whether request `id` has a waiter in this process. */
static bool has_waiter(const char *id)
{
    unsigned b = bucket_of(id);
    bool found = false;

    pthread_once(&T_once, table_init);
    pthread_mutex_lock(&T.lock[b]);
    for (struct waiter *w = T.head[b]; w && !found; w = w->next)
        found = !strcmp(w->id, id);
    pthread_mutex_unlock(&T.lock[b]);
    return found;
}

void notify_hand_row(const char *id, const char *tenant, json_t *poll)
{
    unsigned b = bucket_of(id);

    pthread_mutex_lock(&T.lock[b]);
    for (struct waiter *w = T.head[b]; w; w = w->next)
        if (!strcmp(w->id, id) && !strcmp(w->tenant, tenant)) {
            json_decref(w->row);
            w->row = json_deep_copy(poll);
        }
    pthread_mutex_unlock(&T.lock[b]);
}

void notify_wake_all_stop(void)
{
    T.stopping = true;
    wake(NULL);
    wake_sleepers();
}

/* ---------------------------------------------------------------- outbox */

static int64_t realtime_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/*
 * Outbox work may have appeared: one delivery thread must look after this
 * moment. One kick wakes one thread (a thread that then claims a full batch
 * kicks the next, delivery.c); kicks that come before any thread looked are
 * answered by that one look.
 */
static void kick_locked(int64_t at)
{
    N.outbox_kicked = true;
    N.kick_at = at;
    pthread_cond_signal(&N.outbox_cond);
}

void notify_outbox_kick(void)
{
    pthread_mutex_lock(&N.lock);
    kick_locked(0);
    N.hook_kicked = true;
    pthread_cond_signal(&N.hook_cond);
    pthread_mutex_unlock(&N.lock);
}

void notify_webhook_kick(void)
{
    pthread_mutex_lock(&N.lock);
    N.hook_kicked = true;
    pthread_cond_signal(&N.hook_cond);
    pthread_mutex_unlock(&N.lock);
}

bool notify_wait_webhook(int timeout_ms)
{
    struct timespec ts;
    int64_t until = realtime_ms() + timeout_ms;
    bool kicked;

    pthread_mutex_lock(&N.lock);
    while (!N.stopping && !T.stopping && !N.hook_kicked) {
        ts = (struct timespec){.tv_sec = until / 1000, .tv_nsec = (long)(until % 1000) * 1000000};
        if (pthread_cond_timedwait(&N.hook_cond, &N.lock, &ts) == ETIMEDOUT)
            break;
    }
    kicked = N.hook_kicked;
    N.hook_kicked = false;
    pthread_mutex_unlock(&N.lock);
    return kicked;
}

/*
 * Only paced Telegram sends were queued. While the bot is known to send
 * nothing before some time, a look before then would find nothing to take:
 * the kick is due at that time, so a burst of submits into a saturated bot
 * costs one look, not one per submit.
 */
void notify_outbox_kick_paced(void)
{
    pthread_mutex_lock(&N.lock);
    if (N.paced_until <= realtime_ms())
        kick_locked(0);
    else if (!N.outbox_kicked || N.kick_at > N.paced_until)
        kick_locked(N.paced_until);
    pthread_mutex_unlock(&N.lock);
}

void notify_paced_for(int ms)
{
    pthread_mutex_lock(&N.lock);
    N.paced_until = ms > 0 ? realtime_ms() + ms : 0;
    pthread_mutex_unlock(&N.lock);
}

static struct timespec ms_timespec(int64_t ms)
{
    return (struct timespec){.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
}

/*
 * Sleep for `timeout_ms`, or until shutdown, or (with `take_kick`, on the
 * outbox condition) until a kick is due, which this thread then answers:
 * true then.
 * Plain sleeps wait on a condition of their own: a kick's single wake-up
 * must reach a delivery thread.
 */
static bool timed_wait(int timeout_ms, bool take_kick)
{
    pthread_cond_t *cond = take_kick ? &N.outbox_cond : &N.sleep_cond;
    int64_t until = realtime_ms() + timeout_ms;
    bool kicked;

    pthread_mutex_lock(&N.lock);
    while (!N.stopping && !T.stopping) {
        int64_t wake_at = until;
        struct timespec ts;

        if (take_kick && N.outbox_kicked) {
            if (N.kick_at <= realtime_ms())
                break;
            if (N.kick_at < wake_at)
                wake_at = N.kick_at;
        }
        ts = ms_timespec(wake_at);
        if (pthread_cond_timedwait(cond, &N.lock, &ts) == ETIMEDOUT && wake_at == until)
            break;
    }
    kicked = take_kick && N.outbox_kicked && N.kick_at <= realtime_ms();
    if (kicked)
        N.outbox_kicked = false;
    pthread_mutex_unlock(&N.lock);
    return kicked;
}

bool notify_wait_outbox(int timeout_ms)
{
    return timed_wait(timeout_ms, true);
}

void notify_sleep(int timeout_ms)
{
    (void)timed_wait(timeout_ms, false);
}

bool notify_stopping(void)
{
    return N.stopping || T.stopping;
}

#define COMPARE_RETRY_MS 1000 /* db_uri's identity could not be read: ask again this soon */

/*
 * Compare `mine`, the database the LISTEN session is in, with the one the
 * pool (db_uri) reaches, and note the route (notify.h point 6). -1 (the
 * route unknown; logged as a warning unless this is a `retry`) when db_uri's
 * could not be read. A mismatch is logged once, when first found.
 */
static int listen_compare(const struct db_identity *mine, bool retry)
{
    struct db_identity theirs;
    struct lg_error err;
    bool same;

    if (db_pool_identity(&theirs, &err) < 0) {
        atomic_store(&N.route, NOTIFY_ROUTE_UNKNOWN);
        if (retry)
            log_debug("listener could not read which database db_uri reaches, again",
                      "error=\"%s\"", err.message);
        else
            log_warn("listener could not read which database db_uri reaches; asking again every "
                     "second",
                     "error=\"%s\"", err.message);
        return -1;
    }
    pthread_mutex_lock(&N.lock);
    N.listen_id = *mine;
    N.uri_id = theirs;
    N.compared = true;
    pthread_mutex_unlock(&N.lock);
    same = db_identity_same(mine, &theirs);
    if (same)
        atomic_store(&N.route, NOTIFY_ROUTE_OWN);
    else if (atomic_exchange(&N.route, NOTIFY_ROUTE_OTHER_DB) != NOTIFY_ROUTE_OTHER_DB)
        log_error("db_listen_uri reaches another database than db_uri: notifications are sent "
                  "where nobody listens and waiters are woken late; /readyz fails and the janitor "
                  "does not run until both name the same database",
                  "listen_database=%s listen_system_identifier=%s listen_id=%s database=%s "
                  "system_identifier=%s id=%s",
                  mine->database, mine->system, mine->id, theirs.database, theirs.system,
                  theirs.id);
    return 0;
}

/*
 * Note how `pg` reaches PostgreSQL and which database it is in (notify.h
 * point 6): 0, 1 when the comparison with db_uri's database is still owed
 * (*mine then holds `pg`'s identity), -1 (logged) when `pg` could not be
 * asked. A pooler is logged once, when first found.
 */
static int listen_route(PGconn *pg, struct db_identity *mine)
{
    char why[256];
    int direct = 0;

    if (!*N.cfg->db_listen_uri) {
        atomic_store(&N.route, NOTIFY_ROUTE_OWN);
        return 0;
    }
    if (db_identity(pg, mine, &direct, why, sizeof(why)) < 0) {
        log_warn("listener could not ask which database db_listen_uri reaches (is it migrated?)",
                 "error=\"%s\"", why);
        return -1;
    }
    if (!direct) {
        if (atomic_exchange(&N.route, NOTIFY_ROUTE_POOLER) != NOTIFY_ROUTE_POOLER)
            log_error("db_listen_uri goes through a connection pooler: notifications may go to "
                      "other clients and waiters are woken late; /readyz fails and the janitor "
                      "does not run until it names PostgreSQL itself",
                      "backend_pid_announced=%d", PQbackendPID(pg));
        return 0;
    }
    return listen_compare(mine, false) < 0 ? 1 : 0;
}

enum notify_route notify_route(void)
{
    return (enum notify_route)atomic_load(&N.route);
}

bool notify_identities(struct db_identity *listen, struct db_identity *uri)
{
    bool compared;

    pthread_mutex_lock(&N.lock);
    compared = N.compared;
    if (compared) {
        *listen = N.listen_id;
        *uri = N.uri_id;
    }
    pthread_mutex_unlock(&N.lock);
    return compared;
}

/*
 * Open the LISTEN connection; NULL on failure (logged). *owed: the
 * comparison with db_uri's database could not be made yet (*mine is this
 * connection's identity for the next try).
 */
static PGconn *listen_connect(struct db_identity *mine, bool *owed)
{
    char err[256];
    /* LISTEN needs a session of its own: never through a pooler in transaction mode. */
    PGconn *pg =
        db_connect(*N.cfg->db_listen_uri ? N.cfg->db_listen_uri : N.cfg->db_uri, err, sizeof(err));
    PGresult *res;
    int route;

    if (!pg) {
        log_warn("listener could not connect to database", "error=\"%s\"", err);
        return NULL;
    }
    res = PQexec(pg,
                 "SET application_name = 'loopgate listener'; LISTEN lg_request; LISTEN lg_apikey;"
                 " LISTEN lg_feed");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        log_warn("listener could not LISTEN", "error=\"%s\"", PQresultErrorMessage(res));
        PQclear(res);
        PQfinish(pg);
        return NULL;
    }
    PQclear(res);
    route = listen_route(pg, mine);
    if (route < 0) {
        PQfinish(pg);
        return NULL;
    }
    *owed = route == 1;
    return pg;
}

/* ---------------------------------------------------------------- listener */

/*
 * A connection that stays quiet this long is asked whether it still
 * listens, and must answer within PING_TIMEOUT_MS. That finds what no
 * error shows: a server or proxy that stopped answering without closing the
 * socket (keepalives find it too over TCP, db.c, but slower, and never on a
 * Unix socket), or a session that no longer listens (a pooler that handed
 * it on).
 */
#define PING_IDLE_MS 10000
#define PING_TIMEOUT_MS 5000
#define LISTEN_CHECK                                                                               \
    "SELECT count(*) FROM pg_listening_channels() c"                                               \
    " WHERE c IN ('lg_request', 'lg_apikey', 'lg_feed')"

/*
 * Ask `pg` which of our channels it listens on. 0: all three; -1 (logged): the
 * connection is dead, silent or no longer listening, or the process stops.
 * Notifications that arrive meanwhile stay queued in libpq for the caller.
 */
static int listen_check(PGconn *pg)
{
    int64_t deadline = now_ms() + PING_TIMEOUT_MS;
    PGresult *res;
    bool listening;

    if (!PQsendQuery(pg, LISTEN_CHECK)) {
        log_warn("listener could not ping its database connection; reconnecting", "error=\"%s\"",
                 PQerrorMessage(pg));
        return -1;
    }
    while (PQisBusy(pg)) {
        struct pollfd fds[2] = {{PQsocket(pg), POLLIN, 0}, {N.wake_pipe[0], POLLIN, 0}};
        int64_t left = deadline - now_ms();

        if (left <= 0) {
            log_warn("listener's database connection did not answer a ping; reconnecting",
                     "timeout_ms=%d", PING_TIMEOUT_MS);
            return -1;
        }
        if (poll(fds, 2, (int)left) < 0 && errno != EINTR)
            return -1;
        if (fds[1].revents)
            return -1; /* stopping */
        if (!PQconsumeInput(pg)) {
            log_warn("listener lost its database connection; reconnecting", "error=\"%s\"",
                     PQerrorMessage(pg));
            return -1;
        }
    }
    res = PQgetResult(pg);
    listening = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
                !strcmp(PQgetvalue(res, 0, 0), "3");
    if (!listening)
        log_warn("listener is no longer listening; reconnecting", "error=\"%s\"",
                 PQresultStatus(res) == PGRES_TUPLES_OK ? "LISTEN lost"
                                                        : PQresultErrorMessage(res));
    PQclear(res);
    while ((res = PQgetResult(pg)))
        PQclear(res);
    return listening ? 0 : -1;
}

#define READ_BATCH 256 /* requests read again in one statement */

static notify_row_reader row_reader;

void notify_set_row_reader(notify_row_reader reader)
{
    row_reader = reader;
}

static notify_feed_hook feed_hook;

void notify_set_feed_hook(notify_feed_hook hook)
{
    feed_hook = hook;
}

/* Requests named by notifications, whose waiters are woken together. */
struct woken {
    char ids[READ_BATCH][37];
    int n;
};

/*
 * Read the rows of the requests in `wk` again and hand them to their
 * waiters, then wake those waiters. A request whose row could not be read
 * (an error, or gone) has its waiters read for themselves.
 */
static void wake_batch(struct db_conn *c, struct woken *wk)
{
    const char *ids[READ_BATCH];

    for (int i = 0; i < wk->n; i++)
        ids[i] = wk->ids[i];
    if (wk->n > 0 && row_reader && row_reader(c, ids, wk->n) < 0)
        log_warn("listener could not read the woken requests; their waiters read them", "count=%d",
                 wk->n);
    for (int i = 0; i < wk->n; i++)
        wake(wk->ids[i]);
    wk->n = 0;
}

static void dispatch(struct db_conn *c, PGnotify *n, struct woken *wk)
{
    if (!strcmp(n->relname, "lg_request")) {
        /* A waiter that registers after this look reads the row itself. */
        if (!n->extra || !has_waiter(n->extra))
            return;
        lg_strlcpy(wk->ids[wk->n++], n->extra, sizeof(wk->ids[0]));
        if (wk->n == READ_BATCH)
            wake_batch(c, wk);
    } else if (!strcmp(n->relname, "lg_apikey")) {
        keycache_flush(true);
        /* Every stream asks again whether its key still lets it in. */
        if (feed_hook)
            feed_hook(NULL);
    } else if (!strcmp(n->relname, "lg_feed")) {
        if (feed_hook && n->extra && *n->extra)
            feed_hook(n->extra);
    }
}

static void listening_set(bool up)
{
    if (!up && atomic_load(&N.listening))
        atomic_store(&N.down_since, now_ms());
    atomic_store(&N.listening, up);
}

bool notify_listening(int64_t *down_ms)
{
    bool up = atomic_load(&N.listening);

    if (down_ms)
        *down_ms = up ? 0 : now_ms() - atomic_load(&N.down_since);
    return up;
}

static void *listener(void *arg)
{
    PGconn *pg = NULL;
    struct db_conn conn = {0};
    static struct woken wk;
    int backoff_ms = 100, got, ready, timeout;
    int64_t quiet_since = 0, compare_at = 0;
    bool connected_before = false, owed = false;
    struct db_identity mine;

    (void)arg;
    while (!N.stopping) {
        struct pollfd fds[2];
        PGnotify *n;
        int64_t quiet;

        if (!pg) {
            pg = listen_connect(&mine, &owed);
            if (!pg) {
                struct pollfd w = {N.wake_pipe[0], POLLIN, 0};
                poll(&w, 1, backoff_ms);
                backoff_ms = backoff_ms * 2 > 1000 ? 1000 : backoff_ms * 2;
                continue;
            }
            backoff_ms = 100;
            if (connected_before)
                metrics_listener_reconnect();
            connected_before = true;
            listening_set(true);
            conn = (struct db_conn){.pg = pg};
            /* Anything may have happened while we were not listening. */
            keycache_flush(true);
            notify_outbox_kick();
            wake(NULL);
            if (feed_hook)
                feed_hook(NULL);
            quiet_since = now_ms();
            compare_at = quiet_since + COMPARE_RETRY_MS;
        }
        if (owed && now_ms() >= compare_at) {
            owed = listen_compare(&mine, true) < 0;
            compare_at = now_ms() + COMPARE_RETRY_MS;
        }
        fds[0] = (struct pollfd){PQsocket(pg), POLLIN, 0};
        fds[1] = (struct pollfd){N.wake_pipe[0], POLLIN, 0};
        quiet = now_ms() - quiet_since;
        timeout = quiet >= PING_IDLE_MS ? 0 : (int)(PING_IDLE_MS - quiet);
        if (owed && timeout > COMPARE_RETRY_MS)
            timeout = COMPARE_RETRY_MS;
        ready = poll(fds, 2, timeout);
        if (ready < 0 && errno != EINTR)
            break;
        if (fds[1].revents)
            break;
        if (ready == 0 && now_ms() - quiet_since < PING_IDLE_MS)
            continue; /* only the comparison's turn */
        if (ready == 0 && listen_check(pg) < 0) {
            PQfinish(pg);
            pg = NULL;
            listening_set(false);
            keycache_flush(false);
            continue;
        }
        quiet_since = now_ms();
        if (!PQconsumeInput(pg) || PQstatus(pg) != CONNECTION_OK) {
            log_warn("listener lost its database connection; reconnecting", "error=\"%s\"",
                     PQerrorMessage(pg));
            PQfinish(pg);
            pg = NULL;
            listening_set(false);
            keycache_flush(false);
            continue;
        }
        /*
         * Reading rows on this connection takes in the notifications that
         * arrive meanwhile: they are looked at before poll() sleeps again.
         */
        do {
            got = 0;
            while ((n = PQnotifies(pg))) {
                dispatch(&conn, n, &wk);
                PQfreemem(n);
                got++;
            }
            wake_batch(&conn, &wk);
        } while (got > 0);
    }
    if (pg)
        PQfinish(pg);
    listening_set(false);
    return NULL;
}

int notify_start(const struct config *cfg)
{
    N.cfg = cfg;
    atomic_store(&N.down_since, now_ms());
    if (pipe(N.wake_pipe) < 0)
        return -1;
    if (pthread_create(&N.thread, NULL, listener, NULL) != 0)
        return -1;
    N.started = true;
    return 0;
}

void notify_stop(void)
{
    N.stopping = true;
    wake_sleepers();
    if (N.started) {
        if (write(N.wake_pipe[1], "x", 1) < 0)
            log_warn("could not wake the listener", "error=\"%s\"", strerror(errno));
        pthread_join(N.thread, NULL);
        N.started = false;
    }
}
