/* libFuzzer target for the HTTP server's percent-decoding (every path
 * segment and query argument goes through it): never reads or writes out of
 * bounds, output never longer than the input, success means valid UTF-8
 * without NUL and only when every '%' starts a two-hex-digit escape. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serve/http.h"

#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 1 << 16)
		return 0;
	char *out = malloc(size + 1);
	if (!out)
		return 0;
	for (int plus = 0; plus < 2; plus++) {
		size_t n = (size_t)-1;
		int r = c360_http_pct_decode((const char *)data, size, out, &n, plus);
		if (r == 0) {
			if (n > size || strlen(out) != n)
				abort();
			for (size_t i = 0; i < size; i++)
				if (data[i] == '%' && (i + 2 >= size || !strchr("0123456789abcdefABCDEF", data[i + 1]) ||
						       !strchr("0123456789abcdefABCDEF", data[i + 2]) || !data[i + 1] ||
						       !data[i + 2]))
					abort();
		} else if (r != -1 && r != -2 && r != -3) {
			abort();
		}
	}
	free(out);
	return 0;
}
