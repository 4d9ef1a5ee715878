/* c360 HTTP server (libmicrohttpd, thread pool) with a small router.
 *
 * Modules register routes on a server before it starts; a handler gets the
 * parsed request and fills a response. Path patterns are literal segments
 * and {name} captures ("/api/v1/customers/{email}"); captures are
 * percent-decoded. Handlers run on pool threads: they must be thread-safe.
 *
 * Auth: a route's scope says who may call it. With auth enabled (tokens
 * exist or --auth), C360_HTTP_READ routes need a read or admin bearer token,
 * C360_HTTP_ADMIN routes an admin one, C360_HTTP_OPEN routes none. */
#ifndef C360_SERVE_HTTP_H
#define C360_SERVE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/rc.h"

typedef struct c360_http c360_http;

enum c360_http_scope {
	C360_HTTP_OPEN = 0,
	C360_HTTP_READ,
	C360_HTTP_ADMIN,
};

struct c360_http_req {
	const char *method; /* "GET", "POST", … */
	const char *path;   /* decoded path, without the query */
	const char *body;   /* NUL-terminated; NULL when empty */
	size_t body_len;
	void *conn;         /* internal */
	const char *const *param_names; /* {name} captures, in pattern order */
	const char *const *param_values;
	int nparams;
};

/* Query-string argument (decoded) or NULL. */
const char *c360_http_query(const struct c360_http_req *req, const char *name);
/* Whether the query string has name=value (of several name= arguments, any). */
bool c360_http_query_has(const struct c360_http_req *req, const char *name, const char *value);
/* Request header or NULL (case-insensitive name). */
const char *c360_http_header(const struct c360_http_req *req, const char *name);
/* Path capture by name, or NULL. */
const char *c360_http_param(const struct c360_http_req *req, const char *name);

struct c360_http_resp {
	int status;                /* default 200 */
	const char *content_type;  /* default "application/json" */
	struct c360_buf body;      /* capped; the handler appends */
	char headers[512];         /* extra "Name: value\r\n" lines */
};

/* Sets status and a JSON body {"error": code, "message": msg}. */
void c360_http_error(struct c360_http_resp *resp, int status, const char *code, const char *fmt,
		     ...) __attribute__((format(printf, 4, 5)));
/* Adds a response header. */
void c360_http_add_header(struct c360_http_resp *resp, const char *name, const char *value);

typedef void (*c360_http_handler)(const struct c360_http_req *req, struct c360_http_resp *resp,
				  void *ctx);

/* Connection limits (docs/serve.md, "Connection limits"). A connection is
 * "waiting" from its accept, and again from the end of each request, until
 * the headers of its next request are complete. */
#define C360_HTTP_DEFAULT_CONNECTIONS 512
#define C360_HTTP_DEFAULT_CONNECTIONS_PER_IP 128
#define C360_HTTP_DEFAULT_HEADER_TIMEOUT 10 /* seconds */
#define C360_HTTP_MAX_CONNECTIONS 16384

struct c360_http_opts {
	const char *bind; /* default "127.0.0.1" */
	int port;         /* 0 = any free port (see c360_http_port) */
	int threads;      /* default 4 */
	size_t max_body;  /* request body cap, default 32 MiB */
	/* open connections at most (default 512). When full, a new connection
	 * closes the one waiting longest for its request headers, else it is
	 * refused. */
	int max_connections;
	/* open connections from one client address at most (default 128, or
	 * max_connections when smaller); when reached, the same eviction among
	 * that address's connections */
	int max_connections_per_ip;
	/* seconds a waiting connection has to complete its request headers,
	 * counted from the accept (or the previous request's end), so bytes
	 * trickling in do not extend it (default 10) */
	int header_timeout;
};

c360_http *c360_http_new(const struct c360_http_opts *opts);
/* Registers a route; method "*" matches any. Later routes do not override
 * earlier ones with the same pattern. ctx is borrowed. */
