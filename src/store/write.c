/* The store's single writer path: group commit of concurrent writers into one
 * SQLite transaction, the document mutations (upsert, insert, replace,
 * delete, touch) with their change-feed entries, the expiry sweep and
 * tombstone purge, and the sweeper thread.
 *
 * Group commit (leader/follower): a writer queues its unit of work and, if
 * no leader is running, becomes the leader: it takes the whole queue, runs
 * every unit in one BEGIN IMMEDIATE … COMMIT (each unit inside its own
 * savepoint when there are several, so a unit that fails hard is rolled back
 * alone), then wakes the followers whose units it ran. Writers arriving
 * meanwhile queue up for the next leader, so under load one fsync covers
 * many callers. A failed COMMIT fails every unit of the group: nothing of it
 * was applied.
 *
 * A mutation's feed entry is the row itself: the row's seqno (its rowid)
 * moves to the bucket's next seqno, in the same statement as the change. */
#include "store/store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "core/banned.h"

/* ---- group commit ---- */

static c360_rc step_cached(struct conn *c, const char *sql)
{
	sqlite3_stmt *s = store_stmt(c, sql);
	if (!s)
		return store_rc(sqlite3_errcode(c->db));
	int src = sqlite3_step(s);
	sqlite3_reset(s);
	return src == SQLITE_DONE || src == SQLITE_ROW ? C360_OK : store_rc(src);
}

/* Once this process has held the write lock for HOLD_US, nearly without
 * a break (transactions back to back, as an import or a busy sink writes),
 * the leader leaves it free for YIELD_US after its commit: another process
 * waiting for it (polling every millisecond, store.c) gets its turn instead
 * of starving (the window is about one of its tries). Costs a process that
 * writes without a pause at most 1 ms per 64 ms (1.6 %); one with pauses
 * between its transactions never yields. */
#define HOLD_US 64000
#define YIELD_US 1000

static c360_rc run_group(c360_store *st, struct wreq *batch)
{
	struct conn *c = st->wconn;
	int64_t now = store_now(st);
	c360_rc rc = step_cached(c, "BEGIN IMMEDIATE");
	if (rc) {
		C360_WARN("store",
			  "cannot begin a write transaction on '%s': %s (another process held the "
			  "write lock for more than %d ms); retry when it is done",
			  st->path, sqlite3_errmsg(c->db), st->opts.write_wait_ms);
		return rc;
	}
	int64_t t0 = c360_mono_us();
	if (!st->held_since_us || t0 - st->last_commit_us > YIELD_US)
		st->held_since_us = t0;
	bool several = batch->next != NULL;
	for (struct wreq *r = batch; r; r = r->next) {
		if (several && (rc = step_cached(c, "SAVEPOINT w")))
			goto rollback;
		r->rc = r->fn(st, c, r->arg, now);
		if (r->rc && !several) {
			rc = r->rc;
			goto rollback;
		}
		if (r->rc && (rc = step_cached(c, "ROLLBACK TO w")))
			goto rollback;
		if (several && (rc = step_cached(c, "RELEASE w")))
			goto rollback;
	}
	rc = step_cached(c, "COMMIT");
	if (rc) {
		C360_ERROR("store", "commit failed on '%s': %s", st->path, sqlite3_errmsg(c->db));
		goto rollback;
	}
	st->last_commit_us = c360_mono_us();
	if (st->last_commit_us - st->held_since_us >= HOLD_US) {
		struct timespec ts = {0, YIELD_US * 1000L};
		nanosleep(&ts, NULL);
		st->held_since_us = 0;
	}
	return C360_OK;
rollback:
	sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

c360_rc store_submit(c360_store *st, c360_rc (*fn)(c360_store *, struct conn *, void *, int64_t),
		     void *arg)
{
	if (st->opts.read_only)
		return C360_ERR_DENIED;
	struct wreq r = {fn, arg, C360_OK, false, NULL};
	pthread_mutex_lock(&st->wmu);
	if (st->qtail)
		st->qtail->next = &r;
	else
		st->qhead = &r;
	st->qtail = &r;
	while (!r.done) {
		if (st->leader) {
			pthread_cond_wait(&st->wcond, &st->wmu);
			continue;
		}
		st->leader = true;
		struct wreq *batch = st->qhead;
		st->qhead = st->qtail = NULL;
		pthread_mutex_unlock(&st->wmu);
		c360_rc grc = run_group(st, batch);
		pthread_mutex_lock(&st->wmu);
		uint64_t units = 0;
		for (struct wreq *q = batch, *next; q; q = next) {
			next = q->next;
			if (grc)
				q->rc = grc;
			q->done = true; /* q may vanish once we unlock */
			units++;
		}
		st->leader = false;
		if (!grc) {
			st->commit_gen++;
			st->stats.commits++;
			st->stats.units += units;
		} else {
			st->stats.failed_commits++;
		}
		pthread_cond_broadcast(&st->wcond);
	}
	pthread_mutex_unlock(&st->wmu);
	return r.rc;
}

void c360_store_stats(c360_store *st, struct c360_store_stats *out)
{
	pthread_mutex_lock(&st->wmu);
	*out = st->stats;
	pthread_mutex_unlock(&st->wmu);
}

uint64_t store_next_cas(c360_store *st, uint64_t floor)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t now_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	uint64_t last = st->last_cas > floor ? st->last_cas : floor;
	uint64_t cas = now_ns > last ? now_ns : last + 1;
	if (cas > (uint64_t)INT64_MAX) /* stored as SQLite INTEGER */
		cas = last + 1;
	st->last_cas = cas;
	return cas;
}

/* ---- bucket state inside one unit of work ---- */

#define MAX_TOUCHED 16

struct touched {
	const char *name;
	struct bucket_row row;
	bool dirty;
	int64_t dcount, dbytes; /* change of the live document counters */
};

struct wstate {
	struct touched b[MAX_TOUCHED];
	int n;
	int gen; /* bumped when the table is flushed and emptied */
};

static c360_rc touched_flush(struct wstate *ws, struct conn *c);

