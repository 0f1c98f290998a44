/*
 * store_tg.c - Telegram updates, presses, bots and the update window; see
 * store_tg.h.
 *
 * Statements are prepared per connection on first use (db_run), in the
 * range of the prepared set that store_internal.h gives this file.
 */
#include "store_tg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "metrics.h"
#include "store_internal.h"

/* The approvers of a request's session, for a query over `requests r`. */
#define SESSION_APPROVERS                                                                          \
    "(SELECT s.approvers::text FROM sessions s"                                                    \
    "  WHERE s.tenant = r.tenant AND s.session_id = r.session_id)"

/* The approvers of the session a request was escalated to (021), "{}" when none. */
#define ESC_APPROVERS                                                                              \
    "coalesce((SELECT s.approvers::text FROM sessions s"                                           \
    "  WHERE s.tenant = r.tenant AND s.session_id = r.escalate_to), '{}')"

enum {
    S_TG_UPDATE_SEEN,
    S_TG_REQUEST_LOCK,
    S_TG_REQUEST_BY_MESSAGE,
    S_TG_PRESS,
    S_TG_DECIDED,
    S_TG_ENQUEUE,
    S_TG_AUDIT,
    S_TG_CHAT_PENDING,
    S_TG_CHAT_SESSIONS,
    S_TG_REFUSED,
    S_TG_BOT_REFUSED,
    S_TG_BOT_ACCEPTED,
    S_TG_BOT_STATE,
    S_TG_ADOPT_UNOWNED,
    S_COUNT
};

