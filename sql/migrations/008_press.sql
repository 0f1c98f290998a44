-- 008_press.sql - a button press decided in one statement.
--
-- A decision by button used to take two round trips before its commit: the
-- request locked and read, then decided and committed once the worker had
-- checked the press. tg_buttons keeps what the worker needs to check it,
-- written when the message is sent (src/tgmsg.c tgmsg_buttons): per button,
-- in keyboard order, its label, whether it approves, whether it is refused
-- (Approve on a confirmation cut to fit Telegram) and the text the presser
-- is answered with.
--
-- tg_press decides a press that needs nothing else: the message is the
-- request's, the button exists and is not refused, the request is pending
-- and not expired, and the presser may decide it (the same rule as
-- decide_authorized() in src/decide.c: the session's approvers, else the
-- private chat's user, else any member of a group when p_group_any; then
-- the allow list when it is not empty). It returns 'approved' or 'denied'
-- once decided (tg_decided: audit, final-state work, the answer queued),
-- 'repeat' for an update_id seen before, and 'other' having written
-- nothing: the worker then handles the press as any other update
-- (src/telegram.c), which also refuses it with the right answer.
ALTER TABLE requests ADD COLUMN tg_buttons jsonb;

CREATE FUNCTION tg_press(p_update bigint, p_id uuid, p_idx integer, p_chat bigint, p_mid bigint,
                         p_user bigint, p_name text, p_allow bigint[], p_group_any boolean,
                         p_cq text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r requests;
    b jsonb;
    approvers bigint[];
    may boolean;
BEGIN
    SELECT * INTO r FROM requests WHERE id = p_id FOR UPDATE;
    IF NOT FOUND OR r.status <> 'pending' OR r.expires_at <= now()
       OR r.telegram_chat_id IS DISTINCT FROM p_chat OR r.telegram_message_id IS DISTINCT FROM p_mid
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
                ELSE p_group_any END;
    IF p_user IS NULL OR p_user <= 0 OR NOT coalesce(may, false)
       OR (coalesce(cardinality(p_allow), 0) > 0 AND NOT p_user = ANY (p_allow)) THEN
        RETURN 'other';
    END IF;
    INSERT INTO tg_updates (update_id) VALUES (p_update) ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN 'repeat';
    END IF;
    IF NOT tg_decided(p_id, b ->> 'label', (b ->> 'approve')::boolean, p_user, p_name,
                      'telegram:' || p_user,
                      jsonb_build_object('response', b ->> 'label',
                                         'approved', (b ->> 'approve')::boolean, 'via', 'button',
                                         'user_id', p_user, 'user_name', p_name),
                      jsonb_build_object('callback_query_id', p_cq, 'text', b ->> 'answer')) THEN
        RAISE EXCEPTION 'tg_press: request % locked and pending, yet not decided', p_id;
    END IF;
    RETURN CASE WHEN (b ->> 'approve')::boolean THEN 'approved' ELSE 'denied' END;
END $$;
