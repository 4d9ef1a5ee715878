/* The import pipeline: one reader thread parses the input into batches of
 * raw records, worker threads build keys and JSON documents and commit the
 * batches in input order through c360_store_write(). */
#include "sources/csv/importer.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/log.h"
#include "sources/csv/csvread.h"
#include "sources/csv/keyexpr.h"
#include "core/banned.h"

#define WHO "import"
#define READ_CHUNK (256u << 10)
#define BATCH_BYTES (1u << 20)      /* raw bytes per batch before it is sent */
#define DEFAULT_BATCH_ROWS 16384
#define MAX_RECORD C360_CSV_DEFAULT_MAX_RECORD
#define PROGRESS_NS 200000000LL
#define NOT_OBJECT_LOGGED 10        /* per import; the errors log has every one */

/* ---- JSON helpers (the hot path: validate UTF-8 and escape in one pass) ---- */

/* Length of the valid UTF-8 sequence at s (RFC 3629: no overlongs, no
 * surrogates, at most U+10FFFF), or 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
	if (c >= 0xE0 && c <= 0xEF) {
		if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
			return 0;
		if (c == 0xE0 && s[1] < 0xA0)
			return 0; /* overlong */
		if (c == 0xED && s[1] >= 0xA0)
			return 0; /* surrogate */
		return 3;
	}
	if (c >= 0xF0 && c <= 0xF4) {
		if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 ||
		    (s[3] & 0xC0) != 0x80)
			return 0;
		if (c == 0xF0 && s[1] < 0x90)
			return 0; /* overlong */
		if (c == 0xF4 && s[1] >= 0x90)
			return 0; /* beyond U+10FFFF */
		return 4;
	}
	return 0;
}

/* Escapes s as a JSON string; invalid UTF-8 is an error, or, when lossy,
 * becomes U+FFFD (for the errors log, which must stay valid JSON). */
static c360_rc json_string(const char *str, size_t len, struct c360_buf *out, size_t *bad_at,
			   bool lossy)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;
	c360_rc rc = c360_buf_putc(out, '"');
	size_t run = 0; /* start of the pending run of bytes copied as they are */
	for (size_t i = 0; i < len && !rc;) {
		unsigned char c = s[i];
		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			i++;
			continue;
		}
		size_t k = c < 0x80 ? 1 : utf8_seq(s + i, len - i);
		if (k > 1) {
			i += k;
			continue;
		}
		if (i > run)
			rc = c360_buf_append(out, s + run, i - run);
		if (rc)
			break;
		if (k == 0) {
			if (!lossy) {
				if (bad_at)
					*bad_at = i;
				return C360_ERR_INVALID;
			}
			rc = c360_buf_append(out, "\xEF\xBF\xBD", 3);
		} else if (c == '"' || c == '\\') {
			char e[2] = {'\\', (char)c};
			rc = c360_buf_append(out, e, 2);
		} else if (c == '\n') {
			rc = c360_buf_append(out, "\\n", 2);
		} else if (c == '\r') {
			rc = c360_buf_append(out, "\\r", 2);
		} else if (c == '\t') {
			rc = c360_buf_append(out, "\\t", 2);
		} else {
			char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
			rc = c360_buf_append(out, e, 6);
		}
		i++;
		run = i;
	}
	if (!rc && len > run)
		rc = c360_buf_append(out, s + run, len - run);
	if (!rc)
		rc = c360_buf_putc(out, '"');
	return rc;
}

c360_rc c360_import_json_string(const char *s, size_t len, struct c360_buf *out, size_t *bad_at)
{
	return json_string(s, len, out, bad_at, false);
}

static bool all_digits(const char *s, size_t n)
{
	if (!n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

int c360_import_infer(const char *s, size_t len)
{
	if (!len)
		return 0;
	switch (len) {
	case 4:
		if (!memcmp(s, "true", 4) || !memcmp(s, "TRUE", 4) || !memcmp(s, "True", 4))
			return 3;
		break;
	case 5:
		if (!memcmp(s, "false", 5) || !memcmp(s, "FALSE", 5) || !memcmp(s, "False", 5))
			return 3;
		break;
	}
	/* JSON number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
	size_t i = 0;
	if (s[i] == '-')
		i++;
	size_t int_start = i;
	while (i < len && s[i] >= '0' && s[i] <= '9')
		i++;
	size_t int_len = i - int_start;
	if (!int_len || (int_len > 1 && s[int_start] == '0'))
		return 0;
	if (i == len) {
		/* an integer when it fits int64 (19 digits may or may not) */
		if (int_len < 19)
			return 1;
		if (int_len > 19)
			return 0;
		const char *lim = s[0] == '-' ? "9223372036854775808" : "9223372036854775807";
		return memcmp(s + int_start, lim, 19) <= 0 ? 1 : 0;
	}
	bool frac = false, exp = false;
	if (s[i] == '.') {
		size_t b = ++i;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == b)
			return 0;
		frac = true;
	}
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			i++;
		if (!all_digits(s + i, len - i))
			return 0;
		i = len;
		exp = true;
	}
	return i == len && (frac || exp) ? 2 : 0;
}

uint32_t c360_import_expiry(int64_t seconds, int64_t now)
{
	if (seconds <= 0)
		return 0;
	if (seconds < (int64_t)C360_EXPIRY_RELATIVE_MAX)
		return (uint32_t)seconds;
	int64_t abs = now + seconds;
	return abs > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)abs;
}

/* ---- batches and the pipeline ---- */

struct span {
	size_t off, len;
};

struct rec {
	uint64_t row;      /* for the errors log: record (CSV), line (lines), element (list) */
	uint64_t line;     /* CSV: the line where the record begins */
	uint64_t ordinal;  /* 1-based data row number after skip: #MONO_INCR# */
	size_t first, n;   /* CSV: spans[first..first+n); JSON: spans[first] is the text */
	int bad;           /* enum c360_csv_bad, or BAD_* below */
};

enum { BAD_DOC_TOO_BIG = -1, BAD_EMPTY_ELEMENT = -2 };

struct batch {
	uint64_t seq;
	struct c360_buf data;
	struct span *spans;
	size_t nspans, spans_cap;
	struct rec *recs;
	size_t nrecs, recs_cap;
	/* worker side */
	struct c360_buf out;      /* keys and values of the ops */
	struct c360_write *ops;
	size_t *op_rec;           /* rec index of each op */
	struct span *op_key, *op_val;
	size_t nops, ops_cap;
	uint64_t build_failed;    /* rows that failed before the write */
	struct batch *next;
};

