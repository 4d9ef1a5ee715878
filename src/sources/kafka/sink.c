/* The Kafka sink runtime: per task a consumer thread (poll, parse, form ids,
 * batch) and a writer thread (store transaction, dead letters, then offsets
 * store), so parsing overlaps writing; see sink.h for the guarantees. */
#include "sources/kafka/sink.h"

#include <errno.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/metrics.h"
#include "sources/kafka/docid.h"
#include "sources/kafka/smt.h"
#include "core/banned.h"

#define MAX_TASKS 64
#define MAX_PARTS 1024
#define QUEUE_DEPTH 2

enum rkind { R_WRITE, R_SKIP, R_BAD };

struct rec {
	rd_kafka_message_t *m;
	enum rkind kind;
	size_t op;          /* index into ops (R_WRITE) */
	char *reason;       /* R_BAD: malloc'd */
	const char *stage;  /* R_BAD: Kafka Connect stage name */
	const char *exc;    /* R_BAD: exception class name */
	bool dlq_sent;      /* R_BAD: handed to the dead-letter producer */
	bool dlq_cut;       /* R_BAD: sent again cut (the topic refused it whole) */
	rd_kafka_resp_err_t dlq_err;     /* delivery result of the last send */
	rd_kafka_resp_err_t dlq_refused; /* why the whole record was refused */
};

struct batch {
	struct rec *recs;
	size_t nrecs, caprecs;
	struct c360_write *ops;
	size_t *key_off;    /* ops[i].key = keys.data + key_off[i] at submit */
	char **vals;        /* malloc'd values (or NULL when pointing into the message) */
	size_t nops, capops;
	struct c360_buf keys;
	int64_t first_ms;
	struct batch *next;
};

struct part {
	char topic[256];
	int32_t partition;
	bool eof;
	/* next offsets, -1 = none yet: the first consumed in this assignment,
	 * the last stored (written), the last known committed */
	int64_t first, stored, committed;
};

struct task {
	struct c360_kafka_sink *s;
	int id;
	char who[C360_KAFKA_NAME_MAX + 16];
	rd_kafka_t *rk;
	rd_kafka_t *dlq;
	pthread_t consumer, writer;
	bool consumer_started, writer_started;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct batch *qhead, *qtail;
	int qlen;
	bool writer_busy;
	bool writer_quit;

	struct batch *cur;          /* being filled by the consumer thread */
	struct part parts[MAX_PARTS];
	int nparts;
	bool assigned_once;
	bool at_end;
	bool paused_applied;
	bool done;

	struct rec *dlq_recs;       /* the batch whose dead letters are in flight (writer thread) */
	size_t dlq_nrecs;
	bool final_done;            /* the final commit was tried (consumer thread) */
	/* offsets a rebalance refused on revoke, committed again with the
	 * next assignment (consumer thread), and how many records they cover */
	rd_kafka_topic_partition_list_t *pending;
	uint64_t pending_n;
};

struct c360_kafka_sink {
	c360_store *st;
	const struct c360_kafka_config *cfg;
	struct c360_kafka_sink_opts opts;
	c360_kafka_idtmpl *tmpl;
	c360_kafka_idtmpl *topic_tmpl[C360_KAFKA_MAX_TOPICS]; /* of cfg->topic_doc_id[i], NULL = none */
	char who[C360_KAFKA_NAME_MAX + 16];
	struct task tasks[MAX_TASKS];
	int ntasks;
	int stop;     /* atomic */
	int paused;   /* atomic */
	int failed;   /* atomic */
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cv;   /* with mu: the shutdown barrier */
	int ncommitted;      /* tasks that made their final commit */
	char error[512];
	struct c360_kafka_metrics m; /* atomic fields */
	int64_t first_in_ms, last_write_ms; /* atomic; monotonic ms */
};

static struct c360_kafka_metrics g_total;

#define ADD(s, field, n)                                                                \
	do {                                                                            \
		__atomic_add_fetch(&(s)->m.field, (uint64_t)(n), __ATOMIC_RELAXED);     \
		__atomic_add_fetch(&g_total.field, (uint64_t)(n), __ATOMIC_RELAXED);    \
	} while (0)
/* Adds one and gives this sink's new count. */
#define ADD1(s, field)                                                     \
	(__atomic_add_fetch(&g_total.field, 1, __ATOMIC_RELAXED),          \
	 __atomic_add_fetch(&(s)->m.field, 1, __ATOMIC_RELAXED))

/* Warnings that may repeat for every record are logged for the first 10
 * occurrences, then every 1000th, with the count so far. */
static bool log_nth(uint64_t n)
{
	return n <= 10 || n % 1000 == 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void seterr(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Records the first fatal error and asks every task to stop. */
static void fail(struct c360_kafka_sink *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct c360_kafka_sink *s, const char *fmt, ...)
{
	pthread_mutex_lock(&s->mu);
	if (!s->failed) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(s->error, sizeof s->error, fmt, ap);
		va_end(ap);
		__atomic_store_n(&s->failed, 1, __ATOMIC_SEQ_CST);
		C360_ERROR(s->who, "%s", s->error);
	}
	pthread_mutex_unlock(&s->mu);
	__atomic_store_n(&s->stop, 1, __ATOMIC_SEQ_CST);
}

const char *c360_kafka_sink_state_str(enum c360_kafka_sink_state st)
{
	switch (st) {
	case C360_KAFKA_SINK_CREATED:
		return "UNASSIGNED";
	case C360_KAFKA_SINK_RUNNING:
		return "RUNNING";
	case C360_KAFKA_SINK_PAUSED:
		return "PAUSED";
	case C360_KAFKA_SINK_STOPPED:
		return "STOPPED";
	case C360_KAFKA_SINK_FAILED:
		return "FAILED";
	}
	return "UNKNOWN";
}

static struct part *find_part(struct task *t, const char *topic, int32_t partition);

/* ---- batches ---- */

static struct batch *batch_new(void)
{
	struct batch *b = calloc(1, sizeof *b);
	if (b)
		c360_buf_init(&b->keys, 0);
	return b;
}

static void batch_free(struct batch *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->nrecs; i++) {
		if (b->recs[i].m)
			rd_kafka_message_destroy(b->recs[i].m);
		free(b->recs[i].reason);
	}
	for (size_t i = 0; i < b->nops; i++)
		free(b->vals[i]);
	free(b->recs);
	free(b->ops);
	free(b->key_off);
	free(b->vals);
	c360_buf_release(&b->keys);
	free(b);
}

static struct rec *batch_add_rec(struct batch *b, rd_kafka_message_t *m)
{
	if (b->nrecs == b->caprecs) {
		size_t nc = b->caprecs ? b->caprecs * 2 : 256;
		struct rec *r = realloc(b->recs, nc * sizeof *r);
		if (!r)
			return NULL;
		b->recs = r;
		b->caprecs = nc;
	}
	if (!b->nrecs)
		b->first_ms = now_ms();
	struct rec *r = &b->recs[b->nrecs++];
	memset(r, 0, sizeof *r);
	r->m = m;
	return r;
}

static struct c360_write *batch_add_op(struct batch *b, size_t *idx)
{
	if (b->nops == b->capops) {
		size_t nc = b->capops ? b->capops * 2 : 256;
		struct c360_write *o = realloc(b->ops, nc * sizeof *o);
		if (!o)
			return NULL;
		b->ops = o;
		size_t *k = realloc(b->key_off, nc * sizeof *k);
		if (!k)
			return NULL;
		b->key_off = k;
		char **v = realloc(b->vals, nc * sizeof *v);
		if (!v)
			return NULL;
		b->vals = v;
		b->capops = nc;
	}
	*idx = b->nops;
	struct c360_write *w = &b->ops[b->nops];
	memset(w, 0, sizeof *w);
	b->vals[b->nops] = NULL;
	b->key_off[b->nops] = b->keys.len;
	b->nops++;
	return w;
}

/* ---- record → op ---- */

