/* API bearer tokens: creation, listing, revocation, and the cached check
 * behind the HTTP server's auth hook (see token.h for the format and policy). */
#include "serve/token.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/json.h"
#include "core/log.h"
#include "core/banned.h"

#define HASH_BYTES 32
#define REFRESH_MS 200

struct entry {
	char id[9];
	enum c360_http_scope scope;
	unsigned char hash[HASH_BYTES];
};

struct c360_tokens {
	c360_store *st;
	pthread_mutex_t mu;
	struct entry *e;
	size_t n;
	uint64_t seqno;     /* the system bucket's high seqno when last loaded */
	int64_t checked_ms; /* when the seqno was last checked */
	bool loaded;
	bool refreshing;    /* a thread is re-reading the tokens outside the lock */
	bool required;      /* no token: deny instead of open */
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void hash_token(const char *token, unsigned char out[HASH_BYTES])
{
	crypto_generichash(out, HASH_BYTES, (const unsigned char *)token, strlen(token), NULL, 0);
}

/* Reads every token document: calls fn for each parsed doc. */
static c360_rc each_token(c360_store *st,
			  void (*fn)(const char *key, const c360_json *doc, void *ctx), void *ctx)
{
	struct c360_bucket_info bi;
	c360_rc rc = c360_store_bucket_info(st, C360_META_BUCKET, &bi);
	if (rc == C360_ERR_NOT_FOUND)
		return C360_OK; /* no system bucket yet: no tokens */
	if (rc)
		return rc;
	struct c360_buf out;
	c360_buf_init(&out, 64u << 20);
	struct c360_query_opts qo = {.max_rows = 100000, .timeout_ms = 10000};
	char err[256];
	rc = c360_store_query(st,
			      "SELECT key, doc FROM \"" C360_META_BUCKET "\" WHERE key >= 'token::' AND key < 'token:;'",
			      &qo, &out, err, sizeof err);
	if (rc) {
		C360_ERROR("serve", "cannot read api tokens: %s", err);
		goto out;
	}
	c360_json_doc *d = NULL;
	rc = c360_json_parse(out.data, out.len, NULL, &d, NULL);
	if (rc)
		goto out;
	c360_json *rows = c360_json_get(c360_json_doc_root(d), "rows");
	for (c360_json *r = c360_json_first(rows); r; r = c360_json_next(r)) {
		const char *key = c360_json_str(c360_json_at(r, 0), NULL);
		c360_json *doc = c360_json_at(r, 1);
		if (key && c360_json_is_object(doc))
			fn(key, doc, ctx);
	}
	c360_json_doc_free(d);
out:
	c360_buf_release(&out);
	return rc;
}

static bool parse_scope(const char *s, enum c360_http_scope *out)
{
	if (!s)
		return false;
	if (!strcmp(s, "read"))
		*out = C360_HTTP_READ;
	else if (!strcmp(s, "admin"))
		*out = C360_HTTP_ADMIN;
	else
		return false;
	return true;
}

c360_rc c360_token_create(c360_store *st, enum c360_http_scope scope, const char *name,
			  char *token, struct c360_token_info *info, char *err, size_t errlen)
{
	if (sodium_init() < 0) {
		snprintf(err, errlen, "libsodium cannot initialise");
		return C360_ERR_INTERNAL;
	}
	if (scope != C360_HTTP_READ && scope != C360_HTTP_ADMIN) {
		snprintf(err, errlen, "scope must be read or admin");
		return C360_ERR_INVALID;
	}
	if (name && strlen(name) > C360_TOKEN_NAME_MAX) {
		snprintf(err, errlen, "token name longer than %d bytes", C360_TOKEN_NAME_MAX);
		return C360_ERR_INVALID;
	}
	c360_rc rc = c360_store_bucket_ensure(st, C360_META_BUCKET, 0);
	if (rc) {
		snprintf(err, errlen, "cannot create the system bucket: %s", c360_rc_str(rc));
		return rc;
	}
	unsigned char rnd[32];
	char id[9], secret[64];
	uint32_t idn = randombytes_random();
	snprintf(id, sizeof id, "%08x", idn);
	randombytes_buf(rnd, sizeof rnd);
	sodium_bin2base64(secret, sizeof secret, rnd, sizeof rnd,
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	snprintf(token, C360_TOKEN_MAX + 1, "c360_%.8s_%.43s", id, secret);
	unsigned char h[HASH_BYTES];
	char hex[HASH_BYTES * 2 + 1];
	hash_token(token, h);
	sodium_bin2hex(hex, sizeof hex, h, sizeof h);
	int64_t created = (int64_t)time(NULL);

	struct c360_buf doc;
	c360_buf_init(&doc, 4096);
	c360_buf_printf(&doc, "{\"type\":\"token\",\"id\":\"%s\",\"name\":", id);
	c360_json_write_string(name ? name : "", name ? strlen(name) : 0, &doc);
	c360_buf_printf(&doc, ",\"scope\":\"%s\",\"hash\":\"%s\",\"created\":%lld}",
			c360_http_scope_str(scope), hex, (long long)created);
	char key[32];
	snprintf(key, sizeof key, "token::%s", id);
	rc = c360_store_insert(st, C360_META_BUCKET, key, strlen(key), doc.data, doc.len, 0, NULL);
	c360_buf_release(&doc);
	sodium_memzero(rnd, sizeof rnd);
	sodium_memzero(secret, sizeof secret);
	if (rc) {
		snprintf(err, errlen, "cannot store token '%s': %s", id, c360_rc_str(rc));
		sodium_memzero(token, C360_TOKEN_MAX + 1);
		return rc;
	}
	if (info) {
		memset(info, 0, sizeof *info);
		snprintf(info->id, sizeof info->id, "%s", id);
		snprintf(info->name, sizeof info->name, "%s", name ? name : "");
		info->scope = scope;
		info->created = created;
	}
	return C360_OK;
}

struct listctx {
	struct c360_token_info *v;
	size_t n, cap;
	bool nomem;
};

static void list_one(const char *key, const c360_json *doc, void *ctx)
{
	struct listctx *l = ctx;
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 16;
		struct c360_token_info *nv = realloc(l->v, nc * sizeof *nv);
		if (!nv) {
			l->nomem = true;
			return;
		}
		l->v = nv;
		l->cap = nc;
	}
	struct c360_token_info *t = &l->v[l->n];
	memset(t, 0, sizeof *t);
	snprintf(t->id, sizeof t->id, "%s", key + 7);
	const char *name = c360_json_str(c360_json_get(doc, "name"), NULL);
	snprintf(t->name, sizeof t->name, "%s", name ? name : "");
	if (!parse_scope(c360_json_str(c360_json_get(doc, "scope"), NULL), &t->scope))
		return;
	c360_json_int64(c360_json_get(doc, "created"), &t->created);
	l->n++;
}

static int by_created(const void *a, const void *b)
{
	const struct c360_token_info *x = a, *y = b;
	if (x->created != y->created)
		return x->created < y->created ? -1 : 1;
	return strcmp(x->id, y->id);
}

c360_rc c360_token_list(c360_store *st, struct c360_token_info **out, size_t *n)
{
	struct listctx l = {0};
	c360_rc rc = each_token(st, list_one, &l);
	if (!rc && l.nomem)
		rc = C360_ERR_NOMEM;
	if (rc) {
		free(l.v);
		return rc;
	}
	if (l.n)
		qsort(l.v, l.n, sizeof *l.v, by_created);
	*out = l.v;
	*n = l.n;
	return C360_OK;
}

c360_rc c360_token_revoke(c360_store *st, const char *id)
{
	char key[64];
	if (!id || !*id || strlen(id) > 16)
		return C360_ERR_NOT_FOUND;
	snprintf(key, sizeof key, "token::%s", id);
	c360_rc rc = c360_store_delete(st, C360_META_BUCKET, key, strlen(key), 0);
	return rc;
}

/* ---- the cache behind the auth hook ---- */

c360_tokens *c360_tokens_new(c360_store *st)
{
	if (sodium_init() < 0)
		return NULL;
	c360_tokens *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	t->st = st;
	pthread_mutex_init(&t->mu, NULL);
	return t;
}

void c360_tokens_free(c360_tokens *t)
{
	if (!t)
		return;
	pthread_mutex_destroy(&t->mu);
	free(t->e);
	free(t);
}

struct loadctx {
	struct entry *e;
	size_t n, cap;
};

static void load_one(const char *key, const c360_json *doc, void *ctx)
{
	struct loadctx *l = ctx;
	struct entry en;
	memset(&en, 0, sizeof en);
	const char *hex = c360_json_str(c360_json_get(doc, "hash"), NULL);
	size_t bl = 0;
	if (!parse_scope(c360_json_str(c360_json_get(doc, "scope"), NULL), &en.scope) || !hex ||
	    sodium_hex2bin(en.hash, sizeof en.hash, hex, strlen(hex), NULL, &bl, NULL) || bl != HASH_BYTES)
		return;
	snprintf(en.id, sizeof en.id, "%s", key + 7);
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 16;
		struct entry *ne = realloc(l->e, nc * sizeof *ne);
		if (!ne)
			return;
		l->e = ne;
		l->cap = nc;
	}
	l->e[l->n++] = en;
}

