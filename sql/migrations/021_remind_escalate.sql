-- loopgate: no-transaction
-- 021_remind_escalate.sql - reminders and escalation of requests nobody decides.
--
-- 1. A request may ask for a reminder (remind_after_seconds) and an
--    escalation (escalate_after_seconds to the session escalate_to of its
--    tenant); a session may hold defaults for the three (sessions columns of
--    the same names), applied at submit where the request names none.
-- 2. remind_at and escalate_at are when each is due: set at submit, cleared
--    by the statement that does it (requests_nudge), so each happens once
--    whichever worker gets there first. NULL: none due (never asked for, or
--    done). reminders counts the reminders sent; escalated_at is when the
--    request was escalated (NULL: not escalated); esc_chat_id the chat it
--    was escalated to, esc_message_id and esc_bot_id its message there once
--    sent (NULL until then).
-- 3. Partial indexes on the due times of pending requests: the scheduler
--    reads the few due rows, never the table; a decided request leaves them.
--    The escalation message is found by (chat, message, bot), as the
--    request's own message is (requests_tg_bot_message, 012).
-- 4. The outbox takes a kind 'tg_escalate': the request's message sent to
--    the escalation chat. The new check is NOT VALID (the rows there pass
--    it; no scan under the table's lock).
--
-- Expand only, and safe to run twice (no transaction: the indexes are built
-- CONCURRENTLY, without blocking writers of a large requests table). Every
-- new column is nullable or has a constant default, so the previous
-- release's INSERTs submit requests without reminder or escalation, as
-- before. It never writes the new rows; while both run, one it claims is
-- handled as that release can: a 'tg_escalate' row is an unknown kind to
-- it (logged, left for its lease, then taken by a worker of this release),
-- an escalation edit ('tg_edit' with {"escalation": true}) edits the
-- request's own message once more (Telegram answers "not modified"), and a
-- reminder ('tg_text') is sent without asking whether the request is still
-- pending.
ALTER TABLE requests
    ADD COLUMN IF NOT EXISTS remind_after_seconds integer,
    ADD COLUMN IF NOT EXISTS escalate_after_seconds integer,
    ADD COLUMN IF NOT EXISTS escalate_to text,
    ADD COLUMN IF NOT EXISTS remind_at timestamptz,
    ADD COLUMN IF NOT EXISTS escalate_at timestamptz,
    ADD COLUMN IF NOT EXISTS reminders smallint NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS escalated_at timestamptz,
    ADD COLUMN IF NOT EXISTS esc_chat_id bigint,
    ADD COLUMN IF NOT EXISTS esc_message_id bigint,
    ADD COLUMN IF NOT EXISTS esc_bot_id bigint;

ALTER TABLE sessions
    ADD COLUMN IF NOT EXISTS remind_after_seconds integer,
    ADD COLUMN IF NOT EXISTS escalate_after_seconds integer,
    ADD COLUMN IF NOT EXISTS escalate_to text;

ALTER TABLE outbox DROP CONSTRAINT IF EXISTS outbox_kind_check,
    ADD CONSTRAINT outbox_kind_check
        CHECK (kind IN ('tg_send', 'tg_edit', 'tg_answer', 'tg_text', 'tg_escalate', 'webhook'))
        NOT VALID;

DROP INDEX CONCURRENTLY IF EXISTS requests_remind_due;
CREATE INDEX CONCURRENTLY requests_remind_due ON requests (remind_at)
    WHERE status = 'pending' AND remind_at IS NOT NULL;

DROP INDEX CONCURRENTLY IF EXISTS requests_escalate_due;
CREATE INDEX CONCURRENTLY requests_escalate_due ON requests (escalate_at)
    WHERE status = 'pending' AND escalate_at IS NOT NULL;

DROP INDEX CONCURRENTLY IF EXISTS requests_esc_message;
CREATE UNIQUE INDEX CONCURRENTLY requests_esc_message
    ON requests (esc_chat_id, esc_message_id, esc_bot_id) WHERE esc_message_id IS NOT NULL;
