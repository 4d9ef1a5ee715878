/* A VFS shim for the writer connection: it gathers the writes of the WAL
 * file into one buffer and hands them to the real VFS in large pieces.
 *
 * SQLite writes each WAL frame as two writes (a 24-byte header, then the
 * page), so a bulk load of 200 MB is about 100 000 small pwrite() calls; the
 * frames are not page-aligned either, so the kernel copies into pages that
 * the previous fsync may still be writing back. Gathered, the same frames
 * are a few hundred large writes.
 *
 * What is in the buffer is not yet in the file, so it is written out before
 * anyone could need it:
 *   - before every read, truncate, size query, sync or file control of the
 *     WAL file, and when it is closed;
 *   - when the connection releases the WAL write lock (the end of every
 *     write transaction, committed or rolled back), so that the frames of a
 *     rolled-back transaction cannot land later over another writer's;
 *   - at every shared-memory barrier of the database file: SQLite publishes
 *     a new WAL index header (which makes frames visible to other
 *     connections) with a barrier between its two copies.
 * The store opens its writer through this VFS only with synchronous=FULL,
 * where SQLite also syncs the WAL (and so empties the buffer) before it
 * publishes a commit; the rules above keep it safe regardless.
 *
 * Files other than the main database and its WAL are opened by the real VFS
 * in place (the shim adds nothing to them). */
#include "store/store_int.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "core/banned.h"

#define WALBUF_NAME "c360-walbuf"
#define WALBUF_CAP (1u << 20)

struct wfile {
	sqlite3_file base;     /* base.pMethods: db_methods or wal_methods */
	sqlite3_file *real;    /* the real VFS's file, right after this struct */
	struct wfile *peer;    /* database <-> its WAL, while both are open */
	/* bytes not yet written, for file offsets [off, off + len) */
	char *buf;
	size_t len;
	sqlite3_int64 off;
	/* WAL: bytes read ahead, for file offsets [roff, roff + rlen); where
	 * the last read ended */
	char *rbuf;
	size_t rlen;
	sqlite3_int64 roff, rnext;
	/* a failed write of buffered bytes: every later flush returns it, so
	 * no sync, read or commit can succeed over bytes that were lost */
	int failed;
};

static sqlite3_vfs *real_vfs;
static sqlite3_vfs shim_vfs;
static sqlite3_io_methods db_methods, wal_methods;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static bool registered;

#define REAL(pf) (((struct wfile *)(pf))->real)
#define RM(pf) (REAL(pf)->pMethods)

/* The unix VFS writes at most 128 KiB - 1 per call (it masks the length
 * with 0x1ffff), so the buffer goes out in pieces below that. */
#define WRITE_PIECE (124u << 10)

static int pend_flush(struct wfile *f)
{
	if (f && f->failed)
		return f->failed;
	if (!f || !f->len)
		return SQLITE_OK;
	int rc = SQLITE_OK;
	for (size_t done = 0; done < f->len && rc == SQLITE_OK;) {
		size_t n = f->len - done < WRITE_PIECE ? f->len - done : WRITE_PIECE;
		rc = f->real->pMethods->xWrite(f->real, f->buf + done, (int)n,
					       f->off + (sqlite3_int64)done);
		done += n;
	}
	f->len = 0;
	if (rc)
		f->failed = rc;
	return rc;
}

/* ---- the WAL file ---- */

static int wal_close(sqlite3_file *pf)
{
	struct wfile *f = (struct wfile *)pf;
	int rc = pend_flush(f);
	if (f->peer && f->peer->peer == f)
		f->peer->peer = NULL;
	sqlite3_free(f->buf);
	sqlite3_free(f->rbuf);
	f->buf = f->rbuf = NULL;
	int rc2 = RM(pf)->xClose(REAL(pf));
	return rc ? rc : rc2;
}

/* WAL reads that follow one another in the file (a checkpoint after a bulk
 * load reads frame after frame: page data, skip the next frame's header,
 * page data) are served from a read-ahead chunk; scattered reads go to the
 * file as they are. Frames a connection may read (those of its snapshot) do
 * not change while it holds its locks, so the chunk is dropped whenever the
 * connection takes or releases one, and on its own writes. */
