/* bench_json: parse+serialize throughput of c360's JSON core, cJSON and
 * jansson on the same documents in one process; prints MB/s (input bytes per
 * second, best of --runs runs of about --seconds each, the libraries taking
 * turns) and c360/cJSON.
 *
 *   bench_json [--runs N] [--seconds S] FILE...
 *
 * Each iteration parses the document into a DOM, serializes it compactly into
 * a preallocated (reused) buffer and frees the DOM: the same work for every
 * library (cJSON_PrintPreallocated, json_dumpb, c360_json_write into a reset
 * c360_buf). */
#include <cjson/cJSON.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/json.h"

#include "core/banned.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct ctx {
	const char *doc;
	size_t len;
	char *out;
	size_t outcap;
	struct c360_buf buf;
	size_t outlen; /* last output length, for the sanity line */
};

static int run_c360(struct ctx *c)
{
	c360_json_doc *d;
	if (c360_json_parse(c->doc, c->len, NULL, &d, NULL))
		return -1;
	c360_buf_reset(&c->buf);
	if (c360_json_write(c360_json_doc_root(d), C360_JSON_COMPACT, &c->buf)) {
		c360_json_doc_free(d);
		return -1;
	}
	c->outlen = c->buf.len;
	c360_json_doc_free(d);
	return 0;
}

static int run_cjson(struct ctx *c)
{
	cJSON *j = cJSON_ParseWithLength(c->doc, c->len);
	if (!j)
		return -1;
	if (!cJSON_PrintPreallocated(j, c->out, (int)c->outcap, 0)) {
		cJSON_Delete(j);
		return -1;
	}
	c->outlen = strlen(c->out);
	cJSON_Delete(j);
	return 0;
}

static int run_jansson(struct ctx *c)
{
	json_error_t e;
	json_t *j = json_loadb(c->doc, c->len, 0, &e);
	if (!j)
		return -1;
	size_t n = json_dumpb(j, c->out, c->outcap, JSON_COMPACT);
	json_decref(j);
	if (!n || n > c->outcap)
		return -1;
	c->outlen = n;
	return 0;
}

/* MB/s of one run of about `seconds`; <0 on failure. */
static double run_once(int (*fn)(struct ctx *), struct ctx *c, double seconds)
{
	size_t iters = 0;
	double t0 = now(), t;
	do {
		for (int k = 0; k < 64; k++)
			if (fn(c))
				return -1;
		iters += 64;
		t = now();
	} while (t - t0 < seconds);
	return (double)c->len * (double)iters / (t - t0) / 1e6;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	struct c360_buf b;
	c360_buf_init(&b, 64u << 20);
	char tmp[65536];
	size_t n;
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0) {
		if (c360_buf_append(&b, tmp, n)) {
			fclose(f);
			c360_buf_release(&b);
			return NULL;
		}
	}
	fclose(f);
	return c360_buf_detach(&b, len);
}

int main(int argc, char **argv)
{
	int runs = 5;
	double seconds = 1.0;
	int first = 1;
	while (first < argc && !strncmp(argv[first], "--", 2)) {
		if (!strcmp(argv[first], "--runs") && first + 1 < argc) {
			runs = (int)strtol(argv[first + 1], NULL, 10);
			first += 2;
		} else if (!strcmp(argv[first], "--seconds") && first + 1 < argc) {
			seconds = strtod(argv[first + 1], NULL);
			first += 2;
		} else if (!strcmp(argv[first], "--help")) {
			printf("usage: bench_json [--runs N] [--seconds S] FILE...\n");
			return 0;
		} else {
			fprintf(stderr, "bench_json: unknown option '%s'\n", argv[first]);
			return 2;
		}
	}
	if (first >= argc || runs < 1 || seconds <= 0) {
		fprintf(stderr, "usage: bench_json [--runs N] [--seconds S] FILE...\n");
		return 2;
	}
	printf("parse+serialize (compact), MB/s of input, best of %d runs of %.1f s\n", runs,
	       seconds);
	printf("%-28s %8s %10s %10s %10s %12s %14s\n", "document", "bytes", "c360", "cJSON",
	       "jansson", "c360/cJSON", "c360/jansson");
	int status = 0;
	for (int i = first; i < argc; i++) {
		struct ctx c;
		memset(&c, 0, sizeof(c));
		c.doc = slurp(argv[i], &c.len);
		if (!c.doc) {
			fprintf(stderr, "bench_json: cannot read '%s'\n", argv[i]);
			return 1;
		}
		c.outcap = c.len * 4 + 1024;
		c.out = malloc(c.outcap);
		c360_buf_init(&c.buf, 0);
		/* the libraries take turns run by run, so a burst of load on the
		 * machine hits all of them alike; best run of each counts */
		double a = 0, b = 0, j = 0;
		size_t la = 0, lb = 0, lj = 0;
		for (int r = 0; r < runs; r++) {
			double x = run_once(run_c360, &c, seconds);
			la = c.outlen;
			double y = run_once(run_cjson, &c, seconds);
			lb = c.outlen;
			double z = run_once(run_jansson, &c, seconds);
			lj = c.outlen;
			a = x < 0 || a < 0 ? -1 : (x > a ? x : a);
			b = y < 0 || b < 0 ? -1 : (y > b ? y : b);
			j = z < 0 || j < 0 ? -1 : (z > j ? z : j);
		}
		const char *name = strrchr(argv[i], '/');
		name = name ? name + 1 : argv[i];
		if (a < 0 || b < 0 || j < 0) {
			fprintf(stderr,
			        "bench_json: '%s': a library failed (c360 %.0f cJSON %.0f jansson "
			        "%.0f)\n",
			        name, a, b, j);
			status = 1;
		}
		printf("%-28s %8zu %10.1f %10.1f %10.1f %11.2fx %13.2fx\n", name, c.len, a, b, j,
		       b > 0 ? a / b : 0, j > 0 ? a / j : 0);
		printf("  output bytes: c360 %zu, cJSON %zu, jansson %zu\n", la, lb, lj);
		fflush(stdout);
		free((void *)c.doc);
		free(c.out);
		c360_buf_release(&c.buf);
	}
	return status;
}
