/*
 * tgmsg.c - see tgmsg.h.
 *
 * Layout of a request message (visible text):
 *
 *   ❓ Approval needed                  (or: Choose an option / Reply with your answer)
 *   ┃ <the agent's message>             (a blockquote)
 *
 *   ┃ <metadata key>: <value>           (a blockquote, one line per key, only with metadata)
 *
 *   Parameters (reply /edit key=value to change):    (only with params)
 *   ┃ <key> = <value>                   (a blockquote, one line per key)
 *
 *   client ci-cd-pipeline  ·  session production-deploy-bot    (ids as code)
 *   request 6f1c…  ·  expires 2026-11-25 10:05 UTC
 *   ⚠️ Shortened: …                      (only when cut)
 *
 * Everything the agent wrote sits inside the two blockquotes or in code,
 * escaped and cleaned (tgmsg_clean: no controls, no bidi or invisible
 * characters, at most two blank lines in a row in the message, every other
 * piece on one line), so it cannot draw a line that looks like one of
 * Loopgate's own (title, client/session, footer, cut note, decision), which
 * stay outside.
 *
 * Buttons show their meaning: style "success" and a ✅ for approve, style
 * "danger" and a ❌ for deny. A message that had to be cut keeps only its
 * deny buttons, and gets a Deny button when it has none: nobody approves
 * what they could not read, and everybody can refuse it.
 *
 * An edit appends the decision: "✅ Approved: Deploy" (the response on one
 * line, as code), then "by Ann at 10:01:02 UTC".
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
#define ID_SHOWN_MAX 128

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

int tgmsg_offered(const struct lg_request *r, bool truncated, struct tg_choice *out, json_t **hold)
{
    int n = tgmsg_choices(r, out, hold);
    bool deny = false;

    if (!truncated || n == 0)
        return n;
    for (int i = 0; i < n; i++)
        deny = deny || !out[i].approve;
    if (!deny)
        out[n++] = (struct tg_choice){CONFIRM_DENY_LABEL, false};
    return n;
}

char *tgmsg_recorded(const char *label)
{
    struct sbuf b = {0};
    char *flat = tgmsg_clean(label, false);

    sb_puts(&b, "Recorded: ");
    sb_puts(&b, flat);
    free(flat);
    return b.p;
}

char *tgmsg_button_text(const struct tg_choice *c)
{
    const char *mark = c->approve ? TGMSG_MARK_APPROVE : TGMSG_MARK_DENY;
    struct sbuf b = {0};
    char *flat = tgmsg_clean(c->label, false);

    if (strncmp(flat, mark, strlen(mark)) != 0) {
        sb_puts(&b, mark);
        sb_puts(&b, " ");
    }
    sb_puts(&b, flat);
    free(flat);
    return b.p;
}

bool tgmsg_refused(const struct lg_request *r, const struct tg_choice *c, bool truncated)
{
    (void)r;
    return c->approve && truncated;
}

json_t *tgmsg_buttons(const struct lg_request *r, bool truncated)
{
    struct tg_choice choices[TG_MAX_CHOICES + 1];
    json_t *hold, *out = json_array();
    int n = tgmsg_offered(r, truncated, choices, &hold);

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
 * The next character of `s` (NUL-terminated): its length in bytes, and in
 * *cp the code point, or U+FFFD for a byte that starts no valid sequence
 * (length 1).
 */
static size_t next_char(const unsigned char *s, uint32_t *cp)
{
    size_t len = s[0] < 0x80 ? 1 : s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC0 ? 2 : 0;

    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            len = 0;
    if (len == 0 || !utf8_valid((const char *)s, len)) {
        *cp = 0xFFFD;
        return 1;
    }
    *cp = len == 1   ? s[0]
          : len == 2 ? (uint32_t)(s[0] & 0x1F) << 6 | (s[1] & 0x3F)
          : len == 3 ? (uint32_t)(s[0] & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F)
                     : (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 |
                           (uint32_t)(s[2] & 0x3F) << 6 | (s[3] & 0x3F);
    return len;
}

/* Whether the line s[0..n) holds nothing but spaces and tabs. */
static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t')
            return false;
    return true;
}

