/* Tests of the JSON core: the RFC 8259 conformance corpus (tests/cases/json),
 * round-trip properties, numbers, JSON Pointer, builders, limits, writer. */
#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/json.h"
#include "test.h"

#include "core/banned.h"

static char src_dir[4096];

static void find_src(void)
{
	const char *env = getenv("C360_SRC");
	if (env && *env) {
		snprintf(src_dir, sizeof(src_dir), "%s", env);
		return;
	}
	/* __FILE__ is .../tests/unit/test_json.c */
	snprintf(src_dir, sizeof(src_dir), "%s", __FILE__);
	for (int i = 0; i < 3; i++) {
		char *s = strrchr(src_dir, '/');
		if (s)
			*s = '\0';
	}
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	struct c360_buf b;
	c360_buf_init(&b, 16u << 20);
	char tmp[8192];
	size_t n;
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		c360_buf_append(&b, tmp, n);
	fclose(f);
	return c360_buf_detach(&b, len);
}

static c360_json_doc *parse_str(const char *s)
{
	c360_json_doc *d = NULL;
	struct c360_json_error e;
	if (c360_json_parse(s, strlen(s), NULL, &d, &e)) {
		char buf[200];
		c360_json_error_str(&e, buf, sizeof(buf));
		printf("  parse of '%.60s' failed: %s\n", s, buf);
		return NULL;
	}
	return d;
}

/* Parses, writes with flags, reparses and compares; returns the output. */
static char *round_trip(const c360_json *v, unsigned flags, bool *ok)
{
	size_t n;
	char *s = c360_json_write_str(v, flags, &n);
	if (!s) {
		*ok = false;
		return NULL;
	}
	c360_json_doc *d2 = NULL;
	if (c360_json_parse(s, n, NULL, &d2, NULL) || !c360_json_equal(v, c360_json_doc_root(d2)))
		*ok = false;
	c360_json_doc_free(d2);
	return s;
}

/* ---- corpus ---- */

struct pos_case {
	const char *file;
	size_t offset;
	unsigned line, column;
};

static const struct pos_case positions[] = {
    {"trailing_comma_array.json", 5, 1, 6},
    {"trailing_comma_object.json", 7, 1, 8},
    {"leading_zero.json", 0, 1, 1},
    {"leading_zero_in_array.json", 3, 1, 4},
    {"lone_high_surrogate.json", 1, 1, 2},
    {"lone_low_surrogate.json", 1, 1, 2},
    {"utf8_overlong_2.json", 1, 1, 2},
    {"utf8_surrogate_encoded.json", 1, 1, 2},
    {"control_tab_in_string.json", 2, 1, 3},
    {"trailing_garbage_word.json", 3, 1, 4},
    {"missing_colon.json", 5, 1, 6},
    {"unterminated_string.json", 0, 1, 1},
    {"empty_input.json", 0, 1, 1},
    {"bad_escape_x.json", 1, 1, 2},
    {"bom.json", 0, 1, 1},
    {"limit_nesting_513.json", 512, 1, 513},
    {"nul_after_value.json", 3, 1, 4},
    {"multidigit_number_then_nul.json", 3, 1, 4}, /* JSONTestSuite n_multidigit_number_then_00 */
};

static int walk(const char *sub, int (*fn)(const char *name, const char *data, size_t len))
{
	char dir[4200];
	snprintf(dir, sizeof(dir), "%s/tests/cases/json/%s", src_dir, sub);
	DIR *d = opendir(dir);
	if (!d) {
		printf("  cannot open %s\n", dir);
		return -1;
	}
	int count = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t nl = strlen(de->d_name);
		if (nl < 6 || strcmp(de->d_name + nl - 5, ".json"))
			continue;
		char path[8400];
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		size_t len;
		char *data = slurp(path, &len);
		if (!data) {
			printf("  cannot read %s\n", path);
			test_cur_failed = 1;
			continue;
		}
		if (fn(de->d_name, data, len))
			test_cur_failed = 1;
		free(data);
		count++;
	}
	closedir(d);
	return count;
}

static int accept_one(const char *name, const char *data, size_t len)
{
	c360_json_doc *d = NULL;
	struct c360_json_error e;
	c360_rc rc = c360_json_parse(data, len, NULL, &d, &e);
	if (rc) {
		printf("  accept/%s: rc %d at %u:%u: %s\n", name, rc, e.line, e.column, e.reason);
		return 1;
	}
	int bad = 0;
	bool ok = true;
	free(round_trip(c360_json_doc_root(d), C360_JSON_COMPACT, &ok));
	free(round_trip(c360_json_doc_root(d), C360_JSON_PRETTY, &ok));
	free(round_trip(c360_json_doc_root(d), C360_JSON_ASCII, &ok));
	free(round_trip(c360_json_doc_root(d), C360_JSON_PRETTY | C360_JSON_ASCII, &ok));
	if (!ok) {
		printf("  accept/%s: round trip differs\n", name);
		bad = 1;
	}
	/* compact output of the compact output is byte-identical */
	size_t n1, n2;
	char *c1 = c360_json_write_str(c360_json_doc_root(d), 0, &n1);
	c360_json_doc *d2 = NULL;
	if (!c1 || c360_json_parse(c1, n1, NULL, &d2, NULL)) {
		bad = 1;
	} else {
		char *c2 = c360_json_write_str(c360_json_doc_root(d2), 0, &n2);
		if (!c2 || n1 != n2 || memcmp(c1, c2, n1)) {
			printf("  accept/%s: compact not stable\n", name);
			bad = 1;
		}
		free(c2);
	}
	if (c360_json_validate(data, len, NULL, NULL)) {
		printf("  accept/%s: validate disagrees\n", name);
		bad = 1;
	}
	free(c1);
	c360_json_doc_free(d2);
	c360_json_doc_free(d);
	return bad;
}

static int reject_one(const char *name, const char *data, size_t len)
{
	c360_json_doc *d = (c360_json_doc *)1;
	struct c360_json_error e;
	c360_rc rc = c360_json_parse(data, len, NULL, &d, &e);
	c360_rc want = strncmp(name, "limit_", 6) ? C360_ERR_INVALID : C360_ERR_LIMIT;
	if (rc != want || d != NULL) {
		printf("  reject/%s: rc %d (%s), want %d\n", name, rc, rc ? e.reason : "accepted",
		       want);
		if (!rc)
			c360_json_doc_free(d);
		return 1;
	}
	if (!e.reason[0] || e.line < 1 || e.column < 1 || e.offset > len) {
		printf("  reject/%s: error without position or reason\n", name);
		return 1;
	}
	if (c360_json_validate(data, len, NULL, NULL) != want) {
		printf("  reject/%s: validate disagrees\n", name);
		return 1;
	}
	for (size_t i = 0; i < sizeof(positions) / sizeof(positions[0]); i++) {
		if (strcmp(positions[i].file, name))
			continue;
		if (e.offset != positions[i].offset || e.line != positions[i].line ||
		    e.column != positions[i].column) {
			printf("  reject/%s: error at byte %zu (%u:%u), want %zu (%u:%u): %s\n",
			       name, e.offset, e.line, e.column, positions[i].offset,
			       positions[i].line, positions[i].column, e.reason);
			return 1;
		}
	}
	return 0;
}

TEST(corpus_accept)
{
	int n = walk("accept", accept_one);
	CHECK(n >= 30);
}

