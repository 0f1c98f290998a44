/*
 * store.c - every SQL statement; see store.h.
 *
 * Statements are prepared per connection on first use (db_run). Each
 * public function follows one pattern: borrow a connection, run the
 * statement, turn rows into shape.c structs, release, answer.
 */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "shape.h"

/* The columns of a request, in the order row_to_request reads them. */
#define REQ_COLS                                                                                   \
    "id::text AS rid, session_id, client_id, message, request_type, options::text AS options_t, "  \
    "metadata::text AS metadata_t, timeout_seconds, on_timeout, callback_url, status, response, "  \
    "approved, lg_ts(created_at) AS created_t, lg_ts(expires_at) AS expires_t, "                   \
    "lg_ts(responded_at) AS responded_t, responder_id, responder_name"
#define REQ_NCOLS 18

#define SES_COLS                                                                                   \
    "session_id, client_id, telegram_chat_id, array_to_json(approvers)::text AS approvers_t, "     \
    "active, lg_ts(created_at) AS created_t, lg_ts(updated_at) AS updated_t"

enum {
    S_PING,
    S_KEY_LOOKUP,
    S_SESSION_UPSERT,
    S_SESSION_GET,
    S_SESSION_DEACTIVATE,
    S_REQUEST_SUBMIT,
    S_REQUEST_BY_IDEM,
    S_REQUEST_POLL,
    S_REQUEST_PENDING,
    S_REQUEST_CANCEL,
    S_KEY_CREATE,
    S_KEY_LIST,
    S_KEY_REVOKE,
};

