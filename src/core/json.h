/* c360 JSON core: a strict RFC 8259 parser into an arena-allocated DOM, a
 * compact/pretty serializer, JSON Pointer (RFC 6901), and a builder.
 *
 * Ownership: every value belongs to one c360_json_doc (its arena) and lives
 * until c360_json_doc_free(). Values of one doc may be linked only into the
 * same doc; use c360_json_copy() across docs. Strings given to builders are
 * copied. A doc is not thread-safe, not even for concurrent reads
 * (c360_json_at keeps a cursor in the array); different docs may be used from
 * different threads freely. Strings, numbers and containers are limited to
 * 4 GiB / 2^32 - 1 elements (C360_ERR_LIMIT).
 *
 * Strictness: trailing commas, leading zeros, bad escapes, lone surrogates,
 * invalid UTF-8, raw control characters and trailing garbage are rejected.
 * Duplicate keys: the last one wins (only it stays in the DOM, at the position
 * of the key's first occurrence). A UTF-8 byte order mark is rejected. Numbers keep
 * their source text, so int64 and doubles round-trip exactly. Nesting deeper
 * than max_depth (default 512) and input larger than max_size (default
 * 64 MiB) are errors, never stack overflows. */
#ifndef C360_CORE_JSON_H
#define C360_CORE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/rc.h"

typedef struct c360_json_doc c360_json_doc;
typedef struct c360_json c360_json;

enum c360_json_type {
	C360_JSON_NULL = 0,
	C360_JSON_FALSE,
	C360_JSON_TRUE,
	C360_JSON_NUMBER,
	C360_JSON_STRING,
	C360_JSON_ARRAY,
	C360_JSON_OBJECT,
};

#define C360_JSON_DEFAULT_MAX_DEPTH 512
#define C360_JSON_DEFAULT_MAX_SIZE (64u << 20)

struct c360_json_parse_opts {
	size_t max_depth; /* 0 = default (512) */
	size_t max_size;  /* bytes; 0 = default (64 MiB) */
	/* keep != NULL: a member of the root object whose key is not one of
	 * keep[0..nkeep) is left out of the DOM, its value only scanned for its
	 * end (strings and brackets), not validated. Only for text known to be
	 * valid JSON (every store document is): a reader that needs a few
	 * members of a large document (a Debezium envelope's payload, not its
	 * schema) skips building the rest. */
	const char *const *keep;
	size_t nkeep;
};

struct c360_json_error {
	size_t offset;     /* byte offset of the error in the input */
	unsigned line;     /* 1-based */
	unsigned column;   /* 1-based, in bytes */
	char reason[120];  /* "trailing comma in object", "invalid UTF-8", … */
};

/* ---- documents ---- */

/* Parses text[0..len) (need not be NUL-terminated). On success *out owns the
 * DOM. On failure returns C360_ERR_INVALID (or C360_ERR_TOO_BIG /
 * C360_ERR_LIMIT / C360_ERR_NOMEM), fills *err if given, and *out is NULL.
 * opts may be NULL. */
c360_rc c360_json_parse(const char *text, size_t len, const struct c360_json_parse_opts *opts,
			c360_json_doc **out, struct c360_json_error *err);
/* Checks text is one valid JSON value without building a DOM (it uses one
 * scratch copy of the input); same errors and positions as c360_json_parse. */
c360_rc c360_json_validate(const char *text, size_t len, const struct c360_json_parse_opts *opts,
			   struct c360_json_error *err);
/* An empty document for building (root NULL). NULL when out of memory. */
c360_json_doc *c360_json_doc_new(void);
/* Frees the doc and every value in it. Accepts NULL. */
void c360_json_doc_free(c360_json_doc *doc);
c360_json *c360_json_doc_root(const c360_json_doc *doc);
void c360_json_doc_set_root(c360_json_doc *doc, c360_json *root);
/* Formats err as "line L, column C (byte B): reason" into buf. */
void c360_json_error_str(const struct c360_json_error *err, char *buf, size_t len);

/* ---- reading ---- */

enum c360_json_type c360_json_type(const c360_json *v); /* NULL reads as C360_JSON_NULL */
const char *c360_json_type_name(enum c360_json_type t);  /* "object", "string", … */
bool c360_json_is_null(const c360_json *v);
bool c360_json_is_bool(const c360_json *v);
bool c360_json_is_number(const c360_json *v);
bool c360_json_is_string(const c360_json *v);
bool c360_json_is_array(const c360_json *v);
bool c360_json_is_object(const c360_json *v);
bool c360_json_bool(const c360_json *v); /* true only for JSON true */
/* String contents (unescaped UTF-8, NUL-terminated, may contain \0 from
 * \u0000: use len); NULL if v is not a string. */
const char *c360_json_str(const c360_json *v, size_t *len);
/* The number's source text (as written, e.g. "1.50e3"); NULL if not a number. */
const char *c360_json_num_text(const c360_json *v, size_t *len);
/* Number as int64: false if not a number or not an exact integer in range. */
bool c360_json_int64(const c360_json *v, int64_t *out);
/* Number as double: false if not a number. */
bool c360_json_double(const c360_json *v, double *out);

/* Number of elements (array) or members (object); 0 otherwise. */
size_t c360_json_len(const c360_json *v);
/* Object member by key (exact bytes); NULL when absent or v is not an object.
 * A linear scan of the members. */
