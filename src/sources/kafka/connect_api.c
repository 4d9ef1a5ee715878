/* Kafka-Connect-compatible /connectors API over c360's Kafka sinks, with the
 * connectors persisted in the system bucket and restarted at start-up. */
#include "sources/kafka/connect_api.h"

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

struct conn {
	char *name;
	char *config_json; /* the "config" object as posted (compact JSON) */
	struct c360_kafka_config *cfg;
	c360_kafka_sink *sink;
	bool paused;
	char error[512];   /* start error, when the sink could not start */
	struct conn *next;
};

struct c360_kafka_connect {
	c360_store *st;
	char *default_brokers;
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

static c360_rc conn_start(c360_kafka_connect *kc, struct conn *c)
{
	char err[512] = "";
	c360_rc rc = c360_kafka_sink_new(kc->st, c->cfg, NULL, &c->sink, err, sizeof err);
	if (!rc) {
		if (c->paused)
			c360_kafka_sink_pause(c->sink, true);
		rc = c360_kafka_sink_start(c->sink, err, sizeof err);
	}
	if (rc) {
		snprintf(c->error, sizeof c->error, "%s", err);
		C360_ERROR("kafka-connect", "cannot start connector '%s': %s", c->name, err);
	}
	return rc;
}

static c360_rc conn_save(c360_kafka_connect *kc, const struct conn *c)
{
	struct c360_buf b;
	c360_buf_init(&b, 0);
	c360_buf_puts(&b, "{\"name\":");
	c360_json_write_string(c->name, strlen(c->name), &b);
	c360_buf_printf(&b, ",\"config\":%s,\"paused\":%s}", c->config_json, c->paused ? "true" : "false");
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
		if (c360_json_is_object(d))
			c360_json_remove(d, "paused", 6); /* not a connector key */
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
		C360_INFO("kafka-connect", "connector '%s' restarted%s", c->name, c->paused ? " (paused)" : "");
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

static void put_info(const struct conn *c, struct c360_buf *b)
{
	c360_buf_puts(b, "{\"name\":");
	c360_json_write_string(c->name, strlen(c->name), b);
	/* Kafka Connect echoes the config with "name" in it */
	c360_buf_printf(b, ",\"config\":%.*s", (int)strlen(c->config_json) - 1, c->config_json);
	if (!strstr(c->config_json, "\"name\":")) {
		c360_buf_puts(b, strlen(c->config_json) > 2 ? ",\"name\":" : "\"name\":");
		c360_json_write_string(c->name, strlen(c->name), b);
	}
	c360_buf_puts(b, "},\"tasks\":[");
	for (int i = 0; i < c->cfg->tasks_max; i++) {
		c360_buf_printf(b, "%s{\"connector\":", i ? "," : "");
		c360_json_write_string(c->name, strlen(c->name), b);
		c360_buf_printf(b, ",\"task\":%d}", i);
	}
	c360_buf_puts(b, "],\"type\":\"sink\"}\n");
}

static void h_create(const struct c360_http_req *req, struct c360_http_resp *resp, void *ctx)
{
	c360_kafka_connect *kc = ctx;
	c360_json_doc *doc = NULL;
	struct c360_json_error je;
	if (!req->body || c360_json_parse(req->body, req->body_len, NULL, &doc, &je)) {
		char where[160] = "empty body";
		if (req->body)
			c360_json_error_str(&je, where, sizeof where);
		kc_error(resp, 400, "request body is not JSON: %s", where);
		return;
	}
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
	rc = conn_start(kc, c);
	if (rc) {
		pthread_mutex_unlock(&kc->mu);
		kc_error(resp, 400, "%s", c->error);
		conn_free(c);
		return;
	}
	rc = conn_save(kc, c);
	if (rc) {
		pthread_mutex_unlock(&kc->mu);
		kc_error(resp, 500, "cannot keep connector '%s' in the store: %s", c->name, c360_rc_str(rc));
		conn_free(c);
		return;
	}
	c->next = kc->list;
	kc->list = c;
	resp->status = 201;
	put_info(c, &resp->body);
	pthread_mutex_unlock(&kc->mu);
	C360_INFO("kafka-connect", "connector '%s' created", c->name);
}

static void h_list(const struct c360_http_req *req, struct c360_http_resp *resp, void *ctx)
{
	c360_kafka_connect *kc = ctx;
	pthread_mutex_lock(&kc->mu);
	c360_buf_putc(&resp->body, '[');
	for (struct conn *c = kc->list; c; c = c->next) {
		if (c != kc->list)
			c360_buf_putc(&resp->body, ',');
		c360_json_write_string(c->name, strlen(c->name), &resp->body);
	}
	c360_buf_puts(&resp->body, "]\n");
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

static void h_get(const struct c360_http_req *req, struct c360_http_resp *resp, void *ctx)
{
	c360_kafka_connect *kc = ctx;
	struct conn *c = lookup(kc, req, resp);
	if (!c)
		return;
	put_info(c, &resp->body);
	pthread_mutex_unlock(&kc->mu);
}

static void h_status(const struct c360_http_req *req, struct c360_http_resp *resp, void *ctx)
{
	c360_kafka_connect *kc = ctx;
	struct conn *c = lookup(kc, req, resp);
	if (!c)
		return;
	const char *state = c->sink ? c360_kafka_sink_state_str(c360_kafka_sink_state(c->sink)) : "FAILED";
	char trace[512] = "";
	if (c->sink)
		c360_kafka_sink_error(c->sink, trace, sizeof trace);
	else
		snprintf(trace, sizeof trace, "%s", c->error);
	struct c360_buf *b = &resp->body;
	c360_buf_puts(b, "{\"name\":");
	c360_json_write_string(c->name, strlen(c->name), b);
	c360_buf_printf(b, ",\"connector\":{\"state\":\"%s\",\"worker_id\":\"c360\"},\"tasks\":[", state);
	for (int i = 0; i < c->cfg->tasks_max; i++) {
		c360_buf_printf(b, "%s{\"id\":%d,\"state\":\"%s\",\"worker_id\":\"c360\"", i ? "," : "", i, state);
		if (*trace) {
			c360_buf_puts(b, ",\"trace\":");
			c360_json_write_string(trace, strlen(trace), b);
		}
		c360_buf_putc(b, '}');
	}
	struct c360_kafka_metrics m = {0};
	if (c->sink)
		c360_kafka_sink_metrics(c->sink, &m);
	c360_buf_printf(b,
			"],\"type\":\"sink\",\"metrics\":{\"records_in\":%llu,\"written\":%llu,\"deleted\":%llu,"
			"\"dead_lettered\":%llu,\"dead_letters_truncated\":%llu,\"dead_letters_dropped\":%llu,"
			"\"failed\":%llu,\"skipped\":%llu,\"key_fallback\":%llu,\"non_object\":%llu,"
			"\"uncommitted\":%llu}}\n",
			(unsigned long long)m.records_in, (unsigned long long)m.written, (unsigned long long)m.deleted,
			(unsigned long long)m.dead_lettered, (unsigned long long)m.dlq_truncated,
			(unsigned long long)m.dlq_dropped, (unsigned long long)m.failed, (unsigned long long)m.skipped,
			(unsigned long long)m.key_fallback, (unsigned long long)m.non_object,
			(unsigned long long)m.uncommitted);
	pthread_mutex_unlock(&kc->mu);
}

static void set_paused(const struct c360_http_req *req, struct c360_http_resp *resp, void *ctx, bool pause)
{
	c360_kafka_connect *kc = ctx;
	struct conn *c = lookup(kc, req, resp);
	if (!c)
		return;
	c->paused = pause;
	if (c->sink)
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
	set_paused(req, resp, ctx, true);
}

static void h_resume(const struct c360_http_req *req, struct c360_http_resp *resp, void *ctx)
{
	set_paused(req, resp, ctx, false);
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

c360_rc c360_kafka_connect_routes(c360_http *h, c360_kafka_connect *kc)
{
	c360_rc rc = c360_http_route(h, "POST", "/connectors", C360_HTTP_ADMIN, h_create, kc);
	if (!rc)
		rc = c360_http_route(h, "GET", "/connectors", C360_HTTP_ADMIN, h_list, kc);
	if (!rc)
		rc = c360_http_route(h, "GET", "/connectors/{name}", C360_HTTP_ADMIN, h_get, kc);
	if (!rc)
		rc = c360_http_route(h, "DELETE", "/connectors/{name}", C360_HTTP_ADMIN, h_delete, kc);
	if (!rc)
		rc = c360_http_route(h, "GET", "/connectors/{name}/status", C360_HTTP_ADMIN, h_status, kc);
	if (!rc)
		rc = c360_http_route(h, "PUT", "/connectors/{name}/pause", C360_HTTP_ADMIN, h_pause, kc);
	if (!rc)
		rc = c360_http_route(h, "PUT", "/connectors/{name}/resume", C360_HTTP_ADMIN, h_resume, kc);
	return rc;
}
