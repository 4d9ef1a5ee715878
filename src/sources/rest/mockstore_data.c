/* The mock online store's data set: the seed's example, a generator
 * deterministic in (seed, customer), a JSON lines loader, and hash indexes. */
#include "sources/rest/mockstore_data.h"

#include <ctype.h>
#include <stdbool.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sources/rest/mockstore.h"
#include "core/banned.h"


static uint64_t hash_bytes(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ull;
	}
	return h ^ (h >> 29);
}

static uint64_t hash_id(int64_t id)
{
	uint64_t x = (uint64_t)id * 0x9e3779b97f4a7c15ull;
	return x ^ (x >> 31);
}

c360_rc ms_json_str(struct c360_buf *b, const char *s)
{
	c360_rc rc = c360_buf_putc(b, '"');
	for (; !rc && *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\') {
			char e[2] = {'\\', (char)ch};
			rc = c360_buf_append(b, e, 2);
		} else if (ch < 0x20) {
			rc = c360_buf_printf(b, "\\u%04x", ch);
		} else {
			rc = c360_buf_putc(b, (char)ch);
		}
	}
	if (!rc)
		rc = c360_buf_putc(b, '"');
	return rc;
}

c360_rc ms_data_init(struct ms_data *d)
{
	memset(d, 0, sizeof *d);
	d->next_order = 1;
	d->hcap = 1024;
	d->pcap = 256;
	d->by_email = calloc(d->hcap, sizeof *d->by_email);
	d->by_id = calloc(d->hcap, sizeof *d->by_id);
	d->by_prod = calloc(d->pcap, sizeof *d->by_prod);
	if (!d->by_email || !d->by_id || !d->by_prod)
		return C360_ERR_NOMEM;
	return C360_OK;
}

void ms_data_release(struct ms_data *d)
{
	for (size_t i = 0; i < d->ncust; i++) {
		free(d->cust[i].email);
		free(d->cust[i].details);
		c360_buf_release(&d->cust[i].orders);
	}
	for (size_t i = 0; i < d->nprod; i++)
		free(d->prod[i].json);
	free(d->cust);
	free(d->prod);
	free(d->by_email);
	free(d->by_id);
	free(d->by_prod);
	memset(d, 0, sizeof *d);
}

const struct ms_customer *ms_data_by_email(const struct ms_data *d, const char *email)
{
	size_t n = strlen(email), mask = d->hcap - 1;
	for (size_t i = hash_bytes(email, n) & mask;; i = (i + 1) & mask) {
		uint32_t v = d->by_email[i];
		if (!v)
			return NULL;
		if (!strcmp(d->cust[v - 1].email, email))
			return &d->cust[v - 1];
	}
}

const struct ms_customer *ms_data_by_id(const struct ms_data *d, int64_t id)
{
	size_t mask = d->hcap - 1;
	for (size_t i = hash_id(id) & mask;; i = (i + 1) & mask) {
		uint32_t v = d->by_id[i];
		if (!v)
			return NULL;
		if (d->cust[v - 1].id == id)
			return &d->cust[v - 1];
	}
}

const struct ms_product *ms_data_product(const struct ms_data *d, int64_t id)
{
	size_t mask = d->pcap - 1;
	for (size_t i = hash_id(id) & mask;; i = (i + 1) & mask) {
		uint32_t v = d->by_prod[i];
		if (!v)
			return NULL;
		if (d->prod[v - 1].id == id)
			return &d->prod[v - 1];
	}
}

static void index_customer(struct ms_data *d, size_t idx)
{
	size_t mask = d->hcap - 1;
	const struct ms_customer *c = &d->cust[idx];
	size_t i = hash_bytes(c->email, strlen(c->email)) & mask;
	while (d->by_email[i])
		i = (i + 1) & mask;
	d->by_email[i] = (uint32_t)idx + 1;
	i = hash_id(c->id) & mask;
	while (d->by_id[i])
		i = (i + 1) & mask;
	d->by_id[i] = (uint32_t)idx + 1;
}

static c360_rc grow_customers(struct ms_data *d)
{
	if (d->ncust == d->capcust) {
		size_t nc = d->capcust ? d->capcust * 2 : 256;
		struct ms_customer *p = realloc(d->cust, nc * sizeof *p);
		if (!p)
			return C360_ERR_NOMEM;
		d->cust = p;
		d->capcust = nc;
	}
	if ((d->ncust + 1) * 2 > d->hcap) {
		size_t nh = d->hcap * 2;
		uint32_t *e = calloc(nh, sizeof *e), *i = calloc(nh, sizeof *i);
		if (!e || !i) {
			free(e);
			free(i);
			return C360_ERR_NOMEM;
		}
		free(d->by_email);
		free(d->by_id);
		d->by_email = e;
		d->by_id = i;
		d->hcap = nh;
		for (size_t k = 0; k < d->ncust; k++)
			index_customer(d, k);
	}
	return C360_OK;
}

