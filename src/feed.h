/*
 * feed.h - the per-process list of threads that stream a tenant's events.
 *
 * 1. A thread serving GET /hitl/events (events.c) registers a feed waiter
 *    for its tenant, reads the rows it has not sent, and sleeps on the
 *    waiter. It holds no database connection while it sleeps.
 * 2. The listener thread (notify.c) receives NOTIFY lg_feed (payload: a
 *    tenant) after an audit row of a request change commits, and wakes the
 *    waiters of that tenant through the hook server.c sets
 *    (notify_set_feed_hook -> feed_wake). When the listener reconnects it
 *    wakes every waiter (feed_wake(NULL)): each reads again, as
 *    notifications may have been lost meanwhile.
 * 3. A wake-up is only a hint: a waiter woken before it sleeps returns at
 *    once from its next sleep, so nothing committed between its read and
 *    its sleep is missed; the rows are the truth.
 * 4. The list is bounded by whoever registers (feed_add's `max`): a stream
 *    holds a request thread for its whole life.
 *
 * Nothing here touches the database or calls up into the modules above.
 */
#ifndef LG_FEED_H
#define LG_FEED_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "util.h"

/* A registered stream; lives on the streaming thread's stack. */
struct feed_waiter {
    const char *tenant; /* borrowed for the life of the registration */
    bool woken;
    pthread_cond_t cond;
    struct feed_waiter *next;
};

/*
 * Register `w` for `tenant` (borrowed until feed_remove). -1 when `max`
 * waiters are registered already (the caller answers 503).
 */
int feed_add(struct feed_waiter *w, const char *tenant, int max) LG_MUST_CHECK;

/* Unregister `w`. */
void feed_remove(struct feed_waiter *w);

/*
 * Sleep until `w` is woken, `deadline_ms` (now_ms clock) passes, or the
 * process stops; clears the wake. True when it was woken.
 */
bool feed_sleep(struct feed_waiter *w, int64_t deadline_ms);

/* Wake the waiters of `tenant`; every waiter when `tenant` is NULL. */
void feed_wake(const char *tenant);

/* Stopping: wake every waiter and make further sleeps return at once. */
void feed_stop(void);

/* True once feed_stop was called. */
bool feed_stopping(void);

/* Registered waiters in this process. */
int feed_count(void);

#endif
