-- Trigger audit_log_feed on audit_log, and its function audit_log_feed_notify():
-- the live event streams (GET /hitl/events, src/events.c) are told that a
-- tenant's trail grew.
--
-- After each INSERT statement on audit_log, one NOTIFY lg_feed per tenant
-- that the statement wrote a request change for (submitted, voted, decided,
-- timed_out, canceled: the actions the stream shows) and that has a stream
-- open (a lease in feed_tenants, 023). The payload is the tenant alone: a
-- stream reads its tenant's rows after the last seq it read, so a seq adds
-- nothing, and identical notifications of one transaction fold into one.
--
-- Kept cheap, as it runs with every audit row:
-- 1. A statement trigger: a submit batch of a hundred requests sends one
--    notification per tenant, not a hundred.
-- 2. Rows of other actions (sessions, reminders, refused attempts) notify
--    nobody.
-- 3. A tenant without a live stream is not notified at all: a NOTIFY makes
--    its transaction commit under PostgreSQL's notification lock, one such
--    commit at a time across the database (023). A stream opened meanwhile
--    finds what it missed by reading (events.c re-reads soon after it opens
--    and with every keepalive).
-- A notification is sent only when the transaction commits.
CREATE OR REPLACE FUNCTION audit_log_feed_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('lg_feed', t.tenant)
       FROM (SELECT DISTINCT tenant FROM audit_feed_rows
              WHERE action IN ('submitted', 'voted', 'decided', 'timed_out', 'canceled')) t
      WHERE EXISTS (SELECT 1 FROM feed_tenants f WHERE f.tenant = t.tenant AND f.until > now());
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER audit_log_feed AFTER INSERT ON audit_log
    REFERENCING NEW TABLE AS audit_feed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_feed_notify();
