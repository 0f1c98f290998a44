/*
 * store.c - every SQL statement; see store.h.
 *
 * Statements are prepared per connection on first use (db_run). Each
 * public function follows one pattern: borrow a connection, run the
 * statement, turn rows into shape.c structs, release, answer.
 */
#include "store.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "notify.h"
#include "shape.h"

/* The columns of a request, in the order row_to_request reads them. */
#define REQ_COLS                                                                                   \
    "id::text AS rid, session_id, client_id, message, request_type, options::text AS options_t, "  \
    "metadata::text AS metadata_t, timeout_seconds, on_timeout, callback_url, status, response, "  \
    "approved, lg_ts(created_at) AS created_t, lg_ts(expires_at) AS expires_t, "                   \
    "lg_ts(responded_at) AS responded_t, responder_id, responder_name, "                           \
    "option_approve::text AS approve_t, telegram_chat_id AS tg_chat, "                             \
    "telegram_message_id AS tg_msg, tg_state, tg_attempts, tg_error, "                             \
    "lg_ts(tg_sent_at) AS tg_sent_t, cb_state, cb_attempts, cb_error, "                            \
    "lg_ts(cb_delivered_at) AS cb_delivered_t"
#define REQ_NCOLS 29

/*
 * What a poll answers (shape_poll), read by row_to_poll. The hottest
 * statement: its timestamps come as PostgreSQL prints them (db.c fixes
 * DateStyle and TimeZone) and are put in the API's form here; lg_ts()'s
 * to_char made the statement a fifth slower (pgbench, 4 clients).
 */
#define POLL_COLS                                                                                  \
    "id::text, status, response, approved, request_type, created_at, expires_at, responded_at, "   \
    "responder_id, responder_name, tg_state, tg_attempts, tg_error, tg_sent_at, "                  \
    "telegram_message_id, callback_url, cb_state, cb_attempts, cb_error, cb_delivered_at"
#define POLL_TENANT 20 /* the column after POLL_COLS, where a statement adds the tenant */

/* What a submit answers (shape_submitted), read by row_to_submitted. */
#define SUBMITTED_COLS                                                                             \
    "id, status, lg_ts(created_at) AS created_t, lg_ts(expires_at) AS expires_t, request_type, "   \
    "timeout_seconds"
#define SUBMITTED_NCOLS 6

