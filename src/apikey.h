/*
 * apikey.h - `loopgate apikey create|list|revoke`.
 *
 * A key is "lg_" followed by 40 hex digits (160 random bits). Only its
 * SHA-256 is stored; the key is printed once, at creation.
 */
#ifndef LG_APIKEY_H
#define LG_APIKEY_H

#include "config.h"
#include "util.h"

#define APIKEY_PREFIX_LEN 11 /* "lg_" + 8 hex digits, shown in listings */
#define APIKEY_LEN 43        /* "lg_" + 40 hex digits */

int apikey_main(struct config *cfg, int argc, char **argv);

/*
 * Check a tenant name given to a CLI command (`option`, e.g. "--tenant"),
 * against the database of the pool the caller set up. Tenants are born
 * with their first key, so the keys say which tenants exist:
 * - "default", the tenant of calls without a key while auth is off, is
 *   always taken;
 * - a tenant that has keys (revoked ones count) is taken as it is, even
 *   when its name predates the tenant-name rule: keys made then keep
 *   working and can be replaced, listed and revoked;
 * - any other name is a new tenant and must fit the rule
 *   (validate_tenant_name), and must not be an existing tenant's name but
 *   for case and surrounding spaces.
 * 0 accepted; -1 with `err` saying why (and which existing name was
 * meant, if one looks like it).
 */
int apikey_tenant_check(const char *tenant, const char *option, struct lg_error *err) LG_MUST_CHECK;

#endif
