/* `c360 import`: the loyalty system's nightly CSV drop, imported once per
 * file (tracked in the system bucket), with expiry; one-shot or watching. */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/import_cli.h"
#include "core/log.h"
#include "sources/csv/importer.h"
#include "sources/csv/tracker.h"
#include "core/banned.h"

int c360_cmd_import(int argc, char **argv);

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

struct import_args {
	const char *bucket, *keyexpr, *fsep, *elog, *newest_in, *fdelim, *gdelim;
	bool infer, omit, force, create, once;
	int64_t threads, expiry, interval;
};

/* One tracked import of path; prints what happened; returns the exit code. */
static int import_one(const char *cmd, c360_store *st, const struct import_args *a, const char *path,
		      volatile sig_atomic_t *cancel)
{
	struct c360_import_opts io = {0};
	io.format = C360_IMPORT_CSV;
	io.path = path;
	io.bucket = a->bucket;
	io.key_expr = a->keyexpr;
	io.infer_types = a->infer;
	io.omit_empty = a->omit;
	io.threads = (int)a->threads;
	io.expiry = a->expiry;
	io.errors_log = a->elog;
	io.cancel = cancel;
	if (!c360_cli_char_opt(cmd, "field-separator", a->fsep, &io.separator) ||
	    !c360_cli_char_opt(cmd, "field-delimiter", a->fdelim, &io.field_delim) ||
	    !c360_cli_char_opt(cmd, "generator-delimiter", a->gdelim, &io.gen_delim))
		return C360_EXIT_USAGE;
	if (c360_cli_is_tty())
		io.progress = c360_cli_import_progress;
	struct c360_import_stats stats;
	struct c360_track_info info;
	char err[512] = "";
	c360_rc rc = c360_import_tracked(st, &io, a->force, &stats, &info, err, sizeof err);
	if (rc) {
		fprintf(stderr, "%s: %s\n", cmd, *err ? err : c360_rc_str(rc));
		if (rc == C360_ERR_NOT_FOUND && strstr(err, "bucket"))
			fprintf(stderr, "%s: create it first ('c360 bucket create %s'), or pass --create-bucket\n",
				cmd, a->bucket);
		return c360_cli_exit_code(rc);
	}
	switch (info.outcome) {
	case C360_TRACK_ALREADY:
	case C360_TRACK_SAME_CONTENT:
		printf("'%s' was already imported (%s, %" PRIu64 " documents, %" PRIu64
		       " failed rows%s): nothing to do%s\n",
		       path, info.completed, info.prev_imported, info.prev_failed,
		       info.outcome == C360_TRACK_SAME_CONTENT ? ", same content" : "",
		       info.prev_failed ? " (fix the file and import it with --force)" : "");
		fflush(stdout);
		return C360_EXIT_OK;
	case C360_TRACK_CHANGED:
		fprintf(stderr, "%s: '%s' changed while it was imported: not recorded, it will be imported again\n",
			cmd, path);
		break;
	case C360_TRACK_IMPORTED:
		break;
	}
	printf("CSV `%s` imported to bucket `%s`%s\n", path, a->bucket,
	       stats.failed ? " with failed rows" : " successfully");
	printf("Documents imported: %" PRIu64 " Documents failed: %" PRIu64 "\n", stats.imported,
	       stats.failed);
	fflush(stdout);
	c360_cli_import_summary(cmd, &stats);
	if (stats.failed && a->elog)
		fprintf(stderr, "%s: the failed rows are described in '%s'\n", cmd, a->elog);
	return stats.failed || info.outcome == C360_TRACK_CHANGED ? C360_EXIT_FAILED : C360_EXIT_OK;
}

static void sleep_s(int64_t s)
{
	/* in small steps so a signal ends the wait promptly */
	for (int64_t i = 0; i < s * 10 && !stop_flag; i++) {
		struct timespec ts = {0, 100000000L};
		nanosleep(&ts, NULL);
	}
}

/* Polls dir; a file is imported once its size and mtime were the same at
 * two polls in a row (so a file still being written is left alone). */
static int watch(const char *cmd, c360_store *st, const struct import_args *a, const char *dir)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	char *seen = NULL, *done = NULL;
	uint64_t seen_size = 0, done_size = 0;
	int64_t seen_t = 0, done_t = 0;
	int last = C360_EXIT_OK;
	fprintf(stderr, "%s: watching '%s' every %" PRId64 "s for new *.csv files (Ctrl-C stops)\n", cmd,
		dir, a->interval);
	while (!stop_flag) {
		char *path = NULL, err[512] = "";
		uint64_t size = 0;
		int64_t t = 0;
		c360_rc rc = c360_import_newest(dir, &path, &size, &t, err, sizeof err);
		if (rc && rc != C360_ERR_NOT_FOUND)
			C360_WARN("import:watch", "%s", err);
		if (!rc) {
			bool stable = seen && !strcmp(seen, path) && seen_size == size && seen_t == t;
			bool handled = done && !strcmp(done, path) && done_size == size && done_t == t;
			if (stable && !handled) {
				last = import_one(cmd, st, a, path, &stop_flag);
				free(done);
				done = strdup(path);
				done_size = size;
				done_t = t;
			}
			free(seen);
			seen = path;
			seen_size = size;
			seen_t = t;
			path = NULL;
		}
		free(path);
		sleep_s(a->interval);
	}
	free(seen);
	free(done);
	fprintf(stderr, "%s: stopped watching '%s'\n", cmd, dir);
	(void)last;
	return C360_EXIT_OK;
}

