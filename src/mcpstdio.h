/*
 * mcpstdio.h - `loopgate mcp`: MCP over stdio bridged to a Loopgate server.
 */
#ifndef LG_MCPSTDIO_H
#define LG_MCPSTDIO_H

int mcpstdio_main(int argc, char **argv);

#endif
