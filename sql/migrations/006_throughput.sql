-- loopgate: needs requests_pending_insert requests_pending_status
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
--
-- The functions and triggers of these points are in sql/functions/
-- (requests_pending_insert, requests_pending_status, api_keys_changed,
-- outbox_answered, outbox_claim, outbox_next_due, request_finished,
-- tg_decided, lg_ts). The counter's triggers are applied in this
-- migration's transaction, before it (the `needs` line below), so that the
-- count taken here and the triggers that keep it start together.

CREATE TABLE tenant_pending (
    tenant text NOT NULL,
    shard  integer NOT NULL,
    n      bigint NOT NULL,
    PRIMARY KEY (tenant, shard)
) WITH (fillfactor = 50);

INSERT INTO tenant_pending (tenant, shard, n)
    SELECT tenant, 0, count(*) FROM requests WHERE status = 'pending' GROUP BY tenant;

-- 002's notification of new outbox rows.
DROP TRIGGER IF EXISTS outbox_queued ON outbox;
DROP FUNCTION IF EXISTS outbox_notify();

-- Claims walk the queue in this order.
CREATE INDEX outbox_claim_order ON outbox (priority, next_attempt_at, id) WHERE state = 'queued';

CREATE TABLE tg_bot_slots (
    slot    integer PRIMARY KEY,
    free_at timestamptz NOT NULL
);
ALTER TABLE outbox ADD COLUMN bot_slot integer;
ALTER TABLE outbox ADD COLUMN chat_gap interval;

-- 002's claim, before the bot's window.
DROP FUNCTION IF EXISTS outbox_next_due();
DROP FUNCTION IF EXISTS outbox_claim(integer, interval, interval, interval, interval);

-- outbox_next_due looks for the earliest paced and the earliest unpaced
-- row: each part is a short walk down one of these, however long the queue.
CREATE INDEX outbox_due_paced ON outbox (next_attempt_at)
    WHERE state = 'queued' AND kind IN ('tg_send', 'tg_edit', 'tg_text');
CREATE INDEX outbox_due_unpaced ON outbox (next_attempt_at)
    WHERE state = 'queued' AND kind NOT IN ('tg_send', 'tg_edit', 'tg_text');
DROP INDEX outbox_due;
DROP INDEX outbox_request;

-- A queue table: dead rows at the head of its indexes slow every claim.
ALTER TABLE outbox SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 500,
                        autovacuum_analyze_scale_factor = 0.05);
