/* Eventing: JavaScript handlers that run away inside built-ins (join, regexp
 * backtracking, string doubling) are stopped at their timeout or heap limit,
 * counted, their writes dropped, and a stop request ends a runaway call. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "core/json.h"
#include "eventing/eventing.h"
#include "runtime/eventing_test.h"
#include "test.h"
#include "core/banned.h"

/* Upper bound for one stopped call (timeout 1 s + the time to unwind and
 * rebuild the heap), generous for a loaded 2-core machine and sanitizers;
 * before the fix these cases ran 7 s to forever. */
#define STOP_BOUND_S 20.0

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Deploys code as name on the RW buckets with settings. */
static int deploy_code(const char *name, const char *code, const char *settings)
{
	char err[512] = "";
	char *json = mkdef(name, code, RW, settings);
	int rc = deploy_json(json, err, sizeof err);
	if (rc)
		printf("  deploy %s: %s\n", name, err);
	free(json);
	return rc;
}

/* run_until_idle, and the seconds it took. */
static int run(const char *name, const volatile int *stop, struct c360_fn_stats *out, double *secs)
{
	double t0 = now_s();
	int rc = run_until_idle(name, stop, out);
	if (secs)
		*secs = now_s() - t0;
	return rc;
}

/* The function's application log (malloc'd, "" when none). */
static char *applog(const char *name)
{
	char path[4096];
	struct c360_buf b;
	c360_buf_init(&b, 0);
	c360_buf_puts(&b, "");
	if (!c360_fn_app_log_path(st, name, path, sizeof path))
		c360_buf_read_file(&b, path);
	return c360_buf_detach(&b, NULL);
}

/* Every handler writes "started" first and "done" last: a stopped call must
 * leave neither. Record "a" runs the case, record "b" (after it) is plain. */
static const char *HANDLER_FMT =
	"function OnUpdate(doc, meta) {\n"
	"  dst[meta.id] = 'started';\n"
	"  if (doc.run) { %s }\n"
	"  dst[meta.id] = 'done';\n"
	"}\n";

struct runaway {
	const char *name, *code;
	int heap; /* stopped by the heap limit, not the timeout */
};

static const struct runaway cases[] = {
	/* the cases: 40 joins of a million ("7.3 s, 0 timed out, write
	 * committed"; 400 here so it outlasts the 1 s timeout on any machine) */
	{"join", "for (var i = 0; i < 400; i++) new Array(1000000).join('x');", 0},
	/* pushing such strings ("over 20 minutes, logged nothing") */
	{"push", "var a = []; while (true) a.push(new Array(1000000).join('x'));", 0},
	/* catastrophic backtracking ("12.4 s, counted as a failure") */
	{"regexp", "/(a+)+$/.test(new Array(40).join('a') + 'b');", 0},
	/* a handler catching the errors of a stopped call does not get away */
	{"caught", "for (;;) { try { new Array(1000000).join('x'); } catch (e) {} }", 0},
	/* plain bytecode, as before */
	{"spin", "while (true) {}", 0},
	/* s = s + s ("reached 2.6 GB"): stopped by the 32 MiB heap limit */
	{"double", "var s = 'x'; while (true) s = s + s;", 1},
};

TEST(runaway_built_ins_are_stopped_counted_and_rolled_back)
{
	open_store("dst", "rob", NULL);
	put("src", "a", "{\"run\":true}");
	put("src", "b", "{}");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct runaway *c = &cases[i];
		char code[1024], name[64], settings[128];
		snprintf(code, sizeof code, HANDLER_FMT, c->code);
		snprintf(name, sizeof name, "runaway-%s", c->name);
		snprintf(settings, sizeof settings, "\"execution_timeout_ms\":1000,\"heap_limit_mb\":32");
		c360_store_delete(st, "dst", "a", 1, 0);
		c360_store_delete(st, "dst", "b", 1, 0);
		REQUIRE(deploy_code(name, code, settings) == 0);
		struct c360_fn_stats s = {0};
		double secs = 0;
		struct rusage ru0, ru1;
		getrusage(RUSAGE_SELF, &ru0);
		CHECK(run(name, NULL, &s, &secs) == 0);
		getrusage(RUSAGE_SELF, &ru1);
		printf("  %-7s stopped after %.2f s (timeout 1 s), max RSS %ld MiB\n", c->name, secs,
		       ru1.ru_maxrss / 1024);
		CHECK(secs < STOP_BOUND_S);
		CHECK_EQ_INT(s.processed, 2);
		CHECK_EQ_INT(s.on_update_success, 1);
		CHECK_EQ_INT(s.on_update_failure, 1);
		CHECK_EQ_INT(s.failures, 1);
		CHECK_EQ_INT(s.timeouts, c->heap ? 0 : 1);
		CHECK(get_is("dst", "a", NULL)); /* "started" was dropped */
		CHECK(get_is("dst", "b", "\"done\"")); /* the record after it ran */
		char *log = applog(name);
		if (c->heap)
			CHECK(strstr(log, "passed the heap limit of 32 MiB") != NULL);
		else
			CHECK(strstr(log, "aborted: execution timeout of 1000 ms") != NULL);
		free(log);
		if (c->heap) /* 32 MiB of heap (the doubling stops at 16 MiB strings) */
			CHECK(ru1.ru_maxrss < ru0.ru_maxrss + 512 * 1024);
	}
	close_store();
}

/* A heap left by a stopped call is rebuilt: globals set by the call and by
 * earlier calls are gone, top-level code ran again, later changes are fine. */
