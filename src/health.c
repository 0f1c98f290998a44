/*
 * health.c - see health.h.
 *
 * Each check of /readyz adds {"ok": true|false|null, ...} under its name to
 * "checks"; a false one also adds its name to "failing" and an "error"
 * saying what is wrong in words an operator acts on. Nothing here writes.
 */
#include "health.h"

#include <stdio.h>
#include <string.h>

#include "migrate.h"
#include "notify.h"
#include "store.h"
#include "store_tg.h"
#include "version.h"

void health_livez(struct http_req *r)
{
    http_send_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

/* ---------------------------------------------------------------- /readyz */

struct ready {
    json_t *checks;
    json_t *failing;
};

static void check_ok(struct ready *rd, const char *name, json_t *detail)
{
    json_object_set_new(detail, "ok", json_true());
    json_object_set_new(rd->checks, name, detail);
}

static void check_failed(struct ready *rd, const char *name, json_t *detail, const char *error)
{
    json_object_set_new(detail, "ok", json_false());
    json_object_set_new(detail, "error", json_string(error));
    json_object_set_new(rd->checks, name, detail);
    json_array_append_new(rd->failing, json_string(name));
}

static void check_skipped(struct ready *rd, const char *name)
{
    json_object_set_new(
        rd->checks, name,
        json_pack("{s:n, s:s}", "ok", "error", "not checked: the database is unreachable"));
}

static void check_schema(struct ready *rd)
{
    const char *newest = migrations[migrations_count - 1].version;
    struct sbuf known = {0};
    struct lg_error err;
    char unknown[512], why[768];
    bool has_newest = false;
    json_t *d = json_pack("{s:s}", "expected", newest);

    sb_puts(&known, "{");
    for (int i = 0; i < migrations_count; i++)
        sb_printf(&known, "%s\"%s\"", i ? "," : "", migrations[i].version);
    sb_puts(&known, "}");
    if (store_schema_versions(newest, known.p, &has_newest, unknown, sizeof(unknown), &err) < 0) {
        check_failed(rd, "schema", d, err.message);
    } else if (*unknown) {
        json_object_set_new(d, "unknown", json_string(unknown));
        snprintf(why, sizeof(why),
                 "the database has migrations this binary does not know (%s): a newer release "
                 "migrated it; upgrade this host",
                 unknown);
        check_failed(rd, "schema", d, why);
    } else if (!has_newest) {
        snprintf(why, sizeof(why), "migration %s is not applied: run 'loopgate migrate'", newest);
        check_failed(rd, "schema", d, why);
    } else {
        check_ok(rd, "schema", d);
    }
    sb_free(&known);
}

static void check_listener(struct ready *rd)
{
    int64_t down_ms = 0;
    char why[160];

    if (notify_listening(&down_ms)) {
        check_ok(rd, "listener", json_object());
        return;
    }
    snprintf(why, sizeof(why),
             "this process has had no LISTEN connection to the database for %lld ms; it is "
             "reconnecting",
             (long long)down_ms);
    check_failed(rd, "listener", json_pack("{s:I}", "down_ms", (json_int_t)down_ms), why);
}

static void check_delivery(struct ready *rd, const struct config *cfg)
{
    struct lg_error err;
    long count = 0, oldest = 0;
    char kinds[256], why[512];
    json_t *d = json_pack("{s:i}", "max_age_s", cfg->ready_outbox_max_age);

    if (store_outbox_stuck(cfg->ready_outbox_max_age, &count, &oldest, kinds, sizeof(kinds), &err) <
        0) {
        check_failed(rd, "delivery", d, err.message);
        return;
    }
    json_object_set_new(d, "stuck", json_integer(count));
    if (count == 0) {
        check_ok(rd, "delivery", d);
        return;
    }
    json_object_set_new(d, "oldest_s", json_integer(oldest));
    json_object_set_new(d, "kinds", json_string(kinds));
    snprintf(why, sizeof(why),
             "%ld deliveries (%s) due or failing for more than %d s, the oldest for %ld s: is "
             "Telegram reachable, and does any worker run delivery threads?",
             count, kinds, cfg->ready_outbox_max_age, oldest);
    check_failed(rd, "delivery", d, why);
}

static void check_telegram(struct ready *rd, const struct config *cfg)
{
    int64_t bot = tg_token_bot_id(cfg->telegram_bot_token);
    struct lg_error err;
    char why[256], msg[320];
    int rc;

    if (!*cfg->telegram_bot_token) {
        check_ok(rd, "telegram", json_pack("{s:b}", "configured", 0));
        return;
    }
    rc = store_tg_bot_state(bot, why, sizeof(why), &err);
    if (rc < 0) {
        check_failed(rd, "telegram", json_pack("{s:b}", "configured", 1), err.message);
    } else if (rc == 1) {
        snprintf(msg, sizeof(msg), "Telegram refused the bot token (%s): set a valid token", why);
        check_failed(rd, "telegram",
                     json_pack("{s:b, s:I}", "configured", 1, "bot_id", (json_int_t)bot), msg);
    } else {
        check_ok(rd, "telegram",
                 json_pack("{s:b, s:I}", "configured", 1, "bot_id", (json_int_t)bot));
    }
}

void health_readyz(struct http_req *r)
{
    struct ready rd = {json_object(), json_array()};
    struct lg_error err;
    bool ready;

    if (store_ping(&err) < 0) {
        check_failed(&rd, "database", json_object(), err.message);
        check_skipped(&rd, "schema");
        check_listener(&rd);
        check_skipped(&rd, "delivery");
        check_skipped(&rd, "telegram");
    } else {
        check_ok(&rd, "database", json_object());
        check_schema(&rd);
        check_listener(&rd);
        check_delivery(&rd, r->cfg);
        check_telegram(&rd, r->cfg);
    }
    ready = json_array_size(rd.failing) == 0;
    http_send_json_hdr(r, ready ? 200 : 503,
                       json_pack("{s:s, s:s, s:o, s:o}", "status", ready ? "ready" : "not_ready",
                                 "version", LOOPGATE_VERSION, "checks", rd.checks, "failing",
                                 rd.failing),
                       ready ? NULL : "Retry-After: 5\r\n");
}

/* ---------------------------------------------------------------- /health */

/*
 * Add the Telegram part of /health to `out` (returned): {"configured":
 * false} without a token; else "ok" and, when Telegram refused the token,
 * its "error" and the overall status "degraded" (still 200: the service
 * answers agents, and a balancer should not take it out; Telegram needs an
 * operator).
 */
static json_t *health_telegram(const struct config *cfg, json_t *out)
{
    int64_t bot = tg_token_bot_id(cfg->telegram_bot_token);
    struct lg_error err;
    char why[256];
    int rc;

    if (!*cfg->telegram_bot_token) {
        json_object_set_new(out, "telegram", json_pack("{s:b}", "configured", 0));
        return out;
    }
    rc = store_tg_bot_state(bot, why, sizeof(why), &err);
    if (rc == 1) {
        json_object_set_new(out, "status", json_string("degraded"));
        json_object_set_new(out, "telegram",
                            json_pack("{s:b, s:b, s:I, s:s}", "configured", 1, "ok", 0, "bot_id",
                                      (json_int_t)bot, "error", why));
    } else {
        json_object_set_new(out, "telegram",
                            json_pack("{s:b, s:b, s:I}", "configured", 1, "ok", rc == 0, "bot_id",
                                      (json_int_t)bot));
    }
    return out;
}

void health_get(struct http_req *r)
{
    struct lg_error err;

    if (store_ping(&err) < 0) {
        http_send_json_hdr(r, 503,
                           json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "status", "unavailable",
                                     "database", "unreachable", "version", LOOPGATE_VERSION,
                                     "error", "code", err.code, "message", err.message),
                           "Retry-After: 1\r\n");
        return;
    }
    http_send_json(
        r, 200,
        health_telegram(r->cfg, json_pack("{s:s, s:s, s:s}", "status", "healthy", "database", "ok",
                                          "version", LOOPGATE_VERSION)));
}
