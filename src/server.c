/*
 * server.c - the process model of `loopgate serve`.
 *
 * 1. The master takes the FastCGI listening socket from systemd socket
 *    activation (LISTEN_FDS) or binds `socket` itself (a unix socket path,
 *    or host:port for TCP: workers on several hosts behind one nginx
 *    upstream; listen.h says what is refused and who may connect), logs
 *    the address it is bound to, then forks `workers`
 *    children and does nothing else: it restarts a child that dies and on
 *    SIGTERM/SIGINT tells every child to stop, waits for them (bounded by
 *    shutdown_timeout), and exits 0. A child that served for a while
 *    (RESTART_STABLE_MS) is replaced at once; one that dies young waits
 *    before its replacement starts, 1 s and then twice as long each time it
 *    dies young again, up to 30 s: a worker that cannot start costs a log
 *    line now and then, not a fork a second forever. Before the first fork
 *    it maps the block its workers count in (metrics.h): /metrics shows
 *    the host's figures whichever worker answers.
 * 2. A worker runs `threads` request threads. They take turns in
 *    accept() (listen_accept), so exactly one thread sits in it and the
 *    kernel hands each connection to one process. Idle threads wait on a
 *    stack and the turn goes to the one that became idle last: under load a
 *    handful of threads with warm stacks and caches serve everything, while
 *    the rest (there for long-polls) stay asleep. At most `busy_threads` of
 *    them work at once (a long-poll asleep in wait.c does not count), and
 *    the turn is given only while fewer work: further connections wait in
 *    the socket's listen queue, which costs nothing, instead of queueing
 *    for the few database connections of the pool, which costs a context
 *    switch per query. Reading a connection's request (libfcgi's
 *    FCGX_Accept_r) is not work: the accepting thread passes the turn on as
 *    soon as it has a connection, then reads it within a deadline of
 *    request_read_timeout seconds from the accept (readwatch.h), so a peer that connects and sends
 *    nothing, or its request a byte at a time, holds one thread for that
 *    long, never the turn or a busy slot. A request read waits for a busy
 *    slot, and goes before the turn. Reading its body is no work either:
 *    the thread gives its busy slot back for the read, which has a
 *    deadline of its own, as long, and waits for one again after it. Once
 *    the request is answered (the answer sent), the thread gives its slot
 *    back and reads what is left of the input, and closes, within a third
 *    such deadline.
 * 3. Every thread of a worker blocks all signals; the worker's main thread
 *    waits for them with sigwait. On SIGTERM it raises FCGX_ShutdownPending
 *    and interrupts the accepting thread with SIGUSR2 (a handler that does
 *    nothing, installed without SA_RESTART), because libfcgi blocked in
 *    accept() ignores SIGTERM. In-flight requests finish; after
 *    shutdown_timeout the worker exits anyway.
 * 4. A worker dies with its master (PR_SET_PDEATHSIG), so no orphan keeps
 *    serving a socket nobody supervises.
 * 5. SIGHUP reloads the configuration without dropping a connection. Only
 *    the master reads the config file, once per reload, with its
 *    environment; a file that does not load is logged and nothing changes
 *    anywhere (the workers are not told). Else the keys that need a restart
 *    (config.c) keep their running values and are named in one warn line,
 *    the new configuration is published (config_publish: an atomic pointer
 *    swap, the old one never freed), the exact text the master read goes
 *    into a block shared with the workers (mapped before the first fork)
 *    under a new generation number, and every worker gets SIGHUP and loads
 *    that text, never the file: a file saved again meanwhile, or half
 *    written, reaches no worker the master did not check. A worker forked
 *    later (after a crash) inherits the master's published configuration
 *    and generation. Each process logs the generation it runs. Work under
 *    way (a long-poll, an event stream) finishes with the configuration it
 *    started with; the next request, delivery claim or retention run uses
 *    the new one.
 * 6. Each worker also runs the retention thread (janitor.h), one run at a
 *    time across all of them by an advisory lock.
 */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "api.h"
#include "db.h"
#include "delivery.h"
#include "events.h"
#include "feed.h"
#include "notify.h"
#include "store_requests.h"
#include "http.h"
#include "janitor.h"
#include "listen.h"
#include "log.h"
#include "metrics.h"
#include "readwatch.h"
#include "wait.h"

