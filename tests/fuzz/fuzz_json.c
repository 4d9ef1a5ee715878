/* libFuzzer target for the JSON core: parse; on success write (compact,
 * pretty, ASCII), reparse and compare, check compact output is stable, copy
 * and compare; validate must agree with parse. Parsing with a keep list
 * (root members left out) must be memory-safe on any input, and on valid
 * input equal the full parse without the members not kept. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"

#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_round_trip(const c360_json *v, unsigned flags, const char *first,
                             size_t first_len)
{
	size_t n;
	char *s = c360_json_write_str(v, flags, &n);
	if (!s)
		abort();
	c360_json_doc *d2 = NULL;
	struct c360_json_error e;
	struct c360_json_parse_opts o = {.max_depth = 100000};
	if (c360_json_parse(s, n, &o, &d2, &e)) {
		fprintf(stderr, "output does not reparse (%s at %zu): %.200s\n", e.reason, e.offset,
		        s);
		abort();
	}
	if (!c360_json_equal(v, c360_json_doc_root(d2))) {
		fprintf(stderr, "reparsed output differs: %.200s\n", s);
		abort();
	}
	if (first) {
		size_t m;
		char *again = c360_json_write_str(c360_json_doc_root(d2), flags, &m);
		if (!again || m != first_len || memcmp(again, first, m)) {
			fprintf(stderr, "compact output not stable\n");
			abort();
		}
		free(again);
	}
	c360_json_doc_free(d2);
	free(s);
}

static const char *const keep[] = {"a", "b", "payload", ""};

static bool kept(const char *k, size_t n)
{
	for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++)
		if (strlen(keep[i]) == n && !memcmp(keep[i], k, n))
			return true;
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	c360_json_doc *d = NULL, *dk = NULL;
	struct c360_json_error e;
	struct c360_json_parse_opts ko = {.keep = keep, .nkeep = sizeof keep / sizeof keep[0]};
	c360_rc krc = c360_json_parse((const char *)data, size, &ko, &dk, NULL);
	c360_rc rc = c360_json_parse((const char *)data, size, NULL, &d, &e);
	if (c360_json_validate((const char *)data, size, NULL, NULL) != rc)
		abort();
	if (rc) {
		c360_json_doc_free(dk);
		if (d || e.offset > size || !e.reason[0] || e.line < 1 || e.column < 1)
			abort();
		return 0;
	}
	c360_json *root = c360_json_doc_root(d);
	/* valid input: the kept parse is the full one without the other members */
	if (krc)
		abort();
	c360_json_doc *want = c360_json_doc_new();
	c360_json *w = want ? c360_json_copy(want, root) : NULL;
	if (!w)
		abort();
	if (c360_json_is_object(w)) {
		for (c360_json *m = c360_json_first(w), *nx; m; m = nx) {
			nx = c360_json_next(m);
			size_t kl;
			const char *k = c360_json_key(m, &kl);
			if (!kept(k, kl))
				c360_json_remove(w, k, kl);
		}
	}
	if (!c360_json_equal(w, c360_json_doc_root(dk)))
		abort();
	c360_json_doc_free(want);
	c360_json_doc_free(dk);
	size_t n;
	char *compact = c360_json_write_str(root, 0, &n);
	if (!compact)
		abort();
	check_round_trip(root, 0, compact, n);
	check_round_trip(root, C360_JSON_PRETTY, NULL, 0);
	check_round_trip(root, C360_JSON_ASCII, NULL, 0);
	c360_json_doc *d2 = c360_json_doc_new();
	c360_json *cp = c360_json_copy(d2, root);
	if ((root && !cp) || !c360_json_equal(root, cp))
		abort();
	/* pointer to the first member/element resolves to it */
	c360_json *first = c360_json_first(root);
	if (first && c360_json_is_array(root) && c360_json_ptr_get(root, "/0") != first)
		abort();
	c360_json_doc_free(d2);
	free(compact);
	c360_json_doc_free(d);
	return 0;
}
