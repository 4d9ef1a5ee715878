/* Per-bucket zstd dictionaries (src/store/zval.c): trained from a bucket's
 * first compressed values, committed before any frame uses them, found by
 * every handle (also one opened before the training), kept across reopens;
 * frames without one stay readable; a store of format 2 is upgraded; a
 * missing dictionary is an error, not a crash or a wrong document; when the
 * documents change shape the bucket trains a successor, and documents
 * written with either read back. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "store/store.h"
#include "test.h"
#include "core/banned.h"

static char tmpdir[256];

#define SAMPLES 40

/* A customer-like document of about 600 bytes; i varies its values. */
static size_t doc(int i, char *out, size_t cap)
{
	return (size_t)snprintf(
		out, cap,
		"{\"type\":\"user\",\"profile\":{\"name\":\"Person %d\",\"address1\":\"%d Lakeview Terrace\","
		"\"address2\":\"Suite %d\",\"phone\":\"555.%03d.%04d\",\"city\":\"Springfield\",\"state\":\"MA\"},"
		"\"loyaltyPoints\":\"%d\",\"xrefs\":[{\"external_system\":\"home_delivery\",\"external_ID\":%d,"
		"\"pass\":\"blake2b:%08x%08x\"},{\"external_system\":\"loyalty\",\"external_ID\":\"%d\"}],"
		"\"lineage\":{\"profile.name\":{\"system\":\"home_delivery\",\"external_ID\":%d,\"ts\":%d},"
		"\"profile.address1\":{\"system\":\"home_delivery\",\"external_ID\":%d,\"ts\":%d}}}",
		i, 1000 + i * 7, i % 500, i % 1000, (i * 37) % 10000, i * 13, i, (unsigned)i * 2654435761u,
		(unsigned)i * 40503u, i + 5000, i, 1700000000 + i, i, 1700000000 + i);
}

/* Another shape (an order's change event, about 500 bytes): little in
 * common with doc()'s keys and words. */
static size_t doc_b(int i, char *out, size_t cap)
{
	return (size_t)snprintf(
		out, cap,
		"{\"schema\":{\"type\":\"struct\",\"optional\":false,\"name\":"
		"\"dbserver1.inventory.orders.Envelope\"},\"payload\":{\"op\":\"u\",\"ts_ms\":%d,"
		"\"source\":{\"connector\":\"mysql\",\"db\":\"inventory\",\"table\":\"orders\","
		"\"server_id\":223344,\"file\":\"mysql-bin.%06d\",\"pos\":%d,\"gtid\":null},"
		"\"after\":{\"order_number\":%d,\"order_date\":%d,\"purchaser\":%d,\"quantity\":%d,"
		"\"product_id\":%d,\"warehouse\":\"north-east distribution centre, dock %d\","
		"\"carrier\":\"overnight freight\",\"tracking\":\"ZX%08x\"}}}",
		1700000000 + i * 3, i / 100, i * 977, 10000 + i, 19000 + i % 365, 1001 + i % 97,
		1 + i % 9, 101 + i % 23, i % 12, (unsigned)i * 2246822519u);
}

static c360_store *open_store(const char *path, bool read_only)
{
	struct c360_store_opts o;
	c360_store_opts_init(&o);
	o.synchronous = C360_SYNC_OFF;
	o.sweep_interval_ms = -1;
	o.zdict_samples = SAMPLES;
	o.read_only = read_only;
	c360_store *st = NULL;
	char err[256];
	if (c360_store_open(path, &o, &st, err, sizeof err)) {
		printf("open %s: %s\n", path, err);
		return NULL;
	}
	return st;
}

/* A new store file NAME in the test folder (its path in path[300]), open,
 * with bucket "b". */
static c360_store *new_store_b(const char *name, char path[300])
{
	snprintf(path, 300, "%s/%s", tmpdir, name);
	c360_store *st = open_store(path, false);
	if (st && c360_store_bucket_ensure(st, "b", 0) != C360_OK) {
		c360_store_close(st);
		st = NULL;
	}
	return st;
}

