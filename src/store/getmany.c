/* c360_store_get_many: many documents of one bucket in one read transaction
 * (one pooled reader connection, one bucket lookup, one cached statement),
 * for callers that read a batch of keys at once. */
#include "store/store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

static c360_rc read_one(c360_store *st, sqlite3_stmt *s, const char *key, size_t key_len,
			int64_t now, struct c360_doc *out)
{
	if (!store_valid_key(key, key_len))
		return key_len > C360_KEY_MAX ? C360_ERR_TOO_BIG : C360_ERR_INVALID;
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

c360_rc c360_store_get_many(c360_store *st, const char *bucket, const char *const *keys,
			    const size_t *key_lens, size_t n, struct c360_doc *out, c360_rc *rcs)
{
	memset(out, 0, n * sizeof *out);
	for (size_t i = 0; i < n; i++)
		rcs[i] = C360_ERR_NOT_FOUND;
	if (!bucket)
		return C360_ERR_INVALID;
	if (!n)
		return C360_OK;
	c360_rc rc;
	struct conn *c = store_reader(st, &rc);
	if (!c)
		return rc;
	/* one read transaction: one snapshot, one WAL read lock for all keys */
	bool in_txn = sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK;
	struct bucket_row row;
	rc = store_bucket_lookup(c, bucket, &row);
	if (!rc) {
		char sql[160];
		snprintf(sql, sizeof sql,
			 "SELECT value, cas, expiry, seqno FROM _b%lld WHERE key=?1 AND value IS NOT NULL",
			 (long long)row.id);
		sqlite3_stmt *s = store_stmt(c, sql);
		if (!s) {
			rc = C360_ERR_NOT_FOUND; /* dropped between the two statements */
		} else {
			int64_t now = store_now(st);
			for (size_t i = 0; i < n; i++)
				rcs[i] = read_one(st, s, keys[i], key_lens[i], now, &out[i]);
			sqlite3_reset(s);
		}
	}
	if (in_txn)
		sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
	store_reader_put(st, c);
	return rc;
}
