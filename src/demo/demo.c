/* c360 demo: generate → produce to Kafka → ingest (Kafka sink, CSV import)
 * → integrate (native function, fetching from the online store) → check
 * against the truth → summary → serve. The pipeline is the real one
 * (pipeline/config.h, sources/source.h, pipeline/run.h), from a pipeline
 * file the demo writes into its folder. */
#include "demo/demo.h"

#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/json.h"
#include "core/log.h"
#include "core/metrics.h"
#include "demo/cdc.h"
#include "demo/embedded.h"
#include "demo/outside.h"
#include "integrate/integrate.h"
#include "pipeline/config.h"
#include "serve/api.h"
#include "serve/http.h"
#include "sources/kafka/dbzgen.h"
#include "sources/rest/mockstore.h"
#include "sources/source.h"
#include "core/banned.h"

#define TOPIC "dbserver1.inventory.customers"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static c360_rc write_text(const char *path, const char *text, char *err, size_t errlen)
{
	FILE *f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		snprintf(err, errlen, "cannot write '%s': %s", path, strerror(errno));
		if (f)
			fclose(f);
		return C360_ERR_IO;
	}
	return C360_OK;
}

/* ---- live progress of a stage (a thread printing one updating line) ---- */

struct progress {
	FILE *out;
	const char *stage;
	const char *unit;
	c360_store *st;
	const char *bucket; /* count = the bucket's high seqno */
	double t0;
	volatile int done;
	pthread_t thread;
	bool running;
};

static void *progress_thread(void *arg)
{
	struct progress *p = arg;
	while (!p->done) {
		uint64_t n = 0;
		if (p->st)
			c360_feed_high_seqno(p->st, p->bucket, &n);
		double dt = now_s() - p->t0;
		fprintf(p->out, "\r  %-10s %10" PRIu64 " %s  %6.1f s  %8.0f/s ", p->stage, n, p->unit,
			dt, dt > 0 ? (double)n / dt : 0.0);
		fflush(p->out);
		usleep(200 * 1000);
	}
	fprintf(p->out, "\r%70s\r", "");
	return NULL;
}

static void progress_start(struct progress *p, const struct c360_demo_opts *o, const char *stage,
			   c360_store *st, const char *bucket, const char *unit)
{
	memset(p, 0, sizeof *p);
	p->out = o->out;
	p->stage = stage;
	p->st = st;
	p->bucket = bucket;
	p->unit = unit;
	p->t0 = now_s();
	if (o->progress && !pthread_create(&p->thread, NULL, progress_thread, p))
		p->running = true;
}

static void progress_end(struct progress *p)
{
	p->done = 1;
	if (p->running)
		pthread_join(p->thread, NULL);
}

static void stage_done(const struct c360_demo_opts *o, struct c360_demo_result *res,
		       const char *name, double t0, uint64_t items, const char *unit,
		       const char *fmt, ...) __attribute__((format(printf, 7, 8)));

/* Whether a stop (Ctrl-C) came during the stage just run: then the demo
 * ends there, says so, and checks nothing (a half-ingested store is not a
 * wrong result). */
static bool stopped(const struct c360_demo_opts *o, struct c360_demo_result *res,
		    const char *stage, char *err, size_t errlen)
{
	if (!o->stop || !*o->stop)
		return false;
	res->interrupted = true;
	snprintf(err, errlen,
		 "interrupted during '%s', before the pipeline finished: nothing was checked; "
		 "what was ingested so far is in %s (run the demo again to see it through)",
		 stage, res->dir);
	return true;
}

