/* c360 run PIPELINE.yaml: the whole pipeline in one process. One place owns
 * the start-up order (store → buckets → functions → sources → serve) and
 * shutdown in reverse (STYLE.md). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/json.h"
#include "core/log.h"
#include "core/metrics.h"
#include "eventing/eventing.h"
#include "pipeline/config.h"
#include "pipeline/run.h"
#include "serve/api.h"
#include "serve/http.h"
#include "sources/kafka/connect_api.h"
#include "sources/source.h"
#include "core/banned.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static bool check_only, once;

static const struct c360_opt run_opts[] = {
	C360_CLI_STORE_OPT,
	{"check", 0, C360_OPT_FLAG, &check_only, NULL, "check the pipeline file and exit", NULL},
	{"once", 0, C360_OPT_FLAG, &once, NULL,
	 "run every source once and every function until it is caught up, then exit", NULL},
	{0},
};

static const struct c360_cmd_spec run_spec = {
	.usage = "c360 run [options] PIPELINE.yaml",
	.summary = "Run a pipeline: the store, its buckets, the sources (Kafka sinks, a CSV drop\n"
		   "folder on a schedule, the online-store poller), the functions and the HTTP\n"
		   "server (API, dashboard, /metrics, /health) in one process until SIGTERM/SIGINT.",
	.details = "The file format is in docs/run.md. A mistake in it is reported as\n"
		   "FILE:LINE:COLUMN: what was expected, and nothing starts (exit 2).\n"
		   "On SIGTERM or SIGINT: the server stops, sources drain and commit their\n"
		   "offsets, functions write their checkpoints, then exit 0 (1 if a source\n"
		   "could not commit what it wrote: it says how many records will be read again).",
	.opts = run_opts,
	.min_args = 1,
	.max_args = 1,
};

/* ---- the HTTP side ---- */

static void metrics_handler(const struct c360_http_req *req, struct c360_http_resp *resp,
			    void *ctx)
{
	(void)req;
	resp->content_type = "text/plain; version=0.0.4";
	if (c360_metrics_render(ctx, &resp->body))
		c360_http_error(resp, 500, "internal", "cannot render the metrics");
}

static void collect_store(void *ctx, struct c360_metrics_out *out)
{
	c360_store *st = ctx;
	struct c360_bucket_info *b = NULL;
	size_t n = 0;
	if (c360_store_bucket_list(st, &b, &n))
		return;
	for (size_t i = 0; i < n; i++) {
		char labels[160];
		snprintf(labels, sizeof labels, "bucket=%s", b[i].name);
		c360_metric_gauge(out, "c360_store_documents", "live documents per bucket", labels,
				  (double)b[i].count);
		c360_metric_gauge(out, "c360_store_bytes", "bytes of keys and values per bucket",
				  labels, (double)b[i].bytes);
		c360_metric_gauge(out, "c360_store_high_seqno", "last change-feed seqno per bucket",
				  labels, (double)b[i].high_seqno);
	}
	free(b);
}

/* Per function: backlog and lag of its feed, its counters, handler latency
 * quantiles, from the status the eventing runtime keeps in the store. */
static void collect_functions(void *ctx, struct c360_metrics_out *out)
{
	c360_store *st = ctx;
	struct c360_buf list, one;
	c360_buf_init(&list, 1u << 20);
	c360_buf_init(&one, 1u << 20);
	c360_json_doc *names = NULL;
	if (c360_fn_list(st, &list) ||
	    c360_json_parse(list.data, list.len, NULL, &names, NULL))
		goto out;
	for (c360_json *n = c360_json_first(c360_json_doc_root(names)); n; n = c360_json_next(n)) {
		const char *name = c360_json_str(n, NULL);
		c360_json_doc *d = NULL;
		c360_buf_reset(&one);
		if (!name || c360_fn_status(st, name, &one) ||
		    c360_json_parse(one.data, one.len, NULL, &d, NULL))
			continue;
		const c360_json *r = c360_json_doc_root(d), *stats = c360_json_get(r, "stats");
		char labels[160];
		snprintf(labels, sizeof labels, "function=%s", name);
		double v;
		if (c360_json_double(c360_json_get(r, "backlog"), &v))
			c360_metric_gauge(out, "c360_function_backlog",
					  "changes on the source feed not yet processed", labels, v);
		if (c360_json_double(c360_json_get(r, "lag_seconds"), &v))
			c360_metric_gauge(out, "c360_function_lag_seconds",
					  "age of the oldest unprocessed change", labels, v);
		static const struct {
			const char *key, *name, *help;
		} counters[] = {
			{"num_processed_events", "c360_function_processed_total", "changes handled"},
			{"failures", "c360_function_failures_total", "handler failures (logged)"},
			{"timeout_count", "c360_function_timeouts_total", "handler calls aborted at the timeout"},
			{"dcp_suppressed", "c360_function_suppressed_total", "own writes not delivered back"},
		};
		for (size_t i = 0; i < sizeof counters / sizeof *counters; i++)
			if (c360_json_double(c360_json_get(stats, counters[i].key), &v))
				c360_metric_counter(out, counters[i].name, counters[i].help, labels, v);
		if (c360_json_double(c360_json_get(stats, "p50_us"), &v))
			c360_metric_quantile(out, "c360_function_handler_seconds",
					     "handler latency over the current run", labels, "0.5", v / 1e6);
		if (c360_json_double(c360_json_get(stats, "p99_us"), &v))
			c360_metric_quantile(out, "c360_function_handler_seconds",
					     "handler latency over the current run", labels, "0.99", v / 1e6);
		c360_json_doc_free(d);
	}
out:
	c360_json_doc_free(names);
	c360_buf_release(&list);
	c360_buf_release(&one);
}

