/*
 * delivery.c - see delivery.h.
 *
 * Two lanes, each its own threads:
 *
 * 1. Telegram: cfg->delivery_threads threads claim Telegram rows in
 *    batches (store_outbox_claim) and make the calls one after another.
 * 2. Webhooks: cfg->webhook_threads threads each claim one webhook at a
 *    time (store_outbox_claim_webhook) and post it. A thread per attempt in
 *    flight, rather than one libcurl multi handle, because an attempt is a
 *    blocking sequence (read the request row, read the tenant's secret,
 *    post, record the outcome) on pooled database connections; the lane's
 *    width is bounded anyway, per tenant and per target host across all
 *    workers (webhook_tenant_concurrency, webhook_host_concurrency, counted
 *    by the claim in PostgreSQL), so a few threads per process suffice and
 *    a receiver that never answers holds at most that many for
 *    HOOK_TIMEOUT_S each, never a Telegram thread.
 * 3. A lease outlives the attempt it covers: a Telegram row is leased for
 *    TG_LEASE_S, longer than the client's total timeout plus LEASE_MARGIN_S;
 *    a row of a batch whose attempt would start too late for its lease is
 *    renewed first (store_outbox_renew), and skipped when it is no longer
 *    this thread's to send. So no lease runs out while its call is in
 *    flight, and no row is claimed again and sent twice.
 * 4. With console_login_button on, a request's message (sent, escalated or
 *    edited while pending) carries the console's login button
 *    (tgmsg_login_button). Telegram refuses a login_url whose domain is not
 *    the one linked to the bot (BOT_DOMAIN_INVALID): the message then goes
 *    without the button, a warning says what to fix, and the button is left
 *    off for LOGIN_RETRY_MS, so a missing /setdomain never keeps a request
 *    from its approvers.
 */
#include "delivery.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "store_keys.h"
#include "store_outbox.h"
#include "store_requests.h"
#include "store_tg.h"
#include "telegram.h"
#include "tg.h"
#include "tgmsg.h"
#include "hook.h"
#include "shape.h"

#define CLAIM_BATCH 4
#define MAX_THREADS 160
#define BACKOFF_MAX_MS (5 * 60 * 1000)
#define ANSWER_MAX_ATTEMPTS 8  /* a callback query is useless after ~150 s */
#define IDLE_LOOK_MS 2000      /* an idle thread looks at the outbox this often */
#define BUSY_LOOK_MS 5         /* ... and this soon (doubling) when due rows were not taken */
#define PACED_HINT_MAX_MS 1000 /* a bot slot frees one second after its answer */
#define TOKEN_RECHECK_MS (5 * 60 * 1000) /* a refused token is tried again this often */
#define TOKEN_SYNC_MS 1000               /* tg_token_refused is read at most this often */
#define PARKED_ROW_MS 1000 /* a row met with a refused token: due again for any other host */
#define LOGIN_RETRY_MS (10 * 60 * 1000) /* a login button Telegram refused is tried again */
#define LEASE_MARGIN_S 15               /* a lease outlasts its attempt by at least this */
#define TG_LEASE_S 60                   /* > the Telegram client's timeout + LEASE_MARGIN_S */
#define HOOK_LEASE_S 60                 /* > HOOK_TIMEOUT_S + LEASE_MARGIN_S */

_Static_assert(HOOK_LEASE_S >= HOOK_TIMEOUT_S + LEASE_MARGIN_S, "a webhook lease must outlive it");

static struct {
    const struct config *cfg;
    pthread_t threads[MAX_THREADS];
    int n;
    bool timekeeper;            /* a delivery thread sleeps until the next row is due */
    int64_t bot_id;             /* the configured token's bot */
    char token_fp[65];          /* tg_token_fingerprint: refusals are recorded under it */
    int64_t parked_until_ms;    /* Telegram refused the token: no Telegram call before then */
    bool rechecking;            /* a thread is asking Telegram (getMe) whether it still does */
    int64_t synced_ms;          /* when this process last read its token's row */
    int64_t login_off_until_ms; /* Telegram refused the login button's domain: none until then */
} D;

/* Exponential backoff with jitter: base 1 s doubling, capped, times 0.5-1.0. */
static int backoff_ms(int attempts)
{
    long ms = 1000;
    unsigned r;

    for (int i = 1; i < attempts && ms < BACKOFF_MAX_MS; i++)
        ms *= 2;
    if (ms > BACKOFF_MAX_MS)
        ms = BACKOFF_MAX_MS;
    if (random_bytes(&r, sizeof(r)) < 0)
        r = (unsigned)time(NULL);
    return (int)(ms / 2 + (long)(r % (unsigned)(ms / 2 + 1)));
}

