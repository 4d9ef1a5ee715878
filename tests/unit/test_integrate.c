/* integrate: the mapping parser (and its file:line:column errors), identity
 * normalisation, secret hashing, extraction, survivorship, deletes. Pure
 * functions, no store. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "integrate/integrate.h"
#include <sodium.h>

#include "test.h"
#include "core/banned.h"

static char *slurp(const char *rel)
{
	const char *src = getenv("C360_SRC");
	char path[2048];
	snprintf(path, sizeof path, "%s/%s", src ? src : "../..", rel);
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	struct c360_buf b;
	c360_buf_init(&b, 0);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		c360_buf_append(&b, chunk, n);
	fclose(f);
	return c360_buf_detach(&b, NULL);
}

static c360_imap *load(const char *text, char *err, size_t errlen)
{
	c360_imap *m = NULL;
	err[0] = '\0';
	c360_imap_load("map.yaml", text, strlen(text), &m, err, errlen);
	return m;
}

static c360_imap *shipped(void)
{
	char *text = slurp("functions/customer360.yaml");
	if (!text)
		return NULL;
	char err[512];
	c360_imap *m = NULL;
	if (c360_imap_load("customer360.yaml", text, strlen(text), &m, err, sizeof err))
		printf("  %s\n", err);
	free(text);
	return m;
}

/* ---- the mapping ---- */

TEST(shipped_mapping_loads)
{
	c360_imap *m = shipped();
	REQUIRE(m);
	CHECK_EQ_STR(c360_imap_source_bucket(m), "staging");
	CHECK_EQ_STR(c360_imap_target_bucket(m), "customer360");
	CHECK_EQ_STR(c360_imap_metadata_bucket(m), "customer360_metadata");
	CHECK_EQ_INT(c360_imap_source_count(m), 3);
	CHECK_EQ_STR(c360_imap_source_system(m, 0), "online_store");
	CHECK_EQ_INT(c360_imap_online_source(m), 0);
	CHECK(c360_imap_secrets_mode(m) == C360_SECRETS_HASH);
	CHECK_EQ_STR(c360_imap_order_prefix(m), "order::");
	c360_imap_free(m);
}

TEST(online_url_env_overrides_file)
{
	c360_imap *m = shipped();
	REQUIRE(m);
	unsetenv("C360_ONLINE_STORE_URL");
	CHECK_EQ_STR(c360_imap_online_url(m), "http://127.0.0.1:8080");
	setenv("C360_ONLINE_STORE_URL", "http://10.0.0.9:81", 1);
	CHECK_EQ_STR(c360_imap_online_url(m), "http://10.0.0.9:81");
	unsetenv("C360_ONLINE_STORE_URL");
	CHECK_EQ_INT(c360_imap_online_refresh(m), 3600);
	c360_imap_free(m);
}

#define MINI                                                                                  \
	"fields:\n"                                                                           \
	"  profile.name: most_recent\n"                                                       \
	"sources:\n"                                                                          \
	"  - system: a\n"                                                                     \
	"    match: /kind == \"a\"\n"                                                         \
	"    identity: /email\n"                                                              \
	"    external_id: /id\n"

TEST(minimal_mapping_loads)
{
	char err[512];
	c360_imap *m = load(MINI, err, sizeof err);
	if (!m)
		printf("  %s\n", err);
	CHECK(m);
	c360_imap_free(m);
}

/* Each bad file must fail with "map.yaml:LINE:COL: reason". */
static void expect_error(const char *text, const char *where, const char *reason)
{
	char err[512];
	c360_imap *m = load(text, err, sizeof err);
	CHECK(m == NULL);
	c360_imap_free(m);
	if (strncmp(err, where, strlen(where)) || !strstr(err, reason)) {
		printf("  got '%s', expected '%s…%s'\n", err, where, reason);
		test_cur_failed = 1;
	}
}

