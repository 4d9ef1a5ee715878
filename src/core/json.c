/* The JSON core: a strict RFC 8259 parser into an arena DOM, a compact/pretty
 * writer, JSON Pointer (RFC 6901) and builders (contract in core/json.h).
 *
 * Speed comes from doing as little as possible per byte and per node:
 *  - the input is copied once into the document's arena (with zero padding at
 *    the end, so scanners may read 16 bytes past any position without bounds
 *    checks); strings are unescaped in place in that copy and values point
 *    into it (zero-copy); the NUL padding stops every scanner at the end;
 *  - nodes are bump-allocated from big arena chunks (one malloc for a typical
 *    document: the doc, its first chunk and the input copy are one block), so
 *    they lie contiguously in document order;
 *  - the parser is one iterative loop with an explicit container stack (depth
 *    is bounded by max_depth, hostile nesting never touches the C stack);
 *  - string scanning and escaping test 16 bytes at a time (SSE2, or a portable
 *    8-byte SWAR fallback) for '"', '\\', control and non-ASCII bytes;
 *  - duplicate keys are found by a linear scan while an object is small and by
 *    one hash pass when it closes once it has grown past DUP_LINEAR members.
 *
 * Node model: containers keep a singly linked child list (first/last/len); an
 * object's children are its member values, each carrying its key. */
#include "core/json.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "core/banned.h"

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* Bytes of zero padding after the input copy and after every string the
 * arena holds, so 16-byte loads never leave the allocation. */
#define PAD       64
#define STR_SLACK 16
/* Objects up to this many members check duplicate keys by a linear scan. */
#define DUP_LINEAR 24

/* Node flags. RAW: the string needs no escaping when written as UTF-8 (it
 * came from the input without escapes, or a builder found nothing to escape
 * in it); RAWA: and it is pure ASCII. The K* variants say the same of the
 * member's key. */
enum {
	F_LINKED = 1, /* linked into a container or the doc's root */
	F_DEDUPE = 2, /* parser: large object, check duplicate keys on close */
	F_RAW = 4,
	F_RAWA = 8,
	F_KRAW = 16,
	F_KRAWA = 32,
};
#define F_VALBITS (F_RAW | F_RAWA)
#define F_KEYBITS (F_KRAW | F_KRAWA)

struct c360_json {
	c360_json *next; /* next sibling */
	const char *key; /* member key (NUL-terminated) when in an object */
	union {
		const char *s;    /* string contents / number text */
		c360_json *first; /* first child */
	} a;
	c360_json *last; /* last child (containers) */
	c360_json *cur;  /* arrays: element curi, the last one c360_json_at found */
	uint32_t len;    /* string/number bytes; container child count */
	uint32_t curi;
	uint32_t keylen;
	uint8_t type;
	uint8_t flags;
};

struct chunk {
	struct chunk *next;
	char *cur, *end;
	char data[];
};

struct c360_json_doc {
	c360_json *root;
	struct chunk *head;
	size_t next_size;
	struct chunk *firstc; /* allocated in the same block as the doc */
};

/* ---- allocation (with failure injection for tests) ---- */

static _Thread_local unsigned fail_after; /* 0 = off; 1 = the next one fails */

static inline bool inject_failure(void)
{
	if (likely(!fail_after))
		return false;
	return --fail_after == 0;
}

static void *jmalloc(size_t n)
{
	return inject_failure() ? NULL : malloc(n);
}

static void *jrealloc(void *p, size_t n)
{
	return inject_failure() ? NULL : realloc(p, n);
}

unsigned c360_json_test_fail_alloc(unsigned n)
{
	unsigned left = fail_after;
	fail_after = n;
	return left;
}

/* ---- arena ---- */

#define ALIGN8(n) (((n) + 7u) & ~(size_t)7u)
#define CHUNK_MIN 4096u

static c360_json_doc *doc_alloc(size_t first_bytes)
{
	if (first_bytes > SIZE_MAX / 2)
		return NULL;
	first_bytes = ALIGN8(first_bytes);
	c360_json_doc *d = jmalloc(sizeof(*d) + sizeof(struct chunk) + first_bytes);
	if (!d)
		return NULL;
	struct chunk *c = (struct chunk *)(void *)(d + 1);
	d->root = NULL;
	c->next = NULL;
	c->cur = c->data;
	c->end = c->data + first_bytes;
	d->head = d->firstc = c;
	d->next_size = first_bytes < CHUNK_MIN ? CHUNK_MIN : first_bytes;
	return d;
}

static void *arena_alloc_slow(c360_json_doc *d, size_t n)
{
	/* chunks double up to 32 MiB, then grow by 32 MiB steps */
	size_t sz = d->next_size < (32u << 20) ? d->next_size * 2 : d->next_size;
	if (sz < n)
		sz = n;
	if (sz > SIZE_MAX / 2 - sizeof(struct chunk))
		return NULL;
	struct chunk *c = jmalloc(sizeof(*c) + sz);
	if (!c)
		return NULL;
	d->next_size = sz;
	c->cur = c->data + n;
	c->end = c->data + sz;
	/* keep the current chunk first when it still has room worth using */
	c->next = d->head;
	d->head = c;
	return c->data;
}

static inline void *arena_alloc(c360_json_doc *d, size_t n)
{
	struct chunk *c = d->head;
	n = ALIGN8(n);
	if (likely((size_t)(c->end - c->cur) >= n)) {
		void *p = c->cur;
		c->cur += n;
		return p;
	}
	return arena_alloc_slow(d, n);
}

static inline c360_json *node_new(c360_json_doc *d, uint8_t type)
{
	c360_json *n = arena_alloc(d, sizeof(*n));
	if (!n)
		return NULL;
	n->next = NULL;
	n->key = NULL;
	n->a.s = NULL;
	n->last = NULL;
	n->cur = NULL;
	n->len = 0;
	n->curi = 0;
	n->keylen = 0;
	n->type = type;
	n->flags = 0;
	return n;
}

/* A NUL-terminated copy of s[0..len) with STR_SLACK readable bytes after it. */
static char *arena_strdup(c360_json_doc *d, const char *s, size_t len)
{
	if (len > SIZE_MAX / 2)
		return NULL;
	char *p = arena_alloc(d, len + 1 + STR_SLACK);
	if (!p)
		return NULL;
	if (len)
		memcpy(p, s, len);
	memset(p + len, 0, 1 + STR_SLACK);
	return p;
}

c360_json_doc *c360_json_doc_new(void)
{
	return doc_alloc(1024);
}

void c360_json_doc_free(c360_json_doc *doc)
{
	if (!doc)
		return;
	struct chunk *c = doc->head;
	while (c && c != doc->firstc) {
		struct chunk *n = c->next;
		free(c);
		c = n;
	}
	free(doc);
}

c360_json *c360_json_doc_root(const c360_json_doc *doc)
{
	return doc ? doc->root : NULL;
}

void c360_json_doc_set_root(c360_json_doc *doc, c360_json *root)
{
	/* the root is not "linked": it may be wrapped into a new container of
	 * the same doc that then becomes the root */
	if (doc)
		doc->root = root;
}

/* ---- character classes ---- */

static const unsigned char ws_tab[256] = {[' '] = 1, ['\t'] = 1, ['\n'] = 1, ['\r'] = 1};

static const signed char hex_tab[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,  ['6'] = 7,  ['7'] = 8,
    ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
    ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
}; /* value + 1; 0 = not a hex digit */

static inline char *skip_ws(char *p)
{
	while (ws_tab[(unsigned char)*p])
		p++;
	return p;
}

/* Length of the valid UTF-8 sequence at s (lead byte >= 0x80), 0 if invalid:
 * overlongs, UTF-16 surrogates and code points above U+10FFFF are invalid. */
static inline int utf8_seq(const unsigned char *s)
{
	unsigned c = s[0];
	if (c >= 0xC2 && c <= 0xDF)
		return (s[1] & 0xC0) == 0x80 ? 2 : 0;
	if (c >= 0xE0 && c <= 0xEF) {
		unsigned lo = 0x80, hi = 0xBF;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
		if (s[1] < lo || s[1] > hi || (s[2] & 0xC0) != 0x80)
			return 0;
		return 3;
	}
	if (c >= 0xF0 && c <= 0xF4) {
		unsigned lo = 0x80, hi = 0xBF;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
		if (s[1] < lo || s[1] > hi || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
			return 0;
		return 4;
	}
	return 0;
}

/* Bounded variant for caller-supplied strings (no padding guarantee). */
static int utf8_seq_n(const unsigned char *s, size_t n)
{
	unsigned char tmp[4] = {0, 0, 0, 0};
	if (n >= 4)
		return utf8_seq(s);
	memcpy(tmp, s, n);
	return utf8_seq(tmp);
}

/* Bit i set when p[i] is '"', '\\', a control byte (< 0x20) or >= 0x80. */
static inline unsigned special16(const char *p);

/* True when s[0..len) is valid UTF-8; *raw then receives its F_RAW|F_RAWA
 * bits as the parser gives them (F_RAW: nothing to escape, so the writer
 * copies it without looking; F_RAWA: ASCII as well). Plain ASCII goes 16
 * bytes at a time. */
static bool utf8_valid(const char *s, size_t len, unsigned *raw)
{
	const unsigned char *p = (const unsigned char *)s, *e = p + len;
	unsigned r = F_RAW | F_RAWA;
	while (e - p >= 16 && !special16((const char *)p))
		p += 16;
	while (p < e) {
		unsigned c = *p;
		if (c < 0x80) {
			/* '"' 0x22, '\\' 0x5c or a control byte: escaped when written */
			if (c < 0x20 || c == '"' || c == '\\')
				r = 0;
			p++;
			continue;
		}
		int n = utf8_seq_n(p, (size_t)(e - p));
		if (!n)
			return false;
		r &= ~(unsigned)F_RAWA;
		p += n;
	}
	*raw = r;
	return true;
}

/* Bit i set when p[i] is '"', '\\', a control byte (< 0x20) or >= 0x80. */
static inline unsigned special16(const char *p)
{
#if defined(__SSE2__)
	__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
	__m128i q = _mm_cmpeq_epi8(v, _mm_set1_epi8('"'));
	__m128i b = _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'));
	__m128i c = _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)); /* signed: also >= 0x80 */
	return (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(q, b), c));