static const struct db_stmt stmts[] = {
    [S_TG_UPDATE_SEEN] = {"tg_update_seen",
                          "INSERT INTO tg_updates (bot_id, update_id)"
                          " VALUES ($2::bigint, $1::bigint)"
                          " ON CONFLICT DO NOTHING RETURNING 1",
                          false},
    [S_TG_REQUEST_LOCK] = {"tg_request_lock",
                           "SELECT " REQ_COLS ", tenant, " SESSION_APPROVERS ","
                           " expires_at <= now(), tg_bot_id, " ESC_APPROVERS " FROM requests r"
                           " WHERE id = $1::uuid FOR UPDATE",
                           false},
    [S_TG_REQUEST_BY_MESSAGE] = {"tg_request_by_message",
                                 "SELECT " REQ_COLS ", tenant, " SESSION_APPROVERS ","
                                 " expires_at <= now(), tg_bot_id, " ESC_APPROVERS
                                 " FROM requests r"
                                 " WHERE id = coalesce("
                                 "   (SELECT id FROM requests WHERE telegram_chat_id = $1::bigint"
                                 "      AND telegram_message_id = $2::bigint"
                                 /* this exact bot's: bot 0 is nobody's (017) */
                                 "      AND tg_bot_id = $3::bigint),"
                                 /* or its escalation message (021) */
                                 "   (SELECT id FROM requests WHERE esc_chat_id = $1::bigint"
                                 "      AND esc_message_id = $2::bigint"
                                 "      AND esc_bot_id = $3::bigint)) FOR UPDATE",
                                 false},
    [S_TG_PRESS] = {"tg_press",
                    "SELECT tg_press($11::bigint, $1::bigint, $2::uuid, $3::integer, $4::bigint,"
                    " $5::bigint, $6::bigint, $7, $8::bigint[], $9::boolean, $10),"
                    /* for the decision_seconds of metrics.h */
                    " (SELECT extract(epoch FROM now() - created_at) FROM requests"
                    "   WHERE id = $2::uuid),"
                    " (SELECT request_type FROM requests WHERE id = $2::uuid)",
                    false},
    [S_TG_DECIDED] = {"tg_decided",
                      "SELECT tg_decided($1::uuid, $2, $3::boolean, $4::bigint, $5, $6, $7::jsonb,"
                      " $8::jsonb, $9::jsonb, $10, $11::jsonb),"
                      /* for the decision_seconds of metrics.h */
                      " (SELECT extract(epoch FROM now() - created_at) FROM requests"
                      "   WHERE id = $1::uuid),"
                      " (SELECT request_type FROM requests WHERE id = $1::uuid)",
                      false},
    [S_TG_ENQUEUE] = {"tg_enqueue",
                      "INSERT INTO outbox (kind, request_id, chat_id, payload, priority)"
                      " VALUES ($1, $2::uuid, $3::bigint, $4::jsonb, $5::smallint)",
                      false},
    [S_TG_AUDIT] = {"tg_audit",
                    "INSERT INTO audit_log (tenant, request_id, session_id, actor, action, detail)"
                    " VALUES ($1, $2::uuid, $3, $4, $5, $6::jsonb)",
                    false},
    /* the chat's own requests, and those escalated to it (021) */
    [S_TG_CHAT_PENDING] = {"tg_chat_pending",
                           "SELECT id::text, message, lg_ts(expires_at), created_at FROM requests"
                           " WHERE telegram_chat_id = $1::bigint AND status = 'pending'"
                           " UNION"
                           " SELECT id::text, message, lg_ts(expires_at), created_at FROM requests"
                           " WHERE esc_chat_id = $1::bigint AND esc_message_id IS NOT NULL"
                           "   AND status = 'pending'"
                           " ORDER BY 4 LIMIT 20",
                           true},
    [S_TG_CHAT_SESSIONS] = {"tg_chat_sessions",
                            "SELECT session_id, client_id, active, (SELECT count(*) FROM requests r"
                            "   WHERE r.tenant = s.tenant AND r.session_id = s.session_id"
                            "     AND r.status = 'pending')"
                            " FROM sessions s WHERE telegram_chat_id = $1::bigint"
                            " ORDER BY session_id LIMIT 20",
                            true},
    [S_TG_REFUSED] = {"tg_refused",
                      "INSERT INTO tg_updates (bot_id, update_id, refused)"
                      " VALUES ($1::bigint, $2::bigint, $3) ON CONFLICT (bot_id, update_id)"
                      " DO UPDATE SET refused = EXCLUDED.refused",
                      false},
    [S_TG_BOT_REFUSED] = {"tg_bot_refused",
                          /* true when this call found the token refused first */
                          "INSERT INTO tg_token_refused (token_sha256, bot_id, error)"
                          " VALUES ($1, $2::bigint, $3) ON CONFLICT (token_sha256)"
                          " DO UPDATE SET error = EXCLUDED.error RETURNING xmax = 0",
                          false},
    [S_TG_BOT_ACCEPTED] = {"tg_bot_accepted",
                           "DELETE FROM tg_token_refused WHERE token_sha256 = $1 RETURNING 1",
                           false},
    [S_TG_BOT_STATE] = {"tg_bot_state",
                        "SELECT error FROM tg_token_refused WHERE token_sha256 = $1", true},
    [S_TG_ADOPT_UNOWNED] = {"tg_adopt_unowned",
                            "SELECT tg_adopt_unowned($1::bigint), (SELECT bot_id FROM"
                            " tg_unowned_adopted)",
                            false},
};

_Static_assert(S_COUNT <= STORE_RANGE_SIZE, "store_tg: more statements than its range");
static const struct db_table T = {stmts, S_COUNT, STORE_TG};

/* The same for `n` integers (always an array: "{}" for none). */
static char *pg_int64_array(const int64_t *v, size_t n)
{
    size_t cap = 3 + n * 21, len = 1;
    char *out = xmalloc(cap);

    out[0] = '{';
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s%lld", i ? "," : "", (long long)v[i]);
    snprintf(out + len, cap - len, "}");
    return out;
}

/* Roll back and give back the connection of an update's transaction. */
static void tx_rollback(struct db_conn *tx)
{
    struct lg_error ignored;

    if (PQstatus(tx->pg) == CONNECTION_OK && PQtransactionStatus(tx->pg) != PQTRANS_IDLE)
        if (db_exec(tx, "ROLLBACK", &ignored) < 0)
            log_warn("could not roll back", "error=\"%s\"", ignored.message);
    db_release(tx);
}

