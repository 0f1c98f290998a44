-- 014_mcp_bounds.sql - MCP sessions are capped per tenant and expire when idle.
--
-- `initialize` counts a tenant's live sessions (not ended, seen within
-- mcp_session_idle seconds) against mcp_sessions_max and prunes ended or
-- idle sessions of any tenant, a bounded number at a time
-- (src/store_mcp.c, S_MCP_CREATE). These indexes keep both cheap.

CREATE INDEX IF NOT EXISTS mcp_sessions_live ON mcp_sessions (tenant, last_seen_at)
    WHERE ended_at IS NULL;
CREATE INDEX IF NOT EXISTS mcp_sessions_ended ON mcp_sessions (ended_at)
    WHERE ended_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS mcp_sessions_last_seen ON mcp_sessions (last_seen_at);
