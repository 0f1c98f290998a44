/*
 * migrate.h - `loopgate migrate`: the schema this binary was built for.
 *
 * Two kinds of SQL file are embedded at build time (build/sql_embed.c, by
 * src/embed_sql.sh), so an installed binary carries exactly its schema:
 *   - migrations, sql/migrations/NNN_name.sql: tables, columns, indexes and
 *     data, append-only; each applied once, in order, and recorded in
 *     schema_migrations;
 *   - objects, sql/functions/NAME.sql: functions, triggers and views, each
 *     written with CREATE OR REPLACE and holding its current definition;
 *     applied whenever their content changed, recorded by SHA-256 in
 *     schema_objects.
 * migrate.c explains the order and the rules.
 */
#ifndef LG_MIGRATE_H
#define LG_MIGRATE_H

#include <stdbool.h>

#include <stddef.h>

#include "util.h"

struct migration {
    const char *version; /* file name without .sql, e.g. "001_init" */
    int no_transaction;  /* `-- loopgate: no-transaction`: statement by statement, no transaction */
    const char *needs;   /* `-- loopgate: needs ...`: object names, space-separated, or "" */
    const char *sql;
};

struct sql_object {
    const char *name;    /* file name without .sql, e.g. "outbox_claim_tg" */
    const char *sha256;  /* hex SHA-256 of the file */
    const char *defines; /* what it creates: "function:NAME trigger:NAME ...", space-separated */
    const char *sql;
};

extern const struct migration migrations[];
extern const int migrations_count;
extern const struct sql_object sql_objects[];
extern const int sql_objects_count;

/*
 * Apply the migrations the database lacks, then the objects whose content
 * changed; prints what it did. Every lock wait of every file is bounded by
 * lock_timeout_s seconds. With `pool_uri` (db_uri under transaction
 * pooling), conninfo must reach PostgreSQL itself, not a pooler (db_direct):
 * a run holds a session lock and session settings, which a transaction
 * pooler would hand to other clients' server connections; and it must reach
 * the database pool_uri does (the same cluster and database). Returns an
 * exit code: 0, or 1 with the reason (naming the file) on stderr.
 */
int migrate_run(const char *conninfo, int lock_timeout_s, const char *pool_uri);

/*
 * Print each migration and object with its state (applied and when,
 * pending, changed, missing from the database, newer) without changing
 * anything. Returns 0 when
 * nothing is left to apply, 1 when something is, 2 when the database could
 * not be read (or, with `pool_uri`, is not the one pool_uri reaches, as
 * migrate_run).
 */
int migrate_status(const char *conninfo, const char *pool_uri);

/*
 * The start-up check of `loopgate serve`: 0 when the database holds every
 * migration of this binary and each of its objects is current (or was
 * applied by a newer release); 1 when the schema is older than this binary,
 * with `why` naming the first missing migration or stale object as
 * key=value pairs; -1 when the database could not be read (`why` says why).
 */
int migrate_check(const char *conninfo, char *why, size_t len) LG_MUST_CHECK;

/*
 * The end of the SQL statement that starts at `p` in the script `start`: its
 * ';' outside quotes, E'' strings, quoted identifiers, dollar quotes and
 * comments (block comments nest), or the script's NUL. How a no-transaction
 * migration is cut into statements (tests/unit/test_migrate.c).
 */
const char *migrate_statement_end(const char *start, const char *p);

#endif
