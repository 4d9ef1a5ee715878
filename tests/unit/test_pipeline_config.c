/* The `c360 run` pipeline file: a full file loads; every kind of mistake is
 * reported as file:line:column with what was expected; schedules. */
#include "pipeline/config.h"
#include "test.h"

static const char *GOOD =
	"store:\n"
	"  path: /tmp/c360-test.db\n"
	"  synchronous: normal\n"
	"log:\n"
	"  level: debug\n"
	"  format: json\n"
	"buckets:\n"
	"  staging: {max_ttl: 2d}\n"
	"  customer360: {}\n"
	"  customer360_metadata:\n"
	"sources:\n"
	"  - name: home-delivery\n"
	"    kafka:\n"
	"      connector: home-delivery-sink.json\n"
	"  - name: loyalty\n"
	"    csv: {dir: /data/loyalty, bucket: staging}\n"
	"    schedule: daily 02:00\n"
	"  - name: online-store\n"
	"    rest: {base_url: 'http://127.0.0.1:8080'}\n"
	"functions:\n"
	"  - native: /etc/c360/customer360.yaml\n"
	"  - file: /etc/c360/customer360.json\n"
	"    name: ingestionCustomer360\n"
	"    settings: {checkpoint_interval: 10, dcp_stream_boundary: from_now}\n"
	"serve:\n"
	"  port: 9000\n";

TEST(full_file_loads)
{
	char err[512] = "";
	struct c360_pipeline_config *c = NULL;
	c360_rc rc = c360_pipeline_load_string("pipe.yaml", GOOD, &c, err, sizeof err);
	if (rc)
		printf("  %s\n", err);
	REQUIRE(rc == C360_OK);
	CHECK_EQ_STR(c->store_path, "/tmp/c360-test.db");
	CHECK(c->synchronous == C360_SYNC_NORMAL);
	CHECK(c->log_level == C360_LOG_DEBUG && c->log_format == C360_LOG_JSON);
	CHECK_EQ_INT(c->nbuckets, 3);
	CHECK_EQ_STR(c->buckets[0].name, "staging");
	CHECK_EQ_INT(c->buckets[0].max_ttl, 2 * 86400);
	CHECK_EQ_INT(c->buckets[2].max_ttl, 0);
	CHECK_EQ_INT(c->nsources, 3);
	CHECK(c->sources[0].type == C360_SOURCE_KAFKA);
	CHECK(c->sources[1].type == C360_SOURCE_CSV);
	CHECK(c->sources[1].schedule.kind == C360_SCHED_DAILY && c->sources[1].schedule.hour == 2);
	CHECK(c->sources[2].type == C360_SOURCE_REST);
	CHECK_EQ_STR(c360_json_str(c360_json_get(c->sources[2].settings, "base_url"), NULL),
		     "http://127.0.0.1:8080");
	CHECK_EQ_INT(c->nfunctions, 2);
	CHECK_EQ_STR(c->functions[0].native, "/etc/c360/customer360.yaml");
	CHECK_EQ_STR(c->functions[1].name, "ingestionCustomer360");
	CHECK(c->functions[0].settings == NULL);
	CHECK_EQ_STR(c360_json_str(c360_json_get(c->functions[1].settings, "dcp_stream_boundary"), NULL),
		     "from_now");
	CHECK(c->serve && c->port == 9000);
	CHECK_EQ_STR(c->bind, "127.0.0.1");
	c360_pipeline_free(c);
}

