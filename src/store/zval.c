/* Value compression: documents of STORE_Z_MIN bytes or more are stored as
 * zstd frames (a BLOB column value) when that saves at least a tenth; other
 * values stay JSON text. The column's type tells which, so stores mix both
 * freely and compression can be turned off at any time. Compression runs in
 * the writer's calling thread (before the group commit), decompression in
 * the reader's; contexts are pooled per store.
 *
 * Dictionaries (format 3). A frame of one small JSON document has to carry
 * its own entropy tables and cannot refer to the keys and schema every
 * document of a bucket repeats: a 3 KB Debezium envelope shrinks 4× and
 * costs about 7 µs, with a dictionary trained on its bucket 26× and 2 µs
 * (decompression 4 → 1 µs). So each bucket samples its first
 * zdict_samples compressed values (each up to ZDICT_SAMPLE_MAX bytes),
 * trains a dictionary from them (ZDICT_trainFromBuffer, once, in the writing
 * thread that takes the last sample: some tens of ms), commits it to
 * _c360_zdict, and only then compresses with it. Frames carry the
 * dictionary's ID (zstd's Dictionary_ID, set to the row's id), so a reader
 * of any process finds it; rows are never deleted (a few KB per bucket; a
 * dropped bucket's name keeps its dictionary). A process writes a bucket with
 * the newest dictionary trained for its name.
 *
 * Retraining. A process measures how its values compress with that
 * dictionary, a window of 4 × zdict_samples values at a time; the first
 * window after the training is the baseline, kept in _c360_meta
 * ('zbase:ID') so that later processes (a nightly import, a restarted
 * pipeline) compare with it too. When a later window's compressed bytes per input
 * byte grow past ZRETRAIN_WORSE times the baseline (the documents changed
 * shape: new fields, another source), the bucket samples every other value
 * of the next window (still compressing them with the old dictionary),
 * trains a candidate on half of those samples and compresses the other half
 * with both. Only when the candidate stores them a tenth smaller does the
 * bucket get a successor, trained on all the samples, which then gets a
 * baseline of its own; otherwise the old dictionary stays. A
 * dictionary is retrained at most once in a process, and a bucket name has
 * at most ZDICT_MAX_PER_BUCKET dictionaries: an oscillating workload cannot
 * fill the table. The old dictionaries stay: older frames name them. */
#include "store/store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zdict.h>
#include <zstd.h>

#include "core/log.h"
#include "core/banned.h"

#define ZDICT_CAP (32 * 1024)          /* dictionary size (at most) */
#define ZDICT_SAMPLE_MAX (64 * 1024)   /* larger values are not sampled */
#define ZDICT_SAMPLE_BYTES (8u << 20)  /* a bucket's samples, at most */
#define ZDICT_ID_BASE 32768 /* RFC 8878: smaller IDs are for public registration */
#define ZRETRAIN_WORSE 1.5  /* a window this much worse than the baseline retrains */
#define ZDICT_MAX_PER_BUCKET 16

/* A CDict per compression level in use (levels rarely change; kept to close). */
struct zcd {
	int level;
	ZSTD_CDict *cd;
	struct zcd *next;
};

struct zdict {
	uint32_t id;
	char *bucket;
	void *data;
	size_t len;
	ZSTD_DDict *dd; /* made on first read */
	struct zcd *cds;
	/* how this process's values compress with it (the bucket's newest) */
	uint64_t win_in, win_out; /* bytes in and stored, this window */
	unsigned win_n;
	double base;   /* stored / in of its first window; 0 until then */
	bool resample; /* the bucket's values are sampled for a successor */
	bool retired;  /* retrained (or found wanting) once: not again */
	struct zdict *next;
};

struct ztrain {
	char *bucket;
	char *buf; /* the samples, back to back */
	size_t used, *lens;
	unsigned n, want; /* samples taken, and wanted */
	unsigned every, seen; /* one value in every: spread over a window */
	struct zdict *succ_of; /* the dictionary to replace, if any */
	bool closed; /* trained, being trained, or given up in this process */
	struct ztrain *next;
};

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

/* ---- the dictionaries (under zmu) ---- */

static struct zdict *zdict_by_id(c360_store *st, uint32_t id)
{
	for (struct zdict *d = st->zdicts; d; d = d->next)
		if (d->id == id)
			return d;
	return NULL;
}

