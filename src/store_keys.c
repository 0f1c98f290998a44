/*
 * store_keys.c - API keys and webhook signing secrets; see store_keys.h.
 *
 * Statements are prepared per connection on first use (db_run), in the
 * range of the prepared set that store_internal.h gives this file.
 */
#include "store_keys.h"

#include <stdio.h>
#include <string.h>

#include "db.h"
#include "store_internal.h"

enum {
    S_KEY_LOOKUP,
    S_KEY_CREATE,
    S_KEY_LIST,
    S_KEY_REVOKE,
    S_KEY_REVOKE_NAMED,
    S_WEBHOOK_SECRET,
    S_WEBHOOK_ROTATE,
    S_TENANT_KNOWN,
    S_COUNT
};

static const struct db_stmt stmts[] = {
    [S_KEY_LOOKUP] = {"key_lookup",
                      "WITH k AS (SELECT id, tenant, name, prefix, scope FROM api_keys"
                      "           WHERE key_hash = $1 AND revoked_at IS NULL),"
                      " u AS (UPDATE api_keys a SET last_used_at = now() FROM k"
                      "       WHERE a.id = k.id AND (a.last_used_at IS NULL"
                      "             OR a.last_used_at < now() - interval '60 seconds'))"
                      " SELECT tenant, name, prefix, scope = 'admin' FROM k",
                      true},
    [S_KEY_CREATE] =
        {"key_create",
         "INSERT INTO api_keys (tenant, name, key_hash, prefix, scope)"
         " VALUES ($1, $2, $3, $4, CASE WHEN $5::boolean THEN 'admin' ELSE 'agent' END)",
         false},
    [S_KEY_LIST] = {"key_list",
                    "SELECT id, tenant, name, prefix, lg_ts(created_at), lg_ts(last_used_at),"
                    "       lg_ts(revoked_at), scope FROM api_keys ORDER BY id",
                    true},
    [S_KEY_REVOKE] = {"key_revoke",
                      "UPDATE api_keys SET revoked_at = now()"
                      " WHERE revoked_at IS NULL AND (id::text = $1 OR prefix = $1)"
                      " RETURNING id",
                      false},
    [S_KEY_REVOKE_NAMED] = {"key_revoke_named",
                            "UPDATE api_keys SET revoked_at = now()"
                            " WHERE revoked_at IS NULL AND tenant = $1 AND name = $2",
                            false},
    [S_WEBHOOK_SECRET] = {"webhook_secret",
                          "WITH i AS (INSERT INTO webhook_secrets (tenant, secret) VALUES ($1, $2)"
                          "           ON CONFLICT DO NOTHING RETURNING secret)"
                          " SELECT secret FROM i UNION ALL"
                          " SELECT secret FROM webhook_secrets WHERE tenant = $1 LIMIT 1",
                          false},
    [S_WEBHOOK_ROTATE] = {"webhook_rotate",
                          "INSERT INTO webhook_secrets (tenant, secret) VALUES ($1, $2)"
                          " ON CONFLICT (tenant) DO UPDATE SET secret = EXCLUDED.secret,"
                          "   created_at = now()",
                          false},
    [S_TENANT_KNOWN] =
        {"tenant_known",
         /* alike: the same but for case, surrounding spaces, '.', '_'
          * and '-', and 0/1/| read as o/l/l ("defau1t", "default.") */
         "SELECT tenant, tenant = $1"
         " FROM (SELECT tenant FROM api_keys UNION SELECT 'default') t"
         " WHERE tenant = $1 OR translate(lower(btrim(tenant, ' ')), '01|._-', 'oll')"
         "   = translate(lower(btrim($1, ' ')), '01|._-', 'oll')"
         " ORDER BY tenant = $1 DESC, tenant LIMIT 1",
         true},
};

_Static_assert(S_COUNT <= STORE_RANGE_SIZE, "store_keys: more statements than its range");
static const struct db_table T = {stmts, S_COUNT, STORE_KEYS};

