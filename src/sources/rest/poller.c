/* The online store poller: jobs over libcurl multi with a token bucket,
 * retries (exponential backoff, jitter, Retry-After, budget) and a circuit
 * breaker per host.
 *
 * Algorithm: a job is a chain of HTTP requests (customer: details then
 * orders). Requests wait in a ready queue (FIFO; follow-up and retried
 * requests go to the front so started jobs finish first) or, while backing
 * off, in a delayed list. Each turn of c360_poller_run() moves due delayed
 * requests to the ready queue, starts ready requests while a transfer slot
 * is free and the host's breaker and token bucket allow it, lets libcurl
 * work, then handles finished transfers: classify, maybe retry, else hand
 * the body to the job's step. Slots keep their easy handle, so connections
 * stay alive in the multi handle's pool. */
#include "sources/rest/poller.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/banned.h"

#define API "/api/onlineStore/"
#define URL_MAX 4096

enum job_kind { JOB_CUSTOMER, JOB_PRODUCT, JOB_GET };

struct job {
	enum job_kind kind;
	char *email;
	char *product_id;
	c360_poll_cb cb;
	void *ctx;
	int attempts;
	c360_json_doc *details; /* customer: kept from step 0 for the callback */
};

struct host {
	char name[256];
	double tokens;
	int64_t last_refill_us;
	enum { BR_CLOSED, BR_OPEN, BR_HALF_OPEN } state;
	int failures; /* in a row */
	int64_t open_until_us;
	bool probe_in_flight;
	struct host *next;
};

struct req {
	struct job *job;
	struct host *host;
	char *url;
	int step;    /* customer: 0 details, 1 orders */
	int retries; /* done so far */
	int64_t not_before_us;
	struct req *next;
};

struct slot {
	CURL *easy;
	CURLU *url; /* the base URL's origin; path and query set per request */
	struct req *req;
	struct c360_buf body;
	bool too_big;
	bool probe;
	char errbuf[CURL_ERROR_SIZE];
};

struct c360_poller {
	struct c360_poller_opts o;
	char *base_url, *who;
	CURLM *multi;
	int epfd;              /* the transfers' sockets (curl_multi_socket_action) */
	int64_t curl_timer_us; /* when libcurl wants its timeout action; -1 = never */
	size_t origin_len;     /* of "scheme://authority" in base_url */
	struct slot *slots;
	int nslots, busy;
	struct req *ready, *ready_tail, *delayed;
	struct host *hosts;
	size_t pending;
	double budget;
	uint64_t rng;
	struct c360_poller_stats st;
	bool budget_warned;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static uint64_t rnd(c360_poller *p)
{
	uint64_t x = p->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return p->rng = x;
}

const char *c360_poll_status_str(enum c360_poll_status s)
{
	static const char *names[] = {"ok",      "not found", "http",    "timeout",
				      "network", "malformed", "too big", "circuit open"};
	return (unsigned)s < C360_POLL_STATUS_COUNT ? names[s] : "unknown";
}

void c360_poller_opts_init(struct c360_poller_opts *o)
{
	memset(o, 0, sizeof *o);
	o->who = "rest:online_store";
	o->concurrency = 16;
	o->burst = 1;
	o->connect_timeout_ms = 3000;
	o->timeout_ms = 10000;
	o->max_body = 4u << 20;
	o->max_retries = 4;
	o->backoff_ms = 100;
	o->backoff_max_ms = 5000;
	o->retry_after_max_ms = 30000;
	o->retry_budget_ratio = 0.2;
	o->retry_budget_min = 10;
	o->breaker_failures = 10;
	o->breaker_open_ms = 5000;
}

bool c360_poll_id(const c360_json *v, const char **text, size_t *len)
{
	const char *t = NULL;
	size_t n = 0;
	if (c360_json_is_string(v))
		t = c360_json_str(v, &n);
	else if (c360_json_is_number(v))
		t = c360_json_num_text(v, &n);
	if (!t || !n || n > C360_POLL_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)t[i] < 0x20)
			return false; /* a control character cannot be part of a key */
	*text = t;
	*len = n;
	return true;
}

bool c360_rest_urlencode(const char *s, size_t len, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t j = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
		if (j + (plain ? 1 : 3) >= outlen)
			return false;
		if (plain) {
			out[j++] = (char)c;
		} else {
			out[j++] = '%';
			out[j++] = hex[c >> 4];
			out[j++] = hex[c & 15];
		}
	}
	if (j >= outlen)
		return false;
	out[j] = '\0';
	return true;
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
	struct slot *s = ud;
	if (c360_buf_append(&s->body, data, size * n)) {
		s->too_big = true;
		return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
	}
	return size * n;
}