#define MAX_WORKERS 256
#define RESTART_STABLE_MS 10000 /* a worker that lived this long did not die young */
#define RESTART_FIRST_MS 1000   /* the wait after a first young death */
#define RESTART_MAX_MS 30000    /* the longest wait */

/* ---------------------------------------------------------------- worker */

static struct {
    int listen_fd;
    pthread_mutex_t state_lock;
    pthread_cond_t exited;
    atomic_int stopping;
    pthread_t accepting; /* thread inside FCGX_Accept_r, valid when has_accepting */
    int has_accepting;
    int running; /* request threads still alive */
} W = {.state_lock = PTHREAD_MUTEX_INITIALIZER, .exited = PTHREAD_COND_INITIALIZER};

/*
 * An idle request thread waiting for its turn to accept. It sleeps on a
 * semaphore of its own, not a condition variable under T.lock: woken, it
 * goes to accept() without taking the lock again, so a handover costs the
 * giver one wake-up and the taker one wait, and no unlock that wakes.
 */
struct idle {
    sem_t wake;
    atomic_bool turn; /* set by the giver (under T.lock) before it posts wake */
    struct idle *next;
};

static struct {
    pthread_mutex_t lock;
    bool taken;          /* a thread has the turn (is in or about to enter accept) */
    int busy;            /* threads working on a request */
    int busy_max;        /* work starts, and the turn is given, only while busy < busy_max */
    int ready;           /* threads with a request read, waiting for busy < busy_max */
    pthread_cond_t room; /* signalled for them */
    struct idle *top;    /* idle threads, the most recent first */
} T = {.lock = PTHREAD_MUTEX_INITIALIZER, .room = PTHREAD_COND_INITIALIZER, .busy_max = 1};

/*
 * Work may start (busy < busy_max): a request already read goes first, else
 * the free turn goes to the thread that became idle last.
 */
static void turn_give_locked(void)
{
    if (T.busy >= T.busy_max)
        return;
    if (T.ready) {
        pthread_cond_signal(&T.room);
        return;
    }
    if (T.taken || !T.top)
        return;
    struct idle *next = T.top;
    T.top = next->next;
    T.taken = true;
    atomic_store(&next->turn, true);
    sem_post(&next->wake);
}

/* The accepting thread has its connection (or gave up): pass the turn on. */
static void turn_give(void)
{
    pthread_mutex_lock(&T.lock);
    T.taken = false;
    turn_give_locked();
    pthread_mutex_unlock(&T.lock);
}

/* Wait for the turn to accept; false (not holding it) when the worker stops. */
static bool turn_take(struct idle *me)
{
    pthread_mutex_lock(&T.lock);
    if (!T.taken && T.busy < T.busy_max && !T.ready && !W.stopping) {
        T.taken = true;
        pthread_mutex_unlock(&T.lock);
        return true;
    }
    atomic_store(&me->turn, false);
    me->next = T.top;
    T.top = me;
    turn_give_locked(); /* room this thread left goes to a request already read */
    pthread_mutex_unlock(&T.lock);
    while (!atomic_load(&me->turn) && !W.stopping)
        (void)sem_wait(&me->wake); /* EINTR: look again */
    if (!W.stopping)
        return true;
    /* Stopping: off the stack, and a turn given meanwhile goes back. */
    pthread_mutex_lock(&T.lock);
    if (atomic_load(&me->turn)) {
        T.taken = false;
        turn_give_locked();
    } else {
        for (struct idle **p = &T.top; *p; p = &(*p)->next)
            if (*p == me) {
                *p = me->next;
                break;
            }
    }
    pthread_mutex_unlock(&T.lock);
    return false;
}

/* A request is read: wait until busy < busy_max (not when stopping), then work. */
static void work_take(void)
{
    pthread_mutex_lock(&T.lock);
    T.ready++;
    while (T.busy >= T.busy_max && !W.stopping)
        pthread_cond_wait(&T.room, &T.lock);
    T.ready--;
    T.busy++;
    turn_give_locked(); /* room left: the next request read, else the turn */
    pthread_mutex_unlock(&T.lock);
}

