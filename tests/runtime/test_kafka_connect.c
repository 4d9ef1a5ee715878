/* The Kafka-Connect-compatible /connectors API through a real c360 HTTP
 * server and the mock Kafka cluster: the seed's POST body, list, status,
 * pause/resume, delete, errors (bad value naming the key, duplicate,
 * unknown), and restart from the system bucket; the rest of Kafka Connect's
 * API deploy scripts use (GET /, plugins, config, tasks, restart, stop,
 * expand) and a connector whose brokers do not answer (FAILED, not RUNNING). */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/log.h"
#include "serve/http.h"
#include "sources/kafka/connect_api.h"
#include "sources/kafka/dbzgen.h"
#include "store/store.h"
#include "test.h"
#include "core/banned.h"

static c360_kafka_mock *mock;
static char tmpdir[256];

static size_t on_data(char *p, size_t sz, size_t n, void *ud)
{
	c360_buf_append(ud, p, sz * n);
	return sz * n;
}

/* Returns the HTTP status; the body goes to out (reset first). */
static long http(int port, const char *method, const char *path, const char *body, struct c360_buf *out)
{
	char url[300];
	snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
	c360_buf_reset(out);
	CURL *c = curl_easy_init();
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	long status = 0;
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return status;
}

/* the seed's body, as POSTed to http://localhost:8083/connectors/ */
static const char seed_body[] =
	"{\n  \"name\": \"home-delivery-sink\",\n  \"config\": {\n"
	"    \"connector.class\": \"com.couchbase.connect.kafka.CouchbaseSinkConnector\",\n"
	"    \"tasks.max\": \"2\",\n\t\"topics\" : \"dbserver1.inventory.customers\",\n"
	"\t\"connection.cluster_address\" : \"db\",\n\t\"connection.timeout.ms\" : \"2000\",\n"
	"\t\"connection.bucket\" : \"staging\",\n\t\"connection.username\" : \"Administrator\",\n"
	"\t\"connection.password\" : \"password\",\n\t\"couchbase.durability.persist_to\" : \"NONE\",\n"
	"\t\"couchbase.durability.replicate_to\" : \"NONE\",\n"
	"\t\"key.converter\" : \"org.apache.kafka.connect.storage.StringConverter\",\n"
	"\t\"value.converter\" : \"org.apache.kafka.connect.json.JsonConverter\",\n"
	"\t\"value.converter.schemas.enable\" : \"false\"\n  }\n}\n";

static uint64_t count_in(c360_store *st, const char *bucket)
{
	struct c360_bucket_info bi = {0};
	c360_store_bucket_info(st, bucket, &bi);
	return bi.count;
}
#define count(st) count_in(st, "staging")

/* waits for the count; a consumer group that rebalances on a loaded machine
 * (two tasks joining apart, a member noticed only after session.timeout.ms)
 * can take tens of seconds, so the wait is long: it ends as soon as the
 * count is reached */
static bool wait_count_in(c360_store *st, const char *bucket, uint64_t want, int ms)
{
	if (ms < 60000)
		ms = 60000;
	for (int i = 0; i < ms / 50; i++) {
		if (count_in(st, bucket) >= want)
			return true;
		usleep(50000);
	}
	return count_in(st, bucket) >= want;
}
#define wait_count(st, want, ms) wait_count_in(st, "staging", want, ms)

static c360_http *server(c360_kafka_connect *kc)
{
	struct c360_http_opts o = {.port = 0, .threads = 2};
	c360_http *h = c360_http_new(&o);
	char err[200];
	if (!h || c360_kafka_connect_routes(h, kc) || c360_http_start(h, err, sizeof err)) {
		c360_http_free(h);
		return NULL;
	}
	return h;
}

