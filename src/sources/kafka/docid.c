/* Document id templates (${/json/pointer}) and the record-key id rule of the
 * Kafka sink; see docid.h for the rule and why deletes agree with creates. */
#include "sources/kafka/docid.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "store/store.h"
#include "core/banned.h"

#define MAX_PARTS 32

struct part {
	bool ptr;    /* a pointer placeholder, else literal text */
	char *text;  /* literal, or the pointer ("/payload/after/id") */
	char *before;/* the pointer with its first "after" segment as "before", or NULL */
	char *last;  /* the pointer's last segment, unescaped */
};

struct c360_kafka_idtmpl {
	struct part parts[MAX_PARTS];
	int n;
};

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

bool c360_kafka_utf8_ok(const char *s, size_t n)
{
	return !memchr(s, 0, n) && c360_utf8_prefix(s, n) == n;
}

static bool pointer_ok(const char *p)
{
	if (p[0] != '/')
		return false;
	for (; *p; p++)
		if (*p == '~' && p[1] != '0' && p[1] != '1')
			return false;
	return true;
}

/* The last segment of pointer p, unescaped (malloc'd). */
static char *last_segment(const char *p)
{
	const char *s = strrchr(p, '/') + 1;
	size_t n = strlen(s);
	char *out = malloc(n + 1), *o = out;
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '~' && s[i + 1] == '1')
			*o++ = '/', i++;
		else if (s[i] == '~' && s[i + 1] == '0')
			*o++ = '~', i++;
		else
			*o++ = s[i];
	}
	*o = 0;
	return out;
}

/* p with its first "after" segment replaced by "before", or NULL if none. */
static char *before_pointer(const char *p)
{
	for (const char *s = p; (s = strstr(s, "/after")); s += 6) {
		if (s[6] == '/' || s[6] == 0) {
			size_t pre = (size_t)(s - p), n = strlen(p);
			char *out = malloc(n + 2);
			if (!out)
				return NULL;
			memcpy(out, p, pre);
			memcpy(out + pre, "/before", 7);
			memcpy(out + pre + 7, s + 6, n - pre - 6 + 1);
			return out;
		}
	}
	return NULL;
}

static c360_rc add_part(struct c360_kafka_idtmpl *t, bool ptr, const char *s, size_t n, char *err, size_t errlen)
{
	if (t->n >= MAX_PARTS) {
		seterr(err, errlen, "more than %d parts in the document id template", MAX_PARTS);
		return C360_ERR_INVALID;
	}
	struct part *p = &t->parts[t->n];
	p->ptr = ptr;
	p->text = strndup(s, n);
	if (!p->text)
		return C360_ERR_NOMEM;
	t->n++;
	if (ptr) {
		if (!pointer_ok(p->text)) {
			seterr(err, errlen, "'%s' is not a JSON pointer (it must start with '/', '~' only as ~0 or ~1)",
			       p->text);
			return C360_ERR_INVALID;
		}
		p->last = last_segment(p->text);
		p->before = before_pointer(p->text);
		if (!p->last)
			return C360_ERR_NOMEM;
	}
	return C360_OK;
}

c360_rc c360_kafka_idtmpl_compile(const char *tmpl, c360_kafka_idtmpl **out, char *err, size_t errlen)
{
	*out = NULL;
	struct c360_kafka_idtmpl *t = calloc(1, sizeof *t);
	if (!t)
		return C360_ERR_NOMEM;
	c360_rc rc = C360_OK;
	size_t len = strlen(tmpl);
	if (len > 1024) {
		seterr(err, errlen, "document id template longer than 1024 characters");
		rc = C360_ERR_INVALID;
		goto out;
	}
	if (!c360_kafka_utf8_ok(tmpl, len)) { /* its text goes into every id */
		seterr(err, errlen, "document id template is not valid UTF-8");
		rc = C360_ERR_INVALID;
		goto out;
	}
	if (tmpl[0] == '/' && !strstr(tmpl, "${")) {
		rc = add_part(t, true, tmpl, len, err, errlen); /* 3.x bare pointer */
		goto out;
	}
	const char *p = tmpl;
	int nptr = 0;
	while (*p) {
		const char *open = strstr(p, "${");
		if (!open) {
			rc = add_part(t, false, p, strlen(p), err, errlen);
			break;
		}
		if (open > p && (rc = add_part(t, false, p, (size_t)(open - p), err, errlen)))
			break;
		const char *close = strchr(open + 2, '}');
		if (!close) {
			seterr(err, errlen, "unclosed '${' at character %zu", (size_t)(open - tmpl) + 1);
			rc = C360_ERR_INVALID;
			break;
		}
		if (close == open + 2) {
			seterr(err, errlen, "empty placeholder '${}' at character %zu", (size_t)(open - tmpl) + 1);
			rc = C360_ERR_INVALID;
			break;
		}
		if ((rc = add_part(t, true, open + 2, (size_t)(close - open - 2), err, errlen)))
			break;
		nptr++;
		p = close + 1;
	}
	if (!rc && !nptr) {
		seterr(err, errlen, "no ${/json/pointer} placeholder in '%s'", tmpl);
		rc = C360_ERR_INVALID;
	}
out:
	if (rc) {
		if (rc == C360_ERR_NOMEM)
			seterr(err, errlen, "out of memory");
		c360_kafka_idtmpl_free(t);
		return rc;
	}
	*out = t;
	return C360_OK;
}

