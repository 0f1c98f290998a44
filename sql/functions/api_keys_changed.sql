-- Trigger api_keys_changed on api_keys, and its function api_keys_notify():
-- revoking (or deleting) an API key NOTIFYs lg_apikey. Workers cache the
-- keys they have seen (src/keycache.c) and drop them when they hear it.
CREATE OR REPLACE FUNCTION api_keys_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('lg_apikey', '');
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER api_keys_changed AFTER UPDATE OR DELETE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION api_keys_notify();
