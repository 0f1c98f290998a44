/*
 * store_sessions.h - the sessions agents register: which chat asks whom.
 */
#ifndef LG_STORE_SESSIONS_H
#define LG_STORE_SESSIONS_H

#include <jansson.h>

#include "actor.h"
#include "util.h"
#include "validate.h"

int store_session_register(const struct actor *who, const struct register_in *in, json_t **out,
                           struct lg_error *err) LG_MUST_CHECK;
int store_session_get(const struct actor *who, const char *session_id, json_t **out,
                      struct lg_error *err) LG_MUST_CHECK;
int store_session_deactivate(const struct actor *who, const char *session_id, json_t **out,
                             struct lg_error *err) LG_MUST_CHECK;

#endif
