/* c360 document store: buckets of JSON documents with CAS, Couchbase-style
 * expiry and a per-bucket change feed, on SQLite (WAL).
 *
 * Threads: a c360_store may be shared by any number of threads. Reads use a
 * per-thread read connection (many readers in parallel; in practice a pool:
 * a call takes a free read-only connection and gives it back, at most 256);
 * all writes go through one writer path that merges concurrent
 * c360_store_write() calls into one transaction (group commit). Every
 * function here is thread-safe. Several processes may open one store file:
 * their writes take turns on SQLite's write lock. A write waits for another
 * process's lock up to write_wait_ms (default 60 s), polling every
 * millisecond, and a process that has held it for 64 ms nearly without a
 * break (an import) leaves it free for 1 ms so waiters get their turn; past
 * the wait the write fails with C360_ERR_BUSY.
 *
 * Durability: when c360_store_write() returns C360_OK the transaction is
 * committed; with synchronous=FULL (the default) it survives power loss, with
 * NORMAL it survives a process crash (kill -9) but maybe not power loss.
 *
 * Keys are UTF-8, 1..250 bytes. Values are JSON, at most 20 MiB.
 * Expiry (Couchbase): 0 = never; below 30 days (2 592 000) relative seconds;
 * otherwise an absolute Unix time. Stored and reported as absolute Unix time.
 * An expired document is never returned; the sweeper deletes it and the feed
 * shows an `expiration`. A bucket's max_ttl (seconds, 0 = none) caps every
 * write's expiry and applies when a write gives none. */
#ifndef C360_STORE_STORE_H
#define C360_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/rc.h"

typedef struct c360_store c360_store;

#define C360_KEY_MAX 250
#define C360_VALUE_MAX (20u << 20)
#define C360_BUCKET_NAME_MAX 100
#define C360_EXPIRY_RELATIVE_MAX 2592000u /* 30 days */

/* c360's own system bucket, created on first use by whoever needs it. Its
 * document keys are prefixed by owner: "connector::NAME" (Kafka sinks),
 * "import::PATH-HASH" (CSV imports), "function::NAME" (deployed functions),
 * "token::ID" (API tokens), "poll::EMAIL" (online-store refresh state).
 * Eventing checkpoints live in each function's own metadata bucket. */
#define C360_META_BUCKET "c360_meta"

enum c360_sync {
	C360_SYNC_FULL = 0, /* default: survives power loss */
	C360_SYNC_NORMAL,   /* survives kill -9, not power loss (WAL) */
	C360_SYNC_OFF,      /* tests and throwaway stores only */
};

struct c360_store_opts {
	enum c360_sync synchronous;
	bool read_only;       /* open for reading; every write fails with C360_ERR_DENIED */
	bool no_create;       /* fail with C360_ERR_NOT_FOUND if the file does not exist */
	int busy_timeout_ms;  /* reads: wait for other processes' locks; default 5000 */
	int write_wait_ms;    /* writes: wait for another process's write lock; default 60000 */
	int sweep_interval_ms;/* background expiry sweeper period; 0 = default 1000, <0 = off */
	int zdict_samples;    /* compressed values of a bucket sampled before its zstd
			       * dictionary is trained; 0 = default 256, <0 = none */
	int page_cache_mb;    /* SQLite page cache of the connections that write (the
			       * writer, and the checkpointer, which hardly fills it),
			       * MiB; 0 = default 16 (each pooled reader has 4) */
};

/* Fills opts with the defaults above. */
void c360_store_opts_init(struct c360_store_opts *opts);

/* Opens (creating unless no_create) the store at path. opts may be NULL.
 * A file that is not a c360 store, or is corrupt, gives C360_ERR_CORRUPT with
 * the reason in err. */
c360_rc c360_store_open(const char *path, const struct c360_store_opts *opts, c360_store **out,
			char *err, size_t errlen);
/* Stops the sweeper, closes every connection. Accepts NULL. */
void c360_store_close(c360_store *st);
const char *c360_store_path(const c360_store *st);

