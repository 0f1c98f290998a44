/*
 * store_sessions.c - sessions of agents: register, read, deactivate; see
 * store_sessions.h.
 *
 * Statements are prepared per connection on first use (db_run), in the
 * range of the prepared set that store_internal.h gives this file.
 */
#include "store_sessions.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "shape.h"
#include "store_internal.h"

#define SES_COLS                                                                                   \
    "session_id, client_id, telegram_chat_id, array_to_json(approvers)::text AS approvers_t, "     \
    "active, lg_ts(created_at) AS created_t, lg_ts(updated_at) AS updated_t"

enum { S_SESSION_UPSERT, S_SESSION_GET, S_SESSION_DEACTIVATE, S_SESSION_ACTIVE, S_COUNT };

static const struct db_stmt stmts[] = {
    [S_SESSION_UPSERT] =
        {"session_upsert",
         /*
          * The defaults for reminders and escalation (021): $7-$9 NULL keep
          * them, 0 (or "") clears them, else sets them.
          */
         /*
          * $4 NULL: no telegram_id, a console-only session (022); $10 the
          * console approvers, NULL keeps them.
          */
         "WITH up AS (INSERT INTO sessions (tenant, session_id, client_id, telegram_chat_id,"
         "                                  approvers, remind_after_seconds,"
         "                                  escalate_after_seconds, escalate_to,"
         "                                  console_approvers)"
         "            VALUES ($1, $2, $3, $4::bigint, COALESCE($5::bigint[], '{}'),"
         "                    nullif($7::int, 0), nullif($8::int, 0), nullif($9, ''),"
         "                    COALESCE($10::text[], '{}'))"
         "            ON CONFLICT (tenant, session_id) DO UPDATE SET"
         "              client_id = EXCLUDED.client_id,"
         "              telegram_chat_id = EXCLUDED.telegram_chat_id,"
         "              approvers = COALESCE($5::bigint[], sessions.approvers),"
         "              console_approvers = COALESCE($10::text[], sessions.console_approvers),"
         "              remind_after_seconds = CASE WHEN $7::int IS NULL"
         "                THEN sessions.remind_after_seconds ELSE nullif($7::int, 0) END,"
         "              escalate_after_seconds = CASE WHEN $8::int IS NULL"
         "                THEN sessions.escalate_after_seconds ELSE nullif($8::int, 0) END,"
         "              escalate_to = CASE WHEN $8::int IS NULL THEN sessions.escalate_to"
         "                ELSE nullif($9, '') END,"
         "              active = true, updated_at = now()"
         "            RETURNING *, (xmax = 0) AS inserted),"
         " a AS (INSERT INTO audit_log (tenant, session_id, actor, action, detail)"
         "       SELECT $1, session_id, $6,"
         "              CASE WHEN inserted THEN 'session_registered' ELSE 'session_updated' END,"
         "              jsonb_build_object('client_id', client_id, 'telegram_id', telegram_chat_id,"
         "                                 'approvers', approvers)"
         "              || CASE WHEN cardinality(console_approvers) > 0"
         "                      THEN jsonb_build_object('console_approvers', console_approvers)"
         "                      ELSE '{}' END"
         "       FROM up)"
         " SELECT " SES_COLS ", 0, inserted, remind_after_seconds, escalate_after_seconds,"
         "   escalate_to, array_to_json(console_approvers)::text FROM up",
         false},
    [S_SESSION_ACTIVE] = {"session_active",
                          "SELECT 1 FROM sessions WHERE tenant = $1 AND session_id = $2 AND active",
                          true},
    [S_SESSION_GET] = {"session_get",
                       "SELECT " SES_COLS ", (SELECT count(*) FROM requests r"
                       "  WHERE r.tenant = s.tenant AND r.session_id = s.session_id"
                       "    AND r.status = 'pending')"
                       " , remind_after_seconds, escalate_after_seconds, escalate_to,"
                       "   array_to_json(console_approvers)::text"
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
};

_Static_assert(S_COUNT <= STORE_RANGE_SIZE, "store_sessions: more statements than its range");
static const struct db_table T = {stmts, S_COUNT, STORE_SESSIONS};

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

/* The defaults for reminders and escalation (021) from columns c0..c0+2, added to `o`. */
static void add_defaults(json_t *o, const PGresult *res, int c0)
{
    json_object_set_new(o, "remind_after_seconds",
                        PQgetisnull(res, 0, c0) ? json_null() : json_integer(col_int(res, 0, c0)));
    json_object_set_new(o, "escalate_after_seconds",
                        PQgetisnull(res, 0, c0 + 1) ? json_null()
                                                    : json_integer(col_int(res, 0, c0 + 1)));
    json_object_set_new(o, "escalate_to",
                        PQgetisnull(res, 0, c0 + 2) ? json_null()
                                                    : json_string(PQgetvalue(res, 0, c0 + 2)));
}

/* A JSON array of console names as a PostgreSQL text[] literal; NULL for none. */
static char *pg_name_array(json_t *arr)
{
    struct sbuf b = {0};
    size_t i;
    json_t *v;

    if (!arr)
        return NULL;
    sb_puts(&b, "{");
    /* names are [A-Za-z0-9._@-] (validate_console_name): nothing to quote */
    json_array_foreach(arr, i, v)
    {
        if (i)
            sb_puts(&b, ",");
        sb_puts(&b, json_string_value(v));
    }
    sb_puts(&b, "}");
    return b.p;
}

/* The console approvers of column `c` (JSON array text), added to `o`. */
static void add_console_approvers(json_t *o, const PGresult *res, int c)
{
    json_t *v = PQgetisnull(res, 0, c) ? NULL : json_loads(PQgetvalue(res, 0, c), 0, NULL);

    json_object_set_new(o, "console_approvers", v ? v : json_array());
}

/* A session without a Telegram chat (022) shows telegram_id null. */
static void fix_telegram_id(json_t *o, const PGresult *res)
{
    if (PQgetisnull(res, 0, 2))
        json_object_set_new(o, "telegram_id", json_null());
}

/* Format a JSON array of integers as a PostgreSQL array literal; NULL for none. */
static char *pg_int_array(json_t *arr)
{
    size_t i, cap, len = 1;
    json_t *v;
    char *out;

    if (!arr)
        return NULL;
    cap = 3 + json_array_size(arr) * 21; /* "{", "}", NUL: "{}" for an empty list */
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
    char tid[24], ra[16], ea[16];
    char *approvers = pg_int_array(in->approvers);
    char *names = pg_name_array(in->console_approvers);
    const char *p[] = {who->tenant,
                       in->session_id,
                       in->client_id,
                       tid,
                       approvers,
                       who->name,
                       in->remind_after_seconds < 0 ? NULL : ra,
                       in->escalate_after_seconds < 0 ? NULL : ea,
                       in->escalate_to,
                       names};
    PGresult *res;
    struct lg_session s;

    if (in->escalate_to && *in->escalate_to) {
        /* A default escalation names a session that can be escalated to, as a submit's does. */
        const char *q[] = {who->tenant, in->escalate_to};

        res = store_run(&T, S_SESSION_ACTIVE, 2, q, err);
        if (!res) {
            free(approvers);
            free(names);
            return -1;
        }
        if (PQntuples(res) == 0) {
            PQclear(res);
            free(approvers);
            free(names);
            return lg_fail(err, 400, "invalid_field",
                           "escalate_to names no active session of this tenant ('%s'); register "
                           "that session first",
                           in->escalate_to);
        }
        PQclear(res);
    }
    snprintf(tid, sizeof(tid), "%lld", (long long)in->telegram_id);
    if (in->telegram_id == 0)
        p[3] = NULL;
    snprintf(ra, sizeof(ra), "%d", in->remind_after_seconds);
    snprintf(ea, sizeof(ea), "%d", in->escalate_after_seconds);
    res = store_run(&T, S_SESSION_UPSERT, 10, p, err);
    free(approvers);
    free(names);
    if (!res)
        return -1;
    row_to_session(res, 0, &s);
    *out = json_pack("{s:b, s:s, s:s, s:s, s:I, s:b}", "success", 1, "session_id", s.session_id,
                     "client_id", s.client_id, "message",
                     col_bool(res, 0, 8) ? "Session registered successfully"
                                         : "Session updated successfully",
                     "telegram_id", (json_int_t)s.telegram_id, "created", col_bool(res, 0, 8));
    add_defaults(*out, res, 9);
    add_console_approvers(*out, res, 12);
    fix_telegram_id(*out, res);
    PQclear(res);
    return 0;
}

int store_session_get(const struct actor *who, const char *session_id, json_t **out,
                      struct lg_error *err)
{
    const char *p[] = {who->tenant, session_id};
    PGresult *res = store_run(&T, S_SESSION_GET, 2, p, err);
    struct lg_session s;

    if (!res)
        return -1;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return lg_fail(err, 404, "session_not_found", "no session with id '%s'", session_id);
    }
    row_to_session(res, 0, &s);
    *out = shape_session(&s);
    add_defaults(*out, res, 8);
    add_console_approvers(*out, res, 11);
    fix_telegram_id(*out, res);
    PQclear(res);
    return 0;
}

int store_session_deactivate(const struct actor *who, const char *session_id, json_t **out,
                             struct lg_error *err)
{
    const char *p[] = {who->tenant, session_id, who->name};
    PGresult *res = store_run(&T, S_SESSION_DEACTIVATE, 3, p, err);

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
