/*
 * store_mcp.h - MCP sessions: any worker can serve any session.
 */
#ifndef LG_STORE_MCP_H
#define LG_STORE_MCP_H

#include <stddef.h>

#include "util.h"

/*
 * Create a session unless the tenant has `max` live ones (idle less than
 * `idle` seconds) already; prunes a bounded number of ended or idle
 * sessions of any tenant on the way. 0 created, 1 at the cap, -1 error.
 */
int store_mcp_session_create(const char *id, const char *tenant, const char *version,
                             const char *client_name, const char *client_version, int max, int idle,
                             struct lg_error *err) LG_MUST_CHECK;
/* 0 found (version filled), 1 unknown, ended or idle `idle` seconds, -1 error. */
int store_mcp_session_get(const char *id, const char *tenant, int idle, char *version, size_t vlen,
                          struct lg_error *err) LG_MUST_CHECK;
/* 0 ended, 1 unknown, -1 error. */
int store_mcp_session_end(const char *id, const char *tenant, struct lg_error *err) LG_MUST_CHECK;

#endif