/* ---- buckets ---- */

struct c360_bucket_info {
	char name[C360_BUCKET_NAME_MAX + 1];
	uint64_t count;      /* live (not deleted, not expired) documents */
	uint64_t bytes;      /* bytes of keys + values of live documents, as stored (compressed) */
	uint32_t max_ttl;    /* seconds, 0 = none */
	uint64_t high_seqno; /* last sequence number used on the feed */
};

/* Bucket names: 1..100 of [A-Za-z0-9_.%-], not starting with '.' or '_'.
 * C360_ERR_EXISTS if present, C360_ERR_INVALID for a bad name (reason in err). */
c360_rc c360_store_bucket_create(c360_store *st, const char *name, uint32_t max_ttl, char *err,
				 size_t errlen);
/* Creates the bucket unless it exists (then leaves its max_ttl as it is). */
c360_rc c360_store_bucket_ensure(c360_store *st, const char *name, uint32_t max_ttl);
/* Drops the bucket, its documents, feed and cursors. C360_ERR_NOT_FOUND if absent. */
c360_rc c360_store_bucket_drop(c360_store *st, const char *name);
c360_rc c360_store_bucket_info(c360_store *st, const char *name, struct c360_bucket_info *out);
/* *out is a malloc'd array (free() it), sorted by name. */
c360_rc c360_store_bucket_list(c360_store *st, struct c360_bucket_info **out, size_t *n);

/* ---- documents ---- */

struct c360_doc {
	char *key;        /* malloc'd, NUL-terminated */
	size_t key_len;
	char *value;      /* malloc'd JSON text, NUL-terminated */
	size_t value_len;
	uint64_t cas;
	uint32_t expiry;  /* absolute Unix time, 0 = never */
	uint64_t seqno;   /* seqno of the last change */
};
void c360_doc_release(struct c360_doc *doc); /* accepts NULL */

/* Reads a live document. C360_ERR_NOT_FOUND when absent or expired. */
c360_rc c360_store_get(c360_store *st, const char *bucket, const char *key, size_t key_len,
		       struct c360_doc *out);
/* Reads n documents of one bucket in one read transaction (one snapshot):
 * out[i] as c360_store_get() fills it, rcs[i] its result (C360_ERR_NOT_FOUND
 * when absent or expired). Returns an error, with every rcs[i] an error,
 * when nothing could be read (C360_ERR_NOT_FOUND: no such bucket). Release
 * each out[i] with c360_doc_release(). */
c360_rc c360_store_get_many(c360_store *st, const char *bucket, const char *const *keys,
			    const size_t *key_lens, size_t n, struct c360_doc *out, c360_rc *rcs);

enum c360_write_type {
	C360_WRITE_UPSERT = 0,
	C360_WRITE_INSERT,  /* C360_ERR_EXISTS if a live document has the key */
	C360_WRITE_REPLACE, /* C360_ERR_NOT_FOUND if absent; C360_ERR_CAS if cas given and differs */
	C360_WRITE_DELETE,  /* C360_ERR_NOT_FOUND if absent; cas as for replace */
	C360_WRITE_TOUCH,   /* change only the expiry; C360_ERR_NOT_FOUND if absent */
};

enum {
	C360_WRITE_TRUSTED_JSON = 1, /* value already validated by the caller: skip the check */
	C360_WRITE_KEEP_EXPIRY = 2,  /* upsert/replace keep the document's current expiry */
};

struct c360_write {
	/* in */
	enum c360_write_type type;
	const char *bucket;
	const char *key;
	size_t key_len;
	const char *value; /* JSON text; unused for delete and touch */
	size_t value_len;
	uint32_t expiry;   /* Couchbase semantics, see above */
	uint64_t cas;      /* 0 = no CAS check */
	unsigned flags;    /* C360_WRITE_* */
	/* out */
	c360_rc rc;        /* this op's result */
	uint64_t new_cas;
	uint64_t seqno;
};

