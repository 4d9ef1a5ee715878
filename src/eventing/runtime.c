/* The eventing runtime: follows a function's source feed from its checkpoint,
 * dispatches changes to worker threads (one handler instance each), counts
 * outcomes, suppresses the function's own writes, writes checkpoints and the
 * application log.
 *
 * Algorithm: the loop reads a batch of feed events after the checkpoint,
 * copies them, and hands each to worker hash(key) % worker_count, so all
 * changes of one key go to one worker in seqno order. It waits until every
 * worker has finished the batch (a barrier), then the batch's last seqno is
 * done; the checkpoint is written when checkpoint_interval has passed, on
 * pause and on return. Progress is therefore at-least-once: a crash replays
 * at most the changes since the last checkpoint. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/hash.h"
#include "core/json.h"
#include "eventing/eventing.h"
#include "core/banned.h"

#define BATCH_MAX 256
#define APPLOG_MAX (40u << 20) /* Couchbase's app_log_max_size */
#define STATS_EVERY_MS 1000
#define RECORD_POLL_MS 1000

struct ev {
	uint64_t seqno, cas;
	enum c360_feed_op op;
	uint32_t expiry;
	char *key;
	size_t key_len;
	char *value;
	size_t value_len;
	struct ev *next_in_worker;
};

/* What one handler call's write changed in an overlay entry, to put it back
 * when the call is cut short (timeout, limit, stop). */
struct undo {
	struct ov *o;
	char *value;        /* the entry's value before the write (owned here) */
	size_t value_len;
	bool owns_value;    /* false for a touch, which keeps the value */
	uint64_t cas, new_cas;
	uint32_t expiry;
	unsigned flags;
	bool dirty, allow_rec;
};

#define HIST_N 256
struct worker {
	struct c360_fn_run *r;
	int id;
	pthread_t th;
	bool started;
	struct c360_fn_env env;
	void *inst;
	struct ev *head, *tail; /* this batch's events */
	struct undo *undo;      /* the running call's writes (under r->ov_mu) */
	size_t nundo, capundo;
	bool abandoned;         /* a call was abandoned because the run stops */
	uint64_t hist[HIST_N];  /* latency histogram (log-linear, µs) */
	struct c360_fn_stats st;
};

/* seqnos of the function's own writes to its source bucket (suppressed) */
struct seqset {
	uint64_t *v;
	size_t cap, n;
};

struct c360_fn_run {
	c360_store *st;
	struct c360_fn_def def;
	const struct c360_fn_kind *kind;
	char who[C360_FN_NAME_MAX + 16];
	int nworkers;
	struct worker *w;
	pthread_mutex_t mu;
	pthread_cond_t work_cv, done_cv;
	uint64_t gen;      /* batch generation */
	int pending;       /* workers still busy with the batch */
	bool quit;
	struct seqset own;
	pthread_mutex_t ov_mu;
	struct ov *ov[4096];
	size_t ov_n;
	struct ov *ovp[4096]; /* the batch being committed */
	size_t ovp_n;
	pthread_t committer;
	bool committing, commit_threaded, pending_has_source;
	c360_rc pcommit_rc;
	struct c360_write *pops;
	struct ov **pwho;
	size_t pn;
	uint64_t pending_last;
	uint64_t read_seqno; /* last seqno handed to the workers */
	uint64_t prov_cas;
	uint64_t writes, conflicts;
	FILE *applog;
	char applog_path[4096];
	pthread_mutex_t log_mu;
	uint64_t seqno;    /* done */
	uint64_t ck_seqno; /* last checkpointed */
	int64_t ck_time, stats_time;
	struct c360_fn_stats base; /* counters carried over from the checkpoint */
	uint64_t suppressed;
	uint64_t checkpoints;
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- latency histogram: 8 sub-buckets per power of two ---- */

static int hist_idx(uint64_t us)
{
	if (us < 8)
		return (int)us;
	int lg = 63 - __builtin_clzll(us);
	int sub = (int)((us >> (lg - 3)) & 7);
	int i = (lg - 2) * 8 + sub;
	return i < HIST_N ? i : HIST_N - 1;
}

static uint64_t hist_val(int i)
{
	if (i < 8)
		return (uint64_t)i;
	int lg = i / 8 + 2, sub = i % 8;
	return ((uint64_t)(8 + sub) << (lg - 3)) + ((uint64_t)1 << (lg - 3)) - 1; /* bucket top */
}

static uint64_t hist_pct(const uint64_t *h, double p)
{
	uint64_t total = 0, acc = 0;
	for (int i = 0; i < HIST_N; i++)
		total += h[i];
	if (!total)
		return 0;
	uint64_t want = (uint64_t)((double)total * p);
	if (want >= total)
		want = total - 1;
	for (int i = 0; i < HIST_N; i++) {
		acc += h[i];
		if (acc > want)
			return hist_val(i);
	}
	return 0;
}

/* ---- own-write suppression ---- */

static bool seqset_add(struct seqset *s, uint64_t v)
{
	if (s->n == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 256;
		if (nc > (1u << 22))
			return false; /* bounded: past 4M pending own writes, stop suppressing */
		uint64_t *p = realloc(s->v, nc * sizeof *p);
		if (!p)
			return false;
		s->v = p;
		s->cap = nc;
	}
	s->v[s->n++] = v;
	return true;
}

/* Removes and reports v; drops entries below `floor` (already passed). */
static bool seqset_take(struct seqset *s, uint64_t v)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i] == v) {
			s->v[i] = s->v[--s->n];
			return true;
		}
	return false;
}

/* ---- the interface handler kinds call ---- */

