-- request_escalation_edit(id) - queue an edit of the request's escalation
-- message (021: the copy sent to the escalate_to session's chat), when it
-- was sent: a 'tg_edit' row whose payload is {"escalation": true}. The edit
-- shows the request as it is when it goes out (its progress, or its final
-- state), so one waiting unclaimed is enough and none is added then. Called
-- with the edit of the request's own message: by lg_vote (progress),
-- request_finished (decided, timed out) and the cancel.
CREATE OR REPLACE FUNCTION request_escalation_edit(p_id uuid) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO outbox (kind, request_id, chat_id, payload, priority)
        SELECT 'tg_edit', r.id, r.esc_chat_id, '{"escalation": true}', 3 FROM requests r
         WHERE r.id = p_id AND r.esc_message_id IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM outbox o
                            WHERE o.chat_id = r.esc_chat_id AND o.state = 'queued'
                              AND o.kind = 'tg_edit' AND o.request_id = r.id
                              AND o.payload @> '{"escalation": true}'
                              AND (o.leased_until IS NULL OR o.leased_until < now()));
END $$;
