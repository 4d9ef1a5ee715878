/* YAML config loading: scalars typed like JSON, positions for error
 * messages, syntax errors with file:line:column. */
#include "core/yaml.h"
#include "test.h"

#include <stdlib.h>
#include <unistd.h>

static struct c360_yaml *load(const char *text, char *err, size_t errlen)
{
	struct c360_yaml *y = NULL;
	c360_rc rc = c360_yaml_load_string("pipe.yaml", text, strlen(text), &y, err, errlen);
	return rc ? NULL : y;
}

TEST(scalars_and_structure)
{
	char err[256] = "";
	struct c360_yaml *y = load("name: demo\n"
				   "count: 42\n"
				   "ratio: -1.5e3\n"
				   "on: true\n"
				   "off: false\n"
				   "nothing: ~\n"
				   "empty:\n"
				   "quoted: \"42\"\n"
				   "version: 1.2.3\n"
				   "list:\n  - a\n  - 7\n"
				   "nested: {a: {b: x}}\n",
				   err, sizeof err);
	REQUIRE(y);
	c360_json *r = c360_yaml_root(y);
	size_t len;
	CHECK_EQ_STR(c360_json_str(c360_json_get(r, "name"), &len), "demo");
	int64_t i = 0;
	CHECK(c360_json_int64(c360_json_get(r, "count"), &i) && i == 42);
	CHECK_EQ_STR(c360_json_num_text(c360_json_get(r, "ratio"), &len), "-1.5e3");
	CHECK(c360_json_type(c360_json_get(r, "on")) == C360_JSON_TRUE);
	CHECK(c360_json_type(c360_json_get(r, "off")) == C360_JSON_FALSE);
	CHECK(c360_json_is_null(c360_json_get(r, "nothing")));
	CHECK(c360_json_get(r, "empty") && c360_json_is_null(c360_json_get(r, "empty")));
	CHECK_EQ_STR(c360_json_str(c360_json_get(r, "quoted"), &len), "42");
	CHECK_EQ_STR(c360_json_str(c360_json_get(r, "version"), &len), "1.2.3");
	CHECK_EQ_INT(c360_json_len(c360_json_get(r, "list")), 2);
	CHECK_EQ_STR(c360_json_str(c360_json_ptr_get(r, "/nested/a/b"), &len), "x");
	c360_yaml_free(y);
}

TEST(positions_for_messages)
{
	char err[256] = "";
	struct c360_yaml *y = load("sources:\n"
				   "  - name: loyalty\n"
				   "    type: csvv\n",
				   err, sizeof err);
	REQUIRE(y);
	c360_json *type = c360_json_ptr_get(c360_yaml_root(y), "/sources/0/type");
	unsigned line = 0, col = 0;
	CHECK(c360_yaml_pos(y, type, &line, &col));
	CHECK_EQ_INT(line, 3);
	CHECK_EQ_INT(col, 11);
	CHECK(c360_yaml_fail(y, type, err, sizeof err, "unknown source type '%s'", "csvv") ==
	      C360_ERR_INVALID);
	CHECK_EQ_STR(err, "pipe.yaml:3:11: unknown source type 'csvv'");
	c360_yaml_free(y);
}

TEST(syntax_error_has_position)
{
	char err[256] = "";
	CHECK(load("a: [1, 2\nb: 3\n", err, sizeof err) == NULL);
	CHECK(strncmp(err, "pipe.yaml:", 10) == 0);
	printf("  (message: %s)\n", err);
	CHECK(load("a: 1\na: 2\n", err, sizeof err) == NULL);
	CHECK(strstr(err, "pipe.yaml:2:") != NULL);
	CHECK(strstr(err, "duplicate") != NULL);
}

/* Found by tests/fuzz/fuzz_mapping.c: libfyaml 0.7 never returns on "%\xff"
 * (a directive ending in invalid UTF-8), a NUL in a block scalar gave an
 * error without a message, and an empty file or an empty implicit key had
 * no position. Tab, CR and LF stay allowed. */
TEST(bad_text_fails_with_a_position_and_never_hangs)
{
	char err[256] = "";
	CHECK(load("%\xff", err, sizeof err) == NULL);
	CHECK_EQ_STR(err, "pipe.yaml:1:2: not valid UTF-8 (byte 0xff): YAML text must be UTF-8");
	CHECK(load("a: 1\nb: \"h\xc3\xa9\xed\xa0\x80\"\n", err, sizeof err) == NULL);
	CHECK(strncmp(err, "pipe.yaml:2:7: not valid UTF-8 (byte 0xed)", 42) == 0);
	CHECK(load("a: 1\nb: x\001y\n", err, sizeof err) == NULL);
	CHECK_EQ_STR(err, "pipe.yaml:2:5: control character 0x01: YAML text cannot hold it");
	struct c360_yaml *tabs = load("a: b\t\r\nc: \"\t\"\r\n", err, sizeof err);
	CHECK(tabs != NULL);
	c360_yaml_free(tabs);
	CHECK(load("  # only a comment\n", err, sizeof err) == NULL);
	CHECK(strncmp(err, "pipe.yaml:1:1: no YAML document", 31) == 0);
	struct c360_yaml *y = load(": 1\n", err, sizeof err);
	REQUIRE(y);
	unsigned line = 0, col = 0;
	c360_json *member = c360_json_first(c360_yaml_root(y));
	CHECK(member && c360_yaml_key_pos(y, member, &line, &col));
	CHECK(line >= 1 && col >= 1);
	c360_yaml_free(y);
	/* from a file: the same check, the path in the message */
	char path[] = "/tmp/c360-yaml-XXXXXX";
	int fd = mkstemp(path);
	REQUIRE(fd >= 0);
	CHECK(write(fd, "a: 1\n%\xe2\x82", 8) == 8);
	close(fd);
	CHECK(c360_yaml_load_file(path, &y, err, sizeof err) == C360_ERR_INVALID);
	CHECK(y == NULL);
	char want[128];
	snprintf(want, sizeof want, "%s:2:2: not valid UTF-8 (byte 0xe2)", path);
	CHECK(strncmp(err, want, strlen(want)) == 0);
	unlink(path);
}

/* libfyaml 0.7.12 dies on this text (found by tests/fuzz/fuzz_mapping.c):
 * the text is refused, this process goes on. */
TEST(text_the_yaml_library_crashes_on_is_refused)
{
	char err[256] = "";
	CHECK(load("? i:\t:", err, sizeof err) == NULL);
	CHECK(strncmp(err, "pipe.yaml:1:1: ", 15) == 0 && strstr(err, "crashed on this text"));
	printf("  (message: %s)\n", err);
	struct c360_yaml *y = load("still: fine\n", err, sizeof err);
	CHECK(y != NULL);
	c360_yaml_free(y);
}

TEST(missing_file)
{
	char err[256] = "";
	struct c360_yaml *y = NULL;
	CHECK(c360_yaml_load_file("/nonexistent/pipe.yaml", &y, err, sizeof err) ==
	      C360_ERR_NOT_FOUND);
	CHECK(y == NULL);
	CHECK(strstr(err, "/nonexistent/pipe.yaml") != NULL);
}

int main(void)
{
	RUN(scalars_and_structure);
	RUN(positions_for_messages);
	RUN(syntax_error_has_position);
	RUN(bad_text_fails_with_a_position_and_never_hangs);
	RUN(text_the_yaml_library_crashes_on_is_refused);
	RUN(missing_file);
	return test_summary();
}
