/* The "js" function kind: Couchbase-Eventing-style JavaScript on Duktape, one
 * heap per worker. The only eventing code that includes duktape.h.
 *
 * Each instance owns a heap whose udata is the instance. A handler call is
 * stopped when it passes its execution timeout, when its heap passes
 * heap_limit_mb, or when the run is asked to stop (env->stop): from then on
 * the call is "stopped" and stays so until it has unwound, because Duktape
 * only gives control back at a few places, all of which then refuse:
 *   - the generated DUK_USE_EXEC_TIMEOUT_CHECK hook (cmake/duktape.cmake),
 *     every 256K bytecode instructions;
 *   - the DUK_USE_NATIVE_STACK_CHECK hook, on every call and every regexp
 *     backtracking step (catastrophic regexps spend all their time there);
 *   - the heap's allocator, on every allocation (built-ins such as
 *     Array.prototype.join or string concatenation allocate as they go).
 * A stopped call's heap may hold anything, so it is thrown away and rebuilt
 * before the next change. The globals (aliases, couchbase.*, curl, log,
 * errors) come from the prelude in js_boot.h over a private natives object;
 * the natives below do the I/O. */
#include <curl/curl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "duktape.h"
#include "eventing/handler.h"
#include "eventing/js/js_boot.h"
#include "core/banned.h"

#define JS_CURL_MAX_RESP (16u << 20) /* response cap, bytes */
#define JS_CURL_CONNECT_MS 5000

/* why a call was stopped */
enum js_stop {
	JS_RUNNING = 0,
	JS_TIMED_OUT,   /* past def->execution_timeout_ms */
	JS_HEAP_FULL,   /* the heap passed def->heap_limit_mb */
	JS_STOPPING,    /* *env->stop: the run is stopping */
};

#define JS_BLOCK_HDR 16            /* size kept in front of every block (malloc's alignment) */
#define JS_CLOCK_EVERY 256         /* allocations / native checks between clock reads */
#define JS_BIG_ALLOC (64u << 10)   /* allocations this large always read the clock */

struct jsinst {
	duk_context *ctx;
	struct c360_fn_env *env;
	int64_t deadline_ms;  /* 0 = not armed (no call running) */
	enum js_stop stopped; /* sticky while the call unwinds */
	unsigned ticks;
	size_t heap_bytes, heap_limit;
	bool rebuild;         /* the heap was abandoned by a stopped call */
	CURL *curl;
	/* stats */
	uint64_t curl_success, curl_failure, curl_timeout, curl_non_200;
	uint64_t bucket_op_exception, log_lines;
	uint64_t heap_limit_count, heap_rebuilds;
	char err[512];        /* compile error for check() */
};

/* the instance whose call runs on this thread (for the argument-less
 * DUK_USE_NATIVE_STACK_CHECK hook) */
static _Thread_local struct jsinst *running;

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* True when the running call must stop (and from then on until disarmed).
 * Reads the clock only when `clock` is set. */
static bool must_stop(struct jsinst *in, bool clock)
{
	if (!in->deadline_ms)
		return false;
	if (in->stopped)
		return true;
	if (in->env->stop && *in->env->stop)
		in->stopped = JS_STOPPING;
	else if (clock && now_ms() >= in->deadline_ms)
		in->stopped = JS_TIMED_OUT;
	return in->stopped != JS_RUNNING;
}

/* Called by Duktape's bytecode executor every 256K instructions. */
int c360_duk_exec_timeout_check(void *udata)
{
	struct jsinst *in = udata;
	return in && must_stop(in, true);
}

/* Called by Duktape on every call, regexp backtracking step and JSON nesting
 * level; non-zero throws a RangeError. */
int c360_duk_native_check(void)
{
	struct jsinst *in = running;
	return in && must_stop(in, (++in->ticks % JS_CLOCK_EVERY) == 0);
}

/* The heap's allocator: counts the heap's bytes and, while a call runs,
 * refuses what passes the heap limit and everything once the call must stop.
 * Duktape turns a refusal into a RangeError (after a garbage collection). */
static bool refuse(struct jsinst *in, size_t grow)
{
	if (!in->deadline_ms)
		return false;
	if (!in->stopped && in->heap_bytes + grow > in->heap_limit) {
		in->stopped = JS_HEAP_FULL;
		in->heap_limit_count++;
	}
	return must_stop(in, grow >= JS_BIG_ALLOC || (++in->ticks % JS_CLOCK_EVERY) == 0);
}

