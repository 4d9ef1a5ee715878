/* Streaming CSV reader: libcsv does the RFC 4180 state machine; this file
 * feeds it line by line, collects its per-field callbacks into capped
 * records, drops a UTF-8 BOM, recovers from an unbalanced quote by reading
 * the lines after it again, and turns libcsv's error states into c360
 * return codes. */
#include "sources/csv/csvread.h"

#include <csv.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/banned.h"

/* libcsv grows its field buffer without bound; refuse past this so a file
 * with one endless quoted field cannot take the machine's memory. */
#define FIELD_HARD_MAX ((size_t)64 << 20)

/* libcsv's parser states (its struct is public, the names are not) */
enum { ROW_NOT_BEGUN = 0, FIELD_BEGUN = 2 };

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
	/* recovery from an unbalanced quote */
	uint64_t line;              /* the line being read (1-based) */
	uint64_t rec_line;          /* the line where the current record began */
	size_t expect;              /* fields of a multi-line record; 0 = any */
	bool multiline;             /* a line of the current record ended inside quotes */
	bool resync;                /* the current record is bad: read its lines again */
	struct c360_buf raw;        /* the current record's lines after its first */
	struct c360_buf replay;     /* what is being read again */
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
	case C360_CSV_UNBALANCED_QUOTE:
		return "unbalanced quote: the quoted field opened on this line does not close into a "
		       "record; the lines after it were read again";
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
	if (r->stop || r->bad || r->resync)
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
		struct c360_csv_record rec = {
			.number = r->records, .line = r->rec_line, .fields = r->fields, .bad = bad};
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
	r->rec_line = r->line; /* the next record begins here or later (after a bare CR) */
	c360_buf_reset(&r->row);
	if (r->multiline) {
		r->multiline = false;
		c360_buf_reset(&r->raw);
	}
}

/* Whether the lines of a multi-line record after its first (raw, which
 * starts inside a quoted field) are well-formed RFC 4180 up to the record's
 * end: a closing quote must be followed by the separator, a line end or the
 * end. libcsv, lenient, takes `"a"b` as data; in a record that swallowed
 * line breaks it means the quote paired with one it should not have (a
 * stray quote met the opening quote of a later field). Runs only for
 * multi-line records. */
static bool raw_well_formed(const c360_csv_reader *r)
{
	const unsigned char *s = (const unsigned char *)r->raw.data;
	size_t n = r->raw.len;
	unsigned char sep = r->p.delim_char;
	bool quoted = true, field_start = false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = s[i];
		if (quoted) {
			if (c != '"')
				continue;
			if (i + 1 < n && s[i + 1] == '"') {
				i++; /* a doubled quote */
				continue;
			}
			quoted = false;
			if (i + 1 < n && s[i + 1] != sep && s[i + 1] != '\r' && s[i + 1] != '\n')
				return false;
			continue;
		}
		if (c == '\r' || c == '\n')
			return true; /* the record ends here */
		if (c == '"' && field_start)
			quoted = true;
		field_start = c == sep;
	}
	return true;
}

static void on_record(int c, void *ctx)
{
	(void)c;
	c360_csv_reader *r = ctx;
	if (r->resync)
		return;
	/* a quote that swallowed line breaks and left the wrong field count
	 * behind was most likely a stray one */
	if (r->multiline && !r->bad &&
	    ((r->expect && r->nfields != r->expect) || !raw_well_formed(r))) {
		r->resync = true;
		return;
	}
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
	c360_buf_init(&r->raw, FIELD_HARD_MAX);
	c360_buf_init(&r->replay, 0);
	r->line = r->rec_line = 1;
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
	c360_buf_release(&r->raw);
	c360_buf_release(&r->replay);
	free(r);
}

static c360_rc parse_error(c360_csv_reader *r)
{
	int e = csv_error(&r->p);
	return e == CSV_ENOMEM || e == CSV_ETOOBIG ? C360_ERR_TOO_BIG : C360_ERR_INVALID;
}

