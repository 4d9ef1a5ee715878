/* c360's native integration: a declarative Customer 360 mapping (YAML) that
 * recognises staging documents per source system, normalises identities,
 * applies per-field survivorship with lineage, hashes secrets, recomputes on
 * deletes, and writes one customer document per person. docs/integration.md
 * describes the mapping file for users.
 *
 * Three layers:
 *   - the mapping (c360_imap): parsed and checked once, immutable, shareable
 *     by any number of threads;
 *   - pure functions over JSON: extract one staging document into a
 *     "contribution", apply it to a customer's state, build the customer
 *     document from the state (the same state always gives the same bytes);
 *   - the engine (c360_integrate): the store-backed side (state and index
 *     documents in the metadata bucket, customer documents in the target
 *     bucket, batched writes, the online store), used by the native function
 *     kind (kind "native" of eventing/handler.h) and `c360 integrate run`.
 *
 * State kept per customer (metadata bucket, key "c360n::s::EMAIL"): every
 * source record's latest contribution or tombstone, keyed by staging key, so
 * deletes recompute from the remaining sources and the customer document is a
 * pure function of the set of source records, whatever their arrival order.
 * Index per staging key ("c360n::k::KEY"): the customer it went to, so a
 * deletion (which carries no value) finds its customer. */
#ifndef C360_INTEGRATE_INTEGRATE_H
#define C360_INTEGRATE_INTEGRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/rc.h"
#include "store/store.h"

typedef struct c360_imap c360_imap;

enum c360_imap_secrets {
	C360_SECRETS_HASH = 0, /* keyed BLAKE2b (libsodium crypto_generichash), the default */
	C360_SECRETS_DROP,     /* the secret is not stored at all */
	C360_SECRETS_PLAIN,    /* stored as given: unsafe, for compatibility with the seed */
};

#define C360_IMAP_KEYBYTES 32

/* ---- the mapping ---- */

/* Parses and checks a mapping. `name` stands for the file in messages. On
 * error returns C360_ERR_INVALID with "name:line:column: reason" in err. */
c360_rc c360_imap_load(const char *name, const char *text, size_t len, c360_imap **out,
		       char *err, size_t errlen);
/* The same from a file (C360_ERR_NOT_FOUND / C360_ERR_IO when unreadable). */
c360_rc c360_imap_load_file(const char *path, c360_imap **out, char *err, size_t errlen);
void c360_imap_free(c360_imap *m); /* accepts NULL */

const char *c360_imap_source_bucket(const c360_imap *m);   /* default "staging" */
const char *c360_imap_target_bucket(const c360_imap *m);   /* default "customer360" */
const char *c360_imap_metadata_bucket(const c360_imap *m); /* default "customer360_metadata" */
enum c360_imap_secrets c360_imap_secrets_mode(const c360_imap *m);
size_t c360_imap_source_count(const c360_imap *m);
const char *c360_imap_source_system(const c360_imap *m, size_t i);
/* The pointer of source i's timestamp (relative to its root), or NULL when
 * its clock is `cas`, the fetch time or none. */
const char *c360_imap_source_ts_pointer(const c360_imap *m, size_t i);
/* The online-store source's index, or -1 when the mapping has none. */
int c360_imap_online_source(const c360_imap *m);
/* Base URL of the online store: $C360_ONLINE_STORE_URL, else the mapping's
 * url, else NULL. */
const char *c360_imap_online_url(const c360_imap *m);
/* Seconds before an online-store answer is fetched again (default 3600). */
int64_t c360_imap_online_refresh(const c360_imap *m);
/* Key prefix of order documents (default "order::"). */
const char *c360_imap_order_prefix(const c360_imap *m);

/* Resolves the secret-hashing key into key[32]: the mapping's `key`, else
 * the environment variable named by `key_env` (default C360_SECRET_KEY).
 * Returns C360_ERR_NOT_FOUND when neither is set (the engine then uses a
 * key generated once and kept in a file beside the store,
 * c360_integrate_store_key), C360_ERR_INVALID
 * (reason in err) for a key shorter than 16 bytes. */
c360_rc c360_imap_secret_key(const c360_imap *m, uint8_t key[C360_IMAP_KEYBYTES], char *err,
			     size_t errlen);

/* ---- pure functions ---- */