/* The calling thread's work stops (or pauses): its busy slot goes to the next. */
static void work_give(void)
{
    pthread_mutex_lock(&T.lock);
    T.busy--;
    turn_give_locked();
    pthread_mutex_unlock(&T.lock);
}

static _Thread_local int thread_slot = -1; /* a request thread's slot of the read deadline */
static _Thread_local int thread_conn_fd;   /* and the connection of its request */

/*
 * A request thread is about to sleep until a human answers (wait.c's hooks):
 * it stops counting towards busy_threads, so another may accept, and gives
 * its read deadline's duplicate of the connection back. Paired with
 * thread_wakes() when it runs again.
 */
static void thread_sleeps(void)
{
    if (thread_slot >= 0)
        (void)readwatch_release(thread_slot); /* the wait holds the connection alone */
    work_give();
}

static void thread_wakes(void)
{
    /* Never held back: an answer already under way goes out at once. */
    pthread_mutex_lock(&T.lock);
    T.busy++;
    pthread_mutex_unlock(&T.lock);
}

/* Stopping: wake every idle thread so that it sees W.stopping and exits. */
static void turn_wake_all(void)
{
    pthread_mutex_lock(&T.lock);
    for (struct idle *i = T.top; i; i = i->next)
        sem_post(&i->wake);
    pthread_cond_broadcast(&T.room);
    pthread_mutex_unlock(&T.lock);
}

/*
 * A request's body is read (http.h's body hooks): reading is no work, as
 * for its opening (point 2), so the thread gives its busy slot back and the
 * read has request_read_timeout seconds; then the thread waits for a busy
 * slot again, as a request read does. begins: false, the slot kept, when
 * the read cannot be watched (no descriptor left). ends: false when the
 * body was not read within the deadline (the connection is shut down).
 */
static bool body_begins(void)
{
    if (readwatch_arm(thread_slot, thread_conn_fd, config_current()->request_read_timeout) < 0)
        return false;
    work_give();
    return true;
}

static bool body_ends(void)
{
    bool shut = readwatch_disarm(thread_slot);

    work_take();
    return !shut;
}

/*
 * An answer is written that may wait for its reader (http.h's write hooks):
 * waiting for a reader is no work, so the thread gives its busy slot back;
 * each write that finds no room for request_read_timeout seconds fails (the
 * connection's send timeout, request_read). No deadline bounds the whole
 * answer: a phone on a slow link may take minutes over a long audit export,
 * as long as it keeps reading. Then the thread counts as working again at
 * once, as a thread woken from a wait does.
 */
static void write_begins(void)
{
    work_give();
}

static void write_ends(void)
{
    thread_wakes();
}

static void on_sigusr2(int sig)
{
    (void)sig;
}

/*
 * Read what is left of the request's input, up to its end; true when the end
 * was reached. Then nothing is left unread on the connection and it can be
 * closed at once: libfcgi's own close shuts the connection down and waits,
 * up to 2 s between two reads, for nginx to close its end first (so that
 * unread input never resets a connection whose answer is still on its way),
 * which costs every request a wake-up of its thread. The caller has given
 * its busy slot back and armed the read deadline, which bounds this and the
 * close however slowly the peer sends.
 */
static bool input_drained(FCGX_Request *req)
{
    char buf[1024];
    int total = 0, n;

    while ((n = FCGX_GetStr(buf, sizeof(buf), req->in)) > 0)
        if ((total += n) > 64 * 1024)
            return false;
    return FCGX_HasSeenEOF(req->in) == EOF && FCGX_GetError(req->in) == 0;
}

/* The access log: one line per request, at info. */
static void access_line(const struct http_req *hr)
{
    struct timespec end;
    double ms;

    clock_gettime(CLOCK_MONOTONIC, &end);
    ms = (double)(end.tv_sec - hr->start.tv_sec) * 1e3 +
         (double)(end.tv_nsec - hr->start.tv_nsec) / 1e6;
    log_info("request",
             "method=%s route=%s path=%s status=%d duration_ms=%.3f tenant=%s request_id=%s",
             hr->method, hr->route, hr->path, hr->status, ms,
             hr->who.tenant[0] ? hr->who.tenant : "-", hr->request_id);
}

