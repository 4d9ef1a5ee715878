/* Kafka sink: connector JSON parsing (the seed's body, 3.x/4.x names, bad
 * values naming the key, unknown-key warnings) and document id rules. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "sources/kafka/docid.h"
#include "sources/kafka/kconfig.h"
#include "test.h"
#include "core/banned.h"

/* The seed's exact body, tabs included. */
static const char seed_sink[] =
	"{\n"
	"  \"name\": \"home-delivery-sink\",\n"
	"  \"config\": {\n"
	"    \"connector.class\": \"com.couchbase.connect.kafka.CouchbaseSinkConnector\",\n"
	"    \"tasks.max\": \"2\",\n"
	"\t\"topics\" : \"dbserver1.inventory.customers\",\n"
	"\t\"connection.cluster_address\" : \"db\",\n"
	"\t\"connection.timeout.ms\" : \"2000\",\n"
	"\t\"connection.bucket\" : \"staging\",\n"
	"\t\"connection.username\" : \"Administrator\",\n"
	"\t\"connection.password\" : \"password\",\n"
	"\t\"couchbase.durability.persist_to\" : \"NONE\",\n"
	"\t\"couchbase.durability.replicate_to\" : \"NONE\",\n"
	"\t\"key.converter\" : \"org.apache.kafka.connect.storage.StringConverter\",\n"
	"\t\"value.converter\" : \"org.apache.kafka.connect.json.JsonConverter\",\n"
	"\t\"value.converter.schemas.enable\" : \"false\"\n"
	"  }\n"
	"}\n";

static int nwarn;
static char lastwarn[512];
static void warn(const char *msg, void *ctx)
{
	(void)ctx;
	nwarn++;
	snprintf(lastwarn, sizeof lastwarn, "%s", msg);
}

static struct c360_kafka_config *parse(const char *text, char *err, size_t errlen)
{
	struct c360_kafka_config *c = NULL;
	nwarn = 0;
	lastwarn[0] = 0;
	c360_kafka_config_parse_text("test", text, strlen(text), warn, NULL, &c, err, errlen);
	return c;
}

TEST(seed_body_parses_without_warnings)
{
	char err[256] = "";
	struct c360_kafka_config *c = parse(seed_sink, err, sizeof err);
	REQUIRE(c);
	CHECK_EQ_STR(c->name, "home-delivery-sink");
	CHECK_EQ_INT(c->tasks_max, 2);
	CHECK_EQ_INT(c->ntopics, 1);
	CHECK_EQ_STR(c->topics[0], "dbserver1.inventory.customers");
	CHECK_EQ_STR(c->bucket, "staging");
	CHECK(!c->value_schemas_enable);
	CHECK(c->tolerance == C360_KAFKA_TOLERANCE_NONE);
	CHECK(c->doc_id == NULL);
	CHECK_EQ_STR(c360_kafka_config_rdkafka(c, "group.id"), "connect-home-delivery-sink");
	CHECK_EQ_STR(c360_kafka_config_rdkafka(c, "bootstrap.servers"), "localhost:9092");
	CHECK_EQ_INT(nwarn, 0);
	c360_kafka_config_free(c);
}

