/* c360 function: deploy, run and watch eventing functions (Couchbase
 * Eventing-style JavaScript, or the native integration kind). */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/json.h"
#include "eventing/eventing.h"
#include "integrate/integrate.h"
#include "core/banned.h"

int c360_cmd_function(int argc, char **argv);

static volatile int stop_flag;
static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static int fail(c360_rc rc, const char *err)
{
	fprintf(stderr, "c360 function: %s\n", err && *err ? err : c360_rc_str(rc));
	return c360_cli_exit_code(rc);
}

/* ---- deploy ---- */

static const char *d_code, *d_source, *d_meta, *d_native, *d_name;
static struct c360_opt_list d_bindings, d_settings;
static const struct c360_opt deploy_opts[] = {
	C360_CLI_STORE_OPT,
	{"code", 0, C360_OPT_STR, &d_code, "FILE.js", "the handler's JavaScript (with NAME instead of FILE.json)", NULL},
	{"native", 0, C360_OPT_STR, &d_native, "FILE.yaml", "deploy the native integration kind from this mapping", NULL},
	{"source", 0, C360_OPT_STR, &d_source, "BUCKET", "source bucket whose changes run the function", NULL},
	{"metadata", 0, C360_OPT_STR, &d_meta, "BUCKET", "metadata bucket for checkpoints", NULL},
	{"name", 0, C360_OPT_STR, &d_name, "NAME", "override the function name of FILE.json", NULL},
	{"binding", 'b', C360_OPT_LIST, &d_bindings, "SPEC",
	 "bucket:ALIAS=BUCKET[:r|:rw], url:ALIAS=URL[;basic=U:P|;bearer=T][;insecure], constant:ALIAS=VALUE", NULL},
	{"setting", 's', C360_OPT_LIST, &d_settings, "NAME=VALUE",
	 "dcp_stream_boundary, worker_count, execution_timeout, heap_limit_mb, checkpoint_interval, log_level, "
	 "self_recursion", NULL},
	{NULL, 0, 0, NULL, NULL, NULL, NULL},
};
static const struct c360_cmd_spec deploy_spec = {
	"c360 function deploy [options] (FILE.json | NAME --code FILE.js --source B --metadata B |\n"
	"       NAME --native FILE.yaml)",
	"deploy a function so that running c360 processes (and `function run`) process its feed",
	"FILE.json is Couchbase's exported function definition (appname, appcode, depcfg,\n"
	"settings), accepted unchanged; --binding and --setting then add to or override it.\n"
	"With --native FILE.yaml the function is of the native integration kind; its source\n"
	"and metadata buckets are the mapping's unless --source / --metadata are given.\n"
	"Example:\n"
	"  c360 function deploy functions/customer360.json\n"	"  c360 function deploy customer360 --native functions/customer360.yaml\n"
	"  c360 function deploy ingest --code f.js --source staging --metadata meta \\\n"
	"      -b bucket:cust=customer360:rw -b url:onlineStore=http://127.0.0.1:8080 -s worker_count=4",
	deploy_opts, 1, 1,
};

