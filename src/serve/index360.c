/* The in-memory customer360 index behind the API: search, orders by customer,
 * incremental item-to-item co-purchase counts and the /stats aggregates, fed
 * by the bucket's change feed (see index360.h).
 *
 * Nothing is removed from the hash maps: a deleted customer or order keeps
 * its slot with live = false and is revived if the key comes back, so a map
 * entry is always valid and no tombstones are needed. Every aggregate is
 * maintained by "unapply the old state, apply the new one" per document. */
#include "serve/index360.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/hash.h"
#include "sources/rest/poller.h"
#include "core/json.h"
#include "core/log.h"
#include "core/banned.h"

const char *const c360_index_systems[C360_SYSTEMS] = {"home_delivery", "loyalty", "online_store"};

#define FEED_BATCH 1000
#define REBUILD_MS 1000
#define NPOINT_BUCKETS 9
static const int64_t point_edges[NPOINT_BUCKETS] = {0, 100, 250, 500, 1000, 2000, 3000, 5000, 10000};

/* ---- hash maps: string -> u32 and u64 -> u32, open addressing, no delete ---- */

struct smap {
	char **k;
	uint32_t *v;
	size_t cap, n;
};

static uint64_t hash_bytes(const char *s, size_t n)
{
	uint64_t h = c360_fnv1a(s, n);
	/* FNV's low bits are weak (bit 0 is the XOR of the bytes' bit 0) and
	 * the table index is the low bits: finish with a full 64-bit mix */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	return h ^ (h >> 33);
}

static bool smap_grow(struct smap *m)
{
	size_t nc = m->cap ? m->cap * 2 : 1024;
	char **nk = calloc(nc, sizeof *nk);
	uint32_t *nv = calloc(nc, sizeof *nv);
	if (!nk || !nv) {
		free(nk);
		free(nv);
		return false;
	}
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->k[i])
			continue;
		size_t j = hash_bytes(m->k[i], strlen(m->k[i])) & (nc - 1);
		while (nk[j])
			j = (j + 1) & (nc - 1);
		nk[j] = m->k[i];
		nv[j] = m->v[i];
	}
	free(m->k);
	free(m->v);
	m->k = nk;
	m->v = nv;
	m->cap = nc;
	return true;
}

static bool smap_get(const struct smap *m, const char *key, uint32_t *out)
{
	if (!m->cap)
		return false;
	size_t j = hash_bytes(key, strlen(key)) & (m->cap - 1);
	while (m->k[j]) {
		if (!strcmp(m->k[j], key)) {
			*out = m->v[j];
			return true;
		}
		j = (j + 1) & (m->cap - 1);
	}
	return false;
}

/* Sets key -> v (the key is copied). */
static bool smap_set(struct smap *m, const char *key, uint32_t v)
{
	if ((m->n + 1) * 2 > m->cap && !smap_grow(m))
		return false;
	size_t j = hash_bytes(key, strlen(key)) & (m->cap - 1);
	while (m->k[j]) {
		if (!strcmp(m->k[j], key)) {
			m->v[j] = v;
			return true;
		}
		j = (j + 1) & (m->cap - 1);
	}
	if (!(m->k[j] = strdup(key)))
		return false;
	m->v[j] = v;
	m->n++;
	return true;
}

static void smap_free(struct smap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->k[i]);
	free(m->k);
	free(m->v);
}

struct imap {
	uint64_t *k; /* key + 1 (0 = empty) */
	uint32_t *v;
	size_t cap, n;
};

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

static bool imap_grow(struct imap *m)
{
	size_t nc = m->cap ? m->cap * 2 : 1024;
	uint64_t *nk = calloc(nc, sizeof *nk);
	uint32_t *nv = calloc(nc, sizeof *nv);
	if (!nk || !nv) {
		free(nk);
		free(nv);
		return false;
	}
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->k[i])
			continue;
		size_t j = mix64(m->k[i]) & (nc - 1);
		while (nk[j])
			j = (j + 1) & (nc - 1);
		nk[j] = m->k[i];
		nv[j] = m->v[i];
	}
	free(m->k);
	free(m->v);
	m->k = nk;
	m->v = nv;
	m->cap = nc;
	return true;
}

static uint32_t *imap_slot(struct imap *m, uint64_t key, bool create)
{
	key++;
	if (m->cap) {
		size_t j = mix64(key) & (m->cap - 1);
		while (m->k[j]) {
			if (m->k[j] == key)
				return &m->v[j];
			j = (j + 1) & (m->cap - 1);
		}
	}
	if (!create)
		return NULL;
	if ((m->n + 1) * 2 > m->cap && !imap_grow(m))
		return NULL;
	size_t j = mix64(key) & (m->cap - 1);
	while (m->k[j])
		j = (j + 1) & (m->cap - 1);
	m->k[j] = key;
	m->v[j] = 0;
	m->n++;
	return &m->v[j];
}

static void imap_free(struct imap *m)
{
	free(m->k);
	free(m->v);
}

/* ---- the index ---- */

struct cust {
	char *email;
	char *json;   /* the document as served: xrefs[].pass removed */
	size_t json_len;
	uint64_t cas;
	char *name;
	char *city;
	char *ext[C360_SYSTEMS]; /* external ids as text, NULL when absent */
	uint8_t systems;         /* bit per c360_index_systems[] */
	bool live;
	bool has_online;
	bool has_points;
	int64_t online_id;
	int64_t points;
};

struct pcount {
	uint32_t prod; /* product index */
	uint32_t n;    /* orders of this customer containing it */
};

struct ocust { /* an online-store customer id: its orders and products */
	uint32_t *orders;
	size_t norders, corders;
	struct pcount *prods;
	size_t nprods, cprods;
};

struct order {
	char *key;
	char *json; /* the document as stored */
	size_t json_len;
	uint64_t cas;
	bool live;
	bool has_cid;
	int64_t cid;
	char date[40];
	int month; /* index into months, -1 when the date has no YYYY-MM */
	double revenue;
	uint32_t nitems;
	uint32_t *prods; /* product indexes */
	double *qty;
	double *amount;  /* quantity * price */
};

struct product {
	int64_t id;
	char *name;
	uint32_t customers;
	uint32_t orders;
	double revenue;
	double quantity;
	uint32_t *nbr; /* products ever co-purchased with this one */
	size_t nnbr, cnbr;
};

struct month {
	char ym[8];
	uint64_t orders;
	double revenue;
};

struct tok {
	const char *s;
	uint32_t cust;
};

struct c360_index {
	c360_store *st;
	char bucket[C360_BUCKET_NAME_MAX + 1];
	pthread_rwlock_t lock;
	pthread_t thread;
	bool started;

	pthread_mutex_t mu; /* guards stop, applied, high, clean + cond */
	pthread_cond_t cond;
	bool stop;
	uint64_t applied, high;
	bool clean; /* search arrays reflect every applied change */

