/* The CSV/JSON importer in-process against a temporary store: documents,
 * key generators, type inference, RFC 4180 corners end to end, bad rows and
 * the errors log, skip/limit, threads, expiry, JSON lines/list, and import
 * tracking (re-import no-op, newest file). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/json.h"
#include "sources/csv/importer.h"
#include "sources/csv/tracker.h"
#include "store/store.h"
#include "test.h"
#include "core/banned.h"

static char dir[256];
static c360_store *st;
static int nfile;

static const char *write_file(const char *content, size_t len)
{
	static char path[512];
	snprintf(path, sizeof path, "%s/in%d.csv", dir, ++nfile);
	FILE *f = fopen(path, "wb");
	fwrite(content, 1, len, f);
	fclose(f);
	return path;
}

static const char *file_of(const char *content)
{
	return write_file(content, strlen(content));
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	struct c360_buf b;
	c360_buf_init(&b, 0);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		c360_buf_append(&b, chunk, n);
	fclose(f);
	char *s = c360_buf_detach(&b, NULL);
	return s ? s : calloc(1, 1);
}

/* A fresh bucket per test. */
static const char *bucket(void)
{
	static char name[64];
	static int n;
	snprintf(name, sizeof name, "b%d", ++n);
	c360_store_bucket_create(st, name, 0, NULL, 0);
	return name;
}

static struct c360_import_opts opts_for(const char *b, const char *path, const char *key)
{
	struct c360_import_opts o;
	memset(&o, 0, sizeof o);
	o.bucket = b;
	o.path = path;
	o.key_expr = key;
	o.threads = 1;
	return o;
}

/* The document at key, as text ("" when absent). */
static const char *get(const char *b, const char *key)
{
	static char val[4096];
	struct c360_doc d;
	memset(&d, 0, sizeof d);
	val[0] = '\0';
	if (c360_store_get(st, b, key, strlen(key), &d) == C360_OK) {
		snprintf(val, sizeof val, "%s", d.value);
		c360_doc_release(&d);
	}
	return val;
}

static uint64_t count(const char *b)
{
	struct c360_bucket_info bi;
	memset(&bi, 0, sizeof bi);
	c360_store_bucket_info(st, b, &bi);
	return bi.count;
}

static const char *LOYALTY = "id,password,firstName,lastName,email,points\n"
			     "1,edzchzmatv5,Matthew,Groves,matthew.groves@couchbase.com,1000\n"
			     "2,pw2,Gia,Kutch,gia_kutch@oconnell.biz,25\n";

TEST(seed_import_strings)
{
	const char *b = bucket();
	struct c360_import_opts o = opts_for(b, file_of(LOYALTY), "key::#MONO_INCR#");
	o.threads = 4;
	struct c360_import_stats s;
	char err[256];
	REQUIRE(c360_import_run(st, &o, &s, err, sizeof err) == C360_OK);
	CHECK_EQ_INT(s.rows, 2);
	CHECK_EQ_INT(s.imported, 2);
	CHECK_EQ_INT(s.failed, 0);
	CHECK_EQ_STR(get(b, "key::1"),
		     "{\"id\":\"1\",\"password\":\"edzchzmatv5\",\"firstName\":\"Matthew\",\"lastName\":"
		     "\"Groves\",\"email\":\"matthew.groves@couchbase.com\",\"points\":\"1000\"}");
	CHECK(strstr(get(b, "key::2"), "\"firstName\":\"Gia\"") != NULL);
	CHECK_EQ_INT(count(b), 2);
}

