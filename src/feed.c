/*
 * feed.c - see feed.h.
 *
 * One list under one mutex: streams are few (bounded by the request
 * threads) and a wake-up scans them all, which costs less than the
 * notification that caused it.
 */
#include "feed.h"

#include <errno.h>
#include <string.h>
#include <time.h>

static struct {
    pthread_mutex_t lock;
    struct feed_waiter *head;
    int count;
    bool stopping;
} F = {.lock = PTHREAD_MUTEX_INITIALIZER};

int feed_add(struct feed_waiter *w, const char *tenant, int max)
{
    pthread_condattr_t attr;

    pthread_mutex_lock(&F.lock);
    if (F.count >= max) {
        pthread_mutex_unlock(&F.lock);
        return -1;
    }
    w->tenant = tenant;
    w->woken = false;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cond, &attr);
    pthread_condattr_destroy(&attr);
    w->next = F.head;
    F.head = w;
    F.count++;
    pthread_mutex_unlock(&F.lock);
    return 0;
}

void feed_remove(struct feed_waiter *w)
{
    pthread_mutex_lock(&F.lock);
    for (struct feed_waiter **p = &F.head; *p; p = &(*p)->next)
        if (*p == w) {
            *p = w->next;
            F.count--;
            break;
        }
    pthread_mutex_unlock(&F.lock);
    pthread_cond_destroy(&w->cond);
}

bool feed_sleep(struct feed_waiter *w, int64_t deadline_ms)
{
    struct timespec until = {(time_t)(deadline_ms / 1000), (long)(deadline_ms % 1000) * 1000000};
    bool woken;

    pthread_mutex_lock(&F.lock);
    while (!w->woken && !F.stopping)
        if (pthread_cond_timedwait(&w->cond, &F.lock, &until) == ETIMEDOUT)
            break;
    woken = w->woken;
    w->woken = false;
    pthread_mutex_unlock(&F.lock);
    return woken;
}

void feed_wake(const char *tenant)
{
    pthread_mutex_lock(&F.lock);
    for (struct feed_waiter *w = F.head; w; w = w->next)
        if (!tenant || !strcmp(w->tenant, tenant)) {
            w->woken = true;
            pthread_cond_signal(&w->cond);
        }
    pthread_mutex_unlock(&F.lock);
}

void feed_stop(void)
{
    pthread_mutex_lock(&F.lock);
    F.stopping = true;
    pthread_mutex_unlock(&F.lock);
    feed_wake(NULL);
}

bool feed_stopping(void)
{
    bool s;

    pthread_mutex_lock(&F.lock);
    s = F.stopping;
    pthread_mutex_unlock(&F.lock);
    return s;
}

int feed_count(void)
{
    int n;

    pthread_mutex_lock(&F.lock);
    n = F.count;
    pthread_mutex_unlock(&F.lock);
    return n;
}
