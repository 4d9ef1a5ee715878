/* libFuzzer target for the native mapping's merge (functions/customer360.yaml):
 * the input is up to six staging documents separated by 0xFF bytes (a byte no
 * JSON text holds). Each valid one is classified and extracted; the
 * contributions of each customer are then applied to a state in input order,
 * in reverse order, and in input order twice. The guarantees must
 * hold on any input, not only on well-formed sources:
 *   - order independence: the three states build the same customer document
 *     (byte for byte, or no document in all three), except in reverse order
 *     when two versions of one record both lack a source time (those go by
 *     arrival, as documented);
 *   - c360_imap_build_text writes the bytes of c360_imap_build's document;
 *   - extraction never fails on a document it does not understand (it says
 *     so through rec.what).
 * The first byte of a document (before its JSON) picks its staging key (two
 * documents may share one) and its mutation time (ties on purpose). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/rc.h"
#include "integrate/integrate.h"

#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXDOCS 6

static c360_imap *mapping;
static const uint8_t key[C360_IMAP_KEYBYTES] = "fuzz-imap-secret-key-0123456789";

static void load_mapping(void)
{
	char err[512];
	const char *path = C360_SRC "/functions/customer360.yaml";
	if (c360_imap_load_file(path, &mapping, err, sizeof err)) {
		fprintf(stderr, "fuzz_imap: %s: %s\n", path, err);
		abort();
	}
}

struct rec {
	c360_json_doc *doc, *into;
	struct c360_imap_rec r;
	char *rkey; /* c360_imap_record_key, as the engine keys the state */
	size_t rlen;
};

/* The record key the engine uses, for staging key "staging-SKEY". */
static void record_key(struct rec *x, unsigned skey)
{
	char sk[16];
	snprintf(sk, sizeof sk, "staging-%u", skey);
	struct c360_buf b;
	c360_buf_init(&b, 0);
	if (c360_imap_record_key(mapping, &x->r, sk, strlen(sk), &b) ||
	    !(x->rkey = c360_buf_detach(&b, &x->rlen)))
		abort();
}

/* Applies recs (indexes in order[0..n)) to a fresh state; returns the built
 * customer text (NULL = no document), after checking build against
 * build_text. */
static char *merge(struct rec *recs, const size_t *order, size_t n)
{
	c360_json_doc *sdoc = c360_json_doc_new();
	if (!sdoc)
		abort();
	c360_json *state = NULL;
	for (size_t i = 0; i < n; i++) {
		struct rec *x = &recs[order[i]];
		bool changed;
		c360_rc rc = c360_imap_state_apply(mapping, sdoc, &state, x->rkey, x->rlen,
		                                   x->r.contrib, &changed);
		if (rc) {
			fprintf(stderr, "state_apply('%s'): %s\n", x->rkey, c360_rc_str(rc));
			abort();
		}
	}
	char *text = NULL;
	if (state) {
		struct c360_buf b;
		c360_buf_init(&b, 0);
		bool none = true;
		if (c360_imap_build_text(mapping, state, &b, &none))
			abort();
		c360_json_doc *out = c360_json_doc_new();
		c360_json *cust = NULL;
		if (!out || c360_imap_build(mapping, state, out, &cust))
			abort();
		if (none != (cust == NULL) || none != !c360_imap_state_live(state)) {
			fprintf(stderr, "build_text says %s, build %s, state_live %d\n",
			        none ? "none" : "a document", cust ? "a document" : "none",
			        (int)c360_imap_state_live(state));
			abort();
		}
		if (cust) {
			size_t wn;
			char *w = c360_json_write_str(cust, 0, &wn);
			if (!w)
				abort();
			if (wn != b.len || memcmp(w, b.data, wn)) {
				fprintf(stderr, "build_text:\n%.*s\nbuild:\n%s\n", (int)b.len,
				        b.data, w);
				abort();
			}
			free(w);
			text = c360_buf_detach(&b, NULL);
		}
		c360_buf_release(&b);
		c360_json_doc_free(out);
	}
	c360_json_doc_free(sdoc);
	return text;
}

