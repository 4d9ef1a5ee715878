/* One `c360 poll` pass in-process: a temporary store, the mock online store
 * on a free port; the seed's documents, the xref merge, the refresh policy,
 * malformed answers leaving documents unchanged, unknown customers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/json.h"
#include "core/log.h"
#include "sources/rest/mockstore.h"
#include "sources/rest/pollrun.h"
#include "store/store.h"
#include "test.h"
#include "core/banned.h"

static char dir[] = "/tmp/c360-pollrun-XXXXXX";
static c360_mockstore *ms;

static c360_store *open_store(const char *name)
{
	char path[128];
	snprintf(path, sizeof path, "%s/%s.db", dir, name);
	struct c360_store_opts so;
	c360_store_opts_init(&so);
	so.synchronous = C360_SYNC_OFF;
	c360_store *st = NULL;
	char err[256];
	if (c360_store_open(path, &so, &st, err, sizeof err))
		printf("  store_open: %s\n", err);
	return st;
}

static char *read_file(const char *rel)
{
	const char *src = getenv("C360_SRC");
	char path[512];
	snprintf(path, sizeof path, "%s/%s", src ? src : "../..", rel);
	FILE *f = fopen(path, "rb");
	if (!f) {
		printf("  cannot open %s\n", path);
		return NULL;
	}
	struct c360_buf b;
	c360_buf_init(&b, 1 << 20);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		c360_buf_append(&b, chunk, n);
	fclose(f);
	return c360_buf_detach(&b, NULL);
}

/* The stored document key equals the JSON text want (structurally). */
static bool doc_equals(c360_store *st, const char *bucket, const char *key, const char *want)
{
	struct c360_doc d = {0};
	if (c360_store_get(st, bucket, key, strlen(key), &d)) {
		printf("  no document '%s'\n", key);
		return false;
	}
	c360_json_doc *a = NULL, *b = NULL;
	bool eq = !c360_json_parse(d.value, d.value_len, NULL, &a, NULL) &&
		  !c360_json_parse(want, strlen(want), NULL, &b, NULL) &&
		  c360_json_equal(c360_json_doc_root(a), c360_json_doc_root(b));
	if (!eq)
		printf("  '%s' is %s\n  expected %s\n", key, d.value, want);
	c360_json_doc_free(a);
	c360_json_doc_free(b);
	c360_doc_release(&d);
	return eq;
}

static char *get_value(c360_store *st, const char *bucket, const char *key)
{
	struct c360_doc d = {0};
	if (c360_store_get(st, bucket, key, strlen(key), &d))
		return NULL;
	char *v = strdup(d.value);
	c360_doc_release(&d);
	return v;
}

static void opts_for(struct c360_pollrun_opts *o, const char *emails_from)
{
	c360_pollrun_opts_init(o);
	o->poller.base_url = c360_mockstore_url(ms);
	o->poller.backoff_ms = 10;
	o->emails_from = emails_from;
}

static c360_rc run(c360_store *st, struct c360_pollrun_opts *o, struct c360_pollrun_stats *s)
{
	char err[256] = "";
	c360_rc rc = c360_pollrun(st, o, s, err, sizeof err);
	if (rc)
		printf("  pollrun: %s (%s)\n", c360_rc_str(rc), err);
	return rc;
}

static void seed_staging(c360_store *st)
{
	char *env = read_file("tests/fixtures/debezium/customer_with_schema.json");
	char *loy = read_file("functions/tests/matthew_groves/loyalty_member.json");
	c360_store_bucket_ensure(st, "staging", 0);
	if (env)
		c360_store_upsert(st, "staging", "matthew.groves@couchbase.com", 28, env,
				  strlen(env), 0, NULL);
	if (loy)
		c360_store_upsert(st, "staging", "key::1", 6, loy, strlen(loy), 0, NULL);
	free(env);
	free(loy);
}

