/* YAML → c360 JSON DOM with source positions, on libfyaml. Positions are
 * kept in an open-addressing hash keyed by the node's address. */
#include "core/yaml.h"

#include <errno.h>
#include <libfyaml.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/utf8.h"

#include "core/banned.h"

#define YAML_FILE_MAX (16u << 20)

/* Key positions share the table, under the member value's address + 1 (node
 * addresses are aligned, so this never collides with a value). */
#define KEY_TAG(v) ((const c360_json *)((const char *)(v) + 1))

struct pos {
	const c360_json *v;
	unsigned line, col;
};

struct c360_yaml {
	char *name;
	c360_json_doc *doc;
	c360_json *root;
	struct pos *pos; /* open addressing, power-of-two size */
	size_t npos, cap;
};

static size_t hash_ptr(const void *p)
{
	uint64_t x = (uint64_t)(uintptr_t)p;
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return (size_t)x;
}

static c360_rc pos_put(struct c360_yaml *y, const c360_json *v, unsigned line, unsigned col)
{
	if ((y->npos + 1) * 2 > y->cap) {
		size_t cap = y->cap ? y->cap * 2 : 64;
		struct pos *n = calloc(cap, sizeof *n);
		if (!n)
			return C360_ERR_NOMEM;
		for (size_t i = 0; i < y->cap; i++) {
			if (!y->pos[i].v)
				continue;
			size_t h = hash_ptr(y->pos[i].v) & (cap - 1);
			while (n[h].v)
				h = (h + 1) & (cap - 1);
			n[h] = y->pos[i];
		}
		free(y->pos);
		y->pos = n;
		y->cap = cap;
	}
	size_t h = hash_ptr(v) & (y->cap - 1);
	while (y->pos[h].v && y->pos[h].v != v)
		h = (h + 1) & (y->cap - 1);
	if (!y->pos[h].v)
		y->npos++;
	y->pos[h] = (struct pos){v, line, col};
	return C360_OK;
}

bool c360_yaml_pos(const struct c360_yaml *y, const c360_json *v, unsigned *line, unsigned *col)
{
	if (!y || !v || !y->cap)
		return false;
	size_t h = hash_ptr(v) & (y->cap - 1);
	while (y->pos[h].v) {
		if (y->pos[h].v == v) {
			*line = y->pos[h].line;
			*col = y->pos[h].col;
			return true;
		}
		h = (h + 1) & (y->cap - 1);
	}
	return false;
}

bool c360_yaml_key_pos(const struct c360_yaml *y, const c360_json *member, unsigned *line,
		       unsigned *col)
{
	return member && c360_yaml_pos(y, KEY_TAG(member), line, col);
}

c360_rc c360_yaml_fail_key(const struct c360_yaml *y, const c360_json *member, char *err,
			   size_t errlen, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	unsigned line, col;
	if (c360_yaml_key_pos(y, member, &line, &col))
		snprintf(err, errlen, "%s:%u:%u: %s", y->name, line, col, msg);
	else
		return c360_yaml_fail(y, member, err, errlen, "%s", msg);
	return C360_ERR_INVALID;
}

c360_rc c360_yaml_fail(const struct c360_yaml *y, const c360_json *v, char *err, size_t errlen,
		       const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	unsigned line, col;
	if (c360_yaml_pos(y, v, &line, &col))
		snprintf(err, errlen, "%s:%u:%u: %s", y->name, line, col, msg);
	else if (y && (!v || v == y->root)) /* no document, or an empty one ("---") */
		snprintf(err, errlen, "%s:1:1: %s", y->name, msg);
	else
		snprintf(err, errlen, "%s: %s", y ? y->name : "(yaml)", msg);
	return C360_ERR_INVALID;
}

/* A plain scalar becomes null, a bool or a number when it reads as one. */
static c360_json *scalar(c360_json_doc *doc, struct fy_node *n)
{
	size_t len;
	const char *s = fy_node_get_scalar(n, &len);
	if (!s) {
		s = "";
		len = 0;
	}
	struct fy_token *tok = fy_node_get_scalar_token(n);
	enum fy_scalar_style style = tok ? fy_token_scalar_style(tok) : FYSS_PLAIN;
	if (style == FYSS_PLAIN) {
		if (len == 0 || (len == 1 && s[0] == '~') || (len == 4 && !memcmp(s, "null", 4)))
			return c360_json_new_null(doc);
		if (len == 4 && !memcmp(s, "true", 4))
			return c360_json_new_bool(doc, true);
		if (len == 5 && !memcmp(s, "false", 5))
			return c360_json_new_bool(doc, false);
		if ((s[0] >= '0' && s[0] <= '9') || s[0] == '-') {
			c360_json *num = c360_json_new_number(doc, s, len);
			if (num)
				return num;
		}
	}
	return c360_json_new_str(doc, s, len);
}