struct column {
	size_t name_off, name_len;   /* into imp->names */
	size_t jkey_off, jkey_len;   /* "name": into imp->jkeys */
	bool shadowed;               /* a later column has the same name */
};

struct imp {
	const struct c360_import_opts *o;
	c360_store *st;
	c360_keyexpr *ke;
	uint32_t expiry;
	size_t batch_rows;

	/* CSV header */
	bool have_header;
	struct column *cols;
	size_t ncols;
	struct c360_buf names, jkeys;
	size_t *key_col;             /* keyexpr field -> column */

	/* reader state */
	uint64_t rows, skipped, bytes, total_bytes;
	uint64_t unbalanced;         /* CSV records with an unbalanced quote */
	_Atomic uint64_t not_objects; /* JSON documents that are not objects (builders) */
	struct batch *cur;
	uint64_t next_seq;
	struct timespec t0;
	int64_t last_progress_ns;
	c360_rc reader_rc;

	/* JSON splitting */
	struct c360_buf carry;
	uint64_t line;               /* lines: current line number */
	bool carry_too_big;
	int list_state;              /* 0 before '[', 1 inside, 2 after ']' */
	int depth;
	bool in_str, esc;
	uint64_t elements;

	/* the queues */
	pthread_mutex_t mu;
	pthread_cond_t cond_full, cond_free, cond_commit;
	struct batch *full_head, *full_tail, *free_list;
	struct batch *built;         /* built, waiting for their turn to commit */
	uint64_t commits;            /* store transactions */
	bool done;                   /* the reader sent its last batch */
	bool abort;                  /* a commit failed: stop everything */
	uint64_t next_commit;
	c360_rc write_rc;
	char write_err[256];
	uint64_t imported, failed;

	/* errors log */
	FILE *elog;
	pthread_mutex_t elog_mu;
};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void batch_free(struct batch *b)
{
	if (!b)
		return;
	c360_buf_release(&b->data);
	c360_buf_release(&b->out);
	free(b->spans);
	free(b->recs);
	free(b->ops);
	free(b->op_rec);
	free(b->op_key);
	free(b->op_val);
	free(b);
}

static struct batch *batch_new(void)
{
	struct batch *b = calloc(1, sizeof *b);
	if (!b)
		return NULL;
	c360_buf_init(&b->data, BATCH_BYTES + MAX_RECORD + 64);
	/* documents grow with escaping and column names: a generous cap */
	c360_buf_init(&b->out, 0);
	return b;
}

static void batch_reset(struct batch *b)
{
	c360_buf_reset(&b->data);
	c360_buf_reset(&b->out);
	b->nspans = b->nrecs = b->nops = 0;
	b->next = NULL;
}

static c360_rc grow(void **p, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return C360_OK;
	size_t n = *cap ? *cap * 2 : 256;
	while (n < need)
		n *= 2;
	void *q = realloc(*p, n * size);
	if (!q)
		return C360_ERR_NOMEM;
	*p = q;
	*cap = n;
	return C360_OK;
}

/* ---- errors log ---- */

static void elog_write(struct imp *imp, uint64_t row, const char *reason, const struct batch *b,
		       const struct rec *r, const char *key, size_t key_len)
{
	if (!imp->elog)
		return;
	struct c360_buf line;
	c360_buf_init(&line, 0);
	c360_buf_printf(&line, "{\"row\":%" PRIu64 ",\"reason\":", row);
	json_string(reason, strlen(reason), &line, NULL, true);
	if (r && imp->o->format == C360_IMPORT_CSV)
		c360_buf_printf(&line, ",\"line\":%" PRIu64, r->line);
	if (key) {
		c360_buf_puts(&line, ",\"key\":");
		json_string(key, key_len, &line, NULL, true);
	}
	if (b && r && r->bad == 0) {
		if (imp->o->format == C360_IMPORT_CSV) {
			c360_buf_puts(&line, ",\"fields\":[");
			for (size_t i = 0; i < r->n; i++) {
				const struct span *sp = &b->spans[r->first + i];
				if (i)
					c360_buf_putc(&line, ',');
				json_string(b->data.data + sp->off, sp->len, &line, NULL, true);
			}
			c360_buf_putc(&line, ']');
		} else {
			const struct span *sp = &b->spans[r->first];
			c360_buf_puts(&line, ",\"document\":");
			json_string(b->data.data + sp->off, sp->len, &line, NULL, true);
		}
	}
	c360_buf_puts(&line, "}\n");
	pthread_mutex_lock(&imp->elog_mu);
	fwrite(line.data, 1, line.len, imp->elog);
	pthread_mutex_unlock(&imp->elog_mu);
	c360_buf_release(&line);
}

/* ---- building one document (worker side) ---- */

struct lookup_ctx {
	struct imp *imp;
	const struct batch *b;
	const struct rec *r;
	c360_json *root; /* JSON formats */
};

static bool csv_lookup(void *ctx, size_t field, const char **val, size_t *len)
{
	struct lookup_ctx *l = ctx;
	size_t col = l->imp->key_col[field];
	const struct span *sp = &l->b->spans[l->r->first + col];
	*val = l->b->data.data + sp->off;
	*len = sp->len;
	return true;
}

static bool json_lookup(void *ctx, size_t field, const char **val, size_t *len)
{
	struct lookup_ctx *l = ctx;
	const c360_keyexpr *ke = l->imp->ke;
	c360_json *v = l->root;
	for (size_t j = 0; j < c360_keyexpr_field_nsegs(ke, field) && v; j++) {
		size_t sl;
		const char *s = c360_keyexpr_field_seg(ke, field, j, &sl);
		v = c360_json_getn(v, s, sl);
	}
	switch (c360_json_type(v)) {
	case C360_JSON_STRING:
		*val = c360_json_str(v, len); /* a NUL in it: the key expression says so */
		return true;
	case C360_JSON_NUMBER:
		*val = c360_json_num_text(v, len);
		return true;
	case C360_JSON_TRUE:
		*val = "true";
		*len = 4;
		return true;
	case C360_JSON_FALSE:
		*val = "false";
		*len = 5;
		return true;
	default:
		return false;
	}
}

/* Appends one CSV row's JSON object to out; reason set on a row error. */
/* json_string() into memory known to be large enough (6 * len + 2 bytes):
 * returns the bytes written, or SIZE_MAX on invalid UTF-8 (*bad_at set). */
