/* The /api/v1 handlers: customers (360 document, search, orders,
 * recommendations), stats, read-only SQL, buckets, raw documents, tokens and
 * the pipeline overview. Lookups that would scan are answered from the
 * in-memory index (index360.c); documents come from the store by key. */
#include "serve/api.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/json.h"
#include "core/log.h"
#include "eventing/eventing.h"
#include "integrate/integrate.h"
#include "serve/token.h"
#include "core/banned.h"

#define DEFAULT_LIMIT 20
#define ORDERS_IN_360 100
#define RESP_ORDER_CAP 1000

struct c360_api {
	c360_store *st;
	struct c360_api_opts o;
	char bucket[C360_BUCKET_NAME_MAX + 1];
	c360_index *ix;
	c360_tokens *tokens;
};

/* ---- helpers ---- */

/* Parses an optional non-negative integer argument; on a bad value sets a
 * 400 and returns false. */
static bool arg_size(const struct c360_http_req *req, struct c360_http_resp *resp,
		     const char *name, size_t def, size_t min, size_t max, size_t *out)
{
	const char *s = c360_http_query(req, name);
	*out = def;
	if (!s)
		return true;
	char *end;
	unsigned long long v = 0;
	bool ok = *s && isdigit((unsigned char)*s);
	if (ok) {
		v = strtoull(s, &end, 10);
		ok = !*end && v >= min && v <= max && strlen(s) < 20;
	}
	if (!ok) {
		c360_http_error(resp, 400, "bad_argument", "%s must be an integer between %zu and %zu (got '%.40s')",
				name, min, max, s);
		return false;
	}
	*out = (size_t)v;
	return true;
}

static bool valid_key(const char *k, struct c360_http_resp *resp, const char *what)
{
	size_t n = strlen(k);
	if (!n || n > C360_KEY_MAX) {
		c360_http_error(resp, 400, "bad_key", "%s must be 1 to %d bytes (got %zu)", what,
				C360_KEY_MAX, n);
		return false;
	}
	return true;
}

static void store_error(struct c360_http_resp *resp, c360_rc rc, const char *what)
{
	if (rc == C360_ERR_NOT_FOUND)
		c360_http_error(resp, 404, "not_found", "%s not found", what);
	else
		c360_http_error(resp, 500, "store_error", "cannot read %s: %s", what, c360_rc_str(rc));
}

/* The caller's scope (for checks finer than a route's scope). */
static int caller_scope(c360_api *api, const struct c360_http_req *req)
{
	if (api->o.no_auth)
		return C360_HTTP_ADMIN;
	const char *h = c360_http_header(req, "Authorization");
	const char *tok = NULL;
	if (h && !strncasecmp(h, "Bearer ", 7)) {
		tok = h + 7;
		while (*tok == ' ')
			tok++;
	}
	return c360_tokens_auth(tok, api->tokens);
}

static uint64_t fnv(uint64_t h, uint64_t v)
{
	for (int i = 0; i < 8; i++) {
		h ^= (v >> (i * 8)) & 0xff;
		h *= 1099511628211ull;
	}
	return h;
}

/* Sets the ETag and answers 304 when If-None-Match matches; returns true then. */
static bool etag_check(const struct c360_http_req *req, struct c360_http_resp *resp, uint64_t tag)
{
	char etag[40];
	snprintf(etag, sizeof etag, "\"%016llx\"", (unsigned long long)tag);
	c360_http_add_header(resp, "ETag", etag);
	c360_http_add_header(resp, "Cache-Control", "no-cache");
	const char *inm = c360_http_header(req, "If-None-Match");
	if (inm && (strstr(inm, etag) || !strcmp(inm, "*"))) {
		resp->status = 304;
		c360_buf_reset(&resp->body);
		return true;
	}
	return false;
}

/* Appends doc with every xrefs[].pass / password removed (source-system
 * passwords are never served). */
static c360_rc put_redacted(const char *json, size_t len, struct c360_buf *out)
{
	c360_json_doc *d = NULL;
	if (c360_json_parse(json, len, NULL, &d, NULL))
		return c360_buf_append(out, json, len);
	c360_json *root = c360_json_doc_root(d);
	for (c360_json *x = c360_json_first(c360_json_get(root, "xrefs")); x; x = c360_json_next(x)) {
		c360_json_remove(x, "pass", 4);
		c360_json_remove(x, "password", 8);
	}
	c360_json_remove(c360_json_get(root, "profile"), "password", 8);
	c360_rc rc = c360_json_write(root, C360_JSON_COMPACT, out);
	c360_json_doc_free(d);
	return rc;
}

