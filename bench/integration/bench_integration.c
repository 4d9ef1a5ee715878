/* bench/integration driver:
 *   gen N FIXTURE.json > staging.tsv       ~2.6 records per customer over three
 *       systems: home delivery (Debezium envelopes with schema: creates, later
 *       updates and deletes), loyalty rows, online-store details; "KEY\tJSON"
 *   load STORE staging.tsv                 writes them into STORE's staging bucket
 *   latency STORE staging.tsv MAPPING RATE [MAX]  a producer thread writes the
 *       (first MAX) records
 *       at RATE/s (durable, synchronous=FULL) while the native engine follows
 *       the feed; prints change-to-profile latency percentiles (commit of the
 *       staging write → commit of the customer document) as JSON */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "core/json.h"
#include "demo/retailer.h"
#include "integrate/integrate.h"
#include "store/store.h"
#include "core/banned.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
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

/* ---- gen ---- */

static void put_str(c360_json_doc *d, c360_json *o, const char *k, const char *v)
{
	c360_json_set(d, o, k, strlen(k), c360_json_new_str(d, v, strlen(v)));
}

static c360_json *row(c360_json_doc *d, const struct c360_person *p, const char *addr1,
		      const char *phone)
{
	char name[64];
	snprintf(name, sizeof name, "%s %s", p->first, p->last);
	c360_json *r = c360_json_new_object(d);
	c360_json_set(d, r, "id", 2, c360_json_new_int(d, p->home_id));
	put_str(d, r, "name", name);
	put_str(d, r, "email", p->home_email);
	put_str(d, r, "password", p->home_pass);
	put_str(d, r, "address_line_1", addr1);
	put_str(d, r, "address_line_2", p->address2);
	put_str(d, r, "city", p->city);
	put_str(d, r, "state", p->state);
	put_str(d, r, "zipcode", p->zipcode);
	put_str(d, r, "phonenumber", phone);
	return r;
}

static void envelope(const c360_json *fixture, const struct c360_person *p, const char *op,
		     const char *addr1, const char *phone, int64_t ts, uint64_t seq)
{
	c360_json_doc *d = c360_json_doc_new();
	c360_json *root = c360_json_copy(d, fixture);
	c360_json_doc_set_root(d, root);
	c360_json *pl = c360_json_get(root, "payload");
	bool del = !strcmp(op, "d");
	c360_json_set(d, pl, "before", 6, del ? row(d, p, addr1, phone) : c360_json_new_null(d));
	c360_json_set(d, pl, "after", 5, del ? c360_json_new_null(d) : row(d, p, addr1, phone));
	c360_json *src = c360_json_get(pl, "source");
	c360_json_set(d, src, "ts_ms", 5, c360_json_new_int(d, ts));
	c360_json_remove(src, "query", 5);
	put_str(d, pl, "op", op);
	c360_json_set(d, pl, "ts_ms", 5, c360_json_new_int(d, ts + 13));
	char *s = c360_json_write_str(root, 0, NULL);
	printf("dbserver1.inventory.customers::%" PRIu64 "\t%s\n", seq, s);
	free(s);
	c360_json_doc_free(d);
}

static int gen(uint32_t n, const char *fixture_path)
{
	size_t len;
	char *text = slurp(fixture_path, &len);
	c360_json_doc *fx = NULL;
	if (!text || c360_json_parse(text, len, NULL, &fx, NULL)) {
		fprintf(stderr, "cannot read %s\n", fixture_path);
		return 1;
	}
	free(text);
	struct c360_retailer r;
	c360_retailer_init(&r, n);
	r.p_home = 90;
	r.p_loyalty = 80;
	r.p_online = 60;
	r.p_update = 30;
	r.p_delete = 5;
	uint64_t seq = 0;
	const int64_t base = 1700000000000;
	for (uint32_t i = 0; i < n; i++) {
		struct c360_person p;
		c360_retailer_person(&r, i, &p);
		if (p.in_home)
			envelope(c360_json_doc_root(fx), &p, "c", p.address1, p.phone,
				 base + (int64_t)i * 10, ++seq);
		if (p.in_loyalty)
			printf("loyalty-member-%u\t{\"id\":\"%u\",\"password\":\"%s\",\"firstName\":\"%s\","
			       "\"lastName\":\"%s\",\"email\":\"%s\",\"points\":\"%u\"}\n",
			       p.loyalty_id, p.loyalty_id, p.loyalty_pass, p.first, p.last,
			       p.loyalty_email, p.points);
		if (p.in_online)
			printf("online-store::%u\t{\"Id\":%u,\"Name\":\"%s %s\",\"Email\":\"%s\","
			       "\"Password\":\"%s\"}\n",
			       p.online_id, p.online_id, p.first, p.last, p.online_email, p.online_pass);
	}
	/* later: updates, then deletes */
	for (uint32_t i = 0; i < n; i++) {
		struct c360_person p;
		c360_retailer_person(&r, i, &p);
		if (p.in_home && p.home_updated)
			envelope(c360_json_doc_root(fx), &p, "u", p.new_address1, p.new_phone,
				 base + 10000000 + (int64_t)i * 10, ++seq);
	}
	for (uint32_t i = 0; i < n; i++) {
		struct c360_person p;
		c360_retailer_person(&r, i, &p);
		if (p.in_home && p.home_deleted)
			envelope(c360_json_doc_root(fx), &p, "d", p.new_address1, p.new_phone,
				 base + 20000000 + (int64_t)i * 10, ++seq);
	}
	c360_json_doc_free(fx);
	return 0;
}

