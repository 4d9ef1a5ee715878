/* cbimport key expressions: compiler to a token list and per-record evaluator. */
#include "sources/csv/keyexpr.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/banned.h"

enum tok_kind { TOK_LITERAL, TOK_FIELD, TOK_MONO, TOK_UUID };

struct seg {
	size_t off, len; /* into ke->text */
};

struct tok {
	enum tok_kind kind;
	size_t off, len;   /* literal: into ke->text; field: the reference as written */
	size_t field;      /* TOK_FIELD: index into fields */
	uint64_t start;    /* TOK_MONO */
};

struct field {
	char *text;        /* as written, NUL-terminated */
	struct seg *segs;  /* into ke->text */
	size_t nsegs;
};

struct c360_keyexpr {
	char *text;        /* unescaped literal bytes and field segments */
	size_t text_len;
	struct tok *toks;
	size_t ntoks;
	struct field *fields;
	size_t nfields;
	bool random, counter;
};

void c360_keyexpr_free(c360_keyexpr *ke)
{
	if (!ke)
		return;
	for (size_t i = 0; i < ke->nfields; i++) {
		free(ke->fields[i].text);
		free(ke->fields[i].segs);
	}
	free(ke->fields);
	free(ke->toks);
	free(ke->text);
	free(ke);
}

static c360_rc add_tok(c360_keyexpr *ke, struct tok t)
{
	/* tokens never outnumber the expression's bytes: toks was sized for that */
	ke->toks[ke->ntoks++] = t;
	return C360_OK;
}

/* Appends a literal byte, merging with a preceding literal token. */
static void add_literal(c360_keyexpr *ke, char c)
{
	if (ke->ntoks && ke->toks[ke->ntoks - 1].kind == TOK_LITERAL &&
	    ke->toks[ke->ntoks - 1].off + ke->toks[ke->ntoks - 1].len == ke->text_len) {
		ke->toks[ke->ntoks - 1].len++;
	} else {
		struct tok t = {.kind = TOK_LITERAL, .off = ke->text_len, .len = 1};
		add_tok(ke, t);
	}
	ke->text[ke->text_len++] = c;
}

/* Parses the reference between delimiters, expr[b..e): segments split by '.'
 * outside backticks. */
static c360_rc add_field(c360_keyexpr *ke, const char *expr, size_t b, size_t e, char *err,
			 size_t errlen)
{
	struct field f = {0};
	size_t n = e - b;
	f.text = malloc(n + 1);
	f.segs = calloc(n + 1, sizeof *f.segs);
	if (!f.text || !f.segs) {
		free(f.text);
		free(f.segs);
		return C360_ERR_NOMEM;
	}
	memcpy(f.text, expr + b, n);
	f.text[n] = '\0';

	size_t i = b;
	for (;;) {
		size_t seg_off = ke->text_len;
		bool quoted = false;
		if (i < e && expr[i] == '`') {
			size_t close = i + 1;
			while (close < e && expr[close] != '`')
				close++;
			if (close >= e) {
				snprintf(err, errlen, "unterminated backtick in field reference '%s' at byte %zu",
					 f.text, i);
				goto bad;
			}
			memcpy(ke->text + ke->text_len, expr + i + 1, close - i - 1);
			ke->text_len += close - i - 1;
			i = close + 1;
			quoted = true;
		} else {
			while (i < e && expr[i] != '.' && expr[i] != '`')
				ke->text[ke->text_len++] = expr[i++];
		}
		size_t seg_len = ke->text_len - seg_off;
		if (!seg_len && !quoted) {
			snprintf(err, errlen, "empty name in field reference '%s' at byte %zu", f.text, i);
			goto bad;
		}
		f.segs[f.nsegs++] = (struct seg){seg_off, seg_len};
		if (i >= e)
			break;
		if (expr[i] != '.') {
			snprintf(err, errlen,
				 "unexpected '%c' in field reference '%s' at byte %zu (a backtick-quoted name must be a whole segment)",
				 expr[i], f.text, i);
			goto bad;
		}
		i++;
		if (i >= e) {
			snprintf(err, errlen, "field reference '%s' ends with '.'", f.text);
			goto bad;
		}
	}
	struct field *nf = realloc(ke->fields, (ke->nfields + 1) * sizeof *nf);
	if (!nf) {
		free(f.text);
		free(f.segs);
		return C360_ERR_NOMEM;
	}
	ke->fields = nf;
	ke->fields[ke->nfields] = f;
	struct tok t = {.kind = TOK_FIELD, .off = b, .len = n, .field = ke->nfields};
	ke->nfields++;
	return add_tok(ke, t);
bad:
	free(f.text);
	free(f.segs);
	return C360_ERR_INVALID;
}

