/* One polling pass over the online store: candidates from the store, the
 * refresh policy, poller jobs, and a writer thread that merges answers into
 * customer360 in batched transactions.
 *
 * The polling thread enumerates candidates (paged SQL), checks each one's
 * poll state, and keeps at most a few thousand jobs queued in the poller.
 * Job callbacks turn answers into items for the writer; the writer takes
 * whole batches, reads the current documents, merges, skips what did not
 * change, and writes customer, orders and poll state in one transaction
 * (the customer with CAS; a conflict re-merges that customer alone). */
#include "sources/rest/pollrun.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/json.h"
#include "core/log.h"
#include "core/banned.h"

#define WHO "rest:online_store"
#define PAGE 5000
#define MAX_QUEUED 2048 /* jobs in the poller */
#define MAX_ITEMS 8192  /* answers waiting for the writers */
#define BATCH 512
#define BATCH_MIN 256   /* a writer waits up to LINGER_MS for this many answers */
#define LINGER_MS 20
#define POLLERS 2       /* poller threads, each with its own libcurl multi */
#define WRITERS 2       /* customers of one pass are distinct: no conflicts */

void c360_pollrun_opts_init(struct c360_pollrun_opts *o)
{
	memset(o, 0, sizeof *o);
	c360_poller_opts_init(&o->poller);
	o->bucket = "customer360";
	o->staging = "staging";
	o->max_age_s = 86400;
	o->min_interval_s = 300;
}

/* ---- a string → uint64 map (emails → staging seqno) and an int64 set ---- */

struct smap {
	char **keys;
	uint64_t *vals;
	size_t cap, n;
};

static uint64_t hstr(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h ^ (h >> 31);
}

static c360_rc smap_put(struct smap *m, const char *k, uint64_t v)
{
	if ((m->n + 1) * 2 > m->cap) {
		size_t nc = m->cap ? m->cap * 2 : 1024;
		char **nk = calloc(nc, sizeof *nk);
		uint64_t *nv = calloc(nc, sizeof *nv);
		if (!nk || !nv) {
			free(nk);
			free(nv);
			return C360_ERR_NOMEM;
		}
		for (size_t i = 0; i < m->cap; i++)
			if (m->keys[i]) {
				size_t j = hstr(m->keys[i]) & (nc - 1);
				while (nk[j])
					j = (j + 1) & (nc - 1);
				nk[j] = m->keys[i];
				nv[j] = m->vals[i];
			}
		free(m->keys);
		free(m->vals);
		m->keys = nk;
		m->vals = nv;
		m->cap = nc;
	}
	size_t j = hstr(k) & (m->cap - 1);
	while (m->keys[j]) {
		if (!strcmp(m->keys[j], k)) {
			if (v > m->vals[j])
				m->vals[j] = v;
			return C360_OK;
		}
		j = (j + 1) & (m->cap - 1);
	}
	if (!(m->keys[j] = strdup(k)))
		return C360_ERR_NOMEM;
	m->vals[j] = v;
	m->n++;
	return C360_OK;
}

static bool smap_get(const struct smap *m, const char *k, uint64_t *v)
{
	if (!m->cap)
		return false;
	for (size_t j = hstr(k) & (m->cap - 1); m->keys[j]; j = (j + 1) & (m->cap - 1))
		if (!strcmp(m->keys[j], k)) {
			*v = m->vals[j];
			return true;
		}
	return false;
}

static void smap_free(struct smap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->keys[i]);
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof *m);
}

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- writer queue ---- */

enum item_kind { IT_CUSTOMER, IT_NOT_FOUND, IT_PRODUCT };

struct item {
	enum item_kind kind;
	char *email;
	uint64_t seqno;
	char *id;       /* product: the ProductId's text (c360_poll_id) */
	c360_json_doc *dd; /* customer: the details object; product: the product object */
	c360_json_doc *od; /* customer: the orders array */
	struct item *next;
};

struct cand {
	char *email;
	uint64_t seqno;
};

struct run {
	c360_store *st;
	const struct c360_pollrun_opts *o;
	int64_t now;
	struct smap staging;
	struct smap products; /* product ids (text) seen this pass */

	pthread_mutex_t mu;
	pthread_cond_t cv_items, cv_space;
	struct item *head, *tail;
	size_t nitems;
	bool closing;
	bool writing; /* the writer holds a batch */
	struct c360_pollrun_stats stats;
	struct timespec last; /* last progress report */
	/* candidates, appended by the enumeration, taken by the poller threads */
	struct cand *cands;
	size_t ncands, capcands, next_cand;
	bool enum_done;
	pthread_cond_t cv_cands;
	int cand_waiters; /* poller threads waiting on cv_cands */
	uint64_t submitted; /* customers handed to a poller (for --limit) */
	struct c360_poller_stats http[POLLERS]; /* each poller thread's, under mu */
	c360_rc poll_rc;
};

static void item_free(struct item *it)
{
	if (it) {
		free(it->email);
		free(it->id);
		c360_json_doc_free(it->dd);
		c360_json_doc_free(it->od);
		free(it);
	}
}

struct cust_count {
	enum c360_poll_status status;
};

static void count_customer(struct run *r, const struct cust_count *c);

/* Queues it for the writers; a customer's counters (c, when given) are
 * updated under the same lock. */
static void enqueue_locked(struct run *r, struct item *it, const struct cust_count *c)
{
	pthread_mutex_lock(&r->mu);
	if (c)
		count_customer(r, c);
	while (r->nitems >= MAX_ITEMS)
		pthread_cond_wait(&r->cv_space, &r->mu);
	it->next = NULL;
	if (r->tail)
		r->tail->next = it;
	else
		r->head = it;
	r->tail = it;
	r->nitems++;
	/* wake a writer for the first answer and for each full batch, not for
	 * every answer (lingering writers look again after LINGER_MS anyway) */
	if (r->nitems == 1 || r->nitems % BATCH_MIN == 0)
		pthread_cond_signal(&r->cv_items);
	pthread_mutex_unlock(&r->mu);
}

static void enqueue(struct run *r, struct item *it)
{
	enqueue_locked(r, it, NULL);
}

/* ---- writer ---- */

struct batch {
	struct c360_write *ops;
	struct item **owner; /* the item of each op */
	char **vals;         /* owned values and keys, freed after the write */
	size_t n, cap, nvals, capvals;
};