/* Adds to a bucket's live document count and bytes (_c360_counts). */
static c360_rc counts_add(struct conn *c, int64_t id, int64_t dcount, int64_t dbytes)
{
	if (!dcount && !dbytes)
		return C360_OK;
	sqlite3_stmt *s = store_stmt(
		c, "INSERT INTO _c360_counts(bucket_id, live_count, live_bytes) VALUES(?1, ?2, ?3)"
		   " ON CONFLICT(bucket_id) DO UPDATE SET live_count = live_count + excluded.live_count,"
		   " live_bytes = live_bytes + excluded.live_bytes");
	if (!s)
		return store_rc(sqlite3_errcode(c->db));
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, dcount);
	sqlite3_bind_int64(s, 3, dbytes);
	int src = sqlite3_step(s);
	sqlite3_reset(s);
	return src == SQLITE_DONE ? C360_OK : store_rc(src);
}

/* Finds (loading on first use) the state of bucket name; NULL + *rc. */
static struct touched *touched_get(struct wstate *ws, struct conn *c, const char *name,
				   c360_rc *rc)
{
	for (int i = 0; i < ws->n; i++)
		if (ws->b[i].name == name || !strcmp(ws->b[i].name, name))
			return &ws->b[i];
	if (ws->n == MAX_TOUCHED) {
		/* many buckets in one unit: write the states back and start over */
		if ((*rc = touched_flush(ws, c)))
			return NULL;
		ws->n = 0;
		ws->gen++;
	}
	struct touched *t = &ws->b[ws->n];
	*rc = store_bucket_lookup(c, name, &t->row);
	if (*rc)
		return NULL;
	t->name = name;
	t->dirty = false;
	t->dcount = t->dbytes = 0;
	ws->n++;
	return t;
}

static c360_rc touched_flush(struct wstate *ws, struct conn *c)
{
	for (int i = 0; i < ws->n; i++) {
		struct touched *t = &ws->b[i];
		if (!t->dirty)
			continue;
		sqlite3_stmt *s = store_stmt(
			c, "UPDATE _c360_buckets SET high_seqno=?1, last_cas=?2 WHERE id=?3");
		if (!s)
			return store_rc(sqlite3_errcode(c->db));
		sqlite3_bind_int64(s, 1, (int64_t)t->row.high_seqno);
		sqlite3_bind_int64(s, 2, (int64_t)t->row.last_cas);
		sqlite3_bind_int64(s, 3, t->row.id);
		int src = sqlite3_step(s);
		sqlite3_reset(s);
		if (src != SQLITE_DONE)
			return store_rc(src);
		t->dirty = false;
		c360_rc rc = counts_add(c, t->row.id, t->dcount, t->dbytes);
		if (rc)
			return rc;
		t->dcount = t->dbytes = 0;
	}
	return C360_OK;
}

/* ---- document mutations ---- */

/* Statement text per op type; the parameters are shared:
 * ?1 new seqno, ?2 key, ?3 value, ?4 new cas, ?5 expiry, ?6 keep expiry,
 * ?7 now, ?8 expected cas (0 = any). "Live" = value present, not expired. */
#define LIVE "value IS NOT NULL AND (expiry = 0 OR expiry > ?7)"
static const char *const OP_SQL[] = {
	[C360_WRITE_UPSERT] =
		"INSERT INTO _b%lld(seqno, key, value, cas, expiry, op) VALUES(?1, ?2, ?3, ?4, ?5, 1)"
		" ON CONFLICT(key) DO UPDATE SET seqno=excluded.seqno, value=excluded.value,"
		" cas=excluded.cas, expiry=CASE WHEN ?6 AND " LIVE
		" THEN expiry ELSE excluded.expiry END, op=1",
	[C360_WRITE_INSERT] =
		"INSERT INTO _b%lld(seqno, key, value, cas, expiry, op) VALUES(?1, ?2, ?3, ?4, ?5, 1)"
		" ON CONFLICT(key) DO UPDATE SET seqno=excluded.seqno, value=excluded.value,"
		" cas=excluded.cas, expiry=excluded.expiry, op=1 WHERE NOT (" LIVE ")",
	[C360_WRITE_REPLACE] =
		"UPDATE _b%lld SET seqno=?1, value=?3, cas=?4,"
		" expiry=CASE WHEN ?6 THEN expiry ELSE ?5 END, op=1"
		" WHERE key=?2 AND " LIVE " AND (?8 = 0 OR cas = ?8)",
	[C360_WRITE_DELETE] = "UPDATE _b%lld SET seqno=?1, value=NULL, cas=?4, expiry=0, op=2"
			      " WHERE key=?2 AND " LIVE " AND (?8 = 0 OR cas = ?8)",
	[C360_WRITE_TOUCH] = "UPDATE _b%lld SET seqno=?1, cas=?4, expiry=?5, op=1"
			     " WHERE key=?2 AND " LIVE " AND (?8 = 0 OR cas = ?8)",
};

/* Insert of a key that has no row at all; a key that has one is skipped
 * (no change). OR IGNORE rather than ON CONFLICT(key) DO NOTHING: with no
 * constraint left that aborts, SQLite needs no statement journal (a copy of
 * every page the statement touches). The seqno cannot conflict (it is above
 * every row's), and nothing is NULL. */
#define NEW_KEY_SQL                                                                          \
	"INSERT OR IGNORE INTO _b%lld(seqno, key, value, cas, expiry, op)"                 \
	" VALUES(?1, ?2, ?3, ?4, ?5, 1)"

/* After an op changed nothing: tells C360_ERR_CAS from C360_ERR_NOT_FOUND. */
static c360_rc why_unchanged(struct conn *c, int64_t id, const struct c360_write *w, int64_t now)
{
	if (w->type == C360_WRITE_INSERT)
		return C360_ERR_EXISTS;
	char sql[160];
	snprintf(sql, sizeof sql, "SELECT cas FROM _b%lld WHERE key=?2 AND " LIVE, (long long)id);
	sqlite3_stmt *s = store_stmt(c, sql);
	if (!s)
		return store_rc(sqlite3_errcode(c->db));
	sqlite3_bind_text(s, 2, w->key, (int)w->key_len, SQLITE_STATIC);
	sqlite3_bind_int64(s, 7, now);
	int src = sqlite3_step(s);
	sqlite3_reset(s);
	if (src == SQLITE_ROW)
		return C360_ERR_CAS;
	return src == SQLITE_DONE ? C360_ERR_NOT_FOUND : store_rc(src);
}

/* A value as it goes into the row: the caller's text or its zstd frame. */
struct zval {
	const char *p;
	size_t n;
	bool blob;
};

struct write_arg {
	struct c360_write *ops;
	size_t n;
	struct zval *z; /* NULL: every value as text */
	size_t applied;
};