/* Where a node starts. libfyaml 0.7 gives marks for scalar tokens only, so a
 * collection is placed at its first scalar (the first key of a mapping). */
static const struct fy_mark *node_mark(struct fy_node *n, int depth)
{
	if (!n || depth > 64)
		return NULL;
	void *it = NULL;
	switch (fy_node_get_type(n)) {
	case FYNT_SCALAR: {
		struct fy_token *t = fy_node_get_scalar_token(n);
		return t ? fy_token_start_mark(t) : NULL;
	}
	case FYNT_SEQUENCE:
		return node_mark(fy_node_sequence_iterate(n, &it), depth + 1);
	case FYNT_MAPPING: {
		struct fy_node_pair *p = fy_node_mapping_iterate(n, &it);
		return p ? node_mark(fy_node_pair_key(p), depth + 1) : NULL;
	}
	}
	return NULL;
}

/* pl:pc is where the enclosing node (or key) starts: the position of a node
 * libfyaml gives no mark for (an empty implicit key, an empty document). */
static c360_rc convert(struct c360_yaml *y, struct fy_node *n, int depth, unsigned pl, unsigned pc,
                       c360_json **out, char *err, size_t errlen)
{
	if (!n) { /* "key:" with nothing after it */
		*out = c360_json_new_null(y->doc);
		return *out ? C360_OK : C360_ERR_NOMEM;
	}
	struct fy_mark const *m = node_mark(n, 0);
	unsigned line = m ? (unsigned)m->line + 1 : pl, col = m ? (unsigned)m->column + 1 : pc;
	if (depth > 64) {
		snprintf(err, errlen, "%s:%u:%u: nesting deeper than 64 levels", y->name, line, col);
		return C360_ERR_LIMIT;
	}
	c360_json *v = NULL;
	c360_rc rc = C360_OK;
	switch (fy_node_get_type(n)) {
	case FYNT_SCALAR:
		v = scalar(y->doc, n);
		if (!v) { /* its text is not UTF-8 (whatever the input, never trusted) */
			snprintf(err, errlen, "%s:%u:%u: a scalar that is not valid UTF-8 text",
			         y->name, line, col);
			return C360_ERR_INVALID;
		}
		break;
	case FYNT_SEQUENCE: {
		v = c360_json_new_array(y->doc);
		void *it = NULL;
		struct fy_node *item;
		while (v && (item = fy_node_sequence_iterate(n, &it))) {
			c360_json *c;
			if ((rc = convert(y, item, depth + 1, line, col, &c, err, errlen)))
				return rc;
			if ((rc = c360_json_append(y->doc, v, c)))
				return rc;
		}
		break;
	}
	case FYNT_MAPPING: {
		v = c360_json_new_object(y->doc);
		void *it = NULL;
		struct fy_node_pair *pair;
		while (v && (pair = fy_node_mapping_iterate(n, &it))) {
			struct fy_node *k = fy_node_pair_key(pair);
			size_t klen = 0;
			const char *key = k && fy_node_get_type(k) == FYNT_SCALAR
						  ? fy_node_get_scalar(k, &klen)
						  : NULL;
			struct fy_mark const *km = node_mark(k, 0);
			int kl = km ? km->line + 1 : (int)line, kc = km ? km->column + 1 : (int)col;
			if (!key) {
				snprintf(err, errlen, "%s:%d:%d: a mapping key must be a scalar",
					 y->name, kl, kc);
				return C360_ERR_INVALID;
			}
			if (c360_json_getn(v, key, klen)) {
				snprintf(err, errlen, "%s:%d:%d: duplicate key '%.*s'", y->name, kl, kc,
					 (int)klen, key);
				return C360_ERR_INVALID;
			}
			c360_json *c;
			if ((rc = convert(y, fy_node_pair_value(pair), depth + 1, (unsigned)kl,
			                  (unsigned)kc, &c, err, errlen)))
				return rc;
			if ((rc = c360_json_set(y->doc, v, key, klen, c))) {
				if (rc == C360_ERR_INVALID)
					snprintf(err, errlen,
					         "%s:%d:%d: a key that is not valid UTF-8 text",
					         y->name, kl, kc);
				return rc;
			}
			/* the key's own position (for "unknown key" messages), and the
			 * value's when it has none of its own (an empty {} or []) */
			unsigned l2, c2;
			if ((rc = pos_put(y, KEY_TAG(c), (unsigned)kl, (unsigned)kc)))
				return rc;
			if (!c360_yaml_pos(y, c, &l2, &c2) &&
			    (rc = pos_put(y, c, (unsigned)kl, (unsigned)kc)))
				return rc;
		}
		break;
	}
	}
	if (!v)
		return C360_ERR_NOMEM;
	if ((rc = pos_put(y, v, line, col)))
		return rc;
	*out = v;
	return C360_OK;
}

