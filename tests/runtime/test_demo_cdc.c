/* The demo's home-delivery events: Debezium shape with the person's row, and
 * every event produced to a real (mock-cluster) Kafka topic is counted back. */
#include "core/json.h"
#include "demo/cdc.h"
#include "sources/kafka/dbzgen.h"
#include "test.h"

static const struct c360_person *find(const struct c360_retailer *r, struct c360_person *p,
				      bool updated)
{
	for (uint32_t i = 0; i < r->customers; i++) {
		c360_retailer_person(r, i, p);
		if (p->in_home && p->home_updated == updated)
			return p;
	}
	return NULL;
}

TEST(event_shape)
{
	struct c360_retailer r;
	c360_retailer_init(&r, 500);
	struct c360_person p;
	REQUIRE(find(&r, &p, true));
	struct c360_buf b;
	c360_buf_init(&b, 0);
	REQUIRE(c360_demo_cdc_event(&p, 'u', 1763800000123, &b) == C360_OK);
	c360_json_doc *d = NULL;
	REQUIRE(c360_json_parse(b.data, b.len, NULL, &d, NULL) == C360_OK);
	c360_json *root = c360_json_doc_root(d);
	CHECK(c360_json_is_object(c360_json_get(root, "schema")));
	CHECK_EQ_STR(c360_json_str(c360_json_ptr_get(root, "/payload/op"), NULL), "u");
	CHECK_EQ_STR(c360_json_str(c360_json_ptr_get(root, "/payload/source/name"), NULL), "dbserver1");
	CHECK_EQ_STR(c360_json_str(c360_json_ptr_get(root, "/payload/after/email"), NULL), p.home_email);
	CHECK_EQ_STR(c360_json_str(c360_json_ptr_get(root, "/payload/after/address_line_1"), NULL),
		     p.new_address1);
	CHECK_EQ_STR(c360_json_str(c360_json_ptr_get(root, "/payload/before/address_line_1"), NULL),
		     p.address1);
	int64_t id = 0, ts = 0;
	CHECK(c360_json_int64(c360_json_ptr_get(root, "/payload/after/id"), &id) && id == p.home_id);
	CHECK(c360_json_int64(c360_json_ptr_get(root, "/payload/source/ts_ms"), &ts) && ts == 1763800000123);
	c360_json_doc_free(d);

	c360_buf_reset(&b);
	REQUIRE(c360_demo_cdc_event(&p, 'd', 1763800000999, &b) == C360_OK);
	REQUIRE(c360_json_parse(b.data, b.len, NULL, &d, NULL) == C360_OK);
	CHECK(c360_json_is_null(c360_json_ptr_get(c360_json_doc_root(d), "/payload/after")));
	CHECK_EQ_STR(c360_json_str(c360_json_ptr_get(c360_json_doc_root(d), "/payload/before/email"), NULL),
		     p.home_email);
	c360_json_doc_free(d);

	c360_buf_reset(&b);
	REQUIRE(c360_demo_cdc_key(&p, &b) == C360_OK);
	REQUIRE(c360_json_parse(b.data, b.len, NULL, &d, NULL) == C360_OK);
	CHECK(c360_json_int64(c360_json_ptr_get(c360_json_doc_root(d), "/payload/id"), &id) && id == p.home_id);
	c360_json_doc_free(d);
	c360_buf_release(&b);
}

TEST(produce_and_count)
{
	char err[512] = "";
	c360_kafka_mock *m = NULL;
	REQUIRE(c360_kafka_mock_new(1, &m, err, sizeof err) == C360_OK);
	REQUIRE(c360_kafka_mock_topic(m, "dbserver1.inventory.customers", 4) == C360_OK);
	struct c360_retailer r;
	c360_retailer_init(&r, 600);
	struct c360_demo_cdc_stats st;
	c360_rc rc = c360_demo_cdc_produce(&r, c360_kafka_mock_bootstraps(m),
					   "dbserver1.inventory.customers", &st, err, sizeof err);
	if (rc)
		printf("  %s\n", err);
	CHECK(rc == C360_OK);
	uint64_t home = 0, upd = 0, del = 0;
	for (uint32_t i = 0; i < r.customers; i++) {
		struct c360_person p;
		c360_retailer_person(&r, i, &p);
		home += p.in_home;
		upd += p.in_home && p.home_updated;
		del += p.in_home && p.home_deleted;
	}
	CHECK_EQ_INT(st.creates, home);
	CHECK_EQ_INT(st.updates, upd);
	CHECK_EQ_INT(st.deletes, del);
	CHECK_EQ_INT(st.tombstones, del);
	CHECK_EQ_INT(st.produced, home + upd + 2 * del);
	CHECK_EQ_INT(st.on_topic, st.produced);
	c360_kafka_mock_free(m);
}

int main(void)
{
	RUN(event_shape);
	RUN(produce_and_count);
	return test_summary();
}