typedef size_t (*doc_fn)(int i, char *out, size_t cap);

/* Documents [from, to) of one shape, under keys PREFIX%05d. */
static void put_docs(c360_store *st, const char *bucket, doc_fn gen, char prefix, int from,
		     int to)
{
	char v[1024], k[32];
	for (int i = from; i < to; i++) {
		size_t n = gen(i, v, sizeof v);
		snprintf(k, sizeof k, "%c%05d", prefix, i);
		CHECK(c360_store_upsert(st, bucket, k, strlen(k), v, n, 0, NULL) == C360_OK);
	}
}

static void put(c360_store *st, const char *bucket, int from, int to)
{
	put_docs(st, bucket, doc, 'k', from, to);
}

/* Every document of [from, to) reads back as written. */
static int check_docs(c360_store *st, const char *bucket, doc_fn gen, char prefix, int from,
		      int to)
{
	char v[1024], k[32];
	int ok = 0;
	for (int i = from; i < to; i++) {
		size_t n = gen(i, v, sizeof v);
		snprintf(k, sizeof k, "%c%05d", prefix, i);
		struct c360_doc d;
		if (c360_store_get(st, bucket, k, strlen(k), &d) == C360_OK) {
			ok += d.value_len == n && !memcmp(d.value, v, n);
			c360_doc_release(&d);
		}
	}
	return ok;
}

static int check_all(c360_store *st, const char *bucket, int from, int to)
{
	return check_docs(st, bucket, doc, 'k', from, to);
}

/* Straight from the SQLite file: the dictionary rows, and for one document
 * its stored bytes and the dictionary ID its frame names (0: no dictionary,
 * or stored as text). */
static int64_t sql_int(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int64_t v = -1;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

static void sql_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	REQUIRE(sqlite3_open(path, &db) == SQLITE_OK);
	char *e = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &e) != SQLITE_OK)
		printf("sql: %s\n", e ? e : "?");
	sqlite3_free(e);
	sqlite3_close(db);
}

static void stored(const char *path, const char *key, unsigned *dict_id, size_t *bytes)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	*dict_id = 0;
	*bytes = 0;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db,
			       "SELECT value, typeof(value)='blob' FROM _b1 WHERE key=?1", -1, &s,
			       NULL) == SQLITE_OK) {
		sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
		if (sqlite3_step(s) == SQLITE_ROW) {
			const void *v = sqlite3_column_blob(s, 0);
			*bytes = (size_t)sqlite3_column_bytes(s, 0);
			if (sqlite3_column_int(s, 1))
				*dict_id = ZSTD_getDictID_fromFrame(v, *bytes);
		}
	}
	sqlite3_finalize(s);
	sqlite3_close(db);
}

static void rm_store(const char *path)
{
	char aux[400];
	unlink(path);
	snprintf(aux, sizeof aux, "%s-wal", path);
	unlink(aux);
	snprintf(aux, sizeof aux, "%s-shm", path);
	unlink(aux);
}

