/*
 * tgmsg.c - see tgmsg.h.
 *
 * Layout of a request message (visible text):
 *
 *   ❓ Approval needed                  (or: Choose an option / Reply with your answer)
 *   ┃ <the agent's message>             (a blockquote)
 *
 *   ┃ client: ci-cd-pipeline            (a blockquote)
 *   ┃ session: production-deploy-bot
 *   ┃ <metadata key>: <value>           (one line per key, newlines flattened)
 *
 *   request 6f1c…  ·  expires 2026-11-25 10:05 UTC
 *   ⚠️ Shortened: …                      (only when cut)
 *
 * Everything the agent wrote sits inside the two blockquotes, escaped, so it
 * cannot draw a line that looks like one of Loopgate's own (title, footer,
 * cut note, decision), which stay outside.
 *
 * Buttons show their meaning: style "success" and a ✅ for approve, style
 * "danger" and a ❌ for deny. A message that had to be cut keeps only its
 * deny buttons: nobody approves what they could not read.
 *
 * An edit appends the decision: "✅ Approved: Deploy — by Ann at 10:01:02 UTC".
 */
#include "tgmsg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decide.h"

/* Visible characters kept free for the decision line of the final edit. */
#define DECISION_RESERVE 320
#define RESPONSE_SHOWN_MAX 200
#define META_VALUE_MAX 300

size_t tgmsg_utf16_len(const char *s)
{
    size_t n = 0;

    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p & 0xC0) == 0x80)
            continue;
        n += *p >= 0xF0 ? 2 : 1; /* 4-byte sequences are surrogate pairs */
    }
    return n;
}

void tgmsg_escape(struct sbuf *b, const char *s)
{
    const char *run = s;

    for (; *s; s++) {
        const char *rep = *s == '<'   ? "&lt;"
                          : *s == '>' ? "&gt;"
                          : *s == '&' ? "&amp;"
                          : *s == '"' ? "&quot;"
                                      : NULL;
        if (!rep)
            continue;
        sb_append(b, run, (size_t)(s - run));
        sb_puts(b, rep);
        run = s + 1;
    }
    sb_append(b, run, (size_t)(s - run));
}

/* Copy at most `units` UTF-16 units of `s`, cut at a code point boundary. */
static char *cut_utf16(const char *s, size_t units)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = 0, bytes = 0;
    char *out;

    while (p[bytes]) {
        size_t len = 1, w;
        if (p[bytes] >= 0xF0)
            len = 4;
        else if (p[bytes] >= 0xE0)
            len = 3;
        else if (p[bytes] >= 0xC0)
            len = 2;
        w = len == 4 ? 2 : 1;
        if (n + w > units)
            break;
        n += w;
        bytes += len;
    }
    out = xmalloc(bytes + 1);
    memcpy(out, s, bytes);
    out[bytes] = '\0';
    return out;
}

int tgmsg_choices(const struct lg_request *r, struct tg_choice *out, json_t **hold)
{
    bool approve[TG_MAX_CHOICES];
    int nappr = -1, n = 0;
    json_t *opts = NULL, *v;
    size_t i;

    *hold = NULL;
    if (r->option_approve)
        nappr = decide_parse_bool_array(r->option_approve, approve, TG_MAX_CHOICES);
    if (r->options_json)
        opts = json_loads(r->options_json, 0, NULL);
    if (json_is_array(opts) && json_array_size(opts) > 0) {
        json_array_foreach(opts, i, v)
        {
            if (n >= TG_MAX_CHOICES || !json_is_string(v))
                break;
            out[n].label = json_string_value(v);
            out[n].approve = (int)i < nappr ? approve[i] : decide_label_approves(out[n].label);
            n++;
        }
        *hold = opts;
        return n;
    }
    json_decref(opts);
    if (r->request_type && !strcmp(r->request_type, "confirmation")) {
        out[0] = (struct tg_choice){CONFIRM_APPROVE_LABEL, true};
        out[1] = (struct tg_choice){CONFIRM_DENY_LABEL, false};
        return 2;
    }
    return 0;
}

