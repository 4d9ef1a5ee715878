/* Lookup in the table of files embedded at build time. */
#include "demo/embedded.h"

#include <string.h>

#include "core/banned.h"

const char *c360_embedded_find(const char *name)
{
	for (const struct c360_embedded_file *f = c360_embedded_files; f->name; f++)
		if (!strcmp(f->name, name))
			return f->text;
	return "";
}
