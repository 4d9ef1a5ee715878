/* The native integration's mapping file: YAML parsed into a compiled,
 * immutable c360_imap, every semantic error reported as file:line:column. */
#include "integrate/imap_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

#define FAIL(v, ...) c360_yaml_fail(m->y, (v), err, errlen, __VA_ARGS__)

static char *dupn(const char *s, size_t n)
{
	char *p = malloc(n + 1);
	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

static void expr_free(struct imap_expr *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->nargs; i++)
		expr_free(e->args[i]);
	free(e->args);
	free(e->ptr);
	free(e);
}

void c360_imap_free(c360_imap *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nsources; i++) {
		struct imap_source *s = &m->sources[i];
		free(s->system);
		for (size_t j = 0; j < s->nroots; j++)
			free(s->roots[j]);
		free(s->roots);
		for (size_t j = 0; j < s->nmatch; j++)
			free(s->match[j].ptr);
		free(s->match);
		for (size_t j = 0; j < s->ndel; j++)
			free(s->del_when[j].ptr);
		free(s->del_when);
		expr_free(s->identity);
		expr_free(s->del_identity);
		expr_free(s->ext_id);
		expr_free(s->del_ext_id);
		expr_free(s->secret);
		free(s->ts_ptr);
		for (size_t j = 0; j < s->nmaps; j++)
			expr_free(s->maps[j].e);
		free(s->maps);
		free(s->url);
	}
	free(m->sources);
	for (size_t i = 0; i < m->nfields; i++) {
		free(m->fields[i].name);
		free(m->fields[i].prio);
	}
	free(m->fields);
	free(m->secret_key);
	free(m->secret_key_env);
	for (size_t i = 0; i < m->nkeep; i++)
		free(m->keep[i]);
	free(m->keep);
	c360_imap_text_release(m);
	c360_yaml_free(m->y);
	free(m);
}

/* ---- small checks ---- */

static const char *str_of(const c360_json *v)
{
	return c360_json_is_string(v) ? c360_json_str(v, NULL) : NULL;
}

static bool valid_pointer(const char *p)
{
	if (p[0] != '/')
		return false;
	for (const char *c = p; *c; c++)
		if (*c == '~' && c[1] != '0' && c[1] != '1')
			return false;
	return true;
}

/* Checks every member key of obj against a NULL-terminated list. */
static c360_rc check_keys(c360_imap *m, const c360_json *obj, const char *what,
			  const char *const *allowed, char *err, size_t errlen)
{
	for (c360_json *c = c360_json_first(obj); c; c = c360_json_next(c)) {
		const char *k = c360_json_key(c, NULL);
		bool ok = false;
		for (const char *const *a = allowed; *a; a++)
			if (!strcmp(*a, k))
				ok = true;
		if (!ok) {
			char list[400] = "";
			size_t n = 0;
			for (const char *const *a = allowed; *a; a++) {
				int w = snprintf(list + n, sizeof list - n, "%s%s", n ? ", " : "", *a);
				if (w < 0 || (size_t)w >= sizeof list - n)
					break;
				n += (size_t)w;
			}
			return FAIL(c, "unknown key '%s' in %s (expected one of: %s)", k, what, list);
		}
	}
	return C360_OK;
}

/* ---- expressions ---- */

static const char *const expr_ops[] = {"concat", "join", "trim", "lower", "upper", "number",
				       "string", "nonempty", "literal", NULL};

