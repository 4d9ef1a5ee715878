/* Read-only SQL over buckets (c360_store_query).
 *
 * Each query gets its own connection opened SQLITE_OPEN_READONLY, with every
 * bucket visible as a TEMP VIEW named after the bucket (key, doc, cas,
 * expiry, seqno; live documents only, "now" fixed at the start of the query).
 * Then PRAGMA query_only is set and an authorizer allows only reading:
 * SELECT, reads of columns, functions and recursive CTEs. Everything else
 * (INSERT, UPDATE, DELETE, DROP, CREATE, ATTACH, PRAGMA, transactions, …) is
 * denied, so a write is refused three times over. Reads are allowed from the
 * bucket views and the JSON table functions only: not SQLite's schema tables
 * (they would list the store's internals), not the internal tables, not the
 * pragma table functions.
 *
 * Resources: a progress handler enforces the time limit between VM steps;
 * SQLITE_LIMIT_LENGTH bounds every string and blob, which also bounds the
 * time spent inside one function call (printf('%.*c', 900000000, 'x'),
 * zeroblob(1e9), hex(...) fail with "string or blob too big" before they
 * allocate); the answer is capped at the same size. SQLite's heap limit
 * (sqlite3_hard_heap_limit64) is not used: it is process-wide and would make
 * the store's writers fail under a large query. */
#include "store/store_int.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/json.h"
#include "core/banned.h"

/* The authorizer's state: what it may allow, and the first table it refused
 * (for the error message).
 *
 * Each bucket is two temp views: "<bucket>", the one users name, reads the
 * hidden view "<hidden><id>", which reads main._b<id>. The hidden prefix is
 * random per query, so only the hidden views can read the internal tables:
 * the authorizer tells a view from a CTE by name only (a CTE named like a
 * bucket would otherwise read its raw table, tombstones included). */
struct authz {
	bool no_system;
	bool schema_rowid; /* a table function is being registered (see below) */
	char hidden[40];   /* "c360_<16 hex>_" */
	char meta[64];     /* the system bucket's hidden view ("" = none) */
	char denied[C360_BUCKET_NAME_MAX + 32];
};

static int deny_read(struct authz *az, const char *table)
{
	if (!az->denied[0])
		snprintf(az->denied, sizeof az->denied, "%s", table ? table : "?");
	return SQLITE_DENY;
}

static bool is_schema_table(const char *t)
{
	return t && (!strcmp(t, "sqlite_master") || !strcmp(t, "sqlite_temp_master"));
}

static int authorizer(void *ctx, int action, const char *a1, const char *a2, const char *db,
		      const char *view)
{
	struct authz *az = ctx;
	switch (action) {
	case SQLITE_SELECT:
	case SQLITE_FUNCTION:
	case SQLITE_RECURSIVE:
		return SQLITE_OK;
	case SQLITE_UPDATE:
		/* table-valued functions (json_each, json_tree) register their
		 * schema through an internal UPDATE of sqlite_master, then read
		 * its ROWID; a user's UPDATE of it still fails on the read-only
		 * connection */
		if (is_schema_table(a1)) {
			az->schema_rowid = true;
			return SQLITE_OK;
		}
		return SQLITE_DENY;
	case SQLITE_PRAGMA: {
		/* pragma_table_list(), pragma_table_info(): the store's layout */
		char name[C360_BUCKET_NAME_MAX + 8];
		snprintf(name, sizeof name, "pragma_%s", a1 ? a1 : "?");
		return deny_read(az, name);
	}
	case SQLITE_READ: {
		if (!a1)
			return deny_read(az, a1);
		if (!strcmp(a1, "json_each") || !strcmp(a1, "json_tree"))
			return SQLITE_OK;
		if (az->schema_rowid && is_schema_table(a1) && a2 && !strcmp(a2, "ROWID")) {
			az->schema_rowid = false;
			return SQLITE_OK;
		}
		/* no schema: a read of no column (count(*), SELECT 1 FROM t)
		 * names the table as written, or a CTE's rows; the store's own
		 * tables all start with '_' or "sqlite_", bucket names never */
		if (!db) {
			if (a1[0] == '_' || !strncasecmp(a1, "sqlite_", 7) ||
			    (az->no_system && !strcasecmp(a1, C360_META_BUCKET)))
				return deny_read(az, a1);
			return SQLITE_OK;
		}
		/* with no_system, the system bucket however named: a view
		 * flattened into the query shows only its inner reads */
		if (az->no_system && az->meta[0] &&
		    ((view && !strcmp(view, az->meta)) || !strcmp(a1, az->meta)))
			return deny_read(az, C360_META_BUCKET);
		size_t hl = strlen(az->hidden);
		/* main._b<id> from the hidden view "<hidden><id>" only */
		if (!strcmp(db, "main") && view && !strncmp(view, az->hidden, hl) &&
		    !strncmp(a1, "_b", 2) && a1[2] && !strcmp(view + hl, a1 + 2))
			return SQLITE_OK;
		/* the temp schema holds the bucket views and the hidden views
		 * only (users cannot create anything; bucket names never start
		 * with "sqlite_") */
		if (!strcmp(db, "temp") && strncasecmp(a1, "sqlite_", 7)) {
			if (az->no_system && !strcasecmp(a1, C360_META_BUCKET))
				return deny_read(az, a1);
			return SQLITE_OK;
		}
		return deny_read(az, a1);
	}
	default:
		return SQLITE_DENY;
	}
}

