/* Read-only SQL over buckets (c360_store_query).
 *
 * Each query gets its own connection opened SQLITE_OPEN_READONLY, with every
 * bucket visible as a TEMP VIEW named after the bucket (key, doc, cas,
 * expiry, seqno; live documents only, "now" fixed at the start of the query).
 * Then PRAGMA query_only is set and an authorizer allows only reading:
 * SELECT, reads of columns, functions and recursive CTEs. Everything else
 * (INSERT, UPDATE, DELETE, DROP, CREATE, ATTACH, PRAGMA, transactions, …) is
 * denied, so a write is refused three times over. A progress handler
 * enforces the time limit. */
#include "store/store_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/json.h"
#include "core/banned.h"

static int authorizer(void *ctx, int action, const char *a1, const char *a2, const char *db,
		      const char *view)
{
	(void)ctx;
	(void)a2;
	(void)db;
	switch (action) {
	case SQLITE_SELECT:
	case SQLITE_FUNCTION:
	case SQLITE_RECURSIVE:
		return SQLITE_OK;
	case SQLITE_UPDATE:
		/* table-valued functions (json_each, json_tree) register their
		 * schema through an internal UPDATE of sqlite_master; a user's
		 * UPDATE of it still fails on the read-only connection */
		if (a1 && (!strcmp(a1, "sqlite_master") || !strcmp(a1, "sqlite_temp_master")))
			return SQLITE_OK;
		return SQLITE_DENY;
	case SQLITE_READ:
		/* the internal tables only through the bucket views */
		if (!view && a1 && a1[0] == '_')
			return SQLITE_DENY;
		return SQLITE_OK;
	default:
		return SQLITE_DENY;
	}
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

static c360_rc make_views(c360_store *st, sqlite3 *db, char *err, size_t errlen)
{
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
		rc = c360_buf_printf(&sql,
				     "CREATE TEMP VIEW \"%s\" AS SELECT key, c360_value(value) AS doc, cas, expiry,"
				     " seqno FROM main._b%lld WHERE value IS NOT NULL AND"
				     " (expiry = 0 OR expiry > %lld);",
				     (const char *)sqlite3_column_text(s, 1),
				     (long long)sqlite3_column_int64(s, 0), now);
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
		/* blobs as lower-case hex strings */
		const unsigned char *b = sqlite3_column_blob(s, i);
		size_t n = (size_t)sqlite3_column_bytes(s, i);
		c360_rc rc = c360_buf_putc(out, '"');
		for (size_t k = 0; !rc && k < n; k++)
			rc = c360_buf_printf(out, "%02x", b[k]);
		return rc ? rc : c360_buf_putc(out, '"');
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
	if ((rc = make_views(st, db, err, errlen)))
		goto out;
	sqlite3_exec(db, "PRAGMA query_only=1", NULL, NULL, NULL);
	sqlite3_set_authorizer(db, authorizer, NULL);
	sqlite3_progress_handler(db, 1000, progress, &dl);

	const char *tail = NULL;
	src = sqlite3_prepare_v2(db, sql, -1, &s, &tail);
	if (src != SQLITE_OK || !s) {
		if (src == SQLITE_AUTH || (src != SQLITE_INTERRUPT && starts_with_write(sql))) {
			rc = C360_ERR_DENIED;
			if (err && errlen)
				snprintf(err, errlen, "refused: queries are read-only (%s)",
					 sqlite3_errmsg(db));
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
		if (rc == C360_ERR_TOO_BIG && err && errlen && !*err)
			snprintf(err, errlen, "result larger than the output limit");
	}
	sqlite3_finalize(s);
	if (db) {
		sqlite3_progress_handler(db, 0, NULL, NULL);
		sqlite3_set_authorizer(db, NULL, NULL);
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	}
	sqlite3_close_v2(db);
	return rc;
}
