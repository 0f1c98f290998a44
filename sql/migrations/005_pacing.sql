-- 005_pacing.sql - a chat's backlog no longer holds up other chats.
--
-- When a claim finds a chat that is not due yet, it now moves every queued
-- row of that chat to the chat's next slot in one statement (the index makes
-- that cheap), instead of one row per claim. A request message whose request
-- was decided before it went out is skipped right there, without spending
-- the chat's or the bot's pace on it.

CREATE INDEX outbox_queued_chat ON outbox (chat_id) WHERE state = 'queued';

CREATE OR REPLACE FUNCTION outbox_claim(p_limit integer, p_lease interval, p_chat_gap interval,
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
        IF r.kind = 'tg_send'
           AND (SELECT status FROM requests WHERE id = r.request_id) <> 'pending' THEN
            UPDATE outbox SET state = 'skipped', done_at = now(),
                              last_error = 'decided before it was sent'
                WHERE id = r.id;
            UPDATE requests SET tg_state = 'skipped' WHERE id = r.request_id;
            CONTINUE;
        END IF;
        IF r.kind IN ('tg_send', 'tg_edit', 'tg_text') THEN
            CONTINUE WHEN bot_next > clock_timestamp();
            chat_key := 'chat:' || r.chat_id;
            INSERT INTO tg_pace VALUES (chat_key, '-infinity') ON CONFLICT DO NOTHING;
            SELECT next_at INTO t FROM tg_pace WHERE key = chat_key FOR UPDATE;
            IF t > clock_timestamp() THEN
                -- Move the chat's whole backlog to its next slot at once, so
                -- that other chats' work is not stuck behind it.
                UPDATE outbox SET next_attempt_at = t
                    WHERE state = 'queued' AND chat_id = r.chat_id AND next_attempt_at < t
                      AND kind IN ('tg_send', 'tg_edit', 'tg_text');
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
