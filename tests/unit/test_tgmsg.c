/*
 * test_tgmsg.c - unit tests for tgmsg.c: the sendMessage / editMessageText
 * parameters of a request.
 *
 * What Telegram counts is the visible text: the HTML with its tags removed
 * and its entities decoded, measured in UTF-16 code units. visible() below
 * does that to the rendered text, so the 4096-unit limit is checked the way
 * Telegram checks it, including after the final edit adds its decision line.
 */
#include <stdlib.h>
#include <string.h>

#include "decide.h"
#include "t.h"
#include "tgmsg.h"

#define ID "123e4567-e89b-12d3-a456-426614174000"
#define N(a) (sizeof(a) / sizeof((a)[0]))

#define ROCKET "\xF0\x9F\x9A\x80" /* U+1F680: 4 bytes, 2 UTF-16 units */
#define GRIN "\xF0\x9F\x98\x80"   /* U+1F600 */
#define EURO "\xE2\x82\xAC"       /* U+20AC: 3 bytes, 1 unit */
#define E_ACUTE "\xC3\xA9"        /* U+00E9: 2 bytes, 1 unit */
#define MARK_OK "\xE2\x9C\x85 "   /* the mark of an approving button */
#define MARK_NO "\xE2\x9D\x8C "   /* the mark of a denying button */
#define README_OPTIONS                                                                             \
    "[\"" ROCKET " Deploy\", \"\xE2\x8F\xB8\xEF\xB8\x8F Hold\", \"\xF0\x9F\x94\x8D Review "        \
    "First\"]"

static struct lg_request sample(const char *type)
{
    struct lg_request r;

    memset(&r, 0, sizeof(r));
    r.id = ID;
    r.session_id = "production-deploy-bot";
    r.client_id = "ci-cd-pipeline";
    r.message = "Deploy v2.1.0 to production? All tests passed \xE2\x9C\x85";
    r.request_type = type;
    r.options_json = NULL;
    r.metadata_json = "{\"version\": \"v2.1.0\", \"tests_passed\": 847, "
                      "\"code_coverage\": \"94.2%\", \"environment\": \"production\"}";
    r.timeout_seconds = 300;
    r.on_timeout = "deny";
    r.status = "pending";
    r.created_at = "2026-11-25T10:00:00.123456Z";
    r.expires_at = "2026-11-25T10:05:00.123456Z";
    r.tg_chat_id = 123456789;
    return r;
}

static const char *str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* A new string of `n` copies of `unit`. */
static char *repeat(const char *unit, size_t n)
{
    size_t u = strlen(unit);
    char *s = xmalloc(u * n + 1);

    for (size_t i = 0; i < n; i++)
        memcpy(s + i * u, unit, u);
    s[u * n] = '\0';
    return s;
}

/* The text Telegram shows for HTML `html`: tags dropped, entities decoded. A new string. */
static char *visible(const char *html)
{
    static const struct {
        const char *entity, *c;
    } ents[] = {{"&lt;", "<"}, {"&gt;", ">"}, {"&amp;", "&"}, {"&quot;", "\""}};
    struct sbuf b = {0};

    sb_append(&b, "", 0);
    for (const char *p = html; *p;) {
        size_t i;

        if (*p == '<') {
            const char *end = strchr(p, '>');
            if (!end) {
                CHECKF(0, "unclosed tag in %s", html);
                break;
            }
            p = end + 1;
            continue;
        }
        if (*p != '&') {
            sb_append(&b, p++, 1);
            continue;
        }
        for (i = 0; i < N(ents); i++)
            if (!strncmp(p, ents[i].entity, strlen(ents[i].entity)))
                break;
        if (i == N(ents)) {
            CHECKF(0, "bare & or unknown entity at \"%.12s\"", p);
            break;
        }
        sb_puts(&b, ents[i].c);
        p += strlen(ents[i].entity);
    }
    return b.p;
}

/* UTF-16 length of the visible text of `html`. */
static size_t visible_units(const char *html)
{
    char *v = visible(html);
    size_t n = tgmsg_utf16_len(v);

    free(v);
    return n;
}

/* The inline_keyboard rows of sendMessage parameters, or NULL. */
static json_t *keyboard(json_t *params)
{
    return json_object_get(json_object_get(params, "reply_markup"), "inline_keyboard");
}

/*
 * Check that `params` has exactly the buttons `labels` (their text, with
 * their mark) with option indexes `idx`, one per row, callback_data
 * "<id>:<idx>", and style success for a ✅ button, danger for the others;
 * then the "Deny with reason…" button, data "<id>:r".
 */
static void check_buttons(const char *what, json_t *params, const char *const *labels,
                          const int *idx, size_t n)
{
    json_t *rows = keyboard(params);

    if (!CHECKF(json_is_array(rows), "%s: no inline_keyboard", what))
        return;
    CHECKF(json_object_get(json_object_get(params, "reply_markup"), "force_reply") == NULL,
           "%s: force_reply with buttons", what);
    if (!CHECKF(json_array_size(rows) == n + 1, "%s: %zu rows, expected %zu", what,
                json_array_size(rows), n + 1))
        return;
    {
        json_t *ask = json_array_get(json_array_get(rows, n), 0);
        char data[CALLBACK_DATA_MAX + 1];

        snprintf(data, sizeof(data), "%s:r", ID);
        CHECKF(t_streq(str(ask, "text"), TGMSG_DENY_WITH_REASON) &&
                   t_streq(str(ask, "style"), "danger") && t_streq(str(ask, "callback_data"), data),
               "%s: the last button is not Deny with reason", what);
    }
    for (size_t i = 0; i < n; i++) {
        json_t *row = json_array_get(rows, i), *button = json_array_get(row, 0);
        char data[CALLBACK_DATA_MAX + 1];
        const char *got;

        snprintf(data, sizeof(data), "%s:%d", ID, idx[i]);
        CHECKF(json_is_array(row) && json_array_size(row) == 1, "%s: row %zu is not one button",
               what, i);
        got = str(button, "text");
        CHECKF(t_streq(got, labels[i]), "%s: button %zu is \"%s\", expected \"%s\"", what, i,
               got ? got : "(null)", labels[i]);
        got = str(button, "style");
        CHECKF(t_streq(got, !strncmp(labels[i], MARK_OK, strlen(MARK_OK)) ? "success" : "danger"),
               "%s: button %zu style \"%s\" does not match its mark", what, i,
               got ? got : "(null)");
        got = str(button, "callback_data");
        CHECKF(t_streq(got, data), "%s: button %zu data \"%s\", expected \"%s\"", what, i,
               got ? got : "(null)", data);
        CHECKF(got && strlen(got) <= CALLBACK_DATA_MAX, "%s: callback_data over 64 bytes", what);
    }
}

/* ------------------------------------------------------------ helpers */

TEST(utf16_len)
{
    CHECK_EQ_INT(tgmsg_utf16_len(""), 0);
    CHECK_EQ_INT(tgmsg_utf16_len("abc"), 3);
    CHECK_EQ_INT(tgmsg_utf16_len(E_ACUTE), 1);
    CHECK_EQ_INT(tgmsg_utf16_len("caf" E_ACUTE), 4);
    CHECK_EQ_INT(tgmsg_utf16_len(EURO), 1);
    CHECK_EQ_INT(tgmsg_utf16_len(ROCKET), 2);
    CHECK_EQ_INT(tgmsg_utf16_len(ROCKET " Deploy"), 9);
    CHECK_EQ_INT(tgmsg_utf16_len("a" ROCKET E_ACUTE EURO GRIN), 7);
    /* U+23F8 U+FE0F: two BMP code points, two units. */
    CHECK_EQ_INT(tgmsg_utf16_len("\xE2\x8F\xB8\xEF\xB8\x8F"), 2);
    /* The highest code point is still one surrogate pair. */
    CHECK_EQ_INT(tgmsg_utf16_len("\xF4\x8F\xBF\xBF"), 2);
}

