/*
 * decide.h - the rules of a human decision, free of I/O.
 *
 * Which Telegram user may decide a request, what an option means (approve or
 * deny), and how a button names its request in callback_data. Pure; unit
 * tested in tests/unit/test_decide.c.
 */
#ifndef LG_DECIDE_H
#define LG_DECIDE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* callback_data is "<request uuid>:<option index>", at most 40 bytes. */
#define CALLBACK_DATA_MAX 64

/* Labels of the two buttons of a confirmation sent without options. */
#define CONFIRM_APPROVE_LABEL "Approve"
#define CONFIRM_DENY_LABEL "Deny"

/*
 * What a label says about approval, read word by word (whole words, any
 * case, Latin, Cyrillic, Greek and CJK letters; emoji are words of their
 * own; full-width ASCII reads as ASCII; combining marks, variation
 * selectors and invisible characters are ignored):
 *   DECIDE_DENIES    it holds a deny word: a refusal (no, not, don't,
 *                    deny, ❌, 👎, ...) or another action or a hedge
 *                    (cancel, hold, rollback, later, without, ⏸, ...),
 *                    in any of the listed languages, whatever else;
 *   DECIDE_APPROVES  it holds an approval word or emoji (approve, yes, ok,
 *                    deploy, ✅, 👍, 🚀, ...), no deny word, no question
 *                    mark (? ¿ ❓ 🤔 ...), and every word in it is an
 *                    approval word or a filler word (it, please, now,
 *                    ahead, and, for, do); other emoji and punctuation
 *                    are decoration;
 *   DECIDE_UNCLEAR   anything else: a colour, a name, "Deploy tomorrow",
 *                    "Go?", nothing.
 * Only DECIDE_APPROVES approves; the other two deny.
 */
enum decide_meaning { DECIDE_UNCLEAR = 0, DECIDE_APPROVES, DECIDE_DENIES };

enum decide_meaning decide_label_meaning(const char *label);

/* True when a plain-string option approves: decide_label_meaning() is DECIDE_APPROVES. */
bool decide_label_approves(const char *label);

/* The most words a typed answer that approves may have ("yes go ahead please"). */
#define DECIDE_ANSWER_WORDS_MAX 4

/*
 * True when a typed answer approves: the whole answer means DECIDE_APPROVES
 * as a label would, has at most DECIDE_ANSWER_WORDS_MAX words, and holds
 * nothing but those words, spaces, . ! , (and ¡ 、 。 and their full-width
 * forms) and approval emoji. Anything else is an answer that denies.
 */
bool decide_answer_approves(const char *text);

/*
 * True when an option given as {label, approve} contradicts itself: with
 * approve true, its label holds a refusal (decide_refusal_words; an action
 * word such as cancel or rollback does not contradict); with approve false,
 * its label approves (decide_label_meaning() is DECIDE_APPROVES).
 */
bool decide_option_contradicts(const char *label, bool approve);

/*
 * The vocabularies, NULL-terminated, lower case UTF-8, for documentation and
 * tests. The deny words are the refusals and the action words together.
 */
extern const char *const decide_approve_words[];
extern const char *const decide_refusal_words[];
extern const char *const decide_action_words[];
extern const char *const decide_filler_words[];

/*
 * The "Deny with reason…" button's option index: its callback_data is
 * "<uuid>:r"; no option has it (options are 0-99).
 */
#define DECIDE_CALLBACK_REASON 100

/*
 * Format callback_data for option `idx` of request `id` (or its
 * DECIDE_CALLBACK_REASON button); -1 if it does not fit.
 */
int decide_callback_format(const char *id, int idx, char *out, size_t outlen) LG_MUST_CHECK;

/*
 * Parse callback_data; -1 unless it is "<uuid>:<index>", the index "0" or
 * 1-99 in ASCII digits without sign, space or leading zero, or "<uuid>:r"
 * (*idx DECIDE_CALLBACK_REASON). `id` gets 37 bytes.
 */
int decide_callback_parse(const char *data, char id[37], int *idx) LG_MUST_CHECK;

/* Who may decide the requests of one session. */
struct approver_policy {
    int64_t chat_id;          /* the session's chat: > 0 private, < 0 group */
    const int64_t *approvers; /* the session's approvers; none: see below */
    size_t napprovers;
    bool group_any_member; /* config: any member of a group chat may decide */
    const int64_t *allow;  /* config: global allow-list applied on top; none = no limit */
    size_t nallow;
};

/*
 * May Telegram user `user_id` decide? With approvers listed: only they.
 * Without: in a private chat that chat's user; in a group nobody, unless
 * group_any_member. The global allow-list, when set, must also contain the
 * user.
 */
bool decide_authorized(const struct approver_policy *p, int64_t user_id);

/* Parse a PostgreSQL integer array literal "{1,2,3}"; returns the count, -1 on junk. */
int decide_parse_int_array(const char *text, int64_t *out, size_t max);

/* Parse a PostgreSQL boolean array literal "{t,f}"; returns the count, -1 on junk. */
int decide_parse_bool_array(const char *text, bool *out, size_t max);

#endif
