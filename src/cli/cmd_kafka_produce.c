/* c360 kafka-produce: sample Debezium change events of the seed's
 * inventory.customers table to a Kafka topic. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "sources/kafka/dbzgen.h"
#include "core/banned.h"

int c360_cmd_kafka_produce(int argc, char **argv);

static const char *o_brokers;
static const char *o_topic = "dbserver1.inventory.customers";
static int64_t o_customers = 10;
static int64_t o_first = 1001;
static bool o_schema;
static int64_t o_updates;
static int64_t o_deletes;
static bool o_no_tombstones;
static bool o_snapshot;
static const char *o_compression = "lz4";

static const struct c360_opt opts[] = {
	{"brokers", 'b', C360_OPT_STR, &o_brokers, "HOST:PORT,...", "bootstrap servers (required)", NULL},
	{"topic", 't', C360_OPT_STR, &o_topic, "TOPIC", "topic to produce to", "dbserver1.inventory.customers"},
	{"customers", 'n', C360_OPT_INT, &o_customers, "N", "create events (ids from --first-id)", "10"},
	{"first-id", 0, C360_OPT_INT, &o_first, "ID", "first customer id", "1001"},
	{"schema", 's', C360_OPT_FLAG, &o_schema, NULL, "keys and values with schemas (schemas.enable=true)", NULL},
	{"updates", 'u', C360_OPT_INT, &o_updates, "U", "update events, round-robin over the customers", "0"},
	{"deletes", 'd', C360_OPT_INT, &o_deletes, "D", "delete events for the first D customers", "0"},
	{"no-tombstones", 0, C360_OPT_FLAG, &o_no_tombstones, NULL, "no tombstone after each delete", NULL},
	{"snapshot", 0, C360_OPT_FLAG, &o_snapshot, NULL, "op \"r\" (snapshot reads) instead of \"c\"", NULL},
	{"compression", 0, C360_OPT_STR, &o_compression, "CODEC", "none, gzip, snappy, lz4, zstd", "lz4"},
	{NULL, 0, 0, NULL, NULL, NULL, NULL},
};

static const struct c360_cmd_spec spec = {
	"c360 kafka-produce --brokers B [--topic T] [--customers N] [--schema] [--updates U] [--deletes D]",
	"produce sample Debezium events (inventory.customers) to a Kafka topic",
	"Events are shaped like Debezium's MySQL connector through JsonConverter: key {\"id\":N}\n"
	"(with --schema: {\"schema\":...,\"payload\":{\"id\":N}}), value the change envelope\n"
	"(before, after, source, op, ts_ms), about 0.9 KB, or 3.4 KB with --schema. Order: the\n"
	"creates, then the updates, then each delete followed by its tombstone. Records of one\n"
	"key go to one partition. Prints the count acknowledged by the brokers.",
	opts, 0, 0};

static void progress(int64_t done, int64_t total, void *ctx)
{
	fprintf(stderr, "\r%s: %lld/%lld", (const char *)ctx, (long long)done, (long long)total);
	if (done == total)
		fprintf(stderr, "\n");
}

int c360_cmd_kafka_produce(int argc, char **argv)
{
	const char *cmd = argv[0];
	int n = c360_opts_parse(&spec, argc, argv);
	if (n == C360_OPTS_HELP)
		return C360_EXIT_OK;
	if (n == C360_OPTS_ERROR)
		return C360_EXIT_USAGE;
	if (!o_brokers) {
		fprintf(stderr, "%s: --brokers is required\n", cmd);
		return C360_EXIT_USAGE;
	}
	if (o_customers < 0 || o_updates < 0 || o_deletes < 0 || o_deletes > o_customers || o_first < 0) {
		fprintf(stderr, "%s: counts must be >= 0 and --deletes at most --customers\n", cmd);
		return C360_EXIT_USAGE;
	}
	struct c360_dbzgen_opts go = {
		.brokers = o_brokers, .topic = o_topic, .customers = o_customers, .first_id = o_first,
		.schema = o_schema, .updates = o_updates, .deletes = o_deletes, .tombstones = !o_no_tombstones,
		.snapshot = o_snapshot, .compression = o_compression,
		.progress = c360_cli_is_tty() ? progress : NULL, .progress_ctx = (void *)cmd,
	};
	struct c360_dbzgen_stats stats = {0};
	char err[300] = "";
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	c360_rc rc = c360_dbzgen_produce(&go, &stats, err, sizeof err);
	clock_gettime(CLOCK_MONOTONIC, &b);
	double el = (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
	printf("%lld\n", (long long)stats.produced);
	fprintf(stderr, "%s: %lld records (%lld value bytes) to '%s' in %.2f s%s%s\n", cmd,
		(long long)stats.produced, (long long)stats.bytes, o_topic, el, rc ? ": " : "", rc ? err : "");
	return rc ? C360_EXIT_FAILED : C360_EXIT_OK;
}
