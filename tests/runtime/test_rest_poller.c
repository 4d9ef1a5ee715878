/* The REST poller against the mock online store on loopback (free ports):
 * the seed's example, URL encoding, each fault mode, the retry budget, the
 * circuit breaker and the rate limit. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/json.h"
#include "core/log.h"
#include "sources/rest/mockstore.h"
#include "sources/rest/poller.h"
#include "test.h"
#include "core/banned.h"

#define MAXR 64

struct got {
	int n;
	enum c360_poll_status status[MAXR];
	int attempts[MAXR];
	int http[MAXR];
	char details[MAXR][512];
	char orders[MAXR][2048];
	char reason[MAXR][256];
};

static void collect(const struct c360_poll_result *r, void *ctx)
{
	struct got *g = ctx;
	if (g->n >= MAXR)
		return;
	int i = g->n++;
	g->status[i] = r->status;
	g->attempts[i] = r->attempts;
	g->http[i] = r->http_status;
	snprintf(g->reason[i], sizeof g->reason[i], "%s", r->reason);
	g->details[i][0] = g->orders[i][0] = '\0';
	const c360_json *a = r->details ? r->details : r->product;
	if (a) {
		char *s = c360_json_write_str(a, 0, NULL);
		snprintf(g->details[i], sizeof g->details[i], "%s", s ? s : "");
		free(s);
	}
	if (r->orders) {
		char *s = c360_json_write_str(r->orders, 0, NULL);
		snprintf(g->orders[i], sizeof g->orders[i], "%s", s ? s : "");
		free(s);
	}
	if (r->body)
		snprintf(g->orders[i], sizeof g->orders[i], "%.*s", (int)r->body_len, r->body);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static c360_mockstore *start_store(void)
{
	struct c360_mockstore_opts mo = {0};
	mo.seed_example = true;
	mo.customers = 20;
	mo.thread_per_connection = true;
	c360_mockstore *ms = NULL;
	char err[256] = "";
	if (c360_mockstore_new(&mo, &ms, err, sizeof err)) {
		printf("  mockstore_new: %s\n", err);
		return NULL;
	}
	c360_mockstore_add_customer(ms, 9001, "Plus Sign", "a+b@x.com", "p1");
	c360_mockstore_add_customer(ms, 9002, "Percent Sign", "100%real@x.com", "p2");
	c360_mockstore_add_customer(ms, 9003, "John Smith", "john smith@x.com", "p3");
	c360_mockstore_add_customer(ms, 9004, "Zoë Ünïcode", "zoë@exämple.com", "p4");
	c360_mockstore_add_customer(ms, 9005, "Weird Chars", "we/ird?&=#;@x.com", "p5");
	if (c360_mockstore_start(ms, err, sizeof err)) {
		printf("  mockstore_start: %s\n", err);
		c360_mockstore_free(ms);
		return NULL;
	}
	return ms;
}

static c360_poller *poller_for(c360_mockstore *ms, void (*tune)(struct c360_poller_opts *))
{
	struct c360_poller_opts o;
	c360_poller_opts_init(&o);
	o.base_url = c360_mockstore_url(ms);
	o.backoff_ms = 10;
	o.backoff_max_ms = 50;
	if (tune)
		tune(&o);
	c360_poller *p = NULL;
	char err[256];
	if (c360_poller_new(&o, &p, err, sizeof err))
		printf("  poller_new: %s\n", err);
	return p;
}

static const char *SEED_ORDERS =
	"[{\"OrderId\":1,\"PurchaseDate\":\"2019-04-25T15:15:5800838522\",\"CustomerId\":1,"
	"\"Items\":[{\"OrderId\":1,\"ProductId\":200,\"Quantity\":2,\"Price\":87.81},"
	"{\"OrderId\":1,\"ProductId\":400,\"Quantity\":4,\"Price\":129.86},"
	"{\"OrderId\":1,\"ProductId\":410,\"Quantity\":1,\"Price\":78.64},"
	"{\"OrderId\":1,\"ProductId\":300,\"Quantity\":2,\"Price\":25.03},"
	"{\"OrderId\":1,\"ProductId\":110,\"Quantity\":2,\"Price\":191.92}]},"
	"{\"OrderId\":2,\"PurchaseDate\":\"2019-04-13T16:15:5801361975\",\"CustomerId\":1,"
	"\"Items\":[{\"OrderId\":2,\"ProductId\":100,\"Quantity\":2,\"Price\":219.74}]}]";

TEST(seed_example_details_and_orders)
{
	c360_mockstore *ms = start_store();
	REQUIRE(ms);
	c360_poller *p = poller_for(ms, NULL);
	REQUIRE(p);
	static struct got g;
	memset(&g, 0, sizeof g);
	CHECK(c360_poller_customer(p, "matthew.groves@couchbase.com", collect, &g) == C360_OK);
	CHECK(c360_poller_pending(p) == 1);
	CHECK(c360_poller_run(p, 5000) == C360_OK);
	REQUIRE(g.n == 1);
	CHECK_EQ_INT(g.status[0], C360_POLL_OK);
	CHECK_EQ_INT(g.attempts[0], 2);
	CHECK_EQ_STR(g.details[0], "{\"Id\":1,\"Name\":\"Matthew Groves\",\"Email\":"
				   "\"matthew.groves@couchbase.com\",\"Password\":\"edzchzmatv5\"}");
	CHECK_EQ_STR(g.orders[0], SEED_ORDERS);
	struct c360_mockstore_counts c;
	c360_mockstore_counts(ms, &c);
	CHECK_EQ_INT(c.details, 1);
	CHECK_EQ_INT(c.orders, 1);
	c360_poller_free(p);
	c360_mockstore_free(ms);
}

TEST(unknown_email_is_not_found_and_product_and_get)
{
	c360_mockstore *ms = start_store();
	REQUIRE(ms);
	c360_poller *p = poller_for(ms, NULL);
	REQUIRE(p);
	static struct got g;
	memset(&g, 0, sizeof g);
	c360_poller_customer(p, "nobody@nowhere.example", collect, &g);
	c360_poller_run(p, 5000);
	c360_poller_product(p, "200", 3, collect, &g);
	c360_poller_run(p, 5000);
	c360_poller_product(p, "7", 1, collect, &g);
	c360_poller_run(p, 5000);
	c360_poller_get(p, "/stats", collect, &g);
	CHECK(c360_poller_run(p, 5000) == C360_OK);
	REQUIRE(g.n == 4);
	CHECK_EQ_INT(g.status[0], C360_POLL_NOT_FOUND);
	CHECK_EQ_INT(g.http[0], 404);
	CHECK_EQ_INT(g.attempts[0], 1);
	CHECK_EQ_INT(g.status[1], C360_POLL_OK);
	CHECK(strstr(g.details[1], "\"ProductId\":200") != NULL);
	CHECK_EQ_INT(g.status[2], C360_POLL_NOT_FOUND);
	CHECK_EQ_INT(g.status[3], C360_POLL_OK);
	CHECK(strstr(g.orders[3], "\"getProductDetailsByProductId\":2") != NULL);
	CHECK(c360_poller_get(p, "ftp://x/y", collect, &g) == C360_ERR_INVALID);
	c360_poller_free(p);
	c360_mockstore_free(ms);
}

TEST(emails_are_percent_encoded)
{
	char out[256];
	CHECK(c360_rest_urlencode("matthew.groves@couchbase.com", 28, out, sizeof out));
	CHECK_EQ_STR(out, "matthew.groves%40couchbase.com");
	CHECK(c360_rest_urlencode("a+b c%d", 7, out, sizeof out));
	CHECK_EQ_STR(out, "a%2Bb%20c%25d");
	CHECK(c360_rest_urlencode("zo\xc3\xab", 4, out, sizeof out));
	CHECK_EQ_STR(out, "zo%C3%AB");
	CHECK(!c360_rest_urlencode("@@@@", 4, out, 12)); /* needs 13 bytes */

	c360_mockstore *ms = start_store();
	REQUIRE(ms);
	c360_poller *p = poller_for(ms, NULL);
	REQUIRE(p);
	static struct got g;
	memset(&g, 0, sizeof g);
	const char *emails[] = {"a+b@x.com", "100%real@x.com", "john smith@x.com",
				"zoë@exämple.com", "we/ird?&=#;@x.com"};
	for (int i = 0; i < 5; i++)
		c360_poller_customer(p, emails[i], collect, &g);
	CHECK(c360_poller_run(p, 5000) == C360_OK);
	REQUIRE(g.n == 5);
	for (int i = 0; i < 5; i++) {
		CHECK_EQ_INT(g.status[i], C360_POLL_OK);
		/* the store answered for exactly that email */
		int found = 0;
		for (int k = 0; k < 5; k++) {
			char want[128];
			snprintf(want, sizeof want, "\"Email\":\"%s\"", emails[k]);
			if (strstr(g.details[i], want))
				found++;
		}
		CHECK_EQ_INT(found, 1);
		CHECK_EQ_STR(g.orders[i], "[]");
	}
	c360_poller_free(p);
	c360_mockstore_free(ms);
}

