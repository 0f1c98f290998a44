-- 015: a decision is on disk before anyone hears of it.
--
-- tg_decided (006) let its transaction commit asynchronously. Every
-- decision now commits synchronously: the workers connect with
-- synchronous_commit on and store.c sets it again for the decision's own
-- transaction (DECISION_DURABLE), because an asynchronous commit is visible
-- at once to every reader (a poll, an MCP call, a webhook claim) before its
-- WAL reaches the disk. The function no longer turns it off.
CREATE OR REPLACE FUNCTION tg_decided(p_id uuid, p_response text, p_approved boolean, p_user bigint,
                                      p_name text, p_actor text, p_detail jsonb, p_answer jsonb)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    r requests;
BEGIN
    UPDATE requests SET status = 'completed', response = p_response, approved = p_approved,
                        responder_id = p_user, responder_name = p_name,
                        responded_at = now(), updated_at = now()
        WHERE id = p_id AND status = 'pending'
        RETURNING * INTO r;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO audit_log (tenant, request_id, session_id, actor, action, detail)
        VALUES (r.tenant, r.id, r.session_id, p_actor, 'decided', p_detail);
    PERFORM request_finished(r.id);
    IF p_answer IS NOT NULL THEN
        INSERT INTO outbox (kind, chat_id, payload, priority) VALUES ('tg_answer', 0, p_answer, 1);
    END IF;
    RETURN true;
END $$;