/* The approvers of a request's session, for a query over `requests r`. */
#define SESSION_APPROVERS                                                                          \
    "(SELECT s.approvers::text FROM sessions s"                                                    \
    "  WHERE s.tenant = r.tenant AND s.session_id = r.session_id)"

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
    S_POLL_ROWS,
    S_REQUEST_PENDING,
    S_REQUEST_CANCEL,
    S_KEY_CREATE,
    S_KEY_LIST,
    S_KEY_REVOKE,
    S_OUTBOX_CLAIM,
    S_OUTBOX_NEXT_DUE,
    S_OUTBOX_CLAIM_WEBHOOK,
    S_OUTBOX_RENEW,
    S_REQUEST_ROW,
    S_DELIVERY_SENT,
    S_OUTBOX_DONE,
    S_OUTBOX_RECOVERED,
    S_OUTBOX_RETRY,
    S_OUTBOX_FAIL,
    S_PACE_DELAY,
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
    S_TG_PRUNE,
    S_TG_BOT_REFUSED,
    S_TG_BOT_ACCEPTED,
    S_TG_BOT_STATE,
    S_TG_ADOPT_UNOWNED,
    S_EXPIRE,
    S_CALLBACK_SET,
    S_WEBHOOK_SECRET,
    S_WEBHOOK_ROTATE,
    S_WEBHOOK_DONE,
    S_WEBHOOK_RETRY,
    S_WEBHOOK_FAIL,
    S_MCP_CREATE,
    S_MCP_GET,
    S_MCP_END,
    S_COUNT
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
    /*
     * Every submit of a batch (write_batch) in one statement and one commit:
     * $1 is a JSON array of requests, $2 the pending limit. One row per
     * request, in order: the new request, or NULLs with whether the session
     * is active and how many requests were pending. A request counts against
     * the limit with the pending requests of its tenant and those before it in
     * the batch; ids are drawn first so that RETURNING rows find their request.
     */
    [S_REQUEST_SUBMIT] =
        {"request_submit",
         "WITH b AS MATERIALIZED (SELECT x.*, gen_random_uuid() AS id"
         "   FROM ROWS FROM (jsonb_to_recordset($1::jsonb) AS (t text, s text, c text, m text,"
         "          rt text, o jsonb, md jsonb, ts int, ot text, cb text, ik text, bh text,"
         "          a text, ap boolean[]))"
         "   WITH ORDINALITY AS x(t, s, c, m, rt, o, md, ts, ot, cb, ik, bh, a, ap, ord)),"
         " p AS (SELECT tenant, sum(n) AS n FROM tenant_pending"
         "       WHERE tenant IN (SELECT t FROM b) GROUP BY tenant),"
         " e AS MATERIALIZED (SELECT b.*, s.active, s.telegram_chat_id AS chat,"
         "          COALESCE(p.n, 0) AS n, CASE WHEN s.active THEN COALESCE(p.n, 0)"
         "            + count(*) FILTER (WHERE s.active) OVER (PARTITION BY b.t ORDER BY b.ord)"
         "          END AS nth"
         "   FROM b LEFT JOIN sessions s ON s.tenant = b.t AND s.session_id = b.s"
         "   LEFT JOIN p ON p.tenant = b.t),"
         " ins AS (INSERT INTO requests (id, tenant, session_id, client_id, message, request_type,"
         "           options, metadata, timeout_seconds, expires_at, on_timeout, callback_url,"
         "           idempotency_key, body_hash, option_approve, telegram_chat_id)"
         "         SELECT id, t, s, c, m, rt, o, md, ts, now() + make_interval(secs => ts), ot, cb,"
         "                ik, bh, ap, chat"
         "         FROM e WHERE nth <= $2::int ORDER BY ord"
         "         ON CONFLICT (tenant, idempotency_key) WHERE idempotency_key IS NOT NULL"
         "         DO NOTHING"
         "         RETURNING " SUBMITTED_COLS ", tenant, session_id, telegram_chat_id),"
         " au AS (INSERT INTO audit_log (tenant, request_id, session_id, actor, action)"
         "        SELECT ins.tenant, id, ins.session_id, e.a, 'submitted'"
         "        FROM ins JOIN e USING (id)),"
         " o AS (INSERT INTO outbox (kind, request_id, chat_id)"
         "       SELECT 'tg_send', id, telegram_chat_id FROM ins)"
         " SELECT ins.id::text, status, created_t, expires_t, request_type, timeout_seconds,"
         "   e.active, e.n"
         " FROM e LEFT JOIN ins USING (id) ORDER BY e.ord",
         false},
    [S_REQUEST_BY_IDEM] = {"request_by_idem",
                           "SELECT " REQ_COLS ", body_hash FROM requests"
                           " WHERE tenant = $1 AND idempotency_key = $2",
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
         "           RETURNING " REQ_COLS "),"
         " a AS (INSERT INTO audit_log (tenant, request_id, session_id, actor, action)"
         "       SELECT $2, rid::uuid, session_id, $3, 'canceled' FROM u),"
         " e AS (INSERT INTO outbox (kind, request_id, chat_id, priority)"
         "       SELECT 'tg_edit', rid::uuid, tg_chat, 3 FROM u WHERE tg_msg IS NOT NULL),"
         " w AS (INSERT INTO outbox (kind, request_id, priority)"
         "       SELECT 'webhook', rid::uuid, 2 FROM u WHERE callback_url IS NOT NULL)"
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
    /* the Telegram lane (sql/013_lanes.sql) */
    [S_OUTBOX_CLAIM] = {"outbox_claim_tg",
                        "SELECT id, kind, request_id::text, chat_id, payload::text, attempts"
                        " FROM outbox_claim_tg($1::int, make_interval(secs => $6::int),"
                        "   make_interval(secs => $2::float8 / 1000),"
                        "   make_interval(secs => $3::float8 / 1000),"
                        "   make_interval(secs => $4::float8 / 1000), $5::int)",
                        false},
    [S_OUTBOX_CLAIM_WEBHOOK] = {"outbox_claim_webhook",
                                "SELECT o_id, o_request_id::text, o_attempts, o_tenant, o_host"
                                " FROM outbox_claim_webhook(make_interval(secs => $1::int),"
                                "   $2::int, $3::int)",
                                false},
    [S_OUTBOX_RENEW] = {"outbox_renew",
                        "SELECT outbox_renew($1::bigint, $2::int, make_interval(secs => $3::int))",
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
    [S_REQUEST_ROW] = {"request_row",
                       "SELECT " REQ_COLS ", tenant FROM requests WHERE id = $1::uuid", true},
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
    [S_TG_UPDATE_SEEN] = {"tg_update_seen",
                          "INSERT INTO tg_updates (bot_id, update_id)"
                          " VALUES ($2::bigint, $1::bigint)"
                          " ON CONFLICT DO NOTHING RETURNING 1",
                          false},
    [S_TG_REQUEST_LOCK] = {"tg_request_lock",
                           "SELECT " REQ_COLS ", tenant, " SESSION_APPROVERS ","
                           " expires_at <= now(), tg_bot_id FROM requests r"
                           " WHERE id = $1::uuid FOR UPDATE",
                           false},
    [S_TG_REQUEST_BY_MESSAGE] = {"tg_request_by_message",
                                 "SELECT " REQ_COLS ", tenant, " SESSION_APPROVERS ","
                                 " expires_at <= now(), tg_bot_id FROM requests r"
                                 " WHERE telegram_chat_id = $1::bigint"
                                 "   AND telegram_message_id = $2::bigint"
                                 /* this exact bot's: bot 0 is nobody's (017) */
                                 "   AND tg_bot_id = $3::bigint FOR UPDATE",
                                 false},
    [S_TG_PRESS] = {"tg_press",
                    "SELECT tg_press($11::bigint, $1::bigint, $2::uuid, $3::integer, $4::bigint,"
                    " $5::bigint, $6::bigint, $7, $8::bigint[], $9::boolean, $10)",
                    false},
    [S_TG_DECIDED] = {"tg_decided",
                      "SELECT tg_decided($1::uuid, $2, $3::boolean, $4::bigint, $5, $6, $7::jsonb,"
                      " $8::jsonb)",
                      false},
    [S_TG_ENQUEUE] = {"tg_enqueue",
                      "INSERT INTO outbox (kind, request_id, chat_id, payload, priority)"
                      " VALUES ($1, $2::uuid, $3::bigint, $4::jsonb, $5::smallint)",
                      false},
    [S_TG_AUDIT] = {"tg_audit",
                    "INSERT INTO audit_log (tenant, request_id, session_id, actor, action, detail)"
                    " VALUES ($1, $2::uuid, $3, $4, $5, $6::jsonb)",
                    false},
    [S_TG_CHAT_PENDING] = {"tg_chat_pending",
                           "SELECT id::text, message, lg_ts(expires_at) FROM requests"
                           " WHERE telegram_chat_id = $1::bigint AND status = 'pending'"
                           " ORDER BY created_at LIMIT 20",
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
    [S_TG_PRUNE] = {"tg_prune",
                    "DELETE FROM tg_updates WHERE ctid = ANY (ARRAY("
                    "  SELECT ctid FROM tg_updates"
                    "  WHERE received_at < now() - make_interval(hours => $1::int)"
                    "  LIMIT $2::int))",
                    false},
    [S_TG_BOT_REFUSED] = {"tg_bot_refused",
                          /* true when this call found the token refused first */
                          "INSERT INTO tg_bots (bot_id, error) VALUES ($1::bigint, $2)"
                          " ON CONFLICT (bot_id) DO UPDATE SET error = EXCLUDED.error"
                          " RETURNING xmax = 0",
                          false},
    [S_TG_BOT_ACCEPTED] = {"tg_bot_accepted",
                           "DELETE FROM tg_bots WHERE bot_id = $1::bigint RETURNING 1", false},
    [S_TG_BOT_STATE] = {"tg_bot_state", "SELECT error FROM tg_bots WHERE bot_id = $1::bigint",
                        true},
    [S_TG_ADOPT_UNOWNED] = {"tg_adopt_unowned",
                            "SELECT tg_adopt_unowned($1::bigint), (SELECT bot_id FROM"
                            " tg_unowned_adopted)",
                            false},
    [S_EXPIRE] = {"expire", "SELECT requests_expire($1::int)", false},
    [S_CALLBACK_SET] = {"callback_set",
                        "UPDATE requests SET callback_url = $3, updated_at = now()"
                        " WHERE id = $1::uuid AND tenant = $2 AND status = 'pending'"
                        " RETURNING 1",
                        false},
    [S_WEBHOOK_SECRET] = {"webhook_secret",
                          "WITH i AS (INSERT INTO webhook_secrets (tenant, secret) VALUES ($1, $2)"
                          "           ON CONFLICT DO NOTHING RETURNING secret)"
                          " SELECT secret FROM i UNION ALL"
                          " SELECT secret FROM webhook_secrets WHERE tenant = $1 LIMIT 1",
                          false},
    [S_WEBHOOK_ROTATE] = {"webhook_rotate",
                          "INSERT INTO webhook_secrets (tenant, secret) VALUES ($1, $2)"
                          " ON CONFLICT (tenant) DO UPDATE SET secret = EXCLUDED.secret,"
                          "   created_at = now()",
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
    [S_MCP_CREATE] =
        {"mcp_create",
         /* prune some ended or idle sessions (any tenant), then insert unless at the cap */
         "WITH gone AS (DELETE FROM mcp_sessions WHERE id IN ("
         "                SELECT id FROM mcp_sessions WHERE ended_at IS NOT NULL"
         "                UNION ALL SELECT id FROM mcp_sessions"
         "                 WHERE last_seen_at < now() - make_interval(secs => $7::int)"
         "                LIMIT 100)),"
         " live AS (SELECT count(*) AS n FROM mcp_sessions WHERE tenant = $2"
         "          AND ended_at IS NULL"
         "          AND last_seen_at >= now() - make_interval(secs => $7::int))"
         " INSERT INTO mcp_sessions (id, tenant, protocol_version, client_name, client_version)"
         " SELECT $1, $2, $3, $4, $5 FROM live WHERE live.n < $6::int RETURNING 1",
         false},
    [S_MCP_GET] = {"mcp_get",
                   /* touch last_seen at most once a minute: a read on the hot path */
                   "WITH s AS (SELECT id, protocol_version, last_seen_at FROM mcp_sessions"
                   "           WHERE id = $1 AND tenant = $2 AND ended_at IS NULL"
                   "           AND last_seen_at >= now() - make_interval(secs => $3::int)),"
                   " u AS (UPDATE mcp_sessions m SET last_seen_at = now() FROM s"
                   "       WHERE m.id = s.id AND s.last_seen_at < now() - interval '60 seconds')"
                   " SELECT protocol_version FROM s",
                   true},
    [S_MCP_END] = {"mcp_end",
                   "UPDATE mcp_sessions SET ended_at = now()"
                   " WHERE id = $1 AND tenant = $2 AND ended_at IS NULL RETURNING 1",
                   false},
};

static const struct db_table T = {stmts, S_COUNT, 0};

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
}

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
    res = db_run(c, &T, idx, n, params, err);
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

/*
 * The submit batcher.
 *
 * 1. Submits that arrive while another batch is being written wait and go
 *    together in the next one: one statement and one commit (one WAL flush)
 *    for all of them. A submit that finds no batch under way writes at once,
 *    alone, so batching adds no wait to a quiet worker. One batch at a time
 *    per process; the statement's time is what gathers the next batch.
 * 2. Each submitting thread owns a slot on its stack and queues it on SQ.
 *    Whoever takes a batch off the queue (under SQ.mu) becomes its writer
 *    and writes it without the lock.
 * 3. A slot's answer (rc, out, err, pending, outcome) belongs to the writer
 *    of its batch while the slot's `verdict` is SUBMIT_WAITING; the owner
 *    does not read it then. The writer publishes every answer by setting
 *    `verdict` under SQ.mu, after it has touched the slot for the last
 *    time; the owner reads `verdict` only under SQ.mu and, once it is no
 *    longer SUBMIT_WAITING, owns the whole slot again (it may return and
 *    free its stack). So the lock orders every write of the writer before
 *    every read of the owner, and the writer never touches a slot whose
 *    owner may have gone.
 */
enum { SUBMIT_BATCH_MAX = 64 };

enum submit_verdict {
    SUBMIT_WAITING,
    SUBMIT_DONE,       /* rc, out and err are the answer */
    SUBMIT_NO_SESSION, /* no such session */
    SUBMIT_INACTIVE,   /* the session is deactivated */
    SUBMIT_HELD,       /* not inserted: an idempotency key already used, or the pending limit */
};

struct submit_slot {
    json_t *item;                /* the request, as one element of the batch's $1 */
    enum submit_verdict verdict; /* published under SQ.mu (point 3) */
    enum submit_verdict outcome; /* the writer's answer, published as verdict */
    int rc;
    json_t *out;
    struct lg_error err;
    long long pending; /* SUBMIT_HELD: pending requests of the tenant before the batch */
    struct submit_slot *next;
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t done;
    struct submit_slot *head, *tail;
    bool writing;
} SQ = {.mu = PTHREAD_MUTEX_INITIALIZER, .done = PTHREAD_COND_INITIALIZER};

static json_t *submit_item(const struct actor *who, const struct submit_in *in,
                           const char *idem_key, const char *body_hash)
{
    json_t *approve = json_null();

    if (in->options) {
        approve = json_array();
        for (size_t i = 0; i < json_array_size(in->options) && i < OPTIONS_MAX; i++)
            json_array_append_new(approve, json_boolean(in->approve[i]));
    }
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:O*, s:O*, s:i, s:s, s:s*, s:s*, s:s*, s:s, s:o}",
                     "t", who->tenant, "s", in->session_id, "c", in->client_id, "m", in->message,
                     "rt", in->request_type, "o", in->options, "md", in->metadata, "ts",
                     in->timeout_seconds, "ot", in->on_timeout, "cb", in->callback_url, "ik",
                     idem_key, "bh", idem_key ? body_hash : NULL, "a", who->name, "ap", approve);
}

