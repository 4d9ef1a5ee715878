/* Option tables: one table per command or connector gives the parser, --help
 * and the docs (Fluent Bit's config_map, librdkafka's CONFIGURATION.md).
 *
 * A table is an array of struct c360_opt ending with an entry whose long_name
 * is NULL. Parsing writes straight into the `dest` pointers; destinations
 * keep their prior value (the default) when the option is absent. */
#ifndef C360_CORE_OPTS_H
#define C360_CORE_OPTS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum c360_opt_type {
	C360_OPT_FLAG,     /* bool *: set to true, no argument */
	C360_OPT_STR,      /* const char **: borrows argv until the command returns */
	C360_OPT_INT,      /* int64_t *: decimal, may be negative */
	C360_OPT_DURATION, /* int64_t * seconds: "90", "90s", "90m", "25h", "2d" */
	C360_OPT_COUNT,    /* int *: incremented each time (-v -v) */
	C360_OPT_LIST,     /* struct c360_opt_list *: repeatable string */
};

struct c360_opt_list {
	const char *items[32];
	int n;
};

struct c360_opt {
	const char *long_name; /* "errors-log"; NULL ends the table */
	char short_name;       /* 'e', or 0 */
	enum c360_opt_type type;
	void *dest;
	const char *arg_name; /* "PATH", shown in help; ignored for flags */
	const char *help;     /* one line; "(default: …)" is added when def is set */
	const char *def;      /* default as text for --help, or NULL */
};

struct c360_cmd_spec {
	const char *usage;   /* "c360 doc get [options] BUCKET KEY" */
	const char *summary; /* one line */
	const char *details; /* optional paragraph(s) printed after the options */
	const struct c360_opt *opts;
	int min_args, max_args; /* positional arguments; max_args < 0 = unlimited */
};

#define C360_OPTS_HELP (-2)  /* --help was printed: exit 0 */
#define C360_OPTS_ERROR (-1) /* a message was printed to stderr: exit 2 */

/* Parses argv[1..argc) (argv[0] is the command name) against spec. Moves the
 * positional arguments to argv[0..n) and returns n, or C360_OPTS_HELP, or
 * C360_OPTS_ERROR. "--" ends the options. */
int c360_opts_parse(const struct c360_cmd_spec *spec, int argc, char **argv);
/* Prints the usage, summary, option table and details. */
void c360_opts_help(const struct c360_cmd_spec *spec, FILE *out);
/* Parses "90", "90s", "90m", "25h", "2d" (and "500ms" when ms_ok, rounding up
 * to a second) into seconds; returns false if malformed or negative. */
bool c360_parse_duration(const char *s, int64_t *seconds);
/* Parses a whole decimal int64; false on junk or overflow. */
bool c360_parse_int(const char *s, int64_t *out);

#endif
