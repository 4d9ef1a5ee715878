/* A write that fails under the store (here: the file-size limit, EFBIG, in
 * the middle of a large synchronous=FULL transaction, where the writer's
 * WAL writes are gathered in a buffer, src/store/walbuf.c) fails the whole
 * batch: nothing of it is acknowledged or visible, what was committed before
 * stays, and the file opens again intact. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"
#include "test.h"
#include "core/banned.h"

static char tmpdir[256];

static off_t file_size(const char *path)
{
	struct stat sb;
	return stat(path, &sb) ? 0 : sb.st_size;
}

static c360_rc write_batch(c360_store *st, int first, int n, const char *value)
{
	struct c360_write *ops = calloc((size_t)n, sizeof *ops);
	char(*keys)[32] = calloc((size_t)n, sizeof *keys);
	if (!ops || !keys) {
		free(ops);
		free(keys);
		return C360_ERR_NOMEM;
	}
	for (int i = 0; i < n; i++) {
		snprintf(keys[i], sizeof keys[i], "k%06d", first + i);
		ops[i] = (struct c360_write){.type = C360_WRITE_UPSERT, .bucket = "b", .key = keys[i],
					     .key_len = strlen(keys[i]), .value = value,
					     .value_len = strlen(value)};
	}
	c360_rc rc = c360_store_write(st, ops, (size_t)n);
	for (int i = 0; !rc && i < n; i++)
		if (ops[i].rc)
			rc = ops[i].rc;
	free(ops);
	free(keys);
	return rc;
}

TEST(a_failed_write_loses_nothing_committed_and_shows_nothing_uncommitted)
{
	char path[300], wal[320];
	snprintf(path, sizeof path, "%s/fail.db", tmpdir);
	snprintf(wal, sizeof wal, "%s-wal", path);
	/* values that zstd cannot shrink much: a pseudo-random hex text */
	static char value[4200];
	unsigned x = 12345;
	size_t n = (size_t)snprintf(value, sizeof value, "{\"v\":\"");
	while (n < 4000) {
		x = x * 1103515245u + 12345u;
		value[n++] = "0123456789abcdef"[(x >> 16) & 15];
	}
	snprintf(value + n, sizeof value - n, "\"}");

	struct c360_store_opts o;
	c360_store_opts_init(&o);
	o.synchronous = C360_SYNC_FULL;
	o.sweep_interval_ms = -1;
	o.zdict_samples = -1; /* one value repeated: a dictionary would shrink it to nothing */
	c360_store *st = NULL;
	char err[256];
	REQUIRE(c360_store_open(path, &o, &st, err, sizeof err) == C360_OK);
	REQUIRE(c360_store_bucket_ensure(st, "b", 0) == C360_OK);
	REQUIRE(write_batch(st, 0, 100, value) == C360_OK);

	/* the next batch (about 8 MB) cannot fit under the limit */
	signal(SIGXFSZ, SIG_IGN);
	struct rlimit old, lim;
	REQUIRE(getrlimit(RLIMIT_FSIZE, &old) == 0);
	off_t big = file_size(path) > file_size(wal) ? file_size(path) : file_size(wal);
	lim = old;
	lim.rlim_cur = (rlim_t)big + (1u << 20);
	REQUIRE(setrlimit(RLIMIT_FSIZE, &lim) == 0);
	c360_rc rc = write_batch(st, 100, 2000, value);
	REQUIRE(setrlimit(RLIMIT_FSIZE, &old) == 0);
	CHECK(rc != C360_OK);
	struct c360_doc d = {0};
	CHECK(c360_store_get(st, "b", "k000150", 7, &d) == C360_ERR_NOT_FOUND);
	c360_doc_release(&d);
	c360_store_close(st);

	/* opened again: what was committed, none of the failed batch, writable */
	st = NULL;
	REQUIRE(c360_store_open(path, &o, &st, err, sizeof err) == C360_OK);
	struct c360_bucket_info bi;
	REQUIRE(c360_store_bucket_info(st, "b", &bi) == C360_OK);
	CHECK_EQ_INT(bi.count, 100);
	for (int i = 0; i < 100; i += 33) {
		char key[16];
		snprintf(key, sizeof key, "k%06d", i);
		CHECK(c360_store_get(st, "b", key, strlen(key), &d) == C360_OK);
		CHECK(d.value && !strcmp(d.value, value));
		c360_doc_release(&d);
	}
	CHECK(c360_store_get(st, "b", "k000100", 7, &d) == C360_ERR_NOT_FOUND);
	CHECK(c360_store_get(st, "b", "k002099", 7, &d) == C360_ERR_NOT_FOUND);
	CHECK(write_batch(st, 100, 50, value) == C360_OK);
	REQUIRE(c360_store_bucket_info(st, "b", &bi) == C360_OK);
	CHECK_EQ_INT(bi.count, 150);
	c360_store_close(st);
	unlink(path);
	unlink(wal);
	snprintf(wal, sizeof wal, "%s-shm", path);
	unlink(wal);
}

int main(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/c360-test-wfail-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(a_failed_write_loses_nothing_committed_and_shows_nothing_uncommitted);
	rmdir(tmpdir);
	return test_summary();
}