static struct zdict *zdict_add(c360_store *st, uint32_t id, const char *bucket, const void *data,
			       size_t len)
{
	struct zdict *d = zdict_by_id(st, id);
	if (d)
		return d;
	d = calloc(1, sizeof *d);
	if (!d || !(d->bucket = strdup(bucket)) || !(d->data = malloc(len))) {
		if (d)
			free(d->bucket);
		free(d);
		return NULL;
	}
	memcpy(d->data, data, len);
	d->len = len;
	d->id = id;
	/* newest first: ids grow */
	struct zdict **pp = &st->zdicts;
	while (*pp && (*pp)->id > id)
		pp = &(*pp)->next;
	d->next = *pp;
	*pp = d;
	return d;
}

/* The dictionary this process writes bucket's values with. */
static struct zdict *zdict_for(c360_store *st, const char *bucket)
{
	for (struct zdict *d = st->zdicts; d; d = d->next)
		if (!strcmp(d->bucket, bucket))
			return d;
	return NULL;
}

static ZSTD_CDict *zdict_cdict(struct zdict *d, int level)
{
	for (struct zcd *z = d->cds; z; z = z->next)
		if (z->level == level)
			return z->cd;
	struct zcd *z = calloc(1, sizeof *z);
	if (!z)
		return NULL;
	if (!(z->cd = ZSTD_createCDict(d->data, d->len, level))) {
		free(z);
		return NULL;
	}
	z->level = level;
	z->next = d->cds;
	d->cds = z;
	return z->cd;
}

c360_rc store_zdict_load(c360_store *st, struct conn *c)
{
	sqlite3_stmt *s = NULL;
	int src = sqlite3_prepare_v2(c->db, "SELECT id, bucket, dict FROM _c360_zdict", -1, &s, NULL);
	if (src != SQLITE_OK)
		return C360_OK; /* a store of format 2 or older: no dictionaries */
	c360_rc rc = C360_OK;
	pthread_mutex_lock(&st->zmu);
	while ((src = sqlite3_step(s)) == SQLITE_ROW) {
		const char *bucket = (const char *)sqlite3_column_text(s, 1);
		const void *data = sqlite3_column_blob(s, 2);
		size_t len = (size_t)sqlite3_column_bytes(s, 2);
		if (!bucket || !data || !zdict_add(st, (uint32_t)sqlite3_column_int64(s, 0), bucket, data,
						   len)) {
			rc = C360_ERR_NOMEM;
			break;
		}
	}
	pthread_mutex_unlock(&st->zmu);
	if (!rc && src != SQLITE_DONE)
		rc = store_rc(src);
	sqlite3_finalize(s);
	s = NULL;
	/* the baselines kept by earlier processes */
	if (!rc && sqlite3_prepare_v2(c->db, "SELECT k, v FROM _c360_meta WHERE k GLOB 'zbase:*'",
				      -1, &s, NULL) == SQLITE_OK) {
		pthread_mutex_lock(&st->zmu);
		while (sqlite3_step(s) == SQLITE_ROW) {
			const char *k = (const char *)sqlite3_column_text(s, 0);
			struct zdict *d = k ? zdict_by_id(st, (uint32_t)strtoul(k + 6, NULL, 10)) : NULL;
			double base = sqlite3_column_double(s, 1);
			if (d && base > 0)
				d->base = base;
		}
		pthread_mutex_unlock(&st->zmu);
	}
	sqlite3_finalize(s);
	return rc;
}

/* A frame names a dictionary this process has not seen: another process
 * trained it after our open. Read it from the store. */
static struct zdict *zdict_fetch(c360_store *st, uint32_t id)
{
	c360_rc rc;
	struct conn *c = store_reader(st, &rc);
	if (!c)
		return NULL;
	struct zdict *d = NULL;
	sqlite3_stmt *s = store_stmt(c, "SELECT bucket, dict FROM _c360_zdict WHERE id=?1");
	if (s) {
		sqlite3_bind_int64(s, 1, id);
		if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0) &&
		    sqlite3_column_blob(s, 1)) {
			pthread_mutex_lock(&st->zmu);
			d = zdict_add(st, id, (const char *)sqlite3_column_text(s, 0),
				      sqlite3_column_blob(s, 1), (size_t)sqlite3_column_bytes(s, 1));
			pthread_mutex_unlock(&st->zmu);
		}
		sqlite3_reset(s);
	}
	store_reader_put(st, c);
	return d;
}

