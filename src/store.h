/*
 * store.h - every SQL statement Loopgate runs against its tables.
 *
 * Each function borrows a connection from the pool (db.h) for its own span,
 * runs one round trip where it can, and answers with a new JSON reference
 * shaped by shape.c, or -1 with `err` filled (404/409/429/503 ...). A change
 * and its audit row are written by the same statement, so both or neither.
 */
#ifndef LG_STORE_H
#define LG_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "actor.h"
#include "db.h"
#include "shape.h"

#include "util.h"
#include "validate.h"

/* SELECT 1: readiness of the database. */
int store_ping(struct lg_error *err) LG_MUST_CHECK;

/* Look up an API key by its SHA-256 hex; 0 found, 1 unknown or revoked, -1 error. */
int store_key_lookup(const char *key_hash, struct actor *who, struct lg_error *err) LG_MUST_CHECK;

int store_session_register(const struct actor *who, const struct register_in *in, json_t **out,
                           struct lg_error *err) LG_MUST_CHECK;
int store_session_get(const struct actor *who, const char *session_id, json_t **out,
                      struct lg_error *err) LG_MUST_CHECK;
int store_session_deactivate(const struct actor *who, const char *session_id, json_t **out,
                             struct lg_error *err) LG_MUST_CHECK;

/*
 * Insert a request. With `idem_key`, a second submit with the same key and
 * `body_hash` answers the first request; a different body is a 409.
 * Submits of one process that arrive while another is being written are
 * written together, in one statement and one commit; each gets its own
 * answer, as if it had been alone.
 */
int store_request_submit(const struct actor *who, const struct submit_in *in, const char *idem_key,
                         const char *body_hash, int max_pending, json_t **out,
                         struct lg_error *err) LG_MUST_CHECK;
/*
 * The listener's read (notify_row_reader): the poll bodies of requests
 * `ids`, each handed to its waiters with notify_hand_row(); -1 on failure.
 */
int store_poll_rows(struct db_conn *c, const char *const *ids, int n);

int store_request_poll(const struct actor *who, const char *id, json_t **out,
                       struct lg_error *err) LG_MUST_CHECK;
int store_request_pending(const struct actor *who, const char *session_id, json_t **out,
                          struct lg_error *err) LG_MUST_CHECK;
int store_request_cancel(const struct actor *who, const char *id, json_t **out,
                         struct lg_error *err) LG_MUST_CHECK;

/* API key administration (CLI). */
int store_key_create(const char *tenant, const char *name, const char *key_hash, const char *prefix,
                     struct lg_error *err) LG_MUST_CHECK;
int store_key_list(json_t **out, struct lg_error *err) LG_MUST_CHECK;
/* Revoke by id or prefix; 0 revoked, 1 no such active key, -1 error. */
int store_key_revoke(const char *id_or_prefix, struct lg_error *err) LG_MUST_CHECK;

/* ---------------------------------------------------------------- outbox */

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

/* Telegram pacing (sql/005_pacing.sql, sql/006_throughput.sql). */
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

/* A request row of any tenant; strings borrowed from the returned result (PQclear it). */
PGresult *store_request_row(const char *id, struct lg_request *r, struct lg_error *err);
/* The same, with the row's tenant (borrowed too). */
PGresult *store_request_row_tenant(const char *id, struct lg_request *r, const char **tenant,
                                   struct lg_error *err);

/*
 * tg_send succeeded: record the message id, its buttons (tgmsg_buttons,
 * may be NULL) and whether its text had to be cut (`cut`: a timeout then
 * denies, sql/016_timeout_seen.sql); queue an edit if decided meanwhile.
 */
