/* Function definitions (Couchbase's exported function JSON), their checks,
 * and deployment records in the system bucket. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/json.h"
#include "core/opts.h"
#include "eventing/eventing.h"
#include "core/banned.h"

#define REC_PREFIX "function::"

const struct c360_fn_kind *const c360_fn_kinds[] = {
	&c360_fn_kind_js,
	&c360_fn_kind_native, /* weak: NULL (ends the list) when integrate/ is not linked */
	NULL,
};

const struct c360_fn_kind *c360_fn_kind_find(const char *name)
{
	for (int i = 0; c360_fn_kinds[i]; i++)
		if (!strcmp(c360_fn_kinds[i]->name, name))
			return c360_fn_kinds[i];
	return NULL;
}

const char *c360_fn_state_str(enum c360_fn_state s)
{
	switch (s) {
	case C360_FN_DEPLOYED: return "deployed";
	case C360_FN_PAUSED: return "paused";
	default: return "undeployed";
	}
}

static bool parse_state(const char *s, enum c360_fn_state *out)
{
	for (int i = 0; i <= C360_FN_PAUSED; i++)
		if (!strcmp(s, c360_fn_state_str((enum c360_fn_state)i))) {
			*out = (enum c360_fn_state)i;
			return true;
		}
	return false;
}

void c360_fn_def_init(struct c360_fn_def *def)
{
	memset(def, 0, sizeof *def);
	snprintf(def->kind, sizeof def->kind, "js");
	def->boundary = C360_FN_FROM_EVERYTHING;
	def->worker_count = 1;
	def->execution_timeout_ms = 60000;
	def->heap_limit_mb = 256;
	def->checkpoint_interval_ms = 60000;
	def->log_level = C360_LOG_INFO;
}

void c360_fn_def_release(struct c360_fn_def *def)
{
	if (!def)
		return;
	free(def->code);
	for (int i = 0; i < def->nbindings; i++) {
		struct c360_fn_binding *b = &def->bindings[i];
		free(b->url);
		free(b->username);
		free(b->password);
		free(b->token);
		free(b->value);
	}
	memset(def, 0, sizeof *def);
}

static bool copy_name(char *dst, size_t cap, const char *s, size_t len)
{
	if (!s || !len || len >= cap)
		return false;
	memcpy(dst, s, len);
	dst[len] = 0;
	return true;
}

static char *dupn(const char *s, size_t n)
{
	char *p = malloc(n + 1);
	if (p) {
		memcpy(p, s, n);
		p[n] = 0;
	}
	return p;
}

static bool valid_alias(const char *a)
{
	if (!a[0] || !((a[0] >= 'a' && a[0] <= 'z') || (a[0] >= 'A' && a[0] <= 'Z') || a[0] == '_' || a[0] == '$'))
		return false;
	for (const char *p = a; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '_' || *p == '$'))
			return false;
	return true;
}

static bool valid_name(const char *n)
{
	if (!n[0])
		return false;
	for (const char *p = n; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '_' || *p == '-'))
			return false;
	return true;
}

c360_rc c360_fn_def_set(struct c360_fn_def *def, const char *name, const char *value, char *err,
			size_t errlen)
{
	int64_t n;
	if (!strcmp(name, "dcp_stream_boundary")) {
		if (!strcmp(value, "everything"))
			def->boundary = C360_FN_FROM_EVERYTHING;
		else if (!strcmp(value, "from_now"))
			def->boundary = C360_FN_FROM_NOW;
		else
			goto bad;
	} else if (!strcmp(name, "worker_count")) {
		if (!c360_parse_int(value, &n) || n < 1 || n > 64)
			goto bad;
		def->worker_count = (int)n;
	} else if (!strcmp(name, "execution_timeout")) {
		if (!c360_parse_int(value, &n) || n < 1 || n > 86400)
			goto bad;
		def->execution_timeout_ms = n * 1000;
	} else if (!strcmp(name, "execution_timeout_ms")) {
		if (!c360_parse_int(value, &n) || n < 1 || n > 86400000)
			goto bad;
		def->execution_timeout_ms = n;
	} else if (!strcmp(name, "heap_limit_mb")) {
		if (!c360_parse_int(value, &n) || n < 8 || n > 65536)
			goto bad;
		def->heap_limit_mb = n;
	} else if (!strcmp(name, "checkpoint_interval")) {
		if (!c360_parse_int(value, &n) || n < 1 || n > 86400)
			goto bad;
		def->checkpoint_interval_ms = n * 1000;
	} else if (!strcmp(name, "checkpoint_interval_ms")) {
		if (!c360_parse_int(value, &n) || n < 1 || n > 86400000)
			goto bad;
		def->checkpoint_interval_ms = n;
	} else if (!strcmp(name, "log_level")) {
		char lv[16];
		size_t i = 0;
		for (; value[i] && i < sizeof lv - 1; i++)
			lv[i] = (char)((value[i] >= 'A' && value[i] <= 'Z') ? value[i] + 32 : value[i]);
		lv[i] = 0;
		if (!strcmp(lv, "warning"))
			snprintf(lv, sizeof lv, "warn");
		enum c360_log_level l;
		if (!c360_log_parse_level(lv, &l))
			goto bad;
		def->log_level = l;
	} else if (!strcmp(name, "self_recursion")) {
		if (!strcmp(value, "true"))
			def->self_recursion = true;
		else if (!strcmp(value, "false"))
			def->self_recursion = false;
		else
			goto bad;
	} else if (!strcmp(name, "description")) {
		snprintf(def->description, sizeof def->description, "%s", value);
	} else {
		/* Couchbase settings c360 has no use for are accepted and ignored */
		return C360_OK;
	}
	return C360_OK;
bad:
	snprintf(err, errlen, "settings.%s: invalid value '%s'", name, value);
	return C360_ERR_INVALID;
}