/* Binds an op's parameters (those a statement lacks are ignored). */
static void bind_op(sqlite3_stmt *s, const struct c360_write *w, const struct zval *z,
		    uint64_t seqno, uint64_t cas, uint32_t exp, int64_t now)
{
	sqlite3_bind_int64(s, 1, (int64_t)seqno);
	sqlite3_bind_text(s, 2, w->key, (int)w->key_len, SQLITE_STATIC);
	if (w->type <= C360_WRITE_REPLACE) {
		if (z && z->blob)
			sqlite3_bind_blob(s, 3, z->p, (int)z->n, SQLITE_STATIC);
		else
			sqlite3_bind_text(s, 3, w->value, (int)w->value_len, SQLITE_STATIC);
	}
	sqlite3_bind_int64(s, 4, (int64_t)cas);
	sqlite3_bind_int64(s, 5, exp);
	if (sqlite3_bind_parameter_count(s) >= 6 &&
	    (w->type == C360_WRITE_UPSERT || w->type == C360_WRITE_REPLACE))
		sqlite3_bind_int(s, 6, (w->flags & C360_WRITE_KEEP_EXPIRY) ? 1 : 0);
	if (sqlite3_bind_parameter_count(s) >= 7)
		sqlite3_bind_int64(s, 7, now);
	if (sqlite3_bind_parameter_count(s) >= 8 && w->type >= C360_WRITE_REPLACE)
		sqlite3_bind_int64(s, 8, (int64_t)w->cas);
}

static uint32_t capped_expiry(uint32_t expiry, uint32_t max_ttl, int64_t now)
{
	uint32_t exp = c360_expiry_absolute(expiry, now);
	if (max_ttl) {
		int64_t c64 = now + (int64_t)max_ttl;
		uint32_t cap = c64 > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)c64;
		if (exp == 0 || exp > cap)
			exp = cap;
	}
	return exp;
}

/* A run of this many consecutive upserts (or inserts) to one bucket is tried
 * as one multi-row INSERT of new keys: one statement (cursors, statement
 * journal, VDBE setup and teardown) for all of them instead of one each.
 * Keys that already had a row are then found and written one by one, with
 * the seqno and CAS they were given, so the result is the same as op by op. */
#define MULTI_ROWS 64

/* The statements of one (bucket, op type): the op itself, the old-state read
 * and, for upsert and insert, the new-key inserts (one row and MULTI_ROWS
 * rows) and the seqno read that tells which rows a multi-row insert wrote. */
struct op_stmts {
	int64_t id;
	enum c360_write_type type;
	sqlite3_stmt *s, *sel, *ins, *multi, *seq;
	/* the table's rowids end at the bucket's high seqno, so new rows can
	 * take the next rowids (auto: -1 not known yet, 0 no, 1 yes) */
	sqlite3_stmt *multi_auto, *max_seqno;
	int auto_ok;
};

static c360_rc op_stmts_get(struct conn *c, int64_t id, enum c360_write_type type,
			    struct op_stmts *o)
{
	char sql[64 + 16 * MULTI_ROWS + 200];
	memset(o, 0, sizeof *o);
	/* the statement cache is LRU: fetching one cannot evict the others */
	snprintf(sql, sizeof sql, OP_SQL[type], (long long)id);
	if (!(o->s = store_stmt(c, sql)))
		goto fail;
	snprintf(sql, sizeof sql, "SELECT value FROM _b%lld WHERE key=?1", (long long)id);
	if (!(o->sel = store_stmt(c, sql)))
		goto fail;
	if (type <= C360_WRITE_INSERT) {
		snprintf(sql, sizeof sql, NEW_KEY_SQL, (long long)id);
		if (!(o->ins = store_stmt(c, sql)))
			goto fail;
		int n = snprintf(sql, sizeof sql,
				 "INSERT OR IGNORE INTO _b%lld(seqno, key, value, cas, expiry, op) VALUES",
				 (long long)id);
		for (int j = 0; j < MULTI_ROWS; j++)
			n += snprintf(sql + n, sizeof sql - (size_t)n, "%s(?,?,?,?,?,1)", j ? "," : "");
		if (!(o->multi = store_stmt(c, sql)))
			goto fail;
		n = snprintf(sql, sizeof sql,
			     "INSERT OR FAIL INTO _b%lld(key, value, cas, expiry, op) VALUES", (long long)id);
		for (int j = 0; j < MULTI_ROWS; j++)
			n += snprintf(sql + n, sizeof sql - (size_t)n, "%s(?,?,?,?,1)", j ? "," : "");
		if (!(o->multi_auto = store_stmt(c, sql)))
			goto fail;
		snprintf(sql, sizeof sql, "SELECT max(seqno) FROM _b%lld", (long long)id);
		if (!(o->max_seqno = store_stmt(c, sql)))
			goto fail;
		o->auto_ok = -1;
		snprintf(sql, sizeof sql, "SELECT seqno FROM _b%lld WHERE key=?1", (long long)id);
		if (!(o->seq = store_stmt(c, sql)))
			goto fail;
	}
	o->id = id;
	o->type = type;
	return C360_OK;
fail:
	o->s = NULL;
	return store_rc(sqlite3_errcode(c->db)) ? store_rc(sqlite3_errcode(c->db)) : C360_ERR_INTERNAL;
}

static void op_stmts_reset(struct op_stmts *o)
{
	if (!o->s)
		return;
	sqlite3_stmt *all[] = {o->s, o->sel, o->ins, o->multi, o->seq, o->multi_auto, o->max_seqno};
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		if (all[i])
			sqlite3_reset(all[i]);
}

/* Applies w with the given seqno and cas to a key that may have a row: reads
 * the key's old state (for the live counters), then runs the op's statement.
 * *changed is false when the op did not apply (CAS mismatch, no such key…). */
