/*
 * params.c - see params.h.
 */
#include "params.h"

#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PATH_MAX_BYTES 160

#define bad(err, ...) lg_fail(err, 400, "invalid_field", __VA_ARGS__)

static bool annotation(const char *k)
{
    return !strcmp(k, "title") || !strcmp(k, "description");
}

/* ---------------------------------------------------------------- canonical form */

/* The shortest text of `d` that reads back the same, as Python's repr writes it. */
static void real_text(double d, char *out, size_t n)
{
    char e[40];
    char *x;
    long exp;
    int p;

    for (p = 1; p <= 17; p++) {
        snprintf(e, sizeof(e), "%.*e", p - 1, d);
        if (strtod(e, NULL) == d)
            break;
    }
    if (p > 17)
        p = 17;
    x = strchr(e, 'e');
    exp = x ? strtol(x + 1, NULL, 10) : 0;
    if (exp < -4 || exp >= 16) {
        lg_strlcpy(out, e, n);
        return;
    }
    snprintf(out, n, "%.*f", p - 1 - (int)exp > 0 ? p - 1 - (int)exp : 0, d);
    if (!strchr(out, '.') && strlen(out) + 3 <= n)
        memcpy(out + strlen(out), ".0", 3);
}

static void canon_string(struct sbuf *b, const char *s, size_t len)
{
    sb_puts(b, "\"");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        switch (c) {
        case '"':
            sb_puts(b, "\\\"");
            break;
        case '\\':
            sb_puts(b, "\\\\");
            break;
        case '\b':
            sb_puts(b, "\\b");
            break;
        case '\f':
            sb_puts(b, "\\f");
            break;
        case '\n':
            sb_puts(b, "\\n");
            break;
        case '\r':
            sb_puts(b, "\\r");
            break;
        case '\t':
            sb_puts(b, "\\t");
            break;
        default:
            if (c < 0x20)
                sb_printf(b, "\\u%04x", c);
            else
                sb_append(b, s + i, 1);
        }
    }
    sb_puts(b, "\"");
}

static int key_order(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void canon(struct sbuf *b, json_t *v)
{
    char num[48];

    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        size_t n = json_object_size(v), i = 0;
        const char **keys = xmalloc((n ? n : 1) * sizeof(*keys));
        const char *k;
        json_t *x;

        json_object_foreach(v, k, x) keys[i++] = k;
        qsort(keys, n, sizeof(*keys), key_order);
        sb_puts(b, "{");
        for (i = 0; i < n; i++) {
            if (i)
                sb_puts(b, ",");
            canon_string(b, keys[i], strlen(keys[i]));
            sb_puts(b, ":");
            canon(b, json_object_get(v, keys[i]));
        }
        sb_puts(b, "}");
        free(keys);
        break;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *x;

        sb_puts(b, "[");
        json_array_foreach(v, i, x)
        {
            if (i)
                sb_puts(b, ",");
            canon(b, x);
        }
        sb_puts(b, "]");
        break;
    }
    case JSON_STRING:
        canon_string(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        sb_printf(b, "%lld", (long long)json_integer_value(v));
        break;
    case JSON_REAL:
        real_text(json_real_value(v), num, sizeof(num));
        sb_puts(b, num);
        break;
    case JSON_TRUE:
        sb_puts(b, "true");
        break;
    case JSON_FALSE:
        sb_puts(b, "false");
        break;
    case JSON_NULL:
        sb_puts(b, "null");
        break;
    }
}

char *params_canonical(json_t *v)
{
    struct sbuf b = {0};

    if (!v)
        return NULL;
    canon(&b, v);
    return b.p;
}

void params_sha256(json_t *v, char out[65])
{
    char *text = params_canonical(v);

    out[0] = '\0';
    if (text)
        sha256_hex(text, strlen(text), out);
    free(text);
}

/* ---------------------------------------------------------------- numbers and size */

/* `path` and a step (a key, or an index when `key` is NULL), in `out`. */
static void path_step(char out[PATH_MAX_BYTES], const char *path, const char *key, size_t i)
{
    if (key)
        lg_snprintf(out, PATH_MAX_BYTES, "%s%s%s", path, *path ? "." : "", key);
    else
        lg_snprintf(out, PATH_MAX_BYTES, "%s[%zu]", path, i);
}

