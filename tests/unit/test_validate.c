/*
 * test_validate.c - unit tests for validate.c.
 *
 * Most cases are rows of a table: a patch (JSON text) applied to a minimal
 * valid body, optionally a field dropped from it, and the error expected
 * (always HTTP 400): its code and a piece of its message.
 */
#include <stdlib.h>
#include <string.h>

#include "t.h"
#include "validate.h"

#define DEFAULT_TIMEOUT 300

/* The README's submit example (its emoji in UTF-8). */
static const char readme_submit[] =
    "{\n"
    "  \"session_id\": \"production-deploy-bot\",\n"
    "  \"client_id\": \"ci-cd-pipeline\",\n"
    "  \"message\": \"Deploy v2.1.0 to production? All tests passed \xE2\x9C\x85\",\n"
    "  \"options\": [\"\xF0\x9F\x9A\x80 Deploy\", \"\xE2\x8F\xB8\xEF\xB8\x8F Hold\", "
    "\"\xF0\x9F\x94\x8D Review First\"],\n"
    "  \"metadata\": {\n"
    "    \"version\": \"v2.1.0\",\n"
    "    \"tests_passed\": 847,\n"
    "    \"code_coverage\": \"94.2%\",\n"
    "    \"environment\": \"production\"\n"
    "  }\n"
    "}";

static const char readme_register[] = "{\"session_id\": \"production-deploy-bot\", "
                                      "\"client_id\": \"ci-cd-pipeline\", "
                                      "\"telegram_id\": 123456789}";

/* Parse `text` that must be a valid object; NULL (and a failed check) if not. */
static json_t *load(const char *text)
{
    struct lg_error err = {0};
    json_t *v = NULL;

    if (parse_json_object(text, strlen(text), &v, &err) < 0) {
        CHECKF(0, "could not parse test body %s: %s", text, err.message);
        return NULL;
    }
    return v;
}

/* A JSON string of `n` copies of `unit`, as a new reference. */
static json_t *repeat(const char *unit, size_t n)
{
    size_t u = strlen(unit);
    char *s = xmalloc(u * n + 1);
    json_t *v;

    for (size_t i = 0; i < n; i++)
        memcpy(s + i * u, unit, u);
    s[u * n] = '\0';
    v = json_string(s);
    free(s);
    return v;
}

/* Check that `rc`/`err` is the 400 error `code` with `msg` in its message. */
static void check_error(const char *what, int rc, const struct lg_error *err, const char *code,
                        const char *msg)
{
    CHECKF(rc == -1, "%s: rc %d, expected -1", what, rc);
    CHECKF(err->status == 400, "%s: status %d, expected 400", what, err->status);
    CHECKF(!strcmp(err->code, code), "%s: code %s, expected %s (%s)", what, err->code, code,
           err->message);
    CHECKF(strstr(err->message, msg) != NULL, "%s: message \"%s\" lacks \"%s\"", what, err->message,
           msg);
}

/* ------------------------------------------------------------ parse_json_object */

struct parse_case {
    const char *name;
    const char *body;
    size_t len; /* 0: strlen(body) */
    const char *code;
    const char *msg;
};

static const struct parse_case parse_bad[] = {
    {"empty body", "", 0, "invalid_json", "empty"},
    {"invalid UTF-8 byte", "{\"message\": \"\xFF\"}", 0, "invalid_utf8", "UTF-8"},
    {"truncated UTF-8", "{\"message\": \"caf\xC3\"}", 0, "invalid_utf8", "UTF-8"},
    {"overlong UTF-8", "{\"message\": \"\xC0\xAF\"}", 0, "invalid_utf8", "UTF-8"},
    {"UTF-8 surrogate", "{\"message\": \"\xED\xA0\x80\"}", 0, "invalid_utf8", "UTF-8"},
    {"unclosed object", "{\"session_id\": \"s\"", 0, "invalid_json", "malformed JSON at line 1"},
    {"trailing comma", "{\"a\": 1,}", 0, "invalid_json", "malformed JSON"},
    {"single quotes", "{'a': 1}", 0, "invalid_json", "malformed JSON"},
    {"trailing garbage", "{} x", 0, "invalid_json", "malformed JSON"},
    {"not JSON", "session_id=s", 0, "invalid_json", "malformed JSON"},
    {"array", "[1, 2]", 0, "invalid_json", "JSON object"},
    {"string", "\"text\"", 0, "invalid_json", ""},
    {"number", "42", 0, "invalid_json", ""},
    {"null", "null", 0, "invalid_json", ""},
    {"duplicate keys", "{\"message\": \"a\", \"message\": \"b\"}", 0, "invalid_json", "duplicate"},
    {"escaped NUL", "{\"message\": \"a\\u0000b\"}", 0, "invalid_json", "malformed JSON"},
    {"raw NUL byte", "{\"a\": 1}\0", 9, "invalid_json", "malformed JSON"},
    {"integer beyond int64", "{\"telegram_id\": 99999999999999999999}", 0, "invalid_json",
     "malformed JSON"},
    {"lone surrogate escape", "{\"m\": \"\\ud800\"}", 0, "invalid_json", "malformed JSON"},
};

TEST(parse_json_object)
{
    struct lg_error err;
    json_t *v;

    for (size_t i = 0; i < sizeof(parse_bad) / sizeof(parse_bad[0]); i++) {
        const struct parse_case *c = &parse_bad[i];
        size_t len = c->len ? c->len : strlen(c->body);
        int rc;

        memset(&err, 0, sizeof(err));
        v = NULL;
        rc = parse_json_object(c->body, len, &v, &err);
        check_error(c->name, rc, &err, c->code, c->msg);
        CHECKF(v == NULL, "%s: output set on failure", c->name);
        if (rc == 0)
            json_decref(v);
    }

    /* Only `len` bytes are read: what follows does not matter. */
    v = NULL;
    CHECK_EQ_INT(parse_json_object("{\"a\": 1}garbage", 8, &v, &err), 0);
    CHECK(json_is_object(v) && json_integer_value(json_object_get(v, "a")) == 1);
    json_decref(v);

    v = load(readme_submit);
    CHECK(json_is_object(v));
    CHECK_EQ_INT(json_object_size(v), 5);
    json_decref(v);

    /* An escaped, valid surrogate pair is fine. */
    v = load("{\"m\": \"\\ud83d\\ude80\"}");
    CHECK_EQ_STR(json_string_value(json_object_get(v, "m")), "\xF0\x9F\x9A\x80");
    json_decref(v);
}

/* ------------------------------------------------------------ validate_submit */

TEST(submit_readme)
{
    struct submit_in in;
    struct lg_error err = {0};
    json_t *body = load(readme_submit);

    if (!body)
        return;
    CHECK_EQ_INT(validate_submit(body, DEFAULT_TIMEOUT, &in, &err), 0);
    CHECK_EQ_STR(in.session_id, "production-deploy-bot");
    CHECK_EQ_STR(in.client_id, "ci-cd-pipeline");
    CHECK_EQ_STR(in.message, "Deploy v2.1.0 to production? All tests passed \xE2\x9C\x85");
    CHECK_EQ_STR(in.request_type, "choice");
    CHECK(json_is_array(in.options));
    CHECK_EQ_INT(json_array_size(in.options), 3);
    CHECK_EQ_STR(json_string_value(json_array_get(in.options, 1)), "\xE2\x8F\xB8\xEF\xB8\x8F Hold");
    CHECK(json_is_object(in.metadata));
    CHECK_EQ_INT(json_integer_value(json_object_get(in.metadata, "tests_passed")), 847);
    CHECK_EQ_INT(in.timeout_seconds, DEFAULT_TIMEOUT);
    CHECK_EQ_STR(in.on_timeout, "deny");
    CHECK(in.callback_url == NULL);
    json_decref(body);
}

