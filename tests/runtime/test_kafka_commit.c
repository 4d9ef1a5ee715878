/* Kafka sink on a bad day, commits side, against librdkafka's mock cluster
 * over loopback TCP: commits refused by a rebalance (retried at the stop,
 * made after the rebalance when refused on revoke) and a stop that cannot
 * commit (fails, saying how many records will be read again). */
#include "runtime/kafka_faults.h"
#include "core/banned.h"

/* ---- item: commits refused by a rebalance ---- */

static void produce_n(const char *topic, int32_t part, int first, int n)
{
	rd_kafka_t *p = producer();
	for (int i = first; i < first + n; i++) {
		char k[32], v[64];
		snprintf(k, sizeof k, "%d", i);
		snprintf(v, sizeof v, "{\"id\":%d}", i);
		produce_str(p, topic, part, k, v);
	}
	rd_kafka_flush(p, 10000);
	rd_kafka_destroy(p);
}

/* The stop's commit is refused three times (REBALANCE_IN_PROGRESS, as the
 * coordinator answers while its group rebalances): it is retried, and the
 * restart reads nothing again. */
TEST(final_commit_refused_by_a_rebalance_is_retried)
{
	const char *topic = "rebal1";
	c360_kafka_mock_topic(mock, topic, 1);
	produce_n(topic, 0, 1, 50);
	c360_store *st = new_store();
	struct c360_kafka_config *cfg = config("\"topics\":\"%s\"", topic);
	REQUIRE(st && cfg);
	REQUIRE(c360_kafka_mock_fail_requests(mock, C360_KAFKA_API_OFFSET_COMMIT, 3, ERR_REBALANCE_IN_PROGRESS) ==
		C360_OK);
	struct c360_kafka_metrics m;
	char err[400] = "";
	CHECK_EQ_INT(run_to_end(st, cfg, &m, err, sizeof err), C360_OK);
	c360_kafka_mock_fail_requests(mock, C360_KAFKA_API_OFFSET_COMMIT, 0, 0);
	CHECK_EQ_INT(m.written, 50);
	CHECK_EQ_INT(m.uncommitted, 0);
	CHECK_EQ_INT(run_to_end(st, cfg, &m, err, sizeof err), C360_OK);
	CHECK_EQ_INT(m.records_in, 0);
	c360_kafka_config_free(cfg);
	c360_store_close(st);
}

/* The stop's commit is refused for longer than the sink retries: the stop
 * fails (exit status non-zero in the CLI) and says how many records will
 * be read again; the restart reads exactly those. */
TEST(final_commit_that_keeps_failing_fails_the_stop_with_the_count)
{
	const char *topic = "rebal2";
	c360_kafka_mock_topic(mock, topic, 1);
	produce_n(topic, 0, 1, 50);
	c360_store *st = new_store();
	struct c360_kafka_config *cfg = config("\"topics\":\"%s\"", topic);
	REQUIRE(st && cfg);
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
	CHECK_EQ_INT(run_to_end(st, cfg, &m, err, sizeof err), C360_OK);
	CHECK_EQ_INT(m.records_in, 0);
	c360_kafka_config_free(cfg);
	c360_store_close(st);
}

static bool member_assigned;

static void member_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
			     void *opaque)
{
	(void)opaque;
	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		rd_kafka_assign(rk, parts);
		member_assigned = true;
	} else {
		rd_kafka_assign(rk, NULL);
	}
}

/* Another member joins the group while the sink holds the partition with
 * 50 records written but not committed: the coordinator refuses the
 * sink's commit on revoke (REBALANCE_IN_PROGRESS: librdkafka's mock
 * cluster refuses commits from the first JoinGroup until every member
 * synced), so the sink keeps the offsets and commits them with its next
 * assignment. A restart reads nothing again. */
TEST(commit_refused_on_revoke_is_made_after_the_rebalance)
{
	const char *topic = "rebal3";
	c360_kafka_mock_topic(mock, topic, 1);
	produce_n(topic, 0, 1, 50);
	c360_store *st = new_store();
	struct c360_kafka_config *cfg = config("\"topics\":\"%s\"", topic);
	REQUIRE(st && cfg);
	char err[400] = "";
	log_reset();
	c360_kafka_sink *s = NULL;
	REQUIRE(c360_kafka_sink_new(st, cfg, NULL, &s, err, sizeof err) == C360_OK);
	REQUIRE(c360_kafka_sink_start(s, err, sizeof err) == C360_OK);
	struct c360_kafka_metrics m = {0};
	for (int i = 0; i < 1200 && m.written < 50; i++, usleep(25000))
		c360_kafka_sink_metrics(s, &m);
	REQUIRE(m.written == 50);

	/* the second member: never commits */
	char e[200];
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	rd_kafka_conf_set(c, "bootstrap.servers", c360_kafka_mock_bootstraps(mock), e, sizeof e);
	rd_kafka_conf_set(c, "group.id", group, e, sizeof e);
	rd_kafka_conf_set(c, "session.timeout.ms", "6000", e, sizeof e);
	rd_kafka_conf_set(c, "enable.auto.commit", "false", e, sizeof e);
	rd_kafka_conf_set_rebalance_cb(c, member_rebalance);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, e, sizeof e);
	REQUIRE(rk);
	rd_kafka_poll_set_consumer(rk);
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(l, topic, RD_KAFKA_PARTITION_UA);
	rd_kafka_subscribe(rk, l);
	rd_kafka_topic_partition_list_destroy(l);
	member_assigned = false;
	for (int i = 0; i < 300 && !member_assigned; i++) { /* 30 s at most */
		rd_kafka_message_t *msg = rd_kafka_consumer_poll(rk, 100);
		if (msg)
			rd_kafka_message_destroy(msg);
	}
	CHECK(member_assigned);
	/* the sink said what happened (keep the member polling meanwhile) */
	bool said = false;
	for (int i = 0; i < 200 && !said; i++) { /* 20 s at most */
		rd_kafka_message_t *msg = rd_kafka_consumer_poll(rk, 100);
		if (msg)
			rd_kafka_message_destroy(msg);
		said = log_count("committed the offsets of 50 record(s) the rebalance had refused") > 0;
	}
	CHECK(log_count("commit on revoke refused: Broker: Group rebalance in progress") == 1);
	CHECK(said);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	c360_kafka_sink_stop(s);
	CHECK_EQ_INT(c360_kafka_sink_wait(s, 60000), C360_OK);
	c360_kafka_sink_metrics(s, &m);
	CHECK_EQ_INT(m.uncommitted, 0);
	c360_kafka_sink_free(s);
	/* the restart reads nothing again */
	CHECK_EQ_INT(run_to_end(st, cfg, &m, err, sizeof err), C360_OK);
	CHECK_EQ_INT(m.records_in, 0);
	c360_kafka_config_free(cfg);
	c360_store_close(st);
}

int main(void)
{
	if (!faults_setup())
		return 1;
	const char *only = getenv("KAFKA_TEST_ONLY"); /* debugging aid: run one test */
#define RUN_SEL(t) do { if (!only || !strcmp(only, #t)) RUN(t); } while (0)
	RUN_SEL(final_commit_refused_by_a_rebalance_is_retried);
	RUN_SEL(final_commit_that_keeps_failing_fails_the_stop_with_the_count);
	RUN_SEL(commit_refused_on_revoke_is_made_after_the_rebalance);
	faults_teardown();
	return test_summary();
}
