/* The c360 HTTP server: libmicrohttpd (epoll, thread pool) plus a router with
 * {name} captures, body caps, bearer-token scopes and JSON errors.
 *
 * Request life: MHD calls access() first with the headers only. We route
 * then (so 404/405/401/413 answer before any body is read), keep the match in
 * a per-connection struct, collect the body into a capped buffer on the next
 * calls, and run the handler on the final call. MHD is told not to unescape
 * anything (identity unescaper), so the router splits the raw path on '/'
 * before percent-decoding each segment: "%2F" in an email stays inside its
 * segment, and a malformed escape is a 400, not a silent pass-through. */
#include "serve/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/utf8.h"
#include "core/banned.h"

#define MAX_SEGMENTS 32
#define MAX_ARGS 64
#define RESP_MAX (256u << 20)

struct route {
	char *method;
	char *pattern;
	char *segs[MAX_SEGMENTS]; /* literal text, or the capture name for captures */
	unsigned char kind[MAX_SEGMENTS]; /* 0 literal, 1 capture, 2 rest capture */
	int nsegs;
	int nparams;
	enum c360_http_scope scope;
	c360_http_handler fn;
	void *ctx;
	int max_running; /* > 0: a slow route (see c360_http_route_slow) */
	int running;     /* its handlers running now (atomic) */
};

/* One open connection, from libmicrohttpd's "started" notification to its
 * "closed" one (which comes before MHD closes the socket, so fd stays valid
 * while the entry is listed under cmu). */
struct conn {
	struct conn *prev, *next;
	int fd;
	struct sockaddr_storage addr;
	int64_t since_ms;  /* when it began waiting for request headers */
	unsigned requests; /* requests completed on it */
	bool waiting;      /* the headers of its next request are not complete */
	bool line_seen;    /* that request's first line has arrived */
	bool closing;      /* shut down by us; MHD has not cleaned it up yet */
};

struct c360_http {
	struct c360_http_opts opts;
	pthread_mutex_t cmu;       /* guards the connection list and the counters */
	pthread_cond_t ccv;        /* wakes the reaper to stop */
	struct conn *conns;
	int nconns, nclosing;
	struct c360_http_stats cs; /* connection counters (requests: below) */
	uint64_t reported;         /* closes and refusals already logged */
	int64_t reported_ms;
	pthread_t reaper;
	bool reaper_on, reaper_stop;
	char bind[64];
	struct MHD_Daemon *d;
	int port;
	struct route *routes;
	size_t nroutes, caproutes;
	c360_http_auth_fn auth;
	void *auth_ctx;
	uint64_t requests; /* answered, atomic */
	pthread_mutex_t slow_mu;
	pthread_cond_t slow_cv;
	int slow_running; /* slow handlers on their own thread, under slow_mu */
};

/* Per-request state, allocated on MHD's first call and freed on completion. */
struct reqstate {
	struct c360_http *h;
	struct MHD_Connection *conn;
	const struct route *route;
	int status;           /* an early error decided before the body (0 = none) */
	bool too_big;
	struct c360_buf body;
	char *segbuf;         /* decoded path segments, NUL separated */
	const char *pnames[MAX_SEGMENTS];
	const char *pvalues[MAX_SEGMENTS];
	int nparams;
	const char *anames[MAX_ARGS];
	const char *avalues[MAX_ARGS];
	int nargs;
	char *argbuf;
	char *dpath;          /* the whole path, percent-decoded */
	char errcode[32];
	char errmsg[256];
	char allow[64];
	/* a slow route: its handler's request and answer, and 1 while it
	 * runs on its thread (the connection suspended), 2 once done */
	struct c360_http_req areq;
	struct c360_http_resp aresp;
	int astate;
};

/* ---- small helpers ---- */

static void json_escape(struct c360_buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	c360_buf_putc(b, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		unsigned char c = *p;
		if (c == '"' || c == '\\') {
			c360_buf_putc(b, '\\');
			c360_buf_putc(b, (char)c);
		} else if (c == '\n') {
			c360_buf_puts(b, "\\n");
		} else if (c == '\r') {
			c360_buf_puts(b, "\\r");
		} else if (c == '\t') {
			c360_buf_puts(b, "\\t");
		} else if (c < 0x20) {
			char e[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};
			c360_buf_puts(b, e);
		} else {
			c360_buf_putc(b, (char)c);
		}
	}
	c360_buf_putc(b, '"');
}

static bool utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		unsigned char c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t len;
		uint32_t cp;
		if (c >= 0xc2 && c <= 0xdf) {
			len = 2;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (i + len > n)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

int c360_http_pct_decode(const char *in, size_t n, char *out, size_t *outlen, bool plus_space)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		char c = in[i];
		if (c == '%') {
			if (i + 2 >= n)
				return -1;
			int a = c360_hexval((unsigned char)in[i + 1]), b = c360_hexval((unsigned char)in[i + 2]);
			if (a < 0 || b < 0)
				return -1;
			char v = (char)(a * 16 + b);
			if (v == 0)
				return -2;
			out[o++] = v;
			i += 2;
		} else if (c == 0) {
			return -2; /* a raw NUL: never valid in a C string we hand out */
		} else if (c == '+' && plus_space) {
			out[o++] = ' ';
		} else {
			out[o++] = c;
		}
	}
	out[o] = 0;
	if (!utf8_valid((const unsigned char *)out, o))
		return -3;
	*outlen = o;
	return 0;
}

static const char *decode_problem(int r)
{
	switch (r) {
	case -1:
		return "malformed percent-encoding (expected %XX with two hex digits)";
	case -2:
		return "percent-encoded NUL byte (%00) is not allowed";
	default:
		return "percent-decoded text is not valid UTF-8";
	}
}

