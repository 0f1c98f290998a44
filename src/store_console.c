/*
 * store_console.c - the console's statements; see store_console.h.
 *
 * Statements are prepared per connection on first use (db_run), in the
 * range of the prepared set that store_internal.h gives this file.
 */
#include "store_console.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "metrics.h"
#include "shape.h"
#include "store_internal.h"

/*
 * Whether the user ($1 tenant, $2 role, $3 Telegram user id or NULL, $4
 * console name or NULL) may see request `q` (store_console.h, point 2). A
 * session with no Telegram approvers in a private chat is decided by the
 * chat's owner in Telegram (decide_authorized): in the console too.
 */
#define SESSION_OF_Q                                                                               \
    " s.tenant = q.tenant AND (s.session_id = q.session_id"                                        \
    "   OR (q.escalated_at IS NOT NULL AND s.session_id = q.escalate_to))"
#define APPROVER_IN_S                                                                              \
    " ($3::bigint = ANY (s.approvers) OR $4::text = ANY (s.console_approvers)"                     \
    "  OR (cardinality(s.approvers) = 0 AND s.telegram_chat_id > 0"                                \
    "      AND s.telegram_chat_id = $3::bigint))"
#define VISIBLE                                                                                    \
    " q.tenant = $1 AND ($2 = 'admin' OR EXISTS (SELECT 1 FROM sessions s WHERE" SESSION_OF_Q      \
    "   AND" APPROVER_IN_S "))"
/*
 * Whether the user may also vote on `q`: as one of its approvers; an admin
 * only on a session that lists nobody (a session's approvers, and its
 * quorum, mean the same people in every channel).
 */
#define MAY_VOTE                                                                                   \
    " EXISTS (SELECT 1 FROM sessions s WHERE" SESSION_OF_Q " AND (" APPROVER_IN_S                  \
    "   OR ($2 = 'admin' AND cardinality(s.approvers) = 0"                                         \
    "       AND cardinality(s.console_approvers) = 0)))"

#define USER_COLS "tenant, person, name, role, csrf, lg_ts(expires_at)"

enum {
    S_LINK_CREATE,
    S_LOGIN,
    S_LOGIN_REFUSED,
    S_SESSION_CREATE,
    S_SESSION_GET,
    S_LOGOUT,
    S_RATE,
    S_PENDING,
    S_REQUEST,
    S_HISTORY,
    S_SESSIONS,
    S_VOTE,
    S_CAN_SEE,
    S_COUNT
};

