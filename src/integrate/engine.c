/* The native integration's engine over a store: per staging change it reads
 * the staging key's index and the customer's state (metadata bucket),
 * applies the contribution, rebuilds the customer document and writes the
 * three in one transaction; with batching, a whole batch of changes shares
 * one in-memory overlay and one transaction. The online store is asked for
 * a customer's details and orders when its last answer is older than the
 * mapping's refresh interval; the answers merge like any other source. */
#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "integrate/engine_int.h"
#include "integrate/imap_int.h"
#include "sources/rest/poller.h"
#include "core/banned.h"

#define TS_NONE_VAL INT64_MIN
#define STATE_PREFIX "c360n::s::"
#define INDEX_PREFIX "c360n::k::"
#define KEYDOC "c360n::secret-key"
#define ONLINE_SKEY "@online_store"
#define NO_IDENTITY_LOG_MAX 20 /* then one line per 10000 */

/* Customers serialise on these when several engines (eventing workers) share
 * a process: each record holds the stripes of the customers it touches. */
#define NSTRIPES 256
static pthread_mutex_t stripes[NSTRIPES];
static pthread_once_t stripes_once = PTHREAD_ONCE_INIT;
static void stripes_init(void)
{
	for (int i = 0; i < NSTRIPES; i++)
		pthread_mutex_init(&stripes[i], NULL);
}

static unsigned stripe_of(const char *s, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h % NSTRIPES;
}

/* ---- overlay: documents read or written during a batch ---- */

enum { B_META = 0, B_TARGET = 1 };

struct ent {
	int bucket;
	size_t key_len;
	c360_json_doc *doc; /* parsed value (meta docs); NULL when absent */
	char *raw;          /* target docs to write: serialized value, NULL = delete;
			     * index docs set in this batch: their text (doc NULL) */
	bool raw_slab;      /* raw is in the batch's slab (not malloc'd) */
	uint64_t hash;      /* hash_key(bucket, key) */
	bool inbuf;         /* target docs built by the flush: value in its commit's buffer */
	size_t voff, vlen;
	bool dirty;
	bool is_state;
	char key[];         /* NUL-terminated */
};

