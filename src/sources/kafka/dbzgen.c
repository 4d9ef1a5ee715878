/* Debezium-shaped sample events for inventory.customers, their producer,
 * and a wrapper around librdkafka's mock cluster. */
#include "sources/kafka/dbzgen.h"

#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/banned.h"

/* The Envelope schema of dbserver1.inventory.customers (Debezium MySQL
 * connector, JsonConverter with schemas.enable=true). */
static const char value_schema[] =
	"{\"type\":\"struct\",\"fields\":[{\"type\":\"struct\",\"fields\":[{\"type\":\"int32\",\"optional\":false,\"fi"
	"eld\":\"id\"},{\"type\":\"string\",\"optional\":false,\"field\":\"name\"},{\"type\":\"string\",\"optional\":f"
	"alse,\"field\":\"email\"},{\"type\":\"string\",\"optional\":false,\"field\":\"password\"},{\"type\":\"strin"
	"g\",\"optional\":true,\"field\":\"address_line_1\"},{\"type\":\"string\",\"optional\":true,\"field\":\"add"
	"ress_line_2\"},{\"type\":\"string\",\"optional\":true,\"field\":\"city\"},{\"type\":\"string\",\"optional\""
	":true,\"field\":\"state\"},{\"type\":\"string\",\"optional\":true,\"field\":\"zipcode\"},{\"type\":\"string"
	"\",\"optional\":true,\"field\":\"phonenumber\"}],\"optional\":true,\"name\":\"dbserver1.inventory.cust"
	"omers.Value\",\"field\":\"before\"},{\"type\":\"struct\",\"fields\":[{\"type\":\"int32\",\"optional\":false"
	",\"field\":\"id\"},{\"type\":\"string\",\"optional\":false,\"field\":\"name\"},{\"type\":\"string\",\"optiona"
	"l\":false,\"field\":\"email\"},{\"type\":\"string\",\"optional\":false,\"field\":\"password\"},{\"type\":\"s"
	"tring\",\"optional\":true,\"field\":\"address_line_1\"},{\"type\":\"string\",\"optional\":true,\"field\":"
	"\"address_line_2\"},{\"type\":\"string\",\"optional\":true,\"field\":\"city\"},{\"type\":\"string\",\"optio"
	"nal\":true,\"field\":\"state\"},{\"type\":\"string\",\"optional\":true,\"field\":\"zipcode\"},{\"type\":\"st"
	"ring\",\"optional\":true,\"field\":\"phonenumber\"}],\"optional\":true,\"name\":\"dbserver1.inventory."
	"customers.Value\",\"field\":\"after\"},{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":f"
	"alse,\"field\":\"version\"},{\"type\":\"string\",\"optional\":false,\"field\":\"connector\"},{\"type\":\"st"
	"ring\",\"optional\":false,\"field\":\"name\"},{\"type\":\"int64\",\"optional\":false,\"field\":\"ts_ms\"},{"
	"\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.data.Enum\",\"version\":1,\"parameters\":{\""
	"allowed\":\"true,last,false,incremental\"},\"default\":\"false\",\"field\":\"snapshot\"},{\"type\":\"str"
	"ing\",\"optional\":false,\"field\":\"db\"},{\"type\":\"string\",\"optional\":true,\"field\":\"sequence\"},{"
	"\"type\":\"string\",\"optional\":true,\"field\":\"table\"},{\"type\":\"int64\",\"optional\":false,\"field\":"
	"\"server_id\"},{\"type\":\"string\",\"optional\":true,\"field\":\"gtid\"},{\"type\":\"string\",\"optional\":"
	"false,\"field\":\"file\"},{\"type\":\"int64\",\"optional\":false,\"field\":\"pos\"},{\"type\":\"int32\",\"opt"
	"ional\":false,\"field\":\"row\"},{\"type\":\"int64\",\"optional\":true,\"field\":\"thread\"},{\"type\":\"str"
	"ing\",\"optional\":true,\"field\":\"query\"}],\"optional\":false,\"name\":\"io.debezium.connector.mysq"
	"l.Source\",\"field\":\"source\"},{\"type\":\"string\",\"optional\":false,\"field\":\"op\"},{\"type\":\"int64"
	"\",\"optional\":true,\"field\":\"ts_ms\"}],\"optional\":false,\"name\":\"dbserver1.inventory.customers"
	".Envelope\",\"version\":1}";

