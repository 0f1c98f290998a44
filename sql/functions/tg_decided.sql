-- tg_decided(...) - a decision made in Telegram, in one round trip: the
-- request leaves 'pending', the audit row, the final-state work
-- (request_finished) and the answer to the button press (p_answer, when
-- there is one) are written together. Returns false when the request was no
-- longer pending.
--
-- The transaction commits synchronously: the workers connect with
-- synchronous_commit on and the store sets it again for the decision's own
-- transaction, because an asynchronous commit is visible at once to every
-- reader (a poll, an MCP call, a webhook claim) before its WAL reaches the
-- disk. A decision is on disk before anyone hears of it.
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
