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

#include "shape.h"
#include "util.h"

/* A request locked for a decision, with what decides who may answer it. */
struct tg_request {
    struct lg_request r;
    const char *tenant;
    const char *approvers; /* PostgreSQL bigint[] text */
    bool expired;
    int64_t bot_id; /* the bot that sent its message; 0: unknown (nobody's) */
    /* the approvers of the escalate_to session (021), PostgreSQL bigint[] text; "{}": none */
    const char *esc_approvers;
};

/* A pending request of a chat, for /pending. */
struct tg_chat_pending {
    const char *id;
    const char *message;
    const char *expires_at;
};

/* A session that asks a chat, for /status. */
struct tg_chat_session {
    const char *session_id;
    const char *client_id;
    bool active;
    int64_t pending; /* its pending requests */
};

/* What an update's transaction reads before its plan runs. */
enum tg_read {
    TG_READ_NONE,
    TG_READ_REQUEST,       /* lock request `request_id` (FOR UPDATE) */
    TG_READ_MESSAGE,       /* lock the request message_bot's (chat_id, message_id) shows */
    TG_READ_CHAT_PENDING,  /* chat_id's pending requests (at most 20) */
    TG_READ_CHAT_SESSIONS, /* the sessions that ask chat_id (at most 20) */
};

/* An update to process once: bot `bot_id`'s update `update_id`, and what it reads. */
struct tg_update {
    int64_t bot_id;
    int64_t update_id;
    enum tg_read read;
    const char *request_id; /* TG_READ_REQUEST */
    /*
     * TG_READ_MESSAGE: bot `message_bot`'s message (chat_id, message_id), of
     * that exact bot (a message of bot 0 that no bot adopted is nobody's);
     * TG_READ_CHAT_*: the chat.
     */
    int64_t message_bot, chat_id, message_id;
};

/*
 * What the transaction read, for the plan. Strings are borrowed: they stay
 * valid until store_tg_update returns, so the plan's effects may point at
 * them.
 */
struct tg_view {
    const struct tg_request *request; /* TG_READ_REQUEST, TG_READ_MESSAGE: NULL when none */
    const struct tg_chat_pending *pending;
    int npending;
    const struct tg_chat_session *sessions;
    int nsessions;
};

/* A decision made in Telegram (sql/functions/tg_decided.sql). */
struct tg_decision {
    const char *id; /* the request */
    const char *response;
    bool approved;
    int64_t user_id;
    const char *name;  /* the person, as shown */
    const char *actor; /* the audit actor */
    json_t *audit_detail;
    json_t *answer;     /* answerCallbackQuery parameters, or NULL */
    json_t *reply;      /* a typed answer: sendMessage parameters but the text, or NULL */
    const char *reason; /* the person's reason (deny with a reason) or comment, or NULL */
    json_t *params;     /* an approval with edits: the params approved instead, or NULL */
};

/* One row an update writes: an audit row (`action` set) or an outbox row (`kind` set). */
struct tg_effect {
    const char *action; /* audit_log.action */
    const char *tenant, *request_id, *session_id;
    char actor[32];   /* "telegram:<user id>" */
    json_t *detail;   /* owned */
    const char *kind; /* outbox.kind */
    int64_t chat_id;
    json_t *payload; /* owned */
    int priority;
};

#define TG_EFFECTS_MAX 4

/*
 * What an update's plan decided to write, in order, then the decision (not
 * owned; NULL: none). The caller owns it and releases it with
 * tg_effects_clear.
 */
struct tg_effects {
    struct tg_effect row[TG_EFFECTS_MAX];
    int n;
    const struct tg_decision *decision;
};

/* Add an audit row by Telegram user `user_id` (takes `detail`); -1 (500) when full. */
int tg_effects_audit(struct tg_effects *fx, const char *tenant, const char *request_id,
                     const char *session_id, int64_t user_id, const char *action, json_t *detail,
                     struct lg_error *err) LG_MUST_CHECK;
/* Add an outbox row (takes `payload`); -1 (500) when full. */
int tg_effects_outbox(struct tg_effects *fx, const char *kind, int64_t chat_id, json_t *payload,
                      int priority, struct lg_error *err) LG_MUST_CHECK;
void tg_effects_clear(struct tg_effects *fx);

/*
 * Plans an update from what was read, touching no database: fills `fx`.
 * 0: write it; -1 (err filled): write nothing.
 */
typedef int tg_plan(void *ctx, const struct tg_view *view, struct tg_effects *fx,
                    struct lg_error *err);

/*
 * The transaction of an update, in two round trips: begin, record the
 * update id and read what `u` asks for; run `plan`; then write its effects
 * and decision and commit. A decision (the request leaves 'pending' with
 * its audit row, final-state work and answer, sql/functions/tg_decided.sql)
 * commits synchronously: once this returns it is on disk, and
 * nobody (a waiter, a poll, a delivery thread) could see it before.
 * 0: committed; the caller wakes the delivery threads (notify_outbox_kick)
 * to send what it queued (the answer to the press, the edit, a reply).
 * 1: the update was handled before (nothing written, the plan not run).
 * -1: error (the plan's, or the database's); nothing written.
 * `fx` is the caller's either way (tg_effects_clear).
 */
int store_tg_update(const struct tg_update *u, tg_plan *plan, void *ctx, struct tg_effects *fx,
                    struct lg_error *err) LG_MUST_CHECK;

/* A button press, for a decision in one statement (sql/functions/tg_press.sql). */
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
 * The press as the presser's vote, in one statement (and one round trip;
 * like store_tg_update, on disk when it returns; then notify_outbox_kick to
 * send what it queued). 0: decided (*approved set); 1: an update handled
 * before; 2: nothing written, handle it as any update (refusals, messages
 * sent before the buttons were kept); 3: a vote that did not decide (the
 * request's quorum is not met; the answer and the progress edit queued);
 * 4: the presser had voted already (answered so); -1: error.
 */
int store_tg_press(const struct tg_press *press, bool *approved,
                   struct lg_error *err) LG_MUST_CHECK;

/* Record bot `bot_id`'s update `update_id` as refused for good (`why`): it is not processed. */
int store_tg_refused(int64_t bot_id, int64_t update_id, const char *why,
                     struct lg_error *err) LG_MUST_CHECK;

/*
 * Telegram refused the token of `fingerprint` (tg_token_fingerprint: the
 * token as this host uses it), bot `bot_id`'s (`error`, shown by /health):
 * 1 when this call is the first to record it, 0 when it was known, -1 on
 * error.
 */
int store_tg_bot_refused(const char *fingerprint, int64_t bot_id, const char *error,
                         struct lg_error *err) LG_MUST_CHECK;
/* Telegram accepts that token again: 1 when it had been refused, 0 if not, -1 on error. */
int store_tg_bot_accepted(const char *fingerprint, struct lg_error *err) LG_MUST_CHECK;
/* 1 with the error when the token of `fingerprint` is refused, 0 when not, -1 on error. */
int store_tg_bot_state(const char *fingerprint, char *error, size_t len,
                       struct lg_error *err) LG_MUST_CHECK;
/*
 * Give bot `bot_id` the messages and updates recorded before bot ids were
 * (bot 0), once for the database (sql/functions/tg_adopt_unowned.sql): *adopted is the
 * number of request messages it took, or -1 when they had been adopted
 * before; *owner the bot that holds the claim (0: nobody yet, when `bot_id`
 * is no bot). 0, or -1 on error.
 */
int store_tg_adopt_unowned(int64_t bot_id, int64_t *owner, int *adopted,
                           struct lg_error *err) LG_MUST_CHECK;

#endif