static int cmd_deploy(int argc, char **argv)
{
	int n = c360_opts_parse(&deploy_spec, argc, argv);
	if (n == C360_OPTS_HELP)
		return 0;
	if (n < 0)
		return C360_EXIT_USAGE;
	struct c360_fn_def def;
	char err[1024] = "";
	char *text = NULL;
	size_t len = 0;
	c360_rc rc;
	c360_store *st = NULL;
	const char *arg = argv[0];
	size_t al = strlen(arg);
	c360_fn_def_init(&def);
	if (al > 5 && !strcmp(arg + al - 5, ".json")) {
		if ((rc = c360_cli_read_file(arg, 16u << 20, &text, &len)))
			return c360_cli_exit_code(rc);
		rc = c360_fn_def_parse(text, len, &def, err, sizeof err);
		free(text);
		text = NULL;
		if (rc) {
			fprintf(stderr, "c360 function: %s: %s\n", arg, err);
			return c360_cli_exit_code(rc);
		}
		if (d_name)
			snprintf(def.name, sizeof def.name, "%s", d_name);
	} else {
		snprintf(def.name, sizeof def.name, "%s", arg);
		if (!d_code && !d_native) {
			fprintf(stderr, "c360 function: deploy NAME needs --code FILE.js or --native FILE.yaml\n");
			return C360_EXIT_USAGE;
		}
	}
	const char *codefile = d_native ? d_native : d_code;
	if (codefile) {
		if ((rc = c360_cli_read_file(codefile, C360_FN_CODE_MAX, &text, &len))) {
			c360_fn_def_release(&def);
			return c360_cli_exit_code(rc);
		}
		free(def.code);
		def.code = text;
		def.code_len = len;
	}
	if (d_native) {
		/* the mapping names its buckets (source_bucket, metadata_bucket),
		 * as `c360 run` reads them; --source / --metadata override. A bad
		 * mapping is refused here, with its position, not at run time. */
		c360_imap *m = NULL;
		if ((rc = c360_imap_load(d_native, def.code, def.code_len, &m, err, sizeof err)))
			goto out;
		snprintf(def.kind, sizeof def.kind, "native");
		snprintf(def.source_bucket, sizeof def.source_bucket, "%s", c360_imap_source_bucket(m));
		snprintf(def.metadata_bucket, sizeof def.metadata_bucket, "%s",
			 c360_imap_metadata_bucket(m));
		c360_imap_free(m);
	}
	if (d_source)
		snprintf(def.source_bucket, sizeof def.source_bucket, "%s", d_source);
	if (d_meta)
		snprintf(def.metadata_bucket, sizeof def.metadata_bucket, "%s", d_meta);
	for (int i = 0; i < d_bindings.n; i++)
		if ((rc = c360_fn_def_add_binding(&def, d_bindings.items[i], err, sizeof err)))
			goto out;
	for (int i = 0; i < d_settings.n; i++) {
		char nm[64];
		const char *eq = strchr(d_settings.items[i], '=');
		if (!eq || (size_t)(eq - d_settings.items[i]) >= sizeof nm) {
			snprintf(err, sizeof err, "--setting '%s': expected NAME=VALUE", d_settings.items[i]);
			rc = C360_ERR_INVALID;
			goto out;
		}
		memcpy(nm, d_settings.items[i], (size_t)(eq - d_settings.items[i]));
		nm[eq - d_settings.items[i]] = 0;
		if ((rc = c360_fn_def_set(&def, nm, eq + 1, err, sizeof err)))
			goto out;
	}
	int ec = c360_cli_open_store(&st, NULL);
	if (ec) {
		c360_fn_def_release(&def);
		return ec;
	}
	rc = c360_fn_deploy(st, &def, err, sizeof err);
	if (!rc)
		printf("deployed function '%s' (%s) on '%s', %d worker(s), feed boundary %s\n", def.name, def.kind,
		       def.source_bucket, def.worker_count,
		       def.boundary == C360_FN_FROM_NOW ? "from_now" : "everything");
out:
	c360_store_close(st);
	c360_fn_def_release(&def);
	return rc ? fail(rc, err) : 0;
}

/* ---- state changes: undeploy, pause, resume, delete ---- */

static const struct c360_opt name_opts[] = {
	C360_CLI_STORE_OPT,
	{NULL, 0, 0, NULL, NULL, NULL, NULL},
};

