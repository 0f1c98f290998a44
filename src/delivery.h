/*
 * delivery.h - the delivery threads of a worker process.
 *
 * 1. Two lanes of threads: Telegram calls (cfg->delivery_threads) and agent
 *    webhooks (cfg->webhook_threads). Each lane claims only its own rows
 *    (FOR UPDATE SKIP LOCKED, Telegram pacing shared through PostgreSQL;
 *    webhooks capped per tenant and per target host across all workers),
 *    performs the call without holding a database connection, and records
 *    the outcome. A receiver that never answers holds webhook threads only.
 * 2. Each row's lease outlives its attempt (the lease is renewed before an
 *    attempt that could outlive it): a row is never claimed again, and sent
 *    twice, while its call is in flight.
 * 3. An idle thread sleeps until the next row is due, or new work was
 *    queued by this process (notify_outbox_kick) or by a decision anywhere
 *    (the lg_request NOTIFY, notify.c), or two seconds pass: work queued by
 *    a worker whose own threads are busy is picked up by the others.
 * 4. Failures are retried with exponential backoff and jitter (capped at
 *    5 minutes, 10 for webhooks); a 429 waits its retry_after and holds back
 *    that chat (or the whole bot); a permanent error (Telegram 400, 403; a
 *    webhook refused by the address policy or answered with a final 4xx) is
 *    recorded and the row stops. A request message decided before it went
 *    out is skipped.
 */
#ifndef LG_DELIVERY_H
#define LG_DELIVERY_H

#include "config.h"

/* Start the expiry thread and both lanes' delivery threads. */
int delivery_start(const struct config *cfg) LG_MUST_CHECK;

/* Wait for the threads to finish their current call (after notify_stop). */
void delivery_join(void);

#endif
