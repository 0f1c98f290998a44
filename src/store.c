/*
 * store.c - what the files of the store share (store_internal.h), and the
 * readiness ping (store.h).
 */
#include "store.h"

#include <stdio.h>
#include <string.h>

#include "db.h"
#include "store_internal.h"

enum { S_PING, S_SCHEMA_VERSIONS, S_OUTBOX_STUCK, S_COUNT };

static const struct db_stmt stmts[] = {
    [S_PING] = {"ping", "SELECT 1", true},
    [S_SCHEMA_VERSIONS] = {"schema_versions",
                           "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1),"
                           " coalesce((SELECT string_agg(version, ',' ORDER BY version)"
                           "           FROM schema_migrations WHERE version <> ALL ($2::text[])),"
                           " '')",
                           true},
    [S_OUTBOX_STUCK] = {"outbox_stuck",
                        "SELECT count(*), coalesce(max(extract(epoch FROM now() - least("
                        "           next_attempt_at, CASE WHEN attempts > 0 THEN created_at END))"
                        "         )::bigint, 0),"
                        "       coalesce(string_agg(DISTINCT kind, ','), '')"
                        "  FROM outbox"
                        " WHERE state = 'queued'"
                        "   AND (next_attempt_at < now() - make_interval(secs => $1::int)"
                        "        OR (kind LIKE 'tg\\_%' AND attempts > 0"
                        "            AND created_at < now() - make_interval(secs => $1::int)))",
                        true},
};

static const struct db_table T = {stmts, S_COUNT, STORE_CORE};

void store_row_to_request(const PGresult *res, int row, int c0, struct lg_request *r)
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
    r->option_approve = col(res, row, c0 + 18);
    r->tg_chat_id = col_int(res, row, c0 + 19);
    r->tg_message_id = col_int(res, row, c0 + 20);
    r->tg_state = col(res, row, c0 + 21);
    r->tg_attempts = (int)col_int(res, row, c0 + 22);
    r->tg_error = col(res, row, c0 + 23);
    r->tg_sent_at = col(res, row, c0 + 24);
    r->cb_state = col(res, row, c0 + 25);
    r->cb_attempts = (int)col_int(res, row, c0 + 26);
    r->cb_error = col(res, row, c0 + 27);
    r->cb_delivered_at = col(res, row, c0 + 28);
    r->approvals_required = (int)col_int(res, row, c0 + 29);
    r->deny_vetoes = col_bool(res, row, c0 + 30);
    r->votes_json = col(res, row, c0 + 31);
    r->params_json = col(res, row, c0 + 32);
    r->edited = col_bool(res, row, c0 + 33);
    r->params_schema_json = col(res, row, c0 + 34);
    r->reminders = (int)col_int(res, row, c0 + 35);
    r->escalated = col_bool(res, row, c0 + 36);
    r->esc_chat_id = col_int(res, row, c0 + 37);
    r->esc_message_id = col_int(res, row, c0 + 38);
    r->esc_bot_id = col_int(res, row, c0 + 39);
}

PGresult *store_run(const struct db_table *t, int idx, int n, const char *const *params,
                    struct lg_error *err)
{
    struct db_conn *c = db_acquire(err);
    PGresult *res;

    if (!c)
        return NULL;
    res = db_run(c, t, idx, n, params, err);
    db_release(c);
    return res;
}

int store_run_void(const struct db_table *t, int idx, int n, const char *const *params,
                   struct lg_error *err)
{
    PGresult *res = store_run(t, idx, n, params, err);

    if (!res)
        return -1;
    PQclear(res);
    return 0;
}

int store_ping(struct lg_error *err)
{
    PGresult *res = store_run(&T, S_PING, 0, NULL, err);

    if (!res)
        return -1;
    PQclear(res);
    return 0;
}

int store_schema_versions(const char *newest, const char *known, bool *has_newest, char *unknown,
                          size_t len, struct lg_error *err)
{
    const char *p[] = {newest, known};
    PGresult *res = store_run(&T, S_SCHEMA_VERSIONS, 2, p, err);

    if (!res)
        return -1;
    *has_newest = col_bool(res, 0, 0);
    (void)utf8_strlcpy(unknown, PQgetvalue(res, 0, 1), len);
    PQclear(res);
    return 0;
}

int store_outbox_stuck(int max_age_s, long *count, long *oldest_s, char *kinds, size_t len,
                       struct lg_error *err)
{
    char a[16];
    const char *p[] = {a};
    PGresult *res;

    snprintf(a, sizeof(a), "%d", max_age_s);
    res = store_run(&T, S_OUTBOX_STUCK, 1, p, err);
    if (!res)
        return -1;
    *count = (long)col_int(res, 0, 0);
    *oldest_s = (long)col_int(res, 0, 1);
    (void)utf8_strlcpy(kinds, PQgetvalue(res, 0, 2), len);
    PQclear(res);
    return 0;
}
