/*
 * router.h - the one table that maps (method, path) to a handler.
 *
 * Matching is exact on the path, except that a segment `*` of a route's
 * path matches any one non-empty segment of the request's (the request id
 * of the console's request routes); the handler reads and checks it. A path that exists with
 * another method is a 405 with an Allow list; anything else a 404. Pure, unit tested.
 */
#ifndef LG_ROUTER_H
#define LG_ROUTER_H

#include <stddef.h>

struct http_req;

enum auth_rule {
    AUTH_NONE,     /* open: /health */
    AUTH_TENANT,   /* an API key picks the tenant (required unless auth = off) */
    AUTH_TELEGRAM, /* the webhook secret header */
    AUTH_CONSOLE,  /* a console session cookie, and on POST its X-CSRF-Token (console.h) */
};

typedef void (*route_fn)(struct http_req *r);

struct route {
    const char *method;
    const char *path;
    route_fn fn;
    enum auth_rule auth;
    int json_body; /* 1: POST body must be application/json */
};

/*
 * Find the route for (method, path). NULL when none: *status is 404, or 405
 * with `allow` filled ("GET, POST").
 */
const struct route *router_match(const struct route *table, size_t n, const char *method,
                                 const char *path, int *status, char *allow, size_t allowlen);

#endif