TEST(key_generators)
{
	const char *path = file_of(LOYALTY);
	struct c360_import_stats s;
	char err[256];
	const char *b = bucket();
	struct c360_import_opts o = opts_for(b, path, "loyalty-member-%id%");
	REQUIRE(c360_import_run(st, &o, &s, err, sizeof err) == C360_OK);
	CHECK(*get(b, "loyalty-member-1") && *get(b, "loyalty-member-2"));

	b = bucket();
	o = opts_for(b, path, "m::#MONO_INCR[100]#::%email%");
	REQUIRE(c360_import_run(st, &o, &s, err, sizeof err) == C360_OK);
	CHECK(*get(b, "m::100::matthew.groves@couchbase.com"));
	CHECK(*get(b, "m::101::gia_kutch@oconnell.biz"));

	b = bucket();
	o = opts_for(b, path, "u::#UUID#");
	REQUIRE(c360_import_run(st, &o, &s, err, sizeof err) == C360_OK);
	CHECK_EQ_INT(count(b), 2);

	b = bucket();
	o = opts_for(b, path, "100%%-$id$-@MONO_INCR@##");
	o.field_delim = '$';
	o.gen_delim = '@';
	REQUIRE(c360_import_run(st, &o, &s, err, sizeof err) == C360_OK);
	CHECK(*get(b, "100%%-1-1##"));

	b = bucket();
	o = opts_for(b, file_of("a.b,x\nv1,1\n"), "k-%`a.b`%");
	REQUIRE(c360_import_run(st, &o, &s, err, sizeof err) == C360_OK);
	CHECK_EQ_STR(get(b, "k-v1"), "{\"a.b\":\"v1\",\"x\":\"1\"}");
}

TEST(key_field_not_in_header)
{
	const char *b = bucket();
	struct c360_import_opts o = opts_for(b, file_of(LOYALTY), "k::%nope%");
	struct c360_import_stats s;
	char err[256] = "";
	CHECK(c360_import_run(st, &o, &s, err, sizeof err) == C360_ERR_INVALID);
	CHECK(strstr(err, "'nope'") != NULL);
	o.key_expr = "k::%id";
	CHECK(c360_import_run(st, &o, &s, err, sizeof err) == C360_ERR_INVALID);
	CHECK(strstr(err, "unterminated") != NULL);
}

TEST(unknown_bucket)
{
	struct c360_import_opts o = opts_for("no_such_bucket", file_of(LOYALTY), "%id%");
	struct c360_import_stats s;
	char err[256] = "";
	CHECK(c360_import_run(st, &o, &s, err, sizeof err) == C360_ERR_NOT_FOUND);
	CHECK(strstr(err, "no_such_bucket") != NULL);
	o.bucket = bucket();
	o.path = "/nonexistent/file.csv";
	CHECK(c360_import_run(st, &o, &s, err, sizeof err) == C360_ERR_NOT_FOUND);
	CHECK(strstr(err, "/nonexistent/file.csv") != NULL);
}

TEST(infer_types)
{
	const char *b = bucket();
	struct c360_import_opts o =
		opts_for(b, file_of("k,i,neg,f,e,t,F,zip,big,s,empty,plus,dot\n"
				    "a,42,-7,1.50,2e3,true,False,007,99999999999999999999,hello,,+1,.5\n"),
			 "%k%");
	o.infer_types = true;
	struct c360_import_stats s;
	char err[256];
	REQUIRE(c360_import_run(st, &o, &s, err, sizeof err) == C360_OK);
	CHECK_EQ_STR(get(b, "a"), "{\"k\":\"a\",\"i\":42,\"neg\":-7,\"f\":1.50,\"e\":2e3,\"t\":true,"
				  "\"F\":false,\"zip\":\"007\",\"big\":\"99999999999999999999\","
				  "\"s\":\"hello\",\"empty\":\"\",\"plus\":\"+1\",\"dot\":\".5\"}");
	CHECK_EQ_INT(c360_import_infer("9223372036854775807", 19), 1);
	CHECK_EQ_INT(c360_import_infer("9223372036854775808", 19), 0);
	CHECK_EQ_INT(c360_import_infer("-9223372036854775808", 20), 1);
	CHECK_EQ_INT(c360_import_infer("1.", 2), 0);
	CHECK_EQ_INT(c360_import_infer("1e", 2), 0);
	CHECK_EQ_INT(c360_import_infer("-0", 2), 1);
	CHECK_EQ_INT(c360_import_infer("0.0", 3), 2);
	CHECK_EQ_INT(c360_import_infer("NaN", 3), 0);
	CHECK_EQ_INT(c360_import_infer("TRUE", 4), 3);
	CHECK_EQ_INT(c360_import_infer("tRUE", 4), 0);
}

