/*
 * tgmsg.h - the Telegram messages of a request, as Bot API parameters.
 *
 * Pure: builds JSON parameters for sendMessage / editMessageText from a
 * request row. Text is HTML with everything from the agent escaped, and fits
 * Telegram's 4096 characters (UTF-16 code units of the visible text) with
 * room left for the decision line an edit adds later. A message that had to
 * be cut says so, says how to read it whole, and offers only its deny
 * buttons. Agent text is set apart in blockquotes.
 */
#ifndef LG_TGMSG_H
#define LG_TGMSG_H

#include <stdbool.h>
#include <stddef.h>

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

/* "Recorded: <label>", what the presser of a button is answered with (malloc'd). */
char *tgmsg_recorded(const char *label);

#define TGMSG_MARK_APPROVE "\xE2\x9C\x85" /* ✅ */
#define TGMSG_MARK_DENY "\xE2\x9D\x8C"    /* ❌ */

/*
 * The text of the button for `c`: its label after ✅ (approves) or ❌
 * (denies), unless the label already starts with that mark (malloc'd).
 */
char *tgmsg_button_text(const struct tg_choice *c);

/* Whether button `c` of `r` is refused: any approving button of a message that had to be cut. */
bool tgmsg_refused(const struct lg_request *r, const struct tg_choice *c, bool truncated);

/*
 * The buttons of the message sent for `r` (cut when `truncated`), in keyboard
 * order, as requests.tg_buttons keeps them for tg_press (sql/008_press.sql):
 * [{"label", "approve", "refused", "answer"}] (new reference).
 */
json_t *tgmsg_buttons(const struct lg_request *r, bool truncated);

/* sendMessage parameters (without chat_id); *truncated says whether text was cut. */
json_t *tgmsg_request(const struct lg_request *r, bool *truncated);

/* editMessageText parameters (without chat_id, message_id): the final state, no keyboard. */
json_t *tgmsg_final(const struct lg_request *r);

/* UTF-16 code units of a UTF-8 string: Telegram's measure of length. */
size_t tgmsg_utf16_len(const char *s);

/* Append `s` HTML-escaped (<, >, &, ") to `b`. */
void tgmsg_escape(struct sbuf *b, const char *s);

#endif