/* ---- records ---- */

struct rec {
	const char *key, *value;
	size_t key_len, value_len;
};

static struct rec *split(char *text, size_t *n)
{
	size_t cap = 1024, k = 0;
	struct rec *v = malloc(cap * sizeof *v);
	for (char *p = text; *p;) {
		char *nl = strchr(p, '\n');
		char *tab = strchr(p, '\t');
		if (!nl || !tab || tab > nl)
			break;
		if (k == cap)
			v = realloc(v, (cap *= 2) * sizeof *v);
		v[k++] = (struct rec){p, tab + 1, (size_t)(tab - p), (size_t)(nl - tab - 1)};
		*nl = '\0';
		p = nl + 1;
	}
	*n = k;
	return v;
}

static int load(const char *store_path, const char *tsv)
{
	size_t len, n;
	char *text = slurp(tsv, &len);
	if (!text)
		return 1;
	struct rec *r = split(text, &n);
	c360_store *st;
	char err[256];
	struct c360_store_opts o;
	c360_store_opts_init(&o);
	if (c360_store_open(store_path, &o, &st, err, sizeof err)) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	c360_store_bucket_ensure(st, "staging", 0);
	struct c360_write ops[4096];
	for (size_t i = 0; i < n;) {
		size_t k = 0;
		for (; k < 4096 && i < n; k++, i++)
			ops[k] = (struct c360_write){.type = C360_WRITE_UPSERT, .bucket = "staging",
						     .key = r[i].key, .key_len = r[i].key_len,
						     .value = r[i].value, .value_len = r[i].value_len};
		if (c360_store_write(st, ops, k)) {
			fprintf(stderr, "load failed\n");
			return 1;
		}
	}
	c360_store_close(st);
	free(r);
	free(text);
	fprintf(stderr, "loaded %zu records\n", n);
	return 0;
}

/* ---- latency ---- */

struct lat {
	c360_store *st;
	struct rec *r;
	size_t n;
	double rate;
	int64_t *t_commit; /* ns, by staging seqno */
	size_t tcap;
	volatile size_t produced;
};

static void *producer(void *p)
{
	struct lat *l = p;
	const size_t batch = 100;
	double t0 = now_s();
	struct c360_write ops[100];
	for (size_t i = 0; i < l->n;) {
		double due = t0 + (double)i / l->rate;
		double t = now_s();
		if (due > t) {
			struct timespec ts = {0, (long)((due - t) * 1e9)};
			nanosleep(&ts, NULL);
		}
		size_t k = 0;
		for (; k < batch && i < l->n; k++, i++)
			ops[k] = (struct c360_write){.type = C360_WRITE_UPSERT, .bucket = "staging",
						     .key = l->r[i].key, .key_len = l->r[i].key_len,
						     .value = l->r[i].value,
						     .value_len = l->r[i].value_len,
						     .flags = C360_WRITE_TRUSTED_JSON};
		if (c360_store_write(l->st, ops, k))
			fprintf(stderr, "producer: write failed\n");
		int64_t tc = (int64_t)(now_s() * 1e9);
		for (size_t j = 0; j < k; j++)
			if (ops[j].seqno < l->tcap)
				__atomic_store_n(&l->t_commit[ops[j].seqno], tc, __ATOMIC_RELEASE);
		__atomic_store_n(&l->produced, i, __ATOMIC_RELEASE);
	}
	return NULL;
}

struct cons {
	c360_integrate *ig;
	uint64_t *seqs;
	size_t nseqs, cap;
};

