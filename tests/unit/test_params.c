/*
 * test_params.c - unit tests for params.c: the schema subset, params
 * against a schema, edits typed by a person, and the canonical form.
 *
 * Most cases are rows of a table: JSON text in, and either success or the
 * piece of the error message expected (always a 400 invalid_field).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "params.h"
#include "t.h"

static json_t *load(const char *text)
{
    json_error_t jerr;
    json_t *v = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);

    if (!v)
        CHECKF(0, "could not parse test JSON %s: %s", text, jerr.text);
    return v;
}

/* ------------------------------------------------------------ the schema subset */

struct schema_case {
    const char *schema;
    const char *msg; /* NULL: valid */
};

static const struct schema_case schemas[] = {
    {"{\"type\":\"object\"}", NULL},
    {"{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\",\"minimum\":1,"
     "\"maximum\":10}},\"required\":[\"n\"],\"additionalProperties\":false}",
     NULL},
    {"{\"type\":\"object\",\"title\":\"t\",\"description\":\"d\",\"properties\":{\"env\":{"
     "\"enum\":[\"staging\",\"production\",3,true],\"description\":\"where\"}}}",
     NULL},
    {"{\"type\":\"object\",\"properties\":{\"tag\":{\"type\":\"string\",\"maxLength\":20,"
     "\"pattern\":\"^v[0-9]+\\\\.[0-9]+$\"}}}",
     NULL},
    {"{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"number\",\"minimum\":-1.5}}}", NULL},
    {"[]", "params_schema must be an object"},
    {"{}", "params_schema.type must be \"object\""},
    {"{\"type\":\"array\"}", "params_schema.type must be \"object\""},
    {"{\"type\":\"object\",\"oneOf\":[]}", "params_schema.oneOf is not supported"},
    {"{\"type\":\"object\",\"properties\":[]}", "params_schema.properties must be an object"},
    {"{\"type\":\"object\",\"properties\":{\"a\":1}}",
     "params_schema.properties.a must be an object"},
    {"{\"type\":\"object\",\"properties\":{\"a\":{}}}", "params_schema.properties.a needs a type"},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"object\"}}}",
     "params_schema.properties.a.type must be one of"},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"format\":\"uri\"}}}",
     "params_schema.properties.a.format is not supported"},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"enum\":[]}}}",
     "params_schema.properties.a.enum must be an array of 1-"},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"enum\":[[1]]}}}",
     "params_schema.properties.a.enum[0] must be a string, a number or a boolean"},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"enum\":[1,1]}}}",
     "params_schema.properties.a.enum[1] repeats"},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"enum\":[1]}}}",
     "params_schema.properties.a.enum[0] is not of the property's type string"},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"minimum\":1}}}",
     "minimum and maximum need type number or integer"},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\",\"minimum\":\"1\"}}}",
     "minimum and maximum must be numbers"},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\",\"minimum\":5,"
     "\"maximum\":1}}}",
     "minimum is above maximum"},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\",\"maxLength\":5}}}",
     "maxLength needs type string"},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"maxLength\":-1}}}",
     "maxLength must be an integer >= 0"},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"pattern\":\"(\"}}}",
     "params_schema.properties.a.pattern is not a POSIX extended regular expression"},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"pattern\":\"(a)\\\\1\"}}}",
     "must not hold a back-reference"},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"pattern\":7}}}",
     "pattern must be a string"},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"boolean\",\"pattern\":\"x\"}}}",
     "pattern needs type string"},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}},\"required\":[\"b\"]}",
     "params_schema.required[0] names no property"},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}},\"required\":\"a\"}",
     "params_schema.required must be an array"},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}},"
     "\"required\":[\"a\",\"a\"]}",
     "params_schema.required[1] repeats"},
    {"{\"type\":\"object\",\"additionalProperties\":{}}",
     "params_schema.additionalProperties must be true or false"},
};

TEST(schema_subset)
{
    for (size_t i = 0; i < sizeof(schemas) / sizeof(schemas[0]); i++) {
        json_t *s = load(schemas[i].schema);
        struct lg_error err = {0};
        int rc = s ? params_check_schema(s, &err) : -1;

        if (!schemas[i].msg)
            CHECKF(rc == 0, "%s: refused: %s", schemas[i].schema, err.message);
        else
            CHECKF(rc == -1 && err.status == 400 && strstr(err.message, schemas[i].msg),
                   "%s: rc %d, message \"%s\" lacks \"%s\"", schemas[i].schema, rc, err.message,
                   schemas[i].msg);
        json_decref(s);
    }
}

