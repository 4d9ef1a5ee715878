/* functions/customer360.js on the seed's Matthew Groves example: the staging
 * documents plus a local online store (libmicrohttpd, in this test) must give
 * exactly the documents in functions/tests/matthew_groves/expected/. */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/json.h"
#include "eventing/eventing.h"
#include "runtime/eventing_test.h"
#include "sources/rest/mockstore.h"
#include "test.h"
#include "core/banned.h"

static int hits_details, hits_orders;
static int fail_orders;

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url, const char *method,
			      const char *version, const char *upload, size_t *upload_len, void **con_cls)
{
	const char *file = NULL;
	unsigned status = 200;
	if (!strcmp(url, "/api/onlineStore/getCustomerDetailsByEmail")) {
		const char *e = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "customerEmail");
		hits_details++;
		if (e && !strcmp(e, "matthew.groves@couchbase.com"))
			file = "functions/tests/matthew_groves/online_store/getCustomerDetailsByEmail.json";
		else
			status = 404;
	} else if (!strcmp(url, "/api/onlineStore/getOrdersByCustomerId")) {
		const char *id = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "customerId");
		hits_orders++;
		if (fail_orders)
			status = 500;
		else if (id && !strcmp(id, "1"))
			file = "functions/tests/matthew_groves/online_store/getOrdersByCustomerId.json";
		else
			status = 404;
	} else {
		status = 404;
	}
	char *body = file ? slurp(file) : strdup("{\"error\":\"not found\"}");
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(r, "Content-Type", "application/json");
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* Deploys functions/customer360.json with the online store at port (0 = off). */
static int deploy(int port, int workers)
{
	char err[1024], spec[256];
	struct c360_fn_def def;
	char *json = slurp("functions/customer360.json");
	if (!json)
		return -1;
	c360_rc rc = c360_fn_def_parse(json, strlen(json), &def, err, sizeof err);
	free(json);
	if (!rc) {
		snprintf(spec, sizeof spec, "url:onlineStore=http://127.0.0.1:%d", port ? port : 9);
		rc = c360_fn_def_add_binding(&def, spec, err, sizeof err);
	}
	if (!rc)
		rc = c360_fn_def_add_binding(&def, port ? "constant:pollOnlineStore=true"
							 : "constant:pollOnlineStore=false",
					     err, sizeof err);
	def.worker_count = workers;
	if (!rc)
		rc = c360_fn_deploy(st, &def, err, sizeof err);
	if (rc)
		printf("  deploy: %s\n", err);
	c360_fn_def_release(&def);
	return rc;
}

static void stage(const char *key, const char *rel)
{
	char *v = slurp(rel);
	c360_store_bucket_ensure(st, "staging", 0);
	if (!v || c360_store_upsert(st, "staging", key, strlen(key), v, strlen(v), 0, NULL))
		printf("  cannot stage %s\n", rel);
	free(v);
}

/* customer360[key] equals the expected file (structurally). */
static int doc_is(const char *key, const char *rel)
{
	struct c360_doc d = {0};
	c360_json_doc *a = NULL, *b = NULL;
	char *want = slurp(rel);
	int ok = 0;
	if (c360_store_get(st, "customer360", key, strlen(key), &d)) {
		printf("  customer360 has no '%s'\n", key);
		goto out;
	}
	if (!want || c360_json_parse(d.value, d.value_len, NULL, &a, NULL) ||
	    c360_json_parse(want, strlen(want), NULL, &b, NULL))
		goto out;
	ok = c360_json_equal(c360_json_doc_root(a), c360_json_doc_root(b));
	if (!ok)
		printf("  customer360['%s'] = %s\n  expected %s\n", key, d.value, want);
out:
	c360_json_doc_free(a);
	c360_json_doc_free(b);
	c360_doc_release(&d);
	free(want);
	return ok;
}

static uint64_t count(void)
{
	struct c360_bucket_info bi;
	if (c360_store_bucket_info(st, "customer360", &bi))
		return 0;
	return bi.count;
}

static struct MHD_Daemon *start_http(int *port)
{
	struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, answer, NULL,
						MHD_OPTION_SOCK_ADDR, NULL, MHD_OPTION_END);
	const union MHD_DaemonInfo *i = d ? MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT) : NULL;
	*port = i ? i->port : 0;
	return d;
}

