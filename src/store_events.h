/*
 * store_events.h - reading a tenant's request changes from the audit trail
 * for the live event stream (events.h).
 *
 * The trail is the stream's log: each tenant's rows carry a gap-free seq
 * (019), written under the tenant's chain head's row lock, so a row whose
 * seq is visible has every row before it visible too. A stream remembers
 * the last seq it read and asks for the rows after it. Only the actions
 * the stream shows are returned (submitted, voted, decided, timed_out,
 * canceled).
 */
#ifndef LG_STORE_EVENTS_H
#define LG_STORE_EVENTS_H

#include <stdbool.h>
#include <stdint.h>

#include "util.h"

/* One request change; borrowed: valid during the callback only. */
struct events_row {
    int64_t seq;            /* the row's place in its tenant's trail */
    const char *request_id; /* lower-case uuid */
    const char *session_id;
    const char *action;
    const char *data; /* the event's JSON object, as text (never a callback_url) */
};

/*
 * The tenant's last seq (0: no rows yet) in `head`, and in `stale` whether
 * the row right after `after` is older than `max_age_s` seconds (false
 * when there is none). -1 with `err` on failure.
 */
int store_events_head(const char *tenant, int64_t after, int max_age_s, int64_t *head, bool *stale,
                      struct lg_error *err) LG_MUST_CHECK;

/*
 * Up to `limit` request changes of `tenant` after seq `after` (of session
 * `session_id` only, unless NULL), oldest first, each passed to `on_row`
 * after the database connection was given back (the callback may block on
 * a slow client, or read the store itself). `head` gets the tenant's last
 * seq as of the same read: with fewer than `limit` rows, everything up to
 * it was read. Returns the number of rows read (a non-zero `on_row` stops
 * the calls there and is returned as -2), or -1 with `err`.
 */
int store_events_read(const char *tenant, int64_t after, const char *session_id, int limit,
                      int64_t *head, int (*on_row)(const struct events_row *row, void *arg),
                      void *arg, struct lg_error *err) LG_MUST_CHECK;

/*
 * Say that a stream of `tenant` is open for the next `seconds` (feed_tenants,
 * 023): until then its audit rows are announced (NOTIFY lg_feed). Renew it
 * every third of that while the stream lasts. -1 with `err` on failure.
 */
int store_events_lease(const char *tenant, int seconds, struct lg_error *err) LG_MUST_CHECK;

#endif
