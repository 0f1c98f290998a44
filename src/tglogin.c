/*
 * tglogin.c - see tglogin.h.
 *
 * One pass splits the query into at most TGLOGIN_FIELDS_MAX key=value
 * fields, decodes each (percent escapes, '+' as a space) into a bounded
 * buffer and refuses unknown or repeated keys, bad UTF-8 and NUL bytes.
 * Then the signed fields (all but hash and r) are sorted by key into the
 * data-check-string, its HMAC-SHA-256 under SHA-256(bot token) is compared
 * in constant time with the received hash, and only then is auth_date
 * judged, so "expired" is said of authentic data only.
 */
#include "tglogin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#define KEY_MAX 16

/* The keys Telegram documents for its authorization data, and ours. */
static const char *const known[] = {"auth_date", "first_name", "hash", "id",
                                    "last_name", "photo_url",  "r",    "username"};

struct field {
    char key[KEY_MAX + 1];
    char val[TGLOGIN_VALUE_MAX + 1];
};

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decode s[0..n) (form encoding) into out[cap]; -1 when malformed, too long or holding NUL. */
static int decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            int hi = i + 2 < n ? hexval(s[i + 1]) : -1, lo = i + 2 < n ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return -1;
            c = hi << 4 | lo;
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (c == 0 || o + 1 >= cap)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return utf8_valid(out, o) ? 0 : -1;
}

static bool known_key(const char *k)
{
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (!strcmp(known[i], k))
            return true;
    return false;
}

static int by_key(const void *a, const void *b)
{
    return strcmp(((const struct field *)a)->key, ((const struct field *)b)->key);
}

/* A whole positive decimal int64 without sign or leading zeros. */
static bool positive_int(const char *s, int64_t *out)
{
    if (!*s || *s == '0' || strspn(s, "0123456789") != strlen(s))
        return false;
    return parse_int64(s, out) == 0 && *out > 0;
}

/* Split and decode `query` into f[], sorted by key; the count, or -1 with err. */
static int split(const char *query, struct field *f, struct lg_error *err)
{
    const char *p = query;
    int n = 0;

    if (strlen(query) > TGLOGIN_QUERY_MAX)
        return lg_fail(err, 400, "invalid", "the query is longer than %d bytes", TGLOGIN_QUERY_MAX);
    while (*p) {
        const char *end = strchr(p, '&'), *eq;
        size_t len;

        if (!end)
            end = p + strlen(p);
        len = (size_t)(end - p);
        if (len > 0) {
            eq = memchr(p, '=', len);
            if (!eq)
                return lg_fail(err, 400, "invalid", "a field of the query has no '='");
            if (n >= TGLOGIN_FIELDS_MAX)
                return lg_fail(err, 400, "invalid", "the query has more than %d fields",
                               TGLOGIN_FIELDS_MAX);
            if (decode(p, (size_t)(eq - p), f[n].key, sizeof(f[n].key)) < 0 || !known_key(f[n].key))
                return lg_fail(err, 400, "invalid",
                               "the query has a field that is not part of "
                               "a Telegram login");
            if (decode(eq + 1, (size_t)(end - eq - 1), f[n].val, sizeof(f[n].val)) < 0)
                return lg_fail(err, 400, "invalid", "field %s is malformed or longer than %d bytes",
                               f[n].key, TGLOGIN_VALUE_MAX);
            for (int i = 0; i < n; i++)
                if (!strcmp(f[i].key, f[n].key))
                    return lg_fail(err, 400, "invalid", "field %s is given twice", f[n].key);
            n++;
        }
        p = *end ? end + 1 : end;
    }
    qsort(f, (size_t)n, sizeof(*f), by_key);
    return n;
}

/* hex(HMAC-SHA-256(msg, SHA-256(token))) into out[65]; -1 when OpenSSL fails. */
static int sign(const char *token, const char *msg, size_t len, char out[65])
{
    unsigned char key[SHA256_DIGEST_LENGTH], mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    int rc = -1;

    if (!EVP_Digest(token, strlen(token), key, NULL, EVP_sha256(), NULL))
        goto out;
    if (!HMAC(EVP_sha256(), key, sizeof(key), (const unsigned char *)msg, len, mac, &maclen) ||
        maclen != SHA256_DIGEST_LENGTH)
        goto out;
    hex_encode(mac, maclen, out);
    rc = 0;
out:
    OPENSSL_cleanse(key, sizeof(key));
    return rc;
}