TEST(connectors_api)
{
	char path[400], err[300] = "";
	snprintf(path, sizeof path, "%s/c.db", tmpdir);
	struct c360_store_opts so;
	c360_store_opts_init(&so);
	so.synchronous = C360_SYNC_NORMAL;
	c360_store *st = NULL;
	REQUIRE(c360_store_open(path, &so, &st, err, sizeof err) == C360_OK);
	const char *bs = c360_kafka_mock_bootstraps(mock);
	c360_kafka_mock_topic(mock, "dbserver1.inventory.customers", 2);
	struct c360_dbzgen_opts go = {.brokers = bs, .topic = "dbserver1.inventory.customers", .customers = 100};
	REQUIRE(c360_dbzgen_produce(&go, NULL, err, sizeof err) == C360_OK);

	c360_kafka_connect *kc = NULL;
	REQUIRE(c360_kafka_connect_new(st, bs, &kc) == C360_OK);
	c360_http *h = server(kc);
	REQUIRE(h);
	int port = c360_http_port(h);
	struct c360_buf b;
	c360_buf_init(&b, 0);

	CHECK_EQ_INT(http(port, "POST", "/connectors/", seed_body, &b), 201);
	CHECK(strstr(b.data, "\"name\":\"home-delivery-sink\"") && strstr(b.data, "\"type\":\"sink\"") &&
	      strstr(b.data, "\"task\":1"));
	CHECK_EQ_INT(http(port, "POST", "/connectors", seed_body, &b), 409);
	CHECK(strstr(b.data, "\"error_code\":409") != NULL);
	CHECK_EQ_INT(http(port, "POST", "/connectors",
			  "{\"name\":\"bad\",\"config\":{\"topics\":\"t\",\"connection.bucket\":\"s\","
			  "\"errors.tolerance\":\"sometimes\"}}", &b), 400);
	CHECK(strstr(b.data, "'errors.tolerance'") != NULL);
	CHECK_EQ_INT(http(port, "POST", "/connectors", "{nope", &b), 400);
	CHECK_EQ_INT(http(port, "GET", "/connectors", NULL, &b), 200);
	CHECK_EQ_STR(b.data, "[\"home-delivery-sink\"]\n");
	CHECK_EQ_INT(http(port, "GET", "/connectors/home-delivery-sink", NULL, &b), 200);
	CHECK(strstr(b.data, "\"connection.bucket\":\"staging\"") != NULL);
	CHECK(wait_count(st, 100, 20000));
	CHECK_EQ_INT(http(port, "GET", "/connectors/home-delivery-sink/status", NULL, &b), 200);
	CHECK(strstr(b.data, "\"connector\":{\"state\":\"RUNNING\"") && strstr(b.data, "\"written\":100"));

	/* pause: new records wait; resume: they arrive */
	CHECK_EQ_INT(http(port, "PUT", "/connectors/home-delivery-sink/pause", NULL, &b), 202);
	CHECK_EQ_INT(http(port, "GET", "/connectors/home-delivery-sink/status", NULL, &b), 200);
	CHECK(strstr(b.data, "\"state\":\"PAUSED\"") != NULL);
	usleep(300000);
	go.first_id = 5001;
	go.customers = 50;
	REQUIRE(c360_dbzgen_produce(&go, NULL, err, sizeof err) == C360_OK);
	usleep(1500000);
	CHECK_EQ_INT(count(st), 100);
	CHECK_EQ_INT(http(port, "PUT", "/connectors/home-delivery-sink/resume", NULL, &b), 202);
	CHECK(wait_count(st, 150, 20000));
	CHECK_EQ_INT(http(port, "GET", "/connectors/nope/status", NULL, &b), 404);

	/* a second connector (the mock cluster only notices departed members
	 * after session.timeout.ms: keep it short for the restart below) */
	c360_kafka_mock_topic(mock, "r2", 1);
	CHECK_EQ_INT(http(port, "POST", "/connectors",
			  "{\"name\":\"r2\",\"config\":{\"topics\":\"r2\",\"couchbase.bucket\":\"staging2\","
			  "\"session.timeout.ms\":\"6000\",\"value.converter.schemas.enable\":\"false\"}}", &b), 201);
	struct c360_dbzgen_opts g2 = {.brokers = bs, .topic = "r2", .customers = 30};
	REQUIRE(c360_dbzgen_produce(&g2, NULL, err, sizeof err) == C360_OK);
	CHECK(wait_count_in(st, "staging2", 30, 20000));

	/* restart: a new manager finds the connectors in the system bucket */
	c360_http_free(h);
	c360_kafka_connect_free(kc);
	REQUIRE(c360_kafka_connect_new(st, bs, &kc) == C360_OK);
	size_t n = 0;
	CHECK_EQ_INT(c360_kafka_connect_restore(kc, &n), C360_OK);
	CHECK_EQ_INT(n, 2);
	h = server(kc);
	REQUIRE(h);
	port = c360_http_port(h);
	CHECK_EQ_INT(http(port, "GET", "/connectors", NULL, &b), 200);
	CHECK(strstr(b.data, "\"home-delivery-sink\"") && strstr(b.data, "\"r2\""));
	g2.first_id = 7001;
	g2.customers = 10;
	REQUIRE(c360_dbzgen_produce(&g2, NULL, err, sizeof err) == C360_OK);
	CHECK(wait_count_in(st, "staging2", 40, 30000));
	CHECK_EQ_INT(http(port, "DELETE", "/connectors/r2", NULL, &b), 204);

	CHECK_EQ_INT(http(port, "DELETE", "/connectors/home-delivery-sink", NULL, &b), 204);
	CHECK_EQ_INT(http(port, "GET", "/connectors", NULL, &b), 200);
	CHECK_EQ_STR(b.data, "[]\n");
	CHECK_EQ_INT(http(port, "DELETE", "/connectors/home-delivery-sink", NULL, &b), 404);
	struct c360_doc d = {0};
	CHECK(c360_store_get(st, C360_META_BUCKET, "connector::home-delivery-sink", 29, &d) == C360_ERR_NOT_FOUND);
	c360_buf_release(&b);
	c360_http_free(h);
	c360_kafka_connect_free(kc);
	c360_store_close(st);
}

