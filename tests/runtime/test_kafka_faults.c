/* Kafka sink on a bad day, against librdkafka's mock cluster over loopback
 * TCP: dead letters the topic refuses as too large (cut, or skipped with
 * their position), commits refused by a rebalance (retried, or the stop
 * fails saying how many records will be read again), and records without a
 * usable key or with a value that is not a JSON object (counted, logged
 * with their position, rate-limited). */
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "sources/kafka/dbzgen.h"
#include "sources/kafka/kconfig.h"
#include "sources/kafka/sink.h"
#include "store/store.h"
#include "test.h"
#include "core/banned.h"

/* librdkafka error codes a real broker answers with */
#define ERR_MSG_SIZE_TOO_LARGE 10
#define ERR_REBALANCE_IN_PROGRESS 27

static c360_kafka_mock *mock;
static char tmpdir[256];
static int nstore;
static char group[32];

static c360_store *new_store(void)
{
	char path[400];
	snprintf(path, sizeof path, "%s/s%d.db", tmpdir, nstore++);
	struct c360_store_opts o;
	c360_store_opts_init(&o);
	o.synchronous = C360_SYNC_NORMAL;
	c360_store *st = NULL;
	char err[200];
	if (c360_store_open(path, &o, &st, err, sizeof err))
		printf("  cannot open store: %s\n", err);
	return st;
}

static rd_kafka_t *producer(void)
{
	char e[200];
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	rd_kafka_conf_set(c, "bootstrap.servers", c360_kafka_mock_bootstraps(mock), e, sizeof e);
	rd_kafka_conf_set(c, "linger.ms", "1", e, sizeof e);
	rd_kafka_conf_set(c, "message.max.bytes", "4000000", e, sizeof e); /* the source topic takes big records */
	return rd_kafka_new(RD_KAFKA_PRODUCER, c, e, sizeof e);
}

static void produce(rd_kafka_t *p, const char *topic, int32_t part, const char *key, const char *val, size_t vlen)
{
	rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(part),
			  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
			  RD_KAFKA_V_VALUE((void *)val, val ? vlen : 0), RD_KAFKA_V_END);
}

static void produce_str(rd_kafka_t *p, const char *topic, int32_t part, const char *key, const char *val)
{
	produce(p, topic, part, key, val, strlen(val));
}

/* A config with its own group (in group) and no auto-commit, so the only
 * commits are the sink's synchronous ones on revoke and at the stop. */