static size_t json_string_to(char *dst, const char *str, size_t len, size_t *bad_at)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;
	char *d = dst;
	*d++ = '"';
	for (size_t i = 0; i < len;) {
		unsigned char c = s[i];
		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			*d++ = (char)c;
			i++;
			continue;
		}
		if (c >= 0x80) {
			size_t k = utf8_seq(s + i, len - i);
			if (!k) {
				*bad_at = i;
				return SIZE_MAX;
			}
			memcpy(d, s + i, k);
			d += k;
			i += k;
			continue;
		}
		*d++ = '\\';
		switch (c) {
		case '"': *d++ = '"'; break;
		case '\\': *d++ = '\\'; break;
		case '\n': *d++ = 'n'; break;
		case '\r': *d++ = 'r'; break;
		case '\t': *d++ = 't'; break;
		default:
			*d++ = 'u';
			*d++ = '0';
			*d++ = '0';
			*d++ = hex[c >> 4];
			*d++ = hex[c & 15];
		}
		i++;
	}
	*d++ = '"';
	return (size_t)(d - dst);
}

/* The row's document when its worst case (every byte escaped as \u00XX)
 * fits in FAST_DOC_MAX: one reserve, then plain stores. */
#define FAST_DOC_MAX (1u << 20)
static c360_rc csv_document_fast(struct imp *imp, const struct batch *b, const struct rec *r,
				 struct c360_buf *out, size_t worst, char *reason, size_t rlen)
{
	bool infer = imp->o->infer_types, omit = imp->o->omit_empty;
	c360_rc rc = c360_buf_reserve(out, worst);
	if (rc)
		return rc;
	char *d = out->data + out->len;
	*d++ = '{';
	bool first = true;
	for (size_t i = 0; i < imp->ncols; i++) {
		const struct column *c = &imp->cols[i];
		const struct span *sp = &b->spans[r->first + i];
		const char *v = b->data.data + sp->off;
		if (c->shadowed || (omit && !sp->len))
			continue;
		if (!first)
			*d++ = ',';
		first = false;
		memcpy(d, imp->jkeys.data + c->jkey_off, c->jkey_len);
		d += c->jkey_len;
		int t = infer ? c360_import_infer(v, sp->len) : 0;
		if (t == 1 || t == 2) {
			memcpy(d, v, sp->len);
			d += sp->len;
		} else if (t == 3) {
			bool yes = v[0] == 't' || v[0] == 'T';
			memcpy(d, yes ? "true" : "false", yes ? 4 : 5);
			d += yes ? 4 : 5;
		} else {
			size_t bad_at = 0, n = json_string_to(d, v, sp->len, &bad_at);
			if (n == SIZE_MAX) {
				snprintf(reason, rlen, "invalid UTF-8 in field '%.*s' at byte %zu",
					 (int)(c->name_len > 100 ? 100 : c->name_len),
					 imp->names.data + c->name_off, bad_at);
				out->data[out->len] = '\0';
				return C360_ERR_INVALID;
			}
			d += n;
		}
	}
	*d++ = '}';
	out->len = (size_t)(d - out->data);
	out->data[out->len] = '\0';
	return C360_OK;
}

static c360_rc csv_document(struct imp *imp, const struct batch *b, const struct rec *r,
			    struct c360_buf *out, char *reason, size_t rlen)
{
	bool infer = imp->o->infer_types, omit = imp->o->omit_empty;
	size_t worst = 2;
	for (size_t i = 0; i < imp->ncols && worst <= FAST_DOC_MAX; i++)
		worst += imp->cols[i].jkey_len + 3 + 6 * b->spans[r->first + i].len;
	if (worst <= FAST_DOC_MAX)
		return csv_document_fast(imp, b, r, out, worst, reason, rlen);
	c360_rc rc = c360_buf_putc(out, '{');
	bool first = true;
	for (size_t i = 0; i < imp->ncols && !rc; i++) {
		const struct column *c = &imp->cols[i];
		const struct span *sp = &b->spans[r->first + i];
		const char *v = b->data.data + sp->off;
		if (c->shadowed || (omit && !sp->len))
			continue;
		if (!first)
			rc = c360_buf_putc(out, ',');
		first = false;
		if (!rc)
			rc = c360_buf_append(out, imp->jkeys.data + c->jkey_off, c->jkey_len);
		if (rc)
			break;
		int t = infer ? c360_import_infer(v, sp->len) : 0;
		if (t == 1 || t == 2) {
			rc = c360_buf_append(out, v, sp->len);
		} else if (t == 3) {
			rc = (v[0] == 't' || v[0] == 'T') ? c360_buf_append(out, "true", 4)
							  : c360_buf_append(out, "false", 5);
		} else {
			size_t bad_at = 0;
			rc = json_string(v, sp->len, out, &bad_at, false);
			if (rc == C360_ERR_INVALID)
				snprintf(reason, rlen, "invalid UTF-8 in field '%.*s' at byte %zu",
					 (int)(c->name_len > 100 ? 100 : c->name_len),
					 imp->names.data + c->name_off, bad_at);
		}
	}
	if (!rc)
		rc = c360_buf_putc(out, '}');
	if (rc && !*reason)
		snprintf(reason, rlen, "cannot build the document: %s", c360_rc_str(rc));
	return rc;
}

