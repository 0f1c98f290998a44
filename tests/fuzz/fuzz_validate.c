/*
 * fuzz_validate.c - an agent's request body, as POST /hitl/request,
 * /hitl/register, /hitl/cancel, /hitl/deactivate and POST /v1/policies take
 * it: parsed (parse_json_object), validated (validate_submit,
 * validate_register, validate_id, validate_callback_url,
 * validate_request_id, policy_parse_new), what is stored serialised again,
 * and a submit's tool call rendered and matched as a rule would (policy_text,
 * policy_exact_regex, policy_decide), all on a request thread's stack.
 */
#include <stdlib.h>

#include <jansson.h>

#include "check.h"
#include "fuzz.h"
#include "policy.h"
#include "validate.h"

/* A tool call rendered as rules see it, and the exact rule for it matching it when an allow
 * rule may allow it at all. */
static void fuzz_policy(const struct submit_in *sub)
{
    struct lg_error err = {0};
    char *text = policy_text(sub->tool, sub->tool_input), *re;
    int64_t id;

    re = policy_exact_regex(text, &err);
    if (re) {
        struct policy_rule r = {1, NULL, NULL, sub->tool, re, POLICY_ALLOW, 0, 0, false, false};
        FUZZ_REQUIRE(policy_decide(&r, 1, sub->session_id, NULL, sub->tool, text, 0, &id) ==
                     (policy_allowable(sub->tool, text) ? POLICY_ALLOW : POLICY_ASK));
        free(re);
    } else {
        fuzz_client_error(&err);
    }
    free(text);
}

static void fuzz_one(const char *data, size_t len)
{
    struct policy_new pn;
    struct lg_error err = {0};
    struct submit_in sub;
    struct register_in reg;
    const char *s;
    json_t *body;

    if (parse_json_object(data, len, &body, &err) < 0) {
        fuzz_client_error(&err);
        return;
    }
    if (validate_submit(body, 3600, &sub, &err) == 0) {
        if (sub.metadata)
            fuzz_dump(json_incref(sub.metadata));
        if (sub.options)
            fuzz_dump(json_incref(sub.options));
        fuzz_dump(json_incref(body));
        if (sub.tool)
            fuzz_policy(&sub);
    } else {
        fuzz_client_error(&err);
    }
    if (validate_register(body, &reg, &err) == 0) {
        if (reg.approvers)
            fuzz_dump(json_incref(reg.approvers));
    } else {
        fuzz_client_error(&err);
    }
    if (validate_id(body, "request_id", &s, &err) == 0) {
        if (validate_request_id(s, "request_id", "field", &err) < 0)
            fuzz_client_error(&err);
    } else {
        fuzz_client_error(&err);
    }
    if (validate_callback_url(json_object_get(body, "callback_url"), false, &s, &err) < 0)
        fuzz_client_error(&err);
    if (policy_parse_new(body, &pn, &err) < 0)
        fuzz_client_error(&err);
    json_decref(body);
}

FUZZ_MAIN
