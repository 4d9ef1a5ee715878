/* Helpers shared by `c360 cbimport` and `c360 import`: the progress line,
 * the summary, dataset URIs and single-character options. */
#ifndef C360_CLI_IMPORT_CLI_H
#define C360_CLI_IMPORT_CLI_H

#include <stdbool.h>

#include "sources/csv/importer.h"

/* Draws the progress line on stderr (set as c360_import_opts.progress when
 * stderr is a terminal). */
void c360_cli_import_progress(const struct c360_import_progress *p, void *ctx);
/* Prints "c360: read N rows … in T s (R rows/s, M MB/s)" on stderr. */
void c360_cli_import_summary(const char *cmd, const struct c360_import_stats *s);
/* "file:///a/b.csv" -> "/a/b.csv", "file://b.csv" -> "b.csv", a plain path
 * as it is; NULL (after printing why) for http(s):// and other schemes. */
const char *c360_cli_dataset_path(const char *cmd, const char *dataset);
/* One character from an option value: "x", "\t", "tab"; false (after
 * printing why) otherwise. */
bool c360_cli_char_opt(const char *cmd, const char *name, const char *val, char *out);

#endif