static c360_rc parse_expr(c360_imap *m, const c360_json *v, int depth, struct imap_expr **out,
			  char *err, size_t errlen)
{
	*out = NULL;
	if (depth > 16)
		return FAIL(v, "expression nested too deeply");
	struct imap_expr *e = calloc(1, sizeof *e);
	if (!e)
		return C360_ERR_NOMEM;
	c360_rc rc = C360_OK;
	if (c360_json_is_string(v)) {
		const char *s = c360_json_str(v, NULL);
		if (s[0] == '/') {
			if (!valid_pointer(s)) {
				rc = FAIL(v, "bad JSON pointer '%s' (use ~0 for '~' and ~1 for '/')", s);
				goto out;
			}
			e->op = X_PTR;
			e->ptr = dupn(s, strlen(s));
			if (!e->ptr)
				rc = C360_ERR_NOMEM;
		} else {
			e->op = X_LIT;
			e->lit = v;
		}
		goto out;
	}
	if (c360_json_is_number(v) || c360_json_is_bool(v)) {
		e->op = X_LIT;
		e->lit = v;
		goto out;
	}
	if (!c360_json_is_object(v) || c360_json_len(v) != 1) {
		rc = FAIL(v, "expected a JSON pointer ('/a/b'), a literal, or one transform "
			     "{concat|join|trim|lower|upper|number|string|nonempty|literal: …}");
		goto out;
	}
	c360_json *arg = c360_json_first(v);
	const char *op = c360_json_key(arg, NULL);
	if ((rc = check_keys(m, v, "an expression", expr_ops, err, errlen)))
		goto out;
	if (!strcmp(op, "literal")) {
		e->op = X_LIT;
		e->lit = arg;
		goto out;
	}
	if (!strcmp(op, "concat")) {
		e->op = X_CONCAT;
		if (!c360_json_is_array(arg) || c360_json_len(arg) == 0) {
			rc = FAIL(arg, "concat takes a non-empty list of pointers and literals");
			goto out;
		}
		e->args = calloc(c360_json_len(arg), sizeof *e->args);
		if (!e->args) {
			rc = C360_ERR_NOMEM;
			goto out;
		}
		for (c360_json *a = c360_json_first(arg); a; a = c360_json_next(a)) {
			if ((rc = parse_expr(m, a, depth + 1, &e->args[e->nargs], err, errlen)))
				goto out;
			e->nargs++;
		}
		goto out;
	}
	if (!strcmp(op, "join")) {
		/* {join: {sep: " ", parts: [/firstName, /lastName]}} */
		static const char *const jkeys[] = {"sep", "parts", NULL};
		e->op = X_JOIN;
		c360_json *sep = c360_json_get(arg, "sep");
		c360_json *parts = c360_json_get(arg, "parts");
		if (!c360_json_is_object(arg) || !c360_json_is_array(parts) ||
		    !c360_json_len(parts) || (sep && !c360_json_is_string(sep))) {
			rc = FAIL(arg, "join takes {sep: \" \", parts: [pointers and literals]}");
			goto out;
		}
		if ((rc = check_keys(m, arg, "join", jkeys, err, errlen)))
			goto out;
		e->lit = sep;
		e->args = calloc(c360_json_len(parts), sizeof *e->args);
		if (!e->args) {
			rc = C360_ERR_NOMEM;
			goto out;
		}
		for (c360_json *a = c360_json_first(parts); a; a = c360_json_next(a)) {
			if ((rc = parse_expr(m, a, depth + 1, &e->args[e->nargs], err, errlen)))
				goto out;
			e->nargs++;
		}
		goto out;
	}
	e->op = !strcmp(op, "nonempty") ? X_NONEMPTY
		: !strcmp(op, "trim")    ? X_TRIM
		: !strcmp(op, "lower") ? X_LOWER
		: !strcmp(op, "upper") ? X_UPPER
		: !strcmp(op, "number") ? X_NUMBER
				       : X_STRING;
	e->args = calloc(1, sizeof *e->args);
	if (!e->args) {
		rc = C360_ERR_NOMEM;
		goto out;
	}
	if ((rc = parse_expr(m, arg, depth + 1, &e->args[0], err, errlen)))
		goto out;
	e->nargs = 1;
out:
	if (rc)
		expr_free(e);
	else
		*out = e;
	return rc;
}

/* ---- predicates: "/ptr == VALUE", "/ptr != VALUE", "/ptr present|absent|truthy" ---- */

static c360_rc parse_pred(c360_imap *m, const c360_json *v, struct imap_pred *p, char *err,
			  size_t errlen)
{
	const char *s = str_of(v);
	if (!s)
		return FAIL(v, "a predicate is a string: '/pointer == \"value\"', '/pointer != "
			       "value', '/pointer present', '/pointer absent' or '/pointer truthy'");
	while (*s == ' ')
		s++;
	const char *sp = s;
	while (*sp && *sp != ' ')
		sp++;
	if (s[0] != '/')
		return FAIL(v, "predicate '%s' must start with a JSON pointer ('/payload/op')", s);
	p->ptr = dupn(s, (size_t)(sp - s));
	if (!p->ptr)
		return C360_ERR_NOMEM;
	if (!valid_pointer(p->ptr))
		return FAIL(v, "bad JSON pointer '%s' in predicate", p->ptr);
	while (*sp == ' ')
		sp++;
	const char *rest = sp;
	size_t rlen = strlen(rest);
	while (rlen && rest[rlen - 1] == ' ')
		rlen--;
	if (rlen == 7 && !memcmp(rest, "present", 7)) {
		p->op = P_PRESENT;
		return C360_OK;
	}
	if (rlen == 6 && !memcmp(rest, "absent", 6)) {
		p->op = P_ABSENT;
		return C360_OK;
	}
	if (rlen == 6 && !memcmp(rest, "truthy", 6)) {
		p->op = P_TRUTHY;
		return C360_OK;
	}
	if (rlen >= 2 && (!memcmp(rest, "==", 2) || !memcmp(rest, "!=", 2))) {
		p->op = rest[0] == '=' ? P_EQ : P_NE;
		const char *val = rest + 2;
		size_t vlen = rlen - 2;
		while (vlen && *val == ' ') {
			val++;
			vlen--;
		}
		if (!vlen)
			return FAIL(v, "predicate '%s' has no value after '%.2s'", s, rest);
		c360_json_doc *tmp = NULL;
		struct c360_json_error je;
		if (c360_json_parse(val, vlen, NULL, &tmp, &je)) {
			/* a bare word is a string, like in YAML */
			bool word = true;
			for (size_t i = 0; i < vlen; i++)
				if (!isalnum((unsigned char)val[i]) && !strchr("_-.:@", val[i]))
					word = false;
			if (!word)
				return FAIL(v, "predicate value '%.*s' is not JSON (%s); quote strings: "
					       "== \"dbserver1\"", (int)vlen, val, je.reason);
			p->val = c360_json_new_str(c360_yaml_doc(m->y), val, vlen);
		} else {
			p->val = c360_json_copy(c360_yaml_doc(m->y), c360_json_doc_root(tmp));
			c360_json_doc_free(tmp);
		}
		if (!p->val)
			return C360_ERR_NOMEM;
		return C360_OK;
	}
	return FAIL(v, "predicate '%s': expected '== VALUE', '!= VALUE', 'present', 'absent' or "
		       "'truthy' after the pointer", s);
}

