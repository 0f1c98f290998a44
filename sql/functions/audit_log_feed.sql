-- Trigger audit_log_feed on audit_log, and its function audit_log_feed_notify():
-- the live event stream (GET /hitl/events, src/events.c) is told that a
-- tenant's trail grew.
--
-- After each INSERT statement on audit_log, one NOTIFY lg_feed per tenant
-- that statement wrote a request change for (submitted, voted, decided,
-- timed_out, canceled; the actions the stream shows). The payload is the
-- tenant alone: a stream reads its tenant's rows after the last seq it sent,
-- so the seq adds nothing, and identical notifications of one transaction
-- are folded into one by PostgreSQL.
--
-- Kept cheap, as it runs with every audit row: a statement trigger, so a
-- submit batch of a hundred requests sends one notification per tenant, not
-- a hundred; rows of other actions (sessions, reminders, refused attempts)
-- notify nobody. A notification is sent only when the transaction commits;
-- one that rolls back tells nobody anything.
CREATE OR REPLACE FUNCTION audit_log_feed_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('lg_feed', t.tenant)
       FROM (SELECT DISTINCT tenant FROM audit_feed_rows
              WHERE action IN ('submitted', 'voted', 'decided', 'timed_out', 'canceled')) t;
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER audit_log_feed AFTER INSERT ON audit_log
    REFERENCING NEW TABLE AS audit_feed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_feed_notify();
