/* Unit tests of the cbimport key-expression compiler and evaluator. */
#include <stdint.h>
#include <string.h>

#include "sources/csv/keyexpr.h"
#include "test.h"
#include "core/banned.h"

/* A record: names[i] = values[i]; fields resolved by joining segments with '.'. */
struct rec {
	const c360_keyexpr *ke;
	const char **names, **values;
	int n;
};

static bool lookup(void *ctx, size_t field, const char **val, size_t *len)
{
	struct rec *r = ctx;
	char path[256] = "";
	size_t pl = 0;
	for (size_t j = 0; j < c360_keyexpr_field_nsegs(r->ke, field); j++) {
		size_t sl;
		const char *s = c360_keyexpr_field_seg(r->ke, field, j, &sl);
		if (j)
			path[pl++] = '/'; /* nesting shown as '/' so "a.b" (one segment) differs */
		memcpy(path + pl, s, sl);
		pl += sl;
		path[pl] = '\0';
	}
	for (int i = 0; i < r->n; i++)
		if (!strcmp(r->names[i], path)) {
			*val = r->values[i];
			*len = strlen(r->values[i]);
			return true;
		}
	return false;
}

static const char *names[] = {"id", "email", "a/b", "a.b", "first name", "empty", "x%y"};
static const char *values[] = {"42", "m@x.org", "nested", "dotted", "Matt", "", "pct"};

/* Evaluates expr for ordinal; returns the key or "ERR:<rc>:<err>". */
static const char *eval(const char *expr, char fd, char gd, uint64_t ordinal)
{
	static char res[512];
	char err[200] = "";
	c360_keyexpr *ke = NULL;
	c360_rc rc = c360_keyexpr_compile(expr, fd, gd, &ke, err, sizeof err);
	if (rc) {
		snprintf(res, sizeof res, "COMPILE:%d:%s", (int)rc, err);
		return res;
	}
	struct rec r = {ke, names, values, 7};
	struct c360_buf b;
	c360_buf_init(&b, 250);
	rc = c360_keyexpr_eval(ke, ordinal, lookup, &r, &b, err, sizeof err);
	if (rc)
		snprintf(res, sizeof res, "ERR:%d:%s", (int)rc, err);
	else
		snprintf(res, sizeof res, "%s", c360_buf_cstr(&b));
	c360_buf_release(&b);
	c360_keyexpr_free(ke);
	return res;
}

TEST(literal_only) { CHECK_EQ_STR(eval("constant", 0, 0, 1), "constant"); }

TEST(field) { CHECK_EQ_STR(eval("loyalty-member-%id%", 0, 0, 1), "loyalty-member-42"); }

TEST(two_fields) { CHECK_EQ_STR(eval("%id%::%email%", 0, 0, 1), "42::m@x.org"); }

TEST(nested_field) { CHECK_EQ_STR(eval("k-%a.b%", 0, 0, 1), "k-nested"); }

TEST(backtick_field)
{
	CHECK_EQ_STR(eval("k-%`a.b`%", 0, 0, 1), "k-dotted");
	CHECK_EQ_STR(eval("%`first name`%", 0, 0, 1), "Matt");
	CHECK_EQ_STR(eval("%`x%y`%", 0, 0, 1), "pct"); /* delimiter inside backticks */
}

TEST(mono_incr)
{
	CHECK_EQ_STR(eval("key::#MONO_INCR#", 0, 0, 1), "key::1");
	CHECK_EQ_STR(eval("key::#MONO_INCR#", 0, 0, 7), "key::7");
}

TEST(mono_incr_start)
{
	CHECK_EQ_STR(eval("#MONO_INCR[100]#", 0, 0, 1), "100");
	CHECK_EQ_STR(eval("#MONO_INCR[100]#", 0, 0, 3), "102");
	CHECK_EQ_STR(eval("#MONO_INCR[0]#", 0, 0, 1), "0");
}

TEST(uuid)
{
	const char *k = eval("u::#UUID#", 0, 0, 1);
	REQUIRE(strlen(k) == 3 + 36);
	CHECK(!strncmp(k, "u::", 3));
	CHECK(k[3 + 8] == '-' && k[3 + 13] == '-' && k[3 + 18] == '-' && k[3 + 23] == '-');
	CHECK(k[3 + 14] == '4'); /* version 4 */
	CHECK(strchr("89ab", k[3 + 19]) != NULL);
	char first[64];
	snprintf(first, sizeof first, "%s", k);
	CHECK(strcmp(first, eval("u::#UUID#", 0, 0, 1)) != 0);
}

