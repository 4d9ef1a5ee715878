/* Java .properties reader: logical lines, separators and escapes as
 * java.util.Properties#load defines them, with positions in errors. */
#include "core/props.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/utf8.h"
#include "core/banned.h"

struct rd {
	const char *s;
	size_t n, i;
	unsigned line;
	size_t line_start; /* offset of the current natural line */
	struct c360_props_error *err;
};

static c360_rc fail(struct rd *r, size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static c360_rc fail(struct rd *r, size_t at, const char *fmt, ...)
{
	if (r->err) {
		r->err->line = r->line;
		r->err->col = (unsigned)(at - r->line_start + 1);
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(r->err->msg, sizeof r->err->msg, fmt, ap);
		va_end(ap);
	}
	return C360_ERR_INVALID;
}

static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\f';
}

static bool eol(char c)
{
	return c == '\n' || c == '\r';
}

/* Steps over the line terminator at r->i (\n, \r or \r\n). */
static void next_line(struct rd *r)
{
	if (r->i < r->n && r->s[r->i] == '\r') {
		r->i++;
		if (r->i < r->n && r->s[r->i] == '\n')
			r->i++;
	} else if (r->i < r->n && r->s[r->i] == '\n') {
		r->i++;
	}
	r->line++;
	r->line_start = r->i;
}

/* Reads the 4 hex digits of a \u escape at r->i (just after 'u'). */
static c360_rc read_u(struct rd *r, size_t esc_at, unsigned *cu)
{
	unsigned v = 0;
	for (int k = 0; k < 4; k++) {
		int h = r->i < r->n ? c360_hexval(r->s[r->i]) : -1;
		if (h < 0)
			return fail(r, esc_at, "malformed \\uXXXX escape (4 hex digits expected)");
		v = v * 16 + (unsigned)h;
		r->i++;
	}
	*cu = v;
	return C360_OK;
}