/* Builds the ops of a batch: one key + value per good record. */
static void build_batch(struct imp *imp, struct batch *b, uint64_t *failed)
{
	size_t c1 = b->ops_cap, c2 = b->ops_cap, c3 = b->ops_cap, c4 = b->ops_cap;
	if (grow((void **)&b->ops, &c1, b->nrecs, sizeof *b->ops) ||
	    grow((void **)&b->op_rec, &c2, b->nrecs, sizeof *b->op_rec) ||
	    grow((void **)&b->op_key, &c3, b->nrecs, sizeof *b->op_key) ||
	    grow((void **)&b->op_val, &c4, b->nrecs, sizeof *b->op_val)) {
		/* keep the smallest capacity that all four arrays have */
		size_t m = c1 < c2 ? c1 : c2;
		m = m < c3 ? m : c3;
		b->ops_cap = m < c4 ? m : c4;
		for (size_t i = 0; i < b->nrecs; i++)
			elog_write(imp, b->recs[i].row, "out of memory", NULL, NULL, NULL, 0);
		*failed += b->nrecs;
		return;
	}
	b->ops_cap = c1;
	char reason[300], kerr[200];
	for (size_t i = 0; i < b->nrecs; i++) {
		const struct rec *r = &b->recs[i];
		struct lookup_ctx l = {imp, b, r, NULL};
		c360_json_doc *doc = NULL;
		size_t mark = b->out.len;
		reason[0] = '\0';
		c360_rc rc = C360_OK;
		if (r->bad > 0) {
			snprintf(reason, sizeof reason, "%s", c360_csv_bad_str((enum c360_csv_bad)r->bad));
			rc = C360_ERR_INVALID;
		} else if (r->bad == BAD_DOC_TOO_BIG) {
			snprintf(reason, sizeof reason, "document larger than %u bytes", MAX_RECORD);
			rc = C360_ERR_TOO_BIG;
		} else if (r->bad == BAD_EMPTY_ELEMENT) {
			snprintf(reason, sizeof reason, "empty array element");
			rc = C360_ERR_INVALID;
		} else if (imp->o->format == C360_IMPORT_CSV && r->n != imp->ncols) {
			snprintf(reason, sizeof reason, "wrong number of fields: %zu, the header has %zu",
				 r->n, imp->ncols);
			rc = C360_ERR_INVALID;
		} else if (imp->o->format != C360_IMPORT_CSV) {
			const struct span *sp = &b->spans[r->first];
			struct c360_json_error jerr;
			memset(&jerr, 0, sizeof jerr);
			rc = c360_json_parse(b->data.data + sp->off, sp->len, NULL, &doc, &jerr);
			if (rc) {
				char where[200];
				c360_json_error_str(&jerr, where, sizeof where);
				snprintf(reason, sizeof reason, "invalid JSON: %s", where);
			}
			l.root = c360_json_doc_root(doc);
			/* a document is an object: a bare 42, "x" or [1] has no fields
			 * to key or map, and nothing downstream would read it */
			if (!rc && c360_json_type(l.root) != C360_JSON_OBJECT) {
				enum c360_json_type t = c360_json_type(l.root);
				snprintf(reason, sizeof reason,
					 "not a JSON object but %s%s; each document must be an "
					 "object ({...})",
					 t == C360_JSON_ARRAY ? "an " : t == C360_JSON_NULL ? "" : "a ",
					 c360_json_type_name(t));
				rc = C360_ERR_INVALID;
				uint64_t k = atomic_fetch_add(&imp->not_objects, 1) + 1;
				if (k <= NOT_OBJECT_LOGGED)
					C360_WARN(WHO, "'%s' %s %" PRIu64 ": %s%s", imp->o->path,
						  imp->o->format == C360_IMPORT_JSON_LINES ? "line"
											   : "element",
						  r->row, reason,
						  k == NOT_OBJECT_LOGGED
							  ? " (further ones: see the errors log, -e)"
							  : "");
			}
		}
		/* the key */
		size_t koff = b->out.len, klen = 0;
		if (!rc) {
			rc = c360_keyexpr_eval(imp->ke, r->ordinal,
					       imp->o->format == C360_IMPORT_CSV ? csv_lookup : json_lookup,
					       &l, &b->out, kerr, sizeof kerr);
			klen = b->out.len - koff;
			if (rc)
				snprintf(reason, sizeof reason, "%s", kerr);
			else if (klen > C360_KEY_MAX) {
				snprintf(reason, sizeof reason, "key is %zu bytes, more than %d", klen,
					 C360_KEY_MAX);
				rc = C360_ERR_TOO_BIG;
			}
		}
		/* the value */
		size_t voff = b->out.len;
		if (!rc) {
			if (imp->o->format == C360_IMPORT_CSV) {
				rc = csv_document(imp, b, r, &b->out, reason, sizeof reason);
			} else {
				const struct span *sp = &b->spans[r->first];
				rc = c360_buf_append(&b->out, b->data.data + sp->off, sp->len);
				if (rc)
					snprintf(reason, sizeof reason, "cannot copy the document: %s",
						 c360_rc_str(rc));
			}
		}
		if (!rc && b->out.len - voff > C360_VALUE_MAX) {
			snprintf(reason, sizeof reason, "document is larger than %u bytes", C360_VALUE_MAX);
			rc = C360_ERR_TOO_BIG;
		}
		c360_json_doc_free(doc);
		if (rc) {
			/* a key that was generated is worth showing */
			bool have_key = klen && klen <= C360_KEY_MAX && b->out.len >= koff + klen;
			char keycopy[C360_KEY_MAX + 1];
			if (have_key)
				memcpy(keycopy, b->out.data + koff, klen);
			b->out.len = mark;
			if (b->out.data)
				b->out.data[mark] = '\0';
			elog_write(imp, r->row, reason, b, r, have_key ? keycopy : NULL, klen);
			(*failed)++;
			continue;
		}
		b->op_rec[b->nops] = i;
		b->op_key[b->nops] = (struct span){koff, klen};
		b->op_val[b->nops] = (struct span){voff, b->out.len - voff};
		b->nops++;
	}
	/* pointers only now: out may have moved while growing */
	for (size_t k = 0; k < b->nops; k++) {
		struct c360_write *w = &b->ops[k];
		memset(w, 0, sizeof *w);
		w->type = C360_WRITE_UPSERT;
		w->bucket = imp->o->bucket;
		w->key = b->out.data + b->op_key[k].off;
		w->key_len = b->op_key[k].len;
		w->value = b->out.data + b->op_val[k].off;
		w->value_len = b->op_val[k].len;
		w->expiry = imp->expiry;
		w->flags = C360_WRITE_TRUSTED_JSON;
	}
}

/* Builders: take raw batches from the queue, build their documents, hand
 * them to the committer. */
static void *worker(void *arg)
{
	struct imp *imp = arg;
	for (;;) {
		pthread_mutex_lock(&imp->mu);
		while (!imp->full_head && !imp->done && !imp->abort)
			pthread_cond_wait(&imp->cond_full, &imp->mu);
		struct batch *b = imp->full_head;
		if (!b || imp->abort) {
			pthread_mutex_unlock(&imp->mu);
			break;
		}
		imp->full_head = b->next;
		if (!imp->full_head)
			imp->full_tail = NULL;
		pthread_mutex_unlock(&imp->mu);

		b->build_failed = 0;
		build_batch(imp, b, &b->build_failed);

		pthread_mutex_lock(&imp->mu);
		b->next = imp->built;
		imp->built = b;
		pthread_cond_broadcast(&imp->cond_commit);
		pthread_mutex_unlock(&imp->mu);
	}
	return NULL;
}

static struct batch *take_built(struct imp *imp, uint64_t seq)
{
	for (struct batch **pp = &imp->built; *pp; pp = &(*pp)->next)
		if ((*pp)->seq == seq) {
			struct batch *b = *pp;
			*pp = b->next;
			b->next = NULL;
			return b;
		}
	return NULL;
}