/* Point 1 of params.h for `v` (and what it holds), at `path`. */
static int check_numbers(json_t *v, const char *path, struct lg_error *err)
{
    char sub[PATH_MAX_BYTES];
    const char *k;
    json_t *x;
    size_t i;

    if (json_is_integer(v)) {
        json_int_t n = json_integer_value(v);
        if (n > PARAMS_INT_MAX || n < -PARAMS_INT_MAX)
            return bad(err, "%s must be an integer within -(2^53-1) and 2^53-1", path);
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!isfinite(d) || fabs(d) >= PARAMS_REAL_MAX)
            return bad(err, "%s must be a number below 1e15 in magnitude (or an integer)", path);
        if (d == 0 && signbit(d))
            return bad(err,
                       "%s is a negative zero, which PostgreSQL stores as 0.0 (so a digest of "
                       "what was sent would differ): write 0",
                       path);
    } else if (json_is_object(v)) {
        json_object_foreach(v, k, x)
        {
            path_step(sub, path, k, 0);
            if (check_numbers(x, sub, err) < 0)
                return -1;
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, x)
        {
            path_step(sub, path, NULL, i);
            if (check_numbers(x, sub, err) < 0)
                return -1;
        }
    }
    return 0;
}

/* Compact JSON size of `v` in bytes; (size_t)-1 when it cannot be encoded. */
static size_t compact_size(json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    size_t n = text ? strlen(text) : (size_t)-1;

    free(text);
    return n;
}

/* ---------------------------------------------------------------- the schema subset */

static bool is_scalar(json_t *v)
{
    return json_is_string(v) || json_is_number(v) || json_is_boolean(v);
}

static const char *const types[] = {"string", "number", "integer", "boolean"};

static bool type_known(const char *t)
{
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (!strcmp(t, types[i]))
            return true;
    return false;
}

static bool type_holds(const char *type, json_t *v)
{
    if (!strcmp(type, "string"))
        return json_is_string(v);
    if (!strcmp(type, "integer"))
        return json_is_integer(v);
    if (!strcmp(type, "number"))
        return json_is_number(v);
    return json_is_boolean(v);
}

/*
 * The cost of compiling a pattern, bounded before regcomp sees it. glibc's regcomp expands every
 * bounded repetition into copies of what it repeats (and builds automaton states for each), so
 * `((a{1,20}){1,20}){1,20}` costs 8000 positions and nested or chained large counts take seconds
 * and gigabytes. The estimate walks the ERE: an atom (a character, a `\x` escape, a bracket
 * expression `[...]` whole, an anchor) costs 1; a group the sum of its alternatives (at least 1);
 * `*`, `+` and `?` double what they apply to; `{m}`, `{m,n}` and `{m,}` multiply it by the largest
 * count (m+1 for `{m,}`, at least 1). Every step only grows the estimate, so it is refused as soon
 * as it exceeds PARAMS_PATTERN_COST_MAX, as is any count above PARAMS_PATTERN_REPEAT_MAX.
 * Anything malformed is costed as literal atoms and left to regcomp to refuse.
 */
struct cost_frame {
    unsigned long alts; /* the alternatives closed so far, summed */
    unsigned long seq;  /* the current alternative */
    unsigned long last; /* the last item of `seq`, which a quantifier repeats; 0: none */
};

const char *params_bracket_end(const char *s)
{
    const char *c = s + 1;

    if (*c == '^')
        c++;
    if (*c == ']')
        c++;
    for (; *c; c++) {
        if (c[0] == ']')
            return c + 1;
        if (c[0] == '[' && (c[1] == ':' || c[1] == '.' || c[1] == '=')) {
            char kind = c[1];
            const char *x;

            for (x = c + 2; *x && !(x[0] == kind && x[1] == ']'); x++)
                ;
            if (!*x)
                return NULL;
            c = x + 1;
        }
    }
    return NULL;
}

/* An interval `{m}`, `{m,}`, `{m,n}` or `{,n}` at s[0] == '{': its end (past '}') and its
 * largest count in *times (m+1 for `{m,}`); NULL when it is not one. Counts are read up to
 * 100000, beyond which they are refused anyway. glibc reads `{,}` as `{0,}`. */
static const char *interval_end(const char *s, unsigned long *times)
{
    unsigned long m = 0, n = 0;
    bool comma = false, digits = false;
    const char *c = s + 1;

    for (; *c >= '0' && *c <= '9'; c++, digits = true)
        m = m > 100000 ? m : m * 10 + (unsigned long)(*c - '0');
    if (*c == ',') {
        comma = true;
        for (c++; *c >= '0' && *c <= '9'; c++, digits = true)
            n = n > 100000 ? n : n * 10 + (unsigned long)(*c - '0');
    }
    if (*c != '}' || (!digits && !comma))
        return NULL;
    if (!comma)
        *times = m;
    else if (c[-1] == ',')
        *times = m + 1;
    else
        *times = m > n ? m : n;
    return c + 1;
}