/* The message for a read the authorizer refused. */
static void denied_msg(const struct authz *az, char *err, size_t errlen)
{
	if (!err || !errlen)
		return;
	if (!strcasecmp(az->denied, C360_META_BUCKET))
		snprintf(err, errlen, "refused: the system bucket '%s' needs admin access", az->denied);
	else
		snprintf(err, errlen,
			 "refused: table '%s' is not readable: queries read the bucket tables "
			 "(GET /api/v1/buckets, 'c360 bucket list') and json_each/json_tree only",
			 az->denied);
}

struct deadline {
	struct timespec end;
};

static int progress(void *ctx)
{
	struct deadline *d = ctx;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > d->end.tv_sec ||
	       (now.tv_sec == d->end.tv_sec && now.tv_nsec >= d->end.tv_nsec);
}

/* c360_value(value): the JSON text of a stored value (zstd frames are
 * decompressed). Used by the bucket views. */
static void fn_value(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	(void)argc;
	if (sqlite3_value_type(argv[0]) != SQLITE_BLOB) {
		sqlite3_result_value(ctx, argv[0]);
		return;
	}
	c360_store *st = sqlite3_user_data(ctx);
	char *text = NULL;
	size_t len = 0;
	c360_rc rc = store_z_decompress(st, sqlite3_value_blob(argv[0]),
					(size_t)sqlite3_value_bytes(argv[0]), &text, &len);
	if (rc) {
		sqlite3_result_error(ctx, "c360: damaged compressed value", -1);
		return;
	}
	sqlite3_result_text64(ctx, text, len, free, SQLITE_UTF8);
}

/* ---- built-ins that would do quadratic work inside one call ----
 *
 * SQLite checks the clock between VM steps, never inside a function. With
 * values of up to max_bytes, a few built-ins can run for hours in one call:
 * instr() and replace() compare the needle at every offset, trim(X, Y)
 * scans Y for every character of X. They are replaced on the query
 * connection by versions that do the same in linear time (memmem is
 * two-way in glibc) or refuse a long character set. LIKE and GLOB are
 * bounded by SQLITE_LIMIT_LIKE_PATTERN_LENGTH instead. */

#define TRIM_SET_MAX 256 /* bytes of trim()'s character set */

static size_t utf8_chars(const unsigned char *p, size_t n)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++)
		c += (p[i] & 0xc0) != 0x80;
	return c;
}

/* instr(X, Y): the 1-based position of the first Y in X, in bytes when both
 * are blobs, else in characters; 0 when absent. */
