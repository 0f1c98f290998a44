/*
 * telegram.h - what Telegram tells us: updates from the webhook or from
 * getUpdates, and the `loopgate telegram` command.
 *
 * An update is handled in one transaction: its update_id is recorded (a
 * repeat changes nothing), a button press or reply decides its request at
 * most once (UPDATE ... WHERE status = 'pending'), and every answer to the
 * human (answerCallbackQuery, the edited message, command replies) is queued
 * in the outbox of the same transaction. Telegram gets its 200 only after
 * the commit, so a failure makes it deliver the update again.
 */
#ifndef LG_TELEGRAM_H
#define LG_TELEGRAM_H

#include <jansson.h>
#include <stdint.h>

#include "config.h"
#include "util.h"

/* Handle one update. -1 with `err` (400 malformed, 503 database trouble). */
int telegram_handle_update(const struct config *cfg, json_t *update,
                           struct lg_error *err) LG_MUST_CHECK;

/*
 * Take one update from Telegram: handle it, and when it can never be
 * processed (malformed, or refused by the database twice while it is up)
 * record it as refused for its bot and answer 0, so that Telegram stops
 * repeating it and getUpdates moves past it; one without an integer
 * update_id is logged and answered 0 with nothing recorded. -1 only while the
 * update may still be processed later (503: database trouble).
 */
int telegram_accept_update(const struct config *cfg, json_t *update,
                           struct lg_error *err) LG_MUST_CHECK;

/*
 * At start, with bot `bot` configured: if no bot has adopted the messages
 * and updates recorded before bot ids were (bot 0), `bot` adopts them, once
 * for the database (sql/functions/tg_adopt_unowned.sql); afterwards they are nobody's.
 * 0 once that is settled (or `bot` is 0: no token), -1 (logged) when the
 * database could not be asked: call again later.
 */
int telegram_adopt_unowned(int64_t bot) LG_MUST_CHECK;

/* `loopgate telegram set-webhook|delete-webhook|webhook-info|poll` (telegram_cli.c) */
int telegram_main(struct config *cfg, int argc, char **argv);

#endif
