/* c360 bucket: create, list and drop buckets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/json.h"
#include "core/banned.h"

int c360_cmd_bucket(int argc, char **argv);

static int64_t o_max_ttl;
static bool o_json;

static const struct c360_opt create_opts[] = {
	C360_CLI_STORE_OPT,
	{"max-ttl", 0, C360_OPT_DURATION, &o_max_ttl, "DURATION",
	 "cap every document's expiry (and give one to documents without): 90m, 25h, 2d", "none"},
	{NULL, 0, 0, NULL, NULL, NULL, NULL},
};
static const struct c360_opt list_opts[] = {
	C360_CLI_STORE_OPT,
	{"json", 0, C360_OPT_FLAG, &o_json, NULL, "print a JSON array instead of a table", NULL},
	{NULL, 0, 0, NULL, NULL, NULL, NULL},
};
static const struct c360_opt drop_opts[] = {
	C360_CLI_STORE_OPT,
	{NULL, 0, 0, NULL, NULL, NULL, NULL},
};

static const struct c360_cmd_spec create_spec = {
	"c360 bucket create [options] NAME", "create a bucket (the store file is created if needed)",
	"NAME: 1 to 100 of letters, digits, '_', '.', '%', '-', not starting with '_' or '.'.\n"
	"Exit codes: 0 created, 4 exists, 5 bad name, 6 store unusable.",
	create_opts, 1, 1};
static const struct c360_cmd_spec list_spec = {
	"c360 bucket list [options]", "list buckets with their live document count and size",
	"Columns: name, documents (live: not deleted, not expired), bytes (keys + values),\n"
	"max TTL in seconds (0 = none), high seqno (last change-feed sequence number).",
	list_opts, 0, 0};
static const struct c360_cmd_spec drop_spec = {
	"c360 bucket drop [options] NAME", "drop a bucket with its documents, change feed and cursors",
	"Exit codes: 0 dropped, 3 no such bucket, 6 store unusable.", drop_opts, 1, 1};

static void usage(FILE *out)
{
	fprintf(out, "usage: c360 bucket create|list|drop [options] [NAME]\n"
		     "\nmanage buckets\n\n"
		     "  create NAME [--max-ttl D]   create a bucket\n"
		     "  list [--json]               list buckets (documents, bytes, max TTL, high seqno)\n"
		     "  drop NAME                   drop a bucket, its documents, feed and cursors\n"
		     "\n'c360 bucket COMMAND --help' describes a command.\n");
}

static int cmd_create(int argc, char **argv)
{
	const char *cmd = argv[0];
	int n = c360_opts_parse(&create_spec, argc, argv);
	if (n == C360_OPTS_HELP)
		return 0;
	if (n < 0)
		return C360_EXIT_USAGE;
	if (o_max_ttl > (int64_t)UINT32_MAX) {
		fprintf(stderr, "%s: --max-ttl is too large\n", cmd);
		return C360_EXIT_USAGE;
	}
	c360_store *st = NULL;
	struct c360_store_opts so;
	c360_store_opts_init(&so);
	so.sweep_interval_ms = -1;
	int ex = c360_cli_open_store(&st, &so);
	if (ex)
		return ex;
	char err[256] = "";
	c360_rc rc = c360_store_bucket_create(st, argv[0], (uint32_t)o_max_ttl, err, sizeof err);
	if (rc) {
		fprintf(stderr, "%s: %s\n", cmd, *err ? err : c360_rc_str(rc));
		ex = c360_cli_exit_code(rc);
	} else {
		printf("created bucket '%s' in '%s'", argv[0], c360_store_path(st));
		if (o_max_ttl)
			printf(" (max TTL %lld s)", (long long)o_max_ttl);
		printf("\n");
	}
	c360_store_close(st);
	return ex;
}

static int cmd_list(int argc, char **argv)
{
	const char *cmd = argv[0];
	int n = c360_opts_parse(&list_spec, argc, argv);
	if (n == C360_OPTS_HELP)
		return 0;
	if (n < 0)
		return C360_EXIT_USAGE;
	c360_store *st = NULL;
	struct c360_store_opts so;
	c360_store_opts_init(&so);
	so.read_only = true;
	so.sweep_interval_ms = -1;
	int ex = c360_cli_open_store(&st, &so);
	if (ex)
		return ex;
	struct c360_bucket_info *l = NULL;
	size_t cnt = 0;
	c360_rc rc = c360_store_bucket_list(st, &l, &cnt);
	if (rc) {
		fprintf(stderr, "%s: cannot list buckets of '%s': %s\n", cmd, c360_store_path(st),
			c360_rc_str(rc));
		c360_store_close(st);
		return c360_cli_exit_code(rc);
	}
	if (o_json) {
		struct c360_buf b;
		c360_buf_init(&b, 0);
		c360_buf_putc(&b, '[');
		for (size_t i = 0; i < cnt; i++) {
			c360_buf_puts(&b, i ? ",{\"name\":" : "{\"name\":");
			c360_json_write_string(l[i].name, strlen(l[i].name), &b);
			c360_buf_printf(&b,
					",\"count\":%llu,\"bytes\":%llu,\"max_ttl\":%u,\"high_seqno\":%llu}",
					(unsigned long long)l[i].count, (unsigned long long)l[i].bytes,
					l[i].max_ttl, (unsigned long long)l[i].high_seqno);
		}
		c360_buf_puts(&b, "]\n");
		fputs(c360_buf_cstr(&b), stdout);
		c360_buf_release(&b);
	} else {
		int w = 6;
		for (size_t i = 0; i < cnt; i++)
			if ((int)strlen(l[i].name) > w)
				w = (int)strlen(l[i].name);
		printf("%-*s %12s %14s %10s %12s\n", w, "BUCKET", "DOCUMENTS", "BYTES", "MAX_TTL",
		       "HIGH_SEQNO");
		for (size_t i = 0; i < cnt; i++)
			printf("%-*s %12llu %14llu %10u %12llu\n", w, l[i].name,
			       (unsigned long long)l[i].count, (unsigned long long)l[i].bytes,
			       l[i].max_ttl, (unsigned long long)l[i].high_seqno);
		if (c360_cli_is_tty())
			fprintf(stderr, "%zu bucket%s in '%s'\n", cnt, cnt == 1 ? "" : "s",
				c360_store_path(st));
	}
	free(l);
	c360_store_close(st);
	return fflush(stdout) ? C360_EXIT_FAILED : 0;
}

static int cmd_drop(int argc, char **argv)
{
	const char *cmd = argv[0];
	int n = c360_opts_parse(&drop_spec, argc, argv);
	if (n == C360_OPTS_HELP)
		return 0;
	if (n < 0)
		return C360_EXIT_USAGE;
	c360_store *st = NULL;
	struct c360_store_opts so;
	c360_store_opts_init(&so);
	so.no_create = true;
	so.sweep_interval_ms = -1;
	int ex = c360_cli_open_store(&st, &so);
	if (ex)
		return ex;
	c360_rc rc = c360_store_bucket_drop(st, argv[0]);
	if (rc == C360_ERR_NOT_FOUND) {
		fprintf(stderr, "%s: no bucket '%s' in store '%s'\n", cmd, argv[0], c360_store_path(st));
		ex = C360_EXIT_NOT_FOUND;
	} else if (rc) {
		fprintf(stderr, "%s: cannot drop bucket '%s': %s\n", cmd, argv[0], c360_rc_str(rc));
		ex = c360_cli_exit_code(rc);
	} else {
		printf("dropped bucket '%s'\n", argv[0]);
	}
	c360_store_close(st);
	return ex;
}

int c360_cmd_bucket(int argc, char **argv)
{
	static const struct c360_subcommand subs[] = {
		{"create", cmd_create},
		{"list", cmd_list},
		{"drop", cmd_drop},
		{NULL, NULL},
	};
	return c360_cli_dispatch("bucket", subs, usage, argc, argv);
}
