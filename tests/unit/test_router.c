/*
 * test_router.c - unit tests for router.c against a small route table.
 */
#include <string.h>

#include "router.h"
#include "t.h"

static void h_health(struct http_req *r)
{
    (void)r;
}

static void h_get(struct http_req *r)
{
    (void)r;
}

static void h_post(struct http_req *r)
{
    (void)r;
}

static void h_delete(struct http_req *r)
{
    (void)r;
}

static const struct route table[] = {
    {"GET", "/health", h_health, AUTH_NONE, 0},
    {"GET", "/hitl/requests", h_get, AUTH_TENANT, 0},
    {"POST", "/hitl/requests", h_post, AUTH_TENANT, 1},
    {"POST", "/hitl/request", h_post, AUTH_TENANT, 1},
    {"DELETE", "/hitl/session", h_delete, AUTH_TENANT, 0},
    {"POST", "/telegram/webhook", h_post, AUTH_TELEGRAM, 1},
};

#define N (sizeof(table) / sizeof(table[0]))

TEST(exact_match)
{
    char allow[64];
    int status = 0;
    const struct route *rt;

    rt = router_match(table, N, "GET", "/health", &status, allow, sizeof(allow));
    CHECK(rt == &table[0]);
    CHECK(rt && rt->fn == h_health && rt->auth == AUTH_NONE);

    rt = router_match(table, N, "GET", "/hitl/requests", &status, allow, sizeof(allow));
    CHECK(rt == &table[1]);
    rt = router_match(table, N, "POST", "/hitl/requests", &status, allow, sizeof(allow));
    CHECK(rt == &table[2]);
    CHECK(rt && rt->json_body == 1);
    rt = router_match(table, N, "POST", "/hitl/request", &status, allow, sizeof(allow));
    CHECK(rt == &table[3]);
    rt = router_match(table, N, "POST", "/telegram/webhook", &status, allow, sizeof(allow));
    CHECK(rt && rt->auth == AUTH_TELEGRAM);
}

TEST(not_found)
{
    static const char *const paths[] = {
        "/",
        "/healthz",
        "/health/",
        "/Health",
        "/hitl",
        "/hitl/request/",
        "/hitl/requestss",
        "",
        "/hitl/requests?x=1",
        "//health",
    };
    char allow[64];

    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        int status = 0;
        const struct route *rt;

        memcpy(allow, "junk", 5);
        rt = router_match(table, N, "GET", paths[i], &status, allow, sizeof(allow));
        CHECKF(rt == NULL, "GET \"%s\" matched", paths[i]);
        CHECKF(status == 404, "GET \"%s\": status %d, expected 404", paths[i], status);
        CHECKF(allow[0] == '\0', "GET \"%s\": allow \"%s\"", paths[i], allow);
    }
}

TEST(method_not_allowed)
{
    char allow[64];
    int status = 0;
    const struct route *rt;

    rt = router_match(table, N, "DELETE", "/hitl/requests", &status, allow, sizeof(allow));
    CHECK(rt == NULL);
    CHECK_EQ_INT(status, 405);
    CHECK_EQ_STR(allow, "GET, POST");

    rt = router_match(table, N, "PUT", "/hitl/requests", &status, allow, sizeof(allow));
    CHECK(rt == NULL);
    CHECK_EQ_INT(status, 405);
    CHECK_EQ_STR(allow, "GET, POST");

    rt = router_match(table, N, "GET", "/hitl/request", &status, allow, sizeof(allow));
    CHECK(rt == NULL);
    CHECK_EQ_INT(status, 405);
    CHECK_EQ_STR(allow, "POST");

    rt = router_match(table, N, "POST", "/health", &status, allow, sizeof(allow));
    CHECK(rt == NULL);
    CHECK_EQ_INT(status, 405);
    CHECK_EQ_STR(allow, "GET");

    /* Methods are case-sensitive (RFC 9110). */
    rt = router_match(table, N, "get", "/health", &status, allow, sizeof(allow));
    CHECK(rt == NULL);
    CHECK_EQ_INT(status, 405);

    /* A buffer too small for the list never overflows and stays terminated. */
    {
        char tiny[6];
        rt = router_match(table, N, "PATCH", "/hitl/requests", &status, tiny, sizeof(tiny));
        CHECK(rt == NULL);
        CHECK_EQ_INT(status, 405);
        CHECK(memchr(tiny, '\0', sizeof(tiny)) != NULL);
        CHECK_EQ_STR(tiny, "GET");
    }

    /* No allow buffer at all. */
    rt = router_match(table, N, "PATCH", "/hitl/requests", &status, NULL, 0);
    CHECK(rt == NULL);
    CHECK_EQ_INT(status, 405);
}

TEST(duplicate_methods)
{
    /* Two rows with the same method and path: the first wins, Allow lists it once. */
    static const struct route dup[] = {
        {"GET", "/x", h_get, AUTH_NONE, 0},
        {"GET", "/x", h_post, AUTH_NONE, 0},
        {"POST", "/x", h_post, AUTH_NONE, 0},
    };
    char allow[64];
    int status = 0;
    const struct route *rt;

    rt = router_match(dup, 3, "GET", "/x", &status, allow, sizeof(allow));
    CHECK(rt == &dup[0]);
    rt = router_match(dup, 3, "DELETE", "/x", &status, allow, sizeof(allow));
    CHECK(rt == NULL);
    CHECK_EQ_STR(allow, "GET, POST");
}

TEST(empty_table)
{
    char allow[8];
    int status = 0;

    CHECK(router_match(table, 0, "GET", "/health", &status, allow, sizeof(allow)) == NULL);
    CHECK_EQ_INT(status, 404);
}

TEST(star_segment)
{
    static const struct route star[] = {
        {"GET", "/console/api/requests/*", h_get, AUTH_CONSOLE, 0},
        {"POST", "/console/api/requests/*/vote", h_post, AUTH_CONSOLE, 1},
    };
    char allow[64];
    int status = 0;

    CHECK(router_match(star, 2, "GET", "/console/api/requests/abc", &status, allow,
                       sizeof(allow)) == &star[0]);
    CHECK(router_match(star, 2, "POST", "/console/api/requests/abc/vote", &status, allow,
                       sizeof(allow)) == &star[1]);
    /* one segment, never empty, never two */
    CHECK(router_match(star, 2, "GET", "/console/api/requests/", &status, allow, sizeof(allow)) ==
          NULL);
    CHECK_EQ_INT(status, 404);
    CHECK(router_match(star, 2, "GET", "/console/api/requests/a/b", &status, allow,
                       sizeof(allow)) == NULL);
    CHECK(router_match(star, 2, "POST", "/console/api/requests//vote", &status, allow,
                       sizeof(allow)) == NULL);
    CHECK(router_match(star, 2, "POST", "/console/api/requests/abc/votes", &status, allow,
                       sizeof(allow)) == NULL);
    CHECK(router_match(star, 2, "POST", "/console/api/requests/abc", &status, allow,
                       sizeof(allow)) == NULL);
    CHECK_EQ_INT(status, 405);
    CHECK_EQ_STR(allow, "GET");
    /* a literal `*` in a path is just a segment */
    CHECK(router_match(star, 2, "GET", "/console/api/requests/*", &status, allow, sizeof(allow)) ==
          &star[0]);
}

int main(int argc, char **argv)
{
    t_begin(argc, argv);
    RUN(exact_match);
    RUN(not_found);
    RUN(method_not_allowed);
    RUN(duplicate_methods);
    RUN(empty_table);
    RUN(star_segment);
    return t_end();
}
