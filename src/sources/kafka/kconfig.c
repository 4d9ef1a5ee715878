/* Kafka sink connector configuration: one option table drives parsing,
 * validation, warnings for unknown keys and the generated documentation. */
#include "sources/kafka/kconfig.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <regex.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/props.h"
#include "store/store.h"
#include "core/banned.h"

enum ktype {
	K_STR,         /* char * */
	K_BOOL,        /* bool */
	K_INT,         /* int (tasks.max) */
	K_INT64,       /* int64_t */
	K_DURATION,    /* int64_t, in the key's unit (seconds or ms) */
	K_TOLERANCE,   /* enum c360_kafka_tolerance */
	K_TOPICS,      /* comma list into topics[] */
	K_TOPICDOCID,  /* "t1=${/a},t2=${/b}" into topic_doc_id[] */
	K_COLLECTION,  /* must be _default._default (no collections in the store) */
	K_TOPICCOLL,   /* "t1=_default._default,...": the same per topic */
	K_ACCEPT,      /* accepted for compatibility; no effect in c360 */
	K_ENUM_ACCEPT, /* accepted, value checked against choices, no effect */
};

struct kopt {
	const char *name;
	enum ktype type;
	size_t off;           /* into struct c360_kafka_config (unused for accept types) */
	const char *def;      /* default, as text (docs) */
	const char *choices;  /* "|"-separated for enums; unit "ms"/"s" for durations */
	int64_t min, max;     /* integers */
	const char *help;
};

#define OFF(f) offsetof(struct c360_kafka_config, f)

/* The connector's option table. Aliases (3.x and 4.x names) share a field;
 * when both appear, the later key in the JSON wins. */
static const struct kopt kopts[] = {
	{"name", K_STR, OFF(name), NULL, NULL, 0, 0, "connector name (also the top-level \"name\")"},
	{"connector.class", K_STR, OFF(connector_class), "com.couchbase.connect.kafka.CouchbaseSinkConnector", NULL, 0, 0,
	 "must be the Couchbase sink (com.couchbase.connect.kafka.CouchbaseSinkConnector)"},
	{"tasks.max", K_INT, OFF(tasks_max), "1", NULL, 1, 64, "consumer threads in the consumer group"},
	{"topics", K_TOPICS, 0, NULL, NULL, 0, 0, "comma-separated topics to consume"},
	{"topics.regex", K_STR, OFF(topics_regex), NULL, NULL, 0, 0, "POSIX regex of topics to consume (instead of topics)"},
	{"connection.bucket", K_STR, OFF(bucket), NULL, NULL, 0, 0, "target bucket (3.x name)"},
	{"couchbase.bucket", K_STR, OFF(bucket), NULL, NULL, 0, 0, "target bucket (4.x name)"},
	{"couchbase.topic.to.collection", K_TOPICCOLL, 0, NULL, NULL, 0, 0,
	 "only topic=_default._default entries: c360's store has buckets, no scopes or collections (other "
	 "values stop the start)"},
	{"couchbase.default.collection", K_COLLECTION, 0, "_default._default", NULL, 0, 0,
	 "only _default._default: c360's store has buckets, no scopes or collections (other values stop the start)"},
	{"couchbase.document.id", K_STR, OFF(doc_id), "", NULL, 0, 0,
	 "document id template with ${/json/pointer} placeholders, e.g. customer::${/payload/after/id}; "
	 "per topic: couchbase.document.id[TOPIC]"},
	{"couchbase.topic.to.document.id", K_TOPICDOCID, 0, NULL, NULL, 0, 0,
	 "per-topic document id templates: topic1=${/id},topic2=order::${/orderId} (override couchbase.document.id)"},
	{"couchbase.remove.document.id", K_BOOL, OFF(remove_doc_id), "false", NULL, 0, 0, "remove the fields used in the id from the stored value"},
	{"couchbase.document.expiration", K_DURATION, OFF(expiry_s), "0", "s", 0, 0,
	 "document expiry: 0 = never, or <n>[ms|s|m|h|d]; 30 days and more are converted to absolute time"},
	{"couchbase.retry.timeout", K_DURATION, OFF(retry_timeout_ms), "0", "ms", 0, 0,
	 "retry failed store writes with backoff for this long, then stop (0 = stop at once)"},
	{"errors.tolerance", K_TOLERANCE, OFF(tolerance), "none", "none|all",
	 0, 0, "none: stop at the first bad record; all: skip it (to the dead-letter topic if set)"},
	{"errors.deadletterqueue.topic.name", K_STR, OFF(dlq_topic), "", NULL, 0, 0, "dead-letter topic for bad records (with reason headers)"},
	{"errors.deadletterqueue.context.headers.enable", K_BOOL, OFF(dlq_context_headers), "true", NULL, 0, 0,
	 "add __connect.errors.* headers (topic, partition, offset, reason) to dead letters"},
	{"errors.deadletterqueue.topic.replication.factor", K_ACCEPT, 0, NULL, NULL, 0, 0, "accepted; the topic must exist or be auto-created"},
	{"errors.log.enable", K_BOOL, OFF(log_errors), "false", NULL, 0, 0, "log every bad record (topic, partition, offset, reason; never the content)"},
	{"errors.log.include.messages", K_ACCEPT, 0, "false", NULL, 0, 0, "accepted; c360 never logs record contents"},
	{"errors.retry.timeout", K_ACCEPT, 0, "0", NULL, 0, 0, "accepted; conversion errors are not retried"},
	{"errors.retry.delay.max.ms", K_ACCEPT, 0, "60000", NULL, 0, 0, "accepted"},
	{"key.converter", K_STR, OFF(key_converter), "org.apache.kafka.connect.storage.StringConverter", NULL, 0, 0,
	 "accepted: StringConverter, JsonConverter or ByteArrayConverter (keys are read as text or JSON either way)"},
	{"key.converter.schemas.enable", K_ACCEPT, 0, NULL, NULL, 0, 0, "accepted; Debezium key structs are recognised with and without schema"},
	{"value.converter", K_STR, OFF(value_converter), "org.apache.kafka.connect.json.JsonConverter", NULL, 0, 0,
	 "JsonConverter (values must be JSON) or StringConverter / ByteArrayConverter (same: c360 stores JSON)"},
	{"value.converter.schemas.enable", K_BOOL, OFF(value_schemas_enable), "true", NULL, 0, 0,
	 "true: values are {schema, payload} envelopes and only the payload is stored (JsonConverter); false: the value is stored as it came"},
	{"c360.extract.new.record.state", K_BOOL, OFF(extract_new_record_state), "false", NULL, 0, 0,
	 "store only the row after the change (Debezium's ExtractNewRecordState); d events still delete"},
	{"c360.deadletterqueue.truncate.bytes", K_INT64, OFF(dlq_truncate_bytes), "65536", NULL, 0, 1000000,
	 "when the dead-letter topic refuses a record as too large, send it again with key and value cut to this many bytes"},
	{"c360.batch.size", K_INT64, OFF(batch_size), "2000", NULL, 1, 100000, "records per store transaction"},
	{"c360.batch.wait.ms", K_INT64, OFF(batch_wait_ms), "20", NULL, 0, 10000, "wait at most this long to fill a batch"},
	{"c360.paused", K_BOOL, OFF(paused), "false", NULL, 0, 0, "start paused (set by PUT /connectors/NAME/pause)"},
	{"connection.cluster_address", K_ACCEPT, 0, NULL, NULL, 0, 0, "accepted; c360 writes to its own store"},
	{"couchbase.seed.nodes", K_ACCEPT, 0, NULL, NULL, 0, 0, "accepted; c360 writes to its own store"},
	{"connection.timeout.ms", K_ACCEPT, 0, NULL, NULL, 0, 0, "accepted"},
	{"couchbase.bootstrap.timeout", K_ACCEPT, 0, NULL, NULL, 0, 0, "accepted"},
	{"connection.username", K_ACCEPT, 0, NULL, NULL, 0, 0, "accepted; the store has no users"},
	{"connection.password", K_ACCEPT, 0, NULL, NULL, 0, 0, "accepted; never logged"},
	{"couchbase.username", K_ACCEPT, 0, NULL, NULL, 0, 0, "accepted"},
	{"couchbase.password", K_ACCEPT, 0, NULL, NULL, 0, 0, "accepted; never logged"},
	{"couchbase.network", K_ACCEPT, 0, NULL, NULL, 0, 0, "accepted"},
	{"connection.ssl.enabled", K_ACCEPT, 0, NULL, NULL, 0, 0, "accepted"},
	{"couchbase.enable.tls", K_ACCEPT, 0, NULL, NULL, 0, 0, "accepted"},
	{"couchbase.durability.persist_to", K_ENUM_ACCEPT, 0, "NONE", "NONE|MASTER|ONE|TWO|THREE|FOUR", 0, 0,
	 "accepted; c360 acknowledges only committed writes (synchronous=FULL by default)"},
	{"couchbase.durability.replicate_to", K_ENUM_ACCEPT, 0, "NONE", "NONE|ONE|TWO|THREE", 0, 0, "accepted (single store)"},
	{"couchbase.persist.to", K_ENUM_ACCEPT, 0, "NONE", "NONE|ACTIVE|ONE|TWO|THREE|FOUR", 0, 0, "accepted"},
	{"couchbase.replicate.to", K_ENUM_ACCEPT, 0, "NONE", "NONE|ONE|TWO|THREE", 0, 0, "accepted"},
	{"couchbase.durability", K_ENUM_ACCEPT, 0, "NONE", "NONE|MAJORITY|MAJORITY_AND_PERSIST_TO_ACTIVE|PERSIST_TO_MAJORITY", 0, 0, "accepted"},
	{"couchbase.document.mode", K_ENUM_ACCEPT, 0, "DOCUMENT", "DOCUMENT", 0, 0, "only DOCUMENT (whole-document upserts) is supported"},
	{"couchbase.sink.handler", K_ENUM_ACCEPT, 0, "com.couchbase.connect.kafka.handler.sink.UpsertSinkHandler",
	 "com.couchbase.connect.kafka.handler.sink.UpsertSinkHandler", 0, 0, "only the upsert handler is supported"},
	{"couchbase.log.redaction", K_ACCEPT, 0, NULL, NULL, 0, 0, "accepted"},
	{"couchbase.log_redaction", K_ACCEPT, 0, NULL, NULL, 0, 0, "accepted"},
	{"couchbase.log.document.lifecycle", K_ACCEPT, 0, NULL, NULL, 0, 0, "accepted"},
	{"couchbase.forceIPv4", K_ACCEPT, 0, NULL, NULL, 0, 0, "accepted"},
	{"transforms", K_ACCEPT, 0, NULL, NULL, 0, 0,
	 "Single Message Transforms: Debezium's ExtractNewRecordState (first) and Kafka's ValueToKey, "
	 "ExtractField$Key/$Value, InsertField$Value, ReplaceField$Value; any other stops the start"},
	{NULL, 0, 0, NULL, NULL, 0, 0, NULL},
};

