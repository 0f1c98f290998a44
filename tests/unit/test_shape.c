/*
 * test_shape.c - unit tests for shape.c: every answer body has the keys and
 * values the Go original's clients read.
 */
#include <stdlib.h>
#include <string.h>

#include "shape.h"
#include "t.h"

#define ID "123e4567-e89b-12d3-a456-426614174000"

static struct lg_request sample(void)
{
    struct lg_request r;

    memset(&r, 0, sizeof(r));
    r.id = ID;
    r.session_id = "production-deploy-bot";
    r.client_id = "ci-cd-pipeline";
    r.message = "Deploy v2.1.0? \xE2\x9C\x85";
    r.request_type = "choice";
    r.options_json = "[\"\xF0\x9F\x9A\x80 Deploy\", \"Hold\"]";
    r.metadata_json = "{\"version\": \"v2.1.0\", \"tests_passed\": 847}";
    r.timeout_seconds = 300;
    r.on_timeout = "deny";
    r.callback_url = NULL;
    r.status = "pending";
    r.response = NULL;
    r.approved = false;
    r.created_at = "2026-01-02T03:04:05Z";
    r.expires_at = "2026-01-02T03:09:05Z";
    r.responded_at = NULL;
    r.responder_id = 0;
    r.responder_name = NULL;
    return r;
}

/* Compact JSON text of `v` (which is consumed), for whole-body comparisons. */
static char *dump(json_t *v)
{
    char *s = v ? json_dumps(v, JSON_COMPACT) : NULL;

    json_decref(v);
    return s;
}

static const char *str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

TEST(is_final)
{
    CHECK(!shape_is_final("pending"));
    CHECK(shape_is_final("completed"));
    CHECK(shape_is_final("timeout"));
    CHECK(shape_is_final("canceled"));
}

TEST(poll)
{
    struct lg_request r = sample();
    json_t *o = shape_poll(&r);
    char *s;

    if (!CHECK(json_is_object(o)))
        return;
    CHECK_EQ_INT(json_object_size(o), 20);
    CHECK_EQ_STR(str(o, "request_id"), ID);
    CHECK_EQ_STR(str(o, "status"), "pending");
    CHECK_EQ_STR(str(o, "response"), "");
    CHECK(json_is_false(json_object_get(o, "approved")));
    CHECK(json_is_false(json_object_get(o, "completed")));
    CHECK_EQ_STR(str(o, "request_type"), "choice");
    CHECK_EQ_STR(str(o, "created_at"), "2026-01-02T03:04:05Z");
    CHECK_EQ_STR(str(o, "expires_at"), "2026-01-02T03:09:05Z");
    CHECK(json_is_null(json_object_get(o, "responded_at")));
    CHECK(json_is_null(json_object_get(o, "responder")));
    CHECK(json_is_null(json_object_get(o, "delivery")));
    json_decref(o);

    /* Delivery state, once the request has a Telegram message. */
    r.tg_state = "sent";
    r.tg_attempts = 2;
    r.tg_error = "502 Bad Gateway";
    r.tg_sent_at = "2026-01-02T03:04:06Z";
    r.tg_message_id = 77;
    s = dump(json_incref(json_object_get(o = shape_poll(&r), "delivery")));
    CHECK_EQ_STR(s, "{\"channel\":\"telegram\",\"state\":\"sent\",\"attempts\":2,"
                    "\"last_error\":\"502 Bad Gateway\",\"sent_at\":\"2026-01-02T03:04:06Z\","
                    "\"message_id\":77}");
    free(s);
    json_decref(o);
    r = sample();

    /* The whole body, byte for byte. */
    s = dump(shape_poll(&r));
    CHECK_EQ_STR(s, "{\"request_id\":\"" ID "\",\"status\":\"pending\",\"response\":\"\","
                    "\"approved\":false,\"completed\":false,\"request_type\":\"choice\","
                    "\"created_at\":\"2026-01-02T03:04:05Z\","
                    "\"expires_at\":\"2026-01-02T03:09:05Z\",\"responded_at\":null,"
                    "\"responder\":null,\"delivery\":null,\"votes\":[],\"approvals\":0,"
                    "\"approvals_required\":1,\"reason\":null,\"params\":null,\"edited\":false,"
                    "\"params_sha256\":null,\"escalated\":false,\"reminders\":0}");
    free(s);

    /* Reminders and escalation (021) as the row says. */
    r.reminders = 1;
    r.escalated = true;
    o = shape_poll(&r);
    CHECK(json_is_true(json_object_get(o, "escalated")));
    CHECK_EQ_INT(json_integer_value(json_object_get(o, "reminders")), 1);
    json_decref(o);
    o = shape_request(&r);
    CHECK(json_is_true(json_object_get(o, "escalated")));
    CHECK_EQ_INT(json_integer_value(json_object_get(o, "reminders")), 1);
    json_decref(o);
    r = sample();

    /* Votes as stored (VOTES_JSON), counted; the quorum as submitted. */
    r.approvals_required = 2;
    r.votes_json = "[{\"responder\":{\"id\":401,\"name\":\"Ann\"},\"channel\":\"telegram\","
                   "\"approve\":true,\"response\":\"Yes\",\"reason\":null,"
                   "\"at\":\"2026-01-02T03:04:06.000000Z\"},{\"responder\":{\"id\":402,"
                   "\"name\":\"Bob\"},\"channel\":\"telegram\",\"approve\":false,"
                   "\"response\":\"No\",\"reason\":null,\"at\":\"2026-01-02T03:04:07.000000Z\"}]";
    o = shape_poll(&r);
    CHECK_EQ_INT(json_integer_value(json_object_get(o, "approvals")), 1);
    CHECK_EQ_INT(json_integer_value(json_object_get(o, "approvals_required")), 2);
    CHECK_EQ_INT(json_array_size(json_object_get(o, "votes")), 2);
    CHECK_EQ_STR(
        str(json_object_get(json_array_get(json_object_get(o, "votes"), 1), "responder"), "name"),
        "Bob");
    json_decref(o);
    /* Stored text that does not parse is no votes, never a crash. */
    r.votes_json = "[not json";
    o = shape_poll(&r);
    CHECK_EQ_INT(json_array_size(json_object_get(o, "votes")), 0);
    CHECK_EQ_INT(json_integer_value(json_object_get(o, "approvals")), 0);
    json_decref(o);
}

