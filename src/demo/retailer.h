/* The synthetic retailer of `c360 demo`: people spread over the three source
 * systems (home delivery, loyalty, online store) with overlapping emails,
 * orders and products, generated deterministically from (seed, index).
 *
 * Nothing is kept in memory: person i is recomputed on demand, so the
 * generator costs the same at 10k and 1M customers, and the demo's checks
 * can ask the generator for the truth about any person. Thread-safe (pure
 * functions of their arguments). */
#ifndef C360_DEMO_RETAILER_H
#define C360_DEMO_RETAILER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct c360_retailer {
	uint32_t customers;   /* people, default 10000 */
	uint64_t seed;        /* default 360 */
	unsigned p_home;      /* % drawn into home delivery, default 64 (about 72% end there) */
	unsigned p_loyalty;   /* % drawn into loyalty, default 54 (about 62% end there) */
	unsigned p_online;    /* % in the online store, default 50 */
	unsigned p_variant;   /* % of memberships whose email differs in case/spaces, default 2 */
	unsigned p_update;    /* % of home-delivery rows updated later, default 10 */
	unsigned p_delete;    /* % of home-delivery rows deleted later (of people also in
			       * loyalty), default 3 */
	uint32_t products;    /* catalogue size, default 240 */
	unsigned max_orders;  /* per online customer, default 4 */
};

/* Fills r with the defaults above for n customers. */
void c360_retailer_init(struct c360_retailer *r, uint32_t customers);

struct c360_person {
	uint32_t index;
	char email[96];          /* canonical: lower-case, trimmed */
	char first[24], last[24];
	char address1[64], address2[32], city[32], state[4], zipcode[8], phone[32];
	/* home delivery (MySQL customers table, via Debezium) */
	bool in_home;
	uint32_t home_id;        /* customers.id */
	char home_email[104];    /* as the system spells it */
	char home_pass[16];
	bool home_updated;       /* a later update changes address1 and phone */
	char new_address1[64], new_phone[32];
	bool home_deleted;       /* a later delete removes the row */
	/* loyalty (nightly CSV) */
	bool in_loyalty;
	uint32_t loyalty_id;
	char loyalty_email[104];
	char loyalty_pass[16];
	uint32_t points;
	/* online store (REST) */
	bool in_online;
	uint32_t online_id;      /* the store's customer Id: index + 1 */
	char online_email[104];
	char online_pass[16];
	unsigned orders;         /* number of orders */
};

/* Person i (0 <= i < customers). */
void c360_retailer_person(const struct c360_retailer *r, uint32_t i, struct c360_person *p);

/* The online store's customer Id of person i is i + 1 (people who are not in
 * the store leave gaps, which the mock store answers with 404). Returns the
 * person index of online id `id`, or UINT32_MAX when nobody has it. */
uint32_t c360_retailer_person_of_online_id(const struct c360_retailer *r, uint32_t id);

struct c360_order_item {
	uint32_t product_id;
	unsigned quantity;
	double price;
};

struct c360_order {
	uint64_t order_id;       /* globally unique */
	uint32_t customer_id;    /* online_id */
	char purchase_date[40];  /* "2026-04-25T15:15:58" */
	unsigned nitems;
	struct c360_order_item items[6];
};

/* Order k (0 <= k < p->orders) of an online person. */
void c360_retailer_order(const struct c360_retailer *r, const struct c360_person *p, unsigned k,
			 struct c360_order *o);

struct c360_product {
	uint32_t product_id;
	char name[64];
	char category[24];
	double price;
};

/* Product by id (100 .. 100 + products*10, step 10, like the seed's ids);
 * false when id is not in the catalogue. */
bool c360_retailer_product(const struct c360_retailer *r, uint32_t product_id,
			   struct c360_product *out);

#endif
