/* bench_poller: the poller alone (no store) against a running online store:
 * fetches every email of a file (one per line) as "customer" jobs and prints
 * requests/s, so bench/rest can tell the HTTP side from the store side. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "sources/rest/poller.h"
#include "core/banned.h"

static unsigned long ok, bad;

static void done(const struct c360_poll_result *r, void *ctx)
{
	(void)ctx;
	if (r->status == C360_POLL_OK)
		ok++;
	else
		bad++;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: bench_poller BASE_URL EMAILS_FILE CONCURRENCY\n");
		return 2;
	}
	c360_log_set_level(C360_LOG_ERROR);
	struct c360_poller_opts o;
	c360_poller_opts_init(&o);
	o.base_url = argv[1];
	o.concurrency = (int)strtol(argv[3], NULL, 10);
	c360_poller *p = NULL;
	char err[256];
	if (c360_poller_new(&o, &p, err, sizeof err)) {
		fprintf(stderr, "bench_poller: %s\n", err);
		return 1;
	}
	FILE *f = fopen(argv[2], "r");
	if (!f) {
		perror(argv[2]);
		c360_poller_free(p);
		return 1;
	}
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	char line[512];
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (*line)
			c360_poller_customer(p, line, done, NULL);
		if (c360_poller_pending(p) >= 2048)
			while (c360_poller_pending(p) > 1024)
				c360_poller_run(p, 100);
	}
	fclose(f);
	c360_poller_run(p, -1);
	clock_gettime(CLOCK_MONOTONIC, &b);
	double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	struct c360_poller_stats st;
	c360_poller_stats(p, &st);
	printf("bench_poller: %lu customers ok, %lu failed, %llu requests in %.2f s: %.0f requests/s\n",
	       ok, bad, (unsigned long long)st.requests, s, (double)st.requests / s);
	c360_poller_free(p);
	return bad ? 1 : 0;
}
