-- 002_telegram.sql - durable Telegram delivery, update deduplication, pacing.
--
-- The outbox holds every outbound call (Telegram messages, edits, callback
-- answers, agent webhooks). A row is written in the same transaction as the
-- change that needs it, so an accepted request is never without its
-- message. Delivery threads lease due rows (FOR UPDATE SKIP LOCKED), call
-- out without holding a database connection, and record the outcome; a
-- worker that dies mid-call leaves a lease that expires and is retried.
-- The claim is sql/functions/outbox_claim_tg.sql today.

-- What each option means: true approves, false denies. Stored per request
-- when it is submitted, so the decision never guesses from button text.
ALTER TABLE requests ADD COLUMN option_approve boolean[];

-- Telegram delivery of the request's message, shown by GET /hitl/poll.
ALTER TABLE requests ADD COLUMN tg_state text NOT NULL DEFAULT 'queued'
    CHECK (tg_state IN ('queued', 'sent', 'failed', 'skipped'));
ALTER TABLE requests ADD COLUMN tg_attempts integer NOT NULL DEFAULT 0;
ALTER TABLE requests ADD COLUMN tg_error text;
ALTER TABLE requests ADD COLUMN tg_sent_at timestamptz;

CREATE UNIQUE INDEX requests_tg_message ON requests (telegram_chat_id, telegram_message_id)
    WHERE telegram_message_id IS NOT NULL;

CREATE TABLE outbox (
    id              bigserial PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('tg_send', 'tg_edit', 'tg_answer', 'tg_text', 'webhook')),
    request_id      uuid REFERENCES requests (id),
    chat_id         bigint,
    payload         jsonb,
    state           text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'done', 'failed', 'skipped')),
    priority        smallint NOT NULL DEFAULT 5,     -- lower goes first
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    leased_until    timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    done_at         timestamptz
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state = 'queued';
CREATE INDEX outbox_request ON outbox (request_id);

-- Telegram repeats webhook deliveries: each update_id is handled once.
CREATE TABLE tg_updates (
    update_id   bigint PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now()
);

-- Pacing shared by every worker on every host: the earliest time the next
-- message may go to a chat ('chat:<id>') or from the bot at all ('bot').
CREATE TABLE tg_pace (
    key     text PRIMARY KEY,
    next_at timestamptz NOT NULL
);
INSERT INTO tg_pace VALUES ('bot', '-infinity');

-- A queued request message starts queued; rows created before this
-- migration never had a message.
UPDATE requests SET tg_state = 'skipped' WHERE telegram_message_id IS NULL AND status <> 'pending';