/* What each option means, fixed at submit, and the submit answer's list of it. */
TEST(submit_option_meanings)
{
    static const struct {
        const char *options;
        const char *type;
        const char *answer;
    } cases[] = {
        {"[\"Ship\", \"Revert\"]", NULL,
         "[{\"approve\":true,\"label\":\"Ship\"},{\"approve\":false,\"label\":\"Revert\"}]"},
        {"[\"Blue\", \"Green\"]", NULL,
         "[{\"approve\":false,\"label\":\"Blue\"},{\"approve\":false,\"label\":\"Green\"}]"},
        {"[{\"label\": \"Blue\", \"approve\": true}, {\"label\": \"Red\"}]", NULL,
         "[{\"approve\":true,\"label\":\"Blue\"},{\"approve\":false,\"label\":\"Red\"}]"},
        {"[{\"label\": \"Go\", \"approve\": null}, \"Stop\"]", NULL,
         "[{\"approve\":true,\"label\":\"Go\"},{\"approve\":false,\"label\":\"Stop\"}]"},
        {"null", "\"confirmation\"",
         "[{\"approve\":true,\"label\":\"Approve\"},{\"approve\":false,\"label\":\"Deny\"}]"},
        {"null", "\"input\"", "[]"},
        /* A label approves only when every word is an approval or filler word. */
        {"[\"Run tests first\", \"Go back\", \"Deploy tomorrow\", \"Go?\", \"Maybe ok\"]", NULL,
         "[{\"approve\":false,\"label\":\"Run tests first\"},{\"approve\":false,\"label\":\"Go "
         "back\"},{\"approve\":false,\"label\":\"Deploy tomorrow\"},{\"approve\":false,\"label\":"
         "\"Go?\"},{\"approve\":false,\"label\":\"Maybe ok\"}]"},
        {"[\"Yes, deploy\", \"Go ahead\", \"Ship it\", \"Deploy now\", \"Approve and deploy\"]",
         NULL,
         "[{\"approve\":true,\"label\":\"Yes, deploy\"},{\"approve\":true,\"label\":\"Go "
         "ahead\"},{\"approve\":true,\"label\":\"Ship it\"},{\"approve\":true,\"label\":\"Deploy "
         "now\"},{\"approve\":true,\"label\":\"Approve and deploy\"}]"},
        {"[\"LGTM but fix tests\", \"Okay, I'll think about it\", \"Don`t deploy\"]", NULL,
         "[{\"approve\":false,\"label\":\"LGTM but fix tests\"},{\"approve\":false,\"label\":"
         "\"Okay, I'll think about it\"},{\"approve\":false,\"label\":\"Don`t deploy\"}]"},
        /* An action word may name a button that approves; a refusal may not. */
        {"[{\"label\": \"Rollback\", \"approve\": true}, {\"label\": \"Cancel\", \"approve\": "
         "true}, \"Revert\"]",
         NULL,
         "[{\"approve\":true,\"label\":\"Rollback\"},{\"approve\":true,\"label\":\"Cancel\"},{"
         "\"approve\":false,\"label\":\"Revert\"}]"},
        /* Emoji and symbols decorate; a Cyrillic or Greek word beside a Latin one is fine. */
        {"[\"\\ud83d\\udd35 Deploy\", \"\u0414\u0430 yes\", \"\u00c9t\u00e9\"]", NULL,
         "[{\"approve\":true,\"label\":\"\xF0\x9F\x94\xB5 Deploy\"},{\"approve\":true,\"label\":"
         "\"\xD0\x94\xD0\xB0 yes\"},{\"approve\":false,\"label\":\"\xC3\x89t\xC3\xA9\"}]"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[512];
        struct submit_in in;
        struct lg_error err = {0};
        json_t *body, *ans;
        char *got;

        snprintf(text, sizeof(text),
                 "{\"session_id\": \"s\", \"client_id\": \"c\", \"message\": \"m\", "
                 "\"options\": %s, \"request_type\": %s}",
                 cases[i].options, cases[i].type ? cases[i].type : "null");
        body = load(text);
        if (!body)
            continue;
        if (!CHECKF(validate_submit(body, DEFAULT_TIMEOUT, &in, &err) == 0, "%s: %s", text,
                    err.message)) {
            json_decref(body);
            continue;
        }
        ans = validate_options_answer(&in);
        got = json_dumps(ans, JSON_COMPACT | JSON_SORT_KEYS);
        CHECKF(t_streq(got, cases[i].answer), "%s: answer %s, expected %s", text, got,
               cases[i].answer);
        free(got);
        json_decref(ans);
        json_decref(body);
    }
}

struct submit_ok {
    const char *body;
    const char *request_type;
    int has_options, has_metadata;
    int timeout;
    const char *on_timeout;
    const char *callback_url;
};

#define BASE "\"session_id\": \"s\", \"client_id\": \"c\", \"message\": \"m\""

static const struct submit_ok submit_ok[] = {
    {"{" BASE "}", "input", 0, 0, DEFAULT_TIMEOUT, "deny", NULL},
    {"{" BASE ", \"options\": [\"Yes\", \"No\"]}", "choice", 1, 0, DEFAULT_TIMEOUT, "deny", NULL},
    {"{" BASE ", \"options\": []}", "input", 0, 0, DEFAULT_TIMEOUT, "deny", NULL},
    {"{" BASE ", \"options\": null}", "input", 0, 0, DEFAULT_TIMEOUT, "deny", NULL},
    {"{" BASE ", \"metadata\": {}}", "input", 0, 0, DEFAULT_TIMEOUT, "deny", NULL},
    {"{" BASE ", \"metadata\": null}", "input", 0, 0, DEFAULT_TIMEOUT, "deny", NULL},
    {"{" BASE ", \"metadata\": {\"k\": [1, {\"x\": null}]}}", "input", 0, 1, DEFAULT_TIMEOUT,
     "deny", NULL},
    {"{" BASE ", \"options\": [], \"metadata\": {}}", "input", 0, 0, DEFAULT_TIMEOUT, "deny", NULL},
    {"{" BASE ", \"timeout_seconds\": 0}", "input", 0, 0, DEFAULT_TIMEOUT, "deny", NULL},
    {"{" BASE ", \"timeout_seconds\": null}", "input", 0, 0, DEFAULT_TIMEOUT, "deny", NULL},
    {"{" BASE ", \"timeout_seconds\": 1}", "input", 0, 0, 1, "deny", NULL},
    {"{" BASE ", \"timeout_seconds\": 86400}", "input", 0, 0, 86400, "deny", NULL},
    {"{" BASE ", \"request_type\": \"confirmation\"}", "confirmation", 0, 0, DEFAULT_TIMEOUT,
     "deny", NULL},
    {"{" BASE ", \"request_type\": \"input\", \"options\": [\"a\"]}", "input", 1, 0,
     DEFAULT_TIMEOUT, "deny", NULL},
    {"{" BASE ", \"request_type\": \"choice\", \"options\": [\"a\"]}", "choice", 1, 0,
     DEFAULT_TIMEOUT, "deny", NULL},
    {"{" BASE ", \"request_type\": \"\"}", "input", 0, 0, DEFAULT_TIMEOUT, "deny", NULL},
    {"{" BASE ", \"request_type\": null, \"options\": [\"a\"]}", "choice", 1, 0, DEFAULT_TIMEOUT,
     "deny", NULL},
    {"{" BASE ", \"request_type\": \"confirmation\", \"on_timeout\": \"approve\"}", "confirmation",
     0, 0, DEFAULT_TIMEOUT, "approve", NULL},
    {"{" BASE ", \"on_timeout\": \"deny\"}", "input", 0, 0, DEFAULT_TIMEOUT, "deny", NULL},
    {"{" BASE ", \"on_timeout\": \"\"}", "input", 0, 0, DEFAULT_TIMEOUT, "deny", NULL},
    {"{" BASE ", \"callback_url\": \"https://agent.example/hook?x=1\"}", "input", 0, 0,
     DEFAULT_TIMEOUT, "deny", "https://agent.example/hook?x=1"},
    {"{" BASE ", \"callback_url\": \"http://127.0.0.1:9000/cb\"}", "input", 0, 0, DEFAULT_TIMEOUT,
     "deny", "http://127.0.0.1:9000/cb"},
    {"{" BASE ", \"callback_url\": \"\"}", "input", 0, 0, DEFAULT_TIMEOUT, "deny", NULL},
    {"{" BASE ", \"unknown_field\": [1, 2, 3], \"user_id\": 7}", "input", 0, 0, DEFAULT_TIMEOUT,
     "deny", NULL},
};

TEST(submit_valid)
{
    for (size_t i = 0; i < sizeof(submit_ok) / sizeof(submit_ok[0]); i++) {
        const struct submit_ok *c = &submit_ok[i];
        struct lg_error err = {0};
        struct submit_in in;
        json_t *body = load(c->body);
        int rc;

        if (!body)
            continue;
        rc = validate_submit(body, DEFAULT_TIMEOUT, &in, &err);
        CHECKF(rc == 0, "%s: rc %d: %s", c->body, rc, err.message);
        if (rc == 0) {
            CHECKF(!strcmp(in.request_type, c->request_type), "%s: request_type %s, expected %s",
                   c->body, in.request_type, c->request_type);
            CHECKF((in.options != NULL) == c->has_options, "%s: options %p", c->body,
                   (void *)in.options);
            CHECKF((in.metadata != NULL) == c->has_metadata, "%s: metadata %p", c->body,
                   (void *)in.metadata);
            CHECKF(in.timeout_seconds == c->timeout, "%s: timeout %d, expected %d", c->body,
                   in.timeout_seconds, c->timeout);
            CHECKF(!strcmp(in.on_timeout, c->on_timeout), "%s: on_timeout %s", c->body,
                   in.on_timeout);
            CHECKF(t_streq(in.callback_url, c->callback_url), "%s: callback_url %s", c->body,
                   in.callback_url ? in.callback_url : "(null)");
            CHECKF(!strcmp(in.session_id, "s") && !strcmp(in.client_id, "c") &&
                       !strcmp(in.message, "m"),
                   "%s: ids", c->body);
        }
        json_decref(body);
    }
}

struct bad_case {
    const char *patch; /* JSON object merged into the base body, or NULL */
    const char *drop;  /* field removed from the base body, or NULL */
    const char *code;
    const char *msg;
};

static const struct bad_case submit_bad[] = {
    {NULL, "session_id", "missing_field", "session_id is required"},
    {NULL, "client_id", "missing_field", "client_id is required"},
    {NULL, "message", "missing_field", "message is required"},
    {"{\"session_id\": null}", NULL, "missing_field", "session_id is required"},
    {"{\"session_id\": \"\"}", NULL, "missing_field", "session_id must not be empty"},
    {"{\"session_id\": 5}", NULL, "invalid_field", "session_id must be a string"},
    {"{\"client_id\": [\"c\"]}", NULL, "invalid_field", "client_id must be a string"},
    {"{\"client_id\": \"a\\u0001b\"}", NULL, "invalid_field", "client_id must not contain control"},
    {"{\"session_id\": \"a\\nb\"}", NULL, "invalid_field", "session_id must not contain control"},
    {"{\"session_id\": \"a\\u007fb\"}", NULL, "invalid_field", "session_id must not contain"},
    {"{\"message\": null}", NULL, "missing_field", "message is required"},
    {"{\"message\": \"\"}", NULL, "missing_field", "message must not be empty"},
    {"{\"message\": 42}", NULL, "invalid_field", "message must be a string"},
    {"{\"message\": {\"text\": \"m\"}}", NULL, "invalid_field", "message must be a string"},
    {"{\"options\": \"Yes,No\"}", NULL, "invalid_field", "options must be an array of strings"},
    {"{\"options\": {\"a\": 1}}", NULL, "invalid_field", "options must be an array"},
    {"{\"options\": [\"Yes\", 2]}", NULL, "invalid_field", "options[1] must be a string"},
    {"{\"options\": [null]}", NULL, "invalid_field", "options[0] must be a string"},
    {"{\"options\": [\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"10\",\"11\"]}", NULL,
     "invalid_field", "options must have at most 10 entries"},
    {"{\"options\": [\"ok\", \"\"]}", NULL, "invalid_field", "options[1] must be 1-64 characters"},
    {"{\"options\": [\"Yes\", \"No\", \"Yes\"]}", NULL, "invalid_field",
     "options[2] repeats options[0]"},
    /* An option object whose label says the opposite of its approve flag. */
    {"{\"options\": [{\"label\": \"Deny\", \"approve\": true}]}", NULL, "invalid_field",
     "options[0].approve is true but its label denies"},
    {"{\"options\": [\"Go\", {\"label\": \"Approve\", \"approve\": false}]}", NULL, "invalid_field",
     "options[1].approve is false but its label approves"},
    {"{\"options\": [{\"label\": \"Don't deploy\", \"approve\": true}]}", NULL, "invalid_field",
     "options[0].approve is true but its label denies"},
    {"{\"options\": [{\"label\": \"\xE2\x9C\x85 Ship\", \"approve\": false}]}", NULL,
     "invalid_field", "options[0].approve is false but its label approves"},
    {"{\"options\": [{\"label\": \"Deploy now\", \"approve\": false}]}", NULL, "invalid_field",
     "options[0].approve is false but its label approves"},
    {"{\"options\": [{\"label\": \"Don\u00b4t deploy\", \"approve\": true}]}", NULL,
     "invalid_field", "options[0].approve is true but its label denies"},
    {"{\"options\": [{\"label\": \"Don\u2018t deploy\", \"approve\": true}]}", NULL,
     "invalid_field", "options[0].approve is true but its label denies"},
    {"{\"options\": [{\"label\": \"Don`t deploy\", \"approve\": true}]}", NULL, "invalid_field",
     "options[0].approve is true but its label denies"},
    {"{\"options\": [{\"label\": \"Don\u02bct deploy\", \"approve\": true}]}", NULL,
     "invalid_field", "options[0].approve is true but its label denies"},
    {"{\"options\": [{\"label\": \"Disagree\", \"approve\": true}]}", NULL, "invalid_field",
     "options[0].approve is true but its label denies"},
    {"{\"options\": [{\"label\": \"Negative\", \"approve\": true}]}", NULL, "invalid_field",
     "options[0].approve is true but its label denies"},
    /* Labels that look like one thing and read as another. */
    {"{\"options\": [\"Ok\", {\"label\": \"\uff24\uff45\uff4e\uff59\", \"approve\": true}]}", NULL,
     "invalid_field", "options[1].approve is true but its label denies"},
    {"{\"options\": [{\"label\": \"Reject\u0301\", \"approve\": true}]}", NULL, "invalid_field",
     "options[0].approve is true but its label denies"},
    {"{\"options\": [{\"label\": \"De\u2060ny\", \"approve\": true}]}", NULL, "invalid_field",
     "options[0] must not contain control, bidi or invisible formatting characters"},
    {"{\"options\": [{\"label\": \"De\u00adny\", \"approve\": true}]}", NULL, "invalid_field",
     "options[0] must not contain control, bidi or invisible"},
    {"{\"options\": [{\"label\": \"\u202eyneD\", \"approve\": true}]}", NULL, "invalid_field",
     "options[0] must not contain control, bidi or invisible"},
    {"{\"options\": [\"Ship\", \"De\u200bny\"]}", NULL, "invalid_field",
     "options[1] must not contain control"},
    {"{\"options\": [\"Ship\\nDeny\"]}", NULL, "invalid_field",
     "options[0] must not contain control"},
    {"{\"options\": [\"Ship\\tit\"]}", NULL, "invalid_field",
     "options[0] must not contain control"},
    {"{\"options\": [\"Ship\\r\"]}", NULL, "invalid_field", "options[0] must not contain control"},
    {"{\"options\": [\"\u2060\"]}", NULL, "invalid_field", "options[0] must not contain control"},
    {"{\"options\": [{\"label\": \"D\u0435ny\", \"approve\": true}]}", NULL, "invalid_field",
     "options[0] mixes Latin and Cyrillic letters in one word"},
    {"{\"options\": [\"Yes\", {\"label\": \"N\u043e\", \"approve\": true}]}", NULL, "invalid_field",
     "options[1] mixes Latin and Cyrillic letters in one word"},
    {"{\"options\": [\"\u0410pprove\"]}", NULL, "invalid_field",
     "options[0] mixes Latin and Cyrillic letters in one word"},
    {"{\"options\": [\"N-\u043e\"]}", NULL, "invalid_field",
     "options[0] mixes Latin and Cyrillic letters in one word"},
    {"{\"options\": [\"\u039fK\"]}", NULL, "invalid_field",
     "options[0] mixes Latin and Greek letters in one word"},
    {"{\"options\": [\"   \"]}", NULL, "invalid_field",
     "options[0] must hold a visible letter, digit or emoji"},
    {"{\"options\": [\"Ok\", \"...\"]}", NULL, "invalid_field",
     "options[1] must hold a visible letter, digit or emoji"},
    {"{\"options\": [\"\u3000\u00a0\"]}", NULL, "invalid_field",
     "options[0] must hold a visible letter, digit or emoji"},
    {"{\"options\": [\"\u0301\ufe0f\"]}", NULL, "invalid_field",
     "options[0] must hold a visible letter, digit or emoji"},
    {"{\"options\": [\"Deploy\u200d\U0001F4BB\"]}", NULL, "invalid_field",
     "options[0] must not contain control"},
    {"{\"options\": [\"\u200d\U0001F4BB Deploy\"]}", NULL, "invalid_field",
     "options[0] must not contain control"},
    {"{\"options\": [\"\u2800\"]}", NULL, "invalid_field", "options[0] writes letters as symbols"},
    {"{\"options\": [\"\U0001F17D\U0001F17E\U0001F183 Deploy\"]}", NULL, "invalid_field",
     "options[0] writes letters as symbols"},
    {"{\"options\": [\"Deploy \u24DD\u24DE\u24E3\"]}", NULL, "invalid_field",
     "options[0] writes letters as symbols"},
    {"{\"options\": [\"\u2115\u2134 Ship\"]}", NULL, "invalid_field",
     "options[0] writes letters as symbols"},
    {"{\"options\": [\"\U0001F1F3 \U0001F1F4 Deploy\"]}", NULL, "invalid_field",
     "options[0] writes letters as symbols"},
    {"{\"options\": [\"\u281D\u2815 Deploy\"]}", NULL, "invalid_field",
     "options[0] writes letters as symbols"},
    {"{\"request_type\": \"input\", \"on_timeout\": \"approve\"}", NULL, "invalid_field",
     "on_timeout approve needs an option that approves"},
    {"{\"options\": [\"Hold\", \"Cancel\"], \"on_timeout\": \"approve\"}", NULL, "invalid_field",
     "on_timeout approve needs an option that approves"},
    {"{\"request_type\": \"confirmation\", \"options\": [\"Blue\", \"Green\"], "
     "\"on_timeout\": \"approve\"}",
     NULL, "invalid_field", "on_timeout approve needs an option that approves"},
    {"{\"metadata\": \"x\"}", NULL, "invalid_field", "metadata must be an object"},
    {"{\"metadata\": [1]}", NULL, "invalid_field", "metadata must be an object"},
    {"{\"metadata\": 3}", NULL, "invalid_field", "metadata must be an object"},
    {"{\"timeout_seconds\": 86401}", NULL, "invalid_field", "timeout_seconds must be 1-86400"},
    {"{\"timeout_seconds\": -1}", NULL, "invalid_field", "timeout_seconds must be 1-86400"},
    {"{\"timeout_seconds\": 9223372036854775807}", NULL, "invalid_field",
     "timeout_seconds must be 1-86400"},
    {"{\"timeout_seconds\": \"30\"}", NULL, "invalid_field", "timeout_seconds must be an integer"},
    {"{\"timeout_seconds\": 30.5}", NULL, "invalid_field", "timeout_seconds must be an integer"},
    {"{\"timeout_seconds\": true}", NULL, "invalid_field", "timeout_seconds must be an integer"},
    {"{\"request_type\": \"bogus\"}", NULL, "invalid_field",
     "request_type must be one of confirmation, choice, input"},
    {"{\"request_type\": \"Choice\"}", NULL, "invalid_field", "request_type must be one of"},
    {"{\"request_type\": 1}", NULL, "invalid_field", "request_type must be a string"},
    {"{\"request_type\": \"choice\"}", NULL, "invalid_field", "request_type choice needs options"},
    {"{\"request_type\": \"choice\", \"options\": []}", NULL, "invalid_field",
     "request_type choice needs options"},
    {"{\"on_timeout\": \"maybe\"}", NULL, "invalid_field", "on_timeout must be deny or approve"},
    {"{\"on_timeout\": false}", NULL, "invalid_field", "on_timeout must be a string"},
    {"{\"callback_url\": \"ftp://agent.example/hook\"}", NULL, "invalid_field",
     "callback_url must be an http(s) URL"},
    {"{\"callback_url\": \"agent.example/hook\"}", NULL, "invalid_field",
     "callback_url must be an http(s) URL"},
    {"{\"callback_url\": \"https://agent.example/a b\"}", NULL, "invalid_field",
     "callback_url must not contain spaces"},
    {"{\"callback_url\": \"https://agent.example/\\r\\nX: y\"}", NULL, "invalid_field",
     "callback_url must not contain"},
    {"{\"callback_url\": 7}", NULL, "invalid_field", "callback_url must be a string"},
    /* reminder and escalation (021); the base body's timeout is the default, 300 s */
    {"{\"remind_after_seconds\": \"60\"}", NULL, "invalid_field",
     "remind_after_seconds must be an integer number of seconds"},
    {"{\"remind_after_seconds\": 300}", NULL, "invalid_field",
     "remind_after_seconds must be less than timeout_seconds (300)"},
    {"{\"remind_after_seconds\": 30, \"timeout_seconds\": 20}", NULL, "invalid_field",
     "remind_after_seconds must be less than timeout_seconds (20)"},
    {"{\"escalate_after_seconds\": 60}", NULL, "missing_field",
     "escalate_after_seconds needs escalate_to"},
    {"{\"escalate_to\": \"boss\"}", NULL, "missing_field",
     "escalate_to needs escalate_after_seconds"},
    {"{\"escalate_to\": \"boss\", \"escalate_after_seconds\": 86401}", NULL, "invalid_field",
     "escalate_after_seconds must be 1-86400"},
    {"{\"escalate_to\": \"\", \"escalate_after_seconds\": 60}", NULL, "missing_field",
     "escalate_to must not be empty"},
    {"{\"escalate_to\": 7, \"escalate_after_seconds\": 60}", NULL, "invalid_field",
     "escalate_to must be a string"},
    {"{\"escalate_to\": \"s\", \"escalate_after_seconds\": 60}", NULL, "invalid_field",
     "escalate_to must name another session than session_id"},
};

/* Base body, with `patch` merged in and `drop` removed; a new reference. */
static json_t *patched(const char *base, const char *patch, const char *drop)
{
    json_t *body = load(base);

    if (!body)
        return NULL;
    if (patch) {
        json_t *p = load(patch);
        if (p)
            json_object_update(body, p);
        json_decref(p);
    }
    if (drop)
        json_object_del(body, drop);
    return body;
}

TEST(submit_errors)
{
    for (size_t i = 0; i < sizeof(submit_bad) / sizeof(submit_bad[0]); i++) {
        const struct bad_case *c = &submit_bad[i];
        struct lg_error err = {0};
        struct submit_in in;
        char what[200];
        json_t *body = patched("{" BASE "}", c->patch, c->drop);
        int rc;

        if (!body)
            continue;
        lg_snprintf(what, sizeof(what), "submit patch %s drop %s", c->patch ? c->patch : "-",
                    c->drop ? c->drop : "-");
        rc = validate_submit(body, DEFAULT_TIMEOUT, &in, &err);
        check_error(what, rc, &err, c->code, c->msg);
        json_decref(body);
    }
}

/* Limits that need long values, built with jansson instead of a table. */
TEST(submit_limits)
{
    struct lg_error err = {0};
    struct submit_in in;
    json_t *body, *opts, *meta;
    int rc;

    /* session_id: 128 bytes pass, 129 fail. */
    body = patched("{" BASE "}", NULL, NULL);
    json_object_set_new(body, "session_id", repeat("s", ID_MAX_BYTES));
    CHECK_EQ_INT(validate_submit(body, DEFAULT_TIMEOUT, &in, &err), 0);
    json_object_set_new(body, "session_id", repeat("s", ID_MAX_BYTES + 1));
    rc = validate_submit(body, DEFAULT_TIMEOUT, &in, &err);
    check_error("session_id 129 bytes", rc, &err, "invalid_field",
                "session_id must be at most 128");
    json_decref(body);

    /* message: 16384 characters (even multibyte) pass, 16385 fail. */
    body = patched("{" BASE "}", NULL, NULL);
    json_object_set_new(body, "message", repeat("\xC3\xA9", MESSAGE_MAX_CHARS));
    CHECK_EQ_INT(validate_submit(body, DEFAULT_TIMEOUT, &in, &err), 0);
    json_object_set_new(body, "message", repeat("m", MESSAGE_MAX_CHARS + 1));
    rc = validate_submit(body, DEFAULT_TIMEOUT, &in, &err);
    check_error("message too long", rc, &err, "invalid_field", "message must be at most 16384");
    json_decref(body);

    /* options: 10 entries pass; 64 characters (emoji) pass, 65 fail. */
    body = patched("{" BASE "}", NULL, NULL);
    opts = json_array();
    for (int i = 0; i < OPTIONS_MAX; i++) {
        char o[16];
        lg_snprintf(o, sizeof(o), "option %d", i);
        json_array_append_new(opts, json_string(o));
    }
    json_object_set_new(body, "options", opts);
    CHECK_EQ_INT(validate_submit(body, DEFAULT_TIMEOUT, &in, &err), 0);
    CHECK_EQ_INT(json_array_size(in.options), 10);
    opts = json_array();
    json_array_append_new(opts, repeat("\xF0\x9F\x9A\x80", OPTION_MAX_CHARS));
    json_array_append_new(opts, repeat("x", OPTION_MAX_CHARS));
    json_object_set_new(body, "options", opts);
    CHECK_EQ_INT(validate_submit(body, DEFAULT_TIMEOUT, &in, &err), 0);
    /* validate_submit replaced "options" by the array of its labels */
    json_array_append_new(json_object_get(body, "options"), repeat("y", OPTION_MAX_CHARS + 1));
    rc = validate_submit(body, DEFAULT_TIMEOUT, &in, &err);
    check_error("65-character option", rc, &err, "invalid_field",
                "options[2] must be 1-64 characters");
    json_decref(body);

    /* metadata: exactly 8192 bytes of compact JSON pass, 8193 fail. */
    body = patched("{" BASE "}", NULL, NULL);
    meta = json_object();
    /* {"k":"…"} is 8 bytes plus the value. */
    json_object_set_new(meta, "k", repeat("v", METADATA_MAX_BYTES - 8));
    json_object_set(body, "metadata", meta);
    CHECK_EQ_INT(validate_submit(body, DEFAULT_TIMEOUT, &in, &err), 0);
    CHECK(in.metadata == meta);
    json_object_set_new(meta, "k", repeat("v", METADATA_MAX_BYTES - 7));
    rc = validate_submit(body, DEFAULT_TIMEOUT, &in, &err);
    check_error("metadata 8193 bytes", rc, &err, "invalid_field",
                "metadata must be at most 8192 bytes as compact JSON (got 8193)");
    json_decref(meta);
    json_decref(body);

    /* callback_url: 2048 bytes pass, 2049 fail. */
    body = patched("{" BASE "}", NULL, NULL);
    {
        char *url = xmalloc(URL_MAX_BYTES + 2);
        memset(url, 'a', URL_MAX_BYTES + 1);
        memcpy(url, "https://", 8);
        url[URL_MAX_BYTES] = '\0';
        json_object_set_new(body, "callback_url", json_string(url));
        CHECK_EQ_INT(validate_submit(body, DEFAULT_TIMEOUT, &in, &err), 0);
        url[URL_MAX_BYTES] = 'a';
        url[URL_MAX_BYTES + 1] = '\0';
        json_object_set_new(body, "callback_url", json_string(url));
        rc = validate_submit(body, DEFAULT_TIMEOUT, &in, &err);
        check_error("callback_url 2049 bytes", rc, &err, "invalid_field",
                    "callback_url must be at most 2048");
        free(url);
    }
    json_decref(body);

    /* The caller's default timeout is used when none is given. */
    body = patched("{" BASE "}", NULL, NULL);
    CHECK_EQ_INT(validate_submit(body, 42, &in, &err), 0);
    CHECK_EQ_INT(in.timeout_seconds, 42);
    json_decref(body);
}

/* ------------------------------------------------------------ validate_register */

TEST(register_valid)
{
    struct lg_error err = {0};
    struct register_in in;
    json_t *body = load(readme_register);

    if (body) {
        CHECK_EQ_INT(validate_register(body, &in, &err), 0);
        CHECK_EQ_STR(in.session_id, "production-deploy-bot");
        CHECK_EQ_STR(in.client_id, "ci-cd-pipeline");
        CHECK(in.telegram_id == 123456789);
        CHECK(in.approvers == NULL);
        CHECK(in.console_approvers == NULL);
        json_decref(body);
    }
    /* without telegram_id: a console-only session (an extension) */
    body = patched(readme_register, "{\"console_approvers\": [\"ann\", \"bob.s\"]}", "telegram_id");
    if (body) {
        CHECK_EQ_INT(validate_register(body, &in, &err), 0);
        CHECK(in.telegram_id == 0);
        CHECK(json_array_size(in.console_approvers) == 2);
        json_decref(body);
    }

    /* A JavaScript client's string of digits. */
    body = patched(readme_register, "{\"telegram_id\": \"123456789\"}", NULL);
    CHECK_EQ_INT(validate_register(body, &in, &err), 0);
    CHECK(in.telegram_id == 123456789);
    json_decref(body);

    /* Above 2^53 stays exact, as a number and as a string. */
    body = patched(readme_register, "{\"telegram_id\": 9007199254740993}", NULL);
    CHECK_EQ_INT(validate_register(body, &in, &err), 0);
    CHECK(in.telegram_id == INT64_C(9007199254740993));
    json_decref(body);
    body = patched(readme_register, "{\"telegram_id\": \"9223372036854775807\"}", NULL);
    CHECK_EQ_INT(validate_register(body, &in, &err), 0);
    CHECK(in.telegram_id == INT64_MAX);
    json_decref(body);

    /* Group chats have negative ids. */
    body = patched(readme_register, "{\"telegram_id\": -1001234567890}", NULL);
    CHECK_EQ_INT(validate_register(body, &in, &err), 0);
    CHECK(in.telegram_id == INT64_C(-1001234567890));
    json_decref(body);

    body = patched(readme_register, "{\"approvers\": [111, \"222\", 9007199254740993]}", NULL);
    CHECK_EQ_INT(validate_register(body, &in, &err), 0);
    CHECK(json_is_array(in.approvers));
    CHECK_EQ_INT(json_array_size(in.approvers), 3);
    json_decref(body);

    body = patched(readme_register, "{\"approvers\": null}", NULL);
    CHECK_EQ_INT(validate_register(body, &in, &err), 0);
    CHECK(in.approvers == NULL);
    json_decref(body);

    body = patched(readme_register, "{\"approvers\": []}", NULL);
    CHECK_EQ_INT(validate_register(body, &in, &err), 0);
    json_decref(body);
}

static const struct bad_case register_bad[] = {
    {NULL, "session_id", "missing_field", "session_id is required"},
    {NULL, "client_id", "missing_field", "client_id is required"},
    {"{\"telegram_id\": null}", NULL, "missing_field", "telegram_id is required"},
    {"{\"telegram_id\": 0}", NULL, "invalid_field", "telegram_id must not be 0"},
    {"{\"console_approvers\": \"ann\"}", NULL, "invalid_field", "console_approvers must be"},
    {"{\"console_approvers\": [\"ann b\"]}", NULL, "invalid_field", "console_approvers[0]"},
    {"{\"console_approvers\": [1]}", NULL, "invalid_field", "console_approvers[0]"},
    {"{\"telegram_id\": \"0\"}", NULL, "invalid_field", "telegram_id must not be 0"},
    {"{\"telegram_id\": \"12abc\"}", NULL, "invalid_field", "telegram_id must be an integer"},
    {"{\"telegram_id\": \"\"}", NULL, "invalid_field", "telegram_id must be an integer"},
    {"{\"telegram_id\": \" 12\"}", NULL, "invalid_field", "telegram_id must be an integer"},
    {"{\"telegram_id\": \"+12\"}", NULL, "invalid_field", "telegram_id must be an integer"},
    {"{\"telegram_id\": \"9223372036854775808\"}", NULL, "invalid_field",
     "telegram_id must be an integer"},
    {"{\"telegram_id\": 1.5}", NULL, "invalid_field", "telegram_id must be an integer"},
    {"{\"telegram_id\": 1e3}", NULL, "invalid_field", "telegram_id must be an integer"},
    {"{\"telegram_id\": true}", NULL, "invalid_field", "telegram_id must be an integer"},
    {"{\"telegram_id\": [1]}", NULL, "invalid_field", "telegram_id must be an integer"},
    {"{\"session_id\": 1}", NULL, "invalid_field", "session_id must be a string"},
    {"{\"approvers\": \"111,222\"}", NULL, "invalid_field",
     "approvers must be an array of Telegram user ids"},
    {"{\"approvers\": {\"a\": 1}}", NULL, "invalid_field", "approvers must be an array"},
    {"{\"approvers\": 111}", NULL, "invalid_field", "approvers must be an array"},
    {"{\"approvers\": [1.5]}", NULL, "invalid_field", "approvers[0] must be an integer"},
    {"{\"approvers\": [111, \"x\"]}", NULL, "invalid_field", "approvers[1] must be an integer"},
    {"{\"approvers\": [111, null]}", NULL, "invalid_field", "approvers[1] must be an integer"},
    {"{\"approvers\": [[111]]}", NULL, "invalid_field", "approvers[0] must be an integer"},
    {"{\"approvers\": [0]}", NULL, "invalid_field", "approvers[0] must be a positive user id"},
    {"{\"approvers\": [5, -5]}", NULL, "invalid_field", "approvers[1] must be a positive user id"},
    {"{\"remind_after_seconds\": -1}", NULL, "invalid_field",
     "remind_after_seconds must be 1-86400 (0: none)"},
    {"{\"escalate_after_seconds\": 60}", NULL, "missing_field",
     "escalate_after_seconds needs escalate_to"},
    {"{\"escalate_to\": \"boss\"}", NULL, "missing_field",
     "escalate_to needs escalate_after_seconds"},
    {"{\"escalate_to\": \"production-deploy-bot\", \"escalate_after_seconds\": 60}", NULL,
     "invalid_field", "escalate_to must name another session than session_id"},
};

/* A submit's reminder and escalation (021): absent -1 (the session's defaults), 0 none. */
TEST(submit_nudges)
{
    static const struct {
        const char *patch;
        int remind, escalate;
        const char *to;
    } cases[] = {
        {"{}", -1, -1, NULL},
        {"{\"remind_after_seconds\": 60}", 60, -1, NULL},
        {"{\"remind_after_seconds\": 0}", 0, -1, NULL},
        {"{\"escalate_after_seconds\": 120, \"escalate_to\": \"boss\"}", -1, 120, "boss"},
        {"{\"escalate_after_seconds\": 0}", -1, 0, ""},
        {"{\"escalate_to\": \"\"}", -1, 0, ""},
        {"{\"remind_after_seconds\": 299, \"escalate_after_seconds\": 299, "
         "\"escalate_to\": \"boss\"}",
         299, 299, "boss"},
    };
    struct lg_error err = {0};
    struct submit_in in;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *body = patched("{" BASE "}", cases[i].patch, NULL);

        if (!body)
            continue;
        if (CHECK(validate_submit(body, DEFAULT_TIMEOUT, &in, &err) == 0)) {
            CHECK_EQ_INT(in.remind_after_seconds, cases[i].remind);
            CHECK_EQ_INT(in.escalate_after_seconds, cases[i].escalate);
            if (cases[i].to)
                CHECK_EQ_STR(in.escalate_to, cases[i].to);
            else
                CHECK(in.escalate_to == NULL);
        }
        json_decref(body);
    }
}