/* librdkafka settings passed through as they are (exact names or prefixes
 * ending in '.'); "consumer.override.X" passes X. */
static const char *const passthrough[] = {
	"bootstrap.servers", "group.id", "client.id", "security.protocol", "sasl.", "ssl.",
	"enable.ssl.certificate.verification", "session.timeout.ms", "heartbeat.interval.ms",
	"max.poll.interval.ms", "auto.offset.reset", "fetch.", "queued.", "socket.", "reconnect.",
	"statistics.interval.ms", "debug", "partition.assignment.strategy", "isolation.level",
	"metadata.", "topic.metadata.", "broker.address.family", "api.version.", "auto.commit.interval.ms",
	"enable.auto.commit", "enable.auto.offset.store", "group.instance.id", "client.rack",
	"allow.auto.create.topics", "check.crcs", "message.max.bytes", "receive.message.max.bytes",
	NULL,
};

/* Keys Kafka Connect itself defines for a connector (the worker acts on
 * them, not the connector): accepted with a warning that they have no
 * effect in c360 (prefixes end in '.'). */
static const char *const framework[] = {
	"header.converter", "header.converter.", "key.converter.", "value.converter.", "config.action.reload",
	"predicates", "predicates.", "errors.", "consumer.override.", "producer.override.", "admin.override.",
	"topic.creation.", "exactly.once.support", "transaction.boundary", "offsets.storage.topic", NULL,
};

static bool framework_key(const char *key)
{
	for (const char *const *p = framework; *p; p++) {
		size_t n = strlen(*p);
		if ((*p)[n - 1] == '.' ? !strncmp(key, *p, n) : !strcmp(key, *p))
			return true;
	}
	return false;
}

static const char *passthrough_name(const char *key)
{
	const char *k = key;
	if (!strncmp(k, "consumer.override.", 18))
		k += 18;
	for (const char *const *p = passthrough; *p; p++) {
		size_t n = strlen(*p);
		if ((*p)[n - 1] == '.' ? !strncmp(k, *p, n) : !strcmp(k, *p))
			return k;
	}
	return NULL;
}

