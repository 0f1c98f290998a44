/*
 * test_util.c - unit tests for util.c: UTF-8, integers, hex, hashing, UUIDs,
 * media types, bounded strings and lg_fail.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "t.h"
#include "util.h"

struct utf8_case {
    const char *name;
    const char *bytes;
    size_t len; /* 0: strlen(bytes) */
    bool valid;
};

static const struct utf8_case utf8_cases[] = {
    {"empty", "", 0, true},
    {"ascii", "hello, world", 0, true},
    {"two-byte e-acute", "caf\xC3\xA9", 0, true},
    {"three-byte euro", "\xE2\x82\xAC", 0, true},
    {"four-byte rocket", "\xF0\x9F\x9A\x80 Deploy", 0, true},
    {"U+0080 lowest two-byte", "\xC2\x80", 0, true},
    {"U+07FF highest two-byte", "\xDF\xBF", 0, true},
    {"U+0800 lowest three-byte", "\xE0\xA0\x80", 0, true},
    {"U+D7FF before surrogates", "\xED\x9F\xBF", 0, true},
    {"U+E000 after surrogates", "\xEE\x80\x80", 0, true},
    {"U+FFFF", "\xEF\xBF\xBF", 0, true},
    {"U+10000 lowest four-byte", "\xF0\x90\x80\x80", 0, true},
    {"U+10FFFF highest", "\xF4\x8F\xBF\xBF", 0, true},
    {"embedded NUL with explicit length", "a\0b", 3, true},
    {"overlong NUL C0 80", "\xC0\x80", 0, false},
    {"overlong C1 BF", "\xC1\xBF", 0, false},
    {"overlong three-byte slash", "\xE0\x80\xAF", 0, false},
    {"overlong three-byte U+07FF", "\xE0\x9F\xBF", 0, false},
    {"overlong four-byte U+FFFF", "\xF0\x8F\xBF\xBF", 0, false},
    {"surrogate U+D800", "\xED\xA0\x80", 0, false},
    {"surrogate U+DFFF", "\xED\xBF\xBF", 0, false},
    {"U+110000 above range", "\xF4\x90\x80\x80", 0, false},
    {"F5 lead byte", "\xF5\x80\x80\x80", 0, false},
    {"FF byte", "\xFF", 0, false},
    {"lone continuation", "\x80", 0, false},
    {"truncated two-byte at end", "ab\xC3", 0, false},
    {"truncated three-byte at end", "\xE2\x82", 0, false},
    {"truncated four-byte at end", "\xF0\x9F\x9A", 0, false},
    {"truncated then ascii", "\xE2\x82x", 0, false},
    {"bad continuation", "\xC3\x28", 0, false},
    {"length cuts a sequence", "\xE2\x82\xAC", 2, false},
};

TEST(utf8_valid)
{
    for (size_t i = 0; i < sizeof(utf8_cases) / sizeof(utf8_cases[0]); i++) {
        const struct utf8_case *c = &utf8_cases[i];
        size_t len = c->len ? c->len : strlen(c->bytes);
        bool got = utf8_valid(c->bytes, len);
        CHECKF(got == c->valid, "utf8_valid(%s) = %d, expected %d", c->name, got, c->valid);
    }
}

TEST(utf8_length)
{
    CHECK_EQ_INT(utf8_length(""), 0);
    CHECK_EQ_INT(utf8_length("abc"), 3);
    CHECK_EQ_INT(utf8_length("caf\xC3\xA9"), 4);
    CHECK_EQ_INT(utf8_length("\xE2\x82\xAC"), 1);
    CHECK_EQ_INT(utf8_length("\xF0\x9F\x9A\x80 Deploy"), 8);
    /* "⏸️" is U+23F8 U+FE0F: two code points. */
    CHECK_EQ_INT(utf8_length("\xE2\x8F\xB8\xEF\xB8\x8F"), 2);
}