TEST(v4_names_and_passthrough)
{
	char err[256] = "";
	struct c360_kafka_config *c = parse(
		"{\"name\":\"x\",\"topics\":\"a, b\",\"couchbase.bucket\":\"staging\","
		"\"couchbase.document.id\":\"customer::${/payload/after/id}\",\"couchbase.document.expiration\":\"2d\","
		"\"couchbase.retry.timeout\":\"30s\",\"errors.tolerance\":\"all\","
		"\"errors.deadletterqueue.topic.name\":\"dlq\",\"bootstrap.servers\":\"127.0.0.1:1\","
		"\"consumer.override.auto.offset.reset\":\"earliest\",\"tasks.max\":3,"
		"\"couchbase.topic.to.collection\":\"a=_default._default\",\"couchbase.default.collection\":\"_default._default\","
		"\"transforms\":\"unwrap\",\"transforms.unwrap.type\":\"io.debezium.transforms.ExtractNewRecordState\","
		"\"sasl.mechanism\":\"PLAIN\"}",
		err, sizeof err);
	REQUIRE(c);
	CHECK_EQ_INT(c->ntopics, 2);
	CHECK_EQ_STR(c->topics[1], "b");
	CHECK_EQ_STR(c->doc_id, "customer::${/payload/after/id}");
	CHECK_EQ_INT(c->expiry_s, 2 * 86400);
	CHECK_EQ_INT(c->retry_timeout_ms, 30000);
	CHECK(c->tolerance == C360_KAFKA_TOLERANCE_ALL);
	CHECK_EQ_STR(c->dlq_topic, "dlq");
	CHECK_EQ_INT(c->tasks_max, 3);
	CHECK(c->extract_new_record_state);
	CHECK_EQ_STR(c360_kafka_config_rdkafka(c, "auto.offset.reset"), "earliest");
	CHECK_EQ_STR(c360_kafka_config_rdkafka(c, "sasl.mechanism"), "PLAIN");
	CHECK_EQ_INT(nwarn, 0);
	c360_kafka_config_free(c);
}

TEST(unknown_key_warns)
{
	char err[256] = "";
	struct c360_kafka_config *c = parse("{\"name\":\"x\",\"topics\":\"t\",\"connection.bucket\":\"s\",\"bogus.key\":\"1\"}",
					    err, sizeof err);
	REQUIRE(c);
	CHECK_EQ_INT(nwarn, 1);
	CHECK(strstr(lastwarn, "'bogus.key'") != NULL);
	c360_kafka_config_free(c);
}

/* Kafka Connect's own keys are accepted (said to have no effect); an
 * unknown couchbase.* or c360.* key stops the start naming it (it used to
 * be warned about and ignored) */
TEST(unknown_couchbase_keys_refused)
{
	char err[256] = "";
	struct c360_kafka_config *c = parse("{\"name\":\"x\",\"topics\":\"t\",\"connection.bucket\":\"s\","
					    "\"header.converter\":\"org.apache.kafka.connect.storage.SimpleHeaderConverter\"}",
					    err, sizeof err);
	REQUIRE(c);
	CHECK_EQ_INT(nwarn, 1);
	CHECK(strstr(lastwarn, "config key 'header.converter': a Kafka Connect framework setting, accepted") != NULL);
	c360_kafka_config_free(c);
	c = parse("{\"name\":\"x\",\"topics\":\"t\",\"connection.bucket\":\"s\",\"errors.deadletterqueue.topic.partitions\":\"1\","
		  "\"consumer.override.max.poll.records\":\"500\",\"value.converter.schema.registry.url\":\"http://r\"}",
		  err, sizeof err);
	REQUIRE(c);
	CHECK_EQ_INT(nwarn, 3);
	c360_kafka_config_free(c);
	c = parse("{\"name\":\"x\",\"topics\":\"t\",\"connection.bucket\":\"s\",\"couchbase.document.ttl\":\"1d\"}", err,
		  sizeof err);
	CHECK(c == NULL);
	CHECK(strstr(err, "config key 'couchbase.document.ttl': not a Couchbase sink option c360 knows; remove it") !=
	      NULL);
	c = parse("{\"name\":\"x\",\"topics\":\"t\",\"connection.bucket\":\"s\",\"c360.batch.sise\":\"10\"}", err,
		  sizeof err);
	CHECK(c == NULL);
	CHECK(strstr(err, "'c360.batch.sise'") != NULL);
}

static void expect_bad(const char *text, const char *key)
{
	char err[256] = "";
	struct c360_kafka_config *c = parse(text, err, sizeof err);
	CHECK(c == NULL);
	if (!strstr(err, key))
		printf("  error '%s' does not name '%s'\n", err, key);
	CHECK(strstr(err, key) != NULL);
	c360_kafka_config_free(c);
}

