/* Shared by the eventing and integrate runtime tests (test_eventing.c,
 * test_eventing_runaway.c, test_integrate_store.c, test_customer360.c): a
 * store in a fresh directory, puts and gets on it, files of the source
 * tree, definitions deployed and run until idle. Included once per test
 * binary. */
#ifndef C360_TESTS_RUNTIME_EVENTING_TEST_H
#define C360_TESTS_RUNTIME_EVENTING_TEST_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/json.h"
#include "eventing/eventing.h"
#include "store/store.h"

static char dir[256];
static c360_store *st;

/* Opens st in a new directory (dir) with the buckets named before the
 * NULL; aborts when it cannot. */
static void open_store(const char *bucket, ...)
{
	char path[300], err[256];
	snprintf(dir, sizeof dir, "/tmp/c360-evt-XXXXXX");
	if (!mkdtemp(dir))
		abort();
	snprintf(path, sizeof path, "%s/s.db", dir);
	struct c360_store_opts o;
	c360_store_opts_init(&o);
	o.synchronous = C360_SYNC_OFF;
	if (c360_store_open(path, &o, &st, err, sizeof err)) {
		printf("cannot open store: %s\n", err);
		abort();
	}
	va_list ap;
	va_start(ap, bucket);
	for (const char *b = bucket; b; b = va_arg(ap, const char *))
		c360_store_bucket_ensure(st, b, 0);
	va_end(ap);
}

/* Closes st and removes its directory. */
static void close_store(void)
{
	char cmd[300];
	c360_store_close(st);
	st = NULL;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd))
		printf("cleanup failed\n");
}

__attribute__((unused)) static void put(const char *bucket, const char *key, const char *val)
{
	c360_store_bucket_ensure(st, bucket, 0);
	if (c360_store_upsert(st, bucket, key, strlen(key), val, strlen(val), 0, NULL))
		printf("  put %s/%s failed\n", bucket, key);
}

/* Value of bucket/key as compact JSON, or NULL (malloc'd). */
__attribute__((unused)) static char *get(const char *bucket, const char *key)
{
	struct c360_doc d = {0};
	if (c360_store_get(st, bucket, key, strlen(key), &d))
		return NULL;
	char *v = strdup(d.value);
	c360_doc_release(&d);
	return v;
}

/* 1 when bucket/key holds want (NULL: is absent), else says what it holds. */
__attribute__((unused)) static int get_is(const char *bucket, const char *key, const char *want)
{
	struct c360_doc d = {0};
	c360_rc rc = c360_store_get(st, bucket, key, strlen(key), &d);
	int ok = want ? !rc && !strcmp(d.value, want) : rc == C360_ERR_NOT_FOUND;
	if (!ok)
		printf("  %s/%s = %s, want %s\n", bucket, key, rc ? "(none)" : d.value, want ? want : "(none)");
	c360_doc_release(&d);
	return ok;
}

/* The file at rel in the source tree ($C360_SRC, else ../..), malloc'd;
 * NULL (said) when it cannot be read. */
__attribute__((unused)) static char *slurp(const char *rel)
{
	const char *src = getenv("C360_SRC");
	char path[2048];
	snprintf(path, sizeof path, "%s/%s", src ? src : "../..", rel);
	struct c360_buf b;
	c360_buf_init(&b, 0);
	if (c360_buf_read_file(&b, path)) {
		printf("  cannot open %s\n", path);
		c360_buf_release(&b);
		return NULL;
	}
	return c360_buf_detach(&b, NULL);
}

/* A Couchbase-export definition around code (malloc'd): its buckets (JSON
 * objects, as in RW), source bucket src, metadata bucket meta, settings
 * (JSON members). */
__attribute__((unused)) static char *mkdef(const char *name, const char *code, const char *buckets,
					   const char *settings)
{
	struct c360_buf b;
	c360_buf_init(&b, 0);
	c360_buf_printf(&b, "{\"appname\":\"%s\",\"appcode\":", name);
	c360_json_write_string(code, strlen(code), &b);
	c360_buf_printf(&b,
			",\"depcfg\":{\"buckets\":[%s],\"source_bucket\":\"src\",\"metadata_bucket\":\"meta\"},"
			"\"settings\":{%s}}",
			buckets, settings);
	return c360_buf_detach(&b, NULL);
}

/* Deploys the definition json; err says why not. */
__attribute__((unused)) static int deploy_json(const char *json, char *err, size_t errlen)
{
	struct c360_fn_def def;
	c360_rc rc = c360_fn_def_parse(json, strlen(json), &def, err, errlen);
	if (!rc)
		rc = c360_fn_deploy(st, &def, err, errlen);
	c360_fn_def_release(&def);
	return rc;
}

/* Buckets of a definition: dst read-write, ro (bucket rob) read-only. */
__attribute__((unused)) static const char *RW = "{\"alias\":\"dst\",\"bucket_name\":\"dst\",\"access\":\"rw\"},"
						 "{\"alias\":\"ro\",\"bucket_name\":\"rob\",\"access\":\"r\"}";

/* Runs the deployed function name until it is idle (or *stop, when stop is
 * not NULL); its stats into out (optional); returns its rc, said. */
__attribute__((unused)) static int run_until_idle(const char *name, const volatile int *stop,
						  struct c360_fn_stats *out)
{
	struct c360_fn_def def;
	enum c360_fn_state s;
	uint64_t boundary;
	c360_fn_run *r = NULL;
	char err[512] = "";
	c360_rc rc = c360_fn_load(st, name, &def, &s, &boundary);
	if (!rc)
		rc = c360_fn_run_new(st, &def, boundary, &r, err, sizeof err);
	if (!rc)
		rc = c360_fn_run_loop(r, stop, true);
	if (r && out)
		c360_fn_run_stats(r, out);
	if (rc)
		printf("  run %s: %s %s\n", name, c360_rc_str(rc), err);
	c360_fn_run_free(r);
	c360_fn_def_release(&def);
	return rc;
}

#endif