TEST(seed_example_gives_the_seed_documents)
{
	c360_store *st = open_store("seed");
	REQUIRE(st);
	seed_staging(st);
	struct c360_pollrun_opts o;
	opts_for(&o, "staging");
	struct c360_pollrun_stats s;
	REQUIRE(run(st, &o, &s) == C360_OK);
	CHECK_EQ_INT(s.candidates, 1);
	CHECK_EQ_INT(s.polled, 1);
	CHECK_EQ_INT(s.failed, 0);
	CHECK_EQ_INT(s.created, 1);
	CHECK_EQ_INT(s.orders, 2);
	CHECK_EQ_INT(s.products, 6);
	CHECK_EQ_INT(s.write_errors, 0);
	CHECK(doc_equals(st, "customer360", "matthew.groves@couchbase.com",
			 "{\"type\":\"user\",\"profile\":{\"name\":\"Matthew Groves\"},\"xrefs\":["
			 "{\"external_system\":\"online_store\",\"external_ID\":1,"
			 "\"pass\":\"edzchzmatv5\"}]}"));
	char *o1 = read_file("functions/tests/matthew_groves/expected/order::1.json");
	char *o2 = read_file("functions/tests/matthew_groves/expected/order::2.json");
	REQUIRE(o1 && o2);
	CHECK(doc_equals(st, "customer360", "order::1", o1));
	CHECK(doc_equals(st, "customer360", "order::2", o2));
	free(o1);
	free(o2);
	CHECK(doc_equals(st, "customer360", "product::200",
			 "{\"ProductId\":200,\"Name\":\"Novel 200\",\"Category\":\"grocery\","
			 "\"Price\":246.50}"));
	char *state = get_value(st, C360_META_BUCKET, "poll::matthew.groves@couchbase.com");
	REQUIRE(state);
	CHECK(strstr(state, "\"status\":\"ok\"") != NULL);
	CHECK(strstr(state, "\"external_ID\":1") != NULL);
	free(state);
	c360_store_close(st);
}

TEST(xref_merges_into_an_existing_customer_and_is_idempotent)
{
	c360_store *st = open_store("merge");
	REQUIRE(st);
	c360_store_bucket_ensure(st, "customer360", 0);
	const char *doc = "{\"type\":\"user\",\"profile\":{\"name\":\"Matthew Groves\",\"city\":"
			  "\"West Evertchester\"},\"loyaltyPoints\":\"47\",\"xrefs\":["
			  "{\"external_system\":\"online_store\",\"external_ID\":99,\"pass\":\"old\"},"
			  "{\"external_system\":\"home_delivery\",\"external_ID\":1029,\"pass\":"
			  "\"5owhiy1j.isq\"}]}";
	REQUIRE(c360_store_upsert(st, "customer360", "matthew.groves@couchbase.com", 28, doc,
				  strlen(doc), 0, NULL) == C360_OK);
	const char *order = "{\"type\":\"order\"}"; /* not a user: never polled */
	c360_store_upsert(st, "customer360", "order::77", 9, order, strlen(order), 0, NULL);
	/* the poll's own order:: and product:: keys are never candidates */
	const char *odd = "{\"type\":\"user\"}";
	c360_store_upsert(st, "customer360", "order::88", 9, odd, strlen(odd), 0, NULL);
	c360_store_upsert(st, "customer360", "product::9", 10, odd, strlen(odd), 0, NULL);
	struct c360_pollrun_opts o;
	opts_for(&o, NULL);
	struct c360_pollrun_stats s;
	REQUIRE(run(st, &o, &s) == C360_OK);
	CHECK_EQ_INT(s.candidates, 1);
	CHECK_EQ_INT(s.polled, 1);
	CHECK_EQ_INT(s.updated, 1);
	CHECK_EQ_INT(s.created, 0);
	CHECK(doc_equals(st, "customer360", "matthew.groves@couchbase.com",
			 "{\"type\":\"user\",\"profile\":{\"name\":\"Matthew Groves\",\"city\":"
			 "\"West Evertchester\"},\"loyaltyPoints\":\"47\",\"xrefs\":["
			 "{\"external_system\":\"online_store\",\"external_ID\":1,\"pass\":"
			 "\"edzchzmatv5\"},{\"external_system\":\"home_delivery\",\"external_ID\":1029,"
			 "\"pass\":\"5owhiy1j.isq\"}]}"));
	uint64_t high1 = 0, high2 = 0;
	c360_feed_high_seqno(st, "customer360", &high1);
	/* a forced second pass finds nothing new: no document is rewritten */
	o.force = true;
	REQUIRE(run(st, &o, &s) == C360_OK);
	CHECK_EQ_INT(s.polled, 1);
	CHECK_EQ_INT(s.updated, 0);
	CHECK_EQ_INT(s.orders, 0);
	CHECK_EQ_INT(s.products, 0);
	c360_feed_high_seqno(st, "customer360", &high2);
	CHECK_EQ_INT(high2, high1);
	c360_store_close(st);
}

