/*
 * console_tglogin.h - signing in to the console through Telegram.
 *
 * GET /console/api/telegram-login is the login_url of the "Open in console"
 * button (tgmsg_login_button): Telegram opens it with the person's signed
 * authorization data added to our ?r=<request id>. The answer is always a
 * 303 for the browser: to /console/#/requests/<r> with a console session
 * cookie, or to /console/#error=<code> (rate_limited, invalid, expired,
 * forbidden, unavailable), never a JSON body.
 */
#ifndef LG_CONSOLE_TGLOGIN_H
#define LG_CONSOLE_TGLOGIN_H

#include "http.h"

/*
 * The handler (route table, AUTH_NONE: the data vouches for the person).
 * 1. At most CONSOLE_LOGIN_PER_MINUTE attempts a minute per client address
 *    (REMOTE_ADDR), shared by every worker.
 * 2. The data is Telegram's for this bot's token and fresh (tglogin_check).
 * 3. It is used once: the SHA-256 of its hash is taken in tg_logins (024).
 * 4. `r` is required and only names the request to open; its tenant is the
 *    session's tenant. A Telegram id in console_admins signs in as admin of
 *    that tenant; anyone else as an approver, and only when the console
 *    would show them that request (its session, or the one it was
 *    escalated to, lists them); else forbidden.
 * 5. A session opens as telegram:<id> (console_session_start, audited as
 *    console_login via telegram); a refusal of a login that named a request
 *    is audited as console_login_refused in that request's tenant.
 * The query (it holds the hash) is never logged.
 */
void console_telegram_login(struct http_req *r);

#endif