static int pattern_cost(const char *path, const char *s, unsigned long max, struct lg_error *err)
{
    struct cost_frame st[PARAMS_PATTERN_MAX_BYTES + 2];
    struct cost_frame *f = st;
    unsigned long times;
    const char *c = s, *next;

    memset(st, 0, sizeof(st));
    while (*c) {
        unsigned long item = 0;

        switch (*c) {
        case '(':
            if (f < st + PARAMS_PATTERN_MAX_BYTES + 1) {
                ++f;
                memset(f, 0, sizeof(*f));
                c++;
                continue;
            }
            item = 1;
            c++;
            break;
        case ')':
            if (f > st) {
                item = f->alts + f->seq;
                if (item == 0)
                    item = 1;
                f--;
            } else {
                item = 1;
            }
            c++;
            break;
        case '|':
            f->alts += f->seq;
            f->seq = f->last = 0;
            c++;
            continue;
        case '*':
        case '+':
        case '?':
        case '{':
            times = 2;
            next = *c == '{' ? interval_end(c, &times) : c + 1;
            if (next && times > PARAMS_PATTERN_REPEAT_MAX)
                return lg_fail(err, 400, "invalid_field",
                               "%s repeats more than %d times: a count in {m,n} is at most %d",
                               path, PARAMS_PATTERN_REPEAT_MAX, PARAMS_PATTERN_REPEAT_MAX);
            if (next && f->last) {
                if (times == 0)
                    times = 1;
                f->seq += f->last * (times - 1);
                f->last *= times;
                c = next;
                goto check;
            }
            item = 1;
            c++;
            break;
        case '[':
            next = params_bracket_end(c);
            item = 1;
            c = next ? next : c + strlen(c);
            break;
        case '\\':
            item = 1;
            c += c[1] ? 2 : 1;
            break;
        default:
            item = 1;
            c++;
        }
        f->seq += item;
        f->last = item;
    check:
        if (f->alts + f->seq > max)
            return lg_fail(err, 400, "invalid_field",
                           "%s is too complex: its repetitions expand to more than %lu positions",
                           path, max);
    }
    while (f > st) {
        unsigned long item = f->alts + f->seq;

        f--;
        f->seq += item;
        if (f->alts + f->seq > max)
            return lg_fail(err, 400, "invalid_field",
                           "%s is too complex: its repetitions expand to more than %lu positions",
                           path, max);
    }
    return 0;
}

/*
 * What a backslash before `c` means in an ECMAScript or Perl regex, written in POSIX; NULL when
 * it has no such meaning. glibc takes an escape POSIX does not define as the character itself
 * (`\d` matches "d"), so a pattern written for another dialect would silently check something
 * else.
 */
static const char *escape_in_posix(char c)
{
    switch (c) {
    case 'd':
        return "write [0-9]";
    case 'D':
        return "write [^0-9]";
    case 'w':
        return "write [[:alnum:]_]";
    case 'W':
        return "write [^[:alnum:]_]";
    case 's':
        return "write [[:space:]]";
    case 'S':
        return "write [^[:space:]]";
    case 'b':
    case 'B':
    case '<':
    case '>':
    case 'A':
    case 'z':
    case 'Z':
        return "there are no word boundaries or \\A \\z anchors; anchor with ^ and $";
    case 'n':
    case 't':
    case 'r':
    case 'f':
    case 'v':
        return "write the character itself (a newline is \\n in the JSON string, not \\\\n)";
    default:
        return NULL;
    }
}

/* A backslash in `s` (at `c`) that POSIX does not define, refused with what to write instead. */
static int bad_escape(const char *path, const char *c, bool in_bracket, struct lg_error *err)
{
    const char *instead = escape_in_posix(c[1]);
    unsigned char x = (unsigned char)c[1];

    if (in_bracket)
        return bad(err,
                   "%s: inside [...] a backslash is itself, so \\%c there means \\ or %c "
                   "(%s)",
                   path, c[1], c[1],
                   c[1] == 'd'   ? "write [0-9] or [[:digit:]]"
                   : c[1] == 'w' ? "write [[:alnum:]_], or [:alnum:]_ inside brackets"
                   : c[1] == 's' ? "write [[:space:]], or [:space:] inside brackets"
                                 : "write the class on its own, outside the brackets");
    if (x < 0x21 || x > 0x7e)
        return bad(err,
                   "%s holds a backslash before a character POSIX does not escape: a backslash "
                   "escapes only . [ ] \\ ( ) * + ? { } | ^ $",
                   path);
    if (instead)
        return bad(err, "%s: \\%c is not POSIX: %s", path, c[1], instead);
    return bad(err,
               "%s: \\%c is not POSIX: a backslash escapes only . [ ] \\ ( ) * + ? { } | ^ $; "
               "write %c without it",
               path, c[1], c[1]);
}

/*
 * What a pattern must be before regcomp may see it: at most PARAMS_PATTERN_MAX_BYTES, no
 * back-reference (matching with one can take exponential time), no escape POSIX does not define
 * (and no \d, \w, \s inside a bracket expression, where a backslash is itself), and a bounded
 * cost (pattern_cost). Messages name `path`.
 */
