/*
 * store_janitor.h - the statements of retention (janitor.h): each deletes
 * one bounded batch of old rows from one table, in its own short
 * transaction, on the janitor's own connection.
 *
 * 1. One janitor at a time across every host: store_janitor_lock() takes a
 *    session-level advisory lock (JANITOR_LOCK) on that connection with
 *    pg_try_advisory_lock. It is held until the connection closes, which
 *    ends every run: a janitor that dies mid-run frees it with its socket.
 * 2. What goes (see each kind below) is decided by the statement, never by
 *    rows read first: a row that changed meanwhile is not deleted.
 * 3. Audit rows: the session sets loopgate.audit_prune = on, which the
 *    append-only trigger (sql/functions/audit_log_append_only.sql) honours
 *    only for rows below their tenant's exported seq; rows go oldest first
 *    and only as an unbroken start of the chain, and audit_retention records
 *    the last one removed so that `loopgate audit verify` starts after it.
 */
#ifndef LG_STORE_JANITOR_H
#define LG_STORE_JANITOR_H

#include <stdbool.h>

#include "db.h"
#include "util.h"

/* The advisory lock's two keys (pg_try_advisory_lock(int, int)). */
#define JANITOR_LOCK_NS 1819242087
#define JANITOR_LOCK_ID 2

enum janitor_kind {
    JK_OUTBOX,           /* delivered, failed or skipped outbox rows finished `age` days ago */
    JK_TG_UPDATES,       /* processed Telegram update ids received `age` hours ago */
    JK_MCP_SESSIONS,     /* MCP sessions ended, or idle for `age` seconds */
    JK_CONSOLE_SESSIONS, /* console sessions expired `age` seconds ago */
    JK_CONSOLE_LINKS,    /* console login links expired `age` seconds ago */
    JK_TG_LOGINS,        /* Telegram logins whose replay window ended `age` seconds ago */
    JK_COUNT
};

/*
 * Open the janitor's connection to `conninfo` and try the lock: the
 * connection (new, closed with store_janitor_close) when this process holds
 * it, NULL with *busy set when another janitor does, NULL with `err` filled
 * when the database could not be reached.
 */
struct db_conn *store_janitor_open(const char *conninfo, bool *busy,
                                   struct lg_error *err) LG_MUST_CHECK;

/* Close the connection (and with it the lock). */
void store_janitor_close(struct db_conn *c);

/* Delete at most `limit` rows of `kind` older than `age`; the rows deleted or -1. */
long store_janitor_delete(struct db_conn *c, enum janitor_kind kind, int age, int limit,
                          struct lg_error *err) LG_MUST_CHECK;

/*
 * Delete at most `limit` finished requests submitted `days` ago or earlier,
 * whose deliveries are all finished, with their votes and outbox rows, in
 * one statement. The counts of each go to `requests`, `votes`, `outbox`.
 * 0 or -1.
 */
int store_janitor_requests(struct db_conn *c, int days, int limit, long *requests, long *votes,
                           long *outbox, struct lg_error *err) LG_MUST_CHECK;

/*
 * Remove at most `limit` audit rows of the first tenant after `after` (""
 * for the first) that has exported rows to remove: the start of its chain,
 * rows written `days` ago or earlier, below its exported seq. The tenant
 * goes to `tenant` ("" when none is left) and the count to *rows. 0 or -1.
 */
int store_janitor_audit(struct db_conn *c, const char *after, int days, int limit, char *tenant,
                        size_t tenant_len, long *rows, struct lg_error *err) LG_MUST_CHECK;

#endif