static void set_early_error(struct reqstate *rs, int status, const char *code, const char *fmt,
			    ...) __attribute__((format(printf, 4, 5)));
static void set_early_error(struct reqstate *rs, int status, const char *code, const char *fmt, ...)
{
	rs->status = status;
	snprintf(rs->errcode, sizeof rs->errcode, "%s", code);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(rs->errmsg, sizeof rs->errmsg, fmt, ap);
	va_end(ap);
}

/* ---- public request/response helpers ---- */

const char *c360_http_query(const struct c360_http_req *req, const char *name)
{
	const struct reqstate *rs = req ? req->conn : NULL;
	if (!rs || !name)
		return NULL;
	for (int i = 0; i < rs->nargs; i++)
		if (!strcmp(rs->anames[i], name))
			return rs->avalues[i];
	return NULL;
}

bool c360_http_query_has(const struct c360_http_req *req, const char *name, const char *value)
{
	const struct reqstate *rs = req ? req->conn : NULL;
	if (!rs || !name || !value)
		return false;
	for (int i = 0; i < rs->nargs; i++)
		if (!strcmp(rs->anames[i], name) && rs->avalues[i] && !strcmp(rs->avalues[i], value))
			return true;
	return false;
}

const char *c360_http_header(const struct c360_http_req *req, const char *name)
{
	const struct reqstate *rs = req ? req->conn : NULL;
	if (!rs || !name)
		return NULL;
	return MHD_lookup_connection_value(rs->conn, MHD_HEADER_KIND, name);
}

const char *c360_http_param(const struct c360_http_req *req, const char *name)
{
	if (!req || !name)
		return NULL;
	for (int i = 0; i < req->nparams; i++)
		if (!strcmp(req->param_names[i], name))
			return req->param_values[i];
	return NULL;
}

void c360_http_error(struct c360_http_resp *resp, int status, const char *code, const char *fmt,
		     ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	resp->status = status;
	resp->content_type = "application/json";
	c360_buf_reset(&resp->body);
	c360_buf_puts(&resp->body, "{\"error\":");
	json_escape(&resp->body, code ? code : "error");
	c360_buf_puts(&resp->body, ",\"message\":");
	json_escape(&resp->body, msg);
	c360_buf_puts(&resp->body, "}\n");
}

void c360_http_add_header(struct c360_http_resp *resp, const char *name, const char *value)
{
	size_t used = strnlen(resp->headers, sizeof resp->headers);
	if (!name || !value || strpbrk(name, "\r\n:") || strpbrk(value, "\r\n"))
		return;
	int n = snprintf(resp->headers + used, sizeof resp->headers - used, "%s: %s\r\n", name, value);
	if (n < 0 || (size_t)n >= sizeof resp->headers - used)
		resp->headers[used] = 0; /* does not fit: drop it whole */
}

void c360_http_set_auth(c360_http *h, c360_http_auth_fn fn, void *ctx)
{
	h->auth = fn;
	h->auth_ctx = ctx;
}

const char *c360_http_scope_str(enum c360_http_scope s)
{
	switch (s) {
	case C360_HTTP_OPEN:
		return "open";
	case C360_HTTP_READ:
		return "read";
	case C360_HTTP_ADMIN:
		return "admin";
	}
	return "?";
}

const char *c360_http_bind_addr(const c360_http *h)
{
	return h ? h->bind : NULL;
}

bool c360_http_is_loopback(const char *addr)
{
	struct in_addr a4;
	struct in6_addr a6;
	if (!addr)
		return false;
	if (!strcmp(addr, "localhost"))
		return true;
	if (inet_pton(AF_INET, addr, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, addr, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6) ||
		       (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
	return false;
}

/* ---- server lifecycle and routes ---- */

c360_http *c360_http_new(const struct c360_http_opts *opts)
{
	c360_http *h = calloc(1, sizeof *h);
	if (!h)
		return NULL;
	if (opts)
		h->opts = *opts;
	snprintf(h->bind, sizeof h->bind, "%s",
		 h->opts.bind && *h->opts.bind ? h->opts.bind : "127.0.0.1");
	h->opts.bind = h->bind;
	if (h->opts.threads <= 0)
		h->opts.threads = 4;
	if (h->opts.threads > 256)
		h->opts.threads = 256;
	if (!h->opts.max_body)
		h->opts.max_body = 32u << 20;
	if (h->opts.max_connections <= 0)
		h->opts.max_connections = C360_HTTP_DEFAULT_CONNECTIONS;
	if (h->opts.max_connections_per_ip <= 0)
		h->opts.max_connections_per_ip =
			h->opts.max_connections < C360_HTTP_DEFAULT_CONNECTIONS_PER_IP
				? h->opts.max_connections
				: C360_HTTP_DEFAULT_CONNECTIONS_PER_IP;
	if (h->opts.header_timeout <= 0)
		h->opts.header_timeout = C360_HTTP_DEFAULT_HEADER_TIMEOUT;
	pthread_mutex_init(&h->cmu, NULL);
	pthread_condattr_t ca; /* the reaper's waits are timed on the monotonic clock */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->ccv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&h->slow_mu, NULL);
	pthread_cond_init(&h->slow_cv, NULL);
	return h;
}

c360_rc c360_http_route(c360_http *h, const char *method, const char *pattern,
			enum c360_http_scope scope, c360_http_handler fn, void *ctx)
{
	if (!h || !method || !pattern || pattern[0] != '/' || !fn || h->d)
		return C360_ERR_INVALID;
	if (h->nroutes == h->caproutes) {
		size_t nc = h->caproutes ? h->caproutes * 2 : 32;
		struct route *nr = realloc(h->routes, nc * sizeof *nr);
		if (!nr)
			return C360_ERR_NOMEM;
		h->routes = nr;
		h->caproutes = nc;
	}
	struct route r;
	memset(&r, 0, sizeof r);
	r.method = strdup(method);
	r.pattern = strdup(pattern);
	if (!r.method || !r.pattern)
		goto nomem;
	r.scope = scope;
	r.fn = fn;
	r.ctx = ctx;
	const char *p = pattern;
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (r.nsegs == MAX_SEGMENTS)
			goto bad;
		unsigned char kind = 0;
		const char *s = p;
		size_t sn = n;
		if (n >= 2 && p[0] == '{' && p[n - 1] == '}') {
			kind = 1;
			s = p + 1;
			sn = n - 2;
			if (sn > 3 && !memcmp(s + sn - 3, "...", 3)) {
				kind = 2;
				sn -= 3;
				if (e && e[1])
					goto bad; /* a rest capture ends the pattern */
			}
			if (!sn)
				goto bad;
			r.nparams++;
		}
		r.segs[r.nsegs] = strndup(s, sn);
		if (!r.segs[r.nsegs])
			goto nomem;
		r.kind[r.nsegs++] = kind;
		p += n;
	}
	h->routes[h->nroutes++] = r;
	return C360_OK;
bad:
	for (int i = 0; i < r.nsegs; i++)
		free(r.segs[i]);
	free(r.method);
	free(r.pattern);
	return C360_ERR_INVALID;
nomem:
	for (int i = 0; i < r.nsegs; i++)
		free(r.segs[i]);
	free(r.method);
	free(r.pattern);
	return C360_ERR_NOMEM;
}

