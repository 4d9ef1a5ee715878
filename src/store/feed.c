/* The change feed: reading a bucket's changes after a seqno, waiting for new
 * ones, and named cursors.
 *
 * The feed is the bucket table read in seqno (rowid) order: each key has one
 * row holding its latest change (tombstones included), so reading after X
 * yields exactly the latest state of every key changed after X, deduplicated
 * like DCP. Rows are copied out in chunks and the read transaction ends
 * before the callbacks run, so a slow consumer never pins the WAL. */
#include "store/store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/banned.h"

#define FEED_CHUNK_ROWS 256
#define FEED_CHUNK_BYTES (8u << 20)

const char *c360_feed_op_str(enum c360_feed_op op)
{
	switch (op) {
	case C360_FEED_MUTATION:
		return "mutation";
	case C360_FEED_DELETION:
		return "deletion";
	case C360_FEED_EXPIRATION:
		return "expiration";
	}
	return "unknown";
}

struct chunk_ev {
	uint64_t seqno, cas;
	uint32_t expiry;
	int op;
	size_t key_off, key_len, val_off, val_len;
	bool has_val;
	bool skip; /* expired, not swept yet */
};

/* Copies up to FEED_CHUNK_ROWS changes after `after` into evs/data. */
static c360_rc read_chunk(c360_store *st, const char *bucket, uint64_t after, size_t limit,
			  struct chunk_ev *evs, size_t *nev, struct c360_buf *data, bool *more)
{
	*nev = 0;
	*more = false;
	c360_rc rc;
	struct conn *c = store_reader(st, &rc);
	if (!c)
		return rc;
	sqlite3_stmt *s = NULL;
	if ((rc = store_rc(sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL))))
		goto out;
	struct bucket_row row;
	if ((rc = store_bucket_lookup(c, bucket, &row)))
		goto commit;
	char sql[160];
	snprintf(sql, sizeof sql,
		 "SELECT seqno, op, key, cas, expiry, value FROM _b%lld WHERE seqno > ?1"
		 " ORDER BY seqno LIMIT ?2",
		 (long long)row.id);
	s = store_stmt(c, sql);
	if (!s) {
		rc = store_rc(sqlite3_errcode(c->db));
		goto commit;
	}
	sqlite3_bind_int64(s, 1, (int64_t)after);
	sqlite3_bind_int64(s, 2, (int64_t)limit + 1);
	int64_t now = store_now(st);
	int src;
	while ((src = sqlite3_step(s)) == SQLITE_ROW) {
		if (*nev == limit || (*nev > 0 && data->len > FEED_CHUNK_BYTES)) {
			*more = true;
			break;
		}
		struct chunk_ev *e = &evs[*nev];
		e->seqno = (uint64_t)sqlite3_column_int64(s, 0);
		e->op = sqlite3_column_int(s, 1);
		const void *k = sqlite3_column_blob(s, 2);
		e->key_len = (size_t)sqlite3_column_bytes(s, 2);
		e->key_off = data->len;
		if ((rc = c360_buf_append(data, k, e->key_len)) || (rc = c360_buf_putc(data, '\0')))
			goto commit;
		e->cas = (uint64_t)sqlite3_column_int64(s, 3);
		e->expiry = (uint32_t)sqlite3_column_int64(s, 4);
		e->has_val = sqlite3_column_type(s, 5) != SQLITE_NULL && e->op == C360_FEED_MUTATION;
		e->skip = e->has_val && e->expiry && (int64_t)e->expiry <= now;
		e->val_off = data->len;
		e->val_len = 0;
		if (e->has_val && !e->skip) {
			const void *v = sqlite3_column_blob(s, 5);
			e->val_len = (size_t)sqlite3_column_bytes(s, 5);
			char *plain = NULL;
			if (sqlite3_column_type(s, 5) == SQLITE_BLOB) {
				if ((rc = store_z_decompress(st, v, e->val_len, &plain, &e->val_len)))
					goto commit;
				v = plain;
			}
			rc = c360_buf_append(data, v, e->val_len);
			free(plain);
			if (rc || (rc = c360_buf_putc(data, '\0')))
				goto commit;
		}
		(*nev)++;
	}
	if (src != SQLITE_ROW && src != SQLITE_DONE)
		rc = store_rc(src);
commit:
	if (s)
		sqlite3_reset(s);
	sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
out:
	store_reader_put(st, c);
	return rc;
}

c360_rc c360_feed_read(c360_store *st, const char *bucket, uint64_t after, size_t max,
		       c360_feed_cb cb, void *ctx, uint64_t *last)
{
	if (last)
		*last = after;
	if (!st || !bucket || !cb)
		return C360_ERR_INVALID;
	struct chunk_ev *evs = malloc(sizeof *evs * FEED_CHUNK_ROWS);
	if (!evs)
		return C360_ERR_NOMEM;
	struct c360_buf data;
	c360_buf_init(&data, 0);
	size_t delivered = 0;
	c360_rc rc = C360_OK;
	for (;;) {
		size_t limit = FEED_CHUNK_ROWS;
		if (max && max - delivered < limit)
			limit = max - delivered;
		size_t nev;
		bool more;
		c360_buf_reset(&data);
		rc = read_chunk(st, bucket, after, limit, evs, &nev, &data, &more);
		if (rc)
			break;
		bool stop = false;
		for (size_t i = 0; i < nev && !stop; i++) {
			struct chunk_ev *e = &evs[i];
			if (e->skip) {
				after = e->seqno;
				if (last)
					*last = after;
				continue;
			}
			struct c360_feed_event ev = {
				.seqno = e->seqno,
				.op = (enum c360_feed_op)e->op,
				.key = data.data + e->key_off,
				.key_len = e->key_len,
				.cas = e->cas,
				.expiry = e->expiry,
				.value = e->has_val ? data.data + e->val_off : NULL,
				.value_len = e->val_len,
			};
			after = e->seqno;
			if (last)
				*last = after;
			delivered++;
			if (cb(&ev, ctx))
				stop = true;
		}
		if (stop || !more || (max && delivered >= max))
			break;
	}
	c360_buf_release(&data);
	free(evs);
	return rc;
}