#define EXP "functions/tests/matthew_groves/expected/"

TEST(matthew_groves_gives_exactly_the_seed_documents)
{
	int port;
	struct MHD_Daemon *http = start_http(&port);
	REQUIRE(http && port > 0);
	open_store(NULL);
	REQUIRE(deploy(port, 1) == 0);
	stage("{\"id\":1029}", "tests/fixtures/debezium/customer_with_schema.json");
	stage("key::1", "functions/tests/matthew_groves/loyalty_member.json");
	struct c360_fn_stats s;
	REQUIRE(run_until_idle("ingestionCustomer360", NULL, &s) == 0);
	CHECK_EQ_INT(s.processed, 2);
	CHECK_EQ_INT(s.failures, 0);
	CHECK_EQ_INT(count(), 3);
	CHECK(doc_is("matthew.groves@couchbase.com", EXP "matthew.groves@couchbase.com.json"));
	CHECK(doc_is("order::1", EXP "order::1.json"));
	CHECK(doc_is("order::2", EXP "order::2.json"));
	CHECK_EQ_INT(hits_details, 2);
	CHECK_EQ_INT(hits_orders, 2);
	close_store();
	MHD_stop_daemon(http);
}

TEST(arrival_order_and_schemaless_envelope_give_the_same_documents)
{
	int port;
	struct MHD_Daemon *http = start_http(&port);
	REQUIRE(http && port > 0);
	open_store(NULL);
	REQUIRE(deploy(port, 2) == 0);
	stage("key::1", "functions/tests/matthew_groves/loyalty_member.json");
	stage("{\"id\":1029}", "tests/fixtures/debezium/customer_no_schema.json");
	REQUIRE(run_until_idle("ingestionCustomer360", NULL, NULL) == 0);
	CHECK_EQ_INT(count(), 3);
	CHECK(doc_is("matthew.groves@couchbase.com", EXP "matthew.groves@couchbase.com.json"));
	/* the same change again (a replay after a crash) changes nothing */
	stage("key::1", "functions/tests/matthew_groves/loyalty_member.json");
	REQUIRE(run_until_idle("ingestionCustomer360", NULL, NULL) == 0);
	CHECK_EQ_INT(count(), 3);
	CHECK(doc_is("matthew.groves@couchbase.com", EXP "matthew.groves@couchbase.com.json"));
	close_store();
	MHD_stop_daemon(http);
}

TEST(online_store_off_or_failing)
{
	open_store(NULL);
	REQUIRE(deploy(0, 1) == 0); /* pollOnlineStore = false */
	stage("{\"id\":1029}", "tests/fixtures/debezium/customer_with_schema.json");
	stage("key::1", "functions/tests/matthew_groves/loyalty_member.json");
	struct c360_fn_stats s;
	REQUIRE(run_until_idle("ingestionCustomer360", NULL, &s) == 0);
	CHECK_EQ_INT(s.failures, 0);
	CHECK_EQ_INT(count(), 1);
	struct c360_doc d = {0};
	REQUIRE(c360_store_get(st, "customer360", "matthew.groves@couchbase.com", 28, &d) == 0);
	CHECK(strstr(d.value, "online_store") == NULL);
	CHECK(strstr(d.value, "\"loyaltyPoints\":\"47\"") != NULL);
	c360_doc_release(&d);
	close_store();

	/* the orders endpoint fails: the customer keeps the online_store xref, no orders */
	int port;
	struct MHD_Daemon *http = start_http(&port);
	REQUIRE(http);
	fail_orders = 1;
	open_store(NULL);
	REQUIRE(deploy(port, 1) == 0);
	stage("{\"id\":1029}", "tests/fixtures/debezium/customer_with_schema.json");
	REQUIRE(run_until_idle("ingestionCustomer360", NULL, &s) == 0);
	CHECK_EQ_INT(s.failures, 0);
	CHECK_EQ_INT(count(), 1);
	fail_orders = 0;
	close_store();
	MHD_stop_daemon(http);
}

/* A store whose ids are strings or UUIDs (c360-mock-store's id styles): the
 * xref's external_ID is the store's Id as given, the orders are asked for
 * with it and written as order::<OrderId>, each with that CustomerId. */