void c360_kafka_idtmpl_free(c360_kafka_idtmpl *t)
{
	if (!t)
		return;
	for (int i = 0; i < t->n; i++) {
		free(t->parts[i].text);
		free(t->parts[i].before);
		free(t->parts[i].last);
	}
	free(t);
}

static const c360_json *resolve(const struct part *p, const c360_json *root, unsigned flags, const char **shown)
{
	if (flags & C360_IDT_LASTSEG) {
		*shown = p->text;
		return c360_json_get(root, p->last);
	}
	const char *ptr = (flags & C360_IDT_BEFORE) && p->before ? p->before : p->text;
	*shown = ptr;
	return c360_json_ptr_get(root, ptr);
}

c360_rc c360_kafka_idtmpl_render(const c360_kafka_idtmpl *t, const c360_json *root, unsigned flags,
				 struct c360_buf *out, char *reason, size_t rlen)
{
	size_t start = out->len;
	for (int i = 0; i < t->n; i++) {
		const struct part *p = &t->parts[i];
		c360_rc rc;
		if (!p->ptr) {
			rc = c360_buf_puts(out, p->text);
			if (rc)
				return rc;
			continue;
		}
		const char *shown;
		const c360_json *v = resolve(p, root, flags, &shown);
		const char *s = NULL;
		size_t n = 0;
		switch (c360_json_type(v)) {
		case C360_JSON_STRING:
			s = c360_json_str(v, &n);
			if (memchr(s, 0, n)) {
				seterr(reason, rlen, "document id: pointer '%s' is a string with a NUL character", shown);
				return C360_ERR_INVALID;
			}
			break;
		case C360_JSON_NUMBER:
			s = c360_json_num_text(v, &n);
			break;
		case C360_JSON_TRUE:
			s = "true", n = 4;
			break;
		case C360_JSON_FALSE:
			s = "false", n = 5;
			break;
		case C360_JSON_NULL:
			seterr(reason, rlen, "document id: pointer '%s' is %s", shown, v ? "null" : "missing");
			return C360_ERR_NOT_FOUND;
		default:
			seterr(reason, rlen, "document id: pointer '%s' is an %s, not a string, number or boolean", shown,
			       c360_json_type_name(c360_json_type(v)));
			return C360_ERR_INVALID;
		}
		rc = c360_buf_append(out, s, n);
		if (rc)
			return rc;
	}
	size_t idlen = out->len - start;
	if (idlen == 0) {
		seterr(reason, rlen, "document id: the template gives an empty id");
		return C360_ERR_INVALID;
	}
	if (idlen > C360_KEY_MAX) {
		seterr(reason, rlen, "document id: %zu bytes, longer than %d", idlen, C360_KEY_MAX);
		return C360_ERR_INVALID;
	}
	return C360_OK;
}

void c360_kafka_idtmpl_remove(const c360_kafka_idtmpl *t, c360_json *root, unsigned flags)
{
	for (int i = 0; i < t->n; i++) {
		const struct part *p = &t->parts[i];
		if (!p->ptr)
			continue;
		const char *ptr = (flags & C360_IDT_BEFORE) && p->before ? p->before : p->text;
		const char *slash = strrchr(ptr, '/');
		char parent_ptr[1100];
		size_t pn = (size_t)(slash - ptr);
		if (pn >= sizeof parent_ptr)
			continue;
		memcpy(parent_ptr, ptr, pn);
		parent_ptr[pn] = 0;
		c360_json *parent = c360_json_ptr_get(root, parent_ptr);
		if (c360_json_is_object(parent))
			c360_json_remove(parent, p->last, strlen(p->last));
	}
}