TEST(escape)
{
    struct sbuf b = {0};

    tgmsg_escape(&b, "<b>Tom & \"Jerry\"</b>");
    CHECK_EQ_STR(b.p, "&lt;b&gt;Tom &amp; &quot;Jerry&quot;&lt;/b&gt;");
    sb_free(&b);

    /* Everything else passes unchanged, including quotes Telegram does not need escaped. */
    tgmsg_escape(&b, "it's 100% " ROCKET " caf" E_ACUTE "\n\ttab; &amp");
    CHECK_EQ_STR(b.p, "it's 100% " ROCKET " caf" E_ACUTE "\n\ttab; &amp;amp");
    sb_free(&b);

    /* It appends. */
    sb_puts(&b, "x=");
    tgmsg_escape(&b, "<<>>");
    tgmsg_escape(&b, "");
    tgmsg_escape(&b, "&");
    CHECK_EQ_STR(b.p, "x=&lt;&lt;&gt;&gt;&amp;");
    CHECK_EQ_INT(b.len, strlen(b.p));
    sb_free(&b);
}

/* ------------------------------------------------------------ tgmsg_request */

TEST(request_confirmation)
{
    static const char *const labels[] = {MARK_OK CONFIRM_APPROVE_LABEL, MARK_NO CONFIRM_DENY_LABEL};
    static const int idx[] = {0, 1};
    struct lg_request r = sample("confirmation");
    bool truncated = true;
    json_t *p = tgmsg_request(&r, &truncated);
    const char *text = str(p, "text");
    char *vis;

    if (!CHECK(json_is_object(p) && text))
        return;
    CHECK(!truncated);
    CHECK_EQ_STR(str(p, "parse_mode"), "HTML");
    CHECK(json_is_true(json_object_get(p, "disable_web_page_preview")));
    CHECK(json_object_get(p, "chat_id") == NULL);
    CHECK(utf8_valid(text, strlen(text)));

    CHECK_CONTAINS(text, "Approval needed");
    CHECK_CONTAINS(text, "Deploy v2.1.0 to production? All tests passed \xE2\x9C\x85");
    /* Loopgate's own client/session line, outside the blockquotes, the ids as code. */
    CHECK_CONTAINS(text, "</blockquote>\n\nclient <code>ci-cd-pipeline</code>  \xC2\xB7  session "
                         "<code>production-deploy-bot</code>\n<i>request " ID);
    CHECK(strstr(text, "<b>client</b>") == NULL && strstr(text, "<b>session</b>") == NULL);
    /* Metadata: strings raw (no JSON quotes), numbers as JSON. */
    CHECK_CONTAINS(text, "<b>version</b>: v2.1.0\n");
    CHECK_CONTAINS(text, "<b>tests_passed</b>: 847\n");
    CHECK_CONTAINS(text, "<b>code_coverage</b>: 94.2%\n");
    CHECK_CONTAINS(text, "<b>environment</b>: production</blockquote>");
    /* The agent's text is set apart: message and key/value lines in blockquotes. */
    CHECK_CONTAINS(text, "<blockquote>Deploy v2.1.0 to production?");
    CHECK_CONTAINS(text, "</blockquote>\n\n<blockquote><b>version</b>");
    CHECK_CONTAINS(text, ID);
    CHECK_CONTAINS(text, "expires 2026-11-25 10:05 UTC");
    CHECK(strstr(text, "Shortened") == NULL);
    CHECK(strstr(text, "\xE2\x80\xA6") == NULL); /* no ellipsis */

    /* The lines come in order: title, message, metadata, client and session, footer. */
    CHECK(strstr(text, "Approval needed") < strstr(text, "Deploy v2.1.0"));
    CHECK(strstr(text, "Deploy v2.1.0") < strstr(text, "<b>version</b>"));
    CHECK(strstr(text, "<b>version</b>") < strstr(text, "<b>tests_passed</b>"));
    CHECK(strstr(text, "<b>environment</b>") < strstr(text, "client <code>"));
    CHECK(strstr(text, "client <code>") < strstr(text, ID));

    vis = visible(text);
    CHECK_CONTAINS(vis, "version: v2.1.0\n");
    CHECK_CONTAINS(vis, "environment: production\n\nclient ci-cd-pipeline  \xC2\xB7  session "
                        "production-deploy-bot\nrequest " ID);
    free(vis);

    check_buttons("confirmation", p, labels, idx, 2);
    json_decref(p);
}

TEST(request_metadata_values)
{
    struct lg_request r = sample("input");
    bool truncated;
    json_t *p;
    const char *text;

    r.metadata_json =
        "{\"ratio\": 0.5, \"ok\": true, \"off\": false, \"none\": null, "
        "\"tags\": [\"a\", 1], \"nested\": {\"k\": \"v\"}, \"big\": -9007199254740993, "
        "\"empty\": \"\", \"unicode\": \"caf" E_ACUTE " " ROCKET "\"}";
    p = tgmsg_request(&r, &truncated);
    text = str(p, "text");
    CHECK(!truncated);
    CHECK_CONTAINS(text, "<b>ratio</b>: 0.5\n");
    CHECK_CONTAINS(text, "<b>ok</b>: true\n");
    CHECK_CONTAINS(text, "<b>off</b>: false\n");
    CHECK_CONTAINS(text, "<b>none</b>: null\n");
    CHECK_CONTAINS(text, "<b>tags</b>: [&quot;a&quot;,1]\n");
    CHECK_CONTAINS(text, "<b>nested</b>: {&quot;k&quot;:&quot;v&quot;}\n");
    CHECK_CONTAINS(text, "<b>big</b>: -9007199254740993\n");
    CHECK_CONTAINS(text, "<b>empty</b>: \n");
    CHECK_CONTAINS(text, "<b>unicode</b>: caf" E_ACUTE " " ROCKET "</blockquote>");
    json_decref(p);

    /* No metadata, or metadata that is not an object: no metadata blockquote. */
    r.metadata_json = NULL;
    p = tgmsg_request(&r, &truncated);
    text = str(p, "text");
    CHECK_CONTAINS(text, "</blockquote>\n\nclient <code>ci-cd-pipeline</code>  \xC2\xB7  session "
                         "<code>production-deploy-bot</code>\n<i>request " ID);
    CHECK(strstr(text, "<blockquote><b>") == NULL);
    json_decref(p);
    r.metadata_json = "[1, 2]";
    p = tgmsg_request(&r, &truncated);
    text = str(p, "text");
    CHECK_CONTAINS(text, "</blockquote>\n\nclient <code>ci-cd-pipeline</code>  \xC2\xB7  session "
                         "<code>production-deploy-bot</code>\n<i>request " ID);
    CHECK(strstr(text, "<blockquote><b>") == NULL);
    json_decref(p);
}

TEST(request_choice)
{
    static const char *const labels[] = {MARK_OK ROCKET " Deploy",
                                         MARK_NO "\xE2\x8F\xB8\xEF\xB8\x8F Hold",
                                         MARK_NO "\xF0\x9F\x94\x8D Review First"};
    static const int idx[] = {0, 1, 2};
    struct lg_request r = sample("choice");
    bool truncated = true;
    json_t *p;

    r.options_json = README_OPTIONS;
    p = tgmsg_request(&r, &truncated);
    CHECK(!truncated);
    CHECK_CONTAINS(str(p, "text"), "Choose an option");
    check_buttons("choice", p, labels, idx, 3);
    json_decref(p);

    /* A confirmation with options shows them, not Approve / Deny. */
    r.request_type = "confirmation";
    p = tgmsg_request(&r, &truncated);
    CHECK_CONTAINS(str(p, "text"), "Approval needed");
    check_buttons("confirmation with options", p, labels, idx, 3);
    json_decref(p);
}

