/* c360 doc: read and write single documents (get, insert, upsert, replace,
 * delete, touch). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/json.h"
#include "core/banned.h"

int c360_cmd_doc(int argc, char **argv);

static const char *o_file, *o_expiry, *o_cas;
static bool o_meta;

static const struct c360_opt get_opts[] = {
	C360_CLI_STORE_OPT,
	{"meta", 'm', C360_OPT_FLAG, &o_meta, NULL, "print key, cas, expiry and seqno with the value", NULL},
	{NULL, 0, 0, NULL, NULL, NULL, NULL},
};
static const struct c360_opt write_opts[] = {
	C360_CLI_STORE_OPT,
	{"file", 'f', C360_OPT_STR, &o_file, "FILE", "read the value from FILE ('-' = stdin)", NULL},
	{"expiry", 'e', C360_OPT_STR, &o_expiry, "EXPIRY",
	 "90m, 25h, 2d (from now), or a number of seconds with Couchbase semantics", "0 = never"},
	{NULL, 0, 0, NULL, NULL, NULL, NULL},
};
static const struct c360_opt replace_opts[] = {
	C360_CLI_STORE_OPT,
	{"file", 'f', C360_OPT_STR, &o_file, "FILE", "read the value from FILE ('-' = stdin)", NULL},
	{"expiry", 'e', C360_OPT_STR, &o_expiry, "EXPIRY",
	 "90m, 25h, 2d (from now), or a number of seconds with Couchbase semantics", "0 = never"},
	{"cas", 0, C360_OPT_STR, &o_cas, "CAS", "fail with exit 4 unless the document's CAS is this", NULL},
	{NULL, 0, 0, NULL, NULL, NULL, NULL},
};
static const struct c360_opt delete_opts[] = {
	C360_CLI_STORE_OPT,
	{"cas", 0, C360_OPT_STR, &o_cas, "CAS", "fail with exit 4 unless the document's CAS is this", NULL},
	{NULL, 0, 0, NULL, NULL, NULL, NULL},
};
static const struct c360_opt touch_opts[] = {
	C360_CLI_STORE_OPT,
	{"expiry", 'e', C360_OPT_STR, &o_expiry, "EXPIRY",
	 "the new expiry: 90m, 25h, 2d (from now), or seconds with Couchbase semantics (required)", NULL},
	{NULL, 0, 0, NULL, NULL, NULL, NULL},
};

#define EXPIRY_HELP                                                                         \
	"EXPIRY: a duration with a unit (90s, 90m, 25h, 2d) counts from now; a plain number\n" \
	"follows Couchbase: 0 = never, below 2592000 (30 days) relative seconds, otherwise an\n" \
	"absolute Unix time. A bucket's max TTL caps it."
#define VALUE_HELP                                                                          \
	"The value is JSON (at most 20 MiB): the VALUE argument, --file FILE, or stdin when\n"   \
	"neither is given. Invalid JSON is refused with its line and column; nothing is written.\n"

static const struct c360_cmd_spec get_spec = {
	"c360 doc get [options] BUCKET KEY", "print a document's JSON value",
	"Exit codes: 0 found, 3 no such bucket or document (expired documents are absent),\n"
	"6 store unusable.",
	get_opts, 2, 2};
static const struct c360_cmd_spec insert_spec = {
	"c360 doc insert [options] BUCKET KEY [VALUE]", "create a document; fails if the key exists",
	VALUE_HELP EXPIRY_HELP "\nExit codes: 0 written, 3 no such bucket, 4 the key exists, 5 invalid value or key.",
	write_opts, 2, 3};
static const struct c360_cmd_spec upsert_spec = {
	"c360 doc upsert [options] BUCKET KEY [VALUE]", "create or overwrite a document",
	VALUE_HELP EXPIRY_HELP "\nExit codes: 0 written, 3 no such bucket, 5 invalid value or key.",
	write_opts, 2, 3};
static const struct c360_cmd_spec replace_spec = {
	"c360 doc replace [options] BUCKET KEY [VALUE]",
	"overwrite an existing document, optionally only at a given CAS",
	VALUE_HELP EXPIRY_HELP
	"\nExit codes: 0 written, 3 no such bucket or document, 4 CAS mismatch, 5 invalid value or key.",
	replace_opts, 2, 3};
static const struct c360_cmd_spec delete_spec = {
	"c360 doc delete [options] BUCKET KEY", "delete a document (a `deletion` on the change feed)",
	"Exit codes: 0 deleted, 3 no such bucket or document, 4 CAS mismatch.", delete_opts, 2, 2};
static const struct c360_cmd_spec touch_spec = {
	"c360 doc touch --expiry EXPIRY [options] BUCKET KEY", "change a document's expiry only",
	EXPIRY_HELP "\nExit codes: 0 done, 3 no such bucket or document.", touch_opts, 2, 2};

static void usage(FILE *out)
{
	fprintf(out, "usage: c360 doc get|insert|upsert|replace|delete|touch [options] BUCKET KEY [VALUE]\n"
		     "\nread and write single documents\n\n"
		     "  get       print a document's JSON value (--meta: with key, cas, expiry, seqno)\n"
		     "  insert    create a document; fails if the key exists\n"
		     "  upsert    create or overwrite a document\n"
		     "  replace   overwrite an existing document (--cas: only at that CAS)\n"
		     "  delete    delete a document (--cas: only at that CAS)\n"
		     "  touch     change a document's expiry (--expiry)\n"
		     "\n'c360 doc COMMAND --help' describes a command.\n");
}

/* EXPIRY: with a unit it is a duration from now (converted to absolute
 * time, so 31d is not mistaken for a 1970 date); a plain number is passed
 * with Couchbase semantics. */