static int pattern_bounded_n(const char *path, const char *s, size_t max_bytes,
                             unsigned long max_cost, struct lg_error *err)
{
    const char *c = s, *end;

    if (strlen(s) > max_bytes)
        return lg_fail(err, 400, "invalid_field", "%s must be at most %zu bytes", path, max_bytes);
    while (*c) {
        if (c[0] == '[') {
            end = params_bracket_end(c);
            if (!end)
                end = c + strlen(c);
            for (; c < end; c++)
                if (c[0] == '\\' && c + 1 < end && strchr("dDwWsS", c[1]))
                    return bad_escape(path, c, true, err);
            continue;
        }
        if (c[0] == '\\' && c[1]) {
            if (c[1] >= '1' && c[1] <= '9')
                return bad(err, "%s must not hold a back-reference (\\1 to \\9)", path);
            if (!strchr(".[]\\()*+?{}|^$", c[1]))
                return bad_escape(path, c, false, err);
            c++;
        }
        c++;
    }
    return pattern_cost(path, s, max_cost, err);
}

static int pattern_bounded(const char *path, const char *s, struct lg_error *err)
{
    return pattern_bounded_n(path, s, PARAMS_PATTERN_MAX_BYTES, PARAMS_PATTERN_COST_MAX, err);
}

int params_pattern_bounded(const char *path, const char *s, size_t max_bytes,
                           unsigned long max_cost, struct lg_error *err)
{
    return pattern_bounded_n(path, s, max_bytes, max_cost, err);
}

int params_pattern_check(const char *path, const char *s, size_t max_bytes, unsigned long max_cost,
                         struct lg_error *err)
{
    char msg[128];
    regex_t re;
    int rc;

    if (pattern_bounded_n(path, s, max_bytes, max_cost, err) < 0)
        return -1;
    rc = regcomp(&re, s, REG_EXTENDED);
    if (rc != 0) {
        regerror(rc, &re, msg, sizeof(msg));
        return bad(err, "%s is not a POSIX extended regular expression: %s", path, msg);
    }
    regfree(&re);
    return 0;
}

/* A pattern that is bounded (pattern_bounded) and compiles as a POSIX ERE. */
static int check_pattern(const char *path, json_t *v, struct lg_error *err)
{
    const char *s = json_string_value(v);
    char msg[128];
    regex_t re;
    int rc;

    if (!s)
        return bad(err, "%s must be a string", path);
    if (pattern_bounded(path, s, err) < 0)
        return -1;
    rc = regcomp(&re, s, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        regerror(rc, &re, msg, sizeof(msg));
        return bad(err, "%s is not a POSIX extended regular expression: %s", path, msg);
    }
    regfree(&re);
    return 0;
}

static int check_property(const char *name, json_t *p, struct lg_error *err)
{
    char path[PATH_MAX_BYTES], sub[PATH_MAX_BYTES];
    json_t *type = json_object_get(p, "type"), *en = json_object_get(p, "enum"), *x;
    json_t *min = json_object_get(p, "minimum"), *max = json_object_get(p, "maximum");
    const char *t = NULL, *k;
    size_t i;

    lg_snprintf(path, sizeof(path), "params_schema.properties.%s", name);
    if (!json_is_object(p))
        return bad(err, "%s must be an object", path);
    json_object_foreach(p, k, x)
    {
        if (strcmp(k, "type") && strcmp(k, "enum") && strcmp(k, "minimum") &&
            strcmp(k, "maximum") && strcmp(k, "maxLength") && strcmp(k, "pattern") &&
            !annotation(k)) {
            path_step(sub, path, k, 0);
            return bad(err,
                       "%s is not supported (a property takes type, enum, minimum, maximum, "
                       "maxLength, pattern, title and description)",
                       sub);
        }
        if (annotation(k) && !json_is_string(x)) {
            path_step(sub, path, k, 0);
            return bad(err, "%s must be a string", sub);
        }
    }
    if (type) {
        t = json_string_value(type);
        if (!t || !type_known(t))
            return bad(err, "%s.type must be one of string, number, integer, boolean", path);
    }
    if (en) {
        if (!json_is_array(en) || json_array_size(en) == 0 || json_array_size(en) > PARAMS_ENUM_MAX)
            return lg_fail(err, 400, "invalid_field", "%s.enum must be an array of 1-%d values",
                           path, PARAMS_ENUM_MAX);
        json_array_foreach(en, i, x)
        {
            lg_snprintf(sub, sizeof(sub), "%s.enum[%zu]", path, i);
            if (!is_scalar(x))
                return bad(err, "%s must be a string, a number or a boolean", sub);
            if (t && !type_holds(t, x))
                return bad(err, "%s is not of the property's type %s", sub, t);
            if (check_numbers(x, sub, err) < 0)
                return -1;
            for (size_t j = 0; j < i; j++)
                if (json_equal(x, json_array_get(en, j)))
                    return bad(err, "%s repeats an earlier value", sub);
        }
    }
    if (!t && !en)
        return bad(err, "%s needs a type (string, number, integer, boolean) or an enum", path);
    if ((min || max) && (!t || (strcmp(t, "number") && strcmp(t, "integer"))))
        return bad(err, "%s: minimum and maximum need type number or integer", path);
    if ((min && !json_is_number(min)) || (max && !json_is_number(max)))
        return bad(err, "%s: minimum and maximum must be numbers", path);
    if (min && max && json_number_value(min) > json_number_value(max))
        return bad(err, "%s: minimum is above maximum", path);
    x = json_object_get(p, "maxLength");
    if (x && (!t || strcmp(t, "string")))
        return bad(err, "%s: maxLength needs type string", path);
    if (x && (!json_is_integer(x) || json_integer_value(x) < 0))
        return bad(err, "%s.maxLength must be an integer >= 0", path);
    x = json_object_get(p, "pattern");
    if (x && (!t || strcmp(t, "string")))
        return bad(err, "%s: pattern needs type string", path);
    if (x) {
        lg_snprintf(sub, sizeof(sub), "%s.pattern", path);
        return check_pattern(sub, x, err);
    }
    return 0;
}

