-- 011_decide.sql - a timeout approves only what a person was shown.
--
-- on_timeout 'approve' applies only when the request's Telegram message was
-- delivered (a telegram_message_id recorded). A request nobody saw (never
-- sent, no bot token, no chat, sending failed) times out denied, and its
-- response says why; the audit row records it too. on_timeout 'deny' is
-- unchanged (response stays empty).
CREATE OR REPLACE FUNCTION requests_expire(p_limit integer) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    r record;
    n integer := 0;
    withheld boolean;
BEGIN
    FOR r IN
        SELECT id, tenant, session_id, on_timeout, telegram_message_id IS NOT NULL AS delivered
        FROM requests
        WHERE status = 'pending' AND expires_at <= now()
        ORDER BY expires_at LIMIT p_limit
        FOR UPDATE SKIP LOCKED
    LOOP
        withheld := r.on_timeout = 'approve' AND NOT r.delivered;
        UPDATE requests SET status = 'timeout',
                            approved = (r.on_timeout = 'approve' AND r.delivered),
                            response = CASE WHEN withheld
                                THEN 'timed out; the message was never delivered, so the timeout denies'
                                ELSE response END,
                            responded_at = now(), updated_at = now()
            WHERE id = r.id;
        INSERT INTO audit_log (tenant, request_id, session_id, actor, action, detail)
            VALUES (r.tenant, r.id, r.session_id, 'loopgate', 'timed_out',
                    jsonb_build_object('on_timeout', r.on_timeout, 'delivered', r.delivered,
                                       'approved', r.on_timeout = 'approve' AND r.delivered));
        PERFORM request_finished(r.id);
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;