/* Re-reads the tokens when the system bucket changed (its high seqno is
 * checked at most every REFRESH_MS). The first load happens under the lock
 * (callers wait for it); later ones run outside it while the other threads
 * keep using the previous set, so a slow read never stalls requests. */
static void refresh(c360_tokens *t)
{
	pthread_mutex_lock(&t->mu);
	bool first = !t->loaded;
	if (!first && (t->refreshing || now_ms() - t->checked_ms < REFRESH_MS)) {
		pthread_mutex_unlock(&t->mu);
		return;
	}
	if (!first) {
		t->refreshing = true;
		t->checked_ms = now_ms();
		pthread_mutex_unlock(&t->mu);
	}
	/* t->seqno is written only by the refreshing thread */
	uint64_t seq = 0;
	if (c360_feed_high_seqno(t->st, C360_META_BUCKET, &seq) != C360_OK)
		seq = 0;
	bool changed = first || seq != t->seqno;
	struct loadctx l = {0};
	c360_rc rc = changed ? each_token(t->st, load_one, &l) : C360_OK;
	if (!first)
		pthread_mutex_lock(&t->mu);
	if (changed && rc == C360_OK) {
		free(t->e);
		t->e = l.e;
		t->n = l.n;
		t->seqno = seq;
		t->loaded = true;
	} else {
		free(l.e); /* keep the previous set rather than opening the API */
		if (!changed)
			t->loaded = true;
	}
	t->refreshing = false;
	t->checked_ms = now_ms();
	pthread_mutex_unlock(&t->mu);
}