/* The defaults of reminder and escalation (021): absent keeps, 0 or "" clears, else sets. */
TEST(register_nudge_defaults)
{
    static const struct {
        const char *patch;
        int remind, escalate;
        const char *to;
    } cases[] = {
        {"{}", -1, -1, NULL},
        {"{\"remind_after_seconds\": 600}", 600, -1, NULL},
        {"{\"remind_after_seconds\": 0}", 0, -1, NULL},
        {"{\"remind_after_seconds\": null}", -1, -1, NULL},
        {"{\"escalate_after_seconds\": 900, \"escalate_to\": \"boss\"}", -1, 900, "boss"},
        {"{\"escalate_after_seconds\": 0}", -1, 0, ""},
        {"{\"escalate_to\": \"\"}", -1, 0, ""},
    };
    struct lg_error err = {0};
    struct register_in in;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *body = patched(readme_register, cases[i].patch, NULL);

        if (!body)
            continue;
        if (CHECK(validate_register(body, &in, &err) == 0)) {
            CHECK_EQ_INT(in.remind_after_seconds, cases[i].remind);
            CHECK_EQ_INT(in.escalate_after_seconds, cases[i].escalate);
            if (cases[i].to)
                CHECK_EQ_STR(in.escalate_to, cases[i].to);
            else
                CHECK(in.escalate_to == NULL);
        }
        json_decref(body);
    }
}

