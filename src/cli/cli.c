/* Shared CLI plumbing: store path, exit codes, file reading. */
#include "cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/banned.h"

const char *c360_cli_store;

const char *c360_cli_store_path(void)
{
	if (c360_cli_store && *c360_cli_store)
		return c360_cli_store;
	const char *env = getenv("C360_STORE");
	if (env && *env)
		return env;
	return "./c360.db";
}

int c360_cli_open_store(c360_store **st, const struct c360_store_opts *opts)
{
	char err[256] = "";
	const char *path = c360_cli_store_path();
	c360_rc rc = c360_store_open(path, opts, st, err, sizeof err);
	if (rc) {
		fprintf(stderr, "c360: cannot open store '%s': %s\n", path,
			*err ? err : c360_rc_str(rc));
		return c360_cli_exit_code(rc);
	}
	return 0;
}

int c360_cli_exit_code(c360_rc rc)
{
	switch (rc) {
	case C360_OK:
		return C360_EXIT_OK;
	case C360_ERR_NOT_FOUND:
		return C360_EXIT_NOT_FOUND;
	case C360_ERR_EXISTS:
	case C360_ERR_CAS:
		return C360_EXIT_CONFLICT;
	case C360_ERR_INVALID:
	case C360_ERR_TOO_BIG:
		return C360_EXIT_INVALID;
	case C360_ERR_CORRUPT:
	case C360_ERR_IO:
	case C360_ERR_DENIED:
		return C360_EXIT_STORE;
	default:
		return C360_EXIT_FAILED;
	}
}

c360_rc c360_cli_read_file(const char *path, size_t max, char **out, size_t *len)
{
	struct c360_buf b;
	c360_buf_init(&b, max);
	c360_rc rc = c360_buf_read_file(&b, path);
	if (rc == C360_ERR_TOO_BIG)
		fprintf(stderr, "c360: '%s' is larger than %zu bytes\n", path, max);
	else if (rc)
		fprintf(stderr, "c360: cannot read '%s': %s\n", path,
			rc == C360_ERR_NOT_FOUND ? "no such file" : strerror(errno));
	if (rc) {
		c360_buf_release(&b);
		return rc;
	}
	*out = c360_buf_detach(&b, len);
	return *out ? C360_OK : C360_ERR_NOMEM;
}

bool c360_cli_is_tty(void)
{
	return isatty(STDERR_FILENO) == 1;
}

int c360_cli_dispatch(const char *parent, const struct c360_subcommand *subs,
		      void (*usage)(FILE *out), int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return C360_EXIT_USAGE;
	}
	const char *name = argv[1];
	if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
		usage(stdout);
		return C360_EXIT_OK;
	}
	for (const struct c360_subcommand *s = subs; s->name; s++) {
		if (strcmp(s->name, name))
			continue;
		static char cmd[96]; /* one command per process */
		snprintf(cmd, sizeof cmd, "c360 %s %s", parent, s->name);
		argv[1] = cmd;
		return s->run(argc - 1, argv + 1);
	}
	fprintf(stderr, "c360 %s: unknown command '%s' (see 'c360 %s --help')\n", parent, name,
		parent);
	return C360_EXIT_USAGE;
}
