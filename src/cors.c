/*
 * cors.c - see cors.h.
 */
#include "cors.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

/* Request headers a browser agent may send (the preflight's answer). */
#define CORS_ALLOW_HEADERS                                                                         \
    "Authorization, X-API-Key, Content-Type, Idempotency-Key, Mcp-Session-Id, "                    \
    "MCP-Protocol-Version, Mcp-Method, Mcp-Name, Last-Event-ID, X-Loopgate-Session, "              \
    "X-Loopgate-Wait"

/* Answer headers beyond the CORS-safelisted ones that a page may read. */
#define CORS_EXPOSE_HEADERS "X-Request-Id, Mcp-Session-Id, Retry-After, WWW-Authenticate, Allow"

/* How long a browser may keep a preflight's answer, seconds. */
#define CORS_MAX_AGE "600"

bool cors_path(const char *path)
{
    return !strncmp(path, "/hitl/", 6) || !strcmp(path, "/sessions/register") ||
           !strcmp(path, "/mcp") || !strncmp(path, "/mcp/", 5) || !strncmp(path, "/v1/", 4);
}

int cors_origin_allowed(const struct config *cfg, const char *origin)
{
    const char *list = cfg->cors_allowed_origins;

    if (!origin || !*origin || !list || !*list || strlen(origin) > 200)
        return 0;
    if (config_list_has(list, origin))
        return 1;
    return config_list_has(list, "*") ? 2 : 0;
}

void cors_prepare(struct http_req *r)
{
    const char *origin = http_param(r, "HTTP_ORIGIN");
    const char *list = r->cfg->cors_allowed_origins;
    int allowed;

    r->cors[0] = '\0';
    if (!list || !*list)
        return;
    allowed = cors_origin_allowed(r->cfg, origin);
    if (allowed == 0) {
        lg_strlcpy(r->cors, "Vary: Origin\r\n", sizeof(r->cors));
        return;
    }
    snprintf(r->cors, sizeof(r->cors),
             "Access-Control-Allow-Origin: %s\r\nVary: Origin\r\n"
             "Access-Control-Expose-Headers: " CORS_EXPOSE_HEADERS "\r\n",
             allowed == 1 ? origin : "*");
}

bool cors_is_preflight(const struct http_req *r)
{
    const char *origin = http_param(r, "HTTP_ORIGIN");
    const char *method = http_param(r, "HTTP_ACCESS_CONTROL_REQUEST_METHOD");

    return !strcmp(r->method, "OPTIONS") && origin && *origin && method && *method;
}

void cors_preflight(struct http_req *r, const char *allow)
{
    const char *origin = http_param(r, "HTTP_ORIGIN");
    struct lg_error err;
    char hdr[512];

    if (cors_origin_allowed(r->cfg, origin) == 0) {
        lg_fail(&err, 403, "forbidden_origin",
                "Origin '%.100s' may not call %s from a browser (cors_allowed_origins)", origin,
                r->path);
        http_send_error(r, &err);
        return;
    }
    /* r->cors (cors_prepare) holds Allow-Origin, Vary and Expose-Headers. */
    snprintf(hdr, sizeof(hdr),
             "Access-Control-Allow-Methods: %s\r\n"
             "Access-Control-Allow-Headers: " CORS_ALLOW_HEADERS "\r\n"
             "Access-Control-Max-Age: " CORS_MAX_AGE "\r\n",
             allow);
    http_send_empty(r, 204, hdr);
}
