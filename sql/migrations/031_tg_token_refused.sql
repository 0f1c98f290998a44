-- 031_tg_token_refused.sql - a token Telegram refused is that token's, as a
-- host uses it, not its bot's.
--
-- tg_bots (012) keeps one row per bot id, the number before the token's ':'.
-- A token revoked in BotFather keeps its bot id, and a Bot API URL that
-- answers 404 refuses a good token: one host with the old token (or a wrong
-- telegram_api_url) would park every host of the bot. A refusal is now kept
-- per fingerprint: the SHA-256 of the Bot API base URL with the token in it
-- (src/tg.c tg_token_fingerprint), never the token itself. Every worker
-- process parks on a row of its own fingerprint only; /health shows it.
--
-- Expand only: a new table; the previous release keeps writing tg_bots,
-- which no statement of this one reads.
CREATE TABLE tg_token_refused (
    token_sha256 text PRIMARY KEY CHECK (token_sha256 ~ '^[0-9a-f]{64}$'),
    bot_id       bigint NOT NULL,
    refused_at   timestamptz NOT NULL DEFAULT now(),
    error        text NOT NULL
);