TEST(corpus_reject)
{
	int n = walk("reject", reject_one);
	CHECK(n >= 60);
}

/* ---- errors ---- */

TEST(error_line_column_and_str)
{
	const char *s = "{\n  \"a\": 1,\n  \"b\": tru\n}";
	c360_json_doc *d = NULL;
	struct c360_json_error e;
	CHECK_EQ_INT(c360_json_parse(s, strlen(s), NULL, &d, &e), C360_ERR_INVALID);
	CHECK(d == NULL);
	CHECK_EQ_INT(e.line, 3);
	CHECK_EQ_INT(e.column, 8);
	CHECK_EQ_INT(e.offset, 19);
	char buf[200];
	c360_json_error_str(&e, buf, sizeof(buf));
	CHECK_EQ_STR(buf, "line 3, column 8 (byte 19): invalid literal (expected true)");
	/* reasons name the problem */
	CHECK_EQ_INT(c360_json_parse("[1,]", 4, NULL, &d, &e), C360_ERR_INVALID);
	CHECK(strstr(e.reason, "trailing comma") != NULL);
	CHECK_EQ_INT(c360_json_parse("\"\\q\"", 4, NULL, &d, &e), C360_ERR_INVALID);
	CHECK(strstr(e.reason, "escape") != NULL);
	/* err may be NULL */
	CHECK_EQ_INT(c360_json_parse("[", 1, NULL, &d, NULL), C360_ERR_INVALID);
}

TEST(not_nul_terminated_input)
{
	/* the parser must not read past len: "[1]" followed by junk */
	const char buf[] = "[1]xxxx";
	c360_json_doc *d = NULL;
	CHECK_EQ_INT(c360_json_parse(buf, 3, NULL, &d, NULL), C360_OK);
	CHECK_EQ_INT(c360_json_len(c360_json_doc_root(d)), 1);
	c360_json_doc_free(d);
	/* a string cut by len is unterminated */
	CHECK_EQ_INT(c360_json_parse("\"abc\"", 4, NULL, &d, NULL), C360_ERR_INVALID);
	CHECK_EQ_INT(c360_json_parse("truex", 3, NULL, &d, NULL), C360_ERR_INVALID);
}

/* ---- limits ---- */

TEST(depth_limit_100000_brackets)
{
	size_t n = 100000;
	char *s = malloc(2 * n);
	REQUIRE(s);
	memset(s, '[', n);
	memset(s + n, ']', n);
	c360_json_doc *d = NULL;
	struct c360_json_error e;
	CHECK_EQ_INT(c360_json_parse(s, 2 * n, NULL, &d, &e), C360_ERR_LIMIT);
	CHECK(d == NULL);
	CHECK_EQ_INT(e.offset, 512);
	/* unclosed too */
	CHECK_EQ_INT(c360_json_parse(s, n, NULL, &d, &e), C360_ERR_LIMIT);
	/* objects */
	struct c360_buf b;
	c360_buf_init(&b, 0);
	for (int i = 0; i < 20000; i++)
		c360_buf_puts(&b, "{\"k\":");
	CHECK_EQ_INT(c360_json_parse(b.data, b.len, NULL, &d, &e), C360_ERR_LIMIT);
	c360_buf_release(&b);
	CHECK_EQ_INT(c360_json_validate(s, 2 * n, NULL, &e), C360_ERR_LIMIT);
	CHECK_EQ_INT(e.offset, 512);
	/* with a higher limit the same 100000 levels parse, write and copy */
	struct c360_json_parse_opts o = {.max_depth = 200000};
	CHECK_EQ_INT(c360_json_validate(s, 2 * n, &o, NULL), C360_OK);
	CHECK_EQ_INT(c360_json_parse(s, 2 * n, &o, &d, &e), C360_OK);
	size_t len;
	char *out = c360_json_write_str(c360_json_doc_root(d), C360_JSON_COMPACT, &len);
	CHECK(out && len == 2 * n && !memcmp(out, s, len));
	free(out);
	c360_json_doc *d2 = c360_json_doc_new();
	c360_json *cp = c360_json_copy(d2, c360_json_doc_root(d));
	CHECK(cp != NULL);
	CHECK(c360_json_equal(cp, c360_json_doc_root(d)));
	c360_json_doc_free(d2);
	c360_json_doc_free(d);
	free(s);
}

TEST(depth_limit_exact)
{
	struct c360_json_parse_opts o = {.max_depth = 3};
	c360_json_doc *d = NULL;
	CHECK_EQ_INT(c360_json_parse("[[[1]]]", 7, &o, &d, NULL), C360_OK);
	c360_json_doc_free(d);
	CHECK_EQ_INT(c360_json_parse("[[[[1]]]]", 9, &o, &d, NULL), C360_ERR_LIMIT);
	CHECK_EQ_INT(c360_json_parse("{\"a\":{\"b\":{\"c\":{}}}}", 20, &o, &d, NULL),
	             C360_ERR_LIMIT);
	/* scalars do not count */
	CHECK_EQ_INT(c360_json_parse("[[[\"x\",{}]]]", 12, &o, &d, NULL), C360_ERR_LIMIT);
}

TEST(size_cap)
{
	struct c360_json_parse_opts o = {.max_size = 8};
	c360_json_doc *d = NULL;
	struct c360_json_error e;
	CHECK_EQ_INT(c360_json_parse("[1,2,3]", 7, &o, &d, &e), C360_OK);
	c360_json_doc_free(d);
	CHECK_EQ_INT(c360_json_parse("[1,2,3,4]", 9, &o, &d, &e), C360_ERR_TOO_BIG);
	CHECK(d == NULL);
	CHECK(strstr(e.reason, "larger") != NULL);
	CHECK_EQ_INT(c360_json_validate("[1,2,3,4]", 9, &o, NULL), C360_ERR_TOO_BIG);
}

/* ---- values ---- */

TEST(reading_values)
{
	c360_json_doc *d =
	    parse_str("{\"s\":\"a\\u0000b\",\"n\":1.50e3,\"t\":true,\"f\":false,\"z\":null,"
	              "\"a\":[10,20,30],\"o\":{}}");
	REQUIRE(d);
	c360_json *r = c360_json_doc_root(d);
	CHECK(c360_json_is_object(r));
	CHECK_EQ_INT(c360_json_len(r), 7);
	size_t n;
	const char *s = c360_json_str(c360_json_get(r, "s"), &n);
	CHECK(s && n == 3 && s[0] == 'a' && s[1] == '\0' && s[2] == 'b' && s[3] == '\0');
	const char *t = c360_json_num_text(c360_json_get(r, "n"), &n);
	CHECK(t && n == 6 && !memcmp(t, "1.50e3", 6));
	int64_t i = 0;
	CHECK(c360_json_int64(c360_json_get(r, "n"), &i));
	CHECK_EQ_INT(i, 1500);
	double x = 0;
	CHECK(c360_json_double(c360_json_get(r, "n"), &x) && x == 1500.0);
	CHECK(c360_json_bool(c360_json_get(r, "t")));
	CHECK(!c360_json_bool(c360_json_get(r, "f")));
	CHECK(c360_json_is_bool(c360_json_get(r, "f")));
	CHECK(c360_json_is_null(c360_json_get(r, "z")));
	CHECK(c360_json_is_null(c360_json_get(r, "missing"))); /* NULL reads as null */
	CHECK_EQ_INT(c360_json_type(c360_json_get(r, "a")), C360_JSON_ARRAY);
	CHECK_EQ_STR(c360_json_type_name(C360_JSON_OBJECT), "object");
	CHECK_EQ_STR(c360_json_type_name(C360_JSON_TRUE), "boolean");
	c360_json *a = c360_json_get(r, "a");
	CHECK(c360_json_int64(c360_json_at(a, 2), &i) && i == 30);
	CHECK(c360_json_at(a, 3) == NULL);
	CHECK(c360_json_str(a, NULL) == NULL);
	CHECK(c360_json_num_text(a, NULL) == NULL);
	CHECK(c360_json_get(a, "x") == NULL);
	CHECK(c360_json_getn(r, "sx", 1) == c360_json_get(r, "s"));
	/* iteration in order with keys */
	const char *order[] = {"s", "n", "t", "f", "z", "a", "o"};
	int k = 0;
	for (c360_json *c = c360_json_first(r); c; c = c360_json_next(c), k++) {
		size_t kl;
		const char *key = c360_json_key(c, &kl);
		CHECK(k < 7 && key && !strcmp(key, order[k]) && kl == strlen(order[k]));
	}
	CHECK_EQ_INT(k, 7);
	CHECK(c360_json_first(c360_json_get(r, "o")) == NULL);
	c360_json_doc_free(d);
}

