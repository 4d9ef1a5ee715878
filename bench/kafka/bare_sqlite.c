/* The bare loop of bench/kafka: consume a topic from the beginning with
 * librdkafka (all partitions assigned, no group) and upsert every record
 * into SQLite (WAL, synchronous=FULL, 1000 records per transaction), the
 * way a naive hand-written sink would. Prints "records seconds". */
#include <librdkafka/rdkafka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: bench_kafka_bare BROKERS TOPIC PARTITIONS DB\n");
		return 2;
	}
	const char *brokers = argv[1], *topic = argv[2], *dbpath = argv[4];
	int parts = (int)strtol(argv[3], NULL, 10);
	char e[256];
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	rd_kafka_conf_set(c, "bootstrap.servers", brokers, e, sizeof e);
	rd_kafka_conf_set(c, "group.id", "bare", e, sizeof e);
	rd_kafka_conf_set(c, "enable.partition.eof", "true", e, sizeof e);
	rd_kafka_conf_set(c, "fetch.wait.max.ms", "10", e, sizeof e);
	rd_kafka_conf_set(c, "enable.auto.commit", "false", e, sizeof e);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, e, sizeof e);
	if (!rk) {
		fprintf(stderr, "%s\n", e);
		return 1;
	}
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(parts);
	for (int i = 0; i < parts; i++)
		rd_kafka_topic_partition_list_add(l, topic, i)->offset = RD_KAFKA_OFFSET_BEGINNING;
	rd_kafka_assign(rk, l);
	rd_kafka_topic_partition_list_destroy(l);

	sqlite3 *db;
	if (sqlite3_open(dbpath, &db) != SQLITE_OK)
		return 1;
	sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
			 "CREATE TABLE IF NOT EXISTS staging(key TEXT PRIMARY KEY, value TEXT NOT NULL)",
		     NULL, NULL, NULL);
	sqlite3_stmt *up;
	sqlite3_prepare_v2(db, "INSERT INTO staging(key, value) VALUES(?1, ?2) "
			       "ON CONFLICT(key) DO UPDATE SET value = excluded.value", -1, &up, NULL);
	sqlite3_stmt *del;
	sqlite3_prepare_v2(db, "DELETE FROM staging WHERE key = ?1", -1, &del, NULL);

	long n = 0, intx = 0;
	int eofs = 0;
	double t0 = 0;
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	while (eofs < parts) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 1000);
		if (!m)
			continue;
		if (m->err) {
			if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
				eofs++;
			rd_kafka_message_destroy(m);
			continue;
		}
		if (!n)
			t0 = now();
		sqlite3_stmt *st = m->payload ? up : del;
		sqlite3_bind_text(st, 1, m->key, (int)m->key_len, SQLITE_STATIC);
		if (m->payload)
			sqlite3_bind_text(st, 2, m->payload, (int)m->len, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE) {
			fprintf(stderr, "sqlite: %s\n", sqlite3_errmsg(db));
			return 1;
		}
		sqlite3_reset(st);
		rd_kafka_message_destroy(m);
		n++;
		if (++intx == 1000) {
			sqlite3_exec(db, "COMMIT; BEGIN", NULL, NULL, NULL);
			intx = 0;
		}
	}
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	double el = now() - t0;
	sqlite3_finalize(up);
	sqlite3_finalize(del);
	sqlite3_close(db);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	printf("%ld %.3f\n", n, el);
	return 0;
}