TEST(trained_after_the_samples_and_used_by_every_handle)
{
	char path[300];
	snprintf(path, sizeof path, "%s/zd.db", tmpdir);
	c360_store *st = open_store(path, false);
	REQUIRE(st);
	/* a second handle, opened before the dictionary exists (another process) */
	c360_store *other = open_store(path, false);
	REQUIRE(other);
	REQUIRE(c360_store_bucket_ensure(st, "b", 0) == C360_OK);
	put(st, "b", 0, SAMPLES - 1);
	CHECK_EQ_INT(sql_int(path, "SELECT count(*) FROM _c360_zdict"), 0);
	put(st, "b", SAMPLES - 1, 200); /* the last sample trains it */
	CHECK_EQ_INT(sql_int(path, "SELECT count(*) FROM _c360_zdict WHERE bucket='b'"), 1);
	int64_t id = sql_int(path, "SELECT id FROM _c360_zdict");
	CHECK(id >= 32768);
	CHECK_EQ_INT(sql_int(path, "SELECT samples FROM _c360_zdict"), SAMPLES);
	CHECK_EQ_INT(sql_int(path, "SELECT v FROM _c360_meta WHERE k='format'"), 3);

	/* values before: no dictionary; after: its ID, and smaller */
	unsigned before_id, after_id;
	size_t before_n, after_n;
	stored(path, "k00001", &before_id, &before_n);
	stored(path, "k00150", &after_id, &after_n);
	CHECK_EQ_INT(before_id, 0);
	CHECK_EQ_INT(after_id, id);
	CHECK(before_n > 0 && after_n > 0);
	CHECK(after_n * 2 < before_n); /* several times smaller in practice */

	/* every handle reads both kinds, the feed too */
	CHECK_EQ_INT(check_all(st, "b", 0, 200), 200);
	CHECK_EQ_INT(check_all(other, "b", 0, 200), 200); /* fetched from the store */
	struct c360_buf out;
	c360_buf_init(&out, 0);
	char err[256];
	CHECK(c360_store_query(other, "SELECT count(*) FROM b WHERE json_extract(doc, '$.type')='user'",
			       NULL, &out, err, sizeof err) == C360_OK);
	CHECK(out.data && strstr(out.data, "[[200]]"));
	c360_buf_release(&out);
	/* the other handle writes the bucket with the same dictionary (no
	 * second one) once it knows it; here it knew it from reading */
	put(other, "b", 200, 300);
	CHECK_EQ_INT(sql_int(path, "SELECT count(*) FROM _c360_zdict"), 1);
	stored(path, "k00250", &after_id, &after_n);
	CHECK_EQ_INT(after_id, id);
	c360_store_close(other);

	/* another bucket gets its own */
	REQUIRE(c360_store_bucket_ensure(st, "c", 0) == C360_OK);
	put(st, "c", 0, 100);
	CHECK_EQ_INT(sql_int(path, "SELECT count(*) FROM _c360_zdict"), 2);
	c360_store_close(st);

	/* reopened: read, and written with the same dictionary */
	st = open_store(path, false);
	REQUIRE(st);
	CHECK_EQ_INT(check_all(st, "b", 0, 300), 300);
	put(st, "b", 300, 400);
	CHECK_EQ_INT(sql_int(path, "SELECT count(*) FROM _c360_zdict"), 2);
	CHECK_EQ_INT(check_all(st, "b", 300, 400), 100);
	c360_store_close(st);
	st = open_store(path, true);
	REQUIRE(st);
	CHECK_EQ_INT(check_all(st, "b", 0, 400), 400);
	CHECK_EQ_INT(check_all(st, "c", 0, 100), 100);
	c360_store_close(st);

	/* a dictionary gone (a damaged file): those documents fail as damaged,
	 * the others still read */
	sql_exec(path, "DELETE FROM _c360_zdict WHERE bucket='b'");
	st = open_store(path, false);
	REQUIRE(st);
	struct c360_doc d;
	CHECK_EQ_INT(c360_store_get(st, "b", "k00150", 6, &d), C360_ERR_CORRUPT);
	CHECK_EQ_INT(check_all(st, "b", 0, 5), 5);
	CHECK_EQ_INT(check_all(st, "c", 0, 100), 100);
	c360_store_close(st);
	rm_store(path);
}