static void *heap_alloc(void *udata, duk_size_t size)
{
	struct jsinst *in = udata;
	if (size > SIZE_MAX - JS_BLOCK_HDR || refuse(in, size))
		return NULL;
	unsigned char *b = malloc(size + JS_BLOCK_HDR);
	if (!b)
		return NULL;
	memcpy(b, &size, sizeof size);
	in->heap_bytes += size;
	return b + JS_BLOCK_HDR;
}

static void heap_free(void *udata, void *ptr)
{
	struct jsinst *in = udata;
	if (!ptr)
		return;
	unsigned char *b = (unsigned char *)ptr - JS_BLOCK_HDR;
	size_t size;
	memcpy(&size, b, sizeof size);
	in->heap_bytes -= size;
	free(b);
}

static void *heap_realloc(void *udata, void *ptr, duk_size_t size)
{
	struct jsinst *in = udata;
	if (!ptr)
		return heap_alloc(udata, size);
	if (!size) {
		heap_free(udata, ptr);
		return NULL;
	}
	unsigned char *b = (unsigned char *)ptr - JS_BLOCK_HDR;
	size_t old;
	memcpy(&old, b, sizeof old);
	if (size > SIZE_MAX - JS_BLOCK_HDR || (size > old && refuse(in, size - old)))
		return NULL;
	unsigned char *nb = realloc(b, size + JS_BLOCK_HDR);
	if (!nb)
		return NULL;
	memcpy(nb, &size, sizeof size);
	in->heap_bytes = in->heap_bytes - old + size;
	return nb + JS_BLOCK_HDR;
}

static void fatal_handler(void *udata, const char *msg)
{
	/* only reachable on an error outside any protected call: a bug */
	fprintf(stderr, "c360: duktape fatal error: %s\n", msg ? msg : "(none)");
	abort();
}