#define READ_AHEAD (256u << 10)
#define READ_GAP 64 /* a frame header */

static int wal_read(sqlite3_file *pf, void *p, int n, sqlite3_int64 ofst)
{
	struct wfile *f = (struct wfile *)pf;
	int rc = pend_flush(f);
	if (rc)
		return rc;
	if (f->rlen && ofst >= f->roff && ofst + n <= f->roff + (sqlite3_int64)f->rlen) {
		memcpy(p, f->rbuf + (ofst - f->roff), (size_t)n);
		f->rnext = ofst + n;
		return SQLITE_OK;
	}
	f->rlen = 0;
	bool follows = ofst >= f->rnext && ofst - f->rnext <= READ_GAP;
	f->rnext = ofst + n;
	if (follows && (size_t)n <= READ_AHEAD / 4) {
		if (!f->rbuf)
			f->rbuf = sqlite3_malloc(READ_AHEAD);
		/* a short read (the end of the file) is not kept */
		if (f->rbuf && RM(pf)->xRead(REAL(pf), f->rbuf, READ_AHEAD, ofst) == SQLITE_OK) {
			f->rlen = READ_AHEAD;
			f->roff = ofst;
			memcpy(p, f->rbuf, (size_t)n);
			return SQLITE_OK;
		}
	}
	return RM(pf)->xRead(REAL(pf), p, n, ofst);
}

/* Adds a write to the pending bytes (contiguous with them), or writes out
 * what is pending first and starts anew. */
static int pend_write(sqlite3_file *pf, const void *p, int n, sqlite3_int64 ofst)
{
	struct wfile *f = (struct wfile *)pf;
	f->rlen = 0;
	if (f->len && ofst == f->off + (sqlite3_int64)f->len && f->len + (size_t)n <= WALBUF_CAP) {
		memcpy(f->buf + f->len, p, (size_t)n);
		f->len += (size_t)n;
		return SQLITE_OK;
	}
	/* anything else: what is pending goes first, in order */
	int rc = pend_flush(f);
	if (rc)
		return rc;
	if (!f->buf)
		f->buf = sqlite3_malloc(WALBUF_CAP);
	if (!f->buf || (size_t)n >= WRITE_PIECE)
		return RM(pf)->xWrite(REAL(pf), p, n, ofst);
	memcpy(f->buf, p, (size_t)n);
	f->len = (size_t)n;
	f->off = ofst;
	return SQLITE_OK;
}

static int wal_truncate(sqlite3_file *pf, sqlite3_int64 size)
{
	((struct wfile *)pf)->rlen = 0;
	int rc = pend_flush((struct wfile *)pf);
	return rc ? rc : RM(pf)->xTruncate(REAL(pf), size);
}

static int wal_sync(sqlite3_file *pf, int flags)
{
	int rc = pend_flush((struct wfile *)pf);
	return rc ? rc : RM(pf)->xSync(REAL(pf), flags);
}

static int wal_size(sqlite3_file *pf, sqlite3_int64 *size)
{
	int rc = pend_flush((struct wfile *)pf);
	return rc ? rc : RM(pf)->xFileSize(REAL(pf), size);
}

static int wal_fcntl(sqlite3_file *pf, int op, void *arg)
{
	int rc = pend_flush((struct wfile *)pf);
	return rc ? rc : RM(pf)->xFileControl(REAL(pf), op, arg);
}

/* ---- the database file ----
 * Its writes (checkpoints copying WAL frames into it, in page order) are
 * gathered too, and written out before any other operation on it: SQLite
 * syncs the file before it records a checkpoint's progress in the WAL
 * index, which is when other connections may read those pages from it. */

#define FLUSHED(pf)                                                   \
	do {                                                          \
		int frc_ = pend_flush((struct wfile *)(pf));          \
		if (frc_ != SQLITE_OK)                                \
			return frc_;                                  \
	} while (0)