/* Finds the customer document: the key as given, else lower-cased and trimmed. */
static c360_rc get_customer(c360_api *api, const char *email, struct c360_doc *doc)
{
	c360_rc rc = c360_store_get(api->st, api->bucket, email, strlen(email), doc);
	if (rc != C360_ERR_NOT_FOUND)
		return rc;
	char norm[C360_KEY_MAX + 1];
	const char *s = email;
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = 0;
	for (; *s && n < C360_KEY_MAX; s++)
		norm[n++] = (char)tolower((unsigned char)*s);
	while (n && (norm[n - 1] == ' ' || norm[n - 1] == '\t'))
		n--;
	norm[n] = 0;
	if (!n || !strcmp(norm, email))
		return C360_ERR_NOT_FOUND;
	return c360_store_get(api->st, api->bucket, norm, n, doc);
}

/* ---- customers ---- */

static void h_customer(const struct c360_http_req *req, struct c360_http_resp *resp, void *ctx)
{
	c360_api *api = ctx;
	const char *email = c360_http_param(req, "email");
	if (!valid_key(email, resp, "email"))
		return;
	/* fast path: the index holds the served form of every customer */
	uint64_t itag = 0;
	if (!c360_index_customer360(api->ix, email, ORDERS_IN_360, &resp->body, &itag)) {
		etag_check(req, resp, itag);
		return;
	}
	c360_buf_reset(&resp->body);
	struct c360_doc doc = {0};
	c360_rc rc = get_customer(api, email, &doc);
	if (rc) {
		if (rc == C360_ERR_NOT_FOUND)
			c360_http_error(resp, 404, "not_found", "no customer '%s'", email);
		else
			store_error(resp, rc, "customer");
		return;
	}
	char **keys = NULL;
	size_t nkeys = 0;
	c360_index_orders(api->ix, doc.key, &keys, &nkeys);
	size_t shown = nkeys < ORDERS_IN_360 ? nkeys : ORDERS_IN_360;
	struct c360_doc *orders = calloc(shown + 1, sizeof *orders);
	if (!orders) {
		c360_http_error(resp, 500, "internal", "out of memory");
		goto out;
	}
	uint64_t tag = fnv(1469598103934665603ull, doc.cas);
	size_t got = 0;
	for (size_t i = 0; i < shown; i++) {
		if (c360_store_get(api->st, api->bucket, keys[i], strlen(keys[i]), &orders[got]))
			continue;
		tag = fnv(tag, orders[got].cas);
		got++;
	}
	tag = fnv(tag, nkeys);
	if (etag_check(req, resp, tag))
		goto out;
	struct c360_buf *b = &resp->body;
	c360_buf_puts(b, "{\"email\":");
	c360_json_write_string(doc.key, doc.key_len, b);
	c360_buf_printf(b, ",\"cas\":\"%llu\",\"customer\":", (unsigned long long)doc.cas);
	put_redacted(doc.value, doc.value_len, b);
	c360_buf_printf(b, ",\"orders_total\":%zu,\"orders\":[", nkeys);
	for (size_t i = 0; i < got; i++) {
		if (i)
			c360_buf_putc(b, ',');
		c360_buf_puts(b, "{\"key\":");
		c360_json_write_string(orders[i].key, orders[i].key_len, b);
		c360_buf_puts(b, ",\"doc\":");
		c360_buf_append(b, orders[i].value, orders[i].value_len);
		c360_buf_putc(b, '}');
	}
	if (c360_buf_puts(b, "]}\n"))
		c360_http_error(resp, 500, "too_large", "response too large");
out:
	for (size_t i = 0; orders && i < got; i++)
		c360_doc_release(&orders[i]);
	free(orders);
	c360_index_keys_free(keys, nkeys);
	c360_doc_release(&doc);
}