static void app_log(struct jsinst *in, enum c360_log_level lv, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void app_log(struct jsinst *in, enum c360_log_level lv, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (in->env && in->env->rt)
		c360_fn_app_log(in->env, lv, "%s", msg);
	else if (in->env)
		c360_log(lv, in->env->def->name, "%s", msg);
}

static struct jsinst *self(duk_context *ctx)
{
	duk_memory_functions mf;
	duk_get_memory_functions(ctx, &mf);
	return mf.udata;
}

static const struct c360_fn_binding *bucket_binding(duk_context *ctx, struct jsinst *in, int idx)
{
	const struct c360_fn_def *d = in->env->def;
	if (idx < 0 || idx >= d->nbindings || d->bindings[idx].type != C360_FN_BIND_BUCKET)
		(void)duk_error(ctx, DUK_ERR_ERROR, "bad bucket binding");
	if (!in->env->store)
		(void)duk_error(ctx, DUK_ERR_ERROR, "no store (bucket operations are unavailable here)");
	return &d->bindings[idx];
}

static void throw_kv(duk_context *ctx, struct jsinst *in, const char *what, const char *key, c360_rc rc)
{
	in->bucket_op_exception++;
	(void)duk_error(ctx, DUK_ERR_ERROR, "KVError: %s '%s' failed: %s", what, key, c360_rc_str(rc));
}

/* N.kvGet(idx, key) -> parsed document or undefined */
static duk_ret_t n_kv_get(duk_context *ctx)
{
	struct jsinst *in = self(ctx);
	const struct c360_fn_binding *b = bucket_binding(ctx, in, duk_require_int(ctx, 0));
	duk_size_t klen;
	const char *key = duk_require_lstring(ctx, 1, &klen);
	struct c360_doc doc = {0};
	c360_rc rc = c360_fn_get(in->env, b->bucket, key, klen, &doc);
	if (rc == C360_ERR_NOT_FOUND || rc == C360_ERR_INVALID) {
		duk_push_undefined(ctx);
		return 1;
	}
	if (rc)
		throw_kv(ctx, in, "get", key, rc);
	duk_push_lstring(ctx, doc.value, doc.value_len);
	c360_doc_release(&doc);
	duk_json_decode(ctx, -1);
	return 1;
}

static c360_rc do_write(struct jsinst *in, enum c360_write_type type, const char *bucket,
			const char *key, size_t klen, const char *val, size_t vlen, uint64_t cas,
			uint32_t expiry, int rec, uint64_t *cas_out)
{
	struct c360_write w = {0};
	w.type = type;
	w.bucket = bucket;
	w.key = key;
	w.key_len = klen;
	w.value = val;
	w.value_len = vlen;
	w.cas = cas;
	w.expiry = expiry;
	w.flags = C360_WRITE_TRUSTED_JSON;
	c360_rc rc = c360_fn_write(in->env, &w, 1, rec != 0);
	if (rc)
		return rc;
	if (cas_out)
		*cas_out = w.new_cas;
	return w.rc;
}

/* N.kvSet(idx, key, value): upsert */
static duk_ret_t n_kv_set(duk_context *ctx)
{
	struct jsinst *in = self(ctx);
	const struct c360_fn_binding *b = bucket_binding(ctx, in, duk_require_int(ctx, 0));
	duk_size_t klen, vlen;
	const char *key = duk_require_lstring(ctx, 1, &klen);
	if (duk_is_undefined(ctx, 2) || duk_is_function(ctx, 2))
		(void)duk_error(ctx, DUK_ERR_TYPE_ERROR, "cannot store undefined or a function at '%s'", key);
	const char *val = duk_json_encode(ctx, 2);
	val = duk_get_lstring(ctx, 2, &vlen);
	c360_rc rc = do_write(in, C360_WRITE_UPSERT, b->bucket, key, klen, val, vlen, 0, 0, 0, NULL);
	if (rc)
		throw_kv(ctx, in, "set", key, rc);
	return 0;
}

/* N.kvDel(idx, key): delete, a no-op when absent */
static duk_ret_t n_kv_del(duk_context *ctx)
{
	struct jsinst *in = self(ctx);
	const struct c360_fn_binding *b = bucket_binding(ctx, in, duk_require_int(ctx, 0));
	duk_size_t klen;
	const char *key = duk_require_lstring(ctx, 1, &klen);
	c360_rc rc = do_write(in, C360_WRITE_DELETE, b->bucket, key, klen, NULL, 0, 0, 0, 0, NULL);
	if (rc && rc != C360_ERR_NOT_FOUND && rc != C360_ERR_INVALID)
		throw_kv(ctx, in, "delete", key, rc);
	return 0;
}

/* N.kvOp(idx, op, id, doc, casString, expiry, selfRecursion)
 *   -> [code, casString, doc, expiry]; code 0 ok, 1 not found, 2 exists, 3 cas */
static duk_ret_t n_kv_op(duk_context *ctx)
{
	struct jsinst *in = self(ctx);
	const struct c360_fn_binding *b = bucket_binding(ctx, in, duk_require_int(ctx, 0));
	const char *op = duk_require_string(ctx, 1);
	duk_size_t klen;
	const char *key = duk_require_lstring(ctx, 2, &klen);
	const char *cass = duk_get_string_default(ctx, 4, "");
	uint32_t expiry = (uint32_t)duk_get_uint_default(ctx, 5, 0);
	int rec = duk_get_boolean_default(ctx, 6, 0);
	uint64_t cas = 0, cas_out = 0;
	if (cass[0]) {
		char *end;
		cas = strtoull(cass, &end, 10);
		if (*end)
			(void)duk_error(ctx, DUK_ERR_TYPE_ERROR, "meta.cas '%s' is not a CAS value", cass);
	}
	int code = 0;
	c360_rc rc;
	duk_idx_t arr = duk_push_array(ctx);
	if (!strcmp(op, "get")) {
		struct c360_doc doc = {0};
		rc = c360_fn_get(in->env, b->bucket, key, klen, &doc);
		if (rc == C360_ERR_NOT_FOUND || rc == C360_ERR_INVALID) {
			code = 1;
		} else if (rc) {
			throw_kv(ctx, in, op, key, rc);
		} else {
			char cb[24];
			snprintf(cb, sizeof cb, "%" PRIu64, doc.cas);
			duk_push_int(ctx, 0);
			duk_put_prop_index(ctx, arr, 0);
			duk_push_string(ctx, cb);
			duk_put_prop_index(ctx, arr, 1);
			duk_push_lstring(ctx, doc.value, doc.value_len);
			uint32_t exp = doc.expiry;
			c360_doc_release(&doc);
			duk_json_decode(ctx, -1);
			duk_put_prop_index(ctx, arr, 2);
			duk_push_uint(ctx, exp);
			duk_put_prop_index(ctx, arr, 3);
			return 1;
		}
	} else {
		enum c360_write_type t;
		const char *val = NULL;
		duk_size_t vlen = 0;
		if (!strcmp(op, "insert"))
			t = C360_WRITE_INSERT;
		else if (!strcmp(op, "upsert"))
			t = C360_WRITE_UPSERT, cas = 0;
		else if (!strcmp(op, "replace"))
			t = C360_WRITE_REPLACE;
		else if (!strcmp(op, "delete"))
			t = C360_WRITE_DELETE;
		else
			return duk_error(ctx, DUK_ERR_ERROR, "unknown operation '%s'", op);
		if (t == C360_WRITE_INSERT)
			cas = 0;
		if (t != C360_WRITE_DELETE) {
			if (duk_is_undefined(ctx, 3) || duk_is_function(ctx, 3))
				(void)duk_error(ctx, DUK_ERR_TYPE_ERROR, "couchbase.%s needs a document", op);
			duk_json_encode(ctx, 3);
			val = duk_get_lstring(ctx, 3, &vlen);
		}
		rc = do_write(in, t, b->bucket, key, klen, val, vlen, cas, expiry, rec, &cas_out);
		if (rc == C360_ERR_NOT_FOUND || rc == C360_ERR_INVALID)
			code = 1;
		else if (rc == C360_ERR_EXISTS)
			code = 2;
		else if (rc == C360_ERR_CAS)
			code = 3;
		else if (rc)
			throw_kv(ctx, in, op, key, rc);
	}
	duk_push_int(ctx, code);
	duk_put_prop_index(ctx, arr, 0);
	if (!code) {
		char cb[24];
		snprintf(cb, sizeof cb, "%" PRIu64, cas_out);
		duk_push_string(ctx, cb);
		duk_put_prop_index(ctx, arr, 1);
	}
	return 1;
}

/* N.log(text) */
static duk_ret_t n_log(duk_context *ctx)
{
	struct jsinst *in = self(ctx);
	in->log_lines++;
	app_log(in, C360_LOG_INFO, "%s", duk_safe_to_string(ctx, 0));
	return 0;
}

struct resp {
	struct c360_buf body;
	struct c360_buf hdrs;
	int too_big;
};

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
	struct resp *r = ud;
	if (c360_buf_append(&r->body, p, sz * n)) {
		r->too_big = 1;
		return 0;
	}
	return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
	struct resp *r = ud;
	size_t len = sz * n;
	/* a new status line (redirect, 100-continue) restarts the header set */
	if (len > 5 && !memcmp(p, "HTTP/", 5))
		c360_buf_reset(&r->hdrs);
	else if (c360_buf_append(&r->hdrs, p, len))
		return 0;
	return len;
}