TEST(request_ten_options)
{
    static const char *const labels[] = {MARK_NO "o0", MARK_NO "o1", MARK_NO "o2", MARK_NO "o3",
                                         MARK_NO "o4", MARK_NO "o5", MARK_NO "o6", MARK_NO "o7",
                                         MARK_NO "o8", MARK_NO "o9"};
    static const int idx[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    struct lg_request r = sample("choice");
    bool truncated;
    json_t *p;

    r.options_json = "[\"o0\",\"o1\",\"o2\",\"o3\",\"o4\",\"o5\",\"o6\",\"o7\",\"o8\",\"o9\"]";
    p = tgmsg_request(&r, &truncated);
    check_buttons("ten options", p, labels, idx, 10);
    json_decref(p);
}

TEST(request_input)
{
    struct lg_request r = sample("input");
    bool truncated = true;
    json_t *p = tgmsg_request(&r, &truncated), *markup;

    CHECK(!truncated);
    CHECK_CONTAINS(str(p, "text"), "Reply to this message with your answer");
    markup = json_object_get(p, "reply_markup");
    CHECK(json_is_true(json_object_get(markup, "force_reply")));
    CHECK(json_object_get(markup, "inline_keyboard") == NULL);
    json_decref(p);

    /* An empty options array is no options. */
    r.options_json = "[]";
    p = tgmsg_request(&r, &truncated);
    CHECK(json_is_true(json_object_get(json_object_get(p, "reply_markup"), "force_reply")));
    json_decref(p);
}

TEST(request_html_escaped)
{
    static const char *const labels[] = {MARK_OK "<b>Go</b> & run", MARK_NO "\"No\" <i>way</i>"};
    static const int idx[] = {0, 1};
    struct lg_request r = sample("choice");
    bool truncated;
    json_t *p;
    const char *text;
    char *vis;

    r.message = "Run <script>alert(1)</script> & \"rm -rf\"? a<b>c";
    r.options_json = "[\"<b>Go</b> & run\", \"\\\"No\\\" <i>way</i>\"]";
    r.option_approve = "{t,f}";
    r.metadata_json = "{\"<key>\": \"<val> & \\\"q\\\"\", \"a&b\": 1}";
    r.client_id = "ci<x>";
    p = tgmsg_request(&r, &truncated);
    text = str(p, "text");
    CHECK_CONTAINS(
        text, "Run &lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;rm -rf&quot;? a&lt;b&gt;c");
    CHECK_CONTAINS(text, "<b>&lt;key&gt;</b>: &lt;val&gt; &amp; &quot;q&quot;\n");
    CHECK_CONTAINS(text, "<b>a&amp;b</b>: 1</blockquote>");
    CHECK_CONTAINS(text, "client <code>ci&lt;x&gt;</code>");
    CHECK(strstr(text, "<script>") == NULL);
    CHECK(strstr(text, "<i>way") == NULL);
    /* Button labels are plain text for Telegram: raw, not escaped. */
    check_buttons("html options", p, labels, idx, 2);

    /* The text is well-formed for visible() and shows the agent's text as sent. */
    vis = visible(text);
    CHECK_CONTAINS(vis, "Run <script>alert(1)</script> & \"rm -rf\"? a<b>c");
    CHECK_CONTAINS(vis, "<key>: <val> & \"q\"\n");
    free(vis);
    json_decref(p);
}

/* ------------------------------------------------------------ cutting */

/* A final state with the longest decision line: long response, 64-char name, a time. */
static void set_longest_decision(struct lg_request *r, const char *response, const char *name)
{
    r->status = "completed";
    r->approved = true;
    r->response = response;
    r->responder_name = name;
    r->responder_id = 42;
    r->responded_at = "2026-11-25T10:01:02.123456Z";
}

/*
 * Render `r` (pending) and its longest final edit and check the limits:
 * both fit in 4096 visible units, both are valid UTF-8, the edit starts with
 * the request text. Returns the sendMessage parameters.
 */
static json_t *check_fits(const char *what, const struct lg_request *pending, bool *truncated)
{
    static const char *const names[] = {
        "Annabelle-Maximiliana-Konstantinopoulou-von-Hohenzollern-Sigmari", /* 64 */
        GRIN GRIN GRIN GRIN GRIN GRIN GRIN GRIN GRIN GRIN GRIN GRIN GRIN GRIN GRIN GRIN GRIN GRIN
            GRIN GRIN GRIN GRIN GRIN GRIN GRIN GRIN GRIN GRIN GRIN GRIN GRIN GRIN GRIN GRIN GRIN
                GRIN GRIN GRIN GRIN GRIN GRIN GRIN GRIN GRIN GRIN GRIN GRIN GRIN GRIN GRIN GRIN GRIN
                    GRIN GRIN GRIN GRIN GRIN GRIN GRIN GRIN GRIN GRIN GRIN GRIN,
        "<&>\"<&>\"<&>\"<&>\"<&>\"<&>\"<&>\"<&>\"<&>\"<&>\"<&>\"<&>\"<&>\"<&>\"<&>\"<&>\"",
    };
    char *responses[3];
    json_t *p = tgmsg_request(pending, truncated);
    const char *text = str(p, "text");
    size_t units;

    if (!CHECKF(text != NULL, "%s: no text", what))
        return p;
    units = visible_units(text);
    CHECKF(units <= TG_TEXT_MAX, "%s: %zu visible units", what, units);
    CHECKF(utf8_valid(text, strlen(text)), "%s: text is not valid UTF-8", what);

    responses[0] = repeat("x", 4000);
    responses[1] = repeat(ROCKET, 4000);
    responses[2] = repeat("<&", 2000);
    for (size_t i = 0; i < N(names); i++) {
        for (size_t j = 0; j < N(responses); j++) {
            struct lg_request r = *pending;
            json_t *f;
            const char *ft;

            set_longest_decision(&r, responses[j], names[i]);
            f = tgmsg_final(&r);
            ft = str(f, "text");
            if (CHECKF(ft != NULL, "%s: final %zu/%zu has no text", what, i, j)) {
                units = visible_units(ft);
                CHECKF(units <= TG_TEXT_MAX, "%s: final %zu/%zu has %zu visible units", what, i, j,
                       units);
                CHECKF(utf8_valid(ft, strlen(ft)), "%s: final %zu/%zu is not UTF-8", what, i, j);
                CHECKF(!strncmp(ft, text, strlen(text)),
                       "%s: final %zu/%zu does not start with the request text", what, i, j);
                CHECKF(strstr(ft, "Approved") != NULL, "%s: final lacks Approved", what);
            }
            json_decref(f);
        }
    }
    for (size_t j = 0; j < N(responses); j++)
        free(responses[j]);
    return p;
}

/* 16000 characters, with astral emoji and escaped characters, starting `shift` bytes in. */
static char *long_message(size_t shift)
{
    static const char unit[] = "Lorem <ipsum> & " ROCKET " caf" E_ACUTE " " EURO GRIN "\n";
    struct sbuf b = {0};

    sb_append(&b, "", 0);
    for (size_t i = 0; i < shift; i++)
        sb_puts(&b, "a");
    while (utf8_length(b.p) < 16000)
        sb_puts(&b, unit);
    return b.p;
}

/* A metadata object of `n` keys whose string values are `len` characters. */
static char *many_keys(size_t n, size_t len)
{
    struct sbuf b = {0};
    char *val = repeat("v" E_ACUTE, len / 2);

    sb_puts(&b, "{");
    for (size_t i = 0; i < n; i++)
        sb_printf(&b, "%s\"key_%03zu\": \"%s\"", i ? ", " : "", i, val);
    sb_puts(&b, "}");
    free(val);
    return b.p;
}

TEST(long_message)
{
    static const char *const types[] = {"confirmation", "choice", "input"};

    for (size_t shift = 0; shift < 4; shift++) {
        for (size_t t = 0; t < N(types); t++) {
            struct lg_request r = sample(types[t]);
            char *msg = long_message(shift), what[64];
            bool truncated = false;
            json_t *p;
            const char *text;

            snprintf(what, sizeof(what), "%s shift %zu", types[t], shift);
            r.message = msg;
            p = check_fits(what, &r, &truncated);
            text = str(p, "text");
            CHECKF(truncated, "%s: not truncated", what);
            CHECKF(text && strstr(text, "Shortened") != NULL, "%s: no Shortened note", what);
            /* The start of the message is there, then an ellipsis, then the rest of the body. */
            CHECKF(text && strstr(text, "Lorem &lt;ipsum&gt; &amp; " ROCKET) != NULL,
                   "%s: message start missing", what);
            CHECKF(text && strstr(text, "\xE2\x80\xA6</blockquote>\n\n<blockquote><b>version</b>: "
                                        "v2.1.0") != NULL,
                   "%s: no ellipsis before the metadata", what);
            CHECKF(text && strstr(text, ID) != NULL, "%s: no request id", what);
            /* The message keeps most of the room. */
            CHECKF(text && visible_units(text) > 3000, "%s: only %zu units", what,
                   text ? visible_units(text) : 0);
            json_decref(p);
            free(msg);
        }
    }
}

/* The votes of ten people with names of 64 characters, approving and denying in turn. */
static void ten_voters(struct sbuf *votes)
{
    char name[65];

    memset(name, 'n', 64);
    name[64] = '\0';
    sb_puts(votes, "[");
    for (int i = 0; i < 10; i++)
        sb_printf(votes, "%s{\"responder\":{\"id\":%d,\"name\":\"%s\"},\"approve\":%s}",
                  i ? "," : "", i, name, i % 2 ? "false" : "true");
    sb_puts(votes, "]");
}

/* A request that needs several approvals shows its progress, and still fits when cut. */
TEST(quorum_progress)
{
    struct lg_request r = sample("choice");
    struct sbuf votes = {0};
    bool truncated = true;
    char *msg = long_message(0);
    json_t *p;

    r.options_json = README_OPTIONS;
    r.approvals_required = 2;
    r.deny_vetoes = true;
    p = tgmsg_request(&r, &truncated);
    CHECK_CONTAINS(str(p, "text"), "\n\n0 of 2 approvals\nOne denial denies.");
    json_decref(p);

    r.votes_json = "[{\"responder\":{\"id\":1,\"name\":\"Ann <a>\"},\"approve\":true},"
                   "{\"responder\":{\"id\":2,\"name\":\"Bob\"},\"approve\":false}]";
    r.deny_vetoes = false;
    p = tgmsg_request(&r, &truncated);
    CHECK_CONTAINS(str(p, "text"), "1 of 2 approvals: Ann &lt;a&gt;\n1 of 2 denials: Bob");
    json_decref(p);

    /* Ten voters with names of 64 characters on a message cut to fit. */
    ten_voters(&votes);
    r.votes_json = votes.p;
    r.approvals_required = 10;
    r.message = msg;
    p = tgmsg_request(&r, &truncated);
    CHECK(truncated);
    CHECK(visible_units(str(p, "text")) <= TG_TEXT_MAX);
    CHECK_CONTAINS(str(p, "text"), "5 of 10 approvals: nnnn");
    json_decref(p);
    sb_free(&votes);
    free(msg);
}

TEST(many_metadata_keys)
{
    static const char *const types[] = {"confirmation", "choice", "input"};
    char *meta = many_keys(40, 250), *msg = long_message(1);

    for (size_t t = 0; t < N(types); t++) {
        struct lg_request r = sample(types[t]);
        bool truncated = false;
        json_t *p;
        const char *text;

        r.metadata_json = meta;
        p = check_fits(types[t], &r, &truncated);
        text = str(p, "text");
        CHECKF(truncated, "%s: not truncated", types[t]);
        CHECKF(text && strstr(text, "Shortened") != NULL, "%s: no Shortened note", types[t]);
        /* The first keys are shown, the message keeps at least 1000 units. */
        CHECKF(text && strstr(text, "<b>key_000</b>: v" E_ACUTE) != NULL, "%s: no key_000",
               types[t]);
        CHECKF(text && strstr(text, "<b>key_039</b>") == NULL, "%s: key_039 shown", types[t]);
        CHECKF(text && strstr(text, "Deploy v2.1.0 to production?") != NULL, "%s: no message",
               types[t]);
        json_decref(p);

        /* Both long: still fits. */
        r.message = msg;
        p = check_fits(types[t], &r, &truncated);
        CHECKF(truncated, "%s: long message not truncated", types[t]);
        json_decref(p);
    }
    free(meta);
    free(msg);
}

/*
 * Metadata that is not all shown, or shown cut, is a cut message: it says so
 * (and a confirmation offers only Deny).
 */
TEST(metadata_never_silently_cut)
{
    struct lg_request r = sample("confirmation");
    char *meta, *val, key[32], *long_meta;
    bool truncated;
    json_t *p;
    const char *text;
    size_t shown = 0;

    /* 100 small keys fit easily in the 4096 units. */
    meta = many_keys(100, 4);
    r.metadata_json = meta;
    p = tgmsg_request(&r, &truncated);
    text = str(p, "text");
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "<b>key_%03d</b>: ", i);
        shown += text && strstr(text, key) != NULL;
    }
    CHECKF(shown == 100 || (truncated && text && strstr(text, "Shortened")),
           "%zu of 100 keys shown, truncated %d", shown, truncated);
    if (shown < 100)
        CHECK_EQ_INT(json_array_size(keyboard(p)), 2);
    json_decref(p);
    free(meta);

    /* A value of 1000 characters. */
    val = repeat("0123456789", 100);
    long_meta = xmalloc(strlen(val) + 32);
    snprintf(long_meta, strlen(val) + 32, "{\"diff\": \"%s\"}", val);
    r.metadata_json = long_meta;
    p = tgmsg_request(&r, &truncated);
    text = str(p, "text");
    CHECKF((text && strstr(text, val)) || (truncated && text && strstr(text, "Shortened")),
           "a 1000-character value is cut silently (truncated %d)", truncated);
    if (text && !strstr(text, val))
        CHECK_EQ_INT(json_array_size(keyboard(p)), 2);
    /* Shown up to 299 characters and an ellipsis. */
    val[299] = '\0';
    CHECK_CONTAINS(text, "<b>diff</b>: ");
    CHECKF(text && strstr(text, val) && strstr(strstr(text, val), "\xE2\x80\xA6</blockquote>"),
           "the value is not shown cut with an ellipsis");
    json_decref(p);

    /* 300 characters are shown whole. */
    val[299] = '0';
    val[300] = '\0';
    snprintf(long_meta, strlen(val) + 32, "{\"diff\": \"%s\"}", val);
    p = tgmsg_request(&r, &truncated);
    text = str(p, "text");
    CHECK(!truncated);
    CHECKF(text && strstr(text, val) && strstr(strstr(text, val), "0</blockquote>"),
           "300 characters cut");
    CHECK_EQ_INT(json_array_size(keyboard(p)), 3);
    json_decref(p);

    /* A key of 65 characters is cut too. */
    snprintf(long_meta, strlen(val) + 32, "{\"%.65s\": 1}", val);
    p = tgmsg_request(&r, &truncated);
    val[63] = '\0';
    CHECK(truncated);
    CHECK_CONTAINS(str(p, "text"), val);
    CHECK_CONTAINS(str(p, "text"), "\xE2\x80\xA6</b>: 1</blockquote>");
    json_decref(p);
    free(long_meta);
    free(val);
}

