/*
 * test_log.c - unit tests for log.c: every value a caller passes is escaped
 * so that it cannot start a field, a line or a quote of its own, in logfmt
 * and in json; long values and lines are cut where the line stays whole.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>

#include "log.h"
#include "t.h"
#include "util.h"

static char line[LOG_LINE_MAX];

static const char *render(int format, const char *msg, const char *kvfmt, ...)
    __attribute__((format(printf, 3, 4)));

static const char *render(int format, const char *msg, const char *kvfmt, ...)
{
    va_list ap;

    va_start(ap, kvfmt);
    (void)log_render(line, sizeof(line), format, "2026-01-01T00:00:00.000Z", 42, LOG_INFO, msg,
                     kvfmt, ap);
    va_end(ap);
    return line;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;

    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* How many fields named `key` a logfmt line has, reading quoted values as a parser does. */
static int keys_named(const char *l, const char *key)
{
    const char *p = strchr(l, ' ');
    size_t klen = strlen(key);
    int n = 0;

    while (p && *p == ' ') {
        const char *k = ++p;

        while (*p && *p != '=' && *p != ' ')
            p++;
        if (*p != '=')
            break;
        if ((size_t)(p - k) == klen && !memcmp(k, key, klen))
            n++;
        p++;
        if (*p == '"') {
            for (p++; *p && *p != '"'; p++)
                if (*p == '\\' && p[1])
                    p++;
            if (*p == '"')
                p++;
        } else {
            while (*p && *p != ' ' && *p != '\n')
                p++;
        }
    }
    return n;
}

TEST(plain_fields)
{
    CHECK_EQ_STR(
        render(LOG_FORMAT_LOGFMT, "request", "method=%s status=%d ms=%.3f", "GET", 200, 1.5),
        "2026-01-01T00:00:00.000Z level=info pid=42 msg=\"request\" method=GET status=200 "
        "ms=1.500\n");
    CHECK_EQ_STR(render(LOG_FORMAT_JSON, "request", "method=%s status=%d ms=%.3f id=%lld", "GET",
                        200, 1.5, -7LL),
                 "{\"ts\":\"2026-01-01T00:00:00.000Z\",\"level\":\"info\",\"pid\":42,\"msg\":"
                 "\"request\",\"method\":\"GET\",\"status\":200,\"ms\":1.500,\"id\":-7}\n");
}

TEST(forged_field)
{
    const char *forged = "/x\" level=error msg=\"forged";

    render(LOG_FORMAT_LOGFMT, "request", "path=%s status=%d", forged, 404);
    CHECK_EQ_INT(keys_named(line, "level"), 1);
    CHECK_EQ_INT(keys_named(line, "msg"), 1);
    CHECK_EQ_INT(keys_named(line, "status"), 1);
    CHECK_CONTAINS(line, " path=\"/x\\\" level=error msg=\\\"forged\" status=404\n");
    /* a quoted value in the tail is escaped the same way */
    render(LOG_FORMAT_LOGFMT, "failed", "error=\"%s\"", forged);
    CHECK_CONTAINS(line, " error=\"/x\\\" level=error msg=\\\"forged\"\n");
    render(LOG_FORMAT_JSON, "request", "path=%s", forged);
    CHECK_CONTAINS(line, "\"path\":\"/x\\\" level=error msg=\\\"forged\"}");
    CHECK_EQ_INT(count(line, "\"level\":"), 1);
}

TEST(equals_and_spaces_are_quoted)
{
    render(LOG_FORMAT_LOGFMT, "m", "who=%s", "a b=c");
    CHECK_CONTAINS(line, " who=\"a b=c\"\n");
    render(LOG_FORMAT_LOGFMT, "m", "who=%s", "");
    CHECK_CONTAINS(line, " who=\"\"\n");
    render(LOG_FORMAT_LOGFMT, "m", "who=%s", "back\\slash");
    CHECK_CONTAINS(line, " who=\"back\\\\slash\"\n");
}

