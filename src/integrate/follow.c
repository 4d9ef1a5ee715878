/* `c360 integrate run`'s loop: the source bucket's change feed, in batches,
 * into the engine, with a cursor kept in the store after every commit.
 *
 * Three threads share the work: a reader thread reads the next batch from
 * the feed (SQLite reads, zstd decompression) and parses and extracts its
 * documents (c360_integrate_prepare) while the calling thread merges the
 * current one and the engine's writer thread commits the previous one. Batches are merged and committed
 * in feed order; the cursor of a batch is set once its documents are
 * committed. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "integrate/engine_int.h"
#include "integrate/imap_int.h"
#include "core/banned.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- the reader thread ---- */

struct fev {
	enum c360_feed_op op;
	size_t key_off, key_len;
	bool has_val;
	struct c360_integrate_prep prep; /* mutations */
};

enum { SLOT_FREE = 0, SLOT_FILLING, SLOT_FILLED, SLOT_BUSY };
#define NSLOTS 3 /* one being merged, one read ahead, one being read */

/* One batch of feed events, copied out of the store. */
struct slot {
	int state;
	uint64_t seq;  /* order of the batches */
	struct fev *evs;
	size_t nev, evcap;
	struct c360_buf data;  /* keys */
	struct c360_buf pdata; /* record keys and reasons (c360_integrate_prepare) */
	c360_json_doc *into;   /* the batch's contributions */
	uint64_t after, last; /* the batch covers seqnos (after, last] */
	c360_rc rc;           /* reading failed */
	c360_rc wait_rc;      /* waiting for changes failed */
	bool idle;            /* nothing new */
};

struct reader {
	const c360_integrate *ig;
	c360_store *st;
	const char *bucket;
	size_t max;
	int idle_ms;
	bool exit_when_idle;
	uint64_t after;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct slot slots[NSLOTS];
	uint64_t next_seq;
	bool quit; /* set by the merging thread */
	bool done; /* the reader has ended */
	uint64_t cpu_us;
};

struct fill {
	struct reader *r;
	struct slot *s;
};

static int copy_event(const struct c360_feed_event *ev, void *p)
{
	struct fill *f = p;
	struct slot *s = f->s;
	if (s->nev == s->evcap) {
		size_t cap = s->evcap ? s->evcap * 2 : 256;
		struct fev *n = realloc(s->evs, cap * sizeof *n);
		if (!n) {
			s->rc = C360_ERR_NOMEM;
			return 1;
		}
		s->evs = n;
		s->evcap = cap;
	}
	struct fev *e = &s->evs[s->nev];
	e->op = ev->op;
	e->key_off = s->data.len;
	e->key_len = ev->key_len;
	e->has_val = ev->op == C360_FEED_MUTATION && ev->value != NULL;
	if (c360_buf_append(&s->data, ev->key, ev->key_len) || c360_buf_putc(&s->data, '\0')) {
		s->rc = C360_ERR_NOMEM;
		return 1;
	}
	if (e->has_val)
		c360_integrate_prepare(f->r->ig, ev->key, ev->key_len, ev->value, ev->value_len,
				       ev->cas, s->into, &s->pdata, &e->prep);
	s->nev++;
	s->last = ev->seqno;
	return 0;
}

