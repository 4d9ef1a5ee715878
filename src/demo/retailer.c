/* Deterministic synthetic retailer for the demo: every attribute of person i
 * is drawn from a counter-based generator keyed by (seed, i, field), so any
 * person, order or product can be recomputed at any time without state. */
#include "demo/retailer.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "core/banned.h"

static const char *const FIRST[] = {
	"Matthew", "Gia", "Olivia", "Liam", "Emma", "Noah", "Ava", "Elijah", "Sophia", "Lucas",
	"Mia", "Mason", "Amelia", "Ethan", "Harper", "Logan", "Evelyn", "James", "Abigail",
	"Aiden", "Emily", "Jackson", "Ella", "Sebastian", "Scarlett", "Mateo", "Grace", "Leo",
	"Chloe", "Jack", "Zoe", "Owen", "Nora", "Henry", "Lily", "Wyatt", "Hannah", "Caleb",
	"Layla", "Isaac"};
static const char *const LAST[] = {
	"Groves", "Kutch", "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller",
	"Davis", "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson",
	"Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White",
	"Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen",
	"King", "Wright", "Scott", "Torres", "Nguyen"};
static const char *const DOMAIN[] = {"example.com", "mail.test", "shop.example", "oconnell.biz",
				     "post.example", "inbox.test"};
static const char *const STREET[] = {"Sporer Curve", "Main Street", "Oak Avenue", "Maple Drive",
				     "Cedar Lane", "Elm Court", "Pine Road", "Lakeview Terrace",
				     "Hillcrest Way", "River Bend"};
static const char *const CITY[] = {"West Evertchester", "Springfield", "Riverton", "Fairview",
				   "Kingsport", "Madison", "Georgetown", "Salem", "Clinton",
				   "Franklin"};
static const char *const STATE[] = {"NH", "MA", "NY", "CA", "TX", "OH", "WA", "FL", "IL", "CO"};
static const char *const CATEGORY[] = {"kitchen", "garden", "toys", "books", "sports", "audio",
				       "bakery", "coffee"};
static const char *const ADJ[] = {"Classic", "Deluxe", "Compact", "Organic", "Smart", "Family",
				  "Travel", "Premium", "Eco", "Mini"};

#define N(a) (sizeof(a) / sizeof *(a))

/* splitmix64 finaliser: a strong 64-bit mix of (seed, i, field). */
static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static uint64_t draw(const struct c360_retailer *r, uint64_t i, uint64_t field)
{
	return mix(mix(r->seed ^ (field << 48)) ^ i);
}

static bool chance(const struct c360_retailer *r, uint64_t i, uint64_t field, unsigned pct)
{
	return draw(r, i, field) % 100 < pct;
}

void c360_retailer_init(struct c360_retailer *r, uint32_t customers)
{
	r->customers = customers ? customers : 10000;
	r->seed = 360;
	r->p_home = 64;    /* + half of those in neither: about 72% */
	r->p_loyalty = 54; /* + the other half: about 62% */
	r->p_online = 50;
	r->p_variant = 2;
	r->p_update = 10;
	r->p_delete = 3;
	r->products = 240;
	r->max_orders = 4;
}

/* An email as a system spells it: mostly canonical, sometimes with another
 * case or surrounding spaces (the identity-normalisation cases). */
static void spell(const struct c360_retailer *r, uint32_t i, uint64_t field, const char *email,
		  char *out, size_t len)
{
	if (!chance(r, i, field, r->p_variant)) {
		snprintf(out, len, "%s", email);
		return;
	}
	uint64_t v = draw(r, i, field + 1);
	if (v % 2 == 0) {
		snprintf(out, len, "  %s ", email);
		return;
	}
	/* capitalise the first letter and the letter after each '.' before '@' */
	snprintf(out, len, "%s", email);
	bool up = true;
	for (char *c = out; *c && *c != '@'; c++) {
		if (up)
			*c = (char)toupper((unsigned char)*c);
		up = (*c == '.');
	}
}