/* ---- the command ---- */

int c360_cmd_run(int argc, char **argv)
{
	int n = c360_opts_parse(&run_spec, argc, argv);
	if (n == C360_OPTS_HELP)
		return 0;
	if (n < 0)
		return C360_EXIT_USAGE;
	char err[1024] = "";
	struct c360_pipeline_config *cfg = NULL;
	c360_rc rc = c360_pipeline_load(argv[0], &cfg, err, sizeof err);
	if (rc) {
		fprintf(stderr, "c360 run: %s\n", err);
		return rc == C360_ERR_INVALID ? C360_EXIT_USAGE : c360_cli_exit_code(rc);
	}
	if (c360_log_get_level() == C360_LOG_INFO)
		c360_log_set_level(cfg->log_level);
	c360_log_set_format(cfg->log_format);

	c360_store *st = NULL;
	c360_metrics *metrics = NULL;
	c360_sources *sources = NULL;
	c360_eventing *ev = NULL;
	c360_http *http = NULL;
	c360_api *api = NULL;
	c360_kafka_connect *kc = NULL;
	int exit_code = 0;

	if (cfg->store_path && !c360_cli_store)
		c360_cli_store = cfg->store_path;
	struct c360_store_opts so;
	c360_store_opts_init(&so);
	so.synchronous = cfg->synchronous;
	/* the sources check their settings when they are created (no I/O):
	 * check them before anything is opened or created */
	if ((rc = c360_sources_new(NULL, cfg, NULL, &sources, err, sizeof err)))
		goto fail;
	c360_sources_free(sources);
	sources = NULL;
	if (check_only) {
		printf("%s: ok (%d buckets, %d sources, %d functions%s)\n", argv[0], cfg->nbuckets,
		       cfg->nsources, cfg->nfunctions, cfg->serve ? ", serve" : "");
		goto out;
	}
	if ((exit_code = c360_cli_open_store(&st, &so)))
		goto out;
	/* the API's exposure is checked before any source or function starts */
	if (cfg->serve && (rc = c360_api_check_exposure(st, cfg->bind, cfg->auth, err, sizeof err)))
		goto fail;
	metrics = c360_metrics_new();
	if (!metrics || c360_metrics_add(metrics, collect_store, st) ||
	    c360_metrics_add(metrics, collect_functions, st)) {
		rc = C360_ERR_NOMEM;
		goto fail;
	}
	if ((rc = c360_sources_new(st, cfg, metrics, &sources, err, sizeof err)))
		goto fail;

	for (int i = 0; i < cfg->nbuckets; i++) {
		if ((rc = c360_store_bucket_ensure(st, cfg->buckets[i].name, cfg->buckets[i].max_ttl))) {
			snprintf(err, sizeof err, "cannot create bucket '%s': %s", cfg->buckets[i].name,
				 c360_rc_str(rc));
			goto fail;
		}
	}
	char fnames[C360_PIPELINE_MAX][C360_PIPELINE_NAME_MAX];
	for (int i = 0; i < cfg->nfunctions; i++)
		if ((rc = c360_pipeline_deploy(st, cfg, i, fnames[i], err, sizeof err)))
			goto fail;

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	if (once) {
		for (size_t i = 0; i < c360_sources_count(sources) && !stop_requested; i++) {
			struct c360_source_pass pass;
			const struct c360_source *src = c360_sources_get(sources, i);
			rc = c360_sources_run_once(sources, i, (const volatile int *)&stop_requested,
						   &pass, err, sizeof err);
			printf("source %-16s %8llu records %8llu written %6llu failed %7.2f s%s%s\n",
			       src->name, (unsigned long long)pass.records,
			       (unsigned long long)pass.written, (unsigned long long)pass.failed,
			       pass.seconds, pass.note[0] ? "  " : "", pass.note);
			if (rc)
				goto fail;
		}
		for (int i = 0; i < cfg->nfunctions && !stop_requested; i++) {
			struct c360_fn_stats fs = {0};
			rc = c360_pipeline_run_function(st, fnames[i],
							(const volatile int *)&stop_requested, &fs,
							err, sizeof err);
			printf("function %-14s %8llu processed %6llu failures %5llu timeouts\n",
			       fnames[i], (unsigned long long)fs.processed,
			       (unsigned long long)fs.failures, (unsigned long long)fs.timeouts);
			if (rc)
				goto fail;
		}
		goto out;
	}

	if ((rc = c360_eventing_start(st, &ev))) {
		snprintf(err, sizeof err, "cannot start the functions: %s", c360_rc_str(rc));
		goto fail;
	}
	if ((rc = c360_sources_start(sources, err, sizeof err)))
		goto fail;
	/* connectors created over the Kafka Connect API (kept in the store) run
	 * whether or not this pipeline serves HTTP */
	if ((rc = c360_kafka_connect_new(st, cfg->connect_brokers, &kc)) ||
	    (rc = c360_kafka_connect_restore(kc, NULL))) {
		snprintf(err, sizeof err, "cannot restart the stored Kafka connectors: %s",
			 c360_rc_str(rc));
		goto fail;
	}
	if (cfg->serve) {
		struct c360_http_opts ho = {.bind = cfg->bind,
					    .port = cfg->port,
					    .max_connections = cfg->max_connections,
					    .max_connections_per_ip = cfg->max_connections_per_ip,
					    .header_timeout = cfg->header_timeout};
		http = c360_http_new(&ho);
		if (!http) {
			rc = C360_ERR_NOMEM;
			goto fail;
		}
		struct c360_api_opts ao = {.root_taken = true, .require_auth = cfg->auth,
					   .max_queries = cfg->query_concurrency,
					   .max_query_ms = cfg->query_timeout_s * 1000,
					   .max_query_bytes = (size_t)cfg->query_max_mib << 20};
		if ((rc = c360_api_routes(http, st, &ao, &api, err, sizeof err)))
			goto fail;
		if ((rc = c360_metrics_add(metrics, c360_http_collect, http)))
			goto fail;
		if ((rc = c360_http_route(http, "GET", "/metrics", C360_HTTP_OPEN, metrics_handler,
					  metrics)))
			goto fail;
		/* the admin APIs: Eventing's /api/v1/functions, Kafka Connect's /connectors */
		if ((rc = c360_eventing_routes(http, st)) ||
		    (rc = c360_kafka_connect_routes(http, kc)))
			goto fail;
		if ((rc = c360_http_start(http, err, sizeof err)))
			goto fail;
		C360_INFO("run", "serving on http://%s:%d (API /api/v1, dashboard /ui/, Kafka Connect /, /connectors, /metrics, /health)",
			  cfg->bind, c360_http_port(http));
	}
	C360_INFO("run", "pipeline '%s' running: %d sources, %d functions; SIGTERM or Ctrl-C stops it",
		  argv[0], cfg->nsources, cfg->nfunctions);
	while (!stop_requested)
		usleep(100 * 1000);
	C360_INFO("run", "stopping: server, sources (drain and commit), functions (checkpoint)");
	goto out;

fail:
	fprintf(stderr, "c360 run: %s\n", *err ? err : c360_rc_str(rc));
	exit_code = rc == C360_ERR_INVALID ? C360_EXIT_USAGE : c360_cli_exit_code(rc);
	if (!exit_code)
		exit_code = C360_EXIT_FAILED;
out:
	if (http)
		c360_metrics_remove(metrics, c360_http_collect, http);
	c360_http_free(http); /* stops taking requests first */
	c360_api_free(api);
	c360_kafka_connect_free(kc); /* connectors POSTed over the API drain and commit */
	/* drains and commits; a source that could not (e.g. offsets not
	 * committed: records read again next time) fails the exit status */
	if (c360_sources_stop(sources) && !exit_code) {
		fprintf(stderr, "c360 run: a source did not stop cleanly (see its error above)\n");
		exit_code = C360_EXIT_FAILED;
	}
	c360_sources_free(sources);
	c360_eventing_stop(ev);     /* checkpoints */
	c360_metrics_free(metrics);
	c360_store_close(st);
	c360_pipeline_free(cfg);
	return exit_code;
}