int params_check_schema(json_t *schema, struct lg_error *err)
{
    json_t *props, *req, *x;
    const char *k;
    size_t i, n;
    char sub[PATH_MAX_BYTES];

    if (!json_is_object(schema))
        return bad(err, "params_schema must be an object");
    n = compact_size(schema);
    if (n > PARAMS_SCHEMA_MAX_BYTES)
        return lg_fail(err, 400, "invalid_field",
                       "params_schema must be at most %d bytes as compact JSON (got %zu)",
                       PARAMS_SCHEMA_MAX_BYTES, n);
    json_object_foreach(schema, k, x)
    {
        if (!strcmp(k, "type") || !strcmp(k, "properties") || !strcmp(k, "required") ||
            !strcmp(k, "additionalProperties") || !strcmp(k, "$schema"))
            continue;
        if (annotation(k) && json_is_string(x))
            continue;
        path_step(sub, "params_schema", k, 0);
        return bad(err,
                   "%s is not supported (params_schema takes type, properties, required, "
                   "additionalProperties, title and description)",
                   sub);
    }
    if (!json_is_string(json_object_get(schema, "type")) ||
        strcmp(json_string_value(json_object_get(schema, "type")), "object") != 0)
        return bad(err, "params_schema.type must be \"object\"");
    x = json_object_get(schema, "$schema");
    if (x && !json_is_string(x))
        return bad(err, "params_schema.$schema must be a string");
    x = json_object_get(schema, "additionalProperties");
    if (x && !json_is_boolean(x))
        return bad(err, "params_schema.additionalProperties must be true or false");
    props = json_object_get(schema, "properties");
    if (props && !json_is_object(props))
        return bad(err, "params_schema.properties must be an object");
    if (json_object_size(props) > PARAMS_PROPERTIES_MAX)
        return lg_fail(err, 400, "invalid_field",
                       "params_schema.properties must have at most %d entries",
                       PARAMS_PROPERTIES_MAX);
    json_object_foreach(props, k, x) if (check_property(k, x, err) < 0) return -1;
    req = json_object_get(schema, "required");
    if (req && !json_is_array(req))
        return bad(err, "params_schema.required must be an array of property names");
    json_array_foreach(req, i, x)
    {
        lg_snprintf(sub, sizeof(sub), "params_schema.required[%zu]", i);
        if (!json_is_string(x))
            return bad(err, "%s must be a string", sub);
        if (!json_object_get(props, json_string_value(x)))
            return bad(err, "%s names no property of params_schema.properties", sub);
        for (size_t j = 0; j < i; j++)
            if (json_equal(x, json_array_get(req, j)))
                return bad(err, "%s repeats an earlier name", sub);
    }
    return 0;
}

/* ---------------------------------------------------------------- params against the schema */

/* The values of an enum, ", "-separated, for a message (malloc'd). */
static char *enum_list(json_t *en)
{
    struct sbuf b = {0};
    size_t i;
    json_t *x;

    json_array_foreach(en, i, x)
    {
        char *t = json_is_string(x) ? xstrdup(json_string_value(x)) : params_canonical(x);
        sb_printf(&b, "%s%s", i ? ", " : "", t);
        free(t);
    }
    return b.p ? b.p : xstrdup("");
}