static const struct db_stmt stmts[] = {
    [S_LINK_CREATE] =
        {"console_link_create",
         "WITH l AS (INSERT INTO console_links (token_sha256, tenant, person, name, role,"
         "             expires_at)"
         "           VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6::int))"
         "           RETURNING *),"
         " a AS (INSERT INTO audit_log (tenant, actor, action, detail)"
         "       SELECT tenant, $7, 'console_link_created',"
         "              jsonb_build_object('person', person, 'name', name, 'role', role,"
         "                                 'expires_at', lg_ts(expires_at)) FROM l),"
         /* links are single use and short-lived: the old ones go as new ones come */
         " d AS (DELETE FROM console_links WHERE token_sha256 IN (SELECT token_sha256"
         "       FROM console_links WHERE expires_at < now() - interval '1 day' LIMIT 100))"
         " SELECT lg_ts(expires_at) FROM l",
         false},
    [S_LOGIN] =
        {"console_login",
         "WITH l AS (UPDATE console_links SET used_at = now()"
         "           WHERE token_sha256 = $1 AND used_at IS NULL AND expires_at > now()"
         "           RETURNING tenant, person, name, role),"
         " s AS (INSERT INTO console_sessions (token_sha256, tenant, person, name, role, csrf,"
         "         expires_at)"
         "       SELECT $2, tenant, person, name, role, $3,"
         "              now() + make_interval(secs => $4::int) FROM l"
         "       RETURNING *),"
         " a AS (INSERT INTO audit_log (tenant, actor, action, detail)"
         "       SELECT tenant, person, 'console_login',"
         "              jsonb_build_object('via', 'link', 'role', role, 'name', name,"
         "                                 'remote', $5::text) FROM s),"
         " d AS (DELETE FROM console_sessions WHERE token_sha256 IN (SELECT token_sha256"
         "       FROM console_sessions WHERE expires_at < now() - interval '1 day' LIMIT 100))"
         " SELECT " USER_COLS " FROM s",
         false},
    [S_LOGIN_REFUSED] =
        {"console_login_refused",
         "INSERT INTO audit_log (tenant, actor, action, detail)"
         " SELECT tenant, person, 'console_login_refused',"
         "        jsonb_build_object('why', CASE WHEN used_at IS NOT NULL THEN 'used'"
         "                                       ELSE 'expired' END, 'remote', $2::text)"
         " FROM console_links WHERE token_sha256 = $1",
         false},
    [S_SESSION_CREATE] =
        {"console_session_create",
         "WITH s AS (INSERT INTO console_sessions (token_sha256, tenant, person, name, role,"
         "             csrf, expires_at)"
         "           VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7::int))"
         "           RETURNING *),"
         " a AS (INSERT INTO audit_log (tenant, actor, action, detail)"
         "       SELECT tenant, person, 'console_login',"
         "              jsonb_build_object('via', $8::text, 'role', role, 'name', name,"
         "                                 'remote', $9::text) FROM s)"
         " SELECT " USER_COLS " FROM s",
         false},
    [S_SESSION_GET] = {"console_session_get",
                       "SELECT " USER_COLS " FROM console_sessions"
                       " WHERE token_sha256 = $1 AND revoked_at IS NULL AND expires_at > now()",
                       true},
    [S_LOGOUT] = {"console_logout",
                  "WITH s AS (UPDATE console_sessions SET revoked_at = now()"
                  "           WHERE token_sha256 = $1 AND revoked_at IS NULL RETURNING *)"
                  " INSERT INTO audit_log (tenant, actor, action, detail)"
                  " SELECT tenant, person, 'console_logout',"
                  "        jsonb_build_object('remote', $2::text) FROM s",
                  false},
    [S_RATE] = {"console_rate",
                "WITH d AS (DELETE FROM console_rate WHERE key IN (SELECT key FROM console_rate"
                "           WHERE window_start < now() - interval '10 minutes' LIMIT 100))"
                " INSERT INTO console_rate AS c (key, window_start, n)"
                " VALUES ($1, date_trunc('minute', now()), 1)"
                " ON CONFLICT (key) DO UPDATE SET"
                "   n = CASE WHEN c.window_start = EXCLUDED.window_start THEN c.n + 1 ELSE 1 END,"
                "   window_start = EXCLUDED.window_start"
                " RETURNING n, ceil(extract(epoch FROM window_start + interval '1 minute'"
                "                           - now()))::int",
                false},
    [S_PENDING] = {"console_pending",
                   "SELECT " REQ_COLS " FROM requests q"
                   " WHERE q.status = 'pending' AND " VISIBLE " ORDER BY q.created_at LIMIT 500",
                   true},
    [S_REQUEST] =
        {"console_request",
         "SELECT " REQ_COLS ","
         " (SELECT coalesce(json_agg(json_build_object('person', v.person, 'name', v.name,"
         "    'channel', v.channel, 'approve', v.approve, 'response', v.response,"
         "    'reason', v.reason, 'params', v.params, 'created_at', lg_ts(v.created_at))"
         "    ORDER BY v.created_at), '[]')::text FROM votes v WHERE v.request_id = q.id),"
         " (SELECT coalesce(json_agg(json_build_object('seq', a.seq, 'action', a.action,"
         "    'actor', a.actor, 'at', lg_ts(a.at), 'detail', a.detail) ORDER BY a.seq), '[]')::text"
         "    FROM (SELECT * FROM audit_log a WHERE a.request_id = q.id AND a.tenant = q.tenant"
         "          ORDER BY a.seq LIMIT 500) a),"
         " CASE WHEN q.escalated_at IS NOT NULL THEN q.escalate_to END,"
         " EXISTS (SELECT 1 FROM votes v WHERE v.request_id = q.id AND v.person = $6),"
         " q.params::text," MAY_VOTE ", q.expires_at > now(), q.tool, q.tool_input::text"
         " FROM requests q WHERE q.id = $5::uuid AND " VISIBLE,
         true},
    [S_HISTORY] =
        {"console_history",
         "SELECT " REQ_COLS " FROM requests q WHERE " VISIBLE
         "   AND ($5::text IS NULL OR q.session_id = $5)"
         "   AND ($6::text IS NULL OR q.status = $6)"
         "   AND ($7::timestamptz IS NULL OR q.created_at >= $7::timestamptz)"
         "   AND ($8::timestamptz IS NULL OR q.created_at < $8::timestamptz)"
         "   AND ($9::timestamptz IS NULL OR (q.created_at, q.id) < ($9::timestamptz, $10::uuid))"
         " ORDER BY q.created_at DESC, q.id DESC LIMIT $11::int",
         true},
    [S_SESSIONS] =
        {"console_sessions",
         "SELECT coalesce(json_agg(json_build_object('session_id', session_id,"
         "   'client_id', client_id, 'telegram_id', telegram_chat_id,"
         "   'approvers', approvers, 'console_approvers', console_approvers, 'active', active,"
         "   'defaults', json_build_object('remind_after_seconds', remind_after_seconds,"
         "     'escalate_after_seconds', escalate_after_seconds, 'escalate_to', escalate_to),"
         "   'created_at', lg_ts(created_at), 'updated_at', lg_ts(updated_at))"
         "   ORDER BY session_id), '[]')::text"
         " FROM (SELECT * FROM sessions WHERE tenant = $1 ORDER BY session_id LIMIT 1000) s",
         true},
    [S_VOTE] =
        {"console_vote",
         "SELECT lg_vote($1::uuid, 'console', $2, $3::bigint, $4, $5::boolean, $6, $2,"
         "               $7::jsonb, NULL, NULL, $8, $9::jsonb),"
         /* for the decision_seconds of metrics.h */
         " (SELECT extract(epoch FROM now() - created_at) FROM requests WHERE id = $1::uuid),"
         " (SELECT request_type FROM requests WHERE id = $1::uuid)",
         false},
    [S_CAN_SEE] = {"console_can_see", "SELECT 1 FROM requests q WHERE q.id = $5::uuid AND " VISIBLE,
                   true},
};

