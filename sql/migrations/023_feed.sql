-- 023_feed.sql - which tenants have a live event stream open (GET
-- /hitl/events, the console's), so that only their audit rows are announced.
--
-- A NOTIFY makes its transaction take PostgreSQL's notification lock for
-- the length of its commit (fsync included): transactions that notify
-- commit one at a time, across the whole database. Measured here, 16
-- writers of one-row audit transactions: 1,840 commits/s without a NOTIFY,
-- 400 with one. So audit_log_feed notifies only for a tenant that some
-- worker streams: each stream leases its tenant's row here (until, renewed
-- while it lasts); a tenant nobody watches costs its writers one index
-- lookup per statement.
--
-- Expand only: a new table, read by a new trigger.

CREATE TABLE feed_tenants (
    tenant text PRIMARY KEY,
    until  timestamptz NOT NULL   -- a stream of the tenant was open until at least then
);
