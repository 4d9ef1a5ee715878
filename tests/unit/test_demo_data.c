/* The demo's source data and its truth check: the check passes on a correct
 * customer360 bucket and catches each kind of mistake. */
#include <inttypes.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/json.h"
#include "demo/data.h"
#include "test.h"

static char dir[] = "/tmp/c360-demo-data-XXXXXX";

/* Writes what a correct integration would produce for person p. */
static void write_truth(c360_store *st, const struct c360_retailer *r, const struct c360_person *p)
{
	bool home = p->in_home && !p->home_deleted;
	if (!home && !p->in_loyalty && !p->in_online)
		return;
	struct c360_buf b;
	c360_buf_init(&b, 0);
	c360_buf_printf(&b, "{\"type\":\"user\",\"profile\":{\"name\":\"%s %s\"},\"xrefs\":[", p->first,
			p->last);
	const char *sep = "";
	if (home) {
		c360_buf_printf(&b, "{\"external_system\":\"home_delivery\",\"external_ID\":%u}", p->home_id);
		sep = ",";
	}
	if (p->in_loyalty) {
		c360_buf_printf(&b, "%s{\"external_system\":\"loyalty\",\"external_ID\":\"%u\"}", sep,
				p->loyalty_id);
		sep = ",";
	}
	if (p->in_online)
		c360_buf_printf(&b, "%s{\"external_system\":\"online_store\",\"external_ID\":%u}", sep,
				p->online_id);
	c360_buf_puts(&b, "]}");
	CHECK(c360_store_upsert(st, "customer360", p->email, strlen(p->email), b.data, b.len, 0, NULL) ==
	      C360_OK);
	for (unsigned k = 0; p->in_online && k < p->orders; k++) {
		struct c360_order o;
		c360_retailer_order(r, p, k, &o);
		c360_buf_reset(&b);
		CHECK(c360_demo_order_json(&o, &b) == C360_OK);
		char key[64];
		snprintf(key, sizeof key, "order::%" PRIu64, o.order_id);
		CHECK(c360_store_upsert(st, "customer360", key, strlen(key), b.data, b.len, 0, NULL) ==
		      C360_OK);
	}
	c360_buf_release(&b);
}

TEST(loyalty_csv)
{
	struct c360_retailer r;
	c360_retailer_init(&r, 200);
	char path[256], err[256];
	snprintf(path, sizeof path, "%s/loyalty.csv", dir);
	uint64_t rows = 0;
	REQUIRE(c360_demo_write_loyalty_csv(&r, path, &rows, err, sizeof err) == C360_OK);
	FILE *f = fopen(path, "r");
	REQUIRE(f);
	char line[512];
	CHECK(fgets(line, sizeof line, f) && !strcmp(line, "id,password,firstName,lastName,email,points\n"));
	uint64_t n = 0;
	while (fgets(line, sizeof line, f)) {
		n++;
		int commas = 0;
		for (char *c = line; *c; c++)
			commas += *c == ',';
		CHECK_EQ_INT(commas, 5);
	}
	fclose(f);
	CHECK_EQ_INT(n, rows);
	CHECK(rows > 80 && rows < 160);
	CHECK(c360_demo_write_loyalty_csv(&r, "/nonexistent/x.csv", NULL, err, sizeof err) == C360_ERR_IO);
	CHECK(strstr(err, "/nonexistent/x.csv") != NULL);
}

TEST(order_json_shape)
{
	struct c360_order o = {.order_id = 1, .customer_id = 1, .purchase_date = "2019-04-25T15:15:58",
			       .nitems = 2,
			       .items = {{200, 2, 87.81}, {400, 4, 129.86}}};
	struct c360_buf b;
	c360_buf_init(&b, 0);
	CHECK(c360_demo_order_json(&o, &b) == C360_OK);
	CHECK_EQ_STR(c360_buf_cstr(&b),
		     "{\"OrderId\":1,\"PurchaseDate\":\"2019-04-25T15:15:58\",\"CustomerId\":1,\"Items\":["
		     "{\"OrderId\":1,\"ProductId\":200,\"Quantity\":2,\"Price\":87.81},"
		     "{\"OrderId\":1,\"ProductId\":400,\"Quantity\":4,\"Price\":129.86}]}");
	CHECK(c360_json_validate(b.data, b.len, NULL, NULL) == C360_OK);
	c360_buf_release(&b);
}

TEST(verify_catches_mistakes)
{
	struct c360_retailer r;
	c360_retailer_init(&r, 300);
	char path[256], err[256];
	snprintf(path, sizeof path, "%s/store.db", dir);
	struct c360_store_opts so;
	c360_store_opts_init(&so);
	so.synchronous = C360_SYNC_OFF;
	c360_store *st = NULL;
	REQUIRE(c360_store_open(path, &so, &st, err, sizeof err) == C360_OK);
	REQUIRE(c360_store_bucket_create(st, "customer360", 0, err, sizeof err) == C360_OK);
	for (uint32_t i = 0; i < r.customers; i++) {
		struct c360_person p;
		c360_retailer_person(&r, i, &p);
		write_truth(st, &r, &p);
	}
	struct c360_demo_verify v;
	REQUIRE(c360_demo_verify(st, &r, "customer360", "order::", &v) == C360_OK);
	if (v.failures)
		printf("  %s\n", v.first_failure);
	CHECK_EQ_INT(v.failures, 0);
	CHECK_EQ_INT(v.people, 300);
	CHECK(v.expected_customers > 250 && v.customers == v.expected_customers);
	CHECK(v.expected_orders > 50 && v.orders == v.expected_orders);

	/* a missing customer, an unmerged spelling, a lost order */
	struct c360_person p0, p1;
	uint32_t i = 0;
	do
		c360_retailer_person(&r, i++, &p0);
	while (!(p0.in_online && p0.orders > 0));
	CHECK(c360_store_delete(st, "customer360", p0.email, strlen(p0.email), 0) == C360_OK);
	c360_retailer_person(&r, i, &p1);
	const char *dup = "{\"type\":\"user\",\"xrefs\":[]}";
	char upper[128];
	snprintf(upper, sizeof upper, "X%s", p1.email);
	CHECK(c360_store_upsert(st, "customer360", upper, strlen(upper), dup, strlen(dup), 0, NULL) == C360_OK);
	struct c360_order o;
	c360_retailer_order(&r, &p0, 0, &o);
	char key[64];
	snprintf(key, sizeof key, "order::%" PRIu64, o.order_id);
	CHECK(c360_store_delete(st, "customer360", key, strlen(key), 0) == C360_OK);

	REQUIRE(c360_demo_verify(st, &r, "customer360", "order::", &v) == C360_OK);
	CHECK_EQ_INT(v.missing, 1);
	CHECK_EQ_INT(v.missing_orders, 1);
	CHECK_EQ_INT(v.extra_customers, 1);
	CHECK_EQ_INT(v.failures, 3);
	CHECK(strstr(v.first_failure, p0.email) != NULL);
	c360_store_close(st);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	RUN(loyalty_csv);
	RUN(order_json_shape);
	RUN(verify_catches_mistakes);
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		printf("could not remove %s\n", dir);
	return test_summary();
}
