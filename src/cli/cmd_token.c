/* c360 token: create, list and revoke API bearer tokens. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "core/json.h"
#include "serve/token.h"
#include "core/banned.h"

int c360_cmd_token(int argc, char **argv);

static const char *o_scope;
static const char *o_name;
static bool o_json;

static const struct c360_opt create_opts[] = {
	C360_CLI_STORE_OPT,
	{"scope", 's', C360_OPT_STR, &o_scope, "read|admin",
	 "read: every API lookup and read-only SQL; admin: also tokens, functions, connectors", NULL},
	{"name", 'n', C360_OPT_STR, &o_name, "NAME", "a label to recognise the token by", NULL},
	{NULL, 0, 0, NULL, NULL, NULL, NULL},
};
static const struct c360_opt list_opts[] = {
	C360_CLI_STORE_OPT,
	{"json", 0, C360_OPT_FLAG, &o_json, NULL, "print a JSON array instead of a table", NULL},
	{NULL, 0, 0, NULL, NULL, NULL, NULL},
};
static const struct c360_opt revoke_opts[] = {
	C360_CLI_STORE_OPT,
	{NULL, 0, 0, NULL, NULL, NULL, NULL},
};

static const struct c360_cmd_spec create_spec = {
	"c360 token create --scope read|admin [--name NAME]",
	"create an API token and print it (once: only its hash is stored)",
	"The token is printed on stdout alone; keep it, it cannot be shown again.\n"
	"Once a token exists, the API needs one on every call (Authorization: Bearer TOKEN).",
	create_opts, 0, 0};
static const struct c360_cmd_spec list_spec = {
	"c360 token list [--json]", "list API tokens (id, scope, name, created)", NULL, list_opts, 0, 0};
static const struct c360_cmd_spec revoke_spec = {
	"c360 token revoke ID", "revoke (delete) an API token; a running server stops accepting it within a second",
	"Exit codes: 0 revoked, 3 no such token, 6 store unusable.", revoke_opts, 1, 1};

static void usage(FILE *out)
{
	fprintf(out, "usage: c360 token create|list|revoke [options]\n"
		     "\nmanage the API's bearer tokens\n\n"
		     "  create --scope read|admin [--name N]   create a token, print it once\n"
		     "  list [--json]                          list tokens\n"
		     "  revoke ID                              revoke a token\n"
		     "\n'c360 token COMMAND --help' describes a command.\n");
}

static int cmd_create(int argc, char **argv)
{
	const char *cmd = argv[0];
	int n = c360_opts_parse(&create_spec, argc, argv);
	if (n == C360_OPTS_HELP)
		return 0;
	if (n < 0)
		return C360_EXIT_USAGE;
	enum c360_http_scope scope;
	if (o_scope && !strcmp(o_scope, "read")) {
		scope = C360_HTTP_READ;
	} else if (o_scope && !strcmp(o_scope, "admin")) {
		scope = C360_HTTP_ADMIN;
	} else {
		fprintf(stderr, "%s: --scope must be 'read' or 'admin'\n", cmd);
		return C360_EXIT_USAGE;
	}
	c360_store *st = NULL;
	struct c360_store_opts so;
	c360_store_opts_init(&so);
	so.sweep_interval_ms = -1;
	int ex = c360_cli_open_store(&st, &so);
	if (ex)
		return ex;
	char tok[C360_TOKEN_MAX + 1], err[256] = "";
	struct c360_token_info info;
	c360_rc rc = c360_token_create(st, scope, o_name, tok, &info, err, sizeof err);
	if (rc) {
		fprintf(stderr, "%s: %s\n", cmd, err);
		ex = c360_cli_exit_code(rc);
	} else {
		printf("%s\n", tok);
		fprintf(stderr, "created %s token '%s'%s%s%s: it is shown only now\n",
			c360_http_scope_str(scope), info.id, *info.name ? " (" : "", info.name,
			*info.name ? ")" : "");
	}
	c360_store_close(st);
	return ex;
}

static int cmd_list(int argc, char **argv)
{
	const char *cmd = argv[0];
	int n = c360_opts_parse(&list_spec, argc, argv);
	if (n == C360_OPTS_HELP)
		return 0;
	if (n < 0)
		return C360_EXIT_USAGE;
	c360_store *st = NULL;
	struct c360_store_opts so;
	c360_store_opts_init(&so);
	so.sweep_interval_ms = -1;
	int ex = c360_cli_open_store(&st, &so);
	if (ex)
		return ex;
	struct c360_token_info *t = NULL;
	size_t nt = 0;
	c360_rc rc = c360_token_list(st, &t, &nt);
	if (rc) {
		fprintf(stderr, "%s: cannot list tokens: %s\n", cmd, c360_rc_str(rc));
		ex = c360_cli_exit_code(rc);
		goto out;
	}
	if (o_json) {
		struct c360_buf b;
		c360_buf_init(&b, 0);
		c360_buf_putc(&b, '[');
		for (size_t i = 0; i < nt; i++) {
			c360_buf_printf(&b, "%s{\"id\":\"%s\",\"scope\":\"%s\",\"name\":", i ? "," : "", t[i].id,
					c360_http_scope_str(t[i].scope));
			c360_json_write_string(t[i].name, strlen(t[i].name), &b);
			c360_buf_printf(&b, ",\"created\":%lld}", (long long)t[i].created);
		}
		c360_buf_putc(&b, ']');
		printf("%s\n", c360_buf_cstr(&b));
		c360_buf_release(&b);
	} else {
		printf("%-8s  %-5s  %-20s  %s\n", "ID", "SCOPE", "CREATED", "NAME");
		for (size_t i = 0; i < nt; i++) {
			char when[32];
			time_t c = (time_t)t[i].created;
			struct tm tm;
			gmtime_r(&c, &tm);
			strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
			printf("%-8s  %-5s  %-20s  %s\n", t[i].id, c360_http_scope_str(t[i].scope), when,
			       t[i].name);
		}
		fprintf(stderr, "%zu token%s\n", nt, nt == 1 ? "" : "s");
	}
out:
	free(t);
	c360_store_close(st);
	return ex;
}

static int cmd_revoke(int argc, char **argv)
{
	const char *cmd = argv[0];
	int n = c360_opts_parse(&revoke_spec, argc, argv);
	if (n == C360_OPTS_HELP)
		return 0;
	if (n < 0)
		return C360_EXIT_USAGE;
	c360_store *st = NULL;
	struct c360_store_opts so;
	c360_store_opts_init(&so);
	so.sweep_interval_ms = -1;
	int ex = c360_cli_open_store(&st, &so);
	if (ex)
		return ex;
	c360_rc rc = c360_token_revoke(st, argv[0]);
	if (rc == C360_ERR_NOT_FOUND) {
		fprintf(stderr, "%s: no token '%s' (see 'c360 token list')\n", cmd, argv[0]);
		ex = C360_EXIT_NOT_FOUND;
	} else if (rc) {
		fprintf(stderr, "%s: cannot revoke '%s': %s\n", cmd, argv[0], c360_rc_str(rc));
		ex = c360_cli_exit_code(rc);
	} else {
		printf("revoked token '%s'\n", argv[0]);
	}
	c360_store_close(st);
	return ex;
}

int c360_cmd_token(int argc, char **argv)
{
	static const struct c360_subcommand subs[] = {
		{"create", cmd_create},
		{"list", cmd_list},
		{"revoke", cmd_revoke},
		{NULL, NULL},
	};
	return c360_cli_dispatch("token", subs, usage, argc, argv);
}
