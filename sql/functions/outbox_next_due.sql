-- outbox_next_due(bot_rate) - when the earliest queued row may be claimed:
-- a hint for how long an idle delivery thread sleeps; NULL when nothing is
-- queued. Rows in flight (an unexpired lease) are left out: their outcome
-- wakes their own thread. A paced row counts from its chat's next time,
-- looked at for the 64 paced rows that are due first (the rows a claim looks
-- at). Each part is a short walk down an index, however long the queue.
--
-- Both lanes together: the binaries from before the two delivery lanes
-- (migration 013) call it; today's call outbox_next_due_tg. A generic plan
-- (plan_cache_mode): a custom plan per call cost more than the statements.
CREATE OR REPLACE FUNCTION outbox_next_due(p_bot_rate integer) RETURNS timestamptz
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    RETURN LEAST(
        (SELECT next_attempt_at FROM outbox
         WHERE state = 'queued' AND kind NOT IN ('tg_send', 'tg_edit', 'tg_text')
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