TEST(bad_mappings_name_file_line_column)
{
	/* YAML syntax */
	expect_error("fields: [a\n", "map.yaml:", "");
	/* unknown top-level key */
	expect_error("feilds: {}\n" MINI, "map.yaml:1:1:", "unknown key 'feilds'");
	/* unknown survivorship */
	expect_error("fields:\n  profile.name: newest\nsources:\n  - system: a\n    match: /x present\n"
		     "    identity: /e\n    external_id: /i\n",
		     "map.yaml:2:17:", "survivorship is 'most_recent' or 'priority'");
	/* priority naming an unknown system */
	expect_error("fields:\n  profile.name: [a, b]\nsources:\n  - system: a\n    match: /x present\n"
		     "    identity: /e\n    external_id: /i\n",
		     "map.yaml:2:21:", "unknown source system 'b'");
	/* bad predicate */
	expect_error("fields:\n  profile.name: most_recent\nsources:\n  - system: a\n"
		     "    match: /x ~= 3\n    identity: /e\n    external_id: /i\n",
		     "map.yaml:5:12:", "expected '== VALUE'");
	/* predicate value that is not JSON */
	expect_error("fields:\n  profile.name: most_recent\nsources:\n  - system: a\n"
		     "    match: /x == \"open\n    identity: /e\n    external_id: /i\n",
		     "map.yaml:5:12:", "is not JSON");
	/* bad pointer */
	expect_error("fields:\n  profile.name: most_recent\nsources:\n  - system: a\n"
		     "    match: /x present\n    identity: /e~2\n    external_id: /i\n",
		     "map.yaml:6:15:", "bad JSON pointer");
	/* missing identity */
	expect_error("fields:\n  profile.name: most_recent\nsources:\n  - system: a\n"
		     "    match: /x present\n    external_id: /i\n",
		     "map.yaml:4:5:", "needs 'identity'");
	/* a source field not declared at the top */
	expect_error(MINI "    fields:\n      profile.nme: /name\n", "map.yaml:9:20:",
		     "field 'profile.nme' of source 'a' is not declared");
	/* unknown transform */
	expect_error(MINI "    fields:\n      profile.name: {capitalize: /name}\n", "map.yaml:9:34:",
		     "unknown key 'capitalize'");
	/* secrets mode */
	expect_error("secrets: {mode: rot13}\n" MINI, "map.yaml:1:17:",
		     "secrets mode is hash (default), drop or plain");
	/* a short key */
	expect_error("secrets: {key: short}\n" MINI, "map.yaml:1:16:", "at least 16 bytes");
	/* duplicate systems */
	expect_error("fields:\n  profile.name: most_recent\nsources:\n  - system: a\n"
		     "    match: /x present\n    identity: /e\n    external_id: /i\n"
		     "  - system: a\n    match: /y present\n    identity: /e\n    external_id: /i\n",
		     "map.yaml:8:13:", "declared twice");
	/* overlapping fields */
	expect_error("fields:\n  profile: most_recent\n  profile.name: most_recent\nsources:\n"
		     "  - system: a\n    match: /x present\n    identity: /e\n    external_id: /i\n",
		     "map.yaml:3:17:", "overlaps field 'profile'");
	/* bad bucket name */
	expect_error("target_bucket: _x\n" MINI, "map.yaml:1:16:", "bad bucket name");
	/* online store url */
	expect_error("fields:\n  profile.name: most_recent\nsources:\n  - system: o\n"
		     "    online_store: {url: ftp://x}\n    identity: /Email\n    external_id: /Id\n",
		     "map.yaml:5:25:", "must start with http://");
	/* not a mapping at all */
	expect_error("- a\n- b\n", "map.yaml:1:", "a mapping file is a YAML mapping");
}

TEST(bad_file_names_path)
{
	char err[512];
	c360_imap *m = NULL;
	CHECK(c360_imap_load_file("/nonexistent/x.yaml", &m, err, sizeof err) == C360_ERR_NOT_FOUND);
	CHECK(strstr(err, "/nonexistent/x.yaml") != NULL);
}

/* ---- identity and secrets ---- */

TEST(normalize_email)
{
	char out[300];
	CHECK_EQ_INT(c360_imap_normalize_email("  Matthew.Groves@Couchbase.COM \t", 32, out,
					       sizeof out), 28);
	CHECK_EQ_STR(out, "matthew.groves@couchbase.com");
	CHECK_EQ_INT(c360_imap_normalize_email("", 0, out, sizeof out), 0);
	CHECK_EQ_INT(c360_imap_normalize_email("   ", 3, out, sizeof out), 0);
	CHECK_EQ_INT(c360_imap_normalize_email("no-at-sign", 10, out, sizeof out), 0);
	CHECK_EQ_INT(c360_imap_normalize_email("@x.com", 6, out, sizeof out), 0);
	CHECK_EQ_INT(c360_imap_normalize_email("a@", 2, out, sizeof out), 0);
	CHECK_EQ_INT(c360_imap_normalize_email("a b@x.com", 9, out, sizeof out), 0);
	char longmail[300];
	memset(longmail, 'a', 260);
	longmail[100] = '@';
	CHECK_EQ_INT(c360_imap_normalize_email(longmail, 260, out, sizeof out), 0);
	/* UTF-8 bytes are left as they are */
	CHECK(c360_imap_normalize_email("J\xc3\xb6rg@X.de", 10, out, sizeof out) == 10);
	CHECK_EQ_STR(out, "j\xc3\xb6rg@x.de");
}

TEST(secret_hash_is_keyed_and_bound_to_system)
{
	uint8_t k1[32], k2[32];
	memset(k1, 1, sizeof k1);
	memset(k2, 2, sizeof k2);
	char a[C360_IMAP_HASH_MAX], b[C360_IMAP_HASH_MAX], c[C360_IMAP_HASH_MAX],
		d[C360_IMAP_HASH_MAX];
	const char rec[] = "matthew.groves@couchbase.com\0" "27";
	c360_imap_hash_secret(k1, "loyalty", rec, sizeof rec - 1, "xrinn5xp.swd", 12, a);
	c360_imap_hash_secret(k1, "loyalty", rec, sizeof rec - 1, "xrinn5xp.swd", 12, b);
	c360_imap_hash_secret(k2, "loyalty", rec, sizeof rec - 1, "xrinn5xp.swd", 12, c);
	c360_imap_hash_secret(k1, "home_delivery", rec, sizeof rec - 1, "xrinn5xp.swd", 12, d);
	CHECK_EQ_STR(a, b); /* deterministic: replays give the same document */
	CHECK(strcmp(a, c));
	CHECK(strcmp(a, d));
	CHECK(!strncmp(a, "blake2b-salted:", 15));
	CHECK_EQ_INT(strlen(a), C360_IMAP_HASH_MAX - 1);
	CHECK(!strstr(a, "xrinn5xp"));
	CHECK(c360_imap_verify_secret(k1, "loyalty", "xrinn5xp.swd", 12, a));
	CHECK(!c360_imap_verify_secret(k1, "loyalty", "xrinn5xp.swd", 11, a));
	CHECK(!c360_imap_verify_secret(k2, "loyalty", "xrinn5xp.swd", 12, a));
	CHECK(!c360_imap_verify_secret(k1, "home_delivery", "xrinn5xp.swd", 12, a));
}