TEST(omit_empty)
{
	const char *b = bucket();
	struct c360_import_opts o = opts_for(b, file_of("k,a,b\nx,,2\n"), "%k%");
	o.omit_empty = true;
	struct c360_import_stats s;
	char err[256];
	REQUIRE(c360_import_run(st, &o, &s, err, sizeof err) == C360_OK);
	CHECK_EQ_STR(get(b, "x"), "{\"k\":\"x\",\"b\":\"2\"}");
	/* without the flag the empty cell is "" */
	b = bucket();
	o.bucket = b;
	o.omit_empty = false;
	REQUIRE(c360_import_run(st, &o, &s, err, sizeof err) == C360_OK);
	CHECK_EQ_STR(get(b, "x"), "{\"k\":\"x\",\"a\":\"\",\"b\":\"2\"}");
}

TEST(rfc4180_end_to_end)
{
	const char *b = bucket();
	const char *csv = "\xEF\xBB\xBF" "id,name,note\r\n"
			  "1,\"Groves, Matt\",\"said \"\"hi\"\"\"\r\n"
			  "2,\"multi\r\nline\",\"tab\there\"\r\n"
			  "3,caf\xC3\xA9,\"\\back\"\r\n";
	struct c360_import_opts o = opts_for(b, file_of(csv), "%id%");
	struct c360_import_stats s;
	char err[256];
	REQUIRE(c360_import_run(st, &o, &s, err, sizeof err) == C360_OK);
	CHECK_EQ_INT(s.imported, 3);
	CHECK_EQ_STR(get(b, "1"), "{\"id\":\"1\",\"name\":\"Groves, Matt\",\"note\":\"said \\\"hi\\\"\"}");
	CHECK_EQ_STR(get(b, "2"), "{\"id\":\"2\",\"name\":\"multi\\r\\nline\",\"note\":\"tab\\there\"}");
	CHECK_EQ_STR(get(b, "3"), "{\"id\":\"3\",\"name\":\"caf\xC3\xA9\",\"note\":\"\\\\back\"}");
	/* each document is valid JSON for the JSON core */
	for (int i = 1; i <= 3; i++) {
		char k[4];
		snprintf(k, sizeof k, "%d", i);
		const char *v = get(b, k);
		CHECK(c360_json_validate(v, strlen(v), NULL, NULL) == C360_OK);
	}
}

TEST(wide_row_slow_path)
{
	/* a row whose worst-case escaping exceeds 1 MiB takes the appending path */
	size_t n = 300000;
	struct c360_buf csv, want;
	c360_buf_init(&csv, 0);
	c360_buf_init(&want, 0);
	c360_buf_puts(&csv, "id,big\nw,\"");
	c360_buf_puts(&want, "{\"id\":\"w\",\"big\":\"");
	for (size_t i = 0; i < n; i++) {
		const char *piece = i % 3 == 0 ? "\"\"" : i % 3 == 1 ? "\xC3\xA9" : "\n";
		const char *jpiece = i % 3 == 0 ? "\\\"" : i % 3 == 1 ? "\xC3\xA9" : "\\n";
		c360_buf_puts(&csv, piece);
		c360_buf_puts(&want, jpiece);
	}
	c360_buf_puts(&csv, "\"\nx,\"bad\xFF\"\n");
	c360_buf_puts(&want, "\"}");
	const char *b = bucket();
	struct c360_import_opts o = opts_for(b, write_file(csv.data, csv.len), "%id%");
	struct c360_import_stats s;
	char err[256];
	REQUIRE(c360_import_run(st, &o, &s, err, sizeof err) == C360_OK);
	CHECK_EQ_INT(s.imported, 1);
	CHECK_EQ_INT(s.failed, 1);
	struct c360_doc d;
	memset(&d, 0, sizeof d);
	REQUIRE(c360_store_get(st, b, "w", 1, &d) == C360_OK);
	CHECK(d.value_len == want.len && !memcmp(d.value, want.data, want.len));
	c360_doc_release(&d);
	c360_buf_release(&csv);
	c360_buf_release(&want);
}

TEST(separator_tab)
{
	const char *b = bucket();
	struct c360_import_opts o = opts_for(b, file_of("id\tname\n1\ta,b\n"), "%id%");
	o.separator = '\t';
	struct c360_import_stats s;
	char err[256];
	REQUIRE(c360_import_run(st, &o, &s, err, sizeof err) == C360_OK);
	CHECK_EQ_STR(get(b, "1"), "{\"id\":\"1\",\"name\":\"a,b\"}");
}