#define MERGE_MAX 8

/* The committer: writes built batches in input order. When the next ones
 * are already built (the writer is the bottleneck), it writes them together
 * with one c360_store_write(): one transaction, one fsync, for all. */
static void *committer(void *arg)
{
	struct imp *imp = arg;
	struct c360_write *all = NULL;
	size_t all_cap = 0;
	for (;;) {
		struct batch *g[MERGE_MAX];
		size_t ng = 0;
		pthread_mutex_lock(&imp->mu);
		while (!imp->abort) {
			struct batch *b = take_built(imp, imp->next_commit);
			if (b) {
				g[ng++] = b;
				while (ng < MERGE_MAX && (b = take_built(imp, imp->next_commit + ng)))
					g[ng++] = b;
				break;
			}
			if (imp->done && imp->next_commit == imp->next_seq)
				break;
			pthread_cond_wait(&imp->cond_commit, &imp->mu);
		}
		pthread_mutex_unlock(&imp->mu);
		if (!ng)
			break;

		size_t total = 0;
		for (size_t i = 0; i < ng; i++)
			total += g[i]->nops;
		c360_rc rc = grow((void **)&all, &all_cap, total, sizeof *all);
		if (!rc && total) {
			size_t off = 0;
			for (size_t i = 0; i < ng; i++) {
				memcpy(all + off, g[i]->ops, g[i]->nops * sizeof *all);
				off += g[i]->nops;
			}
			rc = c360_store_write(imp->st, all, total);
		}
		uint64_t imported = 0, failed = 0;
		if (!rc) {
			size_t off = 0;
			for (size_t i = 0; i < ng; i++) {
				struct batch *b = g[i];
				failed += b->build_failed;
				for (size_t k = 0; k < b->nops; k++) {
					const struct c360_write *w = &all[off + k];
					if (!w->rc) {
						imported++;
						continue;
					}
					const struct rec *r = &b->recs[b->op_rec[k]];
					char reason[160];
					snprintf(reason, sizeof reason, "the store refused the document: %s",
						 c360_rc_str(w->rc));
					elog_write(imp, r->row, reason, b, r, w->key, w->key_len);
					failed++;
				}
				off += b->nops;
			}
		}

		pthread_mutex_lock(&imp->mu);
		if (rc && !imp->abort) {
			imp->abort = true;
			imp->write_rc = rc;
			snprintf(imp->write_err, sizeof imp->write_err,
				 "cannot write to bucket '%s': %s", imp->o->bucket, c360_rc_str(rc));
		}
		if (!rc) {
			imp->imported += imported;
			imp->failed += failed;
			imp->commits++;
		}
		imp->next_commit += ng;
		for (size_t i = 0; i < ng; i++) {
			batch_reset(g[i]);
			g[i]->next = imp->free_list;
			imp->free_list = g[i];
		}
		pthread_cond_broadcast(&imp->cond_free);
		pthread_cond_broadcast(&imp->cond_full);
		pthread_mutex_unlock(&imp->mu);
	}
	free(all);
	return NULL;
}

/* ---- the reader side ---- */

static c360_rc send_batch(struct imp *imp)
{
	struct batch *b = imp->cur;
	imp->cur = NULL;
	pthread_mutex_lock(&imp->mu);
	if (b) {
		if (b->nrecs) {
			b->seq = imp->next_seq++;
			b->next = NULL;
			if (imp->full_tail)
				imp->full_tail->next = b;
			else
				imp->full_head = b;
			imp->full_tail = b;
			pthread_cond_signal(&imp->cond_full);
		} else {
			b->next = imp->free_list;
			imp->free_list = b;
		}
	}
	c360_rc rc = imp->abort ? C360_ERR_STATE : C360_OK;
	pthread_mutex_unlock(&imp->mu);
	return rc;
}

static c360_rc take_batch(struct imp *imp)
{
	pthread_mutex_lock(&imp->mu);
	while (!imp->free_list && !imp->abort)
		pthread_cond_wait(&imp->cond_free, &imp->mu);
	c360_rc rc = C360_OK;
	if (imp->abort) {
		rc = C360_ERR_STATE;
	} else {
		imp->cur = imp->free_list;
		imp->free_list = imp->cur->next;
		batch_reset(imp->cur);
	}
	pthread_mutex_unlock(&imp->mu);
	return rc;
}

/* Starts a record in the current batch (sending a full one first). */
static c360_rc begin_rec(struct imp *imp, struct rec **out)
{
	c360_rc rc;
	if (imp->cur && (imp->cur->nrecs >= imp->batch_rows || imp->cur->data.len >= BATCH_BYTES))
		if ((rc = send_batch(imp)))
			return rc;
	if (!imp->cur && (rc = take_batch(imp)))
		return rc;
	struct batch *b = imp->cur;
	if ((rc = grow((void **)&b->recs, &b->recs_cap, b->nrecs + 1, sizeof *b->recs)))
		return rc;
	struct rec *r = &b->recs[b->nrecs++];
	memset(r, 0, sizeof *r);
	r->first = b->nspans;
	*out = r;
	return C360_OK;
}

static c360_rc add_span(struct imp *imp, const char *p, size_t len)
{
	struct batch *b = imp->cur;
	c360_rc rc = grow((void **)&b->spans, &b->spans_cap, b->nspans + 1, sizeof *b->spans);
	if (!rc)
		rc = c360_buf_append(&b->data, p, len);
	if (!rc)
		b->spans[b->nspans++] = (struct span){b->data.len - len, len};
	return rc;
}

/* skip/limit accounting for one data row; C360_ERR_LIMIT stops the reader,
 * *take is false for a skipped row. */
static c360_rc count_row(struct imp *imp, bool *take)
{
	*take = false;
	if (imp->skipped < imp->o->skip_rows) {
		imp->skipped++;
		return C360_OK;
	}
	if (imp->o->limit_rows && imp->rows >= imp->o->limit_rows)
		return C360_ERR_LIMIT;
	if (imp->o->cancel && *imp->o->cancel)
		return C360_ERR_STATE;
	imp->rows++;
	*take = true;
	return C360_OK;
}