c360_rc c360_http_route_slow(c360_http *h, const char *method, const char *pattern,
			     enum c360_http_scope scope, c360_http_handler fn, void *ctx,
			     int max_running)
{
	if (max_running < 1)
		return C360_ERR_INVALID;
	c360_rc rc = c360_http_route(h, method, pattern, scope, fn, ctx);
	if (!rc)
		h->routes[h->nroutes - 1].max_running = max_running;
	return rc;
}

/* Splits the raw path into decoded segments (in rs->segbuf). Returns the
 * number of segments, or -1 after setting a 400. */
static int split_path(struct reqstate *rs, const char *url, const char **segs, size_t *lens)
{
	size_t n = strlen(url);
	rs->segbuf = malloc(n + 1 + MAX_SEGMENTS);
	if (!rs->segbuf) {
		set_early_error(rs, 500, "internal", "out of memory");
		return -1;
	}
	char *o = rs->segbuf;
	int ns = 0;
	const char *p = url;
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *e = strchr(p, '/');
		size_t sn = e ? (size_t)(e - p) : strlen(p);
		if (ns == MAX_SEGMENTS) {
			set_early_error(rs, 404, "not_found", "no route for a path with more than %d segments",
					MAX_SEGMENTS);
			return -1;
		}
		size_t dl;
		int r = c360_http_pct_decode(p, sn, o, &dl, false);
		if (r) {
			set_early_error(rs, 400, "bad_path", "path segment %d: %s", ns + 1,
					decode_problem(r));
			return -1;
		}
		segs[ns] = o;
		lens[ns] = dl;
		o += dl + 1;
		ns++;
		p += sn;
	}
	return ns;
}

static bool method_ok(const struct route *r, const char *method)
{
	if (!strcmp(r->method, "*") || !strcmp(r->method, method))
		return true;
	return !strcmp(method, "HEAD") && !strcmp(r->method, "GET");
}

/* Finds the route for (method, path); fills rs->pnames/pvalues. */
static const struct route *route_find(struct reqstate *rs, const char *method, const char *url,
				      char *rest_store)
{
	const char *segs[MAX_SEGMENTS];
	size_t lens[MAX_SEGMENTS];
	int ns = split_path(rs, url, segs, lens);
	if (ns < 0)
		return NULL;
	bool path_matched = false;
	size_t allow_len = 0;
	rs->allow[0] = 0;
	for (size_t i = 0; i < rs->h->nroutes; i++) {
		const struct route *r = &rs->h->routes[i];
		bool has_rest = r->nsegs && r->kind[r->nsegs - 1] == 2;
		if (has_rest ? ns < r->nsegs : ns != r->nsegs)
			continue;
		int k = 0;
		for (; k < r->nsegs; k++) {
			if (r->kind[k] == 0 && strcmp(r->segs[k], segs[k]))
				break;
			if (r->kind[k] && !lens[k])
				break;
		}
		if (k != r->nsegs)
			continue;
		if (!method_ok(r, method)) {
			path_matched = true;
			int w = snprintf(rs->allow + allow_len, sizeof rs->allow - allow_len, "%s%s",
					 allow_len ? ", " : "", r->method);
			if (w > 0 && (size_t)w < sizeof rs->allow - allow_len)
				allow_len += (size_t)w;
			continue;
		}
		rs->nparams = 0;
		for (k = 0; k < r->nsegs; k++) {
			if (!r->kind[k])
				continue;
			rs->pnames[rs->nparams] = r->segs[k];
			if (r->kind[k] == 2) {
				/* rest capture: rejoin the remaining decoded segments */
				char *o = rest_store;
				for (int j = k; j < ns; j++) {
					if (j > k)
						*o++ = '/';
					memcpy(o, segs[j], lens[j]);
					o += lens[j];
				}
				*o = 0;
				rs->pvalues[rs->nparams++] = rest_store;
			} else {
				rs->pvalues[rs->nparams++] = segs[k];
			}
		}
		return r;
	}
	if (path_matched)
		set_early_error(rs, 405, "method_not_allowed", "method %s is not allowed on %s (allowed: %s)",
				method, url, rs->allow);
	else if (!rs->status)
		set_early_error(rs, 404, "not_found", "no such endpoint: %s %s", method, url);
	return NULL;
}

