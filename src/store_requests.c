/*
 * store_requests.c - requests: submit, poll, pending, cancel, callbacks,
 * expiry; see store_requests.h.
 *
 * Statements are prepared per connection on first use (db_run), in the
 * range of the prepared set that store_internal.h gives this file.
 */
#include "store_requests.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "metrics.h"
#include "shape.h"
#include "policy.h"
#include "store_policy.h"
#include "submit_batch.h"
#include "store_internal.h"

/*
 * What a poll answers (shape_poll), read by row_to_poll. The hottest
 * statement: its timestamps come as PostgreSQL prints them (db.c fixes
 * DateStyle and TimeZone) and are put in the API's form here; lg_ts()'s
 * to_char made the statement a fifth slower (pgbench, 4 clients).
 */
#define POLL_COLS                                                                                  \
    "id::text, status, response, approved, request_type, created_at, expires_at, responded_at, "   \
    "responder_id, responder_name, tg_state, tg_attempts, tg_error, tg_sent_at, "                  \
    "telegram_message_id, callback_url, cb_state, cb_attempts, cb_error, cb_delivered_at, "        \
    "approvals_required, " VOTES_JSON ", " PARAMS_COLS ", reminders, escalated_at IS NOT NULL"
#define POLL_TENANT 26 /* the column after POLL_COLS, where a statement adds the tenant */

/* What a submit answers (shape_submitted), read by row_to_submitted. */
#define SUBMITTED_COLS                                                                             \
    "id, status, lg_ts(created_at) AS created_t, lg_ts(expires_at) AS expires_t, request_type, "   \
    "timeout_seconds"
#define SUBMITTED_NCOLS 6

enum {
    S_REQUEST_SUBMIT,
    S_REQUEST_BY_IDEM,
    S_REQUEST_BY_HOOK,
    S_REQUEST_POLL,
    S_POLL_ROWS,
    S_REQUEST_PENDING,
    S_REQUEST_CANCEL,
    S_REQUEST_ROW,
    S_EXPIRE,
    S_CALLBACK_SET,
    S_NUDGE,
    S_PENDING_TOTAL,
    S_COUNT
};

