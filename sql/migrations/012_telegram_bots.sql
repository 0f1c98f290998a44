-- 012_telegram_bots.sql - Telegram state per bot.
--
-- A bot's id is its token's numeric prefix (src/util.c tg_token_bot_id).
-- Update ids and message ids are the bot's own sequences: a second bot on
-- the same database starts its own, and Telegram restarts a bot's update ids
-- at random after a week of silence. So every Telegram key names its bot:
-- processed updates are keyed (bot_id, update_id) and kept for a window
-- (telegram_update_window_hours, at least 48 h; pruned by the expiry thread),
-- request messages (telegram_chat_id, telegram_message_id, tg_bot_id).
--
-- Expand only: the previous binary keeps working on this schema. It writes
-- no bot id, so its rows get 0 ("sent before bot ids were recorded"), which
-- the current binary takes for a message of its own bot.

ALTER TABLE tg_updates ADD COLUMN bot_id bigint NOT NULL DEFAULT 0;
-- Why an update could never be processed (NULL: it was processed).
ALTER TABLE tg_updates ADD COLUMN refused text;
ALTER TABLE tg_updates DROP CONSTRAINT tg_updates_pkey;
ALTER TABLE tg_updates ADD PRIMARY KEY (bot_id, update_id);
CREATE INDEX tg_updates_received ON tg_updates (received_at);

ALTER TABLE requests ADD COLUMN tg_bot_id bigint NOT NULL DEFAULT 0;
-- (chat, message) first: the previous binary looks messages up by those two.
CREATE UNIQUE INDEX requests_tg_bot_message
    ON requests (telegram_chat_id, telegram_message_id, tg_bot_id)
    WHERE telegram_message_id IS NOT NULL;
DROP INDEX requests_tg_message;

-- A bot whose token Telegram refused (401/404), shown by GET /health. One
-- row per bot while refused; deleted once Telegram accepts the token again.
CREATE TABLE tg_bots (
    bot_id     bigint PRIMARY KEY,
    refused_at timestamptz NOT NULL DEFAULT now(),
    error      text NOT NULL
);

-- tg_press (008) with the bot: the message must be this bot's (or one sent
-- before bot ids were recorded), and the update is deduplicated per bot.
CREATE FUNCTION tg_press(p_bot bigint, p_update bigint, p_id uuid, p_idx integer, p_chat bigint,
                         p_mid bigint, p_user bigint, p_name text, p_allow bigint[],
                         p_group_any boolean, p_cq text)
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
       OR r.tg_bot_id NOT IN (p_bot, 0)
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

-- The previous binary's tg_press: its messages and updates are bot 0's.
CREATE OR REPLACE FUNCTION tg_press(p_update bigint, p_id uuid, p_idx integer, p_chat bigint,
                                    p_mid bigint, p_user bigint, p_name text, p_allow bigint[],
                                    p_group_any boolean, p_cq text)
RETURNS text LANGUAGE sql AS $$
    SELECT tg_press(0, p_update, p_id, p_idx, p_chat, p_mid, p_user, p_name, p_allow,
                    p_group_any, p_cq)
$$;
