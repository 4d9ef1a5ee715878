/* Shared plumbing of the c360 subcommands: the commands table, the --store
 * option, exit codes. Only cli/ may exit the process. */
#ifndef C360_CLI_CLI_H
#define C360_CLI_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "core/opts.h"
#include "core/rc.h"
#include "store/store.h"

/* Documented exit codes (docs/cli.md). */
enum {
	C360_EXIT_OK = 0,
	C360_EXIT_FAILED = 1,    /* the operation failed, or some records failed */
	C360_EXIT_USAGE = 2,     /* bad command line */
	C360_EXIT_NOT_FOUND = 3, /* bucket, key, function, … does not exist */
	C360_EXIT_CONFLICT = 4,  /* already exists, or CAS mismatch */
	C360_EXIT_INVALID = 5,   /* invalid input data (JSON, key, size) */
	C360_EXIT_STORE = 6,     /* the store cannot be used (corrupt, not a store, I/O, read-only) */
};

struct c360_command {
	const char *name;
	int (*run)(int argc, char **argv); /* argv[0] is "c360 <name>" */
	const char *summary;
};

/* The commands table (main.c). */
extern const struct c360_command c360_commands[];

/* --store PATH: set by the global option or a command's own option. */
extern const char *c360_cli_store;
#define C360_CLI_STORE_OPT                                                                    \
	{"store", 0, C360_OPT_STR, &c360_cli_store, "PATH", "the store file",                 \
	 "$C360_STORE, else ./c360.db"}

/* Resolves the store path: --store, else $C360_STORE, else ./c360.db. */
const char *c360_cli_store_path(void);
/* Opens the store, printing "c360: cannot open store 'PATH': reason" on
 * failure and returning the exit code (0 on success). */
int c360_cli_open_store(c360_store **st, const struct c360_store_opts *opts);
/* Maps a return code to an exit code. */
int c360_cli_exit_code(c360_rc rc);
/* Reads a whole file ("-" = stdin) into a malloc'd NUL-terminated buffer,
 * at most max bytes. Prints the error. */
c360_rc c360_cli_read_file(const char *path, size_t max, char **out, size_t *len);
/* A subcommand of a command with several (`c360 bucket create`): run gets
 * argv[0] = "c360 PARENT NAME", used in its messages and --help. */
struct c360_subcommand {
	const char *name;
	int (*run)(int argc, char **argv);
};
/* Runs `c360 PARENT NAME ARGS…` from argv = {"c360 PARENT", NAME, ARGS…}:
 * no NAME prints the usage to stderr (exit 2); --help, -h and help print it
 * to stdout (exit 0); an unknown NAME is a usage error that says where to
 * look. subs ends with a {NULL} entry. */
int c360_cli_dispatch(const char *parent, const struct c360_subcommand *subs,
		      void (*usage)(FILE *out), int argc, char **argv);
/* True when stderr is a terminal (progress bars are drawn only then). */
bool c360_cli_is_tty(void);

#endif