static void bad(struct rec *r, const char *stage, const char *exc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void bad(struct rec *r, const char *stage, const char *exc, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	r->kind = R_BAD;
	r->stage = stage;
	r->exc = exc;
	free(r->reason);
	r->reason = strdup(msg);
}

/* Runs the connector's transforms (Single Message Transforms) over *value
 * and the key. A record the chain cannot apply to is marked bad at stage
 * TRANSFORMATION and C360_ERR_INVALID returned; else C360_OK or NOMEM. */
static c360_rc transform(struct rec *r, const struct c360_kafka_config *cfg, c360_json_doc *doc,
			 c360_json **value, const struct c360_kafka_rec_meta *meta, const char **kp,
			 size_t *kl, struct c360_buf *kbuf)
{
	char reason[300];
	c360_rc rc = c360_kafka_smt_apply(cfg, doc, value, meta, kp, kl, kbuf, reason, sizeof reason);
	if (rc && rc != C360_ERR_NOMEM) {
		bad(r, "TRANSFORMATION", "org.apache.kafka.connect.errors.DataException", "%s", reason);
		rc = C360_ERR_INVALID;
	}
	return rc;
}

static uint32_t expiry_for(const struct c360_kafka_config *cfg)
{
	if (cfg->expiry_s <= 0)
		return 0;
	if (cfg->expiry_s < (int64_t)C360_EXPIRY_RELATIVE_MAX)
		return (uint32_t)cfg->expiry_s;
	/* 30 days and more: absolute time, or Couchbase would read it as a
	 * date in 1970 and expire the document at once (KAFKAC-214) */
	return (uint32_t)(time(NULL) + cfg->expiry_s);
}

/* Appends "topic/partition/offset" as the id (rule 3). */
static c360_rc tpo_id(const rd_kafka_message_t *m, struct c360_buf *keys)
{
	return c360_buf_printf(keys, "%s/%" PRId32 "/%" PRId64, rd_kafka_topic_name(m->rkt), m->partition, m->offset);
}

static c360_rc add_delete(struct task *t, struct batch *b, struct rec *r, const char *bucket)
{
	size_t idx;
	struct c360_write *w = batch_add_op(b, &idx);
	if (!w)
		return C360_ERR_NOMEM;
	w->type = C360_WRITE_DELETE;
	w->bucket = bucket;
	r->kind = R_WRITE;
	r->op = idx;
	return C360_OK;
}

/* The id template of topic's records: its per-topic override (which may
 * be "none") or couchbase.document.id. */
static const c360_kafka_idtmpl *tmpl_for(const struct c360_kafka_sink *s, const char *topic)
{
	const struct c360_kafka_config *cfg = s->cfg;
	for (int i = 0; i < cfg->ntopic_doc_id; i++)
		if (!strcmp(cfg->topic_doc_id[i].key, topic))
			return s->topic_tmpl[i];
	return s->tmpl;
}

/* Builds the op of one record into batch b (or marks it skipped / bad).
 * Returns an error only for out-of-memory. */
static c360_rc build(struct task *t, struct batch *b, struct rec *r)
{
	struct c360_kafka_sink *s = t->s;
	const struct c360_kafka_config *cfg = s->cfg;
	const rd_kafka_message_t *m = r->m;
	const char *topic = rd_kafka_topic_name(m->rkt);
	const char *bucket = cfg->bucket;
	const c360_kafka_idtmpl *tmpl = tmpl_for(s, topic);
	char reason[300];
	size_t key_start = b->keys.len;
	c360_rc rc;
	c360_json_doc *doc = NULL;
	/* the record key after the transforms (cfg->smt) */
	const char *kp = m->key;
	size_t kl = m->key_len;
	struct c360_buf kbuf;
	c360_buf_init(&kbuf, 1u << 20);
	rd_kafka_timestamp_type_t tstype;
	int64_t ts = rd_kafka_message_timestamp(m, &tstype);
	struct c360_kafka_rec_meta meta = {topic, m->partition, m->offset, ts};
	bool deleted_row = false; /* a d event rewritten as its before row */

	/* tombstone */
	if (!m->payload) {
tombstone:
		if (cfg->extract_new_record_state && cfg->unwrap_tombstone == C360_UNWRAP_DROP) {
			r->kind = R_SKIP; /* drop.tombstones / delete.tombstone.handling.mode */
			rc = C360_OK;
			goto out;
		}
		if (cfg->nsmt) {
			c360_json *none = NULL;
			rc = transform(r, cfg, NULL, &none, &meta, &kp, &kl, &kbuf);
			if (rc) {
				if (rc == C360_ERR_INVALID)
					rc = C360_OK; /* marked bad: dead-lettered or skipped */
				goto out;
			}
		}
		if (tmpl) {
			c360_json_doc *kd = NULL;
			const c360_json *fields = NULL;
			rc = c360_kafka_key_fields(kp, kl, &kd, &fields);
			if (rc == C360_OK)
				rc = c360_kafka_idtmpl_render(tmpl, fields, C360_IDT_LASTSEG, &b->keys, reason,
							      sizeof reason);
			c360_json_doc_free(kd);
		} else {
			rc = c360_kafka_key_id(kp, kl, &b->keys, reason, sizeof reason);
		}
		if (rc == C360_ERR_NOMEM)
			goto out;
		if (rc) {
			/* nothing to delete by: the d event before it (Debezium
			 * emits one) has deleted the document already */
			b->keys.len = key_start;
			r->kind = R_SKIP;
			rc = C360_OK;
			goto out;
		}
		rc = add_delete(t, b, r, bucket);
		goto out;
	}
	if (m->len > C360_VALUE_MAX) {
		bad(r, "VALUE_CONVERTER", "c360.ValueTooLarge", "value of %zu bytes is larger than %u", m->len,
		    C360_VALUE_MAX);
		rc = C360_OK;
		goto out;
	}
	struct c360_json_error je;
	rc = c360_json_parse(m->payload, m->len, NULL, &doc, &je);
	if (rc == C360_ERR_NOMEM)
		goto out;
	if (rc) {
		char where[160];
		c360_json_error_str(&je, where, sizeof where);
		bad(r, "VALUE_CONVERTER", "org.apache.kafka.connect.errors.DataException", "value is not valid JSON: %s",
		    where);
		rc = C360_OK;
		goto out;
	}
	c360_json *root = c360_json_doc_root(doc);
	bool whole = true; /* the stored value is the record value as it came */
	if (!cfg->value_schemas_enable && c360_json_is_null(root)) {
		/* JSON null: Kafka Connect's JsonConverter makes it a null
		 * value, which the Couchbase sink applies as a delete */
		c360_json_doc_free(doc);
		doc = NULL;
		goto tombstone;
	}
	if (cfg->value_schemas_enable) {
		if (!c360_json_is_object(root) || !c360_json_get(root, "schema") || !c360_json_get(root, "payload") ||
		    c360_json_len(root) != 2) {
			bad(r, "VALUE_CONVERTER", "org.apache.kafka.connect.errors.DataException",
			    "JsonConverter with schemas.enable requires \"schema\" and \"payload\" fields and may not "
			    "contain additional fields");
			rc = C360_OK;
			goto out;
		}
		root = c360_json_get(root, "payload");
		whole = false;
		if (c360_json_is_null(root)) {
			c360_json_doc_free(doc);
			doc = NULL;
			goto tombstone;
		}
	}
	/* Debezium envelope? (payload of a schema'd value when schemas are
	 * not enabled, else the value itself) */
	const c360_json *env = root;
	if (c360_json_is_object(env) && c360_json_get(env, "schema") && c360_json_is_object(c360_json_get(env, "payload")))
		env = c360_json_get(env, "payload");
	const char *op = c360_json_str(c360_json_get(env, "op"), NULL);
	bool dbz = op && op[0] && !op[1] && strchr("curdt", op[0]) &&
		   (c360_json_get(env, "after") || c360_json_get(env, "before"));

	if (dbz && op[0] == 't') {
		r->kind = R_SKIP; /* truncate: not applied to a bucket */
		rc = C360_OK;
		goto out;
	}
	if (dbz && op[0] == 'd' && cfg->extract_new_record_state && cfg->unwrap_d == C360_UNWRAP_DROP) {
		r->kind = R_SKIP; /* delete.handling.mode=drop: the document stays */
		rc = C360_OK;
		goto out;
	}
	if (dbz && op[0] == 'd' && cfg->extract_new_record_state && cfg->unwrap_d == C360_UNWRAP_REWRITE) {
		deleted_row = true; /* stored below as its before row with __deleted "true" */
	} else if (dbz && op[0] == 'd') {
		/* the row the transforms and the template read */
		c360_json *row = cfg->extract_new_record_state ? c360_json_get(env, "before") : root;
		if (cfg->nsmt) {
			rc = transform(r, cfg, doc, &row, &meta, &kp, &kl, &kbuf);
			if (rc) {
				if (rc == C360_ERR_INVALID)
					rc = C360_OK; /* marked bad: dead-lettered or skipped */
				goto out;
			}
		}
		if (tmpl) {
			if (cfg->extract_new_record_state)
				rc = c360_kafka_idtmpl_render(tmpl, row, 0, &b->keys, reason, sizeof reason);
			else
				rc = c360_kafka_idtmpl_render(tmpl, row, C360_IDT_BEFORE, &b->keys, reason,
							      sizeof reason);
			if (rc == C360_ERR_NOMEM)
				goto out;
			if (rc) {
				b->keys.len = key_start;
				bad(r, "TASK_PUT", "c360.InvalidDocumentId", "%s", reason);
				rc = C360_OK;
				goto out;
			}
		} else {
			rc = c360_kafka_key_id(kp, kl, &b->keys, reason, sizeof reason);
			if (rc == C360_ERR_NOMEM)
				goto out;
			if (rc == C360_ERR_NOT_FOUND) {
				/* the create was stored under its topic/partition/offset:
				 * no way to find it from the delete */
				uint64_t n = ADD1(s, key_fallback);
				if (log_nth(n))
					C360_WARN(t->who, "delete at '%s' [%" PRId32 "] offset %" PRId64
						  " has no usable key: skipped (%" PRIu64 " records without a key so far; "
						  "set couchbase.document.id)", topic, m->partition, m->offset, n);
				r->kind = R_SKIP;
				rc = C360_OK;
				goto out;
			}
			if (rc) {
				bad(r, "TASK_PUT", "c360.InvalidDocumentId", "%s", reason);
				rc = C360_OK;
				goto out;
			}
		}
		rc = add_delete(t, b, r, bucket);
		goto out;
	}

	/* upsert: choose the stored value */
	c360_json *stored = root;
	if (dbz && cfg->extract_new_record_state) {
		stored = c360_json_get(env, deleted_row ? "before" : "after");
		whole = false;
		if (!c360_json_is_object(stored)) {
			r->kind = R_SKIP;
			rc = C360_OK;
			goto out;
		}
		rc = c360_kafka_unwrap_fields(cfg, doc, stored, env, deleted_row);
		if (rc)
			goto out;
	}
	if (cfg->nsmt) {
		whole = false;
		rc = transform(r, cfg, doc, &stored, &meta, &kp, &kl, &kbuf);
		if (rc) {
			if (rc == C360_ERR_INVALID)
				rc = C360_OK; /* marked bad: dead-lettered or skipped */
			goto out;
		}
	}
	if (tmpl) {
		rc = c360_kafka_idtmpl_render(tmpl, stored, 0, &b->keys, reason, sizeof reason);
		if (rc == C360_ERR_NOMEM)
			goto out;
		if (rc) {
			b->keys.len = key_start;
			bad(r, "TASK_PUT", "c360.InvalidDocumentId", "%s", reason);
			rc = C360_OK;
			goto out;
		}
		if (cfg->remove_doc_id) {
			c360_kafka_idtmpl_remove(tmpl, stored, 0);
			whole = false;
		}
	} else {
		rc = c360_kafka_key_id(kp, kl, &b->keys, reason, sizeof reason);
		if (rc == C360_ERR_NOT_FOUND) {
			rc = tpo_id(m, &b->keys);
			uint64_t n = ADD1(s, key_fallback);
			if (!rc && log_nth(n))
				C360_WARN(t->who, "record '%s' [%" PRId32 "] offset %" PRId64 " has no usable key: stored "
					  "as '%.*s', which a later update or delete cannot find (%" PRIu64 " so far; "
					  "set couchbase.document.id or give the records a key)", topic, m->partition,
					  m->offset, (int)(b->keys.len - key_start), b->keys.data + key_start, n);
		}
		if (rc == C360_ERR_NOMEM)
			goto out;
		if (rc) {
			b->keys.len = key_start;
			bad(r, "TASK_PUT", "c360.InvalidDocumentId", "%s", reason);
			rc = C360_OK;
			goto out;
		}
	}
	if (!c360_json_is_object(stored)) {
		/* written as it is, as the Couchbase sink writes any JSON
		 * document; said here, with its position, because the
		 * integration ignores what is not an object */
		uint64_t n = ADD1(s, non_object);
		if (log_nth(n))
			C360_WARN(t->who, "record '%s' [%" PRId32 "] offset %" PRId64 " is JSON but not an object: "
				  "written as it is, the integration will ignore it (%" PRIu64 " so far; "
				  "check the topic's producer or converter)", topic, m->partition, m->offset, n);
	}
	size_t idx;
	struct c360_write *w = batch_add_op(b, &idx);
	if (!w) {
		rc = C360_ERR_NOMEM;
		goto out;
	}
	b->key_off[idx] = key_start;
	w->type = C360_WRITE_UPSERT;
	w->bucket = bucket;
	w->expiry = expiry_for(cfg);
	w->flags = C360_WRITE_TRUSTED_JSON;
	if (whole) {
		w->value = m->payload;
		w->value_len = m->len;
	} else {
		size_t n;
		char *v = c360_json_write_str(stored, C360_JSON_COMPACT, &n);
		if (!v) {
			rc = C360_ERR_NOMEM;
			goto out;
		}
		b->vals[idx] = v;
		w->value = v;
		w->value_len = n;
	}
	r->kind = R_WRITE;
	r->op = idx;
	rc = C360_OK;
out:
	c360_buf_release(&kbuf);
	c360_json_doc_free(doc);
	if (!rc && r->kind == R_WRITE) {
		/* a delete's key was appended before add_delete recorded key_off */
		b->key_off[r->op] = key_start;
		b->ops[r->op].key_len = b->keys.len - key_start;
	}
	return rc;
}

/* ---- dead letters ---- */

/* Delivery reports come on the writer thread (inside dlq_produce's poll or
 * the flush of apply); the message's opaque is its index + 1 in the batch
 * being applied. Reports of a batch that is gone are ignored: that only
 * happens after a flush timed out, which stops the sink. */
static void dlq_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	struct task *t = opaque;
	size_t i = (size_t)(uintptr_t)m->_private;
	if (t->dlq_recs && i >= 1 && i <= t->dlq_nrecs)
		t->dlq_recs[i - 1].dlq_err = m->err;
}

