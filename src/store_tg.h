/*
 * store_tg.h - what Telegram's updates change: the transaction of an update
 * (deduplicated by bot and update id), button presses decided in one
 * statement, bots whose token was refused, and the window of processed
 * updates.
 */
#ifndef LG_STORE_TG_H
#define LG_STORE_TG_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include <libpq-fe.h>

#include "db.h"
#include "shape.h"
#include "util.h"

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
 * waiter, a poll, a delivery thread) could see it before. 0: committed; the
 * caller wakes the delivery threads (notify_outbox_kick) to send what the
 * transaction queued (the answer to the press, the edit, a reply).
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

#endif
