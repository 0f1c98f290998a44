/*
 * hook.c - see hook.h.
 */
#include "hook.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/evp.h>
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

void hook_sign(const char *secret, const char *timestamp, const char *body, char out[65])
{
    struct sbuf msg = {0};
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;

    sb_printf(&msg, "%s.", timestamp);
    sb_puts(&msg, body);
    if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg.p, msg.len, md,
              &len) ||
        len != 32)
        abort();
    hex_encode(md, 32, out);
    sb_free(&msg);
}

static bool v4_public(uint32_t a)
{
    uint8_t b0 = a >> 24, b1 = (a >> 16) & 0xff;

    return !(b0 == 0 || b0 == 10 || b0 == 127 || (b0 == 100 && (b1 & 0xc0) == 64) ||
             (b0 == 169 && b1 == 254) || (b0 == 172 && (b1 & 0xf0) == 16) ||
             (b0 == 192 && b1 == 168) || (b0 == 192 && b1 == 0 && ((a >> 8) & 0xff) == 0) ||
             (b0 == 198 && (b1 & 0xfe) == 18) || b0 >= 224);
}

bool hook_address_public(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return v4_public(ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr));
    if (sa->sa_family == AF_INET6) {
        const uint8_t *b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (!memcmp(b, mapped, 12))
            return v4_public((uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 |
                             b[15]);
        /* unspecified and loopback (::, ::1), unique local fc00::/7, link-local
         * fe80::/10, multicast ff00::/8 */
        static const uint8_t zero[15] = {0};
        if (!memcmp(b, zero, 15) && (b[15] == 0 || b[15] == 1))
            return false;
        if ((b[0] & 0xfe) == 0xfc || (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) || b[0] == 0xff)
            return false;
        return true;
    }
    return false;
}

/*
 * Resolve the URL's host, apply the address policy, and pin curl to the
 * address that passed. Returns 0, or -1 with out filled.
 */
static int resolve_and_pin(CURL *curl, const struct config *cfg, const char *url,
                           struct curl_slist **resolve, struct hook_result *out)
{
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL, addr[INET6_ADDRSTRLEN], line[600], hostbuf[256];
    struct addrinfo hints, *ai = NULL, *p;
    const struct addrinfo *chosen = NULL;
    int rc = -1;

    if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
        out->outcome = HOOK_REFUSED;
        lg_snprintf(out->error, sizeof(out->error), "callback_url is not a valid URL");
        goto done;
    }
    /* An IPv6 literal comes bracketed. */
    lg_strlcpy(hostbuf, host[0] == '[' ? host + 1 : host, sizeof(hostbuf));
    if (host[0] == '[' && strchr(hostbuf, ']'))
        *strchr(hostbuf, ']') = '\0';
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(hostbuf, port, &hints, &ai) != 0 || !ai) {
        out->outcome = HOOK_RETRY;
        lg_snprintf(out->error, sizeof(out->error), "could not resolve %s", hostbuf);
        goto done;
    }
    for (p = ai; p; p = p->ai_next) {
        if (!cfg->webhook_allow_private && !hook_address_public(p->ai_addr)) {
            getnameinfo(p->ai_addr, p->ai_addrlen, addr, sizeof(addr), NULL, 0, NI_NUMERICHOST);
            out->outcome = HOOK_REFUSED;
            lg_snprintf(out->error, sizeof(out->error),
                        "%s resolves to %s, a loopback, private or link-local address; "
                        "set webhook_allow_private to allow it",
                        hostbuf, addr);
            goto done;
        }
        if (!chosen)
            chosen = p;
    }
    getnameinfo(chosen->ai_addr, chosen->ai_addrlen, addr, sizeof(addr), NULL, 0, NI_NUMERICHOST);
    lg_snprintf(line, sizeof(line), chosen->ai_family == AF_INET6 ? "%s:%s:[%s]" : "%s:%s:%s", host,
                port, addr);
    *resolve = curl_slist_append(NULL, line);
    curl_easy_setopt(curl, CURLOPT_RESOLVE, *resolve);
    rc = 0;
done:
    if (ai)
        freeaddrinfo(ai);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return rc;
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    (void)ptr;
    (void)userdata;
    return size * nmemb;
}

void hook_post(struct hook_client *c, const struct config *cfg, const char *url, const char *body,
               const char *event, const char *delivery_id, const char *secret,
               struct hook_result *out)
{
    struct curl_slist *hdrs = NULL, *resolve = NULL;
    char ts[24], sig[65], line[160];
    CURLcode rc;
    long status = 0;

    memset(out, 0, sizeof(*out));
    curl_easy_reset(c->curl);
    if (resolve_and_pin(c->curl, cfg, url, &resolve, out) < 0)
        return;
    snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
    hook_sign(secret, ts, body, sig);
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
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
    curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, 15L);
    curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c->curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "loopgate-webhook");
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, discard);
    rc = curl_easy_perform(c->curl);
    if (rc != CURLE_OK) {
        out->outcome = HOOK_RETRY;
        lg_snprintf(out->error, sizeof(out->error), "%s", curl_easy_strerror(rc));
    } else {
        curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
        out->http_status = (int)status;
        out->outcome = status >= 200 && status < 300 ? HOOK_OK : HOOK_RETRY;
        if (out->outcome != HOOK_OK)
            lg_snprintf(out->error, sizeof(out->error), "HTTP %ld", status);
    }
    curl_slist_free_all(hdrs);
    curl_slist_free_all(resolve);
}