_Static_assert(S_COUNT <= STORE_RANGE_SIZE, "store_console: more statements than its range");
static const struct db_table T = {stmts, S_COUNT, STORE_CONSOLE};

/*
 * Make a shown name safe to show (in place): control characters become
 * spaces, and the bidirectional overrides and isolates (U+202A-202E,
 * U+2066-2069), which would turn the text around it, become U+FFFD.
 */
static void shown_name_clean(char *n)
{
    for (unsigned char *p = (unsigned char *)n; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            *p = ' ';
        else if (p[0] == 0xe2 && p[1] == 0x80 && p[2] >= 0xaa && p[2] <= 0xae)
            p[0] = 0xef, p[1] = 0xbf, p[2] = 0xbd, p += 2;
        else if (p[0] == 0xe2 && p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9)
            p[0] = 0xef, p[1] = 0xbf, p[2] = 0xbd, p += 2;
    }
}

int console_user_set(struct console_user *u, const char *tenant, const char *person,
                     const char *name, const char *role, struct lg_error *err)
{
    memset(u, 0, sizeof(*u));
    if (!tenant || !*tenant || lg_strlcpy(u->tenant, tenant, sizeof(u->tenant)) < 0)
        return lg_fail(err, 400, "invalid_field", "the tenant must be 1-%d bytes", ID_MAX_BYTES);
    if (!role || (strcmp(role, "approver") != 0 && strcmp(role, "admin") != 0))
        return lg_fail(err, 400, "invalid_field", "the role must be approver or admin");
    lg_strlcpy(u->role, role, sizeof(u->role));
    if (person && !strncmp(person, "telegram:", 9)) {
        if (parse_int64(person + 9, &u->telegram_id) < 0 || u->telegram_id <= 0)
            return lg_fail(err, 400, "invalid_field",
                           "a Telegram user is telegram:<positive user id>");
    } else if (person && !strncmp(person, "console:", 8)) {
        if (!validate_console_name(person + 8))
            return lg_fail(err, 400, "invalid_field",
                           "a console user name is 1-%d of A-Z a-z 0-9 . _ @ -", CONSOLE_NAME_MAX);
        lg_strlcpy(u->console_name, person + 8, sizeof(u->console_name));
    } else {
        return lg_fail(err, 400, "invalid_field",
                       "a console user is telegram:<user id> or console:<name>");
    }
    if (u->telegram_id > 0) /* one spelling per person: telegram:0112 is telegram:112 */
        snprintf(u->person, sizeof(u->person), "telegram:%lld", (long long)u->telegram_id);
    else
        lg_strlcpy(u->person, person, sizeof(u->person));
    utf8_strlcpy(u->name, name && *name ? name : u->person, sizeof(u->name));
    shown_name_clean(u->name);
    return 0;
}

