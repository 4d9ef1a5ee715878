/* `c360 integrate`: check a native Customer 360 mapping, or run it over the
 * staging feed into customer360 in the foreground (batched, the fast path). */
#include <inttypes.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/log.h"
#include "integrate/integrate.h"
#include "core/banned.h"

static volatile int stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static bool r_idle, r_from_start, r_no_online, r_quiet;
static const char *r_name = "customer360", *r_cursor;
static int64_t r_batch = 2048;
static int64_t r_zlevel = -1;
static int64_t r_cache_mb = 64;
static int64_t r_page_cache_mb = 64;

static const struct c360_opt run_opts[] = {
	C360_CLI_STORE_OPT,
	{"exit-when-idle", 0, C360_OPT_FLAG, &r_idle, NULL,
	 "stop once every staging change so far is merged", NULL},
	{"name", 0, C360_OPT_STR, &r_name, "NAME", "name for logs and the feed cursor",
	 "customer360"},
	{"cursor", 0, C360_OPT_STR, &r_cursor, "NAME", "feed cursor name", "integrate::NAME"},
	{"from-start", 0, C360_OPT_FLAG, &r_from_start, NULL,
	 "read the staging feed from the beginning (replays are idempotent)", NULL},
	{"batch", 'b', C360_OPT_INT, &r_batch, "N", "staging changes per transaction", "2048"},
	{"no-online", 0, C360_OPT_FLAG, &r_no_online, NULL, "never call the online store", NULL},
	{"compress", 0, C360_OPT_INT, &r_zlevel, "LEVEL",
	 "zstd level of the documents this run writes (0 = off: less CPU, more disk)",
	 "the store's (1)"},
	{"cache-mb", 0, C360_OPT_INT, &r_cache_mb, "MB",
	 "memory for metadata documents kept between batches (bounded, whatever the number of "
	 "customers)",
	 "64"},
	{"page-cache-mb", 0, C360_OPT_INT, &r_page_cache_mb, "MB",
	 "SQLite page cache of the writer (updates rewrite customers all over the file)",
	 "64"},
	{"quiet", 'q', C360_OPT_FLAG, &r_quiet, NULL, "no progress and no summary", NULL},
	{NULL, 0, 0, NULL, NULL, NULL, NULL},
};

static const struct c360_cmd_spec run_spec = {
	.usage = "c360 integrate run [options] FILE.yaml",
	.summary = "merge the staging feed into customer360 with a native mapping, in the foreground",
	.details =
		"Follows the mapping's source bucket (staging) from its cursor and writes one\n"
		"customer document per person into the target bucket (customer360), in\n"
		"batches of --batch changes per transaction. Stop with Ctrl-C: the cursor is\n"
		"kept, and the next run goes on from there. The online store's base URL is\n"
		"the mapping's, or $C360_ONLINE_STORE_URL. Secrets are hashed with\n"
		"$C360_SECRET_KEY (or the mapping's key_env), else with a key generated once\n"
		"and kept in the metadata bucket. One engine at a time writes a target and\n"
		"metadata bucket: while another process (or a native function) integrates\n"
		"into either, this one refuses to start. See docs/integration.md.\n"
		"Exit: 0 ok, 1 some records failed, 4 another engine integrates into the\n"
		"same buckets, 5 bad mapping, 6 store error.",
	.opts = run_opts,
	.min_args = 1,
	.max_args = 1,
};

static const struct c360_opt check_opts[] = {
	{NULL, 0, 0, NULL, NULL, NULL, NULL},
};

static const struct c360_cmd_spec check_spec = {
	.usage = "c360 integrate check FILE.yaml",
	.summary = "check a native mapping file; errors name file:line:column",
	.opts = check_opts,
	.min_args = 1,
	.max_args = 1,
};

static void progress(const struct c360_integrate_progress *p, const struct c360_integrate_stats *s,
		     void *ctx)
{
	(void)ctx;
	if (p->final) {
		if (c360_cli_is_tty())
			fprintf(stderr, "\r\033[K");
		return;
	}
	if (!c360_cli_is_tty())
		return;
	double rate = p->seconds > 0 ? (double)s->processed / p->seconds : 0;
	fprintf(stderr, "\r\033[Kintegrate: seq %" PRIu64 "/%" PRIu64 "  %" PRIu64
			" changes  %" PRIu64 " customers written  %.0f/s",
		p->seqno, p->high, s->processed, s->customers_written, rate);
}

static int cmd_check(int argc, char **argv)
{
	int n = c360_opts_parse(&check_spec, argc, argv);
	if (n == C360_OPTS_HELP)
		return C360_EXIT_OK;
	if (n < 0)
		return C360_EXIT_USAGE;
	char err[1024] = "";
	c360_imap *m;
	c360_rc rc = c360_imap_load_file(argv[0], &m, err, sizeof err);
	if (rc) {
		fprintf(stderr, "%s\n", err);
		return rc == C360_ERR_INVALID ? C360_EXIT_INVALID : c360_cli_exit_code(rc);
	}
	printf("%s: ok (%zu sources; source %s, target %s, metadata %s; secrets %s)\n", argv[0],
	       c360_imap_source_count(m), c360_imap_source_bucket(m), c360_imap_target_bucket(m),
	       c360_imap_metadata_bucket(m),
	       c360_imap_secrets_mode(m) == C360_SECRETS_HASH   ? "hash"
	       : c360_imap_secrets_mode(m) == C360_SECRETS_DROP ? "drop"
								 : "plain (unsafe)");
	c360_imap_free(m);
	return C360_EXIT_OK;
}

