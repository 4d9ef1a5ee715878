/* Unit tests of the document store (src/store): buckets, every document
 * operation and error code, CAS, expiry, the change feed, cursors, group
 * commit, read-only SQL and bad store files. */
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/json.h"
#include "store/store.h"
#include "store/store_int.h"
#include "test.h"
#include "core/banned.h"

static char tmpdir[256];
static int nstore;

static void path_for(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
}

static c360_store *open_new(void)
{
	char path[300];
	snprintf(path, sizeof path, "%s/s%d.db", tmpdir, nstore++);
	struct c360_store_opts o;
	c360_store_opts_init(&o);
	o.synchronous = C360_SYNC_OFF;
	o.sweep_interval_ms = -1;
	c360_store *st = NULL;
	char err[256];
	c360_rc rc = c360_store_open(path, &o, &st, err, sizeof err);
	if (rc)
		printf("open %s: %s\n", path, err);
	return st;
}

#define S(x) x, strlen(x)

/* fake clock */
static int64_t fake_now = 1800000000;
static int64_t fake_clock(void *ctx)
{
	(void)ctx;
	return fake_now;
}

TEST(open_creates_and_reopens)
{
	char path[300];
	path_for(path, sizeof path, "reopen.db");
	c360_store *st = NULL;
	char err[256] = "";
	REQUIRE(c360_store_open(path, NULL, &st, err, sizeof err) == C360_OK);
	CHECK_EQ_STR(c360_store_path(st), path);
	CHECK(c360_store_bucket_create(st, "staging", 0, err, sizeof err) == C360_OK);
	CHECK(c360_store_upsert(st, "staging", S("k"), S("{\"a\":1}"), 0, NULL) == C360_OK);
	c360_store_close(st);
	REQUIRE(c360_store_open(path, NULL, &st, err, sizeof err) == C360_OK);
	struct c360_doc d;
	CHECK(c360_store_get(st, "staging", S("k"), &d) == C360_OK);
	CHECK_EQ_STR(d.value, "{\"a\":1}");
	c360_doc_release(&d);
	c360_store_close(st);
	c360_store_close(NULL);
}

TEST(no_create_and_read_only)
{
	char path[300];
	path_for(path, sizeof path, "absent.db");
	struct c360_store_opts o;
	c360_store_opts_init(&o);
	CHECK_EQ_INT(o.synchronous, C360_SYNC_FULL);
	CHECK_EQ_INT(o.busy_timeout_ms, 5000);
	o.no_create = true;
	c360_store *st = NULL;
	char err[256] = "";
	CHECK(c360_store_open(path, &o, &st, err, sizeof err) == C360_ERR_NOT_FOUND);
	CHECK(st == NULL);
	/* read-only: reads work, every write is denied */
	c360_store *w = open_new();
	REQUIRE(w);
	CHECK(c360_store_bucket_create(w, "b", 0, NULL, 0) == C360_OK);
	CHECK(c360_store_upsert(w, "b", S("k"), S("1"), 0, NULL) == C360_OK);
	c360_store_opts_init(&o);
	o.read_only = true;
	REQUIRE(c360_store_open(c360_store_path(w), &o, &st, err, sizeof err) == C360_OK);
	struct c360_doc d;
	CHECK(c360_store_get(st, "b", S("k"), &d) == C360_OK);
	c360_doc_release(&d);
	CHECK(c360_store_upsert(st, "b", S("k"), S("2"), 0, NULL) == C360_ERR_DENIED);
	CHECK(c360_store_bucket_create(st, "c", 0, NULL, 0) == C360_ERR_DENIED);
	CHECK(c360_store_bucket_drop(st, "b") == C360_ERR_DENIED);
	CHECK(c360_feed_cursor_set(st, "b", "x", 1) == C360_ERR_DENIED);
	CHECK(c360_store_sweep(st, NULL, 0, NULL) == C360_ERR_DENIED);
	c360_store_close(st);
	c360_store_close(w);
}

static void write_file(const char *path, const void *data, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return;
	fwrite(data, 1, n, f);
	fclose(f);
}

TEST(not_a_store_is_corrupt)
{
	char path[300], err[256];
	c360_store *st = NULL;
	/* random bytes */
	path_for(path, sizeof path, "random.bin");
	char junk[8192];
	for (size_t i = 0; i < sizeof junk; i++)
		junk[i] = (char)(i * 131 + 7);
	write_file(path, junk, sizeof junk);
	CHECK(c360_store_open(path, NULL, &st, err, sizeof err) == C360_ERR_CORRUPT);
	if (!strstr(err, "not a c360 store"))
		printf("  err: %s\n", err);
	CHECK(strstr(err, "not a c360 store") != NULL);
	CHECK(st == NULL);
	/* a text file */
	path_for(path, sizeof path, "text.txt");
	const char *txt = "hello, this is not a database at all, just some text\n";
	write_file(path, txt, strlen(txt));
	CHECK(c360_store_open(path, NULL, &st, err, sizeof err) == C360_ERR_CORRUPT);
	/* a directory */
	path_for(path, sizeof path, "adir");
	mkdir(path, 0700);
	CHECK(c360_store_open(path, NULL, &st, err, sizeof err) == C360_ERR_CORRUPT);
	/* an SQLite database of another application */
	path_for(path, sizeof path, "other.sqlite");
	char cmd[400];
	snprintf(cmd, sizeof cmd, "sqlite3 '%s' 'CREATE TABLE t(x); INSERT INTO t VALUES(1);'", path);
	if (system(cmd) == 0) {
		CHECK(c360_store_open(path, NULL, &st, err, sizeof err) == C360_ERR_CORRUPT);
		CHECK(strstr(err, "another application") != NULL);
	}
	/* a c360 store whose pages were overwritten */
	c360_store *w = open_new();
	REQUIRE(w);
	CHECK(c360_store_bucket_create(w, "b", 0, NULL, 0) == C360_OK);
	char big[4000];
	memset(big, 'x', sizeof big);
	big[0] = '"';
	big[sizeof big - 1] = '"';
	for (int i = 0; i < 50; i++) {
		char key[16];
		snprintf(key, sizeof key, "k%d", i);
		c360_store_upsert(w, "b", S(key), big, sizeof big, 0, NULL);
	}
	char wpath[300];
	snprintf(wpath, sizeof wpath, "%s", c360_store_path(w));
	c360_store_close(w);
	FILE *f = fopen(wpath, "r+b");
	REQUIRE(f);
	fseek(f, 4096, SEEK_SET);
	fwrite(junk, 1, sizeof junk, f);
	fclose(f);
	c360_rc rc = c360_store_open(wpath, NULL, &st, err, sizeof err);
	if (rc == C360_OK) {
		/* the damage may only show when the pages are read */
		struct c360_bucket_info *l = NULL;
		size_t n = 0;
		c360_rc r2 = c360_store_bucket_list(st, &l, &n);
		free(l);
		struct c360_doc d;
		c360_rc r3 = c360_store_get(st, "b", S("k7"), &d);
		c360_doc_release(&d);
		CHECK(r2 != C360_OK || r3 != C360_OK);
		c360_store_close(st);
	} else {
		CHECK(rc == C360_ERR_CORRUPT);
	}
}

TEST(buckets)
{
	c360_store *st = open_new();
	REQUIRE(st);
	char err[256] = "";
	CHECK(c360_store_bucket_create(st, "staging", 0, err, sizeof err) == C360_OK);
	CHECK(c360_store_bucket_create(st, "staging", 0, err, sizeof err) == C360_ERR_EXISTS);
	CHECK(strstr(err, "staging") != NULL);
	CHECK(c360_store_bucket_create(st, "customer360", 3600, err, sizeof err) == C360_OK);
	CHECK(c360_store_bucket_create(st, "a.b-c%d_e", 0, err, sizeof err) == C360_OK);
	CHECK(c360_store_bucket_create(st, "_x", 0, err, sizeof err) == C360_ERR_INVALID);
	CHECK(strstr(err, "'_x'") != NULL);
	CHECK(c360_store_bucket_create(st, ".x", 0, err, sizeof err) == C360_ERR_INVALID);
	CHECK(c360_store_bucket_create(st, "", 0, err, sizeof err) == C360_ERR_INVALID);
	CHECK(c360_store_bucket_create(st, "a b", 0, err, sizeof err) == C360_ERR_INVALID);
	CHECK(c360_store_bucket_create(st, "a\"b", 0, err, sizeof err) == C360_ERR_INVALID);
	char longname[120];
	memset(longname, 'a', sizeof longname);
	longname[101] = '\0';
	CHECK(c360_store_bucket_create(st, longname, 0, err, sizeof err) == C360_ERR_INVALID);
	longname[100] = '\0';
	CHECK(c360_store_bucket_create(st, longname, 0, err, sizeof err) == C360_OK);
	CHECK(c360_store_bucket_ensure(st, "staging", 99) == C360_OK);
	CHECK(c360_store_bucket_ensure(st, C360_META_BUCKET, 0) == C360_OK);

	CHECK(c360_store_upsert(st, "staging", S("a"), S("{\"x\":1}"), 0, NULL) == C360_OK);
	CHECK(c360_store_upsert(st, "staging", S("bb"), S("[1,2]"), 0, NULL) == C360_OK);
	struct c360_bucket_info info;
	REQUIRE(c360_store_bucket_info(st, "staging", &info) == C360_OK);
	CHECK_EQ_STR(info.name, "staging");
	CHECK_EQ_INT(info.count, 2);
	CHECK_EQ_INT(info.bytes, 1 + 7 + 2 + 5);
	CHECK_EQ_INT(info.max_ttl, 0); /* ensure kept it */
	CHECK_EQ_INT(info.high_seqno, 2);
	CHECK(c360_store_bucket_info(st, "nope", &info) == C360_ERR_NOT_FOUND);

	struct c360_bucket_info *list = NULL;
	size_t n = 0;
	REQUIRE(c360_store_bucket_list(st, &list, &n) == C360_OK);
	REQUIRE(n == 5);
	CHECK_EQ_STR(list[0].name, "a.b-c%d_e");
	CHECK_EQ_STR(list[2].name, C360_META_BUCKET);
	CHECK_EQ_STR(list[3].name, "customer360");
	CHECK_EQ_INT(list[3].max_ttl, 3600);
	CHECK_EQ_STR(list[4].name, "staging");
	CHECK_EQ_INT(list[4].count, 2);
	free(list);

	CHECK(c360_feed_cursor_set(st, "staging", "fn", 2) == C360_OK);
	CHECK(c360_store_bucket_drop(st, "staging") == C360_OK);
	CHECK(c360_store_bucket_drop(st, "staging") == C360_ERR_NOT_FOUND);
	struct c360_doc d;
	CHECK(c360_store_get(st, "staging", S("a"), &d) == C360_ERR_NOT_FOUND);
	/* re-created: empty, fresh feed, no cursors */
	CHECK(c360_store_bucket_create(st, "staging", 0, err, sizeof err) == C360_OK);
	CHECK(c360_store_get(st, "staging", S("a"), &d) == C360_ERR_NOT_FOUND);
	uint64_t hs = 99, cur = 0;
	CHECK(c360_feed_high_seqno(st, "staging", &hs) == C360_OK);
	CHECK_EQ_INT(hs, 0);
	CHECK(c360_feed_cursor_get(st, "staging", "fn", &cur) == C360_ERR_NOT_FOUND);
	c360_store_close(st);
}