char *tgmsg_recorded(const char *label)
{
    struct sbuf b = {0};

    sb_puts(&b, "Recorded: ");
    sb_puts(&b, label);
    return b.p;
}

char *tgmsg_button_text(const struct tg_choice *c)
{
    const char *mark = c->approve ? TGMSG_MARK_APPROVE : TGMSG_MARK_DENY;
    struct sbuf b = {0};

    if (strncmp(c->label, mark, strlen(mark)) != 0) {
        sb_puts(&b, mark);
        sb_puts(&b, " ");
    }
    sb_puts(&b, c->label);
    return b.p;
}

bool tgmsg_refused(const struct lg_request *r, const struct tg_choice *c, bool truncated)
{
    (void)r;
    return c->approve && truncated;
}

json_t *tgmsg_buttons(const struct lg_request *r, bool truncated)
{
    struct tg_choice choices[TG_MAX_CHOICES];
    json_t *hold, *out = json_array();
    int n = tgmsg_choices(r, choices, &hold);

    for (int i = 0; i < n; i++) {
        char *answer = tgmsg_recorded(choices[i].label);

        json_array_append_new(out, json_pack("{s:s, s:b, s:b, s:s}", "label", choices[i].label,
                                             "approve", choices[i].approve, "refused",
                                             tgmsg_refused(r, &choices[i], truncated), "answer",
                                             answer));
        free(answer);
    }
    json_decref(hold);
    return out;
}

static const char *title(const struct lg_request *r)
{
    if (!strcmp(r->request_type, "confirmation"))
        return "\xE2\x9D\x93 Approval needed";
    if (!strcmp(r->request_type, "choice"))
        return "\xF0\x9F\x94\x98 Choose an option";
    return "\xE2\x9C\x8D\xEF\xB8\x8F Reply to this message with your answer";
}

/* "2026-11-25T10:05:00.123456Z" -> "2026-11-25 10:05 UTC" */
static void short_time(const char *ts, char *out, size_t n)
{
    if (!ts || strlen(ts) < 16) {
        lg_strlcpy(out, ts ? ts : "", n);
        return;
    }
    snprintf(out, n, "%.10s %.5s UTC", ts, ts + 11);
}

struct line {
    char *key; /* plain, owned */
    char *val; /* plain, owned */
};

/*
 * Agent text on one line: control characters and the Unicode line and
 * paragraph separators become spaces, in place.
 */
static void flatten(char *s)
{
    char *w = s;

    for (const char *p = s; *p;) {
        if ((unsigned char)*p < 0x20 || *p == 0x7F) {
            *w++ = ' ';
            p++;
        } else if (p[0] == '\xE2' && p[1] == '\x80' && (p[2] == '\xA8' || p[2] == '\xA9')) {
            *w++ = ' ';
            p += 3;
        } else {
            *w++ = *p++;
        }
    }
    *w = '\0';
}

/* A copy of `s` in at most `units` units; shortened ones end in "…" and set *cut. */
static char *fit(const char *s, size_t units, bool *cut)
{
    char *head, *out;
    size_t n;

    if (tgmsg_utf16_len(s) <= units)
        return xstrdup(s);
    *cut = true;
    head = cut_utf16(s, units - 1);
    n = strlen(head);
    out = xmalloc(n + 4);
    memcpy(out, head, n);
    memcpy(out + n, "\xE2\x80\xA6", 4);
    free(head);
    return out;
}

/*
 * The key/value lines: client, session, then every metadata key. *cut tells
 * whether a key was left out or a key or value shortened.
 */
