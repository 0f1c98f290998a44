/*
 * store_outbox.c - the outbox: its lanes, leases, outcomes and Telegram
 * pacing; see store_outbox.h.
 *
 * Statements are prepared per connection on first use (db_run), in the
 * range of the prepared set that store_internal.h gives this file.
 */
#include "store_outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "store_internal.h"

enum {
    S_OUTBOX_CLAIM,
    S_OUTBOX_NEXT_DUE,
    S_OUTBOX_CLAIM_WEBHOOK,
    S_OUTBOX_RENEW,
    S_DELIVERY_SENT,
    S_ESCALATION_SENT,
    S_OUTBOX_DONE,
    S_OUTBOX_RECOVERED,
    S_OUTBOX_RETRY,
    S_OUTBOX_FAIL,
    S_PACE_DELAY,
    S_WEBHOOK_DONE,
    S_WEBHOOK_RETRY,
    S_WEBHOOK_FAIL,
    S_OUTBOX_DEPTH,
    S_COUNT
};

static const struct db_stmt stmts[] = {
    /* the Telegram lane (sql/functions/outbox_claim_tg.sql) */
    [S_OUTBOX_CLAIM] = {"outbox_claim_tg",
                        "SELECT id, kind, request_id::text, chat_id, payload::text, attempts"
                        " FROM outbox_claim_tg($1::int, make_interval(secs => $6::int),"
                        "   make_interval(secs => $2::float8 / 1000),"
                        "   make_interval(secs => $3::float8 / 1000),"
                        "   make_interval(secs => $4::float8 / 1000), $5::int)",
                        false},
    /*
     * The next due row, and when the bot may send at all: its own next time,
     * a free slot. With nothing queued (the usual answer) the bot's slots are
     * not read: the next kick looks, and this is asked again if it finds
     * the bot busy.
     */
    [S_OUTBOX_NEXT_DUE] =
        {"outbox_next_due",
         /* NULL when nothing is queued (GREATEST would skip it) */
         "SELECT CASE WHEN d IS NULL THEN NULL ELSE GREATEST(0, ceil(extract("
         "epoch FROM d - clock_timestamp()) * 1000))::bigint END,"
         /* a slot never used is free from '-infinity': now bounds it below */
         " CASE WHEN d IS NULL THEN 0 ELSE ceil(extract(epoch FROM GREATEST(clock_timestamp(),"
         "   (SELECT next_at FROM tg_pace WHERE key = 'bot'),"
         "   (SELECT CASE WHEN count(*) < $1::int THEN NULL ELSE min(free_at) END"
         "    FROM tg_bot_slots WHERE slot < $1::int)) - clock_timestamp()) * 1000)::bigint END"
         " FROM (SELECT outbox_next_due_tg($1::int) AS d OFFSET 0) x",
         true},
    [S_OUTBOX_CLAIM_WEBHOOK] = {"outbox_claim_webhook",
                                "SELECT o_id, o_request_id::text, o_attempts, o_tenant, o_host"
                                " FROM outbox_claim_webhook(make_interval(secs => $1::int),"
                                "   $2::int, $3::int)",
                                false},
    [S_OUTBOX_RENEW] = {"outbox_renew",
                        "SELECT outbox_renew($1::bigint, $2::int, make_interval(secs => $3::int))",
                        false},
    [S_DELIVERY_SENT] =
        {"delivery_sent",
         "WITH r AS (UPDATE requests SET telegram_message_id = $3::bigint, tg_state = 'sent',"
         "             tg_bot_id = $5::bigint,"
         "             tg_attempts = tg_attempts + 1, tg_error = NULL, tg_sent_at = now(),"
         "             tg_buttons = $4::jsonb, tg_cut = $6::boolean"
         "           WHERE id = $2::uuid RETURNING id, status, telegram_chat_id),"
         " o AS (UPDATE outbox SET state = 'done', done_at = now(), leased_until = NULL,"
         "         last_error = NULL WHERE id = $1::bigint)"
         /* decided while the message was on its way: show the decision now */
         " INSERT INTO outbox (kind, request_id, chat_id, priority)"
         " SELECT 'tg_edit', id, telegram_chat_id, 3 FROM r WHERE status <> 'pending'",
         false},
    /*
     * tg_escalate succeeded (021): the escalation message, recorded for the
     * chat the request was escalated to, and a note replying to it that says
     * why it came ("Escalated: no decision after 30 min", a tg_text that
     * names the request: sent while it is pending); decided while it was on
     * its way: its edit is queued now.
     */
    [S_ESCALATION_SENT] =
        {"escalation_sent",
         "WITH r AS (UPDATE requests SET esc_message_id = $3::bigint, esc_bot_id = $4::bigint"
         "           WHERE id = $2::uuid AND esc_chat_id = $5::bigint"
         "           RETURNING id, status, esc_chat_id, esc_message_id, created_at, escalated_at),"
         " o AS (UPDATE outbox SET state = 'done', done_at = now(), leased_until = NULL,"
         "         last_error = NULL WHERE id = $1::bigint),"
         " n AS (INSERT INTO outbox (kind, request_id, chat_id, payload, priority)"
         "       SELECT 'tg_text', id, esc_chat_id, jsonb_build_object('text',"
         "         'Escalated: no decision after ' || lg_duration(extract(epoch FROM"
         "           escalated_at - created_at)::bigint), 'reply_parameters',"
         "         jsonb_build_object('message_id', esc_message_id,"
         "           'allow_sending_without_reply', true)), 4"
         "       FROM r WHERE status = 'pending')"
         " INSERT INTO outbox (kind, request_id, chat_id, payload, priority)"
         " SELECT 'tg_edit', id, esc_chat_id, '{\"escalation\": true}', 3 FROM r"
         " WHERE status <> 'pending'",
         false},
    [S_OUTBOX_DONE] = {"outbox_done",
                       "UPDATE outbox SET state = 'done', done_at = now(), leased_until = NULL"
                       " WHERE id = $1::bigint",
                       false},
    [S_OUTBOX_RECOVERED] = {"outbox_recovered",
                            /* Telegram answers again: what waits out a backoff may go now */
                            "UPDATE outbox SET next_attempt_at = now()"
                            " WHERE state = 'queued' AND kind LIKE 'tg\\_%' AND attempts > 0"
                            "   AND next_attempt_at > now() AND last_error NOT LIKE '429%'",
                            false},
    [S_OUTBOX_RETRY] =
        {"outbox_retry",
         "WITH o AS (UPDATE outbox SET leased_until = NULL, last_error = $3,"
         "             next_attempt_at = now() + make_interval(secs => $2::float8 / 1000)"
         "           WHERE id = $1::bigint RETURNING kind, request_id)"
         " UPDATE requests r SET tg_attempts = tg_attempts + 1, tg_error = $3"
         " FROM o WHERE o.kind = 'tg_send' AND r.id = o.request_id",
         false},
    [S_OUTBOX_FAIL] =
        {"outbox_fail",
         "WITH o AS (UPDATE outbox SET state = $2, leased_until = NULL, last_error = $3,"
         "             done_at = now()"
         "           WHERE id = $1::bigint RETURNING kind, request_id)"
         " UPDATE requests r SET tg_state = CASE WHEN $2 = 'failed' THEN 'failed' ELSE 'skipped' "
         "END,"
         "   tg_attempts = tg_attempts + CASE WHEN $2 = 'failed' THEN 1 ELSE 0 END,"
         "   tg_error = $3"
         " FROM o WHERE o.kind = 'tg_send' AND r.id = o.request_id",
         false},
    [S_PACE_DELAY] = {"pace_delay",
                      "INSERT INTO tg_pace VALUES ($1, now() + make_interval(secs => $2::int))"
                      " ON CONFLICT (key) DO UPDATE SET next_at ="
                      "   GREATEST(tg_pace.next_at, EXCLUDED.next_at)",
                      false},
    [S_WEBHOOK_DONE] = {"webhook_done",
                        "WITH o AS (UPDATE outbox SET state = 'done', done_at = now(),"
                        "             leased_until = NULL, last_error = NULL"
                        "           WHERE id = $1::bigint RETURNING request_id)"
                        " UPDATE requests r SET cb_state = 'delivered', cb_error = NULL,"
                        "   cb_attempts = cb_attempts + 1, cb_delivered_at = now()"
                        " FROM o WHERE r.id = o.request_id",
                        false},
    [S_WEBHOOK_RETRY] =
        {"webhook_retry",
         /* retried until the row is $4 seconds old, then failed for good */
         "WITH o AS (UPDATE outbox SET leased_until = NULL, last_error = $3,"
         "             next_attempt_at = now() + make_interval(secs => $2::float8 / 1000),"
         "             state = CASE WHEN created_at < now() - make_interval(secs => $4::int)"
         "                     THEN 'failed' ELSE state END,"
         "             done_at = CASE WHEN created_at < now() - make_interval(secs => $4::int)"
         "                       THEN now() END"
         "           WHERE id = $1::bigint RETURNING request_id, state)"
         " UPDATE requests r SET cb_attempts = cb_attempts + 1, cb_error = $3,"
         "   cb_state = CASE WHEN o.state = 'failed' THEN 'failed' ELSE 'queued' END"
         " FROM o WHERE r.id = o.request_id",
         false},
    [S_WEBHOOK_FAIL] = {"webhook_fail",
                        "WITH o AS (UPDATE outbox SET state = 'failed', done_at = now(),"
                        "             leased_until = NULL, last_error = $2"
                        "           WHERE id = $1::bigint RETURNING request_id)"
                        " UPDATE requests r SET cb_state = 'failed', cb_error = $2,"
                        "   cb_attempts = cb_attempts + 1"
                        " FROM o WHERE r.id = o.request_id",
                        false},
    /* for /metrics: the queued rows (the claim's partial index), per kind */
    [S_OUTBOX_DEPTH] = {"outbox_depth",
                        "SELECT kind, count(*), extract(epoch FROM now() - min(created_at))"
                        " FROM outbox WHERE state = 'queued' GROUP BY kind",
                        true},
};

