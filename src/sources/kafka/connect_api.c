/* Kafka-Connect-compatible /connectors API over c360's Kafka sinks, with the
 * connectors persisted in the system bucket and restarted at start-up. */
#include "sources/kafka/connect_api.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/log.h"
#include "sources/kafka/kconfig.h"
#include "core/banned.h"

#define KEY_PREFIX "connector::"
#define SINK_CLASS "com.couchbase.connect.kafka.CouchbaseSinkConnector"
#define PROBE_MS 3000 /* how long a start waits for the brokers' metadata */
#ifndef C360_COMMIT
#define C360_COMMIT "unknown"
#endif

struct conn {
	char *name;
	char *config_json; /* the "config" object as posted (compact JSON) */
	struct c360_kafka_config *cfg;
	c360_kafka_sink *sink;
	bool paused;
	bool stopped;      /* PUT .../stop: no sink until resume or restart */
	char error[512];   /* start error, when the sink could not start */
	struct conn *next;
};

struct c360_kafka_connect {
	c360_store *st;
	char *default_brokers;
	char cluster_id[128]; /* from the last broker probe that answered */
	pthread_mutex_t mu;
	struct conn *list;
};

static void kc_error(struct c360_http_resp *resp, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void kc_error(struct c360_http_resp *resp, int status, const char *fmt, ...)
{
	char msg[700];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	resp->status = status;
	c360_buf_reset(&resp->body);
	c360_buf_printf(&resp->body, "{\"error_code\":%d,\"message\":", status);
	c360_json_write_string(msg, strlen(msg), &resp->body);
	c360_buf_puts(&resp->body, "}\n");
}

static void warn_log(const char *msg, void *ctx)
{
	C360_WARN((const char *)ctx, "%s", msg);
}

static void conn_free(struct conn *c)
{
	if (!c)
		return;
	c360_kafka_sink_free(c->sink);
	c360_kafka_config_free(c->cfg);
	free(c->name);
	free(c->config_json);
	free(c);
}

static struct conn *find(c360_kafka_connect *kc, const char *name)
{
	for (struct conn *c = kc->list; c; c = c->next)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

/* Builds a connector from {"name", "config"} (or a config carrying name):
 * parses and validates, but does not start it. */
static c360_rc conn_make(c360_kafka_connect *kc, const c360_json *body, struct conn **out, char *err,
			 size_t errlen)
{
	*out = NULL;
	const c360_json *config = c360_json_get(body, "config");
	if (!c360_json_is_object(config)) {
		snprintf(err, errlen, "the body must be {\"name\": ..., \"config\": {...}}");
		return C360_ERR_INVALID;
	}
	char who[C360_KAFKA_NAME_MAX + 16];
	const char *nm = c360_json_str(c360_json_get(body, "name"), NULL);
	snprintf(who, sizeof who, "kafka:%s", nm ? nm : "?");
	struct c360_kafka_config *cfg = NULL;
	c360_rc rc = c360_kafka_config_parse(body, warn_log, who, &cfg, err, errlen);
	if (rc)
		return rc;
	if (!c360_json_get(config, "bootstrap.servers") && !c360_json_get(config, "consumer.override.bootstrap.servers") &&
	    kc->default_brokers)
		c360_kafka_config_set_rdkafka(cfg, "bootstrap.servers", kc->default_brokers);
	if (!c360_kafka_config_rdkafka(cfg, "bootstrap.servers"))
		C360_WARN(who, "connector '%s' has no 'bootstrap.servers' and the pipeline no "
			  "'connect: bootstrap.servers:': using librdkafka's default (localhost:9092); set one of them",
			  cfg->name);
	struct conn *c = calloc(1, sizeof *c);
	if (!c || !(c->name = strdup(cfg->name)) ||
	    !(c->config_json = c360_json_write_str(config, C360_JSON_COMPACT, NULL))) {
		if (c)
			free(c->name);
		free(c);
		c360_kafka_config_free(cfg);
		return C360_ERR_NOMEM;
	}
	c->cfg = cfg;
	c->paused = cfg->paused;
	*out = c;
	return C360_OK;
}

static void quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk, (void)level, (void)fac, (void)buf;
}

/* Asks the connector's brokers for their metadata, waiting at most PROBE_MS:
 * a sink whose brokers never answer would otherwise look RUNNING while
 * librdkafka retries in the background and nothing is consumed. Keeps the
 * cluster id for GET /. */
static c360_rc probe(c360_kafka_connect *kc, const struct c360_kafka_config *cfg, char *err, size_t errlen)
{
	char e[256];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	for (int i = 0; i < cfg->nrdkafka; i++)
		rd_kafka_conf_set(conf, cfg->rdkafka[i].key, cfg->rdkafka[i].value, e, sizeof e);
	rd_kafka_conf_set_log_cb(conf, quiet_log);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof e);
	if (!rk) {
		rd_kafka_conf_destroy(conf);
		snprintf(err, errlen, "cannot create a kafka client: %s", e);
		return C360_ERR_INVALID;
	}
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_resp_err_t r = rd_kafka_metadata(rk, 0, NULL, &md, PROBE_MS);
	const char *brokers = c360_kafka_config_rdkafka(cfg, "bootstrap.servers");
	if (r) {
		snprintf(err, errlen,
			 "cannot reach the kafka brokers '%s' within %d ms: %s; check bootstrap.servers (or "
			 "'connect: bootstrap.servers:' in the pipeline), then POST /connectors/%s/restart",
			 brokers ? brokers : "localhost:9092", PROBE_MS, rd_kafka_err2str(r), cfg->name);
	} else {
		rd_kafka_metadata_destroy(md);
		char *id = rd_kafka_clusterid(rk, 0);
		if (id) {
			snprintf(kc->cluster_id, sizeof kc->cluster_id, "%s", id);
			rd_kafka_mem_free(rk, id);
		}
	}
	rd_kafka_destroy(rk);
	return r ? C360_ERR_TIMEOUT : C360_OK;
}

