/*
 * tgmsg.h - the Telegram messages of a request, as Bot API parameters.
 *
 * Pure: builds JSON parameters for sendMessage / editMessageText from a
 * request row. Text is HTML with everything from the agent escaped, and fits
 * Telegram's 4096 characters (UTF-16 code units of the visible text) with
 * room left for the decision line an edit adds later. A message that had to
 * be cut says so, says how to read it whole, and offers only its deny
 * buttons (and a Deny button when it has none). Agent text is set apart in
 * blockquotes and code, cleaned of controls and bidi characters (tgmsg_clean).
 */
#ifndef LG_TGMSG_H
#define LG_TGMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "shape.h"
#include "util.h"

#define TG_TEXT_MAX 4096
#define TG_MAX_CHOICES 10

/* One button: its label and whether pressing it approves. */
struct tg_choice {
    const char *label;
    bool approve;
};

/*
 * The buttons of a request: its options with their meanings, or Approve /
 * Deny for a confirmation without options; none for an input request.
 * Labels are borrowed from *hold (a new reference the caller decrefs, may be
 * NULL) or are static. Returns the count.
 */
int tgmsg_choices(const struct lg_request *r, struct tg_choice *out, json_t **hold);

/*
 * The buttons of the message sent for `r`, in keyboard order (a button's
 * index is its callback_data index): tgmsg_choices, and when the message
 * had to be cut (`truncated`) and none of them denies, a last "Deny" that
 * denies, so a person can always refuse what they could not read. `out`
 * holds TG_MAX_CHOICES + 1. Returns the count; *hold as tgmsg_choices.
 */
int tgmsg_offered(const struct lg_request *r, bool truncated, struct tg_choice *out, json_t **hold);

/*
 * Agent text made safe to show (malloc'd): C0 and C1 controls, DEL and the
 * Unicode line and paragraph separators become spaces (with `lines`, '\n'
 * stays and a run of more than two blank lines is cut to two); bidi and
 * invisible format characters (see utf8_has_unsafe) are dropped; a byte of
 * invalid UTF-8 becomes U+FFFD.
 */
char *tgmsg_clean(const char *s, bool lines);

/* "Recorded: <label>" (the label on one line): the answer to a press (malloc'd). */
char *tgmsg_recorded(const char *label);

#define TGMSG_MARK_APPROVE "\xE2\x9C\x85" /* ✅ */
#define TGMSG_MARK_DENY "\xE2\x9D\x8C"    /* ❌ */

/* The label of the button that asks for a reason and denies (DECIDE_CALLBACK_REASON). */
#define TGMSG_DENY_WITH_REASON "Deny with reason\xE2\x80\xA6"

/*
 * The text of the button for `c`: its label (on one line, see tgmsg_clean)
 * after ✅ (approves) or ❌ (denies), unless it already starts with that
 * mark (malloc'd).
 */
char *tgmsg_button_text(const struct tg_choice *c);

/* Whether button `c` of `r` is refused: any approving button of a message that had to be cut. */
bool tgmsg_refused(const struct lg_request *r, const struct tg_choice *c, bool truncated);

/*
 * The buttons of the message sent for `r` (cut when `truncated`), in keyboard
 * order, as requests.tg_buttons keeps them for tg_press (sql/functions/tg_press.sql):
 * [{"label", "approve", "refused", "answer"}] (new reference).
 */
json_t *tgmsg_buttons(const struct lg_request *r, bool truncated);

/* sendMessage parameters (without chat_id); *truncated says whether text was cut. */
json_t *tgmsg_request(const struct lg_request *r, bool *truncated);

#define TGMSG_LOGIN_OPEN "Open in console"
#define TGMSG_LOGIN_READ "Read it all"
/* The path the console's Telegram login answers at (tglogin.h). */
#define TGMSG_LOGIN_PATH "/console/api/telegram-login"

/*
 * Add to `params` (from tgmsg_request for request `request_id`) a last
 * keyboard row with one button whose login_url opens the request in the
 * console: <public_url>/console/api/telegram-login?r=<request_id>, without
 * asking to write to the person; labeled "Read it all" on a message cut to
 * fit (`truncated`), else "Open in console". The other buttons, their
 * order and callback_data stay as they are. An answer request (force_reply)
 * gets an inline keyboard with this button alone instead: a reply to the
 * message still answers it. `public_url` is the https:// origin (a
 * trailing '/' is dropped).
 */
void tgmsg_login_button(json_t *params, const char *public_url, const char *request_id,
                        bool truncated);

/* editMessageText parameters (without chat_id, message_id): the final state, no keyboard. */
json_t *tgmsg_final(const struct lg_request *r);

/* UTF-16 code units of a UTF-8 string: Telegram's measure of length. */
size_t tgmsg_utf16_len(const char *s);

/* Append `s` HTML-escaped (<, >, &, ") to `b`. */
void tgmsg_escape(struct sbuf *b, const char *s);

#endif
