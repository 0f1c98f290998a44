-- 001_init.sql - the base schema: API keys, sessions, requests, audit trail.
--
-- Applied by `loopgate migrate` inside one transaction. Every table carries
-- the tenant that owns the row; every query the API makes filters on it.
-- Its functions and triggers are in sql/functions/ (lg_ts,
-- audit_log_append_only, requests_decided), applied after the migrations.

CREATE TABLE api_keys (
    id           bigserial PRIMARY KEY,
    tenant       text NOT NULL,
    name         text NOT NULL,
    key_hash     text NOT NULL UNIQUE,      -- hex SHA-256 of the key; the key itself is never stored
    prefix       text NOT NULL,             -- first characters of the key, to recognise it in listings
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);

CREATE TABLE sessions (
    tenant           text NOT NULL,
    session_id       text NOT NULL,
    client_id        text NOT NULL,
    telegram_chat_id bigint NOT NULL,
    approvers        bigint[] NOT NULL DEFAULT '{}',
    active           boolean NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, session_id)
);

CREATE TABLE requests (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant              text NOT NULL,
    session_id          text NOT NULL,
    client_id           text NOT NULL,
    message             text NOT NULL,
    request_type        text NOT NULL CHECK (request_type IN ('confirmation', 'choice', 'input')),
    options             jsonb,
    metadata            jsonb,
    timeout_seconds     integer NOT NULL CHECK (timeout_seconds BETWEEN 1 AND 86400),
    expires_at          timestamptz NOT NULL,
    on_timeout          text NOT NULL DEFAULT 'deny' CHECK (on_timeout IN ('deny', 'approve')),
    callback_url        text,
    status              text NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'completed', 'timeout', 'canceled')),
    response            text,
    approved            boolean NOT NULL DEFAULT false,
    responder_id        bigint,
    responder_name      text,
    responded_at        timestamptz,
    telegram_chat_id    bigint,
    telegram_message_id bigint,
    idempotency_key     text,
    body_hash           text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant, session_id) REFERENCES sessions (tenant, session_id),
    UNIQUE (tenant, idempotency_key)
);

CREATE INDEX requests_pending ON requests (tenant, created_at) WHERE status = 'pending';
CREATE INDEX requests_expiry ON requests (expires_at) WHERE status = 'pending';
CREATE INDEX requests_session ON requests (tenant, session_id, created_at);

-- Append-only: who did what to which request or session, and when.
CREATE TABLE audit_log (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    tenant     text NOT NULL,
    request_id uuid,
    session_id text,
    actor      text NOT NULL,
    action     text NOT NULL,
    detail     jsonb
);
CREATE INDEX audit_log_request ON audit_log (request_id);