/* Issue 24: the SQL limits of the API are pipeline settings, each checked. */
TEST(serve_query_limits)
{
	char err[512] = "";
	struct c360_pipeline_config *c = NULL;
	c360_rc rc = c360_pipeline_load_string(
		"pipe.yaml", "serve:\n  query_concurrency: 3\n  query_timeout: 30s\n  query_max_mib: 8\n",
		&c, err, sizeof err);
	if (rc)
		printf("  %s\n", err);
	REQUIRE(rc == C360_OK);
	CHECK_EQ_INT(c->query_concurrency, 3);
	CHECK_EQ_INT(c->query_timeout_s, 30);
	CHECK_EQ_INT(c->query_max_mib, 8);
	c360_pipeline_free(c);
	c = NULL;
	REQUIRE(c360_pipeline_load_string("pipe.yaml", "serve:\n  port: 1\n", &c, err, sizeof err) ==
		C360_OK);
	CHECK_EQ_INT(c->query_concurrency, 0);
	CHECK_EQ_INT(c->query_timeout_s, 0);
	CHECK_EQ_INT(c->query_max_mib, 0);
	c360_pipeline_free(c);
}

static void expect_error(const char *text, const char *want)
{
	char err[512] = "";
	struct c360_pipeline_config *c = NULL;
	CHECK(c360_pipeline_load_string("pipe.yaml", text, &c, err, sizeof err) != C360_OK);
	CHECK(c == NULL);
	if (!strstr(err, want)) {
		printf("  got \"%s\", wanted it to contain \"%s\"\n", err, want);
		test_cur_failed = 1;
	}
}

TEST(mistakes_are_located)
{
	expect_error("sources:\n  - name: a\n    kafak: {}\n", "pipe.yaml:3:5: unknown key 'kafak'");
	expect_error("sources:\n  - name: a\n", "pipe.yaml:2:5: source 'a': expected exactly one");
	expect_error("sources:\n  - name: a\n    csv: {dir: x}\n    schedule: nightly\n",
		     "pipe.yaml:4:15: schedule: expected");
	expect_error("buckets:\n  staging: {max_ttl: soon}\n", "pipe.yaml:2:22: max_ttl: expected a duration");
	expect_error("serve:\n  port: 70000\n", "pipe.yaml:2:9: serve.port");
	expect_error("serve:\n  query_concurrency: 0\n", "pipe.yaml:2:22: serve.query_concurrency");
	expect_error("serve:\n  query_timeout: 2d\n", "pipe.yaml:2:18: serve.query_timeout: expected 1s to 1h");
	expect_error("serve:\n  query_timeout: soon\n", "pipe.yaml:2:18: serve.query_timeout: expected a duration");
	expect_error("serve:\n  query_max_mib: 4096\n", "pipe.yaml:2:18: serve.query_max_mib");
	expect_error("serve:\n  query_limit: 5\n", "pipe.yaml:2:3: unknown key 'query_limit'");
	expect_error("store:\n  synchronous: sometimes\n", "pipe.yaml:2:16: store.synchronous");
	expect_error("functions:\n  - name: x\n", "pipe.yaml:2:5: a function needs exactly one");
	expect_error("sources:\n  - {name: a, csv: {}}\n  - {name: a, rest: {}}\n",
		     "pipe.yaml:3:12: a second source named 'a'");
	expect_error("functions:\n  - native: m.yaml\n    settings: {workers: 2}\n",
		     "pipe.yaml:3:16: unknown key 'workers' in a function's settings");
	expect_error("functions:\n  - native: m.yaml\n    settings: {worker_count: [2]}\n",
		     "pipe.yaml:3:31: settings: expected a number");
	expect_error("functions:\n  - native: m.yaml\n    settings: {worker_count: 0}\n",
		     "pipe.yaml:3:30: settings.worker_count: invalid value '0'");
	expect_error("functions:\n  - native: m.yaml\n    settings: {dcp_stream_boundary: later}\n",
		     "pipe.yaml:3:37: settings.dcp_stream_boundary: invalid value 'later'");
	expect_error("functions:\n  - native: m.yaml\n    settings: 3\n",
		     "pipe.yaml:3:15: settings: expected a mapping");
	expect_error("sources: [\n", "pipe.yaml:");
	expect_error("- just\n- a list\n", "expected a mapping");
}

