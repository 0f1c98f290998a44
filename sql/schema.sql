--
-- PostgreSQL database dump
--

--
-- Name: api_keys_notify(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.api_keys_notify() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM pg_notify('lg_apikey', '');
    RETURN NULL;
END $$;

--
-- Name: audit_log_chain_row(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.audit_log_chain_row() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    h record;
BEGIN
    FOR attempt IN 1..2 LOOP
        UPDATE audit_heads AS a
           SET seq = a.seq + 1, prev_sha256 = a.row_sha256,
               row_sha256 = audit_row_sha256(NEW.tenant, a.seq + 1, NEW.at, NEW.request_id,
                                             NEW.session_id, NEW.actor, NEW.action, NEW.detail,
                                             a.row_sha256)
         WHERE a.tenant = NEW.tenant
        RETURNING a.seq, a.prev_sha256, a.row_sha256 INTO h;
        IF FOUND THEN
            NEW.seq := h.seq;
            NEW.prev_sha256 := h.prev_sha256;
            NEW.row_sha256 := h.row_sha256;
            RETURN NEW;
        END IF;
        -- The tenant's first row: make its head (a concurrent first row of
        -- the same tenant waits here for the other to finish, then updates).
        INSERT INTO audit_heads (tenant) VALUES (NEW.tenant) ON CONFLICT (tenant) DO NOTHING;
    END LOOP;
    RAISE EXCEPTION 'audit_log: could not take the chain head of tenant %', NEW.tenant;
END $$;

--
-- Name: audit_log_feed_notify(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.audit_log_feed_notify() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM pg_notify('lg_feed', t.tenant)
       FROM (SELECT DISTINCT tenant FROM audit_feed_rows
              WHERE action IN ('submitted', 'voted', 'decided', 'timed_out', 'canceled',
                               'console_logout')) t
      WHERE EXISTS (SELECT 1 FROM feed_tenants f WHERE f.tenant = t.tenant AND f.until > now());
    RETURN NULL;
END $$;

--
-- Name: audit_log_immutable(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.audit_log_immutable() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('loopgate.audit_prune', true) = 'on'
       AND EXISTS (SELECT 1 FROM audit_retention r
                    WHERE r.tenant = OLD.tenant AND OLD.seq < r.exported_seq) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only';
END $$;

--
-- Name: audit_row_sha256(text, bigint, timestamp with time zone, uuid, text, text, text, jsonb, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.audit_row_sha256(p_tenant text, p_seq bigint, p_at timestamp with time zone, p_request_id uuid, p_session_id text, p_actor text, p_action text, p_detail jsonb, p_prev_sha256 text) RETURNS text
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    AS $$
DECLARE
    v text;
    canon text := '';
BEGIN
    FOREACH v IN ARRAY ARRAY['loopgate-audit-v1', p_tenant, p_seq::text,
                             to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                             p_request_id::text, p_session_id, p_actor, p_action, p_detail::text,
                             p_prev_sha256] LOOP
        IF canon <> '' THEN
            canon := canon || E'\n';
        END IF;
        canon := canon || CASE WHEN v IS NULL THEN '-'
                               ELSE octet_length(convert_to(v, 'UTF8')) || ':' || v END;
    END LOOP;
    RETURN encode(sha256(convert_to(canon, 'UTF8')), 'hex');
END $$;

--
-- Name: lg_duration(bigint); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.lg_duration(p_seconds bigint) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$
    SELECT CASE
        WHEN p_seconds < 60 THEN greatest(p_seconds, 0) || ' s'
        WHEN p_seconds < 3600 THEN p_seconds / 60 || ' min'
        WHEN p_seconds < 86400 THEN p_seconds / 3600 || ' h'
             || CASE WHEN p_seconds % 3600 >= 60 THEN ' ' || p_seconds % 3600 / 60 || ' min'
                     ELSE '' END
        ELSE p_seconds / 86400 || ' d'
             || CASE WHEN p_seconds % 86400 >= 3600 THEN ' ' || p_seconds % 86400 / 3600 || ' h'
                     ELSE '' END
    END
$$;

--
-- Name: lg_latency_ms(timestamp with time zone); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.lg_latency_ms(p_created timestamp with time zone) RETURNS bigint
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    AS $$
    SELECT greatest(0, floor(extract(epoch FROM now() - p_created) * 1000))::bigint
$$;

--
-- Name: lg_ts(timestamp with time zone); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.lg_ts(t timestamp with time zone) RETURNS text
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    AS $$ SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') $$;

--
-- Name: lg_url_host(text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.lg_url_host(p_url text) RETURNS text
    LANGUAGE sql IMMUTABLE
    AS $$
    SELECT lower(substring(p_url FROM '^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/?#]*@)?(\[[^]]*\]|[^:/?#]*)'))
$$;

--
-- Name: lg_vote(uuid, text, text, bigint, text, boolean, text, text, jsonb, jsonb, jsonb); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.lg_vote(p_id uuid, p_channel text, p_person text, p_user bigint, p_name text, p_approve boolean, p_response text, p_actor text, p_detail jsonb, p_answer jsonb, p_reply jsonb) RETURNS text
    LANGUAGE sql
    AS $$
    SELECT lg_vote(p_id, p_channel, p_person, p_user, p_name, p_approve, p_response, p_actor,
                   p_detail, p_answer, p_reply, NULL::text, NULL::jsonb)
$$;

--
-- Name: lg_vote(uuid, text, text, bigint, text, boolean, text, text, jsonb, jsonb, jsonb, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.lg_vote(p_id uuid, p_channel text, p_person text, p_user bigint, p_name text, p_approve boolean, p_response text, p_actor text, p_detail jsonb, p_answer jsonb, p_reply jsonb, p_reason text) RETURNS text
    LANGUAGE sql
    AS $$
    SELECT lg_vote(p_id, p_channel, p_person, p_user, p_name, p_approve, p_response, p_actor,
                   p_detail, p_answer, p_reply, p_reason, NULL)
$$;

--
-- Name: lg_vote(uuid, text, text, bigint, text, boolean, text, text, jsonb, jsonb, jsonb, text, jsonb); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.lg_vote(p_id uuid, p_channel text, p_person text, p_user bigint, p_name text, p_approve boolean, p_response text, p_actor text, p_detail jsonb, p_answer jsonb, p_reply jsonb, p_reason text, p_params jsonb) RETURNS text
    LANGUAGE plpgsql
    AS $$
DECLARE
    r requests;
    shown jsonb;
    yes integer;
    no integer;
    outcome text;
    said text;
BEGIN
    SELECT * INTO r FROM requests WHERE id = p_id FOR UPDATE;
    -- past its deadline a request is over, whether or not the expiry loop
    -- has written its timeout yet
    IF NOT FOUND OR r.status <> 'pending' OR r.expires_at <= now() THEN
        RETURN 'gone';
    END IF;
    IF p_params IS NOT NULL AND (NOT p_approve OR r.params IS NULL
                                 OR r.approvals_required <> 1) THEN
        RAISE EXCEPTION 'an edit is only an approval of a request with params and one approver';
    END IF;
    INSERT INTO votes (request_id, tenant, person, user_id, name, channel, approve, response,
                       reason, params)
        VALUES (p_id, r.tenant, p_person, p_user, p_name, p_channel, p_approve, p_response,
                p_reason, p_params)
        ON CONFLICT (request_id, person) DO NOTHING;
    IF NOT FOUND THEN
        INSERT INTO audit_log (tenant, request_id, session_id, actor, action, detail)
            VALUES (r.tenant, r.id, r.session_id, p_actor, 'already_voted', p_detail);
        outcome := 'already';
        said := 'You already voted on this request.';
    ELSE
        -- the vote as the API shows it (requests.votes, 018)
        shown := jsonb_build_array(jsonb_build_object(
            'responder', jsonb_build_object('id', p_user, 'name', p_name), 'channel', p_channel,
            'approve', p_approve, 'response', p_response, 'reason', p_reason, 'at', lg_ts(now()))
            || CASE WHEN p_params IS NOT NULL THEN jsonb_build_object('params', p_params)
                    ELSE '{}' END);
        IF r.approvals_required = 1 THEN
            -- the first vote decides: nothing to count (the press path stays short)
            yes := p_approve::integer;
            no := (NOT p_approve)::integer;
        ELSE
            SELECT count(*) FILTER (WHERE approve), count(*) FILTER (WHERE NOT approve)
                INTO yes, no FROM votes WHERE request_id = p_id;
        END IF;
        IF (p_approve AND yes >= r.approvals_required)
           OR (NOT p_approve AND (r.deny_vetoes OR no >= r.approvals_required)) THEN
            UPDATE requests SET status = 'completed', response = p_response, approved = p_approve,
                                responder_id = p_user, responder_name = p_name,
                                responded_at = now(), updated_at = now(),
                                votes = coalesce(votes, '[]') || shown,
                                edited_params = CASE WHEN p_approve THEN p_params END
                WHERE id = p_id AND status = 'pending';
            INSERT INTO audit_log (tenant, request_id, session_id, actor, action, detail)
                VALUES (r.tenant, r.id, r.session_id, p_actor, 'decided',
                        coalesce(p_detail, '{}')
                        || jsonb_build_object('latency_ms', lg_latency_ms(r.created_at))
                        || CASE WHEN r.approvals_required > 1
                                THEN jsonb_build_object('approvals', yes, 'denials', no,
                                                        'approvals_required', r.approvals_required)
                                ELSE '{}' END);
            PERFORM request_finished(p_id);
            IF p_answer IS NOT NULL THEN
                INSERT INTO outbox (kind, chat_id, payload, priority)
                    VALUES ('tg_answer', 0, p_answer, 1);
            END IF;
            RETURN CASE WHEN p_approve THEN 'approved' ELSE 'denied' END;
        END IF;
        INSERT INTO audit_log (tenant, request_id, session_id, actor, action, detail)
            VALUES (r.tenant, r.id, r.session_id, p_actor, 'voted',
                    p_detail || jsonb_build_object('approvals', yes, 'denials', no,
                                                   'approvals_required', r.approvals_required));
        UPDATE requests SET updated_at = now(), votes = coalesce(votes, '[]') || shown
            WHERE id = p_id;
        -- One progress edit waiting is enough: it shows the row as it is when
        -- it goes out, so a vote that finds one unclaimed adds none (ten
        -- quick votes would otherwise spend ten of the chat's paced slots).
        INSERT INTO outbox (kind, request_id, chat_id, priority)
            SELECT 'tg_edit', r.id, r.telegram_chat_id, 3
             WHERE r.telegram_message_id IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM outbox o
                                WHERE o.chat_id = r.telegram_chat_id AND o.state = 'queued'
                                  AND o.kind = 'tg_edit' AND o.request_id = r.id
                                  AND o.payload IS NULL  -- not the escalation message's (021)
                                  AND (o.leased_until IS NULL OR o.leased_until < now()));
        PERFORM request_escalation_edit(r.id);
        outcome := 'voted';
        said := 'Recorded: ' || p_response || '. ' || yes || ' of ' || r.approvals_required
                || ' approvals'
                || CASE WHEN NOT r.deny_vetoes
                        THEN ', ' || no || ' of ' || r.approvals_required || ' denials to deny'
                        ELSE '' END || '.';
    END IF;
    IF p_answer IS NOT NULL THEN
        INSERT INTO outbox (kind, chat_id, payload, priority)
            VALUES ('tg_answer', 0, p_answer || jsonb_build_object('text', left(said, 200)), 1);
    END IF;
    IF p_reply IS NOT NULL THEN
        INSERT INTO outbox (kind, chat_id, payload, priority)
            VALUES ('tg_text', coalesce((p_reply ->> 'chat_id')::bigint, 0),
                    (p_reply - 'chat_id') || jsonb_build_object('text', said), 4);
    END IF;
    RETURN outcome;
END $$;

--
-- Name: outbox; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.outbox (
    id bigint NOT NULL,
    kind text NOT NULL,
    request_id uuid,
    chat_id bigint,
    payload jsonb,
    state text DEFAULT 'queued'::text NOT NULL,
    priority smallint DEFAULT 5 NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    next_attempt_at timestamp with time zone DEFAULT now() NOT NULL,
    leased_until timestamp with time zone,
    last_error text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    done_at timestamp with time zone,
    bot_slot integer,
    chat_gap interval,
    CONSTRAINT outbox_state_check CHECK ((state = ANY (ARRAY['queued'::text, 'done'::text, 'failed'::text, 'skipped'::text])))
)
WITH (autovacuum_vacuum_scale_factor='0.02', autovacuum_vacuum_threshold='500', autovacuum_analyze_scale_factor='0.05');

--
-- Name: outbox_claim(integer, interval, interval, interval, interval, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.outbox_claim(p_limit integer, p_lease interval, p_chat_gap interval, p_group_gap interval, p_bot_gap interval, p_bot_rate integer) RETURNS SETOF public.outbox
    LANGUAGE plpgsql
    SET enable_bitmapscan TO 'off'
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
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
        WHERE state = 'queued' AND next_attempt_at <= now_ts
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

--
-- Name: outbox_claim_tg(integer, interval, interval, interval, interval, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.outbox_claim_tg(p_limit integer, p_lease interval, p_chat_gap interval, p_group_gap interval, p_bot_gap interval, p_bot_rate integer) RETURNS SETOF public.outbox
    LANGUAGE plpgsql
    SET enable_bitmapscan TO 'off'
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
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
        IF r.kind IN ('tg_send', 'tg_edit', 'tg_text', 'tg_escalate') THEN
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
        IF r.kind = 'tg_escalate'
           AND (SELECT status FROM requests WHERE id = r.request_id) <> 'pending' THEN
            UPDATE outbox SET state = 'skipped', done_at = now(),
                              last_error = 'decided before it was escalated'
                WHERE id = r.id AND state = 'queued';
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

--
-- Name: outbox_claim_webhook(interval, integer, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.outbox_claim_webhook(p_lease interval, p_tenant_cap integer, p_host_cap integer, OUT o_id bigint, OUT o_request_id uuid, OUT o_attempts integer, OUT o_tenant text, OUT o_host text) RETURNS SETOF record
    LANGUAGE plpgsql
    SET plan_cache_mode TO 'force_generic_plan'
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

--
-- Name: outbox_next_due(integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.outbox_next_due(p_bot_rate integer) RETURNS timestamp with time zone
    LANGUAGE plpgsql STABLE
    SET plan_cache_mode TO 'force_generic_plan'
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

--
-- Name: outbox_next_due_tg(integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.outbox_next_due_tg(p_bot_rate integer) RETURNS timestamp with time zone
    LANGUAGE plpgsql STABLE
    SET plan_cache_mode TO 'force_generic_plan'
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

--
-- Name: outbox_release_slot(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.outbox_release_slot() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
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

--
-- Name: outbox_renew(bigint, integer, interval); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.outbox_renew(p_id bigint, p_attempts integer, p_lease interval) RETURNS boolean
    LANGUAGE sql
    AS $$
    WITH u AS (UPDATE outbox SET leased_until = clock_timestamp() + p_lease
               WHERE id = p_id AND attempts = p_attempts AND state = 'queued'
                 AND leased_until IS NOT NULL
               RETURNING bot_slot)
    , s AS (UPDATE tg_bot_slots SET free_at = clock_timestamp() + p_lease
            WHERE slot = (SELECT bot_slot FROM u))
    SELECT EXISTS (SELECT 1 FROM u)
$$;

--
-- Name: request_escalation_edit(uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.request_escalation_edit(p_id uuid) RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO outbox (kind, request_id, chat_id, payload, priority)
        SELECT 'tg_edit', r.id, r.esc_chat_id, '{"escalation": true}', 3 FROM requests r
         WHERE r.id = p_id AND r.esc_message_id IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM outbox o
                            WHERE o.chat_id = r.esc_chat_id AND o.state = 'queued'
                              AND o.kind = 'tg_edit' AND o.request_id = r.id
                              AND o.payload @> '{"escalation": true}'
                              AND (o.leased_until IS NULL OR o.leased_until < now()));
END $$;

--
-- Name: request_finished(uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.request_finished(p_id uuid) RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO outbox (kind, request_id, chat_id, priority)
        SELECT 'tg_edit', id, telegram_chat_id, 3 FROM requests
        WHERE id = p_id AND telegram_message_id IS NOT NULL;
    PERFORM request_escalation_edit(p_id);
    INSERT INTO outbox (kind, request_id, priority)
        SELECT 'webhook', id, 2 FROM requests WHERE id = p_id AND callback_url IS NOT NULL;
    UPDATE requests SET cb_state = 'queued' WHERE id = p_id AND callback_url IS NOT NULL;
END $$;

--
-- Name: requests_count_inserted(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.requests_count_inserted() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO tenant_pending (tenant, shard, n)
        SELECT tenant, pg_backend_pid() % 64, count(*) FROM inserted
        WHERE status = 'pending' GROUP BY tenant
        ON CONFLICT (tenant, shard) DO UPDATE SET n = tenant_pending.n + EXCLUDED.n;
    RETURN NULL;
END $$;

--
-- Name: requests_count_pending(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.requests_count_pending() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    delta integer := (NEW.status = 'pending')::integer - (OLD.status = 'pending')::integer;
BEGIN
    IF delta <> 0 THEN
        INSERT INTO tenant_pending (tenant, shard, n)
            VALUES (NEW.tenant, pg_backend_pid() % 64, delta)
            ON CONFLICT (tenant, shard) DO UPDATE SET n = tenant_pending.n + EXCLUDED.n;
    END IF;
    RETURN NULL;
END $$;

--
-- Name: requests_expire(integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.requests_expire(p_limit integer) RETURNS integer
    LANGUAGE plpgsql
    AS $$
DECLARE
    r record;
    n integer := 0;
    why text;
    approve boolean;
BEGIN
    -- Every request of the batch is locked before the first is written, and
    -- they are written in tenant order: each audit row takes its tenant's
    -- chain head (audit_log_chain) until the end of the transaction, and
    -- writers that take several heads in one order never wait on each other.
    FOR r IN
        SELECT * FROM (
            SELECT id, tenant, session_id, on_timeout, telegram_message_id IS NOT NULL AS delivered,
                   tg_state, tg_cut, tg_sent_at, expires_at, timeout_seconds, created_at
            FROM requests
            WHERE status = 'pending' AND expires_at <= now()
            ORDER BY expires_at LIMIT p_limit
            FOR UPDATE SKIP LOCKED) AS due
        ORDER BY tenant, expires_at
    LOOP
        why := CASE
            WHEN r.on_timeout <> 'approve' THEN NULL
            WHEN EXISTS (SELECT 1 FROM audit_log a
                          WHERE a.request_id = r.id AND a.action = 'reason_asked') THEN
                'timed out while someone was giving a reason to deny it, so the timeout denies'
            WHEN r.tg_state = 'console' THEN
                'timed out; the request waited in the console, where nothing shows that '
                'anyone read it, so the timeout denies'
            WHEN NOT r.delivered THEN
                'timed out; the message was never delivered, so the timeout denies'
            WHEN r.tg_cut IS NULL THEN
                'timed out; whether the message had to be shortened was not recorded, '
                'so the timeout denies'
            WHEN r.tg_cut THEN
                'timed out; the message had to be shortened, so the timeout denies'
            WHEN r.tg_sent_at IS NULL OR r.tg_sent_at > r.expires_at
                     - least(make_interval(secs => r.timeout_seconds / 2.0),
                             interval '60 seconds') THEN
                'timed out; the message was delivered too late to be read (less than half '
                'the timeout, at most 60 s, before it), so the timeout denies'
            END;
        approve := r.on_timeout = 'approve' AND why IS NULL;
        UPDATE requests SET status = 'timeout',
                            approved = approve,
                            response = coalesce(why, response),
                            responded_at = now(), updated_at = now()
            WHERE id = r.id;
        INSERT INTO audit_log (tenant, request_id, session_id, actor, action, detail)
            VALUES (r.tenant, r.id, r.session_id, 'loopgate', 'timed_out',
                    jsonb_strip_nulls(jsonb_build_object('on_timeout', r.on_timeout,
                                                         'delivered', r.delivered,
                                                         'approved', approve, 'reason', why,
                                                         'latency_ms',
                                                         lg_latency_ms(r.created_at))));
        PERFORM request_finished(r.id);
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;

--
-- Name: requests_notify(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.requests_notify() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM pg_notify('lg_request', NEW.id::text);
    RETURN NULL;
END $$;

--
-- Name: requests_nudge(integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.requests_nudge(p_limit integer) RETURNS integer
    LANGUAGE plpgsql
    SET plan_cache_mode TO 'force_custom_plan'
    AS $$
DECLARE
    r record;
    s record;
    n integer := 0;
    waited bigint;
    why text;
    ids uuid[];
BEGIN
    -- The due ids, from the two partial indexes (021). Nothing due, the
    -- common case, ends here.
    ids := ARRAY(SELECT id FROM requests
                 WHERE status = 'pending' AND remind_at IS NOT NULL AND remind_at <= now()
                 ORDER BY remind_at LIMIT p_limit)
           || ARRAY(SELECT id FROM requests
                    WHERE status = 'pending' AND escalate_at IS NOT NULL AND escalate_at <= now()
                    ORDER BY escalate_at LIMIT p_limit);
    IF cardinality(ids) = 0 THEN
        RETURN 0;
    END IF;
    FOR r IN
        SELECT * FROM (
            SELECT id, tenant, session_id, status, created_at, expires_at, telegram_chat_id,
                   telegram_message_id, tg_state, reminders, escalate_to,
                   remind_at <= now() AS remind, escalate_at <= now() AS escalate
            FROM requests
            WHERE id = ANY (ids)  -- by primary key
            FOR UPDATE SKIP LOCKED) AS due
        ORDER BY tenant, id
    LOOP
        -- decided since the ids were read (status is not in the WHERE: with it the
        -- planner may walk a pending index instead of the primary key)
        CONTINUE WHEN r.status <> 'pending' OR r.expires_at <= now();
        waited := extract(epoch FROM now() - r.created_at)::bigint;
        IF r.remind AND r.telegram_message_id IS NULL THEN
            -- nothing to reply to yet: wait for the message, or give up on one that never goes
            UPDATE requests
               SET remind_at = CASE WHEN r.tg_state IN ('failed', 'skipped', 'console') THEN NULL
                                    ELSE now() + interval '5 seconds' END
             WHERE id = r.id;
        ELSIF r.remind THEN
            UPDATE requests SET remind_at = NULL, reminders = reminders + 1 WHERE id = r.id;
            INSERT INTO outbox (kind, request_id, chat_id, payload, priority)
                VALUES ('tg_text', r.id, r.telegram_chat_id,
                        jsonb_build_object('text', 'Reminder: waiting ' || lg_duration(waited),
                                           'reply_parameters',
                                           jsonb_build_object('message_id', r.telegram_message_id,
                                                              'allow_sending_without_reply',
                                                              true)),
                        4);
            INSERT INTO audit_log (tenant, request_id, session_id, actor, action, detail)
                VALUES (r.tenant, r.id, r.session_id, 'loopgate', 'reminded',
                        jsonb_build_object('reminder', r.reminders + 1, 'waited_seconds', waited,
                                           'chat_id', r.telegram_chat_id));
            n := n + 1;
        END IF;
        CONTINUE WHEN NOT coalesce(r.escalate, false);
        SELECT telegram_chat_id, active INTO s FROM sessions
            WHERE tenant = r.tenant AND session_id = r.escalate_to;
        why := CASE WHEN NOT FOUND THEN 'no such session'
                    WHEN r.escalate_to = r.session_id THEN 'the request''s own session'
                    WHEN NOT s.active THEN 'session deactivated' END;
        IF why IS NOT NULL THEN
            UPDATE requests SET escalate_at = NULL WHERE id = r.id;
            INSERT INTO audit_log (tenant, request_id, session_id, actor, action, detail)
                VALUES (r.tenant, r.id, r.session_id, 'loopgate', 'escalation_failed',
                        jsonb_build_object('escalate_to', r.escalate_to, 'waited_seconds', waited,
                                           'reason', why));
            CONTINUE;
        END IF;
        UPDATE requests SET escalate_at = NULL, escalated_at = now(),
                            esc_chat_id = s.telegram_chat_id
            WHERE id = r.id;
        -- a console-only session (022) sees it in the console: no message to send
        INSERT INTO outbox (kind, request_id, chat_id)
            SELECT 'tg_escalate', r.id, s.telegram_chat_id WHERE s.telegram_chat_id IS NOT NULL;
        INSERT INTO audit_log (tenant, request_id, session_id, actor, action, detail)
            VALUES (r.tenant, r.id, r.session_id, 'loopgate', 'escalated',
                    jsonb_build_object('escalate_to', r.escalate_to, 'waited_seconds', waited,
                                       'chat_id', s.telegram_chat_id));
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;

--
-- Name: tg_adopt_unowned(bigint); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.tg_adopt_unowned(p_bot bigint) RETURNS integer
    LANGUAGE plpgsql
    AS $$
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

--
-- Name: tg_decided(uuid, text, boolean, bigint, text, text, jsonb, jsonb); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.tg_decided(p_id uuid, p_response text, p_approved boolean, p_user bigint, p_name text, p_actor text, p_detail jsonb, p_answer jsonb) RETURNS boolean
    LANGUAGE sql
    AS $$
    SELECT tg_decided(p_id, p_response, p_approved, p_user, p_name, p_actor, p_detail, p_answer,
                      NULL, NULL::text, NULL::jsonb) IN ('approved', 'denied')
$$;

--
-- Name: tg_decided(uuid, text, boolean, bigint, text, text, jsonb, jsonb, jsonb); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.tg_decided(p_id uuid, p_response text, p_approved boolean, p_user bigint, p_name text, p_actor text, p_detail jsonb, p_answer jsonb, p_reply jsonb) RETURNS text
    LANGUAGE sql
    AS $$
    SELECT tg_decided(p_id, p_response, p_approved, p_user, p_name, p_actor, p_detail, p_answer,
                      p_reply, NULL::text, NULL::jsonb)
$$;

--
-- Name: tg_decided(uuid, text, boolean, bigint, text, text, jsonb, jsonb, jsonb, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.tg_decided(p_id uuid, p_response text, p_approved boolean, p_user bigint, p_name text, p_actor text, p_detail jsonb, p_answer jsonb, p_reply jsonb, p_reason text) RETURNS text
    LANGUAGE sql
    AS $$
    SELECT tg_decided(p_id, p_response, p_approved, p_user, p_name, p_actor, p_detail, p_answer,
                      p_reply, p_reason, NULL)
$$;

--
-- Name: tg_decided(uuid, text, boolean, bigint, text, text, jsonb, jsonb, jsonb, text, jsonb); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.tg_decided(p_id uuid, p_response text, p_approved boolean, p_user bigint, p_name text, p_actor text, p_detail jsonb, p_answer jsonb, p_reply jsonb, p_reason text, p_params jsonb) RETURNS text
    LANGUAGE sql
    AS $$
    SELECT lg_vote(p_id, 'telegram', 'telegram:' || p_user, p_user, p_name, p_approved,
                   p_response, p_actor, p_detail, p_answer, p_reply, p_reason, p_params)
$$;

--
-- Name: tg_press(bigint, uuid, integer, bigint, bigint, bigint, text, bigint[], boolean, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.tg_press(p_update bigint, p_id uuid, p_idx integer, p_chat bigint, p_mid bigint, p_user bigint, p_name text, p_allow bigint[], p_group_any boolean, p_cq text) RETURNS text
    LANGUAGE sql
    AS $$
    SELECT tg_press(0, p_update, p_id, p_idx, p_chat, p_mid, p_user, p_name, p_allow,
                    p_group_any, p_cq)
$$;

--
-- Name: tg_press(bigint, bigint, uuid, integer, bigint, bigint, bigint, text, bigint[], boolean, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.tg_press(p_bot bigint, p_update bigint, p_id uuid, p_idx integer, p_chat bigint, p_mid bigint, p_user bigint, p_name text, p_allow bigint[], p_group_any boolean, p_cq text) RETURNS text
    LANGUAGE plpgsql
    AS $$
DECLARE
    r requests;
    b jsonb;
    approvers bigint[];
    may boolean;
BEGIN
    SELECT * INTO r FROM requests WHERE id = p_id FOR UPDATE;
    IF NOT FOUND OR r.status <> 'pending' OR r.expires_at <= now()
       OR NOT (coalesce(r.telegram_chat_id = p_chat AND r.telegram_message_id = p_mid
                        AND r.tg_bot_id = p_bot, false)
               OR coalesce(r.esc_chat_id = p_chat AND r.esc_message_id = p_mid
                           AND r.esc_bot_id = p_bot, false))
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
                ELSE p_group_any AND p_chat = r.telegram_chat_id END;
    IF NOT coalesce(may, false) AND r.escalated_at IS NOT NULL THEN
        -- escalated (021): the escalate_to session's rule, in its own chat
        SELECT s.approvers INTO approvers FROM sessions s
            WHERE s.tenant = r.tenant AND s.session_id = r.escalate_to;
        may := CASE WHEN coalesce(cardinality(approvers), 0) > 0 THEN p_user = ANY (approvers)
                    WHEN r.esc_chat_id > 0 THEN p_user = r.esc_chat_id
                    ELSE p_group_any AND p_chat = r.esc_chat_id END;
    END IF;
    IF p_user IS NULL OR p_user <= 0 OR NOT coalesce(may, false)
       OR (coalesce(cardinality(p_allow), 0) > 0 AND NOT p_user = ANY (p_allow)) THEN
        RETURN 'other';
    END IF;
    INSERT INTO tg_updates (bot_id, update_id) VALUES (p_bot, p_update) ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN 'repeat';
    END IF;
    RETURN lg_vote(p_id, 'telegram', 'telegram:' || p_user, p_user, p_name,
                   (b ->> 'approve')::boolean, b ->> 'label', 'telegram:' || p_user,
                   jsonb_build_object('response', b ->> 'label',
                                      'approved', (b ->> 'approve')::boolean, 'via', 'button',
                                      'user_id', p_user, 'user_name', p_name),
                   jsonb_build_object('callback_query_id', p_cq, 'text', b ->> 'answer'), NULL,
                   NULL::text, NULL::jsonb);  -- the full signature: no SQL wrapper planned per press
END $$;

--
-- Name: api_keys; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.api_keys (
    id bigint NOT NULL,
    tenant text NOT NULL,
    name text NOT NULL,
    key_hash text NOT NULL,
    prefix text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    last_used_at timestamp with time zone,
    revoked_at timestamp with time zone,
    scope text DEFAULT 'agent'::text NOT NULL,
    CONSTRAINT api_keys_scope_check CHECK ((scope = ANY (ARRAY['agent'::text, 'admin'::text])))
);

--
-- Name: api_keys_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.api_keys_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: api_keys_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.api_keys_id_seq OWNED BY public.api_keys.id;

--
-- Name: audit_heads; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.audit_heads (
    tenant text NOT NULL,
    seq bigint DEFAULT 0 NOT NULL,
    row_sha256 text,
    prev_sha256 text
);

--
-- Name: audit_log; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.audit_log (
    id bigint NOT NULL,
    at timestamp with time zone DEFAULT now() NOT NULL,
    tenant text NOT NULL,
    request_id uuid,
    session_id text,
    actor text NOT NULL,
    action text NOT NULL,
    detail jsonb,
    seq bigint,
    prev_sha256 text,
    row_sha256 text
);

--
-- Name: audit_log_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.audit_log_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: audit_log_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.audit_log_id_seq OWNED BY public.audit_log.id;

--
-- Name: audit_retention; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.audit_retention (
    tenant text NOT NULL,
    exported_seq bigint DEFAULT 0 NOT NULL,
    exported_sha256 text,
    exported_at timestamp with time zone,
    pruned_seq bigint DEFAULT 0 NOT NULL,
    pruned_sha256 text,
    pruned_at timestamp with time zone,
    CONSTRAINT audit_retention_check CHECK (((pruned_seq < exported_seq) OR (pruned_seq = 0)))
);

--
-- Name: console_links; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.console_links (
    token_sha256 text NOT NULL,
    tenant text NOT NULL,
    person text NOT NULL,
    name text NOT NULL,
    role text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    used_at timestamp with time zone,
    CONSTRAINT console_links_role CHECK ((role = ANY (ARRAY['approver'::text, 'admin'::text])))
);

--
-- Name: console_rate; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.console_rate (
    key text NOT NULL,
    window_start timestamp with time zone NOT NULL,
    n integer NOT NULL
);

--
-- Name: console_sessions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.console_sessions (
    token_sha256 text NOT NULL,
    tenant text NOT NULL,
    person text NOT NULL,
    name text NOT NULL,
    role text NOT NULL,
    csrf text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    revoked_at timestamp with time zone,
    CONSTRAINT console_sessions_role CHECK ((role = ANY (ARRAY['approver'::text, 'admin'::text])))
);

--
-- Name: database_identity; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.database_identity (
    one boolean DEFAULT true NOT NULL,
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT database_identity_one_check CHECK (one)
);

--
-- Name: feed_tenants; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.feed_tenants (
    tenant text NOT NULL,
    until timestamp with time zone NOT NULL
);

--
-- Name: mcp_sessions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.mcp_sessions (
    id text NOT NULL,
    tenant text NOT NULL,
    protocol_version text NOT NULL,
    client_name text,
    client_version text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    last_seen_at timestamp with time zone DEFAULT now() NOT NULL,
    ended_at timestamp with time zone
);

--
-- Name: outbox_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.outbox_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: outbox_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.outbox_id_seq OWNED BY public.outbox.id;

--
-- Name: policies; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.policies (
    id bigint NOT NULL,
    tenant text NOT NULL,
    session_id text,
    agent_session text,
    tool text NOT NULL,
    match text NOT NULL,
    action text NOT NULL,
    "position" integer DEFAULT 0 NOT NULL,
    expires_at timestamp with time zone,
    created_by text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    revoked_at timestamp with time zone,
    CONSTRAINT policies_action_check CHECK ((action = ANY (ARRAY['allow'::text, 'deny'::text, 'ask'::text])))
);

--
-- Name: policies_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.policies_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: policies_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.policies_id_seq OWNED BY public.policies.id;

--
-- Name: requests; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.requests (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    tenant text NOT NULL,
    session_id text NOT NULL,
    client_id text NOT NULL,
    message text NOT NULL,
    request_type text NOT NULL,
    options jsonb,
    metadata jsonb,
    timeout_seconds integer NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    on_timeout text DEFAULT 'deny'::text NOT NULL,
    callback_url text,
    status text DEFAULT 'pending'::text NOT NULL,
    response text,
    approved boolean DEFAULT false NOT NULL,
    responder_id bigint,
    responder_name text,
    responded_at timestamp with time zone,
    telegram_chat_id bigint,
    telegram_message_id bigint,
    idempotency_key text,
    body_hash text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    option_approve boolean[],
    tg_state text DEFAULT 'queued'::text NOT NULL,
    tg_attempts integer DEFAULT 0 NOT NULL,
    tg_error text,
    tg_sent_at timestamp with time zone,
    cb_state text DEFAULT 'none'::text NOT NULL,
    cb_attempts integer DEFAULT 0 NOT NULL,
    cb_error text,
    cb_delivered_at timestamp with time zone,
    tg_buttons jsonb,
    tg_bot_id bigint DEFAULT 0 NOT NULL,
    tg_cut boolean,
    approvals_required smallint DEFAULT 1 NOT NULL,
    deny_vetoes boolean DEFAULT true NOT NULL,
    votes jsonb,
    params jsonb,
    params_schema jsonb,
    edited_params jsonb,
    remind_after_seconds integer,
    escalate_after_seconds integer,
    escalate_to text,
    remind_at timestamp with time zone,
    escalate_at timestamp with time zone,
    reminders smallint DEFAULT 0 NOT NULL,
    escalated_at timestamp with time zone,
    esc_chat_id bigint,
    esc_message_id bigint,
    esc_bot_id bigint,
    tool text,
    tool_input jsonb,
    agent_session text,
    hook_key text,
    hook_attach integer DEFAULT 0 NOT NULL,
    CONSTRAINT requests_cb_state_check CHECK ((cb_state = ANY (ARRAY['none'::text, 'queued'::text, 'delivered'::text, 'failed'::text]))),
    CONSTRAINT requests_on_timeout_check CHECK ((on_timeout = ANY (ARRAY['deny'::text, 'approve'::text]))),
    CONSTRAINT requests_request_type_check CHECK ((request_type = ANY (ARRAY['confirmation'::text, 'choice'::text, 'input'::text]))),
    CONSTRAINT requests_status_check CHECK ((status = ANY (ARRAY['pending'::text, 'completed'::text, 'timeout'::text, 'canceled'::text]))),
    CONSTRAINT requests_timeout_seconds_check CHECK (((timeout_seconds >= 1) AND (timeout_seconds <= 86400)))
);

--
-- Name: schema_migrations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.schema_migrations (
    version text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);

--
-- Name: schema_objects; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.schema_objects (
    name text NOT NULL,
    sha256 text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL,
    applied_by text NOT NULL
);

--
-- Name: sessions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.sessions (
    tenant text NOT NULL,
    session_id text NOT NULL,
    client_id text NOT NULL,
    telegram_chat_id bigint,
    approvers bigint[] DEFAULT '{}'::bigint[] NOT NULL,
    active boolean DEFAULT true NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    remind_after_seconds integer,
    escalate_after_seconds integer,
    escalate_to text,
    console_approvers text[] DEFAULT '{}'::text[] NOT NULL
);

--
-- Name: tenant_pending; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.tenant_pending (
    tenant text NOT NULL,
    shard integer NOT NULL,
    n bigint NOT NULL
)
WITH (fillfactor='50');

--
-- Name: tg_bot_slots; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.tg_bot_slots (
    slot integer NOT NULL,
    free_at timestamp with time zone NOT NULL
);

--
-- Name: tg_bots; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.tg_bots (
    bot_id bigint NOT NULL,
    refused_at timestamp with time zone DEFAULT now() NOT NULL,
    error text NOT NULL
);

--
-- Name: tg_logins; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.tg_logins (
    hash_sha256 text NOT NULL,
    telegram_id bigint NOT NULL,
    used_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone NOT NULL
);

--
-- Name: tg_pace; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.tg_pace (
    key text NOT NULL,
    next_at timestamp with time zone NOT NULL
);

--
-- Name: tg_token_refused; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.tg_token_refused (
    token_sha256 text NOT NULL,
    bot_id bigint NOT NULL,
    refused_at timestamp with time zone DEFAULT now() NOT NULL,
    error text NOT NULL,
    CONSTRAINT tg_token_refused_token_sha256_check CHECK ((token_sha256 ~ '^[0-9a-f]{64}$'::text))
);

--
-- Name: tg_unowned_adopted; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.tg_unowned_adopted (
    one boolean DEFAULT true NOT NULL,
    bot_id bigint NOT NULL,
    adopted_at timestamp with time zone DEFAULT now() NOT NULL,
    requests integer DEFAULT 0 NOT NULL,
    updates integer DEFAULT 0 NOT NULL,
    CONSTRAINT tg_unowned_adopted_bot_id_check CHECK ((bot_id > 0)),
    CONSTRAINT tg_unowned_adopted_one_check CHECK (one)
);

--
-- Name: tg_updates; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.tg_updates (
    update_id bigint NOT NULL,
    received_at timestamp with time zone DEFAULT now() NOT NULL,
    bot_id bigint DEFAULT 0 NOT NULL,
    refused text
);

--
-- Name: votes; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.votes (
    request_id uuid NOT NULL,
    tenant text NOT NULL,
    person text NOT NULL,
    user_id bigint,
    name text NOT NULL,
    channel text NOT NULL,
    approve boolean NOT NULL,
    response text NOT NULL,
    reason text,
    params jsonb,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT votes_channel CHECK ((channel = ANY (ARRAY['telegram'::text, 'console'::text])))
);

--
-- Name: webhook_secrets; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.webhook_secrets (
    tenant text NOT NULL,
    secret text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);

--
-- Name: api_keys id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_keys ALTER COLUMN id SET DEFAULT nextval('public.api_keys_id_seq'::regclass);

--
-- Name: audit_log id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.audit_log ALTER COLUMN id SET DEFAULT nextval('public.audit_log_id_seq'::regclass);

--
-- Name: outbox id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.outbox ALTER COLUMN id SET DEFAULT nextval('public.outbox_id_seq'::regclass);

--
-- Name: policies id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.policies ALTER COLUMN id SET DEFAULT nextval('public.policies_id_seq'::regclass);

--
-- Name: api_keys api_keys_key_hash_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_keys
    ADD CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash);

--
-- Name: api_keys api_keys_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_keys
    ADD CONSTRAINT api_keys_pkey PRIMARY KEY (id);

--
-- Name: audit_heads audit_heads_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.audit_heads
    ADD CONSTRAINT audit_heads_pkey PRIMARY KEY (tenant);

--
-- Name: audit_log audit_log_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.audit_log
    ADD CONSTRAINT audit_log_pkey PRIMARY KEY (id);

--
-- Name: audit_retention audit_retention_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.audit_retention
    ADD CONSTRAINT audit_retention_pkey PRIMARY KEY (tenant);

--
-- Name: console_links console_links_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.console_links
    ADD CONSTRAINT console_links_pkey PRIMARY KEY (token_sha256);

--
-- Name: console_rate console_rate_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.console_rate
    ADD CONSTRAINT console_rate_pkey PRIMARY KEY (key);

--
-- Name: console_sessions console_sessions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.console_sessions
    ADD CONSTRAINT console_sessions_pkey PRIMARY KEY (token_sha256);

--
-- Name: database_identity database_identity_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.database_identity
    ADD CONSTRAINT database_identity_pkey PRIMARY KEY (one);

--
-- Name: feed_tenants feed_tenants_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.feed_tenants
    ADD CONSTRAINT feed_tenants_pkey PRIMARY KEY (tenant);

--
-- Name: mcp_sessions mcp_sessions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.mcp_sessions
    ADD CONSTRAINT mcp_sessions_pkey PRIMARY KEY (id);

--
-- Name: outbox outbox_kind_check; Type: CHECK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE public.outbox
    ADD CONSTRAINT outbox_kind_check CHECK ((kind = ANY (ARRAY['tg_send'::text, 'tg_edit'::text, 'tg_answer'::text, 'tg_text'::text, 'tg_escalate'::text, 'webhook'::text]))) NOT VALID;

--
-- Name: outbox outbox_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.outbox
    ADD CONSTRAINT outbox_pkey PRIMARY KEY (id);

--
-- Name: policies policies_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.policies
    ADD CONSTRAINT policies_pkey PRIMARY KEY (id);

--
-- Name: requests requests_approvals_required; Type: CHECK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE public.requests
    ADD CONSTRAINT requests_approvals_required CHECK (((approvals_required >= 1) AND (approvals_required <= 10))) NOT VALID;

--
-- Name: requests requests_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.requests
    ADD CONSTRAINT requests_pkey PRIMARY KEY (id);

--
-- Name: requests requests_tg_state_check; Type: CHECK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE public.requests
    ADD CONSTRAINT requests_tg_state_check CHECK ((tg_state = ANY (ARRAY['queued'::text, 'sent'::text, 'failed'::text, 'skipped'::text, 'console'::text]))) NOT VALID;

--
-- Name: schema_migrations schema_migrations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);

--
-- Name: schema_objects schema_objects_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.schema_objects
    ADD CONSTRAINT schema_objects_pkey PRIMARY KEY (name);

--
-- Name: sessions sessions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.sessions
    ADD CONSTRAINT sessions_pkey PRIMARY KEY (tenant, session_id);

--
-- Name: tenant_pending tenant_pending_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tenant_pending
    ADD CONSTRAINT tenant_pending_pkey PRIMARY KEY (tenant, shard);

--
-- Name: tg_bot_slots tg_bot_slots_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tg_bot_slots
    ADD CONSTRAINT tg_bot_slots_pkey PRIMARY KEY (slot);

--
-- Name: tg_bots tg_bots_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tg_bots
    ADD CONSTRAINT tg_bots_pkey PRIMARY KEY (bot_id);

--
-- Name: tg_logins tg_logins_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tg_logins
    ADD CONSTRAINT tg_logins_pkey PRIMARY KEY (hash_sha256);

--
-- Name: tg_pace tg_pace_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tg_pace
    ADD CONSTRAINT tg_pace_pkey PRIMARY KEY (key);

--
-- Name: tg_token_refused tg_token_refused_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tg_token_refused
    ADD CONSTRAINT tg_token_refused_pkey PRIMARY KEY (token_sha256);

--
-- Name: tg_unowned_adopted tg_unowned_adopted_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tg_unowned_adopted
    ADD CONSTRAINT tg_unowned_adopted_pkey PRIMARY KEY (one);

--
-- Name: tg_updates tg_updates_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tg_updates
    ADD CONSTRAINT tg_updates_pkey PRIMARY KEY (bot_id, update_id);

--
-- Name: votes votes_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.votes
    ADD CONSTRAINT votes_pkey PRIMARY KEY (request_id, person);

--
-- Name: webhook_secrets webhook_secrets_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_secrets
    ADD CONSTRAINT webhook_secrets_pkey PRIMARY KEY (tenant);

--
-- Name: audit_log_request; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX audit_log_request ON public.audit_log USING btree (request_id);

--
-- Name: audit_log_tenant_seq; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX audit_log_tenant_seq ON public.audit_log USING btree (tenant, seq);

--
-- Name: console_links_expires; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX console_links_expires ON public.console_links USING btree (expires_at);

--
-- Name: console_sessions_expires; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX console_sessions_expires ON public.console_sessions USING btree (expires_at);

--
-- Name: mcp_sessions_ended; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX mcp_sessions_ended ON public.mcp_sessions USING btree (ended_at) WHERE (ended_at IS NOT NULL);

--
-- Name: mcp_sessions_last_seen; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX mcp_sessions_last_seen ON public.mcp_sessions USING btree (last_seen_at);

--
-- Name: mcp_sessions_live; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX mcp_sessions_live ON public.mcp_sessions USING btree (tenant, last_seen_at) WHERE (ended_at IS NULL);

--
-- Name: outbox_claim_hook; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX outbox_claim_hook ON public.outbox USING btree (next_attempt_at, id) WHERE ((state = 'queued'::text) AND (kind = 'webhook'::text));

--
-- Name: outbox_claim_order; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX outbox_claim_order ON public.outbox USING btree (priority, next_attempt_at, id) WHERE (state = 'queued'::text);

--
-- Name: outbox_claim_tg; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX outbox_claim_tg ON public.outbox USING btree (priority, next_attempt_at, id) WHERE ((state = 'queued'::text) AND (kind <> 'webhook'::text));

--
-- Name: outbox_due_answer; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX outbox_due_answer ON public.outbox USING btree (next_attempt_at) WHERE ((state = 'queued'::text) AND (kind = 'tg_answer'::text));

--
-- Name: outbox_due_paced; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX outbox_due_paced ON public.outbox USING btree (next_attempt_at) WHERE ((state = 'queued'::text) AND (kind = ANY (ARRAY['tg_send'::text, 'tg_edit'::text, 'tg_text'::text])));

--
-- Name: outbox_due_unpaced; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX outbox_due_unpaced ON public.outbox USING btree (next_attempt_at) WHERE ((state = 'queued'::text) AND (kind <> ALL (ARRAY['tg_send'::text, 'tg_edit'::text, 'tg_text'::text])));

--
-- Name: outbox_finished; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX outbox_finished ON public.outbox USING btree (done_at) WHERE (state <> 'queued'::text);

--
-- Name: outbox_hook_leased; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX outbox_hook_leased ON public.outbox USING btree (request_id) WHERE ((state = 'queued'::text) AND (kind = 'webhook'::text) AND (leased_until IS NOT NULL));

--
-- Name: outbox_queued_chat; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX outbox_queued_chat ON public.outbox USING btree (chat_id) WHERE (state = 'queued'::text);

--
-- Name: outbox_request; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX outbox_request ON public.outbox USING btree (request_id);

--
-- Name: policies_live; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX policies_live ON public.policies USING btree (tenant, tool) WHERE (revoked_at IS NULL);

--
-- Name: requests_esc_message; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX requests_esc_message ON public.requests USING btree (esc_chat_id, esc_message_id, esc_bot_id) WHERE (esc_message_id IS NOT NULL);

--
-- Name: requests_escalate_due; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX requests_escalate_due ON public.requests USING btree (escalate_at) WHERE ((status = 'pending'::text) AND (escalate_at IS NOT NULL));

--
-- Name: requests_expiry; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX requests_expiry ON public.requests USING btree (expires_at) WHERE (status = 'pending'::text);

--
-- Name: requests_finished; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX requests_finished ON public.requests USING btree (created_at) WHERE (status <> 'pending'::text);

--
-- Name: requests_hook_pending; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX requests_hook_pending ON public.requests USING btree (tenant, hook_key) WHERE ((hook_key IS NOT NULL) AND (status = 'pending'::text));

--
-- Name: requests_idempotency; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX requests_idempotency ON public.requests USING btree (tenant, idempotency_key) WHERE (idempotency_key IS NOT NULL);

--
-- Name: requests_pending; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX requests_pending ON public.requests USING btree (tenant, created_at) WHERE (status = 'pending'::text);

--
-- Name: requests_remind_due; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX requests_remind_due ON public.requests USING btree (remind_at) WHERE ((status = 'pending'::text) AND (remind_at IS NOT NULL));

--
-- Name: requests_session; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX requests_session ON public.requests USING btree (tenant, session_id, created_at);

--
-- Name: requests_tenant_created; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX requests_tenant_created ON public.requests USING btree (tenant, created_at, id);

--
-- Name: requests_tg_bot_message; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX requests_tg_bot_message ON public.requests USING btree (telegram_chat_id, telegram_message_id, tg_bot_id) WHERE (telegram_message_id IS NOT NULL);

--
-- Name: tg_logins_expires; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX tg_logins_expires ON public.tg_logins USING btree (expires_at);

--
-- Name: tg_updates_received; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX tg_updates_received ON public.tg_updates USING btree (received_at);

--
-- Name: api_keys api_keys_changed; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER api_keys_changed AFTER DELETE OR UPDATE ON public.api_keys FOR EACH STATEMENT EXECUTE FUNCTION public.api_keys_notify();

--
-- Name: audit_log audit_log_append_only; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER audit_log_append_only BEFORE DELETE OR UPDATE ON public.audit_log FOR EACH ROW EXECUTE FUNCTION public.audit_log_immutable();

--
-- Name: audit_log audit_log_chain; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER audit_log_chain BEFORE INSERT ON public.audit_log FOR EACH ROW EXECUTE FUNCTION public.audit_log_chain_row();

--
-- Name: audit_log audit_log_feed; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER audit_log_feed AFTER INSERT ON public.audit_log REFERENCING NEW TABLE AS audit_feed_rows FOR EACH STATEMENT EXECUTE FUNCTION public.audit_log_feed_notify();

--
-- Name: outbox outbox_answered; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER outbox_answered BEFORE UPDATE OF leased_until ON public.outbox FOR EACH ROW WHEN (((old.bot_slot IS NOT NULL) AND (new.leased_until IS NULL))) EXECUTE FUNCTION public.outbox_release_slot();

--
-- Name: requests requests_decided; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER requests_decided AFTER UPDATE OF status ON public.requests FOR EACH ROW WHEN (((old.status = 'pending'::text) AND (new.status <> 'pending'::text))) EXECUTE FUNCTION public.requests_notify();

--
-- Name: requests requests_pending_insert; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER requests_pending_insert AFTER INSERT ON public.requests REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION public.requests_count_inserted();

--
-- Name: requests requests_pending_status; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER requests_pending_status AFTER UPDATE OF status ON public.requests FOR EACH ROW WHEN ((old.status IS DISTINCT FROM new.status)) EXECUTE FUNCTION public.requests_count_pending();

--
-- Name: outbox outbox_request_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.outbox
    ADD CONSTRAINT outbox_request_id_fkey FOREIGN KEY (request_id) REFERENCES public.requests(id);

--
-- Name: requests requests_tenant_session_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.requests
    ADD CONSTRAINT requests_tenant_session_id_fkey FOREIGN KEY (tenant, session_id) REFERENCES public.sessions(tenant, session_id);

--
-- PostgreSQL database dump complete
--

