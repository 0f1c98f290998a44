/*
 * metrics.h - the figures of `GET /metrics`, added up over every process of
 * a host.
 *
 * 1. The master maps one block of memory, MAP_SHARED and anonymous, before
 *    it forks (metrics_init): its workers, and the workers that replace
 *    them, all add to the same counters, so a scrape answered by any worker
 *    shows the host's totals and a restarted worker keeps adding to them.
 * 2. Every figure has a fixed place in the block: counters and histogram
 *    buckets indexed by labels from fixed sets (a route of the route table,
 *    a method, a status, a channel ...), never by a request id, a user or a
 *    tenant. A value outside its set counts under "other".
 * 3. Recording is an atomic add (relaxed) on that place: no lock, no
 *    allocation, no system call; an HTTP request costs one clock read, a
 *    route lookup by pointer and three adds.
 * 4. Gauges of the process itself are kept per worker slot (the waiting
 *    long-polls; the pid, for the process_* figures read from /proc at
 *    scrape time): the master clears a slot when its worker dies, so a
 *    killed worker leaves nothing behind. The CPU time of dead workers is
 *    kept (from wait4), so process_cpu_seconds_total never goes back.
 * 5. A process that is not a worker of `loopgate serve` (the CLI, `loopgate
 *    telegram poll`) records into a block of its own that nobody reads.
 */
#ifndef LG_METRICS_H
#define LG_METRICS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <time.h>

#include "util.h"

/* Where a request was decided (label channel). */
enum metrics_channel {
    METRICS_CH_TELEGRAM,
    METRICS_CH_CONSOLE,
    METRICS_CH_API,
    METRICS_CH_MCP,
    METRICS_CH_HOOK,
    METRICS_CH_POLICY,
    METRICS_CH_TIMEOUT,
    METRICS_CHANNELS
};

/* How a request ended (label outcome). */
enum metrics_outcome {
    METRICS_APPROVED,
    METRICS_DENIED,
    METRICS_TIMED_OUT,
    METRICS_CANCELED,
    METRICS_ANSWERED, /* an input request's answer */
    METRICS_OUTCOMES
};

/* What a Telegram Bot API call came to (label result; tg.h's outcomes). */
enum metrics_tg_result {
    METRICS_TG_OK,
    METRICS_TG_RATE_LIMITED, /* 429 */
    METRICS_TG_RETRY,        /* network trouble, 5xx, garbage */
    METRICS_TG_PERMANENT,    /* 400/403 */
    METRICS_TG_TOKEN_REFUSED,
    METRICS_TG_RESULTS
};

/* What an agent webhook attempt came to (label outcome). */
enum metrics_hook_result {
    METRICS_HOOK_DELIVERED,
    METRICS_HOOK_RETRY,
    METRICS_HOOK_REFUSED,
    METRICS_HOOK_RESULTS
};

/*
 * The master, before it forks: map the shared block (room for 256 worker
 * slots). When it cannot (logged), each process records into its own block
 * and /metrics shows only the worker that answers.
 */
void metrics_init(void);

/*
 * Add a route pattern (a string that lives as long as the process: the
 * route table's) to the fixed set of route labels. Before fork, from
 * api_metrics_routes(); the same pattern added twice has one label.
 */
void metrics_route_add(const char *route);

/* A worker, first thing after fork: it is worker `slot` (0 .. 255). */
void metrics_worker_begin(int slot);

/*
 * The master reaped the worker of `slot`: clear its gauges, keep its CPU
 * time (`ru` from wait4; NULL when unknown).
 */
void metrics_worker_gone(int slot, const struct rusage *ru);

/* The master started a worker in place of one that died. */
void metrics_worker_restarted(void);

/*
 * One HTTP exchange ended: `route` (the route table pattern, or "(none)"),
 * `method`, the `status` answered and `start` (CLOCK_MONOTONIC at its
 * start). Lock-free; the hot path.
 */
void metrics_http(const char *route, const char *method, int status, const struct timespec *start);

/* A request of `type` (confirmation, choice, input) was stored. */
void metrics_submitted(const char *type);

/*
 * `n` requests ended with `outcome` through `channel`; `seconds` from
 * submit to decision (each of them), or < 0 when not known (then the
 * decision_seconds histogram is not touched).
 */
void metrics_decided(enum metrics_outcome outcome, enum metrics_channel channel, long n,
                     double seconds);

/* A long-poll starts (+1) or stops (-1) waiting for a human in this process. */
void metrics_waiting(int delta);

/* A Bot API call of `method` came to `result`. */
void metrics_tg_call(const char *method, enum metrics_tg_result result);

/* An agent webhook attempt came to `result`. */
void metrics_webhook(enum metrics_hook_result result);

/* A borrower waited `us` microseconds for a pooled database connection (and got none: `gave_up`).
 */
void metrics_db_pool_wait(int64_t us, bool gave_up);

/* The LISTEN connection was opened again after it was lost. */
void metrics_listener_reconnect(void);

/*
 * The janitor deleted `rows` rows of `table` (outbox, tg_updates,
 * mcp_sessions, requests, votes, audit_log, console_sessions, console_links,
 * tg_logins; anything else counts as "other").
 */
void metrics_janitor_deleted(const char *table, long rows);

/* Outbox kinds of the loopgate_outbox_* gauges, in order; "other" last. */
#define METRICS_OUTBOX_KINDS 7
extern const char *const metrics_outbox_kinds[METRICS_OUTBOX_KINDS];

/* What the database says at scrape time; `ok` false leaves those gauges out. */
struct metrics_db {
    bool ok;
    int64_t pending;                                /* requests pending */
    int64_t outbox_depth[METRICS_OUTBOX_KINDS];     /* queued rows per kind */
    double outbox_oldest_age[METRICS_OUTBOX_KINDS]; /* seconds; 0 when none is queued */
};

/* Index of an outbox kind in metrics_outbox_kinds (the last, "other", when unknown). */
int metrics_outbox_kind(const char *kind);

/*
 * Append the Prometheus text exposition (format 0.0.4) of every figure,
 * `db`'s gauges and the process_* figures of the master and its workers
 * (read from /proc) to `out`.
 */
void metrics_render(struct sbuf *out, const struct metrics_db *db);

#endif
