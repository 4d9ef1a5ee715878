/* Eventing in-process: JavaScript handlers on a real store's change feed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/json.h"
#include "eventing/eventing.h"
#include "runtime/eventing_test.h"
#include "test.h"
#include "core/banned.h"


TEST(map_semantics_and_read_only)
{
	open_store(NULL);
	char err[512];
	put("rob", "k1", "{\"v\":1}");
	char *d = mkdef("maps",
			"function OnUpdate(doc, meta) {\n"
			"  var r = {missing: dst['nope'] === undefined, ro: ro['k1'].v};\n"
			"  dst[meta.id] = {n: doc.n * 2, id: meta.id, seq: typeof meta.seq, cas: typeof meta.cas,\n"
			"                  ks: meta.keyspace.bucket_name, dt: meta.datatype};\n"
			"  dst['tmp'] = 1; delete dst['tmp']; delete dst['never-there'];\n"
			"  try { ro['x'] = 1; r.roWrite = 'allowed'; } catch (e) { r.roWrite = e.name; }\n"
			"  try { delete ro['k1']; r.roDel = 'allowed'; } catch (e) { r.roDel = e.name; }\n"
			"  dst['r-' + meta.id] = r;\n"
			"}\n",
			RW, "\"worker_count\":2");
	REQUIRE(deploy_json(d, err, sizeof err) == 0);
	put("src", "a", "{\"n\":21}");
	struct c360_fn_stats s;
	REQUIRE(run_until_idle("maps", NULL, &s) == 0);
	CHECK(get_is("dst", "a", "{\"n\":42,\"id\":\"a\",\"seq\":\"number\",\"cas\":\"string\",\"ks\":\"src\",\"dt\":\"json\"}"));
	CHECK(get_is("dst", "r-a", "{\"missing\":true,\"ro\":1,\"roWrite\":\"KVError\",\"roDel\":\"KVError\"}"));
	CHECK(get_is("dst", "tmp", NULL));
	CHECK(get_is("rob", "x", NULL));
	CHECK_EQ_INT(s.on_update_success, 1);
	CHECK_EQ_INT(s.failures, 0);
	free(d);
	close_store();
}

TEST(advanced_accessors_and_cas)
{
	open_store(NULL);
	char err[512];
	char *d = mkdef("adv",
			"function OnUpdate(doc, meta) {\n"
			"  var k = {id: 'x-' + meta.id};\n"
			"  var out = {};\n"
			"  out.g0 = couchbase.get(dst, k).error.key_not_found === true;\n"
			"  var i1 = couchbase.insert(dst, k, {a: 1});\n"
			"  out.i1 = i1.success;\n"
			"  out.i2 = couchbase.insert(dst, k, {a: 2}).error.key_already_exists === true;\n"
			"  var g = couchbase.get(dst, k);\n"
			"  out.g1 = g.success && g.doc.a === 1 && g.meta.cas === i1.meta.cas;\n"
			"  out.bad = couchbase.replace(dst, {id: k.id, cas: '12345'}, {a: 3}).error.cas_mismatch === true;\n"
			"  var r = couchbase.replace(dst, {id: k.id, cas: g.meta.cas}, {a: 4});\n"
			"  out.rep = r.success && r.meta.cas !== g.meta.cas;\n"
			"  out.up = couchbase.upsert(dst, k, {a: 5}).success;\n"
			"  out.d1 = couchbase['delete'](dst, {id: k.id, cas: '1'}).error.cas_mismatch === true;\n"
			"  out.d2 = couchbase['delete'](dst, k).success;\n"
			"  out.d3 = couchbase['delete'](dst, k).error.key_not_found === true;\n"
			"  try { couchbase.upsert(ro, k, {}); out.ro = 'allowed'; } catch (e) { out.ro = e.name; }\n"
			"  dst['out'] = out;\n"
			"}\n",
			RW, "");
	REQUIRE(deploy_json(d, err, sizeof err) == 0);
	put("src", "a", "{}");
	REQUIRE(run_until_idle("adv", NULL, NULL) == 0);
	CHECK(get_is("dst", "out",
		     "{\"g0\":true,\"i1\":true,\"i2\":true,\"g1\":true,\"bad\":true,\"rep\":true,\"up\":true,"
		     "\"d1\":true,\"d2\":true,\"d3\":true,\"ro\":\"KVError\"}"));
	free(d);
	close_store();
}

TEST(recursion_suppressed_unless_allowed)
{
	open_store(NULL);
	char err[512];
	const char *code = "function OnUpdate(doc, meta) {\n"
			   "  if (meta.id.indexOf('echo-echo-') === 0) return;\n"
			   "  self['echo-' + meta.id] = {from: meta.id};\n"
			   "}\n";
	char *d = mkdef("rec", code, "{\"alias\":\"self\",\"bucket_name\":\"src\",\"access\":\"rw\"}", "");
	REQUIRE(deploy_json(d, err, sizeof err) == 0);
	put("src", "a", "{}");
	put("src", "b", "{}");
	struct c360_fn_stats s;
	REQUIRE(run_until_idle("rec", NULL, &s) == 0);
	CHECK(get_is("src", "echo-a", "{\"from\":\"a\"}"));
	CHECK(get_is("src", "echo-echo-a", NULL)); /* the own write did not come back */
	CHECK_EQ_INT(s.processed, 2);
	CHECK_EQ_INT(s.suppressed, 2);
	free(d);
	/* with self_recursion the handler sees its own writes */
	char *d2 = mkdef("rec2", code, "{\"alias\":\"self\",\"bucket_name\":\"src\",\"access\":\"rw\"}",
			 "\"self_recursion\":true,\"dcp_stream_boundary\":\"from_now\"");
	REQUIRE(deploy_json(d2, err, sizeof err) == 0);
	put("src", "c", "{}");
	REQUIRE(run_until_idle("rec2", NULL, &s) == 0);
	CHECK(get_is("src", "echo-echo-c", "{\"from\":\"echo-c\"}"));
	free(d2);
	close_store();
}

