/* The Kafka sink as a pipeline source. Its settings are the connector's:
 * `connector: FILE` names the tutorial's connector JSON (as POSTed to Kafka
 * Connect), and any other key is a connector or librdkafka key that is added
 * or overrides the file's (bootstrap.servers, group.id, topics, …). */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "sources/kafka/kconfig.h"
#include "sources/kafka/sink.h"
#include "sources/source.h"
#include "core/banned.h"

struct kafka_source {
	const struct c360_source_ctx *ctx;
	struct c360_kafka_config *cfg;
	c360_kafka_sink *sink;       /* the continuous sink, while started */
	struct c360_kafka_metrics done; /* of sinks that finished (run_once) */
	char who[80];
};

static void warn(const char *msg, void *ctx)
{
	struct kafka_source *k = ctx;
	C360_WARN(k->who, "%s", msg);
}

/* Copies a JSON scalar as the string Kafka Connect would give. */
static c360_json *as_config_value(c360_json_doc *doc, const c360_json *v)
{
	size_t len;
	const char *s = c360_json_str(v, &len);
	if (s)
		return c360_json_new_str(doc, s, len);
	return c360_json_copy(doc, v);
}

static c360_rc build_config(struct kafka_source *k, char *err, size_t errlen)
{
	const struct c360_source_ctx *ctx = k->ctx;
	const c360_json *settings = ctx->src->settings;
	c360_json_doc *doc = c360_json_doc_new();
	c360_json_doc *file = NULL;
	if (!doc)
		return C360_ERR_NOMEM;
	c360_json *root = c360_json_new_object(doc), *conf = c360_json_new_object(doc);
	c360_rc rc = root && conf ? C360_OK : C360_ERR_NOMEM;
	const char *connector = NULL;
	if (!rc)
		rc = c360_source_str(ctx, "connector", false, &connector, err, errlen);
	if (!rc && connector) {
		char path[4096];
		c360_pipeline_path(ctx->cfg, connector, path, sizeof path);
		struct c360_buf b;
		c360_buf_init(&b, 1u << 20);
		if (c360_buf_read_file(&b, path))
			rc = c360_pipeline_fail(ctx->cfg, c360_json_get(settings, "connector"), err,
						errlen, "cannot read connector file '%s'", path);
		char rerr[400];
		if (!rc && c360_kafka_config_read(path, c360_buf_cstr(&b), b.len, &file, rerr, sizeof rerr))
			rc = c360_pipeline_fail(ctx->cfg, c360_json_get(settings, "connector"), err,
						errlen, "connector file %s", rerr);
		c360_buf_release(&b);
		if (!rc) {
			const c360_json *froot = c360_json_doc_root(file);
			const c360_json *fconf = c360_json_get(froot, "config");
			const c360_json *fname = c360_json_get(froot, "name");
			if (fname)
				rc = c360_json_set(doc, root, "name", 4, c360_json_copy(doc, fname));
			for (c360_json *m = c360_json_first(fconf ? fconf : froot); m && !rc;
			     m = c360_json_next(m)) {
				size_t kl;
				const char *key = c360_json_key(m, &kl);
				if (!fconf && kl == 4 && !memcmp(key, "name", 4))
					continue;
				rc = c360_json_set(doc, conf, key, kl, c360_json_copy(doc, m));
			}
		}
	}
	for (c360_json *m = c360_json_first(settings); m && !rc; m = c360_json_next(m)) {
		size_t kl;
		const char *key = c360_json_key(m, &kl);
		if (kl == 9 && !memcmp(key, "connector", 9))
			continue;
		rc = c360_json_set(doc, conf, key, kl, as_config_value(doc, m));
	}
	if (!rc && !c360_json_get(root, "name"))
		rc = c360_json_set(doc, root, "name", 4,
				   c360_json_new_str(doc, ctx->src->name, strlen(ctx->src->name)));
	if (!rc)
		rc = c360_json_set(doc, root, "config", 6, conf);
	if (!rc) {
		char kerr[400] = "";
		rc = c360_kafka_config_parse(root, warn, k, &k->cfg, kerr, sizeof kerr);
		if (rc)
			c360_pipeline_fail(ctx->cfg, settings, err, errlen, "source '%s': %s",
					   ctx->src->name, kerr);
	}
	c360_json_doc_free(file);
	c360_json_doc_free(doc);
	return rc;
}

static c360_rc kafka_create(const struct c360_source_ctx *ctx, void **inst, char *err,
			    size_t errlen)
{
	struct kafka_source *k = calloc(1, sizeof *k);
	if (!k)
		return C360_ERR_NOMEM;
	k->ctx = ctx;
	snprintf(k->who, sizeof k->who, "kafka:%s", ctx->src->name);
	c360_rc rc = build_config(k, err, errlen);
	if (rc) {
		c360_kafka_config_free(k->cfg);
		free(k);
		return rc;
	}
	*inst = k;
	return C360_OK;
}

static c360_rc ensure_buckets(struct kafka_source *k)
{
	c360_rc rc = C360_OK;
	if (k->cfg->bucket)
		rc = c360_store_bucket_ensure(k->ctx->st, k->cfg->bucket, 0);
	return rc;
}