static const char key_schema[] =
	"{\"type\":\"struct\",\"fields\":[{\"type\":\"int32\",\"optional\":false,\"field\":\"id\"}],"
	"\"optional\":false,\"name\":\"dbserver1.inventory.customers.Key\"}";

static const char *const first_names[] = {"Matthew", "Sally", "George", "Edward", "Anne", "Lucia", "Omar", "Priya",
					  "Chen", "Fatima", "Jonas", "Ingrid", "Kofi", "Mei", "Diego", "Olga"};
static const char *const last_names[] = {"Groves", "Thomas", "Bailey", "Walker", "Kretchmar", "Silva", "Haddad",
					 "Nair", "Wei", "Zahra", "Berg", "Larsen", "Mensah", "Tanaka", "Ruiz", "Ivanova"};
static const char *const cities[] = {"West Evertchester", "Columbus", "Springfield", "Riverside", "Fairview",
				     "Madison", "Georgetown", "Clinton"};
static const char *const states[] = {"NH", "OH", "IL", "CA", "TX", "WI", "KY", "NY"};

c360_rc c360_dbz_key(int64_t id, bool schema, struct c360_buf *out)
{
	if (schema)
		return c360_buf_printf(out, "{\"schema\":%s,\"payload\":{\"id\":%" PRId64 "}}", key_schema, id);
	return c360_buf_printf(out, "{\"id\":%" PRId64 "}", id);
}

static c360_rc row(int64_t id, int version, struct c360_buf *out)
{
	uint64_t h = (uint64_t)id * 2654435761u;
	const char *fn = first_names[h % 16], *ln = last_names[(h >> 8) % 16];
	if (id == 1029)
		fn = "Matthew", ln = "Groves";
	char lower_fn[32], lower_ln[32];
	size_t i;
	for (i = 0; fn[i] && i < 31; i++)
		lower_fn[i] = (char)(fn[i] | 0x20);
	lower_fn[i] = 0;
	for (i = 0; ln[i] && i < 31; i++)
		lower_ln[i] = (char)(ln[i] | 0x20);
	lower_ln[i] = 0;
	return c360_buf_printf(out,
			       "{\"id\":%" PRId64 ",\"name\":\"%s %s\",\"email\":\"%s.%s%" PRId64 "@example.com\","
			       "\"password\":\"p%08" PRIx64 "\",\"address_line_1\":\"%" PRIu64 " Sporer Curve\","
			       "\"address_line_2\":\"Suite %d\",\"city\":\"%s\",\"state\":\"%s\",\"zipcode\":\"%05" PRIu64
			       "\",\"phonenumber\":\"811.128.%04" PRIu64 " x%d\"}",
			       id, fn, ln, lower_fn, lower_ln, id, h & 0xffffffffu, 100 + h % 900, 100 + version,
			       cities[(h >> 4) % 8], states[(h >> 4) % 8], h % 100000, (h >> 12) % 10000, version);
}

c360_rc c360_dbz_value(int64_t id, int version, enum c360_dbz_op op, bool schema, struct c360_buf *out)
{
	c360_rc rc = C360_OK;
	if (schema && (rc = c360_buf_printf(out, "{\"schema\":%s,\"payload\":", value_schema)))
		return rc;
	rc = c360_buf_puts(out, "{\"before\":");
	if (!rc)
		rc = op == C360_DBZ_UPDATE || op == C360_DBZ_DELETE ? row(id, op == C360_DBZ_DELETE ? version : version - 1, out)
								      : c360_buf_puts(out, "null");
	if (!rc)
		rc = c360_buf_puts(out, ",\"after\":");
	if (!rc)
		rc = op == C360_DBZ_DELETE ? c360_buf_puts(out, "null") : row(id, version, out);
	const char *verb = op == C360_DBZ_DELETE ? "DELETE FROM customers WHERE id = "
			   : op == C360_DBZ_UPDATE ? "UPDATE customers SET address_line_2 = 'changed' WHERE id = "
						   : "INSERT INTO customers (id, name, email, password, address_line_1, "
						     "address_line_2, city, state, zipcode, phonenumber) VALUES (";
	int64_t ts = 1700748000000 + id * 10 + version;
	if (!rc)
		rc = c360_buf_printf(out,
				     ",\"source\":{\"version\":\"2.4.2.Final\",\"connector\":\"mysql\",\"name\":\"dbserver1\","
				     "\"ts_ms\":%" PRId64 ",\"snapshot\":\"%s\",\"db\":\"inventory\",\"sequence\":null,"
				     "\"table\":\"customers\",\"server_id\":223344,\"gtid\":null,\"file\":\"mysql-bin.000003\","
				     "\"pos\":%" PRId64 ",\"row\":0,\"thread\":12,\"query\":\"%s%" PRId64 "%s\"},\"op\":\"%c\","
				     "\"ts_ms\":%" PRId64 "}",
				     ts, op == C360_DBZ_READ ? "true" : "false", 154712 + id * 7, verb, id,
				     op == C360_DBZ_CREATE || op == C360_DBZ_READ ? ", ...)" : "", (char)op, ts + 213);
	if (!rc && schema)
		rc = c360_buf_putc(out, '}');
	return rc;
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

struct prod_state {
	int64_t ok, failed;
	char first_err[256];
};

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct prod_state *ps = opaque;
	if (m->err) {
		if (!ps->failed)
			snprintf(ps->first_err, sizeof ps->first_err, "%s", rd_kafka_err2str(m->err));
		ps->failed++;
	} else {
		ps->ok++;
	}
}

