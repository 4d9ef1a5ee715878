/* The customer 360 API in-process: a real store in a temp dir seeded with the
 * tutorial's end state plus a few customers, the API on a free loopback
 * port, requests with libcurl. Covers the 360 document, search, orders,
 * recommendations (kept up to date as orders change), stats, read-only SQL,
 * buckets, raw documents, ETags, tokens and every bad-input path. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/json.h"
#include "serve/api.h"
#include "serve/http.h"
#include "serve/token.h"
#include "store/store.h"
#include "test.h"

static char dir[256];
static c360_store *st;
static c360_http *srv;
static c360_api *api;
static int port;
static char auth_hdr[128]; /* "Authorization: Bearer …" used by req() when set */

struct reply {
	long status;
	struct c360_buf body;
	struct c360_buf headers;
};

static size_t on_data(char *p, size_t sz, size_t n, void *ud)
{
	c360_buf_append(ud, p, sz * n);
	return sz * n;
}

static int req2(const char *method, const char *path, const char *body, const char *h1,
		const char *h2, struct reply *r)
{
	char url[2048];
	snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
	c360_buf_init(&r->body, 0);
	c360_buf_init(&r->headers, 0);
	CURL *c = curl_easy_init();
	struct curl_slist *hl = curl_slist_append(NULL, "Expect:");
	if (h1)
		hl = curl_slist_append(hl, h1);
	if (h2)
		hl = curl_slist_append(hl, h2);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &r->headers);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); /* requests from several threads */
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	CURLcode cc = curl_easy_perform(c);
	if (cc)
		printf("  %s %s: %s\n", method, path, curl_easy_strerror(cc));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	if (!r->body.data)
		c360_buf_puts(&r->body, "");
	if (!r->headers.data)
		c360_buf_puts(&r->headers, "");
	return cc == CURLE_OK ? 0 : -1;
}

static int req(const char *method, const char *path, const char *body, struct reply *r)
{
	return req2(method, path, body, *auth_hdr ? auth_hdr : NULL, NULL, r);
}

static void reply_free(struct reply *r)
{
	c360_buf_release(&r->body);
	c360_buf_release(&r->headers);
}

/* GET path and return the parsed body (caller frees); checks the status. */
static c360_json_doc *get_json(const char *path, long want)
{
	struct reply r;
	if (req("GET", path, NULL, &r))
		return NULL;
	c360_json_doc *d = NULL;
	if (r.status != want)
		printf("  GET %s -> %ld %s\n", path, r.status, r.body.data);
	if (r.status == want)
		c360_json_parse(r.body.data, r.body.len, NULL, &d, NULL);
	reply_free(&r);
	return d;
}

static void put(const char *key, const char *json)
{
	c360_rc rc = c360_store_upsert(st, "customer360", key, strlen(key), json, strlen(json), 0, NULL);
	if (rc)
		printf("  upsert %s: %s\n", key, c360_rc_str(rc));
}