static struct c360_fn_binding *new_binding(struct c360_fn_def *def, const char *alias, size_t alen,
					   char *err, size_t errlen)
{
	if (def->nbindings >= C360_FN_BINDINGS_MAX) {
		snprintf(err, errlen, "too many bindings (at most %d)", C360_FN_BINDINGS_MAX);
		return NULL;
	}
	struct c360_fn_binding *b = &def->bindings[def->nbindings];
	memset(b, 0, sizeof *b);
	if (!copy_name(b->alias, sizeof b->alias, alias, alen) || !valid_alias(b->alias)) {
		snprintf(err, errlen, "binding alias '%.*s' is not a JavaScript identifier", (int)(alen > 80 ? 80 : alen),
			 alias ? alias : "");
		return NULL;
	}
	for (int i = 0; i < def->nbindings; i++)
		if (!strcmp(def->bindings[i].alias, b->alias)) {
			snprintf(err, errlen, "binding alias '%s' is used twice", b->alias);
			return NULL;
		}
	def->nbindings++;
	return b;
}

/* Removes the binding just added (its parsing failed). */
static void drop_last(struct c360_fn_def *def)
{
	struct c360_fn_binding *b = &def->bindings[--def->nbindings];
	free(b->url);
	free(b->username);
	free(b->password);
	free(b->token);
	free(b->value);
	memset(b, 0, sizeof *b);
}

c360_rc c360_fn_def_add_binding(struct c360_fn_def *def, const char *spec, char *err, size_t errlen)
{
	const char *colon = strchr(spec, ':');
	const char *eq = colon ? strchr(colon + 1, '=') : NULL;
	if (!colon || !eq) {
		snprintf(err, errlen, "binding '%s': expected TYPE:ALIAS=VALUE", spec);
		return C360_ERR_INVALID;
	}
	size_t tl = (size_t)(colon - spec);
	const char *alias = colon + 1, *val = eq + 1;
	size_t alen = (size_t)(eq - alias);
	/* a binding given again (e.g. on the command line over a file) replaces it */
	for (int i = 0; i < def->nbindings; i++) {
		struct c360_fn_binding *o = &def->bindings[i];
		if (strlen(o->alias) != alen || memcmp(o->alias, alias, alen))
			continue;
		free(o->url);
		free(o->username);
		free(o->password);
		free(o->token);
		free(o->value);
		memmove(o, o + 1, (size_t)(def->nbindings - i - 1) * sizeof *o);
		def->nbindings--;
		break;
	}
	struct c360_fn_binding *b;
	if (tl == 6 && !strncmp(spec, "bucket", 6)) {
		if (!(b = new_binding(def, alias, alen, err, errlen)))
			return C360_ERR_INVALID;
		b->type = C360_FN_BIND_BUCKET;
		b->rw = false;
		const char *acc = strrchr(val, ':');
		size_t bl = acc ? (size_t)(acc - val) : strlen(val);
		if (acc) {
			if (!strcmp(acc + 1, "rw"))
				b->rw = true;
			else if (strcmp(acc + 1, "r")) {
				snprintf(err, errlen, "binding '%s': access must be r or rw", spec);
				def->nbindings--;
				return C360_ERR_INVALID;
			}
		}
		if (!copy_name(b->bucket, sizeof b->bucket, val, bl)) {
			snprintf(err, errlen, "binding '%s': bad bucket name", spec);
			def->nbindings--;
			return C360_ERR_INVALID;
		}
	} else if (tl == 3 && !strncmp(spec, "url", 3)) {
		if (!(b = new_binding(def, alias, alen, err, errlen)))
			return C360_ERR_INVALID;
		b->type = C360_FN_BIND_URL;
		b->validate_ssl_certificate = true;
		const char *semi = strchr(val, ';');
		b->url = dupn(val, semi ? (size_t)(semi - val) : strlen(val));
		while (semi) {
			const char *opt = semi + 1;
			semi = strchr(opt, ';');
			size_t ol = semi ? (size_t)(semi - opt) : strlen(opt);
			if (ol > 6 && !strncmp(opt, "basic=", 6)) {
				const char *c = memchr(opt + 6, ':', ol - 6);
				b->auth = C360_FN_AUTH_BASIC;
				b->username = dupn(opt + 6, c ? (size_t)(c - opt - 6) : ol - 6);
				b->password = c ? dupn(c + 1, (size_t)(opt + ol - c - 1)) : dupn("", 0);
			} else if (ol > 7 && !strncmp(opt, "bearer=", 7)) {
				b->auth = C360_FN_AUTH_BEARER;
				b->token = dupn(opt + 7, ol - 7);
			} else if (ol == 8 && !strncmp(opt, "insecure", 8)) {
				b->validate_ssl_certificate = false;
			} else if (ol == 7 && !strncmp(opt, "cookies", 7)) {
				b->allow_cookies = true;
			} else {
				snprintf(err, errlen, "binding '%s': unknown url option '%.*s'", spec, (int)ol, opt);
				drop_last(def);
				return C360_ERR_INVALID;
			}
		}
		if (!b->url || (strncmp(b->url, "http://", 7) && strncmp(b->url, "https://", 8))) {
			snprintf(err, errlen, "binding '%s': the URL must start with http:// or https://", spec);
			drop_last(def);
			return C360_ERR_INVALID;
		}
	} else if (tl == 8 && !strncmp(spec, "constant", 8)) {
		if (!(b = new_binding(def, alias, alen, err, errlen)))
			return C360_ERR_INVALID;
		b->type = C360_FN_BIND_CONSTANT;
		b->value = dupn(val, strlen(val));
	} else {
		snprintf(err, errlen, "binding '%s': type must be bucket, url or constant", spec);
		return C360_ERR_INVALID;
	}
	return C360_OK;
}

