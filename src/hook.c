/*
 * hook.c - see hook.h.
 */
#include "hook.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/crypto.h>
#include <openssl/hmac.h>

#include "util.h"

int hook_client_init(struct hook_client *c)
{
    c->curl = curl_easy_init();
    return c->curl ? 0 : -1;
}

void hook_client_free(struct hook_client *c)
{
    if (c->curl)
        curl_easy_cleanup(c->curl);
    c->curl = NULL;
}

#define WHSEC "whsec_"
#define WHSEC_LEN 6
#define NEW_KEY_BYTES 32

/* Standard base64 of `n` bytes into `out` (4 * ceil(n / 3) + 1 bytes). */
static void b64_encode(const unsigned char *in, size_t n, char *out)
{
    EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

/*
 * Strict standard base64 (padded, no whitespace) of at most HOOK_KEY_MAX
 * bytes: their count, or -1.
 */
static int b64_decode(const char *in, unsigned char out[HOOK_KEY_MAX])
{
    unsigned char buf[3 * ((HOOK_KEY_MAX + 2) / 3) + 3];
    size_t n = strlen(in), pad = 0;
    int len;

    if (n == 0 || n % 4 != 0 || n > 4 * ((HOOK_KEY_MAX + 2) / 3))
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)in[i];
        bool b64 = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                   (ch >= '0' && ch <= '9') || ch == '+' || ch == '/';
        if (ch == '=' && i >= n - 2) {
            pad++;
            continue;
        }
        if (!b64 || pad)
            return -1;
    }
    len = EVP_DecodeBlock(buf, (const unsigned char *)in, (int)n);
    if (len < 0 || (size_t)len < pad)
        return -1;
    len -= (int)pad;
    if (len < 1 || len > HOOK_KEY_MAX)
        return -1;
    memcpy(out, buf, (size_t)len);
    OPENSSL_cleanse(buf, sizeof(buf));
    return len;
}

int hook_secret_key(const char *secret, unsigned char key[HOOK_KEY_MAX])
{
    size_t n;

    if (!strncmp(secret, WHSEC, WHSEC_LEN))
        return b64_decode(secret + WHSEC_LEN, key);
    n = strlen(secret);
    if (n < 1 || n > HOOK_KEY_MAX)
        return -1;
    memcpy(key, secret, n);
    return (int)n;
}

int hook_secret_shown(const char *secret, char out[HOOK_SECRET_SHOWN_MAX])
{
    unsigned char key[HOOK_KEY_MAX];
    int n = hook_secret_key(secret, key);

    if (n < 0)
        return -1;
    memcpy(out, WHSEC, WHSEC_LEN);
    b64_encode(key, (size_t)n, out + WHSEC_LEN);
    OPENSSL_cleanse(key, sizeof(key));
    return 0;
}

int hook_secret_new(char out[HOOK_SECRET_SHOWN_MAX])
{
    unsigned char raw[NEW_KEY_BYTES];

    if (random_bytes(raw, sizeof(raw)) < 0)
        return -1;
    memcpy(out, WHSEC, WHSEC_LEN);
    b64_encode(raw, sizeof(raw), out + WHSEC_LEN);
    OPENSSL_cleanse(raw, sizeof(raw));
    return 0;
}

/* HMAC-SHA256 with `key` of `parts` joined by '.'. */
static void hmac_joined(const unsigned char *key, size_t keylen, const char *const *parts,
                        size_t nparts, unsigned char md[32])
{
    struct sbuf msg = {0};
    unsigned int len = 0;

    for (size_t i = 0; i < nparts; i++) {
        if (i)
            sb_puts(&msg, ".");
        sb_puts(&msg, parts[i]);
    }
    if (!HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg.p, msg.len, md, &len) ||
        len != 32)
        abort();
    sb_free(&msg);
}

void hook_sign(const unsigned char *key, size_t keylen, const char *timestamp, const char *body,
               char out[65])
{
    const char *parts[] = {timestamp, body};
    unsigned char md[32];

    hmac_joined(key, keylen, parts, 2, md);
    hex_encode(md, 32, out);
}

void hook_sign_v1(const unsigned char *key, size_t keylen, const char *msg_id,
                  const char *timestamp, const char *body, char out[48])
{
    const char *parts[] = {msg_id, timestamp, body};
    unsigned char md[32];

    hmac_joined(key, keylen, parts, 3, md);
    memcpy(out, "v1,", 3);
    b64_encode(md, 32, out + 3);
}