TEST(bad_rows_and_errors_log)
{
	const char *b = bucket();
	char elog[512];
	snprintf(elog, sizeof elog, "%s/errors.jsonl", dir);
	const char *csv = "id,name\n"
			  "1,ok\n"
			  "2,too,many\n"
			  "3,bad\xFF" "utf8\n"
			  ",nokey\n"
			  "5,\"last\"\n"
			  "6,\"open";
	struct c360_import_opts o = opts_for(b, file_of(csv), "m::%id%");
	o.errors_log = elog;
	struct c360_import_stats s;
	char err[256];
	REQUIRE(c360_import_run(st, &o, &s, err, sizeof err) == C360_OK);
	CHECK_EQ_INT(s.rows, 6);
	CHECK_EQ_INT(s.imported, 2);
	CHECK_EQ_INT(s.failed, 4);
	CHECK(*get(b, "m::1") && *get(b, "m::5"));
	char *log = slurp(elog);
	REQUIRE(log);
	/* one valid JSON object per line, with the row and the reason */
	int lines = 0;
	for (char *p = log, *nl; (nl = strchr(p, '\n')); p = nl + 1) {
		lines++;
		CHECK(c360_json_validate(p, (size_t)(nl - p), NULL, NULL) == C360_OK);
	}
	CHECK_EQ_INT(lines, 4);
	CHECK(strstr(log, "{\"row\":3,\"reason\":\"wrong number of fields: 3, the header has 2\"") != NULL);
	CHECK(strstr(log, "{\"row\":4,\"reason\":\"invalid UTF-8 in field 'name' at byte 3\"") != NULL);
	CHECK(strstr(log, "{\"row\":5,\"reason\":\"key field 'id' is empty\"") != NULL);
	CHECK(strstr(log, "{\"row\":7,\"reason\":\"unterminated quoted field at end of input\"") != NULL);
	CHECK(strstr(log, "\"fields\":[\"2\",\"too\",\"many\"]") != NULL);
	free(log);
}

TEST(long_key_fails_row)
{
	const char *b = bucket();
	char csv[1024];
	char longv[300];
	memset(longv, 'x', 260);
	longv[260] = '\0';
	snprintf(csv, sizeof csv, "id\n%s\nshort\n", longv);
	struct c360_import_opts o = opts_for(b, file_of(csv), "%id%");
	struct c360_import_stats s;
	char err[256];
	REQUIRE(c360_import_run(st, &o, &s, err, sizeof err) == C360_OK);
	CHECK_EQ_INT(s.imported, 1);
	CHECK_EQ_INT(s.failed, 1);
}

TEST(skip_and_limit)
{
	struct c360_buf csv;
	c360_buf_init(&csv, 0);
	c360_buf_puts(&csv, "id,v\n");
	for (int i = 1; i <= 100; i++)
		c360_buf_printf(&csv, "%d,x\n", i);
	const char *path = write_file(csv.data, csv.len);
	c360_buf_release(&csv);
	const char *b = bucket();
	struct c360_import_opts o = opts_for(b, path, "r%id%-#MONO_INCR#");
	o.skip_rows = 10;
	o.limit_rows = 5;
	struct c360_import_stats s;
	char err[256];
	REQUIRE(c360_import_run(st, &o, &s, err, sizeof err) == C360_OK);
	CHECK_EQ_INT(s.skipped, 10);
	CHECK_EQ_INT(s.rows, 5);
	CHECK_EQ_INT(count(b), 5);
	CHECK(*get(b, "r11-1")); /* MONO_INCR counts imported rows from 1 */
	CHECK(*get(b, "r15-5"));
	CHECK(!*get(b, "r16-6"));
}

TEST(threads_and_small_batches_keep_order)
{
	/* many batches over 4 writers; duplicate keys: the last row wins */
	struct c360_buf csv;
	c360_buf_init(&csv, 0);
	c360_buf_puts(&csv, "id,v\n");
	for (int i = 1; i <= 5000; i++)
		c360_buf_printf(&csv, "%d,%d\n", i % 100, i);
	const char *path = write_file(csv.data, csv.len);
	c360_buf_release(&csv);
	const char *b = bucket();
	struct c360_import_opts o = opts_for(b, path, "k%id%");
	o.threads = 4;
	o.batch_rows = 7;
	struct c360_import_stats s;
	char err[256];
	REQUIRE(c360_import_run(st, &o, &s, err, sizeof err) == C360_OK);
	CHECK_EQ_INT(s.imported, 5000);
	CHECK_EQ_INT(count(b), 100);
	CHECK_EQ_STR(get(b, "k7"), "{\"id\":\"7\",\"v\":\"4907\"}");
	CHECK_EQ_STR(get(b, "k0"), "{\"id\":\"0\",\"v\":\"5000\"}");
}