static const struct db_stmt stmts[] = {
    /*
     * Every submit of a batch (write_batch) in one statement and one commit:
     * $1 is a JSON array of requests, $2 the pending limit. One row per
     * request, in order: the new request, or NULLs with whether the session
     * is active and how many requests were pending. A request counts against
     * the limit with the pending requests of its tenant and those before it in
     * the batch; ids are drawn first so that RETURNING rows find their request.
     * The audit rows are written after every request, in tenant order: each
     * takes its tenant's chain head until the commit (sql/functions/
     * audit_log_chain.sql), and batches that take heads in one order never
     * wait on each other.
     */
    [S_REQUEST_SUBMIT] =
        {"request_submit",
         "WITH b AS MATERIALIZED (SELECT x.*, gen_random_uuid() AS id"
         "   FROM ROWS FROM (jsonb_to_recordset($1::jsonb) AS (t text, s text, c text, m text,"
         "          rt text, o jsonb, md jsonb, ts int, ot text, cb text, ik text, bh text,"
         "          a text, ap boolean[], nq int, dv boolean, pa jsonb, psc jsonb, ra int,"
         "          ea int, et text, tl text, ti jsonb, ag text, pid bigint, pok boolean, hk text))"
         "   WITH ORDINALITY AS x(t, s, c, m, rt, o, md, ts, ot, cb, ik, bh, a, ap, nq, dv, pa,"
         "          psc, ra, ea, et, tl, ti, ag, pid, pok, hk, ord)),"
         " p AS (SELECT tenant, sum(n) AS n FROM tenant_pending"
         "       WHERE tenant IN (SELECT t FROM b) GROUP BY tenant),"
         " e AS MATERIALIZED (SELECT b.*, s.active, s.telegram_chat_id AS chat,"
         /*
          * A rule (policy.h) decided it, when the rule is still live: then it
          * is inserted completed, with the rule's decision and no message.
          */
         "          CASE WHEN b.pid IS NOT NULL THEN EXISTS (SELECT 1 FROM policies po"
         "            WHERE po.id = b.pid AND po.tenant = b.t AND po.revoked_at IS NULL"
         "            AND (po.expires_at IS NULL OR po.expires_at > now())) ELSE false END AS pol,"
         /*
          * Reminder and escalation (021): the request's own, else the
          * session's defaults where they fit before the timeout (a default
          * that does not is not applied); 0 (escalate_to "") is none. A
          * named escalate_to must be an active session of the tenant (esc_ok).
          */
         "          CASE WHEN b.ra IS NOT NULL THEN nullif(b.ra, 0)"
         "               WHEN s.remind_after_seconds < b.ts THEN s.remind_after_seconds END AS ra2,"
         "          CASE WHEN b.et IS NOT NULL THEN nullif(b.ea, 0)"
         "               WHEN s.escalate_after_seconds < b.ts AND s.escalate_to <> b.s"
         "               THEN s.escalate_after_seconds END AS ea2,"
         "          coalesce(b.et, s.escalate_to) AS et2,"
         "          coalesce(b.et, '') = '' OR EXISTS (SELECT 1 FROM sessions es"
         "            WHERE es.tenant = b.t"
         "            AND es.session_id = b.et AND es.active) AS esc_ok,"
         /* a quorum needs that many distinct approvers in the session */
         "          coalesce(b.nq, 1) <= 1"
         "          OR (SELECT count(DISTINCT a) FROM unnest(s.approvers) a)"
         "             + (SELECT count(DISTINCT a) FROM unnest(s.console_approvers) a) >= b.nq"
         "             AS quorate,"
         "          COALESCE(p.n, 0) AS n, CASE WHEN s.active THEN COALESCE(p.n, 0)"
         "            + count(*) FILTER (WHERE s.active) OVER (PARTITION BY b.t ORDER BY b.ord)"
         "          END AS nth"
         "   FROM b LEFT JOIN sessions s ON s.tenant = b.t AND s.session_id = b.s"
         "   LEFT JOIN p ON p.tenant = b.t),"
         " ins AS (INSERT INTO requests (id, tenant, session_id, client_id, message, request_type,"
         "           options, metadata, timeout_seconds, expires_at, on_timeout, callback_url,"
         "           idempotency_key, body_hash, option_approve, telegram_chat_id, "
         "approvals_required,"
         "           deny_vetoes, params, params_schema, remind_after_seconds, remind_at,"
         "           escalate_after_seconds, escalate_to, escalate_at, tool, tool_input,"
         "           agent_session, status, response, approved, responder_name, responded_at,"
         "           cb_state, tg_state, hook_key)"
         "         SELECT id, t, s, c, m, rt, o, md, ts, now() + make_interval(secs => ts), ot, cb,"
         "                ik, bh, ap, chat, coalesce(nq, 1), coalesce(dv, true), pa, psc,"
         "                ra2, CASE WHEN NOT pol THEN now() + make_interval(secs => ra2) END, ea2,"
         "                CASE WHEN ea2 IS NOT NULL THEN et2 END,"
         "                CASE WHEN NOT pol THEN now() + make_interval(secs => ea2) END,"
         "                tl, ti, ag,"
         "                CASE WHEN pol THEN 'completed' ELSE 'pending' END,"
         "                CASE WHEN pol THEN CASE WHEN pok THEN 'Allowed' ELSE 'Denied' END"
         "                  || ' by rule ' || pid END, pol AND coalesce(pok, false),"
         "                CASE WHEN pol THEN 'rule ' || pid END, CASE WHEN pol THEN now() END,"
         "                CASE WHEN pol AND cb IS NOT NULL THEN 'queued' ELSE 'none' END,"
         /* not sent to Telegram without a bot or a chat: answered in the console (022) */
         "                CASE WHEN pol THEN 'skipped'"
         "                     WHEN $3::boolean AND chat IS NOT NULL THEN 'queued'"
         "                     ELSE 'console' END,"
         "                hk"
         "         FROM e WHERE (nth <= $2::int OR pol) AND quorate AND esc_ok ORDER BY ord"
         /*
          * A known Idempotency-Key, or a hook call already pending (029,
          * requests_hook_pending): not inserted; the caller answers the
          * request that holds it.
          */
         "         ON CONFLICT DO NOTHING"
         "         RETURNING " SUBMITTED_COLS ", tenant, session_id, telegram_chat_id, tg_state,"
         "           callback_url),"
         /* a rule's decision follows its request's submit in the trail */
         " au AS (INSERT INTO audit_log (tenant, request_id, session_id, actor, action, detail)"
         "        SELECT tenant, id, session_id, actor, action, detail FROM ("
         "          SELECT ins.tenant, id, ins.session_id, e.a AS actor, 'submitted' AS action,"
         "                 NULL::jsonb AS detail, e.ord, 0 AS k"
         "          FROM ins JOIN e USING (id)"
         "          UNION ALL"
         "          SELECT ins.tenant, id, ins.session_id, 'policy:' || e.pid, 'decided',"
         "                 jsonb_build_object('policy_id', e.pid, 'action',"
         "                   CASE WHEN e.pok THEN 'allow' ELSE 'deny' END, 'tool', e.tl,"
         "                   'approved', e.pok, 'latency_ms', 0), e.ord, 1"
         "          FROM ins JOIN e USING (id) WHERE e.pol) x"
         "        ORDER BY tenant, ord, k),"
         " w AS (INSERT INTO outbox (kind, request_id, priority)"
         "       SELECT 'webhook', id, 2 FROM ins"
         "       WHERE status = 'completed' AND callback_url IS NOT NULL),"
         " o AS (INSERT INTO outbox (kind, request_id, chat_id)"
         "       SELECT 'tg_send', id, telegram_chat_id FROM ins WHERE tg_state = 'queued')"
         " SELECT ins.id::text, status, created_t, expires_t, request_type, timeout_seconds,"
         "   e.active, e.n, e.quorate, e.esc_ok, e.pol, e.pid"
         " FROM e LEFT JOIN ins USING (id) ORDER BY e.ord",
         false},
    /*
     * A hook call that arrives again while its request is pending (029): the
     * same tenant, key, session, tool and input, or nothing. Counting the
     * arrival tells an earlier waiter whose caller hung up that the call is
     * waited for elsewhere (S_REQUEST_CANCEL's $4).
     */
    [S_REQUEST_BY_HOOK] = {"request_by_hook",
                           "UPDATE requests SET hook_attach = hook_attach + 1"
                           " WHERE tenant = $1 AND hook_key = $2 AND status = 'pending'"
                           " AND session_id = $3 AND tool = $4 AND tool_input = $5::jsonb"
                           " RETURNING id::text, hook_attach",
                           false},
    /* with the rule that decided it at submit, if one did (policy.h) */
    [S_REQUEST_BY_IDEM] = {"request_by_idem",
                           "SELECT " REQ_COLS ", body_hash,"
                           " (SELECT actor FROM audit_log au WHERE au.request_id = requests.id"
                           "   AND au.action = 'decided' AND au.actor LIKE 'policy:%' LIMIT 1)"
                           " FROM requests WHERE tenant = $1 AND idempotency_key = $2",
                           true},
    /*
     * By primary key alone, the tenant compared by the caller: with `tenant =`
     * in the statement, a plan made while the table had no statistics walks
     * an index that leads with tenant (every request of the tenant), and
     * keeps doing so.
     */
    [S_REQUEST_POLL] = {"request_poll",
                        "SELECT " POLL_COLS ", tenant FROM requests WHERE id = $1::uuid", true},
    /* on the listener's connection: never reset (it would lose its LISTENs) */
    [S_POLL_ROWS] = {"poll_rows",
                     "SELECT " POLL_COLS ", tenant FROM requests WHERE id = ANY ($1::uuid[])",
                     false},
    [S_REQUEST_PENDING] = {"request_pending",
                           "SELECT " REQ_COLS " FROM requests"
                           " WHERE tenant = $1 AND status = 'pending'"
                           "   AND ($2::text IS NULL OR session_id = $2)"
                           " ORDER BY created_at LIMIT 1000",
                           true},
    [S_REQUEST_CANCEL] =
        {"request_cancel",
         "WITH u AS (UPDATE requests SET status = 'canceled', responded_at = now(),"
         "             updated_at = now(), cb_state = CASE WHEN callback_url IS NULL"
         "             THEN cb_state ELSE 'queued' END"
         "           WHERE id = $1::uuid AND tenant = $2 AND status = 'pending'"
         /* a hook's waiter: only while no later arrival of its call took it over (029) */
         "           AND ($4::int IS NULL OR hook_attach = $4::int)"
         "           RETURNING " REQ_COLS ", extract(epoch FROM now() - created_at) AS waited),"
         " a AS (INSERT INTO audit_log (tenant, request_id, session_id, actor, action, detail)"
         "       SELECT $2, rid::uuid, u.session_id, $3, 'canceled',"
         "              jsonb_build_object('latency_ms', lg_latency_ms(q.created_at))"
         "       FROM u JOIN requests q ON q.id = u.rid::uuid),"
         " e AS (INSERT INTO outbox (kind, request_id, chat_id, priority)"
         "       SELECT 'tg_edit', rid::uuid, tg_chat, 3 FROM u WHERE tg_msg IS NOT NULL),"
         /* and of its escalation message (021, request_escalation_edit) */
         " ee AS (INSERT INTO outbox (kind, request_id, chat_id, payload, priority)"
         "        SELECT 'tg_edit', rid::uuid, esc_chat_id, '{\"escalation\": true}', 3 FROM u"
         "        WHERE esc_message_id IS NOT NULL),"
         " w AS (INSERT INTO outbox (kind, request_id, priority)"
         "       SELECT 'webhook', rid::uuid, 2 FROM u WHERE callback_url IS NOT NULL)"
         " SELECT * FROM u",
         false},
    [S_REQUEST_ROW] = {"request_row",
                       "SELECT " REQ_COLS ", tenant FROM requests WHERE id = $1::uuid", true},
    [S_EXPIRE] = {"expire", "SELECT requests_expire($1::int)", false},
    [S_CALLBACK_SET] = {"callback_set",
                        "UPDATE requests SET callback_url = $3, updated_at = now()"
                        " WHERE id = $1::uuid AND tenant = $2 AND status = 'pending'"
                        " RETURNING 1",
                        false},
    [S_NUDGE] = {"nudge", "SELECT requests_nudge($1::int)", false},
    /* for /metrics: the counts the submit's pending limit keeps (010) */
    [S_PENDING_TOTAL] = {"pending_total", "SELECT coalesce(sum(n), 0)::bigint FROM tenant_pending",
                         true},
};