struct taken {
	c360_json_doc *a, *b, *again;
};

static void take_docs(const struct c360_poll_result *r, void *ctx)
{
	struct taken *t = ctx;
	c360_poll_result_take(r, &t->a, &t->b);
	c360_json_doc *x = NULL;
	c360_poll_result_take(r, &x, NULL); /* already taken: NULL */
	t->again = x;
}

/* The callback keeps the parsed answers (no copy, no re-parse). */
TEST(callbacks_take_the_parsed_documents)
{
	c360_mockstore *ms = start_store();
	REQUIRE(ms);
	c360_poller *p = poller_for(ms, NULL);
	REQUIRE(p);
	struct taken c = {0}, pr = {0};
	c360_poller_customer(p, "matthew.groves@couchbase.com", take_docs, &c);
	c360_poller_product(p, "200", 3, take_docs, &pr);
	CHECK(c360_poller_run(p, 5000) == C360_OK);
	c360_poller_free(p);
	REQUIRE(c.a && c.b && pr.a);
	CHECK(!c.again && !pr.again && !pr.b);
	char *s = c360_json_write_str(c360_json_doc_root(c.b), 0, NULL);
	CHECK_EQ_STR(s, SEED_ORDERS);
	free(s);
	int64_t id = 0;
	CHECK(c360_json_int64(c360_json_get(c360_json_doc_root(c.a), "Id"), &id) && id == 1);
	CHECK(c360_json_int64(c360_json_get(c360_json_doc_root(pr.a), "ProductId"), &id) &&
	      id == 200);
	c360_json_doc_free(c.a);
	c360_json_doc_free(c.b);
	c360_json_doc_free(pr.a);
	c360_mockstore_free(ms);
}

