/*
 * hook.h - agent webhooks: signing, address policy, the POST itself.
 *
 * A webhook is a POST of the request's result JSON to its callback_url with
 *
 *   X-Loopgate-Event:     request.completed | request.timeout | request.canceled
 *   X-Loopgate-Delivery:  a unique delivery id (repeated on retries: dedup on it)
 *   X-Loopgate-Timestamp: Unix seconds when this attempt was signed
 *   X-Loopgate-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>
 *
 * Targets that resolve to loopback, private, link-local or otherwise
 * internal addresses are refused unless webhook_allow_private is set; the
 * address that was checked is the one connected to (no DNS rebinding).
 */
#ifndef LG_HOOK_H
#define LG_HOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "config.h"

enum hook_outcome {
    HOOK_OK,      /* 2xx */
    HOOK_RETRY,   /* network trouble or a non-2xx answer */
    HOOK_REFUSED, /* the target is not allowed: retrying cannot help */
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

/* hex HMAC-SHA256 of "<timestamp>.<body>" with `secret`. */
void hook_sign(const char *secret, const char *timestamp, const char *body, char out[65]);

/* Is this address a public one (not loopback, private, link-local, ...)? */
bool hook_address_public(const struct sockaddr *sa);

/* POST `body` to `url` with the signature headers. */
void hook_post(struct hook_client *c, const struct config *cfg, const char *url, const char *body,
               const char *event, const char *delivery_id, const char *secret,
               struct hook_result *out);

#endif
