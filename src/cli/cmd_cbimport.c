/* `c360 cbimport csv|json` (and the `cbimport` link): cbimport's command line
 * over the local store. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/import_cli.h"
#include "core/log.h"
#include "sources/csv/importer.h"
#include "core/banned.h"

int c360_cmd_cbimport(int argc, char **argv);

void c360_cli_import_progress(const struct c360_import_progress *p, void *ctx)
{
	(void)ctx;
	if (p->final) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
		return;
	}
	double mb = (double)p->bytes / 1e6;
	double rate = p->seconds > 0 ? (double)p->rows / p->seconds : 0;
	double bps = p->seconds > 0 ? (double)p->bytes / p->seconds : 0;
	char bar[32] = "";
	char tail[64] = "";
	if (p->total_bytes) {
		double frac = (double)p->bytes / (double)p->total_bytes;
		if (frac > 1)
			frac = 1;
		int w = 20, fill = (int)(frac * w);
		for (int i = 0; i < w; i++)
			bar[i] = i < fill ? '#' : '.';
		bar[w] = '\0';
		double eta = bps > 0 ? (double)(p->total_bytes - (p->bytes < p->total_bytes ? p->bytes : p->total_bytes)) / bps : 0;
		snprintf(tail, sizeof tail, " %3d%% of %.1f MB  ETA %ds", (int)(frac * 100),
			 (double)p->total_bytes / 1e6, (int)(eta + 0.5));
	}
	fprintf(stderr, "\r\033[K[%s] %" PRIu64 " rows  %.1f MB  %.0f rows/s  %.1f MB/s%s", bar, p->rows,
		mb, rate, bps / 1e6, tail);
	fflush(stderr);
}

void c360_cli_import_summary(const char *cmd, const struct c360_import_stats *s)
{
	double secs = s->seconds > 0 ? s->seconds : 1e-9;
	fprintf(stderr,
		"%s: %" PRIu64 " rows read (%" PRIu64 " skipped), %" PRIu64 " imported, %" PRIu64
		" failed, %.1f MB in %.2f s (%.0f rows/s, %.1f MB/s)\n",
		cmd, s->rows, s->skipped, s->imported, s->failed, (double)s->bytes / 1e6, s->seconds,
		(double)s->rows / secs, (double)s->bytes / 1e6 / secs);
	if (s->unbalanced)
		fprintf(stderr,
			"%s: %" PRIu64 " of the failed rows had an unbalanced quote: each failed alone and "
			"the lines after it were read again as rows (their lines are in the log and the "
			"errors log, -e); fix the quotes and import again\n",
			cmd, s->unbalanced);
	if (s->not_objects)
		fprintf(stderr,
			"%s: %" PRIu64 " of the failed documents were not JSON objects (a number, "
			"string, array, boolean or null): each document must be an object\n",
			cmd, s->not_objects);
}

const char *c360_cli_dataset_path(const char *cmd, const char *dataset)
{
	if (!strncmp(dataset, "file://", 7))
		return dataset + 7; /* file:///abs -> /abs, file://rel -> rel */
	if (strstr(dataset, "://")) {
		fprintf(stderr, "%s: dataset '%s': only file:// paths are supported\n", cmd, dataset);
		return NULL;
	}
	return dataset;
}

bool c360_cli_char_opt(const char *cmd, const char *name, const char *val, char *out)
{
	if (!val)
		return true;
	if (strlen(val) == 1) {
		*out = val[0];
		return true;
	}
	if (!strcmp(val, "\\t") || !strcmp(val, "tab")) {
		*out = '\t';
		return true;
	}
	fprintf(stderr, "%s: option '--%s' wants one character, not '%s'\n", cmd, name, val);
	return false;
}