static void h_customers(const struct c360_http_req *req, struct c360_http_resp *resp, void *ctx)
{
	c360_api *api = ctx;
	size_t limit, offset;
	if (!arg_size(req, resp, "limit", DEFAULT_LIMIT, 1, api->o.max_limit, &limit) ||
	    !arg_size(req, resp, "offset", 0, 0, 1000000000, &offset))
		return;
	const char *q = c360_http_query(req, "q");
	const char *system = c360_http_query(req, "system");
	const char *id = c360_http_query(req, "id");
	if ((system && !id) || (id && !system)) {
		c360_http_error(resp, 400, "bad_argument",
				"lookup by source needs both system= and id= (e.g. ?system=loyalty&id=27)");
		return;
	}
	if (system) {
		bool known = false;
		for (int s = 0; s < C360_SYSTEMS; s++)
			known |= !strcmp(system, c360_index_systems[s]);
		if (!known) {
			c360_http_error(resp, 400, "bad_argument",
					"unknown system '%.60s' (home_delivery, loyalty, online_store)", system);
			return;
		}
	}
	if (q && strlen(q) > 200) {
		c360_http_error(resp, 400, "bad_argument", "q is longer than 200 bytes");
		return;
	}
	c360_rc rc = c360_index_search(api->ix, q, system, id, limit, offset, &resp->body);
	if (rc)
		c360_http_error(resp, 500, "internal", "search failed: %s", c360_rc_str(rc));
}

static void h_orders(const struct c360_http_req *req, struct c360_http_resp *resp, void *ctx)
{
	c360_api *api = ctx;
	const char *email = c360_http_param(req, "email");
	size_t limit, offset;
	if (!valid_key(email, resp, "email") ||
	    !arg_size(req, resp, "limit", DEFAULT_LIMIT, 1, api->o.max_limit, &limit) ||
	    !arg_size(req, resp, "offset", 0, 0, 1000000000, &offset))
		return;
	struct c360_doc doc = {0};
	c360_rc rc = get_customer(api, email, &doc);
	if (rc) {
		if (rc == C360_ERR_NOT_FOUND)
			c360_http_error(resp, 404, "not_found", "no customer '%s'", email);
		else
			store_error(resp, rc, "customer");
		return;
	}
	char **keys = NULL;
	size_t n = 0;
	c360_index_orders(api->ix, doc.key, &keys, &n);
	struct c360_buf *b = &resp->body;
	c360_buf_puts(b, "{\"email\":");
	c360_json_write_string(doc.key, doc.key_len, b);
	c360_buf_printf(b, ",\"total\":%zu,\"limit\":%zu,\"offset\":%zu,\"orders\":[", n, limit, offset);
	bool first = true;
	for (size_t i = offset; i < n && i < offset + limit; i++) {
		struct c360_doc o = {0};
		if (c360_store_get(api->st, api->bucket, keys[i], strlen(keys[i]), &o))
			continue;
		c360_buf_printf(b, "%s{\"key\":", first ? "" : ",");
		c360_json_write_string(o.key, o.key_len, b);
		c360_buf_puts(b, ",\"doc\":");
		c360_buf_append(b, o.value, o.value_len);
		c360_buf_putc(b, '}');
		c360_doc_release(&o);
		first = false;
	}
	if (c360_buf_puts(b, "]}\n"))
		c360_http_error(resp, 500, "too_large", "response too large");
	c360_index_keys_free(keys, n);
	c360_doc_release(&doc);
}

static void h_recommend(const struct c360_http_req *req, struct c360_http_resp *resp, void *ctx)
{
	c360_api *api = ctx;
	const char *email = c360_http_param(req, "email");
	size_t limit;
	if (!valid_key(email, resp, "email") || !arg_size(req, resp, "limit", 5, 1, 100, &limit))
		return;
	struct c360_doc doc = {0};
	c360_rc rc = get_customer(api, email, &doc);
	if (rc) {
		if (rc == C360_ERR_NOT_FOUND)
			c360_http_error(resp, 404, "not_found", "no customer '%s'", email);
		else
			store_error(resp, rc, "customer");
		return;
	}
	rc = c360_index_recommend(api->ix, doc.key, limit, &resp->body);
	if (rc == C360_ERR_NOT_FOUND) {
		/* in the store but not indexed yet (the feed is a few ms behind) */
		c360_buf_reset(&resp->body);
		c360_buf_puts(&resp->body, "{\"email\":");
		c360_json_write_string(doc.key, doc.key_len, &resp->body);
		c360_buf_puts(&resp->body, ",\"based_on\":[],\"recommendations\":[]}");
	} else if (rc) {
		c360_http_error(resp, 500, "internal", "recommendations failed: %s", c360_rc_str(rc));
	}
	c360_doc_release(&doc);
}

/* ---- stats, buckets, docs ---- */

static void h_stats(const struct c360_http_req *req, struct c360_http_resp *resp, void *ctx)
{
	c360_api *api = ctx;
	size_t top;
	if (!arg_size(req, resp, "top", 10, 1, 100, &top))
		return;
	c360_rc rc = c360_index_stats(api->ix, top, &resp->body);
	if (rc)
		c360_http_error(resp, 500, "internal", "stats failed: %s", c360_rc_str(rc));
}