TEST(poll_final)
{
    static const char *const finals[] = {"completed", "timeout", "canceled"};
    struct lg_request r = sample();
    json_t *o, *who;

    for (size_t i = 0; i < 3; i++) {
        r.status = finals[i];
        o = shape_poll(&r);
        CHECKF(json_is_true(json_object_get(o, "completed")), "%s: completed is not true",
               finals[i]);
        CHECK_EQ_STR(str(o, "status"), finals[i]);
        json_decref(o);
    }

    r.status = "completed";
    r.response = "\xF0\x9F\x9A\x80 Deploy";
    r.approved = true;
    r.responded_at = "2026-01-02T03:05:00Z";
    r.responder_id = INT64_C(9007199254740993);
    r.responder_name = "alice";
    o = shape_poll(&r);
    CHECK_EQ_STR(str(o, "response"), "\xF0\x9F\x9A\x80 Deploy");
    CHECK(json_is_true(json_object_get(o, "approved")));
    CHECK_EQ_STR(str(o, "responded_at"), "2026-01-02T03:05:00Z");
    who = json_object_get(o, "responder");
    CHECK(json_is_object(who));
    CHECK(json_integer_value(json_object_get(who, "id")) == INT64_C(9007199254740993));
    CHECK_EQ_STR(str(who, "name"), "alice");
    json_decref(o);

    /* A responder id without a name: name is null. */
    r.responder_name = NULL;
    r.responder_id = 7;
    o = shape_poll(&r);
    who = json_object_get(o, "responder");
    CHECK(json_integer_value(json_object_get(who, "id")) == 7);
    CHECK(json_is_null(json_object_get(who, "name")));
    json_decref(o);
}

