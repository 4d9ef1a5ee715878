/* `c360 integrate run`'s loop: the source bucket's change feed, in batches,
 * into the engine, with a cursor kept in the store after every commit. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "integrate/engine_int.h"
#include "integrate/imap_int.h"
#include "core/banned.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

struct ctx {
	c360_integrate *ig;
};

static int on_event(const struct c360_feed_event *ev, void *p)
{
	struct ctx *c = p;
	/* a failed record is counted and logged by the engine; go on */
	if (ev->op == C360_FEED_MUTATION)
		(void)c360_integrate_update(c->ig, ev->key, ev->key_len, ev->value, ev->value_len,
					    ev->cas);
	else
		(void)c360_integrate_delete(c->ig, ev->key, ev->key_len,
					    ev->op == C360_FEED_EXPIRATION);
	return 0;
}

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
	struct ctx c = {ig};
	double t0 = now_s(), last_prog = 0;
	struct c360_integrate_progress pr = {.seqno = after};
	int idle = o->idle_wait_ms > 0 ? o->idle_wait_ms : 500;
	for (;;) {
		if (o->stop && *o->stop)
			break;
		uint64_t last = after;
		rc = c360_feed_read(ig->st, bucket, after, ig->batch_max, on_event, &c, &last);
		if (rc) {
			snprintf(err, errlen, "cannot read the feed of bucket '%s': %s", bucket,
				 c360_rc_str(rc));
			break;
		}
		bool worked = last != after;
		if (worked) {
			/* commits in a writer thread while the next batch is merged */
			if ((rc = c360_integrate_commit(ig, bucket, cursor, last))) {
				snprintf(err, errlen, "cannot commit to '%s': %s",
					 c360_imap_target_bucket(ig->m), c360_rc_str(rc));
				break;
			}
			after = last;
		}
		double t = now_s();
		if (o->progress && t - last_prog >= 0.2) {
			pr.seqno = after;
			c360_feed_high_seqno(ig->st, bucket, &pr.high);
			pr.seconds = t - t0;
			o->progress(&pr, &ig->stats, o->progress_ctx);
			last_prog = t;
		}
		if (worked)
			continue;
		/* idle: let the last batch commit */
		if ((rc = c360_integrate_wait(ig))) {
			snprintf(err, errlen, "cannot commit to '%s': %s", c360_imap_target_bucket(ig->m),
				 c360_rc_str(rc));
			break;
		}
		if (o->exit_when_idle)
			break;
		c360_rc w = c360_feed_wait(ig->st, bucket, after, idle);
		if (w && w != C360_ERR_TIMEOUT) {
			rc = w;
			snprintf(err, errlen, "cannot wait on the feed: %s", c360_rc_str(rc));
			break;
		}
	}
	c360_rc wrc = c360_integrate_wait(ig);
	if (!rc && wrc) {
		rc = wrc;
		snprintf(err, errlen, "cannot commit to '%s': %s", c360_imap_target_bucket(ig->m),
			 c360_rc_str(rc));
	}
	if (!rc)
		rc = c360_integrate_flush(ig);
	if (o->progress) {
		pr.seqno = after;
		c360_feed_high_seqno(ig->st, bucket, &pr.high);
		pr.seconds = now_s() - t0;
		pr.final = true;
		o->progress(&pr, &ig->stats, o->progress_ctx);
	}
	return rc;
}
