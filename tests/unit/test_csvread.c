/* Unit tests of the streaming CSV reader: every RFC 4180 corner, BOM, chunking, caps. */
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "core/buf.h"
#include "sources/csv/csvread.h"
#include "test.h"
#include "core/banned.h"

/* Records rendered as "[f1|f2]" lines, bad ones as "!reason". */
struct out {
	struct c360_buf b;
	uint64_t stop_after;
};

/* Appends rec as "[f1|f2]", or as "N!reason" with at most cut characters
 * of the reason when it is bad. */
static void render(struct c360_buf *b, const struct c360_csv_record *rec, int cut)
{
	if (rec->bad) {
		c360_buf_printf(b, "%llu!%.*s", (unsigned long long)rec->number, cut, c360_csv_bad_str(rec->bad));
		return;
	}
	c360_buf_putc(b, '[');
	for (size_t i = 0; i < rec->n; i++) {
		if (i)
			c360_buf_putc(b, '|');
		c360_buf_append(b, rec->fields[i].p, rec->fields[i].len);
	}
	c360_buf_putc(b, ']');
}

static c360_rc collect(void *ctx, const struct c360_csv_record *rec)
{
	struct out *o = ctx;
	render(&o->b, rec, INT_MAX);
	c360_buf_putc(&o->b, '\n');
	if (o->stop_after && rec->number >= o->stop_after)
		return C360_ERR_LIMIT;
	return C360_OK;
}

/* Parses s fed in chunks of `chunk` bytes (0 = all at once). */
static const char *parse_opts(const char *s, size_t len, size_t chunk, char sep, size_t max_record,
			      c360_rc *rc_out)
{
	static char res[4096];
	struct out o = {.stop_after = 0};
	c360_buf_init(&o.b, 0);
	struct c360_csv_reader_opts opts = {.separator = sep, .max_record = max_record};
	c360_csv_reader *r = NULL;
	c360_rc rc = c360_csv_reader_new(&opts, collect, &o, &r);
	if (!rc) {
		if (!chunk)
			chunk = len ? len : 1;
		for (size_t i = 0; i < len && !rc; i += chunk)
			rc = c360_csv_reader_feed(r, s + i, len - i < chunk ? len - i : chunk);
		if (!rc)
			rc = c360_csv_reader_finish(r);
	}
	if (rc_out)
		*rc_out = rc;
	snprintf(res, sizeof res, "%s", c360_buf_cstr(&o.b));
	c360_buf_release(&o.b);
	c360_csv_reader_free(r);
	return res;
}

static const char *parse(const char *s)
{
	return parse_opts(s, strlen(s), 0, 0, 0, NULL);
}

TEST(simple_with_header)
{
	CHECK_EQ_STR(parse("id,name\n1,Matt\n2,Ann\n"), "[id|name]\n[1|Matt]\n[2|Ann]\n");
}

TEST(no_final_newline) { CHECK_EQ_STR(parse("a,b\n1,2"), "[a|b]\n[1|2]\n"); }

TEST(crlf) { CHECK_EQ_STR(parse("a,b\r\n1,2\r\n3,4"), "[a|b]\n[1|2]\n[3|4]\n"); }

TEST(quoted_fields) { CHECK_EQ_STR(parse("\"a\",\"b c\"\n"), "[a|b c]\n"); }

TEST(doubled_quotes)
{
	CHECK_EQ_STR(parse("\"say \"\"hi\"\"\",x\n"), "[say \"hi\"|x]\n");
	CHECK_EQ_STR(parse("\"\"\"\"\n"), "[\"]\n");
}

TEST(embedded_comma) { CHECK_EQ_STR(parse("\"Groves, Matt\",2\n"), "[Groves, Matt|2]\n"); }

TEST(embedded_newlines)
{
	CHECK_EQ_STR(parse("\"line1\nline2\",x\n\"a\r\nb\",y\n"), "[line1\nline2|x]\n[a\r\nb|y]\n");
}

TEST(empty_fields) { CHECK_EQ_STR(parse("a,,c\n,,\n\"\",x,\n"), "[a||c]\n[||]\n[|x|]\n"); }

