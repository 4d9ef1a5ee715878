/* Java .properties reader: Kafka Connect's connector files (comments,
 * separators, continuations, escapes) and errors with line and column. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/props.h"
#include "test.h"
#include "core/banned.h"

/* Entries as "key=value\n" lines (NUL-free test data). */
static c360_rc collect(const char *key, size_t klen, const char *value, size_t vlen, unsigned line, void *ctx)
{
	struct c360_buf *b = ctx;
	return c360_buf_printf(b, "%u[%.*s]=[%.*s]\n", line, (int)klen, key, (int)vlen, value);
}

static char *parse(const char *text, size_t len, struct c360_props_error *pe, c360_rc *rcp)
{
	struct c360_buf b;
	c360_buf_init(&b, 0);
	memset(pe, 0, sizeof *pe);
	*rcp = c360_props_parse(text, len, collect, &b, pe);
	char *s = c360_buf_detach(&b, NULL);
	return s;
}

static void expect(const char *text, const char *want)
{
	struct c360_props_error pe;
	c360_rc rc;
	char *got = parse(text, strlen(text), &pe, &rc);
	CHECK_EQ_INT(rc, C360_OK);
	CHECK_EQ_STR(got, want);
	free(got);
}

static void expect_error(const char *text, size_t len, unsigned line, unsigned col, const char *msg_part)
{
	struct c360_props_error pe;
	c360_rc rc;
	char *got = parse(text, len, &pe, &rc);
	CHECK_EQ_INT(rc, C360_ERR_INVALID);
	CHECK_EQ_INT(pe.line, line);
	CHECK_EQ_INT(pe.col, col);
	CHECK(strstr(pe.msg, msg_part) != NULL);
	free(got);
}

/* The shape of the connector's quickstart-couchbase-sink.properties. */
TEST(quickstart_shape)
{
	expect("# Arbitrary unique name for the connector.\n"
	       "name=test-couchbase-sink\n"
	       "\n"
	       "! another comment style\n"
	       "connector.class=com.couchbase.connect.kafka.CouchbaseSinkConnector\n"
	       "tasks.max=2\n"
	       "   topics = couchbase-sink-example\n"
	       "#   couchbase.enable.tls=true\n"
	       "couchbase.seed.nodes:127.0.0.1\n"
	       "couchbase.bucket default\n",
	       "2[name]=[test-couchbase-sink]\n"
	       "5[connector.class]=[com.couchbase.connect.kafka.CouchbaseSinkConnector]\n"
	       "6[tasks.max]=[2]\n"
	       "7[topics]=[couchbase-sink-example]\n"
	       "9[couchbase.seed.nodes]=[127.0.0.1]\n"
	       "10[couchbase.bucket]=[default]\n");
}

TEST(separators_and_blanks)
{
	expect("a=b=c\n", "1[a]=[b=c]\n");
	expect("a = = b\n", "1[a]=[= b]\n");
	expect("a b = c\n", "1[a]=[b = c]\n");
	expect("a:\n", "1[a]=[]\n");
	expect("lonely\n", "1[lonely]=[]\n");
	expect("a=trailing  \n", "1[a]=[trailing  ]\n");
	expect("a=1\r\nb=2\rc=3", "1[a]=[1]\n2[b]=[2]\n3[c]=[3]\n");
	expect("\xEF\xBB\xBFk=v\n", "1[k]=[v]\n");
	expect("k=1\nk=2\n", "1[k]=[1]\n2[k]=[2]\n"); /* the caller keeps the last */
}

TEST(continuations)
{
	expect("topics=a,\\\n    b,\\\n\tc\nx=y\n", "1[topics]=[a,b,c]\n4[x]=[y]\n");
	/* an even number of backslashes does not continue */
	expect("p=c:\\\\\nq=1\n", "1[p]=[c:\\]\n2[q]=[1]\n");
	/* a continued line starting with # is not a comment */
	expect("a=1\\\n#2\n", "1[a]=[1#2]\n");
	/* a comment line does not continue */
	expect("# c \\\nk=v\n", "2[k]=[v]\n");
	/* a backslash ending the file is dropped */
	expect("k=v\\", "1[k]=[v]\n");
	/* continuation inside the separator */
	expect("k \\\n  = v\n", "1[k]=[v]\n");
}

TEST(escapes)
{
	expect("k\\ with\\=odd\\:chars=v\n", "1[k with=odd:chars]=[v]\n");
	expect("k=tab\\there\\nnl\\q\n", "1[k]=[tab\there\nnlq]\n");
	expect("k=\\u00e9\\u20AC\n", "1[k]=[\xC3\xA9\xE2\x82\xAC]\n");
	expect("k=\\uD83D\\uDE00\n", "1[k]=[\xF0\x9F\x98\x80]\n");
	expect("k=caf\xC3\xA9\n", "1[k]=[caf\xC3\xA9]\n");
	expect("k=\\\xC3\xA9\n", "1[k]=[\xC3\xA9]\n");
	expect("doc.id=customer::${/payload/after/id}\n", "1[doc.id]=[customer::${/payload/after/id}]\n");
}

TEST(errors_have_line_and_column)
{
	const char *t = "a=1\nb=x\\u12G4\n";
	expect_error(t, strlen(t), 2, 4, "malformed \\uXXXX");
	t = "a=\\u12";
	expect_error(t, strlen(t), 1, 3, "malformed");
	t = "a=1\n\nk=\\uD800x\n";
	expect_error(t, strlen(t), 3, 3, "high surrogate");
	t = "k=\\uDC00\n";
	expect_error(t, strlen(t), 1, 3, "low surrogate");
	t = "k=ok\nk2=\xC3\x28\n";
	expect_error(t, strlen(t), 2, 4, "invalid UTF-8");
	expect_error("k=a\0b\n", 6, 1, 4, "NUL");
	t = "k=\\u0000\n";
	expect_error(t, strlen(t), 1, 3, "NUL");
	/* continuation lines count */
	t = "k=a\\\n  b\\u1\n";
	expect_error(t, strlen(t), 2, 4, "malformed");
}

TEST(arbitrary_bytes_are_safe)
{
	unsigned seed = 12345;
	char buf[256];
	for (int round = 0; round < 2000; round++) {
		size_t n = (size_t)(round % 255) + 1;
		for (size_t i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			const char pick[] = "ab=: \\\n\r#!u0D8\t\xC3\xA9";
			buf[i] = pick[(seed >> 16) % (sizeof pick - 1)];
		}
		struct c360_props_error pe;
		c360_rc rc;
		char *got = parse(buf, n, &pe, &rc);
		CHECK(rc == C360_OK || rc == C360_ERR_INVALID);
		free(got);
	}
}

int main(void)
{
	RUN(quickstart_shape);
	RUN(separators_and_blanks);
	RUN(continuations);
	RUN(escapes);
	RUN(errors_have_line_and_column);
	RUN(arbitrary_bytes_are_safe);
	return test_summary();
}
