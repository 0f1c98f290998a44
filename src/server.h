/*
 * server.h - `loopgate serve`: the master and its worker processes.
 */
#ifndef LG_SERVER_H
#define LG_SERVER_H

#include "config.h"

/* Run the master until SIGTERM/SIGINT; returns the process exit code. */
int server_run(struct config *cfg);

#endif