static int meta_lines(const struct lg_request *r, struct line *lines, int max, bool *cut)
{
    json_t *meta = NULL;
    const char *k;
    json_t *v;
    int n = 0;

    *cut = false;
    /* Metadata stored before the nesting limit may be deeper: never parsed, shown as cut. */
    if (r->metadata_json &&
        json_depth_ok(r->metadata_json, strlen(r->metadata_json), LG_JSON_DEPTH_MAX))
        meta = json_loads(r->metadata_json, 0, NULL);
    else if (r->metadata_json)
        *cut = true;
    lines[n++] = (struct line){xstrdup("client"), xstrdup(r->client_id)};
    lines[n++] = (struct line){xstrdup("session"), xstrdup(r->session_id)};
    if (json_is_object(meta)) {
        json_object_foreach(meta, k, v)
        {
            char *text;
            if (n >= max) {
                *cut = true;
                break;
            }
            text = json_is_string(v) ? xstrdup(json_string_value(v))
                                     : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            if (!text)
                text = xstrdup("?");
            flatten(text);
            lines[n].key = fit(k, 64, cut);
            flatten(lines[n].key);
            lines[n].val = fit(text, META_VALUE_MAX, cut);
            free(text);
            n++;
        }
    }
    json_decref(meta);
    return n;
}

/*
 * Render the body; `reserve` visible units stay free for a decision line.
 * Returns a new HTML string; *truncated tells whether anything was cut.
 */
static char *render_body(const struct lg_request *r, size_t reserve, bool *truncated)
{
    char cut_note[400];
    struct line lines[64];
    bool meta_cut;
    int nlines = meta_lines(r, lines, 64, &meta_cut), shown = 0;
    char footer[160], when[40];
    size_t budget = TG_TEXT_MAX - reserve, used, msg_len;
    struct sbuf b = {0};
    char *msg;

    snprintf(cut_note, sizeof(cut_note),
             "\xE2\x9A\xA0\xEF\xB8\x8F Shortened to fit Telegram, so it cannot be approved "
             "here. Read request %s whole through the API: GET /hitl/pending lists its full "
             "message and metadata, GET /hitl/poll?request_id=%s its state.",
             r->id, r->id);
    short_time(r->expires_at, when, sizeof(when));
    snprintf(footer, sizeof(footer), "request %s  \xC2\xB7  expires %s", r->id, when);
    *truncated = false;

    /* Fixed parts: title, blank lines, footer, and room for the cut note. */
    used = tgmsg_utf16_len(title(r)) + 1 + 2 + 2 + tgmsg_utf16_len(footer);
    /* Key/value lines while they fit, keeping at least 1000 units for the message. */
    for (; shown < nlines; shown++) {
        size_t w = tgmsg_utf16_len(lines[shown].key) + 2 + tgmsg_utf16_len(lines[shown].val) + 1;
        if (used + w + 1000 + tgmsg_utf16_len(cut_note) + 1 > budget)
            break;
        used += w;
    }
    msg_len = tgmsg_utf16_len(r->message);
    if (meta_cut || shown < nlines || used + msg_len > budget) {
        *truncated = true;
        used += tgmsg_utf16_len(cut_note) + 1;
    }
    msg = used + msg_len > budget ? cut_utf16(r->message, budget - used - 1) : xstrdup(r->message);

    sb_puts(&b, "<b>");
    tgmsg_escape(&b, title(r));
    sb_puts(&b, "</b>\n<blockquote>");
    tgmsg_escape(&b, msg);
    if (strlen(msg) < strlen(r->message))
        sb_puts(&b, "\xE2\x80\xA6"); /* … */
    sb_puts(&b, "</blockquote>\n\n<blockquote>");
    for (int i = 0; i < shown; i++) {
        sb_puts(&b, "<b>");
        tgmsg_escape(&b, lines[i].key);
        sb_puts(&b, "</b>: ");
        tgmsg_escape(&b, lines[i].val);
        if (i + 1 < shown)
            sb_puts(&b, "\n");
    }
    sb_puts(&b, "</blockquote>\n\n<i>");
    tgmsg_escape(&b, footer);
    sb_puts(&b, "</i>");
    if (*truncated) {
        sb_puts(&b, "\n");
        tgmsg_escape(&b, cut_note);
    }
    for (int i = 0; i < nlines; i++) {
        free(lines[i].key);
        free(lines[i].val);
    }
    free(msg);
    return b.p;
}

