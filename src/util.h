/*
 * util.h - small self-contained helpers shared by every module.
 *
 * Nothing here touches the network, the database or global state, so every
 * function can be unit tested on its own (tests/unit/test_util.c).
 */
#ifndef LG_UTIL_H
#define LG_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define LG_MUST_CHECK __attribute__((warn_unused_result))
#define LG_PRINTF(a, b) __attribute__((format(printf, a, b)))

/*
 * A precise error for the caller to turn into a JSON body:
 * {"error":{"code":code,"message":message}} with HTTP status `status`.
 * Validators fill one of these instead of printing anything.
 */
struct lg_error {
    int status;
    char code[48];
    char message[320];
};

/* Fill `err` and return -1, so a validator can `return lg_fail(...)`. */
int lg_fail(struct lg_error *err, int status, const char *code, const char *fmt, ...)
    LG_PRINTF(4, 5);

/* Allocation that aborts on out-of-memory (STYLE: OOM aborts). */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
char *xstrdup(const char *s);

/* snprintf that always terminates and reports truncation as -1. */
int lg_snprintf(char *dst, size_t n, const char *fmt, ...) LG_PRINTF(3, 4);

/* Copy at most n-1 bytes and terminate; returns -1 when `src` did not fit. */
int lg_strlcpy(char *dst, const char *src, size_t n);

/* True when buf[0..len) is well-formed UTF-8 (no overlongs, no surrogates). */
bool utf8_valid(const char *buf, size_t len);

/* Number of code points in a valid UTF-8 string. */
size_t utf8_length(const char *s);

/*
 * Length in bytes of the longest prefix of the UTF-8 string `s` that is at
 * most `max` bytes and ends on a character boundary (never mid-character).
 */
size_t utf8_prefix(const char *s, size_t max);

/* lg_strlcpy that cuts only on a UTF-8 character boundary; -1 when cut. */
int utf8_strlcpy(char *dst, const char *src, size_t n);

/*
 * The bot id of a Telegram bot token: its numeric prefix before ':'
 * ("7123456789:AAE..." -> 7123456789); 0 when the token has no such prefix.
 */
int64_t tg_token_bot_id(const char *token);

/*
 * The length of the longest prefix of s[0..len) that is at most `max` bytes
 * and does not end inside a UTF-8 character: where a string may be cut.
 */
size_t utf8_cut(const char *s, size_t len, size_t max);

/*
 * True when the valid UTF-8 text s[0..len) holds a character that has no
 * place in an identifier or a quoted value: C0 and C1 controls, DEL, bidi
 * embeddings, overrides, isolates and marks (U+202A-U+202E, U+2066-U+2069,
 * U+200E, U+200F, U+061C), and invisible format characters (U+00AD,
 * U+180E, U+200B-U+200D, U+2028, U+2029, U+2060-U+2064, U+206A-U+206F,
 * U+FEFF, U+FFF9-U+FFFB, tags U+E0000-U+E007F).
 */
bool utf8_has_unsafe(const char *s, size_t len);

/*
 * The length of the well-formed UTF-8 character at s[i] of s[0..len) (its
 * code point in *cp), or 0 when the bytes there are not one.
 */
size_t utf8_char(const unsigned char *s, size_t len, size_t i, uint32_t *cp);

/*
 * Copy `src` into dst[n] so that it can be quoted in an error or a log line:
 * valid UTF-8 that is safe stays as it is; every byte of invalid UTF-8 and
 * every control becomes "\xNN", every other unsafe character (see
 * utf8_has_unsafe) "\u{XXXX}". The result is cut on a character (or escape)
 * boundary to fit; returns -1 when it was cut, else 0.
 */
int lg_sanitize(char *dst, size_t n, const char *src);

/*
 * The deepest nesting any JSON from outside may have: the outermost array
 * or object is level 1. Checked with json_depth_ok() on the raw text before
 * anything parses, walks or prints it recursively.
 */
#define LG_JSON_DEPTH_MAX 32

/*
 * True when no array or object in the JSON text buf[0..len) is nested more
 * than `max` levels deep. A single pass without recursion: brackets inside
 * strings (escapes included) do not count. It checks nothing else; the text
 * must still be parsed.
 */
bool json_depth_ok(const char *buf, size_t len, int max);

/* Parse a whole decimal int64 (optional leading '-'); -1 on junk or overflow. */
int parse_int64(const char *s, int64_t *out) LG_MUST_CHECK;

/* Lower-case hex of `n` bytes into `out` (2n+1 bytes). */
void hex_encode(const unsigned char *in, size_t n, char *out);

/* Constant-time comparison of two byte strings (length leaks, content does not). */
bool ct_equal(const void *a, size_t alen, const void *b, size_t blen);

/* SHA-256 of `len` bytes as 64 hex characters plus NUL. */
void sha256_hex(const void *data, size_t len, char out[65]);

/* Fill `buf` with `n` cryptographically random bytes; -1 on failure. */
int random_bytes(void *buf, size_t n) LG_MUST_CHECK;

/*
 * Base64url of `n` bytes without padding (RFC 4648 section 5) into `out`,
 * which holds at least 4 * ((n + 2) / 3) + 1 bytes.
 */
void base64url_encode(const unsigned char *in, size_t n, char *out);

/*
 * A new secret token: 32 random bytes as base64url (43 characters) in
 * out[44], and its SHA-256 in hex in sha[65] (what is stored). -1 when no
 * randomness could be had.
 */
int token_new(char out[44], char sha[65]) LG_MUST_CHECK;

/* True for the canonical 8-4-4-4-12 hex UUID text form. */
bool uuid_valid(const char *s);

/* Monotonic clock in milliseconds. */
int64_t now_ms(void);

/* `t` plus `ms` (0 or more), tv_nsec kept below one second. */
struct timespec timespec_add_ms(struct timespec t, int64_t ms);

/* The time `ms` (0 or more) from now on `clock`: a deadline for pthread_cond_timedwait. */
struct timespec deadline_in_ms(clockid_t clock, int64_t ms);

/* Whether `clock` has reached `deadline`. */
bool deadline_passed(clockid_t clock, const struct timespec *deadline);

/*
 * A timestamptz as PostgreSQL prints it with DateStyle ISO and TimeZone UTC
 * ("2026-11-25 10:00:00.5+00") in the API's form, microseconds always
 * written ("2026-11-25T10:00:00.500000Z"). -1 (out unchanged) for any other
 * text.
 */
int pg_ts_iso(const char *in, char out[28]) LG_MUST_CHECK;

/* Case-insensitive ASCII prefix match of a media type ("application/json; charset=utf-8"). */
bool media_type_is_json(const char *content_type);

/*
 * A growable string. Zero-initialise (`struct sbuf b = {0};`), append, use
 * b.p (always NUL-terminated once anything was appended), sb_free.
 */
struct sbuf {
    char *p;
    size_t len;
    size_t cap;
};

void sb_append(struct sbuf *b, const char *s, size_t n);
void sb_puts(struct sbuf *b, const char *s);
void sb_printf(struct sbuf *b, const char *fmt, ...) LG_PRINTF(2, 3);
void sb_free(struct sbuf *b);

#endif
