/*
 * tg.h - every call Loopgate makes to the Telegram Bot API.
 *
 * One tg_client per thread (a libcurl easy handle is not shared). Calls are
 * POSTs of JSON parameters to <telegram_api_url>/bot<token>/<method> with
 * connect and total timeouts, TLS verification on and CURLOPT_NOSIGNAL.
 * The answer is classified so the caller knows what to do next. The token is
 * part of the URL and therefore never logged; neither is the URL.
 */
#ifndef LG_TG_H
#define LG_TG_H

#include <jansson.h>

#include "config.h"

enum tg_outcome {
    TG_OK,            /* ok:true (or an edit that changed nothing) */
    TG_RETRY,         /* network trouble, 5xx, garbage: try again later */
    TG_RATE_LIMITED,  /* 429: wait retry_after seconds */
    TG_PERMANENT,     /* 400/403 and friends: retrying cannot help */
    TG_TOKEN_REFUSED, /* 401/404: Telegram does not know the token; nothing can go out */
};

struct tg_result {
    enum tg_outcome outcome;
    int http_status; /* 0 when no HTTP answer arrived */
    int retry_after; /* seconds, for TG_RATE_LIMITED */
    char error[256]; /* printable reason, never containing the token */
    json_t *result;  /* "result" of an ok answer: a new reference or NULL */
};

struct tg_client {
    void *curl;
    char *base; /* <api>/bot<token>/ */
    long timeout_s;
    int64_t bot_id;    /* the token's numeric prefix (tg_token_bot_id); 0 if it has none */
    char token_fp[65]; /* tg_token_fingerprint */
};

/*
 * The fingerprint of the token as `cfg` uses it: the hex SHA-256 of the Bot
 * API base URL with the token in it. A refusal is recorded under it, so a
 * revoked token or a wrong telegram_api_url on one host never parks another
 * host's working token of the same bot. The token cannot be read back from it.
 */
void tg_token_fingerprint(const struct config *cfg, char out[65]);

int tg_client_init(struct tg_client *c, const struct config *cfg) LG_MUST_CHECK;
void tg_client_free(struct tg_client *c);

/* Call `method` with `params` (borrowed); fills `out` (caller json_decrefs out->result). */
void tg_call(struct tg_client *c, const char *method, json_t *params, struct tg_result *out);

/* Same with a total timeout of `timeout_s` seconds (long-polling getUpdates). */
void tg_call_timeout(struct tg_client *c, const char *method, json_t *params, long timeout_s,
                     struct tg_result *out);

#endif