static c360_rc parse_preds(c360_imap *m, const c360_json *v, struct imap_pred **out, size_t *n,
			   char *err, size_t errlen)
{
	size_t cnt = c360_json_is_array(v) ? c360_json_len(v) : 1;
	if (c360_json_is_array(v) && cnt == 0)
		return FAIL(v, "empty predicate list");
	*out = calloc(cnt, sizeof **out);
	if (!*out)
		return C360_ERR_NOMEM;
	if (!c360_json_is_array(v)) {
		*n = 1;
		return parse_pred(m, v, &(*out)[0], err, errlen);
	}
	for (c360_json *c = c360_json_first(v); c; c = c360_json_next(c)) {
		c360_rc rc = parse_pred(m, c, &(*out)[*n], err, errlen);
		(*n)++;
		if (rc)
			return rc;
	}
	return C360_OK;
}

/* ---- fields (target layout and survivorship) ---- */

static bool valid_field_name(const char *s)
{
	/* dot path of JSON member names: "profile.address1", "loyaltyPoints" */
	if (!*s || *s == '.')
		return false;
	for (const char *c = s; *c; c++) {
		if (*c == '.' && (c[1] == '.' || c[1] == '\0'))
			return false;
		if ((unsigned char)*c < 0x20 || *c == '"' || *c == '\\')
			return false;
	}
	return true;
}

static int find_source(const c360_imap *m, const char *sys)
{
	for (size_t i = 0; i < m->nsources; i++)
		if (!strcmp(m->sources[i].system, sys))
			return (int)i;
	return -1;
}

static int find_field(const c360_imap *m, const char *name)
{
	for (size_t i = 0; i < m->nfields; i++)
		if (!strcmp(m->fields[i].name, name))
			return (int)i;
	return -1;
}

static c360_rc parse_prio(c360_imap *m, struct imap_field *f, const c360_json *list, char *err,
			  size_t errlen)
{
	if (!c360_json_is_array(list) || !c360_json_len(list))
		return FAIL(list, "priority is a non-empty list of source systems");
	f->prio = calloc(c360_json_len(list), sizeof *f->prio);
	if (!f->prio)
		return C360_ERR_NOMEM;
	for (c360_json *c = c360_json_first(list); c; c = c360_json_next(c)) {
		const char *sys = str_of(c);
		int idx = sys ? find_source(m, sys) : -1;
		if (idx < 0)
			return FAIL(c, "unknown source system '%s' in priority (declared: see "
				       "'sources')", sys ? sys : c360_json_type_name(c360_json_type(c)));
		for (size_t j = 0; j < f->nprio; j++)
			if (f->prio[j] == idx)
				return FAIL(c, "source system '%s' listed twice in priority", sys);
		f->prio[f->nprio++] = idx;
	}
	return C360_OK;
}

static c360_rc parse_rule(c360_imap *m, const c360_json *v, enum imap_rule *r, char *err,
			  size_t errlen)
{
	const char *s = str_of(v);
	if (s && !strcmp(s, "most_recent"))
		*r = R_MOST_RECENT;
	else if (s && !strcmp(s, "priority"))
		*r = R_PRIORITY;
	else
		return FAIL(v, "survivorship is 'most_recent' or 'priority'");
	return C360_OK;
}

