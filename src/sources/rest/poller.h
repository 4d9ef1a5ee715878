/* The online store poller: fetches customers (details, then orders) and
 * products from the seed's REST API with libcurl multi.
 *
 *   N transfers in flight (default 16) over kept-alive connections;
 *   connect and per-attempt total timeouts; a cap on every body;
 *   a token bucket per host (requests/s);
 *   retries with exponential backoff and jitter on 5xx, 429, timeouts and
 *   dropped connections, honouring Retry-After, within a retry budget;
 *   a circuit breaker per host: after `breaker_failures` failures in a row
 *   the host is not called for `breaker_open_ms`, then one probe request
 *   decides whether it closes again.
 *
 * Use: c360_poller_new(), submit jobs (c360_poller_customer/_product/_get),
 * drive them with c360_poller_run() on the same thread; each job ends with
 * exactly one callback, called from inside c360_poller_run(). Callbacks may
 * submit more jobs but must not call c360_poller_run() or _free(). A poller is not thread-safe: one thread at a time (use
 * one poller per thread). Malformed or unexpected bodies are logged (URL,
 * status, reason) and reported as C360_POLL_MALFORMED. */
#ifndef C360_SOURCES_REST_POLLER_H
#define C360_SOURCES_REST_POLLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/json.h"
#include "core/rc.h"

typedef struct c360_poller c360_poller;

struct c360_poller_opts {
	const char *base_url;      /* required: "http://host:port" (copied) */
	const char *who;           /* log prefix, default "rest:online_store" (copied) */
	int concurrency;           /* transfers in flight, default 16 */
	double rate;               /* requests/s per host, 0 = unlimited */
	int burst;                 /* token bucket size, default 1 (evenly spaced) */
	int connect_timeout_ms;    /* default 3000 */
	int timeout_ms;            /* whole attempt, default 10000 */
	size_t max_body;           /* bytes per response, default 4 MiB */
	int max_retries;           /* per request, default 4; < 0 = none */
	int backoff_ms;            /* first retry delay, default 100; doubles, +-50% jitter */
	int backoff_max_ms;        /* default 5000 */
	int retry_after_max_ms;    /* longest Retry-After honoured, default 30000 */
	double retry_budget_ratio; /* retries earned per first attempt, default 0.2; < 0 = 0 */
	int retry_budget_min;      /* retries allowed on top, default 10 (the balance
				    * never exceeds 10x this) */
	int breaker_failures;      /* failures in a row that open the breaker,
				    * default 10; < 0 = no breaker */
	int breaker_open_ms;       /* default 5000 */
};

/* Fills opts with the defaults (base_url NULL). */
void c360_poller_opts_init(struct c360_poller_opts *opts);

enum c360_poll_status {
	C360_POLL_OK = 0,
	C360_POLL_NOT_FOUND,    /* 404: the store does not know the email or id */
	C360_POLL_HTTP,         /* another HTTP status (5xx and 429 after retries) */
	C360_POLL_TIMEOUT,      /* connect or total timeout (after retries) */
	C360_POLL_NETWORK,      /* refused, dropped, reset (after retries) */
	C360_POLL_MALFORMED,    /* the body is not JSON or not the expected shape */
	C360_POLL_TOO_BIG,      /* the body is larger than max_body */
	C360_POLL_CIRCUIT_OPEN, /* not sent: the host's circuit breaker is open */
	C360_POLL_STATUS_COUNT
};
/* "ok", "not found", "http", "timeout", "network", "malformed", "too big",
 * "circuit open". */
const char *c360_poll_status_str(enum c360_poll_status s);

/* A finished job. Everything is borrowed for the callback's duration. */
struct c360_poll_result {
	enum c360_poll_status status;
	const char *email;        /* customer jobs: the email as submitted */
	const char *product_id;   /* product jobs: the id as text (c360_poll_id) */
	const c360_json *details; /* customer, OK: {"Id","Name","Email","Password"} object */
	const c360_json *orders;  /* customer, OK: array of order objects (each has an
				   * "OrderId" that c360_poll_id accepts); empty when
				   * the store has none */
	const c360_json *product; /* product, OK: the product object */
	const char *body;         /* _get jobs (any status with a body) */
	size_t body_len;
	int http_status;          /* of the last attempt; 0 when none was answered */
	const char *url;          /* the last URL requested */
	const char *reason;       /* detail when status != OK ("" otherwise) */
	int attempts;             /* HTTP requests this job sent */
	/* private: the documents c360_poll_result_take() hands over */
	c360_json_doc **owned_a, **owned_b;
};