_Static_assert(S_COUNT <= STORE_RANGE_SIZE, "store_outbox: more statements than its range");
static const struct db_table T = {stmts, S_COUNT, STORE_OUTBOX};

int store_outbox_claim(int limit, int lease_s, const struct pace *pace, struct outbox_row *out,
                       struct lg_error *err)
{
    char lim[16], cg[16], gg[16], bg[16], br[16], ls[16];
    const char *p[] = {lim, cg, gg, bg, br, ls};
    PGresult *res;
    int n;

    snprintf(lim, sizeof(lim), "%d", limit);
    snprintf(cg, sizeof(cg), "%d", pace->chat_gap_ms);
    snprintf(gg, sizeof(gg), "%d", pace->group_gap_ms);
    snprintf(bg, sizeof(bg), "%d", pace->bot_gap_ms);
    snprintf(br, sizeof(br), "%d", pace->bot_rate);
    snprintf(ls, sizeof(ls), "%d", lease_s);
    res = store_run(&T, S_OUTBOX_CLAIM, 6, p, err);
    if (!res)
        return -1;
    n = PQntuples(res);
    for (int i = 0; i < n && i < limit; i++) {
        struct outbox_row *o = &out[i];
        const char *rid = col(res, i, 2), *payload = col(res, i, 4);
        memset(o, 0, sizeof(*o));
        o->id = col_int(res, i, 0);
        lg_strlcpy(o->kind, PQgetvalue(res, i, 1), sizeof(o->kind));
        lg_strlcpy(o->request_id, rid ? rid : "", sizeof(o->request_id));
        o->chat_id = col_int(res, i, 3);
        o->payload = payload ? json_loads(payload, 0, NULL) : NULL;
        o->attempts = (int)col_int(res, i, 5);
    }
    PQclear(res);
    return n < limit ? n : limit;
}