/* Errors by which the dead-letter topic refuses this record (not the
 * topic, the brokers or the connection): sending the same record again
 * cannot succeed. */
static bool record_refused(rd_kafka_resp_err_t e)
{
	return e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE || e == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE ||
	       e == RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE || e == RD_KAFKA_RESP_ERR_INVALID_MSG ||
	       e == RD_KAFKA_RESP_ERR_INVALID_RECORD;
}

/* Sends recs[idx] to the dead-letter topic; cut: the record was refused
 * whole, send its key and value cut to c360.deadletterqueue.truncate.bytes
 * with the reason and position headers (always) and __c360.dlq.* headers
 * saying what was cut and why. Returns the producer's immediate error (the
 * client refuses a record over message.max.bytes at once) or 0. */
static rd_kafka_resp_err_t dlq_produce(struct task *t, size_t idx, bool cut)
{
	const struct c360_kafka_config *cfg = t->s->cfg;
	struct rec *r = &t->dlq_recs[idx];
	const rd_kafka_message_t *m = r->m;
	rd_kafka_headers_t *h = rd_kafka_headers_new(14);
	if (!h)
		return RD_KAFKA_RESP_ERR__FAIL;
	size_t klen = m->key_len, vlen = m->len;
	if (cfg->dlq_context_headers || cut) {
		char part[16], off[32], task[16];
		snprintf(part, sizeof part, "%" PRId32, m->partition);
		snprintf(off, sizeof off, "%" PRId64, m->offset);
		snprintf(task, sizeof task, "%d", t->id);
		const char *reason = r->reason ? r->reason : "unknown";
		rd_kafka_header_add(h, "__connect.errors.topic", -1, rd_kafka_topic_name(m->rkt), -1);
		rd_kafka_header_add(h, "__connect.errors.partition", -1, part, -1);
		rd_kafka_header_add(h, "__connect.errors.offset", -1, off, -1);
		rd_kafka_header_add(h, "__connect.errors.connector.name", -1, cfg->name, -1);
		rd_kafka_header_add(h, "__connect.errors.task.id", -1, task, -1);
		rd_kafka_header_add(h, "__connect.errors.stage", -1, r->stage ? r->stage : "TASK_PUT", -1);
		rd_kafka_header_add(h, "__connect.errors.class.name", -1, "c360.kafka.CouchbaseSink", -1);
		rd_kafka_header_add(h, "__connect.errors.exception.class.name", -1, r->exc ? r->exc : "c360.Error", -1);
		rd_kafka_header_add(h, "__connect.errors.exception.message", -1, reason, -1);
	}
	if (cut) {
		size_t cap = (size_t)cfg->dlq_truncate_bytes;
		char kb[24], vb[24];
		snprintf(kb, sizeof kb, "%zu", klen);
		snprintf(vb, sizeof vb, "%zu", vlen);
		rd_kafka_header_add(h, "__c360.dlq.truncated", -1, "true", -1);
		rd_kafka_header_add(h, "__c360.dlq.refused", -1, rd_kafka_err2str(r->dlq_refused), -1);
		rd_kafka_header_add(h, "__c360.dlq.key.bytes", -1, kb, -1);
		rd_kafka_header_add(h, "__c360.dlq.value.bytes", -1, vb, -1);
		klen = klen < cap ? klen : cap;
		vlen = vlen < cap ? vlen : cap;
	}
	for (;;) {
		rd_kafka_resp_err_t e = rd_kafka_producev(
			t->dlq, RD_KAFKA_V_TOPIC(cfg->dlq_topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
			RD_KAFKA_V_KEY(m->key, klen), RD_KAFKA_V_VALUE(m->payload, m->payload ? vlen : 0),
			RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE((void *)(uintptr_t)(idx + 1)), RD_KAFKA_V_END);
		if (!e) {
			r->dlq_sent = true;
			r->dlq_err = RD_KAFKA_RESP_ERR_NO_ERROR; /* until its delivery report */
			return e; /* the message owns h now */
		}
		if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			rd_kafka_headers_destroy(h);
			return e;
		}
		rd_kafka_poll(t->dlq, 50);
	}
}

/* Waits for the dead letters in flight; false (and the sink failed) if the
 * topic did not acknowledge them in time. */
