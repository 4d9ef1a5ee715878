/* The generated secret-hashing key of a store, kept in a file of mode 600
 * beside the store (never in a bucket the API or SQL can read), and the move
 * of keys older c360 versions kept in a metadata bucket into such files. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "core/json.h"
#include "core/log.h"
#include "integrate/integrate.h"
#include "core/banned.h"

#define KEYDOC "c360n::secret-key"
#define KEYFILE_MAX 256 /* 64 hex digits and a newline; more is not a key file */

c360_rc c360_integrate_key_path(c360_store *st, const char *meta_bucket, char *out, size_t outlen)
{
	const char *p = c360_store_path(st);
	if (!p || !*p)
		return C360_ERR_UNSUPPORTED;
	int n = snprintf(out, outlen, "%s.%s.key", p, meta_bucket);
	return n < 0 || (size_t)n >= outlen ? C360_ERR_TOO_BIG : C360_OK;
}

/* fsync of the folder holding path, so a new name survives a power loss */
static void sync_dir(const char *path)
{
	char copy[4096];
	snprintf(copy, sizeof copy, "%s", path);
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

/* Reads a key file: C360_ERR_NOT_FOUND when there is none. A file others
 * may read is narrowed to 600 first, with a warning. */
static c360_rc read_key(const char *path, uint8_t key[C360_IMAP_KEYBYTES], char *err,
			size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return C360_ERR_NOT_FOUND;
		snprintf(err, errlen, "cannot open the secret key file '%s': %s", path,
			 strerror(errno));
		return C360_ERR_IO;
	}
	struct stat sb;
	if (!fstat(fd, &sb) && (sb.st_mode & 077)) {
		if (fchmod(fd, 0600))
			C360_WARN("integrate",
				  "the secret key file '%s' is readable by others (mode %03o) and "
				  "cannot be narrowed: %s; chmod 600 it",
				  path, (unsigned)(sb.st_mode & 0777), strerror(errno));
		else
			C360_WARN("integrate", "the secret key file '%s' was readable by others "
					       "(mode %03o): narrowed to 600",
				  path, (unsigned)(sb.st_mode & 0777));
	}
	char buf[KEYFILE_MAX + 1];
	ssize_t n = read(fd, buf, KEYFILE_MAX);
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, "cannot read the secret key file '%s': %s", path,
			 strerror(errno));
		return C360_ERR_IO;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		n--;
	buf[n] = 0;
	size_t bl = 0;
	if (n != 2 * C360_IMAP_KEYBYTES ||
	    sodium_hex2bin(key, C360_IMAP_KEYBYTES, buf, (size_t)n, NULL, &bl, NULL) ||
	    bl != C360_IMAP_KEYBYTES) {
		snprintf(err, errlen,
			 "the secret key file '%s' does not hold 64 hex digits: restore it from a "
			 "backup (customers' hashed secrets depend on it)",
			 path);
		return C360_ERR_CORRUPT;
	}
	return C360_OK;
}

/* Creates path holding key, mode 600, whole or not at all: a temporary
 * file is written and synced, then linked under the name (which fails with
 * C360_ERR_EXISTS when another process was first). */
static c360_rc write_key(const char *path, const uint8_t key[C360_IMAP_KEYBYTES], char *err,
			 size_t errlen)
{
	char tmp[4200], text[2 * C360_IMAP_KEYBYTES + 2];
	snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
	sodium_bin2hex(text, sizeof text, key, C360_IMAP_KEYBYTES);
	text[2 * C360_IMAP_KEYBYTES] = '\n';
	(void)unlink(tmp);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	c360_rc rc = C360_OK;
	if (fd < 0) {
		snprintf(err, errlen, "cannot create the secret key file '%s': %s", tmp,
			 strerror(errno));
		return C360_ERR_IO;
	}
	if (fchmod(fd, 0600) || write(fd, text, sizeof text - 1) != (ssize_t)(sizeof text - 1) ||
	    fsync(fd)) {
		snprintf(err, errlen, "cannot write the secret key file '%s': %s", tmp,
			 strerror(errno));
		rc = C360_ERR_IO;
	}
	close(fd);
	sodium_memzero(text, sizeof text);
	if (!rc && link(tmp, path)) {
		if (errno == EEXIST) {
			rc = C360_ERR_EXISTS;
		} else {
			snprintf(err, errlen, "cannot create the secret key file '%s': %s", path,
				 strerror(errno));
			rc = C360_ERR_IO;
		}
	}
	(void)unlink(tmp);
	if (!rc)
		sync_dir(path);
	return rc;
}

/* The key kept by an older c360 in document KEYDOC of bucket: C360_ERR_NOT_FOUND
 * when there is none. */
