/* The store's file, connections and buckets: opening and validating a c360
 * store file, the per-thread reader pool, the statement cache, bucket
 * create/drop/list/info and document reads.
 *
 * Layout of a store file (SQLite, WAL, PRAGMA application_id = 'c360'):
 *   _c360_meta(k, v)              format version, creation time, zstd dictionary
 *                                 baselines (zbase:ID)
 *   _c360_buckets(id, name, …)    one row per bucket: max_ttl, high_seqno, last_cas
 *   _c360_cursors(bucket_id, name, seqno)
 *   _b<id>(seqno INTEGER PRIMARY KEY, key UNIQUE, value, cas, expiry, op)
 * One table per bucket; the seqno is the rowid, so a new document is an
 * append and the change feed is a rowid range scan. A deleted or expired
 * document stays as a tombstone row (value NULL) until purged. Bucket tables
 * are named by id, never by the user's name (no quoting issues; a dropped
 * and re-created bucket gets a fresh table). Names starting with '_' cannot
 * be bucket names, so system tables never collide with buckets. */
#include "store/store_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/banned.h"

/* Live document count and bytes per bucket, kept by every write (as deltas)
 * so that bucket info is O(1) plus the expired-but-unswept documents.
 * Stores made before it get it on their first writable open. */
#define COUNTS_SQL                                                                   \
	"CREATE TABLE _c360_counts(bucket_id INTEGER PRIMARY KEY,"                 \
	" live_count INTEGER NOT NULL DEFAULT 0, live_bytes INTEGER NOT NULL DEFAULT 0);"

static const char *SCHEMA_SQL =
	"CREATE TABLE _c360_meta(k TEXT PRIMARY KEY, v);"
	"CREATE TABLE _c360_buckets(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
	" max_ttl INTEGER NOT NULL DEFAULT 0, high_seqno INTEGER NOT NULL DEFAULT 0,"
	" last_cas INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE _c360_cursors(bucket_id INTEGER NOT NULL, name TEXT NOT NULL,"
	" seqno INTEGER NOT NULL, PRIMARY KEY(bucket_id, name)) WITHOUT ROWID;"
	COUNTS_SQL STORE_ZDICT_SQL;

void c360_store_opts_init(struct c360_store_opts *opts)
{
	memset(opts, 0, sizeof *opts);
	opts->synchronous = C360_SYNC_FULL;
	opts->busy_timeout_ms = 5000;
	opts->write_wait_ms = 60000;
	opts->sweep_interval_ms = 0;
}

uint32_t c360_expiry_absolute(uint32_t expiry, int64_t now)
{
	if (expiry == 0)
		return 0;
	if (expiry >= C360_EXPIRY_RELATIVE_MAX)
		return expiry;
	int64_t abs = now + (int64_t)expiry;
	if (abs > (int64_t)UINT32_MAX)
		abs = UINT32_MAX;
	if (abs < 1)
		abs = 1;
	return (uint32_t)abs;
}

int64_t store_now(c360_store *st)
{
	if (st->now_fn)
		return st->now_fn(st->now_ctx);
	return (int64_t)time(NULL);
}

void c360_store_set_clock(c360_store *st, int64_t (*now_fn)(void *ctx), void *ctx)
{
	pthread_mutex_lock(&st->wmu);
	st->now_fn = now_fn;
	st->now_ctx = ctx;
	pthread_mutex_unlock(&st->wmu);
}

void c360_store_set_tombstone_retention(c360_store *st, int64_t seconds)
{
	st->retention_s = seconds;
}

c360_rc store_rc(int src)
{
	switch (src & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return C360_OK;
	case SQLITE_NOMEM:
		return C360_ERR_NOMEM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return C360_ERR_BUSY;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return C360_ERR_CORRUPT;
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return C360_ERR_DENIED;
	case SQLITE_INTERRUPT:
		return C360_ERR_TIMEOUT;
	case SQLITE_TOOBIG:
		return C360_ERR_TOO_BIG;
	case SQLITE_FULL:
	case SQLITE_IOERR:
	case SQLITE_CANTOPEN:
	case SQLITE_PROTOCOL:
		return C360_ERR_IO;
	case SQLITE_CONSTRAINT:
		return C360_ERR_EXISTS;
	default:
		return C360_ERR_INTERNAL;
	}
}

/* ---- connections and statement cache ---- */

void store_conn_close(struct conn *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->ncache; i++) {
		sqlite3_finalize(c->cache[i].stmt);
		free(c->cache[i].sql);
	}
	sqlite3_close_v2(c->db);
	free(c);
}