/* Starts c's sink unless it is stopped; a connector whose brokers do not
 * answer gets no sink, and FAILED with the reason as its trace. */
static c360_rc conn_start(c360_kafka_connect *kc, struct conn *c)
{
	char err[512] = "";
	c->error[0] = 0;
	if (c->stopped)
		return C360_OK;
	c360_rc rc = probe(kc, c->cfg, err, sizeof err);
	if (rc) {
		snprintf(c->error, sizeof c->error, "%s", err);
		C360_ERROR("kafka-connect", "connector '%s' not started (FAILED): %s", c->name, err);
		return rc;
	}
	rc = c360_kafka_sink_new(kc->st, c->cfg, NULL, &c->sink, err, sizeof err);
	if (!rc) {
		if (c->paused)
			c360_kafka_sink_pause(c->sink, true);
		rc = c360_kafka_sink_start(c->sink, err, sizeof err);
	}
	if (rc) {
		c360_kafka_sink_free(c->sink);
		c->sink = NULL;
		snprintf(c->error, sizeof c->error, "%s", err);
		C360_ERROR("kafka-connect", "cannot start connector '%s': %s", c->name, err);
	}
	return rc;
}

/* Stops and frees c's sink (draining and committing); the caller holds mu. */
static void conn_halt(struct conn *c)
{
	c360_kafka_sink_stop(c->sink);
	c360_kafka_sink_free(c->sink);
	c->sink = NULL;
}

static c360_rc conn_save(c360_kafka_connect *kc, const struct conn *c)
{
	struct c360_buf b;
	c360_buf_init(&b, 0);
	c360_buf_puts(&b, "{\"name\":");
	c360_json_write_string(c->name, strlen(c->name), &b);
	c360_buf_printf(&b, ",\"config\":%s,\"paused\":%s,\"stopped\":%s}", c->config_json,
			c->paused ? "true" : "false", c->stopped ? "true" : "false");
	char key[C360_KAFKA_NAME_MAX + 16];
	snprintf(key, sizeof key, KEY_PREFIX "%s", c->name);
	c360_rc rc = c360_store_bucket_ensure(kc->st, C360_META_BUCKET, 0);
	if (!rc)
		rc = c360_store_upsert(kc->st, C360_META_BUCKET, key, strlen(key), b.data, b.len, 0, NULL);
	c360_buf_release(&b);
	return rc;
}