static const struct db_stmt stmts[] = {
    [S_PING] = {"ping", "SELECT 1", true},
    [S_KEY_LOOKUP] = {"key_lookup",
                      "WITH k AS (SELECT id, tenant, name, prefix FROM api_keys"
                      "           WHERE key_hash = $1 AND revoked_at IS NULL),"
                      " u AS (UPDATE api_keys a SET last_used_at = now() FROM k"
                      "       WHERE a.id = k.id AND (a.last_used_at IS NULL"
                      "             OR a.last_used_at < now() - interval '60 seconds'))"
                      " SELECT tenant, name, prefix FROM k",
                      true},
    [S_SESSION_UPSERT] =
        {"session_upsert",
         "WITH up AS (INSERT INTO sessions (tenant, session_id, client_id, telegram_chat_id,"
         "                                  approvers)"
         "            VALUES ($1, $2, $3, $4::bigint, COALESCE($5::bigint[], '{}'))"
         "            ON CONFLICT (tenant, session_id) DO UPDATE SET"
         "              client_id = EXCLUDED.client_id,"
         "              telegram_chat_id = EXCLUDED.telegram_chat_id,"
         "              approvers = COALESCE($5::bigint[], sessions.approvers),"
         "              active = true, updated_at = now()"
         "            RETURNING *, (xmax = 0) AS inserted),"
         " a AS (INSERT INTO audit_log (tenant, session_id, actor, action, detail)"
         "       SELECT $1, session_id, $6,"
         "              CASE WHEN inserted THEN 'session_registered' ELSE 'session_updated' END,"
         "              jsonb_build_object('client_id', client_id, 'telegram_id', telegram_chat_id)"
         "       FROM up)"
         " SELECT " SES_COLS ", 0, inserted FROM up",
         false},
    [S_SESSION_GET] = {"session_get",
                       "SELECT " SES_COLS ", (SELECT count(*) FROM requests r"
                       "  WHERE r.tenant = s.tenant AND r.session_id = s.session_id"
                       "    AND r.status = 'pending')"
                       " FROM sessions s WHERE tenant = $1 AND session_id = $2",
                       true},
    [S_SESSION_DEACTIVATE] =
        {"session_deactivate",
         "WITH u AS (UPDATE sessions SET active = false, updated_at = now()"
         "           WHERE tenant = $1 AND session_id = $2 RETURNING *),"
         " a AS (INSERT INTO audit_log (tenant, session_id, actor, action)"
         "       SELECT $1, session_id, $3, 'session_deactivated' FROM u)"
         " SELECT " SES_COLS ", (SELECT count(*) FROM requests r"
         "  WHERE r.tenant = $1 AND r.session_id = $2 AND r.status = 'pending') FROM u",
         false},
    [S_REQUEST_SUBMIT] =
        {"request_submit",
         "WITH s AS (SELECT active FROM sessions WHERE tenant = $1 AND session_id = $2),"
         " p AS (SELECT count(*) AS n FROM requests WHERE tenant = $1 AND status = 'pending'),"
         " ins AS (INSERT INTO requests (tenant, session_id, client_id, message, request_type,"
         "           options, metadata, timeout_seconds, expires_at, on_timeout, callback_url,"
         "           idempotency_key, body_hash)"
         "         SELECT $1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8::int,"
         "                now() + make_interval(secs => $8::int), $9, $10, $11, $12"
         "         WHERE (SELECT active FROM s) AND (SELECT n FROM p) < $13::int"
         "         ON CONFLICT (tenant, idempotency_key) DO NOTHING"
         "         RETURNING " REQ_COLS "),"
         " a AS (INSERT INTO audit_log (tenant, request_id, session_id, actor, action)"
         "       SELECT $1, rid::uuid, $2, $14, 'submitted' FROM ins)"
         " SELECT ins.*, (SELECT active FROM s), (SELECT n FROM p)"
         " FROM (VALUES (1)) v LEFT JOIN ins ON true",
         false},
    [S_REQUEST_BY_IDEM] = {"request_by_idem",
                           "SELECT " REQ_COLS ", body_hash FROM requests"
                           " WHERE tenant = $1 AND idempotency_key = $2",
                           true},
    [S_REQUEST_POLL] = {"request_poll",
                        "SELECT " REQ_COLS " FROM requests WHERE id = $1::uuid AND tenant = $2",
                        true},
    [S_REQUEST_PENDING] = {"request_pending",
                           "SELECT " REQ_COLS " FROM requests"
                           " WHERE tenant = $1 AND status = 'pending'"
                           "   AND ($2::text IS NULL OR session_id = $2)"
                           " ORDER BY created_at LIMIT 1000",
                           true},
    [S_REQUEST_CANCEL] =
        {"request_cancel",
         "WITH u AS (UPDATE requests SET status = 'canceled', responded_at = now(),"
         "             updated_at = now()"
         "           WHERE id = $1::uuid AND tenant = $2 AND status = 'pending'"
         "           RETURNING " REQ_COLS "),"
         " a AS (INSERT INTO audit_log (tenant, request_id, session_id, actor, action)"
         "       SELECT $2, rid::uuid, session_id, $3, 'canceled' FROM u)"
         " SELECT * FROM u",
         false},
    [S_KEY_CREATE] = {"key_create",
                      "INSERT INTO api_keys (tenant, name, key_hash, prefix)"
                      " VALUES ($1, $2, $3, $4)",
                      false},
    [S_KEY_LIST] = {"key_list",
                    "SELECT id, tenant, name, prefix, lg_ts(created_at), lg_ts(last_used_at),"
                    "       lg_ts(revoked_at) FROM api_keys ORDER BY id",
                    true},
    [S_KEY_REVOKE] = {"key_revoke",
                      "UPDATE api_keys SET revoked_at = now()"
                      " WHERE revoked_at IS NULL AND (id::text = $1 OR prefix = $1)"
                      " RETURNING id",
                      false},
};

/* A column value, or NULL for SQL NULL. */
static const char *col(const PGresult *res, int row, int c)
{
    return PQgetisnull(res, row, c) ? NULL : PQgetvalue(res, row, c);
}

static int64_t col_int(const PGresult *res, int row, int c)
{
    int64_t v = 0;

    if (PQgetisnull(res, row, c) || parse_int64(PQgetvalue(res, row, c), &v) < 0)
        return 0;
    return v;
}

static bool col_bool(const PGresult *res, int row, int c)
{
    return !PQgetisnull(res, row, c) && PQgetvalue(res, row, c)[0] == 't';
}