TEST(duplicate_keys_last_wins)
{
	c360_json_doc *d = parse_str("{\"a\":1,\"b\":2,\"a\":{\"x\":[3]},\"b\":4,\"a\":5}");
	REQUIRE(d);
	c360_json *r = c360_json_doc_root(d);
	CHECK_EQ_INT(c360_json_len(r), 2);
	int64_t i;
	CHECK(c360_json_int64(c360_json_get(r, "a"), &i) && i == 5);
	CHECK(c360_json_int64(c360_json_get(r, "b"), &i) && i == 4);
	char *s = c360_json_write_str(r, 0, NULL);
	CHECK_EQ_STR(s, "{\"a\":5,\"b\":4}");
	free(s);
	c360_json_doc_free(d);

	/* a large object (hash path): 300 members, keys repeat every 100 */
	struct c360_buf b;
	c360_buf_init(&b, 0);
	c360_buf_putc(&b, '{');
	for (int k = 0; k < 300; k++)
		c360_buf_printf(&b, "%s\"k%d\":%d", k ? "," : "", k % 100, k);
	c360_buf_putc(&b, '}');
	d = parse_str(b.data);
	c360_buf_release(&b);
	REQUIRE(d);
	r = c360_json_doc_root(d);
	CHECK_EQ_INT(c360_json_len(r), 100);
	size_t count = 0;
	for (c360_json *c = c360_json_first(r); c; c = c360_json_next(c))
		count++;
	CHECK_EQ_INT(count, 100);
	CHECK(c360_json_int64(c360_json_get(r, "k7"), &i) && i == 207);
	CHECK(c360_json_int64(c360_json_get(r, "k99"), &i) && i == 299);
	/* first member keeps its position */
	size_t kl;
	CHECK_EQ_STR(c360_json_key(c360_json_first(r), &kl), "k0");
	c360_json_doc_free(d);
}

TEST(escapes_unescaped)
{
	c360_json_doc *d =
	    parse_str("[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\",\"\\u00e9\\u4e2d\\ud83d\\ude00\"]");
	REQUIRE(d);
	size_t n;
	const char *s = c360_json_str(c360_json_at(c360_json_doc_root(d), 0), &n);
	CHECK(s && n == 8 && !memcmp(s, "\"\\/\b\f\n\r\t", 8));
	s = c360_json_str(c360_json_at(c360_json_doc_root(d), 1), &n);
	CHECK(s && n == 9 && !strcmp(s, "\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80"));
	char *out = c360_json_write_str(c360_json_doc_root(d), 0, NULL);
	CHECK_EQ_STR(out,
	             "[\"\\\"\\\\/\\b\\f\\n\\r\\t\",\"\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80\"]");
	free(out);
	out = c360_json_write_str(c360_json_doc_root(d), C360_JSON_ASCII, NULL);
	CHECK_EQ_STR(out, "[\"\\\"\\\\/\\b\\f\\n\\r\\t\",\"\\u00e9\\u4e2d\\ud83d\\ude00\"]");
	free(out);
	c360_json_doc_free(d);
}

/* ---- numbers ---- */

TEST(int64_edges_round_trip)
{
	c360_json_doc *d =
	    parse_str("[9223372036854775807,-9223372036854775808,9223372036854775808,"
	              "-9223372036854775809,0,-0,1.0,1e3,12.50e1,1.5,1e-2,100e-2,"
	              "18446744073709551616,0.000e5]");
	REQUIRE(d);
	c360_json *a = c360_json_doc_root(d);
	int64_t i;
	CHECK(c360_json_int64(c360_json_at(a, 0), &i) && i == INT64_MAX);
	CHECK(c360_json_int64(c360_json_at(a, 1), &i) && i == INT64_MIN);
	CHECK(!c360_json_int64(c360_json_at(a, 2), &i));
	CHECK(!c360_json_int64(c360_json_at(a, 3), &i));
	CHECK(c360_json_int64(c360_json_at(a, 4), &i) && i == 0);
	CHECK(c360_json_int64(c360_json_at(a, 5), &i) && i == 0);
	CHECK(c360_json_int64(c360_json_at(a, 6), &i) && i == 1);
	CHECK(c360_json_int64(c360_json_at(a, 7), &i) && i == 1000);
	CHECK(c360_json_int64(c360_json_at(a, 8), &i) && i == 125);
	CHECK(!c360_json_int64(c360_json_at(a, 9), &i));
	CHECK(!c360_json_int64(c360_json_at(a, 10), &i));
	CHECK(c360_json_int64(c360_json_at(a, 11), &i) && i == 1);
	CHECK(!c360_json_int64(c360_json_at(a, 12), &i));
	CHECK(c360_json_int64(c360_json_at(a, 13), &i) && i == 0);
	char *s = c360_json_write_str(a, 0, NULL);
	CHECK_EQ_STR(s, "[9223372036854775807,-9223372036854775808,9223372036854775808,"
	                "-9223372036854775809,0,-0,1.0,1e3,12.50e1,1.5,1e-2,100e-2,"
	                "18446744073709551616,0.000e5]");
	free(s);
	c360_json_doc_free(d);

	/* built ints */
	d = c360_json_doc_new();
	c360_json *arr = c360_json_new_array(d);
	c360_json_append(d, arr, c360_json_new_int(d, INT64_MAX));
	c360_json_append(d, arr, c360_json_new_int(d, INT64_MIN));
	c360_json_append(d, arr, c360_json_new_int(d, -1));
	s = c360_json_write_str(arr, 0, NULL);
	CHECK_EQ_STR(s, "[9223372036854775807,-9223372036854775808,-1]");
	free(s);
	CHECK(c360_json_int64(c360_json_at(arr, 1), &i) && i == INT64_MIN);
	c360_json_doc_free(d);
}