static int64_t fake_now;
static int64_t fake_clock(void *ctx)
{
	(void)ctx;
	return fake_now;
}

TEST(expiry_visible_and_honoured)
{
	const char *b = bucket();
	struct c360_import_opts o = opts_for(b, file_of(LOYALTY), "loyalty-member-%id%");
	o.expiry = 25 * 3600;
	struct c360_import_stats s;
	char err[256];
	int64_t t0 = (int64_t)time(NULL);
	REQUIRE(c360_import_run(st, &o, &s, err, sizeof err) == C360_OK);
	struct c360_doc d;
	memset(&d, 0, sizeof d);
	REQUIRE(c360_store_get(st, b, "loyalty-member-1", 16, &d) == C360_OK);
	CHECK(d.expiry >= t0 + 25 * 3600 && d.expiry <= time(NULL) + 25 * 3600);
	c360_doc_release(&d);
	/* a day and two hours later it is gone */
	fake_now = t0 + 26 * 3600;
	c360_store_set_clock(st, fake_clock, NULL);
	CHECK(c360_store_get(st, b, "loyalty-member-1", 16, &d) == C360_ERR_NOT_FOUND);
	c360_store_set_clock(st, NULL, NULL);
	CHECK(c360_store_get(st, b, "loyalty-member-1", 16, &d) == C360_OK);
	c360_doc_release(&d);
	/* 45 days: beyond Couchbase's 30-day relative limit, still from now */
	CHECK(c360_import_expiry(45 * 86400, 1000000000) == 1000000000 + 45 * 86400);
	CHECK(c360_import_expiry(90, 1000000000) == 90);
	CHECK(c360_import_expiry(0, 1000000000) == 0);
}

TEST(json_lines_and_list)
{
	const char *b = bucket();
	char elog[512];
	snprintf(elog, sizeof elog, "%s/json-errors.jsonl", dir);
	const char *lines = "{\"id\":1,\"user\":{\"email\":\"a@x\"},\"ok\":true}\n"
			    "\n"
			    "{\"id\":2,\"user\":{\"email\":\"b@x\"}}\r\n"
			    "{\"id\":3,\"user\":{}}\n"
			    "{broken\n"
			    "  {\"id\":5,\"user\":{\"email\":\"e@x\"},\"s\":\"x\\u00e9\"}  ";
	struct c360_import_opts o = opts_for(b, file_of(lines), "u::%user.email%::%id%");
	o.format = C360_IMPORT_JSON_LINES;
	o.errors_log = elog;
	struct c360_import_stats s;
	char err[256];
	REQUIRE(c360_import_run(st, &o, &s, err, sizeof err) == C360_OK);
	CHECK_EQ_INT(s.imported, 3);
	CHECK_EQ_INT(s.failed, 2);
	CHECK_EQ_STR(get(b, "u::a@x::1"), "{\"id\":1,\"user\":{\"email\":\"a@x\"},\"ok\":true}");
	CHECK(*get(b, "u::e@x::5"));
	char *log = slurp(elog);
	REQUIRE(log);
	CHECK(strstr(log, "{\"row\":4,\"reason\":\"key field 'user.email' is missing\"") != NULL);
	CHECK(strstr(log, "{\"row\":5,\"reason\":\"invalid JSON") != NULL);
	free(log);

	b = bucket();
	const char *list = " [ {\"id\":\"a\",\"arr\":[1,\"],\"]}, {\"id\":\"b\",\"s\":\"\\\"}\"},\n{\"id\":\"c\"} ] \n";
	o = opts_for(b, file_of(list), "%id%");
	o.format = C360_IMPORT_JSON_LIST;
	REQUIRE(c360_import_run(st, &o, &s, err, sizeof err) == C360_OK);
	CHECK_EQ_INT(s.imported, 3);
	CHECK_EQ_STR(get(b, "a"), "{\"id\":\"a\",\"arr\":[1,\"],\"]}");
	CHECK_EQ_STR(get(b, "b"), "{\"id\":\"b\",\"s\":\"\\\"}\"}");
	o.path = file_of("{\"id\":1}");
	CHECK(c360_import_run(st, &o, &s, err, sizeof err) == C360_ERR_INVALID);
	o.path = file_of("[{\"id\":\"z\"}");
	CHECK(c360_import_run(st, &o, &s, err, sizeof err) == C360_ERR_INVALID);
	o.path = file_of("[]");
	CHECK(c360_import_run(st, &o, &s, err, sizeof err) == C360_OK);
	CHECK_EQ_INT(s.rows, 0);
}