static bool dlq_flush(struct task *t)
{
	rd_kafka_resp_err_t e = rd_kafka_flush(t->dlq, 30000);
	if (!e)
		return true;
	fail(t->s, "dead-letter topic '%s': %s; offsets not stored", t->s->cfg->dlq_topic, rd_kafka_err2str(e));
	rd_kafka_purge(t->dlq, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	return false;
}

/* Settles the dead letters of recs[0..upto): every one acknowledged, or
 * refused as a record, sent again cut, and if that is refused too logged
 * with its position and skipped. Any other failure (topic missing, not
 * authorized, brokers down) stops the sink without storing the offsets:
 * the dead-letter topic is unusable, the records are not at fault.
 * Returns false when the sink must stop. */
static bool dlq_settle(struct task *t, size_t upto)
{
	struct c360_kafka_sink *s = t->s;
	const struct c360_kafka_config *cfg = s->cfg;
	struct rec *recs = t->dlq_recs;
	if (!dlq_flush(t))
		return false;
	bool again = false;
	for (size_t i = 0; i < upto; i++) {
		struct rec *r = &recs[i];
		if (r->kind != R_BAD || !r->dlq_err)
			continue;
		if (!record_refused(r->dlq_err))
			goto refused_topic;
		r->dlq_refused = r->dlq_err;
		r->dlq_cut = true;
		r->dlq_err = dlq_produce(t, i, true);
		if (r->dlq_err && !record_refused(r->dlq_err))
			goto refused_topic;
		again = again || !r->dlq_err;
	}
	if (again && !dlq_flush(t))
		return false;
	for (size_t i = 0; i < upto; i++) {
		struct rec *r = &recs[i];
		if (r->kind != R_BAD || !(r->dlq_sent || r->dlq_cut))
			continue;
		const rd_kafka_message_t *m = r->m;
		if (!r->dlq_err) {
			ADD(s, dead_lettered, 1);
			if (r->dlq_cut) {
				ADD(s, dlq_truncated, 1);
				C360_WARN(t->who, "dead letter of '%s' [%" PRId32 "] offset %" PRId64 " refused by '%s' (%s): "
					  "sent with key and value cut to %" PRId64 " bytes (header __c360.dlq.truncated)",
					  rd_kafka_topic_name(m->rkt), m->partition, m->offset, cfg->dlq_topic,
					  rd_kafka_err2str(r->dlq_refused), cfg->dlq_truncate_bytes);
			}
		} else if (record_refused(r->dlq_err)) {
			ADD(s, dlq_dropped, 1);
			ADD(s, failed, 1);
			C360_ERROR(t->who, "record '%s' [%" PRId32 "] offset %" PRId64 " (%s) skipped: dead-letter topic "
				   "'%s' refused it whole (%s) and cut to %" PRId64 " bytes (%s); lower "
				   "c360.deadletterqueue.truncate.bytes or raise the topic's max.message.bytes",
				   rd_kafka_topic_name(m->rkt), m->partition, m->offset, r->reason ? r->reason : "bad record",
				   cfg->dlq_topic, rd_kafka_err2str(r->dlq_refused), cfg->dlq_truncate_bytes,
				   rd_kafka_err2str(r->dlq_err));
		} else {
			goto refused_topic;
		}
	}
	return true;
refused_topic:
	for (size_t i = 0; i < upto; i++) {
		if (recs[i].kind == R_BAD && recs[i].dlq_err && !record_refused(recs[i].dlq_err)) {
			fail(s, "cannot send to dead-letter topic '%s': %s; offsets not stored", cfg->dlq_topic,
			     rd_kafka_err2str(recs[i].dlq_err));
			break;
		}
	}
	return false;
}

/* ---- writer thread ---- */

/* Applies one batch: store transaction (retried until retry.timeout), dead
 * letters (acknowledged), then the offsets store. */
static void apply(struct task *t, struct batch *b)
{
	struct c360_kafka_sink *s = t->s;
	const struct c360_kafka_config *cfg = s->cfg;
	for (size_t i = 0; i < b->nops; i++)
		b->ops[i].key = b->keys.data + b->key_off[i]; /* keys may have moved while growing */
	if (b->nops) {
		int64_t start = now_ms(), delay = 50;
		for (;;) {
			c360_rc rc = c360_store_write(s->st, b->ops, b->nops);
			if (rc == C360_OK)
				break;
			int64_t spent = now_ms() - start;
			if (spent >= cfg->retry_timeout_ms || __atomic_load_n(&s->failed, __ATOMIC_SEQ_CST)) {
				fail(s, "store write failed: %s (after %" PRId64 " ms, couchbase.retry.timeout=%" PRId64
					" ms); offsets not stored", c360_rc_str(rc), spent, cfg->retry_timeout_ms);
				return;
			}
			C360_WARN(t->who, "store write failed: %s; retrying in %" PRId64 " ms", c360_rc_str(rc), delay);
			ADD(s, retries, 1);
			int64_t left = cfg->retry_timeout_ms - spent;
			usleep((useconds_t)((delay < left ? delay : left) * 1000));
			delay = delay * 2 > 5000 ? 5000 : delay * 2;
		}
		ADD(s, batches, 1);
	}
	__atomic_store_n(&s->last_write_ms, now_ms(), __ATOMIC_RELAXED);
	rd_kafka_topic_partition_list_t *offs = rd_kafka_topic_partition_list_new(8);
	bool dlq_sent = false;
	size_t upto = b->nrecs; /* offsets stored for recs[0..upto) */
	t->dlq_recs = b->recs;
	t->dlq_nrecs = b->nrecs;
	for (size_t i = 0; i < b->nrecs; i++) {
		struct rec *r = &b->recs[i];
		if (r->kind == R_WRITE) {
			struct c360_write *w = &b->ops[r->op];
			if (w->rc == C360_OK) {
				if (w->type == C360_WRITE_DELETE)
					ADD(s, deleted, 1);
				else
					ADD(s, written, 1);
			} else if (w->type == C360_WRITE_DELETE && w->rc == C360_ERR_NOT_FOUND) {
				ADD(s, skipped, 1); /* already gone: deletes are idempotent */
			} else {
				char msg[200];
				snprintf(msg, sizeof msg, "store refused document '%.*s': %s", (int)w->key_len, w->key,
					 c360_rc_str(w->rc));
				bad(r, "TASK_PUT", "c360.StoreError", "%s", msg);
			}
		} else if (r->kind == R_SKIP) {
			ADD(s, skipped, 1);
		}
		if (r->kind == R_BAD) {
			if (cfg->tolerance == C360_KAFKA_TOLERANCE_NONE) {
				ADD(s, failed, 1);
				fail(s, "record '%s' [%" PRId32 "] offset %" PRId64 ": %s (errors.tolerance=none)",
				     rd_kafka_topic_name(r->m->rkt), r->m->partition, r->m->offset, r->reason);
				upto = i;
				break;
			}
			if (cfg->log_errors)
				C360_WARN(t->who, "bad record '%s' [%" PRId32 "] offset %" PRId64 ": %s",
					  rd_kafka_topic_name(r->m->rkt), r->m->partition, r->m->offset, r->reason);
			if (t->dlq) {
				r->dlq_err = dlq_produce(t, i, false);
				if (r->dlq_err && !record_refused(r->dlq_err)) {
					fail(s, "cannot send to dead-letter topic '%s': %s", cfg->dlq_topic,
					     rd_kafka_err2str(r->dlq_err));
					upto = i;
					break;
				}
				dlq_sent = true;
			} else {
				ADD(s, failed, 1);
			}
		}
	}
	/* dead letters must be acknowledged (or skipped, said and counted)
	 * before their offsets are stored */
	bool dlq_ok = !dlq_sent || dlq_settle(t, upto);
	t->dlq_recs = NULL;
	t->dlq_nrecs = 0;
	if (!dlq_ok) {
		rd_kafka_topic_partition_list_destroy(offs);
		return;
	}
	for (size_t i = 0; i < upto; i++) {
		const rd_kafka_message_t *m = b->recs[i].m;
		rd_kafka_topic_partition_t *p =
			rd_kafka_topic_partition_list_find(offs, rd_kafka_topic_name(m->rkt), m->partition);
		if (!p)
			p = rd_kafka_topic_partition_list_add(offs, rd_kafka_topic_name(m->rkt), m->partition);
		if (m->offset + 1 > p->offset)
			p->offset = m->offset + 1;
	}
	if (offs->cnt) {
		rd_kafka_resp_err_t e = rd_kafka_offsets_store(t->rk, offs);
		if (e && e != RD_KAFKA_RESP_ERR__STATE)
			C360_WARN(t->who, "cannot store offsets: %s", rd_kafka_err2str(e));
		pthread_mutex_lock(&s->mu);
		for (int i = 0; i < offs->cnt; i++) {
			struct part *p = find_part(t, offs->elems[i].topic, offs->elems[i].partition);
			if (p && !offs->elems[i].err && offs->elems[i].offset > p->stored)
				p->stored = offs->elems[i].offset;
		}
		pthread_mutex_unlock(&s->mu);
	}
	rd_kafka_topic_partition_list_destroy(offs);
}

static void *writer_main(void *arg)
{
	struct task *t = arg;
	pthread_mutex_lock(&t->mu);
	for (;;) {
		while (!t->qhead && !t->writer_quit)
			pthread_cond_wait(&t->cv, &t->mu);
		if (!t->qhead && t->writer_quit)
			break;
		struct batch *b = t->qhead;
		t->qhead = b->next;
		if (!t->qhead)
			t->qtail = NULL;
		t->qlen--;
		t->writer_busy = true;
		pthread_mutex_unlock(&t->mu);
		if (!__atomic_load_n(&t->s->failed, __ATOMIC_SEQ_CST))
			apply(t, b);
		batch_free(b);
		pthread_mutex_lock(&t->mu);
		t->writer_busy = false;
		pthread_cond_broadcast(&t->cv);
	}
	pthread_mutex_unlock(&t->mu);
	return NULL;
}

/* Hands the current batch to the writer (waiting while the queue is full). */
static void submit(struct task *t)
{
	struct batch *b = t->cur;
	if (!b || !b->nrecs)
		return;
	t->cur = NULL;
	pthread_mutex_lock(&t->mu);
	while (t->qlen >= QUEUE_DEPTH)
		pthread_cond_wait(&t->cv, &t->mu);
	b->next = NULL;
	if (t->qtail)
		t->qtail->next = b;
	else
		t->qhead = b;
	t->qtail = b;
	t->qlen++;
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->mu);
}

