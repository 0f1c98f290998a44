/*
 * validate.c - see validate.h.
 *
 * Compatibility rules taken from the Go original, whose clients we serve
 * unchanged: unknown fields are ignored; `options: []` and `metadata: {}` mean
 * "none"; `timeout_seconds: 0` means "the default"; request_type defaults to
 * choice when options are given, else input.
 */
#include "validate.h"

#include "decide.h"
#include "params.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int type_error(struct lg_error *err, const char *field, const char *want)
{
    return lg_fail(err, 400, "invalid_field", "%s must be %s", field, want);
}

static int missing(struct lg_error *err, const char *field)
{
    return lg_fail(err, 400, "missing_field", "%s is required", field);
}

/* No control characters (C0, DEL) in identifiers. */
static bool printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

int parse_json_object(const char *body, size_t len, json_t **out, struct lg_error *err)
{
    json_error_t jerr;
    json_t *v;

    if (len == 0)
        return lg_fail(err, 400, "invalid_json", "request body is empty; expected a JSON object");
    if (!utf8_valid(body, len))
        return lg_fail(err, 400, "invalid_utf8", "request body is not valid UTF-8");
    if (!json_depth_ok(body, len, LG_JSON_DEPTH_MAX))
        return lg_fail(err, 400, "invalid_json", "JSON nested deeper than %d levels",
                       LG_JSON_DEPTH_MAX);
    v = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!v)
        return lg_fail(err, 400, "invalid_json", "malformed JSON at line %d, column %d: %s",
                       jerr.line, jerr.column, jerr.text);
    if (!json_is_object(v)) {
        json_decref(v);
        return lg_fail(err, 400, "invalid_json", "request body must be a JSON object");
    }
    *out = v;
    return 0;
}

int validate_id_text(const char *s, const char *name, const char *where, struct lg_error *err)
{
    bool param = where[0] == 'p';
    size_t n = s ? strlen(s) : 0;

    if (n == 0)
        return lg_fail(err, 400, param ? "missing_parameter" : "missing_field",
                       "%s must not be empty", name);
    if (n > ID_MAX_BYTES)
        return lg_fail(err, 400, param ? "invalid_parameter" : "invalid_field",
                       "%s must be at most %d bytes", name, ID_MAX_BYTES);
    if (!utf8_valid(s, n))
        return lg_fail(err, 400, param ? "invalid_parameter" : "invalid_field",
                       "%s must be valid UTF-8", name);
    if (utf8_has_unsafe(s, n))
        return lg_fail(err, 400, param ? "invalid_parameter" : "invalid_field",
                       "%s must not contain control, bidi or invisible formatting characters",
                       name);
    return 0;
}

int validate_id(json_t *body, const char *field, const char **out, struct lg_error *err)
{
    json_t *v = json_object_get(body, field);
    const char *s;

    if (!v || json_is_null(v))
        return missing(err, field);
    if (!json_is_string(v))
        return type_error(err, field, "a string");
    s = json_string_value(v);
    if (validate_id_text(s, field, "field", err) < 0)
        return -1;
    *out = s;
    return 0;
}

int validate_request_id(const char *value, const char *name, const char *where,
                        struct lg_error *err)
{
    if (!value || !*value)
        return lg_fail(err, 400, where[0] == 'p' ? "missing_parameter" : "missing_field",
                       "%s is required", name);
    if (!uuid_valid(value))
        return lg_fail(err, 400, where[0] == 'p' ? "invalid_parameter" : "invalid_field",
                       "%s must be a request id (UUID)", name);
    return 0;
}

static int get_int64(json_t *v, const char *field, int64_t *out, struct lg_error *err)
{
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 0;
    }
    /* Telegram ids are often carried as strings by JavaScript clients. */
    if (json_is_string(v) && parse_int64(json_string_value(v), out) == 0)
        return 0;
    return type_error(err, field, "an integer");
}

/*
 * An optional number of seconds `field` (reminder, escalation: 021): -1
 * when absent or null, 0 for none (register: clears the session's default;
 * submit: this request has none, not even the session's default), else
 * 1-NUDGE_MAX_SECONDS and, when `below` is not 0, less than it.
 */
