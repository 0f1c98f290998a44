-- audit_row_sha256(...) - the hash that chains an audit row to the one before
-- it (docs/AUDIT.md): hex SHA-256 of the row's canonical text, ten fields in
-- this order, each on its own line (joined by "\n", no newline at the end):
--
--   the literal loopgate-audit-v1, tenant, seq, at, request_id, session_id,
--   actor, action, detail, prev_sha256
--
-- each written `-` when NULL, else as `<UTF-8 byte length>:<value>`. `at` is
-- UTC with microseconds (2026-12-01T14:38:35.123456Z), request_id the uuid's
-- lower-case text, detail the jsonb as PostgreSQL prints it (keys ordered by
-- length then bytes, ", " and ": " between items), prev_sha256 the previous
-- row's hash (NULL for a tenant's first row).
--
-- Used by the trigger that writes the chain (audit_log_chain) and by the
-- backfill of 019. `loopgate audit verify` does not call it: it recomputes the
-- same text and hash in C from the raw columns (src/audit.c), so a body
-- replaced here is caught rather than trusted.
CREATE OR REPLACE FUNCTION audit_row_sha256(p_tenant text, p_seq bigint, p_at timestamptz,
                                            p_request_id uuid, p_session_id text, p_actor text,
                                            p_action text, p_detail jsonb, p_prev_sha256 text)
RETURNS text LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
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