static void online_ids(enum c360_mockstore_id_style style)
{
	struct c360_mockstore_opts o = {.seed_example = true, .id_style = style, .products = 50};
	c360_mockstore *ms = NULL;
	char err[256];
	REQUIRE(c360_mockstore_new(&o, &ms, err, sizeof err) == C360_OK);
	REQUIRE(c360_mockstore_start(ms, err, sizeof err) == C360_OK);
	open_store(NULL);
	REQUIRE(deploy(c360_mockstore_port(ms), 1) == 0);
	stage("key::1", "functions/tests/matthew_groves/loyalty_member.json");
	struct c360_fn_stats s;
	REQUIRE(run_until_idle("ingestionCustomer360", NULL, &s) == 0);
	CHECK_EQ_INT(s.failures, 0);
	CHECK_EQ_INT(count(), 3); /* the customer and its two orders */
	struct c360_buf dump;
	c360_buf_init(&dump, 0);
	REQUIRE(c360_mockstore_dump(ms, &dump) == C360_OK);
	struct c360_doc d = {0};
	c360_json_doc *cd = NULL;
	REQUIRE(c360_store_get(st, "customer360", "matthew.groves@couchbase.com", 28, &d) == 0);
	REQUIRE(!c360_json_parse(d.value, d.value_len, NULL, &cd, NULL));
	c360_json *ext = NULL;
	for (c360_json *x = c360_json_first(c360_json_get(c360_json_doc_root(cd), "xrefs")); x;
	     x = c360_json_next(x)) {
		const char *sys = c360_json_str(c360_json_get(x, "external_system"), NULL);
		if (sys && !strcmp(sys, "online_store"))
			ext = c360_json_get(x, "external_ID");
	}
	size_t elen = 0;
	CHECK(c360_json_is_string(ext) && c360_json_str(ext, &elen) &&
	      elen == (style == C360_MOCKSTORE_ID_UUID ? 36u : 1u));
	int orders = 0;
	for (char *line = dump.data, *nl; line && *line; line = nl ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		c360_json_doc *ld = NULL;
		if (c360_json_parse(line, nl ? (size_t)(nl - line) : strlen(line), NULL, &ld, NULL))
			continue;
		c360_json *r = c360_json_doc_root(ld);
		c360_json *oid = c360_json_get(r, "OrderId");
		if (c360_json_is_string(oid) && !c360_json_get(r, "ProductId")) {
			orders++;
			CHECK(c360_json_equal(c360_json_get(r, "CustomerId"), ext));
			char key[128];
			snprintf(key, sizeof key, "order::%s", c360_json_str(oid, NULL));
			struct c360_doc od = {0};
			c360_json_doc *odd = NULL;
			CHECK(!c360_store_get(st, "customer360", key, strlen(key), &od) &&
			      !c360_json_parse(od.value, od.value_len, NULL, &odd, NULL) &&
			      c360_json_equal(c360_json_doc_root(odd), r));
			c360_json_doc_free(odd);
			c360_doc_release(&od);
		}
		c360_json_doc_free(ld);
	}
	CHECK_EQ_INT(orders, 2);
	c360_json_doc_free(cd);
	c360_doc_release(&d);
	c360_buf_release(&dump);
	close_store();
	c360_mockstore_free(ms);
}

TEST(online_store_string_ids)
{
	online_ids(C360_MOCKSTORE_ID_STRING);
}

TEST(online_store_uuid_ids)
{
	online_ids(C360_MOCKSTORE_ID_UUID);
}

TEST(shipped_json_carries_the_shipped_js)
{
	char *js = slurp("functions/customer360.js");
	char *json = slurp("functions/customer360.json");
	struct c360_fn_def def;
	char err[512];
	REQUIRE(js && json);
	REQUIRE(c360_fn_def_parse(json, strlen(json), &def, err, sizeof err) == 0);
	CHECK(def.code && !strcmp(def.code, js));
	CHECK_EQ_STR(def.source_bucket, "staging");
	CHECK_EQ_STR(def.metadata_bucket, "customer360_metadata");
	c360_fn_def_release(&def);
	free(js);
	free(json);
}

int main(void)
{
	RUN(matthew_groves_gives_exactly_the_seed_documents);
	RUN(arrival_order_and_schemaless_envelope_give_the_same_documents);
	RUN(online_store_off_or_failing);
	RUN(online_store_string_ids);
	RUN(online_store_uuid_ids);
	RUN(shipped_json_carries_the_shipped_js);
	return test_summary();
}
