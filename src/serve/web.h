/* The dashboard's files (web/), embedded into the binary at build time by
 * cmake/embed.cmake (generated/web_assets.c). */
#ifndef C360_SERVE_WEB_H
#define C360_SERVE_WEB_H

#include <stddef.h>

struct c360_web_asset {
	const char *path;          /* relative to web/, e.g. "app.js"; NULL ends the table */
	const unsigned char *data; /* NUL-terminated */
	size_t len;
	const char *content_type;
};

extern const struct c360_web_asset c360_web_assets[];

#endif
