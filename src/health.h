/*
 * health.h - what a process manager, a load balancer or an operator asks of
 * a worker process (docs/API.md, "Health"):
 *
 *   GET /livez   the process answers: 200 {"status":"ok"}, always, without
 *                touching the database (restart the process when it fails);
 *   GET /readyz  whether it can do its work: 503 when a check of this host
 *                fails (database, schema, listener), else 200, the body
 *                naming each check and what is wrong; what is the same on
 *                every host (delivery, telegram) is a warning, still 200
 *                (send it traffic only on 200);
 *   GET /health  the original check, kept as it was: the database (503 when
 *                unreachable) and the Telegram token (200 "degraded" when
 *                refused).
 *
 * The checks of /readyz, in order:
 *   database  a SELECT 1 through the pool;
 *   schema    the newest migration this binary carries is applied, and no
 *             migration unknown to it (a newer release's) is;
 *   listener  this process's LISTEN connection (notify.h) is up;
 *   delivery  (warning) no Telegram or webhook delivery stuck beyond
 *             ready_outbox_max_age seconds (store_outbox_stuck);
 *   telegram  (warning) with a bot token configured, Telegram has not
 *             refused it (the state delivery.c records).
 * Checks that need the database are skipped ("ok": null) when it is
 * unreachable or busy; failing checks are listed in "failing", warned ones
 * in "warnings". Every database read here is bounded (db_probe_begin).
 */
#ifndef LG_HEALTH_H
#define LG_HEALTH_H

#include "http.h"

/* GET /livez. */
void health_livez(struct http_req *r);

/* GET /readyz. */
void health_readyz(struct http_req *r);

/* GET /health. */
void health_get(struct http_req *r);

#endif
