/* The native integration's pure functions: identity normalisation, secret
 * hashing, extraction of a staging document into a contribution, applying
 * contributions to a customer's state, and building the customer document
 * from a state (field survivorship, xrefs, lineage).
 *
 * Order independence comes from two rules: a customer document is built
 * only from the set of live contributions, sorted by (source order, staging
 * key), never from arrival order; and a staging document's versions are
 * ordered by the source's own timestamp, with ties broken by their bytes. */
#include "integrate/imap_int.h"

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/banned.h"

#define TS_NONE_VAL INT64_MIN
#define VALUE_TEXT_MAX 65536 /* cap of one transformed value */

/* ---- identity and secrets ---- */

size_t c360_imap_normalize_email(const char *in, size_t len, char *out, size_t outsz)
{
	if (!in)
		return 0;
	while (len && (*in == ' ' || *in == '\t' || *in == '\r' || *in == '\n' || *in == '\f' ||
		       *in == '\v')) {
		in++;
		len--;
	}
	while (len && (in[len - 1] == ' ' || in[len - 1] == '\t' || in[len - 1] == '\r' ||
		       in[len - 1] == '\n' || in[len - 1] == '\f' || in[len - 1] == '\v'))
		len--;
	if (!len || len > C360_KEY_MAX || len + 1 > outsz)
		return 0;
	size_t at = SIZE_MAX;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c <= 0x20 || c == 0x7f)
			return 0;
		if (c == '@')
			at = i;
		out[i] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
	}
	if (at == SIZE_MAX || at == 0 || at == len - 1)
		return 0;
	out[len] = '\0';
	return len;
}

static void put_hex(char *out, const uint8_t *b, size_t n)
{
	/* hashes and salts are no secret: plain hex */
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
}

#define SALT_BYTES 16
#define SALTED "blake2b-salted:"
#define UNSALTED "blake2b:"

/* BLAKE2b-256(key, salt system NUL secret); salt may be NULL (unsalted) */
static void keyed_hash(const uint8_t key[C360_IMAP_KEYBYTES], const uint8_t *salt,
		       const char *system, const char *secret, size_t len, uint8_t h[32])
{
	crypto_generichash_state st;
	crypto_generichash_init(&st, key, C360_IMAP_KEYBYTES, 32);
	if (salt)
		crypto_generichash_update(&st, salt, SALT_BYTES);
	crypto_generichash_update(&st, (const unsigned char *)system, strlen(system) + 1);
	crypto_generichash_update(&st, (const unsigned char *)secret, len);
	crypto_generichash_final(&st, h, 32);
}

void c360_imap_hash_secret(const uint8_t key[C360_IMAP_KEYBYTES], const char *system,
			   const char *record, size_t record_len, const char *secret, size_t len,
			   char out[C360_IMAP_HASH_MAX])
{
	crypto_generichash_state st;
	uint8_t salt[SALT_BYTES], h[32];
	crypto_generichash_init(&st, key, C360_IMAP_KEYBYTES, sizeof salt);
	crypto_generichash_update(&st, (const unsigned char *)"c360-salt", 10);
	crypto_generichash_update(&st, (const unsigned char *)system, strlen(system) + 1);
	crypto_generichash_update(&st, (const unsigned char *)record, record_len);
	crypto_generichash_final(&st, salt, sizeof salt);
	keyed_hash(key, salt, system, secret, len, h);
	size_t at = strlen(SALTED);
	memcpy(out, SALTED, at);
	put_hex(out + at, salt, sizeof salt);
	at += 2 * sizeof salt;
	out[at++] = ':';
	put_hex(out + at, h, sizeof h);
	at += 2 * sizeof h;
	out[at] = '\0';
}

bool c360_imap_verify_secret(const uint8_t key[C360_IMAP_KEYBYTES], const char *system,
			     const char *secret, size_t len, const char *stored)
{
	uint8_t salt[SALT_BYTES], h[32], want[32];
	size_t bl = 0;
	const char *hex;
	bool salted = !strncmp(stored, SALTED, strlen(SALTED));
	if (salted) {
		const char *s = stored + strlen(SALTED);
		if (strlen(s) != 2 * SALT_BYTES + 1 + 64 || s[2 * SALT_BYTES] != ':' ||
		    sodium_hex2bin(salt, sizeof salt, s, 2 * SALT_BYTES, NULL, &bl, NULL) ||
		    bl != sizeof salt)
			return false;
		hex = s + 2 * SALT_BYTES + 1;
	} else if (!strncmp(stored, UNSALTED, strlen(UNSALTED))) {
		hex = stored + strlen(UNSALTED);
		if (strlen(hex) != 64)
			return false;
	} else {
		return false;
	}
	if (sodium_hex2bin(want, sizeof want, hex, 64, NULL, &bl, NULL) || bl != sizeof want)
		return false;
	keyed_hash(key, salted ? salt : NULL, system, secret, len, h);
	return sodium_memcmp(h, want, sizeof h) == 0;
}

c360_rc c360_imap_secret_key(const c360_imap *m, uint8_t key[C360_IMAP_KEYBYTES], char *err,
			     size_t errlen)
{
	const char *k = m->secret_key;
	const char *envname = m->secret_key_env ? m->secret_key_env : "C360_SECRET_KEY";
	if (!k) {
		k = getenv(envname);
		if (!k || !*k) {
			snprintf(err, errlen, "no secret key: neither 'secrets.key' nor $%s is set",
				 envname);
			return C360_ERR_NOT_FOUND;
		}
		if (strlen(k) < 16) {
			snprintf(err, errlen, "$%s is shorter than 16 bytes: use a long random key",
				 envname);
			return C360_ERR_INVALID;
		}
	}
	/* any length of key text → 32 bytes */
	crypto_generichash(key, C360_IMAP_KEYBYTES, (const unsigned char *)k, strlen(k), NULL, 0);
	return C360_OK;
}

/* ---- expressions and predicates ---- */

static bool truthy(const c360_json *v)
{
	switch (c360_json_type(v)) {
	case C360_JSON_NULL:
	case C360_JSON_FALSE:
		return false;
	case C360_JSON_NUMBER: {
		double d;
		return c360_json_double(v, &d) && d != 0 && !isnan(d);
	}
	case C360_JSON_STRING: {
		size_t n;
		c360_json_str(v, &n);
		return n > 0;
	}
	default:
		return true;
	}
}

static bool pred_holds(const struct imap_pred *p, const c360_json *doc)
{
	c360_json *v = c360_json_ptr_get(doc, p->ptr);
	switch (p->op) {
	case P_PRESENT:
		return v != NULL;
	case P_ABSENT:
		return v == NULL;
	case P_TRUTHY:
		return v && truthy(v);
	case P_EQ:
		return v && c360_json_equal(v, p->val);
	case P_NE:
		return !v || !c360_json_equal(v, p->val);
	}
	return false;
}