/* A property {"type": "string", "pattern": p} under properties.t, checked; the time it took in
 * *ms. */
static int check_pattern_schema(const char *pattern, struct lg_error *err, double *ms)
{
    json_t *s = json_pack("{s:s, s:{s:{s:s, s:s}}}", "type", "object", "properties", "t", "type",
                          "string", "pattern", pattern);
    struct timespec a, b;
    int rc;

    clock_gettime(CLOCK_MONOTONIC, &a);
    rc = params_check_schema(s, err);
    clock_gettime(CLOCK_MONOTONIC, &b);
    *ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
    json_decref(s);
    return rc;
}

/* Patterns whose repetitions regcomp would expand for seconds and gigabytes are refused before
 * it sees them; everyday ones still pass. */
TEST(pattern_cost)
{
    static const struct schema_case cases[] = {
        {"((((a{1,20}){1,20}){1,20}){1,20}){1,20}", "is too complex: its repetitions expand"},
        {"(a{1,32767}){1,32767}", "repeats more than 255 times"},
        {"((a{0,255}){0,255}){0,255}", "is too complex: its repetitions expand"},
        {"a{1,32767}b{1,32767}c{1,32767}d{1,32767}", "repeats more than 255 times"},
        {"a{256}", "repeats more than 255 times"},
        {"(a{40,}){40}", "is too complex"},
        {"a{1,255}{1,255}", "is too complex"},
        {"(x|y{1,250}|z{1,250}|w{1,250}|v{1,250}|u)", "is too complex"},
        {"[a-z]{250}[]x]{250}[^]x]{250}[[:alpha:]]{250}.", "is too complex"},
        {"(){255}{255}", "is too complex"},
        {"(a{255}){,}{255}", "is too complex"},
        {"a{,}b{,40}", NULL},
        {"^[a-z0-9-]{1,63}$", NULL},
        {"^v[0-9]+\\.[0-9]+\\.[0-9]+$", NULL},
        {"(staging|production)", NULL},
        {"^[[:alnum:]_]{3,20}$", NULL},
        {"^[]a-z{}()|*+]{1,255}$", NULL},
        {"a{255}b{255}c{255}d{230}", NULL},
        {"\\{1000\\}", NULL},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct lg_error err = {0};
        double ms = 0;
        int rc = check_pattern_schema(cases[i].schema, &err, &ms);

        if (!cases[i].msg)
            CHECKF(rc == 0, "%s: refused: %s", cases[i].schema, err.message);
        else
            CHECKF(rc == -1 && strstr(err.message, "params_schema.properties.t.pattern ") &&
                       strstr(err.message, cases[i].msg),
                   "%s: rc %d, message \"%s\" lacks \"%s\"", cases[i].schema, rc, err.message,
                   cases[i].msg);
        CHECKF(ms < 500, "%s: took %.0f ms", cases[i].schema, ms);
    }
}

/* Escapes POSIX does not define are refused, saying what to write: glibc would take them as the
 * letter itself (^\d+$ matching "ddd", not "123"). */
