/*
 * store.h - every SQL statement Loopgate runs against its tables.
 *
 * Each function borrows a connection from the pool (db.h) for its own span,
 * runs one round trip where it can, and answers with a new JSON reference
 * shaped by shape.c, or -1 with `err` filled (404/409/429/503 ...). A change
 * and its audit row are written by the same statement, so both or neither.
 */
#ifndef LG_STORE_H
#define LG_STORE_H

#include <jansson.h>

#include "util.h"
#include "validate.h"

/* Who is acting, for the audit trail: tenant plus a printable actor name. */
struct actor {
    char tenant[ID_MAX_BYTES + 1];
    char name[96];
};

/* SELECT 1: readiness of the database. */
int store_ping(struct lg_error *err) LG_MUST_CHECK;

/* Look up an API key by its SHA-256 hex; 0 found, 1 unknown or revoked, -1 error. */
int store_key_lookup(const char *key_hash, struct actor *who, struct lg_error *err) LG_MUST_CHECK;

int store_session_register(const struct actor *who, const struct register_in *in, json_t **out,
                           struct lg_error *err) LG_MUST_CHECK;
int store_session_get(const struct actor *who, const char *session_id, json_t **out,
                      struct lg_error *err) LG_MUST_CHECK;
int store_session_deactivate(const struct actor *who, const char *session_id, json_t **out,
                             struct lg_error *err) LG_MUST_CHECK;

/*
 * Insert a request. With `idem_key`, a second submit with the same key and
 * `body_hash` answers the first request; a different body is a 409.
 */
int store_request_submit(const struct actor *who, const struct submit_in *in, const char *idem_key,
                         const char *body_hash, int max_pending, json_t **out,
                         struct lg_error *err) LG_MUST_CHECK;
int store_request_poll(const struct actor *who, const char *id, json_t **out,
                       struct lg_error *err) LG_MUST_CHECK;
int store_request_pending(const struct actor *who, const char *session_id, json_t **out,
                          struct lg_error *err) LG_MUST_CHECK;
int store_request_cancel(const struct actor *who, const char *id, json_t **out,
                         struct lg_error *err) LG_MUST_CHECK;

/* API key administration (CLI). */
int store_key_create(const char *tenant, const char *name, const char *key_hash, const char *prefix,
                     struct lg_error *err) LG_MUST_CHECK;
int store_key_list(json_t **out, struct lg_error *err) LG_MUST_CHECK;
/* Revoke by id or prefix; 0 revoked, 1 no such active key, -1 error. */
int store_key_revoke(const char *id_or_prefix, struct lg_error *err) LG_MUST_CHECK;

#endif