TEST(tracked_reimport_is_noop)
{
	const char *b = bucket();
	const char *path = file_of(LOYALTY);
	struct c360_import_opts o = opts_for(b, path, "loyalty-member-%id%");
	struct c360_import_stats s;
	struct c360_track_info info;
	char err[256];
	REQUIRE(c360_import_tracked(st, &o, false, &s, &info, err, sizeof err) == C360_OK);
	CHECK_EQ_INT(info.outcome, C360_TRACK_IMPORTED);
	CHECK_EQ_INT(s.imported, 2);
	CHECK(!strncmp(info.meta_key, "import::", 8));
	CHECK(strstr(get(C360_META_BUCKET, info.meta_key), "\"imported\":2") != NULL);
	uint64_t seq0 = 0, seq1 = 0;
	c360_feed_high_seqno(st, b, &seq0);
	/* again: nothing written */
	REQUIRE(c360_import_tracked(st, &o, false, &s, &info, err, sizeof err) == C360_OK);
	CHECK_EQ_INT(info.outcome, C360_TRACK_ALREADY);
	CHECK_EQ_INT(info.prev_imported, 2);
	CHECK_EQ_INT(s.imported, 0);
	c360_feed_high_seqno(st, b, &seq1);
	CHECK_EQ_INT(seq1, seq0);
	/* touched, same content: still nothing */
	struct timespec ts[2] = {{0, UTIME_NOW}, {time(NULL) + 5, 0}};
	utimensat(AT_FDCWD, path, ts, 0);
	REQUIRE(c360_import_tracked(st, &o, false, &s, &info, err, sizeof err) == C360_OK);
	CHECK_EQ_INT(info.outcome, C360_TRACK_SAME_CONTENT);
	/* changed content: imported again */
	FILE *f = fopen(path, "ab");
	fputs("3,pw3,New,Member,new@x.org,1\n", f);
	fclose(f);
	REQUIRE(c360_import_tracked(st, &o, false, &s, &info, err, sizeof err) == C360_OK);
	CHECK_EQ_INT(info.outcome, C360_TRACK_IMPORTED);
	CHECK_EQ_INT(s.imported, 3);
	/* forced */
	REQUIRE(c360_import_tracked(st, &o, true, &s, &info, err, sizeof err) == C360_OK);
	CHECK_EQ_INT(info.outcome, C360_TRACK_IMPORTED);
}

/* issue 24: `"Stray` at data row 10 of 1,000 failed 1 row and silently
 * dropped the 990 after it, and the file was recorded as imported. */
