/* Internal: the engine's struct, shared by engine.c and kind.c. */
#ifndef C360_INTEGRATE_ENGINE_INT_H
#define C360_INTEGRATE_ENGINE_INT_H

#include "core/buf.h"
#include "integrate/integrate.h"

struct ent;
struct wentry;
struct commit;
struct slab;
struct c360_poller;

struct c360_integrate {
	c360_store *st;
	const c360_imap *m;
	char who[160];
	char meta_bucket[C360_BUCKET_NAME_MAX + 1];
	uint8_t key[C360_IMAP_KEYBYTES];
	size_t batch_max;
	bool locking; /* batch_max == 1: commit per record under customer locks */
	c360_integrate_write_fn write;
	void *write_ctx;
	c360_integrate_read_fn read;
	void *read_ctx;
	/* overlay of the current batch */
	struct slab *slab;  /* its entries and index texts (engine.c) */
	struct ent **ents;
	size_t nents, entcap;
	size_t *idx;
	size_t idxcap;
	size_t nrecs;
	size_t vbuf_hint; /* the last batch's serialized values (bytes) */
	struct c360_buf rkey;
	/* batched use only: committed metadata documents kept as text (see
	 * engine.c, "warm cache") */
	struct wentry **warm;          /* hash buckets */
	struct wentry *lru_head, *lru_tail;
	size_t nwarm, warmcap;
	size_t warm_bytes, warm_max;
	uint64_t *known;               /* Bloom filter of metadata keys written */
	size_t known_bits;
	bool warm_complete; /* the metadata bucket held no state at the start: a key
			     * the filter lacks does not exist */
	uint64_t gen;       /* batches handed over so far */
	uint64_t committed; /* batches committed (their documents may leave the cache) */
	struct commit *inflight; /* the previous batch, committing in a writer thread */
	/* customers to fetch from the online store at the next flush */
	struct c360_poller *poller;
	char **fetch;
	size_t nfetch, fetchcap;
	c360_rc fetch_rc;
	struct c360_integrate_stats stats;
	struct c360_iguard *guard; /* this engine's claim on its buckets (guard.c) */
};

/* guard.c: one engine per target. Claims `target` and `meta` of the store
 * at store_path for `who` (named in others' refusals): refused with
 * C360_ERR_BUSY and the holder in err when another process claims either,
 * or another engine of this process does and either claim is not `shared`
 * (shared: engines committing record by record under the per-customer
 * locks, which are process-local). Thread-safe; the claim lasts until
 * c360_iguard_drop (accepts NULL) or the process's end, kill -9 included. */
struct c360_iguard;
c360_rc c360_iguard_take(const char *store_path, const char *target, const char *meta,
			 bool shared, const char *who, struct c360_iguard **out, char *err,
			 size_t errlen);
void c360_iguard_drop(struct c360_iguard *g);

/* A staging mutation in two phases, so integrate run's reader thread can do
 * the first: c360_integrate_prepare() parses the value and extracts its
 * contribution into `into` (any thread: it reads only the mapping and the
 * secret key), appending the record key (or, for no_identity, the reason) to
 * buf at p->off, p->len bytes; c360_integrate_update_prepared() does the rest
 * like c360_integrate_update() (buf as it was then; into kept until it
 * returns). */
struct c360_integrate_prep {
	c360_rc rc;
	bool not_json;
	struct c360_imap_rec rec;
	size_t off, len;
};
void c360_integrate_prepare(const c360_integrate *ig, const char *key, size_t klen,
			    const char *value, size_t vlen, uint64_t cas, c360_json_doc *into,
			    struct c360_buf *buf, struct c360_integrate_prep *p);
c360_rc c360_integrate_update_prepared(c360_integrate *ig, const char *key, size_t key_len,
				       const struct c360_integrate_prep *p, const char *buf);

/* CPU time of the calling thread, in µs. */
uint64_t c360_integrate_thread_cpu_us(void);

#endif