/* Read one batch row into its slot. Returns 1 when a request was inserted. */
static int submit_outcome(const PGresult *res, int row, struct submit_slot *s)
{
    struct lg_request r;

    if (!PQgetisnull(res, row, 0)) {
        row_to_submitted(res, row, &r);
        s->out = shape_submitted(&r);
        s->rc = 0;
        s->outcome = SUBMIT_DONE;
        return 1;
    }
    if (PQgetisnull(res, row, SUBMITTED_NCOLS))
        s->outcome = SUBMIT_NO_SESSION;
    else if (!col_bool(res, row, SUBMITTED_NCOLS))
        s->outcome = SUBMIT_INACTIVE;
    else
        s->outcome = SUBMIT_HELD;
    s->pending = col_int(res, row, SUBMITTED_NCOLS + 1);
    return 0;
}

/*
 * Write `n` slots in one statement and fill in each one's outcome. When the
 * statement itself fails (not the connection), the transaction was rolled
 * back: each submit is written again on its own, so that one request the
 * database refuses does not fail the others.
 */
static void write_batch(struct submit_slot **slots, int n, int max_pending)
{
    json_t *all = json_array();
    char *body, maxp[16];
    const char *p[] = {NULL, maxp};
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
    else if ((res = run(S_REQUEST_SUBMIT, 2, p, &err)) && PQntuples(res) != n)
        lg_fail(&err, 500, "internal", "submit answered %d rows for %d", PQntuples(res), n);
    free(body);
    if (res && PQntuples(res) == n) {
        for (int i = 0; i < n; i++)
            inserted += submit_outcome(res, i, slots[i]);
    } else if (!res && n > 1 && err.status == 500) {
        for (int i = 0; i < n; i++)
            write_batch(&slots[i], 1, max_pending);
    } else {
        for (int i = 0; i < n; i++) {
            slots[i]->rc = -1;
            slots[i]->err = err;
            slots[i]->outcome = SUBMIT_DONE;
        }
    }
    PQclear(res);
    if (inserted)
        notify_outbox_kick_paced();
}