c360_rc c360_kafka_connect_new(c360_store *st, const char *default_brokers, c360_kafka_connect **out)
{
	struct c360_kafka_connect *kc = calloc(1, sizeof *kc);
	if (!kc)
		return C360_ERR_NOMEM;
	kc->st = st;
	if (default_brokers && !(kc->default_brokers = strdup(default_brokers))) {
		free(kc);
		return C360_ERR_NOMEM;
	}
	pthread_mutex_init(&kc->mu, NULL);
	*out = kc;
	return C360_OK;
}

c360_rc c360_kafka_connect_restore(c360_kafka_connect *kc, size_t *n)
{
	if (n)
		*n = 0;
	c360_rc rc = c360_store_bucket_ensure(kc->st, C360_META_BUCKET, 0);
	if (rc)
		return rc;
	struct c360_buf out;
	c360_buf_init(&out, 64u << 20);
	char err[256] = "";
	struct c360_query_opts qo = {.max_rows = 100000};
	rc = c360_store_query(kc->st,
			      "SELECT doc FROM " C360_META_BUCKET " WHERE key LIKE '" KEY_PREFIX "%' ORDER BY key",
			      &qo, &out, err, sizeof err);
	if (rc) {
		C360_ERROR("kafka-connect", "cannot list connectors: %s", *err ? err : c360_rc_str(rc));
		c360_buf_release(&out);
		return rc;
	}
	c360_json_doc *doc = NULL;
	rc = c360_json_parse(out.data, out.len, NULL, &doc, NULL);
	c360_buf_release(&out);
	if (rc)
		return rc;
	const c360_json *rows = c360_json_get(c360_json_doc_root(doc), "rows");
	for (const c360_json *row = c360_json_first(rows); row; row = c360_json_next(row)) {
		c360_json *d = c360_json_at(row, 0);
		bool paused = c360_json_bool(c360_json_get(d, "paused"));
		bool stopped = c360_json_bool(c360_json_get(d, "stopped"));
		if (c360_json_is_object(d)) { /* not connector keys */
			c360_json_remove(d, "paused", 6);
			c360_json_remove(d, "stopped", 7);
		}
		struct conn *c = NULL;
		char e[512] = "";
		if (c360_json_is_string(d)) { /* a text column: parse it */
			c360_json_doc *dd = NULL;
			size_t len;
			const char *s = c360_json_str(d, &len);
			if (c360_json_parse(s, len, NULL, &dd, NULL) == C360_OK)
				conn_make(kc, c360_json_doc_root(dd), &c, e, sizeof e);
			c360_json_doc_free(dd);
		} else {
			conn_make(kc, d, &c, e, sizeof e);
		}
		if (!c) {
			C360_ERROR("kafka-connect", "stored connector not restarted: %s", e);
			continue;
		}
		c->paused = paused || c->paused;
		c->stopped = stopped;
		pthread_mutex_lock(&kc->mu);
		if (find(kc, c->name)) {
			pthread_mutex_unlock(&kc->mu);
			conn_free(c);
			continue;
		}
		c->next = kc->list;
		kc->list = c;
		conn_start(kc, c);
		pthread_mutex_unlock(&kc->mu);
		C360_INFO("kafka-connect", "connector '%s' restarted%s", c->name,
			  c->stopped ? " (stopped)" : c->paused ? " (paused)" : "");
		if (n)
			(*n)++;
	}
	c360_json_doc_free(doc);
	return C360_OK;
}

void c360_kafka_connect_free(c360_kafka_connect *kc)
{
	if (!kc)
		return;
	for (struct conn *c = kc->list; c; c = c->next)
		c360_kafka_sink_stop(c->sink);
	while (kc->list) {
		struct conn *c = kc->list;
		kc->list = c->next;
		conn_free(c);
	}
	pthread_mutex_destroy(&kc->mu);
	free(kc->default_brokers);
	free(kc);
}

/* ---- handlers ---- */

/* The config object with "name" in it, as Kafka Connect echoes it. */
static void put_config(const struct conn *c, struct c360_buf *b)
{
	c360_buf_printf(b, "%.*s", (int)strlen(c->config_json) - 1, c->config_json);
	if (!strstr(c->config_json, "\"name\":")) {
		c360_buf_puts(b, strlen(c->config_json) > 2 ? ",\"name\":" : "\"name\":");
		c360_json_write_string(c->name, strlen(c->name), b);
	}
	c360_buf_putc(b, '}');
}