TEST(blank_lines_ignored) { CHECK_EQ_STR(parse("a\n\n\r\n\nb\n"), "[a]\n[b]\n"); }

TEST(spaces_kept)
{
	CHECK_EQ_STR(parse(" a , b \n"), "[ a | b ]\n");
	CHECK_EQ_STR(parse("\tx\t\n"), "[\tx\t]\n");
}

TEST(utf8_bom)
{
	CHECK_EQ_STR(parse("\xEF\xBB\xBFid,name\n1,x\n"), "[id|name]\n[1|x]\n");
	/* the BOM split over three feeds */
	const char *s = "\xEF\xBB\xBFid\n";
	CHECK_EQ_STR(parse_opts(s, strlen(s), 1, 0, 0, NULL), "[id]\n");
	/* a BOM-like prefix that is not a BOM is data */
	s = "\xEF\xBBx\n";
	CHECK_EQ_STR(parse_opts(s, strlen(s), 1, 0, 0, NULL), "[\xEF\xBBx]\n");
	/* only at the start */
	CHECK_EQ_STR(parse("a\n\xEF\xBB\xBF" "b\n"), "[a]\n[\xEF\xBB\xBF" "b]\n");
}

TEST(chunked_equals_whole)
{
	const char *s = "id,\"n\"\"ame\"\r\n1,\"a,\nb\"\r\n2,c\r\n";
	char whole[512];
	snprintf(whole, sizeof whole, "%s", parse(s));
	for (size_t chunk = 1; chunk < 8; chunk++)
		CHECK_EQ_STR(parse_opts(s, strlen(s), chunk, 0, 0, NULL), whole);
}

TEST(custom_separator)
{
	const char *s = "a\tb,c\n1\t2\n";
	CHECK_EQ_STR(parse_opts(s, strlen(s), 0, '\t', 0, NULL), "[a|b,c]\n[1|2]\n");
	s = "a;b\n";
	CHECK_EQ_STR(parse_opts(s, strlen(s), 0, ';', 0, NULL), "[a|b]\n");
}

TEST(unterminated_quote)
{
	CHECK_EQ_STR(parse("a,b\n1,\"open"), "[a|b]\n2!unterminated quoted field at end of input\n");
}

/* As parse_opts, with line numbers ("@line" after each record) and the
 * header's field count expected (set after the first record). */
struct out_lines {
	struct c360_buf b;
	c360_csv_reader *r;
	size_t expect;
};

static c360_rc collect_lines(void *ctx, const struct c360_csv_record *rec)
{
	struct out_lines *o = ctx;
	render(&o->b, rec, 10);
	c360_buf_printf(&o->b, "@%llu\n", (unsigned long long)rec->line);
	if (rec->number == 1)
		c360_csv_reader_expect_fields(o->r, o->expect);
	return C360_OK;
}

static const char *parse_lines(const char *s, size_t chunk, size_t expect, size_t max_record)
{
	static char res[4096];
	struct out_lines o = {.expect = expect};
	c360_buf_init(&o.b, 0);
	struct c360_csv_reader_opts opts = {.max_record = max_record};
	size_t len = strlen(s);
	c360_rc rc = c360_csv_reader_new(&opts, collect_lines, &o, &o.r);
	if (!chunk)
		chunk = len ? len : 1;
	for (size_t i = 0; i < len && !rc; i += chunk)
		rc = c360_csv_reader_feed(o.r, s + i, len - i < chunk ? len - i : chunk);
	if (!rc)
		rc = c360_csv_reader_finish(o.r);
	snprintf(res, sizeof res, "%s%s", rc ? "ERROR " : "", c360_buf_cstr(&o.b));
	c360_buf_release(&o.b);
	c360_csv_reader_free(o.r);
	return res;
}