static c360_rc apply_op(struct conn *c, const struct op_stmts *o, const struct c360_write *w,
			const struct zval *z, uint64_t seqno, uint64_t cas, uint32_t exp, int64_t now,
			bool *changed, int64_t *old_present, int64_t *old_bytes)
{
	*changed = false;
	*old_present = *old_bytes = 0;
	sqlite3_reset(o->sel);
	sqlite3_bind_text(o->sel, 1, w->key, (int)w->key_len, SQLITE_STATIC);
	int src = sqlite3_step(o->sel);
	if (src == SQLITE_ROW && sqlite3_column_type(o->sel, 0) != SQLITE_NULL) {
		*old_present = 1;
		*old_bytes = (int64_t)w->key_len + sqlite3_column_bytes(o->sel, 0);
	} else if (src != SQLITE_ROW && src != SQLITE_DONE) {
		sqlite3_reset(o->sel);
		return store_rc(src) ? store_rc(src) : C360_ERR_INTERNAL;
	}
	sqlite3_reset(o->sel);
	sqlite3_reset(o->s);
	bind_op(o->s, w, z, seqno, cas, exp, now);
	src = sqlite3_step(o->s);
	if (src != SQLITE_DONE) {
		c360_rc hard = store_rc(src);
		C360_WARN("store", "write of '%.*s' to bucket '%s' failed: %s",
			  (int)(w->key_len > 64 ? 64 : w->key_len), w->key, w->bucket,
			  sqlite3_errmsg(c->db));
		sqlite3_reset(o->s);
		return hard ? hard : C360_ERR_INTERNAL;
	}
	*changed = sqlite3_changes(c->db) != 0;
	sqlite3_reset(o->s);
	return C360_OK;
}

/* Records an applied op: its results, the bucket's seqno/CAS and counters. */
static void applied(struct write_arg *a, size_t i, struct touched *t, uint64_t seqno,
		    uint64_t cas, int64_t old_present, int64_t old_bytes)
{
	struct c360_write *w = &a->ops[i];
	if (seqno > t->row.high_seqno)
		t->row.high_seqno = seqno;
	if (cas > t->row.last_cas)
		t->row.last_cas = cas;
	t->dirty = true;
	if (w->type == C360_WRITE_DELETE) {
		t->dcount -= old_present;
		t->dbytes -= old_bytes;
	} else if (w->type != C360_WRITE_TOUCH) {
		size_t stored = a->z && a->z[i].blob ? a->z[i].n : w->value_len;
		t->dcount += 1 - old_present;
		t->dbytes += (int64_t)(w->key_len + stored) - old_bytes;
	}
	a->applied++;
	w->new_cas = cas;
	w->seqno = seqno;
	w->rc = C360_OK;
}

/* An op that changed nothing: its result, or a hard error. */
static c360_rc unchanged(struct conn *c, int64_t id, struct c360_write *w, int64_t now)
{
	w->new_cas = w->seqno = 0;
	w->rc = why_unchanged(c, id, w, now);
	if (w->rc != C360_ERR_CAS && w->rc != C360_ERR_NOT_FOUND && w->rc != C360_ERR_EXISTS)
		return w->rc;
	return C360_OK;
}

/* Whether ops[i..i+MULTI_ROWS) can go in one multi-row insert. */
static bool multi_run(const struct write_arg *a, size_t i)
{
	if (i + MULTI_ROWS > a->n)
		return false;
	const struct c360_write *w = &a->ops[i];
	for (size_t j = i + 1; j < i + MULTI_ROWS; j++) {
		const struct c360_write *x = &a->ops[j];
		if (x->rc || x->type != w->type ||
		    (x->bucket != w->bucket && strcmp(x->bucket, w->bucket)))
			return false;
	}
	return true;
}

/* ops[first..first+MULTI_ROWS), all upserts or all inserts to t's bucket:
 * one INSERT of them all as new keys, then op by op for the keys that
 * already had a row. *conflicts counts those. */
static c360_rc multi_insert(c360_store *st, struct conn *c, struct write_arg *a, size_t first,
			    struct touched *t, struct op_stmts *o, int64_t now, size_t *conflicts)
{
	sqlite3_stmt *m = o->multi;
	uint64_t seqno0 = t->row.high_seqno + 1;
	sqlite3_reset(m);
	for (int j = 0; j < MULTI_ROWS; j++) {
		struct c360_write *w = &a->ops[first + (size_t)j];
		const struct zval *z = a->z ? &a->z[first + (size_t)j] : NULL;
		int p = 5 * j;
		w->seqno = seqno0 + (uint64_t)j;
		w->new_cas = store_next_cas(st, t->row.last_cas);
		sqlite3_bind_int64(m, p + 1, (int64_t)w->seqno);
		sqlite3_bind_text(m, p + 2, w->key, (int)w->key_len, SQLITE_STATIC);
		if (z && z->blob)
			sqlite3_bind_blob(m, p + 3, z->p, (int)z->n, SQLITE_STATIC);
		else
			sqlite3_bind_text(m, p + 3, w->value, (int)w->value_len, SQLITE_STATIC);
		sqlite3_bind_int64(m, p + 4, (int64_t)w->new_cas);
		sqlite3_bind_int64(m, p + 5, capped_expiry(w->expiry, t->row.max_ttl, now));
	}
	int src = sqlite3_step(m);
	int n = src == SQLITE_DONE ? sqlite3_changes(c->db) : 0;
	sqlite3_reset(m);
	if (src != SQLITE_DONE)
		return store_rc(src) ? store_rc(src) : C360_ERR_INTERNAL;
	*conflicts = (size_t)(MULTI_ROWS - n);
	for (int j = 0; j < MULTI_ROWS; j++) {
		size_t i = first + (size_t)j;
		struct c360_write *w = &a->ops[i];
		uint64_t seqno = w->seqno, cas = w->new_cas;
		int64_t old_present = 0, old_bytes = 0;
		if (*conflicts) {
			c360_rc rc;
			if (!o->s && (rc = op_stmts_get(c, t->row.id, w->type, o)))
				return rc;
			/* the row went in when the key's row has this op's seqno */
			sqlite3_reset(o->seq);
			sqlite3_bind_text(o->seq, 1, w->key, (int)w->key_len, SQLITE_STATIC);
			src = sqlite3_step(o->seq);
			bool mine = src == SQLITE_ROW && (uint64_t)sqlite3_column_int64(o->seq, 0) == seqno;
			sqlite3_reset(o->seq);
			if (src != SQLITE_ROW && src != SQLITE_DONE)
				return store_rc(src) ? store_rc(src) : C360_ERR_INTERNAL;
			if (!mine) {
				const struct zval *z = a->z ? &a->z[i] : NULL;
				uint32_t exp = capped_expiry(w->expiry, t->row.max_ttl, now);
				bool changed;
				if ((rc = apply_op(c, o, w, z, seqno, cas, exp, now, &changed, &old_present,
						   &old_bytes)))
					return rc;
				if (!changed) {
					o->s = NULL; /* why_unchanged may use the cache */
					if ((rc = unchanged(c, t->row.id, w, now)))
						return rc;
					continue;
				}
			}
		}
		applied(a, i, t, seqno, cas, old_present, old_bytes);
	}
	return C360_OK;
}