/* Ends a transfer when the run is asked to stop (its deadline bounds it too). */
static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct jsinst *in = ud;
	(void)dt, (void)dn, (void)ut, (void)un;
	return must_stop(in, false);
}

/* Builds {name: value} of the response headers (names lower-cased). */
static void push_headers(duk_context *ctx, const char *h)
{
	duk_push_object(ctx);
	while (*h) {
		const char *eol = strchr(h, '\n');
		size_t len = eol ? (size_t)(eol - h) : strlen(h);
		const char *colon = memchr(h, ':', len);
		if (colon) {
			char name[128];
			size_t nl = (size_t)(colon - h);
			if (nl >= sizeof name)
				nl = sizeof name - 1;
			for (size_t i = 0; i < nl; i++)
				name[i] = (char)((h[i] >= 'A' && h[i] <= 'Z') ? h[i] + 32 : h[i]);
			name[nl] = 0;
			const char *v = colon + 1;
			const char *end = h + len;
			while (v < end && (*v == ' ' || *v == '\t'))
				v++;
			while (end > v && (end[-1] == '\r' || end[-1] == ' '))
				end--;
			duk_push_lstring(ctx, v, (duk_size_t)(end - v));
			duk_put_prop_string(ctx, -2, name);
		}
		h += len;
		if (*h == '\n')
			h++;
	}
}

/* N.curl(method, bindingIdx|-1, pathOrUrl, headers, body, contentType)
 *   -> [status, headersText, bodyText, contentType, headersObj]
 *   or [-1, message] on failure (the prelude throws CurlError). */
