/* libFuzzer target: the .properties reader on arbitrary bytes; every entry
 * it hands out must be valid UTF-8 without NUL, and every error must carry
 * a position inside the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/props.h"
#include "core/utf8.h"
#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static c360_rc check(const char *key, size_t klen, const char *value, size_t vlen, unsigned line, void *ctx)
{
	(void)line;
	(void)ctx;
	if (c360_utf8_prefix(key, klen) != klen || c360_utf8_prefix(value, vlen) != vlen || memchr(key, 0, klen) ||
	    memchr(value, 0, vlen) || key[klen] || value[vlen])
		abort();
	return C360_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct c360_props_error pe;
	c360_rc rc = c360_props_parse((const char *)data, size, check, NULL, &pe);
	if (rc == C360_ERR_INVALID && (pe.line < 1 || pe.line > size + 1 || pe.col < 1 || pe.col > size + 1))
		abort();
	return 0;
}
