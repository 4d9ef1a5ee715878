/* The customer 360 API (/api/v1/...) and the embedded dashboard, mountable on
 * any c360_http server (`c360 serve`, `c360 run`, `c360 demo`).
 *
 *   c360_api *api;
 *   c360_api_routes(http, store, NULL, &api, err, sizeof err);
 *   c360_http_start(http, ...);  ...  c360_http_free(http); c360_api_free(api);
 *
 * c360_api_routes registers the routes, starts the customer360 index (a
 * thread following the bucket's change feed, see index360.h) and installs the
 * token auth hook on the server (see token.h) unless opts->no_auth.
 * docs/serve.md is the reference of every endpoint. */
#ifndef C360_SERVE_API_H
#define C360_SERVE_API_H

#include <stdbool.h>
#include <stddef.h>

#include "core/rc.h"
#include "serve/http.h"
#include "serve/index360.h"
#include "store/store.h"

typedef struct c360_api c360_api;

struct c360_api_opts {
	const char *bucket;     /* the Customer 360 bucket, default "customer360" */
	size_t max_limit;       /* largest page (limit=), default 1000 */
	size_t max_query_rows;  /* POST query row cap, default 10000 */
	int max_query_ms;       /* POST query time cap, default 10000 (a query
				 * asks for less with timeout_ms; default 5000) */
	size_t max_query_bytes; /* POST query answer cap and largest value,
				 * default C360_QUERY_MAX_BYTES (32 MiB) */
	int max_queries;        /* POST queries running at once, default 2; each
				 * runs on a thread of its own, more get 429 */
	bool no_auth;           /* do not install the token auth hook (loopback only) */
	bool require_auth;      /* deny API calls while no token exists (instead of open);
				 * always so when the server binds beyond loopback */
	bool no_web;            /* do not serve the dashboard at /ui/ (and / redirecting there) */
	bool root_taken;        /* GET / is someone else's (Kafka Connect's in `c360 run`):
				 * the dashboard is at /ui/ only */
};

/* Registers every route on h (before it starts). st is borrowed and must
 * outlive the api; free the api after the server (c360_http_free). */
c360_rc c360_api_routes(c360_http *h, c360_store *st, const struct c360_api_opts *opts,
			c360_api **out, char *err, size_t errlen);
void c360_api_free(c360_api *api); /* accepts NULL */
/* The index behind the API (for c360_index_sync in tests and start-up). */
c360_index *c360_api_index(c360_api *api);
/* Number of API tokens in the store (0 = the API is open on loopback). */
size_t c360_api_token_count(c360_api *api);
/* The start-up check of every command that serves the API, before anything
 * starts: a server bound beyond loopback (see c360_http_is_loopback) needs a
 * token in the store or require_auth; else C360_ERR_INVALID with the reason and what to do in
 * err. Whatever this says, such a server never answers an API call without a
 * valid token: once the last token is revoked it refuses every call (401). */
c360_rc c360_api_check_exposure(c360_store *st, const char *bind, bool require_auth, char *err,
				size_t errlen);

/* Registers GET /ui (and /ui/) serving the dashboard's index.html, GET
 * /ui/{file...} its other files and, unless root_taken, GET / redirecting to
 * /ui/ (302). */
c360_rc c360_web_routes(c360_http *h, bool root_taken);

#endif
