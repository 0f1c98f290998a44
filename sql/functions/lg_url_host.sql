-- lg_url_host(url) - the host of an http(s) URL as the webhook caps count it
-- (outbox_claim_webhook): lower-cased, without user info and port.
CREATE OR REPLACE FUNCTION lg_url_host(p_url text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT lower(substring(p_url FROM '^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/?#]*@)?(\[[^]]*\]|[^:/?#]*)'))
$$;
