/* Kafka sink on a bad day, commits side, against librdkafka's mock cluster
 * over loopback TCP: a stop whose commit a rebalance refuses (retried) or
 * that cannot commit at all (fails, saying how many records will be read
 * again). The revoke side is in test_kafka_rebalance.c. */
#include "runtime/kafka_test.h"
#include "core/banned.h"

/* ---- item: commits refused by a rebalance ---- */


/* The stop's commit is refused three times (REBALANCE_IN_PROGRESS, as the
 * coordinator answers while its group rebalances): it is retried, and the
 * restart reads nothing again. */
TEST(final_commit_refused_by_a_rebalance_is_retried)
{
	const char *topic = "rebal1";
	c360_store *st = NULL;
	struct c360_kafka_config *cfg = NULL;
	REQUIRE(topic_of_n(topic, 50, &st, &cfg));
	REQUIRE(c360_kafka_mock_fail_requests(mock, C360_KAFKA_API_OFFSET_COMMIT, 3, ERR_REBALANCE_IN_PROGRESS) ==
		C360_OK);
	struct c360_kafka_metrics m;
	char err[400] = "";
	CHECK_EQ_INT(run_to_end(st, cfg, &m, err, sizeof err), C360_OK);
	c360_kafka_mock_fail_requests(mock, C360_KAFKA_API_OFFSET_COMMIT, 0, 0);
	CHECK_EQ_INT(m.written, 50);
	CHECK_EQ_INT(m.uncommitted, 0);
	check_restart_reads_nothing(st, cfg);
	c360_kafka_config_free(cfg);
	c360_store_close(st);
}

/* The stop's commit is refused for longer than the sink retries: the stop
 * fails (exit status non-zero in the CLI) and says how many records will
 * be read again; the restart reads exactly those. */
TEST(final_commit_that_keeps_failing_fails_the_stop_with_the_count)
{
	const char *topic = "rebal2";
	c360_store *st = NULL;
	struct c360_kafka_config *cfg = NULL;
	REQUIRE(topic_of_n(topic, 50, &st, &cfg));
	REQUIRE(c360_kafka_mock_fail_requests(mock, C360_KAFKA_API_OFFSET_COMMIT, 100000,
					      ERR_REBALANCE_IN_PROGRESS) == C360_OK);
	struct c360_kafka_metrics m;
	char err[400] = "";
	CHECK(run_to_end(st, cfg, &m, err, sizeof err) != C360_OK);
	c360_kafka_mock_fail_requests(mock, C360_KAFKA_API_OFFSET_COMMIT, 0, 0);
	CHECK(strstr(err, "final commit failed: Broker: Group rebalance in progress") != NULL);
	CHECK(strstr(err, "50 record(s)") && strstr(err, "read again at the next start"));
	if (!strstr(err, "50 record(s)"))
		printf("  error: %s\n", err);
	CHECK_EQ_INT(m.written, 50);
	CHECK_EQ_INT(m.uncommitted, 50);
	CHECK_EQ_INT(run_to_end(st, cfg, &m, err, sizeof err), C360_OK);
	CHECK_EQ_INT(m.records_in, 50);
	CHECK_EQ_INT(m.uncommitted, 0);
	check_restart_reads_nothing(st, cfg);
	c360_kafka_config_free(cfg);
	c360_store_close(st);
}

int main(void)
{
	if (!kafka_test_setup(FAULTS_CONFIG_DEFAULTS, true))
		return 1;
	RUN_SEL(final_commit_refused_by_a_rebalance_is_retried);
	RUN_SEL(final_commit_that_keeps_failing_fails_the_stop_with_the_count);
	kafka_test_teardown();
	return test_summary();
}