/* ---- training ---- */

/* Starts (or restarts) a sampling: a bucket's first dictionary takes its
 * first zdict_samples values; a successor of cur takes twice as many, one
 * value in two over the next window (the traffic as it now is, not one
 * burst of it): every other one trains it, the rest judge it. */
static bool ztrain_open(c360_store *st, struct ztrain *t, struct zdict *cur)
{
	unsigned want = (unsigned)st->zdict_samples * (cur ? 2u : 1u);
	free(t->lens);
	if (!(t->lens = malloc((size_t)want * sizeof *t->lens)))
		return false;
	t->want = want;
	t->every = cur ? 2 : 1;
	t->seen = 0;
	t->succ_of = cur;
	t->closed = false;
	t->used = t->n = 0;
	return true;
}

/* Adds v to bucket's samples; returns the sampling when it is complete and
 * the caller is to train it. cur: the bucket's dictionary when the samples
 * are for its successor (cur->resample), else NULL. */
static struct ztrain *ztrain_sample(c360_store *st, const char *bucket, struct zdict *cur,
				    const char *v, size_t n)
{
	struct ztrain *t = st->ztrains;
	while (t && strcmp(t->bucket, bucket))
		t = t->next;
	if (!t) {
		t = calloc(1, sizeof *t);
		if (!t || !(t->bucket = strdup(bucket)) || !ztrain_open(st, t, cur)) {
			if (t)
				free(t->bucket);
			free(t);
			return NULL;
		}
		t->next = st->ztrains;
		st->ztrains = t;
	} else if (t->closed && cur && !ztrain_open(st, t, cur)) {
		return NULL;
	}
	if (t->closed || t->seen++ % t->every)
		return NULL;
	if (t->used + n > ZDICT_SAMPLE_BYTES) {
		t->closed = true; /* enough bytes already: train with what there is */
		if (cur)
			cur->resample = false;
		return t;
	}
	char *nb = realloc(t->buf, t->used + n);
	if (!nb)
		return NULL;
	t->buf = nb;
	memcpy(t->buf + t->used, v, n);
	t->used += n;
	t->lens[t->n++] = n;
	if (t->n < t->want)
		return NULL;
	t->closed = true;
	if (cur)
		cur->resample = false;
	return t;
}

/* Counts one value compressed with d (stored: its stored size, n when it was
 * stored as text); at the end of a window compares it with d's baseline and
 * may start sampling for a successor. True when this window was the
 * baseline, which the caller then keeps in the store. Under zmu. */
static bool zdict_account(c360_store *st, struct zdict *d, size_t n, size_t stored)
{
	if (st->zdict_samples <= 0)
		return false; /* this handle trains none */
	d->win_in += n;
	d->win_out += stored;
	if (++d->win_n < 4u * (unsigned)st->zdict_samples)
		return false;
	double r = (double)d->win_out / (double)d->win_in;
	d->win_in = d->win_out = 0;
	d->win_n = 0;
	if (d->base <= 0) {
		d->base = r;
		return true;
	}
	if (d->retired || r <= d->base * ZRETRAIN_WORSE)
		return false;
	d->retired = true;
	unsigned have = 0;
	for (struct zdict *o = st->zdicts; o; o = o->next)
		have += !strcmp(o->bucket, d->bucket);
	if (have >= ZDICT_MAX_PER_BUCKET) {
		C360_INFO("store", "bucket '%s': values now compress to %.0f %% of their size "
				   "(%.0f %% when zstd dictionary %u was new); not retrained: the bucket "
				   "has %u dictionaries already",
			  d->bucket, r * 100, d->base * 100, d->id, have);
		return false;
	}
	d->resample = true;
	C360_INFO("store", "bucket '%s': values now compress to %.0f %% of their size (%.0f %% when "
			   "zstd dictionary %u was new); sampling the next %u values for a new one",
		  d->bucket, r * 100, d->base * 100, d->id, 4u * (unsigned)st->zdict_samples);
	return false;
}

struct zbase_put {
	uint32_t id;
	double base;
};

/* Keeps a dictionary's baseline for later processes (the first one
 * measured stays). */