/* ---- write-behind: a batch's writes, committed in one transaction ----
 *
 * Handler writes go to an overlay shared by the function's workers (under
 * r->ov_mu) and reads look there first, so handlers read their own writes and
 * CAS checks see every write of the batch. After the batch the loop commits
 * every changed key in one c360_store_write(), before the checkpoint may move
 * past the batch: a crash replays the batch (at-least-once) and never loses an
 * acknowledged change. Keys read from the store keep their store CAS as the
 * base: the commit replaces with that CAS, so an outside writer's change in
 * between is detected (logged and counted as a conflict, the outside change
 * wins). CAS values handed out inside a batch are provisional. */

#define OV_BUCKETS 4096

struct ov {
	struct ov *next;
	char *bucket;
	char *key;
	size_t key_len;
	char *value;       /* NULL = deleted */
	size_t value_len;
	uint64_t cas;      /* provisional CAS seen by handlers */
	uint64_t base_cas; /* CAS in the store when first read (0 = absent) */
	uint32_t expiry;
	unsigned flags;
	bool dirty;
	bool allow_rec;
	bool from_pending; /* cloned from the batch being committed: base fixed at join */
	bool upsert;       /* commit without a CAS precondition */
	uint64_t committed_cas; /* pending entries: the store's CAS after the commit */
	c360_rc commit_rc;      /* pending entries: the commit's result */
};


static size_t ov_slot(const char *bucket, const char *key, size_t klen)
{
	return (size_t)((c360_fnv1a(key, klen) ^ c360_fnv1a(bucket, strlen(bucket))) % OV_BUCKETS);
}

static struct ov *ov_find_in(struct ov **tab, const char *bucket, const char *key, size_t klen)
{
	for (struct ov *o = tab[ov_slot(bucket, key, klen)]; o; o = o->next)
		if (o->key_len == klen && !memcmp(o->key, key, klen) && !strcmp(o->bucket, bucket))
			return o;
	return NULL;
}

static struct ov *ov_find(struct c360_fn_run *r, const char *bucket, const char *key, size_t klen)
{
	return ov_find_in(r->ov, bucket, key, klen);
}

/* Finds or loads the entry for bucket/key (reading the store once). Called
 * with r->ov_mu held; drops it while reading the store. */
static c360_rc ov_load(struct c360_fn_run *r, const char *bucket, const char *key, size_t klen, struct ov **out)
{
	struct ov *o = ov_find(r, bucket, key, klen);
	if (o) {
		*out = o;
		return C360_OK;
	}
	/* the previous batch, still being committed, has the latest value */
	struct ov *p = r->ovp_n ? ov_find_in(r->ovp, bucket, key, klen) : NULL;
	if (p) {
		o = calloc(1, sizeof *o);
		if (!o || !(o->bucket = strdup(bucket)) || !(o->key = malloc(klen + 1)) ||
		    (p->value && !(o->value = malloc(p->value_len + 1)))) {
			if (o) {
				free(o->bucket);
				free(o->key);
			}
			free(o);
			return C360_ERR_NOMEM;
		}
		memcpy(o->key, key, klen);
		o->key[klen] = 0;
		o->key_len = klen;
		if (p->value) {
			memcpy(o->value, p->value, p->value_len + 1);
			o->value_len = p->value_len;
		}
		o->cas = p->cas;
		o->expiry = p->expiry;
		o->flags = p->flags;
		o->from_pending = true;
		size_t slot = ov_slot(bucket, key, klen);
		o->next = r->ov[slot];
		r->ov[slot] = o;
		r->ov_n++;
		*out = o;
		return C360_OK;
	}
	/* read the store without holding the overlay lock (other workers go on);
	 * if another worker loaded the key meanwhile, its entry wins */
	struct c360_doc d = {0};
	pthread_mutex_unlock(&r->ov_mu);
	c360_rc rc = c360_store_get(r->st, bucket, key, klen, &d);
	pthread_mutex_lock(&r->ov_mu);
	if ((o = ov_find(r, bucket, key, klen))) {
		c360_doc_release(&d);
		*out = o;
		return C360_OK;
	}
	if (rc && rc != C360_ERR_NOT_FOUND)
		return rc;
	o = calloc(1, sizeof *o);
	if (!o || !(o->bucket = strdup(bucket)) || !(o->key = malloc(klen + 1))) {
		if (o)
			free(o->bucket);
		free(o);
		c360_doc_release(&d);
		return C360_ERR_NOMEM;
	}
	memcpy(o->key, key, klen);
	o->key[klen] = 0;
	o->key_len = klen;
	if (!rc) {
		o->value = d.value; /* takes the store's buffer */
		o->value_len = d.value_len;
		d.value = NULL;
		o->cas = o->base_cas = d.cas;
		o->expiry = d.expiry;
	}
	c360_doc_release(&d);
	size_t slot = ov_slot(bucket, key, klen);
	o->next = r->ov[slot];
	r->ov[slot] = o;
	r->ov_n++;
	*out = o;
	return C360_OK;
}

static void ov_clear_tab(struct ov **tab, size_t *n)
{
	for (size_t i = 0; i < OV_BUCKETS && *n; i++) {
		struct ov *o = tab[i];
		while (o) {
			struct ov *nx = o->next;
			free(o->bucket);
			free(o->key);
			free(o->value);
			free(o);
			o = nx;
			(*n)--;
		}
		tab[i] = NULL;
	}
	*n = 0;
}

static void ov_clear(struct c360_fn_run *r)
{
	ov_clear_tab(r->ov, &r->ov_n);
}