/* issue 24: a stray quote at data row 2 swallowed every later row */
TEST(stray_quote_recovers_at_next_line)
{
	const char *s = "id,name\n1,a\n2,\"Stray\n3,c\n4,d\n";
	const char *want = "[id|name]@1\n[1|a]@2\n3!unbalanced@3\n[3|c]@4\n[4|d]@5\n";
	CHECK_EQ_STR(parse_lines(s, 0, 0, 0), want);
	CHECK_EQ_STR(parse_lines(s, 0, 2, 0), want);
	for (size_t chunk = 1; chunk < 9; chunk++)
		CHECK_EQ_STR(parse_lines(s, chunk, 2, 0), want);
	/* without a final line break */
	CHECK_EQ_STR(parse_lines("h\n\"x\ny", 0, 1, 0), "[h]@1\n2!unbalanced@2\n[y]@3\n");
	/* on the last line nothing was swallowed: the old report */
	CHECK_EQ_STR(parse_lines("h\nok\n\"x", 0, 1, 0), "[h]@1\n[ok]@2\n3!unterminat@3\n");
}

TEST(stray_quote_paired_with_a_later_quote)
{
	/* the stray quote closes at the opening quote of row 3's field, which
	 * leaves `"c"` behind it: not RFC 4180, read again (any field count) */
	const char *s = "id,name\n1,\"Stray\n2,b\n3,\"c\"\n4,d\n";
	const char *want =
		"[id|name]@1\n2!unbalanced@2\n[2|b]@3\n[3|c]@4\n[4|d]@5\n";
	CHECK_EQ_STR(parse_lines(s, 0, 0, 0), want);
	for (size_t chunk = 1; chunk < 9; chunk++)
		CHECK_EQ_STR(parse_lines(s, chunk, 2, 0), want);
}

TEST(stray_quote_wrong_field_count)
{
	/* well-formed quotes, but 3 fields where the header has 2; reading
	 * again meets another open quote on line 3, then recovers at line 4 */
	const char *s = "id,name\n1,\"Stray\n2,\",x\n3,c\n";
	CHECK_EQ_STR(parse_lines(s, 0, 2, 0), "[id|name]@1\n2!unbalanced@2\n3!unbalanced@3\n[3|c]@4\n");
	/* no expected count: taken as it is (nothing tells it from data) */
	CHECK_EQ_STR(parse_lines(s, 0, 0, 0), "[id|name]@1\n[1|Stray\n2,|x]@2\n[3|c]@4\n");
}

TEST(multiline_fields_still_taken)
{
	const char *s = "id,note\n1,\"a\nb\"\n2,\"x\"\"y\r\nz\"\r\n3,\"p\nq\",\n4,\"\"\n";
	const char *want = "[id|note]@1\n[1|a\nb]@2\n[2|x\"y\r\nz]@4\n4!unbalanced@6\n[q\"|]@7\n[4|]@8\n";
	/* the record on line 6 has 3 fields: read again from line 7, whose `q"` is data */
	CHECK_EQ_STR(parse_lines(s, 0, 2, 0), want);
	for (size_t chunk = 1; chunk < 9; chunk++)
		CHECK_EQ_STR(parse_lines(s, chunk, 2, 0), want);
}

TEST(stray_quote_bounded_by_record_cap)
{
	/* a quote still open after max_record bytes of lines is not a field */
	const char *s = "h\n\"open\naaaa\nbbbb\ncccc\ndddd\n";
	CHECK_EQ_STR(parse_lines(s, 0, 0, 16),
		     "[h]@1\n2!unbalanced@2\n[aaaa]@3\n[bbbb]@4\n[cccc]@5\n[dddd]@6\n");
	/* every line a stray quote: each one bad, nothing else lost */
	CHECK_EQ_STR(parse_lines("h\n\"a\n\"b\n\"c\nd\n", 0, 1, 0),
		     "[h]@1\n2!unbalanced@2\n3!unbalanced@3\n4!unbalanced@4\n[d]@5\n");
}

/* Random inputs of quotes, separators and line breaks: the records (and the
 * recoveries) do not depend on how the input is cut into feeds. */
