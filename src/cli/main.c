/* c360 entry point: global options, then dispatch to a subcommand. */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/log.h"
#include "core/banned.h"

/* One line per subcommand, implemented in cli/cmd_<name>.c. */

int c360_cmd_demo(int argc, char **argv);
int c360_cmd_run(int argc, char **argv);
int c360_cmd_function(int argc, char **argv);
int c360_cmd_bucket(int argc, char **argv);
int c360_cmd_doc(int argc, char **argv);
int c360_cmd_feed(int argc, char **argv);
int c360_cmd_query(int argc, char **argv);
int c360_cmd_cbimport(int argc, char **argv);
int c360_cmd_import(int argc, char **argv);
int c360_cmd_serve(int argc, char **argv);
int c360_cmd_token(int argc, char **argv);
int c360_cmd_poll(int argc, char **argv);
int c360_cmd_integrate(int argc, char **argv);
int c360_cmd_kafka_sink(int argc, char **argv);
int c360_cmd_kafka_produce(int argc, char **argv);
int c360_cmd_kafka_mock(int argc, char **argv);

const struct c360_command c360_commands[] = {
	{"demo", c360_cmd_demo, "run the whole system on a synthetic retailer, check it, serve the dashboard"},
	{"run", c360_cmd_run, "run a pipeline file: store, sources, functions and the HTTP server"},
	{"bucket", c360_cmd_bucket, "create, list and drop buckets"},
	{"doc", c360_cmd_doc, "get, insert, upsert, replace, delete, touch a document"},
	{"feed", c360_cmd_feed, "print (and follow) a bucket's change feed as JSON lines"},
	{"query", c360_cmd_query, "run read-only SQL over the buckets"},
	{"function", c360_cmd_function, "deploy, run and watch eventing functions (JavaScript, native)"},
	{"cbimport", c360_cmd_cbimport, "cbimport csv|json: import CSV or JSON files into a bucket"},
	{"import", c360_cmd_import, "import the nightly CSV drop once per file (with expiry, watch)"},
	{"poll", c360_cmd_poll, "poll the online store REST API into customer360 (details, orders, products)"},
	{"integrate", c360_cmd_integrate, "run a native Customer 360 mapping (YAML) over staging in the foreground"},
	{"kafka-sink", c360_cmd_kafka_sink, "consume Debezium change events from Kafka into a bucket (Couchbase sink JSON)"},
	{"kafka-produce", c360_cmd_kafka_produce, "produce sample Debezium customer events to a Kafka topic"},
	{"kafka-mock", c360_cmd_kafka_mock, "run a mock Kafka cluster (librdkafka) for tests and demos"},
	{"serve", c360_cmd_serve, "serve the customer 360 API and the web dashboard"},
	{"token", c360_cmd_token, "create, list and revoke API tokens"},
	{NULL, NULL, NULL},
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: c360 [--store PATH] [--log-level LEVEL] [--log-format text|json] COMMAND [ARGS]\n"
		"\nc360 ingests a retailer's customer data (Kafka CDC, nightly CSV, REST) into a\n"
		"document store and merges it into one Customer 360 document per person.\n"
		"\ncommands:\n");
	for (const struct c360_command *c = c360_commands; c->name; c++)
		fprintf(out, "  %-14s %s\n", c->name, c->summary);
	fprintf(out, "\n'c360 COMMAND --help' describes a command. Exit codes: 0 ok, 1 failed,\n"
		     "2 usage, 3 not found, 4 conflict (exists, CAS), 5 invalid input, 6 store error.\n");
}

int main(int argc, char **argv)
{
	const char *self = basename(argv[0]);
	if (!strcmp(self, "cbimport")) {
		/* argv[0] dispatch: the seed's `cbimport csv …` line runs unchanged */
		for (const struct c360_command *c = c360_commands; c->name; c++)
			if (!strcmp(c->name, "cbimport"))
				return c->run(argc, argv);
		fprintf(stderr, "cbimport: this c360 build has no cbimport command\n");
		return C360_EXIT_USAGE;
	}

	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--version")) {
			printf("c360 %s\n", C360_VERSION);
			return 0;
		} else if (!strcmp(a, "--store") && i + 1 < argc) {
			c360_cli_store = argv[++i];
		} else if (!strncmp(a, "--store=", 8)) {
			c360_cli_store = a + 8;
		} else if (!strcmp(a, "--log-level") && i + 1 < argc) {
			enum c360_log_level lv;
			if (!c360_log_parse_level(argv[++i], &lv)) {
				fprintf(stderr, "c360: unknown log level '%s' (error, warn, info, debug, trace)\n", argv[i]);
				return C360_EXIT_USAGE;
			}
			c360_log_set_level(lv);
		} else if (!strcmp(a, "--log-format") && i + 1 < argc) {
			const char *f = argv[++i];
			if (strcmp(f, "text") && strcmp(f, "json")) {
				fprintf(stderr, "c360: unknown log format '%s' (text, json)\n", f);
				return C360_EXIT_USAGE;
			}
			c360_log_set_format(strcmp(f, "json") ? C360_LOG_TEXT : C360_LOG_JSON);
		} else {
			fprintf(stderr, "c360: unknown option '%s' (see 'c360 --help')\n", a);
			return C360_EXIT_USAGE;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return C360_EXIT_USAGE;
	}
	const char *name = argv[i];
	if (!strcmp(name, "help")) {
		usage(stdout);
		return 0;
	}
	for (const struct c360_command *c = c360_commands; c->name; c++) {
		if (strcmp(c->name, name))
			continue;
		char label[64];
		snprintf(label, sizeof label, "c360 %s", name);
		argv[i] = label;
		return c->run(argc - i, argv + i);
	}
	fprintf(stderr, "c360: unknown command '%s' (see 'c360 --help')\n", name);
	return C360_EXIT_USAGE;
}
