/* Debezium events of the demo's home-delivery rows: the envelope comes from
 * the Kafka connector's sample generator (sources/kafka/dbzgen.h, so both
 * share one schema), with the row fields and times replaced by the person's. */
#include "demo/cdc.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <string.h>

#include "core/json.h"
#include "sources/kafka/dbzgen.h"
#include "core/banned.h"

static c360_json *str(c360_json_doc *d, const char *s)
{
	return c360_json_new_str(d, s, strlen(s));
}

/* Fills a row object with the person's home-delivery columns. */
static c360_rc fill_row(c360_json_doc *d, c360_json *row, const struct c360_person *p,
			bool updated)
{
	char name[64];
	snprintf(name, sizeof name, "%s %s", p->first, p->last);
	struct {
		const char *k;
		c360_json *v;
	} f[] = {
		{"id", c360_json_new_int(d, p->home_id)},
		{"name", str(d, name)},
		{"email", str(d, p->home_email)},
		{"password", str(d, p->home_pass)},
		{"address_line_1", str(d, updated ? p->new_address1 : p->address1)},
		{"address_line_2", p->address2[0] ? str(d, p->address2) : c360_json_new_null(d)},
		{"city", str(d, p->city)},
		{"state", str(d, p->state)},
		{"zipcode", str(d, p->zipcode)},
		{"phonenumber", str(d, updated ? p->new_phone : p->phone)},
	};
	for (size_t i = 0; i < sizeof f / sizeof *f; i++) {
		if (!f[i].v)
			return C360_ERR_NOMEM;
		c360_rc rc = c360_json_set(d, row, f[i].k, strlen(f[i].k), f[i].v);
		if (rc)
			return rc;
	}
	return C360_OK;
}

c360_rc c360_demo_cdc_event(const struct c360_person *p, char op, int64_t ts_ms,
			    struct c360_buf *out)
{
	struct c360_buf tmpl;
	c360_buf_init(&tmpl, 0);
	enum c360_dbz_op dop = op == 'u' ? C360_DBZ_UPDATE : op == 'd' ? C360_DBZ_DELETE
									: C360_DBZ_CREATE;
	c360_json_doc *d = NULL;
	c360_rc rc = c360_dbz_value(p->home_id, op == 'c' ? 1 : 2, dop, true, &tmpl);
	if (!rc)
		rc = c360_json_parse(tmpl.data, tmpl.len, NULL, &d, NULL);
	c360_buf_release(&tmpl);
	if (rc)
		return rc;
	c360_json *payload = c360_json_get(c360_json_doc_root(d), "payload");
	c360_json *before = c360_json_get(payload, "before"), *after = c360_json_get(payload, "after");
	if (op == 'u' || op == 'd')
		rc = fill_row(d, before, p, op == 'd' && p->home_updated);
	if (!rc && (op == 'c' || op == 'u'))
		rc = fill_row(d, after, p, op == 'u');
	c360_json *source = c360_json_get(payload, "source");
	if (!rc)
		rc = c360_json_set(d, source, "ts_ms", 5, c360_json_new_int(d, ts_ms));
	if (!rc)
		rc = c360_json_set(d, payload, "ts_ms", 5, c360_json_new_int(d, ts_ms + 150));
	if (!rc)
		rc = c360_json_write(c360_json_doc_root(d), C360_JSON_COMPACT, out);
	c360_json_doc_free(d);
	return rc;
}

c360_rc c360_demo_cdc_key(const struct c360_person *p, struct c360_buf *out)
{
	return c360_dbz_key(p->home_id, true, out);
}

struct delivery {
	uint64_t ok, failed;
	char first_error[200];
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	struct delivery *dv = opaque;
	if (m->err) {
		if (!dv->failed++)
			snprintf(dv->first_error, sizeof dv->first_error, "%s", rd_kafka_err2str(m->err));
	} else {
		dv->ok++;
	}
}

static c360_rc produce(rd_kafka_t *rk, const char *topic, const struct c360_buf *key,
		       const struct c360_buf *val)
{
	for (;;) {
		rd_kafka_resp_err_t e = rd_kafka_producev(
			rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key->data, key->len),
			RD_KAFKA_V_VALUE(val ? val->data : NULL, val ? val->len : 0),
			RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
		if (!e)
			return C360_OK;
		if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			return C360_ERR_IO;
		rd_kafka_poll(rk, 50);
	}
}

