-- outbox_claim_webhook(...) - lease one due webhook for p_lease, unless its
-- tenant already has p_tenant_cap webhooks in flight or its target host
-- (lg_url_host) p_host_cap. Returns the row with the request's tenant and
-- target host; no row when nothing may be taken now. Claims of this lane run
-- one at a time (their own advisory lock), so the caps hold across workers.
CREATE OR REPLACE FUNCTION outbox_claim_webhook(p_lease interval, p_tenant_cap integer, p_host_cap integer,
                                     OUT o_id bigint, OUT o_request_id uuid,
                                     OUT o_attempts integer, OUT o_tenant text, OUT o_host text)
RETURNS SETOF record LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
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