uint64_t c360_integrate_thread_cpu_us(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

/* The hash of a key in a bucket (the overlay's index, the warm cache, the
 * filter of written keys; never stored): eight bytes at a time, each step a
 * bijection of the state, then mixed. */
static uint64_t hash_key(int bucket, const char *k, size_t n)
{
	uint64_t h = (0x9e3779b97f4a7c15ull * ((uint64_t)bucket + 1)) ^ n, w;
	for (; n >= 8; k += 8, n -= 8) {
		memcpy(&w, k, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	w = 0;
	memcpy(&w, k, n);
	return mix64((h ^ w) * 0xff51afd7ed558ccdull);
}

/* ---- slab: a batch's small allocations, freed with the batch ----
 *
 * Overlay entries and index texts live until their batch is committed and
 * then go together: bump-allocated from chunks (doubling from 4 KiB, so a
 * batch of one record stays small) instead of one malloc and free each. */

#define SLAB_FIRST 4096u
#define SLAB_MAX (1u << 20)

struct slab {
	struct slab *next;
	size_t used, cap;
	max_align_t data[];
};

/* n zeroed bytes from *head's chunk, or a new chunk; NULL when out of memory. */
static void *slab_alloc(struct slab **head, size_t n)
{
	n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
	struct slab *s = *head;
	if (!s || s->cap - s->used < n) {
		size_t cap = s ? s->cap * 2 : SLAB_FIRST;
		if (cap > SLAB_MAX)
			cap = SLAB_MAX;
		if (cap < n)
			cap = n;
		struct slab *ns = malloc(sizeof *ns + cap);
		if (!ns)
			return NULL;
		ns->next = s;
		ns->used = 0;
		ns->cap = cap;
		*head = s = ns;
	}
	void *p = (char *)s->data + s->used;
	s->used += n;
	memset(p, 0, n);
	return p;
}

static void slab_free(struct slab *s)
{
	while (s) {
		struct slab *n = s->next;
		free(s);
		s = n;
	}
}

/* Replaces e's raw text (in_slab: raw lives in the batch's slab). */
static void ent_set_raw(struct ent *e, char *raw, bool in_slab)
{
	if (!e->raw_slab)
		free(e->raw);
	e->raw = raw;
	e->raw_slab = in_slab;
}

static void ent_clear(struct ent *e)
{
	c360_json_doc_free(e->doc);
	ent_set_raw(e, NULL, false);
	memset(e, 0, sizeof *e);
}

static void overlay_reset(struct c360_integrate *ig)
{
	for (size_t i = 0; i < ig->nents; i++)
		ent_clear(ig->ents[i]);
	slab_free(ig->slab);
	ig->slab = NULL;
	ig->nents = 0;
	if (ig->idx)
		memset(ig->idx, 0xff, ig->idxcap * sizeof *ig->idx);
	ig->nrecs = 0;
	ig->nfetch = 0;
}

static c360_rc overlay_grow(struct c360_integrate *ig)
{
	if (ig->nents + 1 > ig->entcap) {
		size_t cap = ig->entcap ? ig->entcap * 2 : 256;
		struct ent **n = realloc(ig->ents, cap * sizeof *n);
		if (!n)
			return C360_ERR_NOMEM;
		ig->ents = n;
		ig->entcap = cap;
	}
	if ((ig->nents + 1) * 2 > ig->idxcap) {
		size_t cap = ig->idxcap ? ig->idxcap * 2 : 512;
		size_t *n = malloc(cap * sizeof *n);
		if (!n)
			return C360_ERR_NOMEM;
		memset(n, 0xff, cap * sizeof *n);
		for (size_t i = 0; i < ig->nents; i++) {
			struct ent *e = ig->ents[i];
			size_t h = e->hash & (cap - 1);
			while (n[h] != SIZE_MAX)
				h = (h + 1) & (cap - 1);
			n[h] = i;
		}
		free(ig->idx);
		ig->idx = n;
		ig->idxcap = cap;
	}
	return C360_OK;
}

/* The overlay's entry of k, added (zeroed) when absent: *added. */
static c360_rc overlay_get(struct c360_integrate *ig, int bucket, const char *k, size_t n,
			   struct ent **out, bool *added)
{
	*added = false;
	c360_rc rc = overlay_grow(ig);
	if (rc)
		return rc;
	uint64_t hash = hash_key(bucket, k, n);
	size_t mask = ig->idxcap - 1, h = hash & mask;
	for (; ig->idx[h] != SIZE_MAX; h = (h + 1) & mask) {
		struct ent *e = ig->ents[ig->idx[h]];
		if (e->hash == hash && e->bucket == bucket && e->key_len == n &&
		    !memcmp(e->key, k, n)) {
			*out = e;
			return C360_OK;
		}
	}
	/* entries are allocated one by one: their addresses stay valid while the
	 * overlay grows */
	struct ent *e = slab_alloc(&ig->slab, sizeof *e + n + 1);
	if (!e)
		return C360_ERR_NOMEM;
	e->bucket = bucket;
	e->hash = hash;
	memcpy(e->key, k, n);
	e->key[n] = '\0';
	e->key_len = n;
	ig->idx[h] = ig->nents;
	ig->ents[ig->nents++] = e;
	*out = e;
	*added = true;
	return C360_OK;
}

static const char *bucket_name(const struct c360_integrate *ig, int b)
{
	return b == B_META ? ig->meta_bucket : c360_imap_target_bucket(ig->m);
}

/* ---- warm cache ----
 *
 * In batched use (`integrate run`, one engine owning the mapping's state) the
 * metadata documents a batch commits are kept as text, so later batches parse
 * them instead of reading the store. The cache is bounded (opts.cache_bytes,
 * default 64 MiB, whatever the number of customers): past it the least
 * recently used documents are dropped, never one whose commit is still in
 * flight (a store read would see the older version). An eighth of the
 * budget is a Bloom filter of every metadata key the engine has written:
 * when the engine started on a metadata bucket without any state, a key the
 * filter does not hold does not exist, so no read goes to the store for new
 * customers and new staging keys even after their documents left the cache. */

#define CACHE_DEFAULT (64u << 20)
#define CACHE_MIN (64u << 10)
#define ENTRY_OVERHEAD 16 /* malloc's */

struct wentry {
	struct wentry *hnext;       /* hash chain */
	struct wentry *prev, *next; /* LRU list, oldest first */
	uint64_t gen;               /* batch that put it */
	uint64_t hash;
	size_t key_len, text_len;
	char data[];                /* key NUL text NUL */
};

static size_t wentry_size(const struct wentry *w)
{
	return sizeof *w + w->key_len + w->text_len + 2 + ENTRY_OVERHEAD;
}

static void lru_unlink(struct c360_integrate *ig, struct wentry *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		ig->lru_head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		ig->lru_tail = w->prev;
	w->prev = w->next = NULL;
}

static void lru_append(struct c360_integrate *ig, struct wentry *w)
{
	w->prev = ig->lru_tail;
	w->next = NULL;
	if (ig->lru_tail)
		ig->lru_tail->next = w;
	else
		ig->lru_head = w;
	ig->lru_tail = w;
}

static void warm_clear(struct c360_integrate *ig)
{
	for (struct wentry *w = ig->lru_head, *n; w; w = n) {
		n = w->next;
		free(w);
	}
	free(ig->warm);
	ig->warm = NULL;
	ig->lru_head = ig->lru_tail = NULL;
	ig->nwarm = ig->warmcap = 0;
	ig->warm_bytes = 0;
}

/* The cache can no longer be trusted (a failed commit): empty it and stop
 * believing the filter's "absent". */
static void warm_drop(struct c360_integrate *ig)
{
	warm_clear(ig);
	ig->warm_complete = false;
}

static struct wentry **warm_link(struct c360_integrate *ig, uint64_t h, const char *k, size_t n)
{
	struct wentry **p = &ig->warm[h & (ig->warmcap - 1)];
	while (*p && !((*p)->hash == h && (*p)->key_len == n && !memcmp((*p)->data, k, n)))
		p = &(*p)->hnext;
	return p;
}

/* h: hash_key(B_META, k, n), as for every key of the cache and the filter */
static struct wentry *warm_get(struct c360_integrate *ig, uint64_t h, const char *k, size_t n)
{
	if (!ig->nwarm)
		return NULL;
	struct wentry *w = *warm_link(ig, h, k, n);
	if (w && w != ig->lru_tail) {
		lru_unlink(ig, w);
		lru_append(ig, w);
	}
	return w;
}

static void warm_remove(struct c360_integrate *ig, struct wentry *w)
{
	struct wentry **p = warm_link(ig, w->hash, w->data, w->key_len);
	*p = w->hnext;
	lru_unlink(ig, w);
	ig->warm_bytes -= wentry_size(w);
	ig->nwarm--;
	free(w);
}

/* Drops the least recently used documents until the cache fits its budget;
 * documents of batches not yet committed (gen > committed) stay. */
static void warm_evict(struct c360_integrate *ig, uint64_t committed)
{
	while (ig->warm_bytes > ig->warm_max && ig->lru_head && ig->lru_head->gen <= committed) {
		warm_remove(ig, ig->lru_head);
		ig->stats.cache_evictions++;
	}
}

/* Keeps a copy of metadata document k (from batch gen). False when out of
 * memory (the document is then not cached: the caller must commit it before
 * anything reads the store). */
static bool warm_put(struct c360_integrate *ig, uint64_t h, const char *k, size_t n,
		     const char *text, size_t text_len, uint64_t gen)
{
	if (ig->nwarm + 1 > ig->warmcap) {
		size_t cap = ig->warmcap ? ig->warmcap * 2 : 4096;
		struct wentry **nw = calloc(cap, sizeof *nw);
		if (!nw)
			return false;
		for (struct wentry *w = ig->lru_head; w; w = w->next) {
			struct wentry **b = &nw[w->hash & (cap - 1)];
			w->hnext = *b;
			*b = w;
		}
		ig->warm_bytes += (cap - ig->warmcap) * sizeof *nw;
		free(ig->warm);
		ig->warm = nw;
		ig->warmcap = cap;
	}
	struct wentry **p = warm_link(ig, h, k, n);
	if (*p)
		warm_remove(ig, *p);
	struct wentry *w = malloc(sizeof *w + n + text_len + 2);
	if (!w)
		return false;
	w->hash = h;
	w->gen = gen;
	w->key_len = n;
	w->text_len = text_len;
	memcpy(w->data, k, n);
	w->data[n] = '\0';
	memcpy(w->data + n + 1, text, text_len);
	w->data[n + 1 + text_len] = '\0';
	p = warm_link(ig, h, k, n); /* the chain may have changed */
	w->hnext = *p;
	*p = w;
	lru_append(ig, w);
	ig->nwarm++;
	ig->warm_bytes += wentry_size(w);
	return true;
}

/* ---- the filter of written metadata keys ---- */

static void known_add(struct c360_integrate *ig, uint64_t h)
{
	if (!ig->known)
		return;
	uint64_t h1 = mix64(h), h2 = mix64(h1) | 1;
	for (int i = 0; i < 4; i++) {
		uint64_t b = (h1 + (uint64_t)i * h2) & (ig->known_bits - 1);
		ig->known[b >> 6] |= 1ull << (b & 63);
	}
}

/* False when k was certainly never written (with warm_complete: absent). */
static bool known_maybe(const struct c360_integrate *ig, uint64_t h)
{
	if (!ig->known)
		return true;
	uint64_t h1 = mix64(h), h2 = mix64(h1) | 1;
	for (int i = 0; i < 4; i++) {
		uint64_t b = (h1 + (uint64_t)i * h2) & (ig->known_bits - 1);
		if (!(ig->known[b >> 6] & (1ull << (b & 63))))
			return false;
	}
	return true;
}

/* Loads a metadata document into the overlay (doc NULL when absent). */
static c360_rc meta_load(struct c360_integrate *ig, const char *k, size_t n, struct ent **out)
{
	struct ent *e;
	bool added;
	c360_rc rc = overlay_get(ig, B_META, k, n, &e, &added);
	if (rc)
		return rc;
	*out = e;
	if (!added)
		return C360_OK;
	struct wentry *w = warm_get(ig, e->hash, k, n);
	if (w) {
		if (!c360_json_parse(w->data + n + 1, w->text_len, NULL, &e->doc, NULL))
			return C360_OK;
		e->doc = NULL;
	} else if (ig->warm_complete && !known_maybe(ig, e->hash)) {
		return C360_OK; /* absent */
	}
	struct c360_doc d = {0};
	ig->stats.meta_reads++;
	rc = ig->read(ig->read_ctx, ig->meta_bucket, k, n, &d);
	if (rc == C360_ERR_NOT_FOUND)
		return C360_OK;
	if (rc)
		return rc;
	struct c360_json_error je;
	rc = c360_json_parse(d.value, d.value_len, NULL, &e->doc, &je);
	c360_doc_release(&d);
	if (rc) {
		C360_ERROR(ig->who, "metadata document '%s' is not JSON (%s): starting it afresh", k,
			   je.reason);
		e->doc = NULL;
	}
	return C360_OK;
}

/* "c360n::s::EMAIL", or a hash of it when that would exceed the key limit. */
static size_t meta_key(const char *prefix, const char *k, size_t n, char *out, size_t outsz)
{
	size_t pl = strlen(prefix);
	if (pl + n <= C360_KEY_MAX && pl + n < outsz) {
		memcpy(out, prefix, pl);
		memcpy(out + pl, k, n);
		out[pl + n] = '\0';
		return pl + n;
	}
	uint8_t h[16];
	crypto_generichash(h, sizeof h, (const unsigned char *)k, n, NULL, 0);
	char hex[33];
	sodium_bin2hex(hex, sizeof hex, h, sizeof h);
	int w = snprintf(out, outsz, "%.*s#%s", (int)(pl - 2), prefix, hex);
	return w > 0 ? (size_t)w : 0;
}

static c360_rc state_load(struct c360_integrate *ig, const char *email, size_t elen,
			  struct ent **out)
{
	char k[C360_KEY_MAX + 16];
	size_t kl = meta_key(STATE_PREFIX, email, elen, k, sizeof k);
	c360_rc rc = meta_load(ig, k, kl, out);
	if (rc)
		return rc;
	if (!(*out)->doc) {
		(*out)->doc = c360_json_doc_new();
		if (!(*out)->doc)
			return C360_ERR_NOMEM;
	}
	if (!c360_json_doc_root((*out)->doc)) {
		c360_json *root = c360_json_new_object((*out)->doc);
		c360_json *em = c360_json_new_str((*out)->doc, email, elen);
		if (!root || !em || c360_json_set((*out)->doc, root, "k", 1, em))
			return C360_ERR_NOMEM;
		c360_json_doc_set_root((*out)->doc, root);
	}
	(*out)->is_state = true;
	return C360_OK;
}

/* ---- stats ---- */

static void count_no_identity(struct c360_integrate *ig, const char *key, size_t klen,
			      const char *why)
{
	ig->stats.no_identity++;
	uint64_t n = ig->stats.no_identity;
	if (n <= NO_IDENTITY_LOG_MAX)
		C360_WARN(ig->who, "staging document '%.*s' has no usable identity: %s (counted as "
				   "no_identity, not merged)", (int)(klen > 200 ? 200 : klen), key, why);
	else if (n % 10000 == 0)
		C360_WARN(ig->who, "%" PRIu64 " staging documents without a usable identity so far",
			  n);
}

/* A document of a source with a timestamp pointer that has no usable time:
 * merged all the same (no data is dropped), but it never replaces a
 * timestamped version of its record, so a person should know. */
static void count_no_timestamp(struct c360_integrate *ig, const char *key, size_t klen, int source)
{
	ig->stats.no_timestamp++;
	uint64_t n = ig->stats.no_timestamp;
	const char *ptr = c360_imap_source_ts_pointer(ig->m, (size_t)source);
	if (n <= NO_IDENTITY_LOG_MAX)
		C360_WARN(ig->who,
		          "staging document '%.*s' (source '%s'): timestamp %s is missing "
		          "or not a time: merged, but it does not replace a version of "
		          "its record that has one (counted as no_timestamp)",
		          (int)(klen > 200 ? 200 : klen), key,
		          c360_imap_source_system(ig->m, (size_t)source), ptr ? ptr : "");
	else if (n % 10000 == 0)
		C360_WARN(ig->who,
		          "%" PRIu64 " staging documents without a usable timestamp so far", n);
}

/* ---- the online store ---- */

static bool online_due(struct c360_integrate *ig, const c360_json *state)
{
	if (!ig->poller)
		return false;
	int64_t o;
	c360_json *v = c360_json_get(state, "o");
	if (!v || !c360_json_int64(v, &o))
		return true;
	int64_t refresh = c360_imap_online_refresh(ig->m);
	return now_ms() - o >= refresh * 1000;
}

static c360_rc want_fetch(struct c360_integrate *ig, const char *email, size_t elen)
{
	for (size_t i = 0; i < ig->nfetch; i++)
		if (!strcmp(ig->fetch[i], email))
			return C360_OK;
	if (ig->nfetch == ig->fetchcap) {
		size_t cap = ig->fetchcap ? ig->fetchcap * 2 : 64;
		char **n = realloc(ig->fetch, cap * sizeof *n);
		if (!n)
			return C360_ERR_NOMEM;
		ig->fetch = n;
		ig->fetchcap = cap;
	}
	ig->fetch[ig->nfetch] = malloc(elen + 1);
	if (!ig->fetch[ig->nfetch])
		return C360_ERR_NOMEM;
	memcpy(ig->fetch[ig->nfetch], email, elen + 1);
	ig->nfetch++;
	return C360_OK;
}

static c360_rc set_state_int(struct ent *se, const char *k, int64_t v)
{
	c360_json *n = c360_json_new_int(se->doc, v);
	if (!n)
		return C360_ERR_NOMEM;
	return c360_json_set(se->doc, c360_json_doc_root(se->doc), k, strlen(k), n);
}

static c360_rc put_target(struct c360_integrate *ig, const char *k, size_t n, char *raw)
{
	struct ent *e;
	bool added;
	c360_rc rc = overlay_get(ig, B_TARGET, k, n, &e, &added);
	if (rc) {
		free(raw);
		return rc;
	}
	ent_set_raw(e, raw, false);
	e->inbuf = false;
	e->dirty = true;
	return C360_OK;
}

/* A customer document serialized at voff in the batch's value buffer. */
static c360_rc put_target_buf(struct c360_integrate *ig, const char *k, size_t n, size_t voff,
			      size_t vlen)
{
	struct ent *e;
	bool added;
	c360_rc rc = overlay_get(ig, B_TARGET, k, n, &e, &added);
	if (rc)
		return rc;
	ent_set_raw(e, NULL, false);
	e->inbuf = true;
	e->voff = voff;
	e->vlen = vlen;
	e->dirty = true;
	return C360_OK;
}

static void online_answer(const struct c360_poll_result *res, void *ctx)
{
	struct c360_integrate *ig = ctx;
	const char *email = res->email;
	size_t elen = strlen(email);
	struct ent *se;
	c360_rc rc = state_load(ig, email, elen, &se);
	if (rc)
		goto fail;
	int64_t t = now_ms();
	if (res->status == C360_POLL_NOT_FOUND) {
		bool changed;
		rc = c360_imap_state_delete(ig->m, se->doc, c360_json_doc_root(se->doc), ONLINE_SKEY,
					    strlen(ONLINE_SKEY), t, &changed);
		if (!rc)
			rc = set_state_int(se, "o", t);
		if (rc)
			goto fail;
		se->dirty = true;
		return;
	}
	if (res->status != C360_POLL_OK) {
		ig->stats.online_failures++;
		C360_WARN(ig->who, "online store: cannot fetch '%s': %s (%s), retried on its next "
				   "change", email, c360_poll_status_str(res->status), res->reason);
		return;
	}
	c360_json_doc *tmp = c360_json_doc_new();
	if (!tmp) {
		rc = C360_ERR_NOMEM;
		goto fail;
	}
	struct c360_imap_rec rec;
	char why[200];
	rc = c360_imap_extract(ig->m, res->details, c360_imap_online_source(ig->m), ig->key, t, tmp,
			       &rec, why, sizeof why);
	if (!rc && rec.what == C360_IMAP_UPSERT && strcmp(rec.email, email)) {
		C360_WARN(ig->who, "online store answered '%s' for '%s': ignored", rec.email, email);
	} else if (!rc && rec.what == C360_IMAP_UPSERT) {
		c360_json *root = c360_json_doc_root(se->doc);
		bool changed;
		rc = c360_imap_state_apply(ig->m, se->doc, &root, ONLINE_SKEY, strlen(ONLINE_SKEY),
					   rec.contrib, &changed);
		if (!rc)
			se->dirty = true;
	} else if (!rc) {
		C360_WARN(ig->who, "online store answer for '%s' not usable: %s", email, why);
	}
	c360_json_doc_free(tmp);
	if (!rc)
		rc = set_state_int(se, "o", t);
	/* orders: one document each, as the store gives them */
	const char *prefix = c360_imap_order_prefix(ig->m);
	for (c360_json *o = c360_json_first(res->orders); !rc && o; o = c360_json_next(o)) {
		const char *ot;
		size_t on;
		if (!c360_poll_id(c360_json_get(o, "OrderId"), &ot, &on))
			continue; /* not reached: the poller refuses such answers */
		char k[C360_KEY_MAX + 1];
		int w = snprintf(k, sizeof k, "%s%.*s", prefix, (int)on, ot);
		if (w <= 0 || (size_t)w >= sizeof k) {
			ig->stats.online_failures++;
			C360_WARN(ig->who, "online store order '%.*s' of '%s' not written: the key "
					   "'%s<OrderId>' is longer than %d bytes", (int)on, ot, email,
				  prefix, C360_KEY_MAX);
			continue;
		}
		char *raw = c360_json_write_str(o, C360_JSON_COMPACT, NULL);
		if (!raw) {
			rc = C360_ERR_NOMEM;
			break;
		}
		if ((rc = put_target(ig, k, (size_t)w, raw)))
			break;
		ig->stats.orders_written++;
	}
	if (!rc) {
		se->dirty = true;
		return;
	}
fail:
	ig->stats.online_failures++;
	ig->fetch_rc = rc;
	C360_ERROR(ig->who, "online store answer for '%s' not merged: %s", email, c360_rc_str(rc));
}

static c360_rc run_fetches(struct c360_integrate *ig)
{
	if (!ig->nfetch)
		return C360_OK;
	ig->fetch_rc = C360_OK;
	for (size_t i = 0; i < ig->nfetch; i++) {
		c360_rc rc = c360_poller_customer(ig->poller, ig->fetch[i], online_answer, ig);
		if (rc)
			return rc;
		ig->stats.online_fetches++;
	}
	c360_rc rc = c360_poller_run(ig->poller, -1);
	for (size_t i = 0; i < ig->nfetch; i++)
		free(ig->fetch[i]);
	ig->nfetch = 0;
	return rc ? rc : ig->fetch_rc;
}

/* ---- records ---- */

static c360_rc index_load(struct c360_integrate *ig, const char *key, size_t klen,
			  struct ent **out)
{
	char k[C360_KEY_MAX + 16];
	size_t kl = meta_key(INDEX_PREFIX, key, klen, k, sizeof k);
	return meta_load(ig, k, kl, out);
}

static const char *index_str(struct ent *ie, const char *k, size_t *len)
{
	/* set earlier in the batch: parsed back (a staging key twice in a batch) */
	if (!ie->doc && ie->raw && c360_json_parse(ie->raw, strlen(ie->raw), NULL, &ie->doc, NULL))
		ie->doc = NULL;
	if (!ie->doc) {
		*len = 0;
		return NULL;
	}
	return c360_json_str(c360_json_get(c360_json_doc_root(ie->doc), k), len);
}

/* The index document {"c":EMAIL,"r":RKEY}, written as text (the bytes of
 * the document written): no document is built for it. Emails and record
 * keys are nearly always plain ASCII: copied into the batch's slab, no
 * escaping. */
static c360_rc index_set(struct c360_integrate *ig, struct ent *ie, const char *email,
			 size_t elen, const char *rkey, size_t rlen)
{
	char *text;
	bool plain = c360_json_plain(email, elen) && c360_json_plain(rkey, rlen);
	if (plain) {
		text = slab_alloc(&ig->slab, elen + rlen + 16);
		if (!text)
			return C360_ERR_NOMEM;
		char *p = text;
		memcpy(p, "{\"c\":\"", 6);
		p += 6;
		memcpy(p, email, elen);
		p += elen;
		memcpy(p, "\",\"r\":\"", 7);
		p += 7;
		memcpy(p, rkey, rlen);
		p += rlen;
		memcpy(p, "\"}", 3); /* with the NUL */
	} else {
		struct c360_buf b;
		c360_buf_init(&b, 0);
		c360_rc rc = c360_buf_append(&b, "{\"c\":", 5);
		if (!rc)
			rc = c360_json_write_string(email, elen, &b);
		if (!rc)
			rc = c360_buf_append(&b, ",\"r\":", 5);
		if (!rc)
			rc = c360_json_write_string(rkey, rlen, &b);
		if (!rc)
			rc = c360_buf_putc(&b, '}');
		text = rc ? NULL : c360_buf_detach(&b, NULL);
		c360_buf_release(&b);
		if (!text)
			return rc ? rc : C360_ERR_NOMEM;
	}
	ent_set_raw(ie, text, plain);
	c360_json_doc_free(ie->doc);
	ie->doc = NULL;
	ie->dirty = true;
	return C360_OK;
}

static int64_t contrib_t(const c360_json *c)
{
	int64_t t;
	c360_json *v = c360_json_get(c, "t");
	return v && c360_json_int64(v, &t) ? t : TS_NONE_VAL;
}

struct locks {
	unsigned s[2];
	int n;
};

static void lock_customers(struct c360_integrate *ig, struct locks *l, const char *a, size_t an,
			   const char *b, size_t bn)
{
	l->n = 0;
	if (!ig->locking)
		return;
	if (a)
		l->s[l->n++] = stripe_of(a, an);
	if (b) {
		unsigned s = stripe_of(b, bn);
		if (!l->n || s != l->s[0])
			l->s[l->n++] = s;
	}
	if (l->n == 2 && l->s[0] > l->s[1]) {
		unsigned t = l->s[0];
		l->s[0] = l->s[1];
		l->s[1] = t;
	}
	for (int i = 0; i < l->n; i++)
		pthread_mutex_lock(&stripes[l->s[i]]);
}

static void unlock_customers(struct locks *l)
{
	for (int i = l->n - 1; i >= 0; i--)
		pthread_mutex_unlock(&stripes[l->s[i]]);
	l->n = 0;
}

/* The per-record work once the record is extracted (rec NULL for a staging
 * deletion). prev/prevr: the customer and record key the staging key went
 * to last time. Runs under the customers' locks in locking mode. */
static c360_rc apply_record(struct c360_integrate *ig, const char *key, size_t klen,
			    const struct c360_imap_rec *rec, const char *rkey, size_t rlen,
			    struct ent *ie, const char *prev, size_t prevlen, const char *prevr,
			    size_t prevrlen)
{
	c360_rc rc;
	bool changed;
	if (!rec) {
		/* staging deletion: remove what this document contributed, unless a
		 * newer staging copy of the same record has taken over */
		if (!prev || !prevr)
			return C360_OK;
		struct ent *se;
		if ((rc = state_load(ig, prev, prevlen, &se)))
			return rc;
		c360_json *root = c360_json_doc_root(se->doc);
		c360_json *cur = c360_json_getn(c360_json_get(root, "c"), prevr, prevrlen);
		size_t kl;
		const char *k = c360_json_str(c360_json_get(cur, "k"), &kl);
		if (!k || kl != klen || memcmp(k, key, klen))
			return C360_OK;
		if ((rc = c360_imap_state_delete(ig->m, se->doc, root, prevr, prevrlen, TS_NONE_VAL,
						 &changed)))
			return rc;
		if (changed) {
			se->dirty = true;
			ig->stats.deletes++;
		}
		return C360_OK;
	}
	int64_t ts = rec->ts;
	bool moved = prev && prevr &&
		     (prevlen != rec->email_len || memcmp(prev, rec->email, prevlen) ||
		      prevrlen != rlen || memcmp(prevr, rkey, rlen));
	if (moved) {
		/* the staging document now says another identity (e.g. an email
		 * change): its record leaves the previous customer unless that
		 * holds a newer version */
		struct ent *pe;
		if ((rc = state_load(ig, prev, prevlen, &pe)))
			return rc;
		c360_json *proot = c360_json_doc_root(pe->doc);
		c360_json *old = c360_json_getn(c360_json_get(proot, "c"), prevr, prevrlen);
		int64_t ot = old ? contrib_t(old) : TS_NONE_VAL;
		if (old && ts != TS_NONE_VAL && ot != TS_NONE_VAL && ot > ts) {
			ig->stats.stale++;
			return C360_OK;
		}
		size_t okl;
		const char *ok = c360_json_str(c360_json_get(old, "k"), &okl);
		if (ok && okl == klen && !memcmp(ok, key, klen)) {
			if ((rc = c360_imap_state_delete(ig->m, pe->doc, proot, prevr, prevrlen, ts,
							 &changed)))
				return rc;
			if (changed)
				pe->dirty = true;
		}
	}
	struct ent *se;
	if ((rc = state_load(ig, rec->email, rec->email_len, &se)))
		return rc;
	c360_json *root = c360_json_doc_root(se->doc);
	if ((rc = c360_imap_state_apply(ig->m, se->doc, &root, rkey, rlen, rec->contrib, &changed)))
		return rc;
	if (changed) {
		se->dirty = true;
		if (rec->what == C360_IMAP_DELETE)
			ig->stats.deletes++;
		else
			ig->stats.upserts++;
	} else {
		ig->stats.stale++;
	}
	if (changed && (!prev || moved) &&
	    (rc = index_set(ig, ie, rec->email, rec->email_len, rkey, rlen)))
		return rc;
	if (rec->what == C360_IMAP_UPSERT && rec->source != c360_imap_online_source(ig->m) &&
	    online_due(ig, root) && (rc = want_fetch(ig, rec->email, rec->email_len)))
		return rc;
	return C360_OK;
}

/* Phase one of a staging mutation: parse and extract (see engine_int.h). */
void c360_integrate_prepare(const c360_integrate *ig, const char *key, size_t klen,
			    const char *value, size_t vlen, uint64_t cas, c360_json_doc *into,
			    struct c360_buf *buf, struct c360_integrate_prep *p)
{
	p->rc = C360_OK;
	p->not_json = false;
	p->off = buf->len;
	p->len = 0;
	if (!into) {
		p->rc = C360_ERR_NOMEM;
		return;
	}
	/* only the members the mapping reads (not a Debezium envelope's schema):
	 * the value is a store document, valid JSON */
	struct c360_json_parse_opts po = {0};
	po.keep = c360_imap_root_members(ig->m, &po.nkeep);
	c360_json_doc *vd = NULL;
	if (c360_json_parse(value, vlen, &po, &vd, NULL)) {
		p->not_json = true;
		p->rec.what = C360_IMAP_IGNORED;
		return;
	}
	char why[200];
	int64_t meta_ms = (int64_t)(cas / 1000000u);
	c360_rc rc = c360_imap_extract(ig->m, c360_json_doc_root(vd), -1, ig->key, meta_ms, into,
				       &p->rec, why, sizeof why);
	c360_json_doc_free(vd);
	if (!rc && p->rec.what == C360_IMAP_NO_IDENTITY) {
		rc = c360_buf_puts(buf, why);
	} else if (!rc && p->rec.what != C360_IMAP_IGNORED) {
		c360_json *kv = c360_json_new_str(into, key, klen);
		if (!kv || c360_json_set(into, p->rec.contrib, "k", 1, kv))
			rc = C360_ERR_NOMEM;
		else
			rc = c360_imap_record_key(ig->m, &p->rec, key, klen, buf);
	}
	p->len = buf->len - p->off;
	p->rc = rc;
}

/* Phase two: everything else (rec NULL: a staging deletion). */
static c360_rc apply_prepared(struct c360_integrate *ig, const char *key, size_t klen,
			      const struct c360_integrate_prep *pp, const char *pbuf)
{
	c360_rc rc = C360_OK;
	const struct c360_imap_rec *rec = NULL;
	struct locks lk = {.n = 0};
	ig->stats.processed++;
	if (pp) {
		if ((rc = pp->rc))
			goto out;
		if (pp->not_json) {
			ig->stats.ignored++;
			C360_DEBUG(ig->who, "staging document '%.*s' is not JSON: ignored",
				   (int)(klen > 200 ? 200 : klen), key);
			return C360_OK;
		}
		if (pp->rec.what == C360_IMAP_IGNORED) {
			ig->stats.ignored++;
			return C360_OK;
		}
		if (pp->rec.what == C360_IMAP_NO_IDENTITY) {
			char why[200];
			snprintf(why, sizeof why, "%.*s", (int)pp->len, pbuf + pp->off);
			count_no_identity(ig, key, klen, why);
			return C360_OK;
		}
		rec = &pp->rec;
		if (rec->no_clock)
			count_no_timestamp(ig, key, klen, rec->source);
	}
	struct ent *ie;
	if ((rc = index_load(ig, key, klen, &ie)))
		goto out;
	size_t prevlen = 0, prevrlen = 0;
	const char *p = index_str(ie, "c", &prevlen);
	const char *pr = index_str(ie, "r", &prevrlen);
	char prev[C360_KEY_MAX + 1];
	if (p) {
		if (prevlen > C360_KEY_MAX)
			prevlen = C360_KEY_MAX;
		memcpy(prev, p, prevlen);
		prev[prevlen] = '\0';
	}
	/* copy: the index entry may be rewritten */
	char *prevr = pr ? strndup(pr, prevrlen) : NULL;
	if (pr && !prevr) {
		rc = C360_ERR_NOMEM;
		goto out;
	}
	lock_customers(ig, &lk, p ? prev : NULL, prevlen, rec ? rec->email : NULL,
		       rec ? rec->email_len : 0);
	rc = apply_record(ig, key, klen, rec, rec ? pbuf + pp->off : NULL, rec ? pp->len : 0, ie,
			  p ? prev : NULL, prevlen, prevr, prevrlen);
	free(prevr);
	if (!rc)
		ig->nrecs++;
	if (!rc && ig->locking)
		rc = c360_integrate_flush(ig);
out:
	unlock_customers(&lk);
	if (rc) {
		ig->stats.failures++;
		C360_ERROR(ig->who, "staging document '%.*s' not merged: %s",
			   (int)(klen > 200 ? 200 : klen), key, c360_rc_str(rc));
		if (ig->locking)
			overlay_reset(ig);
	}
	return rc;
}

static c360_rc handle(struct c360_integrate *ig, const char *key, size_t klen, const char *value,
		      size_t vlen, uint64_t cas)
{
	if (!value)
		return apply_prepared(ig, key, klen, NULL, NULL);
	c360_json_doc *into = c360_json_doc_new();
	struct c360_integrate_prep p;
	if (!into) {
		p.rc = C360_ERR_NOMEM;
		p.not_json = false;
		return apply_prepared(ig, key, klen, &p, NULL);
	}
	c360_buf_reset(&ig->rkey);
	c360_integrate_prepare(ig, key, klen, value, vlen, cas, into, &ig->rkey, &p);
	c360_rc rc = apply_prepared(ig, key, klen, &p, ig->rkey.data);
	c360_json_doc_free(into);
	return rc;
}

c360_rc c360_integrate_update_prepared(c360_integrate *ig, const char *key, size_t key_len,
				       const struct c360_integrate_prep *p, const char *buf)
{
	c360_rc rc = apply_prepared(ig, key, key_len, p, buf);
	if (!rc && !ig->locking && ig->nrecs > ig->batch_max)
		rc = c360_integrate_flush(ig);
	return rc;
}

c360_rc c360_integrate_update(c360_integrate *ig, const char *key, size_t key_len,
			      const char *value, size_t value_len, uint64_t cas)
{
	c360_rc rc = handle(ig, key, key_len, value, value_len, cas);
	if (!rc && !ig->locking && ig->nrecs > ig->batch_max)
		rc = c360_integrate_flush(ig);
	return rc;
}

c360_rc c360_integrate_delete(c360_integrate *ig, const char *key, size_t key_len, bool expired)
{
	if (expired) {
		/* the nightly TTL of staging removes nothing from customer360 */
		ig->stats.processed++;
		ig->stats.expirations++;
		return C360_OK;
	}
	c360_rc rc = handle(ig, key, key_len, NULL, 0, 0);
	if (!rc && !ig->locking && ig->nrecs > ig->batch_max)
		rc = c360_integrate_flush(ig);
	return rc;
}

/* ---- flush ---- */

/* One batch's writes, committed in the calling thread or, in batched use, in
 * a writer thread while the next batch is merged (the store's write path is
 * about half of the CPU). Batches commit in order: a commit waits for the
 * previous one. The warm cache takes a batch's metadata documents when it is
 * handed over, so the next batch reads them before they are committed; a
 * failed commit empties the cache. */
struct commit {
	struct ent **ents; /* the batch's overlay entries (keys and raw values) */
	size_t nents;
	struct slab *slab; /* where they live */
	struct c360_write *ops;
	struct c360_buf vbuf; /* the serialized values: one buffer for the batch */
	size_t n;
	bool set_cursor;
	const char *cursor_bucket;
	char cursor[200];
	uint64_t seqno;
	uint64_t gen;
	uint64_t cpu_us; /* the writer thread's */
	double wall_ms;  /* the commit's, for the debug log */
	c360_rc rc;
	pthread_t th;
	bool threaded;
	struct c360_integrate *ig;
};

/* Commit order: by bucket, then key (SQLite's key index is then written in
 * order, page by page: fewer pages touched and written per batch). */
static int op_cmp(const void *a, const void *b)
{
	const struct c360_write *x = a, *y = b;
	if (x->bucket != y->bucket)
		return strcmp(x->bucket, y->bucket);
	size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
	int c = memcmp(x->key, y->key, n);
	if (c)
		return c;
	return (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

/* The keys of a batch share long prefixes ("c360n::k::dbserver1.inventory.
 * customers::…"), which op_cmp compares again at each of its n log n calls:
 * sort_ops groups the ops by bucket, then sorts each group's keys with a
 * multikey quicksort (Bentley & Sedgewick, "Fast algorithms for sorting and
 * searching strings"), which reads each byte of a shared prefix about once
 * per key. Same order as qsort with op_cmp (the keys of one bucket are
 * distinct). */
struct okey {
	const unsigned char *k;
	size_t n;
	size_t op;
};

static int okey_at(const struct okey *o, size_t d)
{
	return d < o->n ? o->k[d] : -1;
}

static void okey_swap(struct okey *a, size_t i, size_t j)
{
	struct okey t = a[i];
	a[i] = a[j];
	a[j] = t;
}

static int okey_cmp(const void *pa, const void *pb)
{
	const struct okey *a = pa, *b = pb;
	int c = memcmp(a->k, b->k, a->n < b->n ? a->n : b->n);
	return c ? c : (a->n > b->n) - (a->n < b->n);
}

/* The first byte from d at which x and y differ, or to (both are at least to
 * bytes long). */
static size_t mismatch(const unsigned char *x, const unsigned char *y, size_t d, size_t to)
{
	while (d + 8 <= to && !memcmp(x + d, y + d, 8))
		d += 8;
	while (d < to && x[d] == y[d])
		d++;
	return d;
}

/* How many first bytes every key of a[0..n) shares (at least d). */
static size_t shared_prefix(const struct okey *a, size_t n, size_t d)
{
	size_t l = a[0].n;
	for (size_t i = 1; i < n && l > d; i++)
		l = mismatch(a[0].k, a[i].k, d, a[i].n < l ? a[i].n : l);
	return l;
}

/* Sorts a[0..n), whose keys share their first d bytes: a multikey quicksort
 * that skips the bytes all keys of a part share at once; small parts by
 * insertion. Past depth levels of recursion (a pathological set of keys) the
 * rest goes to qsort. */
static void mkqsort(struct okey *a, size_t n, size_t d, int depth)
{
	while (n > 1) {
		if (n <= 8) {
			for (size_t i = 1; i < n; i++)
				for (size_t j = i; j && okey_cmp(&a[j - 1], &a[j]) > 0; j--)
					okey_swap(a, j - 1, j);
			return;
		}
		if (depth <= 0) {
			qsort(a, n, sizeof *a, okey_cmp);
			return;
		}
		d = shared_prefix(a, n, d);
		okey_swap(a, 0, n / 2);
		int v = okey_at(&a[0], d);
		/* a[0, lt) < v, a[lt, i) == v, a[gt, n) > v */
		size_t lt = 0, i = 0, gt = n;
		while (i < gt) {
			int c = okey_at(&a[i], d);
			if (c < v)
				okey_swap(a, lt++, i++);
			else if (c > v)
				okey_swap(a, i, --gt);
			else
				i++;
		}
		mkqsort(a, lt, d, depth - 1);
		mkqsort(a + gt, n - gt, d, depth - 1);
		if (v < 0)
			return; /* the equal part: keys that end here */
		a += lt;
		n = gt - lt;
		d++;
	}
}

#define OPS_BUCKETS 8

static size_t bucket_index(const char *const *bk, size_t nb, const char *bucket)
{
	size_t b = 0;
	while (b < nb && bk[b] != bucket)
		b++;
	return b;
}

/* Sorts ops by op_cmp; *ops is replaced by a sorted copy. */
static c360_rc sort_ops(struct c360_write **ops, size_t n)
{
	/* the buckets (two in practice) in name order; equal names are one group */
	const char *bk[OPS_BUCKETS];
	size_t nb = 0, grp[OPS_BUCKETS];
	for (size_t i = 0; i < n; i++) {
		const char *bucket = (*ops)[i].bucket;
		if (bucket_index(bk, nb, bucket) < nb)
			continue;
		if (nb == OPS_BUCKETS) {
			qsort(*ops, n, sizeof **ops, op_cmp);
			return C360_OK;
		}
		size_t j = nb++;
		for (; j && strcmp(bk[j - 1], bucket) > 0; j--)
			bk[j] = bk[j - 1];
		bk[j] = bucket;
	}
	for (size_t b = 0; b < nb; b++)
		grp[b] = b ? grp[b - 1] + (strcmp(bk[b - 1], bk[b]) != 0) : 0;
	struct okey *keys = malloc((n ? n : 1) * sizeof *keys);
	struct c360_write *out = malloc((n ? n : 1) * sizeof *out);
	if (!keys || !out) {
		free(keys);
		free(out);
		return C360_ERR_NOMEM;
	}
	size_t done = 0;
	for (size_t g = 0; nb && g <= grp[nb - 1]; g++) {
		size_t k = 0;
		for (size_t i = 0; i < n; i++) {
			const struct c360_write *w = &(*ops)[i];
			if (grp[bucket_index(bk, nb, w->bucket)] != g)
				continue;
			keys[k++] = (struct okey){(const unsigned char *)w->key, w->key_len, i};
		}
		mkqsort(keys, k, 0, 64);
		for (size_t i = 0; i < k; i++)
			out[done + i] = (*ops)[keys[i].op];
		done += k;
	}
	free(keys);
	free(*ops);
	*ops = out;
	return C360_OK;
}

static void *commit_run(void *p)
{
	struct commit *c = p;
	struct c360_integrate *ig = c->ig;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	c->rc = c->n ? ig->write(ig->write_ctx, c->ops, c->n) : C360_OK;
	if (!c->rc && c->set_cursor)
		c->rc = c360_feed_cursor_set(ig->st, c->cursor_bucket, c->cursor, c->seqno);
	if (c->threaded)
		c->cpu_us = c360_integrate_thread_cpu_us();
	clock_gettime(CLOCK_MONOTONIC, &t1);
	c->wall_ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	return NULL;
}

/* Joins (if threaded), counts, reports and frees a commit. */
static c360_rc commit_finish(struct c360_integrate *ig, struct commit *c)
{
	if (c->threaded)
		pthread_join(c->th, NULL);
	c360_rc rc = c->rc;
	ig->stats.cpu_us_write += c->cpu_us;
	for (size_t i = 0; i < c->n; i++) {
		struct c360_write *w = &c->ops[i];
		bool failed = rc || (w->rc && !(w->type == C360_WRITE_DELETE &&
						 w->rc == C360_ERR_NOT_FOUND));
		if (failed && w->bucket == ig->meta_bucket && ig->nwarm)
			warm_drop(ig); /* the cache holds what was not committed */
		if (rc || (w->type == C360_WRITE_DELETE && w->rc == C360_ERR_NOT_FOUND))
			continue;
		if (w->rc) {
			C360_ERROR(ig->who, "cannot write '%.*s' to '%s': %s", (int)w->key_len, w->key,
				   w->bucket, c360_rc_str(w->rc));
			ig->stats.failures++;
			continue;
		}
		const char *op = c360_imap_order_prefix(ig->m);
		if (w->bucket == c360_imap_target_bucket(ig->m) && strncmp(w->key, op, strlen(op))) {
			if (w->type == C360_WRITE_DELETE)
				ig->stats.customers_deleted++;
			else
				ig->stats.customers_written++;
		}
	}
	if (rc)
		C360_ERROR(ig->who, "cannot commit a batch of %zu writes: %s", c->n, c360_rc_str(rc));
	else if (c->gen > ig->committed)
		ig->committed = c->gen;
	if (!rc && c->n) {
		if (c->threaded)
			C360_DEBUG(ig->who, "committed %zu writes in %.1f ms (%.1f ms CPU in the writer "
					    "thread)",
				   c->n, c->wall_ms, (double)c->cpu_us / 1e3);
		else
			C360_DEBUG(ig->who, "committed %zu writes in %.1f ms", c->n, c->wall_ms);
	}
	c360_buf_release(&c->vbuf);
	free(c->ops);
	for (size_t i = 0; i < c->nents; i++)
		ent_clear(c->ents[i]);
	free(c->ents);
	slab_free(c->slab);
	free(c);
	return rc;
}

c360_rc c360_integrate_wait(c360_integrate *ig)
{
	struct commit *c = ig->inflight;
	ig->inflight = NULL;
	return c ? commit_finish(ig, c) : C360_OK;
}

static c360_rc flush_batch(c360_integrate *ig, bool async, const char *cursor_bucket,
			   const char *cursor, uint64_t seqno)
{
	c360_rc rc = run_fetches(ig);
	if (rc)
		C360_WARN(ig->who, "online store: %s (the customers are fetched again on their next "
				   "change)", c360_rc_str(rc));
	rc = C360_OK;
	struct commit *c = calloc(1, sizeof *c);
	size_t *voff = NULL;
	if (!c) {
		rc = C360_ERR_NOMEM;
		goto fail;
	}
	c->ig = ig;
	/* every value of the batch goes into one buffer (no growing and
	 * copying of one small buffer per document), sized like the last
	 * batch's (no doubling and copying of the big one either) */
	c360_buf_init(&c->vbuf, 0);
	if (ig->vbuf_hint)
		(void)c360_buf_reserve(&c->vbuf, ig->vbuf_hint); /* else it grows as it goes */
	/* build every changed customer */
	size_t nstate = ig->nents;
	for (size_t i = 0; i < nstate; i++) {
		struct ent *e = ig->ents[i];
		if (!e->dirty || !e->is_state)
			continue;
		c360_json *root = c360_json_doc_root(e->doc);
		size_t elen;
		const char *email = c360_json_str(c360_json_get(root, "k"), &elen);
		if (!email)
			continue;
		size_t off = c->vbuf.len;
		bool none;
		rc = c360_imap_build_text(ig->m, root, &c->vbuf, &none);
		if (!rc) {
			char k[C360_KEY_MAX + 1];
			memcpy(k, email, elen);
			k[elen] = '\0';
			rc = !none ? put_target_buf(ig, k, elen, off, c->vbuf.len - off)
				   : put_target(ig, k, elen, NULL);
		}
		if (rc)
			goto fail;
	}
	size_t nops = 0;
	for (size_t i = 0; i < ig->nents; i++)
		nops += ig->ents[i]->dirty;
	c->ops = calloc(nops ? nops : 1, sizeof *c->ops);
	voff = malloc((nops ? nops : 1) * sizeof *voff);
	if (!c->ops || !voff) {
		rc = C360_ERR_NOMEM;
		goto fail;
	}
	for (size_t i = 0; i < ig->nents; i++) {
		struct ent *e = ig->ents[i];
		if (!e->dirty)
			continue;
		struct c360_write *w = &c->ops[c->n];
		w->bucket = bucket_name(ig, e->bucket);
		w->key = e->key;
		w->key_len = e->key_len;
		w->flags = C360_WRITE_TRUSTED_JSON;
		voff[c->n] = SIZE_MAX;
		if (e->bucket == B_META && e->raw) {
			w->type = C360_WRITE_UPSERT;
			w->value = e->raw;
			w->value_len = strlen(e->raw);
		} else if (e->bucket == B_META) {
			voff[c->n] = c->vbuf.len;
			if ((rc = c360_json_write(c360_json_doc_root(e->doc), C360_JSON_COMPACT,
						  &c->vbuf)))
				goto fail;
			w->type = C360_WRITE_UPSERT;
			w->value_len = c->vbuf.len - voff[c->n];
		} else if (e->inbuf) {
			w->type = C360_WRITE_UPSERT;
			voff[c->n] = e->voff;
			w->value_len = e->vlen;
		} else if (e->raw) {
			w->type = C360_WRITE_UPSERT;
			w->value = e->raw;
			w->value_len = strlen(e->raw);
		} else {
			w->type = C360_WRITE_DELETE;
		}
		c->n++;
	}
	ig->vbuf_hint = c->vbuf.len;
	/* the buffer has stopped moving */
	for (size_t i = 0; i < c->n; i++)
		if (voff[i] != SIZE_MAX)
			c->ops[i].value = c->vbuf.data + voff[i];
	free(voff);
	voff = NULL;
	/* the next batch reads this one's metadata documents from the cache,
	 * committed or not. The ops are still in overlay order (op j is the
	 * j-th dirty entry), so each key's hash is the entry's. */
	bool warm_ok = true;
	c->gen = ++ig->gen;
	if (!ig->locking) {
		for (size_t i = 0, j = 0; i < ig->nents; i++) {
			const struct ent *e = ig->ents[i];
			if (!e->dirty)
				continue;
			const struct c360_write *w = &c->ops[j++];
			if (e->bucket != B_META)
				continue;
			known_add(ig, e->hash);
			if (!warm_put(ig, e->hash, w->key, w->key_len, w->value, w->value_len, c->gen))
				warm_ok = false; /* not cached: commit it before the next batch */
		}
	}
	/* the batch's entries go with the commit; the overlay starts empty */
	c->ents = ig->ents;
	c->nents = ig->nents;
	c->slab = ig->slab;
	ig->slab = NULL;
	ig->ents = NULL;
	ig->nents = ig->entcap = 0;
	if (ig->idx)
		memset(ig->idx, 0xff, ig->idxcap * sizeof *ig->idx);
	ig->nrecs = 0;
	if (cursor) {
		c->set_cursor = true;
		c->cursor_bucket = cursor_bucket;
		snprintf(c->cursor, sizeof c->cursor, "%s", cursor);
		c->seqno = seqno;
	}
	/* here, not in the writer thread (the store's write path makes that one
	 * the longest): the parsed documents are not needed any more, and the
	 * ops go in key order */
	for (size_t i = 0; i < c->nents; i++) {
		c360_json_doc_free(c->ents[i]->doc);
		c->ents[i]->doc = NULL;
	}
	if (sort_ops(&c->ops, c->n))
		qsort(c->ops, c->n, sizeof *c->ops, op_cmp); /* needs no buffer of ours */
	/* batches commit in order */
	c360_rc prc = c360_integrate_wait(ig);
	warm_evict(ig, ig->committed);
	if (async && warm_ok && !ig->locking && !prc) {
		c->threaded = true;
		if (!pthread_create(&c->th, NULL, commit_run, c)) {
			ig->inflight = c;
			return C360_OK;
		}
		c->threaded = false;
	}
	commit_run(c);
	rc = commit_finish(ig, c);
	warm_evict(ig, ig->committed);
	return prc ? prc : rc;
fail:
	free(voff);
	if (c) {
		c360_buf_release(&c->vbuf);
		free(c->ops);
		free(c);
	}
	overlay_reset(ig);
	return rc;
}

c360_rc c360_integrate_flush(c360_integrate *ig)
{
	return flush_batch(ig, false, NULL, NULL, 0);
}

c360_rc c360_integrate_commit(c360_integrate *ig, const char *cursor_bucket, const char *cursor,
			      uint64_t seqno)
{
	return flush_batch(ig, true, cursor_bucket, cursor, seqno);
}

/* ---- lifecycle ---- */

/* The eventing registry refers to the native kind weakly (handler.h); this
 * strong reference to kind.c makes every binary that links the engine link
 * the kind too. */
int c360_integrate_kind_anchor(void);

static c360_rc store_write_fn(void *ctx, struct c360_write *ops, size_t n)
{
	return c360_store_write(ctx, ops, n);
}

static c360_rc store_read_fn(void *ctx, const char *bucket, const char *key, size_t key_len,
			     struct c360_doc *out)
{
	return c360_store_get(ctx, bucket, key, key_len, out);
}

/* The secret key: from the mapping or its environment variable, else the
 * one generated once for this metadata bucket and kept in a file of mode 600
 * beside the store (so every run over this store hashes the same way, and
 * no bucket the API or SQL reads holds it). */
static c360_rc resolve_key(struct c360_integrate *ig, char *err, size_t errlen)
{
	c360_rc rc = c360_imap_secret_key(ig->m, ig->key, err, errlen);
	if (rc != C360_ERR_NOT_FOUND)
		return rc;
	return c360_integrate_store_key(ig->st, ig->meta_bucket, ig->key, err, errlen);
}

c360_rc c360_integrate_new(c360_store *st, const c360_imap *m,
			   const struct c360_integrate_opts *opts, c360_integrate **out, char *err,
			   size_t errlen)
{
	*out = NULL;
	pthread_once(&stripes_once, stripes_init);
	(void)c360_integrate_kind_anchor();
	if (sodium_init() < 0) {
		snprintf(err, errlen, "libsodium cannot initialise");
		return C360_ERR_INTERNAL;
	}
	struct c360_integrate *ig = calloc(1, sizeof *ig);
	if (!ig)
		return C360_ERR_NOMEM;
	ig->st = st;
	ig->m = m;
	const char *name = opts && opts->name ? opts->name : "customer360";
	snprintf(ig->who, sizeof ig->who, "native:%s", name);
	ig->batch_max = opts && opts->batch_max ? opts->batch_max : 2048;
	ig->locking = ig->batch_max == 1;
	c360_buf_init(&ig->rkey, 2 * C360_KEY_MAX);
	size_t cache = opts && opts->cache_bytes ? opts->cache_bytes : CACHE_DEFAULT;
	if (cache < CACHE_MIN)
		cache = CACHE_MIN;
	/* the filter: a power of two of bits, an eighth of the budget */
	ig->known_bits = 1u << 16;
	while (ig->known_bits * 2 / 8 <= cache / 8)
		ig->known_bits *= 2;
	ig->warm_max = cache - ig->known_bits / 8;
	ig->write = opts && opts->write ? opts->write : store_write_fn;
	ig->write_ctx = opts && opts->write ? opts->write_ctx : st;
	ig->read = opts && opts->read ? opts->read : store_read_fn;
	ig->read_ctx = opts && opts->read ? opts->read_ctx : st;
	snprintf(ig->meta_bucket, sizeof ig->meta_bucket, "%s",
		 opts && opts->metadata_bucket ? opts->metadata_bucket
					       : c360_imap_metadata_bucket(m));
	c360_rc rc;
	if ((rc = c360_iguard_take(c360_store_path(st), c360_imap_target_bucket(m), ig->meta_bucket,
				   ig->locking, ig->who, &ig->guard, err, errlen)))
		goto fail;
	if ((rc = c360_store_bucket_ensure(st, c360_imap_target_bucket(m), 0)) ||
	    (rc = c360_store_bucket_ensure(st, ig->meta_bucket, 0))) {
		snprintf(err, errlen, "cannot create buckets '%s' and '%s': %s",
			 c360_imap_target_bucket(m), ig->meta_bucket, c360_rc_str(rc));
		goto fail;
	}
	if (c360_imap_secrets_mode(m) == C360_SECRETS_HASH && (rc = resolve_key(ig, err, errlen)))
		goto fail;
	if (!ig->locking) {
		/* a metadata bucket without any state: the warm cache will be complete */
		char sql[300];
		struct c360_buf q;
		c360_buf_init(&q, 4096);
		snprintf(sql, sizeof sql,
			 "SELECT count(*) FROM \"%s\" WHERE key >= 'c360n::k' AND key < 'c360n::t'"
			 " AND key != '" KEYDOC "'",
			 ig->meta_bucket);
		char qerr[200];
		c360_json_doc *qd = NULL;
		int64_t cnt = -1;
		if (!c360_store_query(st, sql, NULL, &q, qerr, sizeof qerr) &&
		    !c360_json_parse(q.data, q.len, NULL, &qd, NULL))
			c360_json_int64(c360_json_ptr_get(c360_json_doc_root(qd), "/rows/0/0"), &cnt);
		ig->warm_complete = cnt == 0;
		/* zeroed by writing, now, while one thread runs: calloc's pages
		 * would be the shared zero page until written, and a page read by
		 * a lookup and then written by an add costs two faults and a TLB
		 * shootdown of the other CPUs (the bench at 100k: 2 500 fewer
		 * faults with the default cache, 24 000 fewer and 0.1 CPU-s with
		 * --cache-mb 2048) */
		if (ig->warm_complete && !(ig->known = malloc(ig->known_bits / 8))) {
			ig->warm_complete = false;
			ig->known_bits = 0;
		}
		if (ig->known)
			memset(ig->known, 0, ig->known_bits / 8);
		c360_json_doc_free(qd);
		c360_buf_release(&q);
	}
	const char *url = c360_imap_online_url(m);
	if (c360_imap_online_source(m) >= 0 && url && !(opts && opts->no_online)) {
		struct c360_poller_opts po;
		c360_poller_opts_init(&po);
		po.base_url = url;
		char who[200];
		snprintf(who, sizeof who, "%s:online_store", ig->who);
		po.who = who;
		if ((rc = c360_poller_new(&po, &ig->poller, err, errlen)))
			goto fail;
	}
	*out = ig;
	return C360_OK;
fail:
	c360_integrate_free(ig);
	return rc;
}

void c360_integrate_free(c360_integrate *ig)
{
	if (!ig)
		return;
	c360_integrate_wait(ig);
	if (ig->nrecs || ig->nents)
		c360_integrate_flush(ig);
	overlay_reset(ig);
	free(ig->ents);
	free(ig->idx);
	for (size_t i = 0; i < ig->nfetch; i++)
		free(ig->fetch[i]);
	free(ig->fetch);
	c360_buf_release(&ig->rkey);
	warm_clear(ig);
	free(ig->known);
	c360_poller_free(ig->poller);
	sodium_memzero(ig->key, sizeof ig->key);
	c360_iguard_drop(ig->guard); /* after the last commit */
	free(ig);
}

void c360_integrate_get_stats(const c360_integrate *ig, struct c360_integrate_stats *out)
{
	*out = ig->stats;
}

c360_rc c360_integrate_stats_json(const c360_integrate *ig, struct c360_buf *out)
{
	const struct c360_integrate_stats *s = &ig->stats;
	return c360_buf_printf(
	    out,
	    "\"processed\":%" PRIu64 ",\"ignored\":%" PRIu64 ",\"no_identity\":%" PRIu64
	    ",\"no_timestamp\":%" PRIu64 ",\"upserts\":%" PRIu64 ",\"stale\":%" PRIu64
	    ",\"deletes\":%" PRIu64 ",\"expirations\":%" PRIu64 ",\"customers_written\":%" PRIu64
	    ",\"customers_deleted\":%" PRIu64 ",\"online_fetches\":%" PRIu64
	    ",\"online_failures\":%" PRIu64 ",\"orders_written\":%" PRIu64
	    ",\"merge_failures\":%" PRIu64 ",\"meta_reads\":%" PRIu64
	    ",\"cache_evictions\":%" PRIu64,
	    s->processed, s->ignored, s->no_identity, s->no_timestamp, s->upserts, s->stale,
	    s->deletes, s->expirations, s->customers_written, s->customers_deleted,
	    s->online_fetches, s->online_failures, s->orders_written, s->failures, s->meta_reads,
	    s->cache_evictions);
}
