/*
 * telegram_cli.c - `loopgate telegram`: the webhook's set-up at Telegram,
 * and `poll`, which fetches updates with getUpdates and hands each to
 * telegram_accept_update as the webhook does (telegram.h).
 */
#include "telegram.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "log.h"
#include "store_tg.h"
#include "tg.h"

static volatile sig_atomic_t poll_stop;

static void on_stop(int sig)
{
    (void)sig;
    poll_stop = 1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: loopgate telegram set-webhook [--drop-pending]\n"
            "       loopgate telegram delete-webhook [--drop-pending]\n"
            "       loopgate telegram webhook-info\n"
            "       loopgate telegram poll\n\n"
            "set-webhook     tells Telegram to POST updates to PUBLIC_URL + telegram_webhook_path\n"
            "                with TELEGRAM_WEBHOOK_SECRET, for messages and button presses\n"
            "delete-webhook  stops webhook delivery (needed before poll)\n"
            "webhook-info    shows what Telegram has (URL, pending updates, last error)\n"
            "poll            fetches updates with getUpdates and handles them like the webhook\n"
            "                does, for machines Telegram cannot reach; runs until SIGTERM\n\n"
            "All but poll read the bot token and webhook secret from the secrets file too\n"
            "(secrets_file, /etc/loopgate/secrets.env, the service's EnvironmentFile); poll,\n"
            "a service, gets it from systemd.\n");
}

static int call_and_print(struct tg_client *tg, const char *method, json_t *params)
{
    struct tg_result res;
    char *out;

    tg_call(tg, method, params, &res);
    json_decref(params);
    if (res.outcome != TG_OK) {
        fprintf(stderr, "loopgate telegram: %s failed: %s\n", method, res.error);
        return 1;
    }
    out = json_dumps(res.result, JSON_INDENT(2) | JSON_ENCODE_ANY);
    printf("%s\n", out ? out : "true");
    free(out);
    json_decref(res.result);
    return 0;
}

/* Sleep `ms` milliseconds, or less when asked to stop. */
static void poll_pause(int64_t ms)
{
    int64_t end = now_ms() + ms;

    while (!poll_stop && now_ms() < end) {
        int64_t left = end - now_ms();
        usleep((useconds_t)(left > 200 ? 200000 : left * 1000));
    }
}

#define POLL_MIN_GAP_MS 1000 /* between two getUpdates calls that brought nothing */
#define POLL_TOKEN_RECHECK_MS (5 * 60 * 1000)

/*
 * True when `v` nests at most `max` arrays/objects deep. The recursion
 * stops at `max` + 1 levels, so it is bounded whatever `v` holds.
 */
static bool nested_within(json_t *v, int max)
{
    const char *k;
    json_t *c;
    size_t i;

    if (!json_is_object(v) && !json_is_array(v))
        return true;
    if (max <= 0)
        return false;
    if (json_is_object(v)) {
        json_object_foreach(v, k, c)
        {
            if (!nested_within(c, max - 1))
                return false;
        }
    } else {
        json_array_foreach(v, i, c)
        {
            if (!nested_within(c, max - 1))
                return false;
        }
    }
    return true;
}

static int poll_loop(const struct config *cfg, struct tg_client *tg)
{
    json_int_t offset = 0;
    struct sigaction sa;
    bool refused = false, adopted = false;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    db_pool_init(cfg->db_uri, 2);
    log_info("polling Telegram for updates", "%s", "");
    while (!poll_stop) {
        if (!adopted)
            adopted = telegram_adopt_unowned(tg->bot_id) == 0;
        json_t *params = json_pack("{s:I, s:i, s:[s,s]}", "offset", offset, "timeout", 10,
                                   "allowed_updates", "message", "callback_query");
        struct tg_result res;
        struct lg_error err;
        int64_t started = now_ms();
        size_t i;
        json_t *u;

        tg_call_timeout(tg, "getUpdates", params, 20, &res);
        json_decref(params);
        if (res.outcome == TG_TOKEN_REFUSED) {
            /* One clear line, /health shows it, and Telegram is asked again rarely. */
            if (!refused)
                log_error("Telegram refused the bot token; polling again every few minutes",
                          "bot=%lld error=\"%s\"", (long long)tg->bot_id, res.error);
            refused = true;
            if (store_tg_bot_refused(tg->token_fp, tg->bot_id, res.error, &err) < 0)
                log_warn("could not record a refused bot token", "error=\"%s\"", err.message);
            poll_pause(POLL_TOKEN_RECHECK_MS);
            continue;
        }
        if (res.outcome != TG_OK) {
            log_warn("getUpdates failed", "error=\"%s\"", res.error);
            if (res.http_status == 409)
                log_error("a webhook is set; run 'loopgate telegram delete-webhook' to poll", "%s",
                          "");
            poll_pause(res.outcome == TG_RATE_LIMITED ? res.retry_after * 1000LL : 2000);
            continue;
        }
        if (refused) {
            refused = false;
            log_info("Telegram accepts the bot token again", "bot=%lld", (long long)tg->bot_id);
            if (store_tg_bot_accepted(tg->token_fp, &err) < 0)
                log_warn("could not record an accepted bot token", "error=\"%s\"", err.message);
        }
        json_array_foreach(res.result, i, u)
        {
            json_int_t id = json_integer_value(json_object_get(u, "update_id"));
            /* The webhook refuses the same update before parsing it (parse_json_object). */
            if (!nested_within(u, LG_JSON_DEPTH_MAX)) {
                log_warn("update refused",
                         "update_id=%lld error=\"JSON nested deeper than %d levels\"",
                         (long long)id, LG_JSON_DEPTH_MAX);
                offset = id + 1;
                continue;
            }
            /*
             * Retry an update while the database cannot take it; one that can
             * never be processed is recorded as refused and passed over.
             */
            while (telegram_accept_update(cfg, u, &err) < 0 && !poll_stop) {
                if (err.status < 500) {
                    log_warn("update rejected", "update_id=%lld error=\"%s\"", (long long)id,
                             err.message);
                    break;
                }
                log_warn("could not handle update; retrying", "update_id=%lld error=\"%s\"",
                         (long long)id, err.message);
                poll_pause(1000);
            }
            if (poll_stop)
                break;
            offset = id + 1; /* the last one taken, even below an earlier one */
        }
        /* A Bot API that answers at once with nothing must not make this spin. */
        if (json_array_size(res.result) == 0 && now_ms() - started < POLL_MIN_GAP_MS)
            poll_pause(POLL_MIN_GAP_MS - (now_ms() - started));
        json_decref(res.result);
    }
    db_pool_shutdown();
    log_info("stopped polling", "%s", "");
    return 0;
}

