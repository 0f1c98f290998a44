/*
 * test_keycache.c - the per-process API key cache (src/keycache.c).
 */
#include "keycache.h"

#include "t.h"

#define H1 "aaaaaa0000000000000000000000000000000000000000000000000000000001"
#define H2 "aaaaaa0000000000000000000000000000000000000000000000000000000002" /* H1's slot */
#define H3 "bbbbbb0000000000000000000000000000000000000000000000000000000003"

static struct actor actor_of(const char *tenant)
{
    struct actor a;

    memset(&a, 0, sizeof(a));
    snprintf(a.tenant, sizeof(a.tenant), "%s", tenant);
    snprintf(a.name, sizeof(a.name), "key:%s", tenant);
    return a;
}

TEST(nothing_cached_until_the_listener_enables_it)
{
    struct actor a = actor_of("t1"), got;

    keycache_put(H1, &a, keycache_generation());
    CHECK(!keycache_get(H1, &got));
}

TEST(a_put_is_found_with_its_tenant)
{
    struct actor a = actor_of("t1"), got;

    keycache_flush(true);
    CHECK(!keycache_get(H1, &got));
    keycache_put(H1, &a, keycache_generation());
    CHECK(keycache_get(H1, &got));
    CHECK_EQ_STR(got.tenant, "t1");
    CHECK_EQ_STR(got.name, "key:t1");
    CHECK(!keycache_get(H3, &got));
}

TEST(a_lookup_older_than_a_flush_is_dropped)
{
    struct actor a = actor_of("t1"), got;
    uint64_t gen;

    keycache_flush(true);
    gen = keycache_generation();
    keycache_flush(true); /* a revocation was heard while the lookup ran */
    keycache_put(H1, &a, gen);
    CHECK(!keycache_get(H1, &got));
}

TEST(a_flush_forgets_everything)
{
    struct actor a = actor_of("t1"), b = actor_of("t3"), got;

    keycache_flush(true);
    keycache_put(H1, &a, keycache_generation());
    keycache_put(H3, &b, keycache_generation());
    keycache_flush(true);
    CHECK(!keycache_get(H1, &got));
    CHECK(!keycache_get(H3, &got));
}

TEST(disabled_it_neither_answers_nor_stores)
{
    struct actor a = actor_of("t1"), got;

    keycache_flush(true);
    keycache_put(H1, &a, keycache_generation());
    keycache_flush(false);
    CHECK(!keycache_get(H1, &got));
    keycache_put(H1, &a, keycache_generation());
    CHECK(!keycache_get(H1, &got));
    keycache_flush(true);
    CHECK(!keycache_get(H1, &got));
}

TEST(keys_sharing_a_slot_never_answer_for_each_other)
{
    struct actor a = actor_of("t1"), b = actor_of("t2"), got;

    keycache_flush(true);
    keycache_put(H1, &a, keycache_generation());
    CHECK(!keycache_get(H2, &got));
    keycache_put(H2, &b, keycache_generation());
    CHECK(keycache_get(H2, &got));
    CHECK_EQ_STR(got.tenant, "t2");
    CHECK(!keycache_get(H1, &got)); /* replaced: looked up again next time */
}

int main(int argc, char **argv)
{
    t_begin(argc, argv);
    RUN(nothing_cached_until_the_listener_enables_it);
    RUN(a_put_is_found_with_its_tenant);
    RUN(a_lookup_older_than_a_flush_is_dropped);
    RUN(a_flush_forgets_everything);
    RUN(disabled_it_neither_answers_nor_stores);
    RUN(keys_sharing_a_slot_never_answer_for_each_other);
    return t_end();
}
