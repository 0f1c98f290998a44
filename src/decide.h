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
 * True when a plain-string option (or a typed answer) means "no": it
 * contains, as a whole word and ignoring case, one of the deny words
 * (deny, reject, cancel, no, abort, decline, stop, hold, ...).
 */
bool decide_label_denies(const char *label);

/* The deny words, NULL-terminated, for documentation and tests. */
extern const char *const decide_deny_words[];

/* Format callback_data for option `idx` of request `id`; -1 if it does not fit. */
int decide_callback_format(const char *id, int idx, char *out, size_t outlen) LG_MUST_CHECK;

/* Parse callback_data; -1 unless it is "<uuid>:<0-99>". `id` gets 37 bytes. */
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