int telegram_main(struct config *cfg, int argc, char **argv)
{
    struct tg_client tg;
    bool drop = argc > 2 && !strcmp(argv[2], "--drop-pending");
    int rc;

    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!*cfg->telegram_bot_token && cfg->secrets_state == SECRETS_OFF) {
        fprintf(stderr,
                "loopgate telegram %s: no bot token; as a service it does not read the secrets "
                "file (systemd gives it the unit's EnvironmentFile): start it as the unit does "
                "(systemctl start loopgate-telegram-poll), or export the file first "
                "(set -a; . %s; set +a), or set TELEGRAM_BOT_TOKEN or telegram_bot_token\n",
                argv[1],
                cfg->secrets_file && *cfg->secrets_file ? cfg->secrets_file
                                                        : "/etc/loopgate/secrets.env");
        return 2;
    }
    if (!*cfg->telegram_bot_token) {
        fprintf(stderr,
                "loopgate telegram: no bot token; put TELEGRAM_BOT_TOKEN=... in the secrets file "
                "(secrets_file%s%s%s), or set TELEGRAM_BOT_TOKEN or telegram_bot_token\n",
                cfg->secrets_state == SECRETS_OFF ? "" : ", ", cfg->secrets_path,
                cfg->secrets_state == SECRETS_UNREADABLE ? ", which could not be read"
                : cfg->secrets_state == SECRETS_NONE     ? ", absent"
                                                         : "");
        return 2;
    }
    if (tg_client_init(&tg, cfg) < 0) {
        fprintf(stderr, "loopgate telegram: could not create an HTTP client\n");
        return 1;
    }
    if (!strcmp(argv[1], "set-webhook")) {
        if (!*cfg->public_url || strncmp(cfg->public_url, "https://", 8) != 0 ||
            !*cfg->telegram_webhook_secret) {
            fprintf(stderr, "loopgate telegram: set-webhook needs PUBLIC_URL (https://...) and "
                            "TELEGRAM_WEBHOOK_SECRET\n");
            rc = 2;
        } else {
            struct sbuf url = {0};
            size_t n = strlen(cfg->public_url);
            sb_append(&url, cfg->public_url, n && cfg->public_url[n - 1] == '/' ? n - 1 : n);
            sb_puts(&url, cfg->telegram_webhook_path);
            rc = call_and_print(&tg, "setWebhook",
                                json_pack("{s:s, s:s, s:[s,s], s:i, s:b}", "url", url.p,
                                          "secret_token", cfg->telegram_webhook_secret,
                                          "allowed_updates", "message", "callback_query",
                                          "max_connections", 40, "drop_pending_updates", drop));
            if (rc == 0)
                fprintf(stderr, "webhook set to %s\n", url.p);
            sb_free(&url);
        }
    } else if (!strcmp(argv[1], "delete-webhook")) {
        rc = call_and_print(&tg, "deleteWebhook", json_pack("{s:b}", "drop_pending_updates", drop));
    } else if (!strcmp(argv[1], "webhook-info")) {
        rc = call_and_print(&tg, "getWebhookInfo", json_object());
    } else if (!strcmp(argv[1], "poll")) {
        rc = poll_loop(cfg, &tg);
    } else {
        fprintf(stderr, "loopgate telegram: unknown command '%s'\n", argv[1]);
        usage(stderr);
        rc = 2;
    }
    tg_client_free(&tg);
    return rc;
}