/* Records o's state before a write of worker wk's running call. */
static c360_rc undo_push(struct worker *wk, struct ov *o, bool owns_value)
{
	if (wk->nundo == wk->capundo) {
		size_t nc = wk->capundo ? wk->capundo * 2 : 16;
		struct undo *p = realloc(wk->undo, nc * sizeof *p);
		if (!p)
			return C360_ERR_NOMEM;
		wk->undo = p;
		wk->capundo = nc;
	}
	struct undo *u = &wk->undo[wk->nundo++];
	u->o = o;
	u->owns_value = owns_value;
	u->value = owns_value ? o->value : NULL;
	u->value_len = o->value_len;
	u->cas = o->cas;
	u->new_cas = 0;
	u->expiry = o->expiry;
	u->flags = o->flags;
	u->dirty = o->dirty;
	u->allow_rec = o->allow_rec;
	return C360_OK;
}

/* Ends worker wk's call: with rollback, puts back every entry the call
 * changed (newest first) unless another worker wrote it since; frees the
 * values the call replaced. */
static void undo_end(struct c360_fn_run *r, struct worker *wk, bool rollback)
{
	if (!wk->nundo)
		return;
	pthread_mutex_lock(&r->ov_mu);
	for (size_t i = wk->nundo; i-- > 0;) {
		struct undo *u = &wk->undo[i];
		struct ov *o = u->o;
		if (!rollback || o->cas != u->new_cas) {
			free(u->value);
			continue;
		}
		if (u->owns_value) {
			free(o->value);
			o->value = u->value;
			o->value_len = u->value_len;
		}
		o->cas = u->cas;
		o->expiry = u->expiry;
		o->flags = u->flags;
		o->dirty = u->dirty;
		o->allow_rec = u->allow_rec;
	}
	wk->nundo = 0;
	pthread_mutex_unlock(&r->ov_mu);
}

/* Applies one write to the overlay; wk (or NULL) is the worker whose call
 * makes it, so that the write can be undone. */
static c360_rc ov_apply(struct c360_fn_run *r, struct worker *wk, struct c360_write *w, bool allow_rec)
{
	struct ov *o;
	c360_rc rc = ov_load(r, w->bucket, w->key, w->key_len, &o);
	if (rc)
		return rc;
	bool present = o->value != NULL;
	switch (w->type) {
	case C360_WRITE_INSERT:
		if (present)
			return C360_ERR_EXISTS;
		break;
	case C360_WRITE_REPLACE:
	case C360_WRITE_DELETE:
	case C360_WRITE_TOUCH:
		if (!present)
			return C360_ERR_NOT_FOUND;
		if (w->cas && w->cas != o->cas)
			return C360_ERR_CAS;
		break;
	default:
		break;
	}
	char *v = NULL;
	if (w->type != C360_WRITE_DELETE && w->type != C360_WRITE_TOUCH) {
		if (w->value_len > C360_VALUE_MAX)
			return C360_ERR_TOO_BIG;
		if (!(v = malloc(w->value_len + 1)))
			return C360_ERR_NOMEM;
		memcpy(v, w->value, w->value_len);
		v[w->value_len] = 0;
	}
	/* the undo record keeps the replaced value: nothing to free then */
	if (wk && undo_push(wk, o, w->type != C360_WRITE_TOUCH)) {
		free(v);
		return C360_ERR_NOMEM;
	}
	if (w->type == C360_WRITE_DELETE) {
		if (!wk)
			free(o->value);
		o->value = NULL;
		o->value_len = 0;
	} else if (w->type == C360_WRITE_TOUCH) {
		o->expiry = w->expiry;
	} else {
		if (!wk)
			free(o->value);
		o->value = v;
		o->value_len = w->value_len;
		if (!(w->flags & C360_WRITE_KEEP_EXPIRY))
			o->expiry = w->expiry;
		o->flags = w->flags & C360_WRITE_TRUSTED_JSON;
	}
	o->dirty = true;
	o->allow_rec = o->allow_rec || allow_rec;
	o->cas = ++r->prov_cas;
	w->new_cas = o->cas;
	if (wk)
		wk->undo[wk->nundo - 1].new_cas = o->cas;
	return C360_OK;
}

c360_rc c360_fn_write(struct c360_fn_env *env, struct c360_write *ops, size_t n, bool allow_recursion)
{
	struct c360_fn_run *r = env->rt;
	if (!r)
		return c360_store_write(env->store, ops, n);
	struct worker *wk = env->worker >= 0 && env->worker < r->nworkers ? &r->w[env->worker] : NULL;
	pthread_mutex_lock(&r->ov_mu);
	for (size_t i = 0; i < n; i++) {
		ops[i].rc = ov_apply(r, wk, &ops[i], allow_recursion);
		ops[i].seqno = 0;
		if (!ops[i].rc)
			r->writes++;
	}
	pthread_mutex_unlock(&r->ov_mu);
	return C360_OK;
}

c360_rc c360_fn_get(struct c360_fn_env *env, const char *bucket, const char *key, size_t key_len,
		    struct c360_doc *out)
{
	struct c360_fn_run *r = env->rt;
	if (!r)
		return c360_store_get(env->store, bucket, key, key_len, out);
	pthread_mutex_lock(&r->ov_mu);
	struct ov *o;
	c360_rc rc = ov_load(r, bucket, key, key_len, &o);
	if (!rc && !o->value)
		rc = C360_ERR_NOT_FOUND;
	if (!rc) {
		memset(out, 0, sizeof *out);
		out->key = malloc(key_len + 1);
		out->value = malloc(o->value_len + 1);
		if (!out->key || !out->value) {
			free(out->key);
			free(out->value);
			memset(out, 0, sizeof *out);
			rc = C360_ERR_NOMEM;
		} else {
			memcpy(out->key, key, key_len);
			out->key[key_len] = 0;
			out->key_len = key_len;
			memcpy(out->value, o->value, o->value_len + 1);
			out->value_len = o->value_len;
			out->cas = o->cas;
			out->expiry = o->expiry;
		}
	}
	pthread_mutex_unlock(&r->ov_mu);
	return rc;
}

