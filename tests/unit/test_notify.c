/*
 * test_notify.c - how delivery threads are kicked (src/notify.c): a kick is
 * answered at once; a kick for paced Telegram sends is due when the bot may
 * send again, and a thread that wakes earlier for its own reasons leaves it.
 * And what the listener hands to waiters: a row reaches the waiters of its
 * request and tenant only, each its own copy.
 */
#include "notify.h"

#include <time.h>

#include "t.h"

static int64_t clock_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* How long notify_wait_outbox(timeout_ms) slept. */
static int64_t waited(int timeout_ms)
{
    int64_t t0 = clock_ms();

    notify_wait_outbox(timeout_ms);
    return clock_ms() - t0;
}

TEST(without_a_kick_the_wait_runs_out)
{
    int64_t ms = waited(200);

    CHECK(ms >= 190);
}

TEST(a_kick_is_answered_at_once_and_once)
{
    notify_outbox_kick();
    notify_outbox_kick();
    CHECK(waited(3000) < 500);
    CHECK(waited(200) >= 190);
}

TEST(a_paced_kick_is_immediate_while_the_bot_may_send)
{
    notify_paced_for(0);
    notify_outbox_kick_paced();
    CHECK(waited(3000) < 500);
}

TEST(a_paced_kick_waits_until_the_bot_may_send)
{
    int64_t ms;

    notify_paced_for(400);
    notify_outbox_kick_paced();
    notify_outbox_kick_paced();
    ms = waited(3000);
    CHECK(ms >= 380);
    CHECK(ms < 2500);
    CHECK(waited(200) >= 190);
    notify_paced_for(0);
}

TEST(an_earlier_wake_leaves_the_paced_kick_for_its_time)
{
    int64_t t0 = clock_ms(), ms;

    notify_paced_for(500);
    notify_outbox_kick_paced();
    ms = waited(100);
    CHECK(ms >= 90);
    CHECK(ms < 450);
    waited(3000);
    ms = clock_ms() - t0;
    CHECK(ms >= 480);
    CHECK(ms < 2500);
    notify_paced_for(0);
}

TEST(a_plain_kick_is_not_held_back_by_the_pace)
{
    notify_paced_for(1000);
    notify_outbox_kick_paced();
    notify_outbox_kick();
    CHECK(waited(3000) < 500);
    notify_paced_for(0);
}

TEST(a_row_handed_over_reaches_the_waiters_of_its_request_and_tenant)
{
    struct waiter a, b, other;
    json_t *poll = json_pack("{s:s}", "status", "completed"), *ra, *rb, *ro;

    CHECK(notify_waiter_add(&a, "11111111-1111-1111-1111-111111111111", "acme", 10) == 0);
    CHECK(notify_waiter_add(&b, "11111111-1111-1111-1111-111111111111", "globex", 10) == 0);
    CHECK(notify_waiter_add(&other, "22222222-2222-2222-2222-222222222222", "acme", 10) == 0);
    notify_hand_row("11111111-1111-1111-1111-111111111111", "acme", poll);
    json_object_set_new(poll, "status", json_string("changed after"));
    /* Deadlines already past: each sleep returns at once with what it was handed. */
    ra = notify_waiter_sleep(&a, 0);
    rb = notify_waiter_sleep(&b, 0);
    ro = notify_waiter_sleep(&other, 0);
    CHECK(ra && t_streq(json_string_value(json_object_get(ra, "status")), "completed"));
    CHECK(rb == NULL);
    CHECK(ro == NULL);
    CHECK(notify_waiter_sleep(&a, 0) == NULL); /* taken once */
    json_decref(ra);
    json_decref(poll);
    notify_waiter_remove(&a);
    notify_waiter_remove(&b);
    notify_waiter_remove(&other);
    CHECK(notify_waiters() == 0);
}

TEST(the_waiter_table_is_bounded)
{
    struct waiter w[3];

    CHECK(notify_waiter_add(&w[0], "33333333-3333-3333-3333-333333333333", "acme", 2) == 0);
    CHECK(notify_waiter_add(&w[1], "33333333-3333-3333-3333-333333333333", "acme", 2) == 0);
    CHECK(notify_waiter_add(&w[2], "33333333-3333-3333-3333-333333333333", "acme", 2) == -1);
    notify_waiter_remove(&w[0]);
    notify_waiter_remove(&w[1]);
}

int main(int argc, char **argv)
{
    t_begin(argc, argv);
    RUN(without_a_kick_the_wait_runs_out);
    RUN(a_kick_is_answered_at_once_and_once);
    RUN(a_paced_kick_is_immediate_while_the_bot_may_send);
    RUN(a_paced_kick_waits_until_the_bot_may_send);
    RUN(an_earlier_wake_leaves_the_paced_kick_for_its_time);
    RUN(a_plain_kick_is_not_held_back_by_the_pace);
    RUN(a_row_handed_over_reaches_the_waiters_of_its_request_and_tenant);
    RUN(the_waiter_table_is_bounded);
    return t_end();
}