static void put_info(const struct conn *c, struct c360_buf *b)
{
	c360_buf_puts(b, "{\"name\":");
	c360_json_write_string(c->name, strlen(c->name), b);
	c360_buf_puts(b, ",\"config\":");
	put_config(c, b);
	c360_buf_puts(b, ",\"tasks\":[");
	for (int i = 0; i < c->cfg->tasks_max && !c->stopped; i++) {
		c360_buf_printf(b, "%s{\"connector\":", i ? "," : "");
		c360_json_write_string(c->name, strlen(c->name), b);
		c360_buf_printf(b, ",\"task\":%d}", i);
	}
	c360_buf_puts(b, "],\"type\":\"sink\"}");
}

/* The connector's state and trace: a stopped connector is STOPPED, one
 * without a sink (its start failed) FAILED, else the sink's. */
static const char *conn_state(const struct conn *c, char *trace, size_t len)
{
	trace[0] = 0;
	if (c->stopped)
		return "STOPPED";
	if (!c->sink) {
		snprintf(trace, len, "%s", c->error);
		return "FAILED";
	}
	c360_kafka_sink_error(c->sink, trace, len);
	return c360_kafka_sink_state_str(c360_kafka_sink_state(c->sink));
}

static void put_task_status(const struct conn *c, int id, struct c360_buf *b)
{
	char trace[512];
	const char *state = conn_state(c, trace, sizeof trace);
	c360_buf_printf(b, "{\"id\":%d,\"state\":\"%s\",\"worker_id\":\"c360\"", id, state);
	if (*trace) {
		c360_buf_puts(b, ",\"trace\":");
		c360_json_write_string(trace, strlen(trace), b);
	}
	c360_buf_putc(b, '}');
}

static void put_status(const struct conn *c, struct c360_buf *b)
{
	char trace[512];
	const char *state = conn_state(c, trace, sizeof trace);
	c360_buf_puts(b, "{\"name\":");
	c360_json_write_string(c->name, strlen(c->name), b);
	c360_buf_printf(b, ",\"connector\":{\"state\":\"%s\",\"worker_id\":\"c360\"", state);
	if (*trace && !c->sink) {
		c360_buf_puts(b, ",\"trace\":");
		c360_json_write_string(trace, strlen(trace), b);
	}
	c360_buf_puts(b, "},\"tasks\":[");
	for (int i = 0; i < c->cfg->tasks_max && !c->stopped; i++) {
		if (i)
			c360_buf_putc(b, ',');
		put_task_status(c, i, b);
	}
	struct c360_kafka_metrics m = {0};
	if (c->sink)
		c360_kafka_sink_metrics(c->sink, &m);
	c360_buf_printf(b,
			"],\"type\":\"sink\",\"metrics\":{\"records_in\":%llu,\"written\":%llu,\"deleted\":%llu,"
			"\"dead_lettered\":%llu,\"dead_letters_truncated\":%llu,\"dead_letters_dropped\":%llu,"
			"\"failed\":%llu,\"skipped\":%llu,\"key_fallback\":%llu,\"non_object\":%llu,"
			"\"uncommitted\":%llu}}",
			(unsigned long long)m.records_in, (unsigned long long)m.written, (unsigned long long)m.deleted,
			(unsigned long long)m.dead_lettered, (unsigned long long)m.dlq_truncated,
			(unsigned long long)m.dlq_dropped, (unsigned long long)m.failed, (unsigned long long)m.skipped,
			(unsigned long long)m.key_fallback, (unsigned long long)m.non_object,
			(unsigned long long)m.uncommitted);
}

/* Parses a request body as JSON; on failure sets a 400 and returns NULL. */
static c360_json_doc *body_json(const struct c360_http_req *req, struct c360_http_resp *resp)
{
	c360_json_doc *doc = NULL;
	struct c360_json_error je;
	if (!req->body || c360_json_parse(req->body, req->body_len, NULL, &doc, &je)) {
		char where[160] = "empty body";
		if (req->body)
			c360_json_error_str(&je, where, sizeof where);
		kc_error(resp, 400, "request body is not JSON: %s", where);
		return NULL;
	}
	return doc;
}

