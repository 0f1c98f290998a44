-- loopgate: no-transaction
-- 026_retention.sql - what the janitor (src/janitor.c) needs to keep tables
-- small: a record of audit exports and of audit rows removed, and indexes
-- that find old rows without scanning whole tables.
--
-- 1. audit_retention: per tenant, the highest seq `loopgate audit export
--    --mark` wrote out in an unbroken run (exported_seq, with that row's
--    hash), and how far the janitor removed the chain's start (pruned_seq,
--    the last removed row's row_sha256). Audit rows are removed only below
--    exported_seq, oldest first, and `loopgate audit verify` starts a
--    tenant's chain after pruned_seq from pruned_sha256 (docs/AUDIT.md).
--    The append-only trigger (sql/functions/audit_log_append_only.sql)
--    refuses any other delete.
-- 2. outbox_request: the outbox's foreign key to requests is checked for
--    every request deleted; without an index each check reads the outbox.
-- 3. outbox_finished and requests_finished: the janitor's walks down old
--    finished rows, short however long the tables.
--
-- Expand only: a new table and new indexes the previous release never
-- names. Built CONCURRENTLY (writers are not blocked); safe to run twice.
CREATE TABLE IF NOT EXISTS audit_retention (
    tenant          text PRIMARY KEY,
    exported_seq    bigint NOT NULL DEFAULT 0,
    exported_sha256 text,
    exported_at     timestamptz,
    pruned_seq      bigint NOT NULL DEFAULT 0,
    pruned_sha256   text,
    pruned_at       timestamptz,
    CHECK (pruned_seq < exported_seq OR pruned_seq = 0)
);

DROP INDEX CONCURRENTLY IF EXISTS outbox_request;
CREATE INDEX CONCURRENTLY outbox_request ON outbox (request_id);

DROP INDEX CONCURRENTLY IF EXISTS outbox_finished;
CREATE INDEX CONCURRENTLY outbox_finished ON outbox (done_at) WHERE state <> 'queued';

DROP INDEX CONCURRENTLY IF EXISTS requests_finished;
CREATE INDEX CONCURRENTLY requests_finished ON requests (created_at) WHERE status <> 'pending';
