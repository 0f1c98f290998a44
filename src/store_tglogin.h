/*
 * store_tglogin.h - the rows of the console's Telegram login
 * (src/console_tglogin.c): each login's data taken once (024), the tenant
 * of the request a login opens, and the audit row of a refused login.
 */
#ifndef LG_STORE_TGLOGIN_H
#define LG_STORE_TGLOGIN_H

#include <stdint.h>

#include "util.h"
#include "validate.h"

/*
 * Take the login whose hash hashes to `hash_sha` (SHA-256 hex of the
 * received hash) for Telegram user `telegram_id`, remembered until
 * `expires_unix` (after which auth_date refuses it anyway). 0 when this is
 * its first use, 1 when it was taken before, -1 with `err`.
 */
int store_tglogin_take(const char *hash_sha, int64_t telegram_id, int64_t expires_unix,
                       struct lg_error *err) LG_MUST_CHECK;

/*
 * The tenant of request `request_id` (a canonical UUID) into
 * tenant[ID_MAX_BYTES + 1]: 0 found, 1 no such request, -1 with `err`.
 */
int store_tglogin_request_tenant(const char *request_id, char *tenant,
                                 struct lg_error *err) LG_MUST_CHECK;

/*
 * Audit a refused Telegram login that named request `request_id`, in that
 * request's tenant (nothing when there is no such request): action
 * console_login_refused by `actor` ('telegram:<id>' when Telegram vouched
 * for the person, else 'telegram:unverified'), detail {"via":"telegram",
 * "reason", "request_id", "remote"}. 0, or -1 with `err`.
 */
int store_tglogin_refused(const char *request_id, const char *actor, const char *reason,
                          const char *remote, struct lg_error *err) LG_MUST_CHECK;

#endif