static duk_ret_t n_curl(duk_context *ctx)
{
	struct jsinst *in = self(ctx);
	const char *method = duk_require_string(ctx, 0);
	int idx = duk_require_int(ctx, 1);
	const char *path = duk_require_string(ctx, 2);
	const char *ctype = duk_get_string_default(ctx, 5, "");
	const struct c360_fn_def *d = in->env->def;
	const struct c360_fn_binding *b = NULL;
	struct c360_buf url;
	struct resp r;
	struct curl_slist *hl = NULL;
	char msg[CURL_ERROR_SIZE + 128] = "";
	char errbuf[CURL_ERROR_SIZE] = "";
	long status = 0;
	CURLcode cc;

	c360_buf_init(&url, 8192);
	c360_buf_init(&r.body, JS_CURL_MAX_RESP);
	c360_buf_init(&r.hdrs, 64 * 1024);
	r.too_big = 0;
	if (idx >= 0) {
		if (idx >= d->nbindings || d->bindings[idx].type != C360_FN_BIND_URL)
			return duk_error(ctx, DUK_ERR_ERROR, "bad url binding");
		b = &d->bindings[idx];
		const char *base = b->url;
		size_t bl = strlen(base);
		c360_buf_append(&url, base, bl);
		if (path[0] && path[0] != '/' && path[0] != '?' && (!bl || base[bl - 1] != '/'))
			c360_buf_putc(&url, '/');
		else if (path[0] == '/' && bl && base[bl - 1] == '/')
			path++;
		if (c360_buf_puts(&url, path)) {
			snprintf(msg, sizeof msg, "url too long");
			goto fail;
		}
	} else if (c360_buf_puts(&url, path)) {
		snprintf(msg, sizeof msg, "url too long");
		goto fail;
	}
	if (strncmp(c360_buf_cstr(&url), "http://", 7) && strncmp(c360_buf_cstr(&url), "https://", 8)) {
		snprintf(msg, sizeof msg, "only http and https URLs are allowed: '%s'", c360_buf_cstr(&url));
		goto fail;
	}
	if (!in->curl && !(in->curl = curl_easy_init())) {
		snprintf(msg, sizeof msg, "cannot initialise libcurl");
		goto fail;
	}
	CURL *c = in->curl;
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, c360_buf_cstr(&url));
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, in);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)JS_CURL_CONNECT_MS);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)JS_CURL_MAX_RESP);
	{
		/* never outlive the handler's own execution timeout */
		int64_t left = in->deadline_ms ? in->deadline_ms - now_ms() : 30000;
		if (left < 1)
			left = 1;
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)left);
	}
	if (!strcmp(method, "HEAD"))
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "GET") && strcmp(method, "POST"))
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (b && b->auth != C360_FN_AUTH_NONE) {
		if (b->auth == C360_FN_AUTH_BEARER) {
			curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
			curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, b->token ? b->token : "");
		} else {
			curl_easy_setopt(c, CURLOPT_HTTPAUTH,
					 b->auth == C360_FN_AUTH_DIGEST ? CURLAUTH_DIGEST : CURLAUTH_BASIC);
			curl_easy_setopt(c, CURLOPT_USERNAME, b->username ? b->username : "");
			curl_easy_setopt(c, CURLOPT_PASSWORD, b->password ? b->password : "");
		}
	}
	if (b && !b->validate_ssl_certificate) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (b && b->allow_cookies)
		curl_easy_setopt(c, CURLOPT_COOKIEFILE, "");
	if (duk_is_object(ctx, 3)) {
		duk_enum(ctx, 3, DUK_ENUM_OWN_PROPERTIES_ONLY);
		while (duk_next(ctx, -1, 1)) {
			char line[1024];
			snprintf(line, sizeof line, "%s: %s", duk_safe_to_string(ctx, -2),
				 duk_safe_to_string(ctx, -1));
			struct curl_slist *nl = curl_slist_append(hl, line);
			if (nl)
				hl = nl;
			duk_pop_2(ctx);
		}
		duk_pop(ctx);
	}
	if (ctype[0]) {
		char line[256];
		snprintf(line, sizeof line, "Content-Type: %s", ctype);
		struct curl_slist *nl = curl_slist_append(hl, line);
		if (nl)
			hl = nl;
	}
	if (hl)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	if (duk_is_string(ctx, 4)) {
		duk_size_t blen;
		const char *body = duk_get_lstring(ctx, 4, &blen);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
		curl_easy_setopt(c, CURLOPT_COPYPOSTFIELDS, body);
		if (!strcmp(method, "GET"))
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "GET");
	} else if (!strcmp(method, "POST")) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
		curl_easy_setopt(c, CURLOPT_COPYPOSTFIELDS, "");
	}
	cc = curl_easy_perform(c);
	curl_slist_free_all(hl);
	hl = NULL;
	if (cc != CURLE_OK) {
		if (cc == CURLE_OPERATION_TIMEDOUT)
			in->curl_timeout++;
		if (r.too_big || cc == CURLE_FILESIZE_EXCEEDED)
			snprintf(msg, sizeof msg, "%s %s: response larger than %u bytes", method,
				 c360_buf_cstr(&url), JS_CURL_MAX_RESP);
		else
			snprintf(msg, sizeof msg, "%s %s: %s", method, c360_buf_cstr(&url),
				 errbuf[0] ? errbuf : curl_easy_strerror(cc));
		goto fail;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	in->curl_success++;
	if (status != 200)
		in->curl_non_200++;
	{
		char *ct = NULL;
		curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
		duk_push_array(ctx);
		duk_push_int(ctx, (duk_int_t)status);
		duk_put_prop_index(ctx, -2, 0);
		duk_push_string(ctx, c360_buf_cstr(&r.hdrs));
		duk_put_prop_index(ctx, -2, 1);
		duk_push_lstring(ctx, r.body.data ? r.body.data : "", r.body.len);
		duk_put_prop_index(ctx, -2, 2);
		duk_push_string(ctx, ct ? ct : "");
		duk_put_prop_index(ctx, -2, 3);
		push_headers(ctx, c360_buf_cstr(&r.hdrs));
		duk_put_prop_index(ctx, -2, 4);
	}
	c360_buf_release(&url);
	c360_buf_release(&r.body);
	c360_buf_release(&r.hdrs);
	return 1;
fail:
	curl_slist_free_all(hl);
	in->curl_failure++;
	c360_buf_release(&url);
	c360_buf_release(&r.body);
	c360_buf_release(&r.hdrs);
	duk_push_array(ctx);
	duk_push_int(ctx, -1);
	duk_put_prop_index(ctx, -2, 0);
	duk_push_string(ctx, msg);
	duk_put_prop_index(ctx, -2, 1);
	return 1;
}