TEST(bad_values_name_the_key)
{
	expect_bad("{\"name\":\"x\",\"topics\":\"t\",\"connection.bucket\":\"s\",\"tasks.max\":\"two\"}", "'tasks.max'");
	expect_bad("{\"name\":\"x\",\"topics\":\"t\",\"connection.bucket\":\"s\",\"tasks.max\":\"0\"}", "'tasks.max'");
	expect_bad("{\"name\":\"x\",\"topics\":\"t\",\"connection.bucket\":\"s\",\"errors.tolerance\":\"some\"}",
		   "'errors.tolerance'");
	expect_bad("{\"name\":\"x\",\"topics\":\"t\",\"connection.bucket\":\"s\",\"couchbase.retry.timeout\":\"soon\"}",
		   "'couchbase.retry.timeout'");
	expect_bad("{\"name\":\"x\",\"topics\":\"t\",\"connection.bucket\":\"s\",\"couchbase.document.expiration\":\"-1\"}",
		   "'couchbase.document.expiration'");
	expect_bad("{\"name\":\"x\",\"topics\":\"t\",\"connection.bucket\":\"s\",\"value.converter.schemas.enable\":\"yes\"}",
		   "'value.converter.schemas.enable'");
	expect_bad("{\"name\":\"x\",\"topics\":\"t\",\"connection.bucket\":\"s\",\"couchbase.durability.persist_to\":\"SIX\"}",
		   "'couchbase.durability.persist_to'");
	expect_bad("{\"name\":\"x\",\"topics\":\"t\",\"connection.bucket\":\"s\",\"session.timeout.ms\":\"abc\"}",
		   "'session.timeout.ms'");
	expect_bad("{\"name\":\"x\",\"topics\":\"t\",\"connection.bucket\":\"s\",\"security.protocol\":\"carrier-pigeon\"}",
		   "'security.protocol'");
	expect_bad("{\"name\":\"x\",\"topics\":\"t\",\"connection.bucket\":\"s\",\"enable.auto.offset.store\":\"true\"}",
		   "'enable.auto.offset.store'");
	expect_bad("{\"name\":\"x\",\"topics\":\"t\",\"connection.bucket\":\"bad name!\"}", "'connection.bucket'");
	expect_bad("{\"name\":\"x\",\"topics\":\"t\"}", "'connection.bucket'");
	expect_bad("{\"name\":\"x\",\"connection.bucket\":\"s\"}", "'topics'");
	expect_bad("{\"topics\":\"t\",\"connection.bucket\":\"s\"}", "'name'");
	expect_bad("{\"name\":\"x\",\"topics\":\"t\",\"connection.bucket\":\"s\",\"connector.class\":\"io.debezium.X\"}",
		   "'connector.class'");
	expect_bad("{\"name\":\"x\",\"topics\":\"t\",\"connection.bucket\":\"s\",\"topics.regex\":\"(\"}", "'topics.regex'");
	expect_bad("{\"name\":\"x\",\"topics\":\"t\",\"connection.bucket\":\"s\",\"tasks.max\":[1]}", "'tasks.max'");
	expect_bad("{\"name\":\"x\",\"topics\":\"t\",\"connection.bucket\":\"s\",\"couchbase.topic.to.collection\":\"t\"}",
		   "'couchbase.topic.to.collection'");
	expect_bad("{\"name\":\"x\",\"topics\":\"t\",\"connection.bucket\":\"s\",\"couchbase.topic.to.document.id\":\"t\"}",
		   "'couchbase.topic.to.document.id'");
	expect_bad("{\"name\":\"x\",\"topics\":\"t\",\"connection.bucket\":\"s\",\"key.converter\":\"AvroConverter\"}",
		   "'key.converter'");
}

static char *render(const char *tmpl, const char *json, unsigned flags, char *reason, size_t rlen)
{
	c360_kafka_idtmpl *t = NULL;
	char err[200];
	if (c360_kafka_idtmpl_compile(tmpl, &t, err, sizeof err))
		return NULL;
	c360_json_doc *d = NULL;
	if (c360_json_parse(json, strlen(json), NULL, &d, NULL)) {
		c360_kafka_idtmpl_free(t);
		return NULL;
	}
	struct c360_buf b;
	c360_buf_init(&b, 0);
	char *out = NULL;
	if (c360_kafka_idtmpl_render(t, c360_json_doc_root(d), flags, &b, reason, rlen) == C360_OK)
		out = strdup(c360_buf_cstr(&b));
	c360_buf_release(&b);
	c360_json_doc_free(d);
	c360_kafka_idtmpl_free(t);
	return out;
}

