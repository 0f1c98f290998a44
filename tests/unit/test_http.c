/*
 * test_http.c - unit tests for the pure parts of http.c: the query-string
 * decoder, reason phrases, and answering without a FastCGI request
 * (r->fcgi == NULL), which must record the status and not crash.
 */
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "log.h"
#include "t.h"

struct query_case {
    const char *query;
    const char *name;
    size_t outlen; /* 0: the full buffer */
    int rc;
    const char *value; /* expected when rc == 0 */
};

static const struct query_case query_cases[] = {
    /* found / absent */
    {"request_id=abc", "request_id", 0, 0, "abc"},
    {"a=1&request_id=abc&b=2", "request_id", 0, 0, "abc"},
    {"a=1&b=2", "request_id", 0, 1, NULL},
    {"", "request_id", 0, 1, NULL},
    {"&&&", "request_id", 0, 1, NULL},
    {"=abc", "request_id", 0, 1, NULL},
    {"REQUEST_ID=abc", "request_id", 0, 1, NULL},
    /* empty values */
    {"request_id=", "request_id", 0, 0, ""},
    {"request_id", "request_id", 0, 0, ""},
    {"a=1&request_id&b=2", "request_id", 0, 0, ""},
    {"request_id=&b=2", "request_id", 0, 0, ""},
    /* decoding */
    {"q=a+b", "q", 0, 0, "a b"},
    {"q=a%20b", "q", 0, 0, "a b"},
    {"q=%2B1", "q", 0, 0, "+1"},
    {"q=%26%3D%25", "q", 0, 0, "&=%"},
    {"q=%e2%9c%85", "q", 0, 0, "\xE2\x9C\x85"},
    {"q=%E2%9C%85", "q", 0, 0, "\xE2\x9C\x85"},
    {"q=a=b", "q", 0, 0, "a=b"},
    {"q=%41%42", "q", 0, 0, "AB"},
    /* malformed escapes */
    {"q=%zz", "q", 0, -1, NULL},
    {"q=%4", "q", 0, -1, NULL},
    {"q=%4&r=1", "q", 0, -1, NULL},
    {"q=%", "q", 0, -1, NULL},
    {"q=abc%", "q", 0, -1, NULL},
    {"q=%g1", "q", 0, -1, NULL},
    {"q=%1g", "q", 0, -1, NULL},
    {"q=%00", "q", 0, -1, NULL},
    {"q=a%00b", "q", 0, -1, NULL},
    /* a malformed other parameter does not matter */
    {"r=%zz&q=ok", "q", 0, 0, "ok"},
    /* output size: the value plus NUL must fit */
    {"q=abcd", "q", 5, 0, "abcd"},
    {"q=abcd", "q", 4, -1, NULL},
    {"q=%41%42%43%44", "q", 5, 0, "ABCD"},
    {"q=%41%42%43%44", "q", 4, -1, NULL},
    {"q=", "q", 1, 0, ""},
    {"q=a", "q", 1, -1, NULL},
    /* first occurrence wins */
    {"q=1&q=2", "q", 0, 0, "1"},
    {"q=&q=2", "q", 0, 0, ""},
    {"q=%zz&q=2", "q", 0, -1, NULL},
    /* names that are prefixes or extensions of others */
    {"request_id_x=1&request_id=2", "request_id", 0, 0, "2"},
    {"request_idx=1&request_id=2", "request_id", 0, 0, "2"},
    {"request_i=1&request_id=2", "request_id", 0, 0, "2"},
    {"xrequest_id=1&request_id=2", "request_id", 0, 0, "2"},
    {"request_id=1&request_id_x=2", "request_id_x", 0, 0, "2"},
    {"request_id=1", "request_id_x", 0, 1, NULL},
    {"request_id_x", "request_id", 0, 1, NULL},
};

TEST(query_get)
{
    for (size_t i = 0; i < sizeof(query_cases) / sizeof(query_cases[0]); i++) {
        const struct query_case *c = &query_cases[i];
        size_t outlen = c->outlen ? c->outlen : 64;
        /* An exactly sized heap buffer lets ASan catch a write past `outlen`. */
        char *out = xmalloc(outlen);
        int rc;

        memset(out, 'Z', outlen);
        rc = http_query_get(c->query, c->name, out, outlen);
        CHECKF(rc == c->rc, "http_query_get(\"%s\", \"%s\", %zu) = %d, expected %d", c->query,
               c->name, outlen, rc, c->rc);
        if (rc == 0 && c->rc == 0)
            CHECKF(!strcmp(out, c->value),
                   "http_query_get(\"%s\", \"%s\") gave \"%s\", expected \"%s\"", c->query, c->name,
                   out, c->value);
        free(out);
    }
}

