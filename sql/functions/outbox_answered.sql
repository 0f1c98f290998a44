-- Trigger outbox_answered on outbox, and its function outbox_release_slot():
-- a paced call got its answer (or gave up). Its bot slot is free one second
-- on, and its chat's next message waits a chat gap from now (the claim
-- already counted the gap from the claim). Both count from the answer, which
-- came after Telegram received the call, so no second holds more than the
-- bot's rate of arrivals whatever the network's delays. Every statement that
-- ends a lease sets leased_until to NULL.
CREATE OR REPLACE FUNCTION outbox_release_slot() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE tg_bot_slots SET free_at = clock_timestamp() + interval '1 second'
        WHERE slot = OLD.bot_slot;
    IF OLD.chat_gap IS NOT NULL THEN
        UPDATE tg_pace SET next_at = GREATEST(next_at, clock_timestamp() + OLD.chat_gap)
            WHERE key = 'chat:' || OLD.chat_id;
    END IF;
    NEW.bot_slot := NULL;
    NEW.chat_gap := NULL;
    RETURN NEW;
END $$;
CREATE OR REPLACE TRIGGER outbox_answered BEFORE UPDATE OF leased_until ON outbox
    FOR EACH ROW WHEN (OLD.bot_slot IS NOT NULL AND NEW.leased_until IS NULL)
    EXECUTE FUNCTION outbox_release_slot();