_Static_assert(S_COUNT <= STORE_RANGE_SIZE, "store_requests: more statements than its range");
static const struct db_table T = {stmts, S_COUNT, STORE_REQUESTS};

/* A timestamp column of POLL_COLS in the API's form, written to `buf`; NULL stays NULL. */
static const char *col_ts(const PGresult *res, int row, int c, char buf[28])
{
    const char *v = col(res, row, c);

    return v && pg_ts_iso(v, buf) == 0 ? buf : v;
}

/* Fill the fields of `r` that POLL_COLS (from column 0) carry; `ts` holds its times. */
static void row_to_poll(const PGresult *res, int row, struct lg_request *r, char ts[5][28])
{
    memset(r, 0, sizeof(*r));
    r->id = col(res, row, 0);
    r->status = col(res, row, 1);
    r->response = col(res, row, 2);
    r->approved = col_bool(res, row, 3);
    r->request_type = col(res, row, 4);
    r->created_at = col_ts(res, row, 5, ts[0]);
    r->expires_at = col_ts(res, row, 6, ts[1]);
    r->responded_at = col_ts(res, row, 7, ts[2]);
    r->responder_id = col_int(res, row, 8);
    r->responder_name = col(res, row, 9);
    r->tg_state = col(res, row, 10);
    r->tg_attempts = (int)col_int(res, row, 11);
    r->tg_error = col(res, row, 12);
    r->tg_sent_at = col_ts(res, row, 13, ts[3]);
    r->tg_message_id = col_int(res, row, 14);
    r->callback_url = col(res, row, 15);
    r->cb_state = col(res, row, 16);
    r->cb_attempts = (int)col_int(res, row, 17);
    r->cb_error = col(res, row, 18);
    r->cb_delivered_at = col_ts(res, row, 19, ts[4]);
    r->approvals_required = (int)col_int(res, row, 20);
    r->votes_json = col(res, row, 21);
    r->params_json = col(res, row, 22);
    r->edited = col_bool(res, row, 23);
    r->reminders = (int)col_int(res, row, 24);
    r->escalated = col_bool(res, row, 25);
}

