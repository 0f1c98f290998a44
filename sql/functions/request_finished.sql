-- request_finished(id) - queue the final-state work of a request that just
-- left 'pending': the Telegram edit (when its message was sent; and of its
-- escalation message, request_escalation_edit) and the agent
-- webhook (when a callback_url is set). Called from the statements that
-- decide, cancel or time out, in their transaction.
--
-- PL/pgSQL rather than SQL: each backend keeps the plans of its three
-- statements, where an SQL function was planned at every call.
CREATE OR REPLACE FUNCTION request_finished(p_id uuid) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO outbox (kind, request_id, chat_id, priority)
        SELECT 'tg_edit', id, telegram_chat_id, 3 FROM requests
        WHERE id = p_id AND telegram_message_id IS NOT NULL;
    PERFORM request_escalation_edit(p_id);
    INSERT INTO outbox (kind, request_id, priority)
        SELECT 'webhook', id, 2 FROM requests WHERE id = p_id AND callback_url IS NOT NULL;
    UPDATE requests SET cb_state = 'queued' WHERE id = p_id AND callback_url IS NOT NULL;
END $$;