struct argctx {
	struct reqstate *rs;
	char *o;
	char *end;
	bool bad;
};

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				   const char *value)
{
	struct argctx *a = cls;
	(void)kind;
	if (a->rs->nargs == MAX_ARGS) {
		set_early_error(a->rs, 400, "bad_query", "more than %d query arguments", MAX_ARGS);
		a->bad = true;
		return MHD_NO;
	}
	const char *kv[2] = {key, value ? value : ""};
	const char *out[2];
	for (int i = 0; i < 2; i++) {
		size_t n = strlen(kv[i]), dl;
		if (a->o + n + 1 > a->end) {
			a->bad = true;
			return MHD_NO;
		}
		int r = c360_http_pct_decode(kv[i], n, a->o, &dl, true);
		if (r) {
			set_early_error(a->rs, 400, "bad_query", "query argument '%.60s': %s", key,
					decode_problem(r));
			a->bad = true;
			return MHD_NO;
		}
		out[i] = a->o;
		a->o += dl + 1;
	}
	a->rs->anames[a->rs->nargs] = out[0];
	a->rs->avalues[a->rs->nargs++] = out[1];
	return MHD_YES;
}

static enum MHD_Result add_len(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	size_t *t = cls;
	(void)kind;
	*t += strlen(key) + (value ? strlen(value) : 0) + 2;
	return MHD_YES;
}

static size_t identity_unescape(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	return strlen(s);
}

static enum MHD_Result send_resp(struct MHD_Connection *conn, int status, const char *ctype,
				 char *body, size_t len, const char *headers, const char *allow)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(len, body ? body : (char *)"", body ? MHD_RESPMEM_MUST_FREE
										  : MHD_RESPMEM_PERSISTENT);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	if (ctype && status != 204 && status != 304)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	if (allow && *allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	/* extra "Name: value\r\n" lines from the handler */
	const char *p = headers;
	while (p && *p) {
		const char *eol = strstr(p, "\r\n");
		size_t n = eol ? (size_t)(eol - p) : strlen(p);
		const char *colon = memchr(p, ':', n);
		if (colon) {
			char name[128], value[512];
			size_t nl = (size_t)(colon - p);
			const char *v = colon + 1;
			while (v < p + n && *v == ' ')
				v++;
			size_t vl = (size_t)(p + n - v);
			if (nl < sizeof name && vl < sizeof value) {
				memcpy(name, p, nl);
				name[nl] = 0;
				memcpy(value, v, vl);
				value[vl] = 0;
				MHD_add_response_header(r, name, value);
			}
		}
		p += n;
		if (eol)
			p += 2;
	}
	enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result send_error(struct reqstate *rs, int status, const char *code,
				  const char *msg)
{
	struct c360_buf b;
	c360_buf_init(&b, 0);
	c360_buf_puts(&b, "{\"error\":");
	json_escape(&b, code);
	c360_buf_puts(&b, ",\"message\":");
	json_escape(&b, msg);
	c360_buf_puts(&b, "}\n");
	size_t len;
	char *body = c360_buf_detach(&b, &len);
	const char *hdr = status == 401 ? "WWW-Authenticate: Bearer realm=\"c360\"\r\n" : NULL;
	C360_DEBUG("http", "%d %s: %s", status, code, msg);
	return send_resp(rs->conn, status, "application/json", body, len, hdr,
			 status == 405 ? rs->allow : NULL);
}

/* Checks the route's scope against the Authorization header. Returns 0 when
 * allowed, else sets the early error. */
static int check_auth(struct reqstate *rs, const struct route *r)
{
	if (r->scope == C360_HTTP_OPEN || !rs->h->auth)
		return 0;
	const char *hdr = MHD_lookup_connection_value(rs->conn, MHD_HEADER_KIND,
						      MHD_HTTP_HEADER_AUTHORIZATION);
	const char *token = NULL;
	if (hdr) {
		if (!strncasecmp(hdr, "Bearer ", 7)) {
			token = hdr + 7;
			while (*token == ' ')
				token++;
		} else {
			set_early_error(rs, 401, "unauthorized",
					"the Authorization header must be 'Bearer TOKEN'");
			return -1;
		}
	}
	int granted = rs->h->auth(token, rs->h->auth_ctx);
	if (granted < 0) {
		if (!token)
			set_early_error(rs, 401, "unauthorized",
					"this endpoint needs a bearer token (Authorization: Bearer TOKEN; create one with 'c360 token create')");
		else
			set_early_error(rs, 401, "unauthorized", "the bearer token is unknown or revoked");
		return -1;
	}
	if ((int)r->scope > granted) {
		set_early_error(rs, 403, "forbidden", "this endpoint needs a token with scope '%s'",
				c360_http_scope_str(r->scope));
		return -1;
	}
	return 0;
}

/* ---- connection limits ----
 *
 * libmicrohttpd's own limits cannot tell a client that is slowly sending its
 * request headers from one that is being answered, and its idle timeout
 * restarts with every byte, so a few hundred half-sent requests (or a byte
 * every 20 s) used to hold every slot. c360 keeps its own list of open
 * connections (MHD's connection notifications), marks each one "waiting"
 * from its accept (and from the end of each request) until its next request's
 * headers are complete (the access handler's first call), and:
 *   - a reaper thread shuts down connections waiting longer than
 *     header_timeout, counted from when the wait began, so a drip cannot
 *     extend it;
 *   - the accept policy enforces max_connections and max_connections_per_ip
 *     by closing the connection that has waited longest for its headers (of
 *     that address, for the per-address limit) to make room; only when no
 *     connection is waiting is the new one refused. A client that sends its
 *     request at once (a /health probe) therefore always gets a slot while
 *     the slots are held by idle or half-sent connections, even from its own
 *     address.
 * Connections are closed with shutdown(2) on their socket: MHD sees the end
 * of the stream and cleans them up in its own thread. This is safe because
 * MHD notifies "closed" (which unlists the entry under cmu) before it closes
 * the descriptor, so a listed fd is never a reused one. Several pool threads
 * accept at once, so the limits may be passed by at most one connection per
 * thread; MHD's own limit, a little above, is the hard cap. */

static bool same_ip(const struct sockaddr_storage *a, const struct sockaddr *b)
{
	if (!b || a->ss_family != b->sa_family)
		return false;
	if (b->sa_family == AF_INET)
		return !memcmp(&((const struct sockaddr_in *)a)->sin_addr,
			       &((const struct sockaddr_in *)(const void *)b)->sin_addr,
			       sizeof(struct in_addr));
	if (b->sa_family == AF_INET6)
		return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
			       &((const struct sockaddr_in6 *)(const void *)b)->sin6_addr,
			       sizeof(struct in6_addr));
	return false;
}

