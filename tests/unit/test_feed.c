/*
 * test_feed.c - the per-process list of event streams (src/feed.c).
 */
#include "feed.h"

#include <pthread.h>

#include "t.h"

TEST(a_wake_before_the_sleep_is_not_lost)
{
    struct feed_waiter w;

    CHECK_EQ_INT(feed_add(&w, "acme", 4), 0);
    feed_wake("acme");
    /* Woken already: returns at once, far before the deadline. */
    CHECK(feed_sleep(&w, now_ms() + 10000));
    /* The wake was taken: now the sleep runs out. */
    CHECK(!feed_sleep(&w, now_ms() + 20));
    feed_remove(&w);
}

TEST(a_wake_reaches_its_tenant_only)
{
    struct feed_waiter a, b;

    CHECK_EQ_INT(feed_add(&a, "acme", 4), 0);
    CHECK_EQ_INT(feed_add(&b, "globex", 4), 0);
    feed_wake("globex");
    CHECK(!feed_sleep(&a, now_ms() + 20));
    CHECK(feed_sleep(&b, now_ms() + 10000));
    /* NULL (the listener reconnected) wakes everyone. */
    feed_wake(NULL);
    CHECK(feed_sleep(&a, now_ms() + 10000));
    CHECK(feed_sleep(&b, now_ms() + 10000));
    feed_remove(&a);
    feed_remove(&b);
}

TEST(the_list_is_bounded_and_a_removal_frees_a_place)
{
    struct feed_waiter w[3];

    CHECK_EQ_INT(feed_add(&w[0], "acme", 2), 0);
    CHECK_EQ_INT(feed_add(&w[1], "acme", 2), 0);
    CHECK_EQ_INT(feed_add(&w[2], "acme", 2), -1);
    CHECK_EQ_INT(feed_count(), 2);
    feed_remove(&w[0]);
    CHECK_EQ_INT(feed_add(&w[2], "acme", 2), 0);
    feed_remove(&w[1]);
    feed_remove(&w[2]);
    CHECK_EQ_INT(feed_count(), 0);
}

static void *sleeper(void *arg)
{
    struct feed_waiter *w = arg;

    return feed_sleep(w, now_ms() + 10000) ? (void *)1 : NULL;
}

TEST(a_sleeping_thread_is_woken)
{
    struct feed_waiter w;
    pthread_t t;
    void *woken = NULL;
    int64_t t0 = now_ms();

    CHECK_EQ_INT(feed_add(&w, "acme", 4), 0);
    CHECK_EQ_INT(pthread_create(&t, NULL, sleeper, &w), 0);
    feed_wake("acme"); /* before or after it sleeps: either way it returns */
    pthread_join(t, &woken);
    CHECK(woken != NULL);
    CHECK(now_ms() - t0 < 5000);
    feed_remove(&w);
}

TEST(stopping_ends_every_sleep)
{
    struct feed_waiter w;
    int64_t t0;

    CHECK_EQ_INT(feed_add(&w, "acme", 4), 0);
    CHECK(!feed_stopping());
    feed_stop();
    CHECK(feed_stopping());
    t0 = now_ms();
    (void)feed_sleep(&w, now_ms() + 10000);
    (void)feed_sleep(&w, now_ms() + 10000);
    CHECK(now_ms() - t0 < 5000);
    feed_remove(&w);
}

int main(int argc, char **argv)
{
    t_begin(argc, argv);
    RUN(a_wake_before_the_sleep_is_not_lost);
    RUN(a_wake_reaches_its_tenant_only);
    RUN(the_list_is_bounded_and_a_removal_frees_a_place);
    RUN(a_sleeping_thread_is_woken);
    RUN(stopping_ends_every_sleep);
    return t_end();
}