TEST(newlines_and_controls)
{
    render(LOG_FORMAT_LOGFMT, "m", "v=%s", "a\nb\r\tc\x01\x1b[31md\x7f");
    CHECK_EQ_INT(count(line, "\n"), 1);
    CHECK_CONTAINS(line, " v=\"a\\nb\\r\\tc\\x01\\x1b[31md\\x7f\"\n");
    render(LOG_FORMAT_JSON, "m", "v=%s", "a\nb\x01\x7f");
    CHECK_EQ_INT(count(line, "\n"), 1);
    CHECK_CONTAINS(line, "\"v\":\"a\\nb\\u0001\\u007f\"}");
}

TEST(broken_utf8_and_bidi)
{
    /* U+202E RIGHT-TO-LEFT OVERRIDE, U+0085 NEXT LINE, U+2028, a lone 0xff */
    render(LOG_FORMAT_LOGFMT, "m", "v=%s",
           "a\xE2\x80\xAE"
           "b\xC2\x85"
           "c\xE2\x80\xA8"
           "d\xff"
           "\xC3\xA9");
    CHECK_CONTAINS(line, " v=\"a\\u{202E}b\\u{0085}c\\u{2028}d\\xff\xC3\xA9\"\n");
    render(LOG_FORMAT_JSON, "m", "v=%s",
           "a\xE2\x80\xAE"
           "b\xC2\x85"
           "d\xff"
           "\xC3\xA9"
           "\xF3\xA0\x80\x81");
    CHECK_CONTAINS(line, "\"v\":\"a\\u202eb\\u0085d\\ufffd\xC3\xA9\\udb40\\udc01\"}");
    CHECK(utf8_valid(line, strlen(line)));
}

TEST(message_escaped)
{
    render(LOG_FORMAT_LOGFMT, "say \"hi\"\n", "%s", "");
    CHECK_EQ_STR(line, "2026-01-01T00:00:00.000Z level=info pid=42 msg=\"say \\\"hi\\\"\\n\"\n");
}

TEST(reserved_keys_renamed)
{
    render(LOG_FORMAT_LOGFMT, "m", "level=%s msg=%s", "error", "x");
    CHECK_CONTAINS(line, " x_level=error x_msg=x\n");
    CHECK_EQ_INT(keys_named(line, "level"), 1);
}

TEST(long_value_cut_on_character)
{
    char big[2000];

    for (int i = 0; i < 999; i++)
        memcpy(big + 2 * i, "\xC3\xA9", 2);
    big[1998] = '\0';
    render(LOG_FORMAT_LOGFMT, "m", "v=%s n=%d", big, 1);
    CHECK(utf8_valid(line, strlen(line)));
    CHECK_CONTAINS(line, "...\" n=1\n");
    CHECKF(strlen(line) < 600, "line of %zu bytes", strlen(line));
    render(LOG_FORMAT_JSON, "m", "v=%s n=%d", big, 1);
    CHECK(utf8_valid(line, strlen(line)));
    CHECK_CONTAINS(line, "...\",\"n\":1}\n");
}