TEST(request)
{
    struct lg_request r = sample();
    json_t *o = shape_request(&r), *v;

    if (!CHECK(json_is_object(o)))
        return;
    CHECK_EQ_INT(json_object_size(o), 26);
    CHECK_EQ_STR(str(o, "id"), ID);
    CHECK_EQ_STR(str(o, "session_id"), "production-deploy-bot");
    CHECK_EQ_STR(str(o, "client_id"), "ci-cd-pipeline");
    CHECK_EQ_STR(str(o, "message"), "Deploy v2.1.0? \xE2\x9C\x85");
    CHECK_EQ_STR(str(o, "request_type"), "choice");
    v = json_object_get(o, "options");
    CHECK(json_is_array(v));
    CHECK_EQ_INT(json_array_size(v), 2);
    CHECK_EQ_STR(json_string_value(json_array_get(v, 0)), "\xF0\x9F\x9A\x80 Deploy");
    v = json_object_get(o, "metadata");
    CHECK(json_is_object(v));
    CHECK_EQ_STR(str(v, "version"), "v2.1.0");
    CHECK_EQ_INT(json_integer_value(json_object_get(v, "tests_passed")), 847);
    CHECK_EQ_INT(json_integer_value(json_object_get(o, "timeout_seconds")), 300);
    CHECK_EQ_STR(str(o, "status"), "pending");
    CHECK_EQ_STR(str(o, "response"), "");
    CHECK(json_is_false(json_object_get(o, "approved")));
    CHECK_EQ_STR(str(o, "created_at"), "2026-01-02T03:04:05Z");
    CHECK_EQ_STR(str(o, "expires_at"), "2026-01-02T03:09:05Z");
    CHECK_EQ_STR(str(o, "on_timeout"), "deny");
    CHECK(json_is_null(json_object_get(o, "responded_at")));
    CHECK(json_object_get(o, "callback_url") == NULL);
    json_decref(o);

    /* No options or metadata: JSON null; a callback URL adds its key. */
    r.options_json = NULL;
    r.metadata_json = NULL;
    r.request_type = "input";
    r.callback_url = "https://agent.example/hook";
    r.status = "completed";
    r.response = "ship it";
    r.approved = true;
    r.responded_at = "2026-01-02T03:05:00Z";
    o = shape_request(&r);
    CHECK_EQ_INT(json_object_size(o), 27);
    CHECK(json_is_null(json_object_get(o, "options")));
    CHECK(json_is_null(json_object_get(o, "metadata")));
    CHECK_EQ_STR(str(o, "callback_url"), "https://agent.example/hook");
    CHECK_EQ_STR(str(o, "response"), "ship it");
    CHECK(json_is_true(json_object_get(o, "approved")));
    CHECK_EQ_STR(str(o, "responded_at"), "2026-01-02T03:05:00Z");
    json_decref(o);

    /* Stored text that does not parse is null, never a crash. */
    r.options_json = "[not json";
    r.metadata_json = "";
    o = shape_request(&r);
    CHECK(json_is_null(json_object_get(o, "options")));
    CHECK(json_is_null(json_object_get(o, "metadata")));
    json_decref(o);
}

TEST(submitted)
{
    struct lg_request r = sample();
    char *s = dump(shape_submitted(&r));

    CHECK_EQ_STR(s, "{\"success\":true,\"request_id\":\"" ID "\",\"status\":\"pending\","
                    "\"created_at\":\"2026-01-02T03:04:05Z\","
                    "\"expires_at\":\"2026-01-02T03:09:05Z\",\"request_type\":\"choice\","
                    "\"timeout_seconds\":300}");
    free(s);
}

TEST(session)
{
    struct lg_session s;
    json_t *o, *v;

    memset(&s, 0, sizeof(s));
    s.session_id = "production-deploy-bot";
    s.client_id = "ci-cd-pipeline";
    s.telegram_id = INT64_C(9007199254740993);
    s.approvers_json = "[111, 222]";
    s.active = true;
    s.created_at = "2026-01-02T03:04:05Z";
    s.updated_at = "2026-01-02T03:04:06Z";
    s.pending = 3;

    o = shape_session(&s);
    if (!CHECK(json_is_object(o)))
        return;
    CHECK_EQ_INT(json_object_size(o), 9);
    CHECK_EQ_STR(str(o, "id"), "production-deploy-bot");
    CHECK_EQ_STR(str(o, "session_id"), "production-deploy-bot");
    CHECK_EQ_STR(str(o, "client_id"), "ci-cd-pipeline");
    CHECK(json_integer_value(json_object_get(o, "telegram_id")) == INT64_C(9007199254740993));
    v = json_object_get(o, "approvers");
    CHECK(json_is_array(v));
    CHECK_EQ_INT(json_array_size(v), 2);
    CHECK_EQ_INT(json_integer_value(json_array_get(v, 1)), 222);
    CHECK(json_is_true(json_object_get(o, "active")));
    CHECK_EQ_STR(str(o, "created_at"), "2026-01-02T03:04:05Z");
    CHECK_EQ_STR(str(o, "updated_at"), "2026-01-02T03:04:06Z");
    CHECK_EQ_INT(json_integer_value(json_object_get(o, "pending_requests")), 3);
    json_decref(o);

    s.approvers_json = "[]";
    s.active = false;
    s.telegram_id = INT64_C(-1001234567890);
    o = shape_session(&s);
    CHECK_EQ_INT(json_array_size(json_object_get(o, "approvers")), 0);
    CHECK(json_is_false(json_object_get(o, "active")));
    CHECK(json_integer_value(json_object_get(o, "telegram_id")) == INT64_C(-1001234567890));
    json_decref(o);
}