TEST(infinite_loop_hits_timeout_and_processing_continues)
{
	open_store(NULL);
	char err[512];
	char *d = mkdef("loop",
			"function OnUpdate(doc, meta) {\n"
			"  if (doc.spin) { while (true) {} }\n"
			"  dst[meta.id] = 1;\n"
			"}\n",
			RW, "\"execution_timeout_ms\":300");
	REQUIRE(deploy_json(d, err, sizeof err) == 0);
	put("src", "a", "{\"spin\":true}");
	put("src", "b", "{}");
	struct c360_fn_stats s;
	REQUIRE(run_until_idle("loop", NULL, &s) == 0);
	CHECK_EQ_INT(s.timeouts, 1);
	CHECK_EQ_INT(s.on_update_failure, 1);
	CHECK(get_is("dst", "b", "1"));
	/* the timeout is in the application log */
	char path[4096];
	c360_fn_app_log_path(st, "loop", path, sizeof path);
	FILE *f = fopen(path, "r");
	REQUIRE(f);
	char buf[8192];
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = 0;
	fclose(f);
	CHECK(strstr(buf, "execution timeout") != NULL);
	free(d);
	close_store();
}

TEST(exceptions_are_logged_counted_and_processing_continues)
{
	open_store(NULL);
	char err[512];
	char *d = mkdef("boom",
			"function helper(x) { if (x.bad) throw new Error('bad document ' + x.n); }\n"
			"function OnUpdate(doc, meta) { helper(doc); dst[meta.id] = doc.n; }\n",
			RW, "\"worker_count\":3");
	REQUIRE(deploy_json(d, err, sizeof err) == 0);
	for (int i = 0; i < 10; i++) {
		char k[16], v[64];
		snprintf(k, sizeof k, "k%d", i);
		snprintf(v, sizeof v, "{\"n\":%d,\"bad\":%s}", i, i % 3 == 0 ? "true" : "false");
		put("src", k, v);
	}
	struct c360_fn_stats s;
	REQUIRE(run_until_idle("boom", NULL, &s) == 0);
	CHECK_EQ_INT(s.processed, 10);
	CHECK_EQ_INT(s.on_update_failure, 4);
	CHECK_EQ_INT(s.on_update_success, 6);
	CHECK(get_is("dst", "k1", "1"));
	CHECK(get_is("dst", "k3", NULL));
	char path[4096];
	c360_fn_app_log_path(st, "boom", path, sizeof path);
	FILE *f = fopen(path, "r");
	REQUIRE(f);
	char buf[16384];
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = 0;
	fclose(f);
	CHECK(strstr(buf, "bad document 3") != NULL);
	CHECK(strstr(buf, "helper") != NULL); /* the stack */
	free(d);
	close_store();
}