TEST(register_errors)
{
    struct lg_error err = {0};
    struct register_in in;
    json_t *body, *many;
    int rc;

    for (size_t i = 0; i < sizeof(register_bad) / sizeof(register_bad[0]); i++) {
        const struct bad_case *c = &register_bad[i];
        char what[200];

        body = patched(readme_register, c->patch, c->drop);
        if (!body)
            continue;
        memset(&err, 0, sizeof(err));
        lg_snprintf(what, sizeof(what), "register patch %s drop %s", c->patch ? c->patch : "-",
                    c->drop ? c->drop : "-");
        rc = validate_register(body, &in, &err);
        check_error(what, rc, &err, c->code, c->msg);
        json_decref(body);
    }

    /* 50 approvers pass, 51 fail. */
    body = load(readme_register);
    many = json_array();
    for (int i = 1; i <= APPROVERS_MAX; i++)
        json_array_append_new(many, json_integer(i));
    json_object_set(body, "approvers", many);
    CHECK_EQ_INT(validate_register(body, &in, &err), 0);
    json_array_append_new(many, json_integer(51));
    rc = validate_register(body, &in, &err);
    check_error("51 approvers", rc, &err, "invalid_field", "approvers must list at most 50");
    json_decref(many);
    json_decref(body);
}

/* ------------------------------------------------------------ ids */