static bool preds_hold(const struct imap_pred *p, size_t n, const c360_json *doc)
{
	for (size_t i = 0; i < n; i++)
		if (!pred_holds(&p[i], doc))
			return false;
	return true;
}

/* The text of a scalar (strings as they are, numbers as written, booleans);
 * false for null, objects and arrays. */
static bool scalar_text(const c360_json *v, const char **s, size_t *n)
{
	switch (c360_json_type(v)) {
	case C360_JSON_STRING:
		*s = c360_json_str(v, n);
		return true;
	case C360_JSON_NUMBER:
		*s = c360_json_num_text(v, n);
		return true;
	case C360_JSON_TRUE:
		*s = "true";
		*n = 4;
		return true;
	case C360_JSON_FALSE:
		*s = "false";
		*n = 5;
		return true;
	default:
		return false;
	}
}

/* Evaluates e over doc into `into`; *out NULL when the value is not
 * provided (missing pointer, null, failed conversion). */
static c360_rc eval(const struct imap_expr *e, const c360_json *doc, c360_json_doc *into,
		    c360_json **out)
{
	*out = NULL;
	switch (e->op) {
	case X_PTR: {
		c360_json *v = c360_json_ptr_get(doc, e->ptr);
		if (!v || c360_json_is_null(v))
			return C360_OK;
		*out = c360_json_copy(into, v);
		return *out ? C360_OK : C360_ERR_NOMEM;
	}
	case X_LIT:
		*out = c360_json_copy(into, e->lit);
		return *out ? C360_OK : C360_ERR_NOMEM;
	case X_CONCAT: {
		struct c360_buf b;
		c360_buf_init(&b, VALUE_TEXT_MAX);
		bool any = false;
		c360_rc rc = C360_OK;
		for (size_t i = 0; i < e->nargs && !rc; i++) {
			c360_json *part;
			if ((rc = eval(e->args[i], doc, into, &part)))
				break;
			const char *s;
			size_t n;
			if (!part || !scalar_text(part, &s, &n))
				continue;
			if (e->args[i]->op != X_LIT)
				any = true;
			rc = c360_buf_append(&b, s, n);
		}
		if (!rc && any)
			*out = c360_json_new_str(into, c360_buf_cstr(&b), b.len);
		c360_buf_release(&b);
		if (rc == C360_ERR_TOO_BIG)
			return C360_OK; /* an absurdly long value is not provided */
		if (!rc && any && !*out)
			return C360_ERR_NOMEM;
		return rc;
	}
	case X_JOIN: {
		/* non-empty parts joined by sep */
		struct c360_buf b;
		c360_buf_init(&b, VALUE_TEXT_MAX);
		size_t seplen = 0;
		const char *sep = e->lit ? c360_json_str(e->lit, &seplen) : "";
		bool any = false;
		c360_rc rc = C360_OK;
		for (size_t i = 0; i < e->nargs && !rc; i++) {
			c360_json *part;
			if ((rc = eval(e->args[i], doc, into, &part)))
				break;
			const char *s;
			size_t n;
			if (!part || !scalar_text(part, &s, &n) || !n)
				continue;
			if (any)
				rc = c360_buf_append(&b, sep, seplen);
			if (!rc)
				rc = c360_buf_append(&b, s, n);
			any = true;
		}
		if (!rc && any)
			*out = c360_json_new_str(into, c360_buf_cstr(&b), b.len);
		c360_buf_release(&b);
		if (rc == C360_ERR_TOO_BIG)
			return C360_OK;
		if (!rc && any && !*out)
			return C360_ERR_NOMEM;
		return rc;
	}
	default:
		break;
	}
	c360_json *a;
	c360_rc rc = eval(e->args[0], doc, into, &a);
	if (rc || !a)
		return rc;
	const char *s;
	size_t n;
	if (!scalar_text(a, &s, &n))
		return C360_OK;
	switch (e->op) {
	case X_TRIM: {
		while (n && isspace((unsigned char)*s)) {
			s++;
			n--;
		}
		while (n && isspace((unsigned char)s[n - 1]))
			n--;
		*out = c360_json_new_str(into, s, n);
		break;
	}
	case X_LOWER:
	case X_UPPER: {
		char *t = malloc(n + 1);
		if (!t)
			return C360_ERR_NOMEM;
		for (size_t i = 0; i < n; i++)
			t[i] = (char)(e->op == X_LOWER ? tolower((unsigned char)s[i])
						       : toupper((unsigned char)s[i]));
		*out = c360_json_new_str(into, t, n);
		free(t);
		break;
	}
	case X_NUMBER: {
		if (c360_json_is_number(a)) {
			*out = a;
			return C360_OK;
		}
		while (n && isspace((unsigned char)*s)) {
			s++;
			n--;
		}
		while (n && isspace((unsigned char)s[n - 1]))
			n--;
		if (!n || c360_json_is_bool(a))
			return C360_OK;
		*out = c360_json_new_number(into, s, n);
		return C360_OK; /* not a number: not provided */
	}
	case X_NONEMPTY:
		if (c360_json_is_string(a) && n == 0)
			return C360_OK;
		*out = a;
		return C360_OK;
	case X_STRING:
		if (c360_json_is_string(a)) {
			*out = a;
			return C360_OK;
		}
		*out = c360_json_new_str(into, s, n);
		break;
	default:
		return C360_ERR_INTERNAL;
	}
	return *out ? C360_OK : C360_ERR_NOMEM;
}

/* ---- timestamps ---- */

static bool parse_iso(const char *s, size_t n, int64_t *ms)
{
	char buf[64];
	if (n >= sizeof buf)
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	struct tm tm = {0};
	int frac_ms = 0;
	char *p = strptime(buf, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p) {
		memset(&tm, 0, sizeof tm);
		p = strptime(buf, "%Y-%m-%d %H:%M:%S", &tm);
	}
	if (!p)
		return false;
	if (*p == '.') {
		p++;
		int digits = 0;
		while (isdigit((unsigned char)*p)) {
			if (digits < 3)
				frac_ms = frac_ms * 10 + (*p - '0');
			digits++;
			p++;
		}
		for (; digits < 3; digits++)
			frac_ms *= 10;
	}
	int64_t off = 0;
	if (*p == 'Z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1;
		int hh, mm;
		if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2)
			return false;
		off = sign * (hh * 3600 + mm * 60);
		p += 6;
	}
	if (*p)
		return false;
	time_t t = timegm(&tm);
	*ms = ((int64_t)t - off) * 1000 + frac_ms;
	return true;
}

