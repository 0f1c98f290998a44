-- 006_throughput.sql - submits that do not queue behind each other, API key
-- revocation heard by every worker, and the bot's pace as a rolling window.
--
-- 1. The pending limit reads a per-tenant counter instead of counting the
--    tenant's pending rows on every submit. The counter is split in shards,
--    one per database backend (pg_backend_pid() % 64), so that two submits
--    on different connections never wait on one row lock; its value is the
--    sum of the shards. Triggers keep it exact for every path that inserts
--    a request or moves one out of 'pending'.
-- 2. New outbox rows no longer NOTIFY: a NOTIFY takes a database-wide lock
--    from commit until the WAL is flushed, so every submit waited for the
--    previous one's flush. The worker that queues work wakes its own
--    delivery threads; a decision's lg_request notification wakes the others;
--    idle delivery threads look at the outbox at least every few seconds.
-- 3. Revoking an API key NOTIFYs lg_apikey: workers cache keys they have
--    seen (src/keycache.c) and drop them when they hear it.
-- 4. The bot's pace: at most p_bot_rate Telegram sends in any one second.
--    Each send holds one of p_bot_rate slots from its claim until its answer
--    came back, and the slot is free again one second after that answer; the
--    answer comes after Telegram received the call, so no second holds more
--    than p_bot_rate arrivals whatever the network's delays. A chat's gap
--    likewise counts from the answer to its last message.
-- 5. lg_ts() was declared IMMUTABLE over to_char(), which is only STABLE:
--    PostgreSQL does not inline such a function, so every timestamp of every
--    answer ran as a separate SQL function call, parsed and planned anew.
--    Declared STABLE it is inlined into the statement that uses it.
ALTER FUNCTION lg_ts(timestamptz) STABLE;

CREATE TABLE tenant_pending (
    tenant text NOT NULL,
    shard  integer NOT NULL,
    n      bigint NOT NULL,
    PRIMARY KEY (tenant, shard)
) WITH (fillfactor = 50);

INSERT INTO tenant_pending (tenant, shard, n)
    SELECT tenant, 0, count(*) FROM requests WHERE status = 'pending' GROUP BY tenant;

CREATE FUNCTION requests_count_pending() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    delta integer := 0;
BEGIN
    IF TG_OP = 'INSERT' THEN
        delta := CASE WHEN NEW.status = 'pending' THEN 1 ELSE 0 END;
    ELSE
        delta := (NEW.status = 'pending')::integer - (OLD.status = 'pending')::integer;
    END IF;
    IF delta <> 0 THEN
        INSERT INTO tenant_pending (tenant, shard, n)
            VALUES (NEW.tenant, pg_backend_pid() % 64, delta)
            ON CONFLICT (tenant, shard) DO UPDATE SET n = tenant_pending.n + EXCLUDED.n;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER requests_pending_insert AFTER INSERT ON requests
    FOR EACH ROW EXECUTE FUNCTION requests_count_pending();
CREATE TRIGGER requests_pending_status AFTER UPDATE OF status ON requests
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION requests_count_pending();

DROP TRIGGER outbox_queued ON outbox;
DROP FUNCTION outbox_notify();

CREATE FUNCTION api_keys_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('lg_apikey', '');
    RETURN NULL;
END $$;
CREATE TRIGGER api_keys_changed AFTER UPDATE OR DELETE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION api_keys_notify();

-- Claims walk the queue in this order.
CREATE INDEX outbox_claim_order ON outbox (priority, next_attempt_at, id) WHERE state = 'queued';

CREATE TABLE tg_bot_slots (
    slot    integer PRIMARY KEY,
    free_at timestamptz NOT NULL
);
ALTER TABLE outbox ADD COLUMN bot_slot integer;
ALTER TABLE outbox ADD COLUMN chat_gap interval;

-- A paced call got its answer (or gave up): its slot is free one second on,
-- and its chat's next message waits a chat gap from now (the claim already
-- counted the gap from the claim). Both count from the answer, which came
-- after Telegram received the call. Every statement that ends a lease sets
-- leased_until to NULL.
CREATE FUNCTION outbox_release_slot() RETURNS trigger LANGUAGE plpgsql AS $$
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
CREATE TRIGGER outbox_answered BEFORE UPDATE OF leased_until ON outbox
    FOR EACH ROW WHEN (OLD.bot_slot IS NOT NULL AND NEW.leased_until IS NULL)
    EXECUTE FUNCTION outbox_release_slot();