/* Fill `r` from REQ_COLS starting at column `c0`; strings borrowed from `res`. */
static void row_to_request(const PGresult *res, int row, int c0, struct lg_request *r)
{
    memset(r, 0, sizeof(*r));
    r->id = col(res, row, c0 + 0);
    r->session_id = col(res, row, c0 + 1);
    r->client_id = col(res, row, c0 + 2);
    r->message = col(res, row, c0 + 3);
    r->request_type = col(res, row, c0 + 4);
    r->options_json = col(res, row, c0 + 5);
    r->metadata_json = col(res, row, c0 + 6);
    r->timeout_seconds = (int)col_int(res, row, c0 + 7);
    r->on_timeout = col(res, row, c0 + 8);
    r->callback_url = col(res, row, c0 + 9);
    r->status = col(res, row, c0 + 10);
    r->response = col(res, row, c0 + 11);
    r->approved = col_bool(res, row, c0 + 12);
    r->created_at = col(res, row, c0 + 13);
    r->expires_at = col(res, row, c0 + 14);
    r->responded_at = col(res, row, c0 + 15);
    r->responder_id = col_int(res, row, c0 + 16);
    r->responder_name = col(res, row, c0 + 17);
}

static void row_to_session(const PGresult *res, int row, struct lg_session *s)
{
    memset(s, 0, sizeof(*s));
    s->session_id = col(res, row, 0);
    s->client_id = col(res, row, 1);
    s->telegram_id = col_int(res, row, 2);
    s->approvers_json = col(res, row, 3);
    s->active = col_bool(res, row, 4);
    s->created_at = col(res, row, 5);
    s->updated_at = col(res, row, 6);
    s->pending = col_int(res, row, 7);
}

/* Borrow a connection, run one statement, give the connection back. */
static PGresult *run(int idx, int n, const char *const *params, struct lg_error *err)
{
    struct db_conn *c = db_acquire(err);
    PGresult *res;

    if (!c)
        return NULL;
    res = db_run(c, stmts, idx, n, params, err);
    db_release(c);
    return res;
}

int store_ping(struct lg_error *err)
{
    PGresult *res = run(S_PING, 0, NULL, err);

    if (!res)
        return -1;
    PQclear(res);
    return 0;
}

int store_key_lookup(const char *key_hash, struct actor *who, struct lg_error *err)
{
    const char *p[] = {key_hash};
    PGresult *res = run(S_KEY_LOOKUP, 1, p, err);
    int rc = 1;

    if (!res)
        return -1;
    if (PQntuples(res) == 1) {
        lg_strlcpy(who->tenant, PQgetvalue(res, 0, 0), sizeof(who->tenant));
        snprintf(who->name, sizeof(who->name), "key:%s", PQgetvalue(res, 0, 2));
        rc = 0;
    }
    PQclear(res);
    return rc;
}

/* Format a JSON array of integers as a PostgreSQL array literal; NULL for none. */
static char *pg_int_array(json_t *arr)
{
    size_t i, cap, len = 1;
    json_t *v;
    char *out;

    if (!arr)
        return NULL;
    cap = 2 + json_array_size(arr) * 21;
    out = xmalloc(cap);
    out[0] = '{';
    json_array_foreach(arr, i, v)
    {
        long long id = json_is_integer(v) ? (long long)json_integer_value(v)
                                          : strtoll(json_string_value(v), NULL, 10);
        len += (size_t)snprintf(out + len, cap - len, "%s%lld", i ? "," : "", id);
    }
    snprintf(out + len, cap - len, "}");
    return out;
}

int store_session_register(const struct actor *who, const struct register_in *in, json_t **out,
                           struct lg_error *err)
{
    char tid[24];
    char *approvers = pg_int_array(in->approvers);
    const char *p[] = {who->tenant, in->session_id, in->client_id, tid, approvers, who->name};
    PGresult *res;
    struct lg_session s;