static void tune_one_slot(struct c360_poller_opts *o)
{
	o->concurrency = 1;
}

/* One handle alternates between URLs under the base URL (path and query
 * set on the slot's CURLU) and absolute URLs of another form (CURLOPT_URL):
 * every answer is the one asked for. */
TEST(absolute_and_base_urls_alternate_on_one_handle)
{
	c360_mockstore *ms = start_store();
	REQUIRE(ms);
	c360_poller *p = poller_for(ms, tune_one_slot);
	REQUIRE(p);
	const char *base = c360_mockstore_url(ms);
	const char *port = strrchr(base, ':');
	REQUIRE(port);
	char abs_url[256];
	snprintf(abs_url, sizeof abs_url, "http://localhost%s/api/onlineStore/"
		 "getProductDetailsByProductId?productId=300", port);
	static struct got g;
	memset(&g, 0, sizeof g);
	for (int round = 0; round < 2; round++) {
		c360_poller_get(p, abs_url, collect, &g);
		CHECK(c360_poller_run(p, 5000) == C360_OK);
		c360_poller_customer(p, "a+b@x.com", collect, &g);
		CHECK(c360_poller_run(p, 5000) == C360_OK);
		c360_poller_product(p, "200", 3, collect, &g);
		CHECK(c360_poller_run(p, 5000) == C360_OK);
	}
	REQUIRE(g.n == 6);
	for (int i = 0; i < 6; i += 3) {
		CHECK_EQ_INT(g.status[i], C360_POLL_OK);
		CHECK(strstr(g.orders[i], "\"ProductId\":300") != NULL);
		CHECK_EQ_INT(g.status[i + 1], C360_POLL_OK);
		CHECK(strstr(g.details[i + 1], "\"Email\":\"a+b@x.com\"") != NULL);
		CHECK_EQ_INT(g.status[i + 2], C360_POLL_OK);
		CHECK(strstr(g.details[i + 2], "\"ProductId\":200") != NULL);
	}
	c360_poller_free(p);
	/* a base URL with a path keeps it in every request */
	struct c360_poller_opts o;
	c360_poller_opts_init(&o);
	char prefixed[256];
	snprintf(prefixed, sizeof prefixed, "%s/elsewhere", base);
	o.base_url = prefixed;
	char err[256];
	REQUIRE(c360_poller_new(&o, &p, err, sizeof err) == C360_OK);
	memset(&g, 0, sizeof g);
	c360_poller_customer(p, "a+b@x.com", collect, &g);
	CHECK(c360_poller_run(p, 5000) == C360_OK);
	REQUIRE(g.n == 1);
	CHECK_EQ_INT(g.status[0], C360_POLL_NOT_FOUND);
	c360_poller_free(p);
	c360_mockstore_free(ms);
}

static void tune_timeout(struct c360_poller_opts *o)
{
	o->timeout_ms = 150;
	o->max_retries = 1;
	o->breaker_failures = -1;
}

TEST(latency_beyond_the_timeout_times_out_after_retries)
{
	c360_mockstore *ms = start_store();
	REQUIRE(ms);
	struct c360_mockstore_faults f = {.latency_ms = 500};
	c360_mockstore_set_faults(ms, &f);
	c360_poller *p = poller_for(ms, tune_timeout);
	REQUIRE(p);
	static struct got g;
	memset(&g, 0, sizeof g);
	double t0 = now_s();
	c360_poller_customer(p, "matthew.groves@couchbase.com", collect, &g);
	CHECK(c360_poller_run(p, 5000) == C360_OK);
	double el = now_s() - t0;
	REQUIRE(g.n == 1);
	CHECK_EQ_INT(g.status[0], C360_POLL_TIMEOUT);
	CHECK_EQ_INT(g.attempts[0], 2);
	CHECK(el < 1.0); /* did not wait for the slow answers */
	struct c360_poller_stats st;
	c360_poller_stats(p, &st);
	CHECK_EQ_INT(st.timeouts, 2);
	CHECK_EQ_INT(st.retries, 1);
	/* latency below the timeout is fine */
	f.latency_ms = 20;
	f.jitter_ms = 20;
	c360_mockstore_set_faults(ms, &f);
	c360_poller_customer(p, "matthew.groves@couchbase.com", collect, &g);
	CHECK(c360_poller_run(p, 5000) == C360_OK);
	REQUIRE(g.n == 2);
	CHECK_EQ_INT(g.status[1], C360_POLL_OK);
	c360_poller_free(p);
	c360_mockstore_free(ms);
}

static void run_with_fault(struct c360_mockstore_faults f, struct got *g, double *elapsed,
			   struct c360_poller_stats *st, struct c360_mockstore_counts *mc)
{
	c360_mockstore *ms = start_store();
	if (!ms)
		return;
	c360_mockstore_set_faults(ms, &f);
	c360_poller *p = poller_for(ms, NULL);
	if (!p) {
		c360_mockstore_free(ms);
		return;
	}
	double t0 = now_s();
	c360_poller_customer(p, "matthew.groves@couchbase.com", collect, g);
	c360_poller_run(p, 10000);
	*elapsed = now_s() - t0;
	c360_poller_stats(p, st);
	c360_mockstore_counts(ms, mc);
	c360_poller_free(p);
	c360_mockstore_free(ms);
}

