-- 017_bot_adoption.sql - messages without a bot belong to no bot but the one that adopts them.
--
-- Rows written before bot ids were recorded (012) have bot 0: requests'
-- messages (requests.tg_bot_id) and processed updates (tg_updates.bot_id).
-- Until now bot 0 counted as whichever bot was configured, for ever: after a
-- token change the new bot's message ids restart, and a reply to the new
-- bot's message 777 matched an old request's message 777 of bot 0.
--
-- Now bot 0 is adopted exactly once: the first worker (or poller) of this
-- release that runs with a bot token calls tg_adopt_unowned(its bot), which
-- claims the one row of tg_unowned_adopted and gives that bot every bot-0
-- message and update. From then on every lookup (tg_press, replies, the
-- long way of a press) matches the exact bot only, so a later token change
-- finds no match and the press is answered "expired".
--
-- Expand only: the previous binary keeps working. It still writes bot 0
-- (those rows are nobody's once adopted: presses on them are answered
-- "expired" by this release) and its tg_press(p_update, ...) (012) calls
-- tg_press(0, ...), which matches its own bot-0 rows only.

-- The one claim: which bot adopted bot 0's rows, and when.
CREATE TABLE tg_unowned_adopted (
    one        boolean PRIMARY KEY DEFAULT true CHECK (one),
    bot_id     bigint NOT NULL CHECK (bot_id > 0),
    adopted_at timestamptz NOT NULL DEFAULT now(),
    requests   integer NOT NULL DEFAULT 0,
    updates    integer NOT NULL DEFAULT 0
);

-- Adopt bot 0's rows for bot p_bot, once for the database: the number of
-- request messages adopted, or NULL when they were adopted before (by any
-- bot) or p_bot is no bot. A bot-0 message whose (chat, message_id) bot
-- p_bot already holds is another bot's, and stays bot 0: nobody's.
CREATE FUNCTION tg_adopt_unowned(p_bot bigint) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    n_req integer;
    n_upd integer;
BEGIN
    IF p_bot IS NULL OR p_bot <= 0 THEN
        RETURN NULL;
    END IF;
    INSERT INTO tg_unowned_adopted (bot_id) VALUES (p_bot) ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    UPDATE requests r SET tg_bot_id = p_bot
        WHERE r.tg_bot_id = 0 AND r.telegram_message_id IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM requests o
                          WHERE o.telegram_chat_id = r.telegram_chat_id
                            AND o.telegram_message_id = r.telegram_message_id
                            AND o.tg_bot_id = p_bot);
    GET DIAGNOSTICS n_req = ROW_COUNT;
    INSERT INTO tg_updates (bot_id, update_id, received_at, refused)
        SELECT p_bot, update_id, received_at, refused FROM tg_updates WHERE bot_id = 0
        ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS n_upd = ROW_COUNT;
    DELETE FROM tg_updates WHERE bot_id = 0;
    UPDATE tg_unowned_adopted SET requests = n_req, updates = n_upd;
    RETURN n_req;
END $$;

-- tg_press (012): the message must be this exact bot's; bot 0 is nobody's.
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
       OR r.telegram_chat_id IS DISTINCT FROM p_chat OR r.telegram_message_id IS DISTINCT FROM p_mid
       OR r.tg_bot_id IS DISTINCT FROM p_bot
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
    INSERT INTO tg_updates (bot_id, update_id) VALUES (p_bot, p_update) ON CONFLICT DO NOTHING;
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
