/* Files shipped inside the binary so that `c360 demo` needs nothing else:
 * functions/customer360.yaml, functions/customer360.js,
 * functions/customer360.json and examples/home-delivery-sink.json, embedded
 * at build time by cmake/embed_files.cmake (generated/embedded_files.c). */
#ifndef C360_DEMO_EMBEDDED_H
#define C360_DEMO_EMBEDDED_H

#include <stddef.h>

struct c360_embedded_file {
	const char *name; /* base name, e.g. "customer360.yaml"; NULL ends the table */
	const char *text; /* NUL-terminated */
	size_t len;
};

extern const struct c360_embedded_file c360_embedded_files[];

/* The text of the embedded file `name`, or "" when there is none. */
const char *c360_embedded_find(const char *name);

#endif
