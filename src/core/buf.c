/* Growable, capped byte buffer. */
#include "core/buf.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

#define BUF_NO_CAP (SIZE_MAX / 2)

void c360_buf_init(struct c360_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max ? max : BUF_NO_CAP;
}

void c360_buf_release(struct c360_buf *b)
{
	if (!b)
		return;
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void c360_buf_reset(struct c360_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

c360_rc c360_buf_reserve(struct c360_buf *b, size_t n)
{
	if (n > b->max || b->len > b->max - n)
		return C360_ERR_TOO_BIG;
	size_t need = b->len + n + 1;
	if (need <= b->cap)
		return C360_OK;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 4 ? need : cap * 2;
	char *p = realloc(b->data, cap);
	if (!p)
		return C360_ERR_NOMEM;
	b->data = p;
	b->cap = cap;
	return C360_OK;
}

c360_rc c360_buf_append(struct c360_buf *b, const void *p, size_t n)
{
	c360_rc rc = c360_buf_reserve(b, n);
	if (rc)
		return rc;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return C360_OK;
}

c360_rc c360_buf_puts(struct c360_buf *b, const char *s)
{
	return c360_buf_append(b, s, strlen(s));
}

c360_rc c360_buf_putc(struct c360_buf *b, char c)
{
	if (b->len + 1 < b->cap) {
		b->data[b->len++] = c;
		b->data[b->len] = '\0';
		return C360_OK;
	}
	return c360_buf_append(b, &c, 1);
}

c360_rc c360_buf_vprintf(struct c360_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return C360_ERR_INVALID;
	c360_rc rc = c360_buf_reserve(b, (size_t)n);
	if (rc)
		return rc;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return C360_OK;
}

c360_rc c360_buf_printf(struct c360_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	c360_rc rc = c360_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

const char *c360_buf_cstr(const struct c360_buf *b)
{
	return b->data ? b->data : "";
}

char *c360_buf_detach(struct c360_buf *b, size_t *len)
{
	if (!b->data && c360_buf_reserve(b, 0))
		return NULL;
	/* a string even when nothing was written (a fresh or only reserved
	 * buffer holds an uninitialised block); reserve keeps len < cap */
	b->data[b->len] = '\0';
	char *p = b->data;
	if (len)
		*len = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

c360_rc c360_buf_read_file(struct c360_buf *b, const char *path)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	if (!f)
		return errno == ENOENT ? C360_ERR_NOT_FOUND : C360_ERR_IO;
	char chunk[65536];
	size_t n;
	c360_rc rc = C360_OK;
	while (!rc && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
		rc = c360_buf_append(b, chunk, n);
	if (!rc && ferror(f))
		rc = C360_ERR_IO;
	if (f != stdin)
		fclose(f);
	return rc;
}
