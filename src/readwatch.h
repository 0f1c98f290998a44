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
 * Request thread `slot`: a read of the connection `fd` (its request's
 * opening, just after the accept; its body; what is left of its input and
 * the close) must be over within `seconds`. The slot holds a duplicate of
 * fd, taken here unless it holds one already, so whatever closes fd
 * meanwhile, the watcher only ever shuts down this connection. 0, or -1
 * when no descriptor was left for the duplicate (fd is untouched and not
 * watched). Paired with readwatch_disarm() or readwatch_release().
 */
LG_MUST_CHECK int readwatch_arm(int slot, int fd, int seconds);

/*
 * Request thread `slot`: the watched read is over, and the watcher leaves
 * the connection alone; the slot keeps its duplicate for the next
 * readwatch_arm() of the same connection. True when the deadline passed and
 * the watcher shut the connection down: what was read cannot be answered on
 * it.
 */
LG_MUST_CHECK bool readwatch_disarm(int slot);

/*
 * Request thread `slot`: as readwatch_disarm(), and the slot's duplicate is
 * closed (nothing when it holds none): at the end of a request, and before
 * a wait that may be long. The connection's own descriptor is the caller's.
 */
bool readwatch_release(int slot);

/* Stop the watcher thread and wait for it; armed slots are no longer watched. */
void readwatch_stop(void);

#endif