char *tgmsg_clean(const char *s, bool lines)
{
    const unsigned char *p = (const unsigned char *)s;
    struct sbuf b = {0};
    size_t line = 0;
    int blanks = 0;

    sb_puts(&b, "");
    while (*p) {
        uint32_t cp;
        size_t k = next_char(p, &cp);

        if (cp == '\n' && lines) {
            /* A run of blank lines is kept to two: nothing hides below the fold. */
            if (blank(b.p + line, b.len - line)) {
                if (++blanks > 2) {
                    b.len = line;
                    b.p[b.len] = '\0';
                    p += k;
                    continue;
                }
            } else {
                blanks = 0;
            }
            sb_puts(&b, "\n");
            line = b.len;
        } else if (cp == 0xFFFD && k == 1) {
            sb_puts(&b, "\xEF\xBF\xBD");
        } else if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F) || cp == 0x2028 ||
                   cp == 0x2029) {
            sb_puts(&b, " ");
        } else if (!utf8_has_unsafe((const char *)p, k)) {
            sb_append(&b, (const char *)p, k);
        } /* bidi and invisible format characters: dropped */
        p += k;
    }
    return b.p;
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
 * The key/value lines of a JSON object's text (the metadata, the params),
 * one per key. *cut tells whether a key was left out or a key or value
 * shortened. `typed`: strings are shown quoted, as JSON writes them, so a
 * person tells "3" from 3 and "false" from false (the params).
 */
static int kv_lines(const char *json_text, bool typed, struct line *lines, int max, bool *cut)
{
    json_t *meta = NULL;
    const char *k;
    json_t *v;
    int n = 0;

    *cut = false;
    /* Metadata stored before the nesting limit may be deeper: never parsed, shown as cut. */
    if (json_text && json_depth_ok(json_text, strlen(json_text), LG_JSON_DEPTH_MAX))
        meta = json_loads(json_text, 0, NULL);
    else if (json_text)
        *cut = true;
    if (json_is_object(meta)) {
        json_object_foreach(meta, k, v)
        {
            char *text, *flat;
            if (n >= max) {
                *cut = true;
                break;
            }
            text = json_is_string(v) && !typed ? xstrdup(json_string_value(v))
                                               : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            if (!text)
                text = xstrdup("?");
            flat = tgmsg_clean(text, false);
            free(text);
            text = tgmsg_clean(k, false);
            lines[n].key = fit(text, 64, cut);
            free(text);
            lines[n].val = fit(flat, META_VALUE_MAX, cut);
            free(flat);
            n++;
        }
    }
    json_decref(meta);
    return n;
}

/*
 * The line above the params: whether a person may still change them with
 * /edit (a pending request that needs one approval), or whether they were.
 */
static const char *params_head(const struct lg_request *r)
{
    bool none = r->params_json && !strcmp(r->params_json, "{}");

    if (r->edited)
        return "Parameters, as edited and approved:";
    if (strcmp(r->status ? r->status : "pending", "pending") != 0 || r->approvals_required > 1)
        return none ? "Parameters: none" : "Parameters:";
    return none ? "Parameters: none (reply /edit key=value to set them)"
                : "Parameters (reply /edit key=value to change them):";
}

/*
 * Render the body; `reserve` visible units stay free for a decision line.
 * Returns a new HTML string; *truncated tells whether anything was cut.
 */
