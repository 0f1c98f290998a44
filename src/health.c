/*
 * health.c - see health.h.
 *
 * Each check of /readyz adds {"ok": true|false|null, ...} under its name to
 * "checks"; a false one also adds its name to "failing" (or, for what is the
 * same on every host, to "warnings") and an "error" saying what is wrong in
 * words an operator acts on. Nothing here writes.
 *
 * Probes are bounded: their database statements run in probe mode (db.h:
 * a short wait for a pooled connection, statement and lock timeouts), at
 * most PROBES_MAX /readyz run at once in a process, and one more answers at
 * once with the last result (or 503 when there is none recent). A locked
 * table or a slow database so costs a balancer's probe a few seconds, never
 * the pool of the agents' requests.
 */
#include "health.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "migrate.h"
#include "notify.h"
#include "store.h"
#include "store_tg.h"
#include "tg.h"
#include "version.h"

void health_livez(struct http_req *r)
{
    http_send_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

/* ---------------------------------------------------------------- /readyz */

#define PROBES_MAX 2
#define LAST_MAX_AGE_MS 10000

struct ready {
    json_t *checks;
    json_t *failing;
    json_t *warnings;
    bool busy; /* a statement found the database busy: the checks after it are skipped */
};

static struct {
    pthread_mutex_t lock;
    int running;   /* /readyz probes in flight in this process */
    int status;    /* the last answer: 0 for none yet */
    char *body;    /* its body (JSON text) */
    int64_t at_ms; /* when it was made (now_ms) */
} probes = {.lock = PTHREAD_MUTEX_INITIALIZER};

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

/* A check that failed on what every host shares: a warning, not a reason to take this host out. */
static void check_warned(struct ready *rd, const char *name, json_t *detail, const char *error)
{
    json_object_set_new(detail, "ok", json_false());
    json_object_set_new(detail, "error", json_string(error));
    json_object_set_new(rd->checks, name, detail);
    json_array_append_new(rd->warnings, json_string(name));
}

static void check_skipped(struct ready *rd, const char *name, const char *why)
{
    json_object_set_new(rd->checks, name, json_pack("{s:n, s:s}", "ok", "error", why));
}

/* A database read of a check failed: the database check itself fails when it was busy. */
static void read_failed(struct ready *rd, const char *name, json_t *detail,
                        const struct lg_error *err)
{
    if (strcmp(err->code, "database_busy") == 0) {
        rd->busy = true;
        check_skipped(rd, name, "not checked: the database is busy");
        json_decref(detail);
        check_failed(rd, "database", json_pack("{s:b}", "busy", 1), err->message);
        return;
    }
    check_failed(rd, name, detail, err->message);
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
        read_failed(rd, "schema", d, &err);
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
    char why[160], other[512];
    struct db_identity listen, uri;

    if (notify_listening(&down_ms) && notify_route() == NOTIFY_ROUTE_POOLER) {
        check_failed(rd, "listener", json_pack("{s:b}", "through_pooler", 1),
                     "the LISTEN connection (db_listen_uri) goes through a connection pooler: "
                     "notifications may go to other clients and waiters are woken late; point "
                     "db_listen_uri at PostgreSQL itself");
        return;
    }
    if (notify_listening(&down_ms) && notify_route() == NOTIFY_ROUTE_OTHER_DB &&
        notify_identities(&listen, &uri)) {
        snprintf(other, sizeof(other),
                 "the LISTEN connection (db_listen_uri) reaches database %s (system identifier "
                 "%s, id %s), not db_uri's %s (system identifier %s, id %s): notifications are "
                 "sent where nobody listens and the janitor does not run; point db_listen_uri at "
                 "db_uri's database on PostgreSQL itself",
                 listen.database, listen.system, listen.id, uri.database, uri.system, uri.id);
        check_failed(rd, "listener",
                     json_pack("{s:b,s:{s:s,s:s,s:s},s:{s:s,s:s,s:s}}", "other_database", 1,
                               "db_listen_uri", "database", listen.database, "system_identifier",
                               listen.system, "id", listen.id, "db_uri", "database", uri.database,
                               "system_identifier", uri.system, "id", uri.id),
                     other);
        return;
    }
    if (notify_listening(&down_ms) && notify_route() == NOTIFY_ROUTE_UNKNOWN) {
        check_failed(rd, "listener", json_pack("{s:b}", "compared", 0),
                     "the listener has not yet compared the database db_listen_uri reaches with "
                     "db_uri's (db_uri's could not be read); it asks again every second");
        return;
    }
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

    if (rd->busy) {
        json_decref(d);
        check_skipped(rd, "delivery", "not checked: the database is busy");
        return;
    }
    if (store_outbox_stuck(cfg->ready_outbox_max_age, &count, &oldest, kinds, sizeof(kinds), &err) <
        0) {
        read_failed(rd, "delivery", d, &err);
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
    check_warned(rd, "delivery", d, why);
}

static void check_telegram(struct ready *rd, const struct config *cfg)
{
    int64_t bot = tg_token_bot_id(cfg->telegram_bot_token);
    struct lg_error err;
    char why[256], msg[320], fp[65];
    int rc;

    if (!*cfg->telegram_bot_token) {
        check_ok(rd, "telegram", json_pack("{s:b}", "configured", 0));
        return;
    }
    if (rd->busy) {
        check_skipped(rd, "telegram", "not checked: the database is busy");
        return;
    }
    tg_token_fingerprint(cfg, fp);
    rc = store_tg_bot_state(fp, why, sizeof(why), &err);
    if (rc < 0) {
        read_failed(rd, "telegram", json_pack("{s:b}", "configured", 1), &err);
    } else if (rc == 1) {
        snprintf(msg, sizeof(msg), "Telegram refused the bot token (%s): set a valid token", why);
        check_warned(rd, "telegram",
                     json_pack("{s:b, s:I}", "configured", 1, "bot_id", (json_int_t)bot), msg);
    } else {
        check_ok(rd, "telegram",
                 json_pack("{s:b, s:I}", "configured", 1, "bot_id", (json_int_t)bot));
    }
}

/* The body of /readyz, and its status in *status. */
static json_t *readyz_checks(const struct config *cfg, int *status)
{
    struct ready rd = {json_object(), json_array(), json_array(), false};
    struct lg_error err;
    const char *skip = "not checked: the database is unreachable";
    bool ready;

    if (store_ping(&err) < 0) {
        bool busy = strcmp(err.code, "database_busy") == 0;

        if (busy)
            skip = "not checked: the database is busy";
        check_failed(&rd, "database", json_pack("{s:b}", "busy", busy), err.message);
        check_skipped(&rd, "schema", skip);
        check_listener(&rd);
        check_skipped(&rd, "delivery", skip);
        check_skipped(&rd, "telegram", skip);
    } else {
        check_ok(&rd, "database", json_object());
        check_schema(&rd);
        check_listener(&rd);
        check_delivery(&rd, cfg);
        check_telegram(&rd, cfg);
    }
    ready = json_array_size(rd.failing) == 0;
    *status = ready ? 200 : 503;
    return json_pack("{s:s, s:s, s:o, s:o, s:o}", "status", ready ? "ready" : "not_ready",
                     "version", LOOPGATE_VERSION, "checks", rd.checks, "failing", rd.failing,
                     "warnings", rd.warnings);
}

void health_readyz(struct http_req *r)
{
    json_t *body;
    char *text;
    int status = 0;

    pthread_mutex_lock(&probes.lock);
    if (probes.running >= PROBES_MAX) {
        /* Enough probes wait on the database already: the last answer, or 503 at once. */
        if (probes.status && now_ms() - probes.at_ms < LAST_MAX_AGE_MS) {
            status = probes.status;
            body = json_loads(probes.body, 0, NULL);
        } else {
            body = NULL;
        }
        pthread_mutex_unlock(&probes.lock);
        if (!body) {
            status = 503;
            body = json_pack(
                "{s:s, s:s, s:{s:{s:b, s:b, s:s}}, s:[s], s:[]}", "status", "not_ready", "version",
                LOOPGATE_VERSION, "checks", "database", "ok", 0, "busy", 1, "error",
                "the database is busy: earlier probes of this process still wait for it", "failing",
                "database", "warnings");
        }
        http_send_json_hdr(r, status, body, status == 200 ? NULL : "Retry-After: 5\r\n");
        return;
    }
    probes.running++;
    pthread_mutex_unlock(&probes.lock);

    db_probe_begin();
    body = readyz_checks(r->cfg, &status);
    db_probe_end();
    text = json_dumps(body, JSON_COMPACT);

    pthread_mutex_lock(&probes.lock);
    probes.running--;
    if (text) {
        free(probes.body);
        probes.body = text;
        probes.status = status;
        probes.at_ms = now_ms();
    }
    pthread_mutex_unlock(&probes.lock);
    http_send_json_hdr(r, status, body, status == 200 ? NULL : "Retry-After: 5\r\n");
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
    char why[256], fp[65];
    int rc;

    if (!*cfg->telegram_bot_token) {
        json_object_set_new(out, "telegram", json_pack("{s:b}", "configured", 0));
        return out;
    }
    tg_token_fingerprint(cfg, fp);
    rc = store_tg_bot_state(fp, why, sizeof(why), &err);
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
    json_t *body;

    db_probe_begin();
    if (store_ping(&err) < 0) {
        db_probe_end();
        http_send_json_hdr(
            r, 503,
            json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "status", "unavailable", "database",
                      strcmp(err.code, "database_busy") == 0 ? "busy" : "unreachable", "version",
                      LOOPGATE_VERSION, "error", "code", err.code, "message", err.message),
            "Retry-After: 1\r\n");
        return;
    }
    body = health_telegram(r->cfg, json_pack("{s:s, s:s, s:s}", "status", "healthy", "database",
                                             "ok", "version", LOOPGATE_VERSION));
    db_probe_end();
    http_send_json(r, 200, body);
}