static int cmd_state(int argc, char **argv, const char *verb)
{
	struct c360_cmd_spec spec = {NULL, NULL, NULL, name_opts, 1, 1};
	char usage[128], summary[160];
	snprintf(usage, sizeof usage, "c360 function %s [--store PATH] NAME", verb);
	snprintf(summary, sizeof summary, "%s a function%s", verb,
		 !strcmp(verb, "pause") ? " (it checkpoints and stops processing; resume continues from there)"
		 : !strcmp(verb, "undeploy") ? " (it stops; its checkpoint is dropped, a new deploy starts over)"
		 : !strcmp(verb, "delete") ? " (an undeployed function's definition is removed)" : "");
	spec.usage = usage;
	spec.summary = summary;
	int n = c360_opts_parse(&spec, argc, argv);
	if (n == C360_OPTS_HELP)
		return 0;
	if (n < 0)
		return C360_EXIT_USAGE;
	c360_store *st;
	char err[512] = "";
	int ec = c360_cli_open_store(&st, NULL);
	if (ec)
		return ec;
	c360_rc rc;
	if (!strcmp(verb, "delete"))
		rc = c360_fn_delete(st, argv[0], err, sizeof err);
	else
		rc = c360_fn_set_state(st, argv[0],
				       !strcmp(verb, "pause") ? C360_FN_PAUSED
				       : !strcmp(verb, "resume") ? C360_FN_DEPLOYED
								  : C360_FN_UNDEPLOYED,
				       err, sizeof err);
	c360_store_close(st);
	if (rc)
		return fail(rc, err);
	printf("function '%s': %s\n", argv[0],
	       !strcmp(verb, "pause") ? "paused" : !strcmp(verb, "resume") ? "resumed"
	       : !strcmp(verb, "delete") ? "deleted" : "undeployed");
	return 0;
}

/* ---- list, status ---- */

static bool l_json;
static const struct c360_opt list_opts[] = {
	C360_CLI_STORE_OPT,
	{"json", 0, C360_OPT_FLAG, &l_json, NULL, "print JSON", NULL},
	{NULL, 0, 0, NULL, NULL, NULL, NULL},
};

static void print_status_line(const c360_json *s)
{
	const c360_json *x = c360_json_get(s, "stats");
	int64_t processed = 0, failures = 0, timeouts = 0, backlog = 0;
	double lag = 0;
	c360_json_int64(c360_json_get(x, "num_processed_events"), &processed);
	c360_json_int64(c360_json_get(x, "failures"), &failures);
	c360_json_int64(c360_json_get(x, "timeout_count"), &timeouts);
	c360_json_int64(c360_json_get(s, "backlog"), &backlog);
	c360_json_double(c360_json_get(s, "lag_seconds"), &lag);
	printf("%-24s %-10s %-6s %-14s %10lld %9lld %9lld %9lld %8.1f\n",
	       c360_json_str(c360_json_get(s, "name"), NULL), c360_json_str(c360_json_get(s, "state"), NULL),
	       c360_json_str(c360_json_get(s, "kind"), NULL), c360_json_str(c360_json_get(s, "source_bucket"), NULL),
	       (long long)processed, (long long)failures, (long long)timeouts, (long long)backlog, lag);
}

static int cmd_list_status(int argc, char **argv, bool status)
{
	struct c360_cmd_spec spec = {
		status ? "c360 function status [--json] [NAME]" : "c360 function list [--json]",
		status ? "state, processed, failures, timeouts, backlog and lag of functions"
		       : "list deployed and undeployed functions",
		status ? "backlog = feed changes after the last processed seqno (deduplicated changes\n"
			 "may make it an upper bound); lag = seconds since progress was last recorded\n"
			 "while a backlog exists." : NULL,
		list_opts, 0, status ? 1 : 0,
	};
	int n = c360_opts_parse(&spec, argc, argv);
	if (n == C360_OPTS_HELP)
		return 0;
	if (n < 0)
		return C360_EXIT_USAGE;
	c360_store *st;
	int ec = c360_cli_open_store(&st, NULL);
	if (ec)
		return ec;
	struct c360_buf names, out;
	c360_json_doc *doc = NULL;
	c360_buf_init(&names, 0);
	c360_buf_init(&out, 0);
	c360_rc rc;
	if (n == 1) {
		rc = c360_buf_printf(&names, "[");
		rc |= c360_json_write_string(argv[0], strlen(argv[0]), &names);
		rc |= c360_buf_putc(&names, ']');
	} else {
		rc = c360_fn_list(st, &names);
	}
	if (!rc)
		rc = c360_json_parse(names.data, names.len, NULL, &doc, NULL);
	if (rc)
		goto out;
	c360_buf_putc(&out, '[');
	int count = 0;
	for (c360_json *e = c360_json_first(c360_json_doc_root(doc)); e; e = c360_json_next(e)) {
		const char *name = c360_json_str(e, NULL);
		if (count++)
			c360_buf_putc(&out, ',');
		rc = c360_fn_status(st, name, &out);
		if (rc == C360_ERR_NOT_FOUND) {
			fprintf(stderr, "c360 function: no function '%s'\n", name);
			goto out;
		}
		if (rc)
			goto out;
	}
	c360_buf_putc(&out, ']');
	if (l_json) {
		printf("%s\n", c360_buf_cstr(&out));
	} else {
		c360_json_doc *sd = NULL;
		if (!c360_json_parse(out.data, out.len, NULL, &sd, NULL)) {
			printf("%-24s %-10s %-6s %-14s %10s %9s %9s %9s %8s\n", "NAME", "STATE", "KIND", "SOURCE",
			       "PROCESSED", "FAILURES", "TIMEOUTS", "BACKLOG", "LAG(s)");
			for (c360_json *s = c360_json_first(c360_json_doc_root(sd)); s; s = c360_json_next(s))
				print_status_line(s);
			if (!count)
				printf("(no functions)\n");
		}
		c360_json_doc_free(sd);
	}
out:
	c360_json_doc_free(doc);
	c360_buf_release(&names);
	c360_buf_release(&out);
	c360_store_close(st);
	if (rc && rc != C360_ERR_NOT_FOUND)
		fprintf(stderr, "c360 function: %s\n", c360_rc_str(rc));
	return c360_cli_exit_code(rc);
}

