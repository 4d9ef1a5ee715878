/* Eventing benchmark: loads staging documents ("KEY<TAB>JSON" lines) into a
 * store, deploys functions/customer360.json with the online-store calls off,
 * and times the function processing the whole feed into a durable
 * customer360 bucket. Prints one JSON line.
 *   bench_eventing STAGING.tsv FUNCTION.json STORE [WORKERS] [full|normal] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "eventing/eventing.h"
#include "core/banned.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       (double)ru.ru_stime.tv_usec / 1e6;
}

static long rss_kb(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = 0;
	size_t fl = strlen(field);
	while (f && fgets(line, sizeof line, f))
		if (!strncmp(line, field, fl))
			v = strtol(line + fl + 1, NULL, 10);
	if (f)
		fclose(f);
	return v;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	struct c360_buf b;
	c360_buf_init(&b, 0);
	char chunk[65536];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		c360_buf_append(&b, chunk, n);
	fclose(f);
	return c360_buf_detach(&b, len);
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: bench_eventing STAGING.tsv FUNCTION.json STORE [WORKERS] [full|normal]\n");
		return 2;
	}
	int workers = argc > 4 ? (int)strtol(argv[4], NULL, 10) : 1;
	const char *sync = argc > 5 ? argv[5] : "full";
	char err[1024] = "";
	size_t tlen, jlen;
	char *tsv = slurp(argv[1], &tlen), *json = slurp(argv[2], &jlen);
	if (!tsv || !json) {
		fprintf(stderr, "cannot read inputs\n");
		return 1;
	}
	struct c360_store_opts o;
	c360_store_opts_init(&o);
	o.synchronous = !strcmp(sync, "normal") ? C360_SYNC_NORMAL : C360_SYNC_FULL;
	c360_store *st;
	if (c360_store_open(argv[3], &o, &st, err, sizeof err)) {
		fprintf(stderr, "store: %s\n", err);
		return 1;
	}
	c360_store_bucket_ensure(st, "staging", 0);
	/* load (not timed) */
	struct c360_write *ops = calloc(1000, sizeof *ops);
	size_t n = 0, total = 0;
	for (char *p = tsv; p < tsv + tlen;) {
		char *nl = memchr(p, '\n', (size_t)(tsv + tlen - p));
		char *tab = memchr(p, '\t', (size_t)((nl ? nl : tsv + tlen) - p));
		if (!nl || !tab)
			break;
		struct c360_write *w = &ops[n++];
		memset(w, 0, sizeof *w);
		w->type = C360_WRITE_UPSERT;
		w->bucket = "staging";
		w->key = p;
		w->key_len = (size_t)(tab - p);
		w->value = tab + 1;
		w->value_len = (size_t)(nl - tab - 1);
		p = nl + 1;
		if (n == 1000 || p >= tsv + tlen) {
			if (c360_store_write(st, ops, n)) {
				fprintf(stderr, "load failed\n");
				return 1;
			}
			total += n;
			n = 0;
		}
	}
	if (n && !c360_store_write(st, ops, n))
		total += n;
	struct c360_fn_def def;
	if (c360_fn_def_parse(json, jlen, &def, err, sizeof err) ||
	    c360_fn_def_add_binding(&def, "constant:pollOnlineStore=false", err, sizeof err)) {
		fprintf(stderr, "function: %s\n", err);
		return 1;
	}
	def.worker_count = workers > 0 ? workers : 1;
	snprintf(def.name, sizeof def.name, "bench");
	if (c360_fn_deploy(st, &def, err, sizeof err)) {
		fprintf(stderr, "deploy: %s\n", err);
		return 1;
	}
	c360_fn_run *r;
	if (c360_fn_run_new(st, &def, 0, &r, err, sizeof err)) {
		fprintf(stderr, "run: %s\n", err);
		return 1;
	}
	long rss_before = rss_kb("VmRSS:");
	double t0 = now_s(), c0 = cpu_s();
	c360_rc rc = c360_fn_run_loop(r, NULL, true);
	double dt = now_s() - t0, dc = cpu_s() - c0;
	struct c360_fn_stats s;
	c360_fn_run_stats(r, &s);
	struct c360_bucket_info bi = {0};
	c360_store_bucket_info(st, "customer360", &bi);
	printf("{\"records\":%zu,\"processed\":%llu,\"failures\":%llu,\"seconds\":%.3f,\"per_second\":%.0f,\"cpu_seconds\":%.3f,\"per_cpu_second\":%.0f,"
	       "\"p50_us\":%llu,\"p99_us\":%llu,\"rss_mb\":%.1f,\"rss_before_run_mb\":%.1f,\"customers\":%llu,"
	       "\"workers\":%d,\"synchronous\":\"%s\",\"rc\":\"%s\"}\n",
	       total, (unsigned long long)s.processed, (unsigned long long)s.failures, dt,
	       (double)s.processed / dt, dc, (double)s.processed / dc, (unsigned long long)s.p50_us, (unsigned long long)s.p99_us,
	       (double)rss_kb("VmHWM:") / 1024.0, (double)rss_before / 1024.0, (unsigned long long)bi.count,
	       def.worker_count, sync, c360_rc_str(rc));
	c360_fn_run_free(r);
	c360_fn_def_release(&def);
	c360_store_close(st);
	free(ops);
	free(tsv);
	free(json);
	return rc || s.failures ? 1 : 0;
}