/* Submits the current batch and waits until the writer applied everything. */
static void drain(struct task *t)
{
	submit(t);
	pthread_mutex_lock(&t->mu);
	while (t->qlen || t->writer_busy)
		pthread_cond_wait(&t->cv, &t->mu);
	pthread_mutex_unlock(&t->mu);
}

static bool writer_idle(struct task *t)
{
	pthread_mutex_lock(&t->mu);
	bool idle = !t->qlen && !t->writer_busy;
	pthread_mutex_unlock(&t->mu);
	return idle;
}

/* ---- consumer thread ---- */

static struct part *find_part(struct task *t, const char *topic, int32_t partition)
{
	for (int i = 0; i < t->nparts; i++)
		if (t->parts[i].partition == partition && !strcmp(t->parts[i].topic, topic))
			return &t->parts[i];
	return NULL;
}

/* Records known committed: every stored offset up to now (after a
 * successful synchronous commit, with the writer idle). */
static void mark_committed(struct task *t)
{
	pthread_mutex_lock(&t->s->mu);
	for (int i = 0; i < t->nparts; i++)
		if (t->parts[i].stored > t->parts[i].committed)
			t->parts[i].committed = t->parts[i].stored;
	pthread_mutex_unlock(&t->s->mu);
}

/* Records written whose offsets are not known committed, over the
 * partitions in only (NULL = all of this task's): from the last commit
 * seen, or from the first record of this assignment when none was. */
static uint64_t uncommitted(struct task *t, const rd_kafka_topic_partition_list_t *only)
{
	uint64_t n = 0;
	pthread_mutex_lock(&t->s->mu);
	for (int i = 0; i < t->nparts; i++) {
		const struct part *p = &t->parts[i];
		if (only && !rd_kafka_topic_partition_list_find(only, p->topic, p->partition))
			continue;
		int64_t base = p->committed >= 0 ? p->committed : p->first;
		if (base >= 0 && p->stored > base)
			n += (uint64_t)(p->stored - base);
	}
	pthread_mutex_unlock(&t->s->mu);
	return n;
}

static bool commit_retriable(rd_kafka_resp_err_t e)
{
	return e == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS || e == RD_KAFKA_RESP_ERR__TIMED_OUT ||
	       e == RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT || e == RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE ||
	       e == RD_KAFKA_RESP_ERR_NOT_COORDINATOR || e == RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS ||
	       e == RD_KAFKA_RESP_ERR__TRANSPORT || e == RD_KAFKA_RESP_ERR__WAIT_COORD;
}

/* Commits the stored offsets synchronously, retrying what a rebalance or a
 * moving coordinator refuses (backoff 50 ms doubling to 1 s) for up to
 * budget_ms. Between tries, with can_poll, the consumer is polled so that
 * it can take part in the rebalance (records polled then are dropped,
 * their offsets not stored: they are read again later); inside the
 * rebalance callback it cannot be, and sleeps. Returns 0 once committed
 * (or nothing to commit) or the last error. */
static rd_kafka_resp_err_t commit_sync(struct task *t, bool can_poll, int64_t budget_ms)
{
	int64_t deadline = now_ms() + budget_ms, delay = 50;
	for (int tries = 1;; tries++) {
		rd_kafka_resp_err_t e = rd_kafka_commit(t->rk, NULL, 0);
		if (!e || e == RD_KAFKA_RESP_ERR__NO_OFFSET) {
			if (tries > 1)
				C360_INFO(t->who, "offsets committed at try %d", tries);
			mark_committed(t);
			return RD_KAFKA_RESP_ERR_NO_ERROR;
		}
		if (!commit_retriable(e) || now_ms() >= deadline)
			return e;
		C360_DEBUG(t->who, "commit refused: %s; retrying in %" PRId64 " ms", rd_kafka_err2str(e), delay);
		if (can_poll) {
			int64_t until = now_ms() + delay;
			while (now_ms() < until) {
				rd_kafka_message_t *m = rd_kafka_consumer_poll(t->rk, (int)(until - now_ms()));
				if (m)
					rd_kafka_message_destroy(m);
			}
		} else {
			usleep((useconds_t)(delay * 1000));
		}
		delay = delay * 2 > 1000 ? 1000 : delay * 2;
	}
}

/* Says how many records will be read again when a commit failed: while the
 * sink stops this fails it (exit status non-zero), mid-run it warns (the
 * partitions' next owner reads them again; writes are idempotent). */
static void commit_lost(struct task *t, const char *when, rd_kafka_resp_err_t e, uint64_t n)
{
	struct c360_kafka_sink *s = t->s;
	if (!n) {
		C360_WARN(t->who, "%s failed: %s (nothing written was left to commit)", when, rd_kafka_err2str(e));
		return;
	}
	ADD(s, uncommitted, n);
	if (__atomic_load_n(&s->stop, __ATOMIC_SEQ_CST))
		fail(s, "%s failed: %s; the offsets of %" PRIu64 " record(s) written to the store were not "
		     "committed, they will be read again at the next start", when, rd_kafka_err2str(e), n);
	else
		C360_WARN(t->who, "%s failed: %s; the offsets of %" PRIu64 " record(s) written to the store were "
			  "not committed, the partitions' next owner reads them again", when, rd_kafka_err2str(e), n);
}

/* A coordinator refuses commits while its group rebalances (librdkafka's
 * mock cluster from the first JoinGroup until every member synced; a
 * broker from the JoinGroup responses until then), and eager revoke runs
 * inside that window. Retrying inside the callback cannot help (the
 * rebalance waits for this member to rejoin), so the offsets of the
 * revoked partitions are kept and committed with the next assignment,
 * in the new generation, before fetching starts (commit_pending). For a
 * partition that moved to another member this can at worst move its
 * committed offset back to what this sink wrote: records read again,
 * never skipped. */
static bool commit_on_revoke(struct task *t, const rd_kafka_topic_partition_list_t *parts)
{
	/* after the final commit the shutdown has spoken: one try, no count */
	rd_kafka_resp_err_t e = commit_sync(t, false, t->final_done ? 0 : 300);
	if (!e)
		return true;
	if (t->final_done)
		return false;
	uint64_t n = uncommitted(t, parts);
	if (!commit_retriable(e) || !n) {
		commit_lost(t, "commit on revoke", e, n);
		return false;
	}
	if (!t->pending && !(t->pending = rd_kafka_topic_partition_list_new(parts->cnt))) {
		commit_lost(t, "commit on revoke", e, n);
		return false;
	}
	pthread_mutex_lock(&t->s->mu);
	for (int i = 0; i < t->nparts; i++) {
		const struct part *p = &t->parts[i];
		if (p->stored < 0 || p->stored <= p->committed ||
		    !rd_kafka_topic_partition_list_find(parts, p->topic, p->partition))
			continue;
		rd_kafka_topic_partition_t *q = rd_kafka_topic_partition_list_find(t->pending, p->topic, p->partition);
		if (!q)
			q = rd_kafka_topic_partition_list_add(t->pending, p->topic, p->partition);
		q->offset = p->stored;
	}
	pthread_mutex_unlock(&t->s->mu);
	t->pending_n += n;
	C360_INFO(t->who, "commit on revoke refused: %s; the offsets of %" PRIu64 " record(s) are committed after "
		  "the rebalance", rd_kafka_err2str(e), n);
	return false;
}

/* Commits the offsets kept by commit_on_revoke (retrying up to 2 s what a
 * rebalance still refuses), or says they are lost. */