/* Windows of 4 × SAMPLES values: the first after training is the baseline. */
TEST(retrained_when_the_documents_change_shape)
{
	char path[300];
	c360_store *st = new_store_b("shape.db", path);
	REQUIRE(st);
	/* trained on the first shape, then two windows of it: no successor */
	put(st, "b", 0, SAMPLES + 8 * SAMPLES);
	CHECK_EQ_INT(sql_int(path, "SELECT count(*) FROM _c360_zdict WHERE bucket='b'"), 1);
	int64_t first = sql_int(path, "SELECT min(id) FROM _c360_zdict");
	/* the other shape: a window of it, a window sampled, then its
	 * dictionary */
	put_docs(st, "b", doc_b, 'o', 0, 8 * SAMPLES + 100);
	CHECK_EQ_INT(sql_int(path, "SELECT count(*) FROM _c360_zdict WHERE bucket='b'"), 2);
	int64_t second = sql_int(path, "SELECT max(id) FROM _c360_zdict");
	CHECK(second > first);
	/* judged by one half of the window's samples trained on the other,
	 * then trained on all of them: every other value of the window */
	CHECK_EQ_INT(sql_int(path, "SELECT samples FROM _c360_zdict WHERE id=(SELECT max(id) FROM "
				   "_c360_zdict)"),
		     2 * SAMPLES);
	unsigned early_id, late_id;
	size_t early_n, late_n;
	stored(path, "o00010", &early_id, &early_n);
	stored(path, "o00410", &late_id, &late_n);
	/* with the first dictionary, or as text when that saved too little */
	CHECK(early_id == first || early_id == 0);
	CHECK_EQ_INT(late_id, second);
	CHECK(early_n > 0 && late_n > 0);
	CHECK(late_n * 2 < early_n); /* the successor fits the new shape */
	/* the first shape's documents keep their frames and read back */
	unsigned kid;
	size_t kn;
	stored(path, "k00100", &kid, &kn);
	CHECK_EQ_INT(kid, first);
	CHECK_EQ_INT(check_all(st, "b", 0, 9 * SAMPLES), 9 * SAMPLES);
	CHECK_EQ_INT(check_docs(st, "b", doc_b, 'o', 0, 8 * SAMPLES + 100), 8 * SAMPLES + 100);
	c360_store_close(st);

	/* reopened: both read, new documents of the new shape use the successor */
	st = open_store(path, false);
	REQUIRE(st);
	put_docs(st, "b", doc_b, 'o', 1000, 1010);
	stored(path, "o01005", &late_id, &late_n);
	CHECK_EQ_INT(late_id, second);
	CHECK_EQ_INT(check_all(st, "b", 0, 9 * SAMPLES), 9 * SAMPLES);
	CHECK_EQ_INT(check_docs(st, "b", doc_b, 'o', 1000, 1010), 10);
	c360_store_close(st);
	rm_store(path);
}

/* The baseline outlives the process that measured it: a later process (a
 * nightly import, a restarted pipeline) compares its first window with it
 * instead of taking that window as the baseline. */
TEST(baseline_kept_for_later_processes)
{
	char path[300];
	c360_store *st = new_store_b("later.db", path);
	REQUIRE(st);
	put(st, "b", 0, SAMPLES + 4 * SAMPLES); /* trained, then its baseline */
	c360_store_close(st);
	int64_t id = sql_int(path, "SELECT id FROM _c360_zdict");
	char sql[200];
	snprintf(sql, sizeof sql, "SELECT v > 0 AND v < 0.5 FROM _c360_meta WHERE k='zbase:%lld'",
		 (long long)id);
	CHECK_EQ_INT(sql_int(path, sql), 1);

	st = open_store(path, false);
	REQUIRE(st);
	put_docs(st, "b", doc_b, 'o', 0, 8 * SAMPLES + 100);
	CHECK_EQ_INT(sql_int(path, "SELECT count(*) FROM _c360_zdict WHERE bucket='b'"), 2);
	unsigned late_id;
	size_t late_n;
	stored(path, "o00410", &late_id, &late_n);
	CHECK_EQ_INT(late_id, sql_int(path, "SELECT max(id) FROM _c360_zdict"));
	CHECK_EQ_INT(check_docs(st, "b", doc_b, 'o', 0, 8 * SAMPLES + 100), 8 * SAMPLES + 100);
	CHECK_EQ_INT(check_all(st, "b", 0, 5 * SAMPLES), 5 * SAMPLES);
	c360_store_close(st);
	rm_store(path);
}

/* doc() of the first dictionary's own samples, over and over. */
static size_t doc_again(int i, char *out, size_t cap)
{
	return doc(i % SAMPLES, out, cap);
}

/* A successor that does no better on the values it did not train on is
 * dropped, and the bucket is not retrained again in that process. Here the
 * other shape comes in one burst that triggers the sampling, and the
 * window sampled is the first dictionary's own samples again: the
 * successor trains on the even ones, and the first dictionary, which holds
 * them all, stores the odd ones better. */
