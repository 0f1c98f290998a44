-- requests_nudge(limit) - send the reminders and escalations that are due
-- (021), up to `limit` of each; whichever worker gets there first does each
-- one, once (SKIP LOCKED, and the due time is cleared by the statement that
-- acts on it). Called by the same loop that times requests out
-- (requests_expire), after it: expiry wins, and a request past its
-- expires_at, or no longer pending, is never reminded or escalated.
--
-- A reminder is a reply to the request's message in its chat, "Reminder:
-- waiting 10 min" (the time since submit, lg_duration), queued as a
-- 'tg_text' row that names the request: the delivery sends it only while
-- the request is still pending. One reminder per request. While the
-- request's message has not gone out yet there is nothing to reply to: the
-- reminder waits for it (looked at again every 5 s); when the message will
-- never go out (failed or skipped) there is no reminder. Audited 'reminded'.
--
-- An escalation delivers the request's message, with its buttons, to the
-- chat of the session `escalate_to` (a 'tg_escalate' row; the delivery
-- records the message in esc_message_id). From then on that session's
-- approvers may decide too (tg_press, src/telegram.c), and every edit of
-- the request's message (progress, the final state) is made to both
-- messages. Audited 'escalated'; when the session is gone or deactivated
-- by then, nothing is sent and it is audited 'escalation_failed'.
--
-- As requests_expire does, every request of a batch (up to `limit` due
-- reminders and `limit` due escalations) is locked before the first audit
-- row is written, and the rows are written in tenant order.
CREATE OR REPLACE FUNCTION requests_nudge(p_limit integer) RETURNS integer LANGUAGE plpgsql
    -- Planned at each call, with the ids in hand: a plan cached while the
    -- table was small (a new database, no statistics yet) would read
    -- `id = ANY (ids)` by scanning the table for as long as the connection
    -- lives, four times a second.
    SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    r record;
    s record;
    n integer := 0;
    waited bigint;
    why text;
    ids uuid[];
BEGIN
    -- The due ids, from the two partial indexes (021). Nothing due, the
    -- common case, ends here.
    ids := ARRAY(SELECT id FROM requests
                 WHERE status = 'pending' AND remind_at IS NOT NULL AND remind_at <= now()
                 ORDER BY remind_at LIMIT p_limit)
           || ARRAY(SELECT id FROM requests
                    WHERE status = 'pending' AND escalate_at IS NOT NULL AND escalate_at <= now()
                    ORDER BY escalate_at LIMIT p_limit);
    IF cardinality(ids) = 0 THEN
        RETURN 0;
    END IF;
    FOR r IN
        SELECT * FROM (
            SELECT id, tenant, session_id, status, created_at, expires_at, telegram_chat_id,
                   telegram_message_id, tg_state, reminders, escalate_to,
                   remind_at <= now() AS remind, escalate_at <= now() AS escalate
            FROM requests
            WHERE id = ANY (ids)  -- by primary key
            FOR UPDATE SKIP LOCKED) AS due
        ORDER BY tenant, id
    LOOP
        -- decided since the ids were read (status is not in the WHERE: with it the
        -- planner may walk a pending index instead of the primary key)
        CONTINUE WHEN r.status <> 'pending' OR r.expires_at <= now();
        waited := extract(epoch FROM now() - r.created_at)::bigint;
        IF r.remind AND r.telegram_message_id IS NULL THEN
            -- nothing to reply to yet: wait for the message, or give up on one that never goes
            UPDATE requests
               SET remind_at = CASE WHEN r.tg_state IN ('failed', 'skipped', 'console') THEN NULL
                                    ELSE now() + interval '5 seconds' END
             WHERE id = r.id;
        ELSIF r.remind THEN
            UPDATE requests SET remind_at = NULL, reminders = reminders + 1 WHERE id = r.id;
            INSERT INTO outbox (kind, request_id, chat_id, payload, priority)
                VALUES ('tg_text', r.id, r.telegram_chat_id,
                        jsonb_build_object('text', 'Reminder: waiting ' || lg_duration(waited),
                                           'reply_parameters',
                                           jsonb_build_object('message_id', r.telegram_message_id,
                                                              'allow_sending_without_reply',
                                                              true)),
                        4);
            INSERT INTO audit_log (tenant, request_id, session_id, actor, action, detail)
                VALUES (r.tenant, r.id, r.session_id, 'loopgate', 'reminded',
                        jsonb_build_object('reminder', r.reminders + 1, 'waited_seconds', waited,
                                           'chat_id', r.telegram_chat_id));
            n := n + 1;
        END IF;
        CONTINUE WHEN NOT coalesce(r.escalate, false);
        SELECT telegram_chat_id, active INTO s FROM sessions
            WHERE tenant = r.tenant AND session_id = r.escalate_to;
        why := CASE WHEN NOT FOUND THEN 'no such session'
                    WHEN r.escalate_to = r.session_id THEN 'the request''s own session'
                    WHEN NOT s.active THEN 'session deactivated' END;
        IF why IS NOT NULL THEN
            UPDATE requests SET escalate_at = NULL WHERE id = r.id;
            INSERT INTO audit_log (tenant, request_id, session_id, actor, action, detail)
                VALUES (r.tenant, r.id, r.session_id, 'loopgate', 'escalation_failed',
                        jsonb_build_object('escalate_to', r.escalate_to, 'waited_seconds', waited,
                                           'reason', why));
            CONTINUE;
        END IF;
        UPDATE requests SET escalate_at = NULL, escalated_at = now(),
                            esc_chat_id = s.telegram_chat_id
            WHERE id = r.id;
        -- a console-only session (022) sees it in the console: no message to send
        INSERT INTO outbox (kind, request_id, chat_id)
            SELECT 'tg_escalate', r.id, s.telegram_chat_id WHERE s.telegram_chat_id IS NOT NULL;
        INSERT INTO audit_log (tenant, request_id, session_id, actor, action, detail)
            VALUES (r.tenant, r.id, r.session_id, 'loopgate', 'escalated',
                    jsonb_build_object('escalate_to', r.escalate_to, 'waited_seconds', waited,
                                       'chat_id', s.telegram_chat_id));
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;