sqlite3_stmt *store_stmt(struct conn *c, const char *sql)
{
	/* most recently used last: eviction drops the least recently used half,
	 * so the statements a caller fetched just before stay valid */
	for (int i = c->ncache - 1; i >= 0; i--) {
		if (!strcmp(c->cache[i].sql, sql)) {
			sqlite3_stmt *s = c->cache[i].stmt;
			if (i != c->ncache - 1) {
				char *keep = c->cache[i].sql;
				memmove(c->cache + i, c->cache + i + 1,
					sizeof c->cache[0] * (size_t)(c->ncache - 1 - i));
				c->cache[c->ncache - 1].sql = keep;
				c->cache[c->ncache - 1].stmt = s;
			}
			sqlite3_reset(s);
			sqlite3_clear_bindings(s);
			return s;
		}
	}
	if (c->ncache == STORE_STMT_CACHE) {
		/* full: evict the oldest half (bucket tables come and go) */
		int half = STORE_STMT_CACHE / 2;
		for (int i = 0; i < half; i++) {
			sqlite3_finalize(c->cache[i].stmt);
			free(c->cache[i].sql);
		}
		memmove(c->cache, c->cache + half, sizeof c->cache[0] * (size_t)(c->ncache - half));
		c->ncache -= half;
	}
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) != SQLITE_OK)
		return NULL;
	char *copy = strdup(sql);
	if (!copy) {
		sqlite3_finalize(s);
		return NULL;
	}
	c->cache[c->ncache].sql = copy;
	c->cache[c->ncache].stmt = s;
	c->ncache++;
	return s;
}