static int db_close(sqlite3_file *pf)
{
	struct wfile *f = (struct wfile *)pf;
	int rc = pend_flush(f);
	if (f->peer && f->peer->peer == f)
		f->peer->peer = NULL;
	sqlite3_free(f->buf);
	f->buf = NULL;
	int rc2 = RM(pf)->xClose(REAL(pf));
	return rc ? rc : rc2;
}

static int db_read(sqlite3_file *pf, void *p, int n, sqlite3_int64 ofst)
{
	FLUSHED(pf);
	return RM(pf)->xRead(REAL(pf), p, n, ofst);
}

static int db_truncate(sqlite3_file *pf, sqlite3_int64 size)
{
	FLUSHED(pf);
	return RM(pf)->xTruncate(REAL(pf), size);
}

static int db_sync(sqlite3_file *pf, int flags)
{
	FLUSHED(pf);
	return RM(pf)->xSync(REAL(pf), flags);
}

static int db_size(sqlite3_file *pf, sqlite3_int64 *size)
{
	FLUSHED(pf);
	return RM(pf)->xFileSize(REAL(pf), size);
}

static int db_fcntl(sqlite3_file *pf, int op, void *arg)
{
	FLUSHED(pf);
	return RM(pf)->xFileControl(REAL(pf), op, arg);
}

static int db_lock(sqlite3_file *pf, int l)
{
	FLUSHED(pf);
	return RM(pf)->xLock(REAL(pf), l);
}

static int db_unlock(sqlite3_file *pf, int l)
{
	FLUSHED(pf);
	return RM(pf)->xUnlock(REAL(pf), l);
}

static int db_reserved(sqlite3_file *pf, int *out)
{
	FLUSHED(pf);
	return RM(pf)->xCheckReservedLock(REAL(pf), out);
}

static int db_shm_map(sqlite3_file *pf, int pg, int sz, int extend, void volatile **pp)
{
	FLUSHED(pf);
	return RM(pf)->xShmMap(REAL(pf), pg, sz, extend, pp);
}

static int db_shm_unmap(sqlite3_file *pf, int del)
{
	FLUSHED(pf);
	return RM(pf)->xShmUnmap(REAL(pf), del);
}

static int db_fetch(sqlite3_file *pf, sqlite3_int64 ofst, int n, void **pp)
{
	FLUSHED(pf);
	return RM(pf)->xFetch(REAL(pf), ofst, n, pp);
}

static int db_unfetch(sqlite3_file *pf, sqlite3_int64 ofst, void *p)
{
	FLUSHED(pf);
	return RM(pf)->xUnfetch(REAL(pf), ofst, p);
}

static int db_shm_lock(sqlite3_file *pf, int ofst, int n, int flags)
{
	struct wfile *f = (struct wfile *)pf;
	if (f->peer)
		f->peer->rlen = 0; /* the WAL may change between lock changes */
	if (flags & SQLITE_SHM_UNLOCK) {
		/* an unlock always happens (a failed write stays on its file and
		 * fails what comes next); slot 0 is the WAL write lock: its
		 * release ends a write transaction */
		pend_flush(f);
		if (ofst == 0 && f->peer)
			pend_flush(f->peer);
		return RM(pf)->xShmLock(REAL(pf), ofst, n, flags);
	}
	FLUSHED(pf);
	return RM(pf)->xShmLock(REAL(pf), ofst, n, flags);
}

static void db_shm_barrier(sqlite3_file *pf)
{
	struct wfile *f = (struct wfile *)pf;
	/* a WAL index header or checkpoint progress is about to be published:
	 * the bytes first (a failure here cannot be returned: it stays on the
	 * file, and its next flush, sync or read returns it) */
	pend_flush(f);
	if (f->peer)
		pend_flush(f->peer);
	RM(pf)->xShmBarrier(REAL(pf));
}

/* ---- shared by both ---- */

static int f_lock(sqlite3_file *pf, int l)
{
	return RM(pf)->xLock(REAL(pf), l);
}