static int64_t source_ts(const struct imap_source *src, const c360_json *doc, int64_t meta_ms)
{
	switch (src->ts_kind) {
	case TS_NONE:
		return TS_NONE_VAL;
	case TS_CAS:
	case TS_FETCH:
		return meta_ms ? meta_ms : TS_NONE_VAL;
	case TS_POINTER:
		break;
	}
	c360_json *v = c360_json_ptr_get(doc, src->ts_ptr);
	if (!v)
		return TS_NONE_VAL;
	const char *s;
	size_t n;
	if (src->ts_unit == U_ISO) {
		int64_t ms;
		if (!c360_json_is_string(v))
			return TS_NONE_VAL;
		s = c360_json_str(v, &n);
		return parse_iso(s, n, &ms) ? ms : TS_NONE_VAL;
	}
	double d;
	if (c360_json_is_number(v)) {
		int64_t i;
		if (c360_json_int64(v, &i)) {
			switch (src->ts_unit) {
			case U_S:
				return i > INT64_MAX / 1000 ? TS_NONE_VAL : i * 1000;
			case U_US:
				return i / 1000;
			case U_NS:
				return i / 1000000;
			default:
				return i;
			}
		}
		if (!c360_json_double(v, &d))
			return TS_NONE_VAL;
	} else if (c360_json_is_string(v)) {
		s = c360_json_str(v, &n);
		char buf[40];
		if (!n || n >= sizeof buf)
			return TS_NONE_VAL;
		memcpy(buf, s, n);
		buf[n] = '\0';
		char *end;
		d = strtod(buf, &end);
		if (*end)
			return TS_NONE_VAL;
	} else {
		return TS_NONE_VAL;
	}
	double scale = src->ts_unit == U_S ? 1000.0 : src->ts_unit == U_US ? 0.001
						  : src->ts_unit == U_NS ? 0.000001 : 1.0;
	d *= scale;
	if (!(d > -9.2e18 && d < 9.2e18))
		return TS_NONE_VAL;
	return (int64_t)floor(d);
}

/* ---- extraction ---- */

static c360_rc set_str(c360_json_doc *d, c360_json *obj, const char *k, const char *s)
{
	c360_json *v = c360_json_new_str(d, s, strlen(s));
	if (!v)
		return C360_ERR_NOMEM;
	return c360_json_set(d, obj, k, strlen(k), v);
}

/* Formats i in decimal at the end of buf[24], without snprintf (timestamps
 * are formatted for every lineage entry of every customer built); returns
 * where the digits start. */
static char *fmt_i64(char buf[24], int64_t i)
{
	char *p = buf + 24;
	uint64_t u = i < 0 ? 0u - (uint64_t)i : (uint64_t)i;
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (i < 0)
		*--p = '-';
	return p;
}

static c360_json *new_i64(c360_json_doc *d, int64_t i)
{
	char buf[24];
	char *p = fmt_i64(buf, i);
	return c360_json_new_number(d, p, (size_t)(buf + sizeof buf - p));
}

static c360_rc set_int(c360_json_doc *d, c360_json *obj, const char *k, int64_t i)
{
	c360_json *v = new_i64(d, i);
	if (!v)
		return C360_ERR_NOMEM;
	return c360_json_set(d, obj, k, strlen(k), v);
}

c360_rc c360_imap_extract(const c360_imap *m, const c360_json *doc, int only_source,
			  const uint8_t *key, int64_t meta_ms, c360_json_doc *into,
			  struct c360_imap_rec *rec, char *why, size_t whylen)
{
	memset(rec, 0, sizeof *rec);
	rec->what = C360_IMAP_IGNORED;
	rec->source = -1;
	rec->ts = TS_NONE_VAL;
	if (why && whylen)
		why[0] = '\0';
	int si = -1;
	const c360_json *top = doc;
	if (only_source >= 0) {
		if ((size_t)only_source >= m->nsources)
			return C360_ERR_INVALID;
		si = only_source;
	} else {
		/* the first source, and the first of its roots, whose predicates hold */
		for (size_t i = 0; i < m->nsources && si < 0; i++) {
			const struct imap_source *s = &m->sources[i];
			for (size_t r = 0; s->nmatch && r < s->nroots; r++) {
				const c360_json *d = c360_json_ptr_get(top, s->roots[r]);
				if (c360_json_is_object(d) && preds_hold(s->match, s->nmatch, d)) {
					si = (int)i;
					doc = d;
					break;
				}
			}
		}
	}
	if (si < 0)
		return C360_OK;
	const struct imap_source *src = &m->sources[si];
	rec->source = si;
	bool del = src->ndel && preds_hold(src->del_when, src->ndel, doc);
	c360_json *idv;
	c360_rc rc = eval(del && src->del_identity ? src->del_identity : src->identity, doc, into,
			  &idv);
	if (rc)
		return rc;
	const char *email = NULL;
	size_t elen = 0;
	if (idv && c360_json_is_string(idv))
		email = c360_json_str(idv, &elen);
	rec->email_len = email ? c360_imap_normalize_email(email, elen, rec->email,
							   sizeof rec->email)
			       : 0;
	if (!rec->email_len) {
		rec->what = C360_IMAP_NO_IDENTITY;
		if (why && whylen) {
			if (!idv)
				snprintf(why, whylen, "source '%s': no identity (missing or null)",
					 src->system);
			else if (!email)
				snprintf(why, whylen, "source '%s': identity is a %s, not a string",
					 src->system, c360_json_type_name(c360_json_type(idv)));
			else
				snprintf(why, whylen, "source '%s': unusable email '%.*s'",
					 src->system, (int)(elen > 80 ? 80 : elen), email);
		}
		return C360_OK;
	}
	rec->ts = source_ts(src, doc, meta_ms);
	rec->no_clock = src->ts_kind == TS_POINTER && rec->ts == TS_NONE_VAL;
	c360_json *c = c360_json_new_object(into);
	if (!c)
		return C360_ERR_NOMEM;
	rec->contrib = c;
	if ((rc = set_str(into, c, "s", src->system)))
		return rc;
	if (del) {
		rec->what = C360_IMAP_DELETE;
		c360_json *ext;
		if ((rc = eval(src->del_ext_id ? src->del_ext_id : src->ext_id, doc, into, &ext)))
			return rc;
		if (ext && (rc = c360_json_set(into, c, "id", 2, ext)))
			return rc;
		if (rec->ts != TS_NONE_VAL && (rc = set_int(into, c, "t", rec->ts)))
			return rc;
		return c360_json_set(into, c, "d", 1, c360_json_new_bool(into, true));
	}
	rec->what = C360_IMAP_UPSERT;
	c360_json *ext;
	if ((rc = eval(src->ext_id, doc, into, &ext)))
		return rc;
	if (ext && (rc = c360_json_set(into, c, "id", 2, ext)))
		return rc;
	if ((rc = c360_json_set(into, c, "e", 1, idv)))
		return rc;
	if (rec->ts != TS_NONE_VAL && (rc = set_int(into, c, "t", rec->ts)))
		return rc;
	if (src->secret && m->secrets != C360_SECRETS_DROP) {
		c360_json *sv;
		if ((rc = eval(src->secret, doc, into, &sv)))
			return rc;
		const char *s;
		size_t n;
		if (sv && scalar_text(sv, &s, &n)) {
			if (m->secrets == C360_SECRETS_PLAIN) {
				rc = c360_json_set(into, c, "p", 1, sv);
			} else {
				if (!key)
					return C360_ERR_INVALID;
				/* the record: the customer's email NUL the external ID */
				char recid[C360_KEY_MAX + 1 + 128];
				size_t rl = rec->email_len;
				memcpy(recid, rec->email, rl);
				recid[rl++] = '\0';
				const char *xs;
				size_t xn;
				if (ext && scalar_text(ext, &xs, &xn)) {
					if (xn > 128)
						xn = 128;
					memcpy(recid + rl, xs, xn);
					rl += xn;
				}
				char h[C360_IMAP_HASH_MAX];
				c360_imap_hash_secret(key, src->system, recid, rl, s, n, h);
				rc = set_str(into, c, "p", h);
			}
			if (rc)
				return rc;
		}
	}
	c360_json *f = c360_json_new_object(into);
	if (!f)
		return C360_ERR_NOMEM;
	for (size_t i = 0; i < src->nmaps; i++) {
		c360_json *v;
		if ((rc = eval(src->maps[i].e, doc, into, &v)))
			return rc;
		if (!v)
			continue;
		const char *name = m->fields[src->maps[i].field].name;
		if ((rc = c360_json_set(into, f, name, strlen(name), v)))
			return rc;
	}
	return c360_json_set(into, c, "f", 1, f);
}

