/* c360 logging: leveled, thread-safe, text or JSON lines, to stderr or a file.
 *
 * Log once, in the layer that decides. Messages are lower-case, without a
 * final period, subject in quotes: "cannot open bucket 'staging': ...".
 * `who` names the component or instance ("store", "kafka:home-delivery"). */
#ifndef C360_CORE_LOG_H
#define C360_CORE_LOG_H

#include <stdbool.h>

#include "core/rc.h"

enum c360_log_level {
	C360_LOG_ERROR = 0,
	C360_LOG_WARN,
	C360_LOG_INFO,
	C360_LOG_DEBUG,
	C360_LOG_TRACE,
};

enum c360_log_format {
	C360_LOG_TEXT = 0, /* 2026-11-23T10:00:00.123Z info  [kafka:hd] message */
	C360_LOG_JSON,     /* {"ts":"…","level":"info","who":"kafka:hd","msg":"…"} */
};

void c360_log_set_level(enum c360_log_level level);
enum c360_log_level c360_log_get_level(void);
void c360_log_set_format(enum c360_log_format fmt);
/* Parses "error|warn|info|debug|trace"; returns false if unknown. */
bool c360_log_parse_level(const char *s, enum c360_log_level *out);
/* Sends logs to a file (appending), or back to stderr with NULL. */
c360_rc c360_log_set_file(const char *path);
/* Called with every line written (after formatting), e.g. to count errors. */
void c360_log_set_hook(void (*hook)(enum c360_log_level, const char *who, const char *msg));

bool c360_log_enabled(enum c360_log_level level);
void c360_log(enum c360_log_level level, const char *who, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define C360_ERROR(who, ...) c360_log(C360_LOG_ERROR, who, __VA_ARGS__)
#define C360_WARN(who, ...) c360_log(C360_LOG_WARN, who, __VA_ARGS__)
#define C360_INFO(who, ...) c360_log(C360_LOG_INFO, who, __VA_ARGS__)
#define C360_DEBUG(who, ...) \
	do { if (c360_log_enabled(C360_LOG_DEBUG)) c360_log(C360_LOG_DEBUG, who, __VA_ARGS__); } while (0)
#define C360_TRACE(who, ...) \
	do { if (c360_log_enabled(C360_LOG_TRACE)) c360_log(C360_LOG_TRACE, who, __VA_ARGS__); } while (0)

#endif
