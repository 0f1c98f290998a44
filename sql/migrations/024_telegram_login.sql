-- 024_telegram_login.sql - each Telegram login is taken once.
--
-- A Telegram login (GET /console/api/telegram-login, src/console_tglogin.c)
-- carries Telegram's signed authorization data; whoever holds that URL could
-- open a console session with it until auth_date is ten minutes old. So the
-- first use takes it: the SHA-256 of its hash is inserted here (never the
-- hash itself), and a second use of the same data finds the row and is
-- refused. A row is kept until expires_at, past which auth_date alone
-- refuses the data; the statement that inserts deletes some expired rows.
--
-- Expand only: a new table the previous release never reads.
CREATE TABLE tg_logins (
    hash_sha256 text PRIMARY KEY,
    telegram_id bigint NOT NULL,
    used_at     timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX tg_logins_expires ON tg_logins (expires_at);