/*
 * Read the request on the accepted connection `fd` into req, with the slot
 * `slot` of the read deadline: 0, or -1 when the peer sent no complete
 * request (it closed, sent garbage, or did not send BEGIN_REQUEST and PARAMS
 * within request_read_timeout seconds) and the connection is closed. No
 * read of a connection goes unwatched (the opening here, its body, what is
 * left of it after the answer), so no receive timeout is needed on top.
 * libfcgi reads a request from a connection its
 * FCGX_Request already holds (ipcFd, as for a kept connection) before it
 * would accept one itself: the connection is put there, kept through
 * FCGX_Accept_r's opening finish (keepConnection), and closed without
 * lingering if it fails (detached). Its own accept never runs: the request
 * was initialised with no listening socket, so after a failed connection
 * FCGX_Accept_r returns an error instead of accepting. On 0 the slot keeps
 * its duplicate of the connection for the body and the close
 * (readwatch_release after FCGX_Finish_r). Writes are bounded too: each
 * write of the answer (an event stream's, one that fills libfcgi's buffer,
 * the last) fails after request_read_timeout seconds without room
 * (SO_SNDTIMEO), so a peer that does not read its answer holds a thread
 * that long, and the stream ends. Per connection: that send timeout, the
 * deadline's duplicate descriptor and its close (again after a wait), one
 * lock for each watched read.
 */
static int request_read(FCGX_Request *req, int fd, int slot)
{
    int timeout = config_current()->request_read_timeout;
    struct timeval tv = {.tv_sec = timeout};
    int rc;

    if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
        readwatch_arm(slot, fd, timeout) < 0) {
        close(fd);
        return -1;
    }
    req->ipcFd = fd;
    req->keepConnection = 1;
    req->detached = 1;
    rc = FCGX_Accept_r(req);
    if (rc < 0) {
        (void)readwatch_release(slot);
        return -1;
    }
    if (readwatch_disarm(slot)) {
        FCGX_Free(req, 1); /* shut down at the deadline: closed without lingering */
        (void)readwatch_release(slot);
        return -1;
    }
    req->detached = 0;
    thread_conn_fd = fd;
    return 0;
}

/* A request thread; `arg`: its slot of the read deadline (readwatch.h). */
static void *request_thread(void *arg)
{
    FCGX_Request req;
    struct http_req hr;
    struct idle me = {.next = NULL};
    int slot = (int)(intptr_t)arg;

    thread_slot = slot;
    atomic_init(&me.turn, false);
    sem_init(&me.wake, 0, 0);
    if (FCGX_InitRequest(&req, -1, 0) != 0) { /* no listening socket: request_read */
        log_error("could not initialise a FastCGI request", "%s", "");
        goto out;
    }
    for (;;) {
        int fd, err;
        bool watched;

        if (!turn_take(&me))
            break;
        pthread_mutex_lock(&W.state_lock);
        W.accepting = pthread_self();
        W.has_accepting = 1;
        pthread_mutex_unlock(&W.state_lock);
        fd = listen_accept(W.listen_fd);
        err = errno;
        pthread_mutex_lock(&W.state_lock);
        W.has_accepting = 0;
        pthread_mutex_unlock(&W.state_lock);
        turn_give(); /* reading the request is no work (point 2) */
        if (fd < 0) {
            if (W.stopping)
                break;
            if (err != EINTR) {
                log_warn("could not accept a FastCGI connection", "error=\"%s\"", strerror(err));
                usleep(10000);
            }
            continue;
        }
        if (request_read(&req, fd, slot) < 0) {
            if (W.stopping)
                break;
            continue;
        }
        work_take();
        http_begin(&hr, &req, config_current());
        api_handle(&hr);
        metrics_http(hr.route, hr.method, hr.status, &hr.start);
        access_line(&hr);
        http_end(&hr);
        /*
         * Answered: the work is over. The rest of the answer goes out now,
         * whatever the peer does with the rest of its input, which is read
         * (and the connection closed) after it; all of that without a busy
         * slot, within the deadline.
         */
        work_give();
        watched = readwatch_arm(slot, fd, config_current()->request_read_timeout) == 0;
        FCGX_FFlush(req.out);
        if (!watched || input_drained(&req))
            FCGX_Detach(&req);  /* FCGX_Finish_r then closes without lingering */
        req.keepConnection = 0; /* nginx keeps no connection (fastcgi_keep_conn off) */
        FCGX_Finish_r(&req);
        (void)readwatch_release(slot);
    }
    FCGX_Free(&req, 0);
out:
    sem_destroy(&me.wake);
    pthread_mutex_lock(&W.state_lock);
    W.running--;
    pthread_cond_broadcast(&W.exited);
    pthread_mutex_unlock(&W.state_lock);
    return NULL;
}

