/* c360-mock-store: serves the seed's online store REST API (three
 * endpoints) with fault injection, until SIGINT/SIGTERM. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/opts.h"
#include "sources/rest/mockstore.h"
#include "core/banned.h"

static bool parse_rate(const char *name, const char *s, double *out)
{
	if (!s)
		return true;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || v < 0 || v > 1) {
		fprintf(stderr, "c360-mock-store: option '--%s' wants a fraction 0..1, not '%s'\n",
			name, s);
		return false;
	}
	*out = v;
	return true;
}

int main(int argc, char **argv)
{
	int64_t port = 0, threads = 4, customers = 1000, products = 100, max_orders = 3, seed = 1;
	int64_t latency = 0, jitter = 0, retry_after = 1, slow_ms = 2000;
	const char *bind = "127.0.0.1", *data = NULL, *port_file = NULL, *id_style = "number";
	const char *e500 = NULL, *e503 = NULL, *e429 = NULL, *malformed = NULL, *slow = NULL,
		   *drop = NULL;
	bool tpc = false, seed_example = false, dump = false, quiet = false;
	const struct c360_opt opts[] = {
		{"port", 'p', C360_OPT_INT, &port, "N", "TCP port; 0 picks a free one", "0"},
		{"bind", 0, C360_OPT_STR, &bind, "ADDR", "IPv4 address to listen on", "127.0.0.1"},
		{"port-file", 0, C360_OPT_STR, &port_file, "PATH",
		 "write the chosen port to PATH once listening", NULL},
		{"threads", 't', C360_OPT_INT, &threads, "N", "worker threads (thread pool)", "4"},
		{"thread-per-connection", 0, C360_OPT_FLAG, &tpc, NULL,
		 "one thread per connection (automatic with --latency, --jitter or --slow)", NULL},
		{"customers", 'n', C360_OPT_INT, &customers, "N", "generated customers", "1000"},
		{"products", 0, C360_OPT_INT, &products, "N", "generated products (ids 100, 110, ...)",
		 "100"},
		{"max-orders", 0, C360_OPT_INT, &max_orders, "N",
		 "generated orders per customer: 0..N", "3"},
		{"seed", 0, C360_OPT_INT, &seed, "N", "seed of the data set and of fault choices", "1"},
		{"seed-example", 0, C360_OPT_FLAG, &seed_example, NULL,
		 "add the seed's Matthew Groves (Id 1, orders 1 and 2)", NULL},
		{"id-style", 0, C360_OPT_STR, &id_style, "STYLE",
		 "ids of the generated data and the seed example: number (27), string (\"27\") "
		 "or uuid",
		 "number"},
		{"data", 'd', C360_OPT_STR, &data, "FILE",
		 "load customers, orders and products from JSON lines", NULL},
		{"dump", 0, C360_OPT_FLAG, &dump, NULL,
		 "print the data set as JSON lines and exit", NULL},
		{"latency", 0, C360_OPT_INT, &latency, "MS", "fixed delay before each answer", "0"},
		{"jitter", 0, C360_OPT_INT, &jitter, "MS", "plus a uniform 0..MS delay", "0"},
		{"error-500", 0, C360_OPT_STR, &e500, "RATE", "fraction answered 500", "0"},
		{"error-503", 0, C360_OPT_STR, &e503, "RATE", "fraction answered 503 + Retry-After",
		 "0"},
		{"error-429", 0, C360_OPT_STR, &e429, "RATE", "fraction answered 429 + Retry-After",
		 "0"},
		{"retry-after", 0, C360_OPT_INT, &retry_after, "S", "Retry-After seconds", "1"},
		{"malformed", 0, C360_OPT_STR, &malformed, "RATE",
		 "fraction answered 200 with truncated JSON", "0"},
		{"slow", 0, C360_OPT_STR, &slow, "RATE", "fraction whose body dribbles out slowly",
		 "0"},
		{"slow-ms", 0, C360_OPT_INT, &slow_ms, "MS", "time a slow body takes", "2000"},
		{"drop", 0, C360_OPT_STR, &drop, "RATE",
		 "fraction whose connection is closed without an answer", "0"},
		{"quiet", 'q', C360_OPT_FLAG, &quiet, NULL, "no summary at exit", NULL},
		{NULL, 0, 0, NULL, NULL, NULL, NULL},
	};
	const struct c360_cmd_spec spec = {
		.usage = "c360-mock-store [options]",
		.summary = "serve the seed's online store REST API with fault injection",
		.details =
			"Endpoints: GET /api/onlineStore/getCustomerDetailsByEmail?customerEmail=,\n"
			"getOrdersByCustomerId?customerId=, getProductDetailsByProductId?productId=,\n"
			"and GET /stats (request counters). Prints its URL, serves until\n"
			"SIGINT/SIGTERM, then prints the counters. See docs/mock-store.md.",
		.opts = opts,
		.min_args = 0,
		.max_args = 0,
	};
	argv[0] = "c360-mock-store";
	int n = c360_opts_parse(&spec, argc, argv);
	if (n == C360_OPTS_HELP)
		return 0;
	if (n < 0)
		return 2;
	struct c360_mockstore_opts mo = {0};
	if (port < 0 || port > 65535 || threads < 1 || threads > 1024 || customers < 0 ||
	    products < 0 || max_orders < 0 || max_orders > 1000 || latency < 0 || jitter < 0 ||
	    retry_after < 0 || slow_ms < 0) {
		fprintf(stderr, "c360-mock-store: a numeric option is out of range (see --help)\n");
		return 2;
	}
	if (!parse_rate("error-500", e500, &mo.faults.error_500) ||
	    !parse_rate("error-503", e503, &mo.faults.error_503) ||
	    !parse_rate("error-429", e429, &mo.faults.error_429) ||
	    !parse_rate("malformed", malformed, &mo.faults.malformed) ||
	    !parse_rate("slow", slow, &mo.faults.slow) || !parse_rate("drop", drop, &mo.faults.drop))
		return 2;
	if (!strcmp(id_style, "number")) {
		mo.id_style = C360_MOCKSTORE_ID_NUMBER;
	} else if (!strcmp(id_style, "string")) {
		mo.id_style = C360_MOCKSTORE_ID_STRING;
	} else if (!strcmp(id_style, "uuid")) {
		mo.id_style = C360_MOCKSTORE_ID_UUID;
	} else {
		fprintf(stderr, "c360-mock-store: --id-style '%s' is not one of number, string, "
				"uuid\n", id_style);
		return 2;
	}
	mo.bind = bind;
	mo.port = (int)port;
	mo.threads = (int)threads;
	mo.thread_per_connection = tpc;
	mo.customers = (uint64_t)customers;
	mo.products = products ? (uint64_t)products : 1;
	mo.max_orders = max_orders ? (int)max_orders : -1;
	mo.seed = (uint64_t)seed;
	mo.seed_example = seed_example;
	mo.data_path = data;
	mo.faults.latency_ms = (int)latency;
	mo.faults.jitter_ms = (int)jitter;
	mo.faults.retry_after_s = (int)retry_after;
	mo.faults.slow_ms = (int)slow_ms;

	char err[512] = "";
	c360_mockstore *ms = NULL;
	c360_rc rc = c360_mockstore_new(&mo, &ms, err, sizeof err);
	if (rc) {
		fprintf(stderr, "c360-mock-store: %s\n", *err ? err : c360_rc_str(rc));
		return rc == C360_ERR_INVALID ? 5 : 1;
	}
	if (dump) {
		struct c360_buf b;
		c360_buf_init(&b, 0);
		rc = c360_mockstore_dump(ms, &b);
		if (!rc && fwrite(b.data ? b.data : "", 1, b.len, stdout) != b.len)
			rc = C360_ERR_IO;
		c360_buf_release(&b);
		c360_mockstore_free(ms);
		return rc ? 1 : 0;
	}
	/* block the signals before the server's threads start, then wait for one */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((rc = c360_mockstore_start(ms, err, sizeof err))) {
		fprintf(stderr, "c360-mock-store: %s\n", err);
		c360_mockstore_free(ms);
		return 1;
	}
	printf("c360-mock-store: %" PRIu64 " customers at %s\n",
	       c360_mockstore_customer_count(ms), c360_mockstore_url(ms));
	fflush(stdout);
	if (port_file) {
		FILE *f = fopen(port_file, "w");
		if (!f || fprintf(f, "%d\n", c360_mockstore_port(ms)) < 0 || fclose(f)) {
			fprintf(stderr, "c360-mock-store: cannot write '%s': %s\n", port_file,
				strerror(errno));
			c360_mockstore_free(ms);
			return 1;
		}
	}
	int sig;
	sigwait(&sigs, &sig);
	if (!quiet) {
		struct c360_mockstore_counts c;
		c360_mockstore_counts(ms, &c);
		fprintf(stderr,
			"c360-mock-store: %" PRIu64 " requests (details %" PRIu64 ", orders %" PRIu64
			", products %" PRIu64 "); 200: %" PRIu64 ", 404: %" PRIu64 ", 429: %" PRIu64
			", 500: %" PRIu64 ", 503: %" PRIu64 "; dropped %" PRIu64 ", malformed %" PRIu64
			", slow %" PRIu64 "; busiest second %" PRIu64 "\n",
			c.total, c.details, c.orders, c.products, c.status_200, c.status_404,
			c.status_429, c.status_500, c.status_503, c.dropped, c.malformed, c.slow,
			c.max_per_second);
	}
	c360_mockstore_free(ms);
	return 0;
}