static void seterr(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static void warnf(c360_kafka_warn_fn fn, void *ctx, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void warnf(c360_kafka_warn_fn fn, void *ctx, const char *fmt, ...)
{
	if (!fn)
		return;
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fn(msg, ctx);
}

/* A config value as text: strings as they are, numbers by their source
 * text, booleans as true/false. NULL for null/objects/arrays. */
static const char *value_text(const c360_json *v, char *tmp, size_t tmplen)
{
	size_t n;
	switch (c360_json_type(v)) {
	case C360_JSON_STRING:
		return c360_json_str(v, &n);
	case C360_JSON_NUMBER: {
		const char *t = c360_json_num_text(v, &n);
		if (n >= tmplen)
			return NULL;
		memcpy(tmp, t, n);
		tmp[n] = 0;
		return tmp;
	}
	case C360_JSON_TRUE:
		return "true";
	case C360_JSON_FALSE:
		return "false";
	default:
		return NULL;
	}
}

static char *trim_dup(const char *s, size_t n)
{
	while (n && isspace((unsigned char)*s))
		s++, n--;
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	return strndup(s, n);
}

bool c360_kafka_parse_duration(const char *s, const char *unit, int64_t *out);
/* "<n>[ms|s|m|h|d]"; a bare number is in `unit` ("s" or "ms"). Result in
 * `unit`. Negative or junk: false. */
bool c360_kafka_parse_duration(const char *s, const char *unit, int64_t *out)
{
	while (isspace((unsigned char)*s))
		s++;
	if (!isdigit((unsigned char)*s))
		return false;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || v > (1ull << 40))
		return false;
	int64_t ms;
	bool unit_ms = !strcmp(unit, "ms");
	if (!*end)
		ms = unit_ms ? (int64_t)v : (int64_t)v * 1000;
	else if (!strcmp(end, "ms"))
		ms = (int64_t)v;
	else if (!strcmp(end, "s"))
		ms = (int64_t)v * 1000;
	else if (!strcmp(end, "m"))
		ms = (int64_t)v * 60000;
	else if (!strcmp(end, "h"))
		ms = (int64_t)v * 3600000;
	else if (!strcmp(end, "d"))
		ms = (int64_t)v * 86400000;
	else
		return false;
	*out = unit_ms ? ms : (ms + 999) / 1000;
	return true;
}

static bool parse_bool(const char *s, bool *out)
{
	if (!strcasecmp(s, "true")) {
		*out = true;
		return true;
	}
	if (!strcasecmp(s, "false")) {
		*out = false;
		return true;
	}
	return false;
}

static bool in_choices(const char *choices, const char *v, bool icase)
{
	size_t vn = strlen(v);
	const char *p = choices;
	while (*p) {
		const char *bar = strchr(p, '|');
		size_t n = bar ? (size_t)(bar - p) : strlen(p);
		if (n == vn && (icase ? !strncasecmp(p, v, n) : !strncmp(p, v, n)))
			return true;
		if (!bar)
			break;
		p = bar + 1;
	}
	return false;
}

static c360_rc add_topics(struct c360_kafka_config *c, const char *key, const char *v, char *err, size_t errlen)
{
	const char *p = v;
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		char *t = trim_dup(p, n);
		if (!t)
			return C360_ERR_NOMEM;
		if (!*t) {
			free(t);
		} else if (c->ntopics >= C360_KAFKA_MAX_TOPICS) {
			free(t);
			seterr(err, errlen, "config key '%s': more than %d topics", key, C360_KAFKA_MAX_TOPICS);
			return C360_ERR_INVALID;
		} else if (strlen(t) > 249) {
			seterr(err, errlen, "config key '%s': topic name longer than 249 characters", key);
			free(t);
			return C360_ERR_INVALID;
		} else {
			c->topics[c->ntopics++] = t;
		}
		if (!comma)
			break;
		p = comma + 1;
	}
	return C360_OK;
}

static bool valid_bucket(const char *b)
{
	size_t n = strlen(b);
	if (n < 1 || n > C360_BUCKET_NAME_MAX || b[0] == '.' || b[0] == '_')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)b[i]) && !strchr("_.%-", b[i]))
			return false;
	return true;
}

/* Sets (or replaces) the document id template of one topic. */
static c360_rc set_topic_doc_id(struct c360_kafka_config *c, const char *key, const char *topic, const char *tmpl,
				char *err, size_t errlen)
{
	if (!*topic || strlen(topic) > 249) {
		seterr(err, errlen, "config key '%s': '%s' is not a topic name", key, topic);
		return C360_ERR_INVALID;
	}
	int i = 0;
	while (i < c->ntopic_doc_id && strcmp(c->topic_doc_id[i].key, topic))
		i++;
	if (i == C360_KAFKA_MAX_TOPICS) {
		seterr(err, errlen, "config key '%s': more than %d per-topic document ids", key, C360_KAFKA_MAX_TOPICS);
		return C360_ERR_INVALID;
	}
	char *v = strdup(tmpl);
	if (!v)
		return C360_ERR_NOMEM;
	if (i == c->ntopic_doc_id) {
		if (!(c->topic_doc_id[i].key = strdup(topic))) {
			free(v);
			return C360_ERR_NOMEM;
		}
		c->ntopic_doc_id++;
	}
	free(c->topic_doc_id[i].value);
	c->topic_doc_id[i].value = v;
	return C360_OK;
}

/* "topic1=VALUE1,topic2=VALUE2": calls fn for each entry (blanks around
 * items trimmed; the first '=' separates, a value may hold more). */
static c360_rc each_topic_entry(struct c360_kafka_config *c, const char *key, const char *v,
				c360_rc (*fn)(struct c360_kafka_config *, const char *, const char *, const char *,
					      char *, size_t),
				char *err, size_t errlen)
{
	const char *p = v;
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		char *item = trim_dup(p, n);
		if (!item)
			return C360_ERR_NOMEM;
		c360_rc rc = C360_OK;
		if (*item) {
			char *eq = strchr(item, '=');
			if (!eq || eq == item || !eq[1]) {
				seterr(err, errlen, "config key '%s': expected topic=value, got '%s'", key, item);
				rc = C360_ERR_INVALID;
			} else {
				*eq = 0;
				rc = fn(c, key, item, eq + 1, err, errlen);
			}
		}
		free(item);
		if (rc)
			return rc;
		if (!comma)
			break;
		p = comma + 1;
	}
	return C360_OK;
}

/* c360's store has buckets, no scopes or collections (yet): a collection
 * other than the default one would put the documents somewhere the user
 * did not ask for, so it stops the start. */
static c360_rc check_collection(const char *key, const char *topic, const char *v, char *err, size_t errlen)
{
	if (!strcmp(v, "_default._default"))
		return C360_OK;
	seterr(err, errlen, "config key '%s': %s%s%scollection '%s' is not supported: c360's store has buckets, no "
	       "scopes or collections; remove the key (documents go to the bucket of couchbase.bucket) or set it to "
	       "_default._default, and run one connector per target bucket", key, topic ? "topic '" : "",
	       topic ? topic : "", topic ? "' to " : "", v);
	return C360_ERR_INVALID;
}

static c360_rc topic_collection(struct c360_kafka_config *c, const char *key, const char *topic, const char *v,
				char *err, size_t errlen)
{
	(void)c;
	return check_collection(key, topic, v, err, errlen);
}

c360_rc c360_kafka_config_set_rdkafka(struct c360_kafka_config *cfg, const char *key, const char *value)
{
	for (int i = 0; i < cfg->nrdkafka; i++) {
		if (!strcmp(cfg->rdkafka[i].key, key)) {
			char *v = strdup(value);
			if (!v)
				return C360_ERR_NOMEM;
			free(cfg->rdkafka[i].value);
			cfg->rdkafka[i].value = v;
			return C360_OK;
		}
	}
	if (cfg->nrdkafka >= C360_KAFKA_MAX_PASSTHROUGH)
		return C360_ERR_LIMIT;
	char *k = strdup(key), *v = strdup(value);
	if (!k || !v) {
		free(k);
		free(v);
		return C360_ERR_NOMEM;
	}
	cfg->rdkafka[cfg->nrdkafka].key = k;
	cfg->rdkafka[cfg->nrdkafka].value = v;
	cfg->nrdkafka++;
	return C360_OK;
}