/* Fill the fields of `r` that SUBMITTED_COLS (from column 0) carry. */
static void row_to_submitted(const PGresult *res, int row, struct lg_request *r)
{
    memset(r, 0, sizeof(*r));
    r->id = col(res, row, 0);
    r->status = col(res, row, 1);
    r->created_at = col(res, row, 2);
    r->expires_at = col(res, row, 3);
    r->request_type = col(res, row, 4);
    r->timeout_seconds = (int)col_int(res, row, 5);
}

/*
 * The request a reused Idempotency-Key names: the same body gets the same
 * answer, another body a 409. Returns 1 when no request has that key.
 */
static int idempotent_replay(const struct actor *who, const char *idem_key, const char *body_hash,
                             json_t **out, struct lg_error *err)
{
    const char *p[] = {who->tenant, idem_key};
    PGresult *res = store_run(&T, S_REQUEST_BY_IDEM, 2, p, err);
    struct lg_request r;
    int rc = 0;

    if (!res)
        return -1;
    if (PQntuples(res) == 0) {
        rc = 1;
    } else if (strcmp(PQgetvalue(res, 0, REQ_NCOLS), body_hash) != 0) {
        rc = lg_fail(err, 409, "idempotency_conflict",
                     "Idempotency-Key was already used with a different body");
    } else {
        store_row_to_request(res, 0, 0, &r);
        *out = shape_submitted(&r);
        json_object_set_new(*out, "status", json_string(r.status));
        json_object_set_new(*out, "idempotent_replay", json_true());
        if (!PQgetisnull(res, 0, REQ_NCOLS + 1))
            json_object_set_new(*out, "decided_by", json_string(PQgetvalue(res, 0, REQ_NCOLS + 1)));
    }
    PQclear(res);
    return rc;
}

