-- Trigger requests_pending_insert on requests, and its function
-- requests_count_inserted(): new pending requests count in tenant_pending.
--
-- The pending limit reads a per-tenant counter instead of counting the
-- tenant's pending rows on every submit. The counter is split in shards,
-- one per database backend (pg_backend_pid() % 64), so that two submits on
-- different connections never wait on one row lock; its value is the sum of
-- the shards. Submits that arrive together are one INSERT, so this is a
-- statement trigger: one upsert per tenant per statement, not per request.
-- requests_pending_status keeps the counter for status changes.
CREATE OR REPLACE FUNCTION requests_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tenant_pending (tenant, shard, n)
        SELECT tenant, pg_backend_pid() % 64, count(*) FROM inserted
        WHERE status = 'pending' GROUP BY tenant
        ON CONFLICT (tenant, shard) DO UPDATE SET n = tenant_pending.n + EXCLUDED.n;
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER requests_pending_insert AFTER INSERT ON requests
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION requests_count_inserted();
