-- requests_expire(limit) - time out up to `limit` expired pending requests;
-- whichever worker gets there first does it (SKIP LOCKED), each request once.
--
-- on_timeout 'approve' applies only when all of these hold; otherwise the
-- timeout denies, and its response (and the audit row's "reason") says why:
--   - the request was sent to Telegram (not left in the console, 022) and
--     its message was delivered (telegram_message_id);
--   - it was not shortened to fit Telegram: requests.tg_cut, recorded with
--     the message id when the message is sent (NULL: not recorded, and the
--     timeout denies too);
--   - it was in front of a person for at least half the request's timeout,
--     at most 60 s: tg_sent_at <= expires_at - least(timeout / 2, 60 s);
--   - nobody pressed "Deny with reason…" (a 'reason_asked' audit row): a
--     person writing why they deny is not a silence that approves.
-- on_timeout 'deny' leaves the response empty.
CREATE OR REPLACE FUNCTION requests_expire(p_limit integer) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    r record;
    n integer := 0;
    why text;
    approve boolean;
BEGIN
    -- Every request of the batch is locked before the first is written, and
    -- they are written in tenant order: each audit row takes its tenant's
    -- chain head (audit_log_chain) until the end of the transaction, and
    -- writers that take several heads in one order never wait on each other.
    FOR r IN
        SELECT * FROM (
            SELECT id, tenant, session_id, on_timeout, telegram_message_id IS NOT NULL AS delivered,
                   tg_state, tg_cut, tg_sent_at, expires_at, timeout_seconds, created_at
            FROM requests
            WHERE status = 'pending' AND expires_at <= now()
            ORDER BY expires_at LIMIT p_limit
            FOR UPDATE SKIP LOCKED) AS due
        ORDER BY tenant, expires_at
    LOOP
        why := CASE
            WHEN r.on_timeout <> 'approve' THEN NULL
            WHEN EXISTS (SELECT 1 FROM audit_log a
                          WHERE a.request_id = r.id AND a.action = 'reason_asked') THEN
                'timed out while someone was giving a reason to deny it, so the timeout denies'
            WHEN r.tg_state = 'console' THEN
                'timed out; the request waited in the console, where nothing shows that '
                'anyone read it, so the timeout denies'
            WHEN NOT r.delivered THEN
                'timed out; the message was never delivered, so the timeout denies'
            WHEN r.tg_cut IS NULL THEN
                'timed out; whether the message had to be shortened was not recorded, '
                'so the timeout denies'
            WHEN r.tg_cut THEN
                'timed out; the message had to be shortened, so the timeout denies'
            WHEN r.tg_sent_at IS NULL OR r.tg_sent_at > r.expires_at
                     - least(make_interval(secs => r.timeout_seconds / 2.0),
                             interval '60 seconds') THEN
                'timed out; the message was delivered too late to be read (less than half '
                'the timeout, at most 60 s, before it), so the timeout denies'
            END;
        approve := r.on_timeout = 'approve' AND why IS NULL;
        UPDATE requests SET status = 'timeout',
                            approved = approve,
                            response = coalesce(why, response),
                            responded_at = now(), updated_at = now()
            WHERE id = r.id;
        INSERT INTO audit_log (tenant, request_id, session_id, actor, action, detail)
            VALUES (r.tenant, r.id, r.session_id, 'loopgate', 'timed_out',
                    jsonb_strip_nulls(jsonb_build_object('on_timeout', r.on_timeout,
                                                         'delivered', r.delivered,
                                                         'approved', approve, 'reason', why,
                                                         'latency_ms',
                                                         lg_latency_ms(r.created_at))));
        PERFORM request_finished(r.id);
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;