const char *c360_kafka_config_rdkafka(const struct c360_kafka_config *cfg, const char *key)
{
	for (int i = 0; i < cfg->nrdkafka; i++)
		if (!strcmp(cfg->rdkafka[i].key, key))
			return cfg->rdkafka[i].value;
	return NULL;
}

const char *c360_kafka_config_doc_id_for(const struct c360_kafka_config *cfg, const char *topic)
{
	for (int i = 0; i < cfg->ntopic_doc_id; i++)
		if (!strcmp(cfg->topic_doc_id[i].key, topic))
			return cfg->topic_doc_id[i].value[0] ? cfg->topic_doc_id[i].value : NULL;
	return cfg->doc_id;
}

static void set_defaults(struct c360_kafka_config *c)
{
	c->tasks_max = 1;
	c->tolerance = C360_KAFKA_TOLERANCE_NONE;
	c->dlq_context_headers = true;
	c->value_schemas_enable = true;
	c->batch_size = 2000;
	c->batch_wait_ms = 20;
	c->dlq_truncate_bytes = 65536;
}

static c360_rc apply_opt(struct c360_kafka_config *c, const struct kopt *o, const char *key, const char *v,
			 char *err, size_t errlen)
{
	char *base = (char *)c;
	switch (o->type) {
	case K_STR: {
		char **dst = (char **)(base + o->off);
		char *s = strdup(v);
		if (!s)
			return C360_ERR_NOMEM;
		free(*dst);
		*dst = s;
		return C360_OK;
	}
	case K_BOOL:
		if (!parse_bool(v, (bool *)(base + o->off))) {
			seterr(err, errlen, "config key '%s': expected true or false, got '%s'", key, v);
			return C360_ERR_INVALID;
		}
		return C360_OK;
	case K_INT:
	case K_INT64: {
		char *end;
		errno = 0;
		long long x = strtoll(v, &end, 10);
		if (errno || end == v || *end || x < o->min || x > o->max) {
			seterr(err, errlen, "config key '%s': expected an integer from %" PRId64 " to %" PRId64 ", got '%s'",
			       key, o->min, o->max, v);
			return C360_ERR_INVALID;
		}
		if (o->type == K_INT)
			*(int *)(base + o->off) = (int)x;
		else
			*(int64_t *)(base + o->off) = x;
		return C360_OK;
	}
	case K_DURATION:
		if (!c360_kafka_parse_duration(v, o->choices, (int64_t *)(base + o->off))) {
			seterr(err, errlen, "config key '%s': expected a duration like 0, 500ms, 90s, 5m, 2h or 2d, got '%s'",
			       key, v);
			return C360_ERR_INVALID;
		}
		return C360_OK;
	case K_TOLERANCE:
		if (!strcasecmp(v, "none"))
			c->tolerance = C360_KAFKA_TOLERANCE_NONE;
		else if (!strcasecmp(v, "all"))
			c->tolerance = C360_KAFKA_TOLERANCE_ALL;
		else {
			seterr(err, errlen, "config key '%s': expected none or all, got '%s'", key, v);
			return C360_ERR_INVALID;
		}
		return C360_OK;
	case K_TOPICS:
		return add_topics(c, key, v, err, errlen);
	case K_TOPICDOCID:
		return each_topic_entry(c, key, v, set_topic_doc_id, err, errlen);
	case K_COLLECTION:
		return check_collection(key, NULL, v, err, errlen);
	case K_TOPICCOLL:
		return each_topic_entry(c, key, v, topic_collection, err, errlen);
	case K_ENUM_ACCEPT:
		if (!in_choices(o->choices, v, true)) {
			seterr(err, errlen, "config key '%s': expected one of %s, got '%s'", key, o->choices, v);
			return C360_ERR_INVALID;
		}
		return C360_OK;
	case K_ACCEPT:
		return C360_OK;
	}
	return C360_ERR_INTERNAL;
}

/* "KEY[TOPIC]": the connector 4.x form of a per-topic setting. */
static c360_rc topic_override(struct c360_kafka_config *c, const char *key, size_t klen, const char *v, char *err,
			      size_t errlen)
{
	const char *lb = strchr(key, '[');
	char base[128], topic[256];
	size_t bn = (size_t)(lb - key), tn = klen - bn - 2;
	if (bn >= sizeof base || tn >= sizeof topic || !tn) {
		seterr(err, errlen, "config key '%s': expected KEY[TOPIC]", key);
		return C360_ERR_INVALID;
	}
	memcpy(base, key, bn);
	base[bn] = 0;
	memcpy(topic, lb + 1, tn);
	topic[tn] = 0;
	if (!strcmp(base, "couchbase.document.id"))
		return set_topic_doc_id(c, key, topic, v, err, errlen);
	if (!strcmp(base, "couchbase.default.collection"))
		return check_collection(key, topic, v, err, errlen);
	seterr(err, errlen, "config key '%s': a per-topic '%s' is not supported (c360 takes couchbase.document.id[TOPIC] "
	       "and couchbase.default.collection[TOPIC]=_default._default); set '%s' for the whole connector or run "
	       "one connector for topic '%s'", key, base, base, topic);
	return C360_ERR_INVALID;
}

/* Checks a librdkafka setting by applying it to a scratch configuration, so
 * a bad value fails at start with librdkafka's own reason. */
static c360_rc check_rdkafka(const char *orig_key, const char *key, const char *v, char *err, size_t errlen)
{
	if (!strcmp(key, "enable.auto.offset.store") && strcmp(v, "false")) {
		seterr(err, errlen, "config key '%s': must be false (offsets are stored after the store commits)",
		       orig_key);
		return C360_ERR_INVALID;
	}
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	if (!conf)
		return C360_ERR_NOMEM;
	char e[256];
	rd_kafka_conf_res_t r = rd_kafka_conf_set(conf, key, v, e, sizeof e);
	rd_kafka_conf_destroy(conf);
	if (r != RD_KAFKA_CONF_OK) {
		seterr(err, errlen, "config key '%s': %s", orig_key, e);
		return C360_ERR_INVALID;
	}
	return C360_OK;
}

/* ---- Single Message Transforms ---- */

/* Splits a comma list into l (blank items dropped). */
static c360_rc split_list(const char *key, const char *v, struct c360_kafka_list *l, char *err, size_t errlen)
{
	const char *p = v;
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		char *item = trim_dup(p, n);
		if (!item)
			return C360_ERR_NOMEM;
		if (!*item) {
			free(item);
		} else if (l->n >= C360_KAFKA_MAX_FIELDS) {
			free(item);
			seterr(err, errlen, "config key '%s': more than %d fields", key, C360_KAFKA_MAX_FIELDS);
			return C360_ERR_INVALID;
		} else {
			l->v[l->n++] = item;
		}
		if (!comma)
			break;
		p = comma + 1;
	}
	return C360_OK;
}