TEST(document_operations)
{
	c360_store *st = open_new();
	REQUIRE(st);
	REQUIRE(c360_store_bucket_create(st, "b", 0, NULL, 0) == C360_OK);
	uint64_t c1 = 0, c2 = 0, c3 = 0, c4 = 0;
	struct c360_doc d;

	/* insert: fails when present */
	CHECK(c360_store_insert(st, "b", S("k"), S("{\"v\":1}"), 0, &c1) == C360_OK);
	CHECK(c1 != 0);
	CHECK(c360_store_insert(st, "b", S("k"), S("{\"v\":2}"), 0, &c2) == C360_ERR_EXISTS);
	CHECK_EQ_INT(c2, 0);
	REQUIRE(c360_store_get(st, "b", S("k"), &d) == C360_OK);
	CHECK_EQ_STR(d.key, "k");
	CHECK_EQ_INT(d.key_len, 1);
	CHECK_EQ_STR(d.value, "{\"v\":1}");
	CHECK_EQ_INT(d.value_len, 7);
	CHECK(d.cas == c1);
	CHECK_EQ_INT(d.expiry, 0);
	CHECK_EQ_INT(d.seqno, 1);
	c360_doc_release(&d);

	/* upsert: CAS changes on every write */
	CHECK(c360_store_upsert(st, "b", S("k"), S("{\"v\":3}"), 0, &c2) == C360_OK);
	CHECK(c2 != c1);
	CHECK(c2 > c1);
	/* replace with a wrong CAS, the right one, no CAS */
	CHECK(c360_store_replace(st, "b", S("k"), S("{\"v\":4}"), 0, c1, &c3) == C360_ERR_CAS);
	CHECK(c360_store_replace(st, "b", S("k"), S("{\"v\":4}"), 0, c2, &c3) == C360_OK);
	CHECK(c3 > c2);
	CHECK(c360_store_replace(st, "b", S("k"), S("{\"v\":5}"), 0, 0, &c4) == C360_OK);
	CHECK(c360_store_replace(st, "b", S("nokey"), S("1"), 0, 0, NULL) == C360_ERR_NOT_FOUND);
	CHECK(c360_store_replace(st, "b", S("nokey"), S("1"), 0, 123, NULL) == C360_ERR_NOT_FOUND);
	REQUIRE(c360_store_get(st, "b", S("k"), &d) == C360_OK);
	CHECK_EQ_STR(d.value, "{\"v\":5}");
	CHECK(d.cas == c4);
	CHECK_EQ_INT(d.seqno, 4);
	c360_doc_release(&d);

	/* touch */
	uint64_t c5 = 0;
	CHECK(c360_store_touch(st, "b", S("k"), 4000000000u, &c5) == C360_OK);
	CHECK(c5 > c4);
	REQUIRE(c360_store_get(st, "b", S("k"), &d) == C360_OK);
	CHECK_EQ_INT(d.expiry, 4000000000u);
	CHECK_EQ_STR(d.value, "{\"v\":5}");
	c360_doc_release(&d);
	CHECK(c360_store_touch(st, "b", S("nokey"), 10, NULL) == C360_ERR_NOT_FOUND);

	/* delete with wrong CAS, right CAS; then absent */
	CHECK(c360_store_delete(st, "b", S("k"), c1) == C360_ERR_CAS);
	CHECK(c360_store_delete(st, "b", S("k"), c5) == C360_OK);
	CHECK(c360_store_get(st, "b", S("k"), &d) == C360_ERR_NOT_FOUND);
	CHECK(c360_store_delete(st, "b", S("k"), 0) == C360_ERR_NOT_FOUND);
	CHECK(c360_store_replace(st, "b", S("k"), S("1"), 0, 0, NULL) == C360_ERR_NOT_FOUND);
	/* insert over a tombstone works */
	CHECK(c360_store_insert(st, "b", S("k"), S("\"again\""), 0, NULL) == C360_OK);
	REQUIRE(c360_store_get(st, "b", S("k"), &d) == C360_OK);
	CHECK_EQ_STR(d.value, "\"again\"");
	c360_doc_release(&d);

	/* unknown bucket */
	CHECK(c360_store_upsert(st, "nob", S("k"), S("1"), 0, NULL) == C360_ERR_NOT_FOUND);
	CHECK(c360_store_get(st, "nob", S("k"), &d) == C360_ERR_NOT_FOUND);
	c360_doc_release(NULL);
	c360_store_close(st);
}

TEST(bad_input)
{
	c360_store *st = open_new();
	REQUIRE(st);
	REQUIRE(c360_store_bucket_create(st, "b", 0, NULL, 0) == C360_OK);
	struct c360_doc d;
	/* invalid JSON: nothing written */
	CHECK(c360_store_upsert(st, "b", S("k"), S("{\"a\":1,}"), 0, NULL) == C360_ERR_INVALID);
	CHECK(c360_store_upsert(st, "b", S("k"), S("{bad"), 0, NULL) == C360_ERR_INVALID);
	CHECK(c360_store_insert(st, "b", S("k"), S(""), 0, NULL) == C360_ERR_INVALID);
	CHECK(c360_store_get(st, "b", S("k"), &d) == C360_ERR_NOT_FOUND);
	uint64_t hs = 1;
	CHECK(c360_feed_high_seqno(st, "b", &hs) == C360_OK);
	CHECK_EQ_INT(hs, 0);
	/* keys: empty, too long, invalid UTF-8, NUL */
	char key[300];
	memset(key, 'k', sizeof key);
	CHECK(c360_store_upsert(st, "b", key, 0, S("1"), 0, NULL) == C360_ERR_INVALID);
	CHECK(c360_store_upsert(st, "b", key, 251, S("1"), 0, NULL) == C360_ERR_TOO_BIG);
	CHECK(c360_store_upsert(st, "b", key, 250, S("1"), 0, NULL) == C360_OK);
	CHECK(c360_store_upsert(st, "b", "\xff\xfe", 2, S("1"), 0, NULL) == C360_ERR_INVALID);
	CHECK(c360_store_upsert(st, "b", "a\0b", 3, S("1"), 0, NULL) == C360_ERR_INVALID);
	CHECK(c360_store_upsert(st, "b", S("caf\xc3\xa9 \xe2\x82\xac"), S("1"), 0, NULL) ==
	      C360_OK);
	CHECK(c360_store_get(st, "b", key, 251, &d) == C360_ERR_TOO_BIG);
	/* value too big */
	size_t big = C360_VALUE_MAX + 1;
	char *v = malloc(big);
	REQUIRE(v);
	memset(v, ' ', big);
	v[0] = '1';
	CHECK(c360_store_upsert(st, "b", S("big"), v, big, 0, NULL) == C360_ERR_TOO_BIG);
	/* exactly the limit is fine */
	v[0] = '"';
	memset(v + 1, 'x', C360_VALUE_MAX - 2);
	v[C360_VALUE_MAX - 1] = '"';
	CHECK(c360_store_upsert(st, "b", S("big"), v, C360_VALUE_MAX, 0, NULL) == C360_OK);
	REQUIRE(c360_store_get(st, "b", S("big"), &d) == C360_OK);
	CHECK_EQ_INT(d.value_len, C360_VALUE_MAX);
	c360_doc_release(&d);
	free(v);
	/* trusted JSON skips the check (caller's responsibility) */
	struct c360_write w = {.type = C360_WRITE_UPSERT, .bucket = "b", .key = "t", .key_len = 1,
			       .value = "{}", .value_len = 2, .flags = C360_WRITE_TRUSTED_JSON};
	CHECK(c360_store_write(st, &w, 1) == C360_OK);
	CHECK(w.rc == C360_OK);
	/* a bad op type */
	w.type = (enum c360_write_type)42;
	CHECK(c360_store_write(st, &w, 1) == C360_OK);
	CHECK(w.rc == C360_ERR_INVALID);
	c360_store_close(st);
}

TEST(expiry_absolute_boundary)
{
	int64_t now = 1700000000;
	CHECK_EQ_INT(c360_expiry_absolute(0, now), 0);
	CHECK_EQ_INT(c360_expiry_absolute(1, now), now + 1);
	CHECK_EQ_INT(c360_expiry_absolute(90000, now), now + 90000);
	/* just below 30 days: relative; 30 days and above: absolute */
	CHECK_EQ_INT(c360_expiry_absolute(C360_EXPIRY_RELATIVE_MAX - 1, now),
		     now + C360_EXPIRY_RELATIVE_MAX - 1);
	CHECK_EQ_INT(c360_expiry_absolute(C360_EXPIRY_RELATIVE_MAX, now), C360_EXPIRY_RELATIVE_MAX);
	CHECK_EQ_INT(c360_expiry_absolute(1800000000u, now), 1800000000u);
	/* no overflow near the end of uint32 time */
	CHECK_EQ_INT(c360_expiry_absolute(100, (int64_t)UINT32_MAX - 10), UINT32_MAX);
}

struct evlog {
	int n;
	uint64_t seqno[64];
	int op[64];
	char key[64][32];
	char value[64][64];
	uint32_t expiry[64];
	uint64_t cas[64];
	int stop_after;
};

static int log_cb(const struct c360_feed_event *ev, void *ctx)
{
	struct evlog *l = ctx;
	if (l->n < 64) {
		l->seqno[l->n] = ev->seqno;
		l->op[l->n] = ev->op;
		snprintf(l->key[l->n], sizeof l->key[0], "%.*s", (int)ev->key_len, ev->key);
		snprintf(l->value[l->n], sizeof l->value[0], "%.*s", (int)ev->value_len,
			 ev->value ? ev->value : "");
		if (!ev->value)
			l->value[l->n][0] = '\0';
		l->expiry[l->n] = ev->expiry;
		l->cas[l->n] = ev->cas;
	}
	l->n++;
	return l->stop_after && l->n >= l->stop_after;
}

