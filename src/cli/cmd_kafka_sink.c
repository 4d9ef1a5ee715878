/* c360 kafka-sink: run the Couchbase-sink-compatible Kafka connector from
 * its connector JSON into a store bucket. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/log.h"
#include "sources/kafka/kconfig.h"
#include "sources/kafka/sink.h"
#include "core/banned.h"

int c360_cmd_kafka_sink(int argc, char **argv);

static const char *o_config;
static bool o_exit_at_end;
static const char *o_brokers;
static const char *o_group;
static const char *o_sync = "full";
static bool o_config_help;

static const struct c360_opt opts[] = {
	{"config", 'c', C360_OPT_STR, &o_config, "FILE", "the connector config: JSON (Kafka Connect body or bare config) or .properties", NULL},
	{"exit-at-end", 'e', C360_OPT_FLAG, &o_exit_at_end, NULL,
	 "stop once every assigned partition reached its end and everything before it is durable", NULL},
	C360_CLI_STORE_OPT,
	{"brokers", 'b', C360_OPT_STR, &o_brokers, "HOST:PORT,...", "override bootstrap.servers", NULL},
	{"group", 'g', C360_OPT_STR, &o_group, "ID", "override group.id", "connect-NAME"},
	{"sync", 0, C360_OPT_STR, &o_sync, "full|normal", "store durability: full survives power loss, normal kill -9",
	 "full"},
	{"config-help", 0, C360_OPT_FLAG, &o_config_help, NULL, "list every connector config key and exit", NULL},
	{NULL, 0, 0, NULL, NULL, NULL, NULL},
};

static const struct c360_cmd_spec spec = {
	"c360 kafka-sink --config FILE [--exit-at-end] [--store PATH] [--brokers B]",
	"consume Debezium change events (or any JSON) from Kafka into a bucket, at least once",
	"The config is the Couchbase sink connector JSON as Kafka Connect takes it (the seed's\n"
	"body works unchanged) or its Java .properties file (the connector's quickstart files):\n"
	"3.x names (connection.bucket, ...) and 4.x names (couchbase.bucket,\n"
	"couchbase.document.id, couchbase.retry.timeout, errors.tolerance,\n"
	"errors.deadletterqueue.topic.name, ...) plus librdkafka settings (bootstrap.servers,\n"
	"group.id, security.protocol, sasl.*, ssl.*). Unknown keys are warned about; a bad value\n"
	"stops the start with an error naming the key. See --config-help and docs/kafka-sink.md.\n"
	"SIGTERM/SIGINT drain: what was consumed is written and its offsets committed.\n"
	"Exit codes: 0 ok, 1 stopped by an error, some records failed (dead letters the topic refused\n"
	"even cut included) or the offsets of written records could not be committed at the stop\n"
	"(the summary says how many will be read again), 2 usage, 5 bad config,\n"
	"6 store unusable.",
	opts, 0, 0};

static c360_kafka_sink *volatile g_sink;
static volatile sig_atomic_t g_signals;

static void on_signal(int sig)
{
	(void)sig;
	g_signals++;
	if (g_signals > 2)
		_exit(C360_EXIT_FAILED);
	c360_kafka_sink_stop(g_sink);
}

static void warn_cb(const char *msg, void *ctx)
{
	fprintf(stderr, "%s: warning: %s\n", (const char *)ctx, msg);
}

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int c360_cmd_kafka_sink(int argc, char **argv)
{
	const char *cmd = argv[0];
	int n = c360_opts_parse(&spec, argc, argv);
	if (n == C360_OPTS_HELP)
		return C360_EXIT_OK;
	if (n == C360_OPTS_ERROR)
		return C360_EXIT_USAGE;
	if (o_config_help) {
		c360_kafka_config_help(stdout, false);
		return C360_EXIT_OK;
	}
	if (!o_config) {
		fprintf(stderr, "%s: --config FILE is required (see --help)\n", cmd);
		return C360_EXIT_USAGE;
	}
	struct c360_store_opts so;
	c360_store_opts_init(&so);
	if (!strcmp(o_sync, "full"))
		so.synchronous = C360_SYNC_FULL;
	else if (!strcmp(o_sync, "normal"))
		so.synchronous = C360_SYNC_NORMAL;
	else {
		fprintf(stderr, "%s: --sync must be full or normal, not '%s'\n", cmd, o_sync);
		return C360_EXIT_USAGE;
	}

	char *text = NULL;
	size_t len = 0;
	if (c360_cli_read_file(o_config, 1u << 20, &text, &len))
		return C360_EXIT_INVALID;
	char err[600] = "";
	char what[300];
	snprintf(what, sizeof what, "%s: %s", cmd, o_config);
	struct c360_kafka_config *cfg = NULL;
	c360_rc rc = c360_kafka_config_parse_text(o_config, text, len, warn_cb, what, &cfg, err, sizeof err);
	free(text);
	if (rc) {
		fprintf(stderr, "%s: %s: %s\n", cmd, o_config, err);
		return C360_EXIT_INVALID;
	}
	if ((o_brokers && c360_kafka_config_set_rdkafka(cfg, "bootstrap.servers", o_brokers)) ||
	    (o_group && c360_kafka_config_set_rdkafka(cfg, "group.id", o_group))) {
		c360_kafka_config_free(cfg);
		return C360_EXIT_FAILED;
	}

	c360_store *st = NULL;
	int ec = c360_cli_open_store(&st, &so);
	if (ec) {
		c360_kafka_config_free(cfg);
		return ec;
	}
	struct c360_kafka_sink_opts ko = {.exit_at_end = o_exit_at_end};
	c360_kafka_sink *sink = NULL;
	rc = c360_kafka_sink_new(st, cfg, &ko, &sink, err, sizeof err);
	if (rc) {
		fprintf(stderr, "%s: %s: %s\n", cmd, o_config, err);
		c360_store_close(st);
		c360_kafka_config_free(cfg);
		return rc == C360_ERR_INVALID ? C360_EXIT_INVALID : C360_EXIT_FAILED;
	}
	g_sink = sink;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	double t0 = mono();
	rc = c360_kafka_sink_start(sink, err, sizeof err);
	if (rc) {
		fprintf(stderr, "%s: %s\n", cmd, err);
	} else {
		bool tty = c360_cli_is_tty();
		for (;;) {
			rc = c360_kafka_sink_wait(sink, 1000);
			if (rc != C360_ERR_TIMEOUT)
				break;
			if (tty) {
				struct c360_kafka_metrics m;
				c360_kafka_sink_metrics(sink, &m);
				double el = mono() - t0;
				fprintf(stderr, "\r%s: %llu in, %llu written, %llu deleted, %llu dead-lettered (%.0f/s)   ",
					cfg->name, (unsigned long long)m.records_in, (unsigned long long)m.written,
					(unsigned long long)m.deleted, (unsigned long long)m.dead_lettered,
					el > 0 ? m.records_in / el : 0.0);
			}
		}
		if (tty)
			fprintf(stderr, "\n");
	}
	struct c360_kafka_metrics m;
	c360_kafka_sink_metrics(sink, &m);
	double el = mono() - t0;
	char serr[512] = "";
	c360_kafka_sink_error(sink, serr, sizeof serr);
	/* what needs a look, only when it happened */
	char extra[400] = "";
	size_t xl = 0;
	if (m.dlq_truncated || m.dlq_dropped)
		xl += (size_t)snprintf(extra + xl, sizeof extra - xl,
				       "; dead letters refused as too large: %llu sent cut, %llu skipped (see the log)",
				       (unsigned long long)m.dlq_truncated, (unsigned long long)m.dlq_dropped);
	if (m.key_fallback && xl < sizeof extra)
		xl += (size_t)snprintf(extra + xl, sizeof extra - xl, "; %llu without a usable key",
				       (unsigned long long)m.key_fallback);
	if (m.non_object && xl < sizeof extra)
		xl += (size_t)snprintf(extra + xl, sizeof extra - xl, "; %llu not JSON objects",
				       (unsigned long long)m.non_object);
	if (m.uncommitted && xl < sizeof extra)
		snprintf(extra + xl, sizeof extra - xl, "; %llu written but not committed (read again)",
			 (unsigned long long)m.uncommitted);
	fprintf(stderr,
		"%s: '%s': %llu records in, %llu written, %llu deleted, %llu dead-lettered, %llu failed, "
		"%llu skipped in %.2f s (%.0f records/s; %.0f records/s from the first record to the last write)%s%s%s\n",
		cmd, cfg->name, (unsigned long long)m.records_in, (unsigned long long)m.written,
		(unsigned long long)m.deleted, (unsigned long long)m.dead_lettered, (unsigned long long)m.failed,
		(unsigned long long)m.skipped, el, el > 0 ? m.records_in / el : 0.0,
		m.active_ms ? m.records_in * 1000.0 / (double)m.active_ms : 0.0, extra, *serr ? "; stopped: " : "",
		serr);
	g_sink = NULL;
	c360_kafka_sink_free(sink);
	c360_store_close(st);
	c360_kafka_config_free(cfg);
	if (rc)
		return C360_EXIT_FAILED;
	return m.failed ? C360_EXIT_FAILED : C360_EXIT_OK;
}