TEST(doubles_round_trip)
{
	const double vals[] = {0.1,
	                       0.2,
	                       0.30000000000000004,
	                       1.7976931348623157e308,
	                       5e-324,
	                       2.2250738585072014e-308,
	                       -1.5,
	                       1e21,
	                       123456789.123456789,
	                       1.0 / 3.0,
	                       -0.0,
	                       100,
	                       9007199254740993.0,
	                       4.35,
	                       2.675};
	c360_json_doc *d = c360_json_doc_new();
	c360_json *arr = c360_json_new_array(d);
	for (size_t k = 0; k < sizeof(vals) / sizeof(vals[0]); k++) {
		c360_json *v = c360_json_new_double(d, vals[k]);
		REQUIRE(v);
		c360_json_append(d, arr, v);
	}
	CHECK(c360_json_new_double(d, NAN) == NULL);
	CHECK(c360_json_new_double(d, INFINITY) == NULL);
	size_t n;
	char *s = c360_json_write_str(arr, 0, &n);
	c360_json_doc *d2 = NULL;
	REQUIRE(s && c360_json_parse(s, n, NULL, &d2, NULL) == C360_OK);
	c360_json *a2 = c360_json_doc_root(d2);
	for (size_t k = 0; k < sizeof(vals) / sizeof(vals[0]); k++) {
		double x;
		CHECK(c360_json_double(c360_json_at(a2, k), &x));
		CHECK(memcmp(&x, &vals[k], sizeof(x)) == 0); /* bit-exact, -0 too */
	}
	/* shortest form */
	const char *t = c360_json_num_text(c360_json_at(arr, 0), &n);
	CHECK(t && n == 3 && !memcmp(t, "0.1", 3));
	/* parsed tricky doubles keep their text */
	const char *in = "[0.1,1.7976931348623157e308,5e-324,1E+2,-0.0]";
	c360_json_doc *d3 = parse_str(in);
	REQUIRE(d3);
	char *o3 = c360_json_write_str(c360_json_doc_root(d3), 0, NULL);
	CHECK_EQ_STR(o3, in);
	free(o3);
	c360_json_doc_free(d3);
	free(s);
	c360_json_doc_free(d2);
	c360_json_doc_free(d);
}

TEST(new_number_validates)
{
	c360_json_doc *d = c360_json_doc_new();
	CHECK(c360_json_new_number(d, "1.5e3", 5) != NULL);
	CHECK(c360_json_new_number(d, "-0", 2) != NULL);
	CHECK(c360_json_new_number(d, "01", 2) == NULL);
	CHECK(c360_json_new_number(d, "1.", 2) == NULL);
	CHECK(c360_json_new_number(d, "", 0) == NULL);
	CHECK(c360_json_new_number(d, "1 ", 2) == NULL);
	CHECK(c360_json_new_number(d, "NaN", 3) == NULL);
	CHECK(c360_json_new_str(d, "\xc0\xaf", 2) == NULL);
	CHECK(c360_json_new_str(d, "\xed\xa0\x80", 3) == NULL);
	CHECK(c360_json_new_str(d, "ok\xc3\xa9", 4) != NULL);
	c360_json_doc_free(d);
}

TEST(equal_semantics)
{
	c360_json_doc *a = parse_str("{\"x\":[1,2,{\"y\":\"z\"}],\"n\":1.0,\"m\":1e2,\"f\":0.5}");
	c360_json_doc *b = parse_str("{\"f\":5e-1,\"m\":100,\"n\":1,\"x\":[1,2,{\"y\":\"z\"}]}");
	c360_json_doc *c = parse_str("{\"f\":0.5,\"m\":100,\"n\":1,\"x\":[2,1,{\"y\":\"z\"}]}");
	c360_json_doc *e =
	    parse_str("{\"f\":0.5,\"m\":100,\"n\":1,\"x\":[1,2,{\"y\":\"z\"}],\"q\":1}");
	REQUIRE(a && b && c && e);
	CHECK(c360_json_equal(c360_json_doc_root(a), c360_json_doc_root(b)));
	CHECK(!c360_json_equal(c360_json_doc_root(a), c360_json_doc_root(c)));
	CHECK(!c360_json_equal(c360_json_doc_root(a), c360_json_doc_root(e)));
	CHECK(c360_json_equal(NULL, NULL));
	c360_json_doc_free(a);
	c360_json_doc_free(b);
	c360_json_doc_free(c);
	c360_json_doc_free(e);
}

/* ---- fixtures ---- */

TEST(fixtures_parse_and_compact_identical)
{
	const char *files[] = {"customer_with_schema.json", "customer_no_schema.json"};
	for (int f = 0; f < 2; f++) {
		char path[4300];
		snprintf(path, sizeof(path), "%s/tests/fixtures/debezium/%s", src_dir, files[f]);
		size_t len;
		char *data = slurp(path, &len);
		REQUIRE(data);
		c360_json_doc *d = NULL;
		REQUIRE(c360_json_parse(data, len, NULL, &d, NULL) == C360_OK);
		c360_json *r = c360_json_doc_root(d);
		c360_json *payload = f == 0 ? c360_json_get(r, "payload") : r;
		CHECK_EQ_STR(c360_json_str(c360_json_ptr_get(payload, "/after/email"), NULL),
		             "matthew.groves@couchbase.com");
		int64_t id;
		CHECK(c360_json_int64(c360_json_ptr_get(payload, "/after/id"), &id) && id == 1029);
		CHECK_EQ_STR(c360_json_str(c360_json_ptr_get(payload, "/source/name"), NULL),
		             "dbserver1");
		CHECK(c360_json_is_null(c360_json_get(payload, "before")));
		size_t n;
		char *out = c360_json_write_str(r, 0, &n);
		CHECK(out && n == len && !memcmp(out, data, len));
		free(out);
		bool ok = true;
		free(round_trip(r, C360_JSON_PRETTY, &ok));
		CHECK(ok);
		c360_json_doc_free(d);
		free(data);
	}
}

/* ---- JSON Pointer ---- */

TEST(pointer_get)
{
	c360_json_doc *d =
	    parse_str("{\"foo\":[\"bar\",\"baz\"],\"\":0,\"a/b\":1,\"c%d\":2,\"e^f\":3,\"g|h\":4,"
	              "\"i\\\\j\":5,\"k\\\"l\":6,\" \":7,\"m~n\":8,\"~1\":9}");
	REQUIRE(d);
	c360_json *r = c360_json_doc_root(d);
	int64_t i;
	CHECK(c360_json_ptr_get(r, "") == r);
	CHECK(c360_json_ptr_get(r, "/foo") == c360_json_get(r, "foo"));
	CHECK_EQ_STR(c360_json_str(c360_json_ptr_get(r, "/foo/0"), NULL), "bar");
	CHECK_EQ_STR(c360_json_str(c360_json_ptr_get(r, "/foo/1"), NULL), "baz");
	CHECK(c360_json_int64(c360_json_ptr_get(r, "/"), &i) && i == 0);
	CHECK(c360_json_int64(c360_json_ptr_get(r, "/a~1b"), &i) && i == 1);
	CHECK(c360_json_int64(c360_json_ptr_get(r, "/c%d"), &i) && i == 2);
	CHECK(c360_json_int64(c360_json_ptr_get(r, "/i\\j"), &i) && i == 5);
	CHECK(c360_json_int64(c360_json_ptr_get(r, "/k\"l"), &i) && i == 6);
	CHECK(c360_json_int64(c360_json_ptr_get(r, "/ "), &i) && i == 7);
	CHECK(c360_json_int64(c360_json_ptr_get(r, "/m~0n"), &i) && i == 8);
	CHECK(c360_json_int64(c360_json_ptr_get(r, "/~01"), &i) && i == 9); /* ~01 is "~1" */
	CHECK(c360_json_ptr_get(r, "/foo/2") == NULL);
	CHECK(c360_json_ptr_get(r, "/foo/01") == NULL);
	CHECK(c360_json_ptr_get(r, "/foo/-") == NULL);
	CHECK(c360_json_ptr_get(r, "/foo/0/x") == NULL);
	CHECK(c360_json_ptr_get(r, "/nope") == NULL);
	CHECK(c360_json_ptr_get(r, "foo") == NULL);   /* must start with / */
	CHECK(c360_json_ptr_get(r, "/m~2n") == NULL); /* bad escape */
	CHECK(c360_json_ptr_get(r, "/m~") == NULL);
	c360_json_doc_free(d);
}

