/* c360 query: one read-only SQL statement over the buckets, printed as JSON
 * or as a table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/json.h"
#include "core/banned.h"

int c360_cmd_query(int argc, char **argv);

static int64_t o_max_rows = 1000, o_timeout = 10, o_max_mib = 32;
static const char *o_format = "json";
static const char *o_file;

static const struct c360_opt query_opts[] = {
	C360_CLI_STORE_OPT,
	{"max-rows", 'n', C360_OPT_INT, &o_max_rows, "N", "stop after N rows (\"truncated\":true)", "1000"},
	{"timeout", 't', C360_OPT_DURATION, &o_timeout, "DURATION", "give up after this long (exit 1)", "10s"},
	{"max-mib", 0, C360_OPT_INT, &o_max_mib, "N",
	 "the answer's cap, and the largest string or blob the query may build, in MiB (exit 1 past it)",
	 "32"},
	{"format", 0, C360_OPT_STR, &o_format, "json|table", "output format", "json"},
	{"file", 'f', C360_OPT_STR, &o_file, "FILE", "read the SQL from FILE ('-' = stdin)", NULL},
	{NULL, 0, 0, NULL, NULL, NULL, NULL},
};

static const struct c360_cmd_spec query_spec = {
	"c360 query [options] \"SQL\"",
	"run one read-only SQL statement over the buckets",
	"Every bucket is a table of its name with columns key, doc (the JSON text), cas,\n"
	"expiry and seqno (live documents only). SQLite's JSON functions work on doc:\n"
	"  c360 query \"SELECT key, json_extract(doc, '$.profile.name') FROM customer360\"\n"
	"Quote bucket names that are not plain identifiers: SELECT * FROM \"my-bucket\".\n"
	"Any write (INSERT, UPDATE, DELETE, DROP, CREATE, ATTACH, PRAGMA, ...) is refused,\n"
	"and so is any table but the buckets (sqlite_master, the store's internal tables).\n"
	"JSON output: {\"columns\":[...],\"rows\":[[...],...],\"truncated\":false}; text that is a\n"
	"JSON object or array is embedded as JSON.\n"
	"Exit codes: 0 ok, 1 timed out, 5 invalid or refused SQL, 6 store unusable.",
	query_opts, 0, 1};

static void cell_text(const c360_json *v, struct c360_buf *b)
{
	size_t n;
	const char *s;
	c360_buf_reset(b);
	if (c360_json_is_null(v))
		c360_buf_puts(b, "NULL");
	else if ((s = c360_json_str(v, &n)))
		c360_buf_append(b, s, n);
	else
		c360_json_write(v, C360_JSON_COMPACT, b);
	/* one line per row, at most 80 bytes per cell */
	for (size_t i = 0; i < b->len; i++)
		if (b->data[i] == '\n' || b->data[i] == '\r' || b->data[i] == '\t')
			b->data[i] = ' ';
	if (b->len > 80) {
		size_t cut = 77;
		while (cut > 0 && ((unsigned char)b->data[cut] & 0xc0) == 0x80)
			cut--;
		b->len = cut;
		b->data[cut] = '\0';
		c360_buf_puts(b, "...");
	}
}

