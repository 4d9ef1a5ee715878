/* The pipeline file of `c360 run PIPELINE.yaml`: the store, the buckets, the
 * sources (Kafka sinks, a CSV drop folder on a schedule, the online-store
 * poller), the functions and the HTTP server of one c360 process.
 *
 * Loading checks the structure and every value this layer understands, and
 * reports the first problem as "file:line:column: what was expected". The
 * per-connector settings stay as JSON (struct c360_source.settings) and are
 * checked by the connector's own option table when the pipeline starts;
 * c360_pipeline_fail() gives those checks the same file:line:column form.
 * See docs/run.md for the file format. */
#ifndef C360_PIPELINE_CONFIG_H
#define C360_PIPELINE_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "core/json.h"
#include "core/log.h"
#include "core/rc.h"
#include "core/yaml.h"
#include "store/store.h"

#define C360_PIPELINE_MAX 32

/* When a scheduled source runs: "every 10m" or "daily 02:00" (UTC). */
struct c360_schedule {
	enum { C360_SCHED_NONE = 0, C360_SCHED_EVERY, C360_SCHED_DAILY } kind;
	int64_t every_s; /* EVERY: period in seconds */
	int hour, minute;/* DAILY: time of day, UTC */
};

/* Parses "every DURATION" / "daily HH:MM"; false when malformed. */
bool c360_schedule_parse(const char *s, struct c360_schedule *out);
/* The first run time strictly after `after` (Unix seconds). */
int64_t c360_schedule_next(const struct c360_schedule *s, int64_t after);

enum c360_source_type {
	C360_SOURCE_KAFKA = 1,
	C360_SOURCE_CSV,
	C360_SOURCE_REST,
};
const char *c360_source_type_str(enum c360_source_type t);

struct c360_source {
	char name[64];
	enum c360_source_type type;
	const c360_json *settings; /* the type's mapping, borrowed from the config */
	struct c360_schedule schedule; /* csv: when to look in the drop folder */
	const c360_json *at;       /* for messages */
};

/* The Eventing settings a pipeline may set on a function (over the ones in
 * its file): Couchbase's names, as c360_fn_def_set reads them. */
#define C360_PIPELINE_FN_SETTINGS                                                        \
	"dcp_stream_boundary", "worker_count", "execution_timeout", "checkpoint_interval", \
		"log_level", "description"

struct c360_function_ref {
	char name[101];          /* optional override of the function's own name */
	const char *file;        /* a .js file or Couchbase's exported function JSON */
	const char *native;      /* a native mapping YAML */
	const c360_json *settings; /* NULL, or a mapping of C360_PIPELINE_FN_SETTINGS (borrowed) */
	const c360_json *at;
};

struct c360_bucket_decl {
	char name[C360_BUCKET_NAME_MAX + 1];
	uint32_t max_ttl;
};

struct c360_pipeline_config {
	struct c360_yaml *yaml;  /* owns every borrowed pointer below */
	const char *store_path;  /* NULL = --store / $C360_STORE / ./c360.db */
	enum c360_sync synchronous;
	enum c360_log_level log_level;
	enum c360_log_format log_format;
	struct c360_bucket_decl buckets[C360_PIPELINE_MAX];
	int nbuckets;
	struct c360_source sources[C360_PIPELINE_MAX];
	int nsources;
	struct c360_function_ref functions[C360_PIPELINE_MAX];
	int nfunctions;
	bool serve;              /* a serve: section is present */
	const char *bind;        /* default 127.0.0.1 */
	int port;                /* default 8091 */
	bool auth;               /* serve.auth: require a token even while none exists */
	int max_connections;     /* serve.max_connections, 0 = the HTTP server's default */
	int max_connections_per_ip; /* serve.max_connections_per_ip, 0 = default */
	int header_timeout;      /* serve.header_timeout in seconds, 0 = default */
	int query_concurrency;   /* serve.query_concurrency, 0 = the API's default (2) */
	int query_timeout_s;     /* serve.query_timeout, 0 = the API's default (10 s) */
	int query_max_mib;       /* serve.query_max_mib, 0 = the API's default (32) */
	const char *connect_brokers; /* connect.bootstrap.servers: the brokers of connectors
				      * POSTed to /connectors without their own; NULL = none */
};

/* Loads and checks a pipeline file; relative paths in it are resolved
 * against the file's directory. err receives "file:line:column: reason". */
c360_rc c360_pipeline_load(const char *path, struct c360_pipeline_config **out, char *err,
			   size_t errlen);
/* The same from memory (for tests); `name` stands for the file name. */
c360_rc c360_pipeline_load_string(const char *name, const char *text,
				  struct c360_pipeline_config **out, char *err, size_t errlen);
void c360_pipeline_free(struct c360_pipeline_config *cfg); /* accepts NULL */
/* Resolves a path written in the file against the file's directory (absolute
 * paths and files loaded from memory are left as they are) into out. */
void c360_pipeline_path(const struct c360_pipeline_config *cfg, const char *path, char *out,
			size_t outlen);
/* Rejects a key of obj not in allowed (NULL-terminated): "file:line:column:
 * unknown key 'K' in WHERE (expected one of: …)" at the key. */
c360_rc c360_pipeline_known_keys(const struct c360_pipeline_config *cfg, const c360_json *obj,
				 const char *where, const char *const *allowed, char *err,
				 size_t errlen);
struct c360_fn_def;
/* Sets fr's `settings:` on def (c360_fn_def_set), over what def holds; a
 * bad value is "file:line:column: settings.NAME: invalid value 'V'". */
c360_rc c360_pipeline_apply_settings(const struct c360_pipeline_config *cfg,
				     const struct c360_function_ref *fr, struct c360_fn_def *def,
				     char *err, size_t errlen);
/* "file:line:column: <message>" about value v of this config. */
c360_rc c360_pipeline_fail(const struct c360_pipeline_config *cfg, const c360_json *v, char *err,
			   size_t errlen, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#endif
