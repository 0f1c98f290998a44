/*
 * keycache.h - the API keys this process has recently seen, so that an
 * authenticated request costs no database round trip of its own.
 *
 * 1. authenticate() asks keycache_get() first; on a miss it looks the key up
 *    in PostgreSQL (store_key_lookup, which also stamps last_used_at) and
 *    hands the answer to keycache_put().
 * 2. An entry lives KEYCACHE_TTL_MS, so last_used_at stays right to within a
 *    minute and a key revoked while this process could not hear about it
 *    stops working within that time at most.
 * 3. Revoking a key NOTIFYs lg_apikey (a trigger on api_keys); the listener
 *    thread calls keycache_flush(). While the listener has no connection
 *    nothing is cached (a revocation could go unheard); it flushes again when
 *    it reconnects.
 * 4. keycache_put() takes the generation read before the lookup began: a
 *    flush in between means the answer may predate a revocation, and it is
 *    dropped.
 * 5. Only keys that exist are cached: a wrong key always costs a lookup, and
 *    nobody can fill the cache by guessing.
 */
#ifndef LG_KEYCACHE_H
#define LG_KEYCACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "actor.h"

#define KEYCACHE_TTL_MS 30000

/* The current generation; pass it to keycache_put(). */
uint64_t keycache_generation(void);

/* Fill `who` for the key with hex SHA-256 `hash`; false when not cached. */
bool keycache_get(const char *hash, struct actor *who);

/* Remember a key found by a lookup that began at generation `gen`. */
void keycache_put(const char *hash, const struct actor *who, uint64_t gen);

/* Forget every key; `enabled` false also stops caching until called with true. */
void keycache_flush(bool enabled);

#endif
