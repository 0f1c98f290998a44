/*
 * shape.c - see shape.h.
 */
#include "shape.h"

#include <string.h>

#include "params.h"
#include "util.h"

/*
 * Parse JSON text stored by us; a NULL or unparsable text gives JSON null,
 * and so does text nested deeper than LG_JSON_DEPTH_MAX (rows written
 * before that limit existed), which is never parsed.
 */
static json_t *embedded(const char *text)
{
    json_t *v;

    if (!text || !json_depth_ok(text, strlen(text), LG_JSON_DEPTH_MAX))
        return json_null();
    v = json_loads(text, JSON_DECODE_ANY, NULL);
    return v ? v : json_null();
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

bool shape_is_final(const char *status)
{
    return strcmp(status, "pending") != 0;
}

json_t *shape_submitted(const struct lg_request *r)
{
    return json_pack("{s:b, s:s, s:s, s:s, s:s, s:s, s:i}", "success", 1, "request_id", r->id,
                     "status", r->status, "created_at", r->created_at, "expires_at", r->expires_at,
                     "request_type", r->request_type, "timeout_seconds", r->timeout_seconds);
}

static json_t *responder(const struct lg_request *r)
{
    if (!r->responder_id && !r->responder_name)
        return json_null();
    /* a console user who is no Telegram user has no id (022) */
    return json_pack("{s:o, s:o}", "id",
                     r->responder_id ? json_integer((json_int_t)r->responder_id) : json_null(),
                     "name", str_or_null(r->responder_name));
}

/*
 * Where the request's Telegram message is: queued, sent, failed or skipped;
 * or "console" (channel console): not sent to Telegram, answered in the
 * console (no bot token, or a session without a chat).
 */
static json_t *delivery(const struct lg_request *r)
{
    json_t *d;

    if (!r->tg_state)
        return json_null();
    d = json_pack("{s:s, s:s, s:i, s:o, s:o}", "channel",
                  strcmp(r->tg_state, "console") ? "telegram" : "console", "state", r->tg_state,
                  "attempts", r->tg_attempts, "last_error", str_or_null(r->tg_error), "sent_at",
                  str_or_null(r->tg_sent_at));
    if (d && r->tg_message_id)
        json_object_set_new(d, "message_id", json_integer((json_int_t)r->tg_message_id));
    return d;
}

/* The agent webhook of the request, when it has a callback_url. */
static json_t *callback(const struct lg_request *r)
{
    if (!r->cb_state)
        return json_null();
    return json_pack("{s:s, s:s, s:i, s:o, s:o}", "url", r->callback_url, "state", r->cb_state,
                     "attempts", r->cb_attempts, "last_error", str_or_null(r->cb_error),
                     "delivered_at", str_or_null(r->cb_delivered_at));
}

/*
 * The reasons of a decided request, as a model reads them ("Denied by Ann:
 * use the staging database"; "Approved by Ann: only after 18:00"): the
 * reason of every vote on the side that decided (a quorum's conditions are
 * every approver's), oldest first, joined by "; ". Null when none gave one,
 * and for a request that was not decided by votes (timed out, canceled):
 * a vote's reason is not the reason it ended.
 */
static json_t *deciding_reason(const struct lg_request *r, json_t *votes)
{
    struct sbuf b = {0};
    json_t *v, *out;
    size_t i;

    if (strcmp(r->status, "completed") != 0)
        return json_null();
    json_array_foreach(votes, i, v)
    {
        const char *why = json_string_value(json_object_get(v, "reason"));
        const char *name =
            json_string_value(json_object_get(json_object_get(v, "responder"), "name"));

        if (json_is_true(json_object_get(v, "approve")) != r->approved || !why || !*why)
            continue;
        sb_printf(&b, "%s%s by %s: %s", b.len ? "; " : "", r->approved ? "Approved" : "Denied",
                  name && *name ? name : "someone", why);
    }
    out = b.p ? json_string(b.p) : NULL;
    sb_free(&b);
    return out ? out : json_null();
}

/*
 * The params of `r` added to `o`: `params` (the final ones: as approved
 * with edits, else as submitted; null: none), `edited`, and
 * `params_sha256`, the hex SHA-256 of their canonical serialization
 * (params.h), which the agent recomputes to check it acts on exactly what
 * the person saw and approved (null: no params).
 */
static void add_params(json_t *o, const struct lg_request *r)
{
    json_t *p = embedded(r->params_json);
    char sha[65];

    if (!json_is_object(p)) {
        json_decref(p);
        p = json_null();
    }
    params_sha256(p, sha);
    json_object_set_new(o, "params", p);
    json_object_set_new(o, "edited", json_boolean(r->edited && json_is_object(p)));
    json_object_set_new(o, "params_sha256", json_is_object(p) ? json_string(sha) : json_null());
}

/*
 * The votes of `r` and its quorum, added to `o`: `votes` (oldest first),
 * `approvals` (how many of them approve), `approvals_required` and the
 * deciding `reason`.
 */
static void add_votes(json_t *o, const struct lg_request *r)
{
    json_t *votes = embedded(r->votes_json), *v;
    size_t i;
    int approvals = 0;

    if (!json_is_array(votes)) {
        json_decref(votes);
        votes = json_array();
    }
    json_array_foreach(votes, i, v) approvals += json_is_true(json_object_get(v, "approve"));
    json_object_set_new(o, "votes", votes);
    json_object_set_new(o, "approvals", json_integer(approvals));
    json_object_set_new(o, "approvals_required",
                        json_integer(r->approvals_required > 0 ? r->approvals_required : 1));
    json_object_set_new(o, "reason", deciding_reason(r, json_object_get(o, "votes")));
}

/* Reminders and escalation (021): `reminders` (how many were sent) and `escalated`. */
static void add_nudges(json_t *o, const struct lg_request *r)
{
    json_object_set_new(o, "escalated", json_boolean(r->escalated));
    json_object_set_new(o, "reminders", json_integer(r->reminders));
}

json_t *shape_poll(const struct lg_request *r)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:b, s:b, s:s, s:s, s:s, s:o, s:o, s:o}", "request_id",
                          r->id, "status", r->status, "response", r->response ? r->response : "",
                          "approved", r->approved, "completed", shape_is_final(r->status),
                          "request_type", r->request_type, "created_at", r->created_at,
                          "expires_at", r->expires_at, "responded_at", str_or_null(r->responded_at),
                          "responder", responder(r), "delivery", delivery(r));

    if (o && r->callback_url)
        json_object_set_new(o, "callback", callback(r));
    if (o) {
        add_votes(o, r);
        add_params(o, r);
        add_nudges(o, r);
    }
    return o;
}