TEST(truncated_buttons)
{
    static const char *const deny[] = {MARK_NO CONFIRM_DENY_LABEL};
    static const int deny_idx[] = {1};
    static const char *const readme_deny[] = {MARK_NO "\xE2\x8F\xB8\xEF\xB8\x8F Hold",
                                              MARK_NO "\xF0\x9F\x94\x8D Review First"};
    static const int idx12[] = {1, 2};
    static const char *const meant[] = {MARK_NO "Go"};
    static const int meant_idx[] = {1};
    char *msg = long_message(0);
    struct lg_request r = sample("confirmation");
    bool truncated;
    json_t *p;

    r.message = msg;

    /* A cut confirmation offers only Deny. */
    p = tgmsg_request(&r, &truncated);
    CHECK(truncated);
    check_buttons("cut confirmation", p, deny, deny_idx, 1);
    json_decref(p);

    /* With options: only those that deny, at their own indexes. */
    r.options_json = README_OPTIONS;
    p = tgmsg_request(&r, &truncated);
    check_buttons("cut confirmation with options", p, readme_deny, idx12, 2);
    json_decref(p);

    /* What an option means comes from option_approve when given. */
    r.options_json = "[\"Hold\", \"Go\"]";
    r.option_approve = "{t,f}";
    p = tgmsg_request(&r, &truncated);
    check_buttons("cut confirmation with option_approve", p, meant, meant_idx, 1);
    json_decref(p);
    r.option_approve = NULL;

    /* A cut choice, like any cut message, keeps only the options that deny. */
    r.request_type = "choice";
    r.options_json = README_OPTIONS;
    p = tgmsg_request(&r, &truncated);
    CHECK(truncated);
    check_buttons("cut choice", p, readme_deny, idx12, 2);
    /* It says why, and how to read it whole. */
    CHECK_CONTAINS(str(p, "text"), "cannot be approved here");
    CHECK_CONTAINS(str(p, "text"), "GET /hitl/poll?request_id=" ID);
    CHECK_CONTAINS(str(p, "text"), "GET /hitl/pending");
    json_decref(p);

    /* A cut input still asks for a reply. */
    r.request_type = "input";
    r.options_json = NULL;
    p = tgmsg_request(&r, &truncated);
    CHECK(truncated);
    CHECK(json_is_true(json_object_get(json_object_get(p, "reply_markup"), "force_reply")));
    json_decref(p);
    free(msg);
}