static c360_rc parse_fields(c360_imap *m, const c360_json *v, char *err, size_t errlen)
{
	if (!c360_json_is_object(v) || !c360_json_len(v))
		return FAIL(v, "'fields' maps each profile field (\"profile.name\") to its "
			       "survivorship: most_recent, a priority list, or {survivorship, priority}");
	m->fields = calloc(c360_json_len(v), sizeof *m->fields);
	if (!m->fields)
		return C360_ERR_NOMEM;
	static const char *const fkeys[] = {"survivorship", "priority", NULL};
	for (c360_json *c = c360_json_first(v); c; c = c360_json_next(c)) {
		size_t klen;
		const char *name = c360_json_key(c, &klen);
		struct imap_field *f = &m->fields[m->nfields++];
		f->rule = m->default_rule;
		f->name = dupn(name, klen);
		if (!f->name)
			return C360_ERR_NOMEM;
		if (!valid_field_name(name))
			return FAIL(c, "bad field name '%s' (a dot path such as profile.address1)", name);
		if (!strcmp(name, m->xref_field) || !strcmp(name, m->lineage_field) ||
		    c360_json_get(m->constants, name))
			return FAIL(c, "field '%s' clashes with the xrefs, lineage or a constant member",
				    name);
		/* a field may not be both a leaf and a parent of another */
		for (size_t j = 0; j + 1 < m->nfields; j++) {
			const char *o = m->fields[j].name;
			size_t ol = strlen(o);
			if ((ol < klen && !strncmp(o, name, ol) && name[ol] == '.') ||
			    (klen < ol && !strncmp(o, name, klen) && o[klen] == '.'))
				return FAIL(c, "field '%s' overlaps field '%s'", name, o);
		}
		if (c360_json_is_null(c))
			continue;
		if (c360_json_is_string(c)) {
			c360_rc rc = parse_rule(m, c, &f->rule, err, errlen);
			if (rc)
				return rc;
			if (f->rule == R_PRIORITY)
				return FAIL(c, "priority needs a list of systems: %s: [a, b]", name);
			continue;
		}
		if (c360_json_is_array(c)) {
			f->rule = R_PRIORITY;
			c360_rc rc = parse_prio(m, f, c, err, errlen);
			if (rc)
				return rc;
			continue;
		}
		if (!c360_json_is_object(c))
			return FAIL(c, "field '%s': expected most_recent, a priority list or "
				       "{survivorship, priority}", name);
		c360_rc rc = check_keys(m, c, "a field", fkeys, err, errlen);
		if (rc)
			return rc;
		c360_json *sv = c360_json_get(c, "survivorship");
		c360_json *pr = c360_json_get(c, "priority");
		if (sv && (rc = parse_rule(m, sv, &f->rule, err, errlen)))
			return rc;
		if (!sv && pr)
			f->rule = R_PRIORITY;
		if (pr && (rc = parse_prio(m, f, pr, err, errlen)))
			return rc;
		if (f->rule == R_PRIORITY && !pr)
			return FAIL(c, "field '%s': survivorship priority needs 'priority: [systems]'",
				    name);
	}
	return C360_OK;
}

/* ---- sources ---- */

static c360_rc parse_ts(c360_imap *m, struct imap_source *s, const c360_json *v, char *err,
			size_t errlen)
{
	const char *str = str_of(v);
	s->ts_unit = U_MS;
	if (str && !strcmp(str, "none")) {
		s->ts_kind = TS_NONE;
		return C360_OK;
	}
	if (str && !strcmp(str, "cas")) {
		s->ts_kind = TS_CAS;
		return C360_OK;
	}
	const c360_json *pv = v;
	if (c360_json_is_object(v)) {
		static const char *const tkeys[] = {"pointer", "unit", NULL};
		c360_rc rc = check_keys(m, v, "timestamp", tkeys, err, errlen);
		if (rc)
			return rc;
		pv = c360_json_get(v, "pointer");
		c360_json *u = c360_json_get(v, "unit");
		if (u) {
			const char *us = str_of(u);
			if (us && !strcmp(us, "s"))
				s->ts_unit = U_S;
			else if (us && !strcmp(us, "ms"))
				s->ts_unit = U_MS;
			else if (us && !strcmp(us, "us"))
				s->ts_unit = U_US;
			else if (us && !strcmp(us, "ns"))
				s->ts_unit = U_NS;
			else if (us && !strcmp(us, "iso8601"))
				s->ts_unit = U_ISO;
			else
				return FAIL(u, "timestamp unit is s, ms, us, ns or iso8601");
		}
		if (!pv)
			return FAIL(v, "timestamp needs 'pointer'");
	}
	const char *p = str_of(pv);
	if (!p || !valid_pointer(p))
		return FAIL(pv, "timestamp is a JSON pointer (/payload/source/ts_ms), "
				"{pointer, unit}, 'cas' or 'none'");
	s->ts_kind = TS_POINTER;
	s->ts_ptr = dupn(p, strlen(p));
	return s->ts_ptr ? C360_OK : C360_ERR_NOMEM;
}

static c360_rc parse_online(c360_imap *m, struct imap_source *s, const c360_json *v, char *err,
			    size_t errlen)
{
	static const char *const okeys[] = {"url", "refresh", "order_prefix", NULL};
	if (!c360_json_is_object(v))
		return FAIL(v, "online_store is a mapping {url, refresh, order_prefix}");
	c360_rc rc = check_keys(m, v, "online_store", okeys, err, errlen);
	if (rc)
		return rc;
	s->online = true;
	s->refresh_s = 3600;
	c360_json *u = c360_json_get(v, "url");
	if (u) {
		const char *us = str_of(u);
		if (!us || (strncmp(us, "http://", 7) && strncmp(us, "https://", 8)))
			return FAIL(u, "online_store url must start with http:// or https://");
		s->url = dupn(us, strlen(us));
		if (!s->url)
			return C360_ERR_NOMEM;
	}
	c360_json *r = c360_json_get(v, "refresh");
	if (r) {
		int64_t secs;
		const char *rs = str_of(r);
		if (c360_json_int64(r, &secs) && secs >= 0)
			s->refresh_s = secs;
		else if (rs && c360_parse_duration(rs, &secs))
			s->refresh_s = secs;
		else
			return FAIL(r, "refresh is a duration: 90s, 30m, 1h, 2d (0 = every time)");
	}
	c360_json *op = c360_json_get(v, "order_prefix");
	if (op) {
		const char *ps = str_of(op);
		if (!ps || strlen(ps) > 64)
			return FAIL(op, "order_prefix is a string of at most 64 bytes");
		snprintf(m->order_prefix, sizeof m->order_prefix, "%s", ps);
	}
	return C360_OK;
}