/* Equal passwords of two records hash differently (a per-record salt), so
 * a reader of the documents cannot tell who shares a password. */
TEST(secret_hash_is_salted_per_record)
{
	uint8_t k[32];
	memset(k, 7, sizeof k);
	char a[C360_IMAP_HASH_MAX], b[C360_IMAP_HASH_MAX], c[C360_IMAP_HASH_MAX];
	const char r1[] = "ann@example.com\0" "1", r2[] = "bob@example.com\0" "2",
		   r3[] = "ann@example.com\0" "3";
	c360_imap_hash_secret(k, "loyalty", r1, sizeof r1 - 1, "hunter2", 7, a);
	c360_imap_hash_secret(k, "loyalty", r2, sizeof r2 - 1, "hunter2", 7, b);
	c360_imap_hash_secret(k, "loyalty", r3, sizeof r3 - 1, "hunter2", 7, c);
	CHECK(strcmp(a, b));
	CHECK(strcmp(a, c));
	CHECK(strncmp(a + 15, b + 15, 32)); /* different salts */
	CHECK(strcmp(a + 48, b + 48));      /* and different hashes */
	CHECK(c360_imap_verify_secret(k, "loyalty", "hunter2", 7, a));
	CHECK(c360_imap_verify_secret(k, "loyalty", "hunter2", 7, b));
	/* the unsalted form of c360 before this one still verifies */
	static const char *old = "blake2b:";
	char h[C360_IMAP_HASH_MAX];
	/* BLAKE2b-256(k, "loyalty" NUL "hunter2"), as the old code wrote it */
	unsigned char in[] = "loyalty\0hunter2", out[32];
	crypto_generichash(out, sizeof out, in, sizeof in - 1, k, sizeof k);
	memcpy(h, old, 8);
	for (int i = 0; i < 32; i++)
		snprintf(h + 8 + 2 * i, 3, "%02x", out[i]);
	CHECK(c360_imap_verify_secret(k, "loyalty", "hunter2", 7, h));
	CHECK(!c360_imap_verify_secret(k, "loyalty", "hunter3", 7, h));
	CHECK(!c360_imap_verify_secret(k, "loyalty", "hunter2", 7, "blake2b:00"));
	CHECK(!c360_imap_verify_secret(k, "loyalty", "hunter2", 7, "hunter2"));
}

TEST(secret_key_from_env)
{
	char err[256];
	c360_imap *m = load("secrets: {key_env: TEST_C360_KEY}\n" MINI, err, sizeof err);
	REQUIRE(m);
	uint8_t key[32];
	unsetenv("TEST_C360_KEY");
	CHECK(c360_imap_secret_key(m, key, err, sizeof err) == C360_ERR_NOT_FOUND);
	CHECK(strstr(err, "TEST_C360_KEY") != NULL);
	setenv("TEST_C360_KEY", "short", 1);
	CHECK(c360_imap_secret_key(m, key, err, sizeof err) == C360_ERR_INVALID);
	setenv("TEST_C360_KEY", "0123456789abcdef0123", 1);
	CHECK(c360_imap_secret_key(m, key, err, sizeof err) == C360_OK);
	unsetenv("TEST_C360_KEY");
	c360_imap_free(m);
}

/* ---- extraction ---- */

static c360_json_doc *parse(const char *text)
{
	c360_json_doc *d = NULL;
	c360_json_parse(text, strlen(text), NULL, &d, NULL);
	return d;
}

static char *compact(const c360_json *v)
{
	return c360_json_write_str(v, C360_JSON_COMPACT, NULL);
}

TEST(extract_debezium_with_and_without_schema)
{
	c360_imap *m = shipped();
	REQUIRE(m);
	uint8_t key[32] = {7};
	const char *files[] = {"tests/fixtures/debezium/customer_with_schema.json",
			       "tests/fixtures/debezium/customer_no_schema.json"};
	char *first = NULL;
	for (int i = 0; i < 2; i++) {
		char *text = slurp(files[i]);
		REQUIRE(text);
		c360_json_doc *d = parse(text);
		free(text);
		REQUIRE(d);
		c360_json_doc *into = c360_json_doc_new();
		struct c360_imap_rec rec;
		char why[200];
		CHECK(c360_imap_extract(m, c360_json_doc_root(d), -1, key, 0, into, &rec, why,
					sizeof why) == C360_OK);
		CHECK(rec.what == C360_IMAP_UPSERT);
		CHECK_EQ_STR(c360_imap_source_system(m, (size_t)rec.source), "home_delivery");
		CHECK_EQ_STR(rec.email, "matthew.groves@couchbase.com");
		CHECK_EQ_INT(rec.ts, 1700748000000);
		char *s = compact(rec.contrib);
		CHECK(strstr(s, "\"profile.address1\":\"600 Sporer Curve\"") != NULL);
		CHECK(strstr(s, "\"id\":1029") != NULL);
		CHECK(strstr(s, "5owhiy1j") == NULL); /* hashed */
		CHECK(strstr(s, "\"p\":\"blake2b-salted:") != NULL);
		if (!first)
			first = s;
		else {
			CHECK_EQ_STR(s, first); /* with or without schema: the same contribution */
			free(s);
		}
		c360_json_doc_free(into);
		c360_json_doc_free(d);
	}
	free(first);
	c360_imap_free(m);
}