static json_t *submit_item(const struct actor *who, const struct submit_in *in,
                           const char *idem_key, const char *body_hash)
{
    json_t *approve = json_null(), *item;

    if (in->options) {
        approve = json_array();
        for (size_t i = 0; i < json_array_size(in->options) && i < OPTIONS_MAX; i++)
            json_array_append_new(approve, json_boolean(in->approve[i]));
    }
    item = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:O*, s:O*, s:i, s:s, s:s*, s:s*, s:s*, s:s, s:o, s:i, s:b}",
        "t", who->tenant, "s", in->session_id, "c", in->client_id, "m", in->message, "rt",
        in->request_type, "o", in->options, "md", in->metadata, "ts", in->timeout_seconds, "ot",
        in->on_timeout, "cb", in->callback_url, "ik", idem_key, "bh", idem_key ? body_hash : NULL,
        "a", who->name, "ap", approve, "nq",
        in->approvals_required > 0 ? in->approvals_required : 1, "dv", in->deny_vetoes);
    /* The params and their schema (020), when the request has them. */
    if (item && in->params)
        json_object_set(item, "pa", in->params);
    if (item && in->params_schema)
        json_object_set(item, "psc", in->params_schema);

    /* Reminder and escalation (021): absent, the session's defaults apply; 0 is none. */
    if (item && in->remind_after_seconds >= 0)
        json_object_set_new(item, "ra", json_integer(in->remind_after_seconds));
    if (item && in->escalate_to) {
        json_object_set_new(item, "ea", json_integer(in->escalate_after_seconds));
        json_object_set_new(item, "et", json_string(in->escalate_to));
    }

    /* The tool call a coding agent asks about (025), when it says. */
    if (item && in->tool)
        json_object_set_new(item, "tl", json_string(in->tool));
    if (item && in->tool_input)
        json_object_set(item, "ti", in->tool_input);
    if (item && in->agent_session)
        json_object_set_new(item, "ag", json_string(in->agent_session));
    /* a hook call's key (029): a second arrival while it is pending is not inserted */
    if (item && in->hook_key)
        json_object_set_new(item, "hk", json_string(in->hook_key));
    return item;
}

/*
 * The tenant's rules on a request with a tool (policy.h): an allow or a deny
 * is added to its batch item ("pid", "pok"), which the batch inserts
 * decided when the rule is still live. A rule allows only a confirmation (a
 * yes: without options, or with one that approves) or a choice with exactly
 * one approving option (with several: which one?), needing one person,
 * whose Telegram message would not be cut: any other (an input request
 * above all) is asked. Requests without a tool never come here.
 */
static int policy_verdict(const struct actor *who, const struct submit_in *in, json_t *item,
                          struct lg_error *err)
{
    enum policy_action act = POLICY_ASK;
    int64_t rule = 0;
    int rc = store_policy_match(who->tenant, in->session_id, in->agent_session, in->tool,
                                in->tool_input, &act, &rule, err);

    if (rc < 0)
        return -1;
    if (act == POLICY_ALLOW) {
        size_t approving = 0;
        bool button;

        for (size_t i = 0; in->options && i < json_array_size(in->options) && i < OPTIONS_MAX; i++)
            approving += in->approve[i] ? 1 : 0;
        button = !strcmp(in->request_type, "confirmation")
                     ? !in->options || approving >= 1
                     : !strcmp(in->request_type, "choice") && approving == 1;
        if (!button || in->approvals_required > 1 || policy_message_cut(in))
            act = POLICY_ASK;
    }
    if (act == POLICY_ASK)
        return 0;
    json_object_set_new(item, "pid", json_integer((json_int_t)rule));
    json_object_set_new(item, "pok", json_boolean(act == POLICY_ALLOW));
    return 0;
}

/* Whether requests are sent to Telegram (a bot token is configured); see store_requests.h. */
static bool telegram_on = true;

void store_request_telegram(bool on)
{
    telegram_on = on;
}

/* Read one batch row into its slot. Returns 1 when a request was inserted. */
static int submit_outcome(const PGresult *res, int row, struct submit_slot *s)
{
    struct lg_request r;

    if (!PQgetisnull(res, row, 0)) {
        row_to_submitted(res, row, &r);
        s->out = shape_submitted(&r);
        metrics_submitted(r.request_type);
        if (col_bool(res, row, SUBMITTED_NCOLS + 4)) {
            char by[40];

            metrics_decided(json_is_true(json_object_get(s->item, "pok")) ? METRICS_APPROVED
                                                                          : METRICS_DENIED,
                            METRICS_CH_POLICY, 1, 0);
            snprintf(by, sizeof(by), "policy:%s", col(res, row, SUBMITTED_NCOLS + 5));
            json_object_set_new(s->out, "decided_by", json_string(by));
        }
        s->rc = 0;
        s->outcome = SUBMIT_DONE;
        return 1;
    }
    if (PQgetisnull(res, row, SUBMITTED_NCOLS))
        s->outcome = SUBMIT_NO_SESSION;
    else if (!col_bool(res, row, SUBMITTED_NCOLS))
        s->outcome = SUBMIT_INACTIVE;
    else if (!col_bool(res, row, SUBMITTED_NCOLS + 2))
        s->outcome = SUBMIT_FEW_APPROVERS;
    else if (!col_bool(res, row, SUBMITTED_NCOLS + 3))
        s->outcome = SUBMIT_NO_ESCALATION;
    else
        s->outcome = SUBMIT_HELD;
    s->pending = col_int(res, row, SUBMITTED_NCOLS + 1);
    return 0;
}

