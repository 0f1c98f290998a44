/*
 * store.h - Loopgate's tables in PostgreSQL, one file per aggregate:
 *
 *   store_requests.h   requests: submit, poll, pending, cancel, callbacks, expiry
 *   submit_batch.h     the submit batcher (several submits in one statement)
 *   store_sessions.h   agent sessions
 *   store_keys.h       API keys and webhook signing secrets
 *   store_outbox.h     the outbox: lanes, leases, outcomes, Telegram pacing
 *   store_tg.h         Telegram updates, presses, bots, the update window
 *   store_mcp.h        MCP sessions
 *   store_audit.h      the audit trail and its chain heads, read for export and verify
 *   store_console.h    the approval console: login links, console sessions, what a user sees
 *
 * Each function borrows a connection from the pool (db.h) for its own span,
 * runs one round trip where it can, and answers with a new JSON reference
 * shaped by shape.c or a struct, or -1 with `err` filled (404/409/429/503
 * ...). A change and its audit row are written by the same statement, so
 * both or neither. This file holds what belongs to no aggregate.
 */
#ifndef LG_STORE_H
#define LG_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

/* SELECT 1: readiness of the database. */
int store_ping(struct lg_error *err) LG_MUST_CHECK;

/*
 * The schema's migrations against a binary's: whether `newest` is applied
 * (*has_newest), and the applied versions missing from the PostgreSQL text
 * array `known` ("{001_init,...}"), comma-separated in unknown[len] (empty:
 * none). -1 with `err` when the database could not be read.
 */
int store_schema_versions(const char *newest, const char *known, bool *has_newest, char *unknown,
                          size_t len, struct lg_error *err) LG_MUST_CHECK;

/*
 * Deliveries stuck for more than `max_age_s` seconds: queued rows due that
 * long ago and still not sent, and Telegram rows that have kept failing
 * that long (an agent's webhook that keeps failing is its endpoint's
 * trouble, not ours). Their number, the age in seconds of the oldest, and
 * their kinds, comma-separated, in kinds[len].
 */
int store_outbox_stuck(int max_age_s, long *count, long *oldest_s, char *kinds, size_t len,
                       struct lg_error *err) LG_MUST_CHECK;

#endif
