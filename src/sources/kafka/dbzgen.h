/* Sample Debezium change events shaped like the seed's inventory.customers
 * table (MySQL connector through JsonConverter), produced to a Kafka topic;
 * and librdkafka's mock cluster as a standalone, reusable Kafka.
 * Used by `c360 kafka-produce`, `c360 kafka-mock`, the tests, the benchmark
 * and the demo. */
#ifndef C360_SOURCES_KAFKA_DBZGEN_H
#define C360_SOURCES_KAFKA_DBZGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/rc.h"

enum c360_dbz_op {
	C360_DBZ_CREATE = 'c',
	C360_DBZ_UPDATE = 'u',
	C360_DBZ_READ = 'r',
	C360_DBZ_DELETE = 'd',
};

/* Appends the Debezium key of customer id ({"id":N}, or with its schema). */
c360_rc c360_dbz_key(int64_t id, bool schema, struct c360_buf *out);
/* Appends the change event value of customer id; `version` changes the row
 * (updates). The row is deterministic in (id, version). */
c360_rc c360_dbz_value(int64_t id, int version, enum c360_dbz_op op, bool schema, struct c360_buf *out);

struct c360_dbzgen_opts {
	const char *brokers;   /* bootstrap servers */
	const char *topic;
	int64_t customers;     /* creates, ids first_id.. */
	int64_t first_id;      /* default 1001 (the seed's ids) */
	bool schema;           /* values and keys with schemas (schemas.enable=true) */
	int64_t updates;       /* update events, round-robin over the customers */
	int64_t deletes;       /* d events for the first `deletes` customers */
	bool tombstones;       /* a tombstone after each d event (Debezium's default) */
	bool snapshot;         /* op "r" instead of "c" for the creates */
	const char *compression; /* default "lz4" */
	void (*progress)(int64_t done, int64_t total, void *ctx); /* may be NULL */
	void *progress_ctx;
};

struct c360_dbzgen_stats {
	int64_t produced;  /* records acknowledged by the brokers */
	int64_t failed;    /* delivery failures */
	int64_t bytes;     /* value bytes */
};

/* Produces the events and waits for every delivery report (acks=all).
 * Returns C360_ERR_IO when some deliveries failed (reason in err). */
c360_rc c360_dbzgen_produce(const struct c360_dbzgen_opts *opts, struct c360_dbzgen_stats *stats, char *err,
			    size_t errlen);

/* ---- mock cluster ---- */

typedef struct c360_kafka_mock c360_kafka_mock;

/* Starts librdkafka's mock cluster (the real protocol on loopback TCP,
 * ephemeral ports) with nbrokers brokers. */
c360_rc c360_kafka_mock_new(int nbrokers, c360_kafka_mock **out, char *err, size_t errlen);
/* "127.0.0.1:PORT,..." */
const char *c360_kafka_mock_bootstraps(const c360_kafka_mock *m);
/* Creates topic with partitions (replication 1). */
c360_rc c360_kafka_mock_topic(c360_kafka_mock *m, const char *topic, int partitions);
/* Takes broker id (1..nbrokers) down or up: its connections are closed and
 * refused while down. */
c360_rc c360_kafka_mock_broker(c360_kafka_mock *m, int broker_id, bool up);
/* Kafka protocol API keys for c360_kafka_mock_fail_requests. */
enum { C360_KAFKA_API_PRODUCE = 0, C360_KAFKA_API_OFFSET_COMMIT = 8 };
/* The next count requests of api_key (any client) get the Kafka error
 * code kafka_err (librdkafka's rd_kafka_resp_err_t, e.g. 10 "message size
 * too large", 27 "rebalance in progress") as a real broker would answer;
 * count 0 clears what is left. */
c360_rc c360_kafka_mock_fail_requests(c360_kafka_mock *m, int api_key, int count, int kafka_err);
void c360_kafka_mock_free(c360_kafka_mock *m); /* accepts NULL */

#endif