/*
 * Write `n` slots in one statement and fill in each one's outcome. When the
 * statement itself fails (not the connection), the transaction was rolled
 * back: each submit is written again on its own, so that one request the
 * database refuses does not fail the others. True when a request was
 * inserted (its Telegram send is queued).
 */
static bool write_batch(struct submit_slot **slots, int n, int max_pending)
{
    json_t *all = json_array();
    char *body, maxp[16];
    const char *p[] = {NULL, maxp, telegram_on ? "true" : "false"};
    struct lg_error err;
    PGresult *res = NULL;
    int inserted = 0;

    for (int i = 0; i < n; i++)
        json_array_append(all, slots[i]->item);
    body = json_dumps(all, JSON_COMPACT);
    json_decref(all);
    snprintf(maxp, sizeof(maxp), "%d", max_pending);
    p[0] = body;
    if (!body)
        lg_fail(&err, 500, "internal", "could not encode the requests");
    else if ((res = store_run(&T, S_REQUEST_SUBMIT, 3, p, &err)) && PQntuples(res) != n)
        lg_fail(&err, 500, "internal", "submit answered %d rows for %d", PQntuples(res), n);
    free(body);
    if (res && PQntuples(res) == n) {
        for (int i = 0; i < n; i++)
            inserted += submit_outcome(res, i, slots[i]);
    } else if (!res && n > 1 && err.status == 500) {
        for (int i = 0; i < n; i++)
            inserted += write_batch(&slots[i], 1, max_pending);
    } else {
        for (int i = 0; i < n; i++) {
            slots[i]->rc = -1;
            slots[i]->err = err;
            slots[i]->outcome = SUBMIT_DONE;
        }
    }
    PQclear(res);
    return inserted > 0;
}

/*
 * The pending request of the hook call `in` (its hook_key) counted one
 * arrival more: 0 with *out {request_id, status, hook_attach, reattached},
 * 1 when none is pending, -1 on error.
 */
static int hook_reattach(const struct actor *who, const struct submit_in *in, json_t **out,
                         struct lg_error *err)
{
    char *input = json_dumps(in->tool_input, JSON_COMPACT);
    const char *p[] = {who->tenant, in->hook_key, in->session_id, in->tool, input};
    PGresult *res = input ? store_run(&T, S_REQUEST_BY_HOOK, 5, p, err) : NULL;
    int rc = 1;

    if (!input)
        rc = lg_fail(err, 500, "internal", "out of memory");
    else if (!res)
        rc = -1;
    else if (PQntuples(res) == 1) {
        *out = json_pack("{s:s, s:s, s:i, s:b}", "request_id", PQgetvalue(res, 0, 0), "status",
                         "pending", "hook_attach", (int)strtol(PQgetvalue(res, 0, 1), NULL, 10),
                         "reattached", 1);
        rc = 0;
    }
    PQclear(res);
    free(input);
    return rc;
}

int store_request_submit(const struct actor *who, const struct submit_in *in, const char *idem_key,
                         const char *body_hash, int max_pending, bool *queued, json_t **out,
                         struct lg_error *err)
{
    struct submit_slot me = {.item = submit_item(who, in, idem_key, body_hash)};
    int rc = 0;

