/* Eventing's REST shape (Couchbase's port-8096 API) on c360's HTTP router:
 * function definitions, lifecycle, status and stats. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "eventing/eventing.h"
#include "serve/http.h"
#include "core/banned.h"

static int status_of(c360_rc rc)
{
	switch (rc) {
	case C360_OK: return 200;
	case C360_ERR_NOT_FOUND: return 404;
	case C360_ERR_EXISTS:
	case C360_ERR_STATE: return 409;
	case C360_ERR_INVALID:
	case C360_ERR_TOO_BIG:
	case C360_ERR_UNSUPPORTED: return 400;
	default: return 500;
	}
}

static void reply_rc(struct c360_http_resp *resp, c360_rc rc, const char *err)
{
	c360_http_error(resp, status_of(rc), c360_rc_str(rc), "%s", err && *err ? err : c360_rc_str(rc));
}

static void ok_msg(struct c360_http_resp *resp, const char *name, const char *what)
{
	c360_buf_puts(&resp->body, "{\"name\":");
	c360_json_write_string(name, strlen(name), &resp->body);
	c360_buf_printf(&resp->body, ",\"result\":\"%s\"}", what);
}

/* GET /api/v1/functions: every definition as exported JSON */
static void list_functions(const struct c360_http_req *req, struct c360_http_resp *resp, void *ctx)
{
	c360_store *st = ctx;
	struct c360_buf names;
	c360_json_doc *doc = NULL;
	c360_buf_init(&names, 0);
	c360_rc rc = c360_fn_list(st, &names);
	if (!rc)
		rc = c360_json_parse(names.data, names.len, NULL, &doc, NULL);
	if (rc) {
		reply_rc(resp, rc, NULL);
		goto out;
	}
	c360_buf_putc(&resp->body, '[');
	int n = 0;
	for (c360_json *e = c360_json_first(c360_json_doc_root(doc)); e; e = c360_json_next(e)) {
		struct c360_fn_def def;
		if (c360_fn_load(st, c360_json_str(e, NULL), &def, NULL, NULL) == C360_OK) {
			if (n++)
				c360_buf_putc(&resp->body, ',');
			c360_fn_def_write(&def, &resp->body);
		}
		c360_fn_def_release(&def);
	}
	c360_buf_putc(&resp->body, ']');
out:
	c360_json_doc_free(doc);
	c360_buf_release(&names);
}

static void get_function(const struct c360_http_req *req, struct c360_http_resp *resp, void *ctx)
{
	struct c360_fn_def def;
	const char *name = c360_http_param(req, "name");
	c360_rc rc = c360_fn_load(ctx, name, &def, NULL, NULL);
	if (rc)
		c360_http_error(resp, status_of(rc), "ERR_APP_NOT_FOUND_TS", "function '%s' not found", name);
	else
		c360_fn_def_write(&def, &resp->body);
	c360_fn_def_release(&def);
}

/* POST /api/v1/functions/{name} (one definition) or /api/v1/functions (an
 * import: one or an array). Saved undeployed; settings.deployment_status true
 * deploys at once, as in Couchbase. */
static void post_function(const struct c360_http_req *req, struct c360_http_resp *resp, void *ctx)
{
	c360_store *st = ctx;
	const char *name = c360_http_param(req, "name");
	char err[1024] = "";
	c360_json_doc *doc = NULL;
	struct c360_json_error je;
	if (!req->body || c360_json_parse(req->body, req->body_len, NULL, &doc, &je)) {
		char where[160] = "empty body";
		if (req->body)
			c360_json_error_str(&je, where, sizeof where);
		c360_http_error(resp, 400, "ERR_UNMARSHAL_PLD", "body is not a function definition: %s", where);
		return;
	}
	c360_json *root = c360_json_doc_root(doc);
	size_t count = c360_json_is_array(root) ? c360_json_len(root) : 1;
	c360_buf_putc(&resp->body, '[');
	for (size_t i = 0; i < count; i++) {
		c360_json *one = c360_json_is_array(root) ? c360_json_at(root, i) : root;
		char *text = c360_json_write_str(one, C360_JSON_COMPACT, NULL);
		struct c360_fn_def def;
		c360_rc rc = text ? c360_fn_def_parse(text, strlen(text), &def, err, sizeof err) : C360_ERR_NOMEM;
		free(text);
		if (!rc && name && strcmp(name, def.name)) {
			snprintf(err, sizeof err, "appname '%s' differs from the path's '%s'", def.name, name);
			rc = C360_ERR_INVALID;
		}
		bool deploy = c360_json_bool(c360_json_get(c360_json_get(one, "settings"), "deployment_status"));
		if (!rc)
			rc = deploy ? c360_fn_deploy(st, &def, err, sizeof err) : c360_fn_define(st, &def, err, sizeof err);
		if (rc) {
			c360_buf_reset(&resp->body);
			reply_rc(resp, rc, err);
			c360_fn_def_release(&def);
			c360_json_doc_free(doc);
			return;
		}
		if (i)
			c360_buf_putc(&resp->body, ',');
		ok_msg(resp, def.name, deploy ? "deployed" : "saved");
		c360_fn_def_release(&def);
	}
	c360_buf_putc(&resp->body, ']');
	c360_json_doc_free(doc);
}

