/* Eventing: function definitions, deployments and the runtime that follows a
 * bucket's change feed and runs a function kind (eventing/handler.h) on it.
 *
 * Definitions: Couchbase's exported function JSON (appname, appcode, depcfg,
 * settings; an array of one function is accepted too) is the one format;
 * c360-only fields live under "c360" ({"kind":"native","self_recursion":…}).
 *
 * Deployments: the system bucket C360_META_BUCKET holds "function::NAME" =
 * {"state":"deployed|paused|undeployed","def":{exported JSON},
 *  "boundary_seqno":N,"updated":unix_ms}. A running process (c360_eventing)
 * polls these records and starts, pauses or stops functions accordingly.
 *
 * Checkpoints: each function's metadata bucket holds
 * "eventing::NAME::checkpoint" = {"seqno":N,"updated":unix_ms,"stats":{…}},
 * written every checkpoint_interval and at pause/stop. After a restart or a
 * kill -9 the function resumes after that seqno: changes processed after the
 * last checkpoint are processed again (at-least-once), none are skipped.
 *
 * Threads: every function here is thread-safe unless stated. */
#ifndef C360_EVENTING_EVENTING_H
#define C360_EVENTING_EVENTING_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/rc.h"
#include "eventing/handler.h"
#include "store/store.h"

/* ---- definitions ---- */

/* Parses Couchbase's exported function JSON into def (initialised here).
 * Errors name the key ("depcfg.buckets[0].access: expected 'r' or 'rw'"). */
c360_rc c360_fn_def_parse(const char *json, size_t len, struct c360_fn_def *def, char *err,
			  size_t errlen);
/* Appends def as exported function JSON (what c360_fn_def_parse reads). */
c360_rc c360_fn_def_write(const struct c360_fn_def *def, struct c360_buf *out);
/* Checks names, buckets, bindings and settings, then asks the kind to check
 * (compile) the code. */
c360_rc c360_fn_def_check(const struct c360_fn_def *def, char *err, size_t errlen);
/* Parses one binding given on a command line into def:
 *   bucket:ALIAS=BUCKET[:r|:rw]   url:ALIAS=URL[;basic=USER:PASS|;bearer=TOKEN][;insecure]
 *   constant:ALIAS=VALUE (JSON, or a bare word kept as a string) */
c360_rc c360_fn_def_add_binding(struct c360_fn_def *def, const char *spec, char *err, size_t errlen);
/* Sets one setting by Couchbase's name (dcp_stream_boundary, worker_count,
 * execution_timeout (s), heap_limit_mb, checkpoint_interval (s), log_level,
 * self_recursion, description, language_compatibility (ignored)). */
c360_rc c360_fn_def_set(struct c360_fn_def *def, const char *name, const char *value, char *err,
			size_t errlen);

/* ---- deployments (records in C360_META_BUCKET) ---- */

enum c360_fn_state {
	C360_FN_UNDEPLOYED = 0,
	C360_FN_DEPLOYED,
	C360_FN_PAUSED,
};
const char *c360_fn_state_str(enum c360_fn_state s); /* "undeployed", "deployed", "paused" */

/* Checks def and records it as deployed (creating the buckets it names).
 * With dcp_stream_boundary from_now, records the source's current high
 * seqno as the boundary. A function deployed already is C360_ERR_EXISTS
 * unless it is undeployed (then it is replaced). */
c360_rc c360_fn_deploy(c360_store *st, const struct c360_fn_def *def, char *err, size_t errlen);
/* What c360_fn_deploy_or_resume did. */
enum c360_fn_outcome {
	C360_FN_NEW = 1,    /* not deployed (or undeployed): deployed from its boundary */
	C360_FN_RESUMED,    /* deployed with the same definition: kept, with its checkpoint */
	C360_FN_REDEPLOYED, /* deployed with another definition: redeployed from its boundary,
			     * the old checkpoint dropped */
};
struct c360_fn_resume {
	enum c360_fn_outcome outcome;
	enum c360_fn_state state; /* the function's state now (RESUMED keeps a pause) */
	uint64_t boundary;        /* the boundary seqno recorded with the deployment */
	uint64_t checkpoint;      /* RESUMED, REDEPLOYED: the (old) checkpoint's seqno, 0 if none */
	const char *changed;      /* REDEPLOYED: what differs ("code", "buckets", "bindings",
				   * "bindings or settings"); static text */
};
/* What a restart of `c360 run` does with each function of its pipeline:
 * checks def; deploys it when it is not deployed; keeps a deployment whose
 * definition is the same as def (the same normalized exported JSON that
 * c360_fn_def_write writes: name, kind, code, buckets, bindings, settings)
 * so the runtime resumes after its checkpoint; redeploys (boundary taken
 * again, checkpoint dropped) a deployment whose definition differs. */
