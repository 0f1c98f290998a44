/*
 * util.c - see util.h. Pure helpers: errors, strings, UTF-8, hashing.
 */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

/*
 * The message may quote input (a header, a path, a field): it is formatted
 * in full, then sanitised into the fixed buffer, so whatever was quoted the
 * message is valid UTF-8 without controls, cut on a character boundary.
 */
int lg_fail(struct lg_error *err, int status, const char *code, const char *fmt, ...)
{
    char raw[1024];
    va_list ap;

    if (!err)
        return -1;
    err->status = status;
    lg_strlcpy(err->code, code, sizeof(err->code));
    va_start(ap, fmt);
    vsnprintf(raw, sizeof(raw), fmt, ap);
    va_end(ap);
    (void)lg_sanitize(err->message, sizeof(err->message), raw);
    return -1;
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (!p)
        abort();
    return p;
}

void *xcalloc(size_t n, size_t m)
{
    void *p = calloc(n ? n : 1, m ? m : 1);

    if (!p)
        abort();
    return p;
}

char *xstrdup(const char *s)
{
    char *p = strdup(s);

    if (!p)
        abort();
    return p;
}

int lg_snprintf(char *dst, size_t n, const char *fmt, ...)
{
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = vsnprintf(dst, n, fmt, ap);
    va_end(ap);
    return (r < 0 || (size_t)r >= n) ? -1 : r;
}

int lg_strlcpy(char *dst, const char *src, size_t n)
{
    size_t len = strlen(src);

    if (n == 0)
        return -1;
    if (len >= n) {
        memcpy(dst, src, n - 1);
        dst[n - 1] = '\0';
        return -1;
    }
    memcpy(dst, src, len + 1);
    return 0;
}

bool utf8_valid(const char *buf, size_t len)
{
    const unsigned char *s = (const unsigned char *)buf;
    size_t i = 0;

    while (i < len) {
        unsigned char c = s[i];
        size_t need;
        uint32_t cp;

        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + need >= len)
            return false;
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += need + 1;
    }
    return true;
}

size_t utf8_char(const unsigned char *s, size_t len, size_t i, uint32_t *cp)
{
    unsigned char c = s[i];
    size_t need;
    uint32_t v;

    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
        v = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        v = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        v = c & 0x07;
    } else {
        return 0;
    }
    if (i + need >= len)
        return 0;
    for (size_t k = 1; k <= need; k++) {
        if ((s[i + k] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i + k] & 0x3F);
    }
    if ((need == 2 && v < 0x800) || (need == 3 && (v < 0x10000 || v > 0x10FFFF)) ||
        (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return need + 1;
}

/* Controls, bidi formatting and invisible characters: see utf8_has_unsafe. */
static bool cp_unsafe(uint32_t c)
{
    return c < 0x20 || (c >= 0x7F && c <= 0x9F) || c == 0xAD || c == 0x61C || c == 0x115F ||
           c == 0x1160 || c == 0x180E || (c >= 0x200B && c <= 0x200F) ||
           (c >= 0x2028 && c <= 0x202E) || (c >= 0x2060 && c <= 0x2064) ||
           (c >= 0x2066 && c <= 0x206F) || c == 0x3164 || c == 0xFEFF || c == 0xFFA0 ||
           (c >= 0xFFF9 && c <= 0xFFFB) || (c >= 0xE0000 && c <= 0xE007F);
}

size_t utf8_cut(const char *s, size_t len, size_t max)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n;

    if (len <= max)
        return len;
    n = max;
    /* Back up over continuation bytes to the start of the character at `max`. */
    while (n > 0 && (u[n] & 0xC0) == 0x80 && max - n < 3)
        n--;
    return n;
}

bool utf8_has_unsafe(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, k;
    uint32_t cp;

    while (i < len) {
        k = utf8_char(u, len, i, &cp);
        if (k == 0 || cp_unsafe(cp))
            return true;
        i += k;
    }
    return false;
}

int lg_sanitize(char *dst, size_t n, const char *src)
{
    const unsigned char *u = (const unsigned char *)src;
    size_t len = strlen(src), i = 0, o = 0, k;
    char esc[16];
    uint32_t cp;

    if (n == 0)
        return -1;
    while (i < len) {
        const char *piece = src + i;
        size_t plen;

        k = utf8_char(u, len, i, &cp);
        if (k == 0 || cp < 0x20 || cp == 0x7F) {
            snprintf(esc, sizeof(esc), "\\x%02x", u[i]);
            piece = esc;
            plen = strlen(esc);
            k = 1;
        } else if (cp_unsafe(cp)) {
            snprintf(esc, sizeof(esc), "\\u{%04X}", (unsigned)cp);
            piece = esc;
            plen = strlen(esc);
        } else {
            plen = k;
        }
        if (o + plen >= n) {
            dst[o] = '\0';
            return -1;
        }
        memcpy(dst + o, piece, plen);
        o += plen;
        i += k;
    }
    dst[o] = '\0';
    return 0;
}

bool json_depth_ok(const char *buf, size_t len, int max)
{
    bool in_string = false, escaped = false;
    int depth = 0;

    for (size_t i = 0; i < len; i++) {
        char c = buf[i];
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max)
                return false;
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    return true;
}

