/* libFuzzer target for Eventing function definitions: Couchbase's exported
 * function JSON, read from a file (`c360 function deploy`) or POSTed to the
 * Eventing-style admin endpoint. On any input the parser either fails with
 * a reason or gives a definition that writes back as JSON the parser reads
 * again, to the same bytes (what `c360 function export` prints can be
 * deployed again unchanged). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "eventing/eventing.h"

#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct c360_fn_def def;
	char err[512];
	err[0] = '\0';
	if (c360_fn_def_parse((const char *)data, size, &def, err, sizeof err)) {
		if (!err[0])
			abort(); /* a refusal says why */
		return 0;
	}
	struct c360_buf a, b;
	c360_buf_init(&a, 0);
	c360_buf_init(&b, 0);
	if (c360_fn_def_write(&def, &a))
		abort();
	struct c360_fn_def again;
	if (c360_fn_def_parse(a.data, a.len, &again, err, sizeof err)) {
		fprintf(stderr, "written definition does not parse (%s):\n%.*s\n", err, (int)a.len,
		        a.data);
		abort();
	}
	if (c360_fn_def_write(&again, &b))
		abort();
	if (a.len != b.len || memcmp(a.data, b.data, a.len)) {
		fprintf(stderr, "not stable:\n%.*s\n---\n%.*s\n", (int)a.len, a.data, (int)b.len,
		        b.data);
		abort();
	}
	c360_fn_def_release(&again);
	c360_fn_def_release(&def);
	c360_buf_release(&a);
	c360_buf_release(&b);
	return 0;
}
