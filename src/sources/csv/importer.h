/* The cbimport-compatible importer: CSV (and JSON lines / list) files into a
 * bucket, one keyed JSON document per row, through the store's batched
 * writes.
 *
 * Pipeline: the calling thread reads and parses the input (one reader, like
 * cbimport) into batches of raw records; `threads` builders turn each batch
 * into keys and JSON documents; one committer writes built batches with
 * c360_store_write(), several consecutive ones in one call when they are
 * ready. Batches commit in input order, so what is durable after a crash is
 * always a prefix of the file and a later duplicate key wins, as in cbimport.
 * Memory is bounded by at most four batches whatever the file size.
 *
 * Bad rows (wrong field count, invalid UTF-8, missing or empty key field,
 * key too long, invalid JSON, a JSON value that is not an object (42, "x",
 * [1]: refused, as nothing downstream could key or map it), a write the
 * store refused, a CSV row whose
 * quote does not close into a row: see csvread.h) are counted as failed,
 * described in the errors log (JSON lines with the row number, for CSV the
 * line, and the reason) and the import goes on. */
#ifndef C360_SOURCES_CSV_IMPORTER_H
#define C360_SOURCES_CSV_IMPORTER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/rc.h"
#include "store/store.h"

enum c360_import_format {
	C360_IMPORT_CSV = 0,
	C360_IMPORT_JSON_LINES, /* one JSON document per line */
	C360_IMPORT_JSON_LIST,  /* one top-level JSON array of documents */
};

struct c360_import_progress {
	uint64_t rows;        /* data rows read so far */
	uint64_t bytes;       /* input bytes read so far */
	uint64_t total_bytes; /* the input's size; 0 when unknown (a pipe) */
	double seconds;       /* since the start */
	bool final;
};

struct c360_import_opts {
	enum c360_import_format format;
	const char *path;        /* input file; "-" = stdin */
	const char *bucket;      /* must exist */
	const char *key_expr;    /* cbimport -g */
	char field_delim;        /* key expression field delimiter; 0 = '%' */
	char gen_delim;          /* key expression generator delimiter; 0 = '#' */
	char separator;          /* CSV field separator; 0 = ',' */
	bool infer_types;        /* CSV: integers, floats, booleans as JSON */
	bool omit_empty;         /* CSV: leave empty cells out of the document */
	uint64_t skip_rows;      /* data rows (documents) skipped first */
	uint64_t limit_rows;     /* then at most this many read; 0 = all */
	int threads;             /* builder threads (<= 0 = 1), plus one committer */
	int64_t expiry;          /* seconds from now, any length; 0 = never */
	const char *errors_log;  /* JSON-lines file for failed rows; NULL = none */
	/* optional: called from the reading thread about every 200 ms and once
	 * at the end (final = true), e.g. to draw a progress bar */
	void (*progress)(const struct c360_import_progress *p, void *ctx);
	void *progress_ctx;
	size_t batch_rows;       /* rows per store write; 0 = default (16384) */
	volatile sig_atomic_t *cancel; /* optional: set non-zero to stop early */
};

struct c360_import_stats {
	uint64_t rows;      /* data rows read (after skip, within limit) */
	uint64_t skipped;   /* rows skipped by skip_rows */
	uint64_t imported;  /* documents written */
	uint64_t failed;    /* rows that failed */
	uint64_t unbalanced; /* CSV: of the failed rows, those with an unbalanced quote
			      * (the lines after each were read again as rows) */
	uint64_t not_objects; /* JSON: of the failed rows, the values that are not
			       * objects (42, "x", [1], null) */
	uint64_t bytes;     /* input bytes read */
	double seconds;     /* wall time of the run */
};

/* Runs one import. Returns C360_OK when the input was read to the end (or
 * to limit_rows) and every batch was committed, even when some rows failed
 * (see stats->failed). Otherwise an error with the reason in err: cannot
 * read the file (C360_ERR_IO), bad key expression or a key field that is
 * not a column of the header (C360_ERR_INVALID), unknown bucket
 * (C360_ERR_NOT_FOUND), a failed commit (the store's code), cancelled
 * (C360_ERR_STATE). stats is filled in either case. */
c360_rc c360_import_run(c360_store *st, const struct c360_import_opts *opts,
			struct c360_import_stats *stats, char *err, size_t errlen);

/* Converts --expiry seconds from now into the store's Couchbase expiry
 * (relative below 30 days, absolute Unix time at or beyond). */
uint32_t c360_import_expiry(int64_t seconds, int64_t now);

/* Writes s[0..len) as a JSON string to out, escaping as RFC 8259 requires.
 * C360_ERR_INVALID if s is not valid UTF-8 (*bad_at = byte offset). Exposed
 * for tests. */
c360_rc c360_import_json_string(const char *s, size_t len, struct c360_buf *out, size_t *bad_at);

/* The --infer-types rules: 1 = integer (JSON integer syntax, fits int64, no
 * leading zeros), 2 = float (JSON number syntax with fraction or exponent),
 * 3 = boolean (true/false in any of lower, upper or title case), 0 = string. */
int c360_import_infer(const char *s, size_t len);

#endif