TEST(extract_loyalty_and_no_identity)
{
	c360_imap *m = shipped();
	REQUIRE(m);
	uint8_t key[32] = {7};
	c360_json_doc *d = parse("{\"id\":\"27\",\"password\":\"xrinn5xp.swd\",\"firstName\":\"Matthew\","
				 "\"lastName\":\"Groves\",\"email\":\" Matthew.Groves@Couchbase.com\","
				 "\"points\":\"47\"}");
	c360_json_doc *into = c360_json_doc_new();
	struct c360_imap_rec rec;
	char why[200];
	CHECK(c360_imap_extract(m, c360_json_doc_root(d), -1, key, 1234, into, &rec, why,
				sizeof why) == C360_OK);
	CHECK(rec.what == C360_IMAP_UPSERT);
	CHECK_EQ_STR(c360_imap_source_system(m, (size_t)rec.source), "loyalty");
	CHECK_EQ_STR(rec.email, "matthew.groves@couchbase.com");
	CHECK_EQ_INT(rec.ts, 1234); /* timestamp: cas */
	char *s = compact(rec.contrib);
	CHECK(strstr(s, "\"profile.name\":\"Matthew Groves\"") != NULL);
	CHECK(strstr(s, "\"loyaltyPoints\":\"47\"") != NULL);
	CHECK(strstr(s, "\"e\":\" Matthew.Groves@Couchbase.com\"") != NULL); /* original kept */
	free(s);
	c360_json_doc_free(d);

	/* recognised, but the email is unusable: reported, not merged */
	d = parse("{\"id\":\"28\",\"email\":\"not an email\",\"points\":\"3\"}");
	CHECK(c360_imap_extract(m, c360_json_doc_root(d), -1, key, 0, into, &rec, why,
				sizeof why) == C360_OK);
	CHECK(rec.what == C360_IMAP_NO_IDENTITY);
	CHECK(strstr(why, "unusable email") != NULL);
	c360_json_doc_free(d);

	/* the seed's classifier: no points, not loyalty; unknown shape, ignored */
	d = parse("{\"id\":\"29\",\"email\":\"a@b.c\",\"points\":\"\"}");
	CHECK(c360_imap_extract(m, c360_json_doc_root(d), -1, key, 0, into, &rec, why,
				sizeof why) == C360_OK);
	CHECK(rec.what == C360_IMAP_IGNORED);
	c360_json_doc_free(d);

	/* a Debezium delete: tombstone for the row's identity */
	d = parse("{\"payload\":{\"before\":{\"id\":1029,\"email\":\"matthew.groves@couchbase.com\"},"
		  "\"after\":null,\"source\":{\"name\":\"dbserver1\",\"ts_ms\":1700748009999},"
		  "\"op\":\"d\"}}");
	CHECK(c360_imap_extract(m, c360_json_doc_root(d), -1, key, 0, into, &rec, why,
				sizeof why) == C360_OK);
	CHECK(rec.what == C360_IMAP_DELETE);
	CHECK_EQ_STR(rec.email, "matthew.groves@couchbase.com");
	s = compact(rec.contrib);
	CHECK_EQ_STR(s, "{\"s\":\"home_delivery\",\"id\":1029,\"t\":1700748009999,\"d\":true}");
	free(s);
	c360_json_doc_free(d);
	c360_json_doc_free(into);
	c360_imap_free(m);
}

/* Parsing only the mapping's root members extracts the same record as the
 * full document: every source, creates and deletes, with and without the
 * Debezium schema, members the mapping never reads around them. */
static void same_with_root_members(c360_imap *m, const char *text)
{
	uint8_t key[32] = {7};
	size_t nk;
	const char *const *keep = c360_imap_root_members(m, &nk);
	struct c360_json_parse_opts o = {.keep = keep, .nkeep = nk};
	c360_json_doc *full = NULL, *part = NULL;
	REQUIRE(c360_json_parse(text, strlen(text), NULL, &full, NULL) == C360_OK);
	REQUIRE(c360_json_parse(text, strlen(text), &o, &part, NULL) == C360_OK);
	c360_json_doc *i1 = c360_json_doc_new(), *i2 = c360_json_doc_new();
	struct c360_imap_rec r1, r2;
	char w1[200], w2[200];
	CHECK(c360_imap_extract(m, c360_json_doc_root(full), -1, key, 55, i1, &r1, w1, sizeof w1) ==
	      C360_OK);
	CHECK(c360_imap_extract(m, c360_json_doc_root(part), -1, key, 55, i2, &r2, w2, sizeof w2) ==
	      C360_OK);
	CHECK_EQ_INT(r1.what, r2.what);
	CHECK_EQ_INT(r1.source, r2.source);
	CHECK_EQ_STR(r1.email, r2.email);
	CHECK(r1.ts == r2.ts);
	CHECK_EQ_STR(w1, w2);
	if (r1.contrib || r2.contrib) {
		char *a = compact(r1.contrib), *b = compact(r2.contrib);
		CHECK_EQ_STR(a, b);
		free(a);
		free(b);
	}
	c360_json_doc_free(i1);
	c360_json_doc_free(i2);
	c360_json_doc_free(full);
	c360_json_doc_free(part);
}

