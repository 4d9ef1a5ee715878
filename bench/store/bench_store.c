/* bench_store: batched upsert throughput of the c360 store against a bare
 * SQLite loop, in the same run.
 *
 *   bench_store [--docs N] [--batch B] [--runs R] [--sync full|normal|off]
 *               [--dir DIR] ENVELOPE.json
 *
 * Each run writes N distinct keys with the envelope as value, B per
 * transaction, into a fresh file:
 *   bare      a plain table (key TEXT PRIMARY KEY, value), INSERT … ON
 *             CONFLICT(key) DO UPDATE, BEGIN/COMMIT every B rows
 *   bare+zstd the same with the value compressed by zstd level 1 (what value
 *             compression would buy)
 *   c360      c360_store_write() of B upserts per call (JSON validated,
 *             values zstd-compressed: the store's default)
 *   c360/plain  the same with compression off (c360_store_set_compression 0)
 * All with journal_mode=WAL, the given synchronous (FULL by default),
 * cache_size=-16384 (16 MiB), temp_store=MEMORY. Best of R runs each,
 * interleaved so that machine noise hits all variants alike. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "store/store.h"
#include "core/banned.h"

static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double last_cpu; /* CPU seconds of the last run */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void rm_db(const char *path)
{
	char p[600];
	unlink(path);
	snprintf(p, sizeof p, "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof p, "%s-shm", path);
	unlink(p);
}

static const char *sync_name = "FULL";

static int exec(sqlite3 *db, const char *sql)
{
	char *e = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &e) != SQLITE_OK) {
		fprintf(stderr, "bench_store: %s: %s\n", sql, e ? e : "?");
		sqlite3_free(e);
		return -1;
	}
	return 0;
}

/* The bare loop; zstd_level > 0 compresses each value first. */
static double run_bare(const char *path, const char *val, size_t vlen, long n, long batch,
		       int zstd_level, double *ratio)
{
	rm_db(path);
	sqlite3 *db = NULL;
	if (sqlite3_open(path, &db) != SQLITE_OK)
		return -1;
	char pragmas[200];
	snprintf(pragmas, sizeof pragmas,
		 "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s; PRAGMA cache_size=-16384;"
		 " PRAGMA temp_store=MEMORY;",
		 sync_name);
	if (exec(db, pragmas) || exec(db, "CREATE TABLE t(key TEXT PRIMARY KEY, value)"))
		return -1;
	sqlite3_stmt *s = NULL;
	sqlite3_prepare_v2(db,
			   "INSERT INTO t(key, value) VALUES(?1, ?2)"
			   " ON CONFLICT(key) DO UPDATE SET value=excluded.value",
			   -1, &s, NULL);
	size_t zcap = ZSTD_compressBound(vlen);
	char *zbuf = malloc(zcap);
	ZSTD_CCtx *cctx = ZSTD_createCCtx();
	size_t zbytes = 0;
	double t0 = now_s(), c0 = cpu_s();
	for (long i = 0; i < n; i++) {
		if (i % batch == 0 && exec(db, "BEGIN"))
			return -1;
		char key[32];
		int kl = snprintf(key, sizeof key, "customer::%08ld", i);
		sqlite3_bind_text(s, 1, key, kl, SQLITE_STATIC);
		if (zstd_level > 0) {
			size_t zl = ZSTD_compressCCtx(cctx, zbuf, zcap, val, vlen, zstd_level);
			zbytes += zl;
			sqlite3_bind_blob(s, 2, zbuf, (int)zl, SQLITE_STATIC);
		} else {
			sqlite3_bind_text(s, 2, val, (int)vlen, SQLITE_STATIC);
		}
		if (sqlite3_step(s) != SQLITE_DONE) {
			fprintf(stderr, "bench_store: bare insert: %s\n", sqlite3_errmsg(db));
			return -1;
		}
		sqlite3_reset(s);
		if ((i + 1) % batch == 0 || i + 1 == n)
			if (exec(db, "COMMIT"))
				return -1;
	}
	double t = now_s() - t0;
	last_cpu = cpu_s() - c0;
	if (ratio)
		*ratio = zbytes ? (double)vlen * (double)n / (double)zbytes : 1;
	ZSTD_freeCCtx(cctx);
	free(zbuf);
	sqlite3_finalize(s);
	sqlite3_close(db);
	rm_db(path);
	return (double)n / t;
}

