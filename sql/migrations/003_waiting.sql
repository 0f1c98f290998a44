-- 003_waiting.sql - enforced timeouts and signed agent webhooks.
--
-- When a request reaches a final state (decided, canceled, timed out) and has
-- a callback_url, an outbox row of kind 'webhook' is written in the same
-- statement; a delivery thread POSTs the result, signed with the tenant's
-- webhook secret, and retries for 24 hours.

ALTER TABLE requests ADD COLUMN cb_state text NOT NULL DEFAULT 'none'
    CHECK (cb_state IN ('none', 'queued', 'delivered', 'failed'));
ALTER TABLE requests ADD COLUMN cb_attempts integer NOT NULL DEFAULT 0;
ALTER TABLE requests ADD COLUMN cb_error text;
ALTER TABLE requests ADD COLUMN cb_delivered_at timestamptz;

-- The HMAC key of a tenant's webhooks. It signs, so it is kept as it is (a
-- hash cannot sign); `loopgate apikey webhook-secret` shows or rotates it.
CREATE TABLE webhook_secrets (
    tenant     text PRIMARY KEY,
    secret     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Queue the final-state work of requests that just left 'pending': the
-- Telegram edit (when the message was sent) and the agent webhook (when a
-- callback_url is set). Called from the statements that decide.
CREATE FUNCTION request_finished(p_id uuid) RETURNS void LANGUAGE sql AS $$
    INSERT INTO outbox (kind, request_id, chat_id, priority)
        SELECT 'tg_edit', id, telegram_chat_id, 3 FROM requests
        WHERE id = p_id AND telegram_message_id IS NOT NULL;
    INSERT INTO outbox (kind, request_id, priority)
        SELECT 'webhook', id, 2 FROM requests WHERE id = p_id AND callback_url IS NOT NULL;
    UPDATE requests SET cb_state = 'queued' WHERE id = p_id AND callback_url IS NOT NULL;
$$;

-- Time out up to p_limit expired pending requests; whichever worker gets
-- there first does it (SKIP LOCKED), and each request exactly once.
CREATE FUNCTION requests_expire(p_limit integer) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    r record;
    n integer := 0;
BEGIN
    FOR r IN
        SELECT id, tenant, session_id, on_timeout FROM requests
        WHERE status = 'pending' AND expires_at <= now()
        ORDER BY expires_at LIMIT p_limit
        FOR UPDATE SKIP LOCKED
    LOOP
        UPDATE requests SET status = 'timeout', approved = (on_timeout = 'approve'),
                            responded_at = now(), updated_at = now()
            WHERE id = r.id;
        INSERT INTO audit_log (tenant, request_id, session_id, actor, action, detail)
            VALUES (r.tenant, r.id, r.session_id, 'loopgate', 'timed_out',
                    jsonb_build_object('on_timeout', r.on_timeout));
        PERFORM request_finished(r.id);
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;