int c360_cmd_import(int argc, char **argv)
{
	const char *cmd = argv[0];
	struct import_args a = {
		.bucket = "staging",
		.keyexpr = "loyalty-member-%id%",
		.threads = 1,
		.interval = 10,
	};
	struct c360_opt opts[] = {
		{"newest-in", 0, C360_OPT_STR, &a.newest_in, "DIR", "import the newest *.csv file of DIR", NULL},
		{"bucket", 'b', C360_OPT_STR, &a.bucket, "NAME", "target bucket (must exist, see --create-bucket)", "staging"},
		{"generate-key", 'g', C360_OPT_STR, &a.keyexpr, "EXPR", "key expression, as cbimport's -g", "loyalty-member-%id%"},
		{"expiry", 0, C360_OPT_DURATION, &a.expiry, "DURATION", "expire every document after 90, 90m, 25h, 2d… (any length)", "never"},
		{"field-separator", 0, C360_OPT_STR, &a.fsep, "CHAR", "CSV field separator ('tab' for a tab)", ","},
		{"field-delimiter", 0, C360_OPT_STR, &a.fdelim, "CHAR", "marks field references in -g", "%"},
		{"generator-delimiter", 0, C360_OPT_STR, &a.gdelim, "CHAR", "marks generators in -g", "#"},
		{"infer-types", 0, C360_OPT_FLAG, &a.infer, NULL, "store integers, floats and booleans as JSON types", NULL},
		{"omit-empty", 0, C360_OPT_FLAG, &a.omit, NULL, "leave empty cells out of the documents", NULL},
		{"threads", 't', C360_OPT_INT, &a.threads, "N", "writer threads", "1"},
		{"errors-log", 'e', C360_OPT_STR, &a.elog, "PATH", "JSON lines describing every failed row", NULL},
		{"force", 0, C360_OPT_FLAG, &a.force, NULL, "import even if the file was imported before", NULL},
		{"create-bucket", 0, C360_OPT_FLAG, &a.create, NULL, "create the bucket when missing", NULL},
		{"interval", 0, C360_OPT_DURATION, &a.interval, "DURATION", "watch: seconds between polls of DIR", "10"},
		C360_CLI_STORE_OPT,
		{0},
	};
	struct c360_cmd_spec spec = {
		.usage = "c360 import [options] FILE | c360 import --newest-in DIR [options] | c360 import watch [options] DIR",
		.summary = "Import the loyalty system's nightly CSV into a bucket, once per file.",
		.details =
			"Each row becomes one JSON document (header row = field names) keyed by -g.\n"
			"A file is imported only if it was not imported before: imports are recorded in\n"
			"the system bucket 'c360_meta' by path, size, mtime and content hash, once the\n"
			"import is durable. Running again on the same file is a no-op and says so.\n"
			"--newest-in DIR picks the newest *.csv of DIR (by mtime). 'watch DIR' polls DIR\n"
			"and imports the newest file once it has stopped changing, until Ctrl-C/SIGTERM.\n"
			"Exit code 1 when rows failed (see -e). See docs/cbimport.md.",
		.opts = opts,
		.min_args = 0,
		.max_args = 2,
	};
	int np = c360_opts_parse(&spec, argc, argv);
	if (np == C360_OPTS_HELP)
		return C360_EXIT_OK;
	if (np < 0)
		return C360_EXIT_USAGE;
	bool is_watch = np >= 1 && !strcmp(argv[0], "watch");
	const char *target = NULL;
	if (is_watch) {
		if (np != 2 || a.newest_in) {
			fprintf(stderr, "%s: usage: c360 import watch [options] DIR\n", cmd);
			return C360_EXIT_USAGE;
		}
		target = argv[1];
	} else if (a.newest_in) {
		if (np != 0) {
			fprintf(stderr, "%s: give either FILE or --newest-in DIR\n", cmd);
			return C360_EXIT_USAGE;
		}
	} else if (np != 1) {
		fprintf(stderr, "%s: give one FILE, --newest-in DIR or 'watch DIR' (see '%s --help')\n", cmd, cmd);
		return C360_EXIT_USAGE;
	} else {
		target = argv[0];
	}
	if (a.threads < 1 || a.threads > 64) {
		fprintf(stderr, "%s: --threads wants 1 to 64\n", cmd);
		return C360_EXIT_USAGE;
	}
	if (a.interval < 1)
		a.interval = 1;

	c360_store *st = NULL;
	int ex = c360_cli_open_store(&st, NULL);
	if (ex)
		return ex;
	if (a.create) {
		c360_rc brc = c360_store_bucket_ensure(st, a.bucket, 0);
		if (brc) {
			fprintf(stderr, "%s: cannot create bucket '%s': %s\n", cmd, a.bucket, c360_rc_str(brc));
			c360_store_close(st);
			return c360_cli_exit_code(brc);
		}
	}
	if (is_watch) {
		ex = watch(cmd, st, &a, target);
	} else if (a.newest_in) {
		char *path = NULL, err[512] = "";
		c360_rc rc = c360_import_newest(a.newest_in, &path, NULL, NULL, err, sizeof err);
		if (rc == C360_ERR_NOT_FOUND && !strncmp(err, "no ", 3)) {
			printf("%s: nothing to import\n", err);
			ex = C360_EXIT_OK;
		} else if (rc) {
			fprintf(stderr, "%s: %s\n", cmd, err);
			ex = c360_cli_exit_code(rc);
		} else {
			ex = import_one(cmd, st, &a, path, NULL);
		}
		free(path);
	} else {
		ex = import_one(cmd, st, &a, target, NULL);
	}
	c360_store_close(st);
	return ex;
}
