-- 017_bot_adoption.sql - messages without a bot belong to no bot but the one that adopts them.
--
-- Rows written before bot ids were recorded (012) have bot 0: requests'
-- messages (requests.tg_bot_id) and processed updates (tg_updates.bot_id).
-- Until now bot 0 counted as whichever bot was configured, for ever: after a
-- token change the new bot's message ids restart, and a reply to the new
-- bot's message 777 matched an old request's message 777 of bot 0.
--
-- Now bot 0 is adopted exactly once: the first worker (or poller) of this
-- release that runs with a bot token calls tg_adopt_unowned(its bot), which
-- claims the one row of tg_unowned_adopted and gives that bot every bot-0
-- message and update. From then on every lookup (tg_press, replies, the
-- long way of a press) matches the exact bot only, so a later token change
-- finds no match and the press is answered "expired"
-- (sql/functions/tg_adopt_unowned.sql, tg_press.sql).
--
-- Expand only: the previous binary keeps working. It still writes bot 0
-- (those rows are nobody's once adopted: presses on them are answered
-- "expired" by this release) and its tg_press(p_update, ...) (012) calls
-- tg_press(0, ...), which matches its own bot-0 rows only.

-- The one claim: which bot adopted bot 0's rows, and when.
CREATE TABLE tg_unowned_adopted (
    one        boolean PRIMARY KEY DEFAULT true CHECK (one),
    bot_id     bigint NOT NULL CHECK (bot_id > 0),
    adopted_at timestamptz NOT NULL DEFAULT now(),
    requests   integer NOT NULL DEFAULT 0,
    updates    integer NOT NULL DEFAULT 0
);
