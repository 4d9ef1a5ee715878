/* curl() in JavaScript handlers against a local libmicrohttpd server: URL
 * bindings (path, params, headers, JSON and text bodies, basic auth), the
 * 6.0 form curl(url, {method}), CurlError on failure, response cap. */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/json.h"
#include "eventing/eventing.h"
#include "test.h"
#include "core/banned.h"

struct upload {
	struct c360_buf body;
};

/* /echo answers {"method","path","q","auth","ct","body"}; /text answers
 * text/plain; /big answers 17 MiB; /status/N answers status N. */
static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url, const char *method,
			      const char *version, const char *data, size_t *data_len, void **con_cls)
{
	struct upload *u = *con_cls;
	if (!u) {
		u = calloc(1, sizeof *u);
		c360_buf_init(&u->body, 1 << 20);
		*con_cls = u;
		return MHD_YES;
	}
	if (*data_len) {
		c360_buf_append(&u->body, data, *data_len);
		*data_len = 0;
		return MHD_YES;
	}
	struct c360_buf out;
	c360_buf_init(&out, 0);
	const char *ct = "application/json";
	unsigned status = 200;
	if (!strcmp(url, "/echo")) {
		const char *q = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "q");
		const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
		const char *rct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
		const char *x = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Test");
		c360_buf_printf(&out, "{\"method\":\"%s\",\"path\":\"%s\",\"q\":", method, url);
		c360_json_write_string(q ? q : "", q ? strlen(q) : 0, &out);
		c360_buf_puts(&out, ",\"auth\":");
		c360_json_write_string(auth ? auth : "", auth ? strlen(auth) : 0, &out);
		c360_buf_puts(&out, ",\"ct\":");
		c360_json_write_string(rct ? rct : "", rct ? strlen(rct) : 0, &out);
		c360_buf_puts(&out, ",\"x\":");
		c360_json_write_string(x ? x : "", x ? strlen(x) : 0, &out);
		c360_buf_puts(&out, ",\"body\":");
		c360_json_write_string(c360_buf_cstr(&u->body), u->body.len, &out);
		c360_buf_putc(&out, '}');
	} else if (!strcmp(url, "/text")) {
		ct = "text/plain";
		c360_buf_puts(&out, "hello");
	} else if (!strcmp(url, "/big")) {
		c360_buf_reserve(&out, 17u << 20);
		memset(out.data, 'x', 17u << 20);
		out.len = 17u << 20;
		out.data[out.len] = 0;
		ct = "text/plain";
	} else if (!strncmp(url, "/status/", 8)) {
		status = (unsigned)strtoul(url + 8, NULL, 10);
		c360_buf_puts(&out, "{\"status\":true}");
	} else {
		status = 404;
		c360_buf_puts(&out, "{}");
	}
	size_t len;
	char *body = c360_buf_detach(&out, &len);
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body ? body : (char *)"", body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(r, "Content-Type", ct);
	MHD_add_response_header(r, "X-Reply", "yes");
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static void done(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode t)
{
	struct upload *u = *con_cls;
	if (u) {
		c360_buf_release(&u->body);
		free(u);
	}
	*con_cls = NULL;
}