static const duk_function_list_entry natives[] = {
	{"kvGet", n_kv_get, 2},
	{"kvSet", n_kv_set, 3},
	{"kvDel", n_kv_del, 2},
	{"kvOp", n_kv_op, 7},
	{"log", n_log, 1},
	{"curl", n_curl, 6},
	{NULL, NULL, 0},
};

/* The error on top of the stack as its stack trace (which starts with the
 * message), without the frames of c360's prelude ("(eval:…"). */
static void describe_error(duk_context *ctx, char *out, size_t outlen)
{
	const char *s = NULL;
	if (duk_is_error(ctx, -1) || duk_is_object(ctx, -1)) {
		duk_get_prop_string(ctx, -1, "stack");
		if (duk_is_string(ctx, -1))
			s = duk_get_string(ctx, -1);
		if (s) {
			size_t o = 0;
			out[0] = 0;
			while (*s && o + 1 < outlen) {
				const char *nl = strchr(s, '\n');
				size_t len = nl ? (size_t)(nl - s) : strlen(s);
				if (!memmem(s, len, "(eval:", 6)) {
					int w = snprintf(out + o, outlen - o, "%s%.*s", o ? "\n" : "", (int)len, s);
					if (w < 0)
						break;
					o += (size_t)w;
					if (o >= outlen)
						o = outlen - 1;
				}
				s += len;
				if (*s == '\n')
					s++;
			}
			duk_pop(ctx);
			return;
		}
		duk_pop(ctx);
	}
	snprintf(out, outlen, "%s", duk_safe_to_string(ctx, -1));
}

/* Starts the clock of a call into JavaScript on this thread. */
static void arm(struct jsinst *in)
{
	int64_t t = in->env->def->execution_timeout_ms;
	in->stopped = JS_RUNNING;
	in->deadline_ms = now_ms() + (t > 0 ? t : 60000);
	running = in;
}

/* Ends the call; returns why it was stopped (JS_RUNNING: it was not). A
 * stopped call leaves its heap to be rebuilt. */
static enum js_stop disarm(struct jsinst *in)
{
	enum js_stop why = in->stopped;
	in->deadline_ms = 0;
	in->stopped = JS_RUNNING;
	running = NULL;
	if (why)
		in->rebuild = true;
	return why;
}

static int64_t heap_limit_mb(const struct c360_fn_def *d)
{
	return d->heap_limit_mb > 0 ? d->heap_limit_mb : 256;
}

