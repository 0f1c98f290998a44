/*
 * readwatch.c - the deadlines for reading a request.
 *
 * 1. A worker reads a connection's request with libfcgi (FCGX_Accept_r,
 *    then its input streams), whose reads block. A deadline here bounds a
 *    whole read, whether the peer stays silent or sends a byte now and
 *    then: past it, the connection is shut down
 *    (shutdown(2), both ways), libfcgi's next read sees its end, and the
 *    thread goes on. Three reads of a request are watched, each with its
 *    own deadline: its opening, from the accept to FCGX_Accept_r returning
 *    with the PARAMS read; its body (http_read_body); and, after the
 *    answer, what is left of its input and the close.
 * 2. One slot per request thread: a duplicate of the connection's
 *    descriptor (the guard), the deadline (now_ms, monotonic) and whether
 *    it is armed. A thread takes the guard when it first arms its slot for
 *    a connection and keeps it across the request's watched reads until it
 *    releases it: at the request's end, or before it sleeps waiting for a
 *    human (a long-poll then holds its connection's one descriptor, no
 *    more; its next watched read takes a guard again). It arms the slot by
 *    filling it and then setting armed with release order (no lock), and
 *    disarms it under the lock as soon as a watched read is over: one lock
 *    and unlock a watched read, nothing per FastCGI record, and one dup and
 *    one close a request that does not wait.
 * 3. One watcher thread a worker wakes every WATCH_MS, and under the same
 *    lock shuts down the connection of each armed slot past its deadline,
 *    then disarms the slot and never looks at it again until its thread
 *    arms it anew. libfcgi closes a connection it fails to read itself
 *    (inside FCGX_Accept_r, or in FCGX_Finish_r once the request is
 *    answered) while the slot is armed: the watcher therefore shuts down
 *    the slot's own duplicate, which the thread closes only after
 *    disarming, so a descriptor number reused meanwhile by another
 *    connection (or a database socket) is never touched.
 * 4. A connection shut down just after a watched read ended (the deadline
 *    passed between its end and the disarm) is not served: readwatch_disarm
 *    and readwatch_release say so.
 */
#include "readwatch.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define WATCH_MS 250 /* how late past its deadline a connection may be shut down */

struct slot {
    int guard;        /* a duplicate of the connection's descriptor, owned by the thread */
    int64_t deadline; /* now_ms() past which it is shut down */
    bool shut;        /* the watcher shut the connection down (under the lock) */
    atomic_bool armed;
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake; /* CLOCK_MONOTONIC; signalled to stop */
    bool stop;
    bool started;
    pthread_t thread;
    struct slot *slots;
    int n;
} R = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void *watch(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&R.lock);
    while (!R.stop) {
        int64_t now = now_ms();
        struct timespec until;
        int closed = 0;

        for (int i = 0; i < R.n; i++) {
            struct slot *s = &R.slots[i];

            if (atomic_load_explicit(&s->armed, memory_order_acquire) && now >= s->deadline) {
                shutdown(s->guard, SHUT_RDWR);
                s->shut = true;
                atomic_store_explicit(&s->armed, false, memory_order_relaxed);
                closed++;
            }
        }
        if (closed) {
            pthread_mutex_unlock(&R.lock);
            log_info("closed connections that did not send their request within "
                     "request_read_timeout",
                     "connections=%d", closed);
            pthread_mutex_lock(&R.lock);
            if (R.stop)
                break;
        }
        until = deadline_in_ms(CLOCK_MONOTONIC, WATCH_MS);
        pthread_cond_timedwait(&R.wake, &R.lock, &until);
    }
    pthread_mutex_unlock(&R.lock);
    return NULL;
}

int readwatch_start(int slots)
{
    pthread_condattr_t ca;
    int err;

    R.slots = xcalloc((size_t)slots, sizeof(*R.slots)); /* lives as long as the worker */
    R.n = slots;
    for (int i = 0; i < slots; i++) {
        R.slots[i].guard = -1;
        atomic_init(&R.slots[i].armed, false);
    }
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&R.wake, &ca);
    pthread_condattr_destroy(&ca);
    R.stop = false;
    err = pthread_create(&R.thread, NULL, watch, NULL);
    if (err != 0) {
        log_error("could not start the request read watcher", "error=\"%s\"", strerror(err));
        return -1;
    }
    R.started = true;
    return 0;
}

int readwatch_arm(int slot, int fd, int seconds)
{
    struct slot *s = &R.slots[slot];

    if (s->guard < 0) {
        s->guard = fcntl(fd, F_DUPFD_CLOEXEC, 0);
        if (s->guard < 0)
            return -1;
        s->shut = false;
    }
    s->deadline = now_ms() + (int64_t)seconds * 1000;
    atomic_store_explicit(&s->armed, true, memory_order_release);
    return 0;
}

bool readwatch_disarm(int slot)
{
    struct slot *s = &R.slots[slot];
    bool shut;

    if (s->guard < 0)
        return false;
    pthread_mutex_lock(&R.lock);
    atomic_store_explicit(&s->armed, false, memory_order_relaxed);
    shut = s->shut;
    pthread_mutex_unlock(&R.lock);
    return shut;
}

bool readwatch_release(int slot)
{
    struct slot *s = &R.slots[slot];
    bool shut = readwatch_disarm(slot);

    if (s->guard >= 0)
        close(s->guard);
    s->guard = -1;
    return shut;
}

void readwatch_stop(void)
{
    if (!R.started)
        return;
    pthread_mutex_lock(&R.lock);
    R.stop = true;
    pthread_cond_signal(&R.wake);
    pthread_mutex_unlock(&R.lock);
    pthread_join(R.thread, NULL);
    R.started = false;
}
