/*
 * submit_batch.c - the submit batcher; its model is in submit_batch.h.
 */
#include "submit_batch.h"

#include <pthread.h>

static struct {
    pthread_mutex_t mu;
    pthread_cond_t done;
    struct submit_slot *head, *tail;
    bool writing;
} SQ = {.mu = PTHREAD_MUTEX_INITIALIZER, .done = PTHREAD_COND_INITIALIZER};

bool submit_batch_wait(struct submit_slot *me, submit_batch_writer *write, int max_pending)
{
    struct submit_slot *batch[SUBMIT_BATCH_MAX];
    bool queued = false;
    int n;

    pthread_mutex_lock(&SQ.mu);
    if (SQ.tail)
        SQ.tail->next = me;
    else
        SQ.head = me;
    SQ.tail = me;
    while (me->verdict == SUBMIT_WAITING) {
        if (SQ.writing) {
            pthread_cond_wait(&SQ.done, &SQ.mu);
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
        for (int i = 0; i < n; i++)
            batch[i]->verdict = batch[i]->outcome; /* after this, batch[i] may be gone */
        SQ.writing = false;
        pthread_cond_broadcast(&SQ.done);
    }
    pthread_mutex_unlock(&SQ.mu);
    return queued;
}
