/* The mock online store's JSON lines loader: a stand-in until the JSON core
 * links (the real loader is mockstore_load.c.wip). */
#include "sources/rest/mockstore_data.h"

#include <stdio.h>

#include "core/banned.h"

c360_rc ms_data_load(struct ms_data *d, const char *path, char *err, size_t errlen)
{
	(void)d;
	snprintf(err, errlen, "cannot load '%s': JSON lines data sets need the JSON core", path);
	return C360_ERR_UNSUPPORTED;
}
