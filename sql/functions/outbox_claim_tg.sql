-- outbox_claim_tg(...) - lease up to p_limit due Telegram rows for one
-- delivery thread. A paced row (send, edit, text) also needs a free slot of
-- the bot's window (tg_bot_slots: at most p_bot_rate sends in any one
-- second, each slot held from the claim until the answer came back and free
-- one second after it; outbox_answered), the bot's own next time ('bot' in
-- tg_pace: p_bot_gap after the last claim, or later when Telegram asked to
-- retry after a while) and its chat's next time. Callback answers are
-- urgent and not paced.
--
-- Claims run one at a time (an advisory lock: a claim that finds another
-- under way returns nothing at once, and a claim that takes nothing writes
-- nothing). A claim looks at the first 16 x p_limit due rows and passes over
-- those whose chat is not due, without writing them. Only when that whole
-- window is held up by such chats (and not by the bot's own pace) are their
-- rows given later times: every queued row of such a chat gets the earliest
-- slot it can have (the first at the chat's next time, each next one a chat
-- gap and a twentieth later), and only rows earlier than that are written,
-- so a chat's backlog is rewritten about once and other chats' rows are
-- never stuck behind it. A request message (or its escalation, 021) whose
-- request was decided before it went out is skipped, without spending the
-- chat's or the bot's pace.
--
-- The lease is the caller's: longer than the longest attempt it makes
-- (outbox_renew extends it). enable_bitmapscan off and a generic plan: see
-- outbox_claim.
CREATE OR REPLACE FUNCTION outbox_claim_tg(p_limit integer, p_lease interval, p_chat_gap interval,
                                p_group_gap interval, p_bot_gap interval, p_bot_rate integer)
RETURNS SETOF outbox LANGUAGE plpgsql
SET enable_bitmapscan = off SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    r outbox;
    t timestamptz;
    gap interval;
    bot_next timestamptz;
    s integer;
    n integer := 0;
    seen integer := 0;
    no_slot boolean := false;
    blocked bigint[] := '{}';
    now_ts timestamptz := clock_timestamp();
BEGIN
    -- 'loopgate outbox claim'
    IF NOT pg_try_advisory_xact_lock(1819242087, 1) THEN
        RETURN;
    END IF;
    SELECT next_at INTO bot_next FROM tg_pace WHERE key = 'bot';
    IF NOT EXISTS (SELECT 1 FROM tg_bot_slots WHERE slot = p_bot_rate - 1) THEN
        INSERT INTO tg_bot_slots SELECT g, '-infinity' FROM generate_series(0, p_bot_rate - 1) g
            ON CONFLICT DO NOTHING;
    END IF;
    FOR r IN
        SELECT * FROM outbox
        WHERE state = 'queued' AND kind <> 'webhook' AND next_attempt_at <= now_ts
          AND (leased_until IS NULL OR leased_until < now_ts)
        ORDER BY priority, next_attempt_at, id
        LIMIT p_limit * 16
    LOOP
        seen := seen + 1;
        s := NULL;
        IF r.kind IN ('tg_send', 'tg_edit', 'tg_text', 'tg_escalate') THEN
            CONTINUE WHEN no_slot OR bot_next > clock_timestamp() OR r.chat_id = ANY (blocked);
            SELECT next_at INTO t FROM tg_pace WHERE key = 'chat:' || r.chat_id;
            IF t > clock_timestamp() THEN
                blocked := blocked || r.chat_id;
                CONTINUE;
            END IF;
            SELECT slot INTO s FROM tg_bot_slots
                WHERE slot < p_bot_rate AND free_at <= clock_timestamp() LIMIT 1;
            IF s IS NULL THEN
                no_slot := true;
                CONTINUE;
            END IF;
        END IF;
        IF r.kind = 'tg_send'
           AND (SELECT status FROM requests WHERE id = r.request_id) <> 'pending' THEN
            UPDATE outbox SET state = 'skipped', done_at = now(),
                              last_error = 'decided before it was sent'
                WHERE id = r.id AND state = 'queued';
            UPDATE requests SET tg_state = 'skipped' WHERE id = r.request_id;
            CONTINUE;
        END IF;
        IF r.kind = 'tg_escalate'
           AND (SELECT status FROM requests WHERE id = r.request_id) <> 'pending' THEN
            UPDATE outbox SET state = 'skipped', done_at = now(),
                              last_error = 'decided before it was escalated'
                WHERE id = r.id AND state = 'queued';
            CONTINUE;
        END IF;
        UPDATE outbox SET leased_until = clock_timestamp() + p_lease, attempts = attempts + 1,
                          bot_slot = s,
                          chat_gap = CASE WHEN s IS NULL THEN NULL
                                          WHEN r.chat_id < 0 THEN p_group_gap ELSE p_chat_gap END
            WHERE id = r.id AND state = 'queued'
              AND (leased_until IS NULL OR leased_until < now_ts)
            RETURNING * INTO r;
        CONTINUE WHEN NOT FOUND;
        IF s IS NOT NULL THEN
            gap := CASE WHEN r.chat_id < 0 THEN p_group_gap ELSE p_chat_gap END;
            UPDATE tg_bot_slots SET free_at = clock_timestamp() + p_lease WHERE slot = s;
            INSERT INTO tg_pace VALUES ('chat:' || r.chat_id, clock_timestamp() + gap)
                ON CONFLICT (key) DO UPDATE SET next_at = EXCLUDED.next_at;
            IF p_bot_gap > interval '0' THEN
                bot_next := clock_timestamp() + p_bot_gap;
                UPDATE tg_pace SET next_at = bot_next WHERE key = 'bot';
            END IF;
        END IF;
        RETURN NEXT r;
        n := n + 1;
        EXIT WHEN n >= p_limit;
    END LOOP;
    IF n < p_limit AND seen >= p_limit * 16 AND cardinality(blocked) > 0 AND NOT no_slot
       AND bot_next <= clock_timestamp() THEN
        UPDATE outbox o SET next_attempt_at = x.slot_at
        FROM (SELECT q.id, q.next_attempt_at,
                     p.next_at + (row_number() OVER w - 1)
                         * CASE WHEN q.chat_id < 0 THEN p_group_gap ELSE p_chat_gap END AS due_at,
                     p.next_at + (row_number() OVER w - 1)
                         * CASE WHEN q.chat_id < 0 THEN p_group_gap ELSE p_chat_gap END
                         * 1.05 AS slot_at
              FROM outbox q JOIN tg_pace p ON p.key = 'chat:' || q.chat_id
              WHERE q.state = 'queued' AND q.chat_id = ANY (blocked)
                AND q.kind IN ('tg_send', 'tg_edit', 'tg_text')
                AND (q.leased_until IS NULL OR q.leased_until < now_ts)
              WINDOW w AS (PARTITION BY q.chat_id ORDER BY q.priority, q.next_attempt_at, q.id)) x
        WHERE o.id = x.id AND x.next_attempt_at < x.due_at;
    END IF;
END $$;