#else
	unsigned m = 0;
	for (int i = 0; i < 16; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80)
			m |= 1u << i;
	}
	return m;
#endif
}

/* Bit i set when p[i] needs escaping in output: '"', '\\', < 0x20, and
 * (ascii) >= 0x80. */
static inline unsigned escape16(const char *p, bool ascii)
{
#if defined(__SSE2__)
	__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
	__m128i q = _mm_cmpeq_epi8(v, _mm_set1_epi8('"'));
	__m128i b = _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'));
	__m128i c;
	if (ascii)
		c = _mm_cmplt_epi8(v, _mm_set1_epi8(0x20));
	else
		c = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1F)), v);
	return (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(q, b), c));
#else
	unsigned m = 0;
	for (int i = 0; i < 16; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '"' || c == '\\' || c < 0x20 || (ascii && c >= 0x80))
			m |= 1u << i;
	}
	return m;
#endif
}

/* ---- parser ---- */

struct parser {
	c360_json_doc *doc;
	char *base, *end;
	size_t max_depth;
	const char *const *keep; /* see c360_json_parse_opts */
	size_t nkeep;
	const char *err_at;
	const char *reason;
	c360_rc rc;
	c360_json **stack;
	size_t stack_cap;
	c360_json *local_stack[64];
	c360_json **htab; /* duplicate-key scratch for large objects */
	size_t hcap;
	/* validation without a DOM: every scalar lands in vscal, every open
	 * container is vobj or varr (only their type is read) */
	c360_json vscal, vobj, varr;
};

static __attribute__((noinline, cold)) void *perr(struct parser *P, const char *at,
                                                  const char *reason, c360_rc rc)
{
	if (!P->reason) {
		P->err_at = at;
		P->reason = reason;
		P->rc = rc;
	}
	return NULL;
}

/* ---- members left out (c360_json_parse_opts.keep) ---- */

static bool kept(const struct parser *P, const char *k, size_t n)
{
	for (size_t i = 0; i < P->nkeep; i++) {
		const char *w = P->keep[i];
		if ((n ? w[0] == k[0] : !w[0]) && strlen(w) == n && !memcmp(w, k, n))
			return true;
	}
	return false;
}

/* The skipper scans 64 bytes at a time: bit masks of the quotes, the
 * backslashes and the brackets; the bytes inside strings are the prefix XOR
 * of the quote mask (so brackets in strings do not count), and only a block
 * where the depth could reach zero is walked bracket by bracket. A block
 * with a backslash is walked byte by byte (escapes are rare in documents
 * skipped for size: schemas). The input is NUL-padded by at least 64 bytes,
 * so a block that starts before the end may be read whole, and every bracket
 * found lies before the end (the padding holds none). */
struct skipmask {
	uint64_t quote, bslash, open, close;
};

static inline void skip_masks(const char *p, struct skipmask *m)
{
#if defined(__SSE2__)
	uint64_t q = 0, b = 0, o = 0, c = 0;
	for (int i = 0; i < 4; i++) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * i));
		__m128i t = _mm_or_si128(v, _mm_set1_epi8(0x20)); /* '[' -> '{', ']' -> '}' */
		q |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')))
		     << (16 * i);
		b |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('\\')))
		     << (16 * i);
		o |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(t, _mm_set1_epi8('{')))
		     << (16 * i);
		c |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(t, _mm_set1_epi8('}')))
		     << (16 * i);
	}
	m->quote = q;
	m->bslash = b;
	m->open = o;
	m->close = c;
#else
	memset(m, 0, sizeof *m);
	for (int i = 0; i < 64; i++) {
		unsigned char ch = (unsigned char)p[i];
		uint64_t bit = 1ull << i;
		if (ch == '"')
			m->quote |= bit;
		else if (ch == '\\')
			m->bslash |= bit;
		else if (ch == '{' || ch == '[')
			m->open |= bit;
		else if (ch == '}' || ch == ']')
			m->close |= bit;
	}
#endif
}

/* Bits set in x, without a call (the baseline x86-64 target has no POPCNT:
 * __builtin_popcountll would call libgcc). */
static inline unsigned popcount64(uint64_t x)
{
	x = x - ((x >> 1) & 0x5555555555555555ull);
	x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
	return (unsigned)((x * 0x0101010101010101ull) >> 56);
}

static inline uint64_t prefix_xor(uint64_t x)
{
	x ^= x << 1;
	x ^= x << 2;
	x ^= x << 4;
	x ^= x << 8;
	x ^= x << 16;
	x ^= x << 32;
	return x;
}

/* The end of the object or array at p ('{' or '['), or of the string at p,
 * scanning only for strings and brackets; NULL (with the error) when the
 * input ends first. */
static char *skip_value(struct parser *P, char *p)
{
	size_t depth = 0;
	bool in_str = false;
	if (*p == '"') { /* a string: its closing quote */
		for (p++; p < P->end; p++) {
			if (*p == '\\')
				p++;
			else if (*p == '"')
				return p + 1;
		}
		return perr(P, P->end, "unterminated string", C360_ERR_INVALID);
	}
	while (p < P->end) {
		struct skipmask m;
		skip_masks(p, &m);
		if (unlikely(m.bslash)) {
			/* byte by byte through this block */
			char *e = p + 64;
			for (; p < e; p++) {
				char ch = *p;
				if (in_str) {
					if (ch == '\\')
						p++;
					else if (ch == '"')
						in_str = false;
				} else if (ch == '"') {
					in_str = true;
				} else if (ch == '{' || ch == '[') {
					depth++;
				} else if (ch == '}' || ch == ']') {
					if (!--depth)
						return p + 1;
				}
			}
			continue; /* p may be one past the block after an escape */
		}
		uint64_t ins = prefix_xor(m.quote) ^ (in_str ? ~0ull : 0);
		in_str = ins >> 63;
		uint64_t o = m.open & ~ins, c = m.close & ~ins;
		size_t nc = popcount64(c);
		if (depth > nc) {
			depth += popcount64(o) - nc;
		} else {
			/* walk the brackets in order: the depth may reach zero here */
			uint64_t all = o | c;
			while (all) {
				int i = __builtin_ctzll(all);
				all &= all - 1;
				if (o >> i & 1) {
					depth++;
				} else if (!--depth) {
					return p + i + 1;
				}
			}
		}
		if (unlikely(depth > P->max_depth))
			return perr(P, p, "nesting too deep", C360_ERR_LIMIT);
		p += 64;
	}
	return perr(P, P->end, "unexpected end of input", C360_ERR_INVALID);
}

static const unsigned char scalar_end_tab[256] = {
	[','] = 1, ['}'] = 1, [']'] = 1, [' '] = 1, ['\t'] = 1, ['\n'] = 1, ['\r'] = 1, [0] = 1};

/* A scalar at depth 0 (a number or literal): up to what ends it. */
static char *skip_member_value(struct parser *P, char *p)
{
	p = skip_ws(p);
	if (*p == '"' || *p == '{' || *p == '[')
		return skip_value(P, p);
	char *s = p;
	while (!scalar_end_tab[(unsigned char)*p])
		p++;
	if (p == s)
		return perr(P, s, "expected a value", C360_ERR_INVALID);
	return p;
}

static unsigned hex4(const char *p)
{
	int a = hex_tab[(unsigned char)p[0]], b = hex_tab[(unsigned char)p[1]],
	    c = hex_tab[(unsigned char)p[2]], d = hex_tab[(unsigned char)p[3]];
	if (!a || !b || !c || !d)
		return 0x110000u;
	return (unsigned)(((a - 1) << 12) | ((b - 1) << 8) | ((c - 1) << 4) | (d - 1));
}

static inline char *put_utf8(char *w, unsigned cp)
{
	if (cp < 0x80) {
		*w++ = (char)cp;
	} else if (cp < 0x800) {
		*w++ = (char)(0xC0 | (cp >> 6));
		*w++ = (char)(0x80 | (cp & 0x3F));
	} else if (cp < 0x10000) {
		*w++ = (char)(0xE0 | (cp >> 12));
		*w++ = (char)(0x80 | ((cp >> 6) & 0x3F));
		*w++ = (char)(0x80 | (cp & 0x3F));
	} else {
		*w++ = (char)(0xF0 | (cp >> 18));
		*w++ = (char)(0x80 | ((cp >> 12) & 0x3F));
		*w++ = (char)(0x80 | ((cp >> 6) & 0x3F));
		*w++ = (char)(0x80 | (cp & 0x3F));
	}
	return w;
}

/* Parses the string whose opening quote is just before p. The common case
 * (no escapes) is inline: the string stays where it is and its closing quote
 * becomes its NUL. *raw receives F_RAW|F_RAWA bits. Returns the position after
 * the closing quote, or NULL on error. */
static char *parse_string_escaped(struct parser *P, char *start, char *p, const char **out,
                                  size_t *outlen);

static inline __attribute__((always_inline)) char *
parse_string(struct parser *P, char *p, const char **out, size_t *outlen, unsigned *raw)
{
	char *start = p;
	unsigned r = F_RAW | F_RAWA;
	for (;;) {
		unsigned m = special16(p);
		if (likely(!m)) {
			p += 16;
			continue;
		}
		p += __builtin_ctz(m);
		unsigned char c = (unsigned char)*p;
		if (likely(c == '"')) {
			*p = '\0';
			*out = start;
			*outlen = (size_t)(p - start);
			*raw = r;
			return p + 1;
		}
		if (c >= 0x80) {
			int n = utf8_seq((const unsigned char *)p);
			if (!n)
				return perr(P, p, "invalid UTF-8 in string", C360_ERR_INVALID);
			r = F_RAW;
			p += n;
			continue;
		}
		if (c == '\\') {
			*raw = 0;
			return parse_string_escaped(P, start, p, out, outlen);
		}
		if (p >= P->end)
			return perr(P, start - 1, "unterminated string", C360_ERR_INVALID);
		return perr(P, p, "control character in string (must be escaped)",
		            C360_ERR_INVALID);
	}
}