TEST(refresh_policy)
{
	c360_store *st = open_store("policy");
	REQUIRE(st);
	seed_staging(st);
	struct c360_pollrun_opts o;
	opts_for(&o, "staging");
	struct c360_pollrun_stats s;
	struct c360_mockstore_counts before, after;
	REQUIRE(run(st, &o, &s) == C360_OK);
	CHECK_EQ_INT(s.polled, 1);
	/* again at once: younger than --min-interval (default 5 min) */
	c360_mockstore_counts(ms, &before);
	REQUIRE(run(st, &o, &s) == C360_OK);
	CHECK_EQ_INT(s.skipped, 1);
	CHECK_EQ_INT(s.polled, 0);
	c360_mockstore_counts(ms, &after);
	CHECK_EQ_INT(after.details, before.details);
	/* no minimum interval, staging unchanged, younger than --max-age: skipped */
	o.min_interval_s = 0;
	REQUIRE(run(st, &o, &s) == C360_OK);
	CHECK_EQ_INT(s.skipped, 1);
	/* staging changes: polled again, but the products are still fresh */
	const char *loy = "{\"id\":\"27\",\"email\":\"matthew.groves@couchbase.com\",\"points\":\"48\"}";
	c360_store_upsert(st, "staging", "key::1", 6, loy, strlen(loy), 0, NULL);
	c360_mockstore_counts(ms, &before);
	REQUIRE(run(st, &o, &s) == C360_OK);
	CHECK_EQ_INT(s.polled, 1);
	c360_mockstore_counts(ms, &after);
	CHECK_EQ_INT(after.details, before.details + 1);
	CHECK_EQ_INT(after.products, before.products);
	REQUIRE(run(st, &o, &s) == C360_OK);
	CHECK_EQ_INT(s.skipped, 1);
	/* older than --max-age: polled again, products fetched again */
	o.max_age_s = 0;
	c360_mockstore_counts(ms, &before);
	REQUIRE(run(st, &o, &s) == C360_OK);
	CHECK_EQ_INT(s.polled, 1);
	c360_mockstore_counts(ms, &after);
	CHECK_EQ_INT(after.products, before.products + 6);
	/* but never more often than --min-interval */
	o.min_interval_s = 3600;
	REQUIRE(run(st, &o, &s) == C360_OK);
	CHECK_EQ_INT(s.skipped, 1);
	c360_store_close(st);
}