/* Fill `out` from a row of S_TG_REQUEST_LOCK or S_TG_REQUEST_BY_MESSAGE. */
static void fill_tg_request(const PGresult *res, struct tg_request *out)
{
    store_row_to_request(res, 0, 0, &out->r);
    out->tenant = PQgetvalue(res, 0, REQ_NCOLS);
    out->approvers = PQgetvalue(res, 0, REQ_NCOLS + 1);
    out->expired = col_bool(res, 0, REQ_NCOLS + 2);
    out->bot_id = col_int(res, 0, REQ_NCOLS + 3);
    out->esc_approvers = PQgetvalue(res, 0, REQ_NCOLS + 4);
}

/* Fill `v` from `res`, the answer to the read of `u` (arrays freed by view_free). */
static void fill_view(const struct tg_update *u, const PGresult *res, struct tg_request *req,
                      struct tg_view *v)
{
    int n = res ? PQntuples(res) : 0;

    memset(v, 0, sizeof(*v));
    switch (u->read) {
    case TG_READ_REQUEST:
    case TG_READ_MESSAGE:
        if (n == 1) {
            fill_tg_request(res, req);
            v->request = req;
        }
        break;
    case TG_READ_CHAT_PENDING: {
        struct tg_chat_pending *p = xcalloc((size_t)n + 1, sizeof(*p));

        for (int i = 0; i < n; i++)
            p[i] = (struct tg_chat_pending){.id = PQgetvalue(res, i, 0),
                                            .message = PQgetvalue(res, i, 1),
                                            .expires_at = PQgetvalue(res, i, 2)};
        v->pending = p;
        v->npending = n;
        break;
    }
    case TG_READ_CHAT_SESSIONS: {
        struct tg_chat_session *s = xcalloc((size_t)n + 1, sizeof(*s));

        for (int i = 0; i < n; i++)
            s[i] = (struct tg_chat_session){.session_id = PQgetvalue(res, i, 0),
                                            .client_id = PQgetvalue(res, i, 1),
                                            .active = col_bool(res, i, 2),
                                            .pending = col_int(res, i, 3)};
        v->sessions = s;
        v->nsessions = n;
        break;
    }
    case TG_READ_NONE:
        break;
    }
}

static void view_free(struct tg_view *v)
{
    free((void *)v->pending);
    free((void *)v->sessions);
}

int tg_effects_audit(struct tg_effects *fx, const char *tenant, const char *request_id,
                     const char *session_id, int64_t user_id, const char *action, json_t *detail,
                     struct lg_error *err)
{
    struct tg_effect *e;

    if (fx->n == TG_EFFECTS_MAX) {
        json_decref(detail);
        return lg_fail(err, 500, "internal", "an update wrote more than %d rows", TG_EFFECTS_MAX);
    }
    e = &fx->row[fx->n++];
    memset(e, 0, sizeof(*e));
    e->action = action;
    e->tenant = tenant;
    e->request_id = request_id;
    e->session_id = session_id;
    snprintf(e->actor, sizeof(e->actor), "telegram:%lld", (long long)user_id);
    e->detail = detail;
    return 0;
}

int tg_effects_outbox(struct tg_effects *fx, const char *kind, int64_t chat_id, json_t *payload,
                      int priority, struct lg_error *err)
{
    struct tg_effect *e;

    if (fx->n == TG_EFFECTS_MAX) {
        json_decref(payload);
        return lg_fail(err, 500, "internal", "an update wrote more than %d rows", TG_EFFECTS_MAX);
    }
    e = &fx->row[fx->n++];
    memset(e, 0, sizeof(*e));
    e->kind = kind;
    e->chat_id = chat_id;
    e->payload = payload;
    e->priority = priority;
    return 0;
}

void tg_effects_clear(struct tg_effects *fx)
{
    for (int i = 0; i < fx->n; i++) {
        json_decref(fx->row[i].detail);
        json_decref(fx->row[i].payload);
    }
    memset(fx, 0, sizeof(*fx));
}