static int check_value(const char *name, json_t *v, json_t *p, struct lg_error *err)
{
    const char *t = json_string_value(json_object_get(p, "type"));
    json_t *en = json_object_get(p, "enum"), *x;
    char num[48];
    size_t i;

    if (t && !type_holds(t, v))
        return bad(err, "%s must be %s", name,
                   !strcmp(t, "string")    ? "a string"
                   : !strcmp(t, "integer") ? "an integer"
                   : !strcmp(t, "number")  ? "a number"
                                           : "true or false");
    if (en) {
        bool found = false;
        json_array_foreach(en, i, x) found = found || json_equal(x, v);
        if (!found) {
            char *all = enum_list(en);
            bad(err, "%s must be one of: %s", name, all);
            free(all);
            return -1;
        }
    }
    if ((x = json_object_get(p, "minimum")) && json_number_value(v) < json_number_value(x)) {
        char *s = params_canonical(x);
        bad(err, "%s must be at least %s", name, s);
        free(s);
        return -1;
    }
    if ((x = json_object_get(p, "maximum")) && json_number_value(v) > json_number_value(x)) {
        char *s = params_canonical(x);
        bad(err, "%s must be at most %s", name, s);
        free(s);
        return -1;
    }
    if ((x = json_object_get(p, "maxLength")) &&
        utf8_length(json_string_value(v)) > (size_t)json_integer_value(x)) {
        snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(x));
        return bad(err, "%s must be at most %s characters", name, num);
    }
    if ((x = json_object_get(p, "pattern"))) {
        struct lg_error why = {0};
        regex_t re;
        int rc;

        /* A schema stored before a rule of pattern_bounded existed is bounded here too. */
        if (pattern_bounded("its pattern", json_string_value(x), &why) < 0)
            return bad(err, "%s cannot be checked: %s", name, why.message);
        if (regcomp(&re, json_string_value(x), REG_EXTENDED | REG_NOSUB) != 0)
            return bad(err, "%s cannot be checked: its pattern does not compile", name);
        rc = regexec(&re, json_string_value(v), 0, NULL, 0);
        regfree(&re);
        if (rc != 0)
            return bad(err, "%s must match the pattern %s", name, json_string_value(x));
    }
    return 0;
}