/* ---- state ---- */

static int64_t contrib_ts(const c360_json *c)
{
	int64_t t;
	c360_json *v = c360_json_get(c, "t");
	return v && c360_json_int64(v, &t) ? t : TS_NONE_VAL;
}

static bool is_tomb(const c360_json *c)
{
	return c360_json_bool(c360_json_get(c, "d"));
}

c360_rc c360_imap_record_key(const c360_imap *m, const struct c360_imap_rec *rec, const char *key,
                             size_t klen, struct c360_buf *out)
{
	const char *sys = c360_imap_source_system(m, (size_t)rec->source);
	c360_json *id = c360_json_get(rec->contrib, "id");
	const char *t = NULL;
	size_t n = 0;
	if (c360_json_is_string(id))
		t = c360_json_str(id, &n);
	else if (c360_json_is_number(id))
		t = c360_json_num_text(id, &n);
	c360_rc rc = c360_buf_puts(out, sys);
	if (!rc && t)
		rc = c360_buf_putc(out, ':');
	if (!rc && t)
		rc = c360_buf_append(out, t, n);
	if (!rc && !t)
		rc = c360_buf_putc(out, '#');
	if (!rc && !t)
		rc = c360_buf_append(out, key, klen);
	return rc;
}

/* > 0 when a should replace b (a newer), 0 when the same. A version with a
 * source time beats one without (a source whose clock is missing from a
 * document must not undo a timestamped version, whatever the order they
 * arrive in); between two without, the feed's order (latest arrival)
 * decides. */
static int version_cmp(const c360_json *a, const c360_json *b)
{
	int64_t ta = contrib_ts(a), tb = contrib_ts(b);
	bool ha = ta != TS_NONE_VAL, hb = tb != TS_NONE_VAL;
	if (ha != hb)
		return ha ? 1 : -1;
	if (ha && ta != tb)
		return ta > tb ? 1 : -1;
	bool da = is_tomb(a), db = is_tomb(b);
	if (ha && da != db)
		return da ? 1 : -1;
	char *sa = c360_json_write_str(a, C360_JSON_COMPACT, NULL);
	char *sb = c360_json_write_str(b, C360_JSON_COMPACT, NULL);
	int r = (sa && sb) ? strcmp(sa, sb) : 1;
	free(sa);
	free(sb);
	if (!r)
		return 0;
	if (!ha)
		return 1; /* no source time: the feed's order (latest arrival) decides */
	return r > 0 ? 1 : -1;
}

static c360_json *state_map(c360_json_doc *sdoc, c360_json *state, bool create)
{
	c360_json *c = c360_json_get(state, "c");
	if (!c && create) {
		c = c360_json_new_object(sdoc);
		if (c && c360_json_set(sdoc, state, "c", 1, c))
			c = NULL;
	}
	return c;
}

c360_rc c360_imap_state_apply(const c360_imap *m, c360_json_doc *sdoc, c360_json **state,
			      const char *skey, size_t skey_len, c360_json *contrib,
			      bool *changed)
{
	(void)m;
	*changed = false;
	if (!*state) {
		*state = c360_json_new_object(sdoc);
		if (!*state)
			return C360_ERR_NOMEM;
	}
	c360_json *map = state_map(sdoc, *state, true);
	if (!map)
		return C360_ERR_NOMEM;
	c360_json *old = c360_json_getn(map, skey, skey_len);
	if (old && version_cmp(contrib, old) <= 0)
		return C360_OK;
	c360_json *copy = c360_json_copy(sdoc, contrib);
	if (!copy)
		return C360_ERR_NOMEM;
	*changed = true;
	return c360_json_set(sdoc, map, skey, skey_len, copy);
}

c360_rc c360_imap_state_delete(const c360_imap *m, c360_json_doc *sdoc, c360_json *state,
			       const char *skey, size_t skey_len, int64_t ts, bool *changed)
{
	(void)m;
	*changed = false;
	c360_json *map = state_map(sdoc, state, false);
	c360_json *old = c360_json_getn(map, skey, skey_len);
	if (!old || is_tomb(old))
		return C360_OK;
	c360_json *t = c360_json_new_object(sdoc);
	if (!t)
		return C360_ERR_NOMEM;
	c360_rc rc;
	c360_json *s = c360_json_copy(sdoc, c360_json_get(old, "s"));
	if (!s)
		return C360_ERR_NOMEM;
	if ((rc = c360_json_set(sdoc, t, "s", 1, s)))
		return rc;
	int64_t ot = contrib_ts(old);
	if (ts == TS_NONE_VAL || (ot != TS_NONE_VAL && ot > ts))
		ts = ot;
	if (ts != TS_NONE_VAL && (rc = set_int(sdoc, t, "t", ts)))
		return rc;
	if ((rc = c360_json_set(sdoc, t, "d", 1, c360_json_new_bool(sdoc, true))))
		return rc;
	*changed = true;
	return c360_json_set(sdoc, map, skey, skey_len, t);
}

bool c360_imap_state_live(const c360_json *state)
{
	c360_json *map = c360_json_get(state, "c");
	for (c360_json *c = c360_json_first(map); c; c = c360_json_next(c))
		if (!is_tomb(c))
			return true;
	return false;
}