static int cmd_run(int argc, char **argv)
{
	int n = c360_opts_parse(&run_spec, argc, argv);
	if (n == C360_OPTS_HELP)
		return C360_EXIT_OK;
	if (n < 0)
		return C360_EXIT_USAGE;
	if (r_batch < 1 || r_batch > 100000) {
		fprintf(stderr, "c360 integrate run: --batch must be 1..100000\n");
		return C360_EXIT_USAGE;
	}
	if (r_cache_mb < 1 || r_cache_mb > 65536) {
		fprintf(stderr, "c360 integrate run: --cache-mb must be 1..65536\n");
		return C360_EXIT_USAGE;
	}
	if (r_page_cache_mb < 1 || r_page_cache_mb > 65536) {
		fprintf(stderr, "c360 integrate run: --page-cache-mb must be 1..65536\n");
		return C360_EXIT_USAGE;
	}
	char err[1024] = "";
	c360_imap *m = NULL;
	c360_store *st = NULL;
	c360_integrate *ig = NULL;
	int ex = C360_EXIT_OK;
	c360_rc rc = c360_imap_load_file(argv[0], &m, err, sizeof err);
	if (rc) {
		fprintf(stderr, "%s\n", err);
		return rc == C360_ERR_INVALID ? C360_EXIT_INVALID : c360_cli_exit_code(rc);
	}
	struct c360_store_opts so;
	c360_store_opts_init(&so);
	so.page_cache_mb = (int)r_page_cache_mb;
	if ((ex = c360_cli_open_store(&st, &so)))
		goto out;
	if (r_zlevel >= 0)
		c360_store_set_compression(st, (int)(r_zlevel > 19 ? 19 : r_zlevel));
	if (c360_imap_secrets_mode(m) == C360_SECRETS_PLAIN)
		C360_WARN("integrate", "'%s' stores source-system secrets in plain text (secrets: "
				       "plain): unsafe", argv[0]);
	struct c360_integrate_opts io = {
		.name = r_name, .batch_max = (size_t)r_batch, .no_online = r_no_online,
		.cache_bytes = (size_t)r_cache_mb << 20};
	if ((rc = c360_integrate_new(st, m, &io, &ig, err, sizeof err))) {
		fprintf(stderr, "c360 integrate run: %s\n", err);
		/* another engine on the same buckets: a conflict, as documented */
		ex = rc == C360_ERR_BUSY ? C360_EXIT_CONFLICT : c360_cli_exit_code(rc);
		goto out;
	}
	/* batches allocate and free the same amount of memory over and over:
	 * keep it instead of returning it to the kernel and faulting it back */
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	struct c360_integrate_follow_opts fo = {
		.cursor = r_cursor,
		.from_start = r_from_start,
		.exit_when_idle = r_idle,
		.stop = &stop_flag,
		.progress = r_quiet ? NULL : progress,
	};
	rc = c360_integrate_follow(ig, &fo, err, sizeof err);
	if (rc) {
		fprintf(stderr, "c360 integrate run: %s\n", err);
		ex = C360_EXIT_STORE;
	}
	struct c360_integrate_stats s;
	c360_integrate_get_stats(ig, &s);
	if (!r_quiet)
		fprintf(stderr,
		        "integrate: %" PRIu64 " changes: %" PRIu64 " merged, %" PRIu64
		        " deletes, %" PRIu64 " stale, %" PRIu64 " expirations (kept), %" PRIu64
		        " ignored, %" PRIu64 " without identity, %" PRIu64
		        " without timestamp, %" PRIu64 " failed; %" PRIu64
		        " customers written, %" PRIu64 " deleted; online store: %" PRIu64
		        " fetches, %" PRIu64 " failed, %" PRIu64
		        " orders; CPU seconds: reading %.2f,"
		        " merging %.2f, committing %.2f\n",
		        s.processed, s.upserts, s.deletes, s.stale, s.expirations, s.ignored,
		        s.no_identity, s.no_timestamp, s.failures, s.customers_written,
		        s.customers_deleted, s.online_fetches, s.online_failures, s.orders_written,
		        s.cpu_us_read / 1e6, s.cpu_us_merge / 1e6, s.cpu_us_write / 1e6);
	if (!ex && s.failures)
		ex = C360_EXIT_FAILED;
out:
	c360_integrate_free(ig);
	c360_store_close(st);
	c360_imap_free(m);
	return ex;
}

int c360_cmd_integrate(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		FILE *out = argc < 2 ? stderr : stdout;
		fprintf(out, "usage: c360 integrate run|check [options] FILE.yaml\n\n"
			     "  run    %s\n  check  %s\n\n"
			     "'c360 integrate SUBCOMMAND --help' describes each. See "
			     "docs/integration.md.\n",
			run_spec.summary, check_spec.summary);
		return argc < 2 ? C360_EXIT_USAGE : C360_EXIT_OK;
	}
	char label[64];
	if (!strcmp(argv[1], "run")) {
		snprintf(label, sizeof label, "c360 integrate run");
		argv[1] = label;
		return cmd_run(argc - 1, argv + 1);
	}
	if (!strcmp(argv[1], "check")) {
		snprintf(label, sizeof label, "c360 integrate check");
		argv[1] = label;
		return cmd_check(argc - 1, argv + 1);
	}
	fprintf(stderr, "c360 integrate: unknown subcommand '%s' (run, check)\n", argv[1]);
	return C360_EXIT_USAGE;
}