static void free_list(struct c360_kafka_list *l)
{
	for (int i = 0; i < l->n; i++)
		free(l->v[i]);
	l->n = 0;
}

static c360_rc dup_to(char **dst, const char *v)
{
	char *d = strdup(v);
	if (!d)
		return C360_ERR_NOMEM;
	free(*dst);
	*dst = d;
	return C360_OK;
}

/* InsertField names: a trailing '!' (required) or '?' (optional) is
 * Kafka's marker, not part of the name. */
static c360_rc insert_name(char **dst, const char *v, bool *required)
{
	size_t n = strlen(v);
	bool req = n && v[n - 1] == '!';
	if (n && (v[n - 1] == '!' || v[n - 1] == '?'))
		n--;
	char *d = strndup(v, n);
	if (!d)
		return C360_ERR_NOMEM;
	free(*dst);
	*dst = d;
	if (required)
		*required = req;
	return C360_OK;
}

enum tkind { T_UNWRAP, T_SMT };

struct ttype {
	const char *name;
	enum tkind tk;
	enum c360_kafka_smt_kind kind;
	const char *options; /* "|opt1|opt2|" accepted besides type */
	const char *required; /* option that must be set, or NULL */
};

static const struct ttype ttypes[] = {
	{"io.debezium.transforms.ExtractNewRecordState", T_UNWRAP, 0,
	 "|drop.tombstones|delete.handling.mode|delete.tombstone.handling.mode|add.fields|add.fields.prefix|", NULL},
	{"io.debezium.transforms.UnwrapFromEnvelope", T_UNWRAP, 0,
	 "|drop.tombstones|delete.handling.mode|delete.tombstone.handling.mode|add.fields|add.fields.prefix|", NULL},
	{"org.apache.kafka.connect.transforms.ValueToKey", T_SMT, C360_SMT_VALUE_TO_KEY, "|fields|", "fields"},
	{"org.apache.kafka.connect.transforms.ExtractField$Key", T_SMT, C360_SMT_EXTRACT_KEY, "|field|", "field"},
	{"org.apache.kafka.connect.transforms.ExtractField$Value", T_SMT, C360_SMT_EXTRACT_VALUE, "|field|", "field"},
	{"org.apache.kafka.connect.transforms.InsertField$Value", T_SMT, C360_SMT_INSERT_VALUE,
	 "|static.field|static.value|topic.field|partition.field|offset.field|timestamp.field|", NULL},
	{"org.apache.kafka.connect.transforms.ReplaceField$Value", T_SMT, C360_SMT_REPLACE_VALUE,
	 "|exclude|include|renames|blacklist|whitelist|", NULL},
	{NULL, 0, 0, NULL, NULL},
};

static c360_rc unwrap_option(struct c360_kafka_config *c, const char *k, const char *opt, const char *v,
			     bool *legacy, bool *modern, char *err, size_t errlen)
{
	if (!strcmp(opt, "drop.tombstones")) {
		bool b;
		if (!parse_bool(v, &b)) {
			seterr(err, errlen, "config key '%s': expected true or false, got '%s'", k, v);
			return C360_ERR_INVALID;
		}
		c->unwrap_tombstone = b ? C360_UNWRAP_DROP : C360_UNWRAP_DELETE;
		*legacy = true;
	} else if (!strcmp(opt, "delete.handling.mode")) {
		if (!strcmp(v, "drop"))
			c->unwrap_d = C360_UNWRAP_DROP;
		else if (!strcmp(v, "none"))
			c->unwrap_d = C360_UNWRAP_DELETE;
		else if (!strcmp(v, "rewrite"))
			c->unwrap_d = C360_UNWRAP_REWRITE;
		else {
			seterr(err, errlen, "config key '%s': expected drop, rewrite or none, got '%s'", k, v);
			return C360_ERR_INVALID;
		}
		c->unwrap_rewrite = c->unwrap_d == C360_UNWRAP_REWRITE;
		*legacy = true;
	} else if (!strcmp(opt, "delete.tombstone.handling.mode")) {
		static const struct {
			const char *mode;
			enum c360_kafka_unwrap_delete d, t;
		} modes[] = {
			{"drop", C360_UNWRAP_DROP, C360_UNWRAP_DROP},
			{"tombstone", C360_UNWRAP_DELETE, C360_UNWRAP_DELETE},
			{"rewrite", C360_UNWRAP_REWRITE, C360_UNWRAP_DROP},
			{"rewrite-with-tombstone", C360_UNWRAP_REWRITE, C360_UNWRAP_DELETE},
			{"delete", C360_UNWRAP_DELETE, C360_UNWRAP_DROP},
		};
		size_t i = 0;
		while (i < sizeof modes / sizeof modes[0] && strcmp(modes[i].mode, v))
			i++;
		if (i == sizeof modes / sizeof modes[0]) {
			seterr(err, errlen, "config key '%s': expected drop, tombstone, rewrite, rewrite-with-tombstone or "
			       "delete, got '%s'", k, v);
			return C360_ERR_INVALID;
		}
		c->unwrap_d = modes[i].d;
		c->unwrap_tombstone = modes[i].t;
		c->unwrap_rewrite = c->unwrap_d == C360_UNWRAP_REWRITE;
		*modern = true;
	} else if (!strcmp(opt, "add.fields")) {
		free_list(&c->add_fields);
		return split_list(k, v, &c->add_fields, err, errlen);
	} else if (!strcmp(opt, "add.fields.prefix")) {
		return dup_to(&c->add_fields_prefix, v);
	}
	return C360_OK;
}

static c360_rc smt_option(struct c360_kafka_smt *t, const char *k, const char *opt, const char *v, char *err,
			  size_t errlen)
{
	if (!strcmp(opt, "fields") || !strcmp(opt, "exclude") || !strcmp(opt, "blacklist")) {
		free_list(&t->fields);
		return split_list(k, v, &t->fields, err, errlen);
	}
	if (!strcmp(opt, "include") || !strcmp(opt, "whitelist")) {
		free_list(&t->include);
		return split_list(k, v, &t->include, err, errlen);
	}
	if (!strcmp(opt, "renames")) {
		free_list(&t->renames);
		c360_rc rc = split_list(k, v, &t->renames, err, errlen);
		for (int i = 0; !rc && i < t->renames.n; i++) {
			const char *colon = strchr(t->renames.v[i], ':');
			if (!colon || colon == t->renames.v[i] || !colon[1] || strchr(colon + 1, ':')) {
				seterr(err, errlen, "config key '%s': expected old:new pairs, got '%s'", k, t->renames.v[i]);
				rc = C360_ERR_INVALID;
			}
		}
		return rc;
	}
	if (!strcmp(opt, "field"))
		return dup_to(&t->field, v);
	if (!strcmp(opt, "static.field"))
		return insert_name(&t->static_field, v, NULL);
	if (!strcmp(opt, "static.value"))
		return dup_to(&t->static_value, v);
	if (!strcmp(opt, "topic.field"))
		return insert_name(&t->topic_field, v, NULL);
	if (!strcmp(opt, "partition.field"))
		return insert_name(&t->partition_field, v, NULL);
	if (!strcmp(opt, "offset.field"))
		return insert_name(&t->offset_field, v, NULL);
	if (!strcmp(opt, "timestamp.field"))
		return insert_name(&t->timestamp_field, v, &t->timestamp_required);
	return C360_OK;
}

