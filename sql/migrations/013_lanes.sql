-- 013_lanes.sql - two delivery lanes, and leases that outlive their attempt.
--
-- 1. Telegram calls and agent webhooks are claimed by separate threads
--    (src/delivery.c): outbox_claim_tg takes only Telegram rows, and
--    outbox_claim_webhook only webhooks, one at a time. A receiver that
--    never answers holds webhook threads, never a Telegram one. Each lane
--    walks an index of its own rows, so a backlog of webhooks costs the
--    Telegram claim nothing, and each lane takes its own advisory lock.
-- 2. The lease is the caller's: it is longer than the longest attempt the
--    caller makes (its HTTP client's total timeout plus a margin), and a
--    caller that holds a batch renews a row's lease before an attempt that
--    could otherwise outlive it (outbox_renew). A renewal succeeds only for
--    the lease it renews (same attempt count, still queued): a row that was
--    claimed again meanwhile is not sent a second time.
-- 3. Webhook attempts in flight are capped per tenant and per target host,
--    across every worker: a claim passes over a row whose tenant or host
--    already has that many leased rows. The host is the callback_url's,
--    lower-cased, without user info and port.
-- 4. The previous release's outbox_claim and outbox_next_due stay as they
--    were, for its binary.
CREATE INDEX outbox_claim_tg ON outbox (priority, next_attempt_at, id)
    WHERE state = 'queued' AND kind <> 'webhook';
CREATE INDEX outbox_claim_hook ON outbox (next_attempt_at, id)
    WHERE state = 'queued' AND kind = 'webhook';
CREATE INDEX outbox_due_answer ON outbox (next_attempt_at)
    WHERE state = 'queued' AND kind = 'tg_answer';
-- webhooks in flight, for the caps
CREATE INDEX outbox_hook_leased ON outbox (request_id)
    WHERE state = 'queued' AND kind = 'webhook' AND leased_until IS NOT NULL;

-- The host of an http(s) URL as the caps count it.
CREATE FUNCTION lg_url_host(p_url text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT lower(substring(p_url FROM '^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/?#]*@)?(\[[^]]*\]|[^:/?#]*)'))
$$;

-- When the Telegram lane's earliest queued row may be claimed (see
-- outbox_next_due in 006): the same, without webhooks.
CREATE FUNCTION outbox_next_due_tg(p_bot_rate integer) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
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
ALTER FUNCTION outbox_next_due_tg(integer) SET plan_cache_mode = force_generic_plan;

-- outbox_claim (006) for the Telegram lane: the same pacing, Telegram rows only.
CREATE FUNCTION outbox_claim_tg(p_limit integer, p_lease interval, p_chat_gap interval,
                                p_group_gap interval, p_bot_gap interval, p_bot_rate integer)
RETURNS SETOF outbox LANGUAGE plpgsql AS $$
DECLARE
    r outbox;
    t timestamptz;
    gap interval;
    bot_next timestamptz;
    s integer;
    n integer := 0;
    seen integer := 0;
    no_slot boolean := false;
    blocked bigint[] := '{}';
    now_ts timestamptz := clock_timestamp();
BEGIN
    -- 'loopgate outbox claim'
    IF NOT pg_try_advisory_xact_lock(1819242087, 1) THEN
        RETURN;
    END IF;
    SELECT next_at INTO bot_next FROM tg_pace WHERE key = 'bot';
    IF NOT EXISTS (SELECT 1 FROM tg_bot_slots WHERE slot = p_bot_rate - 1) THEN
        INSERT INTO tg_bot_slots SELECT g, '-infinity' FROM generate_series(0, p_bot_rate - 1) g
            ON CONFLICT DO NOTHING;
    END IF;
    FOR r IN
        SELECT * FROM outbox
        WHERE state = 'queued' AND kind <> 'webhook' AND next_attempt_at <= now_ts
          AND (leased_until IS NULL OR leased_until < now_ts)
        ORDER BY priority, next_attempt_at, id
        LIMIT p_limit * 16
    LOOP
        seen := seen + 1;
        s := NULL;
        IF r.kind IN ('tg_send', 'tg_edit', 'tg_text') THEN
            CONTINUE WHEN no_slot OR bot_next > clock_timestamp() OR r.chat_id = ANY (blocked);
            SELECT next_at INTO t FROM tg_pace WHERE key = 'chat:' || r.chat_id;
            IF t > clock_timestamp() THEN
                blocked := blocked || r.chat_id;
                CONTINUE;
            END IF;
            SELECT slot INTO s FROM tg_bot_slots
                WHERE slot < p_bot_rate AND free_at <= clock_timestamp() LIMIT 1;
            IF s IS NULL THEN
                no_slot := true;
                CONTINUE;
            END IF;
        END IF;
        IF r.kind = 'tg_send'
           AND (SELECT status FROM requests WHERE id = r.request_id) <> 'pending' THEN
            UPDATE outbox SET state = 'skipped', done_at = now(),
                              last_error = 'decided before it was sent'
                WHERE id = r.id AND state = 'queued';
            UPDATE requests SET tg_state = 'skipped' WHERE id = r.request_id;
            CONTINUE;
        END IF;
        UPDATE outbox SET leased_until = clock_timestamp() + p_lease, attempts = attempts + 1,
                          bot_slot = s,
                          chat_gap = CASE WHEN s IS NULL THEN NULL
                                          WHEN r.chat_id < 0 THEN p_group_gap ELSE p_chat_gap END
            WHERE id = r.id AND state = 'queued'
              AND (leased_until IS NULL OR leased_until < now_ts)
            RETURNING * INTO r;
        CONTINUE WHEN NOT FOUND;
        IF s IS NOT NULL THEN
            gap := CASE WHEN r.chat_id < 0 THEN p_group_gap ELSE p_chat_gap END;
            UPDATE tg_bot_slots SET free_at = clock_timestamp() + p_lease WHERE slot = s;
            INSERT INTO tg_pace VALUES ('chat:' || r.chat_id, clock_timestamp() + gap)
                ON CONFLICT (key) DO UPDATE SET next_at = EXCLUDED.next_at;
            IF p_bot_gap > interval '0' THEN
                bot_next := clock_timestamp() + p_bot_gap;
                UPDATE tg_pace SET next_at = bot_next WHERE key = 'bot';
            END IF;
        END IF;
        RETURN NEXT r;
        n := n + 1;
        EXIT WHEN n >= p_limit;
    END LOOP;
    IF n < p_limit AND seen >= p_limit * 16 AND cardinality(blocked) > 0 AND NOT no_slot
       AND bot_next <= clock_timestamp() THEN
        UPDATE outbox o SET next_attempt_at = x.slot_at
        FROM (SELECT q.id, q.next_attempt_at,
                     p.next_at + (row_number() OVER w - 1)
                         * CASE WHEN q.chat_id < 0 THEN p_group_gap ELSE p_chat_gap END AS due_at,
                     p.next_at + (row_number() OVER w - 1)
                         * CASE WHEN q.chat_id < 0 THEN p_group_gap ELSE p_chat_gap END
                         * 1.05 AS slot_at
              FROM outbox q JOIN tg_pace p ON p.key = 'chat:' || q.chat_id
              WHERE q.state = 'queued' AND q.chat_id = ANY (blocked)
                AND q.kind IN ('tg_send', 'tg_edit', 'tg_text')
                AND (q.leased_until IS NULL OR q.leased_until < now_ts)
              WINDOW w AS (PARTITION BY q.chat_id ORDER BY q.priority, q.next_attempt_at, q.id)) x
        WHERE o.id = x.id AND x.next_attempt_at < x.due_at;
    END IF;
END $$;
ALTER FUNCTION outbox_claim_tg(integer, interval, interval, interval, interval, integer)
    SET enable_bitmapscan = off;
ALTER FUNCTION outbox_claim_tg(integer, interval, interval, interval, interval, integer)
    SET plan_cache_mode = force_generic_plan;

-- Lease one due webhook for p_lease, unless its tenant already has
-- p_tenant_cap webhooks in flight or its target host p_host_cap. Returns
-- the row with the request's tenant and target host; no row when nothing
-- may be taken now. Claims of this lane run one at a time (their own
-- advisory lock), so the caps hold across workers.
CREATE FUNCTION outbox_claim_webhook(p_lease interval, p_tenant_cap integer, p_host_cap integer,
                                     OUT o_id bigint, OUT o_request_id uuid,
                                     OUT o_attempts integer, OUT o_tenant text, OUT o_host text)
RETURNS SETOF record LANGUAGE plpgsql AS $$
DECLARE
    c record;
    now_ts timestamptz := clock_timestamp();
    busy_tenants text[];
    busy_hosts text[];
BEGIN
    -- 'loopgate outbox claim', lane 2
    IF NOT pg_try_advisory_xact_lock(1819242087, 2) THEN
        RETURN;
    END IF;
    SELECT array_agg(r.tenant), array_agg(lg_url_host(r.callback_url))
        INTO busy_tenants, busy_hosts
        FROM outbox q JOIN requests r ON r.id = q.request_id
        WHERE q.state = 'queued' AND q.kind = 'webhook' AND q.leased_until IS NOT NULL
          AND q.leased_until >= now_ts;
    busy_tenants := COALESCE(busy_tenants, '{}');
    busy_hosts := COALESCE(busy_hosts, '{}');
    FOR c IN
        SELECT q.id, r.tenant, lg_url_host(r.callback_url) AS host
        FROM (SELECT id, request_id FROM outbox
              WHERE state = 'queued' AND kind = 'webhook' AND next_attempt_at <= now_ts
                AND (leased_until IS NULL OR leased_until < now_ts)
              ORDER BY next_attempt_at, id LIMIT 256) q
        LEFT JOIN requests r ON r.id = q.request_id
    LOOP
        CONTINUE WHEN (SELECT count(*) FROM unnest(busy_tenants) b WHERE b = c.tenant)
                      >= p_tenant_cap;
        CONTINUE WHEN (SELECT count(*) FROM unnest(busy_hosts) b WHERE b = c.host) >= p_host_cap;
        UPDATE outbox SET leased_until = clock_timestamp() + p_lease, attempts = attempts + 1
            WHERE id = c.id AND state = 'queued'
              AND (leased_until IS NULL OR leased_until < now_ts)
            RETURNING id, request_id, attempts INTO o_id, o_request_id, o_attempts;
        CONTINUE WHEN NOT FOUND;
        o_tenant := c.tenant;
        o_host := c.host;
        RETURN NEXT;
        RETURN;
    END LOOP;
END $$;
ALTER FUNCTION outbox_claim_webhook(interval, integer, integer)
    SET plan_cache_mode = force_generic_plan;

-- Extend the lease of a row this caller holds (attempt p_attempts) to
-- p_lease from now; false when the row is no longer this caller's to send
-- (claimed again, or finished).
CREATE FUNCTION outbox_renew(p_id bigint, p_attempts integer, p_lease interval)
RETURNS boolean LANGUAGE sql AS $$
    WITH u AS (UPDATE outbox SET leased_until = clock_timestamp() + p_lease
               WHERE id = p_id AND attempts = p_attempts AND state = 'queued'
                 AND leased_until IS NOT NULL
               RETURNING bot_slot)
    , s AS (UPDATE tg_bot_slots SET free_at = clock_timestamp() + p_lease
            WHERE slot = (SELECT bot_slot FROM u))
    SELECT EXISTS (SELECT 1 FROM u)
$$;