	struct cust *c;
	size_t nc, cc;
	struct smap by_email;
	struct smap by_ext; /* "system\x1fid" -> cust */

	struct order *o;
	size_t no, co;
	struct smap order_by_key;

	struct ocust *oc;
	size_t noc, coc;
	struct imap ocust_by_id;

	struct product *p;
	size_t np, cp;
	struct imap prod_by_id;
	struct imap pairs; /* (min << 32 | max) product indexes -> customers */

	struct month *m;
	size_t nm, cm;

	/* aggregates */
	uint64_t customers;
	uint64_t per_system[C360_SYSTEMS];
	uint64_t per_mask[1 << C360_SYSTEMS];
	uint64_t point_hist[NPOINT_BUCKETS];
	uint64_t members;
	int64_t points_sum;
	uint64_t orders;
	double revenue;

	/* search arrays (rebuilt by the follower when dirty) */
	bool dirty;
	int64_t rebuilt_ms;
	struct tok *toks;
	size_t ntoks;
	char *tokmem;
	uint32_t *sorted; /* live customers by email */
	size_t nsorted;
	uint32_t *rank;   /* customer index -> position in sorted (UINT32_MAX: none) */
	size_t nrank;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define GROW(arr, n, cap)                                                                  \
	((n) < (cap) ? true : grow_array((void **)&(arr), &(cap), sizeof *(arr)))

static bool grow_array(void **arr, size_t *cap, size_t elem)
{
	size_t nc = *cap ? *cap * 2 : 16;
	void *na = realloc(*arr, nc * elem);
	if (!na)
		return false;
	memset((char *)na + *cap * elem, 0, (nc - *cap) * elem);
	*arr = na;
	*cap = nc;
	return true;
}

/* Text of a string or number member, malloc'd; NULL otherwise. */
static char *scalar_text(const c360_json *v)
{
	size_t n;
	const char *s = c360_json_str(v, &n);
	if (!s)
		s = c360_json_num_text(v, &n);
	return s ? strndup(s, n) : NULL;
}

static bool scalar_int(const c360_json *v, int64_t *out);

/* An online-store customer id (an order's CustomerId, the online_store
 * xref's external_ID) as a map key, matched by value: its whole number when
 * it has one (27 and "27" are one customer), else a hash of its text (a UUID,
 * "C-27") with the top bit set. */
static bool customer_id_key(const c360_json *v, int64_t *out)
{
	if (scalar_int(v, out))
		return true;
	const char *t;
	size_t n;
	if (!c360_poll_id(v, &t, &n))
		return false;
	*out = (int64_t)(hash_bytes(t, n) | (1ull << 63));
	return true;
}

static bool scalar_int(const c360_json *v, int64_t *out)
{
	if (c360_json_int64(v, out))
		return true;
	const char *s = c360_json_str(v, NULL);
	if (!s || !*s)
		return false;
	char *end;
	long long x = strtoll(s, &end, 10);
	while (*end == ' ')
		end++;
	if (*end)
		return false;
	*out = x;
	return true;
}

static bool scalar_double(const c360_json *v, double *out)
{
	if (c360_json_double(v, out))
		return true;
	const char *s = c360_json_str(v, NULL);
	if (!s || !*s)
		return false;
	char *end;
	*out = strtod(s, &end);
	return !*end;
}

static void lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* ---- products ---- */

static int product_get(c360_index *ix, int64_t id, bool create)
{
	uint32_t *slot = imap_slot(&ix->prod_by_id, (uint64_t)id, false);
	if (slot)
		return (int)*slot;
	if (!create || !GROW(ix->p, ix->np, ix->cp))
		return -1;
	slot = imap_slot(&ix->prod_by_id, (uint64_t)id, true);
	if (!slot)
		return -1;
	struct product *p = &ix->p[ix->np];
	memset(p, 0, sizeof *p);
	p->id = id;
	*slot = (uint32_t)ix->np;
	return (int)ix->np++;
}

static void add_nbr(struct product *p, uint32_t q)
{
	if (GROW(p->nbr, p->nnbr, p->cnbr))
		p->nbr[p->nnbr++] = q;
}

static void pair_add(c360_index *ix, uint32_t a, uint32_t b, int delta)
{
	uint64_t key = a < b ? ((uint64_t)a << 32 | b) : ((uint64_t)b << 32 | a);
	if (delta > 0 && !imap_slot(&ix->pairs, key ^ (1ull << 63), false)) {
		/* first time this pair is seen: link the neighbours once (the
		 * marker lives in the same map under bit 63, free in keys) */
		uint32_t *seen = imap_slot(&ix->pairs, key ^ (1ull << 63), true);
		if (!seen)
			return;
		*seen = 1;
		add_nbr(&ix->p[a], b);
		add_nbr(&ix->p[b], a);
	}
	uint32_t *slot = imap_slot(&ix->pairs, key, delta > 0);
	if (!slot)
		return;
	if (delta > 0)
		(*slot)++;
	else if (*slot)
		(*slot)--;
}

static uint32_t pair_get(c360_index *ix, uint32_t a, uint32_t b)
{
	uint64_t key = a < b ? ((uint64_t)a << 32 | b) : ((uint64_t)b << 32 | a);
	uint32_t *slot = imap_slot(&ix->pairs, key, false);
	return slot ? *slot : 0;
}

/* ---- online customers (by CustomerId) ---- */

static struct ocust *ocust_get(c360_index *ix, int64_t cid, bool create)
{
	uint32_t *slot = imap_slot(&ix->ocust_by_id, (uint64_t)cid, false);
	if (slot)
		return &ix->oc[*slot];
	if (!create || !GROW(ix->oc, ix->noc, ix->coc))
		return NULL;
	slot = imap_slot(&ix->ocust_by_id, (uint64_t)cid, true);
	if (!slot)
		return NULL;
	*slot = (uint32_t)ix->noc;
	memset(&ix->oc[ix->noc], 0, sizeof *ix->oc);
	return &ix->oc[ix->noc++];
}

/* A product enters (delta +1) or leaves (-1) customer oc's set of orders. */
static void ocust_product(c360_index *ix, struct ocust *oc, uint32_t prod, int delta)
{
	size_t i = 0;
	for (; i < oc->nprods && oc->prods[i].prod != prod; i++)
		;
	if (delta > 0) {
		if (i == oc->nprods) {
			if (!GROW(oc->prods, oc->nprods, oc->cprods))
				return;
			oc->prods[oc->nprods++] = (struct pcount){prod, 0};
		}
		if (oc->prods[i].n++ == 0) {
			ix->p[prod].customers++;
			for (size_t k = 0; k < oc->nprods; k++)
				if (k != i && oc->prods[k].n)
					pair_add(ix, prod, oc->prods[k].prod, +1);
		}
	} else if (i < oc->nprods && oc->prods[i].n) {
		if (--oc->prods[i].n == 0) {
			ix->p[prod].customers--;
			for (size_t k = 0; k < oc->nprods; k++)
				if (k != i && oc->prods[k].n)
					pair_add(ix, prod, oc->prods[k].prod, -1);
			oc->prods[i] = oc->prods[--oc->nprods];
		}
	}
}

/* ---- months ---- */

static int month_get(c360_index *ix, const char *date)
{
	if (strlen(date) < 7 || !isdigit((unsigned char)date[0]) || date[4] != '-' ||
	    !isdigit((unsigned char)date[5]) || !isdigit((unsigned char)date[6]))
		return -1;
	for (size_t i = 0; i < ix->nm; i++)
		if (!memcmp(ix->m[i].ym, date, 7))
			return (int)i;
	if (!GROW(ix->m, ix->nm, ix->cm))
		return -1;
	memset(&ix->m[ix->nm], 0, sizeof *ix->m);
	memcpy(ix->m[ix->nm].ym, date, 7);
	return (int)ix->nm++;
}

/* ---- orders ---- */

static void order_apply(c360_index *ix, struct order *o, int sign)
{
	ix->orders += (uint64_t)(int64_t)sign;
	ix->revenue += sign * o->revenue;
	if (o->month >= 0) {
		ix->m[o->month].orders += (uint64_t)(int64_t)sign;
		ix->m[o->month].revenue += sign * o->revenue;
	}
	for (uint32_t i = 0; i < o->nitems; i++) {
		struct product *p = &ix->p[o->prods[i]];
		p->revenue += sign * o->amount[i];
		p->quantity += sign * o->qty[i];
	}
	/* distinct products of the order */
	for (uint32_t i = 0; i < o->nitems; i++) {
		bool dup = false;
		for (uint32_t j = 0; j < i && !dup; j++)
			dup = o->prods[j] == o->prods[i];
		if (dup)
			continue;
		ix->p[o->prods[i]].orders += (uint32_t)sign;
		if (o->has_cid) {
			struct ocust *oc = ocust_get(ix, o->cid, true);
			if (oc)
				ocust_product(ix, oc, o->prods[i], sign);
		}
	}
	if (!o->has_cid)
		return;
	struct ocust *oc = ocust_get(ix, o->cid, true);
	if (!oc)
		return;
	uint32_t idx = (uint32_t)(o - ix->o);
	if (sign > 0) {
		if (GROW(oc->orders, oc->norders, oc->corders))
			oc->orders[oc->norders++] = idx;
	} else {
		for (size_t i = 0; i < oc->norders; i++)
			if (oc->orders[i] == idx) {
				oc->orders[i] = oc->orders[--oc->norders];
				break;
			}
	}
}

static void order_clear(struct order *o)
{
	free(o->json);
	o->json = NULL;
	free(o->prods);
	free(o->qty);
	free(o->amount);
	o->prods = NULL;
	o->qty = o->amount = NULL;
	o->nitems = 0;
	o->live = false;
}

static void on_order(c360_index *ix, const char *key, const c360_json *doc,
		     const struct c360_feed_event *ev)
{
	uint32_t idx;
	if (!smap_get(&ix->order_by_key, key, &idx)) {
		if (!doc || !GROW(ix->o, ix->no, ix->co))
			return;
		idx = (uint32_t)ix->no;
		memset(&ix->o[idx], 0, sizeof *ix->o);
		if (!(ix->o[idx].key = strdup(key)) || !smap_set(&ix->order_by_key, key, idx)) {
			free(ix->o[idx].key);
			return;
		}
		ix->no++;
	}
	struct order *o = &ix->o[idx];
	if (o->live) {
		order_apply(ix, o, -1);
		order_clear(o);
	}
	if (!doc)
		return;
	o->json = strndup(ev->value, ev->value_len);
	o->json_len = o->json ? ev->value_len : 0;
	o->cas = ev->cas;
	o->has_cid = customer_id_key(c360_json_get(doc, "CustomerId"), &o->cid);
	const char *date = c360_json_str(c360_json_get(doc, "PurchaseDate"), NULL);
	snprintf(o->date, sizeof o->date, "%s", date ? date : "");
	o->month = month_get(ix, o->date);
	c360_json *items = c360_json_get(doc, "Items");
	size_t n = c360_json_len(items);
	if (n > 10000)
		n = 10000;
	o->revenue = 0;
	if (n) {
		o->prods = calloc(n, sizeof *o->prods);
		o->qty = calloc(n, sizeof *o->qty);
		o->amount = calloc(n, sizeof *o->amount);
		if (!o->prods || !o->qty || !o->amount) {
			order_clear(o);
			return;
		}
	}
	for (c360_json *it = c360_json_first(items); it && o->nitems < n; it = c360_json_next(it)) {
		int64_t pid;
		double q = 1, price = 0;
		if (!scalar_int(c360_json_get(it, "ProductId"), &pid))
			continue;
		int p = product_get(ix, pid, true);
		if (p < 0)
			continue;
		scalar_double(c360_json_get(it, "Quantity"), &q);
		scalar_double(c360_json_get(it, "Price"), &price);
		o->prods[o->nitems] = (uint32_t)p;
		o->qty[o->nitems] = q;
		o->amount[o->nitems] = q * price;
		o->revenue += q * price;
		o->nitems++;
	}
	o->live = true;
	order_apply(ix, o, +1);
}

static void on_product(c360_index *ix, const char *key, const c360_json *doc)
{
	int64_t id;
	char *end;
	id = strtoll(key + 9, &end, 10);
	if (*end || !doc)
		return;
	const c360_json *nm = c360_json_get(doc, "Name");
	if (!nm)
		nm = c360_json_get(doc, "name");
	if (!nm)
		nm = c360_json_get(doc, "ProductName");
	const char *s = c360_json_str(nm, NULL);
	int p = product_get(ix, id, true);
	if (p < 0 || !s)
		return;
	free(ix->p[p].name);
	ix->p[p].name = strdup(s);
}

/* ---- customers ---- */

static int point_bucket(int64_t pts)
{
	int b = 0;
	while (b + 1 < NPOINT_BUCKETS && pts >= point_edges[b + 1])
		b++;
	return b;
}

static void cust_apply(c360_index *ix, struct cust *c, int sign)
{
	ix->customers += (uint64_t)(int64_t)sign;
	ix->per_mask[c->systems & 7] += (uint64_t)(int64_t)sign;
	for (int s = 0; s < C360_SYSTEMS; s++)
		if (c->systems & (1 << s))
			ix->per_system[s] += (uint64_t)(int64_t)sign;
	if (c->has_points) {
		ix->members += (uint64_t)(int64_t)sign;
		ix->points_sum += sign * c->points;
		ix->point_hist[point_bucket(c->points)] += (uint64_t)(int64_t)sign;
	}
}

static void cust_clear(struct cust *c)
{
	free(c->json);
	c->json = NULL;
	free(c->name);
	free(c->city);
	c->name = c->city = NULL;
	for (int s = 0; s < C360_SYSTEMS; s++) {
		free(c->ext[s]);
		c->ext[s] = NULL;
	}
	c->systems = 0;
	c->has_online = c->has_points = c->live = false;
}

static void on_customer(c360_index *ix, const char *key, c360_json *doc, uint64_t cas)
{
	uint32_t idx;
	if (!smap_get(&ix->by_email, key, &idx)) {
		if (!doc || !GROW(ix->c, ix->nc, ix->cc))
			return;
		idx = (uint32_t)ix->nc;
		memset(&ix->c[idx], 0, sizeof *ix->c);
		if (!(ix->c[idx].email = strdup(key)) || !smap_set(&ix->by_email, key, idx)) {
			free(ix->c[idx].email);
			return;
		}
		ix->nc++;
	}
	struct cust *c = &ix->c[idx];
	ix->dirty = true;
	if (c->live) {
		cust_apply(ix, c, -1);
		cust_clear(c);
	}
	if (!doc)
		return;
	c360_json *prof = c360_json_get(doc, "profile");
	const char *name = c360_json_str(c360_json_get(prof, "name"), NULL);
	if (name) {
		c->name = strdup(name);
	} else {
		const char *f = c360_json_str(c360_json_get(prof, "firstName"), NULL);
		const char *l = c360_json_str(c360_json_get(prof, "lastName"), NULL);
		if (f || l) {
			size_t n = (f ? strlen(f) : 0) + (l ? strlen(l) : 0) + 2;
			if ((c->name = malloc(n)))
				snprintf(c->name, n, "%s%s%s", f ? f : "", f && l ? " " : "", l ? l : "");
		}
	}
	const char *city = c360_json_str(c360_json_get(prof, "city"), NULL);
	if (city)
		c->city = strdup(city);
	const c360_json *pts = c360_json_get(doc, "loyaltyPoints");
	if (!pts)
		pts = c360_json_get(prof, "loyaltyPoints");
	c->has_points = scalar_int(pts, &c->points);
	for (c360_json *x = c360_json_first(c360_json_get(doc, "xrefs")); x; x = c360_json_next(x)) {
		const char *sys = c360_json_str(c360_json_get(x, "external_system"), NULL);
		if (!sys)
			continue;
		for (int s = 0; s < C360_SYSTEMS; s++) {
			if (strcmp(sys, c360_index_systems[s]) || c->ext[s])
				continue;
			c->systems |= (uint8_t)(1 << s);
			c->ext[s] = scalar_text(c360_json_get(x, "external_ID"));
			if (c->ext[s]) {
				char k[300];
				snprintf(k, sizeof k, "%s\x1f%s", sys, c->ext[s]);
				smap_set(&ix->by_ext, k, idx);
			}
			if (s == 2)
				c->has_online =
					customer_id_key(c360_json_get(x, "external_ID"), &c->online_id);
		}
	}
	/* the served form: source-system passwords removed */
	for (c360_json *x = c360_json_first(c360_json_get(doc, "xrefs")); x; x = c360_json_next(x)) {
		c360_json_remove(x, "pass", 4);
		c360_json_remove(x, "password", 8);
	}
	c360_json_remove(prof, "password", 8);
	c->json = c360_json_write_str(doc, C360_JSON_COMPACT, &c->json_len);
	c->cas = cas;
	c->live = true;
	cust_apply(ix, c, +1);
}

static bool is_customer(const c360_json *doc)
{
	const char *type = c360_json_str(c360_json_get(doc, "type"), NULL);
	if (type)
		return !strcmp(type, "user");
	return c360_json_get(doc, "xrefs") || c360_json_get(doc, "profile");
}

/* One feed event; called with the write lock held. */
static void apply_event(c360_index *ix, const struct c360_feed_event *ev)
{
	char key[C360_KEY_MAX + 1];
	if (ev->key_len > C360_KEY_MAX || memchr(ev->key, 0, ev->key_len))
		return;
	memcpy(key, ev->key, ev->key_len);
	key[ev->key_len] = 0;
	c360_json_doc *d = NULL;
	c360_json *doc = NULL;
	if (ev->op == C360_FEED_MUTATION && ev->value) {
		if (c360_json_parse(ev->value, ev->value_len, NULL, &d, NULL) == C360_OK)
			doc = c360_json_doc_root(d);
		if (!c360_json_is_object(doc))
			doc = NULL;
	}
	if (!strncmp(key, "order::", 7)) {
		on_order(ix, key, doc, ev);
	} else if (!strncmp(key, "product::", 9)) {
		on_product(ix, key, doc);
	} else {
		uint32_t idx;
		bool known = smap_get(&ix->by_email, key, &idx);
		if (doc && is_customer(doc))
			on_customer(ix, key, doc, ev->cas);
		else if (known)
			on_customer(ix, key, NULL, 0); /* deleted, or no longer a customer */
	}
	c360_json_doc_free(d);
}

/* ---- search arrays ---- */

static int tok_cmp(const void *a, const void *b)
{
	const struct tok *x = a, *y = b;
	int r = strcmp(x->s, y->s);
	return r ? r : (x->cust < y->cust ? -1 : x->cust > y->cust);
}

static int email_cmp(const void *a, const void *b, void *base)
{
	const struct cust *c = base;
	return strcmp(c[*(const uint32_t *)a].email, c[*(const uint32_t *)b].email);
}

/* Rebuilds toks and sorted; called with the write lock held. */
static void rebuild(c360_index *ix)
{
	size_t mem = 0, ntok = 0;
	for (size_t i = 0; i < ix->nc; i++) {
		const struct cust *c = &ix->c[i];
		if (!c->live)
			continue;
		mem += strlen(c->email) + 1;
		ntok++;
		if (c->name) {
			mem += 2 * (strlen(c->name) + 1);
			ntok += 1 + strlen(c->name) / 2 + 1;
		}
	}
	struct tok *toks = malloc((ntok + 1) * sizeof *toks);
	char *tm = malloc(mem + 1);
	uint32_t *sorted = malloc((ix->nc + 1) * sizeof *sorted);
	if (!toks || !tm || !sorted) {
		free(toks);
		free(tm);
		free(sorted);
		return;
	}
	size_t nt = 0, ns = 0;
	char *o = tm;
	for (size_t i = 0; i < ix->nc; i++) {
		const struct cust *c = &ix->c[i];
		if (!c->live)
			continue;
		sorted[ns++] = (uint32_t)i;
		size_t n = strlen(c->email);
		memcpy(o, c->email, n + 1);
		lower(o);
		toks[nt++] = (struct tok){o, (uint32_t)i};
		o += n + 1;
		if (!c->name)
			continue;
		n = strlen(c->name);
		memcpy(o, c->name, n + 1);
		lower(o);
		toks[nt++] = (struct tok){o, (uint32_t)i};
		o += n + 1;
		/* each later word of the name, as its own token (split copy) */
		memcpy(o, c->name, n + 1);
		lower(o);
		char *w = o;
		o += n + 1;
		bool first = true;
		while (*w) {
			while (*w == ' ')
				*w++ = 0;
			if (!*w)
				break;
			char *start = w;
			while (*w && *w != ' ')
				w++;
			if (!first && nt < ntok)
				toks[nt++] = (struct tok){start, (uint32_t)i};
			first = false;
		}
	}
	qsort(toks, nt, sizeof *toks, tok_cmp);
	qsort_r(sorted, ns, sizeof *sorted, email_cmp, ix->c);
	uint32_t *rank = malloc((ix->nc + 1) * sizeof *rank);
	if (!rank) {
		free(toks);
		free(tm);
		free(sorted);
		return;
	}
	memset(rank, 0xff, (ix->nc + 1) * sizeof *rank);
	for (size_t i = 0; i < ns; i++)
		rank[sorted[i]] = (uint32_t)i;
	free(ix->rank);
	ix->rank = rank;
	ix->nrank = ix->nc;
	free(ix->toks);
	free(ix->tokmem);
	free(ix->sorted);
	ix->toks = toks;
	ix->ntoks = nt;
	ix->tokmem = tm;
	ix->sorted = sorted;
	ix->nsorted = ns;
	ix->dirty = false;
	ix->rebuilt_ms = now_ms();
}

/* ---- the follower ---- */

static int feed_cb(const struct c360_feed_event *ev, void *ctx)
{
	apply_event(ctx, ev);
	return 0;
}

static void *follow(void *arg)
{
	c360_index *ix = arg;
	uint64_t applied = 0;
	bool caught_up = false;
	int64_t started = now_ms();
	for (;;) {
		pthread_mutex_lock(&ix->mu);
		bool stop = ix->stop;
		pthread_mutex_unlock(&ix->mu);
		if (stop)
			break;
		uint64_t high = 0, last = applied;
		c360_feed_high_seqno(ix->st, ix->bucket, &high);
		pthread_rwlock_wrlock(&ix->lock);
		c360_rc rc = c360_feed_read(ix->st, ix->bucket, applied, FEED_BATCH, feed_cb, ix, &last);
		bool got = last > applied;
		/* while catching up with the feed at start, build the search arrays
		 * once at the end; later, at most once a second under a steady
		 * stream of changes, and at once when the feed goes idle */
		if (!got && ix->dirty)
			rebuild(ix);
		else if (caught_up && ix->dirty && now_ms() - ix->rebuilt_ms > REBUILD_MS)
			rebuild(ix);
		if (!got && !caught_up) {
			caught_up = true;
			C360_INFO("serve", "index of bucket '%s' ready: %llu customers, %llu orders, %zu products in %.1f s",
				  ix->bucket, (unsigned long long)ix->customers, (unsigned long long)ix->orders,
				  ix->np, (double)(now_ms() - started) / 1000.0);
		}
		bool clean = !ix->dirty;
		pthread_rwlock_unlock(&ix->lock);
		if (rc) {
			C360_WARN("serve", "cannot read the feed of bucket '%s': %s", ix->bucket,
				  c360_rc_str(rc));
			struct timespec ts = {0, 200 * 1000000};
			nanosleep(&ts, NULL);
			continue;
		}
		if (!got && high > applied)
			last = high; /* the rest of the feed was collapsed away */
		applied = last;
		pthread_mutex_lock(&ix->mu);
		ix->applied = applied;
		ix->high = high > applied ? high : applied;
		ix->clean = clean;
		pthread_cond_broadcast(&ix->cond);
		pthread_mutex_unlock(&ix->mu);
		if (!got)
			c360_feed_wait(ix->st, ix->bucket, applied, 200);
	}
	return NULL;
}

c360_rc c360_index_start(c360_store *st, const char *bucket, c360_index **out, char *err,
			 size_t errlen)
{
	*out = NULL;
	c360_rc rc = c360_store_bucket_ensure(st, bucket, 0);
	if (rc) {
		snprintf(err, errlen, "cannot open bucket '%s': %s", bucket, c360_rc_str(rc));
		return rc;
	}
	c360_index *ix = calloc(1, sizeof *ix);
	if (!ix)
		return C360_ERR_NOMEM;
	ix->st = st;
	snprintf(ix->bucket, sizeof ix->bucket, "%s", bucket);
	pthread_rwlock_init(&ix->lock, NULL);
	pthread_mutex_init(&ix->mu, NULL);
	pthread_cond_init(&ix->cond, NULL);
	if (pthread_create(&ix->thread, NULL, follow, ix)) {
		snprintf(err, errlen, "cannot start the index thread");
		c360_index_free(ix);
		return C360_ERR_INTERNAL;
	}
	ix->started = true;
	*out = ix;
	return C360_OK;
}

void c360_index_free(c360_index *ix)
{
	if (!ix)
		return;
	if (ix->started) {
		pthread_mutex_lock(&ix->mu);
		ix->stop = true;
		pthread_mutex_unlock(&ix->mu);
		pthread_join(ix->thread, NULL);
	}
	for (size_t i = 0; i < ix->nc; i++) {
		cust_clear(&ix->c[i]);
		free(ix->c[i].email);
	}
	free(ix->c);
	for (size_t i = 0; i < ix->no; i++) {
		order_clear(&ix->o[i]);
		free(ix->o[i].key);
	}
	free(ix->o);
	for (size_t i = 0; i < ix->noc; i++) {
		free(ix->oc[i].orders);
		free(ix->oc[i].prods);
	}
	free(ix->oc);
	for (size_t i = 0; i < ix->np; i++) {
		free(ix->p[i].name);
		free(ix->p[i].nbr);
	}
	free(ix->p);
	free(ix->m);
	smap_free(&ix->by_email);
	smap_free(&ix->by_ext);
	smap_free(&ix->order_by_key);
	imap_free(&ix->ocust_by_id);
	imap_free(&ix->prod_by_id);
	imap_free(&ix->pairs);
	free(ix->toks);
	free(ix->tokmem);
	free(ix->sorted);
	free(ix->rank);
	pthread_rwlock_destroy(&ix->lock);
	pthread_mutex_destroy(&ix->mu);
	pthread_cond_destroy(&ix->cond);
	free(ix);
}

c360_rc c360_index_sync(c360_index *ix, int timeout_ms)
{
	uint64_t target = 0;
	c360_rc rc = c360_feed_high_seqno(ix->st, ix->bucket, &target);
	if (rc)
		return rc;
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += timeout_ms / 1000;
	dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (dl.tv_nsec >= 1000000000) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&ix->mu);
	while (!(ix->applied >= target && ix->clean)) {
		if (pthread_cond_timedwait(&ix->cond, &ix->mu, &dl)) {
			rc = C360_ERR_TIMEOUT;
			break;
		}
	}
	pthread_mutex_unlock(&ix->mu);
	return rc;
}

