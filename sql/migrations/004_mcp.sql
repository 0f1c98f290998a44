-- 004_mcp.sql - MCP sessions, shared by every worker on every host.
--
-- A session is created by `initialize` (its id is the Mcp-Session-Id header)
-- and ended by DELETE /mcp. Any worker can serve any session: all it needs
-- is this row.

CREATE TABLE mcp_sessions (
    id               text PRIMARY KEY,          -- 32 random bytes, hex
    tenant           text NOT NULL,
    protocol_version text NOT NULL,
    client_name      text,
    client_version   text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    last_seen_at     timestamptz NOT NULL DEFAULT now(),
    ended_at         timestamptz
);
