/* Eventing's REST shape and the background runtime (c360_eventing): a function
 * POSTed over HTTP is deployed, picked up and run; pause, status, stats,
 * undeploy and delete over HTTP. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/json.h"
#include "eventing/eventing.h"
#include "serve/http.h"
#include "test.h"
#include "core/banned.h"

static char dir[256];
static c360_store *st;
static c360_http *http;
static int port;

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
	c360_buf_append(ud, p, sz * n);
	return sz * n;
}

/* Returns the HTTP status; body into out (reset first). */
static long call(const char *method, const char *path, const char *body, struct c360_buf *out)
{
	char url[512];
	long status = 0;
	snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
	c360_buf_reset(out);
	CURL *c = curl_easy_init();
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	return status;
}

static int wait_for(const char *bucket, const char *key, int present)
{
	for (int i = 0; i < 400; i++) { /* up to 20 s on a loaded machine */
		struct c360_doc d = {0};
		c360_rc rc = c360_store_get(st, bucket, key, strlen(key), &d);
		c360_doc_release(&d);
		if ((rc == C360_OK) == (present != 0))
			return 1;
		usleep(50000);
	}
	return 0;
}

TEST(rest_lifecycle_with_background_runtime)
{
	char path[300], err[256];
	snprintf(dir, sizeof dir, "/tmp/c360-evrest-XXXXXX");
	REQUIRE(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/s.db", dir);
	struct c360_store_opts o;
	c360_store_opts_init(&o);
	o.synchronous = C360_SYNC_OFF;
	REQUIRE(c360_store_open(path, &o, &st, err, sizeof err) == 0);
	struct c360_http_opts ho = {0};
	http = c360_http_new(&ho);
	REQUIRE(http);
	REQUIRE(c360_eventing_routes(http, st) == 0);
	REQUIRE(c360_http_start(http, err, sizeof err) == 0);
	port = c360_http_port(http);
	c360_eventing *ev = NULL;
	REQUIRE(c360_eventing_start(st, &ev) == 0);

	struct c360_buf b;
	c360_buf_init(&b, 0);
	const char *fn = "{\"appname\":\"up\",\"appcode\":\"function OnUpdate(d, m) { dst[m.id] = {up: d.v}; }\","
			 "\"depcfg\":{\"buckets\":[{\"alias\":\"dst\",\"bucket_name\":\"dst\",\"access\":\"rw\"}],"
			 "\"source_bucket\":\"src\",\"metadata_bucket\":\"meta\"},\"settings\":{\"worker_count\":2}}";
	CHECK_EQ_INT(call("POST", "/api/v1/functions/up", fn, &b), 200);
	CHECK_EQ_INT(call("POST", "/api/v1/functions/other", fn, &b), 400); /* name mismatch */
	CHECK_EQ_INT(call("POST", "/api/v1/functions/up", "{bad", &b), 400);
	CHECK_EQ_INT(call("GET", "/api/v1/functions/up", NULL, &b), 200);
	CHECK(strstr(c360_buf_cstr(&b), "\"appname\":\"up\"") != NULL);
	CHECK_EQ_INT(call("GET", "/api/v1/functions/none", NULL, &b), 404);
	CHECK_EQ_INT(call("GET", "/api/v1/status", NULL, &b), 200);
	CHECK(strstr(c360_buf_cstr(&b), "\"composite_status\":\"undeployed\"") != NULL);

	/* deploy: the background runtime picks it up and processes changes */
	CHECK_EQ_INT(call("POST", "/api/v1/functions/up/deploy", "", &b), 200);
	CHECK_EQ_INT(call("POST", "/api/v1/functions/up/deploy", "", &b), 409);
	c360_store_upsert(st, "src", "a", 1, "{\"v\":1}", 7, 0, NULL);
	CHECK(wait_for("dst", "a", 1));
	CHECK(c360_eventing_running(ev) == 1);

	/* pause: changes wait; resume: processed */
	CHECK_EQ_INT(call("POST", "/api/v1/functions/up/pause", "", &b), 200);
	/* the running function notices within a second and checkpoints as paused */
	int paused = 0;
	for (int i = 0; i < 200 && !paused; i++) {
		struct c360_doc ck = {0};
		if (!c360_store_get(st, "meta", "eventing::up::checkpoint", 24, &ck))
			paused = strstr(ck.value, "\"state\":\"paused\"") != NULL;
		c360_doc_release(&ck);
		if (!paused)
			usleep(50000);
	}
	CHECK(paused);
	c360_store_upsert(st, "src", "b", 1, "{\"v\":2}", 7, 0, NULL);
	usleep(500000);
	struct c360_doc d = {0};
	CHECK(c360_store_get(st, "dst", "b", 1, &d) == C360_ERR_NOT_FOUND);
	c360_doc_release(&d);
	CHECK_EQ_INT(call("GET", "/api/v1/status", NULL, &b), 200);
	CHECK(strstr(c360_buf_cstr(&b), "\"composite_status\":\"paused\"") != NULL);
	CHECK_EQ_INT(call("POST", "/api/v1/functions/up/resume", "", &b), 200);
	CHECK(wait_for("dst", "b", 1));

	CHECK_EQ_INT(call("GET", "/api/v1/stats", NULL, &b), 200);
	CHECK(strstr(c360_buf_cstr(&b), "\"function_name\":\"up\"") != NULL);
	CHECK(strstr(c360_buf_cstr(&b), "\"on_update_success\"") != NULL);
	CHECK_EQ_INT(call("DELETE", "/api/v1/functions/up", NULL, &b), 409); /* deployed */
	CHECK_EQ_INT(call("POST", "/api/v1/functions/up/undeploy", "", &b), 200);
	CHECK_EQ_INT(call("DELETE", "/api/v1/functions/up", NULL, &b), 200);
	CHECK_EQ_INT(call("GET", "/api/v1/functions", NULL, &b), 200);
	CHECK_EQ_STR(c360_buf_cstr(&b), "[]");

	c360_buf_release(&b);
	c360_eventing_stop(ev);
	c360_http_free(http);
	c360_store_close(st);
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	RUN(rest_lifecycle_with_background_runtime);
	curl_global_cleanup();
	return test_summary();
}