static void fn_instr(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	(void)argc;
	int t1 = sqlite3_value_type(argv[0]), t2 = sqlite3_value_type(argv[1]);
	if (t1 == SQLITE_NULL || t2 == SQLITE_NULL)
		return;
	bool bytes = t1 == SQLITE_BLOB && t2 == SQLITE_BLOB;
	const unsigned char *h = bytes ? sqlite3_value_blob(argv[0]) : sqlite3_value_text(argv[0]);
	size_t hn = (size_t)sqlite3_value_bytes(argv[0]);
	const unsigned char *nd = bytes ? sqlite3_value_blob(argv[1]) : sqlite3_value_text(argv[1]);
	size_t nn = (size_t)sqlite3_value_bytes(argv[1]);
	if (!nn) {
		sqlite3_result_int(ctx, 1);
		return;
	}
	if ((!h && hn) || !nd) {
		sqlite3_result_error_nomem(ctx);
		return;
	}
	const unsigned char *at = hn ? memmem(h, hn, nd, nn) : NULL;
	if (!at)
		sqlite3_result_int(ctx, 0);
	else
		sqlite3_result_int64(ctx, (sqlite3_int64)(bytes ? (size_t)(at - h)
							 : utf8_chars(h, (size_t)(at - h))) + 1);
}

/* The first y in [p, end), or NULL. memmem looks at windows that double
 * from a little more than y: the work stays linear in the bytes passed over
 * even when matches are many (one memmem over the whole rest per match
 * would not be, under AddressSanitizer's memmem, which checks the range it
 * is given). */
static const char *find(const char *p, const char *end, const char *y, size_t yn)
{
	size_t win = yn + 64;
	while ((size_t)(end - p) >= yn) {
		size_t n = (size_t)(end - p) < win ? (size_t)(end - p) : win;
		const char *m = memmem(p, n, y, yn);
		if (m || n == (size_t)(end - p))
			return m;
		p += n - yn + 1;
		win *= 2;
	}
	return NULL;
}

/* replace(X, Y, Z): X with every Y replaced by Z (X itself when Y is ''). */
static void fn_replace(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	(void)argc;
	const char *x = (const char *)sqlite3_value_text(argv[0]);
	if (!x)
		return;
	size_t xn = (size_t)sqlite3_value_bytes(argv[0]);
	const char *y = (const char *)sqlite3_value_text(argv[1]);
	if (!y)
		return;
	size_t yn = (size_t)sqlite3_value_bytes(argv[1]);
	if (!yn) {
		sqlite3_result_value(ctx, argv[0]);
		return;
	}
	const char *z = (const char *)sqlite3_value_text(argv[2]);
	if (!z)
		return;
	size_t zn = (size_t)sqlite3_value_bytes(argv[2]);
	size_t limit = (size_t)sqlite3_limit(sqlite3_context_db_handle(ctx), SQLITE_LIMIT_LENGTH, -1);
	struct c360_buf out;
	c360_buf_init(&out, limit);
	const char *p = x, *end = x + xn, *m;
	c360_rc rc = C360_OK;
	while (!rc && (m = find(p, end, y, yn))) {
		rc = c360_buf_append(&out, p, (size_t)(m - p));
		if (!rc)
			rc = c360_buf_append(&out, z, zn);
		p = m + yn;
	}
	if (!rc)
		rc = c360_buf_append(&out, p, (size_t)(end - p));
	if (rc) {
		c360_buf_release(&out);
		if (rc == C360_ERR_TOO_BIG)
			sqlite3_result_error_toobig(ctx);
		else
			sqlite3_result_error_nomem(ctx);
		return;
	}
	size_t len;
	char *text = c360_buf_detach(&out, &len);
	if (!text)
		sqlite3_result_error_nomem(ctx);
	else
		sqlite3_result_text64(ctx, text, len, free, SQLITE_UTF8);
}

/* trim()'s character set: one-byte characters in a table, the others in a
 * list (at most TRIM_SET_MAX bytes in all). */
struct trim_set {
	bool one[256];
	const unsigned char *multi[TRIM_SET_MAX];
	size_t multi_len[TRIM_SET_MAX], nmulti;
};

/* The length of the character of x at i (x has lim bytes) when it is in the
 * set, else 0. */
