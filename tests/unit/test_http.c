/* HTTP server and router: real requests with libcurl against a server on a
 * free loopback port. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "serve/http.h"
#include "test.h"

static c360_http *srv;
static int port;

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

/* Performs one request; extra is one "Name: value" header or NULL. */
static int req(const char *method, const char *path, const char *body, long body_len,
	       const char *extra, struct reply *r)
{
	char url[1024];
	snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
	c360_buf_init(&r->body, 0);
	c360_buf_init(&r->headers, 0);
	CURL *c = curl_easy_init();
	struct curl_slist *hl = NULL;
	if (extra)
		hl = curl_slist_append(hl, extra);
	hl = curl_slist_append(hl, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &r->headers);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
	if (!strcmp(method, "HEAD"))
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, body_len);
	}
	CURLcode cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	return cc == CURLE_OK ? 0 : -1;
}

static void reply_free(struct reply *r)
{
	c360_buf_release(&r->body);
	c360_buf_release(&r->headers);
}

static void h_echo(const struct c360_http_req *rq, struct c360_http_resp *resp, void *ctx)
{
	const char *email = c360_http_param(rq, "email");
	const char *q = c360_http_query(rq, "q");
	c360_buf_printf(&resp->body, "%s|%s|%s|%s|%zu", (const char *)ctx, rq->method,
			email ? email : "-", q ? q : "-", rq->body_len);
	resp->content_type = "text/plain";
	c360_http_add_header(resp, "X-Test", "yes");
}

static void h_rest(const struct c360_http_req *rq, struct c360_http_resp *resp, void *ctx)
{
	c360_buf_printf(&resp->body, "file=%s path=%s", c360_http_param(rq, "file"), rq->path);
	resp->content_type = "text/plain";
}

static void h_fail(const struct c360_http_req *rq, struct c360_http_resp *resp, void *ctx)
{
	c360_http_error(resp, 409, "conflict", "key '%s' \"exists\"", "k\n1");
}

static int auth(const char *token, void *ctx)
{
	if (!token)
		return -1;
	if (!strcmp(token, "reader"))
		return C360_HTTP_READ;
	if (!strcmp(token, "boss"))
		return C360_HTTP_ADMIN;
	return -1;
}

TEST(start_on_free_port)
{
	struct c360_http_opts o = {.port = 0, .threads = 2, .max_body = 1024};
	srv = c360_http_new(&o);
	REQUIRE(srv);
	CHECK_EQ_INT(c360_http_route(srv, "GET", "/api/v1/customers/{email}", C360_HTTP_OPEN, h_echo,
				     "get"), C360_OK);
	CHECK_EQ_INT(c360_http_route(srv, "POST", "/api/v1/customers/{email}", C360_HTTP_OPEN, h_echo,
				     "post"), C360_OK);
	CHECK_EQ_INT(c360_http_route(srv, "GET", "/read", C360_HTTP_READ, h_echo, "read"), C360_OK);
	CHECK_EQ_INT(c360_http_route(srv, "*", "/admin", C360_HTTP_ADMIN, h_echo, "admin"), C360_OK);
	CHECK_EQ_INT(c360_http_route(srv, "GET", "/fail", C360_HTTP_OPEN, h_fail, NULL), C360_OK);
	CHECK_EQ_INT(c360_http_route(srv, "GET", "/ui/{file...}", C360_HTTP_OPEN, h_rest, NULL), C360_OK);
	/* a later route with the same pattern does not override the first */
	CHECK_EQ_INT(c360_http_route(srv, "GET", "/api/v1/customers/{email}", C360_HTTP_OPEN, h_echo,
				     "second"), C360_OK);
	CHECK(c360_http_route(srv, "GET", "no-slash", C360_HTTP_OPEN, h_echo, NULL) != C360_OK);
	CHECK(c360_http_route(srv, "GET", "/a/{x...}/b", C360_HTTP_OPEN, h_echo, NULL) != C360_OK);
	c360_http_set_auth(srv, auth, NULL);
	char err[256] = "";
	REQUIRE(c360_http_start(srv, err, sizeof err) == C360_OK);
	port = c360_http_port(srv);
	CHECK(port > 0);
	CHECK_EQ_STR(c360_http_bind_addr(srv), "127.0.0.1");
}

