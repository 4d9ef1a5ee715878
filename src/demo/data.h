/* What `c360 demo` feeds its sources from the synthetic retailer, and how it
 * checks the result against the retailer's own truth. */
#ifndef C360_DEMO_DATA_H
#define C360_DEMO_DATA_H

#include <stdint.h>

#include "core/buf.h"
#include "core/rc.h"
#include "demo/retailer.h"
#include "store/store.h"

/* The nightly loyalty export: header id,password,firstName,lastName,email,points
 * and one row per loyalty member. *rows (optional) receives the row count. */
c360_rc c360_demo_write_loyalty_csv(const struct c360_retailer *r, const char *path,
				    uint64_t *rows, char *err, size_t errlen);

/* The online store's order as getOrdersByCustomerId returns it (the seed's
 * shape: OrderId, PurchaseDate, CustomerId, Items[{OrderId, ProductId,
 * Quantity, Price}]). */
c360_rc c360_demo_order_json(const struct c360_order *o, struct c360_buf *out);
/* A product as getProductDetailsByProductId returns it. */
c360_rc c360_demo_product_json(const struct c360_product *p, struct c360_buf *out);

struct c360_demo_verify {
	uint64_t people;            /* people checked */
	uint64_t expected_customers;/* people who should have a customer document */
	uint64_t customers;         /* customer documents found for them */
	uint64_t expected_orders, orders;
	uint64_t extra_customers;   /* customer documents that belong to nobody */
	uint64_t missing, wrong_xrefs, missing_orders, wrong_orders;
	uint64_t failures;          /* the sum of the four above plus extra_customers */
	char first_failure[512];    /* a description of the first failure, "" if none */
};

/* Checks the customer360 bucket against the retailer: every person who is
 * still in some system has exactly one customer document (key = canonical
 * email) whose xrefs name exactly the systems the person is in (home delivery
 * only while the row is not deleted) with the right external ids, and every
 * order of an online customer is there as ORDER_PREFIX<OrderId>. */
c360_rc c360_demo_verify(c360_store *st, const struct c360_retailer *r, const char *bucket,
			 const char *order_prefix, struct c360_demo_verify *out);

#endif