/* Just under and just over the room: the cut starts exactly where it must. */
TEST(cut_boundary)
{
    struct lg_request r = sample("input");
    size_t fits = 0;

    r.metadata_json = NULL;
    for (size_t n = 3300; n < 3900; n += 1) {
        char *msg = repeat(GRIN, n / 2), *full;
        bool truncated;
        json_t *p;
        const char *text;

        if (n % 2) {
            full = xmalloc(strlen(msg) + 2);
            snprintf(full, strlen(msg) + 2, "x%s", msg);
            free(msg);
            msg = full;
        }
        r.message = msg;
        p = tgmsg_request(&r, &truncated);
        text = str(p, "text");
        CHECKF(text && visible_units(text) <= TG_TEXT_MAX, "%zu units: too long", n);
        CHECKF(text && utf8_valid(text, strlen(text)), "%zu units: invalid UTF-8", n);
        CHECKF(text && (truncated == (strstr(text, r.message) == NULL)),
               "%zu units: truncated %d disagrees with the text", n, truncated);
        CHECKF(text && (truncated == (strstr(text, "Shortened") != NULL)),
               "%zu units: truncated %d disagrees with the note", n, truncated);
        fits += !truncated;
        json_decref(p);
        free(msg);
    }
    /* Some of these fit whole, some do not. */
    CHECK(fits > 0 && fits < 600);
}

/* ------------------------------------------------------------ tgmsg_final */

TEST(final_completed)
{
    struct lg_request r = sample("choice");
    json_t *f;
    const char *text;

    r.options_json = README_OPTIONS;
    r.status = "completed";
    r.approved = true;
    r.response = ROCKET " Deploy";
    r.responder_id = 42;
    r.responder_name = "Ann";
    r.responded_at = "2026-11-25T10:01:02.123456Z";
    f = tgmsg_final(&r);
    text = str(f, "text");
    CHECK_EQ_STR(str(f, "parse_mode"), "HTML");
    /* No reply_markup at all: the edit removes the keyboard. */
    CHECK(json_object_get(f, "reply_markup") == NULL);
    CHECK(json_object_get(f, "chat_id") == NULL && json_object_get(f, "message_id") == NULL);
    CHECK_CONTAINS(text, "Deploy v2.1.0 to production?");
    CHECK_CONTAINS(text, "<b>version</b>: v2.1.0");
    CHECK_CONTAINS(text, "Approved");
    /* The response on one line, set apart as code. */
    CHECK_CONTAINS(text, "\xE2\x9C\x85 <b>Approved</b>: <code>" ROCKET " Deploy</code>\nby Ann");
    CHECK_CONTAINS(text, "by Ann");
    CHECK_CONTAINS(text, "10:01:02 UTC");
    CHECK(strstr(text, "Denied") == NULL);
    json_decref(f);

    r.approved = false;
    r.response = "<Hold> & \"wait\"";
    r.responder_name = "<b>Bob</b>";
    f = tgmsg_final(&r);
    text = str(f, "text");
    CHECK_CONTAINS(text, "Denied");
    CHECK(strstr(text, "Approved") == NULL);
    CHECK_CONTAINS(text, "&lt;Hold&gt; &amp; &quot;wait&quot;");
    CHECK_CONTAINS(text, "by &lt;b&gt;Bob&lt;/b&gt;");
    CHECK(strstr(text, "<b>Bob") == NULL);
    CHECK(json_object_get(f, "reply_markup") == NULL);
    json_decref(f);

    /* No responder, no time, no response: just the verdict. */
    r.response = NULL;
    r.responder_name = NULL;
    r.responded_at = NULL;
    f = tgmsg_final(&r);
    text = str(f, "text");
    CHECK_CONTAINS(text, "Denied");
    CHECK(strstr(text, "by ") == NULL);
    CHECK(strstr(text, "</b> at ") == NULL);
    json_decref(f);
}

TEST(final_other_states)
{
    struct lg_request r = sample("confirmation");
    json_t *f;
    const char *text;

    r.status = "canceled";
    r.responded_at = "2026-11-25T10:02:03Z";
    f = tgmsg_final(&r);
    text = str(f, "text");
    CHECK_CONTAINS(text, "Canceled");
    CHECK_CONTAINS(text, "10:02:03 UTC");
    CHECK(json_object_get(f, "reply_markup") == NULL);
    json_decref(f);

    r.status = "timeout";
    r.approved = false;
    r.responded_at = "2026-11-25T10:05:00Z";
    f = tgmsg_final(&r);
    text = str(f, "text");
    CHECK_CONTAINS(text, "Timed out");
    CHECK_CONTAINS(text, "denied by default");
    CHECK_CONTAINS(text, "10:05:00 UTC");
    CHECK(json_object_get(f, "reply_markup") == NULL);
    json_decref(f);

    r.approved = true;
    f = tgmsg_final(&r);
    CHECK_CONTAINS(str(f, "text"), "approved by default");
    json_decref(f);

    /* A quorum that timed out or was canceled shows the votes it had, and
     * a long message with ten long names and Loopgate's reason still fits. */
    r.approved = false;
    r.approvals_required = 2;
    r.deny_vetoes = true;
    r.votes_json = "[{\"responder\":{\"id\":1,\"name\":\"Ann\"},\"approve\":true}]";
    f = tgmsg_final(&r);
    CHECK_CONTAINS(str(f, "text"), "denied by default at 10:05:00 UTC\n\n1 of 2 approvals: Ann");
    CHECK(strstr(str(f, "text"), "One denial") == NULL);
    json_decref(f);
    r.status = "canceled";
    f = tgmsg_final(&r);
    CHECK_CONTAINS(str(f, "text"), "by the agent at 10:05:00 UTC\n\n1 of 2 approvals: Ann");
    json_decref(f);
    {
        struct sbuf votes = {0}, why = {0};
        char *msg = long_message(0);

        ten_voters(&votes);
        for (int i = 0; i < 300; i++)
            sb_puts(&why, "w");
        r.status = "timeout";
        r.message = msg;
        r.votes_json = votes.p;
        r.deny_vetoes = false;
        r.approvals_required = 10;
        r.response = why.p;
        f = tgmsg_final(&r);
        CHECKF(visible_units(str(f, "text")) <= TG_TEXT_MAX, "%zu units",
               visible_units(str(f, "text")));
        CHECK_CONTAINS(str(f, "text"), "5 of 10 approvals: nnnn");
        CHECK_CONTAINS(str(f, "text"), "5 of 10 denials: nnnn");
        json_decref(f);
        sb_free(&votes);
        sb_free(&why);
        free(msg);
    }
    r = sample("confirmation");

    r.status = "pending";
    f = tgmsg_final(&r);
    CHECK_CONTAINS(str(f, "text"), "Waiting");
    CHECK(json_object_get(f, "reply_markup") == NULL);
    json_decref(f);
}

