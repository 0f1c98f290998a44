/*
 * delivery.h - the delivery threads of a worker process.
 *
 * 1. Each thread leases due outbox rows (store_outbox_claim: FOR UPDATE
 *    SKIP LOCKED, Telegram pacing shared through PostgreSQL), performs the
 *    call without holding a database connection, and records the outcome.
 * 2. An idle thread sleeps until the next row is due, or new work was
 *    queued by this process (notify_outbox_kick) or by a decision anywhere
 *    (the lg_request NOTIFY, notify.c), or two seconds pass: work queued by
 *    a worker whose own threads are busy is picked up by the others.
 * 3. Failures are retried with exponential backoff and jitter (capped at
 *    5 minutes); a 429 waits its retry_after and holds back that chat (or
 *    the whole bot); a permanent error (400, 403) is recorded and the row
 *    stops. A request message decided before it went out is skipped.
 */
#ifndef LG_DELIVERY_H
#define LG_DELIVERY_H

#include "config.h"

/* Start cfg->delivery_threads threads (none without a bot token). */
int delivery_start(const struct config *cfg) LG_MUST_CHECK;

/* Wait for the threads to finish their current call (after notify_stop). */
void delivery_join(void);

#endif
