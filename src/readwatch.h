/*
 * readwatch.h - the deadlines for reading a request in a worker of
 * `loopgate serve`: a connection whose FastCGI BEGIN_REQUEST and PARAMS are
 * not read within request_read_timeout seconds of its accept, or whose body
 * or remaining input is not read within as long again, is shut down,
 * however slowly it trickles them (readwatch.c has the model).
 */
#ifndef LG_READWATCH_H
#define LG_READWATCH_H

#include <stdbool.h>

#include "util.h"

/*
 * Start the watcher thread of this worker, with one slot per request thread
 * (`slots`, numbered from 0). 0, or -1 (logged) when the thread cannot start.
 */
LG_MUST_CHECK int readwatch_start(int slots);

/*
 * Request thread `slot`: the connection `fd`, just accepted, must have its
 * request's opening read within `seconds`. The slot keeps a duplicate of
 * fd, so whatever closes fd meanwhile, the watcher only ever shuts down
 * this connection. 0, or -1 when no descriptor was left for the duplicate
 * (fd is untouched: the caller closes it). Paired with readwatch_release(),
 * which closes the duplicate; readwatch_disarm() and readwatch_rearm() may
 * come in between.
 */
LG_MUST_CHECK int readwatch_arm(int slot, int fd, int seconds);

/*
 * Request thread `slot`: the watched read is over. After this the watcher
 * leaves the connection alone; the slot keeps its duplicate for
 * readwatch_rearm(). True when a deadline passed and the watcher shut the
 * connection down: a request read anyway cannot be answered on it.
 */
LG_MUST_CHECK bool readwatch_disarm(int slot);

/*
 * Request thread `slot`, disarmed, its connection still held: the next read
 * (a body, the input left after the answer) must be over within `seconds`
 * from now. Nothing when the slot holds no connection. Paired with
 * readwatch_disarm() or readwatch_release().
 */
void readwatch_rearm(int slot, int seconds);

/*
 * Request thread `slot`: the connection is done with. Disarms the slot and
 * closes its duplicate; the connection's own descriptor is the caller's.
 * True when a deadline passed and the watcher shut the connection down.
 */
bool readwatch_release(int slot);

/* Stop the watcher thread and wait for it; armed slots are no longer watched. */
void readwatch_stop(void);

#endif