/* The slow path from the first backslash at p: unescape in place. */
static __attribute__((noinline)) char *parse_string_escaped(struct parser *P, char *start, char *p,
                                                            const char **out, size_t *outlen)
{
	/* escapes: copy down in place; w <= r always */
	char *w = p, *r = p;
	for (;;) {
		unsigned m = special16(r);
		if (!m) {
#if defined(__SSE2__)
			_mm_storeu_si128((__m128i *)(void *)w,
			                 _mm_loadu_si128((const __m128i *)(const void *)r));
#else
			memmove(w, r, 16);
#endif
			w += 16;
			r += 16;
			continue;
		}
		int k = __builtin_ctz(m);
		if (k) {
			memmove(w, r, (size_t)k);
			w += k;
			r += k;
		}
		unsigned char c = (unsigned char)*r;
		if (c == '"') {
			*w = '\0';
			*out = start;
			*outlen = (size_t)(w - start);
			return r + 1;
		}
		if (c >= 0x80) {
			int n = utf8_seq((const unsigned char *)r);
			if (!n)
				return perr(P, r, "invalid UTF-8 in string", C360_ERR_INVALID);
			memmove(w, r, (size_t)n);
			w += n;
			r += n;
			continue;
		}
		if (c != '\\') {
			if (r >= P->end)
				return perr(P, start - 1, "unterminated string", C360_ERR_INVALID);
			return perr(P, r, "control character in string (must be escaped)",
			            C360_ERR_INVALID);
		}
		switch (r[1]) {
		case '"':
			*w++ = '"';
			r += 2;
			break;
		case '\\':
			*w++ = '\\';
			r += 2;
			break;
		case '/':
			*w++ = '/';
			r += 2;
			break;
		case 'b':
			*w++ = '\b';
			r += 2;
			break;
		case 'f':
			*w++ = '\f';
			r += 2;
			break;
		case 'n':
			*w++ = '\n';
			r += 2;
			break;
		case 'r':
			*w++ = '\r';
			r += 2;
			break;
		case 't':
			*w++ = '\t';
			r += 2;
			break;
		case 'u': {
			unsigned cp = hex4(r + 2);
			if (cp > 0xFFFF)
				return perr(P, r, "invalid \\u escape (need 4 hex digits)",
				            C360_ERR_INVALID);
			if (cp >= 0xDC00 && cp <= 0xDFFF)
				return perr(P, r, "lone low surrogate in \\u escape",
				            C360_ERR_INVALID);
			if (cp >= 0xD800 && cp <= 0xDBFF) {
				unsigned lo =
				    (r[6] == '\\' && r[7] == 'u') ? hex4(r + 8) : 0x110000u;
				if (lo < 0xDC00 || lo > 0xDFFF)
					return perr(P, r, "lone high surrogate in \\u escape",
					            C360_ERR_INVALID);
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				r += 12;
			} else {
				r += 6;
			}
			w = put_utf8(w, cp);
			break;
		}
		default:
			if (r + 1 >= P->end)
				return perr(P, start - 1, "unterminated string", C360_ERR_INVALID);
			return perr(P, r, "invalid escape in string", C360_ERR_INVALID);
		}
	}
}

static inline bool lit4(const char *p, const char *lit)
{
	uint32_t a, b;
	memcpy(&a, p, 4);
	memcpy(&b, lit, 4);
	return a == b;
}

/* Scans a number per the RFC grammar; returns the end or NULL. */
static char *scan_number(struct parser *P, char *p)
{
	char *s = p;
	if (*p == '-')
		p++;
	if (*p == '0') {
		p++;
		if ((unsigned)(*p - '0') < 10)
			return perr(P, s, "leading zero in number", C360_ERR_INVALID);
	} else if ((unsigned)(*p - '1') < 9) {
		p++;
		while ((unsigned)(*p - '0') < 10)
			p++;
	} else {
		return perr(P, p, "invalid number (expected a digit)", C360_ERR_INVALID);
	}
	if (*p == '.') {
		p++;
		if ((unsigned)(*p - '0') >= 10)
			return perr(P, p, "invalid number (expected a digit after '.')",
			            C360_ERR_INVALID);
		while ((unsigned)(*p - '0') < 10)
			p++;
	}
	if ((*p | 0x20) == 'e') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if ((unsigned)(*p - '0') >= 10)
			return perr(P, p, "invalid number (expected a digit in exponent)",
			            C360_ERR_INVALID);
		while ((unsigned)(*p - '0') < 10)
			p++;
	}
	return p;
}

/* FNV-1a from a per-parse seed (the parser's stack address, which ASLR
 * varies), so crafted keys cannot make large objects collide on purpose. */
static uint64_t key_hash(uint64_t seed, const char *k, size_t n)
{
	uint64_t h = 1469598103934665603ull ^ seed;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)k[i]) * 1099511628211ull;
	return h ^ (h >> 29);
}

/* Removes earlier duplicates from a large object: the first occurrence keeps
 * its position and takes the last occurrence's value. */
static c360_rc dedupe_object(struct parser *P, c360_json *obj)
{
	size_t need = 16;
	while (need < obj->len * 2)
		need *= 2;
	if (need > P->hcap) {
		c360_json **t = jrealloc(P->htab, need * sizeof(*t));
		if (!t)
			return C360_ERR_NOMEM;
		P->htab = t;
		P->hcap = need;
	}
	memset(P->htab, 0, need * sizeof(*P->htab));
	uint64_t seed =
	    ((uint64_t)(uintptr_t)P ^ (uint64_t)(uintptr_t)P->base) * 0x9E3779B97F4A7C15ull;
	c360_json *prev = NULL, *m = obj->a.first;
	size_t mask = need - 1;
	while (m) {
		size_t i = (size_t)key_hash(seed, m->key, m->keylen) & mask;
		c360_json *hit = NULL;
		while (P->htab[i]) {
			c360_json *e = P->htab[i];
			if (e->keylen == m->keylen && !memcmp(e->key, m->key, m->keylen)) {
				hit = e;
				break;
			}
			i = (i + 1) & mask;
		}
		if (!hit) {
			P->htab[i] = m;
			prev = m;
			m = m->next;
			continue;
		}
		/* move m's value into hit, unlink m */
		hit->a = m->a;
		hit->last = m->last;
		hit->len = m->len;
		hit->cur = NULL;
		hit->type = m->type;
		hit->flags = (uint8_t)((hit->flags & ~F_VALBITS) | (m->flags & F_VALBITS));
		prev->next = m->next;
		if (obj->last == m)
			obj->last = prev;
		obj->len--;
		m = m->next;
	}
	return C360_OK;
}

/* One of 32 bits for a key, from its length and first and last bytes. */
static inline uint32_t key_bit(const char *k, size_t n)
{
	if (!n)
		return 1;
	unsigned h = (unsigned char)k[0] + (unsigned char)k[n - 1] * 5u + (unsigned)n * 3u;
	return 1u << (h & 31);
}

static c360_json **stack_grow(struct parser *P)
{
	size_t lim = SIZE_MAX / sizeof(c360_json *) / 4;
	if (P->max_depth < lim)
		lim = P->max_depth + 1;
	if (P->stack_cap >= lim)
		return NULL;
	size_t ncap = P->stack_cap * 2;
	if (ncap > lim)
		ncap = lim;
	c360_json **s;
	if (P->stack == P->local_stack) {
		s = jmalloc(ncap * sizeof(*s));
		if (s)
			memcpy(s, P->stack, P->stack_cap * sizeof(*s));
	} else {
		s = jrealloc(P->stack, ncap * sizeof(*s));
	}
	if (!s)
		return NULL;
	P->stack = s;
	P->stack_cap = ncap;
	return s;
}

/* The parse loop. p points into the padded copy. */
/* validate is a constant at each call site, so this is specialized twice:
 * building a DOM, and checking only (no allocation, no linking). */
