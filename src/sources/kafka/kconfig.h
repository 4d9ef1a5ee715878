/* Kafka sink connector configuration: the Couchbase sink's connector JSON
 * (or its .properties file)
 * (3.x and 4.x key names, Kafka Connect's errors.* keys) plus librdkafka
 * settings passed through, read into one struct from one option table.
 *
 * Accepted input: {"name": N, "config": {...}} (Kafka Connect's POST body)
 * or the bare config object. Values may be JSON strings (as Kafka Connect
 * writes them) or numbers/booleans. Unknown keys produce a warning each
 * (into the caller's warning callback); a bad value is an error naming the
 * key. A parsed config is immutable and owns all its strings. */
#ifndef C360_SOURCES_KAFKA_KCONFIG_H
#define C360_SOURCES_KAFKA_KCONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/json.h"
#include "core/rc.h"

#define C360_KAFKA_MAX_TOPICS 64
#define C360_KAFKA_MAX_PASSTHROUGH 64
#define C360_KAFKA_NAME_MAX 200

enum c360_kafka_tolerance {
	C360_KAFKA_TOLERANCE_NONE = 0, /* stop on the first bad record (Kafka Connect's default) */
	C360_KAFKA_TOLERANCE_ALL,      /* skip bad records (to the dead-letter topic when set) */
};

struct c360_kafka_kv {
	char *key;
	char *value;
};

#define C360_KAFKA_MAX_SMT 16
#define C360_KAFKA_MAX_FIELDS 32

struct c360_kafka_list {
	char *v[C360_KAFKA_MAX_FIELDS];
	int n;
};

/* Single Message Transforms c360 applies after ExtractNewRecordState (which
 * has its own fields below), in the order of `transforms`. */
enum c360_kafka_smt_kind {
	C360_SMT_VALUE_TO_KEY,     /* org.apache.kafka.connect.transforms.ValueToKey: fields */
	C360_SMT_EXTRACT_KEY,      /* ExtractField$Key: field */
	C360_SMT_EXTRACT_VALUE,    /* ExtractField$Value: field */
	C360_SMT_INSERT_VALUE,     /* InsertField$Value: static/topic/partition/offset/timestamp fields */
	C360_SMT_REPLACE_VALUE,    /* ReplaceField$Value: exclude, include, renames */
};

struct c360_kafka_smt {
	enum c360_kafka_smt_kind kind;
	char *alias;
	struct c360_kafka_list fields;  /* ValueToKey fields; ReplaceField exclude */
	struct c360_kafka_list include; /* ReplaceField include (empty = all) */
	struct c360_kafka_list renames; /* ReplaceField renames, "old:new" each */
	char *field;                    /* ExtractField */
	/* InsertField: names (a trailing '!' or '?' removed) and the static value */
	char *static_field, *static_value, *topic_field, *partition_field, *offset_field, *timestamp_field;
	bool timestamp_required;        /* "timestamp.field" ended in '!' */
};

/* What ExtractNewRecordState makes of a Debezium `d` event / a tombstone. */
enum c360_kafka_unwrap_delete {
	C360_UNWRAP_C360 = 0, /* no delete option set: c360's rule, the document is deleted */
	C360_UNWRAP_DROP,     /* dropped (skipped): the document stays */
	C360_UNWRAP_DELETE,   /* deleted */
	C360_UNWRAP_REWRITE,  /* d only: the `before` row stored with __deleted "true" */
};