static int f_unlock(sqlite3_file *pf, int l)
{
	return RM(pf)->xUnlock(REAL(pf), l);
}

static int f_reserved(sqlite3_file *pf, int *out)
{
	return RM(pf)->xCheckReservedLock(REAL(pf), out);
}

static int f_sector(sqlite3_file *pf)
{
	return RM(pf)->xSectorSize(REAL(pf));
}

static int f_devchar(sqlite3_file *pf)
{
	return RM(pf)->xDeviceCharacteristics(REAL(pf));
}

static int f_shm_map(sqlite3_file *pf, int pg, int sz, int extend, void volatile **pp)
{
	return RM(pf)->xShmMap(REAL(pf), pg, sz, extend, pp);
}

static int f_shm_unmap(sqlite3_file *pf, int del)
{
	return RM(pf)->xShmUnmap(REAL(pf), del);
}

static int f_fetch(sqlite3_file *pf, sqlite3_int64 ofst, int n, void **pp)
{
	return RM(pf)->xFetch(REAL(pf), ofst, n, pp);
}

static int f_unfetch(sqlite3_file *pf, sqlite3_int64 ofst, void *p)
{
	return RM(pf)->xUnfetch(REAL(pf), ofst, p);
}

static void wal_shm_barrier(sqlite3_file *pf)
{
	RM(pf)->xShmBarrier(REAL(pf));
}

static int f_shm_lock(sqlite3_file *pf, int ofst, int n, int flags)
{
	return RM(pf)->xShmLock(REAL(pf), ofst, n, flags);
}

/* ---- the VFS ---- */

static int shim_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *pf, int flags,
		     int *out_flags)
{
	(void)vfs;
	bool db = (flags & SQLITE_OPEN_MAIN_DB) != 0, wal = (flags & SQLITE_OPEN_WAL) != 0;
	if (!db && !wal) /* journals, temporary files: the real VFS, in place */
		return real_vfs->xOpen(real_vfs, name, pf, flags, out_flags);
	struct wfile *f = (struct wfile *)pf;
	memset(f, 0, sizeof *f);
	f->real = (sqlite3_file *)(f + 1);
	int rc = real_vfs->xOpen(real_vfs, name, f->real, flags, out_flags);
	if (rc != SQLITE_OK) {
		/* SQLite calls xClose only when pMethods is set */
		if (f->real->pMethods)
			f->real->pMethods->xClose(f->real);
		f->base.pMethods = NULL;
		return rc;
	}
	if (f->real->pMethods->iVersion < 3) {
		/* not a file this shim can stand in front of: the real VFS alone */
		f->real->pMethods->xClose(f->real);
		return real_vfs->xOpen(real_vfs, name, pf, flags, out_flags);
	}
	if (wal) {
		sqlite3_file *dbf = name ? sqlite3_database_file_object(name) : NULL;
		if (dbf && dbf->pMethods == &db_methods) {
			f->peer = (struct wfile *)dbf;
			f->peer->peer = f;
		}
		f->base.pMethods = &wal_methods;
	} else {
		f->base.pMethods = &db_methods;
	}
	return SQLITE_OK;
}

static int v_delete(sqlite3_vfs *v, const char *n, int sync)
{
	(void)v;
	return real_vfs->xDelete(real_vfs, n, sync);
}

static int v_access(sqlite3_vfs *v, const char *n, int flags, int *out)
{
	(void)v;
	return real_vfs->xAccess(real_vfs, n, flags, out);
}

static int v_fullpath(sqlite3_vfs *v, const char *n, int len, char *out)
{
	(void)v;
	return real_vfs->xFullPathname(real_vfs, n, len, out);
}

static void *v_dlopen(sqlite3_vfs *v, const char *n)
{
	(void)v;
	return real_vfs->xDlOpen(real_vfs, n);
}

static void v_dlerror(sqlite3_vfs *v, int n, char *out)
{
	(void)v;
	real_vfs->xDlError(real_vfs, n, out);
}

