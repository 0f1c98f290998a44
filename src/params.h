/*
 * params.h - a request's parameters: the values an agent proposes to act
 * with, the schema a person's edits must meet, and the digest of what was
 * approved.
 *
 * Pure functions: no database, no I/O.
 *
 * 1. `params` is a JSON object of at most PARAMS_MAX_BYTES as compact JSON.
 *    Its numbers must read back the same in every language and through
 *    PostgreSQL's jsonb: integers within +-(2^53 - 1), other numbers finite
 *    and below 1e15 in magnitude, and no negative zero (jsonb stores -0.0 as
 *    0.0, so the digest of what an agent sent would not be params_sha256).
 * 2. `params_schema` is a subset of JSON Schema (params_check_schema): an
 *    object whose `properties` are each {type: string|number|integer|boolean}
 *    or {enum: [scalars]} (with an optional type), with `required`,
 *    `minimum`/`maximum` (numbers), `maxLength` and `pattern` (strings; a
 *    POSIX extended regular expression, unanchored, matched against the UTF-8
 *    bytes; at most 256 bytes, no back-reference, no count above 255 in
 *    `{m,n}`, and repetitions that expand it to at most 1000 positions, all
 *    checked before regcomp, whose time and memory grow with that expansion),
 *    and `additionalProperties: false`. `title` and `description`
 *    are allowed anywhere and ignored. Anything else is refused, naming its
 *    JSON path.
 * 3. The canonical serialization (params_canonical) is what params_sha256
 *    digests: compact JSON, object keys sorted by their UTF-8 bytes, strings
 *    as UTF-8 with only '"', '\\' and U+0000-U+001F escaped (\b \f \n \r \t,
 *    else \u00xx in lower case), integers in decimal, other numbers in the
 *    shortest form that reads back the same (exponent form below 1e-4 and
 *    from 1e16; a whole number keeps ".0"). It is what Python's
 *    json.dumps(params, sort_keys=True, separators=(",", ":"),
 *    ensure_ascii=False) writes.
 * 4. An edit (params_edit) is text a person typed: `key=value` lines or a
 *    JSON object. It changes only the keys it names, each a key of `params`
 *    or of the schema's `properties` (a mistyped key is refused, never
 *    added); values of key=value lines are typed by the schema (or, without
 *    one, by the current value's type: an object or an array cannot be
 *    written so, a null takes a JSON scalar or else the text), a value in
 *    double quotes that reads as a JSON string is that string, and the
 *    result must meet the schema and point 1. A replacement (params_replace)
 *    is the whole new params object, checked by the same key rules.
 *
 * Errors fill a caller-owned lg_error (400 invalid_field) whose message
 * names the field: "<prefix><key> must be ...", where the prefix is
 * "params." at submit and "" for an edit, whose message is shown in the
 * chat as it is.
 */
#ifndef LG_PARAMS_H
#define LG_PARAMS_H

#include <stdbool.h>

#include <jansson.h>

#include "util.h"

#define PARAMS_MAX_BYTES 8192
#define PARAMS_SCHEMA_MAX_BYTES 8192
#define PARAMS_PROPERTIES_MAX 64
#define PARAMS_ENUM_MAX 64
#define PARAMS_PATTERN_MAX_BYTES 256
/* A pattern's repetitions may expand it to this many positions, each count at most this. */
#define PARAMS_PATTERN_COST_MAX 1000
#define PARAMS_PATTERN_REPEAT_MAX 255
#define PARAMS_EDIT_LINES_MAX 64
/* The largest integer every JSON reader holds exactly (2^53 - 1). */
#define PARAMS_INT_MAX 9007199254740991LL
/* Other numbers must be smaller than this in magnitude (point 1). */
#define PARAMS_REAL_MAX 1e15

/*
 * Check that `schema` is in the subset (point 2). Paths in messages start
 * with "params_schema".
 */
int params_check_schema(json_t *schema, struct lg_error *err) LG_MUST_CHECK;

/*
 * Check `params` (an object): its size and numbers (point 1) and, when
 * `schema` is not NULL (already checked by params_check_schema), that it
 * meets the schema. Messages name "<prefix><key>".
 */
int params_check(json_t *params, json_t *schema, const char *prefix,
                 struct lg_error *err) LG_MUST_CHECK;

/* The canonical serialization of `v` (point 3), malloc'd; NULL when `v` holds no JSON value. */
char *params_canonical(json_t *v);

/* The hex SHA-256 of params_canonical(v); "" when it has none. */
void params_sha256(json_t *v, char out[65]);

/*
 * `params` changed by an edit typed by a person (`text`, after the /edit
 * command: key=value lines or a JSON object), checked against `schema`
 * (NULL: none). On success *out is a new reference to the resulting
 * params; on failure the error's message says which key broke which rule.
 */
int params_edit(json_t *params, json_t *schema, const char *text, json_t **out,
                struct lg_error *err) LG_MUST_CHECK;

/*
 * A pattern another part of the server matches (as params_check matches a
 * schema's `pattern`): at most `max_bytes`, without back-references or
 * escapes POSIX does not define, of bounded compile cost (its repetitions
 * expanded to at most `max_cost` positions, as schema patterns to
 * PARAMS_PATTERN_COST_MAX; no count over PARAMS_PATTERN_REPEAT_MAX), and compiling as a
 * POSIX ERE. Otherwise a 400 invalid_field whose message names `path`.
 */
int params_pattern_check(const char *path, const char *s, size_t max_bytes, unsigned long max_cost,
                         struct lg_error *err) LG_MUST_CHECK;

/*
 * The end of the POSIX bracket expression opening at s[0] == '[' (just past its
 * closing ']', classes like [:alpha:] skipped whole); NULL when it is not closed.
 */
const char *params_bracket_end(const char *s);

/* params_pattern_check without compiling: cheap enough to run before every match. */
int params_pattern_bounded(const char *path, const char *s, size_t max_bytes,
                           unsigned long max_cost, struct lg_error *err) LG_MUST_CHECK;

/*
 * `repl` (an object) replacing `params` whole: the console's "approve with
 * edits", where the form shows every key. Each key of `repl` must be a key
 * of `params` or of the schema's `properties`; a key without a schema
 * property keeps its submitted JSON type (an integer an integer, another
 * number a number, a string, boolean, object or array the same; a null
 * takes any value); a key of `params` the schema requires cannot be left
 * out; the result must meet the schema and point 1. A key left out is
 * removed. On success *out is a new reference to a copy of `repl`.
 */
int params_replace(json_t *params, json_t *schema, json_t *repl, json_t **out,
                   struct lg_error *err) LG_MUST_CHECK;

#endif
