/* cbimport key expressions (-g): literal text, %field% references (nested
 * %a.b%, backtick-quoted names %`a.b`%), generators #MONO_INCR#,
 * #MONO_INCR[N]#, #UUID#, and the escapes %% and ## (both delimiters can be
 * changed, like cbimport's --field-delimiter / --generator-delimiter).
 *
 * Compile once, evaluate per record. The evaluator knows nothing about where
 * field values come from: the caller resolves field i (a path of segments)
 * through a lookup callback, so CSV rows (flat columns, resolved to column
 * indexes once) and JSON documents (nested paths) share it.
 *
 * #MONO_INCR# is deterministic: it evaluates to start + ordinal - 1, where
 * ordinal is the 1-based record number the caller passes in (cbimport's
 * per-run counter, independent of thread scheduling). #UUID# is a random
 * version 4 UUID. A compiled expression is immutable: evaluate it from any
 * number of threads. */
#ifndef C360_SOURCES_CSV_KEYEXPR_H
#define C360_SOURCES_CSV_KEYEXPR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/rc.h"

typedef struct c360_keyexpr c360_keyexpr;

#define C360_KEYEXPR_MAX_LEN 4096 /* expression text */

/* Compiles expr with the given delimiters (0 = the defaults '%' and '#').
 * C360_ERR_INVALID with the reason (and byte offset) in err for a malformed
 * expression: unterminated reference, unknown generator, bad MONO_INCR
 * start, equal delimiters, empty expression. */
c360_rc c360_keyexpr_compile(const char *expr, char field_delim, char gen_delim,
			     c360_keyexpr **out, char *err, size_t errlen);
void c360_keyexpr_free(c360_keyexpr *ke); /* accepts NULL */

/* Field references, in order of appearance (duplicates are kept). */
size_t c360_keyexpr_nfields(const c360_keyexpr *ke);
/* The reference as written between the delimiters ("a.b", "`a.b`"). */
const char *c360_keyexpr_field_text(const c360_keyexpr *ke, size_t i);
/* Number of path segments of field i ("a.b" = 2, "`a.b`" = 1). */
size_t c360_keyexpr_field_nsegs(const c360_keyexpr *ke, size_t i);
/* Segment j of field i (not NUL-terminated: use *len). */
const char *c360_keyexpr_field_seg(const c360_keyexpr *ke, size_t i, size_t j, size_t *len);
/* True when the expression uses #UUID# (keys differ on every run). */
bool c360_keyexpr_is_random(const c360_keyexpr *ke);
/* True when the expression uses #MONO_INCR# (keys depend on row order). */
bool c360_keyexpr_uses_counter(const c360_keyexpr *ke);

/* Gives the text of field i of the current record: return true and set
 * *val and *len (borrowed until the evaluation returns), or false when the
 * field is missing. */
typedef bool (*c360_keyexpr_lookup)(void *ctx, size_t field, const char **val, size_t *len);

/* Appends the key of one record to out. ordinal is the record's 1-based
 * number (for #MONO_INCR#). C360_ERR_NOT_FOUND when a referenced field is
 * missing or empty (err: "key field 'email' is missing" / "is empty"),
 * C360_ERR_INVALID when its value holds a NUL byte (err names the field and
 * the byte), C360_ERR_TOO_BIG past the buffer's cap. */
c360_rc c360_keyexpr_eval(const c360_keyexpr *ke, uint64_t ordinal, c360_keyexpr_lookup lookup,
			  void *ctx, struct c360_buf *out, char *err, size_t errlen);

#endif