TEST(status_500_is_retried)
{
	static struct got g;
	memset(&g, 0, sizeof g);
	double el = 0;
	struct c360_poller_stats st = {0};
	struct c360_mockstore_counts mc = {0};
	run_with_fault((struct c360_mockstore_faults){.error_500 = 1, .first_n = 2}, &g, &el, &st,
		       &mc);
	REQUIRE(g.n == 1);
	CHECK_EQ_INT(g.status[0], C360_POLL_OK);
	CHECK_EQ_INT(g.attempts[0], 4);
	CHECK_EQ_INT(st.http_5xx, 2);
	CHECK_EQ_INT(st.retries, 2);
	CHECK_EQ_INT(mc.status_500, 2);
	CHECK_EQ_STR(g.orders[0], SEED_ORDERS);
}

TEST(status_503_honours_retry_after)
{
	static struct got g;
	memset(&g, 0, sizeof g);
	double el = 0;
	struct c360_poller_stats st = {0};
	struct c360_mockstore_counts mc = {0};
	run_with_fault((struct c360_mockstore_faults){.error_503 = 1, .first_n = 1,
						      .retry_after_s = 1},
		       &g, &el, &st, &mc);
	REQUIRE(g.n == 1);
	CHECK_EQ_INT(g.status[0], C360_POLL_OK);
	CHECK_EQ_INT(g.attempts[0], 3);
	CHECK_EQ_INT(mc.status_503, 1);
	CHECK(el >= 0.95); /* waited the Retry-After second, not the 10 ms backoff */
	CHECK(el < 3.0);
}

/* Retry-After belongs to its answer: a later 500 without one, on the same
 * handle, waits only the backoff. */
TEST(retry_after_does_not_outlive_its_answer)
{
	c360_mockstore *ms = start_store();
	REQUIRE(ms);
	c360_poller *p = poller_for(ms, tune_one_slot);
	REQUIRE(p);
	static struct got g;
	memset(&g, 0, sizeof g);
	struct c360_mockstore_faults f = {.error_503 = 1, .first_n = 1, .retry_after_s = 1};
	c360_mockstore_set_faults(ms, &f);
	double t0 = now_s();
	c360_poller_product(p, "200", 3, collect, &g);
	CHECK(c360_poller_run(p, 5000) == C360_OK);
	CHECK(now_s() - t0 >= 0.95);
	f = (struct c360_mockstore_faults){.error_500 = 1, .first_n = 1};
	c360_mockstore_set_faults(ms, &f);
	t0 = now_s();
	c360_poller_product(p, "200", 3, collect, &g);
	CHECK(c360_poller_run(p, 5000) == C360_OK);
	CHECK(now_s() - t0 < 0.5); /* the 10 ms backoff, not the earlier second */
	REQUIRE(g.n == 2);
	CHECK_EQ_INT(g.status[0], C360_POLL_OK);
	CHECK_EQ_INT(g.status[1], C360_POLL_OK);
	CHECK_EQ_INT(g.attempts[1], 2);
	c360_poller_free(p);
	c360_mockstore_free(ms);
}

TEST(status_429_is_retried_after_retry_after)
{
	static struct got g;
	memset(&g, 0, sizeof g);
	double el = 0;
	struct c360_poller_stats st = {0};
	struct c360_mockstore_counts mc = {0};
	run_with_fault((struct c360_mockstore_faults){.error_429 = 1, .first_n = 1,
						      .retry_after_s = 1},
		       &g, &el, &st, &mc);
	REQUIRE(g.n == 1);
	CHECK_EQ_INT(g.status[0], C360_POLL_OK);
	CHECK_EQ_INT(st.http_429, 1);
	CHECK_EQ_INT(mc.status_429, 1);
	CHECK(el >= 0.95);
}

TEST(malformed_json_is_reported_not_retried)
{
	static struct got g;
	memset(&g, 0, sizeof g);
	double el = 0;
	struct c360_poller_stats st = {0};
	struct c360_mockstore_counts mc = {0};
	run_with_fault((struct c360_mockstore_faults){.malformed = 1, .first_n = 1}, &g, &el, &st,
		       &mc);
	REQUIRE(g.n == 1);
	CHECK_EQ_INT(g.status[0], C360_POLL_MALFORMED);
	CHECK_EQ_INT(g.attempts[0], 1);
	CHECK_EQ_INT(g.http[0], 200);
	CHECK(strstr(g.reason[0], "invalid JSON") != NULL);
	CHECK_EQ_INT(st.by_status[C360_POLL_MALFORMED], 1);
	CHECK_EQ_INT(mc.malformed, 1);
	CHECK_EQ_STR(c360_poll_status_str(C360_POLL_MALFORMED), "malformed");
}

TEST(dropped_connection_is_retried)
{
	static struct got g;
	memset(&g, 0, sizeof g);
	double el = 0;
	struct c360_poller_stats st = {0};
	struct c360_mockstore_counts mc = {0};
	run_with_fault((struct c360_mockstore_faults){.drop = 1, .first_n = 1}, &g, &el, &st, &mc);
	REQUIRE(g.n == 1);
	CHECK_EQ_INT(g.status[0], C360_POLL_OK);
	CHECK_EQ_INT(g.attempts[0], 3);
	CHECK_EQ_INT(st.network, 1);
	CHECK_EQ_INT(mc.dropped, 1);
}