c360_rc c360_fn_deploy_or_resume(c360_store *st, const struct c360_fn_def *def,
				 struct c360_fn_resume *out, char *err, size_t errlen);
/* Checks def and records it undeployed (Couchbase's "save" without deploy),
 * replacing an undeployed definition; C360_ERR_STATE if it is deployed. */
c360_rc c360_fn_define(c360_store *st, const struct c360_fn_def *def, char *err, size_t errlen);
/* Changes a deployed function's state (pause, resume, undeploy). Undeploy
 * drops the checkpoint, so a later deploy starts from its boundary again. */
c360_rc c360_fn_set_state(c360_store *st, const char *name, enum c360_fn_state state, char *err,
			  size_t errlen);
/* Deletes an undeployed function's record (C360_ERR_STATE if deployed). */
c360_rc c360_fn_delete(c360_store *st, const char *name, char *err, size_t errlen);
/* Loads a function's record. def is initialised here; boundary may be NULL. */
c360_rc c360_fn_load(c360_store *st, const char *name, struct c360_fn_def *def,
		     enum c360_fn_state *state, uint64_t *boundary);
/* Appends a JSON array of the names of every recorded function, sorted. */
c360_rc c360_fn_list(c360_store *st, struct c360_buf *out);
/* Appends {"name","state","kind","source_bucket","checkpoint","high_seqno",
 * "backlog","lag_seconds","stats":{…}} for one function. */
c360_rc c360_fn_status(c360_store *st, const char *name, struct c360_buf *out);

/* The application log file of a function: <store path>.applog/NAME.log. */
c360_rc c360_fn_app_log_path(c360_store *st, const char *name, char *out, size_t outlen);

/* ---- running one function ---- */

typedef struct c360_fn_run c360_fn_run;

struct c360_fn_stats {
	uint64_t processed;      /* handler calls (num_processed_events) */
	uint64_t on_update_success, on_update_failure;
	uint64_t on_delete_success, on_delete_failure;
	uint64_t timeouts;       /* timeout_count */
	uint64_t failures;       /* on_update_failure + on_delete_failure (timeouts included) */
	uint64_t dcp_mutation, dcp_deletion, dcp_expiration;
	uint64_t suppressed;     /* dcp_mutation_suppressed + dcp_deletion_suppressed */
	uint64_t checkpoints;
	uint64_t seqno;          /* last seqno completely processed */
	uint64_t p50_us, p99_us; /* handler latency over this run */
};

/* Prepares a function from its record (copying def): loads the checkpoint,
 * creates worker_count handler instances (their compile errors in err). */
c360_rc c360_fn_run_new(c360_store *st, const struct c360_fn_def *def, uint64_t boundary,
			c360_fn_run **out, char *err, size_t errlen);
/* Processes the feed on the calling thread until *stop becomes true, or —
 * with exit_when_idle — until caught up with the feed's high seqno. Checks
 * the function's record every second: pause checkpoints and waits, undeploy
 * returns. Writes a checkpoint before returning. */
c360_rc c360_fn_run_loop(c360_fn_run *r, const volatile int *stop, bool exit_when_idle);
void c360_fn_run_stats(c360_fn_run *r, struct c360_fn_stats *out);
/* Frees (without checkpointing: c360_fn_run_loop does that). Accepts NULL. */
void c360_fn_run_free(c360_fn_run *r);

/* ---- all functions of a store, in the background (c360 run / serve) ---- */

typedef struct c360_eventing c360_eventing;
/* Starts a thread that runs every deployed function (one thread each) and
 * follows deploy/pause/resume/undeploy records. */
c360_rc c360_eventing_start(c360_store *st, c360_eventing **out);
/* Stops every function (each writes its checkpoint) and frees. Accepts NULL. */
void c360_eventing_stop(c360_eventing *ev);
/* Number of functions running in this process now. */
int c360_eventing_running(c360_eventing *ev);

/* ---- Eventing's REST shape (eventing/rest.c) ---- */

struct c360_http;
/* Registers on h: /api/v1/functions[/{name}] (GET, POST, DELETE),
 * /api/v1/functions/{name}/deploy|undeploy|pause|resume (POST),
 * /api/v1/status, /api/v1/stats (GET). st is borrowed for h's lifetime. */
c360_rc c360_eventing_routes(struct c360_http *h, c360_store *st);

#endif