static inline __attribute__((always_inline)) c360_json *parse_tree_impl(struct parser *P, char *p,
                                                                        const bool validate)
{
	c360_json_doc *doc = P->doc;
	c360_json *root = NULL, *parent = NULL, *node;
	c360_json *replace = NULL, *replace_prev = NULL;
	const char *key = NULL;
	size_t keylen = 0, depth = 0;
	unsigned kraw = 0; /* F_KRAW/F_KRAWA of the pending key */

value:
	p = skip_ws(p);
	node = validate ? &P->vscal : arena_alloc(doc, sizeof(*node));
	if (unlikely(!node))
		return perr(P, p, "out of memory", C360_ERR_NOMEM);
	node->next = NULL;
	node->key = key;
	node->keylen = (uint32_t)keylen;
	node->flags = (uint8_t)(F_LINKED | kraw);
	switch (*p) {
	case '"': {
		unsigned raw;
		size_t slen;
		char *q = p;
		node->type = C360_JSON_STRING;
		p = parse_string(P, p + 1, &node->a.s, &slen, &raw);
		if (unlikely(!p))
			return NULL;
		if (unlikely(slen > UINT32_MAX))
			return perr(P, q, "string longer than 4 GiB", C360_ERR_LIMIT);
		node->len = (uint32_t)slen;
		node->flags |= (uint8_t)raw;
		break;
	}
	case '{':
	case '[':
		if (validate)
			node = *p == '{' ? &P->vobj : &P->varr;
		node->type = *p == '{' ? C360_JSON_OBJECT : C360_JSON_ARRAY;
		node->a.first = NULL;
		node->last = NULL;
		node->cur = NULL;
		node->len = 0;
		node->curi = 0;
		break;
	case 't':
		if (!lit4(p, "true"))
			return perr(P, p, "invalid literal (expected true)", C360_ERR_INVALID);
		node->type = C360_JSON_TRUE;
		p += 4;
		break;
	case 'f':
		if (!lit4(p + 1, "alse"))
			return perr(P, p, "invalid literal (expected false)", C360_ERR_INVALID);
		node->type = C360_JSON_FALSE;
		p += 5;
		break;
	case 'n':
		if (!lit4(p, "null"))
			return perr(P, p, "invalid literal (expected null)", C360_ERR_INVALID);
		node->type = C360_JSON_NULL;
		p += 4;
		break;
	case '-':
	case '0':
	case '1':
	case '2':
	case '3':
	case '4':
	case '5':
	case '6':
	case '7':
	case '8':
	case '9': {
		char *s = p;
		p = scan_number(P, p);
		if (unlikely(!p))
			return NULL;
		if (unlikely((size_t)(p - s) > UINT32_MAX))
			return perr(P, s, "number longer than 4 GiB", C360_ERR_LIMIT);
		node->type = C360_JSON_NUMBER;
		node->a.s = s;
		node->len = (uint32_t)(p - s);
		break;
	}
	default:
		if (p >= P->end)
			return perr(P, p, "unexpected end of input (expected a value)",
			            C360_ERR_INVALID);
		if (*p == ']' || *p == '}')
			return perr(P, p, "expected a value", C360_ERR_INVALID);
		return perr(P, p, "unexpected character (expected a value)", C360_ERR_INVALID);
	}
	/* link */
	if (unlikely(!parent)) {
		root = node;
	} else if (validate) {
		/* nothing to link */
	} else if (likely(!replace)) {
		if (parent->last)
			parent->last->next = node;
		else
			parent->a.first = node;
		parent->last = node;
		parent->len++;
	} else {
		node->next = replace->next;
		if (replace_prev)
			replace_prev->next = node;
		else
			parent->a.first = node;
		if (parent->last == replace)
			parent->last = node;
		replace = NULL;
	}
	if (node->type >= C360_JSON_ARRAY) {
		if (unlikely(depth >= P->max_depth))
			return perr(P, p, "nesting too deep", C360_ERR_LIMIT);
		if (unlikely(depth >= P->stack_cap) && !stack_grow(P))
			return perr(P, p, "out of memory", C360_ERR_NOMEM);
		P->stack[depth++] = node;
		parent = node;
		p = skip_ws(p + 1);
		if (node->type == C360_JSON_OBJECT) {
			if (*p == '"')
				goto member;
			if (*p == '}') {
				p++;
				goto close;
			}
			if (p >= P->end)
				return perr(P, p, "unexpected end of input in object",
				            C360_ERR_INVALID);
			return perr(P, p, "expected a string key or '}'", C360_ERR_INVALID);
		}
		if (*p == ']') {
			p++;
			goto close;
		}
		key = NULL;
		keylen = 0;
		kraw = 0;
		goto value;
	}

after:
	if (unlikely(!depth))
		goto done;
	p = skip_ws(p);
	if (parent->type == C360_JSON_OBJECT) {
		if (likely(*p == ',')) {
			p = skip_ws(p + 1);
			if (likely(*p == '"'))
				goto member;
			if (*p == '}')
				return perr(P, p, "trailing comma in object", C360_ERR_INVALID);
			if (p >= P->end)
				return perr(P, p, "unexpected end of input in object",
				            C360_ERR_INVALID);
			return perr(P, p, "expected a string key", C360_ERR_INVALID);
		}
		if (*p == '}') {
			p++;
			goto close;
		}
		if (p >= P->end)
			return perr(P, p, "unexpected end of input in object", C360_ERR_INVALID);
		return perr(P, p, "expected ',' or '}' after object member", C360_ERR_INVALID);
	}
	if (likely(*p == ',')) {
		p = skip_ws(p + 1);
		if (*p == ']')
			return perr(P, p, "trailing comma in array", C360_ERR_INVALID);
		key = NULL;
		keylen = 0;
		kraw = 0;
		goto value;
	}
	if (*p == ']') {
		p++;
		goto close;
	}
	if (p >= P->end)
		return perr(P, p, "unexpected end of input in array", C360_ERR_INVALID);
	return perr(P, p, "expected ',' or ']' after array element", C360_ERR_INVALID);

member : {
	/* p at the opening quote of a key */
	char *kq = p;
	unsigned raw;
	p = parse_string(P, p + 1, &key, &keylen, &raw);
	if (unlikely(!p))
		return NULL;
	kraw = raw << 2; /* F_RAW -> F_KRAW, F_RAWA -> F_KRAWA */
	if (unlikely(keylen > UINT32_MAX))
		return perr(P, kq, "object key too long", C360_ERR_LIMIT);
	if (P->keep && depth == 1 && !kept(P, key, keylen)) {
		p = skip_ws(p);
		if (unlikely(*p != ':'))
			return perr(P, p, "expected ':' after object key", C360_ERR_INVALID);
		p = skip_member_value(P, p + 1);
		if (unlikely(!p))
			return NULL;
		goto after;
	}
	if (validate) {
		/* duplicates are valid JSON: nothing to check */
	} else if (parent->len <= DUP_LINEAR) {
		/* while parsing, an object's curi is a 32-bit filter of the keys
		 * seen: a key whose bit is clear cannot be a duplicate */
		uint32_t bit = key_bit(key, keylen);
		if (parent->curi & bit) {
			c360_json *prev = NULL;
			for (c360_json *m = parent->a.first; m; prev = m, m = m->next) {
				if (m->keylen == keylen && !memcmp(m->key, key, keylen)) {
					replace = m;
					replace_prev = prev;
					break;
				}
			}
		}
		parent->curi |= bit;
	} else {
		parent->flags |= F_DEDUPE;
	}
	p = skip_ws(p);
	if (unlikely(*p != ':')) {
		if (p >= P->end)
			return perr(P, p, "unexpected end of input in object", C360_ERR_INVALID);
		return perr(P, p, "expected ':' after object key", C360_ERR_INVALID);
	}
	p++;
	goto value;
}

close:
	if (unlikely(parent->flags & F_DEDUPE)) {
		parent->flags &= (uint8_t)~F_DEDUPE;
		if (dedupe_object(P, parent))
			return perr(P, p, "out of memory", C360_ERR_NOMEM);
	}
	depth--;
	parent = depth ? P->stack[depth - 1] : NULL;
	goto after;

done:
	p = skip_ws(p);
	if (p != P->end)
		return perr(P, p, "unexpected data after the JSON value", C360_ERR_INVALID);
	return root;
}

static c360_json *parse_tree(struct parser *P, char *p)
{
	return parse_tree_impl(P, p, false);
}

static c360_json *validate_tree(struct parser *P, char *p)
{
	return parse_tree_impl(P, p, true);
}

static void fill_error(struct c360_json_error *err, const char *text, size_t len, size_t off,
                       const char *reason)
{
	if (!err)
		return;
	if (off > len)
		off = len;
	unsigned line = 1;
	size_t col0 = 0;
	for (size_t i = 0; i < off; i++) {
		if (text[i] == '\n') {
			line++;
			col0 = i + 1;
		}
	}
	err->offset = off;
	err->line = line;
	err->column = (unsigned)(off - col0 + 1);
	snprintf(err->reason, sizeof(err->reason), "%s", reason);
}

/* Parses (out != NULL) or only validates (out == NULL) text[0..len). */
static c360_rc parse_common(const char *text, size_t len, const struct c360_json_parse_opts *opts,
                            c360_json_doc **out, struct c360_json_error *err)
{
	size_t max_depth = opts && opts->max_depth ? opts->max_depth : C360_JSON_DEFAULT_MAX_DEPTH;
	size_t max_size = opts && opts->max_size ? opts->max_size : C360_JSON_DEFAULT_MAX_SIZE;
	if (out)
		*out = NULL;
	if (err) {
		err->offset = 0;
		err->line = 1;
		err->column = 1;
		err->reason[0] = '\0';
	}
	if (!text && len)
		return C360_ERR_INVALID;
	if (len > max_size) {
		char why[120];
		snprintf(why, sizeof(why),
		         "input of %zu bytes is larger than the limit of %zu bytes", len, max_size);
		fill_error(err, text, len, max_size, why);
		return C360_ERR_TOO_BIG;
	}
	/* one block: doc + input copy + padding + room for the nodes */
	size_t copy = ALIGN8(len + PAD);
	/* nodes of typical documents take 2-4x the input; past 1 MiB start with
	 * 1x and let the arena grow, so a big input does not reserve 4x up front */
	size_t nodes = len < 256 ? 1024 : len <= (1u << 20) ? len * 3 : len;
	c360_json_doc *doc = NULL;
	char *base = NULL;
	if (out) {
		doc = doc_alloc(copy + nodes);
		if (doc) {
			/* later chunks grow from the node estimate, not the copy */
			doc->next_size = nodes < CHUNK_MIN ? CHUNK_MIN : nodes;
			base = arena_alloc(doc, copy);
		}
	} else {
		base = jmalloc(copy); /* strings are unescaped in place: a scratch copy */
	}
	if (out ? !doc : !base) {
		fill_error(err, text, len, 0, "out of memory");
		return C360_ERR_NOMEM;
	}
	if (len)
		memcpy(base, text, len);
	memset(base + len, 0, copy - len);

	struct parser P;
	P.doc = doc;
	P.base = base;
	P.end = base + len;
	P.max_depth = max_depth;
	P.keep = opts ? opts->keep : NULL;
	P.nkeep = opts ? opts->nkeep : 0;
	P.err_at = NULL;
	P.reason = NULL;
	P.rc = C360_OK;
	P.stack = P.local_stack;
	P.stack_cap = sizeof(P.local_stack) / sizeof(P.local_stack[0]);
	P.htab = NULL;
	P.hcap = 0;
	memset(&P.vscal, 0, sizeof(P.vscal));
	P.vobj = P.varr = P.vscal;

	c360_json *root = out ? parse_tree(&P, base) : validate_tree(&P, base);
	if (P.stack != P.local_stack)
		free(P.stack);
	free(P.htab);
	size_t off = P.err_at ? (size_t)(P.err_at - P.base) : 0;
	if (!out)
		free(base);
	if (!root) {
		fill_error(err, text, len, off, P.reason ? P.reason : "invalid JSON");
		c360_json_doc_free(doc);
		return P.rc ? P.rc : C360_ERR_INVALID;
	}
	if (out) {
		root->flags &= (uint8_t)~F_LINKED;
		doc->root = root;
		*out = doc;
	}
	return C360_OK;
}

c360_rc c360_json_parse(const char *text, size_t len, const struct c360_json_parse_opts *opts,
                        c360_json_doc **out, struct c360_json_error *err)
{
	if (!out)
		return C360_ERR_INVALID;
	return parse_common(text, len, opts, out, err);
}

