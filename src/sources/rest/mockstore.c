/* The mock online store: the seed's REST endpoints on libmicrohttpd, with
 * a generated or loaded data set, fault injection and request counters.
 *
 * Every response body is built once when the data set is built (details
 * object, orders array, product object), so serving is a hash lookup and a
 * copy-free MHD response: the store must out-run the poller under wrk. */
#include "sources/rest/mockstore.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sources/rest/mockstore_data.h"
#include "core/banned.h"

#define API "/api/onlineStore/"
#define PS_SLOTS 128

enum ep { EP_DETAILS, EP_ORDERS, EP_PRODUCTS, EP_STATS, EP_OTHER, EP_COUNT };

struct c360_mockstore {
	struct ms_data data;
	struct c360_mockstore_opts opts;
	char bind[64];
	struct MHD_Daemon *d;
	int port;
	char url[96];

	pthread_mutex_t fault_mu;
	struct c360_mockstore_faults faults;
	atomic_uint_fast64_t fault_n; /* API requests since the faults were set */

	atomic_uint_fast64_t total, ep[EP_COUNT], dropped, malformed, slow, connections;
	atomic_uint_fast64_t st200, st400, st404, st429, st500, st503, stother;
	pthread_mutex_t ps_mu;
	int64_t ps_sec[PS_SLOTS];
	uint64_t ps_n[PS_SLOTS];
	uint64_t ps_max;
};

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static double unit(uint64_t h)
{
	return (double)(h >> 11) / 9007199254740992.0;
}

c360_rc c360_mockstore_new(const struct c360_mockstore_opts *opts, c360_mockstore **out,
			   char *err, size_t errlen)
{
	*out = NULL;
	c360_mockstore *ms = calloc(1, sizeof *ms);
	if (!ms)
		return C360_ERR_NOMEM;
	if (opts)
		ms->opts = *opts;
	if (!ms->opts.products)
		ms->opts.products = 100;
	if (!ms->opts.max_orders)
		ms->opts.max_orders = 3;
	if (!ms->opts.seed)
		ms->opts.seed = 1;
	if (!ms->opts.threads)
		ms->opts.threads = 4;
	snprintf(ms->bind, sizeof ms->bind, "%s", ms->opts.bind ? ms->opts.bind : "127.0.0.1");
	ms->opts.bind = ms->bind;
	ms->opts.data_path = NULL; /* borrowed only during _new */
	ms->faults = ms->opts.faults;
	pthread_mutex_init(&ms->fault_mu, NULL);
	pthread_mutex_init(&ms->ps_mu, NULL);
	c360_rc rc = ms_data_init(&ms->data);
	if (rc)
		goto fail;
	if (ms->opts.id_style > C360_MOCKSTORE_ID_UUID ||
	    (ms->opts.id_style && opts && opts->data_path)) {
		snprintf(err, errlen, "%s",
			 ms->opts.id_style > C360_MOCKSTORE_ID_UUID
				 ? "unknown id style"
				 : "an id style other than 'number' applies to generated data only: "
				   "write the ids in the data file as they should be served");
		rc = C360_ERR_INVALID;
		goto fail;
	}
	ms->data.id_style = (int)ms->opts.id_style;
	if (opts && opts->seed_example && (rc = ms_data_seed_example(&ms->data)))
		goto fail;
	if (opts && opts->data_path && (rc = ms_data_load(&ms->data, opts->data_path, err, errlen)))
		goto fail;
	if ((rc = ms_data_generate(&ms->data, ms->opts.customers, ms->opts.products,
				   ms->opts.max_orders, ms->opts.seed)))
		goto fail;
	*out = ms;
	return C360_OK;
fail:
	if (err && errlen && !*err)
		snprintf(err, errlen, "cannot build the data set: %s", c360_rc_str(rc));
	c360_mockstore_free(ms);
	return rc;
}

c360_rc c360_mockstore_add_customer(c360_mockstore *ms, int64_t id, const char *name,
				    const char *email, const char *password)
{
	return ms_data_add_customer(&ms->data, id, name, email, password);
}

c360_rc c360_mockstore_add_order(c360_mockstore *ms, int64_t customer_id, const char *order_json)
{
	return ms_data_add_order(&ms->data, customer_id, order_json, strlen(order_json));
}

c360_rc c360_mockstore_add_product(c360_mockstore *ms, int64_t product_id,
				   const char *product_json)
{
	return ms_data_add_product(&ms->data, product_id, product_json, strlen(product_json));
}

uint64_t c360_mockstore_customer_count(const c360_mockstore *ms)
{
	return ms->data.ncust;
}