static c360_rc set_header(struct imp *imp, const struct c360_csv_record *rec, char *err,
			  size_t errlen)
{
	if (rec->bad) {
		snprintf(err, errlen, "cannot read the header row: %s", c360_csv_bad_str(rec->bad));
		return C360_ERR_INVALID;
	}
	imp->ncols = rec->n;
	imp->cols = calloc(rec->n ? rec->n : 1, sizeof *imp->cols);
	if (!imp->cols)
		return C360_ERR_NOMEM;
	for (size_t i = 0; i < rec->n; i++) {
		const struct c360_csv_field *f = &rec->fields[i];
		struct column *c = &imp->cols[i];
		c->name_off = imp->names.len;
		c->name_len = f->len;
		c->jkey_off = imp->jkeys.len;
		size_t bad_at;
		c360_rc rc = c360_buf_append(&imp->names, f->p, f->len);
		if (!rc)
			rc = json_string(f->p, f->len, &imp->jkeys, &bad_at, false);
		if (rc == C360_ERR_INVALID) {
			snprintf(err, errlen, "header column %zu is not valid UTF-8 (byte %zu)", i + 1,
				 bad_at);
			return rc;
		}
		if (!rc)
			rc = c360_buf_putc(&imp->jkeys, ':');
		if (rc)
			return rc;
		c->jkey_len = imp->jkeys.len - c->jkey_off;
	}
	/* a repeated column name: the last one wins, as in a JSON object */
	for (size_t i = 0; i < rec->n; i++)
		for (size_t j = i + 1; j < rec->n; j++)
			if (imp->cols[i].name_len == imp->cols[j].name_len &&
			    !memcmp(imp->names.data + imp->cols[i].name_off,
				    imp->names.data + imp->cols[j].name_off, imp->cols[i].name_len)) {
				imp->cols[i].shadowed = true;
				break;
			}
	/* resolve key fields to columns once */
	size_t nf = c360_keyexpr_nfields(imp->ke);
	imp->key_col = calloc(nf ? nf : 1, sizeof *imp->key_col);
	if (!imp->key_col)
		return C360_ERR_NOMEM;
	for (size_t k = 0; k < nf; k++) {
		/* CSV documents are flat: a path a.b can only name a column "a.b" */
		char name[512];
		size_t nl = 0;
		for (size_t j = 0; j < c360_keyexpr_field_nsegs(imp->ke, k); j++) {
			size_t sl;
			const char *s = c360_keyexpr_field_seg(imp->ke, k, j, &sl);
			if (nl + sl + 1 >= sizeof name)
				break;
			if (j)
				name[nl++] = '.';
			memcpy(name + nl, s, sl);
			nl += sl;
		}
		bool found = false;
		for (size_t i = rec->n; i-- > 0;) {
			if (imp->cols[i].name_len == nl &&
			    !memcmp(imp->names.data + imp->cols[i].name_off, name, nl)) {
				imp->key_col[k] = i;
				found = true;
				break;
			}
		}
		if (!found) {
			snprintf(err, errlen, "key field '%s' is not a column of the header of '%s'",
				 c360_keyexpr_field_text(imp->ke, k), imp->o->path);
			return C360_ERR_INVALID;
		}
	}
	imp->have_header = true;
	return C360_OK;
}

struct csv_ctx {
	struct imp *imp;
	c360_csv_reader *reader;
	char *err;
	size_t errlen;
};

#define UNBALANCED_LOGGED 10 /* per import; the errors log has every one */

static c360_rc on_csv_record(void *ctx, const struct c360_csv_record *rec)
{
	struct csv_ctx *c = ctx;
	struct imp *imp = c->imp;
	if (!imp->have_header) {
		c360_rc hrc = set_header(imp, rec, c->err, c->errlen);
		/* a multi-line record must have the header's field count */
		if (!hrc)
			c360_csv_reader_expect_fields(c->reader, imp->ncols);
		return hrc;
	}
	bool take;
	c360_rc rc = count_row(imp, &take);
	if (rc || !take)
		return rc;
	if (rec->bad == C360_CSV_UNBALANCED_QUOTE && ++imp->unbalanced <= UNBALANCED_LOGGED)
		C360_WARN(WHO,
			  "'%s' line %" PRIu64 " (row %" PRIu64 "): unbalanced quote: the row fails and "
			  "the lines after it are read again as rows; fix the quote and import again%s",
			  imp->o->path, rec->line, rec->number,
			  imp->unbalanced == UNBALANCED_LOGGED ? " (further ones: see the errors log, -e)"
							       : "");
	struct rec *r;
	if ((rc = begin_rec(imp, &r)))
		return rc;
	r->row = rec->number;
	r->line = rec->line;
	r->ordinal = imp->rows;
	r->bad = rec->bad;
	r->n = rec->n;
	if (!rec->n)
		return C360_OK;
	/* the reader keeps a record's fields back to back: one copy for all */
	struct batch *b = imp->cur;
	const char *base = rec->fields[0].p;
	size_t total = 0;
	bool packed = true;
	for (size_t i = 0; i < rec->n && packed; i++) {
		packed = rec->fields[i].p == base + total;
		total += rec->fields[i].len;
	}
	if (!packed) {
		for (size_t i = 0; i < rec->n && !rc; i++)
			rc = add_span(imp, rec->fields[i].p, rec->fields[i].len);
		return rc;
	}
	if ((rc = grow((void **)&b->spans, &b->spans_cap, b->nspans + rec->n, sizeof *b->spans)))
		return rc;
	size_t off = b->data.len;
	if ((rc = c360_buf_append(&b->data, base, total)))
		return rc;
	for (size_t i = 0; i < rec->n; i++) {
		b->spans[b->nspans++] = (struct span){off, rec->fields[i].len};
		off += rec->fields[i].len;
	}
	return C360_OK;
}

/* One JSON document text (lines or list element) into the batch. */
static c360_rc add_doc(struct imp *imp, uint64_t row, const char *p, size_t len, int bad)
{
	/* trim JSON whitespace */
	while (len && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) {
		p++;
		len--;
	}
	while (len && (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '\r' ||
		       p[len - 1] == '\n'))
		len--;
	if (!len && !bad)
		return C360_OK; /* blank line */
	bool take;
	c360_rc rc = count_row(imp, &take);
	if (rc || !take)
		return rc;
	struct rec *r;
	if ((rc = begin_rec(imp, &r)))
		return rc;
	r->row = row;
	r->ordinal = imp->rows;
	r->bad = bad;
	r->n = 1;
	return add_span(imp, bad ? "" : p, bad ? 0 : len);
}