TEST(validate_id)
{
    struct lg_error err = {0};
    const char *out = NULL;
    json_t *body = load("{\"request_id\": \"abc\", \"n\": 1, \"e\": \"\", \"z\": null}");
    int rc;

    if (!body)
        return;
    CHECK_EQ_INT(validate_id(body, "request_id", &out, &err), 0);
    CHECK_EQ_STR(out, "abc");
    rc = validate_id(body, "absent", &out, &err);
    check_error("absent", rc, &err, "missing_field", "absent is required");
    rc = validate_id(body, "z", &out, &err);
    check_error("null", rc, &err, "missing_field", "z is required");
    rc = validate_id(body, "n", &out, &err);
    check_error("number", rc, &err, "invalid_field", "n must be a string");
    rc = validate_id(body, "e", &out, &err);
    check_error("empty", rc, &err, "missing_field", "e must not be empty");
    json_decref(body);
}

TEST(validate_request_id)
{
    struct lg_error err = {0};
    int rc;

    CHECK_EQ_INT(validate_request_id("123e4567-e89b-12d3-a456-426614174000", "request_id",
                                     "parameter", &err),
                 0);
    CHECK_EQ_INT(
        validate_request_id("123E4567-E89B-12D3-A456-426614174000", "request_id", "field", &err),
        0);

    rc = validate_request_id(NULL, "request_id", "parameter", &err);
    check_error("NULL parameter", rc, &err, "missing_parameter", "request_id is required");
    rc = validate_request_id("", "request_id", "parameter", &err);
    check_error("empty parameter", rc, &err, "missing_parameter", "request_id is required");
    rc = validate_request_id("", "request_id", "field", &err);
    check_error("empty field", rc, &err, "missing_field", "request_id is required");
    rc = validate_request_id("abc", "request_id", "parameter", &err);
    check_error("bad parameter", rc, &err, "invalid_parameter",
                "request_id must be a request id (UUID)");
    rc = validate_request_id("123e4567-e89b-12d3-a456-42661417400g", "request_id", "field", &err);
    check_error("bad field", rc, &err, "invalid_field", "request_id must be a request id (UUID)");
    rc = validate_request_id("1; DROP TABLE requests", "request_id", "parameter", &err);
    check_error("injection", rc, &err, "invalid_parameter", "UUID");
}