static c360_rc read_key_doc(c360_store *st, const char *bucket, uint8_t key[C360_IMAP_KEYBYTES],
			    char *err, size_t errlen)
{
	struct c360_doc d = {0};
	c360_rc rc = c360_store_get(st, bucket, KEYDOC, strlen(KEYDOC), &d);
	if (rc)
		return rc == C360_ERR_INVALID ? C360_ERR_NOT_FOUND : rc;
	c360_json_doc *jd = NULL;
	const char *hex = NULL;
	if (!c360_json_parse(d.value, d.value_len, NULL, &jd, NULL))
		hex = c360_json_str(c360_json_get(c360_json_doc_root(jd), "key"), NULL);
	size_t bl = 0;
	int bad = !hex || sodium_hex2bin(key, C360_IMAP_KEYBYTES, hex, strlen(hex), NULL, &bl, NULL) ||
		  bl != C360_IMAP_KEYBYTES;
	c360_json_doc_free(jd);
	c360_doc_release(&d);
	if (bad) {
		snprintf(err, errlen, "metadata document '%s' in '%s' is damaged", KEYDOC, bucket);
		return C360_ERR_CORRUPT;
	}
	return C360_OK;
}

/* Moves the key document of bucket (if any) to its file, then deletes the
 * document. A file that exists already must hold the same key. */
static c360_rc migrate(c360_store *st, const char *bucket, const char *path, char *err,
		       size_t errlen)
{
	uint8_t doc_key[C360_IMAP_KEYBYTES], file_key[C360_IMAP_KEYBYTES];
	c360_rc rc = read_key_doc(st, bucket, doc_key, err, errlen);
	if (rc == C360_ERR_NOT_FOUND)
		return C360_OK;
	if (rc)
		return rc;
	rc = write_key(path, doc_key, err, errlen);
	if (rc == C360_ERR_EXISTS) {
		/* a move that stopped between the file and the delete, or another
		 * process moving it now: the same key, or the operator decides */
		rc = read_key(path, file_key, err, errlen);
		if (!rc && sodium_memcmp(doc_key, file_key, sizeof doc_key)) {
			snprintf(err, errlen,
				 "the secret key file '%s' and document '%s' of '%s' hold different "
				 "keys: keep the one your customers' hashes were made with and delete "
				 "the other",
				 path, KEYDOC, bucket);
			rc = C360_ERR_CORRUPT;
		}
	}
	sodium_memzero(doc_key, sizeof doc_key);
	sodium_memzero(file_key, sizeof file_key);
	if (rc)
		return rc;
	rc = c360_store_delete(st, bucket, KEYDOC, strlen(KEYDOC), 0);
	if (rc && rc != C360_ERR_NOT_FOUND) {
		snprintf(err, errlen, "cannot delete document '%s' of '%s' (its key is in '%s' now): %s",
			 KEYDOC, bucket, path, c360_rc_str(rc));
		return rc;
	}
	C360_WARN("integrate",
		  "moved the secret-hashing key from document '%s' of '%s' (readable through the API "
		  "and SQL) to '%s' (mode 600): back that file up with the store",
		  KEYDOC, bucket, path);
	return C360_OK;
}

c360_rc c360_integrate_store_key(c360_store *st, const char *meta_bucket,
				 uint8_t key[C360_IMAP_KEYBYTES], char *err, size_t errlen)
{
	char path[4096];
	c360_rc rc = c360_integrate_key_path(st, meta_bucket, path, sizeof path);
	if (rc) {
		snprintf(err, errlen, "no place for a secret key beside this store: set $%s",
			 "C360_SECRET_KEY");
		return rc;
	}
	if ((rc = migrate(st, meta_bucket, path, err, errlen)))
		return rc;
	for (int attempt = 0; attempt < 2; attempt++) {
		rc = read_key(path, key, err, errlen);
		if (rc != C360_ERR_NOT_FOUND)
			return rc;
		uint8_t k[C360_IMAP_KEYBYTES];
		randombytes_buf(k, sizeof k);
		rc = write_key(path, k, err, errlen);
		if (!rc) {
			C360_INFO("integrate",
				  "generated a secret-hashing key, kept in '%s' (mode 600; back it up "
				  "with the store, or set $%s or secrets.key_env to manage it yourself)",
				  path, "C360_SECRET_KEY");
			memcpy(key, k, sizeof k);
		}
		sodium_memzero(k, sizeof k);
		if (rc != C360_ERR_EXISTS) /* else another process was first: read its key */
			return rc;
	}
	snprintf(err, errlen, "cannot create the secret key file '%s'", path);
	return C360_ERR_IO;
}

c360_rc c360_integrate_secure_store(c360_store *st, char *err, size_t errlen)
{
	struct c360_bucket_info *b = NULL;
	size_t n = 0;
	c360_rc rc = c360_store_bucket_list(st, &b, &n);
	if (rc) {
		snprintf(err, errlen, "cannot list the buckets: %s", c360_rc_str(rc));
		return rc;
	}
	for (size_t i = 0; i < n && !rc; i++) {
		char path[4096];
		if (c360_integrate_key_path(st, b[i].name, path, sizeof path))
			continue;
		rc = migrate(st, b[i].name, path, err, errlen);
	}
	free(b);
	return rc;
}