TEST(capture_is_percent_decoded)
{
	struct reply r;
	REQUIRE(!req("GET", "/api/v1/customers/matthew.groves%40couchbase.com?q=a%20b+c", NULL, 0,
		     NULL, &r));
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_STR(r.body.data, "get|GET|matthew.groves@couchbase.com|a b c|0");
	CHECK(strstr(r.headers.data, "X-Test: yes"));
	CHECK(strstr(r.headers.data, "Content-Type: text/plain"));
	reply_free(&r);
	/* %2F stays inside its segment */
	REQUIRE(!req("GET", "/api/v1/customers/a%2Fb", NULL, 0, NULL, &r));
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_STR(r.body.data, "get|GET|a/b|-|0");
	reply_free(&r);
	/* UTF-8 */
	REQUIRE(!req("GET", "/api/v1/customers/j%C3%BCrgen%40x.de", NULL, 0, NULL, &r));
	CHECK_EQ_STR(r.body.data, "get|GET|jürgen@x.de|-|0");
	reply_free(&r);
}

TEST(malformed_percent_encoding_is_400)
{
	const char *bad[] = {"/api/v1/customers/a%ZZb", "/api/v1/customers/abc%4",
			     "/api/v1/customers/a%00b", "/api/v1/customers/%C3%28",
			     "/api/v1/customers/x?q=%G1"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		struct reply r;
		REQUIRE(!req("GET", bad[i], NULL, 0, NULL, &r));
		CHECK_EQ_INT(r.status, 400);
		CHECK(strstr(r.body.data, "\"error\":\"bad_"));
		CHECK(strstr(r.body.data, "\"message\":"));
		if (r.status != 400)
			printf("  %s -> %ld %s\n", bad[i], r.status, r.body.data);
		reply_free(&r);
	}
	struct reply r;
	REQUIRE(!req("GET", "/api/v1/customers/a%ZZb", NULL, 0, NULL, &r));
	CHECK(strstr(r.body.data, "malformed percent-encoding"));
	reply_free(&r);
}

TEST(unknown_path_404_json)
{
	struct reply r;
	REQUIRE(!req("GET", "/nope/x", NULL, 0, NULL, &r));
	CHECK_EQ_INT(r.status, 404);
	CHECK(strstr(r.body.data, "{\"error\":\"not_found\",\"message\":\"no such endpoint: GET /nope/x\"}"));
	CHECK(strstr(r.headers.data, "application/json"));
	reply_free(&r);
	/* empty capture does not match */
	REQUIRE(!req("GET", "/api/v1/customers/", NULL, 0, NULL, &r));
	CHECK_EQ_INT(r.status, 404);
	reply_free(&r);
}

TEST(method_mismatch_405)
{
	struct reply r;
	REQUIRE(!req("DELETE", "/api/v1/customers/a", NULL, 0, NULL, &r));
	CHECK_EQ_INT(r.status, 405);
	CHECK(strstr(r.body.data, "method_not_allowed"));
	CHECK(strstr(r.headers.data, "Allow: GET, POST"));
	reply_free(&r);
}

TEST(head_answers_get_routes_without_body)
{
	struct reply r;
	REQUIRE(!req("HEAD", "/api/v1/customers/a", NULL, 0, NULL, &r));
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_INT(r.body.len, 0);
	CHECK(strstr(r.headers.data, "Content-Length: 14"));
	reply_free(&r);
}

TEST(body_and_cap)
{
	struct reply r;
	REQUIRE(!req("POST", "/api/v1/customers/a", "hello", 5, NULL, &r));
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_STR(r.body.data, "post|POST|a|-|5");
	reply_free(&r);
	char big[4000];
	memset(big, 'x', sizeof big);
	REQUIRE(!req("POST", "/api/v1/customers/a", big, sizeof big, NULL, &r));
	CHECK_EQ_INT(r.status, 413);
	CHECK(strstr(r.body.data, "larger than the limit of 1024 bytes"));
	reply_free(&r);
	/* chunked: no Content-Length, the cap applies while reading */
	char url[256];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/customers/a", port);
	CURL *c = curl_easy_init();
	struct curl_slist *hl = curl_slist_append(NULL, "Transfer-Encoding: chunked");
	hl = curl_slist_append(hl, "Expect:");
	c360_buf_init(&r.body, 0);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, big);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)sizeof big);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	CHECK_EQ_INT(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
	CHECK_EQ_INT(r.status, 413);
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	c360_buf_release(&r.body);
}