/* Like multi_insert(), when the table's rowids end at the bucket's high
 * seqno: the new rows take the next rowids (SQLite's append, no seek per
 * row for the seqno), and the insert stops at the first key that already has
 * a row (OR FAIL: the rows before it stay, nothing needs undoing, so no
 * statement journal either). *done counts the ops written; the caller goes
 * on op by op from the one that stopped it. */
static c360_rc multi_insert_auto(c360_store *st, struct conn *c, struct write_arg *a,
				 size_t first, struct touched *t, struct op_stmts *o, int64_t now,
				 size_t *done)
{
	sqlite3_stmt *m = o->multi_auto;
	uint64_t seqno0 = t->row.high_seqno + 1;
	uint64_t cas[MULTI_ROWS];
	sqlite3_reset(m);
	for (int j = 0; j < MULTI_ROWS; j++) {
		struct c360_write *w = &a->ops[first + (size_t)j];
		const struct zval *z = a->z ? &a->z[first + (size_t)j] : NULL;
		int p = 4 * j;
		cas[j] = store_next_cas(st, t->row.last_cas);
		sqlite3_bind_text(m, p + 1, w->key, (int)w->key_len, SQLITE_STATIC);
		if (z && z->blob)
			sqlite3_bind_blob(m, p + 2, z->p, (int)z->n, SQLITE_STATIC);
		else
			sqlite3_bind_text(m, p + 2, w->value, (int)w->value_len, SQLITE_STATIC);
		sqlite3_bind_int64(m, p + 3, (int64_t)cas[j]);
		sqlite3_bind_int64(m, p + 4, capped_expiry(w->expiry, t->row.max_ttl, now));
	}
	int src = sqlite3_step(m);
	int n = src == SQLITE_DONE || src == SQLITE_CONSTRAINT ? sqlite3_changes(c->db) : 0;
	sqlite3_reset(m);
	if (src != SQLITE_DONE && src != SQLITE_CONSTRAINT)
		return store_rc(src) ? store_rc(src) : C360_ERR_INTERNAL;
	if (n < 0 || n > MULTI_ROWS || (src == SQLITE_DONE && n != MULTI_ROWS))
		return C360_ERR_INTERNAL;
	for (int j = 0; j < n; j++)
		applied(a, first + (size_t)j, t, seqno0 + (uint64_t)j, cas[j], 0, 0);
	*done = (size_t)n;
	return C360_OK;
}

static c360_rc do_write(c360_store *st, struct conn *c, void *arg, int64_t now)
{
	struct write_arg *a = arg;
	struct wstate ws;
	ws.n = 0;
	ws.gen = 0;
	struct op_stmts o;
	memset(&o, 0, sizeof o);
	bool try_multi = true;
	int64_t last_id = -1;
	c360_rc rc;
	for (size_t i = 0; i < a->n; i++) {
		struct c360_write *w = &a->ops[i];
		if (w->rc) /* refused before the transaction */
			continue;
		int gen = ws.gen;
		struct touched *t = touched_get(&ws, c, w->bucket, &rc);
		if (gen != ws.gen)
			o.s = NULL; /* the flush may have evicted them from the cache */
		if (!t) {
			if (rc == C360_ERR_NOT_FOUND) {
				w->rc = rc;
				continue;
			}
			return rc;
		}
		/* a re-import in one bucket says nothing about the next one's
		 * keys (an update pass rewrites customers but adds new index
		 * documents) */
		if (t->row.id != last_id)
			try_multi = true;
		last_id = t->row.id;
		if ((!o.s || o.id != t->row.id || o.type != w->type) &&
		    (rc = op_stmts_get(c, t->row.id, w->type, &o)))
			return rc;
		if (o.multi && try_multi && o.auto_ok < 0) {
			/* once per bucket and statement fetch: do the rowids end at the
			 * high seqno? (a purge may have removed the last row) */
			sqlite3_reset(o.max_seqno);
			int src = sqlite3_step(o.max_seqno);
			uint64_t max = src == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(o.max_seqno, 0) : 0;
			sqlite3_reset(o.max_seqno);
			if (src != SQLITE_ROW)
				return store_rc(src) ? store_rc(src) : C360_ERR_INTERNAL;
			o.auto_ok = max == t->row.high_seqno;
		}
		if (o.multi && try_multi && o.auto_ok == 1 && multi_run(a, i)) {
			size_t done = 0;
			if ((rc = multi_insert_auto(st, c, a, i, t, &o, now, &done)))
				return rc;
			if (done == MULTI_ROWS) {
				i += MULTI_ROWS - 1;
				continue;
			}
			/* a key that has a row (a re-import): op by op from it on, up
			 * to the next bucket's ops */
			try_multi = false;
			i += done;
			if (i >= a->n)
				break;
			w = &a->ops[i];
		} else if (o.multi && try_multi && multi_run(a, i)) {
			size_t conflicts = 0;
			if ((rc = multi_insert(st, c, a, i, t, &o, now, &conflicts)))
				return rc;
			/* existing keys (a re-import): op by op up to the next bucket */
			if (conflicts)
				try_multi = false;
			i += MULTI_ROWS - 1;
			continue;
		}
		uint64_t seqno = t->row.high_seqno + 1;
		uint64_t prev_cas = st->last_cas;
		uint64_t cas = store_next_cas(st, t->row.last_cas);
		uint32_t exp = capped_expiry(w->expiry, t->row.max_ttl, now);
		const struct zval *z = a->z ? &a->z[i] : NULL;
		int64_t old_present = 0, old_bytes = 0;
		/* a new key (the bulk-load case) is one plain insert; otherwise the
		 * key's previous state is read first, for the live counters */
		if (o.ins) {
			sqlite3_reset(o.ins);
			bind_op(o.ins, w, z, seqno, cas, exp, now);
			int src = sqlite3_step(o.ins);
			int n = src == SQLITE_DONE ? sqlite3_changes(c->db) : 0;
			sqlite3_reset(o.ins);
			if (src != SQLITE_DONE)
				return store_rc(src) ? store_rc(src) : C360_ERR_INTERNAL;
			if (n) {
				applied(a, i, t, seqno, cas, 0, 0);
				continue;
			}
		}
		bool changed;
		if ((rc = apply_op(c, &o, w, z, seqno, cas, exp, now, &changed, &old_present,
				   &old_bytes)))
			return rc;
		if (!changed) {
			st->last_cas = prev_cas;
			o.s = NULL; /* why_unchanged may use the cache */
			if ((rc = unchanged(c, t->row.id, w, now)))
				return rc;
			continue;
		}
		applied(a, i, t, seqno, cas, old_present, old_bytes);
	}
	op_stmts_reset(&o);
	return touched_flush(&ws, c);
}

