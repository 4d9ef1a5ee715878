/* integrate over a real store: the seed's Matthew Groves example (with the
 * online store), order independence (shuffled, replayed twice: byte-identical
 * customer360), one person one profile, deletes recompute, expiry keeps,
 * secrets hashed by default, and the native kind under the eventing runtime. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/json.h"
#include "demo/retailer.h"
#include "eventing/eventing.h"
#include "integrate/integrate.h"
#include "sources/rest/mockstore.h"
#include <sodium.h>

#include "runtime/eventing_test.h"
#include "test.h"
#include "core/banned.h"


/* The shipped mapping, with `mode: hash` replaced when plain is true. */
static c360_imap *mapping(bool plain)
{
	char *text = slurp("functions/customer360.yaml");
	if (!text)
		return NULL;
	char *p = plain ? strstr(text, "mode: hash") : NULL;
	if (p) {
		struct c360_buf b;
		c360_buf_init(&b, 0);
		c360_buf_append(&b, text, (size_t)(p - text));
		c360_buf_puts(&b, "mode: plain");
		c360_buf_puts(&b, p + 10);
		free(text);
		text = c360_buf_detach(&b, NULL);
	}
	char err[512];
	c360_imap *m = NULL;
	if (c360_imap_load("customer360.yaml", text, strlen(text), &m, err, sizeof err))
		printf("  %s\n", err);
	free(text);
	return m;
}

static void stage(const char *key, const char *value)
{
	if (c360_store_upsert(st, "staging", key, strlen(key), value, strlen(value), 0, NULL))
		printf("  cannot stage %s\n", key);
}

static void stage_file(const char *key, const char *rel)
{
	char *v = slurp(rel);
	if (v)
		stage(key, v);
	free(v);
}

static int follow(c360_integrate *ig)
{
	char err[256];
	struct c360_integrate_follow_opts fo = {.exit_when_idle = true};
	c360_rc rc = c360_integrate_follow(ig, &fo, err, sizeof err);
	if (rc)
		printf("  follow: %s\n", err);
	return rc;
}

/* customer360[key] (without lineage) equals the expected file, members in
 * the same order. */
static int doc_is(const char *key, const char *rel)
{
	char *got = get("customer360", key), *want = slurp(rel);
	c360_json_doc *a = NULL, *b = NULL;
	int ok = 0;
	if (!got || !want || c360_json_parse(got, strlen(got), NULL, &a, NULL) ||
	    c360_json_parse(want, strlen(want), NULL, &b, NULL))
		goto out;
	c360_json_remove(c360_json_doc_root(a), "lineage", 7);
	char *ga = c360_json_write_str(c360_json_doc_root(a), 0, NULL);
	char *gb = c360_json_write_str(c360_json_doc_root(b), 0, NULL);
	ok = ga && gb && !strcmp(ga, gb);
	if (!ok)
		printf("  customer360['%s'] = %s\n  expected %s\n", key, ga, gb);
	free(ga);
	free(gb);
out:
	if (!got)
		printf("  customer360 has no '%s'\n", key);
	c360_json_doc_free(a);
	c360_json_doc_free(b);
	free(got);
	free(want);
	return ok;
}

static c360_mockstore *groves_store(void)
{
	struct c360_mockstore_opts o = {0};
	c360_mockstore *ms;
	char err[256];
	if (c360_mockstore_new(&o, &ms, err, sizeof err))
		return NULL;
	c360_mockstore_add_customer(ms, 1, "Matthew Groves", "matthew.groves@couchbase.com",
				    "edzchzmatv5");
	char *orders = slurp("functions/tests/matthew_groves/online_store/getOrdersByCustomerId.json");
	c360_json_doc *od = NULL;
	if (orders && !c360_json_parse(orders, strlen(orders), NULL, &od, NULL)) {
		for (c360_json *x = c360_json_first(c360_json_doc_root(od)); x; x = c360_json_next(x)) {
			char *s = c360_json_write_str(x, 0, NULL);
			c360_mockstore_add_order(ms, 1, s);
			free(s);
		}
	}
	c360_json_doc_free(od);
	free(orders);
	if (c360_mockstore_start(ms, err, sizeof err)) {
		printf("  mock store: %s\n", err);
		c360_mockstore_free(ms);
		return NULL;
	}
	return ms;
}

#define EXP "functions/tests/matthew_groves/expected/"

TEST(matthew_groves_gives_the_seed_documents)
{
	c360_mockstore *ms = groves_store();
	REQUIRE(ms);
	setenv("C360_ONLINE_STORE_URL", c360_mockstore_url(ms), 1);
	open_store("staging", NULL);
	c360_imap *m = mapping(true);
	REQUIRE(m);
	c360_integrate *ig;
	char err[256];
	REQUIRE(c360_integrate_new(st, m, NULL, &ig, err, sizeof err) == C360_OK);
	stage_file("{\"id\":1029}", "tests/fixtures/debezium/customer_with_schema.json");
	stage_file("key::1", "functions/tests/matthew_groves/loyalty_member.json");
	REQUIRE(follow(ig) == 0);
	CHECK(doc_is("matthew.groves@couchbase.com", EXP "matthew.groves@couchbase.com.json"));
	CHECK(doc_is("order::1", EXP "order::1.json"));
	CHECK(doc_is("order::2", EXP "order::2.json"));
	struct c360_integrate_stats s;
	c360_integrate_get_stats(ig, &s);
	CHECK_EQ_INT(s.processed, 2);
	CHECK_EQ_INT(s.online_fetches, 1); /* one batch, one customer: asked once */
	CHECK_EQ_INT(s.failures, 0);
	/* lineage: the name came from home delivery, 1029, at its ts_ms */
	char *c = get("customer360", "matthew.groves@couchbase.com");
	CHECK(c && strstr(c, "\"lineage\":{\"profile.name\":{\"system\":\"home_delivery\","
			     "\"external_ID\":1029,\"ts\":1700748000000}"));
	free(c);
	/* a replay changes nothing and does not ask the store again (refresh 1h) */
	stage_file("key::1", "functions/tests/matthew_groves/loyalty_member.json");
	REQUIRE(follow(ig) == 0);
	c360_integrate_get_stats(ig, &s);
	CHECK_EQ_INT(s.online_fetches, 1);
	CHECK(doc_is("matthew.groves@couchbase.com", EXP "matthew.groves@couchbase.com.json"));
	c360_integrate_free(ig);
	c360_imap_free(m);
	close_store();
	unsetenv("C360_ONLINE_STORE_URL");
	c360_mockstore_free(ms);
}

/* An online store whose ids are strings or UUIDs: the xref's external_ID is
 * the store's Id as given (its JSON type too), the orders are fetched with it
 * and written as order::<OrderId>, with CustomerId equal to that Id. */
