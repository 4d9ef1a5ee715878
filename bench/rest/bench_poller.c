/* bench_poller: the poller alone (no store) against a running online store:
 * fetches every email of a file (one per line) as "customer" jobs and prints
 * requests/s, so bench/rest can tell the HTTP side from the store side.
 * Like `c360 poll`, it splits the concurrency over THREADS poller threads
 * (default 2, each with its own libcurl multi handle), the emails dealt
 * round-robin. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "sources/rest/poller.h"
#include "core/banned.h"

#define MAX_THREADS 16

struct worker {
	c360_poller *p;
	char **emails;
	size_t n;
	unsigned long ok, bad;
	c360_rc rc;
};

static void done(const struct c360_poll_result *r, void *ctx)
{
	struct worker *w = ctx;
	if (r->status == C360_POLL_OK)
		w->ok++;
	else
		w->bad++;
}

static void *run(void *arg)
{
	struct worker *w = arg;
	for (size_t i = 0; i < w->n && !w->rc; i++) {
		w->rc = c360_poller_customer(w->p, w->emails[i], done, w);
		if (!w->rc && c360_poller_pending(w->p) >= 1024)
			while (!w->rc && c360_poller_pending(w->p) > 512) {
				w->rc = c360_poller_run(w->p, 100);
				if (w->rc == C360_ERR_TIMEOUT)
					w->rc = C360_OK;
			}
	}
	if (!w->rc)
		w->rc = c360_poller_run(w->p, -1);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 4 && argc != 5) {
		fprintf(stderr, "usage: bench_poller BASE_URL EMAILS_FILE CONCURRENCY [THREADS]\n");
		return 2;
	}
	c360_log_set_level(C360_LOG_ERROR);
	int conc = (int)strtol(argv[3], NULL, 10);
	int nt = argc == 5 ? (int)strtol(argv[4], NULL, 10) : 2;
	if (nt < 1 || nt > MAX_THREADS || conc < nt) {
		fprintf(stderr, "bench_poller: THREADS must be 1..%d and at most CONCURRENCY\n",
			MAX_THREADS);
		return 2;
	}
	FILE *f = fopen(argv[2], "r");
	if (!f) {
		perror(argv[2]);
		return 1;
	}
	static struct worker w[MAX_THREADS];
	size_t cap[MAX_THREADS] = {0}, total = 0;
	char line[512];
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (!*line)
			continue;
		struct worker *x = &w[total++ % (size_t)nt];
		size_t k = (size_t)(x - w);
		if (x->n == cap[k]) {
			cap[k] = cap[k] ? cap[k] * 2 : 1024;
			char **e = realloc(x->emails, cap[k] * sizeof *e);
			if (!e) {
				fclose(f);
				return 1;
			}
			x->emails = e;
		}
		if (!(x->emails[x->n++] = strdup(line))) {
			fclose(f);
			return 1;
		}
	}
	fclose(f);
	struct c360_poller_opts o;
	c360_poller_opts_init(&o);
	o.base_url = argv[1];
	char err[256];
	for (int i = 0; i < nt; i++) {
		/* the concurrency split as c360 poll splits it */
		o.concurrency = conc / nt + (i < conc % nt);
		if (c360_poller_new(&o, &w[i].p, err, sizeof err)) {
			fprintf(stderr, "bench_poller: %s\n", err);
			return 1;
		}
	}
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	pthread_t t[MAX_THREADS];
	for (int i = 0; i < nt; i++)
		if (pthread_create(&t[i], NULL, run, &w[i])) {
			fprintf(stderr, "bench_poller: cannot start a thread\n");
			return 1;
		}
	for (int i = 0; i < nt; i++)
		pthread_join(t[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	unsigned long ok = 0, bad = 0;
	unsigned long long req = 0;
	int rc = 0;
	for (int i = 0; i < nt; i++) {
		struct c360_poller_stats st;
		c360_poller_stats(w[i].p, &st);
		req += st.requests;
		ok += w[i].ok;
		bad += w[i].bad;
		if (w[i].rc) {
			fprintf(stderr, "bench_poller: thread %d: %s\n", i, c360_rc_str(w[i].rc));
			rc = 1;
		}
		c360_poller_free(w[i].p);
		for (size_t k = 0; k < w[i].n; k++)
			free(w[i].emails[k]);
		free(w[i].emails);
	}
	printf("bench_poller: %d threads, %lu customers ok, %lu failed, %llu requests in %.2f s: "
	       "%.0f requests/s\n",
	       nt, ok, bad, req, s, (double)req / s);
	return bad || rc ? 1 : rc;
}
