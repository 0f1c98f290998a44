/*
 * fuzz.h - what every libFuzzer harness of tests/fuzz shares.
 *
 * 1. Each harness defines `static void fuzz_one(const char *data, size_t
 *    len)` (a NUL-terminated copy of the input) and FUZZ_MAIN.
 * 2. The input runs on a thread (one, reused) whose stack is the production
 *    request thread's (THREAD_STACK_PRODUCTION, server.h): a parser that
 *    recurses too deep for a worker's thread crashes here as it would in
 *    production, not only past the 8 MiB of a main thread.
 * 3. Log lines of the code under test are silenced (errors only).
 */
#ifndef LG_FUZZ_H
#define LG_FUZZ_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "server.h"

static void fuzz_one(const char *data, size_t len);

/*
 * One thread, created once with the production stack, runs every input:
 * the caller hands it an input and waits until it is done.
 */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    pthread_once_t once;
    char *data; /* the input to run, NULL when there is none */
    size_t len;
    bool done;
} fuzz_q = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_ONCE_INIT, NULL, 0, false};

static void *fuzz_thread(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&fuzz_q.mu);
        while (!fuzz_q.data)
            pthread_cond_wait(&fuzz_q.cond, &fuzz_q.mu);
        pthread_mutex_unlock(&fuzz_q.mu);
        fuzz_one(fuzz_q.data, fuzz_q.len);
        pthread_mutex_lock(&fuzz_q.mu);
        fuzz_q.data = NULL;
        fuzz_q.done = true;
        pthread_cond_broadcast(&fuzz_q.cond);
        pthread_mutex_unlock(&fuzz_q.mu);
    }
    return NULL;
}

static void fuzz_start(void)
{
    pthread_attr_t attr;
    pthread_t t;

    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, THREAD_STACK_PRODUCTION);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, fuzz_thread, NULL) != 0)
        abort();
    pthread_attr_destroy(&attr);
}

/* Run fuzz_one on the request-sized thread (a NUL-terminated copy of the input). */
static void fuzz_on_request_stack(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1);

    if (!copy)
        abort();
    memcpy(copy, data, size);
    copy[size] = '\0';
    pthread_once(&fuzz_q.once, fuzz_start);
    pthread_mutex_lock(&fuzz_q.mu);
    fuzz_q.data = copy;
    fuzz_q.len = size;
    fuzz_q.done = false;
    pthread_cond_broadcast(&fuzz_q.cond);
    while (!fuzz_q.done)
        pthread_cond_wait(&fuzz_q.cond, &fuzz_q.mu);
    pthread_mutex_unlock(&fuzz_q.mu);
    free(copy);
}

#define FUZZ_MAIN                                                                                  \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);                                  \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)                                   \
    {                                                                                              \
        log_threshold = LOG_ERROR + 1;                                                             \
        fuzz_on_request_stack(data, size);                                                         \
        return 0;                                                                                  \
    }

#endif