c360_rc c360_feed_high_seqno(c360_store *st, const char *bucket, uint64_t *out)
{
	*out = 0;
	if (!bucket)
		return C360_ERR_INVALID;
	c360_rc rc;
	struct conn *c = store_reader(st, &rc);
	if (!c)
		return rc;
	struct bucket_row row;
	rc = store_bucket_lookup(c, bucket, &row);
	if (!rc)
		*out = row.high_seqno;
	store_reader_put(st, c);
	return rc;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Commits of this process wake the waiter at once (commit_gen + condition
 * variable); other processes' commits are seen by polling every 50 ms. */
c360_rc c360_feed_wait(c360_store *st, const char *bucket, uint64_t after, int timeout_ms)
{
	int64_t deadline = timeout_ms < 0 ? INT64_MAX : mono_ms() + timeout_ms;
	for (;;) {
		pthread_mutex_lock(&st->wmu);
		uint64_t gen = st->commit_gen;
		pthread_mutex_unlock(&st->wmu);
		uint64_t high;
		c360_rc rc = c360_feed_high_seqno(st, bucket, &high);
		if (rc)
			return rc;
		if (high > after)
			return C360_OK;
		int64_t now = mono_ms();
		if (now >= deadline)
			return C360_ERR_TIMEOUT;
		int64_t wait = deadline - now < 50 ? deadline - now : 50;
		struct timespec dl;
		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_nsec += (long)(wait * 1000000);
		while (dl.tv_nsec >= 1000000000L) {
			dl.tv_sec++;
			dl.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&st->wmu);
		while (st->commit_gen == gen) {
			if (pthread_cond_timedwait(&st->wcond, &st->wmu, &dl))
				break;
		}
		pthread_mutex_unlock(&st->wmu);
	}
}

c360_rc c360_feed_cursor_get(c360_store *st, const char *bucket, const char *name,
			     uint64_t *seqno)
{
	if (!bucket || !name)
		return C360_ERR_INVALID;
	c360_rc rc;
	struct conn *c = store_reader(st, &rc);
	if (!c)
		return rc;
	struct bucket_row row;
	rc = store_bucket_lookup(c, bucket, &row);
	if (rc)
		goto out;
	sqlite3_stmt *s =
		store_stmt(c, "SELECT seqno FROM _c360_cursors WHERE bucket_id=?1 AND name=?2");
	if (!s) {
		rc = store_rc(sqlite3_errcode(c->db));
		goto out;
	}
	sqlite3_bind_int64(s, 1, row.id);
	sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
	int src = sqlite3_step(s);
	if (src == SQLITE_ROW)
		*seqno = (uint64_t)sqlite3_column_int64(s, 0);
	else
		rc = src == SQLITE_DONE ? C360_ERR_NOT_FOUND : store_rc(src);
	sqlite3_reset(s);
out:
	store_reader_put(st, c);
	return rc;
}

struct cursor_arg {
	const char *bucket, *name;
	uint64_t seqno;
	c360_rc result;
};

static c360_rc do_cursor_set(c360_store *st, struct conn *c, void *arg, int64_t now)
{
	(void)st;
	(void)now;
	struct cursor_arg *a = arg;
	struct bucket_row row;
	c360_rc rc = store_bucket_lookup(c, a->bucket, &row);
	if (rc) {
		a->result = rc;
		return rc == C360_ERR_NOT_FOUND ? C360_OK : rc;
	}
	sqlite3_stmt *s = store_stmt(
		c, "INSERT OR REPLACE INTO _c360_cursors(bucket_id, name, seqno) VALUES(?1, ?2, ?3)");
	if (!s)
		return store_rc(sqlite3_errcode(c->db));
	sqlite3_bind_int64(s, 1, row.id);
	sqlite3_bind_text(s, 2, a->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, (int64_t)a->seqno);
	int src = sqlite3_step(s);
	sqlite3_reset(s);
	if (src != SQLITE_DONE)
		return store_rc(src);
	a->result = C360_OK;
	return C360_OK;
}

c360_rc c360_feed_cursor_set(c360_store *st, const char *bucket, const char *name,
			     uint64_t seqno)
{
	if (!bucket || !name || !*name || strlen(name) > 1024)
		return C360_ERR_INVALID;
	if (seqno > (uint64_t)INT64_MAX)
		return C360_ERR_INVALID;
	struct cursor_arg a = {bucket, name, seqno, C360_OK};
	c360_rc rc = store_submit(st, do_cursor_set, &a);
	return rc ? rc : a.result;
}
