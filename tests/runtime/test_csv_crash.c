/* Crash safety of the CSV import: `c360 cbimport csv` is killed with
 * SIGKILL in the middle of an import, then run again on the same file; the
 * bucket must hold every row exactly once with its right content, for
 * deterministic keys (%id%) and for #MONO_INCR# (which restarts at 1 and so
 * rewrites the same keys). Also `c360 import`: a killed import leaves no
 * completion record, so the next run imports the file. */
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

#define ROWS 200000

static char dir[256], csv[300], storep[300];
static const char *bin;

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static pid_t spawn(char *const argv[])
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
			_exit(127);
		setenv("C360_STORE", storep, 1);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static uint64_t bucket_count(const char *bucket, uint64_t *seqno)
{
	struct c360_store_opts so;
	c360_store_opts_init(&so);
	so.sweep_interval_ms = -1;
	c360_store *st = NULL;
	struct c360_bucket_info bi;
	memset(&bi, 0, sizeof bi);
	if (c360_store_open(storep, &so, &st, NULL, 0) == C360_OK) {
		c360_store_bucket_info(st, bucket, &bi);
		c360_store_close(st);
	}
	if (seqno)
		*seqno = bi.high_seqno;
	return bi.count;
}

/* Runs argv, kills it with SIGKILL once the bucket has some rows; returns
 * true if it really died mid-way. */
static bool run_and_kill(char *const argv[], const char *bucket)
{
	pid_t pid = spawn(argv);
	if (pid < 0)
		return false;
	int status = 0;
	for (int i = 0; i < 6000; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return false; /* finished before we could kill it */
		uint64_t seq = 0;
		bucket_count(bucket, &seq);
		if (seq > 0 && seq < ROWS)
			break;
		sleep_ms(2);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return WIFSIGNALED(status);
}

static int run(char *const argv[])
{
	pid_t pid = spawn(argv);
	int status = 0;
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static bool check_doc(const char *bucket, const char *key, int id)
{
	struct c360_store_opts so;
	c360_store_opts_init(&so);
	so.sweep_interval_ms = -1;
	c360_store *st = NULL;
	if (c360_store_open(storep, &so, &st, NULL, 0))
		return false;
	struct c360_doc d;
	memset(&d, 0, sizeof d);
	char want[200];
	snprintf(want, sizeof want, "{\"id\":\"%d\",\"name\":\"member %d\",\"points\":\"%d\"}", id, id, id % 1000);
	bool ok = c360_store_get(st, bucket, key, strlen(key), &d) == C360_OK && !strcmp(d.value, want);
	if (!ok)
		printf("  %s: got %s, want %s\n", key, d.value ? d.value : "(none)", want);
	c360_doc_release(&d);
	c360_store_close(st);
	return ok;
}

static void crash_and_rerun(const char *bucket, const char *keyexpr, const char *keyfmt)
{
	char dataset[320];
	snprintf(dataset, sizeof dataset, "file://%s", csv);
	char *argv[] = {(char *)bin, "cbimport", "csv", "-c", "couchbase://127.0.0.1", "-u", "Administrator",
			"-p", "password", "-b", (char *)bucket, "-d", dataset, "-g", (char *)keyexpr,
			"-t", "2", "--create-bucket", NULL};
	bool killed = run_and_kill(argv, bucket);
	uint64_t partial = bucket_count(bucket, NULL);
	printf("  %s: killed=%d with %llu of %d rows committed\n", bucket, killed,
	       (unsigned long long)partial, ROWS);
	CHECK(killed);
	CHECK(partial < ROWS);
	CHECK_EQ_INT(run(argv), 0);
	CHECK_EQ_INT(bucket_count(bucket, NULL), ROWS);
	int ids[] = {1, 2, ROWS / 2, ROWS - 1, ROWS};
	for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) {
		char key[64];
		snprintf(key, sizeof key, keyfmt, ids[i]);
		CHECK(check_doc(bucket, key, ids[i]));
	}
}

TEST(kill9_then_rerun_field_key) { crash_and_rerun("crash_id", "member::%id%", "member::%d"); }

TEST(kill9_then_rerun_mono_incr) { crash_and_rerun("crash_mono", "key::#MONO_INCR#", "key::%d"); }

TEST(kill9_tracked_import_not_recorded)
{
	char *argv[] = {(char *)bin, "import", "-b", "tracked", "-g", "m::%id%", "--create-bucket", csv, NULL};
	bool killed = run_and_kill(argv, "tracked");
	CHECK(killed);
	/* not recorded: the next run imports (exit 0) and the count is complete */
	CHECK_EQ_INT(run(argv), 0);
	CHECK_EQ_INT(bucket_count("tracked", NULL), ROWS);
	uint64_t seq1 = 0, seq2 = 0;
	bucket_count("tracked", &seq1);
	CHECK_EQ_INT(run(argv), 0); /* now a no-op */
	bucket_count("tracked", &seq2);
	CHECK_EQ_INT(seq2, seq1);
}

int main(void)
{
	bin = getenv("C360_BIN");
	if (!bin) {
		printf("C360_BIN not set: skipped\n");
		return 0;
	}
	snprintf(dir, sizeof dir, "/tmp/c360-crash-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	snprintf(csv, sizeof csv, "%s/loyalty.csv", dir);
	snprintf(storep, sizeof storep, "%s/c360.db", dir);
	FILE *f = fopen(csv, "w");
	fputs("id,name,points\n", f);
	for (int i = 1; i <= ROWS; i++)
		fprintf(f, "%d,member %d,%d\n", i, i, i % 1000);
	fclose(f);
	RUN(kill9_then_rerun_field_key);
	RUN(kill9_then_rerun_mono_incr);
	RUN(kill9_tracked_import_not_recorded);
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("cannot clean %s\n", dir);
	return test_summary();
}