TEST(parse_int64)
{
    int64_t v = 42;

    CHECK_EQ_INT(parse_int64("0", &v), 0);
    CHECK_EQ_INT(v, 0);
    CHECK_EQ_INT(parse_int64("123456789", &v), 0);
    CHECK_EQ_INT(v, 123456789);
    CHECK_EQ_INT(parse_int64("-42", &v), 0);
    CHECK_EQ_INT(v, -42);
    CHECK_EQ_INT(parse_int64("9223372036854775807", &v), 0);
    CHECK(v == INT64_MAX);
    CHECK_EQ_INT(parse_int64("-9223372036854775808", &v), 0);
    CHECK(v == INT64_MIN);
    CHECK_EQ_INT(parse_int64("9007199254740993", &v), 0);
    CHECK(v == INT64_C(9007199254740993));

    v = 7;
    CHECK_EQ_INT(parse_int64("9223372036854775808", &v), -1);
    CHECK_EQ_INT(parse_int64("-9223372036854775809", &v), -1);
    CHECK_EQ_INT(parse_int64("99999999999999999999999", &v), -1);
    CHECK_EQ_INT(parse_int64("", &v), -1);
    CHECK_EQ_INT(parse_int64(NULL, &v), -1);
    CHECK_EQ_INT(parse_int64("-", &v), -1);
    CHECK_EQ_INT(parse_int64("12abc", &v), -1);
    CHECK_EQ_INT(parse_int64("abc", &v), -1);
    CHECK_EQ_INT(parse_int64(" 12", &v), -1);
    CHECK_EQ_INT(parse_int64("12 ", &v), -1);
    CHECK_EQ_INT(parse_int64("1.5", &v), -1);
    CHECK_EQ_INT(parse_int64("0x10", &v), -1);
    CHECK_EQ_INT(parse_int64("--1", &v), -1);
    CHECK_EQ_INT(parse_int64("- 1", &v), -1);
    /* The contract is "optional leading '-'": no '+' (Content-Length is 1*DIGIT). */
    CHECK_EQ_INT(parse_int64("+5", &v), -1);
    CHECK_EQ_INT(v, 7); /* untouched on failure */
}