static void sync_index(void)
{
	c360_index_sync(c360_api_index(api), 5000);
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

#define MATT "matthew.groves@couchbase.com"
#define MATT_ENC "matthew.groves%40couchbase.com"

TEST(setup)
{
	snprintf(dir, sizeof dir, "/tmp/c360-test-api-XXXXXX");
	REQUIRE(mkdtemp(dir));
	char path[300], err[256] = "";
	snprintf(path, sizeof path, "%s/store.db", dir);
	struct c360_store_opts so;
	c360_store_opts_init(&so);
	so.synchronous = C360_SYNC_OFF;
	REQUIRE(c360_store_open(path, &so, &st, err, sizeof err) == C360_OK);
	REQUIRE(c360_store_bucket_ensure(st, "customer360", 0) == C360_OK);
	/* the tutorial's end state */
	put(MATT, "{\"type\":\"user\",\"profile\":{\"name\":\"Matthew Groves\",\"address1\":\"600 Sporer Curve\","
		  "\"address2\":\"Suite 528\",\"city\":\"West Evertchester\",\"state\":\"NH\",\"loyaltyPoints\":\"47\"},"
		  "\"xrefs\":[{\"external_system\":\"online_store\",\"external_ID\":1,\"pass\":\"edzchzmatv5\"},"
		  "{\"external_system\":\"home_delivery\",\"external_ID\":1029,\"pass\":\"5owhiy1j.isq\"},"
		  "{\"external_system\":\"loyalty\",\"external_ID\":\"27\",\"pass\":\"xrinn5xp.swd\"}]}");
	put("order::1", "{\"OrderId\":1,\"PurchaseDate\":\"2019-04-25T15:15:5800838522\",\"CustomerId\":1,\"Items\":["
			"{\"OrderId\":1,\"ProductId\":200,\"Quantity\":2,\"Price\":87.81},"
			"{\"OrderId\":1,\"ProductId\":400,\"Quantity\":4,\"Price\":129.86},"
			"{\"OrderId\":1,\"ProductId\":410,\"Quantity\":1,\"Price\":78.64},"
			"{\"OrderId\":1,\"ProductId\":300,\"Quantity\":2,\"Price\":25.03},"
			"{\"OrderId\":1,\"ProductId\":110,\"Quantity\":2,\"Price\":191.92}]}");
	put("order::2", "{\"OrderId\":2,\"PurchaseDate\":\"2019-04-13T16:15:5801361975\",\"CustomerId\":1,\"Items\":["
			"{\"OrderId\":2,\"ProductId\":100,\"Quantity\":2,\"Price\":219.74}]}");
	/* two more online customers whose baskets overlap Matthew's */
	put("ann.lee@example.com", "{\"type\":\"user\",\"profile\":{\"name\":\"Ann Lee\",\"city\":\"Oslo\"},"
				   "\"xrefs\":[{\"external_system\":\"online_store\",\"external_ID\":2,\"pass\":\"x\"}]}");
	put("bob.stone@example.com", "{\"type\":\"user\",\"profile\":{\"name\":\"Bob Stone\"},\"loyaltyPoints\":120,"
				     "\"xrefs\":[{\"external_system\":\"online_store\",\"external_ID\":3},"
				     "{\"external_system\":\"loyalty\",\"external_ID\":\"31\"}]}");
	put("carol.home@example.com", "{\"type\":\"user\",\"profile\":{\"name\":\"Carol Home\"},"
				      "\"xrefs\":[{\"external_system\":\"home_delivery\",\"external_ID\":7}]}");
	put("order::10", "{\"OrderId\":10,\"PurchaseDate\":\"2019-05-02T10:00:00\",\"CustomerId\":2,\"Items\":["
			 "{\"ProductId\":200,\"Quantity\":1,\"Price\":87.81},{\"ProductId\":999,\"Quantity\":1,\"Price\":10}]}");
	put("order::11", "{\"OrderId\":11,\"PurchaseDate\":\"2019-05-03T10:00:00\",\"CustomerId\":3,\"Items\":["
			 "{\"ProductId\":400,\"Quantity\":1,\"Price\":129.86},{\"ProductId\":999,\"Quantity\":1,\"Price\":10},"
			 "{\"ProductId\":555,\"Quantity\":3,\"Price\":5}]}");
	put("product::999", "{\"ProductId\":999,\"Name\":\"Blue Widget\"}");
	put("product::200", "{\"ProductId\":200,\"Name\":\"Garden Hose\"}");

	struct c360_http_opts ho = {.port = 0, .threads = 2};
	srv = c360_http_new(&ho);
	REQUIRE(srv);
	REQUIRE(c360_api_routes(srv, st, NULL, &api, err, sizeof err) == C360_OK);
	REQUIRE(c360_http_start(srv, err, sizeof err) == C360_OK);
	port = c360_http_port(srv);
	CHECK_EQ_INT(c360_index_sync(c360_api_index(api), 5000), C360_OK);
}

TEST(customer_360_document)
{
	c360_json_doc *d = get_json("/api/v1/customers/" MATT_ENC, 200);
	REQUIRE(d);
	c360_json *root = c360_json_doc_root(d);
	CHECK_EQ_STR(c360_json_str(c360_json_get(root, "email"), NULL), MATT);
	CHECK_EQ_STR(c360_json_str(c360_json_ptr_get(root, "/customer/profile/name"), NULL), "Matthew Groves");
	CHECK_EQ_INT(c360_json_len(c360_json_ptr_get(root, "/customer/xrefs")), 3);
	CHECK(c360_json_ptr_get(root, "/customer/xrefs/0/pass") == NULL); /* never served */
	int64_t n = 0;
	CHECK(c360_json_int64(c360_json_get(root, "orders_total"), &n) && n == 2);
	/* newest first */
	CHECK_EQ_STR(c360_json_str(c360_json_ptr_get(root, "/orders/0/key"), NULL), "order::1");
	CHECK_EQ_STR(c360_json_str(c360_json_ptr_get(root, "/orders/1/key"), NULL), "order::2");
	CHECK(c360_json_int64(c360_json_ptr_get(root, "/orders/1/doc/Items/0/ProductId"), &n) && n == 100);
	CHECK_EQ_STR(c360_json_str(c360_json_ptr_get(root, "/products/200"), NULL), "Garden Hose");
	CHECK(c360_json_ptr_get(root, "/products/400") == NULL); /* no product document */
	c360_json_doc_free(d);
	/* the raw body has no password anywhere */
	struct reply r;
	REQUIRE(!req("GET", "/api/v1/customers/" MATT_ENC, NULL, &r));
	CHECK(!strstr(r.body.data, "edzchzmatv5") && !strstr(r.body.data, "\"pass\""));
	reply_free(&r);
	/* an email in another case or with spaces finds the canonical key */
	d = get_json("/api/v1/customers/%20Matthew.Groves%40Couchbase.com", 200);
	CHECK(d != NULL);
	c360_json_doc_free(d);
}

TEST(etag_and_304)
{
	struct reply r;
	REQUIRE(!req("GET", "/api/v1/customers/" MATT_ENC, NULL, &r));
	const char *e = strstr(r.headers.data, "ETag: ");
	REQUIRE(e);
	char etag[64], hdr[100];
	sscanf(e + 6, "%63s", etag);
	reply_free(&r);
	snprintf(hdr, sizeof hdr, "If-None-Match: %s", etag);
	REQUIRE(!req2("GET", "/api/v1/customers/" MATT_ENC, NULL, hdr, NULL, &r));
	CHECK_EQ_INT(r.status, 304);
	CHECK_EQ_INT(r.body.len, 0);
	reply_free(&r);
	REQUIRE(!req2("GET", "/api/v1/customers/" MATT_ENC, NULL, "If-None-Match: \"other\"", NULL, &r));
	CHECK_EQ_INT(r.status, 200);
	reply_free(&r);
	/* a changed order changes the tag */
	put("order::2", "{\"OrderId\":2,\"PurchaseDate\":\"2019-04-13T16:15:5801361975\",\"CustomerId\":1,\"Items\":["
			"{\"OrderId\":2,\"ProductId\":100,\"Quantity\":3,\"Price\":219.74}]}");
	sync_index();
	REQUIRE(!req2("GET", "/api/v1/customers/" MATT_ENC, NULL, hdr, NULL, &r));
	CHECK_EQ_INT(r.status, 200);
	reply_free(&r);
	/* documents: ETag from CAS */
	REQUIRE(!req("GET", "/api/v1/docs/customer360/order::1", NULL, &r));
	CHECK_EQ_INT(r.status, 200);
	CHECK(strstr(r.headers.data, "X-C360-CAS: "));
	e = strstr(r.headers.data, "ETag: ");
	REQUIRE(e);
	sscanf(e + 6, "%63s", etag);
	reply_free(&r);
	snprintf(hdr, sizeof hdr, "If-None-Match: %s", etag);
	REQUIRE(!req2("GET", "/api/v1/docs/customer360/order::1", NULL, hdr, NULL, &r));
	CHECK_EQ_INT(r.status, 304);
	reply_free(&r);
}

TEST(not_found_and_bad_email)
{
	struct reply r;
	REQUIRE(!req("GET", "/api/v1/customers/nobody%40example.com", NULL, &r));
	CHECK_EQ_INT(r.status, 404);
	CHECK(strstr(r.body.data, "\"error\":\"not_found\""));
	CHECK(strstr(r.body.data, "no customer 'nobody@example.com'"));
	reply_free(&r);
	REQUIRE(!req("GET", "/api/v1/customers/matthew%G0groves", NULL, &r));
	CHECK_EQ_INT(r.status, 400);
	CHECK(strstr(r.body.data, "malformed percent-encoding"));
	reply_free(&r);
	REQUIRE(!req("GET", "/api/v1/customers/bad%FFemail/orders", NULL, &r));
	CHECK_EQ_INT(r.status, 400);
	CHECK(strstr(r.body.data, "not valid UTF-8"));
	reply_free(&r);
	char path[600] = "/api/v1/customers/";
	memset(path + strlen(path), 'a', 300);
	REQUIRE(!req("GET", path, NULL, &r));
	CHECK_EQ_INT(r.status, 400);
	CHECK(strstr(r.body.data, "email must be 1 to 250 bytes"));
	reply_free(&r);
	REQUIRE(!req("DELETE", "/api/v1/customers/" MATT_ENC, NULL, &r));
	CHECK_EQ_INT(r.status, 405);
	reply_free(&r);
}

static bool has_email(c360_json *customers, const char *email)
{
	for (c360_json *c = c360_json_first(customers); c; c = c360_json_next(c))
		if (!strcmp(c360_json_str(c360_json_get(c, "email"), NULL), email))
			return true;
	return false;
}

TEST(search)
{
	c360_json_doc *d = get_json("/api/v1/customers?q=MATT", 200);
	REQUIRE(d);
	c360_json *cs = c360_json_get(c360_json_doc_root(d), "customers");
	CHECK_EQ_INT(c360_json_len(cs), 1);
	CHECK(has_email(cs, MATT));
	CHECK_EQ_STR(c360_json_str(c360_json_ptr_get(cs, "/0/systems/loyalty"), NULL), "27");
	c360_json_doc_free(d);
	/* a later word of the name */
	d = get_json("/api/v1/customers?q=stone", 200);
	REQUIRE(d);
	CHECK(has_email(c360_json_get(c360_json_doc_root(d), "customers"), "bob.stone@example.com"));
	c360_json_doc_free(d);
	/* by source system and external id */
	d = get_json("/api/v1/customers?system=loyalty&id=27", 200);
	REQUIRE(d);
	cs = c360_json_get(c360_json_doc_root(d), "customers");
	CHECK_EQ_INT(c360_json_len(cs), 1);
	CHECK(has_email(cs, MATT));
	c360_json_doc_free(d);
	d = get_json("/api/v1/customers?system=home_delivery&id=1029", 200);
	REQUIRE(d);
	CHECK(has_email(c360_json_get(c360_json_doc_root(d), "customers"), MATT));
	c360_json_doc_free(d);
	/* list everything, paged */
	d = get_json("/api/v1/customers?limit=2&offset=1", 200);
	REQUIRE(d);
	int64_t total = 0;
	c360_json_int64(c360_json_get(c360_json_doc_root(d), "total"), &total);
	CHECK_EQ_INT(total, 4);
	cs = c360_json_get(c360_json_doc_root(d), "customers");
	CHECK_EQ_INT(c360_json_len(cs), 2);
	CHECK(has_email(cs, "bob.stone@example.com")); /* sorted by email: ann, bob, carol, matthew */
	c360_json_doc_free(d);
	struct reply r;
	const char *bad[] = {"/api/v1/customers?limit=100000", "/api/v1/customers?limit=0",
			     "/api/v1/customers?limit=abc", "/api/v1/customers?offset=-1",
			     "/api/v1/customers?system=loyalty", "/api/v1/customers?system=crm&id=1",
			     "/api/v1/customers/" MATT_ENC "/orders?limit=99999999999999999999999"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		REQUIRE(!req("GET", bad[i], NULL, &r));
		CHECK_EQ_INT(r.status, 400);
		CHECK(strstr(r.body.data, "\"error\":\"bad_argument\""));
		reply_free(&r);
	}
	REQUIRE(!req("GET", "/api/v1/customers?limit=100000", NULL, &r));
	CHECK(strstr(r.body.data, "limit must be an integer between 1 and 1000"));
	reply_free(&r);
}

TEST(orders_paged)
{
	c360_json_doc *d = get_json("/api/v1/customers/" MATT_ENC "/orders?limit=1&offset=1", 200);
	REQUIRE(d);
	c360_json *root = c360_json_doc_root(d);
	int64_t total = 0;
	c360_json_int64(c360_json_get(root, "total"), &total);
	CHECK_EQ_INT(total, 2);
	CHECK_EQ_INT(c360_json_len(c360_json_get(root, "orders")), 1);
	CHECK_EQ_STR(c360_json_str(c360_json_ptr_get(root, "/orders/0/key"), NULL), "order::2");
	c360_json_doc_free(d);
	d = get_json("/api/v1/customers/carol.home%40example.com/orders", 200);
	REQUIRE(d);
	CHECK_EQ_INT(c360_json_len(c360_json_get(c360_json_doc_root(d), "orders")), 0);
	c360_json_doc_free(d);
}

static int64_t first_rec(c360_json_doc *d)
{
	int64_t id = -1;
	c360_json_int64(c360_json_ptr_get(c360_json_doc_root(d), "/recommendations/0/product_id"), &id);
	return id;
}

TEST(recommendations_follow_orders)
{
	c360_json_doc *d = get_json("/api/v1/customers/" MATT_ENC "/recommendations", 200);
	REQUIRE(d);
	c360_json *root = c360_json_doc_root(d);
	/* 999 was bought by both customers who share products with Matthew */
	CHECK_EQ_INT(first_rec(d), 999);
	CHECK_EQ_STR(c360_json_str(c360_json_ptr_get(root, "/recommendations/0/name"), NULL), "Blue Widget");
	const char *reason = c360_json_str(c360_json_ptr_get(root, "/recommendations/0/reason"), NULL);
	CHECK(reason && !strncmp(reason, "because you bought ", 19));
	CHECK_EQ_INT(c360_json_len(c360_json_get(root, "recommendations")), 2); /* 999 and 555 */
	double s0 = 0, s1 = 1;
	c360_json_double(c360_json_ptr_get(root, "/recommendations/0/score"), &s0);
	c360_json_double(c360_json_ptr_get(root, "/recommendations/1/score"), &s1);
	CHECK(s0 > s1);
	/* never recommends what the customer bought */
	for (c360_json *x = c360_json_first(c360_json_get(root, "recommendations")); x; x = c360_json_next(x)) {
		int64_t p = 0;
		c360_json_int64(c360_json_get(x, "product_id"), &p);
		CHECK(p != 200 && p != 400 && p != 100);
	}
	c360_json_doc_free(d);

	/* Bob's order goes away: 555 is no longer co-purchased with anything Matthew has */
	REQUIRE(c360_store_delete(st, "customer360", "order::11", 9, 0) == C360_OK);
	sync_index();
	d = get_json("/api/v1/customers/" MATT_ENC "/recommendations", 200);
	REQUIRE(d);
	root = c360_json_doc_root(d);
	CHECK_EQ_INT(c360_json_len(c360_json_get(root, "recommendations")), 1);
	CHECK_EQ_INT(first_rec(d), 999);
	c360_json_doc_free(d);
	/* a new order for Ann with 110 and 777: 777 appears, because of 110 */
	put("order::12", "{\"OrderId\":12,\"PurchaseDate\":\"2019-06-01T00:00:00\",\"CustomerId\":2,\"Items\":["
			 "{\"ProductId\":110,\"Quantity\":1,\"Price\":1},{\"ProductId\":777,\"Quantity\":1,\"Price\":1}]}");
	sync_index();
	d = get_json("/api/v1/customers/" MATT_ENC "/recommendations?limit=10", 200);
	REQUIRE(d);
	bool found = false;
	for (c360_json *x = c360_json_first(c360_json_get(c360_json_doc_root(d), "recommendations")); x;
	     x = c360_json_next(x)) {
		int64_t p = 0;
		c360_json_int64(c360_json_get(x, "product_id"), &p);
		found |= p == 777;
	}
	CHECK(found);
	c360_json_doc_free(d);
	struct reply r;
	REQUIRE(!req("GET", "/api/v1/customers/" MATT_ENC "/recommendations?limit=1000", NULL, &r));
	CHECK_EQ_INT(r.status, 400);
	reply_free(&r);
	REQUIRE(!req("GET", "/api/v1/customers/nobody%40x/recommendations", NULL, &r));
	CHECK_EQ_INT(r.status, 404);
	reply_free(&r);
}

TEST(stats)
{
	c360_json_doc *d = get_json("/api/v1/stats", 200);
	REQUIRE(d);
	c360_json *root = c360_json_doc_root(d);
	int64_t v = -1;
	CHECK(c360_json_int64(c360_json_get(root, "customers"), &v) && v == 4);
	CHECK(c360_json_int64(c360_json_ptr_get(root, "/coverage/online_store"), &v) && v == 3);
	CHECK(c360_json_int64(c360_json_ptr_get(root, "/coverage/loyalty"), &v) && v == 2);
	CHECK(c360_json_int64(c360_json_ptr_get(root, "/coverage/home_delivery"), &v) && v == 2);
	/* overlaps: mask 7 (all three) is the last entry: only Matthew */
	CHECK(c360_json_int64(c360_json_ptr_get(root, "/overlaps/6/customers"), &v) && v == 1);
	CHECK(c360_json_int64(c360_json_ptr_get(root, "/loyalty_points/members"), &v) && v == 2);
	CHECK(c360_json_int64(c360_json_ptr_get(root, "/orders"), &v) && v == 4); /* 1, 2, 10, 12 */
	CHECK_EQ_STR(c360_json_str(c360_json_ptr_get(root, "/months/0/month"), NULL), "2019-04");
	CHECK(c360_json_len(c360_json_get(root, "top_products")) > 0);
	c360_json_doc_free(d);
	d = get_json("/api/v1/customer360/stats?top=1", 200);
	REQUIRE(d);
	root = c360_json_doc_root(d);
	CHECK(c360_json_int64(c360_json_get(root, "customers"), &v) && v == 4);
	CHECK_EQ_INT(c360_json_len(c360_json_get(root, "top_products")), 1);
	c360_json_doc_free(d);
	struct reply r;
	REQUIRE(!req("GET", "/api/v1/stats?top=0", NULL, &r));
	CHECK_EQ_INT(r.status, 400);
	reply_free(&r);
}

TEST(read_only_sql)
{
	struct reply r;
	REQUIRE(!req("POST", "/api/v1/query", "SELECT count(*) FROM customer360 WHERE key LIKE 'order::%'", &r));
	CHECK_EQ_INT(r.status, 200);
	CHECK(strstr(r.body.data, "\"rows\":[[4]]"));
	reply_free(&r);
	REQUIRE(!req("POST", "/api/v1/query",
		     "{\"sql\":\"SELECT key FROM customer360 ORDER BY key\",\"max_rows\":2}", &r));
	CHECK_EQ_INT(r.status, 200);
	CHECK(strstr(r.body.data, "\"truncated\":true"));
	reply_free(&r);
	const char *writes[] = {"DELETE FROM customer360", "DROP TABLE customer360",
				"UPDATE customer360 SET doc='{}'", "INSERT INTO customer360(key) VALUES('x')"};
	for (size_t i = 0; i < sizeof writes / sizeof *writes; i++) {
		REQUIRE(!req("POST", "/api/v1/query", writes[i], &r));
		CHECK(r.status == 403 || r.status == 400);
		CHECK(strstr(r.body.data, "\"message\":"));
		if (r.status != 403 && r.status != 400)
			printf("  %s -> %ld %s\n", writes[i], r.status, r.body.data);
		reply_free(&r);
	}
	REQUIRE(!req("POST", "/api/v1/query", "DELETE FROM customer360", &r));
	CHECK_EQ_INT(r.status, 403);
	CHECK(strstr(r.body.data, "read_only"));
	reply_free(&r);
	/* nothing was written */
	struct c360_bucket_info bi;
	REQUIRE(c360_store_bucket_info(st, "customer360", &bi) == C360_OK);
	CHECK(bi.count >= 10);
	REQUIRE(!req("POST", "/api/v1/query", "SELEC nonsense", &r));
	CHECK_EQ_INT(r.status, 400);
	CHECK(strstr(r.body.data, "bad_sql"));
	reply_free(&r);
	REQUIRE(!req("POST", "/api/v1/query", "{\"sql\":\"SELECT 1\",\"max_rows\":1000000000}", &r));
	CHECK_EQ_INT(r.status, 400);
	CHECK(strstr(r.body.data, "max_rows must be"));
	reply_free(&r);
	REQUIRE(!req("POST", "/api/v1/query", "{\"sql\":\"SELECT 1\",\"timeout_ms\":-5}", &r));
	CHECK_EQ_INT(r.status, 400);
	reply_free(&r);
	REQUIRE(!req("POST", "/api/v1/query", "{\"sql\": 12", &r));
	CHECK_EQ_INT(r.status, 400);
	CHECK(strstr(r.body.data, "not valid JSON"));
	reply_free(&r);
	REQUIRE(!req("POST", "/api/v1/query", NULL, &r));
	CHECK_EQ_INT(r.status, 400);
	reply_free(&r);
	REQUIRE(!req("GET", "/api/v1/query", NULL, &r));
	CHECK_EQ_INT(r.status, 405);
	reply_free(&r);
}

/* ---- issue 24: read-only SQL cannot exhaust the server ---- */

struct qthread {
	pthread_t t;
	struct reply r;
	int done; /* atomic */
};

static void *run_query(void *arg)
{
	struct qthread *q = arg;
	/* never ends by itself: stopped by its time limit */
	if (req("POST", "/api/v1/query",
		"{\"sql\":\"WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r)"
		" SELECT count(*) FROM r\",\"timeout_ms\":3000}",
		&q->r))
		q->r.status = -1;
	__atomic_store_n(&q->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* 8 concurrent runaway queries on a server of 2 threads: two run (the
 * default concurrency, each on a thread of its own, until its 3 s limit:
 * 422), the others get 429 with Retry-After at once, and /health and the API
 * answer meanwhile. On the old code all 8 queued behind each other on the
 * server's workers, and /health with them. */
TEST(query_concurrency_429_and_health_answers)
{
	enum { N = 8 };
	struct qthread q[N];
	memset(q, 0, sizeof q);
	for (int i = 0; i < N; i++)
		REQUIRE(!pthread_create(&q[i].t, NULL, run_query, &q[i]));
	/* wait (bounded) for a refusal: the queries are in */
	int refused = 0;
	for (int w = 0; w < 600 && !refused; w++) {
		for (int i = 0; i < N; i++)
			if (__atomic_load_n(&q[i].done, __ATOMIC_ACQUIRE) && q[i].r.status == 429)
				refused++;
		if (!refused)
			sleep_ms(50);
	}
	CHECK(refused > 0);
	struct reply r;
	REQUIRE(!req("GET", "/health", NULL, &r));
	CHECK_EQ_INT(r.status, 200);
	reply_free(&r);
	REQUIRE(!req("GET", "/api/v1/buckets", NULL, &r));
	CHECK_EQ_INT(r.status, 200);
	reply_free(&r);
	int busy = 0, timed_out = 0;
	for (int i = 0; i < N; i++) {
		pthread_join(q[i].t, NULL);
		if (q[i].r.status == 429) {
			busy++;
			CHECK(strstr(q[i].r.headers.data, "Retry-After: 1") != NULL);
			CHECK(strstr(q[i].r.body.data, "\"error\":\"busy\"") != NULL);
		} else {
			timed_out++;
			CHECK_EQ_INT(q[i].r.status, 422);
			CHECK(strstr(q[i].r.body.data, "\"error\":\"query_timeout\"") != NULL);
			CHECK(strstr(q[i].r.body.data, "ran past 3000 ms") != NULL);
		}
		reply_free(&q[i].r);
	}
	/* two run; a request delayed past their 3 s on a loaded machine may run too */
	CHECK(busy >= 1 && timed_out >= 2 && busy + timed_out == N);
	printf("  %d answered 429, %d ran to their time limit\n", busy, timed_out);
	/* the slot is free again */
	REQUIRE(!req("POST", "/api/v1/query", "SELECT 1", &r));
	CHECK_EQ_INT(r.status, 200);
	reply_free(&r);
}

/* The memory attacks end at once with a clear error; an answer
 * over the cap is 413, not 200 MB; SQLite's schema is not readable. */
TEST(query_values_answers_and_schema_bounded)
{
	struct {
		const char *sql;
		long status;
		const char *has;
	} cases[] = {
		{"SELECT hex(zeroblob(1e8))", 422, "would exceed 33554432 bytes"},
		{"SELECT length(zeroblob(2e9))", 422, "\"error\":\"query_limit\""},
		{"SELECT printf('%.*c', 900000000, 'x')", 200, "\"rows\":[[null]]"},
		{"WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 40)"
		 " SELECT printf('%.*c', 1000000, 'x') FROM r",
		 413, "answer exceeds 33554432 bytes"},
		{"SELECT name FROM sqlite_master", 403, "table 'sqlite_master' is not readable"},
		{"SELECT sql FROM sqlite_temp_schema", 403, "table 'sqlite_temp_master' is not readable"},
		{"WITH t AS (SELECT * FROM _c360_buckets) SELECT * FROM t", 403, "'_c360_buckets'"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct reply r;
		REQUIRE(!req("POST", "/api/v1/query", cases[i].sql, &r));
		if (r.status != cases[i].status || !strstr(r.body.data, cases[i].has))
			printf("  %s -> %ld %.200s\n", cases[i].sql, r.status, r.body.data);
		CHECK_EQ_INT(r.status, cases[i].status);
		CHECK(strstr(r.body.data, cases[i].has) != NULL);
		CHECK(r.body.len < 4096);
		reply_free(&r);
	}
}

TEST(buckets_docs_pipeline)
{
	c360_json_doc *d = get_json("/api/v1/buckets", 200);
	REQUIRE(d);
	CHECK_EQ_STR(c360_json_str(c360_json_ptr_get(c360_json_doc_root(d), "/buckets/0/name"), NULL),
		     "customer360");
	c360_json_doc_free(d);
	d = get_json("/api/v1/docs/customer360/product::999", 200);
	REQUIRE(d);
	CHECK_EQ_STR(c360_json_str(c360_json_get(c360_json_doc_root(d), "Name"), NULL), "Blue Widget");
	c360_json_doc_free(d);
	d = get_json("/api/v1/docs/customer360/product::5", 404);
	CHECK(d != NULL);
	c360_json_doc_free(d);
	d = get_json("/api/v1/pipeline", 200);
	REQUIRE(d);
	int64_t lag = -1;
	CHECK(c360_json_int64(c360_json_ptr_get(c360_json_doc_root(d), "/index/lag"), &lag));
	CHECK(c360_json_is_array(c360_json_get(c360_json_doc_root(d), "functions")));
	CHECK(c360_json_is_array(c360_json_get(c360_json_doc_root(d), "dead_letters")));
	c360_json_doc_free(d);
}

TEST(tokens_and_scopes)
{
	char rtok[C360_TOKEN_MAX + 1], atok[C360_TOKEN_MAX + 1], err[256];
	struct c360_token_info ri, ai;
	REQUIRE(c360_token_create(st, C360_HTTP_READ, "reader", rtok, &ri, err, sizeof err) == C360_OK);
	REQUIRE(c360_token_create(st, C360_HTTP_ADMIN, "boss", atok, &ai, err, sizeof err) == C360_OK);
	CHECK(!strncmp(rtok, "c360_", 5) && strlen(rtok) == 57);
	/* only the hash is stored */
	struct c360_doc doc = {0};
	char key[32];
	snprintf(key, sizeof key, "token::%s", ri.id);
	REQUIRE(c360_store_get(st, C360_META_BUCKET, key, strlen(key), &doc) == C360_OK);
	CHECK(!strstr(doc.value, rtok + 14));
	c360_doc_release(&doc);
	sleep_ms(300); /* the server re-reads tokens at most every 200 ms */
	CHECK_EQ_INT(c360_api_token_count(api), 2);

	struct reply r;
	auth_hdr[0] = 0;
	REQUIRE(!req("GET", "/api/v1/customers/" MATT_ENC, NULL, &r));
	CHECK_EQ_INT(r.status, 401);
	CHECK(strstr(r.body.data, "needs a bearer token"));
	reply_free(&r);
	REQUIRE(!req2("GET", "/api/v1/customers/" MATT_ENC, NULL, "Authorization: Bearer c360_00000000_nope", NULL, &r));
	CHECK_EQ_INT(r.status, 401);
	CHECK(strstr(r.body.data, "unknown or revoked"));
	reply_free(&r);
	REQUIRE(!req("GET", "/health", NULL, &r));
	CHECK_EQ_INT(r.status, 200);
	reply_free(&r);
	REQUIRE(!req("GET", "/ui/", NULL, &r)); /* the dashboard's files are open */
	CHECK_EQ_INT(r.status, 200);
	reply_free(&r);

	snprintf(auth_hdr, sizeof auth_hdr, "Authorization: Bearer %s", rtok);
	REQUIRE(!req("GET", "/api/v1/customers/" MATT_ENC, NULL, &r));
	CHECK_EQ_INT(r.status, 200);
	reply_free(&r);
	REQUIRE(!req("GET", "/api/v1/tokens", NULL, &r));
	CHECK_EQ_INT(r.status, 403);
	CHECK(strstr(r.body.data, "scope 'admin'"));
	reply_free(&r);
	REQUIRE(!req("GET", "/api/v1/docs/c360_meta/token::x", NULL, &r));
	CHECK_EQ_INT(r.status, 403);
	reply_free(&r);
	REQUIRE(!req("POST", "/api/v1/query", "SELECT * FROM c360_meta", &r));
	CHECK_EQ_INT(r.status, 403);
	reply_free(&r);

	snprintf(auth_hdr, sizeof auth_hdr, "Authorization: Bearer %s", atok);
	REQUIRE(!req("GET", "/api/v1/tokens", NULL, &r));
	CHECK_EQ_INT(r.status, 200);
	CHECK(strstr(r.body.data, "\"name\":\"reader\"") && !strstr(r.body.data, "hash"));
	reply_free(&r);
	REQUIRE(!req("POST", "/api/v1/tokens", "{\"scope\":\"root\"}", &r));
	CHECK_EQ_INT(r.status, 400);
	reply_free(&r);
	REQUIRE(!req("POST", "/api/v1/tokens", "{\"scope\":\"read\",\"name\":\"via-api\"}", &r));
	CHECK_EQ_INT(r.status, 201);
	CHECK(strstr(r.body.data, "\"token\":\"c360_"));
	reply_free(&r);

	/* revoke the read token: refused within a second */
	REQUIRE(c360_token_revoke(st, ri.id) == C360_OK);
	CHECK_EQ_INT(c360_token_revoke(st, ri.id), C360_ERR_NOT_FOUND);
	sleep_ms(300);
	snprintf(auth_hdr, sizeof auth_hdr, "Authorization: Bearer %s", rtok);
	REQUIRE(!req("GET", "/api/v1/customers/" MATT_ENC, NULL, &r));
	CHECK_EQ_INT(r.status, 401);
	reply_free(&r);
	auth_hdr[0] = 0;
}

TEST(dashboard_files)
{
	struct reply r;
	/* / sends the browser to the dashboard's own path (/ is Kafka Connect's
	 * in `c360 run`) */
	REQUIRE(!req("GET", "/", NULL, &r));
	CHECK_EQ_INT(r.status, 302);
	CHECK(strstr(r.headers.data, "Location: /ui/"));
	reply_free(&r);
	REQUIRE(!req("GET", "/ui/", NULL, &r));
	CHECK_EQ_INT(r.status, 200);
	CHECK(strstr(r.headers.data, "text/html"));
	CHECK(strstr(r.body.data, "<html") || strstr(r.body.data, "<!doctype"));
	reply_free(&r);
	REQUIRE(!req("GET", "/ui/no-such-file.js", NULL, &r));
	CHECK_EQ_INT(r.status, 404);
	reply_free(&r);
}

/* Online-store ids that are not whole numbers: orders are matched to the
 * customer by the value of CustomerId and the online_store xref's
 * external_ID (a UUID; "42" and 42 are the same id). */
TEST(orders_by_string_and_uuid_customer_ids)
{
	put("uma.uuid@example.com", "{\"type\":\"user\",\"profile\":{\"name\":\"Uma Uuid\"},"
				    "\"xrefs\":[{\"external_system\":\"online_store\","
				    "\"external_ID\":\"5b0c1d2e-8a41-4d07-9c3e-00000000002a\"}]}");
	put("order::a1b2", "{\"OrderId\":\"a1b2\",\"PurchaseDate\":\"2019-06-01T10:00:00\","
			   "\"CustomerId\":\"5b0c1d2e-8a41-4d07-9c3e-00000000002a\",\"Items\":["
			   "{\"ProductId\":200,\"Quantity\":1,\"Price\":87.81}]}");
	put("order::a1b3", "{\"OrderId\":\"a1b3\",\"PurchaseDate\":\"2019-06-02T10:00:00\","
			   "\"CustomerId\":\"5b0c1d2e-8a41-4d07-9c3e-00000000002b\",\"Items\":[]}");
	put("sam.string@example.com", "{\"type\":\"user\",\"profile\":{\"name\":\"Sam String\"},"
				      "\"xrefs\":[{\"external_system\":\"online_store\","
				      "\"external_ID\":\"42\"}]}");
	put("order::42-1", "{\"OrderId\":\"42-1\",\"PurchaseDate\":\"2019-06-03T10:00:00\","
			   "\"CustomerId\":42,\"Items\":[]}");
	sync_index();
	c360_json_doc *d = get_json("/api/v1/customers/uma.uuid%40example.com", 200);
	REQUIRE(d);
	int64_t n = 0;
	CHECK(c360_json_int64(c360_json_get(c360_json_doc_root(d), "orders_total"), &n) && n == 1);
	CHECK_EQ_STR(c360_json_str(c360_json_ptr_get(c360_json_doc_root(d), "/orders/0/key"), NULL),
		     "order::a1b2");
	c360_json_doc_free(d);
	d = get_json("/api/v1/customers/sam.string%40example.com", 200);
	REQUIRE(d);
	n = 0;
	CHECK(c360_json_int64(c360_json_get(c360_json_doc_root(d), "orders_total"), &n) && n == 1);
	c360_json_doc_free(d);
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_ALL);
	RUN(setup);
	if (port) {
		RUN(customer_360_document);
		RUN(etag_and_304);
		RUN(not_found_and_bad_email);
		RUN(search);
		RUN(orders_paged);
		RUN(recommendations_follow_orders);
		RUN(stats);
		RUN(read_only_sql);
		RUN(query_concurrency_429_and_health_answers);
		RUN(query_values_answers_and_schema_bounded);
		RUN(buckets_docs_pipeline);
		RUN(dashboard_files);
		RUN(orders_by_string_and_uuid_customer_ids);
		RUN(tokens_and_scopes);
	}
	c360_http_free(srv);
	c360_api_free(api);
	c360_store_close(st);
	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (dir[0] && system(cmd) != 0)
		printf("cannot remove %s\n", dir);
	curl_global_cleanup();
	return test_summary();
}