/* Stop accepting, let in-flight requests finish (bounded), return. */
static void worker_drain(void)
{
    struct timespec deadline, tick;
    int left;

    W.stopping = 1;
    FCGX_ShutdownPending();
    /* Long-polls answer now, with the state they see; event streams end. */
    notify_wake_all_stop();
    feed_stop();
    deadline = deadline_in_ms(CLOCK_REALTIME, (int64_t)config_current()->shutdown_timeout * 1000);

    pthread_mutex_lock(&W.state_lock);
    while (W.running > 0) {
        /* The thread in accept() may not be there yet when signalled: repeat. */
        if (W.has_accepting)
            pthread_kill(W.accepting, SIGUSR2);
        turn_wake_all();
        if (deadline_passed(CLOCK_REALTIME, &deadline))
            break;
        tick = deadline_in_ms(CLOCK_REALTIME, 50);
        pthread_cond_timedwait(&W.exited, &W.state_lock, &tick);
    }
    left = W.running;
    pthread_mutex_unlock(&W.state_lock);
    if (left > 0)
        log_warn("shutdown timeout: leaving requests unfinished", "threads=%d", left);
}

/* The listener's read after a notification (notify_set_row_reader): rows go to their waiters. */
static int read_poll_rows(struct db_conn *c, const char *const *ids, int n)
{
    return store_poll_rows(c, ids, n, notify_hand_row);
}

/* ---------------------------------------------------------------- handoff */

/*
 * The configuration text of the master's last successful reload, shared
 * with every worker (point 5). Mapped before the first fork; the master
 * writes it, workers copy it out, each under a robust process-shared mutex
 * (a worker that dies holding it leaves it consistent: it only read).
 */
struct handoff {
    pthread_mutex_t lock;
    uint64_t generation; /* 0: the configuration the master started with */
    bool has_file;       /* false: defaults and environment only */
    char source[4200];
    size_t len;
    char text[1 << 20]; /* config.c reads at most 1 MiB - 1 */
};

static struct handoff *H;
/* The generation of this process's config_current(); a forked worker inherits the master's. */
static uint64_t applied_generation;

static int handoff_init(void)
{
    pthread_mutexattr_t a;
    void *p = mmap(NULL, sizeof(*H), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    if (p == MAP_FAILED) {
        log_error("could not map the configuration hand-off block", "error=\"%s\"",
                  strerror(errno));
        return -1;
    }
    H = p;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&H->lock, &a);
    pthread_mutexattr_destroy(&a);
    return 0;
}

static void handoff_lock(void)
{
    if (pthread_mutex_lock(&H->lock) == EOWNERDEAD)
        pthread_mutex_consistent(&H->lock);
}

/* Master: `text` from `source` (both NULL: no file) is now the configuration. */
static void handoff_put(const char *text, const char *source)
{
    handoff_lock();
    H->has_file = text != NULL;
    H->len = text ? strlen(text) : 0;
    if (H->len >= sizeof(H->text)) /* config.c never reads this much */
        abort();
    memcpy(H->text, text ? text : "", H->len + 1);
    lg_strlcpy(H->source, source ? source : "", sizeof(H->source));
    applied_generation = ++H->generation;
    pthread_mutex_unlock(&H->lock);
}

/*
 * Worker: the master's text when it is newer than this process's
 * configuration (new strings in *text and *source, NULL when the master read
 * no file), its generation in *gen; false when there is nothing new.
 */
static bool handoff_get(char **text, char **source, uint64_t *gen)
{
    bool fresh;

    *text = *source = NULL;
    handoff_lock();
    *gen = H->generation;
    fresh = H->generation != applied_generation;
    if (fresh && H->has_file) {
        *text = xmalloc(H->len + 1);
        memcpy(*text, H->text, H->len + 1);
        *source = xstrdup(H->source);
    }
    pthread_mutex_unlock(&H->lock);
    return fresh;
}

