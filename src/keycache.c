/*
 * keycache.c - see keycache.h.
 *
 * A direct-mapped table: the slot is taken from the key's hash, a newer key
 * in the same slot replaces the older one. One read-write lock guards it; it
 * is held for a copy of a few bytes.
 */
#include "keycache.h"

#include <pthread.h>
#include <string.h>

#include "util.h"

#define SLOTS 4096

struct slot {
    char hash[65];
    struct actor who;
    int64_t until_ms;
};

static struct {
    pthread_rwlock_t lock;
    uint64_t gen;
    bool enabled;
    struct slot slot[SLOTS];
} K = {.lock = PTHREAD_RWLOCK_INITIALIZER};

static unsigned slot_of(const char *hash)
{
    unsigned h = 0;

    /* The hash is hex SHA-256: its first characters are already uniform. */
    for (int i = 0; i < 6 && hash[i]; i++)
        h = h * 16 + (unsigned)(hash[i] <= '9' ? hash[i] - '0' : (hash[i] | 0x20) - 'a' + 10);
    return h % SLOTS;
}

uint64_t keycache_generation(void)
{
    uint64_t g;

    pthread_rwlock_rdlock(&K.lock);
    g = K.gen;
    pthread_rwlock_unlock(&K.lock);
    return g;
}

bool keycache_get(const char *hash, struct actor *who)
{
    const struct slot *s = &K.slot[slot_of(hash)];
    bool hit;

    pthread_rwlock_rdlock(&K.lock);
    hit = K.enabled && s->until_ms > now_ms() && !strcmp(s->hash, hash);
    if (hit)
        *who = s->who;
    pthread_rwlock_unlock(&K.lock);
    return hit;
}

void keycache_put(const char *hash, const struct actor *who, uint64_t gen)
{
    struct slot *s = &K.slot[slot_of(hash)];

    pthread_rwlock_wrlock(&K.lock);
    if (K.enabled && K.gen == gen) {
        lg_strlcpy(s->hash, hash, sizeof(s->hash));
        s->who = *who;
        s->until_ms = now_ms() + KEYCACHE_TTL_MS;
    }
    pthread_rwlock_unlock(&K.lock);
}

void keycache_flush(bool enabled)
{
    pthread_rwlock_wrlock(&K.lock);
    K.gen++;
    K.enabled = enabled;
    for (int i = 0; i < SLOTS; i++)
        K.slot[i].until_ms = 0;
    pthread_rwlock_unlock(&K.lock);
}