/* resident memory now (MB), from /proc/self/statm; 0 if unknown */
static double rss_now_mb(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long size = 0, resident = 0;
	if (!f)
		return 0;
	if (fscanf(f, "%lu %lu", &size, &resident) != 2)
		resident = 0;
	fclose(f);
	return (double)resident * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

static void stage_done(const struct c360_demo_opts *o, struct c360_demo_result *res,
		       const char *name, double t0, uint64_t items, const char *unit,
		       const char *fmt, ...)
{
	double dt = now_s() - t0;
	/* what the stage freed (much of it in its threads' malloc arenas, which
	 * the next stage does not use) goes back to the system */
	malloc_trim(0);
	if (res->nstages < (int)(sizeof res->stages / sizeof *res->stages))
		res->stages[res->nstages++] = (struct c360_demo_stage){name, dt, items, unit};
	char detail[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof detail, fmt, ap);
	va_end(ap);
	fprintf(o->out, "  %-10s %7.2f s %9.0f %s/s  %4.0f MB  %s\n", name, dt,
		dt > 0 ? (double)items / dt : 0.0, unit, rss_now_mb(), detail);
	fflush(o->out);
}

/* ---- the data sets ---- */

static c360_rc fill_online_store(const struct c360_retailer *r, c360_mockstore *ms,
				 uint64_t *customers, uint64_t *orders)
{
	struct c360_buf b;
	c360_buf_init(&b, 0);
	c360_rc rc = C360_OK;
	for (uint32_t pid = 0; pid < r->products && !rc; pid++) {
		struct c360_product prod;
		if (!c360_retailer_product(r, 100 + pid * 10, &prod))
			continue;
		c360_buf_reset(&b);
		rc = c360_demo_product_json(&prod, &b);
		if (!rc)
			rc = c360_mockstore_add_product(ms, prod.product_id, c360_buf_cstr(&b));
	}
	for (uint32_t i = 0; i < r->customers && !rc; i++) {
		struct c360_person p;
		c360_retailer_person(r, i, &p);
		if (!p.in_online)
			continue;
		char name[64];
		snprintf(name, sizeof name, "%s %s", p.first, p.last);
		rc = c360_mockstore_add_customer(ms, p.online_id, name, p.online_email,
						 p.online_pass);
		(*customers)++;
		for (unsigned k = 0; k < p.orders && !rc; k++) {
			struct c360_order o;
			c360_retailer_order(r, &p, k, &o);
			c360_buf_reset(&b);
			rc = c360_demo_order_json(&o, &b);
			if (!rc)
				rc = c360_mockstore_add_order(ms, p.online_id, c360_buf_cstr(&b));
			(*orders)++;
		}
	}
	c360_buf_release(&b);
	return rc;
}

/* ---- the outside world, each in a process of its own ---- */

static c360_rc online_start(void *arg, void **state, char *reply, size_t replylen, char *err,
			    size_t errlen)
{
	const struct c360_retailer *r = arg;
	struct c360_mockstore_opts mo = {.threads = 4};
	c360_mockstore *ms = NULL;
	uint64_t customers = 0, orders = 0;
	c360_rc rc = c360_mockstore_new(&mo, &ms, err, errlen);
	if (!rc)
		rc = fill_online_store(r, ms, &customers, &orders);
	if (!rc)
		rc = c360_mockstore_start(ms, err, errlen);
	if (rc) {
		c360_mockstore_free(ms);
		return rc;
	}
	snprintf(reply, replylen, "%" PRIu64 " %" PRIu64 " %s", customers, orders,
		 c360_mockstore_url(ms));
	*state = ms;
	return C360_OK;
}

static void online_stop(void *state)
{
	c360_mockstore_free(state);
}

static c360_rc kafka_start(void *arg, void **state, char *reply, size_t replylen, char *err,
			   size_t errlen)
{
	int partitions = *(const int *)arg;
	c360_kafka_mock *km = NULL;
	c360_rc rc = c360_kafka_mock_new(1, &km, err, errlen);
	if (!rc && (rc = c360_kafka_mock_topic(km, TOPIC, partitions)))
		snprintf(err, errlen, "cannot create the topic '%s'", TOPIC);
	if (rc) {
		c360_kafka_mock_free(km);
		return rc;
	}
	snprintf(reply, replylen, "%s", c360_kafka_mock_bootstraps(km));
	*state = km;
	return C360_OK;
}

static void kafka_stop(void *state)
{
	c360_kafka_mock_free(state);
}

/* ---- the result ---- */

static int count_coverage(const struct c360_feed_event *ev, void *ctx)
{
	struct c360_demo_result *res = ctx;
	if (ev->op != C360_FEED_MUTATION)
		return 0;
	if (ev->key_len > 7 && !memcmp(ev->key, "order::", 7)) {
		res->orders++;
		return 0;
	}
	if (ev->key_len > 9 && !memcmp(ev->key, "product::", 9))
		return 0;
	c360_json_doc *d = NULL;
	if (c360_json_parse(ev->value, ev->value_len, NULL, &d, NULL))
		return 0;
	unsigned bits = 0;
	const c360_json *xrefs = c360_json_get(c360_json_doc_root(d), "xrefs");
	for (c360_json *x = c360_json_first(xrefs); x; x = c360_json_next(x)) {
		const char *sys = c360_json_str(c360_json_get(x, "external_system"), NULL);
		if (!sys)
			continue;
		if (!strcmp(sys, "home_delivery"))
			bits |= 1;
		else if (!strcmp(sys, "loyalty"))
			bits |= 2;
		else if (!strcmp(sys, "online_store"))
			bits |= 4;
	}
	c360_json_doc_free(d);
	res->customers++;
	for (int s = 0; s < 3; s++)
		res->by_system[s] += (bits >> s) & 1;
	res->overlap[bits]++;
	return 0;
}

static void print_summary(const struct c360_demo_opts *o, const struct c360_demo_result *res,
			  c360_store *st, const struct c360_retailer *r)
{
	FILE *out = o->out;
	const char *names[3] = {"home_delivery", "loyalty", "online_store"};
	fprintf(out, "\nsummary\n");
	fprintf(out, "  customers        %10" PRIu64 "  (one document per person, key = email)\n",
		res->customers);
	fprintf(out, "  orders           %10" PRIu64 "\n", res->orders);
	for (int s = 0; s < 3; s++)
		fprintf(out, "  %-16s %10" PRIu64 "  %5.1f%% of customers\n", names[s],
			res->by_system[s],
			res->customers ? 100.0 * (double)res->by_system[s] / (double)res->customers : 0);
	fprintf(out, "  overlaps:");
	static const char *const combo[8] = {"none", "home only", "loyalty only", "home+loyalty",
					     "online only", "home+online", "loyalty+online",
					     "all three"};
	for (int b = 1; b < 8; b++)
		if (res->overlap[b])
			fprintf(out, "  %s %" PRIu64, combo[b], res->overlap[b]);
	fprintf(out, "\n  pipeline time    %10.2f s   (ingest + integrate)\n", res->pipeline_seconds);
	fprintf(out, "  peak memory      %10.1f MB  (c360; the outside systems in their own processes: "
		     "mock Kafka %.1f MB, mock online store %.1f MB)\n",
		(double)res->peak_rss_kb / 1024.0, (double)res->kafka_rss_kb / 1024.0,
		(double)res->online_rss_kb / 1024.0);
	if (res->verify.failures)
		fprintf(out, "  check            FAILED: %" PRIu64 " differences from the truth; first: %s\n",
			res->verify.failures, res->verify.first_failure);
	else
		fprintf(out,
			"  check            ok: %" PRIu64 " people, %" PRIu64 " customer documents, %" PRIu64
			" orders match the generator's truth\n",
			res->verify.people, res->verify.customers, res->verify.orders);

	/* an example: the first person known to all three systems, with orders */
	for (uint32_t i = 0; i < r->customers; i++) {
		struct c360_person p;
		c360_retailer_person(r, i, &p);
		if (!(p.in_home && !p.home_deleted && p.in_loyalty && p.in_online && p.orders))
			continue;
		struct c360_doc d = {0};
		if (c360_store_get(st, "customer360", p.email, strlen(p.email), &d))
			break;
		c360_json_doc *jd = NULL;
		if (!c360_json_parse(d.value, d.value_len, NULL, &jd, NULL)) {
			char *pretty = c360_json_write_str(c360_json_doc_root(jd), C360_JSON_PRETTY, NULL);
			fprintf(out, "\nexample customer 360 document (KEY: %s)\n%s\n", p.email,
				pretty ? pretty : "");
			free(pretty);
		}
		c360_json_doc_free(jd);
		c360_doc_release(&d);
		break;
	}
}

/* ---- serving ---- */

static void metrics_route(const struct c360_http_req *req, struct c360_http_resp *resp, void *ctx)
{
	(void)req;
	resp->content_type = "text/plain; version=0.0.4";
	if (c360_metrics_render(ctx, &resp->body))
		c360_http_error(resp, 500, "internal", "cannot render the metrics");
}

static c360_rc serve(const struct c360_demo_opts *o, struct c360_demo_result *res, c360_store *st,
		     c360_metrics *metrics, char *err, size_t errlen)
{
	struct c360_http_opts ho = {.bind = o->bind ? o->bind : "127.0.0.1", .port = o->port};
	c360_http *h = c360_http_new(&ho);
	c360_api *api = NULL;
	if (!h)
		return C360_ERR_NOMEM;
	c360_rc rc = c360_api_check_exposure(st, ho.bind, false, err, errlen);
	if (!rc)
		rc = c360_api_routes(h, st, NULL, &api, err, errlen);
	if (!rc)
		rc = c360_metrics_add(metrics, c360_http_collect, h);
	if (!rc)
		rc = c360_http_route(h, "GET", "/metrics", C360_HTTP_OPEN, metrics_route, metrics);
	if (!rc)
		rc = c360_http_start(h, err, errlen);
	if (!rc) {
		snprintf(res->url, sizeof res->url, "http://%s:%d/", ho.bind, c360_http_port(h));
		fprintf(o->out,
			"\ndashboard and API: %s  (API under %sapi/v1, /metrics, /health)\n"
			"Ctrl-C stops the demo; the store stays in %s\n",
			res->url, res->url, res->dir);
		fflush(o->out);
		while (!(o->stop && *o->stop))
			usleep(100 * 1000);
	}
	c360_metrics_remove(metrics, c360_http_collect, h);
	c360_http_free(h);
	c360_api_free(api);
	return rc;
}

/* ---- the run ---- */

c360_rc c360_demo_run(const struct c360_demo_opts *opts, struct c360_demo_result *res,
		      char *err, size_t errlen)
{
	struct c360_demo_opts o = *opts;
	memset(res, 0, sizeof *res);
	if (!o.out)
		o.out = stdout;
	struct c360_retailer r;
	c360_retailer_init(&r, o.customers);
	if (o.seed)
		r.seed = o.seed;

	c360_rc rc = C360_OK;
	struct c360_outside online = {.pid = -1, .ctl = -1}, kafka = {.pid = -1, .ctl = -1};
	c360_store *st = NULL;
	c360_sources *sources = NULL;
	c360_metrics *metrics = NULL;
	struct c360_pipeline_config *cfg = NULL;
	char path[1100];

	if (o.dir) {
		snprintf(res->dir, sizeof res->dir, "%s", o.dir);
		if (mkdir(o.dir, 0755) && errno != EEXIST) {
			snprintf(err, errlen, "cannot create '%s': %s", o.dir, strerror(errno));
			return C360_ERR_IO;
		}
	} else {
		snprintf(res->dir, sizeof res->dir, "/tmp/c360-demo-XXXXXX");
		if (!mkdtemp(res->dir)) {
			snprintf(err, errlen, "cannot create a folder in /tmp: %s", strerror(errno));
			return C360_ERR_IO;
		}
	}
	fprintf(o.out, "c360 demo: %u customers, work folder %s\n\n", r.customers, res->dir);

	/* 1. generate: the loyalty export and the online store's data */
	double t0 = now_s();
	snprintf(path, sizeof path, "%s/loyalty", res->dir);
	if (mkdir(path, 0755) && errno != EEXIST) {
		snprintf(err, errlen, "cannot create '%s': %s", path, strerror(errno));
		return C360_ERR_IO;
	}
	uint64_t loyalty_rows = 0, online_customers = 0, online_orders = 0;
	snprintf(path, sizeof path, "%s/loyalty/loyalty_members.csv", res->dir);
	rc = c360_demo_write_loyalty_csv(&r, path, &loyalty_rows, err, errlen);
	if (!rc)
		rc = c360_outside_start(&online, "the mock online store", online_start, online_stop, &r,
					err, errlen);
	if (rc)
		goto out;
	char online_url[300] = "";
	if (sscanf(online.reply, "%" SCNu64 " %" SCNu64 " %299s", &online_customers, &online_orders,
		   online_url) != 3) {
		snprintf(err, errlen, "the mock online store answered '%s'", online.reply);
		rc = C360_ERR_INTERNAL;
		goto out;
	}
	setenv("C360_ONLINE_STORE_URL", online_url, 1);
	stage_done(&o, res, "generate", t0, loyalty_rows + online_customers, "records",
		   "loyalty CSV %" PRIu64 " rows; online store %" PRIu64 " customers, %" PRIu64
		   " orders at %s (process %ld)",
		   loyalty_rows, online_customers, online_orders, online_url, (long)online.pid);

	/* 2. kafka: the home-delivery change events on a mock cluster */
	t0 = now_s();
	uint64_t home = 0;
	for (uint32_t i = 0; i < r.customers; i++) {
		struct c360_person p;
		c360_retailer_person(&r, i, &p);
		home += p.in_home;
	}
	/* the mock keeps about 5 MiB per partition: aim at 2 MiB (lz4 helps too) */
	int partitions = o.partitions > 0 ? o.partitions : (int)(home * 4000 / (2u << 20)) + 4;
	struct c360_demo_cdc_stats cs;
	rc = c360_outside_start(&kafka, "the mock Kafka cluster", kafka_start, kafka_stop,
				&partitions, err, errlen);
	const char *bootstraps = kafka.reply;
	if (!rc)
		rc = c360_demo_cdc_produce(&r, bootstraps, TOPIC, &cs, err, errlen);
	if (rc)
		goto out;
	stage_done(&o, res, "kafka", t0, cs.produced, "events",
		   "%" PRIu64 " Debezium events (%" PRIu64 " creates, %" PRIu64 " updates, %" PRIu64
		   " deletes + tombstones) on %s, %d partitions, all %" PRIu64 " on the topic",
		   cs.produced, cs.creates, cs.updates, cs.deletes, TOPIC, partitions, cs.on_topic);

	/* the pipeline file, as a user would write it */
	snprintf(path, sizeof path, "%s/home-delivery-sink.json", res->dir);
	rc = write_text(path, c360_embedded_find("home-delivery-sink.json"), err, errlen);
	snprintf(path, sizeof path, "%s/customer360.yaml", res->dir);
	if (!rc)
		rc = write_text(path, c360_embedded_find("customer360.yaml"), err, errlen);
	char yaml[2048];
	char store_path[600];
	snprintf(store_path, sizeof store_path, "%s", o.store ? o.store : "c360.db");
	snprintf(yaml, sizeof yaml,
		 "# written by c360 demo: `c360 run pipeline.yaml --once` runs it again\n"
		 "# (while the demo runs: its Kafka and online store live in the demo process)\n"
		 "store: {path: '%s', synchronous: full}\n"
		 "buckets:\n  staging: {}\n  customer360: {}\n  customer360_metadata: {}\n"
		 "sources:\n"
		 "  - name: home-delivery\n"
		 "    kafka:\n"
		 "      connector: home-delivery-sink.json\n"
		 "      bootstrap.servers: '%s'\n"
		 "      group.id: c360-demo\n"
		 "      auto.offset.reset: earliest\n"
		 "      session.timeout.ms: 6000   # the mock cluster notices a leaving member only then\n"
		 "      queued.max.messages.kbytes: 32768   # each task's prefetch (librdkafka: 65536)\n"
		 "  - name: loyalty\n"
		 "    csv: {dir: loyalty, bucket: staging, key: 'loyalty-member-%%id%%', expiry: 25h}\n"
		 "    schedule: daily 02:00\n"
		 "functions:\n"
		 "  - native: customer360.yaml\n"
		 "serve: {bind: '%s', port: %d}\n",
		 store_path, bootstraps, o.bind ? o.bind : "127.0.0.1", o.port);
	snprintf(path, sizeof path, "%s/pipeline.yaml", res->dir);
	if (!rc)
		rc = write_text(path, yaml, err, errlen);
	if (!rc)
		rc = c360_pipeline_load(path, &cfg, err, errlen);
	if (rc)
		goto out;
	struct c360_store_opts so;
	c360_store_opts_init(&so);
	so.synchronous = cfg->synchronous;
	char serr[256] = "";
	if ((rc = c360_store_open(cfg->store_path, &so, &st, serr, sizeof serr))) {
		snprintf(err, errlen, "cannot open store '%s': %s", cfg->store_path, serr);
		goto out;
	}
	for (int i = 0; i < cfg->nbuckets && !rc; i++)
		rc = c360_store_bucket_ensure(st, cfg->buckets[i].name, cfg->buckets[i].max_ttl);
	metrics = c360_metrics_new();
	if (!rc && !metrics)
		rc = C360_ERR_NOMEM;
	if (!rc)
		rc = c360_sources_new(st, cfg, metrics, &sources, err, errlen);
	if (rc)
		goto out;

	/* 3. ingest: the Kafka sink to the end of the topic, the CSV import */
	double p0 = now_s();
	for (size_t i = 0; i < c360_sources_count(sources); i++) {
		const struct c360_source *src = c360_sources_get(sources, i);
		struct c360_source_pass pass;
		struct progress pg;
		t0 = now_s();
		progress_start(&pg, &o, src->name, st, "staging", "staged");
		rc = c360_sources_run_once(sources, i, o.stop, &pass, err, errlen);
		progress_end(&pg);
		if (!rc && stopped(&o, res, src->name, err, errlen))
			rc = C360_ERR_STATE;
		if (rc)
			goto out;
		stage_done(&o, res, src->type == C360_SOURCE_KAFKA ? "kafka-sink" : "csv-import", t0,
			   pass.records, "records",
			   "%s: %" PRIu64 " records, %" PRIu64 " written, %" PRIu64 " failed%s%s",
			   src->name, pass.records, pass.written, pass.failed,
			   pass.note[0] ? "; " : "", pass.note);
	}

	/* 4. integrate: the native Customer 360 mapping over staging, caught up.
	 * The demo runs the engine's batched fast path (`c360 integrate run`):
	 * each batch's online-store lookups go out concurrently and its
	 * customers commit in one transaction. `c360 run` runs the same engine
	 * as an eventing function. */
	t0 = now_s();
	struct c360_integrate_stats is = {0};
	struct progress pg;
	c360_imap *map = NULL;
	c360_integrate *ig = NULL;
	snprintf(path, sizeof path, "%s/customer360.yaml", res->dir);
	rc = c360_imap_load_file(path, &map, err, errlen);
	struct c360_integrate_opts io = {.name = "customer360"};
	if (!rc)
		rc = c360_integrate_new(st, map, &io, &ig, err, errlen);
	if (!rc) {
		struct c360_integrate_follow_opts fo = {.exit_when_idle = true,
							.stop = (volatile int *)o.stop};
		progress_start(&pg, &o, "integrate", st, "customer360", "writes");
		rc = c360_integrate_follow(ig, &fo, err, errlen);
		progress_end(&pg);
		c360_integrate_get_stats(ig, &is);
	}
	c360_integrate_free(ig);
	c360_imap_free(map);
	if (!rc && stopped(&o, res, "integrate", err, errlen))
		rc = C360_ERR_STATE;
	if (rc)
		goto out;
	res->pipeline_seconds = now_s() - p0;
	stage_done(&o, res, "integrate", t0, is.processed, "changes",
		   "%" PRIu64 " staging changes, %" PRIu64 " customers written, %" PRIu64
		   " online-store lookups (%" PRIu64 " failed), %" PRIu64 " orders, %" PRIu64
		   " failures",
		   is.processed, is.customers_written, is.online_fetches, is.online_failures,
		   is.orders_written, is.failures);

	/* 5. check and summary */
	t0 = now_s();
	rc = c360_demo_verify(st, &r, "customer360", "order::", &res->verify);
	if (!rc)
		rc = c360_feed_read(st, "customer360", 0, 0, count_coverage, res, NULL);
	if (rc) {
		snprintf(err, errlen, "cannot read customer360: %s", c360_rc_str(rc));
		goto out;
	}
	stage_done(&o, res, "check", t0, res->verify.people, "people", "against the generator's truth");
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	res->peak_rss_kb = ru.ru_maxrss;
	res->kafka_rss_kb = c360_outside_peak_kb(&kafka);
	res->online_rss_kb = c360_outside_peak_kb(&online);
	print_summary(&o, res, st, &r);

	/* 6. serve until Ctrl-C */
	if (o.serve && !(o.stop && *o.stop))
		rc = serve(&o, res, st, metrics, err, errlen);
	if (!rc && res->verify.failures) {
		snprintf(err, errlen, "the result differs from the truth in %" PRIu64 " places; first: %s",
			 res->verify.failures, res->verify.first_failure);
		rc = C360_ERR_INTERNAL;
	}
out:
	c360_sources_free(sources);
	c360_metrics_free(metrics);
	c360_store_close(st);
	c360_pipeline_free(cfg);
	c360_outside_stop(&kafka);
	c360_outside_stop(&online);
	return rc;
}