static void put_bucket(struct c360_buf *b, const struct c360_bucket_info *bi)
{
	c360_buf_puts(b, "{\"name\":");
	c360_json_write_string(bi->name, strlen(bi->name), b);
	c360_buf_printf(b, ",\"count\":%llu,\"bytes\":%llu,\"max_ttl\":%u,\"high_seqno\":%llu}",
			(unsigned long long)bi->count, (unsigned long long)bi->bytes, bi->max_ttl,
			(unsigned long long)bi->high_seqno);
}

static void h_buckets(const struct c360_http_req *req, struct c360_http_resp *resp, void *ctx)
{
	c360_api *api = ctx;
	struct c360_bucket_info *bi = NULL;
	size_t n = 0;
	c360_rc rc = c360_store_bucket_list(api->st, &bi, &n);
	if (rc) {
		store_error(resp, rc, "buckets");
		return;
	}
	c360_buf_puts(&resp->body, "{\"buckets\":[");
	for (size_t i = 0; i < n; i++) {
		if (i)
			c360_buf_putc(&resp->body, ',');
		put_bucket(&resp->body, &bi[i]);
	}
	c360_buf_puts(&resp->body, "]}\n");
	free(bi);
}

static void h_doc(const struct c360_http_req *req, struct c360_http_resp *resp, void *ctx)
{
	c360_api *api = ctx;
	const char *bucket = c360_http_param(req, "bucket");
	const char *key = c360_http_param(req, "key");
	if (!valid_key(key, resp, "key"))
		return;
	if (!strcmp(bucket, C360_META_BUCKET) && caller_scope(api, req) < C360_HTTP_ADMIN) {
		c360_http_error(resp, 403, "forbidden", "the system bucket '%s' needs an admin token",
				C360_META_BUCKET);
		return;
	}
	struct c360_doc doc = {0};
	c360_rc rc = c360_store_get(api->st, bucket, key, strlen(key), &doc);
	if (rc) {
		if (rc == C360_ERR_NOT_FOUND)
			c360_http_error(resp, 404, "not_found", "no document '%s' in bucket '%s'", key, bucket);
		else if (rc == C360_ERR_INVALID)
			c360_http_error(resp, 400, "bad_bucket", "invalid bucket name '%s'", bucket);
		else
			store_error(resp, rc, "document");
		return;
	}
	char v[32];
	snprintf(v, sizeof v, "%llu", (unsigned long long)doc.cas);
	c360_http_add_header(resp, "X-C360-CAS", v);
	snprintf(v, sizeof v, "%u", doc.expiry);
	c360_http_add_header(resp, "X-C360-Expiry", v);
	if (!etag_check(req, resp, doc.cas))
		c360_buf_append(&resp->body, doc.value, doc.value_len);
	c360_doc_release(&doc);
}

/* ---- read-only SQL ---- */

/* Answers a query's failure: 403 for a refused statement or table, 422 for
 * a query stopped by its time or value limit, 413 for an answer over the
 * cap, 400 for invalid SQL. */
static void query_error(c360_api *api, struct c360_http_resp *resp, c360_rc rc, const char *why,
			long long timeout)
{
	switch (rc) {
	case C360_ERR_DENIED:
		if (strstr(why, "read-only"))
			c360_http_error(resp, 403, "read_only", "only read-only SQL is allowed: %s", why);
		else
			c360_http_error(resp, 403, "forbidden", "%s", why);
		break;
	case C360_ERR_TIMEOUT:
		c360_http_error(resp, 422, "query_timeout",
				"query ran past %lld ms and was stopped (timeout_ms; the server allows up to %d)",
				timeout, api->o.max_query_ms);
		break;
	case C360_ERR_LIMIT:
		c360_http_error(resp, 422, "query_limit", "query stopped: %s", why);
		break;
	case C360_ERR_TOO_BIG:
		c360_http_error(resp, 413, "too_large", "query result too large: %s", why);
		break;
	case C360_ERR_INVALID:
	case C360_ERR_NOT_FOUND:
	case C360_ERR_UNSUPPORTED:
		c360_http_error(resp, 400, "bad_sql", "%s", why);
		break;
	default:
		c360_http_error(resp, 500, "store_error", "%s", why);
	}
}