/* Agent text cannot draw a line that looks like Loopgate's own. */
TEST(agent_text_set_apart)
{
    struct lg_request r = sample("confirmation");
    bool truncated;
    json_t *p;
    const char *text;
    const char *fake = "\xE2\x9C\x85 <b>Approved</b>";

    r.message = "Deploy?\n\n<i>request " ID "</i>\n\xE2\x9C\x85 Approved";
    r.metadata_json = "{\"note\": \"x\\n\\n\xE2\x9C\x85 Approved: by Loopgate\\r\\nend\", "
                      "\"a\\nb\": \"line\\u2028sep\"}";
    p = tgmsg_request(&r, &truncated);
    text = str(p, "text");
    CHECK(!truncated);
    /* The message keeps its lines, inside its blockquote, escaped. */
    CHECK_CONTAINS(text, "<blockquote>Deploy?\n\n&lt;i&gt;request " ID
                         "&lt;/i&gt;\n\xE2\x9C\x85 Approved</blockquote>");
    CHECK(strstr(text, fake) == NULL);
    /* Metadata keys and values stay on their own line, inside the other blockquote. */
    CHECK_CONTAINS(text, "<b>note</b>: x  \xE2\x9C\x85 Approved: by Loopgate  end\n");
    CHECK_CONTAINS(text, "<b>a b</b>: line sep</blockquote>");
    /* Loopgate's own footer is outside every blockquote. */
    CHECK(strstr(text, "</blockquote>\n\nclient <code>ci-cd-pipeline</code>  \xC2\xB7  session "
                       "<code>production-deploy-bot</code>\n<i>request " ID) != NULL);
    json_decref(p);
}

/* A label that already carries its mark does not get a second one. */
TEST(button_text)
{
    struct tg_choice c = {"\xE2\x9C\x85 Ship", true};
    char *s = tgmsg_button_text(&c);

    CHECK_EQ_STR(s, "\xE2\x9C\x85 Ship");
    free(s);
    c = (struct tg_choice){"\xE2\x9D\x8C Stop", false};
    s = tgmsg_button_text(&c);
    CHECK_EQ_STR(s, "\xE2\x9D\x8C Stop");
    free(s);
    c = (struct tg_choice){"Blue", false};
    s = tgmsg_button_text(&c);
    CHECK_EQ_STR(s, "\xE2\x9D\x8C Blue");
    free(s);
    c = (struct tg_choice){"Blue", true};
    s = tgmsg_button_text(&c);
    CHECK_EQ_STR(s, "\xE2\x9C\x85 Blue");
    free(s);
}

/* ------------------------------------------------------------ tgmsg_choices */

TEST(choices)
{
    struct lg_request r = sample("choice");
    struct tg_choice c[TG_MAX_CHOICES];
    json_t *hold;
    int n;

    /* Without option_approve: the labels' own meaning. */
    r.options_json = "[\"Hold\", \"Deploy\", \"Not now\"]";
    n = tgmsg_choices(&r, c, &hold);
    CHECK_EQ_INT(n, 3);
    CHECK(hold != NULL);
    CHECK_EQ_STR(c[0].label, "Hold");
    CHECK(!c[0].approve && c[1].approve && !c[2].approve);
    json_decref(hold);

    /* option_approve wins over the words. */
    r.option_approve = "{t,f,t}";
    n = tgmsg_choices(&r, c, &hold);
    CHECK_EQ_INT(n, 3);
    CHECK(c[0].approve && !c[1].approve && c[2].approve);
    json_decref(hold);

    /* Shorter than the options: the rest fall back to the words. */
    r.option_approve = "{t}";
    n = tgmsg_choices(&r, c, &hold);
    CHECK_EQ_INT(n, 3);
    CHECK(c[0].approve && c[1].approve && !c[2].approve);
    json_decref(hold);

    /* Junk: the words again. */
    r.option_approve = "{x}";
    n = tgmsg_choices(&r, c, &hold);
    CHECK_EQ_INT(n, 3);
    CHECK(!c[0].approve && c[1].approve && !c[2].approve);
    json_decref(hold);

    /* The README's options. */
    r.option_approve = NULL;
    r.options_json = README_OPTIONS;
    n = tgmsg_choices(&r, c, &hold);
    CHECK_EQ_INT(n, 3);
    CHECK(c[0].approve && !c[1].approve && !c[2].approve);
    json_decref(hold);

    /* A confirmation without options: Approve / Deny, nothing to hold. */
    r.request_type = "confirmation";
    r.options_json = NULL;
    n = tgmsg_choices(&r, c, &hold);
    CHECK_EQ_INT(n, 2);
    CHECK(hold == NULL);
    CHECK_EQ_STR(c[0].label, CONFIRM_APPROVE_LABEL);
    CHECK(c[0].approve);
    CHECK_EQ_STR(c[1].label, CONFIRM_DENY_LABEL);
    CHECK(!c[1].approve);

    /* Broken options JSON is no options. */
    r.options_json = "[\"a\",";
    n = tgmsg_choices(&r, c, &hold);
    CHECK_EQ_INT(n, 2);
    CHECK(hold == NULL);

    /* An input: no buttons. */
    r.request_type = "input";
    r.options_json = NULL;
    n = tgmsg_choices(&r, c, &hold);
    CHECK_EQ_INT(n, 0);
    CHECK(hold == NULL);

    /* Never more than TG_MAX_CHOICES. */
    r.request_type = "choice";
    r.options_json = "[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\",\"j\",\"k\",\"l\"]";
    n = tgmsg_choices(&r, c, &hold);
    CHECK_EQ_INT(n, TG_MAX_CHOICES);
    json_decref(hold);
}

/* ------------------------------------------------------------ tgmsg_buttons */

TEST(buttons_kept)
{
    struct lg_request r = sample("choice");
    json_t *b;
    char *s;

    r.options_json = "[\"Ship <it>\", \"Wait\"]";
    b = tgmsg_buttons(&r, false);
    s = json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS);
    CHECK_EQ_STR(s, "[{\"answer\":\"Recorded: Ship <it>\",\"approve\":true,\"label\":\"Ship <it>\","
                    "\"refused\":false},{\"answer\":\"Recorded: Wait\",\"approve\":false,"
                    "\"label\":\"Wait\",\"refused\":false}]");
    free(s);
    json_decref(b);

    /* A choice that had to be cut: its approving button is refused, the other not. */
    b = tgmsg_buttons(&r, true);
    CHECK(json_is_true(json_object_get(json_array_get(b, 0), "refused")));
    CHECK(json_is_false(json_object_get(json_array_get(b, 1), "refused")));
    json_decref(b);

    /* A confirmation cut to fit: Approve is refused, Deny is not. */
    r.request_type = "confirmation";
    r.options_json = NULL;
    b = tgmsg_buttons(&r, true);
    CHECK_EQ_INT(json_array_size(b), 2);
    CHECK(json_is_true(json_object_get(json_array_get(b, 0), "refused")));
    CHECK(json_is_false(json_object_get(json_array_get(b, 1), "refused")));
    json_decref(b);

    /* An input has no buttons. */
    r.request_type = "input";
    b = tgmsg_buttons(&r, false);
    CHECK(json_is_array(b) && json_array_size(b) == 0);
    json_decref(b);

    /* The answer names the whole label, however many bytes its characters take. */
    s = tgmsg_recorded(ROCKET ROCKET ROCKET ROCKET ROCKET ROCKET ROCKET ROCKET ROCKET ROCKET ROCKET
                           ROCKET ROCKET ROCKET ROCKET ROCKET ROCKET ROCKET ROCKET ROCKET ROCKET
                               ROCKET ROCKET ROCKET ROCKET ROCKET ROCKET ROCKET ROCKET ROCKET ROCKET
                                   ROCKET ROCKET ROCKET ROCKET ROCKET ROCKET ROCKET ROCKET ROCKET);
    CHECK_EQ_INT(strlen(s), 10 + 40 * 4);
    b = json_string(s); /* NULL if not valid UTF-8 */
    CHECK(b != NULL);
    json_decref(b);
    free(s);
}