static c360_rc parse_source(c360_imap *m, struct imap_source *s, const c360_json *v, char *err,
			    size_t errlen)
{
	static const char *const skeys[] = {"system", "root", "match", "delete_when", "identity",
					    "delete_identity", "external_id", "delete_external_id",
					    "timestamp", "secret", "fields", "online_store", NULL};
	if (!c360_json_is_object(v))
		return FAIL(v, "each source is a mapping with at least system, match and identity");
	c360_rc rc = check_keys(m, v, "a source", skeys, err, errlen);
	if (rc)
		return rc;
	c360_json *sys = c360_json_get(v, "system");
	const char *ss = str_of(sys);
	if (!ss || !*ss || strlen(ss) > 64)
		return FAIL(sys ? sys : v, "a source needs 'system': its name in xrefs "
					   "(home_delivery), at most 64 bytes");
	s->system = dupn(ss, strlen(ss));
	if (!s->system)
		return C360_ERR_NOMEM;
	c360_json *on = c360_json_get(v, "online_store");
	if (on && (rc = parse_online(m, s, on, err, errlen)))
		return rc;
	c360_json *root = c360_json_get(v, "root");
	size_t nr = !root ? 1 : c360_json_is_array(root) ? c360_json_len(root) : 1;
	if (!nr || nr > 8)
		return FAIL(root, "root is a JSON pointer or a list of up to 8 (\"\" = the document)");
	s->roots = calloc(nr, sizeof *s->roots);
	if (!s->roots)
		return C360_ERR_NOMEM;
	for (size_t i = 0; i < nr; i++) {
		const c360_json *r = !root ? NULL : c360_json_is_array(root) ? c360_json_at(root, i)
									     : root;
		const char *rs = r ? str_of(r) : "";
		if (!rs || (*rs && !valid_pointer(rs)))
			return FAIL(r, "root is a JSON pointer (/payload) or \"\" for the document "
				       "itself");
		s->roots[s->nroots++] = dupn(rs, strlen(rs));
		if (!s->roots[s->nroots - 1])
			return C360_ERR_NOMEM;
	}
	c360_json *match = c360_json_get(v, "match");
	if (!match && !s->online)
		return FAIL(v, "source '%s' needs 'match': predicates that recognise its staging "
			       "documents", ss);
	if (match && (rc = parse_preds(m, match, &s->match, &s->nmatch, err, errlen)))
		return rc;
	c360_json *dw = c360_json_get(v, "delete_when");
	if (dw && (rc = parse_preds(m, dw, &s->del_when, &s->ndel, err, errlen)))
		return rc;
	c360_json *id = c360_json_get(v, "identity");
	if (!id)
		return FAIL(v, "source '%s' needs 'identity': where its email is (/payload/after/email)",
			    ss);
	if ((rc = parse_expr(m, id, 0, &s->identity, err, errlen)))
		return rc;
	c360_json *did = c360_json_get(v, "delete_identity");
	if (did && (rc = parse_expr(m, did, 0, &s->del_identity, err, errlen)))
		return rc;
	c360_json *ext = c360_json_get(v, "external_id");
	if (!ext)
		return FAIL(v, "source '%s' needs 'external_id': its own id for the xref", ss);
	if ((rc = parse_expr(m, ext, 0, &s->ext_id, err, errlen)))
		return rc;
	c360_json *dext = c360_json_get(v, "delete_external_id");
	if (dext && (rc = parse_expr(m, dext, 0, &s->del_ext_id, err, errlen)))
		return rc;
	c360_json *ts = c360_json_get(v, "timestamp");
	if (ts && (rc = parse_ts(m, s, ts, err, errlen)))
		return rc;
	if (!ts)
		s->ts_kind = s->online ? TS_FETCH : TS_NONE;
	c360_json *sec = c360_json_get(v, "secret");
	if (sec && (rc = parse_expr(m, sec, 0, &s->secret, err, errlen)))
		return rc;
	c360_json *f = c360_json_get(v, "fields");
	if (f) {
		if (!c360_json_is_object(f))
			return FAIL(f, "a source's fields map profile fields to expressions "
				       "(profile.address1: /payload/after/address_line_1)");
		s->maps = calloc(c360_json_len(f) + 1, sizeof *s->maps);
		if (!s->maps)
			return C360_ERR_NOMEM;
		for (c360_json *c = c360_json_first(f); c; c = c360_json_next(c)) {
			const char *name = c360_json_key(c, NULL);
			int fi = find_field(m, name);
			if (fi < 0)
				return FAIL(c, "field '%s' of source '%s' is not declared in the "
					       "top-level 'fields'", name, ss);
			struct imap_map *mp = &s->maps[s->nmaps++];
			mp->field = fi;
			if ((rc = parse_expr(m, c, 0, &mp->e, err, errlen)))
				return rc;
		}
	}
	return C360_OK;
}

/* ---- the whole file ---- */

