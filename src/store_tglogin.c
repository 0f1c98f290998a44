/*
 * store_tglogin.c - the Telegram login's statements; see store_tglogin.h.
 *
 * Statements are prepared per connection on first use (db_run), in the
 * range of the prepared set that store_internal.h gives this file.
 */
#include "store_tglogin.h"

#include <stdio.h>
#include <string.h>

#include "db.h"
#include "store_internal.h"

enum { S_TAKE, S_TENANT, S_REFUSED, S_COUNT };

static const struct db_stmt stmts[] = {
    [S_TAKE] = {"tglogin_take",
                /* some expired rows go as new ones come; a taken login conflicts */
                "WITH d AS (DELETE FROM tg_logins WHERE hash_sha256 IN (SELECT hash_sha256"
                "           FROM tg_logins WHERE expires_at < now() LIMIT 100))"
                " INSERT INTO tg_logins (hash_sha256, telegram_id, expires_at)"
                " VALUES ($1, $2::bigint, to_timestamp($3::bigint))"
                " ON CONFLICT (hash_sha256) DO NOTHING RETURNING 1",
                /* not run twice: a second run would find its own first use */
                false},
    [S_TENANT] = {"tglogin_tenant", "SELECT tenant FROM requests WHERE id = $1::uuid", true},
    [S_REFUSED] = {"tglogin_refused",
                   "INSERT INTO audit_log (tenant, actor, action, detail)"
                   " SELECT tenant, $2, 'console_login_refused',"
                   "        jsonb_build_object('via', 'telegram', 'reason', $3::text,"
                   "                           'request_id', id::text, 'remote', $4::text)"
                   " FROM requests WHERE id = $1::uuid",
                   false},
};

_Static_assert(S_COUNT <= STORE_RANGE_SIZE, "store_tglogin: more statements than its range");
static const struct db_table T = {stmts, S_COUNT, STORE_TGLOGIN};

int store_tglogin_take(const char *hash_sha, int64_t telegram_id, int64_t expires_unix,
                       struct lg_error *err)
{
    char sid[24], sexp[24];
    const char *p[] = {hash_sha, sid, sexp};
    PGresult *res;
    int rc;

    snprintf(sid, sizeof(sid), "%lld", (long long)telegram_id);
    snprintf(sexp, sizeof(sexp), "%lld", (long long)expires_unix);
    res = store_run(&T, S_TAKE, 3, p, err);
    if (!res)
        return -1;
    rc = PQntuples(res) == 1 ? 0 : 1;
    PQclear(res);
    return rc;
}

int store_tglogin_request_tenant(const char *request_id, char *tenant, struct lg_error *err)
{
    const char *p[] = {request_id};
    PGresult *res = store_run(&T, S_TENANT, 1, p, err);
    int rc = 1;

    if (!res)
        return -1;
    if (PQntuples(res) == 1) {
        lg_strlcpy(tenant, PQgetvalue(res, 0, 0), ID_MAX_BYTES + 1);
        rc = 0;
    }
    PQclear(res);
    return rc;
}

int store_tglogin_refused(const char *request_id, const char *actor, const char *reason,
                          const char *remote, struct lg_error *err)
{
    const char *p[] = {request_id, actor, reason, remote};

    return store_run_void(&T, S_REFUSED, 4, p, err);
}