static bool parse_expiry(const char *cmd, const char *s, uint32_t *out)
{
	*out = 0;
	if (!s)
		return true;
	bool digits = *s != '\0';
	for (const char *p = s; *p; p++)
		if (!isdigit((unsigned char)*p))
			digits = false;
	int64_t v;
	if (digits) {
		if (!c360_parse_int(s, &v) || v < 0 || v > (int64_t)UINT32_MAX)
			goto bad;
		*out = (uint32_t)v;
		return true;
	}
	if (!c360_parse_duration(s, &v))
		goto bad;
	if (v == 0)
		return true;
	int64_t abs = (int64_t)time(NULL) + v;
	if (abs > (int64_t)UINT32_MAX)
		goto bad;
	*out = v < C360_EXPIRY_RELATIVE_MAX ? (uint32_t)v : (uint32_t)abs;
	return true;
bad:
	fprintf(stderr, "%s: bad expiry '%s' (use 90s, 90m, 25h, 2d, or seconds up to 4294967295)\n",
		cmd, s);
	return false;
}

static bool parse_cas(const char *cmd, const char *s, uint64_t *out)
{
	*out = 0;
	if (!s)
		return true;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (!*s || *end || *s == '-' || v == 0) {
		fprintf(stderr, "%s: bad CAS '%s' (a positive whole number, as printed by get --meta)\n",
			cmd, s);
		return false;
	}
	*out = v;
	return true;
}

/* Prints a clear error for an unknown bucket; returns the exit code or 0. */
static int check_bucket(const char *cmd, c360_store *st, const char *bucket)
{
	uint64_t hs;
	c360_rc rc = c360_feed_high_seqno(st, bucket, &hs);
	if (rc == C360_ERR_NOT_FOUND) {
		fprintf(stderr, "%s: no bucket '%s' in store '%s' (see 'c360 bucket list')\n", cmd,
			bucket, c360_store_path(st));
		return C360_EXIT_NOT_FOUND;
	}
	if (rc) {
		fprintf(stderr, "%s: cannot read store '%s': %s\n", cmd, c360_store_path(st),
			c360_rc_str(rc));
		return c360_cli_exit_code(rc);
	}
	return 0;
}

static int check_key(const char *cmd, const char *key)
{
	size_t n = strlen(key);
	if (n == 0) {
		fprintf(stderr, "%s: empty key\n", cmd);
		return C360_EXIT_INVALID;
	}
	if (n > C360_KEY_MAX) {
		fprintf(stderr, "%s: key is %zu bytes, the limit is %d\n", cmd, n, C360_KEY_MAX);
		return C360_EXIT_INVALID;
	}
	return 0;
}

