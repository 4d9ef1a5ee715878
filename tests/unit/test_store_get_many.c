/* c360_store_get_many (src/store/getmany.c): the documents of many keys of
 * one bucket in one read transaction, each as c360_store_get() reads it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"
#include "test.h"
#include "core/banned.h"

static char tmpdir[256];

static int64_t fake_now = 1800000000;
static int64_t fake_clock(void *ctx)
{
	(void)ctx;
	return fake_now;
}

TEST(many_keys_as_get_reads_them)
{
	char path[300];
	snprintf(path, sizeof path, "%s/many.db", tmpdir);
	struct c360_store_opts o;
	c360_store_opts_init(&o);
	o.synchronous = C360_SYNC_OFF;
	o.sweep_interval_ms = -1;
	c360_store *st = NULL;
	char err[256];
	REQUIRE(c360_store_open(path, &o, &st, err, sizeof err) == C360_OK);
	c360_store_set_clock(st, fake_clock, NULL);
	REQUIRE(c360_store_bucket_ensure(st, "b", 0) == C360_OK);
	/* a small value, a compressed one, one that expires, one deleted */
	char big[2048];
	int n = snprintf(big, sizeof big, "{\"text\":\"");
	while (n < 1500)
		n += snprintf(big + n, sizeof big - (size_t)n, "abcabcabc ");
	snprintf(big + n, sizeof big - (size_t)n, "\"}");
	REQUIRE(c360_store_upsert(st, "b", "small", 5, "{\"a\":1}", 7, 0, NULL) == C360_OK);
	REQUIRE(c360_store_upsert(st, "b", "big", 3, big, strlen(big), 0, NULL) == C360_OK);
	REQUIRE(c360_store_upsert(st, "b", "soon", 4, "{\"t\":1}", 7, 10, NULL) == C360_OK);
	REQUIRE(c360_store_upsert(st, "b", "gone", 4, "{}", 2, 0, NULL) == C360_OK);
	REQUIRE(c360_store_delete(st, "b", "gone", 4, 0) == C360_OK);
	fake_now += 60; /* "soon" has expired */

	const char *keys[] = {"big", "missing", "small", "soon", "gone", "", "small"};
	size_t lens[7];
	for (int i = 0; i < 7; i++)
		lens[i] = strlen(keys[i]);
	struct c360_doc docs[7];
	c360_rc rcs[7];
	REQUIRE(c360_store_get_many(st, "b", keys, lens, 7, docs, rcs) == C360_OK);
	CHECK_EQ_INT(rcs[0], C360_OK);
	CHECK_EQ_STR(docs[0].value, big);
	CHECK_EQ_INT(rcs[1], C360_ERR_NOT_FOUND);
	CHECK_EQ_INT(rcs[2], C360_OK);
	CHECK_EQ_STR(docs[2].value, "{\"a\":1}");
	CHECK_EQ_STR(docs[2].key, "small");
	CHECK_EQ_INT(rcs[3], C360_ERR_NOT_FOUND);
	CHECK_EQ_INT(rcs[4], C360_ERR_NOT_FOUND);
	CHECK_EQ_INT(rcs[5], C360_ERR_INVALID);
	CHECK_EQ_INT(rcs[6], C360_OK); /* the same key twice */
	/* the same fields as c360_store_get */
	for (int i = 0; i < 7; i += 2) {
		if (rcs[i])
			continue;
		struct c360_doc one;
		REQUIRE(c360_store_get(st, "b", keys[i], lens[i], &one) == C360_OK);
		CHECK(one.cas == docs[i].cas && one.seqno == docs[i].seqno &&
		      one.expiry == docs[i].expiry && one.value_len == docs[i].value_len &&
		      one.key_len == docs[i].key_len);
		c360_doc_release(&one);
	}
	for (int i = 0; i < 7; i++)
		c360_doc_release(&docs[i]);

	/* no such bucket: an error, every key not found */
	CHECK(c360_store_get_many(st, "nope", keys, lens, 2, docs, rcs) == C360_ERR_NOT_FOUND);
	CHECK(rcs[0] == C360_ERR_NOT_FOUND && rcs[1] == C360_ERR_NOT_FOUND);
	CHECK(docs[0].value == NULL);
	/* nothing asked */
	CHECK(c360_store_get_many(st, "b", keys, lens, 0, docs, rcs) == C360_OK);
	c360_store_close(st);
	unlink(path);
	char aux[320];
	snprintf(aux, sizeof aux, "%s-wal", path);
	unlink(aux);
	snprintf(aux, sizeof aux, "%s-shm", path);
	unlink(aux);
}

int main(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/c360-test-getmany-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(many_keys_as_get_reads_them);
	rmdir(tmpdir);
	return test_summary();
}
