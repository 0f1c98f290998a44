-- 003_waiting.sql - enforced timeouts and signed agent webhooks.
--
-- When a request reaches a final state (decided, canceled, timed out) and has
-- a callback_url, an outbox row of kind 'webhook' is written in the same
-- statement; a delivery thread POSTs the result, signed with the tenant's
-- webhook secret, and retries for 24 hours (sql/functions/request_finished.sql;
-- timeouts: sql/functions/requests_expire.sql).

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
