/* c360_store_get_many: many documents of one bucket in one read transaction
 * (one pooled reader connection, one bucket lookup, one cached statement),
 * for callers that read a batch of keys at once. */
#include "store/store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

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
			for (size_t i = 0; i < n; i++) {
				if (!store_valid_key(keys[i], key_lens[i]))
					rcs[i] = key_lens[i] > C360_KEY_MAX ? C360_ERR_TOO_BIG
									   : C360_ERR_INVALID;
				else
					rcs[i] = store_read_doc(st, s, keys[i], key_lens[i], now,
								&out[i]);
			}
			sqlite3_reset(s);
		}
	}
	if (in_txn)
		sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
	store_reader_put(st, c);
	return rc;
}