/* ---- exported JSON ---- */

static const char *jstr(const c360_json *o, const char *k)
{
	return c360_json_str(c360_json_get(o, k), NULL);
}

/* A setting may be a number, a string or a boolean: as text. */
static bool jtext(const c360_json *v, char *out, size_t cap)
{
	size_t n;
	const char *s;
	if ((s = c360_json_str(v, &n)) || (s = c360_json_num_text(v, &n))) {
		if (n >= cap)
			return false;
		memcpy(out, s, n);
		out[n] = 0;
		return true;
	}
	if (c360_json_is_bool(v)) {
		snprintf(out, cap, "%s", c360_json_bool(v) ? "true" : "false");
		return true;
	}
	return false;
}

c360_rc c360_fn_def_parse(const char *json, size_t len, struct c360_fn_def *def, char *err,
			  size_t errlen)
{
	c360_json_doc *doc = NULL;
	struct c360_json_error je;
	c360_rc rc;
	c360_fn_def_init(def);
	rc = c360_json_parse(json, len, NULL, &doc, &je);
	if (rc) {
		char where[160];
		c360_json_error_str(&je, where, sizeof where);
		snprintf(err, errlen, "not valid JSON: %s", where);
		return C360_ERR_INVALID;
	}
	c360_json *root = c360_json_doc_root(doc);
	if (c360_json_is_array(root)) {
		if (c360_json_len(root) != 1) {
			snprintf(err, errlen, "expected one function, the export holds %zu", c360_json_len(root));
			rc = C360_ERR_INVALID;
			goto out;
		}
		root = c360_json_at(root, 0);
	}
	if (!c360_json_is_object(root)) {
		snprintf(err, errlen, "expected a function object (appname, appcode, depcfg, settings)");
		rc = C360_ERR_INVALID;
		goto out;
	}
	rc = C360_ERR_INVALID;
	size_t n;
	const char *s = c360_json_str(c360_json_get(root, "appname"), &n);
	if (!s || !copy_name(def->name, sizeof def->name, s, n) || !valid_name(def->name)) {
		snprintf(err, errlen, "appname: expected a name of letters, digits, '_' and '-' (at most %d)",
			 C360_FN_NAME_MAX);
		goto out;
	}
	s = c360_json_str(c360_json_get(root, "appcode"), &n);
	if (!s) {
		snprintf(err, errlen, "appcode: expected the function's code as a string");
		goto out;
	}
	if (n > C360_FN_CODE_MAX) {
		snprintf(err, errlen, "appcode: larger than %u bytes", C360_FN_CODE_MAX);
		rc = C360_ERR_TOO_BIG;
		goto out;
	}
	def->code = dupn(s, n);
	def->code_len = n;
	if (!def->code) {
		rc = C360_ERR_NOMEM;
		goto out;
	}
	c360_json *dep = c360_json_get(root, "depcfg");
	if (!c360_json_is_object(dep)) {
		snprintf(err, errlen, "depcfg: expected an object");
		goto out;
	}
	s = jstr(dep, "source_bucket");
	if (!s || !copy_name(def->source_bucket, sizeof def->source_bucket, s, strlen(s))) {
		snprintf(err, errlen, "depcfg.source_bucket: expected a bucket name");
		goto out;
	}
	s = jstr(dep, "metadata_bucket");
	if (!s || !copy_name(def->metadata_bucket, sizeof def->metadata_bucket, s, strlen(s))) {
		snprintf(err, errlen, "depcfg.metadata_bucket: expected a bucket name");
		goto out;
	}
	size_t i = 0;
	for (c360_json *b = c360_json_first(c360_json_get(dep, "buckets")); b; b = c360_json_next(b), i++) {
		const char *alias = jstr(b, "alias"), *bucket = jstr(b, "bucket_name"), *acc = jstr(b, "access");
		struct c360_fn_binding *nb;
		if (!alias || !bucket) {
			snprintf(err, errlen, "depcfg.buckets[%zu]: expected alias and bucket_name", i);
			goto out;
		}
		if (!(nb = new_binding(def, alias, strlen(alias), err, errlen)))
			goto out;
		nb->type = C360_FN_BIND_BUCKET;
		nb->rw = acc && !strcmp(acc, "rw");
		if (acc && strcmp(acc, "rw") && strcmp(acc, "r")) {
			snprintf(err, errlen, "depcfg.buckets[%zu].access: expected 'r' or 'rw'", i);
			goto out;
		}
		if (!copy_name(nb->bucket, sizeof nb->bucket, bucket, strlen(bucket))) {
			snprintf(err, errlen, "depcfg.buckets[%zu].bucket_name: bad bucket name", i);
			goto out;
		}
	}
	i = 0;
	for (c360_json *b = c360_json_first(c360_json_get(dep, "curl")); b; b = c360_json_next(b), i++) {
		const char *alias = jstr(b, "value"), *url = jstr(b, "hostname"), *auth = jstr(b, "auth_type");
		struct c360_fn_binding *nb;
		if (!alias || !url) {
			snprintf(err, errlen, "depcfg.curl[%zu]: expected value (the alias) and hostname", i);
			goto out;
		}
		if (!(nb = new_binding(def, alias, strlen(alias), err, errlen)))
			goto out;
		nb->type = C360_FN_BIND_URL;
		nb->url = dupn(url, strlen(url));
		if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) {
			snprintf(err, errlen, "depcfg.curl[%zu].hostname: must start with http:// or https://", i);
			goto out;
		}
		if (!auth || !strcmp(auth, "no-auth"))
			nb->auth = C360_FN_AUTH_NONE;
		else if (!strcmp(auth, "basic"))
			nb->auth = C360_FN_AUTH_BASIC;
		else if (!strcmp(auth, "bearer"))
			nb->auth = C360_FN_AUTH_BEARER;
		else if (!strcmp(auth, "digest"))
			nb->auth = C360_FN_AUTH_DIGEST;
		else {
			snprintf(err, errlen, "depcfg.curl[%zu].auth_type: expected no-auth, basic, bearer or digest", i);
			goto out;
		}
		if ((s = jstr(b, "username")))
			nb->username = dupn(s, strlen(s));
		if ((s = jstr(b, "password")))
			nb->password = dupn(s, strlen(s));
		if ((s = jstr(b, "bearer_key")))
			nb->token = dupn(s, strlen(s));
		nb->allow_cookies = c360_json_bool(c360_json_get(b, "allow_cookies"));
		c360_json *v = c360_json_get(b, "validate_ssl_certificate");
		nb->validate_ssl_certificate = v ? c360_json_bool(v) : true;
	}
	i = 0;
	for (c360_json *b = c360_json_first(c360_json_get(dep, "constants")); b; b = c360_json_next(b), i++) {
		const char *alias = jstr(b, "value");
		c360_json *lit = c360_json_get(b, "literal");
		struct c360_fn_binding *nb;
		if (!alias || !lit) {
			snprintf(err, errlen, "depcfg.constants[%zu]: expected value (the alias) and literal", i);
			goto out;
		}
		if (!(nb = new_binding(def, alias, strlen(alias), err, errlen)))
			goto out;
		nb->type = C360_FN_BIND_CONSTANT;
		/* Couchbase keeps literals as text ("10", "\"str\"", "{...}") */
		if ((s = c360_json_str(lit, &n)))
			nb->value = dupn(s, n);
		else
			nb->value = c360_json_write_str(lit, C360_JSON_COMPACT, NULL);
	}
	c360_json *set = c360_json_get(root, "settings");
	for (c360_json *m = c360_json_first(set); m; m = c360_json_next(m)) {
		char val[256];
		const char *k = c360_json_key(m, NULL);
		if (!jtext(m, val, sizeof val))
			continue; /* objects, arrays: Couchbase-internal settings */
		if (c360_fn_def_set(def, k, val, err, errlen))
			goto out;
	}
	c360_json *cx = c360_json_get(root, "c360");
	if ((s = jstr(cx, "kind")) && (!c360_fn_kind_find(s) ||
	                               !copy_name(def->kind, sizeof def->kind, s, strlen(s)))) {
		/* only a kind built in: its name is written back as it is */
		snprintf(err, errlen, "c360.kind: unknown kind (expected 'js' or 'native')");
		goto out;
	}
	if (c360_json_get(cx, "self_recursion"))
		def->self_recursion = c360_json_bool(c360_json_get(cx, "self_recursion"));
	rc = C360_OK;