TEST(feed_boundaries_everything_and_from_now)
{
	open_store(NULL);
	char err[512];
	put("src", "old", "{}");
	char *e = mkdef("every", "function OnUpdate(d, m) { dst['e-' + m.id] = 1; }", RW,
			"\"dcp_stream_boundary\":\"everything\"");
	char *n = mkdef("now", "function OnUpdate(d, m) { dst['n-' + m.id] = 1; }", RW,
			"\"dcp_stream_boundary\":\"from_now\"");
	REQUIRE(deploy_json(e, err, sizeof err) == 0);
	REQUIRE(deploy_json(n, err, sizeof err) == 0);
	put("src", "new", "{}");
	REQUIRE(run_until_idle("every", NULL, NULL) == 0);
	REQUIRE(run_until_idle("now", NULL, NULL) == 0);
	CHECK(get_is("dst", "e-old", "1"));
	CHECK(get_is("dst", "e-new", "1"));
	CHECK(get_is("dst", "n-old", NULL));
	CHECK(get_is("dst", "n-new", "1"));
	/* a second run resumes from the checkpoint: nothing processed again */
	struct c360_fn_stats s;
	REQUIRE(run_until_idle("every", NULL, &s) == 0);
	CHECK_EQ_INT(s.processed, 2); /* cumulative, carried by the checkpoint */
	free(e);
	free(n);
	close_store();
}

TEST(pause_and_resume)
{
	open_store(NULL);
	char err[512];
	char *d = mkdef("pz", "function OnUpdate(d, m) { dst[m.id] = 1; }", RW, "");
	REQUIRE(deploy_json(d, err, sizeof err) == 0);
	put("src", "a", "{}");
	REQUIRE(run_until_idle("pz", NULL, NULL) == 0);
	REQUIRE(c360_fn_set_state(st, "pz", C360_FN_PAUSED, err, sizeof err) == 0);
	CHECK(c360_fn_set_state(st, "pz", C360_FN_PAUSED, err, sizeof err) == C360_ERR_STATE);
	put("src", "b", "{}");
	REQUIRE(run_until_idle("pz", NULL, NULL) == 0);
	CHECK(get_is("dst", "b", NULL)); /* paused: not processed */
	REQUIRE(c360_fn_set_state(st, "pz", C360_FN_DEPLOYED, err, sizeof err) == 0);
	REQUIRE(run_until_idle("pz", NULL, NULL) == 0);
	CHECK(get_is("dst", "b", "1")); /* resumed from the checkpoint */
	struct c360_buf b;
	c360_buf_init(&b, 0);
	REQUIRE(c360_fn_status(st, "pz", &b) == 0);
	CHECK(strstr(b.data, "\"state\":\"deployed\"") != NULL);
	CHECK(strstr(b.data, "\"backlog\":0") != NULL);
	c360_buf_release(&b);
	free(d);
	close_store();
}

TEST(on_delete_and_expiry)
{
	open_store(NULL);
	char err[512];
	char *d = mkdef("del",
			"function OnUpdate(d, m) {}\n"
			"function OnDelete(meta, options) { dst['d-' + meta.id] = {expired: options.expired}; }\n",
			RW, "");
	REQUIRE(deploy_json(d, err, sizeof err) == 0);
	c360_store_bucket_ensure(st, "src", 0);
	REQUIRE(c360_store_upsert(st, "src", "ttl", 3, "{}", 2, 1, NULL) == 0);
	put("src", "gone", "{}");
	REQUIRE(c360_store_delete(st, "src", "gone", 4, 0) == 0);
	sleep(2);
	size_t n = 0;
	c360_store_sweep(st, "src", 0, &n);
	REQUIRE(run_until_idle("del", NULL, NULL) == 0);
	CHECK(get_is("dst", "d-ttl", "{\"expired\":true}"));
	CHECK(get_is("dst", "d-gone", "{\"expired\":false}"));
	free(d);
	close_store();
}

