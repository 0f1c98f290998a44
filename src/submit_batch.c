/*
 * submit_batch.c - the submit batcher; its model is in submit_batch.h.
 */
#include "submit_batch.h"

#include <pthread.h>
#include <semaphore.h>

static struct {
    pthread_mutex_t mu;
    struct submit_slot *head, *tail;
    bool writing;
} SQ = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* The calling thread's semaphore (point 6), made at its first submit. */
static sem_t *thread_wake(void)
{
    static _Thread_local sem_t sem;
    static _Thread_local bool made;

    if (!made) {
        sem_init(&sem, 0, 0);
        made = true;
    }
    return &sem;
}

bool submit_batch_wait(struct submit_slot *me, submit_batch_writer *write, int max_pending)
{
    struct submit_slot *batch[SUBMIT_BATCH_MAX];
    sem_t *wake[SUBMIT_BATCH_MAX + 1];
    bool queued = false;
    int n, nwake;

    me->wake = thread_wake();
    pthread_mutex_lock(&SQ.mu);
    if (SQ.tail)
        SQ.tail->next = me;
    else
        SQ.head = me;
    SQ.tail = me;
    while (me->verdict == SUBMIT_WAITING) {
        if (SQ.writing) {
            pthread_mutex_unlock(&SQ.mu);
            (void)sem_wait(me->wake); /* EINTR, or an old post: look again */
            pthread_mutex_lock(&SQ.mu);
            continue;
        }
        for (n = 0; SQ.head && n < SUBMIT_BATCH_MAX; n++) {
            batch[n] = SQ.head;
            SQ.head = SQ.head->next;
        }
        if (!SQ.head)
            SQ.tail = NULL;
        SQ.writing = true;
        pthread_mutex_unlock(&SQ.mu);
        queued |= write(batch, n, max_pending);
        pthread_mutex_lock(&SQ.mu);
        nwake = 0;
        for (int i = 0; i < n; i++) {
            if (batch[i] != me)
                wake[nwake++] = batch[i]->wake;
            batch[i]->verdict = batch[i]->outcome; /* after this, batch[i] may be gone */
        }
        SQ.writing = false;
        if (SQ.head)
            wake[nwake++] = SQ.head->wake; /* the next batch's writer */
        pthread_mutex_unlock(&SQ.mu);
        for (int i = 0; i < nwake; i++)
            sem_post(wake[i]);
        pthread_mutex_lock(&SQ.mu);
    }
    pthread_mutex_unlock(&SQ.mu);
    return queued;
}