void c360_tokens_set_required(c360_tokens *t, bool required)
{
	pthread_mutex_lock(&t->mu);
	t->required = required;
	pthread_mutex_unlock(&t->mu);
}

size_t c360_tokens_count(c360_tokens *t)
{
	refresh(t);
	pthread_mutex_lock(&t->mu);
	size_t n = t->n;
	pthread_mutex_unlock(&t->mu);
	return n;
}

int c360_tokens_auth(const char *token, void *ctx)
{
	c360_tokens *t = ctx;
	int granted = -1;
	bool wellformed = token && !strncmp(token, "c360_", 5) && strlen(token) <= C360_TOKEN_MAX;
	unsigned char h[HASH_BYTES];
	if (wellformed)
		hash_token(token, h);
	refresh(t);
	pthread_mutex_lock(&t->mu);
	if (!t->loaded)
		goto out; /* tokens unreadable: deny rather than open (logged by each_token) */
	if (!t->n) {
		if (!t->required)
			granted = C360_HTTP_ADMIN; /* no token exists: open (see token.h) */
		goto out;
	}
	if (!wellformed)
		goto out;
	for (size_t i = 0; i < t->n; i++) {
		if (!strncmp(token + 5, t->e[i].id, 8) && !sodium_memcmp(h, t->e[i].hash, HASH_BYTES)) {
			granted = (int)t->e[i].scope;
			break;
		}
	}
out:
	pthread_mutex_unlock(&t->mu);
	return granted;
}