/* Queue `me` and wait until a batch holding it was written, by this thread or another. */
static void submit_wait(struct submit_slot *me, int max_pending)
{
    struct submit_slot *batch[SUBMIT_BATCH_MAX];
    int n;

    pthread_mutex_lock(&SQ.mu);
    if (SQ.tail)
        SQ.tail->next = me;
    else
        SQ.head = me;
    SQ.tail = me;
    while (me->verdict == SUBMIT_WAITING) {
        if (SQ.writing) {
            pthread_cond_wait(&SQ.done, &SQ.mu);
            continue;
        }
        for (n = 0; SQ.head && n < SUBMIT_BATCH_MAX; n++) {
            batch[n] = SQ.head;
            SQ.head = SQ.head->next;
        }
        if (!SQ.head)
            SQ.tail = NULL;
        SQ.writing = true;
        pthread_mutex_unlock(&SQ.mu);
        write_batch(batch, n, max_pending);
        pthread_mutex_lock(&SQ.mu);
        for (int i = 0; i < n; i++)
            batch[i]->verdict = batch[i]->outcome; /* after this, batch[i] may be gone */
        SQ.writing = false;
        pthread_cond_broadcast(&SQ.done);
    }
    pthread_mutex_unlock(&SQ.mu);
}

int store_request_submit(const struct actor *who, const struct submit_in *in, const char *idem_key,
                         const char *body_hash, int max_pending, json_t **out, struct lg_error *err)
{
    struct submit_slot me = {.item = submit_item(who, in, idem_key, body_hash)};
    int rc = 0;

    if (!me.item)
        return lg_fail(err, 500, "internal", "out of memory");
    submit_wait(&me, max_pending);
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
    PGresult *res = run(S_REQUEST_POLL, 1, p, err);
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

int store_poll_rows(struct db_conn *c, const char *const *ids, int n)
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
        notify_hand_row(r.id, PQgetvalue(res, i, POLL_TENANT), poll);
        json_decref(poll);
    }
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
        notify_outbox_kick(); /* the message edit, the agent's webhook */
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

