/* The mock online store's data set (internal to mockstore.c): customers with
 * their pre-serialized details and orders, products, hash indexes by email
 * and id. Not thread-safe while building; read-only once finished. */
#ifndef C360_SOURCES_REST_MOCKSTORE_DATA_H
#define C360_SOURCES_REST_MOCKSTORE_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/rc.h"

struct ms_customer {
	int64_t id;
	char *email;
	char *details; /* {"Id":…,"Name":…,"Email":…,"Password":…} */
	size_t details_len;
	struct c360_buf orders; /* "[…]" once finished; empty = no orders */
	size_t norders;
};

struct ms_product {
	int64_t id;
	char *json;
	size_t len;
};

struct ms_data {
	struct ms_customer *cust;
	size_t ncust, capcust;
	struct ms_product *prod;
	size_t nprod, capprod;
	uint32_t *by_email, *by_id, *by_prod; /* open addressing: index + 1, 0 = empty */
	size_t hcap;                          /* power of two, for customers */
	size_t pcap;                          /* power of two, for products */
	int64_t next_order;
	int finished;
	int id_style; /* enum c360_mockstore_id_style: how ids are written and read */
};

/* Ids kinds: a UUID differs per kind for the same number. */
enum ms_id_kind { MS_ID_CUSTOMER, MS_ID_ORDER, MS_ID_PRODUCT };
#define MS_ID_TEXT 40
/* Writes id as JSON in the data's id style into out[MS_ID_TEXT]: 27, "27" or
 * "c0ffee12-…-00000000001b" (a UUID whose last group is the id in hex). */
void ms_id_json(const struct ms_data *d, enum ms_id_kind kind, int64_t id, char *out);
/* Reads a query value in the data's id style (a number style store also
 * accepts the string style's and the reverse). False when it is not one. */
bool ms_id_parse(const struct ms_data *d, enum ms_id_kind kind, const char *s, int64_t *out);

c360_rc ms_data_init(struct ms_data *d);
void ms_data_release(struct ms_data *d);
c360_rc ms_data_add_customer(struct ms_data *d, int64_t id, const char *name, const char *email,
			     const char *password);
/* Appends a raw customer whose details object is given as JSON text. */
c360_rc ms_data_add_customer_raw(struct ms_data *d, int64_t id, const char *email,
				 const char *details, size_t len);
c360_rc ms_data_add_order(struct ms_data *d, int64_t customer_id, const char *json, size_t len);
c360_rc ms_data_add_product(struct ms_data *d, int64_t id, const char *json, size_t len);
c360_rc ms_data_seed_example(struct ms_data *d);
c360_rc ms_data_generate(struct ms_data *d, uint64_t customers, uint64_t products,
			 int max_orders, uint64_t seed);
c360_rc ms_data_load(struct ms_data *d, const char *path, char *err, size_t errlen);
/* Closes the orders arrays; indexes are kept up to date while adding. */
c360_rc ms_data_finish(struct ms_data *d);
const struct ms_customer *ms_data_by_email(const struct ms_data *d, const char *email);
const struct ms_customer *ms_data_by_id(const struct ms_data *d, int64_t id);
const struct ms_product *ms_data_product(const struct ms_data *d, int64_t id);
c360_rc ms_data_dump(const struct ms_data *d, struct c360_buf *out);
/* Appends s as a quoted JSON string (escaping quotes, backslashes and
 * control characters; UTF-8 passes through). */
c360_rc ms_json_str(struct c360_buf *b, const char *s);

#endif