json_t *shape_request(const struct lg_request *r)
{
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:i, s:o, s:s, s:s, s:b, s:s, s:s, s:s, s:o}",
                  "id", r->id, "session_id", r->session_id, "client_id", r->client_id, "message",
                  r->message, "request_type", r->request_type, "options", embedded(r->options_json),
                  "timeout_seconds", r->timeout_seconds, "metadata", embedded(r->metadata_json),
                  "status", r->status, "response", r->response ? r->response : "", "approved",
                  r->approved, "created_at", r->created_at, "expires_at", r->expires_at,
                  "on_timeout", r->on_timeout, "responded_at", str_or_null(r->responded_at));

    if (o && r->callback_url)
        json_object_set_new(o, "callback_url", json_string(r->callback_url));
    if (o) {
        add_votes(o, r);
        json_object_set_new(o, "deny_vetoes", json_boolean(r->deny_vetoes));
        add_params(o, r);
        json_object_set_new(o, "params_schema", embedded(r->params_schema_json));
        add_nudges(o, r);
    }
    return o;
}

json_t *shape_session(const struct lg_session *s)
{
    return json_pack("{s:s, s:s, s:s, s:I, s:o, s:b, s:s, s:s, s:I}", "id", s->session_id,
                     "session_id", s->session_id, "client_id", s->client_id, "telegram_id",
                     (json_int_t)s->telegram_id, "approvers", embedded(s->approvers_json), "active",
                     s->active, "created_at", s->created_at, "updated_at", s->updated_at,
                     "pending_requests", (json_int_t)s->pending);
}

json_t *shape_error(const char *code, const char *message)
{
    return json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message);
}
