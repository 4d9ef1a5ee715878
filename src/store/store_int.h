/* Internals shared by the store's source files (not a contract: only
 * src/store/ includes this). */
#ifndef C360_STORE_STORE_INT_H
#define C360_STORE_STORE_INT_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"

#define STORE_APP_ID 0x63333630 /* "c360" */
#define STORE_FORMAT 3 /* 3: frames may use a dictionary of _c360_zdict; 2: values may be
			* zstd frames (BLOB); 1: text only */
#define STORE_ZDICT_SQL                                                               \
	"CREATE TABLE IF NOT EXISTS _c360_zdict(id INTEGER PRIMARY KEY,"               \
	" bucket TEXT NOT NULL, created INTEGER NOT NULL, samples INTEGER NOT NULL,"   \
	" dict BLOB NOT NULL);"
#define STORE_ZDICT_SAMPLES 256 /* values sampled per bucket before its dictionary is trained */
#define STORE_Z_MIN 256 /* values shorter than this are never compressed */
#define STORE_Z_POOL 16
#define STORE_STMT_CACHE 48
#define STORE_TOMBSTONE_RETENTION_S (3 * 86400) /* like Couchbase's metadata purge interval */

struct zdict;
struct ztrain;

/* A connection with a small cache of prepared statements keyed by SQL text. */
struct conn {
	sqlite3 *db;
	struct {
		char *sql;
		sqlite3_stmt *stmt;
	} cache[STORE_STMT_CACHE];
	int ncache;
	struct conn *next; /* free list of the reader pool */
	/* connections that write: the wait for another process's write lock */
	int64_t busy_since_ms;
	int busy_limit_ms;
};

/* A queued write: one caller's unit of work, run by the group-commit leader
 * inside the shared transaction. fn returns a hard error only when the unit
 * must be rolled back (its savepoint is); per-op results go elsewhere. */
struct wreq {
	c360_rc (*fn)(c360_store *st, struct conn *c, void *arg, int64_t now);
	void *arg;
	c360_rc rc;
	bool done;
	struct wreq *next;
};

struct c360_store {
	char *path;
	struct c360_store_opts opts;
	/* writer: one connection, group commit */
	struct conn *wconn;
	pthread_mutex_t wmu;
	pthread_cond_t wcond;
	struct wreq *qhead, *qtail;
	bool leader;
	int64_t held_since_us, last_commit_us; /* the leader's: yields of the write lock (write.c) */
	uint64_t commit_gen; /* bumped after every commit (feed_wait) */
	uint64_t last_cas;
	struct c360_store_stats stats; /* under wmu */
	/* readers */
	pthread_mutex_t rmu;
	struct conn *rfree;
	struct conn *rall[256];
	int nrall;
	/* clock */
	int64_t (*now_fn)(void *ctx);
	void *now_ctx;
	int64_t retention_s;
	/* value compression: zstd level (0 = off) and context pools */
	int zlevel;
	pthread_mutex_t zmu;
	void *zc[STORE_Z_POOL], *zd[STORE_Z_POOL];
	int nzc, nzd;
	struct zdict *zdicts;   /* dictionaries known to this process, newest first (zmu) */
	struct ztrain *ztrains; /* buckets sampling values for a dictionary (zmu) */
	int zdict_samples;      /* 0: no dictionaries are trained */
	/* sweeper */
	pthread_t sweeper;
	bool sweeper_running, stopping;
	pthread_mutex_t smu;
	pthread_cond_t scond;
	/* checkpointer: copies committed WAL frames into the database file on
	 * its own connection and thread, off the writer's path */
	pthread_t ckpt;
	bool ckpt_running, ckpt_stop, ckpt_want;
	pthread_mutex_t cmu;
	pthread_cond_t ccond;
	int ckpt_frames, ckpt_writer_frames; /* WAL sizes (frames) that trigger it */
};

/* Bucket row as loaded inside a transaction. */
struct bucket_row {
	int64_t id;
	uint32_t max_ttl;
	uint64_t high_seqno;
	uint64_t last_cas;
};

int64_t store_now(c360_store *st);
c360_rc store_rc(int src);
c360_rc store_conn_open(c360_store *st, struct conn **out, bool read_only, char *err,
			size_t errlen);
void store_conn_close(struct conn *c);
/* A cached, reset statement for sql (NULL on error; see sqlite3_errmsg). */
sqlite3_stmt *store_stmt(struct conn *c, const char *sql);
struct conn *store_reader(c360_store *st, c360_rc *rc);
void store_reader_put(c360_store *st, struct conn *c);
/* Looks up a bucket by name on connection c. C360_ERR_NOT_FOUND if absent;
 * *out is zeroed unless the bucket is found. */
c360_rc store_bucket_lookup(struct conn *c, const char *name, struct bucket_row *out);
/* Runs fn(arg) in the writer's shared transaction (group commit). */
c360_rc store_submit(c360_store *st, c360_rc (*fn)(c360_store *, struct conn *, void *, int64_t),
		     void *arg);
/* A fresh, strictly increasing CAS (writer only). */
uint64_t store_next_cas(c360_store *st, uint64_t floor);
bool store_valid_key(const char *key, size_t len);
/* Compresses v into dst (capacity cap, >= store_z_bound(n)); *out = 0 when
 * compression is off or does not pay (store the text as it is). */
size_t store_z_bound(size_t n);
void store_z_compress(c360_store *st, const char *bucket, const char *v, size_t n, char *dst,
		      size_t cap, size_t *out);
/* Loads the dictionaries of _c360_zdict on connection c (at open; a store
 * without the table has none). */
c360_rc store_zdict_load(c360_store *st, struct conn *c);
/* Decompresses a stored zstd value (at most C360_VALUE_MAX bytes) into a
 * malloc'd NUL-terminated buffer. C360_ERR_CORRUPT if it is not one. */
/* Reads the live document of key with s, a prepared "SELECT value, cas,
 * expiry, seqno FROM _bN WHERE key=?1 AND value IS NOT NULL" (the key is
 * valid); C360_ERR_NOT_FOUND when absent or expired at now. */
c360_rc store_read_doc(c360_store *st, sqlite3_stmt *s, const char *key, size_t key_len,
		       int64_t now, struct c360_doc *out);
c360_rc store_z_decompress(c360_store *st, const void *src, size_t n, char **out, size_t *len);
void store_z_release(c360_store *st);
c360_rc store_sweeper_start(c360_store *st);
void store_sweeper_stop(c360_store *st);
/* Name of the VFS that gathers the WAL writes of a connection (walbuf.c),
 * NULL when it cannot be registered. */
const char *store_walbuf_vfs(void);
/* Replaces SQLite's auto-checkpoint of the writer connection by the
 * checkpointer thread (writable stores). */
c360_rc store_ckpt_start(c360_store *st);
void store_ckpt_stop(c360_store *st);

#endif