/* Applies ops[0..n) in order in one transaction. Each op succeeds or fails on
 * its own (ops[i].rc); the ones that succeeded are committed together.
 * Returns C360_OK when the transaction committed (every op's rc then says
 * what happened to it), or an error when nothing was applied (the commit
 * failed, the store is read-only, …). Concurrent callers are group-committed. */
c360_rc c360_store_write(c360_store *st, struct c360_write *ops, size_t n);

/* One-op conveniences over c360_store_write(). cas_out may be NULL. */
c360_rc c360_store_upsert(c360_store *st, const char *bucket, const char *key, size_t key_len,
			  const char *value, size_t value_len, uint32_t expiry, uint64_t *cas_out);
c360_rc c360_store_insert(c360_store *st, const char *bucket, const char *key, size_t key_len,
			  const char *value, size_t value_len, uint32_t expiry, uint64_t *cas_out);
c360_rc c360_store_replace(c360_store *st, const char *bucket, const char *key, size_t key_len,
			   const char *value, size_t value_len, uint32_t expiry, uint64_t cas,
			   uint64_t *cas_out);
c360_rc c360_store_delete(c360_store *st, const char *bucket, const char *key, size_t key_len,
			  uint64_t cas);
c360_rc c360_store_touch(c360_store *st, const char *bucket, const char *key, size_t key_len,
			 uint32_t expiry, uint64_t *cas_out);

/* Converts a Couchbase expiry to absolute Unix time (0 stays 0) at `now`. */
uint32_t c360_expiry_absolute(uint32_t expiry, int64_t now);

/* Deletes expired documents of bucket (every bucket when NULL), at most max
 * (0 = all), each with an `expiration` feed entry; *n (optional) counts them. */
c360_rc c360_store_sweep(c360_store *st, const char *bucket, size_t max, size_t *n);

/* Deletes tombstones (deleted/expired documents kept for the feed) of bucket
 * (every bucket when NULL) older than older_than_s seconds; *n (optional)
 * counts them. The sweeper does this hourly with a 3-day retention (like
 * Couchbase's metadata purge interval): a feed reader whose cursor is older
 * than that may miss deletions, never mutations. */
c360_rc c360_store_purge_tombstones(c360_store *st, const char *bucket, int64_t older_than_s,
				    size_t *n);
/* Retention (seconds) of the sweeper's hourly tombstone purge; default 3 days. */
void c360_store_set_tombstone_retention(c360_store *st, int64_t seconds);
/* Replaces the clock (Unix seconds) used for expiry: relative expiries,
 * reads, queries and the sweep. For tests (e.g. advancing time to check TTLs);
 * now_fn NULL restores time(). CAS values always use the real clock. */
void c360_store_set_clock(c360_store *st, int64_t (*now_fn)(void *ctx), void *ctx);
/* zstd level for values written from now on (0 = off; default 1). Values of
 * 256 bytes or more are stored compressed when that saves a tenth or more;
 * reads, the feed and queries always see the JSON text. Thread-safe.
 * Each bucket gets a zstd dictionary trained from its first compressed
 * values (c360_store_opts.zdict_samples of them): small JSON documents
 * compress several times better with it, and faster. When its values later
 * compress 1.5 times worse than just after the training, the bucket trains
 * a successor from its next values (zval.c). */
void c360_store_set_compression(c360_store *st, int level);

/* Counters since open (for metrics): write transactions committed, units of
 * work they carried (c360_store_write calls, bucket and cursor changes,
 * sweeps) and document ops applied. units / commits is the group-commit
 * factor. */
struct c360_store_stats {
	uint64_t commits;
	uint64_t units;
	uint64_t ops;
	uint64_t failed_commits;
};
void c360_store_stats(c360_store *st, struct c360_store_stats *out);

/* ---- change feed ---- */

enum c360_feed_op {
	C360_FEED_MUTATION = 1,
	C360_FEED_DELETION,
	C360_FEED_EXPIRATION,
};
const char *c360_feed_op_str(enum c360_feed_op op); /* "mutation", "deletion", "expiration" */