TEST(pattern_escapes)
{
    static const struct schema_case cases[] = {
        {"^\\d+$", "params_schema.properties.t.pattern: \\d is not POSIX: write [0-9]"},
        {"\\D", "\\D is not POSIX: write [^0-9]"},
        {"^\\w{3}$", "\\w is not POSIX: write [[:alnum:]_]"},
        {"a\\sb", "\\s is not POSIX: write [[:space:]]"},
        {"\\bword\\b", "\\b is not POSIX: there are no word boundaries"},
        {"a\\nb", "\\n is not POSIX: write the character itself (a newline is \\n in the JSON"},
        {"a\\/b", "\\/ is not POSIX: a backslash escapes only . [ ] \\ ( ) * + ? { } | ^ $; "
                  "write / without it"},
        {"a\\\xC3\xA9", "holds a backslash before a character POSIX does not escape"},
        {"^[\\w.-]+$", "inside [...] a backslash is itself, so \\w there means \\ or w"},
        {"^[a-z\\d]$", "inside [...] a backslash is itself, so \\d there means \\ or d"},
        {"^a\\.b\\$\\(\\)\\[\\]\\{\\}\\|\\*\\+\\?\\^\\\\$", NULL},
        {"^[a-z.\\\\-]+$", NULL},
        {"[]\\d]", "inside [...]"},
        {"[[:alpha:]\\s]", "inside [...]"},
        {"\\[\\d\\]", "\\d is not POSIX"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct lg_error err = {0};
        double ms = 0;
        int rc = check_pattern_schema(cases[i].schema, &err, &ms);

        if (!cases[i].msg)
            CHECKF(rc == 0, "%s: refused: %s", cases[i].schema, err.message);
        else
            CHECKF(rc == -1 && strstr(err.message, "params_schema.properties.t.pattern") &&
                       strstr(err.message, cases[i].msg),
                   "%s: rc %d, message \"%s\" lacks \"%s\"", cases[i].schema, rc, err.message,
                   cases[i].msg);
    }
}

/* A schema stored before the bound (so never checked by it) is bounded at each edit too. */
TEST(pattern_cost_at_edit)
{
    json_t *schema = json_pack("{s:s, s:{s:{s:s, s:s}}}", "type", "object", "properties", "t",
                               "type", "string", "pattern", "((a{0,255}){0,255}){0,255}");
    json_t *p = json_pack("{s:s}", "t", "a"), *out = NULL;
    struct lg_error err = {0};

    CHECK(params_edit(p, schema, "t=aa", &out, &err) == -1 && !out);
    CHECK_CONTAINS(err.message, "t cannot be checked: its pattern is too complex");
    json_decref(p);
    json_decref(schema);
}

/* ------------------------------------------------------------ params against a schema */

static const char schema_text[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"replicas\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":10},"
    "\"ratio\":{\"type\":\"number\",\"maximum\":1},"
    "\"env\":{\"enum\":[\"staging\",\"production\"]},"
    "\"tag\":{\"type\":\"string\",\"maxLength\":8,\"pattern\":\"^v[0-9]\"},"
    "\"dry_run\":{\"type\":\"boolean\"}},"
    "\"required\":[\"replicas\"],\"additionalProperties\":false}";

struct params_case {
    const char *params;
    const char *msg; /* NULL: valid */
};

static const struct params_case checks[] = {
    {"{\"replicas\":3}", NULL},
    {"{\"replicas\":3,\"ratio\":0.5,\"env\":\"staging\",\"tag\":\"v1.2\",\"dry_run\":false}", NULL},
    {"{\"replicas\":3,\"ratio\":1}", NULL},
    {"{}", "params.replicas is required"},
    {"{\"replicas\":\"3\"}", "params.replicas must be an integer"},
    {"{\"replicas\":3.5}", "params.replicas must be an integer"},
    {"{\"replicas\":0}", "params.replicas must be at least 1"},
    {"{\"replicas\":11}", "params.replicas must be at most 10"},
    {"{\"replicas\":1,\"ratio\":1.5}", "params.ratio must be at most 1"},
    {"{\"replicas\":1,\"env\":\"dev\"}", "params.env must be one of: staging, production"},
    {"{\"replicas\":1,\"tag\":\"v123456789\"}", "params.tag must be at most 8 characters"},
    {"{\"replicas\":1,\"tag\":\"1.0\"}", "params.tag must match the pattern ^v[0-9]"},
    {"{\"replicas\":1,\"dry_run\":\"no\"}", "params.dry_run must be true or false"},
    {"{\"replicas\":1,\"other\":1}", "params.other is not a parameter of this request"},
};

TEST(params_against_schema)
{
    json_t *schema = load(schema_text);
    struct lg_error err = {0};

    CHECK(schema && params_check_schema(schema, &err) == 0);
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
        json_t *p = load(checks[i].params);
        int rc = p ? params_check(p, schema, "params.", &err) : -1;

        if (!checks[i].msg)
            CHECKF(rc == 0, "%s: refused: %s", checks[i].params, err.message);
        else
            CHECKF(rc == -1 && strstr(err.message, checks[i].msg),
                   "%s: rc %d, message \"%s\" lacks \"%s\"", checks[i].params, rc, err.message,
                   checks[i].msg);
        json_decref(p);
    }
    json_decref(schema);
}