static void online_ids(enum c360_mockstore_id_style style)
{
	struct c360_mockstore_opts o = {.seed_example = true, .id_style = style, .products = 50};
	c360_mockstore *ms = NULL;
	char err[256];
	REQUIRE(c360_mockstore_new(&o, &ms, err, sizeof err) == C360_OK);
	REQUIRE(c360_mockstore_start(ms, err, sizeof err) == C360_OK);
	setenv("C360_ONLINE_STORE_URL", c360_mockstore_url(ms), 1);
	open_store("staging", NULL);
	c360_imap *m = mapping(true);
	REQUIRE(m);
	c360_integrate *ig;
	REQUIRE(c360_integrate_new(st, m, NULL, &ig, err, sizeof err) == C360_OK);
	stage_file("key::1", "functions/tests/matthew_groves/loyalty_member.json");
	REQUIRE(follow(ig) == 0);
	struct c360_integrate_stats s;
	c360_integrate_get_stats(ig, &s);
	CHECK_EQ_INT(s.online_fetches, 1);
	CHECK_EQ_INT(s.online_failures, 0);
	CHECK_EQ_INT(s.orders_written, 2);
	/* the store's data set: its customer's Id and its orders */
	struct c360_buf dump;
	c360_buf_init(&dump, 0);
	REQUIRE(c360_mockstore_dump(ms, &dump) == C360_OK);
	char *c = get("customer360", "matthew.groves@couchbase.com");
	c360_json_doc *cd = NULL;
	REQUIRE(c && !c360_json_parse(c, strlen(c), NULL, &cd, NULL));
	c360_json *ext = NULL;
	for (c360_json *x = c360_json_first(c360_json_get(c360_json_doc_root(cd), "xrefs")); x;
	     x = c360_json_next(x)) {
		const char *sys = c360_json_str(c360_json_get(x, "external_system"), NULL);
		if (sys && !strcmp(sys, "online_store"))
			ext = c360_json_get(x, "external_ID");
	}
	CHECK(c360_json_is_string(ext));
	size_t elen = 0;
	const char *etext = c360_json_str(ext, &elen);
	CHECK(etext && elen == (style == C360_MOCKSTORE_ID_UUID ? 36u : 1u));
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
			char *od = get("customer360", key);
			c360_json_doc *odd = NULL;
			CHECK(od && !c360_json_parse(od, strlen(od), NULL, &odd, NULL) &&
			      c360_json_equal(c360_json_doc_root(odd), r));
			if (!od)
				printf("  no '%s'\n", key);
			c360_json_doc_free(odd);
			free(od);
		}
		c360_json_doc_free(ld);
	}
	CHECK_EQ_INT(orders, 2);
	c360_json_doc_free(cd);
	free(c);
	c360_buf_release(&dump);
	c360_integrate_free(ig);
	c360_imap_free(m);
	close_store();
	unsetenv("C360_ONLINE_STORE_URL");
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

TEST(secrets_are_hashed_by_default)
{
	c360_mockstore *ms = groves_store();
	REQUIRE(ms);
	setenv("C360_ONLINE_STORE_URL", c360_mockstore_url(ms), 1);
	unsetenv("C360_SECRET_KEY");
	open_store("staging", NULL);
	c360_imap *m = mapping(false);
	REQUIRE(m);
	c360_integrate *ig;
	char err[256];
	REQUIRE(c360_integrate_new(st, m, NULL, &ig, err, sizeof err) == C360_OK);
	stage_file("{\"id\":1029}", "tests/fixtures/debezium/customer_no_schema.json");
	stage_file("key::1", "functions/tests/matthew_groves/loyalty_member.json");
	REQUIRE(follow(ig) == 0);
	c360_integrate_free(ig);
	char *c = get("customer360", "matthew.groves@couchbase.com");
	REQUIRE(c);
	CHECK(!strstr(c, "edzchzmatv5") && !strstr(c, "5owhiy1j.isq") && !strstr(c, "xrinn5xp.swd"));
	CHECK(strstr(c, "\"pass\":\"blake2b-salted:") != NULL);
	/* nothing in the metadata bucket holds them either */
	struct c360_buf q;
	c360_buf_init(&q, 0);
	CHECK(c360_store_query(st, "SELECT key, doc FROM customer360_metadata", NULL, &q, err,
			       sizeof err) == C360_OK);
	CHECK(q.len > 0 && !strstr(q.data, "edzchzmatv5") && !strstr(q.data, "5owhiy1j.isq"));
	/* nor the generated key: it is in a file of mode 600 beside the store */
	CHECK(!strstr(q.data, "secret-key"));
	c360_buf_release(&q);
	char kpath[512];
	struct stat sb;
	REQUIRE(c360_integrate_key_path(st, "customer360_metadata", kpath, sizeof kpath) == 0);
	REQUIRE(stat(kpath, &sb) == 0);
	CHECK_EQ_INT(sb.st_mode & 0777, 0600);
	/* the generated key is kept: a second engine hashes the same way */
	REQUIRE(c360_integrate_new(st, m, NULL, &ig, err, sizeof err) == C360_OK);
	stage_file("key::1", "functions/tests/matthew_groves/loyalty_member.json");
	REQUIRE(follow(ig) == 0);
	c360_integrate_free(ig);
	char *c2 = get("customer360", "matthew.groves@couchbase.com");
	const char *lp = strstr(c, "\"external_system\":\"loyalty\"");
	const char *hp = lp ? strstr(lp, "blake2b-salted:") : NULL;
	char h1[C360_IMAP_HASH_MAX] = "";
	if (hp)
		snprintf(h1, sizeof h1, "%.*s", C360_IMAP_HASH_MAX - 1, hp);
	CHECK(hp && c2 && strstr(c2, h1) != NULL); /* same loyalty hash (same key) */
	free(c2);
	free(c);
	/* with the key from the environment, the hash is that key's */
	setenv("C360_SECRET_KEY", "a-test-key-of-some-length", 1);
	uint8_t key[32];
	CHECK(c360_imap_secret_key(m, key, err, sizeof err) == C360_OK);
	char h[C360_IMAP_HASH_MAX];
	const char rec[] = "matthew.groves@couchbase.com\0" "27";
	c360_imap_hash_secret(key, "loyalty", rec, sizeof rec - 1, "xrinn5xp.swd", 12, h);
	REQUIRE(c360_integrate_new(st, m, NULL, &ig, err, sizeof err) == C360_OK);
	/* loyalty's clock is the staging CAS in ms: in the same millisecond as
	 * key::1 the tie would go by the records' bytes, not to key::2 */
	usleep(5000);
	stage("key::2", "{\"id\":\"27\",\"password\":\"xrinn5xp.swd\",\"firstName\":\"Matthew\","
			"\"lastName\":\"Groves\",\"email\":\"matthew.groves@couchbase.com\",\"points\":\"48\"}");
	REQUIRE(follow(ig) == 0);
	c360_integrate_free(ig);
	c = get("customer360", "matthew.groves@couchbase.com");
	CHECK(c && strstr(c, h));
	free(c);
	unsetenv("C360_SECRET_KEY");
	c360_imap_free(m);
	close_store();
	unsetenv("C360_ONLINE_STORE_URL");
	c360_mockstore_free(ms);
}

/* ---- generated changes ---- */

struct change {
	char key[64];
	char *value; /* NULL = staging deletion */
	uint64_t cas;
};

struct changes {
	struct change *v;
	size_t n, cap;
};

static void add(struct changes *c, const char *key, char *value, uint64_t cas)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 256;
		c->v = realloc(c->v, c->cap * sizeof *c->v);
	}
	snprintf(c->v[c->n].key, sizeof c->v[c->n].key, "%s", key);
	c->v[c->n].value = value;
	c->v[c->n].cas = cas;
	c->n++;
}

