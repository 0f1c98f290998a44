/*
 * wait.c - see wait.h.
 */
#include "wait.h"

#include <string.h>

#include "feed.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "store_requests.h"

#define RETRY_MS 250 /* a read that failed is tried again this soon */

static struct wait_hooks hooks; /* written once, before any waiting thread starts */

void wait_set_hooks(const struct wait_hooks *h)
{
    hooks = *h;
}

int wait_capacity(const struct config *cfg)
{
    /* Keep threads free to accept, refuse and answer everything else. */
    int reserve = cfg->threads / 16 > 2 ? cfg->threads / 16 : 2;

    return cfg->threads > reserve ? cfg->threads - reserve : 0;
}

static bool final(json_t *poll)
{
    return json_is_true(json_object_get(poll, "completed"));
}

int wait_poll(const struct config *cfg, const struct actor *who, const char *id, int wait_s,
              json_t **out, struct lg_error *err)
{
    struct waiter w;
    json_t *row = NULL;
    int64_t deadline, until;
    int rc;

    if (wait_s <= 0)
        return store_request_poll(who, id, out, err);
    /* Event streams (feed.h) hold threads from the same store. */
    if (notify_waiter_add(&w, id, who->tenant, wait_capacity(cfg) - feed_count()) < 0)
        return lg_fail(err, 503, "too_many_waiting",
                       "this worker already holds %d waiting polls and %d event streams; retry, "
                       "or poll without wait",
                       notify_waiters(), feed_count());
    metrics_waiting(1);
    deadline = now_ms() + (int64_t)wait_s * 1000;
    *out = NULL;
    for (;;) {
        /* The row the listener read after the notification, else our own read. */
        if (row) {
            *out = row;
            row = NULL;
            rc = 0;
        } else {
            rc = store_request_poll(who, id, out, err);
        }
        /* Unknown request, or nothing more to wait for. */
        if ((rc < 0 && err->status < 500) || (rc == 0 && final(*out)))
            break;
        if (now_ms() >= deadline || notify_stopping())
            break;
        /*
         * Still pending, or the database away: sleep until told (the listener
         * wakes every waiter when it reconnects) or timed out. Every pooled
         * connection busy past the pool's wait (thousands of waiters woken at
         * once): look again soon, as the wake-up that led here is spent and
         * no other may follow.
         */
        until = deadline;
        if (rc == 0) {
            json_decref(*out);
            *out = NULL;
        } else if (!strcmp(err->code, "database_busy") && now_ms() + RETRY_MS < deadline) {
            until = now_ms() + RETRY_MS;
        }
        if (hooks.sleeps)
            hooks.sleeps();
        row = notify_waiter_sleep(&w, until);
        if (hooks.wakes)
            hooks.wakes();
    }
    notify_waiter_remove(&w);
    metrics_waiting(-1);
    return rc;
}
