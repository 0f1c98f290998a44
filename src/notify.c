/*
 * notify.c - see notify.h.
 */
#include "notify.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "db.h"
#include "log.h"

static struct {
    const struct config *cfg;
    pthread_t thread;
    bool started;
    volatile bool stopping;
    int wake_pipe[2];
    pthread_mutex_t lock;
    pthread_cond_t outbox_cond;
    uint64_t outbox_gen;
} N = {.lock = PTHREAD_MUTEX_INITIALIZER,
       .outbox_cond = PTHREAD_COND_INITIALIZER,
       .wake_pipe = {-1, -1}};

static void outbox_bump(void)
{
    pthread_mutex_lock(&N.lock);
    N.outbox_gen++;
    pthread_cond_broadcast(&N.outbox_cond);
    pthread_mutex_unlock(&N.lock);
}

uint64_t notify_outbox_generation(void)
{
    uint64_t g;

    pthread_mutex_lock(&N.lock);
    g = N.outbox_gen;
    pthread_mutex_unlock(&N.lock);
    return g;
}

void notify_wait_outbox(uint64_t seen, int timeout_ms)
{
    struct timespec until;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&N.lock);
    while (N.outbox_gen == seen && !N.stopping)
        if (pthread_cond_timedwait(&N.outbox_cond, &N.lock, &until) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&N.lock);
}

bool notify_stopping(void)
{
    return N.stopping;
}

/* Open the LISTEN connection; NULL on failure (logged). */
static PGconn *listen_connect(void)
{
    char err[256];
    PGconn *pg = db_connect(N.cfg->db_uri, err, sizeof(err));
    PGresult *res;

    if (!pg) {
        log_warn("listener could not connect to database", "error=\"%s\"", err);
        return NULL;
    }
    res = PQexec(pg, "LISTEN lg_outbox; LISTEN lg_request");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        log_warn("listener could not LISTEN", "error=\"%s\"", PQresultErrorMessage(res));
        PQclear(res);
        PQfinish(pg);
        return NULL;
    }
    PQclear(res);
    return pg;
}

static void dispatch(PGnotify *n)
{
    if (!strcmp(n->relname, "lg_outbox"))
        outbox_bump();
}

static void *listener(void *arg)
{
    PGconn *pg = NULL;
    int backoff_ms = 100;

    (void)arg;
    while (!N.stopping) {
        struct pollfd fds[2];
        PGnotify *n;

        if (!pg) {
            pg = listen_connect();
            if (!pg) {
                struct pollfd w = {N.wake_pipe[0], POLLIN, 0};
                poll(&w, 1, backoff_ms);
                backoff_ms = backoff_ms * 2 > 5000 ? 5000 : backoff_ms * 2;
                continue;
            }
            backoff_ms = 100;
            /* Anything may have happened while we were not listening. */
            outbox_bump();
        }
        fds[0] = (struct pollfd){PQsocket(pg), POLLIN, 0};
        fds[1] = (struct pollfd){N.wake_pipe[0], POLLIN, 0};
        if (poll(fds, 2, 10000) < 0 && errno != EINTR)
            break;
        if (fds[1].revents)
            break;
        if (!PQconsumeInput(pg) || PQstatus(pg) != CONNECTION_OK) {
            log_warn("listener lost its database connection; reconnecting", "error=\"%s\"",
                     PQerrorMessage(pg));
            PQfinish(pg);
            pg = NULL;
            continue;
        }
        while ((n = PQnotifies(pg))) {
            dispatch(n);
            PQfreemem(n);
        }
    }
    if (pg)
        PQfinish(pg);
    return NULL;
}

int notify_start(const struct config *cfg)
{
    N.cfg = cfg;
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
    pthread_mutex_lock(&N.lock);
    pthread_cond_broadcast(&N.outbox_cond);
    pthread_mutex_unlock(&N.lock);
    if (N.started) {
        if (write(N.wake_pipe[1], "x", 1) < 0)
            log_warn("could not wake the listener", "error=\"%s\"", strerror(errno));
        pthread_join(N.thread, NULL);
        N.started = false;
    }
}