TEST(params_limits)
{
    struct lg_error err = {0};
    json_t *p = json_object();
    char *big = malloc(PARAMS_MAX_BYTES + 1);

    memset(big, 'x', PARAMS_MAX_BYTES);
    big[PARAMS_MAX_BYTES] = '\0';
    json_object_set_new(p, "a", json_string(big));
    CHECK(params_check(p, NULL, "params.", &err) == -1);
    CHECK_CONTAINS(err.message, "params must be at most 8192 bytes");
    json_object_set_new(p, "a", json_integer(9007199254740992LL));
    CHECK(params_check(p, NULL, "params.", &err) == -1);
    CHECK_CONTAINS(err.message, "params.a must be an integer within");
    json_object_set_new(p, "a", json_pack("{s:[f]}", "b", 1e20));
    CHECK(params_check(p, NULL, "params.", &err) == -1);
    CHECK_CONTAINS(err.message, "params.a.b[0] must be a number below 1e15");
    /* PostgreSQL's jsonb stores -0.0 as 0.0: the agent's digest of what it sent would differ. */
    json_object_set_new(p, "a", json_real(-0.0));
    CHECK(params_check(p, NULL, "params.", &err) == -1);
    CHECK_CONTAINS(err.message, "params.a is a negative zero");
    CHECK_CONTAINS(err.message, "write 0");
    json_object_set_new(p, "a", json_pack("{s:[f, f]}", "b", 0.5, -0.0));
    CHECK(params_check(p, NULL, "params.", &err) == -1);
    CHECK_CONTAINS(err.message, "params.a.b[1] is a negative zero");
    json_object_set_new(p, "a", json_pack("{s:[f, f, i, s]}", "b", 0.25, 0.0, 7, "x"));
    CHECK(params_check(p, NULL, "params.", &err) == 0);
    free(big);
    json_decref(p);
}

/* ------------------------------------------------------------ canonical form and digest */

struct canon_case {
    const char *in;
    const char *out;
};

/* Each `out` is what Python's json.dumps(v, sort_keys=True, separators=(",", ":"),
 * ensure_ascii=False) writes. */
static const struct canon_case canons[] = {
    {"{}", "{}"},
    {"{\"b\":1,\"a\":2}", "{\"a\":2,\"b\":1}"},
    {"{\"a\":[1,{\"d\":null,\"c\":true}],\"B\":false}",
     "{\"B\":false,\"a\":[1,{\"c\":true,\"d\":null}]}"},
    {"{\"x\":0.1,\"y\":1.5,\"z\":100.0,\"w\":-0.0}",
     "{\"w\":-0.0,\"x\":0.1,\"y\":1.5,\"z\":100.0}"},
    {"{\"x\":1e-7,\"y\":0.0001,\"z\":123456789012345.6}",
     "{\"x\":1e-07,\"y\":0.0001,\"z\":123456789012345.6}"},
    {"{\"s\":\"a\\\"b\\\\c\\n\\t\\u0001\\u007f/\"}", "{\"s\":\"a\\\"b\\\\c\\n\\t\\u0001\x7f/\"}"},
    {"{\"\xC3\xA9\":\"\xE2\x9C\x85\",\"z\":\"\\u00e9\"}",
     "{\"z\":\"\xC3\xA9\",\"\xC3\xA9\":\"\xE2\x9C\x85\"}"},
};

TEST(canonical)
{
    char sha[65];
    json_t *v;

    for (size_t i = 0; i < sizeof(canons) / sizeof(canons[0]); i++) {
        char *out;

        v = load(canons[i].in);
        out = params_canonical(v);
        CHECKF(t_streq(out, canons[i].out), "%s: canonical %s, expected %s", canons[i].in, out,
               canons[i].out);
        free(out);
        json_decref(v);
    }
    /* sha256 of {"replicas":3}: printf '{"replicas":3}' | sha256sum */
    v = load("{\"replicas\": 3}");
    params_sha256(v, sha);
    CHECK_EQ_STR(sha, "c6e0136096902323a78e9de55286aaf854879d1bd5dd004ac5b0193dc4279629");
    json_decref(v);
}

/* ------------------------------------------------------------ edits */