out:
	c360_json_doc_free(doc);
	if (rc) {
		c360_fn_def_release(def);
		c360_fn_def_init(def);
	}
	return rc;
}

static c360_rc put_kv_str(struct c360_buf *o, const char *k, const char *v, bool comma)
{
	c360_rc rc = c360_buf_printf(o, "%s\"%s\":", comma ? "," : "", k);
	if (!rc)
		rc = c360_json_write_string(v ? v : "", v ? strlen(v) : 0, o);
	return rc;
}

c360_rc c360_fn_def_write(const struct c360_fn_def *d, struct c360_buf *o)
{
	c360_rc rc = 0;
	bool first;
	rc |= c360_buf_puts(o, "{");
	rc |= put_kv_str(o, "appname", d->name, false);
	rc |= c360_buf_puts(o, ",\"appcode\":");
	rc |= c360_json_write_string(d->code ? d->code : "", d->code ? d->code_len : 0, o);
	rc |= c360_buf_puts(o, ",\"depcfg\":{\"buckets\":[");
	first = true;
	for (int i = 0; i < d->nbindings; i++) {
		const struct c360_fn_binding *b = &d->bindings[i];
		if (b->type != C360_FN_BIND_BUCKET)
			continue;
		rc |= c360_buf_puts(o, first ? "{" : ",{");
		first = false;
		rc |= put_kv_str(o, "alias", b->alias, false);
		rc |= put_kv_str(o, "bucket_name", b->bucket, true);
		rc |= put_kv_str(o, "access", b->rw ? "rw" : "r", true);
		rc |= c360_buf_puts(o, "}");
	}
	rc |= c360_buf_puts(o, "],\"curl\":[");
	first = true;
	for (int i = 0; i < d->nbindings; i++) {
		const struct c360_fn_binding *b = &d->bindings[i];
		static const char *auths[] = {"no-auth", "basic", "bearer", "digest"};
		if (b->type != C360_FN_BIND_URL)
			continue;
		rc |= c360_buf_puts(o, first ? "{" : ",{");
		first = false;
		rc |= put_kv_str(o, "value", b->alias, false);
		rc |= put_kv_str(o, "hostname", b->url, true);
		rc |= put_kv_str(o, "auth_type", auths[b->auth], true);
		if (b->username)
			rc |= put_kv_str(o, "username", b->username, true);
		if (b->password)
			rc |= put_kv_str(o, "password", b->password, true);
		if (b->token)
			rc |= put_kv_str(o, "bearer_key", b->token, true);
		rc |= c360_buf_printf(o, ",\"allow_cookies\":%s,\"validate_ssl_certificate\":%s}",
				      b->allow_cookies ? "true" : "false",
				      b->validate_ssl_certificate ? "true" : "false");
	}
	rc |= c360_buf_puts(o, "],\"constants\":[");
	first = true;
	for (int i = 0; i < d->nbindings; i++) {
		const struct c360_fn_binding *b = &d->bindings[i];
		if (b->type != C360_FN_BIND_CONSTANT)
			continue;
		rc |= c360_buf_puts(o, first ? "{" : ",{");
		first = false;
		rc |= put_kv_str(o, "value", b->alias, false);
		rc |= put_kv_str(o, "literal", b->value, true);
		rc |= c360_buf_puts(o, "}");
	}
	rc |= c360_buf_puts(o, "]");
	rc |= put_kv_str(o, "source_bucket", d->source_bucket, true);
	rc |= put_kv_str(o, "metadata_bucket", d->metadata_bucket, true);
	static const char *lv[] = {"ERROR", "WARNING", "INFO", "DEBUG", "TRACE"};
	rc |= c360_buf_printf(o,
			      "},\"settings\":{\"dcp_stream_boundary\":\"%s\",\"worker_count\":%d,"
			      "\"execution_timeout_ms\":%" PRId64 ",\"heap_limit_mb\":%" PRId64
			      ",\"checkpoint_interval_ms\":%" PRId64 ",\"log_level\":\"%s\"",
			      d->boundary == C360_FN_FROM_NOW ? "from_now" : "everything", d->worker_count,
			      d->execution_timeout_ms, d->heap_limit_mb, d->checkpoint_interval_ms,
			      lv[d->log_level]);
	rc |= put_kv_str(o, "description", d->description, true);
	rc |= c360_buf_puts(o, "},\"c360\":{");
	rc |= put_kv_str(o, "kind", d->kind, false);
	rc |= c360_buf_printf(o, ",\"self_recursion\":%s}}", d->self_recursion ? "true" : "false");
	return rc ? C360_ERR_TOO_BIG : C360_OK;
}