struct c360_feed_event {
	uint64_t seqno;
	enum c360_feed_op op;
	const char *key;   /* borrowed for the callback's duration */
	size_t key_len;
	uint64_t cas;
	uint32_t expiry;   /* absolute */
	const char *value; /* JSON for mutations, NULL otherwise; borrowed */
	size_t value_len;
};

/* Return non-zero to stop reading early (that event counts as consumed). */
typedef int (*c360_feed_cb)(const struct c360_feed_event *ev, void *ctx);

/* Calls cb for changes with seqno > after, in seqno order, at most max of
 * them (0 = no limit). Yields at least the latest state of every key changed
 * after `after` (rapid changes to one key may collapse to the latest, like
 * DCP dedup). *last (optional) receives the seqno of the last event passed
 * to cb (after, if none). A document that has expired but is not swept yet is
 * not passed as a mutation (expired documents are never returned): its
 * `expiration` follows when the sweeper runs. When such entries are the last
 * ones read, *last moves past them too, so it is always a safe checkpoint. */
c360_rc c360_feed_read(c360_store *st, const char *bucket, uint64_t after, size_t max,
		       c360_feed_cb cb, void *ctx, uint64_t *last);
/* The bucket's last used seqno (0 for an empty feed). */
c360_rc c360_feed_high_seqno(c360_store *st, const char *bucket, uint64_t *out);
/* Blocks until the bucket's high seqno is > after, or timeout_ms passes
 * (C360_ERR_TIMEOUT). Sees writes of this process at once and of other
 * processes within a short polling interval. */
c360_rc c360_feed_wait(c360_store *st, const char *bucket, uint64_t after, int timeout_ms);

/* Named cursors (checkpoints) per bucket, kept in the store. */
c360_rc c360_feed_cursor_get(c360_store *st, const char *bucket, const char *name,
			     uint64_t *seqno); /* C360_ERR_NOT_FOUND when never set */
c360_rc c360_feed_cursor_set(c360_store *st, const char *bucket, const char *name,
			     uint64_t seqno);

/* ---- read-only SQL ---- */

/* The default of c360_query_opts.max_bytes: above the largest document
 * (20 MiB), so any one document can be selected. */
#define C360_QUERY_MAX_BYTES (32u << 20)

struct c360_query_opts {
	size_t max_rows;  /* 0 = 1000 */
	int timeout_ms;   /* 0 = 10000 */
	size_t max_bytes; /* 0 = C360_QUERY_MAX_BYTES: the answer's cap, and the
			   * largest string or blob the query may build */
	bool no_system;   /* refuse to read the system bucket C360_META_BUCKET */
};

/* Runs one read-only SQL statement. Each bucket is visible as a table of its
 * name with columns key, doc (JSON text), cas, expiry, seqno (live documents
 * only); SQLite's JSON functions (json_each and json_tree included) are
 * available. Nothing else can be read: SQLite's schema tables
 * (sqlite_master, sqlite_temp_schema, …), the store's internal tables and
 * pragma functions are refused (C360_ERR_DENIED naming the table), and so is
 * any write. Limits, each with a message in err:
 *   - time: the query stops past timeout_ms (C360_ERR_TIMEOUT);
 *   - values: a string or blob longer than max_bytes cannot be built
 *     (SQLITE_LIMIT_LENGTH; printf, zeroblob, hex, replace, group_concat …
 *     fail at once instead of allocating): C360_ERR_LIMIT;
 *   - answer: more than max_bytes appended to out: C360_ERR_TOO_BIG.
 * Appends to out:
 *   {"columns":[…],"rows":[[…],…],"truncated":false}
 * where a text value that is a JSON object or array is embedded as JSON. On
 * an error out is left as it was. Thread-safe: each call opens its own
 * read-only connection. */
c360_rc c360_store_query(c360_store *st, const char *sql, const struct c360_query_opts *opts,
			 struct c360_buf *out, char *err, size_t errlen);

#endif