static c360_rc precheck(struct c360_write *w)
{
	if (w->type < C360_WRITE_UPSERT || w->type > C360_WRITE_TOUCH || !w->bucket)
		return C360_ERR_INVALID;
	if (w->key_len > C360_KEY_MAX)
		return C360_ERR_TOO_BIG;
	if (!store_valid_key(w->key, w->key_len))
		return C360_ERR_INVALID;
	if (w->type <= C360_WRITE_REPLACE) {
		if (!w->value)
			return C360_ERR_INVALID;
		if (w->value_len > C360_VALUE_MAX)
			return C360_ERR_TOO_BIG;
		if (!(w->flags & C360_WRITE_TRUSTED_JSON)) {
			c360_rc rc = c360_json_validate(w->value, w->value_len, NULL, NULL);
			if (rc)
				return rc == C360_ERR_NOMEM ? rc : C360_ERR_INVALID;
		}
	}
	return C360_OK;
}

c360_rc c360_store_write(c360_store *st, struct c360_write *ops, size_t n)
{
	if (!st || (!ops && n))
		return C360_ERR_INVALID;
	if (st->opts.read_only)
		return C360_ERR_DENIED;
	size_t todo = 0;
	for (size_t i = 0; i < n; i++) {
		ops[i].new_cas = 0;
		ops[i].seqno = 0;
		ops[i].rc = precheck(&ops[i]);
		if (!ops[i].rc)
			todo++;
	}
	if (!todo)
		return C360_OK;
	struct write_arg a = {ops, n, NULL, 0};
	char *zbuf = NULL;
	if (__atomic_load_n(&st->zlevel, __ATOMIC_RELAXED) > 0) {
		/* compress here, in the caller's thread, not in the group commit */
		size_t need = 0;
		for (size_t i = 0; i < n; i++)
			if (!ops[i].rc && ops[i].type <= C360_WRITE_REPLACE &&
			    ops[i].value_len >= STORE_Z_MIN)
				need += store_z_bound(ops[i].value_len);
		if (need) {
			a.z = calloc(n, sizeof *a.z);
			zbuf = malloc(need);
			if (!a.z || !zbuf) {
				free(a.z);
				free(zbuf);
				return C360_ERR_NOMEM;
			}
			size_t off = 0;
			for (size_t i = 0; i < n; i++) {
				if (ops[i].rc || ops[i].type > C360_WRITE_REPLACE ||
				    ops[i].value_len < STORE_Z_MIN)
					continue;
				size_t cap = store_z_bound(ops[i].value_len), zl = 0;
				store_z_compress(st, ops[i].bucket, ops[i].value, ops[i].value_len, zbuf + off,
						 cap, &zl);
				if (zl) {
					a.z[i] = (struct zval){zbuf + off, zl, true};
					off += zl;
				}
			}
		}
	}
	c360_rc rc = store_submit(st, do_write, &a);
	if (!rc) {
		pthread_mutex_lock(&st->wmu);
		st->stats.ops += a.applied;
		pthread_mutex_unlock(&st->wmu);
	}
	free(a.z);
	free(zbuf);
	return rc;
}

static c360_rc one(c360_store *st, enum c360_write_type type, const char *bucket, const char *key,
		   size_t key_len, const char *value, size_t value_len, uint32_t expiry, uint64_t cas,
		   uint64_t *cas_out)
{
	struct c360_write w = {.type = type,
			       .bucket = bucket,
			       .key = key,
			       .key_len = key_len,
			       .value = value,
			       .value_len = value_len,
			       .expiry = expiry,
			       .cas = cas};
	c360_rc rc = c360_store_write(st, &w, 1);
	if (!rc)
		rc = w.rc;
	if (cas_out)
		*cas_out = rc ? 0 : w.new_cas;
	return rc;
}

c360_rc c360_store_upsert(c360_store *st, const char *bucket, const char *key, size_t key_len,
			  const char *value, size_t value_len, uint32_t expiry, uint64_t *cas_out)
{
	return one(st, C360_WRITE_UPSERT, bucket, key, key_len, value, value_len, expiry, 0, cas_out);
}

c360_rc c360_store_insert(c360_store *st, const char *bucket, const char *key, size_t key_len,
			  const char *value, size_t value_len, uint32_t expiry, uint64_t *cas_out)
{
	return one(st, C360_WRITE_INSERT, bucket, key, key_len, value, value_len, expiry, 0, cas_out);
}

c360_rc c360_store_replace(c360_store *st, const char *bucket, const char *key, size_t key_len,
			   const char *value, size_t value_len, uint32_t expiry, uint64_t cas,
			   uint64_t *cas_out)
{
	return one(st, C360_WRITE_REPLACE, bucket, key, key_len, value, value_len, expiry, cas,
		   cas_out);
}

c360_rc c360_store_delete(c360_store *st, const char *bucket, const char *key, size_t key_len,
			  uint64_t cas)
{
	return one(st, C360_WRITE_DELETE, bucket, key, key_len, NULL, 0, 0, cas, NULL);
}

c360_rc c360_store_touch(c360_store *st, const char *bucket, const char *key, size_t key_len,
			 uint32_t expiry, uint64_t *cas_out)
{
	return one(st, C360_WRITE_TOUCH, bucket, key, key_len, NULL, 0, expiry, 0, cas_out);
}

/* ---- expiry sweep and tombstone purge ---- */

#define SWEEP_CHUNK 2000

struct sweep_arg {
	const char *bucket; /* NULL = all */
	size_t max;         /* per unit */
	size_t done;
	int64_t purge_before_cas; /* purge mode when > 0 */
};