static int nudge_seconds(json_t *body, const char *field, int below, int *out, struct lg_error *err)
{
    json_t *v = json_object_get(body, field);
    json_int_t n;

    *out = -1;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v))
        return type_error(err, field, "an integer number of seconds");
    n = json_integer_value(v);
    if (n < 0 || n > NUDGE_MAX_SECONDS)
        return lg_fail(err, 400, "invalid_field", "%s must be 1-%d (0: none)", field,
                       NUDGE_MAX_SECONDS);
    if (below > 0 && n >= below)
        return lg_fail(err, 400, "invalid_field",
                       "%s must be less than timeout_seconds (%d): it would come after the "
                       "request expired",
                       field, below);
    *out = (int)n;
    return 0;
}

/*
 * escalate_after_seconds and escalate_to, which go together (021), into
 * *after (as nudge_seconds) and *to: both absent, -1 and NULL; none
 * (escalate_after_seconds 0, or escalate_to "" alone), 0 and ""; else the
 * seconds and a session id that is not `own`.
 */
static int nudge_escalation(json_t *body, const char *own, int below, int *after, const char **to,
                            struct lg_error *err)
{
    json_t *v = json_object_get(body, "escalate_to");
    bool has_to = v && !json_is_null(v);

    *to = NULL;
    if (nudge_seconds(body, "escalate_after_seconds", below, after, err) < 0)
        return -1;
    if (*after == 0 || (*after < 0 && has_to && json_is_string(v) && !*json_string_value(v))) {
        *after = 0;
        *to = "";
        return 0;
    }
    if (has_to && validate_id(body, "escalate_to", to, err) < 0)
        return -1;
    if (*to && *after < 0)
        return lg_fail(err, 400, "missing_field",
                       "escalate_to needs escalate_after_seconds (when to escalate)");
    if (*after > 0 && !*to)
        return lg_fail(err, 400, "missing_field",
                       "escalate_after_seconds needs escalate_to (the session to escalate to)");
    if (*to && !strcmp(*to, own))
        return lg_fail(err, 400, "invalid_field",
                       "escalate_to must name another session than session_id");
    return 0;
}

bool validate_console_name(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (n == 0 || n > CONSOLE_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '@' || c == '-'))
            return false;
    }
    return true;
}

static bool tenant_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           (!first && (c == '.' || c == '_' || c == '-'));
}

/* `s[0..n)` by the tenant-name rule. */
static bool tenant_fits(const char *s, size_t n)
{
    if (n == 0 || n > TENANT_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!tenant_char(s[i], i == 0))
            return false;
    return true;
}

int validate_tenant_name(const char *s, const char *name, struct lg_error *err)
{
    char folded[TENANT_NAME_MAX + 1];
    size_t n = s ? strlen(s) : 0, b = 0, e = n;

    if (n == 0)
        return lg_fail(err, 400, "missing_field", "%s must not be empty", name);
    if (tenant_fits(s, n))
        return 0;
    /* the same name but for case and surrounding spaces, when that fits */
    while (b < e && s[b] == ' ')
        b++;
    while (e > b && s[e - 1] == ' ')
        e--;
    if (e - b <= TENANT_NAME_MAX) {
        for (size_t i = b; i < e; i++)
            folded[i - b] = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] - 'A' + 'a') : s[i];
        if (tenant_fits(folded, e - b))
            return lg_fail(err, 400, "invalid_tenant",
                           "%s: a tenant name is 1-%d characters of a-z, 0-9, '.', '_' and "
                           "'-' (lower case, starting with a letter or digit, no spaces); "
                           "write it as '%.*s'",
                           name, TENANT_NAME_MAX, (int)(e - b), folded);
    }
    return lg_fail(err, 400, "invalid_tenant",
                   "%s: a tenant name is 1-%d characters of a-z, 0-9, '.', '_' and '-' "
                   "(lower case, starting with a letter or digit, no spaces)",
                   name, TENANT_NAME_MAX);
}