/* CHECK that `j` dumps (compact, sorted keys) to `want`. */
static void s_check_dump(json_t *j, const char *want)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    CHECK_EQ_STR(s, want);
    free(s);
}

/* Agent text shown cleaned: one line where one line is meant, no bidi, no hidden tail. */
TEST(clean)
{
    static const struct {
        const char *in;
        bool lines;
        const char *want;
    } cases[] = {
        {"Hold\n\n\xE2\x9C\x85 Approved", false, "Hold  \xE2\x9C\x85 Approved"},
        {"a\r\tb\x7F"
         "c\xC2\x85"
         "d\xE2\x80\xA8"
         "e\xE2\x80\xA9"
         "f",
         false, "a  b c d e f"},
        /* U+202E, U+2066, U+200B, U+FEFF, U+E0041: dropped */
        {"x\xE2\x80\xAEy\xE2\x81\xA6z\xE2\x80\x8B\xEF\xBB\xBF\xF3\xA0\x81\x81!", false, "xyz!"},
        {"bad \xFF byte", false, "bad \xEF\xBF\xBD byte"},
        {ROCKET " Deploy \xE2\x8F\xB8\xEF\xB8\x8F", false,
         ROCKET " Deploy \xE2\x8F\xB8\xEF\xB8\x8F"},
        {"keep\nlines\r\n", true, "keep\nlines \n"},
        {"a\n\n\nb", true, "a\n\n\nb"},
        {"a\n\n\n\n\n\nb", true, "a\n\n\nb"},
        {"a\n \n\t\n  \n\n(also DROP)", true, "a\n \n \n(also DROP)"},
        {"\n\n\n\n\nstart", true, "\n\nstart"},
        {"", true, ""},
    };

    for (size_t i = 0; i < N(cases); i++) {
        char *got = tgmsg_clean(cases[i].in, cases[i].lines);
        CHECKF(!strcmp(got, cases[i].want), "case %zu: got \"%s\"", i, got);
        free(got);
    }
}

/* A label or response can never draw a line of its own, in any place it is shown. */
TEST(labels_one_line)
{
    static const char *const fake =
        "Hold\n\n\xE2\x9C\x85 Approved: " ROCKET " Deploy\nby Ann at 10:01:02 UTC\xE2\x80\xAE";
    struct lg_request r = sample("choice");
    struct tg_choice c = {fake, false};
    json_t *p, *kb, *b;
    char *s;
    const char *text;

    r.options_json = "[\"" ROCKET " Deploy\", \"Hold\\n\\n\xE2\x9C\x85 Approved: " ROCKET
                     " Deploy\\nby Ann at 10:01:02 UTC\xE2\x80\xAE\"]";
    s = tgmsg_button_text(&c);
    CHECK_EQ_STR(s,
                 MARK_NO "Hold  \xE2\x9C\x85 Approved: " ROCKET " Deploy by Ann at 10:01:02 UTC");
    free(s);
    s = tgmsg_recorded(fake);
    CHECK_EQ_STR(s,
                 "Recorded: Hold  \xE2\x9C\x85 Approved: " ROCKET " Deploy by Ann at 10:01:02 UTC");
    free(s);

    /* The buttons as sent and as stored for tg_press: the answer is one line too. */
    b = tgmsg_buttons(&r, false);
    CHECK_EQ_STR(str(json_array_get(b, 1), "answer"),
                 "Recorded: Hold  \xE2\x9C\x85 Approved: " ROCKET " Deploy by Ann at 10:01:02 UTC");
    json_decref(b);
    p = tgmsg_request(&r, &(bool){false});
    kb = json_object_get(json_object_get(p, "reply_markup"), "inline_keyboard");
    CHECK(strchr(str(json_array_get(json_array_get(kb, 1), 0), "text"), '\n') == NULL);
    json_decref(p);

    /* The final edit: the response is one line of code, the decision line Loopgate's own. */
    r.status = "completed";
    r.approved = false;
    r.response = fake;
    r.responder_name = "Bob\nby Eve";
    r.responded_at = "2026-11-25T10:01:05.000000Z";
    p = tgmsg_final(&r);
    text = str(p, "text");
    CHECK_CONTAINS(text, "\xE2\x9D\x8C <b>Denied</b>: <code>Hold  \xE2\x9C\x85 Approved: " ROCKET
                         " Deploy by Ann at 10:01:02 UTC</code>\nby Bob by Eve at 10:01:05 UTC");
    CHECK(strstr(text, "\n\xE2\x9C\x85") == NULL);
    CHECK(strstr(text, "\xE2\x80\xAE") == NULL);
    json_decref(p);
}

/* Metadata named like Loopgate's lines stays in the agent's blockquote; bidi is dropped. */
TEST(metadata_cannot_imitate)
{
    struct lg_request r = sample("confirmation");
    json_t *p;
    const char *text, *quote_end;

    r.message = "Deploy?\xE2\x80\xAE"
                "evil"
                "\n"
                "\n\n\n\n\n\n\n\n\n\n(also DROP DATABASE production)";
    r.metadata_json = "{\"client\": \"trusted\", \"session\\u202e\": \"x\\u2066y\"}";
    p = tgmsg_request(&r, &(bool){false});
    text = str(p, "text");
    CHECK_CONTAINS(text,
                   "<blockquote>Deploy?evil\n\n\n(also DROP DATABASE production)</blockquote>");
    CHECK_CONTAINS(text, "<blockquote><b>client</b>: trusted\n<b>session</b>: xy</blockquote>");
    quote_end = strstr(text, "xy</blockquote>");
    CHECK(quote_end != NULL && strstr(text, "client <code>ci-cd-pipeline</code>") > quote_end);
    CHECK(strstr(text, "\xE2\x80\xAE") == NULL && strstr(text, "\xE2\x81\xA6") == NULL);
    json_decref(p);
}