c360_json *c360_json_get(const c360_json *obj, const char *key);
c360_json *c360_json_getn(const c360_json *obj, const char *key, size_t keylen);
/* Array element i; NULL when out of range or v is not an array. The array
 * keeps a cursor at the last element found, so a loop over increasing i is
 * linear and the last element is O(1); a jump back walks from the start.
 * c360_json_first/next is the cheapest way to visit every element. */
c360_json *c360_json_at(const c360_json *arr, size_t i);
/* Iteration over array elements or object member values, in document order:
 *   for (c360_json *c = c360_json_first(v); c; c = c360_json_next(c)) …
 * For object members c360_json_key(c) gives the member's key. */
c360_json *c360_json_first(const c360_json *container);
c360_json *c360_json_next(const c360_json *child);
const char *c360_json_key(const c360_json *member, size_t *len);

/* ---- building and mutating (values belong to doc) ----
 * A value can be linked once: set/append/insert/ptr_set take a new value or
 * one that was removed (c360_json_remove…) and return C360_ERR_INVALID for a
 * value already linked into a container. The doc's root may be linked (to wrap
 * it: set it into a new object, then make that object the root). */

c360_json *c360_json_new_null(c360_json_doc *doc);
c360_json *c360_json_new_bool(c360_json_doc *doc, bool b);
c360_json *c360_json_new_int(c360_json_doc *doc, int64_t i);
/* Finite doubles only (shortest text that round-trips); NULL for NaN/inf. */
c360_json *c360_json_new_double(c360_json_doc *doc, double d);
/* A number from its text; NULL if text is not a valid JSON number. */
c360_json *c360_json_new_number(c360_json_doc *doc, const char *text, size_t len);
/* A string (copied); NULL if s is not valid UTF-8. */
c360_json *c360_json_new_str(c360_json_doc *doc, const char *s, size_t len);
c360_json *c360_json_new_object(c360_json_doc *doc);
c360_json *c360_json_new_array(c360_json_doc *doc);

/* Sets obj[key] = val (replacing an existing member in place). */
c360_rc c360_json_set(c360_json_doc *doc, c360_json *obj, const char *key, size_t keylen,
		      c360_json *val);
/* Removes obj[key]; returns false when absent. */
bool c360_json_remove(c360_json *obj, const char *key, size_t keylen);
c360_rc c360_json_append(c360_json_doc *doc, c360_json *arr, c360_json *val);
/* Inserts before index i (i == len appends). */
c360_rc c360_json_insert(c360_json_doc *doc, c360_json *arr, size_t i, c360_json *val);
bool c360_json_remove_at(c360_json *arr, size_t i);
/* Deep copy of v (from any doc) into doc. */
c360_json *c360_json_copy(c360_json_doc *doc, const c360_json *v);
/* Structural equality (numbers compared by value when both are integers or
 * both parse as the same double; object member order ignored). */
bool c360_json_equal(const c360_json *a, const c360_json *b);

/* ---- JSON Pointer (RFC 6901) ---- */

/* Unescapes the reference token at *pp (just after its '/'; "~0" = '~',
 * "~1" = '/') into tok (cap bytes, NUL-terminated) and advances *pp to the
 * next '/' or the end. Returns the token's length, or (size_t)-1 when an
 * escape is malformed or the token does not fit. */
size_t c360_json_ptr_token(const char **pp, char *tok, size_t cap);

/* Resolves ptr ("" = root, "/a/0/b", "~0" = '~', "~1" = '/'). NULL if absent
 * or malformed. */
c360_json *c360_json_ptr_get(const c360_json *root, const char *ptr);
/* Sets the value at ptr, creating missing object members along the way (not
 * array elements); "-" appends to an array. ptr "" replaces the doc's root.
 * An array index below the length replaces that element, equal to the length
 * appends, beyond it is C360_ERR_NOT_FOUND; a malformed pointer or one that
 * descends into a scalar is C360_ERR_INVALID. */
c360_rc c360_json_ptr_set(c360_json_doc *doc, const char *ptr, c360_json *val);
/* Removes the value at ptr; C360_ERR_NOT_FOUND if absent. */
c360_rc c360_json_ptr_remove(c360_json_doc *doc, const char *ptr);

/* ---- writing ---- */

enum {
	C360_JSON_COMPACT = 0,
	C360_JSON_PRETTY = 1,     /* two-space indent, one member per line */
	C360_JSON_ASCII = 2,      /* escape non-ASCII as \uXXXX */
};

/* Appends the serialization of v to out (may fail with C360_ERR_TOO_BIG when
 * out is capped). */
c360_rc c360_json_write(const c360_json *v, unsigned flags, struct c360_buf *out);
/* Returns a malloc'd NUL-terminated serialization; NULL when out of memory. */
char *c360_json_write_str(const c360_json *v, unsigned flags, size_t *len);
/* Appends s[0..len) as a quoted, escaped JSON string. Bytes that are not valid
 * UTF-8 are written as U+FFFD, so the output is always valid JSON. */
c360_rc c360_json_write_string(const char *s, size_t len, struct c360_buf *out);
/* True when s[0..len) is ASCII with nothing to escape (no control byte, quote
 * or backslash): c360_json_write_string writes it as it is between quotes. */
bool c360_json_plain(const char *s, size_t len);

/* ---- testing ---- */

/* Makes the nth allocation of the JSON core from now on, in this thread, fail
 * (1 = the next one; 0 = off); returns how many were still to go before this
 * call (0 when the previous injection fired or was off). For out-of-memory
 * tests only. */
unsigned c360_json_test_fail_alloc(unsigned n);

#endif
