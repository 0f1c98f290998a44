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
-- The functions: sql/functions/outbox_claim_tg.sql, outbox_claim_webhook.sql,
-- outbox_next_due_tg.sql, outbox_renew.sql, lg_url_host.sql.
CREATE INDEX outbox_claim_tg ON outbox (priority, next_attempt_at, id)
    WHERE state = 'queued' AND kind <> 'webhook';
CREATE INDEX outbox_claim_hook ON outbox (next_attempt_at, id)
    WHERE state = 'queued' AND kind = 'webhook';
CREATE INDEX outbox_due_answer ON outbox (next_attempt_at)
    WHERE state = 'queued' AND kind = 'tg_answer';
-- webhooks in flight, for the caps
CREATE INDEX outbox_hook_leased ON outbox (request_id)
    WHERE state = 'queued' AND kind = 'webhook' AND leased_until IS NOT NULL;