TEST(extract_reads_only_root_members)
{
	c360_imap *m = shipped();
	REQUIRE(m);
	size_t nk;
	const char *const *keep = c360_imap_root_members(m, &nk);
	REQUIRE(keep && nk > 0);
	bool schema = false, payload = false;
	for (size_t i = 0; i < nk; i++) {
		schema |= !strcmp(keep[i], "schema");
		payload |= !strcmp(keep[i], "payload");
	}
	CHECK(!schema);
	CHECK(payload);
	for (int f = 0; f < 2; f++) {
		char *text = slurp(f ? "tests/fixtures/debezium/customer_with_schema.json"
				     : "tests/fixtures/debezium/customer_no_schema.json");
		REQUIRE(text);
		same_with_root_members(m, text);
		free(text);
	}
	same_with_root_members(m, "{\"x\":[{\"]\":\"}\"}],\"id\":\"27\",\"password\":\"p\","
				  "\"firstName\":\"Matthew\",\"lastName\":\"Groves\",\"email\":\"M@C.com\","
				  "\"points\":\"47\",\"schema\":{\"a\":[1,2,{\"b\":\"\\\"\"}]}}");
	same_with_root_members(m, "{\"schema\":{\"type\":\"struct\"},\"payload\":{\"before\":{\"id\":1029,"
				  "\"email\":\"matthew.groves@couchbase.com\"},\"after\":null,"
				  "\"source\":{\"name\":\"dbserver1\",\"ts_ms\":1700748009999},\"op\":\"d\"}}");
	same_with_root_members(m, "{\"before\":{\"id\":1,\"email\":\"a@b.c\"},\"after\":null,"
				  "\"source\":{\"name\":\"dbserver1\",\"ts_ms\":5},\"op\":\"d\",\"z\":0}");
	same_with_root_members(m, "{\"unrelated\":{\"email\":\"a@b.c\"},\"n\":1}");
	c360_imap_free(m);

	/* pointers with escapes name the member they read, unescaped */
	char err[512];
	m = load("version: 1\nsource_bucket: s\ntarget_bucket: t\nmetadata_bucket: m\n"
		 "fields:\n  profile.name: most_recent\n"
		 "sources:\n  - system: a\n    match: /k~1v present\n    identity: /e~0mail\n"
		 "    external_id: /id\n    fields:\n      profile.name: /n\n",
		 err, sizeof err);
	if (!m)
		printf("  %s\n", err);
	REQUIRE(m);
	keep = c360_imap_root_members(m, &nk);
	REQUIRE(keep);
	bool kv = false, email = false;
	for (size_t i = 0; i < nk; i++) {
		kv |= !strcmp(keep[i], "k/v");
		email |= !strcmp(keep[i], "e~mail");
	}
	CHECK(kv && email);
	same_with_root_members(m, "{\"k/v\":1,\"e~mail\":\"x@y.z\",\"id\":3,\"n\":\"N\",\"q\":[\"]\"]}");
	c360_imap_free(m);
}

TEST(transforms)
{
	char err[512];
	c360_imap *m = load(
		"secrets: drop\n"
		"fields:\n  p.a: most_recent\n  p.b: most_recent\n  p.c: most_recent\n"
		"  p.d: most_recent\n  p.e: most_recent\n  p.f: most_recent\n"
		"sources:\n  - system: s\n    match: [/k == 1, /z absent]\n    identity: {trim: /e}\n"
		"    external_id: {string: /i}\n    secret: /pw\n    timestamp: {pointer: /t, unit: s}\n"
		"    fields:\n      p.a: {concat: [/x, \" - \", /y]}\n      p.b: {number: /n}\n"
		"      p.c: {upper: {trim: /x}}\n      p.d: {join: {sep: \"/\", parts: [/x, /none, /y]}}\n"
		"      p.e: {literal: \"/not-a-pointer\"}\n      p.f: {nonempty: /empty}\n",
		err, sizeof err);
	if (!m)
		printf("  %s\n", err);
	REQUIRE(m);
	c360_json_doc *d = parse("{\"k\":1,\"e\":\" A@B.C \",\"i\":42,\"pw\":\"secret\",\"t\":\"1700000000\","
				 "\"x\":\" ab \",\"y\":\"cd\",\"n\":\" 12.5 \",\"empty\":\"\"}");
	c360_json_doc *into = c360_json_doc_new();
	struct c360_imap_rec rec;
	char why[200];
	CHECK(c360_imap_extract(m, c360_json_doc_root(d), -1, NULL, 0, into, &rec, why,
				sizeof why) == C360_OK);
	CHECK(rec.what == C360_IMAP_UPSERT);
	CHECK_EQ_INT(rec.ts, 1700000000000);
	char *s = compact(rec.contrib);
	CHECK_EQ_STR(s, "{\"s\":\"s\",\"id\":\"42\",\"e\":\"A@B.C\",\"t\":1700000000000,\"f\":{"
			"\"p.a\":\" ab  - cd\",\"p.b\":12.5,\"p.c\":\"AB\",\"p.d\":\" ab /cd\","
			"\"p.e\":\"/not-a-pointer\"}}");
	free(s);
	c360_json_doc_free(d);
	/* the second predicate fails: not recognised */
	d = parse("{\"k\":1,\"z\":0,\"e\":\"a@b.c\"}");
	CHECK(c360_imap_extract(m, c360_json_doc_root(d), -1, NULL, 0, into, &rec, why,
				sizeof why) == C360_OK);
	CHECK(rec.what == C360_IMAP_IGNORED);
	c360_json_doc_free(d);
	c360_json_doc_free(into);
	c360_imap_free(m);
}

