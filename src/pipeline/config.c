/* Loading and checking the `c360 run` pipeline file. The YAML is loaded into
 * the JSON DOM (core/yaml.h) and walked here; every complaint names the
 * file, line and column of the value it is about. */
#include "pipeline/config.h"

#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/opts.h"
#include "eventing/eventing.h"
#include "serve/http.h"
#include "core/banned.h"

struct owned {
	struct c360_pipeline_config cfg;
	char *dir;           /* directory of the file, for relative paths */
	char *strings[3 * C360_PIPELINE_MAX + 4];
	int nstrings;
};

c360_rc c360_pipeline_fail(const struct c360_pipeline_config *cfg, const c360_json *v, char *err,
			   size_t errlen, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return c360_yaml_fail(cfg->yaml, v, err, errlen, "%s", msg);
}

bool c360_schedule_parse(const char *s, struct c360_schedule *out)
{
	memset(out, 0, sizeof *out);
	if (!strncmp(s, "every ", 6)) {
		int64_t sec;
		if (!c360_parse_duration(s + 6, &sec) || sec <= 0)
			return false;
		out->kind = C360_SCHED_EVERY;
		out->every_s = sec;
		return true;
	}
	if (!strncmp(s, "daily ", 6)) {
		int h, m;
		char tail;
		if (sscanf(s + 6, "%2d:%2d%c", &h, &m, &tail) != 2 || h < 0 || h > 23 || m < 0 ||
		    m > 59 || strlen(s + 6) != 5)
			return false;
		out->kind = C360_SCHED_DAILY;
		out->hour = h;
		out->minute = m;
		return true;
	}
	return false;
}

int64_t c360_schedule_next(const struct c360_schedule *s, int64_t after)
{
	switch (s->kind) {
	case C360_SCHED_EVERY:
		return after + s->every_s;
	case C360_SCHED_DAILY: {
		int64_t day = after - (after % 86400);
		int64_t t = day + s->hour * 3600 + s->minute * 60;
		return t > after ? t : t + 86400;
	}
	default:
		return INT64_MAX;
	}
}

const char *c360_source_type_str(enum c360_source_type t)
{
	switch (t) {
	case C360_SOURCE_KAFKA: return "kafka";
	case C360_SOURCE_CSV: return "csv";
	case C360_SOURCE_REST: return "rest";
	}
	return "?";
}

/* ---- small typed getters that complain with a position ---- */

#define FAIL(v, ...) c360_pipeline_fail(&o->cfg, (v), err, errlen, __VA_ARGS__)

static c360_rc want_object(struct owned *o, const c360_json *v, const char *what, char *err,
			   size_t errlen)
{
	if (c360_json_is_object(v))
		return C360_OK;
	return FAIL(v, "%s: expected a mapping, found %s", what,
		    c360_json_type_name(c360_json_type(v)));
}

static c360_rc want_string(struct owned *o, const c360_json *v, const char *what,
			   const char **out, char *err, size_t errlen)
{
	size_t len;
	const char *s = c360_json_str(v, &len);
	/* *out is set on every path: the compiler cannot see that FAIL never
	 * returns C360_OK, and a caller must not read an unset pointer */
	*out = NULL;
	if (!s || !len || strlen(s) != len)
		return FAIL(v, "%s: expected a non-empty string, found %s", what,
			    c360_json_type_name(c360_json_type(v)));
	*out = s;
	return C360_OK;
}

c360_rc c360_pipeline_known_keys(const struct c360_pipeline_config *cfg, const c360_json *obj,
				 const char *where, const char *const *allowed, char *err,
				 size_t errlen)
{
	for (c360_json *m = c360_json_first(obj); m; m = c360_json_next(m)) {
		size_t klen;
		const char *k = c360_json_key(m, &klen);
		bool ok = false;
		for (const char *const *a = allowed; *a && !ok; a++)
			ok = strlen(*a) == klen && !memcmp(*a, k, klen);
		if (ok)
			continue;
		char list[300] = "";
		size_t n = 0;
		for (const char *const *a = allowed; *a && n < sizeof list; a++)
			n += (size_t)snprintf(list + n, sizeof list - n, "%s%s",
					      a == allowed ? "" : ", ", *a);
		return c360_yaml_fail_key(cfg->yaml, m, err, errlen,
					  "unknown key '%.*s' in %s (expected one of: %s)", (int)klen, k,
					  where, list);
	}
	return C360_OK;
}