TEST(recovery_independent_of_chunking)
{
	static const char alphabet[] = "a,\"\n\"\n\r";
	uint32_t seed = 24;
	char in[64], whole[4096];
	for (int t = 0; t < 3000; t++) {
		seed = seed * 1103515245u + 12345u;
		size_t n = 8 + (seed >> 16) % 48;
		for (size_t i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			in[i] = alphabet[(seed >> 16) % (sizeof alphabet - 1)];
		}
		in[n] = '\0';
		size_t expect = t % 3; /* 0 = any count, else 1 or 2 fields */
		snprintf(whole, sizeof whole, "%s", parse_lines(in, 0, expect, t % 5 ? 0 : 12));
		CHECK(strncmp(whole, "ERROR", 5) != 0);
		for (size_t chunk = 1; chunk < 5; chunk++)
			if (strcmp(parse_lines(in, chunk, expect, t % 5 ? 0 : 12), whole)) {
				printf("  input %d (chunk %zu) differs: '%s'\n", t, chunk, in);
				CHECK(0);
				break;
			}
	}
}

TEST(record_cap)
{
	const char *s = "ab,cd\n0123456789,x\nok,y\n";
	/* cap of 8 bytes: the long record is reported as bad and parsing goes on */
	CHECK_EQ_STR(parse_opts(s, strlen(s), 0, 0, 8, NULL), "[ab|cd]\n2!record too large\n[ok|y]\n");
}

TEST(too_many_fields)
{
	struct c360_buf b;
	c360_buf_init(&b, 0);
	for (int i = 0; i < C360_CSV_MAX_FIELDS + 1; i++)
		c360_buf_puts(&b, i ? ",x" : "x");
	c360_buf_puts(&b, "\na\n");
	CHECK_EQ_STR(parse_opts(b.data, b.len, 0, 0, 0, NULL), "1!too many fields\n[a]\n");
	c360_buf_release(&b);
}

TEST(callback_stops)
{
	struct out o = {.stop_after = 2};
	c360_buf_init(&o.b, 0);
	c360_csv_reader *r = NULL;
	REQUIRE(c360_csv_reader_new(NULL, collect, &o, &r) == C360_OK);
	CHECK(c360_csv_reader_feed(r, "1\n2\n3\n4\n", 8) == C360_ERR_LIMIT);
	CHECK(c360_csv_reader_feed(r, "5\n", 2) == C360_ERR_LIMIT);
	CHECK(c360_csv_reader_finish(r) == C360_ERR_LIMIT);
	CHECK_EQ_STR(c360_buf_cstr(&o.b), "[1]\n[2]\n");
	c360_buf_release(&o.b);
	c360_csv_reader_free(r);
	c360_csv_reader_free(NULL);
}

TEST(record_numbers)
{
	struct out o = {0};
	c360_buf_init(&o.b, 0);
	c360_csv_reader *r = NULL;
	REQUIRE(c360_csv_reader_new(NULL, collect, &o, &r) == C360_OK);
	CHECK(c360_csv_reader_feed(r, "h\n\"a\nb\"\n\nc\n", 11) == C360_OK);
	CHECK(c360_csv_reader_finish(r) == C360_OK);
	CHECK_EQ_INT(c360_csv_reader_records(r), 3);
	c360_buf_release(&o.b);
	c360_csv_reader_free(r);
}

int main(void)
{
	RUN(simple_with_header);
	RUN(no_final_newline);
	RUN(crlf);
	RUN(quoted_fields);
	RUN(doubled_quotes);
	RUN(embedded_comma);
	RUN(embedded_newlines);
	RUN(empty_fields);
	RUN(blank_lines_ignored);
	RUN(spaces_kept);
	RUN(utf8_bom);
	RUN(chunked_equals_whole);
	RUN(custom_separator);
	RUN(unterminated_quote);
	RUN(stray_quote_recovers_at_next_line);
	RUN(stray_quote_paired_with_a_later_quote);
	RUN(stray_quote_wrong_field_count);
	RUN(multiline_fields_still_taken);
	RUN(stray_quote_bounded_by_record_cap);
	RUN(recovery_independent_of_chunking);
	RUN(record_cap);
	RUN(too_many_fields);
	RUN(callback_stops);
	RUN(record_numbers);
	return test_summary();
}
