/* `c360 demo`: the tutorial's whole system on one machine with nothing
 * external — a synthetic retailer, librdkafka's mock cluster carrying the
 * home-delivery Debezium events, the nightly loyalty CSV in a drop folder,
 * the mock online store — run through the real pipeline (Kafka sink, CSV
 * import, native Customer 360 function with online-store fetches) into
 * customer360, checked against the generator's truth, then served. */
#ifndef C360_DEMO_DEMO_H
#define C360_DEMO_DEMO_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/rc.h"
#include "demo/data.h"

struct c360_demo_opts {
	uint32_t customers;   /* default 10000 */
	uint64_t seed;        /* default 360 */
	const char *dir;      /* work folder (store, drop folder, pipeline.yaml); NULL = a new temp dir */
	const char *store;    /* default DIR/c360.db */
	int partitions;       /* Kafka partitions, default: enough for ~2 MiB each */
	bool serve;           /* serve the dashboard and API after the summary */
	const char *bind;     /* default 127.0.0.1 */
	int port;             /* default 8091; 0 = any free port */
	bool progress;        /* live progress lines (on a terminal) */
	const volatile int *stop; /* Ctrl-C */
	FILE *out;            /* where the stages and the summary go (stdout) */
};

struct c360_demo_stage {
	const char *name;
	double seconds;
	uint64_t items;
	const char *unit;
};

struct c360_demo_result {
	struct c360_demo_stage stages[8];
	int nstages;
	double pipeline_seconds; /* ingest + integrate */
	uint64_t customers, orders;
	uint64_t by_system[3];   /* customers with a home_delivery, loyalty, online_store xref */
	uint64_t overlap[8];     /* by xref combination, bit 0 home, 1 loyalty, 2 online */
	struct c360_demo_verify verify;
	long peak_rss_kb;        /* c360's own (this process) */
	long kafka_rss_kb;       /* the mock Kafka cluster's process */
	long online_rss_kb;      /* the mock online store's process */
	char dir[512];
	char url[128];
	bool interrupted; /* Ctrl-C before the check: nothing was checked */
};

/* Runs the demo; returns C360_OK when the pipeline ran and the result
 * matches the truth (result->verify.failures == 0). Messages go to err. A
 * stop (opts->stop) before the check ends it with C360_ERR_STATE and
 * result->interrupted: what was ingested stays in the store, unchecked. */
c360_rc c360_demo_run(const struct c360_demo_opts *opts, struct c360_demo_result *result,
		      char *err, size_t errlen);

#endif