static c360_rc known_keys(struct owned *o, const c360_json *obj, const char *where,
			  const char *const *allowed, char *err, size_t errlen)
{
	return c360_pipeline_known_keys(&o->cfg, obj, where, allowed, err, errlen);
}

void c360_pipeline_path(const struct c360_pipeline_config *cfg, const char *path, char *out,
			size_t outlen)
{
	const struct owned *o = (const struct owned *)cfg;
	if (path[0] == '/' || !o->dir || !strcmp(o->dir, "."))
		snprintf(out, outlen, "%s", path);
	else
		snprintf(out, outlen, "%s/%s", o->dir, path);
}

static c360_rc resolve_path(struct owned *o, const c360_json *v, const char *what,
			    const char **out, char *err, size_t errlen)
{
	const char *p;
	c360_rc rc = want_string(o, v, what, &p, err, errlen);
	if (rc)
		return rc;
	if (p[0] == '/' || !o->dir || !strcmp(o->dir, ".")) {
		*out = p;
		return C360_OK;
	}
	if (o->nstrings >= (int)(sizeof o->strings / sizeof *o->strings))
		return FAIL(v, "too many paths");
	size_t n = strlen(o->dir) + strlen(p) + 2;
	char *s = malloc(n);
	if (!s)
		return C360_ERR_NOMEM;
	snprintf(s, n, "%s/%s", o->dir, p);
	o->strings[o->nstrings++] = s;
	*out = s;
	return C360_OK;
}

static c360_rc duration(struct owned *o, const c360_json *v, const char *what, int64_t *out,
			char *err, size_t errlen)
{
	int64_t i;
	if (c360_json_int64(v, &i) && i >= 0) {
		*out = i;
		return C360_OK;
	}
	const char *s = c360_json_str(v, NULL);
	if (s && c360_parse_duration(s, out))
		return C360_OK;
	return FAIL(v, "%s: expected a duration such as 90, 90s, 90m, 25h or 2d", what);
}

/* ---- sections ---- */

static c360_rc load_store(struct owned *o, const c360_json *v, char *err, size_t errlen)
{
	static const char *const keys[] = {"path", "synchronous", NULL};
	c360_rc rc = want_object(o, v, "store", err, errlen);
	if (!rc)
		rc = known_keys(o, v, "store", keys, err, errlen);
	if (rc)
		return rc;
	const c360_json *p = c360_json_get(v, "path");
	if (p && (rc = resolve_path(o, p, "store.path", &o->cfg.store_path, err, errlen)))
		return rc;
	const c360_json *sync = c360_json_get(v, "synchronous");
	if (sync) {
		const char *s = c360_json_str(sync, NULL);
		if (s && !strcmp(s, "full"))
			o->cfg.synchronous = C360_SYNC_FULL;
		else if (s && !strcmp(s, "normal"))
			o->cfg.synchronous = C360_SYNC_NORMAL;
		else
			return FAIL(sync, "store.synchronous: expected 'full' or 'normal'");
	}
	return C360_OK;
}

static c360_rc load_log(struct owned *o, const c360_json *v, char *err, size_t errlen)
{
	static const char *const keys[] = {"level", "format", NULL};
	c360_rc rc = want_object(o, v, "log", err, errlen);
	if (!rc)
		rc = known_keys(o, v, "log", keys, err, errlen);
	if (rc)
		return rc;
	const c360_json *lv = c360_json_get(v, "level");
	if (lv) {
		const char *s = c360_json_str(lv, NULL);
		if (!s || !c360_log_parse_level(s, &o->cfg.log_level))
			return FAIL(lv, "log.level: expected error, warn, info, debug or trace");
	}
	const c360_json *f = c360_json_get(v, "format");
	if (f) {
		const char *s = c360_json_str(f, NULL);
		if (s && !strcmp(s, "text"))
			o->cfg.log_format = C360_LOG_TEXT;
		else if (s && !strcmp(s, "json"))
			o->cfg.log_format = C360_LOG_JSON;
		else
			return FAIL(f, "log.format: expected 'text' or 'json'");
	}
	return C360_OK;
}

