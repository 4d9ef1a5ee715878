/* Leveled, thread-safe logging as text or JSON lines. */
#include "core/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "core/buf.h"
#include "core/banned.h"

static enum c360_log_level g_level = C360_LOG_INFO;
static enum c360_log_format g_format = C360_LOG_TEXT;
static FILE *g_file;
static void (*g_hook)(enum c360_log_level, const char *, const char *);
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"error", "warn", "info", "debug", "trace"};

void c360_log_set_level(enum c360_log_level level) { g_level = level; }
enum c360_log_level c360_log_get_level(void) { return g_level; }
void c360_log_set_format(enum c360_log_format fmt) { g_format = fmt; }
bool c360_log_enabled(enum c360_log_level level) { return level <= g_level; }

void c360_log_set_hook(void (*hook)(enum c360_log_level, const char *, const char *))
{
	pthread_mutex_lock(&g_lock);
	g_hook = hook;
	pthread_mutex_unlock(&g_lock);
}

bool c360_log_parse_level(const char *s, enum c360_log_level *out)
{
	for (unsigned i = 0; i < sizeof level_names / sizeof *level_names; i++) {
		if (strcasecmp(s, level_names[i]) == 0) {
			*out = (enum c360_log_level)i;
			return true;
		}
	}
	if (strcasecmp(s, "warning") == 0) {
		*out = C360_LOG_WARN;
		return true;
	}
	return false;
}

c360_rc c360_log_set_file(const char *path)
{
	FILE *f = NULL;
	if (path) {
		f = fopen(path, "a");
		if (!f)
			return C360_ERR_IO;
		setvbuf(f, NULL, _IOLBF, 0);
	}
	pthread_mutex_lock(&g_lock);
	if (g_file)
		fclose(g_file);
	g_file = f;
	pthread_mutex_unlock(&g_lock);
	return C360_OK;
}

/* Appends s as the inside of a JSON string (quotes not included). */
static void json_escape(struct c360_buf *b, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		switch (c) {
		case '"': c360_buf_puts(b, "\\\""); break;
		case '\\': c360_buf_puts(b, "\\\\"); break;
		case '\n': c360_buf_puts(b, "\\n"); break;
		case '\r': c360_buf_puts(b, "\\r"); break;
		case '\t': c360_buf_puts(b, "\\t"); break;
		default:
			if (c < 0x20)
				c360_buf_printf(b, "\\u%04x", c);
			else
				c360_buf_putc(b, (char)c);
		}
	}
}

void c360_log(enum c360_log_level level, const char *who, const char *fmt, ...)
{
	if (level > g_level)
		return;
	char msg[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);

	struct timeval tv;
	gettimeofday(&tv, NULL);
	struct tm tm;
	gmtime_r(&tv.tv_sec, &tm);
	char ts[64];
	snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (int)(tv.tv_usec / 1000));

	struct c360_buf b;
	c360_buf_init(&b, 0);
	if (g_format == C360_LOG_JSON) {
		c360_buf_printf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"who\":\"", ts,
				level_names[level]);
		json_escape(&b, who ? who : "c360");
		c360_buf_puts(&b, "\",\"msg\":\"");
		json_escape(&b, msg);
		c360_buf_puts(&b, "\"}\n");
	} else {
		c360_buf_printf(&b, "%s %-5s [%s] %s\n", ts, level_names[level], who ? who : "c360",
				msg);
	}
	pthread_mutex_lock(&g_lock);
	FILE *out = g_file ? g_file : stderr;
	fwrite(c360_buf_cstr(&b), 1, b.len, out);
	if (g_hook)
		g_hook(level, who, msg);
	pthread_mutex_unlock(&g_lock);
	c360_buf_release(&b);
}