static void record(int rc, const struct lg_error *err, const struct outbox_row *o)
{
    if (rc < 0)
        log_warn("could not record a delivery outcome; the lease will expire and it is retried",
                 "outbox=%lld error=\"%s\"", (long long)o->id, err->message);
}

/* A row that had failed went through: Telegram is back, end the others' backoff. */
static void recovered(const struct outbox_row *o)
{
    struct lg_error err;

    if (o->attempts > 1) {
        log_info("telegram reachable again", "outbox=%lld attempts=%d", (long long)o->id,
                 o->attempts);
        record(store_outbox_recovered(&err), &err, o);
    }
}

/*
 * Telegram refused the token (401/404): park every Telegram call of this
 * process for TOKEN_RECHECK_MS, and record it once for /health (the worker
 * that records it first logs it; the log never holds the token).
 */
static void token_refused(const char *error)
{
    struct lg_error err;
    int first;

    __atomic_store_n(&D.parked_until_ms, now_ms() + TOKEN_RECHECK_MS, __ATOMIC_RELEASE);
    first = store_tg_bot_refused(D.token_fp, D.bot_id, error, &err);
    if (first == 1)
        log_error("Telegram refused the bot token: nothing is sent to Telegram until it is "
                  "fixed; checked again every few minutes and at restart",
                  "bot=%lld error=\"%s\" recheck_s=%d", (long long)D.bot_id, error,
                  TOKEN_RECHECK_MS / 1000);
    else if (first < 0)
        log_warn("could not record a refused bot token", "error=\"%s\"", err.message);
}

/*
 * The token's row in tg_token_refused (under its fingerprint: this token at
 * this Bot API URL) is what every process using it knows: at most once a
 * second, a process that has not parked the token parks it when another
 * found it refused, and one that has parked it asks getMe at once when
 * another found it accepted (its row is gone).
 */