static c360_rc produce_one(rd_kafka_t *rk, const char *topic, const struct c360_buf *key, const char *val,
			   size_t vlen)
{
	for (;;) {
		rd_kafka_resp_err_t e = rd_kafka_producev(
			rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
			RD_KAFKA_V_KEY(key->data, key->len), RD_KAFKA_V_VALUE((void *)val, vlen), RD_KAFKA_V_END);
		if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
			return C360_OK;
		if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			return C360_ERR_IO;
		rd_kafka_poll(rk, 50);
	}
}

c360_rc c360_dbzgen_produce(const struct c360_dbzgen_opts *o, struct c360_dbzgen_stats *stats, char *err,
			    size_t errlen)
{
	struct prod_state ps = {0};
	char e[256];
	c360_rc rc = C360_OK;
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	const char *comp = o->compression ? o->compression : "lz4";
	if (rd_kafka_conf_set(conf, "bootstrap.servers", o->brokers, e, sizeof e) ||
	    rd_kafka_conf_set(conf, "compression.codec", comp, e, sizeof e) ||
	    rd_kafka_conf_set(conf, "linger.ms", "20", e, sizeof e) ||
	    rd_kafka_conf_set(conf, "batch.size", "1000000", e, sizeof e) ||
	    rd_kafka_conf_set(conf, "queue.buffering.max.messages", "200000", e, sizeof e) ||
	    rd_kafka_conf_set(conf, "message.timeout.ms", "60000", e, sizeof e) ||
	    rd_kafka_conf_set(conf, "acks", "all", e, sizeof e)) {
		seterr(err, errlen, "producer: %s", e);
		rd_kafka_conf_destroy(conf);
		return C360_ERR_INVALID;
	}
	rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
	rd_kafka_conf_set_opaque(conf, &ps);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof e);
	if (!rk) {
		seterr(err, errlen, "producer: %s", e);
		return C360_ERR_IO;
	}
	struct c360_buf key, val;
	c360_buf_init(&key, 0);
	c360_buf_init(&val, 0);
	int64_t first = o->first_id ? o->first_id : 1001;
	int64_t total = o->customers + o->updates + o->deletes * (o->tombstones ? 2 : 1), done = 0;
	int64_t bytes = 0;
	int *versions = calloc((size_t)(o->customers > 0 ? o->customers : 1), sizeof *versions);
	if (!versions) {
		rc = C360_ERR_NOMEM;
		goto out;
	}
	for (int64_t i = 0; i < total && !rc; i++) {
		c360_buf_reset(&key);
		c360_buf_reset(&val);
		int64_t id;
		bool tomb = false;
		if (i < o->customers) {
			id = first + i;
			versions[i] = 1;
			rc = c360_dbz_value(id, 1, o->snapshot ? C360_DBZ_READ : C360_DBZ_CREATE, o->schema, &val);
		} else if (i < o->customers + o->updates) {
			int64_t j = o->customers ? (i - o->customers) % o->customers : 0;
			id = first + j;
			rc = c360_dbz_value(id, ++versions[j], C360_DBZ_UPDATE, o->schema, &val);
		} else {
			int64_t k = i - o->customers - o->updates;
			int64_t j = o->tombstones ? k / 2 : k;
			tomb = o->tombstones && (k % 2);
			id = first + j;
			if (!tomb)
				rc = c360_dbz_value(id, o->customers > j ? versions[j] : 1, C360_DBZ_DELETE, o->schema,
						    &val);
		}
		if (!rc)
			rc = c360_dbz_key(id, o->schema, &key);
		if (!rc)
			rc = produce_one(rk, o->topic, &key, tomb ? NULL : val.data, tomb ? 0 : val.len);
		bytes += (int64_t)val.len;
		done++;
		if (o->progress && (done % 5000 == 0 || done == total))
			o->progress(done, total, o->progress_ctx);
		rd_kafka_poll(rk, 0);
	}
	if (rc == C360_ERR_IO)
		seterr(err, errlen, "cannot produce to '%s'", o->topic);
	while (rd_kafka_outq_len(rk) > 0 && rd_kafka_flush(rk, 1000) == RD_KAFKA_RESP_ERR__TIMED_OUT)
		if (ps.ok + ps.failed >= done)
			break;
	if (!rc && ps.failed) {
		seterr(err, errlen, "%" PRId64 " of %" PRId64 " records were not delivered: %s", ps.failed, done,
		       ps.first_err);
		rc = C360_ERR_IO;
	}