c360_rc c360_fn_def_check(const struct c360_fn_def *def, char *err, size_t errlen)
{
	if (!valid_name(def->name)) {
		snprintf(err, errlen, "function name '%s': use letters, digits, '_' and '-'", def->name);
		return C360_ERR_INVALID;
	}
	if (!def->source_bucket[0] || !def->metadata_bucket[0]) {
		snprintf(err, errlen, "function '%s': source and metadata buckets are required", def->name);
		return C360_ERR_INVALID;
	}
	if (!strcmp(def->source_bucket, def->metadata_bucket)) {
		snprintf(err, errlen, "function '%s': the metadata bucket must differ from the source bucket",
			 def->name);
		return C360_ERR_INVALID;
	}
	for (int i = 0; i < def->nbindings; i++) {
		const struct c360_fn_binding *b = &def->bindings[i];
		if (b->type == C360_FN_BIND_BUCKET && !strcmp(b->bucket, def->metadata_bucket)) {
			snprintf(err, errlen, "binding '%s': the metadata bucket cannot be bound", b->alias);
			return C360_ERR_INVALID;
		}
	}
	const struct c360_fn_kind *k = c360_fn_kind_find(def->kind);
	if (!k) {
		snprintf(err, errlen, "function '%s': kind '%s' is not built into this c360", def->name,
			 def->kind);
		return C360_ERR_UNSUPPORTED;
	}
	return k->check ? k->check(def, err, errlen) : C360_OK;
}

/* ---- deployment records ---- */

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void rec_key(const char *name, char *out, size_t cap)
{
	snprintf(out, cap, REC_PREFIX "%s", name);
}

static c360_rc save_record(c360_store *st, const struct c360_fn_def *def, enum c360_fn_state state,
			   uint64_t boundary)
{
	struct c360_buf b;
	char key[C360_KEY_MAX + 1];
	c360_rc rc;
	c360_buf_init(&b, C360_VALUE_MAX);
	rc = c360_buf_printf(&b, "{\"state\":\"%s\",\"boundary_seqno\":%" PRIu64 ",\"updated\":%" PRId64 ",\"def\":",
			     c360_fn_state_str(state), boundary, wall_ms());
	if (!rc)
		rc = c360_fn_def_write(def, &b);
	if (!rc)
		rc = c360_buf_putc(&b, '}');
	if (!rc)
		rc = c360_store_bucket_ensure(st, C360_META_BUCKET, 0);
	rec_key(def->name, key, sizeof key);
	if (!rc)
		rc = c360_store_upsert(st, C360_META_BUCKET, key, strlen(key), b.data, b.len, 0, NULL);
	c360_buf_release(&b);
	return rc;
}