/* ---- log ---- */

static int64_t g_lines = 50;
static const struct c360_opt log_opts[] = {
	C360_CLI_STORE_OPT,
	{"lines", 'n', C360_OPT_INT, &g_lines, "N", "print the last N lines (0 = all)", "50"},
	{NULL, 0, 0, NULL, NULL, NULL, NULL},
};
static const struct c360_cmd_spec log_spec = {
	"c360 function log [--lines N] NAME",
	"print a function's application log (log() calls, exceptions, timeouts)",
	"The log is the file STORE.applog/NAME.log (rotated at 40 MB).",
	log_opts, 1, 1,
};

static int cmd_log(int argc, char **argv)
{
	int n = c360_opts_parse(&log_spec, argc, argv);
	if (n == C360_OPTS_HELP)
		return 0;
	if (n < 0)
		return C360_EXIT_USAGE;
	c360_store *st;
	int ec = c360_cli_open_store(&st, NULL);
	if (ec)
		return ec;
	char path[4096];
	struct c360_fn_def def;
	enum c360_fn_state s;
	c360_rc rc = c360_fn_load(st, argv[0], &def, &s, NULL);
	c360_fn_def_release(&def);
	if (!rc)
		rc = c360_fn_app_log_path(st, argv[0], path, sizeof path);
	c360_store_close(st);
	if (rc == C360_ERR_NOT_FOUND) {
		fprintf(stderr, "c360 function: no function '%s'\n", argv[0]);
		return C360_EXIT_NOT_FOUND;
	}
	if (rc)
		return fail(rc, NULL);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0; /* nothing logged yet */
	/* keep the last N lines in a ring of offsets */
	int64_t keep = g_lines > 0 ? g_lines : 0;
	long *offs = keep ? calloc((size_t)keep, sizeof *offs) : NULL;
	int64_t nl = 0;
	char line[8192];
	long pos = 0;
	if (keep && !offs) {
		fclose(f);
		return C360_EXIT_FAILED;
	}
	while (keep && fgets(line, sizeof line, f)) {
		size_t l = strlen(line);
		if (l && line[l - 1] == '\n') {
			offs[nl % keep] = pos;
			nl++;
		}
		pos = ftell(f);
	}
	if (keep)
		fseek(f, nl > keep ? offs[nl % keep] : 0, SEEK_SET);
	else
		fseek(f, 0, SEEK_SET);
	size_t r;
	while ((r = fread(line, 1, sizeof line, f)) > 0)
		fwrite(line, 1, r, stdout);
	free(offs);
	fclose(f);
	return 0;
}

/* ---- run ---- */