static void commit_pending(struct task *t, const char *when)
{
	if (!t->pending)
		return;
	int64_t deadline = now_ms() + 2000, delay = 50;
	rd_kafka_resp_err_t e;
	while ((e = rd_kafka_commit(t->rk, t->pending, 0)) && commit_retriable(e) && now_ms() < deadline) {
		usleep((useconds_t)(delay * 1000));
		delay = delay * 2 > 500 ? 500 : delay * 2;
	}
	if (e)
		commit_lost(t, when, e, t->pending_n);
	else
		C360_INFO(t->who, "committed the offsets of %" PRIu64 " record(s) the rebalance had refused",
			  t->pending_n);
	rd_kafka_topic_partition_list_destroy(t->pending);
	t->pending = NULL;
	t->pending_n = 0;
}

static void commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *offs, void *opaque)
{
	(void)rk;
	struct task *t = opaque;
	if (err || !offs)
		return;
	pthread_mutex_lock(&t->s->mu);
	for (int i = 0; i < offs->cnt; i++) {
		struct part *p = find_part(t, offs->elems[i].topic, offs->elems[i].partition);
		if (p && !offs->elems[i].err && offs->elems[i].offset > p->committed)
			p->committed = offs->elems[i].offset;
	}
	pthread_mutex_unlock(&t->s->mu);
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
			 void *opaque)
{
	struct task *t = opaque;
	bool coop = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		pthread_mutex_lock(&t->s->mu);
		if (!coop)
			t->nparts = 0;
		for (int i = 0; i < parts->cnt && t->nparts < MAX_PARTS; i++) {
			if (find_part(t, parts->elems[i].topic, parts->elems[i].partition))
				continue;
			struct part *p = &t->parts[t->nparts++];
			snprintf(p->topic, sizeof p->topic, "%s", parts->elems[i].topic);
			p->partition = parts->elems[i].partition;
			p->eof = false;
			p->first = p->stored = p->committed = -1;
		}
		t->assigned_once = true;
		t->at_end = false;
		pthread_mutex_unlock(&t->s->mu);
		C360_INFO(t->who, "assigned %d partition(s)", parts->cnt);
		/* before fetching starts from the committed offsets */
		commit_pending(t, "commit after the rebalance");
		if (coop)
			rd_kafka_error_destroy(rd_kafka_incremental_assign(rk, parts));
		else
			rd_kafka_assign(rk, parts);
		if (__atomic_load_n(&t->s->paused, __ATOMIC_SEQ_CST))
			rd_kafka_pause_partitions(rk, parts);
		t->paused_applied = __atomic_load_n(&t->s->paused, __ATOMIC_SEQ_CST);
	} else {
		/* write what was consumed from these partitions and commit it
		 * before they go to another member */
		drain(t);
		bool committed = !__atomic_load_n(&t->s->failed, __ATOMIC_SEQ_CST) && commit_on_revoke(t, parts);
		pthread_mutex_lock(&t->s->mu);
		if (coop) {
			for (int i = 0; i < parts->cnt; i++) {
				struct part *p = find_part(t, parts->elems[i].topic, parts->elems[i].partition);
				if (p)
					*p = t->parts[--t->nparts];
			}
		} else {
			t->nparts = 0;
		}
		pthread_mutex_unlock(&t->s->mu);
		C360_INFO(t->who, "revoked %d partition(s)%s", parts->cnt,
			  committed ? " after committing the offsets of what was written" : "");
		if (coop)
			rd_kafka_error_destroy(rd_kafka_incremental_unassign(rk, parts));
		else
			rd_kafka_assign(rk, NULL);
	}
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	struct task *t = rd_kafka_opaque(rk);
	const char *who = t ? t->who : "kafka";
	/* a commit racing a rebalance at shutdown: the final commit was made */
	if (level <= 4 && !(strstr(fac, "COMMITFAIL") && strstr(buf, "rebalance in progress")))
		C360_WARN(who, "librdkafka %s: %s", fac, buf);
	else if (level <= 6)
		C360_INFO(who, "librdkafka %s: %s", fac, buf);
	else
		C360_DEBUG(who, "librdkafka %s: %s", fac, buf);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct task *t = opaque;
	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		char buf[256];
		rd_kafka_fatal_error(rk, buf, sizeof buf);
		fail(t->s, "kafka fatal error: %s", buf);
		return;
	}
	/* transient (brokers down, timeouts): librdkafka retries by itself */
	C360_WARN(t->who, "kafka: %s", reason);
}

static void apply_pause(struct task *t)
{
	bool want = __atomic_load_n(&t->s->paused, __ATOMIC_SEQ_CST);
	if (want == t->paused_applied)
		return;
	rd_kafka_topic_partition_list_t *a = NULL;
	if (rd_kafka_assignment(t->rk, &a) == RD_KAFKA_RESP_ERR_NO_ERROR && a) {
		if (want)
			rd_kafka_pause_partitions(t->rk, a);
		else
			rd_kafka_resume_partitions(t->rk, a);
		rd_kafka_topic_partition_list_destroy(a);
	}
	t->paused_applied = want;
	C360_INFO(t->who, "%s", want ? "paused" : "resumed");
}

/* Commits the stored offsets at shutdown, retrying for up to 8 s what a
 * rebalance refuses (polling meanwhile to serve it). */
static void final_commit(struct task *t)
{
	rd_kafka_resp_err_t e = commit_sync(t, true, 8000);
	t->final_done = true;
	if (e)
		commit_lost(t, "final commit", e, uncommitted(t, NULL));
	/* offsets refused on a revoke while stopping: the next assignment
	 * commits them (polled for here, up to 8 s), else say they are lost */
	for (int64_t until = now_ms() + 8000; t->pending && now_ms() < until;) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(t->rk, 100);
		if (m)
			rd_kafka_message_destroy(m);
	}
	commit_pending(t, "final commit");
}

/* librdkafka reports a partition's end once per offset and handle: a
 * partition that comes back to this task after a rebalance, already at the
 * end it reported before, gets no second EOF event. So for partitions not
 * known to be at their end, compare the consume position (or, before the
 * first record, the committed offset) with the high watermark. */
static void probe_ends(struct task *t)
{
	struct c360_kafka_sink *s = t->s;
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
	pthread_mutex_lock(&s->mu);
	for (int i = 0; i < t->nparts; i++)
		if (!t->parts[i].eof)
			rd_kafka_topic_partition_list_add(l, t->parts[i].topic, t->parts[i].partition);
	pthread_mutex_unlock(&s->mu);
	if (l->cnt && !rd_kafka_position(t->rk, l)) {
		bool need_committed = false;
		for (int i = 0; i < l->cnt; i++)
			need_committed |= l->elems[i].offset < 0;
		if (need_committed) {
			rd_kafka_topic_partition_list_t *c = rd_kafka_topic_partition_list_copy(l);
			if (!rd_kafka_committed(t->rk, c, 1000))
				for (int i = 0; i < l->cnt; i++)
					if (l->elems[i].offset < 0)
						l->elems[i].offset = c->elems[i].offset;
			rd_kafka_topic_partition_list_destroy(c);
		}
		for (int i = 0; i < l->cnt; i++) {
			int64_t lo = -1, hi = -1;
			if (l->elems[i].offset < 0 ||
			    rd_kafka_get_watermark_offsets(t->rk, l->elems[i].topic, l->elems[i].partition, &lo,
							   &hi) || hi < 0 || l->elems[i].offset < hi)
				continue;
			pthread_mutex_lock(&s->mu);
			struct part *p = find_part(t, l->elems[i].topic, l->elems[i].partition);
			if (p)
				p->eof = true;
			pthread_mutex_unlock(&s->mu);
		}
	}
	rd_kafka_topic_partition_list_destroy(l);
}