TEST(pointer_set_and_remove)
{
	c360_json_doc *d = parse_str("{\"a\":{\"b\":[1,2,3]},\"x/y\":1}");
	REQUIRE(d);
	CHECK_EQ_INT(c360_json_ptr_set(d, "/a/b/0", c360_json_new_int(d, 10)), C360_OK);
	CHECK_EQ_INT(c360_json_ptr_set(d, "/a/b/-", c360_json_new_int(d, 4)), C360_OK);
	CHECK_EQ_INT(c360_json_ptr_set(d, "/a/b/4", c360_json_new_int(d, 5)), C360_OK);
	CHECK_EQ_INT(c360_json_ptr_set(d, "/a/b/9", c360_json_new_int(d, 5)), C360_ERR_NOT_FOUND);
	CHECK_EQ_INT(c360_json_ptr_set(d, "/a/new/deep/~0k", c360_json_new_str(d, "v", 1)),
	             C360_OK);
	CHECK_EQ_INT(c360_json_ptr_set(d, "/x~1y", c360_json_new_bool(d, true)), C360_OK);
	CHECK_EQ_INT(c360_json_ptr_set(d, "/a/b/0/z", c360_json_new_null(d)), C360_ERR_INVALID);
	CHECK_EQ_INT(c360_json_ptr_set(d, "bad", c360_json_new_null(d)), C360_ERR_INVALID);
	char *s = c360_json_write_str(c360_json_doc_root(d), 0, NULL);
	CHECK_EQ_STR(s,
	             "{\"a\":{\"b\":[10,2,3,4,5],\"new\":{\"deep\":{\"~k\":\"v\"}}},\"x/y\":true}");
	free(s);
	/* the root can be wrapped */
	{
		c360_json_doc *w = parse_str("{\"p\":1}");
		REQUIRE(w);
		c360_json *wrap = c360_json_new_object(w);
		CHECK_EQ_INT(c360_json_set(w, wrap, "payload", 7, c360_json_doc_root(w)), C360_OK);
		c360_json_doc_set_root(w, wrap);
		char *ws = c360_json_write_str(c360_json_doc_root(w), 0, NULL);
		CHECK_EQ_STR(ws, "{\"payload\":{\"p\":1}}");
		free(ws);
		c360_json_doc_free(w);
	}
	/* a linked value cannot be linked again */
	CHECK_EQ_INT(c360_json_ptr_set(d, "/c", c360_json_ptr_get(c360_json_doc_root(d), "/a")),
	             C360_ERR_INVALID);

	CHECK_EQ_INT(c360_json_ptr_remove(d, "/a/b/1"), C360_OK);
	CHECK_EQ_INT(c360_json_ptr_remove(d, "/a/new/deep/~0k"), C360_OK);
	CHECK_EQ_INT(c360_json_ptr_remove(d, "/x~1y"), C360_OK);
	CHECK_EQ_INT(c360_json_ptr_remove(d, "/x~1y"), C360_ERR_NOT_FOUND);
	CHECK_EQ_INT(c360_json_ptr_remove(d, "/a/b/17"), C360_ERR_NOT_FOUND);
	CHECK_EQ_INT(c360_json_ptr_remove(d, "/zz/top"), C360_ERR_NOT_FOUND);
	s = c360_json_write_str(c360_json_doc_root(d), 0, NULL);
	CHECK_EQ_STR(s, "{\"a\":{\"b\":[10,3,4,5],\"new\":{\"deep\":{}}}}");
	free(s);

	/* "" replaces / removes the root */
	CHECK_EQ_INT(c360_json_ptr_set(d, "", c360_json_new_int(d, 7)), C360_OK);
	s = c360_json_write_str(c360_json_doc_root(d), 0, NULL);
	CHECK_EQ_STR(s, "7");
	free(s);
	CHECK_EQ_INT(c360_json_ptr_remove(d, ""), C360_OK);
	CHECK(c360_json_doc_root(d) == NULL);
	/* setting into an empty doc creates the root object */
	CHECK_EQ_INT(c360_json_ptr_set(d, "/p/q", c360_json_new_int(d, 1)), C360_OK);
	s = c360_json_write_str(c360_json_doc_root(d), 0, NULL);
	CHECK_EQ_STR(s, "{\"p\":{\"q\":1}}");
	free(s);
	c360_json_doc_free(d);
}

/* ---- building and mutating ---- */

TEST(build_and_mutate)
{
	c360_json_doc *d = c360_json_doc_new();
	REQUIRE(d);
	CHECK(c360_json_doc_root(d) == NULL);
	c360_json *o = c360_json_new_object(d);
	c360_json_doc_set_root(d, o);
	CHECK_EQ_INT(c360_json_set(d, o, "name", 4, c360_json_new_str(d, "Matthew", 7)), C360_OK);
	CHECK_EQ_INT(c360_json_set(d, o, "id", 2, c360_json_new_int(d, 1029)), C360_OK);
	c360_json *tags = c360_json_new_array(d);
	CHECK_EQ_INT(c360_json_set(d, o, "tags", 4, tags), C360_OK);
	CHECK_EQ_INT(c360_json_append(d, tags, c360_json_new_str(d, "b", 1)), C360_OK);
	CHECK_EQ_INT(c360_json_insert(d, tags, 0, c360_json_new_str(d, "a", 1)), C360_OK);
	CHECK_EQ_INT(c360_json_insert(d, tags, 2, c360_json_new_str(d, "d", 1)), C360_OK);
	CHECK_EQ_INT(c360_json_insert(d, tags, 2, c360_json_new_str(d, "c", 1)), C360_OK);
	CHECK_EQ_INT(c360_json_insert(d, tags, 9, c360_json_new_str(d, "z", 1)),
	             C360_ERR_NOT_FOUND);
	/* replacing keeps the position */
	CHECK_EQ_INT(c360_json_set(d, o, "name", 4, c360_json_new_str(d, "Matt", 4)), C360_OK);
	CHECK_EQ_INT(c360_json_len(o), 3);
	char *s = c360_json_write_str(o, 0, NULL);
	CHECK_EQ_STR(s, "{\"name\":\"Matt\",\"id\":1029,\"tags\":[\"a\",\"b\",\"c\",\"d\"]}");
	free(s);
	s = c360_json_write_str(o, C360_JSON_PRETTY, NULL);
	CHECK_EQ_STR(s, "{\n  \"name\": \"Matt\",\n  \"id\": 1029,\n  \"tags\": [\n    \"a\",\n"
	                "    \"b\",\n    \"c\",\n    \"d\"\n  ]\n}");
	free(s);
	CHECK(c360_json_remove_at(tags, 3));
	CHECK(c360_json_remove_at(tags, 0));
	CHECK(!c360_json_remove_at(tags, 2));
	CHECK(c360_json_remove(o, "id", 2));
	CHECK(!c360_json_remove(o, "id", 2));
	/* a removed value can be linked again */
	c360_json *moved = c360_json_at(tags, 0);
	CHECK(c360_json_remove_at(tags, 0));
	CHECK_EQ_INT(c360_json_set(d, o, "first", 5, moved), C360_OK);
	CHECK_EQ_INT(c360_json_append(d, tags, c360_json_get(o, "name")), C360_ERR_INVALID);
	s = c360_json_write_str(o, 0, NULL);
	CHECK_EQ_STR(s, "{\"name\":\"Matt\",\"tags\":[\"c\"],\"first\":\"b\"}");
	free(s);
	/* empty containers, pretty */
	c360_json *e = c360_json_new_object(d);
	c360_json_set(d, e, "o", 1, c360_json_new_object(d));
	c360_json_set(d, e, "a", 1, c360_json_new_array(d));
	s = c360_json_write_str(e, C360_JSON_PRETTY, NULL);
	CHECK_EQ_STR(s, "{\n  \"o\": {},\n  \"a\": []\n}");
	free(s);
	/* keys with odd bytes are escaped on output */
	c360_json_set(d, e, "q\"\n", 3, c360_json_new_null(d));
	s = c360_json_write_str(e, 0, NULL);
	CHECK_EQ_STR(s, "{\"o\":{},\"a\":[],\"q\\\"\\n\":null}");
	free(s);
	c360_json_doc_free(d);
	c360_json_doc_free(NULL);
}

