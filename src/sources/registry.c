/* The registry of source connectors (one ops struct each). */
#include <string.h>

#include "sources/source.h"
#include "core/banned.h"

extern const struct c360_source_ops c360_source_kafka;
extern const struct c360_source_ops c360_source_csv;
extern const struct c360_source_ops c360_source_rest;

const struct c360_source_ops *const c360_source_registry[] = {
	&c360_source_kafka,
	&c360_source_csv,
	&c360_source_rest,
	NULL,
};

const struct c360_source_ops *c360_source_ops_find(const char *type)
{
	for (const struct c360_source_ops *const *o = c360_source_registry; *o; o++)
		if (!strcmp((*o)->type, type))
			return *o;
	return NULL;
}