static void token_sync(void)
{
    int64_t now = now_ms(), last = __atomic_load_n(&D.synced_ms, __ATOMIC_ACQUIRE), until;
    char why[256];
    struct lg_error err;
    int rc;

    if (now - last < TOKEN_SYNC_MS ||
        !__atomic_compare_exchange_n(&D.synced_ms, &last, now, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE))
        return;
    rc = store_tg_bot_state(D.token_fp, why, sizeof(why), &err);
    until = __atomic_load_n(&D.parked_until_ms, __ATOMIC_ACQUIRE);
    if (rc == 1 && until == 0) {
        /* only a process that had not parked it: its own recheck time stands */
        if (__atomic_compare_exchange_n(&D.parked_until_ms, &until, now + TOKEN_RECHECK_MS, false,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            log_info("Telegram deliveries parked: another worker found this bot token refused",
                     "bot=%lld error=\"%s\" recheck_s=%d", (long long)D.bot_id, why,
                     TOKEN_RECHECK_MS / 1000);
    } else if (rc == 0 && until > now && until - TOKEN_RECHECK_MS < now - TOKEN_SYNC_MS &&
               !__atomic_load_n(&D.rechecking, __ATOMIC_ACQUIRE)) {
        /* parked over a second ago (not a 401 whose row is being written) */
        __atomic_store_n(&D.parked_until_ms, now, __ATOMIC_RELEASE);
    }
}

/*
 * Whether Telegram calls may go now. While the token is parked, one thread
 * asks getMe once the recheck is due; the others (and it, if still refused)
 * answer false and put their row off until the next recheck.
 */
static bool token_usable(struct tg_client *tg)
{
    int64_t until;
    struct tg_result res;
    struct lg_error err;
    json_t *none;

    token_sync();
    until = __atomic_load_n(&D.parked_until_ms, __ATOMIC_ACQUIRE);
    if (until == 0)
        return true;
    if (now_ms() < until || __atomic_exchange_n(&D.rechecking, true, __ATOMIC_ACQ_REL))
        return false;
    none = json_object();
    tg_call(tg, "getMe", none, &res);
    json_decref(none);
    json_decref(res.result);
    if (res.outcome == TG_TOKEN_REFUSED) {
        token_refused(res.error); /* its row again, if another process's getMe had cleared it */
    } else if (res.outcome == TG_OK) {
        __atomic_store_n(&D.parked_until_ms, 0, __ATOMIC_RELEASE);
        if (store_tg_bot_accepted(tg->token_fp, &err) == 1)
            log_info("Telegram accepts the bot token again", "bot=%lld", (long long)tg->bot_id);
        if (store_outbox_recovered(&err) < 0)
            log_warn("could not release parked deliveries", "error=\"%s\"", err.message);
    }
    /* Network trouble: ask again with the next row. */
    __atomic_store_n(&D.rechecking, false, __ATOMIC_RELEASE);
    return res.outcome == TG_OK;
}

/*
 * How long this process's token stays parked (0 when it is not, or its
 * recheck is due): until then its Telegram lane takes no rows, so that a
 * host whose token works sends them.
 */
static int64_t token_parked_ms(void)
{
    int64_t until, left;

    token_sync();
    until = __atomic_load_n(&D.parked_until_ms, __ATOMIC_ACQUIRE);
    left = until ? until - now_ms() : 0;
    return left > 0 ? left : 0;
}

/* Decide what a failed call means for the row. */
static void failed(const struct outbox_row *o, const struct tg_result *res)
{
    struct lg_error err;
    char key[40];
    int rc;

    if (res->outcome == TG_TOKEN_REFUSED) {
        /* Kept until a token works: this process takes no more while parked. */
        token_refused(res->error);
        rc = store_outbox_retry(o->id, PARKED_ROW_MS, res->error, &err);
    } else if (res->outcome == TG_PERMANENT ||
               (!strcmp(o->kind, "tg_answer") && o->attempts >= ANSWER_MAX_ATTEMPTS)) {
        log_warn("telegram call failed for good", "kind=%s outbox=%lld request=%s error=\"%s\"",
                 o->kind, (long long)o->id, o->request_id, res->error);
        rc = store_outbox_fail(o->id, "failed", res->error, &err);
    } else if (res->outcome == TG_RATE_LIMITED) {
        snprintf(key, sizeof(key), "chat:%lld", (long long)o->chat_id);
        log_warn("telegram rate limit", "kind=%s chat=%lld retry_after=%d", o->kind,
                 (long long)o->chat_id, res->retry_after);
        if (store_pace_delay(o->chat_id ? key : "bot", res->retry_after, &err) < 0)
            record(-1, &err, o);
        rc = store_outbox_retry(o->id, res->retry_after * 1000, res->error, &err);
    } else {
        int delay = backoff_ms(o->attempts);
        log_warn("telegram call failed; will retry",
                 "kind=%s outbox=%lld request=%s attempt=%d retry_in_ms=%d error=\"%s\"", o->kind,
                 (long long)o->id, o->request_id, o->attempts, delay, res->error);
        rc = store_outbox_retry(o->id, delay, res->error, &err);
    }
    record(rc, &err, o);
}

/*
 * `params` (tgmsg_request for `r`, cut when `truncated`) with the console's
 * login button (a new reference), or NULL when the message goes without
 * one (console_login_button off, or Telegram refused its domain lately).
 */
static json_t *with_login(const json_t *params, const struct lg_request *r, bool truncated)
{
    int64_t off = __atomic_load_n(&D.login_off_until_ms, __ATOMIC_ACQUIRE);
    json_t *out;

    const struct config *cfg = config_current();

    if (!cfg->console_login_button || (off && now_ms() < off))
        return NULL;
    out = json_deep_copy(params);
    tgmsg_login_button(out, cfg->public_url, r->id, truncated);
    return out;
}

/*
 * Call `method` for a request's message: with `login` (with_login; may be
 * NULL) first, and with `params` when there is no login button or Telegram
 * refused its domain (see 4. above).
 */
static void call_message(struct tg_client *tg, const char *method, json_t *params, json_t *login,
                         struct tg_result *res)
{
    if (login) {
        tg_call(tg, method, login, res);
        if (!(res->outcome == TG_PERMANENT && strstr(res->error, "BOT_DOMAIN_INVALID")))
            return;
        __atomic_store_n(&D.login_off_until_ms, now_ms() + LOGIN_RETRY_MS, __ATOMIC_RELEASE);
        log_warn("Telegram refused the console login button: link the domain of public_url to "
                 "the bot with BotFather's /setdomain; messages go without the button until then",
                 "error=\"%s\" retry_in_s=%d", res->error, LOGIN_RETRY_MS / 1000);
        json_decref(res->result);
    }
    tg_call(tg, method, params, res);
}

static void send_request(struct tg_client *tg, const struct outbox_row *o)
{
    struct request_row row;
    const struct lg_request *r = &row.r;
    struct lg_error err;
    struct tg_result res;
    json_t *params, *buttons, *login;
    bool truncated, queued;
    int rc;

    if (store_request_row(o->request_id, &row, &err) < 0) {
        if (err.status == 404)
            record(store_outbox_fail(o->id, "failed", "request not found", &err), &err, o);
        return; /* database trouble: the lease expires and the row comes back */
    }
    if (strcmp(r->status, "pending") != 0) {
        rc = store_outbox_fail(o->id, "skipped", "decided before it was sent", &err);
        record(rc, &err, o);
        store_request_row_free(&row);
        return;
    }
    params = tgmsg_request(r, &truncated);
    json_object_set_new(params, "chat_id", json_integer((json_int_t)r->tg_chat_id));
    login = with_login(params, r, truncated);
    buttons = tgmsg_buttons(r, truncated);
    store_request_row_free(&row);
    call_message(tg, "sendMessage", params, login, &res);
    json_decref(login);
    json_decref(params);
    if (res.outcome == TG_OK) {
        json_int_t mid = json_integer_value(json_object_get(res.result, "message_id"));
        rc = store_delivery_sent(o->id, o->request_id, tg->bot_id, (int64_t)mid, buttons, truncated,
                                 &queued, &err);
        if (rc == 0 && queued)
            notify_outbox_kick(); /* the edit of a request decided meanwhile */
        record(rc, &err, o);
        recovered(o);
        log_debug("request message sent", "request=%s message=%lld truncated=%d", o->request_id,
                  (long long)mid, truncated);
    } else {
        failed(o, &res);
    }
    json_decref(buttons);
    json_decref(res.result);
}

/*
 * tg_escalate (021): the request's message, with its buttons, sent to the
 * chat it was escalated to (o->chat_id) and recorded as its escalation
 * message, with a note replying to it (store_escalation_sent); skipped once
 * the request is no longer pending.
 */
static void escalate_request(struct tg_client *tg, const struct outbox_row *o)
{
    struct request_row row;
    const struct lg_request *r = &row.r;
    struct lg_error err;
    struct tg_result res;
    json_t *params, *login;
    bool truncated, queued;
    int rc;

    if (store_request_row(o->request_id, &row, &err) < 0) {
        if (err.status == 404)
            record(store_outbox_fail(o->id, "failed", "request not found", &err), &err, o);
        return;
    }
    if (strcmp(r->status, "pending") != 0 || r->esc_chat_id != o->chat_id) {
        rc = store_outbox_fail(o->id, "skipped", "decided before it was escalated", &err);
        record(rc, &err, o);
        store_request_row_free(&row);
        return;
    }
    params = tgmsg_request(r, &truncated);
    json_object_set_new(params, "chat_id", json_integer((json_int_t)o->chat_id));
    login = with_login(params, r, truncated);
    store_request_row_free(&row);
    call_message(tg, "sendMessage", params, login, &res);
    json_decref(login);
    json_decref(params);
    if (res.outcome == TG_OK) {
        json_int_t mid = json_integer_value(json_object_get(res.result, "message_id"));
        rc = store_escalation_sent(o->id, o->request_id, o->chat_id, tg->bot_id, (int64_t)mid,
                                   &queued, &err);
        if (rc == 0)
            notify_outbox_kick(); /* the note that says why it came, or the edit */
        record(rc, &err, o);
        recovered(o);
        log_info("request escalated", "request=%s chat=%lld message=%lld", o->request_id,
                 (long long)o->chat_id, (long long)mid);
    } else {
        failed(o, &res);
    }
    json_decref(res.result);
}

/*
 * tg_edit: the request's message, or with {"escalation": true} its
 * escalation message (021), shows the request as it is now.
 */
static void edit_request(struct tg_client *tg, const struct outbox_row *o)
{
    struct request_row row;
    const struct lg_request *r = &row.r;
    struct lg_error err;
    struct tg_result res;
    json_t *params, *login = NULL;
    bool esc = json_is_true(json_object_get(o->payload, "escalation"));
    int64_t chat, mid;

    if (store_request_row(o->request_id, &row, &err) < 0) {
        if (err.status == 404)
            record(store_outbox_fail(o->id, "failed", "request not found", &err), &err, o);
        return;
    }
    chat = esc ? r->esc_chat_id : r->tg_chat_id;
    mid = esc ? r->esc_message_id : r->tg_message_id;
    if (!mid) {
        /* Never sent: nothing to edit (the send is skipped once decided). */
        record(store_outbox_fail(o->id, "skipped", "no message to edit", &err), &err, o);
        store_request_row_free(&row);
        return;
    }
    if (strcmp(r->status, "pending") != 0) {
        params = tgmsg_final(r);
    } else {
        /* A vote that did not decide: the message as sent, with its progress and buttons. */
        bool truncated;
        params = tgmsg_request(r, &truncated);
        json_object_set_new(params, "chat_id", json_integer((json_int_t)chat));
        json_object_set_new(params, "message_id", json_integer((json_int_t)mid));
        login = with_login(params, r, truncated);
    }
    json_object_set_new(params, "chat_id", json_integer((json_int_t)chat));
    json_object_set_new(params, "message_id", json_integer((json_int_t)mid));
    store_request_row_free(&row);
    call_message(tg, "editMessageText", params, login, &res);
    json_decref(login);
    json_decref(params);
    if (res.outcome == TG_OK)
        record(store_outbox_done(o->id, &err), &err, o);
    else
        failed(o, &res);
    json_decref(res.result);
}

/*
 * tg_answer and tg_text: the payload is the call's parameters. A tg_text
 * that names a request (a reminder, 021) is sent only while the request is
 * pending.
 */
static void plain_call(struct tg_client *tg, const struct outbox_row *o, const char *method)
{
    struct lg_error err;
    struct tg_result res;
    json_t *params;

    if (o->request_id[0]) {
        struct request_row row;
        bool pending;

        if (store_request_row(o->request_id, &row, &err) < 0) {
            if (err.status == 404)
                record(store_outbox_fail(o->id, "failed", "request not found", &err), &err, o);
            return;
        }
        pending = !strcmp(row.r.status, "pending");
        store_request_row_free(&row);
        if (!pending) {
            record(store_outbox_fail(o->id, "skipped", "decided before it was sent", &err), &err,
                   o);
            return;
        }
    }
    params = o->payload ? json_deep_copy(o->payload) : json_object();

    if (o->chat_id && !json_object_get(params, "chat_id"))
        json_object_set_new(params, "chat_id", json_integer((json_int_t)o->chat_id));
    tg_call(tg, method, params, &res);
    json_decref(params);
    if (res.outcome == TG_OK)
        record(store_outbox_done(o->id, &err), &err, o);
    else
        failed(o, &res);
    json_decref(res.result);
}

/* The event name of a final status. */
static const char *event_of(const char *status)
{
    if (!strcmp(status, "timeout"))
        return "request.timeout";
    if (!strcmp(status, "canceled"))
        return "request.canceled";
    return "request.completed";
}

/* Webhook backoff: 1 s doubling, at most 10 minutes, with jitter. */
static int hook_backoff_ms(int attempts)
{
    int ms = backoff_ms(attempts);

    return ms > 10 * 60 * 1000 ? 10 * 60 * 1000 : ms;
}

static void post_webhook(struct hook_client *hc, const struct outbox_row *o)
{
    struct request_row row;
    const struct lg_request *r = &row.r;
    struct lg_error err;
    struct hook_result res;
    char secret[HOOK_SECRET_SHOWN_MAX + 16], fresh[HOOK_SECRET_SHOWN_MAX], delivery_id[64];
    json_t *body;
    char *text;
    int rc;

    if (store_request_row(o->request_id, &row, &err) < 0) {
        if (err.status == 404)
            record(store_webhook_fail(o->id, "request not found", &err), &err, o);
        return;
    }
    if (!r->callback_url) {
        record(store_outbox_fail(o->id, "skipped", "no callback_url", &err), &err, o);
        store_request_row_free(&row);
        return;
    }
    if (hook_secret_new(fresh) < 0 ||
        store_webhook_secret(row.tenant, false, fresh, secret, sizeof(secret), &err) < 0) {
        store_request_row_free(&row);
        return; /* the lease expires and the row comes back */
    }
    snprintf(delivery_id, sizeof(delivery_id), "%s.%lld", r->id, (long long)o->id);
    body = shape_poll(r);
    json_object_set_new(body, "event", json_string(event_of(r->status)));
    json_object_set_new(body, "delivery_id", json_string(delivery_id));
    json_object_set_new(body, "session_id", json_string(r->session_id));
    json_object_set_new(body, "client_id", json_string(r->client_id));
    json_object_del(body, "callback");
    json_object_del(body, "delivery");
    text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    hook_post(hc, config_current(), r->callback_url, text, event_of(r->status), delivery_id, secret,
              &res);
    memset(secret, 0, sizeof(secret));
    memset(fresh, 0, sizeof(fresh));
    metrics_webhook(res.outcome == HOOK_OK        ? METRICS_HOOK_DELIVERED
                    : res.outcome == HOOK_REFUSED ? METRICS_HOOK_REFUSED
                                                  : METRICS_HOOK_RETRY);
    if (res.outcome == HOOK_OK) {
        rc = store_webhook_done(o->id, &err);
        log_info("webhook delivered", "request=%s status=%d attempt=%d", r->id, res.http_status,
                 o->attempts);
    } else if (res.outcome == HOOK_REFUSED) {
        log_warn("webhook refused", "request=%s error=\"%s\"", r->id, res.error);
        rc = store_webhook_fail(o->id, res.error, &err);
    } else {
        int delay = hook_backoff_ms(o->attempts);
        log_warn("webhook failed; will retry", "request=%s attempt=%d retry_in_ms=%d error=\"%s\"",
                 r->id, o->attempts, delay, res.error);
        rc = store_webhook_retry(o->id, delay, res.error, config_current()->webhook_retry_seconds,
                                 &err);
    }
    record(rc, &err, o);
    free(text);
    store_request_row_free(&row);
}

static void process(struct tg_client *tg, const struct outbox_row *o)
{
    struct lg_error err;

    if (!strncmp(o->kind, "tg_", 3) && !*config_current()->telegram_bot_token) {
        /* Kept for when a token is configured; looked at again in a minute. */
        record(store_outbox_retry(o->id, 60000, "no Telegram bot token configured", &err), &err, o);
        return;
    }
    if (!strncmp(o->kind, "tg_", 3) && !token_usable(tg)) {
        record(
            store_outbox_retry(o->id, PARKED_ROW_MS, "bot token refused by Telegram; parked", &err),
            &err, o);
        return;
    }
    log_debug("delivering", "kind=%s outbox=%lld chat=%lld attempt=%d", o->kind, (long long)o->id,
              (long long)o->chat_id, o->attempts);
    if (!strcmp(o->kind, "tg_send"))
        send_request(tg, o);
    else if (!strcmp(o->kind, "tg_edit"))
        edit_request(tg, o);
    else if (!strcmp(o->kind, "tg_answer"))
        plain_call(tg, o, "answerCallbackQuery");
    else if (!strcmp(o->kind, "tg_text"))
        plain_call(tg, o, "sendMessage");
    else if (!strcmp(o->kind, "tg_escalate"))
        escalate_request(tg, o);
    else
        log_warn("unknown outbox kind", "kind=%s outbox=%lld", o->kind, (long long)o->id);
}

static int64_t mono_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/*
 * May row `o`, leased at `leased_ms` (mono_ms before the claim), be sent
 * now? When the attempt could outlive the lease, the lease is renewed
 * first; false when the row is no longer this thread's (or the renewal
 * failed: the lease then expires and the row is retried, never sent twice).
 */
static bool lease_covers(const struct outbox_row *o, int64_t leased_ms, int attempt_s)
{
    struct lg_error err;
    int rc;

    if (mono_ms() - leased_ms < (int64_t)(TG_LEASE_S - attempt_s - LEASE_MARGIN_S) * 1000)
        return true;
    rc = store_outbox_renew(o, TG_LEASE_S, &err);
    if (rc == 0)
        return true;
    if (rc > 0)
        log_warn("outbox row no longer ours; not sent", "kind=%s outbox=%lld", o->kind,
                 (long long)o->id);
    else
        record(-1, &err, o);
    return false;
}

static void *delivery_thread(void *arg)
{
    struct tg_client tg;
    struct outbox_row rows[CLAIM_BATCH];
    const struct config *cfg = D.cfg;
    int futile = 0;
    bool kicked = false, keeper;

    (void)arg;
    if (tg_client_init(&tg, cfg) < 0) {
        log_error("could not create an HTTP client", "%s", "");
        return NULL;
    }
    if (tg.timeout_s + LEASE_MARGIN_S > TG_LEASE_S) {
        log_error("the Telegram timeout leaves no room in a lease", "timeout_s=%ld lease_s=%d",
                  (long)tg.timeout_s, TG_LEASE_S);
        tg_client_free(&tg);
        return NULL;
    }
    while (!notify_stopping()) {
        struct lg_error err;
        int64_t leased_ms = mono_ms();
        /* the pace in force now: a reload (SIGHUP) applies from the next claim */
        const struct config *now = config_current();
        const struct pace pace = {now->telegram_chat_gap_ms, now->telegram_group_gap_ms,
                                  now->telegram_bot_gap_ms, now->telegram_bot_rate};
        int64_t due, paced, parked = *now->telegram_bot_token ? token_parked_ms() : 0;
        int n;

        if (parked > 0) {
            kicked = notify_wait_outbox(parked > IDLE_LOOK_MS ? IDLE_LOOK_MS : (int)parked);
            continue;
        }
        n = store_outbox_claim(CLAIM_BATCH, TG_LEASE_S, &pace, rows, &err);
        if (n < 0) {
            kicked = notify_wait_outbox(1000);
            continue;
        }
        for (int i = 0; i < n; i++) {
            if (lease_covers(&rows[i], leased_ms, (int)tg.timeout_s))
                process(&tg, &rows[i]);
            json_decref(rows[i].payload);
        }
        if (n > 0)
            futile = 0;
        if (n == CLAIM_BATCH) {
            notify_outbox_kick(); /* there may be more: let the others help */
            kicked = true;        /* and this thread owes another look too */
            continue;
        }
        /*
         * Nothing (more) to take: a claim that took fewer rows than it asked
         * for saw every row it may take now, so looking again at once would
         * find nothing (work queued meanwhile came with a kick). One thread
         * of the process keeps the time: it sleeps until the next row is due
         * (a row due but not taken, because another claim was under way, is
         * looked at again soon, later each time). So does, for this once, a
         * thread that was kicked: the work it was kicked for may be due in
         * a moment (a paced chat), and the keeper, asleep until its own
         * next time, does not know of it. The others sleep until this
         * process queues work; all of them look again after IDLE_LOOK_MS at
         * most, for work queued by another worker that stopped or whose own
         * threads are busy. The timekeeper also notes when the bot may send
         * again: until then a kick for new Telegram sends waits
         * (notify_outbox_kick_paced), as a look would find nothing it may
         * take.
         */
        keeper = !__atomic_exchange_n(&D.timekeeper, true, __ATOMIC_ACQ_REL);
        if (!keeper && !kicked) {
            kicked = notify_wait_outbox(IDLE_LOOK_MS);
            continue;
        }
        due = store_outbox_next_due_ms(pace.bot_rate, &paced, &err);
        if (due > -2)
            notify_paced_for(paced > PACED_HINT_MAX_MS ? PACED_HINT_MAX_MS : (int)paced);
        if (due == 0)
            due = BUSY_LOOK_MS << (futile < 5 ? futile++ : 5);
        else
            futile = 0;
        kicked = notify_wait_outbox(due < 0 || due > IDLE_LOOK_MS ? IDLE_LOOK_MS : (int)due);
        if (keeper)
            __atomic_store_n(&D.timekeeper, false, __ATOMIC_RELEASE);
    }
    tg_client_free(&tg);
    return NULL;
}

/*
 * The webhook lane: one webhook at a time per thread. A thread that took
 * one kicks another to look for the next; one that found nothing it may
 * take (nothing due, or every due one held back by a cap) sleeps until
 * kicked or IDLE_LOOK_MS pass.
 */
static void *webhook_thread(void *arg)
{
    struct hook_client hc;
    struct outbox_row row;

    (void)arg;
    if (hook_client_init(&hc) < 0) {
        log_error("could not create an HTTP client", "%s", "");
        return NULL;
    }
    while (!notify_stopping()) {
        struct lg_error err;
        const struct config *cfg = config_current();
        int n = store_outbox_claim_webhook(HOOK_LEASE_S, cfg->webhook_tenant_concurrency,
                                           cfg->webhook_host_concurrency, &row, &err);

        if (n <= 0) {
            (void)notify_wait_webhook(n < 0 ? 1000 : IDLE_LOOK_MS);
            continue;
        }
        notify_webhook_kick();
        log_debug("delivering", "kind=webhook outbox=%lld tenant=%s host=%s attempt=%d",
                  (long long)row.id, row.tenant, row.host, row.attempts);
        post_webhook(&hc, &row);
    }
    hook_client_free(&hc);
    return NULL;
}

/*
 * A restart checks the token again: Telegram deliveries parked for a
 * refused token are due now, and if Telegram had refused this bot's token
 * the first of them asks getMe before anything is sent.
 */
static int restart_token_check(void)
{
    char why[256];
    struct lg_error err;
    int rc = store_tg_bot_state(D.token_fp, why, sizeof(why), &err);

    if (rc == 1)
        __atomic_store_n(&D.parked_until_ms, now_ms(), __ATOMIC_RELEASE);
    if (rc < 0 || store_outbox_recovered(&err) < 0)
        return -1;
    return 0;
}

/*
 * Time out expired requests every quarter second; any worker may, each once.
 * Then send the reminders and escalations that are due, the same way.
 * (Processed Telegram updates are forgotten by the janitor, janitor.h.) At
 * start, settle which bot owns messages recorded without a bot id
 * (telegram_adopt_unowned), again every few seconds until the database answers.
 */
static void *expire_thread(void *arg)
{
    int64_t adopt_at = 0;
    bool started = false, adopted = false;

    (void)arg;
    while (!notify_stopping()) {
        if (!started && *D.cfg->telegram_bot_token) /* the token needs a restart to change */
            started = restart_token_check() == 0;
        if (!adopted && now_ms() >= adopt_at) {
            adopted = telegram_adopt_unowned(D.bot_id) == 0;
            adopt_at = now_ms() + 5000; /* the database is down: ask again in a while */
        }
        struct lg_error err;
        int n, m;

        n = store_expire_due(200, &err);
        if (n > 0)
            notify_outbox_kick(); /* their edits and webhooks */
        metrics_decided(METRICS_TIMED_OUT, METRICS_CH_TIMEOUT, n, -1);
        if (n > 0)
            log_info("requests timed out", "count=%d", n);
        /* after the timeouts: expiry wins over a reminder or escalation due at once */
        m = store_nudge_due(200, &err);
        if (m > 0) {
            notify_outbox_kick(); /* the reminders and escalation messages */
            log_info("requests reminded or escalated", "count=%d", m);
        } else if (m < 0 && n >= 0) {
            log_warn("could not send due reminders and escalations", "error=\"%s\"", err.message);
        }
        if (n < 200 && m < 200)
            notify_sleep(250);
    }
    return NULL;
}

int delivery_start(const struct config *cfg)
{
    D.cfg = cfg;
    D.bot_id = tg_token_bot_id(cfg->telegram_bot_token);
    tg_token_fingerprint(cfg, D.token_fp);
    if (pthread_create(&D.threads[D.n], NULL, expire_thread, NULL) != 0)
        return -1;
    D.n++;
    if (!cfg->telegram_bot_token || !*cfg->telegram_bot_token)
        log_info(
            "no Telegram bot token: requests are answered in the console (delivery state console)",
            "%s", "");
    for (int i = 0; i < cfg->delivery_threads && D.n < MAX_THREADS; i++) {
        if (pthread_create(&D.threads[D.n], NULL, delivery_thread, NULL) != 0)
            return -1;
        D.n++;
    }
    if (cfg->webhook_threads > 0 && !hook_dns_bounded()) {
        log_error("libcurl has no asynchronous resolver: a webhook's name lookup could not be "
                  "bounded; agent webhooks stay queued",
                  "%s", "");
        return 0;
    }
    for (int i = 0; i < cfg->webhook_threads && D.n < MAX_THREADS; i++) {
        if (pthread_create(&D.threads[D.n], NULL, webhook_thread, NULL) != 0)
            return -1;
        D.n++;
    }
    return 0;
}

void delivery_join(void)
{
    struct timespec deadline;

    /* A thread inside a Telegram call finishes it (bounded by its timeout); at
     * most a few seconds are waited for, the lease covers the rest. A thread
     * not done by then is left to end with the process (detached). */
    deadline = deadline_in_ms(CLOCK_REALTIME, 5000);
    for (int i = 0; i < D.n; i++) {
        if (pthread_timedjoin_np(D.threads[i], NULL, &deadline) != 0) {
            log_warn("a delivery thread is still in a call at shutdown", "%s", "");
            pthread_detach(D.threads[i]);
        }
    }
    D.n = 0;
}