static c360_rc zbase_put_fn(c360_store *st, struct conn *c, void *arg, int64_t now)
{
	(void)st;
	(void)now;
	struct zbase_put *a = arg;
	char k[32];
	snprintf(k, sizeof k, "zbase:%u", (unsigned)a->id);
	sqlite3_stmt *s = store_stmt(c, "INSERT OR IGNORE INTO _c360_meta(k, v) VALUES(?1, ?2)");
	if (!s)
		return store_rc(sqlite3_errcode(c->db));
	sqlite3_bind_text(s, 1, k, -1, SQLITE_TRANSIENT);
	sqlite3_bind_double(s, 2, a->base);
	int src = sqlite3_step(s);
	sqlite3_reset(s);
	return src == SQLITE_DONE ? C360_OK : store_rc(src);
}

struct zdict_put {
	const char *bucket;
	unsigned char *dict;
	size_t len;
	unsigned samples;
	uint32_t id;
};

/* In the writer's transaction: the next id, written into the dictionary's
 * header (bytes 4-7, little endian, after the magic number), and the row. */
static c360_rc zdict_put_fn(c360_store *st, struct conn *c, void *arg, int64_t now)
{
	(void)st;
	struct zdict_put *a = arg;
	sqlite3_stmt *s = store_stmt(c, "SELECT coalesce(max(id), 0) FROM _c360_zdict");
	if (!s)
		return store_rc(sqlite3_errcode(c->db));
	int src = sqlite3_step(s);
	int64_t max = src == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	if (src != SQLITE_ROW)
		return store_rc(src);
	uint32_t id = max < ZDICT_ID_BASE ? ZDICT_ID_BASE : (uint32_t)max + 1;
	for (int i = 0; i < 4; i++)
		a->dict[4 + i] = (unsigned char)(id >> (8 * i));
	s = store_stmt(c, "INSERT INTO _c360_zdict(id, bucket, created, samples, dict)"
			  " VALUES(?1, ?2, ?3, ?4, ?5)");
	if (!s)
		return store_rc(sqlite3_errcode(c->db));
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, a->bucket, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, now);
	sqlite3_bind_int64(s, 4, a->samples);
	sqlite3_bind_blob(s, 5, a->dict, (int)a->len, SQLITE_STATIC);
	src = sqlite3_step(s);
	sqlite3_reset(s);
	if (src != SQLITE_DONE)
		return store_rc(src);
	a->id = id;
	return C360_OK;
}

/* The stored size of the held-out samples (the odd ones) compressed with
 * cd: a value that saves less than a tenth counts whole, as the store then
 * keeps it as text. */
static size_t zheld_size(ZSTD_CCtx *c, const ZSTD_CDict *cd, const char *buf, const size_t *lens,
			 unsigned n, char *dst, size_t cap)
{
	size_t total = 0, off = 0;
	for (unsigned i = 0; i < n; off += lens[i], i++) {
		if (!(i % 2))
			continue;
		size_t z = ZSTD_compress_usingCDict(c, dst, cap, buf + off, lens[i], cd);
		total += !ZSTD_isError(z) && z < lens[i] - lens[i] / 10 ? z : lens[i];
	}
	return total;
}

/* Whether the successor (dict, len) compresses the held-out samples a tenth
 * better than old does; *osz, *nsz, *raw: their sizes with each, and as
 * they are. */
static bool zsucc_better(c360_store *st, struct zdict *old, const unsigned char *dict, size_t len,
			 const char *buf, const size_t *lens, unsigned n, size_t *osz, size_t *nsz,
			 size_t *raw)
{
	int level = __atomic_load_n(&st->zlevel, __ATOMIC_RELAXED);
	if (!level)
		level = 1;
	pthread_mutex_lock(&st->zmu);
	ZSTD_CDict *ocd = zdict_cdict(old, level);
	pthread_mutex_unlock(&st->zmu);
	ZSTD_CDict *ncd = ZSTD_createCDict(dict, len, level);
	ZSTD_CCtx *c = ZSTD_createCCtx();
	size_t cap = ZSTD_compressBound(ZDICT_SAMPLE_MAX);
	char *dst = malloc(cap);
	bool ok = ocd && ncd && c && dst;
	*osz = *nsz = *raw = 0;
	if (ok) {
		*osz = zheld_size(c, ocd, buf, lens, n, dst, cap);
		*nsz = zheld_size(c, ncd, buf, lens, n, dst, cap);
		for (unsigned i = 1; i < n; i += 2)
			*raw += lens[i];
	}
	free(dst);
	ZSTD_freeCCtx(c);
	ZSTD_freeCDict(ncd);
	return ok && *raw && *nsz * 10 <= *osz * 9;
}

