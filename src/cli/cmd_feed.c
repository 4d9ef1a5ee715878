/* c360 feed: print a bucket's change feed as JSON lines, optionally
 * following it. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/json.h"
#include "core/banned.h"

int c360_cmd_feed(int argc, char **argv);

static int64_t o_since = INT64_MIN, o_limit;
static bool o_follow;
static const char *o_cursor;

static const struct c360_opt feed_opts[] = {
	C360_CLI_STORE_OPT,
	{"since", 's', C360_OPT_INT, &o_since, "SEQ", "print changes after this seqno", "0"},
	{"follow", 'f', C360_OPT_FLAG, &o_follow, NULL, "keep waiting for new changes (Ctrl-C stops)", NULL},
	{"limit", 'n', C360_OPT_INT, &o_limit, "N", "stop after N events", "no limit"},
	{"cursor", 0, C360_OPT_STR, &o_cursor, "NAME",
	 "start after the named cursor (unless --since) and save progress to it", NULL},
	{NULL, 0, 0, NULL, NULL, NULL, NULL},
};

static const struct c360_cmd_spec feed_spec = {
	"c360 feed [options] BUCKET", "print a bucket's change feed, one JSON line per event",
	"Each line: {\"seqno\":N,\"op\":\"mutation|deletion|expiration\",\"key\":…,\"cas\":N,\n"
	"\"expiry\":UNIX_TIME_OR_0,\"value\":JSON_OR_null}, in seqno order. Rapid changes to\n"
	"one key may collapse to the latest (like Couchbase DCP); the latest state of every\n"
	"key changed after --since is always printed. A summary goes to stderr.\n"
	"Exit codes: 0 ok, 2 usage, 3 no such bucket, 6 store unusable.",
	feed_opts, 1, 1};

static volatile sig_atomic_t stop_flag;
static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

struct out_ctx {
	struct c360_buf line;
	uint64_t count;
	uint64_t limit;
	c360_rc rc;
};

static int print_event(const struct c360_feed_event *ev, void *arg)
{
	struct out_ctx *o = arg;
	struct c360_buf *b = &o->line;
	c360_buf_reset(b);
	c360_rc rc = c360_buf_printf(b, "{\"seqno\":%llu,\"op\":\"%s\",\"key\":",
				     (unsigned long long)ev->seqno, c360_feed_op_str(ev->op));
	if (!rc)
		rc = c360_json_write_string(ev->key, ev->key_len, b);
	if (!rc)
		rc = c360_buf_printf(b, ",\"cas\":%llu,\"expiry\":%u,\"value\":",
				     (unsigned long long)ev->cas, ev->expiry);
	if (!rc && !ev->value)
		rc = c360_buf_puts(b, "null");
	else if (!rc && !memchr(ev->value, '\n', ev->value_len) && !memchr(ev->value, '\r', ev->value_len))
		rc = c360_buf_append(b, ev->value, ev->value_len);
	else if (!rc) {
		/* multi-line JSON: one line per event, so write it compact */
		c360_json_doc *doc = NULL;
		rc = c360_json_parse(ev->value, ev->value_len, NULL, &doc, NULL);
		if (!rc)
			rc = c360_json_write(c360_json_doc_root(doc), C360_JSON_COMPACT, b);
		c360_json_doc_free(doc);
	}
	if (!rc)
		rc = c360_buf_puts(b, "}\n");
	if (rc || fwrite(b->data, 1, b->len, stdout) != b->len) {
		o->rc = rc ? rc : C360_ERR_IO;
		return 1;
	}
	o->count++;
	return (o->limit && o->count >= o->limit) || stop_flag;
}

int c360_cmd_feed(int argc, char **argv)
{
	argv[0] = "c360 feed";
	int n = c360_opts_parse(&feed_spec, argc, argv);
	if (n == C360_OPTS_HELP)
		return 0;
	if (n < 0)
		return C360_EXIT_USAGE;
	const char *cmd = "c360 feed", *bucket = argv[0];
	bool since_given = o_since != INT64_MIN;
	if (!since_given)
		o_since = 0;
	if (o_since < 0 || o_limit < 0) {
		fprintf(stderr, "%s: --since and --limit must not be negative\n", cmd);
		return C360_EXIT_USAGE;
	}
	c360_store *st = NULL;
	struct c360_store_opts so;
	c360_store_opts_init(&so);
	so.no_create = true;
	so.read_only = o_cursor == NULL;
	so.sweep_interval_ms = -1;
	int ex = c360_cli_open_store(&st, &so);
	if (ex)
		return ex;
	uint64_t after = (uint64_t)o_since, high = 0;
	c360_rc rc = c360_feed_high_seqno(st, bucket, &high);
	if (rc == C360_ERR_NOT_FOUND) {
		fprintf(stderr, "%s: no bucket '%s' in store '%s' (see 'c360 bucket list')\n", cmd,
			bucket, c360_store_path(st));
		c360_store_close(st);
		return C360_EXIT_NOT_FOUND;
	}
	if (!rc && o_cursor && !since_given) {
		uint64_t cur;
		rc = c360_feed_cursor_get(st, bucket, o_cursor, &cur);
		if (rc == C360_OK)
			after = cur;
		else if (rc == C360_ERR_NOT_FOUND)
			rc = C360_OK;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	struct out_ctx o;
	c360_buf_init(&o.line, 0);
	o.count = 0;
	o.limit = (uint64_t)o_limit;
	o.rc = C360_OK;
	uint64_t first = after;
	while (!rc && !stop_flag) {
		uint64_t last = after;
		rc = c360_feed_read(st, bucket, after, 0, print_event, &o, &last);
		if (!rc)
			rc = o.rc;
		fflush(stdout);
		if (rc)
			break;
		if (o_cursor && last != after) {
			rc = c360_feed_cursor_set(st, bucket, o_cursor, last);
			if (rc)
				break;
		}
		after = last;
		if (!o_follow || (o.limit && o.count >= o.limit))
			break;
		rc = c360_feed_wait(st, bucket, after, 500);
		if (rc == C360_ERR_TIMEOUT)
			rc = C360_OK;
	}
	c360_buf_release(&o.line);
	if (rc) {
		fprintf(stderr, "%s: reading the feed of '%s' failed: %s\n", cmd, bucket,
			c360_rc_str(rc));
		ex = rc == C360_ERR_IO ? C360_EXIT_FAILED : c360_cli_exit_code(rc);
	} else {
		fprintf(stderr, "%s: %llu event%s from '%s' after seqno %llu, last seqno %llu%s\n", cmd,
			(unsigned long long)o.count, o.count == 1 ? "" : "s", bucket,
			(unsigned long long)first, (unsigned long long)after,
			o_cursor ? " (saved to the cursor)" : "");
	}
	c360_store_close(st);
	return ex;
}