static c360_rc put_utf8(struct c360_buf *b, uint32_t cp)
{
	char u[4];
	size_t n;
	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xC0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xE0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		u[0] = (char)(0xF0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[3] = (char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	return c360_buf_append(b, u, n);
}

/* Reads one part (key when key is true, else the value) of the logical
 * line at r->i into out, decoding escapes and following continuations.
 * A key ends at an unescaped '=', ':' or blank; both end at the end of the
 * logical line. */
static c360_rc read_part(struct rd *r, bool key, struct c360_buf *out)
{
	c360_rc rc;
	while (r->i < r->n) {
		char c = r->s[r->i];
		if (eol(c))
			return C360_OK;
		if (key && (c == '=' || c == ':' || blank(c)))
			return C360_OK;
		if (c == 0)
			return fail(r, r->i, "NUL byte");
		if (c != '\\') {
			/* copy a run of plain UTF-8 */
			size_t start = r->i;
			while (r->i < r->n && r->s[r->i] != '\\' && r->s[r->i] && !eol(r->s[r->i]) &&
			       !(key && (r->s[r->i] == '=' || r->s[r->i] == ':' || blank(r->s[r->i]))))
				r->i++;
			size_t ok = c360_utf8_prefix(r->s + start, r->i - start);
			if (ok < r->i - start)
				return fail(r, start + ok, "invalid UTF-8");
			if ((rc = c360_buf_append(out, r->s + start, r->i - start)))
				goto toobig;
			continue;
		}
		size_t esc_at = r->i++;
		if (r->i >= r->n)
			return C360_OK; /* a backslash ending the file: dropped, as Java does */
		c = r->s[r->i];
		if (eol(c)) {
			/* continuation: the next line's leading blanks are dropped */
			next_line(r);
			while (r->i < r->n && blank(r->s[r->i]))
				r->i++;
			continue;
		}
		r->i++;
		switch (c) {
		case 't': rc = c360_buf_putc(out, '\t'); break;
		case 'n': rc = c360_buf_putc(out, '\n'); break;
		case 'r': rc = c360_buf_putc(out, '\r'); break;
		case 'f': rc = c360_buf_putc(out, '\f'); break;
		case 'u': {
			unsigned cu = 0, lo = 0; /* set by read_u on success (gcc -O3 cannot tell) */
			if ((rc = read_u(r, esc_at, &cu)))
				return rc;
			uint32_t cp = cu;
			if (cu >= 0xDC00 && cu <= 0xDFFF)
				return fail(r, esc_at, "lone low surrogate \\u%04X", cu);
			if (cu >= 0xD800 && cu <= 0xDBFF) {
				size_t lo_at = r->i;
				if (r->i + 1 >= r->n || r->s[r->i] != '\\' || r->s[r->i + 1] != 'u')
					return fail(r, esc_at, "high surrogate \\u%04X not followed by a low one", cu);
				r->i += 2;
				if ((rc = read_u(r, lo_at, &lo)))
					return rc;
				if (lo < 0xDC00 || lo > 0xDFFF)
					return fail(r, lo_at, "\\u%04X is not a low surrogate (after \\u%04X)", lo, cu);
				cp = 0x10000 + ((cu - 0xD800) << 10) + (lo - 0xDC00);
			}
			if (cp == 0)
				return fail(r, esc_at, "\\u0000 (NUL) is not allowed");
			rc = put_utf8(out, cp);
			break;
		}
		default:
			if (c == 0)
				return fail(r, r->i - 1, "NUL byte");
			if ((unsigned char)c >= 0x80) {
				/* an escaped multi-byte character: itself */
				r->i--;
				continue;
			}
			rc = c360_buf_putc(out, c);
			break;
		}
		if (rc)
			goto toobig;
	}
	return C360_OK;
toobig:
	if (rc == C360_ERR_TOO_BIG)
		return fail(r, r->i, "%s longer than %u bytes", key ? "key" : "value", C360_PROPS_MAX);
	return rc;
}

c360_rc c360_props_parse(const char *text, size_t len, c360_props_fn fn, void *ctx, struct c360_props_error *err)
{
	struct rd r = {.s = text, .n = len, .line = 1, .err = err};
	struct c360_buf k, v;
	c360_buf_init(&k, C360_PROPS_MAX);
	c360_buf_init(&v, C360_PROPS_MAX);
	c360_rc rc = C360_OK;
	/* a UTF-8 byte order mark is skipped */
	if (len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3))
		r.i = r.line_start = 3;
	while (r.i < r.n) {
		while (r.i < r.n && blank(r.s[r.i]))
			r.i++;
		if (r.i >= r.n)
			break;
		char c = r.s[r.i];
		if (eol(c)) {
			next_line(&r);
			continue;
		}
		if (c == '#' || c == '!') {
			/* a comment is one natural line: no continuation */
			while (r.i < r.n && !eol(r.s[r.i]))
				r.i++;
			if (r.i < r.n)
				next_line(&r);
			continue;
		}
		unsigned line = r.line;
		c360_buf_reset(&k);
		c360_buf_reset(&v);
		if ((rc = read_part(&r, true, &k)))
			goto out;
		/* separator: blanks, then at most one '=' or ':', then blanks
		 * (blanks inside continuations included) */
		bool sep = false;
		for (;;) {
			if (r.i >= r.n)
				break;
			char d = r.s[r.i];
			if (blank(d)) {
				r.i++;
			} else if (!sep && (d == '=' || d == ':')) {
				sep = true;
				r.i++;
			} else if (d == '\\' && r.i + 1 < r.n && eol(r.s[r.i + 1])) {
				r.i++;
				next_line(&r);
			} else {
				break;
			}
		}
		if ((rc = read_part(&r, false, &v)))
			goto out;
		if (r.i < r.n)
			next_line(&r);
		if ((rc = fn(c360_buf_cstr(&k), k.len, c360_buf_cstr(&v), v.len, line, ctx)))
			goto out;
	}
out:
	c360_buf_release(&k);
	c360_buf_release(&v);
	return rc;
}

void c360_props_error_str(const struct c360_props_error *err, char *out, size_t outlen)
{
	snprintf(out, outlen, "line %u, column %u: %s", err->line, err->col, err->msg);
}
