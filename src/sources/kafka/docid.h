/* Document ids of the Kafka sink, made as the Couchbase sink makes them,
 * plus the Debezium-aware rules that let a delete find what the create made.
 *
 * The rule (docs/kafka-sink.md, "Document ids"):
 *  1. With couchbase.document.id, the template is rendered over the value
 *     that is stored (the whole value, its payload when schemas are
 *     enabled, or `after` with ExtractNewRecordState). For a Debezium `d`
 *     event the row is in `before`, so a pointer segment "after" is read as
 *     "before" (or the template is rendered over `before` when extracting).
 *     For a tombstone (null value) each placeholder is resolved by its last
 *     pointer segment among the fields of the record key's struct
 *     (`${/payload/after/id}` with key {"id":1029} gives "1029").
 *  2. Else from the record key: a plain string or number is used as it is;
 *     a JSON key struct — Debezium's {"id":1029} or
 *     {"schema":…,"payload":{"id":1029}} — gives its field values joined
 *     by "::" ("1029"; "5::eu" for a composite key), so creates, updates,
 *     deletes and tombstones of one row agree with or without schemas.
 *  3. Else (no key, or a key struct with nested values) topic/partition/offset.
 * Ids are 1..250 bytes of UTF-8. Templates are immutable once compiled and
 * may be rendered from many threads. */
#ifndef C360_SOURCES_KAFKA_DOCID_H
#define C360_SOURCES_KAFKA_DOCID_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/rc.h"

typedef struct c360_kafka_idtmpl c360_kafka_idtmpl;

/* Compiles "customer::${/payload/after/id}" (or a bare pointer "/id", the
 * deprecated 3.x form). C360_ERR_INVALID with the reason in err for an
 * unclosed "${", an empty or malformed pointer, or no placeholder. */
c360_rc c360_kafka_idtmpl_compile(const char *tmpl, c360_kafka_idtmpl **out, char *err, size_t errlen);
void c360_kafka_idtmpl_free(c360_kafka_idtmpl *t); /* accepts NULL */

enum {
	C360_IDT_BEFORE = 1,  /* read the first "after" pointer segment as "before" (d events) */
	C360_IDT_LASTSEG = 2, /* resolve each pointer by its last segment in a flat object (tombstones) */
};

/* Appends the rendered id to out (reset first by the caller). On failure
 * returns C360_ERR_NOT_FOUND (a pointer is absent or null) or
 * C360_ERR_INVALID (not a scalar, empty, longer than 250 bytes) with the
 * reason ("pointer '/payload/after/email' is missing") in reason. */
c360_rc c360_kafka_idtmpl_render(const c360_kafka_idtmpl *t, const c360_json *root, unsigned flags,
				 struct c360_buf *out, char *reason, size_t rlen);
/* Removes the members the template's pointers name from root (which must
 * belong to doc), for couchbase.remove.document.id. Absent members are
 * ignored. flags as for render (C360_IDT_LASTSEG is ignored). */
void c360_kafka_idtmpl_remove(const c360_kafka_idtmpl *t, c360_json *root, unsigned flags);

/* The record key as a document id (rule 2). C360_OK with the id appended
 * to out; C360_ERR_NOT_FOUND when the key gives no id (rule 3 applies);
 * C360_ERR_INVALID when the id would be empty, longer than 250 bytes or
 * not UTF-8 (reason in reason). */
c360_rc c360_kafka_key_id(const char *key, size_t klen, struct c360_buf *out, char *reason, size_t rlen);
/* The flat fields object of a JSON key struct (payload when the key has
 * schema and payload), parsed into a new doc (*doc, free it). NULL fields
 * and C360_ERR_NOT_FOUND when the key is not a JSON object. */
c360_rc c360_kafka_key_fields(const char *key, size_t klen, c360_json_doc **doc, const c360_json **fields);

/* Whether s[0..n) is valid UTF-8 without NUL bytes. */
bool c360_kafka_utf8_ok(const char *s, size_t n);

#endif
