-- 028_key_scope.sql - what an API key may do.
--
-- An agent holds its API key where every command it runs can read it, so a
-- key must not let the agent approve itself. scope 'agent' (the default) may
-- ask, list the tenant's policy rules and add deny and ask rules; 'admin'
-- may also add allow rules and revoke rules (src/api_policy.c). Keys made
-- before this migration are agent keys; `loopgate apikey create --admin`
-- makes an admin key.
--
-- Expand only: a column with a constant default (no table rewrite) that the
-- previous release never names; its inserts get 'agent'.
ALTER TABLE api_keys
    ADD COLUMN scope text NOT NULL DEFAULT 'agent' CHECK (scope IN ('agent', 'admin'));
