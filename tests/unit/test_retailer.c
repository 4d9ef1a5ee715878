/* The demo's synthetic retailer: deterministic, the promised mix, and the
 * email variants normalise back to the person's canonical email. */
#include <ctype.h>
#include <stdint.h>

#include "demo/retailer.h"
#include "test.h"

static void normalise(const char *in, char *out, size_t len)
{
	while (*in == ' ')
		in++;
	size_t n = 0;
	for (; *in && n + 1 < len; in++)
		out[n++] = (char)tolower((unsigned char)*in);
	while (n && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
}

TEST(deterministic)
{
	struct c360_retailer r;
	c360_retailer_init(&r, 1000);
	struct c360_person a, b;
	c360_retailer_person(&r, 17, &a);
	c360_retailer_person(&r, 17, &b);
	CHECK(memcmp(&a, &b, sizeof a) == 0);
	r.seed = 361;
	c360_retailer_person(&r, 17, &b);
	CHECK(strcmp(a.email, b.email) != 0 || strcmp(a.address1, b.address1) != 0);
}

TEST(mix_and_overlap)
{
	struct c360_retailer r;
	c360_retailer_init(&r, 20000);
	unsigned home = 0, loy = 0, onl = 0, all3 = 0, none = 0, variants = 0, deleted = 0;
	for (uint32_t i = 0; i < r.customers; i++) {
		struct c360_person p;
		c360_retailer_person(&r, i, &p);
		home += p.in_home;
		loy += p.in_loyalty;
		onl += p.in_online;
		all3 += p.in_home && p.in_loyalty && p.in_online;
		none += !p.in_home && !p.in_loyalty; /* the online store cannot be enumerated */
		deleted += p.home_deleted;
		CHECK(!p.home_deleted || (p.in_home && p.in_loyalty));
		char n[104];
		if (p.in_loyalty) {
			normalise(p.loyalty_email, n, sizeof n);
			CHECK_EQ_STR(n, p.email);
			variants += strcmp(p.loyalty_email, p.email) != 0;
		}
		if (p.in_home) {
			normalise(p.home_email, n, sizeof n);
			CHECK_EQ_STR(n, p.email);
		}
	}
	CHECK_EQ_INT(none, 0);
	CHECK(home > r.customers * 69 / 100 && home < r.customers * 75 / 100);
	CHECK(loy > r.customers * 59 / 100 && loy < r.customers * 65 / 100);
	CHECK(deleted > 0);
	CHECK(onl > r.customers * 48 / 100 && onl < r.customers * 54 / 100);
	CHECK(all3 > r.customers / 10);
	CHECK(variants > 0);
}

TEST(emails_unique)
{
	struct c360_retailer r;
	c360_retailer_init(&r, 300);
	struct c360_person p[300];
	for (uint32_t i = 0; i < 300; i++)
		c360_retailer_person(&r, i, &p[i]);
	for (int i = 0; i < 300; i++)
		for (int j = i + 1; j < 300; j++)
			CHECK(strcmp(p[i].email, p[j].email) != 0);
}

TEST(orders_reference_products)
{
	struct c360_retailer r;
	c360_retailer_init(&r, 500);
	unsigned orders = 0;
	for (uint32_t i = 0; i < r.customers; i++) {
		struct c360_person p;
		c360_retailer_person(&r, i, &p);
		if (!p.in_online) {
			CHECK_EQ_INT(c360_retailer_person_of_online_id(&r, i + 1), UINT32_MAX);
			continue;
		}
		CHECK_EQ_INT(c360_retailer_person_of_online_id(&r, p.online_id), i);
		for (unsigned k = 0; k < p.orders; k++) {
			struct c360_order o;
			c360_retailer_order(&r, &p, k, &o);
			orders++;
			CHECK_EQ_INT(o.customer_id, p.online_id);
			CHECK(o.nitems >= 1 && o.nitems <= 5);
			for (unsigned j = 0; j < o.nitems; j++) {
				struct c360_product prod;
				CHECK(c360_retailer_product(&r, o.items[j].product_id, &prod));
				CHECK(o.items[j].price == prod.price);
			}
		}
	}
	CHECK(orders > 200);
	struct c360_product prod;
	CHECK(!c360_retailer_product(&r, 99, &prod));
	CHECK(!c360_retailer_product(&r, 105, &prod));
	CHECK(!c360_retailer_product(&r, 100 + r.products * 10, &prod));
}

int main(void)
{
	RUN(deterministic);
	RUN(mix_and_overlap);
	RUN(emails_unique);
	RUN(orders_reference_products);
	return test_summary();
}
