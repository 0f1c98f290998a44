/*
 * audit.h - `loopgate audit export|verify`: the audit trail written out in
 * chain order, and its hash chain recomputed and checked (docs/AUDIT.md).
 */
#ifndef LG_AUDIT_H
#define LG_AUDIT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "util.h"
#include "validate.h"

/*
 * Write the trail (of `tenant`, NULL: every tenant; from `since`, NULL: all)
 * to `out` in chain order: JSON lines, or CSV with a header row; with
 * `guard`, CSV cells that a spreadsheet would take for a formula are
 * prefixed with a single quote. *rows gets the count. -1 with `err`
 * (status 0 when a row could not be written; said on stderr).
 */
int audit_export(const char *tenant, const char *since, bool csv, bool guard, FILE *out, long *rows,
                 struct lg_error *err) LG_MUST_CHECK;

/* What a verify found: ok, or the first row that breaks a chain. */
struct audit_verify_result {
    bool ok;
    long rows, tenants, broken_tenants;
    char tenant[ID_MAX_BYTES + 1]; /* the first break: tenant, seq, kind, why */
    int64_t seq;
    char kind[16];
    char why[512];
};

/*
 * Verify the chain of `tenant` (NULL: every tenant), writing the report's
 * lines to `out` (NULL: none) and the outcome to `res`. -1 with `err` when
 * the trail could not be read.
 */
int audit_verify(const char *tenant, FILE *out, struct audit_verify_result *res,
                 struct lg_error *err) LG_MUST_CHECK;

int audit_main(struct config *cfg, int argc, char **argv);

#endif
