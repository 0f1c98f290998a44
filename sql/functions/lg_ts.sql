-- lg_ts(t) - RFC 3339 UTC with microseconds, the one timestamp format of the API.
--
-- STABLE, not IMMUTABLE: to_char() is only STABLE, and PostgreSQL inlines an
-- SQL function into the statement that calls it only when it claims no more
-- than its body (declared IMMUTABLE, every timestamp of every answer was a
-- separate function call, parsed and planned anew).
CREATE OR REPLACE FUNCTION lg_ts(t timestamptz) RETURNS text
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    AS $$ SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') $$;