static c360_rc bucket_opt(c360_imap *m, const c360_json *root, const char *key, char *dst,
			  size_t dstlen, const char *def, char *err, size_t errlen)
{
	c360_json *v = c360_json_get(root, key);
	const char *s = v ? str_of(v) : def;
	if (!s)
		return FAIL(v, "'%s' is a bucket name", key);
	size_t n = strlen(s);
	if (!n || n > C360_BUCKET_NAME_MAX || s[0] == '.' || s[0] == '_')
		return FAIL(v, "'%s': bad bucket name '%s'", key, s);
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("_.%-", s[i]))
			return FAIL(v, "'%s': bad bucket name '%s'", key, s);
	snprintf(dst, dstlen, "%s", s);
	return C360_OK;
}

static c360_rc name_opt(c360_imap *m, const c360_json *root, const char *key, char *dst,
			size_t dstlen, const char *def, bool allow_false, char *err, size_t errlen)
{
	c360_json *v = c360_json_get(root, key);
	if (!v) {
		snprintf(dst, dstlen, "%s", def);
		return C360_OK;
	}
	if (allow_false && c360_json_type(v) == C360_JSON_FALSE) {
		dst[0] = '\0';
		return C360_OK;
	}
	const char *s = str_of(v);
	if (!s || !*s || strlen(s) >= dstlen)
		return FAIL(v, "'%s' is a member name%s", key, allow_false ? " or false" : "");
	snprintf(dst, dstlen, "%s", s);
	return C360_OK;
}

static c360_rc parse_root(c360_imap *m, char *err, size_t errlen)
{
	static const char *const rkeys[] = {"version", "source_bucket", "target_bucket",
					    "metadata_bucket", "document", "xref", "lineage",
					    "secrets", "survivorship", "fields", "sources", NULL};
	c360_json *root = c360_yaml_root(m->y);
	if (!c360_json_is_object(root))
		return FAIL(root, "a mapping file is a YAML mapping with 'fields' and 'sources'");
	c360_rc rc = check_keys(m, root, "the mapping", rkeys, err, errlen);
	if (rc)
		return rc;
	c360_json *ver = c360_json_get(root, "version");
	int64_t vn;
	if (ver && (!c360_json_int64(ver, &vn) || vn != 1))
		return FAIL(ver, "unsupported mapping version (this c360 reads version 1)");
	if ((rc = bucket_opt(m, root, "source_bucket", m->source_bucket, sizeof m->source_bucket,
			     "staging", err, errlen)) ||
	    (rc = bucket_opt(m, root, "target_bucket", m->target_bucket, sizeof m->target_bucket,
			     "customer360", err, errlen)) ||
	    (rc = bucket_opt(m, root, "metadata_bucket", m->metadata_bucket,
			     sizeof m->metadata_bucket, "customer360_metadata", err, errlen)))
		return rc;
	if (!strcmp(m->source_bucket, m->target_bucket))
		return FAIL(c360_json_get(root, "target_bucket"),
			    "target_bucket must differ from source_bucket");
	c360_json *doc = c360_json_get(root, "document");
	if (doc && !c360_json_is_object(doc))
		return FAIL(doc, "'document' holds constant members of every customer document "
				 "(type: user)");
	m->constants = doc;
	c360_json *xr = c360_json_get(root, "xref");
	snprintf(m->xref_field, sizeof m->xref_field, "xrefs");
	snprintf(m->xref_system, sizeof m->xref_system, "external_system");
	snprintf(m->xref_id, sizeof m->xref_id, "external_ID");
	snprintf(m->xref_secret, sizeof m->xref_secret, "pass");
	snprintf(m->xref_email, sizeof m->xref_email, "email");
	if (xr) {
		static const char *const xkeys[] = {"field", "system", "id", "secret", "email", NULL};
		if (!c360_json_is_object(xr))
			return FAIL(xr, "'xref' names the xref members {field, system, id, secret, "
					"email}");
		if ((rc = check_keys(m, xr, "xref", xkeys, err, errlen)) ||
		    (rc = name_opt(m, xr, "field", m->xref_field, sizeof m->xref_field, "xrefs",
				   false, err, errlen)) ||
		    (rc = name_opt(m, xr, "system", m->xref_system, sizeof m->xref_system,
				   "external_system", false, err, errlen)) ||
		    (rc = name_opt(m, xr, "id", m->xref_id, sizeof m->xref_id, "external_ID",
				   false, err, errlen)) ||
		    (rc = name_opt(m, xr, "secret", m->xref_secret, sizeof m->xref_secret, "pass",
				   false, err, errlen)) ||
		    (rc = name_opt(m, xr, "email", m->xref_email, sizeof m->xref_email, "email",
				   true, err, errlen)))
			return rc;
	}
	if ((rc = name_opt(m, root, "lineage", m->lineage_field, sizeof m->lineage_field,
			   "lineage", true, err, errlen)))
		return rc;
	if (c360_json_get(m->constants, m->xref_field) ||
	    (m->lineage_field[0] && c360_json_get(m->constants, m->lineage_field)))
		return FAIL(doc, "'document' may not set the xrefs or lineage member");

	c360_json *sec = c360_json_get(root, "secrets");
	m->secrets = C360_SECRETS_HASH;
	if (sec) {
		const c360_json *mode = sec;
		if (c360_json_is_object(sec)) {
			static const char *const seckeys[] = {"mode", "key", "key_env", NULL};
			if ((rc = check_keys(m, sec, "secrets", seckeys, err, errlen)))
				return rc;
			mode = c360_json_get(sec, "mode");
			c360_json *k = c360_json_get(sec, "key");
			c360_json *ke = c360_json_get(sec, "key_env");
			if (k) {
				const char *ks = str_of(k);
				if (!ks || strlen(ks) < 16)
					return FAIL(k, "secrets key must be a string of at least 16 bytes "
						       "(better: key_env)");
				m->secret_key = dupn(ks, strlen(ks));
				if (!m->secret_key)
					return C360_ERR_NOMEM;
			}
			if (ke) {
				const char *ks = str_of(ke);
				if (!ks || !*ks)
					return FAIL(ke, "key_env names an environment variable");
				m->secret_key_env = dupn(ks, strlen(ks));
				if (!m->secret_key_env)
					return C360_ERR_NOMEM;
			}
		}
		if (mode) {
			const char *ms = str_of(mode);
			if (ms && !strcmp(ms, "hash"))
				m->secrets = C360_SECRETS_HASH;
			else if (ms && !strcmp(ms, "drop"))
				m->secrets = C360_SECRETS_DROP;
			else if (ms && !strcmp(ms, "plain"))
				m->secrets = C360_SECRETS_PLAIN;
			else
				return FAIL(mode, "secrets mode is hash (default), drop or plain (unsafe)");
		}
	}
	m->default_rule = R_MOST_RECENT;
	c360_json *sv = c360_json_get(root, "survivorship");
	if (sv && (rc = parse_rule(m, sv, &m->default_rule, err, errlen)))
		return rc;
	if (m->default_rule == R_PRIORITY)
		return FAIL(sv, "the default survivorship is most_recent; give priority lists per "
				"field");

	/* sources first (fields refer to them by name), then fields, then the
	 * sources' field maps (which refer to fields) */
	c360_json *srcs = c360_json_get(root, "sources");
	if (!c360_json_is_array(srcs) || !c360_json_len(srcs))
		return FAIL(srcs ? srcs : root, "'sources' is a non-empty list of source systems");
	if (c360_json_len(srcs) > 64)
		return FAIL(srcs, "at most 64 sources");
	m->sources = calloc(c360_json_len(srcs), sizeof *m->sources);
	if (!m->sources)
		return C360_ERR_NOMEM;
	m->online = -1;
	/* pass 1: names, so priority lists can refer to any source */
	for (c360_json *c = c360_json_first(srcs); c; c = c360_json_next(c)) {
		c360_json *sys = c360_json_is_object(c) ? c360_json_get(c, "system") : NULL;
		const char *ss = str_of(sys);
		if (!ss || !*ss || strlen(ss) > 64)
			return FAIL(sys ? sys : c, "a source needs 'system': its name in xrefs "
						   "(home_delivery), at most 64 bytes");
		if (find_source(m, ss) >= 0)
			return FAIL(sys, "source system '%s' declared twice", ss);
		struct imap_source *s = &m->sources[m->nsources++];
		s->system = dupn(ss, strlen(ss));
		if (!s->system)
			return C360_ERR_NOMEM;
	}
	c360_json *fields = c360_json_get(root, "fields");
	if (!fields)
		return FAIL(root, "missing 'fields': the profile fields and their survivorship");
	if ((rc = parse_fields(m, fields, err, errlen)))
		return rc;
	size_t i = 0;
	for (c360_json *c = c360_json_first(srcs); c; c = c360_json_next(c), i++) {
		struct imap_source *s = &m->sources[i];
		free(s->system);
		s->system = NULL;
		if ((rc = parse_source(m, s, c, err, errlen)))
			return rc;
		if (s->online) {
			if (m->online >= 0)
				return FAIL(c, "only one source may be the online_store");
			m->online = (int)i;
		}
	}
	return C360_OK;
}