static double run_c360(const char *path, const char *val, size_t vlen, long n, long batch,
		       enum c360_sync sync, int zlevel)
{
	rm_db(path);
	struct c360_store_opts o;
	c360_store_opts_init(&o);
	o.synchronous = sync;
	o.sweep_interval_ms = -1;
	c360_store *st = NULL;
	char err[256];
	if (c360_store_open(path, &o, &st, err, sizeof err)) {
		fprintf(stderr, "bench_store: %s\n", err);
		return -1;
	}
	c360_store_set_compression(st, zlevel);
	if (c360_store_bucket_create(st, "staging", 0, err, sizeof err)) {
		fprintf(stderr, "bench_store: %s\n", err);
		return -1;
	}
	struct c360_write *ops = calloc((size_t)batch, sizeof *ops);
	char(*keys)[32] = calloc((size_t)batch, sizeof *keys);
	double t0 = now_s(), c0 = cpu_s();
	for (long i = 0; i < n; i += batch) {
		long m = n - i < batch ? n - i : batch;
		for (long j = 0; j < m; j++) {
			int kl = snprintf(keys[j], sizeof keys[j], "customer::%08ld", i + j);
			ops[j] = (struct c360_write){.type = C360_WRITE_UPSERT,
						     .bucket = "staging",
						     .key = keys[j],
						     .key_len = (size_t)kl,
						     .value = val,
						     .value_len = vlen};
		}
		c360_rc rc = c360_store_write(st, ops, (size_t)m);
		if (rc || ops[0].rc) {
			fprintf(stderr, "bench_store: c360_store_write: %s\n",
				c360_rc_str(rc ? rc : ops[0].rc));
			return -1;
		}
	}
	double t = now_s() - t0;
	last_cpu = cpu_s() - c0;
	free(ops);
	free(keys);
	c360_store_close(st);
	rm_db(path);
	return (double)n / t;
}

int main(int argc, char **argv)
{
	long n = 100000, batch = 1000;
	int runs = 3;
	const char *dir = "/tmp", *file = NULL;
	enum c360_sync sync = C360_SYNC_FULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--docs") && i + 1 < argc)
			n = strtol(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
			batch = strtol(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
			runs = (int)strtol(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
			dir = argv[++i];
		else if (!strcmp(argv[i], "--sync") && i + 1 < argc) {
			const char *s = argv[++i];
			if (!strcmp(s, "normal")) {
				sync = C360_SYNC_NORMAL;
				sync_name = "NORMAL";
			} else if (!strcmp(s, "off")) {
				sync = C360_SYNC_OFF;
				sync_name = "OFF";
			}
		} else if (argv[i][0] != '-')
			file = argv[i];
		else {
			fprintf(stderr, "usage: bench_store [--docs N] [--batch B] [--runs R] "
					"[--sync full|normal|off] [--dir DIR] ENVELOPE.json\n");
			return 2;
		}
	}
	if (!file || n <= 0 || batch <= 0 || runs <= 0) {
		fprintf(stderr, "bench_store: need ENVELOPE.json and positive --docs/--batch/--runs\n");
		return 2;
	}
	FILE *f = fopen(file, "rb");
	if (!f) {
		perror(file);
		return 1;
	}
	static char val[1 << 20];
	size_t vlen = fread(val, 1, sizeof val - 1, f);
	fclose(f);
	while (vlen && (val[vlen - 1] == '\n' || val[vlen - 1] == ' '))
		vlen--;
	val[vlen] = '\0';
	char path[512];
	snprintf(path, sizeof path, "%s/bench_store_%d.db", dir, (int)getpid());
	printf("bench/store: %ld upserts of a %zu-byte document, %ld per transaction, "
	       "WAL, synchronous=%s, best of %d runs (file in %s)\n",
	       n, vlen, batch, sync_name, runs, dir);
	double best[4] = {0, 0, 0, 0}, bestcpu[4] = {0, 0, 0, 0}, zratio = 1;
	for (int r = 0; r < runs; r++) {
		double v[4];
		double cpu[4];
		v[0] = run_bare(path, val, vlen, n, batch, 0, NULL);
		cpu[0] = (double)n / last_cpu;
		v[1] = run_c360(path, val, vlen, n, batch, sync, 1);
		cpu[1] = (double)n / last_cpu;
		v[2] = run_c360(path, val, vlen, n, batch, sync, 0);
		cpu[2] = (double)n / last_cpu;
		v[3] = run_bare(path, val, vlen, n, batch, 1, &zratio);
		cpu[3] = (double)n / last_cpu;
		for (int k = 0; k < 4; k++) {
			if (v[k] < 0)
				return 1;
			if (v[k] > best[k])
				best[k] = v[k];
			if (cpu[k] > bestcpu[k])
				bestcpu[k] = cpu[k];
		}
		fprintf(stderr, "  run %d: bare %.0f, c360 %.0f, c360/plain %.0f, bare+zstd %.0f docs/s\n",
			r + 1, v[0], v[1], v[2], v[3]);
	}
	double mb = (double)vlen / 1e6;
	static const char *const names[4] = {"bare SQLite loop", "c360_store_write (zstd)",
					     "c360_store_write (plain)", "bare SQLite + zstd values"};
	printf("  %-26s %9s %9s %6s   %12s %6s\n", "", "docs/s", "MB/s", "ratio", "docs/CPU-s",
	       "ratio");
	for (int k = 0; k < 4; k++)
		printf("  %-26s %9.0f %9.1f %5.2fx   %12.0f %5.2fx\n", names[k], best[k], best[k] * mb,
		       best[k] / best[0], bestcpu[k], bestcpu[k] / bestcpu[0]);
	printf("  (zstd level 1 compresses the document %.1fx; CPU-s = user+sys time of the process)\n",
	       zratio);
	printf("ratio c360/bare: %.2f with the default zstd values, %.2f without (target >= 0.80);"
	       " per CPU-second %.2f and %.2f\n",
	       best[1] / best[0], best[2] / best[0], bestcpu[1] / bestcpu[0], bestcpu[2] / bestcpu[0]);
	return 0;
}