static size_t in_set(const struct trim_set *t, const unsigned char *x, size_t i, size_t lim)
{
	if (x[i] < 0x80 || !t->nmulti)
		return t->one[x[i]] ? 1 : 0;
	for (size_t j = 0; j < t->nmulti; j++)
		if (i + t->multi_len[j] <= lim && !memcmp(x + i, t->multi[j], t->multi_len[j]))
			return t->multi_len[j];
	return 0;
}

/* trim(X, Y), ltrim(X, Y), rtrim(X, Y): X without the characters of Y at
 * its start (user data 1), end (2) or both (3). */
static void fn_trim(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	(void)argc;
	const unsigned char *x = sqlite3_value_text(argv[0]);
	if (!x)
		return;
	size_t xn = (size_t)sqlite3_value_bytes(argv[0]);
	const unsigned char *y = sqlite3_value_text(argv[1]);
	if (!y)
		return;
	size_t yn = (size_t)sqlite3_value_bytes(argv[1]);
	if (yn > TRIM_SET_MAX) {
		char msg[120];
		snprintf(msg, sizeof msg, "trim(): the characters to remove exceed %d bytes (got %zu)",
			 TRIM_SET_MAX, yn);
		sqlite3_result_error(ctx, msg, -1);
		return;
	}
	struct trim_set t;
	memset(&t, 0, sizeof t);
	for (size_t i = 0; i < yn;) {
		size_t k = 1;
		while (i + k < yn && (y[i + k] & 0xc0) == 0x80)
			k++;
		if (k == 1) {
			t.one[y[i]] = true;
		} else {
			t.multi[t.nmulti] = y + i;
			t.multi_len[t.nmulti++] = k;
		}
		i += k;
	}
	int mode = (int)(intptr_t)sqlite3_user_data(ctx);
	size_t b = 0, e = xn, k;
	if (mode & 1)
		while (b < e && (k = in_set(&t, x, b, e)))
			b += k;
	if (mode & 2) {
		while (e > b) {
			size_t s = e - 1;
			while (s > b && (x[s] & 0xc0) == 0x80)
				s--;
			if (in_set(&t, x, s, e) != e - s)
				break;
			e = s;
		}
	}
	sqlite3_result_text64(ctx, (const char *)x + b, e - b, SQLITE_TRANSIENT, SQLITE_UTF8);
}

/* Installs the linear-time built-ins on a query connection. */
static void bounded_builtins(sqlite3 *db)
{
	int f = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;
	sqlite3_create_function(db, "instr", 2, f, NULL, fn_instr, NULL, NULL);
	sqlite3_create_function(db, "replace", 3, f, NULL, fn_replace, NULL, NULL);
	sqlite3_create_function(db, "ltrim", 2, f, (void *)(intptr_t)1, fn_trim, NULL, NULL);
	sqlite3_create_function(db, "rtrim", 2, f, (void *)(intptr_t)2, fn_trim, NULL, NULL);
	sqlite3_create_function(db, "trim", 2, f, (void *)(intptr_t)3, fn_trim, NULL, NULL);
	/* LIKE and GLOB work in pattern length x text length */
	sqlite3_limit(db, SQLITE_LIMIT_LIKE_PATTERN_LENGTH, 128);
}