static int on_ev(const struct c360_feed_event *ev, void *p)
{
	struct cons *c = p;
	if (ev->op == C360_FEED_MUTATION)
		c360_integrate_update(c->ig, ev->key, ev->key_len, ev->value, ev->value_len, ev->cas);
	else
		c360_integrate_delete(c->ig, ev->key, ev->key_len, ev->op == C360_FEED_EXPIRATION);
	if (c->nseqs < c->cap)
		c->seqs[c->nseqs++] = ev->seqno;
	return 0;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static int latency(const char *store_path, const char *tsv, const char *mapping, double rate,
		   size_t max)
{
	size_t len;
	char *text = slurp(tsv, &len);
	if (!text)
		return 1;
	struct lat l = {.rate = rate};
	l.r = split(text, &l.n);
	if (max && l.n > max)
		l.n = max;
	char err[512];
	c360_imap *m;
	if (c360_imap_load_file(mapping, &m, err, sizeof err)) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	struct c360_store_opts o;
	c360_store_opts_init(&o); /* synchronous=FULL */
	if (c360_store_open(store_path, &o, &l.st, err, sizeof err)) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	c360_store_bucket_ensure(l.st, "staging", 0);
	uint64_t base = 0;
	c360_feed_high_seqno(l.st, "staging", &base);
	l.tcap = base + l.n + 16;
	l.t_commit = calloc(l.tcap, sizeof *l.t_commit);
	c360_integrate *ig;
	struct c360_integrate_opts io = {.batch_max = 4096, .no_online = true};
	if (c360_integrate_new(l.st, m, &io, &ig, err, sizeof err)) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	struct cons c = {.ig = ig, .cap = 8192};
	c.seqs = malloc(c.cap * sizeof *c.seqs);
	double *lat = malloc(l.n * sizeof *lat);
	size_t nl = 0;
	pthread_t th;
	double t0 = now_s();
	pthread_create(&th, NULL, producer, &l);
	uint64_t after = base;
	while (nl < l.n) {
		uint64_t last = after;
		c.nseqs = 0;
		c360_feed_read(l.st, "staging", after, 4096, on_ev, &c, &last);
		if (last == after) {
			if (__atomic_load_n(&l.produced, __ATOMIC_ACQUIRE) >= l.n &&
			    c360_feed_wait(l.st, "staging", after, 200) == C360_ERR_TIMEOUT)
				break;
			c360_feed_wait(l.st, "staging", after, 50);
			continue;
		}
		c360_integrate_flush(ig);
		double t = now_s();
		for (size_t i = 0; i < c.nseqs && nl < l.n; i++) {
			int64_t tc = c.seqs[i] < l.tcap
					     ? __atomic_load_n(&l.t_commit[c.seqs[i]], __ATOMIC_ACQUIRE)
					     : 0;
			if (tc > 0)
				lat[nl++] = t - (double)tc / 1e9;
		}
		after = last;
	}
	double secs = now_s() - t0;
	pthread_join(th, NULL);
	qsort(lat, nl, sizeof *lat, cmp_d);
	struct c360_integrate_stats s;
	c360_integrate_get_stats(ig, &s);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("{\"records\":%zu,\"measured\":%zu,\"rate\":%.0f,\"seconds\":%.3f,\"per_second\":%.0f,"
	       "\"p50_ms\":%.2f,\"p99_ms\":%.2f,\"max_ms\":%.2f,\"customers_written\":%" PRIu64
	       ",\"rss_mb\":%.0f}\n",
	       l.n, nl, rate, secs, (double)l.n / secs, nl ? lat[nl / 2] * 1e3 : 0,
	       nl ? lat[(size_t)((double)nl * 0.99)] * 1e3 : 0, nl ? lat[nl - 1] * 1e3 : 0,
	       s.customers_written, (double)ru.ru_maxrss / 1024);
	c360_integrate_free(ig);
	c360_store_close(l.st);
	c360_imap_free(m);
	free(lat);
	free(c.seqs);
	free(l.t_commit);
	free(l.r);
	free(text);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && !strcmp(argv[1], "gen"))
		return gen((uint32_t)strtoul(argv[2], NULL, 10), argv[3]);
	if (argc >= 4 && !strcmp(argv[1], "load"))
		return load(argv[2], argv[3]);
	if (argc >= 6 && !strcmp(argv[1], "latency"))
		return latency(argv[2], argv[3], argv[4], strtod(argv[5], NULL),
			       argc >= 7 ? strtoul(argv[6], NULL, 10) : 0);
	fprintf(stderr, "usage: bench_integration gen N FIXTURE.json > staging.tsv\n"
			"       bench_integration load STORE staging.tsv\n"
			"       bench_integration latency STORE staging.tsv MAPPING.yaml RATE [MAX]\n");
	return 2;
}