static void errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void errf(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* The busy handler of connections that write. SQLite's busy timeout sleeps
 * up to 100 ms between tries; a process committing back to back (an
 * import) leaves the write lock free only for moments between its
 * transactions, so a waiter that polls that slowly starved past its
 * timeout ("database is locked"). This one tries every millisecond (the
 * holder pauses after long transactions, write.c) until write_wait_ms. */
static int write_busy(void *ctx, int n)
{
	struct conn *c = ctx;
	int64_t now = c360_mono_ms();
	if (n == 0)
		c->busy_since_ms = now;
	if (now - c->busy_since_ms >= c->busy_limit_ms)
		return 0;
	struct timespec ts = {0, 1000000L};
	nanosleep(&ts, NULL);
	return 1;
}

c360_rc store_conn_open(c360_store *st, struct conn **out, bool read_only, char *err,
			size_t errlen)
{
	struct conn *c = calloc(1, sizeof *c);
	if (!c)
		return C360_ERR_NOMEM;
	int flags = SQLITE_OPEN_NOMUTEX |
		    (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
	/* a writer with synchronous=FULL gathers its WAL writes (walbuf.c) */
	const char *vfs = !read_only && st->opts.synchronous == C360_SYNC_FULL ? store_walbuf_vfs() : NULL;
	int src = sqlite3_open_v2(st->path, &c->db, flags, vfs);
	if (src != SQLITE_OK) {
		errf(err, errlen, "%s", c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(src));
		c360_rc rc = store_rc(src);
		store_conn_close(c);
		return rc == C360_ERR_INTERNAL ? C360_ERR_IO : rc;
	}
	sqlite3_extended_result_codes(c->db, 0);
	if (read_only) {
		sqlite3_busy_timeout(c->db, st->opts.busy_timeout_ms);
	} else {
		c->busy_limit_ms = st->opts.write_wait_ms;
		sqlite3_busy_handler(c->db, write_busy, c);
	}
	char sql[200];
	static const char *const sync[] = {"FULL", "NORMAL", "OFF"};
	int si = (int)st->opts.synchronous;
	if (si < 0 || si > 2)
		si = 0;
	/* connections that write get a 16 MiB page cache (opts.page_cache_mb; a
	 * cap, filled as pages are used), each pooled reader 4 MiB */
	int wcache = st->opts.page_cache_mb > 0 && st->opts.page_cache_mb <= 65536
			     ? st->opts.page_cache_mb * 1024
			     : 16384;
	snprintf(sql, sizeof sql,
		 "PRAGMA synchronous=%s; PRAGMA temp_store=MEMORY; PRAGMA cache_size=%d;",
		 sync[si], read_only ? -4096 : -wcache);
	src = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
	if (src != SQLITE_OK) {
		c360_rc rc = store_rc(src);
		if (rc == C360_ERR_CORRUPT)
			errf(err, errlen, "not a c360 store (%s)", sqlite3_errmsg(c->db));
		else
			errf(err, errlen, "%s", sqlite3_errmsg(c->db));
		store_conn_close(c);
		return rc == C360_ERR_INTERNAL ? C360_ERR_IO : rc;
	}
	*out = c;
	return C360_OK;
}

struct conn *store_reader(c360_store *st, c360_rc *rc)
{
	pthread_mutex_lock(&st->rmu);
	struct conn *c = st->rfree;
	if (c) {
		st->rfree = c->next;
		pthread_mutex_unlock(&st->rmu);
		*rc = C360_OK;
		return c;
	}
	if (st->nrall >= (int)(sizeof st->rall / sizeof st->rall[0])) {
		pthread_mutex_unlock(&st->rmu);
		*rc = C360_ERR_BUSY;
		return NULL;
	}
	pthread_mutex_unlock(&st->rmu);
	*rc = store_conn_open(st, &c, true, NULL, 0);
	if (*rc)
		return NULL;
	sqlite3_exec(c->db, "PRAGMA query_only=1", NULL, NULL, NULL);
	pthread_mutex_lock(&st->rmu);
	if (st->nrall >= (int)(sizeof st->rall / sizeof st->rall[0])) {
		pthread_mutex_unlock(&st->rmu);
		store_conn_close(c);
		*rc = C360_ERR_BUSY;
		return NULL;
	}
	st->rall[st->nrall++] = c;
	pthread_mutex_unlock(&st->rmu);
	return c;
}

void store_reader_put(c360_store *st, struct conn *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&st->rmu);
	c->next = st->rfree;
	st->rfree = c;
	pthread_mutex_unlock(&st->rmu);
}

/* ---- open / close ---- */

static c360_rc exec(struct conn *c, const char *sql)
{
	return store_rc(sqlite3_exec(c->db, sql, NULL, NULL, NULL));
}

static c360_rc query_int(struct conn *c, const char *sql, int64_t *out)
{
	sqlite3_stmt *s = NULL;
	int src = sqlite3_prepare_v2(c->db, sql, -1, &s, NULL);
	if (src == SQLITE_OK) {
		src = sqlite3_step(s);
		if (src == SQLITE_ROW) {
			*out = sqlite3_column_int64(s, 0);
			src = SQLITE_OK;
		} else if (src == SQLITE_DONE) {
			src = SQLITE_NOTFOUND;
		}
	}
	sqlite3_finalize(s);
	if (src == SQLITE_NOTFOUND)
		return C360_ERR_NOT_FOUND;
	return src == SQLITE_OK ? C360_OK : store_rc(src);
}

/* Checks that the file is a c360 store of a format we read, initialising an
 * empty database. */
static c360_rc check_or_init(c360_store *st, struct conn *c, char *err, size_t errlen)
{
	int64_t app = 0, ntables = 0, fmt = 0;
	c360_rc rc = query_int(c, "PRAGMA application_id", &app);
	if (rc == C360_OK)
		rc = query_int(c, "SELECT count(*) FROM sqlite_schema", &ntables);
	if (rc) {
		const char *why = sqlite3_errmsg(c->db);
		if (rc == C360_ERR_CORRUPT || rc == C360_ERR_INTERNAL) {
			errf(err, errlen, "not a c360 store (%s)", why);
			return C360_ERR_CORRUPT;
		}
		errf(err, errlen, "%s", why);
		return rc;
	}
	if (app == 0 && ntables == 0) {
		if (st->opts.read_only) {
			errf(err, errlen, "not a c360 store (empty file)");
			return C360_ERR_CORRUPT;
		}
		/* new store: WAL first (cannot change inside a transaction) */
		if ((rc = exec(c, "PRAGMA journal_mode=WAL"))) {
			errf(err, errlen, "cannot enable WAL: %s", sqlite3_errmsg(c->db));
			return rc;
		}
		if ((rc = exec(c, "BEGIN IMMEDIATE")))
			goto fail;
		/* another process may have initialised it meanwhile */
		if ((rc = query_int(c, "SELECT count(*) FROM sqlite_schema", &ntables)))
			goto fail_rb;
		if (ntables == 0) {
			char sql[512];
			snprintf(sql, sizeof sql,
				 "PRAGMA application_id=%d;"
				 "INSERT INTO _c360_meta VALUES('format',%d),('created',%lld);",
				 STORE_APP_ID, STORE_FORMAT, (long long)time(NULL));
			if ((rc = exec(c, SCHEMA_SQL)) || (rc = exec(c, sql)))
				goto fail_rb;
		}
		if ((rc = exec(c, "COMMIT")))
			goto fail_rb;
		if ((rc = query_int(c, "PRAGMA application_id", &app)))
			goto fail;
	}
	if (app != STORE_APP_ID) {
		errf(err, errlen, "not a c360 store (an SQLite database of another application)");
		return C360_ERR_CORRUPT;
	}
	rc = query_int(c, "SELECT v FROM _c360_meta WHERE k='format'", &fmt);
	if (rc) {
		errf(err, errlen, "damaged c360 store: no format version (%s)", sqlite3_errmsg(c->db));
		return C360_ERR_CORRUPT;
	}
	if (fmt < STORE_FORMAT && fmt >= 1 && !st->opts.read_only) {
		/* format 2 only adds compressed values, format 3 their dictionaries:
		 * upgrade in place */
		char sql[256];
		snprintf(sql, sizeof sql,
			 "BEGIN IMMEDIATE; %s UPDATE _c360_meta SET v=%d WHERE k='format'; COMMIT",
			 STORE_ZDICT_SQL, STORE_FORMAT);
		if ((rc = exec(c, sql))) {
			errf(err, errlen, "cannot upgrade the store format: %s", sqlite3_errmsg(c->db));
			exec(c, "ROLLBACK");
			return rc;
		}
		fmt = STORE_FORMAT;
	}
	if (fmt < 1 || fmt > STORE_FORMAT) {
		errf(err, errlen, "c360 store format %lld is not supported by this build", (long long)fmt);
		return C360_ERR_CORRUPT;
	}
	return C360_OK;
fail_rb:
	errf(err, errlen, "cannot initialise store: %s", sqlite3_errmsg(c->db));
	exec(c, "ROLLBACK");
	return rc;
fail:
	errf(err, errlen, "cannot initialise store: %s", sqlite3_errmsg(c->db));
	return rc;
}

/* Adds _c360_counts to a store made before it, counting every bucket once. */
static c360_rc ensure_counts(struct conn *c)
{
	int64_t have = 0;
	c360_rc rc = query_int(
		c, "SELECT count(*) FROM sqlite_schema WHERE type='table' AND name='_c360_counts'", &have);
	if (rc || have)
		return rc;
	if ((rc = exec(c, "BEGIN IMMEDIATE")))
		return rc;
	if ((rc = query_int(c,
			    "SELECT count(*) FROM sqlite_schema WHERE type='table' AND name='_c360_counts'",
			    &have)) ||
	    have)
		goto done;
	if ((rc = exec(c, COUNTS_SQL)))
		goto done;
	int64_t nb = 0;
	if ((rc = query_int(c, "SELECT count(*) FROM _c360_buckets", &nb)))
		goto done;
	for (int64_t k = 0; k < nb; k++) {
		int64_t id = 0;
		char sql[400];
		snprintf(sql, sizeof sql, "SELECT id FROM _c360_buckets ORDER BY id LIMIT 1 OFFSET %lld",
			 (long long)k);
		if ((rc = query_int(c, sql, &id)))
			goto done;
		snprintf(sql, sizeof sql,
			 "INSERT INTO _c360_counts SELECT %lld, count(*), coalesce(sum("
			 "length(CAST(key AS BLOB)) + length(CAST(value AS BLOB))), 0)"
			 " FROM _b%lld WHERE value IS NOT NULL",
			 (long long)id, (long long)id);
		if ((rc = exec(c, sql)))
			goto done;
	}
done:
	if (rc) {
		exec(c, "ROLLBACK");
		return rc;
	}
	return exec(c, "COMMIT");
}

/* Process-wide SQLite settings, before its first use: no memory statistics
 * (a global mutex and counters on every allocation; c360 never reads them).
 * Only the store uses SQLite, so this runs before anything else touches it;
 * were it too late, SQLite refuses it and keeps its defaults. */
static pthread_once_t sqlite_once = PTHREAD_ONCE_INIT;
static void sqlite_setup(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

c360_rc c360_store_open(const char *path, const struct c360_store_opts *opts, c360_store **out,
			char *err, size_t errlen)
{
	pthread_once(&sqlite_once, sqlite_setup);
	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	if (!path || !*path) {
		errf(err, errlen, "empty store path");
		return C360_ERR_INVALID;
	}
	c360_store *st = calloc(1, sizeof *st);
	if (!st)
		return C360_ERR_NOMEM;
	if (opts)
		st->opts = *opts;
	else
		c360_store_opts_init(&st->opts);
	if (st->opts.busy_timeout_ms <= 0)
		st->opts.busy_timeout_ms = 5000;
	if (st->opts.write_wait_ms <= 0)
		st->opts.write_wait_ms = 60000;
	st->retention_s = STORE_TOMBSTONE_RETENTION_S;
	pthread_mutex_init(&st->wmu, NULL);
	pthread_cond_init(&st->wcond, NULL);
	pthread_mutex_init(&st->rmu, NULL);
	pthread_mutex_init(&st->smu, NULL);
	pthread_cond_init(&st->scond, NULL);
	pthread_mutex_init(&st->zmu, NULL);
	pthread_mutex_init(&st->cmu, NULL);
	pthread_cond_init(&st->ccond, NULL);
	st->zlevel = 1;
	c360_rc rc = C360_OK;
	st->path = strdup(path);
	if (!st->path) {
		rc = C360_ERR_NOMEM;
		goto out;
	}
	struct stat sb;
	if (stat(path, &sb) != 0) {
		if (errno != ENOENT) {
			errf(err, errlen, "%s", strerror(errno));
			rc = C360_ERR_IO;
			goto out;
		}
		if (st->opts.no_create || st->opts.read_only) {
			errf(err, errlen, "no such file");
			rc = C360_ERR_NOT_FOUND;
			goto out;
		}
	} else if (!S_ISREG(sb.st_mode)) {
		errf(err, errlen, "not a regular file");
		rc = C360_ERR_CORRUPT;
		goto out;
	}
	/* the writer connection (read-only stores use it only for checks) */
	rc = store_conn_open(st, &st->wconn, st->opts.read_only, err, errlen);
	if (rc)
		goto out;
	rc = check_or_init(st, st->wconn, err, errlen);
	if (rc)
		goto out;
	st->zdict_samples = st->opts.zdict_samples < 0   ? 0
			    : st->opts.zdict_samples == 0 ? STORE_ZDICT_SAMPLES
							  : st->opts.zdict_samples;
	if ((rc = store_zdict_load(st, st->wconn))) {
		errf(err, errlen, "cannot read the compression dictionaries: %s", c360_rc_str(rc));
		goto out;
	}
	if (!st->opts.read_only) {
		int64_t ignored;
		/* existing stores: make sure WAL is on (a copied file may have lost it) */
		query_int(st->wconn, "PRAGMA journal_mode=WAL", &ignored);
		if (query_int(st->wconn, "SELECT max(last_cas) FROM _c360_buckets", &ignored) ==
		    C360_OK)
			st->last_cas = (uint64_t)ignored;
		if ((rc = ensure_counts(st->wconn))) {
			errf(err, errlen, "cannot add document counters: %s", sqlite3_errmsg(st->wconn->db));
			goto out;
		}
		if ((rc = store_ckpt_start(st))) {
			errf(err, errlen, "cannot start the checkpointer");
			goto out;
		}
		if (st->opts.sweep_interval_ms >= 0 && (rc = store_sweeper_start(st))) {
			errf(err, errlen, "cannot start the expiry sweeper");
			goto out;
		}
	}
	*out = st;
	return C360_OK;
out:
	c360_store_close(st);
	return rc;
}

void c360_store_close(c360_store *st)
{
	if (!st)
		return;
	store_sweeper_stop(st);
	/* before the writer: the last connection closed checkpoints the WAL */
	store_ckpt_stop(st);
	for (int i = 0; i < st->nrall; i++)
		store_conn_close(st->rall[i]);
	store_conn_close(st->wconn);
	store_z_release(st);
	pthread_mutex_destroy(&st->zmu);
	pthread_mutex_destroy(&st->wmu);
	pthread_cond_destroy(&st->wcond);
	pthread_mutex_destroy(&st->rmu);
	pthread_mutex_destroy(&st->smu);
	pthread_cond_destroy(&st->scond);
	pthread_mutex_destroy(&st->cmu);
	pthread_cond_destroy(&st->ccond);
	free(st->path);
	free(st);
}

const char *c360_store_path(const c360_store *st)
{
	return st ? st->path : NULL;
}

/* ---- buckets ---- */

c360_rc store_bucket_lookup(struct conn *c, const char *name, struct bucket_row *out)
{
	memset(out, 0, sizeof *out); /* set on every path, not only when found */
	sqlite3_stmt *s = store_stmt(
		c, "SELECT id, max_ttl, high_seqno, last_cas FROM _c360_buckets WHERE name=?1");
	if (!s)
		return store_rc(sqlite3_errcode(c->db));
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	int src = sqlite3_step(s);
	c360_rc rc;
	if (src == SQLITE_ROW) {
		out->id = sqlite3_column_int64(s, 0);
		out->max_ttl = (uint32_t)sqlite3_column_int64(s, 1);
		out->high_seqno = (uint64_t)sqlite3_column_int64(s, 2);
		out->last_cas = (uint64_t)sqlite3_column_int64(s, 3);
		rc = C360_OK;
	} else {
		rc = src == SQLITE_DONE ? C360_ERR_NOT_FOUND : store_rc(src);
	}
	sqlite3_reset(s);
	return rc;
}

static bool valid_bucket_name(const char *name, const char **why)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > C360_BUCKET_NAME_MAX) {
		*why = "must be 1 to 100 characters";
		return false;
	}
	if (name[0] == '.' || name[0] == '_') {
		*why = "must not start with '.' or '_'";
		return false;
	}
	if (!strncasecmp(name, "sqlite_", 7)) {
		*why = "must not start with 'sqlite_' (reserved by SQL queries)";
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '_' || ch == '.' || ch == '%' || ch == '-')) {
			*why = "may contain only letters, digits, '_', '.', '%' and '-'";
			return false;
		}
	}
	return true;
}