struct edit_case {
    const char *params;
    const char *text;
    const char *want; /* the canonical result, or NULL */
    const char *msg;  /* else a piece of the error */
};

static const struct edit_case edits[] = {
    {"{\"replicas\":3,\"env\":\"staging\"}", "replicas=5", "{\"env\":\"staging\",\"replicas\":5}",
     NULL},
    {"{\"replicas\":3}", "  replicas = 4 \n\n env=production\n tag = v2 beta\ndry_run=TRUE",
     "{\"dry_run\":true,\"env\":\"production\",\"replicas\":4,\"tag\":\"v2 beta\"}", NULL},
    {"{\"replicas\":3}", "ratio=0.25", "{\"ratio\":0.25,\"replicas\":3}", NULL},
    {"{\"replicas\":3}", "{\"replicas\": 2, \"env\": \"production\"}",
     "{\"env\":\"production\",\"replicas\":2}", NULL},
    {"{\"replicas\":3}", "tag=\"v2 beta\"\nenv=\"production\"",
     "{\"env\":\"production\",\"replicas\":3,\"tag\":\"v2 beta\"}", NULL},
    {"{\"replicas\":3}", "env=\"dev\"", NULL, "env must be one of: staging, production"},
    {"{\"replicas\":3}", "replicas=\"5\"", NULL, "replicas must be an integer"},
    {"{\"replicas\":3}", "ratio=-0.0", NULL, "ratio is a negative zero"},
    {"{\"replicas\":3}", "{\"ratio\": -0e3}", NULL, "ratio is a negative zero"},
    {"{\"replicas\":3}", "ratio=-0", "{\"ratio\":0,\"replicas\":3}", NULL},
    {"{\"replicas\":3}", "replicas=eleven", NULL, "replicas must be an integer"},
    {"{\"replicas\":3}", "replicas=11", NULL, "replicas must be at most 10"},
    {"{\"replicas\":3}", "env=dev", NULL, "env must be one of: staging, production"},
    {"{\"replicas\":3}", "dry_run=maybe", NULL, "dry_run must be true or false"},
    {"{\"replicas\":3}", "tag=1.0", NULL, "tag must match the pattern"},
    {"{\"replicas\":3}", "other=1", NULL, "other is not a parameter of this request"},
    {"{\"replicas\":3}", "replicas", NULL, "line 1: write key=value"},
    {"{\"replicas\":3}", "replicas=1\nreplicas=2", NULL, "replicas is given twice"},
    {"{\"replicas\":3}", "   ", NULL, "nothing to change"},
    {"{\"replicas\":3}", "{\"replicas\": }", NULL, "the JSON is malformed"},
    {"{\"replicas\":3}", "{\"replicas\": \"2\"}", NULL, "replicas must be an integer"},
};

TEST(edit)
{
    json_t *schema = load(schema_text);

    for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
        struct lg_error err = {0};
        json_t *p = load(edits[i].params), *out = NULL;
        int rc = params_edit(p, schema, edits[i].text, &out, &err);

        if (edits[i].want) {
            char *c = out ? params_canonical(out) : NULL;
            CHECKF(rc == 0 && t_streq(c, edits[i].want), "%s: rc %d (%s), got %s, expected %s",
                   edits[i].text, rc, err.message, c, edits[i].want);
            free(c);
        } else {
            CHECKF(rc == -1 && !out && strstr(err.message, edits[i].msg),
                   "%s: rc %d, message \"%s\" lacks \"%s\"", edits[i].text, rc, err.message,
                   edits[i].msg);
        }
        json_decref(out);
        json_decref(p);
    }
    json_decref(schema);
}

/* Without a schema, a key=value is typed by the value it replaces. */
TEST(edit_without_schema)
{
    json_t *p = load("{\"n\":1,\"r\":0.5,\"b\":false,\"s\":\"x\"}"), *out = NULL;
    struct lg_error err = {0};
    char *c;

    CHECK(params_edit(p, NULL, "n=2\nr=3\nb=true\ns=42", &out, &err) == 0);
    c = params_canonical(out);
    CHECK_EQ_STR(c, "{\"b\":true,\"n\":2,\"r\":3,\"s\":\"42\"}");
    free(c);
    json_decref(out);
    CHECK(params_edit(p, NULL, "n=two", &out, &err) == -1);
    CHECK_CONTAINS(err.message, "n must be an integer");
    json_decref(p);
}

