/* UTF-8 validation shared by the parts that check text they did not make
 * (YAML files, Kafka document ids). The JSON core keeps its own, which also
 * tells whether a string needs escaping. */
#ifndef C360_CORE_UTF8_H
#define C360_CORE_UTF8_H

#include <stddef.h>

/* Length of the longest prefix of s[0..n) that is valid UTF-8 (n when all
 * of it is): shortest forms only, no surrogates, nothing past U+10FFFF. NUL
 * counts as a character. */
size_t c360_utf8_prefix(const char *s, size_t n);

#endif