static char *render_body(const struct lg_request *r, size_t reserve, bool *truncated)
{
    char cut_note[400];
    struct line lines[64], plines[64];
    bool meta_cut, params_cut, dummy = false;
    int nlines = kv_lines(r->metadata_json, false, lines, 64, &meta_cut), shown = 0;
    int nplines = kv_lines(r->params_json, true, plines, 64, &params_cut), pshown = 0;
    const char *phead = params_head(r);
    char footer[160], when[40];
    size_t budget = TG_TEXT_MAX - reserve, used, msg_len;
    struct sbuf b = {0};
    char *text = tgmsg_clean(r->message ? r->message : "", true), *msg, *client, *session;

    /* Ids are checked at submit; rows stored before are made safe and bounded here too. */
    msg = tgmsg_clean(r->client_id ? r->client_id : "", false);
    client = fit(msg, ID_SHOWN_MAX, &dummy);
    free(msg);
    msg = tgmsg_clean(r->session_id ? r->session_id : "", false);
    session = fit(msg, ID_SHOWN_MAX, &dummy);
    free(msg);
    snprintf(cut_note, sizeof(cut_note),
             "\xE2\x9A\xA0\xEF\xB8\x8F Shortened to fit Telegram, so it cannot be approved "
             "here. Read it all in the console (request %s, with a coding agent's whole tool "
             "input), or through the API: GET /hitl/pending lists its full message and metadata, "
             "GET /hitl/poll?request_id=%s its state.",
             r->id, r->id);
    short_time(r->expires_at, when, sizeof(when));
    snprintf(footer, sizeof(footer), "request %s  \xC2\xB7  expires %s", r->id, when);
    *truncated = false;

    /* Fixed parts: title, blank lines, client/session line, footer, room for the cut note. */
    used = tgmsg_utf16_len(title(r)) + 1 + 2 + 2 + tgmsg_utf16_len("client   \xC2\xB7  session ") +
           tgmsg_utf16_len(client) + tgmsg_utf16_len(session) + 1 + tgmsg_utf16_len(footer);
    /* Key/value lines while they fit, keeping at least 1000 units for the message. */
    for (; shown < nlines; shown++) {
        size_t w = tgmsg_utf16_len(lines[shown].key) + 2 + tgmsg_utf16_len(lines[shown].val) + 1;
        if (used + w + 2 + 1000 + tgmsg_utf16_len(cut_note) + 1 > budget)
            break;
        used += w;
    }
    if (shown > 0)
        used += 2;
    /* The params the same way: every one of them is shown whole, or the message counts as cut. */
    if (r->params_json)
        used += tgmsg_utf16_len(phead) + 3;
    for (; shown == nlines && pshown < nplines; pshown++) {
        size_t w =
            tgmsg_utf16_len(plines[pshown].key) + 3 + tgmsg_utf16_len(plines[pshown].val) + 1;
        if (used + w + 2 + 1000 + tgmsg_utf16_len(cut_note) + 1 > budget)
            break;
        used += w;
    }
    msg_len = tgmsg_utf16_len(text);
    if (meta_cut || shown < nlines || params_cut || pshown < nplines || used + msg_len > budget) {
        *truncated = true;
        used += tgmsg_utf16_len(cut_note) + 1;
    }
    msg = used + msg_len > budget ? cut_utf16(text, budget - used - 1) : xstrdup(text);

    sb_puts(&b, "<b>");
    tgmsg_escape(&b, title(r));
    sb_puts(&b, "</b>\n<blockquote>");
    tgmsg_escape(&b, msg);
    if (strlen(msg) < strlen(text))
        sb_puts(&b, "\xE2\x80\xA6"); /* … */
    sb_puts(&b, "</blockquote>\n\n");
    if (shown > 0) {
        sb_puts(&b, "<blockquote>");
        for (int i = 0; i < shown; i++) {
            sb_puts(&b, "<b>");
            tgmsg_escape(&b, lines[i].key);
            sb_puts(&b, "</b>: ");
            tgmsg_escape(&b, lines[i].val);
            if (i + 1 < shown)
                sb_puts(&b, "\n");
        }
        sb_puts(&b, "</blockquote>\n\n");
    }
    if (r->params_json) {
        sb_puts(&b, "<b>");
        tgmsg_escape(&b, phead);
        sb_puts(&b, "</b>");
        if (pshown > 0)
            sb_puts(&b, "\n<blockquote>");
        for (int i = 0; i < pshown; i++) {
            sb_puts(&b, "<code>");
            tgmsg_escape(&b, plines[i].key);
            sb_puts(&b, "</code> = ");
            tgmsg_escape(&b, plines[i].val);
            if (i + 1 < pshown)
                sb_puts(&b, "\n");
        }
        sb_puts(&b, pshown > 0 ? "</blockquote>\n\n" : "\n\n");
    }
    /* Loopgate's own lines, outside every blockquote; the ids set apart as code. */
    sb_puts(&b, "client <code>");
    tgmsg_escape(&b, client);
    sb_puts(&b, "</code>  \xC2\xB7  session <code>");
    tgmsg_escape(&b, session);
    sb_puts(&b, "</code>\n<i>");
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
    for (int i = 0; i < nplines; i++) {
        free(plines[i].key);
        free(plines[i].val);
    }
    free(msg);
    free(text);
    free(client);
    free(session);
    return b.p;
}