int validate_register(json_t *body, struct register_in *out, struct lg_error *err)
{
    json_t *v;

    memset(out, 0, sizeof(*out));
    if (validate_id(body, "session_id", &out->session_id, err) < 0 ||
        validate_id(body, "client_id", &out->client_id, err) < 0)
        return -1;
    v = json_object_get(body, "telegram_id");
    if (v && json_is_null(v))
        return missing(err, "telegram_id");
    if (v && get_int64(v, "telegram_id", &out->telegram_id, err) < 0)
        return -1;
    if (v && out->telegram_id == 0)
        return lg_fail(err, 400, "invalid_field", "telegram_id must not be 0");

    v = json_object_get(body, "console_approvers");
    if (v && !json_is_null(v)) {
        size_t i;
        json_t *a;
        if (!json_is_array(v))
            return type_error(err, "console_approvers", "an array of console user names");
        if (json_array_size(v) > APPROVERS_MAX)
            return lg_fail(err, 400, "invalid_field",
                           "console_approvers must list at most %d names", APPROVERS_MAX);
        json_array_foreach(v, i, a)
        {
            if (!json_is_string(a) || !validate_console_name(json_string_value(a)))
                return lg_fail(err, 400, "invalid_field",
                               "console_approvers[%zu] must be a console user name: 1-%d of "
                               "A-Z a-z 0-9 . _ @ -",
                               i, CONSOLE_NAME_MAX);
        }
        out->console_approvers = v;
    }

    v = json_object_get(body, "approvers");
    if (v && !json_is_null(v)) {
        size_t i;
        json_t *a;
        if (!json_is_array(v))
            return type_error(err, "approvers", "an array of Telegram user ids");
        if (json_array_size(v) > APPROVERS_MAX)
            return lg_fail(err, 400, "invalid_field", "approvers must list at most %d user ids",
                           APPROVERS_MAX);
        json_array_foreach(v, i, a)
        {
            int64_t id;
            char name[32];
            snprintf(name, sizeof(name), "approvers[%zu]", i);
            if (get_int64(a, name, &id, err) < 0)
                return -1;
            if (id <= 0)
                return lg_fail(err, 400, "invalid_field", "%s must be a positive user id", name);
        }
        out->approvers = v;
    }

    /* Defaults for the session's requests (021). */
    if (nudge_seconds(body, "remind_after_seconds", 0, &out->remind_after_seconds, err) < 0)
        return -1;
    return nudge_escalation(body, out->session_id, 0, &out->escalate_after_seconds,
                            &out->escalate_to, err);
}

enum script { SCRIPT_OTHER, SCRIPT_LATIN, SCRIPT_GREEK, SCRIPT_CYRILLIC };

static const char *const script_names[] = {"other", "Latin", "Greek", "Cyrillic"};

/* The script of a letter, for the three whose letters look alike. */
static enum script script_of(uint32_t c)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
        (c >= 0xC0 && c <= 0x2AF && c != 0xD7 && c != 0xF7) || (c >= 0x1D00 && c <= 0x1D7F) ||
        (c >= 0x1E00 && c <= 0x1EFF) || (c >= 0x2C60 && c <= 0x2C7F) ||
        (c >= 0xA720 && c <= 0xA7FF) || (c >= 0xFF21 && c <= 0xFF3A) ||
        (c >= 0xFF41 && c <= 0xFF5A))
        return SCRIPT_LATIN;
    if ((c >= 0x370 && c <= 0x3FF) || (c >= 0x1F00 && c <= 0x1FFF))
        return SCRIPT_GREEK;
    if ((c >= 0x400 && c <= 0x52F) || (c >= 0x1C80 && c <= 0x1C8F) ||
        (c >= 0x2DE0 && c <= 0x2DFF) || (c >= 0xA640 && c <= 0xA69F))
        return SCRIPT_CYRILLIC;
    return SCRIPT_OTHER;
}

