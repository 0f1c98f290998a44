-- 002_telegram.sql - durable Telegram delivery, update deduplication, pacing.
--
-- The outbox holds every outbound call (Telegram messages, edits, callback
-- answers, agent webhooks). A row is written in the same transaction as the
-- change that needs it, so an accepted request is never without its
-- message. Delivery threads lease due rows (FOR UPDATE SKIP LOCKED), call
-- out without holding a database connection, and record the outcome; a
-- worker that dies mid-call leaves a lease that expires and is retried.

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

-- New work wakes the delivery threads of every worker.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('lg_outbox', '');
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_queued AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

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

-- When the earliest queued row may be claimed: a hint for how long an idle
-- delivery thread sleeps (a NOTIFY wakes it sooner).
CREATE FUNCTION outbox_next_due() RETURNS timestamptz LANGUAGE sql STABLE AS $$
    SELECT GREATEST(min(GREATEST(o.next_attempt_at, COALESCE(o.leased_until, '-infinity'))),
                    CASE WHEN bool_or(o.kind IN ('tg_send', 'tg_edit', 'tg_text'))
                         THEN (SELECT next_at FROM tg_pace WHERE key = 'bot') END)
    FROM outbox o WHERE o.state = 'queued'
$$;

-- Lease up to p_limit due rows for one delivery thread, honouring the pace
-- of each chat and of the bot: a row whose chat is not due yet is moved to
-- the time it will be, so a burst spreads out instead of drawing 429s; once
-- the bot's own slot is taken, no other paced row goes this round.
-- Callback answers are urgent and not paced.
--
-- Claims take the bot's pace row first and hold it to commit, so they run
-- one at a time (they take a millisecond): the pace is computed from the
-- moment the claim really happens, and lock waits cannot reorder it.
CREATE FUNCTION outbox_claim(p_limit integer, p_lease interval, p_chat_gap interval,
                             p_group_gap interval, p_bot_gap interval)
RETURNS SETOF outbox LANGUAGE plpgsql AS $$
DECLARE
    r outbox;
    t timestamptz;
    bot_next timestamptz;
    chat_key text;
    n integer := 0;
BEGIN
    SELECT next_at INTO bot_next FROM tg_pace WHERE key = 'bot' FOR UPDATE;
    FOR r IN
        SELECT * FROM outbox
        WHERE state = 'queued' AND next_attempt_at <= clock_timestamp()
          AND (leased_until IS NULL OR leased_until < clock_timestamp())
        ORDER BY priority, next_attempt_at, id
        LIMIT p_limit * 4
        FOR UPDATE SKIP LOCKED
    LOOP
        IF r.kind IN ('tg_send', 'tg_edit', 'tg_text') THEN
            CONTINUE WHEN bot_next > clock_timestamp();
            chat_key := 'chat:' || r.chat_id;
            INSERT INTO tg_pace VALUES (chat_key, '-infinity') ON CONFLICT DO NOTHING;
            SELECT next_at INTO t FROM tg_pace WHERE key = chat_key FOR UPDATE;
            IF t > clock_timestamp() THEN
                UPDATE outbox SET next_attempt_at = t WHERE id = r.id;
                CONTINUE;
            END IF;
            bot_next := clock_timestamp() + p_bot_gap;
            UPDATE tg_pace SET next_at = bot_next WHERE key = 'bot';
            UPDATE tg_pace SET next_at = clock_timestamp()
                + CASE WHEN r.chat_id < 0 THEN p_group_gap ELSE p_chat_gap END
                WHERE key = chat_key;
        END IF;
        UPDATE outbox SET leased_until = clock_timestamp() + p_lease, attempts = attempts + 1
            WHERE id = r.id RETURNING * INTO r;
        RETURN NEXT r;
        n := n + 1;
        EXIT WHEN n >= p_limit;
    END LOOP;
END $$;

-- A queued request message starts queued; rows created before this
-- migration never had a message.
UPDATE requests SET tg_state = 'skipped' WHERE telegram_message_id IS NULL AND status <> 'pending';