/*
 * The names of the votes of `r` that approve (`approve`) or deny, cleaned
 * and ", "-separated, cut to `units` (then an ellipsis); *count is how many.
 * Returns a new string ("" for none).
 */
static char *voters(const struct lg_request *r, bool approve, int *count, size_t units)
{
    json_t *votes = r->votes_json ? json_loads(r->votes_json, 0, NULL) : NULL, *v;
    struct sbuf b = {0};
    char *out;
    size_t i;

    *count = 0;
    json_array_foreach(votes, i, v)
    {
        const char *name =
            json_string_value(json_object_get(json_object_get(v, "responder"), "name"));
        char *clean;

        if (json_is_true(json_object_get(v, "approve")) != approve)
            continue;
        clean = tgmsg_clean(name ? name : "?", false);
        sb_printf(&b, "%s%s", (*count)++ ? ", " : "", clean);
        free(clean);
    }
    json_decref(votes);
    if (!b.p)
        return xstrdup("");
    out = cut_utf16(b.p, units);
    if (strlen(out) < b.len) {
        char *more = xmalloc(strlen(out) + 4);
        snprintf(more, strlen(out) + 4, "%s\xE2\x80\xA6", out);
        free(out);
        out = more;
    }
    sb_free(&b);
    return out;
}

/*
 * The progress of a request that needs more than one approval, appended to
 * `b`: "1 of 2 approvals: Ann" (and, when a denial does not veto, "1 of 2
 * denials: Bob"). It fits in DECISION_RESERVE, which a pending message
 * leaves free. Nothing for a single-approval request. `ended`: the request
 * timed out or was canceled with these votes; the rule for what comes next
 * is left out.
 */
static void progress(struct sbuf *b, const struct lg_request *r, bool ended)
{
    int yes, no;
    char *names;

    if (r->approvals_required <= 1)
        return;
    names = voters(r, true, &yes, 120);
    sb_printf(b, "\n\n%d of %d approvals", yes, r->approvals_required);
    if (*names) {
        sb_puts(b, ": ");
        tgmsg_escape(b, names);
    }
    free(names);
    if (r->deny_vetoes) {
        if (!ended)
            sb_puts(b, "\nOne denial denies.");
        return;
    }
    names = voters(r, false, &no, 120);
    sb_printf(b, "\n%d of %d denials", no, r->approvals_required);
    if (*names) {
        sb_puts(b, ": ");
        tgmsg_escape(b, names);
    }
    free(names);
}

