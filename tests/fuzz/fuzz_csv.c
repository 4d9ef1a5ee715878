/* libFuzzer target: the CSV reader (chunked feeding, BOM, quotes), the key
 * expression compiler/evaluator, and the importer's UTF-8 checking JSON
 * string writer and type inference, on arbitrary bytes (the header's field
 * count expected of multi-line records, so the recovery from unbalanced
 * quotes runs too). The first byte picks the chunk size and the separator. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "sources/csv/csvread.h"
#include "sources/csv/importer.h"
#include "sources/csv/keyexpr.h"
#include "core/banned.h"

struct fctx {
	struct c360_buf *b;
	c360_csv_reader *r;
};

static c360_rc on_record(void *ctx, const struct c360_csv_record *rec)
{
	struct fctx *f = ctx;
	struct c360_buf *b = f->b;
	/* as the importer: a multi-line record must have the header's count,
	 * which exercises the recovery from unbalanced quotes */
	if (rec->number == 1)
		c360_csv_reader_expect_fields(f->r, rec->n);
	for (size_t i = 0; i < rec->n; i++) {
		size_t bad;
		c360_buf_reset(b);
		c360_import_json_string(rec->fields[i].p, rec->fields[i].len, b, &bad);
		(void)c360_import_infer(rec->fields[i].p, rec->fields[i].len);
	}
	return rec->number > 100000 ? C360_ERR_LIMIT : C360_OK;
}

static bool lookup(void *ctx, size_t field, const char **val, size_t *len)
{
	(void)ctx;
	if (field % 3 == 2)
		return false;
	*val = field % 3 ? "" : "v";
	*len = field % 3 ? 0 : 1;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t chunk = (size_t)(data[0] & 0x0f) + 1;
	char seps[] = {',', ';', '\t', '|'};
	struct c360_csv_reader_opts o = {.separator = seps[(data[0] >> 4) & 3], .max_record = 4096};
	data++;
	size--;
	struct c360_buf b;
	c360_buf_init(&b, 1 << 20);
	c360_csv_reader *r = NULL;
	struct fctx f = {&b, NULL};
	if (c360_csv_reader_new(&o, on_record, &f, &r) == C360_OK) {
		f.r = r;
		c360_rc rc = C360_OK;
		for (size_t i = 0; i < size && !rc; i += chunk)
			rc = c360_csv_reader_feed(r, data + i, size - i < chunk ? size - i : chunk);
		if (!rc)
			c360_csv_reader_finish(r);
		c360_csv_reader_free(r);
	}
	/* the same bytes as a key expression */
	size_t n = size < 4096 ? size : 4096;
	char *expr = malloc(n + 1);
	if (expr) {
		memcpy(expr, data, n);
		expr[n] = '\0';
		c360_keyexpr *ke = NULL;
		char err[200];
		if (c360_keyexpr_compile(expr, 0, 0, &ke, err, sizeof err) == C360_OK) {
			c360_buf_reset(&b);
			c360_keyexpr_eval(ke, 42, lookup, NULL, &b, err, sizeof err);
			c360_keyexpr_free(ke);
		}
		free(expr);
	}
	c360_buf_release(&b);
	return 0;
}
