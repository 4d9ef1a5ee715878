/* The demo's outside systems in child processes (see outside.h). */
#include "demo/outside.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/banned.h"

static void write_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

/* the child: never returns */
static void child(int ctl, int rep, c360_outside_start_fn start, c360_outside_stop_fn stop,
		  void *arg)
{
	/* the parent decides when the outside world stops: Ctrl-C reaches the
	 * whole process group, the parent's death closes the control pipe */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_DFL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* pipes of earlier children, the parent's files: not ours */
	long maxfd = sysconf(_SC_OPEN_MAX);
	if (maxfd < 0 || maxfd > 4096)
		maxfd = 4096;
	for (int fd = 3; fd < maxfd; fd++)
		if (fd != ctl && fd != rep)
			close(fd);

	void *state = NULL;
	char reply[256] = "", err[400] = "", line[700];
	c360_rc rc = start(arg, &state, reply, sizeof reply, err, sizeof err);
	if (rc)
		snprintf(line, sizeof line, "err %s\n", err[0] ? err : c360_rc_str(rc));
	else
		snprintf(line, sizeof line, "ok %s\n", reply);
	write_all(rep, line, strlen(line));
	close(rep);
	if (!rc) {
		char b[64];
		for (;;) {
			ssize_t r = read(ctl, b, sizeof b);
			if (r == 0 || (r < 0 && errno != EINTR))
				break;
		}
		stop(state);
	}
	_exit(rc ? 1 : 0);
}

c360_rc c360_outside_start(struct c360_outside *o, const char *name, c360_outside_start_fn start,
			   c360_outside_stop_fn stop, void *arg, char *err, size_t errlen)
{
	memset(o, 0, sizeof *o);
	o->name = name;
	o->pid = -1;
	o->ctl = -1;
	int ctl[2], rep[2];
	if (pipe(ctl)) {
		snprintf(err, errlen, "%s: cannot create a pipe: %s", name, strerror(errno));
		return C360_ERR_IO;
	}
	if (pipe(rep)) {
		snprintf(err, errlen, "%s: cannot create a pipe: %s", name, strerror(errno));
		close(ctl[0]);
		close(ctl[1]);
		return C360_ERR_IO;
	}
	fflush(NULL); /* nothing buffered is written twice */
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "%s: cannot start a process: %s", name, strerror(errno));
		close(ctl[0]);
		close(ctl[1]);
		close(rep[0]);
		close(rep[1]);
		return C360_ERR_IO;
	}
	if (pid == 0) {
		close(ctl[1]);
		close(rep[0]);
		child(ctl[0], rep[1], start, stop, arg);
	}
	close(ctl[0]);
	close(rep[1]);
	o->pid = pid;
	o->ctl = ctl[1];

	/* one line back: "ok REPLY" or "err MESSAGE" */
	char line[1100];
	size_t n = 0;
	while (n < sizeof line - 1) {
		ssize_t r = read(rep[0], line + n, sizeof line - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
		if (memchr(line, '\n', n))
			break;
	}
	close(rep[0]);
	line[n] = 0;
	char *nl = strchr(line, '\n');
	if (nl)
		*nl = 0;
	if (!strncmp(line, "ok ", 3)) {
		size_t len = strlen(line + 3);
		if (len < sizeof o->reply) {
			memcpy(o->reply, line + 3, len + 1);
			return C360_OK;
		}
	}
	if (!strncmp(line, "ok ", 3)) {
		snprintf(err, errlen, "%s: its answer is too long", name);
		c360_outside_stop(o);
		return C360_ERR_INTERNAL;
	}
	snprintf(err, errlen, "%s: %s", name,
		 !strncmp(line, "err ", 4) ? line + 4 : "the process ended before it was ready");
	c360_outside_stop(o);
	return C360_ERR_IO;
}

long c360_outside_peak_kb(const struct c360_outside *o)
{
	if (o->pid <= 0)
		return o->maxrss_kb;
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%ld/status", (long)o->pid);
	FILE *f = fopen(path, "r");
	long kb = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, "VmHWM:", 6)) {
			kb = strtol(line + 6, NULL, 10);
			break;
		}
	fclose(f);
	return kb;
}

void c360_outside_stop(struct c360_outside *o)
{
	if (o->ctl >= 0) {
		close(o->ctl);
		o->ctl = -1;
	}
	if (o->pid > 0) {
		struct rusage ru;
		int status;
		memset(&ru, 0, sizeof ru);
		while (wait4(o->pid, &status, 0, &ru) < 0 && errno == EINTR)
			;
		o->maxrss_kb = ru.ru_maxrss;
		o->pid = -1;
	}
}