static struct host *host_of(c360_poller *p, const char *url)
{
	/* scheme://host[:port]/…: the authority names the host */
	const char *a = strstr(url, "://");
	a = a ? a + 3 : url;
	size_t n = strcspn(a, "/?#");
	if (n >= sizeof p->hosts->name)
		n = sizeof p->hosts->name - 1;
	for (struct host *h = p->hosts; h; h = h->next)
		if (strlen(h->name) == n && !memcmp(h->name, a, n))
			return h;
	struct host *h = calloc(1, sizeof *h);
	if (!h)
		return NULL;
	memcpy(h->name, a, n);
	h->name[n] = '\0';
	h->tokens = p->o.burst;
	h->last_refill_us = now_us();
	h->next = p->hosts;
	p->hosts = h;
	return h;
}

/* libcurl tells which sockets to watch (epoll) and when to call it back:
 * only ready sockets are serviced, instead of trying every transfer. */
static int on_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
	c360_poller *p = userp;
	(void)e;
	if (what == CURL_POLL_REMOVE) {
		epoll_ctl(p->epfd, EPOLL_CTL_DEL, fd, NULL);
		curl_multi_assign(p->multi, fd, NULL);
		return 0;
	}
	struct epoll_event ev;
	memset(&ev, 0, sizeof ev);
	ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
	ev.data.fd = fd;
	/* socketp marks a socket already in the epoll set */
	if (socketp) {
		if (!epoll_ctl(p->epfd, EPOLL_CTL_MOD, fd, &ev) || errno != ENOENT)
			return 0;
	}
	if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev) && errno == EEXIST)
		epoll_ctl(p->epfd, EPOLL_CTL_MOD, fd, &ev);
	curl_multi_assign(p->multi, fd, p);
	return 0;
}

static int on_timer(CURLM *m, long timeout_ms, void *userp)
{
	c360_poller *p = userp;
	(void)m;
	p->curl_timer_us = timeout_ms < 0 ? -1 : now_us() + (int64_t)timeout_ms * 1000;
	return 0;
}

