/* The demo's outside world (the mock Kafka cluster, the mock online store)
 * in child processes of their own, as they would be in a real deployment:
 * their data (every event on the topic, every customer and order of the
 * store) does not count towards c360's memory, and the demo reports their
 * memory separately.
 *
 * A child runs `start`, sends back one line (an address and whatever else
 * the parent needs), then serves until the parent closes the control pipe
 * (c360_outside_stop) or dies; it then runs `stop` and exits. Fork before
 * the parent starts any thread. */
#ifndef C360_DEMO_OUTSIDE_H
#define C360_DEMO_OUTSIDE_H

#include <stddef.h>
#include <sys/types.h>

#include "core/rc.h"

/* Starts the service; writes the line for the parent into reply. */
typedef c360_rc (*c360_outside_start_fn)(void *arg, void **state, char *reply, size_t replylen,
					 char *err, size_t errlen);
typedef void (*c360_outside_stop_fn)(void *state);

struct c360_outside {
	const char *name;
	pid_t pid;
	int ctl;           /* write end of the control pipe; closing it stops the child */
	char reply[256];   /* the child's line */
	long maxrss_kb;    /* the child's peak RSS, after c360_outside_stop */
};

c360_rc c360_outside_start(struct c360_outside *o, const char *name, c360_outside_start_fn start,
			   c360_outside_stop_fn stop, void *arg, char *err, size_t errlen);

/* The running child's peak RSS in KB (VmHWM of /proc/PID/status), or after
 * c360_outside_stop the one wait4 reported; 0 if unknown. */
long c360_outside_peak_kb(const struct c360_outside *o);

/* Stops the child and waits for it; safe on a never-started or stopped one. */
void c360_outside_stop(struct c360_outside *o);

#endif
