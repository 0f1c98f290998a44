/*
 * fuzz_telegram.c - a Telegram update as the webhook receives it: the body
 * parsed as the API parses it (parse_json_object), the callback data of a
 * button press (decide_callback_parse, which must agree with
 * decide_callback_format), a typed answer and the presser's names judged
 * as labels and as typed answers (decide_label_meaning,
 * decide_answer_approves: a typed answer that approves is also a label that
 * approves; only a refusal contradicts approve:true), a message's text as
 * an /edit of params under a schema (params_edit), the update serialised
 * again. The update
 * handling itself reads and writes the database (telegram.c) and is not
 * run here. An input that is not JSON is taken as callback data alone.
 */
#include <jansson.h>

#include "check.h"
#include "decide.h"
#include "fuzz.h"
#include "params.h"
#include "validate.h"

/*
 * A message's text as an /edit of fixed params under a fixed schema
 * (params_edit): it fails with a 400, or gives params that meet the schema
 * and have a canonical form.
 */
static void edit(json_t *v)
{
    static const char schema_text[] =
        "{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\",\"minimum\":1,"
        "\"maximum\":10},\"r\":{\"type\":\"number\"},\"e\":{\"enum\":[\"a\",1,true]},"
        "\"t\":{\"type\":\"string\",\"maxLength\":8,\"pattern\":\"^[a-z]+$\"},"
        "\"b\":{\"type\":\"boolean\"}},\"required\":[\"n\"],\"additionalProperties\":false}";
    json_t *schema, *params, *out = NULL;
    struct lg_error err = {0};
    char *canon;

    if (!json_is_string(v))
        return;
    schema = json_loads(schema_text, 0, NULL);
    params = json_pack("{s:i, s:s}", "n", 3, "t", "abc");
    FUZZ_REQUIRE(params_check_schema(schema, &err) == 0);
    if (params_edit(params, schema, json_string_value(v), &out, &err) == 0) {
        FUZZ_REQUIRE(params_check(out, schema, "", &err) == 0);
        canon = params_canonical(out);
        FUZZ_REQUIRE(canon != NULL);
        free(canon);
    } else {
        FUZZ_REQUIRE(err.status == 400 && out == NULL);
    }
    json_decref(out);
    json_decref(params);
    json_decref(schema);
}

static void callback_data(const char *data)
{
    char id[37], again[80];
    int idx;

    if (decide_callback_parse(data, id, &idx) < 0)
        return;
    FUZZ_REQUIRE(uuid_valid(id));
    FUZZ_REQUIRE(idx >= 0 && idx <= 99);
    FUZZ_REQUIRE(decide_callback_format(id, idx, again, sizeof(again)) == 0);
    FUZZ_REQUIRE(decide_callback_parse(again, id, &idx) == 0);
}

static void text(json_t *v)
{
    const char *s;

    if (!json_is_string(v))
        return;
    s = json_string_value(v);
    if (decide_answer_approves(s))
        FUZZ_REQUIRE(decide_label_meaning(s) == DECIDE_APPROVES);
    /* Only a refusal contradicts approve:true, and a refusal denies; approve:false is
     * contradicted exactly by a label that approves. */
    if (decide_option_contradicts(s, true))
        FUZZ_REQUIRE(decide_label_meaning(s) == DECIDE_DENIES);
    FUZZ_REQUIRE(decide_option_contradicts(s, false) == (decide_label_meaning(s) == DECIDE_APPROVES));
}

static void fuzz_one(const char *data, size_t len)
{
    struct lg_error err = {0};
    json_t *u, *cq, *msg;

    callback_data(data);
    if (parse_json_object(data, len, &u, &err) < 0) {
        fuzz_client_error(&err);
        return;
    }
    cq = json_object_get(u, "callback_query");
    if (json_is_string(json_object_get(cq, "data")))
        callback_data(json_string_value(json_object_get(cq, "data")));
    text(json_object_get(json_object_get(cq, "from"), "first_name"));
    text(json_object_get(json_object_get(cq, "from"), "last_name"));
    msg = json_object_get(u, "message");
    text(json_object_get(msg, "text"));
    edit(json_object_get(msg, "text"));
    text(json_object_get(json_object_get(msg, "from"), "first_name"));
    fuzz_dump(u);
}

FUZZ_MAIN