static void tune_slow(struct c360_poller_opts *o)
{
	o->timeout_ms = 300;
	o->max_retries = 0;
}

TEST(slow_body_times_out_or_arrives)
{
	c360_mockstore *ms = start_store();
	REQUIRE(ms);
	struct c360_mockstore_faults f = {.slow = 1, .slow_ms = 800, .first_n = 1};
	c360_mockstore_set_faults(ms, &f);
	c360_poller *p = poller_for(ms, tune_slow);
	REQUIRE(p);
	static struct got g;
	memset(&g, 0, sizeof g);
	c360_poller_customer(p, "matthew.groves@couchbase.com", collect, &g);
	CHECK(c360_poller_run(p, 5000) == C360_OK);
	REQUIRE(g.n == 1);
	CHECK_EQ_INT(g.status[0], C360_POLL_TIMEOUT);
	c360_poller_free(p);
	/* with a longer timeout the dribbled body is complete and valid */
	c360_mockstore_set_faults(ms, &f);
	p = poller_for(ms, NULL);
	REQUIRE(p);
	double t0 = now_s();
	c360_poller_customer(p, "matthew.groves@couchbase.com", collect, &g);
	CHECK(c360_poller_run(p, 5000) == C360_OK);
	REQUIRE(g.n == 2);
	CHECK_EQ_INT(g.status[1], C360_POLL_OK);
	CHECK(now_s() - t0 >= 0.6);
	CHECK_EQ_STR(g.orders[1], SEED_ORDERS);
	struct c360_mockstore_counts mc;
	c360_mockstore_counts(ms, &mc);
	CHECK_EQ_INT(mc.slow, 2);
	c360_poller_free(p);
	c360_mockstore_free(ms);
}

static void tune_budget(struct c360_poller_opts *o)
{
	o->concurrency = 1;
	o->max_retries = 3;
	o->retry_budget_min = 2;
	o->retry_budget_ratio = 0;
	o->breaker_failures = -1;
}

TEST(retry_budget_caps_retries)
{
	c360_mockstore *ms = start_store();
	REQUIRE(ms);
	struct c360_mockstore_faults f = {.error_500 = 1};
	c360_mockstore_set_faults(ms, &f);
	c360_poller *p = poller_for(ms, tune_budget);
	REQUIRE(p);
	static struct got g;
	memset(&g, 0, sizeof g);
	for (int i = 0; i < 5; i++)
		c360_poller_customer(p, "matthew.groves@couchbase.com", collect, &g);
	CHECK(c360_poller_run(p, 5000) == C360_OK);
	REQUIRE(g.n == 5);
	for (int i = 0; i < 5; i++) {
		CHECK_EQ_INT(g.status[i], C360_POLL_HTTP);
		CHECK_EQ_INT(g.http[i], 500);
	}
	struct c360_poller_stats st;
	c360_poller_stats(p, &st);
	CHECK_EQ_INT(st.requests, 7); /* 5 first attempts + the budget's 2 retries */
	CHECK_EQ_INT(st.retries, 2);
	CHECK_EQ_INT(st.budget_refused, 5);
	struct c360_mockstore_counts mc;
	c360_mockstore_counts(ms, &mc);
	CHECK_EQ_INT(mc.status_500, 7);
	c360_poller_free(p);
	c360_mockstore_free(ms);
}

static void tune_breaker(struct c360_poller_opts *o)
{
	o->concurrency = 1;
	o->max_retries = 0;
	o->breaker_failures = 3;
	o->breaker_open_ms = 300;
}

TEST(circuit_breaker_opens_probes_and_closes)
{
	c360_mockstore *ms = start_store();
	REQUIRE(ms);
	struct c360_mockstore_faults bad = {.error_500 = 1}, good = {0};
	c360_mockstore_set_faults(ms, &bad);
	c360_poller *p = poller_for(ms, tune_breaker);
	REQUIRE(p);
	static struct got g;
	memset(&g, 0, sizeof g);
	struct c360_mockstore_counts mc;
	struct c360_poller_stats st;
	for (int i = 0; i < 5; i++)
		c360_poller_customer(p, "matthew.groves@couchbase.com", collect, &g);
	CHECK(c360_poller_run(p, 5000) == C360_OK);
	REQUIRE(g.n == 5);
	for (int i = 0; i < 3; i++)
		CHECK_EQ_INT(g.status[i], C360_POLL_HTTP);
	for (int i = 3; i < 5; i++) {
		CHECK_EQ_INT(g.status[i], C360_POLL_CIRCUIT_OPEN);
		CHECK_EQ_INT(g.attempts[i], 0);
	}
	c360_mockstore_counts(ms, &mc);
	CHECK_EQ_INT(mc.details, 3); /* the open circuit sent nothing */
	c360_poller_stats(p, &st);
	CHECK_EQ_INT(st.breaker_opened, 1);

	/* after the open period one probe goes out; it fails: open again */
	usleep(350 * 1000);
	c360_poller_customer(p, "matthew.groves@couchbase.com", collect, &g);
	c360_poller_customer(p, "matthew.groves@couchbase.com", collect, &g);
	CHECK(c360_poller_run(p, 5000) == C360_OK);
	REQUIRE(g.n == 7);
	CHECK_EQ_INT(g.status[5], C360_POLL_HTTP);
	CHECK_EQ_INT(g.status[6], C360_POLL_CIRCUIT_OPEN);
	c360_mockstore_counts(ms, &mc);
	CHECK_EQ_INT(mc.details, 4);

	/* the store heals; the next probe succeeds and the circuit closes */
	c360_mockstore_set_faults(ms, &good);
	c360_poller_customer(p, "matthew.groves@couchbase.com", collect, &g);
	CHECK(c360_poller_run(p, 5000) == C360_OK);
	REQUIRE(g.n == 8);
	CHECK_EQ_INT(g.status[7], C360_POLL_CIRCUIT_OPEN); /* still inside the open period */
	usleep(350 * 1000);
	for (int i = 0; i < 3; i++)
		c360_poller_customer(p, "matthew.groves@couchbase.com", collect, &g);
	CHECK(c360_poller_run(p, 5000) == C360_OK);
	REQUIRE(g.n == 11);
	for (int i = 8; i < 11; i++)
		CHECK_EQ_INT(g.status[i], C360_POLL_OK);
	c360_poller_stats(p, &st);
	CHECK_EQ_INT(st.breaker_closed, 1);
	c360_mockstore_counts(ms, &mc);
	CHECK_EQ_INT(mc.details, 7);
	c360_poller_free(p);
	c360_mockstore_free(ms);
}

