/* Option-table parser and --help printer shared by every command. */
#include "core/opts.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

bool c360_parse_int(const char *s, int64_t *out)
{
	if (!s || !*s)
		return false;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

bool c360_parse_duration(const char *s, int64_t *seconds)
{
	if (!s || !*s || *s == '-')
		return false;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || v > INT64_MAX / 86400)
		return false;
	int64_t mul = 1;
	if (!strcmp(end, "") || !strcmp(end, "s"))
		mul = 1;
	else if (!strcmp(end, "m"))
		mul = 60;
	else if (!strcmp(end, "h"))
		mul = 3600;
	else if (!strcmp(end, "d"))
		mul = 86400;
	else if (!strcmp(end, "ms")) {
		*seconds = (int64_t)((v + 999) / 1000);
		return true;
	} else
		return false;
	*seconds = (int64_t)v * mul;
	return true;
}

static const struct c360_opt *find_long(const struct c360_opt *o, const char *name, size_t len)
{
	for (; o->long_name; o++)
		if (strlen(o->long_name) == len && !strncmp(o->long_name, name, len))
			return o;
	return NULL;
}

static const struct c360_opt *find_short(const struct c360_opt *o, char c)
{
	for (; o->long_name; o++)
		if (o->short_name && o->short_name == c)
			return o;
	return NULL;
}

static bool takes_arg(const struct c360_opt *o)
{
	return o->type != C360_OPT_FLAG && o->type != C360_OPT_COUNT;
}

static bool apply(const char *cmd, const struct c360_opt *o, const char *val)
{
	switch (o->type) {
	case C360_OPT_FLAG:
		*(bool *)o->dest = true;
		return true;
	case C360_OPT_COUNT:
		(*(int *)o->dest)++;
		return true;
	case C360_OPT_STR:
		*(const char **)o->dest = val;
		return true;
	case C360_OPT_INT:
		if (c360_parse_int(val, (int64_t *)o->dest))
			return true;
		fprintf(stderr, "%s: option '--%s' wants a whole number, not '%s'\n", cmd,
			o->long_name, val);
		return false;
	case C360_OPT_DURATION:
		if (c360_parse_duration(val, (int64_t *)o->dest))
			return true;
		fprintf(stderr,
			"%s: option '--%s' wants a duration like 90, 90s, 90m, 25h or 2d, not '%s'\n",
			cmd, o->long_name, val);
		return false;
	case C360_OPT_LIST: {
		struct c360_opt_list *l = o->dest;
		if (l->n >= (int)(sizeof l->items / sizeof *l->items)) {
			fprintf(stderr, "%s: option '--%s' given too many times\n", cmd,
				o->long_name);
			return false;
		}
		l->items[l->n++] = val;
		return true;
	}
	}
	return false;
}

int c360_opts_parse(const struct c360_cmd_spec *spec, int argc, char **argv)
{
	const char *cmd = argc > 0 ? argv[0] : "c360";
	static const struct c360_opt none[] = {{0}};
	const struct c360_opt *opts = spec->opts ? spec->opts : none;
	char **pos = calloc((size_t)argc + 1, sizeof *pos);
	if (!pos)
		return C360_OPTS_ERROR;
	int npos = 0, rc = 0;
	bool only_pos = false;

	for (int i = 1; i < argc; i++) {
		char *a = argv[i];
		if (only_pos || a[0] != '-' || a[1] == '\0') {
			pos[npos++] = a;
			continue;
		}
		if (!strcmp(a, "--")) {
			only_pos = true;
			continue;
		}
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			c360_opts_help(spec, stdout);
			rc = C360_OPTS_HELP;
			goto out;
		}
		const struct c360_opt *o;
		const char *val = NULL;
		if (a[1] == '-') {
			const char *name = a + 2, *eq = strchr(name, '=');
			size_t len = eq ? (size_t)(eq - name) : strlen(name);
			o = find_long(opts, name, len);
			if (!o) {
				fprintf(stderr, "%s: unknown option '--%.*s' (see '%s --help')\n", cmd,
					(int)len, name, cmd);
				rc = C360_OPTS_ERROR;
				goto out;
			}
			if (eq) {
				if (!takes_arg(o)) {
					fprintf(stderr, "%s: option '--%s' takes no value\n", cmd,
						o->long_name);
					rc = C360_OPTS_ERROR;
					goto out;
				}
				val = eq + 1;
			}
		} else {
			o = find_short(opts, a[1]);
			if (!o) {
				fprintf(stderr, "%s: unknown option '-%c' (see '%s --help')\n", cmd, a[1],
					cmd);
				rc = C360_OPTS_ERROR;
				goto out;
			}
			if (a[2]) {
				if (!takes_arg(o)) {
					fprintf(stderr, "%s: option '-%c' takes no value\n", cmd, a[1]);
					rc = C360_OPTS_ERROR;
					goto out;
				}
				val = a + 2;
			}
		}
		if (takes_arg(o) && !val) {
			if (i + 1 >= argc) {
				fprintf(stderr, "%s: option '--%s' needs a value (%s)\n", cmd,
					o->long_name, o->arg_name ? o->arg_name : "VALUE");
				rc = C360_OPTS_ERROR;
				goto out;
			}
			val = argv[++i];
		}
		if (!apply(cmd, o, val)) {
			rc = C360_OPTS_ERROR;
			goto out;
		}
	}
	if (npos < spec->min_args || (spec->max_args >= 0 && npos > spec->max_args)) {
		fprintf(stderr, "%s: %s arguments\nusage: %s\n(see '%s --help')\n", cmd,
			npos < spec->min_args ? "missing" : "too many", spec->usage, cmd);
		rc = C360_OPTS_ERROR;
		goto out;
	}
	for (int i = 0; i < npos; i++)
		argv[i] = pos[i];
	rc = npos;
out:
	free(pos);
	return rc;
}

void c360_opts_help(const struct c360_cmd_spec *spec, FILE *out)
{
	fprintf(out, "usage: %s\n", spec->usage);
	if (spec->summary)
		fprintf(out, "\n%s\n", spec->summary);
	const struct c360_opt *o = spec->opts;
	fprintf(out, "\noptions:\n");
	for (; o && o->long_name; o++) {
		char left[64];
		const char *arg = takes_arg(o) ? (o->arg_name ? o->arg_name : "VALUE") : NULL;
		if (o->short_name)
			snprintf(left, sizeof left, "-%c, --%s%s%s", o->short_name, o->long_name,
				 arg ? " " : "", arg ? arg : "");
		else
			snprintf(left, sizeof left, "    --%s%s%s", o->long_name, arg ? " " : "",
				 arg ? arg : "");
		fprintf(out, "  %-30s %s", left, o->help ? o->help : "");
		if (o->def)
			fprintf(out, " (default: %s)", o->def);
		fputc('\n', out);
	}
	fprintf(out, "  %-30s %s\n", "-h, --help", "show this help and exit");
	if (spec->details)
		fprintf(out, "\n%s\n", spec->details);
}
