/* c360 demo: the tutorial's whole system on embedded defaults (src/demo/). */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "demo/demo.h"
#include "serve/http.h"
#include "core/banned.h"

static volatile sig_atomic_t demo_stop;

static void on_signal(int sig)
{
	(void)sig;
	demo_stop = 1;
}

int c360_cmd_demo(int argc, char **argv)
{
	int64_t customers = 10000, seed = 360, port = 8091, partitions = 0;
	const char *dir = NULL, *bind = "127.0.0.1";
	bool exit_after = false, no_progress = false;
	const struct c360_opt opts[] = {
		{"customers", 'n', C360_OPT_INT, &customers, "N", "people in the synthetic retailer", "10000"},
		{"seed", 0, C360_OPT_INT, &seed, "N", "generator seed (same seed, same retailer)", "360"},
		{"dir", 'd', C360_OPT_STR, &dir, "DIR", "work folder: store, loyalty drop folder, pipeline.yaml", "a new /tmp/c360-demo-*"},
		{"partitions", 0, C360_OPT_INT, &partitions, "N", "Kafka partitions", "about 2 MiB of events each"},
		{"bind", 0, C360_OPT_STR, &bind, "ADDR", "address the dashboard and API listen on", "127.0.0.1"},
		{"port", 'p', C360_OPT_INT, &port, "N", "port of the dashboard and API (0 = any free port)", "8091"},
		{"exit", 0, C360_OPT_FLAG, &exit_after, NULL, "stop after the summary instead of serving", NULL},
		{"no-progress", 0, C360_OPT_FLAG, &no_progress, NULL, "no live progress lines", NULL},
		{0},
	};
	const struct c360_cmd_spec spec = {
		.usage = "c360 demo [options]",
		.summary =
			"Run the tutorial's whole Customer 360 system on one machine, nothing external:\n"
			"a synthetic retailer (home delivery ~70%, loyalty ~60%, online store ~50% of\n"
			"the people, overlapping by email, a few emails spelled differently, later\n"
			"updates and deletes), its home-delivery changes as Debezium events on a\n"
			"Kafka (librdkafka's mock cluster), its nightly loyalty CSV in a drop\n"
			"folder, and a mock online store (Kafka and the store run in child processes\n"
			"of their own, stopped with the demo); the real pipeline ingests them into\n"
			"staging, the native Customer 360 function merges them into customer360, the\n"
			"result is checked against the generator's truth, a summary is printed, and\n"
			"the dashboard and API are served until Ctrl-C (or --exit).",
		.details = "Exit status: 0 when the result matches the truth, 1 otherwise, 130 when\n"
			   "Ctrl-C stops it before the check (nothing is checked then).",
		.opts = opts,
		.min_args = 0,
		.max_args = 0,
	};
	int n = c360_opts_parse(&spec, argc, argv);
	if (n == C360_OPTS_HELP)
		return 0;
	if (n < 0)
		return C360_EXIT_USAGE;
	if (customers < 1 || customers > 10000000 || port < 0 || port > 65535 || partitions < 0 ||
	    partitions > 1000) {
		fprintf(stderr, "c360 demo: --customers 1..10000000, --port 0..65535, --partitions 0..1000\n");
		return C360_EXIT_USAGE;
	}
	if (!exit_after && !c360_cli_store && !c360_http_is_loopback(bind)) {
		/* the demo's new store has no API token: the API would refuse every
		 * call there (docs/serve.md, "Authentication"); a given --store is
		 * checked when the demo serves */
		fprintf(stderr,
			"c360 demo: refusing to serve on '%s' without authentication: bind a loopback "
			"address, or run with --exit and serve the demo's store with 'c360 serve --bind "
			"%s' after 'c360 token create'\n",
			bind, bind);
		return C360_EXIT_USAGE;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	struct c360_demo_opts o = {
		.customers = (uint32_t)customers,
		.seed = (uint64_t)seed,
		.dir = dir,
		.store = c360_cli_store,
		.partitions = (int)partitions,
		.serve = !exit_after,
		.bind = bind,
		.port = (int)port,
		.progress = !no_progress && isatty(STDOUT_FILENO),
		.stop = (const volatile int *)&demo_stop,
		.out = stdout,
	};
	struct c360_demo_result res;
	char err[1024] = "";
	c360_rc rc = c360_demo_run(&o, &res, err, sizeof err);
	if (rc) {
		fprintf(stderr, "c360 demo: %s\n", *err ? err : c360_rc_str(rc));
		return res.interrupted ? 130 : C360_EXIT_FAILED;
	}
	return 0;
}
