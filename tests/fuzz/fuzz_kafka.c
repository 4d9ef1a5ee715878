/* libFuzzer target for what reaches the Kafka sink from outside: the
 * connector configuration (a file, or JSON POSTed to the Kafka-Connect-style
 * /connectors endpoint), document id templates, and record keys. The first
 * byte picks which. Contracts checked on any input:
 *   - a configuration either parses or fails with a reason;
 *   - a template either compiles (and then renders over a Debezium envelope,
 *     a delete event and a key's fields, giving 1..250 bytes of UTF-8 or a
 *     reason) or fails with a reason;
 *   - a record key gives an id of 1..250 bytes of UTF-8, no id (another rule
 *     applies), or a reason. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/json.h"
#include "sources/kafka/docid.h"
#include "sources/kafka/kconfig.h"

#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static c360_json_doc *env, *del;

static c360_json_doc *parse(const char *s)
{
	c360_json_doc *d = NULL;
	if (c360_json_parse(s, strlen(s), NULL, &d, NULL))
		abort();
	return d;
}

static void init(void)
{
	env =
	    parse("{\"payload\":{\"op\":\"c\",\"before\":null,\"after\":{\"id\":1029,\"email\":"
	          "\"matthew@example.com\",\"name\":\"M\\u00e9\",\"n\":[1],\"z\":null,\"e\":\"\"},"
	          "\"source\":{\"name\":\"dbserver1\",\"ts_ms\":1}}}");
	del = parse("{\"payload\":{\"op\":\"d\",\"after\":null,\"before\":{\"id\":1029,\"email\":"
	            "\"matthew@example.com\"}}}");
}

static void id_ok(c360_rc rc, const struct c360_buf *out, const char *reason, const char *what)
{
	if (rc == C360_OK) {
		if (!out->len || out->len > 250 || !c360_kafka_utf8_ok(out->data, out->len)) {
			fprintf(stderr, "%s: bad id (%zu bytes)\n", what, out->len);
			abort();
		}
	} else if (!reason[0]) {
		fprintf(stderr, "%s: failed (%d) without a reason\n", what, (int)rc);
		abort();
	}
}

static void warn(const char *msg, void *ctx)
{
	(void)ctx;
	if (!msg || !msg[0])
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!env)
		init();
	if (size < 1)
		return 0;
	int mode = data[0] % 3;
	const char *text = (const char *)data + 1;
	size_t len = size - 1;
	char err[512];
	err[0] = '\0';
	struct c360_buf out;
	c360_buf_init(&out, 1 << 16);
	if (mode == 0) {
		struct c360_kafka_config *cfg = NULL;
		c360_rc rc = c360_kafka_config_parse_text("fuzz.json", text, len, warn, NULL, &cfg,
		                                          err, sizeof err);
		if (rc && (cfg || !err[0]))
			abort();
		if (!rc && !cfg)
			abort();
		c360_kafka_config_free(cfg);
	} else if (mode == 1) {
		char *tmpl = malloc(len + 1);
		if (!tmpl)
			abort();
		memcpy(tmpl, text, len);
		tmpl[len] = '\0';
		c360_kafka_idtmpl *t = NULL;
		c360_rc rc = c360_kafka_idtmpl_compile(tmpl, &t, err, sizeof err);
		if (rc && (t || !err[0]))
			abort();
		if (!rc) {
			const c360_json *fields = NULL;
			c360_json_doc *kd = NULL;
			const char *key = "{\"id\":1029,\"email\":\"m@e.com\"}";
			if (c360_kafka_key_fields(key, strlen(key), &kd, &fields))
				abort();
			char reason[256];
			static const unsigned flags[] = {0, C360_IDT_BEFORE, C360_IDT_LASTSEG};
			const c360_json *roots[] = {c360_json_doc_root(env),
			                            c360_json_doc_root(del), fields};
			for (int i = 0; i < 3; i++) {
				reason[0] = '\0';
				c360_buf_reset(&out);
				rc = c360_kafka_idtmpl_render(t, roots[i], flags[i], &out, reason,
				                              sizeof reason);
				id_ok(rc, &out, reason, "render");
			}
			c360_json_doc_free(kd);
			c360_kafka_idtmpl_free(t);
		}
		free(tmpl);
	} else {
		char reason[256] = "";
		c360_rc rc = c360_kafka_key_id(text, len, &out, reason, sizeof reason);
		if (rc != C360_ERR_NOT_FOUND)
			id_ok(rc, &out, reason, "key");
		c360_json_doc *kd = NULL;
		const c360_json *fields = NULL;
		rc = c360_kafka_key_fields(text, len, &kd, &fields);
		if ((rc == C360_OK) != (fields != NULL))
			abort();
		c360_json_doc_free(kd);
	}
	c360_buf_release(&out);
	return 0;
}
