/*
 * tglogin.h - checking the authorization data of a Telegram login.
 *
 * The model:
 *
 *   1. A request message may carry an inline button with a login_url
 *      (tgmsg_login_button): <PUBLIC_URL>/console/api/telegram-login?r=<request id>.
 *      When a person taps it, Telegram opens that URL with the person's
 *      authorization data added to the query string: id, first_name,
 *      last_name, username, photo_url, auth_date and hash (the optional ones
 *      only when the person has them).
 *   2. hash is hex(HMAC-SHA-256(data-check-string, SHA-256(bot token))); the
 *      data-check-string is every field Telegram added except hash, sorted
 *      by key, as key=value joined by "\n". Telegram signs only the fields
 *      it adds: `r`, which was already in the URL we gave it, is not signed
 *      and is left out of the string. So `r` is untrusted: it is only ever a
 *      request id (a UUID) that says which request to open; whether the
 *      person may see it is decided from the signed id alone.
 *   3. The query is bounded (at most TGLOGIN_FIELDS_MAX fields, each key
 *      and value of bounded length, the documented keys and `r` only, each
 *      at most once); anything else is refused before any hashing.
 *   4. auth_date is at most TGLOGIN_MAX_AGE seconds old and at most
 *      TGLOGIN_MAX_SKEW seconds in the future. The caller makes each hash
 *      single use (it stores the hash's SHA-256 until the data expires).
 *
 * Pure: no network, no database, no clock (the caller passes now).
 */
#ifndef LG_TGLOGIN_H
#define LG_TGLOGIN_H

#include <stdint.h>

#include "util.h"

#define TGLOGIN_QUERY_MAX 4096 /* bytes of the whole query string */
#define TGLOGIN_FIELDS_MAX 8   /* the seven documented fields and r */
#define TGLOGIN_VALUE_MAX 512  /* bytes of one decoded value */
#define TGLOGIN_MAX_AGE 600    /* seconds auth_date may be in the past */
#define TGLOGIN_MAX_SKEW 60    /* seconds auth_date may be in the future */

/* The person Telegram vouched for, from a checked query. */
struct tglogin {
    int64_t id;                             /* Telegram user id, > 0 */
    int64_t auth_date;                      /* Unix time Telegram signed the data */
    char first_name[TGLOGIN_VALUE_MAX + 1]; /* "" when absent */
    char last_name[TGLOGIN_VALUE_MAX + 1];  /* "" when absent */
    char username[TGLOGIN_VALUE_MAX + 1];   /* "" when absent */
    char hash[65];                          /* the received hash, lower-case hex */
    char request_id[37]; /* `r`, a canonical UUID (unsigned), or "" when absent */
};

/*
 * Check the query string of a Telegram login (`query`, as the browser sent
 * it, percent-encoded) against the bot token `bot_token` at Unix time
 * `now`. 0 and *out filled when the data is Telegram's, for this bot, and
 * fresh; -1 otherwise, with `err` saying why: code "expired" (status 401)
 * for authentic data past TGLOGIN_MAX_AGE, code "invalid" (status 400 for a
 * malformed query, 401 for a wrong hash, an empty token or a date in the
 * future) for everything else. The message never quotes the hash.
 */
int tglogin_check(const char *query, const char *bot_token, int64_t now, struct tglogin *out,
                  struct lg_error *err) LG_MUST_CHECK;

/*
 * The display name of a checked login, as a Telegram vote names its
 * person: "First Last @username", or "user <id>" when all are empty;
 * cut on a character boundary to fit out[n].
 */
void tglogin_name(const struct tglogin *l, char *out, size_t n);

#endif