static c360_rc feed_lines(struct imp *imp, const char *s, size_t n, bool eof)
{
	c360_rc rc = C360_OK;
	while (n && !rc) {
		const char *nl = memchr(s, '\n', n);
		size_t k = nl ? (size_t)(nl - s) : n;
		if (!imp->carry_too_big && c360_buf_append(&imp->carry, s, k))
			imp->carry_too_big = true;
		if (!nl)
			break;
		imp->line++;
		rc = add_doc(imp, imp->line, imp->carry.data ? imp->carry.data : "", imp->carry.len,
			     imp->carry_too_big ? BAD_DOC_TOO_BIG : 0);
		c360_buf_reset(&imp->carry);
		imp->carry_too_big = false;
		s += k + 1;
		n -= k + 1;
	}
	if (!rc && eof && (imp->carry.len || imp->carry_too_big)) {
		imp->line++;
		rc = add_doc(imp, imp->line, imp->carry.data ? imp->carry.data : "", imp->carry.len,
			     imp->carry_too_big ? BAD_DOC_TOO_BIG : 0);
		c360_buf_reset(&imp->carry);
	}
	return rc;
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Splits a top-level JSON array into its elements without holding more
 * than one element: tracks strings, escapes and nesting depth. */
static c360_rc feed_list(struct imp *imp, const char *s, size_t n, bool eof, char *err,
			 size_t errlen)
{
	c360_rc rc = C360_OK;
	for (size_t i = 0; i < n && !rc; i++) {
		char c = s[i];
		uint64_t at = imp->bytes - n + i;
		if (imp->list_state == 0) {
			if (is_ws(c))
				continue;
			if (c != '[') {
				snprintf(err, errlen, "'%s' is not a JSON array (byte %" PRIu64 ")",
					 imp->o->path, at);
				return C360_ERR_INVALID;
			}
			imp->list_state = 1;
			continue;
		}
		if (imp->list_state == 2) {
			if (!is_ws(c)) {
				snprintf(err, errlen, "'%s': data after the closing ']' (byte %" PRIu64 ")",
					 imp->o->path, at);
				return C360_ERR_INVALID;
			}
			continue;
		}
		if (imp->in_str) {
			if (imp->esc)
				imp->esc = false;
			else if (c == '\\')
				imp->esc = true;
			else if (c == '"')
				imp->in_str = false;
		} else if (c == '"') {
			imp->in_str = true;
		} else if (c == '[' || c == '{') {
			imp->depth++;
		} else if ((c == ']' || c == '}') && imp->depth > 0) {
			imp->depth--;
		} else if ((c == ',' || c == ']') && imp->depth == 0) {
			bool blank = true;
			for (size_t k = 0; k < imp->carry.len && blank; k++)
				blank = is_ws(imp->carry.data[k]);
			if (!(c == ']' && blank && imp->elements == 0)) {
				imp->elements++;
				if (blank && !imp->carry_too_big) {
					/* an empty element (",,"): a bad document */
					rc = add_doc(imp, imp->elements, "", 0, BAD_EMPTY_ELEMENT);
				} else {
					rc = add_doc(imp, imp->elements,
						     imp->carry.data ? imp->carry.data : "", imp->carry.len,
						     imp->carry_too_big ? BAD_DOC_TOO_BIG : 0);
				}
			}
			c360_buf_reset(&imp->carry);
			imp->carry_too_big = false;
			if (c == ']')
				imp->list_state = 2;
			continue;
		}
		if (!imp->carry_too_big && c360_buf_putc(&imp->carry, c))
			imp->carry_too_big = true;
	}
	if (!rc && eof && imp->list_state != 2) {
		snprintf(err, errlen, "'%s' ends before the JSON array is closed", imp->o->path);
		return C360_ERR_INVALID;
	}
	return rc;
}

static void report_progress(struct imp *imp, bool final)
{
	if (!imp->o->progress)
		return;
	int64_t t = now_ns();
	if (!final && t - imp->last_progress_ns < PROGRESS_NS)
		return;
	imp->last_progress_ns = t;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	struct c360_import_progress p = {
		.rows = imp->rows,
		.bytes = imp->bytes,
		.total_bytes = imp->total_bytes,
		.seconds = (double)(now.tv_sec - imp->t0.tv_sec) +
			   (double)(now.tv_nsec - imp->t0.tv_nsec) / 1e9,
		.final = final,
	};
	imp->o->progress(&p, imp->o->progress_ctx);
}

static c360_rc read_input(struct imp *imp, int fd, char *err, size_t errlen)
{
	c360_rc rc = C360_OK;
	c360_csv_reader *csv = NULL;
	struct csv_ctx cctx = {imp, NULL, err, errlen};
	char *chunk = malloc(READ_CHUNK);
	if (!chunk)
		return C360_ERR_NOMEM;
	if (imp->o->format == C360_IMPORT_CSV) {
		struct c360_csv_reader_opts ro = {.separator = imp->o->separator};
		if ((rc = c360_csv_reader_new(&ro, on_csv_record, &cctx, &csv)))
			goto out;
		cctx.reader = csv;
	}
	for (;;) {
		ssize_t n = read(fd, chunk, READ_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "cannot read '%s': %s", imp->o->path, strerror(errno));
			rc = C360_ERR_IO;
			goto out;
		}
		imp->bytes += (uint64_t)n;
		bool eof = n == 0;
		switch (imp->o->format) {
		case C360_IMPORT_CSV:
			rc = eof ? c360_csv_reader_finish(csv) : c360_csv_reader_feed(csv, chunk, (size_t)n);
			if (rc == C360_ERR_TOO_BIG && !*err)
				snprintf(err, errlen, "'%s': a field is larger than 64 MiB (record %" PRIu64 ")",
					 imp->o->path, c360_csv_reader_records(csv) + 1);
			break;
		case C360_IMPORT_JSON_LINES:
			rc = feed_lines(imp, chunk, (size_t)n, eof);
			break;
		case C360_IMPORT_JSON_LIST:
			rc = feed_list(imp, chunk, (size_t)n, eof, err, errlen);
			break;
		}
		if (rc)
			break;
		report_progress(imp, false);
		if (eof)
			break;
	}
	if (rc == C360_ERR_LIMIT)
		rc = C360_OK;
	if (rc == C360_ERR_STATE && !*err)
		snprintf(err, errlen, "import of '%s' interrupted", imp->o->path);
	if (!rc && imp->o->format == C360_IMPORT_CSV && !imp->have_header) {
		/* an empty file: nothing to import, not an error */
	}
out:
	c360_csv_reader_free(csv);
	free(chunk);
	return rc;
}