c360_rc c360_poller_new(const struct c360_poller_opts *opts, c360_poller **out, char *err,
			size_t errlen)
{
	*out = NULL;
	struct c360_poller_opts o;
	if (opts)
		o = *opts;
	else
		c360_poller_opts_init(&o);
	if (!o.base_url || (strncmp(o.base_url, "http://", 7) && strncmp(o.base_url, "https://", 8))) {
		snprintf(err, errlen, "base URL '%s' must start with http:// or https://",
			 o.base_url ? o.base_url : "");
		return C360_ERR_INVALID;
	}
	if (strlen(o.base_url) > URL_MAX / 2) {
		snprintf(err, errlen, "base URL is longer than %d bytes", URL_MAX / 2);
		return C360_ERR_INVALID;
	}
	if (o.concurrency < 1 || o.concurrency > 1024) {
		snprintf(err, errlen, "concurrency %d is out of range 1..1024", o.concurrency);
		return C360_ERR_INVALID;
	}
	if (o.rate < 0) {
		snprintf(err, errlen, "rate must not be negative");
		return C360_ERR_INVALID;
	}
	if (o.burst < 1)
		o.burst = 1;
	if (o.connect_timeout_ms <= 0)
		o.connect_timeout_ms = 3000;
	if (o.timeout_ms <= 0)
		o.timeout_ms = 10000;
	if (!o.max_body)
		o.max_body = 4u << 20;
	if (o.backoff_ms <= 0)
		o.backoff_ms = 100;
	if (o.backoff_max_ms < o.backoff_ms)
		o.backoff_max_ms = o.backoff_ms;
	if (o.retry_after_max_ms < 0)
		o.retry_after_max_ms = 0;
	if (o.retry_budget_ratio < 0)
		o.retry_budget_ratio = 0;
	if (o.retry_budget_min < 0)
		o.retry_budget_min = 0;
	if (o.breaker_open_ms <= 0)
		o.breaker_open_ms = 5000;

	pthread_once(&curl_once, curl_init_once);
	c360_poller *p = calloc(1, sizeof *p);
	if (!p)
		return C360_ERR_NOMEM;
	p->o = o;
	p->base_url = strdup(o.base_url);
	p->who = strdup(o.who ? o.who : "rest:online_store");
	p->multi = curl_multi_init();
	p->epfd = epoll_create1(EPOLL_CLOEXEC);
	p->curl_timer_us = -1;
	p->nslots = o.concurrency;
	p->slots = calloc((size_t)p->nslots, sizeof *p->slots);
	if (!p->base_url || !p->who || !p->multi || !p->slots || p->epfd < 0)
		goto nomem;
	size_t bl = strlen(p->base_url);
	while (bl > 0 && p->base_url[bl - 1] == '/')
		p->base_url[--bl] = '\0';
	p->origin_len = (size_t)(strstr(p->base_url, "://") + 3 - p->base_url);
	p->origin_len += strcspn(p->base_url + p->origin_len, "/?#");
	char origin[URL_MAX / 2 + 1];
	snprintf(origin, sizeof origin, "%.*s", (int)p->origin_len, p->base_url);
	curl_multi_setopt(p->multi, CURLMOPT_MAXCONNECTS, (long)p->nslots * 2);
	curl_multi_setopt(p->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(p->multi, CURLMOPT_SOCKETDATA, p);
	curl_multi_setopt(p->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(p->multi, CURLMOPT_TIMERDATA, p);
	for (int i = 0; i < p->nslots; i++) {
		struct slot *s = &p->slots[i];
		c360_buf_init(&s->body, o.max_body);
		s->easy = curl_easy_init();
		s->url = curl_url();
		if (!s->easy || !s->url)
			goto nomem;
		if (curl_url_set(s->url, CURLUPART_URL, origin, 0) != CURLUE_OK) {
			snprintf(err, errlen, "base URL '%s' is not a valid URL", p->base_url);
			c360_poller_free(p);
			return C360_ERR_INVALID;
		}
		curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
		curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
		curl_easy_setopt(s->easy, CURLOPT_ERRORBUFFER, s->errbuf);
		curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(s->easy, CURLOPT_TCP_KEEPALIVE, 1L);
		curl_easy_setopt(s->easy, CURLOPT_TCP_NODELAY, 1L);
		curl_easy_setopt(s->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)o.connect_timeout_ms);
		curl_easy_setopt(s->easy, CURLOPT_TIMEOUT_MS, (long)o.timeout_ms);
		curl_easy_setopt(s->easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o.max_body);
		curl_easy_setopt(s->easy, CURLOPT_PROTOCOLS_STR, "http,https");
		/* no proxy: libcurl would otherwise read the proxy environment on
		 * every request */
		curl_easy_setopt(s->easy, CURLOPT_PROXY, "");
		curl_easy_setopt(s->easy, CURLOPT_NOPROXY, "*");
	}
	p->budget = o.retry_budget_min;
	p->rng = (uint64_t)now_us() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)p;
	if (!p->rng)
		p->rng = 88172645463325252ull;
	*out = p;
	return C360_OK;
nomem:
	c360_poller_free(p);
	return C360_ERR_NOMEM;
}

static void req_free(struct req *r)
{
	if (r) {
		free(r->url);
		free(r);
	}
}

static void job_free(struct job *j)
{
	if (j) {
		free(j->email);
		free(j->product_id);
		c360_json_doc_free(j->details);
		free(j);
	}
}

void c360_poller_free(c360_poller *p)
{
	if (!p)
		return;
	/* every job has exactly one request alive: freeing requests frees jobs */
	for (int i = 0; p->slots && i < p->nslots; i++) {
		struct slot *s = &p->slots[i];
		if (s->req) {
			curl_multi_remove_handle(p->multi, s->easy);
			job_free(s->req->job);
			req_free(s->req);
		}
		if (s->easy)
			curl_easy_cleanup(s->easy);
		if (s->url)
			curl_url_cleanup(s->url);
		c360_buf_release(&s->body);
	}
	for (struct req *lists[2] = {p->ready, p->delayed}, **l = lists; l < lists + 2; l++)
		for (struct req *r = *l, *n; r; r = n) {
			n = r->next;
			job_free(r->job);
			req_free(r);
		}
	for (struct host *h = p->hosts, *n; h; h = n) {
		n = h->next;
		free(h);
	}
	if (p->multi)
		curl_multi_cleanup(p->multi);
	if (p->epfd >= 0)
		close(p->epfd);
	free(p->slots);
	free(p->base_url);
	free(p->who);
	free(p);
}

static void push_back(c360_poller *p, struct req *r)
{
	r->next = NULL;
	if (p->ready_tail)
		p->ready_tail->next = r;
	else
		p->ready = r;
	p->ready_tail = r;
}

static void push_front(c360_poller *p, struct req *r)
{
	r->next = p->ready;
	p->ready = r;
	if (!p->ready_tail)
		p->ready_tail = r;
}