/* A cut message always offers a way to deny: an added Deny when no option denies. */
TEST(cut_offers_deny)
{
    struct lg_request r = sample("choice");
    struct tg_choice c[TG_MAX_CHOICES + 1];
    json_t *hold, *b, *p, *kb;
    char *msg = repeat("deploy everything ", 1000), data[CALLBACK_DATA_MAX + 1];
    bool truncated = false;
    int n;

    r.options_json = "[\"Deploy\", \"Ship\"]";
    n = tgmsg_offered(&r, false, c, &hold);
    CHECK_EQ_INT(n, 2);
    json_decref(hold);
    n = tgmsg_offered(&r, true, c, &hold);
    CHECK_EQ_INT(n, 3);
    CHECK_EQ_STR(c[2].label, CONFIRM_DENY_LABEL);
    CHECK(!c[2].approve);
    json_decref(hold);

    b = tgmsg_buttons(&r, true);
    s_check_dump(b, "[{\"answer\":\"Recorded: Deploy\",\"approve\":true,\"label\":\"Deploy\","
                    "\"refused\":true},{\"answer\":\"Recorded: Ship\",\"approve\":true,\"label\":"
                    "\"Ship\",\"refused\":true},{\"answer\":\"Recorded: Deny\",\"approve\":false,"
                    "\"label\":\"Deny\",\"refused\":false}]");
    json_decref(b);

    r.message = msg;
    p = tgmsg_request(&r, &truncated);
    CHECK(truncated);
    kb = json_object_get(json_object_get(p, "reply_markup"), "inline_keyboard");
    CHECK_EQ_INT(json_array_size(kb), 2);
    CHECK_EQ_STR(str(json_array_get(json_array_get(kb, 0), 0), "text"), MARK_NO "Deny");
    CHECK(decide_callback_format(ID, 2, data, sizeof(data)) == 0);
    CHECK_EQ_STR(str(json_array_get(json_array_get(kb, 0), 0), "callback_data"), data);
    /* Deny with a reason is a deny: a cut message keeps it. */
    CHECK_EQ_STR(str(json_array_get(json_array_get(kb, 1), 0), "text"), TGMSG_DENY_WITH_REASON);
    json_decref(p);

    /* With a denying option, no extra button: that option is the way to deny. */
    r.options_json = "[\"Deploy\", \"Hold\"]";
    n = tgmsg_offered(&r, true, c, &hold);
    CHECK_EQ_INT(n, 2);
    json_decref(hold);
    /* An input request has no buttons: a typed answer denies. */
    r.request_type = "input";
    r.options_json = NULL;
    n = tgmsg_offered(&r, true, c, &hold);
    CHECK_EQ_INT(n, 0);
    free(msg);
}

/*
 * The params, under the message and outside it: a line per key, escaped, the
 * /edit hint while a single approval is pending; a value too long to show
 * whole makes the message cut, so it cannot be approved unread.
 */
TEST(params_shown)
{
    struct lg_request r = sample("confirmation");
    char *big = malloc(5000), *markup;
    struct sbuf b = {0};
    bool truncated;
    const char *t;
    json_t *p;

    r.params_json = "{\"replicas\": 3, \"env\": \"<staging>\", \"dry_run\": true}";
    r.approvals_required = 1;
    p = tgmsg_request(&r, &truncated);
    t = str(p, "text");
    CHECK(!truncated);
    CHECK_CONTAINS(t, "<b>Parameters (reply /edit key=value to change them):</b>\n<blockquote>");
    CHECK_CONTAINS(t, "<code>replicas</code> = 3");
    CHECK_CONTAINS(t, "<code>env</code> = &quot;&lt;staging&gt;&quot;");
    CHECK_CONTAINS(t, "<code>dry_run</code> = true");
    json_decref(p);

    /* A quorum offers no /edit. */
    r.approvals_required = 2;
    p = tgmsg_request(&r, &truncated);
    CHECK_CONTAINS(str(p, "text"), "<b>Parameters:</b>");
    CHECK(!strstr(str(p, "text"), "/edit"));
    json_decref(p);

    /* The final edit of an approval with edits says so. */
    r.approvals_required = 1;
    r.status = "completed";
    r.approved = true;
    r.response = "Approve";
    r.edited = true;
    p = tgmsg_final(&r);
    CHECK_CONTAINS(str(p, "text"), "<b>Parameters, as edited and approved:</b>");
    json_decref(p);

    /* A value longer than a line shows: cut, and no approving button. */
    r = sample("confirmation");
    memset(big, 'x', 4999);
    big[4999] = '\0';
    sb_printf(&b, "{\"note\": \"%s\"}", big);
    r.params_json = b.p;
    p = tgmsg_request(&r, &truncated);
    CHECK(truncated);
    markup = json_dumps(json_object_get(p, "reply_markup"), 0);
    CHECK(markup && !strstr(markup, "Approve"));
    free(markup);
    json_decref(p);
    sb_free(&b);
    free(big);
}

/* ------------------------------------------------------------ tgmsg_login_button */

/* The keyboard of `p` as compact JSON (malloc'd). */
static char *markup_dump(json_t *p)
{
    return json_dumps(json_object_get(p, "reply_markup"), JSON_COMPACT | JSON_SORT_KEYS);
}

TEST(login_button)
{
    struct lg_request r = sample("choice");
    bool truncated;
    json_t *p, *kb, *last, *login;
    char *before, *after, *msg = repeat("deploy everything ", 1000);
    size_t n;

    r.options_json = README_OPTIONS;
    p = tgmsg_request(&r, &truncated);
    CHECK(!truncated);
    before = markup_dump(p);
    n = json_array_size(json_object_get(json_object_get(p, "reply_markup"), "inline_keyboard"));
    tgmsg_login_button(p, "https://hitl.example.com/", r.id, truncated);
    kb = json_object_get(json_object_get(p, "reply_markup"), "inline_keyboard");
    /* One more row, last, alone; the rows before it exactly as they were. */
    CHECK_EQ_INT(json_array_size(kb), n + 1);
    last = json_array_get(kb, n);
    CHECK_EQ_INT(json_array_size(last), 1);
    CHECK_EQ_STR(str(json_array_get(last, 0), "text"), "Open in console");
    CHECK(json_object_get(json_array_get(last, 0), "callback_data") == NULL);
    CHECK(json_object_get(json_array_get(last, 0), "style") == NULL);
    login = json_object_get(json_array_get(last, 0), "login_url");
    CHECK_EQ_STR(str(login, "url"), "https://hitl.example.com/console/api/telegram-login?r=" ID);
    CHECK(json_is_false(json_object_get(login, "request_write_access")));
    json_array_remove(kb, n);
    after = markup_dump(p);
    CHECK_EQ_STR(after, before);
    free(before);
    free(after);
    json_decref(p);

    /* A cut message: "Read it all", after its deny buttons. */
    r.message = msg;
    p = tgmsg_request(&r, &truncated);
    CHECK(truncated);
    tgmsg_login_button(p, "https://hitl.example.com", r.id, truncated);
    kb = json_object_get(json_object_get(p, "reply_markup"), "inline_keyboard");
    last = json_array_get(kb, json_array_size(kb) - 1);
    CHECK_EQ_STR(str(json_array_get(last, 0), "text"), "Read it all");
    CHECK_EQ_STR(str(json_object_get(json_array_get(last, 0), "login_url"), "url"),
                 "https://hitl.example.com/console/api/telegram-login?r=" ID);
    CHECK_EQ_STR(str(json_array_get(json_array_get(kb, 0), 0), "style"), "danger");
    json_decref(p);

    /* An answer request: the button in place of force_reply. */
    r = sample("input");
    p = tgmsg_request(&r, &truncated);
    tgmsg_login_button(p, "https://hitl.example.com", r.id, truncated);
    CHECK(json_object_get(json_object_get(p, "reply_markup"), "force_reply") == NULL);
    kb = json_object_get(json_object_get(p, "reply_markup"), "inline_keyboard");
    CHECK_EQ_INT(json_array_size(kb), 1);
    CHECK_EQ_STR(str(json_array_get(json_array_get(kb, 0), 0), "text"), "Open in console");
    json_decref(p);
    free(msg);
}

int main(int argc, char **argv)
{
    t_begin(argc, argv);
    RUN(utf16_len);
    RUN(params_shown);
    RUN(escape);
    RUN(request_confirmation);
    RUN(request_metadata_values);
    RUN(request_choice);
    RUN(request_ten_options);
    RUN(request_input);
    RUN(request_html_escaped);
    RUN(long_message);
    RUN(quorum_progress);
    RUN(many_metadata_keys);
    RUN(metadata_never_silently_cut);
    RUN(truncated_buttons);
    RUN(cut_boundary);
    RUN(final_completed);
    RUN(final_other_states);
    RUN(agent_text_set_apart);
    RUN(button_text);
    RUN(choices);
    RUN(buttons_kept);
    RUN(clean);
    RUN(labels_one_line);
    RUN(metadata_cannot_imitate);
    RUN(cut_offers_deny);
    RUN(login_button);
    return t_end();
}