static c360_rc load_buckets(struct owned *o, const c360_json *v, char *err, size_t errlen)
{
	/* buckets: {staging: {max_ttl: 2d}, customer360: {}} or a list of names */
	bool list = c360_json_is_array(v);
	if (!list && !c360_json_is_object(v))
		return FAIL(v, "buckets: expected a mapping of bucket names (or a list of names)");
	for (c360_json *m = c360_json_first(v); m; m = c360_json_next(m)) {
		if (o->cfg.nbuckets >= C360_PIPELINE_MAX)
			return FAIL(m, "buckets: at most %d", C360_PIPELINE_MAX);
		struct c360_bucket_decl *b = &o->cfg.buckets[o->cfg.nbuckets++];
		size_t nlen;
		const char *name = list ? c360_json_str(m, &nlen) : c360_json_key(m, &nlen);
		if (!name || !nlen || nlen > C360_BUCKET_NAME_MAX)
			return FAIL(m, "buckets: expected a bucket name of 1 to %d characters",
				    C360_BUCKET_NAME_MAX);
		snprintf(b->name, sizeof b->name, "%.*s", (int)nlen, name);
		if (list || c360_json_is_null(m))
			continue;
		static const char *const keys[] = {"max_ttl", NULL};
		c360_rc rc = want_object(o, m, b->name, err, errlen);
		if (!rc)
			rc = known_keys(o, m, "a bucket", keys, err, errlen);
		if (rc)
			return rc;
		const c360_json *ttl = c360_json_get(m, "max_ttl");
		if (ttl) {
			int64_t s;
			if ((rc = duration(o, ttl, "max_ttl", &s, err, errlen)))
				return rc;
			if (s > UINT32_MAX)
				return FAIL(ttl, "max_ttl: too large");
			b->max_ttl = (uint32_t)s;
		}
	}
	return C360_OK;
}

static c360_rc load_sources(struct owned *o, const c360_json *v, char *err, size_t errlen)
{
	if (!c360_json_is_array(v))
		return FAIL(v, "sources: expected a list of sources");
	for (c360_json *s = c360_json_first(v); s; s = c360_json_next(s)) {
		c360_rc rc = want_object(o, s, "a source", err, errlen);
		if (rc)
			return rc;
		if (o->cfg.nsources >= C360_PIPELINE_MAX)
			return FAIL(s, "sources: at most %d", C360_PIPELINE_MAX);
		struct c360_source *src = &o->cfg.sources[o->cfg.nsources];
		src->at = s;
		static const char *const keys[] = {"name", "kafka", "csv", "rest", "schedule", NULL};
		if ((rc = known_keys(o, s, "a source", keys, err, errlen)))
			return rc;
		const char *name;
		const c360_json *nm = c360_json_get(s, "name");
		if (!nm)
			return FAIL(s, "a source needs a name");
		if ((rc = want_string(o, nm, "name", &name, err, errlen)))
			return rc;
		if (strlen(name) >= sizeof src->name)
			return FAIL(nm, "name: at most %zu characters", sizeof src->name - 1);
		for (int i = 0; i < o->cfg.nsources; i++)
			if (!strcmp(o->cfg.sources[i].name, name))
				return FAIL(nm, "a second source named '%s'", name);
		snprintf(src->name, sizeof src->name, "%s", name);
		int types = 0;
		static const char *const tnames[] = {"kafka", "csv", "rest"};
		for (int t = 0; t < 3; t++) {
			const c360_json *cfgv = c360_json_get(s, tnames[t]);
			if (!cfgv)
				continue;
			types++;
			src->type = (enum c360_source_type)(t + 1);
			src->settings = cfgv;
			if ((rc = want_object(o, cfgv, tnames[t], err, errlen)))
				return rc;
		}
		if (types != 1)
			return FAIL(s, "source '%s': expected exactly one of kafka:, csv: or rest:",
				    name);
		const c360_json *sch = c360_json_get(s, "schedule");
		if (sch) {
			const char *txt = c360_json_str(sch, NULL);
			if (!txt || !c360_schedule_parse(txt, &src->schedule))
				return FAIL(sch, "schedule: expected 'every DURATION' (every 10m) or "
						 "'daily HH:MM' (daily 02:00, UTC)");
		} else if (src->type == C360_SOURCE_CSV) {
			c360_schedule_parse("every 1m", &src->schedule);
		}
		o->cfg.nsources++;
	}
	return C360_OK;
}