TEST(expiry_and_sweep)
{
	c360_store *st = open_new();
	REQUIRE(st);
	c360_store_set_clock(st, fake_clock, NULL);
	fake_now = 1800000000;
	REQUIRE(c360_store_bucket_create(st, "b", 0, NULL, 0) == C360_OK);
	struct c360_doc d;
	/* relative expiry is stored as absolute */
	CHECK(c360_store_upsert(st, "b", S("rel"), S("1"), 100, NULL) == C360_OK);
	REQUIRE(c360_store_get(st, "b", S("rel"), &d) == C360_OK);
	CHECK_EQ_INT(d.expiry, 1800000100);
	c360_doc_release(&d);
	/* 30 days is absolute: a 1970 date, already expired, never returned */
	CHECK(c360_store_upsert(st, "b", S("abs30d"), S("2"), C360_EXPIRY_RELATIVE_MAX, NULL) ==
	      C360_OK);
	CHECK(c360_store_get(st, "b", S("abs30d"), &d) == C360_ERR_NOT_FOUND);
	/* just under 30 days is relative */
	CHECK(c360_store_upsert(st, "b", S("rel30d"), S("3"), C360_EXPIRY_RELATIVE_MAX - 1, NULL) ==
	      C360_OK);
	REQUIRE(c360_store_get(st, "b", S("rel30d"), &d) == C360_OK);
	CHECK_EQ_INT(d.expiry, 1800000000 + C360_EXPIRY_RELATIVE_MAX - 1);
	c360_doc_release(&d);
	CHECK(c360_store_upsert(st, "b", S("forever"), S("4"), 0, NULL) == C360_OK);

	/* time passes: rel expires at exactly its expiry second */
	fake_now = 1800000099;
	CHECK(c360_store_get(st, "b", S("rel"), &d) == C360_OK);
	c360_doc_release(&d);
	fake_now = 1800000100;
	CHECK(c360_store_get(st, "b", S("rel"), &d) == C360_ERR_NOT_FOUND);
	/* expired: replace/touch/delete see nothing, insert succeeds */
	CHECK(c360_store_replace(st, "b", S("rel"), S("5"), 0, 0, NULL) == C360_ERR_NOT_FOUND);
	CHECK(c360_store_touch(st, "b", S("abs30d"), 0, NULL) == C360_ERR_NOT_FOUND);
	CHECK(c360_store_delete(st, "b", S("abs30d"), 0) == C360_ERR_NOT_FOUND);
	struct c360_bucket_info info;
	REQUIRE(c360_store_bucket_info(st, "b", &info) == C360_OK);
	CHECK_EQ_INT(info.count, 2);
	/* the query does not see them either */
	struct c360_buf out;
	c360_buf_init(&out, 0);
	char err[256];
	CHECK(c360_store_query(st, "SELECT key FROM b ORDER BY key", NULL, &out, err, sizeof err) ==
	      C360_OK);
	CHECK_EQ_STR(c360_buf_cstr(&out),
		     "{\"columns\":[\"key\"],\"rows\":[[\"forever\"],[\"rel30d\"]],\"truncated\":false}");
	c360_buf_release(&out);

	uint64_t hs = 0;
	CHECK(c360_feed_high_seqno(st, "b", &hs) == C360_OK);
	CHECK_EQ_INT(hs, 4);
	/* before the sweep the feed does not pass expired documents as mutations */
	struct evlog pre;
	memset(&pre, 0, sizeof pre);
	uint64_t plast = 0;
	CHECK(c360_feed_read(st, "b", 0, 0, log_cb, &pre, &plast) == C360_OK);
	REQUIRE(pre.n == 2);
	CHECK_EQ_STR(pre.key[0], "rel30d");
	CHECK_EQ_STR(pre.key[1], "forever");
	CHECK_EQ_INT(plast, 4);
	memset(&pre, 0, sizeof pre);
	CHECK(c360_feed_read(st, "b", 0, 1, log_cb, &pre, &plast) == C360_OK);
	CHECK_EQ_INT(pre.n, 1);
	CHECK_EQ_INT(plast, 3);
	/* sweep: two expiration events, in the feed after the high seqno */
	size_t n = 0;
	CHECK(c360_store_sweep(st, "b", 0, &n) == C360_OK);
	CHECK_EQ_INT(n, 2);
	CHECK(c360_store_sweep(st, NULL, 0, &n) == C360_OK);
	CHECK_EQ_INT(n, 0);
	CHECK(c360_store_sweep(st, "nob", 0, &n) == C360_ERR_NOT_FOUND);
	struct evlog l;
	memset(&l, 0, sizeof l);
	uint64_t last = 0;
	CHECK(c360_feed_read(st, "b", 4, 0, log_cb, &l, &last) == C360_OK);
	REQUIRE(l.n == 2);
	CHECK_EQ_INT(l.op[0], C360_FEED_EXPIRATION);
	CHECK_EQ_INT(l.op[1], C360_FEED_EXPIRATION);
	CHECK_EQ_STR(l.value[0], "");
	CHECK(!strcmp(l.key[0], "abs30d") || !strcmp(l.key[0], "rel"));
	CHECK(strcmp(l.key[0], l.key[1]) != 0);
	CHECK_EQ_INT(l.seqno[0], 5);
	CHECK_EQ_INT(last, 6);
	CHECK_EQ_STR(c360_feed_op_str(C360_FEED_EXPIRATION), "expiration");
	CHECK_EQ_STR(c360_feed_op_str(C360_FEED_MUTATION), "mutation");
	CHECK_EQ_STR(c360_feed_op_str(C360_FEED_DELETION), "deletion");

	/* sweep limit */
	for (int i = 0; i < 5; i++) {
		char k[16];
		snprintf(k, sizeof k, "e%d", i);
		CHECK(c360_store_upsert(st, "b", S(k), S("0"), 10, NULL) == C360_OK);
	}
	fake_now += 11;
	CHECK(c360_store_sweep(st, "b", 3, &n) == C360_OK);
	CHECK_EQ_INT(n, 3);
	CHECK(c360_store_sweep(st, "b", 0, &n) == C360_OK);
	CHECK_EQ_INT(n, 2);

	/* touch extends the life; KEEP_EXPIRY keeps it over an upsert */
	CHECK(c360_store_upsert(st, "b", S("t"), S("0"), 10, NULL) == C360_OK);
	CHECK(c360_store_touch(st, "b", S("t"), 1000, NULL) == C360_OK);
	struct c360_write w = {.type = C360_WRITE_UPSERT, .bucket = "b", .key = "t", .key_len = 1,
			       .value = "7", .value_len = 1, .flags = C360_WRITE_KEEP_EXPIRY};
	CHECK(c360_store_write(st, &w, 1) == C360_OK && w.rc == C360_OK);
	REQUIRE(c360_store_get(st, "b", S("t"), &d) == C360_OK);
	CHECK_EQ_INT(d.expiry, fake_now + 1000);
	CHECK_EQ_STR(d.value, "7");
	c360_doc_release(&d);
	/* a plain upsert with expiry 0 clears it */
	CHECK(c360_store_upsert(st, "b", S("t"), S("8"), 0, NULL) == C360_OK);
	REQUIRE(c360_store_get(st, "b", S("t"), &d) == C360_OK);
	CHECK_EQ_INT(d.expiry, 0);
	c360_doc_release(&d);
	c360_store_close(st);
}

TEST(max_ttl_caps)
{
	c360_store *st = open_new();
	REQUIRE(st);
	fake_now = 1800000000;
	c360_store_set_clock(st, fake_clock, NULL);
	REQUIRE(c360_store_bucket_create(st, "c", 60, NULL, 0) == C360_OK);
	struct c360_doc d;
	CHECK(c360_store_upsert(st, "c", S("none"), S("1"), 0, NULL) == C360_OK);
	CHECK(c360_store_upsert(st, "c", S("short"), S("1"), 10, NULL) == C360_OK);
	CHECK(c360_store_upsert(st, "c", S("long"), S("1"), 3600, NULL) == C360_OK);
	CHECK(c360_store_upsert(st, "c", S("abs"), S("1"), 2000000000u, NULL) == C360_OK);
	REQUIRE(c360_store_get(st, "c", S("none"), &d) == C360_OK);
	CHECK_EQ_INT(d.expiry, 1800000060);
	c360_doc_release(&d);
	REQUIRE(c360_store_get(st, "c", S("short"), &d) == C360_OK);
	CHECK_EQ_INT(d.expiry, 1800000010);
	c360_doc_release(&d);
	REQUIRE(c360_store_get(st, "c", S("long"), &d) == C360_OK);
	CHECK_EQ_INT(d.expiry, 1800000060);
	c360_doc_release(&d);
	REQUIRE(c360_store_get(st, "c", S("abs"), &d) == C360_OK);
	CHECK_EQ_INT(d.expiry, 1800000060);
	c360_doc_release(&d);
	CHECK(c360_store_touch(st, "c", S("short"), 0, NULL) == C360_OK);
	REQUIRE(c360_store_get(st, "c", S("short"), &d) == C360_OK);
	CHECK_EQ_INT(d.expiry, 1800000060);
	c360_doc_release(&d);
	c360_store_close(st);
}

TEST(sweeper_thread_expires)
{
	char path[300];
	snprintf(path, sizeof path, "%s/sweeper.db", tmpdir);
	struct c360_store_opts o;
	c360_store_opts_init(&o);
	o.synchronous = C360_SYNC_OFF;
	o.sweep_interval_ms = 20;
	c360_store *st = NULL;
	REQUIRE(c360_store_open(path, &o, &st, NULL, 0) == C360_OK);
	REQUIRE(c360_store_bucket_create(st, "b", 0, NULL, 0) == C360_OK);
	/* absolute expiry in the past: expired at once */
	CHECK(c360_store_upsert(st, "b", S("gone"), S("1"), 2600000, NULL) == C360_OK);
	CHECK(c360_feed_wait(st, "b", 1, 3000) == C360_OK);
	struct evlog l;
	memset(&l, 0, sizeof l);
	CHECK(c360_feed_read(st, "b", 1, 0, log_cb, &l, NULL) == C360_OK);
	REQUIRE(l.n == 1);
	CHECK_EQ_INT(l.op[0], C360_FEED_EXPIRATION);
	CHECK_EQ_STR(l.key[0], "gone");
	c360_store_close(st);
}

TEST(feed_order_dedup_latest)
{
	c360_store *st = open_new();
	REQUIRE(st);
	REQUIRE(c360_store_bucket_create(st, "b", 0, NULL, 0) == C360_OK);
	REQUIRE(c360_store_bucket_create(st, "other", 0, NULL, 0) == C360_OK);
	CHECK(c360_store_upsert(st, "b", S("a"), S("1"), 0, NULL) == C360_OK);     /* 1 */
	CHECK(c360_store_upsert(st, "b", S("b"), S("1"), 0, NULL) == C360_OK);     /* 2 */
	CHECK(c360_store_upsert(st, "other", S("z"), S("1"), 0, NULL) == C360_OK); /* other 1 */
	CHECK(c360_store_upsert(st, "b", S("a"), S("2"), 0, NULL) == C360_OK);     /* 3 */
	CHECK(c360_store_upsert(st, "b", S("c"), S("1"), 0, NULL) == C360_OK);     /* 4 */
	CHECK(c360_store_delete(st, "b", S("b"), 0) == C360_OK);                   /* 5 */
	CHECK(c360_store_upsert(st, "b", S("a"), S("3"), 0, NULL) == C360_OK);     /* 6 */

	struct evlog l;
	memset(&l, 0, sizeof l);
	uint64_t last = 0;
	CHECK(c360_feed_read(st, "b", 0, 0, log_cb, &l, &last) == C360_OK);
	/* latest state of each key, in seqno order: c@4, b deleted@5, a=3@6 */
	REQUIRE(l.n == 3);
	CHECK_EQ_INT(l.seqno[0], 4);
	CHECK_EQ_STR(l.key[0], "c");
	CHECK_EQ_INT(l.op[0], C360_FEED_MUTATION);
	CHECK_EQ_INT(l.seqno[1], 5);
	CHECK_EQ_STR(l.key[1], "b");
	CHECK_EQ_INT(l.op[1], C360_FEED_DELETION);
	CHECK_EQ_STR(l.value[1], "");
	CHECK_EQ_INT(l.seqno[2], 6);
	CHECK_EQ_STR(l.key[2], "a");
	CHECK_EQ_STR(l.value[2], "3");
	CHECK_EQ_INT(last, 6);
	for (int i = 1; i < l.n; i++)
		CHECK(l.seqno[i] > l.seqno[i - 1]);

	/* after a checkpoint: only later changes */
	memset(&l, 0, sizeof l);
	CHECK(c360_feed_read(st, "b", 5, 0, log_cb, &l, &last) == C360_OK);
	CHECK_EQ_INT(l.n, 1);
	memset(&l, 0, sizeof l);
	CHECK(c360_feed_read(st, "b", 6, 0, log_cb, &l, &last) == C360_OK);
	CHECK_EQ_INT(l.n, 0);
	CHECK_EQ_INT(last, 6);
	/* max and early stop */
	memset(&l, 0, sizeof l);
	CHECK(c360_feed_read(st, "b", 0, 2, log_cb, &l, &last) == C360_OK);
	CHECK_EQ_INT(l.n, 2);
	CHECK_EQ_INT(last, 5);
	memset(&l, 0, sizeof l);
	l.stop_after = 1;
	CHECK(c360_feed_read(st, "b", 0, 0, log_cb, &l, &last) == C360_OK);
	CHECK_EQ_INT(l.n, 1);
	CHECK_EQ_INT(last, 4);
	CHECK(c360_feed_read(st, "nob", 0, 0, log_cb, &l, &last) == C360_ERR_NOT_FOUND);
	/* events carry cas and expiry of the document */
	struct c360_doc d;
	REQUIRE(c360_store_get(st, "b", S("a"), &d) == C360_OK);
	memset(&l, 0, sizeof l);
	CHECK(c360_feed_read(st, "b", 5, 0, log_cb, &l, NULL) == C360_OK);
	CHECK(l.cas[0] == d.cas);
	c360_doc_release(&d);
	c360_store_close(st);
}