/* ------------------------------------------------------------ bounded input */

TEST(parse_json_depth)
{
    struct lg_error err;
    struct sbuf b = {0};
    json_t *v = NULL;
    int rc;

    /* {"metadata": 31 levels}: 32 in all, the most allowed. */
    sb_puts(&b, "{\"metadata\":");
    for (int i = 0; i < 30; i++)
        sb_puts(&b, "{\"a\":");
    sb_puts(&b, "[\"]]]}}}\"]");
    for (int i = 0; i < 31; i++)
        sb_puts(&b, "}");
    CHECK_EQ_INT(parse_json_object(b.p, b.len, &v, &err), 0);
    json_decref(v);
    v = NULL;
    sb_free(&b);

    /* One more, and 2,000 more: refused before jansson sees it. */
    for (int extra = 1; extra <= 2000; extra += 1999) {
        sb_puts(&b, "{\"metadata\":");
        for (int i = 0; i < 31 + extra; i++)
            sb_puts(&b, "[");
        for (int i = 0; i < 31 + extra; i++)
            sb_puts(&b, "]");
        sb_puts(&b, "}");
        rc = parse_json_object(b.p, b.len, &v, &err);
        check_error("too deep", rc, &err, "invalid_json", "JSON nested deeper than 32 levels");
        CHECK(v == NULL);
        sb_free(&b);
    }
}