int tglogin_check(const char *query, const char *bot_token, int64_t now, struct tglogin *out,
                  struct lg_error *err)
{
    struct field *f = xcalloc(TGLOGIN_FIELDS_MAX, sizeof(*f));
    struct sbuf dcs = {0};
    const char *hash = NULL;
    char want[65];
    int n, rc = -1;

    memset(out, 0, sizeof(*out));
    if (!bot_token || !*bot_token) {
        lg_fail(err, 401, "invalid", "no bot token is configured to check a Telegram login");
        goto out;
    }
    n = split(query ? query : "", f, err);
    if (n < 0)
        goto out;
    sb_puts(&dcs, "");
    for (int i = 0; i < n; i++) {
        const char *k = f[i].key, *v = f[i].val;

        if (!strcmp(k, "hash")) {
            hash = v;
            continue;
        }
        if (!strcmp(k, "r")) {
            /* Not signed by Telegram: a request id to open, nothing more. */
            if (!uuid_valid(v)) {
                lg_fail(err, 400, "invalid", "r is not a request id");
                goto out;
            }
            lg_strlcpy(out->request_id, v, sizeof(out->request_id));
            continue;
        }
        sb_printf(&dcs, "%s%s=%s", dcs.len ? "\n" : "", k, v);
        if (!strcmp(k, "id") && !positive_int(v, &out->id)) {
            lg_fail(err, 400, "invalid", "id is not a Telegram user id");
            goto out;
        }
        if (!strcmp(k, "auth_date") && !positive_int(v, &out->auth_date)) {
            lg_fail(err, 400, "invalid", "auth_date is not a Unix time");
            goto out;
        }
        if (!strcmp(k, "first_name"))
            lg_strlcpy(out->first_name, v, sizeof(out->first_name));
        else if (!strcmp(k, "last_name"))
            lg_strlcpy(out->last_name, v, sizeof(out->last_name));
        else if (!strcmp(k, "username"))
            lg_strlcpy(out->username, v, sizeof(out->username));
    }
    if (!hash || !out->id || !out->auth_date) {
        lg_fail(err, 400, "invalid", "a Telegram login needs id, auth_date and hash");
        goto out;
    }
    if (strlen(hash) != 64 || strspn(hash, "0123456789abcdef") != 64) {
        lg_fail(err, 400, "invalid", "hash is not 64 lower-case hex digits");
        goto out;
    }
    if (sign(bot_token, dcs.p, dcs.len, want) < 0 || !ct_equal(want, 64, hash, 64)) {
        lg_fail(err, 401, "invalid", "the login data is not signed by this bot");
        goto out;
    }
    if (out->auth_date > now + TGLOGIN_MAX_SKEW) {
        lg_fail(err, 401, "invalid", "auth_date is in the future");
        goto out;
    }
    if (now - out->auth_date > TGLOGIN_MAX_AGE) {
        lg_fail(err, 401, "expired", "the login data is older than %d seconds", TGLOGIN_MAX_AGE);
        goto out;
    }
    lg_strlcpy(out->hash, hash, sizeof(out->hash));
    rc = 0;
out:
    if (rc < 0)
        memset(out, 0, sizeof(*out));
    OPENSSL_cleanse(want, sizeof(want));
    sb_free(&dcs);
    free(f);
    return rc;
}

void tglogin_name(const struct tglogin *l, char *out, size_t n)
{
    struct sbuf b = {0};

    sb_puts(&b, l->first_name);
    if (*l->last_name)
        sb_printf(&b, "%s%s", b.len ? " " : "", l->last_name);
    if (*l->username)
        sb_printf(&b, "%s@%s", b.len ? " " : "", l->username);
    if (!b.len)
        sb_printf(&b, "user %lld", (long long)l->id);
    (void)utf8_strlcpy(out, b.p, n); /* a long name is cut on a character boundary */
    sb_free(&b);
}
