/* The online-store poller as a pipeline source: each pass polls the
 * customers the refresh policy picks (changed in staging, or older than
 * max_age, never more often than min_interval) and writes the online_store
 * xrefs, orders and products. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sources/rest/pollrun.h"
#include "sources/source.h"
#include "core/banned.h"

struct rest_source {
	const struct c360_source_ctx *ctx;
	struct c360_pollrun_opts o;
	_Atomic uint64_t polled, failed, orders, products, not_found;
};

static c360_rc rest_create(const struct c360_source_ctx *ctx, void **inst, char *err,
			   size_t errlen)
{
	static const char *const keys[] = {"base_url", "bucket", "emails_from", "staging",
					   "concurrency", "rate", "max_age", "min_interval",
					   "timeout", NULL};
	struct rest_source *r = calloc(1, sizeof *r);
	if (!r)
		return C360_ERR_NOMEM;
	r->ctx = ctx;
	c360_pollrun_opts_init(&r->o);
	int64_t conc = r->o.poller.concurrency, rate = 0, timeout = r->o.poller.timeout_ms / 1000;
	c360_rc rc = c360_source_known_keys(ctx, keys, err, errlen);
	if (!rc)
		rc = c360_source_str(ctx, "base_url", true, &r->o.poller.base_url, err, errlen);
	const char *env = getenv("C360_ONLINE_STORE_URL");
	if (!rc && env && *env)
		r->o.poller.base_url = env;
	if (!rc)
		rc = c360_source_str(ctx, "bucket", false, &r->o.bucket, err, errlen);
	if (!rc)
		rc = c360_source_str(ctx, "emails_from", false, &r->o.emails_from, err, errlen);
	if (!rc)
		rc = c360_source_str(ctx, "staging", false, &r->o.staging, err, errlen);
	if (!rc)
		rc = c360_source_int(ctx, "concurrency", 1, 1024, &conc, err, errlen);
	if (!rc)
		rc = c360_source_int(ctx, "rate", 0, 1000000, &rate, err, errlen);
	if (!rc)
		rc = c360_source_duration(ctx, "max_age", &r->o.max_age_s, err, errlen);
	if (!rc)
		rc = c360_source_duration(ctx, "min_interval", &r->o.min_interval_s, err, errlen);
	if (!rc)
		rc = c360_source_duration(ctx, "timeout", &timeout, err, errlen);
	if (rc) {
		free(r);
		return rc;
	}
	r->o.poller.concurrency = (int)conc;
	r->o.poller.rate = (double)rate;
	r->o.poller.timeout_ms = (int)(timeout > 0 ? timeout * 1000 : r->o.poller.timeout_ms);
	*inst = r;
	return C360_OK;
}

static c360_rc rest_run_once(void *inst, const volatile int *stop, struct c360_source_pass *pass,
			     char *err, size_t errlen)
{
	struct rest_source *r = inst;
	(void)stop;
	struct c360_pollrun_stats st = {0};
	c360_rc rc = c360_pollrun(r->ctx->st, &r->o, &st, err, errlen);
	r->polled += st.polled;
	r->failed += st.failed + st.write_errors;
	r->orders += st.orders;
	r->products += st.products;
	r->not_found += st.not_found;
	pass->records = st.polled + st.not_found + st.failed;
	pass->written = st.created + st.updated + st.orders + st.products;
	pass->failed = st.failed + st.write_errors;
	pass->seconds = st.seconds;
	snprintf(pass->note, sizeof pass->note,
		 "%llu customers polled, %llu unknown to the store, %llu orders, %llu products",
		 (unsigned long long)st.polled, (unsigned long long)st.not_found,
		 (unsigned long long)st.orders, (unsigned long long)st.products);
	return rc;
}

static void rest_collect(void *inst, struct c360_metrics_out *out)
{
	struct rest_source *r = inst;
	char labels[128];
	snprintf(labels, sizeof labels, "source=%s,type=rest", r->ctx->src->name);
	c360_metric_counter(out, "c360_source_records_in_total", "records read by a source",
			    labels, (double)(r->polled + r->not_found));
	c360_metric_counter(out, "c360_source_records_written_total",
			    "documents written by a source", labels,
			    (double)(r->polled + r->orders + r->products));
	c360_metric_counter(out, "c360_source_records_failed_total",
			    "records a source could not write (see its error log)", labels,
			    (double)r->failed);
}

static void rest_free(void *inst)
{
	free(inst);
}

const struct c360_source_ops c360_source_rest = {
	.type = "rest",
	.create = rest_create,
	.run_once = rest_run_once,
	.collect = rest_collect,
	.free = rest_free,
};