/* Ids and names of the buckets a sweep covers. */
static c360_rc bucket_ids(struct conn *c, const char *only, int64_t *ids, char (*names)[C360_BUCKET_NAME_MAX + 1],
			  size_t cap, size_t *n)
{
	*n = 0;
	sqlite3_stmt *s = store_stmt(
		c, "SELECT id, name FROM _c360_buckets WHERE ?1 IS NULL OR name=?1 ORDER BY id");
	if (!s)
		return store_rc(sqlite3_errcode(c->db));
	if (only)
		sqlite3_bind_text(s, 1, only, -1, SQLITE_STATIC);
	int src;
	while ((src = sqlite3_step(s)) == SQLITE_ROW && *n < cap) {
		ids[*n] = sqlite3_column_int64(s, 0);
		snprintf(names[*n], sizeof names[*n], "%s", (const char *)sqlite3_column_text(s, 1));
		(*n)++;
	}
	sqlite3_reset(s);
	return src == SQLITE_ROW || src == SQLITE_DONE ? C360_OK : store_rc(src);
}

#define SWEEP_BUCKETS 256

static c360_rc do_sweep(c360_store *st, struct conn *c, void *arg, int64_t now)
{
	struct sweep_arg *a = arg;
	int64_t *ids = calloc(SWEEP_BUCKETS, sizeof *ids);
	char(*names)[C360_BUCKET_NAME_MAX + 1] = calloc(SWEEP_BUCKETS, sizeof *names);
	int64_t *rows = calloc(SWEEP_CHUNK, sizeof *rows);
	c360_rc rc = C360_OK;
	if (!ids || !names || !rows) {
		rc = C360_ERR_NOMEM;
		goto out;
	}
	size_t nb;
	if ((rc = bucket_ids(c, a->bucket, ids, names, SWEEP_BUCKETS, &nb)))
		goto out;
	if (a->bucket && nb == 0) {
		rc = C360_ERR_NOT_FOUND;
		goto out;
	}
	char sql[256];
	for (size_t b = 0; b < nb && a->done < a->max; b++) {
		if (a->purge_before_cas > 0) {
			snprintf(sql, sizeof sql,
				 "DELETE FROM _b%lld WHERE value IS NULL AND cas < ?1",
				 (long long)ids[b]);
			sqlite3_stmt *s = store_stmt(c, sql);
			if (!s) {
				rc = store_rc(sqlite3_errcode(c->db));
				goto out;
			}
			sqlite3_bind_int64(s, 1, a->purge_before_cas);
			int src = sqlite3_step(s);
			sqlite3_reset(s);
			if (src != SQLITE_DONE) {
				rc = store_rc(src);
				goto out;
			}
			a->done += (size_t)sqlite3_changes(c->db);
			continue;
		}
		size_t want = a->max - a->done;
		if (want > SWEEP_CHUNK)
			want = SWEEP_CHUNK;
		snprintf(sql, sizeof sql,
			 "SELECT seqno, length(CAST(key AS BLOB)) + length(CAST(value AS BLOB))"
			 " FROM _b%lld WHERE expiry > 0 AND expiry <= ?1 ORDER BY expiry LIMIT ?2",
			 (long long)ids[b]);
		sqlite3_stmt *s = store_stmt(c, sql);
		if (!s) {
			rc = store_rc(sqlite3_errcode(c->db));
			goto out;
		}
		sqlite3_bind_int64(s, 1, now);
		sqlite3_bind_int64(s, 2, (int64_t)want);
		size_t nr = 0;
		int src;
		int64_t gone_bytes = 0;
		while ((src = sqlite3_step(s)) == SQLITE_ROW) {
			rows[nr++] = sqlite3_column_int64(s, 0);
			gone_bytes += sqlite3_column_int64(s, 1);
		}
		sqlite3_reset(s);
		if (src != SQLITE_DONE) {
			rc = store_rc(src);
			goto out;
		}
		if (!nr)
			continue;
		struct bucket_row row;
		if ((rc = store_bucket_lookup(c, names[b], &row)))
			goto out;
		snprintf(sql, sizeof sql,
			 "UPDATE _b%lld SET seqno=?1, value=NULL, cas=?2, expiry=0, op=3 WHERE seqno=?3",
			 (long long)ids[b]);
		s = store_stmt(c, sql);
		if (!s) {
			rc = store_rc(sqlite3_errcode(c->db));
			goto out;
		}
		for (size_t i = 0; i < nr; i++) {
			sqlite3_reset(s);
			uint64_t seqno = row.high_seqno + 1;
			uint64_t cas = store_next_cas(st, row.last_cas);
			sqlite3_bind_int64(s, 1, (int64_t)seqno);
			sqlite3_bind_int64(s, 2, (int64_t)cas);
			sqlite3_bind_int64(s, 3, rows[i]);
			src = sqlite3_step(s);
			if (src != SQLITE_DONE) {
				sqlite3_reset(s);
				rc = store_rc(src);
				goto out;
			}
			row.high_seqno = seqno;
			row.last_cas = cas;
		}
		sqlite3_reset(s);
		s = store_stmt(c, "UPDATE _c360_buckets SET high_seqno=?1, last_cas=?2 WHERE id=?3");
		if (!s) {
			rc = store_rc(sqlite3_errcode(c->db));
			goto out;
		}
		sqlite3_bind_int64(s, 1, (int64_t)row.high_seqno);
		sqlite3_bind_int64(s, 2, (int64_t)row.last_cas);
		sqlite3_bind_int64(s, 3, row.id);
		src = sqlite3_step(s);
		sqlite3_reset(s);
		if (src != SQLITE_DONE) {
			rc = store_rc(src);
			goto out;
		}
		if ((rc = counts_add(c, row.id, -(int64_t)nr, -gone_bytes)))
			goto out;
		a->done += nr;
	}
out:
	free(ids);
	free(names);
	free(rows);
	return rc;
}

c360_rc c360_store_sweep(c360_store *st, const char *bucket, size_t max, size_t *n)
{
	if (n)
		*n = 0;
	if (st->opts.read_only)
		return C360_ERR_DENIED;
	size_t total = 0;
	for (;;) {
		size_t want = max ? max - total : SIZE_MAX;
		if (want > SWEEP_CHUNK)
			want = SWEEP_CHUNK;
		struct sweep_arg a = {bucket, want, 0, 0};
		c360_rc rc = store_submit(st, do_sweep, &a);
		if (rc)
			return rc;
		total += a.done;
		if (n)
			*n = total;
		if (a.done < want || (max && total >= max))
			return C360_OK;
	}
}

