/* The Kafka sink: a librdkafka consumer group writing Debezium change
 * events (or any JSON) into a store bucket, at least once.
 *
 * Delivery: enable.auto.offset.store=false; each task (tasks.max consumer
 * threads in one group) parses records into batches on its consumer
 * thread while its writer thread applies the previous batch in one store
 * transaction; only after that transaction committed (and dead letters of
 * the batch were acknowledged by the brokers) are the batch's offsets
 * stored, and auto-commit or the commit on revoke/close sends them. Order
 * per key within a partition is kept (batches are applied in order, one
 * writer per task, ops in record order). Bad records (not JSON, no id) go
 * to the dead-letter topic with __connect.errors.* headers when
 * errors.tolerance=all, else the sink stops before that record. A dead
 * letter the topic refuses as a record (too large, invalid) is sent again
 * cut to c360.deadletterqueue.truncate.bytes with __c360.dlq.* headers; if
 * that is refused too it is logged with its position, counted
 * (dlq_dropped, failed) and skipped, so no record blocks the sink. A failed
 * store write is retried with backoff until couchbase.retry.timeout, then
 * the sink stops without storing the offsets.
 *
 * Commits are synchronous on revoke and at shutdown; a commit refused
 * while the group rebalances (or its coordinator moves) is retried: at
 * shutdown for up to 8 s, on revoke with the next assignment (the revoke
 * runs inside the rebalance, which waits for this member). When the
 * offsets still cannot be committed at shutdown, the sink ends FAILED with
 * the number of records that will be read again (mid-run it only warns:
 * the new owner reads them again, writes are idempotent); both count in
 * uncommitted.
 *
 * Threads: every function may be called from any thread;
 * c360_kafka_sink_stop() is async-signal-safe. */
#ifndef C360_SOURCES_KAFKA_SINK_H
#define C360_SOURCES_KAFKA_SINK_H

#include <stdbool.h>
#include <stdint.h>

#include "core/rc.h"
#include "sources/kafka/kconfig.h"
#include "store/store.h"

typedef struct c360_kafka_sink c360_kafka_sink;

struct c360_kafka_metrics {
	uint64_t records_in;     /* records consumed (tombstones included) */
	uint64_t written;        /* documents upserted */
	uint64_t deleted;        /* documents deleted (d events and tombstones that found one) */
	uint64_t dead_lettered;  /* records acknowledged by the dead-letter topic (truncated ones included) */
	uint64_t dlq_truncated;  /* dead letters the topic refused as too large, sent again cut to
				    c360.deadletterqueue.truncate.bytes */
	uint64_t dlq_dropped;    /* dead letters the topic refused even cut: logged with their position,
				    skipped (also counted in failed) */
	uint64_t failed;         /* bad records skipped without a dead-letter topic, dropped dead letters,
				    or the record that stopped the sink */
	uint64_t key_fallback;   /* records without a usable key (and no template): upserts stored as
				    topic/partition/offset, deletes skipped */
	uint64_t non_object;     /* values that are JSON but not an object (42, "x", [1]), written as they are */
	uint64_t uncommitted;    /* records written whose offsets could not be committed (read again) */
	uint64_t skipped;        /* ignored on purpose: tombstones after a delete, truncates, deletes without id */
	uint64_t batches;        /* store transactions */
	uint64_t retries;        /* store write retries */
	uint64_t active_ms;      /* from the first record consumed to the last batch applied */
};

enum c360_kafka_sink_state {
	C360_KAFKA_SINK_CREATED = 0,
	C360_KAFKA_SINK_RUNNING,
	C360_KAFKA_SINK_PAUSED,
	C360_KAFKA_SINK_STOPPED, /* stopped by request, or reached the end with exit_at_end */
	C360_KAFKA_SINK_FAILED,  /* stopped by an error (c360_kafka_sink_error) */
};
/* "UNASSIGNED", "RUNNING", "PAUSED", "STOPPED", "FAILED" (Kafka Connect's words) */
const char *c360_kafka_sink_state_str(enum c360_kafka_sink_state s);

struct c360_kafka_sink_opts {
	bool exit_at_end; /* stop once every assigned partition reached its end and all before it is durable */
};

/* Validates cfg (templates, librdkafka settings: errors name the key),
 * ensures the target buckets, and creates the consumers (subscribed, not
 * yet polling). cfg and st are borrowed until c360_kafka_sink_free().
 * opts may be NULL. */
c360_rc c360_kafka_sink_new(c360_store *st, const struct c360_kafka_config *cfg,
			    const struct c360_kafka_sink_opts *opts, c360_kafka_sink **out, char *err,
			    size_t errlen);
/* Starts the task threads. */
c360_rc c360_kafka_sink_start(c360_kafka_sink *s, char *err, size_t errlen);
/* Asks the tasks to drain (write what was consumed, commit) and stop. */
void c360_kafka_sink_stop(c360_kafka_sink *s);
/* Waits up to timeout_ms (<0 = forever) for every task to finish (end
 * reached with exit_at_end, stop, or a fatal error). Returns C360_OK when
 * finished cleanly, C360_ERR_TIMEOUT if still running, or the error that
 * stopped the sink. */
c360_rc c360_kafka_sink_wait(c360_kafka_sink *s, int timeout_ms);
/* Pauses or resumes consumption (assigned partitions are paused in
 * librdkafka; the group membership stays). */
void c360_kafka_sink_pause(c360_kafka_sink *s, bool pause);
enum c360_kafka_sink_state c360_kafka_sink_state(c360_kafka_sink *s);
/* The error that stopped the sink ("" if none); copied into buf. */
void c360_kafka_sink_error(c360_kafka_sink *s, char *buf, size_t len);
/* A snapshot of this sink's counters. */
void c360_kafka_sink_metrics(c360_kafka_sink *s, struct c360_kafka_metrics *out);
/* Counters summed over every sink of the process since start (for
 * /metrics and the dashboard). */
void c360_kafka_metrics_total(struct c360_kafka_metrics *out);
struct c360_metrics_out;
/* A collector for core/metrics.h (register with c360_metrics_add(m,
 * c360_kafka_metrics_collect, NULL)): the process-wide totals as
 * c360_kafka_records_total{outcome="in|written|deleted|dead_lettered|failed|skipped"},
 * c360_kafka_dead_letters_truncated_total, c360_kafka_dead_letters_dropped_total,
 * c360_kafka_key_fallback_total, c360_kafka_non_object_total,
 * c360_kafka_uncommitted_total and c360_kafka_store_batches_total,
 * c360_kafka_store_retries_total. */
void c360_kafka_metrics_collect(void *ctx, struct c360_metrics_out *out);
const struct c360_kafka_config *c360_kafka_sink_config(const c360_kafka_sink *s);
/* Stops (draining and committing) and frees. Accepts NULL. */
void c360_kafka_sink_free(c360_kafka_sink *s);

#endif