c360_rc c360_fn_load(c360_store *st, const char *name, struct c360_fn_def *def,
		     enum c360_fn_state *state, uint64_t *boundary)
{
	char key[C360_KEY_MAX + 1], err[256];
	struct c360_doc d = {0};
	c360_json_doc *doc = NULL;
	c360_rc rc;
	c360_fn_def_init(def);
	rec_key(name, key, sizeof key);
	rc = c360_store_get(st, C360_META_BUCKET, key, strlen(key), &d);
	if (rc)
		return rc == C360_ERR_INVALID ? C360_ERR_NOT_FOUND : rc;
	rc = c360_json_parse(d.value, d.value_len, NULL, &doc, NULL);
	if (rc) {
		rc = C360_ERR_CORRUPT;
		goto out;
	}
	c360_json *root = c360_json_doc_root(doc);
	const char *s = jstr(root, "state");
	enum c360_fn_state stt = C360_FN_UNDEPLOYED;
	if (!s || !parse_state(s, &stt)) {
		rc = C360_ERR_CORRUPT;
		goto out;
	}
	if (state)
		*state = stt;
	if (boundary) {
		int64_t v = 0;
		c360_json_int64(c360_json_get(root, "boundary_seqno"), &v);
		*boundary = (uint64_t)v;
	}
	char *txt = c360_json_write_str(c360_json_get(root, "def"), C360_JSON_COMPACT, NULL);
	if (!txt) {
		rc = C360_ERR_NOMEM;
		goto out;
	}
	rc = c360_fn_def_parse(txt, strlen(txt), def, err, sizeof err);
	free(txt);
	if (rc)
		rc = C360_ERR_CORRUPT;
out:
	c360_json_doc_free(doc);
	c360_doc_release(&d);
	return rc;
}

/* Creates the buckets def names, takes its boundary, drops the checkpoint
 * of a previous deployment (in old_meta too, when the metadata bucket moved)
 * and records def as deployed. */
static c360_rc deploy_record(c360_store *st, const struct c360_fn_def *def, const char *old_meta,
			     uint64_t *boundary_out, char *err, size_t errlen)
{
	uint64_t boundary = 0;
	c360_rc rc;
	const char *buckets[2] = {def->source_bucket, def->metadata_bucket};
	for (int i = 0; i < 2; i++)
		if ((rc = c360_store_bucket_ensure(st, buckets[i], 0))) {
			snprintf(err, errlen, "cannot create bucket '%s': %s", buckets[i], c360_rc_str(rc));
			return rc;
		}
	for (int i = 0; i < def->nbindings; i++)
		if (def->bindings[i].type == C360_FN_BIND_BUCKET &&
		    (rc = c360_store_bucket_ensure(st, def->bindings[i].bucket, 0))) {
			snprintf(err, errlen, "cannot create bucket '%s': %s", def->bindings[i].bucket,
				 c360_rc_str(rc));
			return rc;
		}
	if (def->boundary == C360_FN_FROM_NOW && (rc = c360_feed_high_seqno(st, def->source_bucket, &boundary))) {
		snprintf(err, errlen, "cannot read the feed of '%s': %s", def->source_bucket, c360_rc_str(rc));
		return rc;
	}
	/* a fresh deployment starts from its boundary, not from an old checkpoint */
	char key[C360_KEY_MAX + 1];
	snprintf(key, sizeof key, "eventing::%s::checkpoint", def->name);
	c360_store_delete(st, def->metadata_bucket, key, strlen(key), 0);
	if (old_meta && strcmp(old_meta, def->metadata_bucket))
		c360_store_delete(st, old_meta, key, strlen(key), 0);
	rc = save_record(st, def, C360_FN_DEPLOYED, boundary);
	if (rc)
		snprintf(err, errlen, "cannot record function '%s': %s", def->name, c360_rc_str(rc));
	if (boundary_out)
		*boundary_out = boundary;
	return rc;
}

c360_rc c360_fn_deploy(c360_store *st, const struct c360_fn_def *def, char *err, size_t errlen)
{
	struct c360_fn_def old;
	enum c360_fn_state state;
	c360_rc rc = c360_fn_def_check(def, err, errlen);
	if (rc)
		return rc;
	rc = c360_fn_load(st, def->name, &old, &state, NULL);
	c360_fn_def_release(&old);
	if (!rc && state != C360_FN_UNDEPLOYED) {
		snprintf(err, errlen, "function '%s' is %s already (undeploy it first)", def->name,
			 c360_fn_state_str(state));
		return C360_ERR_EXISTS;
	}
	if (rc && rc != C360_ERR_NOT_FOUND) {
		snprintf(err, errlen, "cannot read function '%s': %s", def->name, c360_rc_str(rc));
		return rc;
	}
	return deploy_record(st, def, NULL, NULL, err, errlen);
}

/* The seqno of a function's checkpoint in bucket meta; 0 without one. */
static uint64_t checkpoint_seqno(c360_store *st, const char *meta, const char *name)
{
	char key[C360_KEY_MAX + 1];
	struct c360_doc d = {0};
	c360_json_doc *doc = NULL;
	int64_t v = 0;
	snprintf(key, sizeof key, "eventing::%s::checkpoint", name);
	if (c360_store_get(st, meta, key, strlen(key), &d))
		return 0;
	if (!c360_json_parse(d.value, d.value_len, NULL, &doc, NULL) &&
	    (!c360_json_int64(c360_json_get(c360_json_doc_root(doc), "seqno"), &v) || v < 0))
		v = 0;
	c360_json_doc_free(doc);
	c360_doc_release(&d);
	return (uint64_t)v;
}

/* Which part of a definition differs, for the log: "code", "buckets",
 * "bindings" or "settings"; NULL when the two are the same definition. */