const char *c360_mockstore_customer_email(const c360_mockstore *ms, uint64_t i)
{
	return i < ms->data.ncust ? ms->data.cust[i].email : NULL;
}

int c360_mockstore_port(const c360_mockstore *ms)
{
	return ms->port;
}

const char *c360_mockstore_url(const c360_mockstore *ms)
{
	return ms->url;
}

void c360_mockstore_set_faults(c360_mockstore *ms, const struct c360_mockstore_faults *f)
{
	pthread_mutex_lock(&ms->fault_mu);
	ms->faults = *f;
	atomic_store(&ms->fault_n, 0);
	pthread_mutex_unlock(&ms->fault_mu);
}

/* ---- counters ---- */

static void count_second(c360_mockstore *ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t sec = ts.tv_sec;
	size_t slot = (size_t)(sec % PS_SLOTS);
	pthread_mutex_lock(&ms->ps_mu);
	if (ms->ps_sec[slot] != sec) {
		ms->ps_sec[slot] = sec;
		ms->ps_n[slot] = 0;
	}
	if (++ms->ps_n[slot] > ms->ps_max)
		ms->ps_max = ms->ps_n[slot];
	pthread_mutex_unlock(&ms->ps_mu);
}

static void count_status(c360_mockstore *ms, int status)
{
	switch (status) {
	case 200: atomic_fetch_add(&ms->st200, 1); break;
	case 400: atomic_fetch_add(&ms->st400, 1); break;
	case 404: atomic_fetch_add(&ms->st404, 1); break;
	case 429: atomic_fetch_add(&ms->st429, 1); break;
	case 500: atomic_fetch_add(&ms->st500, 1); break;
	case 503: atomic_fetch_add(&ms->st503, 1); break;
	default: atomic_fetch_add(&ms->stother, 1); break;
	}
}

void c360_mockstore_counts(const c360_mockstore *ms, struct c360_mockstore_counts *o)
{
	c360_mockstore *m = (c360_mockstore *)ms;
	memset(o, 0, sizeof *o);
	o->total = atomic_load(&m->total);
	o->details = atomic_load(&m->ep[EP_DETAILS]);
	o->orders = atomic_load(&m->ep[EP_ORDERS]);
	o->products = atomic_load(&m->ep[EP_PRODUCTS]);
	o->stats = atomic_load(&m->ep[EP_STATS]);
	o->other = atomic_load(&m->ep[EP_OTHER]);
	o->status_200 = atomic_load(&m->st200);
	o->status_400 = atomic_load(&m->st400);
	o->status_404 = atomic_load(&m->st404);
	o->status_429 = atomic_load(&m->st429);
	o->status_500 = atomic_load(&m->st500);
	o->status_503 = atomic_load(&m->st503);
	o->status_other = atomic_load(&m->stother);
	o->dropped = atomic_load(&m->dropped);
	o->malformed = atomic_load(&m->malformed);
	o->slow = atomic_load(&m->slow);
	o->connections = atomic_load(&m->connections);
	pthread_mutex_lock(&m->ps_mu);
	o->max_per_second = m->ps_max;
	pthread_mutex_unlock(&m->ps_mu);
}

size_t c360_mockstore_per_second(const c360_mockstore *ms, int64_t *secs, uint64_t *counts,
				 size_t max)
{
	c360_mockstore *m = (c360_mockstore *)ms;
	int64_t s[PS_SLOTS];
	uint64_t c[PS_SLOTS];
	size_t n = 0;
	pthread_mutex_lock(&m->ps_mu);
	for (size_t i = 0; i < PS_SLOTS; i++)
		if (m->ps_sec[i]) {
			s[n] = m->ps_sec[i];
			c[n++] = m->ps_n[i];
		}
	pthread_mutex_unlock(&m->ps_mu);
	/* insertion sort by second: n <= 128 */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && s[j - 1] > s[j]; j--) {
			int64_t ts = s[j];
			s[j] = s[j - 1];
			s[j - 1] = ts;
			uint64_t tc = c[j];
			c[j] = c[j - 1];
			c[j - 1] = tc;
		}
	size_t from = n > max ? n - max : 0;
	for (size_t i = from; i < n; i++) {
		secs[i - from] = s[i];
		counts[i - from] = c[i];
	}
	return n - from;
}