/* The current documents (JSON text) of a batch's keys, read in one read
 * transaction (c360_store_get_many) instead of one per key. */
struct prefetch {
	struct c360_doc *docs;
	c360_rc *rcs;
	size_t n;
	bool ok;
	struct smap idx; /* key → index + 1 */
};

/* Looks key up: true when prefetched (then *d is NULL when the document
 * does not exist); false when the caller must read it itself. */
static bool pf_get(const struct prefetch *pf, const char *key, const struct c360_doc **d)
{
	if (!pf || !pf->ok)
		return false;
	uint64_t i;
	if (!smap_get(&pf->idx, key, &i))
		return false; /* not asked for */
	*d = pf->rcs[i - 1] == C360_OK ? &pf->docs[i - 1] : NULL;
	return true;
}

static void pf_free(struct prefetch *pf)
{
	for (size_t i = 0; i < pf->n; i++)
		c360_doc_release(&pf->docs[i]);
	free(pf->docs);
	free(pf->rcs);
	smap_free(&pf->idx);
	memset(pf, 0, sizeof *pf);
}

static c360_rc own(struct batch *b, char *s)
{
	if (!s)
		return C360_ERR_NOMEM;
	if (b->nvals == b->capvals) {
		size_t nc = b->capvals ? b->capvals * 2 : 256;
		char **v = realloc(b->vals, nc * sizeof *v);
		if (!v) {
			free(s);
			return C360_ERR_NOMEM;
		}
		b->vals = v;
		b->capvals = nc;
	}
	b->vals[b->nvals++] = s;
	return C360_OK;
}

static struct c360_write *add_op(struct batch *b, struct item *it)
{
	if (b->n == b->cap) {
		size_t nc = b->cap ? b->cap * 2 : 256;
		struct c360_write *o = realloc(b->ops, nc * sizeof *o);
		if (!o)
			return NULL;
		b->ops = o;
		struct item **w = realloc(b->owner, nc * sizeof *w);
		if (!w)
			return NULL;
		b->owner = w;
		b->cap = nc;
	}
	struct c360_write *op = &b->ops[b->n];
	memset(op, 0, sizeof *op);
	b->owner[b->n++] = it;
	return op;
}

static void batch_clear(struct batch *b)
{
	for (size_t i = 0; i < b->nvals; i++)
		free(b->vals[i]);
	b->n = b->nvals = 0;
}

static c360_rc put_op(struct batch *b, struct item *it, enum c360_write_type type,
		      const char *bucket, char *key, char *value, uint64_t cas)
{
	c360_rc rc = own(b, key);
	if (!rc)
		rc = own(b, value);
	if (rc)
		return rc;
	struct c360_write *op = add_op(b, it);
	if (!op)
		return C360_ERR_NOMEM;
	op->type = type;
	op->bucket = bucket;
	op->key = key;
	op->key_len = strlen(key);
	op->value = value;
	op->value_len = value ? strlen(value) : 0;
	op->cas = cas;
	op->flags = C360_WRITE_TRUSTED_JSON;
	return C360_OK;
}

