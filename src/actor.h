/*
 * actor.h - who is acting: the identity an API key (or the lack of one)
 * stands for.
 *
 * api.c's authenticate() makes one for each request (from the key cache,
 * keycache.h, or a lookup in api_keys, store_keys.h) and hands it down: the
 * store scopes every read to its tenant and writes its name in the audit
 * trail.
 */
#ifndef LG_ACTOR_H
#define LG_ACTOR_H

#include <stdbool.h>

#include "validate.h"

/*
 * Who is acting, for the audit trail: tenant plus a printable actor name.
 * admin: an admin API key (api_keys.scope, migration 028), which may also
 * add allow rules and revoke rules; false for an agent key and without a key.
 */
struct actor {
    char tenant[ID_MAX_BYTES + 1];
    char name[96];
    bool admin;
};

#endif