/* ---- build ---- */

struct live {
	const char *skey;
	size_t skey_len;
	const c360_json *c;
	const c360_json *f, *id, *p, *e; /* its members (NULL when absent) */
	int src;
	int64_t ts;
	size_t lin_off, lin_len; /* build_text: its lineage entry's text, once written */
};

static int cmp_bytes(const char *a, size_t an, const char *b, size_t bn)
{
	int r = memcmp(a, b, an < bn ? an : bn);
	return r ? r : (an > bn) - (an < bn);
}

static int live_cmp(const struct live *a, const struct live *b)
{
	if (a->src != b->src)
		return a->src < b->src ? -1 : 1;
	return cmp_bytes(a->skey, a->skey_len, b->skey, b->skey_len);
}

static int prio_rank(const struct imap_field *f, int src, size_t nsources)
{
	for (size_t i = 0; i < f->nprio; i++)
		if (f->prio[i] == src)
			return (int)i;
	return (int)(f->nprio + (size_t)src + (f->rule == R_PRIORITY ? nsources : 0));
}

/* true when a beats b for field f */
static bool better(const c360_imap *m, const struct imap_field *f, const struct live *a,
		   const struct live *b)
{
	int ra = prio_rank(f, a->src, m->nsources), rb = prio_rank(f, b->src, m->nsources);
	if (f->rule == R_PRIORITY && ra != rb)
		return ra < rb;
	if (a->ts != b->ts)
		return a->ts > b->ts;
	if (ra != rb)
		return ra < rb;
	return cmp_bytes(a->skey, a->skey_len, b->skey, b->skey_len) < 0;
}

/* True when an email is already in its normalised spelling. */
static bool spelled_as_key(const char *s, size_t n)
{
	if (!n || (unsigned char)s[0] <= ' ' || (unsigned char)s[n - 1] <= ' ')
		return false;
	for (size_t i = 0; i < n; i++)
		if ((s[i] >= 'A' && s[i] <= 'Z') || s[i] == '\0')
			return false;
	return true;
}

/* Sets v at dot path name in obj, creating objects on the way. */
static c360_rc set_path(c360_json_doc *d, c360_json *obj, const char *name, c360_json *v)
{
	for (;;) {
		const char *dot = strchr(name, '.');
		if (!dot)
			return c360_json_set(d, obj, name, strlen(name), v);
		size_t n = (size_t)(dot - name);
		c360_json *sub = c360_json_getn(obj, name, n);
		if (!c360_json_is_object(sub)) {
			sub = c360_json_new_object(d);
			if (!sub)
				return C360_ERR_NOMEM;
			c360_rc rc = c360_json_set(d, obj, name, n, sub);
			if (rc)
				return rc;
		}
		obj = sub;
		name = dot + 1;
	}
}

/* The live contributions of a state (not tombstones, of a known source), in
 * xref order. Each contribution's members are found in one walk over it (the
 * first of each key, as c360_json_get would). *out is buf when they fit in
 * bufn, else malloc'd. Contributions are few per customer: insertion sort. */
static c360_rc collect_live(const c360_imap *m, const c360_json *state, struct live *buf,
			    size_t bufn, struct live **out, size_t *nout)
{
	*nout = 0;
	*out = buf;
	c360_json *map = c360_json_get(state, "c");
	size_t cap = c360_json_len(map);
	struct live *lv = buf;
	if (cap > bufn && !(lv = *out = malloc(cap * sizeof *lv)))
		return C360_ERR_NOMEM;
	size_t n = 0;
	for (c360_json *c = c360_json_first(map); c; c = c360_json_next(c)) {
		const c360_json *d = NULL, *s = NULL, *t = NULL, *f = NULL, *id = NULL, *p = NULL,
				*e = NULL;
		for (c360_json *v = c360_json_is_object(c) ? c360_json_first(c) : NULL; v;
		     v = c360_json_next(v)) {
			size_t kl;
			const char *k = c360_json_key(v, &kl);
			const c360_json **slot = NULL;
			if (kl == 1) {
				switch (k[0]) {
				case 'd':
					slot = &d;
					break;
				case 's':
					slot = &s;
					break;
				case 't':
					slot = &t;
					break;
				case 'f':
					slot = &f;
					break;
				case 'p':
					slot = &p;
					break;
				case 'e':
					slot = &e;
					break;
				}
			} else if (kl == 2 && k[0] == 'i' && k[1] == 'd') {
				slot = &id;
			}
			if (slot && !*slot)
				*slot = v;
		}
		if (c360_json_bool(d))
			continue;
		const char *sys = c360_json_str(s, NULL);
		int src = -1;
		for (size_t i = 0; sys && i < m->nsources; i++)
			if (!strcmp(m->sources[i].system, sys))
				src = (int)i;
		if (src < 0)
			continue; /* a source removed from the mapping since */
		int64_t ts;
		struct live l = {.c = c, .f = c360_json_is_object(f) ? f : NULL, .id = id, .p = p,
				 .e = e, .src = src,
				 .ts = t && c360_json_int64(t, &ts) ? ts : TS_NONE_VAL};
		l.skey = c360_json_key(c, &l.skey_len);
		size_t j = n++;
		for (; j && live_cmp(&l, &lv[j - 1]) < 0; j--)
			lv[j] = lv[j - 1];
		lv[j] = l;
	}
	*nout = n;
	return C360_OK;
}

/* ---- building as text ----
 *
 * The same bytes as c360_json_write(c360_imap_build(…)), written directly:
 * no document is built for the customer (most of the merging thread's work
 * in `integrate run`). Only for mappings whose member names cannot collide
 * (m->text_build); others go through the document. The constant text (member
 * names, the xref and lineage members around them) is escaped once, when the
 * mapping is loaded (m->tx), and copied per customer. */

static size_t seg_len(const char *name)
{
	const char *d = strchr(name, '.');
	return d ? (size_t)(d - name) : strlen(name);
}

static bool same(const char *a, size_t an, const char *b, size_t bn)
{
	return an == bn && !memcmp(a, b, an);
}

/* Writes a piece of m->tx into m->tx.b: the strings and JSON texts given,
 * in order ('s' a string to quote, 'r' raw text, 'j' a JSON value). */
static c360_rc piece(struct imap_text *tx, struct imap_piece *p, const char *how, ...)
{
	va_list ap;
	va_start(ap, how);
	c360_rc rc = C360_OK;
	p->off = tx->b.len;
	for (const char *h = how; !rc && *h; h++) {
		if (*h == 'j') {
			const c360_json *v = va_arg(ap, const c360_json *);
			rc = c360_json_write(v, C360_JSON_COMPACT, &tx->b);
			continue;
		}
		const char *s = va_arg(ap, const char *);
		size_t n = va_arg(ap, size_t);
		if (*h == 's')
			rc = c360_json_write_string(s, n, &tx->b);
		else
			rc = c360_buf_append(&tx->b, s, n);
	}
	va_end(ap);
	p->len = tx->b.len - p->off;
	return rc;
}

