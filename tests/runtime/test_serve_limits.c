/* The HTTP server's connection limits against slow and idle clients, over
 * raw loopback sockets: half-sent requests cannot lock /health and /metrics
 * out (from the prober's own address or from others), a request trickled a
 * byte at a time is closed at the header timeout, a client at its address's
 * limit with every connection busy is refused, and /metrics counts it all.
 * Source addresses 127.0.0.2… are distinct clients on Linux loopback. Bounded:
 * at most 1,100 client sockets, every wait has an upper bound. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/metrics.h"
#include "serve/http.h"
#include "test.h"

static c360_http *srv;
static c360_metrics *metrics;
static int port;

static void metrics_route(const struct c360_http_req *req, struct c360_http_resp *resp, void *ctx)
{
	(void)req;
	resp->content_type = "text/plain; version=0.0.4";
	c360_metrics_render(ctx, &resp->body);
}

/* GET /block: holds its pool thread until released (a busy connection) */
static pthread_mutex_t block_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t block_cv = PTHREAD_COND_INITIALIZER;
static int block_entered, block_released;

static void block_route(const struct c360_http_req *req, struct c360_http_resp *resp, void *ctx)
{
	(void)req;
	(void)ctx;
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 20; /* upper bound: never hang the test */
	pthread_mutex_lock(&block_mu);
	block_entered++;
	pthread_cond_broadcast(&block_cv);
	while (!block_released && pthread_cond_timedwait(&block_cv, &block_mu, &until) == 0)
		;
	pthread_mutex_unlock(&block_mu);
	c360_buf_puts(&resp->body, "{\"released\":true}\n");
}

static int start(int max_conns, int per_ip, int header_timeout)
{
	struct c360_http_opts o = {.port = 0,
				   .threads = 2,
				   .max_connections = max_conns,
				   .max_connections_per_ip = per_ip,
				   .header_timeout = header_timeout};
	srv = c360_http_new(&o);
	metrics = c360_metrics_new();
	if (!srv || !metrics || c360_metrics_add(metrics, c360_http_collect, srv) ||
	    c360_http_route(srv, "GET", "/metrics", C360_HTTP_OPEN, metrics_route, metrics) ||
	    c360_http_route(srv, "GET", "/block", C360_HTTP_OPEN, block_route, NULL))
		return -1;
	char err[256];
	if (c360_http_start(srv, err, sizeof err)) {
		printf("  cannot start: %s\n", err);
		return -1;
	}
	port = c360_http_port(srv);
	return 0;
}

static void stop(void)
{
	c360_http_free(srv);
	c360_metrics_free(metrics);
	srv = NULL;
	metrics = NULL;
}

/* A TCP connection to the server from source address src (127.0.0.x). */
static int dial(const char *src)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in a = {.sin_family = AF_INET};
	if (src) {
		inet_pton(AF_INET, src, &a.sin_addr);
		if (bind(fd, (struct sockaddr *)&a, sizeof a)) {
			close(fd);
			return -1;
		}
	}
	a.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
		close(fd);
		return -1;
	}
	return fd;
}

static bool send_str(int fd, const char *s)
{
	return send(fd, s, strlen(s), MSG_NOSIGNAL) == (ssize_t)strlen(s);
}

/* Opens n connections from src that send a request line and one header and
 * never finish; fds[] receives them (-1 where the connect failed). */
static int half_sent(const char *src, int *fds, int n)
{
	int ok = 0;
	for (int i = 0; i < n; i++) {
		fds[i] = dial(src);
		if (fds[i] >= 0 && send_str(fds[i], "GET /health HTTP/1.1\r\nHost: x\r\n"))
			ok++;
	}
	return ok;
}

