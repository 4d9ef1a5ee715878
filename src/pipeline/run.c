/* Deploying a pipeline's functions and running one until it is caught up. */
#include "pipeline/run.h"

#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "integrate/integrate.h"
#include "core/banned.h"

static c360_rc read_file(const char *path, char **out, size_t *len)
{
	struct c360_buf b;
	c360_buf_init(&b, C360_FN_CODE_MAX);
	c360_rc rc = c360_buf_read_file(&b, path);
	if (rc) {
		c360_buf_release(&b);
		return rc;
	}
	*out = c360_buf_detach(&b, len);
	return *out ? C360_OK : C360_ERR_NOMEM;
}

/* "dir/customer360.yaml" → "customer360" */
static void name_from_path(const char *path, char *out, size_t len)
{
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	const char *dot = strrchr(base, '.');
	size_t n = dot && dot > base ? (size_t)(dot - base) : strlen(base);
	snprintf(out, len, "%.*s", (int)n, base);
}

/* One line per function at start: deployed, resumed or redeployed. */
static void log_outcome(const struct c360_fn_def *def, const struct c360_fn_resume *how)
{
	const char *bound = def->boundary == C360_FN_FROM_NOW ? "from_now" : "everything";
	switch (how->outcome) {
	case C360_FN_NEW:
		C360_INFO("pipeline",
			  "function '%s' (%s) deployed on '%s' from its boundary '%s' (after seqno %" PRIu64
			  ")",
			  def->name, def->kind, def->source_bucket, bound, how->boundary);
		break;
	case C360_FN_RESUMED:
		if (how->state == C360_FN_PAUSED)
			C360_WARN("pipeline",
				  "function '%s' (%s) is unchanged and paused at seqno %" PRIu64
				  ": it stays paused; resume it with 'c360 function resume %s'",
				  def->name, def->kind, how->checkpoint, def->name);
		else
			C360_INFO("pipeline",
				  "function '%s' (%s) is unchanged: resuming on '%s' after its checkpoint "
				  "(seqno %" PRIu64 ")",
				  def->name, def->kind, def->source_bucket,
				  how->checkpoint > how->boundary ? how->checkpoint : how->boundary);
		break;
	case C360_FN_REDEPLOYED:
		C360_WARN("pipeline",
			  "function '%s' (%s): its %s changed since it was deployed: redeployed on '%s' "
			  "from its boundary '%s' (after seqno %" PRIu64 "); the old checkpoint (seqno %" PRIu64
			  ") is dropped, so changes after the boundary are processed again",
			  def->name, def->kind, how->changed, def->source_bucket, bound, how->boundary,
			  how->checkpoint);
		break;
	}
}

c360_rc c360_pipeline_deploy(c360_store *st, const struct c360_pipeline_config *cfg, int i,
			     char name[C360_PIPELINE_NAME_MAX], char *err, size_t errlen)
{
	const struct c360_function_ref *fr = &cfg->functions[i];
	struct c360_fn_def def;
	c360_fn_def_init(&def);
	const char *path = fr->native ? fr->native : fr->file;
	char *text = NULL;
	size_t len = 0;
	char ferr[768] = "";
	c360_rc rc = read_file(path, &text, &len);
	if (rc) {
		c360_fn_def_release(&def);
		return c360_pipeline_fail(cfg, fr->at, err, errlen, "cannot read '%s': %s", path,
					  c360_rc_str(rc));
	}
	if (fr->native) {
		c360_imap *m = NULL;
		rc = c360_imap_load(path, text, len, &m, ferr, sizeof ferr);
		if (!rc) {
			snprintf(def.kind, sizeof def.kind, "native");
			snprintf(def.source_bucket, sizeof def.source_bucket, "%s",
				 c360_imap_source_bucket(m));
			snprintf(def.metadata_bucket, sizeof def.metadata_bucket, "%s",
				 c360_imap_metadata_bucket(m));
			name_from_path(path, def.name, sizeof def.name);
			def.code = text;
			def.code_len = len;
			text = NULL;
		}
		c360_imap_free(m);
	} else {
		rc = c360_fn_def_parse(text, len, &def, ferr, sizeof ferr);
	}
	free(text);
	if (!rc && fr->name[0])
		snprintf(def.name, sizeof def.name, "%s", fr->name);
	if (!rc && (rc = c360_pipeline_apply_settings(cfg, fr, &def, err, errlen))) {
		c360_fn_def_release(&def);
		return rc;
	}
	if (!rc)
		rc = c360_store_bucket_ensure(st, def.source_bucket, 0);
	if (!rc)
		rc = c360_store_bucket_ensure(st, def.metadata_bucket, 0);
	struct c360_fn_resume how;
	if (!rc)
		rc = c360_fn_deploy_or_resume(st, &def, &how, ferr, sizeof ferr);
	snprintf(name, C360_PIPELINE_NAME_MAX, "%s", def.name);
	if (rc)
		c360_pipeline_fail(cfg, fr->at, err, errlen, "function '%s': %s", path,
				   *ferr ? ferr : c360_rc_str(rc));
	else
		log_outcome(&def, &how);
	c360_fn_def_release(&def);
	return rc;
}

c360_rc c360_pipeline_run_function(c360_store *st, const char *name, const volatile int *stop,
				   struct c360_fn_stats *stats, char *err, size_t errlen)
{
	struct c360_fn_def def;
	enum c360_fn_state state;
	uint64_t boundary = 0;
	c360_fn_run *r = NULL;
	c360_rc rc = c360_fn_load(st, name, &def, &state, &boundary);
	if (rc) {
		snprintf(err, errlen, "function '%s' is not deployed: %s", name, c360_rc_str(rc));
		return rc;
	}
	rc = c360_fn_run_new(st, &def, boundary, &r, err, errlen);
	if (!rc)
		rc = c360_fn_run_loop(r, stop, true);
	if (r && stats)
		c360_fn_run_stats(r, stats);
	c360_fn_run_free(r);
	c360_fn_def_release(&def);
	return rc;
}
