/*
 * store_requests.h - the requests agents submit, from submit to a final
 * state: poll, pending lists, cancel, callbacks, expiry.
 */
#ifndef LG_STORE_REQUESTS_H
#define LG_STORE_REQUESTS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include "actor.h"
#include "db.h"
#include "metrics.h"
#include "shape.h"
#include "util.h"
#include "validate.h"

/*
 * Insert a request. With `idem_key`, a second submit with the same key and
 * `body_hash` answers the first request; a different body is a 409. With
 * in->hook_key (a coding agent's hook call, 029), a call whose request with
 * that key, session, tool and tool input is still pending is not inserted:
 * *out is {request_id, status "pending", hook_attach (the arrivals of the
 * call after the first, this one counted), reattached true}; a request
 * with the key that is no longer pending is never answered, the call gets
 * its own.
 * Submits of one process that arrive while another is being written are
 * written together, in one statement and one commit; each gets its own
 * answer, as if it had been alone (submit_batch.h). *queued is set, whatever
 * the answer, when this call wrote Telegram sends to the outbox: the caller
 * wakes the delivery threads (notify_outbox_kick_paced).
 */
/*
 * Whether submitted requests are queued for Telegram (default true). Set
 * once at start-up, before any submit: false when no bot token is
 * configured, and then every request is answered in the console (its
 * delivery state 'console', no outbox row), as is always a request of a
 * session without a Telegram chat.
 */
void store_request_telegram(bool on);

int store_request_submit(const struct actor *who, const struct submit_in *in, const char *idem_key,
                         const char *body_hash, int max_pending, bool *queued, json_t **out,
                         struct lg_error *err) LG_MUST_CHECK;

/* Receives the poll body `poll` (borrowed) of request `id` of `tenant`. */
typedef void store_poll_hand(const char *id, const char *tenant, json_t *poll);

/*
 * The listener's read (notify_row_reader): the poll bodies of requests
 * `ids`, read on connection `c`, each passed to `hand`; -1 on failure.
 */
int store_poll_rows(struct db_conn *c, const char *const *ids, int n, store_poll_hand *hand);

int store_request_poll(const struct actor *who, const char *id, json_t **out,
                       struct lg_error *err) LG_MUST_CHECK;
int store_request_pending(const struct actor *who, const char *session_id, json_t **out,
                          struct lg_error *err) LG_MUST_CHECK;
/*
 * Cancel a pending request, asked `via` the agent API, MCP or a hook (for
 * the metrics). 0: canceled, and its message edit and webhook are queued:
 * the caller wakes the delivery threads (notify_outbox_kick).
 */
int store_request_cancel(const struct actor *who, const char *id, enum metrics_channel via,
                         json_t **out, struct lg_error *err) LG_MUST_CHECK;

/*
 * Cancel hook request `id` whose waiter's caller hung up, unless a later
 * arrival of the same call took it over (its hook_attach is no longer
 * `attach`, the count this waiter was given): as store_request_cancel,
 * and a 409 taken_over when a later arrival holds it.
 */
int store_request_abandon(const struct actor *who, const char *id, int attach, json_t **out,
                          struct lg_error *err) LG_MUST_CHECK;

/* A request row read whole; it owns its strings. */
struct request_row {
    struct lg_request r; /* its strings point into `strings` */
    char tenant[ID_MAX_BYTES + 1];
    char *strings;
};

/*
 * The row of request `id`, of any tenant: 0 with *out filled (free it with
 * store_request_row_free), or -1 (404 when there is no such request).
 */
int store_request_row(const char *id, struct request_row *out, struct lg_error *err) LG_MUST_CHECK;
void store_request_row_free(struct request_row *row);

/*
 * Time out up to `limit` expired requests; returns how many. When some
 * were, their edits and webhooks are queued: the caller wakes the delivery
 * threads (notify_outbox_kick).
 */
int store_expire_due(int limit, struct lg_error *err) LG_MUST_CHECK;

/*
 * Send the reminders and escalations that are due, up to `limit` of each
 * (sql/functions/requests_nudge.sql; each once across all workers); returns
 * how many. Their Telegram rows are queued: the caller wakes the delivery
 * threads (notify_outbox_kick).
 */
int store_nudge_due(int limit, struct lg_error *err) LG_MUST_CHECK;

/* For /metrics: how many requests are pending, over every tenant. */
int store_pending_total(int64_t *n, struct lg_error *err) LG_MUST_CHECK;

/* Set the callback_url of a pending request (404 unknown, 409 not pending). */
int store_callback_set(const struct actor *who, const char *id, const char *url,
                       struct lg_error *err) LG_MUST_CHECK;

#endif
