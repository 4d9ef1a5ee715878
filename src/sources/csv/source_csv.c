/* The CSV drop folder as a pipeline source: each pass imports the newest
 * *.csv of the folder unless it was imported before (import tracking in the
 * system bucket), so a pass after a restart, or an early one, is a no-op. */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "sources/csv/importer.h"
#include "sources/csv/tracker.h"
#include "sources/source.h"
#include "core/banned.h"

struct csv_source {
	const struct c360_source_ctx *ctx;
	const char *bucket, *key, *separator;
	char dir[4096], errors_log[4096]; /* resolved against the pipeline file's folder */
	int64_t expiry, threads;
	bool infer_types, omit_empty;
	_Atomic uint64_t imported, failed, files, rows, unbalanced;
};

static c360_rc csv_create(const struct c360_source_ctx *ctx, void **inst, char *err,
			  size_t errlen)
{
	static const char *const keys[] = {"dir", "bucket", "key", "expiry", "infer_types",
					   "omit_empty", "separator", "threads", "errors_log",
					   NULL};
	struct csv_source *c = calloc(1, sizeof *c);
	if (!c)
		return C360_ERR_NOMEM;
	c->ctx = ctx;
	c->bucket = "staging";
	c->threads = 2;
	c360_rc rc = c360_source_known_keys(ctx, keys, err, errlen);
	const char *dir = NULL, *errors_log = NULL;
	if (!rc)
		rc = c360_source_str(ctx, "dir", true, &dir, err, errlen);
	if (!rc)
		c360_pipeline_path(ctx->cfg, dir, c->dir, sizeof c->dir);
	if (!rc)
		rc = c360_source_str(ctx, "bucket", false, &c->bucket, err, errlen);
	if (!rc)
		rc = c360_source_str(ctx, "key", true, &c->key, err, errlen);
	if (!rc)
		rc = c360_source_str(ctx, "errors_log", false, &errors_log, err, errlen);
	if (!rc && errors_log)
		c360_pipeline_path(ctx->cfg, errors_log, c->errors_log, sizeof c->errors_log);
	if (!rc)
		rc = c360_source_str(ctx, "separator", false, &c->separator, err, errlen);
	if (!rc && c->separator && strlen(c->separator) != 1)
		rc = c360_pipeline_fail(ctx->cfg, c360_json_get(ctx->src->settings, "separator"),
					err, errlen, "separator: expected one character");
	if (!rc)
		rc = c360_source_duration(ctx, "expiry", &c->expiry, err, errlen);
	if (!rc)
		rc = c360_source_int(ctx, "threads", 1, 64, &c->threads, err, errlen);
	if (!rc)
		rc = c360_source_bool(ctx, "infer_types", &c->infer_types, err, errlen);
	if (!rc)
		rc = c360_source_bool(ctx, "omit_empty", &c->omit_empty, err, errlen);
	if (rc) {
		free(c);
		return rc;
	}
	*inst = c;
	return C360_OK;
}

static c360_rc csv_run_once(void *inst, const volatile int *stop, struct c360_source_pass *pass,
			    char *err, size_t errlen)
{
	struct csv_source *c = inst;
	char *path = NULL;
	c360_rc rc = c360_import_newest(c->dir, &path, NULL, NULL, err, errlen);
	if (rc == C360_ERR_NOT_FOUND) {
		snprintf(pass->note, sizeof pass->note, "no *.csv in '%.100s' yet", c->dir);
		return C360_OK;
	}
	if (rc)
		return rc;
	struct c360_import_opts o = {
		.format = C360_IMPORT_CSV,
		.path = path,
		.bucket = c->bucket,
		.key_expr = c->key,
		.separator = c->separator ? c->separator[0] : 0,
		.infer_types = c->infer_types,
		.omit_empty = c->omit_empty,
		.threads = (int)c->threads,
		.expiry = c->expiry,
		.errors_log = c->errors_log[0] ? c->errors_log : NULL,
	};
	(void)stop; /* an import is short and tracked: it finishes rather than stopping half-way */
	struct c360_import_stats stats = {0};
	struct c360_track_info info = {0};
	rc = c360_store_bucket_ensure(c->ctx->st, c->bucket, 0);
	if (!rc)
		rc = c360_import_tracked(c->ctx->st, &o, false, &stats, &info, err, errlen);
	if (!rc) {
		const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
		switch (info.outcome) {
		case C360_TRACK_IMPORTED:
			c->files++;
			if (stats.failed)
				snprintf(pass->note, sizeof pass->note,
					 "imported %s: %" PRIu64 " rows failed (%" PRIu64
					 " unbalanced quotes), see the log",
					 base, stats.failed, stats.unbalanced);
			else
				snprintf(pass->note, sizeof pass->note, "imported %s", base);
			break;
		case C360_TRACK_ALREADY:
		case C360_TRACK_SAME_CONTENT:
			snprintf(pass->note, sizeof pass->note, "%s was imported before (%s)", base,
				 info.completed);
			break;
		case C360_TRACK_CHANGED:
			snprintf(pass->note, sizeof pass->note,
				 "%s changed during the import: not recorded, imported again next time",
				 base);
			break;
		}
		pass->records = stats.rows;
		pass->written = stats.imported;
		pass->failed = stats.failed;
		pass->seconds = stats.seconds;
		c->rows += stats.rows;
		c->imported += stats.imported;
		c->failed += stats.failed;
		c->unbalanced += stats.unbalanced;
	}
	free(path);
	return rc;
}

static void csv_collect(void *inst, struct c360_metrics_out *out)
{
	struct csv_source *c = inst;
	char labels[128];
	snprintf(labels, sizeof labels, "source=%s,type=csv", c->ctx->src->name);
	c360_metric_counter(out, "c360_source_records_in_total", "records read by a source",
			    labels, (double)c->rows);
	c360_metric_counter(out, "c360_source_records_written_total",
			    "documents written by a source", labels, (double)c->imported);
	c360_metric_counter(out, "c360_source_records_failed_total",
			    "records a source could not write (see its error log)", labels,
			    (double)c->failed);
	c360_metric_counter(out, "c360_csv_files_imported_total", "CSV files imported", labels,
			    (double)c->files);
	c360_metric_counter(out, "c360_csv_unbalanced_quotes_total",
			    "CSV rows failed for an unbalanced quote (the lines after each were "
			    "read again)",
			    labels, (double)c->unbalanced);
}

static void csv_free(void *inst)
{
	free(inst);
}

const struct c360_source_ops c360_source_csv = {
	.type = "csv",
	.create = csv_create,
	.run_once = csv_run_once,
	.collect = csv_collect,
	.free = csv_free,
};