DROP FUNCTION outbox_next_due();
DROP FUNCTION outbox_claim(integer, interval, interval, interval, interval);

-- When the earliest queued row may be claimed: a hint for how long an idle
-- delivery thread sleeps; NULL when nothing is queued. Rows in flight (an
-- unexpired lease) are left out: their outcome wakes their own thread. A
-- paced row counts from its chat's next time, looked at for the 64 paced
-- rows that are due first (the rows a claim looks at). Each part is a short
-- walk down an index, however long the queue.
CREATE INDEX outbox_due_paced ON outbox (next_attempt_at)
    WHERE state = 'queued' AND kind IN ('tg_send', 'tg_edit', 'tg_text');
CREATE INDEX outbox_due_unpaced ON outbox (next_attempt_at)
    WHERE state = 'queued' AND kind NOT IN ('tg_send', 'tg_edit', 'tg_text');
DROP INDEX outbox_due;
DROP INDEX outbox_request;

CREATE FUNCTION outbox_next_due(p_bot_rate integer) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
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

-- Lease up to p_limit due rows for one delivery thread. A paced row also
-- needs a free slot of the bot's window, the bot's own next time ('bot' in
-- tg_pace: p_bot_gap after the last claim, or later when Telegram asked to
-- retry after a while) and its chat's next time.
--
-- Claims run one at a time (an advisory lock: a claim that finds another
-- under way returns nothing at once, and a claim that takes nothing writes
-- nothing). A claim looks at the first 16 x p_limit due rows and passes over
-- those whose chat is not due, without writing them. Only when that whole
-- window is held up by such chats (and not by the bot's own pace) are their
-- rows given later times: every queued row of such a chat gets the earliest
-- slot it can have (the first at the chat's next time, each next one a chat
-- gap and a twentieth later),
-- and only rows earlier than that are written, so a chat's backlog is
-- rewritten about once and other chats' rows are never stuck behind it.
CREATE FUNCTION outbox_claim(p_limit integer, p_lease interval, p_chat_gap interval,
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

-- A queue table: dead rows at the head of its indexes slow every claim.
ALTER TABLE outbox SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 500,
                        autovacuum_analyze_scale_factor = 0.05);

-- request_finished() (003) as PL/pgSQL: its plans are kept by each backend,
-- where an SQL function's three statements were planned at every call.
CREATE OR REPLACE FUNCTION request_finished(p_id uuid) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO outbox (kind, request_id, chat_id, priority)
        SELECT 'tg_edit', id, telegram_chat_id, 3 FROM requests
        WHERE id = p_id AND telegram_message_id IS NOT NULL;
    INSERT INTO outbox (kind, request_id, priority)
        SELECT 'webhook', id, 2 FROM requests WHERE id = p_id AND callback_url IS NOT NULL;
    UPDATE requests SET cb_state = 'queued' WHERE id = p_id AND callback_url IS NOT NULL;
END $$;

-- A decision made in Telegram, in one round trip: the request leaves
-- 'pending', the audit row, the final-state work (request_finished) and the
-- answer to the button press (p_answer, when there is one) are
-- written together. Returns false when the request was no longer pending.
--
-- The transaction commits without waiting for its WAL to reach the disk
-- (synchronous_commit off, for this transaction only), so the agents
-- waiting on the request are woken a disk flush sooner; telegram.c then
-- waits for the flush (store_wal_flush) before it tells Telegram the update
-- was received. If the server crashes in between, Telegram delivers the
-- update again and it makes the same decision.
CREATE FUNCTION tg_decided(p_id uuid, p_response text, p_approved boolean, p_user bigint,
                           p_name text, p_actor text, p_detail jsonb, p_answer jsonb)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    r requests;
BEGIN
    UPDATE requests SET status = 'completed', response = p_response, approved = p_approved,
                        responder_id = p_user, responder_name = p_name,
                        responded_at = now(), updated_at = now()
        WHERE id = p_id AND status = 'pending'
        RETURNING * INTO r;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO audit_log (tenant, request_id, session_id, actor, action, detail)
        VALUES (r.tenant, r.id, r.session_id, p_actor, 'decided', p_detail);
    PERFORM request_finished(r.id);
    IF p_answer IS NOT NULL THEN
        INSERT INTO outbox (kind, chat_id, payload, priority) VALUES ('tg_answer', 0, p_answer, 1);
    END IF;
    PERFORM set_config('synchronous_commit', 'off', true);
    RETURN true;
END $$;