/* Spaces, which end a word; everything else (punctuation too) belongs to one. */
static bool label_space(uint32_t c)
{
    return c == ' ' || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

/*
 * A character a person sees as a letter, a digit or an emoji: not a space,
 * punctuation (ASCII, Latin-1, general, supplemental, CJK, full-width),
 * a combining or variation mark, a skin tone, a blank (U+2800, fillers) or
 * a private-use or special character.
 */
static bool label_visible(uint32_t c)
{
    if (c >= 0xFF01 && c <= 0xFF5E)
        c -= 0xFEE0;
    if (c < 0x80)
        return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
    return !(c <= 0xBF || (c >= 0x300 && c <= 0x36F) || (c >= 0x2000 && c <= 0x20FF) ||
             c == 0x2800 || (c >= 0x2E00 && c <= 0x2E7F) || (c >= 0x3000 && c <= 0x303F) ||
             c == 0x3164 || c == 0x115F || c == 0x1160 || (c >= 0xFE00 && c <= 0xFE6F) ||
             (c >= 0xFF5F && c <= 0xFF65) || c == 0xFFA0 || (c >= 0xFFF0 && c <= 0xFFFF) ||
             (c >= 0xE000 && c <= 0xF8FF) || (c >= 0x1F3FB && c <= 0x1F3FF) || c >= 0xE0000);
}

/*
 * What a person sees on a button must be what decide.c reads: option `i`'s
 * label holds no control (newlines and tabs included), bidi or invisible
 * formatting character, at least one visible letter, digit or emoji, and no
 * word (a run between spaces) that mixes Latin letters with Cyrillic or
 * Greek ones ("Dеny" with a Cyrillic е).
 */
/*
 * Letters written as symbols, which the decision rules cannot read:
 * letterlike symbols (ℕ, ℴ), enclosed alphanumerics (ⓝ, ①), Braille,
 * mathematical alphanumerics (𝐍), enclosed and squared letters (🄽, 🅽) and
 * regional indicators (🇳). The squared words 🆗 and 🆖 are emoji the
 * vocabularies know.
 */
static bool letterlike(uint32_t c)
{
    return (c >= 0x2100 && c <= 0x214F) || (c >= 0x2460 && c <= 0x24FF) ||
           (c >= 0x2800 && c <= 0x28FF) || (c >= 0x1D400 && c <= 0x1D7FF) ||
           (c >= 0x1F100 && c <= 0x1F18F) || (c >= 0x1F1E6 && c <= 0x1F1FF);
}

/* A pictograph that a zero-width joiner may join to another (👩‍💻, 🙅‍♂️). */
static bool joinable(uint32_t c)
{
    return (c >= 0x2600 && c <= 0x27BF) || (c >= 0x1F300 && c <= 0x1FAFF) || c == 0xFE0F ||
           c == 0x2640 || c == 0x2642;
}

/*
 * True when s[0..len) holds a character utf8_has_unsafe refuses, other than
 * a zero-width joiner between two pictographs (an emoji sequence).
 */
static bool label_unsafe(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    char *copy = xmalloc(len + 1);
    size_t at = 0, n = 0, k;
    uint32_t c, prev = 0, next;
    bool bad;

    while (at < len && (k = utf8_char(u, len, at, &c)) > 0) {
        if (c == 0x200D && joinable(prev) && at + k < len && utf8_char(u, len, at + k, &next) > 0 &&
            joinable(next)) {
            at += k;
            continue;
        }
        memcpy(copy + n, s + at, k);
        n += k;
        at += k;
        prev = c;
    }
    bad = at < len || utf8_has_unsafe(copy, n);
    free(copy);
    return bad;
}

static int validate_label(const char *s, size_t i, struct lg_error *err)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t len = strlen(s), at = 0, k;
    enum script word = SCRIPT_OTHER;
    bool visible = false;
    uint32_t c;

    if (label_unsafe(s, len))
        return lg_fail(err, 400, "invalid_field",
                       "options[%zu] must not contain control, bidi or invisible formatting "
                       "characters (a zero-width joiner only between two emoji)",
                       i);
    while (at < len && (k = utf8_char(u, len, at, &c)) > 0) {
        enum script sc = script_of(c);

        at += k;
        if (letterlike(c))
            return lg_fail(err, 400, "invalid_field",
                           "options[%zu] writes letters as symbols (such as \xE2\x93\x9D, "
                           "\xF0\x9F\x85\xBD or \xE2\x84\x95); write them as plain letters",
                           i);
        visible = visible || label_visible(c);
        if (label_space(c)) {
            word = SCRIPT_OTHER;
            continue;
        }
        if (sc == SCRIPT_OTHER)
            continue;
        if (word != SCRIPT_OTHER && sc != word && (word == SCRIPT_LATIN || sc == SCRIPT_LATIN))
            return lg_fail(err, 400, "invalid_field",
                           "options[%zu] mixes %s and %s letters in one word", i,
                           script_names[word == SCRIPT_LATIN ? word : sc],
                           script_names[word == SCRIPT_LATIN ? sc : word]);
        if (word == SCRIPT_OTHER)
            word = sc;
    }
    if (!visible)
        return lg_fail(err, 400, "invalid_field",
                       "options[%zu] must hold a visible letter, digit or emoji", i);
    return 0;
}

