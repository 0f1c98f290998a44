/*
 * submit_batch.h - the submit batcher: the submits of one process that
 * arrive together are written in one statement and one commit.
 *
 * 1. Submits that arrive while another batch is being written wait and go
 *    together in the next one: one statement and one commit (one WAL flush)
 *    for all of them. A submit that finds no batch under way writes at once,
 *    alone, so batching adds no wait to a quiet worker. One batch at a time
 *    per process; the statement's time is what gathers the next batch.
 * 2. Each submitting thread owns a slot on its stack and queues it on SQ.
 *    Whoever takes a batch off the queue (under SQ.mu) becomes its writer
 *    and writes it without the lock.
 * 3. A slot's answer (rc, out, err, pending, outcome) belongs to the writer
 *    of its batch while the slot's `verdict` is SUBMIT_WAITING; the owner
 *    does not read it then. The writer publishes every answer by setting
 *    `verdict` under SQ.mu, after it has touched the slot for the last
 *    time; the owner reads `verdict` only under SQ.mu and, once it is no
 *    longer SUBMIT_WAITING, owns the whole slot again (it may return and
 *    free its stack). So the lock orders every write of the writer before
 *    every read of the owner, and the writer never touches a slot whose
 *    owner may have gone.
 * 4. The batcher holds no SQL: the writer of a batch writes it with the
 *    function its own submit passed (store_requests.c), which fills in each
 *    slot's outcome.
 * 5. Work a batch queued (the Telegram sends of its requests) is reported
 *    once, to the thread that wrote it, whatever its own submit's answer:
 *    its caller wakes the delivery threads. The others are told nothing, so
 *    a batch of N costs one wake-up, not N.
 * 6. A waiting thread sleeps on a semaphore of its own, which lives as long
 *    as the thread (so a post may follow the slot's end). The writer posts,
 *    after letting go of SQ.mu, the owner of each other slot of its batch
 *    and the first slot still queued, whose owner writes the next batch:
 *    no broadcast wakes threads with nothing to do, and none wakes into a
 *    lock still held. A post a thread no longer needs only makes it look
 *    again under SQ.mu.
 */
#ifndef LG_SUBMIT_BATCH_H
#define LG_SUBMIT_BATCH_H

#include <semaphore.h>
#include <stdbool.h>

#include <jansson.h>

#include "util.h"

enum { SUBMIT_BATCH_MAX = 64 };

enum submit_verdict {
    SUBMIT_WAITING,
    SUBMIT_DONE,          /* rc, out and err are the answer */
    SUBMIT_NO_SESSION,    /* no such session */
    SUBMIT_INACTIVE,      /* the session is deactivated */
    SUBMIT_FEW_APPROVERS, /* approvals_required exceeds the session's approvers */
    SUBMIT_NO_ESCALATION, /* escalate_to names no active session of the tenant */
    SUBMIT_HELD,          /* not inserted: an idempotency key already used, or the pending limit */
};

struct submit_slot {
    json_t *item;                /* the request, as one element of the batch's $1 */
    enum submit_verdict verdict; /* published under SQ.mu (point 3) */
    enum submit_verdict outcome; /* the writer's answer, published as verdict */
    int rc;
    json_t *out;
    struct lg_error err;
    long long pending; /* SUBMIT_HELD: pending requests of the tenant before the batch */
    struct submit_slot *next;
    sem_t *wake; /* its thread's semaphore (point 6), set by submit_batch_wait */
};

/* Write `n` slots and fill in each one's outcome (point 4); true when it queued work. */
typedef bool submit_batch_writer(struct submit_slot **slots, int n, int max_pending);

/*
 * Queue `me` and wait until a batch holding it was written, by this thread
 * (with `write` and `max_pending`) or another. True when this thread wrote
 * a batch whose writer said it queued work (point 5).
 */
bool submit_batch_wait(struct submit_slot *me, submit_batch_writer *write,
                       int max_pending) LG_MUST_CHECK;

#endif
