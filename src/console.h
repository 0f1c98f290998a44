/*
 * console.h - the approval console's JSON API under /console/api/.
 *
 * 1. A person gets in with a one-time link (`loopgate console link`, which
 *    prints <base>/console/#login=<token>; the page POSTs the token to
 *    /console/api/login) or through Telegram's login (a handler of its own
 *    that calls console_session_start). Either way the browser holds a
 *    session cookie: `lg_console`, or `__Host-lg_console` with Secure when
 *    the request came over HTTPS; HttpOnly, SameSite=Strict, Path=/,
 *    twelve hours. Only SHA-256 of the cookie value is stored
 *    (store_console.h), so any worker on any host serves any console user,
 *    and a logout ends the session everywhere.
 * 2. Routes with the auth rule AUTH_CONSOLE pass console_authenticate
 *    first: no cookie, or an unknown, revoked or expired session is 401
 *    unauthenticated; a POST whose X-CSRF-Token is not the session's
 *    (constant-time compare) is 403 csrf, before its body is read.
 * 3. An approver sees and decides the requests of the sessions that list
 *    it; an admin everything of its tenant. A request the user may not see
 *    is 404 not_found (its existence is not revealed); a page the role may
 *    not use is 403 forbidden.
 * 4. A vote goes through lg_vote with channel 'console': the same rules,
 *    exactly-once decision and audit as a vote in Telegram. What an option
 *    means is its approve flag (tgmsg_choices), a typed answer approves only
 *    when decide_answer_approves says so, and edited params pass
 *    params_edit, as Telegram's /edit does.
 * 5. Login attempts are counted per client address (REMOTE_ADDR, as nginx
 *    passes it) across every worker: over CONSOLE_LOGIN_PER_MINUTE a minute
 *    is 429 rate_limited with Retry-After. Tokens, cookies and CSRF tokens
 *    are never logged.
 */
#ifndef LG_CONSOLE_H
#define LG_CONSOLE_H

#include <stddef.h>

#include "http.h"
#include "store_console.h"

#define CONSOLE_COOKIE "lg_console"
#define CONSOLE_COOKIE_SECURE "__Host-lg_console"
#define CONSOLE_SESSION_SECONDS 43200 /* 12 h */
#define CONSOLE_LINK_SECONDS 600      /* 10 min */
#define CONSOLE_LOGIN_PER_MINUTE 10

/*
 * AUTH_CONSOLE (point 2): the session of the request's cookie into `u`
 * (and its tenant and person into r->who); -1 with `err` (401
 * unauthenticated, 403 csrf, 503) otherwise.
 */
int console_authenticate(struct http_req *r, struct console_user *u,
                         struct lg_error *err) LG_MUST_CHECK;

/*
 * Open a console session for `person` ('telegram:<id>' or
 * 'console:<name>', shown as `name`) with `role` in `tenant`, audited as a
 * console_login `via` (e.g. "telegram"), and write the Set-Cookie header
 * line that carries it ("Set-Cookie: ...\r\n") into set_cookie (at least
 * 256 bytes), for the caller to send with its answer (a 303 to the page).
 * `u` (optional) receives the user with its CSRF token. -1 with `err`.
 */
int console_session_start(struct http_req *r, const char *tenant, const char *person,
                          const char *name, const char *role, const char *via, char *set_cookie,
                          size_t len, struct console_user *u, struct lg_error *err) LG_MUST_CHECK;

/* The handlers of the route table (api.c); each answers the request itself. */
void console_login(struct http_req *r);
void console_logout(struct http_req *r);
void console_me(struct http_req *r);
void console_pending(struct http_req *r);
void console_request(struct http_req *r);
void console_vote(struct http_req *r);
void console_history(struct http_req *r);
void console_sessions(struct http_req *r);
void console_audit_export(struct http_req *r);
void console_audit_verify(struct http_req *r);
void console_events(struct http_req *r);

/*
 * `loopgate console link [--tenant T] [--user ID] [--name NAME] [--role
 * approver|admin] [--base URL]`: store a login link and print it.
 */
int console_main(const struct config *cfg, int argc, char **argv);

#endif
