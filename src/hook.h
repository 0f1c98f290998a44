/*
 * hook.h - agent webhooks: signing, address policy, the POST itself.
 *
 * A webhook is a POST of the request's result JSON to its callback_url with
 * the Standard Webhooks headers (https://www.standardwebhooks.com/, 1.0.0)
 *
 *   webhook-id:           msg_ + the delivery id with its '.' as '_' (the same
 *                         on every retry; the spec allows no '.' in it)
 *   webhook-timestamp:    Unix seconds when this attempt was signed
 *   webhook-signature:    v1,<base64 HMAC-SHA256(key, id + "." + timestamp + "." + body)>
 *
 * and, for receivers written before them, the headers of our own scheme
 *
 *   X-Loopgate-Event:     request.completed | request.timeout | request.canceled
 *   X-Loopgate-Delivery:  a unique delivery id (repeated on retries: dedup on it)
 *   X-Loopgate-Timestamp: the same timestamp
 *   X-Loopgate-Signature: sha256=<hex HMAC-SHA256(key, timestamp + "." + body)>
 *
 * Both are keyed with the same bytes. A tenant's secret is stored as shown,
 * `whsec_` + base64 of 32 random bytes, and the key is those bytes. A secret
 * made before Standard Webhooks (64 hex characters, the HMAC key of
 * X-Loopgate-Signature as printed) keeps its key: the bytes of its text. It
 * is shown as `whsec_` + base64 of that text, so a Standard Webhooks library
 * given the shown secret and a receiver keyed with the old hex text verify
 * the same deliveries.
 *
 * Targets that resolve to loopback, private, link-local or otherwise
 * internal addresses are refused unless webhook_allow_private is set; the
 * address that was checked is the one connected to (no DNS rebinding).
 * libcurl resolves the name with its threaded resolver, so the lookup is
 * bounded by the attempt's timeouts (HOOK_CONNECT_TIMEOUT_S for lookup and
 * connect, HOOK_TIMEOUT_S for the whole attempt). Proxies are never used.
 *
 * An attempt that cannot succeed however often it is repeated (a URL that
 * is not http(s) or not ASCII, an address the policy refuses, a 4xx answer
 * other than 408, 425 and 429) is HOOK_REFUSED: the caller stops and
 * records why. Anything else is retried.
 */
#ifndef LG_HOOK_H
#define LG_HOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "config.h"

/* Seconds for name lookup plus connect, and for a whole attempt. */
#define HOOK_CONNECT_TIMEOUT_S 5
#define HOOK_TIMEOUT_S 15

enum hook_outcome {
    HOOK_OK,      /* 2xx */
    HOOK_RETRY,   /* network trouble, a 5xx, 408, 425 or 429 */
    HOOK_REFUSED, /* the target is not allowed or refused it for good: retrying cannot help */
};

struct hook_result {
    enum hook_outcome outcome;
    int http_status;
    char error[256];
};

struct hook_client {
    void *curl;
};

int hook_client_init(struct hook_client *c) LG_MUST_CHECK;
void hook_client_free(struct hook_client *c);

/* The longest HMAC key a secret holds (the spec's largest, 64 bytes). */
#define HOOK_KEY_MAX 64
/* Room for a secret as shown: whsec_ + base64 of HOOK_KEY_MAX bytes + NUL. */
#define HOOK_SECRET_SHOWN_MAX (6 + 4 * ((HOOK_KEY_MAX + 2) / 3) + 1)

/*
 * The HMAC key of a stored secret (see above) into `key` (HOOK_KEY_MAX
 * bytes): its length, or -1 for a `whsec_` secret that is not base64 of
 * 1 to HOOK_KEY_MAX bytes, or an old one longer than HOOK_KEY_MAX.
 */
int hook_secret_key(const char *secret, unsigned char key[HOOK_KEY_MAX]) LG_MUST_CHECK;

/* A stored secret as shown to the tenant (whsec_...), or -1 as hook_secret_key. */
int hook_secret_shown(const char *secret, char out[HOOK_SECRET_SHOWN_MAX]) LG_MUST_CHECK;

/* A new secret, as stored and shown: whsec_ + base64 of 32 random bytes; -1 without randomness. */
int hook_secret_new(char out[HOOK_SECRET_SHOWN_MAX]) LG_MUST_CHECK;

/* hex HMAC-SHA256 of "<timestamp>.<body>" with `key` (X-Loopgate-Signature). */
void hook_sign(const unsigned char *key, size_t keylen, const char *timestamp, const char *body,
               char out[65]);

/*
 * The Standard Webhooks signature: "v1," + base64 HMAC-SHA256 of
 * "<msg_id>.<timestamp>.<body>" with `key`.
 */
void hook_sign_v1(const unsigned char *key, size_t keylen, const char *msg_id,
                  const char *timestamp, const char *body, char out[48]);

/*
 * Is this address a public one a webhook may go to? Refused: IPv4
 * this-network, private, loopback, CGN, link-local, documentation,
 * benchmarking, multicast and reserved; IPv6 outside global unicast,
 * and inside it the special blocks (see hook.c); IPv4 addresses carried
 * in IPv6 (mapped, translated, NAT64, 6to4) are judged as IPv4.
 */
bool hook_address_public(const struct sockaddr *sa);

/* Does libcurl resolve names asynchronously (so a lookup has a timeout)? */
bool hook_dns_bounded(void);

/*
 * Is `url` an ASCII http(s) URL with a host? 0, or -1 with the reason in
 * `why` (a text for an API error or the delivery record).
 */
int hook_url_check(const char *url, char *why, size_t whylen) LG_MUST_CHECK;

/*
 * POST `body` to `url` with the signature headers, keyed by the stored
 * `secret` (a secret that gives no key is HOOK_RETRY: it is fixed by a
 * rotation, not by the receiver).
 */
void hook_post(struct hook_client *c, const struct config *cfg, const char *url, const char *body,
               const char *event, const char *delivery_id, const char *secret,
               struct hook_result *out);

#endif