/* The file to read again on SIGHUP: the one read at start, else the usual search. */
static const char *reload_path(const struct config *cfg)
{
    return cfg->source && strcmp(cfg->source, "(defaults)") != 0 ? cfg->source : NULL;
}

/*
 * Load the configuration again and publish it (point 5); `who` names the
 * process in the log. The master reads the file and, when it loads, hands
 * its text to the workers; a worker loads the master's text, never the
 * file. Returns true when published (`restart` then names the changed keys
 * that need a restart, if any).
 */
static bool reload(bool master, char *restart, size_t restart_len)
{
    const char *who = master ? "master" : "worker";
    const struct config *cur = config_current();
    struct config *next = xcalloc(1, sizeof(*next)); /* config_free on any way out */
    char err[512], live[1024], shadowed[1024];
    char *text = NULL, *source = NULL;
    uint64_t gen = 0;
    bool done = false;

    restart[0] = '\0';
    if (master) {
        if (config_read_file(reload_path(cur), &text, &source, err, sizeof(err)) < 0 ||
            config_load_text(next, text, source, err, sizeof(err)) < 0) {
            log_error("could not reload the configuration; keeping the running one",
                      "process=%s error=\"%s\"", who, err);
            goto out;
        }
    } else {
        if (!handoff_get(&text, &source, &gen)) {
            log_info("SIGHUP without a new configuration from the master; nothing to do",
                     "process=%s generation=%llu", who, (unsigned long long)gen);
            goto out;
        }
        if (config_load_text(next, text, source, err, sizeof(err)) < 0) {
            log_error("could not load the master's configuration; keeping the running one",
                      "process=%s generation=%llu error=\"%s\"", who, (unsigned long long)gen, err);
            goto out;
        }
    }
    if (cur->telegram_allowed_users.n > 0 && next->telegram_allowed_users.n == 0)
        log_warn("telegram_allowed_users is now empty: anyone in an approval chat may decide; "
                 "if the file was cut short or the key dropped by mistake, restore it and reload",
                 "process=%s was=%d", who, cur->telegram_allowed_users.n);
    config_env_shadowed(next, cur, shadowed, sizeof(shadowed));
    if (*shadowed)
        log_warn("configuration file changes that do not apply", "process=%s overridden=\"%s\"",
                 who, shadowed);
    (void)config_reload_diff(next, cur, live, sizeof(live), restart, restart_len);
    config_publish(next);
    if (master)
        handoff_put(text, source);
    else
        applied_generation = gen;
    next = NULL; /* published: never freed */
    __atomic_store_n(&log_threshold, config_current()->log_level, __ATOMIC_RELAXED);
    __atomic_store_n(&log_format, config_current()->log_format, __ATOMIC_RELAXED);
    log_info("configuration reloaded", "process=%s config=%s generation=%llu changed=\"%s\"", who,
             config_current()->source, (unsigned long long)applied_generation, live);
    done = true;
out:
    if (next) {
        config_free(next);
        free(next);
    }
    free(text);
    free(source);
    return done;
}

