/*
 * wait.h - waiting for a human without holding a database connection.
 *
 * Used by GET /hitl/poll?wait= and by MCP tools. The thread registers a
 * waiter for the request (notify.c), reads the row, and sleeps until the
 * listener says the request changed, the wait runs out, or the worker stops;
 * then it reads the row again. The row is the truth; a wake-up is a hint.
 */
#ifndef LG_WAIT_H
#define LG_WAIT_H

#include <jansson.h>

#include "actor.h"
#include "config.h"

/*
 * The poll body of request `id`, after waiting up to `wait_s` seconds for it
 * to be final (0: answer at once). A waiter slot that cannot be had is a 503
 * (never a silent queue). Returns -1 with `err` on failure.
 */
int wait_poll(const struct config *cfg, const struct actor *who, const char *id, int wait_s,
              json_t **out, struct lg_error *err) LG_MUST_CHECK;

/*
 * How many waiters one worker process accepts: its threads less a reserve.
 * Long-polls and event streams (events.h) share them.
 */
int wait_capacity(const struct config *cfg);

/*
 * What the process does around a wait for a human: `sleeps` just before a
 * thread sleeps (server.c: it stops counting towards busy_threads, so
 * another may accept), `wakes` when it runs again. Set once, before the
 * threads that wait start; without hooks a wait calls nothing.
 */
struct wait_hooks {
    void (*sleeps)(void);
    void (*wakes)(void);
};
void wait_set_hooks(const struct wait_hooks *hooks);

#endif
