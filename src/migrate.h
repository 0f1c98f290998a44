/*
 * migrate.h - `loopgate migrate`: apply the SQL files of sql/ in order.
 *
 * The files are embedded in the binary at build time (build/sql_embed.c), so
 * an installed binary carries exactly the schema it was written for.
 */
#ifndef LG_MIGRATE_H
#define LG_MIGRATE_H

struct migration {
    const char *version; /* file name without .sql, e.g. "001_init" */
    const char *sql;
};

extern const struct migration migrations[];
extern const int migrations_count;

/* Apply what is missing; prints what it did. Returns an exit code. */
int migrate_run(const char *conninfo, int quiet);

#endif
