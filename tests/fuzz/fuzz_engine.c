/* libFuzzer target for the native integration engine over a real store
 * (functions/customer360.yaml, online store off): the input is up to eight
 * staging changes separated by 0xFF bytes. A change's first byte picks its
 * staging key (one of four), whether it is a deletion, and its mutation
 * time; the rest is the document. The changes run through the engine three
 * ways, each on a new store:
 *   1. in input order;
 *   2. key by key (every change of the last key first, then the one before,
 *      ...), each key's own changes still in input order, as the staging
 *      feed keeps them;
 *   3. in input order, then the latest version of every key again, in
 *      input order, as a feed replay after a crash delivers them.
 * Each must leave byte-identical customer360 documents. Orders 1 and 2 may
 * differ where docs/integration.md ("Known limits") says arrival decides:
 * two versions of one source record without their source time, a staging
 * deletion, or one source record under two staging keys (removing or moving
 * one copy depends on which copy is current then). The engine must not
 * fail on any input. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/rc.h"
#include "integrate/integrate.h"
#include "store/store.h"

#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXCH 8

struct change {
	char key[8];
	const char *value; /* NULL: a staging deletion */
	size_t len;
	uint64_t cas;
};

static char *mapping_text;
static size_t mapping_len;
static char dir[64];

static void init(void)
{
	FILE *f = fopen(C360_SRC "/functions/customer360.yaml", "rb");
	if (!f)
		abort();
	struct c360_buf b;
	c360_buf_init(&b, 0);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		if (c360_buf_append(&b, chunk, n))
			abort();
	fclose(f);
	mapping_text = c360_buf_detach(&b, &mapping_len);
	setenv("C360_SECRET_KEY", "fuzz-engine-secret-key-0123456789", 1);
	c360_log_set_level(C360_LOG_ERROR); /* warnings on bad documents are expected here */
	snprintf(dir, sizeof dir, "/dev/shm/c360-fuzz-engine-XXXXXX");
	if (!mkdtemp(dir)) {
		snprintf(dir, sizeof dir, "/tmp/c360-fuzz-engine-XXXXXX");
		if (!mkdtemp(dir))
			abort();
	}
}

static int dump_cb(const struct c360_feed_event *ev, void *ctx)
{
	struct c360_buf *b = ctx;
	if (ev->op == C360_FEED_MUTATION &&
	    (c360_buf_append(b, ev->key, ev->key_len) || c360_buf_putc(b, '\t') ||
	     c360_buf_append(b, ev->value, ev->value_len) || c360_buf_putc(b, '\n')))
		abort();
	return 0;
}

/* Runs the changes (idx[0..n)) through a new engine on a new store and
 * returns customer360's live documents in key order. */
static char *run(const struct change *ch, const size_t *idx, size_t n, unsigned batch)
{
	char path[128], err[256];
	snprintf(path, sizeof path, "%s/s.db", dir);
	unlink(path);
	struct c360_store_opts so;
	c360_store_opts_init(&so);
	so.synchronous = C360_SYNC_OFF;
	c360_store *st = NULL;
	c360_imap *m = NULL;
	c360_integrate *ig = NULL;
	if (c360_store_open(path, &so, &st, err, sizeof err) ||
	    c360_imap_load("customer360.yaml", mapping_text, mapping_len, &m, err, sizeof err)) {
		fprintf(stderr, "fuzz_engine: %s\n", err);
		abort();
	}
	struct c360_integrate_opts o = {.no_online = true, .batch_max = batch};
	if (c360_integrate_new(st, m, &o, &ig, err, sizeof err)) {
		fprintf(stderr, "fuzz_engine: %s\n", err);
		abort();
	}
	for (size_t i = 0; i < n; i++) {
		const struct change *x = &ch[idx[i]];
		c360_rc rc = x->value ? c360_integrate_update(ig, x->key, strlen(x->key), x->value,
		                                              x->len, x->cas)
		                      : c360_integrate_delete(ig, x->key, strlen(x->key), false);
		if (rc) {
			fprintf(stderr, "fuzz_engine: change %zu failed: %s\n", idx[i],
			        c360_rc_str(rc));
			abort();
		}
	}
	if (c360_integrate_flush(ig))
		abort();
	struct c360_integrate_stats stats;
	c360_integrate_get_stats(ig, &stats);
	if (stats.failures)
		abort();
	c360_integrate_free(ig);
	/* the feed gives each live key once, at its latest seqno: sorted here */
	struct c360_buf b;
	c360_buf_init(&b, 0);
	c360_feed_read(st, "customer360", 0, 0, dump_cb, &b, NULL);
	c360_store_close(st);
	c360_imap_free(m);
	unlink(path);
	char *lines[64 * MAXCH];
	size_t k = 0;
	for (char *p = b.data; p && *p && k < sizeof lines / sizeof *lines;) {
		char *nl = strchr(p, '\n');
		*nl = '\0';
		lines[k++] = p;
		p = nl + 1;
	}
	for (size_t i = 1; i < k; i++) /* insertion sort: a handful of lines */
		for (size_t j = i; j > 0 && strcmp(lines[j - 1], lines[j]) > 0; j--) {
			char *t = lines[j];
			lines[j] = lines[j - 1];
			lines[j - 1] = t;
		}
	struct c360_buf out;
	c360_buf_init(&out, 0);
	for (size_t i = 0; i < k; i++)
		if (c360_buf_puts(&out, lines[i]) || c360_buf_putc(&out, '\n'))
			abort();
	c360_buf_release(&b);
	char *s = c360_buf_detach(&out, NULL);
	return s ? s : calloc(1, 1);
}

