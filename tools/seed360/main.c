/* c360-seed360: fills a store's customer360 bucket with the end state the
 * pipeline produces (DESIGN.md "The Customer 360 end state") for the demo's
 * synthetic retailer: one document per person (key = email, profile,
 * loyaltyPoints, one xref per source system), order::<OrderId> documents and
 * product::<ProductId> documents. Used by the serve tests and bench/serve.
 *
 *   c360-seed360 --store PATH [--customers N] [--seed S] [--emails FILE]
 *                [--static DIR]
 * --emails writes one email per line; --static writes DIR/<email> files
 * holding {"email","customer","orders"} like GET /api/v1/customers/{email}. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/opts.h"
#include "demo/retailer.h"
#include "store/store.h"
#include "core/banned.h"

static const char *o_store;
static int64_t o_customers = 1000;
static int64_t o_seed = 360;
static const char *o_emails;
static const char *o_static;
static const char *o_bucket = "customer360";

static const struct c360_opt opts[] = {
	{"store", 0, C360_OPT_STR, &o_store, "PATH", "the store file (created)", NULL},
	{"customers", 'n', C360_OPT_INT, &o_customers, "N", "people to generate", "1000"},
	{"seed", 0, C360_OPT_INT, &o_seed, "S", "generator seed", "360"},
	{"bucket", 0, C360_OPT_STR, &o_bucket, "NAME", "target bucket", "customer360"},
	{"emails", 0, C360_OPT_STR, &o_emails, "FILE", "write the customers' emails, one a line", NULL},
	{"static", 0, C360_OPT_STR, &o_static, "DIR", "also write DIR/<email> static JSON files", NULL},
	{NULL, 0, 0, NULL, NULL, NULL, NULL},
};
static const struct c360_cmd_spec spec = {
	"c360-seed360 --store PATH [options]",
	"write generated customer360, order and product documents into a store", NULL, opts, 0, 0};

static void put_kv(struct c360_buf *b, const char *k, const char *v, bool comma)
{
	c360_buf_printf(b, "%s\"%s\":", comma ? "," : "", k);
	c360_json_write_string(v, strlen(v), b);
}

static void customer_doc(const struct c360_person *p, struct c360_buf *b)
{
	char name[64];
	snprintf(name, sizeof name, "%s %s", p->first, p->last);
	c360_buf_puts(b, "{\"type\":\"user\",\"profile\":{");
	put_kv(b, "name", name, false);
	put_kv(b, "address1", p->home_updated ? p->new_address1 : p->address1, true);
	put_kv(b, "address2", p->address2, true);
	put_kv(b, "city", p->city, true);
	put_kv(b, "state", p->state, true);
	put_kv(b, "zipcode", p->zipcode, true);
	put_kv(b, "phone", p->home_updated ? p->new_phone : p->phone, true);
	c360_buf_puts(b, "}");
	if (p->in_loyalty)
		c360_buf_printf(b, ",\"loyaltyPoints\":\"%u\"", p->points);
	c360_buf_puts(b, ",\"xrefs\":[");
	bool first = true;
	if (p->in_online) {
		c360_buf_printf(b, "{\"external_system\":\"online_store\",\"external_ID\":%u", p->online_id);
		put_kv(b, "pass", p->online_pass, true);
		c360_buf_putc(b, '}');
		first = false;
	}
	if (p->in_home && !p->home_deleted) {
		c360_buf_printf(b, "%s{\"external_system\":\"home_delivery\",\"external_ID\":%u",
				first ? "" : ",", p->home_id);
		put_kv(b, "pass", p->home_pass, true);
		c360_buf_putc(b, '}');
		first = false;
	}
	if (p->in_loyalty) {
		c360_buf_printf(b, "%s{\"external_system\":\"loyalty\",\"external_ID\":\"%u\"",
				first ? "" : ",", p->loyalty_id);
		put_kv(b, "pass", p->loyalty_pass, true);
		c360_buf_putc(b, '}');
	}
	c360_buf_puts(b, "]}");
}

static void order_doc(const struct c360_order *o, struct c360_buf *b)
{
	c360_buf_printf(b, "{\"OrderId\":%llu,\"PurchaseDate\":\"%s\",\"CustomerId\":%u,\"Items\":[",
			(unsigned long long)o->order_id, o->purchase_date, o->customer_id);
	for (unsigned i = 0; i < o->nitems; i++)
		c360_buf_printf(b, "%s{\"OrderId\":%llu,\"ProductId\":%u,\"Quantity\":%u,\"Price\":%.2f}",
				i ? "," : "", (unsigned long long)o->order_id, o->items[i].product_id,
				o->items[i].quantity, o->items[i].price);
	c360_buf_puts(b, "]}");
}

struct batch {
	c360_store *st;
	struct c360_write ops[512];
	struct c360_buf keys[512], vals[512];
	size_t n;
	size_t written;
};

static int flush(struct batch *bt)
{
	if (!bt->n)
		return 0;
	for (size_t i = 0; i < bt->n; i++) {
		bt->ops[i] = (struct c360_write){.type = C360_WRITE_UPSERT, .bucket = o_bucket,
						 .key = bt->keys[i].data, .key_len = bt->keys[i].len,
						 .value = bt->vals[i].data, .value_len = bt->vals[i].len,
						 .flags = C360_WRITE_TRUSTED_JSON};
	}
	c360_rc rc = c360_store_write(bt->st, bt->ops, bt->n);
	for (size_t i = 0; !rc && i < bt->n; i++)
		rc = bt->ops[i].rc;
	if (rc) {
		fprintf(stderr, "c360-seed360: write failed: %s\n", c360_rc_str(rc));
		return -1;
	}
	bt->written += bt->n;
	bt->n = 0;
	return 0;
}

static int add(struct batch *bt, const char *key, const struct c360_buf *val)
{
	c360_buf_reset(&bt->keys[bt->n]);
	c360_buf_reset(&bt->vals[bt->n]);
	c360_buf_puts(&bt->keys[bt->n], key);
	c360_buf_append(&bt->vals[bt->n], val->data, val->len);
	if (++bt->n == 512)
		return flush(bt);
	return 0;
}

int main(int argc, char **argv)
{
	int n = c360_opts_parse(&spec, argc, argv);
	if (n == C360_OPTS_HELP)
		return 0;
	if (n < 0)
		return 2;
	if (!o_store || o_customers < 1 || o_customers > 10000000) {
		fprintf(stderr, "c360-seed360: --store is required and --customers must be 1..10000000\n");
		return 2;
	}
	struct c360_store_opts so;
	c360_store_opts_init(&so);
	so.synchronous = C360_SYNC_OFF;
	so.sweep_interval_ms = -1;
	c360_store *st = NULL;
	char err[256] = "";
	if (c360_store_open(o_store, &so, &st, err, sizeof err)) {
		fprintf(stderr, "c360-seed360: cannot open store '%s': %s\n", o_store, err);
		return 6;
	}
	c360_store_bucket_ensure(st, o_bucket, 0);
	FILE *ef = o_emails ? fopen(o_emails, "w") : NULL;
	if (o_emails && !ef) {
		fprintf(stderr, "c360-seed360: cannot write '%s': %s\n", o_emails, strerror(errno));
		return 1;
	}
	if (o_static && mkdir(o_static, 0755) && errno != EEXIST) {
		fprintf(stderr, "c360-seed360: cannot create '%s': %s\n", o_static, strerror(errno));
		return 1;
	}
	struct c360_retailer r;
	c360_retailer_init(&r, (uint32_t)o_customers);
	r.seed = (uint64_t)o_seed;
	static struct batch bt;
	bt.st = st;
	for (int i = 0; i < 512; i++) {
		c360_buf_init(&bt.keys[i], 0);
		c360_buf_init(&bt.vals[i], 0);
	}
	struct c360_buf doc, ord, stat;
	c360_buf_init(&doc, 0);
	c360_buf_init(&ord, 0);
	c360_buf_init(&stat, 0);
	size_t ncust = 0, norders = 0, nprod = 0;
	int rc = 0;
	for (uint32_t pid = 100; pid < 100 + r.products * 10; pid += 10) {
		struct c360_product pr;
		if (!c360_retailer_product(&r, pid, &pr))
			continue;
		c360_buf_reset(&doc);
		c360_buf_printf(&doc, "{\"ProductId\":%u", pr.product_id);
		put_kv(&doc, "Name", pr.name, true);
		put_kv(&doc, "Category", pr.category, true);
		c360_buf_printf(&doc, ",\"Price\":%.2f}", pr.price);
		char key[64];
		snprintf(key, sizeof key, "product::%u", pr.product_id);
		if ((rc = add(&bt, key, &doc)))
			goto out;
		nprod++;
	}
	for (uint32_t i = 0; i < r.customers; i++) {
		struct c360_person p;
		c360_retailer_person(&r, i, &p);
		if (!p.in_online && !p.in_loyalty && !(p.in_home && !p.home_deleted))
			continue;
		c360_buf_reset(&doc);
		customer_doc(&p, &doc);
		if ((rc = add(&bt, p.email, &doc)))
			goto out;
		ncust++;
		if (ef)
			fprintf(ef, "%s\n", p.email);
		c360_buf_reset(&stat);
		if (o_static) {
			c360_buf_puts(&stat, "{\"email\":");
			c360_json_write_string(p.email, strlen(p.email), &stat);
			c360_buf_puts(&stat, ",\"customer\":");
			c360_buf_append(&stat, doc.data, doc.len);
			c360_buf_puts(&stat, ",\"orders\":[");
		}
		for (unsigned k = 0; p.in_online && k < p.orders; k++) {
			struct c360_order o;
			c360_retailer_order(&r, &p, k, &o);
			c360_buf_reset(&ord);
			order_doc(&o, &ord);
			char key[64];
			snprintf(key, sizeof key, "order::%llu", (unsigned long long)o.order_id);
			if ((rc = add(&bt, key, &ord)))
				goto out;
			norders++;
			if (o_static) {
				c360_buf_printf(&stat, "%s{\"key\":\"%s\",\"doc\":", k ? "," : "", key);
				c360_buf_append(&stat, ord.data, ord.len);
				c360_buf_putc(&stat, '}');
			}
		}
		if (o_static) {
			c360_buf_puts(&stat, "]}\n");
			char path[4096];
			snprintf(path, sizeof path, "%s/%s", o_static, p.email);
			FILE *f = fopen(path, "w");
			if (!f || fwrite(stat.data, 1, stat.len, f) != stat.len || fclose(f)) {
				fprintf(stderr, "c360-seed360: cannot write '%s'\n", path);
				rc = 1;
				goto out;
			}
		}
	}
	rc = flush(&bt);
	fprintf(stderr, "c360-seed360: %zu customers, %zu orders, %zu products into '%s' bucket '%s'\n",
		ncust, norders, nprod, o_store, o_bucket);
out:
	if (ef)
		fclose(ef);
	for (int i = 0; i < 512; i++) {
		c360_buf_release(&bt.keys[i]);
		c360_buf_release(&bt.vals[i]);
	}
	c360_buf_release(&doc);
	c360_buf_release(&ord);
	c360_buf_release(&stat);
	c360_store_close(st);
	return rc ? 1 : 0;
}