TEST(templates)
{
	char reason[200];
	char *s = render("customer::${/payload/after/id}", "{\"payload\":{\"after\":{\"id\":1029}}}", 0, reason,
			 sizeof reason);
	CHECK_EQ_STR(s, "customer::1029");
	free(s);
	s = render("${/a}::${/b}", "{\"a\":\"x\",\"b\":true}", 0, reason, sizeof reason);
	CHECK_EQ_STR(s, "x::true");
	free(s);
	s = render("/id", "{\"id\":\"abc\"}", 0, reason, sizeof reason); /* 3.x bare pointer */
	CHECK_EQ_STR(s, "abc");
	free(s);
	/* d events: after -> before */
	s = render("c::${/payload/after/id}", "{\"payload\":{\"before\":{\"id\":7},\"after\":null}}", C360_IDT_BEFORE,
		   reason, sizeof reason);
	CHECK_EQ_STR(s, "c::7");
	free(s);
	/* tombstones: last segment over the key fields */
	s = render("c::${/payload/after/id}", "{\"id\":7}", C360_IDT_LASTSEG, reason, sizeof reason);
	CHECK_EQ_STR(s, "c::7");
	free(s);
	s = render("${/payload/after/email}", "{\"payload\":{\"after\":{\"id\":1}}}", 0, reason, sizeof reason);
	CHECK(s == NULL);
	CHECK(strstr(reason, "'/payload/after/email' is missing") != NULL);
	s = render("${/a}", "{\"a\":{\"b\":1}}", 0, reason, sizeof reason);
	CHECK(s == NULL);
	CHECK(strstr(reason, "object") != NULL);

	c360_kafka_idtmpl *t = NULL;
	char err[200] = "";
	CHECK(c360_kafka_idtmpl_compile("x${/a", &t, err, sizeof err) == C360_ERR_INVALID);
	CHECK(strstr(err, "unclosed") != NULL);
	CHECK(c360_kafka_idtmpl_compile("plain", &t, err, sizeof err) == C360_ERR_INVALID);
	CHECK(c360_kafka_idtmpl_compile("${a}", &t, err, sizeof err) == C360_ERR_INVALID);
	CHECK(t == NULL);
	/* its text is copied into every id, which must be UTF-8 (found by
	 * tests/fuzz/fuzz_kafka.c) */
	CHECK(c360_kafka_idtmpl_compile("id::\xff${/a}", &t, err, sizeof err) == C360_ERR_INVALID);
	CHECK(strstr(err, "not valid UTF-8") != NULL);
	CHECK(t == NULL);
}

static char *keyid(const char *key)
{
	struct c360_buf b;
	c360_buf_init(&b, 0);
	char reason[200];
	char *out = NULL;
	if (c360_kafka_key_id(key, key ? strlen(key) : 0, &b, reason, sizeof reason) == C360_OK)
		out = strdup(c360_buf_cstr(&b));
	c360_buf_release(&b);
	return out;
}

TEST(key_ids_agree_with_and_without_schema)
{
	char *a = keyid("{\"id\":1029}");
	char *b = keyid("{\"schema\":{\"type\":\"struct\",\"fields\":[{\"type\":\"int32\",\"optional\":false,"
			"\"field\":\"id\"}],\"optional\":false,\"name\":\"dbserver1.inventory.customers.Key\"},"
			"\"payload\":{\"id\":1029}}");
	CHECK_EQ_STR(a, "1029");
	CHECK_EQ_STR(b, "1029");
	free(a);
	free(b);
	a = keyid("{\"id\":5,\"region\":\"eu\"}");
	CHECK_EQ_STR(a, "5::eu");
	free(a);
	a = keyid("plain-key");
	CHECK_EQ_STR(a, "plain-key");
	free(a);
	a = keyid("\"quoted\"");
	CHECK_EQ_STR(a, "quoted");
	free(a);
	a = keyid("42");
	CHECK_EQ_STR(a, "42");
	free(a);
	CHECK(keyid(NULL) == NULL);
	CHECK(keyid("{\"a\":{\"b\":1}}") == NULL); /* nested: topic/partition/offset */
	char longkey[400];
	memset(longkey, 'k', sizeof longkey - 1);
	longkey[sizeof longkey - 1] = 0;
	CHECK(keyid(longkey) == NULL);
}