static const char *def_change(const struct c360_fn_def *a, const struct c360_fn_def *b)
{
	struct c360_buf x, y;
	c360_buf_init(&x, C360_VALUE_MAX);
	c360_buf_init(&y, C360_VALUE_MAX);
	bool same = !c360_fn_def_write(a, &x) && !c360_fn_def_write(b, &y) && x.len == y.len &&
		    !memcmp(x.data, y.data, x.len);
	c360_buf_release(&x);
	c360_buf_release(&y);
	if (same)
		return NULL;
	if (strcmp(a->kind, b->kind) || a->code_len != b->code_len ||
	    (a->code_len && memcmp(a->code, b->code, a->code_len)))
		return "code";
	if (strcmp(a->source_bucket, b->source_bucket) || strcmp(a->metadata_bucket, b->metadata_bucket))
		return "buckets";
	if (a->nbindings != b->nbindings)
		return "bindings";
	for (int i = 0; i < a->nbindings; i++) {
		const struct c360_fn_binding *p = &a->bindings[i], *q = &b->bindings[i];
		if (p->type != q->type || strcmp(p->alias, q->alias) || strcmp(p->bucket, q->bucket) ||
		    p->rw != q->rw)
			return "bindings";
	}
	/* the URL and constant bindings' texts, or the settings: name both */
	return "bindings or settings";
}

c360_rc c360_fn_deploy_or_resume(c360_store *st, const struct c360_fn_def *def,
				 struct c360_fn_resume *out, char *err, size_t errlen)
{
	struct c360_fn_def old;
	enum c360_fn_state state;
	uint64_t boundary = 0;
	memset(out, 0, sizeof *out);
	c360_rc rc = c360_fn_def_check(def, err, errlen);
	if (rc)
		return rc;
	rc = c360_fn_load(st, def->name, &old, &state, &boundary);
	if (rc == C360_ERR_NOT_FOUND || (!rc && state == C360_FN_UNDEPLOYED)) {
		c360_fn_def_release(&old);
		out->outcome = C360_FN_NEW;
		out->state = C360_FN_DEPLOYED;
		return deploy_record(st, def, NULL, &out->boundary, err, errlen);
	}
	if (rc) {
		snprintf(err, errlen, "cannot read function '%s': %s", def->name, c360_rc_str(rc));
		c360_fn_def_release(&old);
		return rc;
	}
	out->checkpoint = checkpoint_seqno(st, old.metadata_bucket, def->name);
	out->changed = def_change(&old, def);
	if (!out->changed) {
		/* the same definition: the runtime resumes after its checkpoint, in
		 * the state the record holds (a paused function stays paused) */
		out->outcome = C360_FN_RESUMED;
		out->state = state;
		out->boundary = boundary;
		c360_fn_def_release(&old);
		return C360_OK;
	}
	out->outcome = C360_FN_REDEPLOYED;
	out->state = C360_FN_DEPLOYED;
	rc = deploy_record(st, def, old.metadata_bucket, &out->boundary, err, errlen);
	c360_fn_def_release(&old);
	return rc;
}

c360_rc c360_fn_define(c360_store *st, const struct c360_fn_def *def, char *err, size_t errlen)
{
	struct c360_fn_def old;
	enum c360_fn_state state;
	c360_rc rc = c360_fn_def_check(def, err, errlen);
	if (rc)
		return rc;
	rc = c360_fn_load(st, def->name, &old, &state, NULL);
	c360_fn_def_release(&old);
	if (!rc && state != C360_FN_UNDEPLOYED) {
		snprintf(err, errlen, "function '%s' is %s (undeploy it before changing it)", def->name,
			 c360_fn_state_str(state));
		return C360_ERR_STATE;
	}
	rc = save_record(st, def, C360_FN_UNDEPLOYED, 0);
	if (rc)
		snprintf(err, errlen, "cannot record function '%s': %s", def->name, c360_rc_str(rc));
	return rc;
}

c360_rc c360_fn_set_state(c360_store *st, const char *name, enum c360_fn_state state, char *err,
			  size_t errlen)
{
	struct c360_fn_def def;
	enum c360_fn_state cur;
	uint64_t boundary;
	c360_rc rc = c360_fn_load(st, name, &def, &cur, &boundary);
	if (rc) {
		snprintf(err, errlen, rc == C360_ERR_NOT_FOUND ? "no function '%s'" : "cannot read function '%s'",
			 name);
		return rc;
	}
	if (state == C360_FN_PAUSED && cur != C360_FN_DEPLOYED) {
		snprintf(err, errlen, "function '%s' is %s, not deployed", name, c360_fn_state_str(cur));
		rc = C360_ERR_STATE;
		goto out;
	}
	if (state == C360_FN_DEPLOYED && cur != C360_FN_PAUSED) {
		snprintf(err, errlen, "function '%s' is %s, not paused", name, c360_fn_state_str(cur));
		rc = C360_ERR_STATE;
		goto out;
	}
	if (state == C360_FN_UNDEPLOYED) {
		if (cur == C360_FN_UNDEPLOYED) {
			snprintf(err, errlen, "function '%s' is not deployed", name);
			rc = C360_ERR_STATE;
			goto out;
		}
		char key[C360_KEY_MAX + 1];
		snprintf(key, sizeof key, "eventing::%s::checkpoint", name);
		c360_store_delete(st, def.metadata_bucket, key, strlen(key), 0);
	}
	rc = save_record(st, &def, state, boundary);
	if (rc)
		snprintf(err, errlen, "cannot record function '%s': %s", name, c360_rc_str(rc));
out:
	c360_fn_def_release(&def);
	return rc;
}

c360_rc c360_fn_delete(c360_store *st, const char *name, char *err, size_t errlen)
{
	struct c360_fn_def def;
	enum c360_fn_state cur;
	c360_rc rc = c360_fn_load(st, name, &def, &cur, NULL);
	c360_fn_def_release(&def);
	if (rc) {
		snprintf(err, errlen, "no function '%s'", name);
		return rc;
	}
	if (cur != C360_FN_UNDEPLOYED) {
		snprintf(err, errlen, "function '%s' is %s (undeploy it first)", name, c360_fn_state_str(cur));
		return C360_ERR_STATE;
	}
	char key[C360_KEY_MAX + 1];
	rec_key(name, key, sizeof key);
	return c360_store_delete(st, C360_META_BUCKET, key, strlen(key), 0);
}

