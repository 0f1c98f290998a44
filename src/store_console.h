/*
 * store_console.h - the approval console's rows: login links, console
 * sessions, the login rate window, and the requests a console user may see
 * and decide.
 *
 * 1. Secrets (a link's token, a session's cookie value) never reach the
 *    database: only their SHA-256 (token_new, util.h) is stored and looked
 *    up. The CSRF token of a session is stored as it is: the page reads it
 *    back from GET /console/api/me.
 * 2. A user sees (and may decide) a request of its tenant when it is an
 *    admin, or when the request's session, or the session it was escalated
 *    to (021), lists it: its Telegram user id in `approvers` or its console
 *    name in `console_approvers` (022). Every read of a request here checks
 *    that in its WHERE clause; a request the user may not see is the same
 *    as one that does not exist.
 * 3. Every change (a link made, a login, a refused login of a known link, a
 *    logout) and its audit row are one statement.
 */
#ifndef LG_STORE_CONSOLE_H
#define LG_STORE_CONSOLE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "util.h"
#include "validate.h"

/* The longest `person` text: "console:" + CONSOLE_NAME_MAX, or "telegram:" + int64. */
#define CONSOLE_PERSON_MAX 80

/* Who a console session or link stands for. */
struct console_user {
    char tenant[ID_MAX_BYTES + 1];
    char person[CONSOLE_PERSON_MAX + 1];     /* telegram:<id> | console:<name> */
    char name[257];                          /* shown: the console name or a Telegram name */
    char role[16];                           /* approver | admin */
    char csrf[48];                           /* the session's CSRF token ("" for a link) */
    char expires_at[32];                     /* the API's timestamp form */
    int64_t telegram_id;                     /* > 0 for telegram:<id>, else 0 */
    char console_name[CONSOLE_NAME_MAX + 1]; /* <name> of console:<name>, else "" */
};

/*
 * Fill the identity fields of `u` from tenant, person, shown name and role;
 * -1 (400 invalid_field) when the person is neither 'telegram:<positive
 * id>' nor 'console:<name>' or the role is neither approver nor admin.
 */
int console_user_set(struct console_user *u, const char *tenant, const char *person,
                     const char *name, const char *role, struct lg_error *err) LG_MUST_CHECK;

/*
 * Store a login link for `u` with token hash `sha`, valid for `ttl`
 * seconds, audited as console_link_created by `actor`. Its expiry goes to
 * u->expires_at.
 */
int store_console_link_create(struct console_user *u, const char *sha, int ttl, const char *actor,
                              struct lg_error *err) LG_MUST_CHECK;

/*
 * Take the link whose token hashes to `link_sha` (unused, unexpired: it is
 * used from now on) and open a session for its user with cookie hash
 * `session_sha` and `csrf`, for `max_age` seconds. 0 with `u` filled; 1
 * when the link is unknown, used or expired (a known link's refusal is
 * audited as console_login_refused); -1 on failure. `remote` (the client
 * address) goes to the audit detail.
 */
int store_console_login(const char *link_sha, const char *session_sha, const char *csrf,
                        int max_age, const char *remote, struct console_user *u,
                        struct lg_error *err) LG_MUST_CHECK;

/*
 * Open a session for `u` (identity set, u->csrf filled by the caller) with
 * cookie hash `session_sha` for `max_age` seconds, audited as console_login
 * with `via` (e.g. "telegram"); u->expires_at is filled.
 */
int store_console_session_create(struct console_user *u, const char *session_sha, int max_age,
                                 const char *via, const char *remote,
                                 struct lg_error *err) LG_MUST_CHECK;

/* The live session with cookie hash `sha`: 0 with `u` filled, 1 none (or revoked, expired). */
int store_console_session_get(const char *sha, struct console_user *u,
                              struct lg_error *err) LG_MUST_CHECK;

/* Revoke the session with cookie hash `sha` (audited console_logout). */
int store_console_logout(const char *sha, const char *remote, struct lg_error *err) LG_MUST_CHECK;

/*
 * Count one attempt under `key` in the current one-minute window: 0 within
 * `limit`, 1 over it with *retry_after the seconds to the next window.
 */
int store_console_rate(const char *key, int limit, int *retry_after,
                       struct lg_error *err) LG_MUST_CHECK;

/* {"requests":[summary...],"count":N}: the pending requests `u` may see, oldest first. */
int store_console_pending(const struct console_user *u, json_t **out,
                          struct lg_error *err) LG_MUST_CHECK;

/*
 * The detail of request `id` (<detail> of the console's API) when `u` may
 * see it; 404 not_found otherwise. For a vote it also carries
 * "_submitted_params" (the params as submitted) and "_option_approve" (what
 * each option means, PostgreSQL boolean[] text): the caller removes both
 * before answering.
 */
int store_console_request(const struct console_user *u, const char *id, json_t **out,
                          struct lg_error *err) LG_MUST_CHECK;

/*
 * Whether `u` may see (and decide) request `id` (point 2): 1 yes, 0 no (or
 * no such request), -1 on failure. One primary-key read.
 */
int store_console_can_see(const struct console_user *u, const char *id,
                          struct lg_error *err) LG_MUST_CHECK;

/* History filters; NULL: no filter. */
struct console_history_q {
    const char *session_id;
    const char *status;
    const char *since; /* RFC 3339, checked by the caller */
    const char *until;
    const char *before_at; /* the cursor: created_at and id of the last row seen */
    const char *before_id;
    int limit; /* 1-100 */
};

/* {"requests":[summary...],"next":cursor|null}, newest first. */
int store_console_history(const struct console_user *u, const struct console_history_q *q,
                          json_t **out, struct lg_error *err) LG_MUST_CHECK;

/* {"sessions":[...]} of u's tenant (the caller checked the role). */
int store_console_sessions(const struct console_user *u, json_t **out,
                           struct lg_error *err) LG_MUST_CHECK;

/* A console vote, handed to lg_vote (sql/functions/lg_vote.sql). */
struct console_vote {
    const char *request_id;
    bool approve;
    const char *response; /* the option's label or the typed text */
    const char *reason;   /* or NULL */
    json_t *params;       /* approved with edits, or NULL */
    json_t *detail;       /* the audit detail (borrowed) */
};

/*
 * Record `v` as u's vote through lg_vote, channel 'console': the same
 * exactly-once decision and audit as a Telegram vote. *result is
 * "approved", "denied" or "voted"; 409 already_voted or not_pending.
 */
int store_console_vote(const struct console_user *u, const struct console_vote *v,
                       const char **result, struct lg_error *err) LG_MUST_CHECK;

#endif