/* The connector's quickstart-couchbase-sink.properties shape: accepted as
 * it is (it used to fail as "not valid JSON"). */
TEST(properties_file)
{
	static const char props[] =
		"# Arbitrary unique name for the connector.\n"
		"name=test-couchbase-sink\n"
		"connector.class=com.couchbase.connect.kafka.CouchbaseSinkConnector\n"
		"tasks.max=2\n"
		"topics=couchbase-sink-example,\\\n"
		"       other\n"
		"couchbase.seed.nodes=127.0.0.1\n"
		"couchbase.bootstrap.timeout=10s\n"
		"couchbase.bucket=default\n"
		"couchbase.username=Administrator\n"
		"couchbase.password=password\n"
		"! durability\n"
		"couchbase.durability=NONE\n"
		"key.converter=org.apache.kafka.connect.storage.StringConverter\n"
		"value.converter=org.apache.kafka.connect.json.JsonConverter\n"
		"value.converter.schemas.enable=false\n"
		"couchbase.document.id=customer::${/id}\n"
		"couchbase.remove.document.id : true\n";
	char err[256] = "";
	struct c360_kafka_config *c = parse(props, err, sizeof err);
	REQUIRE(c);
	CHECK_EQ_STR(c->name, "test-couchbase-sink");
	CHECK_EQ_INT(c->tasks_max, 2);
	CHECK_EQ_INT(c->ntopics, 2);
	CHECK_EQ_STR(c->topics[1], "other");
	CHECK_EQ_STR(c->bucket, "default");
	CHECK_EQ_STR(c->doc_id, "customer::${/id}");
	CHECK(c->remove_doc_id);
	CHECK(!c->value_schemas_enable);
	CHECK_EQ_INT(nwarn, 0);
	c360_kafka_config_free(c);

	/* a bad escape: the file name, line and column */
	c = parse("name=x\ntopics=t\ncouchbase.bucket=b\\u00zz\n", err, sizeof err);
	CHECK(c == NULL);
	CHECK(strstr(err, "test: not a valid .properties file: line 3, column 19: malformed") != NULL);
	/* JSON is still JSON, with JSON's errors */
	c = parse("  {\"name\": }", err, sizeof err);
	CHECK(c == NULL);
	CHECK(strstr(err, "not valid JSON") != NULL);
}

/* Connector 4.x per-topic ids: couchbase.topic.to.document.id and the
 * KEY[TOPIC] override form (they used to be ignored with a warning). */
TEST(per_topic_document_ids)
{
	char err[300] = "";
	struct c360_kafka_config *c = parse(
		"{\"name\":\"x\",\"topics\":\"a,b,c,d\",\"couchbase.bucket\":\"s\","
		"\"couchbase.document.id\":\"${/id}\","
		"\"couchbase.topic.to.document.id\":\"a=customer::${/cid}, b=order::${/oid}\","
		"\"couchbase.document.id[c]\":\"p::${/sku}\",\"couchbase.document.id[b]\":\"o::${/oid}\","
		"\"couchbase.document.id[d]\":\"\"}",
		err, sizeof err);
	REQUIRE(c);
	CHECK_EQ_INT(nwarn, 0);
	CHECK_EQ_STR(c360_kafka_config_doc_id_for(c, "a"), "customer::${/cid}");
	CHECK_EQ_STR(c360_kafka_config_doc_id_for(c, "b"), "o::${/oid}"); /* the later key wins */
	CHECK_EQ_STR(c360_kafka_config_doc_id_for(c, "c"), "p::${/sku}");
	CHECK(c360_kafka_config_doc_id_for(c, "d") == NULL); /* empty: ids from the key */
	CHECK_EQ_STR(c360_kafka_config_doc_id_for(c, "zz"), "${/id}");
	c360_kafka_config_free(c);

	/* an override of a topic that is not consumed would never apply */
	c = parse("{\"name\":\"x\",\"topics\":\"a\",\"couchbase.bucket\":\"s\","
		  "\"couchbase.topic.to.document.id\":\"ab=${/id}\"}", err, sizeof err);
	CHECK(c == NULL);
	CHECK(strstr(err, "topic 'ab' is not in 'topics'") != NULL);
	/* other per-topic keys are refused by name */
	c = parse("{\"name\":\"x\",\"topics\":\"a\",\"couchbase.bucket\":\"s\","
		  "\"couchbase.document.expiration[a]\":\"1d\"}", err, sizeof err);
	CHECK(c == NULL);
	CHECK(strstr(err, "config key 'couchbase.document.expiration[a]': a per-topic 'couchbase.document.expiration' "
			  "is not supported") != NULL);
}