static bool scalar(const c360_json *v)
{
	enum c360_json_type ty = c360_json_type(v);
	return v && (ty == C360_JSON_STRING || ty == C360_JSON_NUMBER || ty == C360_JSON_TRUE ||
		     ty == C360_JSON_FALSE);
}

static c360_rc put_scalar(const c360_json *v, struct c360_buf *out)
{
	size_t n;
	const char *s;
	switch (c360_json_type(v)) {
	case C360_JSON_STRING:
		s = c360_json_str(v, &n);
		break;
	case C360_JSON_NUMBER:
		s = c360_json_num_text(v, &n);
		break;
	case C360_JSON_TRUE:
		s = "true", n = 4;
		break;
	default:
		s = "false", n = 5;
		break;
	}
	return c360_buf_append(out, s, n);
}

static bool looks_json(const char *key, size_t klen)
{
	size_t i = 0;
	while (i < klen && (key[i] == ' ' || key[i] == '\t' || key[i] == '\n' || key[i] == '\r'))
		i++;
	return i < klen && (key[i] == '{' || key[i] == '"' || key[i] == '[');
}

c360_rc c360_kafka_key_fields(const char *key, size_t klen, c360_json_doc **doc, const c360_json **fields)
{
	*doc = NULL;
	*fields = NULL;
	if (!key || !klen || !looks_json(key, klen))
		return C360_ERR_NOT_FOUND;
	struct c360_json_parse_opts po = {.max_depth = 64, .max_size = 1u << 20};
	c360_json_doc *d = NULL;
	c360_rc rc = c360_json_parse(key, klen, &po, &d, NULL);
	if (rc)
		return rc == C360_ERR_NOMEM ? rc : C360_ERR_NOT_FOUND;
	const c360_json *root = c360_json_doc_root(d);
	if (c360_json_is_object(root) && c360_json_get(root, "schema") && c360_json_get(root, "payload") &&
	    c360_json_len(root) == 2)
		root = c360_json_get(root, "payload");
	if (!c360_json_is_object(root)) {
		c360_json_doc_free(d);
		return C360_ERR_NOT_FOUND;
	}
	*doc = d;
	*fields = root;
	return C360_OK;
}

c360_rc c360_kafka_key_id(const char *key, size_t klen, struct c360_buf *out, char *reason, size_t rlen)
{
	if (!key || !klen)
		return C360_ERR_NOT_FOUND;
	size_t start = out->len;
	c360_rc rc = C360_OK;
	if (looks_json(key, klen)) {
		struct c360_json_parse_opts po = {.max_depth = 64, .max_size = 1u << 20};
		c360_json_doc *d = NULL;
		if (c360_json_parse(key, klen, &po, &d, NULL) == C360_OK) {
			const c360_json *root = c360_json_doc_root(d);
			if (c360_json_is_object(root) && c360_json_get(root, "schema") &&
			    c360_json_get(root, "payload") && c360_json_len(root) == 2)
				root = c360_json_get(root, "payload");
			if (c360_json_is_string(root)) {
				size_t n;
				const char *s = c360_json_str(root, &n);
				rc = c360_buf_append(out, s, n);
			} else if (c360_json_is_object(root) && c360_json_len(root) > 0) {
				for (c360_json *m = c360_json_first(root); m && !rc; m = c360_json_next(m)) {
					if (!scalar(m)) {
						rc = C360_ERR_NOT_FOUND; /* nested: topic/partition/offset */
						break;
					}
					if (m != c360_json_first(root))
						rc = c360_buf_puts(out, "::");
					if (!rc)
						rc = put_scalar(m, out);
				}
			} else if (c360_json_is_number(root) || c360_json_is_bool(root)) {
				rc = put_scalar(root, out);
			} else {
				rc = C360_ERR_NOT_FOUND;
			}
			c360_json_doc_free(d);
			goto check;
		}
		/* not JSON after all: the raw text */
	}
	rc = c360_buf_append(out, key, klen);
check:
	if (rc) {
		out->len = start;
		if (out->data)
			out->data[start] = 0;
		return rc;
	}
	size_t idlen = out->len - start;
	if (idlen == 0 || idlen > C360_KEY_MAX || !c360_kafka_utf8_ok(out->data + start, idlen)) {
		seterr(reason, rlen, idlen == 0 ? "document id: the record key gives an empty id"
			       : idlen > C360_KEY_MAX ? "document id: the record key gives an id longer than 250 bytes"
						      : "document id: the record key is not UTF-8 text");
		out->len = start;
		if (out->data)
			out->data[start] = 0;
		return C360_ERR_INVALID;
	}
	return C360_OK;
}