c360_rc c360_pipeline_apply_settings(const struct c360_pipeline_config *cfg,
				     const struct c360_function_ref *fr, struct c360_fn_def *def,
				     char *err, size_t errlen)
{
	for (c360_json *m = c360_json_first(fr->settings); m; m = c360_json_next(m)) {
		size_t klen, vlen = 0;
		const char *k = c360_json_key(m, &klen), *v = NULL;
		if (c360_json_is_string(m))
			v = c360_json_str(m, &vlen);
		else if (c360_json_is_number(m))
			v = c360_json_num_text(m, &vlen);
		else
			vlen = strlen(v = c360_json_bool(m) ? "true" : "false");
		char kbuf[64], vbuf[256], ferr[300] = "";
		snprintf(kbuf, sizeof kbuf, "%.*s", (int)klen, k);
		snprintf(vbuf, sizeof vbuf, "%.*s", (int)vlen, v ? v : "");
		if (c360_fn_def_set(def, kbuf, vbuf, ferr, sizeof ferr))
			return c360_pipeline_fail(cfg, m, err, errlen, "%s", ferr);
	}
	return C360_OK;
}

static c360_rc load_functions(struct owned *o, const c360_json *v, char *err, size_t errlen)
{
	if (!c360_json_is_array(v))
		return FAIL(v, "functions: expected a list");
	for (c360_json *f = c360_json_first(v); f; f = c360_json_next(f)) {
		c360_rc rc = want_object(o, f, "a function", err, errlen);
		static const char *const keys[] = {"name", "file", "native", "settings", NULL};
		if (!rc)
			rc = known_keys(o, f, "a function", keys, err, errlen);
		if (rc)
			return rc;
		if (o->cfg.nfunctions >= C360_PIPELINE_MAX)
			return FAIL(f, "functions: at most %d", C360_PIPELINE_MAX);
		struct c360_function_ref *fr = &o->cfg.functions[o->cfg.nfunctions++];
		fr->at = f;
		const c360_json *file = c360_json_get(f, "file"), *nat = c360_json_get(f, "native");
		if (!!file == !!nat)
			return FAIL(f, "a function needs exactly one of file: (JavaScript or an "
				       "exported function JSON) or native: (a mapping YAML)");
		if (file && (rc = resolve_path(o, file, "file", &fr->file, err, errlen)))
			return rc;
		if (nat && (rc = resolve_path(o, nat, "native", &fr->native, err, errlen)))
			return rc;
		const c360_json *nm = c360_json_get(f, "name");
		if (nm) {
			const char *name;
			if ((rc = want_string(o, nm, "name", &name, err, errlen)))
				return rc;
			snprintf(fr->name, sizeof fr->name, "%s", name);
		}
		const c360_json *set = c360_json_get(f, "settings");
		if (set) {
			static const char *const skeys[] = {C360_PIPELINE_FN_SETTINGS, NULL};
			if ((rc = want_object(o, set, "settings", err, errlen)) ||
			    (rc = known_keys(o, set, "a function's settings", skeys, err, errlen)))
				return rc;
			for (c360_json *m = c360_json_first(set); m; m = c360_json_next(m))
				if (!c360_json_is_string(m) && !c360_json_is_number(m) &&
				    !c360_json_is_bool(m))
					return FAIL(m, "settings: expected a number, a word or true/false, "
						       "found %s",
						    c360_json_type_name(c360_json_type(m)));
			fr->settings = set;
			/* the values too, now (so --check sees them), on a scratch definition */
			struct c360_fn_def scratch;
			c360_fn_def_init(&scratch);
			rc = c360_pipeline_apply_settings(&o->cfg, fr, &scratch, err, errlen);
			c360_fn_def_release(&scratch);
			if (rc)
				return rc;
		}
	}
	return C360_OK;
}