void c360_mockstore_reset_counts(c360_mockstore *ms)
{
	atomic_store(&ms->total, 0);
	for (int i = 0; i < EP_COUNT; i++)
		atomic_store(&ms->ep[i], 0);
	atomic_store(&ms->dropped, 0);
	atomic_store(&ms->malformed, 0);
	atomic_store(&ms->slow, 0);
	atomic_store(&ms->connections, 0);
	atomic_store(&ms->st200, 0);
	atomic_store(&ms->st400, 0);
	atomic_store(&ms->st404, 0);
	atomic_store(&ms->st429, 0);
	atomic_store(&ms->st500, 0);
	atomic_store(&ms->st503, 0);
	atomic_store(&ms->stother, 0);
	pthread_mutex_lock(&ms->ps_mu);
	memset(ms->ps_sec, 0, sizeof ms->ps_sec);
	memset(ms->ps_n, 0, sizeof ms->ps_n);
	ms->ps_max = 0;
	pthread_mutex_unlock(&ms->ps_mu);
}

c360_rc c360_mockstore_stats_json(const c360_mockstore *ms, struct c360_buf *out)
{
	struct c360_mockstore_counts c;
	c360_mockstore_counts(ms, &c);
	int64_t secs[60];
	uint64_t counts[60];
	size_t n = c360_mockstore_per_second(ms, secs, counts, 60);
	c360_rc rc = c360_buf_printf(
		out,
		"{\"total\":%" PRIu64 ",\"endpoints\":{\"getCustomerDetailsByEmail\":%" PRIu64
		",\"getOrdersByCustomerId\":%" PRIu64 ",\"getProductDetailsByProductId\":%" PRIu64
		",\"stats\":%" PRIu64 ",\"other\":%" PRIu64 "},\"status\":{\"200\":%" PRIu64
		",\"400\":%" PRIu64 ",\"404\":%" PRIu64 ",\"429\":%" PRIu64 ",\"500\":%" PRIu64
		",\"503\":%" PRIu64 ",\"other\":%" PRIu64 "},\"faults\":{\"dropped\":%" PRIu64
		",\"malformed\":%" PRIu64 ",\"slow\":%" PRIu64 "},\"connections\":%" PRIu64
		",\"max_per_second\":%" PRIu64 ",\"per_second\":[",
		c.total, c.details, c.orders, c.products, c.stats, c.other, c.status_200,
		c.status_400, c.status_404, c.status_429, c.status_500, c.status_503,
		c.status_other, c.dropped, c.malformed, c.slow, c.connections, c.max_per_second);
	for (size_t i = 0; !rc && i < n; i++)
		rc = c360_buf_printf(out, "%s{\"t\":%" PRId64 ",\"n\":%" PRIu64 "}", i ? "," : "",
				     secs[i], counts[i]);
	if (!rc)
		rc = c360_buf_puts(out, "]}");
	return rc;
}

c360_rc c360_mockstore_dump(const c360_mockstore *ms, struct c360_buf *out)
{
	return ms_data_dump(&ms->data, out);
}

/* ---- serving ---- */

struct slow_body {
	const char *data; /* borrowed from the data set, or owned when own */
	char *own;
	size_t len;
	int pieces_left;
	int piece_ms;
};

static ssize_t slow_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct slow_body *s = cls;
	if (pos >= s->len)
		return MHD_CONTENT_READER_END_OF_STREAM;
	usleep((useconds_t)s->piece_ms * 1000);
	size_t piece = s->len / 8 + 1;
	size_t n = s->len - (size_t)pos;
	if (n > piece)
		n = piece;
	if (n > max)
		n = max;
	memcpy(buf, s->data + pos, n);
	return (ssize_t)n;
}

static void slow_free(void *cls)
{
	struct slow_body *s = cls;
	free(s->own);
	free(s);
}