/* An IPv4 address in host order: may a webhook go there? */
static bool v4_public(uint32_t a)
{
    uint8_t b0 = a >> 24, b1 = (a >> 16) & 0xff, b2 = (a >> 8) & 0xff;

    return !(b0 == 0 ||                              /* this network */
             b0 == 10 ||                             /* private */
             b0 == 127 ||                            /* loopback */
             (b0 == 100 && (b1 & 0xc0) == 64) ||     /* shared address space (CGN) */
             (b0 == 169 && b1 == 254) ||             /* link-local */
             (b0 == 172 && (b1 & 0xf0) == 16) ||     /* private */
             (b0 == 192 && b1 == 168) ||             /* private */
             (b0 == 192 && b1 == 0 && b2 == 0) ||    /* IETF protocol assignments */
             (b0 == 192 && b1 == 0 && b2 == 2) ||    /* documentation */
             (b0 == 192 && b1 == 88 && b2 == 99) ||  /* 6to4 relay anycast */
             (b0 == 198 && (b1 & 0xfe) == 18) ||     /* benchmarking */
             (b0 == 198 && b1 == 51 && b2 == 100) || /* documentation */
             (b0 == 203 && b1 == 0 && b2 == 113) ||  /* documentation */
             b0 >= 224);                             /* multicast, reserved, broadcast */
}

static uint32_t v4_at(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/*
 * IPv6: an allow-list. Addresses that carry an IPv4 address a translator
 * or the kernel connects to (IPv4-mapped ::ffff:0:0/96, IPv4-translated
 * ::ffff:0:0:0/96, NAT64 64:ff9b::/96, 6to4 2002::/16) are judged by that
 * IPv4 address. Otherwise only global unicast 2000::/3 is public, less
 * the IETF protocol block 2001::/23 (Teredo 2001::/32, benchmarking,
 * ORCHID, ...), documentation 2001:db8::/32 and 3fff::/20, and SRv6 SIDs
 * 5f00::/16. So the unspecified address, loopback, IPv4-compatible ::/96,
 * discard 100::/64, local-use NAT64 64:ff9b:1::/48, unique local
 * fc00::/7, site-local fec0::/10, link-local fe80::/10 and multicast
 * ff00::/8 are refused.
 */
static bool v6_public(const uint8_t *b)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const uint8_t translated[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0};
    static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};

    if (!memcmp(b, mapped, 12) || !memcmp(b, translated, 12) || !memcmp(b, nat64, 12))
        return v4_public(v4_at(b + 12));
    if (b[0] == 0x20 && b[1] == 0x02)
        return v4_public(v4_at(b + 2));
    if ((b[0] & 0xe0) != 0x20)
        return false;
    if (b[0] == 0x20 && b[1] == 0x01 && b[2] < 0x02)
        return false;
    if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8)
        return false;
    if (b[0] == 0x3f && (b[1] & 0xf0) == 0xf0)
        return false;
    if (b[0] == 0x5f && b[1] == 0x00)
        return false;
    return true;
}

bool hook_address_public(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return v4_public(ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr));
    if (sa->sa_family == AF_INET6)
        return v6_public(((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr);
    return false;
}

bool hook_dns_bounded(void)
{
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);

    return v && (v->features & CURL_VERSION_ASYNCHDNS);
}

int hook_url_check(const char *url, char *why, size_t whylen)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    int rc = -1;

    for (const unsigned char *p = (const unsigned char *)url; *p; p++)
        if (*p >= 0x80 || *p <= 0x20 || *p == 0x7f) {
            lg_snprintf(why, whylen,
                        "callback_url must be ASCII without spaces or controls (an international "
                        "host name in its xn-- form, a path percent-encoded)");
            goto done;
        }
    if (!u || curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host) {
        lg_snprintf(why, whylen, "callback_url is not a valid URL");
        goto done;
    }
    if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
        lg_snprintf(why, whylen, "callback_url must be an http(s) URL");
        goto done;
    }
    rc = 0;
done:
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

/*
 * The address policy at the moment of connecting: libcurl resolves the
 * host itself (its threaded resolver, bounded by the transfer's timeouts)
 * and asks this callback for each socket; an address the policy refuses
 * gets none. The address checked is the address connected to, so a name
 * that resolves to another address later (DNS rebinding) gains nothing.
 */
struct pin {
    const struct config *cfg;
    int offered, refused;
    char addr[INET6_ADDRSTRLEN];
};