static void h_query(const struct c360_http_req *req, struct c360_http_resp *resp, void *ctx)
{
	c360_api *api = ctx;
	if (!req->body || !req->body_len) {
		c360_http_error(resp, 400, "bad_query",
				"the body must be the SQL text or {\"sql\": \"...\", \"max_rows\": N, \"timeout_ms\": N}");
		return;
	}
	c360_json_doc *d = NULL;
	char *sql = NULL;
	size_t sql_len = 0;
	size_t max_rows = 1000;
	int64_t timeout = api->o.max_query_ms < 5000 ? api->o.max_query_ms : 5000;
	const char *b = req->body;
	while (*b == ' ' || *b == '\n' || *b == '\r' || *b == '\t')
		b++;
	if (*b == '{') {
		struct c360_json_error je;
		if (c360_json_parse(req->body, req->body_len, NULL, &d, &je)) {
			char where[200];
			c360_json_error_str(&je, where, sizeof where);
			c360_http_error(resp, 400, "bad_json", "request body is not valid JSON: %s", where);
			return;
		}
		c360_json *root = c360_json_doc_root(d);
		size_t sl;
		const char *s = c360_json_str(c360_json_get(root, "sql"), &sl);
		if (!s || !sl) {
			c360_http_error(resp, 400, "bad_query", "member \"sql\" (a string) is missing");
			goto out;
		}
		sql = strndup(s, sl);
		sql_len = sl;
		c360_json *mr = c360_json_get(root, "max_rows");
		int64_t v;
		if (mr) {
			if (!c360_json_int64(mr, &v) || v < 1 || (uint64_t)v > api->o.max_query_rows) {
				c360_http_error(resp, 400, "bad_argument", "max_rows must be an integer between 1 and %zu",
						api->o.max_query_rows);
				goto out;
			}
			max_rows = (size_t)v;
		}
		c360_json *tm = c360_json_get(root, "timeout_ms");
		if (tm) {
			if (!c360_json_int64(tm, &v) || v < 1 || v > api->o.max_query_ms) {
				c360_http_error(resp, 400, "bad_argument", "timeout_ms must be an integer between 1 and %d",
						api->o.max_query_ms);
				goto out;
			}
			timeout = v;
		}
	} else {
		sql = strndup(req->body, req->body_len);
		sql_len = req->body_len;
		if (!arg_size(req, resp, "max_rows", 1000, 1, api->o.max_query_rows, &max_rows))
			goto out;
	}
	if (!sql) {
		c360_http_error(resp, 500, "internal", "out of memory");
		goto out;
	}
	if (strlen(sql) != sql_len) {
		c360_http_error(resp, 400, "bad_query", "SQL contains a NUL byte");
		goto out;
	}
	/* the system bucket (API tokens, checkpoints) needs an admin token */
	struct c360_query_opts qo = {.max_rows = max_rows,
				     .timeout_ms = (int)timeout,
				     .max_bytes = api->o.max_query_bytes,
				     .no_system = caller_scope(api, req) < C360_HTTP_ADMIN};
	char err[512] = "";
	c360_rc rc = c360_store_query(api->st, sql, &qo, &resp->body, err, sizeof err);
	if (rc)
		query_error(api, resp, rc, *err ? err : c360_rc_str(rc), (long long)timeout);
out:
	free(sql);
	c360_json_doc_free(d);
}

/* ---- tokens (admin) ---- */

static void h_tokens_list(const struct c360_http_req *req, struct c360_http_resp *resp, void *ctx)
{
	c360_api *api = ctx;
	struct c360_token_info *t = NULL;
	size_t n = 0;
	c360_rc rc = c360_token_list(api->st, &t, &n);
	if (rc) {
		store_error(resp, rc, "tokens");
		return;
	}
	c360_buf_puts(&resp->body, "{\"tokens\":[");
	for (size_t i = 0; i < n; i++) {
		c360_buf_printf(&resp->body, "%s{\"id\":\"%s\",\"name\":", i ? "," : "", t[i].id);
		c360_json_write_string(t[i].name, strlen(t[i].name), &resp->body);
		c360_buf_printf(&resp->body, ",\"scope\":\"%s\",\"created\":%lld}",
				c360_http_scope_str(t[i].scope), (long long)t[i].created);
	}
	c360_buf_puts(&resp->body, "]}\n");
	free(t);
}