/* Committing runs on its own thread while the workers process the next batch
 * (the fsync of one batch overlaps the handlers of the next); reads of keys
 * the committing batch wrote are served from it (ov_load clones them). */
static void *commit_main(void *arg)
{
	struct c360_fn_run *r = arg;
	r->pcommit_rc = c360_store_write(r->st, r->pops, r->pn);
	return NULL;
}

/* Waits for the batch being committed and records its outcome: conflicts,
 * own writes to suppress, the CAS the store gave each key (the base of the
 * current batch's clones). Loop thread, workers idle. */
static c360_rc ov_commit_join(struct c360_fn_run *r)
{
	if (!r->committing)
		return C360_OK;
	if (r->commit_threaded)
		pthread_join(r->committer, NULL);
	r->committing = false;
	c360_rc rc = r->pcommit_rc;
	for (size_t i = 0; !rc && i < r->pn; i++) {
		struct c360_write *w = &r->pops[i];
		struct ov *o = r->pwho[i];
		o->commit_rc = w->rc;
		o->committed_cas = w->rc ? 0 : w->new_cas;
		if (w->rc == C360_ERR_NOT_FOUND && w->type == C360_WRITE_DELETE && !o->base_cas) {
			o->commit_rc = C360_OK; /* created and deleted within the batch */
			continue;
		}
		if (w->rc) {
			r->conflicts++;
			C360_WARN(r->who, "write of '%s' in '%s' lost to a concurrent change: %s", o->key, o->bucket,
				  c360_rc_str(w->rc));
			continue;
		}
		if (!o->allow_rec && !r->def.self_recursion && w->seqno && !strcmp(w->bucket, r->def.source_bucket))
			seqset_add(&r->own, w->seqno);
	}
	/* the current batch's entries cloned from the committed one get their base */
	for (size_t s = 0; s < OV_BUCKETS && r->ov_n; s++)
		for (struct ov *o = r->ov[s]; o; o = o->next) {
			if (!o->from_pending)
				continue;
			struct ov *p = ov_find_in(r->ovp, o->bucket, o->key, o->key_len);
			o->from_pending = false;
			if (p && !p->dirty)
				o->base_cas = p->base_cas; /* only read there: the store's value */
			else if (!p || rc || p->commit_rc)
				o->upsert = true; /* state unknown: write without precondition */
			else
				o->base_cas = p->value ? p->committed_cas : 0;
		}
	free(r->pops);
	free(r->pwho);
	r->pops = NULL;
	r->pwho = NULL;
	r->pn = 0;
	ov_clear_tab(r->ovp, &r->ovp_n);
	if (!rc)
		r->seqno = r->pending_last;
	return rc;
}

/* Starts committing the current batch's changed keys (up to seqno `last`) in
 * one transaction. Loop thread, workers idle, no commit running. */
static c360_rc ov_commit_start(struct c360_fn_run *r, uint64_t last)
{
	size_t n = 0, i = 0;
	for (size_t s = 0; s < OV_BUCKETS; s++)
		for (struct ov *o = r->ov[s]; o; o = o->next)
			n += o->dirty;
	if (!n) {
		ov_clear(r);
		r->seqno = last;
		return C360_OK;
	}
	struct c360_write *ops = calloc(n, sizeof *ops);
	struct ov **who = calloc(n, sizeof *who);
	if (!ops || !who) {
		free(ops);
		free(who);
		return C360_ERR_NOMEM;
	}
	for (size_t s = 0; s < OV_BUCKETS; s++)
		for (struct ov *o = r->ov[s]; o; o = o->next) {
			if (!o->dirty)
				continue;
			struct c360_write *w = &ops[i];
			who[i++] = o;
			w->bucket = o->bucket;
			w->key = o->key;
			w->key_len = o->key_len;
			w->cas = o->upsert ? 0 : o->base_cas;
			if (!o->value) {
				w->type = C360_WRITE_DELETE;
			} else {
				w->type = o->upsert ? C360_WRITE_UPSERT
					  : o->base_cas ? C360_WRITE_REPLACE : C360_WRITE_INSERT;
				w->value = o->value;
				w->value_len = o->value_len;
				w->expiry = o->expiry;
				w->flags = o->flags;
			}
		}
	/* the current table becomes the pending one */
	memcpy(r->ovp, r->ov, sizeof r->ov);
	r->ovp_n = r->ov_n;
	memset(r->ov, 0, sizeof r->ov);
	r->ov_n = 0;
	r->pops = ops;
	r->pwho = who;
	r->pn = n;
	r->pending_last = last;
	/* own writes to the source must be known before the feed is read again */
	r->pending_has_source = false;
	for (i = 0; i < n && !r->def.self_recursion; i++)
		if (!who[i]->allow_rec && !strcmp(ops[i].bucket, r->def.source_bucket))
			r->pending_has_source = true;
	r->commit_threaded = !pthread_create(&r->committer, NULL, commit_main, r);
	if (!r->commit_threaded)
		commit_main(r); /* no thread: commit inline */
	r->committing = true;
	return C360_OK;
}

static const char *lvname(enum c360_log_level l)
{
	static const char *n[] = {"ERROR", "WARNING", "INFO", "DEBUG", "TRACE"};
	return (unsigned)l < 5 ? n[l] : "INFO";
}