out:
	if (stats) {
		stats->produced = ps.ok;
		stats->failed = ps.failed;
		stats->bytes = bytes;
	}
	free(versions);
	c360_buf_release(&key);
	c360_buf_release(&val);
	rd_kafka_destroy(rk);
	return rc;
}

/* ---- mock cluster ---- */

struct c360_kafka_mock {
	rd_kafka_t *rk; /* the mock cluster's owner handle */
	rd_kafka_mock_cluster_t *mc;
	char *bootstraps;
};

c360_rc c360_kafka_mock_new(int nbrokers, c360_kafka_mock **out, char *err, size_t errlen)
{
	*out = NULL;
	char e[256];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_conf_set(conf, "log_level", "3", e, sizeof e);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof e);
	if (!rk) {
		seterr(err, errlen, "mock cluster: %s", e);
		return C360_ERR_IO;
	}
	struct c360_kafka_mock *m = calloc(1, sizeof *m);
	if (!m) {
		rd_kafka_destroy(rk);
		return C360_ERR_NOMEM;
	}
	m->rk = rk;
	m->mc = rd_kafka_mock_cluster_new(rk, nbrokers > 0 ? nbrokers : 1);
	if (!m->mc) {
		seterr(err, errlen, "mock cluster: cannot start");
		c360_kafka_mock_free(m);
		return C360_ERR_IO;
	}
	m->bootstraps = strdup(rd_kafka_mock_cluster_bootstraps(m->mc));
	if (!m->bootstraps) {
		c360_kafka_mock_free(m);
		return C360_ERR_NOMEM;
	}
	*out = m;
	return C360_OK;
}

const char *c360_kafka_mock_bootstraps(const c360_kafka_mock *m)
{
	return m->bootstraps;
}

c360_rc c360_kafka_mock_topic(c360_kafka_mock *m, const char *topic, int partitions)
{
	return rd_kafka_mock_topic_create(m->mc, topic, partitions, 1) ? C360_ERR_INVALID : C360_OK;
}

c360_rc c360_kafka_mock_broker(c360_kafka_mock *m, int broker_id, bool up)
{
	rd_kafka_resp_err_t e = up ? rd_kafka_mock_broker_set_up(m->mc, broker_id)
				   : rd_kafka_mock_broker_set_down(m->mc, broker_id);
	return e ? C360_ERR_INVALID : C360_OK;
}

c360_rc c360_kafka_mock_fail_requests(c360_kafka_mock *m, int api_key, int count, int kafka_err)
{
	if (count <= 0) {
		rd_kafka_mock_clear_request_errors(m->mc, (int16_t)api_key);
		return C360_OK;
	}
	rd_kafka_resp_err_t *errs = malloc((size_t)count * sizeof *errs);
	if (!errs)
		return C360_ERR_NOMEM;
	for (int i = 0; i < count; i++)
		errs[i] = (rd_kafka_resp_err_t)kafka_err;
	rd_kafka_mock_push_request_errors_array(m->mc, (int16_t)api_key, (size_t)count, errs);
	free(errs);
	return C360_OK;
}

void c360_kafka_mock_free(c360_kafka_mock *m)
{
	if (!m)
		return;
	if (m->mc)
		rd_kafka_mock_cluster_destroy(m->mc);
	if (m->rk)
		rd_kafka_destroy(m->rk);
	free(m->bootstraps);
	free(m);
}