/*
 * Options are strings (the original's form) or {"label": …, "approve": bool}.
 * They are stored as their labels, with what each means in out->approve:
 * explicit for objects (refused when the label says the opposite), and for
 * strings (or objects without "approve") approve only when the label is
 * clearly an approval (decide_label_approves). The body's "options" is
 * replaced by the array of labels.
 */
static int validate_options(json_t *body, struct submit_in *out, struct lg_error *err)
{
    json_t *v = json_object_get(body, "options"), *o, *labels;
    size_t i;

    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v))
        return type_error(err, "options", "an array of strings");
    if (json_array_size(v) == 0)
        return 0;
    if (json_array_size(v) > OPTIONS_MAX)
        return lg_fail(err, 400, "invalid_field", "options must have at most %d entries",
                       OPTIONS_MAX);
    labels = json_array();
    json_array_foreach(v, i, o)
    {
        json_t *label = o, *approve = NULL;
        size_t n;

        if (json_is_object(o)) {
            label = json_object_get(o, "label");
            approve = json_object_get(o, "approve");
            if (!json_is_string(label)) {
                json_decref(labels);
                return lg_fail(err, 400, "invalid_field", "options[%zu].label must be a string", i);
            }
            if (approve && !json_is_null(approve) && !json_is_boolean(approve)) {
                json_decref(labels);
                return lg_fail(err, 400, "invalid_field",
                               "options[%zu].approve must be true or false", i);
            }
        } else if (!json_is_string(o)) {
            json_decref(labels);
            return lg_fail(err, 400, "invalid_field",
                           "options[%zu] must be a string or {\"label\", \"approve\"}", i);
        }
        n = utf8_length(json_string_value(label));
        if (n == 0 || n > OPTION_MAX_CHARS) {
            json_decref(labels);
            return lg_fail(err, 400, "invalid_field", "options[%zu] must be 1-%d characters", i,
                           OPTION_MAX_CHARS);
        }
        if (validate_label(json_string_value(label), i, err) < 0) {
            json_decref(labels);
            return -1;
        }
        for (size_t k = 0; k < i; k++)
            if (!strcmp(json_string_value(json_array_get(labels, k)), json_string_value(label))) {
                json_decref(labels);
                return lg_fail(err, 400, "invalid_field", "options[%zu] repeats options[%zu]", i,
                               k);
            }
        if (approve && json_is_boolean(approve) &&
            decide_option_contradicts(json_string_value(label), json_is_true(approve))) {
            json_decref(labels);
            return lg_fail(err, 400, "invalid_field", "options[%zu].approve is %s but its label %s",
                           i, json_is_true(approve) ? "true" : "false",
                           json_is_true(approve) ? "denies" : "approves");
        }
        out->approve[i] = approve && json_is_boolean(approve)
                              ? json_is_true(approve)
                              : decide_label_approves(json_string_value(label));
        json_array_append(labels, label);
    }
    json_object_set_new(body, "options", labels);
    out->options = labels;
    return 0;
}

json_t *validate_options_answer(const struct submit_in *in)
{
    json_t *out = json_array();

    if (in->options) {
        for (size_t i = 0; i < json_array_size(in->options) && i < OPTIONS_MAX; i++)
            json_array_append_new(out,
                                  json_pack("{s:O, s:b}", "label", json_array_get(in->options, i),
                                            "approve", in->approve[i]));
    } else if (!strcmp(in->request_type, "confirmation")) {
        json_array_append_new(
            out, json_pack("{s:s, s:b}", "label", CONFIRM_APPROVE_LABEL, "approve", 1));
        json_array_append_new(out,
                              json_pack("{s:s, s:b}", "label", CONFIRM_DENY_LABEL, "approve", 0));
    }
    return out;
}

static int validate_metadata(json_t *v, struct submit_in *out, struct lg_error *err)
{
    char *text;
    size_t n;

    if (!v || json_is_null(v))
        return 0;
    if (!json_is_object(v))
        return type_error(err, "metadata", "an object");
    if (json_object_size(v) == 0)
        return 0;
    text = json_dumps(v, JSON_COMPACT);
    if (!text)
        return lg_fail(err, 400, "invalid_field", "metadata could not be encoded");
    n = strlen(text);
    free(text);
    if (n > METADATA_MAX_BYTES)
        return lg_fail(err, 400, "invalid_field",
                       "metadata must be at most %d bytes as compact JSON (got %zu)",
                       METADATA_MAX_BYTES, n);
    out->metadata = v;
    return 0;
}

