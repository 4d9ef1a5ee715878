/* Value compression: documents of STORE_Z_MIN bytes or more are stored as
 * zstd frames (a BLOB column value) when that saves at least a tenth; other
 * values stay JSON text. The column's type tells which, so stores mix both
 * freely and compression can be turned off at any time. Compression runs in
 * the writer's calling thread (before the group commit), decompression in
 * the reader's; contexts are pooled per store. */
#include "store/store_int.h"

#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "core/banned.h"

void c360_store_set_compression(c360_store *st, int level)
{
	if (level < 0)
		level = 0;
	if (level > ZSTD_maxCLevel())
		level = ZSTD_maxCLevel();
	__atomic_store_n(&st->zlevel, level, __ATOMIC_RELAXED);
}

size_t store_z_bound(size_t n)
{
	return ZSTD_compressBound(n);
}

void store_z_compress(c360_store *st, const char *v, size_t n, char *dst, size_t cap,
		      size_t *out)
{
	*out = 0;
	pthread_mutex_lock(&st->zmu);
	int level = __atomic_load_n(&st->zlevel, __ATOMIC_RELAXED);
	ZSTD_CCtx *c = st->nzc ? st->zc[--st->nzc] : NULL;
	pthread_mutex_unlock(&st->zmu);
	if (!level || n < STORE_Z_MIN)
		goto put;
	if (!c && !(c = ZSTD_createCCtx()))
		return;
	size_t z = ZSTD_compressCCtx(c, dst, cap, v, n, level);
	if (!ZSTD_isError(z) && z < n - n / 10)
		*out = z;
put:
	if (!c)
		return;
	pthread_mutex_lock(&st->zmu);
	if (st->nzc < STORE_Z_POOL) {
		st->zc[st->nzc++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&st->zmu);
	ZSTD_freeCCtx(c);
}

c360_rc store_z_decompress(c360_store *st, const void *src, size_t n, char **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	unsigned long long size = ZSTD_getFrameContentSize(src, n);
	if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN ||
	    size > C360_VALUE_MAX)
		return C360_ERR_CORRUPT;
	char *buf = malloc((size_t)size + 1);
	if (!buf)
		return C360_ERR_NOMEM;
	pthread_mutex_lock(&st->zmu);
	ZSTD_DCtx *d = st->nzd ? st->zd[--st->nzd] : NULL;
	pthread_mutex_unlock(&st->zmu);
	if (!d && !(d = ZSTD_createDCtx())) {
		free(buf);
		return C360_ERR_NOMEM;
	}
	size_t got = ZSTD_decompressDCtx(d, buf, (size_t)size, src, n);
	pthread_mutex_lock(&st->zmu);
	if (st->nzd < STORE_Z_POOL) {
		st->zd[st->nzd++] = d;
		d = NULL;
	}
	pthread_mutex_unlock(&st->zmu);
	ZSTD_freeDCtx(d);
	if (ZSTD_isError(got) || got != size) {
		free(buf);
		return C360_ERR_CORRUPT;
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return C360_OK;
}

void store_z_release(c360_store *st)
{
	for (int i = 0; i < st->nzc; i++)
		ZSTD_freeCCtx(st->zc[i]);
	for (int i = 0; i < st->nzd; i++)
		ZSTD_freeDCtx(st->zd[i]);
	st->nzc = st->nzd = 0;
}