/* "transforms": "unwrap,key" + "transforms.ALIAS.type" and options. Every
 * transform c360 does not apply, and every option it does not know, stops
 * the start naming it: a chain run in part gives other documents or ids
 * than the connector would. ExtractNewRecordState must come first (c360
 * unwraps before it applies the others). */
static c360_rc apply_transforms(struct c360_kafka_config *c, const c360_json *cfg, char *err, size_t errlen)
{
	const char *list = c360_json_str(c360_json_get(cfg, "transforms"), NULL);
	struct c360_kafka_list aliases = {.n = 0};
	const struct ttype *types[C360_KAFKA_MAX_FIELDS] = {0};
	c360_rc rc = C360_OK;
	if (list && (rc = split_list("transforms", list, &aliases, err, errlen)))
		goto out;
	for (int i = 0; i < aliases.n; i++) {
		for (int j = 0; j < i; j++)
			if (!strcmp(aliases.v[i], aliases.v[j])) {
				seterr(err, errlen, "config key 'transforms': '%s' is listed twice", aliases.v[i]);
				rc = C360_ERR_INVALID;
				goto out;
			}
		char k[300];
		snprintf(k, sizeof k, "transforms.%s.type", aliases.v[i]);
		const char *type = c360_json_str(c360_json_get(cfg, k), NULL);
		if (!type) {
			seterr(err, errlen, "config key '%s': missing (transform '%s' has no type)", k, aliases.v[i]);
			rc = C360_ERR_INVALID;
			goto out;
		}
		const struct ttype *tt = ttypes;
		while (tt->name && strcmp(tt->name, type))
			tt++;
		if (!tt->name) {
			seterr(err, errlen, "config key '%s': transform '%s' is not supported by c360 (supported: Debezium's "
			       "ExtractNewRecordState; Kafka's ValueToKey, ExtractField$Key, ExtractField$Value, "
			       "InsertField$Value, ReplaceField$Value); remove it from 'transforms' or run it before c360",
			       k, type);
			rc = C360_ERR_INVALID;
			goto out;
		}
		if (tt->tk == T_UNWRAP && i > 0) {
			seterr(err, errlen, "config key 'transforms': '%s' (ExtractNewRecordState) must come first: c360 "
			       "unwraps the Debezium event before the other transforms", aliases.v[i]);
			rc = C360_ERR_INVALID;
			goto out;
		}
		if (tt->tk == T_SMT && c->nsmt >= C360_KAFKA_MAX_SMT) {
			seterr(err, errlen, "config key 'transforms': more than %d transforms", C360_KAFKA_MAX_SMT);
			rc = C360_ERR_INVALID;
			goto out;
		}
		types[i] = tt;
		if (tt->tk == T_UNWRAP) {
			c->extract_new_record_state = true;
		} else {
			struct c360_kafka_smt *t = &c->smt[c->nsmt++];
			t->kind = tt->kind;
			if (!(t->alias = strdup(aliases.v[i]))) {
				rc = C360_ERR_NOMEM;
				goto out;
			}
		}
	}
	/* every transforms.ALIAS.OPTION, in file order */
	bool legacy = false, modern = false;
	int smt_i = 0;
	for (c360_json *m = c360_json_first(cfg); m; m = c360_json_next(m)) {
		const char *key = c360_json_key(m, NULL);
		if (strncmp(key, "transforms.", 11))
			continue;
		const char *rest = key + 11;
		/* the longest alias that prefixes the key (aliases may hold dots) */
		int i = aliases.n;
		size_t an = 0;
		for (int j = 0; j < aliases.n; j++) {
			size_t n = strlen(aliases.v[j]);
			if (n > an && !strncmp(rest, aliases.v[j], n) && rest[n] == '.') {
				i = j;
				an = n;
			}
		}
		if (i == aliases.n) {
			seterr(err, errlen, "config key '%s': no transform of that name is in 'transforms' ('%s')", key,
			       list ? list : "");
			rc = C360_ERR_INVALID;
			goto out;
		}
		const char *opt = rest + an + 1;
		if (!strcmp(opt, "type"))
			continue;
		char optbar[200];
		snprintf(optbar, sizeof optbar, "|%s|", opt);
		if (strchr(opt, '|') || !strstr(types[i]->options, optbar)) {
			seterr(err, errlen, "config key '%s': option '%s' of %s is not supported by c360 (supported: %s)", key,
			       opt, types[i]->name, types[i]->options);
			rc = C360_ERR_INVALID;
			goto out;
		}
		char tmp[64];
		const char *v = value_text(m, tmp, sizeof tmp);
		if (!v) {
			seterr(err, errlen, "config key '%s': expected a string", key);
			rc = C360_ERR_INVALID;
			goto out;
		}
		if (types[i]->tk == T_UNWRAP) {
			rc = unwrap_option(c, key, opt, v, &legacy, &modern, err, errlen);
		} else {
			/* the smt of alias i: aliases after the unwrap map in order */
			smt_i = i - (types[0] && types[0]->tk == T_UNWRAP ? 1 : 0);
			rc = smt_option(&c->smt[smt_i], key, opt, v, err, errlen);
		}
		if (rc)
			goto out;
	}
	if (legacy && modern) {
		seterr(err, errlen, "config key 'transforms.%s.delete.tombstone.handling.mode': cannot be used together "
		       "with drop.tombstones or delete.handling.mode (Debezium 2.x replaced them); keep one form",
		       aliases.v[0]);
		rc = C360_ERR_INVALID;
		goto out;
	}
	for (int i = 0; i < aliases.n; i++) {
		if (!types[i]->required)
			continue;
		char k[300];
		snprintf(k, sizeof k, "transforms.%s.%s", aliases.v[i], types[i]->required);
		const char *v = c360_json_str(c360_json_get(cfg, k), NULL);
		if (!v || !*v) {
			seterr(err, errlen, "config key '%s': missing (%s needs it)", k, types[i]->name);
			rc = C360_ERR_INVALID;
			goto out;
		}
	}
	for (int i = 0; i < c->nsmt; i++) {
		struct c360_kafka_smt *t = &c->smt[i];
		if ((t->static_field && !t->static_value) || (!t->static_field && t->static_value)) {
			seterr(err, errlen, "config key 'transforms.%s.static.%s': missing (static.field and static.value go "
			       "together)", t->alias, t->static_field ? "value" : "field");
			rc = C360_ERR_INVALID;
			goto out;
		}
	}
out:
	free_list(&aliases);
	return rc;
}

