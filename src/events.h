/*
 * events.h - the live event stream: a tenant's request changes as
 * Server-Sent Events (GET /hitl/events; the console's GET
 * /console/api/events through events_stream()).
 *
 * 1. The source is the audit trail: each submitted, voted, decided,
 *    timed_out or canceled row of the tenant is one event, whose SSE id is
 *    the row's seq (gap-free per tenant, 019). An event is
 *        id: <seq>
 *        event: request
 *        data: {"request_id","session_id","action","status","approved",
 *               "response","reason","at", and the request's summary:
 *               "client_id","message","request_type","options","created_at",
 *               "expires_at","approvals_required","approvals","denials",
 *               "delivery"}
 *    never the callback_url.
 * 2. A stream starts at the tenant's current head, or, given Last-Event-ID
 *    (header, or the last_event_id query parameter), replays the rows after
 *    that seq. A replay is bounded (EVENTS_REPLAY_MAX rows, rows at most
 *    EVENTS_REPLAY_MAX_AGE_S old): beyond it, or for an id the trail does
 *    not have, the stream opens with `event: reset` (data {"reason",
 *    "head"}, id the head) and goes on from the head: the client re-reads
 *    /hitl/pending.
 * 3. Between reads the thread holds no database connection: it sleeps on a
 *    feed waiter (feed.h) that the listener wakes on NOTIFY lg_feed (the
 *    trigger audit_log_feed) and on reconnect, then reads what is new (at
 *    most every READ_GAP_MS, so a burst of changes costs a few reads). A
 *    NOTIFY serialises the commits of whoever sends it, so the trigger
 *    announces only tenants with a stream open: a stream leases its
 *    tenant in feed_tenants (023) while it lasts, and reads once more soon
 *    after it opened and with every keepalive, for a change that looked
 *    for the lease just before it was taken. A
 *    quiet stream gets `: keepalive` every events_keepalive seconds (with
 *    an `id:` line when rows it did not show moved its place on, so a
 *    reconnect does not replay them); it ends after events_lifetime seconds
 *    (EventSource reconnects with Last-Event-ID), when a write fails or
 *    the client has gone, and when the worker stops.
 * 4. Each stream holds a request thread: a worker process serves at most
 *    events_streams at once, and no more than the threads long-polls may
 *    take leave free (wait_capacity). One more is a 503 JSON error. A
 *    sleeping stream does not count towards busy_threads (the wait hooks).
 */
#ifndef LG_EVENTS_H
#define LG_EVENTS_H

#include <stdbool.h>

#include "http.h"
#include "store_events.h"
#include "wait.h"

#define EVENTS_REPLAY_MAX 1000       /* rows a Last-Event-ID may be behind */
#define EVENTS_REPLAY_MAX_AGE_S 3600 /* age of the oldest row a replay sends */

/* Which events a stream shows. */
struct events_filter {
    const char *tenant;     /* required; borrowed for the stream's life */
    const char *session_id; /* only this session's requests; NULL: all */
    /*
     * Whether the stream's user may see the request of `row` (NULL: every
     * request of the tenant). Called on the streaming thread with no
     * database connection held; it may read the store. `row` is borrowed
     * for the call.
     */
    bool (*visible)(void *ctx, const struct events_row *row);
    void *ctx;
};

/*
 * Serve one event stream on `r` (the route has authenticated its caller;
 * `f->tenant` is whose events it gets). Reads Last-Event-ID (header) or
 * last_event_id (query) from `r` itself. Returns 0 once a stream was served
 * and has ended, -1 when none was started: then `r` has been answered with
 * a JSON error (400 bad Last-Event-ID, 503 too_many_streams or database
 * unavailable).
 */
int events_stream(struct http_req *r, const struct events_filter *f) LG_MUST_CHECK;

/*
 * What the process does around a stream's sleep (server.c: the same hooks
 * as wait.c's, so a sleeping stream frees its busy_threads place). Set
 * once, before the threads start.
 */
void events_set_hooks(const struct wait_hooks *hooks);

#endif