/* Adds the new connector c (mu held): starts it and keeps it in the store.
 * A connector whose brokers do not answer is kept too, FAILED (as Kafka
 * Connect would); any other start error refuses it (400). Frees c when
 * refused. */
static bool conn_add(c360_kafka_connect *kc, struct conn *c, struct c360_http_resp *resp)
{
	c360_rc rc = conn_start(kc, c);
	if (rc && rc != C360_ERR_TIMEOUT) {
		kc_error(resp, 400, "%s", c->error);
		conn_free(c);
		return false;
	}
	rc = conn_save(kc, c);
	if (rc) {
		kc_error(resp, 500, "cannot keep connector '%s' in the store: %s", c->name, c360_rc_str(rc));
		conn_free(c);
		return false;
	}
	c->next = kc->list;
	kc->list = c;
	return true;
}

static void h_create(const struct c360_http_req *req, struct c360_http_resp *resp, void *ctx)
{
	c360_kafka_connect *kc = ctx;
	c360_json_doc *doc = body_json(req, resp);
	if (!doc)
		return;
	struct conn *c = NULL;
	char err[512] = "";
	c360_rc rc = conn_make(kc, c360_json_doc_root(doc), &c, err, sizeof err);
	c360_json_doc_free(doc);
	if (rc) {
		kc_error(resp, rc == C360_ERR_NOMEM ? 500 : 400, "%s", err);
		return;
	}
	pthread_mutex_lock(&kc->mu);
	if (find(kc, c->name)) {
		pthread_mutex_unlock(&kc->mu);
		kc_error(resp, 409, "Connector %s already exists", c->name);
		conn_free(c);
		return;
	}
	if (conn_add(kc, c, resp)) {
		resp->status = 201;
		put_info(c, &resp->body);
		c360_buf_putc(&resp->body, '\n');
		C360_INFO("kafka-connect", "connector '%s' created", c->name);
	}
	pthread_mutex_unlock(&kc->mu);
}

/* GET /connectors: the names, or with ?expand=status and/or ?expand=info
 * {"NAME": {"status": ..., "info": ...}}. */
static void h_list(const struct c360_http_req *req, struct c360_http_resp *resp, void *ctx)
{
	c360_kafka_connect *kc = ctx;
	bool st = c360_http_query_has(req, "expand", "status");
	bool info = c360_http_query_has(req, "expand", "info");
	struct c360_buf *b = &resp->body;
	pthread_mutex_lock(&kc->mu);
	c360_buf_putc(b, st || info ? '{' : '[');
	for (struct conn *c = kc->list; c; c = c->next) {
		if (c != kc->list)
			c360_buf_putc(b, ',');
		c360_json_write_string(c->name, strlen(c->name), b);
		if (!st && !info)
			continue;
		c360_buf_putc(b, ':');
		c360_buf_putc(b, '{');
		if (st) {
			c360_buf_puts(b, "\"status\":");
			put_status(c, b);
		}
		if (info) {
			c360_buf_puts(b, st ? ",\"info\":" : "\"info\":");
			put_info(c, b);
		}
		c360_buf_putc(b, '}');
	}
	c360_buf_puts(b, st || info ? "}\n" : "]\n");
	pthread_mutex_unlock(&kc->mu);
}

/* Looks up {name}; on failure sets a 404 and returns NULL (unlocked). On
 * success returns with kc->mu held. */
static struct conn *lookup(c360_kafka_connect *kc, const struct c360_http_req *req, struct c360_http_resp *resp)
{
	const char *name = c360_http_param(req, "name");
	pthread_mutex_lock(&kc->mu);
	struct conn *c = name ? find(kc, name) : NULL;
	if (!c) {
		pthread_mutex_unlock(&kc->mu);
		kc_error(resp, 404, "Connector %s not found", name ? name : "");
	}
	return c;
}