/* ---- state, survivorship, deletes ---- */

#define SURV                                                                                  \
	"secrets: plain\n"                                                                    \
	"fields:\n"                                                                           \
	"  profile.name: [a, b]\n"                                                            \
	"  profile.city: most_recent\n"                                                       \
	"sources:\n"                                                                          \
	"  - system: a\n    match: /src == \"a\"\n    identity: /email\n    external_id: /id\n" \
	"    timestamp: /ts\n    secret: /pw\n"                                               \
	"    fields: {profile.name: /name, profile.city: /city}\n"                            \
	"  - system: b\n    match: /src == \"b\"\n    identity: /email\n    external_id: /id\n" \
	"    timestamp: /ts\n"                                                                \
	"    fields: {profile.name: /name, profile.city: /city}\n"

struct apply_env {
	c360_imap *m;
	c360_json_doc *sdoc;
	c360_json *state;
};

static void apply(struct apply_env *e, const char *rkey, const char *json)
{
	c360_json_doc *d = parse(json);
	c360_json_doc *into = c360_json_doc_new();
	struct c360_imap_rec rec;
	char why[200];
	c360_imap_extract(e->m, c360_json_doc_root(d), -1, NULL, 0, into, &rec, why, sizeof why);
	bool changed;
	if (rec.contrib)
		c360_imap_state_apply(e->m, e->sdoc, &e->state, rkey, strlen(rkey), rec.contrib,
				      &changed);
	c360_json_doc_free(into);
	c360_json_doc_free(d);
}

static char *build(struct apply_env *e)
{
	c360_json_doc *out = c360_json_doc_new();
	c360_json *cust;
	c360_imap_build(e->m, e->state, out, &cust);
	char *s = cust ? compact(cust) : NULL;
	c360_json_doc_free(out);
	return s;
}

TEST(survivorship_priority_and_most_recent_with_lineage)
{
	char err[512];
	struct apply_env e = {load(SURV, err, sizeof err), c360_json_doc_new(), NULL};
	REQUIRE(e.m);
	apply(&e, "b:1", "{\"src\":\"b\",\"email\":\"x@y.z\",\"id\":1,\"ts\":300,\"name\":\"Bee\",\"city\":\"Newer\"}");
	apply(&e, "a:9", "{\"src\":\"a\",\"email\":\"X@y.z\",\"id\":9,\"ts\":100,\"name\":\"Ay\",\"city\":\"Older\",\"pw\":\"p\"}");
	char *s = build(&e);
	CHECK_EQ_STR(s, "{\"profile\":{\"name\":\"Ay\",\"city\":\"Newer\"},\"xrefs\":["
			"{\"external_system\":\"a\",\"external_ID\":9,\"pass\":\"p\",\"email\":\"X@y.z\"},"
			"{\"external_system\":\"b\",\"external_ID\":1}],"
			"\"lineage\":{\"profile.name\":{\"system\":\"a\",\"external_ID\":9,\"ts\":100},"
			"\"profile.city\":{\"system\":\"b\",\"external_ID\":1,\"ts\":300}}}");
	free(s);
	/* an older version of b:1 does not win over the newer one */
	apply(&e, "b:1", "{\"src\":\"b\",\"email\":\"x@y.z\",\"id\":1,\"ts\":200,\"name\":\"Bee\",\"city\":\"Stale\"}");
	s = build(&e);
	CHECK(strstr(s, "Newer") && !strstr(s, "Stale"));
	free(s);
	/* equal timestamps: the same winner whatever the order */
	apply(&e, "a:9", "{\"src\":\"a\",\"email\":\"x@y.z\",\"id\":9,\"ts\":300,\"name\":\"Ay\",\"city\":\"Tie\"}");
	s = build(&e);
	CHECK(strstr(s, "\"city\":\"Tie\"") != NULL); /* tie on ts: priority order (a before b) */
	free(s);
	c360_json_doc_free(e.sdoc);
	c360_imap_free(e.m);
}