static int optional_string(json_t *body, const char *field, const char **out, struct lg_error *err)
{
    json_t *v = json_object_get(body, field);

    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return type_error(err, field, "a string");
    if (*json_string_value(v))
        *out = json_string_value(v);
    return 0;
}

/*
 * `params` and `params_schema` (params.h). A schema without params proposes
 * none: the params are {} (so the schema may require nothing), which a
 * person may fill in with an edit. Both are checked here, the params
 * against the schema.
 */
static int validate_params(json_t *body, struct submit_in *out, struct lg_error *err)
{
    json_t *v = json_object_get(body, "params_schema");

    if (v && !json_is_null(v)) {
        if (params_check_schema(v, err) < 0)
            return -1;
        out->params_schema = v;
    }
    v = json_object_get(body, "params");
    if (v && !json_is_null(v)) {
        if (!json_is_object(v))
            return type_error(err, "params", "an object");
        out->params = v;
    } else if (out->params_schema) {
        json_object_set_new(body, "params", json_object());
        out->params = json_object_get(body, "params");
    }
    if (out->params && params_check(out->params, out->params_schema, "params.", err) < 0)
        return -1;
    return 0;
}

/* `tool`, `tool_input` and `agent_session` (see struct submit_in). */
static int validate_tool(json_t *body, struct submit_in *out, struct lg_error *err)
{
    json_t *v = json_object_get(body, "tool_input");

    if (json_object_get(body, "tool") && !json_is_null(json_object_get(body, "tool")) &&
        validate_id(body, "tool", &out->tool, err) < 0)
        return -1;
    if (json_object_get(body, "agent_session") &&
        !json_is_null(json_object_get(body, "agent_session")) &&
        validate_id(body, "agent_session", &out->agent_session, err) < 0)
        return -1;
    if (v && !json_is_null(v)) {
        char *text;
        size_t n;

        if (!json_is_object(v))
            return type_error(err, "tool_input", "an object");
        text = json_dumps(v, JSON_COMPACT);
        if (!text)
            return lg_fail(err, 400, "invalid_field", "tool_input could not be encoded");
        n = strlen(text);
        free(text);
        if (n > TOOL_INPUT_MAX_BYTES)
            return lg_fail(err, 400, "invalid_field",
                           "tool_input must be at most %d bytes as compact JSON (got %zu)",
                           TOOL_INPUT_MAX_BYTES, n);
        out->tool_input = v;
    }
    if ((out->tool_input || out->agent_session) && !out->tool)
        return lg_fail(err, 400, "missing_field", "tool is required with %s",
                       out->tool_input ? "tool_input" : "agent_session");
    return 0;
}

