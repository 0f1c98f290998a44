/*
 * fuzz_query.c - what an agent puts in the request line and headers: the
 * query string (http_query_get, then the id and number checks the API
 * applies to its values), the Content-Type (media_type_is_json) and the
 * method and path (router_match), and the query as a Telegram login
 * (tglogin_check: refused with a client error, or accepted only for a
 * positive id). The input is "query\ncontent-type\nmethod\npath"; missing
 * lines are empty.
 */
#include <jansson.h>

#include "check.h"
#include "fuzz.h"
#include "http.h"
#include "router.h"
#include "tglogin.h"
#include "validate.h"

static void route_stub(struct http_req *r)
{
    (void)r;
}

static const struct route table[] = {
    {"GET", "/hitl/poll", route_stub, AUTH_TENANT, 0},
    {"POST", "/hitl/request", route_stub, AUTH_TENANT, 1},
    {"GET", "/health", route_stub, AUTH_NONE, 0},
    {"POST", "/mcp", route_stub, AUTH_TENANT, 1},
    {"GET", "/mcp", route_stub, AUTH_TENANT, 0},
};

/* The next line of `*p` (cut in place), or "" once the input is used up. */
static char *next_line(char **p)
{
    char *line = *p, *nl;

    if (!line)
        return "";
    nl = strchr(line, '\n');
    if (nl) {
        *nl = '\0';
        *p = nl + 1;
    } else {
        *p = NULL;
    }
    return line;
}

static void fuzz_one(const char *data, size_t len)
{
    char *copy = strdup(data), *p = copy, allow[64], out[256];
    const char *names[] = {"request_id", "session_id", "wait", "tenant", ""};
    char *query, *ctype, *method, *path;
    struct lg_error err = {0};
    int64_t n;
    int status;

    (void)len;
    FUZZ_REQUIRE(copy != NULL);
    query = next_line(&p);
    ctype = next_line(&p);
    method = next_line(&p);
    path = next_line(&p);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        int rc = http_query_get(query, names[i], out, sizeof(out));

        FUZZ_REQUIRE(rc >= -1 && rc <= 1);
        if (rc != 0)
            continue;
        FUZZ_REQUIRE(strlen(out) < sizeof(out));
        if (i < 2 && validate_request_id(out, names[i], "parameter", &err) < 0)
            fuzz_client_error(&err);
        if (i == 2)
            (void)!parse_int64(out, &n);
    }
    /* A value that does not fit in a small buffer is refused, never cut. */
    FUZZ_REQUIRE(http_query_get(query, "request_id", out, 8) != 0 || strlen(out) < 8);
    {
        struct tglogin l;

        if (tglogin_check(query, "123456:FUZZ-token", 1764616800, &l, &err) < 0)
            fuzz_client_error(&err);
        else
            FUZZ_REQUIRE(l.id > 0 && strlen(l.hash) == 64);
    }
    (void)media_type_is_json(ctype);
    if (!router_match(table, sizeof(table) / sizeof(table[0]), method, path, &status, allow,
                      sizeof(allow)))
        FUZZ_REQUIRE(status == 404 || status == 405);
    free(copy);
}

FUZZ_MAIN
