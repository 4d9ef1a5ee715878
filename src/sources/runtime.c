/* The source runtime: creates the sources a pipeline declares, runs the
 * continuous ones on their own threads and the pass-based ones on their
 * schedules (one thread each: a first pass at start-up, to catch up on what
 * was missed while c360 was down, then at every scheduled time), and stops
 * them in reverse order. Also the settings helpers connectors share. */
#include "sources/source.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/opts.h"
#include "core/banned.h"

struct slot {
	struct c360_source_ctx ctx;
	const struct c360_source_ops *ops;
	void *inst;
	bool started;       /* continuous source started */
	pthread_t thread;   /* pass-based: its schedule thread */
	bool has_thread;
	struct c360_sources *owner;
	char who[80];
};

struct c360_sources {
	c360_store *st;
	const struct c360_pipeline_config *cfg;
	c360_metrics *metrics;
	struct slot slots[C360_PIPELINE_MAX];
	size_t n;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	volatile int stopping;
};

static void collect(void *ctx, struct c360_metrics_out *out)
{
	struct slot *sl = ctx;
	if (sl->ops->collect)
		sl->ops->collect(sl->inst, out);
}

c360_rc c360_sources_new(c360_store *st, const struct c360_pipeline_config *cfg,
			 c360_metrics *metrics, c360_sources **out, char *err, size_t errlen)
{
	c360_sources *s = calloc(1, sizeof *s);
	if (!s)
		return C360_ERR_NOMEM;
	s->st = st;
	s->cfg = cfg;
	s->metrics = metrics;
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	c360_rc rc = C360_OK;
	for (int i = 0; i < cfg->nsources; i++) {
		const struct c360_source *src = &cfg->sources[i];
		struct slot *sl = &s->slots[s->n];
		sl->owner = s;
		sl->ctx = (struct c360_source_ctx){st, cfg, src};
		sl->ops = c360_source_ops_find(c360_source_type_str(src->type));
		snprintf(sl->who, sizeof sl->who, "%s:%s", c360_source_type_str(src->type),
			 src->name);
		if (!sl->ops) {
			rc = c360_pipeline_fail(cfg, src->at, err, errlen,
						"source type '%s' is not in this build",
						c360_source_type_str(src->type));
			break;
		}
		if ((rc = sl->ops->create(&sl->ctx, &sl->inst, err, errlen)))
			break;
		s->n++;
		if (metrics && (rc = c360_metrics_add(metrics, collect, sl)))
			break;
	}
	if (rc) {
		c360_sources_free(s);
		return rc;
	}
	*out = s;
	return C360_OK;
}

/* Sleeps until `until` (Unix seconds) or until stopping; true when stopping. */
static bool wait_until(c360_sources *s, int64_t until)
{
	pthread_mutex_lock(&s->lock);
	while (!s->stopping) {
		int64_t now = (int64_t)time(NULL);
		if (now >= until)
			break;
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		int64_t wait = until - now;
		ts.tv_sec += wait > 1 ? 1 : wait; /* re-check the wall clock each second */
		pthread_cond_timedwait(&s->cond, &s->lock, &ts);
	}
	bool stop = s->stopping;
	pthread_mutex_unlock(&s->lock);
	return stop;
}

static void *schedule_thread(void *arg)
{
	struct slot *sl = arg;
	c360_sources *s = sl->owner;
	struct c360_schedule sched = sl->ctx.src->schedule;
	if (sched.kind == C360_SCHED_NONE)
		c360_schedule_parse("every 5m", &sched);
	for (;;) {
		struct c360_source_pass pass = {0};
		char err[512] = "";
		c360_rc rc = sl->ops->run_once(sl->inst, &s->stopping, &pass, err, sizeof err);
		if (rc)
			C360_ERROR(sl->who, "pass failed: %s (it runs again at the next scheduled time)",
				   *err ? err : c360_rc_str(rc));
		else if (pass.records || pass.failed)
			C360_INFO(sl->who, "pass: %llu records, %llu written, %llu failed in %.1f s%s%s",
				  (unsigned long long)pass.records, (unsigned long long)pass.written,
				  (unsigned long long)pass.failed, pass.seconds,
				  pass.note[0] ? "; " : "", pass.note);
		else
			C360_DEBUG(sl->who, "pass: nothing new%s%s", pass.note[0] ? ": " : "",
				   pass.note);
		/* a pass's buffers were freed in this thread's malloc arena,
		 * which no one else uses until the next pass: give them back */
		if (pass.records || pass.failed)
			malloc_trim(0);
		int64_t next = c360_schedule_next(&sched, (int64_t)time(NULL));
		if (wait_until(s, next))
			break;
	}
	return NULL;
}

