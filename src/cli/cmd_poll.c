/* `c360 poll`: one polling pass over the online store REST API into
 * customer360 (see sources/rest/pollrun.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/log.h"
#include "sources/rest/pollrun.h"
#include "core/banned.h"

int c360_cmd_poll(int argc, char **argv);

static void show_progress(const struct c360_pollrun_stats *s, void *ctx)
{
	double *t0 = ctx;
	(void)t0;
	uint64_t done = s->polled + s->not_found + s->failed;
	fprintf(stderr,
		"\rpoll: %" PRIu64 " customers done (%" PRIu64 " skipped), %" PRIu64
		" failed, %" PRIu64 " orders, %" PRIu64 " products, %" PRIu64 " requests   ",
		done, s->skipped, s->failed, s->orders, s->products, s->http.requests);
	fflush(stderr);
}

static bool parse_rate(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || v < 0 || v > 1e9)
		return false;
	*out = v;
	return true;
}

int c360_cmd_poll(int argc, char **argv)
{
	const char *base_url = NULL, *emails_from = NULL, *rate = NULL, *bucket = "customer360",
		   *staging = "staging";
	int64_t concurrency = 16, max_age = 86400, min_interval = 300, timeout_ms = 10000,
		connect_timeout_ms = 3000, retries = 4, breaker = 10, breaker_open_ms = 5000,
		max_body = 4 << 20, limit = 0;
	bool force = false, quiet = false, durable = false;
	const struct c360_opt opts[] = {
		{"base-url", 'u', C360_OPT_STR, &base_url, "URL",
		 "the online store, e.g. http://127.0.0.1:8080 (required)", NULL},
		{"emails-from", 0, C360_OPT_STR, &emails_from, "BUCKET",
		 "poll every email seen in this staging bucket instead of every customer360 "
		 "document", NULL},
		{"concurrency", 'c', C360_OPT_INT, &concurrency, "N", "transfers in flight", "16"},
		{"rate", 'r', C360_OPT_STR, &rate, "R", "requests per second to the store, 0 = no limit",
		 "0"},
		{"max-age", 0, C360_OPT_DURATION, &max_age, "D",
		 "poll a customer (and product) again when its last poll is older", "1d"},
		{"min-interval", 0, C360_OPT_DURATION, &min_interval, "D",
		 "never poll a customer more often, even when its staging data changed", "5m"},
		{"force", 'f', C360_OPT_FLAG, &force, NULL, "poll every customer, ignoring the policy",
		 NULL},
		{"limit", 0, C360_OPT_INT, &limit, "N", "poll at most N customers (0 = all)", "0"},
		{"bucket", 0, C360_OPT_STR, &bucket, "NAME", "the Customer 360 bucket", "customer360"},
		{"staging", 0, C360_OPT_STR, &staging, "NAME",
		 "bucket whose changes make a customer due again", "staging"},
		{"timeout-ms", 0, C360_OPT_INT, &timeout_ms, "MS", "per request attempt", "10000"},
		{"connect-timeout-ms", 0, C360_OPT_INT, &connect_timeout_ms, "MS", "per connection",
		 "3000"},
		{"retries", 0, C360_OPT_INT, &retries, "N",
		 "retries per request on 5xx, 429, timeouts, dropped connections", "4"},
		{"breaker-failures", 0, C360_OPT_INT, &breaker, "N",
		 "failures in a row that open the circuit breaker, 0 = no breaker", "10"},
		{"breaker-open-ms", 0, C360_OPT_INT, &breaker_open_ms, "MS",
		 "how long an open circuit rests before a probe", "5000"},
		{"max-body", 0, C360_OPT_INT, &max_body, "BYTES", "largest answer accepted", "4194304"},
		{"durable", 0, C360_OPT_FLAG, &durable, NULL,
		 "fsync every batch (synchronous=FULL); by default a pass survives kill -9 but "
		 "a power loss may undo its last batches, which the next pass polls again", NULL},
		{"quiet", 'q', C360_OPT_FLAG, &quiet, NULL, "no progress, summary only", NULL},
		C360_CLI_STORE_OPT,
		{NULL, 0, 0, NULL, NULL, NULL, NULL},
	};
	const struct c360_cmd_spec spec = {
		.usage = "c360 poll --base-url URL [options]",
		.summary = "fetch customers' details, orders and products from the online store",
		.details =
			"For every customer360 document of type \"user\" (key = email), or every email\n"
			"in --emails-from BUCKET (/payload/after/email, /email), fetches\n"
			"getCustomerDetailsByEmail and getOrdersByCustomerId, sets the customer's\n"
			"online_store xref, writes order::<OrderId> and product::<ProductId>.\n"
			"State per customer lives in the c360_meta bucket under poll::EMAIL.\n"
			"Exit status 1 when some customers failed (errors by kind in the summary).\n"
			"See docs/poll.md.",
		.opts = opts,
		.min_args = 0,
		.max_args = 0,
	};
	int n = c360_opts_parse(&spec, argc, argv);
	if (n == C360_OPTS_HELP)
		return C360_EXIT_OK;
	if (n < 0)
		return C360_EXIT_USAGE;
	if (n > 0) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", argv[0] ? "c360 poll" : "", argv[0]);
		return C360_EXIT_USAGE;
	}
	if (!base_url) {
		fprintf(stderr, "c360 poll: --base-url is required (see 'c360 poll --help')\n");
		return C360_EXIT_USAGE;
	}
	struct c360_pollrun_opts o;
	c360_pollrun_opts_init(&o);
	o.poller.base_url = base_url;
	if (rate && !parse_rate(rate, &o.poller.rate)) {
		fprintf(stderr, "c360 poll: option '--rate' wants a number of requests per second, "
				"not '%s'\n", rate);
		return C360_EXIT_USAGE;
	}
	if (concurrency < 1 || concurrency > 1024 || timeout_ms < 1 || connect_timeout_ms < 1 ||
	    retries < 0 || retries > 100 || breaker < 0 || breaker_open_ms < 1 || max_body < 1 ||
	    limit < 0) {
		fprintf(stderr, "c360 poll: a numeric option is out of range (see --help)\n");
		return C360_EXIT_USAGE;
	}
	o.poller.concurrency = (int)concurrency;
	o.poller.timeout_ms = (int)timeout_ms;
	o.poller.connect_timeout_ms = (int)connect_timeout_ms;
	o.poller.max_retries = (int)retries;
	o.poller.breaker_failures = breaker ? (int)breaker : -1;
	o.poller.breaker_open_ms = (int)breaker_open_ms;
	o.poller.max_body = (size_t)max_body;
	o.bucket = bucket;
	o.staging = staging;
	o.emails_from = emails_from;
	o.max_age_s = max_age;
	o.min_interval_s = min_interval;
	o.force = force;
	o.limit = (uint64_t)limit;
	bool tty = !quiet && c360_cli_is_tty();
	if (tty)
		o.progress = show_progress;

	/* A pass is idempotent and its poll state is written in the same
	 * transaction as the documents: losing the last batches to a power cut
	 * only means polling those customers again, so fsync per batch is opt-in. */
	struct c360_store_opts so;
	c360_store_opts_init(&so);
	so.synchronous = durable ? C360_SYNC_FULL : C360_SYNC_NORMAL;
	c360_store *st = NULL;
	int code = c360_cli_open_store(&st, &so);
	if (code)
		return code;
	struct c360_pollrun_stats s;
	char err[512] = "";
	c360_rc rc = c360_pollrun(st, &o, &s, err, sizeof err);
	if (tty)
		fprintf(stderr, "\n");
	c360_store_close(st);
	if (rc) {
		fprintf(stderr, "c360 poll: %s\n", *err ? err : c360_rc_str(rc));
		return c360_cli_exit_code(rc);
	}
	uint64_t errors = 0;
	for (int i = C360_POLL_HTTP; i < C360_POLL_STATUS_COUNT; i++)
		errors += s.by_status[i];
	printf("poll: %" PRIu64 " customers: %" PRIu64 " polled, %" PRIu64 " not in the store, %" PRIu64
	       " skipped (fresh), %" PRIu64 " failed\n",
	       s.candidates, s.polled, s.not_found, s.skipped, s.failed);
	printf("poll: documents: %" PRIu64 " customers created, %" PRIu64 " updated, %" PRIu64
	       " orders, %" PRIu64 " products written; %" PRIu64 " write errors\n",
	       s.created, s.updated, s.orders, s.products, s.write_errors);
	if (s.bad_product_ids)
		printf("poll: %" PRIu64 " order items without a usable \"ProductId\" (their products "
		       "were not fetched)\n", s.bad_product_ids);
	printf("poll: errors: %" PRIu64 " (http %" PRIu64 ", timeout %" PRIu64 ", network %" PRIu64
	       ", malformed %" PRIu64 ", too big %" PRIu64 ", circuit open %" PRIu64 ")\n",
	       errors, s.by_status[C360_POLL_HTTP], s.by_status[C360_POLL_TIMEOUT],
	       s.by_status[C360_POLL_NETWORK], s.by_status[C360_POLL_MALFORMED],
	       s.by_status[C360_POLL_TOO_BIG], s.by_status[C360_POLL_CIRCUIT_OPEN]);
	printf("poll: %" PRIu64 " requests (%" PRIu64 " retries, %" PRIu64 " refused by the budget, "
	       "breaker opened %" PRIu64 "x) in %.2f s: %.0f requests/s\n",
	       s.http.requests, s.http.retries, s.http.budget_refused, s.http.breaker_opened,
	       s.seconds, s.seconds > 0 ? (double)s.http.requests / s.seconds : 0.0);
	return errors || s.write_errors ? C360_EXIT_FAILED : C360_EXIT_OK;
}