static void h_tokens_create(const struct c360_http_req *req, struct c360_http_resp *resp,
			    void *ctx)
{
	c360_api *api = ctx;
	c360_json_doc *d = NULL;
	struct c360_json_error je;
	if (!req->body || c360_json_parse(req->body, req->body_len, NULL, &d, &je)) {
		c360_http_error(resp, 400, "bad_json", "the body must be {\"scope\": \"read\"|\"admin\", \"name\": \"...\"}");
		return;
	}
	c360_json *root = c360_json_doc_root(d);
	const char *scope = c360_json_str(c360_json_get(root, "scope"), NULL);
	const char *name = c360_json_str(c360_json_get(root, "name"), NULL);
	enum c360_http_scope sc;
	if (scope && !strcmp(scope, "read")) {
		sc = C360_HTTP_READ;
	} else if (scope && !strcmp(scope, "admin")) {
		sc = C360_HTTP_ADMIN;
	} else {
		c360_http_error(resp, 400, "bad_argument", "scope must be \"read\" or \"admin\"");
		goto out;
	}
	char tok[C360_TOKEN_MAX + 1], err[256] = "";
	struct c360_token_info info;
	c360_rc rc = c360_token_create(api->st, sc, name, tok, &info, err, sizeof err);
	if (rc) {
		c360_http_error(resp, rc == C360_ERR_INVALID ? 400 : 500, "token_error", "%s", err);
		goto out;
	}
	resp->status = 201;
	c360_buf_printf(&resp->body, "{\"id\":\"%s\",\"scope\":\"%s\",\"token\":\"%s\",\"name\":", info.id,
			c360_http_scope_str(sc), tok);
	c360_json_write_string(info.name, strlen(info.name), &resp->body);
	c360_buf_puts(&resp->body, "}\n");
out:
	c360_json_doc_free(d);
}

static void h_tokens_revoke(const struct c360_http_req *req, struct c360_http_resp *resp,
			    void *ctx)
{
	c360_api *api = ctx;
	const char *id = c360_http_param(req, "id");
	c360_rc rc = c360_token_revoke(api->st, id);
	if (rc == C360_ERR_NOT_FOUND)
		c360_http_error(resp, 404, "not_found", "no token '%s'", id);
	else if (rc)
		store_error(resp, rc, "token");
	else
		resp->status = 204;
}

/* ---- pipeline overview ---- */

/* ,"functions":[c360_fn_status objects] (state, checkpoint, backlog, lag,
 * handler stats with failures and timeouts) of every eventing function. */
static void put_functions(c360_api *api, struct c360_buf *b)
{
	struct c360_buf names, one;
	c360_buf_init(&names, 1u << 20);
	c360_buf_init(&one, 1u << 20);
	c360_json_doc *d = NULL;
	c360_buf_puts(b, ",\"functions\":[");
	if (!c360_fn_list(api->st, &names) && !c360_json_parse(names.data, names.len, NULL, &d, NULL)) {
		bool first = true;
		for (c360_json *e = c360_json_first(c360_json_doc_root(d)); e; e = c360_json_next(e)) {
			const char *name = c360_json_str(e, NULL);
			c360_buf_reset(&one);
			if (!name || c360_fn_status(api->st, name, &one) ||
			    c360_json_validate(one.data, one.len, NULL, NULL))
				continue;
			if (!first)
				c360_buf_putc(b, ',');
			c360_buf_append(b, one.data, one.len);
			first = false;
		}
	}
	c360_buf_putc(b, ']');
	c360_json_doc_free(d);
	c360_buf_release(&names);
	c360_buf_release(&one);
}