/* The {id} of a task route, or -1 with a 404 set (and mu released). */
static int task_id(const struct conn *c, c360_kafka_connect *kc, const struct c360_http_req *req,
		   struct c360_http_resp *resp)
{
	const char *s = c360_http_param(req, "id");
	char *end = NULL;
	long id = s ? strtol(s, &end, 10) : -1;
	if (!s || !*s || *end || id < 0 || id >= c->cfg->tasks_max || c->stopped) {
		kc_error(resp, 404, "Task %s-%s not found", c->name, s ? s : "");
		pthread_mutex_unlock(&kc->mu);
		return -1;
	}
	return (int)id;
}

static void h_get(const struct c360_http_req *req, struct c360_http_resp *resp, void *ctx)
{
	c360_kafka_connect *kc = ctx;
	struct conn *c = lookup(kc, req, resp);
	if (!c)
		return;
	put_info(c, &resp->body);
	c360_buf_putc(&resp->body, '\n');
	pthread_mutex_unlock(&kc->mu);
}

static void h_get_config(const struct c360_http_req *req, struct c360_http_resp *resp, void *ctx)
{
	c360_kafka_connect *kc = ctx;
	struct conn *c = lookup(kc, req, resp);
	if (!c)
		return;
	put_config(c, &resp->body);
	c360_buf_putc(&resp->body, '\n');
	pthread_mutex_unlock(&kc->mu);
}

/* PUT /connectors/{name}/config: the body is the config object; creates
 * the connector (201) or replaces its config and restarts it (200). */
static void h_put_config(const struct c360_http_req *req, struct c360_http_resp *resp, void *ctx)
{
	c360_kafka_connect *kc = ctx;
	const char *name = c360_http_param(req, "name");
	c360_json_doc *doc = body_json(req, resp);
	if (!doc)
		return;
	const c360_json *cfgj = c360_json_doc_root(doc);
	const char *inner = c360_json_str(c360_json_get(cfgj, "name"), NULL);
	if (!c360_json_is_object(cfgj) || (inner && strcmp(inner, name))) {
		kc_error(resp, 400, inner ? "Connector name configuration (%s) doesn't match connector name in the URL (%s)"
					  : "the body must be the connector's config object%s%s",
			 inner ? inner : "", inner ? name : "");
		c360_json_doc_free(doc); /* after kc_error: inner points into it */
		return;
	}
	c360_json_doc_free(doc);
	/* {"name": NAME, "config": BODY}, as POST /connectors takes it */
	struct c360_buf wrap;
	c360_buf_init(&wrap, 0);
	c360_buf_puts(&wrap, "{\"name\":");
	c360_json_write_string(name, strlen(name), &wrap);
	c360_buf_puts(&wrap, ",\"config\":");
	c360_buf_append(&wrap, req->body, req->body_len);
	c360_buf_putc(&wrap, '}');
	struct conn *c = NULL;
	char err[512] = "";
	c360_rc rc = c360_json_parse(wrap.data, wrap.len, NULL, &doc, NULL);
	c360_buf_release(&wrap);
	if (!rc) {
		rc = conn_make(kc, c360_json_doc_root(doc), &c, err, sizeof err);
		c360_json_doc_free(doc);
	}
	if (rc) {
		kc_error(resp, rc == C360_ERR_NOMEM ? 500 : 400, "%s", *err ? err : c360_rc_str(rc));
		return;
	}
	pthread_mutex_lock(&kc->mu);
	struct conn **pp = &kc->list;
	while (*pp && strcmp((*pp)->name, name))
		pp = &(*pp)->next;
	struct conn *old = *pp;
	if (old) { /* replaced: the old sink drains and commits first */
		*pp = old->next;
		c->paused = old->paused;
		c->stopped = old->stopped;
		conn_halt(old);
	}
	if (conn_add(kc, c, resp)) {
		resp->status = old ? 200 : 201;
		put_info(c, &resp->body);
		c360_buf_putc(&resp->body, '\n');
		C360_INFO("kafka-connect", "connector '%s' %s", name, old ? "reconfigured" : "created");
		conn_free(old);
	} else if (old) { /* the new config is refused: the old one runs again */
		old->next = kc->list;
		kc->list = old;
		conn_start(kc, old);
	}
	pthread_mutex_unlock(&kc->mu);
}