c360_rc c360_demo_cdc_produce(const struct c360_retailer *r, const char *brokers,
			      const char *topic, struct c360_demo_cdc_stats *stats, char *err,
			      size_t errlen)
{
	memset(stats, 0, sizeof *stats);
	char errstr[256];
	struct delivery dv = {0};
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	const char *kv[][2] = {{"bootstrap.servers", brokers}, {"compression.codec", "lz4"},
			       {"acks", "all"}, {"linger.ms", "20"},
			       {"batch.num.messages", "2000"}, {"queue.buffering.max.messages", "200000"}};
	for (size_t i = 0; i < sizeof kv / sizeof *kv; i++)
		if (rd_kafka_conf_set(conf, kv[i][0], kv[i][1], errstr, sizeof errstr)) {
			snprintf(err, errlen, "kafka producer setting '%s': %s", kv[i][0], errstr);
			rd_kafka_conf_destroy(conf);
			return C360_ERR_INVALID;
		}
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rd_kafka_conf_set_opaque(conf, &dv);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
	if (!rk) {
		snprintf(err, errlen, "cannot create a kafka producer: %s", errstr);
		rd_kafka_conf_destroy(conf);
		return C360_ERR_IO;
	}
	struct c360_buf key, val;
	c360_buf_init(&key, 0);
	c360_buf_init(&val, 0);
	c360_rc rc = C360_OK;
	/* three passes in time order: creates, updates, deletes (+ tombstones) */
	const int64_t t0 = 1763800000000; /* 2025-11-22 */
	for (int pass = 0; pass < 3 && !rc; pass++) {
		for (uint32_t i = 0; i < r->customers && !rc; i++) {
			struct c360_person p;
			c360_retailer_person(r, i, &p);
			if (!p.in_home || (pass == 1 && !p.home_updated) ||
			    (pass == 2 && !p.home_deleted))
				continue;
			char op = "cud"[pass];
			c360_buf_reset(&key);
			c360_buf_reset(&val);
			rc = c360_demo_cdc_key(&p, &key);
			if (!rc)
				rc = c360_demo_cdc_event(&p, op, t0 + pass * 3600000LL + i, &val);
			if (!rc)
				rc = produce(rk, topic, &key, &val);
			if (rc)
				break;
			stats->bytes += val.len;
			if (op == 'c')
				stats->creates++;
			else if (op == 'u')
				stats->updates++;
			else {
				stats->deletes++;
				rc = produce(rk, topic, &key, NULL);
				stats->tombstones++;
			}
			rd_kafka_poll(rk, 0);
		}
	}
	c360_buf_release(&key);
	c360_buf_release(&val);
	if (rc)
		snprintf(err, errlen, "cannot produce to '%s': %s", topic, c360_rc_str(rc));
	if (rd_kafka_flush(rk, 60000) && !rc) {
		snprintf(err, errlen, "kafka did not acknowledge every record within 60 s");
		rc = C360_ERR_TIMEOUT;
	}
	stats->produced = dv.ok;
	if (!rc && dv.failed) {
		snprintf(err, errlen, "%llu records were not delivered: %s",
			 (unsigned long long)dv.failed, dv.first_error);
		rc = C360_ERR_IO;
	}
	/* count what the topic holds: the sum of (high - low) watermarks */
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
	if (!rc && rd_kafka_metadata(rk, 0, rkt, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
	    md->topic_cnt == 1) {
		for (int p = 0; p < md->topics[0].partition_cnt; p++) {
			int64_t lo = 0, hi = 0;
			if (!rd_kafka_query_watermark_offsets(rk, topic, md->topics[0].partitions[p].id,
							      &lo, &hi, 10000))
				stats->on_topic += (uint64_t)(hi - lo);
		}
		if (stats->on_topic != stats->produced) {
			snprintf(err, errlen,
				 "the topic '%s' holds %llu records but %llu were produced: the broker "
				 "dropped some (use more partitions)",
				 topic, (unsigned long long)stats->on_topic,
				 (unsigned long long)stats->produced);
			rc = C360_ERR_IO;
		}
	} else if (!rc) {
		snprintf(err, errlen, "cannot read the metadata of topic '%s'", topic);
		rc = C360_ERR_IO;
	}
	if (md)
		rd_kafka_metadata_destroy(md);
	if (rkt)
		rd_kafka_topic_destroy(rkt);
	rd_kafka_destroy(rk);
	return rc;
}
