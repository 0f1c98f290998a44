/*
 * store_outbox.h - the outbox of deliveries (Telegram sends, edits,
 * answers and texts; agent webhooks): its two lanes, leases, outcomes, and
 * the pacing of Telegram sends.
 */
#ifndef LG_STORE_OUTBOX_H
#define LG_STORE_OUTBOX_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "util.h"
#include "validate.h"

/* One leased outbox row. `payload` is a new reference (or NULL). */
struct outbox_row {
    int64_t id;
    char kind[16];
    char request_id[37]; /* "" when the row has no request */
    int64_t chat_id;
    json_t *payload;
    int attempts;                  /* including this one */
    char tenant[ID_MAX_BYTES + 1]; /* webhooks: the request's tenant, and its callback_url's host */
    char host[256];
};

/* Telegram pacing (sql/functions/outbox_claim_tg.sql). */
struct pace {
    int chat_gap_ms;  /* between two messages to one private chat */
    int group_gap_ms; /* between two messages to one group */
    int bot_gap_ms;   /* between two messages of the bot */
    int bot_rate;     /* messages of the bot in any one second */
};

/*
 * The Telegram lane: lease up to `limit` due Telegram rows into out[] for
 * `lease_s` seconds each, honouring Telegram pacing; returns the count.
 */
int store_outbox_claim(int limit, int lease_s, const struct pace *pace, struct outbox_row *out,
                       struct lg_error *err) LG_MUST_CHECK;

/*
 * The webhook lane: lease one due webhook for `lease_s` seconds, passing
 * over rows whose tenant already has `tenant_cap` webhooks in flight or
 * whose target host `host_cap` (counted across every worker). Returns 1
 * (out filled, with tenant and host), 0 (nothing may be taken now) or -1.
 */
int store_outbox_claim_webhook(int lease_s, int tenant_cap, int host_cap, struct outbox_row *out,
                               struct lg_error *err) LG_MUST_CHECK;

/*
 * Extend the lease of row `o` (held at attempt o->attempts) to `lease_s`
 * seconds from now: 0 done, 1 the row is no longer this caller's to send
 * (claimed again or finished: do not send it), -1 database error.
 */
int store_outbox_renew(const struct outbox_row *o, int lease_s, struct lg_error *err) LG_MUST_CHECK;

/*
 * Milliseconds until the next row not in flight is due; -1 none queued, -2
 * error. `paced_ms`: how long until the bot may send anything (its own pace
 * and its window of `bot_rate` slots), 0 when it may now.
 */
int64_t store_outbox_next_due_ms(int bot_rate, int64_t *paced_ms, struct lg_error *err);

/*
 * tg_send succeeded: record the message id, its buttons (tgmsg_buttons,
 * may be NULL) and whether its text had to be cut (`cut`: a timeout then
 * denies, sql/functions/requests_expire.sql); queue an edit if decided meanwhile
 * (*queued: the caller wakes the delivery threads, notify_outbox_kick).
 */
int store_delivery_sent(int64_t outbox_id, const char *request_id, int64_t bot_id,
                        int64_t message_id, json_t *buttons, bool cut, bool *queued,
                        struct lg_error *err) LG_MUST_CHECK;

/*
 * tg_escalate succeeded (021): record message `message_id` of bot `bot_id`
 * as the request's escalation message in chat `chat_id` and queue the note
 * that says why it came (the caller wakes the delivery threads); queue its
 * edit if decided meanwhile (*queued).
 */
int store_escalation_sent(int64_t outbox_id, const char *request_id, int64_t chat_id,
                          int64_t bot_id, int64_t message_id, bool *queued,
                          struct lg_error *err) LG_MUST_CHECK;
int store_outbox_done(int64_t outbox_id, struct lg_error *err) LG_MUST_CHECK;
/* A call succeeded after failures: rows backing off from Telegram errors are due now. */
int store_outbox_recovered(struct lg_error *err) LG_MUST_CHECK;
/* Try again in `delay_ms`; the request shows the attempt and error. */
int store_outbox_retry(int64_t outbox_id, int delay_ms, const char *error,
                       struct lg_error *err) LG_MUST_CHECK;
/* Stop for good: state "failed" (recorded error) or "skipped" (no longer needed). */
int store_outbox_fail(int64_t outbox_id, const char *state, const char *error,
                      struct lg_error *err) LG_MUST_CHECK;
/* Nothing goes to pacing key ("bot", "chat:<id>") for `seconds`. */
int store_pace_delay(const char *key, int seconds, struct lg_error *err) LG_MUST_CHECK;

int store_webhook_done(int64_t outbox_id, struct lg_error *err) LG_MUST_CHECK;
/* Retry in delay_ms, unless the row is older than window_s: then failed. */
int store_webhook_retry(int64_t outbox_id, int delay_ms, const char *error, int window_s,
                        struct lg_error *err) LG_MUST_CHECK;
int store_webhook_fail(int64_t outbox_id, const char *error, struct lg_error *err) LG_MUST_CHECK;

/*
 * For /metrics: call `each` once per outbox kind that has queued rows, with
 * how many and the age of the oldest in seconds; -1 with `err` on failure.
 */
typedef void store_outbox_depth_fn(void *ctx, const char *kind, int64_t queued, double oldest_s);
int store_outbox_depth(store_outbox_depth_fn *each, void *ctx, struct lg_error *err) LG_MUST_CHECK;

#endif