c360_rc c360_store_purge_tombstones(c360_store *st, const char *bucket, int64_t older_than_s,
				    size_t *n)
{
	if (n)
		*n = 0;
	if (st->opts.read_only)
		return C360_ERR_DENIED;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t before_ns = ((int64_t)ts.tv_sec - (older_than_s > 0 ? older_than_s : 0)) * 1000000000LL +
			    ts.tv_nsec + 1;
	struct sweep_arg a = {bucket, SIZE_MAX, 0, before_ns > 0 ? before_ns : 1};
	c360_rc rc = store_submit(st, do_sweep, &a);
	if (!rc && n)
		*n = a.done;
	return rc;
}

/* ---- sweeper thread ---- */

static void *sweeper_main(void *arg)
{
	c360_store *st = arg;
	int interval = st->opts.sweep_interval_ms > 0 ? st->opts.sweep_interval_ms : 1000;
	/* tombstone purge: hourly, the first one a minute after start */
	struct timespec last_purge;
	clock_gettime(CLOCK_MONOTONIC, &last_purge);
	last_purge.tv_sec -= 3600 - 60;
	c360_rc last_rc = C360_OK;
	pthread_mutex_lock(&st->smu);
	while (!st->stopping) {
		struct timespec dl;
		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_sec += interval / 1000;
		dl.tv_nsec += (long)(interval % 1000) * 1000000L;
		if (dl.tv_nsec >= 1000000000L) {
			dl.tv_sec++;
			dl.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&st->scond, &st->smu, &dl);
		if (st->stopping)
			break;
		pthread_mutex_unlock(&st->smu);
		size_t n = 0;
		c360_rc rc = c360_store_sweep(st, NULL, 0, &n);
		if (rc && rc != last_rc)
			C360_WARN("store", "expiry sweep of '%s' failed: %s", st->path, c360_rc_str(rc));
		last_rc = rc;
		if (n)
			C360_DEBUG("store", "swept %zu expired documents", n);
		struct timespec mono;
		clock_gettime(CLOCK_MONOTONIC, &mono);
		if (mono.tv_sec - last_purge.tv_sec >= 3600) {
			last_purge = mono;
			size_t np = 0;
			if (c360_store_purge_tombstones(st, NULL, st->retention_s, &np) == C360_OK && np)
				C360_DEBUG("store", "purged %zu tombstones", np);
		}
		pthread_mutex_lock(&st->smu);
	}
	pthread_mutex_unlock(&st->smu);
	return NULL;
}

c360_rc store_sweeper_start(c360_store *st)
{
	st->stopping = false;
	if (pthread_create(&st->sweeper, NULL, sweeper_main, st))
		return C360_ERR_NOMEM;
	st->sweeper_running = true;
	return C360_OK;
}

void store_sweeper_stop(c360_store *st)
{
	if (!st->sweeper_running)
		return;
	pthread_mutex_lock(&st->smu);
	st->stopping = true;
	pthread_cond_signal(&st->scond);
	pthread_mutex_unlock(&st->smu);
	pthread_join(st->sweeper, NULL);
	st->sweeper_running = false;
}

/* ---- checkpointer thread ----
 *
 * SQLite's auto-checkpoint runs in the committing thread, right after a
 * commit that leaves the WAL at 1000 frames or more: the writer copies the
 * frames into the database file and syncs it before it can start its next
 * transaction. Here the writer only signals, and this thread checkpoints
 * (PASSIVE: never blocks the writer or readers) on its own connection.
 * Durability does not depend on it (a commit is durable once its WAL frames
 * are synced). Should it fall far behind, the writer checkpoints itself past
 * CKPT_WRITER_BYTES of WAL, which bounds the WAL's size as before. */
#define CKPT_BYTES (4 << 20)
#define CKPT_WRITER_BYTES (64 << 20)

static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	c360_store *st = arg;
	if (frames >= st->ckpt_writer_frames) {
		sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	} else if (frames >= st->ckpt_frames) {
		pthread_mutex_lock(&st->cmu);
		st->ckpt_want = true;
		pthread_cond_signal(&st->ccond);
		pthread_mutex_unlock(&st->cmu);
	}
	return SQLITE_OK;
}

static void *ckpt_main(void *arg)
{
	c360_store *st = arg;
	struct conn *c = NULL;
	pthread_mutex_lock(&st->cmu);
	for (;;) {
		while (!st->ckpt_want && !st->ckpt_stop)
			pthread_cond_wait(&st->ccond, &st->cmu);
		if (st->ckpt_stop)
			break;
		st->ckpt_want = false;
		pthread_mutex_unlock(&st->cmu);
		if (!c && store_conn_open(st, &c, false, NULL, 0))
			c = NULL;
		int src = c ? sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL)
			    : SQLITE_CANTOPEN;
		if (src != SQLITE_OK && src != SQLITE_BUSY)
			C360_DEBUG("store", "checkpoint of '%s' failed: %s", st->path,
				   c ? sqlite3_errmsg(c->db) : "cannot open a connection");
		pthread_mutex_lock(&st->cmu);
	}
	pthread_mutex_unlock(&st->cmu);
	store_conn_close(c);
	return NULL;
}

c360_rc store_ckpt_start(c360_store *st)
{
	int64_t page = 4096;
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(st->wconn->db, "PRAGMA page_size", -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int64(s, 0) > 0)
		page = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	st->ckpt_frames = (int)(CKPT_BYTES / page);
	st->ckpt_writer_frames = (int)(CKPT_WRITER_BYTES / page);
	st->ckpt_stop = st->ckpt_want = false;
	if (pthread_create(&st->ckpt, NULL, ckpt_main, st))
		return C360_ERR_NOMEM;
	st->ckpt_running = true;
	/* replaces the auto-checkpoint (which is a WAL hook too) */
	sqlite3_wal_hook(st->wconn->db, wal_hook, st);
	return C360_OK;
}

void store_ckpt_stop(c360_store *st)
{
	if (!st->ckpt_running)
		return;
	sqlite3_wal_hook(st->wconn->db, NULL, NULL);
	sqlite3_wal_autocheckpoint(st->wconn->db, 1000);
	pthread_mutex_lock(&st->cmu);
	st->ckpt_stop = true;
	pthread_cond_signal(&st->ccond);
	pthread_mutex_unlock(&st->cmu);
	pthread_join(st->ckpt, NULL);
	st->ckpt_running = false;
}