/* A replacement is the whole params: a key left out is removed unless required; unknown keys
 * are refused; without a schema each key keeps its submitted JSON type. */
TEST(replace_whole)
{
    json_t *p = load("{\"path\":\"/b\",\"force\":true,\"n\":30}");
    json_t *schema = load("{\"type\":\"object\",\"required\":[\"path\"],\"properties\":{"
                          "\"path\":{\"type\":\"string\"},\"force\":{\"type\":\"boolean\"},"
                          "\"n\":{\"type\":\"integer\"}}}");
    json_t *raw = load("{\"i\":1,\"r\":0.5,\"b\":false,\"s\":\"x\",\"o\":{},\"z\":null}");
    json_t *out = NULL, *repl;
    struct lg_error err = {0};
    char *c;

    repl = load("{\"path\":\"/b\",\"n\":30}");
    CHECK(params_replace(p, schema, repl, &out, &err) == 0);
    c = params_canonical(out);
    CHECK_EQ_STR(c, "{\"n\":30,\"path\":\"/b\"}");
    free(c);
    json_decref(out);
    json_decref(repl);
    repl = load("{\"n\":30}");
    CHECK(params_replace(p, schema, repl, &out, &err) == -1 && !out);
    CHECK_CONTAINS(err.message, "path is required");
    json_decref(repl);
    repl = load("{\"path\":\"/b\",\"extra\":1}");
    CHECK(params_replace(p, schema, repl, &out, &err) == -1);
    CHECK_CONTAINS(err.message, "extra is not a parameter");
    json_decref(repl);
    repl = load("{\"i\":2,\"r\":3,\"b\":true,\"s\":\"y\",\"o\":{\"a\":1},\"z\":\"now\"}");
    CHECK(params_replace(raw, NULL, repl, &out, &err) == 0);
    json_decref(out);
    json_decref(repl);
    repl = load("{\"i\":\"5O\"}");
    CHECK(params_replace(raw, NULL, repl, &out, &err) == -1);
    CHECK_CONTAINS(err.message, "i must be an integer");
    json_decref(repl);
    repl = load("{\"i\":2.5}");
    CHECK(params_replace(raw, NULL, repl, &out, &err) == -1);
    json_decref(repl);
    repl = load("{\"b\":\"true\"}");
    CHECK(params_replace(raw, NULL, repl, &out, &err) == -1);
    CHECK_CONTAINS(err.message, "b must be true or false");
    json_decref(repl);
    json_decref(raw);
    json_decref(schema);
    json_decref(p);
}

/* How key=value types a value beyond the schema: an object or an array cannot be written so, a
 * null takes a JSON scalar, and a double-quoted JSON string is that string. */
TEST(edit_typing)
{
    static const char params[] = "{\"nested\":{\"a\":1},\"list\":[1],\"maybe\":null,"
                                 "\"note\":\"x\",\"n\":1}";
    static const struct {
        const char *text, *key, *want, *msg; /* want: the key's canonical value */
    } cases[] = {
        {"nested=1", NULL, NULL, "nested is an object: use the JSON form, /edit {\"nested\": ...}"},
        {"list=[2]", NULL, NULL, "list is an array: use the JSON form, /edit {\"list\": ...}"},
        {"maybe=5", "maybe", "5", NULL},
        {"maybe=2.5", "maybe", "2.5", NULL},
        {"maybe=true", "maybe", "true", NULL},
        {"maybe=null", "maybe", "null", NULL},
        {"maybe=\"5\"", "maybe", "\"5\"", NULL},
        {"maybe=hello world", "maybe", "\"hello world\"", NULL},
        {"maybe={\"a\":1}", "maybe", "\"{\\\"a\\\":1}\"", NULL},
        {"note=\"hello\"", "note", "\"hello\"", NULL},
        {"note=\"a \\\"b\\\"\"", "note", "\"a \\\"b\\\"\"", NULL},
        {"note=\"\"", "note", "\"\"", NULL},
        {"note=\"open", "note", "\"\\\"open\"", NULL},
        {"note=say \"hi\"", "note", "\"say \\\"hi\\\"\"", NULL},
        {"n=\"5\"", NULL, NULL, "n must be an integer"},
        {"{\"nested\": {\"b\": 2}}", "nested", "{\"b\":2}", NULL},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *p = load(params), *out = NULL;
        struct lg_error err = {0};
        int rc = params_edit(p, NULL, cases[i].text, &out, &err);

        if (cases[i].want) {
            char *c = out ? params_canonical(json_object_get(out, cases[i].key)) : NULL;
            CHECKF(rc == 0 && t_streq(c, cases[i].want), "%s: rc %d (%s), got %s, expected %s",
                   cases[i].text, rc, err.message, c, cases[i].want);
            free(c);
        } else {
            CHECKF(rc == -1 && !out && strstr(err.message, cases[i].msg),
                   "%s: rc %d, message \"%s\" lacks \"%s\"", cases[i].text, rc, err.message,
                   cases[i].msg);
        }
        json_decref(out);
        json_decref(p);
    }
}