struct create_arg {
	const char *name;
	uint32_t max_ttl;
	bool ensure;
	c360_rc result;
};

static c360_rc do_create(c360_store *st, struct conn *c, void *arg, int64_t now)
{
	struct create_arg *a = arg;
	struct bucket_row row;
	c360_rc rc = store_bucket_lookup(c, a->name, &row);
	if (rc == C360_OK) {
		a->result = a->ensure ? C360_OK : C360_ERR_EXISTS;
		return C360_OK;
	}
	if (rc != C360_ERR_NOT_FOUND)
		return rc;
	sqlite3_stmt *s = store_stmt(
		c, "INSERT INTO _c360_buckets(name, max_ttl, created) VALUES(?1, ?2, ?3)");
	if (!s)
		return store_rc(sqlite3_errcode(c->db));
	sqlite3_bind_text(s, 1, a->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, a->max_ttl);
	sqlite3_bind_int64(s, 3, now);
	int src = sqlite3_step(s);
	sqlite3_reset(s);
	if (src != SQLITE_DONE)
		return store_rc(src);
	int64_t id = sqlite3_last_insert_rowid(c->db);
	char sql[512];
	snprintf(sql, sizeof sql,
		 "CREATE TABLE _b%lld(seqno INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE,"
		 " value TEXT, cas INTEGER NOT NULL, expiry INTEGER NOT NULL DEFAULT 0,"
		 " op INTEGER NOT NULL);"
		 "CREATE INDEX _b%lld_exp ON _b%lld(expiry) WHERE expiry > 0;"
		 "CREATE INDEX _b%lld_tomb ON _b%lld(cas) WHERE value IS NULL;",
		 (long long)id, (long long)id, (long long)id, (long long)id, (long long)id);
	rc = exec(c, sql);
	if (rc)
		return rc;
	(void)st;
	a->result = C360_OK;
	return C360_OK;
}

