-- tg_press(...) - a button press decided in one statement.
--
-- It decides a press that needs nothing else: the message is the request's
-- and this exact bot's (bot 0, messages sent before bot ids were recorded,
-- is nobody's once tg_adopt_unowned ran), the button exists and is not
-- refused (requests.tg_buttons, written when the message is sent: per
-- button its label, whether it approves, whether it is refused, the text
-- the presser is answered with), the request is pending and not expired,
-- and the presser may decide it (the rule of decide_authorized() in
-- src/decide.c: the session's approvers, else the private chat's user, else
-- any member of a group when p_group_any, pressing in that group; then the
-- allow list when it is not empty). An escalated request (021) may be
-- pressed on its escalation message too, and the escalate_to session's rule
-- (in its own chat) allows as well. The press is the presser's vote (lg_vote: the vote, the
-- outcome under the request's quorum, audit, final-state work, the answer
-- queued). It returns 'approved' or 'denied' once decided, 'voted' for a
-- vote that did not decide (the request stays pending; the message shows
-- the progress), 'already' when the presser voted before (answered so),
-- 'repeat' for an update seen before (per bot), and 'other' having written
-- nothing: the worker then handles the press as any other update, which
-- also refuses it with the right answer. A release before votes reads
-- 'voted' and 'already' as 'other'; its update is then a repeat, ignored.
CREATE OR REPLACE FUNCTION tg_press(p_bot bigint, p_update bigint, p_id uuid, p_idx integer,
                                    p_chat bigint, p_mid bigint, p_user bigint, p_name text,
                                    p_allow bigint[], p_group_any boolean, p_cq text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r requests;
    b jsonb;
    approvers bigint[];
    may boolean;
BEGIN
    SELECT * INTO r FROM requests WHERE id = p_id FOR UPDATE;
    IF NOT FOUND OR r.status <> 'pending' OR r.expires_at <= now()
       OR NOT (coalesce(r.telegram_chat_id = p_chat AND r.telegram_message_id = p_mid
                        AND r.tg_bot_id = p_bot, false)
               OR coalesce(r.esc_chat_id = p_chat AND r.esc_message_id = p_mid
                           AND r.esc_bot_id = p_bot, false))
       OR jsonb_typeof(r.tg_buttons) IS DISTINCT FROM 'array'
       OR p_idx < 0 OR p_idx >= jsonb_array_length(r.tg_buttons) THEN
        RETURN 'other';
    END IF;
    b := r.tg_buttons -> p_idx;
    IF coalesce((b ->> 'refused')::boolean, true) OR b ->> 'label' IS NULL
       OR b ->> 'answer' IS NULL OR jsonb_typeof(b -> 'approve') IS DISTINCT FROM 'boolean' THEN
        RETURN 'other';
    END IF;
    SELECT s.approvers INTO approvers FROM sessions s
        WHERE s.tenant = r.tenant AND s.session_id = r.session_id;
    may := CASE WHEN coalesce(cardinality(approvers), 0) > 0 THEN p_user = ANY (approvers)
                WHEN r.telegram_chat_id > 0 THEN p_user = r.telegram_chat_id
                ELSE p_group_any AND p_chat = r.telegram_chat_id END;
    IF NOT coalesce(may, false) AND r.escalated_at IS NOT NULL THEN
        -- escalated (021): the escalate_to session's rule, in its own chat
        SELECT s.approvers INTO approvers FROM sessions s
            WHERE s.tenant = r.tenant AND s.session_id = r.escalate_to;
        may := CASE WHEN coalesce(cardinality(approvers), 0) > 0 THEN p_user = ANY (approvers)
                    WHEN r.esc_chat_id > 0 THEN p_user = r.esc_chat_id
                    ELSE p_group_any AND p_chat = r.esc_chat_id END;
    END IF;
    IF p_user IS NULL OR p_user <= 0 OR NOT coalesce(may, false)
       OR (coalesce(cardinality(p_allow), 0) > 0 AND NOT p_user = ANY (p_allow)) THEN
        RETURN 'other';
    END IF;
    INSERT INTO tg_updates (bot_id, update_id) VALUES (p_bot, p_update) ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN 'repeat';
    END IF;
    RETURN lg_vote(p_id, 'telegram', 'telegram:' || p_user, p_user, p_name,
                   (b ->> 'approve')::boolean, b ->> 'label', 'telegram:' || p_user,
                   jsonb_build_object('response', b ->> 'label',
                                      'approved', (b ->> 'approve')::boolean, 'via', 'button',
                                      'user_id', p_user, 'user_name', p_name),
                   jsonb_build_object('callback_query_id', p_cq, 'text', b ->> 'answer'), NULL,
                   NULL::text, NULL::jsonb);  -- the full signature: no SQL wrapper planned per press
END $$;

-- The signature of binaries from before bot ids (migration 012): their
-- messages and updates are bot 0's. Kept while such a binary may run.
CREATE OR REPLACE FUNCTION tg_press(p_update bigint, p_id uuid, p_idx integer, p_chat bigint,
                                    p_mid bigint, p_user bigint, p_name text, p_allow bigint[],
                                    p_group_any boolean, p_cq text)
RETURNS text LANGUAGE sql AS $$
    SELECT tg_press(0, p_update, p_id, p_idx, p_chat, p_mid, p_user, p_name, p_allow,
                    p_group_any, p_cq)
$$;