struct c360_kafka_config {
	char *name;                 /* connector name ("home-delivery-sink") */
	char *connector_class;
	int tasks_max;              /* consumer threads, 1..64 (default 1) */
	char *topics[C360_KAFKA_MAX_TOPICS];
	int ntopics;
	char *topics_regex;         /* topics.regex, used as "^REGEX" subscription */
	char *bucket;               /* connection.bucket / couchbase.bucket */
	char *doc_id;               /* couchbase.document.id template, NULL = none */
	/* per-topic templates (couchbase.topic.to.document.id, couchbase.document.id[TOPIC]);
	 * an empty value means "no template" for that topic */
	struct c360_kafka_kv topic_doc_id[C360_KAFKA_MAX_TOPICS];
	int ntopic_doc_id;
	bool remove_doc_id;         /* couchbase.remove.document.id */
	int64_t expiry_s;           /* couchbase.document.expiration, seconds (0 = never) */
	int64_t retry_timeout_ms;   /* couchbase.retry.timeout (0 = stop on first failure) */
	enum c360_kafka_tolerance tolerance; /* errors.tolerance */
	char *dlq_topic;            /* errors.deadletterqueue.topic.name, NULL = none */
	bool dlq_context_headers;   /* errors.deadletterqueue.context.headers.enable (c360: default true) */
	int64_t dlq_truncate_bytes; /* c360.deadletterqueue.truncate.bytes: key and value cap of a dead letter
				       the topic refused as too large */
	bool log_errors;            /* errors.log.enable */
	bool value_schemas_enable;  /* value.converter.schemas.enable (default true like JsonConverter) */
	char *key_converter;
	char *value_converter;
	bool extract_new_record_state; /* c360.extract.new.record.state or the Debezium unwrap SMT */
	enum c360_kafka_unwrap_delete unwrap_d;         /* delete.handling.mode / delete.tombstone.handling.mode */
	enum c360_kafka_unwrap_delete unwrap_tombstone; /* drop.tombstones / delete.tombstone.handling.mode */
	bool unwrap_rewrite;        /* rewrite modes: every row gets __deleted ("true" for d events) */
	struct c360_kafka_list add_fields; /* ExtractNewRecordState add.fields */
	char *add_fields_prefix;    /* add.fields.prefix (default "__") */
	struct c360_kafka_smt smt[C360_KAFKA_MAX_SMT];
	int nsmt;
	int64_t batch_size;         /* c360.batch.size: records per store transaction */
	int64_t batch_wait_ms;      /* c360.batch.wait.ms */
	bool paused;                /* c360.paused (REST pause state) */
	/* librdkafka settings (bootstrap.servers, group.id, security.protocol,
	 * sasl.*, ssl.*, consumer.override.* stripped, ...) */
	struct c360_kafka_kv rdkafka[C360_KAFKA_MAX_PASSTHROUGH];
	int nrdkafka;
};

/* Called once per unknown or ignored key with a human-readable line. */
typedef void (*c360_kafka_warn_fn)(const char *msg, void *ctx);

/* Parses the connector JSON at root into *out (allocated; free with
 * c360_kafka_config_free). On a bad value returns C360_ERR_INVALID with
 * "config key 'K': reason" in err. warn may be NULL. */
c360_rc c360_kafka_config_parse(const c360_json *root, c360_kafka_warn_fn warn, void *warn_ctx,
				struct c360_kafka_config **out, char *err, size_t errlen);
/* Reads a connector file's text into a JSON doc (*out, free it): JSON when
 * its first non-blank character is '{' or '[', else a Java .properties
 * file (core/props.h) read as a flat object of strings. On bad text
 * C360_ERR_INVALID with "WHAT: not valid JSON: …" or "WHAT: not a valid
 * .properties file: line L, column C: …" in err. */
c360_rc c360_kafka_config_read(const char *what, const char *text, size_t len, c360_json_doc **out, char *err,
			       size_t errlen);
/* The same from JSON or .properties text (`what` names the source in
 * messages, e.g. a file name). */
c360_rc c360_kafka_config_parse_text(const char *what, const char *text, size_t len,
				     c360_kafka_warn_fn warn, void *warn_ctx,
				     struct c360_kafka_config **out, char *err, size_t errlen);
void c360_kafka_config_free(struct c360_kafka_config *cfg); /* accepts NULL */

/* Sets (or replaces) a librdkafka passthrough setting, e.g. from --brokers. */
c360_rc c360_kafka_config_set_rdkafka(struct c360_kafka_config *cfg, const char *key,
				      const char *value);
/* A librdkafka setting's value, or NULL. */
const char *c360_kafka_config_rdkafka(const struct c360_kafka_config *cfg, const char *key);
/* The document id template of topic's records (its per-topic override, or
 * couchbase.document.id), NULL when ids come from the record key. */
const char *c360_kafka_config_doc_id_for(const struct c360_kafka_config *cfg, const char *topic);

/* Prints the option table (name, default, help) as Markdown or text. */
void c360_kafka_config_help(FILE *out, bool markdown);

#endif