c360_rc c360_store_bucket_create(c360_store *st, const char *name, uint32_t max_ttl, char *err,
				 size_t errlen)
{
	const char *why;
	if (!valid_bucket_name(name, &why)) {
		errf(err, errlen, "bad bucket name '%s': %s", name ? name : "", why);
		return C360_ERR_INVALID;
	}
	struct create_arg a = {name, max_ttl, false, C360_OK};
	c360_rc rc = store_submit(st, do_create, &a);
	if (rc) {
		errf(err, errlen, "cannot create bucket '%s': %s", name, c360_rc_str(rc));
		return rc;
	}
	if (a.result == C360_ERR_EXISTS)
		errf(err, errlen, "bucket '%s' already exists", name);
	return a.result;
}

c360_rc c360_store_bucket_ensure(c360_store *st, const char *name, uint32_t max_ttl)
{
	const char *why;
	if (!valid_bucket_name(name, &why))
		return C360_ERR_INVALID;
	/* fast path: already there */
	c360_rc rc;
	struct conn *c = store_reader(st, &rc);
	if (c) {
		struct bucket_row row;
		rc = store_bucket_lookup(c, name, &row);
		store_reader_put(st, c);
		if (rc == C360_OK)
			return C360_OK;
	}
	struct create_arg a = {name, max_ttl, true, C360_OK};
	rc = store_submit(st, do_create, &a);
	return rc ? rc : a.result;
}