static void print_result(const char *key, uint64_t cas, uint64_t seqno)
{
	struct c360_buf b;
	c360_buf_init(&b, 0);
	c360_buf_puts(&b, "{\"key\":");
	c360_json_write_string(key, strlen(key), &b);
	c360_buf_printf(&b, ",\"cas\":%llu,\"seqno\":%llu}\n", (unsigned long long)cas,
			(unsigned long long)seqno);
	fputs(c360_buf_cstr(&b), stdout);
	c360_buf_release(&b);
}

static int do_get(const char *cmd, c360_store *st, const char *bucket, const char *key)
{
	struct c360_doc d;
	c360_rc rc = c360_store_get(st, bucket, key, strlen(key), &d);
	if (rc == C360_ERR_NOT_FOUND) {
		fprintf(stderr, "%s: no document '%s' in bucket '%s'\n", cmd, key, bucket);
		return C360_EXIT_NOT_FOUND;
	}
	if (rc) {
		fprintf(stderr, "%s: cannot read '%s' from bucket '%s': %s\n", cmd, key, bucket,
			c360_rc_str(rc));
		return c360_cli_exit_code(rc);
	}
	if (o_meta) {
		struct c360_buf b;
		c360_buf_init(&b, 0);
		c360_buf_puts(&b, "{\"key\":");
		c360_json_write_string(d.key, d.key_len, &b);
		c360_buf_printf(&b, ",\"cas\":%llu,\"expiry\":%u,\"seqno\":%llu,\"value\":",
				(unsigned long long)d.cas, d.expiry, (unsigned long long)d.seqno);
		fputs(c360_buf_cstr(&b), stdout);
		c360_buf_release(&b);
		fwrite(d.value, 1, d.value_len, stdout);
		fputs("}\n", stdout);
	} else {
		fwrite(d.value, 1, d.value_len, stdout);
		fputc('\n', stdout);
	}
	c360_doc_release(&d);
	return fflush(stdout) ? C360_EXIT_FAILED : 0;
}

