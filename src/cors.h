/*
 * cors.h - Cross-Origin Resource Sharing for browser agents.
 *
 * A web page on another origin may call the agent API (under /hitl/,
 * /sessions/register, /mcp and under /mcp/ and /v1/) when its Origin is listed in
 * cors_allowed_origins (or the list is `*`, allowed with auth = required
 * only). Its answers then carry Access-Control-Allow-Origin (the origin
 * itself, or `*`), Vary: Origin and Access-Control-Expose-Headers; a
 * preflight (OPTIONS with Access-Control-Request-Method) is answered 204
 * with the methods of the path, the request headers the API reads and a
 * Max-Age, or 403 for an origin not listed. Never credentials: keys travel
 * in headers, and the console (/console/api/, a cookie) and the Telegram
 * webhook get no CORS at all. An Origin not listed changes nothing else:
 * the request is served, and the browser keeps the answer from the page.
 * The configuration is the request's (r->cfg), so a reload applies at once.
 */
#ifndef LG_CORS_H
#define LG_CORS_H

#include <stdbool.h>

#include "http.h"

/* Whether `path` is part of the agent API that CORS applies to. */
bool cors_path(const char *path);

/*
 * Whether `origin` may read answers under r->cfg's cors_allowed_origins:
 * 1 listed exactly, 2 by `*`, 0 not.
 */
int cors_origin_allowed(const struct config *cfg, const char *origin);

/*
 * For a request to the agent API: put the CORS headers of its answer in
 * r->cors (Vary: Origin whenever origins are listed; the others when the
 * request's Origin is allowed). Every answer of http.c carries them.
 */
void cors_prepare(struct http_req *r);

/*
 * Whether `r` is a CORS preflight: OPTIONS with an Origin and an
 * Access-Control-Request-Method.
 */
bool cors_is_preflight(const struct http_req *r);

/*
 * Answer the preflight `r` for a path whose methods are `allow` ("GET,
 * POST"): 204 with the Access-Control-Allow-* headers when its Origin is
 * allowed, else a 403 JSON error naming cors_allowed_origins.
 */
void cors_preflight(struct http_req *r, const char *allow);

#endif