static curl_socket_t open_checked(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
    struct pin *p = clientp;

    if (purpose != CURLSOCKTYPE_IPCXN)
        return CURL_SOCKET_BAD;
    p->offered++;
    if (!p->cfg->webhook_allow_private && !hook_address_public(&a->addr)) {
        p->refused++;
        if (getnameinfo(&a->addr, a->addrlen, p->addr, sizeof(p->addr), NULL, 0, NI_NUMERICHOST) !=
            0)
            lg_strlcpy(p->addr, "?", sizeof(p->addr));
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    (void)ptr;
    (void)userdata;
    return size * nmemb;
}

/* A 4xx answer other than these says the receiver will never take this delivery. */
static bool status_final(long status)
{
    return status >= 400 && status < 500 && status != 408 && status != 425 && status != 429;
}

void hook_post(struct hook_client *c, const struct config *cfg, const char *url, const char *body,
               const char *event, const char *delivery_id, const char *secret,
               struct hook_result *out)
{
    struct curl_slist *hdrs = NULL;
    struct pin pin = {.cfg = cfg};
    unsigned char key[HOOK_KEY_MAX];
    char ts[24], sig[65], sig_v1[48], msg_id[80], line[160];
    CURLcode rc;
    long status = 0;
    int keylen;

    memset(out, 0, sizeof(*out));
    if (hook_url_check(url, out->error, sizeof(out->error)) < 0) {
        out->outcome = HOOK_REFUSED;
        return;
    }
    keylen = hook_secret_key(secret, key);
    if (keylen < 0) {
        out->outcome = HOOK_RETRY;
        lg_snprintf(out->error, sizeof(out->error),
                    "the tenant's webhook secret is not usable; rotate it "
                    "(loopgate apikey webhook-secret --rotate)");
        return;
    }
    curl_easy_reset(c->curl);
    snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
    snprintf(msg_id, sizeof(msg_id), "msg_%s", delivery_id);
    for (char *p = msg_id; *p; p++)
        if (*p == '.')
            *p = '_';
    hook_sign(key, (size_t)keylen, ts, body, sig);
    hook_sign_v1(key, (size_t)keylen, msg_id, ts, body, sig_v1);
    OPENSSL_cleanse(key, sizeof(key));
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    snprintf(line, sizeof(line), "webhook-id: %s", msg_id);
    hdrs = curl_slist_append(hdrs, line);
    snprintf(line, sizeof(line), "webhook-timestamp: %s", ts);
    hdrs = curl_slist_append(hdrs, line);
    snprintf(line, sizeof(line), "webhook-signature: %s", sig_v1);
    hdrs = curl_slist_append(hdrs, line);
    snprintf(line, sizeof(line), "X-Loopgate-Event: %s", event);
    hdrs = curl_slist_append(hdrs, line);
    snprintf(line, sizeof(line), "X-Loopgate-Delivery: %s", delivery_id);
    hdrs = curl_slist_append(hdrs, line);
    snprintf(line, sizeof(line), "X-Loopgate-Timestamp: %s", ts);
    hdrs = curl_slist_append(hdrs, line);
    snprintf(line, sizeof(line), "X-Loopgate-Signature: sha256=%s", sig);
    hdrs = curl_slist_append(hdrs, line);
    hdrs = curl_slist_append(hdrs, "Expect:");
    curl_easy_setopt(c->curl, CURLOPT_URL, url);
    curl_easy_setopt(c->curl, CURLOPT_POST, 1L);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
    /* name lookup and connect, then the whole attempt: both bounded */
    curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)HOOK_CONNECT_TIMEOUT_S * 1000);
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, (long)HOOK_TIMEOUT_S);
    curl_easy_setopt(c->curl, CURLOPT_OPENSOCKETFUNCTION, open_checked);
    curl_easy_setopt(c->curl, CURLOPT_OPENSOCKETDATA, &pin);
    /* never through a proxy, whatever http_proxy and friends say */
    curl_easy_setopt(c->curl, CURLOPT_PROXY, "");
    curl_easy_setopt(c->curl, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c->curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "loopgate-webhook");
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, discard);
    rc = curl_easy_perform(c->curl);
    if (rc != CURLE_OK && pin.offered > 0 && pin.refused == pin.offered) {
        out->outcome = HOOK_REFUSED;
        lg_snprintf(out->error, sizeof(out->error),
                    "the callback_url host resolves to %s, a loopback, private, link-local or "
                    "otherwise internal address; set webhook_allow_private to allow it",
                    pin.addr);
    } else if (rc != CURLE_OK) {
        out->outcome = HOOK_RETRY;
        lg_snprintf(out->error, sizeof(out->error), "%s", curl_easy_strerror(rc));
    } else {
        curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
        out->http_status = (int)status;
        if (status >= 200 && status < 300) {
            out->outcome = HOOK_OK;
        } else if (status_final(status)) {
            out->outcome = HOOK_REFUSED;
            lg_snprintf(out->error, sizeof(out->error),
                        "HTTP %ld: the receiver refused this delivery; not retried", status);
        } else {
            out->outcome = HOOK_RETRY;
            lg_snprintf(out->error, sizeof(out->error), "HTTP %ld", status);
        }
    }
    curl_easy_setopt(c->curl, CURLOPT_OPENSOCKETDATA, NULL);
    curl_slist_free_all(hdrs);
}