static void *consumer_main(void *arg)
{
	struct task *t = arg;
	struct c360_kafka_sink *s = t->s;
	const struct c360_kafka_config *cfg = s->cfg;
	int64_t last_probe = 0;
	while (!__atomic_load_n(&s->stop, __ATOMIC_SEQ_CST)) {
		apply_pause(t);
		rd_kafka_message_t *m = rd_kafka_consumer_poll(t->rk, t->cur && t->cur->nrecs ? 5 : 100);
		if (m && m->err) {
			if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
				pthread_mutex_lock(&s->mu);
				struct part *p = find_part(t, rd_kafka_topic_name(m->rkt), m->partition);
				if (p)
					p->eof = true;
				pthread_mutex_unlock(&s->mu);
			} else if (m->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
				   m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
				C360_WARN(t->who, "topic '%s' does not exist (yet)",
					  m->rkt ? rd_kafka_topic_name(m->rkt) : "?");
			} else {
				C360_WARN(t->who, "consume: %s", rd_kafka_message_errstr(m));
			}
			rd_kafka_message_destroy(m);
			m = NULL;
		}
		if (m) {
			ADD(s, records_in, 1);
			int64_t zero = 0, tnow = now_ms();
			__atomic_compare_exchange_n(&s->first_in_ms, &zero, tnow, false, __ATOMIC_RELAXED,
						    __ATOMIC_RELAXED);
			pthread_mutex_lock(&s->mu);
			struct part *p = find_part(t, rd_kafka_topic_name(m->rkt), m->partition);
			if (p) {
				p->eof = false;
				if (p->first < 0)
					p->first = m->offset;
			}
			t->at_end = false;
			pthread_mutex_unlock(&s->mu);
			if (!t->cur && !(t->cur = batch_new())) {
				rd_kafka_message_destroy(m);
				fail(s, "out of memory");
				break;
			}
			struct rec *r = batch_add_rec(t->cur, m);
			if (!r) {
				rd_kafka_message_destroy(m);
				fail(s, "out of memory");
				break;
			}
			if (build(t, t->cur, r)) {
				fail(s, "out of memory");
				break;
			}
			if (r->kind == R_BAD && cfg->tolerance == C360_KAFKA_TOLERANCE_NONE) {
				/* write everything before it, then stop at it */
				submit(t);
				break;
			}
			if (t->cur->nrecs >= (size_t)cfg->batch_size)
				submit(t);
		} else if (t->cur && t->cur->nrecs && now_ms() - t->cur->first_ms >= cfg->batch_wait_ms) {
			submit(t);
		} else if (t->cur && t->cur->nrecs && !m) {
			submit(t); /* nothing more right now: do not hold records back */
		}
		if (s->opts.exit_at_end) {
			if (now_ms() - last_probe >= 500) {
				last_probe = now_ms();
				probe_ends(t);
			}
			bool end = t->assigned_once && (!t->cur || !t->cur->nrecs) && writer_idle(t);
			pthread_mutex_lock(&s->mu);
			for (int i = 0; end && i < t->nparts; i++)
				end = t->parts[i].eof;
			t->at_end = end;
			pthread_mutex_unlock(&s->mu);
		}
	}
	/* drain: write what was consumed (the writer discards batches once
	 * the sink failed), then commit what was stored */
	drain(t);
	final_commit(t);
	/* Barrier: no task leaves the group before every task committed, or
	 * the first leave starts a rebalance that fails the others' commits. */
	pthread_mutex_lock(&s->mu);
	s->ncommitted++;
	pthread_cond_broadcast(&s->cv);
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 10;
	while (s->ncommitted < s->ntasks && pthread_cond_timedwait(&s->cv, &s->mu, &dl) == 0)
		;
	pthread_mutex_unlock(&s->mu);
	rd_kafka_consumer_close(t->rk);
	pthread_mutex_lock(&t->mu);
	t->writer_quit = true;
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->mu);
	pthread_mutex_lock(&s->mu);
	t->done = true;
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* ---- lifecycle ---- */

/* Settings for the dead-letter producer: connection and security only. */
static bool producer_setting(const char *k)
{
	static const char *const ok[] = {"bootstrap.servers", "security.protocol", "sasl.", "ssl.", "client.id",
					 "socket.", "broker.address.family", "api.version.",
					 "enable.ssl.certificate.verification", "metadata.", "topic.metadata.",
					 "reconnect.", "debug", NULL};
	for (const char *const *p = ok; *p; p++) {
		size_t n = strlen(*p);
		if ((*p)[n - 1] == '.' ? !strncmp(k, *p, n) : !strcmp(k, *p))
			return true;
	}
	return false;
}

static c360_rc make_consumer(struct task *t, char *err, size_t errlen)
{
	const struct c360_kafka_config *cfg = t->s->cfg;
	char e[256];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	if (!conf)
		return C360_ERR_NOMEM;
	/* defaults a sink needs; the user's passthrough settings come after */
	const char *defaults[][2] = {
		{"auto.offset.reset", "earliest"}, /* Kafka Connect sinks start at the beginning */
		{"enable.partition.eof", "true"},
		{"fetch.wait.max.ms", "50"},
		{"queued.min.messages", "20000"},
		{"log.connection.close", "false"},
	};
	for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
		rd_kafka_conf_set(conf, defaults[i][0], defaults[i][1], e, sizeof e);
	for (int i = 0; i < cfg->nrdkafka; i++) {
		if (rd_kafka_conf_set(conf, cfg->rdkafka[i].key, cfg->rdkafka[i].value, e, sizeof e)) {
			seterr(err, errlen, "config key '%s': %s", cfg->rdkafka[i].key, e);
			rd_kafka_conf_destroy(conf);
			return C360_ERR_INVALID;
		}
	}
	rd_kafka_conf_set(conf, "enable.auto.offset.store", "false", e, sizeof e);
	char cid[C360_KAFKA_NAME_MAX + 32];
	snprintf(cid, sizeof cid, "c360-%s-%d", cfg->name, t->id);
	if (!c360_kafka_config_rdkafka(cfg, "client.id"))
		rd_kafka_conf_set(conf, "client.id", cid, e, sizeof e);
	rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
	rd_kafka_conf_set_offset_commit_cb(conf, commit_cb);
	rd_kafka_conf_set_log_cb(conf, log_cb);
	rd_kafka_conf_set_error_cb(conf, error_cb);
	rd_kafka_conf_set_opaque(conf, t);
	t->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof e);
	if (!t->rk) {
		seterr(err, errlen, "cannot create consumer: %s", e);
		return C360_ERR_INVALID;
	}
	rd_kafka_poll_set_consumer(t->rk);

	if (cfg->dlq_topic) {
		rd_kafka_conf_t *pc = rd_kafka_conf_new();
		for (int i = 0; i < cfg->nrdkafka; i++)
			if (producer_setting(cfg->rdkafka[i].key))
				rd_kafka_conf_set(pc, cfg->rdkafka[i].key, cfg->rdkafka[i].value, e, sizeof e);
		rd_kafka_conf_set(pc, "acks", "all", e, sizeof e);
		rd_kafka_conf_set(pc, "linger.ms", "5", e, sizeof e);
		rd_kafka_conf_set(pc, "log.connection.close", "false", e, sizeof e);
		rd_kafka_conf_set_dr_msg_cb(pc, dlq_dr);
		rd_kafka_conf_set_log_cb(pc, log_cb);
		rd_kafka_conf_set_opaque(pc, t);
		t->dlq = rd_kafka_new(RD_KAFKA_PRODUCER, pc, e, sizeof e);
		if (!t->dlq) {
			seterr(err, errlen, "cannot create dead-letter producer: %s", e);
			return C360_ERR_INVALID;
		}
	}
	return C360_OK;
}

c360_rc c360_kafka_sink_new(c360_store *st, const struct c360_kafka_config *cfg,
			    const struct c360_kafka_sink_opts *opts, c360_kafka_sink **out, char *err, size_t errlen)
{
	*out = NULL;
	struct c360_kafka_sink *s = calloc(1, sizeof *s);
	if (!s)
		return C360_ERR_NOMEM;
	s->st = st;
	s->cfg = cfg;
	if (opts)
		s->opts = *opts;
	s->paused = cfg->paused;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	snprintf(s->who, sizeof s->who, "kafka:%s", cfg->name);
	s->ntasks = cfg->tasks_max < 1 ? 1 : cfg->tasks_max > MAX_TASKS ? MAX_TASKS : cfg->tasks_max;
	for (int i = 0; i < s->ntasks; i++) {
		struct task *t = &s->tasks[i];
		t->s = s;
		t->id = i;
		snprintf(t->who, sizeof t->who, "kafka:%s", cfg->name);
		pthread_mutex_init(&t->mu, NULL);
		pthread_cond_init(&t->cv, NULL);
	}
	c360_rc rc = C360_OK;
	if (cfg->doc_id) {
		char e[256];
		rc = c360_kafka_idtmpl_compile(cfg->doc_id, &s->tmpl, e, sizeof e);
		if (rc) {
			seterr(err, errlen, "config key 'couchbase.document.id': %s", e);
			goto out;
		}
	}
	for (int i = 0; i < cfg->ntopic_doc_id; i++) {
		char e[256];
		if (!cfg->topic_doc_id[i].value[0])
			continue;
		rc = c360_kafka_idtmpl_compile(cfg->topic_doc_id[i].value, &s->topic_tmpl[i], e, sizeof e);
		if (rc) {
			seterr(err, errlen, "config key 'couchbase.topic.to.document.id': topic '%s': %s",
			       cfg->topic_doc_id[i].key, e);
			goto out;
		}
	}
	rc = c360_store_bucket_ensure(st, cfg->bucket, 0);
	if (rc) {
		seterr(err, errlen, "cannot create bucket '%s': %s", cfg->bucket, c360_rc_str(rc));
		goto out;
	}
	for (int i = 0; i < s->ntasks; i++)
		if ((rc = make_consumer(&s->tasks[i], err, errlen)))
			goto out;
	rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(cfg->ntopics + 1);
	if (cfg->topics_regex) {
		char re[1100];
		snprintf(re, sizeof re, "%s%s", cfg->topics_regex[0] == '^' ? "" : "^", cfg->topics_regex);
		rd_kafka_topic_partition_list_add(topics, re, RD_KAFKA_PARTITION_UA);
	}
	for (int i = 0; i < cfg->ntopics; i++)
		rd_kafka_topic_partition_list_add(topics, cfg->topics[i], RD_KAFKA_PARTITION_UA);
	for (int i = 0; !rc && i < s->ntasks; i++) {
		rd_kafka_resp_err_t e = rd_kafka_subscribe(s->tasks[i].rk, topics);
		if (e) {
			seterr(err, errlen, "cannot subscribe: %s", rd_kafka_err2str(e));
			rc = C360_ERR_INVALID;
		}
	}
	rd_kafka_topic_partition_list_destroy(topics);
out:
	if (rc) {
		c360_kafka_sink_free(s);
		return rc;
	}
	*out = s;
	return C360_OK;
}

