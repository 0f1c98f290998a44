/*
 * mcp.h - the Model Context Protocol server: Streamable HTTP on /mcp.
 */
#ifndef LG_MCP_H
#define LG_MCP_H

#include "http.h"

/* POST /mcp: one JSON-RPC message (or a batch, for 2025-03-26). */
void mcp_post(struct http_req *r);

/* DELETE /mcp: end the session named by Mcp-Session-Id. */
void mcp_delete(struct http_req *r);

/* GET /mcp: no server-initiated stream; 405. */
void mcp_get(struct http_req *r);

/* GET /mcp/tools and GET /mcp/capabilities: plain JSON, as in the original. */
void mcp_tools_json(struct http_req *r);
void mcp_capabilities_json(struct http_req *r);

/*
 * Checks every /mcp request must pass before anything else: Origin against
 * the allow-list (403), Host on a loopback listener (DNS rebinding, 421 ...).
 */
int mcp_check_origin(struct http_req *r, struct lg_error *err) LG_MUST_CHECK;

#endif
