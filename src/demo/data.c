/* Demo data for the sources (loyalty CSV, online-store orders and products)
 * and the check of the customer360 result against the generator's truth. */
#include "demo/data.h"

#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/banned.h"

c360_rc c360_demo_write_loyalty_csv(const struct c360_retailer *r, const char *path,
				    uint64_t *rows, char *err, size_t errlen)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		snprintf(err, errlen, "cannot create '%s': %s", path, strerror(errno));
		return C360_ERR_IO;
	}
	uint64_t n = 0;
	fputs("id,password,firstName,lastName,email,points\n", f);
	for (uint32_t i = 0; i < r->customers; i++) {
		struct c360_person p;
		c360_retailer_person(r, i, &p);
		if (!p.in_loyalty)
			continue;
		/* no generated field holds a comma, quote or newline: no quoting needed */
		fprintf(f, "%u,%s,%s,%s,%s,%u\n", p.loyalty_id, p.loyalty_pass, p.first, p.last,
			p.loyalty_email, p.points);
		n++;
	}
	if (fclose(f) != 0) {
		snprintf(err, errlen, "cannot write '%s': %s", path, strerror(errno));
		return C360_ERR_IO;
	}
	if (rows)
		*rows = n;
	return C360_OK;
}

c360_rc c360_demo_order_json(const struct c360_order *o, struct c360_buf *out)
{
	c360_rc rc = c360_buf_printf(out,
				     "{\"OrderId\":%" PRIu64 ",\"PurchaseDate\":\"%s\","
				     "\"CustomerId\":%u,\"Items\":[",
				     o->order_id, o->purchase_date, o->customer_id);
	for (unsigned j = 0; j < o->nitems && !rc; j++)
		rc = c360_buf_printf(out,
				     "%s{\"OrderId\":%" PRIu64 ",\"ProductId\":%u,\"Quantity\":%u,"
				     "\"Price\":%.2f}",
				     j ? "," : "", o->order_id, o->items[j].product_id,
				     o->items[j].quantity, o->items[j].price);
	return rc ? rc : c360_buf_puts(out, "]}");
}

c360_rc c360_demo_product_json(const struct c360_product *p, struct c360_buf *out)
{
	return c360_buf_printf(out,
			       "{\"ProductId\":%u,\"Name\":\"%s\",\"Category\":\"%s\",\"Price\":%.2f}",
			       p->product_id, p->name, p->category, p->price);
}

/* external_ID may be a number (1029) or a string ("27"): compare as text. */
static bool id_is(const c360_json *v, uint32_t want)
{
	char buf[32];
	snprintf(buf, sizeof buf, "%u", want);
	size_t len;
	const char *s = c360_json_str(v, &len);
	if (!s)
		s = c360_json_num_text(v, &len);
	return s && len == strlen(buf) && !memcmp(s, buf, len);
}