TEST(successor_dropped_when_no_better)
{
	char path[300];
	c360_store *st = new_store_b("burst.db", path);
	REQUIRE(st);
	put(st, "b", 0, SAMPLES + 8 * SAMPLES);
	int64_t id = sql_int(path, "SELECT id FROM _c360_zdict");
	put_docs(st, "b", doc_b, 'o', 0, 4 * SAMPLES);         /* triggers */
	put_docs(st, "b", doc_again, 'r', 0, 4 * SAMPLES + 10); /* sampled */
	CHECK_EQ_INT(sql_int(path, "SELECT count(*) FROM _c360_zdict WHERE bucket='b'"), 1);
	unsigned rid;
	size_t n;
	stored(path, "r00155", &rid, &n);
	CHECK_EQ_INT(rid, id);
	/* at most once in a process: the other shape now keeps it */
	put_docs(st, "b", doc_b, 'o', 1000, 1000 + 12 * SAMPLES);
	CHECK_EQ_INT(sql_int(path, "SELECT count(*) FROM _c360_zdict WHERE bucket='b'"), 1);
	CHECK_EQ_INT(check_all(st, "b", 0, 9 * SAMPLES), 9 * SAMPLES);
	CHECK_EQ_INT(check_docs(st, "b", doc_again, 'r', 0, 4 * SAMPLES + 10), 4 * SAMPLES + 10);
	CHECK_EQ_INT(check_docs(st, "b", doc_b, 'o', 1000, 1000 + 12 * SAMPLES), 12 * SAMPLES);
	c360_store_close(st);
	rm_store(path);
}

TEST(format_2_store_is_upgraded)
{
	char path[300];
	c360_store *st = new_store_b("old.db", path);
	REQUIRE(st);
	c360_store_set_compression(st, 0);
	put(st, "b", 0, 10);
	c360_store_close(st);
	/* as a build before dictionaries left it */
	sql_exec(path, "DROP TABLE _c360_zdict; UPDATE _c360_meta SET v=2 WHERE k='format'");
	st = open_store(path, true); /* read-only: readable, not upgraded */
	REQUIRE(st);
	CHECK_EQ_INT(check_all(st, "b", 0, 10), 10);
	c360_store_close(st);
	CHECK_EQ_INT(sql_int(path, "SELECT v FROM _c360_meta WHERE k='format'"), 2);
	st = open_store(path, false);
	REQUIRE(st);
	CHECK_EQ_INT(sql_int(path, "SELECT v FROM _c360_meta WHERE k='format'"), 3);
	put(st, "b", 10, 100);
	CHECK_EQ_INT(sql_int(path, "SELECT count(*) FROM _c360_zdict"), 1);
	CHECK_EQ_INT(check_all(st, "b", 0, 100), 100);
	c360_store_close(st);
	rm_store(path);
}

TEST(off_when_asked)
{
	char path[300];
	snprintf(path, sizeof path, "%s/off.db", tmpdir);
	struct c360_store_opts o;
	c360_store_opts_init(&o);
	o.synchronous = C360_SYNC_OFF;
	o.sweep_interval_ms = -1;
	o.zdict_samples = -1;
	c360_store *st = NULL;
	REQUIRE(c360_store_open(path, &o, &st, NULL, 0) == C360_OK);
	REQUIRE(c360_store_bucket_ensure(st, "b", 0) == C360_OK);
	put(st, "b", 0, 200);
	CHECK_EQ_INT(sql_int(path, "SELECT count(*) FROM _c360_zdict"), 0);
	CHECK_EQ_INT(check_all(st, "b", 0, 200), 200);
	c360_store_close(st);
	rm_store(path);
}

int main(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/c360-test-zdict-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(trained_after_the_samples_and_used_by_every_handle);
	RUN(retrained_when_the_documents_change_shape);
	RUN(successor_dropped_when_no_better);
	RUN(baseline_kept_for_later_processes);
	RUN(format_2_store_is_upgraded);
	RUN(off_when_asked);
	rmdir(tmpdir);
	return test_summary();
}