void c360_index_position(c360_index *ix, uint64_t *applied, uint64_t *high)
{
	uint64_t h = 0;
	c360_feed_high_seqno(ix->st, ix->bucket, &h);
	pthread_mutex_lock(&ix->mu);
	*applied = ix->applied;
	pthread_mutex_unlock(&ix->mu);
	*high = h;
}

/* ---- queries ---- */

static void put_str(struct c360_buf *out, const char *s)
{
	if (s)
		c360_json_write_string(s, strlen(s), out);
	else
		c360_buf_puts(out, "null");
}

static void put_summary(c360_index *ix, const struct cust *c, struct c360_buf *out)
{
	c360_buf_puts(out, "{\"email\":");
	put_str(out, c->email);
	c360_buf_puts(out, ",\"name\":");
	put_str(out, c->name);
	c360_buf_puts(out, ",\"city\":");
	put_str(out, c->city);
	c360_buf_puts(out, ",\"systems\":{");
	bool first = true;
	for (int s = 0; s < C360_SYSTEMS; s++) {
		if (!(c->systems & (1 << s)))
			continue;
		c360_buf_printf(out, "%s\"%s\":", first ? "" : ",", c360_index_systems[s]);
		put_str(out, c->ext[s]);
		first = false;
	}
	c360_buf_puts(out, "},\"loyaltyPoints\":");
	if (c->has_points)
		c360_buf_printf(out, "%lld", (long long)c->points);
	else
		c360_buf_puts(out, "null");
	size_t norders = 0;
	if (c->has_online) {
		uint32_t *slot = imap_slot(&ix->ocust_by_id, (uint64_t)c->online_id, false);
		if (slot)
			norders = ix->oc[*slot].norders;
	}
	c360_buf_printf(out, ",\"orders\":%zu}", norders);
}