static void fail(struct c360_demo_verify *out, uint64_t *counter, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fail(struct c360_demo_verify *out, uint64_t *counter, const char *fmt, ...)
{
	(*counter)++;
	out->failures++;
	if (out->first_failure[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out->first_failure, sizeof out->first_failure, fmt, ap);
	va_end(ap);
}

static void check_orders(c360_store *st, const struct c360_retailer *r, const char *bucket,
			 const char *order_prefix, const struct c360_person *p,
			 struct c360_demo_verify *out)
{
	for (unsigned k = 0; p->in_online && k < p->orders; k++) {
		struct c360_order o;
		c360_retailer_order(r, p, k, &o);
		out->expected_orders++;
		char key[64];
		snprintf(key, sizeof key, "%s%" PRIu64, order_prefix, o.order_id);
		struct c360_doc od = {0};
		if (c360_store_get(st, bucket, key, strlen(key), &od)) {
			fail(out, &out->missing_orders, "order '%s' of '%s' is missing", key, p->email);
			continue;
		}
		out->orders++;
		c360_json_doc *odoc = NULL;
		bool ok = !c360_json_parse(od.value, od.value_len, NULL, &odoc, NULL) &&
			  id_is(c360_json_get(c360_json_doc_root(odoc), "CustomerId"), p->online_id) &&
			  c360_json_len(c360_json_get(c360_json_doc_root(odoc), "Items")) == o.nitems;
		if (!ok)
			fail(out, &out->wrong_orders, "order '%s' differs from the online store's",
			     key);
		c360_json_doc_free(odoc);
		c360_doc_release(&od);
	}
}

static void check_person(c360_store *st, const struct c360_retailer *r, const char *bucket,
			 const char *order_prefix, const struct c360_person *p,
			 struct c360_demo_verify *out)
{
	bool home = p->in_home && !p->home_deleted;
	bool expect = home || p->in_loyalty || p->in_online;
	struct c360_doc d = {0};
	c360_rc rc = c360_store_get(st, bucket, p->email, strlen(p->email), &d);
	if (!expect) {
		if (!rc)
			fail(out, &out->wrong_xrefs,
			     "'%s' left every system but still has a customer document", p->email);
		c360_doc_release(&d);
		return;
	}
	out->expected_customers++;
	check_orders(st, r, bucket, order_prefix, p, out);
	if (rc) {
		fail(out, &out->missing, "no customer document for '%s' (%s)", p->email,
		     c360_rc_str(rc));
		return;
	}
	out->customers++;
	c360_json_doc *doc = NULL;
	if (c360_json_parse(d.value, d.value_len, NULL, &doc, NULL)) {
		fail(out, &out->wrong_xrefs, "customer '%s' is not valid JSON", p->email);
		c360_doc_release(&d);
		return;
	}
	bool seen_home = false, seen_loyalty = false, seen_online = false, bad = false;
	const c360_json *xrefs = c360_json_get(c360_json_doc_root(doc), "xrefs");
	for (c360_json *x = c360_json_first(xrefs); x; x = c360_json_next(x)) {
		const char *sys = c360_json_str(c360_json_get(x, "external_system"), NULL);
		const c360_json *id = c360_json_get(x, "external_ID");
		if (sys && !strcmp(sys, "home_delivery") && !seen_home) {
			seen_home = true;
			bad |= !home || !id_is(id, p->home_id);
		} else if (sys && !strcmp(sys, "loyalty") && !seen_loyalty) {
			seen_loyalty = true;
			bad |= !p->in_loyalty || !id_is(id, p->loyalty_id);
		} else if (sys && !strcmp(sys, "online_store") && !seen_online) {
			seen_online = true;
			bad |= !p->in_online || !id_is(id, p->online_id);
		} else {
			bad = true;
		}
	}
	if (bad || seen_home != home || seen_loyalty != p->in_loyalty ||
	    seen_online != p->in_online)
		fail(out, &out->wrong_xrefs,
		     "customer '%s': xrefs home_delivery=%d loyalty=%d online_store=%d, expected "
		     "%d %d %d with ids %u %u %u",
		     p->email, seen_home, seen_loyalty, seen_online, home, p->in_loyalty,
		     p->in_online, p->home_id, p->loyalty_id, p->online_id);
	c360_json_doc_free(doc);
	c360_doc_release(&d);
}

struct count_ctx {
	const char *order_prefix;
	uint64_t customers;
};

static int count_customers(const struct c360_feed_event *ev, void *ctx)
{
	struct count_ctx *c = ctx;
	size_t pl = strlen(c->order_prefix);
	if (ev->op != C360_FEED_MUTATION)
		return 0;
	if ((ev->key_len >= pl && !memcmp(ev->key, c->order_prefix, pl)) ||
	    (ev->key_len >= 9 && !memcmp(ev->key, "product::", 9)))
		return 0;
	c->customers++;
	return 0;
}

c360_rc c360_demo_verify(c360_store *st, const struct c360_retailer *r, const char *bucket,
			 const char *order_prefix, struct c360_demo_verify *out)
{
	memset(out, 0, sizeof *out);
	for (uint32_t i = 0; i < r->customers; i++) {
		struct c360_person p;
		c360_retailer_person(r, i, &p);
		out->people++;
		check_person(st, r, bucket, order_prefix, &p, out);
	}
	/* every live key appears once on the feed with its latest state */
	struct count_ctx c = {order_prefix, 0};
	c360_rc rc = c360_feed_read(st, bucket, 0, 0, count_customers, &c, NULL);
	if (rc)
		return rc;
	if (c.customers > out->customers) {
		out->extra_customers = c.customers - out->customers;
		out->failures += out->extra_customers;
		if (!out->first_failure[0])
			snprintf(out->first_failure, sizeof out->first_failure,
				 "%" PRIu64 " customer documents belong to nobody (e.g. an email "
				 "spelled differently was not merged)",
				 out->extra_customers);
	}
	return C360_OK;
}
