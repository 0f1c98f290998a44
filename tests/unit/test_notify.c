/*
 * test_notify.c - how delivery threads are kicked (src/notify.c): a kick is
 * answered at once; a kick for paced Telegram sends is due when the bot may
 * send again, and a thread that wakes earlier for its own reasons leaves it.
 * And what the listener hands to waiters: a row reaches the waiters of its
 * request and tenant only, each its own copy; and all of it from many
 * threads at once (run under ThreadSanitizer by make check: unit-tsan).
 */
#include "notify.h"

#include <pthread.h>
#include <stdatomic.h>
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

/*
 * Threads that register, are handed rows, sleep and leave, while others
 * hand rows over and kick the delivery threads: every count adds up and,
 * under ThreadSanitizer (make TSAN=1), nothing is touched outside its lock.
 */
#define RACE_ROUNDS 2000
#define RACE_WAITERS 4

static const char *const race_ids[] = {
    "44444444-4444-4444-4444-444444444444", "55555555-5555-5555-5555-555555555555",
    "66666666-6666-6666-6666-666666666666", "77777777-7777-7777-7777-777777777777"};
static atomic_int race_done;

struct race_waiter {
    int n;
    int handed;
    int failed;
};

static void *race_waiter_thread(void *arg)
{
    struct race_waiter *me = arg;

    for (int i = 0; i < RACE_ROUNDS; i++) {
        struct waiter w;
        json_t *row;

        if (notify_waiter_add(&w, race_ids[(me->n + i) % 4], "acme", 100) < 0) {
            me->failed++;
            continue;
        }
        row = notify_waiter_sleep(&w, 0);
        if (row) {
            me->handed += json_is_string(json_object_get(row, "status"));
            json_decref(row);
        }
        notify_waiter_remove(&w);
    }
    atomic_fetch_add(&race_done, 1);
    return NULL;
}

static void *race_hand_thread(void *arg)
{
    json_t *poll = arg;

    for (int i = 0; atomic_load(&race_done) < RACE_WAITERS; i++)
        notify_hand_row(race_ids[i % 4], "acme", poll);
    return NULL;
}

static void *race_kick_thread(void *arg)
{
    (void)arg;
    while (atomic_load(&race_done) < RACE_WAITERS) {
        notify_outbox_kick();
        notify_outbox_kick_paced();
        notify_paced_for(1);
    }
    notify_paced_for(0);
    return NULL;
}

static void *race_delivery_thread(void *arg)
{
    int *kicks = arg;

    while (atomic_load(&race_done) < RACE_WAITERS)
        *kicks += notify_wait_outbox(1);
    return NULL;
}

TEST(the_waiter_table_and_kicks_hold_under_concurrent_threads)
{
    pthread_t w[RACE_WAITERS], hand, kick, deliver;
    struct race_waiter rw[RACE_WAITERS];
    json_t *poll = json_pack("{s:s}", "status", "completed");
    int kicks = 0, failed = 0;

    atomic_store(&race_done, 0);
    for (int i = 0; i < RACE_WAITERS; i++) {
        rw[i] = (struct race_waiter){.n = i};
        CHECK(pthread_create(&w[i], NULL, race_waiter_thread, &rw[i]) == 0);
    }
    CHECK(pthread_create(&hand, NULL, race_hand_thread, poll) == 0);
    CHECK(pthread_create(&kick, NULL, race_kick_thread, NULL) == 0);
    CHECK(pthread_create(&deliver, NULL, race_delivery_thread, &kicks) == 0);
    for (int i = 0; i < RACE_WAITERS; i++) {
        pthread_join(w[i], NULL);
        failed += rw[i].failed;
    }
    pthread_join(hand, NULL);
    pthread_join(kick, NULL);
    pthread_join(deliver, NULL);
    CHECK(failed == 0);
    CHECK(notify_waiters() == 0);
    CHECK(kicks > 0);
    json_decref(poll);
    notify_outbox_kick(); /* leave no kick unanswered for the next test */
    (void)notify_wait_outbox(0);
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
    RUN(the_waiter_table_and_kicks_hold_under_concurrent_threads);
    return t_end();
}