int store_key_lookup(const char *key_hash, struct actor *who, struct lg_error *err)
{
    const char *p[] = {key_hash};
    PGresult *res = store_run(&T, S_KEY_LOOKUP, 1, p, err);
    int rc = 1;

    if (!res)
        return -1;
    if (PQntuples(res) == 1 && strlen(PQgetvalue(res, 0, 0)) >= sizeof(who->tenant)) {
        /* A name from before the naming rule, too long to hold: never a shortened one. */
        rc = lg_fail(err, 403, "forbidden",
                     "this key's tenant name is longer than %zu bytes; create a key under a "
                     "shorter tenant name (loopgate apikey create --tenant)",
                     sizeof(who->tenant) - 1);
    } else if (PQntuples(res) == 1) {
        lg_strlcpy(who->tenant, PQgetvalue(res, 0, 0), sizeof(who->tenant));
        snprintf(who->name, sizeof(who->name), "key:%s", PQgetvalue(res, 0, 2));
        who->admin = col_bool(res, 0, 3);
        rc = 0;
    }
    PQclear(res);
    return rc;
}

int store_key_create(const char *tenant, const char *name, const char *key_hash, const char *prefix,
                     bool admin, struct lg_error *err)
{
    const char *p[] = {tenant, name, key_hash, prefix, admin ? "true" : "false"};
    PGresult *res = store_run(&T, S_KEY_CREATE, 5, p, err);

    if (!res)
        return -1;
    PQclear(res);
    return 0;
}

int store_key_list(json_t **out, struct lg_error *err)
{
    PGresult *res = store_run(&T, S_KEY_LIST, 0, NULL, err);
    json_t *list;

    if (!res)
        return -1;
    list = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
        const char *revoked = col(res, i, 6), *used = col(res, i, 5);
        json_array_append_new(list, json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:o, s:o}", "id",
                                              (json_int_t)col_int(res, i, 0), "tenant",
                                              col(res, i, 1), "name", col(res, i, 2), "prefix",
                                              col(res, i, 3), "scope", col(res, i, 7), "created_at",
                                              col(res, i, 4), "last_used_at",
                                              used ? json_string(used) : json_null(), "revoked_at",
                                              revoked ? json_string(revoked) : json_null()));
    }
    PQclear(res);
    *out = list;
    return 0;
}

int store_key_revoke(const char *id_or_prefix, struct lg_error *err)
{
    const char *p[] = {id_or_prefix};
    PGresult *res = store_run(&T, S_KEY_REVOKE, 1, p, err);
    int rc;

    if (!res)
        return -1;
    rc = PQntuples(res) > 0 ? 0 : 1;
    PQclear(res);
    return rc;
}

int store_key_revoke_named(const char *tenant, const char *name, struct lg_error *err)
{
    const char *p[] = {tenant, name};

    return store_run_void(&T, S_KEY_REVOKE_NAMED, 2, p, err);
}

int store_webhook_secret(const char *tenant, bool rotate, const char *fresh, char *out,
                         size_t outlen, struct lg_error *err)
{
    const char *p[] = {tenant, fresh};
    PGresult *res;

    if (rotate) {
        if (store_run_void(&T, S_WEBHOOK_ROTATE, 2, p, err) < 0)
            return -1;
        lg_strlcpy(out, fresh, outlen);
        return 0;
    }
    res = store_run(&T, S_WEBHOOK_SECRET, 2, p, err);
    if (!res)
        return -1;
    lg_strlcpy(out, PQntuples(res) ? PQgetvalue(res, 0, 0) : fresh, outlen);
    PQclear(res);
    return 0;
}

int store_tenant_known(const char *tenant, char *alike, size_t outlen, struct lg_error *err)
{
    const char *p[] = {tenant};
    PGresult *res = store_run(&T, S_TENANT_KNOWN, 1, p, err);
    int rc = 2;

    if (!res)
        return -1;
    if (PQntuples(res) == 1) {
        rc = col_bool(res, 0, 1) ? 0 : 1;
        lg_strlcpy(alike, PQgetvalue(res, 0, 0), outlen);
    }
    PQclear(res);
    return rc;
}