struct drop_arg {
	const char *name;
	c360_rc result;
};

static c360_rc do_drop(c360_store *st, struct conn *c, void *arg, int64_t now)
{
	(void)st;
	(void)now;
	struct drop_arg *a = arg;
	struct bucket_row row;
	c360_rc rc = store_bucket_lookup(c, a->name, &row);
	if (rc == C360_ERR_NOT_FOUND) {
		a->result = rc;
		return C360_OK;
	}
	if (rc)
		return rc;
	char sql[256];
	snprintf(sql, sizeof sql,
		 "DROP TABLE _b%lld; DELETE FROM _c360_cursors WHERE bucket_id=%lld;"
		 "DELETE FROM _c360_counts WHERE bucket_id=%lld;"
		 "DELETE FROM _c360_buckets WHERE id=%lld;",
		 (long long)row.id, (long long)row.id, (long long)row.id, (long long)row.id);
	rc = exec(c, sql);
	if (rc)
		return rc;
	a->result = C360_OK;
	return C360_OK;
}

c360_rc c360_store_bucket_drop(c360_store *st, const char *name)
{
	if (!name || !*name)
		return C360_ERR_INVALID;
	struct drop_arg a = {name, C360_OK};
	c360_rc rc = store_submit(st, do_drop, &a);
	return rc ? rc : a.result;
}