static void close_all(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* One complete GET from src; returns the status (0 = no answer within 10 s,
 * the upper bound) and the body in out. */
static int get(const char *src, const char *path, char *out, size_t outlen)
{
	int fd = dial(src);
	if (fd < 0)
		return 0;
	char rq[256];
	snprintf(rq, sizeof rq, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
	size_t n = 0;
	if (send_str(fd, rq)) {
		for (int waited = 0; waited < 10000 && n + 1 < outlen;) {
			struct pollfd p = {.fd = fd, .events = POLLIN};
			int r = poll(&p, 1, 100);
			if (r == 0) {
				waited += 100;
				continue;
			}
			ssize_t k = recv(fd, out + n, outlen - 1 - n, 0);
			if (k <= 0)
				break;
			n += (size_t)k;
		}
	}
	out[n] = 0;
	close(fd);
	int status = 0;
	if (sscanf(out, "HTTP/1.1 %d", &status) != 1)
		status = 0;
	return status;
}

/* Waits (at most 10 s) until the server has accepted or refused n
 * connections in all, so a probe comes after every attacking one. */
static bool processed(uint64_t n)
{
	for (int i = 0; i < 1000; i++) {
		struct c360_http_stats s;
		c360_http_get_stats(srv, &s);
		if (s.accepted + s.rejected_full + s.rejected_per_ip >= n)
			return true;
		usleep(10 * 1000);
	}
	return false;
}

/* The value of a sample line "name{labels} V" in a /metrics answer, or -1. */
static long long sample(const char *text, const char *line_start)
{
	const char *p = strstr(text, line_start);
	return p ? strtoll(p + strlen(line_start), NULL, 10) : -1;
}

/* Whether the server closed fd (EOF or reset) within ms, trickling one
 * header byte every 250 ms when drip is set. */
static bool closed_within(int fd, int ms, bool drip)
{
	char buf[512];
	for (int waited = 0; waited < ms; waited += 250) {
		if (drip && !send_str(fd, "x"))
			return true; /* EPIPE / ECONNRESET: closed */
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 250) > 0) {
			ssize_t k = recv(fd, buf, sizeof buf, 0);
			if (k <= 0)
				return true;
		}
	}
	return false;
}

/* The case: about 1,024 half-sent requests against the default
 * limits (512 connections, 128 per address) used to make /health
 * unanswerable. The attacker and the prober share 127.0.0.1. */
TEST(thousand_half_sent_requests_do_not_lock_out_health)
{
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < 2400 && rl.rlim_max >= 2400) {
		rl.rlim_cur = 2400;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < 2400) {
		printf("  skipped: RLIMIT_NOFILE %llu is below 2400\n", (unsigned long long)rl.rlim_cur);
		return;
	}
	REQUIRE(!start(0, 0, 0)); /* the defaults */
	enum { N = 1100 };
	static int fds[N];
	CHECK_EQ_INT(half_sent("127.0.0.1", fds, N), N);
	CHECK(processed(N));
	char body[8192];
	CHECK_EQ_INT(get("127.0.0.1", "/health", body, sizeof body), 200);
	CHECK(strstr(body, "\"status\":\"ok\"") != NULL);
	CHECK_EQ_INT(get("127.0.0.1", "/metrics", body, sizeof body), 200);
	CHECK(sample(body, "c360_http_connections_closed_total{reason=\"evicted\"} ") >=
	      N - C360_HTTP_DEFAULT_CONNECTIONS_PER_IP - 4);
	struct c360_http_stats s;
	c360_http_get_stats(srv, &s);
	/* per address at most 128 (+ one per pool thread accepting at once) */
	CHECK(s.connections <= C360_HTTP_DEFAULT_CONNECTIONS_PER_IP + 2);
	close_all(fds, N);
	stop();
}

/* Attackers on other addresses fill the server: the per-address limit keeps
 * each below the total, and a prober from a third address gets in; so does
 * one from an attacker's own address. */
TEST(per_ip_limit_leaves_room_for_other_clients)
{
	REQUIRE(!start(48, 16, 30)); /* header timeout out of the way: eviction only */
	enum { N = 100 };
	static int a[N], b[N];
	CHECK_EQ_INT(half_sent("127.0.0.2", a, N), N);
	CHECK_EQ_INT(half_sent("127.0.0.3", b, N), N);
	CHECK(processed(2 * N));
	struct c360_http_stats s;
	c360_http_get_stats(srv, &s);
	CHECK(s.connections <= 2 * 16 + 2);
	char body[8192];
	CHECK_EQ_INT(get("127.0.0.4", "/health", body, sizeof body), 200);
	CHECK_EQ_INT(get("127.0.0.2", "/health", body, sizeof body), 200);
	CHECK_EQ_INT(get("127.0.0.4", "/metrics", body, sizeof body), 200);
	CHECK(sample(body, "c360_http_connections_closed_total{reason=\"evicted\"} ") >=
	      2 * (N - 16) - 4);
	close_all(a, N);
	close_all(b, N);
	stop();
}

