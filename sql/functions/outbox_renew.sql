-- outbox_renew(id, attempts, lease) - extend the lease of a row this caller
-- holds (attempt p_attempts) to p_lease from now, and its bot slot with it;
-- false when the row is no longer this caller's to send (claimed again, or
-- finished): a row claimed again meanwhile is not sent a second time.
CREATE OR REPLACE FUNCTION outbox_renew(p_id bigint, p_attempts integer, p_lease interval)
RETURNS boolean LANGUAGE sql AS $$
    WITH u AS (UPDATE outbox SET leased_until = clock_timestamp() + p_lease
               WHERE id = p_id AND attempts = p_attempts AND state = 'queued'
                 AND leased_until IS NOT NULL
               RETURNING bot_slot)
    , s AS (UPDATE tg_bot_slots SET free_at = clock_timestamp() + p_lease
            WHERE slot = (SELECT bot_slot FROM u))
    SELECT EXISTS (SELECT 1 FROM u)
$$;