static c360_rc fill_info(c360_store *st, struct conn *c, const char *name,
			 const struct bucket_row *row, struct c360_bucket_info *out)
{
	memset(out, 0, sizeof *out);
	snprintf(out->name, sizeof out->name, "%s", name);
	out->max_ttl = row->max_ttl;
	out->high_seqno = row->high_seqno;
	char sql[400];
	/* maintained counters minus the expired documents not swept yet (an
	 * index range); a store without counters (opened read-only before its
	 * first writable open) is scanned */
	int64_t cnt = 0, bytes = 0;
	sqlite3_stmt *s = store_stmt(c, "SELECT live_count, live_bytes FROM _c360_counts WHERE bucket_id=?1");
	bool scan = s == NULL;
	if (s) {
		sqlite3_bind_int64(s, 1, row->id);
		int src = sqlite3_step(s);
		if (src == SQLITE_ROW) {
			cnt = sqlite3_column_int64(s, 0);
			bytes = sqlite3_column_int64(s, 1);
		} else if (src != SQLITE_DONE) {
			sqlite3_reset(s);
			return store_rc(src);
		}
		sqlite3_reset(s);
	}
	snprintf(sql, sizeof sql,
		 "SELECT count(*), coalesce(sum(length(CAST(key AS BLOB)) + length(CAST(value AS BLOB))),0)"
		 " FROM _b%lld WHERE value IS NOT NULL AND %s",
		 (long long)row->id, scan ? "(expiry = 0 OR expiry > ?1)" : "expiry > 0 AND expiry <= ?1");
	s = store_stmt(c, sql);
	if (!s)
		return store_rc(sqlite3_errcode(c->db));
	sqlite3_bind_int64(s, 1, store_now(st));
	int src = sqlite3_step(s);
	if (src == SQLITE_ROW) {
		int64_t n = sqlite3_column_int64(s, 0), b = sqlite3_column_int64(s, 1);
		cnt = scan ? n : cnt - n;
		bytes = scan ? b : bytes - b;
		src = SQLITE_OK;
	}
	sqlite3_reset(s);
	out->count = cnt > 0 ? (uint64_t)cnt : 0;
	out->bytes = bytes > 0 ? (uint64_t)bytes : 0;
	return store_rc(src);
}

c360_rc c360_store_bucket_info(c360_store *st, const char *name, struct c360_bucket_info *out)
{
	if (!name)
		return C360_ERR_INVALID;
	c360_rc rc;
	struct conn *c = store_reader(st, &rc);
	if (!c)
		return rc;
	/* one snapshot for the bucket row and its table */
	rc = exec(c, "BEGIN");
	if (rc)
		goto out;
	struct bucket_row row;
	rc = store_bucket_lookup(c, name, &row);
	if (!rc)
		rc = fill_info(st, c, name, &row, out);
	exec(c, "COMMIT");
out:
	store_reader_put(st, c);
	return rc;
}

c360_rc c360_store_bucket_list(c360_store *st, struct c360_bucket_info **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	c360_rc rc;
	struct conn *c = store_reader(st, &rc);
	if (!c)
		return rc;
	struct c360_bucket_info *arr = NULL;
	size_t cnt = 0, cap = 0;
	rc = exec(c, "BEGIN");
	if (rc)
		goto out;
	/* names first (the statement must be done before fill_info uses others) */
	char **names = NULL;
	sqlite3_stmt *s = store_stmt(c, "SELECT name FROM _c360_buckets ORDER BY name");
	if (!s) {
		rc = store_rc(sqlite3_errcode(c->db));
		goto commit;
	}
	int src;
	size_t nn = 0, ncap = 0;
	while ((src = sqlite3_step(s)) == SQLITE_ROW) {
		if (nn == ncap) {
			ncap = ncap ? ncap * 2 : 8;
			char **p = realloc(names, ncap * sizeof *p);
			if (!p) {
				rc = C360_ERR_NOMEM;
				break;
			}
			names = p;
		}
		names[nn] = strdup((const char *)sqlite3_column_text(s, 0));
		if (!names[nn]) {
			rc = C360_ERR_NOMEM;
			break;
		}
		nn++;
	}
	sqlite3_reset(s);
	if (!rc && src != SQLITE_DONE)
		rc = store_rc(src);
	for (size_t i = 0; !rc && i < nn; i++) {
		struct bucket_row row;
		rc = store_bucket_lookup(c, names[i], &row);
		if (rc)
			break;
		if (cnt == cap) {
			cap = cap ? cap * 2 : 8;
			struct c360_bucket_info *p = realloc(arr, cap * sizeof *p);
			if (!p) {
				rc = C360_ERR_NOMEM;
				break;
			}
			arr = p;
		}
		rc = fill_info(st, c, names[i], &row, &arr[cnt]);
		if (!rc)
			cnt++;
	}
	for (size_t i = 0; i < nn; i++)
		free(names[i]);
	free(names);
commit:
	exec(c, "COMMIT");
out:
	store_reader_put(st, c);
	if (rc) {
		free(arr);
		return rc;
	}
	*out = arr;
	*n = cnt;
	return C360_OK;
}