    *queued = false;
    if (!me.item)
        return lg_fail(err, 500, "internal", "out of memory");
    if (in->tool && policy_verdict(who, in, me.item, err) < 0) {
        json_decref(me.item);
        return -1;
    }
    for (int round = 0;; round++) {
        if (submit_batch_wait(&me, write_batch, max_pending))
            *queued = true;
        if (me.verdict != SUBMIT_HELD || !in->hook_key)
            break;
        /* A hook call already pending (029): wait on that request. */
        rc = hook_reattach(who, in, out, err);
        if (rc <= 0) {
            json_decref(me.item);
            return rc;
        }
        if (round == 1)
            break;
        /* The request it met was decided meanwhile: its own, once more. */
        me = (struct submit_slot){.item = me.item};
    }
    json_decref(me.item);
    switch (me.verdict) {
    case SUBMIT_DONE:
        *out = me.out;
        if (me.rc < 0)
            *err = me.err;
        return me.rc;
    case SUBMIT_NO_SESSION:
        return lg_fail(err, 404, "session_not_found",
                       "no session with id '%s'; register it with POST /hitl/register first",
                       in->session_id);
    case SUBMIT_INACTIVE:
        return lg_fail(err, 409, "session_inactive", "session '%s' is deactivated", in->session_id);
    case SUBMIT_FEW_APPROVERS:
        return lg_fail(err, 400, "invalid_field",
                       "approvals_required is %d but session '%s' lists fewer approvers; "
                       "register the session with at least %d approvers",
                       in->approvals_required, in->session_id, in->approvals_required);
    case SUBMIT_NO_ESCALATION:
        return lg_fail(err, 400, "invalid_field",
                       "escalate_to names no active session of this tenant ('%s'); register it "
                       "first",
                       in->escalate_to);
    default:
        break;
    }
    /* A replay (0) or a conflict (-1): a known key outranks the pending limit. */
    if (idem_key && (rc = idempotent_replay(who, idem_key, body_hash, out, err)) <= 0)
        return rc;
    return lg_fail(err, 429, "too_many_pending",
                   "%d requests are already pending (limit %d); wait for answers or cancel some",
                   (int)me.pending, max_pending);
}

int store_request_poll(const struct actor *who, const char *id, json_t **out, struct lg_error *err)
{
    const char *p[] = {id};
    PGresult *res = store_run(&T, S_REQUEST_POLL, 1, p, err);
    struct lg_request r;
    char ts[5][28];

    if (!res)
        return -1;
    if (PQntuples(res) == 0 || strcmp(PQgetvalue(res, 0, POLL_TENANT), who->tenant) != 0) {
        PQclear(res);
        return lg_fail(err, 404, "request_not_found", "no request with id '%s'", id);
    }
    row_to_poll(res, 0, &r, ts);
    *out = shape_poll(&r);
    PQclear(res);
    return 0;
}

int store_poll_rows(struct db_conn *c, const char *const *ids, int n, store_poll_hand *hand)
{
    struct lg_error err;
    size_t len = 3;
    char *list, *p;
    PGresult *res;

    for (int i = 0; i < n; i++)
        len += strlen(ids[i]) + 1;
    p = list = xmalloc(len);
    *p++ = '{';
    for (int i = 0; i < n; i++)
        p += lg_snprintf(p, len - (size_t)(p - list), "%s%s", i ? "," : "", ids[i]);
    lg_snprintf(p, len - (size_t)(p - list), "}");
    res = db_run(c, &T, S_POLL_ROWS, 1, (const char *const *)&list, &err);
    free(list);
    if (!res)
        return -1;
    for (int i = 0; i < PQntuples(res); i++) {
        struct lg_request r;
        char ts[5][28];
        json_t *poll;

        row_to_poll(res, i, &r, ts);
        poll = shape_poll(&r);
        hand(r.id, PQgetvalue(res, i, POLL_TENANT), poll);
        json_decref(poll);
    }
    PQclear(res);
    return 0;
}

int store_request_pending(const struct actor *who, const char *session_id, json_t **out,
                          struct lg_error *err)
{
    const char *p[] = {who->tenant, session_id};
    PGresult *res = store_run(&T, S_REQUEST_PENDING, 2, p, err);
    json_t *list;
    struct lg_request r;

    if (!res)
        return -1;
    list = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
        store_row_to_request(res, i, 0, &r);
        json_array_append_new(list, shape_request(&r));
    }
    *out = json_pack("{s:o, s:i}", "pending_requests", list, "count", PQntuples(res));
    PQclear(res);
    return 0;
}

/* Cancel `id`; with `attach` (not NULL) only while its hook_attach is that number (029). */
static int cancel(const struct actor *who, const char *id, const char *attach,
                  enum metrics_channel via, json_t **out, struct lg_error *err)
{
    const char *p[] = {id, who->tenant, who->name, attach};
    PGresult *res = store_run(&T, S_REQUEST_CANCEL, 4, p, err);
    const char *status;
    json_t *now;

    if (!res)
        return -1;
    if (PQntuples(res) == 1) {
        metrics_decided(METRICS_CANCELED, via, 1, strtod(PQgetvalue(res, 0, REQ_NCOLS), NULL));
        *out = json_pack("{s:b, s:s, s:s, s:s}", "success", 1, "message",
                         "Request canceled successfully", "request_id", id, "status", "canceled");
        PQclear(res);
        return 0;
    }
    PQclear(res);
    /* Nothing changed: say whether the request is unknown, already final, or taken over. */
    if (store_request_poll(who, id, &now, err) < 0)
        return -1;
    status = json_string_value(json_object_get(now, "status"));
    if (attach && status && !strcmp(status, "pending"))
        lg_fail(err, 409, "taken_over", "request '%s' is waited on by a later arrival of its call",
                id);
    else
        lg_fail(err, 409, "request_not_pending",
                "request '%s' is already %s; only a pending request can be canceled", id,
                status ? status : "final");
    json_decref(now);
    return -1;
}

