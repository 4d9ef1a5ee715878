/* Eventing function definitions: Couchbase export parsing, bindings given on
 * the command line, settings, and every refusal naming what is wrong. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "eventing/eventing.h"
#include "test.h"
#include "core/banned.h"

static int parse_err(const char *json, const char *want)
{
	struct c360_fn_def d;
	char err[512] = "";
	c360_rc rc = c360_fn_def_parse(json, strlen(json), &d, err, sizeof err);
	c360_fn_def_release(&d);
	if (!rc || !strstr(err, want)) {
		printf("  %s -> rc %d err '%s', want '%s'\n", json, rc, err, want);
		return 0;
	}
	return 1;
}

#define DEP "\"depcfg\":{\"source_bucket\":\"s\",\"metadata_bucket\":\"m\""

TEST(parse_and_write_round_trip)
{
	const char *j = "{\"appname\":\"f1\",\"appcode\":\"function OnUpdate(d,m){}\"," DEP
			",\"buckets\":[{\"alias\":\"a\",\"bucket_name\":\"b\",\"access\":\"rw\"}],"
			"\"curl\":[{\"value\":\"u\",\"hostname\":\"https://h/x\",\"auth_type\":\"bearer\",\"bearer_key\":\"tok\","
			"\"validate_ssl_certificate\":false}],\"constants\":[{\"value\":\"C\",\"literal\":\"{\\\"x\\\":1}\"}]},"
			"\"settings\":{\"dcp_stream_boundary\":\"from_now\",\"worker_count\":4,\"execution_timeout\":2,"
			"\"checkpoint_interval\":5,\"log_level\":\"WARNING\",\"unknown_setting\":{\"a\":1}}}";
	struct c360_fn_def d, d2;
	char err[512];
	REQUIRE(c360_fn_def_parse(j, strlen(j), &d, err, sizeof err) == 0);
	CHECK_EQ_STR(d.name, "f1");
	CHECK_EQ_STR(d.kind, "js");
	CHECK_EQ_INT(d.nbindings, 3);
	CHECK(d.bindings[0].type == C360_FN_BIND_BUCKET && d.bindings[0].rw);
	CHECK(d.bindings[1].type == C360_FN_BIND_URL && d.bindings[1].auth == C360_FN_AUTH_BEARER);
	CHECK(!d.bindings[1].validate_ssl_certificate);
	CHECK_EQ_STR(d.bindings[2].value, "{\"x\":1}");
	CHECK(d.boundary == C360_FN_FROM_NOW);
	CHECK_EQ_INT(d.worker_count, 4);
	CHECK_EQ_INT(d.execution_timeout_ms, 2000);
	CHECK_EQ_INT(d.checkpoint_interval_ms, 5000);
	CHECK(d.log_level == C360_LOG_WARN);
	CHECK(c360_fn_def_check(&d, err, sizeof err) == 0);
	struct c360_buf b;
	c360_buf_init(&b, 0);
	REQUIRE(c360_fn_def_write(&d, &b) == 0);
	REQUIRE(c360_fn_def_parse(b.data, b.len, &d2, err, sizeof err) == 0);
	CHECK_EQ_STR(d2.code, d.code);
	CHECK_EQ_INT(d2.nbindings, 3);
	CHECK_EQ_STR(d2.bindings[1].token, "tok");
	CHECK_EQ_INT(d2.execution_timeout_ms, 2000);
	CHECK(d2.boundary == C360_FN_FROM_NOW);
	c360_buf_release(&b);
	c360_fn_def_release(&d);
	c360_fn_def_release(&d2);
}

TEST(refusals_name_the_key)
{
	CHECK(parse_err("[1,2]", "expected one function"));
	CHECK(parse_err("{\"appname\":\"x\",", "not valid JSON: line 1"));
	CHECK(parse_err("{\"appname\":\"a b\",\"appcode\":\"\"}", "appname"));
	CHECK(parse_err("{\"appname\":\"x\"}", "appcode"));
	CHECK(parse_err("{\"appname\":\"x\",\"appcode\":\"\"}", "depcfg"));
	CHECK(parse_err("{\"appname\":\"x\",\"appcode\":\"\",\"depcfg\":{\"metadata_bucket\":\"m\"}}",
			"depcfg.source_bucket"));
	CHECK(parse_err("{\"appname\":\"x\",\"appcode\":\"\"," DEP ",\"buckets\":[{\"alias\":\"a\"}]}}",
			"depcfg.buckets[0]"));
	CHECK(parse_err("{\"appname\":\"x\",\"appcode\":\"\"," DEP
			",\"buckets\":[{\"alias\":\"1a\",\"bucket_name\":\"b\"}]}}",
			"not a JavaScript identifier"));
	CHECK(parse_err("{\"appname\":\"x\",\"appcode\":\"\"," DEP
			",\"buckets\":[{\"alias\":\"a\",\"bucket_name\":\"b\"},{\"alias\":\"a\",\"bucket_name\":\"c\"}]}}",
			"used twice"));
	CHECK(parse_err("{\"appname\":\"x\",\"appcode\":\"\"," DEP
			",\"curl\":[{\"value\":\"u\",\"hostname\":\"ftp://h\"}]}}",
			"depcfg.curl[0].hostname"));
	CHECK(parse_err("{\"appname\":\"x\",\"appcode\":\"\"," DEP
			",\"curl\":[{\"value\":\"u\",\"hostname\":\"http://h\",\"auth_type\":\"magic\"}]}}",
			"depcfg.curl[0].auth_type"));
	CHECK(parse_err("{\"appname\":\"x\",\"appcode\":\"\"," DEP "},\"settings\":{\"worker_count\":0}}",
			"settings.worker_count"));
	CHECK(parse_err("{\"appname\":\"x\",\"appcode\":\"\"," DEP
			"},\"settings\":{\"dcp_stream_boundary\":\"sometimes\"}}",
			"settings.dcp_stream_boundary"));
	CHECK(parse_err("{\"appname\":\"x\",\"appcode\":\"\"," DEP "},\"settings\":{\"log_level\":\"LOUD\"}}",
			"settings.log_level"));
	/* a kind that is not built in (found by tests/fuzz/fuzz_fndef.c: one
	 * with a tab was written back as JSON that did not parse) */
	CHECK(parse_err("{\"appname\":\"x\",\"appcode\":\"\"," DEP "},\"c360\":{\"kind\":\"a\\tb\"}}",
			"c360.kind: unknown kind (expected 'js' or 'native')"));
	CHECK(parse_err("{\"appname\":\"x\",\"appcode\":\"\"," DEP "},\"c360\":{\"kind\":\"python\"}}",
			"c360.kind: unknown kind"));
}

