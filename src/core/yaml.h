/* YAML configuration files (libfyaml) loaded into the c360 JSON DOM, with
 * the source position of every value kept, so that a config check anywhere
 * can report "file:line:column: what was expected".
 *
 * Scalars map to JSON: plain null/~/empty → null, true/false → bool, a plain
 * scalar that is a valid JSON number → number, anything else (and every
 * quoted scalar) → string. Mappings → objects (keys are strings; a duplicate
 * key is an error), sequences → arrays, aliases are resolved. */
#ifndef C360_CORE_YAML_H
#define C360_CORE_YAML_H

#include <stdbool.h>
#include <stddef.h>

#include "core/json.h"
#include "core/rc.h"

struct c360_yaml;

/* Loads the first document of a YAML file. On a syntax error returns
 * C360_ERR_INVALID with "file:line:column: reason" in err; a missing file
 * gives C360_ERR_NOT_FOUND / C360_ERR_IO with the reason. */
c360_rc c360_yaml_load_file(const char *path, struct c360_yaml **out, char *err, size_t errlen);
/* The same from memory; `name` stands for the file name in messages. */
c360_rc c360_yaml_load_string(const char *name, const char *text, size_t len,
			      struct c360_yaml **out, char *err, size_t errlen);
void c360_yaml_free(struct c360_yaml *y); /* accepts NULL */

/* The document's root value (NULL for an empty document) and its DOM. */
c360_json *c360_yaml_root(const struct c360_yaml *y);
c360_json_doc *c360_yaml_doc(const struct c360_yaml *y);
const char *c360_yaml_name(const struct c360_yaml *y);

/* 1-based line and column where value v (of this document) starts; for an
 * object member value use the value itself. False when unknown (a value
 * added after loading). */
bool c360_yaml_pos(const struct c360_yaml *y, const c360_json *v, unsigned *line, unsigned *col);
/* Position of the key of an object member (member = the member's value). */
bool c360_yaml_key_pos(const struct c360_yaml *y, const c360_json *member, unsigned *line,
		       unsigned *col);
/* Like c360_yaml_fail, at the member's key (for "unknown key" messages). */
c360_rc c360_yaml_fail_key(const struct c360_yaml *y, const c360_json *member, char *err,
			   size_t errlen, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Writes "file:line:column: <message>" (or "file: <message>" when v has no
 * position) into err. Returns C360_ERR_INVALID for `return c360_yaml_fail(…)`. */
c360_rc c360_yaml_fail(const struct c360_yaml *y, const c360_json *v, char *err, size_t errlen,
		       const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#endif
