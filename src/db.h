/*
 * db.h - the per-process PostgreSQL connection pool.
 *
 * 1. A worker process owns one pool of at most `size` connections, opened
 *    lazily. Request threads borrow a connection for the span of one store
 *    call and give it back; nobody holds one while waiting for a human.
 * 2. A borrower that finds the pool empty and full waits at most a few
 *    seconds, then gets a 503 error: a slow database never hangs a request.
 * 3. A connection that broke is closed on release and reopened on demand,
 *    so a PostgreSQL restart costs the requests in flight, not the worker.
 *    So is one whose server says it went away or cannot take writes
 *    (SQLSTATE class 08, 57P01-57P03, 25006 read-only): after a fail-over
 *    the reopened connection finds the new primary (a multi-host conninfo
 *    with target_session_attrs=read-write). Each of those is a 503
 *    "database_unavailable" to the caller, never a 500.
 * 4. Statements are prepared once per connection on first use (db_run).
 *    Behind a pooler in transaction mode (pgbouncer pool_mode=transaction)
 *    a client's next transaction may run on another server connection,
 *    where nothing is prepared and session settings do not follow: with
 *    db_set_transaction_pooling(true) statements are sent unnamed
 *    (PQexecParams: parse, bind and run in one message train), the pool's
 *    connections send no startup options, and probes set no session limits.
 * 5. Every commit waits for the disk and any synchronous standby
 *    (synchronous_commit = on), whatever the role's, database's or server's
 *    default: what an agent or a person was told must survive a crash and a
 *    fail-over. A direct connection sets it once, at startup. Behind a pooler
 *    in transaction mode, where no startup option gets through, every
 *    transaction sets it itself (SET LOCAL): a statement run outside a
 *    transaction of the caller's is sent as BEGIN, SET LOCAL, the statement,
 *    COMMIT in one pipeline (one round trip), and a BEGIN sent through
 *    db_batch or db_exec is followed by the SET LOCAL.
 */
#ifndef LG_DB_H
#define LG_DB_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "util.h"

/* Statements a connection can have prepared, over every table (struct db_table). */
#define DB_STMTS_MAX 512

struct db_conn {
    PGconn *pg;
    uint64_t prepared[DB_STMTS_MAX / 64]; /* bit i: statement i is prepared here */
    int64_t idle_since_ms;                /* now_ms() when it was given back */
    bool broken;                          /* out of step with the server: closed on release */
    bool probe;                           /* borrowed by a probe: its time limits are reset */
    struct db_conn *next;
};

/* A named SQL statement. */
struct db_stmt {
    const char *name;
    const char *sql;
    bool retry; /* safe to run again on a fresh connection if the old one was dead */
};

/*
 * The statements of one module of the store. Statement `idx` of the table
 * is statement `base + idx` of a connection's prepared set, so each table
 * takes a range of its own (store_internal.h lists them) and tables never
 * collide.
 */
struct db_table {
    const struct db_stmt *stmts;
    int n;
    int base;
};

/* Set up the process pool (no connection is opened yet). */
void db_pool_init(const char *conninfo, int size);

/*
 * The pool's connections go through a pooler in transaction mode (see point
 * 4): unnamed statements, no startup options, no session limits for probes.
 * Set once before the first db_acquire (main.c, from db_transaction_pooling).
 */
void db_set_transaction_pooling(bool on);

/* Close every idle connection (at exit, or in a child after fork). */
void db_pool_shutdown(void);

/* Borrow a connection; NULL with a 503 `err` when the database is unreachable. */
struct db_conn *db_acquire(struct lg_error *err) LG_MUST_CHECK;

/*
 * Probe mode for the calling thread (health checks, /metrics' gauges): until
 * db_probe_end, a borrower waits at most DB_PROBE_WAIT_MS for a connection
 * (then 503 "database_busy"), and the statements of each borrowed connection
 * run under statement_timeout DB_PROBE_STATEMENT_MS and lock_timeout
 * DB_PROBE_LOCK_MS. A statement stopped by either fails with 503
 * "database_busy". So a probe never waits on a lock or a slow statement for
 * longer than that, nor holds a pooled connection while it does.
 */
#define DB_PROBE_WAIT_MS 500
#define DB_PROBE_STATEMENT_MS 2000
#define DB_PROBE_LOCK_MS 1000
void db_probe_begin(void);
void db_probe_end(void);