int store_request_cancel(const struct actor *who, const char *id, enum metrics_channel via,
                         json_t **out, struct lg_error *err)
{
    return cancel(who, id, NULL, via, out, err);
}

int store_request_abandon(const struct actor *who, const char *id, int attach, json_t **out,
                          struct lg_error *err)
{
    char n[16];

    snprintf(n, sizeof(n), "%d", attach);
    return cancel(who, id, n, METRICS_CH_HOOK, out, err);
}

/* Copy the strings of `r` into one new block (*block) and point `r` at the copies. */
static void own_strings(struct lg_request *r, char **block)
{
    const char **f[] = {&r->id,
                        &r->session_id,
                        &r->client_id,
                        &r->message,
                        &r->request_type,
                        &r->options_json,
                        &r->metadata_json,
                        &r->on_timeout,
                        &r->callback_url,
                        &r->status,
                        &r->response,
                        &r->created_at,
                        &r->expires_at,
                        &r->responded_at,
                        &r->responder_name,
                        &r->option_approve,
                        &r->tg_state,
                        &r->tg_error,
                        &r->tg_sent_at,
                        &r->cb_state,
                        &r->cb_error,
                        &r->cb_delivered_at,
                        &r->votes_json,
                        &r->params_json,
                        &r->params_schema_json};
    size_t len = 1, n = sizeof(f) / sizeof(f[0]);
    char *p;

    for (size_t i = 0; i < n; i++)
        len += *f[i] ? strlen(*f[i]) + 1 : 0;
    p = *block = xmalloc(len);
    for (size_t i = 0; i < n; i++) {
        size_t k;

        if (!*f[i])
            continue;
        k = strlen(*f[i]) + 1;
        memcpy(p, *f[i], k);
        *f[i] = p;
        p += k;
    }
}

int store_request_row(const char *id, struct request_row *out, struct lg_error *err)
{
    const char *p[] = {id};
    PGresult *res = store_run(&T, S_REQUEST_ROW, 1, p, err);

    memset(out, 0, sizeof(*out));
    if (!res)
        return -1;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return lg_fail(err, 404, "request_not_found", "no request with id '%s'", id);
    }
    store_row_to_request(res, 0, 0, &out->r);
    own_strings(&out->r, &out->strings);
    lg_strlcpy(out->tenant, PQgetvalue(res, 0, REQ_NCOLS), sizeof(out->tenant));
    PQclear(res);
    return 0;
}

void store_request_row_free(struct request_row *row)
{
    free(row->strings);
    memset(row, 0, sizeof(*row));
}

int store_expire_due(int limit, struct lg_error *err)
{
    char lim[16];
    const char *p[] = {lim};
    PGresult *res;
    int n;

    snprintf(lim, sizeof(lim), "%d", limit);
    res = store_run(&T, S_EXPIRE, 1, p, err);
    if (!res)
        return -1;
    n = (int)col_int(res, 0, 0);
    PQclear(res);
    return n;
}

int store_nudge_due(int limit, struct lg_error *err)
{
    char lim[16];
    const char *p[] = {lim};
    PGresult *res;
    int n;

    snprintf(lim, sizeof(lim), "%d", limit);
    res = store_run(&T, S_NUDGE, 1, p, err);
    if (!res)
        return -1;
    n = (int)col_int(res, 0, 0);
    PQclear(res);
    return n;
}

int store_callback_set(const struct actor *who, const char *id, const char *url,
                       struct lg_error *err)
{
    const char *p[] = {id, who->tenant, url};
    PGresult *res = store_run(&T, S_CALLBACK_SET, 3, p, err);
    json_t *now;
    int n;

    if (!res)
        return -1;
    n = PQntuples(res);
    PQclear(res);
    if (n == 1)
        return 0;
    if (store_request_poll(who, id, &now, err) < 0)
        return -1;
    lg_fail(err, 409, "request_not_pending",
            "request '%s' is already %s; a callback can only be set on a pending request", id,
            json_string_value(json_object_get(now, "status")));
    json_decref(now);
    return -1;
}

int store_pending_total(int64_t *n, struct lg_error *err)
{
    PGresult *res = store_run(&T, S_PENDING_TOTAL, 0, NULL, err);

    if (!res)
        return -1;
    *n = col_int(res, 0, 0);
    PQclear(res);
    return 0;
}