c360_rc c360_import_run(c360_store *st, const struct c360_import_opts *o,
			struct c360_import_stats *stats, char *err, size_t errlen)
{
	struct imp imp;
	memset(&imp, 0, sizeof imp);
	memset(stats, 0, sizeof *stats);
	if (err && errlen)
		*err = '\0';
	imp.o = o;
	imp.st = st;
	imp.batch_rows = o->batch_rows ? o->batch_rows : DEFAULT_BATCH_ROWS;
	clock_gettime(CLOCK_MONOTONIC, &imp.t0);
	imp.expiry = c360_import_expiry(o->expiry, (int64_t)time(NULL));
	c360_buf_init(&imp.names, 1u << 20);
	c360_buf_init(&imp.jkeys, 8u << 20);
	c360_buf_init(&imp.carry, MAX_RECORD);
	pthread_mutex_init(&imp.mu, NULL);
	pthread_mutex_init(&imp.elog_mu, NULL);
	pthread_cond_init(&imp.cond_full, NULL);
	pthread_cond_init(&imp.cond_free, NULL);
	pthread_cond_init(&imp.cond_commit, NULL);
	/* -t N builders, plus the committer: building always overlaps writing */
	int nthreads = o->threads > 1 ? o->threads : 1;
	if (nthreads > 64)
		nthreads = 64;
	/* more builders than the CPUs left beside the reader and the committer
	 * build no faster: they only take turns with the committer */
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpu > 0 && nthreads > ncpu - 1)
		nthreads = ncpu > 1 ? (int)ncpu - 1 : 1;
	pthread_t tids[65];
	int started = 0;
	int fd = -1;
	c360_rc rc;

	if (!o->bucket || !o->key_expr || !o->path) {
		snprintf(err, errlen, "bucket, key expression and file are required");
		rc = C360_ERR_INVALID;
		goto out;
	}
	char kerr[200];
	if ((rc = c360_keyexpr_compile(o->key_expr, o->field_delim, o->gen_delim, &imp.ke, kerr,
				       sizeof kerr))) {
		snprintf(err, errlen, "bad key expression '%s': %s", o->key_expr, kerr);
		goto out;
	}
	struct c360_bucket_info bi;
	if ((rc = c360_store_bucket_info(st, o->bucket, &bi))) {
		if (rc == C360_ERR_NOT_FOUND)
			snprintf(err, errlen, "bucket '%s' does not exist", o->bucket);
		else
			snprintf(err, errlen, "cannot use bucket '%s': %s", o->bucket, c360_rc_str(rc));
		goto out;
	}
	fd = strcmp(o->path, "-") ? open(o->path, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
	if (fd < 0) {
		snprintf(err, errlen, "cannot open '%s': %s", o->path, strerror(errno));
		rc = errno == ENOENT ? C360_ERR_NOT_FOUND : C360_ERR_IO;
		goto out;
	}
	struct stat sb;
	if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode)) {
		imp.total_bytes = (uint64_t)sb.st_size;
		posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	} else if (fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen, "'%s' is a directory", o->path);
		rc = C360_ERR_INVALID;
		goto out;
	}
	if (o->errors_log) {
		imp.elog = fopen(o->errors_log, "we");
		if (!imp.elog) {
			snprintf(err, errlen, "cannot create errors log '%s': %s", o->errors_log,
				 strerror(errno));
			rc = C360_ERR_IO;
			goto out;
		}
	}
	/* the batch pool: one being filled, one committing, one being built,
	 * one queued. Bigger batches mean fewer commits (each one an fsync with
	 * synchronous=FULL); four bound the memory (about 50 MB). */
	for (int i = 0; i < 4; i++) {
		struct batch *b = batch_new();
		if (!b) {
			rc = C360_ERR_NOMEM;
			goto out;
		}
		b->next = imp.free_list;
		imp.free_list = b;
	}
	for (; started <= nthreads; started++)
		if (pthread_create(&tids[started], NULL, started ? worker : committer, &imp)) {
			snprintf(err, errlen, "cannot start a worker thread");
			rc = C360_ERR_NOMEM;
			break;
		}
	if (!rc)
		rc = read_input(&imp, fd, err, errlen);
	if (imp.cur) {
		c360_rc src = send_batch(&imp);
		if (!rc)
			rc = src;
	}
	pthread_mutex_lock(&imp.mu);
	imp.done = true;
	if (rc)
		imp.abort = true;
	pthread_cond_broadcast(&imp.cond_full);
	pthread_cond_broadcast(&imp.cond_commit);
	pthread_mutex_unlock(&imp.mu);
	for (int i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	if (imp.write_rc) {
		rc = imp.write_rc;
		snprintf(err, errlen, "%s", imp.write_err);
	}
	report_progress(&imp, true);
out:
	if (fd >= 0 && fd != STDIN_FILENO)
		close(fd);
	stats->rows = imp.rows;
	stats->skipped = imp.skipped;
	stats->imported = imp.imported;
	stats->failed = imp.failed;
	stats->unbalanced = imp.unbalanced;
	stats->not_objects = atomic_load(&imp.not_objects);
	stats->bytes = imp.bytes;
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	stats->seconds = (double)(t1.tv_sec - imp.t0.tv_sec) + (double)(t1.tv_nsec - imp.t0.tv_nsec) / 1e9;
	if (imp.elog && fclose(imp.elog) && !rc) {
		snprintf(err, errlen, "cannot write errors log '%s'", o->errors_log);
		rc = C360_ERR_IO;
	}
	while (imp.free_list) {
		struct batch *b = imp.free_list;
		imp.free_list = b->next;
		batch_free(b);
	}
	while (imp.full_head) {
		struct batch *b = imp.full_head;
		imp.full_head = b->next;
		batch_free(b);
	}
	while (imp.built) {
		struct batch *b = imp.built;
		imp.built = b->next;
		batch_free(b);
	}
	batch_free(imp.cur);
	c360_keyexpr_free(imp.ke);
	free(imp.cols);
	free(imp.key_col);
	c360_buf_release(&imp.names);
	c360_buf_release(&imp.jkeys);
	c360_buf_release(&imp.carry);
	pthread_mutex_destroy(&imp.mu);
	pthread_mutex_destroy(&imp.elog_mu);
	pthread_cond_destroy(&imp.cond_full);
	pthread_cond_destroy(&imp.cond_free);
	pthread_cond_destroy(&imp.cond_commit);
	if (rc)
		C360_DEBUG(WHO, "import of '%s' stopped: %s", o->path ? o->path : "?", c360_rc_str(rc));
	else
		C360_DEBUG(WHO, "import of '%s': %" PRIu64 " rows in %" PRIu64 " store transactions",
			   o->path, imp.rows, imp.commits);
	return rc;
}