static void h_pipeline(const struct c360_http_req *req, struct c360_http_resp *resp, void *ctx)
{
	c360_api *api = ctx;
	struct c360_buf *b = &resp->body;
	struct c360_bucket_info *bi = NULL;
	size_t n = 0;
	c360_rc rc = c360_store_bucket_list(api->st, &bi, &n);
	if (rc) {
		store_error(resp, rc, "buckets");
		return;
	}
	c360_buf_puts(b, "{\"buckets\":[");
	bool has_meta = false;
	for (size_t i = 0; i < n; i++) {
		if (i)
			c360_buf_putc(b, ',');
		put_bucket(b, &bi[i]);
		has_meta |= !strcmp(bi[i].name, C360_META_BUCKET);
	}
	c360_buf_puts(b, "],\"dead_letters\":[");
	bool first = true;
	for (size_t i = 0; i < n; i++) {
		char lname[C360_BUCKET_NAME_MAX + 1];
		snprintf(lname, sizeof lname, "%s", bi[i].name);
		for (char *p = lname; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		if (!strstr(lname, "dlq") && !strstr(lname, "dead"))
			continue;
		if (!first)
			c360_buf_putc(b, ',');
		put_bucket(b, &bi[i]);
		first = false;
	}
	free(bi);
	uint64_t applied = 0, high = 0;
	c360_index_position(api->ix, &applied, &high);
	c360_buf_puts(b, "],\"index\":{\"bucket\":");
	c360_json_write_string(api->bucket, strlen(api->bucket), b);
	c360_buf_printf(b, ",\"applied_seqno\":%llu,\"high_seqno\":%llu,\"lag\":%llu}",
			(unsigned long long)applied, (unsigned long long)high,
			(unsigned long long)(high > applied ? high - applied : 0));
	put_functions(api, b);
	c360_buf_puts(b, ",\"meta\":");
	if (has_meta) {
		struct c360_query_opts qo = {.max_rows = 500, .timeout_ms = 2000};
		char err[256] = "";
		rc = c360_store_query(api->st,
				      "SELECT key, doc FROM \"" C360_META_BUCKET "\" WHERE key NOT LIKE 'token::%' "
				      "AND key NOT LIKE 'poll::%' ORDER BY key",
				      &qo, b, err, sizeof err);
		if (rc)
			c360_buf_puts(b, "null");
		c360_buf_puts(b, ",\"polled_customers\":");
		size_t mark = b->len;
		rc = c360_store_query(api->st,
				      "SELECT count(*) FROM \"" C360_META_BUCKET "\" WHERE key LIKE 'poll::%'",
				      &qo, b, err, sizeof err);
		if (rc) {
			b->len = mark;
			b->data[mark] = 0;
			c360_buf_puts(b, "null");
		}
	} else {
		c360_buf_puts(b, "null,\"polled_customers\":null");
	}
	c360_buf_puts(b, "}\n");
}

static void h_index(const struct c360_http_req *req, struct c360_http_resp *resp, void *ctx)
{
	c360_buf_puts(&resp->body,
		      "{\"api\":\"c360\",\"version\":\"" C360_VERSION "\",\"endpoints\":["
		      "\"GET /api/v1/customers?q=&system=&id=&limit=&offset=\","
		      "\"GET /api/v1/customers/{email}\","
		      "\"GET /api/v1/customers/{email}/orders?limit=&offset=\","
		      "\"GET /api/v1/customers/{email}/recommendations?limit=\","
		      "\"GET /api/v1/stats?top=\",\"GET /api/v1/customer360/stats?top=\",\"POST /api/v1/query\",\"GET /api/v1/buckets\","
		      "\"GET /api/v1/docs/{bucket}/{key}\",\"GET /api/v1/pipeline\","
		      "\"GET|POST /api/v1/tokens\",\"DELETE /api/v1/tokens/{id}\",\"GET /health\"]}\n");
}

/* ---- registration ---- */

c360_rc c360_api_routes(c360_http *h, c360_store *st, const struct c360_api_opts *opts,
			c360_api **out, char *err, size_t errlen)
{
	*out = NULL;
	c360_api *api = calloc(1, sizeof *api);
	if (!api)
		return C360_ERR_NOMEM;
	api->st = st;
	if (opts)
		api->o = *opts;
	snprintf(api->bucket, sizeof api->bucket, "%s",
		 api->o.bucket && *api->o.bucket ? api->o.bucket : "customer360");
	api->o.bucket = api->bucket;
	if (!api->o.max_limit)
		api->o.max_limit = 1000;
	if (!api->o.max_query_rows)
		api->o.max_query_rows = 10000;
	if (!api->o.max_query_ms)
		api->o.max_query_ms = 10000;
	if (!api->o.max_query_bytes)
		api->o.max_query_bytes = C360_QUERY_MAX_BYTES;
	if (!api->o.max_queries)
		api->o.max_queries = 2;
	c360_rc rc = C360_ERR_INVALID;
	if (api->o.max_queries < 1 || api->o.max_query_ms < 1) {
		snprintf(err, errlen, "query concurrency and time limit must be positive (got %d, %d ms)",
			 api->o.max_queries, api->o.max_query_ms);
		goto fail;
	}
	if (api->o.no_auth && !c360_http_is_loopback(c360_http_bind_addr(h))) {
		snprintf(err, errlen, "refusing to mount the API without authentication on '%s': "
				      "bind a loopback address", c360_http_bind_addr(h));
		goto fail;
	}
	/* a key an older c360 kept in a metadata bucket must not be readable
	 * through the documents API or SQL: moved to its file before any answer */
	rc = c360_integrate_secure_store(st, err, errlen);
	if (rc)
		goto fail;
	rc = C360_ERR_NOMEM;
	if (!(api->tokens = c360_tokens_new(st))) {
		snprintf(err, errlen, "cannot initialise the token cache");
		goto fail;
	}
	/* a server reachable from other machines never falls back to open: with
	 * no valid token left (the last one revoked) it refuses every call */
	c360_tokens_set_required(api->tokens, api->o.require_auth ||
						      !c360_http_is_loopback(c360_http_bind_addr(h)));
	if ((rc = c360_index_start(st, api->bucket, &api->ix, err, errlen)))
		goto fail;
	struct {
		const char *method, *pattern;
		enum c360_http_scope scope;
		c360_http_handler fn;
	} routes[] = {
		{"GET", "/api/v1", C360_HTTP_OPEN, h_index},
		{"GET", "/api/v1/customers", C360_HTTP_READ, h_customers},
		{"GET", "/api/v1/customers/{email}", C360_HTTP_READ, h_customer},
		{"GET", "/api/v1/customers/{email}/orders", C360_HTTP_READ, h_orders},
		{"GET", "/api/v1/customers/{email}/recommendations", C360_HTTP_READ, h_recommend},
		{"GET", "/api/v1/stats", C360_HTTP_READ, h_stats},
		/* the same, under a path no other module uses (eventing also
		 * mounts GET /api/v1/stats, Couchbase Eventing's function stats) */
		{"GET", "/api/v1/customer360/stats", C360_HTTP_READ, h_stats},
		{"POST", "/api/v1/query", C360_HTTP_READ, h_query},
		{"GET", "/api/v1/buckets", C360_HTTP_READ, h_buckets},
		{"GET", "/api/v1/docs/{bucket}/{key}", C360_HTTP_READ, h_doc},
		{"GET", "/api/v1/pipeline", C360_HTTP_READ, h_pipeline},
		{"GET", "/api/v1/tokens", C360_HTTP_ADMIN, h_tokens_list},
		{"POST", "/api/v1/tokens", C360_HTTP_ADMIN, h_tokens_create},
		{"DELETE", "/api/v1/tokens/{id}", C360_HTTP_ADMIN, h_tokens_revoke},
	};
	for (size_t i = 0; i < sizeof routes / sizeof *routes; i++) {
		/* a query runs off the server's workers, at most max_queries at once */
		if (routes[i].fn == h_query)
			rc = c360_http_route_slow(h, routes[i].method, routes[i].pattern, routes[i].scope,
						  routes[i].fn, api, api->o.max_queries);
		else
			rc = c360_http_route(h, routes[i].method, routes[i].pattern, routes[i].scope,
					     routes[i].fn, api);
		if (rc) {
			snprintf(err, errlen, "cannot register route '%s'", routes[i].pattern);
			goto fail;
		}
	}
	if (!api->o.no_web && (rc = c360_web_routes(h, api->o.root_taken))) {
		snprintf(err, errlen, "cannot register the dashboard routes");
		goto fail;
	}
	if (!api->o.no_auth)
		c360_http_set_auth(h, c360_tokens_auth, api->tokens);
	*out = api;
	return C360_OK;
fail:
	c360_api_free(api);
	return rc;
}

void c360_api_free(c360_api *api)
{
	if (!api)
		return;
	c360_index_free(api->ix);
	c360_tokens_free(api->tokens);
	free(api);
}

c360_index *c360_api_index(c360_api *api)
{
	return api ? api->ix : NULL;
}

size_t c360_api_token_count(c360_api *api)
{
	return api ? c360_tokens_count(api->tokens) : 0;
}

c360_rc c360_api_check_exposure(c360_store *st, const char *bind, bool require_auth, char *err,
				size_t errlen)
{
	if (c360_http_is_loopback(bind ? bind : "127.0.0.1") || require_auth)
		return C360_OK;
	struct c360_token_info *tokens = NULL;
	size_t n = 0;
	c360_rc rc = c360_token_list(st, &tokens, &n);
	free(tokens);
	if (rc) {
		snprintf(err, errlen, "cannot read the api tokens: %s", c360_rc_str(rc));
		return rc;
	}
	if (n)
		return C360_OK;
	snprintf(err, errlen,
		 "refusing to serve on '%s' without authentication: create a token first "
		 "('c360 token create --scope read'), require tokens (serve --auth, or auth: true "
		 "in a pipeline's serve: section), or bind 127.0.0.1",
		 bind);
	return C360_ERR_INVALID;
}