/*
 * A decision is on disk before anyone hears of it: its transaction commits
 * synchronously, whatever tg_decided (which asks for an asynchronous commit
 * of its transaction), the role or the server's default say. This step runs
 * after the decision and before its COMMIT.
 *
 * Why a synchronous commit and not a wake-up after the flush: an
 * asynchronous commit is visible to every reader at once, before its WAL is
 * flushed. Not only the listener's wake-up would tell an agent of it, but
 * also a plain poll, an MCP call, a coding agent's hook or a delivery thread
 * that claims the webhook row in that window; holding back one of them
 * would leave the others open. A synchronous commit becomes visible (and
 * sends its NOTIFY) only once flushed, so every reader is covered by one
 * rule. The cost is one WAL flush before the wake-up, the same flush that
 * was paid before Telegram's answer (concurrent decisions share it: group
 * commit). With synchronous standbys configured, `on` also waits for them.
 */
#define DECISION_DURABLE "SET LOCAL synchronous_commit = on"

/*
 * Count a Telegram decision in the metrics: `res` is the answer of
 * S_TG_PRESS or S_TG_DECIDED (the outcome, the seconds since submit, the
 * request's type: an input request's answer counts as "answered").
 */
static void tg_decision_seen(const PGresult *res)
{
    const char *v = PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "";

    if (strcmp(v, "approved") != 0 && strcmp(v, "denied") != 0)
        return;
    metrics_decided(strcmp(PQgetvalue(res, 0, 2), "input") == 0 ? METRICS_ANSWERED
                    : v[0] == 'a'                               ? METRICS_APPROVED
                                                                : METRICS_DENIED,
                    METRICS_CH_TELEGRAM, 1,
                    PQgetisnull(res, 0, 1) ? -1 : strtod(PQgetvalue(res, 0, 1), NULL));
}

/* The parameters of one effect's statement (S_TG_AUDIT or S_TG_ENQUEUE). */
struct effect_params {
    char chat[24], prio[8];
    char *json;
    const char *p[6];
};

/*
 * Write `fx` (its rows in order, then its decision, made durable) and
 * commit, in one round trip; `tx` is given back either way.
 */
static int write_effects(struct db_conn *tx, const struct tg_effects *fx, struct lg_error *err)
{
    const struct tg_decision *d = fx->decision;
    struct effect_params ep[TG_EFFECTS_MAX];
    struct db_step steps[TG_EFFECTS_MAX + 3];
    char uid[24];
    char *detail = d ? json_dumps(d->audit_detail, JSON_COMPACT) : NULL;
    char *answer = d && d->answer ? json_dumps(d->answer, JSON_COMPACT) : NULL;
    char *reply = d && d->reply ? json_dumps(d->reply, JSON_COMPACT) : NULL;
    char *params = d && d->params ? json_dumps(d->params, JSON_COMPACT) : NULL;
    const char *p[] = {d ? d->id : NULL,
                       d ? d->response : NULL,
                       d && d->approved ? "true" : "false",
                       uid,
                       d ? d->name : NULL,
                       d ? d->actor : NULL,
                       detail,
                       answer,
                       reply,
                       d ? d->reason : NULL,
                       params};
    int n = 0, rc;

    snprintf(uid, sizeof(uid), "%lld", d ? (long long)d->user_id : 0LL);
    for (int i = 0; i < fx->n; i++) {
        const struct tg_effect *e = &fx->row[i];
        struct effect_params *q = &ep[i];

        if (e->action) {
            q->json = e->detail ? json_dumps(e->detail, JSON_COMPACT) : NULL;
            q->p[0] = e->tenant;
            q->p[1] = e->request_id;
            q->p[2] = e->session_id;
            q->p[3] = e->actor;
            q->p[4] = e->action;
            q->p[5] = q->json;
            steps[n] = (struct db_step){.idx = S_TG_AUDIT, .n = 6, .params = q->p};
        } else {
            q->json = e->payload ? json_dumps(e->payload, JSON_COMPACT) : NULL;
            snprintf(q->chat, sizeof(q->chat), "%lld", (long long)e->chat_id);
            snprintf(q->prio, sizeof(q->prio), "%d", e->priority);
            q->p[0] = e->kind;
            q->p[1] = NULL;
            q->p[2] = q->chat;
            q->p[3] = q->json;
            q->p[4] = q->prio;
            steps[n] = (struct db_step){.idx = S_TG_ENQUEUE, .n = 5, .params = q->p};
        }
        n++;
    }
    if (d) {
        steps[n] = (struct db_step){.idx = S_TG_DECIDED, .n = 11, .params = p};
        steps[n + 1] = (struct db_step){.sql = DECISION_DURABLE};
        n += 2;
    }
    steps[n] = (struct db_step){.sql = "COMMIT"};
    n++;
    rc = db_batch(tx, &T, steps, n, err);
    for (int i = 0; i < fx->n; i++)
        free(ep[i].json);
    free(detail);
    free(answer);
    free(reply);
    free(params);
    if (rc < 0) {
        tx_rollback(tx);
        return -1;
    }
    if (d)
        tg_decision_seen(steps[n - 3].res);
    for (int i = 0; i < n; i++)
        PQclear(steps[i].res);
    db_release(tx);
    return 0;
}