TEST(command_line_bindings_and_checks)
{
	struct c360_fn_def d;
	char err[512] = "";
	c360_fn_def_init(&d);
	snprintf(d.name, sizeof d.name, "f");
	snprintf(d.source_bucket, sizeof d.source_bucket, "s");
	snprintf(d.metadata_bucket, sizeof d.metadata_bucket, "m");
	CHECK(c360_fn_def_add_binding(&d, "bucket:c=customer360:rw", err, sizeof err) == 0);
	CHECK(c360_fn_def_add_binding(&d, "bucket:r=other", err, sizeof err) == 0);
	CHECK(!d.bindings[1].rw);
	CHECK(c360_fn_def_add_binding(&d, "url:u=http://h:1/base;basic=me:p:w;insecure", err, sizeof err) == 0);
	CHECK_EQ_STR(d.bindings[2].url, "http://h:1/base");
	CHECK_EQ_STR(d.bindings[2].username, "me");
	CHECK_EQ_STR(d.bindings[2].password, "p:w");
	CHECK(!d.bindings[2].validate_ssl_certificate);
	/* given again: replaces */
	CHECK(c360_fn_def_add_binding(&d, "url:u=http://other", err, sizeof err) == 0);
	CHECK_EQ_INT(d.nbindings, 3);
	CHECK(c360_fn_def_add_binding(&d, "constant:K=7", err, sizeof err) == 0);
	CHECK(c360_fn_def_add_binding(&d, "bucket:x=b:w", err, sizeof err) == C360_ERR_INVALID);
	CHECK(strstr(err, "access must be r or rw"));
	CHECK(c360_fn_def_add_binding(&d, "url:y=file:///etc/passwd", err, sizeof err) == C360_ERR_INVALID);
	CHECK(c360_fn_def_add_binding(&d, "url:y=http://h;zip", err, sizeof err) == C360_ERR_INVALID);
	CHECK(strstr(err, "unknown url option"));
	CHECK(c360_fn_def_add_binding(&d, "queue:q=x", err, sizeof err) == C360_ERR_INVALID);
	CHECK(c360_fn_def_add_binding(&d, "noequals", err, sizeof err) == C360_ERR_INVALID);
	CHECK_EQ_INT(d.nbindings, 4); /* refused bindings leave nothing behind */
	d.code = strdup("function OnUpdate(doc, meta) { while (true) {} }\nwhile (true) {}\n");
	d.code_len = strlen(d.code);
	d.execution_timeout_ms = 100;
	CHECK(c360_fn_def_check(&d, err, sizeof err) == C360_ERR_TIMEOUT); /* top-level loop */
	free(d.code);
	d.code = strdup("function OnUpdate(doc, meta) { }\nthrow new Error('at load');\n");
	d.code_len = strlen(d.code);
	CHECK(c360_fn_def_check(&d, err, sizeof err) == C360_ERR_INVALID);
	CHECK(strstr(err, "at load"));
	snprintf(d.metadata_bucket, sizeof d.metadata_bucket, "s");
	CHECK(c360_fn_def_check(&d, err, sizeof err) == C360_ERR_INVALID);
	CHECK(strstr(err, "metadata bucket must differ"));
	snprintf(d.metadata_bucket, sizeof d.metadata_bucket, "m");
	snprintf(d.kind, sizeof d.kind, "cobol");
	CHECK(c360_fn_def_check(&d, err, sizeof err) == C360_ERR_UNSUPPORTED);
	c360_fn_def_release(&d);
	CHECK(c360_fn_kind_find("js") == &c360_fn_kind_js);
}

int main(void)
{
	RUN(parse_and_write_round_trip);
	RUN(refusals_name_the_key);
	RUN(command_line_bindings_and_checks);
	return test_summary();
}