    snprintf(tid, sizeof(tid), "%lld", (long long)in->telegram_id);
    res = run(S_SESSION_UPSERT, 6, p, err);
    free(approvers);
    if (!res)
        return -1;
    row_to_session(res, 0, &s);
    *out = json_pack("{s:b, s:s, s:s, s:s, s:I, s:b}", "success", 1, "session_id", s.session_id,
                     "client_id", s.client_id, "message",
                     col_bool(res, 0, 8) ? "Session registered successfully"
                                         : "Session updated successfully",
                     "telegram_id", (json_int_t)s.telegram_id, "created", col_bool(res, 0, 8));
    PQclear(res);
    return 0;
}

int store_session_get(const struct actor *who, const char *session_id, json_t **out,
                      struct lg_error *err)
{
    const char *p[] = {who->tenant, session_id};
    PGresult *res = run(S_SESSION_GET, 2, p, err);
    struct lg_session s;

    if (!res)
        return -1;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return lg_fail(err, 404, "session_not_found", "no session with id '%s'", session_id);
    }
    row_to_session(res, 0, &s);
    *out = shape_session(&s);
    PQclear(res);
    return 0;
}

int store_session_deactivate(const struct actor *who, const char *session_id, json_t **out,
                             struct lg_error *err)
{
    const char *p[] = {who->tenant, session_id, who->name};
    PGresult *res = run(S_SESSION_DEACTIVATE, 3, p, err);

    if (!res)
        return -1;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return lg_fail(err, 404, "session_not_found", "no session with id '%s'", session_id);
    }
    *out = json_pack("{s:b, s:s, s:s, s:b}", "success", 1, "message",
                     "Session deactivated successfully", "session_id", PQgetvalue(res, 0, 0),
                     "active", 0);
    PQclear(res);
    return 0;
}

/*
 * The request a reused Idempotency-Key names: the same body gets the same
 * answer, another body a 409. Returns 1 when no request has that key.
 */
static int idempotent_replay(const struct actor *who, const char *idem_key, const char *body_hash,
                             json_t **out, struct lg_error *err)
{
    const char *p[] = {who->tenant, idem_key};
    PGresult *res = run(S_REQUEST_BY_IDEM, 2, p, err);
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
        row_to_request(res, 0, 0, &r);
        *out = shape_submitted(&r);
        json_object_set_new(*out, "status", json_string(r.status));
        json_object_set_new(*out, "idempotent_replay", json_true());
    }
    PQclear(res);
    return rc;
}

int store_request_submit(const struct actor *who, const struct submit_in *in, const char *idem_key,
                         const char *body_hash, int max_pending, json_t **out, struct lg_error *err)
{
    char timeout[16], maxp[16];
    char *options = in->options ? json_dumps(in->options, JSON_COMPACT) : NULL;
    char *metadata = in->metadata ? json_dumps(in->metadata, JSON_COMPACT) : NULL;
    const char *p[] = {who->tenant,
                       in->session_id,
                       in->client_id,
                       in->message,
                       in->request_type,
                       options,
                       metadata,
                       timeout,
                       in->on_timeout,
                       in->callback_url,
                       idem_key,
                       idem_key ? body_hash : NULL,
                       maxp,
                       who->name};
    PGresult *res;
    struct lg_request r;
    int rc = 0;

    snprintf(timeout, sizeof(timeout), "%d", in->timeout_seconds);
    snprintf(maxp, sizeof(maxp), "%d", max_pending);
    res = run(S_REQUEST_SUBMIT, 14, p, err);
    free(options);
    free(metadata);
    if (!res)
        return -1;
    if (!PQgetisnull(res, 0, 0)) {
        row_to_request(res, 0, 0, &r);
        *out = shape_submitted(&r);
    } else if (PQgetisnull(res, 0, REQ_NCOLS)) {
        rc = lg_fail(err, 404, "session_not_found",
                     "no session with id '%s'; register it with POST /hitl/register first",
                     in->session_id);
    } else if (!col_bool(res, 0, REQ_NCOLS)) {
        rc = lg_fail(err, 409, "session_inactive", "session '%s' is deactivated", in->session_id);
    } else if (idem_key && (rc = idempotent_replay(who, idem_key, body_hash, out, err)) <= 0) {
        /* a replay (0) or a conflict (-1): a known key outranks the pending limit */
    } else {
        rc = lg_fail(err, 429, "too_many_pending",
                     "%d requests are already pending (limit %d); wait for answers or cancel some",
                     (int)col_int(res, 0, REQ_NCOLS + 1), max_pending);
    }
    PQclear(res);
    return rc;
}