int store_tg_update(const struct tg_update *u, tg_plan *plan, void *ctx, struct tg_effects *fx,
                    struct lg_error *err)
{
    char uid[24], bot[24], chat[24], mid[24], mbot[24];
    const char *p_seen[] = {uid, bot}, *p_id[] = {u->request_id}, *p_msg[] = {chat, mid, mbot};
    const char *p_chat[] = {chat};
    struct db_step steps[3] = {{.sql = "BEGIN"},
                               {.idx = S_TG_UPDATE_SEEN, .n = 2, .params = p_seen}};
    struct tg_request req;
    struct tg_view view;
    struct db_conn *tx;
    PGresult *read;
    int n = 3, rc;

    memset(fx, 0, sizeof(*fx));
    snprintf(uid, sizeof(uid), "%lld", (long long)u->update_id);
    snprintf(bot, sizeof(bot), "%lld", (long long)u->bot_id);
    snprintf(chat, sizeof(chat), "%lld", (long long)u->chat_id);
    snprintf(mid, sizeof(mid), "%lld", (long long)u->message_id);
    snprintf(mbot, sizeof(mbot), "%lld", (long long)u->message_bot);
    switch (u->read) {
    case TG_READ_REQUEST:
        steps[2] = (struct db_step){.idx = S_TG_REQUEST_LOCK, .n = 1, .params = p_id};
        break;
    case TG_READ_MESSAGE:
        steps[2] = (struct db_step){.idx = S_TG_REQUEST_BY_MESSAGE, .n = 3, .params = p_msg};
        break;
    case TG_READ_CHAT_PENDING:
        steps[2] = (struct db_step){.idx = S_TG_CHAT_PENDING, .n = 1, .params = p_chat};
        break;
    case TG_READ_CHAT_SESSIONS:
        steps[2] = (struct db_step){.idx = S_TG_CHAT_SESSIONS, .n = 1, .params = p_chat};
        break;
    case TG_READ_NONE:
        n = 2;
        break;
    }
    if (!(tx = db_acquire(err)))
        return -1;
    if (db_batch(tx, &T, steps, n, err) < 0) {
        tx_rollback(tx);
        return -1;
    }
    PQclear(steps[0].res);
    rc = PQntuples(steps[1].res) == 1 ? 0 : 1;
    PQclear(steps[1].res);
    read = n == 3 ? steps[2].res : NULL;
    if (rc == 1) {
        PQclear(read);
        tx_rollback(tx);
        return 1;
    }
    fill_view(u, read, &req, &view);
    rc = plan(ctx, &view, fx, err);
    if (rc == 0)
        rc = write_effects(tx, fx, err);
    else
        tx_rollback(tx);
    view_free(&view);
    PQclear(read);
    return rc < 0 ? -1 : 0;
}