/* libfyaml value of a null node (an empty value "key:") is NULL: treat as null. */
static c360_rc convert_root(struct c360_yaml *y, struct fy_document *fyd, char *err, size_t errlen)
{
	struct fy_node *root = fy_document_root(fyd);
	if (!root)
		return C360_OK;
	return convert(y, root, 0, 1, 1, &y->root, err, errlen);
}

/* YAML text is printable Unicode; libfyaml 0.7 loops forever on some
 * invalid UTF-8 (a directive line ending in a broken sequence, "%\xff" at
 * the end of the text), so the text is checked first and the error placed. */
static bool utf8_checked(const char *name, const char *text, size_t len, char *err, size_t errlen)
{
	size_t bad = c360_utf8_prefix(text, len);
	for (size_t i = 0; i < bad; i++) { /* no ASCII control but tab, LF, CR */
		unsigned char c = (unsigned char)text[i];
		if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F) {
			bad = i;
			break;
		}
	}
	if (bad == len)
		return true;
	unsigned line = 1, col = 1;
	for (size_t i = 0; i < bad; i++) {
		if (text[i] == '\n') {
			line++;
			col = 1;
		} else if (((unsigned char)text[i] & 0xC0) != 0x80) {
			col++; /* characters, not bytes */
		}
	}
	unsigned char c = (unsigned char)text[bad];
	if (c < 0x80)
		snprintf(err, errlen,
		         "%s:%u:%u: control character 0x%02x: YAML text cannot hold it", name, line,
		         col, c);
	else
		snprintf(err, errlen,
		         "%s:%u:%u: not valid UTF-8 (byte 0x%02x): YAML text must be UTF-8", name,
		         line, col, c);
	return false;
}

static c360_rc load_here(const char *name, const char *text, size_t len, struct c360_yaml **out,
                         char *err, size_t errlen)
{
	*out = NULL;
	struct c360_yaml *y = calloc(1, sizeof *y);
	if (!y)
		return C360_ERR_NOMEM;
	y->name = strdup(name);
	y->doc = c360_json_doc_new();
	if (!y->name || !y->doc) {
		c360_yaml_free(y);
		return C360_ERR_NOMEM;
	}
	/* libfyaml collects its errors (with line and column) instead of
	 * printing them: the first one is reported */
	struct fy_diag_cfg dcfg;
	fy_diag_cfg_default(&dcfg);
	dcfg.fp = NULL;
	dcfg.colorize = false;
	struct fy_diag *diag = fy_diag_create(&dcfg);
	if (diag)
		fy_diag_set_collect_errors(diag, true);
	struct fy_parse_cfg cfg = {
		.flags = FYPCF_QUIET | FYPCF_RESOLVE_DOCUMENT,
		.diag = diag,
	};
	struct fy_document *fyd = fy_document_build_from_string(&cfg, text, len);
	c360_rc rc = C360_OK;
	if (!fyd) {
		struct fy_diag_error *e = NULL;
		void *it = NULL;
		while (diag && (e = fy_diag_errors_iterate(diag, &it)) && e->type < FYET_ERROR)
			;
		if (e && e->msg)
			snprintf(err, errlen, "%s:%d:%d: %.*s", name, e->line, e->column,
			         (int)strcspn(e->msg, "\r\n"), e->msg);
		else /* libfyaml builds no document from an empty stream */
			snprintf(
			    err, errlen,
			    "%s:1:1: no YAML document (the file is empty or holds only comments)",
			    name);
		rc = C360_ERR_INVALID;
	} else {
		rc = convert_root(y, fyd, err, errlen);
		fy_document_destroy(fyd);
	}
	if (diag)
		fy_diag_destroy(diag);
	if (rc) {
		c360_yaml_free(y);
		return rc;
	}
	c360_json_doc_set_root(y->doc, y->root);
	*out = y;
	return C360_OK;
}

