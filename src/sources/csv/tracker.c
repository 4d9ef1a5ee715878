/* Import tracking for the drop folder: newest-file choice, content hashes
 * and the "import::" records in the system bucket. */
#include "sources/csv/tracker.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/json.h"
#include "core/log.h"
#include "core/banned.h"

#define WHO "import"

static void to_hex(const unsigned char *b, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[2 * n] = '\0';
}

c360_rc c360_import_file_hash(const char *path, char hex[65], char *err, size_t errlen)
{
	if (sodium_init() < 0)
		return C360_ERR_INTERNAL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
		return errno == ENOENT ? C360_ERR_NOT_FOUND : C360_ERR_IO;
	}
	crypto_generichash_state h;
	crypto_generichash_init(&h, NULL, 0, 32);
	size_t cap = 1u << 20;
	unsigned char *buf = malloc(cap);
	c360_rc rc = buf ? C360_OK : C360_ERR_NOMEM;
	while (!rc) {
		ssize_t n = read(fd, buf, cap);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "cannot read '%s': %s", path, strerror(errno));
			rc = C360_ERR_IO;
			break;
		}
		if (n == 0)
			break;
		crypto_generichash_update(&h, buf, (unsigned long long)n);
	}
	free(buf);
	close(fd);
	if (rc)
		return rc;
	unsigned char out[32];
	crypto_generichash_final(&h, out, sizeof out);
	to_hex(out, sizeof out, hex);
	return C360_OK;
}

static bool csv_name(const char *name)
{
	size_t n = strlen(name);
	return name[0] != '.' && n > 4 && !strcasecmp(name + n - 4, ".csv");
}

static int64_t mtime_ns(const struct stat *sb)
{
	return (int64_t)sb->st_mtim.tv_sec * 1000000000LL + sb->st_mtim.tv_nsec;
}

c360_rc c360_import_newest(const char *dir, char **out, uint64_t *size, int64_t *mtime, char *err,
			   size_t errlen)
{
	*out = NULL;
	DIR *d = opendir(dir);
	if (!d) {
		snprintf(err, errlen, "cannot read directory '%s': %s", dir, strerror(errno));
		return errno == ENOENT ? C360_ERR_NOT_FOUND : C360_ERR_IO;
	}
	char best[NAME_MAX + 1] = "";
	int64_t best_t = 0;
	uint64_t best_size = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!csv_name(e->d_name))
			continue;
		struct stat sb;
		if (fstatat(dirfd(d), e->d_name, &sb, 0) || !S_ISREG(sb.st_mode))
			continue;
		int64_t t = mtime_ns(&sb);
		if (!*best || t > best_t || (t == best_t && strcmp(e->d_name, best) > 0)) {
			snprintf(best, sizeof best, "%s", e->d_name);
			best_t = t;
			best_size = (uint64_t)sb.st_size;
		}
	}
	closedir(d);
	if (!*best) {
		snprintf(err, errlen, "no *.csv file in '%s'", dir);
		return C360_ERR_NOT_FOUND;
	}
	size_t n = strlen(dir) + strlen(best) + 2;
	char *p = malloc(n);
	if (!p)
		return C360_ERR_NOMEM;
	bool slash = dir[0] && dir[strlen(dir) - 1] == '/';
	snprintf(p, n, "%s%s%s", dir, slash ? "" : "/", best);
	*out = p;
	if (size)
		*size = best_size;
	if (mtime)
		*mtime = best_t;
	return C360_OK;
}

/* The recorded import of a path, if any. */
struct record {
	bool found;
	uint64_t size;
	int64_t mtime_ns;
	char hash[65];
	char completed[32];
	uint64_t imported, failed;
};

static void read_record(c360_store *st, const char *key, struct record *r)
{
	memset(r, 0, sizeof *r);
	struct c360_doc doc;
	memset(&doc, 0, sizeof doc);
	if (c360_store_get(st, C360_META_BUCKET, key, strlen(key), &doc))
		return;
	c360_json_doc *jd = NULL;
	if (!c360_json_parse(doc.value, doc.value_len, NULL, &jd, NULL)) {
		c360_json *root = c360_json_doc_root(jd);
		int64_t v;
		if (c360_json_int64(c360_json_get(root, "size"), &v))
			r->size = (uint64_t)v;
		if (c360_json_int64(c360_json_get(root, "mtime_ns"), &v))
			r->mtime_ns = v;
		if (c360_json_int64(c360_json_get(root, "imported"), &v))
			r->imported = (uint64_t)v;
		if (c360_json_int64(c360_json_get(root, "failed"), &v))
			r->failed = (uint64_t)v;
		size_t n;
		const char *s = c360_json_str(c360_json_get(root, "hash"), &n);
		if (s && n < sizeof r->hash)
			snprintf(r->hash, sizeof r->hash, "%s", s);
		s = c360_json_str(c360_json_get(root, "completed"), &n);
		if (s && n < sizeof r->completed)
			snprintf(r->completed, sizeof r->completed, "%s", s);
		r->found = true;
	}
	c360_json_doc_free(jd);
	c360_doc_release(&doc);
}

