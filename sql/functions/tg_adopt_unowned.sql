-- tg_adopt_unowned(bot) - adopt bot 0's rows for bot p_bot, once for the
-- database.
--
-- Rows written before bot ids were recorded have bot 0: requests' messages
-- (requests.tg_bot_id) and processed updates (tg_updates.bot_id). The first
-- worker (or poller) that runs with a bot token calls this with its bot: it
-- claims the one row of tg_unowned_adopted and gives that bot every bot-0
-- message and update. Returns the number of request messages adopted, or
-- NULL when they were adopted before (by any bot) or p_bot is no bot. A
-- bot-0 message whose (chat, message_id) p_bot already holds is another
-- bot's, and stays bot 0: nobody's.
CREATE OR REPLACE FUNCTION tg_adopt_unowned(p_bot bigint) RETURNS integer LANGUAGE plpgsql AS $$
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