/* Shuts a listed connection down (cmu held) and counts why. */
static void conn_shut(struct c360_http *h, struct conn *c, uint64_t *counter)
{
	shutdown(c->fd, SHUT_RDWR);
	c->closing = true;
	h->nclosing++;
	(*counter)++;
}

/* The connection waiting longest for its request headers, from address ip
 * (any address when NULL), or NULL. cmu held. */
static struct conn *oldest_waiting(struct c360_http *h, const struct sockaddr *ip)
{
	struct conn *best = NULL;
	for (struct conn *c = h->conns; c; c = c->next)
		if (c->waiting && !c->closing && (!ip || same_ip(&c->addr, ip)) &&
		    (!best || c->since_ms < best->since_ms))
			best = c;
	return best;
}

static enum MHD_Result accept_cb(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	struct c360_http *h = cls;
	enum MHD_Result ok = MHD_YES;
	(void)addrlen;
	pthread_mutex_lock(&h->cmu);
	int from_ip = 0;
	for (struct conn *c = h->conns; c; c = c->next)
		if (!c->closing && same_ip(&c->addr, addr))
			from_ip++;
	struct conn *victim;
	if (from_ip >= h->opts.max_connections_per_ip) {
		if ((victim = oldest_waiting(h, addr))) {
			conn_shut(h, victim, &h->cs.evicted);
		} else {
			h->cs.rejected_per_ip++;
			ok = MHD_NO;
		}
	} else if (h->nconns - h->nclosing >= h->opts.max_connections) {
		if ((victim = oldest_waiting(h, NULL))) {
			conn_shut(h, victim, &h->cs.evicted);
		} else {
			h->cs.rejected_full++;
			ok = MHD_NO;
		}
	}
	pthread_mutex_unlock(&h->cmu);
	return ok;
}

static void conn_notify(void *cls, struct MHD_Connection *mc, void **socket_context,
			enum MHD_ConnectionNotificationCode code)
{
	struct c360_http *h = cls;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *fi =
			MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
		const union MHD_ConnectionInfo *ai =
			MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		struct conn *c = fi ? calloc(1, sizeof *c) : NULL;
		*socket_context = c;
		if (!c)
			return; /* out of memory: the connection goes unlisted, MHD's limits apply */
		c->fd = fi->connect_fd;
		if (ai && ai->client_addr) {
			const struct sockaddr *sa = ai->client_addr;
			size_t n = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
			                                     : sizeof(struct sockaddr_in);
			memcpy(&c->addr, sa, n);
		}
		c->waiting = true;
		pthread_mutex_lock(&h->cmu);
		c->since_ms = c360_mono_ms();
		c->next = h->conns;
		if (h->conns)
			h->conns->prev = c;
		h->conns = c;
		h->nconns++;
		h->cs.accepted++;
		pthread_mutex_unlock(&h->cmu);
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		struct conn *c = *socket_context;
		if (!c)
			return;
		pthread_mutex_lock(&h->cmu);
		if (c->prev)
			c->prev->next = c->next;
		else
			h->conns = c->next;
		if (c->next)
			c->next->prev = c->prev;
		h->nconns--;
		if (c->closing)
			h->nclosing--;
		pthread_mutex_unlock(&h->cmu);
		free(c);
		*socket_context = NULL;
	}
}

static struct conn *conn_of(struct MHD_Connection *mc)
{
	const union MHD_ConnectionInfo *i =
		MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return i ? i->socket_context : NULL;
}

/* The request's headers are complete (waiting = false), or the request ended
 * and the connection waits for the next one (waiting = true). */
static void conn_waiting(struct c360_http *h, struct MHD_Connection *mc, bool waiting)
{
	struct conn *c = conn_of(mc);
	if (!c)
		return;
	pthread_mutex_lock(&h->cmu);
	if (waiting && !c->waiting) {
		c->since_ms = c360_mono_ms();
		c->line_seen = false;
		c->requests++;
	}
	c->waiting = waiting;
	pthread_mutex_unlock(&h->cmu);
}

/* MHD's URI log hook: the request line has arrived. Returns the request's
 * initial context, which access_cb expects to be NULL. */
static void *uri_logged(void *cls, const char *uri, struct MHD_Connection *mc)
{
	struct c360_http *h = cls;
	(void)uri;
	struct conn *c = conn_of(mc);
	if (c) {
		pthread_mutex_lock(&h->cmu);
		c->line_seen = true;
		pthread_mutex_unlock(&h->cmu);
	}
	return NULL;
}

/* Logs, at most every 10 s, what the limits closed or refused since the last
 * report. cmu held. */