static int worker_main(const struct config *cfg, int listen_fd)
{
    struct sigaction sa;
    sigset_t set;
    pthread_attr_t attr;
    int sig = 0;

    prctl(PR_SET_PDEATHSIG, SIGTERM);
    W.listen_fd = listen_fd;
    T.busy_max = cfg->busy_threads < cfg->threads ? cfg->busy_threads : cfg->threads;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigusr2;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: accept() must return EINTR */
    sigaction(SIGUSR2, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (FCGX_Init() != 0) {
        log_error("could not initialise libfcgi", "%s", "");
        return 1;
    }
    db_pool_init(cfg->db_uri, cfg->db_pool_size);
    store_request_telegram(cfg->telegram_bot_token && *cfg->telegram_bot_token);

    /* Threads inherit this mask: only SIGUSR2 may interrupt them. */
    sigfillset(&set);
    sigdelset(&set, SIGUSR2);
    sigdelset(&set, SIGSEGV);
    sigdelset(&set, SIGBUS);
    sigdelset(&set, SIGFPE);
    sigdelset(&set, SIGILL);
    sigdelset(&set, SIGABRT);
    pthread_sigmask(SIG_SETMASK, &set, NULL);

    notify_set_row_reader(read_poll_rows);
    notify_set_feed_hook(feed_wake);
    wait_set_hooks(&(struct wait_hooks){.sleeps = thread_sleeps, .wakes = thread_wakes});
    events_set_hooks(&(struct wait_hooks){.sleeps = thread_sleeps, .wakes = thread_wakes});
    http_set_body_hooks(&(struct http_body_hooks){.begins = body_begins, .ends = body_ends});
    http_set_write_hooks(&(struct http_write_hooks){.begins = write_begins, .ends = write_ends});
    if (notify_start(cfg) < 0 || delivery_start(cfg) < 0) {
        log_error("could not start the listener or delivery threads", "%s", "");
        return 1;
    }
    if (janitor_start() < 0)
        log_warn("could not start the retention thread; old rows stay until another worker runs it",
                 "%s", "");
    if (readwatch_start(cfg->threads) < 0)
        return 1;

    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, THREAD_STACK);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    for (int i = 0; i < cfg->threads; i++) {
        pthread_t t;
        if (pthread_create(&t, &attr, request_thread, (void *)(intptr_t)i) != 0) {
            log_error("could not start a request thread", "started=%d wanted=%d", i, cfg->threads);
            if (i == 0)
                return 1;
            break;
        }
        pthread_mutex_lock(&W.state_lock);
        W.running++;
        pthread_mutex_unlock(&W.state_lock);
    }
    pthread_attr_destroy(&attr);
    log_info("worker ready", "threads=%d generation=%llu", W.running,
             (unsigned long long)applied_generation);

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    while (sigwait(&set, &sig) == 0 && sig == SIGHUP) {
        char restart[512];

        if (reload(false, restart, sizeof(restart)))
            janitor_wake();
    }
    log_info("worker stopping", "signal=%d", sig);
    janitor_stop();
    worker_drain();
    readwatch_stop();
    notify_stop();
    delivery_join();
    db_pool_shutdown();
    return 0;
}

/* ---------------------------------------------------------------- master */

/* Fork the worker of slot `slot`. */
static pid_t spawn(const struct config *cfg, int fd, const sigset_t *oldmask, int slot)
{
    pid_t pid = fork();

    if (pid == 0) {
        sigset_t mask = *oldmask;

        /* A SIGHUP before worker_main waits for it is kept for sigwait, not fatal. */
        sigaddset(&mask, SIGHUP);
        pthread_sigmask(SIG_SETMASK, &mask, NULL);
        metrics_worker_begin(slot);
        _exit(worker_main(cfg, fd));
    }
    if (pid < 0)
        log_error("could not fork a worker", "error=\"%s\"", strerror(errno));
    return pid;
}

/* Every waiting long-poll holds a connection: allow as many files as permitted. */
static void raise_file_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            log_warn("could not raise the open file limit", "error=\"%s\"", strerror(errno));
    }
}

static sigset_t start_mask;
static bool start_mask_saved;

void server_hold_sighup(void)
{
    sigset_t hup;

    sigemptyset(&hup);
    sigaddset(&hup, SIGHUP);
    if (pthread_sigmask(SIG_BLOCK, &hup, &start_mask) == 0)
        start_mask_saved = true;
}

