/* Single Message Transforms of the Kafka sink, applied to a record's JSON
 * value and key as Kafka Connect applies them before the Couchbase sink
 * sees the record: Debezium ExtractNewRecordState's add.fields and
 * __deleted (the unwrap itself is the sink's), then the chain of
 * cfg->smt (ValueToKey, ExtractField$Key/$Value, InsertField$Value,
 * ReplaceField$Value) in order. Stateless; safe from many threads. */
#ifndef C360_SOURCES_KAFKA_SMT_H
#define C360_SOURCES_KAFKA_SMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/rc.h"
#include "sources/kafka/kconfig.h"

struct c360_kafka_rec_meta {
	const char *topic;
	int32_t partition;
	int64_t offset;
	int64_t timestamp_ms; /* -1 when the record has none */
};

/* Adds ExtractNewRecordState's add.fields (prefix + name with '.' as '_',
 * read from the envelope env: op, ts_ms, ts_us, ts_ns and transaction.X
 * from the envelope, source.X and any other name from its source block;
 * null when absent) and, in the rewrite modes, "__deleted" ("true" when
 * deleted, else "false") to row, an object of doc. */
c360_rc c360_kafka_unwrap_fields(const struct c360_kafka_config *cfg, c360_json_doc *doc, c360_json *row,
				 const c360_json *env, bool deleted);

/* Runs cfg->smt on one record. *value is the record's value in doc (it may
 * be replaced: ExtractField$Value) or NULL for a tombstone, for which only
 * ExtractField$Key runs (ValueToKey keeps the key: a Debezium key struct
 * names the same row). (*key, *klen) is the record key (JSON or raw text) and
 * on return the key after the chain: unchanged, in keybuf (JSON text), or
 * NULL when ExtractField$Key found no such field. C360_ERR_INVALID with the
 * reason ("transform 'k' (ExtractField$Key): the record key is not a JSON
 * object") for a record the chain cannot apply to; C360_ERR_NOMEM. */
c360_rc c360_kafka_smt_apply(const struct c360_kafka_config *cfg, c360_json_doc *doc, c360_json **value,
			     const struct c360_kafka_rec_meta *meta, const char **key, size_t *klen,
			     struct c360_buf *keybuf, char *reason, size_t rlen);

#endif