/* Feeds s to libcsv one line at a time, keeping the lines of a multi-line
 * record after its first in raw. Stops early when the current record must
 * be read again (r->resync); returns the bytes consumed (the lines in raw
 * count as consumed, the rest is still to read). */
static size_t consume(c360_csv_reader *r, const unsigned char *s, size_t len, c360_rc *rc)
{
	size_t off = 0;
	while (off < len) {
		const unsigned char *nl = memchr(s + off, '\n', len - off);
		size_t n = nl ? (size_t)(nl - s) + 1 - off : len - off;
		if (r->p.pstate == ROW_NOT_BEGUN)
			r->rec_line = r->line;
		if (r->multiline && c360_buf_append(&r->raw, s + off, n)) {
			r->resync = true; /* past the hard cap: libcsv would refuse it too */
			return off;
		}
		size_t done = csv_parse(&r->p, s + off, n, on_field, on_record, r);
		off += n;
		if (r->stop) {
			*rc = r->stop;
			return off;
		}
		if (done != n) {
			*rc = parse_error(r);
			return off;
		}
		if (r->resync)
			return off;
		if (nl) {
			r->line++;
			if (r->p.pstate == FIELD_BEGUN && r->p.quoted) {
				r->multiline = true;
				/* a quoted field still open past max_record bytes of
				 * lines is not one (checked at line ends only, so
				 * that how the input is cut into feeds does not
				 * matter) */
				if (r->raw.len > r->max_record) {
					r->resync = true;
					return off;
				}
			}
		}
	}
	return off;
}

/* The current record was bad: report it, forget libcsv's state, and read
 * again from the line after its first: raw, then what was not consumed. */
static c360_rc resync(c360_csv_reader *r, const unsigned char *rest, size_t rest_len)
{
	struct c360_buf next;
	c360_buf_init(&next, 0);
	c360_rc rc = c360_buf_append(&next, r->raw.data ? r->raw.data : "", r->raw.len);
	if (!rc)
		rc = c360_buf_append(&next, rest, rest_len);
	if (rc) {
		c360_buf_release(&next);
		return rc;
	}
	csv_fini(&r->p, NULL, NULL, NULL); /* resets the parser, delivers nothing */
	r->resync = false;
	r->bad = C360_CSV_OK;
	uint64_t first = r->rec_line;
	deliver(r, C360_CSV_UNBALANCED_QUOTE);
	r->line = r->rec_line = first + 1;
	/* rest may point into the old replay: swap only now */
	c360_buf_release(&r->replay);
	r->replay = next;
	return r->stop;
}

static c360_rc parse(c360_csv_reader *r, const unsigned char *s, size_t len)
{
	c360_rc rc = r->stop;
	bool replaying = false;
	while (!rc) {
		size_t done = consume(r, s, len, &rc);
		if (rc || !r->resync)
			break;
		if ((rc = resync(r, s + done, len - done)))
			break;
		s = (const unsigned char *)r->replay.data;
		len = r->replay.len;
		replaying = true;
	}
	if (replaying) {
		c360_buf_release(&r->replay);
		c360_buf_init(&r->replay, 0);
	}
	return rc;
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
	 * also refuse stray quotes; look at its (public) state instead: a begun
	 * quoted field at the end was never closed. When it had swallowed line
	 * breaks, read those lines again (which may end the same way, a line
	 * further on). */
	while (r->p.pstate == FIELD_BEGUN && r->p.quoted && r->multiline && !r->stop) {
		r->resync = true;
		c360_rc rc = parse(r, (const unsigned char *)"", 0);
		if (rc)
			return rc;
	}
	if (r->p.pstate == FIELD_BEGUN && r->p.quoted)
		r->bad = C360_CSV_UNTERMINATED;
	if (csv_fini(&r->p, on_field, on_record, r) != 0 && !r->stop)
		return C360_ERR_INVALID;
	return r->stop;
}

uint64_t c360_csv_reader_records(const c360_csv_reader *r)
{
	return r->records;
}

void c360_csv_reader_expect_fields(c360_csv_reader *r, size_t n)
{
	r->expect = n;
}