/* Trains t's dictionary, commits it and makes it the bucket's. On any
 * failure the bucket goes on without one (in this process). For a
 * successor, a candidate trained on every other sample must compress the
 * others a tenth better than the dictionary it would replace, or the bucket
 * keeps the old one; the successor is then trained on all the samples. */
static void ztrain_run(c360_store *st, struct ztrain *t)
{
	pthread_mutex_lock(&st->zmu);
	char *buf = t->buf;
	size_t used = t->used, *lens = t->lens;
	unsigned n = t->n;
	struct zdict *old = t->succ_of;
	t->buf = NULL;
	t->lens = NULL;
	t->used = t->n = 0;
	pthread_mutex_unlock(&st->zmu);
	/* the training set: all samples, or a successor's even ones */
	char *tbuf = buf;
	size_t tused = used, *tlens = lens;
	unsigned tn = n;
	if (old) {
		tbuf = malloc(used ? used : 1);
		tlens = malloc((n ? n : 1) * sizeof *tlens);
		tused = 0;
		tn = 0;
		size_t off = 0;
		for (unsigned i = 0; tbuf && tlens && i < n; off += lens[i], i++) {
			if (i % 2)
				continue;
			memcpy(tbuf + tused, buf + off, lens[i]);
			tused += lens[i];
			tlens[tn++] = lens[i];
		}
	}
	size_t cap = tused / 8 < ZDICT_CAP ? tused / 8 : ZDICT_CAP;
	unsigned char *dict = cap >= 1024 && tbuf && tlens ? malloc(cap) : NULL;
	size_t len = dict ? ZDICT_trainFromBuffer(dict, cap, tbuf, tlens, tn) : 0;
	if (old) {
		free(tbuf);
		free(tlens);
	}
	/* its ID goes into the header: a dictionary without one (raw content)
	 * cannot name itself */
	if (!dict || ZDICT_isError(len) || len < 8 || !ZDICT_getDictID(dict, len)) {
		C360_DEBUG("store", "bucket '%s': no %szstd dictionary (%s)", t->bucket,
			   old ? "new " : "",
			   !dict		? "too few sample bytes"
			   : ZDICT_isError(len) ? ZDICT_getErrorName(len)
						: "no dictionary header");
		free(dict);
		free(buf);
		free(lens);
		return;
	}
	unsigned held = n - tn;
	size_t osz = 0, nsz = 0, raw = 0;
	if (old && !zsucc_better(st, old, dict, len, buf, lens, n, &osz, &nsz, &raw)) {
		C360_INFO("store", "bucket '%s': keeps zstd dictionary %u: one trained on %u recent "
				   "values stored %u others in %.0f %% of their size, against %.0f %% "
				   "with it",
			  t->bucket, old->id, tn, held, raw ? 100.0 * (double)nsz / (double)raw : 0,
			  raw ? 100.0 * (double)osz / (double)raw : 0);
		free(dict);
		free(buf);
		free(lens);
		return;
	}
	if (old) {
		/* judged: the one kept is trained on every sample */
		size_t fcap = used / 8 < ZDICT_CAP ? used / 8 : ZDICT_CAP;
		unsigned char *full = malloc(fcap);
		size_t flen = full ? ZDICT_trainFromBuffer(full, fcap, buf, lens, n) : 0;
		if (full && !ZDICT_isError(flen) && flen >= 8 && ZDICT_getDictID(full, flen)) {
			free(dict);
			dict = full;
			len = flen;
			tn = n;
		} else {
			free(full);
		}
	}
	free(buf);
	free(lens);
	struct zdict_put a = {t->bucket, dict, len, tn, 0};
	c360_rc rc = store_submit(st, zdict_put_fn, &a);
	if (!rc) {
		pthread_mutex_lock(&st->zmu);
		if (!zdict_add(st, a.id, t->bucket, dict, len))
			rc = C360_ERR_NOMEM;
		pthread_mutex_unlock(&st->zmu);
	}
	if (rc)
		C360_WARN("store", "bucket '%s': cannot keep its zstd dictionary (%s); its values are "
				   "compressed %s",
			  t->bucket, c360_rc_str(rc), old ? "with the one before" : "without one");
	else if (old)
		C360_INFO("store", "bucket '%s': zstd dictionary %u (%zu bytes, from %u recent values) "
				   "replaces %u: trained on half of them, it stored the other %u in "
				   "%.0f %% of their size, against %.0f %% with %u",
			  t->bucket, a.id, len, tn, old->id, held, 100.0 * (double)nsz / (double)raw,
			  100.0 * (double)osz / (double)raw, old->id);
	else
		C360_DEBUG("store", "bucket '%s': zstd dictionary %u (%zu bytes) trained from %u values",
			   t->bucket, a.id, len, n);
	free(dict);
}