int store_tg_press(const struct tg_press *press, bool *approved, struct lg_error *err)
{
    char upd[24], idx[12], chat[24], mid[24], user[24], bot[24];
    char *allow = pg_int64_array(press->allow, press->nallow);
    const char *p[] = {upd,
                       press->request_id,
                       idx,
                       chat,
                       mid,
                       user,
                       press->name,
                       allow,
                       press->group_any ? "true" : "false",
                       press->callback_query_id,
                       bot};
    struct db_step steps[] = {{.sql = "BEGIN"},
                              {.idx = S_TG_PRESS, .n = 11, .params = p},
                              {.sql = DECISION_DURABLE},
                              {.sql = "COMMIT"}};
    struct db_conn *tx;
    PGresult *res;
    const char *v;
    int rc = 2;

    snprintf(upd, sizeof(upd), "%lld", (long long)press->update_id);
    snprintf(idx, sizeof(idx), "%d", press->option);
    snprintf(chat, sizeof(chat), "%lld", (long long)press->chat_id);
    snprintf(mid, sizeof(mid), "%lld", (long long)press->message_id);
    snprintf(user, sizeof(user), "%lld", (long long)press->user_id);
    snprintf(bot, sizeof(bot), "%lld", (long long)press->bot_id);
    if (!(tx = db_acquire(err))) {
        free(allow);
        return -1;
    }
    if (db_batch(tx, &T, steps, 4, err) < 0) {
        free(allow);
        tx_rollback(tx);
        return -1;
    }
    free(allow);
    db_release(tx);
    PQclear(steps[0].res);
    PQclear(steps[2].res);
    PQclear(steps[3].res);
    res = steps[1].res;
    v = PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "";
    if (!strcmp(v, "approved") || !strcmp(v, "denied")) {
        *approved = v[0] == 'a';
        rc = 0;
        tg_decision_seen(res);
    } else if (!strcmp(v, "repeat")) {
        rc = 1;
    } else if (!strcmp(v, "voted")) {
        rc = 3;
    } else if (!strcmp(v, "already")) {
        rc = 4;
    }
    PQclear(res);
    return rc;
}

int store_tg_refused(int64_t bot_id, int64_t update_id, const char *why, struct lg_error *err)
{
    char b[24], u[24];
    const char *p[] = {b, u, why};

    snprintf(b, sizeof(b), "%lld", (long long)bot_id);
    snprintf(u, sizeof(u), "%lld", (long long)update_id);
    return store_run_void(&T, S_TG_REFUSED, 3, p, err);
}

int store_tg_bot_refused(const char *fingerprint, int64_t bot_id, const char *error,
                         struct lg_error *err)
{
    char b[24];
    const char *p[] = {fingerprint, b, error};
    PGresult *res;
    int rc;

    snprintf(b, sizeof(b), "%lld", (long long)bot_id);
    res = store_run(&T, S_TG_BOT_REFUSED, 3, p, err);
    if (!res)
        return -1;
    rc = col_bool(res, 0, 0) ? 1 : 0;
    PQclear(res);
    return rc;
}

int store_tg_bot_accepted(const char *fingerprint, struct lg_error *err)
{
    const char *p[] = {fingerprint};
    PGresult *res;
    int rc;

    res = store_run(&T, S_TG_BOT_ACCEPTED, 1, p, err);
    if (!res)
        return -1;
    rc = PQntuples(res) > 0 ? 1 : 0;
    PQclear(res);
    return rc;
}

int store_tg_bot_state(const char *fingerprint, char *error, size_t len, struct lg_error *err)
{
    const char *p[] = {fingerprint};
    PGresult *res;
    int rc = 0;

    res = store_run(&T, S_TG_BOT_STATE, 1, p, err);
    if (!res)
        return -1;
    if (PQntuples(res) == 1) {
        utf8_strlcpy(error, PQgetvalue(res, 0, 0), len);
        rc = 1;
    }
    PQclear(res);
    return rc;
}

int store_tg_adopt_unowned(int64_t bot_id, int64_t *owner, int *adopted, struct lg_error *err)
{
    char b[24];
    const char *p[] = {b};
    PGresult *res;

    snprintf(b, sizeof(b), "%lld", (long long)bot_id);
    res = store_run(&T, S_TG_ADOPT_UNOWNED, 1, p, err);
    if (!res)
        return -1;
    *adopted = PQgetisnull(res, 0, 0) ? -1 : (int)col_int(res, 0, 0);
    /* the subquery reads the snapshot from before the call: a claim made now is not in it */
    *owner = *adopted >= 0 ? bot_id : PQgetisnull(res, 0, 1) ? 0 : col_int(res, 0, 1);
    PQclear(res);
    return 0;
}