static bool r_idle, r_all;
static const struct c360_opt run_opts[] = {
	C360_CLI_STORE_OPT,
	{"exit-when-idle", 0, C360_OPT_FLAG, &r_idle, NULL, "return once the feed is caught up", NULL},
	{"all", 0, C360_OPT_FLAG, &r_all, NULL,
	 "run every deployed function, and those deployed later, until interrupted", NULL},
	{NULL, 0, 0, NULL, NULL, NULL, NULL},
};
static const struct c360_cmd_spec run_spec = {
	"c360 function run [--exit-when-idle] NAME | --all",
	"process a deployed function's feed in the foreground",
	"Runs until interrupted (Ctrl-C / SIGTERM write a checkpoint first), or with\n"
	"--exit-when-idle until the feed is caught up. Exit 1 if any handler call failed\n"
	"or timed out during this run. --all does what a long-running c360 process does:\n"
	"runs every deployed function and picks up deploy/pause/resume/undeploy.",
	run_opts, 0, 1,
};

static int run_all(void)
{
	c360_store *st;
	c360_eventing *ev = NULL;
	int ec = c360_cli_open_store(&st, NULL);
	if (ec)
		return ec;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	c360_rc rc = c360_eventing_start(st, &ev);
	if (rc) {
		c360_store_close(st);
		return fail(rc, "cannot start the eventing runtime");
	}
	fprintf(stderr, "running every deployed function of '%s' (Ctrl-C to stop)\n", c360_cli_store_path());
	while (!stop_flag) {
		struct timespec ts = {0, 100 * 1000000};
		nanosleep(&ts, NULL);
	}
	c360_eventing_stop(ev);
	c360_store_close(st);
	fprintf(stderr, "stopped (checkpoints written)\n");
	return 0;
}

/* Progress line on a terminal while `run` works (stderr, once a second). */
struct progress {
	c360_fn_run *r;
	volatile int done;
};

static void *progress_main(void *arg)
{
	struct progress *p = arg;
	while (!p->done) {
		for (int i = 0; i < 10 && !p->done; i++) {
			struct timespec ts = {0, 100 * 1000000};
			nanosleep(&ts, NULL);
		}
		if (p->done)
			break;
		struct c360_fn_stats s;
		c360_fn_run_stats(p->r, &s);
		fprintf(stderr, "\r%llu processed, %llu failed, seqno %llu   ", (unsigned long long)s.processed,
			(unsigned long long)s.failures, (unsigned long long)s.seqno);
	}
	return NULL;
}

static int cmd_run(int argc, char **argv)
{
	int n = c360_opts_parse(&run_spec, argc, argv);
	if (n == C360_OPTS_HELP)
		return 0;
	if (n < 0)
		return C360_EXIT_USAGE;
	if (r_all && n == 0 && !r_idle)
		return run_all();
	if (r_all || n != 1) {
		fprintf(stderr, "c360 function: run takes one NAME, or --all (without --exit-when-idle)\n");
		return C360_EXIT_USAGE;
	}
	struct c360_store_opts so;
	c360_store_opts_init(&so);
	c360_store *st;
	int ec = c360_cli_open_store(&st, &so);
	if (ec)
		return ec;
	struct c360_fn_def def;
	enum c360_fn_state state;
	uint64_t boundary;
	char err[1024] = "";
	c360_fn_run *r = NULL;
	struct c360_fn_stats before = {0}, after = {0};
	c360_rc rc = c360_fn_load(st, argv[0], &def, &state, &boundary);
	if (rc) {
		snprintf(err, sizeof err, rc == C360_ERR_NOT_FOUND ? "no function '%s'" : "cannot read function '%s'",
			 argv[0]);
		goto out;
	}
	if (state != C360_FN_DEPLOYED) {
		snprintf(err, sizeof err, "function '%s' is %s", argv[0], c360_fn_state_str(state));
		rc = C360_ERR_STATE;
		goto out;
	}
	rc = c360_fn_run_new(st, &def, boundary, &r, err, sizeof err);
	if (rc)
		goto out;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	c360_fn_run_stats(r, &before);
	struct progress prog = {r, 0};
	pthread_t pth;
	bool pstarted = c360_cli_is_tty() && !pthread_create(&pth, NULL, progress_main, &prog);
	rc = c360_fn_run_loop(r, &stop_flag, r_idle);
	if (pstarted) {
		prog.done = 1;
		pthread_join(pth, NULL);
		fputc('\n', stderr);
	}
	c360_fn_run_stats(r, &after);
	fprintf(stderr,
		"function '%s': processed %llu change(s) (%llu failed, %llu timed out, %llu own writes suppressed), "
		"now at seqno %llu; handler p50 %llu us, p99 %llu us\n",
		def.name, (unsigned long long)(after.processed - before.processed),
		(unsigned long long)(after.failures - before.failures),
		(unsigned long long)(after.timeouts - before.timeouts),
		(unsigned long long)(after.suppressed - before.suppressed), (unsigned long long)after.seqno,
		(unsigned long long)after.p50_us, (unsigned long long)after.p99_us);
	if (!rc && after.failures != before.failures)
		ec = C360_EXIT_FAILED;
out:
	c360_fn_run_free(r);
	c360_fn_def_release(&def);
	c360_store_close(st);
	if (rc)
		return fail(rc, err);
	return ec;
}

