/* Kafka sink on a bad day, revoke side, against librdkafka's mock cluster
 * over loopback TCP: a commit on revoke that the rebalance refuses is made
 * with the next assignment, mid-run and when the sink is asked to stop in
 * the middle of the rebalance. */
#include "runtime/kafka_test.h"
#include "core/banned.h"


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

/* The sink holds the partition with 50 records written, not committed (no
 * auto-commit); another member joins the group, so the coordinator refuses
 * the sink's commit on revoke (REBALANCE_IN_PROGRESS: librdkafka's mock
 * cluster refuses commits from the first JoinGroup until every member
 * synced). The sink keeps the offsets and commits them with its next
 * assignment; with stop_now it is asked to stop right then, in the middle
 * of the rebalance (the SIGTERM right after an assignment). Either
 * way the stop ends OK and a restart reads nothing again. */
static void refused_on_revoke(const char *topic, bool stop_now)
{
	c360_store *st = NULL;
	struct c360_kafka_config *cfg = NULL;
	REQUIRE(topic_of_n(topic, 50, &st, &cfg));
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
	const char *refused = "commit on revoke refused: Broker: Group rebalance in progress";
	const char *made = "committed the offsets of 50 record(s) the rebalance had refused";
	/* the member keeps polling throughout so that rebalances complete */
	c360_rc rc = C360_ERR_TIMEOUT;
	bool stopping = false;
	for (int i = 0; i < 600; i++) { /* 60 s at most */
		rd_kafka_message_t *msg = rd_kafka_consumer_poll(rk, 100);
		if (msg)
			rd_kafka_message_destroy(msg);
		if (stop_now && !stopping && log_count(refused)) {
			c360_kafka_sink_stop(s);
			stopping = true;
		}
		if (stopping && (rc = c360_kafka_sink_wait(s, 0)) != C360_ERR_TIMEOUT)
			break;
		if (!stop_now && member_assigned && log_count(made))
			break;
	}
	CHECK_EQ_INT(log_count(refused), 1);
	CHECK_EQ_INT(log_count(made), 1);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	if (!stopping) {
		c360_kafka_sink_stop(s);
		rc = c360_kafka_sink_wait(s, 60000);
	}
	CHECK_EQ_INT(rc, C360_OK);
	c360_kafka_sink_metrics(s, &m);
	CHECK_EQ_INT(m.uncommitted, 0);
	c360_kafka_sink_free(s);
	/* the restart reads nothing again */
	check_restart_reads_nothing(st, cfg);
	c360_kafka_config_free(cfg);
	c360_store_close(st);
}

TEST(commit_refused_on_revoke_is_made_after_the_rebalance)
{
	refused_on_revoke("rebal3", false);
}

TEST(stop_during_a_rebalance_commits_what_the_revoke_could_not)
{
	refused_on_revoke("rebal4", true);
}

int main(void)
{
	if (!kafka_test_setup(FAULTS_CONFIG_DEFAULTS, true))
		return 1;
	RUN_SEL(commit_refused_on_revoke_is_made_after_the_rebalance);
	RUN_SEL(stop_during_a_rebalance_commits_what_the_revoke_could_not);
	kafka_test_teardown();
	return test_summary();
}