/* ---------------------------------------------------------------- outbox */

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
    res = run(S_OUTBOX_CLAIM, 6, p, err);
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
    res = run(S_OUTBOX_CLAIM_WEBHOOK, 3, p, err);
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
    res = run(S_OUTBOX_RENEW, 3, p, err);
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
    res = run(S_OUTBOX_NEXT_DUE, 1, p, err);
    if (!res)
        return -2;
    ms = PQgetisnull(res, 0, 0) ? -1 : col_int(res, 0, 0);
    *paced_ms = col_int(res, 0, 1);
    PQclear(res);
    return ms;
}

PGresult *store_request_row(const char *id, struct lg_request *r, struct lg_error *err)
{
    return store_request_row_tenant(id, r, NULL, err);
}

PGresult *store_request_row_tenant(const char *id, struct lg_request *r, const char **tenant,
                                   struct lg_error *err)
{
    const char *p[] = {id};
    PGresult *res = run(S_REQUEST_ROW, 1, p, err);

    if (!res)
        return NULL;
    if (PQntuples(res) == 0) {
        PQclear(res);
        lg_fail(err, 404, "request_not_found", "no request with id '%s'", id);
        return NULL;
    }
    row_to_request(res, 0, 0, r);
    if (tenant)
        *tenant = PQgetvalue(res, 0, REQ_NCOLS);
    return res;
}

/* Run a statement whose result is not needed. */
static int run_void(int idx, int n, const char *const *params, struct lg_error *err)
{
    PGresult *res = run(idx, n, params, err);

    if (!res)
        return -1;
    PQclear(res);
    return 0;
}

int store_delivery_sent(int64_t outbox_id, const char *request_id, int64_t bot_id,
                        int64_t message_id, json_t *buttons, bool cut, struct lg_error *err)
{
    char oid[24], mid[24], bot[24];
    char *b = buttons ? json_dumps(buttons, JSON_COMPACT) : NULL;
    const char *p[] = {oid, request_id, mid, b, bot, cut ? "true" : "false"};
    PGresult *res;

    snprintf(oid, sizeof(oid), "%lld", (long long)outbox_id);
    snprintf(mid, sizeof(mid), "%lld", (long long)message_id);
    snprintf(bot, sizeof(bot), "%lld", (long long)bot_id);
    res = run(S_DELIVERY_SENT, 6, p, err);
    free(b);
    if (!res)
        return -1;
    if (strcmp(PQcmdTuples(res), "0") != 0)
        notify_outbox_kick(); /* the edit of a request decided meanwhile */
    PQclear(res);
    return 0;
}