/* Give a connection back; a broken one is closed. */
void db_release(struct db_conn *c);

/*
 * Execute statement `idx` of table `t` with text parameters (NULL = SQL NULL).
 * Returns a new PGresult (caller PQclears) or NULL; on failure fills `err`
 * (503 for a lost connection, 500 otherwise) and logs the database's message.
 * Behind a transaction pooler, outside a transaction of the caller's, the
 * statement runs in one of its own that commits durably (point 5).
 */
PGresult *db_run(struct db_conn *c, const struct db_table *t, int idx, int nparams,
                 const char *const *params, struct lg_error *err) LG_MUST_CHECK;

/* One statement of a batch: statement `idx` of the table, or `sql` (no parameters). */
struct db_step {
    int idx;
    const char *sql; /* BEGIN, COMMIT, ...; NULL for a statement of the table */
    int n;
    const char *const *params;
    PGresult *res; /* set by db_batch; the caller PQclears it */
};

/*
 * Send every step at once and read every answer (libpq pipeline mode): one
 * round trip for the lot. 0 with each step's res set, or -1 with `err` from
 * the first failure and every res NULL; the server skips the steps after a
 * failure up to the end of the batch. Behind a transaction pooler a step
 * `BEGIN ...` is followed by point 5's SET LOCAL (its answer is read here).
 */
int db_batch(struct db_conn *c, const struct db_table *t, struct db_step *steps, int n,
             struct lg_error *err) LG_MUST_CHECK;

/*
 * Run a parameterless command (BEGIN, COMMIT, ...); -1 with `err` filled.
 * A BEGIN ... is followed by point 5's SET LOCAL behind a transaction pooler.
 */
int db_exec(struct db_conn *c, const char *sql, struct lg_error *err) LG_MUST_CHECK;

/*
 * Whether SQLSTATE `state` (NULL: none) says a connection is no use any
 * more (point 3): class 08, 57P01-57P03, 25006. Who sees one marks the
 * connection broken and answers 503 "database_unavailable".
 */
bool db_fatal_state(const char *state);

/*
 * Whether `pg` is a session of PostgreSQL's own, not a client of a pooler
 * in front of it: the backend pid the server announced at connect (a pooler
 * announces one of its own making) is the one that runs `pg`'s statements.
 * One round trip. 1: PostgreSQL's own; 0: through a pooler (LISTEN and
 * session locks would land on a server connection other clients get);
 * -1 with errbuf filled when it could not be asked.
 */
int db_direct(PGconn *pg, char *errbuf, size_t errlen) LG_MUST_CHECK;

/*
 * What tells one Loopgate database from another: the cluster's
 * pg_control_system().system_identifier (shared by a primary and its
 * standbys, new in a cluster a dump was restored into), the database's name
 * on the server (current_database(): not a pooler's alias for it), and the
 * random id migration 030 wrote into database_identity (copied by pg_dump,
 * new in every database migrated from empty). Two connections reach the
 * same database when all three match.
 */
struct db_identity {
    char system[24];
    char database[64];
    char id[40];
};

/*
 * Read `pg`'s database identity in one round trip, and (when `direct` is
 * not NULL) whether `pg` is a session of PostgreSQL's own, as db_direct.
 * 0, or -1 with errbuf filled (a database not migrated to 030 has no
 * identity row).
 */
int db_identity(PGconn *pg, struct db_identity *id, int *direct, char *errbuf,
                size_t errlen) LG_MUST_CHECK;

/*
 * The identity of the database the pool (db_uri) reaches, read on a
 * borrowed connection in one statement that must answer within 5 s (a
 * pooler without a server holds it longer; the connection is then closed).
 * 0, or -1 with `err` filled.
 */
int db_pool_identity(struct db_identity *id, struct lg_error *err) LG_MUST_CHECK;

/* Whether `a` and `b` name the same database. */
bool db_identity_same(const struct db_identity *a, const struct db_identity *b);

/*
 * Open a standalone connection (CLI, listener); NULL with errbuf filled.
 * Under db_set_transaction_pooling(true) it sends no startup options either.
 */
PGconn *db_connect(const char *conninfo, char *errbuf, size_t errlen);

#endif
