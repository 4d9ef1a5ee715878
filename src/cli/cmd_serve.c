/* c360 serve: the customer 360 API and the dashboard over HTTP. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/log.h"
#include "core/metrics.h"
#include "serve/api.h"
#include "serve/http.h"
#include "core/banned.h"

int c360_cmd_serve(int argc, char **argv);

static const char *o_bind = "127.0.0.1";
static int64_t o_port = 8360;
static int64_t o_threads = 4;
static const char *o_bucket = "customer360";
static const char *o_port_file;
static bool o_no_web;
static bool o_auth;
static int64_t o_max_conns = C360_HTTP_DEFAULT_CONNECTIONS;
static int64_t o_max_conns_ip = -1; /* -1: the default */
static int64_t o_header_timeout = C360_HTTP_DEFAULT_HEADER_TIMEOUT;
static int64_t o_query_conc = 2, o_query_timeout = 10, o_query_mib = 32;

static const struct c360_opt serve_opts[] = {
	C360_CLI_STORE_OPT,
	{"bind", 'b', C360_OPT_STR, &o_bind, "ADDR", "address to listen on (IPv4 or IPv6)", "127.0.0.1"},
	{"port", 'p', C360_OPT_INT, &o_port, "N", "TCP port; 0 = any free port (printed)", "8360"},
	{"threads", 't', C360_OPT_INT, &o_threads, "N", "HTTP worker threads", "4"},
	{"bucket", 0, C360_OPT_STR, &o_bucket, "NAME", "the Customer 360 bucket", "customer360"},
	{"port-file", 0, C360_OPT_STR, &o_port_file, "PATH", "write the listening port to PATH once ready", NULL},
	{"no-web", 0, C360_OPT_FLAG, &o_no_web, NULL, "serve the API only, not the dashboard", NULL},
	{"auth", 0, C360_OPT_FLAG, &o_auth, NULL,
	 "require a token even while none exists (calls are refused until one is created)", NULL},
	{"max-connections", 0, C360_OPT_INT, &o_max_conns, "N",
	 "open connections at most; when full, the one waiting longest for its request "
	 "headers is closed, else new ones are refused", "512"},
	{"max-connections-per-ip", 0, C360_OPT_INT, &o_max_conns_ip, "N",
	 "open connections from one client address at most (same eviction)",
	 "128, or --max-connections if smaller"},
	{"header-timeout", 0, C360_OPT_DURATION, &o_header_timeout, "SECONDS",
	 "close a connection whose request headers are not complete this long after it "
	 "opened (or after its previous request); trickled bytes do not extend it", "10"},
	{"query-concurrency", 0, C360_OPT_INT, &o_query_conc, "N",
	 "SQL queries (POST /api/v1/query) run at once; more get 429", "2"},
	{"query-timeout", 0, C360_OPT_DURATION, &o_query_timeout, "DURATION",
	 "the longest a SQL query may run (a query asks for less with timeout_ms)", "10s"},
	{"query-max-mib", 0, C360_OPT_INT, &o_query_mib, "N",
	 "a SQL answer's cap, and the largest string or blob a query may build, in MiB", "32"},
	{NULL, 0, 0, NULL, NULL, NULL, NULL},
};

static const struct c360_cmd_spec serve_spec = {
	"c360 serve [options]",
	"serve the customer 360 API (/api/v1) and the dashboard (/) until interrupted",
	"Auth: once an API token exists ('c360 token create --scope read|admin'), every\n"
	"API call needs 'Authorization: Bearer TOKEN' (admin endpoints an admin token);\n"
	"/health and the dashboard's files are open. Without any token the API is open,\n"
	"but only on a loopback address: on any other address serve needs a token to\n"
	"start (or --auth), and refuses every call (401) while no valid token exists,\n"
	"also after the last one is revoked. docs/serve.md lists the endpoints.\n"
	"Stops on SIGINT or SIGTERM. Exit codes: 0 stopped, 1 cannot listen, 2 usage, 6 store.",
	serve_opts, 0, 0};

static void metrics_route(const struct c360_http_req *req, struct c360_http_resp *resp, void *ctx)
{
	(void)req;
	resp->content_type = "text/plain; version=0.0.4";
	if (c360_metrics_render(ctx, &resp->body))
		c360_http_error(resp, 500, "internal", "cannot render the metrics");
}

