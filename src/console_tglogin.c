/*
 * console_tglogin.c - see console_tglogin.h.
 */
#include "console_tglogin.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "console.h"
#include "log.h"
#include "store_console.h"
#include "store_tglogin.h"
#include "tglogin.h"

/* A used login is remembered this long past the end of its validity (clock skew between hosts). */
#define TAKEN_MARGIN_S 3600

static bool is_admin(const struct config *cfg, int64_t id)
{
    for (int i = 0; i < cfg->console_admins.n; i++)
        if (cfg->console_admins.ids[i] == id)
            return true;
    return false;
}

/*
 * Sign `l` in to the tenant of the request it opens; 0 with the Set-Cookie
 * line in `cookie`, else -1 with *code (the browser's error code) and
 * *reason (the audit's).
 */
static int sign_in(struct http_req *r, const struct tglogin *l, char *cookie, size_t len,
                   const char **code, const char **reason)
{
    const struct config *cfg = r->cfg;
    char tenant[ID_MAX_BYTES + 1], person[CONSOLE_PERSON_MAX + 1], name[257], sha[65];
    const char *role = "approver";
    struct console_user u;
    struct lg_error err;
    json_t *detail = NULL;
    int rc;

    *code = "unavailable";
    *reason = "unavailable";
    if (!*l->request_id) {
        *code = *reason = "invalid";
        return -1;
    }
    sha256_hex(l->hash, strlen(l->hash), sha);
    rc = store_tglogin_take(sha, l->id, l->auth_date + TGLOGIN_MAX_AGE + TAKEN_MARGIN_S, &err);
    if (rc != 0) {
        if (rc > 0) {
            *code = "invalid";
            *reason = "replayed";
        }
        return -1;
    }
    rc = store_tglogin_request_tenant(l->request_id, tenant, &err);
    if (rc != 0) {
        if (rc > 0)
            *code = *reason = "forbidden"; /* as for a request the person may not see */
        return -1;
    }
    /* console_admins are admins of one tenant: `r`, which picks it, is not signed */
    if (is_admin(cfg, l->id) && !strcmp(tenant, cfg->console_admins_tenant))
        role = "admin";
    snprintf(person, sizeof(person), "telegram:%lld", (long long)l->id);
    tglogin_name(l, name, sizeof(name));
    if (console_user_set(&u, tenant, person, name, role, &err) < 0) {
        *code = *reason = "invalid";
        return -1;
    }
    if (!strcmp(role, "approver")) {
        /* The console's own rule of who sees a request (store_console.h, point 2). */
        rc = store_console_request(&u, l->request_id, &detail, &err);
        json_decref(detail);
        if (rc < 0) {
            if (err.status == 404)
                *code = *reason = "forbidden";
            return -1;
        }
    }
    if (console_session_start(r, tenant, person, name, role, "telegram", cookie, len, NULL, &err) <
        0)
        return -1;
    log_info("console login", "via=telegram person=%s role=%s tenant=%s", person, role, tenant);
    *code = *reason = NULL;
    return 0;
}

void console_telegram_login(struct http_req *r)
{
    const char *remote = http_param(r, "REMOTE_ADDR");
    const char *query = r->query ? r->query : "";
    const char *code = NULL, *reason = NULL;
    char rid[40] = "", key[96], cookie[512] = "", location[96], headers[768];
    struct tglogin l;
    struct lg_error err;
    int retry = 0, rc;

    if (!remote)
        remote = "";
    /* `r` only ever names a request, and only when it is a request id. */
    if (http_query_get(query, "r", rid, sizeof(rid)) != 0 || !uuid_valid(rid))
        rid[0] = '\0';
    snprintf(key, sizeof(key), "telegram-login:%s", remote);
    rc = store_console_rate(key, CONSOLE_LOGIN_PER_MINUTE, &retry, &err);
    if (rc != 0) {
        code = rc > 0 ? "rate_limited" : "unavailable";
        if (rc > 0)
            log_warn("telegram login refused", "reason=rate_limited remote=%s request_id=%s",
                     remote, r->request_id);
        goto answer;
    }
    if (tglogin_check(query, r->cfg->telegram_bot_token, (int64_t)time(NULL), &l, &err) < 0) {
        code = reason = !strcmp(err.code, "expired") ? "expired" : "invalid";
        /*
         * Logged, not audited: data Telegram did not sign is anyone's, and
         * would let anyone write rows into the trail of the tenant whose
         * request id it names.
         */
        log_warn("telegram login refused", "reason=%s why=\"%s\" remote=%s request_id=%s", reason,
                 err.message, remote, r->request_id);
        goto answer;
    }
    if (sign_in(r, &l, cookie, sizeof(cookie), &code, &reason) < 0) {
        char actor[40];

        snprintf(actor, sizeof(actor), "telegram:%lld", (long long)l.id);
        log_warn("telegram login refused", "reason=%s person=%s remote=%s request_id=%s", reason,
                 actor, remote, r->request_id);
        if (*rid && strcmp(code, "unavailable") != 0 &&
            store_tglogin_refused(rid, actor, reason, remote, &err) < 0)
            log_warn("could not audit a refused telegram login", "error=\"%s\"", err.message);
    }
answer:
    if (code)
        snprintf(location, sizeof(location), "/console/#error=%s", code);
    else
        snprintf(location, sizeof(location), "/console/#/requests/%s", l.request_id);
    if (lg_snprintf(headers, sizeof(headers),
                    "Location: %s\r\nCache-Control: no-store\r\nReferrer-Policy: no-referrer\r\n"
                    "%s",
                    location, code ? "" : cookie) < 0) {
        lg_fail(&err, 500, "internal", "the answer's headers do not fit");
        http_send_error(r, &err);
        return;
    }
    http_send_empty(r, 303, headers);
}