#define PS(s) (s), strlen(s) /* a C string as piece()'s (text, length) */

void c360_imap_text_release(c360_imap *m)
{
	struct imap_text *tx = &m->tx;
	c360_buf_release(&tx->b);
	free(tx->xref);
	free(tx->system);
	free(tx->lin);
	free(tx->name_len);
	free(tx->leaf);
	free(tx->nodes);
	memset(tx, 0, sizeof *tx);
}

/* The tree of the fields' dot paths: one node per distinct prefix, in the
 * order fields first reach it. */
static c360_rc text_nodes(c360_imap *m)
{
	struct imap_text *tx = &m->tx;
	size_t cap = 0;
	for (size_t fi = 0; fi < m->nfields; fi++) {
		cap++;
		for (const char *s = m->fields[fi].name; (s = strchr(s, '.')); s++)
			cap++;
	}
	if (cap > INT_MAX)
		return C360_ERR_LIMIT;
	tx->nodes = calloc(cap ? cap : 1, sizeof *tx->nodes);
	tx->leaf = calloc(m->nfields ? m->nfields : 1, sizeof *tx->leaf);
	if (!tx->nodes || !tx->leaf)
		return C360_ERR_NOMEM;
	c360_rc rc = C360_OK;
	for (size_t fi = 0; !rc && fi < m->nfields; fi++) {
		const char *name = m->fields[fi].name;
		int parent = -1;
		for (size_t pl = 0;; pl++) {
			size_t sl = seg_len(name + pl), plen = pl + sl;
			int node = -1;
			for (size_t k = 0; k < tx->nnodes && node < 0; k++) {
				const struct imap_node *nd = &tx->nodes[k];
				if (nd->parent == parent && same(nd->name, nd->plen, name, plen))
					node = (int)k;
			}
			if (node < 0) {
				node = (int)tx->nnodes++;
				struct imap_node *nd = &tx->nodes[node];
				*nd = (struct imap_node){
				    .parent = parent, .field = -1, .name = name, .plen = plen};
				if ((rc = piece(tx, &nd->key, "sr", name + pl, sl, PS(":"))))
					break;
			}
			if (!name[plen]) {
				tx->nodes[node].field = (int)fi;
				tx->leaf[fi] = node;
				break;
			}
			parent = node;
			pl = plen;
		}
	}
	return rc;
}

static c360_rc text_init(c360_imap *m)
{
	struct imap_text *tx = &m->tx;
	size_t ns = m->nsources ? m->nsources : 1, nf = m->nfields ? m->nfields : 1;
	c360_buf_init(&tx->b, 0);
	tx->xref = calloc(ns, sizeof *tx->xref);
	tx->system = calloc(ns, sizeof *tx->system);
	tx->lin = calloc(nf, sizeof *tx->lin);
	tx->name_len = calloc(nf, sizeof *tx->name_len);
	if (!tx->xref || !tx->system || !tx->lin || !tx->name_len)
		return C360_ERR_NOMEM;
	tx->head.off = tx->b.len;
	c360_rc rc = c360_buf_putc(&tx->b, '{');
	for (c360_json *k = c360_json_first(m->constants); !rc && k; k = c360_json_next(k)) {
		size_t kl;
		const char *kn = c360_json_key(k, &kl);
		struct imap_piece p;
		if (tx->head_members)
			rc = c360_buf_putc(&tx->b, ',');
		if (!rc)
			rc = piece(tx, &p, "srj", kn, kl, PS(":"), k);
		tx->head_members = true;
	}
	tx->head.len = tx->b.len - tx->head.off;
	if (!rc)
		rc = piece(tx, &tx->xrefs, "sr", PS(m->xref_field), PS(":["));
	if (!rc)
		rc = piece(tx, &tx->lineage, "sr", PS(m->lineage_field), PS(":{"));
	if (!rc)
		rc = piece(tx, &tx->id, "rsr", PS(","), PS(m->xref_id), PS(":"));
	if (!rc)
		rc = piece(tx, &tx->secret, "rsr", PS(","), PS(m->xref_secret), PS(":"));
	if (!rc)
		rc = piece(tx, &tx->email, "rsr", PS(","), PS(m->xref_email), PS(":"));
	if (!rc)
		rc = piece(tx, &tx->ts, "rsr", PS(","), PS("ts"), PS(":"));
	for (size_t i = 0; !rc && i < m->nsources; i++) {
		const char *sys = m->sources[i].system;
		rc = piece(tx, &tx->xref[i], "rsrs", PS("{"), PS(m->xref_system), PS(":"), PS(sys));
		if (!rc)
			rc = piece(tx, &tx->system[i], "s", PS(sys));
	}
	for (size_t fi = 0; !rc && fi < m->nfields; fi++) {
		const char *name = m->fields[fi].name;
		tx->name_len[fi] = strlen(name);
		rc = piece(tx, &tx->lin[fi], "srsr", PS(name), PS(":{"), PS("system"), PS(":"));
	}
	return rc ? rc : text_nodes(m);
}

void c360_imap_check_layout(c360_imap *m)
{
	m->text_build = false;
	c360_imap_text_release(m);
	const char *xf = m->xref_field, *lf = m->lineage_field;
	if (lf[0] && !strcmp(xf, lf))
		return;
	/* member names inside an xref and a lineage entry */
	const char *xk[4] = {m->xref_system, m->xref_id, m->xref_secret, m->xref_email};
	for (int i = 0; i < 4; i++)
		for (int j = i + 1; j < 4; j++)
			if (xk[i][0] && xk[j][0] && !strcmp(xk[i], xk[j]))
				return;
	if (!strcmp(m->xref_id, "system") || !strcmp(m->xref_id, "ts"))
		return;
	for (size_t i = 0; i < m->nfields; i++) {
		const char *a = m->fields[i].name;
		size_t al = strlen(a), as = seg_len(a);
		if (same(a, as, xf, strlen(xf)) || (lf[0] && same(a, as, lf, strlen(lf))))
			return;
		for (size_t j = 0; j < m->nfields; j++) {
			const char *b = m->fields[j].name;
			if (i != j && !strncmp(a, b, al) && (b[al] == '\0' || b[al] == '.'))
				return; /* equal, or a is an object holding b */
		}
		for (c360_json *k = c360_json_first(m->constants); k; k = c360_json_next(k)) {
			size_t kl;
			const char *kn = c360_json_key(k, &kl);
			if (same(a, as, kn, kl))
				return;
		}
	}
	for (c360_json *k = c360_json_first(m->constants); k; k = c360_json_next(k)) {
		size_t kl;
		const char *kn = c360_json_key(k, &kl);
		if (same(kn, kl, xf, strlen(xf)) || (lf[0] && same(kn, kl, lf, strlen(lf))))
			return;
		for (c360_json *j = c360_json_next(k); j; j = c360_json_next(j)) {
			size_t jl;
			const char *jn = c360_json_key(j, &jl);
			if (same(kn, kl, jn, jl))
				return;
		}
	}
	/* out of memory: the documents are built, then written */
	if (text_init(m))
		c360_imap_text_release(m);
	else
		m->text_build = true;
}