static void conn_report(struct c360_http *h, int64_t now)
{
	static const int64_t every_ms = 10000;
	struct c360_http_stats *s = &h->cs;
	uint64_t total = s->rejected_full + s->rejected_per_ip + s->evicted + s->header_timeouts;
	if (total == h->reported || (h->reported_ms && now - h->reported_ms < every_ms))
		return;
	C360_WARN("http",
		  "%llu connections closed or refused on '%s' (totals: %llu past the %d s header "
		  "timeout, %llu closed to make room, %llu refused at max_connections %d, %llu at "
		  "max_connections_per_ip %d): clients are opening connections without sending "
		  "their requests; find them, or raise the limits if they are legitimate",
		  (unsigned long long)(total - h->reported), h->bind,
		  (unsigned long long)s->header_timeouts, h->opts.header_timeout,
		  (unsigned long long)s->evicted, (unsigned long long)s->rejected_full,
		  h->opts.max_connections, (unsigned long long)s->rejected_per_ip,
		  h->opts.max_connections_per_ip);
	h->reported = total;
	h->reported_ms = now;
}

/* Closes connections that waited longer than header_timeout for their
 * request headers; wakes every 100 ms. */
static void *reaper_main(void *arg)
{
	struct c360_http *h = arg;
	int64_t limit = (int64_t)h->opts.header_timeout * 1000;
	pthread_mutex_lock(&h->cmu);
	while (!h->reaper_stop) {
		int64_t now = c360_mono_ms();
		for (struct conn *c = h->conns; c; c = c->next)
			if (c->waiting && !c->closing && now - c->since_ms >= limit)
				conn_shut(h, c, c->requests && !c->line_seen ? &h->cs.idle_closed
									      : &h->cs.header_timeouts);
		conn_report(h, now);
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += 100 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&h->ccv, &h->cmu, &ts);
	}
	pthread_mutex_unlock(&h->cmu);
	return NULL;
}

void c360_http_get_stats(const c360_http *h, struct c360_http_stats *out)
{
	memset(out, 0, sizeof *out);
	if (!h)
		return;
	struct c360_http *m = (struct c360_http *)h; /* the lock, not the data, changes */
	pthread_mutex_lock(&m->cmu);
	*out = h->cs;
	out->connections = (uint64_t)(h->nconns - h->nclosing);
	pthread_mutex_unlock(&m->cmu);
	out->requests = c360_http_requests(h);
}

void c360_http_collect(void *ctx, struct c360_metrics_out *out)
{
	struct c360_http_stats s;
	c360_http_get_stats(ctx, &s);
	c360_metric_counter(out, "c360_http_requests_total", "HTTP requests received", NULL,
			    (double)s.requests);
	c360_metric_gauge(out, "c360_http_connections", "HTTP connections open", NULL,
			  (double)s.connections);
	c360_metric_counter(out, "c360_http_connections_accepted_total", "HTTP connections accepted",
			    NULL, (double)s.accepted);
	static const char rej[] = "HTTP connections refused at a connection limit";
	c360_metric_counter(out, "c360_http_connections_rejected_total", rej,
			    "reason=max_connections", (double)s.rejected_full);
	c360_metric_counter(out, "c360_http_connections_rejected_total", rej, "reason=per_ip",
			    (double)s.rejected_per_ip);
	static const char cl[] = "HTTP connections closed by the server's limits";
	c360_metric_counter(out, "c360_http_connections_closed_total", cl, "reason=evicted",
			    (double)s.evicted);
	c360_metric_counter(out, "c360_http_connections_closed_total", cl, "reason=header_timeout",
			    (double)s.header_timeouts);
	c360_metric_counter(out, "c360_http_connections_closed_total", cl, "reason=idle",
			    (double)s.idle_closed);
}

static enum MHD_Result builtin_health(struct reqstate *rs)
{
	static const char ok[] = "{\"status\":\"ok\"}\n";
	char *b = strdup(ok);
	if (!b)
		return MHD_NO;
	return send_resp(rs->conn, 200, "application/json", b, sizeof ok - 1, NULL, NULL);
}

/* Runs the route's handler into resp (initialised here). */
static void run_handler(struct reqstate *rs, const struct c360_http_req *req,
			struct c360_http_resp *resp)
{
	memset(resp, 0, sizeof *resp);
	resp->status = 200;
	resp->content_type = "application/json";
	c360_buf_init(&resp->body, RESP_MAX);
	rs->route->fn(req, resp, rs->route->ctx);
	if (resp->status < 100 || resp->status > 599) {
		C360_ERROR("http", "handler for '%s' set invalid status %d", rs->route->pattern,
			   resp->status);
		c360_http_error(resp, 500, "internal", "handler returned an invalid status");
	}
}

static enum MHD_Result send_handler_resp(struct MHD_Connection *conn, const char *method,
					 const char *url, struct c360_http_resp *resp)
{
	size_t len = 0;
	char *body = resp->body.len ? c360_buf_detach(&resp->body, &len) : NULL;
	c360_buf_release(&resp->body);
	C360_TRACE("http", "%s %s -> %d (%zu bytes)", method, url, resp->status, len);
	return send_resp(conn, resp->status, resp->content_type, body, len, resp->headers, NULL);
}

/* A slow route's handler, on its own thread. Once the connection is resumed
 * MHD may finish and free the request at any time: rs is not touched after. */
static void *slow_thread(void *arg)
{
	struct reqstate *rs = arg;
	struct c360_http *h = rs->h;
	struct route *r = (struct route *)rs->route;
	run_handler(rs, &rs->areq, &rs->aresp);
	__atomic_sub_fetch(&r->running, 1, __ATOMIC_ACQ_REL);
	__atomic_store_n(&rs->astate, 2, __ATOMIC_RELEASE);
	MHD_resume_connection(rs->conn);
	pthread_mutex_lock(&h->slow_mu);
	h->slow_running--;
	pthread_cond_broadcast(&h->slow_cv);
	pthread_mutex_unlock(&h->slow_mu);
	return NULL;
}