int c360_cmd_serve(int argc, char **argv)
{
	const char *cmd = argv[0];
	int n = c360_opts_parse(&serve_spec, argc, argv);
	if (n == C360_OPTS_HELP)
		return 0;
	if (n < 0)
		return C360_EXIT_USAGE;
	if (o_port < 0 || o_port > 65535) {
		fprintf(stderr, "%s: --port must be 0..65535 (got %lld)\n", cmd, (long long)o_port);
		return C360_EXIT_USAGE;
	}
	if (o_threads < 1 || o_threads > 256) {
		fprintf(stderr, "%s: --threads must be 1..256 (got %lld)\n", cmd, (long long)o_threads);
		return C360_EXIT_USAGE;
	}
	if (o_max_conns < 1 || o_max_conns > C360_HTTP_MAX_CONNECTIONS) {
		fprintf(stderr, "%s: --max-connections must be 1..%d (got %lld)\n", cmd,
			C360_HTTP_MAX_CONNECTIONS, (long long)o_max_conns);
		return C360_EXIT_USAGE;
	}
	if (o_max_conns_ip != -1 && (o_max_conns_ip < 1 || o_max_conns_ip > o_max_conns)) {
		fprintf(stderr, "%s: --max-connections-per-ip must be 1..%lld (--max-connections; got %lld)\n",
			cmd, (long long)o_max_conns, (long long)o_max_conns_ip);
		return C360_EXIT_USAGE;
	}
	if (o_header_timeout < 1 || o_header_timeout > 3600) {
		fprintf(stderr, "%s: --header-timeout must be 1..3600 seconds (got %lld)\n", cmd,
			(long long)o_header_timeout);
		return C360_EXIT_USAGE;
	}
	if (o_query_conc < 1 || o_query_conc > 64 || o_query_timeout < 1 || o_query_timeout > 3600 ||
	    o_query_mib < 1 || o_query_mib > 1024) {
		fprintf(stderr,
			"%s: --query-concurrency must be 1..64, --query-timeout 1s..1h and "
			"--query-max-mib 1..1024 (got %lld, %llds, %lld)\n",
			cmd, (long long)o_query_conc, (long long)o_query_timeout, (long long)o_query_mib);
		return C360_EXIT_USAGE;
	}
	/* block the stop signals before any thread starts; sigwait below */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	c360_store *st = NULL;
	struct c360_store_opts so;
	c360_store_opts_init(&so);
	int ex = c360_cli_open_store(&st, &so);
	if (ex)
		return ex;
	char err[512] = "";
	c360_rc xrc = c360_api_check_exposure(st, o_bind, o_auth, err, sizeof err);
	if (xrc) {
		fprintf(stderr, "%s: %s\n", cmd, err);
		c360_store_close(st);
		return xrc == C360_ERR_INVALID ? C360_EXIT_USAGE : c360_cli_exit_code(xrc);
	}
	struct c360_http_opts ho = {.bind = o_bind,
				    .port = (int)o_port,
				    .threads = (int)o_threads,
				    .max_connections = (int)o_max_conns,
				    .max_connections_per_ip = o_max_conns_ip < 0 ? 0 : (int)o_max_conns_ip,
				    .header_timeout = (int)o_header_timeout};
	c360_http *h = c360_http_new(&ho);
	c360_api *api = NULL;
	struct c360_api_opts ao = {.bucket = o_bucket,
				   .no_web = o_no_web,
				   .require_auth = o_auth,
				   .max_queries = (int)o_query_conc,
				   .max_query_ms = (int)(o_query_timeout * 1000),
				   .max_query_bytes = (size_t)o_query_mib << 20};
	c360_metrics *metrics = c360_metrics_new();
	c360_rc rc = h && metrics ? c360_api_routes(h, st, &ao, &api, err, sizeof err)
				  : C360_ERR_NOMEM;
	/* /metrics: the server's request and connection counters (no data) */
	if (!rc && !(rc = c360_metrics_add(metrics, c360_http_collect, h)))
		rc = c360_http_route(h, "GET", "/metrics", C360_HTTP_OPEN, metrics_route, metrics);
	if (rc) {
		fprintf(stderr, "%s: %s\n", cmd, *err ? err : c360_rc_str(rc));
		ex = C360_EXIT_FAILED;
		goto out;
	}
	size_t ntok = c360_api_token_count(api);
	bool loopback = c360_http_is_loopback(o_bind);
	if ((rc = c360_http_start(h, err, sizeof err))) {
		fprintf(stderr, "%s: %s\n", cmd, err);
		ex = C360_EXIT_FAILED;
		goto out;
	}
	int port = c360_http_port(h);
	if (!ntok && !o_auth && loopback)
		C360_WARN("serve", "no API token exists: the API is open to every local client "
				   "(create one with 'c360 token create --scope read')");
	if (o_port_file) {
		char tmp[4096];
		snprintf(tmp, sizeof tmp, "%s.tmp", o_port_file);
		FILE *f = fopen(tmp, "w");
		if (!f || fprintf(f, "%d\n", port) < 0 || fclose(f) || rename(tmp, o_port_file)) {
			fprintf(stderr, "%s: cannot write the port file '%s'\n", cmd, o_port_file);
			ex = C360_EXIT_FAILED;
			goto out;
		}
	}
	const char *host = strchr(o_bind, ':') ? "[%s]" : "%s";
	char hostbuf[80];
	snprintf(hostbuf, sizeof hostbuf, host, o_bind);
	printf("c360 serve: listening on http://%s:%d/ (API /api/v1, %s, store '%s', %s)\n", hostbuf,
	       port, o_no_web ? "no dashboard" : "dashboard /ui/", c360_store_path(st),
	       ntok || o_auth || !loopback ? "token auth" : "open: no token");
	fflush(stdout);
	int sig = 0;
	sigwait(&set, &sig);
	fprintf(stderr, "c360 serve: %s received, stopping after %llu requests\n",
		sig == SIGINT ? "SIGINT" : "SIGTERM", (unsigned long long)c360_http_requests(h));
out:
	c360_http_free(h);
	c360_metrics_free(metrics); /* after the server: its route used it */
	c360_api_free(api);
	c360_store_close(st);
	return ex;
}
