/* One polling pass over the online store (`c360 poll`): the seed's
 * pseudo-code at scale.
 *
 *   for every customer (customer360 documents of type "user", key = email,
 *   or every email seen in a staging bucket: /payload/after/email of
 *   Debezium envelopes (/after/email without schemas), /email of loyalty
 *   rows; lower-cased and trimmed) that the refresh policy
 *   selects: fetch details and orders; set the customer360 document's
 *   online_store xref {"external_system":"online_store","external_ID":Id,
 *   "pass":Password} (creating {"type":"user","profile":{"name":…}} when
 *   absent); write order::<OrderId> (the order as the store returns it);
 *   fetch each product once per pass into product::<ProductId> unless
 *   fetched within max_age. Ids are any JSON string or number
 *   (c360_poll_id): external_ID keeps the Id's JSON type, keys use its text.
 *
 * Refresh policy, state in C360_META_BUCKET "poll::EMAIL"
 * ({"polled_at":unix,"seqno":S,"status":"ok"|"not found","external_ID":Id}):
 * a customer is polled when it never was, when its staging data changed
 * (S = the highest staging seqno of documents with that email) or when its
 * last poll is older than max_age; never when its last poll is younger than
 * min_interval. Products: "poll::product::ID" {"polled_at":unix}.
 *
 * Two poller threads (each its own c360_poller, sharing the concurrency and
 * the rate) fetch while the enumeration runs; two writer threads write in
 * batches (one transaction per batch, customer read-modify-write with CAS,
 * unchanged documents not rewritten), so the HTTP side never waits for the
 * disk. Failed or malformed answers leave every document unchanged and are
 * counted. */
#ifndef C360_SOURCES_REST_POLLRUN_H
#define C360_SOURCES_REST_POLLRUN_H

#include <stdbool.h>
#include <stdint.h>

#include "sources/rest/poller.h"
#include "store/store.h"

struct c360_pollrun_stats {
	uint64_t candidates;  /* customers found */
	uint64_t skipped;     /* left alone by the refresh policy */
	uint64_t polled;      /* answered with details and orders */
	uint64_t not_found;   /* unknown to the online store */
	uint64_t failed;      /* customers that failed (see by_status) */
	uint64_t created;     /* customer360 documents created */
	uint64_t updated;     /* customer360 documents whose xref changed */
	uint64_t orders;      /* order documents written (new or changed) */
	uint64_t products;    /* product documents written */
	uint64_t write_errors;
	uint64_t bad_product_ids; /* order items without a usable ProductId (not fetched) */
	uint64_t by_status[C360_POLL_STATUS_COUNT]; /* customer and product jobs by outcome */
	struct c360_poller_stats http;
	double seconds;
};

struct c360_pollrun_opts {
	struct c360_poller_opts poller; /* base_url required */
	const char *bucket;        /* customer360 bucket, default "customer360" */
	const char *emails_from;   /* NULL: customer360 documents; else a staging bucket */
	const char *staging;       /* bucket whose changes trigger a re-poll, default "staging" */
	int64_t max_age_s;         /* default 86400; products too */
	int64_t min_interval_s;    /* default 300 */
	bool force;                /* poll every candidate */
	uint64_t limit;            /* at most this many customers polled (0 = all) */
	/* called about 5 times a second from the calling thread; may be NULL */
	void (*progress)(const struct c360_pollrun_stats *st, void *ctx);
	void *progress_ctx;
};

void c360_pollrun_opts_init(struct c360_pollrun_opts *o);

/* Runs one pass. Returns C360_OK when the pass completed (individual
 * customers may still have failed: see stats), or an error (store unusable,
 * bad options: reason in err). */
c360_rc c360_pollrun(c360_store *st, const struct c360_pollrun_opts *o,
		     struct c360_pollrun_stats *stats, char *err, size_t errlen);

#endif