static void iso_now(char *out, size_t n)
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Writes the completion record, built with the JSON core. */
static c360_rc write_record(c360_store *st, const char *key, const char *abspath,
			    const struct stat *sb, const char *hash, const struct c360_import_opts *o,
			    const struct c360_import_stats *s, const char *completed)
{
	c360_json_doc *d = c360_json_doc_new();
	if (!d)
		return C360_ERR_NOMEM;
	c360_json *root = c360_json_new_object(d);
	c360_rc rc = root ? C360_OK : C360_ERR_NOMEM;
	struct {
		const char *k;
		c360_json *v;
	} m[] = {
		{"path", c360_json_new_str(d, abspath, strlen(abspath))},
		{"size", c360_json_new_int(d, (int64_t)sb->st_size)},
		{"mtime_ns", c360_json_new_int(d, mtime_ns(sb))},
		{"hash", c360_json_new_str(d, hash, strlen(hash))},
		{"bucket", c360_json_new_str(d, o->bucket, strlen(o->bucket))},
		{"key", c360_json_new_str(d, o->key_expr, strlen(o->key_expr))},
		{"rows", c360_json_new_int(d, (int64_t)s->rows)},
		{"imported", c360_json_new_int(d, (int64_t)s->imported)},
		{"failed", c360_json_new_int(d, (int64_t)s->failed)},
		{"unbalanced_quotes", c360_json_new_int(d, (int64_t)s->unbalanced)},
		{"completed", c360_json_new_str(d, completed, strlen(completed))},
	};
	for (size_t i = 0; i < sizeof m / sizeof *m && !rc; i++)
		rc = m[i].v ? c360_json_set(d, root, m[i].k, strlen(m[i].k), m[i].v) : C360_ERR_INVALID;
	struct c360_buf b;
	c360_buf_init(&b, 1u << 20);
	if (!rc)
		rc = c360_json_write(root, C360_JSON_COMPACT, &b);
	if (!rc)
		rc = c360_store_upsert(st, C360_META_BUCKET, key, strlen(key), b.data, b.len, 0, NULL);
	c360_buf_release(&b);
	c360_json_doc_free(d);
	return rc;
}

c360_rc c360_import_tracked(c360_store *st, const struct c360_import_opts *o, bool force,
			    struct c360_import_stats *stats, struct c360_track_info *info, char *err,
			    size_t errlen)
{
	memset(info, 0, sizeof *info);
	memset(stats, 0, sizeof *stats);
	if (sodium_init() < 0)
		return C360_ERR_INTERNAL;
	char abspath[PATH_MAX];
	if (!realpath(o->path, abspath)) {
		snprintf(err, errlen, "cannot open '%s': %s", o->path, strerror(errno));
		return errno == ENOENT ? C360_ERR_NOT_FOUND : C360_ERR_IO;
	}
	struct stat before;
	if (stat(abspath, &before) || !S_ISREG(before.st_mode)) {
		snprintf(err, errlen, "'%s' is not a regular file", o->path);
		return C360_ERR_INVALID;
	}
	unsigned char ph[16];
	crypto_generichash(ph, sizeof ph, (const unsigned char *)abspath, strlen(abspath), NULL, 0);
	char phex[33];
	to_hex(ph, sizeof ph, phex);
	snprintf(info->meta_key, sizeof info->meta_key, "import::%s", phex);

	c360_rc rc = c360_store_bucket_ensure(st, C360_META_BUCKET, 0);
	if (rc) {
		snprintf(err, errlen, "cannot use the system bucket '%s': %s", C360_META_BUCKET,
			 c360_rc_str(rc));
		return rc;
	}
	struct record prev;
	read_record(st, info->meta_key, &prev);
	if (!force && prev.found && prev.size == (uint64_t)before.st_size &&
	    prev.mtime_ns == mtime_ns(&before)) {
		info->outcome = C360_TRACK_ALREADY;
		snprintf(info->hash, sizeof info->hash, "%s", prev.hash);
		snprintf(info->completed, sizeof info->completed, "%s", prev.completed);
		info->prev_imported = prev.imported;
		info->prev_failed = prev.failed;
		return C360_OK;
	}
	if ((rc = c360_import_file_hash(abspath, info->hash, err, errlen)))
		return rc;
	if (!force && prev.found && !strcmp(prev.hash, info->hash)) {
		info->outcome = C360_TRACK_SAME_CONTENT;
		snprintf(info->completed, sizeof info->completed, "%s", prev.completed);
		info->prev_imported = prev.imported;
		info->prev_failed = prev.failed;
		return C360_OK;
	}
	struct c360_import_opts io = *o;
	io.path = abspath;
	if ((rc = c360_import_run(st, &io, stats, err, errlen)))
		return rc;
	/* every batch has committed: the import is durable, record it unless
	 * the file changed while it was read */
	struct stat after;
	if (stat(abspath, &after) || after.st_size != before.st_size ||
	    mtime_ns(&after) != mtime_ns(&before)) {
		info->outcome = C360_TRACK_CHANGED;
		C360_WARN(WHO, "'%s' changed while it was imported: not recorded as imported", abspath);
		return C360_OK;
	}
	iso_now(info->completed, sizeof info->completed);
	if ((rc = write_record(st, info->meta_key, abspath, &before, info->hash, o, stats,
			       info->completed))) {
		snprintf(err, errlen, "imported, but cannot record the import: %s", c360_rc_str(rc));
		return rc;
	}
	info->outcome = C360_TRACK_IMPORTED;
	return C360_OK;
}