static enum MHD_Result send_body(c360_mockstore *ms, struct MHD_Connection *c, int status,
				 const char *body, size_t len, bool copy, const char *retry_after,
				 bool slow, int slow_ms)
{
	struct MHD_Response *r;
	if (slow) {
		struct slow_body *s = calloc(1, sizeof *s);
		if (!s)
			return MHD_NO;
		if (copy) {
			s->own = malloc(len + 1);
			if (!s->own) {
				free(s);
				return MHD_NO;
			}
			memcpy(s->own, body, len);
			s->data = s->own;
		} else {
			s->data = body;
		}
		s->len = len;
		s->piece_ms = (slow_ms > 0 ? slow_ms : 2000) / 8;
		r = MHD_create_response_from_callback(len, 4096, slow_read, s, slow_free);
		if (!r) {
			slow_free(s);
			return MHD_NO;
		}
		atomic_fetch_add(&ms->slow, 1);
	} else {
		r = MHD_create_response_from_buffer(len, (void *)body,
						    copy ? MHD_RESPMEM_MUST_COPY : MHD_RESPMEM_PERSISTENT);
		if (!r)
			return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "application/json");
	if (retry_after)
		MHD_add_response_header(r, "Retry-After", retry_after);
	count_status(ms, status);
	enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result send_error(c360_mockstore *ms, struct MHD_Connection *c, int status,
				  const char *code, const char *msg, const char *retry_after)
{
	char body[512];
	struct c360_buf b;
	c360_buf_init(&b, 400);
	ms_json_str(&b, msg); /* escapes; truncation past 400 bytes is harmless */
	int n = snprintf(body, sizeof body, "{\"error\":\"%s\",\"message\":%s}", code,
			 c360_buf_cstr(&b));
	c360_buf_release(&b);
	if (n < 0 || (size_t)n >= sizeof body)
		n = snprintf(body, sizeof body, "{\"error\":\"%s\"}", code);
	return send_body(ms, c, status, body, (size_t)n, true, retry_after, false, 0);
}

enum fault { F_NONE, F_DROP, F_500, F_503, F_429, F_MALFORMED, F_SLOW };

static enum fault pick_fault(c360_mockstore *ms, struct c360_mockstore_faults *f)
{
	pthread_mutex_lock(&ms->fault_mu);
	*f = ms->faults;
	uint64_t n = atomic_fetch_add(&ms->fault_n, 1);
	pthread_mutex_unlock(&ms->fault_mu);
	if (f->first_n && n >= f->first_n)
		return F_NONE;
	double u = unit(mix64(ms->opts.seed * 0x100000001b3ull ^ n));
	double acc = 0;
	if (u < (acc += f->drop))
		return F_DROP;
	if (u < (acc += f->error_500))
		return F_500;
	if (u < (acc += f->error_503))
		return F_503;
	if (u < (acc += f->error_429))
		return F_429;
	if (u < (acc += f->malformed))
		return F_MALFORMED;
	if (u < (acc += f->slow))
		return F_SLOW;
	return F_NONE;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	c360_mockstore *ms = cls;
	(void)version;
	(void)upload_data;
	if (!*con_cls) { /* first call: headers only */
		*con_cls = (void *)1;
		return MHD_YES;
	}
	if (*upload_data_size) { /* ignore any request body */
		*upload_data_size = 0;
		return MHD_YES;
	}
	atomic_fetch_add(&ms->total, 1);
	enum ep ep = EP_OTHER;
	if (!strcmp(url, API "getCustomerDetailsByEmail"))
		ep = EP_DETAILS;
	else if (!strcmp(url, API "getOrdersByCustomerId"))
		ep = EP_ORDERS;
	else if (!strcmp(url, API "getProductDetailsByProductId"))
		ep = EP_PRODUCTS;
	else if (!strcmp(url, "/stats"))
		ep = EP_STATS;
	atomic_fetch_add(&ms->ep[ep], 1);

	if (ep == EP_STATS) {
		struct c360_buf b;
		c360_buf_init(&b, 1 << 16);
		c360_mockstore_stats_json(ms, &b);
		enum MHD_Result r = send_body(ms, c, 200, c360_buf_cstr(&b), b.len, true, NULL,
					      false, 0);
		c360_buf_release(&b);
		return r;
	}
	if (ep == EP_OTHER)
		return send_error(ms, c, 404, "not_found", "no such endpoint", NULL);
	if (strcmp(method, "GET"))
		return send_error(ms, c, 405, "method_not_allowed", "only GET is served", NULL);
	count_second(ms);

	struct c360_mockstore_faults f;
	enum fault fault = pick_fault(ms, &f);
	int delay = f.latency_ms;
	if (f.jitter_ms > 0)
		delay += (int)(mix64((uint64_t)atomic_load(&ms->total) ^ ms->opts.seed) %
			       (uint64_t)(f.jitter_ms + 1));
	if (delay > 0)
		usleep((useconds_t)delay * 1000);
	char ra[24];
	snprintf(ra, sizeof ra, "%d", f.retry_after_s > 0 ? f.retry_after_s : 1);
	switch (fault) {
	case F_DROP:
		atomic_fetch_add(&ms->dropped, 1);
		return MHD_NO; /* closes the connection without an answer */
	case F_500:
		return send_error(ms, c, 500, "internal", "injected failure", NULL);
	case F_503:
		return send_error(ms, c, 503, "unavailable", "injected unavailability", ra);
	case F_429:
		return send_error(ms, c, 429, "too_many_requests", "injected rate limit", ra);
	default:
		break;
	}

	const char *body = NULL;
	size_t len = 0;
	if (ep == EP_DETAILS) {
		const char *email =
			MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "customerEmail");
		if (!email || !*email)
			return send_error(ms, c, 400, "bad_request", "customerEmail is required", NULL);
		const struct ms_customer *cu = ms_data_by_email(&ms->data, email);
		if (!cu) {
			char msg[300];
			snprintf(msg, sizeof msg, "no customer with email '%.250s'", email);
			return send_error(ms, c, 404, "not_found", msg, NULL);
		}
		body = cu->details;
		len = cu->details_len;
	} else {
		const char *name = ep == EP_ORDERS ? "customerId" : "productId";
		const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
		int64_t id;
		if (!ms_id_parse(&ms->data, ep == EP_ORDERS ? MS_ID_CUSTOMER : MS_ID_PRODUCT, v,
				 &id)) {
			char msg[100];
			snprintf(msg, sizeof msg, "%s must be %s", name,
				 ms->data.id_style == C360_MOCKSTORE_ID_UUID ? "one of this store's UUIDs"
									     : "a whole number");
			return send_error(ms, c, 400, "bad_request", msg, NULL);
		}
		if (ep == EP_ORDERS) {
			const struct ms_customer *cu = ms_data_by_id(&ms->data, id);
			if (cu) {
				body = cu->orders.data ? cu->orders.data : "[]";
				len = cu->orders.data ? cu->orders.len : 2;
			}
		} else {
			const struct ms_product *p = ms_data_product(&ms->data, id);
			if (p) {
				body = p->json;
				len = p->len;
			}
		}
		if (!body) {
			char msg[100];
			snprintf(msg, sizeof msg, "no %s with id '%s'",
				 ep == EP_ORDERS ? "customer" : "product", v);
			return send_error(ms, c, 404, "not_found", msg, NULL);
		}
	}
	if (fault == F_MALFORMED) {
		atomic_fetch_add(&ms->malformed, 1);
		len = len / 2; /* a cut-off document is never valid JSON */
	}
	return send_body(ms, c, 200, body, len, false, NULL, fault == F_SLOW, f.slow_ms);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	(void)c;
	(void)socket_context;
	if (code == MHD_CONNECTION_NOTIFY_STARTED)
		atomic_fetch_add(&((c360_mockstore *)cls)->connections, 1);
}

