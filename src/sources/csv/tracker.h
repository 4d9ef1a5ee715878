/* The nightly drop folder: import a file only if it was not imported before,
 * and record the import only once it is durable.
 *
 * A completed import is recorded in the system bucket C360_META_BUCKET under
 * "import::<BLAKE2b-128 of the absolute path, hex>" as
 *   {"path","size","mtime_ns","hash" (BLAKE2b-256 of the content, hex),
 *    "bucket","key","rows","imported","failed","unbalanced_quotes",
 *    "completed" (ISO 8601 UTC)}.
 * A file is "already imported" when that record has the same size and
 * mtime, or (touched but unchanged) the same content hash. The record is
 * written after every batch of the import has committed; a crash before
 * that leaves no record, and the next run imports the file again (which,
 * for deterministic keys, rewrites the same documents). */
#ifndef C360_SOURCES_CSV_TRACKER_H
#define C360_SOURCES_CSV_TRACKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/rc.h"
#include "sources/csv/importer.h"
#include "store/store.h"

enum c360_track_outcome {
	C360_TRACK_IMPORTED = 0, /* imported now and recorded */
	C360_TRACK_ALREADY,      /* same path, size and mtime as a recorded import */
	C360_TRACK_SAME_CONTENT, /* size or mtime changed but the content hash did not */
	C360_TRACK_CHANGED,      /* imported, but the file changed meanwhile: not recorded */
};

struct c360_track_info {
	enum c360_track_outcome outcome;
	char meta_key[64];      /* "import::…" */
	char hash[65];          /* content hash (hex), when computed */
	char completed[32];     /* when it was recorded (this run or the earlier one) */
	uint64_t prev_imported; /* documents of the earlier import (ALREADY, SAME_CONTENT) */
	uint64_t prev_failed;   /* its failed rows */
};

/* Imports o->path (a regular file) unless it was imported before (force:
 * import anyway). The meta bucket is created when missing. Returns as
 * c360_import_run(); info says what happened. */
c360_rc c360_import_tracked(c360_store *st, const struct c360_import_opts *o, bool force,
			    struct c360_import_stats *stats, struct c360_track_info *info, char *err,
			    size_t errlen);

/* The newest regular file named *.csv (any case, not hidden) in dir, by
 * mtime (ties: the greater name). *out is malloc'd "dir/name". Returns
 * C360_ERR_NOT_FOUND when there is none, C360_ERR_IO when dir cannot be
 * read (reason in err). size/mtime of the file are returned when non-NULL. */
c360_rc c360_import_newest(const char *dir, char **out, uint64_t *size, int64_t *mtime_ns,
			   char *err, size_t errlen);

/* BLAKE2b-256 of a file's content as 64 hex digits. */
c360_rc c360_import_file_hash(const char *path, char hex[65], char *err, size_t errlen);

#endif