c360_rc ms_data_add_customer_raw(struct ms_data *d, int64_t id, const char *email,
				 const char *details, size_t len)
{
	if (d->finished)
		return C360_ERR_STATE;
	if (ms_data_by_email(d, email) || ms_data_by_id(d, id))
		return C360_ERR_EXISTS;
	if (d->ncust >= UINT32_MAX - 1)
		return C360_ERR_LIMIT;
	c360_rc rc = grow_customers(d);
	if (rc)
		return rc;
	struct ms_customer *c = &d->cust[d->ncust];
	memset(c, 0, sizeof *c);
	c->id = id;
	c->email = strdup(email);
	c->details = malloc(len + 1);
	if (!c->email || !c->details) {
		free(c->email);
		free(c->details);
		return C360_ERR_NOMEM;
	}
	memcpy(c->details, details, len);
	c->details[len] = '\0';
	c->details_len = len;
	c360_buf_init(&c->orders, 0);
	index_customer(d, d->ncust);
	d->ncust++;
	return C360_OK;
}

static uint64_t id_hash(enum ms_id_kind kind, int64_t id)
{
	uint64_t z = (uint64_t)id * 0x9e3779b97f4a7c15ull + (uint64_t)kind * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* A version-4-shaped UUID: 80 bits of hash(kind, id), then the id's low 48
 * bits, so that the id can be read back. */
static void uuid_of(enum ms_id_kind kind, int64_t id, char out[37])
{
	uint64_t h = id_hash(kind, id);
	snprintf(out, 37, "%08x-%04x-4%03x-%04x-%012" PRIx64, (unsigned)(h >> 32),
		 (unsigned)(h >> 16) & 0xffffu, (unsigned)h & 0xfffu,
		 0x8000u | ((unsigned)(h >> 48) & 0x3fffu), (uint64_t)id & (uint64_t)0xffffffffffff);
}

void ms_id_json(const struct ms_data *d, enum ms_id_kind kind, int64_t id, char *out)
{
	if (d->id_style == C360_MOCKSTORE_ID_UUID) {
		char u[37];
		uuid_of(kind, id, u);
		snprintf(out, MS_ID_TEXT, "\"%s\"", u);
	} else if (d->id_style == C360_MOCKSTORE_ID_STRING) {
		snprintf(out, MS_ID_TEXT, "\"%" PRId64 "\"", id);
	} else {
		snprintf(out, MS_ID_TEXT, "%" PRId64, id);
	}
}

bool ms_id_parse(const struct ms_data *d, enum ms_id_kind kind, const char *s, int64_t *out)
{
	if (!s || !*s)
		return false;
	if (d->id_style == C360_MOCKSTORE_ID_UUID) {
		char u[37];
		if (strlen(s) != 36)
			return false;
		char *end;
		unsigned long long low = strtoull(s + 24, &end, 16);
		if (*end)
			return false;
		uuid_of(kind, (int64_t)low, u);
		if (strcasecmp(u, s))
			return false;
		*out = (int64_t)low;
		return true;
	}
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (*end || errno)
		return false;
	*out = v;
	return true;
}

c360_rc ms_data_add_customer(struct ms_data *d, int64_t id, const char *name, const char *email,
			     const char *password)
{
	struct c360_buf b;
	c360_buf_init(&b, 1 << 16);
	char idj[MS_ID_TEXT];
	ms_id_json(d, MS_ID_CUSTOMER, id, idj);
	c360_rc rc = c360_buf_printf(&b, "{\"Id\":%s,\"Name\":", idj);
	if (!rc)
		rc = ms_json_str(&b, name);
	if (!rc)
		rc = c360_buf_puts(&b, ",\"Email\":");
	if (!rc)
		rc = ms_json_str(&b, email);
	if (!rc)
		rc = c360_buf_puts(&b, ",\"Password\":");
	if (!rc)
		rc = ms_json_str(&b, password);
	if (!rc)
		rc = c360_buf_putc(&b, '}');
	if (!rc)
		rc = ms_data_add_customer_raw(d, id, email, b.data, b.len);
	c360_buf_release(&b);
	return rc;
}

c360_rc ms_data_add_order(struct ms_data *d, int64_t customer_id, const char *json, size_t len)
{
	if (d->finished)
		return C360_ERR_STATE;
	struct ms_customer *c = (struct ms_customer *)ms_data_by_id(d, customer_id);
	if (!c)
		return C360_ERR_NOT_FOUND;
	c360_rc rc = c360_buf_putc(&c->orders, c->norders ? ',' : '[');
	if (!rc)
		rc = c360_buf_append(&c->orders, json, len);
	if (!rc)
		c->norders++;
	return rc;
}

c360_rc ms_data_add_product(struct ms_data *d, int64_t id, const char *json, size_t len)
{
	if (d->finished)
		return C360_ERR_STATE;
	const struct ms_product *old = ms_data_product(d, id);
	if (old) { /* a later definition replaces the earlier (e.g. a generated one) */
		char *copy = malloc(len + 1);
		if (!copy)
			return C360_ERR_NOMEM;
		memcpy(copy, json, len);
		copy[len] = '\0';
		struct ms_product *p = &d->prod[old - d->prod];
		free(p->json);
		p->json = copy;
		p->len = len;
		return C360_OK;
	}
	if (d->nprod == d->capprod) {
		size_t nc = d->capprod ? d->capprod * 2 : 64;
		struct ms_product *p = realloc(d->prod, nc * sizeof *p);
		if (!p)
			return C360_ERR_NOMEM;
		d->prod = p;
		d->capprod = nc;
	}
	if ((d->nprod + 1) * 2 > d->pcap) {
		size_t np = d->pcap * 2;
		uint32_t *t = calloc(np, sizeof *t);
		if (!t)
			return C360_ERR_NOMEM;
		free(d->by_prod);
		d->by_prod = t;
		d->pcap = np;
		for (size_t k = 0; k < d->nprod; k++) {
			size_t i = hash_id(d->prod[k].id) & (np - 1);
			while (t[i])
				i = (i + 1) & (np - 1);
			t[i] = (uint32_t)k + 1;
		}
	}
	char *copy = malloc(len + 1);
	if (!copy)
		return C360_ERR_NOMEM;
	memcpy(copy, json, len);
	copy[len] = '\0';
	d->prod[d->nprod] = (struct ms_product){id, copy, len};
	size_t i = hash_id(id) & (d->pcap - 1);
	while (d->by_prod[i])
		i = (i + 1) & (d->pcap - 1);
	d->by_prod[i] = (uint32_t)d->nprod + 1;
	d->nprod++;
	return C360_OK;
}

/* The seed's worked example, byte for byte in the seed's field order (with
 * number ids; another id style writes its ids instead). */
c360_rc ms_data_seed_example(struct ms_data *d)
{
	char c1[MS_ID_TEXT], o1[MS_ID_TEXT], o2[MS_ID_TEXT], p[6][MS_ID_TEXT];
	static const int64_t pids[6] = {200, 400, 410, 300, 110, 100};
	ms_id_json(d, MS_ID_CUSTOMER, 1, c1);
	ms_id_json(d, MS_ID_ORDER, 1, o1);
	ms_id_json(d, MS_ID_ORDER, 2, o2);
	for (int i = 0; i < 6; i++)
		ms_id_json(d, MS_ID_PRODUCT, pids[i], p[i]);
	char b1[1024], b2[512];
	int n1 = snprintf(b1, sizeof b1,
		"{\"OrderId\":%s,\"PurchaseDate\":\"2019-04-25T15:15:5800838522\",\"CustomerId\":%s,"
		"\"Items\":[{\"OrderId\":%s,\"ProductId\":%s,\"Quantity\":2,\"Price\":87.81},"
		"{\"OrderId\":%s,\"ProductId\":%s,\"Quantity\":4,\"Price\":129.86},"
		"{\"OrderId\":%s,\"ProductId\":%s,\"Quantity\":1,\"Price\":78.64},"
		"{\"OrderId\":%s,\"ProductId\":%s,\"Quantity\":2,\"Price\":25.03},"
		"{\"OrderId\":%s,\"ProductId\":%s,\"Quantity\":2,\"Price\":191.92}]}",
		o1, c1, o1, p[0], o1, p[1], o1, p[2], o1, p[3], o1, p[4]);
	int n2 = snprintf(b2, sizeof b2,
		"{\"OrderId\":%s,\"PurchaseDate\":\"2019-04-13T16:15:5801361975\",\"CustomerId\":%s,"
		"\"Items\":[{\"OrderId\":%s,\"ProductId\":%s,\"Quantity\":2,\"Price\":219.74}]}",
		o2, c1, o2, p[5]);
	if (n1 <= 0 || (size_t)n1 >= sizeof b1 || n2 <= 0 || (size_t)n2 >= sizeof b2)
		return C360_ERR_INTERNAL;
	c360_rc rc = ms_data_add_customer(d, 1, "Matthew Groves", "matthew.groves@couchbase.com",
					  "edzchzmatv5");
	if (!rc)
		rc = ms_data_add_order(d, 1, b1, (size_t)n1);
	if (!rc)
		rc = ms_data_add_order(d, 1, b2, (size_t)n2);
	if (!rc && d->next_order < 3)
		d->next_order = 3;
	return rc;
}

static const char *const FIRST[] = {
	"Gia", "Matthew", "Olivia", "Liam", "Emma", "Noah", "Ava", "Elijah", "Sophia", "James",
	"Isabella", "Lucas", "Mia", "Mason", "Amelia", "Ethan", "Harper", "Logan", "Evelyn", "Aiden",
	"Zoe", "Jack", "Nora", "Owen", "Chloe", "Leo", "Ruby", "Finn", "Ivy", "Hugo", "Maya", "Theo"};
static const char *const LAST[] = {
	"Kutch", "Groves", "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller",
	"Davis", "Rodriguez", "Martinez", "Hernandez", "Lopez", "Wilson", "Anderson", "Thomas",
	"Taylor", "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris",
	"Clark", "Lewis", "Walker", "Young", "King", "Wright"};
static const char *const DOMAINS[] = {"oconnell.biz", "example.com", "mail.test",
				      "shop.example.org", "inbox.example.net"};
static const char *const CATEGORIES[] = {"kitchen", "garden", "toys", "books", "outdoor",
					 "electronics", "clothing", "grocery"};
static const char *const NOUNS[] = {"Kettle", "Lamp", "Chair", "Blender", "Jacket", "Tent",
				    "Puzzle", "Novel", "Speaker", "Backpack", "Mug", "Rake"};

static uint64_t next_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

#define PICK(arr, r) arr[(r) % (sizeof arr / sizeof *arr)]

static void lower_copy(char *dst, size_t cap, const char *src)
{
	size_t i = 0;
	for (; src[i] && i + 1 < cap; i++)
		dst[i] = (char)tolower((unsigned char)src[i]);
	dst[i] = '\0';
}

c360_rc ms_data_generate(struct ms_data *d, uint64_t customers, uint64_t products,
			 int max_orders, uint64_t seed)
{
	c360_rc rc = C360_OK;
	/* products 100, 110, …: the seed's ids are in this range */
	for (uint64_t k = 0; k < products && !rc; k++) {
		int64_t pid = 100 + (int64_t)k * 10;
		if (ms_data_product(d, pid))
			continue;
		uint64_t s = seed ^ ((uint64_t)pid << 20);
		uint64_t r = next_rand(&s);
		unsigned cents = 100 + (unsigned)(next_rand(&s) % 25000);
		char buf[256], pj[MS_ID_TEXT];
		ms_id_json(d, MS_ID_PRODUCT, pid, pj);
		int n = snprintf(buf, sizeof buf,
				 "{\"ProductId\":%s,\"Name\":\"%s %" PRId64
				 "\",\"Category\":\"%s\",\"Price\":%u.%02u}",
				 pj, PICK(NOUNS, r), pid, PICK(CATEGORIES, r >> 8), cents / 100,
				 cents % 100);
		rc = ms_data_add_product(d, pid, buf, (size_t)n);
	}
	int64_t id = 1;
	for (size_t i = 0; i < d->ncust; i++)
		if (d->cust[i].id >= id)
			id = d->cust[i].id + 1;
	struct c360_buf ob;
	c360_buf_init(&ob, 1 << 20);
	for (uint64_t k = 0; k < customers && !rc; k++, id++) {
		uint64_t s = seed * 0x2545f4914f6cdd1dull ^ (uint64_t)id;
		uint64_t r = next_rand(&s);
		const char *first = PICK(FIRST, r), *last = PICK(LAST, r >> 16);
		char name[64], email[128], pass[16], lf[32], ll[32];
		snprintf(name, sizeof name, "%s %s", first, last);
		lower_copy(lf, sizeof lf, first);
		lower_copy(ll, sizeof ll, last);
		snprintf(email, sizeof email, "%s.%s.%" PRId64 "@%s", lf, ll, id,
			 PICK(DOMAINS, r >> 32));
		static const char alnum[] = "abcdefghijklmnopqrstuvwxyz0123456789";
		for (int j = 0; j < 11; j++)
			pass[j] = alnum[next_rand(&s) % 36];
		pass[11] = '\0';
		rc = ms_data_add_customer(d, id, name, email, pass);
		int norders = max_orders > 0 ? (int)(next_rand(&s) % (uint64_t)(max_orders + 1)) : 0;
		for (int o = 0; o < norders && !rc; o++) {
			int64_t oid = d->next_order++;
			uint64_t t = next_rand(&s);
			char oj[MS_ID_TEXT], cj[MS_ID_TEXT];
			ms_id_json(d, MS_ID_ORDER, oid, oj);
			ms_id_json(d, MS_ID_CUSTOMER, id, cj);
			c360_buf_reset(&ob);
			rc = c360_buf_printf(&ob,
					     "{\"OrderId\":%s,\"PurchaseDate\":\"2019-%02u-%02uT"
					     "%02u:%02u:%02u%08u\",\"CustomerId\":%s,\"Items\":[",
					     oj, (unsigned)(t % 12) + 1, (unsigned)(t >> 8) % 28 + 1,
					     (unsigned)(t >> 16) % 24, (unsigned)(t >> 24) % 60,
					     (unsigned)(t >> 32) % 60, (unsigned)(t >> 40) % 100000000u,
					     cj);
			int nitems = 1 + (int)(next_rand(&s) % 5);
			for (int it = 0; it < nitems && !rc; it++) {
				uint64_t u = next_rand(&s);
				int64_t pid = 100 + (int64_t)(u % (products ? products : 1)) * 10;
				unsigned cents = 100 + (unsigned)((u >> 20) % 25000);
				char pj[MS_ID_TEXT];
				ms_id_json(d, MS_ID_PRODUCT, pid, pj);
				rc = c360_buf_printf(&ob,
						     "%s{\"OrderId\":%s,\"ProductId\":%s"
						     ",\"Quantity\":%u,\"Price\":%u.%02u}",
						     it ? "," : "", oj, pj, (unsigned)(u >> 40) % 5 + 1,
						     cents / 100, cents % 100);
			}
			if (!rc)
				rc = c360_buf_puts(&ob, "]}");
			if (!rc)
				rc = ms_data_add_order(d, id, ob.data, ob.len);
		}
	}
	c360_buf_release(&ob);
	return rc;
}

c360_rc ms_data_finish(struct ms_data *d)
{
	if (d->finished)
		return C360_OK;
	for (size_t i = 0; i < d->ncust; i++) {
		struct ms_customer *c = &d->cust[i];
		if (c->norders) {
			c360_rc rc = c360_buf_putc(&c->orders, ']');
			if (rc)
				return rc;
		}
	}
	d->finished = 1;
	return C360_OK;
}

/* Orders are kept as one array text per customer; the dump splits it at
 * top-level commas (strings are skipped, so commas inside them are safe). */
c360_rc ms_data_dump(const struct ms_data *d, struct c360_buf *out)
{
	c360_rc rc = C360_OK;
	for (size_t i = 0; i < d->nprod && !rc; i++) {
		rc = c360_buf_append(out, d->prod[i].json, d->prod[i].len);
		if (!rc)
			rc = c360_buf_putc(out, '\n');
	}
	for (size_t i = 0; i < d->ncust && !rc; i++) {
		rc = c360_buf_append(out, d->cust[i].details, d->cust[i].details_len);
		if (!rc)
			rc = c360_buf_putc(out, '\n');
	}
	for (size_t i = 0; i < d->ncust && !rc; i++) {
		const struct c360_buf *o = &d->cust[i].orders;
		if (!d->cust[i].norders)
			continue;
		int depth = 0;
		bool in_str = false;
		size_t start = 1;
		for (size_t k = 1; k < o->len && !rc; k++) {
			char c = o->data[k];
			if (in_str) {
				if (c == '\\')
					k++;
				else if (c == '"')
					in_str = false;
				continue;
			}
			if (c == '"')
				in_str = true;
			else if (c == '{' || c == '[')
				depth++;
			else if ((c == '}' || c == ']') && depth > 0)
				depth--;
			else if (depth == 0 && (c == ',' || c == ']')) {
				rc = c360_buf_append(out, o->data + start, k - start);
				if (!rc)
					rc = c360_buf_putc(out, '\n');
				start = k + 1;
			}
		}
		if (!rc && !d->finished && start < o->len) { /* not closed yet */
			rc = c360_buf_append(out, o->data + start, o->len - start);
			if (!rc)
				rc = c360_buf_putc(out, '\n');
		}
	}
	return rc;
}
