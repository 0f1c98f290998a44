-- Trigger requests_pending_status on requests, and its function
-- requests_count_pending(): a request that enters or leaves 'pending'
-- moves its tenant's counter in tenant_pending (see requests_pending_insert).
CREATE OR REPLACE FUNCTION requests_count_pending() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    delta integer := (NEW.status = 'pending')::integer - (OLD.status = 'pending')::integer;
BEGIN
    IF delta <> 0 THEN
        INSERT INTO tenant_pending (tenant, shard, n)
            VALUES (NEW.tenant, pg_backend_pid() % 64, delta)
            ON CONFLICT (tenant, shard) DO UPDATE SET n = tenant_pending.n + EXCLUDED.n;
    END IF;
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER requests_pending_status AFTER UPDATE OF status ON requests
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION requests_count_pending();
