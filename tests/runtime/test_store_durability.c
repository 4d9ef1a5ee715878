/* Durability of acknowledged writes: a child process writes documents from
 * several threads (group commit) and reports each acknowledged key on a
 * pipe; it is killed with SIGKILL mid-stream; every key it acknowledged must
 * be in the store after reopening, with the value it was given. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"
#include "test.h"
#include "core/banned.h"

static char tmpdir[256], path[320];

struct child_thr {
	c360_store *st;
	int fd;
	int id;
};

static void *child_writer(void *arg)
{
	struct child_thr *t = arg;
	for (int i = 0;; i++) {
		char key[32], val[96], line[40];
		snprintf(key, sizeof key, "t%d-%d", t->id, i);
		snprintf(val, sizeof val, "{\"thread\":%d,\"i\":%d,\"pad\":\"%040d\"}", t->id, i, i);
		/* a batch every 8th write, to cover both paths */
		if (i % 8 == 0) {
			struct c360_write w[2] = {
				{.type = C360_WRITE_UPSERT, .bucket = "b", .key = key,
				 .key_len = strlen(key), .value = val, .value_len = strlen(val)},
				{.type = C360_WRITE_UPSERT, .bucket = "b", .key = "shared", .key_len = 6,
				 .value = val, .value_len = strlen(val)},
			};
			if (c360_store_write(t->st, w, 2) || w[0].rc)
				_exit(3);
		} else if (c360_store_upsert(t->st, "b", key, strlen(key), val, strlen(val), 0, NULL)) {
			_exit(3);
		}
		int n = snprintf(line, sizeof line, "%s\n", key);
		if (write(t->fd, line, (size_t)n) != n)
			_exit(4);
	}
	return NULL;
}

static void child(int fd)
{
	struct c360_store_opts o;
	c360_store_opts_init(&o); /* synchronous=FULL, the default */
	c360_store *st = NULL;
	if (c360_store_open(path, &o, &st, NULL, 0))
		_exit(2);
	pthread_t th[4];
	struct child_thr t[4];
	for (int i = 0; i < 4; i++) {
		t[i] = (struct child_thr){st, fd, i};
		pthread_create(&th[i], NULL, child_writer, &t[i]);
	}
	for (;;)
		pause();
}

TEST(acked_writes_survive_sigkill)
{
	/* set up the store in the parent, then close it before forking */
	c360_store *st = NULL;
	REQUIRE(c360_store_open(path, NULL, &st, NULL, 0) == C360_OK);
	REQUIRE(c360_store_bucket_create(st, "b", 0, NULL, 0) == C360_OK);
	c360_store_close(st);

	int p[2];
	REQUIRE(pipe(p) == 0);
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		child(p[1]);
		_exit(0);
	}
	close(p[1]);
	/* read acks until enough arrived or 1.5 s passed, then kill mid-stream */
	size_t cap = 1 << 16, n = 0;
	char **keys = calloc(cap, sizeof *keys);
	REQUIRE(keys);
	char buf[8192], part[64];
	size_t partlen = 0;
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	bool killed = false;
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		double el = (double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9;
		if (!killed && (n >= 2000 || el > 1.5)) {
			kill(pid, SIGKILL);
			killed = true;
		}
		ssize_t r = read(p[0], buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		for (ssize_t i = 0; i < r; i++) {
			if (buf[i] != '\n') {
				if (partlen < sizeof part - 1)
					part[partlen++] = buf[i];
				continue;
			}
			part[partlen] = '\0';
			partlen = 0;
			if (n < cap)
				keys[n++] = strdup(part);
		}
	}
	close(p[0]);
	int status = 0;
	waitpid(pid, &status, 0);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	printf("  %zu acknowledged writes before SIGKILL\n", n);
	CHECK(n > 0);

	REQUIRE(c360_store_open(path, NULL, &st, NULL, 0) == C360_OK);
	size_t missing = 0;
	for (size_t i = 0; i < n; i++) {
		struct c360_doc d;
		if (c360_store_get(st, "b", keys[i], strlen(keys[i]), &d) != C360_OK) {
			if (missing++ < 5)
				printf("  acknowledged key '%s' is missing\n", keys[i]);
			continue;
		}
		int thread = -1, idx = -1;
		sscanf(keys[i], "t%d-%d", &thread, &idx);
		char want[64];
		snprintf(want, sizeof want, "{\"thread\":%d,\"i\":%d,", thread, idx);
		CHECK(strncmp(d.value, want, strlen(want)) == 0);
		c360_doc_release(&d);
	}
	CHECK_EQ_INT(missing, 0);
	/* the feed is consistent with the documents: one event per live key */
	struct c360_bucket_info info;
	REQUIRE(c360_store_bucket_info(st, "b", &info) == C360_OK);
	CHECK(info.count >= n);
	CHECK(info.high_seqno >= info.count);
	/* and the store still takes writes */
	CHECK(c360_store_upsert(st, "b", "after", 5, "1", 1, 0, NULL) == C360_OK);
	c360_store_close(st);
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
}

int main(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/c360-test-durability-XXXXXX");
	if (!mkdtemp(tmpdir))
		return 1;
	snprintf(path, sizeof path, "%s/store.db", tmpdir);
	RUN(acked_writes_survive_sigkill);
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		printf("could not remove %s\n", tmpdir);
	return test_summary();
}