int store_outbox_claim_webhook(int lease_s, int tenant_cap, int host_cap, struct outbox_row *out,
                               struct lg_error *err)
{
    char ls[16], tc[16], hc[16];
    const char *p[] = {ls, tc, hc};
    PGresult *res;
    int n;

    snprintf(ls, sizeof(ls), "%d", lease_s);
    snprintf(tc, sizeof(tc), "%d", tenant_cap);
    snprintf(hc, sizeof(hc), "%d", host_cap);
    res = store_run(&T, S_OUTBOX_CLAIM_WEBHOOK, 3, p, err);
    if (!res)
        return -1;
    n = PQntuples(res) > 0 ? 1 : 0;
    if (n) {
        const char *rid = col(res, 0, 1), *tenant = col(res, 0, 3), *host = col(res, 0, 4);
        memset(out, 0, sizeof(*out));
        out->id = col_int(res, 0, 0);
        lg_strlcpy(out->kind, "webhook", sizeof(out->kind));
        lg_strlcpy(out->request_id, rid ? rid : "", sizeof(out->request_id));
        out->attempts = (int)col_int(res, 0, 2);
        lg_strlcpy(out->tenant, tenant ? tenant : "", sizeof(out->tenant));
        lg_strlcpy(out->host, host ? host : "", sizeof(out->host));
    }
    PQclear(res);
    return n;
}