static void (*v_dlsym(sqlite3_vfs *v, void *h, const char *s))(void)
{
	(void)v;
	return real_vfs->xDlSym(real_vfs, h, s);
}

static void v_dlclose(sqlite3_vfs *v, void *h)
{
	(void)v;
	real_vfs->xDlClose(real_vfs, h);
}

static int v_random(sqlite3_vfs *v, int n, char *out)
{
	(void)v;
	return real_vfs->xRandomness(real_vfs, n, out);
}

static int v_sleep(sqlite3_vfs *v, int us)
{
	(void)v;
	return real_vfs->xSleep(real_vfs, us);
}

static int v_time(sqlite3_vfs *v, double *out)
{
	(void)v;
	return real_vfs->xCurrentTime(real_vfs, out);
}

static int v_lasterr(sqlite3_vfs *v, int n, char *out)
{
	(void)v;
	return real_vfs->xGetLastError ? real_vfs->xGetLastError(real_vfs, n, out) : 0;
}

static int v_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
	(void)v;
	return real_vfs->xCurrentTimeInt64(real_vfs, out);
}

static void setup(void)
{
	real_vfs = sqlite3_vfs_find(NULL);
	/* version 3 files (shared memory, mmap) and VFS (time in ms) needed */
	if (!real_vfs || real_vfs->iVersion < 2 || !real_vfs->xCurrentTimeInt64)
		return;
	shim_vfs = (sqlite3_vfs){
		.iVersion = 2,
		.szOsFile = (int)sizeof(struct wfile) + real_vfs->szOsFile,
		.mxPathname = real_vfs->mxPathname,
		.zName = WALBUF_NAME,
		.xOpen = shim_open,
		.xDelete = v_delete,
		.xAccess = v_access,
		.xFullPathname = v_fullpath,
		.xDlOpen = v_dlopen,
		.xDlError = v_dlerror,
		.xDlSym = v_dlsym,
		.xDlClose = v_dlclose,
		.xRandomness = v_random,
		.xSleep = v_sleep,
		.xCurrentTime = v_time,
		.xGetLastError = v_lasterr,
		.xCurrentTimeInt64 = v_time64,
	};
	db_methods = (sqlite3_io_methods){
		.iVersion = 3,
		.xClose = db_close,
		.xRead = db_read,
		.xWrite = pend_write,
		.xTruncate = db_truncate,
		.xSync = db_sync,
		.xFileSize = db_size,
		.xLock = db_lock,
		.xUnlock = db_unlock,
		.xCheckReservedLock = db_reserved,
		.xFileControl = db_fcntl,
		.xSectorSize = f_sector,
		.xDeviceCharacteristics = f_devchar,
		.xShmMap = db_shm_map,
		.xShmLock = db_shm_lock,
		.xShmBarrier = db_shm_barrier,
		.xShmUnmap = db_shm_unmap,
		.xFetch = db_fetch,
		.xUnfetch = db_unfetch,
	};
	wal_methods = (sqlite3_io_methods){
		.iVersion = 3,
		.xClose = wal_close,
		.xRead = wal_read,
		.xWrite = pend_write,
		.xTruncate = wal_truncate,
		.xSync = wal_sync,
		.xFileSize = wal_size,
		.xLock = f_lock,
		.xUnlock = f_unlock,
		.xCheckReservedLock = f_reserved,
		.xFileControl = wal_fcntl,
		.xSectorSize = f_sector,
		.xDeviceCharacteristics = f_devchar,
		.xShmMap = f_shm_map,
		.xShmLock = f_shm_lock,
		.xShmBarrier = wal_shm_barrier,
		.xShmUnmap = f_shm_unmap,
		.xFetch = f_fetch,
		.xUnfetch = f_unfetch,
	};
	registered = sqlite3_vfs_register(&shim_vfs, 0) == SQLITE_OK;
}

const char *store_walbuf_vfs(void)
{
	pthread_once(&once, setup);
	return registered ? WALBUF_NAME : NULL;
}
