/*
 * store_internal.h - what the files of the store share; included by
 * store*.c only.
 *
 * 1. The store is one file per aggregate (store_requests.c, store_sessions.c,
 *    store_keys.c, store_outbox.c, store_tg.c, store_mcp.c, store_events.c),
 *    each owning its statements and row readers; store.c holds what
 *    several of them use.
 * 2. Each file has a table of statements (struct db_table) with a range of
 *    its own in a connection's prepared set (db.h): STORE_RANGE_SIZE
 *    statements from the base named here. A new aggregate takes the next
 *    free range.
 * 3. A function borrows a connection for its own span (store_run) and gives
 *    it back before it returns; strings in the structs it fills are
 *    borrowed from a PGresult only inside the store.
 */
#ifndef LG_STORE_INTERNAL_H
#define LG_STORE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "db.h"
#include "shape.h"
#include "util.h"

#define STORE_RANGE_SIZE 32

enum store_range {
    STORE_CORE = 0 * STORE_RANGE_SIZE,
    STORE_KEYS = 1 * STORE_RANGE_SIZE,
    STORE_SESSIONS = 2 * STORE_RANGE_SIZE,
    STORE_REQUESTS = 3 * STORE_RANGE_SIZE,
    STORE_OUTBOX = 4 * STORE_RANGE_SIZE,
    STORE_TG = 5 * STORE_RANGE_SIZE,
    STORE_MCP = 6 * STORE_RANGE_SIZE,
    STORE_CONSOLE = 7 * STORE_RANGE_SIZE,
    STORE_EVENTS = 8 * STORE_RANGE_SIZE,
    STORE_TGLOGIN = 10 * STORE_RANGE_SIZE,
    STORE_POLICY = 11 * STORE_RANGE_SIZE,
    STORE_JANITOR = 12 * STORE_RANGE_SIZE,
};

/* The columns of a request, in the order store_row_to_request reads them. */
/*
 * The votes of the request as the API shows them (requests.votes, written
 * with each vote by lg_vote): JSON text, or NULL when there are none.
 */
#define VOTES_JSON "votes::text AS votes_t"

/*
 * A request's params (020): the final ones (a person's edits when the
 * request was approved with them, else as submitted; NULL: none), whether
 * they were edited, and the schema edits must meet.
 */
#define PARAMS_COLS                                                                                \
    "coalesce(edited_params, params)::text AS params_t, edited_params IS NOT NULL AS edited_b"
#define PARAMS_SCHEMA_COL "params_schema::text AS params_schema_t"
/* Reminders and escalation (021): what the API and the Telegram messages need. */
#define ESCALATION_COLS                                                                            \
    "reminders, escalated_at IS NOT NULL AS escalated, esc_chat_id, esc_message_id, esc_bot_id"

#define REQ_COLS                                                                                   \
    "id::text AS rid, session_id, client_id, message, request_type, options::text AS options_t, "  \
    "metadata::text AS metadata_t, timeout_seconds, on_timeout, callback_url, status, response, "  \
    "approved, lg_ts(created_at) AS created_t, lg_ts(expires_at) AS expires_t, "                   \
    "lg_ts(responded_at) AS responded_t, responder_id, responder_name, "                           \
    "option_approve::text AS approve_t, telegram_chat_id AS tg_chat, "                             \
    "telegram_message_id AS tg_msg, tg_state, tg_attempts, tg_error, "                             \
    "lg_ts(tg_sent_at) AS tg_sent_t, cb_state, cb_attempts, cb_error, "                            \
    "lg_ts(cb_delivered_at) AS cb_delivered_t, approvals_required, deny_vetoes, " VOTES_JSON       \
    ", " PARAMS_COLS ", " PARAMS_SCHEMA_COL ", " ESCALATION_COLS
#define REQ_NCOLS 40

/* A column value, or NULL for SQL NULL. */
static inline const char *col(const PGresult *res, int row, int c)
{
    return PQgetisnull(res, row, c) ? NULL : PQgetvalue(res, row, c);
}

static inline int64_t col_int(const PGresult *res, int row, int c)
{
    int64_t v = 0;

    if (PQgetisnull(res, row, c) || parse_int64(PQgetvalue(res, row, c), &v) < 0)
        return 0;
    return v;
}

static inline bool col_bool(const PGresult *res, int row, int c)
{
    return !PQgetisnull(res, row, c) && PQgetvalue(res, row, c)[0] == 't';
}

/* Fill `r` from REQ_COLS starting at column `c0`; strings borrowed from `res`. */
void store_row_to_request(const PGresult *res, int row, int c0, struct lg_request *r);

/* Borrow a connection, run statement `idx` of `t`, give the connection back. */
PGresult *store_run(const struct db_table *t, int idx, int n, const char *const *params,
                    struct lg_error *err);

/* Run a statement whose result is not needed. */
int store_run_void(const struct db_table *t, int idx, int n, const char *const *params,
                   struct lg_error *err);

#endif
