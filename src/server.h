/*
 * server.h - `loopgate serve`: the master and its worker processes.
 */
#ifndef LG_SERVER_H
#define LG_SERVER_H

#include "config.h"

/* Run the master until SIGTERM/SIGINT; returns the process exit code. */
int server_run(struct config *cfg);

/*
 * A request thread is about to sleep until a human answers (wait.c): it
 * stops counting towards busy_threads, so another may accept. Pair with
 * server_thread_wakes() when it runs again. Harmless outside `serve`.
 */
void server_thread_sleeps(void);
void server_thread_wakes(void);

#endif