/* ---- export ---- */

static int cmd_export(int argc, char **argv)
{
	struct c360_cmd_spec spec = {"c360 function export NAME",
				     "print a function's definition as Couchbase's exported function JSON", NULL,
				     name_opts, 1, 1};
	int n = c360_opts_parse(&spec, argc, argv);
	if (n == C360_OPTS_HELP)
		return 0;
	if (n < 0)
		return C360_EXIT_USAGE;
	c360_store *st;
	int ec = c360_cli_open_store(&st, NULL);
	if (ec)
		return ec;
	struct c360_fn_def def;
	struct c360_buf b;
	c360_buf_init(&b, 0);
	c360_rc rc = c360_fn_load(st, argv[0], &def, NULL, NULL);
	if (!rc)
		rc = c360_fn_def_write(&def, &b);
	if (!rc)
		printf("%s\n", c360_buf_cstr(&b));
	c360_buf_release(&b);
	c360_fn_def_release(&def);
	c360_store_close(st);
	if (rc == C360_ERR_NOT_FOUND)
		fprintf(stderr, "c360 function: no function '%s'\n", argv[0]);
	else if (rc)
		fprintf(stderr, "c360 function: %s\n", c360_rc_str(rc));
	return c360_cli_exit_code(rc);
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: c360 function COMMAND [options] ...\n"
		"\nCouchbase Eventing-style functions on a bucket's change feed.\n"
		"\ncommands:\n"
		"  deploy     deploy a function (Couchbase export JSON, or NAME --code FILE.js)\n"
		"  undeploy   stop a function and drop its checkpoint\n"
		"  pause      checkpoint and stop processing\n"
		"  resume     continue a paused function from its checkpoint\n"
		"  delete     remove an undeployed function\n"
		"  list       list functions with their state\n"
		"  status     processed, failures, timeouts, backlog and lag\n"
		"  log        print a function's application log\n"
		"  run        process a function's feed in the foreground\n"
		"  export     print a function as Couchbase's exported JSON\n"
		"\n'c360 function COMMAND --help' describes a command.\n");
}

static int cmd_undeploy(int argc, char **argv)
{
	return cmd_state(argc, argv, "undeploy");
}

static int cmd_pause(int argc, char **argv)
{
	return cmd_state(argc, argv, "pause");
}

static int cmd_resume(int argc, char **argv)
{
	return cmd_state(argc, argv, "resume");
}

static int cmd_delete(int argc, char **argv)
{
	return cmd_state(argc, argv, "delete");
}

static int cmd_list(int argc, char **argv)
{
	return cmd_list_status(argc, argv, false);
}

static int cmd_status(int argc, char **argv)
{
	return cmd_list_status(argc, argv, true);
}

int c360_cmd_function(int argc, char **argv)
{
	static const struct c360_subcommand subs[] = {
		{"deploy", cmd_deploy}, {"undeploy", cmd_undeploy}, {"pause", cmd_pause},
		{"resume", cmd_resume}, {"delete", cmd_delete},	    {"list", cmd_list},
		{"status", cmd_status}, {"log", cmd_log},	    {"run", cmd_run},
		{"export", cmd_export}, {NULL, NULL},
	};
	return c360_cli_dispatch("function", subs, usage, argc, argv);
}