static void h_tasks(const struct c360_http_req *req, struct c360_http_resp *resp, void *ctx)
{
	c360_kafka_connect *kc = ctx;
	struct conn *c = lookup(kc, req, resp);
	if (!c)
		return;
	struct c360_buf *b = &resp->body;
	c360_buf_putc(b, '[');
	for (int i = 0; i < c->cfg->tasks_max && !c->stopped; i++) {
		c360_buf_puts(b, i ? ",{\"id\":{\"connector\":" : "{\"id\":{\"connector\":");
		c360_json_write_string(c->name, strlen(c->name), b);
		c360_buf_printf(b, ",\"task\":%d},\"config\":", i);
		put_config(c, b);
		c360_buf_putc(b, '}');
	}
	c360_buf_puts(b, "]\n");
	pthread_mutex_unlock(&kc->mu);
}

static void h_status(const struct c360_http_req *req, struct c360_http_resp *resp, void *ctx)
{
	c360_kafka_connect *kc = ctx;
	struct conn *c = lookup(kc, req, resp);
	if (!c)
		return;
	put_status(c, &resp->body);
	c360_buf_putc(&resp->body, '\n');
	pthread_mutex_unlock(&kc->mu);
}

static void h_task_status(const struct c360_http_req *req, struct c360_http_resp *resp, void *ctx)
{
	c360_kafka_connect *kc = ctx;
	struct conn *c = lookup(kc, req, resp);
	if (!c)
		return;
	int id = task_id(c, kc, req, resp);
	if (id < 0)
		return;
	put_task_status(c, id, &resp->body);
	c360_buf_putc(&resp->body, '\n');
	pthread_mutex_unlock(&kc->mu);
}

/* Restarts c's sink (mu held): drains and commits, then starts it again
 * with the brokers probed afresh. */
static void conn_restart(c360_kafka_connect *kc, struct conn *c)
{
	conn_halt(c);
	conn_start(kc, c);
	C360_INFO("kafka-connect", "connector '%s' restarted", c->name);
}

/* POST /connectors/{name}/restart[?includeTasks=true][&onlyFailed=true]:
 * the tasks run inside the connector's one sink, so every restart restarts
 * it all; onlyFailed restarts only a FAILED connector. 204, or 202 with the
 * status when either argument is given (as Kafka Connect answers). */
static void h_restart(const struct c360_http_req *req, struct c360_http_resp *resp, void *ctx)
{
	c360_kafka_connect *kc = ctx;
	struct conn *c = lookup(kc, req, resp);
	if (!c)
		return;
	bool tasks = c360_http_query_has(req, "includeTasks", "true");
	bool only_failed = c360_http_query_has(req, "onlyFailed", "true");
	char trace[512];
	if (!c->stopped && (!only_failed || !strcmp(conn_state(c, trace, sizeof trace), "FAILED")))
		conn_restart(kc, c);
	if (tasks || only_failed) {
		resp->status = 202;
		put_status(c, &resp->body);
		c360_buf_putc(&resp->body, '\n');
	} else {
		resp->status = 204;
	}
	pthread_mutex_unlock(&kc->mu);
}

static void h_task_restart(const struct c360_http_req *req, struct c360_http_resp *resp, void *ctx)
{
	c360_kafka_connect *kc = ctx;
	struct conn *c = lookup(kc, req, resp);
	if (!c)
		return;
	if (task_id(c, kc, req, resp) < 0)
		return;
	conn_restart(kc, c);
	resp->status = 204;
	pthread_mutex_unlock(&kc->mu);
}

/* pause, resume and stop: PAUSED keeps the sink (and its partitions), STOPPED
 * frees it; resume from STOPPED starts it again. */
static void set_state(const struct c360_http_req *req, struct c360_http_resp *resp, void *ctx, bool pause,
		      bool stop)
{
	c360_kafka_connect *kc = ctx;
	struct conn *c = lookup(kc, req, resp);
	if (!c)
		return;
	bool was_stopped = c->stopped;
	c->paused = pause;
	c->stopped = stop;
	if (stop)
		conn_halt(c);
	else if (was_stopped)
		conn_start(kc, c);
	else if (c->sink)
		c360_kafka_sink_pause(c->sink, pause);
	c360_rc rc = conn_save(kc, c);
	pthread_mutex_unlock(&kc->mu);
	if (rc) {
		kc_error(resp, 500, "cannot keep the state: %s", c360_rc_str(rc));
		return;
	}
	resp->status = 202;
}