TEST(feed_many_chunks)
{
	c360_store *st = open_new();
	REQUIRE(st);
	REQUIRE(c360_store_bucket_create(st, "b", 0, NULL, 0) == C360_OK);
	enum { N = 1000 };
	static struct c360_write ops[N];
	static char keys[N][16];
	for (int i = 0; i < N; i++) {
		snprintf(keys[i], sizeof keys[i], "key%04d", i);
		ops[i] = (struct c360_write){.type = C360_WRITE_UPSERT, .bucket = "b", .key = keys[i],
					     .key_len = strlen(keys[i]), .value = "{\"n\":1}",
					     .value_len = 7};
	}
	REQUIRE(c360_store_write(st, ops, N) == C360_OK);
	for (int i = 0; i < N; i++) {
		CHECK(ops[i].rc == C360_OK);
		CHECK_EQ_INT(ops[i].seqno, i + 1);
	}
	struct evlog l;
	memset(&l, 0, sizeof l);
	uint64_t last = 0;
	CHECK(c360_feed_read(st, "b", 0, 0, log_cb, &l, &last) == C360_OK);
	CHECK_EQ_INT(l.n, N);
	CHECK_EQ_INT(last, N);
	c360_store_close(st);
}

TEST(batch_per_op_results)
{
	c360_store *st = open_new();
	REQUIRE(st);
	REQUIRE(c360_store_bucket_create(st, "b", 0, NULL, 0) == C360_OK);
	struct c360_write ops[] = {
		{.type = C360_WRITE_INSERT, .bucket = "b", .key = "x", .key_len = 1, .value = "1", .value_len = 1},
		{.type = C360_WRITE_INSERT, .bucket = "b", .key = "x", .key_len = 1, .value = "2", .value_len = 1},
		{.type = C360_WRITE_UPSERT, .bucket = "nob", .key = "x", .key_len = 1, .value = "2", .value_len = 1},
		{.type = C360_WRITE_UPSERT, .bucket = "b", .key = "y", .key_len = 1, .value = "[", .value_len = 1},
		{.type = C360_WRITE_REPLACE, .bucket = "b", .key = "x", .key_len = 1, .value = "3", .value_len = 1, .cas = 1},
		{.type = C360_WRITE_DELETE, .bucket = "b", .key = "zz", .key_len = 2},
		{.type = C360_WRITE_REPLACE, .bucket = "b", .key = "x", .key_len = 1, .value = "4", .value_len = 1},
	};
	REQUIRE(c360_store_write(st, ops, 7) == C360_OK);
	CHECK(ops[0].rc == C360_OK);
	CHECK(ops[1].rc == C360_ERR_EXISTS);
	CHECK(ops[2].rc == C360_ERR_NOT_FOUND);
	CHECK(ops[3].rc == C360_ERR_INVALID);
	CHECK(ops[4].rc == C360_ERR_CAS);
	CHECK(ops[5].rc == C360_ERR_NOT_FOUND);
	CHECK(ops[6].rc == C360_OK);
	CHECK_EQ_INT(ops[0].seqno, 1);
	CHECK_EQ_INT(ops[6].seqno, 2);
	CHECK(ops[6].new_cas > ops[0].new_cas);
	CHECK_EQ_INT(ops[1].seqno, 0);
	struct c360_doc d;
	REQUIRE(c360_store_get(st, "b", S("x"), &d) == C360_OK);
	CHECK_EQ_STR(d.value, "4");
	c360_doc_release(&d);
	CHECK(c360_store_write(st, NULL, 0) == C360_OK);
	c360_store_close(st);
}

TEST(batch_many_buckets)
{
	c360_store *st = open_new();
	REQUIRE(st);
	enum { NB = 40 };
	static char names[NB][16];
	static struct c360_write ops[2 * NB];
	for (int i = 0; i < NB; i++) {
		snprintf(names[i], sizeof names[i], "bk%d", i);
		REQUIRE(c360_store_bucket_create(st, names[i], 0, NULL, 0) == C360_OK);
	}
	/* two rounds over 40 buckets in one call: seqnos 1 and 2 in each */
	for (int i = 0; i < 2 * NB; i++)
		ops[i] = (struct c360_write){.type = C360_WRITE_UPSERT, .bucket = names[i % NB],
					     .key = i < NB ? "a" : "b", .key_len = 1, .value = "1",
					     .value_len = 1};
	REQUIRE(c360_store_write(st, ops, 2 * NB) == C360_OK);
	for (int i = 0; i < 2 * NB; i++) {
		CHECK(ops[i].rc == C360_OK);
		CHECK_EQ_INT(ops[i].seqno, i < NB ? 1 : 2);
	}
	for (int i = 0; i < NB; i++) {
		uint64_t hs = 0;
		CHECK(c360_feed_high_seqno(st, names[i], &hs) == C360_OK);
		CHECK_EQ_INT(hs, 2);
	}
	c360_store_close(st);
}

TEST(cursors)
{
	c360_store *st = open_new();
	REQUIRE(st);
	REQUIRE(c360_store_bucket_create(st, "b", 0, NULL, 0) == C360_OK);
	REQUIRE(c360_store_bucket_create(st, "b2", 0, NULL, 0) == C360_OK);
	uint64_t s = 0;
	CHECK(c360_feed_cursor_get(st, "b", "fn1", &s) == C360_ERR_NOT_FOUND);
	CHECK(c360_feed_cursor_set(st, "b", "fn1", 42) == C360_OK);
	CHECK(c360_feed_cursor_set(st, "b2", "fn1", 7) == C360_OK);
	CHECK(c360_feed_cursor_get(st, "b", "fn1", &s) == C360_OK);
	CHECK_EQ_INT(s, 42);
	CHECK(c360_feed_cursor_set(st, "b", "fn1", 43) == C360_OK);
	CHECK(c360_feed_cursor_get(st, "b", "fn1", &s) == C360_OK);
	CHECK_EQ_INT(s, 43);
	CHECK(c360_feed_cursor_get(st, "b2", "fn1", &s) == C360_OK);
	CHECK_EQ_INT(s, 7);
	CHECK(c360_feed_cursor_set(st, "nob", "fn1", 1) == C360_ERR_NOT_FOUND);
	CHECK(c360_feed_cursor_get(st, "nob", "fn1", &s) == C360_ERR_NOT_FOUND);
	CHECK(c360_feed_cursor_set(st, "b", "", 1) == C360_ERR_INVALID);
	/* survives reopen */
	char path[300];
	snprintf(path, sizeof path, "%s", c360_store_path(st));
	c360_store_close(st);
	REQUIRE(c360_store_open(path, NULL, &st, NULL, 0) == C360_OK);
	CHECK(c360_feed_cursor_get(st, "b", "fn1", &s) == C360_OK);
	CHECK_EQ_INT(s, 43);
	c360_store_close(st);
}

struct thr {
	c360_store *st;
	int id;
	int ok;
};

enum { THREADS = 8, PER_THREAD = 200 };

static void *writer(void *arg)
{
	struct thr *t = arg;
	for (int i = 0; i < PER_THREAD; i++) {
		char key[32], val[64];
		snprintf(key, sizeof key, "t%d-%d", t->id, i);
		snprintf(val, sizeof val, "{\"t\":%d,\"i\":%d}", t->id, i);
		if (c360_store_upsert(t->st, "b", S(key), S(val), 0, NULL) == C360_OK)
			t->ok++;
		/* a reader in the middle of it */
		struct c360_doc d;
		if (c360_store_get(t->st, "b", S(key), &d) != C360_OK)
			t->ok--;
		c360_doc_release(&d);
	}
	return NULL;
}

TEST(group_commit_threads)
{
	c360_store *st = open_new();
	REQUIRE(st);
	REQUIRE(c360_store_bucket_create(st, "b", 0, NULL, 0) == C360_OK);
	pthread_t th[THREADS];
	struct thr t[THREADS];
	for (int i = 0; i < THREADS; i++) {
		t[i] = (struct thr){st, i, 0};
		pthread_create(&th[i], NULL, writer, &t[i]);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		CHECK_EQ_INT(t[i].ok, PER_THREAD);
	}
	struct c360_bucket_info info;
	REQUIRE(c360_store_bucket_info(st, "b", &info) == C360_OK);
	CHECK_EQ_INT(info.count, THREADS * PER_THREAD);
	CHECK_EQ_INT(info.high_seqno, THREADS * PER_THREAD);
	/* CAS values are all distinct and seqnos dense */
	struct evlog l;
	memset(&l, 0, sizeof l);
	CHECK(c360_feed_read(st, "b", 0, 0, log_cb, &l, NULL) == C360_OK);
	CHECK_EQ_INT(l.n, THREADS * PER_THREAD);
	c360_store_close(st);
}

struct handle_thr {
	c360_store *st;
	int id;
	int ok;
};

static void *handle_writer(void *arg)
{
	struct handle_thr *t = arg;
	for (int i = 0; i < 150; i++) {
		char key[32];
		snprintf(key, sizeof key, "h%d-%d", t->id, i);
		if (c360_store_upsert(t->st, "b", S(key), S("{}"), 0, NULL) == C360_OK)
			t->ok++;
		if (c360_store_upsert(t->st, "b", S("hot"), S("1"), 0, NULL) == C360_OK)
			t->ok++;
	}
	return NULL;
}

static int collect_cb(const struct c360_feed_event *ev, void *ctx)
{
	uint64_t *cas = ctx;
	cas[ev->seqno] = ev->cas;
	return 0;
}

/* Two handles on one file behave like two processes: their writes take
 * turns on the file lock, seqnos stay dense and unique, CAS values unique. */
TEST(two_handles_share_a_store)
{
	c360_store *a = open_new();
	REQUIRE(a);
	REQUIRE(c360_store_bucket_create(a, "b", 0, NULL, 0) == C360_OK);
	c360_store *b = NULL;
	REQUIRE(c360_store_open(c360_store_path(a), NULL, &b, NULL, 0) == C360_OK);
	pthread_t th[2];
	struct handle_thr t[2] = {{a, 0, 0}, {b, 1, 0}};
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, handle_writer, &t[i]);
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		CHECK_EQ_INT(t[i].ok, 300);
	}
	uint64_t hs = 0;
	CHECK(c360_feed_high_seqno(b, "b", &hs) == C360_OK);
	CHECK_EQ_INT(hs, 600);
	static uint64_t cas[602];
	memset(cas, 0, sizeof cas);
	CHECK(c360_feed_read(a, "b", 0, 0, collect_cb, cas, NULL) == C360_OK);
	/* 300 distinct keys + "hot" once (deduplicated to its last change) */
	int n = 0;
	for (int i = 1; i <= 600; i++)
		if (cas[i]) {
			n++;
			for (int j = 1; j < i; j++)
				if (cas[j] && cas[j] >= cas[i])
					CHECK(!"CAS not increasing with seqno");
		}
	CHECK_EQ_INT(n, 301);
	c360_store_close(b);
	c360_store_close(a);
}

struct one_thr {
	c360_store *st;
	int id;
	c360_rc rc;
};

static void *one_write(void *arg)
{
	struct one_thr *t = arg;
	char key[16];
	snprintf(key, sizeof key, "g%d", t->id);
	t->rc = c360_store_upsert(t->st, "b", S(key), S("1"), 0, NULL);
	return NULL;
}

/* While another connection holds the file's write lock, the first writer
 * (the leader) waits in BEGIN; the writers arriving meanwhile queue up and
 * the next leader commits all of them in one transaction. */
