/* Streaming CSV reader: libcsv does the RFC 4180 state machine; this file
 * collects its per-field callbacks into capped records, drops a UTF-8 BOM,
 * and turns libcsv's error states into c360 return codes. */
#include "sources/csv/csvread.h"

#include <csv.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/banned.h"

/* libcsv grows its field buffer without bound; refuse past this so a file
 * with one endless quoted field cannot take the machine's memory. */
#define FIELD_HARD_MAX ((size_t)64 << 20)

struct span {
	size_t off, len;
};

struct c360_csv_reader {
	struct csv_parser p;
	c360_csv_record_cb cb;
	void *ctx;
	size_t max_record;
	struct c360_buf row;        /* field bytes of the current record */
	struct span spans[C360_CSV_MAX_FIELDS];
	struct c360_csv_field fields[C360_CSV_MAX_FIELDS];
	size_t nfields;
	enum c360_csv_bad bad;
	bool in_record;             /* a field was seen since the last record end */
	uint64_t records;
	c360_rc stop;               /* the callback's non-zero return, sticky */
	unsigned bom_seen;          /* BOM bytes matched so far at the start */
	bool bom_done;
};

static const unsigned char BOM[3] = {0xEF, 0xBB, 0xBF};

const char *c360_csv_bad_str(enum c360_csv_bad bad)
{
	switch (bad) {
	case C360_CSV_OK:
		return "ok";
	case C360_CSV_TOO_BIG:
		return "record too large";
	case C360_CSV_TOO_MANY:
		return "too many fields";
	case C360_CSV_UNTERMINATED:
		return "unterminated quoted field at end of input";
	}
	return "bad record";
}

static void *capped_realloc(void *p, size_t n)
{
	return n > FIELD_HARD_MAX ? NULL : realloc(p, n);
}

static int no_space(unsigned char c)
{
	(void)c;
	return 0;
}

static void on_field(void *data, size_t len, void *ctx)
{
	c360_csv_reader *r = ctx;
	r->in_record = true;
	if (r->stop || r->bad)
		return;
	if (r->nfields >= C360_CSV_MAX_FIELDS) {
		r->bad = C360_CSV_TOO_MANY;
		return;
	}
	if (r->row.len + len > r->max_record || c360_buf_append(&r->row, data, len)) {
		r->bad = C360_CSV_TOO_BIG;
		return;
	}
	r->spans[r->nfields++] = (struct span){r->row.len - len, len};
}

static void deliver(c360_csv_reader *r, enum c360_csv_bad bad)
{
	r->records++;
	if (!r->stop) {
		struct c360_csv_record rec = {.number = r->records, .fields = r->fields, .bad = bad};
		if (!bad) {
			for (size_t i = 0; i < r->nfields; i++) {
				r->fields[i].p = r->row.data ? r->row.data + r->spans[i].off : "";
				r->fields[i].len = r->spans[i].len;
			}
			rec.n = r->nfields;
		}
		r->stop = r->cb(r->ctx, &rec);
	}
	r->nfields = 0;
	r->bad = C360_CSV_OK;
	r->in_record = false;
	c360_buf_reset(&r->row);
}

static void on_record(int c, void *ctx)
{
	(void)c;
	c360_csv_reader *r = ctx;
	deliver(r, r->bad);
}

c360_rc c360_csv_reader_new(const struct c360_csv_reader_opts *opts, c360_csv_record_cb cb,
			    void *ctx, c360_csv_reader **out)
{
	*out = NULL;
	c360_csv_reader *r = calloc(1, sizeof *r);
	if (!r)
		return C360_ERR_NOMEM;
	if (csv_init(&r->p, 0) != 0) {
		free(r);
		return C360_ERR_NOMEM;
	}
	csv_set_delim(&r->p, (unsigned char)(opts && opts->separator ? opts->separator : ','));
	csv_set_space_func(&r->p, no_space);
	csv_set_realloc_func(&r->p, capped_realloc);
	csv_set_free_func(&r->p, free);
	csv_set_blk_size(&r->p, 4096);
	r->max_record = opts && opts->max_record ? opts->max_record : C360_CSV_DEFAULT_MAX_RECORD;
	c360_buf_init(&r->row, r->max_record);
	r->cb = cb;
	r->ctx = ctx;
	*out = r;
	return C360_OK;
}

void c360_csv_reader_free(c360_csv_reader *r)
{
	if (!r)
		return;
	csv_free(&r->p);
	c360_buf_release(&r->row);
	free(r);
}

static c360_rc parse(c360_csv_reader *r, const unsigned char *s, size_t len)
{
	if (!len)
		return r->stop;
	size_t done = csv_parse(&r->p, s, len, on_field, on_record, r);
	if (r->stop)
		return r->stop;
	if (done != len) {
		int e = csv_error(&r->p);
		return e == CSV_ENOMEM || e == CSV_ETOOBIG ? C360_ERR_TOO_BIG : C360_ERR_INVALID;
	}
	return C360_OK;
}

c360_rc c360_csv_reader_feed(c360_csv_reader *r, const void *data, size_t len)
{
	const unsigned char *s = data;
	if (r->stop)
		return r->stop;
	/* Drop a leading UTF-8 BOM, even when it arrives split across feeds. */
	while (!r->bom_done && len) {
		if (*s == BOM[r->bom_seen]) {
			s++;
			len--;
			if (++r->bom_seen == 3)
				r->bom_done = true;
			continue;
		}
		r->bom_done = true;
		c360_rc rc = parse(r, BOM, r->bom_seen); /* a partial match was data */
		if (rc)
			return rc;
	}
	return parse(r, s, len);
}

c360_rc c360_csv_reader_finish(c360_csv_reader *r)
{
	if (r->stop)
		return r->stop;
	if (!r->bom_done && r->bom_seen) {
		r->bom_done = true;
		c360_rc rc = parse(r, BOM, r->bom_seen);
		if (rc)
			return rc;
	}
	/* libcsv's CSV_STRICT_FINI only works in its strict mode, which would
	 * also refuse stray quotes; look at its (public) state instead: 2 is
	 * FIELD_BEGUN, and a begun quoted field at the end was never closed. */
	if (r->p.pstate == 2 && r->p.quoted)
		r->bad = C360_CSV_UNTERMINATED;
	if (csv_fini(&r->p, on_field, on_record, r) != 0 && !r->stop)
		return C360_ERR_INVALID;
	return r->stop;
}

uint64_t c360_csv_reader_records(const c360_csv_reader *r)
{
	return r->records;
}