c360_rc c360_kafka_sink_start(c360_kafka_sink *s, char *err, size_t errlen)
{
	for (int i = 0; i < s->ntasks; i++) {
		struct task *t = &s->tasks[i];
		if (pthread_create(&t->writer, NULL, writer_main, t)) {
			seterr(err, errlen, "cannot start writer thread: %s", strerror(errno));
			c360_kafka_sink_stop(s);
			return C360_ERR_INTERNAL;
		}
		t->writer_started = true;
		if (pthread_create(&t->consumer, NULL, consumer_main, t)) {
			seterr(err, errlen, "cannot start consumer thread: %s", strerror(errno));
			c360_kafka_sink_stop(s);
			return C360_ERR_INTERNAL;
		}
		t->consumer_started = true;
	}
	s->started = 1;
	C360_INFO(s->who, "started: %d task(s), bucket '%s'", s->ntasks, s->cfg->bucket);
	return C360_OK;
}

void c360_kafka_sink_stop(c360_kafka_sink *s)
{
	if (s)
		__atomic_store_n(&s->stop, 1, __ATOMIC_SEQ_CST);
}

void c360_kafka_sink_pause(c360_kafka_sink *s, bool pause)
{
	__atomic_store_n(&s->paused, pause ? 1 : 0, __ATOMIC_SEQ_CST);
}

static bool all_done(struct c360_kafka_sink *s)
{
	pthread_mutex_lock(&s->mu);
	bool done = true;
	for (int i = 0; i < s->ntasks; i++)
		done = done && (!s->tasks[i].consumer_started || s->tasks[i].done);
	pthread_mutex_unlock(&s->mu);
	return done;
}

/* exit_at_end: every task has had its assignment, at least one partition
 * is assigned, and every assigned partition is at its end with nothing in
 * flight. */
static bool all_at_end(struct c360_kafka_sink *s)
{
	pthread_mutex_lock(&s->mu);
	int nparts = 0;
	bool end = true;
	for (int i = 0; i < s->ntasks; i++) {
		end = end && s->tasks[i].at_end;
		nparts += s->tasks[i].nparts;
	}
	pthread_mutex_unlock(&s->mu);
	return end && nparts > 0;
}

static void join_all(struct c360_kafka_sink *s)
{
	for (int i = 0; i < s->ntasks; i++) {
		struct task *t = &s->tasks[i];
		if (t->consumer_started) {
			pthread_join(t->consumer, NULL);
			t->consumer_started = false;
		}
		if (t->writer_started) {
			pthread_mutex_lock(&t->mu);
			t->writer_quit = true;
			pthread_cond_broadcast(&t->cv);
			pthread_mutex_unlock(&t->mu);
			pthread_join(t->writer, NULL);
			t->writer_started = false;
		}
	}
}

c360_rc c360_kafka_sink_wait(c360_kafka_sink *s, int timeout_ms)
{
	int64_t deadline = timeout_ms < 0 ? INT64_MAX : now_ms() + timeout_ms;
	while (!all_done(s)) {
		if (s->opts.exit_at_end && !__atomic_load_n(&s->stop, __ATOMIC_SEQ_CST) && all_at_end(s)) {
			C360_INFO(s->who, "every partition is at its end: stopping");
			c360_kafka_sink_stop(s);
		}
		if (now_ms() >= deadline)
			return C360_ERR_TIMEOUT;
		usleep(20000);
	}
	join_all(s);
	return __atomic_load_n(&s->failed, __ATOMIC_SEQ_CST) ? C360_ERR_IO : C360_OK;
}

enum c360_kafka_sink_state c360_kafka_sink_state(c360_kafka_sink *s)
{
	if (__atomic_load_n(&s->failed, __ATOMIC_SEQ_CST))
		return C360_KAFKA_SINK_FAILED;
	if (!s->started)
		return C360_KAFKA_SINK_CREATED;
	if (__atomic_load_n(&s->stop, __ATOMIC_SEQ_CST))
		return C360_KAFKA_SINK_STOPPED;
	return __atomic_load_n(&s->paused, __ATOMIC_SEQ_CST) ? C360_KAFKA_SINK_PAUSED : C360_KAFKA_SINK_RUNNING;
}

void c360_kafka_sink_error(c360_kafka_sink *s, char *buf, size_t len)
{
	pthread_mutex_lock(&s->mu);
	snprintf(buf, len, "%s", s->error);
	pthread_mutex_unlock(&s->mu);
}

#define LOAD(f) out->f = __atomic_load_n(&src->f, __ATOMIC_RELAXED)
static void load_metrics(const struct c360_kafka_metrics *src, struct c360_kafka_metrics *out)
{
	LOAD(records_in);
	LOAD(written);
	LOAD(deleted);
	LOAD(dead_lettered);
	LOAD(dlq_truncated);
	LOAD(dlq_dropped);
	LOAD(failed);
	LOAD(key_fallback);
	LOAD(non_object);
	LOAD(uncommitted);
	LOAD(skipped);
	LOAD(batches);
	LOAD(retries);
}

void c360_kafka_sink_metrics(c360_kafka_sink *s, struct c360_kafka_metrics *out)
{
	load_metrics(&s->m, out);
	int64_t a = __atomic_load_n(&s->first_in_ms, __ATOMIC_RELAXED);
	int64_t b = __atomic_load_n(&s->last_write_ms, __ATOMIC_RELAXED);
	out->active_ms = a && b > a ? (uint64_t)(b - a) : 0;
}

void c360_kafka_metrics_total(struct c360_kafka_metrics *out)
{
	load_metrics(&g_total, out);
}

void c360_kafka_metrics_collect(void *ctx, struct c360_metrics_out *out)
{
	struct c360_kafka_metrics m;
	c360_kafka_metrics_total(&m);
	static const char help[] = "Kafka sink records by outcome";
	c360_metric_counter(out, "c360_kafka_records_total", help, "outcome=in", (double)m.records_in);
	c360_metric_counter(out, "c360_kafka_records_total", help, "outcome=written", (double)m.written);
	c360_metric_counter(out, "c360_kafka_records_total", help, "outcome=deleted", (double)m.deleted);
	c360_metric_counter(out, "c360_kafka_records_total", help, "outcome=dead_lettered", (double)m.dead_lettered);
	c360_metric_counter(out, "c360_kafka_records_total", help, "outcome=failed", (double)m.failed);
	c360_metric_counter(out, "c360_kafka_records_total", help, "outcome=skipped", (double)m.skipped);
	c360_metric_counter(out, "c360_kafka_dead_letters_truncated_total",
			    "dead letters the topic refused whole, sent cut", NULL, (double)m.dlq_truncated);
	c360_metric_counter(out, "c360_kafka_dead_letters_dropped_total",
			    "dead letters the topic refused even cut, skipped", NULL, (double)m.dlq_dropped);
	c360_metric_counter(out, "c360_kafka_key_fallback_total",
			    "records without a usable key, stored as topic/partition/offset or skipped", NULL,
			    (double)m.key_fallback);
	c360_metric_counter(out, "c360_kafka_non_object_total", "values that are JSON but not an object", NULL,
			    (double)m.non_object);
	c360_metric_counter(out, "c360_kafka_uncommitted_total",
			    "records written whose offsets could not be committed (read again)", NULL,
			    (double)m.uncommitted);
	c360_metric_counter(out, "c360_kafka_store_batches_total", "Kafka sink store transactions", NULL,
			    (double)m.batches);
	c360_metric_counter(out, "c360_kafka_store_retries_total", "Kafka sink store write retries", NULL,
			    (double)m.retries);
}

const struct c360_kafka_config *c360_kafka_sink_config(const c360_kafka_sink *s)
{
	return s->cfg;
}

void c360_kafka_sink_free(c360_kafka_sink *s)
{
	if (!s)
		return;
	c360_kafka_sink_stop(s);
	join_all(s);
	for (int i = 0; i < s->ntasks; i++) {
		struct task *t = &s->tasks[i];
		batch_free(t->cur);
		while (t->qhead) {
			struct batch *b = t->qhead;
			t->qhead = b->next;
			batch_free(b);
		}
		if (t->pending)
			rd_kafka_topic_partition_list_destroy(t->pending);
		if (t->rk)
			rd_kafka_destroy(t->rk);
		if (t->dlq) {
			rd_kafka_flush(t->dlq, 5000);
			rd_kafka_destroy(t->dlq);
		}
		pthread_mutex_destroy(&t->mu);
		pthread_cond_destroy(&t->cv);
	}
	c360_kafka_idtmpl_free(s->tmpl);
	for (int i = 0; i < C360_KAFKA_MAX_TOPICS; i++)
		c360_kafka_idtmpl_free(s->topic_tmpl[i]);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s);
}