TEST(group_commit_groups)
{
	c360_store *st = open_new();
	REQUIRE(st);
	REQUIRE(c360_store_bucket_create(st, "b", 0, NULL, 0) == C360_OK);
	struct c360_store_stats s0, s1;
	c360_store_stats(st, &s0);
	sqlite3 *lock = NULL;
	REQUIRE(sqlite3_open(c360_store_path(st), &lock) == SQLITE_OK);
	REQUIRE(sqlite3_exec(lock, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK);
	enum { W = 8 };
	pthread_t th[W];
	struct one_thr t[W];
	for (int i = 0; i < W; i++) {
		t[i] = (struct one_thr){st, i, C360_ERR_INTERNAL};
		pthread_create(&th[i], NULL, one_write, &t[i]);
		if (i == 0)
			usleep(50000); /* the first one becomes the leader and waits */
	}
	usleep(800000);
	sqlite3_exec(lock, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(lock);
	for (int i = 0; i < W; i++) {
		pthread_join(th[i], NULL);
		CHECK(t[i].rc == C360_OK);
	}
	c360_store_stats(st, &s1);
	CHECK_EQ_INT(s1.units - s0.units, W);
	CHECK_EQ_INT(s1.ops - s0.ops, W);
	CHECK_EQ_INT(s1.commits - s0.commits, 2);
	CHECK_EQ_INT(s1.failed_commits, 0);
	c360_store_close(st);
}

/* count and bytes of live documents by scanning the bucket's table */
static void scan_counts(const char *path, const char *table, int64_t now, int64_t *cnt,
			int64_t *bytes)
{
	sqlite3 *db = NULL;
	*cnt = *bytes = -1;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		return;
	sqlite3_stmt *s = NULL;
	char sql[300];
	snprintf(sql, sizeof sql,
		 "SELECT count(*), coalesce(sum(length(CAST(key AS BLOB)) + length(CAST(value AS BLOB))), 0)"
		 " FROM %s WHERE value IS NOT NULL AND (expiry = 0 OR expiry > %lld)", table,
		 (long long)now);
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW) {
		*cnt = sqlite3_column_int64(s, 0);
		*bytes = sqlite3_column_int64(s, 1);
	}
	sqlite3_finalize(s);
	sqlite3_close(db);
}

/* The maintained live counters (bucket info) agree with a full scan after a
 * random mix of every operation, expiry, sweeps and compression on and off;
 * a store without counters gets them on its next writable open. */
TEST(counters_match_a_scan)
{
	c360_store *st = open_new();
	REQUIRE(st);
	fake_now = 1800000000;
	c360_store_set_clock(st, fake_clock, NULL);
	REQUIRE(c360_store_bucket_create(st, "b", 0, NULL, 0) == C360_OK);
	static char big[2000];
	memset(big, 'a', sizeof big);
	big[0] = '"';
	big[sizeof big - 2] = '"';
	big[sizeof big - 1] = '\0';
	srand(7);
	for (int i = 0; i < 3000; i++) {
		char key[16];
		snprintf(key, sizeof key, "k%d", rand() % 60);
		const char *v = (rand() % 3) ? "{\"small\":true}" : big;
		uint32_t exp = (rand() % 5 == 0) ? (uint32_t)(rand() % 20 + 1) : 0;
		switch (rand() % 6) {
		case 0: c360_store_upsert(st, "b", S(key), S(v), exp, NULL); break;
		case 1: c360_store_insert(st, "b", S(key), S(v), exp, NULL); break;
		case 2: c360_store_replace(st, "b", S(key), S(v), exp, 0, NULL); break;
		case 3: c360_store_delete(st, "b", S(key), 0); break;
		case 4: c360_store_touch(st, "b", S(key), exp, NULL); break;
		case 5: c360_store_sweep(st, "b", 0, NULL); break;
		}
		if (i % 100 == 0)
			fake_now += 3;
		if (i % 500 == 0)
			c360_store_set_compression(st, (i / 500) % 2);
		if (i % 250 == 0) {
			struct c360_bucket_info info;
			REQUIRE(c360_store_bucket_info(st, "b", &info) == C360_OK);
			int64_t cnt, bytes;
			scan_counts(c360_store_path(st), "_b1", fake_now, &cnt, &bytes);
			CHECK_EQ_INT(info.count, cnt);
			CHECK_EQ_INT(info.bytes, bytes);
		}
	}
	struct c360_bucket_info before;
	REQUIRE(c360_store_bucket_info(st, "b", &before) == C360_OK);
	char path[300];
	snprintf(path, sizeof path, "%s", c360_store_path(st));
	c360_store_close(st);
	/* an older store without counters: read-only scans, writable adds them */
	sqlite3 *db = NULL;
	REQUIRE(sqlite3_open(path, &db) == SQLITE_OK);
	CHECK(sqlite3_exec(db, "DROP TABLE _c360_counts", NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);
	struct c360_store_opts o;
	c360_store_opts_init(&o);
	o.read_only = true;
	REQUIRE(c360_store_open(path, &o, &st, NULL, 0) == C360_OK);
	c360_store_set_clock(st, fake_clock, NULL);
	struct c360_bucket_info after;
	REQUIRE(c360_store_bucket_info(st, "b", &after) == C360_OK);
	CHECK_EQ_INT(after.count, before.count);
	CHECK_EQ_INT(after.bytes, before.bytes);
	c360_store_close(st);
	REQUIRE(c360_store_open(path, NULL, &st, NULL, 0) == C360_OK);
	c360_store_set_clock(st, fake_clock, NULL);
	REQUIRE(c360_store_bucket_info(st, "b", &after) == C360_OK);
	CHECK_EQ_INT(after.count, before.count);
	CHECK_EQ_INT(after.bytes, before.bytes);
	CHECK(c360_store_upsert(st, "b", S("new-one"), S("1"), 0, NULL) == C360_OK);
	REQUIRE(c360_store_bucket_info(st, "b", &after) == C360_OK);
	CHECK_EQ_INT(after.count, before.count + 1);
	c360_store_close(st);
}

/* Rows of table (_b1 is the first bucket's) in seqno order: key, value,
 * expiry, op, seqno (one string). */
static char *dump_rows(const char *path, const char *table)
{
	sqlite3 *db = NULL;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		return NULL;
	sqlite3_stmt *s = NULL;
	size_t cap = 1 << 16, len = 0;
	char *out = malloc(cap);
	char sql[128];
	snprintf(sql, sizeof sql, "SELECT key, hex(value), expiry, op, seqno FROM %s ORDER BY seqno",
		 table);
	if (out && sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK) {
		while (sqlite3_step(s) == SQLITE_ROW) {
			const char *k = (const char *)sqlite3_column_text(s, 0);
			const char *v = (const char *)sqlite3_column_text(s, 1);
			size_t need = strlen(k) + (v ? strlen(v) : 0) + 64;
			while (len + need >= cap) {
				char *n = realloc(out, cap *= 2);
				if (!n)
					break;
				out = n;
			}
			len += (size_t)snprintf(out + len, cap - len, "%s=%s/%lld/%d@%lld\n", k,
						v ? v : "-", (long long)sqlite3_column_int64(s, 2),
						sqlite3_column_int(s, 3),
						(long long)sqlite3_column_int64(s, 4));
		}
	}
	sqlite3_finalize(s);
	sqlite3_close(db);
	if (out)
		out[len] = '\0';
	return out;
}

/* Long runs of upserts and inserts in one call (written as multi-row
 * inserts of new keys, then op by op for the keys that had a row) end up
 * exactly as the same ops written one call each: per-op results, documents,
 * expiries, feed order and the live counters. The runs go to two buckets, so
 * a run of existing keys in one is followed by runs of new keys in the other
 * (multi-row again) and back. */
TEST(batch_runs_same_as_one_by_one)
{
	c360_store *bulk = open_new(), *one = open_new();
	REQUIRE(bulk && one);
	fake_now = 1800000000;
	c360_store_set_clock(bulk, fake_clock, NULL);
	c360_store_set_clock(one, fake_clock, NULL);
	REQUIRE(c360_store_bucket_create(bulk, "b", 0, NULL, 0) == C360_OK);
	REQUIRE(c360_store_bucket_create(one, "b", 0, NULL, 0) == C360_OK);
	REQUIRE(c360_store_bucket_create(bulk, "c", 0, NULL, 0) == C360_OK);
	REQUIRE(c360_store_bucket_create(one, "c", 0, NULL, 0) == C360_OK);
	static char big[600];
	memset(big, 'x', sizeof big);
	big[0] = '"';
	big[sizeof big - 2] = '"';
	big[sizeof big - 1] = '\0';
	enum { N = 700 };
	static struct c360_write ops[N];
	static char keys[N][24], vals[N][40];
	srand(11);
	int fresh = 0;
	for (int round = 0; round < 12; round++) {
		size_t n = 0;
		while (n < N - 200) {
			/* a run of one type: fresh keys only, or keys from a small pool
			 * (existing, repeated within the run, expired) */
			enum c360_write_type type = rand() % 3 ? C360_WRITE_UPSERT : C360_WRITE_INSERT;
			bool pool = rand() % 2;
			const char *bucket = rand() % 3 ? "b" : "c";
			size_t len = 40 + (size_t)(rand() % 160);
			for (size_t j = 0; j < len; j++, n++) {
				if (pool)
					snprintf(keys[n], sizeof keys[n], "p%d", rand() % 90);
				else
					snprintf(keys[n], sizeof keys[n], "f%d", fresh++);
				snprintf(vals[n], sizeof vals[n], "{\"r\":%d,\"n\":%zu}", round, n);
				const char *v = rand() % 10 ? vals[n] : big;
				if (rand() % 50 == 0)
					v = "[";	/* refused before the transaction */
				ops[n] = (struct c360_write){.type = type, .bucket = bucket, .key = keys[n],
							     .key_len = strlen(keys[n]), .value = v,
							     .value_len = strlen(v),
							     .expiry = rand() % 4 ? 0 : (uint32_t)(rand() % 30 + 1),
							     .flags = rand() % 5 ? 0 : C360_WRITE_KEEP_EXPIRY};
			}
		}
		c360_store_set_compression(bulk, round % 2);
		c360_store_set_compression(one, round % 2);
		REQUIRE(c360_store_write(bulk, ops, n) == C360_OK);
		for (size_t i = 0; i < n; i++) {
			struct c360_write w = ops[i];
			REQUIRE(c360_store_write(one, &w, 1) == C360_OK);
			CHECK_EQ_INT(ops[i].rc, w.rc);
			CHECK_EQ_INT(ops[i].seqno, w.seqno);
			CHECK(!ops[i].rc == !!ops[i].seqno);
		}
		fake_now += 7;
		if (round % 4 == 3) {
			/* the newest row a purged tombstone: the table's rowids then end
			 * below the high seqno (new rows cannot just take the next one) */
			c360_store *both[] = {bulk, one};
			for (int bk = 0; bk < 2; bk++) {
				const char *bucket = bk ? "c" : "b";
				/* f0 (the first fresh key) is in one of them */
				c360_rc f0[2];
				for (int k = 0; k < 2; k++) {
					f0[k] = c360_store_delete(both[k], bucket, S("f0"), 0);
					CHECK(f0[k] == C360_OK || f0[k] == C360_ERR_NOT_FOUND);
					CHECK(c360_store_upsert(both[k], bucket, S("gone"), S("1"), 0,
								NULL) == C360_OK);
					CHECK(c360_store_delete(both[k], bucket, S("gone"), 0) == C360_OK);
					size_t purged = 0;
					CHECK(c360_store_purge_tombstones(both[k], bucket, 0, &purged) ==
					      C360_OK);
					CHECK(purged >= 1);
				}
				CHECK_EQ_INT(f0[0], f0[1]);
			}
		}
	}
	for (int k = 0; k < 2; k++) {
		const char *table = k ? "_b2" : "_b1", *bucket = k ? "c" : "b";
		char *a = dump_rows(c360_store_path(bulk), table);
		char *b = dump_rows(c360_store_path(one), table);
		REQUIRE(a && b);
		CHECK(strlen(a) > 1000);
		CHECK(!strcmp(a, b));
		free(a);
		free(b);
		struct c360_bucket_info ia, ib;
		REQUIRE(c360_store_bucket_info(bulk, bucket, &ia) == C360_OK);
		REQUIRE(c360_store_bucket_info(one, bucket, &ib) == C360_OK);
		CHECK_EQ_INT(ia.count, ib.count);
		CHECK_EQ_INT(ia.bytes, ib.bytes);
		int64_t cnt, bytes;
		scan_counts(c360_store_path(bulk), table, fake_now, &cnt, &bytes);
		CHECK_EQ_INT(ia.count, cnt);
		CHECK_EQ_INT(ia.bytes, bytes);
	}
	c360_store_close(bulk);
	c360_store_close(one);
}

static int exec_ok(sqlite3 *db, const char *sql)
{
	char *e = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &e);
	if (rc != SQLITE_OK)
		printf("  %s: %s\n", sql, e ? e : "?");
	sqlite3_free(e);
	return rc == SQLITE_OK;
}

static int64_t one_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s = NULL;
	int64_t v = -1;
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

/* The writer's WAL buffer (walbuf.c): frames spilled by a transaction that
 * is then rolled back never land over the frames another connection commits
 * next; each connection sees the other's commits; the file stays sound. */
TEST(walbuf_rollback_and_two_writers)
{
	const char *vfs = store_walbuf_vfs();
	REQUIRE(vfs);
	char path[300];
	path_for(path, sizeof path, "walbuf.db");
	unlink(path);
	sqlite3 *a = NULL, *b = NULL;
	REQUIRE(sqlite3_open_v2(path, &a, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs) == SQLITE_OK);
	REQUIRE(exec_ok(a, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=8;"
			   "CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT, who TEXT)"));
	REQUIRE(sqlite3_open_v2(path, &b, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK);
	REQUIRE(exec_ok(b, "PRAGMA synchronous=FULL"));
	for (int round = 0; round < 5; round++) {
		/* a: a transaction big enough to spill pages into the WAL, rolled back */
		REQUIRE(exec_ok(a, "BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
				   " WHERE i < 3000) INSERT INTO t(v, who) SELECT hex(randomblob(200)), 'gone'"
				   " FROM n; ROLLBACK"));
		/* b commits as many frames (over those a spilled), then a, then b again */
		REQUIRE(exec_ok(b, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
				   " WHERE i < 3) INSERT INTO t(v, who) SELECT hex(randomblob(300)), 'b' FROM n;"
				   " CREATE TABLE IF NOT EXISTS pad(x); DELETE FROM pad;"
				   " WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)"
				   " INSERT INTO pad SELECT hex(randomblob(200)) FROM n"));
		REQUIRE(exec_ok(a, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
				   " WHERE i < 40) INSERT INTO t(v, who) SELECT hex(randomblob(300)), 'a' FROM n"));
		REQUIRE(exec_ok(b, "INSERT INTO t(v, who) VALUES(hex(randomblob(300)), 'b')"));
		CHECK_EQ_INT(one_int(a, "SELECT count(*) FROM t WHERE who='b'"), 4 * (round + 1));
		CHECK_EQ_INT(one_int(b, "SELECT count(*) FROM t WHERE who='a'"), 40 * (round + 1));
		CHECK_EQ_INT(one_int(b, "SELECT count(*) FROM t WHERE who='gone'"), 0);
	}
	sqlite3_stmt *s = NULL;
	REQUIRE(sqlite3_prepare_v2(b, "PRAGMA integrity_check", -1, &s, NULL) == SQLITE_OK);
	REQUIRE(sqlite3_step(s) == SQLITE_ROW);
	CHECK_EQ_STR((const char *)sqlite3_column_text(s, 0), "ok");
	sqlite3_finalize(s);
	sqlite3_close(a);
	sqlite3_close(b);
	/* a fresh connection after both closed (the WAL checkpointed) */
	REQUIRE(sqlite3_open_v2(path, &b, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
	CHECK_EQ_INT(one_int(b, "SELECT count(*) FROM t"), 5 * 44);
	sqlite3_close(b);
}

/* Committed pages reach the database file while the store stays open (the
 * checkpointer thread), and the WAL does not keep growing. */
TEST(checkpoints_while_open)
{
	/* synchronous=FULL: the writer and the checkpointer go through walbuf.c */
	char path[300];
	snprintf(path, sizeof path, "%s/s%d.db", tmpdir, nstore++);
	struct c360_store_opts so;
	c360_store_opts_init(&so);
	so.sweep_interval_ms = -1;
	c360_store *st = NULL;
	REQUIRE(c360_store_open(path, &so, &st, NULL, 0) == C360_OK);
	sqlite3 *rd = NULL;
	REQUIRE(sqlite3_open_v2(path, &rd, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
	REQUIRE(c360_store_bucket_create(st, "b", 0, NULL, 0) == C360_OK);
	c360_store_set_compression(st, 0);
	static char val[1002];
	memset(val, 'v', sizeof val);
	val[0] = '"';
	val[sizeof val - 2] = '"';
	val[sizeof val - 1] = '\0';
	static struct c360_write ops[100];
	static char keys[100][16];
	for (int round = 0; round < 120; round++) {
		for (int i = 0; i < 100; i++) {
			snprintf(keys[i], sizeof keys[i], "k%d", round * 100 + i);
			ops[i] = (struct c360_write){.type = C360_WRITE_UPSERT, .bucket = "b",
						     .key = keys[i], .key_len = strlen(keys[i]),
						     .value = val, .value_len = strlen(val)};
		}
		REQUIRE(c360_store_write(st, ops, 100) == C360_OK);
		/* another connection sees every commit, whole */
		if (round % 10 == 9) {
			CHECK_EQ_INT(one_int(rd, "SELECT count(*) FROM _b1 WHERE length(value) = 1001"),
				     (round + 1) * 100);
		}
	}
	char wal[320];
	snprintf(wal, sizeof wal, "%s-wal", c360_store_path(st));
	struct stat sb, wb;
	bool in_db = false;
	for (int i = 0; i < 500 && !in_db; i++) {
		in_db = stat(c360_store_path(st), &sb) == 0 && sb.st_size > (8 << 20);
		if (!in_db)
			usleep(10000);
	}
	CHECK(in_db);
	CHECK(stat(wal, &wb) == 0 && wb.st_size < (64 << 20));
	c360_store_close(st);
	sqlite3_stmt *s = NULL;
	REQUIRE(sqlite3_prepare_v2(rd, "PRAGMA integrity_check", -1, &s, NULL) == SQLITE_OK);
	REQUIRE(sqlite3_step(s) == SQLITE_ROW);
	CHECK_EQ_STR((const char *)sqlite3_column_text(s, 0), "ok");
	sqlite3_finalize(s);
	CHECK_EQ_INT(one_int(rd, "SELECT count(*) FROM _b1 WHERE length(value) = 1001"), 12000);
	sqlite3_close(rd);
}

struct waiter {
	c360_store *st;
	c360_rc rc;
};

static void *wait_thread(void *arg)
{
	struct waiter *w = arg;
	w->rc = c360_feed_wait(w->st, "b", 0, 5000);
	return NULL;
}

TEST(feed_wait)
{
	c360_store *st = open_new();
	REQUIRE(st);
	REQUIRE(c360_store_bucket_create(st, "b", 0, NULL, 0) == C360_OK);
	CHECK(c360_feed_wait(st, "b", 0, 30) == C360_ERR_TIMEOUT);
	CHECK(c360_feed_wait(st, "nob", 0, 30) == C360_ERR_NOT_FOUND);
	struct waiter w = {st, C360_ERR_INTERNAL};
	pthread_t th;
	pthread_create(&th, NULL, wait_thread, &w);
	usleep(20000);
	CHECK(c360_store_upsert(st, "b", S("k"), S("1"), 0, NULL) == C360_OK);
	pthread_join(th, NULL);
	CHECK(w.rc == C360_OK);
	CHECK(c360_feed_wait(st, "b", 0, 0) == C360_OK);
	/* another connection (as another process would) is seen by polling */
	char path[300];
	snprintf(path, sizeof path, "%s", c360_store_path(st));
	c360_store *other = NULL;
	REQUIRE(c360_store_open(path, NULL, &other, NULL, 0) == C360_OK);
	w = (struct waiter){st, C360_ERR_INTERNAL};
	pthread_create(&th, NULL, wait_thread, &w);
	usleep(20000);
	CHECK(c360_store_upsert(other, "b", S("k2"), S("1"), 0, NULL) == C360_OK);
	pthread_join(th, NULL);
	CHECK(w.rc == C360_OK);
	uint64_t hs;
	CHECK(c360_feed_high_seqno(st, "b", &hs) == C360_OK);
	CHECK_EQ_INT(hs, 2);
	c360_store_close(other);
	c360_store_close(st);
}

TEST(tombstone_purge)
{
	c360_store *st = open_new();
	REQUIRE(st);
	REQUIRE(c360_store_bucket_create(st, "b", 0, NULL, 0) == C360_OK);
	CHECK(c360_store_upsert(st, "b", S("a"), S("1"), 0, NULL) == C360_OK);
	CHECK(c360_store_upsert(st, "b", S("b"), S("1"), 0, NULL) == C360_OK);
	CHECK(c360_store_delete(st, "b", S("a"), 0) == C360_OK);
	size_t n = 9;
	CHECK(c360_store_purge_tombstones(st, "b", 3600, &n) == C360_OK);
	CHECK_EQ_INT(n, 0);
	CHECK(c360_store_purge_tombstones(st, NULL, 0, &n) == C360_OK);
	CHECK_EQ_INT(n, 1);
	struct evlog l;
	memset(&l, 0, sizeof l);
	CHECK(c360_feed_read(st, "b", 0, 0, log_cb, &l, NULL) == C360_OK);
	CHECK_EQ_INT(l.n, 1);
	uint64_t hs;
	CHECK(c360_feed_high_seqno(st, "b", &hs) == C360_OK);
	CHECK_EQ_INT(hs, 3); /* seqnos never go back */
	CHECK(c360_store_upsert(st, "b", S("a"), S("2"), 0, NULL) == C360_OK);
	CHECK(c360_feed_high_seqno(st, "b", &hs) == C360_OK);
	CHECK_EQ_INT(hs, 4);
	c360_store_close(st);
}

static c360_rc q(c360_store *st, const char *sql, char *err, size_t errlen, struct c360_buf *out)
{
	c360_buf_reset(out);
	return c360_store_query(st, sql, NULL, out, err, errlen);
}

TEST(query_reads)
{
	c360_store *st = open_new();
	REQUIRE(st);
	REQUIRE(c360_store_bucket_create(st, "customer360", 0, NULL, 0) == C360_OK);
	REQUIRE(c360_store_bucket_create(st, "a-b.c", 0, NULL, 0) == C360_OK);
	CHECK(c360_store_upsert(st, "customer360", S("matt@example.com"),
				S("{\"type\":\"user\",\"profile\":{\"name\":\"Matthew Groves\"},\"loyaltyPoints\":1000}"),
				0, NULL) == C360_OK);
	CHECK(c360_store_upsert(st, "customer360", S("x@example.com"),
				S("{\"type\":\"user\",\"tags\":[1,2]}"), 0, NULL) == C360_OK);
	CHECK(c360_store_upsert(st, "customer360", S("gone"), S("1"), 0, NULL) == C360_OK);
	CHECK(c360_store_delete(st, "customer360", S("gone"), 0) == C360_OK);
	CHECK(c360_store_upsert(st, "a-b.c", S("k"), S("\"text\""), 0, NULL) == C360_OK);
	struct c360_buf out;
	c360_buf_init(&out, 0);
	char err[256];
	CHECK(q(st, "SELECT key, json_extract(doc, '$.profile.name') AS name FROM customer360"
		    " WHERE json_extract(doc,'$.loyaltyPoints') > 10",
		err, sizeof err, &out) == C360_OK);
	CHECK_EQ_STR(out.data, "{\"columns\":[\"key\",\"name\"],\"rows\":[[\"matt@example.com\","
			       "\"Matthew Groves\"]],\"truncated\":false}");
	CHECK(q(st, "SELECT count(*), sum(cas > 0), min(seqno) FROM customer360", err, sizeof err,
		&out) == C360_OK);
	CHECK_EQ_STR(out.data, "{\"columns\":[\"count(*)\",\"sum(cas > 0)\",\"min(seqno)\"],"
			       "\"rows\":[[2,2,1]],\"truncated\":false}");
	/* objects and arrays are embedded as JSON, other text as strings */
	CHECK(q(st, "SELECT doc, json_extract(doc,'$.tags'), 'x\"y', 1.5, NULL, x'00ff' FROM customer360 WHERE key='x@example.com'",
		err, sizeof err, &out) == C360_OK);
	CHECK_EQ_STR(out.data, "{\"columns\":[\"doc\",\"json_extract(doc,'$.tags')\",\"'x\\\"y'\","
			       "\"1.5\",\"NULL\",\"x'00ff'\"],\"rows\":[[{\"type\":\"user\",\"tags\":[1,2]},[1,2],"
			       "\"x\\\"y\",1.5,null,\"00ff\"]],\"truncated\":false}");
	CHECK(q(st, "SELECT doc FROM \"a-b.c\"", err, sizeof err, &out) == C360_OK);
	CHECK_EQ_STR(out.data, "{\"columns\":[\"doc\"],\"rows\":[[\"\\\"text\\\"\"]],\"truncated\":false}");
	/* row limit */
	struct c360_query_opts qo = {.max_rows = 1};
	c360_buf_reset(&out);
	CHECK(c360_store_query(st, "SELECT key FROM customer360 ORDER BY key", &qo, &out, err,
			       sizeof err) == C360_OK);
	CHECK_EQ_STR(out.data, "{\"columns\":[\"key\"],\"rows\":[[\"matt@example.com\"]],\"truncated\":true}");
	/* time limit */
	qo = (struct c360_query_opts){.timeout_ms = 50};
	c360_buf_reset(&out);
	CHECK(c360_store_query(st,
			       "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM r) SELECT count(*) FROM r",
			       &qo, &out, err, sizeof err) == C360_ERR_TIMEOUT);
	CHECK_EQ_INT(out.len, 0);
	/* capped output */
	struct c360_buf small;
	c360_buf_init(&small, 20);
	CHECK(c360_store_query(st, "SELECT doc FROM customer360", NULL, &small, err, sizeof err) ==
	      C360_ERR_TOO_BIG);
	c360_buf_release(&small);
	/* errors */
	CHECK(q(st, "SELECT * FROM nosuchbucket", err, sizeof err, &out) == C360_ERR_INVALID);
	CHECK(strstr(err, "nosuchbucket") != NULL);
	CHECK(q(st, "SELEC 1", err, sizeof err, &out) == C360_ERR_INVALID);
	CHECK(q(st, "", err, sizeof err, &out) == C360_ERR_INVALID);
	CHECK(q(st, "SELECT 1; SELECT 2", err, sizeof err, &out) == C360_ERR_INVALID);
	CHECK(q(st, "SELECT 1; -- fine\n", err, sizeof err, &out) == C360_OK);
	/* table-valued JSON functions */
	CHECK(q(st, "SELECT count(*) FROM customer360, json_each(doc, '$.tags')", err, sizeof err,
		&out) == C360_OK);
	CHECK_EQ_STR(out.data, "{\"columns\":[\"count(*)\"],\"rows\":[[2]],\"truncated\":false}");
	c360_buf_release(&out);
	c360_store_close(st);
}

TEST(query_refuses_writes)
{
	c360_store *st = open_new();
	REQUIRE(st);
	REQUIRE(c360_store_bucket_create(st, "b", 0, NULL, 0) == C360_OK);
	CHECK(c360_store_upsert(st, "b", S("k"), S("{\"a\":1}"), 0, NULL) == C360_OK);
	struct c360_buf out;
	c360_buf_init(&out, 0);
	char err[256];
	char path2[300];
	path_for(path2, sizeof path2, "attached.db");
	char attach[400];
	snprintf(attach, sizeof attach, "ATTACH DATABASE '%s' AS x", path2);
	const char *bad[] = {
		"INSERT INTO b(key, doc) VALUES('x', '{}')",
		"UPDATE b SET doc='{}'",
		"DELETE FROM b",
		"DROP VIEW b",
		"DROP TABLE _b1",
		"DELETE FROM _b1",
		"UPDATE _b1 SET value='2'",
		"INSERT INTO _c360_buckets(name) VALUES('evil')",
		"CREATE TABLE t(x)",
		"CREATE TEMP TABLE t(x)",
		attach,
		"PRAGMA journal_mode=DELETE",
		"PRAGMA user_version=5",
		"PRAGMA application_id=0",
		"PRAGMA query_only=0",
		"BEGIN",
		"VACUUM",
		"REINDEX",
		"ANALYZE",
		"SELECT * FROM _b1",
		"SELECT * FROM _c360_buckets",
		"WITH x AS (SELECT 1) DELETE FROM _b1",
		"UPDATE sqlite_master SET sql='x'",
		"PRAGMA writable_schema=1",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		err[0] = '\0';
		c360_rc rc = q(st, bad[i], err, sizeof err, &out);
		if (rc == C360_OK)
			printf("  not refused: %s\n", bad[i]);
		CHECK(rc == C360_ERR_DENIED || rc == C360_ERR_INVALID);
		CHECK(err[0] != '\0');
	}
	CHECK(q(st, "INSERT INTO b(key, doc) VALUES('x', '{}')", err, sizeof err, &out) ==
	      C360_ERR_DENIED);
	CHECK(q(st, "DELETE FROM _b1", err, sizeof err, &out) == C360_ERR_DENIED);
	CHECK(q(st, attach, err, sizeof err, &out) == C360_ERR_DENIED);
	CHECK(q(st, "PRAGMA user_version=5", err, sizeof err, &out) == C360_ERR_DENIED);
	/* nothing changed */
	struct c360_doc d;
	REQUIRE(c360_store_get(st, "b", S("k"), &d) == C360_OK);
	CHECK_EQ_STR(d.value, "{\"a\":1}");
	c360_doc_release(&d);
	struct stat sb;
	CHECK(stat(path2, &sb) != 0);
	struct c360_bucket_info *l = NULL;
	size_t n = 0;
	CHECK(c360_store_bucket_list(st, &l, &n) == C360_OK);
	CHECK_EQ_INT(n, 1);
	free(l);
	c360_buf_release(&out);
	c360_store_close(st);
}

/* Issue 24: a read-only query cannot exhaust the server's memory or time
 * inside one function call (printf, zeroblob, hex), nor send an unbounded
 * answer: each ends at once with its limit named, the answer untouched. */
TEST(query_bounds_values_and_answer)
{
	c360_store *st = open_new();
	REQUIRE(st);
	REQUIRE(c360_store_bucket_create(st, "b", 0, NULL, 0) == C360_OK);
	CHECK(c360_store_upsert(st, "b", S("k"), S("{\"a\":1}"), 0, NULL) == C360_OK);
	struct c360_buf out;
	c360_buf_init(&out, 0);
	char err[512];
	/* the attacks: values past 32 MiB are never built; SQLite's
	 * printf() answers NULL then, the other functions an error */
	CHECK(q(st, "SELECT printf('%.*c', 900000000, 'x'), length(printf('%.*c', 2000000000, 'x'))",
		err, sizeof err, &out) == C360_OK);
	CHECK(strstr(out.data, "\"rows\":[[null,null]]") != NULL);
	const char *big[] = {
		"SELECT hex(zeroblob(1e8))",
		"SELECT length(zeroblob(1e9))",
		"SELECT randomblob(500000000)",
		"SELECT replace(printf('%.*c', 20000000, 'x'), 'x', 'yy')",
		"WITH RECURSIVE r(n, s) AS (SELECT 1, 'x' UNION ALL SELECT n + 1, s || s FROM r"
		" WHERE n < 40) SELECT max(length(s)) FROM r",
	};
	for (size_t i = 0; i < sizeof big / sizeof *big; i++) {
		err[0] = '\0';
		c360_rc rc = q(st, big[i], err, sizeof err, &out);
		if (rc != C360_ERR_LIMIT)
			printf("  %s -> %s: %s %.100s\n", big[i], c360_rc_str(rc), err, out.data);
		CHECK_EQ_INT(rc, C360_ERR_LIMIT);
		CHECK(strstr(err, "exceed 33554432 bytes") != NULL);
		CHECK(strstr(err, "string or blob too big") != NULL);
		CHECK_EQ_INT(out.len, 0);
	}
	/* below the limit a large value still works (documents go up to 20 MiB) */
	CHECK(q(st, "SELECT length(printf('%.*c', 30000000, 'x'))", err, sizeof err, &out) == C360_OK);
	CHECK_EQ_STR(out.data, "{\"columns\":[\"length(printf('%.*c', 30000000, 'x'))\"],"
			       "\"rows\":[[30000000]],\"truncated\":false}");
	/* the answer is capped at max_bytes: many rows, one wide value, one
	 * value that grows when escaped, a blob that grows as hex */
	struct c360_query_opts qo = {.max_bytes = 1u << 20, .max_rows = 100000};
	size_t max0 = out.max;
	const char *wide[] = {
		"WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 50000)"
		" SELECT n, printf('%.*c', 100, 'x') FROM r",
		"SELECT printf('%.*c', 500000, char(1))",
		"SELECT zeroblob(600000)",
	};
	for (size_t i = 0; i < sizeof wide / sizeof *wide; i++) {
		c360_buf_reset(&out);
		c360_buf_puts(&out, "kept");
		err[0] = '\0';
		c360_rc rc = c360_store_query(st, wide[i], &qo, &out, err, sizeof err);
		if (rc != C360_ERR_TOO_BIG)
			printf("  %s -> %s: %s %.100s\n", wide[i], c360_rc_str(rc), err, out.data);
		CHECK_EQ_INT(rc, C360_ERR_TOO_BIG);
		CHECK(strstr(err, "answer exceeds 1048576 bytes") != NULL);
		CHECK_EQ_INT(out.len, 4);
		CHECK_EQ_INT(out.max, max0);
	}
	/* the caller's own cap still applies and is left as it was */
	struct c360_buf small;
	c360_buf_init(&small, 64);
	CHECK(c360_store_query(st, "SELECT printf('%.*c', 100, 'x')", &qo, &small, err, sizeof err) ==
	      C360_ERR_TOO_BIG);
	CHECK_EQ_INT(small.max, 64);
	CHECK(strstr(err, "output limit") != NULL);
	c360_buf_release(&small);
	/* a value of max_bytes fits; hex of a blob of a bit less than half too */
	c360_buf_reset(&out);
	CHECK(c360_store_query(st, "SELECT zeroblob(500000)", &qo, &out, err, sizeof err) == C360_OK);
	CHECK(out.len > 1000000 && out.len < (1u << 20));
	c360_buf_release(&out);
	c360_store_close(st);
}

/* Issue 24: SQLite checks the time limit between steps, never inside a
 * function; instr(), replace() and trim(X, Y) did quadratic work in one
 * call (minutes on a few MB: the old code ended these with a timeout long
 * after it was due). They now work in linear time with SQLite's results,
 * and LIKE/GLOB patterns and trim()'s set are short. */
TEST(query_builtins_linear)
{
	c360_store *st = open_new();
	REQUIRE(st);
	struct c360_buf out;
	c360_buf_init(&out, 0);
	char err[512];
	struct c360_query_opts qo = {.timeout_ms = 10000};
	c360_rc rc = c360_store_query(
		st,
		"SELECT instr(printf('%.*c', 4000000, 'a'), printf('%.*c', 200000, 'a') || 'b'),"
		" length(replace(printf('%.*c', 4000000, 'a'), printf('%.*c', 200000, 'a') || 'b', 'x')),"
		" length(trim(printf('%.*c', 4000000, 'a'), printf('%.*c', 255, 'b') || 'a'))",
		&qo, &out, err, sizeof err);
	if (rc)
		printf("  %s: %s\n", c360_rc_str(rc), err);
	CHECK_EQ_INT(rc, C360_OK);
	CHECK(strstr(out.data, "\"rows\":[[0,4000000,0]]") != NULL);
	/* the same answers as SQLite's own */
	CHECK(q(st, "SELECT instr('héllo wörld', 'wö'), instr(x'0102ff03', x'ff03'), instr('abc', ''),"
		    " instr(NULL, 'a'), instr(12345, 34), replace('aXbXc', 'X', '--'), replace('abc', '', 'z'),"
		    " replace('héhé', 'é', 'e'), replace(NULL, 'a', 'b'), replace(123, 2, 9),"
		    " trim('xxhixx', 'x'), ltrim('  éahéé', 'é a'), rtrim('abcéé', 'é'), trim('ééé', 'é'),"
		    " trim('abc', ''), trim(NULL, 'a'), trim('aXa', 'a'), trim('  x  ')",
		err, sizeof err, &out) == C360_OK);
	CHECK(strstr(out.data, "\"rows\":[[7,3,1,null,3,\"a--b--c\",\"abc\",\"hehe\",null,\"193\","
			       "\"hi\",\"héé\",\"abc\",\"\",\"abc\",null,\"X\",\"x\"]]") != NULL);
	/* long LIKE/GLOB patterns and trim() sets are refused, named */
	CHECK_EQ_INT(q(st, "SELECT 'a' LIKE '%' || printf('%.*c', 200, 'a') || 'b'", err, sizeof err, &out),
		     C360_ERR_INVALID);
	CHECK(strstr(err, "pattern too complex") != NULL);
	CHECK_EQ_INT(q(st, "SELECT 'a' GLOB '*' || printf('%.*c', 200, 'a')", err, sizeof err, &out),
		     C360_ERR_INVALID);
	CHECK_EQ_INT(q(st, "SELECT trim('a', printf('%.*c', 20000, 'b'))", err, sizeof err, &out),
		     C360_ERR_INVALID);
	CHECK(strstr(err, "trim(): the characters to remove exceed 256 bytes (got 20000)") != NULL);
	c360_buf_release(&out);
	c360_store_close(st);
}

/* Issue 24: a query reads the bucket tables and the JSON table functions
 * only: SQLite's schema tables would list the store's internals (and the
 * system bucket's name), pragma functions its layout. Each refusal names the
 * table. */
TEST(query_reads_buckets_only)
{
	c360_store *st = open_new();
	REQUIRE(st);
	REQUIRE(c360_store_bucket_create(st, "b", 0, NULL, 0) == C360_OK);
	REQUIRE(c360_store_bucket_create(st, C360_META_BUCKET, 0, NULL, 0) == C360_OK);
	CHECK(c360_store_upsert(st, "b", S("k"), S("{\"a\":[1,2]}"), 0, NULL) == C360_OK);
	CHECK(c360_store_upsert(st, C360_META_BUCKET, S("token::x"), S("{\"hash\":\"h\"}"), 0, NULL) ==
	      C360_OK);
	struct c360_buf out;
	c360_buf_init(&out, 0);
	char err[512];
	struct {
		const char *sql, *table;
	} bad[] = {
		{"SELECT name FROM sqlite_master", "sqlite_master"},
		{"SELECT sql FROM sqlite_schema", "sqlite_master"},
		{"SELECT * FROM main.sqlite_master", "sqlite_master"},
		{"SELECT sql FROM sqlite_temp_master", "sqlite_temp_master"},
		{"SELECT sql FROM sqlite_temp_schema", "sqlite_temp_master"},
		{"SELECT sql FROM temp.sqlite_master", "sqlite_temp_master"},
		{"SELECT count(*) FROM sqlite_master", "sqlite_master"},
		{"SELECT * FROM (SELECT name FROM sqlite_master)", "sqlite_master"},
		{"WITH t AS (SELECT tbl_name FROM sqlite_temp_schema) SELECT * FROM t", "sqlite_temp_master"},
		{"SELECT (SELECT group_concat(name) FROM sqlite_master)", "sqlite_master"},
		{"SELECT * FROM pragma_table_list", "pragma_table_list"},
		{"SELECT * FROM pragma_table_info('_b1')", "pragma_table_info"},
		{"SELECT * FROM _c360_meta", "_c360_meta"},
		{"SELECT * FROM _c360_cursors", "_c360_cursors"},
		{"SELECT key FROM main._b1", "_b1"},
		/* a CTE is a view to the authorizer: named like a bucket, it
		 * must not read that bucket's internal table (tombstones) */
		{"WITH t AS (SELECT * FROM _c360_meta) SELECT * FROM t", "_c360_meta"},
		{"WITH b AS (SELECT key FROM _b1) SELECT * FROM b", "_b1"},
		{"WITH \"b\" AS (SELECT key FROM main._b1 WHERE value IS NULL) SELECT * FROM b", "_b1"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		err[0] = '\0';
		c360_rc rc = q(st, bad[i].sql, err, sizeof err, &out);
		char want[80];
		snprintf(want, sizeof want, "table '%s' is not readable", bad[i].table);
		if (rc != C360_ERR_DENIED || !strstr(err, want))
			printf("  %s -> %s: %s\n", bad[i].sql, c360_rc_str(rc), err);
		CHECK_EQ_INT(rc, C360_ERR_DENIED);
		CHECK(strstr(err, want) != NULL);
	}
	/* what a query may read */
	CHECK(q(st, "SELECT count(*) FROM b, json_each(b.doc, '$.a')", err, sizeof err, &out) == C360_OK);
	CHECK(strstr(out.data, "[[2]]") != NULL);
	CHECK(q(st, "SELECT count(*) FROM temp.b, json_tree(b.doc)", err, sizeof err, &out) == C360_OK);
	CHECK(q(st, "WITH x AS (SELECT key FROM b) SELECT * FROM x", err, sizeof err, &out) == C360_OK);
	CHECK_EQ_STR(out.data, "{\"columns\":[\"key\"],\"rows\":[[\"k\"]],\"truncated\":false}");
	/* the system bucket: readable unless the caller says no */
	CHECK(q(st, "SELECT key FROM " C360_META_BUCKET, err, sizeof err, &out) == C360_OK);
	struct c360_query_opts qo = {.no_system = true};
	const char *sys[] = {"SELECT key FROM " C360_META_BUCKET,
			     "SELECT count(*) FROM \"C360_META\"",
			     "SELECT (SELECT doc FROM temp." C360_META_BUCKET ") FROM b"};
	for (size_t i = 0; i < sizeof sys / sizeof *sys; i++) {
		c360_buf_reset(&out);
		err[0] = '\0';
		CHECK_EQ_INT(c360_store_query(st, sys[i], &qo, &out, err, sizeof err), C360_ERR_DENIED);
		CHECK(strstr(err, "system bucket '" C360_META_BUCKET "' needs admin access") != NULL);
	}
	c360_buf_reset(&out);
	CHECK(c360_store_query(st, "SELECT key FROM b WHERE 'c360_meta' != ''", &qo, &out, err,
			       sizeof err) == C360_OK);
	c360_buf_release(&out);
	c360_store_close(st);
}

struct valcheck {
	const char *want;
	int n;
};

static int val_cb(const struct c360_feed_event *ev, void *ctx)
{
	struct valcheck *v = ctx;
	if (ev->value && ev->value_len == strlen(v->want) && !memcmp(ev->value, v->want, ev->value_len))
		v->n++;
	return 0;
}

TEST(compression)
{
	c360_store *st = open_new();
	REQUIRE(st);
	REQUIRE(c360_store_bucket_create(st, "z", 0, NULL, 0) == C360_OK);
	/* a compressible 4 KB document */
	static char big[4200];
	size_t off = 0;
	off += (size_t)snprintf(big + off, sizeof big - off, "{\"items\":[");
	for (int i = 0; i < 100; i++)
		off += (size_t)snprintf(big + off, sizeof big - off, "%s{\"name\":\"item\",\"n\":%d}",
					i ? "," : "", i);
	off += (size_t)snprintf(big + off, sizeof big - off, "]}");
	size_t blen = strlen(big);
	CHECK(c360_store_upsert(st, "z", S("on"), big, blen, 0, NULL) == C360_OK);
	c360_store_set_compression(st, 0);
	CHECK(c360_store_upsert(st, "z", S("off"), big, blen, 0, NULL) == C360_OK);
	c360_store_set_compression(st, 3);
	struct c360_doc d;
	REQUIRE(c360_store_get(st, "z", S("on"), &d) == C360_OK);
	CHECK_EQ_INT(d.value_len, blen);
	CHECK(!strcmp(d.value, big));
	c360_doc_release(&d);
	REQUIRE(c360_store_get(st, "z", S("off"), &d) == C360_OK);
	CHECK(!strcmp(d.value, big));
	c360_doc_release(&d);
	/* stored size: one compressed, one not */
	struct c360_bucket_info info;
	REQUIRE(c360_store_bucket_info(st, "z", &info) == C360_OK);
	CHECK(info.bytes < 2 * blen - blen / 2);
	CHECK(info.bytes > blen);
	/* the feed and SQL see the JSON text */
	struct valcheck v = {big, 0};
	CHECK(c360_feed_read(st, "z", 0, 0, val_cb, &v, NULL) == C360_OK);
	CHECK_EQ_INT(v.n, 2);
	struct c360_buf out;
	c360_buf_init(&out, 0);
	char err[256];
	CHECK(c360_store_query(st, "SELECT key, json_extract(doc, '$.items[99].n'), length(doc) FROM z ORDER BY key",
			       NULL, &out, err, sizeof err) == C360_OK);
	char want[200];
	snprintf(want, sizeof want,
		 "{\"columns\":[\"key\",\"json_extract(doc, '$.items[99].n')\",\"length(doc)\"],"
		 "\"rows\":[[\"off\",99,%zu],[\"on\",99,%zu]],\"truncated\":false}", blen, blen);
	CHECK_EQ_STR(out.data, want);
	c360_buf_release(&out);
	/* touch and KEEP_EXPIRY upserts keep it readable */
	CHECK(c360_store_touch(st, "z", S("on"), 1000, NULL) == C360_OK);
	REQUIRE(c360_store_get(st, "z", S("on"), &d) == C360_OK);
	CHECK(!strcmp(d.value, big));
	c360_doc_release(&d);
	c360_store_close(st);
}

int main(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/c360-test-store-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(open_creates_and_reopens);
	RUN(no_create_and_read_only);
	RUN(not_a_store_is_corrupt);
	RUN(buckets);
	RUN(document_operations);
	RUN(bad_input);
	RUN(expiry_absolute_boundary);
	RUN(expiry_and_sweep);
	RUN(max_ttl_caps);
	RUN(sweeper_thread_expires);
	RUN(feed_order_dedup_latest);
	RUN(feed_many_chunks);
	RUN(batch_per_op_results);
	RUN(batch_many_buckets);
	RUN(cursors);
	RUN(group_commit_threads);
	RUN(group_commit_groups);
	RUN(feed_wait);
	RUN(two_handles_share_a_store);
	RUN(tombstone_purge);
	RUN(counters_match_a_scan);
	RUN(batch_runs_same_as_one_by_one);
	RUN(checkpoints_while_open);
	RUN(walbuf_rollback_and_two_writers);
	RUN(query_reads);
	RUN(query_refuses_writes);
	RUN(query_bounds_values_and_answer);
	RUN(query_reads_buckets_only);
	RUN(query_builtins_linear);
	RUN(compression);
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		printf("could not remove %s\n", tmpdir);
	return test_summary();
}
