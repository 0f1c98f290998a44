/*
 * notify.h - the listener thread of a worker process.
 *
 * 1. One thread per worker process holds a dedicated PostgreSQL connection
 *    (db_listen_uri, else db_uri: a session of its own, never through a
 *    pooler in transaction mode) that LISTENs on lg_request (a request left 'pending'), lg_apikey
 * (a key was revoked) and lg_feed (a tenant's audit trail grew by a request change).
 * 2. lg_request wakes the threads waiting on that request; lg_apikey
 *    empties the key cache (keycache.c); lg_feed is passed to the feed hook
 *    (notify_set_feed_hook: the event streams of that tenant, feed.c). New outbox rows are not
 * announced through PostgreSQL (a NOTIFY serialises commits, and every worker would look for work
 * that one takes): the thread that queued them, whatever decided, calls notify_outbox_kick() after
 * its commit. Rows queued by a worker that stops first are found by another's idle look.
 * 3. Before it wakes the waiters of the requests named in the
 *    notifications it has, the thread reads those rows again itself, in one
 *    statement on its own connection (notify_set_row_reader), and hands
 *    each waiter its row: the row read after the commit is the truth, the
 *    notification only said where to look. A waiter so woken answers
 *    without a trip of its own to the database; a thousand waiters woken
 *    at once cost a few statements, not a thousand. When that read fails,
 *    the waiters read for themselves.
 * 4. When the connection drops, the thread reconnects with backoff (at most
 *    1 s apart; a multi-host conninfo with target_session_attrs=read-write
 *    finds a promoted standby), LISTENs again, and wakes a delivery thread, every waiter and (the
 * feed hook with NULL) every event stream: each re-reads the database, which is the truth; a
 * notification is only a hint.
 * 5. A connection can also fail silently: a peer gone without closing the
 *    socket, a session that no longer listens. TCP keepalives (db.c) and a
 *    ping after every 10 s of quiet (which must answer within 5 s that it
 *    still listens on all three channels) find those; the thread logs it and
 *    goes the way of point 4. The connection is named `loopgate listener`
 *    (application_name) in pg_stat_activity.
 * 6. db_listen_uri, when set, must reach PostgreSQL itself, and the database
 *    db_uri reaches: on each connect the thread asks, in one statement on
 *    its session, whether that session is the server's own and which
 *    database it is in (db_identity), and reads the identity of db_uri's
 *    database on a pooled connection (db_pool_identity). A session through
 *    a pooler, or in another database, is still used (waiters are woken by
 *    their own timeouts or point 5's reconnects, late), but notify_route()
 *    says so: /readyz fails its `listener` check and the janitor, which
 *    holds a session lock on the same URI, does not run. When db_uri's
 *    identity cannot be read, the route stays unknown (the same for /readyz
 *    and the janitor) and the thread asks again every second. An empty
 *    db_listen_uri (only allowed without db_transaction_pooling) means
 *    db_uri, which may be a pooler in session mode, and is not checked.
 */
#ifndef LG_NOTIFY_H
#define LG_NOTIFY_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "config.h"
#include "db.h"

/* Start the listener thread. */
int notify_start(const struct config *cfg) LG_MUST_CHECK;

/*
 * Whether the listener thread holds a LISTEN connection now (/readyz); when
 * not, *down_ms (if not NULL) is how long it has been without one.
 */
bool notify_listening(int64_t *down_ms);

/* How the LISTEN connection reaches PostgreSQL (point 6). */
enum notify_route {
    NOTIFY_ROUTE_UNKNOWN,  /* not connected yet, or db_uri's database not yet compared */
    NOTIFY_ROUTE_OWN,      /* a session of PostgreSQL's own (or db_uri, not checked) */
    NOTIFY_ROUTE_POOLER,   /* db_listen_uri goes through a pooler */
    NOTIFY_ROUTE_OTHER_DB, /* db_listen_uri reaches another database than db_uri */
};