TEST(escapes)
{
	CHECK_EQ_STR(eval("100%%-##%id%", 0, 0, 1), "100%-#42");
	CHECK_EQ_STR(eval("%%%id%%%", 0, 0, 1), "%42%");
}

TEST(custom_delimiters)
{
	CHECK_EQ_STR(eval("k-$id$-@MONO_INCR@", '$', '@', 5), "k-42-5");
	/* with other delimiters, % and # are literal text */
	CHECK_EQ_STR(eval("50%#$email$", '$', '@', 1), "50%#m@x.org");
	CHECK_EQ_STR(eval("$$@@", '$', '@', 1), "$@");
}

TEST(missing_field)
{
	const char *k = eval("k::%nope%", 0, 0, 1);
	CHECK(!strncmp(k, "ERR:3:", 6));
	CHECK(strstr(k, "'nope'") != NULL);
	k = eval("k::%empty%", 0, 0, 1);
	CHECK(!strncmp(k, "ERR:3:", 6));
	CHECK(strstr(k, "empty") != NULL);
}

TEST(compile_errors)
{
	CHECK(!strncmp(eval("", 0, 0, 1), "COMPILE:", 8));
	CHECK(strstr(eval("k::%id", 0, 0, 1), "unterminated field reference") != NULL);
	CHECK(strstr(eval("k::#MONO_INCR", 0, 0, 1), "unterminated generator") != NULL);
	CHECK(strstr(eval("#NOPE#", 0, 0, 1), "unknown generator 'NOPE'") != NULL);
	CHECK(strstr(eval("#MONO_INCR[x]#", 0, 0, 1), "bad generator") != NULL);
	CHECK(strstr(eval("#MONO_INCR[]#", 0, 0, 1), "bad generator") != NULL);
	CHECK(strstr(eval("%a..b%", 0, 0, 1), "empty name") != NULL);
	CHECK(strstr(eval("%a.%", 0, 0, 1), "ends with '.'") != NULL);
	CHECK(strstr(eval("%`a%", 0, 0, 1), "unterminated") != NULL);
	CHECK(strstr(eval("x", '#', '#', 1), "both") != NULL);
}

TEST(introspection)
{
	c360_keyexpr *ke = NULL;
	char err[100];
	REQUIRE(c360_keyexpr_compile("%a.`b.c`%-%id%-#MONO_INCR#", 0, 0, &ke, err, sizeof err) == C360_OK);
	CHECK_EQ_INT(c360_keyexpr_nfields(ke), 2);
	CHECK_EQ_STR(c360_keyexpr_field_text(ke, 0), "a.`b.c`");
	CHECK_EQ_INT(c360_keyexpr_field_nsegs(ke, 0), 2);
	size_t l;
	const char *s = c360_keyexpr_field_seg(ke, 0, 1, &l);
	CHECK(l == 3 && !memcmp(s, "b.c", 3));
	CHECK(c360_keyexpr_uses_counter(ke));
	CHECK(!c360_keyexpr_is_random(ke));
	c360_keyexpr_free(ke);
	c360_keyexpr_free(NULL);
}

TEST(key_cap)
{
	c360_keyexpr *ke = NULL;
	char err[100];
	REQUIRE(c360_keyexpr_compile("0123456789#MONO_INCR#", 0, 0, &ke, err, sizeof err) == C360_OK);
	struct c360_buf b;
	c360_buf_init(&b, 12);
	CHECK(c360_keyexpr_eval(ke, 1000, NULL, NULL, &b, err, sizeof err) == C360_ERR_TOO_BIG);
	c360_buf_release(&b);
	c360_keyexpr_free(ke);
}

int main(void)
{
	RUN(literal_only);
	RUN(field);
	RUN(two_fields);
	RUN(nested_field);
	RUN(backtick_field);
	RUN(mono_incr);
	RUN(mono_incr_start);
	RUN(uuid);
	RUN(escapes);
	RUN(custom_delimiters);
	RUN(missing_field);
	RUN(compile_errors);
	RUN(introspection);
	RUN(key_cap);
	return test_summary();
}
