/* Kafka sink Single Message Transforms: ExtractNewRecordState's added
 * fields and the ValueToKey / ExtractField / InsertField / ReplaceField
 * chain over JSON records. */
#include "sources/kafka/smt.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

static c360_rc bad(char *reason, size_t rlen, const struct c360_kafka_smt *t, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static c360_rc bad(char *reason, size_t rlen, const struct c360_kafka_smt *t, const char *fmt, ...)
{
	static const char *const names[] = {"ValueToKey", "ExtractField$Key", "ExtractField$Value", "InsertField$Value",
					    "ReplaceField$Value"};
	int n = snprintf(reason, rlen, "transform '%s' (%s): ", t->alias, names[t->kind]);
	if (n >= 0 && (size_t)n < rlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(reason + n, rlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return C360_ERR_INVALID;
}

static c360_rc set_copy(c360_json_doc *doc, c360_json *obj, const char *name, const c360_json *v)
{
	c360_json *c = v ? c360_json_copy(doc, v) : c360_json_new_null(doc);
	if (!c)
		return C360_ERR_NOMEM;
	return c360_json_set(doc, obj, name, strlen(name), c);
}

c360_rc c360_kafka_unwrap_fields(const struct c360_kafka_config *cfg, c360_json_doc *doc, c360_json *row,
				 const c360_json *env, bool deleted)
{
	const char *prefix = cfg->add_fields_prefix ? cfg->add_fields_prefix : "__";
	c360_rc rc = C360_OK;
	for (int i = 0; !rc && i < cfg->add_fields.n; i++) {
		const char *f = cfg->add_fields.v[i];
		const c360_json *v;
		if (!strncmp(f, "source.", 7))
			v = c360_json_get(c360_json_get(env, "source"), f + 7);
		else if (!strncmp(f, "transaction.", 12))
			v = c360_json_get(c360_json_get(env, "transaction"), f + 12);
		else if (!strcmp(f, "op") || !strncmp(f, "ts_", 3))
			v = c360_json_get(env, f);
		else
			v = c360_json_get(c360_json_get(env, "source"), f);
		char name[300];
		snprintf(name, sizeof name, "%s%s", prefix, f);
		for (char *p = name; *p; p++)
			if (*p == '.')
				*p = '_';
		rc = set_copy(doc, row, name, v);
	}
	if (!rc && cfg->unwrap_rewrite) {
		c360_json *d = c360_json_new_str(doc, deleted ? "true" : "false", deleted ? 4 : 5);
		rc = d ? c360_json_set(doc, row, "__deleted", 9, d) : C360_ERR_NOMEM;
	}
	return rc;
}

static bool in_list(const struct c360_kafka_list *l, const char *s, size_t n)
{
	for (int i = 0; i < l->n; i++)
		if (strlen(l->v[i]) == n && !memcmp(l->v[i], s, n))
			return true;
	return false;
}

static c360_rc put_key(c360_json *v, const char **key, size_t *klen, struct c360_buf *keybuf)
{
	c360_buf_reset(keybuf);
	c360_rc rc = c360_json_write(v, C360_JSON_COMPACT, keybuf);
	if (rc)
		return rc;
	*key = keybuf->data;
	*klen = keybuf->len;
	return C360_OK;
}

static c360_rc value_to_key(const struct c360_kafka_smt *t, const c360_json *value, const char **key, size_t *klen,
			    struct c360_buf *keybuf, char *reason, size_t rlen)
{
	if (!c360_json_is_object(value))
		return bad(reason, rlen, t, "the value is not a JSON object");
	c360_json_doc *kd = c360_json_doc_new();
	c360_json *obj = kd ? c360_json_new_object(kd) : NULL;
	c360_rc rc = obj ? C360_OK : C360_ERR_NOMEM;
	for (int i = 0; !rc && i < t->fields.n; i++)
		rc = set_copy(kd, obj, t->fields.v[i], c360_json_get(value, t->fields.v[i]));
	if (!rc)
		rc = put_key(obj, key, klen, keybuf);
	c360_json_doc_free(kd);
	return rc;
}

static c360_rc extract_key(const struct c360_kafka_smt *t, const char **key, size_t *klen, struct c360_buf *keybuf,
			   char *reason, size_t rlen)
{
	if (!*key)
		return C360_OK; /* no key: nothing to extract from (Kafka passes a null key on) */
	c360_json_doc *kd = NULL;
	struct c360_json_parse_opts po = {.max_depth = 64, .max_size = 1u << 20};
	if (c360_json_parse(*key, *klen, &po, &kd, NULL))
		return bad(reason, rlen, t, "the record key is not a JSON object");
	const c360_json *root = c360_json_doc_root(kd);
	if (c360_json_is_object(root) && c360_json_get(root, "schema") && c360_json_get(root, "payload") &&
	    c360_json_len(root) == 2)
		root = c360_json_get(root, "payload");
	c360_rc rc = C360_OK;
	if (!c360_json_is_object(root)) {
		rc = bad(reason, rlen, t, "the record key is not a JSON object");
	} else {
		c360_json *f = c360_json_get(root, t->field);
		if (!f || c360_json_is_null(f)) {
			*key = NULL;
			*klen = 0;
		} else {
			rc = put_key(f, key, klen, keybuf);
		}
	}
	c360_json_doc_free(kd);
	return rc;
}

static c360_rc insert_field(const struct c360_kafka_smt *t, c360_json_doc *doc, c360_json *value,
			    const struct c360_kafka_rec_meta *meta, char *reason, size_t rlen)
{
	if (!c360_json_is_object(value))
		return bad(reason, rlen, t, "the value is not a JSON object");
	c360_rc rc = C360_OK;
	c360_json *v;
	if (t->static_field) {
		v = c360_json_new_str(doc, t->static_value, strlen(t->static_value));
		rc = v ? c360_json_set(doc, value, t->static_field, strlen(t->static_field), v) : C360_ERR_NOMEM;
	}
	if (!rc && t->topic_field) {
		v = c360_json_new_str(doc, meta->topic, strlen(meta->topic));
		rc = v ? c360_json_set(doc, value, t->topic_field, strlen(t->topic_field), v) : C360_ERR_NOMEM;
	}
	if (!rc && t->partition_field) {
		v = c360_json_new_int(doc, meta->partition);
		rc = v ? c360_json_set(doc, value, t->partition_field, strlen(t->partition_field), v) : C360_ERR_NOMEM;
	}
	if (!rc && t->offset_field) {
		v = c360_json_new_int(doc, meta->offset);
		rc = v ? c360_json_set(doc, value, t->offset_field, strlen(t->offset_field), v) : C360_ERR_NOMEM;
	}
	if (!rc && t->timestamp_field) {
		if (meta->timestamp_ms < 0 && t->timestamp_required)
			return bad(reason, rlen, t, "the record has no timestamp for required field '%s'",
				   t->timestamp_field);
		v = meta->timestamp_ms < 0 ? c360_json_new_null(doc) : c360_json_new_int(doc, meta->timestamp_ms);
		rc = v ? c360_json_set(doc, value, t->timestamp_field, strlen(t->timestamp_field), v) : C360_ERR_NOMEM;
	}
	return rc;
}

/* Kafka's ReplaceField: keep what include (when set) names and exclude
 * does not, then rename, keeping the members' order. */
static c360_rc replace_field(const struct c360_kafka_smt *t, c360_json_doc *doc, c360_json *value, char *reason,
			     size_t rlen)
{
	if (!c360_json_is_object(value))
		return bad(reason, rlen, t, "the value is not a JSON object");
	c360_json_doc *nd = c360_json_doc_new();
	c360_json *obj = nd ? c360_json_new_object(nd) : NULL;
	c360_rc rc = obj ? C360_OK : C360_ERR_NOMEM;
	for (c360_json *m = c360_json_first(value); m && !rc; m = c360_json_next(m)) {
		size_t kn;
		const char *k = c360_json_key(m, &kn);
		if (in_list(&t->fields, k, kn) || (t->include.n && !in_list(&t->include, k, kn)))
			continue;
		const char *name = k;
		size_t nn = kn;
		for (int i = 0; i < t->renames.n; i++) {
			const char *colon = strchr(t->renames.v[i], ':');
			if ((size_t)(colon - t->renames.v[i]) == kn && !memcmp(t->renames.v[i], k, kn)) {
				name = colon + 1;
				nn = strlen(name);
				break;
			}
		}
		c360_json *c = c360_json_copy(nd, m);
		rc = c ? c360_json_set(nd, obj, name, nn, c) : C360_ERR_NOMEM;
	}
	/* move the result back into value */
	while (!rc && c360_json_first(value)) {
		size_t kn;
		const char *k = c360_json_key(c360_json_first(value), &kn);
		c360_json_remove(value, k, kn);
	}
	for (c360_json *m = obj ? c360_json_first(obj) : NULL; m && !rc; m = c360_json_next(m)) {
		size_t kn;
		const char *k = c360_json_key(m, &kn);
		c360_json *c = c360_json_copy(doc, m);
		rc = c ? c360_json_set(doc, value, k, kn, c) : C360_ERR_NOMEM;
	}
	c360_json_doc_free(nd);
	return rc;
}

c360_rc c360_kafka_smt_apply(const struct c360_kafka_config *cfg, c360_json_doc *doc, c360_json **value,
			     const struct c360_kafka_rec_meta *meta, const char **key, size_t *klen,
			     struct c360_buf *keybuf, char *reason, size_t rlen)
{
	c360_rc rc = C360_OK;
	for (int i = 0; !rc && i < cfg->nsmt; i++) {
		const struct c360_kafka_smt *t = &cfg->smt[i];
		if (!*value && t->kind != C360_SMT_EXTRACT_KEY)
			continue;
		switch (t->kind) {
		case C360_SMT_VALUE_TO_KEY:
			rc = value_to_key(t, *value, key, klen, keybuf, reason, rlen);
			break;
		case C360_SMT_EXTRACT_KEY:
			rc = extract_key(t, key, klen, keybuf, reason, rlen);
			break;
		case C360_SMT_EXTRACT_VALUE: {
			if (!c360_json_is_object(*value))
				return bad(reason, rlen, t, "the value is not a JSON object");
			c360_json *f = c360_json_get(*value, t->field);
			if (!f || c360_json_is_null(f))
				return bad(reason, rlen, t, "the value has no field '%s'", t->field);
			*value = f;
			break;
		}
		case C360_SMT_INSERT_VALUE:
			rc = insert_field(t, doc, *value, meta, reason, rlen);
			break;
		case C360_SMT_REPLACE_VALUE:
			rc = replace_field(t, doc, *value, reason, rlen);
			break;
		}
	}
	return rc;
}