static void tune_rate(struct c360_poller_opts *o)
{
	o->rate = 20;
	o->concurrency = 8;
}

TEST(rate_limit_is_respected_per_second)
{
	c360_mockstore *ms = start_store();
	REQUIRE(ms);
	c360_poller *p = poller_for(ms, tune_rate);
	REQUIRE(p);
	static struct got g;
	memset(&g, 0, sizeof g);
	double t0 = now_s();
	for (int i = 0; i < 45; i++) {
		char pid[16];
		int pl = snprintf(pid, sizeof pid, "%d", 100 + 10 * (i % 30));
		c360_poller_product(p, pid, (size_t)pl, collect, &g);
	}
	CHECK(c360_poller_run(p, 10000) == C360_OK);
	double el = now_s() - t0;
	CHECK_EQ_INT(g.n, 45);
	CHECK(el >= 44.0 / 20 - 0.1); /* 45 requests at 20/s: at least 2.2 s */
	struct c360_mockstore_counts mc;
	c360_mockstore_counts(ms, &mc);
	CHECK_EQ_INT(mc.products, 45);
	CHECK(mc.max_per_second <= 21);
	int64_t secs[16];
	uint64_t counts[16];
	size_t n = c360_mockstore_per_second(ms, secs, counts, 16);
	CHECK(n >= 3);
	for (size_t i = 0; i < n; i++)
		CHECK(counts[i] <= 21);
	c360_poller_free(p);
	c360_mockstore_free(ms);
}

static void tune_one(struct c360_poller_opts *o)
{
	o->concurrency = 2;
}

TEST(connections_are_kept_alive)
{
	c360_mockstore *ms = start_store();
	REQUIRE(ms);
	c360_poller *p = poller_for(ms, tune_one);
	REQUIRE(p);
	static struct got g;
	memset(&g, 0, sizeof g);
	for (int i = 0; i < 40; i++)
		c360_poller_customer(p, "matthew.groves@couchbase.com", collect, &g);
	CHECK(c360_poller_run(p, 10000) == C360_OK);
	CHECK_EQ_INT(g.n, MAXR < 40 ? MAXR : 40);
	struct c360_mockstore_counts mc;
	c360_mockstore_counts(ms, &mc);
	CHECK_EQ_INT(mc.details + mc.orders, 80);
	CHECK(mc.connections <= 2); /* 80 requests over the 2 kept-alive connections */
	c360_poller_free(p);
	c360_mockstore_free(ms);
}

static void tune_small(struct c360_poller_opts *o)
{
	o->max_body = 50;
}