c360_rc c360_json_validate(const char *text, size_t len, const struct c360_json_parse_opts *opts,
                           struct c360_json_error *err)
{
	return parse_common(text, len, opts, NULL, err);
}

void c360_json_error_str(const struct c360_json_error *err, char *buf, size_t len)
{
	if (!buf || !len)
		return;
	if (!err) {
		buf[0] = '\0';
		return;
	}
	snprintf(buf, len, "line %u, column %u (byte %zu): %s", err->line, err->column, err->offset,
	         err->reason);
}

/* ---- reading ---- */

enum c360_json_type c360_json_type(const c360_json *v)
{
	return v ? (enum c360_json_type)v->type : C360_JSON_NULL;
}

const char *c360_json_type_name(enum c360_json_type t)
{
	switch (t) {
	case C360_JSON_NULL:
		return "null";
	case C360_JSON_FALSE:
	case C360_JSON_TRUE:
		return "boolean";
	case C360_JSON_NUMBER:
		return "number";
	case C360_JSON_STRING:
		return "string";
	case C360_JSON_ARRAY:
		return "array";
	case C360_JSON_OBJECT:
		return "object";
	}
	return "unknown";
}

bool c360_json_is_null(const c360_json *v)
{
	return !v || v->type == C360_JSON_NULL;
}
bool c360_json_is_bool(const c360_json *v)
{
	return v && (v->type == C360_JSON_TRUE || v->type == C360_JSON_FALSE);
}
bool c360_json_is_number(const c360_json *v)
{
	return v && v->type == C360_JSON_NUMBER;
}
bool c360_json_is_string(const c360_json *v)
{
	return v && v->type == C360_JSON_STRING;
}
bool c360_json_is_array(const c360_json *v)
{
	return v && v->type == C360_JSON_ARRAY;
}
bool c360_json_is_object(const c360_json *v)
{
	return v && v->type == C360_JSON_OBJECT;
}
bool c360_json_bool(const c360_json *v)
{
	return v && v->type == C360_JSON_TRUE;
}

const char *c360_json_str(const c360_json *v, size_t *len)
{
	if (!v || v->type != C360_JSON_STRING) {
		if (len)
			*len = 0;
		return NULL;
	}
	if (len)
		*len = v->len;
	return v->a.s;
}

const char *c360_json_num_text(const c360_json *v, size_t *len)
{
	if (!v || v->type != C360_JSON_NUMBER) {
		if (len)
			*len = 0;
		return NULL;
	}
	if (len)
		*len = v->len;
	return v->a.s;
}

/* Exact integer value of a JSON number text: handles fractions and exponents
 * ("1.0", "12e3", "1200e-2") as long as the value is a whole number in range. */
static bool num_to_int64(const char *s, size_t n, int64_t *out)
{
	const char *e = s + n;
	bool neg = false;
	if (s < e && *s == '-') {
		neg = true;
		s++;
	}
	const char *ds = s;
	while (s < e && (unsigned)(*s - '0') < 10)
		s++;
	if (s == e) { /* fast path: plain integer */
		size_t nd = (size_t)(s - ds);
		if (!nd || nd > 19)
			return false;
		uint64_t v = 0;
		for (const char *q = ds; q < s; q++)
			v = v * 10 + (uint64_t)(*q - '0');
		if (nd == 19 && (ds[0] > '9' || v < 1000000000000000000ull))
			return false; /* wrapped */
		if (neg) {
			if (v > (uint64_t)INT64_MAX + 1)
				return false;
			*out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
		} else {
			if (v > (uint64_t)INT64_MAX)
				return false;
			*out = (int64_t)v;
		}
		return true;
	}
	/* general: digits of int and fraction, then the exponent */
	char dig[40];
	size_t nd = 0;
	long exp10 = 0;
	for (const char *q = ds; q < s; q++) {
		if (nd == 0 && *q == '0')
			continue;
		if (nd >= sizeof(dig))
			return false;
		dig[nd++] = *q;
	}
	if (s < e && *s == '.') {
		s++;
		while (s < e && (unsigned)(*s - '0') < 10) {
			if (nd == 0 && *s == '0') {
				exp10--;
			} else {
				if (nd >= sizeof(dig)) {
					/* beyond 40 significant digits only trailing zeros may
					 * follow */
					if (*s != '0')
						return false;
				} else {
					dig[nd++] = *s;
				}
				exp10--;
			}
			s++;
		}
	}
	if (s < e && (*s | 0x20) == 'e') {
		s++;
		bool eneg = false;
		if (s < e && (*s == '+' || *s == '-'))
			eneg = *s++ == '-';
		long ev = 0;
		while (s < e && (unsigned)(*s - '0') < 10) {
			if (ev < 100000)
				ev = ev * 10 + (*s - '0');
			s++;
		}
		exp10 += eneg ? -ev : ev;
	}
	if (s != e)
		return false;
	while (nd && dig[nd - 1] == '0') {
		nd--;
		exp10++;
	}
	if (!nd) {
		*out = 0;
		return true;
	}
	if (exp10 < 0 || (long)nd + exp10 > 19)
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < nd; i++)
		v = v * 10 + (uint64_t)(dig[i] - '0');
	for (long i = 0; i < exp10; i++) {
		if (v > UINT64_MAX / 10)
			return false;
		v *= 10;
	}
	if (neg) {
		if (v > (uint64_t)INT64_MAX + 1)
			return false;
		*out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	} else {
		if (v > (uint64_t)INT64_MAX)
			return false;
		*out = (int64_t)v;
	}
	return true;
}

bool c360_json_int64(const c360_json *v, int64_t *out)
{
	if (!v || v->type != C360_JSON_NUMBER)
		return false;
	int64_t x;
	if (!num_to_int64(v->a.s, v->len, &x))
		return false;
	if (out)
		*out = x;
	return true;
}

static double text_to_double(const char *s, size_t n)
{
	char local[96];
	char *buf = n < sizeof(local) ? local : jmalloc(n + 1);
	if (!buf)
		return NAN;
	memcpy(buf, s, n);
	buf[n] = '\0';
	double d = strtod(buf, NULL);
	if (buf != local)
		free(buf);
	return d;
}

bool c360_json_double(const c360_json *v, double *out)
{
	if (!v || v->type != C360_JSON_NUMBER)
		return false;
	if (out)
		*out = text_to_double(v->a.s, v->len);
	return true;
}

size_t c360_json_len(const c360_json *v)
{
	if (!v || v->type < C360_JSON_ARRAY)
		return 0;
	return v->len;
}

c360_json *c360_json_getn(const c360_json *obj, const char *key, size_t keylen)
{
	if (!obj || obj->type != C360_JSON_OBJECT || !key)
		return NULL;
	for (c360_json *m = obj->a.first; m; m = m->next)
		if (m->keylen == keylen && !memcmp(m->key, key, keylen))
			return m;
	return NULL;
}

c360_json *c360_json_get(const c360_json *obj, const char *key)
{
	return key ? c360_json_getn(obj, key, strlen(key)) : NULL;
}

c360_json *c360_json_at(const c360_json *arr, size_t i)
{
	if (!arr || arr->type != C360_JSON_ARRAY || i >= arr->len)
		return NULL;
	if (i == arr->len - 1)
		return arr->last;
	/* resume from the cursor of the previous call when it is not past i, so
	 * a loop over c360_json_at is linear; mutations reset the cursor */
	c360_json *c = arr->a.first;
	size_t k = 0;
	if (arr->cur && arr->curi <= i) {
		c = arr->cur;
		k = arr->curi;
	}
	while (k < i) {
		c = c->next;
		k++;
	}
	c360_json *mut = (c360_json *)arr;
	mut->cur = c;
	mut->curi = (uint32_t)i;
	return c;
}

c360_json *c360_json_first(const c360_json *container)
{
	if (!container || container->type < C360_JSON_ARRAY)
		return NULL;
	return container->a.first;
}

c360_json *c360_json_next(const c360_json *child)
{
	return child ? child->next : NULL;
}

const char *c360_json_key(const c360_json *member, size_t *len)
{
	if (!member || !member->key) {
		if (len)
			*len = 0;
		return NULL;
	}
	if (len)
		*len = member->keylen;
	return member->key;
}

/* ---- building ---- */

c360_json *c360_json_new_null(c360_json_doc *doc)
{
	return doc ? node_new(doc, C360_JSON_NULL) : NULL;
}

c360_json *c360_json_new_bool(c360_json_doc *doc, bool b)
{
	return doc ? node_new(doc, b ? C360_JSON_TRUE : C360_JSON_FALSE) : NULL;
}

static c360_json *new_num_text(c360_json_doc *doc, const char *text, size_t len)
{
	if (len > UINT32_MAX)
		return NULL;
	c360_json *n = node_new(doc, C360_JSON_NUMBER);
	if (!n)
		return NULL;
	char *s = arena_strdup(doc, text, len);
	if (!s)
		return NULL;
	n->a.s = s;
	n->len = len;
	return n;
}

c360_json *c360_json_new_int(c360_json_doc *doc, int64_t i)
{
	if (!doc)
		return NULL;
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%" PRId64, i);
	return new_num_text(doc, buf, (size_t)n);
}

