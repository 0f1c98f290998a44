-- outbox_next_due_tg(bot_rate) - when the Telegram lane's earliest queued
-- row may be claimed (see outbox_next_due): the same, without webhooks.
CREATE OR REPLACE FUNCTION outbox_next_due_tg(p_bot_rate integer) RETURNS timestamptz
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    RETURN LEAST(
        (SELECT next_attempt_at FROM outbox
         WHERE state = 'queued' AND kind = 'tg_answer'
           AND (leased_until IS NULL OR leased_until < now())
         ORDER BY next_attempt_at LIMIT 1),
        (SELECT GREATEST(min(GREATEST(o.next_attempt_at, COALESCE(p.next_at, '-infinity'))),
                         (SELECT next_at FROM tg_pace WHERE key = 'bot'),
                         (SELECT min(free_at) FROM tg_bot_slots WHERE slot < p_bot_rate))
         FROM (SELECT next_attempt_at, chat_id FROM outbox
               WHERE state = 'queued' AND kind IN ('tg_send', 'tg_edit', 'tg_text')
                 AND (leased_until IS NULL OR leased_until < now())
               ORDER BY next_attempt_at LIMIT 64) o
         LEFT JOIN tg_pace p ON p.key = 'chat:' || o.chat_id
         HAVING count(*) > 0));
END $$;