static char *dbz(const struct c360_person *p, const char *op, const char *addr1,
		 const char *phone, int64_t ts)
{
	struct c360_buf b;
	c360_buf_init(&b, 0);
	char row[1024];
	snprintf(row, sizeof row,
		 "{\"id\":%u,\"name\":\"%s %s\",\"email\":\"%s\",\"password\":\"%s\","
		 "\"address_line_1\":\"%s\",\"address_line_2\":\"%s\",\"city\":\"%s\","
		 "\"state\":\"%s\",\"zipcode\":\"%s\",\"phonenumber\":\"%s\"}",
		 p->home_id, p->first, p->last, p->home_email, p->home_pass, addr1, p->address2,
		 p->city, p->state, p->zipcode, phone);
	bool del = !strcmp(op, "d");
	c360_buf_printf(&b,
			"{\"before\":%s,\"after\":%s,\"source\":{\"name\":\"dbserver1\","
			"\"ts_ms\":%lld},\"op\":\"%s\",\"ts_ms\":%lld}",
			del ? row : "null", del ? "null" : row, (long long)ts, op, (long long)ts + 7);
	return c360_buf_detach(&b, NULL);
}

/* Home delivery (creates, later updates and deletes as Debezium events on
 * the same staging key) and loyalty rows with case/space variants. */
static void generate(struct changes *c, uint32_t n)
{
	struct c360_retailer r;
	c360_retailer_init(&r, n);
	r.p_variant = 20;
	r.p_update = 30;
	r.p_delete = 10;
	for (uint32_t i = 0; i < n; i++) {
		struct c360_person p;
		c360_retailer_person(&r, i, &p);
		char key[64];
		int64_t ts = 1700000000000 + (int64_t)i * 1000;
		if (p.in_home) {
			snprintf(key, sizeof key, "{\"id\":%u}", p.home_id);
			add(c, key, dbz(&p, "c", p.address1, p.phone, ts), 1);
			if (p.home_updated)
				add(c, key, dbz(&p, "u", p.new_address1, p.new_phone, ts + 500), 2);
			if (p.home_deleted)
				add(c, key, dbz(&p, "d", p.address1, p.phone, ts + 900), 3);
		}
		if (p.in_loyalty) {
			snprintf(key, sizeof key, "loyalty-member-%u", p.loyalty_id);
			struct c360_buf b;
			c360_buf_init(&b, 0);
			c360_buf_printf(&b,
					"{\"id\":\"%u\",\"password\":\"%s\",\"firstName\":\"%s\","
					"\"lastName\":\"%s\",\"email\":\"%s\",\"points\":\"%u\"}",
					p.loyalty_id, p.loyalty_pass, p.first, p.last, p.loyalty_email,
					p.points);
			/* the CAS is the staging write's time: fixed with the change */
			add(c, key, c360_buf_detach(&b, NULL), 1700000000000000000ull + i * 1000000ull);
		}
	}
}

static void apply_all(c360_integrate *ig, const struct changes *c, const size_t *order)
{
	for (size_t i = 0; i < c->n; i++) {
		const struct change *x = &c->v[order ? order[i] : i];
		if (x->value)
			c360_integrate_update(ig, x->key, strlen(x->key), x->value, strlen(x->value),
					      x->cas);
		else
			c360_integrate_delete(ig, x->key, strlen(x->key), false);
	}
	c360_integrate_flush(ig);
}

struct dump {
	struct c360_buf b;
};

static int dump_cb(const struct c360_feed_event *ev, void *ctx)
{
	struct c360_buf *b = ctx;
	if (ev->op == C360_FEED_MUTATION) {
		c360_buf_append(b, ev->key, ev->key_len);
		c360_buf_putc(b, '\t');
		c360_buf_append(b, ev->value, ev->value_len);
		c360_buf_putc(b, '\n');
	}
	return 0;
}