/* A JSON string; names from the mapping are mostly plain ASCII, written as
 * they are (the JSON writer's bytes, without its per-call cost). */

#define LIVE_STACK 16
#define FIELDS_STACK 32
#define NODES_STACK 64

struct winner {
	struct live *win;
	const c360_json *v;
	size_t seen; /* 1 + the last contribution that offered the field */
};

/* The field named k[0..kl), SIZE_MAX when none; guess is tried first
 * (contributions usually hold their fields in the mapping's order). */
static size_t field_of(const c360_imap *m, const char *k, size_t kl, size_t guess)
{
	const size_t *nl = m->tx.name_len;
	if (!k)
		return SIZE_MAX;
	if (guess < m->nfields && nl[guess] == kl && !memcmp(m->fields[guess].name, k, kl))
		return guess;
	for (size_t fi = 0; fi < m->nfields; fi++)
		if (nl[fi] == kl && !memcmp(m->fields[fi].name, k, kl))
			return fi;
	return SIZE_MAX;
}

/* Every field's winner, in one walk over each contribution's fields (the
 * first member of a name, as c360_json_get finds it). better() is a total
 * order: the order of the candidates does not matter. */
static void pick_winners(const c360_imap *m, struct live *lv, size_t n, struct winner *wf)
{
	for (size_t i = 0; i < n; i++) {
		size_t guess = 0;
		for (c360_json *v = c360_json_first(lv[i].f); v; v = c360_json_next(v)) {
			size_t kl;
			const char *k = c360_json_key(v, &kl);
			size_t fi = field_of(m, k, kl, guess);
			if (fi == SIZE_MAX || wf[fi].seen == i + 1)
				continue;
			wf[fi].seen = i + 1;
			guess = fi + 1;
			if (!wf[fi].win || better(m, &m->fields[fi], &lv[i], wf[fi].win)) {
				wf[fi].win = &lv[i];
				wf[fi].v = v;
			}
		}
	}
}

/* c360_buf_append, inline for the short pieces of a document. */
static inline c360_rc put_bytes(struct c360_buf *o, const char *s, size_t n)
{
	if (o->len + n < o->cap && n <= o->max - o->len) {
		memcpy(o->data + o->len, s, n);
		o->len += n;
		o->data[o->len] = '\0';
		return C360_OK;
	}
	return c360_buf_append(o, s, n);
}

static inline c360_rc put_c(struct c360_buf *o, char c)
{
	return put_bytes(o, &c, 1);
}

static c360_rc put(struct c360_buf *o, const struct imap_text *tx, const struct imap_piece *p)
{
	return put_bytes(o, tx->b.data + p->off, p->len);
}

/* Appends o's own bytes [off, off + n) again. */
static c360_rc put_again(struct c360_buf *o, size_t off, size_t n)
{
	if (!(o->len + n < o->cap && n <= o->max - o->len)) {
		c360_rc rc = c360_buf_reserve(o, n);
		if (rc)
			return rc;
	}
	memcpy(o->data + o->len, o->data + off, n);
	o->len += n;
	o->data[o->len] = '\0';
	return C360_OK;
}

static c360_rc w_int(struct c360_buf *o, int64_t i)
{
	char buf[24];
	char *p = fmt_i64(buf, i);
	return put_bytes(o, p, (size_t)(buf + sizeof buf - p));
}

/* A member: a comma unless it is its object's first, then the piece. */
static c360_rc put_member(struct c360_buf *o, bool *first, const struct imap_text *tx,
			  const struct imap_piece *p)
{
	c360_rc rc = *first ? C360_OK : put_c(o, ',');
	*first = false;
	return rc ? rc : put(o, tx, p);
}

/* The members of the object at node parent (-1: the document): each child
 * once, in the order of the first field with a winner under it (as set_path
 * creates them). done: the nodes written. */
static c360_rc w_object(const c360_imap *m, const struct winner *wf, bool *done, int parent,
			struct c360_buf *o, bool *first)
{
	const struct imap_text *tx = &m->tx;
	c360_rc rc = C360_OK;
	for (size_t fi = 0; !rc && fi < m->nfields; fi++) {
		if (!wf[fi].win)
			continue;
		int c = tx->leaf[fi];
		while (c >= 0 && tx->nodes[c].parent != parent)
			c = tx->nodes[c].parent;
		if (c < 0 || done[c])
			continue;
		done[c] = true;
		if ((rc = put_member(o, first, tx, &tx->nodes[c].key)))
			break;
		if (tx->nodes[c].field >= 0) {
			rc = c360_json_write(wf[fi].v, C360_JSON_COMPACT, o);
		} else {
			bool f2 = true;
			rc = put_c(o, '{');
			if (!rc)
				rc = w_object(m, wf, done, c, o, &f2);
			if (!rc)
				rc = put_c(o, '}');
		}
	}
	return rc;
}

