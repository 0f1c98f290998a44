-- Trigger audit_log_chain on audit_log, and its function audit_log_chain_row():
-- every audit row takes the next place in its tenant's chain (docs/AUDIT.md).
--
-- Before each insert, whichever binary writes it and whatever it wrote in
-- these columns: seq is the tenant's next number, prev_sha256 the hash of
-- the tenant's previous row, row_sha256 audit_row_sha256() of the row.
--
-- Serialised per tenant by the tenant's row of audit_heads (seq and hash of
-- the last row), updated here in one statement that locks it until the
-- transaction ends: a second transaction writing the same tenant waits for
-- the first to commit or roll back, then chains onto what it left, so the
-- chain never forks and a rolled-back row leaves no gap. A row lock rather
-- than an advisory lock on a hash of the tenant: no two tenants ever share
-- it, a REPEATABLE READ writer fails with a serialization error instead of
-- chaining onto a head it cannot see, and the row is also the head that
-- `loopgate audit verify` compares the chain's end with (a removed last row).
--
-- No deadlock: the lock is the last one a statement takes for a tenant. The
-- decision statements (tg_decided, tg_press, requests_expire, cancel) lock
-- the request's row first and write its audit row after; nothing takes a
-- request's row after a chain head. A transaction that writes several
-- tenants takes their heads in tenant order (requests_expire and the submit
-- batch order their rows by tenant), so two of them never wait on each other.
CREATE OR REPLACE FUNCTION audit_log_chain_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    h record;
BEGIN
    FOR attempt IN 1..2 LOOP
        UPDATE audit_heads AS a
           SET seq = a.seq + 1, prev_sha256 = a.row_sha256,
               row_sha256 = audit_row_sha256(NEW.tenant, a.seq + 1, NEW.at, NEW.request_id,
                                             NEW.session_id, NEW.actor, NEW.action, NEW.detail,
                                             a.row_sha256)
         WHERE a.tenant = NEW.tenant
        RETURNING a.seq, a.prev_sha256, a.row_sha256 INTO h;
        IF FOUND THEN
            NEW.seq := h.seq;
            NEW.prev_sha256 := h.prev_sha256;
            NEW.row_sha256 := h.row_sha256;
            RETURN NEW;
        END IF;
        -- The tenant's first row: make its head (a concurrent first row of
        -- the same tenant waits here for the other to finish, then updates).
        INSERT INTO audit_heads (tenant) VALUES (NEW.tenant) ON CONFLICT (tenant) DO NOTHING;
    END LOOP;
    RAISE EXCEPTION 'audit_log: could not take the chain head of tenant %', NEW.tenant;
END $$;
CREATE OR REPLACE TRIGGER audit_log_chain BEFORE INSERT ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_chain_row();