/* Inside an OK customer or product callback: takes the parsed documents out
 * of the result, so the caller keeps them without copying or re-parsing
 * (free them with c360_json_doc_free()). *a: the document whose root is
 * res->details (customer) or res->product; *b: the one whose root is
 * res->orders. Either pointer may be NULL. Gives NULLs in other callbacks
 * or when already taken. res->details, ->orders and ->product stay valid
 * until the callback returns. */
void c360_poll_result_take(const struct c360_poll_result *res, c360_json_doc **a,
			   c360_json_doc **b);

typedef void (*c360_poll_cb)(const struct c360_poll_result *res, void *ctx);

/* Creates a poller. C360_ERR_INVALID (reason in err) for a bad option. */
c360_rc c360_poller_new(const struct c360_poller_opts *opts, c360_poller **out, char *err,
			size_t errlen);
/* Frees the poller; unfinished jobs are dropped without callbacks. Accepts NULL. */
void c360_poller_free(c360_poller *p);

/* Queues "fetch customer by email": getCustomerDetailsByEmail, then
 * getOrdersByCustomerId with the answer's Id (any id c360_poll_id accepts,
 * percent-encoded). The email is copied and percent-encoded (RFC 3986
 * unreserved characters stay). An answer whose Id or an order's OrderId is
 * not an id is C360_POLL_MALFORMED. */
c360_rc c360_poller_customer(c360_poller *p, const char *email, c360_poll_cb cb, void *ctx);
/* Queues getProductDetailsByProductId for the id id[0..len) (text as
 * c360_poll_id gives it; copied, percent-encoded). C360_ERR_INVALID for an
 * empty id or one longer than C360_POLL_ID_MAX. An answer without a
 * "ProductId" id is C360_POLL_MALFORMED. */
c360_rc c360_poller_product(c360_poller *p, const char *id, size_t len, c360_poll_cb cb,
			    void *ctx);
/* Queues a GET of path (appended to base_url when it starts with '/', else
 * an absolute http(s) URL) with the same limits, retries and breaker; the
 * body is passed raw. */
c360_rc c360_poller_get(c360_poller *p, const char *path, c360_poll_cb cb, void *ctx);

/* Jobs queued or running. */
size_t c360_poller_pending(const c360_poller *p);
/* Runs transfers and callbacks until no job is pending (C360_OK), or for at
 * most timeout_ms (< 0 = no limit), returning C360_ERR_TIMEOUT if jobs remain.
 * C360_ERR_INTERNAL if libcurl fails. */
c360_rc c360_poller_run(c360_poller *p, int timeout_ms);

struct c360_poller_stats {
	uint64_t requests;       /* HTTP attempts sent */
	uint64_t retries;        /* of which retries */
	uint64_t jobs;           /* jobs finished */
	uint64_t by_status[C360_POLL_STATUS_COUNT]; /* finished jobs per outcome */
	uint64_t http_5xx, http_429, timeouts, network; /* failed attempts, by cause */
	uint64_t budget_refused; /* retries refused by the retry budget */
	uint64_t breaker_opened, breaker_closed;
	uint64_t bytes;          /* body bytes received */
};
void c360_poller_stats(const c360_poller *p, struct c360_poller_stats *out);

/* The online store's ids (customer Id, OrderId, ProductId) are any JSON
 * string or number: "27", "5b0c…-…", 27, 27.5. The id's text is the string's
 * characters or the number as written; documents are keyed by it
 * (order::<text>, product::<text>) and it is sent percent-encoded. */
#define C360_POLL_ID_MAX 200
/* Sets *text and *len to v's id text (borrowed from v). False when v is not a
 * string or number, or the text is empty, longer than C360_POLL_ID_MAX or holds
 * a control character (U+0000..U+001F). */
bool c360_poll_id(const c360_json *v, const char **text, size_t *len);

/* Percent-encodes s[0..len) for a query value into out (capped at outlen,
 * NUL-terminated). Returns false when it does not fit. */
bool c360_rest_urlencode(const char *s, size_t len, char *out, size_t outlen);

#endif