c360_rc c360_mockstore_start(c360_mockstore *ms, char *err, size_t errlen)
{
	c360_rc rc = ms_data_finish(&ms->data);
	if (rc) {
		snprintf(err, errlen, "cannot index the data set: %s", c360_rc_str(rc));
		return rc;
	}
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)ms->opts.port);
	if (inet_pton(AF_INET, ms->bind, &sa.sin_addr) != 1) {
		snprintf(err, errlen, "bad bind address '%s' (want an IPv4 address)", ms->bind);
		return C360_ERR_INVALID;
	}
	bool tpc = ms->opts.thread_per_connection || ms->faults.latency_ms > 0 ||
		   ms->faults.jitter_ms > 0 || ms->faults.slow > 0;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD; /* no MHD_USE_ERROR_LOG: drops are on purpose */
	if (tpc)
		flags |= MHD_USE_THREAD_PER_CONNECTION;
	else
		flags |= MHD_USE_EPOLL;
	if (tpc)
		ms->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, ms, MHD_OPTION_SOCK_ADDR,
					 (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_TIMEOUT,
					 (unsigned)60, MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
					 MHD_OPTION_NOTIFY_CONNECTION, on_connection, ms, MHD_OPTION_END);
	else
		ms->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, ms, MHD_OPTION_SOCK_ADDR,
					 (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE,
					 (unsigned)ms->opts.threads, MHD_OPTION_CONNECTION_TIMEOUT,
					 (unsigned)60, MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
					 MHD_OPTION_NOTIFY_CONNECTION, on_connection, ms, MHD_OPTION_END);
	if (!ms->d) {
		snprintf(err, errlen, "cannot listen on %s:%d (port in use?)", ms->bind,
			 ms->opts.port);
		return C360_ERR_IO;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(ms->d, MHD_DAEMON_INFO_BIND_PORT);
	ms->port = info ? info->port : ms->opts.port;
	snprintf(ms->url, sizeof ms->url, "http://%s:%d", ms->bind, ms->port);
	return C360_OK;
}

void c360_mockstore_free(c360_mockstore *ms)
{
	if (!ms)
		return;
	if (ms->d)
		MHD_stop_daemon(ms->d);
	ms_data_release(&ms->data);
	pthread_mutex_destroy(&ms->fault_mu);
	pthread_mutex_destroy(&ms->ps_mu);
	free(ms);
}
