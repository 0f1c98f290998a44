-- Trigger requests_decided on requests, and its function requests_notify():
-- a request that leaves 'pending' announces itself on lg_request; waiters
-- LISTEN on it. The notification is sent at commit, so a listener that
-- wakes always sees the new row.
CREATE OR REPLACE FUNCTION requests_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('lg_request', NEW.id::text);
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER requests_decided AFTER UPDATE OF status ON requests
    FOR EACH ROW WHEN (OLD.status = 'pending' AND NEW.status <> 'pending')
    EXECUTE FUNCTION requests_notify();
