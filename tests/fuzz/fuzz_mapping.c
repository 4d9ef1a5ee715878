/* libFuzzer target for the native mapping's loader (YAML via libfyaml, then
 * c360's checks): on any input it either loads or fails with
 * "m.yaml:LINE:COLUMN: reason", the promise for bad mapping files.
 * A mapping that loads is then run over the Debezium fixtures and a loyalty
 * row: extraction, state and customer document must not fail on them. */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/json.h"
#include "integrate/integrate.h"

#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static c360_json_doc *docs[3];
static const uint8_t key[C360_IMAP_KEYBYTES] = "fuzz-mapping-secret-key-01234567";

static c360_json_doc *load_doc(const char *rel)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", C360_SRC, rel);
	FILE *f = fopen(path, "rb");
	if (!f)
		abort();
	static char buf[1 << 16];
	size_t n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	c360_json_doc *d = NULL;
	if (c360_json_parse(buf, n, NULL, &d, NULL))
		abort();
	return d;
}

static void init(void)
{
	/* the YAML probe (src/core/yaml.c) forks only from a one-thread process
	 * under the sanitizers: without it, libfyaml's own crashes end the run */
	FILE *st = fopen("/proc/self/status", "r");
	char line[256];
	while (st && fgets(line, sizeof line, st))
		if (!strncmp(line, "Threads:", 8) && strtol(line + 8, NULL, 10) != 1)
			fprintf(stderr, "fuzz_mapping: more than one thread (run with "
			                "-rss_limit_mb=0): libfyaml's crashes will not be caught\n");
	if (st)
		fclose(st);
	docs[0] = load_doc("tests/fixtures/debezium/customer_with_schema.json");
	docs[1] = load_doc("tests/fixtures/debezium/customer_no_schema.json");
	const char *row = "{\"id\":\"7\",\"firstName\":\"Ann\",\"lastName\":\"Lee\",\"email\":"
	                  "\" Ann@Example.com\",\"points\":\"12\",\"password\":\"pw\"}";
	if (c360_json_parse(row, strlen(row), NULL, &docs[2], NULL))
		abort();
}

/* "m.yaml:LINE:COLUMN: " with LINE and COLUMN positive numbers */
static bool positioned(const char *err)
{
	const char *p = err;
	if (strncmp(p, "m.yaml:", 7))
		return false;
	p += 7;
	for (int part = 0; part < 2; part++) {
		if (!isdigit((unsigned char)*p) || *p == '0')
			return false;
		while (isdigit((unsigned char)*p))
			p++;
		if (*p++ != ':')
			return false;
	}
	return *p == ' ' && p[1];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!docs[0])
		init();
	c360_imap *m = NULL;
	char err[512];
	err[0] = '\0';
	c360_rc rc = c360_imap_load("m.yaml", (const char *)data, size, &m, err, sizeof err);
	if (rc) {
		if (m)
			abort();
		if (rc == C360_ERR_INVALID && !positioned(err)) {
			fprintf(stderr, "error without file:line:column: '%s'\n", err);
			abort();
		}
		return 0;
	}
	c360_json_doc *sdoc = c360_json_doc_new();
	if (!sdoc)
		abort();
	c360_json *state = NULL;
	for (size_t i = 0; i < sizeof docs / sizeof *docs; i++) {
		c360_json_doc *into = c360_json_doc_new();
		struct c360_imap_rec rec;
		char why[256];
		if (!into || c360_imap_extract(m, c360_json_doc_root(docs[i]), -1, key, 1234, into,
		                               &rec, why, sizeof why))
			abort();
		if (rec.contrib) {
			bool changed;
			char rk[32];
			snprintf(rk, sizeof rk, "r%zu", i);
			if (c360_imap_state_apply(m, sdoc, &state, rk, strlen(rk), rec.contrib,
			                          &changed))
				abort();
		}
		c360_json_doc_free(into);
	}
	if (state) {
		struct c360_buf b;
		c360_buf_init(&b, 0);
		bool none;
		if (c360_imap_build_text(m, state, &b, &none))
			abort();
		c360_buf_release(&b);
	}
	c360_json_doc_free(sdoc);
	c360_imap_free(m);
	return 0;
}
