/* The demo's home-delivery change stream: the retailer's home-delivery rows
 * as Debezium MySQL change events (with schemas, like the tutorial's
 * dbserver1.inventory.customers topic) produced to Kafka, then counted back
 * from the topic's watermarks so that nothing the broker dropped goes
 * unnoticed (librdkafka's mock cluster keeps only about 5 MiB per partition). */
#ifndef C360_DEMO_CDC_H
#define C360_DEMO_CDC_H

#include <stdint.h>

#include "core/buf.h"
#include "core/rc.h"
#include "demo/retailer.h"

struct c360_demo_cdc_stats {
	uint64_t creates, updates, deletes, tombstones;
	uint64_t produced;  /* records acknowledged by the broker */
	uint64_t on_topic;  /* records the topic's watermarks account for */
	uint64_t bytes;     /* value bytes */
};

/* Appends the change event (JSON, with schema) of a person's home-delivery
 * row: op 'c' (after = the row), 'u' (before = row, after = updated row) or
 * 'd' (before = the last row, after = null). `ts_ms` is the change time. */
c360_rc c360_demo_cdc_event(const struct c360_person *p, char op, int64_t ts_ms,
			    struct c360_buf *out);
/* Appends the record key: {"schema":…,"payload":{"id":N}}. */
c360_rc c360_demo_cdc_key(const struct c360_person *p, struct c360_buf *out);

/* Produces every home-delivery event in time order (creates, then updates,
 * then deletes each followed by a tombstone) to topic on brokers (lz4,
 * acks=all, keyed so one row's events stay in one partition), waits for
 * every delivery report and compares with the watermarks. C360_ERR_IO with
 * the reason when deliveries failed or records are missing from the topic. */
c360_rc c360_demo_cdc_produce(const struct c360_retailer *r, const char *brokers,
			      const char *topic, struct c360_demo_cdc_stats *stats, char *err,
			      size_t errlen);

#endif