static c360_rc load_serve(struct owned *o, const c360_json *v, char *err, size_t errlen)
{
	o->cfg.serve = true;
	if (c360_json_is_null(v))
		return C360_OK;
	static const char *const keys[] = {"bind", "port", "auth", "max_connections",
					   "max_connections_per_ip", "header_timeout",
					   "query_concurrency", "query_timeout", "query_max_mib", NULL};
	c360_rc rc = want_object(o, v, "serve", err, errlen);
	if (!rc)
		rc = known_keys(o, v, "serve", keys, err, errlen);
	if (rc)
		return rc;
	const c360_json *b = c360_json_get(v, "bind");
	if (b && (rc = want_string(o, b, "serve.bind", &o->cfg.bind, err, errlen)))
		return rc;
	const c360_json *p = c360_json_get(v, "port");
	if (p) {
		int64_t port;
		if (!c360_json_int64(p, &port) || port < 0 || port > 65535)
			return FAIL(p, "serve.port: expected a port number from 0 to 65535");
		o->cfg.port = (int)port;
	}
	const c360_json *a = c360_json_get(v, "auth");
	if (a) {
		if (!c360_json_is_bool(a))
			return FAIL(a, "serve.auth: expected true or false");
		o->cfg.auth = c360_json_bool(a);
	}
	const c360_json *mc = c360_json_get(v, "max_connections");
	int64_t n;
	if (mc) {
		if (!c360_json_int64(mc, &n) || n < 1 || n > C360_HTTP_MAX_CONNECTIONS)
			return FAIL(mc, "serve.max_connections: expected a number from 1 to %d",
				    C360_HTTP_MAX_CONNECTIONS);
		o->cfg.max_connections = (int)n;
	}
	const c360_json *mi = c360_json_get(v, "max_connections_per_ip");
	if (mi) {
		int cap = o->cfg.max_connections ? o->cfg.max_connections : C360_HTTP_DEFAULT_CONNECTIONS;
		if (!c360_json_int64(mi, &n) || n < 1 || n > cap)
			return FAIL(mi, "serve.max_connections_per_ip: expected a number from 1 to "
					"max_connections (%d)", cap);
		o->cfg.max_connections_per_ip = (int)n;
	}
	const c360_json *ht = c360_json_get(v, "header_timeout");
	if (ht) {
		int64_t sec;
		if ((rc = duration(o, ht, "serve.header_timeout", &sec, err, errlen)))
			return rc;
		if (sec < 1 || sec > 3600)
			return FAIL(ht, "serve.header_timeout: expected 1s to 1h");
		o->cfg.header_timeout = (int)sec;
	}
	if ((p = c360_json_get(v, "query_concurrency"))) {
		if (!c360_json_int64(p, &n) || n < 1 || n > 64)
			return FAIL(p, "serve.query_concurrency: expected the number of SQL queries run "
				       "at once, 1 to 64");
		o->cfg.query_concurrency = (int)n;
	}
	if ((p = c360_json_get(v, "query_timeout"))) {
		if ((rc = duration(o, p, "serve.query_timeout", &n, err, errlen)))
			return rc;
		if (n < 1 || n > 3600)
			return FAIL(p, "serve.query_timeout: expected 1s to 1h");
		o->cfg.query_timeout_s = (int)n;
	}
	if ((p = c360_json_get(v, "query_max_mib"))) {
		if (!c360_json_int64(p, &n) || n < 1 || n > 1024)
			return FAIL(p, "serve.query_max_mib: expected a size in MiB, 1 to 1024");
		o->cfg.query_max_mib = (int)n;
	}
	return C360_OK;
}

/* connect: the Kafka Connect worker's settings for connectors POSTed to
 * /connectors (Kafka Connect keeps bootstrap.servers in the worker config). */
