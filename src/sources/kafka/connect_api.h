/* A Kafka-Connect-compatible REST API for c360's Kafka sinks:
 *   POST   /connectors                 {"name": N, "config": {...}} (the seed's body)
 *   GET    /connectors                 ["N", ...]
 *   GET    /connectors/{name}          {"name", "config", "tasks", "type"}
 *   GET    /connectors/{name}/status   {"name", "connector": {"state", "worker_id"}, "tasks": [...], "type"}
 *   PUT    /connectors/{name}/pause    202
 *   PUT    /connectors/{name}/resume   202
 *   DELETE /connectors/{name}          204
 * Errors use Kafka Connect's body {"error_code": N, "message": "..."}.
 * Connectors are kept in C360_META_BUCKET as "connector::NAME" documents
 * ({"name", "config", "paused"}) and started again by
 * c360_kafka_connect_restore() at start-up. Thread-safe. */
#ifndef C360_SOURCES_KAFKA_CONNECT_API_H
#define C360_SOURCES_KAFKA_CONNECT_API_H

#include <stddef.h>

#include "core/rc.h"
#include "serve/http.h"
#include "sources/kafka/sink.h"
#include "store/store.h"

typedef struct c360_kafka_connect c360_kafka_connect;

/* A connector manager over st (borrowed until free). default_brokers (may
 * be NULL; copied) is used for connectors whose config has no
 * bootstrap.servers (Kafka Connect keeps that in the worker config). */
c360_rc c360_kafka_connect_new(c360_store *st, const char *default_brokers, c360_kafka_connect **out);
/* Starts every connector kept in the store; a connector whose config no
 * longer parses is logged and left stopped. *n (optional) counts them. */
c360_rc c360_kafka_connect_restore(c360_kafka_connect *kc, size_t *n);
/* Registers the routes above on h (admin scope). kc is borrowed. */
c360_rc c360_kafka_connect_routes(c360_http *h, c360_kafka_connect *kc);
/* Stops every running connector (draining and committing), then frees.
 * Accepts NULL. */
void c360_kafka_connect_free(c360_kafka_connect *kc);

#endif