TEST(couchbase_export_with_constants_and_bad_inputs)
{
	open_store(NULL);
	char err[512];
	const char *exp =
		"[{\"appname\":\"imported\",\"id\":0,\"handleruuid\":123,\"function_instance_id\":\"x\","
		"\"appcode\":\"function OnUpdate(doc, meta) { cust[meta.id] = {limit: LIMIT, name: WHO}; }\","
		"\"depcfg\":{\"buckets\":[{\"alias\":\"cust\",\"bucket_name\":\"dst\",\"scope_name\":\"_default\","
		"\"collection_name\":\"_default\",\"access\":\"rw\"}],\"curl\":[],\"constants\":["
		"{\"value\":\"LIMIT\",\"literal\":\"10\"},{\"value\":\"WHO\",\"literal\":\"\\\"ann\\\"\"}],"
		"\"source_bucket\":\"src\",\"source_scope\":\"_default\",\"metadata_bucket\":\"meta\"},"
		"\"version\":\"evt-6.6.0\",\"enforce_schema\":false,"
		"\"settings\":{\"dcp_stream_boundary\":\"everything\",\"deployment_status\":true,"
		"\"description\":\"x\",\"execution_timeout\":60,\"language_compatibility\":\"6.6.2\","
		"\"log_level\":\"INFO\",\"processing_status\":true,\"worker_count\":3,\"user_prefix\":\"eventing\","
		"\"handler_headers\":[\"'use strict';\"]},\"using_timer\":false}]";
	REQUIRE(deploy_json(exp, err, sizeof err) == 0);
	put("src", "k", "{}");
	REQUIRE(run_until_idle("imported", NULL, NULL) == 0);
	CHECK(get_is("dst", "k", "{\"limit\":10,\"name\":\"ann\"}"));
	/* deploying twice is a conflict */
	CHECK(deploy_json(exp, err, sizeof err) == C360_ERR_EXISTS);
	/* bad inputs name the key */
	struct c360_fn_def def;
	CHECK(c360_fn_def_parse("{\"appname\":\"x\"}", 15, &def, err, sizeof err) == C360_ERR_INVALID);
	CHECK(strstr(err, "appcode") != NULL);
	const char *bad_acc = "{\"appname\":\"x\",\"appcode\":\"\",\"depcfg\":{\"source_bucket\":\"a\","
			      "\"metadata_bucket\":\"b\",\"buckets\":[{\"alias\":\"c\",\"bucket_name\":\"d\",\"access\":\"w\"}]}}";
	CHECK(c360_fn_def_parse(bad_acc, strlen(bad_acc), &def, err, sizeof err) == C360_ERR_INVALID);
	CHECK(strstr(err, "depcfg.buckets[0].access") != NULL);
	char *syn = mkdef("syntax", "function OnUpdate(doc, meta) { if ( }", RW, "");
	CHECK(deploy_json(syn, err, sizeof err) == C360_ERR_INVALID);
	CHECK(strstr(err, "SyntaxError") != NULL);
	free(syn);
	close_store();
}

/* A key only read in one batch and written in the next, while the first
 * batch is still committing, keeps its update (no false conflict). */
TEST(writes_across_batches)
{
	open_store(NULL);
	char err[512];
	put("dst", "x", "{\"v\":41}");
	char *d = mkdef("across",
			"function OnUpdate(doc, meta) {\n"
			"  var x = dst['x'];\n"
			"  dst['w-' + meta.id] = 1;\n"
			"  if (doc.n === 299) dst['x'] = {v: x.v + 1};\n"
			"}\n",
			RW, "");
	REQUIRE(deploy_json(d, err, sizeof err) == 0);
	c360_store_bucket_ensure(st, "src", 0);
	for (int i = 0; i < 300; i++) {
		char k[16], v[32];
		snprintf(k, sizeof k, "k%03d", i);
		snprintf(v, sizeof v, "{\"n\":%d}", i);
		put("src", k, v);
	}
	struct c360_fn_stats s;
	REQUIRE(run_until_idle("across", NULL, &s) == 0);
	CHECK_EQ_INT(s.processed, 300);
	CHECK(get_is("dst", "x", "{\"v\":42}"));
	CHECK(get_is("dst", "w-k299", "1"));
	free(d);
	close_store();
}

/* What a restart of `c360 run` does: the same definition resumes after its
 * checkpoint (a pause is kept), a changed one is redeployed from its
 * boundary with the old checkpoint dropped, an undeployed one is deployed. */
static int resume(const char *json, struct c360_fn_resume *how)
{
	struct c360_fn_def def;
	char err[512] = "";
	c360_rc rc = c360_fn_def_parse(json, strlen(json), &def, err, sizeof err);
	if (!rc)
		rc = c360_fn_deploy_or_resume(st, &def, how, err, sizeof err);
	if (rc)
		printf("  deploy_or_resume: %s %s\n", c360_rc_str(rc), err);
	c360_fn_def_release(&def);
	return rc;
}