/* Whether arrival order may decide, as docs/integration.md ("Known limits")
 * says, judged from the documents alone: a staging deletion, one source
 * record ("system:id") under two staging keys (removing or moving one copy
 * depends on which copy is current then), or one record twice without a
 * source time. */
static bool order_may_matter(const struct change *ch, size_t n, const c360_imap *m)
{
	struct {
		char *id;
		const char *key;
		bool untimed;
	} seen[MAXCH];
	size_t ns = 0;
	bool may = false;
	for (size_t i = 0; i < n && !may; i++) {
		if (!ch[i].value) {
			may = true;
			break;
		}
		c360_json_doc *d = NULL, *into = c360_json_doc_new();
		struct c360_imap_rec rec;
		char why[200];
		static const uint8_t key[C360_IMAP_KEYBYTES] = "any key: secrets do not matter";
		if (into && !c360_json_parse(ch[i].value, ch[i].len, NULL, &d, NULL) &&
		    !c360_imap_extract(m, c360_json_doc_root(d), -1, key,
		                       (int64_t)(ch[i].cas / 1000000u), into, &rec, why,
		                       sizeof why) &&
		    rec.contrib) {
			struct c360_buf b;
			c360_buf_init(&b, 0);
			char *id = NULL;
			if (c360_imap_record_key(m, &rec, ch[i].key, strlen(ch[i].key), &b) ||
			    !(id = c360_buf_detach(&b, NULL)))
				abort();
			bool untimed = rec.ts == INT64_MIN, found = false;
			for (size_t j = 0; j < ns && !found; j++) {
				if (strcmp(seen[j].id, id))
					continue;
				found = true;
				may = strcmp(seen[j].key, ch[i].key) || (untimed && seen[j].untimed);
			}
			if (!found && ns < MAXCH) {
				seen[ns].id = id;
				seen[ns].key = ch[i].key;
				seen[ns++].untimed = untimed;
			} else {
				free(id);
			}
		}
		c360_json_doc_free(into);
		c360_json_doc_free(d);
	}
	for (size_t j = 0; j < ns; j++)
		free(seen[j].id);
	return may;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!mapping_text)
		init();
	if (size < 1)
		return 0;
	unsigned batch = 1u + (data[0] & 3u);
	struct change ch[MAXCH];
	size_t n = 0, pos = 1;
	while (n < MAXCH && pos < size) {
		const uint8_t *end = memchr(data + pos, 0xFF, size - pos);
		size_t len = end ? (size_t)(end - (data + pos)) : size - pos;
		const uint8_t *p = data + pos;
		pos += len + 1;
		if (len < 1)
			continue;
		struct change *x = &ch[n];
		snprintf(x->key, sizeof x->key, "k%u", p[0] & 3u);
		x->value = (p[0] & 4u) ? NULL : (const char *)p + 1;
		x->len = (p[0] & 4u) ? 0 : len - 1;
		/* the store hands the engine only JSON documents */
		if (x->value && c360_json_validate(x->value, x->len, NULL, NULL))
			continue;
		x->cas = 1700000000000000000ull + (uint64_t)((p[0] >> 3) & 3u) * 1000000ull;
		n++;
	}
	if (!n)
		return 0;
	size_t fwd[MAXCH], bykey[MAXCH], twice[2 * MAXCH], nb = 0, nt = 0;
	for (size_t i = 0; i < n; i++)
		fwd[i] = twice[nt++] = i;
	for (int k = 3; k >= 0; k--) {
		char key[8];
		snprintf(key, sizeof key, "k%d", k);
		for (size_t i = 0; i < n; i++)
			if (!strcmp(ch[i].key, key))
				bykey[nb++] = i;
	}
	/* a replay redelivers each key's latest version, in feed (input) order */
	for (size_t i = 0; i < n; i++) {
		bool latest = true;
		for (size_t j = i + 1; j < n && latest; j++)
			latest = strcmp(ch[i].key, ch[j].key) != 0;
		if (latest)
			twice[nt++] = i;
	}
	char *a = run(ch, fwd, n, batch), *b = run(ch, bykey, nb, batch),
	     *c = run(ch, twice, nt, batch);
	c360_imap *m = NULL;
	char err[256];
	if (c360_imap_load("customer360.yaml", mapping_text, mapping_len, &m, err, sizeof err))
		abort();
	bool arrival = order_may_matter(ch, n, m);
	c360_imap_free(m);
	if ((!arrival && strcmp(a, b)) || strcmp(a, c)) {
		fprintf(stderr, "order dependence (%s):\n%s\n---\n%s\n",
		        strcmp(a, c) ? "replayed" : "key by key", a, strcmp(a, c) ? c : b);
		abort();
	}
	free(a);
	free(b);
	free(c);
	return 0;
}