/* serve: auth and the connection limits (docs/run.md) */
TEST(serve_auth_and_limits)
{
	char err[512] = "";
	struct c360_pipeline_config *c = NULL;
	c360_rc rc = c360_pipeline_load_string(
		"pipe.yaml",
		"serve: {bind: 0.0.0.0, auth: true, max_connections: 100, max_connections_per_ip: 10, "
		"header_timeout: 5s}\n",
		&c, err, sizeof err);
	if (rc)
		printf("  %s\n", err);
	REQUIRE(rc == C360_OK);
	CHECK(c->auth);
	CHECK_EQ_INT(c->max_connections, 100);
	CHECK_EQ_INT(c->max_connections_per_ip, 10);
	CHECK_EQ_INT(c->header_timeout, 5);
	c360_pipeline_free(c);
	expect_error("serve: {auth: yes please}\n", "pipe.yaml:1:15: serve.auth: expected true or false");
	expect_error("serve: {max_connections: 0}\n", "pipe.yaml:1:26: serve.max_connections");
	expect_error("serve: {max_connections: 10, max_connections_per_ip: 11}\n",
		     "pipe.yaml:1:54: serve.max_connections_per_ip: expected a number from 1 to "
		     "max_connections (10)");
	expect_error("serve: {header_timeout: 0}\n", "pipe.yaml:1:25: serve.header_timeout: expected 1s to 1h");
	expect_error("serve: {header_timeout: soon}\n", "pipe.yaml:1:25: serve.header_timeout: expected a duration");
}

/* connect: is Kafka Connect's worker config (its broker list) */
TEST(connect_brokers)
{
	char err[512] = "";
	struct c360_pipeline_config *c = NULL;
	REQUIRE(c360_pipeline_load_string("pipe.yaml", "connect:\n  bootstrap.servers: k1:9092,k2:9092\n", &c, err,
					  sizeof err) == C360_OK);
	CHECK_EQ_STR(c->connect_brokers, "k1:9092,k2:9092");
	c360_pipeline_free(c);
	c = NULL;
	REQUIRE(c360_pipeline_load_string("pipe.yaml", "serve: {}\n", &c, err, sizeof err) == C360_OK);
	CHECK(c->connect_brokers == NULL);
	c360_pipeline_free(c);
	expect_error("connect:\n  bootstrap.server: k\n", "pipe.yaml:2:3: unknown key 'bootstrap.server' in connect");
	expect_error("connect:\n  bootstrap.servers: ''\n", "pipe.yaml:2:23: connect.bootstrap.servers: expected a non-empty string");
	expect_error("connect: k:9092\n", "connect: expected a mapping");
}

TEST(schedules)
{
	struct c360_schedule s;
	CHECK(c360_schedule_parse("every 10m", &s) && s.kind == C360_SCHED_EVERY && s.every_s == 600);
	CHECK(c360_schedule_next(&s, 1000) == 1600);
	CHECK(c360_schedule_parse("daily 02:00", &s) && s.kind == C360_SCHED_DAILY);
	int64_t day = 20000 * 86400LL;
	CHECK(c360_schedule_next(&s, day) == day + 7200);
	CHECK(c360_schedule_next(&s, day + 7200) == day + 86400 + 7200);
	CHECK(c360_schedule_next(&s, day + 3 * 3600) == day + 86400 + 7200);
	CHECK(!c360_schedule_parse("daily 24:00", &s));
	CHECK(!c360_schedule_parse("daily 2:00", &s));
	CHECK(!c360_schedule_parse("every 0s", &s));
	CHECK(!c360_schedule_parse("every", &s));
	CHECK(!c360_schedule_parse("hourly", &s));
}

int main(void)
{
	RUN(full_file_loads);
	RUN(serve_auth_and_limits);
	RUN(serve_query_limits);
	RUN(connect_brokers);
	RUN(mistakes_are_located);
	RUN(schedules);
	return test_summary();
}
