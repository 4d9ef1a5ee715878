/* The mock online store: the seed's three REST endpoints served by
 * libmicrohttpd from a generated or given data set, with fault injection
 * and request counters. Used by tests, benchmarks, the demo and the
 * `c360-mock-store` tool (tools/mock-store/).
 *
 *   GET /api/onlineStore/getCustomerDetailsByEmail?customerEmail=EMAIL
 *       {"Id":1,"Name":"…","Email":"…","Password":"…"}
 *   GET /api/onlineStore/getOrdersByCustomerId?customerId=ID
 *       [{"OrderId":1,"PurchaseDate":"…","CustomerId":1,"Items":[{"OrderId":1,
 *         "ProductId":200,"Quantity":2,"Price":87.81},…]},…]   ([] if none)
 *   GET /api/onlineStore/getProductDetailsByProductId?productId=ID
 *       {"ProductId":200,"Name":"…","Category":"…","Price":87.81}
 *   GET /stats   request counters (total, per endpoint, per status, per second)
 *
 * Unknown ids give 404 {"error":"not_found","message":"…"}; a missing or bad
 * parameter gives 400. Lifecycle: _new (builds the data set) → optional
 * _add_customer/_add_order/_add_product → _start → … → _free.
 * Thread-safety: after _start, only _set_faults, _counts, _per_second,
 * _reset_counts, _port and _url may be called, from any thread. */
#ifndef C360_SOURCES_REST_MOCKSTORE_H
#define C360_SOURCES_REST_MOCKSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/rc.h"

typedef struct c360_mockstore c360_mockstore;

/* Fault injection on the three API endpoints (never on /stats). Rates are
 * fractions 0..1 of requests; at most one fault is chosen per request, by a
 * hash of (seed, request number), so a run is reproducible with one client
 * connection. Latency (fixed + uniform jitter) applies to every request. */
struct c360_mockstore_faults {
	int latency_ms;      /* added before answering */
	int jitter_ms;       /* plus uniform 0..jitter_ms */
	double error_500;    /* 500 {"error":"internal"} */
	double error_503;    /* 503 with Retry-After: retry_after_s */
	double error_429;    /* 429 with Retry-After: retry_after_s */
	int retry_after_s;   /* 0 = 1 */
	double malformed;    /* 200 with a truncated JSON body */
	double slow;         /* the body dribbles out in 8 pieces over slow_ms */
	int slow_ms;         /* 0 = 2000 */
	double drop;         /* the connection is closed without an answer */
	uint64_t first_n;    /* > 0: faults hit only the first N API requests after
			      * these faults were set (deterministic tests) */
};

/* How the store writes customer, order and product ids. */
enum c360_mockstore_id_style {
	C360_MOCKSTORE_ID_NUMBER = 0, /* 27 (the seed's) */
	C360_MOCKSTORE_ID_STRING,     /* "27" */
	C360_MOCKSTORE_ID_UUID,       /* "e220a839-7b1d-4daf-a220-000000000001" (customer 1) */
};

struct c360_mockstore_opts {
	const char *bind;          /* default "127.0.0.1" */
	int port;                  /* 0 = any free port */
	int threads;               /* thread pool size, default 4 */
	bool thread_per_connection;/* one thread per connection: latency and slow
				    * bodies then do not hold up other connections
				    * (default on when latency or slow is set) */
	uint64_t customers;        /* generated customers (default 0) */
	uint64_t products;         /* generated products, ids 100, 110, … (default 100) */
	int max_orders;            /* generated orders per customer: 0..max (default 3) */
	uint64_t seed;             /* data and fault seed (default 1) */
	bool seed_example;         /* Matthew Groves (Id 1, orders 1 and 2) from the seed */
	enum c360_mockstore_id_style id_style; /* of the seed example and generated data;
				    * not with data_path (C360_ERR_INVALID) */
	const char *data_path;     /* JSON lines: customers {"Id","Name","Email","Password"},
				    * orders {"OrderId","CustomerId",…}, products
				    * {"ProductId",…} (no "OrderId"); NULL = none */
	struct c360_mockstore_faults faults;
};

/* Builds the data set (seed example, file, then generated customers). opts
 * may be NULL (empty store). On error returns the code with a message in
 * err (file:line for a bad data line). */
c360_rc c360_mockstore_new(const struct c360_mockstore_opts *opts, c360_mockstore **out,
			   char *err, size_t errlen);
/* Adds data before _start. Strings are copied. order_json is one order object
 * (the getOrdersByCustomerId element); product_json one product object; they
 * are served as given. C360_ERR_EXISTS for a duplicate customer email/id,
 * C360_ERR_NOT_FOUND for an order of an unknown customer; a product replaces
 * one with the same id (a generated one, say). */
c360_rc c360_mockstore_add_customer(c360_mockstore *ms, int64_t id, const char *name,
				    const char *email, const char *password);
c360_rc c360_mockstore_add_order(c360_mockstore *ms, int64_t customer_id, const char *order_json);
c360_rc c360_mockstore_add_product(c360_mockstore *ms, int64_t product_id,
				   const char *product_json);
/* Starts serving. C360_ERR_IO with a reason in err if the port cannot be bound. */
c360_rc c360_mockstore_start(c360_mockstore *ms, char *err, size_t errlen);
/* Stops serving (waiting for running requests) and frees. Accepts NULL. */
void c360_mockstore_free(c360_mockstore *ms);

int c360_mockstore_port(const c360_mockstore *ms);
/* "http://127.0.0.1:PORT" (the base URL for the poller). */
const char *c360_mockstore_url(const c360_mockstore *ms);
uint64_t c360_mockstore_customer_count(const c360_mockstore *ms);
/* The email of the i-th customer (0-based, data-set order), or NULL. */
const char *c360_mockstore_customer_email(const c360_mockstore *ms, uint64_t i);

/* Replaces the fault settings (copied) and restarts the first_n count. */
void c360_mockstore_set_faults(c360_mockstore *ms, const struct c360_mockstore_faults *f);

struct c360_mockstore_counts {
	uint64_t total;          /* every request, /stats included */
	uint64_t details, orders, products, stats, other; /* per endpoint */
	uint64_t status_200, status_400, status_404, status_429, status_500, status_503,
		status_other;
	uint64_t dropped, malformed, slow; /* injected faults */
	uint64_t connections;              /* TCP connections accepted */
	uint64_t max_per_second;           /* busiest wall-clock second (API requests) */
};
void c360_mockstore_counts(const c360_mockstore *ms, struct c360_mockstore_counts *out);
/* API requests per wall-clock second for the last (up to) max seconds that
 * saw requests, oldest first: secs[i] (Unix time), counts[i]. Returns n. */
size_t c360_mockstore_per_second(const c360_mockstore *ms, int64_t *secs, uint64_t *counts,
				 size_t max);
void c360_mockstore_reset_counts(c360_mockstore *ms);
/* Appends the /stats JSON to out. */
c360_rc c360_mockstore_stats_json(const c360_mockstore *ms, struct c360_buf *out);
/* Appends the data set as JSON lines (the data_path format) to out. */
c360_rc c360_mockstore_dump(const c360_mockstore *ms, struct c360_buf *out);

#endif