/* Builds the heap: prelude, bindings, then the function's code (top level). */
static c360_rc setup(struct jsinst *in, char *err, size_t errlen)
{
	const struct c360_fn_def *d = in->env->def;
	in->heap_limit = (size_t)heap_limit_mb(d) << 20;
	duk_context *ctx = duk_create_heap(heap_alloc, heap_realloc, heap_free, in, fatal_handler);
	if (!ctx) {
		snprintf(err, errlen, "cannot create a JavaScript heap");
		return C360_ERR_NOMEM;
	}
	in->ctx = ctx;
	/* prelude(G, N, buckets, urls, consts) */
	if (duk_peval_string(ctx, c360_js_boot)) {
		describe_error(ctx, err, errlen);
		return C360_ERR_INTERNAL;
	}
	duk_push_global_object(ctx);
	duk_push_object(ctx); /* N */
	duk_put_function_list(ctx, -1, natives);
	duk_dup(ctx, -1);
	duk_put_global_string(ctx, DUK_HIDDEN_SYMBOL("N"));
	duk_idx_t ab = duk_push_array(ctx), au = duk_push_array(ctx), ac = duk_push_array(ctx);
	duk_uarridx_t nb = 0, nu = 0, nc = 0;
	for (int i = 0; i < d->nbindings; i++) {
		const struct c360_fn_binding *b = &d->bindings[i];
		duk_push_array(ctx);
		duk_push_string(ctx, b->alias);
		duk_put_prop_index(ctx, -2, 0);
		if (b->type == C360_FN_BIND_BUCKET) {
			duk_push_int(ctx, i);
			duk_put_prop_index(ctx, -2, 1);
			duk_push_boolean(ctx, b->rw);
			duk_put_prop_index(ctx, -2, 2);
			duk_put_prop_index(ctx, ab, nb++);
		} else if (b->type == C360_FN_BIND_URL) {
			duk_push_int(ctx, i);
			duk_put_prop_index(ctx, -2, 1);
			duk_put_prop_index(ctx, au, nu++);
		} else {
			duk_push_string(ctx, b->value ? b->value : "null");
			duk_put_prop_index(ctx, -2, 1);
			duk_put_prop_index(ctx, ac, nc++);
		}
	}
	if (duk_pcall(ctx, 5)) {
		describe_error(ctx, err, errlen);
		return C360_ERR_INTERNAL;
	}
	duk_pop(ctx);
	/* the function's code, with the timeout armed (top-level loops too) */
	char fname[C360_FN_NAME_MAX + 8];
	snprintf(fname, sizeof fname, "%s.js", d->name);
	duk_push_string(ctx, fname);
	if (duk_pcompile_lstring_filename(ctx, 0, d->code ? d->code : "", d->code ? d->code_len : 0)) {
		snprintf(err, errlen, "%s", duk_safe_to_string(ctx, -1));
		return C360_ERR_INVALID;
	}
	arm(in);
	int bad = duk_pcall(ctx, 0);
	enum js_stop why = disarm(in);
	in->rebuild = false;
	if (why == JS_TIMED_OUT) {
		snprintf(err, errlen, "top-level code ran past the execution timeout");
		return C360_ERR_TIMEOUT;
	}
	if (why == JS_HEAP_FULL) {
		snprintf(err, errlen, "top-level code passed the heap limit of %" PRId64 " MiB",
			 heap_limit_mb(d));
		return C360_ERR_LIMIT;
	}
	if (why == JS_STOPPING) {
		snprintf(err, errlen, "stopped while running top-level code");
		return C360_ERR_STATE;
	}
	if (bad) {
		describe_error(ctx, err, errlen);
		return C360_ERR_INVALID;
	}
	duk_pop(ctx);
	/* keep dispatchers on the value stack: [N] */
	duk_get_global_string(ctx, DUK_HIDDEN_SYMBOL("N"));
	return C360_OK;
}

static void js_free(void *p)
{
	struct jsinst *in = p;
	if (!in)
		return;
	if (in->ctx)
		duk_destroy_heap(in->ctx); /* disarmed: the allocator refuses nothing */
	if (in->curl)
		curl_easy_cleanup(in->curl);
	free(in);
}

static c360_rc js_create(struct c360_fn_env *env, void **out, char *err, size_t errlen)
{
	struct jsinst *in = calloc(1, sizeof *in);
	if (!in)
		return C360_ERR_NOMEM;
	in->env = env;
	c360_rc rc = setup(in, err, errlen);
	if (rc) {
		js_free(in);
		return rc;
	}
	*out = in;
	return C360_OK;
}

static c360_rc js_check(const struct c360_fn_def *def, char *err, size_t errlen)
{
	struct c360_fn_env env = {0};
	env.def = def;
	env.worker = -1;
	void *in = NULL;
	c360_rc rc = js_create(&env, &in, err, errlen);
	js_free(in);
	return rc;
}

/* Before a call: a heap a stopped call left behind is replaced by a fresh
 * one (prelude and top-level code again), so nothing of that call remains. */
static c360_rc ready(struct jsinst *in, const char *what, const struct c360_fn_meta *m)
{
	if (!in->rebuild)
		return C360_OK;
	char err[512] = "";
	if (in->ctx)
		duk_destroy_heap(in->ctx);
	in->ctx = NULL;
	in->heap_rebuilds++;
	c360_rc rc = setup(in, err, sizeof err);
	if (rc) {
		if (in->ctx)
			duk_destroy_heap(in->ctx);
		in->ctx = NULL;
		in->rebuild = true; /* try again at the next change */
		if (rc != C360_ERR_STATE)
			app_log(in, C360_LOG_ERROR,
				"%s for '%.*s' (seq %" PRIu64 ") not run: cannot rebuild the JavaScript heap "
				"after a stopped call: %s",
				what, (int)m->id_len, m->id, m->seq, err);
	}
	return rc;
}