/* Fill `u` from USER_COLS at row 0; -1 when a stored row no longer reads as a user. */
static int row_to_user(const PGresult *res, struct console_user *u, struct lg_error *err)
{
    if (console_user_set(u, col(res, 0, 0), col(res, 0, 1), col(res, 0, 2), col(res, 0, 3), err) <
        0)
        return -1;
    lg_strlcpy(u->csrf, col(res, 0, 4) ? col(res, 0, 4) : "", sizeof(u->csrf));
    lg_strlcpy(u->expires_at, col(res, 0, 5) ? col(res, 0, 5) : "", sizeof(u->expires_at));
    return 0;
}

int store_console_link_create(struct console_user *u, const char *sha, int ttl, const char *actor,
                              struct lg_error *err)
{
    char t[16];
    const char *p[] = {sha, u->tenant, u->person, u->name, u->role, t, actor};
    PGresult *res;

    snprintf(t, sizeof(t), "%d", ttl);
    res = store_run(&T, S_LINK_CREATE, 7, p, err);
    if (!res)
        return -1;
    lg_strlcpy(u->expires_at, PQntuples(res) ? PQgetvalue(res, 0, 0) : "", sizeof(u->expires_at));
    PQclear(res);
    return 0;
}

int store_console_login(const char *link_sha, const char *session_sha, const char *csrf,
                        int max_age, const char *remote, struct console_user *u,
                        struct lg_error *err)
{
    char age[16];
    const char *p[] = {link_sha, session_sha, csrf, age, remote};
    const char *q[] = {link_sha, remote};
    PGresult *res;
    int rc;

    snprintf(age, sizeof(age), "%d", max_age);
    res = store_run(&T, S_LOGIN, 5, p, err);
    if (!res)
        return -1;
    if (PQntuples(res) == 1) {
        rc = row_to_user(res, u, err);
        PQclear(res);
        return rc;
    }
    PQclear(res);
    /* unknown, used or expired: audited when the link is known (it names a tenant) */
    return store_run_void(&T, S_LOGIN_REFUSED, 2, q, err) < 0 ? -1 : 1;
}

int store_console_session_create(struct console_user *u, const char *session_sha, int max_age,
                                 const char *via, const char *remote, struct lg_error *err)
{
    char age[16];
    const char *p[] = {session_sha, u->tenant, u->person, u->name, u->role,
                       u->csrf,     age,       via,       remote};
    PGresult *res;
    int rc;

    snprintf(age, sizeof(age), "%d", max_age);
    res = store_run(&T, S_SESSION_CREATE, 9, p, err);
    if (!res)
        return -1;
    rc = PQntuples(res) == 1 ? row_to_user(res, u, err)
                             : lg_fail(err, 500, "internal", "the session was not stored");
    PQclear(res);
    return rc;
}

int store_console_session_get(const char *sha, struct console_user *u, struct lg_error *err)
{
    const char *p[] = {sha};
    PGresult *res = store_run(&T, S_SESSION_GET, 1, p, err);
    int rc;

    if (!res)
        return -1;
    rc = PQntuples(res) == 1 ? row_to_user(res, u, err) : 1;
    PQclear(res);
    return rc;
}

int store_console_logout(const char *sha, const char *remote, struct lg_error *err)
{
    const char *p[] = {sha, remote};

    return store_run_void(&T, S_LOGOUT, 2, p, err);
}

int store_console_rate(const char *key, int limit, int *retry_after, struct lg_error *err)
{
    const char *p[] = {key};
    PGresult *res = store_run(&T, S_RATE, 1, p, err);
    int rc = 0;

    if (!res)
        return -1;
    if (PQntuples(res) == 1 && col_int(res, 0, 0) > limit) {
        *retry_after = (int)col_int(res, 0, 1);
        if (*retry_after < 1)
            *retry_after = 1;
        rc = 1;
    }
    PQclear(res);
    return rc;
}

/* The visibility parameters $1-$4 of `u`; `tid` holds the Telegram id's text. */
static void visible_params(const struct console_user *u, const char **p, char tid[24])
{
    snprintf(tid, 24, "%lld", (long long)u->telegram_id);
    p[0] = u->tenant;
    p[1] = u->role;
    p[2] = u->telegram_id > 0 ? tid : NULL;
    p[3] = u->console_name[0] ? u->console_name : NULL;
}

/*
 * A request as the console lists it (<summary>): the API's request
 * (shape_request) named by request_id, with its votes counted and its
 * delivery state. New reference.
 */