int store_outbox_done(int64_t outbox_id, struct lg_error *err)
{
    char oid[24];
    const char *p[] = {oid};

    snprintf(oid, sizeof(oid), "%lld", (long long)outbox_id);
    return run_void(S_OUTBOX_DONE, 1, p, err);
}

int store_outbox_recovered(struct lg_error *err)
{
    return run_void(S_OUTBOX_RECOVERED, 0, NULL, err);
}

int store_outbox_retry(int64_t outbox_id, int delay_ms, const char *error, struct lg_error *err)
{
    char oid[24], delay[16];
    const char *p[] = {oid, delay, error};

    snprintf(oid, sizeof(oid), "%lld", (long long)outbox_id);
    snprintf(delay, sizeof(delay), "%d", delay_ms);
    return run_void(S_OUTBOX_RETRY, 3, p, err);
}

int store_outbox_fail(int64_t outbox_id, const char *state, const char *error, struct lg_error *err)
{
    char oid[24];
    const char *p[] = {oid, state, error};

    snprintf(oid, sizeof(oid), "%lld", (long long)outbox_id);
    return run_void(S_OUTBOX_FAIL, 3, p, err);
}

int store_pace_delay(const char *key, int seconds, struct lg_error *err)
{
    char secs[16];
    const char *p[] = {key, secs};

    snprintf(secs, sizeof(secs), "%d", seconds);
    return run_void(S_PACE_DELAY, 2, p, err);
}

/* ---------------------------------------------------------------- telegram updates */

void store_tx_rollback(struct db_conn *tx)
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
    row_to_request(res, 0, 0, &out->r);
    out->tenant = PQgetvalue(res, 0, REQ_NCOLS);
    out->approvers = PQgetvalue(res, 0, REQ_NCOLS + 1);
    out->expired = col_bool(res, 0, REQ_NCOLS + 2);
    out->bot_id = col_int(res, 0, REQ_NCOLS + 3);
}

static PGresult *tg_request(struct db_conn *tx, int idx, int n, const char *const *p,
                            struct tg_request *out, struct lg_error *err)
{
    PGresult *res = db_run(tx, &T, idx, n, p, err);

    if (!res)
        return NULL;
    if (PQntuples(res) == 0) {
        PQclear(res);
        lg_fail(err, 404, "request_not_found", "no such request");
        return NULL;
    }
    fill_tg_request(res, out);
    return res;
}

PGresult *store_tg_request_by_message(struct db_conn *tx, int64_t bot_id, int64_t chat_id,
                                      int64_t message_id, struct tg_request *out,
                                      struct lg_error *err)
{
    char c[24], m[24], b[24];
    const char *p[] = {c, m, b};

    snprintf(c, sizeof(c), "%lld", (long long)chat_id);
    snprintf(m, sizeof(m), "%lld", (long long)message_id);
    snprintf(b, sizeof(b), "%lld", (long long)bot_id);
    return tg_request(tx, S_TG_REQUEST_BY_MESSAGE, 3, p, out, err);
}

int store_tg_open(struct db_conn **tx, int64_t bot_id, int64_t update_id, const char *lock_id,
                  PGresult **row, struct tg_request *out, struct lg_error *err)
{
    char uid[24], bot[24];
    const char *p_seen[] = {uid, bot}, *p_lock[] = {lock_id};
    struct db_step steps[] = {{.sql = "BEGIN"},
                              {.idx = S_TG_UPDATE_SEEN, .n = 2, .params = p_seen},
                              {.idx = S_TG_REQUEST_LOCK, .n = 1, .params = p_lock}};
    int rc;

    *row = NULL;
    snprintf(uid, sizeof(uid), "%lld", (long long)update_id);
    snprintf(bot, sizeof(bot), "%lld", (long long)bot_id);
    if (!(*tx = db_acquire(err)))
        return -1;
    if (db_batch(*tx, &T, steps, lock_id ? 3 : 2, err) < 0) {
        store_tx_rollback(*tx);
        *tx = NULL;
        return -1;
    }
    PQclear(steps[0].res);
    rc = PQntuples(steps[1].res) == 1 ? 0 : 1;
    PQclear(steps[1].res);
    if (rc == 1) {
        PQclear(lock_id ? steps[2].res : NULL);
        store_tx_rollback(*tx);
        *tx = NULL;
        return 1;
    }
    if (lock_id && PQntuples(steps[2].res) == 1) {
        *row = steps[2].res;
        fill_tg_request(*row, out);
    } else if (lock_id) {
        PQclear(steps[2].res);
    }
    return 0;
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

int store_tg_close(struct db_conn *tx, const struct tg_decision *d, struct lg_error *err)
{
    char uid[24];
    char *detail = d ? json_dumps(d->audit_detail, JSON_COMPACT) : NULL;
    char *answer = d && d->answer ? json_dumps(d->answer, JSON_COMPACT) : NULL;
    const char *p[] = {d ? d->id : NULL,
                       d ? d->response : NULL,
                       d && d->approved ? "true" : "false",
                       uid,
                       d ? d->name : NULL,
                       d ? d->actor : NULL,
                       detail,
                       answer};
    struct db_step all[] = {
        {.idx = S_TG_DECIDED, .n = 8, .params = p}, {.sql = DECISION_DURABLE}, {.sql = "COMMIT"}};
    struct db_step *steps = d ? all : all + 2; /* without a decision: COMMIT alone */
    int n = d ? 3 : 1, rc;

    snprintf(uid, sizeof(uid), "%lld", d ? (long long)d->user_id : 0LL);
    rc = db_batch(tx, &T, steps, n, err);
    free(detail);
    free(answer);
    if (rc < 0) {
        store_tx_rollback(tx);
        return -1;
    }
    for (int i = 0; i < n; i++)
        PQclear(steps[i].res);
    db_release(tx);
    if (!d)
        notify_outbox_kick(); /* what the transaction queued may go now */
    return 0;
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
        store_tx_rollback(tx);
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
    } else if (!strcmp(v, "repeat")) {
        rc = 1;
    }
    PQclear(res);
    return rc;
}

