/* c360 kafka-mock: librdkafka's mock cluster as a standalone Kafka for
 * kcat, tests, benchmarks and the demo. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "sources/kafka/dbzgen.h"
#include "core/banned.h"

int c360_cmd_kafka_mock(int argc, char **argv);

static int64_t o_brokers = 1;
static int64_t o_partitions = 4;
static struct c360_opt_list o_topics;
static const char *o_file;

static const struct c360_opt opts[] = {
	{"brokers", 0, C360_OPT_INT, &o_brokers, "N", "number of brokers", "1"},
	{"partitions", 'p', C360_OPT_INT, &o_partitions, "P", "partitions of each --topic without :P", "4"},
	{"topic", 't', C360_OPT_LIST, &o_topics, "NAME[:P]", "create a topic (repeatable)", NULL},
	{"bootstrap-file", 0, C360_OPT_STR, &o_file, "FILE", "also write the bootstrap servers to FILE", NULL},
	{NULL, 0, 0, NULL, NULL, NULL, NULL},
};

static const struct c360_cmd_spec spec = {
	"c360 kafka-mock [--brokers N] [--partitions P] [--topic NAME[:P]]...",
	"run librdkafka's mock Kafka cluster (real protocol, loopback) until SIGTERM",
	"Prints the bootstrap servers (\"127.0.0.1:PORT,...\") on the first line of stdout, then\n"
	"serves until SIGTERM or SIGINT. Data lives in memory only. librdkafka 2.0.2's mock keeps\n"
	"about 5 MiB per partition and silently drops older batches: produce with lz4 and enough\n"
	"partitions for big data sets, and count what arrived.",
	opts, 0, 0};

static volatile sig_atomic_t g_stop;
static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

int c360_cmd_kafka_mock(int argc, char **argv)
{
	const char *cmd = argv[0];
	int n = c360_opts_parse(&spec, argc, argv);
	if (n == C360_OPTS_HELP)
		return C360_EXIT_OK;
	if (n == C360_OPTS_ERROR)
		return C360_EXIT_USAGE;
	if (o_brokers < 1 || o_brokers > 16 || o_partitions < 1 || o_partitions > 1000) {
		fprintf(stderr, "%s: --brokers must be 1..16 and --partitions 1..1000\n", cmd);
		return C360_EXIT_USAGE;
	}
	char err[256] = "";
	c360_kafka_mock *m = NULL;
	if (c360_kafka_mock_new((int)o_brokers, &m, err, sizeof err)) {
		fprintf(stderr, "%s: %s\n", cmd, err);
		return C360_EXIT_FAILED;
	}
	for (int i = 0; i < o_topics.n; i++) {
		char name[256];
		snprintf(name, sizeof name, "%s", o_topics.items[i]);
		int64_t parts = o_partitions;
		char *colon = strrchr(name, ':');
		if (colon) {
			*colon = 0;
			if (!c360_parse_int(colon + 1, &parts) || parts < 1 || parts > 1000) {
				fprintf(stderr, "%s: --topic '%s': partitions must be 1..1000\n", cmd, o_topics.items[i]);
				c360_kafka_mock_free(m);
				return C360_EXIT_USAGE;
			}
		}
		if (c360_kafka_mock_topic(m, name, (int)parts)) {
			fprintf(stderr, "%s: cannot create topic '%s'\n", cmd, name);
			c360_kafka_mock_free(m);
			return C360_EXIT_FAILED;
		}
	}
	const char *bs = c360_kafka_mock_bootstraps(m);
	printf("%s\n", bs);
	fflush(stdout);
	if (o_file) {
		char tmp[4200];
		snprintf(tmp, sizeof tmp, "%s.tmp", o_file);
		FILE *f = fopen(tmp, "w");
		if (!f || fprintf(f, "%s\n", bs) < 0 || fclose(f) || rename(tmp, o_file)) {
			fprintf(stderr, "%s: cannot write '%s'\n", cmd, o_file);
			c360_kafka_mock_free(m);
			return C360_EXIT_FAILED;
		}
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (c360_cli_is_tty())
		fprintf(stderr, "%s: serving on %s (Ctrl-C stops)\n", cmd, bs);
	while (!g_stop)
		usleep(100000);
	c360_kafka_mock_free(m);
	return C360_EXIT_OK;
}