/* Calls N[fn] with the nargs pushed above it; logs and classifies failures. */
static c360_rc invoke(struct jsinst *in, const char *what, const struct c360_fn_meta *m, int nargs)
{
	duk_context *ctx = in->ctx;
	arm(in);
	int bad = duk_pcall(ctx, nargs);
	enum js_stop why = disarm(in);
	c360_rc rc = C360_OK;
	char msg[1536];
	const struct c360_fn_def *d = in->env->def;
	switch (why) {
	case JS_TIMED_OUT:
		rc = C360_ERR_TIMEOUT;
		app_log(in, C360_LOG_ERROR,
			"%s for '%.*s' (seq %" PRIu64 ") aborted: execution timeout of %" PRId64
			" ms (its writes are dropped)",
			what, (int)m->id_len, m->id, m->seq, d->execution_timeout_ms);
		break;
	case JS_HEAP_FULL:
		rc = C360_ERR_LIMIT;
		app_log(in, C360_LOG_ERROR,
			"%s for '%.*s' (seq %" PRIu64 ") aborted: its JavaScript heap passed the heap limit "
			"of %" PRId64 " MiB (its writes are dropped; raise settings.heap_limit_mb if the "
			"handler needs more)",
			what, (int)m->id_len, m->id, m->seq, heap_limit_mb(d));
		break;
	case JS_STOPPING:
		rc = C360_ERR_STATE;
		app_log(in, C360_LOG_WARN,
			"%s for '%.*s' (seq %" PRIu64 ") abandoned: the function is stopping (the change is "
			"handled again at the next start)",
			what, (int)m->id_len, m->id, m->seq);
		break;
	case JS_RUNNING:
		if (bad) {
			rc = C360_ERR_INVALID;
			describe_error(ctx, msg, sizeof msg);
			app_log(in, C360_LOG_ERROR, "%s for '%.*s' (seq %" PRIu64 ") threw: %s", what,
				(int)m->id_len, m->id, m->seq, msg);
		}
		break;
	}
	duk_pop(ctx); /* result or error */
	return rc;
}

static void push_cas(duk_context *ctx, uint64_t cas)
{
	char cb[24];
	snprintf(cb, sizeof cb, "%" PRIu64, cas);
	duk_push_string(ctx, cb);
}

static c360_rc js_on_update(void *p, const struct c360_fn_meta *m, const char *value, size_t value_len)
{
	struct jsinst *in = p;
	c360_rc rc = ready(in, "OnUpdate", m);
	if (rc)
		return rc;
	duk_context *ctx = in->ctx;
	duk_get_prop_string(ctx, 0, "onUpdate");
	duk_push_lstring(ctx, value ? value : "", value ? value_len : 0);
	duk_push_lstring(ctx, m->id, m->id_len);
	push_cas(ctx, m->cas);
	duk_push_uint(ctx, m->expiration);
	duk_push_number(ctx, (double)m->seq);
	duk_push_string(ctx, m->keyspace ? m->keyspace : "");
	duk_push_boolean(ctx, m->is_json);
	return invoke(in, "OnUpdate", m, 7);
}

static c360_rc js_on_delete(void *p, const struct c360_fn_meta *m, bool expired)
{
	struct jsinst *in = p;
	c360_rc rc = ready(in, "OnDelete", m);
	if (rc)
		return rc;
	duk_context *ctx = in->ctx;
	duk_get_prop_string(ctx, 0, "onDelete");
	duk_push_lstring(ctx, m->id, m->id_len);
	push_cas(ctx, m->cas);
	duk_push_uint(ctx, m->expiration);
	duk_push_number(ctx, (double)m->seq);
	duk_push_string(ctx, m->keyspace ? m->keyspace : "");
	duk_push_boolean(ctx, expired);
	return invoke(in, "OnDelete", m, 6);
}

static c360_rc js_stats(void *p, struct c360_buf *out)
{
	struct jsinst *in = p;
	return c360_buf_printf(out,
			       "\"curl_success_count\":%" PRIu64 ",\"curl_failure_count\":%" PRIu64
			       ",\"curl_timeout_count\":%" PRIu64 ",\"curl_non_200_response\":%" PRIu64
			       ",\"bucket_op_exception_count\":%" PRIu64 ",\"log_lines\":%" PRIu64
			       ",\"heap_limit_count\":%" PRIu64 ",\"heap_rebuild_count\":%" PRIu64
			       ",\"js_heap_bytes\":%zu",
			       in->curl_success, in->curl_failure, in->curl_timeout, in->curl_non_200,
			       in->bucket_op_exception, in->log_lines, in->heap_limit_count, in->heap_rebuilds,
			       in->heap_bytes);
}

const struct c360_fn_kind c360_fn_kind_js = {
	.name = "js",
	.check = js_check,
	.create = js_create,
	.on_update = js_on_update,
	.on_delete = js_on_delete,
	.stats = js_stats,
	.free = js_free,
};