/* Display width in characters (UTF-8 continuation bytes do not count). */
static size_t width(const char *s, size_t n)
{
	size_t w = 0;
	for (size_t i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			w++;
	return w;
}

static void pad(size_t n)
{
	for (size_t i = 0; i < n; i++)
		fputc(' ', stdout);
}

static int print_table(const char *json, size_t len)
{
	c360_json_doc *doc = NULL;
	if (c360_json_parse(json, len, NULL, &doc, NULL))
		return C360_EXIT_FAILED;
	c360_json *root = c360_json_doc_root(doc);
	c360_json *cols = c360_json_get(root, "columns"), *rows = c360_json_get(root, "rows");
	size_t nc = c360_json_len(cols), nr = c360_json_len(rows);
	size_t *w = calloc(nc ? nc : 1, sizeof *w);
	struct c360_buf b;
	c360_buf_init(&b, 0);
	if (!w) {
		c360_json_doc_free(doc);
		return C360_EXIT_FAILED;
	}
	for (size_t c = 0; c < nc; c++) {
		cell_text(c360_json_at(cols, c), &b);
		w[c] = width(b.data, b.len);
	}
	for (size_t r = 0; r < nr; r++) {
		c360_json *row = c360_json_at(rows, r);
		for (size_t c = 0; c < nc; c++) {
			cell_text(c360_json_at(row, c), &b);
			size_t cw = width(b.data, b.len);
			if (cw > w[c])
				w[c] = cw;
		}
	}
	for (size_t c = 0; c < nc; c++) {
		cell_text(c360_json_at(cols, c), &b);
		fputs(c360_buf_cstr(&b), stdout);
		if (c + 1 < nc)
			pad(w[c] - width(b.data, b.len) + 2);
	}
	fputc('\n', stdout);
	for (size_t c = 0; c < nc; c++) {
		for (size_t i = 0; i < w[c]; i++)
			fputc('-', stdout);
		if (c + 1 < nc)
			pad(2);
	}
	fputc('\n', stdout);
	for (size_t r = 0; r < nr; r++) {
		c360_json *row = c360_json_at(rows, r);
		for (size_t c = 0; c < nc; c++) {
			cell_text(c360_json_at(row, c), &b);
			fputs(c360_buf_cstr(&b), stdout);
			if (c + 1 < nc)
				pad(w[c] - width(b.data, b.len) + 2);
		}
		fputc('\n', stdout);
	}
	printf("(%zu row%s%s)\n", nr, nr == 1 ? "" : "s",
	       c360_json_bool(c360_json_get(root, "truncated")) ? ", truncated: see --max-rows" : "");
	c360_buf_release(&b);
	free(w);
	c360_json_doc_free(doc);
	return 0;
}

int c360_cmd_query(int argc, char **argv)
{
	argv[0] = "c360 query";
	const char *cmd = "c360 query";
	int n = c360_opts_parse(&query_spec, argc, argv);
	if (n == C360_OPTS_HELP)
		return 0;
	if (n < 0)
		return C360_EXIT_USAGE;
	bool table = !strcmp(o_format, "table");
	if (!table && strcmp(o_format, "json")) {
		fprintf(stderr, "%s: unknown format '%s' (json, table)\n", cmd, o_format);
		return C360_EXIT_USAGE;
	}
	if ((n == 1) == (o_file != NULL)) {
		fprintf(stderr, "%s: give the SQL as one argument or with --file\nusage: %s\n", cmd,
			query_spec.usage);
		return C360_EXIT_USAGE;
	}
	if (o_max_rows <= 0 || o_max_rows > 100000000) {
		fprintf(stderr, "%s: --max-rows must be between 1 and 100000000\n", cmd);
		return C360_EXIT_USAGE;
	}
	if (o_max_mib < 1 || o_max_mib > 1024) {
		fprintf(stderr, "%s: --max-mib must be between 1 and 1024\n", cmd);
		return C360_EXIT_USAGE;
	}
	if (o_timeout <= 0 || o_timeout > 86400) {
		fprintf(stderr, "%s: --timeout must be between 1s and 1d\n", cmd);
		return C360_EXIT_USAGE;
	}
	char *sql = NULL;
	if (o_file) {
		size_t len;
		c360_rc rc = c360_cli_read_file(o_file, 1u << 20, &sql, &len);
		if (rc)
			return rc == C360_ERR_TOO_BIG ? C360_EXIT_INVALID : c360_cli_exit_code(rc);
	} else {
		sql = strdup(argv[0]);
		if (!sql)
			return C360_EXIT_FAILED;
	}
	c360_store *st = NULL;
	struct c360_store_opts so;
	c360_store_opts_init(&so);
	so.read_only = true;
	so.sweep_interval_ms = -1;
	int ex = c360_cli_open_store(&st, &so);
	if (ex) {
		free(sql);
		return ex;
	}
	struct c360_query_opts qo = {.max_rows = (size_t)o_max_rows,
				     .timeout_ms = (int)(o_timeout * 1000),
				     .max_bytes = (size_t)o_max_mib << 20};
	struct c360_buf out;
	c360_buf_init(&out, 1u << 30);
	char err[512] = "";
	c360_rc rc = c360_store_query(st, sql, &qo, &out, err, sizeof err);
	if (rc) {
		fprintf(stderr, "%s: %s\n", cmd, *err ? err : c360_rc_str(rc));
		switch (rc) {
		case C360_ERR_DENIED:
		case C360_ERR_INVALID:
			ex = C360_EXIT_INVALID;
			break;
		case C360_ERR_TIMEOUT:
		case C360_ERR_LIMIT:
		case C360_ERR_TOO_BIG:
			ex = C360_EXIT_FAILED;
			break;
		default:
			ex = c360_cli_exit_code(rc);
		}
	} else if (table) {
		ex = print_table(out.data, out.len);
	} else {
		fwrite(out.data, 1, out.len, stdout);
		fputc('\n', stdout);
	}
	if (fflush(stdout))
		ex = C360_EXIT_FAILED;
	c360_buf_release(&out);
	c360_store_close(st);
	free(sql);
	return ex;
}
