/* FNV-1a over bytes: the one small string hash of c360's in-memory tables
 * (never stored, so its constants may not change meaning on disk). Its low
 * bits are weak; a table indexed by them mixes the result further. */
#ifndef C360_CORE_HASH_H
#define C360_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t c360_fnv1a(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 1099511628211ull;
	}
	return h;
}

#endif
