-- Trigger audit_log_append_only on audit_log, and its function
-- audit_log_immutable(): the audit trail is append-only.
--
-- One exception, for retention (src/store_janitor.c): a DELETE by a session
-- that set loopgate.audit_prune = 'on', of a row its tenant has exported
-- (seq below audit_retention.exported_seq, 026). An unexported row, or any
-- UPDATE, is refused whoever asks.
CREATE OR REPLACE FUNCTION audit_log_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('loopgate.audit_prune', true) = 'on'
       AND EXISTS (SELECT 1 FROM audit_retention r
                    WHERE r.tenant = OLD.tenant AND OLD.seq < r.exported_seq) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only';
END $$;
CREATE OR REPLACE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_immutable();