TEST(stray_quote_loses_one_row_only)
{
	const char *b = bucket();
	char elog[512];
	snprintf(elog, sizeof elog, "%s/stray-errors.jsonl", dir);
	struct c360_buf csv;
	c360_buf_init(&csv, 0);
	c360_buf_puts(&csv, "id,name\n");
	for (int i = 1; i <= 1000; i++)
		c360_buf_printf(&csv, i == 10 ? "%d,\"Stray\n" : "%d,name%d\n", i, i);
	const char *path = write_file(csv.data, csv.len);
	c360_buf_release(&csv);
	struct c360_import_opts o = opts_for(b, path, "m::%id%");
	o.errors_log = elog;
	o.batch_rows = 64; /* the recovery crosses batches */
	struct c360_import_stats s;
	struct c360_track_info info;
	char err[256];
	REQUIRE(c360_import_tracked(st, &o, false, &s, &info, err, sizeof err) == C360_OK);
	CHECK_EQ_INT(s.rows, 1000);
	CHECK_EQ_INT(s.imported, 999);
	CHECK_EQ_INT(s.failed, 1);
	CHECK_EQ_INT(s.unbalanced, 1);
	CHECK_EQ_STR(get(b, "m::11"), "{\"id\":\"11\",\"name\":\"name11\"}");
	CHECK_EQ_STR(get(b, "m::1000"), "{\"id\":\"1000\",\"name\":\"name1000\"}");
	CHECK_EQ_STR(get(b, "m::10"), "");
	char *log = slurp(elog);
	REQUIRE(log);
	/* the row (header = 1) and the line where the quote opened */
	const char *head = "{\"row\":11,\"reason\":\"unbalanced quote";
	CHECK(!strncmp(log, head, strlen(head)));
	CHECK(strstr(log, "\"line\":11}\n") != NULL);
	CHECK(strchr(log, '\n') == log + strlen(log) - 1); /* one line */
	free(log);
	/* recorded, and the record says a row failed and why */
	CHECK_EQ_INT(info.outcome, C360_TRACK_IMPORTED);
	const char *rec = get(C360_META_BUCKET, info.meta_key);
	CHECK(strstr(rec, "\"failed\":1,\"unbalanced_quotes\":1") != NULL);
	REQUIRE(c360_import_tracked(st, &o, false, &s, &info, err, sizeof err) == C360_OK);
	CHECK_EQ_INT(info.outcome, C360_TRACK_ALREADY);
	CHECK_EQ_INT(info.prev_failed, 1);
}

/* issue 24: a key holding \u0000 was reported as "key field 'id' is
 * missing"; non-object JSON values were imported and ignored later. */
TEST(nul_in_key_and_non_object_json)
{
	const char *b = bucket();
	char elog[512];
	snprintf(elog, sizeof elog, "%s/nul-errors.jsonl", dir);
	const char *lines = "{\"id\":\"a\\u0000b\"}\n"
			    "42\n"
			    "\"x\"\n"
			    "[1]\n"
			    "null\n"
			    "{\"id\":\"ok\"}\n";
	struct c360_import_opts o = opts_for(b, file_of(lines), "%id%");
	o.format = C360_IMPORT_JSON_LINES;
	o.errors_log = elog;
	struct c360_import_stats s;
	char err[256];
	REQUIRE(c360_import_run(st, &o, &s, err, sizeof err) == C360_OK);
	CHECK_EQ_INT(s.imported, 1);
	CHECK_EQ_INT(s.failed, 5);
	CHECK_EQ_INT(s.not_objects, 4);
	char *log = slurp(elog);
	REQUIRE(log);
	CHECK(strstr(log, "{\"row\":1,\"reason\":\"key field 'id' holds a NUL character "
			  "(\\\\u0000) at byte 1 of its value; document keys cannot contain NUL\"") != NULL);
	CHECK(strstr(log, "{\"row\":2,\"reason\":\"not a JSON object but a number;") != NULL);
	CHECK(strstr(log, "{\"row\":3,\"reason\":\"not a JSON object but a string;") != NULL);
	CHECK(strstr(log, "{\"row\":4,\"reason\":\"not a JSON object but an array;") != NULL);
	CHECK(strstr(log, "{\"row\":5,\"reason\":\"not a JSON object but null;") != NULL);
	free(log);

	/* a list: #MONO_INCR# needs no field, the values are still refused */
	b = bucket();
	o = opts_for(b, file_of("[{\"id\":\"k\"}, 42, \"x\", [1], true]"), "n::#MONO_INCR#");
	o.format = C360_IMPORT_JSON_LIST;
	o.errors_log = elog;
	REQUIRE(c360_import_run(st, &o, &s, err, sizeof err) == C360_OK);
	CHECK_EQ_INT(s.imported, 1);
	CHECK_EQ_INT(s.not_objects, 4);
	CHECK_EQ_STR(get(b, "n::1"), "{\"id\":\"k\"}");
	CHECK_EQ_STR(get(b, "n::2"), "");
	log = slurp(elog);
	REQUIRE(log);
	CHECK(strstr(log, "{\"row\":5,\"reason\":\"not a JSON object but a boolean;") != NULL);
	free(log);

	/* CSV: a NUL byte in a key cell, same reason */
	b = bucket();
	o = opts_for(b, write_file("id,n\na\0b,1\nc,2\n", 15), "%id%");
	o.errors_log = elog;
	REQUIRE(c360_import_run(st, &o, &s, err, sizeof err) == C360_OK);
	CHECK_EQ_INT(s.imported, 1);
	CHECK_EQ_INT(s.failed, 1);
	log = slurp(elog);
	REQUIRE(log);
	CHECK(strstr(log, "{\"row\":2,\"reason\":\"key field 'id' holds a NUL character") != NULL);
	free(log);
}