static struct c360_kafka_config *config(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static struct c360_kafka_config *config(const char *fmt, ...)
{
	char body[2048], full[2600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(body, sizeof body, fmt, ap);
	va_end(ap);
	static int n;
	snprintf(group, sizeof group, "faults%d", n++);
	snprintf(full, sizeof full,
		 "{\"name\":\"t\",\"config\":{\"bootstrap.servers\":\"%s\",\"group.id\":\"%s\","
		 "\"session.timeout.ms\":\"6000\",\"enable.auto.commit\":\"false\","
		 "\"value.converter.schemas.enable\":\"false\",\"couchbase.bucket\":\"staging\",%s}}",
		 c360_kafka_mock_bootstraps(mock), group, body);
	struct c360_kafka_config *c = NULL;
	char err[300] = "";
	if (c360_kafka_config_parse_text("test", full, strlen(full), NULL, NULL, &c, err, sizeof err))
		printf("  config error: %s\n", err);
	return c;
}

static c360_rc run_to_end(c360_store *st, struct c360_kafka_config *cfg, struct c360_kafka_metrics *m, char *err,
			  size_t errlen)
{
	struct c360_kafka_sink_opts o = {.exit_at_end = true};
	c360_kafka_sink *s = NULL;
	c360_rc rc = c360_kafka_sink_new(st, cfg, &o, &s, err, errlen);
	if (rc)
		return rc;
	rc = c360_kafka_sink_start(s, err, errlen);
	if (!rc)
		rc = c360_kafka_sink_wait(s, 90000);
	if (rc)
		c360_kafka_sink_error(s, err, errlen);
	if (m)
		c360_kafka_sink_metrics(s, m);
	c360_kafka_sink_free(s);
	return rc;
}

static bool has(c360_store *st, const char *key)
{
	struct c360_doc d = {0};
	if (c360_store_get(st, "staging", key, strlen(key), &d))
		return false;
	c360_doc_release(&d);
	return true;
}

/* ---- log capture ---- */

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char logbuf[65536];
static size_t loglen;

static void log_hook(enum c360_log_level level, const char *who, const char *msg)
{
	(void)who;
	pthread_mutex_lock(&log_mu);
	int n = snprintf(logbuf + loglen, sizeof logbuf - loglen, "%s\n", msg);
	if (n > 0 && (size_t)n < sizeof logbuf - loglen)
		loglen += (size_t)n;
	pthread_mutex_unlock(&log_mu);
}

static void log_reset(void)
{
	pthread_mutex_lock(&log_mu);
	loglen = 0;
	logbuf[0] = 0;
	pthread_mutex_unlock(&log_mu);
}

static int log_count(const char *needle)
{
	int n = 0;
	pthread_mutex_lock(&log_mu);
	for (const char *p = logbuf; (p = strstr(p, needle)); p++)
		n++;
	pthread_mutex_unlock(&log_mu);
	return n;
}

/* ---- dead letters read back ---- */

struct dl {
	char off[32], reason[300], trunc[16], refused[80], vbytes[24];
	size_t keylen, vallen;
};

static void hdr(rd_kafka_message_t *m, const char *name, char *buf, size_t len)
{
	rd_kafka_headers_t *h = NULL;
	const void *v;
	size_t n;
	buf[0] = 0;
	if (rd_kafka_message_headers(m, &h) || rd_kafka_header_get_last(h, name, &v, &n))
		return;
	snprintf(buf, len, "%.*s", (int)n, (const char *)v);
}

static int consume_all(const char *topic, struct dl *out, int max)
{
	char e[200];
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	rd_kafka_conf_set(c, "bootstrap.servers", c360_kafka_mock_bootstraps(mock), e, sizeof e);
	rd_kafka_conf_set(c, "group.id", "reader", e, sizeof e);
	rd_kafka_conf_set(c, "enable.partition.eof", "true", e, sizeof e);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, e, sizeof e);
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(l, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
	rd_kafka_assign(rk, l);
	rd_kafka_topic_partition_list_destroy(l);
	int n = 0;
	for (int tries = 0; tries < 100 && n < max; tries++) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
		if (!m)
			continue;
		if (m->err) {
			bool eof = m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF;
			rd_kafka_message_destroy(m);
			if (eof)
				break;
			continue;
		}
		struct dl *d = &out[n++];
		hdr(m, "__connect.errors.offset", d->off, sizeof d->off);
		hdr(m, "__connect.errors.exception.message", d->reason, sizeof d->reason);
		hdr(m, "__c360.dlq.truncated", d->trunc, sizeof d->trunc);
		hdr(m, "__c360.dlq.refused", d->refused, sizeof d->refused);
		hdr(m, "__c360.dlq.value.bytes", d->vbytes, sizeof d->vbytes);
		d->keylen = m->key_len;
		d->vallen = m->len;
		rd_kafka_message_destroy(m);
	}
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	return n;
}

/* ---- item: a dead letter too large for its topic ---- */

/* A 2 MB record that is not JSON goes to the dead-letter topic, whose
 * producer refuses it (message.max.bytes, 1 MB by default, as a real
 * broker's limit): it is sent again cut to 64 KiB with headers saying so.
 * A small bad record the broker refuses ("Broker: Message size too large",
 * as an answer of the mock broker) takes the same way. The sink goes on,
 * commits past both, and a restart reads nothing again. */
TEST(dead_letter_too_large_is_sent_cut)
{
	const char *topic = "poison", *dlq = "poison.dlq";
	c360_kafka_mock_topic(mock, topic, 1);
	c360_kafka_mock_topic(mock, dlq, 1);
	size_t big = 2u << 20;
	char *huge = malloc(big);
	REQUIRE(huge);
	memset(huge, 'x', big);
	huge[0] = '{';
	rd_kafka_t *p = producer();
	produce_str(p, topic, 0, "1", "{\"id\":1}");     /* offset 0 ok */
	produce(p, topic, 0, "2", huge, big);             /* 1 not JSON, 2 MB */
	produce_str(p, topic, 0, "3", "{\"id\":3}");     /* 2 ok */
	REQUIRE(rd_kafka_flush(p, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR);
	rd_kafka_destroy(p);
	free(huge);

	c360_store *st = new_store();
	struct c360_kafka_config *cfg = config("\"topics\":\"%s\",\"errors.tolerance\":\"all\","
					       "\"errors.deadletterqueue.topic.name\":\"%s\"", topic, dlq);
	REQUIRE(st && cfg);
	struct c360_kafka_metrics m;
	char err[400] = "";
	log_reset();
	CHECK_EQ_INT(run_to_end(st, cfg, &m, err, sizeof err), C360_OK);
	if (*err)
		printf("  error: %s\n", err);
	CHECK_EQ_INT(m.records_in, 3);
	CHECK_EQ_INT(m.written, 2);
	CHECK_EQ_INT(m.dead_lettered, 1);
	CHECK_EQ_INT(m.dlq_truncated, 1);
	CHECK_EQ_INT(m.dlq_dropped, 0);
	CHECK_EQ_INT(m.failed, 0);
	CHECK(has(st, "1") && has(st, "3"));
	CHECK(log_count("'poison' [0] offset 1 refused by 'poison.dlq'") == 1);

	/* a bad record the broker refuses: cut too */
	p = producer();
	produce_str(p, topic, 0, "4", "{oops");          /* 3 not JSON */
	produce_str(p, topic, 0, "5", "{\"id\":5}");     /* 4 ok */
	REQUIRE(rd_kafka_flush(p, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR);
	rd_kafka_destroy(p);
	REQUIRE(c360_kafka_mock_fail_requests(mock, C360_KAFKA_API_PRODUCE, 1, ERR_MSG_SIZE_TOO_LARGE) == C360_OK);
	CHECK_EQ_INT(run_to_end(st, cfg, &m, err, sizeof err), C360_OK);
	c360_kafka_mock_fail_requests(mock, C360_KAFKA_API_PRODUCE, 0, 0);
	CHECK_EQ_INT(m.records_in, 2);
	CHECK_EQ_INT(m.dlq_truncated, 1);
	CHECK(has(st, "5"));

	struct dl d[8];
	memset(d, 0, sizeof d);
	int n = consume_all(dlq, d, 8);
	CHECK_EQ_INT(n, 2);
	for (int i = 0; i < n; i++) {
		CHECK_EQ_STR(d[i].trunc, "true");
		CHECK_EQ_STR(d[i].refused, "Broker: Message size too large");
		CHECK(strstr(d[i].reason, "not valid JSON") != NULL);
		if (!strcmp(d[i].off, "1")) {
			CHECK_EQ_INT(d[i].vallen, 65536);
			CHECK_EQ_STR(d[i].vbytes, "2097152");
		} else {
			CHECK_EQ_STR(d[i].off, "3");
			CHECK_EQ_INT(d[i].vallen, 5);
		}
	}
	/* committed past them: a restart reads nothing again */
	CHECK_EQ_INT(run_to_end(st, cfg, &m, err, sizeof err), C360_OK);
	CHECK_EQ_INT(m.records_in, 0);
	c360_kafka_config_free(cfg);
	c360_store_close(st);
}

/* The dead-letter topic refuses the record whole and cut: it is logged
 * with its position and reason, counted (dlq_dropped, failed) and skipped;
 * the records after it are written and a restart does not stop on it. */
TEST(dead_letter_refused_even_cut_is_skipped_with_its_position)
{
	const char *topic = "poison2", *dlq = "poison2.dlq";
	c360_kafka_mock_topic(mock, topic, 1);
	c360_kafka_mock_topic(mock, dlq, 1);
	rd_kafka_t *p = producer();
	produce_str(p, topic, 0, "1", "{bad");           /* offset 0 not JSON */
	produce_str(p, topic, 0, "2", "{\"id\":2}");     /* 1 ok */
	REQUIRE(rd_kafka_flush(p, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR);
	rd_kafka_destroy(p);
	c360_store *st = new_store();
	struct c360_kafka_config *cfg = config("\"topics\":\"%s\",\"errors.tolerance\":\"all\","
					       "\"errors.deadletterqueue.topic.name\":\"%s\"", topic, dlq);
	REQUIRE(st && cfg);
	REQUIRE(c360_kafka_mock_fail_requests(mock, C360_KAFKA_API_PRODUCE, 2, ERR_MSG_SIZE_TOO_LARGE) == C360_OK);
	struct c360_kafka_metrics m;
	char err[400] = "";
	log_reset();
	CHECK_EQ_INT(run_to_end(st, cfg, &m, err, sizeof err), C360_OK);
	c360_kafka_mock_fail_requests(mock, C360_KAFKA_API_PRODUCE, 0, 0);
	CHECK_EQ_INT(m.records_in, 2);
	CHECK_EQ_INT(m.written, 1);
	CHECK_EQ_INT(m.dead_lettered, 0);
	CHECK_EQ_INT(m.dlq_dropped, 1);
	CHECK_EQ_INT(m.failed, 1);
	CHECK(has(st, "2"));
	CHECK(log_count("record 'poison2' [0] offset 0 (value is not valid JSON") == 1);
	CHECK(log_count("skipped: dead-letter topic 'poison2.dlq' refused it whole (Broker: Message size too large)") ==
	      1);
	CHECK_EQ_INT(run_to_end(st, cfg, &m, err, sizeof err), C360_OK);
	CHECK_EQ_INT(m.records_in, 0);
	c360_kafka_config_free(cfg);
	c360_store_close(st);
}

/* ---- item: commits refused by a rebalance ---- */

static void produce_n(const char *topic, int32_t part, int first, int n)
{
	rd_kafka_t *p = producer();
	for (int i = first; i < first + n; i++) {
		char k[32], v[64];
		snprintf(k, sizeof k, "%d", i);
		snprintf(v, sizeof v, "{\"id\":%d}", i);
		produce_str(p, topic, part, k, v);
	}
	rd_kafka_flush(p, 10000);
	rd_kafka_destroy(p);
}

/* The stop's commit is refused three times (REBALANCE_IN_PROGRESS, as the
 * coordinator answers while its group rebalances): it is retried, and the
 * restart reads nothing again. */
TEST(final_commit_refused_by_a_rebalance_is_retried)
{
	const char *topic = "rebal1";
	c360_kafka_mock_topic(mock, topic, 1);
	produce_n(topic, 0, 1, 50);
	c360_store *st = new_store();
	struct c360_kafka_config *cfg = config("\"topics\":\"%s\"", topic);
	REQUIRE(st && cfg);
	REQUIRE(c360_kafka_mock_fail_requests(mock, C360_KAFKA_API_OFFSET_COMMIT, 3, ERR_REBALANCE_IN_PROGRESS) ==
		C360_OK);
	struct c360_kafka_metrics m;
	char err[400] = "";
	CHECK_EQ_INT(run_to_end(st, cfg, &m, err, sizeof err), C360_OK);
	c360_kafka_mock_fail_requests(mock, C360_KAFKA_API_OFFSET_COMMIT, 0, 0);
	CHECK_EQ_INT(m.written, 50);
	CHECK_EQ_INT(m.uncommitted, 0);
	CHECK_EQ_INT(run_to_end(st, cfg, &m, err, sizeof err), C360_OK);
	CHECK_EQ_INT(m.records_in, 0);
	c360_kafka_config_free(cfg);
	c360_store_close(st);
}

/* The stop's commit is refused for longer than the sink retries: the stop
 * fails (exit status non-zero in the CLI) and says how many records will
 * be read again; the restart reads exactly those. */
TEST(final_commit_that_keeps_failing_fails_the_stop_with_the_count)
{
	const char *topic = "rebal2";
	c360_kafka_mock_topic(mock, topic, 1);
	produce_n(topic, 0, 1, 50);
	c360_store *st = new_store();
	struct c360_kafka_config *cfg = config("\"topics\":\"%s\"", topic);
	REQUIRE(st && cfg);
	REQUIRE(c360_kafka_mock_fail_requests(mock, C360_KAFKA_API_OFFSET_COMMIT, 100000,
					      ERR_REBALANCE_IN_PROGRESS) == C360_OK);
	struct c360_kafka_metrics m;
	char err[400] = "";
	CHECK(run_to_end(st, cfg, &m, err, sizeof err) != C360_OK);
	c360_kafka_mock_fail_requests(mock, C360_KAFKA_API_OFFSET_COMMIT, 0, 0);
	CHECK(strstr(err, "final commit failed: Broker: Group rebalance in progress") != NULL);
	CHECK(strstr(err, "50 record(s)") && strstr(err, "read again at the next start"));
	if (!strstr(err, "50 record(s)"))
		printf("  error: %s\n", err);
	CHECK_EQ_INT(m.written, 50);
	CHECK_EQ_INT(m.uncommitted, 50);
	CHECK_EQ_INT(run_to_end(st, cfg, &m, err, sizeof err), C360_OK);
	CHECK_EQ_INT(m.records_in, 50);
	CHECK_EQ_INT(m.uncommitted, 0);
	CHECK_EQ_INT(run_to_end(st, cfg, &m, err, sizeof err), C360_OK);
	CHECK_EQ_INT(m.records_in, 0);
	c360_kafka_config_free(cfg);
	c360_store_close(st);
}

static bool member_assigned;

static void member_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
			     void *opaque)
{
	(void)opaque;
	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		rd_kafka_assign(rk, parts);
		member_assigned = true;
	} else {
		rd_kafka_assign(rk, NULL);
	}
}

/* Another member joins the group while the sink holds the partition with
 * 50 records written but not committed: the coordinator refuses the
 * sink's commit on revoke (REBALANCE_IN_PROGRESS: librdkafka's mock
 * cluster refuses commits from the first JoinGroup until every member
 * synced), so the sink keeps the offsets and commits them with its next
 * assignment. A restart reads nothing again. */
TEST(commit_refused_on_revoke_is_made_after_the_rebalance)
{
	const char *topic = "rebal3";
	c360_kafka_mock_topic(mock, topic, 1);
	produce_n(topic, 0, 1, 50);
	c360_store *st = new_store();
	struct c360_kafka_config *cfg = config("\"topics\":\"%s\"", topic);
	REQUIRE(st && cfg);
	char err[400] = "";
	log_reset();
	c360_kafka_sink *s = NULL;
	REQUIRE(c360_kafka_sink_new(st, cfg, NULL, &s, err, sizeof err) == C360_OK);
	REQUIRE(c360_kafka_sink_start(s, err, sizeof err) == C360_OK);
	struct c360_kafka_metrics m = {0};
	for (int i = 0; i < 1200 && m.written < 50; i++, usleep(25000))
		c360_kafka_sink_metrics(s, &m);
	REQUIRE(m.written == 50);

	/* the second member: never commits */
	char e[200];
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	rd_kafka_conf_set(c, "bootstrap.servers", c360_kafka_mock_bootstraps(mock), e, sizeof e);
	rd_kafka_conf_set(c, "group.id", group, e, sizeof e);
	rd_kafka_conf_set(c, "session.timeout.ms", "6000", e, sizeof e);
	rd_kafka_conf_set(c, "enable.auto.commit", "false", e, sizeof e);
	rd_kafka_conf_set_rebalance_cb(c, member_rebalance);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, e, sizeof e);
	REQUIRE(rk);
	rd_kafka_poll_set_consumer(rk);
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(l, topic, RD_KAFKA_PARTITION_UA);
	rd_kafka_subscribe(rk, l);
	rd_kafka_topic_partition_list_destroy(l);
	member_assigned = false;
	for (int i = 0; i < 300 && !member_assigned; i++) { /* 30 s at most */
		rd_kafka_message_t *msg = rd_kafka_consumer_poll(rk, 100);
		if (msg)
			rd_kafka_message_destroy(msg);
	}
	CHECK(member_assigned);
	/* the sink said what happened (keep the member polling meanwhile) */
	bool said = false;
	for (int i = 0; i < 200 && !said; i++) { /* 20 s at most */
		rd_kafka_message_t *msg = rd_kafka_consumer_poll(rk, 100);
		if (msg)
			rd_kafka_message_destroy(msg);
		said = log_count("committed the offsets of 50 record(s) the rebalance had refused") > 0;
	}
	CHECK(log_count("commit on revoke refused: Broker: Group rebalance in progress") == 1);
	CHECK(said);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	c360_kafka_sink_stop(s);
	CHECK_EQ_INT(c360_kafka_sink_wait(s, 60000), C360_OK);
	c360_kafka_sink_metrics(s, &m);
	CHECK_EQ_INT(m.uncommitted, 0);
	c360_kafka_sink_free(s);
	/* the restart reads nothing again */
	CHECK_EQ_INT(run_to_end(st, cfg, &m, err, sizeof err), C360_OK);
	CHECK_EQ_INT(m.records_in, 0);
	c360_kafka_config_free(cfg);
	c360_store_close(st);
}

/* ---- item: records without a key, values that are not objects ---- */

/* 15 records without a key are stored as topic/partition/offset, counted,
 * and warned about 10 times (first 10, then every 1000th) with their
 * position; values 42, "x" and [1] are written, counted and warned about;
 * a JSON null value deletes by key as a tombstone does. */
TEST(keyless_and_non_object_records_are_counted_and_logged)
{
	const char *topic = "odd";
	c360_kafka_mock_topic(mock, topic, 1);
	rd_kafka_t *p = producer();
	for (int i = 0; i < 15; i++)
		produce_str(p, topic, 0, NULL, "{\"a\":1}"); /* offsets 0..14 */
	produce_str(p, topic, 0, "n", "42");                /* 15 */
	produce_str(p, topic, 0, "s", "\"x\"");             /* 16 */
	produce_str(p, topic, 0, "a", "[1]");               /* 17 */
	produce_str(p, topic, 0, "gone", "{\"a\":2}");      /* 18 */
	produce_str(p, topic, 0, "gone", "null");           /* 19: a delete */
	REQUIRE(rd_kafka_flush(p, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR);
	rd_kafka_destroy(p);
	c360_store *st = new_store();
	struct c360_kafka_config *cfg = config("\"topics\":\"%s\"", topic);
	REQUIRE(st && cfg);
	struct c360_kafka_metrics m;
	char err[400] = "";
	log_reset();
	CHECK_EQ_INT(run_to_end(st, cfg, &m, err, sizeof err), C360_OK);
	CHECK_EQ_INT(m.records_in, 20);
	CHECK_EQ_INT(m.key_fallback, 15);
	CHECK_EQ_INT(m.non_object, 3);
	CHECK_EQ_INT(m.written, 19);
	CHECK_EQ_INT(m.deleted, 1);
	CHECK(has(st, "odd/0/0") && has(st, "odd/0/14"));
	CHECK(has(st, "n") && has(st, "s") && has(st, "a"));
	CHECK(!has(st, "gone"));
	CHECK_EQ_INT(log_count("has no usable key: stored as 'odd/0/"), 10);
	CHECK_EQ_INT(log_count("record 'odd' [0] offset 0 has no usable key"), 1);
	CHECK_EQ_INT(log_count("record 'odd' [0] offset 10 has no usable key"), 0);
	CHECK_EQ_INT(log_count("is JSON but not an object"), 3);
	CHECK_EQ_INT(log_count("record 'odd' [0] offset 17 is JSON but not an object"), 1);
	c360_kafka_config_free(cfg);
	c360_store_close(st);
}

int main(void)
{
	/* the sink's log goes to a file (or stderr with KAFKA_TEST_LOG) and
	 * through the hook, where the tests look for what it said */
	c360_log_set_level(C360_LOG_INFO);
	c360_log_set_hook(log_hook);
	snprintf(tmpdir, sizeof tmpdir, "/tmp/c360-kfault-XXXXXX");
	if (!mkdtemp(tmpdir))
		return 1;
	char logpath[300];
	snprintf(logpath, sizeof logpath, "%s/log", tmpdir);
	if (!getenv("KAFKA_TEST_LOG"))
		c360_log_set_file(logpath);
	char err[200];
	if (c360_kafka_mock_new(1, &mock, err, sizeof err)) {
		printf("mock: %s\n", err);
		return 1;
	}
	const char *only = getenv("KAFKA_TEST_ONLY"); /* debugging aid: run one test */
#define RUN_SEL(t) do { if (!only || !strcmp(only, #t)) RUN(t); } while (0)
	RUN_SEL(dead_letter_too_large_is_sent_cut);
	RUN_SEL(dead_letter_refused_even_cut_is_skipped_with_its_position);
	RUN_SEL(final_commit_refused_by_a_rebalance_is_retried);
	RUN_SEL(final_commit_that_keeps_failing_fails_the_stop_with_the_count);
	RUN_SEL(commit_refused_on_revoke_is_made_after_the_rebalance);
	RUN_SEL(keyless_and_non_object_records_are_counted_and_logged);
	c360_kafka_mock_free(mock);
	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd)) {
	}
	return test_summary();
}