TEST(hex_encode)
{
    static const unsigned char in[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
    char out[2 * sizeof(in) + 1];

    memset(out, 'x', sizeof(out));
    hex_encode(in, sizeof(in), out);
    CHECK_EQ_STR(out, "00017f80abff");

    memset(out, 'x', sizeof(out));
    hex_encode(in, 0, out);
    CHECK_EQ_STR(out, "");
}

TEST(ct_equal)
{
    CHECK(ct_equal("abc", 3, "abc", 3));
    CHECK(!ct_equal("abc", 3, "abd", 3));
    CHECK(!ct_equal("abc", 3, "Abc", 3));
    CHECK(!ct_equal("abc", 3, "abcd", 4));
    CHECK(!ct_equal("abcd", 4, "abc", 3));
    CHECK(ct_equal("", 0, "", 0));
    CHECK(ct_equal("a\0b", 3, "a\0b", 3));
    CHECK(!ct_equal("a\0b", 3, "a\0c", 3));
}

TEST(sha256_hex)
{
    char out[65];

    sha256_hex("abc", 3, out);
    CHECK_EQ_STR(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    sha256_hex("", 0, out);
    CHECK_EQ_STR(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK_EQ_INT(strlen(out), 64);
}

TEST(random_bytes)
{
    unsigned char a[32] = {0}, b[32] = {0};

    CHECK_EQ_INT(random_bytes(a, sizeof(a)), 0);
    CHECK_EQ_INT(random_bytes(b, sizeof(b)), 0);
    CHECK(memcmp(a, b, sizeof(a)) != 0);
}

TEST(uuid_valid)
{
    CHECK(uuid_valid("123e4567-e89b-12d3-a456-426614174000"));
    CHECK(uuid_valid("123E4567-E89B-12D3-A456-426614174000"));
    CHECK(uuid_valid("00000000-0000-0000-0000-000000000000"));
    CHECK(!uuid_valid(NULL));
    CHECK(!uuid_valid(""));
    CHECK(!uuid_valid("123e4567-e89b-12d3-a456-42661417400"));   /* 35 */
    CHECK(!uuid_valid("123e4567-e89b-12d3-a456-4266141740000")); /* 37 */
    CHECK(!uuid_valid("123e4567e89b-12d3-a456-4266141740000"));  /* dash moved */
    CHECK(!uuid_valid("123e4567-e89b-12d3-a456_426614174000"));
    CHECK(!uuid_valid("g23e4567-e89b-12d3-a456-426614174000"));
    CHECK(!uuid_valid("123e4567-e89b-12d3-a456-42661417400 "));
    CHECK(!uuid_valid("{23e4567-e89b-12d3-a456-426614174000"));
    CHECK(!uuid_valid("123e4567-e89b-12d3-a456-426614174000\n"));
    CHECK(!uuid_valid("------------------------------------"));
}

TEST(media_type_is_json)
{
    CHECK(media_type_is_json("application/json"));
    CHECK(media_type_is_json("application/json; charset=utf-8"));
    CHECK(media_type_is_json("application/json;charset=UTF-8"));
    CHECK(media_type_is_json("APPLICATION/JSON"));
    CHECK(media_type_is_json("Application/Json"));
    CHECK(media_type_is_json(" application/json"));
    CHECK(media_type_is_json("application/vnd.foo+json"));
    CHECK(media_type_is_json("application/problem+json; charset=utf-8"));
    CHECK(!media_type_is_json("text/plain"));
    CHECK(!media_type_is_json("text/json"));
    CHECK(!media_type_is_json("application/jsonx"));
    CHECK(!media_type_is_json("application/json5"));
    CHECK(!media_type_is_json("application/x-www-form-urlencoded"));
    CHECK(!media_type_is_json("application/+json"));
    CHECK(!media_type_is_json("application/"));
    CHECK(!media_type_is_json(NULL));
    CHECK(!media_type_is_json(""));
}

TEST(lg_strlcpy)
{
    char buf[8];

    CHECK_EQ_INT(lg_strlcpy(buf, "short", sizeof(buf)), 0);
    CHECK_EQ_STR(buf, "short");
    CHECK_EQ_INT(lg_strlcpy(buf, "1234567", sizeof(buf)), 0); /* exactly fits */
    CHECK_EQ_STR(buf, "1234567");
    CHECK_EQ_INT(lg_strlcpy(buf, "12345678", sizeof(buf)), -1);
    CHECK_EQ_STR(buf, "1234567");
    CHECK_EQ_INT(lg_strlcpy(buf, "a much longer string", sizeof(buf)), -1);
    CHECK_EQ_STR(buf, "a much ");
    CHECK_EQ_INT(lg_strlcpy(buf, "", sizeof(buf)), 0);
    CHECK_EQ_STR(buf, "");
    CHECK_EQ_INT(lg_strlcpy(buf, "x", 1), -1);
    CHECK_EQ_STR(buf, "");
    buf[0] = 'q';
    CHECK_EQ_INT(lg_strlcpy(buf, "x", 0), -1);
    CHECK_EQ_INT(buf[0], 'q'); /* n == 0 writes nothing */
}

TEST(lg_snprintf)
{
    char buf[6];

    CHECK_EQ_INT(lg_snprintf(buf, sizeof(buf), "%d-%s", 12, "ab"), 5);
    CHECK_EQ_STR(buf, "12-ab");
    CHECK_EQ_INT(lg_snprintf(buf, sizeof(buf), "%s", "toolong"), -1);
    CHECK_EQ_STR(buf, "toolo");
}

TEST(lg_fail)
{
    struct lg_error err;
    char longcode[100];

    memset(&err, 0, sizeof(err));
    CHECK_EQ_INT(lg_fail(&err, 400, "missing_field", "%s is required", "message"), -1);
    CHECK_EQ_INT(err.status, 400);
    CHECK_EQ_STR(err.code, "missing_field");
    CHECK_EQ_STR(err.message, "message is required");

    /* NULL error struct: still -1, nothing written. */
    CHECK_EQ_INT(lg_fail(NULL, 500, "x", "y"), -1);

    /* Over-long code and message are truncated, never overflowed. */
    memset(longcode, 'c', sizeof(longcode) - 1);
    longcode[sizeof(longcode) - 1] = '\0';
    CHECK_EQ_INT(lg_fail(&err, 413, longcode, "%0400d", 7), -1);
    CHECK_EQ_INT(err.status, 413);
    CHECK_EQ_INT(strlen(err.code), sizeof(err.code) - 1);
    CHECK_EQ_INT(strlen(err.message), sizeof(err.message) - 1);
}

TEST(lg_fail_sanitises)
{
    struct lg_error err;
    char big[700];

    /* A quoted header with a bad byte, a control and a bidi override. */
    lg_fail(&err, 415, "unsupported_media_type", "got '%s'",
            "a\xff\x01"
            "b\xE2\x80\xAE"
            "c");
    CHECK_EQ_STR(err.message, "got 'a\\xff\\x01b\\u{202E}c'");
    CHECK(utf8_valid(err.message, strlen(err.message)));

    /* Long non-ASCII input is cut on a character boundary, never inside one. */
    for (size_t i = 0; i + 2 < sizeof(big); i += 2)
        memcpy(big + i, "\xC3\xA9", 2);
    big[sizeof(big) - 2] = '\0';
    lg_fail(&err, 400, "x", "%s", big);
    CHECK(utf8_valid(err.message, strlen(err.message)));
    CHECK_EQ_INT(strlen(err.message), sizeof(err.message) - 2);
    lg_fail(&err, 400, "x", "a%s", big);
    CHECK(utf8_valid(err.message, strlen(err.message)));
    CHECK_EQ_INT(strlen(err.message), sizeof(err.message) - 1);
}

TEST(utf8_cut)
{
    const char *s = "ab\xE2\x82\xAC\xF0\x9F\x9A\x80"; /* a b euro rocket: 9 bytes */

    CHECK_EQ_INT(utf8_cut(s, 9, 100), 9);
    CHECK_EQ_INT(utf8_cut(s, 9, 9), 9);
    CHECK_EQ_INT(utf8_cut(s, 9, 8), 5);
    CHECK_EQ_INT(utf8_cut(s, 9, 6), 5);
    CHECK_EQ_INT(utf8_cut(s, 9, 5), 5);
    CHECK_EQ_INT(utf8_cut(s, 9, 4), 2);
    CHECK_EQ_INT(utf8_cut(s, 9, 3), 2);
    CHECK_EQ_INT(utf8_cut(s, 9, 2), 2);
    CHECK_EQ_INT(utf8_cut(s, 9, 0), 0);
    /* Stray continuation bytes: never backs up more than a character's worth. */
    CHECK_EQ_INT(utf8_cut("a\x80\x80\x80\x80\x80\x80", 7, 6), 3);
}

TEST(utf8_has_unsafe)
{
    static const struct {
        const char *s;
        bool unsafe;
    } cases[] = {
        {"session-1", false},
        {"caf\xC3\xA9 \xF0\x9F\x9A\x80", false},
        {"\xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D", false}, /* Hebrew is fine; only the controls are not */
        {"tab\there", true},
        {"del\x7f", true},
        {"c1\xC2\x85", true},          /* U+0085 NEL */
        {"c1\xC2\x9B", true},          /* U+009B CSI */
        {"rlo\xE2\x80\xAE", true},     /* U+202E */
        {"lre\xE2\x80\xAA", true},     /* U+202A */
        {"lri\xE2\x81\xA6", true},     /* U+2066 */
        {"pdi\xE2\x81\xA9", true},     /* U+2069 */
        {"lrm\xE2\x80\x8E", true},     /* U+200E */
        {"rlm\xE2\x80\x8F", true},     /* U+200F */
        {"alm\xD8\x9C", true},         /* U+061C */
        {"zwsp\xE2\x80\x8B", true},    /* U+200B */
        {"bom\xEF\xBB\xBF", true},     /* U+FEFF */
        {"ls\xE2\x80\xA8", true},      /* U+2028 */
        {"shy\xC2\xAD", true},         /* U+00AD */
        {"tag\xF3\xA0\x80\x81", true}, /* U+E0001 */
        {"bad\xff", true},
        {"cut\xE2\x82", true},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        CHECKF(utf8_has_unsafe(cases[i].s, strlen(cases[i].s)) == cases[i].unsafe, "case %zu: %s",
               i, cases[i].s);
}

TEST(lg_sanitize)
{
    char out[16];

    CHECK_EQ_INT(lg_sanitize(out, sizeof(out), "plain"), 0);
    CHECK_EQ_STR(out, "plain");
    CHECK_EQ_INT(lg_sanitize(out, sizeof(out), "%ff\xff"), 0);
    CHECK_EQ_STR(out, "%ff\\xff");
    CHECK_EQ_INT(lg_sanitize(out, sizeof(out), "a\nb"), 0);
    CHECK_EQ_STR(out, "a\\x0ab");
    /* Cut on an escape boundary: "\x0a" does not fit after 12 bytes. */
    CHECK_EQ_INT(lg_sanitize(out, sizeof(out), "123456789012\n"), -1);
    CHECK_EQ_STR(out, "123456789012");
    /* Cut on a character boundary. */
    CHECK_EQ_INT(lg_sanitize(out, sizeof(out), "1234567890123\xE2\x82\xAC"), -1);
    CHECK_EQ_STR(out, "1234567890123");
    CHECK_EQ_INT(lg_sanitize(out, 1, "x"), -1);
    CHECK_EQ_STR(out, "");
}

TEST(json_depth_ok)
{
    static const struct {
        const char *text;
        int max;
        bool ok;
    } cases[] = {
        {"{}", 1, true},
        {"{}", 0, false},
        {"1", 0, true},
        {"[[1]]", 2, true},
        {"[[1]]", 1, false},
        {"{\"a\":{\"b\":[1,{\"c\":2}]}}", 4, true},
        {"{\"a\":{\"b\":[1,{\"c\":2}]}}", 3, false},
        /* Brackets inside strings do not count, escaped quotes included. */
        {"{\"a\":\"[[[[{{{{\"}", 1, true},
        {"{\"a\":\"\\\"[[[[\"}", 1, true},
        {"{\"a\":\"\\\\\",\"b\":[[1]]}", 2, false},
        /* Siblings do not add up. */
        {"[[],[],[],[]]", 2, true},
        /* Malformed text is left to the parser, but never read past its length. */
        {"]]]][[", 2, true},
        {"]]]][[[", 2, false},
    };
    struct sbuf b = {0};

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        CHECKF(json_depth_ok(cases[i].text, strlen(cases[i].text), cases[i].max) == cases[i].ok,
               "case %zu: %s", i, cases[i].text);

    /* The limit itself: 32 levels pass, 33 do not; 100,000 levels cost no stack. */
    for (int i = 0; i < 32; i++)
        sb_puts(&b, "[");
    CHECK(json_depth_ok(b.p, b.len, LG_JSON_DEPTH_MAX));
    sb_puts(&b, "[");
    CHECK(!json_depth_ok(b.p, b.len, LG_JSON_DEPTH_MAX));
    for (int i = 0; i < 100000; i++)
        sb_puts(&b, "{\"a\":");
    CHECK(!json_depth_ok(b.p, b.len, LG_JSON_DEPTH_MAX));
    CHECK(json_depth_ok(b.p, b.len, 200000));
    sb_free(&b);
}

TEST(alloc)
{
    char *s = xstrdup("copy");
    unsigned char *z = xcalloc(4, 4);
    void *m = xmalloc(0);
    int zero = 1;

    CHECK_EQ_STR(s, "copy");
    for (int i = 0; i < 16; i++)
        zero &= z[i] == 0;
    CHECK(zero);
    CHECK(m != NULL);
    free(s);
    free(z);
    free(m);
}

TEST(now_ms)
{
    int64_t a = now_ms(), b = now_ms();

    CHECK(a > 0);
    CHECK(b >= a);
}

TEST(deadlines)
{
    struct timespec t = {.tv_sec = 10, .tv_nsec = 999000000}, u, past = {0, 0}, far;

    u = timespec_add_ms(t, 1);
    CHECK(u.tv_sec == 11 && u.tv_nsec == 0);
    u = timespec_add_ms(t, 2500);
    CHECK(u.tv_sec == 13 && u.tv_nsec == 499000000);
    u = timespec_add_ms(t, 0);
    CHECK(u.tv_sec == 10 && u.tv_nsec == 999000000);
    u = timespec_add_ms((struct timespec){.tv_sec = 1, .tv_nsec = 0}, 86400000LL * 365);
    CHECK(u.tv_sec == 1 + 86400L * 365 && u.tv_nsec == 0);
    CHECK(deadline_passed(CLOCK_MONOTONIC, &past));
    far = deadline_in_ms(CLOCK_MONOTONIC, 60000);
    CHECK(!deadline_passed(CLOCK_MONOTONIC, &far));
    u = deadline_in_ms(CLOCK_REALTIME, 0);
    CHECK(deadline_passed(CLOCK_REALTIME, &u));
    CHECK(u.tv_nsec >= 0 && u.tv_nsec < 1000000000);
}

TEST(pg_ts_iso)
{
    char out[28] = "unchanged";

    CHECK_EQ_INT(pg_ts_iso("2026-11-25 10:00:00.123456+00", out), 0);
    CHECK_EQ_STR(out, "2026-11-25T10:00:00.123456Z");
    CHECK_EQ_INT(pg_ts_iso("2026-11-25 10:00:00.5+00", out), 0);
    CHECK_EQ_STR(out, "2026-11-25T10:00:00.500000Z");
    CHECK_EQ_INT(pg_ts_iso("2026-01-02 03:04:05+00", out), 0);
    CHECK_EQ_STR(out, "2026-01-02T03:04:05.000000Z");
    snprintf(out, sizeof(out), "unchanged");
    CHECK_EQ_INT(pg_ts_iso("2026-11-25 10:00:00.123456+01", out), -1);
    CHECK_EQ_INT(pg_ts_iso("2026-11-25 10:00:00.1234567+00", out), -1);
    CHECK_EQ_INT(pg_ts_iso("2026-11-25 10:00:00.+00", out), -1);
    CHECK_EQ_INT(pg_ts_iso("2026-11-25T10:00:00+00", out), -1);
    CHECK_EQ_INT(pg_ts_iso("11/25/2026 10:00:00 UTC", out), -1);
    CHECK_EQ_INT(pg_ts_iso("infinity", out), -1);
    CHECK_EQ_INT(pg_ts_iso("", out), -1);
    CHECK_EQ_STR(out, "unchanged");
}

TEST(utf8_prefix)
{
    /* U+1F680 (4 bytes), U+4E2D (3 bytes), U+00E9 (2 bytes), ASCII */
    const char *s = "\xF0\x9F\x9A\x80\xE4\xB8\xAD\xC3\xA9x";
    char out[8];

    CHECK_EQ_INT((int)utf8_prefix(s, 100), 10);
    CHECK_EQ_INT((int)utf8_prefix(s, 10), 10);
    CHECK_EQ_INT((int)utf8_prefix(s, 9), 9);
    CHECK_EQ_INT((int)utf8_prefix(s, 8), 7);
    CHECK_EQ_INT((int)utf8_prefix(s, 7), 7);
    CHECK_EQ_INT((int)utf8_prefix(s, 6), 4);
    CHECK_EQ_INT((int)utf8_prefix(s, 4), 4);
    CHECK_EQ_INT((int)utf8_prefix(s, 3), 0);
    CHECK_EQ_INT((int)utf8_prefix(s, 0), 0);
    CHECK_EQ_INT((int)utf8_prefix("", 0), 0);
    for (size_t max = 0; max <= 10; max++) {
        size_t n = utf8_prefix(s, max);
        CHECK(n <= max && utf8_valid(s, n));
    }
    CHECK_EQ_INT(utf8_strlcpy(out, s, sizeof(out)), -1);
    CHECK_EQ_STR(out, "\xF0\x9F\x9A\x80\xE4\xB8\xAD");
    CHECK_EQ_INT(utf8_strlcpy(out, "abc", sizeof(out)), 0);
    CHECK_EQ_STR(out, "abc");
    CHECK_EQ_INT(utf8_strlcpy(out, "\xF0\x9F\x9A\x80\xF0\x9F\x9A\x80", 5), -1);
    CHECK_EQ_STR(out, "\xF0\x9F\x9A\x80");
}

TEST(tg_token_bot_id)
{
    CHECK(tg_token_bot_id("7123456789:AAE-xyz") == 7123456789LL);
    CHECK(tg_token_bot_id("123456:TEST-token") == 123456);
    CHECK(tg_token_bot_id("1:x") == 1);
    CHECK(tg_token_bot_id(":AAE") == 0);
    CHECK(tg_token_bot_id("abc:AAE") == 0);
    CHECK(tg_token_bot_id("12a:AAE") == 0);
    CHECK(tg_token_bot_id("123456") == 0);
    CHECK(tg_token_bot_id("") == 0);
    CHECK(tg_token_bot_id(NULL) == 0);
    CHECK(tg_token_bot_id("1234567890123456789:x") == 0);
    CHECK(tg_token_bot_id("999999999999999999:x") == 999999999999999999LL);
}

TEST(base64url)
{
    char out[64], tok[44], sha[65], again[65];

    base64url_encode((const unsigned char *)"", 0, out);
    CHECK_EQ_STR(out, "");
    base64url_encode((const unsigned char *)"f", 1, out);
    CHECK_EQ_STR(out, "Zg");
    base64url_encode((const unsigned char *)"fo", 2, out);
    CHECK_EQ_STR(out, "Zm8");
    base64url_encode((const unsigned char *)"foo", 3, out);
    CHECK_EQ_STR(out, "Zm9v");
    base64url_encode((const unsigned char *)"\xfb\xff\xbf", 3, out);
    CHECK_EQ_STR(out, "-_-_");
    CHECK(token_new(tok, sha) == 0);
    CHECK_EQ_INT((int)strlen(tok), 43);
    sha256_hex(tok, strlen(tok), again);
    CHECK_EQ_STR(sha, again);
}

int main(int argc, char **argv)
{
    t_begin(argc, argv);
    RUN(utf8_valid);
    RUN(utf8_length);
    RUN(parse_int64);
    RUN(hex_encode);
    RUN(ct_equal);
    RUN(sha256_hex);
    RUN(random_bytes);
    RUN(uuid_valid);
    RUN(media_type_is_json);
    RUN(lg_strlcpy);
    RUN(lg_snprintf);
    RUN(lg_fail);
    RUN(lg_fail_sanitises);
    RUN(utf8_cut);
    RUN(utf8_has_unsafe);
    RUN(lg_sanitize);
    RUN(json_depth_ok);
    RUN(alloc);
    RUN(now_ms);
    RUN(deadlines);
    RUN(pg_ts_iso);
    RUN(utf8_prefix);
    RUN(tg_token_bot_id);
    RUN(base64url);
    return t_end();
}