/* Suspends the connection and runs the handler on a thread of its own; past
 * the route's max_running answers 429 at once. */
static enum MHD_Result start_slow(struct reqstate *rs, const struct c360_http_req *req)
{
	struct route *r = (struct route *)rs->route;
	if (__atomic_add_fetch(&r->running, 1, __ATOMIC_ACQ_REL) > r->max_running) {
		__atomic_sub_fetch(&r->running, 1, __ATOMIC_ACQ_REL);
		struct c360_http_resp resp;
		memset(&resp, 0, sizeof resp);
		c360_buf_init(&resp.body, 4096);
		c360_http_error(&resp, 429, "busy",
				"this server runs at most %d '%s %s' at once and all are busy: retry later",
				r->max_running, r->method, r->pattern);
		c360_http_add_header(&resp, "Retry-After", "1");
		return send_handler_resp(rs->conn, req->method, req->path, &resp);
	}
	rs->areq = *req;
	rs->astate = 1;
	pthread_mutex_lock(&rs->h->slow_mu);
	rs->h->slow_running++;
	pthread_mutex_unlock(&rs->h->slow_mu);
	MHD_suspend_connection(rs->conn);
	pthread_attr_t attr;
	pthread_t t;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int e = pthread_create(&t, &attr, slow_thread, rs);
	pthread_attr_destroy(&attr);
	if (e) {
		/* no thread: run it here, as a plain route would */
		C360_WARN("http", "cannot start a thread for '%s' (%s): running it on the worker",
			  r->pattern, strerror(e));
		slow_thread(rs);
	}
	return MHD_YES;
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url,
				 const char *method, const char *version, const char *upload_data,
				 size_t *upload_data_size, void **con_cls)
{
	struct c360_http *h = cls;
	struct reqstate *rs = *con_cls;
	(void)version;
	if (!rs) {
		/* first call: headers only */
		conn_waiting(h, conn, false);
		rs = calloc(1, sizeof *rs);
		if (!rs)
			return MHD_NO;
		*con_cls = rs;
		rs->h = h;
		rs->conn = conn;
		__atomic_add_fetch(&h->requests, 1, __ATOMIC_RELAXED);
		c360_buf_init(&rs->body, h->opts.max_body);
		size_t rest_len = strlen(url) + 1;
		char *rest = NULL;
		size_t argbytes = 0;
		MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, add_len, &argbytes);
		rs->argbuf = malloc(argbytes + rest_len + 1);
		if (!rs->argbuf)
			return MHD_NO;
		rest = rs->argbuf + argbytes;
		rs->route = route_find(rs, method, url, rest);
		if (rs->route && !rs->status) {
			size_t ul = strlen(url), dl;
			if ((rs->dpath = malloc(ul + 1)) &&
			    c360_http_pct_decode(url, ul, rs->dpath, &dl, false)) {
				free(rs->dpath); /* segments decoded, the whole did not: keep it raw */
				rs->dpath = NULL;
			}
			struct argctx a = {rs, rs->argbuf, rs->argbuf + argbytes, false};
			MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_arg, &a);
		}
		if (!rs->route && rs->status == 404 && !strcmp(url, "/health") &&
		    (!strcmp(method, "GET") || !strcmp(method, "HEAD"))) {
			rs->status = 0; /* built-in health check */
			return MHD_YES;
		}
		if (rs->route && !rs->status)
			check_auth(rs, rs->route);
		if (!rs->status) {
			const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
								     MHD_HTTP_HEADER_CONTENT_LENGTH);
			if (cl) {
				char *end;
				errno = 0;
				unsigned long long v = strtoull(cl, &end, 10);
				if (errno || *end || v > h->opts.max_body)
					set_early_error(rs, 413, "too_large",
							"request body larger than the limit of %zu bytes",
							h->opts.max_body);
			}
		}
		if (rs->status)
			return send_error(rs, rs->status, rs->errcode, rs->errmsg);
		return MHD_YES;
	}
	if (*upload_data_size) {
		if (!rs->too_big && c360_buf_append(&rs->body, upload_data, *upload_data_size))
			rs->too_big = true;
		*upload_data_size = 0;
		return MHD_YES;
	}
	/* final call */
	if (!rs->route)
		return builtin_health(rs);
	if (rs->too_big) {
		char msg[96];
		snprintf(msg, sizeof msg, "request body larger than the limit of %zu bytes",
			 h->opts.max_body);
		return send_error(rs, 413, "too_large", msg);
	}
	if (__atomic_load_n(&rs->astate, __ATOMIC_ACQUIRE) == 2)
		return send_handler_resp(conn, method, url, &rs->aresp);
	struct c360_http_req req = {
		.method = method,
		.path = rs->dpath ? rs->dpath : url,
		.body = rs->body.len ? rs->body.data : NULL,
		.body_len = rs->body.len,
		.conn = rs,
		.param_names = rs->pnames,
		.param_values = rs->pvalues,
		.nparams = rs->nparams,
	};
	if (rs->route->max_running)
		return start_slow(rs, &req);
	struct c360_http_resp resp;
	run_handler(rs, &req, &resp);
	return send_handler_resp(conn, method, url, &resp);
}

static void completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct reqstate *rs = *con_cls;
	(void)toe;
	conn_waiting(cls, conn, true);
	if (!rs)
		return;
	c360_buf_release(&rs->body);
	c360_buf_release(&rs->aresp.body); /* a slow answer never sent */
	free(rs->segbuf);
	free(rs->argbuf);
	free(rs->dpath);
	free(rs);
	*con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	(void)cls;
	vsnprintf(msg, sizeof msg, fmt, ap);
	size_t n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '.'))
		msg[--n] = 0;
	C360_DEBUG("http", "libmicrohttpd: %s", msg);
}

