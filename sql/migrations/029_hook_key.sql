-- 029_hook_key.sql - a coding agent's hook call is asked once, however often
-- it arrives.
--
-- A hook call waits on one host for the person's answer. When that host
-- dies, nginx passes the same call on to another host (and `loopgate hook`
-- sends it again): hook_key, a hash of the call as the agent sent it
-- (src/hooks.c), lets the second arrival wait on the request the first one
-- made instead of asking the person twice. Only a pending request is
-- re-attached to: once decided, its key is free and the same call asks
-- anew. hook_attach counts the arrivals after the first; a waiter whose
-- caller hung up cancels the request only when no later arrival took it
-- over.
--
-- Expand only: columns the previous release never names (its inserts leave
-- hook_key NULL, outside the index) and a constant default (no rewrite).
ALTER TABLE requests
    ADD COLUMN hook_key text,
    ADD COLUMN hook_attach int NOT NULL DEFAULT 0;

CREATE UNIQUE INDEX requests_hook_pending ON requests (tenant, hook_key)
    WHERE hook_key IS NOT NULL AND status = 'pending';
