/* c360_buf: a growable byte buffer with a hard cap (curl's dynbuf).
 *
 * Every buffer whose size depends on input is capped: appending past `max`
 * fails with C360_ERR_TOO_BIG and leaves the buffer as it was. The data is
 * always NUL-terminated (the NUL is not counted in len). Not thread-safe. */
#ifndef C360_CORE_BUF_H
#define C360_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "core/rc.h"

struct c360_buf {
	char *data;  /* NULL until the first append */
	size_t len;  /* bytes used, without the trailing NUL */
	size_t cap;  /* bytes allocated */
	size_t max;  /* the cap on len; 0 = SIZE_MAX/2 */
};

/* Initialises an empty buffer capped at max bytes (0 = effectively no cap). */
void c360_buf_init(struct c360_buf *b, size_t max);
/* Frees the data; the buffer is empty and may be reused. Accepts NULL. */
void c360_buf_release(struct c360_buf *b);
/* Empties the buffer, keeping its memory. */
void c360_buf_reset(struct c360_buf *b);
/* Makes room for n more bytes (plus the NUL). */
c360_rc c360_buf_reserve(struct c360_buf *b, size_t n);
c360_rc c360_buf_append(struct c360_buf *b, const void *p, size_t n);
c360_rc c360_buf_puts(struct c360_buf *b, const char *s);
c360_rc c360_buf_putc(struct c360_buf *b, char c);
c360_rc c360_buf_printf(struct c360_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
c360_rc c360_buf_vprintf(struct c360_buf *b, const char *fmt, va_list ap);
/* Returns the NUL-terminated contents ("" when empty); valid until the next change. */
const char *c360_buf_cstr(const struct c360_buf *b);
/* Appends the whole file at path ("-" = stdin) to b. C360_ERR_NOT_FOUND when
 * it does not exist, C360_ERR_TOO_BIG past b's cap, C360_ERR_IO otherwise
 * (errno tells). */
c360_rc c360_buf_read_file(struct c360_buf *b, const char *path);
/* Hands the data to the caller (free() it) and empties the buffer; never NULL
 * unless out of memory. *len (optional) receives the length. */
char *c360_buf_detach(struct c360_buf *b, size_t *len);

#endif