int store_delivery_sent(int64_t outbox_id, const char *request_id, int64_t bot_id,
                        int64_t message_id, json_t *buttons, bool cut,
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

/* ---------------------------------------------------------------- telegram updates */

/* Roll back and give back the connection of an update's transaction. */
void store_tx_rollback(struct db_conn *tx);

/* A request locked for a decision, with what decides who may answer it. */
struct tg_request {
    struct lg_request r;
    const char *tenant;
    const char *approvers; /* PostgreSQL bigint[] text */
    bool expired;
    int64_t bot_id; /* the bot that sent its message; 0: unknown (nobody's) */
};

/*
 * Lock a request (FOR UPDATE) by the Telegram message that shows it: bot
 * `bot_id`'s message (chat_id, message_id), of that exact bot (404 when it
 * has none; a message of bot 0 that no bot adopted is nobody's).
 */
PGresult *store_tg_request_by_message(struct db_conn *tx, int64_t bot_id, int64_t chat_id,
                                      int64_t message_id, struct tg_request *out,
                                      struct lg_error *err);

/* Queue outbound work (inside `tx`, or on its own when tx is NULL). */
int store_tg_enqueue(struct db_conn *tx, const char *kind, const char *request_id, int64_t chat_id,
                     json_t *payload, int priority, struct lg_error *err) LG_MUST_CHECK;

int store_tg_audit(struct db_conn *tx, const char *tenant, const char *request_id,
                   const char *session_id, const char *actor, const char *action, json_t *detail,
                   struct lg_error *err) LG_MUST_CHECK;

/* Rows for the /pending and /status commands of one chat (PQclear them). */
PGresult *store_tg_chat_pending(struct db_conn *tx, int64_t chat_id, struct lg_error *err);
PGresult *store_tg_chat_sessions(struct db_conn *tx, int64_t chat_id, struct lg_error *err);

/* A decision made in Telegram (sql/006_throughput.sql, tg_decided). */
struct tg_decision {
    const char *id; /* the request */
    const char *response;
    bool approved;
    int64_t user_id;
    const char *name;  /* the person, as shown */
    const char *actor; /* the audit actor */
    json_t *audit_detail;
    json_t *answer; /* answerCallbackQuery parameters, or NULL */
};

/*
 * Begin the transaction of bot `bot_id`'s update `update_id`, record the id, and
 * lock request `lock_id` (when not NULL; *row and *out are set if it
 * exists; PQclear *row), in one round trip. 0: go on in *tx; 1: the update
 * was handled before (nothing is open); -1: error.
 */
int store_tg_open(struct db_conn **tx, int64_t bot_id, int64_t update_id, const char *lock_id,
                  PGresult **row, struct tg_request *out, struct lg_error *err) LG_MUST_CHECK;

/*
 * Write decision `d` (when not NULL: the request leaves 'pending' with its
 * audit row, final-state work and answer, sql/006_throughput.sql tg_decided)
 * and commit, in one round trip; `tx` is given back either way. A decision
 * commits synchronously: once this returns it is on disk, and nobody (a
 * waiter, a poll, a delivery thread) could see it before. Then call
 * notify_outbox_kick() to send what it queued (the answer to the press, the edit).
 */
int store_tg_close(struct db_conn *tx, const struct tg_decision *d,
                   struct lg_error *err) LG_MUST_CHECK;

/* A button press, for a decision in one statement (sql/008_press.sql, tg_press). */
struct tg_press {
    int64_t bot_id; /* the bot whose update and message this is */
    int64_t update_id;
    const char *request_id;
    int option; /* the button's index */
    int64_t chat_id, message_id;
    int64_t user_id;
    const char *name;     /* the presser, as shown */
    const int64_t *allow; /* telegram_allowed_users; none: everyone the rule admits */
    size_t nallow;
    bool group_any; /* telegram_group_any_member */
    const char *callback_query_id;
};

/*
 * Decide the press in one statement (and one round trip; like
 * store_tg_close, on disk when it returns; then notify_outbox_kick to send
 * what it queued). 0: decided (*approved set); 1: an update
 * handled before; 2: nothing written, handle it as any update (refusals,
 * messages sent before the buttons were kept); -1: error.
 */
int store_tg_press(const struct tg_press *press, bool *approved,
                   struct lg_error *err) LG_MUST_CHECK;

/* Record bot `bot_id`'s update `update_id` as refused for good (`why`): it is not processed. */
int store_tg_refused(int64_t bot_id, int64_t update_id, const char *why,
                     struct lg_error *err) LG_MUST_CHECK;

/* Forget up to `limit` processed updates older than `window_hours`; returns how many. */
int store_tg_prune(int window_hours, int limit, struct lg_error *err) LG_MUST_CHECK;

/*
 * Telegram refused bot `bot_id`'s token (`error`, shown by /health): 1 when
 * this call is the first to record it, 0 when it was known, -1 on error.
 */
int store_tg_bot_refused(int64_t bot_id, const char *error, struct lg_error *err) LG_MUST_CHECK;
/* Telegram accepts the token again: 1 when it had been refused, 0 if not, -1 on error. */
int store_tg_bot_accepted(int64_t bot_id, struct lg_error *err) LG_MUST_CHECK;
/* 1 with the error when bot `bot_id`'s token is refused, 0 when not, -1 on error. */
int store_tg_bot_state(int64_t bot_id, char *error, size_t len, struct lg_error *err) LG_MUST_CHECK;
/*
 * Give bot `bot_id` the messages and updates recorded before bot ids were
 * (bot 0), once for the database (sql/017_bot_adoption.sql): *adopted is the
 * number of request messages it took, or -1 when they had been adopted
 * before; *owner the bot that holds the claim (0: nobody yet, when `bot_id`
 * is no bot). 0, or -1 on error.
 */
int store_tg_adopt_unowned(int64_t bot_id, int64_t *owner, int *adopted,
                           struct lg_error *err) LG_MUST_CHECK;

/* ---------------------------------------------------------------- timeouts, webhooks */

/* Time out up to `limit` expired requests; returns how many. */
int store_expire_due(int limit, struct lg_error *err) LG_MUST_CHECK;

/* Set the callback_url of a pending request (404 unknown, 409 not pending). */
int store_callback_set(const struct actor *who, const char *id, const char *url,
                       struct lg_error *err) LG_MUST_CHECK;

/* The tenant's webhook secret, created on first use; `rotate` replaces it. */
int store_webhook_secret(const char *tenant, bool rotate, char *out, size_t outlen,
                         struct lg_error *err) LG_MUST_CHECK;

int store_webhook_done(int64_t outbox_id, struct lg_error *err) LG_MUST_CHECK;
/* Retry in delay_ms, unless the row is older than window_s: then failed. */
int store_webhook_retry(int64_t outbox_id, int delay_ms, const char *error, int window_s,
                        struct lg_error *err) LG_MUST_CHECK;
int store_webhook_fail(int64_t outbox_id, const char *error, struct lg_error *err) LG_MUST_CHECK;

/* ---------------------------------------------------------------- MCP sessions */

/*
 * Create a session unless the tenant has `max` live ones (idle less than
 * `idle` seconds) already; prunes a bounded number of ended or idle
 * sessions of any tenant on the way. 0 created, 1 at the cap, -1 error.
 */
int store_mcp_session_create(const char *id, const char *tenant, const char *version,
                             const char *client_name, const char *client_version, int max, int idle,
                             struct lg_error *err) LG_MUST_CHECK;
/* 0 found (version filled), 1 unknown, ended or idle `idle` seconds, -1 error. */
int store_mcp_session_get(const char *id, const char *tenant, int idle, char *version, size_t vlen,
                          struct lg_error *err) LG_MUST_CHECK;
/* 0 ended, 1 unknown, -1 error. */
int store_mcp_session_end(const char *id, const char *tenant, struct lg_error *err) LG_MUST_CHECK;

#endif
