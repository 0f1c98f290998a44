-- loopgate: needs audit_row_sha256 audit_log_chain audit_log_append_only
-- 019_audit_chain.sql - a tamper-evident audit trail: each row of a tenant
-- carries the SHA-256 of the tenant's previous row (docs/AUDIT.md).
--
-- 1. audit_log gains seq (the row's place in its tenant's chain, from 1),
--    prev_sha256 (the previous row's row_sha256; NULL for seq 1) and
--    row_sha256 (audit_row_sha256() of the row's content and prev_sha256).
--    They are nullable and nobody writes them: the trigger audit_log_chain
--    fills them before every insert, so the previous release's INSERTs,
--    which do not name them, are chained like this release's.
-- 2. audit_heads holds each tenant's last seq and hash. The trigger updates
--    it with the row, under its row lock: concurrent writers of one tenant
--    queue there and the chain never forks. `loopgate audit verify` compares
--    the chain's end with it.
-- 3. The rows written before this migration are chained here, per tenant in
--    the order they were written (id), so an upgraded database verifies.
--    The table is locked against writers meanwhile (about 3 s per
--    hundred thousand rows); the writers of both releases wait, then go on
--    through the trigger from the head the backfill left.
-- 4. (tenant, seq) is unique: the chain's order for export and verify, and
--    a forked chain would be an error, never a silent second row.
--
-- Expand only: no column the previous release reads or writes changes.

LOCK TABLE audit_log IN SHARE ROW EXCLUSIVE MODE;

ALTER TABLE audit_log ADD COLUMN seq bigint,
                      ADD COLUMN prev_sha256 text,
                      ADD COLUMN row_sha256 text;

CREATE TABLE audit_heads (
    tenant      text PRIMARY KEY,
    seq         bigint NOT NULL DEFAULT 0,  -- the last row's seq; 0 before the first commits
    row_sha256  text,                       -- the last row's row_sha256
    prev_sha256 text                        -- the one before it (what the last row chains onto)
);

ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only;
DO $$
DECLARE
    r record;
    t text;
    n bigint := 0;
    prev text;
    h text;
BEGIN
    FOR r IN SELECT id, at, tenant, request_id, session_id, actor, action, detail
             FROM audit_log ORDER BY tenant, id LOOP
        IF t IS DISTINCT FROM r.tenant THEN
            IF t IS NOT NULL THEN
                INSERT INTO audit_heads (tenant, seq, row_sha256, prev_sha256)
                    VALUES (t, n, h, prev);
            END IF;
            t := r.tenant;
            n := 0;
            h := NULL;
        END IF;
        n := n + 1;
        prev := h;
        h := audit_row_sha256(r.tenant, n, r.at, r.request_id, r.session_id, r.actor, r.action,
                              r.detail, prev);
        UPDATE audit_log SET seq = n, prev_sha256 = prev, row_sha256 = h WHERE id = r.id;
    END LOOP;
    IF t IS NOT NULL THEN
        INSERT INTO audit_heads (tenant, seq, row_sha256, prev_sha256) VALUES (t, n, h, prev);
    END IF;
END $$;
ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only;

CREATE UNIQUE INDEX audit_log_tenant_seq ON audit_log (tenant, seq);
