/* Shared by the Kafka sink's fault tests (test_kafka_dlq.c,
 * test_kafka_commit.c, test_kafka_rebalance.c): the mock cluster, a
 * producer, connector configs with their own group and no auto-commit,
 * runs to the end, and a log capture to assert what the sink said.
 * Included once per test binary. */
#ifndef C360_TESTS_RUNTIME_KAFKA_FAULTS_H
#define C360_TESTS_RUNTIME_KAFKA_FAULTS_H

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

/* A config with its own group (in group) and no auto-commit, so the only
 * commits are the sink's synchronous ones on revoke and at the stop. */
static struct c360_kafka_config *config(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
__attribute__((unused)) static struct c360_kafka_config *config(const char *fmt, ...)
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

__attribute__((unused)) static bool has(c360_store *st, const char *key)
{
	struct c360_doc d = {0};
	if (c360_store_get(st, "staging", key, strlen(key), &d))
		return false;
	c360_doc_release(&d);
	return true;
}

/* Produces n records {"id":first..} keyed by their id to one partition. */
__attribute__((unused)) static void produce_n(const char *topic, int32_t part, int first, int n)
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

/* Sets up the log capture (the sink's log goes to a file in the test's
 * directory, or stderr with KAFKA_TEST_LOG), the directory and the mock
 * cluster; returns false on failure. */
static bool faults_setup(void)
{
	c360_log_set_level(C360_LOG_INFO);
	c360_log_set_hook(log_hook);
	snprintf(tmpdir, sizeof tmpdir, "/tmp/c360-kfault-XXXXXX");
	if (!mkdtemp(tmpdir))
		return false;
	char logpath[300];
	snprintf(logpath, sizeof logpath, "%s/log", tmpdir);
	if (!getenv("KAFKA_TEST_LOG"))
		c360_log_set_file(logpath);
	char err[200];
	if (c360_kafka_mock_new(1, &mock, err, sizeof err)) {
		printf("mock: %s\n", err);
		return false;
	}
	return true;
}

static void faults_teardown(void)
{
	c360_kafka_mock_free(mock);
	c360_log_set_file(NULL);
	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd)) {
	}
}

#endif
