/* Writers on one store file through separate handles (as separate processes
 * have): one that must wait for another's write lock gets its turn instead
 * of failing with "database is locked" (issue 24: three `c360 import` runs
 * on one store, one failed in 2 of 3 tries). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"
#include "test.h"
#include "core/banned.h"

#define HOG_ROWS 4000
#define WAITER_WRITES 25
#define NWAITERS 2

static char path[256];
static atomic_int waiters_done;
static atomic_int hog_commits;

static c360_store *open_handle(int wait_ms)
{
	struct c360_store_opts o;
	c360_store_opts_init(&o);
	o.synchronous = C360_SYNC_OFF; /* the transactions' length is CPU, not disk */
	o.busy_timeout_ms = wait_ms;
	o.write_wait_ms = wait_ms;
	o.sweep_interval_ms = -1;
	c360_store *st = NULL;
	char err[256];
	if (c360_store_open(path, &o, &st, err, sizeof err)) {
		printf("  cannot open '%s': %s\n", path, err);
		return NULL;
	}
	return st;
}

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Rewrites HOG_ROWS documents per transaction, back to back, until the
 * waiters are done (at most 60 s): the write lock is almost never free. */
static void *hog(void *arg)
{
	c360_store *st = arg;
	struct c360_write *ops = calloc(HOG_ROWS, sizeof *ops);
	char (*keys)[16] = calloc(HOG_ROWS, sizeof *keys);
	static const char value[] = "{\"name\":\"a value long enough to take the writer some time\"}";
	uint64_t round = 0;
	double t0 = mono_s();
	while (atomic_load(&waiters_done) < NWAITERS && mono_s() - t0 < 60) {
		for (int i = 0; i < HOG_ROWS; i++) {
			snprintf(keys[i], sizeof keys[i], "k%d", i);
			memset(&ops[i], 0, sizeof ops[i]);
			ops[i].type = C360_WRITE_UPSERT;
			ops[i].bucket = "hog";
			ops[i].key = keys[i];
			ops[i].key_len = strlen(keys[i]);
			ops[i].value = value;
			ops[i].value_len = sizeof value - 1;
		}
		if (c360_store_write(st, ops, HOG_ROWS) == C360_OK)
			atomic_fetch_add(&hog_commits, 1);
		round++;
	}
	free(ops);
	free(keys);
	return NULL;
}

struct waiter {
	c360_store *st;
	int ok, busy;
};

static void *waiter(void *arg)
{
	struct waiter *w = arg;
	for (int i = 0; i < WAITER_WRITES; i++) {
		char key[32];
		snprintf(key, sizeof key, "w%p-%d", (void *)w, i);
		c360_rc rc = c360_store_upsert(w->st, "small", key, strlen(key), "{\"n\":1}", 7, 0, NULL);
		if (rc == C360_OK)
			w->ok++;
		else if (rc == C360_ERR_BUSY)
			w->busy++;
		struct timespec ts = {0, 5000000L};
		nanosleep(&ts, NULL);
	}
	atomic_fetch_add(&waiters_done, 1);
	return NULL;
}

TEST(waiting_writers_get_their_turn)
{
	c360_store *a = open_handle(3000);
	REQUIRE(a);
	REQUIRE(c360_store_bucket_ensure(a, "hog", 0) == C360_OK);
	REQUIRE(c360_store_bucket_ensure(a, "small", 0) == C360_OK);
	pthread_t th;
	REQUIRE(pthread_create(&th, NULL, hog, a) == 0);
	/* the waiters start once the hog writes: every write of theirs meets it */
	while (atomic_load(&hog_commits) < 1) {
		struct timespec ts = {0, 1000000L};
		nanosleep(&ts, NULL);
	}
	/* each waiter gives up after 3 s: far longer than one hog transaction,
	 * far shorter than the hog's run without them */
	struct waiter w[NWAITERS];
	pthread_t wt[NWAITERS];
	for (int i = 0; i < NWAITERS; i++) {
		memset(&w[i], 0, sizeof w[i]);
		w[i].st = open_handle(3000);
		REQUIRE(w[i].st);
		REQUIRE(pthread_create(&wt[i], NULL, waiter, &w[i]) == 0);
	}
	for (int i = 0; i < NWAITERS; i++)
		pthread_join(wt[i], NULL);
	pthread_join(th, NULL);
	for (int i = 0; i < NWAITERS; i++) {
		CHECK_EQ_INT(w[i].busy, 0);
		CHECK_EQ_INT(w[i].ok, WAITER_WRITES);
		c360_store_close(w[i].st);
	}
	struct c360_bucket_info bi;
	REQUIRE(c360_store_bucket_info(a, "small", &bi) == C360_OK);
	CHECK_EQ_INT(bi.count, NWAITERS * WAITER_WRITES);
	CHECK(atomic_load(&hog_commits) >= 2);
	printf("  hog: %d transactions of %d rows meanwhile\n", atomic_load(&hog_commits), HOG_ROWS);
	c360_store_close(a);
}

int main(void)
{
	char tmpl[] = "/tmp/c360-contention-XXXXXX";
	if (!mkdtemp(tmpl))
		return 1;
	snprintf(path, sizeof path, "%s/c360.db", tmpl);
	RUN(waiting_writers_get_their_turn);
	char cmd[512];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpl);
	if (system(cmd) != 0)
		printf("cannot remove '%s'\n", tmpl);
	return test_summary();
}
