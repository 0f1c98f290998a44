-- lg_latency_ms(created_at) - the milliseconds from a request's submit to now
-- (the transaction's time: the decision's responded_at). The decision
-- latency in the audit rows that end a request: decided, timed_out, canceled.
CREATE OR REPLACE FUNCTION lg_latency_ms(p_created timestamptz) RETURNS bigint
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    AS $$
    SELECT greatest(0, floor(extract(epoch FROM now() - p_created) * 1000))::bigint
$$;