TEST(query_get_null)
{
    char out[8];

    CHECK_EQ_INT(http_query_get(NULL, "q", out, sizeof(out)), 1);
}

TEST(reason)
{
    CHECK_EQ_STR(http_reason(200), "OK");
    CHECK_EQ_STR(http_reason(201), "Created");
    CHECK_EQ_STR(http_reason(400), "Bad Request");
    CHECK_EQ_STR(http_reason(401), "Unauthorized");
    CHECK_EQ_STR(http_reason(404), "Not Found");
    CHECK_EQ_STR(http_reason(405), "Method Not Allowed");
    CHECK_EQ_STR(http_reason(409), "Conflict");
    CHECK_EQ_STR(http_reason(413), "Payload Too Large");
    CHECK_EQ_STR(http_reason(415), "Unsupported Media Type");
    CHECK_EQ_STR(http_reason(429), "Too Many Requests");
    CHECK_EQ_STR(http_reason(500), "Internal Server Error");
    CHECK_EQ_STR(http_reason(503), "Service Unavailable");
    CHECK_EQ_STR(http_reason(299), "Unknown");
    CHECK_EQ_STR(http_reason(-1), "Unknown");
}

TEST(no_fcgi)
{
    struct http_req r;
    struct lg_error err = {0};
    int saved = log_threshold;

    /* http_begin without FastCGI: the CGI defaults. */
    http_begin(&r, NULL, NULL);
    CHECK_EQ_STR(r.method, "GET");
    CHECK_EQ_STR(r.path, "/");
    CHECK_EQ_STR(r.query, "");
    CHECK(http_param(&r, "REQUEST_METHOD") == NULL);
    CHECK(!r.answered);

    http_send_json(&r, 200, json_pack("{s:b}", "ok", 1));
    CHECK(r.answered);
    CHECK_EQ_INT(r.status, 200);

    /* A body that could not be shaped is answered 500, not dropped. */
    log_threshold = LOG_ERROR + 1; /* keep the expected error line out of the output */
    http_send_json(&r, 201, NULL);
    log_threshold = saved;
    CHECK_EQ_INT(r.status, 500);

    http_send_json_hdr(&r, 405, json_object(), "Allow: GET, POST\r\n");
    CHECK_EQ_INT(r.status, 405);

    CHECK_EQ_INT(lg_fail(&err, 401, "unauthorized", "an API key is required"), -1);
    http_send_error(&r, &err);
    CHECK_EQ_INT(r.status, 401);
    CHECK_EQ_INT(lg_fail(&err, 429, "too_many_requests", "slow down"), -1);
    http_send_error(&r, &err);
    CHECK_EQ_INT(r.status, 429);
    CHECK_EQ_INT(lg_fail(&err, 400, "invalid_json", "bad"), -1);
    http_send_error(&r, &err);
    CHECK_EQ_INT(r.status, 400);

    r.body = xstrdup("{}");
    r.body_len = 2;
    http_end(&r);
    CHECK(r.body == NULL);
    http_end(&r); /* twice is harmless */
}

TEST(request_id)
{
    struct http_req r, r2;

    CHECK(http_request_id_ok("6f1c0e5e2b0d4c1a9d3e8f7a6b5c4d3e"));
    CHECK(http_request_id_ok("a"));
    CHECK(http_request_id_ok("Trace-ID-42"));
    CHECK(!http_request_id_ok(NULL));
    CHECK(!http_request_id_ok(""));
    CHECK(!http_request_id_ok("a b"));
    CHECK(!http_request_id_ok("x\" level=error"));
    CHECK(!http_request_id_ok("a\nb"));
    CHECK(!http_request_id_ok("a_b"));
    CHECK(http_request_id_ok("0123456789012345678901234567890123456789012345678901234567890123"));
    CHECK(!http_request_id_ok("01234567890123456789012345678901234567890123456789012345678901234"));
    /* none given: one is made, 32 hex digits, each request its own */
    http_begin(&r, NULL, NULL);
    http_begin(&r2, NULL, NULL);
    CHECK_EQ_INT((int)strlen(r.request_id), 32);
    CHECK(http_request_id_ok(r.request_id));
    CHECK(strspn(r.request_id, "0123456789abcdef") == 32);
    CHECK(strcmp(r.request_id, r2.request_id) != 0);
}

int main(int argc, char **argv)
{
    t_begin(argc, argv);
    RUN(query_get);
    RUN(query_get_null);
    RUN(reason);
    RUN(no_fcgi);
    RUN(request_id);
    return t_end();
}