c360_rc c360_fn_list(c360_store *st, struct c360_buf *out)
{
	struct c360_buf q;
	c360_json_doc *doc = NULL;
	char err[256];
	struct c360_query_opts qo = {.max_rows = 100000};
	c360_rc rc = c360_store_bucket_ensure(st, C360_META_BUCKET, 0);
	if (rc)
		return rc;
	c360_buf_init(&q, 64u << 20);
	rc = c360_store_query(st,
			      "SELECT substr(key, 11) FROM \"" C360_META_BUCKET
			      "\" WHERE key LIKE 'function::%' ORDER BY key",
			      &qo, &q, err, sizeof err);
	if (!rc)
		rc = c360_json_parse(q.data, q.len, NULL, &doc, NULL);
	if (!rc) {
		bool first = true;
		rc = c360_buf_putc(out, '[');
		for (c360_json *row = c360_json_first(c360_json_get(c360_json_doc_root(doc), "rows")); row && !rc;
		     row = c360_json_next(row)) {
			size_t n;
			const char *s = c360_json_str(c360_json_at(row, 0), &n);
			if (!s)
				continue;
			if (!first)
				rc = c360_buf_putc(out, ',');
			first = false;
			if (!rc)
				rc = c360_json_write_string(s, n, out);
		}
		if (!rc)
			rc = c360_buf_putc(out, ']');
	}
	c360_json_doc_free(doc);
	c360_buf_release(&q);
	return rc;
}

c360_rc c360_fn_app_log_path(c360_store *st, const char *name, char *out, size_t outlen)
{
	const char *p = c360_store_path(st);
	int n = snprintf(out, outlen, "%s.applog/%s.log", p ? p : "c360", name);
	return n < 0 || (size_t)n >= outlen ? C360_ERR_TOO_BIG : C360_OK;
}

c360_rc c360_fn_status(c360_store *st, const char *name, struct c360_buf *out)
{
	struct c360_fn_def def;
	enum c360_fn_state state;
	uint64_t boundary, high = 0, ck = 0;
	int64_t updated = 0;
	struct c360_doc d = {0};
	c360_json_doc *doc = NULL;
	char key[C360_KEY_MAX + 1];
	c360_rc rc = c360_fn_load(st, name, &def, &state, &boundary);
	if (rc)
		return rc;
	c360_feed_high_seqno(st, def.source_bucket, &high);
	ck = boundary;
	snprintf(key, sizeof key, "eventing::%s::checkpoint", name);
	if (!c360_store_get(st, def.metadata_bucket, key, strlen(key), &d) &&
	    !c360_json_parse(d.value, d.value_len, NULL, &doc, NULL)) {
		int64_t v;
		if (c360_json_int64(c360_json_get(c360_json_doc_root(doc), "seqno"), &v))
			ck = (uint64_t)v;
		c360_json_int64(c360_json_get(c360_json_doc_root(doc), "updated"), &updated);
	}
	/* progress written every second between checkpoints, when running */
	struct c360_doc d2 = {0};
	c360_json_doc *doc2 = NULL;
	uint64_t done = ck;
	snprintf(key, sizeof key, "eventing::%s::stats", name);
	if (!c360_store_get(st, def.metadata_bucket, key, strlen(key), &d2) &&
	    !c360_json_parse(d2.value, d2.value_len, NULL, &doc2, NULL)) {
		int64_t v, up = 0;
		c360_json_int64(c360_json_get(c360_json_doc_root(doc2), "updated"), &up);
		if (up >= updated && c360_json_int64(c360_json_get(c360_json_doc_root(doc2), "seqno"), &v) &&
		    (uint64_t)v >= ck) {
			done = (uint64_t)v;
			updated = up;
		} else {
			c360_json_doc_free(doc2);
			doc2 = NULL;
		}
	}
	uint64_t backlog = high > done ? high - done : 0;
	double lag = 0;
	if (backlog && updated)
		lag = (double)(wall_ms() - updated) / 1000.0;
	if (lag < 0)
		lag = 0;
	rc = c360_buf_printf(out, "{\"name\":");
	rc |= c360_json_write_string(name, strlen(name), out);
	rc |= c360_buf_printf(out,
			      ",\"state\":\"%s\",\"kind\":\"%s\",\"source_bucket\":\"%s\",\"metadata_bucket\":\"%s\","
			      "\"worker_count\":%d,\"checkpoint\":%" PRIu64 ",\"high_seqno\":%" PRIu64
			      ",\"processed_seqno\":%" PRIu64 ",\"backlog\":%" PRIu64 ",\"lag_seconds\":%.1f,\"stats\":",
			      c360_fn_state_str(state), def.kind, def.source_bucket, def.metadata_bucket,
			      def.worker_count, ck, high, done, backlog, lag);
	c360_json *stats = c360_json_get(c360_json_doc_root(doc2 ? doc2 : doc), "stats");
	if (stats)
		rc |= c360_json_write(stats, C360_JSON_COMPACT, out);
	else
		rc |= c360_buf_puts(out, "{}");
	rc |= c360_buf_putc(out, '}');
	c360_json_doc_free(doc);
	c360_json_doc_free(doc2);
	c360_doc_release(&d);
	c360_doc_release(&d2);
	c360_fn_def_release(&def);
	return rc ? C360_ERR_TOO_BIG : C360_OK;
}