static char *dupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *dupf(const char *fmt, ...)
{
	char small[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	if ((size_t)n < sizeof small)
		return strdup(small);
	char *out = malloc((size_t)n + 1);
	if (!out)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(out, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return out;
}

/* Prepares the customer360 op for it: xref merged into the current
 * document (or a new document). Adds nothing when the xref is already there.
 * *kind: 0 unchanged, 1 created, 2 updated. */
static c360_rc merge_customer(struct run *r, struct batch *b, struct item *it,
			      const struct prefetch *pf, int *kind)
{
	*kind = 0;
	c360_json_doc *cur = NULL;
	struct c360_doc d = {0};
	c360_rc rc = C360_OK;
	const c360_json *det = c360_json_doc_root(it->dd);
	size_t klen = strlen(it->email);
	const struct c360_doc *pd;
	bool exists;
	if (pf_get(pf, it->email, &pd)) {
		exists = pd != NULL;
		if (exists) {
			d.cas = pd->cas;
			if ((rc = c360_json_parse(pd->value, pd->value_len, NULL, &cur, NULL)))
				goto out;
		}
	} else {
		rc = c360_store_get(r->st, r->o->bucket, it->email, klen, &d);
		exists = rc == C360_OK;
		if (rc && rc != C360_ERR_NOT_FOUND)
			goto out;
		rc = C360_OK;
		if (exists && (rc = c360_json_parse(d.value, d.value_len, NULL, &cur, NULL)))
			goto out;
	}
	if (!exists) {
		if (!(cur = c360_json_doc_new())) {
			rc = C360_ERR_NOMEM;
			goto out;
		}
		c360_json *root = c360_json_new_object(cur);
		c360_json *profile = c360_json_new_object(cur);
		const char *name = c360_json_str(c360_json_get(det, "Name"), NULL);
		if (!root || !profile) {
			rc = C360_ERR_NOMEM;
			goto out;
		}
		c360_json_doc_set_root(cur, root);
		c360_json_set(cur, root, "type", 4, c360_json_new_str(cur, "user", 4));
		if (name)
			c360_json_set(cur, profile, "name", 4, c360_json_new_str(cur, name, strlen(name)));
		c360_json_set(cur, root, "profile", 7, profile);
	}
	c360_json *root = c360_json_doc_root(cur);
	if (!c360_json_is_object(root)) {
		C360_WARN(WHO, "customer document '%s' is not an object: left unchanged", it->email);
		rc = C360_ERR_INVALID;
		goto out;
	}
	c360_json *xrefs = c360_json_get(root, "xrefs");
	if (!c360_json_is_array(xrefs)) {
		xrefs = c360_json_new_array(cur);
		if (!xrefs || (rc = c360_json_set(cur, root, "xrefs", 5, xrefs)))
			goto out_nomem;
	}
	c360_json *x = c360_json_new_object(cur);
	c360_json *idv = c360_json_copy(cur, c360_json_get(det, "Id"));
	c360_json *pass = c360_json_get(det, "Password");
	c360_json *passv = pass ? c360_json_copy(cur, pass) : c360_json_new_null(cur);
	if (!x || !idv || !passv)
		goto out_nomem;
	c360_json_set(cur, x, "external_system", 15, c360_json_new_str(cur, "online_store", 12));
	c360_json_set(cur, x, "external_ID", 11, idv);
	c360_json_set(cur, x, "pass", 4, passv);
	size_t i = 0, at = (size_t)-1;
	for (c360_json *e = c360_json_first(xrefs); e; e = c360_json_next(e), i++) {
		const char *sys = c360_json_str(c360_json_get(e, "external_system"), NULL);
		if (sys && !strcmp(sys, "online_store")) {
			at = i;
			break;
		}
	}
	if (at != (size_t)-1) {
		if (c360_json_equal(c360_json_at(xrefs, at), x))
			goto out; /* nothing new */
		c360_json_remove_at(xrefs, at);
		rc = c360_json_insert(cur, xrefs, at, x);
	} else {
		rc = c360_json_append(cur, xrefs, x);
	}
	if (rc)
		goto out;
	char *text = c360_json_write_str(root, C360_JSON_COMPACT, NULL);
	rc = put_op(b, it, exists ? C360_WRITE_REPLACE : C360_WRITE_INSERT, r->o->bucket,
		    strdup(it->email), text, exists ? d.cas : 0);
	if (!rc) {
		b->ops[b->n - 1].flags |= C360_WRITE_KEEP_EXPIRY;
		*kind = exists ? 2 : 1;
	}
	goto out;
out_nomem:
	rc = C360_ERR_NOMEM;
out:
	c360_doc_release(&d);
	c360_json_doc_free(cur);
	return rc;
}

/* Adds an upsert of key unless the stored document (prefetched, else read
 * now) already equals v: the same text (what a pass wrote before) or,
 * failing that, the same JSON. */
static c360_rc upsert_if_changed(struct run *r, struct batch *b, struct item *it,
				 const char *bucket, char *key, const c360_json *v,
				 const struct prefetch *pf, bool *written)
{
	*written = false;
	size_t tlen = 0;
	char *text = key ? c360_json_write_str(v, C360_JSON_COMPACT, &tlen) : NULL;
	if (!text) {
		free(key);
		return C360_ERR_NOMEM;
	}
	struct c360_doc d = {0};
	const struct c360_doc *cur = NULL;
	c360_rc rc = C360_OK;
	if (!pf_get(pf, key, &cur)) {
		rc = c360_store_get(r->st, bucket, key, strlen(key), &d);
		if (rc == C360_OK)
			cur = &d;
		else if (rc == C360_ERR_NOT_FOUND)
			rc = C360_OK;
	}
	bool same = false;
	if (cur) {
		same = cur->value_len == tlen && !memcmp(cur->value, text, tlen);
		if (!same) {
			c360_json_doc *old = NULL;
			same = !c360_json_parse(cur->value, cur->value_len, NULL, &old, NULL) &&
			       c360_json_equal(c360_json_doc_root(old), v);
			c360_json_doc_free(old);
		}
	}
	c360_doc_release(&d);
	if (rc || same) {
		free(key);
		free(text);
		return rc;
	}
	rc = put_op(b, it, C360_WRITE_UPSERT, bucket, key, text, 0);
	*written = !rc;
	return rc;
}

static c360_rc state_op(struct run *r, struct batch *b, struct item *it)
{
	char *key = it->kind == IT_PRODUCT ? dupf("poll::product::%s", it->id)
					   : dupf("poll::%s", it->email);
	if (!key)
		return C360_ERR_NOMEM;
	if (strlen(key) > C360_KEY_MAX) {
		free(key); /* too long to keep state: polled every pass */
		return C360_OK;
	}
	char *val;
	if (it->kind == IT_PRODUCT)
		val = dupf("{\"polled_at\":%" PRId64 "}", r->now);
	else if (it->kind == IT_NOT_FOUND)
		val = dupf("{\"polled_at\":%" PRId64 ",\"seqno\":%" PRIu64
			   ",\"status\":\"not found\"}", r->now, it->seqno);
	else {
		/* the Id as the store gave it: a number stays a number */
		char *id = c360_json_write_str(c360_json_get(c360_json_doc_root(it->dd), "Id"),
					       C360_JSON_COMPACT, NULL);
		val = id ? dupf("{\"polled_at\":%" PRId64 ",\"seqno\":%" PRIu64
				",\"status\":\"ok\",\"external_ID\":%s}",
				r->now, it->seqno, id)
			 : NULL;
		free(id);
	}
	return put_op(b, it, C360_WRITE_UPSERT, C360_META_BUCKET, key, val, 0);
}

static void count(struct run *r, uint64_t *field, uint64_t n)
{
	pthread_mutex_lock(&r->mu);
	*field += n;
	pthread_mutex_unlock(&r->mu);
}

static void prepare(struct run *r, struct batch *b, struct item *it, const struct prefetch *pf)
{
	c360_rc rc = C360_OK;
	if (it->kind == IT_CUSTOMER) {
		int kind;
		if (!it->od || !it->dd) {
			count(r, &r->stats.write_errors, 1);
			return;
		}
		rc = merge_customer(r, b, it, pf, &kind);
		if (rc) {
			count(r, &r->stats.write_errors, 1);
			C360_WARN(WHO, "cannot merge customer '%s': %s", it->email, c360_rc_str(rc));
			return; /* no orders and no state: polled again next pass */
		}
		uint64_t n = 0;
		for (c360_json *o = c360_json_first(c360_json_doc_root(it->od)); o && !rc;
		     o = c360_json_next(o)) {
			const char *oid = "";
			size_t oidlen = 0; /* the poller checked every OrderId */
			c360_poll_id(c360_json_get(o, "OrderId"), &oid, &oidlen);
			bool w;
			rc = upsert_if_changed(r, b, it, r->o->bucket,
					       dupf("order::%.*s", (int)oidlen, oid), o, pf, &w);
			n += w;
		}
		count(r, &r->stats.orders, n);
	} else if (it->kind == IT_PRODUCT) {
		bool w;
		rc = upsert_if_changed(r, b, it, r->o->bucket, dupf("product::%s", it->id),
				       c360_json_doc_root(it->dd), NULL, &w);
		if (w)
			count(r, &r->stats.products, 1);
	}
	if (!rc)
		rc = state_op(r, b, it);
	if (rc) {
		count(r, &r->stats.write_errors, 1);
		C360_WARN(WHO, "cannot prepare the writes of '%s': %s",
			  it->email ? it->email : "product", c360_rc_str(rc));
	}
}

/* Groups ops by (bucket, type): the store prepares one statement per run of
 * equal ops, and the ops of a batch are independent (distinct keys). */
static int op_cmp(const void *a, const void *b)
{
	const struct c360_write *x = *(struct c360_write *const *)a;
	const struct c360_write *y = *(struct c360_write *const *)b;
	int c = strcmp(x->bucket, y->bucket);
	if (c)
		return c;
	if (x->type != y->type)
		return (int)x->type - (int)y->type;
	return x < y ? -1 : x > y; /* stable */
}

static void sort_ops(struct batch *b)
{
	struct c360_write **idx = malloc(b->n * sizeof *idx);
	struct c360_write *ops = malloc(b->n * sizeof *ops);
	struct item **owner = malloc(b->n * sizeof *owner);
	if (!idx || !ops || !owner)
		goto out; /* unsorted is only slower */
	for (size_t i = 0; i < b->n; i++)
		idx[i] = &b->ops[i];
	qsort(idx, b->n, sizeof *idx, op_cmp);
	for (size_t i = 0; i < b->n; i++) {
		ops[i] = *idx[i];
		owner[i] = b->owner[idx[i] - b->ops];
	}
	memcpy(b->ops, ops, b->n * sizeof *ops);
	memcpy(b->owner, owner, b->n * sizeof *owner);
out:
	free(idx);
	free(ops);
	free(owner);
}

static void write_batch(struct run *r, struct batch *b)
{
	if (!b->n)
		return;
	sort_ops(b);
	c360_rc rc = c360_store_write(r->st, b->ops, b->n);
	if (rc) {
		C360_ERROR(WHO, "cannot write %zu documents: %s", b->n, c360_rc_str(rc));
		count(r, &r->stats.write_errors, b->n);
		return;
	}
	uint64_t created = 0, updated = 0, errors = 0;
	for (size_t i = 0; i < b->n; i++) {
		struct c360_write *op = &b->ops[i];
		bool customer = op->type == C360_WRITE_INSERT || op->type == C360_WRITE_REPLACE;
		if (op->rc == C360_OK) {
			if (op->type == C360_WRITE_INSERT)
				created++;
			else if (op->type == C360_WRITE_REPLACE)
				updated++;
			continue;
		}
		if (customer && (op->rc == C360_ERR_CAS || op->rc == C360_ERR_EXISTS ||
				 op->rc == C360_ERR_NOT_FOUND)) {
			/* changed under us: merge again, alone, a few times */
			struct item *it = b->owner[i];
			c360_rc rc2 = op->rc;
			for (int t = 0; t < 5 && rc2; t++) {
				struct batch one = {0};
				int kind = 0;
				rc2 = merge_customer(r, &one, it, NULL, &kind);
				if (!rc2 && one.n) {
					rc2 = c360_store_write(r->st, one.ops, 1);
					if (!rc2)
						rc2 = one.ops[0].rc;
					if (!rc2)
						kind == 1 ? created++ : updated++;
				}
				batch_clear(&one);
				free(one.ops);
				free(one.owner);
				free(one.vals);
			}
			if (!rc2)
				continue;
		}
		errors++;
		C360_WARN(WHO, "cannot write '%.*s' to '%s': %s", (int)op->key_len, op->key,
			  op->bucket, c360_rc_str(op->rc));
	}
	pthread_mutex_lock(&r->mu);
	r->stats.created += created;
	r->stats.updated += updated;
	r->stats.write_errors += errors;
	pthread_mutex_unlock(&r->mu);
}

/* Reads the customers and orders of the batch in one read transaction. On
 * any failure pf stays empty (per-key reads). */
struct keylist {
	char **keys;
	size_t *lens;
	size_t n, cap;
};

static bool keylist_add(struct keylist *l, char *key)
{
	if (key && l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 1024;
		char **nk = realloc(l->keys, nc * sizeof *nk);
		if (nk)
			l->keys = nk;
		size_t *nl = nk ? realloc(l->lens, nc * sizeof *nl) : NULL;
		if (nl) {
			l->lens = nl;
			l->cap = nc;
		}
	}
	if (!key || l->n == l->cap) {
		free(key);
		return false;
	}
	l->keys[l->n] = key;
	l->lens[l->n++] = strlen(key);
	return true;
}

static void prefetch(struct run *r, struct item *list, struct prefetch *pf)
{
	memset(pf, 0, sizeof *pf);
	struct keylist kl = {0};
	bool fail = false;
	for (struct item *it = list; it && !fail; it = it->next) {
		if (it->kind != IT_CUSTOMER || !it->od)
			continue;
		fail = !keylist_add(&kl, strdup(it->email));
		for (c360_json *o = c360_json_first(c360_json_doc_root(it->od)); o && !fail;
		     o = c360_json_next(o)) {
			const char *oid = "";
			size_t oidlen = 0;
			c360_poll_id(c360_json_get(o, "OrderId"), &oid, &oidlen);
			fail = !keylist_add(&kl, dupf("order::%.*s", (int)oidlen, oid));
		}
	}
	char **keys = kl.keys;
	size_t *lens = kl.lens, n = kl.n;
	if (!fail && n) {
		pf->docs = calloc(n, sizeof *pf->docs);
		pf->rcs = calloc(n, sizeof *pf->rcs);
		if (pf->docs && pf->rcs &&
		    !c360_store_get_many(r->st, r->o->bucket, (const char *const *)keys, lens, n,
					 pf->docs, pf->rcs)) {
			pf->n = n;
			pf->ok = true;
			for (size_t i = 0; i < n && pf->ok; i++)
				if ((pf->rcs[i] && pf->rcs[i] != C360_ERR_NOT_FOUND) ||
				    smap_put(&pf->idx, keys[i], i + 1))
					pf->ok = false; /* a failed read: read those keys again */
		} else {
			pf->n = pf->docs ? n : 0;
		}
		if (!pf->ok)
			pf_free(pf);
	}
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
	free(lens);
}

static void *writer_main(void *arg)
{
	struct run *r = arg;
	struct batch b = {0};
	double t_prep = 0, t_write = 0;
	uint64_t nbatches = 0;
	for (;;) {
		pthread_mutex_lock(&r->mu);
		while (!r->head && !r->closing)
			pthread_cond_wait(&r->cv_items, &r->mu);
		if (!r->head && r->closing) {
			pthread_mutex_unlock(&r->mu);
			break;
		}
		/* fuller batches: one prefetch query and one commit carry more
		 * customers (the poller threads keep answering meanwhile) */
		if (r->nitems < BATCH_MIN && !r->closing) {
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += LINGER_MS / 1000;
			until.tv_nsec += LINGER_MS % 1000 * 1000000L;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			while (r->head && r->nitems < BATCH_MIN && !r->closing)
				if (pthread_cond_timedwait(&r->cv_items, &r->mu, &until))
					break;
			if (!r->head) { /* another writer took them */
				pthread_mutex_unlock(&r->mu);
				continue;
			}
		}
		struct item *list = r->head, *last = list;
		size_t n = 1;
		while (last->next && n < BATCH) {
			last = last->next;
			n++;
		}
		r->head = last->next;
		if (!r->head)
			r->tail = NULL;
		last->next = NULL;
		r->nitems -= n;
		r->writing = true;
		pthread_cond_broadcast(&r->cv_space);
		pthread_mutex_unlock(&r->mu);

		double t0 = mono();
		struct prefetch pf;
		prefetch(r, list, &pf);
		for (struct item *it = list; it; it = it->next)
			prepare(r, &b, it, &pf);
		pf_free(&pf);
		double t1 = mono();
		write_batch(r, &b);
		t_prep += t1 - t0;
		t_write += mono() - t1;
		nbatches++;
		batch_clear(&b);
		for (struct item *it = list, *nx; it; it = nx) {
			nx = it->next;
			item_free(it);
		}
		pthread_mutex_lock(&r->mu);
		r->writing = false;
		pthread_cond_broadcast(&r->cv_space);
		pthread_mutex_unlock(&r->mu);
	}
	C360_DEBUG(WHO, "writer: %" PRIu64 " batches, %.3f s reading and merging, %.3f s writing",
		   nbatches, t_prep, t_write);
	free(b.ops);
	free(b.owner);
	free(b.vals);
	return NULL;
}

/* ---- the polling side ---- */

/* True when the product id is new this pass (false when seen, or out of
 * memory: then it is not fetched, as a failed fetch). Call with r->mu held. */
static bool product_new(struct run *r, const char *id)
{
	uint64_t v;
	if (smap_get(&r->products, id, &v))
		return false;
	if (smap_put(&r->products, id, 1)) {
		C360_WARN(WHO, "product '%s' not fetched: out of memory", id);
		return false;
	}
	return true;
}

/* The poll state of key says "fresh enough"? seqno: current staging seqno. */
static bool fresh(struct run *r, const char *key, uint64_t seqno, bool product)
{
	if (r->o->force || strlen(key) > C360_KEY_MAX)
		return false;
	struct c360_doc d = {0};
	if (c360_store_get(r->st, C360_META_BUCKET, key, strlen(key), &d))
		return false;
	c360_json_doc *doc = NULL;
	bool res = false;
	if (!c360_json_parse(d.value, d.value_len, NULL, &doc, NULL)) {
		c360_json *root = c360_json_doc_root(doc);
		int64_t at = 0, s = 0;
		if (c360_json_int64(c360_json_get(root, "polled_at"), &at)) {
			int64_t age = r->now - at;
			c360_json_int64(c360_json_get(root, "seqno"), &s);
			if (age < r->o->min_interval_s)
				res = true;
			else if (age >= r->o->max_age_s)
				res = false;
			else
				res = product || (uint64_t)s == seqno;
		}
	}
	c360_json_doc_free(doc);
	c360_doc_release(&d);
	return res;
}

static void on_product(const struct c360_poll_result *res, void *ctx)
{
	struct run *r = ctx;
	pthread_mutex_lock(&r->mu);
	r->stats.by_status[res->status]++; /* failed counts customers only */
	pthread_mutex_unlock(&r->mu);
	if (res->status != C360_POLL_OK)
		return;
	struct item *it = calloc(1, sizeof *it);
	if (!it)
		return;
	it->kind = IT_PRODUCT;
	it->id = strdup(res->product_id);
	c360_poll_result_take(res, &it->dd, NULL);
	if (!it->dd || !it->id) {
		item_free(it);
		return;
	}
	enqueue(r, it);
}

struct worker {
	struct run *r;
	c360_poller *p;
	int index;
};

static void want_product(struct worker *w, const char *pid, size_t len)
{
	char key[C360_POLL_ID_MAX + 32];
	snprintf(key, sizeof key, "poll::product::%.*s", (int)len, pid);
	if (!fresh(w->r, key, 0, true))
		c360_poller_product(w->p, pid, len, on_product, w->r);
}

/* Fetches the products of orders not seen yet this pass (the set is
 * checked under one lock per customer). An item without a usable ProductId
 * is counted and logged; its order is written as the store gave it. */
static void want_products(struct worker *w, const c360_json *orders)
{
	struct run *r = w->r;
	struct {
		const char *id;
		size_t len;
	} fresh_ids[64];
	size_t n = 0;
	bool locked = false;
	char id[C360_POLL_ID_MAX + 1];
	for (c360_json *o = c360_json_first(orders); o; o = c360_json_next(o))
		for (c360_json *i = c360_json_first(c360_json_get(o, "Items")); i;
		     i = c360_json_next(i)) {
			const char *pid;
			size_t plen;
			if (!c360_poll_id(c360_json_get(i, "ProductId"), &pid, &plen)) {
				if (!locked) {
					pthread_mutex_lock(&r->mu);
					locked = true;
				}
				if (!r->stats.bad_product_ids++)
					C360_WARN(WHO, "an order item has no \"ProductId\" (a string or "
						       "number of 1..%d bytes): its product is not "
						       "fetched (counted in bad_product_ids)",
						  C360_POLL_ID_MAX);
				continue;
			}
			memcpy(id, pid, plen);
			id[plen] = '\0';
			if (!locked) {
				pthread_mutex_lock(&r->mu);
				locked = true;
			}
			if (!product_new(r, id))
				continue;
			if (n < sizeof fresh_ids / sizeof *fresh_ids) {
				fresh_ids[n].id = pid;
				fresh_ids[n++].len = plen;
				continue;
			}
			pthread_mutex_unlock(&r->mu); /* many new products: one at a time */
			locked = false;
			want_product(w, pid, plen);
		}
	if (locked)
		pthread_mutex_unlock(&r->mu);
	for (size_t k = 0; k < n; k++)
		want_product(w, fresh_ids[k].id, fresh_ids[k].len);
}

struct cust_ctx {
	struct worker *w;
	uint64_t seqno;
};

/* Call with r->mu held. */
static void count_customer(struct run *r, const struct cust_count *c)
{
	r->stats.by_status[c->status]++;
	if (c->status == C360_POLL_OK)
		r->stats.polled++;
	else if (c->status == C360_POLL_NOT_FOUND)
		r->stats.not_found++;
	else
		r->stats.failed++;
}

static void on_customer(const struct c360_poll_result *res, void *ctx)
{
	struct cust_ctx *cc = ctx;
	struct worker *w = cc->w;
	struct run *r = w->r;
	uint64_t seqno = cc->seqno;
	free(cc);
	struct item *it = NULL;
	if (res->status == C360_POLL_OK || res->status == C360_POLL_NOT_FOUND) {
		it = calloc(1, sizeof *it);
		if (it && !(it->email = strdup(res->email))) {
			free(it);
			it = NULL;
		}
	}
	/* counted under the queue's lock when it goes to the writers */
	struct cust_count cnt = {.status = res->status};
	if (!it) {
		pthread_mutex_lock(&r->mu);
		count_customer(r, &cnt);
		pthread_mutex_unlock(&r->mu);
		return; /* failed: documents unchanged; the next pass tries again */
	}
	it->seqno = seqno;
	if (res->status == C360_POLL_NOT_FOUND) {
		it->kind = IT_NOT_FOUND;
	} else {
		it->kind = IT_CUSTOMER;
		want_products(w, res->orders);
		c360_poll_result_take(res, &it->dd, &it->od);
		if (!it->dd || !it->od) {
			item_free(it);
			pthread_mutex_lock(&r->mu);
			count_customer(r, &cnt);
			pthread_mutex_unlock(&r->mu);
			return;
		}
	}
	enqueue_locked(r, it, &cnt);
}

/* The poller threads' HTTP counters, added up. Call with r->mu held. */
static void sum_http(const struct run *r, struct c360_poller_stats *t)
{
	memset(t, 0, sizeof *t);
	for (int i = 0; i < POLLERS; i++) {
		const struct c360_poller_stats *h = &r->http[i];
		t->requests += h->requests;
		t->retries += h->retries;
		t->jobs += h->jobs;
		for (int k = 0; k < C360_POLL_STATUS_COUNT; k++)
			t->by_status[k] += h->by_status[k];
		t->http_5xx += h->http_5xx;
		t->http_429 += h->http_429;
		t->timeouts += h->timeouts;
		t->network += h->network;
		t->budget_refused += h->budget_refused;
		t->breaker_opened += h->breaker_opened;
		t->breaker_closed += h->breaker_closed;
		t->bytes += h->bytes;
	}
}

static void progress(struct run *r, struct timespec *last, bool force)
{
	if (!r->o->progress)
		return;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	double dt = (double)(now.tv_sec - last->tv_sec) + (double)(now.tv_nsec - last->tv_nsec) / 1e9;
	if (!force && dt < 0.2)
		return;
	*last = now;
	struct c360_pollrun_stats s;
	pthread_mutex_lock(&r->mu);
	s = r->stats;
	sum_http(r, &s.http);
	pthread_mutex_unlock(&r->mu);
	r->o->progress(&s, r->o->progress_ctx);
}

static void publish_http(struct worker *w)
{
	struct c360_poller_stats st;
	c360_poller_stats(w->p, &st);
	pthread_mutex_lock(&w->r->mu);
	w->r->http[w->index] = st;
	pthread_mutex_unlock(&w->r->mu);
}

/* Drives the worker's poller until at most `keep` jobs remain. */
static c360_rc drain(struct worker *w, size_t keep)
{
	while (c360_poller_pending(w->p) > keep) {
		c360_rc rc = c360_poller_run(w->p, 200);
		if (rc && rc != C360_ERR_TIMEOUT)
			return rc;
		publish_http(w);
	}
	return C360_OK;
}

/* Submits one candidate unless the refresh policy or --limit says no. */
static c360_rc submit_one(struct worker *w, const char *email, uint64_t seqno)
{
	struct run *r = w->r;
	char key[C360_KEY_MAX + 16];
	snprintf(key, sizeof key, "poll::%s", email);
	if (fresh(r, key, seqno, false)) {
		pthread_mutex_lock(&r->mu);
		r->stats.skipped++;
		pthread_mutex_unlock(&r->mu);
		return C360_OK;
	}
	if (r->o->limit) {
		pthread_mutex_lock(&r->mu);
		bool over = r->submitted >= r->o->limit;
		if (!over)
			r->submitted++;
		pthread_mutex_unlock(&r->mu);
		if (over)
			return C360_OK;
	}
	struct cust_ctx *cc = malloc(sizeof *cc);
	if (!cc)
		return C360_ERR_NOMEM;
	cc->w = w;
	cc->seqno = seqno;
	c360_rc rc = c360_poller_customer(w->p, email, on_customer, cc);
	if (rc) {
		free(cc);
		if (rc != C360_ERR_INVALID)
			return rc;
		C360_WARN(WHO, "cannot poll email '%.100s': %s", email, c360_rc_str(rc));
		pthread_mutex_lock(&r->mu);
		r->stats.failed++; /* empty or absurdly long email */
		pthread_mutex_unlock(&r->mu);
	}
	return C360_OK;
}

/* A poller thread: takes candidates in chunks while the enumeration runs. */
static void *poller_main(void *arg)
{
	struct worker *w = arg;
	struct run *r = w->r;
	c360_rc rc = C360_OK;
	struct cand chunk[64];
	while (!rc) {
		pthread_mutex_lock(&r->mu);
		while (r->next_cand >= r->ncands && !r->enum_done && !rc) {
			if (c360_poller_pending(w->p)) {
				/* no candidates yet (the next page is being read): keep
				 * the transfers going meanwhile */
				pthread_mutex_unlock(&r->mu);
				rc = c360_poller_run(w->p, 5);
				if (rc == C360_ERR_TIMEOUT)
					rc = C360_OK;
				publish_http(w);
				pthread_mutex_lock(&r->mu);
				continue;
			}
			r->cand_waiters++;
			pthread_cond_wait(&r->cv_cands, &r->mu);
			r->cand_waiters--;
		}
		if (rc) {
			pthread_mutex_unlock(&r->mu);
			break;
		}
		size_t from = r->next_cand, to = from + 64 < r->ncands ? from + 64 : r->ncands;
		r->next_cand = to;
		bool end = from == to && r->enum_done;
		/* the array may move once unlocked: copy the chunk */
		for (size_t i = from; i < to; i++) {
			chunk[i - from] = r->cands[i];
			r->cands[i].email = NULL;
		}
		pthread_mutex_unlock(&r->mu);
		if (end)
			break;
		for (size_t i = 0; i < to - from; i++) {
			if (!rc)
				rc = submit_one(w, chunk[i].email, chunk[i].seqno);
			free(chunk[i].email);
		}
		if (!rc && c360_poller_pending(w->p) >= MAX_QUEUED / POLLERS)
			rc = drain(w, MAX_QUEUED / POLLERS / 2);
	}
	if (!rc)
		rc = drain(w, 0);
	publish_http(w);
	if (rc) {
		pthread_mutex_lock(&r->mu);
		r->poll_rc = rc;
		r->enum_done = true; /* stop the others too */
		r->next_cand = r->ncands;
		pthread_cond_broadcast(&r->cv_cands);
		pthread_mutex_unlock(&r->mu);
	}
	return NULL;
}

static void sql_quote(struct c360_buf *b, const char *s)
{
	c360_buf_putc(b, '\'');
	for (; *s; s++) {
		if (*s == '\'')
			c360_buf_putc(b, '\'');
		c360_buf_putc(b, *s);
	}
	c360_buf_putc(b, '\'');
}

/* Runs a paged query; for each row calls fn(row array). The SQL has "%s" for
 * the quoted last key; rows come ordered by their first column. fast is the
 * query without json_valid() guards (each guard decompresses and parses
 * every document once more): it fails on a malformed document, and from
 * that page on the guarded query (safe) runs instead. */
static c360_rc paged(struct run *r, const char *fast, const char *safe,
		     c360_rc (*fn)(struct run *, c360_json *row), char *err, size_t errlen)
{
	char *last = strdup("");
	c360_rc rc = last ? C360_OK : C360_ERR_NOMEM;
	while (!rc) {
		struct c360_buf q, out;
		c360_buf_init(&q, 1 << 16);
		c360_buf_init(&out, 256u << 20);
		sql_quote(&q, last);
		struct c360_query_opts qo = {.max_rows = PAGE, .timeout_ms = 600000};
		double tq = mono();
		char *sql = dupf(fast ? fast : safe, c360_buf_cstr(&q), PAGE);
		rc = sql ? c360_store_query(r->st, sql, &qo, &out, err, errlen) : C360_ERR_NOMEM;
		if (rc && rc != C360_ERR_NOMEM && fast) {
			C360_DEBUG(WHO, "unguarded page query failed (%s): guarded from now on", err);
			fast = NULL;
			c360_buf_reset(&out);
			err[0] = '\0';
			free(sql);
			sql = dupf(safe, c360_buf_cstr(&q), PAGE);
			rc = sql ? c360_store_query(r->st, sql, &qo, &out, err, errlen) : C360_ERR_NOMEM;
		}
		C360_DEBUG(WHO, "query page after '%s': %.3f s", last, mono() - tq);
		free(sql);
		c360_buf_release(&q);
		c360_json_doc *doc = NULL;
		if (!rc && (rc = c360_json_parse(out.data, out.len, NULL, &doc, NULL)))
			snprintf(err, errlen, "cannot read the query result: %s", c360_rc_str(rc));
		c360_buf_release(&out);
		if (rc)
			break;
		c360_json *rows = c360_json_get(c360_json_doc_root(doc), "rows");
		size_t n = c360_json_len(rows);
		for (c360_json *row = c360_json_first(rows); row && !rc; row = c360_json_next(row)) {
			rc = fn(r, row);
			const char *k = c360_json_str(c360_json_at(row, 0), NULL);
			if (k) {
				free(last);
				if (!(last = strdup(k)))
					rc = C360_ERR_NOMEM;
			}
		}
		c360_json_doc_free(doc);
		if (n < PAGE)
			break;
	}
	free(last);
	return rc;
}

static c360_rc staging_row(struct run *r, c360_json *row)
{
	const char *e = c360_json_str(c360_json_at(row, 0), NULL);
	int64_t s = 0;
	c360_json_int64(c360_json_at(row, 1), &s);
	return e && *e ? smap_put(&r->staging, e, (uint64_t)s) : C360_OK;
}

/* Adds a candidate for the poller threads. */
static c360_rc poll_one(struct run *r, const char *email, uint64_t seqno)
{
	char *e = strdup(email);
	if (!e)
		return C360_ERR_NOMEM;
	pthread_mutex_lock(&r->mu);
	c360_rc rc = r->poll_rc;
	if (!rc && r->ncands == r->capcands) {
		size_t nc = r->capcands ? r->capcands * 2 : 4096;
		struct cand *n = realloc(r->cands, nc * sizeof *n);
		if (n) {
			r->cands = n;
			r->capcands = nc;
		} else {
			rc = C360_ERR_NOMEM;
		}
	}
	if (!rc) {
		r->cands[r->ncands++] = (struct cand){e, seqno};
		r->stats.candidates++;
		e = NULL;
		if (r->cand_waiters) /* no wake-up call per candidate */
			pthread_cond_broadcast(&r->cv_cands);
	}
	pthread_mutex_unlock(&r->mu);
	free(e);
	progress(r, &r->last, false);
	return rc;
}

static c360_rc customer_row(struct run *r, c360_json *row)
{
	const char *key = c360_json_str(c360_json_at(row, 0), NULL);
	if (!key)
		return C360_OK;
	char norm[C360_KEY_MAX + 1];
	size_t n = 0;
	for (const char *s = key; *s && n < C360_KEY_MAX; s++)
		norm[n++] = (char)(*s >= 'A' && *s <= 'Z' ? *s + 32 : *s);
	norm[n] = '\0';
	uint64_t seqno = 0;
	smap_get(&r->staging, norm, &seqno);
	return poll_one(r, key, seqno);
}

static c360_rc staging_candidate(struct run *r, c360_json *row)
{
	const char *e = c360_json_str(c360_json_at(row, 0), NULL);
	int64_t s = 0;
	c360_json_int64(c360_json_at(row, 1), &s);
	return e && *e ? poll_one(r, e, (uint64_t)s) : C360_OK;
}

static bool bucket_exists(c360_store *st, const char *name)
{
	struct c360_bucket_info bi;
	return c360_store_bucket_info(st, name, &bi) == C360_OK;
}

#define STAGING_SQL(guard)                                                                   \
	"SELECT e, max(seqno) FROM (SELECT lower(trim(coalesce("                              \
	"json_extract(doc, '$.payload.after.email'), json_extract(doc, '$.after.email'), "   \
	"json_extract(doc, '$.email')))) AS e, "                                            \
	"seqno FROM \"%s\"" guard ") WHERE e IS NOT NULL AND e <> '' AND e > %%s "            \
	"GROUP BY e ORDER BY e LIMIT %%d"
/* The poll's own order:: and product:: documents (not emails: an email has
 * no "::" outside quotes) are skipped by key, before their value is
 * decompressed and parsed. */
#define CUSTOMERS_SQL(guard)                                                                 \
	"SELECT key FROM \"%s\" WHERE key > %%s AND key NOT GLOB 'order::*' AND "               \
	"key NOT GLOB 'product::*' AND " guard                                                  \
	"json_extract(doc, '$.type') = 'user' ORDER BY key LIMIT %%d"

c360_rc c360_pollrun(c360_store *st, const struct c360_pollrun_opts *o,
		     struct c360_pollrun_stats *stats, char *err, size_t errlen)
{
	memset(stats, 0, sizeof *stats);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct run r = {0};
	r.st = st;
	r.o = o;
	r.now = (int64_t)time(NULL);
	r.last = t0;
	pthread_mutex_init(&r.mu, NULL);
	pthread_cond_init(&r.cv_items, NULL);
	pthread_cond_init(&r.cv_space, NULL);
	pthread_cond_init(&r.cv_cands, NULL);
	int nwriters = 0, npollers = 0;
	pthread_t wt[WRITERS], pt[POLLERS];
	struct worker workers[POLLERS];
	memset(workers, 0, sizeof workers);
	c360_rc rc;
	const char *sbucket = o->emails_from ? o->emails_from : (o->staging ? o->staging : "staging");
	if (o->emails_from && !bucket_exists(st, o->emails_from)) {
		snprintf(err, errlen, "bucket '%s' does not exist", o->emails_from);
		rc = C360_ERR_NOT_FOUND;
		goto out;
	}
	/* the poller threads share the concurrency and the rate */
	int np = o->poller.concurrency >= POLLERS ? POLLERS : 1;
	struct c360_poller_opts po = o->poller;
	po.concurrency = (o->poller.concurrency + np - 1) / np;
	po.rate = o->poller.rate / np;
	for (int i = 0; i < np; i++) {
		workers[i].r = &r;
		workers[i].index = i;
		if ((rc = c360_poller_new(&po, &workers[i].p, err, errlen)))
			goto out;
	}
	if ((rc = c360_store_bucket_ensure(st, o->bucket, 0)) ||
	    (rc = c360_store_bucket_ensure(st, C360_META_BUCKET, 0))) {
		snprintf(err, errlen, "cannot create bucket '%s': %s", o->bucket, c360_rc_str(rc));
		goto out;
	}
	for (; nwriters < WRITERS; nwriters++)
		if (pthread_create(&wt[nwriters], NULL, writer_main, &r)) {
			rc = C360_ERR_NOMEM;
			snprintf(err, errlen, "cannot start the writer threads");
			goto out;
		}
	for (; npollers < np; npollers++)
		if (pthread_create(&pt[npollers], NULL, poller_main, &workers[npollers])) {
			rc = C360_ERR_NOMEM;
			snprintf(err, errlen, "cannot start the poller threads");
			goto out;
		}
	char fast[1024], safe[1024];
	if (o->emails_from || bucket_exists(st, sbucket)) {
		snprintf(fast, sizeof fast, STAGING_SQL(""), sbucket);
		snprintf(safe, sizeof safe, STAGING_SQL(" WHERE json_valid(doc)"), sbucket);
		rc = paged(&r, fast, safe, o->emails_from ? staging_candidate : staging_row, err,
			   errlen);
	}
	if (!rc && !o->emails_from) {
		snprintf(fast, sizeof fast, CUSTOMERS_SQL(""), o->bucket);
		snprintf(safe, sizeof safe, CUSTOMERS_SQL("json_valid(doc) AND "), o->bucket);
		rc = paged(&r, fast, safe, customer_row, err, errlen);
	}
out:
	pthread_mutex_lock(&r.mu);
	r.enum_done = true;
	if (rc) /* stop polling: the pass failed */
		r.next_cand = r.ncands;
	pthread_cond_broadcast(&r.cv_cands);
	pthread_mutex_unlock(&r.mu);
	for (int i = 0; i < npollers; i++) {
		/* wait, reporting progress, for the poller threads to finish */
		for (;;) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 200000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			if (!pthread_timedjoin_np(pt[i], NULL, &ts))
				break;
			progress(&r, &r.last, false);
		}
	}
	if (!rc)
		rc = r.poll_rc;
	if (rc && !*err)
		snprintf(err, errlen, "%s", c360_rc_str(rc));
	if (nwriters) {
		pthread_mutex_lock(&r.mu);
		r.closing = true;
		pthread_cond_broadcast(&r.cv_items);
		pthread_mutex_unlock(&r.mu);
		for (int i = 0; i < nwriters; i++)
			pthread_join(wt[i], NULL);
	}
	progress(&r, &r.last, true);
	*stats = r.stats;
	sum_http(&r, &stats->http);
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	stats->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	for (int i = 0; i < POLLERS; i++)
		c360_poller_free(workers[i].p);
	for (size_t i = 0; i < r.ncands; i++)
		free(r.cands[i].email);
	free(r.cands);
	pthread_cond_destroy(&r.cv_cands);
	smap_free(&r.staging);
	smap_free(&r.products);
	for (struct item *it = r.head, *nx; it; it = nx) {
		nx = it->next;
		item_free(it);
	}
	pthread_mutex_destroy(&r.mu);
	pthread_cond_destroy(&r.cv_items);
	pthread_cond_destroy(&r.cv_space);
	return rc;
}