size_t utf8_length(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

int parse_int64(const char *s, int64_t *out)
{
    char *end;
    long long v;

    /* strtoll alone would also take leading space and a '+'. */
    if (!s || !*s || isspace((unsigned char)*s) || *s == '+')
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || *end != '\0')
        return -1;
    *out = (int64_t)v;
    return 0;
}

void hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

bool ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    const unsigned char *x = a, *y = b;
    unsigned char diff = 0;

    if (alen != blen)
        return false;
    for (size_t i = 0; i < alen; i++)
        diff |= x[i] ^ y[i];
    return diff == 0;
}

void sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
        abort();
    hex_encode(md, 32, out);
}

int random_bytes(void *buf, size_t n)
{
    return RAND_bytes(buf, (int)n) == 1 ? 0 : -1;
}

void base64url_encode(const unsigned char *in, size_t n, char *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;

    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        size_t left = n - i;

        if (left > 1)
            v |= (uint32_t)in[i + 1] << 8;
        if (left > 2)
            v |= in[i + 2];
        out[o++] = a[(v >> 18) & 63];
        out[o++] = a[(v >> 12) & 63];
        if (left > 1)
            out[o++] = a[(v >> 6) & 63];
        if (left > 2)
            out[o++] = a[v & 63];
    }
    out[o] = '\0';
}

int token_new(char out[44], char sha[65])
{
    unsigned char raw[32];

    if (random_bytes(raw, sizeof(raw)) < 0)
        return -1;
    base64url_encode(raw, sizeof(raw), out);
    sha256_hex(out, strlen(out), sha);
    return 0;
}

bool uuid_valid(const char *s)
{
    static const int dash[] = {8, 13, 18, 23};

    if (!s || strlen(s) != 36)
        return false;
    for (int i = 0, d = 0; i < 36; i++) {
        if (d < 4 && i == dash[d]) {
            if (s[i] != '-')
                return false;
            d++;
        } else if (!isxdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}

int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct timespec timespec_add_ms(struct timespec t, int64_t ms)
{
    int64_t ns = (int64_t)t.tv_nsec + (ms % 1000) * 1000000;

    t.tv_sec += (time_t)(ms / 1000 + ns / 1000000000);
    t.tv_nsec = (long)(ns % 1000000000);
    return t;
}

struct timespec deadline_in_ms(clockid_t clock, int64_t ms)
{
    struct timespec now;

    clock_gettime(clock, &now);
    return timespec_add_ms(now, ms);
}

bool deadline_passed(clockid_t clock, const struct timespec *deadline)
{
    struct timespec now;

    clock_gettime(clock, &now);
    return now.tv_sec > deadline->tv_sec ||
           (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

bool media_type_is_json(const char *ct)
{
    size_t n;

    if (!ct)
        return false;
    while (*ct == ' ')
        ct++;
    n = strcspn(ct, "; ");
    if (n == 16 && strncasecmp(ct, "application/json", 16) == 0)
        return true;
    /* application/<something>+json */
    if (n > 17 && strncasecmp(ct, "application/", 12) == 0 &&
        strncasecmp(ct + n - 5, "+json", 5) == 0)
        return true;
    return false;
}

void sb_append(struct sbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        char *p;
        while (cap < b->len + n + 1)
            cap *= 2;
        p = realloc(b->p, cap);
        if (!p)
            abort();
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void sb_puts(struct sbuf *b, const char *s)
{
    sb_append(b, s, strlen(s));
}

void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(small)) {
        sb_append(b, small, (size_t)n);
        return;
    }
    char *big = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb_append(b, big, (size_t)n);
    free(big);
}

void sb_free(struct sbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

int pg_ts_iso(const char *in, char out[28])
{
    static const char shape[] = "dddd-dd-dd dd:dd:dd";
    size_t i, frac = 0;

    for (i = 0; shape[i]; i++)
        if (shape[i] == 'd' ? in[i] < '0' || in[i] > '9' : in[i] != shape[i])
            return -1;
    if (in[i] == '.')
        for (i++; frac < 6 && in[i] >= '0' && in[i] <= '9'; i++)
            frac++;
    if (strcmp(in + i, "+00") != 0 || (in[19] == '.' && frac == 0))
        return -1;
    memcpy(out, in, 19);
    out[10] = 'T';
    out[19] = '.';
    memcpy(out + 20, frac ? in + 20 : "", frac);
    memset(out + 20 + frac, '0', 6 - frac);
    out[26] = 'Z';
    out[27] = '\0';
    return 0;
}

size_t utf8_prefix(const char *s, size_t max)
{
    return utf8_cut(s, strnlen(s, max + 1), max);
}

int utf8_strlcpy(char *dst, const char *src, size_t n)
{
    size_t len;

    if (n == 0)
        return -1;
    len = utf8_prefix(src, n - 1);
    memcpy(dst, src, len);
    dst[len] = '\0';
    return src[len] ? -1 : 0;
}

int64_t tg_token_bot_id(const char *token)
{
    int64_t id = 0;
    size_t n = 0;

    if (!token)
        return 0;
    for (; token[n] >= '0' && token[n] <= '9'; n++) {
        if (n >= 18)
            return 0; /* more digits than any bot id has */
        id = id * 10 + (token[n] - '0');
    }
    return n > 0 && token[n] == ':' ? id : 0;
}