c360_rc c360_http_start(c360_http *h, char *err, size_t errlen)
{
	if (!h || h->d) {
		if (err)
			snprintf(err, errlen, "server already started");
		return C360_ERR_STATE;
	}
	if (h->opts.port < 0 || h->opts.port > 65535) {
		if (err)
			snprintf(err, errlen, "port %d out of range (0..65535)", h->opts.port);
		return C360_ERR_INVALID;
	}
	if (h->opts.max_connections > C360_HTTP_MAX_CONNECTIONS ||
	    h->opts.max_connections_per_ip > h->opts.max_connections ||
	    h->opts.header_timeout > 3600) {
		if (err)
			snprintf(err, errlen,
				 "connection limits out of range: max_connections %d (1..%d), "
				 "max_connections_per_ip %d (1..max_connections), header_timeout %d s "
				 "(1..3600)",
				 h->opts.max_connections, C360_HTTP_MAX_CONNECTIONS,
				 h->opts.max_connections_per_ip, h->opts.header_timeout);
		return C360_ERR_INVALID;
	}
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
			 MHD_ALLOW_SUSPEND_RESUME;
	const char *bind = h->bind;
	if (!strcmp(bind, "localhost"))
		bind = "127.0.0.1";
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, bind, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)h->opts.port);
	} else if (inet_pton(AF_INET6, bind, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)h->opts.port);
		flags |= MHD_USE_IPv6;
	} else {
		if (err)
			snprintf(err, errlen, "bind address '%s' is not an IPv4 or IPv6 address", h->bind);
		return C360_ERR_INVALID;
	}
	/* MHD's limit is the hard cap above ours (see "connection limits") */
	unsigned hard_cap = (unsigned)h->opts.max_connections + 4u * (unsigned)h->opts.threads + 16u;
	h->d = MHD_start_daemon(flags, (uint16_t)h->opts.port, accept_cb, h, access_cb, h,
				MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				MHD_OPTION_THREAD_POOL_SIZE, (unsigned)h->opts.threads,
				MHD_OPTION_CONNECTION_LIMIT, hard_cap,
				MHD_OPTION_NOTIFY_CONNECTION, conn_notify, h,
				MHD_OPTION_URI_LOG_CALLBACK, uri_logged, h,
				MHD_OPTION_NOTIFY_COMPLETED, completed_cb, h,
				MHD_OPTION_UNESCAPE_CALLBACK, identity_unescape, h,
				MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
				MHD_OPTION_CONNECTION_TIMEOUT, 60u,
				MHD_OPTION_END);
	if (!h->d) {
		if (err)
			snprintf(err, errlen, "cannot listen on %s port %d: %s", h->bind, h->opts.port,
				 errno ? strerror(errno) : "libmicrohttpd failed to start");
		return C360_ERR_IO;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_LISTEN_FD);
	struct sockaddr_storage got;
	socklen_t gl = sizeof got;
	h->port = h->opts.port;
	if (info && !getsockname(info->listen_fd, (struct sockaddr *)&got, &gl)) {
		if (got.ss_family == AF_INET)
			h->port = ntohs(((struct sockaddr_in *)&got)->sin_port);
		else if (got.ss_family == AF_INET6)
			h->port = ntohs(((struct sockaddr_in6 *)&got)->sin6_port);
	}
	if (pthread_create(&h->reaper, NULL, reaper_main, h)) {
		MHD_stop_daemon(h->d);
		h->d = NULL;
		if (err)
			snprintf(err, errlen, "cannot start the connection reaper thread");
		return C360_ERR_NOMEM;
	}
	h->reaper_on = true;
	C360_DEBUG("http", "listening on %s port %d (%d threads, %d connections, %d per address, "
			   "%d s header timeout)",
		   h->bind, h->port, h->opts.threads, h->opts.max_connections,
		   h->opts.max_connections_per_ip, h->opts.header_timeout);
	return C360_OK;
}

uint64_t c360_http_requests(const c360_http *h)
{
	return h ? __atomic_load_n(&h->requests, __ATOMIC_RELAXED) : 0;
}

int c360_http_port(const c360_http *h)
{
	return h ? h->port : 0;
}

void c360_http_free(c360_http *h)
{
	if (!h)
		return;
	/* MHD must not stop with a suspended connection: slow handlers end
	 * within their own limits (a query's time limit) */
	pthread_mutex_lock(&h->slow_mu);
	while (h->slow_running)
		pthread_cond_wait(&h->slow_cv, &h->slow_mu);
	pthread_mutex_unlock(&h->slow_mu);
	if (h->reaper_on) {
		pthread_mutex_lock(&h->cmu);
		h->reaper_stop = true;
		pthread_cond_signal(&h->ccv);
		pthread_mutex_unlock(&h->cmu);
		pthread_join(h->reaper, NULL);
	}
	if (h->d)
		MHD_stop_daemon(h->d); /* notifies "closed" for every connection left */
	for (struct conn *c = h->conns, *n; c; c = n) {
		n = c->next;
		free(c);
	}
	pthread_cond_destroy(&h->ccv);
	pthread_mutex_destroy(&h->cmu);
	for (size_t i = 0; i < h->nroutes; i++) {
		for (int k = 0; k < h->routes[i].nsegs; k++)
			free(h->routes[i].segs[k]);
		free(h->routes[i].method);
		free(h->routes[i].pattern);
	}
	free(h->routes);
	pthread_mutex_destroy(&h->slow_mu);
	pthread_cond_destroy(&h->slow_cv);
	free(h);
}