TEST(stopped_call_leaves_a_fresh_heap)
{
	open_store("dst", "rob", NULL);
	REQUIRE(deploy_code("fresh",
		       "var boots = (typeof boots === 'number' ? boots : 0) + 1;\n"
		       "var seen = 0;\n"
		       "function OnUpdate(doc, meta) {\n"
		       "  seen++;\n"
		       "  if (doc.run) { var s = 'x'; while (true) s = s + s; }\n"
		       "  dst[meta.id] = {seen: seen, boots: boots};\n"
		       "}\n",
		       "\"execution_timeout_ms\":1000,\"heap_limit_mb\":16") == 0);
	put("src", "k1", "{}");
	put("src", "k2", "{\"run\":true}");
	put("src", "k3", "{}");
	struct c360_fn_stats s = {0};
	CHECK(run("fresh", NULL, &s, NULL) == 0);
	CHECK(get_is("dst", "k1", "{\"seen\":1,\"boots\":1}"));
	CHECK(get_is("dst", "k2", NULL));
	CHECK(get_is("dst", "k3", "{\"seen\":1,\"boots\":1}"));
	CHECK_EQ_INT(s.failures, 1);
	close_store();
}

struct stopper {
	volatile int stop;
	const char *name;
	double asked;
};

/* Sets stop once the handler logged that it spins (bounded wait). */
static void *stop_when_spinning(void *arg)
{
	struct stopper *sp = arg;
	for (int i = 0; i < 600; i++) {
		char *log = applog(sp->name);
		int spinning = strstr(log, "spinning") != NULL;
		free(log);
		if (spinning)
			break;
		usleep(50 * 1000);
	}
	sp->asked = now_s();
	sp->stop = 1;
	return NULL;
}

/* A stop request during a runaway call ends it (the timeout is 60 s); the
 * batch is not committed, so the change and the ones after it are handled at
 * the next start. */
TEST(stop_request_ends_a_runaway_call_and_the_change_is_retried)
{
	open_store("dst", "rob", NULL);
	REQUIRE(deploy_code("stopme",
		       "function OnUpdate(doc, meta) {\n"
		       "  dst[meta.id] = 'started';\n"
		       "  if (doc.run && !ro['calm']) {\n"
		       "    log('spinning');\n"
		       "    var a = []; while (true) a.push(new Array(1000000).join('x'));\n"
		       "  }\n"
		       "  dst[meta.id] = 'done';\n"
		       "}\n",
		       "\"execution_timeout\":60") == 0);
	put("src", "a", "{}");
	put("src", "b", "{\"run\":true}");
	put("src", "c", "{}");
	struct stopper sp = {0, "stopme", 0};
	pthread_t th;
	REQUIRE(pthread_create(&th, NULL, stop_when_spinning, &sp) == 0);
	struct c360_fn_stats s = {0};
	CHECK(run("stopme", &sp.stop, &s, NULL) == 0);
	double took = now_s() - sp.asked;
	pthread_join(th, NULL);
	printf("  stopped %.2f s after the stop request (timeout 60 s)\n", took);
	CHECK(took < STOP_BOUND_S);
	CHECK_EQ_INT(s.failures, 0);
	CHECK_EQ_INT(s.timeouts, 0);
	/* nothing of the abandoned batch was committed */
	CHECK(get_is("dst", "a", NULL));
	CHECK(get_is("dst", "b", NULL));
	CHECK(get_is("dst", "c", NULL));
	char *log = applog("stopme");
	CHECK(strstr(log, "abandoned: the function is stopping") != NULL);
	free(log);
	/* the next start handles the whole batch again */
	put("rob", "calm", "true");
	CHECK(run("stopme", NULL, &s, NULL) == 0);
	CHECK(get_is("dst", "a", "\"done\""));
	CHECK(get_is("dst", "b", "\"done\""));
	CHECK(get_is("dst", "c", "\"done\""));
	CHECK_EQ_INT(s.failures, 0);
	close_store();
}

TEST(heap_limit_setting_is_checked_and_kept)
{
	struct c360_fn_def d;
	char err[256] = "";
	c360_fn_def_init(&d);
	CHECK_EQ_INT(d.heap_limit_mb, 256);
	CHECK(c360_fn_def_set(&d, "heap_limit_mb", "4", err, sizeof err) == C360_ERR_INVALID);
	CHECK(strstr(err, "settings.heap_limit_mb") != NULL);
	CHECK(c360_fn_def_set(&d, "heap_limit_mb", "lots", err, sizeof err) == C360_ERR_INVALID);
	CHECK(c360_fn_def_set(&d, "heap_limit_mb", "64", err, sizeof err) == C360_OK);
	CHECK_EQ_INT(d.heap_limit_mb, 64);
	/* kept in the definition's JSON */
	snprintf(d.name, sizeof d.name, "h");
	snprintf(d.source_bucket, sizeof d.source_bucket, "src");
	snprintf(d.metadata_bucket, sizeof d.metadata_bucket, "meta");
	struct c360_buf b;
	struct c360_fn_def d2;
	c360_buf_init(&b, 0);
	REQUIRE(c360_fn_def_write(&d, &b) == 0);
	REQUIRE(c360_fn_def_parse(c360_buf_cstr(&b), b.len, &d2, err, sizeof err) == 0);
	CHECK_EQ_INT(d2.heap_limit_mb, 64);
	c360_fn_def_release(&d2);
	c360_buf_release(&b);
	c360_fn_def_release(&d);
}

int main(void)
{
	RUN(heap_limit_setting_is_checked_and_kept);
	RUN(runaway_built_ins_are_stopped_counted_and_rolled_back);
	RUN(stopped_call_leaves_a_fresh_heap);
	RUN(stop_request_ends_a_runaway_call_and_the_change_is_retried);
	return test_summary();
}
