#include "core/utf8.h"

#include "core/banned.h"

size_t c360_utf8_prefix(const char *text, size_t n)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t i = 0;
	while (i < n) {
		unsigned c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t k = c >= 0xC2 && c <= 0xDF   ? 2
		           : c >= 0xE0 && c <= 0xEF ? 3
		           : c >= 0xF0 && c <= 0xF4 ? 4
		                                    : 0;
		if (!k || i + k > n)
			return i;
		unsigned lo = 0x80, hi = 0xBF; /* the second byte's range */
		if (c == 0xE0)
			lo = 0xA0; /* no overlong 3-byte forms */
		else if (c == 0xED)
			hi = 0x9F; /* no surrogates */
		else if (c == 0xF0)
			lo = 0x90; /* no overlong 4-byte forms */
		else if (c == 0xF4)
			hi = 0x8F; /* nothing past U+10FFFF */
		if (s[i + 1] < lo || s[i + 1] > hi)
			return i;
		for (size_t j = 2; j < k; j++)
			if ((s[i + j] & 0xC0) != 0x80)
				return i;
		i += k;
	}
	return n;
}