/* libfyaml 0.7.12 (Debian 12) crashes on some malformed text ("? i:\t:"
 * dies in fy_parse_cleanup; upstream has fixed several such bugs since),
 * and mapping files also arrive as function definitions over HTTP. So the
 * text is first parsed and converted in a child process: when the child
 * dies, or has not finished after PROBE_MS, the text is refused without
 * the library ever running on it here; otherwise this process parses it
 * (the child is a copy of this process: what it survived, this process
 * survives, short of a library bug that depends on memory contents). */
#define PROBE_MS 10000

#if defined(__SANITIZE_ADDRESS__)
#define C360_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define C360_ASAN 1
#endif
#endif

/* Whether a child forked now can allocate: glibc's malloc takes every arena
 * lock across fork, so the child always can; the sanitizers' allocator (gcc
 * 12, clang 14) does not, so under them only a process with one thread
 * forks (in a threaded one the text is parsed here, as without a probe). */
static bool fork_can_allocate(void)
{
#ifdef C360_ASAN
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return false;
	char line[256];
	long threads = 0;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, "Threads:", 8))
			threads = strtol(line + 8, NULL, 10);
	fclose(f);
	return threads == 1;
#else
	return true;
#endif
}

static bool probe_survives(const char *name, const char *text, size_t len, char *err, size_t errlen)
{
	if (!fork_can_allocate())
		return true;
	int fds[2];
	if (pipe(fds))
		return true; /* no probe: parse here, as before */
	pid_t pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return true;
	}
	if (pid == 0) {
		/* a crash ends the child by its signal (no sanitizer or fuzzer
		 * handler reports a bug that is libfyaml's) */
		static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
		for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
			signal(sigs[i], SIG_DFL);
		close(fds[0]);
		struct c360_yaml *y = NULL;
		char e[16];
		load_here(name, text, len, &y, e, sizeof e);
		c360_yaml_free(y);
		ssize_t w = write(fds[1], "k", 1);
		_exit(w == 1 ? 0 : 1);
	}
	close(fds[1]);
	struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
	char c = 0;
	int pr;
	do
		pr = poll(&pfd, 1, PROBE_MS);
	while (pr < 0 && errno == EINTR);
	bool done = pr > 0 && read(fds[0], &c, 1) == 1 && c == 'k';
	close(fds[0]);
	if (!done)
		kill(pid, SIGKILL);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (done && WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return true;
	if (!done && pr == 0)
		snprintf(err, errlen,
		         "%s:1:1: the YAML parser (libfyaml) did not finish on this "
		         "text in %d s: it is malformed YAML; check its syntax",
		         name, PROBE_MS / 1000);
	else
		snprintf(err, errlen,
		         "%s:1:1: the YAML parser (libfyaml) crashed on this text%s: "
		         "it is malformed YAML; check its syntax",
		         name, WIFSIGNALED(status) ? " (signal)" : "");
	return false;
}

static c360_rc load(const char *name, const char *text, size_t len, struct c360_yaml **out,
                    char *err, size_t errlen)
{
	*out = NULL;
	if (!utf8_checked(name, text, len, err, errlen))
		return C360_ERR_INVALID;
	if (!probe_survives(name, text, len, err, errlen))
		return C360_ERR_INVALID;
	return load_here(name, text, len, out, err, errlen);
}

c360_rc c360_yaml_load_file(const char *path, struct c360_yaml **out, char *err, size_t errlen)
{
	*out = NULL;
	/* read whole (a configuration file: small), then checked and parsed */
	struct c360_buf b;
	c360_buf_init(&b, YAML_FILE_MAX);
	c360_rc rc = c360_buf_read_file(&b, path);
	if (rc == C360_ERR_TOO_BIG)
		snprintf(err, errlen, "cannot read '%s': larger than 16 MiB", path);
	else if (rc)
		snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
	else
		rc = load(path, c360_buf_cstr(&b), b.len, out, err, errlen);
	c360_buf_release(&b);
	return rc;
}

c360_rc c360_yaml_load_string(const char *name, const char *text, size_t len,
			      struct c360_yaml **out, char *err, size_t errlen)
{
	return load(name, text, len, out, err, errlen);
}

void c360_yaml_free(struct c360_yaml *y)
{
	if (!y)
		return;
	c360_json_doc_free(y->doc);
	free(y->pos);
	free(y->name);
	free(y);
}

c360_json *c360_yaml_root(const struct c360_yaml *y)
{
	return y->root;
}

c360_json_doc *c360_yaml_doc(const struct c360_yaml *y)
{
	return y->doc;
}

const char *c360_yaml_name(const struct c360_yaml *y)
{
	return y->name;
}
