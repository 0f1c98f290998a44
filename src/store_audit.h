/*
 * store_audit.h - reading the audit trail and its chain heads, for `loopgate
 * audit export|verify` (audit.h). The chain itself is written by the
 * database (sql/functions/audit_log_chain.sql) whichever statement inserts
 * a row; the only write here is the record of an export (store_audit_mark).
 */
#ifndef LG_STORE_AUDIT_H
#define LG_STORE_AUDIT_H

#include <stdbool.h>
#include <stdint.h>

#include "util.h"

/*
 * One audit row, every column as PostgreSQL prints it (timestamps in ISO
 * form and UTC, uuid in lower case, jsonb in its canonical text), NULL for
 * SQL NULL. Borrowed: valid during the callback only.
 */
struct audit_row {
    const char *id;
    const char *tenant;
    const char *seq;
    const char *at;
    const char *request_id;
    const char *session_id;
    const char *actor;
    const char *action;
    const char *detail;
    const char *prev_sha256;
    const char *row_sha256;
};

/*
 * A tenant's chain head (audit_heads): its last seq and that row's hash;
 * and where its chain now starts when the janitor removed exported rows
 * (audit_retention): the last removed seq and its hash (NULL: none removed).
 */
struct audit_head {
    const char *tenant;
    const char *seq;
    const char *row_sha256;
    const char *pruned_seq;
    const char *pruned_sha256;
};

struct audit_scan {
    const char *tenant; /* only this tenant; NULL: every tenant */
    const char *since;  /* only rows at or after this timestamptz text; NULL: all */
    /* Each head, before any row; NULL: heads are not read. Non-zero stops the scan. */
    int (*on_head)(const struct audit_head *h, void *arg);
    /* Each row, grouped by tenant, in chain order (seq; rows without one last). */
    int (*on_row)(const struct audit_row *r, void *arg);
    void *arg;
};

/*
 * Read the heads, then stream the rows one at a time (memory does not grow
 * with the trail), all in one REPEATABLE READ snapshot, so heads and rows
 * agree. 0 when done, 1 when a callback stopped it, -1 with `err` filled.
 */
int store_audit_scan(const struct audit_scan *q, struct lg_error *err) LG_MUST_CHECK;

/*
 * Record that rows `first`..`last` of `tenant`'s chain were exported
 * without a gap (`last_sha256`: row `last`'s hash). The tenant's exported
 * seq moves up to `last` only when the run joins on to what was recorded
 * before (first <= exported seq + 1, or first is the chain's first
 * remaining row); else nothing changes. *marked is the exported seq now
 * recorded. 0 or -1.
 */
int store_audit_mark(const char *tenant, int64_t first, int64_t last, const char *last_sha256,
                     int64_t *marked, struct lg_error *err) LG_MUST_CHECK;

#endif