/* ---- the root members a staging document is read through ---- */

struct keepset {
	char **v;
	size_t n, cap;
	bool all; /* a pointer to the whole document */
};

/* Adds the first segment of pointer `ptr` below root (root "" = the
 * document, else the root's own first segment is what is read). */
static c360_rc keep_add(struct keepset *k, const char *root, const char *ptr)
{
	const char *p = root && *root ? root : ptr;
	if (!p || !*p) {
		k->all = true;
		return C360_OK;
	}
	p++; /* the leading '/' */
	size_t n = strcspn(p, "/");
	char *seg = malloc(n + 1);
	if (!seg)
		return C360_ERR_NOMEM;
	if (c360_json_ptr_token(&p, seg, n + 1) == (size_t)-1) {
		free(seg); /* not after the load's pointer checks; to be safe, keep everything */
		k->all = true;
		return C360_OK;
	}
	for (size_t i = 0; i < k->n; i++) {
		if (!strcmp(k->v[i], seg)) {
			free(seg);
			return C360_OK;
		}
	}
	if (k->n == k->cap) {
		size_t cap = k->cap ? k->cap * 2 : 16;
		char **nv = realloc(k->v, cap * sizeof *nv);
		if (!nv) {
			free(seg);
			return C360_ERR_NOMEM;
		}
		k->v = nv;
		k->cap = cap;
	}
	k->v[k->n++] = seg;
	return C360_OK;
}