/* What the listener found at its last connect (point 6). */
enum notify_route notify_route(void);

/*
 * The identities of the databases db_listen_uri and db_uri reached at the
 * listener's last comparison (point 6); false when none was made.
 */
bool notify_identities(struct db_identity *listen, struct db_identity *uri);

/* Stop it and wake everyone (shutdown). */
void notify_stop(void);

/*
 * Outbox rows were just committed: wake one of this process's Telegram
 * delivery threads and one of its webhook threads (one that is asleep, or
 * the next to sleep returns at once).
 */
void notify_outbox_kick(void);

/* The webhook lane only: wake one webhook thread (one leased a row: another looks). */
void notify_webhook_kick(void);

/*
 * A webhook thread sleeps until kicked (notify_outbox_kick,
 * notify_webhook_kick), `timeout_ms` pass, or shutdown. True when kicked.
 */
bool notify_wait_webhook(int timeout_ms);

/*
 * Only Telegram sends (paced) were committed: as notify_outbox_kick, but due
 * no earlier than the bot may send again (notify_paced_for).
 */
void notify_outbox_kick_paced(void);

/* The bot sends nothing for the next `ms` milliseconds (0 or less: it may send now). */
void notify_paced_for(int ms);

/*
 * A delivery thread sleeps until kicked (it then owes the outbox a look; a
 * kick made while it was claiming counts), or `timeout_ms` pass, or
 * shutdown. True when it was a kick.
 */
bool notify_wait_outbox(int timeout_ms);

/* Sleep `timeout_ms`, or less if the process stops. */
void notify_sleep(int timeout_ms);

/* True once notify_stop (or notify_wake_all_stop) was called. */
bool notify_stopping(void);

/*
 * Waiting for a request to leave 'pending', holding no database connection.
 * Register first, then read the row, then sleep; on wake use the row the
 * listener read after the notification, or read it again: the row is the
 * truth. A waiter lives on the waiting thread's stack.
 */
struct waiter {
    char id[37];
    const char *tenant; /* a row handed over must be this tenant's (borrowed) */
    bool woken;
    json_t *row; /* the poll body the listener read for this waiter, or NULL */
    pthread_cond_t cond;
    struct waiter *next;
};

/*
 * Register a waiter for request `id` of `tenant` (borrowed for the wait);
 * -1 when the table is full (answer 503).
 */
int notify_waiter_add(struct waiter *w, const char *id, const char *tenant,
                      int max_waiters) LG_MUST_CHECK;

/*
 * Sleep until woken, `deadline_ms` (now_ms clock) passes, or shutdown;
 * clears `woken`. Returns the poll body the listener read for this waiter
 * after a notification (a new reference), or NULL: then read it yourself.
 */
json_t *notify_waiter_sleep(struct waiter *w, int64_t deadline_ms);

void notify_waiter_remove(struct waiter *w);

/*
 * Reads the poll bodies of requests `ids` on connection `c` (the
 * listener's) and passes each to notify_hand_row(); -1 when the read
 * failed. Set once, before notify_start (server.c, with store_poll_rows); without one,
 * woken waiters read for themselves.
 */
typedef int (*notify_row_reader)(struct db_conn *c, const char *const *ids, int n);
void notify_set_row_reader(notify_row_reader reader);

/*
 * Called by the listener thread with the tenant of each lg_feed
 * notification, and with NULL after it (re)connected: anything may have
 * changed. Must not block. Set once, before notify_start (server.c, with
 * feed_wake).
 */
typedef void (*notify_feed_hook)(const char *tenant);
void notify_set_feed_hook(notify_feed_hook hook);

/* For the reader: give `poll` (borrowed; each waiter gets a copy) to the waiters of `id`. */
void notify_hand_row(const char *id, const char *tenant, json_t *poll);

/* Number of registered waiters in this process. */
int notify_waiters(void);

/* Shutdown: wake every waiter and make further sleeps return at once. */
void notify_wake_all_stop(void);

#endif