int store_outbox_renew(const struct outbox_row *o, int lease_s, struct lg_error *err)
{
    char oid[24], att[16], ls[16];
    const char *p[] = {oid, att, ls};
    PGresult *res;
    int rc;

    snprintf(oid, sizeof(oid), "%lld", (long long)o->id);
    snprintf(att, sizeof(att), "%d", o->attempts);
    snprintf(ls, sizeof(ls), "%d", lease_s);
    res = store_run(&T, S_OUTBOX_RENEW, 3, p, err);
    if (!res)
        return -1;
    rc = !strcmp(PQgetvalue(res, 0, 0), "t") ? 0 : 1;
    PQclear(res);
    return rc;
}

int64_t store_outbox_next_due_ms(int bot_rate, int64_t *paced_ms, struct lg_error *err)
{
    char br[16];
    const char *p[] = {br};
    PGresult *res;
    int64_t ms;

    snprintf(br, sizeof(br), "%d", bot_rate);
    res = store_run(&T, S_OUTBOX_NEXT_DUE, 1, p, err);
    if (!res)
        return -2;
    ms = PQgetisnull(res, 0, 0) ? -1 : col_int(res, 0, 0);
    *paced_ms = col_int(res, 0, 1);
    PQclear(res);
    return ms;
}

int store_delivery_sent(int64_t outbox_id, const char *request_id, int64_t bot_id,
                        int64_t message_id, json_t *buttons, bool cut, bool *queued,
                        struct lg_error *err)
{
    char oid[24], mid[24], bot[24];
    char *b = buttons ? json_dumps(buttons, JSON_COMPACT) : NULL;
    const char *p[] = {oid, request_id, mid, b, bot, cut ? "true" : "false"};
    PGresult *res;

    *queued = false;
    snprintf(oid, sizeof(oid), "%lld", (long long)outbox_id);
    snprintf(mid, sizeof(mid), "%lld", (long long)message_id);
    snprintf(bot, sizeof(bot), "%lld", (long long)bot_id);
    res = store_run(&T, S_DELIVERY_SENT, 6, p, err);
    free(b);
    if (!res)
        return -1;
    *queued = strcmp(PQcmdTuples(res), "0") != 0; /* the edit of a request decided meanwhile */
    PQclear(res);
    return 0;
}

