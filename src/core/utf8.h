/* UTF-8 validation shared by the parts that check text they did not make
 * (YAML files, Kafka document ids), and the hex digit that escapes in such
 * text use (%XX in URLs, \uXXXX in .properties files). The JSON core keeps
 * its own, which also tells whether a string needs escaping. */
#ifndef C360_CORE_UTF8_H
#define C360_CORE_UTF8_H

#include <stddef.h>

/* Length of the longest prefix of s[0..n) that is valid UTF-8 (n when all
 * of it is): shortest forms only, no surrogates, nothing past U+10FFFF. NUL
 * counts as a character. */
size_t c360_utf8_prefix(const char *s, size_t n);

/* The value of the hex digit c (0-9, a-f, A-F), or -1 when c is not one. */
static inline int c360_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

#endif