TEST(long_line_cut_on_field)
{
    char big[600];

    memset(big, '\x01', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    render(LOG_FORMAT_LOGFMT, "m", "a=%s b=%s c=%s d=%s", big, big, big, big);
    CHECKF(strlen(line) < LOG_LINE_MAX, "line of %zu bytes", strlen(line));
    CHECK_CONTAINS(line, " truncated=true\n");
    CHECK_EQ_INT(count(line, "\n"), 1);
    render(LOG_FORMAT_JSON, "m", "a=%s b=%s c=%s d=%s", big, big, big, big);
    CHECK_CONTAINS(line, ",\"truncated\":true}\n");
}

TEST(every_cut_ends_the_line)
{
    char a[LOG_VALUE_MAX + 1], b[LOG_VALUE_MAX + 1], c[301];
    int bad = 0;

    memset(b, '\x01', LOG_VALUE_MAX);
    b[LOG_VALUE_MAX] = '\0';
    memset(c, 'x', 300);
    c[300] = '\0';
    /* wherever the cut falls, the line ends whole */
    for (size_t k = 0; k <= LOG_VALUE_MAX; k++) {
        memset(a, '\x01', k);
        a[k] = '\0';
        for (int f = 0; f < 2; f++) {
            size_t n;

            render(f, "m", "a=%s b=%s c=%s n=%d", a, b, c, 5);
            n = strlen(line);
            if (n < 2 || n >= LOG_LINE_MAX || line[n - 1] != '\n' ||
                (f == LOG_FORMAT_JSON && line[n - 2] != '}') || strchr(line, '\n') != line + n - 1)
                bad++;
        }
    }
    CHECK_EQ_INT(bad, 0);
}

TEST(numbers_only_when_alone)
{
    render(LOG_FORMAT_JSON, "m", "a=%d/%d b=\"%d\" c=%+d d=%f e=%zu", 1, 2, 3, 4, 0.0 / 0.0,
           (size_t)5);
    CHECK_CONTAINS(line, "\"a\":\"1/2\",\"b\":\"3\",\"c\":\"+4\",\"d\":\"");
    CHECK_CONTAINS(line, ",\"e\":5}");
}

TEST(widths_and_precisions)
{
    render(LOG_FORMAT_LOGFMT, "m", "a=%.*s b=%*d c=%5s d=%-3d| e=%.2f f=%05.1f", 3, "abcdef", 4, 7,
           "xy", 1, 2.0, 3.14159);
    CHECK_CONTAINS(line, " a=abc b=\"   7\" c=\"   xy\" d=\"1  |\" e=2.00 f=003.1\n");
    render(LOG_FORMAT_JSON, "m", "a=%.*s n=%ld u=%lu", 2, "abc", -5L, 6UL);
    CHECK_CONTAINS(line, "\"a\":\"ab\",\"n\":-5,\"u\":6}");
}

TEST(detail_and_empty_tail)
{
    render(LOG_FORMAT_LOGFMT, "m", "%s", "");
    CHECK_EQ_STR(line, "2026-01-01T00:00:00.000Z level=info pid=42 msg=\"m\"\n");
    render(LOG_FORMAT_LOGFMT, "m", "%s", "free text");
    CHECK_CONTAINS(line, " detail=\"free text\"\n");
    render(LOG_FORMAT_LOGFMT, "m", "literal=yes pct=100%%");
    CHECK_CONTAINS(line, " literal=yes pct=100%\n");
}

TEST(escape_bounded)
{
    char out[8];

    CHECK_EQ_INT((int)log_escape(out, sizeof(out), LOG_FORMAT_LOGFMT, "ab\ncd", 5), 6);
    CHECK_EQ_STR(out, "ab\\ncd");
    /* a two-byte character never half-copied */
    CHECK_EQ_INT((int)log_escape(out, 4, LOG_FORMAT_LOGFMT, "a\xC3\xA9", 3), 3);
    CHECK_EQ_INT((int)log_escape(out, 3, LOG_FORMAT_LOGFMT, "a\xC3\xA9", 3), 1);
    /* an escape never half-copied */
    CHECK_EQ_INT((int)log_escape(out, 3, LOG_FORMAT_LOGFMT, "a\n", 2), 1);
}

TEST(format_parse)
{
    CHECK_EQ_INT(log_format_parse("logfmt"), LOG_FORMAT_LOGFMT);
    CHECK_EQ_INT(log_format_parse("JSON"), LOG_FORMAT_JSON);
    CHECK_EQ_INT(log_format_parse("text"), -1);
}

int main(int argc, char **argv)
{
    t_begin(argc, argv);
    RUN(plain_fields);
    RUN(forged_field);
    RUN(equals_and_spaces_are_quoted);
    RUN(newlines_and_controls);
    RUN(broken_utf8_and_bidi);
    RUN(message_escaped);
    RUN(reserved_keys_renamed);
    RUN(long_value_cut_on_character);
    RUN(long_line_cut_on_field);
    RUN(every_cut_ends_the_line);
    RUN(numbers_only_when_alone);
    RUN(widths_and_precisions);
    RUN(detail_and_empty_tail);
    RUN(escape_bounded);
    RUN(format_parse);
    return t_end();
}