TEST(malformed_answers_leave_documents_unchanged)
{
	c360_store *st = open_store("malformed");
	REQUIRE(st);
	seed_staging(st);
	struct c360_pollrun_opts o;
	opts_for(&o, "staging");
	struct c360_pollrun_stats s;
	REQUIRE(run(st, &o, &s) == C360_OK);
	char *cust = get_value(st, "customer360", "matthew.groves@couchbase.com");
	char *state = get_value(st, C360_META_BUCKET, "poll::matthew.groves@couchbase.com");
	REQUIRE(cust && state);
	uint64_t high1 = 0, high2 = 0;
	c360_feed_high_seqno(st, "customer360", &high1);
	/* every answer is cut off */
	struct c360_mockstore_faults f = {.malformed = 1};
	c360_mockstore_set_faults(ms, &f);
	o.force = true;
	REQUIRE(run(st, &o, &s) == C360_OK);
	struct c360_mockstore_faults none = {0};
	c360_mockstore_set_faults(ms, &none);
	CHECK_EQ_INT(s.failed, 1);
	CHECK_EQ_INT(s.by_status[C360_POLL_MALFORMED], 1);
	CHECK_EQ_INT(s.polled, 0);
	c360_feed_high_seqno(st, "customer360", &high2);
	CHECK_EQ_INT(high2, high1);
	char *cust2 = get_value(st, "customer360", "matthew.groves@couchbase.com");
	char *state2 = get_value(st, C360_META_BUCKET, "poll::matthew.groves@couchbase.com");
	CHECK(cust2 && !strcmp(cust, cust2));
	CHECK(state2 && !strcmp(state, state2));
	free(cust);
	free(cust2);
	free(state);
	free(state2);
	c360_store_close(st);
}

TEST(unknown_customers_and_special_emails)
{
	c360_store *st = open_store("unknown");
	REQUIRE(st);
	c360_store_bucket_ensure(st, "staging", 0);
	const char *a = "{\"email\":\"nobody@nowhere.example\"}";
	const char *b = "{\"payload\":{\"after\":{\"email\":\"a+b@x.com\"}}}";
	const char *c = "{\"after\":{\"email\":\"  ZOË@EXÄMPLE.COM \"}}"; /* trimmed, ASCII lower-cased */
	const char *d = "{\"no\":\"email\"}";
	c360_store_upsert(st, "staging", "1", 1, a, strlen(a), 0, NULL);
	c360_store_upsert(st, "staging", "2", 1, b, strlen(b), 0, NULL);
	c360_store_upsert(st, "staging", "3", 1, c, strlen(c), 0, NULL);
	c360_store_upsert(st, "staging", "4", 1, d, strlen(d), 0, NULL);
	struct c360_pollrun_opts o;
	opts_for(&o, "staging");
	struct c360_pollrun_stats s;
	REQUIRE(run(st, &o, &s) == C360_OK);
	CHECK_EQ_INT(s.candidates, 3);
	CHECK_EQ_INT(s.polled, 1); /* a+b@x.com */
	CHECK_EQ_INT(s.not_found, 2);
	CHECK(doc_equals(st, "customer360", "a+b@x.com",
			 "{\"type\":\"user\",\"profile\":{\"name\":\"Plus Sign\"},\"xrefs\":["
			 "{\"external_system\":\"online_store\",\"external_ID\":9001,\"pass\":"
			 "\"p1\"}]}"));
	char *v = get_value(st, "customer360", "nobody@nowhere.example");
	CHECK(v == NULL);
	free(v);
	v = get_value(st, C360_META_BUCKET, "poll::nobody@nowhere.example");
	CHECK(v && strstr(v, "not found"));
	free(v);
	/* a missing bucket is an error */
	o.emails_from = "no_such_bucket";
	char err[256] = "";
	CHECK(c360_pollrun(st, &o, &s, err, sizeof err) == C360_ERR_NOT_FOUND);
	CHECK(strstr(err, "no_such_bucket") != NULL);
	c360_store_close(st);
}

/* A stored value that is not JSON (written as trusted) makes the fast
 * enumeration queries fail; the guarded ones skip it. */
