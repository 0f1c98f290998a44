-- 025_policies.sql - what a coding agent's tool call is, and rules that
-- decide such calls without asking anyone.
--
-- requests.tool, requests.tool_input and requests.agent_session are what an
-- agent says about the tool call a request asks for (the tool's name, its
-- input as a JSON object, the agent's own session id); NULL for a request
-- that is not a tool call.
--
-- A policy is a rule of a tenant: for tool `tool`, an `action` (allow, deny,
-- ask) when `match` (a POSIX ERE, checked and matched by the server, see
-- src/policy.h) matches the tool's input rendered as text. session_id NULL
-- is every session of the tenant, agent_session NULL any agent session. The
-- first live rule in order (session rules before tenant rules, then
-- position, then id) decides. A rule is live until expires_at (NULL: never)
-- and while revoked_at is NULL; rows are never deleted, so the audit trail
-- can always name the rule that decided.
--
-- Expand only: three nullable columns without defaults (no table rewrite)
-- the previous release never names, and a new table it never reads.
ALTER TABLE requests
    ADD COLUMN tool text,
    ADD COLUMN tool_input jsonb,
    ADD COLUMN agent_session text;

CREATE TABLE policies (
    id            bigserial PRIMARY KEY,
    tenant        text NOT NULL,
    session_id    text,
    agent_session text,
    tool          text NOT NULL,
    match         text NOT NULL,
    action        text NOT NULL CHECK (action IN ('allow', 'deny', 'ask')),
    position      integer NOT NULL DEFAULT 0,
    expires_at    timestamptz,
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz
);
-- the live rules of a tenant's tool, read at each submit that names a tool
CREATE INDEX policies_live ON policies (tenant, tool) WHERE revoked_at IS NULL;