/* What deploy scripts call besides POST, with Kafka Connect's shapes. */
TEST(connect_endpoints)
{
	char path[400], err[300] = "";
	snprintf(path, sizeof path, "%s/e.db", tmpdir);
	struct c360_store_opts so;
	c360_store_opts_init(&so);
	so.synchronous = C360_SYNC_NORMAL;
	c360_store *st = NULL;
	REQUIRE(c360_store_open(path, &so, &st, err, sizeof err) == C360_OK);
	const char *bs = c360_kafka_mock_bootstraps(mock);
	c360_kafka_mock_topic(mock, "e1", 1);
	struct c360_dbzgen_opts go = {.brokers = bs, .topic = "e1", .customers = 20};
	REQUIRE(c360_dbzgen_produce(&go, NULL, err, sizeof err) == C360_OK);
	c360_kafka_connect *kc = NULL;
	REQUIRE(c360_kafka_connect_new(st, bs, &kc) == C360_OK);
	c360_http *h = server(kc);
	REQUIRE(h);
	int port = c360_http_port(h);
	struct c360_buf b;
	c360_buf_init(&b, 0);

	CHECK_EQ_INT(http(port, "GET", "/connector-plugins", NULL, &b), 200);
	CHECK(strstr(b.data, "\"class\":\"com.couchbase.connect.kafka.CouchbaseSinkConnector\",\"type\":\"sink\""));
	/* PUT .../config creates (201), then updates (200) */
	static const char cfg1[] = "{\"topics\":\"e1\",\"couchbase.bucket\":\"e1\",\"session.timeout.ms\":\"6000\","
				   "\"value.converter.schemas.enable\":\"false\"}";
	CHECK_EQ_INT(http(port, "PUT", "/connectors/e1/config", cfg1, &b), 201);
	CHECK(strstr(b.data, "\"name\":\"e1\"") && strstr(b.data, "\"type\":\"sink\""));
	CHECK(wait_count_in(st, "e1", 20, 20000));
	CHECK_EQ_INT(http(port, "GET", "/", NULL, &b), 200);
	CHECK(strstr(b.data, "\"version\":\"") && strstr(b.data, "\"commit\":\"") &&
	      strstr(b.data, "\"kafka_cluster_id\":\""));
	CHECK_EQ_INT(http(port, "PUT", "/connectors/e1/config",
			  "{\"name\":\"other\",\"topics\":\"e1\",\"couchbase.bucket\":\"e1\"}", &b), 400);
	CHECK(strstr(b.data, "\"error_code\":400") != NULL);
	static const char cfg2[] = "{\"topics\":\"e1\",\"couchbase.bucket\":\"e1\",\"session.timeout.ms\":\"6000\","
				   "\"tasks.max\":\"2\",\"value.converter.schemas.enable\":\"false\"}";
	CHECK_EQ_INT(http(port, "PUT", "/connectors/e1/config", cfg2, &b), 200);
	CHECK_EQ_INT(http(port, "GET", "/connectors/e1/config", NULL, &b), 200);
	CHECK(strstr(b.data, "\"tasks.max\":\"2\"") && strstr(b.data, "\"name\":\"e1\""));
	CHECK_EQ_INT(http(port, "GET", "/connectors/e1/tasks", NULL, &b), 200);
	CHECK(strstr(b.data, "[{\"id\":{\"connector\":\"e1\",\"task\":0},\"config\":{") &&
	      strstr(b.data, "\"task\":1}"));
	CHECK_EQ_INT(http(port, "GET", "/connectors/e1/tasks/1/status", NULL, &b), 200);
	CHECK_EQ_STR(b.data, "{\"id\":1,\"state\":\"RUNNING\",\"worker_id\":\"c360\"}\n");
	CHECK_EQ_INT(http(port, "GET", "/connectors/e1/tasks/2/status", NULL, &b), 404);
	CHECK(strstr(b.data, "\"error_code\":404") != NULL);
	CHECK_EQ_INT(http(port, "GET", "/connectors/nope/config", NULL, &b), 404);
	CHECK_EQ_STR(b.data, "{\"error_code\":404,\"message\":\"Connector nope not found\"}\n");

	/* restart: 204; with includeTasks 202 and the status */
	CHECK_EQ_INT(http(port, "POST", "/connectors/e1/restart", NULL, &b), 204);
	CHECK_EQ_INT(http(port, "POST", "/connectors/e1/restart?includeTasks=true&onlyFailed=false", NULL, &b), 202);
	CHECK(strstr(b.data, "\"connector\":{\"state\":\"RUNNING\"") != NULL);
	CHECK_EQ_INT(http(port, "POST", "/connectors/e1/tasks/0/restart", NULL, &b), 204);
	/* stop: no tasks, records wait; resume: they arrive */
	CHECK_EQ_INT(http(port, "PUT", "/connectors/e1/stop", NULL, &b), 202);
	CHECK_EQ_INT(http(port, "GET", "/connectors/e1/status", NULL, &b), 200);
	CHECK(strstr(b.data, "\"connector\":{\"state\":\"STOPPED\"") && strstr(b.data, "\"tasks\":[]"));
	go.first_id = 9001;
	go.customers = 5;
	REQUIRE(c360_dbzgen_produce(&go, NULL, err, sizeof err) == C360_OK);
	CHECK_EQ_INT(http(port, "PUT", "/connectors/e1/resume", NULL, &b), 202);
	CHECK(wait_count_in(st, "e1", 25, 30000));

	/* brokers that do not answer: FAILED with the reason, not RUNNING */
	CHECK_EQ_INT(http(port, "POST", "/connectors",
			  "{\"name\":\"lost\",\"config\":{\"topics\":\"e1\",\"couchbase.bucket\":\"lost\","
			  "\"bootstrap.servers\":\"127.0.0.1:1\"}}", &b), 201);
	CHECK_EQ_INT(http(port, "GET", "/connectors/lost/status", NULL, &b), 200);
	CHECK(strstr(b.data, "\"connector\":{\"state\":\"FAILED\"") && !strstr(b.data, "RUNNING") &&
	      strstr(b.data, "cannot reach the kafka brokers '127.0.0.1:1'"));
	CHECK_EQ_INT(http(port, "POST", "/connectors/lost/restart?onlyFailed=true", NULL, &b), 202);
	CHECK(strstr(b.data, "\"state\":\"FAILED\"") != NULL);

	/* ?expand=status&expand=info */
	CHECK_EQ_INT(http(port, "GET", "/connectors?expand=status&expand=info", NULL, &b), 200);
	CHECK(strstr(b.data, "\"e1\":{\"status\":{\"name\":\"e1\",\"connector\":{\"state\":\"RUNNING\"") &&
	      strstr(b.data, "\"info\":{\"name\":\"e1\",\"config\":{") &&
	      strstr(b.data, "\"lost\":{\"status\":{\"name\":\"lost\",\"connector\":{\"state\":\"FAILED\""));
	CHECK_EQ_INT(http(port, "GET", "/connectors?expand=info", NULL, &b), 200);
	CHECK(strstr(b.data, "{\"e1\":{\"info\":{") || strstr(b.data, "\"e1\":{\"info\":{"));
	CHECK(!strstr(b.data, "\"status\":"));

	c360_buf_release(&b);
	c360_http_free(h);
	c360_kafka_connect_free(kc);
	c360_store_close(st);
}

int main(void)
{
	c360_log_set_level(getenv("KAFKA_TEST_LOG") ? C360_LOG_INFO : C360_LOG_ERROR);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	snprintf(tmpdir, sizeof tmpdir, "/tmp/c360-kconn-XXXXXX");
	if (!mkdtemp(tmpdir))
		return 1;
	char err[200];
	if (c360_kafka_mock_new(1, &mock, err, sizeof err))
		return 1;
	RUN(connectors_api);
	RUN(connect_endpoints);
	c360_kafka_mock_free(mock);
	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd)) {
	}
	curl_global_cleanup();
	return test_summary();
}