/* Normalises an email for matching: trims ASCII white space, lower-cases
 * ASCII letters. Writes the NUL-terminated result into out and returns its
 * length, or 0 when the address is not usable as an identity (empty, longer
 * than C360_KEY_MAX, no '@' with text on both sides, inner white space or
 * control characters, or does not fit outsz). */
size_t c360_imap_normalize_email(const char *in, size_t len, char *out, size_t outsz);

/* Keyed, salted hash of a secret as stored:
 *   "blake2b-salted:" + hex(salt) + ":" + hex(BLAKE2b-256(key, salt system NUL secret))
 * where salt = BLAKE2b-128(key, "c360-salt" NUL system NUL record) and record
 * names the source record (c360 uses the customer's email NUL the external
 * ID): equal secrets of two records hash differently, and the same record
 * hashes the same way on every replay (the integration stays deterministic).
 * out needs C360_IMAP_HASH_MAX bytes. */
#define C360_IMAP_HASH_MAX 113
void c360_imap_hash_secret(const uint8_t key[C360_IMAP_KEYBYTES], const char *system,
			   const char *record, size_t record_len, const char *secret, size_t len,
			   char out[C360_IMAP_HASH_MAX]);
/* True when stored is the hash of secret for system under key: the salted
 * form above, or the unsalted "blake2b:" + hex(BLAKE2b-256(key, system NUL
 * secret)) of c360 before it (still found in documents written then).
 * Compares in constant time. */
bool c360_imap_verify_secret(const uint8_t key[C360_IMAP_KEYBYTES], const char *system,
			     const char *secret, size_t len, const char *stored);

/* ---- the store's own secret key (integrate/keyfile.c) ---- */

/* The file that keeps the generated key of metadata bucket meta_bucket:
 * "<store path>.<meta_bucket>.key". C360_ERR_UNSUPPORTED for a store
 * without a path. */
c360_rc c360_integrate_key_path(c360_store *st, const char *meta_bucket, char *out, size_t outlen);
/* The generated secret-hashing key of meta_bucket: read from its file
 * (mode 600; a wider mode is narrowed, with a warning), else moved there
 * from the document "c360n::secret-key" of meta_bucket where older c360
 * kept it (the document is then deleted, so hashes made with it still
 * verify), else generated once. Safe against other processes doing the
 * same. */
c360_rc c360_integrate_store_key(c360_store *st, const char *meta_bucket,
				 uint8_t key[C360_IMAP_KEYBYTES], char *err, size_t errlen);
/* Moves every bucket's "c360n::secret-key" document to its key file (and
 * deletes it): what `c360 serve` and `c360 run` do at start, before the
 * API answers, so no token or SQL query can read a key. */
c360_rc c360_integrate_secure_store(c360_store *st, char *err, size_t errlen);

enum c360_imap_what {
	C360_IMAP_IGNORED = 0, /* no source recognises the document */
	C360_IMAP_UPSERT,      /* a contribution for customer `email` */
	C360_IMAP_DELETE,      /* a delete event (e.g. Debezium op "d") for `email` */
	C360_IMAP_NO_IDENTITY, /* recognised, but no usable identity (reason in why) */
};

struct c360_imap_rec {
	enum c360_imap_what what;
	int source;                        /* index of the recognising source */
	char email[C360_KEY_MAX + 1];      /* normalised identity */
	size_t email_len;
	c360_json *contrib;                /* in the caller's doc (UPSERT and DELETE) */
	int64_t ts;                        /* source timestamp in ms; INT64_MIN if none */
	bool no_clock;                     /* the source has a timestamp pointer, but this
	                                    * document's is missing or not a time */
};

/* Classifies a staging document and extracts its contribution into `into`:
 *   {"s":SYSTEM,"id":EXTERNAL_ID,"e":ORIGINAL_EMAIL,"t":TS_MS,"p":SECRET,
 *    "f":{"profile.name":VALUE,…}}      (a tombstone is {"s","t","d":true})
 * Secrets are hashed (key needed, may be NULL otherwise), dropped or kept by
 * the mapping's mode before they reach the contribution. only_source >= 0
 * skips classification (the online store's answers); -1 classifies.
 * meta_ms is the timestamp of sources declared `timestamp: cas` (the staging
 * document's mutation time) and of the online store (the fetch time); 0 =
 * unknown. Errors: C360_ERR_NOMEM only; a document that
 * does not fit is reported through rec->what. */
c360_rc c360_imap_extract(const c360_imap *m, const c360_json *doc, int only_source,
			  const uint8_t *key, int64_t meta_ms, c360_json_doc *into,
			  struct c360_imap_rec *rec, char *why, size_t whylen);

