/* Function kinds: the interface between the eventing runtime (change feed,
 * checkpoints, workers, stats, lifecycle) and the code that handles one
 * change (the JavaScript engine, c360's native integration, …).
 *
 * The runtime follows a function's source bucket feed from the checkpoint in
 * its metadata bucket, spreads keys over worker_count threads (all changes of
 * one key go to the same worker, in seqno order), and on each worker calls
 * one handler instance created by the function's kind. A kind never sees the
 * feed, cursors or threads; it only handles changes.
 *
 *   deploy ──> kind->check(def)                  (validate/compile, once)
 *   start  ──> kind->create(def, env) per worker (one instance per thread)
 *   change ──> kind->on_update / kind->on_delete (on that worker's thread)
 *   stop   ──> kind->free(instance)
 *
 * Outcome of one call, counted by the runtime (stats: processed, failures,
 * timeouts): C360_OK = handled; C360_ERR_TIMEOUT = the handler ran past
 * def->execution_timeout_ms and was aborted (a timeout and a failure);
 * C360_ERR_LIMIT = it was aborted past another limit of the kind (the
 * JavaScript heap's def->heap_limit_mb; a failure); C360_ERR_STATE with
 * *env->stop set = abandoned because the run is stopping: not counted, the
 * batch is not committed and the change is handled again at the next start;
 * anything else = a failure. The writes of a call that ends in TIMEOUT or
 * LIMIT are dropped (the call was cut short at an arbitrary point); a call
 * that fails otherwise (a handler's exception) keeps the writes it made
 * before, as in Couchbase. The kind writes the human detail (message, stack)
 * to the application log with c360_fn_app_log() before returning; the
 * runtime never stops on a failure.
 *
 * Registration: every kind exports one `const struct c360_fn_kind` and is
 * listed in the static registry array c360_fn_kinds[] (eventing/function.c):
 *   "js"      c360_fn_kind_js      (eventing/js/, Couchbase-Eventing JavaScript)
 *   "native"  c360_fn_kind_native  (integrate/, declarative YAML mapping)
 * `c360 function deploy --native FILE.yaml NAME` deploys kind "native" with
 * the YAML text as def->code; every other deploy (a .js file, or Couchbase's
 * exported function JSON) deploys kind "js". */
#ifndef C360_EVENTING_HANDLER_H
#define C360_EVENTING_HANDLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/rc.h"
#include "store/store.h"

#define C360_FN_NAME_MAX 100
#define C360_FN_ALIAS_MAX 64
#define C360_FN_BINDINGS_MAX 32
#define C360_FN_CODE_MAX (4u << 20)

/* ---- function definitions (an option struct: fields are the contract) ---- */

enum c360_fn_binding_type {
	C360_FN_BIND_BUCKET = 1, /* alias -> bucket, read-only or read-write */
	C360_FN_BIND_URL,        /* alias -> base URL with auth */
	C360_FN_BIND_CONSTANT,   /* alias -> a JSON value, a global in the handler */
};

enum c360_fn_auth {
	C360_FN_AUTH_NONE = 0,
	C360_FN_AUTH_BASIC,
	C360_FN_AUTH_BEARER,
	C360_FN_AUTH_DIGEST,
};

struct c360_fn_binding {
	enum c360_fn_binding_type type;
	char alias[C360_FN_ALIAS_MAX + 1];
	/* bucket */
	char bucket[C360_BUCKET_NAME_MAX + 1];
	bool rw;
	/* url */
	char *url;        /* malloc'd base URL */
	enum c360_fn_auth auth;
	char *username;   /* malloc'd or NULL (basic, digest) */
	char *password;   /* malloc'd or NULL (basic, digest) */
	char *token;      /* malloc'd or NULL (bearer) */
	bool allow_cookies;
	bool validate_ssl_certificate;
	/* constant */
	char *value;      /* malloc'd JSON text (a bare word is kept as a string) */
};

enum c360_fn_boundary {
	C360_FN_FROM_EVERYTHING = 0, /* dcp_stream_boundary "everything" */
	C360_FN_FROM_NOW,            /* "from_now": only changes after deployment */
};

struct c360_fn_def {
	char name[C360_FN_NAME_MAX + 1];
	char kind[16];          /* "js" (default) or "native" */
	char source_bucket[C360_BUCKET_NAME_MAX + 1];
	char metadata_bucket[C360_BUCKET_NAME_MAX + 1];
	char *code;             /* malloc'd: JavaScript, or the native kind's YAML */
	size_t code_len;
	struct c360_fn_binding bindings[C360_FN_BINDINGS_MAX];
	int nbindings;
	/* settings */
	enum c360_fn_boundary boundary;
	int worker_count;              /* default 1 */
	int64_t execution_timeout_ms;  /* default 60000 */
	int64_t heap_limit_mb;         /* default 256: a JavaScript worker heap's cap */
	int64_t checkpoint_interval_ms;/* default 60000 (Couchbase: 60 s) */
	enum c360_log_level log_level; /* application log level, default info */
	bool self_recursion;           /* allow writes to source_bucket (default false) */
	char description[256];
};