TEST(validate_id_text)
{
    static const struct {
        const char *s;
        const char *code; /* NULL: accepted */
        const char *msg;
    } cases[] = {
        {"deploy-bot", NULL, NULL},
        {"caf\xC3\xA9-\xF0\x9F\x9A\x80", NULL, NULL},
        {"", "missing_parameter", "must not be empty"},
        {"\xff", "invalid_parameter", "must be valid UTF-8"},
        {"a\xE2\x82", "invalid_parameter", "must be valid UTF-8"},
        {"a\x01b", "invalid_parameter", "control, bidi or invisible"},
        {"a\x7f", "invalid_parameter", "control, bidi or invisible"},
        {"a\xC2\x85", "invalid_parameter", "control, bidi or invisible"},
        {"admin\xE2\x80\xAEtxt.exe", "invalid_parameter", "control, bidi or invisible"},
        {"a\xE2\x81\xA6"
         "b\xE2\x81\xA9",
         "invalid_parameter", "control, bidi or invisible"},
        {"a\xE2\x80\x8E"
         "b",
         "invalid_parameter", "control, bidi or invisible"},
        {"a\xD8\x9C", "invalid_parameter", "control, bidi or invisible"},
        {"a\xE2\x80\x8B"
         "b",
         "invalid_parameter", "control, bidi or invisible"},
    };
    struct lg_error err;
    char long_id[ID_MAX_BYTES + 2];
    json_t *body;
    const char *out;
    int rc;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rc = validate_id_text(cases[i].s, "session_id", "parameter", &err);
        if (!cases[i].code)
            CHECKF(rc == 0, "case %zu refused: %s", i, err.message);
        else
            check_error(cases[i].s, rc, &err, cases[i].code, cases[i].msg);
    }
    memset(long_id, 'x', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    rc = validate_id_text(long_id, "session_id", "parameter", &err);
    check_error("129 bytes", rc, &err, "invalid_parameter", "at most 128 bytes");
    long_id[ID_MAX_BYTES] = '\0';
    CHECK_EQ_INT(validate_id_text(long_id, "session_id", "parameter", &err), 0);

    /* The same rules for body fields, with the field codes. */
    body = load("{\"session_id\": \"a\\u202eb\", \"client_id\": \"c\\u0085\"}");
    rc = validate_id(body, "session_id", &out, &err);
    check_error("body bidi", rc, &err, "invalid_field", "session_id must not contain control");
    rc = validate_id(body, "client_id", &out, &err);
    check_error("body C1", rc, &err, "invalid_field", "client_id must not contain control");
    json_decref(body);
}

