-- 009_plans.sql - plans that stay good: the delivery threads' functions
-- keep theirs, and no index invites a walk over a tenant's requests.
--
-- 1. PL/pgSQL plans a statement that uses the function's arguments or
--    variables once per call while PostgreSQL judges a plan for those values
--    cheaper than one for any value. For the outbox's statements it always
--    does (a partial index and `next_attempt_at <= now_ts` look selective
--    only once now_ts is known), so every claim and every look for the next
--    due row planned its statements again: 0.05 ms of 0.10 per empty claim,
--    0.08 ms of 0.14 per outbox_next_due, several times the statements' own
--    work, at every decision. The plan for any value walks the same indexes:
--    those functions are declared with plan_cache_mode force_generic_plan
--    (sql/functions/).

-- 2. Idempotency keys are unique per tenant where there is one. The
--    constraint of 001 indexed every request, most with no key, and led
--    with tenant: a statement that names a tenant and a request id, planned
--    before the table had statistics, walked that index over every request
--    of the tenant instead of looking the id up (seen: 343 index entries
--    read per poll). Only requests with a key are indexed now.
ALTER TABLE requests DROP CONSTRAINT requests_tenant_idempotency_key_key;
CREATE UNIQUE INDEX requests_idempotency ON requests (tenant, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
