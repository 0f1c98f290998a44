/*
 * store.c - what the files of the store share (store_internal.h), and the
 * readiness ping (store.h).
 */
#include "store.h"

#include <string.h>

#include "db.h"
#include "store_internal.h"

enum { S_PING, S_COUNT };

static const struct db_stmt stmts[] = {
    [S_PING] = {"ping", "SELECT 1", true},
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