static void same(const char *what, const char *a, const char *b)
{
	if ((a == NULL) != (b == NULL) || (a && strcmp(a, b))) {
		fprintf(stderr, "order dependence (%s):\n%s\n---\n%s\n", what, a ? a : "(none)",
		        b ? b : "(none)");
		abort();
	}
}

/* Two versions of one record without a source time go by arrival order
 * (documented: docs/integration.md, "Known limits"), so the order check
 * leaves such groups out. */
static bool by_arrival(const struct rec *recs, const size_t *idx, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++) {
			const struct rec *a = &recs[idx[i]], *b = &recs[idx[j]];
			if (a->rlen == b->rlen && !memcmp(a->rkey, b->rkey, a->rlen) &&
			    !c360_json_get(a->r.contrib, "t") && !c360_json_get(b->r.contrib, "t"))
				return true;
		}
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!mapping)
		load_mapping();
	struct rec recs[MAXDOCS];
	size_t nrec = 0;
	memset(recs, 0, sizeof recs);
	size_t pos = 0;
	for (int d = 0; d < MAXDOCS && pos < size; d++) {
		const uint8_t *end = memchr(data + pos, 0xFF, size - pos);
		size_t len = end ? (size_t)(end - (data + pos)) : size - pos;
		const uint8_t *p = data + pos;
		pos += len + 1;
		if (len < 1)
			continue;
		unsigned skey = p[0] & 1u;
		int64_t meta_ms = 1700000000000 + (int64_t)((p[0] >> 1) & 3u);
		struct rec *x = &recs[nrec];
		struct c360_json_parse_opts po = {.max_depth = 64};
		if (c360_json_parse((const char *)p + 1, len - 1, &po, &x->doc, NULL))
			continue;
		x->into = c360_json_doc_new();
		char why[256];
		if (!x->into || c360_imap_extract(mapping, c360_json_doc_root(x->doc), -1, key,
		                                  meta_ms, x->into, &x->r, why, sizeof why))
			abort();
		if (x->r.what != C360_IMAP_UPSERT && x->r.what != C360_IMAP_DELETE) {
			if (x->r.what == C360_IMAP_NO_IDENTITY && !why[0])
				abort(); /* a document without identity says why */
			c360_json_doc_free(x->into);
			c360_json_doc_free(x->doc);
			memset(x, 0, sizeof *x);
			continue;
		}
		if (!x->r.contrib || !x->r.email_len)
			abort();
		record_key(x, skey);
		nrec++;
	}
	/* per customer: input order, reverse order, input order twice */
	bool done[MAXDOCS] = {false};
	for (size_t i = 0; i < nrec; i++) {
		if (done[i])
			continue;
		size_t fwd[MAXDOCS], rev[MAXDOCS], twice[2 * MAXDOCS], n = 0;
		for (size_t j = i; j < nrec; j++) {
			if (recs[j].r.email_len == recs[i].r.email_len &&
			    !memcmp(recs[j].r.email, recs[i].r.email, recs[i].r.email_len)) {
				done[j] = true;
				fwd[n++] = j;
			}
		}
		for (size_t j = 0; j < n; j++) {
			rev[j] = fwd[n - 1 - j];
			twice[j] = twice[n + j] = fwd[j];
		}
		char *a = merge(recs, fwd, n), *b = merge(recs, rev, n),
		     *c = merge(recs, twice, 2 * n);
		if (!by_arrival(recs, fwd, n))
			same("reverse order", a, b);
		same("replayed twice", a, c);
		free(a);
		free(b);
		free(c);
	}
	for (size_t i = 0; i < nrec; i++) {
		c360_json_doc_free(recs[i].into);
		c360_json_doc_free(recs[i].doc);
		free(recs[i].rkey);
	}
	return 0;
}