/* RFC 8259 white space only: strchr(" \t\r\n", c) would also match a NUL. */
static bool is_json_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int doc_op(const struct c360_cmd_spec *spec, enum c360_write_type type, bool is_get,
		  int argc, char **argv)
{
	const char *cmd = argv[0];
	int n = c360_opts_parse(spec, argc, argv);
	if (n == C360_OPTS_HELP)
		return 0;
	if (n < 0)
		return C360_EXIT_USAGE;
	const char *bucket = argv[0], *key = argv[1], *value_arg = n > 2 ? argv[2] : NULL;
	uint32_t expiry = 0;
	uint64_t cas = 0;
	if (!parse_expiry(cmd, o_expiry, &expiry) || !parse_cas(cmd, o_cas, &cas))
		return C360_EXIT_USAGE;
	if (type == C360_WRITE_TOUCH && !is_get && !o_expiry) {
		fprintf(stderr, "%s: --expiry is required\n", cmd);
		return C360_EXIT_USAGE;
	}
	if (value_arg && o_file) {
		fprintf(stderr, "%s: give the value as an argument or with --file, not both\n", cmd);
		return C360_EXIT_USAGE;
	}
	int ex = check_key(cmd, key);
	if (ex)
		return ex;

	/* the value, checked before the store is touched */
	char *value = NULL;
	size_t value_len = 0;
	bool has_value = !is_get && type <= C360_WRITE_REPLACE;
	const char *source = "argument";
	if (has_value) {
		if (value_arg) {
			value_len = strlen(value_arg);
			if (value_len > C360_VALUE_MAX) {
				fprintf(stderr, "%s: value is %zu bytes, the limit is %u\n", cmd, value_len,
					C360_VALUE_MAX);
				return C360_EXIT_INVALID;
			}
			value = strdup(value_arg);
			if (!value)
				return C360_EXIT_FAILED;
		} else {
			source = o_file ? o_file : "-";
			if (!strcmp(source, "-") && isatty(STDIN_FILENO))
				fprintf(stderr, "%s: reading the value from stdin (end it with Ctrl-D)\n", cmd);
			c360_rc rc = c360_cli_read_file(source, C360_VALUE_MAX, &value, &value_len);
			if (rc)
				return rc == C360_ERR_TOO_BIG ? C360_EXIT_INVALID : c360_cli_exit_code(rc);
			if (!strcmp(source, "-"))
				source = "stdin";
		}
		/* checked as read, so the position is the file's and any byte after
		 * the JSON text (a NUL included) is an error, not an end */
		struct c360_json_error jerr;
		memset(&jerr, 0, sizeof jerr);
		if (c360_json_validate(value, value_len, NULL, &jerr)) {
			char msg[200];
			c360_json_error_str(&jerr, msg, sizeof msg);
			fprintf(stderr, "%s: invalid JSON value (%s): %s\n", cmd, source, msg);
			free(value);
			return C360_EXIT_INVALID;
		}
		/* surrounding JSON white space (a file's last newline) is not part
		 * of the value */
		size_t lead = 0;
		while (lead < value_len && is_json_ws(value[lead]))
			lead++;
		while (value_len > lead && is_json_ws(value[value_len - 1]))
			value_len--;
		if (lead) {
			memmove(value, value + lead, value_len - lead);
			value_len -= lead;
		}
		value[value_len] = '\0';
	}

	c360_store *st = NULL;
	struct c360_store_opts so;
	c360_store_opts_init(&so);
	so.no_create = true;
	so.read_only = is_get;
	so.sweep_interval_ms = -1;
	ex = c360_cli_open_store(&st, &so);
	if (ex) {
		free(value);
		return ex;
	}
	ex = check_bucket(cmd, st, bucket);
	if (ex)
		goto out;
	if (is_get) {
		ex = do_get(cmd, st, bucket, key);
		goto out;
	}
	struct c360_write w = {
		.type = type,
		.bucket = bucket,
		.key = key,
		.key_len = strlen(key),
		.value = value,
		.value_len = value_len,
		.expiry = expiry,
		.cas = cas,
		.flags = C360_WRITE_TRUSTED_JSON, /* validated above, with the position */
	};
	c360_rc rc = c360_store_write(st, &w, 1);
	if (rc) {
		fprintf(stderr, "%s: write to store '%s' failed: %s\n", cmd, c360_store_path(st),
			c360_rc_str(rc));
		ex = c360_cli_exit_code(rc);
		goto out;
	}
	switch (w.rc) {
	case C360_OK:
		print_result(key, w.new_cas, w.seqno);
		ex = 0;
		break;
	case C360_ERR_NOT_FOUND:
		fprintf(stderr, "%s: no document '%s' in bucket '%s'\n", cmd, key, bucket);
		ex = C360_EXIT_NOT_FOUND;
		break;
	case C360_ERR_EXISTS:
		fprintf(stderr, "%s: document '%s' already exists in bucket '%s'\n", cmd, key, bucket);
		ex = C360_EXIT_CONFLICT;
		break;
	case C360_ERR_CAS:
		fprintf(stderr, "%s: CAS mismatch for '%s' in bucket '%s' (it changed since %s)\n",
			cmd, key, bucket, o_cas);
		ex = C360_EXIT_CONFLICT;
		break;
	default:
		fprintf(stderr, "%s: cannot write '%s' to bucket '%s': %s\n", cmd, key, bucket,
			c360_rc_str(w.rc));
		ex = c360_cli_exit_code(w.rc);
		break;
	}
out:
	c360_store_close(st);
	free(value);
	return ex;
}

static int doc_get(int argc, char **argv)
{
	return doc_op(&get_spec, C360_WRITE_UPSERT, true, argc, argv);
}

static int doc_insert(int argc, char **argv)
{
	return doc_op(&insert_spec, C360_WRITE_INSERT, false, argc, argv);
}

static int doc_upsert(int argc, char **argv)
{
	return doc_op(&upsert_spec, C360_WRITE_UPSERT, false, argc, argv);
}

static int doc_replace(int argc, char **argv)
{
	return doc_op(&replace_spec, C360_WRITE_REPLACE, false, argc, argv);
}

static int doc_delete(int argc, char **argv)
{
	return doc_op(&delete_spec, C360_WRITE_DELETE, false, argc, argv);
}

static int doc_touch(int argc, char **argv)
{
	return doc_op(&touch_spec, C360_WRITE_TOUCH, false, argc, argv);
}

int c360_cmd_doc(int argc, char **argv)
{
	static const struct c360_subcommand subs[] = {
		{"get", doc_get},	{"insert", doc_insert}, {"upsert", doc_upsert},
		{"replace", doc_replace}, {"delete", doc_delete}, {"touch", doc_touch},
		{NULL, NULL},
	};
	return c360_cli_dispatch("doc", subs, usage, argc, argv);
}