static c360_rc load_connect(struct owned *o, const c360_json *v, char *err, size_t errlen)
{
	static const char *const keys[] = {"bootstrap.servers", NULL};
	c360_rc rc = want_object(o, v, "connect", err, errlen);
	if (!rc)
		rc = known_keys(o, v, "connect", keys, err, errlen);
	const c360_json *b;
	if (!rc && (b = c360_json_get(v, "bootstrap.servers")))
		rc = want_string(o, b, "connect.bootstrap.servers", &o->cfg.connect_brokers, err, errlen);
	return rc;
}

static c360_rc load_root(struct owned *o, char *err, size_t errlen)
{
	const c360_json *root = c360_yaml_root(o->cfg.yaml);
	if (!root || !c360_json_is_object(root)) {
		snprintf(err, errlen, "%s: expected a mapping with store:, buckets:, sources:, "
				      "functions:, serve: and connect:", c360_yaml_name(o->cfg.yaml));
		return C360_ERR_INVALID;
	}
	static const char *const keys[] = {"store", "log", "buckets", "sources", "functions",
					   "serve", "connect", NULL};
	c360_rc rc = known_keys(o, root, "the pipeline", keys, err, errlen);
	const c360_json *v;
	if (!rc && (v = c360_json_get(root, "store")))
		rc = load_store(o, v, err, errlen);
	if (!rc && (v = c360_json_get(root, "log")))
		rc = load_log(o, v, err, errlen);
	if (!rc && (v = c360_json_get(root, "buckets")))
		rc = load_buckets(o, v, err, errlen);
	if (!rc && (v = c360_json_get(root, "sources")))
		rc = load_sources(o, v, err, errlen);
	if (!rc && (v = c360_json_get(root, "functions")))
		rc = load_functions(o, v, err, errlen);
	if (!rc && (v = c360_json_get(root, "serve")))
		rc = load_serve(o, v, err, errlen);
	if (!rc && (v = c360_json_get(root, "connect")))
		rc = load_connect(o, v, err, errlen);
	return rc;
}

static c360_rc finish(struct owned *o, c360_rc rc, struct c360_pipeline_config **out)
{
	if (rc) {
		c360_pipeline_free(&o->cfg);
		*out = NULL;
		return rc;
	}
	*out = &o->cfg;
	return C360_OK;
}

static struct owned *owned_new(void)
{
	struct owned *o = calloc(1, sizeof *o);
	if (!o)
		return NULL;
	o->cfg.synchronous = C360_SYNC_FULL;
	o->cfg.log_level = C360_LOG_INFO;
	o->cfg.log_format = C360_LOG_TEXT;
	o->cfg.bind = "127.0.0.1";
	o->cfg.port = 8091;
	return o;
}

c360_rc c360_pipeline_load(const char *path, struct c360_pipeline_config **out, char *err,
			   size_t errlen)
{
	struct owned *o = owned_new();
	if (!o)
		return C360_ERR_NOMEM;
	char *copy = strdup(path);
	o->dir = copy ? strdup(dirname(copy)) : NULL;
	free(copy);
	c360_rc rc = c360_yaml_load_file(path, &o->cfg.yaml, err, errlen);
	if (!rc)
		rc = load_root(o, err, errlen);
	return finish(o, rc, out);
}

c360_rc c360_pipeline_load_string(const char *name, const char *text,
				  struct c360_pipeline_config **out, char *err, size_t errlen)
{
	struct owned *o = owned_new();
	if (!o)
		return C360_ERR_NOMEM;
	c360_rc rc = c360_yaml_load_string(name, text, strlen(text), &o->cfg.yaml, err, errlen);
	if (!rc)
		rc = load_root(o, err, errlen);
	return finish(o, rc, out);
}

void c360_pipeline_free(struct c360_pipeline_config *cfg)
{
	if (!cfg)
		return;
	struct owned *o = (struct owned *)cfg; /* cfg is the first member */
	c360_yaml_free(cfg->yaml);
	for (int i = 0; i < o->nstrings; i++)
		free(o->strings[i]);
	free(o->dir);
	free(o);
}