/* Appends the key of rec's source record in the state: "SYSTEM:EXTERNAL_ID",
 * so every staging copy of one record (a nightly re-import under new keys, a
 * CDC delete event) lands on the same entry; "SYSTEM#STAGING_KEY" (key) when
 * it has no external id. */
c360_rc c360_imap_record_key(const c360_imap *m, const struct c360_imap_rec *rec, const char *key,
                             size_t klen, struct c360_buf *out);

/* The members of a staging document's root that c360_imap_extract can read
 * (the first segment of every pointer and root of every source), for
 * c360_json_parse_opts.keep: parsing only those gives the same extraction.
 * NULL (*n = 0) when a source reads the whole document. */
const char *const *c360_imap_root_members(const c360_imap *m, size_t *n);

/* Applies a contribution (or tombstone) of staging document skey to a
 * customer's state object {"c":{SKEY:contrib,…}} in sdoc (state may be NULL:
 * a new state is created and returned in *state). The newer version by
 * source timestamp wins; equal timestamps break by the bytes of the
 * contribution (a tombstone wins), so any order gives the same state.
 * *changed tells whether the state changed. */
c360_rc c360_imap_state_apply(const c360_imap *m, c360_json_doc *sdoc, c360_json **state,
			      const char *skey, size_t skey_len, c360_json *contrib,
			      bool *changed);
/* Marks staging document skey deleted in state, as a tombstone stamped with
 * the later of its own timestamp and ts (INT64_MIN = none), so an older
 * replay does not bring it back. *changed false when it was absent or
 * already deleted. */
c360_rc c360_imap_state_delete(const c360_imap *m, c360_json_doc *sdoc, c360_json *state,
			       const char *skey, size_t skey_len, int64_t ts, bool *changed);
/* True when some contribution of state is live (not a tombstone). */
bool c360_imap_state_live(const c360_json *state);

/* Builds the customer document from a state: constant members, profile
 * fields by survivorship in mapping order, xrefs in source order, lineage.
 * *customer is NULL when no contribution is live (the customer is deleted). */
c360_rc c360_imap_build(const c360_imap *m, const c360_json *state, c360_json_doc *out,
			c360_json **customer);

/* The same customer document as text, appended to out (the bytes of
 * c360_json_write of c360_imap_build's document); *none when no contribution
 * is live. */
c360_rc c360_imap_build_text(const c360_imap *m, const c360_json *state, struct c360_buf *out,
			     bool *none);

/* ---- the engine over a store ---- */

typedef struct c360_integrate c360_integrate;

/* How the engine writes (default c360_store_write on the engine's store);
 * the eventing kind passes c360_fn_write. */
typedef c360_rc (*c360_integrate_write_fn)(void *ctx, struct c360_write *ops, size_t n);
/* How the engine reads (default c360_store_get); the eventing kind passes
 * c360_fn_get, which sees the runtime's not yet committed writes. */
typedef c360_rc (*c360_integrate_read_fn)(void *ctx, const char *bucket, const char *key,
					  size_t key_len, struct c360_doc *out);

struct c360_integrate_opts {
	const char *name;     /* function name, for logs ("native:NAME"); default "customer360" */
	size_t batch_max;     /* records per transaction in batched use; default 2048 */
	bool no_online;       /* never call the online store */
	const char *metadata_bucket; /* overrides the mapping's metadata_bucket */
	c360_integrate_write_fn write; /* NULL = c360_store_write */
	void *write_ctx;
	c360_integrate_read_fn read;   /* NULL = c360_store_get */
	void *read_ctx;
	size_t cache_bytes;   /* batched use: memory for committed metadata documents kept
			       * to skip store reads (an eighth of it a filter of the keys
			       * written); default 64 MiB, at least 1 MiB; does not grow with
			       * the number of customers */
};