TEST(copy_across_docs)
{
	c360_json_doc *a = parse_str("{\"k\":[1,\"two\",{\"3\":null}],\"s\":\"x\"}");
	REQUIRE(a);
	c360_json_doc *b = c360_json_doc_new();
	c360_json *c = c360_json_copy(b, c360_json_doc_root(a));
	REQUIRE(c);
	c360_json_doc_free(a); /* the copy must not depend on a */
	c360_json_doc_set_root(b, c);
	char *s = c360_json_write_str(c360_json_doc_root(b), 0, NULL);
	CHECK_EQ_STR(s, "{\"k\":[1,\"two\",{\"3\":null}],\"s\":\"x\"}");
	free(s);
	c360_json_doc_free(b);
}

TEST(many_values_grow_arena)
{
	c360_json_doc *d = c360_json_doc_new();
	c360_json *arr = c360_json_new_array(d);
	for (int k = 0; k < 100000; k++)
		REQUIRE(c360_json_append(d, arr, c360_json_new_int(d, k)) == C360_OK);
	CHECK_EQ_INT(c360_json_len(arr), 100000);
	int64_t i;
	CHECK(c360_json_int64(c360_json_at(arr, 99999), &i) && i == 99999);
	CHECK(c360_json_int64(c360_json_at(arr, 50000), &i) && i == 50000);
	/* a loop over c360_json_at is linear (cursor); 100000 elements would take
	 * seconds if each call walked from the start */
	int64_t sum = 0;
	for (size_t k = 0; k < 100000; k++) {
		c360_json_int64(c360_json_at(arr, k), &i);
		sum += i;
	}
	CHECK_EQ_INT(sum, 4999950000LL);
	/* backwards and after mutations the cursor is still right */
	CHECK(c360_json_int64(c360_json_at(arr, 10), &i) && i == 10);
	CHECK(c360_json_remove_at(arr, 5));
	CHECK(c360_json_int64(c360_json_at(arr, 10), &i) && i == 11);
	CHECK(c360_json_int64(c360_json_at(arr, 11), &i) && i == 12);
	CHECK_EQ_INT(c360_json_insert(d, arr, 11, c360_json_new_int(d, -7)), C360_OK);
	CHECK(c360_json_int64(c360_json_at(arr, 11), &i) && i == -7);
	CHECK(c360_json_int64(c360_json_at(arr, 12), &i) && i == 12);
	CHECK(c360_json_int64(c360_json_at(arr, 3), &i) && i == 3);
	c360_json_doc_free(d);
}

/* ---- writer ---- */

/* Found by tests/fuzz/fuzz_engine.c: a buffer never written was detached as
 * an uninitialised block, which a caller read as a string. */
TEST(buf_detach_of_a_buffer_never_written_is_an_empty_string)
{
	struct c360_buf b;
	c360_buf_init(&b, 0);
	size_t len = 99;
	char *s = c360_buf_detach(&b, &len);
	REQUIRE(s);
	CHECK_EQ_INT(len, 0);
	CHECK(s[0] == '\0');
	free(s);
	c360_buf_init(&b, 0);
	c360_buf_reserve(&b, 100); /* reserved, still empty */
	s = c360_buf_detach(&b, NULL);
	REQUIRE(s);
	CHECK(s[0] == '\0');
	CHECK(b.data == NULL && b.len == 0);
	free(s);
}

TEST(write_capped_buffer)
{
	c360_json_doc *d = parse_str("{\"a\":\"0123456789\",\"b\":[1,2,3]}");
	REQUIRE(d);
	struct c360_buf b;
	c360_buf_init(&b, 20);
	c360_buf_puts(&b, "xy");
	CHECK_EQ_INT(c360_json_write(c360_json_doc_root(d), 0, &b), C360_ERR_TOO_BIG);
	CHECK_EQ_INT(b.len, 2);
	CHECK_EQ_STR(c360_buf_cstr(&b), "xy");
	c360_buf_release(&b);
	/* exactly fitting */
	c360_buf_init(&b, 30);
	CHECK_EQ_INT(c360_json_write(c360_json_doc_root(d), 0, &b), C360_OK);
	CHECK_EQ_STR(c360_buf_cstr(&b), "{\"a\":\"0123456789\",\"b\":[1,2,3]}");
	c360_buf_release(&b);
	c360_buf_init(&b, 29);
	CHECK_EQ_INT(c360_json_write(c360_json_doc_root(d), 0, &b), C360_ERR_TOO_BIG);
	c360_buf_release(&b);
	c360_json_doc_free(d);
}

TEST(write_string_escaping)
{
	struct c360_buf b;
	c360_buf_init(&b, 0);
	CHECK_EQ_INT(c360_json_write_string("a\"b\\c\x01\x1f\t/\xc3\xa9", 11, &b), C360_OK);
	CHECK_EQ_STR(c360_buf_cstr(&b), "\"a\\\"b\\\\c\\u0001\\u001f\\t/\xc3\xa9\"");
	c360_buf_reset(&b);
	/* invalid UTF-8 becomes U+FFFD so the output is always valid JSON */
	CHECK_EQ_INT(c360_json_write_string("x\xff\xc0y\xe2\x82", 6, &b), C360_OK);
	CHECK_EQ_STR(c360_buf_cstr(&b), "\"x\xef\xbf\xbd\xef\xbf\xbdy\xef\xbf\xbd\xef\xbf\xbd\"");
	c360_buf_reset(&b);
	CHECK_EQ_INT(c360_json_write_string("", 0, &b), C360_OK);
	CHECK_EQ_STR(c360_buf_cstr(&b), "\"\"");
	c360_buf_reset(&b);
	/* embedded NUL */
	CHECK_EQ_INT(c360_json_write_string("a\0b", 3, &b), C360_OK);
	CHECK_EQ_STR(c360_buf_cstr(&b), "\"a\\u0000b\"");
	c360_buf_release(&b);
	/* long strings with escapes at chunk edges */
	char big[100];
	for (int k = 0; k < 100; k++)
		big[k] = (k % 17 == 16) ? '"' : 'a';
	c360_json_doc *d = c360_json_doc_new();
	c360_json *v = c360_json_new_str(d, big, sizeof(big));
	bool ok = true;
	free(round_trip(v, 0, &ok));
	CHECK(ok);
	c360_json_doc_free(d);
}