/* A key the request does not have (a mistyped one) is refused, in both forms, whether or not
 * the schema closes the params: it would be added beside the key meant, which would keep its
 * value. A key of the schema's properties may be added. */
TEST(edit_unknown_key)
{
    static const char open_schema[] =
        "{\"type\":\"object\",\"properties\":{\"replicas\":{\"type\":\"integer\"},"
        "\"env\":{\"type\":\"string\"},\"zone\":{\"type\":\"string\"}}}";
    static const struct {
        const char *schema, *text, *msg;
    } cases[] = {
        {NULL, "replcas=1", "replcas is not a parameter of this request; it has: env, replicas"},
        {NULL, "{\"replcas\": 1}",
         "replcas is not a parameter of this request; it has: env, replicas"},
        {NULL, "replicas=2\nreplcas=1", "replcas is not a parameter of this request"},
        {"{\"type\":\"object\"}", "replcas=1",
         "replcas is not a parameter of this request; it has: env, replicas"},
        {open_schema, "replcas=1",
         "replcas is not a parameter of this request; it has: env, replicas, zone"},
        {open_schema, "{\"env\": \"production\", \"replcas\": 1}",
         "replcas is not a parameter of this request; it has: env, replicas, zone"},
    };
    json_t *p = load("{\"replicas\":3,\"env\":\"staging\"}"), *out = NULL, *schema;
    struct lg_error err = {0};
    char *c;
    size_t n = 0;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        schema = cases[i].schema ? load(cases[i].schema) : NULL;
        out = NULL;
        CHECKF(params_edit(p, schema, cases[i].text, &out, &err) == -1 && !out &&
                   strstr(err.message, cases[i].msg),
               "%s: message \"%s\" lacks \"%s\"", cases[i].text, err.message, cases[i].msg);
        json_decref(out);
        json_decref(schema);
    }
    /* A property of the schema that the params lack may be set. */
    schema = load(open_schema);
    CHECK(params_edit(p, schema, "zone=eu-1", &out, &err) == 0);
    c = params_canonical(out);
    CHECK_EQ_STR(c, "{\"env\":\"staging\",\"replicas\":3,\"zone\":\"eu-1\"}");
    free(c);
    json_decref(out);
    json_decref(schema);
    json_decref(p);
    /* Many keys: the list is cut, not the message. */
    p = json_object();
    for (int i = 0; i < 60; i++) {
        char k[16];
        snprintf(k, sizeof(k), "key_%02d", i);
        json_object_set_new(p, k, json_integer(i));
    }
    CHECK(params_edit(p, NULL, "nope=1", &out, &err) == -1);
    CHECK_CONTAINS(err.message, "nope is not a parameter of this request; it has: key_00, key_01");
    CHECK_CONTAINS(err.message, ", ...");
    n = strlen(err.message);
    CHECKF(n < sizeof(err.message) - 1, "message of %zu bytes", n);
    json_decref(p);
}

int main(int argc, char **argv)
{
    t_begin(argc, argv);
    RUN(schema_subset);
    RUN(pattern_cost);
    RUN(pattern_cost_at_edit);
    RUN(pattern_escapes);
    RUN(params_against_schema);
    RUN(params_limits);
    RUN(canonical);
    RUN(edit);
    RUN(edit_without_schema);
    RUN(replace_whole);
    RUN(edit_unknown_key);
    RUN(edit_typing);
    return t_end();
}
