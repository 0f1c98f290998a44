/*
 * store_keys.h - API keys (looked up per request, administered by the CLI)
 * and the webhook signing secret of each tenant.
 */
#ifndef LG_STORE_KEYS_H
#define LG_STORE_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "actor.h"
#include "util.h"

/* Look up an API key by its SHA-256 hex; 0 found, 1 unknown or revoked, -1 error. */
int store_key_lookup(const char *key_hash, struct actor *who, struct lg_error *err) LG_MUST_CHECK;

/* API key administration (CLI); `admin` makes an admin key (actor.h), else an agent key. */
int store_key_create(const char *tenant, const char *name, const char *key_hash, const char *prefix,
                     bool admin, struct lg_error *err) LG_MUST_CHECK;
int store_key_list(json_t **out, struct lg_error *err) LG_MUST_CHECK;
/* Revoke by id or prefix; 0 revoked, 1 no such active key, -1 error. */
int store_key_revoke(const char *id_or_prefix, struct lg_error *err) LG_MUST_CHECK;

/* Revoke every active key of `tenant` named `name`; 0 (also when none), -1 error. */
int store_key_revoke_named(const char *tenant, const char *name,
                           struct lg_error *err) LG_MUST_CHECK;

/*
 * How `tenant` stands among the tenants that have keys (revoked ones
 * count): 0 it has keys; 1 it has none, but `alike` (copied there, outlen
 * bytes) does, a name equal to it but for case and surrounding spaces;
 * 2 neither; -1 error.
 */
int store_tenant_known(const char *tenant, char *alike, size_t outlen,
                       struct lg_error *err) LG_MUST_CHECK;

/*
 * The tenant's webhook secret as stored (see hook.h) into `out`: the one it
 * has, or `fresh` (hook_secret_new) when it has none; `rotate` replaces it
 * with `fresh`.
 */
int store_webhook_secret(const char *tenant, bool rotate, const char *fresh, char *out,
                         size_t outlen, struct lg_error *err) LG_MUST_CHECK;

#endif
