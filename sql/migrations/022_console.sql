-- loopgate: no-transaction
-- 022_console.sql - the approval console: its users' ways in, their
-- sessions, who a session asks besides Telegram users, and requests
-- answered in the console alone.
--
-- 1. console_links: a one-time login link (`loopgate console link`). Only
--    the SHA-256 of its token is stored; it is good until expires_at (ten
--    minutes after it is made) and once (used_at is set by the login that
--    takes it, in the statement that checks it).
-- 2. console_sessions: a signed-in browser. Only the SHA-256 of the cookie
--    value is stored, with the CSRF token the page sends back on every POST.
--    revoked_at ends it for every worker on every host (logout); expires_at
--    twelve hours after created_at.
--    `person` is the console user: 'telegram:<user id>' (the person of the
--    Telegram votes) or 'console:<name>'; `name` what is shown; `role`
--    approver or admin. Both tables belong to a tenant; every read filters
--    on it.
-- 3. console_rate: fixed one-minute windows of attempts per key (the client
--    address of a login), shared by every worker; old windows are deleted
--    by the statement that counts.
-- 4. sessions.console_approvers: the console names (without 'console:')
--    who may decide the session's requests, beside the Telegram user ids of
--    approvers.
-- 5. sessions.telegram_chat_id becomes nullable: a session registered
--    without telegram_id asks in the console only.
-- 6. requests.tg_state takes 'console': the request is not sent to
--    Telegram (no bot token, or a console-only session) and waits in the
--    console. The new check is NOT VALID (the rows there pass it; no scan
--    under the table's lock).
-- 7. requests_tenant_created: the console's history (newest first, paged
--    by (created_at, id)) of a whole tenant reads an index, not the tenant's
--    requests sorted. Built CONCURRENTLY, without blocking writers of a
--    large requests table; so this file runs without a transaction and is
--    safe to run twice.
--
-- Expand only: new tables, a column with a constant default, a dropped NOT
-- NULL and a wider check. The previous release never reads the new tables,
-- reads a missing chat id as 0 and shows 'console' as the delivery state
-- it is.
CREATE TABLE IF NOT EXISTS console_links (
    token_sha256 text PRIMARY KEY,
    tenant       text NOT NULL,
    person       text NOT NULL,
    name         text NOT NULL,
    role         text NOT NULL CONSTRAINT console_links_role CHECK (role IN ('approver', 'admin')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz
);
CREATE INDEX IF NOT EXISTS console_links_expires ON console_links (expires_at);

CREATE TABLE IF NOT EXISTS console_sessions (
    token_sha256 text PRIMARY KEY,
    tenant       text NOT NULL,
    person       text NOT NULL,
    name         text NOT NULL,
    role         text NOT NULL
                 CONSTRAINT console_sessions_role CHECK (role IN ('approver', 'admin')),
    csrf         text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz
);
CREATE INDEX IF NOT EXISTS console_sessions_expires ON console_sessions (expires_at);

CREATE TABLE IF NOT EXISTS console_rate (
    key          text PRIMARY KEY,
    window_start timestamptz NOT NULL,
    n            integer NOT NULL
);

ALTER TABLE sessions ADD COLUMN IF NOT EXISTS console_approvers text[] NOT NULL DEFAULT '{}';
ALTER TABLE sessions ALTER COLUMN telegram_chat_id DROP NOT NULL;

ALTER TABLE requests DROP CONSTRAINT IF EXISTS requests_tg_state_check,
    ADD CONSTRAINT requests_tg_state_check
        CHECK (tg_state IN ('queued', 'sent', 'failed', 'skipped', 'console')) NOT VALID;

DROP INDEX CONCURRENTLY IF EXISTS requests_tenant_created;
CREATE INDEX CONCURRENTLY requests_tenant_created ON requests (tenant, created_at, id);
