-- lg_duration(seconds) - a wait as a person reads it: "45 s", "10 min",
-- "2 h 5 min", "1 d 3 h" (whole units, rounded down). Used in the text of
-- reminders (requests_nudge).
CREATE OR REPLACE FUNCTION lg_duration(p_seconds bigint) RETURNS text
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