TEST(body_cap_and_refused_connection)
{
	c360_mockstore *ms = start_store();
	REQUIRE(ms);
	c360_poller *p = poller_for(ms, tune_small);
	REQUIRE(p);
	static struct got g;
	memset(&g, 0, sizeof g);
	c360_poller_customer(p, "matthew.groves@couchbase.com", collect, &g);
	CHECK(c360_poller_run(p, 5000) == C360_OK);
	REQUIRE(g.n == 1);
	CHECK_EQ_INT(g.status[0], C360_POLL_TOO_BIG);
	CHECK_EQ_INT(g.attempts[0], 1);
	c360_poller_free(p);
	c360_mockstore_free(ms);

	/* a port nobody listens on: refused, retried, then a network error */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	REQUIRE(fd >= 0);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t sl = sizeof sa;
	REQUIRE(bind(fd, (struct sockaddr *)&sa, sl) == 0);
	REQUIRE(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
	close(fd);
	char url[64];
	snprintf(url, sizeof url, "http://127.0.0.1:%d", ntohs(sa.sin_port));
	struct c360_poller_opts o;
	c360_poller_opts_init(&o);
	o.base_url = url;
	o.backoff_ms = 5;
	o.max_retries = 2;
	char err[128];
	REQUIRE(c360_poller_new(&o, &p, err, sizeof err) == C360_OK);
	c360_poller_customer(p, "x@y.z", collect, &g);
	CHECK(c360_poller_run(p, 5000) == C360_OK);
	REQUIRE(g.n == 2);
	CHECK_EQ_INT(g.status[1], C360_POLL_NETWORK);
	CHECK_EQ_INT(g.attempts[1], 3);
	c360_poller_free(p);

	o.base_url = "localhost:80";
	CHECK(c360_poller_new(&o, &p, err, sizeof err) == C360_ERR_INVALID);
	o.base_url = url;
	o.concurrency = 0;
	CHECK(c360_poller_new(&o, &p, err, sizeof err) == C360_ERR_INVALID);
}

TEST(mock_store_loads_json_lines)
{
	char dir[] = "/tmp/c360-rest-XXXXXX";
	REQUIRE(mkdtemp(dir));
	char path[128];
	snprintf(path, sizeof path, "%s/data.jsonl", dir);
	FILE *f = fopen(path, "w");
	REQUIRE(f);
	fputs("{\"ProductId\":5,\"Name\":\"Thing\"}\n"
	      "{\"Id\":7,\"Name\":\"A B\",\"Email\":\"a@b.c\",\"Password\":\"pw\"}\n"
	      "\n"
	      "{\"OrderId\":70,\"CustomerId\":7,\"Items\":[]}\n",
	      f);
	fclose(f);
	struct c360_mockstore_opts mo = {0};
	mo.data_path = path;
	mo.products = 1;
	c360_mockstore *ms = NULL;
	char err[256] = "";
	CHECK(c360_mockstore_new(&mo, &ms, err, sizeof err) == C360_OK);
	REQUIRE(ms);
	CHECK_EQ_INT(c360_mockstore_customer_count(ms), 1);
	CHECK_EQ_STR(c360_mockstore_customer_email(ms, 0), "a@b.c");
	REQUIRE(c360_mockstore_start(ms, err, sizeof err) == C360_OK);
	c360_poller *p = poller_for(ms, NULL);
	REQUIRE(p);
	static struct got g;
	memset(&g, 0, sizeof g);
	c360_poller_customer(p, "a@b.c", collect, &g);
	c360_poller_product(p, "5", 1, collect, &g);
	CHECK(c360_poller_run(p, 5000) == C360_OK);
	REQUIRE(g.n == 2);
	for (int i = 0; i < 2; i++) {
		CHECK_EQ_INT(g.status[i], C360_POLL_OK);
		if (strstr(g.details[i], "\"Id\":7"))
			CHECK_EQ_STR(g.orders[i], "[{\"OrderId\":70,\"CustomerId\":7,\"Items\":[]}]");
	}
	c360_poller_free(p);
	c360_mockstore_free(ms);

	/* a bad line is named by file and line */
	f = fopen(path, "w");
	REQUIRE(f);
	fputs("{\"Id\":7,\"Name\":\"A B\",\"Email\":\"a@b.c\",\"Password\":\"pw\"}\n{\"Id\":8,\n", f);
	fclose(f);
	err[0] = '\0';
	CHECK(c360_mockstore_new(&mo, &ms, err, sizeof err) == C360_ERR_INVALID);
	CHECK(strstr(err, "data.jsonl:2:") != NULL);
	unlink(path);
	rmdir(dir);
}

/* ---- ids that are not whole numbers, against a store of our own ---- */

static const char *id_details; /* getCustomerDetailsByEmail's answer */
static const char *id_orders;  /* getOrdersByCustomerId's answer */
static char seen_cid[256], seen_pid[256];

static enum MHD_Result id_answer(void *cls, struct MHD_Connection *c, const char *url,
				 const char *method, const char *version, const char *upload,
				 size_t *upload_len, void **con_cls)
{
	(void)cls, (void)method, (void)version, (void)upload, (void)upload_len, (void)con_cls;
	char buf[512];
	const char *body = "{}";
	if (strstr(url, "getCustomerDetailsByEmail")) {
		body = id_details;
	} else if (strstr(url, "getOrdersByCustomerId")) {
		const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "customerId");
		snprintf(seen_cid, sizeof seen_cid, "%s", v ? v : "");
		body = id_orders;
	} else if (strstr(url, "getProductDetailsByProductId")) {
		const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "productId");
		snprintf(seen_pid, sizeof seen_pid, "%s", v ? v : "");
		snprintf(buf, sizeof buf, "{\"ProductId\":\"%s\",\"Name\":\"Thing\"}", seen_pid);
		body = buf;
	}
	struct MHD_Response *r =
		MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	return ret;
}