static void delete_function(const struct c360_http_req *req, struct c360_http_resp *resp, void *ctx)
{
	char err[512] = "";
	const char *name = c360_http_param(req, "name");
	c360_rc rc = c360_fn_delete(ctx, name, err, sizeof err);
	if (rc)
		reply_rc(resp, rc, err);
	else
		ok_msg(resp, name, "deleted");
}

static void lifecycle(const struct c360_http_req *req, struct c360_http_resp *resp, c360_store *st,
		      const char *verb)
{
	char err[1024] = "";
	const char *name = c360_http_param(req, "name");
	c360_rc rc;
	if (!strcmp(verb, "deploy")) {
		struct c360_fn_def def;
		enum c360_fn_state s;
		rc = c360_fn_load(st, name, &def, &s, NULL);
		if (rc)
			snprintf(err, sizeof err, "function '%s' not found", name);
		else if (s != C360_FN_UNDEPLOYED) {
			snprintf(err, sizeof err, "function '%s' is %s already", name, c360_fn_state_str(s));
			rc = C360_ERR_STATE;
		} else
			rc = c360_fn_deploy(st, &def, err, sizeof err);
		c360_fn_def_release(&def);
	} else {
		rc = c360_fn_set_state(st, name,
				       !strcmp(verb, "pause") ? C360_FN_PAUSED
				       : !strcmp(verb, "resume") ? C360_FN_DEPLOYED
								  : C360_FN_UNDEPLOYED,
				       err, sizeof err);
	}
	if (rc)
		reply_rc(resp, rc, err);
	else
		ok_msg(resp, name, !strcmp(verb, "deploy") ? "deployed" : !strcmp(verb, "pause") ? "paused"
				   : !strcmp(verb, "resume") ? "resumed" : "undeployed");
}

static void do_deploy(const struct c360_http_req *q, struct c360_http_resp *r, void *c) { lifecycle(q, r, c, "deploy"); }
static void do_undeploy(const struct c360_http_req *q, struct c360_http_resp *r, void *c) { lifecycle(q, r, c, "undeploy"); }
static void do_pause(const struct c360_http_req *q, struct c360_http_resp *r, void *c) { lifecycle(q, r, c, "pause"); }
static void do_resume(const struct c360_http_req *q, struct c360_http_resp *r, void *c) { lifecycle(q, r, c, "resume"); }

/* Appends each function's c360_fn_status object as elements (no brackets)
 * through fn, which may reshape it. */
static c360_rc each_status(c360_store *st, struct c360_buf *out,
			   void (*fn)(const c360_json *status, struct c360_buf *out))
{
	struct c360_buf names, one;
	c360_json_doc *doc = NULL;
	c360_buf_init(&names, 0);
	c360_buf_init(&one, 0);
	c360_rc rc = c360_fn_list(st, &names);
	if (!rc)
		rc = c360_json_parse(names.data, names.len, NULL, &doc, NULL);
	int n = 0;
	for (c360_json *e = rc ? NULL : c360_json_first(c360_json_doc_root(doc)); e; e = c360_json_next(e)) {
		c360_json_doc *sd = NULL;
		c360_buf_reset(&one);
		if (c360_fn_status(st, c360_json_str(e, NULL), &one) ||
		    c360_json_parse(one.data, one.len, NULL, &sd, NULL))
			continue;
		if (n++)
			c360_buf_putc(out, ',');
		fn(c360_json_doc_root(sd), out);
		c360_json_doc_free(sd);
	}
	c360_json_doc_free(doc);
	c360_buf_release(&names);
	c360_buf_release(&one);
	return rc;
}