json_t *tgmsg_request(const struct lg_request *r, bool *truncated)
{
    struct tg_choice c[TG_MAX_CHOICES];
    json_t *hold, *params, *markup = NULL;
    char *text = render_body(r, DECISION_RESERVE, truncated);
    int n = tgmsg_choices(r, c, &hold);

    if (n > 0) {
        json_t *rows = json_array();
        for (int i = 0; i < n; i++) {
            char data[CALLBACK_DATA_MAX + 1], *btn;
            /* A cut message can be denied, never approved unread. */
            if (tgmsg_refused(r, &c[i], *truncated))
                continue;
            if (decide_callback_format(r->id, i, data, sizeof(data)) < 0)
                continue;
            btn = tgmsg_button_text(&c[i]);
            json_array_append_new(rows, json_pack("[{s:s, s:s, s:s}]", "text", btn, "style",
                                                  c[i].approve ? "success" : "danger",
                                                  "callback_data", data));
            free(btn);
        }
        markup = json_pack("{s:o}", "inline_keyboard", rows);
    } else {
        markup =
            json_pack("{s:b, s:s}", "force_reply", 1, "input_field_placeholder", "Your answer");
    }
    params = json_pack("{s:s, s:s, s:b, s:o}", "text", text, "parse_mode", "HTML",
                       "disable_web_page_preview", 1, "reply_markup", markup);
    json_decref(hold);
    free(text);
    return params;
}

json_t *tgmsg_final(const struct lg_request *r)
{
    struct sbuf b = {0};
    bool truncated;
    char *body = render_body(r, DECISION_RESERVE, &truncated), when[40] = "";
    json_t *params;

    sb_puts(&b, body);
    sb_puts(&b, "\n\n");
    if (r->responded_at && strlen(r->responded_at) >= 19)
        snprintf(when, sizeof(when), "%.8s UTC", r->responded_at + 11);
    if (!strcmp(r->status, "completed")) {
        char *resp = cut_utf16(r->response ? r->response : "", RESPONSE_SHOWN_MAX);
        sb_puts(&b, r->approved ? "\xE2\x9C\x85 <b>Approved</b>" : "\xE2\x9D\x8C <b>Denied</b>");
        if (*resp) {
            sb_puts(&b, ": ");
            tgmsg_escape(&b, resp);
            if (strlen(resp) < strlen(r->response))
                sb_puts(&b, "\xE2\x80\xA6");
        }
        if (r->responder_name) {
            char *who = cut_utf16(r->responder_name, 64);
            sb_puts(&b, "\nby ");
            tgmsg_escape(&b, who);
            free(who);
        }
        if (*when)
            sb_printf(&b, " at %s", when);
        free(resp);
    } else if (!strcmp(r->status, "canceled")) {
        sb_puts(&b, "\xF0\x9F\x9A\xAB <b>Canceled</b> by the agent");
        if (*when)
            sb_printf(&b, " at %s", when);
    } else if (!strcmp(r->status, "timeout")) {
        sb_puts(&b, "\xE2\x8C\x9B <b>Timed out</b>: ");
        sb_puts(&b, r->approved ? "approved by default" : "denied by default");
        if (*when)
            sb_printf(&b, " at %s", when);
    } else {
        sb_puts(&b, "\xE2\x8F\xB3 Waiting for an answer");
    }
    params = json_pack("{s:s, s:s, s:b}", "text", b.p, "parse_mode", "HTML",
                       "disable_web_page_preview", 1);
    free(body);
    sb_free(&b);
    return params;
}