TEST(auth_scopes)
{
	struct reply r;
	REQUIRE(!req("GET", "/read", NULL, 0, NULL, &r));
	CHECK_EQ_INT(r.status, 401);
	CHECK(strstr(r.body.data, "needs a bearer token"));
	CHECK(strstr(r.headers.data, "WWW-Authenticate: Bearer"));
	reply_free(&r);
	REQUIRE(!req("GET", "/read", NULL, 0, "Authorization: Bearer wrong", &r));
	CHECK_EQ_INT(r.status, 401);
	CHECK(strstr(r.body.data, "unknown or revoked"));
	reply_free(&r);
	REQUIRE(!req("GET", "/read", NULL, 0, "Authorization: Basic eDp5", &r));
	CHECK_EQ_INT(r.status, 401);
	reply_free(&r);
	REQUIRE(!req("GET", "/read", NULL, 0, "Authorization: Bearer reader", &r));
	CHECK_EQ_INT(r.status, 200);
	reply_free(&r);
	REQUIRE(!req("PUT", "/admin", NULL, 0, "Authorization: Bearer reader", &r));
	CHECK_EQ_INT(r.status, 403);
	CHECK(strstr(r.body.data, "scope 'admin'"));
	reply_free(&r);
	REQUIRE(!req("PUT", "/admin", NULL, 0, "Authorization: bearer boss", &r));
	CHECK_EQ_INT(r.status, 200);
	CHECK(strstr(r.body.data, "admin|PUT"));
	reply_free(&r);
	/* 401 wins over 413 and over reading a body */
	REQUIRE(!req("POST", "/admin", "x", 1, NULL, &r));
	CHECK_EQ_INT(r.status, 401);
	reply_free(&r);
}

TEST(error_body_is_escaped_json)
{
	struct reply r;
	REQUIRE(!req("GET", "/fail", NULL, 0, NULL, &r));
	CHECK_EQ_INT(r.status, 409);
	CHECK_EQ_STR(r.body.data, "{\"error\":\"conflict\",\"message\":\"key 'k\\n1' \\\"exists\\\"\"}\n");
	reply_free(&r);
}

TEST(rest_capture_and_health)
{
	struct reply r;
	REQUIRE(!req("GET", "/ui/js/app%20x.js", NULL, 0, NULL, &r));
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_STR(r.body.data, "file=js/app x.js path=/ui/js/app x.js");
	reply_free(&r);
	REQUIRE(!req("GET", "/health", NULL, 0, NULL, &r));
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_STR(r.body.data, "{\"status\":\"ok\"}\n");
	reply_free(&r);
}

static void *hammer(void *arg)
{
	int *ok = arg;
	for (int i = 0; i < 50; i++) {
		struct reply r;
		char path[64];
		snprintf(path, sizeof path, "/api/v1/customers/c%d", i);
		if (!req("GET", path, NULL, 0, NULL, &r) && r.status == 200)
			(*ok)++;
		reply_free(&r);
	}
	return NULL;
}

TEST(concurrent_clients)
{
	pthread_t t[4];
	int ok[4] = {0};
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, hammer, &ok[i]);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	CHECK_EQ_INT(ok[0] + ok[1] + ok[2] + ok[3], 200);
}

TEST(bad_bind_and_port)
{
	struct c360_http_opts o = {.bind = "not-an-address", .port = 0};
	c360_http *h = c360_http_new(&o);
	char err[256] = "";
	CHECK_EQ_INT(c360_http_start(h, err, sizeof err), C360_ERR_INVALID);
	CHECK(strstr(err, "not-an-address"));
	c360_http_free(h);
	/* the port in use */
	struct c360_http_opts o2 = {.port = port};
	h = c360_http_new(&o2);
	CHECK_EQ_INT(c360_http_start(h, err, sizeof err), C360_ERR_IO);
	CHECK(strstr(err, "cannot listen"));
	c360_http_free(h);
	c360_http_free(NULL);
}

TEST(pct_decode)
{
	char out[32];
	size_t n;
	CHECK_EQ_INT(c360_http_pct_decode("a%41+b", 6, out, &n, true), 0);
	CHECK_EQ_STR(out, "aA b");
	CHECK_EQ_INT(c360_http_pct_decode("a%4", 3, out, &n, false), -1);
	CHECK_EQ_INT(c360_http_pct_decode("%", 1, out, &n, false), -1);
	CHECK_EQ_INT(c360_http_pct_decode("%00", 3, out, &n, false), -2);
	CHECK_EQ_INT(c360_http_pct_decode("%FF", 3, out, &n, false), -3);
	CHECK_EQ_INT(c360_http_pct_decode("a\0b", 3, out, &n, false), -2);
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_ALL);
	RUN(start_on_free_port);
	if (!port)
		return test_summary();
	RUN(capture_is_percent_decoded);
	RUN(malformed_percent_encoding_is_400);
	RUN(unknown_path_404_json);
	RUN(method_mismatch_405);
	RUN(head_answers_get_routes_without_body);
	RUN(body_and_cap);
	RUN(auth_scopes);
	RUN(error_body_is_escaped_json);
	RUN(rest_capture_and_health);
	RUN(concurrent_clients);
	RUN(bad_bind_and_port);
	RUN(pct_decode);
	c360_http_free(srv);
	curl_global_cleanup();
	return test_summary();
}
