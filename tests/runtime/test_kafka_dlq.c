/* Kafka sink on a bad day, records side, against librdkafka's mock
 * cluster over loopback TCP: dead letters the topic refuses as too large
 * (sent cut, or skipped with their position) and records without a usable
 * key or with a value that is not a JSON object (counted, logged with
 * their position, rate-limited). */
#include "runtime/kafka_test.h"
#include "core/banned.h"

/* ---- item: a dead letter too large for its topic ---- */

/* A 2 MB record that is not JSON goes to the dead-letter topic, whose
 * producer refuses it (message.max.bytes, 1 MB by default, as a real
 * broker's limit): it is sent again cut to 64 KiB with headers saying so.
 * A small bad record the broker refuses ("Broker: Message size too large",
 * as an answer of the mock broker) takes the same way. The sink goes on,
 * commits past both, and a restart reads nothing again. */
TEST(dead_letter_too_large_is_sent_cut)
{
	const char *topic = "poison", *dlq = "poison.dlq";
	c360_kafka_mock_topic(mock, topic, 1);
	c360_kafka_mock_topic(mock, dlq, 1);
	size_t big = 2u << 20;
	char *huge = malloc(big);
	REQUIRE(huge);
	memset(huge, 'x', big);
	huge[0] = '{';
	rd_kafka_t *p = producer();
	produce_str(p, topic, 0, "1", "{\"id\":1}");     /* offset 0 ok */
	produce(p, topic, 0, "2", huge, big);             /* 1 not JSON, 2 MB */
	produce_str(p, topic, 0, "3", "{\"id\":3}");     /* 2 ok */
	REQUIRE(rd_kafka_flush(p, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR);
	rd_kafka_destroy(p);
	free(huge);

	c360_store *st = new_store();
	struct c360_kafka_config *cfg = config("\"topics\":\"%s\",\"errors.tolerance\":\"all\","
					       "\"errors.deadletterqueue.topic.name\":\"%s\"", topic, dlq);
	REQUIRE(st && cfg);
	struct c360_kafka_metrics m;
	char err[400] = "";
	log_reset();
	CHECK_EQ_INT(run_to_end(st, cfg, &m, err, sizeof err), C360_OK);
	if (*err)
		printf("  error: %s\n", err);
	CHECK_EQ_INT(m.records_in, 3);
	CHECK_EQ_INT(m.written, 2);
	CHECK_EQ_INT(m.dead_lettered, 1);
	CHECK_EQ_INT(m.dlq_truncated, 1);
	CHECK_EQ_INT(m.dlq_dropped, 0);
	CHECK_EQ_INT(m.failed, 0);
	CHECK(has(st, "1", NULL) && has(st, "3", NULL));
	CHECK(log_count("'poison' [0] offset 1 refused by 'poison.dlq'") == 1);

	/* a bad record the broker refuses: cut too */
	p = producer();
	produce_str(p, topic, 0, "4", "{oops");          /* 3 not JSON */
	produce_str(p, topic, 0, "5", "{\"id\":5}");     /* 4 ok */
	REQUIRE(rd_kafka_flush(p, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR);
	rd_kafka_destroy(p);
	REQUIRE(c360_kafka_mock_fail_requests(mock, C360_KAFKA_API_PRODUCE, 1, ERR_MSG_SIZE_TOO_LARGE) == C360_OK);
	CHECK_EQ_INT(run_to_end(st, cfg, &m, err, sizeof err), C360_OK);
	c360_kafka_mock_fail_requests(mock, C360_KAFKA_API_PRODUCE, 0, 0);
	CHECK_EQ_INT(m.records_in, 2);
	CHECK_EQ_INT(m.dlq_truncated, 1);
	CHECK(has(st, "5", NULL));

	struct dl d[8];
	memset(d, 0, sizeof d);
	int n = consume_all(dlq, d, 8);
	CHECK_EQ_INT(n, 2);
	for (int i = 0; i < n; i++) {
		CHECK_EQ_STR(d[i].trunc, "true");
		CHECK_EQ_STR(d[i].refused, "Broker: Message size too large");
		CHECK(strstr(d[i].reason, "not valid JSON") != NULL);
		if (!strcmp(d[i].off, "1")) {
			CHECK_EQ_INT(d[i].vallen, 65536);
			CHECK_EQ_STR(d[i].vbytes, "2097152");
		} else {
			CHECK_EQ_STR(d[i].off, "3");
			CHECK_EQ_INT(d[i].vallen, 5);
		}
	}
	/* committed past them: a restart reads nothing again */
	check_restart_reads_nothing(st, cfg);
	c360_kafka_config_free(cfg);
	c360_store_close(st);
}

/* The dead-letter topic refuses the record whole and cut: it is logged
 * with its position and reason, counted (dlq_dropped, failed) and skipped;
 * the records after it are written and a restart does not stop on it. */
TEST(dead_letter_refused_even_cut_is_skipped_with_its_position)
{
	const char *topic = "poison2", *dlq = "poison2.dlq";
	c360_kafka_mock_topic(mock, topic, 1);
	c360_kafka_mock_topic(mock, dlq, 1);
	rd_kafka_t *p = producer();
	produce_str(p, topic, 0, "1", "{bad");           /* offset 0 not JSON */
	produce_str(p, topic, 0, "2", "{\"id\":2}");     /* 1 ok */
	REQUIRE(rd_kafka_flush(p, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR);
	rd_kafka_destroy(p);
	c360_store *st = new_store();
	struct c360_kafka_config *cfg = config("\"topics\":\"%s\",\"errors.tolerance\":\"all\","
					       "\"errors.deadletterqueue.topic.name\":\"%s\"", topic, dlq);
	REQUIRE(st && cfg);
	REQUIRE(c360_kafka_mock_fail_requests(mock, C360_KAFKA_API_PRODUCE, 2, ERR_MSG_SIZE_TOO_LARGE) == C360_OK);
	struct c360_kafka_metrics m;
	char err[400] = "";
	log_reset();
	CHECK_EQ_INT(run_to_end(st, cfg, &m, err, sizeof err), C360_OK);
	c360_kafka_mock_fail_requests(mock, C360_KAFKA_API_PRODUCE, 0, 0);
	CHECK_EQ_INT(m.records_in, 2);
	CHECK_EQ_INT(m.written, 1);
	CHECK_EQ_INT(m.dead_lettered, 0);
	CHECK_EQ_INT(m.dlq_dropped, 1);
	CHECK_EQ_INT(m.failed, 1);
	CHECK(has(st, "2", NULL));
	CHECK(log_count("record 'poison2' [0] offset 0 (value is not valid JSON") == 1);
	CHECK(log_count("skipped: dead-letter topic 'poison2.dlq' refused it whole (Broker: Message size too large)") ==
	      1);
	check_restart_reads_nothing(st, cfg);
	c360_kafka_config_free(cfg);
	c360_store_close(st);
}

/* ---- item: records without a key, values that are not objects ---- */

/* 15 records without a key are stored as topic/partition/offset, counted,
 * and warned about 10 times (first 10, then every 1000th) with their
 * position; values 42, "x" and [1] are written, counted and warned about;
 * a JSON null value deletes by key as a tombstone does. */
TEST(keyless_and_non_object_records_are_counted_and_logged)
{
	const char *topic = "odd";
	c360_kafka_mock_topic(mock, topic, 1);
	rd_kafka_t *p = producer();
	for (int i = 0; i < 15; i++)
		produce_str(p, topic, 0, NULL, "{\"a\":1}"); /* offsets 0..14 */
	produce_str(p, topic, 0, "n", "42");                /* 15 */
	produce_str(p, topic, 0, "s", "\"x\"");             /* 16 */
	produce_str(p, topic, 0, "a", "[1]");               /* 17 */
	produce_str(p, topic, 0, "gone", "{\"a\":2}");      /* 18 */
	produce_str(p, topic, 0, "gone", "null");           /* 19: a delete */
	REQUIRE(rd_kafka_flush(p, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR);
	rd_kafka_destroy(p);
	c360_store *st = new_store();
	struct c360_kafka_config *cfg = config("\"topics\":\"%s\"", topic);
	REQUIRE(st && cfg);
	struct c360_kafka_metrics m;
	char err[400] = "";
	log_reset();
	CHECK_EQ_INT(run_to_end(st, cfg, &m, err, sizeof err), C360_OK);
	CHECK_EQ_INT(m.records_in, 20);
	CHECK_EQ_INT(m.key_fallback, 15);
	CHECK_EQ_INT(m.non_object, 3);
	CHECK_EQ_INT(m.written, 19);
	CHECK_EQ_INT(m.deleted, 1);
	CHECK(has(st, "odd/0/0", NULL) && has(st, "odd/0/14", NULL));
	CHECK(has(st, "n", NULL) && has(st, "s", NULL) && has(st, "a", NULL));
	CHECK(!has(st, "gone", NULL));
	CHECK_EQ_INT(log_count("has no usable key: stored as 'odd/0/"), 10);
	CHECK_EQ_INT(log_count("record 'odd' [0] offset 0 has no usable key"), 1);
	CHECK_EQ_INT(log_count("record 'odd' [0] offset 10 has no usable key"), 0);
	CHECK_EQ_INT(log_count("is JSON but not an object"), 3);
	CHECK_EQ_INT(log_count("record 'odd' [0] offset 17 is JSON but not an object"), 1);
	c360_kafka_config_free(cfg);
	c360_store_close(st);
}

int main(void)
{
	if (!kafka_test_setup(FAULTS_CONFIG_DEFAULTS, true))
		return 1;
	RUN_SEL(dead_letter_too_large_is_sent_cut);
	RUN_SEL(dead_letter_refused_even_cut_is_skipped_with_its_position);
	RUN_SEL(keyless_and_non_object_records_are_counted_and_logged);
	kafka_test_teardown();
	return test_summary();
}