static int cmp_line(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every live document of a bucket, sorted by key, as "key\tvalue\n" lines. */
static char *dump_bucket(const char *bucket)
{
	struct c360_buf b, out;
	c360_buf_init(&b, 0);
	c360_buf_init(&out, 0);
	c360_feed_read(st, bucket, 0, 0, dump_cb, &b, NULL);
	size_t n = 0;
	for (size_t i = 0; i < b.len; i++)
		n += b.data[i] == '\n';
	char **lines = calloc(n + 1, sizeof *lines);
	size_t k = 0;
	for (char *p = b.data; p && *p && k < n;) {
		char *nl = strchr(p, '\n');
		*nl = '\0';
		lines[k++] = p;
		p = nl + 1;
	}
	qsort(lines, k, sizeof *lines, cmp_line);
	for (size_t i = 0; i < k; i++) {
		c360_buf_puts(&out, lines[i]);
		c360_buf_putc(&out, '\n');
	}
	free(lines);
	c360_buf_release(&b);
	return c360_buf_detach(&out, NULL);
}

static char *run_changes(const struct changes *c, const size_t *order, int times)
{
	open_store("staging", NULL);
	c360_imap *m = mapping(false);
	setenv("C360_SECRET_KEY", "order-independence-test-key", 1);
	c360_integrate *ig = NULL;
	char err[256];
	struct c360_integrate_opts o = {.no_online = true, .batch_max = 97};
	if (!m || c360_integrate_new(st, m, &o, &ig, err, sizeof err)) {
		printf("  engine: %s\n", err);
		c360_imap_free(m);
		close_store();
		return NULL;
	}
	for (int t = 0; t < times; t++)
		apply_all(ig, c, order);
	c360_integrate_free(ig);
	char *d = dump_bucket("customer360");
	c360_imap_free(m);
	close_store();
	unsetenv("C360_SECRET_KEY");
	return d;
}

TEST(order_independence_shuffled_and_replayed_twice)
{
	struct changes c = {0};
	generate(&c, 400);
	REQUIRE(c.n > 500);
	size_t *order = malloc(c.n * sizeof *order);
	for (size_t i = 0; i < c.n; i++)
		order[i] = i;
	char *base = run_changes(&c, NULL, 1);
	REQUIRE(base && strlen(base) > 1000);
	/* reversed, then two seeded shuffles, then in order twice */
	for (int round = 0; round < 4; round++) {
		if (round == 0) {
			for (size_t i = 0; i < c.n; i++)
				order[i] = c.n - 1 - i;
		} else {
			srand(1234 + round);
			for (size_t i = c.n - 1; i > 0; i--) {
				size_t j = (size_t)rand() % (i + 1);
				size_t t = order[i];
				order[i] = order[j];
				order[j] = t;
			}
		}
		char *d = run_changes(&c, order, round == 3 ? 2 : 1);
		CHECK(d && !strcmp(d, base));
		if (d && strcmp(d, base))
			printf("  round %d differs\n", round);
		free(d);
	}
	/* deleted people are gone, updated ones carry the update */
	CHECK(strstr(base, "\"lineage\"") != NULL);
	for (size_t i = 0; i < c.n; i++)
		free(c.v[i].value);
	free(c.v);
	free(order);
	free(base);
}

TEST(one_person_one_profile)
{
	open_store("staging", NULL);
	c360_imap *m = mapping(true);
	REQUIRE(m);
	c360_integrate *ig;
	char err[256];
	struct c360_integrate_opts o = {.no_online = true};
	REQUIRE(c360_integrate_new(st, m, &o, &ig, err, sizeof err) == C360_OK);
	stage("{\"id\":1}", "{\"payload\":{\"after\":{\"id\":1,\"name\":\"Alice Liddell\","
			    "\"email\":\"alice@example.com\",\"city\":\"Oxford\"},\"source\":{\"name\":"
			    "\"dbserver1\",\"ts_ms\":1000},\"op\":\"c\"}}");
	stage("loyalty-1", "{\"id\":\"7\",\"email\":\"  Alice@Example.COM \",\"points\":\"5\","
			   "\"firstName\":\"Alice\",\"lastName\":\"L.\"}");
	stage("loyalty-2", "{\"id\":\"8\",\"email\":\"alice@example.org\",\"points\":\"9\"}");
	stage("loyalty-3", "{\"id\":\"9\",\"email\":\"alice+shop@example.com\",\"points\":\"1\"}");
	stage("loyalty-4", "{\"id\":\"10\",\"email\":\"   \",\"points\":\"1\"}");
	REQUIRE(follow(ig) == 0);
	struct c360_integrate_stats s;
	c360_integrate_get_stats(ig, &s);
	CHECK_EQ_INT(s.no_identity, 1);
	c360_integrate_free(ig);
	char *a = get("customer360", "alice@example.com");
	REQUIRE(a);
	CHECK(strstr(a, "\"external_system\":\"home_delivery\"") != NULL);
	CHECK(strstr(a, "\"external_system\":\"loyalty\",\"external_ID\":\"7\"") != NULL);
	CHECK(strstr(a, "\"email\":\"  Alice@Example.COM \"") != NULL); /* original spelling */
	CHECK(strstr(a, "\"loyaltyPoints\":\"5\"") != NULL);
	CHECK(strstr(a, "\"name\":\"Alice Liddell\"") != NULL); /* home delivery first */
	free(a);
	char *b = get("customer360", "alice@example.org");
	char *c = get("customer360", "alice+shop@example.com");
	CHECK(b && strstr(b, "\"9\"") && !strstr(b, "home_delivery"));
	CHECK(c && !strstr(c, "home_delivery"));
	free(b);
	free(c);
	CHECK(get("customer360", "Alice@Example.COM") == NULL);
	struct c360_bucket_info bi;
	c360_store_bucket_info(st, "customer360", &bi);
	CHECK_EQ_INT(bi.count, 3);
	c360_imap_free(m);
	close_store();
}

static int64_t fake_now;
static int64_t fake_clock(void *ctx)
{
	(void)ctx;
	return fake_now;
}

/* A home-delivery event without source.ts_ms, arriving after a timestamped
 * event of the same row (under another staging key): merged, counted as
 * no_timestamp, and it does not replace the timestamped version. */
TEST(event_without_timestamp_is_counted_and_does_not_undo_a_timestamped_one)
{
	open_store("staging", NULL);
	c360_imap *m = mapping(true);
	REQUIRE(m);
	c360_integrate *ig;
	char err[256];
	struct c360_integrate_opts o = {.no_online = true};
	REQUIRE(c360_integrate_new(st, m, &o, &ig, err, sizeof err) == C360_OK);
	stage("cdc-1", "{\"payload\":{\"after\":{\"id\":5,\"name\":\"Bob\",\"email\":"
	               "\"bob@example.com\",\"city\":\"Paris\"},\"source\":{\"name\":"
	               "\"dbserver1\",\"ts_ms\":2000},\"op\":\"u\"}}");
	stage("cdc-2", "{\"payload\":{\"after\":{\"id\":5,\"name\":\"Bob\",\"email\":"
	               "\"bob@example.com\",\"city\":\"Stale\"},\"source\":{\"name\":"
	               "\"dbserver1\"},\"op\":\"u\"}}");
	REQUIRE(follow(ig) == 0);
	struct c360_integrate_stats s;
	c360_integrate_get_stats(ig, &s);
	CHECK_EQ_INT(s.no_timestamp, 1);
	CHECK_EQ_INT(s.no_identity, 0);
	struct c360_buf b;
	c360_buf_init(&b, 0);
	CHECK(c360_integrate_stats_json(ig, &b) == C360_OK);
	CHECK(b.data && strstr(b.data, "\"no_timestamp\":1") != NULL);
	c360_buf_release(&b);
	c360_integrate_free(ig);
	char *a = get("customer360", "bob@example.com");
	CHECK(a && strstr(a, "\"city\":\"Paris\"") && !strstr(a, "Stale"));
	free(a);
	c360_imap_free(m);
	close_store();
}

TEST(deletes_recompute_and_expiry_keeps)
{
	open_store("staging", NULL);
	c360_imap *m = mapping(true);
	REQUIRE(m);
	c360_integrate *ig;
	char err[256];
	struct c360_integrate_opts o = {.no_online = true};
	REQUIRE(c360_integrate_new(st, m, &o, &ig, err, sizeof err) == C360_OK);
	stage("{\"id\":1}", "{\"payload\":{\"after\":{\"id\":1,\"name\":\"Bob Home\",\"email\":"
			    "\"bob@x.io\",\"city\":\"Leeds\"},\"source\":{\"name\":\"dbserver1\","
			    "\"ts_ms\":1000},\"op\":\"c\"}}");
	stage("{\"id\":2}", "{\"payload\":{\"after\":{\"id\":2,\"name\":\"Carol\",\"email\":"
			    "\"carol@x.io\"},\"source\":{\"name\":\"dbserver1\",\"ts_ms\":1000},"
			    "\"op\":\"c\"}}");
	fake_now = 1800000000;
	c360_store_set_clock(st, fake_clock, NULL);
	const char *loy = "{\"id\":\"3\",\"email\":\"bob@x.io\",\"points\":\"12\",\"firstName\":"
			  "\"Robert\",\"lastName\":\"Loyal\"}";
	REQUIRE(c360_store_upsert(st, "staging", "loyalty-3", 9, loy, strlen(loy), 90000, NULL) == 0);
	REQUIRE(follow(ig) == 0);
	char *b = get("customer360", "bob@x.io");
	CHECK(b && strstr(b, "\"name\":\"Bob Home\"") && strstr(b, "\"city\":\"Leeds\""));
	free(b);
	/* the sink deletes the staging document on a CDC delete: bob keeps his
	 * loyalty side (the name falls back to it), carol has nothing left */
	REQUIRE(c360_store_delete(st, "staging", "{\"id\":1}", 8, 0) == 0);
	REQUIRE(c360_store_delete(st, "staging", "{\"id\":2}", 8, 0) == 0);
	REQUIRE(follow(ig) == 0);
	b = get("customer360", "bob@x.io");
	CHECK(b && strstr(b, "\"name\":\"Robert Loyal\"") && !strstr(b, "Leeds") &&
	      !strstr(b, "home_delivery"));
	CHECK(get("customer360", "carol@x.io") == NULL);
	/* a Debezium delete kept as a document (op d) removes it too */
	stage("{\"id\":1}", "{\"payload\":{\"after\":{\"id\":1,\"name\":\"Bob Home\",\"email\":"
			    "\"bob@x.io\",\"city\":\"York\"},\"source\":{\"name\":\"dbserver1\","
			    "\"ts_ms\":2000},\"op\":\"c\"}}");
	REQUIRE(follow(ig) == 0);
	char *b2 = get("customer360", "bob@x.io");
	CHECK(b2 && strstr(b2, "York"));
	free(b2);
	stage("{\"id\":1}", "{\"payload\":{\"before\":{\"id\":1,\"email\":\"bob@x.io\"},\"after\":null,"
			    "\"source\":{\"name\":\"dbserver1\",\"ts_ms\":3000},\"op\":\"d\"}}");
	REQUIRE(follow(ig) == 0);
	b2 = get("customer360", "bob@x.io");
	CHECK(b2 && !strstr(b2, "York") && strstr(b2, "Robert Loyal"));
	free(b2);
	/* the nightly TTL: the loyalty staging row expires, customer360 keeps it */
	fake_now += 100000;
	size_t swept = 0;
	CHECK(c360_store_sweep(st, "staging", 0, &swept) == 0);
	CHECK_EQ_INT(swept, 1);
	REQUIRE(follow(ig) == 0);
	struct c360_integrate_stats s;
	c360_integrate_get_stats(ig, &s);
	CHECK_EQ_INT(s.expirations, 1);
	char *b3 = get("customer360", "bob@x.io");
	CHECK(b3 && b && !strcmp(b3, b));
	free(b3);
	free(b);
	c360_integrate_free(ig);
	c360_imap_free(m);
	close_store();
}

TEST(email_change_moves_the_record)
{
	open_store("staging", NULL);
	c360_imap *m = mapping(true);
	REQUIRE(m);
	c360_integrate *ig;
	char err[256];
	struct c360_integrate_opts o = {.no_online = true};
	REQUIRE(c360_integrate_new(st, m, &o, &ig, err, sizeof err) == C360_OK);
	stage("{\"id\":5}", "{\"payload\":{\"after\":{\"id\":5,\"name\":\"Dan\",\"email\":\"dan@old.io\"},"
			    "\"source\":{\"name\":\"dbserver1\",\"ts_ms\":1000},\"op\":\"c\"}}");
	REQUIRE(follow(ig) == 0);
	char *d0 = get("customer360", "dan@old.io");
	CHECK(d0 != NULL);
	free(d0);
	stage("{\"id\":5}", "{\"payload\":{\"after\":{\"id\":5,\"name\":\"Dan\",\"email\":\"dan@new.io\"},"
			    "\"source\":{\"name\":\"dbserver1\",\"ts_ms\":2000},\"op\":\"u\"}}");
	REQUIRE(follow(ig) == 0);
	char *o1 = get("customer360", "dan@old.io"), *n1 = get("customer360", "dan@new.io");
	CHECK(o1 == NULL);
	CHECK(n1 && strstr(n1, "\"external_ID\":5"));
	free(o1);
	free(n1);
	c360_integrate_free(ig);
	c360_imap_free(m);
	close_store();
}

/* The native kind under the eventing runtime: the same documents. */
TEST(native_kind_runs_under_eventing)
{
	c360_mockstore *ms = groves_store();
	REQUIRE(ms);
	setenv("C360_ONLINE_STORE_URL", c360_mockstore_url(ms), 1);
	open_store("staging", NULL);
	struct c360_fn_def def;
	c360_fn_def_init(&def);
	snprintf(def.name, sizeof def.name, "customer360");
	snprintf(def.kind, sizeof def.kind, "native");
	snprintf(def.source_bucket, sizeof def.source_bucket, "staging");
	snprintf(def.metadata_bucket, sizeof def.metadata_bucket, "customer360_metadata");
	char *yaml = slurp("functions/customer360.yaml");
	REQUIRE(yaml);
	char *p = strstr(yaml, "mode: hash");
	REQUIRE(p);
	struct c360_buf b;
	c360_buf_init(&b, 0);
	c360_buf_append(&b, yaml, (size_t)(p - yaml));
	c360_buf_puts(&b, "mode: plain");
	c360_buf_puts(&b, p + 10);
	free(yaml);
	def.code = c360_buf_detach(&b, &def.code_len);
	def.worker_count = 2;
	char err[512] = "";
	c360_rc rc = c360_fn_def_check(&def, err, sizeof err);
	if (rc)
		printf("  check: %s\n", err);
	REQUIRE(rc == C360_OK);
	stage_file("{\"id\":1029}", "tests/fixtures/debezium/customer_with_schema.json");
	stage_file("key::1", "functions/tests/matthew_groves/loyalty_member.json");
	rc = c360_fn_deploy(st, &def, err, sizeof err);
	if (rc)
		printf("  deploy: %s\n", err);
	REQUIRE(rc == C360_OK);
	struct c360_fn_def dd;
	enum c360_fn_state state;
	uint64_t boundary;
	REQUIRE(c360_fn_load(st, "customer360", &dd, &state, &boundary) == C360_OK);
	c360_fn_run *r = NULL;
	rc = c360_fn_run_new(st, &dd, boundary, &r, err, sizeof err);
	c360_fn_def_release(&dd);
	if (rc)
		printf("  run_new: %s\n", err);
	REQUIRE(rc == C360_OK);
	CHECK(c360_fn_run_loop(r, NULL, true) == C360_OK);
	struct c360_fn_stats s;
	c360_fn_run_stats(r, &s);
	CHECK_EQ_INT(s.processed, 2);
	CHECK_EQ_INT(s.failures, 0);
	c360_fn_run_free(r);
	CHECK(doc_is("matthew.groves@couchbase.com", EXP "matthew.groves@couchbase.com.json"));
	CHECK(doc_is("order::1", EXP "order::1.json"));
	/* a bad mapping is refused at deploy with file:line:column */
	free(def.code);
	def.code = strdup("fields:\n  profile.name: newest\nsources:\n  - system: a\n"
			  "    match: /x present\n    identity: /e\n    external_id: /i\n");
	def.code_len = strlen(def.code);
	CHECK(c360_fn_def_check(&def, err, sizeof err) != C360_OK);
	CHECK(strstr(err, "customer360:2:17:") != NULL);
	if (!strstr(err, "customer360:2:17:"))
		printf("  check said: %s\n", err);
	c360_fn_def_release(&def);
	close_store();
	unsetenv("C360_ONLINE_STORE_URL");
	c360_mockstore_free(ms);
}

/* The eventing kind with two workers gives the same bytes as the batched
 * runner over the same staging documents (same CAS clocks). */
TEST(native_kind_with_workers_equals_batched_run)
{
	struct changes c = {0};
	generate(&c, 300);
	open_store("staging", NULL);
	setenv("C360_SECRET_KEY", "kind-vs-run-test-key", 1);
	for (size_t i = 0; i < c.n; i++)
		if (c.v[i].value)
			stage(c.v[i].key, c.v[i].value);
	c360_imap *m = mapping(false);
	REQUIRE(m);
	c360_integrate *ig;
	char err[512] = "";
	struct c360_integrate_opts o = {.no_online = true, .batch_max = 50};
	REQUIRE(c360_integrate_new(st, m, &o, &ig, err, sizeof err) == C360_OK);
	REQUIRE(follow(ig) == 0);
	c360_integrate_free(ig);
	c360_imap_free(m);

	char *yaml = slurp("functions/customer360.yaml");
	REQUIRE(yaml);
	struct c360_buf b;
	c360_buf_init(&b, 0);
	const char *t = strstr(yaml, "target_bucket: customer360");
	const char *md = strstr(yaml, "metadata_bucket: customer360_metadata");
	REQUIRE(t && md && t < md);
	c360_buf_append(&b, yaml, (size_t)(t - yaml));
	c360_buf_puts(&b, "target_bucket: c360native");
	c360_buf_append(&b, t + strlen("target_bucket: customer360"),
			(size_t)(md - (t + strlen("target_bucket: customer360"))));
	c360_buf_puts(&b, "metadata_bucket: native_meta");
	c360_buf_puts(&b, md + strlen("metadata_bucket: customer360_metadata"));
	free(yaml);
	/* no online store in this test */
	unsetenv("C360_ONLINE_STORE_URL");
	struct c360_fn_def def;
	c360_rc rc;
	c360_fn_def_init(&def);
	snprintf(def.name, sizeof def.name, "kindtest");
	snprintf(def.kind, sizeof def.kind, "native");
	snprintf(def.source_bucket, sizeof def.source_bucket, "staging");
	snprintf(def.metadata_bucket, sizeof def.metadata_bucket, "native_meta");
	def.code = c360_buf_detach(&b, &def.code_len);
	/* no online store: without a url (and no $C360_ONLINE_STORE_URL) it is
	 * never called, as in the batched run (no_online) */
	char *url = strstr(def.code, "url: http://127.0.0.1:8080");
	REQUIRE(url);
	memset(url, ' ', strlen("url: http://127.0.0.1:8080"));
	url[0] = '#';
	def.code_len = strlen(def.code);
	def.worker_count = 2;
	rc = c360_fn_deploy(st, &def, err, sizeof err);
	if (rc)
		printf("  deploy: %s\n", err);
	REQUIRE(rc == C360_OK);
	struct c360_fn_def dd;
	enum c360_fn_state state;
	uint64_t boundary;
	REQUIRE(c360_fn_load(st, "kindtest", &dd, &state, &boundary) == C360_OK);
	c360_fn_run *r = NULL;
	rc = c360_fn_run_new(st, &dd, boundary, &r, err, sizeof err);
	if (rc)
		printf("  run_new: %s\n", err);
	REQUIRE(rc == C360_OK);
	CHECK(c360_fn_run_loop(r, NULL, true) == C360_OK);
	c360_fn_run_free(r);
	c360_fn_def_release(&dd);
	c360_fn_def_release(&def);
	/* same mapping, same staging documents and CAS clocks: the same bytes */
	char *a = dump_bucket("customer360"), *k = dump_bucket("c360native");
	CHECK(a && k && strlen(a) > 1000 && !strcmp(a, k));
	if (a && k && strcmp(a, k))
		printf("  batched and kind differ (%zu vs %zu bytes)\n", strlen(a), strlen(k));
	free(a);
	free(k);
	for (size_t i = 0; i < c.n; i++)
		free(c.v[i].value);
	free(c.v);
	unsetenv("C360_SECRET_KEY");
	close_store();
}

/* The bounded cache: a tiny one (documents evicted all the time, reads go to
 * the store) gives the same customer and metadata documents as a large one,
 * through integrate run's path (feed, commits in a writer thread), and so
 * does a restart on the existing state (the key filter then is not trusted). */
/* The shipped mapping with loyalty's clock (the staging CAS, which differs
 * from run to run) replaced by arrival order. */
static c360_imap *mapping_no_cas(void)
{
	char *text = slurp("functions/customer360.yaml");
	char *p = text ? strstr(text, "timestamp: cas") : NULL;
	c360_imap *m = NULL;
	char err[512];
	if (p) {
		struct c360_buf b;
		c360_buf_init(&b, 0);
		c360_buf_append(&b, text, (size_t)(p - text));
		c360_buf_puts(&b, "timestamp: none");
		c360_buf_puts(&b, p + 14);
		if (c360_imap_load("customer360.yaml", b.data, b.len, &m, err, sizeof err))
			printf("  %s\n", err);
		c360_buf_release(&b);
	}
	free(text);
	return m;
}

/* A writer that takes its time: the next batch is merged while a commit is
 * still in flight (its documents must come from the cache, not the store). */
static c360_rc slow_write(void *ctx, struct c360_write *ops, size_t n)
{
	usleep(3000);
	return c360_store_write(ctx, ops, n);
}

static char *run_follow(const struct changes *c, size_t cache_bytes, bool restart,
			struct c360_integrate_stats *s)
{
	open_store("staging", NULL);
	c360_imap *m = mapping_no_cas();
	setenv("C360_SECRET_KEY", "bounded-cache-test-key", 1);
	char err[256];
	struct c360_integrate_opts o = {.no_online = true, .batch_max = 80,
					.cache_bytes = cache_bytes, .write = slow_write,
					.write_ctx = st};
	struct c360_integrate_follow_opts fo = {.exit_when_idle = true};
	memset(s, 0, sizeof *s);
	c360_integrate *ig = NULL;
	for (size_t i = 0; m && i < c->n;) {
		/* a slice of changes into staging (every other one first, so one
		 * person's changes land in consecutive batches), then follow it */
		size_t end = i + 150 < c->n ? i + 150 : c->n;
		for (size_t j = 0; j < end - i; j++) {
			size_t h = (end - i + 1) / 2;
			const struct change *x = &c->v[i + (j < h ? 2 * j : 2 * (j - h) + 1)];
			if (x->value)
				c360_store_upsert(st, "staging", x->key, strlen(x->key), x->value,
						  strlen(x->value), 0, NULL);
			else
				c360_store_delete(st, "staging", x->key, strlen(x->key), 0);
		}
		i = end;
		if (!ig && c360_integrate_new(st, m, &o, &ig, err, sizeof err)) {
			printf("  engine: %s\n", err);
			break;
		}
		if (c360_integrate_follow(ig, &fo, err, sizeof err))
			printf("  follow: %s\n", err);
		if (restart) {
			struct c360_integrate_stats t;
			c360_integrate_get_stats(ig, &t);
			s->meta_reads += t.meta_reads;
			s->cache_evictions += t.cache_evictions;
			c360_integrate_free(ig);
			ig = NULL;
		}
	}
	if (ig) {
		c360_integrate_get_stats(ig, s);
		c360_integrate_free(ig);
	}
	char *a = dump_bucket("customer360");
	char *b = dump_bucket("customer360_metadata");
	struct c360_buf out;
	c360_buf_init(&out, 0);
	c360_buf_puts(&out, a ? a : "");
	c360_buf_puts(&out, "--\n");
	c360_buf_puts(&out, b ? b : "");
	free(a);
	free(b);
	c360_imap_free(m);
	close_store();
	unsetenv("C360_SECRET_KEY");
	return c360_buf_detach(&out, NULL);
}

TEST(bounded_cache_gives_the_same_documents)
{
	struct changes c = {0};
	generate(&c, 600);
	/* staging deletions too: every 7th loyalty row goes away later */
	size_t n0 = c.n;
	for (size_t i = 0; i < n0; i += 7) {
		char key[64]; /* add() may move c.v */
		snprintf(key, sizeof key, "%s", c.v[i].key);
		if (!strncmp(key, "loyalty-member-", 15))
			add(&c, key, NULL, 0);
	}
	struct c360_integrate_stats big, tiny, restart;
	char *a = run_follow(&c, 256u << 20, false, &big);
	char *b = run_follow(&c, 1, false, &tiny); /* raised to the minimum */
	char *r = run_follow(&c, 256u << 20, true, &restart);
	REQUIRE(a && b && r && strlen(a) > 10000);
	CHECK(strstr(a, "\"lineage\"") != NULL);
	CHECK(!strcmp(a, b));
	CHECK(!strcmp(a, r));
	/* the large cache never reads the store (it started empty: absent keys
	 * are known absent); the tiny one evicts and reads */
	CHECK_EQ_INT(big.meta_reads, 0);
	CHECK_EQ_INT(big.cache_evictions, 0);
	CHECK(tiny.cache_evictions > 0);
	CHECK(tiny.meta_reads > 0);
	CHECK(restart.meta_reads > 0);
	for (size_t i = 0; i < c.n; i++)
		free(c.v[i].value);
	free(c.v);
	free(a);
	free(b);
	free(r);
}

/* The customer document written as text is byte for byte the document built
 * and serialized, for every state of a run with deletes, variants and
 * updates (and with secrets in plain, and without lineage). */
static int check_state_cb(const struct c360_feed_event *ev, void *ctx)
{
	const c360_imap *m = ctx;
	if (ev->op != C360_FEED_MUTATION || ev->key_len < 10 || memcmp(ev->key, "c360n::s::", 10))
		return 0;
	c360_json_doc *d = NULL;
	if (c360_json_parse(ev->value, ev->value_len, NULL, &d, NULL)) {
		CHECK(!"state is JSON");
		return 0;
	}
	c360_json_doc *out = c360_json_doc_new();
	c360_json *cust = NULL;
	CHECK(c360_imap_build(m, c360_json_doc_root(d), out, &cust) == C360_OK);
	struct c360_buf a, b;
	c360_buf_init(&a, 0);
	c360_buf_init(&b, 0);
	if (cust)
		c360_json_write(cust, C360_JSON_COMPACT, &a);
	bool none = false;
	CHECK(c360_imap_build_text(m, c360_json_doc_root(d), &b, &none) == C360_OK);
	CHECK(none == !cust);
	CHECK(a.len == b.len && (!a.len || !memcmp(a.data, b.data, a.len)));
	if (a.len != b.len || (a.len && memcmp(a.data, b.data, a.len)))
		printf("  %.*s\n  %.*s\n", (int)a.len, a.data ? a.data : "", (int)b.len,
		       b.data ? b.data : "");
	c360_buf_release(&a);
	c360_buf_release(&b);
	c360_json_doc_free(out);
	c360_json_doc_free(d);
	return 0;
}

TEST(customer_as_text_equals_the_built_document)
{
	struct changes c = {0};
	generate(&c, 300);
	const char *variants[] = {NULL, "mode: plain", "lineage: false"};
	for (int v = 0; v < 3; v++) {
		open_store("staging", NULL);
		char *text = slurp("functions/customer360.yaml");
		REQUIRE(text);
		struct c360_buf y;
		c360_buf_init(&y, 0);
		char *p = v == 1 ? strstr(text, "mode: hash") : NULL;
		if (p) {
			c360_buf_append(&y, text, (size_t)(p - text));
			c360_buf_puts(&y, variants[v]);
			c360_buf_puts(&y, p + 10);
		} else {
			c360_buf_puts(&y, text);
			if (v == 2)
				c360_buf_printf(&y, "\n%s\n", variants[v]);
		}
		free(text);
		char err[512];
		c360_imap *m = NULL;
		if (c360_imap_load("customer360.yaml", y.data, y.len, &m, err, sizeof err))
			printf("  %s\n", err);
		c360_buf_release(&y);
		REQUIRE(m);
		setenv("C360_SECRET_KEY", "customer-as-text-test-key", 1);
		c360_integrate *ig = NULL;
		struct c360_integrate_opts o = {.no_online = true, .batch_max = 50};
		REQUIRE(c360_integrate_new(st, m, &o, &ig, err, sizeof err) == C360_OK);
		apply_all(ig, &c, NULL);
		c360_integrate_free(ig);
		c360_feed_read(st, "customer360_metadata", 0, 0, check_state_cb, m, NULL);
		c360_imap_free(m);
		unsetenv("C360_SECRET_KEY");
		close_store();
	}
	for (size_t i = 0; i < c.n; i++)
		free(c.v[i].value);
	free(c.v);
}

/* The shipped mapping with its target and metadata buckets renamed. */
static c360_imap *mapping_into(const char *target, const char *meta)
{
	char *text = slurp("functions/customer360.yaml");
	if (!text)
		return NULL;
	struct c360_buf b;
	c360_buf_init(&b, 0);
	for (char *line = text, *nl; *line; line = nl) {
		nl = strchr(line, '\n');
		nl = nl ? nl + 1 : line + strlen(line);
		if (!strncmp(line, "target_bucket:", 14))
			c360_buf_printf(&b, "target_bucket: %s\n", target);
		else if (!strncmp(line, "metadata_bucket:", 16))
			c360_buf_printf(&b, "metadata_bucket: %s\n", meta);
		else
			c360_buf_append(&b, line, (size_t)(nl - line));
	}
	free(text);
	c360_imap *m = NULL;
	char err[256];
	if (c360_imap_load("renamed.yaml", b.data, b.len, &m, err, sizeof err))
		printf("  %s\n", err);
	c360_buf_release(&b);
	return m;
}

/* Whether this process holds a lock in the store's lock file, as another
 * process sees it (a child asks with F_GETLK on a descriptor of its own). */
static bool others_see_a_claim(void)
{
	char path[300];
	snprintf(path, sizeof path, "%s/s.db-integrate.lock", dir);
	fflush(NULL);
	pid_t child = fork();
	if (child == 0) {
		int fd = open(path, O_RDWR);
		struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
		_exit(fd >= 0 && !fcntl(fd, F_GETLK, &fl) && fl.l_type != F_UNLCK &&
		      fl.l_pid == getppid());
	}
	int status = 0;
	return child > 0 && waitpid(child, &status, 0) == child && WIFEXITED(status) &&
	       WEXITSTATUS(status) == 1;
}

/* One engine per target: a second engine on the same target or metadata
 * bucket is refused with who holds it (two would overwrite each other's
 * customers and state), also through another handle on the same file;
 * engines committing record by record (the eventing kind's workers) share
 * with each other, not with a batched one; other buckets are free; freeing
 * an engine frees its buckets. Another process and kill -9: e2e/integrate. */
TEST(one_engine_per_target)
{
	open_store("staging", NULL);
	c360_imap *m = mapping(false), *other = mapping_into("c360b", "c360b_meta"),
		  *same_meta = mapping_into("c360c", "customer360_metadata");
	REQUIRE(m && other && same_meta);
	char err[512], path[300];
	c360_integrate *a = NULL, *b = NULL, *c = NULL;
	struct c360_integrate_opts oa = {.name = "first", .no_online = true},
				   ob = {.name = "second", .no_online = true},
				   ow = {.name = "worker", .batch_max = 1},
				   om = {.name = "second", .metadata_bucket = "other_meta"};
	REQUIRE(c360_integrate_new(st, m, &oa, &a, err, sizeof err) == C360_OK);
	CHECK(others_see_a_claim());
	CHECK(c360_integrate_new(st, m, &ob, &b, err, sizeof err) == C360_ERR_BUSY);
	CHECK(!b);
	CHECK(strstr(err, "'native:first' already integrates into bucket 'customer360' of "
			  "this store in this process"));
	/* the same customers through another metadata bucket, or the same state
	 * for another target */
	CHECK(c360_integrate_new(st, m, &om, &b, err, sizeof err) == C360_ERR_BUSY);
	CHECK(c360_integrate_new(st, same_meta, &ob, &b, err, sizeof err) == C360_ERR_BUSY);
	CHECK(strstr(err, "bucket 'customer360_metadata'"));
	CHECK(c360_integrate_new(st, m, &ow, &b, err, sizeof err) == C360_ERR_BUSY);
	/* another handle on the same file: the same store */
	c360_store *st2 = NULL;
	snprintf(path, sizeof path, "%s/s.db", dir);
	REQUIRE(c360_store_open(path, NULL, &st2, err, sizeof err) == C360_OK);
	CHECK(c360_integrate_new(st2, m, &ob, &b, err, sizeof err) == C360_ERR_BUSY);
	/* the same file through a symlink */
	char link[320];
	snprintf(link, sizeof link, "%s/link.db", dir);
	REQUIRE(symlink("s.db", link) == 0);
	c360_store *st3 = NULL;
	REQUIRE(c360_store_open(link, NULL, &st3, err, sizeof err) == C360_OK);
	CHECK(c360_integrate_new(st3, m, &ob, &b, err, sizeof err) == C360_ERR_BUSY);
	c360_store_close(st3);
	/* other buckets are free; the first claim outlives another engine's
	 * (POSIX locks go when any descriptor of the file is closed) */
	REQUIRE(c360_integrate_new(st2, other, &ob, &b, err, sizeof err) == C360_OK);
	c360_integrate_free(b);
	CHECK(others_see_a_claim());
	c360_integrate_free(a);
	CHECK(!others_see_a_claim());
	/* record-by-record engines share with each other, not with a batched one */
	REQUIRE(c360_integrate_new(st, m, &ow, &a, err, sizeof err) == C360_OK);
	REQUIRE(c360_integrate_new(st2, m, &ow, &b, err, sizeof err) == C360_OK);
	CHECK(c360_integrate_new(st, m, &oa, &c, err, sizeof err) == C360_ERR_BUSY);
	CHECK(strstr(err, "'native:worker' already integrates"));
	c360_integrate_free(a);
	CHECK(c360_integrate_new(st, m, &oa, &c, err, sizeof err) == C360_ERR_BUSY);
	c360_integrate_free(b);
	/* all gone: the buckets are free again, and the engine works */
	REQUIRE(c360_integrate_new(st, m, &oa, &c, err, sizeof err) == C360_OK);
	stage_file("key::1", "functions/tests/matthew_groves/loyalty_member.json");
	REQUIRE(follow(c) == 0);
	char *doc = get("customer360", "matthew.groves@couchbase.com");
	CHECK(doc && strstr(doc, "\"loyaltyPoints\":\"47\""));
	free(doc);
	c360_integrate_free(c);
	c360_store_close(st2);
	c360_imap_free(m);
	c360_imap_free(other);
	c360_imap_free(same_meta);
	close_store();
}

/* A store of an older c360 keeps the generated key in the metadata bucket,
 * where a read token or SQL could fetch it: opening moves it to the key
 * file (mode 600) and deletes the document, and hashes made with it still
 * verify; a file that holds another key is refused, not overwritten. */
TEST(old_key_document_moves_to_a_file)
{
	open_store("staging", NULL);
	unsetenv("C360_SECRET_KEY");
	char err[256] = "", kpath[512];
	uint8_t old[32], key[32];
	memset(old, 0x5a, sizeof old);
	const char *hexkey = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";
	char val[128];
	snprintf(val, sizeof val, "{\"key\":\"%s\"}", hexkey);
	c360_store_bucket_ensure(st, "customer360_metadata", 0);
	c360_store_bucket_ensure(st, "other_metadata", 0);
	REQUIRE(c360_store_upsert(st, "customer360_metadata", "c360n::secret-key", 17, val,
				  strlen(val), 0, NULL) == 0);
	REQUIRE(c360_store_upsert(st, "other_metadata", "c360n::secret-key", 17, val, strlen(val),
				  0, NULL) == 0);
	/* a hash as the old c360 stored it */
	char oldhash[80] = "blake2b:";
	unsigned char in[] = "loyalty\0xrinn5xp.swd", out[32];
	crypto_generichash(out, sizeof out, in, sizeof in - 1, old, sizeof old);
	for (int i = 0; i < 32; i++)
		snprintf(oldhash + 8 + 2 * i, 3, "%02x", out[i]);
	/* what serve and run do at start: every bucket's key document moves */
	REQUIRE(c360_integrate_secure_store(st, err, sizeof err) == C360_OK);
	struct c360_doc d = {0};
	CHECK(c360_store_get(st, "customer360_metadata", "c360n::secret-key", 17, &d) ==
	      C360_ERR_NOT_FOUND);
	CHECK(c360_store_get(st, "other_metadata", "c360n::secret-key", 17, &d) ==
	      C360_ERR_NOT_FOUND);
	struct stat sb;
	REQUIRE(c360_integrate_key_path(st, "customer360_metadata", kpath, sizeof kpath) == 0);
	REQUIRE(stat(kpath, &sb) == 0);
	CHECK_EQ_INT(sb.st_mode & 0777, 0600);
	/* the engine's key is the old one: old hashes verify */
	REQUIRE(c360_integrate_store_key(st, "customer360_metadata", key, err, sizeof err) == 0);
	CHECK(!memcmp(key, old, sizeof key));
	CHECK(c360_imap_verify_secret(key, "loyalty", "xrinn5xp.swd", 12, oldhash));
	/* a wider mode is narrowed when the key is read */
	REQUIRE(chmod(kpath, 0644) == 0);
	REQUIRE(c360_integrate_store_key(st, "customer360_metadata", key, err, sizeof err) == 0);
	REQUIRE(stat(kpath, &sb) == 0);
	CHECK_EQ_INT(sb.st_mode & 0777, 0600);
	/* a document that disagrees with the file is an error for the operator */
	const char *other = "{\"key\":\"0101010101010101010101010101010101010101010101010101010101010101\"}";
	REQUIRE(c360_store_upsert(st, "customer360_metadata", "c360n::secret-key", 17, other,
				  strlen(other), 0, NULL) == 0);
	CHECK(c360_integrate_store_key(st, "customer360_metadata", key, err, sizeof err) ==
	      C360_ERR_CORRUPT);
	CHECK(strstr(err, "hold different keys") != NULL);
	REQUIRE(c360_integrate_store_key(st, "other_metadata", key, err, sizeof err) == 0);
	CHECK(!memcmp(key, old, sizeof key));
	/* a new metadata bucket gets a new random key of its own */
	REQUIRE(c360_integrate_store_key(st, "fresh_metadata", key, err, sizeof err) == 0);
	CHECK(memcmp(key, old, sizeof key));
	close_store();
}

int main(void)
{
	RUN(matthew_groves_gives_the_seed_documents);
	RUN(secrets_are_hashed_by_default);
	RUN(online_store_string_ids);
	RUN(online_store_uuid_ids);
	RUN(old_key_document_moves_to_a_file);
	RUN(order_independence_shuffled_and_replayed_twice);
	RUN(one_person_one_profile);
	RUN(event_without_timestamp_is_counted_and_does_not_undo_a_timestamped_one);
	RUN(deletes_recompute_and_expiry_keeps);
	RUN(email_change_moves_the_record);
	RUN(native_kind_runs_under_eventing);
	RUN(native_kind_with_workers_equals_batched_run);
	RUN(bounded_cache_gives_the_same_documents);
	RUN(customer_as_text_equals_the_built_document);
	RUN(one_engine_per_target);
	return test_summary();
}