c360_rc c360_kafka_config_parse(const c360_json *root, c360_kafka_warn_fn warn, void *warn_ctx,
				struct c360_kafka_config **out, char *err, size_t errlen)
{
	*out = NULL;
	if (!c360_json_is_object(root)) {
		seterr(err, errlen, "connector config must be a JSON object");
		return C360_ERR_INVALID;
	}
	struct c360_kafka_config *c = calloc(1, sizeof *c);
	if (!c)
		return C360_ERR_NOMEM;
	set_defaults(c);
	c360_rc rc = C360_OK;
	const c360_json *cfg = root;
	const c360_json *jconfig = c360_json_get(root, "config");
	if (jconfig) {
		if (!c360_json_is_object(jconfig)) {
			seterr(err, errlen, "config key 'config': expected an object");
			rc = C360_ERR_INVALID;
			goto out;
		}
		cfg = jconfig;
		const c360_json *jname = c360_json_get(root, "name");
		if (jname) {
			const char *nm = c360_json_str(jname, NULL);
			if (!nm) {
				seterr(err, errlen, "config key 'name': expected a string");
				rc = C360_ERR_INVALID;
				goto out;
			}
			c->name = strdup(nm);
			if (!c->name) {
				rc = C360_ERR_NOMEM;
				goto out;
			}
		}
		for (c360_json *m = c360_json_first(root); m; m = c360_json_next(m)) {
			const char *k = c360_json_key(m, NULL);
			if (strcmp(k, "name") && strcmp(k, "config"))
				warnf(warn, warn_ctx, "unknown top-level key '%s' ignored", k);
		}
	}

	for (c360_json *m = c360_json_first(cfg); m; m = c360_json_next(m)) {
		size_t klen;
		const char *key = c360_json_key(m, &klen);
		char tmp[64];
		const char *v = value_text(m, tmp, sizeof tmp);
		if (!v) {
			seterr(err, errlen, "config key '%s': expected a string, number or boolean, got %s", key,
			       c360_json_type_name(c360_json_type(m)));
			rc = C360_ERR_INVALID;
			goto out;
		}
		if (!strncmp(key, "transforms.", 11))
			continue; /* handled by apply_transforms */
		if (klen > 2 && key[klen - 1] == ']' && strchr(key, '[')) {
			rc = topic_override(c, key, klen, v, err, errlen);
			if (rc)
				goto out;
			continue;
		}
		const struct kopt *o = kopts;
		for (; o->name; o++)
			if (!strcmp(o->name, key))
				break;
		if (o->name) {
			if (jconfig && !strcmp(key, "name") && c->name)
				continue; /* the top-level name wins */
			rc = apply_opt(c, o, key, v, err, errlen);
			if (rc)
				goto out;
			continue;
		}
		const char *rk = passthrough_name(key);
		if (rk) {
			rc = check_rdkafka(key, rk, v, err, errlen);
			if (!rc)
				rc = c360_kafka_config_set_rdkafka(c, rk, v);
			if (rc)
				goto out;
			continue;
		}
		if (!strncmp(key, "couchbase.", 10) || !strncmp(key, "c360.", 5)) {
			seterr(err, errlen, "config key '%s': not a Couchbase sink option c360 knows; remove it or check its "
			       "spelling (c360 kafka-sink --config-help lists them)", key);
			rc = C360_ERR_INVALID;
			goto out;
		}
		if (framework_key(key)) {
			warnf(warn, warn_ctx, "config key '%s': a Kafka Connect framework setting, accepted; it has no "
			      "effect in c360", key);
			continue;
		}
		warnf(warn, warn_ctx, "unknown config key '%s' ignored (not a Couchbase sink, Kafka Connect or "
		      "librdkafka setting c360 knows: check its spelling)", key);
	}
	rc = apply_transforms(c, cfg, err, errlen);
	if (rc)
		goto out;

	/* cross-field checks */
	if (c->connector_class && strcmp(c->connector_class, "com.couchbase.connect.kafka.CouchbaseSinkConnector") &&
	    strcmp(c->connector_class, "CouchbaseSinkConnector")) {
		seterr(err, errlen, "config key 'connector.class': '%s' is not supported (expected "
		       "com.couchbase.connect.kafka.CouchbaseSinkConnector)", c->connector_class);
		rc = C360_ERR_INVALID;
		goto out;
	}
	if (!c->name || !*c->name) {
		seterr(err, errlen, "config key 'name': missing");
		rc = C360_ERR_INVALID;
		goto out;
	}
	if (strlen(c->name) > C360_KAFKA_NAME_MAX) {
		seterr(err, errlen, "config key 'name': longer than %d characters", C360_KAFKA_NAME_MAX);
		rc = C360_ERR_INVALID;
		goto out;
	}
	if (!c->ntopics && !c->topics_regex) {
		seterr(err, errlen, "config key 'topics': missing (or set 'topics.regex')");
		rc = C360_ERR_INVALID;
		goto out;
	}
	if (c->ntopics && c->topics_regex) {
		seterr(err, errlen, "config key 'topics.regex': cannot be used together with 'topics'");
		rc = C360_ERR_INVALID;
		goto out;
	}
	if (c->topics_regex) {
		regex_t re;
		if (regcomp(&re, c->topics_regex, REG_EXTENDED | REG_NOSUB)) {
			seterr(err, errlen, "config key 'topics.regex': '%s' is not a valid regular expression",
			       c->topics_regex);
			rc = C360_ERR_INVALID;
			goto out;
		}
		regfree(&re);
	}
	if (!c->bucket) {
		seterr(err, errlen, "config key 'connection.bucket': missing (or 'couchbase.bucket')");
		rc = C360_ERR_INVALID;
		goto out;
	}
	if (!valid_bucket(c->bucket)) {
		seterr(err, errlen, "config key 'connection.bucket': '%s' is not a valid bucket name", c->bucket);
		rc = C360_ERR_INVALID;
		goto out;
	}
	for (int i = 0; c->ntopics && i < c->ntopic_doc_id; i++) {
		int j = 0;
		while (j < c->ntopics && strcmp(c->topics[j], c->topic_doc_id[i].key))
			j++;
		if (j == c->ntopics) {
			seterr(err, errlen, "config key 'couchbase.topic.to.document.id': topic '%s' is not in 'topics'; "
			       "its document id would never be used (check the topic name)", c->topic_doc_id[i].key);
			rc = C360_ERR_INVALID;
			goto out;
		}
	}
	if (c->doc_id && !*c->doc_id) {
		free(c->doc_id);
		c->doc_id = NULL;
	}
	if (c->dlq_topic && !*c->dlq_topic) {
		free(c->dlq_topic);
		c->dlq_topic = NULL;
	}
	if (c->dlq_topic && c->tolerance == C360_KAFKA_TOLERANCE_NONE)
		warnf(warn, warn_ctx, "config key 'errors.deadletterqueue.topic.name': used only with "
		      "errors.tolerance=all (Kafka Connect rule); with 'none' the sink stops at a bad record");
	for (const char *const *k = (const char *const[]){"key.converter", "value.converter", NULL}; *k; k++) {
		const char *conv = !strcmp(*k, "key.converter") ? c->key_converter : c->value_converter;
		if (conv && !strstr(conv, "StringConverter") && !strstr(conv, "JsonConverter") &&
		    !strstr(conv, "ByteArrayConverter")) {
			seterr(err, errlen, "config key '%s': '%s' is not supported (StringConverter, JsonConverter, "
			       "ByteArrayConverter)", *k, conv);
			rc = C360_ERR_INVALID;
			goto out;
		}
	}
	/* schemas.enable only means something with JsonConverter */
	if (c->value_converter && !strstr(c->value_converter, "JsonConverter"))
		c->value_schemas_enable = false;
	if (!c360_kafka_config_rdkafka(c, "bootstrap.servers"))
		rc = c360_kafka_config_set_rdkafka(c, "bootstrap.servers", "localhost:9092");
	if (!rc && !c360_kafka_config_rdkafka(c, "group.id")) {
		char g[C360_KAFKA_NAME_MAX + 16];
		snprintf(g, sizeof g, "connect-%s", c->name); /* Kafka Connect's sink group name */
		rc = c360_kafka_config_set_rdkafka(c, "group.id", g);
	}
out:
	if (rc) {
		if (rc == C360_ERR_NOMEM)
			seterr(err, errlen, "out of memory");
		c360_kafka_config_free(c);
		return rc;
	}
	*out = c;
	return C360_OK;
}