/* ---- documents ---- */

void c360_doc_release(struct c360_doc *doc)
{
	if (!doc)
		return;
	free(doc->key);
	free(doc->value);
	memset(doc, 0, sizeof *doc);
}

bool store_valid_key(const char *key, size_t len)
{
	if (!key || len == 0 || len > C360_KEY_MAX)
		return false;
	const unsigned char *p = (const unsigned char *)key, *e = p + len;
	while (p < e) {
		unsigned char ch = *p;
		if (ch == 0)
			return false;
		if (ch < 0x80) {
			p++;
			continue;
		}
		size_t n;
		uint32_t cp;
		if ((ch & 0xe0) == 0xc0) {
			n = 2;
			cp = ch & 0x1f;
		} else if ((ch & 0xf0) == 0xe0) {
			n = 3;
			cp = ch & 0x0f;
		} else if ((ch & 0xf8) == 0xf0) {
			n = 4;
			cp = ch & 0x07;
		} else {
			return false;
		}
		if ((size_t)(e - p) < n)
			return false;
		for (size_t i = 1; i < n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		p += n;
	}
	return true;
}

c360_rc store_read_doc(c360_store *st, sqlite3_stmt *s, const char *key, size_t key_len,
		       int64_t now, struct c360_doc *out)
{
	sqlite3_reset(s);
	sqlite3_bind_text(s, 1, key, (int)key_len, SQLITE_STATIC);
	int src = sqlite3_step(s);
	if (src != SQLITE_ROW)
		return src == SQLITE_DONE ? C360_ERR_NOT_FOUND : store_rc(src);
	uint32_t exp = (uint32_t)sqlite3_column_int64(s, 2);
	if (exp && (int64_t)exp <= now)
		return C360_ERR_NOT_FOUND;
	const void *v = sqlite3_column_blob(s, 0);
	size_t vlen = (size_t)sqlite3_column_bytes(s, 0);
	c360_rc rc = C360_OK;
	if (sqlite3_column_type(s, 0) == SQLITE_BLOB) {
		rc = store_z_decompress(st, v, vlen, &out->value, &vlen);
	} else if ((out->value = malloc(vlen + 1))) {
		if (vlen)
			memcpy(out->value, v, vlen);
		out->value[vlen] = '\0';
	}
	out->key = malloc(key_len + 1);
	if (!rc && (!out->key || !out->value))
		rc = C360_ERR_NOMEM;
	if (rc) {
		c360_doc_release(out);
		return rc;
	}
	memcpy(out->key, key, key_len);
	out->key[key_len] = '\0';
	out->key_len = key_len;
	out->value_len = vlen;
	out->cas = (uint64_t)sqlite3_column_int64(s, 1);
	out->expiry = exp;
	out->seqno = (uint64_t)sqlite3_column_int64(s, 3);
	return C360_OK;
}

c360_rc c360_store_get(c360_store *st, const char *bucket, const char *key, size_t key_len,
		       struct c360_doc *out)
{
	memset(out, 0, sizeof *out);
	if (!bucket || !store_valid_key(key, key_len))
		return key_len > C360_KEY_MAX ? C360_ERR_TOO_BIG : C360_ERR_INVALID;
	c360_rc rc;
	struct conn *c = store_reader(st, &rc);
	if (!c)
		return rc;
	struct bucket_row row;
	rc = store_bucket_lookup(c, bucket, &row);
	if (rc)
		goto out;
	char sql[160];
	snprintf(sql, sizeof sql,
		 "SELECT value, cas, expiry, seqno FROM _b%lld WHERE key=?1 AND value IS NOT NULL",
		 (long long)row.id);
	sqlite3_stmt *s = store_stmt(c, sql);
	if (!s) {
		/* the bucket was dropped between the two statements */
		rc = C360_ERR_NOT_FOUND;
		goto out;
	}
	rc = store_read_doc(st, s, key, key_len, store_now(st), out);
	sqlite3_reset(s);
out:
	store_reader_put(st, c);
	return rc;
}