c360_rc c360_http_route(c360_http *h, const char *method, const char *pattern,
			enum c360_http_scope scope, c360_http_handler fn, void *ctx);
c360_rc c360_http_start(c360_http *h, char *err, size_t errlen);
int c360_http_port(const c360_http *h);
/* Stops (waiting for running handlers) and frees. Accepts NULL. */
void c360_http_free(c360_http *h);

/* ---- additions (serve) ---- */

/* Patterns may end with a rest capture "{name...}" matching one or more
 * remaining segments, given decoded and joined by '/' ("/ui/{file...}").
 * A request whose path matches a route but not its method gets 405 with an
 * Allow header; no match gets 404; GET routes also answer HEAD. "/health"
 * answers {"status":"ok"} (open) unless a module registers it. */

/* Registers a route whose handler may run long (SQL queries): it runs on a
 * thread of its own while the connection is suspended, so it never holds up
 * a worker and the requests queued behind it (/health above all). At most
 * max_running run at once; one more is answered 429 {"error":"busy"} with
 * Retry-After: 1 at once. c360_http_free waits for running handlers. */
c360_rc c360_http_route_slow(c360_http *h, const char *method, const char *pattern,
			     enum c360_http_scope scope, c360_http_handler fn, void *ctx,
			     int max_running);

/* Auth hook, called for READ and ADMIN routes. token is the bearer token
 * (NULL when the request has none). Returns the scope the caller holds:
 * C360_HTTP_READ or C360_HTTP_ADMIN, or -1 for none (missing, unknown or
 * revoked token: 401). A hook that allows everyone returns C360_HTTP_ADMIN.
 * Without a hook every route is open. Runs on pool threads. */
typedef int (*c360_http_auth_fn)(const char *token, void *ctx);
/* Sets the auth hook (before c360_http_start). ctx is borrowed. */
void c360_http_set_auth(c360_http *h, c360_http_auth_fn fn, void *ctx);
/* "open", "read", "admin". */
const char *c360_http_scope_str(enum c360_http_scope s);
/* The address the server binds ("127.0.0.1" unless opts.bind said otherwise). */
const char *c360_http_bind_addr(const c360_http *h);
/* True when addr is a loopback address: "localhost", 127.0.0.0/8, "::1" or
 * an IPv4-mapped 127.x ("::ffff:127.0.0.1"). Anything else, the wildcards
 * "0.0.0.0" and "::" included, is reachable from other machines. */
bool c360_http_is_loopback(const char *addr);
/* Requests received so far. */
uint64_t c360_http_requests(const c360_http *h);

struct c360_http_stats {
	uint64_t requests;        /* received */
	uint64_t connections;     /* open now (not counting those being closed) */
	uint64_t accepted;        /* connections accepted */
	uint64_t rejected_full;   /* refused: max_connections reached, none waiting */
	uint64_t rejected_per_ip; /* refused: the address's limit reached, none waiting */
	uint64_t evicted;         /* closed to make room for a new connection */
	uint64_t header_timeouts; /* closed: request headers not complete in time */
	uint64_t idle_closed;     /* closed: keep-alive connection idle past header_timeout */
};
void c360_http_get_stats(const c360_http *h, struct c360_http_stats *out);
/* A core/metrics.h collector (ctx: the c360_http): c360_http_requests_total,
 * c360_http_connections, c360_http_connections_accepted_total,
 * c360_http_connections_rejected_total{reason="max_connections"|"per_ip"},
 * c360_http_connections_closed_total{reason="evicted"|"header_timeout"|"idle"}. */
struct c360_metrics_out;
void c360_http_collect(void *ctx, struct c360_metrics_out *out);
/* Percent-decodes in[0..n) into out (room for n + 1 bytes), '+' as space
 * when plus_space. Returns 0, or -1 malformed escape, -2 "%00" or a raw NUL,
 * -3 the result is not UTF-8. */
int c360_http_pct_decode(const char *in, size_t n, char *out, size_t *outlen, bool plus_space);

#endif