c360_rc c360_imap_build_text(const c360_imap *m, const c360_json *state, struct c360_buf *o,
			     bool *none)
{
	*none = true;
	if (!m->text_build) {
		c360_json_doc *d = c360_json_doc_new();
		if (!d)
			return C360_ERR_NOMEM;
		c360_json *cust;
		c360_rc rc = c360_imap_build(m, state, d, &cust);
		if (!rc && cust) {
			*none = false;
			rc = c360_json_write(cust, C360_JSON_COMPACT, o);
		}
		c360_json_doc_free(d);
		return rc;
	}
	const struct imap_text *tx = &m->tx;
	struct live lbuf[LIVE_STACK], *lv;
	struct winner wbuf[FIELDS_STACK], *wf = wbuf;
	bool dbuf[NODES_STACK], *done = dbuf;
	size_t n;
	c360_rc rc = collect_live(m, state, lbuf, LIVE_STACK, &lv, &n);
	if (rc || !n)
		goto out;
	if (m->nfields > FIELDS_STACK)
		wf = calloc(m->nfields, sizeof *wf);
	else
		memset(wf, 0, m->nfields * sizeof *wf);
	if (tx->nnodes > NODES_STACK)
		done = calloc(tx->nnodes, sizeof *done);
	else
		memset(done, 0, tx->nnodes * sizeof *done);
	if (!wf || !done) {
		rc = C360_ERR_NOMEM;
		goto out;
	}
	pick_winners(m, lv, n, wf);
	size_t start = o->len;
	bool first = !tx->head_members;
	rc = put(o, tx, &tx->head);
	if (!rc)
		rc = w_object(m, wf, done, -1, o, &first);
	/* xrefs */
	if (!rc)
		rc = put_member(o, &first, tx, &tx->xrefs);
	for (size_t i = 0; !rc && i < n; i++) {
		const struct live *l = &lv[i];
		if (i)
			rc = put_c(o, ',');
		if (!rc)
			rc = put(o, tx, &tx->xref[l->src]);
		if (!rc && l->id && !(rc = put(o, tx, &tx->id)))
			rc = c360_json_write(l->id, C360_JSON_COMPACT, o);
		if (!rc && l->p && !(rc = put(o, tx, &tx->secret)))
			rc = c360_json_write(l->p, C360_JSON_COMPACT, o);
		size_t el;
		const char *es = c360_json_str(l->e, &el);
		if (!rc && es && m->xref_email[0] && !spelled_as_key(es, el) &&
		    !(rc = put(o, tx, &tx->email)))
			rc = c360_json_write(l->e, C360_JSON_COMPACT, o);
		if (!rc)
			rc = put_c(o, '}');
	}
	if (!rc)
		rc = put_c(o, ']');
	/* lineage: the entry after the field's name is the same for every field
	 * a contribution wins (system, id, ts): written once, then copied */
	if (!rc && m->lineage_field[0]) {
		bool f1 = true;
		rc = put_member(o, &first, tx, &tx->lineage);
		for (size_t fi = 0; !rc && fi < m->nfields; fi++) {
			struct live *win = wf[fi].win;
			if (!win)
				continue;
			if (!f1)
				rc = put_c(o, ',');
			f1 = false;
			if (!rc)
				rc = put(o, tx, &tx->lin[fi]);
			if (rc || win->lin_len) {
				if (!rc)
					rc = put_again(o, win->lin_off, win->lin_len);
				continue;
			}
			size_t off = o->len;
			rc = put(o, tx, &tx->system[win->src]);
			if (!rc && win->id && !(rc = put(o, tx, &tx->id)))
				rc = c360_json_write(win->id, C360_JSON_COMPACT, o);
			if (!rc && win->ts != TS_NONE_VAL && !(rc = put(o, tx, &tx->ts)))
				rc = w_int(o, win->ts);
			if (!rc)
				rc = put_c(o, '}');
			win->lin_off = off;
			win->lin_len = o->len - off;
		}
		if (!rc)
			rc = put_c(o, '}');
	}
	if (!rc)
		rc = put_c(o, '}');
	if (rc) {
		o->len = start;
		if (o->data)
			o->data[start] = '\0';
	} else {
		*none = false;
	}
out:
	if (lv != lbuf)
		free(lv);
	if (wf != wbuf)
		free(wf);
	if (done != dbuf)
		free(done);
	return rc;
}

c360_rc c360_imap_build(const c360_imap *m, const c360_json *state, c360_json_doc *out,
			c360_json **customer)
{
	*customer = NULL;
	struct live lbuf[LIVE_STACK], *lv;
	size_t n;
	c360_rc rc = collect_live(m, state, lbuf, LIVE_STACK, &lv, &n);
	if (rc || !n)
		goto out;
	c360_json *root = c360_json_new_object(out);
	if (!root) {
		rc = C360_ERR_NOMEM;
		goto out;
	}
	for (c360_json *k = c360_json_first(m->constants); k; k = c360_json_next(k)) {
		size_t kl;
		const char *kn = c360_json_key(k, &kl);
		c360_json *v = c360_json_copy(out, k);
		if (!v || (rc = c360_json_set(out, root, kn, kl, v))) {
			rc = rc ? rc : C360_ERR_NOMEM;
			goto out;
		}
	}
	c360_json *lineage = NULL;
	if (m->lineage_field[0] && !(lineage = c360_json_new_object(out))) {
		rc = C360_ERR_NOMEM;
		goto out;
	}
	for (size_t fi = 0; fi < m->nfields; fi++) {
		const struct imap_field *f = &m->fields[fi];
		const struct live *win = NULL;
		c360_json *wv = NULL;
		for (size_t i = 0; i < n; i++) {
			c360_json *v = c360_json_get(lv[i].f, f->name);
			if (!v)
				continue;
			if (!win || better(m, f, &lv[i], win)) {
				win = &lv[i];
				wv = v;
			}
		}
		if (!win)
			continue;
		c360_json *v = c360_json_copy(out, wv);
		if (!v || (rc = set_path(out, root, f->name, v))) {
			rc = rc ? rc : C360_ERR_NOMEM;
			goto out;
		}
		if (lineage) {
			c360_json *l = c360_json_new_object(out);
			const c360_json *id = win->id;
			if (!l || (rc = set_str(out, l, "system", m->sources[win->src].system)) ||
			    (id && (rc = c360_json_set(out, l, m->xref_id, strlen(m->xref_id),
						       c360_json_copy(out, id)))) ||
			    (win->ts != TS_NONE_VAL && (rc = set_int(out, l, "ts", win->ts))) ||
			    (rc = c360_json_set(out, lineage, f->name, strlen(f->name), l))) {
				rc = rc ? rc : C360_ERR_NOMEM;
				goto out;
			}
		}
	}
	c360_json *xrefs = c360_json_new_array(out);
	if (!xrefs) {
		rc = C360_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		c360_json *x = c360_json_new_object(out);
		if (!x) {
			rc = C360_ERR_NOMEM;
			goto out;
		}
		const c360_json *id = lv[i].id, *p = lv[i].p, *e = lv[i].e;
		if ((rc = set_str(out, x, m->xref_system, m->sources[lv[i].src].system)) ||
		    (id && (rc = c360_json_set(out, x, m->xref_id, strlen(m->xref_id),
					       c360_json_copy(out, id)))) ||
		    (p && (rc = c360_json_set(out, x, m->xref_secret, strlen(m->xref_secret),
					      c360_json_copy(out, p)))))
			goto out;
		/* the source's own spelling, when it differs from the key */
		size_t el;
		const char *es = c360_json_str(e, &el);
		if (es && m->xref_email[0] && !spelled_as_key(es, el) &&
		    (rc = c360_json_set(out, x, m->xref_email, strlen(m->xref_email),
					c360_json_copy(out, e))))
			goto out;
		if ((rc = c360_json_append(out, xrefs, x)))
			goto out;
	}
	if ((rc = c360_json_set(out, root, m->xref_field, strlen(m->xref_field), xrefs)))
		goto out;
	if (lineage && (rc = c360_json_set(out, root, m->lineage_field, strlen(m->lineage_field),
					   lineage)))
		goto out;
	*customer = root;
out:
	if (lv != lbuf)
		free(lv);
	return rc;
}
