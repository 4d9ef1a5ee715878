/* The serve module's in-memory view of the customer360 bucket, kept up to
 * date by following the bucket's change feed (a thread per index, reading
 * from its own in-memory cursor: at start it reads the feed from 0, which
 * yields the latest state of every key, then applies changes as they come).
 *
 * It keeps what the API must not compute per request:
 *  - search tokens (lower-case email, full name, each name word) in a sorted
 *    array for prefix search, and (source system, external id) -> customer;
 *  - orders by CustomerId (the online_store xref's external_ID);
 *  - item-to-item co-purchase counts: for each pair of products, how many
 *    customers bought both, updated incrementally when an order appears,
 *    changes or disappears (per customer a product -> orders count, so a
 *    pair changes only when a product enters or leaves a customer's set);
 *  - aggregates for /stats: coverage per source and overlaps, loyalty points
 *    histogram, orders and revenue per month, per-product revenue.
 *
 * Documents: keys "order::*" are orders ({OrderId, CustomerId, PurchaseDate,
 * Items:[{ProductId, Quantity, Price}]}), "product::*" products ({Name|name}),
 * others with "xrefs" or "profile" customers (see DESIGN.md).
 *
 * Threads: one writer (the follower) and any number of readers (rwlock). */
#ifndef C360_SERVE_INDEX360_H
#define C360_SERVE_INDEX360_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/rc.h"
#include "store/store.h"

typedef struct c360_index c360_index;

/* Starts following bucket (created if missing). st is borrowed. */
c360_rc c360_index_start(c360_store *st, const char *bucket, c360_index **out, char *err,
			 size_t errlen);
/* Stops the follower and frees. Accepts NULL. */
void c360_index_free(c360_index *ix);
/* Waits until every change up to the bucket's current high seqno is applied
 * and searchable; C360_ERR_TIMEOUT after timeout_ms. */
c360_rc c360_index_sync(c360_index *ix, int timeout_ms);
/* Feed position applied so far, and the bucket's high seqno (for lag). */
void c360_index_position(c360_index *ix, uint64_t *applied, uint64_t *high);

#define C360_SYSTEMS 3 /* home_delivery, loyalty, online_store */
extern const char *const c360_index_systems[C360_SYSTEMS];

/* Prefix search on email and name (q, lower-cased; NULL or "" lists all) or
 * exact lookup by (system, id) when system is set. Appends
 * {"total":N,"limit":L,"offset":O,"customers":[{email,name,city,systems:{sys:id},loyaltyPoints}]}
 * sorted by email. */
c360_rc c360_index_search(c360_index *ix, const char *q, const char *system, const char *id,
			  size_t limit, size_t offset, struct c360_buf *out);
/* Keys of the orders of customer `email` (newest PurchaseDate first): *keys is
 * a malloc'd array of malloc'd strings (free with c360_index_keys_free).
 * C360_ERR_NOT_FOUND when the customer is unknown to the index. */
c360_rc c360_index_orders(c360_index *ix, const char *email, char ***keys, size_t *n);
void c360_index_keys_free(char **keys, size_t n);
/* The body of GET customers/{email} from memory (the index keeps each
 * customer document, passwords removed, and each order document as the feed
 * delivered them): {"email","cas","customer","orders_total","orders":[{key,doc}],
 * "products":{ProductId: name}} with at most max_orders orders, newest first,
 * and the names of their products that have a product document; *etag hashes
 * the CASes.
 * C360_ERR_NOT_FOUND when the index does not know the customer (yet). */
c360_rc c360_index_customer360(c360_index *ix, const char *email, size_t max_orders,
			       struct c360_buf *out, uint64_t *etag);
/* Top n products for the customer: appends
 * {"email":…,"based_on":[pid…],"recommendations":[{product_id,name,score,customers,because,because_name,reason}]}.
 * C360_ERR_NOT_FOUND when the customer is unknown. */
c360_rc c360_index_recommend(c360_index *ix, const char *email, size_t n, struct c360_buf *out);
/* Appends the /stats object. */
c360_rc c360_index_stats(c360_index *ix, size_t top, struct c360_buf *out);

#endif
