/* Prometheus text exposition (format 0.0.4) for /metrics.
 *
 * Modules keep their own counters; whoever assembles a process (c360 run,
 * c360 demo) registers a collector per module instance, and a scrape calls
 * every collector to write its current values. Thread-safe: collectors are
 * called one scrape at a time, under the registry's lock. */
#ifndef C360_CORE_METRICS_H
#define C360_CORE_METRICS_H

#include <stdint.h>

#include "core/buf.h"
#include "core/rc.h"

struct c360_metrics_out;

/* Writes the current values; called for each scrape. */
typedef void (*c360_metrics_collect)(void *ctx, struct c360_metrics_out *out);

typedef struct c360_metrics c360_metrics;

c360_metrics *c360_metrics_new(void);
void c360_metrics_free(c360_metrics *m); /* accepts NULL */
/* Registers a collector; ctx is borrowed until c360_metrics_free or remove. */
c360_rc c360_metrics_add(c360_metrics *m, c360_metrics_collect fn, void *ctx);
void c360_metrics_remove(c360_metrics *m, c360_metrics_collect fn, void *ctx);
/* Renders every collector's samples into out (text/plain; version=0.0.4).
 * Samples of one metric name are grouped under one HELP/TYPE header. */
c360_rc c360_metrics_render(c360_metrics *m, struct c360_buf *out);

/* For collectors. `labels` is NULL or "key=value,key=value" (values are
 * escaped here). Names follow Prometheus rules: c360_<what>_<unit>. */
void c360_metric_counter(struct c360_metrics_out *out, const char *name, const char *help,
			 const char *labels, double value);
void c360_metric_gauge(struct c360_metrics_out *out, const char *name, const char *help,
		       const char *labels, double value);
/* A summary's quantile sample, e.g. quantile "0.99" in seconds. */
void c360_metric_quantile(struct c360_metrics_out *out, const char *name, const char *help,
			  const char *labels, const char *quantile, double value);

#endif