TEST(curl_from_handlers)
{
	struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, answer, NULL,
						MHD_OPTION_NOTIFY_COMPLETED, done, NULL, MHD_OPTION_END);
	REQUIRE(d);
	int port = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;
	char dir[] = "/tmp/c360-evcurl-XXXXXX", path[300], err[512];
	REQUIRE(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/s.db", dir);
	c360_store *st;
	struct c360_store_opts o;
	c360_store_opts_init(&o);
	o.synchronous = C360_SYNC_OFF;
	REQUIRE(c360_store_open(path, &o, &st, err, sizeof err) == 0);

	const char *code =
		"function OnUpdate(doc, meta) {\n"
		"  var out = {};\n"
		"  var r = curl('GET', api, {path: '/echo', params: {q: 'a b&c'}, headers: {'X-Test': 't1'}});\n"
		"  out.get = r.status === 200 && r.body.method === 'GET' && r.body.q === 'a b&c' && r.body.x === 't1'\n"
		"            && r.body.auth.indexOf('Basic ') === 0 && r.headers['x-reply'] === 'yes';\n"
		"  r = curl('POST', api, {path: 'echo', body: {k: [1, 2]}});\n"
		"  out.postJson = r.body.method === 'POST' && r.body.ct === 'application/json' && r.body.body === '{\"k\":[1,2]}';\n"
		"  r = curl('PUT', api, {path: '/echo', body: 'plain'});\n"
		"  out.putText = r.body.method === 'PUT' && r.body.ct === 'text/plain' && r.body.body === 'plain';\n"
		"  r = curl('POST', api, {path: '/echo', body: {a: 1, b: 'x y'}, encoding: 'FORM'});\n"
		"  out.form = r.body.body === 'a=1&b=x%20y' && r.body.ct === 'application/x-www-form-urlencoded';\n"
		"  out.text = curl('GET', api, {path: '/text'}).body === 'hello';\n"
		"  out.non200 = curl('GET', api, {path: '/status/503'}).status === 503;\n"
		"  out.v60 = curl(BASE + '/echo?q=z', {method: 'GET'}).q === 'z';\n"
		"  try { curl('GET', dead, {path: '/'}); out.refused = 'no error'; }\n"
		"  catch (e) { out.refused = (e instanceof CurlError) + ':' + e.name; }\n"
		"  try { curl('GET', api, {path: '/big'}); out.big = 'no error'; }\n"
		"  catch (e) { out.big = e.name + ':' + (e.message.indexOf('larger than') >= 0); }\n"
		"  try { curl('GET', {}, {}); out.notBinding = 'no error'; } catch (e) { out.notBinding = e.name; }\n"
		"  try { curl('TRACE', api, {}); out.method = 'no error'; } catch (e) { out.method = e.name; }\n"
		"  dst['out'] = out;\n"
		"}\n";
	struct c360_fn_def def;
	c360_fn_def_init(&def);
	snprintf(def.name, sizeof def.name, "curly");
	snprintf(def.source_bucket, sizeof def.source_bucket, "src");
	snprintf(def.metadata_bucket, sizeof def.metadata_bucket, "meta");
	def.code = strdup(code);
	def.code_len = strlen(code);
	char spec[256];
	REQUIRE(c360_fn_def_add_binding(&def, "bucket:dst=dst:rw", err, sizeof err) == 0);
	snprintf(spec, sizeof spec, "url:api=http://127.0.0.1:%d;basic=user:pw", port);
	REQUIRE(c360_fn_def_add_binding(&def, spec, err, sizeof err) == 0);
	REQUIRE(c360_fn_def_add_binding(&def, "url:dead=http://127.0.0.1:1", err, sizeof err) == 0);
	snprintf(spec, sizeof spec, "constant:BASE=\"http://127.0.0.1:%d\"", port);
	REQUIRE(c360_fn_def_add_binding(&def, spec, err, sizeof err) == 0);
	REQUIRE(c360_fn_deploy(st, &def, err, sizeof err) == 0);
	c360_store_upsert(st, "src", "k", 1, "{}", 2, 0, NULL);
	c360_fn_run *r = NULL;
	REQUIRE(c360_fn_run_new(st, &def, 0, &r, err, sizeof err) == 0);
	REQUIRE(c360_fn_run_loop(r, NULL, true) == 0);
	struct c360_fn_stats s;
	c360_fn_run_stats(r, &s);
	CHECK_EQ_INT(s.failures, 0);
	c360_fn_run_free(r);
	struct c360_doc doc = {0};
	REQUIRE(c360_store_get(st, "dst", "out", 3, &doc) == 0);
	CHECK_EQ_STR(doc.value,
		     "{\"get\":true,\"postJson\":true,\"putText\":true,\"form\":true,\"text\":true,\"non200\":true,"
		     "\"v60\":true,\"refused\":\"true:CurlError\",\"big\":\"CurlError:true\",\"notBinding\":\"CurlError\","
		     "\"method\":\"CurlError\"}");
	c360_doc_release(&doc);
	c360_fn_def_release(&def);
	c360_store_close(st);
	MHD_stop_daemon(d);
	snprintf(path, sizeof path, "rm -rf '%s'", dir);
	CHECK(system(path) == 0);
}

int main(void)
{
	RUN(curl_from_handlers);
	return test_summary();
}