/* Frees what the def's pointers own and zeroes it. Accepts NULL. */
void c360_fn_def_release(struct c360_fn_def *def);
/* Fills def with the defaults above (kind "js"). */
void c360_fn_def_init(struct c360_fn_def *def);

/* ---- what a handler instance is given ---- */

/* The environment of one worker, owned by the runtime; valid until the
 * instance is freed. Only used from that worker's thread. */
struct c360_fn_env {
	c360_store *store;
	const struct c360_fn_def *def;
	int worker;            /* 0 .. worker_count-1 */
	void *rt;              /* internal to the runtime */
	/* Becomes non-zero (from another thread or a signal handler) when the run
	 * is asked to stop; NULL when it cannot be. A kind that notices it inside
	 * a call abandons the call and returns C360_ERR_STATE. */
	const volatile int *stop;
};

/* One change as the handler sees it (Couchbase's meta). Borrowed for the call. */
struct c360_fn_meta {
	const char *id;        /* document key */
	size_t id_len;
	uint64_t cas;
	uint32_t expiration;   /* absolute Unix time, 0 = never */
	uint64_t seq;          /* feed seqno */
	const char *keyspace;  /* source bucket name */
	bool is_json;          /* datatype "json" (else "binary") */
};

/* Applies writes on behalf of the function, with c360_store_write()'s op
 * semantics (insert/replace/delete/touch, CAS checks, ops[i].rc per op).
 * Write-behind: the writes of one batch of changes are kept by the runtime
 * and committed in one transaction when the batch ends, before the checkpoint
 * may pass it. c360_fn_get() sees them at once (from every worker of the
 * function); ops[i].new_cas is a provisional CAS valid for later ops and gets
 * of this function within the batch; ops[i].seqno is 0. Other readers see the
 * writes when the batch commits. The changes that ops on def->source_bucket
 * cause are not delivered back to this function (Couchbase's recursion
 * suppression, counted as dcp_suppressed) unless def->self_recursion or
 * allow_recursion is true. Without a runtime (env->rt NULL) it writes through. */
c360_rc c360_fn_write(struct c360_fn_env *env, struct c360_write *ops, size_t n,
		      bool allow_recursion);
/* Reads a document for the handler: the function's own pending writes first,
 * else c360_store_get() on env->store. Use it (not c360_store_get) for every
 * read of a bucket the function writes. */
c360_rc c360_fn_get(struct c360_fn_env *env, const char *bucket, const char *key, size_t key_len,
		    struct c360_doc *out);
/* Writes one line to the function's application log (timestamped), if level
 * is enabled by def->log_level. Thread-safe. */
void c360_fn_app_log(struct c360_fn_env *env, enum c360_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- a kind ---- */

struct c360_fn_kind {
	const char *name; /* "js", "native" */
	/* Validates def (compiles the code) at deploy time; detail into err.
	 * May be NULL. */
	c360_rc (*check)(const struct c360_fn_def *def, char *err, size_t errlen);
	/* Creates one instance for one worker; *inst is opaque to the runtime. */
	c360_rc (*create)(struct c360_fn_env *env, void **inst, char *err, size_t errlen);
	/* A mutation: value is the document's JSON text (borrowed). */
	c360_rc (*on_update)(void *inst, const struct c360_fn_meta *meta, const char *value,
			     size_t value_len);
	/* A deletion (expired false) or an expiration (expired true). */
	c360_rc (*on_delete)(void *inst, const struct c360_fn_meta *meta, bool expired);
	/* Appends kind-specific counters as JSON object members without braces
	 * (`"curl_calls":3,"js_heap_bytes":123`) or nothing. May be NULL. */
	c360_rc (*stats)(void *inst, struct c360_buf *out);
	/* Frees the instance. Accepts NULL. */
	void (*free)(void *inst);
};

/* The registry (eventing/function.c): NULL-terminated. A kind whose module is
 * not linked is left out. */
extern const struct c360_fn_kind *const c360_fn_kinds[];
/* Finds a kind by name; NULL if unknown. */
const struct c360_fn_kind *c360_fn_kind_find(const char *name);

extern const struct c360_fn_kind c360_fn_kind_js;
/* Implemented in src/integrate/; declared weak so eventing links without it. */
extern const struct c360_fn_kind c360_fn_kind_native __attribute__((weak));

#endif