int store_request_poll(const struct actor *who, const char *id, json_t **out, struct lg_error *err)
{
    const char *p[] = {id, who->tenant};
    PGresult *res = run(S_REQUEST_POLL, 2, p, err);
    struct lg_request r;

    if (!res)
        return -1;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return lg_fail(err, 404, "request_not_found", "no request with id '%s'", id);
    }
    row_to_request(res, 0, 0, &r);
    *out = shape_poll(&r);
    PQclear(res);
    return 0;
}

int store_request_pending(const struct actor *who, const char *session_id, json_t **out,
                          struct lg_error *err)
{
    const char *p[] = {who->tenant, session_id};
    PGresult *res = run(S_REQUEST_PENDING, 2, p, err);
    json_t *list;
    struct lg_request r;

    if (!res)
        return -1;
    list = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
        row_to_request(res, i, 0, &r);
        json_array_append_new(list, shape_request(&r));
    }
    *out = json_pack("{s:o, s:i}", "pending_requests", list, "count", PQntuples(res));
    PQclear(res);
    return 0;
}

int store_request_cancel(const struct actor *who, const char *id, json_t **out,
                         struct lg_error *err)
{
    const char *p[] = {id, who->tenant, who->name};
    PGresult *res = run(S_REQUEST_CANCEL, 3, p, err);
    json_t *now;

    if (!res)
        return -1;
    if (PQntuples(res) == 1) {
        *out = json_pack("{s:b, s:s, s:s, s:s}", "success", 1, "message",
                         "Request canceled successfully", "request_id", id, "status", "canceled");
        PQclear(res);
        return 0;
    }
    PQclear(res);
    /* Nothing changed: say whether the request is unknown or already final. */
    if (store_request_poll(who, id, &now, err) < 0)
        return -1;
    lg_fail(err, 409, "request_not_pending",
            "request '%s' is already %s; only a pending request can be canceled", id,
            json_string_value(json_object_get(now, "status")));
    json_decref(now);
    return -1;
}

int store_key_create(const char *tenant, const char *name, const char *key_hash, const char *prefix,
                     struct lg_error *err)
{
    const char *p[] = {tenant, name, key_hash, prefix};
    PGresult *res = run(S_KEY_CREATE, 4, p, err);

    if (!res)
        return -1;
    PQclear(res);
    return 0;
}

int store_key_list(json_t **out, struct lg_error *err)
{
    PGresult *res = run(S_KEY_LIST, 0, NULL, err);
    json_t *list;

    if (!res)
        return -1;
    list = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
        const char *revoked = col(res, i, 6), *used = col(res, i, 5);
        json_array_append_new(
            list, json_pack("{s:I, s:s, s:s, s:s, s:s, s:o, s:o}", "id",
                            (json_int_t)col_int(res, i, 0), "tenant", col(res, i, 1), "name",
                            col(res, i, 2), "prefix", col(res, i, 3), "created_at", col(res, i, 4),
                            "last_used_at", used ? json_string(used) : json_null(), "revoked_at",
                            revoked ? json_string(revoked) : json_null()));
    }
    PQclear(res);
    *out = list;
    return 0;
}

int store_key_revoke(const char *id_or_prefix, struct lg_error *err)
{
    const char *p[] = {id_or_prefix};
    PGresult *res = run(S_KEY_REVOKE, 1, p, err);
    int rc;

    if (!res)
        return -1;
    rc = PQntuples(res) > 0 ? 0 : 1;
    PQclear(res);
    return rc;
}
