/*
 * store_audit.h - reading the audit trail and its chain heads, for `loopgate
 * audit export|verify` (audit.h). The chain itself is written by the
 * database (sql/functions/audit_log_chain.sql) whichever statement inserts
 * a row; nothing here writes.
 */
#ifndef LG_STORE_AUDIT_H
#define LG_STORE_AUDIT_H

#include <stdbool.h>

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

/* A tenant's chain head (audit_heads): its last seq and that row's hash. */
struct audit_head {
    const char *tenant;
    const char *seq;
    const char *row_sha256;
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

#endif
