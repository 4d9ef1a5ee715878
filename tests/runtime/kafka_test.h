/* Shared by the Kafka sink's tests (test_kafka_sink.c, test_kafka_dlq.c,
 * test_kafka_commit.c, test_kafka_rebalance.c): the mock cluster, stores, a
 * producer, connector configs with their own group, runs to the end, dead
 * letters read back, a log capture to assert what the sink said, and a
 * KAFKA_TEST_ONLY selector. Included once per test binary. */
#ifndef C360_TESTS_RUNTIME_KAFKA_TEST_H
#define C360_TESTS_RUNTIME_KAFKA_TEST_H

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

/* librdkafka error codes a real broker answers with */
#define ERR_MSG_SIZE_TOO_LARGE 10
#define ERR_REBALANCE_IN_PROGRESS 27

static c360_kafka_mock *mock;
static char tmpdir[256];
static int nstore;
static char group[32];
static const char *config_defaults;

__attribute__((unused)) static c360_store *new_store(void)
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

/* Produces one record to partition part (NULL value = tombstone). */
__attribute__((unused)) static void produce(rd_kafka_t *p, const char *topic, int32_t part, const char *key, const char *val, size_t vlen)
{
	rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(part),
			  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
			  RD_KAFKA_V_VALUE((void *)val, val ? vlen : 0), RD_KAFKA_V_END);
}

__attribute__((unused)) static void produce_str(rd_kafka_t *p, const char *topic, int32_t part, const char *key, const char *val)
{
	produce(p, topic, part, key, val, strlen(val));
}

/* A config with its own group (in group), then the defaults given to
 * kafka_test_setup, then the body. */
