/* Sources inside one c360 process (`c360 run`, `c360 demo`): each connector
 * exports one ops struct, listed in the static registry (registry.c); the
 * runtime (runtime.c) creates, starts, schedules and stops them in order.
 *
 * A source either runs continuously on its own threads (start/stop: the
 * Kafka sink) or in passes (run_once: import the newest CSV of a drop
 * folder, poll the online store), which the runtime calls on the source's
 * schedule from a thread of its own. Every source can run one pass in the
 * caller's thread (run_once), which the demo and `--once` use. */
#ifndef C360_SOURCES_SOURCE_H
#define C360_SOURCES_SOURCE_H

#include <stdbool.h>

#include "core/metrics.h"
#include "core/rc.h"
#include "pipeline/config.h"
#include "store/store.h"

struct c360_source_ctx {
	c360_store *st;
	const struct c360_pipeline_config *cfg; /* for file:line:column messages */
	const struct c360_source *src;          /* name, type, settings, schedule */
};

/* What one pass did, for progress lines and the demo's summary. */
struct c360_source_pass {
	uint64_t records;  /* records read */
	uint64_t written;  /* documents written or deleted */
	uint64_t failed;   /* records that failed (logged, dead-lettered or errors-logged) */
	double seconds;
	char note[160];    /* e.g. "already imported: loyalty_2026-11-23.csv" */
};

struct c360_source_ops {
	const char *type; /* "kafka", "csv", "rest" */
	/* Checks ctx->src->settings and prepares an instance (nothing runs yet).
	 * Errors as "file:line:column: reason". ctx is borrowed for the
	 * instance's life. */
	c360_rc (*create)(const struct c360_source_ctx *ctx, void **inst, char *err, size_t errlen);
	/* Continuous sources: start own threads. NULL for pass-based sources. */
	c360_rc (*start)(void *inst, char *err, size_t errlen);
	/* One complete pass in the caller's thread. For a continuous source:
	 * consume until every partition's end is durable, then return. *stop
	 * (may be NULL) asks a long pass to end early. */
	c360_rc (*run_once)(void *inst, const volatile int *stop, struct c360_source_pass *pass,
			    char *err, size_t errlen);
	/* Continuous sources: drain, commit, join. NULL for pass-based sources.
	 * An error (logged by the source) when the drain did not end cleanly,
	 * e.g. offsets of written records could not be committed. */
	c360_rc (*stop)(void *inst);
	/* Writes the source's counters (labels source=NAME,type=TYPE). */
	void (*collect)(void *inst, struct c360_metrics_out *out);
	void (*free)(void *inst);
};

/* The registry: NULL-terminated. */
extern const struct c360_source_ops *const c360_source_registry[];
const struct c360_source_ops *c360_source_ops_find(const char *type);

/* ---- the runtime ---- */

typedef struct c360_sources c360_sources;

/* Creates every source of cfg (checking their settings), registering their
 * collectors with metrics (may be NULL). Nothing runs yet. */
c360_rc c360_sources_new(c360_store *st, const struct c360_pipeline_config *cfg,
			 c360_metrics *metrics, c360_sources **out, char *err, size_t errlen);
/* Starts continuous sources and the schedule thread of the others. */
c360_rc c360_sources_start(c360_sources *s, char *err, size_t errlen);
/* Stops everything (continuous sources drain and commit; a running pass is
 * asked to stop and awaited). Returns the first error a continuous source
 * stopped with (each logged it), C360_OK if none or already stopped. */
c360_rc c360_sources_stop(c360_sources *s);
void c360_sources_free(c360_sources *s); /* accepts NULL; stops first */

size_t c360_sources_count(const c360_sources *s);
const struct c360_source *c360_sources_get(const c360_sources *s, size_t i);
/* One pass of source i in the caller's thread (see run_once). */
c360_rc c360_sources_run_once(c360_sources *s, size_t i, const volatile int *stop,
			      struct c360_source_pass *pass, char *err, size_t errlen);

/* Settings helpers for connectors (messages with file:line:column). */
c360_rc c360_source_str(const struct c360_source_ctx *ctx, const char *key, bool required,
			const char **out, char *err, size_t errlen);
c360_rc c360_source_int(const struct c360_source_ctx *ctx, const char *key, int64_t min,
			int64_t max, int64_t *out, char *err, size_t errlen);
c360_rc c360_source_duration(const struct c360_source_ctx *ctx, const char *key, int64_t *out,
			     char *err, size_t errlen);
c360_rc c360_source_bool(const struct c360_source_ctx *ctx, const char *key, bool *out, char *err,
			 size_t errlen);
/* Rejects keys not in allowed (NULL-terminated), naming the expected ones. */
c360_rc c360_source_known_keys(const struct c360_source_ctx *ctx, const char *const *allowed,
			       char *err, size_t errlen);

#endif