/* Dripping a byte every 250 ms keeps libmicrohttpd's idle timeout from ever
 * firing; the header timeout (2 s here) counts from the accept and closes the
 * connection anyway. The bound of 8 s is an upper bound, not a measurement. */
TEST(dripping_headers_cannot_extend_the_header_timeout)
{
	REQUIRE(!start(0, 0, 2));
	int fd = dial("127.0.0.5");
	REQUIRE(fd >= 0);
	CHECK(send_str(fd, "GET /health HTTP/1.1\r\nHost: x\r\nX-Drip: "));
	CHECK(closed_within(fd, 8000, true));
	close(fd);
	/* a connection that never sends a byte is closed the same way */
	fd = dial("127.0.0.5");
	REQUIRE(fd >= 0);
	CHECK(closed_within(fd, 8000, false));
	close(fd);
	char body[8192];
	CHECK_EQ_INT(get("127.0.0.5", "/metrics", body, sizeof body), 200);
	CHECK_EQ_INT(sample(body, "c360_http_connections_closed_total{reason=\"header_timeout\"} "), 2);
	/* a client that sends its request at once is unaffected */
	CHECK_EQ_INT(get("127.0.0.5", "/health", body, sizeof body), 200);
	stop();
}

/* When every connection of an address is busy with a request (none waits for
 * headers), nothing can be evicted: the new connection is refused and
 * counted. */
TEST(busy_address_at_its_limit_is_refused_and_counted)
{
	REQUIRE(!start(8, 1, 30));
	block_entered = block_released = 0;
	int busy = dial("127.0.0.6");
	REQUIRE(busy >= 0);
	CHECK(send_str(busy, "GET /block HTTP/1.1\r\nHost: x\r\n\r\n"));
	pthread_mutex_lock(&block_mu);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	while (!block_entered && pthread_cond_timedwait(&block_cv, &block_mu, &until) == 0)
		;
	int entered = block_entered;
	pthread_mutex_unlock(&block_mu);
	REQUIRE(entered);
	int fd = dial("127.0.0.6");
	CHECK(fd < 0 || closed_within(fd, 8000, false));
	if (fd >= 0)
		close(fd);
	char body[8192];
	CHECK_EQ_INT(get("127.0.0.7", "/metrics", body, sizeof body), 200);
	CHECK_EQ_INT(sample(body, "c360_http_connections_rejected_total{reason=\"per_ip\"} "), 1);
	CHECK(strstr(body, "c360_http_connections_rejected_total{reason=\"max_connections\"} 0") != NULL);
	pthread_mutex_lock(&block_mu);
	block_released = 1;
	pthread_cond_broadcast(&block_cv);
	pthread_mutex_unlock(&block_mu);
	close(busy);
	stop();
}

/* Limits out of range are refused at start, not silently adjusted. */
TEST(bad_limits_are_refused)
{
	struct c360_http_opts o = {.port = 0, .max_connections = 10, .max_connections_per_ip = 11};
	c360_http *h = c360_http_new(&o);
	char err[256] = "";
	CHECK(c360_http_start(h, err, sizeof err) == C360_ERR_INVALID);
	CHECK(strstr(err, "max_connections_per_ip 11") != NULL);
	c360_http_free(h);
}

int main(void)
{
	RUN(bad_limits_are_refused);
	RUN(dripping_headers_cannot_extend_the_header_timeout);
	RUN(per_ip_limit_leaves_room_for_other_clients);
	RUN(busy_address_at_its_limit_is_refused_and_counted);
	RUN(thousand_half_sent_requests_do_not_lock_out_health);
	return test_summary();
}