struct props_ctx {
	c360_json_doc *doc;
	c360_json *obj;
};

static c360_rc props_entry(const char *key, size_t klen, const char *value, size_t vlen, unsigned line, void *ctx)
{
	(void)line;
	struct props_ctx *p = ctx;
	c360_json *v = c360_json_new_str(p->doc, value, vlen);
	if (!v)
		return C360_ERR_NOMEM;
	return c360_json_set(p->doc, p->obj, key, klen, v);
}

/* A Java .properties file (the connector's quickstart files) as the flat
 * config object, every value a string as Kafka Connect reads them. */
static c360_rc props_to_json(const char *what, const char *text, size_t len, c360_json_doc **out, char *err,
			     size_t errlen)
{
	struct props_ctx p = {.doc = c360_json_doc_new()};
	if (!p.doc || !(p.obj = c360_json_new_object(p.doc))) {
		c360_json_doc_free(p.doc);
		return C360_ERR_NOMEM;
	}
	c360_json_doc_set_root(p.doc, p.obj);
	struct c360_props_error pe;
	c360_rc rc = c360_props_parse(text, len, props_entry, &p, &pe);
	if (rc == C360_ERR_INVALID) {
		char where[160];
		c360_props_error_str(&pe, where, sizeof where);
		seterr(err, errlen, "%s: not a valid .properties file: %s", what, where);
	}
	if (rc) {
		c360_json_doc_free(p.doc);
		return rc;
	}
	*out = p.doc;
	return C360_OK;
}

c360_rc c360_kafka_config_read(const char *what, const char *text, size_t len, c360_json_doc **out, char *err,
			       size_t errlen)
{
	*out = NULL;
	/* JSON when the text starts (after blanks and a BOM) with '{' or '[',
	 * else Java .properties */
	size_t i = len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3) ? 3 : 0;
	while (i < len && text[i] && strchr(" \t\r\n\f", text[i]))
		i++;
	if (i < len && (text[i] == '{' || text[i] == '[')) {
		struct c360_json_error je;
		struct c360_json_parse_opts po = {.max_size = 1u << 20};
		c360_rc rc = c360_json_parse(text, len, &po, out, &je);
		if (rc) {
			char where[160];
			c360_json_error_str(&je, where, sizeof where);
			seterr(err, errlen, "%s: not valid JSON: %s", what, where);
		}
		return rc;
	}
	if (len > 1u << 20) {
		seterr(err, errlen, "%s: larger than 1 MiB", what);
		return C360_ERR_TOO_BIG;
	}
	c360_rc rc = props_to_json(what, text, len, out, err, errlen);
	if (rc == C360_ERR_NOMEM)
		seterr(err, errlen, "out of memory");
	return rc;
}

c360_rc c360_kafka_config_parse_text(const char *what, const char *text, size_t len, c360_kafka_warn_fn warn,
				     void *warn_ctx, struct c360_kafka_config **out, char *err, size_t errlen)
{
	*out = NULL;
	c360_json_doc *doc = NULL;
	c360_rc rc = c360_kafka_config_read(what, text, len, &doc, err, errlen);
	if (rc)
		return rc;
	rc = c360_kafka_config_parse(c360_json_doc_root(doc), warn, warn_ctx, out, err, errlen);
	c360_json_doc_free(doc);
	return rc;
}

void c360_kafka_config_free(struct c360_kafka_config *c)
{
	if (!c)
		return;
	free(c->name);
	free(c->connector_class);
	for (int i = 0; i < c->ntopics; i++)
		free(c->topics[i]);
	free(c->topics_regex);
	free(c->bucket);
	for (int i = 0; i < c->ntopic_doc_id; i++) {
		free(c->topic_doc_id[i].key);
		free(c->topic_doc_id[i].value);
	}
	free(c->doc_id);
	free(c->dlq_topic);
	free_list(&c->add_fields);
	free(c->add_fields_prefix);
	for (int i = 0; i < c->nsmt; i++) {
		struct c360_kafka_smt *t = &c->smt[i];
		free(t->alias);
		free_list(&t->fields);
		free_list(&t->include);
		free_list(&t->renames);
		free(t->field);
		free(t->static_field);
		free(t->static_value);
		free(t->topic_field);
		free(t->partition_field);
		free(t->offset_field);
		free(t->timestamp_field);
	}
	free(c->key_converter);
	free(c->value_converter);
	for (int i = 0; i < c->nrdkafka; i++) {
		free(c->rdkafka[i].key);
		free(c->rdkafka[i].value);
	}
	free(c);
}

void c360_kafka_config_help(FILE *out, bool markdown)
{
	if (markdown)
		fprintf(out, "| Key | Default | Meaning |\n|---|---|---|\n");
	for (const struct kopt *o = kopts; o->name; o++) {
		bool d = o->def && *o->def;
		if (markdown)
			fprintf(out, "| `%s` | %s%s%s | %s |\n", o->name, d ? "`" : "", d ? o->def : "", d ? "`" : "",
				o->help);
		else
			fprintf(out, "  %-46s %s%s%s%s\n", o->name, o->help, d ? " (default: " : "", d ? o->def : "",
				d ? ")" : "");
	}
	fprintf(out, "\n%slibrdkafka settings passed through: ", markdown ? "" : "  ");
	for (const char *const *p = passthrough; *p; p++)
		fprintf(out, "%s%s%s%s%s", markdown ? "`" : "", *p, (*p)[strlen(*p) - 1] == '.' ? "*" : "",
			markdown ? "`" : "", p[1] ? ", " : "");
	fprintf(out, "; any of them also as consumer.override.NAME.\n");
}
