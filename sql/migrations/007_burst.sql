-- 007_burst.sql - a queue that stays cheap to claim from while it grows fast.
--
-- A claim walks the queued rows in claim order down outbox_claim_order and
-- stops after at most 16 x p_limit of them. A burst of submits grows the
-- queue faster than autovacuum analyzes it; PostgreSQL, planning the walk
-- from statistics that say the queue is nearly empty, reads every due row
-- through a bitmap and sorts them instead: 21,000 queued rows made each
-- claim 3 ms instead of 0.06 ms. Claims never want that plan.
ALTER FUNCTION outbox_claim(integer, interval, interval, interval, interval, integer)
    SET enable_bitmapscan = off;
