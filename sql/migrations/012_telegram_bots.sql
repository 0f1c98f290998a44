-- 012_telegram_bots.sql - Telegram state per bot.
--
-- A bot's id is its token's numeric prefix (src/util.c tg_token_bot_id).
-- Update ids and message ids are the bot's own sequences: a second bot on
-- the same database starts its own, and Telegram restarts a bot's update ids
-- at random after a week of silence. So every Telegram key names its bot:
-- processed updates are keyed (bot_id, update_id) and kept for a window
-- (telegram_update_window_hours, at least 48 h; pruned by the expiry thread),
-- request messages (telegram_chat_id, telegram_message_id, tg_bot_id).
--
-- Expand only: the previous binary keeps working on this schema. It writes
-- no bot id, so its rows get 0 ("sent before bot ids were recorded"), which
-- the current binary took for a message of its own bot until 017. tg_press
-- takes the bot (sql/functions/tg_press.sql, which also keeps the previous
-- signature for that binary).

ALTER TABLE tg_updates ADD COLUMN bot_id bigint NOT NULL DEFAULT 0;
-- Why an update could never be processed (NULL: it was processed).
ALTER TABLE tg_updates ADD COLUMN refused text;
ALTER TABLE tg_updates DROP CONSTRAINT tg_updates_pkey;
ALTER TABLE tg_updates ADD PRIMARY KEY (bot_id, update_id);
CREATE INDEX tg_updates_received ON tg_updates (received_at);

ALTER TABLE requests ADD COLUMN tg_bot_id bigint NOT NULL DEFAULT 0;
-- (chat, message) first: the previous binary looks messages up by those two.
CREATE UNIQUE INDEX requests_tg_bot_message
    ON requests (telegram_chat_id, telegram_message_id, tg_bot_id)
    WHERE telegram_message_id IS NOT NULL;
DROP INDEX requests_tg_message;

-- A bot whose token Telegram refused (401/404), shown by GET /health. One
-- row per bot while refused; deleted once Telegram accepts the token again.
CREATE TABLE tg_bots (
    bot_id     bigint PRIMARY KEY,
    refused_at timestamptz NOT NULL DEFAULT now(),
    error      text NOT NULL
);
