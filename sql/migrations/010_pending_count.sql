-- 010_pending_count.sql - a batch of submits counts once.
--
-- Submits that arrive together are one INSERT (src/store.c S_REQUEST_SUBMIT),
-- about 8 rows at full load. The pending counter (006) was kept by a row
-- trigger: one upsert of the tenant's shard per request, each a new version
-- of the same row. A statement trigger adds each tenant's new pending
-- requests with one upsert per statement. Decisions keep the row trigger,
-- now for updates only.
CREATE FUNCTION requests_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tenant_pending (tenant, shard, n)
        SELECT tenant, pg_backend_pid() % 64, count(*) FROM inserted
        WHERE status = 'pending' GROUP BY tenant
        ON CONFLICT (tenant, shard) DO UPDATE SET n = tenant_pending.n + EXCLUDED.n;
    RETURN NULL;
END $$;
DROP TRIGGER requests_pending_insert ON requests;
CREATE TRIGGER requests_pending_insert AFTER INSERT ON requests
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION requests_count_inserted();

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
