/* Streaming RFC 4180 CSV reader over libcsv: feed bytes in chunks of any
 * size, get one callback per record with its fields. Constant memory: a
 * record is held only until its callback returns, and is capped.
 *
 * RFC 4180: quoted fields, doubled quotes, separators and line breaks inside
 * quotes, CRLF or LF line ends, blank lines ignored. A UTF-8 byte-order mark
 * at the start of the input is dropped. Spaces around unquoted fields are
 * kept (libcsv would trim them by default). Lenient where RFC 4180 is strict:
 * a quote inside an unquoted field is data. A quoted field still open at the
 * end of the input is reported as a bad record.
 *
 * An unbalanced quote does not swallow the input. A record whose quoted
 * field runs past a line break (LF) is "multi-line"; it is taken as it is
 * when it closes within max_record bytes and, once expect_fields is set,
 * has that many fields. Otherwise (the input ends inside its quotes, it
 * grows past max_record, or its field count is wrong) it is reported as one
 * bad record (C360_CSV_UNBALANCED_QUOTE, with the line where it began) and
 * reading starts again at the line after that one, so the lines its quote
 * had swallowed come back as records of their own. Each such restart drops
 * at least one line and re-reads at most max_record bytes.
 *
 * Not thread-safe; one reader per input. */
#ifndef C360_SOURCES_CSV_CSVREAD_H
#define C360_SOURCES_CSV_CSVREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/rc.h"

typedef struct c360_csv_reader c360_csv_reader;

#define C360_CSV_MAX_FIELDS 4096
#define C360_CSV_DEFAULT_MAX_RECORD (20u << 20) /* a record's bytes (the store's value cap) */

struct c360_csv_field {
	const char *p; /* not NUL-terminated; borrowed for the callback */
	size_t len;
};

enum c360_csv_bad {
	C360_CSV_OK = 0,
	C360_CSV_TOO_BIG,      /* record over max_record bytes: fields dropped */
	C360_CSV_TOO_MANY,     /* more than C360_CSV_MAX_FIELDS fields: fields dropped */
	C360_CSV_UNTERMINATED, /* the input ended inside a quoted field (on its last line) */
	C360_CSV_UNBALANCED_QUOTE, /* a quoted field opened on this record's line does not
				    * close into a record: the next lines were read again */
};

struct c360_csv_record {
	uint64_t number;  /* 1-based record number in the input (the header is 1) */
	uint64_t line;    /* 1-based line (LF-terminated) where the record begins */
	const struct c360_csv_field *fields;
	size_t n;
	enum c360_csv_bad bad; /* when set, n is 0 */
};

/* Called once per record; a non-zero return stops the reader and is returned
 * by feed/finish (C360_ERR_LIMIT is a polite "stop here"). */
typedef c360_rc (*c360_csv_record_cb)(void *ctx, const struct c360_csv_record *rec);

struct c360_csv_reader_opts {
	char separator;    /* 0 = ',' */
	size_t max_record; /* 0 = C360_CSV_DEFAULT_MAX_RECORD */
};

c360_rc c360_csv_reader_new(const struct c360_csv_reader_opts *opts, c360_csv_record_cb cb,
			    void *ctx, c360_csv_reader **out);
void c360_csv_reader_free(c360_csv_reader *r); /* accepts NULL */
/* Parses len more bytes. Returns the callback's non-zero return, or
 * C360_ERR_TOO_BIG when one field exceeds the hard limit (64 MiB, beyond
 * which the reader cannot resynchronise), C360_ERR_NOMEM. */
c360_rc c360_csv_reader_feed(c360_csv_reader *r, const void *data, size_t len);
/* Ends the input: delivers the last record if it had no line break. */
c360_rc c360_csv_reader_finish(c360_csv_reader *r);
/* Records delivered so far (including bad ones and the header). */
uint64_t c360_csv_reader_records(const c360_csv_reader *r);
/* From now on a multi-line record must have n fields to be taken (0 = any
 * count, the default): the importer sets the header's column count. May be
 * called from the record callback. */
void c360_csv_reader_expect_fields(c360_csv_reader *r, size_t n);

const char *c360_csv_bad_str(enum c360_csv_bad bad);

#endif