TEST(delete_recomputes_and_last_delete_removes_customer)
{
	char err[512];
	struct apply_env e = {load(SURV, err, sizeof err), c360_json_doc_new(), NULL};
	REQUIRE(e.m);
	apply(&e, "a:9", "{\"src\":\"a\",\"email\":\"x@y.z\",\"id\":9,\"ts\":100,\"name\":\"Ay\"}");
	apply(&e, "b:1", "{\"src\":\"b\",\"email\":\"x@y.z\",\"id\":1,\"ts\":50,\"name\":\"Bee\"}");
	bool changed;
	CHECK(c360_imap_state_delete(e.m, e.sdoc, e.state, "a:9", 3, INT64_MIN, &changed) == C360_OK);
	CHECK(changed);
	char *s = build(&e);
	CHECK_EQ_STR(s, "{\"profile\":{\"name\":\"Bee\"},\"xrefs\":[{\"external_system\":\"b\","
			"\"external_ID\":1}],\"lineage\":{\"profile.name\":{\"system\":\"b\","
			"\"external_ID\":1,\"ts\":50}}}");
	free(s);
	/* a replay of the deleted version does not bring it back */
	apply(&e, "a:9", "{\"src\":\"a\",\"email\":\"x@y.z\",\"id\":9,\"ts\":100,\"name\":\"Ay\"}");
	s = build(&e);
	CHECK(!strstr(s, "Ay"));
	free(s);
	/* a newer insert does */
	apply(&e, "a:9", "{\"src\":\"a\",\"email\":\"x@y.z\",\"id\":9,\"ts\":101,\"name\":\"Ay2\"}");
	s = build(&e);
	CHECK(strstr(s, "Ay2") != NULL);
	free(s);
	CHECK(c360_imap_state_delete(e.m, e.sdoc, e.state, "a:9", 3, INT64_MIN, &changed) == C360_OK);
	CHECK(c360_imap_state_delete(e.m, e.sdoc, e.state, "b:1", 3, INT64_MIN, &changed) == C360_OK);
	CHECK(!c360_imap_state_live(e.state));
	s = build(&e);
	CHECK(s == NULL);
	free(s);
	c360_json_doc_free(e.sdoc);
	c360_imap_free(e.m);
}

/* A source with a timestamp pointer whose document lacks the time (found by
 * tests/fuzz/fuzz_imap.c: a Debezium event without source.ts_ms) is merged,
 * flagged, and never replaces a timestamped version of its record, in either
 * order; two versions without a time still go by arrival. */
TEST(version_without_its_timestamp_never_replaces_a_timestamped_one)
{
	char err[512];
	const char *clock =
	    "{\"src\":\"a\",\"email\":\"x@y.z\",\"id\":9,\"ts\":100,\"city\":\"Clock\"}";
	const char *none =
	    "{\"src\":\"a\",\"email\":\"x@y.z\",\"id\":9,\"ts\":\"soon\",\"city\":\"NoClock\"}";
	const char *none2 = "{\"src\":\"a\",\"email\":\"x@y.z\",\"id\":9,\"city\":\"NoClock2\"}";
	c360_imap *m = load(SURV, err, sizeof err);
	REQUIRE(m);
	const char *docs[] = {clock, none, none2};
	const bool flagged[] = {false, true, true};
	for (int i = 0; i < 3; i++) {
		c360_json_doc *d = parse(docs[i]);
		c360_json_doc *into = c360_json_doc_new();
		struct c360_imap_rec rec;
		char why[200];
		CHECK(c360_imap_extract(m, c360_json_doc_root(d), -1, NULL, 0, into, &rec, why,
		                        sizeof why) == C360_OK);
		CHECK(rec.what == C360_IMAP_UPSERT);
		CHECK(rec.no_clock == flagged[i]);
		c360_json_doc_free(into);
		c360_json_doc_free(d);
	}
	c360_imap_free(m);
	const char *orders[][3] = {
	    {clock, none, NULL}, {none, clock, NULL}, {none, none2, clock}, {clock, none2, none}};
	for (int o = 0; o < 4; o++) {
		struct apply_env e = {load(SURV, err, sizeof err), c360_json_doc_new(), NULL};
		REQUIRE(e.m);
		for (int i = 0; i < 3 && orders[o][i]; i++)
			apply(&e, "a:9", orders[o][i]);
		char *s = build(&e);
		CHECK(s && strstr(s, "\"city\":\"Clock\"") && strstr(s, "\"ts\":100"));
		if (!s || !strstr(s, "\"city\":\"Clock\""))
			printf("  order %d: %s\n", o, s ? s : "(none)");
		free(s);
		c360_json_doc_free(e.sdoc);
		c360_imap_free(e.m);
	}
	/* neither has a time: the later arrival wins */
	struct apply_env e = {load(SURV, err, sizeof err), c360_json_doc_new(), NULL};
	REQUIRE(e.m);
	apply(&e, "a:9", none);
	apply(&e, "a:9", none2);
	char *s = build(&e);
	CHECK(s && strstr(s, "\"city\":\"NoClock2\""));
	free(s);
	c360_json_doc_free(e.sdoc);
	c360_imap_free(e.m);
}

