/* The "native" function kind of the eventing engine: c360's declarative
 * Customer 360 mapping run on the same feed, checkpoints, workers and stats
 * as JavaScript functions. One engine per worker, committing per change
 * under the process-wide customer locks (engine.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eventing/handler.h"
#include "integrate/integrate.h"
#include "core/banned.h"

struct native {
	struct c360_fn_env *env;
	c360_imap *m;
	c360_integrate *ig;
};

static c360_rc native_check(const struct c360_fn_def *def, char *err, size_t errlen)
{
	c360_imap *m;
	c360_rc rc = c360_imap_load(def->name[0] ? def->name : "mapping", def->code ? def->code : "",
				    def->code ? def->code_len : 0, &m, err, errlen);
	if (rc)
		return rc;
	if (!strcmp(c360_imap_target_bucket(m), def->source_bucket)) {
		snprintf(err, errlen, "the mapping's target_bucket '%s' is the function's source "
				      "bucket", c360_imap_target_bucket(m));
		rc = C360_ERR_INVALID;
	}
	c360_imap_free(m);
	return rc;
}

static c360_rc fn_write(void *ctx, struct c360_write *ops, size_t n)
{
	return c360_fn_write(ctx, ops, n, false);
}

static c360_rc fn_read(void *ctx, const char *bucket, const char *key, size_t key_len,
		       struct c360_doc *out)
{
	return c360_fn_get(ctx, bucket, key, key_len, out);
}

static c360_rc native_create(struct c360_fn_env *env, void **inst, char *err, size_t errlen)
{
	*inst = NULL;
	struct native *nv = calloc(1, sizeof *nv);
	if (!nv)
		return C360_ERR_NOMEM;
	nv->env = env;
	const struct c360_fn_def *def = env->def;
	c360_rc rc = c360_imap_load(def->name, def->code ? def->code : "",
				    def->code ? def->code_len : 0, &nv->m, err, errlen);
	if (rc)
		goto fail;
	struct c360_integrate_opts o = {
		.name = def->name,
		.batch_max = 1,
		.metadata_bucket = def->metadata_bucket[0] ? def->metadata_bucket : NULL,
		.write = fn_write,
		.write_ctx = env,
		.read = fn_read,
		.read_ctx = env,
	};
	if ((rc = c360_integrate_new(env->store, nv->m, &o, &nv->ig, err, errlen)))
		goto fail;
	*inst = nv;
	return C360_OK;
fail:
	c360_imap_free(nv->m);
	free(nv);
	return rc;
}

static c360_rc native_update(void *inst, const struct c360_fn_meta *meta, const char *value,
			     size_t value_len)
{
	struct native *nv = inst;
	c360_rc rc = c360_integrate_update(nv->ig, meta->id, meta->id_len, value, value_len,
					   meta->cas);
	if (rc)
		c360_fn_app_log(nv->env, C360_LOG_ERROR, "'%.*s' (seq %llu) not merged: %s",
				(int)meta->id_len, meta->id, (unsigned long long)meta->seq,
				c360_rc_str(rc));
	return rc;
}

static c360_rc native_delete(void *inst, const struct c360_fn_meta *meta, bool expired)
{
	struct native *nv = inst;
	c360_rc rc = c360_integrate_delete(nv->ig, meta->id, meta->id_len, expired);
	if (rc)
		c360_fn_app_log(nv->env, C360_LOG_ERROR, "deletion of '%.*s' (seq %llu) not merged: %s",
				(int)meta->id_len, meta->id, (unsigned long long)meta->seq,
				c360_rc_str(rc));
	return rc;
}

static c360_rc native_stats(void *inst, struct c360_buf *out)
{
	struct native *nv = inst;
	return c360_integrate_stats_json(nv->ig, out);
}

static void native_free(void *inst)
{
	struct native *nv = inst;
	if (!nv)
		return;
	c360_integrate_free(nv->ig);
	c360_imap_free(nv->m);
	free(nv);
}

int c360_integrate_kind_anchor(void);
int c360_integrate_kind_anchor(void)
{
	return 1;
}

const struct c360_fn_kind c360_fn_kind_native = {
	.name = "native",
	.check = native_check,
	.create = native_create,
	.on_update = native_update,
	.on_delete = native_delete,
	.stats = native_stats,
	.free = native_free,
};