static c360_rc kafka_start(void *inst, char *err, size_t errlen)
{
	struct kafka_source *k = inst;
	c360_rc rc = ensure_buckets(k);
	if (!rc)
		rc = c360_kafka_sink_new(k->ctx->st, k->cfg, NULL, &k->sink, err, errlen);
	if (!rc)
		rc = c360_kafka_sink_start(k->sink, err, errlen);
	return rc;
}

static void add_metrics(struct c360_kafka_metrics *a, const struct c360_kafka_metrics *b)
{
	a->records_in += b->records_in;
	a->written += b->written;
	a->deleted += b->deleted;
	a->dead_lettered += b->dead_lettered;
	a->dlq_truncated += b->dlq_truncated;
	a->dlq_dropped += b->dlq_dropped;
	a->failed += b->failed;
	a->key_fallback += b->key_fallback;
	a->non_object += b->non_object;
	a->uncommitted += b->uncommitted;
	a->skipped += b->skipped;
	a->batches += b->batches;
	a->retries += b->retries;
}

static c360_rc kafka_run_once(void *inst, const volatile int *stop,
			      struct c360_source_pass *pass, char *err, size_t errlen)
{
	struct kafka_source *k = inst;
	struct c360_kafka_sink_opts o = {.exit_at_end = true};
	c360_kafka_sink *s = NULL;
	c360_rc rc = ensure_buckets(k);
	if (!rc)
		rc = c360_kafka_sink_new(k->ctx->st, k->cfg, &o, &s, err, errlen);
	if (!rc)
		rc = c360_kafka_sink_start(s, err, errlen);
	while (!rc) {
		rc = c360_kafka_sink_wait(s, 200);
		if (rc == C360_ERR_TIMEOUT) {
			rc = C360_OK;
			if (stop && *stop)
				c360_kafka_sink_stop(s);
			continue;
		}
		if (rc)
			c360_kafka_sink_error(s, err, errlen);
		break;
	}
	if (s) {
		struct c360_kafka_metrics m;
		c360_kafka_sink_metrics(s, &m);
		add_metrics(&k->done, &m);
		pass->records = m.records_in;
		pass->written = m.written + m.deleted;
		pass->failed = m.failed + m.dead_lettered;
		if (m.dead_lettered)
			snprintf(pass->note, sizeof pass->note, "%llu records dead-lettered",
				 (unsigned long long)m.dead_lettered);
		c360_kafka_sink_free(s);
	}
	return rc;
}

static c360_rc kafka_stop(void *inst)
{
	struct kafka_source *k = inst;
	if (!k->sink)
		return C360_OK;
	c360_kafka_sink_stop(k->sink);
	c360_rc rc = c360_kafka_sink_wait(k->sink, -1);
	if (rc && rc != C360_ERR_TIMEOUT) {
		char e[300];
		c360_kafka_sink_error(k->sink, e, sizeof e);
		C360_ERROR(k->who, "stopped with an error: %s", e);
	}
	struct c360_kafka_metrics m;
	c360_kafka_sink_metrics(k->sink, &m);
	add_metrics(&k->done, &m);
	c360_kafka_sink_free(k->sink);
	k->sink = NULL;
	return rc;
}

static void kafka_collect(void *inst, struct c360_metrics_out *out)
{
	struct kafka_source *k = inst;
	struct c360_kafka_metrics m = k->done;
	if (k->sink) {
		struct c360_kafka_metrics now;
		c360_kafka_sink_metrics(k->sink, &now);
		add_metrics(&m, &now);
	}
	char labels[128];
	snprintf(labels, sizeof labels, "source=%s,type=kafka", k->ctx->src->name);
	c360_metric_counter(out, "c360_source_records_in_total", "records read by a source",
			    labels, (double)m.records_in);
	c360_metric_counter(out, "c360_source_records_written_total",
			    "documents written by a source", labels, (double)(m.written + m.deleted));
	c360_metric_counter(out, "c360_source_records_failed_total",
			    "records a source could not write (see its error log)", labels,
			    (double)m.failed);
	c360_metric_counter(out, "c360_source_records_dead_lettered_total",
			    "records sent to the dead-letter topic", labels, (double)m.dead_lettered);
	c360_metric_counter(out, "c360_source_records_dead_letter_truncated_total",
			    "dead letters the topic refused whole, sent cut", labels, (double)m.dlq_truncated);
	c360_metric_counter(out, "c360_source_records_dead_letter_dropped_total",
			    "dead letters the topic refused even cut, skipped (see the error log)", labels,
			    (double)m.dlq_dropped);
	c360_metric_counter(out, "c360_source_records_key_fallback_total",
			    "Kafka records without a usable key (topic/partition/offset ids)", labels,
			    (double)m.key_fallback);
	c360_metric_counter(out, "c360_source_records_non_object_total",
			    "Kafka values that are JSON but not an object", labels, (double)m.non_object);
	c360_metric_counter(out, "c360_source_records_uncommitted_total",
			    "records written whose offsets could not be committed (read again)", labels,
			    (double)m.uncommitted);
}

static void kafka_free(void *inst)
{
	struct kafka_source *k = inst;
	kafka_stop(k);
	c360_kafka_config_free(k->cfg);
	free(k);
}

const struct c360_source_ops c360_source_kafka = {
	.type = "kafka",
	.create = kafka_create,
	.start = kafka_start,
	.run_once = kafka_run_once,
	.stop = kafka_stop,
	.collect = kafka_collect,
	.free = kafka_free,
};