TEST(register_empty_approvers)
{
    struct lg_error err;
    struct register_in in;
    json_t *body = load("{\"session_id\": \"s\", \"client_id\": \"c\", \"telegram_id\": 5, "
                        "\"approvers\": []}");

    CHECK_EQ_INT(validate_register(body, &in, &err), 0);
    CHECK(json_is_array(in.approvers) && json_array_size(in.approvers) == 0);
    json_decref(body);
}

TEST(console_names)
{
    char long_name[CONSOLE_NAME_MAX + 2];

    CHECK(validate_console_name("ann"));
    CHECK(validate_console_name("ann.b_c@example-1"));
    CHECK(!validate_console_name(""));
    CHECK(!validate_console_name(NULL));
    CHECK(!validate_console_name("ann b"));
    CHECK(!validate_console_name("ann:b"));
    CHECK(!validate_console_name("\xc3\xa9"));
    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[CONSOLE_NAME_MAX] = '\0';
    CHECK(validate_console_name(long_name));
    long_name[CONSOLE_NAME_MAX] = 'a';
    long_name[CONSOLE_NAME_MAX + 1] = '\0';
    CHECK(!validate_console_name(long_name));
}

/* The tenant-name rule: what fits, what not, and the message for each. */
TEST(tenant_names)
{
    static const char *const good[] = {"default", "acme",    "team-a",     "a",
                                       "0",       "a.b_c-d", "cli-tenant", "outage-tenant-7"};
    static const struct {
        const char *in;
        const char *code;
        const char *says; /* a piece of the message */
    } bad[] = {
        {"", "missing_field", "--tenant must not be empty"},
        {"acme ", "invalid_tenant", "write it as 'acme'"},
        {" acme", "invalid_tenant", "write it as 'acme'"},
        {"ACME", "invalid_tenant", "write it as 'acme'"},
        {"Default", "invalid_tenant", "write it as 'default'"},
        {"d\xd0\xb5"
         "fault",
         "invalid_tenant", "1-63 characters of a-z, 0-9"}, /* Cyrillic e */
        {"\xd0\xb0"
         "cme",
         "invalid_tenant", "lower case, starting with a letter or digit"},
        {"a b", "invalid_tenant", "no spaces"},
        {"x/y", "invalid_tenant", "a tenant name is"},
        {"-rf", "invalid_tenant", "starting with a letter or digit"},
        {".hidden", "invalid_tenant", "starting with a letter or digit"},
        {"_x", "invalid_tenant", "starting with a letter or digit"},
        {"a;b", "invalid_tenant", "a tenant name is"},
        {"a\tb", "invalid_tenant", "a tenant name is"},
        {"   ", "invalid_tenant", "a tenant name is"},
        {"acme\xe2\x80\x8b", "invalid_tenant", "a tenant name is"}, /* zero-width space */
    };
    char name[TENANT_NAME_MAX + 2];
    struct lg_error err;

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        memset(&err, 0, sizeof(err));
        CHECKF(validate_tenant_name(good[i], "--tenant", &err) == 0, "'%s' refused: %s", good[i],
               err.message);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&err, 0, sizeof(err));
        CHECKF(validate_tenant_name(bad[i].in, "--tenant", &err) == -1, "'%s' accepted", bad[i].in);
        CHECK_EQ_INT(err.status, 400);
        CHECK_EQ_STR(err.code, bad[i].code);
        CHECK_CONTAINS(err.message, bad[i].says);
    }
    /* the suggestion is given only where it fits the rule */
    memset(&err, 0, sizeof(err));
    CHECK(validate_tenant_name("A B", "--tenant", &err) == -1);
    CHECKF(!strstr(err.message, "write it as"), "%s", err.message);
    CHECK(validate_tenant_name(NULL, "--tenant", &err) == -1);
    CHECK_EQ_STR(err.code, "missing_field");
    /* 63 characters fit, 64 do not */
    memset(name, 'a', sizeof(name) - 1);
    name[TENANT_NAME_MAX] = '\0';
    CHECK_EQ_INT(validate_tenant_name(name, "--tenant", &err), 0);
    name[TENANT_NAME_MAX] = 'a';
    name[TENANT_NAME_MAX + 1] = '\0';
    CHECK_EQ_INT(validate_tenant_name(name, "--tenant", &err), -1);
    CHECK_CONTAINS(err.message, "1-63 characters");
    CHECKF(!strstr(err.message, "write it as"), "%s", err.message);
}

int main(int argc, char **argv)
{
    t_begin(argc, argv);
    RUN(parse_json_depth);
    RUN(validate_id_text);
    RUN(register_empty_approvers);
    RUN(parse_json_object);
    RUN(submit_readme);
    RUN(submit_valid);
    RUN(submit_errors);
    RUN(submit_option_meanings);
    RUN(submit_limits);
    RUN(register_valid);
    RUN(register_errors);
    RUN(register_nudge_defaults);
    RUN(submit_nudges);
    RUN(validate_id);
    RUN(validate_request_id);
    RUN(console_names);
    RUN(tenant_names);
    return t_end();
}