TEST(error)
{
    char *s = dump(shape_error("missing_field", "message is required"));

    CHECK_EQ_STR(s, "{\"error\":{\"code\":\"missing_field\",\"message\":\"message is required\"}}");
    free(s);

    /* Quotes and control characters are escaped, not passed through. */
    s = dump(shape_error("invalid_field", "bad \"x\"\n"));
    CHECK_EQ_STR(s, "{\"error\":{\"code\":\"invalid_field\",\"message\":\"bad \\\"x\\\"\\n\"}}");
    free(s);
}

/* The final params, whether they were edited, their digest, and an approval's comment. */
TEST(params)
{
    struct lg_request r = sample();
    json_t *o;
    char *s;

    r.params_json = "{\"replicas\": 5, \"env\": \"staging\"}";
    r.edited = true;
    r.status = "completed";
    r.approved = true;
    r.votes_json = "[{\"responder\":{\"id\":7,\"name\":\"Ann\"},\"channel\":\"telegram\","
                   "\"approve\":true,\"response\":\"Approve\",\"reason\":\"after 18:00\","
                   "\"at\":\"2026-01-02T03:05:00Z\"}]";
    o = shape_poll(&r);
    s = dump(json_incref(json_object_get(o, "params")));
    CHECK_EQ_STR(s, "{\"replicas\":5,\"env\":\"staging\"}");
    free(s);
    CHECK(json_is_true(json_object_get(o, "edited")));
    /* printf '{"env":"staging","replicas":5}' | sha256sum */
    CHECK_EQ_STR(str(o, "params_sha256"),
                 "4f530c28133adb2af6da0a56c00910c4d9061e016273cbc83ba8a9a86e56bc07");
    CHECK_EQ_STR(str(o, "reason"), "Approved by Ann: after 18:00");
    json_decref(o);
    r.params_json = NULL;
    o = shape_poll(&r);
    CHECK(json_is_null(json_object_get(o, "params")));
    CHECK(json_is_false(json_object_get(o, "edited")));
    CHECK(json_is_null(json_object_get(o, "params_sha256")));
    json_decref(o);
}

/*
 * The reason a model reads: every reason on the deciding side, oldest
 * first; none for a request that timed out or was canceled.
 */
TEST(reasons)
{
    struct lg_request r = sample();
    json_t *o;

    r.votes_json = "[{\"responder\":{\"id\":7,\"name\":\"Ann\"},\"approve\":true,"
                   "\"reason\":\"only after 18:00\"},"
                   "{\"responder\":{\"id\":9,\"name\":\"Cid\"},\"approve\":false,"
                   "\"reason\":\"too early\"},"
                   "{\"responder\":{\"id\":8,\"name\":\"Bob\"},\"approve\":true,"
                   "\"reason\":null}]";
    r.status = "completed";
    r.approved = true;
    o = shape_poll(&r);
    CHECK_EQ_STR(str(o, "reason"), "Approved by Ann: only after 18:00");
    json_decref(o);
    r.approved = false;
    o = shape_poll(&r);
    CHECK_EQ_STR(str(o, "reason"), "Denied by Cid: too early");
    json_decref(o);
    r.votes_json = "[{\"responder\":{\"id\":7,\"name\":\"Ann\"},\"approve\":false,"
                   "\"reason\":\"reason A\"},"
                   "{\"responder\":{\"id\":8,\"name\":\"Bob\"},\"approve\":false,"
                   "\"reason\":\"reason B\"}]";
    o = shape_poll(&r);
    CHECK_EQ_STR(str(o, "reason"), "Denied by Ann: reason A; Denied by Bob: reason B");
    json_decref(o);
    r.status = "canceled";
    o = shape_poll(&r);
    CHECK(json_is_null(json_object_get(o, "reason")));
    json_decref(o);
    r.status = "timeout";
    o = shape_poll(&r);
    CHECK(json_is_null(json_object_get(o, "reason")));
    json_decref(o);
}

int main(int argc, char **argv)
{
    t_begin(argc, argv);
    RUN(is_final);
    RUN(poll);
    RUN(poll_final);
    RUN(reasons);
    RUN(request);
    RUN(submitted);
    RUN(session);
    RUN(error);
    RUN(params);
    return t_end();
}