void c360_fn_app_log(struct c360_fn_env *env, enum c360_log_level level, const char *fmt, ...)
{
	struct c360_fn_run *r = env->rt;
	char msg[4096];
	va_list ap;
	if (level > env->def->log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (level <= C360_LOG_WARN)
		c360_log(level, r ? r->who : env->def->name, "%s", msg);
	if (!r)
		return;
	struct timespec ts;
	struct tm tm;
	char stamp[40];
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
	pthread_mutex_lock(&r->log_mu);
	if (r->applog) {
		if (ftell(r->applog) > (long)APPLOG_MAX) {
			/* rotate: keep one previous file */
			char old[4200];
			snprintf(old, sizeof old, "%s.1", r->applog_path);
			fclose(r->applog);
			rename(r->applog_path, old);
			r->applog = fopen(r->applog_path, "a");
		}
		if (r->applog) {
			fprintf(r->applog, "%s.%03ldZ [%s] %s\n", stamp, ts.tv_nsec / 1000000, lvname(level), msg);
			fflush(r->applog);
		}
	}
	pthread_mutex_unlock(&r->log_mu);
}

/* ---- workers ---- */

static void handle(struct worker *w, struct ev *e)
{
	struct c360_fn_run *r = w->r;
	struct c360_fn_meta m = {
		.id = e->key,
		.id_len = e->key_len,
		.cas = e->cas,
		.expiration = e->expiry,
		.seq = e->seqno,
		.keyspace = r->def.source_bucket,
		.is_json = true,
	};
	int64_t t0 = mono_us();
	c360_rc rc;
	bool upd = e->op == C360_FEED_MUTATION;
	if (upd)
		rc = r->kind->on_update(w->inst, &m, e->value, e->value_len);
	else
		rc = r->kind->on_delete(w->inst, &m, e->op == C360_FEED_EXPIRATION);
	/* a call cut short keeps none of its writes; one abandoned because the
	 * run stops is not counted: its batch is handled again at the next start */
	bool stopping = rc == C360_ERR_STATE && w->env.stop && *w->env.stop;
	undo_end(r, w, rc == C360_ERR_TIMEOUT || rc == C360_ERR_LIMIT || stopping);
	if (stopping) {
		w->abandoned = true;
		return;
	}
	if (upd) {
		w->st.dcp_mutation++;
		if (rc)
			w->st.on_update_failure++;
		else
			w->st.on_update_success++;
	} else {
		if (e->op == C360_FEED_EXPIRATION)
			w->st.dcp_expiration++;
		else
			w->st.dcp_deletion++;
		if (rc)
			w->st.on_delete_failure++;
		else
			w->st.on_delete_success++;
	}
	if (rc == C360_ERR_TIMEOUT)
		w->st.timeouts++;
	if (rc)
		w->st.failures++;
	w->st.processed++;
	int64_t dt = mono_us() - t0;
	w->hist[hist_idx(dt > 0 ? (uint64_t)dt : 0)]++;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct c360_fn_run *r = w->r;
	uint64_t seen = 0;
	pthread_mutex_lock(&r->mu);
	for (;;) {
		while (!r->quit && r->gen == seen)
			pthread_cond_wait(&r->work_cv, &r->mu);
		if (r->quit)
			break;
		seen = r->gen;
		struct ev *e = w->head;
		pthread_mutex_unlock(&r->mu);
		for (; e && !w->abandoned; e = e->next_in_worker)
			handle(w, e);
		pthread_mutex_lock(&r->mu);
		w->head = w->tail = NULL;
		if (--r->pending == 0)
			pthread_cond_broadcast(&r->done_cv);
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

/* ---- checkpoints ---- */

static void sum_stats(struct c360_fn_run *r, struct c360_fn_stats *s)
{
	uint64_t hist[HIST_N] = {0};
	*s = r->base;
	for (int i = 0; i < r->nworkers; i++) {
		const struct c360_fn_stats *x = &r->w[i].st;
		s->processed += x->processed;
		s->on_update_success += x->on_update_success;
		s->on_update_failure += x->on_update_failure;
		s->on_delete_success += x->on_delete_success;
		s->on_delete_failure += x->on_delete_failure;
		s->timeouts += x->timeouts;
		s->failures += x->failures;
		s->dcp_mutation += x->dcp_mutation;
		s->dcp_deletion += x->dcp_deletion;
		s->dcp_expiration += x->dcp_expiration;
		for (int j = 0; j < HIST_N; j++)
			hist[j] += r->w[i].hist[j];
	}
	s->suppressed += r->suppressed;
	s->checkpoints += r->checkpoints;
	s->seqno = r->seqno;
	s->p50_us = hist_pct(hist, 0.50);
	s->p99_us = hist_pct(hist, 0.99);
}

/* Writes the checkpoint document, or (stats_only) the progress document
 * "eventing::NAME::stats" that status reads between checkpoints. */
static c360_rc write_doc(struct c360_fn_run *r, const char *state, bool stats_only)
{
	struct c360_fn_stats s;
	struct c360_buf b;
	char key[C360_KEY_MAX + 1];
	if (!stats_only && r->seqno != r->ck_seqno)
		r->checkpoints++;
	sum_stats(r, &s);
	c360_buf_init(&b, 1 << 16);
	c360_rc rc = c360_buf_printf(
		&b,
		"{\"function\":\"%s\",\"seqno\":%" PRIu64 ",\"updated\":%" PRId64 ",\"state\":\"%s\","
		"\"stats\":{\"num_processed_events\":%" PRIu64 ",\"on_update_success\":%" PRIu64
		",\"on_update_failure\":%" PRIu64 ",\"on_delete_success\":%" PRIu64 ",\"on_delete_failure\":%" PRIu64
		",\"timeout_count\":%" PRIu64 ",\"failures\":%" PRIu64 ",\"dcp_mutation\":%" PRIu64
		",\"dcp_deletion\":%" PRIu64 ",\"dcp_expiration\":%" PRIu64 ",\"dcp_suppressed\":%" PRIu64
		",\"checkpoints\":%" PRIu64 ",\"p50_us\":%" PRIu64 ",\"p99_us\":%" PRIu64
		",\"kv_writes\":%" PRIu64 ",\"write_conflicts\":%" PRIu64,
		r->def.name, r->seqno, wall_ms(), state, s.processed, s.on_update_success, s.on_update_failure,
		s.on_delete_success, s.on_delete_failure, s.timeouts, s.failures, s.dcp_mutation, s.dcp_deletion,
		s.dcp_expiration, s.suppressed, s.checkpoints, s.p50_us, s.p99_us, r->writes, r->conflicts);
	if (!rc && r->kind->stats && r->nworkers > 0 && r->w[0].inst) {
		size_t mark = b.len;
		rc = c360_buf_putc(&b, ',');
		if (!rc) {
			rc = r->kind->stats(r->w[0].inst, &b);
			if (!rc && b.len == mark + 1) {
				b.len = mark;
				b.data[b.len] = 0;
			}
		}
	}
	if (!rc)
		rc = c360_buf_puts(&b, "}}");
	snprintf(key, sizeof key, "eventing::%s::%s", r->def.name, stats_only ? "stats" : "checkpoint");
	if (!rc)
		rc = c360_store_upsert(r->st, r->def.metadata_bucket, key, strlen(key), b.data, b.len, 0, NULL);
	c360_buf_release(&b);
	r->stats_time = mono_ms();
	if (stats_only)
		return rc;
	if (rc)
		C360_ERROR(r->who, "cannot write checkpoint %" PRIu64 " to '%s': %s", r->seqno,
			   r->def.metadata_bucket, c360_rc_str(rc));
	else
		r->ck_seqno = r->seqno;
	r->ck_time = mono_ms();
	return rc;
}

static void load_checkpoint(struct c360_fn_run *r, uint64_t boundary)
{
	char key[C360_KEY_MAX + 1];
	struct c360_doc d = {0};
	c360_json_doc *doc = NULL;
	r->seqno = boundary;
	snprintf(key, sizeof key, "eventing::%s::checkpoint", r->def.name);
	if (c360_store_get(r->st, r->def.metadata_bucket, key, strlen(key), &d))
		return;
	if (!c360_json_parse(d.value, d.value_len, NULL, &doc, NULL)) {
		c360_json *root = c360_json_doc_root(doc), *s = c360_json_get(root, "stats");
		int64_t v;
		if (c360_json_int64(c360_json_get(root, "seqno"), &v) && v >= 0)
			r->seqno = (uint64_t)v;
#define LOADSTAT(field, name)                                                     \
	do {                                                                      \
		if (c360_json_int64(c360_json_get(s, name), &v) && v >= 0)        \
			r->base.field = (uint64_t)v;                              \
	} while (0)
		LOADSTAT(processed, "num_processed_events");
		LOADSTAT(on_update_success, "on_update_success");
		LOADSTAT(on_update_failure, "on_update_failure");
		LOADSTAT(on_delete_success, "on_delete_success");
		LOADSTAT(on_delete_failure, "on_delete_failure");
		LOADSTAT(timeouts, "timeout_count");
		LOADSTAT(failures, "failures");
		LOADSTAT(dcp_mutation, "dcp_mutation");
		LOADSTAT(dcp_deletion, "dcp_deletion");
		LOADSTAT(dcp_expiration, "dcp_expiration");
		LOADSTAT(suppressed, "dcp_suppressed");
		LOADSTAT(checkpoints, "checkpoints");
#undef LOADSTAT
	}
	c360_json_doc_free(doc);
	c360_doc_release(&d);
	r->ck_seqno = r->seqno;
}

static c360_rc write_checkpoint(struct c360_fn_run *r, const char *state)
{
	return write_doc(r, state, false);
}

/* ---- lifecycle ---- */

void c360_fn_run_free(c360_fn_run *r)
{
	if (!r)
		return;
	if (r->w) {
		pthread_mutex_lock(&r->mu);
		r->quit = true;
		pthread_cond_broadcast(&r->work_cv);
		pthread_mutex_unlock(&r->mu);
		for (int i = 0; i < r->nworkers; i++) {
			if (r->w[i].started)
				pthread_join(r->w[i].th, NULL);
			if (r->kind)
				r->kind->free(r->w[i].inst);
			free(r->w[i].undo);
		}
		free(r->w);
	}
	if (r->applog)
		fclose(r->applog);
	free(r->own.v);
	pthread_mutex_destroy(&r->mu);
	pthread_mutex_destroy(&r->log_mu);
	if (r->committing && r->commit_threaded)
		pthread_join(r->committer, NULL);
	free(r->pops);
	free(r->pwho);
	ov_clear(r);
	ov_clear_tab(r->ovp, &r->ovp_n);
	pthread_mutex_destroy(&r->ov_mu);
	pthread_cond_destroy(&r->work_cv);
	pthread_cond_destroy(&r->done_cv);
	c360_fn_def_release(&r->def);
	free(r);
}

static c360_rc copy_def(struct c360_fn_def *dst, const struct c360_fn_def *src)
{
	*dst = *src;
	dst->code = NULL;
	for (int i = 0; i < dst->nbindings; i++) {
		struct c360_fn_binding *b = &dst->bindings[i];
		b->url = b->username = b->password = b->token = b->value = NULL;
	}
	int bad = 0;
#define DUP(f)                                                     \
	do {                                                       \
		if (src->f && !(dst->f = strdup(src->f)))          \
			bad = 1;                                   \
	} while (0)
	if (src->code) {
		dst->code = malloc(src->code_len + 1);
		if (dst->code) {
			memcpy(dst->code, src->code, src->code_len);
			dst->code[src->code_len] = 0;
		} else {
			bad = 1;
		}
	}
	for (int i = 0; i < dst->nbindings; i++) {
		DUP(bindings[i].url);
		DUP(bindings[i].username);
		DUP(bindings[i].password);
		DUP(bindings[i].token);
		DUP(bindings[i].value);
	}
#undef DUP
	return bad ? C360_ERR_NOMEM : C360_OK;
}

c360_rc c360_fn_run_new(c360_store *st, const struct c360_fn_def *def, uint64_t boundary,
			c360_fn_run **out, char *err, size_t errlen)
{
	c360_rc rc;
	struct c360_fn_run *r = calloc(1, sizeof *r);
	*out = NULL;
	if (!r)
		return C360_ERR_NOMEM;
	pthread_mutex_init(&r->mu, NULL);
	pthread_mutex_init(&r->log_mu, NULL);
	pthread_mutex_init(&r->ov_mu, NULL);
	pthread_cond_init(&r->work_cv, NULL);
	pthread_cond_init(&r->done_cv, NULL);
	r->st = st;
	if ((rc = copy_def(&r->def, def)))
		goto fail;
	snprintf(r->who, sizeof r->who, "function:%s", def->name);
	r->kind = c360_fn_kind_find(def->kind);
	if (!r->kind) {
		snprintf(err, errlen, "function '%s': kind '%s' is not built into this c360", def->name, def->kind);
		rc = C360_ERR_UNSUPPORTED;
		goto fail;
	}
	if ((rc = c360_store_bucket_ensure(st, def->metadata_bucket, 0)) ||
	    (rc = c360_store_bucket_ensure(st, def->source_bucket, 0))) {
		snprintf(err, errlen, "function '%s': cannot open its buckets: %s", def->name, c360_rc_str(rc));
		goto fail;
	}
	/* application log */
	if (!c360_fn_app_log_path(st, def->name, r->applog_path, sizeof r->applog_path)) {
		char dir[4096];
		snprintf(dir, sizeof dir, "%s", r->applog_path);
		char *slash = strrchr(dir, '/');
		if (slash) {
			*slash = 0;
			mkdir(dir, 0755);
		}
		r->applog = fopen(r->applog_path, "a");
		if (!r->applog)
			C360_WARN(r->who, "cannot open application log '%s': %s", r->applog_path, strerror(errno));
	}
	load_checkpoint(r, boundary);
	r->read_seqno = r->seqno;
	r->ck_time = mono_ms();
	r->prov_cas = (uint64_t)wall_ms() << 20; /* provisional CAS values, unlike the store's */
	r->nworkers = def->worker_count > 0 ? def->worker_count : 1;
	r->w = calloc((size_t)r->nworkers, sizeof *r->w);
	if (!r->w) {
		rc = C360_ERR_NOMEM;
		goto fail;
	}
	for (int i = 0; i < r->nworkers; i++) {
		struct worker *w = &r->w[i];
		w->r = r;
		w->id = i;
		w->env.store = st;
		w->env.def = &r->def;
		w->env.worker = i;
		w->env.rt = r;
		if ((rc = r->kind->create(&w->env, &w->inst, err, errlen)))
			goto fail;
	}
	for (int i = 0; i < r->nworkers; i++) {
		if (pthread_create(&r->w[i].th, NULL, worker_main, &r->w[i])) {
			snprintf(err, errlen, "cannot start worker threads");
			rc = C360_ERR_NOMEM;
			goto fail;
		}
		r->w[i].started = true;
	}
	*out = r;
	return C360_OK;
fail:
	c360_fn_run_free(r);
	return rc;
}

struct batch {
	struct ev *ev;
	size_t n;
	uint64_t last;
	bool nomem;
};

static int collect(const struct c360_feed_event *fe, void *ctx)
{
	struct batch *b = ctx;
	struct ev *e = &b->ev[b->n];
	memset(e, 0, sizeof *e);
	e->seqno = fe->seqno;
	e->cas = fe->cas;
	e->op = fe->op;
	e->expiry = fe->expiry;
	e->key = malloc(fe->key_len + 1);
	if (!e->key) {
		b->nomem = true;
		return 1;
	}
	memcpy(e->key, fe->key, fe->key_len);
	e->key[fe->key_len] = 0;
	e->key_len = fe->key_len;
	if (fe->value) {
		e->value = malloc(fe->value_len + 1);
		if (!e->value) {
			free(e->key);
			b->nomem = true;
			return 1;
		}
		memcpy(e->value, fe->value, fe->value_len);
		e->value[fe->value_len] = 0;
		e->value_len = fe->value_len;
	}
	b->n++;
	return 0;
}

/* Runs one batch through the workers and waits for all of them. */
static void run_batch(struct c360_fn_run *r, struct batch *b)
{
	int busy = 0;
	b->last = b->ev[b->n - 1].seqno;
	pthread_mutex_lock(&r->mu);
	for (size_t i = 0; i < b->n; i++) {
		struct ev *e = &b->ev[i];
		if (r->own.n && seqset_take(&r->own, e->seqno)) {
			r->suppressed++;
			continue;
		}
		struct worker *w = &r->w[c360_fnv1a(e->key, e->key_len) % (uint64_t)r->nworkers];
		if (w->tail)
			w->tail->next_in_worker = e;
		else
			w->head = e;
		w->tail = e;
	}
	for (int i = 0; i < r->nworkers; i++)
		if (r->w[i].head)
			busy++;
	r->pending = r->nworkers;
	r->gen++;
	pthread_cond_broadcast(&r->work_cv);
	while (r->pending > 0)
		pthread_cond_wait(&r->done_cv, &r->mu);
	pthread_mutex_unlock(&r->mu);
	(void)busy;
}

static void free_batch(struct batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		free(b->ev[i].key);
		free(b->ev[i].value);
	}
	b->n = 0;
	b->nomem = false;
}

static bool abandoned(const struct c360_fn_run *r)
{
	for (int i = 0; i < r->nworkers; i++)
		if (r->w[i].abandoned)
			return true;
	return false;
}

/* Reads the function's record: its state now (undeployed when gone). */
static enum c360_fn_state record_state(struct c360_fn_run *r)
{
	struct c360_fn_def d;
	enum c360_fn_state s = C360_FN_UNDEPLOYED;
	c360_rc rc = c360_fn_load(r->st, r->def.name, &d, &s, NULL);
	c360_fn_def_release(&d);
	if (rc == C360_ERR_NOT_FOUND)
		return C360_FN_UNDEPLOYED;
	if (rc)
		return C360_FN_DEPLOYED; /* transient read error: keep going */
	return s;
}

c360_rc c360_fn_run_loop(c360_fn_run *r, const volatile int *stop, bool exit_when_idle)
{
	struct batch b = {0};
	c360_rc rc = C360_OK;
	int64_t last_poll = 0;
	bool paused = false;
	b.ev = calloc(BATCH_MAX, sizeof *b.ev);
	if (!b.ev)
		return C360_ERR_NOMEM;
	C360_INFO(r->who, "processing '%s' after seqno %" PRIu64 " with %d worker(s)", r->def.source_bucket,
		  r->seqno, r->nworkers);
	for (int i = 0; i < r->nworkers; i++) { /* workers idle: they see it at the next batch */
		r->w[i].env.stop = stop;
		r->w[i].abandoned = false;
	}
	while (!(stop && *stop)) {
		int64_t now = mono_ms();
		if (now - last_poll >= RECORD_POLL_MS) {
			last_poll = now;
			enum c360_fn_state s = record_state(r);
			if (s == C360_FN_UNDEPLOYED) {
				C360_INFO(r->who, "undeployed: stopping");
				break;
			}
			if (s == C360_FN_PAUSED && !paused) {
				if ((rc = ov_commit_join(r)))
					break;
				write_checkpoint(r, "paused");
				C360_INFO(r->who, "paused at seqno %" PRIu64, r->seqno);
				paused = true;
			} else if (s == C360_FN_DEPLOYED && paused) {
				C360_INFO(r->who, "resumed after seqno %" PRIu64, r->seqno);
				paused = false;
			}
		}
		if (paused) {
			if (exit_when_idle)
				break;
			struct timespec ts = {0, 100 * 1000000};
			nanosleep(&ts, NULL);
			continue;
		}
		if (r->pending_has_source && (rc = ov_commit_join(r))) {
			C360_ERROR(r->who, "cannot commit the writes of changes after seqno %" PRIu64 ": %s",
				   r->seqno, c360_rc_str(rc));
			break;
		}
		r->pending_has_source = false;
		uint64_t last = r->read_seqno;
		rc = c360_feed_read(r->st, r->def.source_bucket, r->read_seqno, BATCH_MAX, collect, &b, &last);
		if (b.nomem)
			rc = C360_ERR_NOMEM;
		if (rc) {
			free_batch(&b);
			C360_ERROR(r->who, "cannot read the feed of '%s': %s", r->def.source_bucket, c360_rc_str(rc));
			break;
		}
		size_t got = b.n;
		if (got) {
			run_batch(r, &b);
			free_batch(&b);
			if (abandoned(r)) {
				/* like a crash before the commit: the batch is not committed
				 * and is handled again at the next start */
				ov_clear(r);
				rc = ov_commit_join(r);
				C360_WARN(r->who, "stopped during a handler call: the changes after seqno %" PRIu64
					  " are handled again at the next start", r->seqno);
				break;
			}
			r->read_seqno = b.last;
			/* the previous batch's commit ran while this batch was handled */
			if (!(rc = ov_commit_join(r)))
				rc = ov_commit_start(r, b.last);
		} else {
			rc = ov_commit_join(r);
			if (!rc && last > r->read_seqno)
				r->read_seqno = r->seqno = last;
		}
		if (rc) {
			C360_ERROR(r->who, "cannot commit the writes of changes after seqno %" PRIu64 ": %s",
				   r->seqno, c360_rc_str(rc));
			break;
		}
		if (mono_ms() - r->ck_time >= r->def.checkpoint_interval_ms)
			write_checkpoint(r, "deployed");
		else if (got && mono_ms() - r->stats_time >= STATS_EVERY_MS)
			write_doc(r, "deployed", true);
		if (got == 0 && r->read_seqno == r->seqno) {
			uint64_t high = 0;
			if (exit_when_idle && !c360_feed_high_seqno(r->st, r->def.source_bucket, &high) &&
			    high <= r->seqno)
				break;
			c360_rc wr = c360_feed_wait(r->st, r->def.source_bucket, r->seqno, 200);
			if (wr && wr != C360_ERR_TIMEOUT) {
				struct timespec ts = {0, 200 * 1000000};
				nanosleep(&ts, NULL);
			}
		}
	}
	c360_rc jrc = ov_commit_join(r);
	if (jrc && !rc) {
		C360_ERROR(r->who, "cannot commit the writes of changes after seqno %" PRIu64 ": %s", r->seqno,
			   c360_rc_str(jrc));
		rc = jrc;
	}
	write_checkpoint(r, paused ? "paused" : "stopped");
	/* a later loop on this run continues after what was committed */
	r->read_seqno = r->seqno;
	ov_clear(r);
	free(b.ev);
	return rc;
}

void c360_fn_run_stats(c360_fn_run *r, struct c360_fn_stats *out)
{
	sum_stats(r, out);
}