TEST(restart_resumes_same_definition_redeploys_changed)
{
	open_store(NULL);
	char err[512];
	struct c360_fn_resume how;
	struct c360_fn_stats s;
	char *d = mkdef("rs", "function OnUpdate(d, m) { var c = dst['n']; dst['n'] = (c || 0) + 1; }",
			RW, "\"checkpoint_interval\":60");
	REQUIRE(resume(d, &how) == 0);
	CHECK_EQ_INT(how.outcome, C360_FN_NEW);
	put("src", "a", "{}");
	put("src", "b", "{}");
	REQUIRE(run_until_idle("rs", NULL, NULL) == 0);
	for (int i = 0; i < 3; i++) { /* three restarts on the same definition */
		REQUIRE(resume(d, &how) == 0);
		CHECK_EQ_INT(how.outcome, C360_FN_RESUMED);
		CHECK_EQ_INT(how.checkpoint, 2);
		REQUIRE(run_until_idle("rs", NULL, &s) == 0);
	}
	CHECK_EQ_INT(s.processed, 2);
	CHECK(get_is("dst", "n", "2")); /* the handler ran once per change */
	/* a paused function stays paused across a restart */
	REQUIRE(c360_fn_set_state(st, "rs", C360_FN_PAUSED, err, sizeof err) == 0);
	REQUIRE(resume(d, &how) == 0);
	CHECK_EQ_INT(how.outcome, C360_FN_RESUMED);
	CHECK_EQ_INT(how.state, C360_FN_PAUSED);
	REQUIRE(c360_fn_set_state(st, "rs", C360_FN_DEPLOYED, err, sizeof err) == 0);
	/* another setting: redeployed from the boundary (everything), so both
	 * changes are handled again */
	char *d2 = mkdef("rs", "function OnUpdate(d, m) { var c = dst['n']; dst['n'] = (c || 0) + 1; }",
			 RW, "\"checkpoint_interval\":30");
	REQUIRE(resume(d2, &how) == 0);
	CHECK_EQ_INT(how.outcome, C360_FN_REDEPLOYED);
	CHECK_EQ_INT(how.checkpoint, 2);
	CHECK_EQ_INT(how.boundary, 0);
	CHECK(how.changed && !strcmp(how.changed, "bindings or settings"));
	REQUIRE(run_until_idle("rs", NULL, &s) == 0);
	CHECK_EQ_INT(s.processed, 2); /* counters restart with the deployment */
	CHECK(get_is("dst", "n", "4"));
	/* other code, from_now: nothing before the boundary is handled */
	char *d3 = mkdef("rs", "function OnUpdate(d, m) { dst['n'] = 100; }", RW,
			 "\"dcp_stream_boundary\":\"from_now\"");
	REQUIRE(resume(d3, &how) == 0);
	CHECK_EQ_INT(how.outcome, C360_FN_REDEPLOYED);
	CHECK(how.changed && !strcmp(how.changed, "code"));
	CHECK_EQ_INT(how.boundary, 2);
	REQUIRE(run_until_idle("rs", NULL, &s) == 0);
	CHECK_EQ_INT(s.processed, 0);
	CHECK(get_is("dst", "n", "4"));
	/* undeployed (its checkpoint dropped): deployed again from its boundary */
	REQUIRE(c360_fn_set_state(st, "rs", C360_FN_UNDEPLOYED, err, sizeof err) == 0);
	REQUIRE(resume(d3, &how) == 0);
	CHECK_EQ_INT(how.outcome, C360_FN_NEW);
	free(d);
	free(d2);
	free(d3);
	close_store();
}

int main(void)
{
	RUN(map_semantics_and_read_only);
	RUN(advanced_accessors_and_cas);
	RUN(recursion_suppressed_unless_allowed);
	RUN(infinite_loop_hits_timeout_and_processing_continues);
	RUN(exceptions_are_logged_counted_and_processing_continues);
	RUN(feed_boundaries_everything_and_from_now);
	RUN(pause_and_resume);
	RUN(on_delete_and_expiry);
	RUN(couchbase_export_with_constants_and_bad_inputs);
	RUN(writes_across_batches);
	RUN(restart_resumes_same_definition_redeploys_changed);
	return test_summary();
}