/* Strings and keys from the builders are written as the parsed ones: those
 * with nothing to escape are copied as they are (short and long, ASCII and
 * not), the others escaped, in both output modes. */
TEST(built_strings_write_like_parsed)
{
	static const char *const strs[] = {
	    "", "plain", "exactly sixteen!", "seventeen bytes!!", "caf\xc3\xa9",
	    "a\"q", "b\\s", "tab\there", "nul\x01", "del\x7f", "long ascii text past sixteen bytes",
	    "long text with an \xc3\xa9 past sixteen bytes", "quote at the end of a long one\""};
	const size_t n = sizeof strs / sizeof strs[0];
	c360_json_doc *d = c360_json_doc_new();
	c360_json *obj = c360_json_new_object(d);
	REQUIRE(d && obj);
	struct c360_buf text;
	c360_buf_init(&text, 0);
	c360_buf_putc(&text, '{');
	for (size_t i = 0; i < n; i++) {
		c360_json *v = c360_json_new_str(d, strs[i], strlen(strs[i]));
		REQUIRE(v);
		CHECK_EQ_INT(c360_json_set(d, obj, strs[i], strlen(strs[i]), v), C360_OK);
		if (i)
			c360_buf_putc(&text, ',');
		c360_json_write_string(strs[i], strlen(strs[i]), &text);
		c360_buf_putc(&text, ':');
		c360_json_write_string(strs[i], strlen(strs[i]), &text);
	}
	c360_buf_putc(&text, '}');
	c360_json_doc *p = NULL;
	REQUIRE(c360_json_parse(text.data, text.len, NULL, &p, NULL) == C360_OK);
	for (unsigned mode = 0; mode <= C360_JSON_ASCII; mode += C360_JSON_ASCII) {
		char *built = c360_json_write_str(obj, mode, NULL);
		char *parsed = c360_json_write_str(c360_json_doc_root(p), mode, NULL);
		CHECK_EQ_STR(built, parsed);
		if (!mode)
			CHECK_EQ_STR(built, text.data);
		free(built);
		free(parsed);
	}
	c360_buf_release(&text);
	c360_json_doc_free(p);
	c360_json_doc_free(d);
}

/* c360_json_plain: ASCII with nothing to escape, at any length and position. */
TEST(plain_strings)
{
	CHECK(c360_json_plain("", 0));
	CHECK(c360_json_plain("a@b.c", 5));
	CHECK(c360_json_plain("del\x7f ok", 7));
	char s[40];
	for (size_t len = 1; len <= sizeof s; len++) {
		memset(s, 'x', len);
		CHECK(c360_json_plain(s, len));
		static const char bad[] = {'"', '\\', '\n', '\x01', '\x1f', (char)0x80, (char)0xc3,
					   '\0'};
		for (size_t at = 0; at < len; at++)
			for (size_t b = 0; b < sizeof bad; b++) {
				s[at] = bad[b];
				CHECK(!c360_json_plain(s, len));
				s[at] = 'x';
			}
	}
}

TEST(write_null_and_scalars)
{
	char *s = c360_json_write_str(NULL, 0, NULL);
	CHECK_EQ_STR(s, "null");
	free(s);
	c360_json_doc *d = parse_str("  \"x\"  ");
	REQUIRE(d);
	s = c360_json_write_str(c360_json_doc_root(d), C360_JSON_PRETTY, NULL);
	CHECK_EQ_STR(s, "\"x\"");
	free(s);
	c360_json_doc_free(d);
}

/* Fails the 1st, 2nd, … allocation of each operation until one runs without
 * an injected failure: every failure must be reported as C360_ERR_NOMEM (or
 * NULL) with nothing leaked (ASan checks) and nothing half-done. */
TEST(allocation_failures)
{
	struct c360_buf in;
	c360_buf_init(&in, 0);
	/* arena growth (many small nodes), a deep stack, a large object (hash) */
	c360_buf_puts(&in, "{\"many\":[");
	for (int k = 0; k < 3000; k++)
		c360_buf_printf(&in, "%s%d", k ? "," : "", k);
	c360_buf_puts(&in, "],\"deep\":");
	for (int k = 0; k < 200; k++)
		c360_buf_putc(&in, '[');
	for (int k = 0; k < 200; k++)
		c360_buf_putc(&in, ']');
	c360_buf_puts(&in, ",\"big\":{");
	for (int k = 0; k < 120; k++)
		c360_buf_printf(&in, "%s\"k%d\":\"v\\n%d\"", k ? "," : "", k % 90, k);
	c360_buf_puts(&in, "}}");
	struct c360_json_parse_opts o = {.max_depth = 1000};

	c360_json_doc *ref = NULL;
	REQUIRE(c360_json_parse(in.data, in.len, &o, &ref, NULL) == C360_OK);
	char *want = c360_json_write_str(c360_json_doc_root(ref), 0, NULL);
	REQUIRE(want);

	unsigned n, fired = 0;
	for (n = 1; n < 1000; n++) {
		c360_json_doc *d = NULL;
		c360_json_test_fail_alloc(n);
		c360_rc rc = c360_json_parse(in.data, in.len, &o, &d, NULL);
		unsigned left = c360_json_test_fail_alloc(0);
		if (rc) {
			CHECK_EQ_INT(rc, C360_ERR_NOMEM);
			CHECK(d == NULL);
			fired++;
			continue;
		}
		char *got = c360_json_write_str(c360_json_doc_root(d), 0, NULL);
		CHECK(got && !strcmp(got, want));
		free(got);
		c360_json_doc_free(d);
		if (left)
			break; /* no allocation failed: every point was covered */
	}
	CHECK(n < 1000);
	CHECK(fired >= 3);
	for (n = 1; n < 1000; n++) {
		c360_json_test_fail_alloc(n);
		c360_rc rc = c360_json_validate(in.data, in.len, &o, NULL);
		unsigned left = c360_json_test_fail_alloc(0);
		CHECK(rc == C360_OK || rc == C360_ERR_NOMEM);
		if (!rc && left)
			break;
	}
	/* copy into a new doc */
	for (n = 1; n < 1000; n++) {
		c360_json_doc *d = c360_json_doc_new();
		REQUIRE(d);
		c360_json_test_fail_alloc(n);
		c360_json *c = c360_json_copy(d, c360_json_doc_root(ref));
		unsigned left = c360_json_test_fail_alloc(0);
		if (c)
			CHECK(c360_json_equal(c, c360_json_doc_root(ref)));
		c360_json_doc_free(d);
		if (c && left)
			break;
	}
	CHECK(n < 1000);
	/* builders and pointer sets */
	for (n = 1; n < 1000; n++) {
		c360_json_doc *d = c360_json_doc_new();
		REQUIRE(d);
		c360_json_test_fail_alloc(n);
		c360_rc rc = C360_OK;
		for (int k = 0; k < 400 && !rc; k++) {
			char ptr[64];
			snprintf(ptr, sizeof(ptr), "/a%d/b/c", k % 50);
			c360_json *v = c360_json_new_str(d, "value", 5);
			rc = v ? c360_json_ptr_set(d, ptr, v) : C360_ERR_NOMEM;
		}
		unsigned left = c360_json_test_fail_alloc(0);
		CHECK(rc == C360_OK || rc == C360_ERR_NOMEM);
		c360_json_doc_free(d);
		if (!rc && left)
			break;
	}
	CHECK(n < 1000);
	free(want);
	c360_json_doc_free(ref);
	c360_buf_release(&in);
}