static c360_rc make_views(c360_store *st, sqlite3 *db, struct authz *az, char *err,
			  size_t errlen)
{
	const char *hidden = az->hidden;
	sqlite3_stmt *s = NULL;
	struct c360_buf sql;
	c360_buf_init(&sql, 0);
	c360_rc rc = C360_OK;
	int src = sqlite3_prepare_v2(db, "SELECT id, name FROM _c360_buckets ORDER BY id", -1, &s,
				     NULL);
	if (src != SQLITE_OK) {
		rc = store_rc(src);
		goto out;
	}
	long long now = (long long)store_now(st);
	while ((src = sqlite3_step(s)) == SQLITE_ROW) {
		long long id = (long long)sqlite3_column_int64(s, 0);
		if (!strcmp((const char *)sqlite3_column_text(s, 1), C360_META_BUCKET))
			snprintf(az->meta, sizeof az->meta, "%s%lld", hidden, id);
		rc = c360_buf_printf(&sql,
				     "CREATE TEMP VIEW \"%s%lld\" AS SELECT key, c360_value(value) AS doc, cas,"
				     " expiry, seqno FROM main._b%lld WHERE value IS NOT NULL AND"
				     " (expiry = 0 OR expiry > %lld);"
				     "CREATE TEMP VIEW \"%s\" AS SELECT key, doc, cas, expiry, seqno"
				     " FROM temp.\"%s%lld\";",
				     hidden, id, id, now, (const char *)sqlite3_column_text(s, 1), hidden,
				     id);
		if (rc)
			goto out;
	}
	if (src != SQLITE_DONE) {
		rc = store_rc(src);
		goto out;
	}
	sqlite3_finalize(s);
	s = NULL;
	if (sql.len && (src = sqlite3_exec(db, sql.data, NULL, NULL, NULL)) != SQLITE_OK) {
		rc = store_rc(src);
		goto out;
	}
out:
	if (rc && err && errlen)
		snprintf(err, errlen, "cannot prepare the bucket views: %s", sqlite3_errmsg(db));
	sqlite3_finalize(s);
	c360_buf_release(&sql);
	return rc;
}

/* A JSON object or array stored as text is embedded as JSON. */
static c360_rc put_text(struct c360_buf *out, const char *t, size_t n)
{
	size_t i = 0;
	while (i < n && (t[i] == ' ' || t[i] == '\n' || t[i] == '\t' || t[i] == '\r'))
		i++;
	if (i < n && (t[i] == '{' || t[i] == '[') &&
	    c360_json_validate(t, n, NULL, NULL) == C360_OK)
		return c360_buf_append(out, t, n);
	return c360_json_write_string(t, n, out);
}

static c360_rc put_value(struct c360_buf *out, sqlite3_stmt *s, int i)
{
	switch (sqlite3_column_type(s, i)) {
	case SQLITE_INTEGER:
		return c360_buf_printf(out, "%lld", (long long)sqlite3_column_int64(s, i));
	case SQLITE_FLOAT: {
		double d = sqlite3_column_double(s, i);
		if (!isfinite(d))
			return c360_buf_puts(out, "null");
		/* the shortest of %.15g / %.17g that reads back as the same double */
		char num[40];
		snprintf(num, sizeof num, "%.15g", d);
		if (strtod(num, NULL) != d)
			snprintf(num, sizeof num, "%.17g", d);
		return c360_buf_puts(out, num);
	}
	case SQLITE_TEXT:
		return put_text(out, (const char *)sqlite3_column_text(s, i),
				(size_t)sqlite3_column_bytes(s, i));
	case SQLITE_BLOB: {
		/* blobs as lower-case hex strings, room checked against the cap first */
		static const char hex[] = "0123456789abcdef";
		const unsigned char *b = sqlite3_column_blob(s, i);
		size_t n = (size_t)sqlite3_column_bytes(s, i);
		c360_rc rc = c360_buf_reserve(out, 2 * n + 2);
		if (rc)
			return rc;
		char *o = out->data + out->len;
		*o++ = '"';
		for (size_t k = 0; k < n; k++) {
			*o++ = hex[b[k] >> 4];
			*o++ = hex[b[k] & 15];
		}
		*o++ = '"';
		out->len += 2 * n + 2;
		out->data[out->len] = '\0';
		return C360_OK;
	}
	default:
		return c360_buf_puts(out, "null");
	}
}

/* Whether sql starts with a statement keyword that writes (for a clear
 * "read-only" message when SQLite's own error would be about views). */
static bool starts_with_write(const char *sql)
{
	static const char *const kw[] = {"INSERT", "UPDATE", "DELETE", "REPLACE", "DROP",
					 "CREATE", "ALTER", "ATTACH", "DETACH", "PRAGMA",
					 "VACUUM", "REINDEX", "ANALYZE", "BEGIN", "COMMIT",
					 "END", "ROLLBACK", "SAVEPOINT", "RELEASE", "UPSERT"};
	while (*sql == ' ' || *sql == '\t' || *sql == '\n' || *sql == '\r' || *sql == '(')
		sql++;
	for (size_t i = 0; i < sizeof kw / sizeof *kw; i++) {
		size_t n = strlen(kw[i]);
		if (!strncasecmp(sql, kw[i], n) &&
		    !((sql[n] >= 'a' && sql[n] <= 'z') || (sql[n] >= 'A' && sql[n] <= 'Z') ||
		      (sql[n] >= '0' && sql[n] <= '9') || sql[n] == '_'))
			return true;
	}
	return false;
}