static int run(const char *kind, int argc, char **argv)
{
	bool csv = !strcmp(kind, "csv");
	char label[32];
	snprintf(label, sizeof label, "cbimport %s", kind);
	argv[0] = label;

	const char *cluster = getenv("CB_CLUSTER"), *user = getenv("CB_USERNAME");
	const char *pass = getenv("CB_PASSWORD"), *bucket = NULL, *dataset = NULL;
	const char *keyexpr = NULL, *fdelim = NULL, *gdelim = NULL, *fsep = NULL, *elog = NULL;
	const char *logfile = NULL, *format = NULL, *cacert = NULL;
	bool infer = false, omit = false, create = false, no_ssl = false;
	int64_t skip = 0, limit = 0, threads = 1, expiry = 0;
	int verbose = 0;
	struct c360_opt common_head[] = {
		{"cluster", 'c', C360_OPT_STR, &cluster, "URL",
		 "couchbase://HOST: the host is ignored, documents go to the local store (see --store)", NULL},
		{"username", 'u', C360_OPT_STR, &user, "NAME", "accepted for compatibility, not checked", NULL},
		{"password", 'p', C360_OPT_STR, &pass, "PASS", "accepted for compatibility, not checked", NULL},
		{"bucket", 'b', C360_OPT_STR, &bucket, "NAME", "target bucket (must exist, see --create-bucket)", NULL},
		{"dataset", 'd', C360_OPT_STR, &dataset, "URI", "input: file://PATH (or a plain path, - for stdin)", NULL},
		{"generate-key", 'g', C360_OPT_STR, &keyexpr, "EXPR",
		 "key expression: text, %field%, %a.b%, %`a.b`%, #MONO_INCR#, #MONO_INCR[N]#, #UUID#, %% and ##", NULL},
		{"field-delimiter", 0, C360_OPT_STR, &fdelim, "CHAR", "marks field references in -g", "%"},
		{"generator-delimiter", 0, C360_OPT_STR, &gdelim, "CHAR", "marks generators in -g", "#"},
	};
	struct c360_opt csv_only[] = {
		{"field-separator", 0, C360_OPT_STR, &fsep, "CHAR", "CSV field separator ('tab' or \\t for a tab)", ","},
		{"infer-types", 0, C360_OPT_FLAG, &infer, NULL, "store integers, floats and booleans as JSON types", NULL},
		{"omit-empty", 0, C360_OPT_FLAG, &omit, NULL, "leave empty cells out of the documents", NULL},
		{"skip-rows", 0, C360_OPT_INT, &skip, "N", "skip the first N data rows", "0"},
		{"limit-rows", 0, C360_OPT_INT, &limit, "N", "import at most N rows (after --skip-rows)", "all"},
	};
	struct c360_opt json_only[] = {
		{"format", 'f', C360_OPT_STR, &format, "lines|list", "one document per line, or one JSON array", NULL},
		{"skip-docs", 0, C360_OPT_INT, &skip, "N", "skip the first N documents", "0"},
		{"limit-docs", 0, C360_OPT_INT, &limit, "N", "import at most N documents (after --skip-docs)", "all"},
	};
	struct c360_opt common_tail[] = {
		{"threads", 't', C360_OPT_INT, &threads, "N", "writer threads (parsing overlaps with writing)", "1"},
		{"errors-log", 'e', C360_OPT_STR, &elog, "PATH", "JSON lines describing every failed row (row, reason)", NULL},
		{"error-log", 0, C360_OPT_STR, &elog, "PATH", "the same (cbimport's synopsis spells it so)", NULL},
		{"log-file", 'l', C360_OPT_STR, &logfile, "PATH", "write the log there", NULL},
		{"verbose", 'v', C360_OPT_COUNT, &verbose, NULL, "more log (-v info, -v -v debug)", NULL},
		{"expiry", 0, C360_OPT_DURATION, &expiry, "DURATION",
		 "c360: expire every document after 90, 90m, 25h, 2d… (any length)", "never"},
		{"create-bucket", 0, C360_OPT_FLAG, &create, NULL, "c360: create the bucket when missing", NULL},
		{"no-ssl-verify", 0, C360_OPT_FLAG, &no_ssl, NULL, "accepted for compatibility (no TLS: the store is local)", NULL},
		{"cacert", 0, C360_OPT_STR, &cacert, "PATH", "accepted for compatibility (no TLS: the store is local)", NULL},
		C360_CLI_STORE_OPT,
		{0},
	};
	enum { NH = sizeof common_head / sizeof *common_head, NC = sizeof csv_only / sizeof *csv_only,
	       NJ = sizeof json_only / sizeof *json_only, NT = sizeof common_tail / sizeof *common_tail };
	struct c360_opt opts[NH + NC + NJ + NT];
	size_t n = 0;
	for (size_t i = 0; i < NH; i++)
		opts[n++] = common_head[i];
	if (csv)
		for (size_t i = 0; i < NC; i++)
			opts[n++] = csv_only[i];
	else
		for (size_t i = 0; i < NJ; i++)
			opts[n++] = json_only[i];
	for (size_t i = 0; i < NT; i++)
		opts[n++] = common_tail[i];

	struct c360_cmd_spec spec = {
		.usage = csv ? "cbimport csv -c URL -u USER -p PASS -b BUCKET -d file://PATH -g EXPR [options]"
			     : "cbimport json -c URL -u USER -p PASS -b BUCKET -d file://PATH -f lines|list -g EXPR [options]",
		.summary = csv ? "Import a CSV file (header row = field names) into a bucket, one document per row."
			       : "Import JSON documents (one per line, or one array) into a bucket.",
		.details =
			"Runs as 'c360 cbimport ...' or through the 'cbimport' link to the c360 binary.\n"
			"-c couchbase://HOST maps to the local store: the host part is ignored and the store\n"
			"is --store, else $C360_STORE, else ./c360.db. -u/-p are accepted and not checked.\n"
			"Output: 'Documents imported: N Documents failed: M'; the exit code is 1 when any\n"
			"row failed (see -e). #MONO_INCR# restarts at its start value on every run, so\n"
			"re-running the same file overwrites the same keys. See docs/cbimport.md.",
		.opts = opts,
		.min_args = 0,
		.max_args = 0,
	};
	int np = c360_opts_parse(&spec, argc, argv);
	if (np == C360_OPTS_HELP)
		return C360_EXIT_OK;
	if (np < 0)
		return C360_EXIT_USAGE;

	struct c360_import_opts io = {0};
	io.format = C360_IMPORT_CSV;
	if (!csv) {
		if (!format) {
			fprintf(stderr, "%s: -f/--format is required (lines or list)\n", label);
			return C360_EXIT_USAGE;
		}
		if (!strcmp(format, "lines"))
			io.format = C360_IMPORT_JSON_LINES;
		else if (!strcmp(format, "list"))
			io.format = C360_IMPORT_JSON_LIST;
		else if (!strcmp(format, "sample")) {
			fprintf(stderr, "%s: --format sample (Couchbase sample buckets) is not supported\n", label);
			return C360_EXIT_USAGE;
		} else {
			fprintf(stderr, "%s: unknown format '%s' (lines, list)\n", label, format);
			return C360_EXIT_USAGE;
		}
	}
	if (!bucket || !dataset || !keyexpr) {
		fprintf(stderr, "%s: %s is required (see '%s --help')\n", label,
			!bucket ? "-b/--bucket" : !dataset ? "-d/--dataset" : "-g/--generate-key", label);
		return C360_EXIT_USAGE;
	}
	if (skip < 0 || limit < 0 || threads < 1 || threads > 64) {
		fprintf(stderr, "%s: %s\n", label,
			threads < 1 || threads > 64 ? "--threads wants 1 to 64"
						   : "--skip-rows and --limit-rows want a number >= 0");
		return C360_EXIT_USAGE;
	}
	if (!c360_cli_char_opt(label, "field-delimiter", fdelim, &io.field_delim) ||
	    !c360_cli_char_opt(label, "generator-delimiter", gdelim, &io.gen_delim) ||
	    !c360_cli_char_opt(label, "field-separator", fsep, &io.separator))
		return C360_EXIT_USAGE;
	if (io.separator == '"' || io.separator == '\n' || io.separator == '\r') {
		fprintf(stderr, "%s: the field separator cannot be a quote or a line break\n", label);
		return C360_EXIT_USAGE;
	}
	const char *path = c360_cli_dataset_path(label, dataset);
	if (!path)
		return C360_EXIT_USAGE;
	if (logfile && c360_log_set_file(logfile)) {
		fprintf(stderr, "%s: cannot open log file '%s'\n", label, logfile);
		return C360_EXIT_USAGE;
	}
	if (verbose)
		c360_log_set_level(verbose > 1 ? C360_LOG_DEBUG : C360_LOG_INFO);

	c360_store *st = NULL;
	int ex = c360_cli_open_store(&st, NULL);
	if (ex)
		return ex;
	if (create) {
		c360_rc brc = c360_store_bucket_ensure(st, bucket, 0);
		if (brc) {
			fprintf(stderr, "%s: cannot create bucket '%s': %s\n", label, bucket, c360_rc_str(brc));
			c360_store_close(st);
			return c360_cli_exit_code(brc);
		}
	}
	io.path = path;
	io.bucket = bucket;
	io.key_expr = keyexpr;
	io.infer_types = infer;
	io.omit_empty = omit;
	io.skip_rows = (uint64_t)skip;
	io.limit_rows = (uint64_t)limit;
	io.threads = (int)threads;
	io.expiry = expiry;
	io.errors_log = elog;
	if (c360_cli_is_tty())
		io.progress = c360_cli_import_progress;
	if (verbose)
		C360_INFO("cbimport", "importing '%s' into bucket '%s' of store '%s' with key '%s', %d thread(s)",
		  path, bucket, c360_cli_store_path(), keyexpr, (int)threads);

	struct c360_import_stats stats;
	char err[512] = "";
	c360_rc rc = c360_import_run(st, &io, &stats, err, sizeof err);
	c360_store_close(st);
	const char *what = csv ? "CSV" : "JSON";
	const char *where = cluster ? cluster : c360_cli_store_path();
	if (rc) {
		fprintf(stderr, "%s: %s\n", label, *err ? err : c360_rc_str(rc));
		if (rc == C360_ERR_NOT_FOUND && strstr(err, "bucket"))
			fprintf(stderr, "%s: create it first ('c360 bucket create %s'), or pass --create-bucket\n",
				label, bucket);
		if (stats.rows) {
			printf("Documents imported: %" PRIu64 " Documents failed: %" PRIu64 "\n", stats.imported,
			       stats.failed);
			c360_cli_import_summary(label, &stats);
		}
		return c360_cli_exit_code(rc);
	}
	if (stats.failed)
		printf("%s `%s` import failed: %" PRIu64 " documents were imported, %" PRIu64
		       " documents failed to be imported\n",
		       what, dataset, stats.imported, stats.failed);
	else
		printf("%s `%s` imported to `%s` successfully\n", what, dataset, where);
	printf("Documents imported: %" PRIu64 " Documents failed: %" PRIu64 "\n", stats.imported, stats.failed);
	fflush(stdout);
	c360_cli_import_summary(label, &stats);
	if (stats.failed && elog)
		fprintf(stderr, "%s: the failed rows are described in '%s'\n", label, elog);
	return stats.failed ? C360_EXIT_FAILED : C360_EXIT_OK;
}

int c360_cmd_cbimport(int argc, char **argv)
{
	const char *self = argc > 0 ? argv[0] : "cbimport";
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		FILE *out = argc < 2 ? stderr : stdout;
		fprintf(out,
			"usage: cbimport csv|json [options]\n\n"
			"Import CSV or JSON files into a bucket of the local c360 store, with\n"
			"cbimport's command line. 'cbimport csv --help' and 'cbimport json --help'\n"
			"list the options.\n");
		return argc < 2 ? C360_EXIT_USAGE : C360_EXIT_OK;
	}
	if (strcmp(argv[1], "csv") && strcmp(argv[1], "json")) {
		fprintf(stderr, "%s: unknown format '%s' (csv, json)\n", self, argv[1]);
		return C360_EXIT_USAGE;
	}
	return run(argv[1], argc - 1, argv + 1);
}