struct c360_integrate_stats {
	uint64_t processed;     /* staging mutations and deletions handled */
	uint64_t ignored;       /* recognised by no source */
	uint64_t no_identity;   /* recognised, no usable identity: counted and logged */
	uint64_t no_timestamp;  /* the source's timestamp missing or not a time: merged
	                         * (never over a timestamped version), counted, logged */
	uint64_t upserts;       /* contributions applied */
	uint64_t stale;         /* older than what the state already holds */
	uint64_t deletes;       /* contributions removed (CDC delete or staging deletion) */
	uint64_t expirations;   /* staging expiries, which remove nothing */
	uint64_t customers_written;
	uint64_t customers_deleted;
	uint64_t online_fetches;
	uint64_t online_failures;
	uint64_t orders_written;
	uint64_t failures;      /* store or other errors */
	uint64_t meta_reads;    /* metadata documents read from the store (not cached) */
	uint64_t cache_evictions; /* metadata documents dropped from the bounded cache */
	/* CPU time (µs) of integrate run's threads: the feed reader, the merging
	 * thread (c360_integrate_follow's caller) and the commits */
	uint64_t cpu_us_read, cpu_us_merge, cpu_us_write;
};

/* Creates an engine writing through st (borrowed, must outlive it). The
 * mapping is borrowed too. Creates the target and metadata buckets if
 * absent and resolves the secret key. */
c360_rc c360_integrate_new(c360_store *st, const c360_imap *m,
			   const struct c360_integrate_opts *opts, c360_integrate **out, char *err,
			   size_t errlen);
void c360_integrate_free(c360_integrate *ig); /* flushes; accepts NULL */

/* Handles one staging mutation / deletion or expiration. With batch_max > 1
 * changes are buffered until c360_integrate_flush() or more than batch_max records
 * (one engine, one thread: `c360 integrate run`). With batch_max == 1 each
 * record is committed before the call returns, under a process-wide lock
 * striped by customer, so several engines (one per eventing worker) may
 * run on one store at once. An engine is used by one thread at a time.
 * cas is the staging document's CAS (its mutation time in ns), the clock of
 * sources declared `timestamp: cas`. A failed record is counted and logged
 * and its error returned; it does not stop the engine. value is the staging
 * document as the store holds it, valid JSON: the root members the mapping
 * does not read are skipped unparsed (c360_integrate_prepare), so a value
 * that is not JSON is counted as ignored only when its error lies in a
 * member that is read. */
c360_rc c360_integrate_update(c360_integrate *ig, const char *key, size_t key_len,
			      const char *value, size_t value_len, uint64_t cas);
c360_rc c360_integrate_delete(c360_integrate *ig, const char *key, size_t key_len, bool expired);
/* Writes buffered changes in one transaction (after any commit in flight). */
c360_rc c360_integrate_flush(c360_integrate *ig);
/* Batched use: hands the buffered changes to a writer thread, which commits
 * them and then sets cursor (on cursor_bucket, to seqno; cursor NULL = none),
 * while the caller goes on merging the next batch. Returns the error of the
 * previous commit, if it failed. c360_integrate_wait() joins it. */
c360_rc c360_integrate_commit(c360_integrate *ig, const char *cursor_bucket, const char *cursor,
			      uint64_t seqno);
c360_rc c360_integrate_wait(c360_integrate *ig);
void c360_integrate_get_stats(const c360_integrate *ig, struct c360_integrate_stats *out);
/* Appends the stats as JSON object members without braces. */
c360_rc c360_integrate_stats_json(const c360_integrate *ig, struct c360_buf *out);

/* ---- following the staging feed (`c360 integrate run`) ---- */

struct c360_integrate_progress {
	uint64_t seqno;      /* last feed seqno handled */
	uint64_t high;       /* the source bucket's high seqno when last looked */
	double seconds;      /* since the start */
	bool final;
};

struct c360_integrate_follow_opts {
	const char *cursor;        /* feed cursor name; default "integrate::NAME" */
	bool from_start;           /* ignore the cursor, start at seqno 0 */
	bool exit_when_idle;       /* return once the feed has nothing more */
	int idle_wait_ms;          /* wait per idle poll; default 500 */
	volatile int *stop;        /* optional: set non-zero to stop */
	void (*progress)(const struct c360_integrate_progress *p,
			 const struct c360_integrate_stats *s, void *ctx); /* ~5/s and at the end */
	void *progress_ctx;
};

/* Follows the mapping's source bucket feed from the cursor, in batches of
 * batch_max: each batch is merged and committed in one transaction, then the
 * cursor advances (at-least-once; replays are idempotent). Returns when idle
 * (exit_when_idle) or stopped; C360_OK unless the store failed (reason in
 * err). Records that fail are counted in the stats, not fatal. */
c360_rc c360_integrate_follow(c360_integrate *ig, const struct c360_integrate_follow_opts *o,
			      char *err, size_t errlen);

#endif
