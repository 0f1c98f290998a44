/*
 * janitor.h - retention: old rows deleted in small batches, by one process
 * at a time across every host.
 *
 * 1. Every worker process runs one janitor thread. Soon after the worker
 *    starts, and then every janitor_interval seconds, it opens a connection
 *    of its own and tries the janitor's
 *    advisory lock (store_janitor.h); the one that gets it runs, the others
 *    go back to sleep. So however many workers and hosts share a database,
 *    one run at a time deletes, and a host that goes away leaves the job to
 *    the next. The lock and the session's loopgate.audit_prune belong to a
 *    session: the connection is db_listen_uri's (else db_uri's, never with
 *    db_transaction_pooling), and a run is skipped while the listener has
 *    not found db_listen_uri to reach PostgreSQL itself (notify.h point 6):
 *    through a pooler in transaction mode both would stay on a server
 *    connection that other clients get next. Nor does a run go on when
 *    the listener, or the run's own session, finds db_listen_uri in another
 *    database than db_uri's (db_identity): it would prune that database.
 * 2. A run walks the tables in a fixed order, each in batches of
 *    janitor_batch rows, every batch its own statement and transaction,
 *    with a pause between batches, so the rows it locks are few and held
 *    for a moment. What goes:
 *      outbox            delivered, failed or skipped rows finished 7 days ago
 *      tg_updates        processed update ids past telegram_update_window_hours
 *      mcp_sessions      ended sessions, and those idle for mcp_session_idle
 *      console_sessions, console_links, tg_logins   an hour past their expiry
 *      requests          finished requests submitted retention_days ago (0: never),
 *                        with their votes and outbox rows
 *      audit_log         only with audit_retention_days set: rows that old that
 *                        `loopgate audit export --mark` wrote out, oldest first
 * 3. Each run logs one info line with the rows deleted per table, and adds
 *    them to this process's totals (janitor_totals).
 * 4. Settings are read from config_current() at the start of each run. A
 *    reload (SIGHUP) wakes the thread (janitor_wake): the next run comes
 *    janitor_interval (the new one) after the last, at once when that is
 *    past, and uses the new retention settings.
 */
#ifndef LG_JANITOR_H
#define LG_JANITOR_H

#include "util.h"

enum janitor_table {
    JT_OUTBOX,
    JT_TG_UPDATES,
    JT_MCP_SESSIONS,
    JT_CONSOLE_SESSIONS,
    JT_CONSOLE_LINKS,
    JT_TG_LOGINS,
    JT_REQUESTS,
    JT_VOTES,
    JT_AUDIT_LOG,
    JT_COUNT
};

/* The table's name (as in the database and the log line). */
const char *janitor_table_name(enum janitor_table t);

/* Rows this process's janitor deleted since it started, per table. */
void janitor_totals(long rows[JT_COUNT]);

/* Start the janitor thread; -1 when it could not be started. */
int janitor_start(void) LG_MUST_CHECK;

/* Stop it (a run in progress ends after its current batch) and wait for it. */
void janitor_stop(void);

/* A reload published a new configuration: apply its interval at once (point 4). */
void janitor_wake(void);

#endif