int store_tg_enqueue(struct db_conn *tx, const char *kind, const char *request_id, int64_t chat_id,
                     json_t *payload, int priority, struct lg_error *err)
{
    char c[24], prio[8];
    char *pl = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
    const char *p[] = {kind, request_id, c, pl, prio};
    PGresult *res;

    snprintf(c, sizeof(c), "%lld", (long long)chat_id);
    snprintf(prio, sizeof(prio), "%d", priority);
    res = tx ? db_run(tx, &T, S_TG_ENQUEUE, 5, p, err) : run(S_TG_ENQUEUE, 5, p, err);
    free(pl);
    if (!res)
        return -1;
    PQclear(res);
    return 0;
}

int store_tg_audit(struct db_conn *tx, const char *tenant, const char *request_id,
                   const char *session_id, const char *actor, const char *action, json_t *detail,
                   struct lg_error *err)
{
    char *d = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
    const char *p[] = {tenant, request_id, session_id, actor, action, d};
    PGresult *res = db_run(tx, &T, S_TG_AUDIT, 6, p, err);

    free(d);
    if (!res)
        return -1;
    PQclear(res);
    return 0;
}

PGresult *store_tg_chat_pending(struct db_conn *tx, int64_t chat_id, struct lg_error *err)
{
    char c[24];
    const char *p[] = {c};

    snprintf(c, sizeof(c), "%lld", (long long)chat_id);
    return db_run(tx, &T, S_TG_CHAT_PENDING, 1, p, err);
}

PGresult *store_tg_chat_sessions(struct db_conn *tx, int64_t chat_id, struct lg_error *err)
{
    char c[24];
    const char *p[] = {c};

    snprintf(c, sizeof(c), "%lld", (long long)chat_id);
    return db_run(tx, &T, S_TG_CHAT_SESSIONS, 1, p, err);
}

int store_tg_refused(int64_t bot_id, int64_t update_id, const char *why, struct lg_error *err)
{
    char b[24], u[24];
    const char *p[] = {b, u, why};

    snprintf(b, sizeof(b), "%lld", (long long)bot_id);
    snprintf(u, sizeof(u), "%lld", (long long)update_id);
    return run_void(S_TG_REFUSED, 3, p, err);
}

int store_tg_prune(int window_hours, int limit, struct lg_error *err)
{
    char h[16], lim[16];
    const char *p[] = {h, lim};
    PGresult *res;
    int64_t n = 0;

    snprintf(h, sizeof(h), "%d", window_hours);
    snprintf(lim, sizeof(lim), "%d", limit);
    res = run(S_TG_PRUNE, 2, p, err);
    if (!res)
        return -1;
    if (parse_int64(PQcmdTuples(res), &n) < 0)
        n = 0;
    PQclear(res);
    return (int)n;
}

int store_tg_bot_refused(int64_t bot_id, const char *error, struct lg_error *err)
{
    char b[24];
    const char *p[] = {b, error};
    PGresult *res;
    int rc;

    snprintf(b, sizeof(b), "%lld", (long long)bot_id);
    res = run(S_TG_BOT_REFUSED, 2, p, err);
    if (!res)
        return -1;
    rc = col_bool(res, 0, 0) ? 1 : 0;
    PQclear(res);
    return rc;
}

int store_tg_bot_accepted(int64_t bot_id, struct lg_error *err)
{
    char b[24];
    const char *p[] = {b};
    PGresult *res;
    int rc;

    snprintf(b, sizeof(b), "%lld", (long long)bot_id);
    res = run(S_TG_BOT_ACCEPTED, 1, p, err);
    if (!res)
        return -1;
    rc = PQntuples(res) > 0 ? 1 : 0;
    PQclear(res);
    return rc;
}

