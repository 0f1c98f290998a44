/*
 * test_submit_batch.c - the submit batcher (src/submit_batch.c): a submit
 * alone writes itself at once; submits from many threads at once are each
 * written exactly once, in batches of at most SUBMIT_BATCH_MAX, each gets
 * its own answer, and every thread returns (run under ThreadSanitizer by
 * make check: unit-tsan).
 */
#include "submit_batch.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "t.h"

#define THREADS 16
#define EACH 1500

static atomic_int written, batches, max_batch, bad_slots, writers_at_once, overlapped;

/* The writer: each slot's answer is its own item's number, written once. */
static bool write_some(struct submit_slot **slots, int n, int max_pending)
{
    struct timespec pause = {.tv_nsec = 20000}; /* a statement's time: the next batch gathers */

    (void)max_pending;
    if (atomic_fetch_add(&writers_at_once, 1) != 0)
        atomic_fetch_add(&overlapped, 1);
    if (n < 1 || n > SUBMIT_BATCH_MAX)
        atomic_fetch_add(&bad_slots, 1);
    for (int i = 0; i < n; i++) {
        if (slots[i]->verdict != SUBMIT_WAITING || slots[i]->rc != -1)
            atomic_fetch_add(&bad_slots, 1);
        slots[i]->rc = (int)json_integer_value(slots[i]->item);
        slots[i]->outcome = SUBMIT_DONE;
    }
    nanosleep(&pause, NULL);
    atomic_fetch_add(&written, n);
    atomic_fetch_add(&batches, 1);
    for (int m = atomic_load(&max_batch);
         n > m && !atomic_compare_exchange_weak(&max_batch, &m, n);)
        ;
    atomic_fetch_sub(&writers_at_once, 1);
    return true;
}

TEST(a_submit_alone_is_written_at_once_by_its_own_thread)
{
    struct submit_slot me = {.item = json_integer(7), .rc = -1};

    atomic_store(&written, 0);
    CHECK(submit_batch_wait(&me, write_some, 100)); /* it wrote the batch: told it queued work */
    CHECK_EQ_INT(me.verdict, SUBMIT_DONE);
    CHECK_EQ_INT(me.rc, 7);
    CHECK_EQ_INT(atomic_load(&written), 1);
    json_decref(me.item);
}

struct submitter {
    int n;
    int wrong; /* answers that were not its own */
    int wrote; /* submits after which it was told it wrote a batch */
};

static void *submitter_thread(void *arg)
{
    struct submitter *s = arg;

    for (int k = 0; k < EACH; k++) {
        int id = s->n * EACH + k;
        struct submit_slot me = {.item = json_integer(id), .rc = -1};

        if (submit_batch_wait(&me, write_some, 100))
            s->wrote++;
        if (me.verdict != SUBMIT_DONE || me.rc != id)
            s->wrong++;
        json_decref(me.item);
    }
    return NULL;
}

TEST(submits_from_many_threads_are_each_written_once_with_their_own_answer)
{
    pthread_t t[THREADS];
    struct submitter s[THREADS];
    int wrong = 0, wrote = 0;

    atomic_store(&written, 0);
    atomic_store(&batches, 0);
    atomic_store(&max_batch, 0);
    for (int i = 0; i < THREADS; i++) {
        s[i] = (struct submitter){.n = i};
        CHECK(pthread_create(&t[i], NULL, submitter_thread, &s[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        wrong += s[i].wrong;
        wrote += s[i].wrote;
    }
    CHECK_EQ_INT(wrong, 0);
    CHECK_EQ_INT(atomic_load(&bad_slots), 0);
    CHECK_EQ_INT(atomic_load(&overlapped), 0); /* one batch at a time */
    CHECK_EQ_INT(atomic_load(&written), THREADS * EACH);
    CHECK_EQ_INT(wrote, atomic_load(&batches)); /* each batch told to its writer alone */
    CHECK(atomic_load(&max_batch) > 1);         /* submits that met a batch went together */
    CHECK(atomic_load(&batches) < THREADS * EACH);
    printf("    %d submits from %d threads in %d batches (largest %d)\n", THREADS * EACH, THREADS,
           atomic_load(&batches), atomic_load(&max_batch));
}

int main(int argc, char **argv)
{
    t_begin(argc, argv);
    RUN(a_submit_alone_is_written_at_once_by_its_own_thread);
    RUN(submits_from_many_threads_are_each_written_once_with_their_own_answer);
    return t_end();
}