int store_escalation_sent(int64_t outbox_id, const char *request_id, int64_t chat_id,
                          int64_t bot_id, int64_t message_id, bool *queued, struct lg_error *err)
{
    char oid[24], mid[24], bot[24], chat[24];
    const char *p[] = {oid, request_id, mid, bot, chat};
    PGresult *res;

    *queued = false;
    snprintf(oid, sizeof(oid), "%lld", (long long)outbox_id);
    snprintf(mid, sizeof(mid), "%lld", (long long)message_id);
    snprintf(bot, sizeof(bot), "%lld", (long long)bot_id);
    snprintf(chat, sizeof(chat), "%lld", (long long)chat_id);
    res = store_run(&T, S_ESCALATION_SENT, 5, p, err);
    if (!res)
        return -1;
    *queued = strcmp(PQcmdTuples(res), "0") != 0;
    PQclear(res);
    return 0;
}

int store_outbox_done(int64_t outbox_id, struct lg_error *err)
{
    char oid[24];
    const char *p[] = {oid};

    snprintf(oid, sizeof(oid), "%lld", (long long)outbox_id);
    return store_run_void(&T, S_OUTBOX_DONE, 1, p, err);
}

int store_outbox_recovered(struct lg_error *err)
{
    return store_run_void(&T, S_OUTBOX_RECOVERED, 0, NULL, err);
}

int store_outbox_retry(int64_t outbox_id, int delay_ms, const char *error, struct lg_error *err)
{
    char oid[24], delay[16];
    const char *p[] = {oid, delay, error};

    snprintf(oid, sizeof(oid), "%lld", (long long)outbox_id);
    snprintf(delay, sizeof(delay), "%d", delay_ms);
    return store_run_void(&T, S_OUTBOX_RETRY, 3, p, err);
}

int store_outbox_fail(int64_t outbox_id, const char *state, const char *error, struct lg_error *err)
{
    char oid[24];
    const char *p[] = {oid, state, error};

    snprintf(oid, sizeof(oid), "%lld", (long long)outbox_id);
    return store_run_void(&T, S_OUTBOX_FAIL, 3, p, err);
}

int store_pace_delay(const char *key, int seconds, struct lg_error *err)
{
    char secs[16];
    const char *p[] = {key, secs};

    snprintf(secs, sizeof(secs), "%d", seconds);
    return store_run_void(&T, S_PACE_DELAY, 2, p, err);
}

int store_webhook_done(int64_t outbox_id, struct lg_error *err)
{
    char oid[24];
    const char *p[] = {oid};

    snprintf(oid, sizeof(oid), "%lld", (long long)outbox_id);
    return store_run_void(&T, S_WEBHOOK_DONE, 1, p, err);
}

int store_webhook_retry(int64_t outbox_id, int delay_ms, const char *error, int window_s,
                        struct lg_error *err)
{
    char oid[24], delay[16], win[16];
    const char *p[] = {oid, delay, error, win};

    snprintf(oid, sizeof(oid), "%lld", (long long)outbox_id);
    snprintf(delay, sizeof(delay), "%d", delay_ms);
    snprintf(win, sizeof(win), "%d", window_s);
    return store_run_void(&T, S_WEBHOOK_RETRY, 4, p, err);
}

int store_webhook_fail(int64_t outbox_id, const char *error, struct lg_error *err)
{
    char oid[24];
    const char *p[] = {oid, error};

    snprintf(oid, sizeof(oid), "%lld", (long long)outbox_id);
    return store_run_void(&T, S_WEBHOOK_FAIL, 2, p, err);
}

int store_outbox_depth(store_outbox_depth_fn *each, void *ctx, struct lg_error *err)
{
    PGresult *res = store_run(&T, S_OUTBOX_DEPTH, 0, NULL, err);

    if (!res)
        return -1;
    for (int i = 0; i < PQntuples(res); i++)
        each(ctx, PQgetvalue(res, i, 0), col_int(res, i, 1), strtod(PQgetvalue(res, i, 2), NULL));
    PQclear(res);
    return 0;
}