static void status_app(const c360_json *s, struct c360_buf *out)
{
	const char *state = c360_json_str(c360_json_get(s, "state"), NULL);
	size_t nl;
	const char *name = c360_json_str(c360_json_get(s, "name"), &nl);
	bool dep = state && strcmp(state, "undeployed");
	c360_buf_puts(out, "{\"name\":");
	c360_json_write_string(name ? name : "", name ? nl : 0, out);
	c360_buf_printf(out,
			",\"composite_status\":\"%s\",\"num_deployed_nodes\":%d,\"deployment_status\":%s,"
			"\"processing_status\":%s}",
			state ? state : "undeployed", dep ? 1 : 0, dep ? "true" : "false",
			state && !strcmp(state, "deployed") ? "true" : "false");
}

static void get_status(const struct c360_http_req *req, struct c360_http_resp *resp, void *ctx)
{
	c360_buf_puts(&resp->body, "{\"apps\":[");
	c360_rc rc = each_status(ctx, &resp->body, status_app);
	if (rc) {
		c360_buf_reset(&resp->body);
		reply_rc(resp, rc, NULL);
		return;
	}
	c360_buf_puts(&resp->body, "],\"num_eventing_nodes\":1}");
}

static void stats_app(const c360_json *s, struct c360_buf *out)
{
	size_t nl;
	const char *name = c360_json_str(c360_json_get(s, "name"), &nl);
	c360_buf_puts(out, "{\"function_name\":");
	c360_json_write_string(name ? name : "", name ? nl : 0, out);
	c360_buf_puts(out, ",\"execution_stats\":");
	const c360_json *st = c360_json_get(s, "stats");
	if (st)
		c360_json_write(st, C360_JSON_COMPACT, out);
	else
		c360_buf_puts(out, "{}");
	int64_t v = 0;
	c360_json_int64(c360_json_get(s, "backlog"), &v);
	c360_buf_printf(out, ",\"events_remaining\":{\"dcp_backlog\":%lld},\"status\":", (long long)v);
	c360_json_write(s, C360_JSON_COMPACT, out);
	c360_buf_putc(out, '}');
}

static void get_stats(const struct c360_http_req *req, struct c360_http_resp *resp, void *ctx)
{
	c360_buf_putc(&resp->body, '[');
	c360_rc rc = each_status(ctx, &resp->body, stats_app);
	if (rc) {
		c360_buf_reset(&resp->body);
		reply_rc(resp, rc, NULL);
		return;
	}
	c360_buf_putc(&resp->body, ']');
}

c360_rc c360_eventing_routes(struct c360_http *h, c360_store *st)
{
	static const struct {
		const char *method, *pattern;
		enum c360_http_scope scope;
		c360_http_handler fn;
	} routes[] = {
		{"GET", "/api/v1/functions", C360_HTTP_READ, list_functions},
		{"POST", "/api/v1/functions", C360_HTTP_ADMIN, post_function},
		{"GET", "/api/v1/functions/{name}", C360_HTTP_READ, get_function},
		{"POST", "/api/v1/functions/{name}", C360_HTTP_ADMIN, post_function},
		{"DELETE", "/api/v1/functions/{name}", C360_HTTP_ADMIN, delete_function},
		{"POST", "/api/v1/functions/{name}/deploy", C360_HTTP_ADMIN, do_deploy},
		{"POST", "/api/v1/functions/{name}/undeploy", C360_HTTP_ADMIN, do_undeploy},
		{"POST", "/api/v1/functions/{name}/pause", C360_HTTP_ADMIN, do_pause},
		{"POST", "/api/v1/functions/{name}/resume", C360_HTTP_ADMIN, do_resume},
		{"GET", "/api/v1/status", C360_HTTP_READ, get_status},
		{"GET", "/api/v1/stats", C360_HTTP_READ, get_stats},
	};
	for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
		c360_rc rc = c360_http_route(h, routes[i].method, routes[i].pattern, routes[i].scope, routes[i].fn, st);
		if (rc)
			return rc;
	}
	return C360_OK;
}