static json_t *summary(const struct lg_request *r)
{
    json_t *o = shape_request(r), *v;
    int approvals = 0, denials = 0;
    size_t i;

    json_object_del(o, "id");
    /* the agent's webhook address may carry its credentials: never shown to people */
    json_object_del(o, "callback_url");
    json_object_set_new(o, "request_id", json_string(r->id));
    json_array_foreach(json_object_get(o, "votes"), i, v)
    {
        if (json_is_true(json_object_get(v, "approve")))
            approvals++;
        else
            denials++;
    }
    json_object_set_new(o, "approvals", json_integer(approvals));
    json_object_set_new(o, "denials", json_integer(denials));
    json_object_set_new(o, "delivery", json_string(r->tg_state ? r->tg_state : "queued"));
    return o;
}

/*
 * A list's summary carries the first CONSOLE_PREVIEW_CHARS characters of
 * the message and "message_cut": true when there is more (a request's page
 * has it whole): a hundred pending requests of 16 KB each would otherwise
 * be a megabyte and a half on every refresh of the list.
 */
#define CONSOLE_PREVIEW_CHARS 300

static void preview(json_t *o)
{
    const char *m = json_string_value(json_object_get(o, "message"));
    size_t b = 0;
    int n = 0;

    if (!m)
        return;
    while (m[b] && n < CONSOLE_PREVIEW_CHARS) {
        b++;
        while (((unsigned char)m[b] & 0xC0) == 0x80)
            b++;
        n++;
    }
    if (!m[b])
        return;
    json_object_set_new(o, "message", json_stringn(m, b));
    json_object_set_new(o, "message_cut", json_true());
}

/* The summaries of every row of `res` (REQ_COLS from column 0), up to `max`, messages cut. */
static json_t *summaries(const PGresult *res, int max)
{
    json_t *list = json_array();
    struct lg_request r;
    json_t *o;

    for (int i = 0; i < PQntuples(res) && i < max; i++) {
        store_row_to_request(res, i, 0, &r);
        o = summary(&r);
        preview(o);
        json_array_append_new(list, o);
    }
    return list;
}

int store_console_pending(const struct console_user *u, json_t **out, struct lg_error *err)
{
    const char *p[4];
    char tid[24];
    PGresult *res;

    visible_params(u, p, tid);
    res = store_run(&T, S_PENDING, 4, p, err);
    if (!res)
        return -1;
    *out = json_pack("{s:o, s:i}", "requests", summaries(res, PQntuples(res)), "count",
                     PQntuples(res));
    PQclear(res);
    return 0;
}

/* JSON text of a column, parsed; null for NULL or junk. New reference. */
static json_t *col_json(const PGresult *res, int c)
{
    json_t *v = PQgetisnull(res, 0, c) ? NULL : json_loads(PQgetvalue(res, 0, c), 0, NULL);

    return v ? v : json_null();
}

int store_console_request(const struct console_user *u, const char *id, json_t **out,
                          struct lg_error *err)
{
    const char *p[6];
    char tid[24];
    struct lg_request r;
    json_t *o, *poll;
    PGresult *res;
    bool already;

    visible_params(u, p, tid);
    p[4] = id;
    p[5] = u->person;
    res = store_run(&T, S_REQUEST, 6, p, err);
    if (!res)
        return -1;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return lg_fail(err, 404, "not_found", "no request with id '%s'", id);
    }
    store_row_to_request(res, 0, 0, &r);
    o = summary(&r);
    poll = shape_poll(&r);
    json_object_set(o, "responder", json_object_get(poll, "responder"));
    json_decref(poll);
    already = col_bool(res, 0, REQ_NCOLS + 3);
    json_object_set_new(o, "votes", col_json(res, REQ_NCOLS));
    json_object_set_new(o, "timeline", col_json(res, REQ_NCOLS + 1));
    json_object_set_new(o, "escalated_to",
                        PQgetisnull(res, 0, REQ_NCOLS + 2)
                            ? json_null()
                            : json_string(PQgetvalue(res, 0, REQ_NCOLS + 2)));
    json_object_set_new(o, "already_voted", json_boolean(already));
    json_object_set_new(o, "may_vote", json_boolean(col_bool(res, 0, REQ_NCOLS + 5)));
    json_object_set_new(o, "can_vote",
                        json_boolean(!strcmp(r.status, "pending") && !already &&
                                     col_bool(res, 0, REQ_NCOLS + 5) &&
                                     col_bool(res, 0, REQ_NCOLS + 6)));
    /* the tool call whole, whatever its message had to leave out */
    json_object_set_new(o, "tool",
                        PQgetisnull(res, 0, REQ_NCOLS + 7)
                            ? json_null()
                            : json_string(PQgetvalue(res, 0, REQ_NCOLS + 7)));
    json_object_set_new(o, "tool_input", col_json(res, REQ_NCOLS + 8));
    /* what a vote checks its body against: the params as submitted, never edited ones */
    json_object_set_new(o, "_submitted_params", col_json(res, REQ_NCOLS + 4));
    json_object_set_new(o, "_option_approve",
                        json_string(r.option_approve ? r.option_approve : ""));
    PQclear(res);
    *out = o;
    return 0;
}