c360_rc c360_index_search(c360_index *ix, const char *q, const char *system, const char *id,
			  size_t limit, size_t offset, struct c360_buf *out)
{
	c360_rc rc = C360_OK;
	uint32_t *hits = NULL;
	size_t nh = 0;
	uint8_t *seen = NULL;
	pthread_rwlock_rdlock(&ix->lock);
	if (system) {
		char k[600];
		uint32_t idx;
		snprintf(k, sizeof k, "%s\x1f%s", system, id ? id : "");
		int s = -1;
		for (int i = 0; i < C360_SYSTEMS; i++)
			if (!strcmp(system, c360_index_systems[i]))
				s = i;
		hits = malloc(sizeof *hits);
		if (!hits) {
			rc = C360_ERR_NOMEM;
			goto out;
		}
		if (s >= 0 && smap_get(&ix->by_ext, k, &idx) && ix->c[idx].live && ix->c[idx].ext[s] &&
		    !strcmp(ix->c[idx].ext[s], id))
			hits[nh++] = idx;
	} else if (!q || !*q) {
		hits = malloc((ix->nsorted + 1) * sizeof *hits);
		if (!hits) {
			rc = C360_ERR_NOMEM;
			goto out;
		}
		for (size_t i = 0; i < ix->nsorted; i++)
			if (ix->c[ix->sorted[i]].live)
				hits[nh++] = ix->sorted[i];
	} else {
		char lq[256];
		snprintf(lq, sizeof lq, "%s", q);
		lower(lq);
		size_t ql = strlen(lq);
		/* lower bound */
		size_t lo = 0, hi = ix->ntoks;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (strcmp(ix->toks[mid].s, lq) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		size_t end = lo;
		while (end < ix->ntoks && !strncmp(ix->toks[end].s, lq, ql))
			end++;
		/* mark the matches in a bitmap indexed by email rank: duplicates
		 * vanish and a scan of the set bits yields them in email order,
		 * without sorting */
		seen = calloc(ix->nsorted / 8 + 1, 1);
		hits = malloc((limit + 1) * sizeof *hits);
		if (!hits || !seen) {
			rc = C360_ERR_NOMEM;
			goto out;
		}
		for (size_t i = lo; i < end; i++) {
			uint32_t c = ix->toks[i].cust;
			if (c < ix->nrank && ix->rank[c] != UINT32_MAX)
				seen[ix->rank[c] / 8] |= (uint8_t)(1 << (ix->rank[c] % 8));
		}
		size_t total = 0, page = 0;
		for (size_t byte = 0; byte < ix->nsorted / 8 + 1; byte++) {
			if (!seen[byte])
				continue;
			for (int bit = 0; bit < 8; bit++) {
				if (!(seen[byte] & (1 << bit)))
					continue;
				uint32_t c = ix->sorted[byte * 8 + (size_t)bit];
				if (!ix->c[c].live)
					continue;
				if (total >= offset && page < limit)
					hits[page++] = c;
				total++;
			}
		}
		c360_buf_printf(out, "{\"total\":%zu,\"limit\":%zu,\"offset\":%zu,\"customers\":[", total,
				limit, offset);
		for (size_t i = 0; i < page; i++) {
			if (i)
				c360_buf_putc(out, ',');
			put_summary(ix, &ix->c[hits[i]], out);
		}
		rc = c360_buf_puts(out, "]}");
		goto out;
	}
	c360_buf_printf(out, "{\"total\":%zu,\"limit\":%zu,\"offset\":%zu,\"customers\":[", nh, limit,
			offset);
	for (size_t i = offset; i < nh && i < offset + limit; i++) {
		if (i > offset)
			c360_buf_putc(out, ',');
		put_summary(ix, &ix->c[hits[i]], out);
	}
	rc = c360_buf_puts(out, "]}");
out:
	pthread_rwlock_unlock(&ix->lock);
	free(hits);
	free(seen);
	return rc;
}

static const struct cust *cust_find(c360_index *ix, const char *email)
{
	uint32_t idx;
	if (!smap_get(&ix->by_email, email, &idx) || !ix->c[idx].live)
		return NULL;
	return &ix->c[idx];
}

static int order_date_desc(const void *a, const void *b, void *base)
{
	const struct order *o = base;
	const struct order *x = &o[*(const uint32_t *)a], *y = &o[*(const uint32_t *)b];
	int r = strcmp(y->date, x->date);
	return r ? r : strcmp(x->key, y->key);
}

c360_rc c360_index_orders(c360_index *ix, const char *email, char ***keys, size_t *n)
{
	*keys = NULL;
	*n = 0;
	c360_rc rc = C360_OK;
	pthread_rwlock_rdlock(&ix->lock);
	const struct cust *c = cust_find(ix, email);
	if (!c) {
		rc = C360_ERR_NOT_FOUND;
		goto out;
	}
	if (!c->has_online)
		goto out;
	uint32_t *slot = imap_slot(&ix->ocust_by_id, (uint64_t)c->online_id, false);
	if (!slot || !ix->oc[*slot].norders)
		goto out;
	const struct ocust *oc = &ix->oc[*slot];
	uint32_t *idx = malloc(oc->norders * sizeof *idx);
	char **k = calloc(oc->norders, sizeof *k);
	if (!idx || !k) {
		free(idx);
		free(k);
		rc = C360_ERR_NOMEM;
		goto out;
	}
	memcpy(idx, oc->orders, oc->norders * sizeof *idx);
	qsort_r(idx, oc->norders, sizeof *idx, order_date_desc, ix->o);
	for (size_t i = 0; i < oc->norders; i++)
		if (!(k[i] = strdup(ix->o[idx[i]].key)))
			rc = C360_ERR_NOMEM;
	free(idx);
	*keys = k;
	*n = oc->norders;
out:
	pthread_rwlock_unlock(&ix->lock);
	return rc;
}

void c360_index_keys_free(char **keys, size_t n)
{
	for (size_t i = 0; keys && i < n; i++)
		free(keys[i]);
	free(keys);
}

static void put_product_name(const struct product *p, struct c360_buf *out)
{
	if (p->name) {
		put_str(out, p->name);
	} else {
		char nm[40];
		snprintf(nm, sizeof nm, "product %lld", (long long)p->id);
		put_str(out, nm);
	}
}

struct cand {
	uint32_t prod;
	double score;
	uint32_t because;
	double best;
	uint32_t co;
};

static int cand_cmp(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return x->prod < y->prod ? -1 : x->prod > y->prod;
}

/* Item-to-item scores: for each product q the customer has not bought,
 * score(q) = sum over bought p of co(p,q) / sqrt(n(p) * n(q)) (cosine
 * similarity of the products' buyer sets); the reason is the bought p with
 * the largest term. */
c360_rc c360_index_recommend(c360_index *ix, const char *email, size_t n, struct c360_buf *out)
{
	c360_rc rc = C360_OK;
	struct cand *cands = NULL;
	int32_t *slotof = NULL;
	pthread_rwlock_rdlock(&ix->lock);
	const struct cust *c = cust_find(ix, email);
	if (!c) {
		rc = C360_ERR_NOT_FOUND;
		goto out;
	}
	const struct ocust *oc = NULL;
	if (c->has_online) {
		uint32_t *slot = imap_slot(&ix->ocust_by_id, (uint64_t)c->online_id, false);
		if (slot)
			oc = &ix->oc[*slot];
	}
	c360_buf_puts(out, "{\"email\":");
	put_str(out, c->email);
	c360_buf_puts(out, ",\"based_on\":[");
	size_t ncand = 0;
	if (oc) {
		for (size_t i = 0; i < oc->nprods; i++)
			c360_buf_printf(out, "%s%lld", i ? "," : "", (long long)ix->p[oc->prods[i].prod].id);
		cands = calloc(ix->np + 1, sizeof *cands);
		slotof = malloc((ix->np + 1) * sizeof *slotof);
		if (!cands || !slotof) {
			rc = C360_ERR_NOMEM;
			goto out;
		}
		memset(slotof, 0xff, (ix->np + 1) * sizeof *slotof);
		for (size_t i = 0; i < oc->nprods; i++)
			slotof[oc->prods[i].prod] = -2; /* already bought */
		for (size_t i = 0; i < oc->nprods; i++) {
			uint32_t p = oc->prods[i].prod;
			const struct product *pp = &ix->p[p];
			for (size_t k = 0; k < pp->nnbr; k++) {
				uint32_t q = pp->nbr[k];
				if (slotof[q] == -2)
					continue;
				uint32_t co = pair_get(ix, p, q);
				if (!co || !ix->p[q].customers || !pp->customers)
					continue;
				double term = co / sqrt((double)pp->customers * ix->p[q].customers);
				if (slotof[q] < 0) {
					slotof[q] = (int32_t)ncand;
					cands[ncand++] = (struct cand){q, 0, p, -1, 0};
				}
				struct cand *cd = &cands[slotof[q]];
				cd->score += term;
				if (term > cd->best) {
					cd->best = term;
					cd->because = p;
					cd->co = co;
				}
			}
		}
		qsort(cands, ncand, sizeof *cands, cand_cmp);
	}
	c360_buf_puts(out, "],\"recommendations\":[");
	for (size_t i = 0; i < ncand && i < n; i++) {
		const struct product *q = &ix->p[cands[i].prod], *p = &ix->p[cands[i].because];
		c360_buf_printf(out, "%s{\"product_id\":%lld,\"name\":", i ? "," : "", (long long)q->id);
		put_product_name(q, out);
		c360_buf_printf(out, ",\"score\":%.4f,\"customers\":%u,\"because\":%lld,\"because_name\":",
				cands[i].score, cands[i].co, (long long)p->id);
		put_product_name(p, out);
		char reason[200];
		if (p->name)
			snprintf(reason, sizeof reason, "because you bought %s", p->name);
		else
			snprintf(reason, sizeof reason, "because you bought product %lld", (long long)p->id);
		c360_buf_puts(out, ",\"reason\":");
		put_str(out, reason);
		c360_buf_putc(out, '}');
	}
	rc = c360_buf_puts(out, "]}");
out:
	pthread_rwlock_unlock(&ix->lock);
	free(cands);
	free(slotof);
	return rc;
}

static int month_cmp(const void *a, const void *b)
{
	return strcmp(((const struct month *)a)->ym, ((const struct month *)b)->ym);
}

static int prod_rev_desc(const void *a, const void *b, void *base)
{
	const struct product *p = base;
	const struct product *x = &p[*(const uint32_t *)a], *y = &p[*(const uint32_t *)b];
	if (x->revenue != y->revenue)
		return x->revenue > y->revenue ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

c360_rc c360_index_stats(c360_index *ix, size_t top, struct c360_buf *out)
{
	c360_rc rc = C360_OK;
	pthread_rwlock_rdlock(&ix->lock);
	struct month *ms = malloc((ix->nm + 1) * sizeof *ms);
	uint32_t *pidx = malloc((ix->np + 1) * sizeof *pidx);
	if (!ms || !pidx) {
		rc = C360_ERR_NOMEM;
		goto out;
	}
	c360_buf_printf(out, "{\"customers\":%llu,\"orders\":%llu,\"revenue\":%.2f,\"coverage\":{",
			(unsigned long long)ix->customers, (unsigned long long)ix->orders,
			ix->revenue);
	for (int s = 0; s < C360_SYSTEMS; s++)
		c360_buf_printf(out, "%s\"%s\":%llu", s ? "," : "", c360_index_systems[s],
				(unsigned long long)ix->per_system[s]);
	c360_buf_puts(out, "},\"overlaps\":[");
	bool first = true;
	for (int mask = 1; mask < (1 << C360_SYSTEMS); mask++) {
		c360_buf_printf(out, "%s{\"systems\":[", first ? "" : ",");
		bool f2 = true;
		for (int s = 0; s < C360_SYSTEMS; s++)
			if (mask & (1 << s)) {
				c360_buf_printf(out, "%s\"%s\"", f2 ? "" : ",", c360_index_systems[s]);
				f2 = false;
			}
		c360_buf_printf(out, "],\"customers\":%llu}", (unsigned long long)ix->per_mask[mask]);
		first = false;
	}
	c360_buf_printf(out, "],\"no_source\":%llu", (unsigned long long)ix->per_mask[0]);
	c360_buf_printf(out, ",\"loyalty_points\":{\"members\":%llu,\"average\":%.1f,\"buckets\":[",
			(unsigned long long)ix->members,
			ix->members ? (double)ix->points_sum / (double)ix->members : 0.0);
	for (int b = 0; b < NPOINT_BUCKETS; b++) {
		c360_buf_printf(out, "%s{\"from\":%lld,\"to\":", b ? "," : "", (long long)point_edges[b]);
		if (b + 1 < NPOINT_BUCKETS)
			c360_buf_printf(out, "%lld", (long long)point_edges[b + 1] - 1);
		else
			c360_buf_puts(out, "null");
		c360_buf_printf(out, ",\"customers\":%llu}", (unsigned long long)ix->point_hist[b]);
	}
	c360_buf_puts(out, "]},\"months\":[");
	size_t nm = 0;
	for (size_t i = 0; i < ix->nm; i++)
		if (ix->m[i].orders)
			ms[nm++] = ix->m[i];
	qsort(ms, nm, sizeof *ms, month_cmp);
	for (size_t i = 0; i < nm; i++)
		c360_buf_printf(out, "%s{\"month\":\"%s\",\"orders\":%llu,\"revenue\":%.2f}", i ? "," : "",
				ms[i].ym, (unsigned long long)ms[i].orders, ms[i].revenue);
	c360_buf_puts(out, "],\"top_products\":[");
	size_t np = 0;
	for (size_t i = 0; i < ix->np; i++)
		if (ix->p[i].orders)
			pidx[np++] = (uint32_t)i;
	qsort_r(pidx, np, sizeof *pidx, prod_rev_desc, ix->p);
	for (size_t i = 0; i < np && i < top; i++) {
		const struct product *p = &ix->p[pidx[i]];
		c360_buf_printf(out, "%s{\"product_id\":%lld,\"name\":", i ? "," : "", (long long)p->id);
		put_product_name(p, out);
		c360_buf_printf(out, ",\"revenue\":%.2f,\"quantity\":%.0f,\"orders\":%u,\"customers\":%u}",
				p->revenue, p->quantity, p->orders, p->customers);
	}
	rc = c360_buf_printf(out, "],\"products\":%zu}", np);
out:
	pthread_rwlock_unlock(&ix->lock);
	free(ms);
	free(pidx);
	return rc;
}

static uint64_t fnv64(uint64_t h, uint64_t v)
{
	for (int i = 0; i < 8; i++) {
		h ^= (v >> (i * 8)) & 0xff;
		h *= 1099511628211ull;
	}
	return h;
}

c360_rc c360_index_customer360(c360_index *ix, const char *email, size_t max_orders,
			       struct c360_buf *out, uint64_t *etag)
{
	c360_rc rc = C360_OK;
	uint32_t idx_small[64];
	uint32_t *idx = idx_small;
	pthread_rwlock_rdlock(&ix->lock);
	const struct cust *c = cust_find(ix, email);
	if (!c || !c->json) {
		rc = C360_ERR_NOT_FOUND;
		goto out;
	}
	const struct ocust *oc = NULL;
	if (c->has_online) {
		uint32_t *slot = imap_slot(&ix->ocust_by_id, (uint64_t)c->online_id, false);
		if (slot)
			oc = &ix->oc[*slot];
	}
	size_t n = oc ? oc->norders : 0;
	if (n > 64 && !(idx = malloc(n * sizeof *idx))) {
		rc = C360_ERR_NOMEM;
		goto out;
	}
	if (n) {
		memcpy(idx, oc->orders, n * sizeof *idx);
		if (n > 1)
			qsort_r(idx, n, sizeof *idx, order_date_desc, ix->o);
	}
	uint64_t tag = fnv64(1469598103934665603ull, c->cas);
	c360_buf_puts(out, "{\"email\":");
	put_str(out, c->email);
	c360_buf_printf(out, ",\"cas\":\"%llu\",\"customer\":", (unsigned long long)c->cas);
	c360_buf_append(out, c->json, c->json_len);
	c360_buf_printf(out, ",\"orders_total\":%zu,\"orders\":[", n);
	for (size_t i = 0; i < n && i < max_orders; i++) {
		const struct order *o = &ix->o[idx[i]];
		tag = fnv64(tag, o->cas);
		c360_buf_puts(out, i ? ",{\"key\":" : "{\"key\":");
		put_str(out, o->key);
		c360_buf_puts(out, ",\"doc\":");
		c360_buf_append(out, o->json ? o->json : "null", o->json ? o->json_len : 4);
		c360_buf_putc(out, '}');
	}
	/* names of the products in the orders shown, for display */
	c360_buf_puts(out, "],\"products\":{");
	bool firstp = true;
	for (size_t i = 0; i < n && i < max_orders; i++) {
		const struct order *o = &ix->o[idx[i]];
		for (uint32_t k = 0; k < o->nitems; k++) {
			const struct product *p = &ix->p[o->prods[k]];
			bool dup = false;
			for (size_t j = 0; j <= i && !dup; j++) {
				const struct order *o2 = &ix->o[idx[j]];
				for (uint32_t m = 0; m < (j == i ? k : o2->nitems) && !dup; m++)
					dup = o2->prods[m] == o->prods[k];
			}
			if (dup || !p->name)
				continue;
			c360_buf_printf(out, "%s\"%lld\":", firstp ? "" : ",", (long long)p->id);
			put_str(out, p->name);
			firstp = false;
		}
	}
	*etag = fnv64(tag, n);
	rc = c360_buf_puts(out, "}}\n");
out:
	pthread_rwlock_unlock(&ix->lock);
	if (idx != idx_small)
		free(idx);
	return rc;
}