int params_check(json_t *params, json_t *schema, const char *prefix, struct lg_error *err)
{
    json_t *props = json_object_get(schema, "properties"), *x, *p;
    bool closed = json_is_false(json_object_get(schema, "additionalProperties"));
    char name[PATH_MAX_BYTES];
    const char *k;
    size_t i, n;

    if (!json_is_object(params))
        return bad(err, "%s must be an object", *prefix ? "params" : "the parameters");
    n = compact_size(params);
    if (n > PARAMS_MAX_BYTES)
        return lg_fail(err, 400, "invalid_field",
                       "%s must be at most %d bytes as compact JSON (got %zu)",
                       *prefix ? "params" : "the parameters", PARAMS_MAX_BYTES, n);
    json_object_foreach(params, k, x)
    {
        lg_snprintf(name, sizeof(name), "%s%s", prefix, k);
        if (check_numbers(x, name, err) < 0)
            return -1;
    }
    if (!schema)
        return 0;
    json_array_foreach(json_object_get(schema, "required"), i, x)
    {
        if (!json_object_get(params, json_string_value(x))) {
            lg_snprintf(name, sizeof(name), "%s%s", prefix, json_string_value(x));
            return bad(err, "%s is required", name);
        }
    }
    json_object_foreach(params, k, x)
    {
        lg_snprintf(name, sizeof(name), "%s%s", prefix, k);
        p = json_object_get(props, k);
        if (!p && closed)
            return bad(err,
                       "%s is not a parameter of this request (params_schema has "
                       "additionalProperties: false)",
                       name);
        if (p && check_value(name, x, p, err) < 0)
            return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- edits */

static bool space(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* A number typed by a person: an integer when it is one, else a real; NULL when neither. */
static json_t *typed_number(const char *s)
{
    int64_t i;
    char *end;
    double d;

    if (parse_int64(s, &i) == 0)
        return json_integer((json_int_t)i);
    if (!*s || strspn(s, "0123456789+-.eE") != strlen(s))
        return NULL;
    d = strtod(s, &end);
    if (*end || !isfinite(d))
        return NULL;
    return json_real(d);
}

/* `s` written as a JSON string, with its double quotes (`"hello"`, `"a \"b\""`): that string
 * (a new reference); NULL when it is not one. */
static json_t *quoted_string(const char *s)
{
    size_t n = strlen(s);
    json_t *v;

    if (n < 2 || s[0] != '"' || s[n - 1] != '"')
        return NULL;
    v = json_loads(s, JSON_DECODE_ANY, NULL);
    if (json_is_string(v))
        return v;
    json_decref(v);
    return NULL;
}

/* `s` read as a JSON scalar (a number, true, false, null or a quoted string), else as the text
 * itself; a new reference, NULL when `s` is not valid UTF-8. */
static json_t *scalar_or_text(const char *s)
{
    json_t *v = json_loads(s, JSON_DECODE_ANY, NULL);

    if (v && !json_is_object(v) && !json_is_array(v))
        return v;
    json_decref(v);
    return json_string(s);
}

/*
 * The value of `key=s`, typed by property `p` (NULL: none) or the current value `cur`. A value
 * in double quotes that reads as a JSON string is that string, for a string or an enum of
 * strings. Without a type from the schema: a current object or array is refused (key=value
 * cannot write one), a current null takes `s` as a JSON scalar when it reads as one, and
 * otherwise the current value's type is the value's.
 */
static int typed_value(const char *key, const char *s, json_t *p, json_t *cur, json_t **out,
                       struct lg_error *err)
{
    const char *t = json_string_value(json_object_get(p, "type"));
    json_t *en = json_object_get(p, "enum"), *quoted = quoted_string(s), *x;
    int rc = 0;
    size_t i;

    *out = NULL;
    if (!t && !en && (json_is_object(cur) || json_is_array(cur))) {
        rc = bad(err, "%s is an %s: use the JSON form, /edit {\"%s\": ...}", key,
                 json_is_object(cur) ? "object" : "array", key);
    } else if (en) {
        json_array_foreach(en, i, x)
        {
            char *text = json_is_string(x) ? xstrdup(json_string_value(x)) : params_canonical(x);
            bool same = !strcmp(text, s) || (json_is_boolean(x) && !strcasecmp(text, s)) ||
                        (quoted && json_equal(quoted, x));
            free(text);
            if (same) {
                *out = json_incref(x);
                break;
            }
        }
        if (!*out) {
            x = quoted ? json_incref(quoted) : json_string(s);
            if (!x)
                rc = bad(err, "%s must be valid UTF-8", key);
            else if (check_value(key, x, p, err) == 0)
                rc = bad(err, "%s must be one of its values", key);
            else
                rc = -1;
            json_decref(x);
        }
    } else if (!t && json_is_null(cur)) {
        if (!(*out = scalar_or_text(s)))
            rc = bad(err, "%s must be valid UTF-8", key);
    } else {
        if (!t)
            t = json_is_integer(cur)   ? "integer"
                : json_is_real(cur)    ? "number"
                : json_is_boolean(cur) ? "boolean"
                                       : "string";
        if (!strcmp(t, "integer")) {
            int64_t n;
            if (parse_int64(s, &n) < 0)
                rc = bad(err, "%s must be an integer", key);
            else
                *out = json_integer((json_int_t)n);
        } else if (!strcmp(t, "number")) {
            if (!(*out = typed_number(s)))
                rc = bad(err, "%s must be a number", key);
        } else if (!strcmp(t, "boolean")) {
            if (strcasecmp(s, "true") && strcasecmp(s, "false"))
                rc = bad(err, "%s must be true or false", key);
            else
                *out = json_boolean(!strcasecmp(s, "true"));
        } else if (quoted) {
            *out = json_incref(quoted);
        } else if (!(*out = json_string(s))) {
            rc = bad(err, "%s must be valid UTF-8", key);
        }
    }
    json_decref(quoted);
    return rc;
}

/*
 * An edit may set only a key the request has: one of its params or of the schema's properties.
 * A key typed wrong would otherwise be added beside the one meant, and the request approved
 * with the meant value unchanged. The message lists the keys that can be edited, sorted, within
 * about 200 bytes.
 */
static int edit_key_known(json_t *params, json_t *props, const char *key, struct lg_error *err)
{
    size_t n = json_object_size(params) + json_object_size(props), i = 0, j;
    const char **keys, *k;
    struct sbuf b = {0};
    json_t *x;

    if (json_object_get(params, key) || json_object_get(props, key))
        return 0;
    keys = xmalloc((n ? n : 1) * sizeof(*keys));
    json_object_foreach(params, k, x) keys[i++] = k;
    json_object_foreach(props, k, x) if (!json_object_get(params, k)) keys[i++] = k;
    qsort(keys, i, sizeof(*keys), key_order);
    for (j = 0; j < i; j++) {
        if (b.len + strlen(keys[j]) > 200) {
            sb_puts(&b, ", ...");
            break;
        }
        sb_printf(&b, "%s%s", j ? ", " : "", keys[j]);
    }
    bad(err, "%s is not a parameter of this request; it has: %s", key, b.p ? b.p : "none");
    sb_free(&b);
    free(keys);
    return -1;
}

/* key=value lines into `changes`. */
static int edit_lines(json_t *params, json_t *schema, const char *text, json_t *changes,
                      struct lg_error *err)
{
    json_t *props = json_object_get(schema, "properties");
    char *copy = xstrdup(text), *line = copy, *next;
    int nline = 0, rc = 0;

    for (; line && rc == 0; line = next) {
        char *eq, *key, *val, *end;
        json_t *v = NULL;

        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        nline++;
        while (space(*line))
            line++;
        end = line + strlen(line);
        while (end > line && space(end[-1]))
            *--end = '\0';
        if (!*line)
            continue;
        if (nline > PARAMS_EDIT_LINES_MAX) {
            rc = lg_fail(err, 400, "invalid_field", "an edit takes at most %d lines",
                         PARAMS_EDIT_LINES_MAX);
            break;
        }
        eq = strchr(line, '=');
        if (!eq || eq == line) {
            rc = lg_fail(err, 400, "invalid_field",
                         "line %d: write key=value (or a JSON object after /edit)", nline);
            break;
        }
        *eq = '\0';
        key = line;
        val = eq + 1;
        end = eq;
        while (end > key && space(end[-1]))
            *--end = '\0';
        while (space(*val))
            val++;
        if (!*key) {
            rc = lg_fail(err, 400, "invalid_field", "line %d: the key is empty", nline);
            break;
        }
        if (json_object_get(changes, key)) {
            rc = bad(err, "%s is given twice", key);
            break;
        }
        rc = edit_key_known(params, props, key, err);
        if (rc < 0)
            break;
        rc = typed_value(key, val, json_object_get(props, key), json_object_get(params, key), &v,
                         err);
        if (rc == 0)
            json_object_set_new(changes, key, v);
    }
    free(copy);
    return rc;
}

int params_edit(json_t *params, json_t *schema, const char *text, json_t **out,
                struct lg_error *err)
{
    json_t *changes = NULL, *result, *x;
    json_error_t jerr;
    const char *k;

    *out = NULL;
    while (*text == ' ' || *text == '\t' || *text == '\r' || *text == '\n')
        text++;
    if (!*text)
        return lg_fail(err, 400, "invalid_field",
                       "nothing to change: write /edit, then key=value lines or a JSON object");
    if (*text == '{') {
        if (!json_depth_ok(text, strlen(text), LG_JSON_DEPTH_MAX))
            return lg_fail(err, 400, "invalid_field", "the JSON is nested deeper than %d levels",
                           LG_JSON_DEPTH_MAX);
        changes = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
        if (!changes)
            return lg_fail(err, 400, "invalid_field",
                           "the JSON is malformed at line %d, column %d: %s", jerr.line,
                           jerr.column, jerr.text);
        if (!json_is_object(changes)) {
            json_decref(changes);
            return lg_fail(err, 400, "invalid_field", "the JSON must be an object");
        }
        json_object_foreach(changes, k, x)
        {
            if (edit_key_known(params, json_object_get(schema, "properties"), k, err) < 0) {
                json_decref(changes);
                return -1;
            }
        }
    } else {
        changes = json_object();
        if (edit_lines(params, schema, text, changes, err) < 0) {
            json_decref(changes);
            return -1;
        }
    }
    result = json_deep_copy(params);
    json_object_update(result, changes);
    json_decref(changes);
    if (params_check(result, schema, "", err) < 0) {
        json_decref(result);
        return -1;
    }
    *out = result;
    return 0;
}

/* The JSON type class of `v` an unschema'd edit must keep: an integer stays an integer, any
 * other number a number, and a string, boolean, object or array the same. */
static const char *type_class(json_t *v)
{
    return json_is_integer(v)   ? "an integer"
           : json_is_number(v)  ? "a number"
           : json_is_string(v)  ? "a string"
           : json_is_boolean(v) ? "true or false"
           : json_is_object(v)  ? "an object"
           : json_is_array(v)   ? "an array"
                                : "null";
}

static bool same_class(json_t *cur, json_t *v)
{
    if (json_is_null(cur))
        return true;
    if (json_is_real(cur))
        return json_is_number(v);
    if (json_is_boolean(cur))
        return json_is_boolean(v);
    return json_typeof(cur) == json_typeof(v);
}

int params_replace(json_t *params, json_t *schema, json_t *repl, json_t **out, struct lg_error *err)
{
    json_t *props = json_object_get(schema, "properties"), *x, *cur;
    const char *k;
    size_t i;

    *out = NULL;
    if (!json_is_object(repl))
        return bad(err, "the params must be an object");
    json_object_foreach(repl, k, x)
    {
        if (edit_key_known(params, props, k, err) < 0)
            return -1;
        cur = json_object_get(params, k);
        if (!json_object_get(props, k) && cur && !same_class(cur, x))
            return bad(err, "%s must be %s, as submitted", k, type_class(cur));
    }
    json_array_foreach(json_object_get(schema, "required"), i, x)
    {
        k = json_string_value(x);
        if (k && json_object_get(params, k) && !json_object_get(repl, k))
            return bad(err, "%s is required: it cannot be removed", k);
    }
    x = json_deep_copy(repl);
    if (params_check(x, schema, "", err) < 0) {
        json_decref(x);
        return -1;
    }
    *out = x;
    return 0;
}