TEST(newest_file)
{
	char d[512];
	snprintf(d, sizeof d, "%s/drop", dir);
	mkdir(d, 0700);
	char *p = NULL;
	char err[256];
	CHECK(c360_import_newest(d, &p, NULL, NULL, err, sizeof err) == C360_ERR_NOT_FOUND);
	const char *names[] = {"a.csv", "b.CSV", "c.txt", ".hidden.csv", "old.csv"};
	int64_t times[] = {1000, 3000, 9000, 9000, 10};
	for (int i = 0; i < 5; i++) {
		char path[600];
		snprintf(path, sizeof path, "%s/%s", d, names[i]);
		FILE *f = fopen(path, "w");
		fputs("id\n1\n", f);
		fclose(f);
		struct timespec ts[2] = {{times[i], 0}, {times[i], 0}};
		utimensat(AT_FDCWD, path, ts, 0);
	}
	uint64_t size = 0;
	int64_t mt = 0;
	REQUIRE(c360_import_newest(d, &p, &size, &mt, err, sizeof err) == C360_OK);
	CHECK(strstr(p, "/b.CSV") != NULL);
	CHECK_EQ_INT(size, 5);
	CHECK_EQ_INT(mt, 3000LL * 1000000000LL);
	free(p);
	CHECK(c360_import_newest("/nonexistent-dir", &p, NULL, NULL, err, sizeof err) != C360_OK);
}

TEST(json_string_escaping)
{
	struct c360_buf b;
	c360_buf_init(&b, 0);
	size_t bad = 0;
	CHECK(c360_import_json_string("a\"\\\x01\n\xE2\x82\xAC", 8, &b, &bad) == C360_OK);
	CHECK_EQ_STR(c360_buf_cstr(&b), "\"a\\\"\\\\\\u0001\\n\xE2\x82\xAC\"");
	c360_buf_reset(&b);
	/* overlong, surrogate, truncated, beyond U+10FFFF */
	CHECK(c360_import_json_string("ab\xC0\x80", 4, &b, &bad) == C360_ERR_INVALID && bad == 2);
	CHECK(c360_import_json_string("\xED\xA0\x80", 3, &b, &bad) == C360_ERR_INVALID);
	CHECK(c360_import_json_string("\xE2\x82", 2, &b, &bad) == C360_ERR_INVALID);
	CHECK(c360_import_json_string("\xF4\x90\x80\x80", 4, &b, &bad) == C360_ERR_INVALID);
	c360_buf_reset(&b);
	CHECK(c360_import_json_string("\xF0\x9F\x98\x80", 4, &b, &bad) == C360_OK);
	c360_buf_release(&b);
}

int main(void)
{
	snprintf(dir, sizeof dir, "/tmp/c360-csv-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	char path[300];
	snprintf(path, sizeof path, "%s/store.db", dir);
	struct c360_store_opts so;
	c360_store_opts_init(&so);
	so.synchronous = C360_SYNC_OFF;
	char err[256];
	if (c360_store_open(path, &so, &st, err, sizeof err)) {
		printf("cannot open store: %s\n", err);
		return 1;
	}
	RUN(seed_import_strings);
	RUN(key_generators);
	RUN(key_field_not_in_header);
	RUN(unknown_bucket);
	RUN(infer_types);
	RUN(omit_empty);
	RUN(rfc4180_end_to_end);
	RUN(wide_row_slow_path);
	RUN(separator_tab);
	RUN(bad_rows_and_errors_log);
	RUN(long_key_fails_row);
	RUN(skip_and_limit);
	RUN(threads_and_small_batches_keep_order);
	RUN(expiry_visible_and_honoured);
	RUN(json_lines_and_list);
	RUN(tracked_reimport_is_noop);
	RUN(stray_quote_loses_one_row_only);
	RUN(nul_in_key_and_non_object_json);
	RUN(newest_file);
	RUN(json_string_escaping);
	c360_store_close(st);
	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("cannot clean %s\n", dir);
	return test_summary();
}