TEST(secrets_drop_and_plain)
{
	char err[512];
	const char *row = "{\"src\":\"a\",\"email\":\"x@y.z\",\"id\":9,\"ts\":1,\"pw\":\"hunter2\"}";
	const char *modes[] = {"drop", "plain"};
	for (int i = 0; i < 2; i++) {
		char text[1024];
		snprintf(text, sizeof text, "secrets: %s\n%s", modes[i], SURV + strlen("secrets: plain\n"));
		struct apply_env e = {load(text, err, sizeof err), c360_json_doc_new(), NULL};
		REQUIRE(e.m);
		apply(&e, "a:9", row);
		char *s = build(&e);
		REQUIRE(s);
		if (i == 0)
			CHECK(!strstr(s, "hunter2") && !strstr(s, "\"pass\""));
		else
			CHECK(strstr(s, "\"pass\":\"hunter2\"") != NULL);
		free(s);
		c360_json_doc_free(e.sdoc);
		c360_imap_free(e.m);
	}
}

/* The customer document as text (c360_imap_build_text, from the mapping's
 * pre-escaped pieces and its tree of dot paths) is byte for byte the built
 * document written, for nested paths whose fields win or not in any
 * combination, names that need escaping and non-ASCII names. */
#define NESTED                                                                                \
	"document: {type: user, \"q\\\"uote\": [1, \"\\u00e9\"]}\n"                           \
	"secrets: plain\n"                                                                    \
	"xref: {field: \"x\\\"refs\", system: \"sys\\u00e9\", id: id, email: mail}\n"         \
	"lineage: \"lin\\\\eage\"\n"                                                          \
	"fields:\n"                                                                           \
	"  a.x: most_recent\n"                                                                \
	"  b: [\"t\\u00e9\", s]\n"                                                              \
	"  a.y.z: most_recent\n"                                                              \
	"  \"c\\u00e9.e\": most_recent\n"                                                       \
	"  a.y.w: [s]\n"                                                                      \
	"  f: most_recent\n"                                                                  \
	"sources:\n"                                                                          \
	"  - system: s\n    match: /src == \"s\"\n    identity: /email\n    external_id: /id\n" \
	"    timestamp: /ts\n    secret: /pw\n"                                               \
	"    fields: {a.y.w: /w, a.y.z: /z, b: /b, f: /f}\n"                                  \
	"  - system: \"t\\u00e9\"\n    match: /src == \"t\"\n    identity: /email\n"          \
	"    external_id: /id\n"                                                              \
	"    fields: {\"c\\u00e9.e\": /e, a.x: /x, b: /b}\n"

TEST(text_build_matches_the_document)
{
	char err[512];
	struct apply_env e = {load(NESTED, err, sizeof err), c360_json_doc_new(), NULL};
	if (!e.m)
		printf("  %s\n", err);
	REQUIRE(e.m);
	static const char *const recs[][2] = {
		{"s:1", "{\"src\":\"s\",\"email\":\"x@y.z\",\"id\":1,\"ts\":5,\"w\":\"W\"}"},
		{"t:2", "{\"src\":\"t\",\"email\":\" X@Y.z\",\"id\":\"2\",\"x\":{\"n\":[1]}}"},
		{"s:3", "{\"src\":\"s\",\"email\":\"x@y.z\",\"id\":3,\"ts\":9,\"f\":\"\\u00e9\\\"\","
			"\"pw\":\"p\\n\"}"},
		{"t:4", "{\"src\":\"t\",\"email\":\"x@y.z\",\"e\":null,\"b\":\"tb\"}"},
		{"s:5", "{\"src\":\"s\",\"email\":\"x@y.z\",\"id\":5,\"ts\":7,\"z\":true,\"b\":2}"},
		{"t:6", "{\"src\":\"t\",\"email\":\"x@y.z\",\"id\":6,\"e\":\"E\",\"x\":0}"},
	};
	int checked = 0;
	for (size_t i = 0; i < sizeof recs / sizeof recs[0]; i++) {
		apply(&e, recs[i][0], recs[i][1]);
		char *want = build(&e);
		struct c360_buf got;
		c360_buf_init(&got, 0);
		bool none = true;
		CHECK(c360_imap_build_text(e.m, e.state, &got, &none) == C360_OK);
		CHECK(none == !want);
		CHECK_EQ_STR(got.data ? got.data : "", want ? want : "");
		checked += want != NULL;
		free(want);
		c360_buf_release(&got);
	}
	CHECK(checked == 6);
	c360_json_doc_free(e.sdoc);
	c360_imap_free(e.m);
}

int main(void)
{
	RUN(shipped_mapping_loads);
	RUN(online_url_env_overrides_file);
	RUN(minimal_mapping_loads);
	RUN(bad_mappings_name_file_line_column);
	RUN(bad_file_names_path);
	RUN(normalize_email);
	RUN(secret_hash_is_keyed_and_bound_to_system);
	RUN(secret_hash_is_salted_per_record);
	RUN(secret_key_from_env);
	RUN(extract_debezium_with_and_without_schema);
	RUN(extract_loyalty_and_no_identity);
	RUN(extract_reads_only_root_members);
	RUN(transforms);
	RUN(survivorship_priority_and_most_recent_with_lineage);
	RUN(delete_recomputes_and_last_delete_removes_customer);
	RUN(version_without_its_timestamp_never_replaces_a_timestamped_one);
	RUN(secrets_drop_and_plain);
	RUN(text_build_matches_the_document);
	return test_summary();
}