static c360_rc add_generator(c360_keyexpr *ke, const char *name, size_t n, size_t at, char *err,
			     size_t errlen)
{
	struct tok t = {0};
	if (n == 4 && !memcmp(name, "UUID", 4)) {
		t.kind = TOK_UUID;
		ke->random = true;
		return add_tok(ke, t);
	}
	if (n >= 9 && !memcmp(name, "MONO_INCR", 9)) {
		t.kind = TOK_MONO;
		t.start = 1;
		ke->counter = true;
		if (n == 9)
			return add_tok(ke, t);
		/* MONO_INCR[N] */
		if (name[9] == '[' && name[n - 1] == ']' && n > 11 && n - 11 <= 19) {
			uint64_t v = 0;
			for (size_t i = 10; i < n - 1; i++) {
				if (name[i] < '0' || name[i] > '9')
					goto bad_start;
				v = v * 10 + (uint64_t)(name[i] - '0');
			}
			t.start = v;
			return add_tok(ke, t);
		}
	bad_start:
		snprintf(err, errlen,
			 "bad generator '%.*s' at byte %zu: want MONO_INCR or MONO_INCR[N] with N a whole number",
			 (int)n, name, at);
		return C360_ERR_INVALID;
	}
	snprintf(err, errlen, "unknown generator '%.*s' at byte %zu (MONO_INCR, MONO_INCR[N], UUID)",
		 (int)(n > 40 ? 40 : n), name, at);
	return C360_ERR_INVALID;
}

c360_rc c360_keyexpr_compile(const char *expr, char field_delim, char gen_delim,
			     c360_keyexpr **out, char *err, size_t errlen)
{
	char fd = field_delim ? field_delim : '%';
	char gd = gen_delim ? gen_delim : '#';
	c360_rc rc = C360_ERR_INVALID;
	*out = NULL;
	if (err && errlen)
		*err = '\0';
	if (!expr || !*expr) {
		snprintf(err, errlen, "empty key expression");
		return C360_ERR_INVALID;
	}
	size_t n = strlen(expr);
	if (n > C360_KEYEXPR_MAX_LEN) {
		snprintf(err, errlen, "key expression longer than %d bytes", C360_KEYEXPR_MAX_LEN);
		return C360_ERR_TOO_BIG;
	}
	if (fd == gd) {
		snprintf(err, errlen, "the field and generator delimiters are both '%c'", fd);
		return C360_ERR_INVALID;
	}
	c360_keyexpr *ke = calloc(1, sizeof *ke);
	if (!ke)
		return C360_ERR_NOMEM;
	ke->text = malloc(n + 1);
	ke->toks = calloc(n + 1, sizeof *ke->toks);
	if (!ke->text || !ke->toks) {
		rc = C360_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < n;) {
		char c = expr[i];
		if (c != fd && c != gd) {
			add_literal(ke, c);
			i++;
			continue;
		}
		if (i + 1 < n && expr[i + 1] == c) { /* %% or ## */
			add_literal(ke, c);
			i += 2;
			continue;
		}
		size_t close = i + 1;
		if (c == fd) {
			/* the closing delimiter is the first one outside backticks */
			bool in_tick = false;
			while (close < n && (in_tick || expr[close] != fd)) {
				if (expr[close] == '`')
					in_tick = !in_tick;
				close++;
			}
		} else {
			while (close < n && expr[close] != gd)
				close++;
		}
		if (close >= n) {
			snprintf(err, errlen, "unterminated %s starting with '%c' at byte %zu",
				 c == fd ? "field reference" : "generator", c, i);
			goto out;
		}
		if (c == fd)
			rc = add_field(ke, expr, i + 1, close, err, errlen);
		else
			rc = add_generator(ke, expr + i + 1, close - i - 1, i, err, errlen);
		if (rc)
			goto out;
		rc = C360_ERR_INVALID;
		i = close + 1;
	}
	*out = ke;
	return C360_OK;
out:
	c360_keyexpr_free(ke);
	return rc;
}

