/*
 * decide.c - see decide.h.
 */
#include "decide.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *const decide_deny_words[] = {
    "deny",  "denied",     "reject",  "rejected", "cancel", "canceled", "cancelled", "no",
    "nope",  "abort",      "decline", "declined", "stop",   "hold",     "wait",      "pause",
    "later", "postpone",   "refuse",  "refused",  "veto",   "block",    "never",     "don't",
    "dont",  "disapprove", "halt",    "skip",     "review", "escalate", "not",       NULL,
};

/* Bytes of the apostrophe at `p`: ' or the typographic U+2019 phones type; 0 if none. */
static size_t apostrophe(const char *p)
{
    if (*p == '\'')
        return 1;
    if (p[0] == '\xE2' && p[1] == '\x80' && p[2] == '\x99')
        return 3;
    return 0;
}

bool decide_label_denies(const char *label)
{
    const char *p = label;

    while (*p) {
        char word[32];
        const char *w;
        size_t n = 0, a;

        /*
         * A word is a run of ASCII letters and apostrophes; emoji and
         * punctuation split. Apostrophes around a word are quotes: 'no' is no.
         */
        while (*p && !isalpha((unsigned char)*p) && !apostrophe(p))
            p++;
        for (;;) {
            if (isalpha((unsigned char)*p)) {
                if (n + 1 < sizeof(word))
                    word[n++] = (char)tolower((unsigned char)*p);
                p++;
            } else if ((a = apostrophe(p)) > 0) {
                if (n + 1 < sizeof(word))
                    word[n++] = '\'';
                p += a;
            } else {
                break;
            }
        }
        while (n > 0 && word[n - 1] == '\'')
            n--;
        word[n] = '\0';
        for (w = word; *w == '\''; w++)
            ;
        if (!*w)
            continue;
        for (int i = 0; decide_deny_words[i]; i++)
            if (!strcmp(w, decide_deny_words[i]))
                return true;
    }
    return false;
}

int decide_callback_format(const char *id, int idx, char *out, size_t outlen)
{
    if (!uuid_valid(id) || idx < 0 || idx > 99)
        return -1;
    return lg_snprintf(out, outlen, "%s:%d", id, idx) < 0 ? -1 : 0;
}

int decide_callback_parse(const char *data, char id[37], int *idx)
{
    const char *colon;
    int64_t v;

    if (!data || strlen(data) > CALLBACK_DATA_MAX)
        return -1;
    colon = strchr(data, ':');
    if (!colon || colon - data != 36)
        return -1;
    memcpy(id, data, 36);
    id[36] = '\0';
    if (!uuid_valid(id) || strlen(colon + 1) > 2 || parse_int64(colon + 1, &v) < 0 || v < 0)
        return -1;
    *idx = (int)v;
    return 0;
}

static bool contains(const int64_t *set, size_t n, int64_t v)
{
    for (size_t i = 0; i < n; i++)
        if (set[i] == v)
            return true;
    return false;
}

bool decide_authorized(const struct approver_policy *p, int64_t user_id)
{
    bool ok;

    if (user_id <= 0)
        return false;
    if (p->napprovers > 0)
        ok = contains(p->approvers, p->napprovers, user_id);
    else if (p->chat_id > 0)
        ok = user_id == p->chat_id;
    else
        ok = p->group_any_member;
    if (ok && p->nallow > 0)
        ok = contains(p->allow, p->nallow, user_id);
    return ok;
}

int decide_parse_int_array(const char *text, int64_t *out, size_t max)
{
    const char *p = text;
    size_t n = 0;

    if (!p || *p++ != '{')
        return -1;
    if (*p == '}')
        return p[1] ? -1 : 0;
    for (;;) {
        char *end;
        long long v;

        /* strtoll alone would also take leading space and a '+', and saturate. */
        if ((*p != '-' && !isdigit((unsigned char)*p)) || n >= max)
            return -1;
        errno = 0;
        v = strtoll(p, &end, 10);
        if (end == p || errno)
            return -1;
        out[n++] = v;
        p = end;
        if (*p == '}')
            return p[1] ? -1 : (int)n;
        if (*p++ != ',')
            return -1;
    }
}

int decide_parse_bool_array(const char *text, bool *out, size_t max)
{
    const char *p = text;
    size_t n = 0;

    if (!p || *p++ != '{')
        return -1;
    if (*p == '}')
        return p[1] ? -1 : 0;
    for (;;) {
        if ((*p != 't' && *p != 'f') || n >= max)
            return -1;
        out[n++] = *p++ == 't';
        if (*p == '}')
            return p[1] ? -1 : (int)n;
        if (*p++ != ',')
            return -1;
    }
}