int store_tg_bot_state(int64_t bot_id, char *error, size_t len, struct lg_error *err)
{
    char b[24];
    const char *p[] = {b};
    PGresult *res;
    int rc = 0;

    snprintf(b, sizeof(b), "%lld", (long long)bot_id);
    res = run(S_TG_BOT_STATE, 1, p, err);
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
    res = run(S_TG_ADOPT_UNOWNED, 1, p, err);
    if (!res)
        return -1;
    *adopted = PQgetisnull(res, 0, 0) ? -1 : (int)col_int(res, 0, 0);
    /* the subquery reads the snapshot from before the call: a claim made now is not in it */
    *owner = *adopted >= 0 ? bot_id : PQgetisnull(res, 0, 1) ? 0 : col_int(res, 0, 1);
    PQclear(res);
    return 0;
}

int store_expire_due(int limit, struct lg_error *err)
{
    char lim[16];
    const char *p[] = {lim};
    PGresult *res;
    int n;

    snprintf(lim, sizeof(lim), "%d", limit);
    res = run(S_EXPIRE, 1, p, err);
    if (!res)
        return -1;
    n = (int)col_int(res, 0, 0);
    PQclear(res);
    if (n > 0)
        notify_outbox_kick(); /* their edits and webhooks */
    return n;
}

int store_callback_set(const struct actor *who, const char *id, const char *url,
                       struct lg_error *err)
{
    const char *p[] = {id, who->tenant, url};
    PGresult *res = run(S_CALLBACK_SET, 3, p, err);
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

int store_webhook_secret(const char *tenant, bool rotate, char *out, size_t outlen,
                         struct lg_error *err)
{
    unsigned char raw[32];
    char fresh[65];
    const char *p[] = {tenant, fresh};
    PGresult *res;

    if (random_bytes(raw, sizeof(raw)) < 0)
        return lg_fail(err, 500, "internal_error", "no randomness available");
    hex_encode(raw, sizeof(raw), fresh);
    if (rotate) {
        if (run_void(S_WEBHOOK_ROTATE, 2, p, err) < 0)
            return -1;
        lg_strlcpy(out, fresh, outlen);
        return 0;
    }
    res = run(S_WEBHOOK_SECRET, 2, p, err);
    if (!res)
        return -1;
    lg_strlcpy(out, PQntuples(res) ? PQgetvalue(res, 0, 0) : fresh, outlen);
    PQclear(res);
    return 0;
}

int store_webhook_done(int64_t outbox_id, struct lg_error *err)
{
    char oid[24];
    const char *p[] = {oid};

    snprintf(oid, sizeof(oid), "%lld", (long long)outbox_id);
    return run_void(S_WEBHOOK_DONE, 1, p, err);
}

int store_webhook_retry(int64_t outbox_id, int delay_ms, const char *error, int window_s,
                        struct lg_error *err)
{
    char oid[24], delay[16], win[16];
    const char *p[] = {oid, delay, error, win};

    snprintf(oid, sizeof(oid), "%lld", (long long)outbox_id);
    snprintf(delay, sizeof(delay), "%d", delay_ms);
    snprintf(win, sizeof(win), "%d", window_s);
    return run_void(S_WEBHOOK_RETRY, 4, p, err);
}

int store_webhook_fail(int64_t outbox_id, const char *error, struct lg_error *err)
{
    char oid[24];
    const char *p[] = {oid, error};

    snprintf(oid, sizeof(oid), "%lld", (long long)outbox_id);
    return run_void(S_WEBHOOK_FAIL, 2, p, err);
}

/* ---------------------------------------------------------------- MCP sessions */

int store_mcp_session_create(const char *id, const char *tenant, const char *version,
                             const char *client_name, const char *client_version, int max, int idle,
                             struct lg_error *err)
{
    char smax[16], sidle[16];
    const char *p[] = {id, tenant, version, client_name, client_version, smax, sidle};
    PGresult *res;
    int rc;

    snprintf(smax, sizeof(smax), "%d", max);
    snprintf(sidle, sizeof(sidle), "%d", idle);
    res = run(S_MCP_CREATE, 7, p, err);
    if (!res)
        return -1;
    rc = PQntuples(res) == 1 ? 0 : 1;
    PQclear(res);
    return rc;
}

int store_mcp_session_get(const char *id, const char *tenant, int idle, char *version, size_t vlen,
                          struct lg_error *err)
{
    char sidle[16];
    const char *p[] = {id, tenant, sidle};
    PGresult *res;
    int rc = 1;

    snprintf(sidle, sizeof(sidle), "%d", idle);
    res = run(S_MCP_GET, 3, p, err);
    if (!res)
        return -1;
    if (PQntuples(res) == 1) {
        lg_strlcpy(version, PQgetvalue(res, 0, 0), vlen);
        rc = 0;
    }
    PQclear(res);
    return rc;
}

int store_mcp_session_end(const char *id, const char *tenant, struct lg_error *err)
{
    const char *p[] = {id, tenant};
    PGresult *res = run(S_MCP_END, 2, p, err);
    int rc;

    if (!res)
        return -1;
    rc = PQntuples(res) == 1 ? 0 : 1;
    PQclear(res);
    return rc;
}