static void h_pause(const struct c360_http_req *req, struct c360_http_resp *resp, void *ctx)
{
	set_state(req, resp, ctx, true, false);
}

static void h_resume(const struct c360_http_req *req, struct c360_http_resp *resp, void *ctx)
{
	set_state(req, resp, ctx, false, false);
}

static void h_stop(const struct c360_http_req *req, struct c360_http_resp *resp, void *ctx)
{
	set_state(req, resp, ctx, false, true);
}

static void h_delete(const struct c360_http_req *req, struct c360_http_resp *resp, void *ctx)
{
	c360_kafka_connect *kc = ctx;
	struct conn *c = lookup(kc, req, resp);
	if (!c)
		return;
	for (struct conn **pp = &kc->list; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	char key[C360_KAFKA_NAME_MAX + 16];
	snprintf(key, sizeof key, KEY_PREFIX "%s", c->name);
	c360_rc rc = c360_store_delete(kc->st, C360_META_BUCKET, key, strlen(key), 0);
	pthread_mutex_unlock(&kc->mu);
	C360_INFO("kafka-connect", "connector '%s' deleted", c->name);
	conn_free(c); /* drains and commits */
	if (rc && rc != C360_ERR_NOT_FOUND) {
		kc_error(resp, 500, "connector stopped, but its record stays in the store: %s", c360_rc_str(rc));
		return;
	}
	resp->status = 204;
}

/* GET /: the worker's version, commit and Kafka cluster id (from the last
 * broker probe that answered; null before one did). */
static void h_root(const struct c360_http_req *req, struct c360_http_resp *resp, void *ctx)
{
	c360_kafka_connect *kc = ctx;
	struct c360_buf *b = &resp->body;
	c360_buf_puts(b, "{\"version\":\"" C360_VERSION "\",\"commit\":\"" C360_COMMIT "\",\"kafka_cluster_id\":");
	pthread_mutex_lock(&kc->mu);
	if (*kc->cluster_id)
		c360_json_write_string(kc->cluster_id, strlen(kc->cluster_id), b);
	else
		c360_buf_puts(b, "null");
	pthread_mutex_unlock(&kc->mu);
	c360_buf_puts(b, "}\n");
}

static void h_plugins(const struct c360_http_req *req, struct c360_http_resp *resp, void *ctx)
{
	c360_buf_puts(&resp->body, "[{\"class\":\"" SINK_CLASS "\",\"type\":\"sink\",\"version\":\"" C360_VERSION "\"}]\n");
}

c360_rc c360_kafka_connect_routes(c360_http *h, c360_kafka_connect *kc)
{
	static const struct {
		const char *method, *pattern;
		c360_http_handler fn;
	} routes[] = {
		{"GET", "/", h_root},
		{"GET", "/connector-plugins", h_plugins},
		{"POST", "/connectors", h_create},
		{"GET", "/connectors", h_list},
		{"GET", "/connectors/{name}", h_get},
		{"DELETE", "/connectors/{name}", h_delete},
		{"GET", "/connectors/{name}/config", h_get_config},
		{"PUT", "/connectors/{name}/config", h_put_config},
		{"GET", "/connectors/{name}/status", h_status},
		{"GET", "/connectors/{name}/tasks", h_tasks},
		{"GET", "/connectors/{name}/tasks/{id}/status", h_task_status},
		{"POST", "/connectors/{name}/restart", h_restart},
		{"POST", "/connectors/{name}/tasks/{id}/restart", h_task_restart},
		{"PUT", "/connectors/{name}/pause", h_pause},
		{"PUT", "/connectors/{name}/resume", h_resume},
		{"PUT", "/connectors/{name}/stop", h_stop},
	};
	c360_rc rc = C360_OK;
	for (size_t i = 0; !rc && i < sizeof routes / sizeof *routes; i++)
		rc = c360_http_route(h, routes[i].method, routes[i].pattern, C360_HTTP_ADMIN, routes[i].fn, kc);
	return rc;
}