TEST(malformed_stored_documents_are_skipped)
{
	c360_store *st = open_store("badjson");
	REQUIRE(st);
	c360_store_bucket_ensure(st, "staging", 0);
	c360_store_bucket_ensure(st, "customer360", 0);
	const char *a = "{\"email\":\"a+b@x.com\"}";
	c360_store_upsert(st, "staging", "1", 1, a, strlen(a), 0, NULL);
	const char *u = "{\"type\":\"user\"}";
	c360_store_upsert(st, "customer360", "matthew.groves@couchbase.com", 28, u, strlen(u), 0,
			  NULL);
	struct c360_write w[2] = {
		{.type = C360_WRITE_UPSERT, .bucket = "staging", .key = "0", .key_len = 1,
		 .value = "{not json", .value_len = 9, .flags = C360_WRITE_TRUSTED_JSON},
		{.type = C360_WRITE_UPSERT, .bucket = "customer360", .key = "a", .key_len = 1,
		 .value = "{not json", .value_len = 9, .flags = C360_WRITE_TRUSTED_JSON},
	};
	REQUIRE(c360_store_write(st, w, 2) == C360_OK);
	REQUIRE(w[0].rc == C360_OK && w[1].rc == C360_OK);
	struct c360_pollrun_opts o;
	opts_for(&o, "staging");
	struct c360_pollrun_stats s;
	REQUIRE(run(st, &o, &s) == C360_OK);
	CHECK_EQ_INT(s.candidates, 1);
	CHECK_EQ_INT(s.polled, 1);
	opts_for(&o, NULL);
	o.force = true;
	REQUIRE(run(st, &o, &s) == C360_OK);
	/* a+b@x.com (now a user document) and matthew.groves */
	CHECK_EQ_INT(s.candidates, 2);
	CHECK_EQ_INT(s.polled, 2);
	c360_store_close(st);
}

TEST(rate_limit_holds_across_poller_threads)
{
	c360_store *st = open_store("rate");
	REQUIRE(st);
	c360_store_bucket_ensure(st, "customer360", 0);
	const char *user = "{\"type\":\"user\"}";
	for (uint64_t i = 0; i < c360_mockstore_customer_count(ms) && i < 11; i++) {
		const char *e = c360_mockstore_customer_email(ms, i);
		c360_store_upsert(st, "customer360", e, strlen(e), user, strlen(user), 0, NULL);
	}
	struct c360_pollrun_opts o;
	opts_for(&o, NULL);
	o.poller.rate = 40;
	c360_mockstore_reset_counts(ms);
	struct c360_pollrun_stats s;
	REQUIRE(run(st, &o, &s) == C360_OK);
	CHECK_EQ_INT(s.polled, 11);
	struct c360_mockstore_counts mc;
	c360_mockstore_counts(ms, &mc);
	uint64_t reqs = mc.details + mc.orders + mc.products;
	CHECK_EQ_INT(reqs, s.http.requests);
	CHECK(reqs >= 22);
	CHECK(mc.max_per_second <= 42); /* 40/s, plus one token of burst per thread */
	CHECK(s.seconds >= (double)(reqs - 2) / 40 - 0.05);
	c360_store_close(st);
}

int main(void)
{
	c360_log_set_level(C360_LOG_ERROR);
	if (!mkdtemp(dir))
		return 1;
	struct c360_mockstore_opts mo = {0};
	mo.seed_example = true;
	mo.customers = 10;
	char err[256];
	if (c360_mockstore_new(&mo, &ms, err, sizeof err))
		return 1;
	c360_mockstore_add_customer(ms, 9001, "Plus Sign", "a+b@x.com", "p1");
	c360_mockstore_add_customer(ms, 9004, "Zoë", "zoë@exämple.com", "p4");
	if (c360_mockstore_start(ms, err, sizeof err)) {
		printf("mockstore: %s\n", err);
		return 1;
	}
	RUN(seed_example_gives_the_seed_documents);
	RUN(xref_merges_into_an_existing_customer_and_is_idempotent);
	RUN(refresh_policy);
	RUN(malformed_answers_leave_documents_unchanged);
	RUN(unknown_customers_and_special_emails);
	RUN(malformed_stored_documents_are_skipped);
	RUN(rate_limit_holds_across_poller_threads);
	c360_mockstore_free(ms);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("cannot remove %s\n", dir);
	return test_summary();
}