static void *reader_run(void *p)
{
	struct reader *r = p;
	for (;;) {
		pthread_mutex_lock(&r->mu);
		struct slot *s = NULL;
		while (!r->quit) {
			for (int i = 0; i < NSLOTS && !s; i++)
				if (r->slots[i].state == SLOT_FREE)
					s = &r->slots[i];
			if (s)
				break;
			pthread_cond_wait(&r->cv, &r->mu);
		}
		if (r->quit) {
			pthread_mutex_unlock(&r->mu);
			break;
		}
		s->state = SLOT_FILLING;
		pthread_mutex_unlock(&r->mu);

		s->nev = 0;
		c360_buf_reset(&s->data);
		c360_buf_reset(&s->pdata);
		c360_json_doc_free(s->into);
		s->into = c360_json_doc_new(); /* NULL: every prepare fails with NOMEM */
		s->rc = s->wait_rc = C360_OK;
		s->after = r->after;
		uint64_t last = r->after;
		struct fill f = {r, s};
		c360_rc rc = c360_feed_read(r->st, r->bucket, r->after, r->max, copy_event, &f, &last);
		if (!s->rc)
			s->rc = rc;
		/* a copy that failed midway: the batch ends at its last event */
		s->last = s->rc == C360_ERR_NOMEM && s->nev ? s->last : last;
		if (s->rc == C360_ERR_NOMEM && s->nev)
			s->rc = C360_OK;
		s->idle = !s->rc && s->last == r->after;
		bool stop = s->rc || (s->idle && r->exit_when_idle);
		if (s->idle && !r->exit_when_idle && !r->quit) {
			c360_rc w = c360_feed_wait(r->st, r->bucket, r->after, r->idle_ms);
			if (w && w != C360_ERR_TIMEOUT) {
				s->wait_rc = w;
				stop = true;
			}
		}
		r->after = s->last;

		pthread_mutex_lock(&r->mu);
		s->seq = r->next_seq++;
		s->state = SLOT_FILLED;
		pthread_cond_broadcast(&r->cv);
		pthread_mutex_unlock(&r->mu);
		if (stop)
			break;
	}
	pthread_mutex_lock(&r->mu);
	r->cpu_us = c360_integrate_thread_cpu_us();
	r->done = true;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

/* The next batch in order, or NULL once the reader has ended. */
static struct slot *reader_next(struct reader *r, uint64_t seq)
{
	pthread_mutex_lock(&r->mu);
	struct slot *s = NULL;
	for (;;) {
		for (int i = 0; i < NSLOTS && !s; i++)
			if (r->slots[i].state == SLOT_FILLED && r->slots[i].seq == seq)
				s = &r->slots[i];
		if (s || r->done)
			break;
		pthread_cond_wait(&r->cv, &r->mu);
	}
	if (s)
		s->state = SLOT_BUSY;
	pthread_mutex_unlock(&r->mu);
	return s;
}

static void reader_release(struct reader *r, struct slot *s)
{
	pthread_mutex_lock(&r->mu);
	s->state = SLOT_FREE;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

/* ---- the loop ---- */

c360_rc c360_integrate_follow(c360_integrate *ig, const struct c360_integrate_follow_opts *o,
			      char *err, size_t errlen)
{
	const char *bucket = c360_imap_source_bucket(ig->m);
	char cursor[200];
	if (o->cursor)
		snprintf(cursor, sizeof cursor, "%s", o->cursor);
	else
		snprintf(cursor, sizeof cursor, "integrate::%s", ig->who + 7 /* "native:" */);
	uint64_t after = 0;
	c360_rc rc = C360_OK;
	if (!o->from_start) {
		rc = c360_feed_cursor_get(ig->st, bucket, cursor, &after);
		if (rc == C360_ERR_NOT_FOUND)
			rc = C360_OK;
		if (rc) {
			snprintf(err, errlen, "cannot read the cursor of bucket '%s': %s", bucket,
				 c360_rc_str(rc));
			return rc;
		}
	}
	struct reader *r = calloc(1, sizeof *r);
	if (!r) {
		snprintf(err, errlen, "out of memory");
		return C360_ERR_NOMEM;
	}
	r->ig = ig;
	r->st = ig->st;
	r->bucket = bucket;
	r->max = ig->batch_max;
	r->idle_ms = o->idle_wait_ms > 0 ? o->idle_wait_ms : 500;
	r->exit_when_idle = o->exit_when_idle;
	r->after = after;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	for (int i = 0; i < NSLOTS; i++) {
		c360_buf_init(&r->slots[i].data, 0);
		c360_buf_init(&r->slots[i].pdata, 0);
	}
	pthread_t th;
	if (pthread_create(&th, NULL, reader_run, r)) {
		snprintf(err, errlen, "cannot start the feed reader thread");
		rc = C360_ERR_INTERNAL;
		goto out;
	}

	uint64_t cpu0 = c360_integrate_thread_cpu_us();
	double t0 = now_s(), last_prog = 0;
	struct c360_integrate_progress pr = {.seqno = after};
	for (uint64_t seq = 0;; seq++) {
		if (o->stop && *o->stop)
			break;
		double tw0 = now_s();
		struct slot *s = reader_next(r, seq);
		double tw1 = now_s();
		if (!s)
			break;
		if (s->rc || s->wait_rc) {
			rc = s->rc ? s->rc : s->wait_rc;
			snprintf(err, errlen, s->rc ? "cannot read the feed of bucket '%s': %s"
						    : "cannot wait on the feed of bucket '%s': %s",
				 bucket, c360_rc_str(rc));
			reader_release(r, s);
			break;
		}
		bool idle = s->idle;
		if (!idle) {
			/* a failed record is counted and logged by the engine; go on */
			for (size_t i = 0; i < s->nev; i++) {
				const struct fev *e = &s->evs[i];
				const char *key = s->data.data + e->key_off;
				if (e->has_val)
					(void)c360_integrate_update_prepared(ig, key, e->key_len,
									     &e->prep, s->pdata.data);
				else if (e->op != C360_FEED_MUTATION)
					(void)c360_integrate_delete(ig, key, e->key_len,
								    e->op == C360_FEED_EXPIRATION);
			}
			uint64_t last = s->last, first = s->after + 1;
			size_t nev = s->nev;
			double tm = now_s();
			reader_release(r, s);
			/* commits in a writer thread while the next batch is merged */
			if ((rc = c360_integrate_commit(ig, bucket, cursor, last))) {
				snprintf(err, errlen, "cannot commit to '%s': %s",
					 c360_imap_target_bucket(ig->m), c360_rc_str(rc));
				break;
			}
			/* for tuning --batch: where a batch's time goes (the writer
			 * logs its commits) */
			C360_DEBUG(ig->who, "batch of %zu changes (seqnos %" PRIu64 "..%" PRIu64
					    "): waited %.1f ms for the reader, merged in %.1f ms, handed "
					    "to the writer %.1f ms later (documents built, previous "
					    "commit waited for)",
				   nev, first, last, (tw1 - tw0) * 1e3, (tm - tw1) * 1e3,
				   (now_s() - tm) * 1e3);
			after = last;
		} else {
			reader_release(r, s);
		}
		double t = now_s();
		if (o->progress && t - last_prog >= 0.2) {
			pr.seqno = after;
			c360_feed_high_seqno(ig->st, bucket, &pr.high);
			pr.seconds = t - t0;
			o->progress(&pr, &ig->stats, o->progress_ctx);
			last_prog = t;
		}
		if (!idle)
			continue;
		/* idle: let the last batch commit */
		if ((rc = c360_integrate_wait(ig))) {
			snprintf(err, errlen, "cannot commit to '%s': %s", c360_imap_target_bucket(ig->m),
				 c360_rc_str(rc));
			break;
		}
		if (o->exit_when_idle)
			break;
	}
	pthread_mutex_lock(&r->mu);
	r->quit = true;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	pthread_join(th, NULL);
	ig->stats.cpu_us_read += r->cpu_us;
	c360_rc wrc = c360_integrate_wait(ig);
	if (!rc && wrc) {
		rc = wrc;
		snprintf(err, errlen, "cannot commit to '%s': %s", c360_imap_target_bucket(ig->m),
			 c360_rc_str(rc));
	}
	if (!rc)
		rc = c360_integrate_flush(ig);
	ig->stats.cpu_us_merge += c360_integrate_thread_cpu_us() - cpu0;
	if (o->progress) {
		pr.seqno = after;
		c360_feed_high_seqno(ig->st, bucket, &pr.high);
		pr.seconds = now_s() - t0;
		pr.final = true;
		o->progress(&pr, &ig->stats, o->progress_ctx);
	}
out:
	for (int i = 0; i < NSLOTS; i++) {
		free(r->slots[i].evs);
		c360_buf_release(&r->slots[i].data);
		c360_buf_release(&r->slots[i].pdata);
		c360_json_doc_free(r->slots[i].into);
	}
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
	free(r);
	return rc;
}