static struct req *new_req(c360_poller *p, struct job *j, int step, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static struct req *new_req(c360_poller *p, struct job *j, int step, const char *fmt, ...)
{
	struct req *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	char url[URL_MAX];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(url, sizeof url, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof url) {
		free(r);
		return NULL;
	}
	r->url = strdup(url);
	r->job = j;
	r->step = step;
	r->host = r->url ? host_of(p, r->url) : NULL;
	if (!r->url || !r->host) {
		req_free(r);
		return NULL;
	}
	return r;
}

static c360_rc submit(c360_poller *p, struct job *j, struct req *r)
{
	if (!r) {
		job_free(j);
		return C360_ERR_NOMEM;
	}
	push_back(p, r);
	p->pending++;
	return C360_OK;
}

c360_rc c360_poller_customer(c360_poller *p, const char *email, c360_poll_cb cb, void *ctx)
{
	size_t len = strlen(email);
	char enc[URL_MAX / 2];
	if (!len || !c360_rest_urlencode(email, len, enc, sizeof enc))
		return C360_ERR_INVALID;
	struct job *j = calloc(1, sizeof *j);
	if (!j)
		return C360_ERR_NOMEM;
	j->kind = JOB_CUSTOMER;
	j->cb = cb;
	j->ctx = ctx;
	j->email = strdup(email);
	if (!j->email) {
		free(j);
		return C360_ERR_NOMEM;
	}
	return submit(p, j,
		      new_req(p, j, 0, "%s" API "getCustomerDetailsByEmail?customerEmail=%s",
			      p->base_url, enc));
}

c360_rc c360_poller_product(c360_poller *p, const char *id, size_t len, c360_poll_cb cb,
			    void *ctx)
{
	char enc[C360_POLL_ID_MAX * 3 + 1];
	if (!len || len > C360_POLL_ID_MAX || !c360_rest_urlencode(id, len, enc, sizeof enc))
		return C360_ERR_INVALID;
	struct job *j = calloc(1, sizeof *j);
	if (!j)
		return C360_ERR_NOMEM;
	j->kind = JOB_PRODUCT;
	j->cb = cb;
	j->ctx = ctx;
	if (!(j->product_id = strndup(id, len))) {
		free(j);
		return C360_ERR_NOMEM;
	}
	return submit(p, j,
		      new_req(p, j, 0, "%s" API "getProductDetailsByProductId?productId=%s",
			      p->base_url, enc));
}

c360_rc c360_poller_get(c360_poller *p, const char *path, c360_poll_cb cb, void *ctx)
{
	bool rel = path[0] == '/';
	if (!rel && strncmp(path, "http://", 7) && strncmp(path, "https://", 8))
		return C360_ERR_INVALID;
	if (strlen(path) >= URL_MAX / 2)
		return C360_ERR_TOO_BIG;
	struct job *j = calloc(1, sizeof *j);
	if (!j)
		return C360_ERR_NOMEM;
	j->kind = JOB_GET;
	j->cb = cb;
	j->ctx = ctx;
	return submit(p, j, new_req(p, j, 0, "%s%s", rel ? p->base_url : "", path));
}

size_t c360_poller_pending(const c360_poller *p)
{
	return p->pending;
}

void c360_poller_stats(const c360_poller *p, struct c360_poller_stats *out)
{
	*out = p->st;
}

/* ---- finishing jobs ---- */

static void finish_owned(c360_poller *p, struct req *r, enum c360_poll_status status, int http,
			 const char *reason, const c360_json *a, const c360_json *b,
			 const char *body, size_t body_len, c360_json_doc **own_a,
			 c360_json_doc **own_b)
{
	struct job *j = r->job;
	struct c360_poll_result res = {
		.owned_a = own_a,
		.owned_b = own_b,
		.status = status,
		.email = j->email,
		.product_id = j->product_id,
		.body = body,
		.body_len = body_len,
		.http_status = http,
		.url = r->url,
		.reason = reason ? reason : "",
		.attempts = j->attempts,
	};
	if (status == C360_POLL_OK) {
		if (j->kind == JOB_CUSTOMER) {
			res.details = a;
			res.orders = b;
		} else if (j->kind == JOB_PRODUCT) {
			res.product = a;
		}
	}
	p->st.jobs++;
	p->st.by_status[status]++;
	p->pending--;
	if (j->cb)
		j->cb(&res, j->ctx);
	job_free(j);
	req_free(r);
}

static void finish(c360_poller *p, struct req *r, enum c360_poll_status status, int http,
		   const char *reason, const c360_json *a, const c360_json *b, const char *body,
		   size_t body_len)
{
	finish_owned(p, r, status, http, reason, a, b, body, body_len, NULL, NULL);
}

void c360_poll_result_take(const struct c360_poll_result *res, c360_json_doc **a,
			   c360_json_doc **b)
{
	if (a) {
		*a = res->owned_a ? *res->owned_a : NULL;
		if (res->owned_a)
			*res->owned_a = NULL;
	}
	if (b) {
		*b = res->owned_b ? *res->owned_b : NULL;
		if (res->owned_b)
			*res->owned_b = NULL;
	}
}

static void malformed(c360_poller *p, struct req *r, int http, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void malformed(c360_poller *p, struct req *r, int http, const char *fmt, ...)
{
	char why[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	C360_WARN(p->who, "malformed answer from '%s' (http %d): %s", r->url, http, why);
	finish(p, r, C360_POLL_MALFORMED, http, why, NULL, NULL, NULL, 0);
}

static c360_json_doc *parse_body(c360_poller *p, struct req *r, int http, const struct c360_buf *b)
{
	c360_json_doc *doc = NULL;
	struct c360_json_error jerr;
	if (c360_json_parse(b->data ? b->data : "", b->len, NULL, &doc, &jerr)) {
		char where[200];
		c360_json_error_str(&jerr, where, sizeof where);
		malformed(p, r, http, "invalid JSON at %s", where);
		return NULL;
	}
	return doc;
}

/* A 2xx or 404 answer for request r: the job's next step. */
static void on_answer(c360_poller *p, struct req *r, int http, struct c360_buf *body)
{
	struct job *j = r->job;
	if (j->kind == JOB_GET) {
		finish(p, r, http == 404 ? C360_POLL_NOT_FOUND : C360_POLL_OK, http,
		       http == 404 ? "not found" : NULL, NULL, NULL, c360_buf_cstr(body), body->len);
		return;
	}
	if (http == 404 && !(j->kind == JOB_CUSTOMER && r->step == 1)) {
		finish(p, r, C360_POLL_NOT_FOUND, http, "not found", NULL, NULL, NULL, 0);
		return;
	}
	if (j->kind == JOB_PRODUCT) {
		c360_json_doc *doc = parse_body(p, r, http, body);
		if (!doc)
			return;
		c360_json *root = c360_json_doc_root(doc);
		const char *id;
		size_t idlen;
		if (!c360_json_is_object(root))
			malformed(p, r, http, "expected an object, got %s",
				  c360_json_type_name(c360_json_type(root)));
		else if (!c360_poll_id(c360_json_get(root, "ProductId"), &id, &idlen))
			malformed(p, r, http, "no \"ProductId\" (a string or number of 1..%d "
					      "bytes)", C360_POLL_ID_MAX);
		else
			finish_owned(p, r, C360_POLL_OK, http, NULL, root, NULL, NULL, 0, &doc, NULL);
		c360_json_doc_free(doc);
		return;
	}
	if (r->step == 0) {
		c360_json_doc *doc = parse_body(p, r, http, body);
		if (!doc)
			return;
		c360_json *root = c360_json_doc_root(doc);
		const char *id;
		size_t idlen;
		char enc[C360_POLL_ID_MAX * 3 + 1];
		if (!c360_json_is_object(root)) {
			malformed(p, r, http, "expected an object, got %s",
				  c360_json_type_name(c360_json_type(root)));
			c360_json_doc_free(doc);
			return;
		}
		if (!c360_poll_id(c360_json_get(root, "Id"), &id, &idlen) ||
		    !c360_rest_urlencode(id, idlen, enc, sizeof enc)) {
			malformed(p, r, http, "no \"Id\" (a string or number of 1..%d bytes)",
				  C360_POLL_ID_MAX);
			c360_json_doc_free(doc);
			return;
		}
		j->details = doc;
		struct req *n = new_req(p, j, 1, "%s" API "getOrdersByCustomerId?customerId=%s",
					p->base_url, enc);
		if (!n) {
			finish(p, r, C360_POLL_NETWORK, http, "out of memory", NULL, NULL, NULL, 0);
			return;
		}
		req_free(r);
		push_front(p, n);
		return;
	}
	/* step 1: orders */
	c360_json_doc *doc = NULL;
	c360_json *root;
	if (http == 404) {
		/* a store that answers "no orders" with 404: same as [] */
		doc = c360_json_doc_new();
		if (!doc || !(root = c360_json_new_array(doc))) {
			c360_json_doc_free(doc);
			finish(p, r, C360_POLL_NETWORK, http, "out of memory", NULL, NULL, NULL, 0);
			return;
		}
		c360_json_doc_set_root(doc, root);
	} else {
		if (!(doc = parse_body(p, r, http, body)))
			return;
		root = c360_json_doc_root(doc);
		if (!c360_json_is_array(root)) {
			malformed(p, r, http, "expected an array of orders, got %s",
				  c360_json_type_name(c360_json_type(root)));
			c360_json_doc_free(doc);
			return;
		}
		size_t i = 0;
		for (c360_json *o = c360_json_first(root); o; o = c360_json_next(o), i++) {
			const char *oid;
			size_t oidlen;
			if (!c360_json_is_object(o) ||
			    !c360_poll_id(c360_json_get(o, "OrderId"), &oid, &oidlen)) {
				malformed(p, r, http, "order %zu is not an object with an \"OrderId\" "
						      "(a string or number of 1..%d bytes)", i,
					  C360_POLL_ID_MAX);
				c360_json_doc_free(doc);
				return;
			}
		}
	}
	finish_owned(p, r, C360_POLL_OK, http, NULL, c360_json_doc_root(j->details), root, NULL, 0,
		     &j->details, &doc);
	c360_json_doc_free(doc);
}

/* ---- breaker, budget, retries ---- */

static void breaker_result(c360_poller *p, struct host *h, bool probe, bool failed)
{
	if (p->o.breaker_failures < 0)
		return;
	if (probe)
		h->probe_in_flight = false;
	if (!failed) {
		h->failures = 0;
		if (h->state != BR_CLOSED && (probe || h->state == BR_HALF_OPEN)) {
			h->state = BR_CLOSED;
			p->st.breaker_closed++;
			C360_INFO(p->who, "circuit for '%s' closed: the probe succeeded", h->name);
		}
		return;
	}
	h->failures++;
	if (probe && h->state == BR_HALF_OPEN) {
		h->state = BR_OPEN;
		h->open_until_us = now_us() + (int64_t)p->o.breaker_open_ms * 1000;
		C360_WARN(p->who, "circuit for '%s' stays open: the probe failed", h->name);
	} else if (h->state == BR_CLOSED && h->failures >= p->o.breaker_failures) {
		h->state = BR_OPEN;
		h->open_until_us = now_us() + (int64_t)p->o.breaker_open_ms * 1000;
		p->st.breaker_opened++;
		C360_WARN(p->who, "circuit for '%s' opened after %d failures in a row; "
				  "no calls for %d ms", h->name, h->failures, p->o.breaker_open_ms);
	}
}

static bool retry(c360_poller *p, struct req *r, int64_t retry_after_ms)
{
	if (r->retries >= p->o.max_retries)
		return false;
	if (p->budget < 1) {
		p->st.budget_refused++;
		if (!p->budget_warned) {
			C360_WARN(p->who, "retry budget exhausted: failing requests without retrying "
					  "(budget %d + %.0f%% of requests)",
				  p->o.retry_budget_min, p->o.retry_budget_ratio * 100);
			p->budget_warned = true;
		}
		return false;
	}
	p->budget_warned = false;
	p->budget -= 1;
	int64_t d = (int64_t)p->o.backoff_ms << (r->retries < 20 ? r->retries : 20);
	if (d > p->o.backoff_max_ms)
		d = p->o.backoff_max_ms;
	d = d / 2 + (int64_t)(rnd(p) % (uint64_t)(d / 2 + 1)); /* jitter: 50..100% */
	if (retry_after_ms >= 0) {
		int64_t ra = retry_after_ms < p->o.retry_after_max_ms ? retry_after_ms
								      : p->o.retry_after_max_ms;
		if (ra > d)
			d = ra;
	}
	r->retries++;
	r->not_before_us = now_us() + d * 1000;
	r->next = p->delayed;
	p->delayed = r;
	p->st.retries++;
	return true;
}

static void on_done(c360_poller *p, struct slot *s, CURLcode cc)
{
	struct req *r = s->req;
	s->req = NULL;
	p->busy--;
	curl_multi_remove_handle(p->multi, s->easy);
	long code = 0;
	curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
	int http = (int)code;
	p->st.bytes += s->body.len;
	enum c360_poll_status fail = C360_POLL_OK;
	bool retryable = false, breaker_fail = false;
	char why[CURL_ERROR_SIZE + 64];
	why[0] = '\0';
	if (cc == CURLE_OK) {
		if ((http >= 200 && http < 300) || http == 404) {
			breaker_result(p, r->host, s->probe, false);
			on_answer(p, r, http, &s->body);
			return;
		}
		fail = C360_POLL_HTTP;
		snprintf(why, sizeof why, "http %d", http);
		if (http == 429) {
			p->st.http_429++;
			retryable = true;
		} else if (http >= 500) {
			p->st.http_5xx++;
			retryable = breaker_fail = true;
		}
	} else if (s->too_big || cc == CURLE_FILESIZE_EXCEEDED) {
		fail = C360_POLL_TOO_BIG;
		snprintf(why, sizeof why, "body larger than %zu bytes", p->o.max_body);
	} else if (cc == CURLE_OPERATION_TIMEDOUT) {
		p->st.timeouts++;
		fail = C360_POLL_TIMEOUT;
		retryable = breaker_fail = true;
		snprintf(why, sizeof why, "timeout: %s", *s->errbuf ? s->errbuf : curl_easy_strerror(cc));
	} else {
		p->st.network++;
		fail = C360_POLL_NETWORK;
		retryable = cc == CURLE_COULDNT_CONNECT || cc == CURLE_GOT_NOTHING ||
			    cc == CURLE_RECV_ERROR || cc == CURLE_SEND_ERROR ||
			    cc == CURLE_PARTIAL_FILE || cc == CURLE_COULDNT_RESOLVE_HOST;
		breaker_fail = true;
		snprintf(why, sizeof why, "%s", *s->errbuf ? s->errbuf : curl_easy_strerror(cc));
	}
	breaker_result(p, r->host, s->probe, breaker_fail);
	/* Retry-After (delta-seconds or an HTTP-date), parsed by libcurl: 0 when
	 * absent or past, which waits the backoff as "none" would */
	curl_off_t ra = 0;
	int64_t retry_after_ms = -1;
	if (curl_easy_getinfo(s->easy, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
		retry_after_ms = ra > 86400 ? 86400000 : (int64_t)ra * 1000;
	if (retryable && retry(p, r, retry_after_ms))
		return;
	if (r->retries)
		C360_WARN(p->who, "giving up on '%s' after %d retries: %s", r->url, r->retries, why);
	else
		C360_WARN(p->who, "request '%s' failed: %s", r->url, why);
	finish(p, r, fail, http, why, NULL, NULL, NULL, 0);
}

/* Points the slot's handle at url. URLs of the base URL's origin only
 * change the path and query of the slot's CURLU (parsed once from the
 * origin) and the request target, so libcurl neither parses nor rebuilds
 * the whole URL for every request (CURLOPT_URL costs both); other URLs, or
 * targets with bytes libcurl would have to encode, go through CURLOPT_URL. */
static void set_url(c360_poller *p, struct slot *s, const char *url)
{
	size_t ol = p->origin_len;
	const char *t = url + ol;
	if (!strncmp(url, p->base_url, ol) && *t == '/') {
		const char *q = NULL, *e = t;
		for (; *e > ' ' && *e < 0x7f && *e != '#'; e++)
			if (*e == '?' && !q)
				q = e;
		char path[URL_MAX];
		size_t pl = q ? (size_t)(q - t) : (size_t)(e - t);
		if (!*e && pl < sizeof path) {
			memcpy(path, t, pl);
			path[pl] = '\0';
			if (curl_url_set(s->url, CURLUPART_PATH, path, 0) == CURLUE_OK &&
			    curl_url_set(s->url, CURLUPART_QUERY, q ? q + 1 : NULL, 0) == CURLUE_OK) {
				curl_easy_setopt(s->easy, CURLOPT_CURLU, s->url);
				curl_easy_setopt(s->easy, CURLOPT_REQUEST_TARGET, t);
				return;
			}
		}
	}
	curl_easy_setopt(s->easy, CURLOPT_CURLU, NULL);
	curl_easy_setopt(s->easy, CURLOPT_REQUEST_TARGET, NULL);
	curl_easy_setopt(s->easy, CURLOPT_URL, url);
}

/* Starts ready requests while a slot is free; returns the microseconds until
 * the token bucket allows the next one (0 = not waiting on it). */
static int64_t start_ready(c360_poller *p)
{
	int64_t wait = 0;
	while (p->ready && p->busy < p->nslots) {
		struct req *r = p->ready;
		struct host *h = r->host;
		int64_t now = now_us();
		bool probe = false;
		if (p->o.breaker_failures >= 0 && h->state == BR_OPEN) {
			if (now < h->open_until_us) {
				p->ready = r->next;
				if (!p->ready)
					p->ready_tail = NULL;
				C360_DEBUG(p->who, "not calling '%s': circuit open", r->url);
				finish(p, r, C360_POLL_CIRCUIT_OPEN, 0, "circuit open", NULL, NULL,
				       NULL, 0);
				continue;
			}
			h->state = BR_HALF_OPEN;
			h->probe_in_flight = false;
		}
		if (p->o.breaker_failures >= 0 && h->state == BR_HALF_OPEN) {
			if (h->probe_in_flight)
				break; /* wait for the probe's verdict */
			probe = true;
		}
		if (p->o.rate > 0) {
			double add = (double)(now - h->last_refill_us) * p->o.rate / 1e6;
			h->tokens = h->tokens + add > p->o.burst ? p->o.burst : h->tokens + add;
			h->last_refill_us = now;
			if (h->tokens < 1) {
				wait = (int64_t)((1 - h->tokens) * 1e6 / p->o.rate) + 1;
				break;
			}
			h->tokens -= 1;
		}
		p->ready = r->next;
		if (!p->ready)
			p->ready_tail = NULL;
		struct slot *s = NULL;
		for (int i = 0; i < p->nslots; i++)
			if (!p->slots[i].req) {
				s = &p->slots[i];
				break;
			}
		s->req = r;
		s->probe = probe;
		if (probe) {
			h->probe_in_flight = true;
			C360_INFO(p->who, "probing '%s' before closing its circuit", h->name);
		}
		s->too_big = false;
		s->errbuf[0] = '\0';
		c360_buf_reset(&s->body);
		set_url(p, s, r->url);
		if (r->retries == 0) { /* first attempts earn retries, up to a cap */
			double cap = 10.0 * (p->o.retry_budget_min > 0 ? p->o.retry_budget_min : 1);
			p->budget += p->o.retry_budget_ratio;
			if (p->budget > cap)
				p->budget = cap;
		}
		r->job->attempts++;
		p->st.requests++;
		if (curl_multi_add_handle(p->multi, s->easy) != CURLM_OK) {
			s->req = NULL;
			finish(p, r, C360_POLL_NETWORK, 0, "cannot start the transfer", NULL, NULL,
			       NULL, 0);
			continue;
		}
		p->busy++;
	}
	return wait;
}

c360_rc c360_poller_run(c360_poller *p, int timeout_ms)
{
	int64_t deadline = timeout_ms >= 0 ? now_us() + (int64_t)timeout_ms * 1000 : INT64_MAX;
	while (p->pending) {
		int64_t now = now_us();
		if (now >= deadline)
			return C360_ERR_TIMEOUT;
		/* due retries go first */
		int64_t next_due = INT64_MAX;
		for (struct req **pp = &p->delayed; *pp;) {
			struct req *r = *pp;
			if (r->not_before_us <= now) {
				*pp = r->next;
				push_front(p, r);
			} else {
				if (r->not_before_us < next_due)
					next_due = r->not_before_us;
				pp = &r->next;
			}
		}
		int64_t token_wait = start_ready(p);
		if (p->curl_timer_us >= 0 && p->curl_timer_us <= now_us()) {
			int running;
			p->curl_timer_us = -1; /* the action may set a new one */
			if (curl_multi_socket_action(p->multi, CURL_SOCKET_TIMEOUT, 0, &running) !=
			    CURLM_OK)
				return C360_ERR_INTERNAL;
		}
		CURLMsg *m;
		int left;
		bool done_any = false;
		while ((m = curl_multi_info_read(p->multi, &left))) {
			if (m->msg != CURLMSG_DONE)
				continue;
			struct slot *s = NULL;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
			on_done(p, s, m->data.result);
			done_any = true;
		}
		if (done_any || !p->pending)
			continue; /* start the follow-ups at once */
		now = now_us();
		int64_t wait = 1000000;
		if (p->ready && p->busy < p->nslots && token_wait > 0 && token_wait < wait)
			wait = token_wait;
		if (next_due != INT64_MAX && next_due - now < wait)
			wait = next_due - now;
		if (p->curl_timer_us >= 0 && p->curl_timer_us - now < wait)
			wait = p->curl_timer_us - now;
		if (deadline - now < wait)
			wait = deadline - now;
		if (wait < 0)
			wait = 0;
		struct epoll_event evs[64];
		int n = epoll_wait(p->epfd, evs, 64, (int)((wait + 999) / 1000));
		for (int i = 0; i < n; i++) {
			int flags = ((evs[i].events & EPOLLIN) ? CURL_CSELECT_IN : 0) |
				    ((evs[i].events & EPOLLOUT) ? CURL_CSELECT_OUT : 0) |
				    ((evs[i].events & (EPOLLERR | EPOLLHUP)) ? CURL_CSELECT_ERR : 0);
			int running;
			if (curl_multi_socket_action(p->multi, evs[i].data.fd, flags, &running) !=
			    CURLM_OK)
				return C360_ERR_INTERNAL;
		}
	}
	return C360_OK;
}