static void password(const struct c360_retailer *r, uint32_t i, uint64_t field, char *out)
{
	static const char alnum[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	uint64_t v = draw(r, i, field);
	for (int k = 0; k < 11; k++) {
		out[k] = alnum[v % 36];
		v /= 36;
		if (k == 5)
			v = draw(r, i, field + 7);
	}
	out[11] = '\0';
}

void c360_retailer_person(const struct c360_retailer *r, uint32_t i, struct c360_person *p)
{
	memset(p, 0, sizeof *p);
	p->index = i;
	snprintf(p->first, sizeof p->first, "%s", FIRST[draw(r, i, 1) % N(FIRST)]);
	snprintf(p->last, sizeof p->last, "%s", LAST[draw(r, i, 2) % N(LAST)]);
	char lf[24], ll[24];
	size_t k;
	for (k = 0; p->first[k]; k++)
		lf[k] = (char)tolower((unsigned char)p->first[k]);
	lf[k] = '\0';
	for (k = 0; p->last[k]; k++)
		ll[k] = (char)tolower((unsigned char)p->last[k]);
	ll[k] = '\0';
	snprintf(p->email, sizeof p->email, "%s.%s.%u@%s", lf, ll, i, DOMAIN[draw(r, i, 3) % N(DOMAIN)]);
	snprintf(p->address1, sizeof p->address1, "%u %s", (unsigned)(draw(r, i, 4) % 9000 + 10),
		 STREET[draw(r, i, 5) % N(STREET)]);
	if (chance(r, i, 6, 40))
		snprintf(p->address2, sizeof p->address2, "Suite %u", (unsigned)(draw(r, i, 7) % 900 + 100));
	unsigned c = (unsigned)(draw(r, i, 8) % N(CITY));
	snprintf(p->city, sizeof p->city, "%s", CITY[c]);
	snprintf(p->state, sizeof p->state, "%s", STATE[c]);
	snprintf(p->zipcode, sizeof p->zipcode, "%05u", (unsigned)(draw(r, i, 9) % 99999));
	uint64_t ph = draw(r, i, 10);
	snprintf(p->phone, sizeof p->phone, "%03u.%03u.%04u", (unsigned)(ph % 800 + 200),
		 (unsigned)(ph / 1000 % 1000), (unsigned)(ph / 1000000 % 10000));

	/* Everyone is in home delivery or loyalty (or both): the online store can
	 * only be asked about an email c360 has seen, so a person known only to
	 * the online store could never be found. Those in neither draw get one of
	 * the two; online membership is independent. */
	p->in_home = chance(r, i, 20, r->p_home);
	p->in_loyalty = chance(r, i, 21, r->p_loyalty);
	p->in_online = chance(r, i, 22, r->p_online);
	if (!p->in_home && !p->in_loyalty) {
		if (draw(r, i, 23) % 2)
			p->in_home = true;
		else
			p->in_loyalty = true;
	}
	if (p->in_home) {
		p->home_id = 1001 + i;
		spell(r, i, 30, p->email, p->home_email, sizeof p->home_email);
		password(r, i, 32, p->home_pass);
		p->home_updated = chance(r, i, 33, r->p_update);
		if (p->home_updated) {
			snprintf(p->new_address1, sizeof p->new_address1, "%u %s",
				 (unsigned)(draw(r, i, 34) % 9000 + 10),
				 STREET[draw(r, i, 35) % N(STREET)]);
			uint64_t np = draw(r, i, 36);
			snprintf(p->new_phone, sizeof p->new_phone, "%03u.%03u.%04u",
				 (unsigned)(np % 800 + 200), (unsigned)(np / 1000 % 1000),
				 (unsigned)(np / 1000000 % 10000));
		}
		/* deletes only for people the loyalty programme still knows, so the
		 * person stays and the check sees the home_delivery xref go */
		p->home_deleted = p->in_loyalty && chance(r, i, 37, r->p_delete);
	}
	if (p->in_loyalty) {
		p->loyalty_id = 1 + i;
		spell(r, i, 40, p->email, p->loyalty_email, sizeof p->loyalty_email);
		password(r, i, 42, p->loyalty_pass);
		p->points = (unsigned)(draw(r, i, 43) % 5000);
	}
	if (p->in_online) {
		p->online_id = i + 1;
		/* the online store is asked by email, so it knows the person under
		 * the spelling c360 asks with; variants come from the other two */
		snprintf(p->online_email, sizeof p->online_email, "%s", p->email);
		password(r, i, 52, p->online_pass);
		p->orders = r->max_orders ? (unsigned)(draw(r, i, 53) % (r->max_orders + 1)) : 0;
	}
}

uint32_t c360_retailer_person_of_online_id(const struct c360_retailer *r, uint32_t id)
{
	if (id == 0 || id > r->customers)
		return UINT32_MAX;
	struct c360_person p;
	c360_retailer_person(r, id - 1, &p);
	return p.in_online ? id - 1 : UINT32_MAX;
}

void c360_retailer_order(const struct c360_retailer *r, const struct c360_person *p, unsigned k,
			 struct c360_order *o)
{
	memset(o, 0, sizeof *o);
	uint64_t key = (uint64_t)p->index * 16 + k;
	o->order_id = key + 1;
	o->customer_id = p->online_id;
	uint64_t d = draw(r, key, 60);
	snprintf(o->purchase_date, sizeof o->purchase_date, "%04u-%02u-%02uT%02u:%02u:%02u",
		 (unsigned)(2025 + d % 2), (unsigned)(d / 2 % 12 + 1), (unsigned)(d / 24 % 28 + 1),
		 (unsigned)(d / 672 % 24), (unsigned)(d / 16128 % 60), (unsigned)(d / 967680 % 60));
	/* each person has a favourite category: most items come from it, so
	 * co-purchase recommendations have structure to find */
	uint32_t nprod = r->products ? r->products : 1;
	uint32_t ncat = (uint32_t)N(CATEGORY);
	uint32_t fav = (uint32_t)(draw(r, p->index, 61) % ncat);
	o->nitems = (unsigned)(draw(r, key, 62) % 5 + 1);
	for (unsigned j = 0; j < o->nitems; j++) {
		uint64_t v = draw(r, key * 8 + j, 63);
		uint32_t cat = v % 100 < 80 ? fav : (uint32_t)(v / 100 % ncat);
		uint32_t per_cat = nprod / ncat ? nprod / ncat : 1;
		uint32_t slot = (uint32_t)(v / 1000 % per_cat);
		uint32_t pidx = (slot * ncat + cat) % nprod;
		struct c360_product prod;
		c360_retailer_product(r, 100 + pidx * 10, &prod);
		o->items[j].product_id = prod.product_id;
		o->items[j].quantity = (unsigned)(v / 100000 % 4 + 1);
		o->items[j].price = prod.price;
	}
}

bool c360_retailer_product(const struct c360_retailer *r, uint32_t product_id,
			   struct c360_product *out)
{
	if (product_id < 100 || (product_id - 100) % 10 || (product_id - 100) / 10 >= r->products)
		return false;
	uint32_t idx = (product_id - 100) / 10;
	uint32_t ncat = (uint32_t)N(CATEGORY);
	memset(out, 0, sizeof *out);
	out->product_id = product_id;
	snprintf(out->category, sizeof out->category, "%s", CATEGORY[idx % ncat]);
	snprintf(out->name, sizeof out->name, "%s %s item %u", ADJ[draw(r, idx, 70) % N(ADJ)],
		 out->category, idx);
	out->price = (double)(draw(r, idx, 71) % 25000 + 199) / 100.0;
	return true;
}