int server_run(const struct config *cfg)
{
    pid_t kids[MAX_WORKERS] = {0};
    int64_t born[MAX_WORKERS] = {0};
    int64_t restart_at[MAX_WORKERS] = {0}; /* when an empty slot's next worker starts */
    int delay_ms[MAX_WORKERS] = {0};       /* the wait after the slot's last death */
    sigset_t set, old;
    struct listener lis;
    char peers[16] = "any";
    int fd, stopping = 0, n = cfg->workers;
    int64_t deadline = 0;

    config_publish(cfg);
    raise_file_limit();
    if (listen_allow_init() < 0 || listen_open(cfg, &lis) < 0)
        return 1;
    fd = lis.fd;
    if (lis.inherited)
        log_info("using socket from systemd", "fd=%d address=%s", fd, lis.address);
    if (lis.wildcard && listen_allow_count() == 0)
        log_warn("the FastCGI socket listens on every address and FCGI_WEB_SERVER_ADDRS is not "
                 "set: whoever reaches its port is trusted as nginx is; bind a private address "
                 "or list nginx's addresses (docs/DEPLOYMENT.md)",
                 "address=%s", lis.address);
    /* Before the first fork: every worker adds to the same figures (metrics.h). */
    if (handoff_init() < 0) {
        listen_close(&lis);
        return 1;
    }
    metrics_init();
    api_metrics_routes();

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    if (start_mask_saved)
        old = start_mask; /* the workers' mask is the one serve started with */

    for (int i = 0; i < n; i++) {
        kids[i] = spawn(cfg, fd, &old, i);
        born[i] = now_ms();
        if (kids[i] < 0) { /* fork failed (logged): try again later */
            kids[i] = 0;
            restart_at[i] = born[i] + RESTART_FIRST_MS;
        }
    }
    if (listen_allow_count())
        snprintf(peers, sizeof(peers), "%d", listen_allow_count());
    log_info("loopgate serving",
             "socket=%s address=%s allowed_peers=%s workers=%d threads=%d auth=%s config=%s",
             lis.inherited ? "(inherited)" : cfg->socket, lis.address, peers, n, cfg->threads,
             cfg->auth_required ? "required" : "off", cfg->source);

    for (;;) {
        struct timespec ts = {0, 200 * 1000000};
        int sig = sigtimedwait(&set, NULL, &ts), alive = 0;
        struct rusage ru;
        pid_t pid;
        int status;

        if (sig == SIGHUP && !stopping) {
            char restart[512];

            if (reload(true, restart, sizeof(restart))) {
                if (restart[0]) {
                    char msg[600];

                    snprintf(msg, sizeof(msg), "restart needed for: %s", restart);
                    log_warn(msg, "%s", ""); /* the running values stay meanwhile */
                }
                for (int i = 0; i < n; i++)
                    if (kids[i] > 0)
                        kill(kids[i], SIGHUP);
            }
        }
        if (sig == SIGTERM || sig == SIGINT) {
            if (!stopping) {
                log_info("stopping", "signal=%d", sig);
                stopping = 1;
                deadline = now_ms() + (int64_t)config_current()->shutdown_timeout * 1000 + 3000;
                for (int i = 0; i < n; i++)
                    if (kids[i] > 0)
                        kill(kids[i], SIGTERM);
            }
        }
        while ((pid = wait4(-1, &status, WNOHANG, &ru)) > 0) {
            for (int i = 0; i < n; i++) {
                int64_t lived = now_ms() - born[i];

                if (kids[i] != pid)
                    continue;
                kids[i] = 0;
                metrics_worker_gone(i, &ru);
                if (lived >= RESTART_STABLE_MS)
                    delay_ms[i] = 0;
                else if (delay_ms[i] == 0)
                    delay_ms[i] = RESTART_FIRST_MS;
                else
                    delay_ms[i] =
                        delay_ms[i] * 2 > RESTART_MAX_MS ? RESTART_MAX_MS : delay_ms[i] * 2;
                restart_at[i] = now_ms() + delay_ms[i];
                if (!stopping)
                    log_warn(delay_ms[i] ? "worker died young; restarting after a pause"
                                         : "worker died; restarting",
                             "pid=%d status=%d signal=%d lived_ms=%lld in_ms=%d", (int)pid,
                             WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                             WIFSIGNALED(status) ? WTERMSIG(status) : 0, (long long)lived,
                             delay_ms[i]);
            }
        }
        for (int i = 0; i < n; i++) {
            if (!stopping && kids[i] == 0 && now_ms() >= restart_at[i]) {
                kids[i] = spawn(config_current(), fd, &old, i);
                born[i] = now_ms();
                if (kids[i] < 0) {
                    kids[i] = 0;
                    restart_at[i] = born[i] + RESTART_FIRST_MS;
                } else {
                    metrics_worker_restarted();
                }
            }
            alive += kids[i] > 0;
        }
        if (stopping && alive == 0)
            break;
        if (stopping && now_ms() > deadline) {
            log_warn("workers did not stop in time; killing them", "left=%d", alive);
            for (int i = 0; i < n; i++)
                if (kids[i] > 0)
                    kill(kids[i], SIGKILL);
            deadline = now_ms() + 60000;
        }
    }
    listen_close(&lis);
    log_info("stopped", "%s", "");
    return 0;
}