static bool only_space(const char *p)
{
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ';')
			p++;
		if (p[0] == '-' && p[1] == '-') {
			while (*p && *p != '\n')
				p++;
			continue;
		}
		if (p[0] == '/' && p[1] == '*') {
			const char *e = strstr(p + 2, "*/");
			if (!e)
				return true;
			p = e + 2;
			continue;
		}
		return *p == '\0';
	}
}

c360_rc c360_store_query(c360_store *st, const char *sql, const struct c360_query_opts *opts,
			 struct c360_buf *out, char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	if (!st || !sql || !out)
		return C360_ERR_INVALID;
	size_t max_rows = opts && opts->max_rows ? opts->max_rows : 1000;
	int timeout_ms = opts && opts->timeout_ms > 0 ? opts->timeout_ms : 10000;
	size_t max_bytes = opts && opts->max_bytes ? opts->max_bytes : C360_QUERY_MAX_BYTES;
	if (max_bytes > (1u << 30))
		max_bytes = 1u << 30; /* SQLite's own ceiling is about 1 GB */
	struct authz az = {.no_system = opts && opts->no_system};
	struct deadline dl;
	clock_gettime(CLOCK_MONOTONIC, &dl.end);
	dl.end.tv_sec += timeout_ms / 1000;
	dl.end.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (dl.end.tv_nsec >= 1000000000L) {
		dl.end.tv_sec++;
		dl.end.tv_nsec -= 1000000000L;
	}

	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	size_t start_len = out->len;
	/* the answer's cap: out's own, or max_bytes more than it holds now */
	size_t saved_max = out->max;
	bool capped = out->max - start_len > max_bytes;
	if (capped)
		out->max = start_len + max_bytes;
	c360_rc rc = C360_OK;
	int src = sqlite3_open_v2(st->path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (src != SQLITE_OK) {
		if (err && errlen)
			snprintf(err, errlen, "cannot open '%s': %s", st->path,
				 db ? sqlite3_errmsg(db) : sqlite3_errstr(src));
		rc = C360_ERR_IO;
		goto out;
	}
	sqlite3_busy_timeout(db, st->opts.busy_timeout_ms);
	/* one snapshot for the views and the query */
	if ((src = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL)) != SQLITE_OK) {
		rc = store_rc(src);
		goto out;
	}
	sqlite3_create_function(db, "c360_value", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS,
				st, fn_value, NULL, NULL);
	unsigned char rnd[8];
	sqlite3_randomness(sizeof rnd, rnd);
	snprintf(az.hidden, sizeof az.hidden, "c360_%02x%02x%02x%02x%02x%02x%02x%02x_", rnd[0], rnd[1],
		 rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	if ((rc = make_views(st, db, &az, err, errlen)))
		goto out;
	sqlite3_exec(db, "PRAGMA query_only=1", NULL, NULL, NULL);
	sqlite3_limit(db, SQLITE_LIMIT_LENGTH, (int)max_bytes);
	bounded_builtins(db);
	sqlite3_set_authorizer(db, authorizer, &az);
	sqlite3_progress_handler(db, 1000, progress, &dl);

	const char *tail = NULL;
	src = sqlite3_prepare_v2(db, sql, -1, &s, &tail);
	if (src != SQLITE_OK || !s) {
		if (src == SQLITE_AUTH && az.denied[0] && !starts_with_write(sql)) {
			rc = C360_ERR_DENIED;
			denied_msg(&az, err, errlen);
		} else if (src == SQLITE_AUTH ||
			   (src != SQLITE_INTERRUPT && src != SQLITE_TOOBIG && starts_with_write(sql))) {
			rc = C360_ERR_DENIED;
			if (err && errlen)
				snprintf(err, errlen, "refused: queries are read-only (%s)",
					 sqlite3_errmsg(db));
		} else if (src == SQLITE_TOOBIG) {
			rc = C360_ERR_LIMIT;
			if (err && errlen)
				snprintf(err, errlen, "the query text or a value in it exceeds %zu bytes",
					 max_bytes);
		} else if (src == SQLITE_INTERRUPT) {
			rc = C360_ERR_TIMEOUT;
			if (err && errlen)
				snprintf(err, errlen, "query took longer than %d ms", timeout_ms);
		} else {
			rc = s || src != SQLITE_OK ? C360_ERR_INVALID : C360_ERR_INVALID;
			if (err && errlen)
				snprintf(err, errlen, "%s",
					 src != SQLITE_OK ? sqlite3_errmsg(db) : "empty query");
		}
		goto out;
	}
	if (tail && !only_space(tail)) {
		rc = C360_ERR_INVALID;
		if (err && errlen)
			snprintf(err, errlen, "one statement per query, found more after '%.40s'", sql);
		goto out;
	}
	if (!sqlite3_stmt_readonly(s)) {
		rc = C360_ERR_DENIED;
		if (err && errlen)
			snprintf(err, errlen, "refused: queries are read-only");
		goto out;
	}
	int ncol = sqlite3_column_count(s);
	if ((rc = c360_buf_puts(out, "{\"columns\":[")))
		goto out;
	for (int i = 0; i < ncol; i++) {
		const char *name = sqlite3_column_name(s, i);
		if ((i && (rc = c360_buf_putc(out, ','))) ||
		    (rc = c360_json_write_string(name ? name : "", name ? strlen(name) : 0, out)))
			goto out;
	}
	if ((rc = c360_buf_puts(out, "],\"rows\":[")))
		goto out;
	size_t nrows = 0;
	bool truncated = false;
	while ((src = sqlite3_step(s)) == SQLITE_ROW) {
		if (nrows == max_rows) {
			truncated = true;
			break;
		}
		if ((nrows && (rc = c360_buf_putc(out, ','))) || (rc = c360_buf_putc(out, '[')))
			goto out;
		for (int i = 0; i < ncol; i++) {
			if ((i && (rc = c360_buf_putc(out, ','))) || (rc = put_value(out, s, i)))
				goto out;
		}
		if ((rc = c360_buf_putc(out, ']')))
			goto out;
		nrows++;
	}
	if (src != SQLITE_ROW && src != SQLITE_DONE) {
		if (src == SQLITE_INTERRUPT) {
			rc = C360_ERR_TIMEOUT;
			if (err && errlen)
				snprintf(err, errlen, "query took longer than %d ms", timeout_ms);
		} else if (src == SQLITE_TOOBIG) {
			rc = C360_ERR_LIMIT;
			if (err && errlen)
				snprintf(err, errlen,
					 "a string or blob would exceed %zu bytes (%s): "
					 "build smaller values",
					 max_bytes, sqlite3_errmsg(db));
		} else {
			rc = src == SQLITE_AUTH ? C360_ERR_DENIED : store_rc(src);
			if (rc == C360_ERR_INTERNAL)
				rc = C360_ERR_INVALID;
			if (err && errlen)
				snprintf(err, errlen, "%s", sqlite3_errmsg(db));
		}
		goto out;
	}
	rc = c360_buf_printf(out, "],\"truncated\":%s}", truncated ? "true" : "false");
out:
	if (rc) {
		/* leave out as it was */
		out->len = start_len;
		if (out->data)
			out->data[out->len] = '\0';
		if (rc == C360_ERR_TOO_BIG && err && errlen && !*err) {
			if (capped)
				snprintf(err, errlen,
					 "answer exceeds %zu bytes: select fewer rows or columns "
					 "(LIMIT, max_rows)",
					 max_bytes);
			else
				snprintf(err, errlen, "result larger than the output limit");
		}
	}
	out->max = saved_max;
	sqlite3_finalize(s);
	if (db) {
		sqlite3_progress_handler(db, 0, NULL, NULL);
		sqlite3_set_authorizer(db, NULL, NULL);
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	}
	sqlite3_close_v2(db);
	return rc;
}