/* The store has no collections: a non-default one is refused at start
 * (it used to be accepted and the documents landed in the bucket). */
TEST(collections_refused_unless_default)
{
	char err[400] = "";
	struct c360_kafka_config *c = parse(
		"{\"name\":\"x\",\"topics\":\"a\",\"couchbase.bucket\":\"s\","
		"\"couchbase.default.collection\":\"_default._default\","
		"\"couchbase.topic.to.collection\":\"a=_default._default\","
		"\"couchbase.default.collection[a]\":\"_default._default\"}",
		err, sizeof err);
	REQUIRE(c);
	CHECK_EQ_INT(nwarn, 0);
	c360_kafka_config_free(c);
	c = parse("{\"name\":\"x\",\"topics\":\"a\",\"couchbase.bucket\":\"s\","
		  "\"couchbase.default.collection\":\"inventory.customers\"}", err, sizeof err);
	CHECK(c == NULL);
	CHECK(strstr(err, "config key 'couchbase.default.collection': collection 'inventory.customers' is not "
			  "supported: c360's store has buckets, no scopes or collections; remove the key") != NULL);
	c = parse("{\"name\":\"x\",\"topics\":\"a,b\",\"couchbase.bucket\":\"s\","
		  "\"couchbase.topic.to.collection\":\"a=_default._default,b=inventory.orders\"}", err, sizeof err);
	CHECK(c == NULL);
	CHECK(strstr(err, "config key 'couchbase.topic.to.collection': topic 'b' to collection 'inventory.orders' "
			  "is not supported") != NULL);
	c = parse("{\"name\":\"x\",\"topics\":\"a\",\"couchbase.bucket\":\"s\","
		  "\"couchbase.default.collection[a]\":\"s1.c1\"}", err, sizeof err);
	CHECK(c == NULL);
	CHECK(strstr(err, "'couchbase.default.collection[a]': topic 'a' to collection 's1.c1'") != NULL);
}

#define BASE "{\"name\":\"x\",\"topics\":\"t\",\"connection.bucket\":\"s\","
#define UNWRAP "\"transforms.u.type\":\"io.debezium.transforms.ExtractNewRecordState\""

/* Transforms: the supported ones with their options; any other transform
 * or option stops the start naming it (they used to be skipped with a
 * warning, or silently) */