int store_console_can_see(const struct console_user *u, const char *id, struct lg_error *err)
{
    const char *p[5];
    char tid[24];
    PGresult *res;
    int rc;

    if (!uuid_valid(id))
        return 0;
    visible_params(u, p, tid);
    p[4] = id;
    res = store_run(&T, S_CAN_SEE, 5, p, err);
    if (!res)
        return -1;
    rc = PQntuples(res) == 1;
    PQclear(res);
    return rc;
}

int store_console_history(const struct console_user *u, const struct console_history_q *q,
                          json_t **out, struct lg_error *err)
{
    const char *p[11];
    char tid[24], lim[16];
    PGresult *res;
    json_t *next = json_null();

    visible_params(u, p, tid);
    snprintf(lim, sizeof(lim), "%d", q->limit + 1);
    p[4] = q->session_id;
    p[5] = q->status;
    p[6] = q->since;
    p[7] = q->until;
    p[8] = q->before_at;
    p[9] = q->before_id;
    p[10] = lim;
    res = store_run(&T, S_HISTORY, 11, p, err);
    if (!res)
        return -1;
    if (PQntuples(res) > q->limit) {
        /* the cursor: the last row shown, "<created_at>~<id>" */
        struct lg_request r;
        char cur[128];

        store_row_to_request(res, q->limit - 1, 0, &r);
        snprintf(cur, sizeof(cur), "%s~%s", r.created_at, r.id);
        next = json_string(cur);
    }
    *out = json_pack("{s:o, s:o}", "requests", summaries(res, q->limit), "next", next);
    PQclear(res);
    return 0;
}

int store_console_sessions(const struct console_user *u, json_t **out, struct lg_error *err)
{
    const char *p[] = {u->tenant};
    PGresult *res = store_run(&T, S_SESSIONS, 1, p, err);
    json_t *list;

    if (!res)
        return -1;
    list = col_json(res, 0);
    PQclear(res);
    *out = json_pack("{s:o}", "sessions", json_is_array(list) ? list : json_array());
    if (!json_is_array(list))
        json_decref(list);
    return 0;
}

int store_console_vote(const struct console_user *u, const struct console_vote *v,
                       const char **result, struct lg_error *err)
{
    char tid[24], *detail = json_dumps(v->detail, JSON_COMPACT);
    char *params = v->params ? json_dumps(v->params, JSON_COMPACT) : NULL;
    const char *p[] = {v->request_id,
                       u->person,
                       u->telegram_id > 0 ? tid : NULL,
                       u->name,
                       v->approve ? "true" : "false",
                       v->response,
                       detail,
                       v->reason,
                       params};
    PGresult *res;
    const char *got;
    int rc = 0;

    snprintf(tid, sizeof(tid), "%lld", (long long)u->telegram_id);
    res = store_run(&T, S_VOTE, 9, p, err);
    free(detail);
    free(params);
    if (!res)
        return -1;
    got = PQntuples(res) == 1 ? col(res, 0, 0) : NULL;
    if (!got)
        rc = lg_fail(err, 500, "internal", "the vote was not recorded");
    else if (!strcmp(got, "already"))
        rc = lg_fail(err, 409, "already_voted", "you already voted on this request");
    else if (!strcmp(got, "gone"))
        rc = lg_fail(err, 409, "not_pending", "this request is no longer pending");
    else
        *result = !strcmp(got, "approved") ? "approved"
                  : !strcmp(got, "denied") ? "denied"
                                           : "voted";
    if (rc == 0 && strcmp(*result, "voted") != 0)
        metrics_decided(strcmp(PQgetvalue(res, 0, 2), "input") == 0 ? METRICS_ANSWERED
                        : **result == 'a'                           ? METRICS_APPROVED
                                                                    : METRICS_DENIED,
                        METRICS_CH_CONSOLE, 1,
                        PQgetisnull(res, 0, 1) ? -1 : strtod(PQgetvalue(res, 0, 1), NULL));
    PQclear(res);
    return rc;
}
