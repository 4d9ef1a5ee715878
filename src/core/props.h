/* Java .properties text (java.util.Properties#load, the format of Kafka
 * Connect's connector and worker files), read into key/value pairs.
 *
 * Accepted: natural lines ended by \n, \r or \r\n; blank lines; comment
 * lines whose first non-blank character is '#' or '!'; a logical line
 * continued by an odd number of trailing backslashes (the next line's
 * leading blanks are dropped); key and value separated by the first
 * unescaped '=', ':' or blank (blanks around the separator dropped);
 * escapes \t \n \r \f \uXXXX (UTF-16, surrogate pairs combined) and
 * \<any other character> = that character. The text must be UTF-8 (Java
 * reads ISO-8859-1; c360 configurations are UTF-8 like its JSON).
 *
 * Errors (a malformed \u escape, a lone surrogate, invalid UTF-8, a NUL
 * byte, a key or value over C360_PROPS_MAX) stop the parse with the
 * 1-based line and column (in bytes) of the offending character. Safe on
 * any bytes (fuzzed: tests/fuzz/fuzz_props.c). */
#ifndef C360_CORE_PROPS_H
#define C360_CORE_PROPS_H

#include <stddef.h>

#include "core/rc.h"

#define C360_PROPS_MAX (1u << 20) /* longest decoded key or value */

struct c360_props_error {
	unsigned line, col; /* 1-based; col counts bytes */
	char msg[96];
};

/* Called once per entry, in file order (a key repeated later comes again:
 * the last one wins for Java). key and value are decoded, NUL-terminated
 * and borrowed for the call; line is where the entry starts. A non-zero
 * return stops the parse and is returned. */
typedef c360_rc (*c360_props_fn)(const char *key, size_t klen, const char *value, size_t vlen, unsigned line,
				 void *ctx);

/* Parses text[0..len). C360_ERR_INVALID with *err filled on malformed
 * input, C360_ERR_NOMEM, or what fn returned. err may be NULL. */
c360_rc c360_props_parse(const char *text, size_t len, c360_props_fn fn, void *ctx, struct c360_props_error *err);

/* Formats err as "line L, column C: MSG" into out. */
void c360_props_error_str(const struct c360_props_error *err, char *out, size_t outlen);

#endif