static struct c360_kafka_config *config(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
__attribute__((unused)) static struct c360_kafka_config *config(const char *fmt, ...)
{
	char body[4096], full[4800];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(body, sizeof body, fmt, ap);
	va_end(ap);
	static int n;
	snprintf(group, sizeof group, "grp%d", n++);
	snprintf(full, sizeof full,
		 "{\"name\":\"t\",\"config\":{\"bootstrap.servers\":\"%s\",\"group.id\":\"%s\","
		 "\"session.timeout.ms\":\"6000\",%s%s}}",
		 c360_kafka_mock_bootstraps(mock), group, config_defaults, body);
	struct c360_kafka_config *c = NULL;
	char err[300] = "";
	if (c360_kafka_config_parse_text("test", full, strlen(full), NULL, NULL, &c, err, sizeof err))
		printf("  config error: %s\n", err);
	return c;
}

/* Runs the sink with exit_at_end; returns the wait result. */
__attribute__((unused)) static c360_rc run_to_end(c360_store *st, struct c360_kafka_config *cfg, struct c360_kafka_metrics *m, char *err,
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

/* Whether key is in bucket 'staging'; with value, a copy of it (free it). */
__attribute__((unused)) static bool has(c360_store *st, const char *key, char **value)
{
	struct c360_doc d = {0};
	if (c360_store_get(st, "staging", key, strlen(key), &d))
		return false;
	if (value)
		*value = strdup(d.value);
	c360_doc_release(&d);
	return true;
}

/* The sink run again reads nothing: everything before was committed. */
__attribute__((unused)) static void check_restart_reads_nothing(c360_store *st, struct c360_kafka_config *cfg)
{
	struct c360_kafka_metrics m;
	char err[400] = "";
	CHECK_EQ_INT(run_to_end(st, cfg, &m, err, sizeof err), C360_OK);
	CHECK_EQ_INT(m.records_in, 0);
}

/* A new topic of one partition holding records {"id":1..n} keyed by their
 * id, a new store and a config that reads the topic; false when the store
 * or the config could not be made. */
__attribute__((unused)) static bool topic_of_n(const char *topic, int n, c360_store **st,
					       struct c360_kafka_config **cfg)
{
	c360_kafka_mock_topic(mock, topic, 1);
	rd_kafka_t *p = producer();
	for (int i = 1; i <= n; i++) {
		char k[32], v[64];
		snprintf(k, sizeof k, "%d", i);
		snprintf(v, sizeof v, "{\"id\":%d}", i);
		produce_str(p, topic, 0, k, v);
	}
	rd_kafka_flush(p, 10000);
	rd_kafka_destroy(p);
	*st = new_store();
	*cfg = config("\"topics\":\"%s\"", topic);
	return *st && *cfg;
}

/* Defaults of the fault tests: no auto-commit, so the only commits are the
 * sink's synchronous ones on revoke and at the stop. */
#define FAULTS_CONFIG_DEFAULTS                                                           \
	"\"enable.auto.commit\":\"false\",\"value.converter.schemas.enable\":\"false\","     \
	"\"couchbase.bucket\":\"staging\","

/* ---- dead letters read back ---- */

/* A dead letter as read back from the topic: its headers, the first bytes
 * of its key and value, and their whole lengths. */
struct dl {
	char off[32], reason[300], topic[64], part[16], stage[64], conn[64];
	char trunc[16], refused[80], vbytes[24];
	char key[64], val[64];
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

/* Reads every record of topic partition 0, max at most. */
__attribute__((unused)) static int consume_all(const char *topic, struct dl *out, int max)
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
		hdr(m, "__connect.errors.topic", d->topic, sizeof d->topic);
		hdr(m, "__connect.errors.partition", d->part, sizeof d->part);
		hdr(m, "__connect.errors.stage", d->stage, sizeof d->stage);
		hdr(m, "__connect.errors.connector.name", d->conn, sizeof d->conn);
		hdr(m, "__c360.dlq.truncated", d->trunc, sizeof d->trunc);
		hdr(m, "__c360.dlq.refused", d->refused, sizeof d->refused);
		hdr(m, "__c360.dlq.value.bytes", d->vbytes, sizeof d->vbytes);
		d->keylen = m->key_len;
		if (m->key)
			memcpy(d->key, m->key, m->key_len < sizeof d->key ? m->key_len : sizeof d->key);
		d->vallen = m->len;
		if (m->payload)
			memcpy(d->val, m->payload, m->len < sizeof d->val ? m->len : sizeof d->val);
		rd_kafka_message_destroy(m);
	}
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	return n;
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

__attribute__((unused)) static void log_reset(void)
{
	pthread_mutex_lock(&log_mu);
	loglen = 0;
	logbuf[0] = 0;
	pthread_mutex_unlock(&log_mu);
}

__attribute__((unused)) static int log_count(const char *needle)
{
	int n = 0;
	pthread_mutex_lock(&log_mu);
	for (const char *p = logbuf; (p = strstr(p, needle)); p++)
		n++;
	pthread_mutex_unlock(&log_mu);
	return n;
}

/* Sets up the directory, the mock cluster and the log: with capture_log
 * the sink's log (info and up) is captured for log_count and goes to a file
 * in the test's directory, else only errors go to stderr; KAFKA_TEST_LOG
 * sends the whole log to stderr. config() puts defaults (JSON members
 * followed by a comma, or "") before each body. Returns false on failure. */
static bool kafka_test_setup(const char *defaults, bool capture_log)
{
	config_defaults = defaults;
	if (capture_log) {
		c360_log_set_level(C360_LOG_INFO);
		c360_log_set_hook(log_hook);
	} else {
		c360_log_set_level(getenv("KAFKA_TEST_LOG") ? C360_LOG_INFO : C360_LOG_ERROR);
	}
	snprintf(tmpdir, sizeof tmpdir, "/tmp/c360-kafka-XXXXXX");
	if (!mkdtemp(tmpdir))
		return false;
	char logpath[300];
	snprintf(logpath, sizeof logpath, "%s/log", tmpdir);
	if (capture_log && !getenv("KAFKA_TEST_LOG"))
		c360_log_set_file(logpath);
	char err[200];
	if (c360_kafka_mock_new(1, &mock, err, sizeof err)) {
		printf("mock: %s\n", err);
		return false;
	}
	return true;
}

static void kafka_test_teardown(void)
{
	c360_kafka_mock_free(mock);
	c360_log_set_file(NULL);
	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd)) {
	}
}

/* RUN(t), or with KAFKA_TEST_ONLY set (a debugging aid) only the test it names. */
#define RUN_SEL(t)                                                            \
	do {                                                                  \
		const char *only_ = getenv("KAFKA_TEST_ONLY");                \
		if (!only_ || !strcmp(only_, #t))                             \
			RUN(t);                                               \
	} while (0)

#endif
