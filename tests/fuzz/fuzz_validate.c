/*
 * fuzz_validate.c - an agent's request body, as POST /hitl/request,
 * /hitl/register, /hitl/cancel and /hitl/deactivate take it: parsed
 * (parse_json_object), validated (validate_submit, validate_register,
 * validate_id, validate_callback_url, validate_request_id), and what is
 * stored serialised again, all on a request thread's stack.
 */
#include <jansson.h>

#include "check.h"
#include "fuzz.h"
#include "validate.h"

static void fuzz_one(const char *data, size_t len)
{
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
    json_decref(body);
}

FUZZ_MAIN