/* ---- compress / decompress ---- */

void store_z_compress(c360_store *st, const char *bucket, const char *v, size_t n, char *dst,
		      size_t cap, size_t *out)
{
	*out = 0;
	struct ztrain *train = NULL;
	ZSTD_CDict *cd = NULL;
	struct zdict *d = NULL;
	pthread_mutex_lock(&st->zmu);
	int level = __atomic_load_n(&st->zlevel, __ATOMIC_RELAXED);
	ZSTD_CCtx *c = st->nzc ? st->zc[--st->nzc] : NULL;
	if (level && n >= STORE_Z_MIN) {
		struct zdict *cur = zdict_for(st, bucket);
		if (cur && (cd = zdict_cdict(cur, level)))
			d = cur; /* else out of memory: compressed without it, not counted */
		if ((!cur || cur->resample) && st->zdict_samples > 0 && n <= ZDICT_SAMPLE_MAX)
			train = ztrain_sample(st, bucket, cur, v, n);
	}
	pthread_mutex_unlock(&st->zmu);
	if (!level || n < STORE_Z_MIN)
		goto put;
	if (!c && !(c = ZSTD_createCCtx()))
		goto train;
	size_t z = cd ? ZSTD_compress_usingCDict(c, dst, cap, v, n, cd)
		      : ZSTD_compressCCtx(c, dst, cap, v, n, level);
	if (!ZSTD_isError(z) && z < n - n / 10)
		*out = z;
put:
	if (c || d) {
		struct zbase_put bp = {0, 0};
		pthread_mutex_lock(&st->zmu);
		if (d && zdict_account(st, d, n, *out ? *out : n))
			bp = (struct zbase_put){d->id, d->base};
		if (c && st->nzc < STORE_Z_POOL) {
			st->zc[st->nzc++] = c;
			c = NULL;
		}
		pthread_mutex_unlock(&st->zmu);
		ZSTD_freeCCtx(c);
		if (bp.id && store_submit(st, zbase_put_fn, &bp))
			C360_DEBUG("store", "bucket '%s': cannot keep the baseline of zstd dictionary %u",
				   bucket, (unsigned)bp.id);
	}
train:
	if (train)
		ztrain_run(st, train);
}

c360_rc store_z_decompress(c360_store *st, const void *src, size_t n, char **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	unsigned long long size = ZSTD_getFrameContentSize(src, n);
	if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN ||
	    size > C360_VALUE_MAX)
		return C360_ERR_CORRUPT;
	unsigned id = ZSTD_getDictID_fromFrame(src, n);
	ZSTD_DDict *dd = NULL;
	if (id) {
		pthread_mutex_lock(&st->zmu);
		struct zdict *d = zdict_by_id(st, id);
		pthread_mutex_unlock(&st->zmu);
		if (!d && !(d = zdict_fetch(st, id)))
			return C360_ERR_CORRUPT; /* its dictionary is missing */
		pthread_mutex_lock(&st->zmu);
		if (!d->dd)
			d->dd = ZSTD_createDDict(d->data, d->len);
		dd = d->dd;
		pthread_mutex_unlock(&st->zmu);
		if (!dd)
			return C360_ERR_NOMEM;
	}
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
	size_t got = dd ? ZSTD_decompress_usingDDict(d, buf, (size_t)size, src, n, dd)
			: ZSTD_decompressDCtx(d, buf, (size_t)size, src, n);
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
	while (st->zdicts) {
		struct zdict *d = st->zdicts;
		st->zdicts = d->next;
		while (d->cds) {
			struct zcd *z = d->cds;
			d->cds = z->next;
			ZSTD_freeCDict(z->cd);
			free(z);
		}
		ZSTD_freeDDict(d->dd);
		free(d->data);
		free(d->bucket);
		free(d);
	}
	while (st->ztrains) {
		struct ztrain *t = st->ztrains;
		st->ztrains = t->next;
		free(t->buf);
		free(t->lens);
		free(t->bucket);
		free(t);
	}
}
