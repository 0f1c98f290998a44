/*
 * tg.c - see tg.h.
 */
#include "tg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "log.h"
#include "metrics.h"

#define RESPONSE_MAX (4 << 20)

/* <api>/bot<token>/, the base of every call (malloc'd, holds the token). */
static char *base_url(const struct config *cfg)
{
    struct sbuf b = {0};

    sb_puts(&b, cfg->telegram_api_url);
    while (b.len && b.p[b.len - 1] == '/')
        b.p[--b.len] = '\0';
    sb_printf(&b, "/bot%s/", cfg->telegram_bot_token);
    return b.p;
}

/* Wipe and free a string that holds the token. */
static void free_secret(char *s)
{
    if (s) {
        memset(s, 0, strlen(s));
        free(s);
    }
}

void tg_token_fingerprint(const struct config *cfg, char out[65])
{
    char *base = base_url(cfg);

    sha256_hex(base, strlen(base), out);
    free_secret(base);
}

int tg_client_init(struct tg_client *c, const struct config *cfg)
{
    memset(c, 0, sizeof(*c));
    c->curl = curl_easy_init();
    if (!c->curl)
        return -1;
    c->base = base_url(cfg);
    c->timeout_s = 30;
    c->bot_id = tg_token_bot_id(cfg->telegram_bot_token);
    sha256_hex(c->base, strlen(c->base), c->token_fp);
    return 0;
}

void tg_client_free(struct tg_client *c)
{
    if (c->curl)
        curl_easy_cleanup(c->curl);
    free_secret(c->base); /* the base URL holds the token */
    memset(c, 0, sizeof(*c));
}

static size_t collect(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct sbuf *b = userdata;
    size_t n = size * nmemb;

    if (b->len + n > RESPONSE_MAX)
        return 0; /* abort the transfer */
    sb_append(b, ptr, n);
    return n;
}

static void classify(long status, json_t *body, struct tg_result *out)
{
    json_t *ok = json_object_get(body, "ok");
    const char *desc = json_string_value(json_object_get(body, "description"));
    json_t *params = json_object_get(body, "parameters");

    out->http_status = (int)status;
    if (json_is_true(ok) && status == 200) {
        out->outcome = TG_OK;
        out->result = json_incref(json_object_get(body, "result"));
        return;
    }
    snprintf(out->error, sizeof(out->error), "%ld %s", status, desc ? desc : "(no description)");
    if (status == 429) {
        json_int_t ra = json_integer_value(json_object_get(params, "retry_after"));
        out->outcome = TG_RATE_LIMITED;
        out->retry_after = ra > 0 ? (int)ra : 1;
    } else if (status == 400 && desc && strstr(desc, "message is not modified")) {
        out->outcome = TG_OK; /* the message already shows what we wanted */
    } else if (status == 400 || status == 403) {
        out->outcome = TG_PERMANENT;
    } else if (status == 401 || status == 404) {
        /* A wrong token (or API URL): an operator can fix it, so the work is kept. */
        snprintf(out->error, sizeof(out->error), "bot token refused by Telegram (%ld)", status);
        out->outcome = TG_TOKEN_REFUSED;
    } else {
        out->outcome = TG_RETRY;
    }
}

void tg_call_timeout(struct tg_client *c, const char *method, json_t *params, long timeout_s,
                     struct tg_result *out)
{
    char *body = json_dumps(params, JSON_COMPACT);
    struct sbuf url = {0}, resp = {0};
    struct curl_slist *hdrs = NULL;
    CURLcode rc;
    long status = 0;

    memset(out, 0, sizeof(*out));
    out->outcome = TG_RETRY;
    sb_printf(&url, "%s%s", c->base, method);
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    curl_easy_reset(c->curl);
    curl_easy_setopt(c->curl, CURLOPT_URL, url.p);
    curl_easy_setopt(c->curl, CURLOPT_POST, 1L);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body ? body : "{}");
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, timeout_s);
    curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c->curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "loopgate");
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &resp);
    rc = curl_easy_perform(c->curl);
    if (rc != CURLE_OK) {
        snprintf(out->error, sizeof(out->error), "%s", curl_easy_strerror(rc));
    } else {
        json_t *j = resp.p ? json_loadb(resp.p, resp.len, 0, NULL) : NULL;
        curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
        if (!json_is_object(j)) {
            out->http_status = (int)status;
            snprintf(out->error, sizeof(out->error), "%ld with a body that is not Bot API JSON",
                     status);
        } else {
            classify(status, j, out);
        }
        json_decref(j);
    }
    metrics_tg_call(method, out->outcome == TG_OK              ? METRICS_TG_OK
                            : out->outcome == TG_RATE_LIMITED  ? METRICS_TG_RATE_LIMITED
                            : out->outcome == TG_PERMANENT     ? METRICS_TG_PERMANENT
                            : out->outcome == TG_TOKEN_REFUSED ? METRICS_TG_TOKEN_REFUSED
                                                               : METRICS_TG_RETRY);
    curl_slist_free_all(hdrs);
    memset(url.p, 0, url.len);
    sb_free(&url);
    sb_free(&resp);
    free(body);
}

void tg_call(struct tg_client *c, const char *method, json_t *params, struct tg_result *out)
{
    tg_call_timeout(c, method, params, c->timeout_s, out);
}