static c360_rc keep_expr(struct keepset *k, const char *root, const struct imap_expr *e)
{
	if (!e)
		return C360_OK;
	c360_rc rc = e->op == X_PTR ? keep_add(k, root, e->ptr) : C360_OK;
	for (size_t i = 0; !rc && i < e->nargs; i++)
		rc = keep_expr(k, root, e->args[i]);
	return rc;
}

static c360_rc keep_source(struct keepset *k, const char *root, const struct imap_source *s)
{
	c360_rc rc = C360_OK;
	if (root && *root)
		return keep_add(k, root, NULL);
	for (size_t i = 0; !rc && i < s->nmatch; i++)
		rc = keep_add(k, root, s->match[i].ptr);
	for (size_t i = 0; !rc && i < s->ndel; i++)
		rc = keep_add(k, root, s->del_when[i].ptr);
	const struct imap_expr *ex[] = {s->identity, s->del_identity, s->ext_id, s->del_ext_id,
					s->secret};
	for (size_t i = 0; !rc && i < sizeof ex / sizeof ex[0]; i++)
		rc = keep_expr(k, root, ex[i]);
	if (!rc && s->ts_kind == TS_POINTER)
		rc = keep_add(k, root, s->ts_ptr);
	for (size_t i = 0; !rc && i < s->nmaps; i++)
		rc = keep_expr(k, root, s->maps[i].e);
	return rc;
}

/* Sets m->keep: what c360_imap_extract may read of a staging document. */
static c360_rc keep_build(c360_imap *m)
{
	struct keepset k = {0};
	c360_rc rc = C360_OK;
	for (size_t i = 0; !rc && i < m->nsources; i++) {
		const struct imap_source *s = &m->sources[i];
		for (size_t r = 0; !rc && r < s->nroots; r++)
			rc = keep_source(&k, s->roots[r], s);
		if (!rc && !s->nroots)
			rc = keep_source(&k, "", s);
	}
	if (rc || k.all) {
		for (size_t i = 0; i < k.n; i++)
			free(k.v[i]);
		free(k.v);
		return rc;
	}
	m->keep = k.v;
	m->nkeep = k.n;
	return C360_OK;
}

const char *const *c360_imap_root_members(const c360_imap *m, size_t *n)
{
	*n = m->nkeep;
	return (const char *const *)m->keep;
}

c360_rc c360_imap_load(const char *name, const char *text, size_t len, c360_imap **out,
		       char *err, size_t errlen)
{
	*out = NULL;
	c360_imap *m = calloc(1, sizeof *m);
	if (!m)
		return C360_ERR_NOMEM;
	snprintf(m->order_prefix, sizeof m->order_prefix, "order::");
	c360_rc rc = c360_yaml_load_string(name, text, len, &m->y, err, errlen);
	if (rc)
		goto out;
	rc = parse_root(m, err, errlen);
	if (!rc)
		rc = keep_build(m);
	if (!rc)
		c360_imap_check_layout(m);
out:
	if (rc) {
		if (rc == C360_ERR_NOMEM)
			snprintf(err, errlen, "%s: out of memory", name);
		c360_imap_free(m);
		return rc;
	}
	*out = m;
	return C360_OK;
}

c360_rc c360_imap_load_file(const char *path, c360_imap **out, char *err, size_t errlen)
{
	*out = NULL;
	struct c360_buf b;
	c360_buf_init(&b, C360_IMAP_FILE_MAX);
	c360_rc rc = c360_buf_read_file(&b, path);
	if (rc) {
		if (rc == C360_ERR_TOO_BIG)
			snprintf(err, errlen, "cannot read '%s': larger than 1 MiB", path);
		else
			snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
		c360_buf_release(&b);
		return rc;
	}
	rc = c360_imap_load(path, c360_buf_cstr(&b), b.len, out, err, errlen);
	c360_buf_release(&b);
	return rc;
}

/* ---- accessors ---- */

const char *c360_imap_source_bucket(const c360_imap *m) { return m->source_bucket; }
const char *c360_imap_target_bucket(const c360_imap *m) { return m->target_bucket; }
const char *c360_imap_metadata_bucket(const c360_imap *m) { return m->metadata_bucket; }
enum c360_imap_secrets c360_imap_secrets_mode(const c360_imap *m) { return m->secrets; }
size_t c360_imap_source_count(const c360_imap *m) { return m->nsources; }
const char *c360_imap_source_system(const c360_imap *m, size_t i)
{
	return i < m->nsources ? m->sources[i].system : NULL;
}
const char *c360_imap_source_ts_pointer(const c360_imap *m, size_t i)
{
	return i < m->nsources && m->sources[i].ts_kind == TS_POINTER ? m->sources[i].ts_ptr : NULL;
}
int c360_imap_online_source(const c360_imap *m) { return m->online; }
const char *c360_imap_online_url(const c360_imap *m)
{
	const char *env = getenv("C360_ONLINE_STORE_URL");
	if (env && *env)
		return env;
	return m->online >= 0 ? m->sources[m->online].url : NULL;
}
int64_t c360_imap_online_refresh(const c360_imap *m)
{
	return m->online >= 0 ? m->sources[m->online].refresh_s : 0;
}
const char *c360_imap_order_prefix(const c360_imap *m) { return m->order_prefix; }
