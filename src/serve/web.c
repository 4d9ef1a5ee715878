/* Serves the embedded dashboard: GET /ui/ is web/index.html, GET /ui/FILE any
 * other file of web/ (see cmake/embed.cmake), GET / redirects to /ui/. */
#include "serve/api.h"

#include <string.h>

#include "serve/web.h"
#include "core/banned.h"

static const struct c360_web_asset *find(const char *path)
{
	for (const struct c360_web_asset *a = c360_web_assets; a->path; a++)
		if (!strcmp(a->path, path))
			return a;
	return NULL;
}

static void send_asset(const struct c360_web_asset *a, struct c360_http_resp *resp)
{
	resp->content_type = a->content_type;
	c360_http_add_header(resp, "Cache-Control", "no-cache");
	c360_http_add_header(resp, "X-Content-Type-Options", "nosniff");
	if (c360_buf_append(&resp->body, a->data, a->len))
		c360_http_error(resp, 500, "internal", "cannot send '%s'", a->path);
}

static void h_root(const struct c360_http_req *req, struct c360_http_resp *resp, void *ctx)
{
	const struct c360_web_asset *a = find("index.html");
	if (!a) {
		c360_http_error(resp, 404, "not_found", "this build has no dashboard");
		return;
	}
	send_asset(a, resp);
}

static void h_redirect(const struct c360_http_req *req, struct c360_http_resp *resp, void *ctx)
{
	resp->status = 302;
	resp->content_type = "text/plain";
	c360_http_add_header(resp, "Location", "/ui/");
	c360_buf_puts(&resp->body, "the dashboard is at /ui/\n");
}

static void h_file(const struct c360_http_req *req, struct c360_http_resp *resp, void *ctx)
{
	const char *f = c360_http_param(req, "file");
	const struct c360_web_asset *a = f ? find(f) : NULL;
	if (!a) {
		c360_http_error(resp, 404, "not_found", "no dashboard file '%s'", f ? f : "");
		return;
	}
	send_asset(a, resp);
}

c360_rc c360_web_routes(c360_http *h, bool root_taken)
{
	c360_rc rc = c360_http_route(h, "GET", "/ui", C360_HTTP_OPEN, h_root, NULL);
	if (!rc && !root_taken)
		rc = c360_http_route(h, "GET", "/", C360_HTTP_OPEN, h_redirect, NULL);
	if (!rc)
		rc = c360_http_route(h, "GET", "/ui/{file...}", C360_HTTP_OPEN, h_file, NULL);
	return rc;
}