c360_rc c360_sources_start(c360_sources *s, char *err, size_t errlen)
{
	for (size_t i = 0; i < s->n; i++) {
		struct slot *sl = &s->slots[i];
		if (sl->ops->start) {
			c360_rc rc = sl->ops->start(sl->inst, err, errlen);
			if (rc)
				return rc;
			sl->started = true;
		} else {
			if (pthread_create(&sl->thread, NULL, schedule_thread, sl)) {
				snprintf(err, errlen, "cannot start a thread for source '%s'",
					 sl->ctx.src->name);
				return C360_ERR_NOMEM;
			}
			sl->has_thread = true;
		}
		C360_INFO(sl->who, "started");
	}
	return C360_OK;
}

c360_rc c360_sources_stop(c360_sources *s)
{
	c360_rc first = C360_OK;
	if (!s)
		return first;
	pthread_mutex_lock(&s->lock);
	s->stopping = 1;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	for (size_t i = s->n; i-- > 0;) {
		struct slot *sl = &s->slots[i];
		if (sl->started && sl->ops->stop) {
			c360_rc rc = sl->ops->stop(sl->inst);
			if (rc && !first)
				first = rc;
		}
		sl->started = false;
		if (sl->has_thread)
			pthread_join(sl->thread, NULL);
		sl->has_thread = false;
	}
	return first;
}

void c360_sources_free(c360_sources *s)
{
	if (!s)
		return;
	c360_sources_stop(s);
	for (size_t i = s->n; i-- > 0;) {
		struct slot *sl = &s->slots[i];
		if (s->metrics)
			c360_metrics_remove(s->metrics, collect, sl);
		sl->ops->free(sl->inst);
	}
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

size_t c360_sources_count(const c360_sources *s)
{
	return s->n;
}

const struct c360_source *c360_sources_get(const c360_sources *s, size_t i)
{
	return i < s->n ? s->slots[i].ctx.src : NULL;
}

c360_rc c360_sources_run_once(c360_sources *s, size_t i, const volatile int *stop,
			      struct c360_source_pass *pass, char *err, size_t errlen)
{
	if (i >= s->n)
		return C360_ERR_NOT_FOUND;
	memset(pass, 0, sizeof *pass);
	return s->slots[i].ops->run_once(s->slots[i].inst, stop, pass, err, errlen);
}

/* ---- settings helpers ---- */

c360_rc c360_source_str(const struct c360_source_ctx *ctx, const char *key, bool required,
			const char **out, char *err, size_t errlen)
{
	const c360_json *v = c360_json_get(ctx->src->settings, key);
	if (!v) {
		if (!required)
			return C360_OK;
		return c360_pipeline_fail(ctx->cfg, ctx->src->settings, err, errlen,
					  "source '%s' needs '%s'", ctx->src->name, key);
	}
	size_t len;
	const char *s = c360_json_str(v, &len);
	if (!s || !len || strlen(s) != len)
		return c360_pipeline_fail(ctx->cfg, v, err, errlen, "%s: expected a non-empty string",
					  key);
	*out = s;
	return C360_OK;
}

c360_rc c360_source_int(const struct c360_source_ctx *ctx, const char *key, int64_t min,
			int64_t max, int64_t *out, char *err, size_t errlen)
{
	const c360_json *v = c360_json_get(ctx->src->settings, key);
	if (!v)
		return C360_OK;
	int64_t i;
	const char *s = c360_json_str(v, NULL);
	if ((c360_json_int64(v, &i) || (s && c360_parse_int(s, &i))) && i >= min && i <= max) {
		*out = i;
		return C360_OK;
	}
	return c360_pipeline_fail(ctx->cfg, v, err, errlen,
				  "%s: expected a whole number from %lld to %lld", key,
				  (long long)min, (long long)max);
}

c360_rc c360_source_duration(const struct c360_source_ctx *ctx, const char *key, int64_t *out,
			     char *err, size_t errlen)
{
	const c360_json *v = c360_json_get(ctx->src->settings, key);
	if (!v)
		return C360_OK;
	int64_t i;
	const char *s = c360_json_str(v, NULL);
	if ((c360_json_int64(v, &i) && i >= 0) || (s && c360_parse_duration(s, &i))) {
		*out = i;
		return C360_OK;
	}
	return c360_pipeline_fail(ctx->cfg, v, err, errlen,
				  "%s: expected a duration such as 90, 90s, 90m, 25h or 2d", key);
}

c360_rc c360_source_bool(const struct c360_source_ctx *ctx, const char *key, bool *out, char *err,
			 size_t errlen)
{
	const c360_json *v = c360_json_get(ctx->src->settings, key);
	if (!v)
		return C360_OK;
	if (c360_json_is_bool(v)) {
		*out = c360_json_bool(v);
		return C360_OK;
	}
	return c360_pipeline_fail(ctx->cfg, v, err, errlen, "%s: expected true or false", key);
}

c360_rc c360_source_known_keys(const struct c360_source_ctx *ctx, const char *const *allowed,
			       char *err, size_t errlen)
{
	char where[128];
	snprintf(where, sizeof where, "the %s source '%s'", c360_source_type_str(ctx->src->type),
		 ctx->src->name);
	return c360_pipeline_known_keys(ctx->cfg, ctx->src->settings, where, allowed, err, errlen);
}
