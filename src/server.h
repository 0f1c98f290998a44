/*
 * server.h - `loopgate serve`: the master and its worker processes.
 */
#ifndef LG_SERVER_H
#define LG_SERVER_H

#include "config.h"

/*
 * The stack of a request thread. They mostly sleep in long-polls: keep it
 * small. Whatever runs on a request thread (parsers of untrusted input
 * above all: tests/fuzz runs them on a thread of THREAD_STACK_PRODUCTION)
 * must fit in it. Sanitizer builds, whose frames are larger, get more.
 */
#define THREAD_STACK_PRODUCTION (256 * 1024)
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define LG_SANITIZED_STACK 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || defined(LG_SANITIZED_STACK)
#define THREAD_STACK (1024 * 1024)
#else
#define THREAD_STACK THREAD_STACK_PRODUCTION
#endif

/*
 * Called first thing by `loopgate serve`: block SIGHUP until server_run waits
 * for it, so that a reload sent during start-up (the schema check, binding the
 * socket) is kept pending and then runs as a reload instead of ending the
 * process by its default action.
 */
void server_hold_sighup(void);

/* Run the master until SIGTERM/SIGINT; returns the process exit code. */
int server_run(const struct config *cfg);

#endif