int validate_submit(json_t *body, int default_timeout, struct submit_in *out, struct lg_error *err)
{
    json_t *v;
    const char *s;

    memset(out, 0, sizeof(*out));
    if (validate_id(body, "session_id", &out->session_id, err) < 0 ||
        validate_id(body, "client_id", &out->client_id, err) < 0)
        return -1;

    v = json_object_get(body, "message");
    if (!v || json_is_null(v))
        return missing(err, "message");
    if (!json_is_string(v))
        return type_error(err, "message", "a string");
    s = json_string_value(v);
    if (*s == '\0')
        return lg_fail(err, 400, "missing_field", "message must not be empty");
    if (utf8_length(s) > MESSAGE_MAX_CHARS)
        return lg_fail(err, 400, "invalid_field", "message must be at most %d characters",
                       MESSAGE_MAX_CHARS);
    out->message = s;

    if (validate_options(body, out, err) < 0 ||
        validate_metadata(json_object_get(body, "metadata"), out, err) < 0)
        return -1;

    if (optional_string(body, "request_type", &s, err) < 0)
        return -1;
    if (!s)
        out->request_type = out->options ? "choice" : "input";
    else if (!strcmp(s, "confirmation") || !strcmp(s, "choice") || !strcmp(s, "input"))
        out->request_type = s;
    else
        return lg_fail(err, 400, "invalid_field",
                       "request_type must be one of confirmation, choice, input");
    if (!strcmp(out->request_type, "choice") && !out->options)
        return lg_fail(err, 400, "invalid_field", "request_type choice needs options");

    v = json_object_get(body, "timeout_seconds");
    out->timeout_seconds = default_timeout;
    if (v && !json_is_null(v)) {
        json_int_t t;
        if (!json_is_integer(v))
            return type_error(err, "timeout_seconds", "an integer");
        t = json_integer_value(v);
        if (t < 0 || t > TIMEOUT_MAX_SECONDS)
            return lg_fail(err, 400, "invalid_field", "timeout_seconds must be 1-%d",
                           TIMEOUT_MAX_SECONDS);
        if (t > 0)
            out->timeout_seconds = (int)t;
    }

    /* The quorum (approvals_required distinct approvals; whether one denial denies). */
    v = json_object_get(body, "approvals_required");
    out->approvals_required = 1;
    if (v && !json_is_null(v)) {
        json_int_t n;
        if (!json_is_integer(v))
            return type_error(err, "approvals_required", "an integer");
        n = json_integer_value(v);
        if (n < 1 || n > APPROVALS_MAX)
            return lg_fail(err, 400, "invalid_field", "approvals_required must be 1-%d",
                           APPROVALS_MAX);
        out->approvals_required = (int)n;
    }
    v = json_object_get(body, "deny_vetoes");
    out->deny_vetoes = true;
    if (v && !json_is_null(v)) {
        if (!json_is_boolean(v))
            return type_error(err, "deny_vetoes", "a boolean");
        out->deny_vetoes = json_is_true(v);
    }

    if (optional_string(body, "on_timeout", &s, err) < 0)
        return -1;
    if (!s)
        out->on_timeout = "deny";
    else if (!strcmp(s, "deny") || !strcmp(s, "approve"))
        out->on_timeout = s;
    else
        return lg_fail(err, 400, "invalid_field", "on_timeout must be deny or approve");
    if (!strcmp(out->on_timeout, "approve")) {
        /* A timeout may only do what a button would: a request no button approves cannot. */
        bool any = !strcmp(out->request_type, "confirmation") && !out->options;
        for (size_t i = 0; out->options && i < json_array_size(out->options); i++)
            any = any || out->approve[i];
        if (!strcmp(out->request_type, "input") || !any)
            return lg_fail(err, 400, "invalid_field",
                           "on_timeout approve needs an option that approves; this %s request "
                           "has none",
                           out->request_type);
    }
    if (!strcmp(out->on_timeout, "approve") && out->approvals_required > 1)
        /* A timeout is nobody's approval: it cannot stand in for a quorum. */
        return lg_fail(err, 400, "invalid_field",
                       "on_timeout approve cannot be combined with approvals_required above 1");
    if (validate_params(body, out, err) < 0)
        return -1;

    /* Reminder and escalation (021). */
    if (nudge_seconds(body, "remind_after_seconds", out->timeout_seconds,
                      &out->remind_after_seconds, err) < 0 ||
        nudge_escalation(body, out->session_id, out->timeout_seconds, &out->escalate_after_seconds,
                         &out->escalate_to, err) < 0)
        return -1;
    if (validate_tool(body, out, err) < 0)
        return -1;

    return validate_callback_url(json_object_get(body, "callback_url"), false, &out->callback_url,
                                 err);
}

int validate_callback_url(json_t *v, bool required, const char **out, struct lg_error *err)
{
    const char *s;

    *out = NULL;
    if (!v || json_is_null(v) || (json_is_string(v) && !*json_string_value(v))) {
        if (required)
            return missing(err, "callback_url");
        return 0;
    }
    if (!json_is_string(v))
        return type_error(err, "callback_url", "a string");
    s = json_string_value(v);
    if (strlen(s) > URL_MAX_BYTES)
        return lg_fail(err, 400, "invalid_field", "callback_url must be at most %d bytes",
                       URL_MAX_BYTES);
    if (strncmp(s, "https://", 8) && strncmp(s, "http://", 7))
        return lg_fail(err, 400, "invalid_field", "callback_url must be an http(s) URL");
    if (!printable(s) || strchr(s, ' '))
        return lg_fail(err, 400, "invalid_field",
                       "callback_url must not contain spaces or control characters");
    for (const char *c = s; *c; c++)
        if ((unsigned char)*c >= 0x80)
            return lg_fail(err, 400, "invalid_field",
                           "callback_url must be ASCII: give an international host name in its "
                           "xn-- form and percent-encode the path");
    *out = s;
    return 0;
}