/* Shortest %.Ng text (N = 15..17) that reads back as d. */
static int format_double(double d, char *buf, size_t size)
{
	int n = 0;
	for (int prec = 15; prec <= 17; prec++) {
		n = snprintf(buf, size, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	return n;
}

c360_json *c360_json_new_double(c360_json_doc *doc, double d)
{
	if (!doc || !isfinite(d))
		return NULL;
	char buf[40];
	int n = format_double(d, buf, sizeof(buf));
	if (n <= 0 || (size_t)n >= sizeof(buf))
		return NULL;
	return new_num_text(doc, buf, (size_t)n);
}

/* Whole of s[0..len) is one JSON number. */
static bool valid_number(const char *s, size_t len)
{
	const char *p = s, *e = s + len;
	if (p < e && *p == '-')
		p++;
	if (p >= e)
		return false;
	if (*p == '0') {
		p++;
	} else if ((unsigned)(*p - '1') < 9) {
		while (p < e && (unsigned)(*p - '0') < 10)
			p++;
	} else {
		return false;
	}
	if (p < e && *p == '.') {
		p++;
		if (p >= e || (unsigned)(*p - '0') >= 10)
			return false;
		while (p < e && (unsigned)(*p - '0') < 10)
			p++;
	}
	if (p < e && (*p | 0x20) == 'e') {
		p++;
		if (p < e && (*p == '+' || *p == '-'))
			p++;
		if (p >= e || (unsigned)(*p - '0') >= 10)
			return false;
		while (p < e && (unsigned)(*p - '0') < 10)
			p++;
	}
	return p == e;
}

c360_json *c360_json_new_number(c360_json_doc *doc, const char *text, size_t len)
{
	if (!doc || !text || !valid_number(text, len))
		return NULL;
	return new_num_text(doc, text, len);
}

c360_json *c360_json_new_str(c360_json_doc *doc, const char *s, size_t len)
{
	unsigned raw;
	if (!doc || (!s && len) || len > UINT32_MAX || !utf8_valid(s ? s : "", len, &raw))
		return NULL;
	c360_json *n = node_new(doc, C360_JSON_STRING);
	if (!n)
		return NULL;
	char *c = arena_strdup(doc, s ? s : "", len);
	if (!c)
		return NULL;
	n->a.s = c;
	n->len = len;
	n->flags = (uint8_t)raw;
	return n;
}

c360_json *c360_json_new_object(c360_json_doc *doc)
{
	return doc ? node_new(doc, C360_JSON_OBJECT) : NULL;
}

c360_json *c360_json_new_array(c360_json_doc *doc)
{
	return doc ? node_new(doc, C360_JSON_ARRAY) : NULL;
}

static void link_after(c360_json *parent, c360_json *prev, c360_json *val)
{
	if (prev) {
		val->next = prev->next;
		prev->next = val;
	} else {
		val->next = parent->a.first;
		parent->a.first = val;
	}
	if (!val->next)
		parent->last = val;
	parent->len++;
	parent->cur = NULL;
	val->flags |= F_LINKED;
}

static void unlink_after(c360_json *parent, c360_json *prev, c360_json *m)
{
	if (prev)
		prev->next = m->next;
	else
		parent->a.first = m->next;
	if (parent->last == m)
		parent->last = prev;
	parent->len--;
	parent->cur = NULL;
	m->next = NULL;
	m->flags &= (uint8_t)~F_LINKED;
}

c360_rc c360_json_set(c360_json_doc *doc, c360_json *obj, const char *key, size_t keylen,
                      c360_json *val)
{
	if (!doc || !obj || obj->type != C360_JSON_OBJECT || !val || (!key && keylen) || val == obj)
		return C360_ERR_INVALID;
	if (val->flags & F_LINKED)
		return C360_ERR_INVALID;
	unsigned raw;
	if (keylen > UINT32_MAX || !utf8_valid(key ? key : "", keylen, &raw))
		return C360_ERR_INVALID;
	c360_json *prev = NULL;
	for (c360_json *m = obj->a.first; m; prev = m, m = m->next) {
		if (m->keylen == keylen && !memcmp(m->key, key, keylen)) {
			val->key = m->key;
			val->keylen = m->keylen;
			val->flags = (uint8_t)((val->flags & ~F_KEYBITS) | (m->flags & F_KEYBITS));
			val->next = m->next;
			if (prev)
				prev->next = val;
			else
				obj->a.first = val;
			if (obj->last == m)
				obj->last = val;
			val->flags |= F_LINKED;
			m->next = NULL;
			m->flags &= (uint8_t)~F_LINKED;
			return C360_OK;
		}
	}
	char *k = arena_strdup(doc, key ? key : "", keylen);
	if (!k)
		return C360_ERR_NOMEM;
	val->key = k;
	val->keylen = (uint32_t)keylen;
	val->flags = (uint8_t)((val->flags & ~F_KEYBITS) | (raw << 2)); /* F_RAW -> F_KRAW */
	link_after(obj, obj->last, val);
	return C360_OK;
}

bool c360_json_remove(c360_json *obj, const char *key, size_t keylen)
{
	if (!obj || obj->type != C360_JSON_OBJECT || (!key && keylen))
		return false;
	c360_json *prev = NULL;
	for (c360_json *m = obj->a.first; m; prev = m, m = m->next) {
		if (m->keylen == keylen && !memcmp(m->key, key, keylen)) {
			unlink_after(obj, prev, m);
			return true;
		}
	}
	return false;
}

c360_rc c360_json_append(c360_json_doc *doc, c360_json *arr, c360_json *val)
{
	return c360_json_insert(doc, arr, arr ? arr->len : 0, val);
}

c360_rc c360_json_insert(c360_json_doc *doc, c360_json *arr, size_t i, c360_json *val)
{
	if (!doc || !arr || arr->type != C360_JSON_ARRAY || !val || val == arr)
		return C360_ERR_INVALID;
	if (val->flags & F_LINKED)
		return C360_ERR_INVALID;
	if (i > arr->len)
		return C360_ERR_NOT_FOUND;
	val->key = NULL;
	val->keylen = 0;
	val->flags &= (uint8_t)~F_KEYBITS;
	c360_json *prev = NULL;
	if (i == arr->len) {
		prev = arr->last;
	} else if (i > 0) {
		prev = arr->a.first;
		for (size_t k = 1; k < i; k++)
			prev = prev->next;
	}
	link_after(arr, prev, val);
	return C360_OK;
}

bool c360_json_remove_at(c360_json *arr, size_t i)
{
	if (!arr || arr->type != C360_JSON_ARRAY || i >= arr->len)
		return false;
	c360_json *prev = NULL, *m = arr->a.first;
	while (i--) {
		prev = m;
		m = m->next;
	}
	unlink_after(arr, prev, m);
	return true;
}

/* A shallow copy of v (scalars complete; containers empty). */
static c360_json *copy_shallow(c360_json_doc *doc, const c360_json *v)
{
	c360_json *n = node_new(doc, v->type);
	if (!n)
		return NULL;
	if (v->type == C360_JSON_STRING || v->type == C360_JSON_NUMBER) {
		char *s = arena_strdup(doc, v->a.s, v->len);
		if (!s)
			return NULL;
		n->a.s = s;
		n->len = v->len;
		n->flags = (uint8_t)(v->flags & F_VALBITS);
	}
	return n;
}

struct pair {
	const c360_json *a;
	c360_json *b;
};

/* Iterative deep copy: an explicit stack, so any depth is fine. */
c360_json *c360_json_copy(c360_json_doc *doc, const c360_json *v)
{
	if (!doc || !v)
		return NULL;
	c360_json *root = copy_shallow(doc, v);
	if (!root || v->type < C360_JSON_ARRAY)
		return root;
	struct pair local[64];
	struct pair *st = local;
	size_t cap = 64, sp = 0;
	st[sp++] = (struct pair){v, root};
	while (sp) {
		struct pair top = st[--sp];
		for (const c360_json *c = top.a->a.first; c; c = c->next) {
			c360_json *n = copy_shallow(doc, c);
			if (!n)
				goto fail;
			if (top.a->type == C360_JSON_OBJECT) {
				n->key = arena_strdup(doc, c->key, c->keylen);
				if (!n->key)
					goto fail;
				n->keylen = c->keylen;
				n->flags |= (uint8_t)(c->flags & F_KEYBITS);
			}
			link_after(top.b, top.b->last, n);
			if (c->type >= C360_JSON_ARRAY && c->a.first) {
				if (sp == cap) {
					struct pair *ns = st == local
					                      ? jmalloc(cap * 2 * sizeof(*st))
					                      : jrealloc(st, cap * 2 * sizeof(*st));
					if (!ns)
						goto fail;
					if (st == local)
						memcpy(ns, local, sizeof(local));
					st = ns;
					cap *= 2;
				}
				st[sp++] = (struct pair){c, n};
			}
		}
	}
	if (st != local)
		free(st);
	return root;
fail:
	if (st != local)
		free(st);
	return NULL;
}

static bool num_equal(const c360_json *a, const c360_json *b)
{
	if (a->len == b->len && !memcmp(a->a.s, b->a.s, a->len))
		return true;
	int64_t x, y;
	bool ia = num_to_int64(a->a.s, a->len, &x), ib = num_to_int64(b->a.s, b->len, &y);
	if (ia && ib)
		return x == y;
	return text_to_double(a->a.s, a->len) == text_to_double(b->a.s, b->len);
}

struct cpair {
	const c360_json *a, *b;
};

bool c360_json_equal(const c360_json *a, const c360_json *b)
{
	size_t cap = 64, sp = 0;
	struct cpair local[64];
	struct cpair *st = local;
	bool eq = true;
	st[sp++] = (struct cpair){a, b};
	while (sp && eq) {
		struct cpair t = st[--sp];
		enum c360_json_type ta = c360_json_type(t.a), tb = c360_json_type(t.b);
		if (ta != tb) {
			eq = false;
			break;
		}
		switch (ta) {
		case C360_JSON_NULL:
		case C360_JSON_TRUE:
		case C360_JSON_FALSE:
			break;
		case C360_JSON_NUMBER:
			eq = num_equal(t.a, t.b);
			break;
		case C360_JSON_STRING:
			eq = t.a->len == t.b->len && !memcmp(t.a->a.s, t.b->a.s, t.a->len);
			break;
		case C360_JSON_ARRAY:
		case C360_JSON_OBJECT:
			if (t.a->len != t.b->len) {
				eq = false;
				break;
			}
			for (const c360_json *x = t.a->a.first, *y = t.b->a.first; x;
			     x = x->next, y = y ? y->next : NULL) {
				const c360_json *other = y;
				if (ta == C360_JSON_OBJECT && !(y && y->keylen == x->keylen &&
				                                !memcmp(y->key, x->key, x->keylen)))
					other = c360_json_getn(t.b, x->key, x->keylen);
				if (!other) {
					eq = false;
					break;
				}
				if (sp == cap) {
					struct cpair *ns =
					    st == local ? jmalloc(cap * 2 * sizeof(*ns))
					                : jrealloc(st, cap * 2 * sizeof(*ns));
					if (!ns) {
						eq = false;
						break;
					}
					if (st == local)
						memcpy(ns, local, sizeof(local));
					st = ns;
					cap *= 2;
				}
				st[sp++] = (struct cpair){x, other};
			}
			break;
		}
	}
	if (st != local)
		free(st);
	return eq;
}

/* ---- JSON Pointer ---- */

size_t c360_json_ptr_token(const char **pp, char *tok, size_t cap)
{
	const char *p = *pp;
	size_t n = 0;
	while (*p && *p != '/') {
		char c = *p++;
		if (c == '~') {
			if (*p == '0')
				c = '~';
			else if (*p == '1')
				c = '/';
			else
				return (size_t)-1;
			p++;
		}
		if (n + 1 >= cap)
			return (size_t)-1;
		tok[n++] = c;
	}
	tok[n] = '\0';
	*pp = p;
	return n;
}

/* Array index token: "0" or [1-9][0-9]*; false otherwise. */
static bool ptr_index(const char *tok, size_t n, size_t *out)
{
	if (!n || n > 19 || (n > 1 && tok[0] == '0'))
		return false;
	size_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if ((unsigned)(tok[i] - '0') >= 10)
			return false;
		v = v * 10 + (size_t)(tok[i] - '0');
	}
	*out = v;
	return true;
}

#define PTR_TOK_MAX 4096

c360_json *c360_json_ptr_get(const c360_json *root, const char *ptr)
{
	if (!ptr)
		return NULL;
	if (!*ptr)
		return (c360_json *)root;
	if (*ptr != '/')
		return NULL;
	char tok[PTR_TOK_MAX];
	const c360_json *cur = root;
	const char *p = ptr;
	while (*p == '/' && cur) {
		p++;
		/* a token without escapes is read in place, not copied */
		const char *t = p;
		while (*p && *p != '/' && *p != '~')
			p++;
		size_t n = (size_t)(p - t);
		if (*p == '~') {
			p = t;
			n = c360_json_ptr_token(&p, tok, sizeof(tok));
			if (n == (size_t)-1)
				return NULL;
			t = tok;
		}
		if (cur->type == C360_JSON_OBJECT) {
			cur = c360_json_getn(cur, t, n);
		} else if (cur->type == C360_JSON_ARRAY) {
			size_t i;
			if (!ptr_index(t, n, &i))
				return NULL;
			cur = c360_json_at(cur, i);
		} else {
			return NULL;
		}
	}
	return (c360_json *)cur;
}

c360_rc c360_json_ptr_set(c360_json_doc *doc, const char *ptr, c360_json *val)
{
	if (!doc || !ptr || !val)
		return C360_ERR_INVALID;
	if (val->flags & F_LINKED)
		return C360_ERR_INVALID;
	if (!*ptr) {
		c360_json_doc_set_root(doc, val);
		return C360_OK;
	}
	if (*ptr != '/')
		return C360_ERR_INVALID;
	char tok[PTR_TOK_MAX];
	if (!doc->root) {
		c360_json *o = c360_json_new_object(doc);
		if (!o)
			return C360_ERR_NOMEM;
		c360_json_doc_set_root(doc, o);
	}
	c360_json *cur = doc->root;
	const char *p = ptr;
	for (;;) {
		p++; /* past '/' */
		size_t n = c360_json_ptr_token(&p, tok, sizeof(tok));
		if (n == (size_t)-1)
			return C360_ERR_INVALID;
		bool last = *p == '\0';
		if (cur->type == C360_JSON_OBJECT) {
			if (last)
				return c360_json_set(doc, cur, tok, n, val);
			c360_json *next = c360_json_getn(cur, tok, n);
			if (!next) {
				next = c360_json_new_object(doc);
				if (!next)
					return C360_ERR_NOMEM;
				c360_rc rc = c360_json_set(doc, cur, tok, n, next);
				if (rc)
					return rc;
			}
			cur = next;
		} else if (cur->type == C360_JSON_ARRAY) {
			size_t i;
			if (n == 1 && tok[0] == '-') {
				if (!last)
					return C360_ERR_NOT_FOUND;
				return c360_json_append(doc, cur, val);
			}
			if (!ptr_index(tok, n, &i))
				return C360_ERR_INVALID;
			if (last) {
				if (i == cur->len)
					return c360_json_append(doc, cur, val);
				if (i > cur->len)
					return C360_ERR_NOT_FOUND;
				/* replace element i */
				c360_json_remove_at(cur, i);
				return c360_json_insert(doc, cur, i, val);
			}
			c360_json *next = c360_json_at(cur, i);
			if (!next)
				return C360_ERR_NOT_FOUND;
			cur = next;
		} else {
			return C360_ERR_INVALID; /* cannot descend into a scalar */
		}
	}
}

c360_rc c360_json_ptr_remove(c360_json_doc *doc, const char *ptr)
{
	if (!doc || !ptr)
		return C360_ERR_INVALID;
	if (!*ptr) {
		if (!doc->root)
			return C360_ERR_NOT_FOUND;
		c360_json_doc_set_root(doc, NULL);
		return C360_OK;
	}
	if (*ptr != '/')
		return C360_ERR_INVALID;
	char tok[PTR_TOK_MAX];
	c360_json *cur = doc->root;
	const char *p = ptr;
	while (cur) {
		p++;
		size_t n = c360_json_ptr_token(&p, tok, sizeof(tok));
		if (n == (size_t)-1)
			return C360_ERR_INVALID;
		bool last = *p == '\0';
		if (cur->type == C360_JSON_OBJECT) {
			if (last)
				return c360_json_remove(cur, tok, n) ? C360_OK : C360_ERR_NOT_FOUND;
			cur = c360_json_getn(cur, tok, n);
		} else if (cur->type == C360_JSON_ARRAY) {
			size_t i;
			if (!ptr_index(tok, n, &i))
				return C360_ERR_NOT_FOUND;
			if (last)
				return c360_json_remove_at(cur, i) ? C360_OK : C360_ERR_NOT_FOUND;
			cur = c360_json_at(cur, i);
		} else {
			return C360_ERR_NOT_FOUND;
		}
	}
	return C360_ERR_NOT_FOUND;
}

/* ---- writer ---- */

struct writer {
	struct c360_buf *b;
	char *p, *end; /* write position and end of usable space (before the NUL) */
	bool ascii;
	c360_rc rc;
};

/* End of the usable space: the allocation (minus the NUL) or the buffer's
 * cap on len, whichever is lower. */
static char *w_limit(const struct c360_buf *b)
{
	size_t max = b->max ? b->max : SIZE_MAX / 2;
	size_t room = b->cap - 1;
	return b->data + (room < max ? room : max);
}

static void w_sync(struct writer *w)
{
	w->b->len = (size_t)(w->p - w->b->data);
}

/* Makes room for n more bytes; false (w->rc set) when the cap forbids. */
static bool w_grow(struct writer *w, size_t n)
{
	w_sync(w);
	c360_rc rc = c360_buf_reserve(w->b, n);
	if (rc) {
		w->rc = rc;
		return false;
	}
	w->p = w->b->data + w->b->len;
	w->end = w_limit(w->b);
	return true;
}

static inline bool w_need(struct writer *w, size_t n)
{
	if (likely((size_t)(w->end - w->p) >= n))
		return true;
	return w_grow(w, n);
}

static const char hexdig[] = "0123456789abcdef";

/* Writes s[0..len) quoted and escaped. padded: 16 bytes after s[len] may be
 * read. validate: s may be invalid UTF-8 (bad bytes become U+FFFD). */
static bool w_string_scan(struct writer *w, const char *s, size_t len, bool padded, bool validate);

/* raw: F_RAW/F_RAWA of the string; a raw string is copied without looking. */
static inline __attribute__((always_inline)) bool
w_string(struct writer *w, const char *s, size_t len, bool padded, bool validate, unsigned raw)
{
	if ((raw & F_RAW) && (!w->ascii || (raw & F_RAWA))) {
		if (likely(len <= 16 && padded && (size_t)(w->end - w->p) >= 16 + 2)) {
			char *o = w->p;
			*o++ = '"';
#if defined(__SSE2__)
			_mm_storeu_si128((__m128i *)(void *)o,
			                 _mm_loadu_si128((const __m128i *)(const void *)s));
#else
			memcpy(o, s, 16);
#endif
			o += len;
			*o++ = '"';
			w->p = o;
			return true;
		}
		if (!w_need(w, len + 2))
			return false;
		*w->p++ = '"';
		memcpy(w->p, s, len);
		w->p += len;
		*w->p++ = '"';
		return true;
	}
	return w_string_scan(w, s, len, padded, validate);
}

static __attribute__((noinline)) bool w_string_scan(struct writer *w, const char *s, size_t len,
                                                    bool padded, bool validate)
{
	const char *p = s, *e = s + len;
	bool ascii = w->ascii;
	bool hi_special = ascii || validate;
	/* fast path: room for the raw bytes, the quotes and a 16-byte overrun */
	if (padded && !validate && (size_t)(w->end - w->p) >= len + 2 + 16) {
		char *o = w->p;
		*o++ = '"';
		for (;;) {
			unsigned m = escape16(p, ascii);
			size_t left = (size_t)(e - p);
#if defined(__SSE2__)
			_mm_storeu_si128((__m128i *)(void *)o,
			                 _mm_loadu_si128((const __m128i *)(const void *)p));
#else
			memcpy(o, p, 16);
#endif
			if (left <= 16) {
				if (left < 16)
					m &= (1u << left) - 1;
				if (!m) {
					o += left;
					*o++ = '"';
					w->p = o;
					return true;
				}
			}
			if (m) {
				int k = __builtin_ctz(m);
				o += k;
				p += k;
				break;
			}
			o += 16;
			p += 16;
		}
		w->p = o;
		/* fall through to the general loop from p (with the quote written) */
	} else {
		if (!w_need(w, len + 2))
			return false;
		*w->p++ = '"';
	}
	/* invariant: room for the rest raw plus the closing quote */
	while (p < e) {
		const char *run = p;
		if (padded && !validate) {
			for (;;) {
				unsigned m = escape16(p, ascii);
				size_t left = (size_t)(e - p);
				if (left < 16)
					m |= 1u << left;
				if (m) {
					p += __builtin_ctz(m);
					break;
				}
				p += 16;
			}
		} else {
			while (p < e) {
				unsigned char c = (unsigned char)*p;
				if (c == '"' || c == '\\' || c < 0x20 || (hi_special && c >= 0x80))
					break;
				p++;
			}
		}
		if (p > run) {
			memcpy(w->p, run, (size_t)(p - run));
			w->p += p - run;
		}
		if (p >= e)
			break;
		unsigned char c = (unsigned char)*p;
		char esc[12];
		size_t elen, consumed = 1;
		if (c < 0x80) {
			esc[0] = '\\';
			elen = 2;
			switch (c) {
			case '"':
				esc[1] = '"';
				break;
			case '\\':
				esc[1] = '\\';
				break;
			case '\b':
				esc[1] = 'b';
				break;
			case '\f':
				esc[1] = 'f';
				break;
			case '\n':
				esc[1] = 'n';
				break;
			case '\r':
				esc[1] = 'r';
				break;
			case '\t':
				esc[1] = 't';
				break;
			default:
				esc[1] = 'u';
				esc[2] = '0';
				esc[3] = '0';
				esc[4] = hexdig[c >> 4];
				esc[5] = hexdig[c & 15];
				elen = 6;
			}
		} else {
			int n = padded ? utf8_seq((const unsigned char *)p)
			               : utf8_seq_n((const unsigned char *)p, (size_t)(e - p));
			unsigned cp;
			if (!n) {
				cp = 0xFFFD;
				consumed = 1;
			} else {
				consumed = (size_t)n;
				const unsigned char *u = (const unsigned char *)p;
				if (n == 2)
					cp = ((u[0] & 0x1Fu) << 6) | (u[1] & 0x3Fu);
				else if (n == 3)
					cp = ((u[0] & 0x0Fu) << 12) | ((u[1] & 0x3Fu) << 6) |
					     (u[2] & 0x3Fu);
				else
					cp = ((u[0] & 0x07u) << 18) | ((u[1] & 0x3Fu) << 12) |
					     ((u[2] & 0x3Fu) << 6) | (u[3] & 0x3Fu);
			}
			if (!ascii && n) {
				memcpy(esc, p, consumed);
				elen = consumed;
			} else if (!ascii) {
				memcpy(esc, "\xEF\xBF\xBD", 3); /* U+FFFD */
				elen = 3;
			} else if (cp >= 0x10000) {
				unsigned v = cp - 0x10000, hi = 0xD800 + (v >> 10),
				         lo = 0xDC00 + (v & 0x3FF);
				const unsigned u16[2] = {hi, lo};
				for (int k = 0; k < 2; k++) {
					char *q = esc + 6 * k;
					q[0] = '\\';
					q[1] = 'u';
					q[2] = hexdig[(u16[k] >> 12) & 15];
					q[3] = hexdig[(u16[k] >> 8) & 15];
					q[4] = hexdig[(u16[k] >> 4) & 15];
					q[5] = hexdig[u16[k] & 15];
				}
				elen = 12;
			} else {
				esc[0] = '\\';
				esc[1] = 'u';
				esc[2] = hexdig[(cp >> 12) & 15];
				esc[3] = hexdig[(cp >> 8) & 15];
				esc[4] = hexdig[(cp >> 4) & 15];
				esc[5] = hexdig[cp & 15];
				elen = 6;
			}
		}
		p += consumed;
		if (elen > consumed && !w_need(w, elen + (size_t)(e - p) + 1))
			return false;
		memcpy(w->p, esc, elen);
		w->p += elen;
	}
	*w->p++ = '"';
	return true;
}

static inline bool w_raw(struct writer *w, const char *s, size_t n)
{
	if (!w_need(w, n))
		return false;
	memcpy(w->p, s, n);
	w->p += n;
	return true;
}

static bool w_indent(struct writer *w, size_t depth)
{
	size_t n = 1 + 2 * depth;
	if (!w_need(w, n))
		return false;
	*w->p++ = '\n';
	memset(w->p, ' ', n - 1);
	w->p += n - 1;
	return true;
}

static inline __attribute__((always_inline)) bool
w_scalar(struct writer *w, const c360_json *v)
{
	switch (c360_json_type(v)) {
	case C360_JSON_NULL:
		return w_raw(w, "null", 4);
	case C360_JSON_TRUE:
		return w_raw(w, "true", 4);
	case C360_JSON_FALSE:
		return w_raw(w, "false", 5);
	case C360_JSON_NUMBER:
		return w_raw(w, v->a.s, v->len);
	case C360_JSON_STRING:
		return w_string(w, v->a.s, v->len, true, false, v->flags & F_VALBITS);
	case C360_JSON_ARRAY:
		return w_raw(w, "[]", 2);
	case C360_JSON_OBJECT:
		return w_raw(w, "{}", 2);
	}
	return false;
}

/* Iterative writer: an explicit stack of open containers. */
static bool w_value(struct writer *w, const c360_json *root, bool pretty)
{
	const c360_json *local[64];
	const c360_json **st = local;
	size_t cap = 64, sp = 0;
	const c360_json *v = root;
	bool ok = true;
	for (;;) {
		/* v: the value to write (its key, if any, already written) */
		if (v && v->type >= C360_JSON_ARRAY && v->a.first) {
			if (sp == cap) {
				const c360_json **ns =
				    st == local ? jmalloc(cap * 2 * sizeof(*ns))
				                : jrealloc((void *)st, cap * 2 * sizeof(*ns));
				if (!ns) {
					w->rc = C360_ERR_NOMEM;
					ok = false;
					break;
				}
				if (st == local)
					memcpy((void *)ns, local, sizeof(local));
				st = ns;
				cap *= 2;
			}
			if (!w_need(w, 1)) {
				ok = false;
				break;
			}
			*w->p++ = v->type == C360_JSON_OBJECT ? '{' : '[';
			st[sp++] = v;
			v = v->a.first;
			if (pretty && !w_indent(w, sp)) {
				ok = false;
				break;
			}
			goto key;
		}
		if (!w_scalar(w, v)) {
			ok = false;
			break;
		}
		/* next sibling, or close containers */
		for (;;) {
			if (!sp)
				goto out;
			const c360_json *parent = st[sp - 1];
			if (v->next) {
				v = v->next;
				if (!w_need(w, 1)) {
					ok = false;
					goto out;
				}
				*w->p++ = ',';
				if (pretty && !w_indent(w, sp)) {
					ok = false;
					goto out;
				}
				break;
			}
			sp--;
			if (pretty && !w_indent(w, sp)) {
				ok = false;
				goto out;
			}
			if (!w_need(w, 1)) {
				ok = false;
				goto out;
			}
			*w->p++ = parent->type == C360_JSON_OBJECT ? '}' : ']';
			v = parent;
		}
	key:
		if (st[sp - 1]->type == C360_JSON_OBJECT) {
			/* the common key: no escapes, at most 16 bytes, room to spare */
			if ((v->flags & F_KRAW) && (!w->ascii || (v->flags & F_KRAWA)) &&
			    v->keylen <= 16 && (size_t)(w->end - w->p) >= 16 + 4) {
				char *o = w->p;
				*o++ = '"';
#if defined(__SSE2__)
				_mm_storeu_si128(
				    (__m128i *)(void *)o,
				    _mm_loadu_si128((const __m128i *)(const void *)v->key));
#else
				memcpy(o, v->key, 16);
#endif
				o += v->keylen;
				*o++ = '"';
				*o++ = ':';
				if (pretty)
					*o++ = ' ';
				w->p = o;
				continue;
			}
			if (!w_string(w, v->key ? v->key : "", v->keylen, v->key != NULL, false,
			              (v->flags & F_KEYBITS) >> 2) ||
			    !w_need(w, 2)) {
				ok = false;
				break;
			}
			*w->p++ = ':';
			if (pretty)
				*w->p++ = ' ';
		}
	}
out:
	if (st != local)
		free((void *)st);
	return ok;
}

static void w_begin(struct writer *w, struct c360_buf *out, unsigned flags)
{
	w->b = out;
	w->ascii = (flags & C360_JSON_ASCII) != 0;
	w->rc = C360_OK;
	w->p = out->data ? out->data + out->len : NULL;
	w->end = out->data ? w_limit(out) : NULL;
}

static c360_rc w_finish(struct writer *w, size_t start_len, bool ok)
{
	if (!ok) {
		w->b->len = start_len;
		if (w->b->data)
			w->b->data[start_len] = '\0';
		return w->rc ? w->rc : C360_ERR_INTERNAL;
	}
	w_sync(w);
	w->b->data[w->b->len] = '\0';
	return C360_OK;
}

c360_rc c360_json_write(const c360_json *v, unsigned flags, struct c360_buf *out)
{
	if (!out)
		return C360_ERR_INVALID;
	size_t start = out->len;
	struct writer w;
	w_begin(&w, out, flags);
	/* make sure data exists so w.p is valid */
	if (!out->data && !w_grow(&w, 0))
		return w_finish(&w, start, false);
	/* a scalar (a member's value written on its own): no container stack */
	bool ok = v && v->type < C360_JSON_ARRAY ? w_scalar(&w, v)
						 : w_value(&w, v, (flags & C360_JSON_PRETTY) != 0);
	return w_finish(&w, start, ok);
}

char *c360_json_write_str(const c360_json *v, unsigned flags, size_t *len)
{
	struct c360_buf b;
	c360_buf_init(&b, 0);
	if (c360_json_write(v, flags, &b)) {
		c360_buf_release(&b);
		return NULL;
	}
	return c360_buf_detach(&b, len);
}

bool c360_json_plain(const char *s, size_t len)
{
	if (len >= 16) {
		/* 16 bytes at a time, the last 16 overlapping the previous ones */
		for (size_t i = 0; i + 16 <= len; i += 16)
			if (special16(s + i))
				return false;
		return !special16(s + len - 16);
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\')
			return false;
	}
	return true;
}

c360_rc c360_json_write_string(const char *s, size_t len, struct c360_buf *out)
{
	if (!out || (!s && len))
		return C360_ERR_INVALID;
	size_t start = out->len;
	struct writer w;
	w_begin(&w, out, 0);
	if (!w_need(&w, len + 2))
		return w_finish(&w, start, false);
	bool ok = w_string(&w, s ? s : "", len, false, true, 0);
	return w_finish(&w, start, ok);
}