size_t c360_keyexpr_nfields(const c360_keyexpr *ke)
{
	return ke->nfields;
}

const char *c360_keyexpr_field_text(const c360_keyexpr *ke, size_t i)
{
	return i < ke->nfields ? ke->fields[i].text : NULL;
}

size_t c360_keyexpr_field_nsegs(const c360_keyexpr *ke, size_t i)
{
	return i < ke->nfields ? ke->fields[i].nsegs : 0;
}

const char *c360_keyexpr_field_seg(const c360_keyexpr *ke, size_t i, size_t j, size_t *len)
{
	if (i >= ke->nfields || j >= ke->fields[i].nsegs)
		return NULL;
	*len = ke->fields[i].segs[j].len;
	return ke->text + ke->fields[i].segs[j].off;
}

bool c360_keyexpr_is_random(const c360_keyexpr *ke)
{
	return ke->random;
}

bool c360_keyexpr_uses_counter(const c360_keyexpr *ke)
{
	return ke->counter;
}

static c360_rc put_uuid(struct c360_buf *out)
{
	unsigned char r[16];
	size_t got = 0;
	while (got < sizeof r) {
		ssize_t k = getrandom(r + got, sizeof r - got, 0);
		if (k <= 0)
			return C360_ERR_IO;
		got += (size_t)k;
	}
	r[6] = (unsigned char)((r[6] & 0x0f) | 0x40); /* version 4 */
	r[8] = (unsigned char)((r[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	static const char hex[] = "0123456789abcdef";
	char s[36];
	size_t k = 0;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			s[k++] = '-';
		s[k++] = hex[r[i] >> 4];
		s[k++] = hex[r[i] & 15];
	}
	return c360_buf_append(out, s, sizeof s);
}

c360_rc c360_keyexpr_eval(const c360_keyexpr *ke, uint64_t ordinal, c360_keyexpr_lookup lookup,
			  void *ctx, struct c360_buf *out, char *err, size_t errlen)
{
	c360_rc rc = C360_OK;
	for (size_t i = 0; i < ke->ntoks && !rc; i++) {
		const struct tok *t = &ke->toks[i];
		switch (t->kind) {
		case TOK_LITERAL:
			rc = c360_buf_append(out, ke->text + t->off, t->len);
			break;
		case TOK_FIELD: {
			const char *v = NULL;
			size_t len = 0;
			if (!lookup || !lookup(ctx, t->field, &v, &len)) {
				snprintf(err, errlen, "key field '%s' is missing",
					 ke->fields[t->field].text);
				return C360_ERR_NOT_FOUND;
			}
			if (!len) {
				snprintf(err, errlen, "key field '%s' is empty",
					 ke->fields[t->field].text);
				return C360_ERR_NOT_FOUND;
			}
			const char *nul = memchr(v, '\0', len);
			if (nul) {
				snprintf(err, errlen,
					 "key field '%s' holds a NUL character (\\u0000) at byte %zu "
					 "of its value; document keys cannot contain NUL",
					 ke->fields[t->field].text, (size_t)(nul - v));
				return C360_ERR_INVALID;
			}
			rc = c360_buf_append(out, v, len);
			break;
		}
		case TOK_MONO: {
			/* decimal digits, written from the end (once per row: no printf) */
			char num[24];
			size_t k = sizeof num;
			uint64_t v = t->start + ordinal - 1;
			do {
				num[--k] = (char)('0' + v % 10);
				v /= 10;
			} while (v);
			rc = c360_buf_append(out, num + k, sizeof num - k);
			break;
		}
		case TOK_UUID:
			rc = put_uuid(out);
			break;
		}
	}
	if (rc == C360_ERR_TOO_BIG)
		snprintf(err, errlen, "generated key is too long");
	else if (rc)
		snprintf(err, errlen, "cannot generate key: %s", c360_rc_str(rc));
	return rc;
}
