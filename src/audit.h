/*
 * audit.h - `loopgate audit export|verify`: the audit trail written out in
 * chain order, and its hash chain recomputed and checked (docs/AUDIT.md).
 */
#ifndef LG_AUDIT_H
#define LG_AUDIT_H

#include "config.h"

int audit_main(struct config *cfg, int argc, char **argv);

#endif