TEST(transforms)
{
	char err[400] = "";
	struct c360_kafka_config *c = parse(
		BASE "\"transforms\":\"u,k,e\"," UNWRAP ",\"transforms.u.delete.handling.mode\":\"rewrite\","
		"\"transforms.u.drop.tombstones\":\"false\",\"transforms.u.add.fields\":\"op, source.ts_ms\","
		"\"transforms.k.type\":\"org.apache.kafka.connect.transforms.ValueToKey\",\"transforms.k.fields\":\"id,region\","
		"\"transforms.e.type\":\"org.apache.kafka.connect.transforms.ExtractField$Key\",\"transforms.e.field\":\"id\"}",
		err, sizeof err);
	REQUIRE(c);
	CHECK_EQ_INT(nwarn, 0);
	CHECK(c->extract_new_record_state);
	CHECK(c->unwrap_d == C360_UNWRAP_REWRITE && c->unwrap_rewrite);
	CHECK(c->unwrap_tombstone == C360_UNWRAP_DELETE);
	CHECK_EQ_INT(c->add_fields.n, 2);
	CHECK_EQ_STR(c->add_fields.v[1], "source.ts_ms");
	CHECK_EQ_INT(c->nsmt, 2);
	CHECK(c->smt[0].kind == C360_SMT_VALUE_TO_KEY && c->smt[0].fields.n == 2);
	CHECK(c->smt[1].kind == C360_SMT_EXTRACT_KEY);
	CHECK_EQ_STR(c->smt[1].field, "id");
	c360_kafka_config_free(c);

	c = parse(BASE "\"transforms\":\"u\"," UNWRAP ",\"transforms.u.delete.tombstone.handling.mode\":\"delete\"}",
		  err, sizeof err);
	REQUIRE(c);
	CHECK(c->unwrap_d == C360_UNWRAP_DELETE && c->unwrap_tombstone == C360_UNWRAP_DROP);
	c360_kafka_config_free(c);

	expect_bad(BASE "\"transforms\":\"ts\",\"transforms.ts.type\":"
		   "\"org.apache.kafka.connect.transforms.TimestampConverter$Value\"}",
		   "config key 'transforms.ts.type': transform 'org.apache.kafka.connect.transforms.TimestampConverter$Value' "
		   "is not supported by c360");
	expect_bad(BASE "\"transforms\":\"u\"," UNWRAP ",\"transforms.u.route.by.field\":\"x\"}",
		   "config key 'transforms.u.route.by.field': option 'route.by.field' of "
		   "io.debezium.transforms.ExtractNewRecordState is not supported");
	expect_bad(BASE "\"transforms\":\"u\"," UNWRAP ",\"transforms.u.delete.handling.mode\":\"keep\"}",
		   "'transforms.u.delete.handling.mode': expected drop, rewrite or none");
	expect_bad(BASE "\"transforms\":\"u\"," UNWRAP ",\"transforms.u.delete.handling.mode\":\"drop\","
		   "\"transforms.u.delete.tombstone.handling.mode\":\"drop\"}", "cannot be used together");
	expect_bad(BASE "\"transforms\":\"u\"," UNWRAP ",\"transforms.other.field\":\"x\"}",
		   "config key 'transforms.other.field': no transform of that name is in 'transforms'");
	expect_bad(BASE "\"transforms\":\"k,u\"," UNWRAP ",\"transforms.k.type\":\"org.apache.kafka.connect.transforms.ValueToKey\","
		   "\"transforms.k.fields\":\"id\"}", "'u' (ExtractNewRecordState) must come first");
	expect_bad(BASE "\"transforms\":\"k\",\"transforms.k.type\":\"org.apache.kafka.connect.transforms.ValueToKey\"}",
		   "config key 'transforms.k.fields': missing");
	expect_bad(BASE "\"transforms\":\"k\",\"transforms.k.type\":\"org.apache.kafka.connect.transforms.ValueToKey\","
		   "\"transforms.k.fields\":\"id\",\"transforms.k.predicate\":\"p\"}", "option 'predicate'");
	expect_bad(BASE "\"transforms\":\"i\",\"transforms.i.type\":\"org.apache.kafka.connect.transforms.InsertField$Value\","
		   "\"transforms.i.static.field\":\"a\"}", "'transforms.i.static.value': missing");
	expect_bad(BASE "\"transforms\":\"r\",\"transforms.r.type\":\"org.apache.kafka.connect.transforms.ReplaceField$Value\","
		   "\"transforms.r.renames\":\"a\"}", "expected old:new pairs");
}

int main(void)
{
	RUN(seed_body_parses_without_warnings);
	RUN(v4_names_and_passthrough);
	RUN(unknown_key_warns);
	RUN(bad_values_name_the_key);
	RUN(templates);
	RUN(key_ids_agree_with_and_without_schema);
	RUN(properties_file);
	RUN(per_topic_document_ids);
	RUN(collections_refused_unless_default);
	RUN(transforms);
	RUN(unknown_couchbase_keys_refused);
	return test_summary();
}