TEST(ids_may_be_strings_or_numbers)
{
	const char *t;
	size_t n;
	c360_json_doc *d = NULL;
	const char *doc = "[27,\"27\",\"5b0c1d2e-8a41-4d07-9c3e-00000000002a\",1e2,null,\"\",{},"
			  "\"a\\u0001b\",true]";
	REQUIRE(!c360_json_parse(doc, strlen(doc), NULL, &d, NULL));
	c360_json *a = c360_json_doc_root(d);
	CHECK(c360_poll_id(c360_json_at(a, 0), &t, &n) && n == 2 && !memcmp(t, "27", 2));
	CHECK(c360_poll_id(c360_json_at(a, 1), &t, &n) && n == 2 && !memcmp(t, "27", 2));
	CHECK(c360_poll_id(c360_json_at(a, 2), &t, &n) && n == 36);
	CHECK(c360_poll_id(c360_json_at(a, 3), &t, &n) && n == 3 && !memcmp(t, "1e2", 3));
	for (size_t i = 4; i < 9; i++)
		CHECK(!c360_poll_id(c360_json_at(a, i), &t, &n));
	c360_json_doc_free(d);

	struct MHD_Daemon *http = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
						   id_answer, NULL, MHD_OPTION_END);
	REQUIRE(http);
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(http, MHD_DAEMON_INFO_BIND_PORT);
	char base[64];
	snprintf(base, sizeof base, "http://127.0.0.1:%u", di ? di->port : 0);
	struct c360_poller_opts o;
	c360_poller_opts_init(&o);
	o.base_url = base;
	o.max_retries = -1;
	c360_poller *p = NULL;
	char err[256];
	REQUIRE(c360_poller_new(&o, &p, err, sizeof err) == C360_OK);
	static struct got g;

	/* a string Id with characters that must be encoded: sent as given */
	memset(&g, 0, sizeof g);
	id_details = "{\"Id\":\"C 27/\xc3\xbc&x\",\"Name\":\"N\",\"Email\":\"a@b\",\"Password\":\"p\"}";
	id_orders = "[{\"OrderId\":\"O-1\",\"CustomerId\":\"C 27/\xc3\xbc&x\",\"Items\":[]}]";
	c360_poller_customer(p, "a@b", collect, &g);
	CHECK(c360_poller_run(p, 5000) == C360_OK);
	REQUIRE(g.n == 1);
	CHECK_EQ_INT(g.status[0], C360_POLL_OK);
	CHECK_EQ_STR(seen_cid, "C 27/\xc3\xbc&x");
	CHECK(strstr(g.orders[0], "\"OrderId\":\"O-1\"") != NULL);

	/* a number Id is sent as written */
	memset(&g, 0, sizeof g);
	id_details = "{\"Id\":27,\"Email\":\"a@b\"}";
	id_orders = "[]";
	c360_poller_customer(p, "a@b", collect, &g);
	CHECK(c360_poller_run(p, 5000) == C360_OK);
	CHECK(g.n == 1 && g.status[0] == C360_POLL_OK);
	CHECK_EQ_STR(seen_cid, "27");

	/* no usable Id or OrderId: malformed, with the reason */
	const char *bad[] = {"{\"Email\":\"a@b\"}", "{\"Id\":null}", "{\"Id\":\"\"}",
			     "{\"Id\":{\"x\":1}}", "{\"Id\":true}"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		memset(&g, 0, sizeof g);
		id_details = bad[i];
		c360_poller_customer(p, "a@b", collect, &g);
		CHECK(c360_poller_run(p, 5000) == C360_OK);
		CHECK(g.n == 1 && g.status[0] == C360_POLL_MALFORMED);
		CHECK(strstr(g.reason[0], "no \"Id\" (a string or number") != NULL);
	}
	memset(&g, 0, sizeof g);
	id_details = "{\"Id\":\"u-1\"}";
	id_orders = "[{\"OrderId\":\"O-1\"},{\"OrderId\":null}]";
	c360_poller_customer(p, "a@b", collect, &g);
	CHECK(c360_poller_run(p, 5000) == C360_OK);
	CHECK(g.n == 1 && g.status[0] == C360_POLL_MALFORMED);
	CHECK(strstr(g.reason[0], "order 1 is not an object with an \"OrderId\"") != NULL);

	/* a product id is text too */
	memset(&g, 0, sizeof g);
	c360_poller_product(p, "P 1/\xc3\xbc", 7, collect, &g);
	CHECK(c360_poller_run(p, 5000) == C360_OK);
	CHECK(g.n == 1 && g.status[0] == C360_POLL_OK);
	CHECK_EQ_STR(seen_pid, "P 1/\xc3\xbc");
	CHECK(c360_poller_product(p, "", 0, collect, &g) == C360_ERR_INVALID);
	c360_poller_free(p);
	MHD_stop_daemon(http);
}

int main(void)
{
	c360_log_set_level(C360_LOG_ERROR);
	RUN(seed_example_details_and_orders);
	RUN(unknown_email_is_not_found_and_product_and_get);
	RUN(emails_are_percent_encoded);
	RUN(absolute_and_base_urls_alternate_on_one_handle);
	RUN(callbacks_take_the_parsed_documents);
	RUN(latency_beyond_the_timeout_times_out_after_retries);
	RUN(status_500_is_retried);
	RUN(status_503_honours_retry_after);
	RUN(retry_after_does_not_outlive_its_answer);
	RUN(status_429_is_retried_after_retry_after);
	RUN(malformed_json_is_reported_not_retried);
	RUN(dropped_connection_is_retried);
	RUN(slow_body_times_out_or_arrives);
	RUN(retry_budget_caps_retries);
	RUN(circuit_breaker_opens_probes_and_closes);
	RUN(rate_limit_is_respected_per_second);
	RUN(connections_are_kept_alive);
	RUN(body_cap_and_refused_connection);
	RUN(mock_store_loads_json_lines);
	RUN(ids_may_be_strings_or_numbers);
	return test_summary();
}