json_t *tgmsg_request(const struct lg_request *r, bool *truncated)
{
    struct tg_choice c[TG_MAX_CHOICES + 1];
    json_t *hold, *params, *markup = NULL;
    char *text = render_body(r, DECISION_RESERVE, truncated);
    int n = tgmsg_offered(r, *truncated, c, &hold);
    struct sbuf b = {0};

    sb_puts(&b, text);
    progress(&b, r, false);
    free(text);
    text = b.p;

    if (n > 0) {
        json_t *rows = json_array();
        char data[CALLBACK_DATA_MAX + 1];

        for (int i = 0; i < n; i++) {
            char *btn;
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
        /* Deny with a reason: a deny, so a cut message keeps it too. */
        if (json_array_size(rows) > 0 &&
            decide_callback_format(r->id, DECIDE_CALLBACK_REASON, data, sizeof(data)) == 0)
            json_array_append_new(rows,
                                  json_pack("[{s:s, s:s, s:s}]", "text", TGMSG_DENY_WITH_REASON,
                                            "style", "danger", "callback_data", data));
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

void tgmsg_login_button(json_t *params, const char *public_url, const char *request_id,
                        bool truncated)
{
    json_t *markup = json_object_get(params, "reply_markup");
    json_t *rows = json_object_get(markup, "inline_keyboard");
    size_t n = strlen(public_url);
    struct sbuf url = {0};

    sb_append(&url, public_url, n && public_url[n - 1] == '/' ? n - 1 : n);
    sb_printf(&url, "%s?r=%s", TGMSG_LOGIN_PATH, request_id);
    if (!json_is_array(rows)) {
        /* An answer request: its force_reply gives way to the button. */
        rows = json_array();
        json_object_set_new(params, "reply_markup", json_pack("{s:o}", "inline_keyboard", rows));
    }
    json_array_append_new(rows, json_pack("[{s:s, s:{s:s, s:b}}]", "text",
                                          truncated ? TGMSG_LOGIN_READ : TGMSG_LOGIN_OPEN,
                                          "login_url", "url", url.p, "request_write_access", 0));
    sb_free(&url);
}

json_t *tgmsg_final(const struct lg_request *r)
{
    struct sbuf b = {0};
    bool truncated;
    /* The votes of a request that ended without a decision are shown too
     * (progress(): two lines of at most 150 units). */
    char *body =
             render_body(r, DECISION_RESERVE + (r->approvals_required > 1 ? 300 : 0), &truncated),
         when[40] = "";
    json_t *params;

    sb_puts(&b, body);
    sb_puts(&b, "\n\n");
    if (r->responded_at && strlen(r->responded_at) >= 19)
        snprintf(when, sizeof(when), "%.8s UTC", r->responded_at + 11);
    if (!strcmp(r->status, "completed")) {
        /* The response (a label or a typed answer) on one line, set apart as code. */
        char *flat = tgmsg_clean(r->response ? r->response : "", false);
        char *resp = cut_utf16(flat, RESPONSE_SHOWN_MAX);
        sb_puts(&b, r->approved ? "\xE2\x9C\x85 <b>Approved</b>" : "\xE2\x9D\x8C <b>Denied</b>");
        if (*resp) {
            sb_puts(&b, ": <code>");
            tgmsg_escape(&b, resp);
            if (strlen(resp) < strlen(flat))
                sb_puts(&b, "\xE2\x80\xA6");
            sb_puts(&b, "</code>");
        }
        if (r->responder_name) {
            /* A quorum is decided by everyone whose vote counted: "by Ann, Bob". */
            int n = 0;
            char *all = r->approvals_required > 1 ? voters(r, r->approved, &n, 63) : NULL;
            char *name = tgmsg_clean(n > 1 ? all : r->responder_name, false);
            char *who = cut_utf16(name, 64);
            sb_puts(&b, "\nby ");
            tgmsg_escape(&b, who);
            free(who);
            free(name);
            free(all);
        }
        if (*when)
            sb_printf(&b, " at %s", when);
        free(resp);
        free(flat);
    } else if (!strcmp(r->status, "canceled")) {
        sb_puts(&b, "\xF0\x9F\x9A\xAB <b>Canceled</b> by the agent");
        if (*when)
            sb_printf(&b, " at %s", when);
        progress(&b, r, true);
    } else if (!strcmp(r->status, "timeout")) {
        sb_puts(&b, "\xE2\x8C\x9B <b>Timed out</b>: ");
        sb_puts(&b, r->approved ? "approved by default" : "denied by default");
        if (*when)
            sb_printf(&b, " at %s", when);
        if (r->response && *r->response) {
            /* Loopgate's own reason why the timeout denied (sql/functions/requests_expire.sql). */
            char *why = cut_utf16(r->response, RESPONSE_SHOWN_MAX);
            sb_puts(&b, "\n<i>");
            tgmsg_escape(&b, why);
            sb_puts(&b, "</i>");
            free(why);
        }
        progress(&b, r, true);
    } else {
        sb_puts(&b, "\xE2\x8F\xB3 Waiting for an answer");
    }
    params = json_pack("{s:s, s:s, s:b}", "text", b.p, "parse_mode", "HTML",
                       "disable_web_page_preview", 1);
    free(body);
    sb_free(&b);
    return params;
}