/* ---- keep: members of the root left out (c360_json_parse_opts.keep) ---- */

/* Parses text with keep = every other member key of its root object (the
 * 1st, 3rd, ...) and checks the result equals the full parse with the other
 * members removed. */
static int keep_one(const char *name, const char *data, size_t len)
{
	c360_json_doc *full = NULL, *part = NULL;
	if (c360_json_parse(data, len, NULL, &full, NULL))
		return 1;
	c360_json *root = c360_json_doc_root(full);
	if (!c360_json_is_object(root)) {
		c360_json_doc_free(full);
		return 0;
	}
	char *keys[64];
	size_t nk = 0, i = 0;
	for (c360_json *m = c360_json_first(root); m && nk < 64; m = c360_json_next(m), i++) {
		size_t kl;
		const char *k = c360_json_key(m, &kl);
		if (i % 2 == 0 && !memchr(k, '\0', kl))
			keys[nk++] = strndup(k, kl);
	}
	/* the full document without the members not kept */
	for (c360_json *m = c360_json_first(root), *n; m; m = n) {
		n = c360_json_next(m);
		size_t kl;
		const char *k = c360_json_key(m, &kl);
		bool keep = false;
		for (size_t j = 0; j < nk; j++)
			keep |= strlen(keys[j]) == kl && !memcmp(keys[j], k, kl);
		if (!keep)
			c360_json_remove(root, k, kl);
	}
	struct c360_json_parse_opts o = {.keep = (const char *const *)keys, .nkeep = nk};
	int bad = 0;
	if (c360_json_parse(data, len, &o, &part, NULL)) {
		printf("  keep %s: not parsed\n", name);
		bad = 1;
	} else if (!c360_json_equal(root, c360_json_doc_root(part))) {
		printf("  keep %s: differs from the full parse\n", name);
		bad = 1;
	}
	/* every truncation fails cleanly */
	for (size_t cut = 0; cut < len && !bad; cut++) {
		c360_json_doc *t = NULL;
		if (!c360_json_parse(data, cut, &o, &t, NULL) && cut < len - 1) {
			/* a shorter text may be valid JSON itself (trailing spaces) */
			bool ws = true;
			for (size_t j = cut; j < len; j++)
				ws &= data[j] == ' ' || data[j] == '\n' || data[j] == '\t' || data[j] == '\r';
			if (!ws) {
				printf("  keep %s: truncated at %zu accepted\n", name, cut);
				bad = 1;
			}
		}
		c360_json_doc_free(t);
	}
	for (size_t j = 0; j < nk; j++)
		free(keys[j]);
	c360_json_doc_free(part);
	c360_json_doc_free(full);
	return bad;
}

TEST(keep_skips_root_members)
{
	/* the conformance corpus: every object document */
	CHECK(walk("accept", keep_one) >= 30);
	/* skipped values with brackets, quotes and escapes at every offset around
	 * the 64-byte blocks the skipper scans */
	struct c360_buf b;
	c360_buf_init(&b, 0);
	for (int shift = 0; shift < 140; shift++) {
		for (int kind = 0; kind < 4; kind++) {
			b.len = 0;
			c360_buf_puts(&b, "{\"a\":1,\"schema\":");
			const char *open = kind == 1 ? "[" : "{\"x\":[";
			const char *close = kind == 1 ? "]" : "]}";
			c360_buf_puts(&b, kind == 3 ? "\"" : open);
			if (kind != 3)
				c360_buf_puts(&b, "\"");
			for (int j = 0; j < shift; j++)
				c360_buf_putc(&b, "ab{[]}, "[j % 8]);
			c360_buf_puts(&b, kind == 2 ? "\\\"}]\\\\" : "\\u005d\\\\\\\"");
			c360_buf_puts(&b, "\"");
			if (kind != 3) {
				c360_buf_puts(&b, ",[[{\"q\":\"}\"}]],true,-1.5e3,null");
				c360_buf_puts(&b, close);
			}
			c360_buf_puts(&b, ",\"b\":\"kept\",\"c\":{\"n\":[1,2]}}");
			char name[40];
			snprintf(name, sizeof name, "generated %d/%d", shift, kind);
			CHECK_EQ_INT(keep_one(name, b.data, b.len), 0);
			/* and the members after the skipped one are there */
			const char *keep[] = {"a", "b", "c"};
			struct c360_json_parse_opts o = {.keep = keep, .nkeep = 3};
			c360_json_doc *d = NULL;
			REQUIRE(c360_json_parse(b.data, b.len, &o, &d, NULL) == C360_OK);
			size_t n;
			const char *v = c360_json_str(c360_json_get(c360_json_doc_root(d), "b"), &n);
			CHECK(v && n == 4 && !memcmp(v, "kept", 4));
			CHECK(c360_json_get(c360_json_doc_root(d), "schema") == NULL);
			CHECK(c360_json_ptr_get(c360_json_doc_root(d), "/c/n/1") != NULL);
			c360_json_doc_free(d);
		}
	}
	/* a bracket that closes nothing, and a skipped scalar */
	const char *keep[] = {"b"};
	struct c360_json_parse_opts o = {.keep = keep, .nkeep = 1};
	c360_json_doc *d = NULL;
	CHECK(c360_json_parse("{\"a\":]", 6, &o, &d, NULL) != C360_OK);
	CHECK(c360_json_parse("{\"a\":,\"b\":1}", 12, &o, &d, NULL) != C360_OK);
	CHECK(c360_json_parse("{\"a\":{\"x\":1}", 12, &o, &d, NULL) != C360_OK);
	REQUIRE(c360_json_parse("{\"a\":12,\"b\":1}", 14, &o, &d, NULL) == C360_OK);
	CHECK(c360_json_get(c360_json_doc_root(d), "a") == NULL);
	CHECK(c360_json_get(c360_json_doc_root(d), "b") != NULL);
	c360_json_doc_free(d);
	c360_buf_release(&b);
}

int main(void)
{
	find_src();
	RUN(corpus_accept);
	RUN(corpus_reject);
	RUN(error_line_column_and_str);
	RUN(not_nul_terminated_input);
	RUN(depth_limit_100000_brackets);
	RUN(depth_limit_exact);
	RUN(size_cap);
	RUN(reading_values);
	RUN(duplicate_keys_last_wins);
	RUN(escapes_unescaped);
	RUN(int64_edges_round_trip);
	RUN(doubles_round_trip);
	RUN(new_number_validates);
	RUN(equal_semantics);
	RUN(fixtures_parse_and_compact_identical);
	RUN(pointer_get);
	RUN(pointer_set_and_remove);
	RUN(build_and_mutate);
	RUN(copy_across_docs);
	RUN(many_values_grow_arena);
	RUN(buf_detach_of_a_buffer_never_written_is_an_empty_string);
	RUN(write_capped_buffer);
	RUN(write_string_escaping);
	RUN(built_strings_write_like_parsed);
	RUN(plain_strings);
	RUN(write_null_and_scalars);
	RUN(allocation_failures);
	RUN(keep_skips_root_members);
	return test_summary();
}
