/* One native engine per target: a claim on the buckets an engine writes (its
 * target and its metadata bucket), checked inside this process and, through
 * POSIX record locks on a lock file next to the store, against every other
 * process on the machine.
 *
 * Why: an engine assumes its state is its own. A batched engine that starts
 * on an empty metadata bucket takes a key its filter lacks as absent, keeps
 * committed state in its cache, and does not take the customers' locks; two
 * such engines (or one and an eventing worker in another process) would
 * overwrite each other's customers and state, and a record merged by one
 * would silently drop out of the other's next version of the customer.
 *
 * Rules: engines committing record by record (the eventing kind, batch 1)
 * serialise on per-customer locks that exist inside one process only, so
 * several of them may share buckets within a process; anything else that
 * shares a bucket is refused, with who holds it.
 *
 * The lock file is STORE-integrate.lock, next to the store's real path (a
 * symlink or another relative path reaches the same one); each bucket name
 * locks one byte at an offset taken from a hash of the name (a collision of
 * two names would only refuse a pair that could have run). POSIX locks
 * belong to the process and go with it, also on kill -9, so nothing has to
 * be cleaned up after a crash; they are dropped when the process closes any
 * descriptor of the file, so the file stays open, once per process, while
 * any claim in it lives. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/hash.h"
#include "integrate/engine_int.h"
#include "core/banned.h"

#define LOCK_SUFFIX "-integrate.lock"
#define NB          2 /* buckets claimed: target, metadata */
/* the end of every refusal */
#define WHAT_TO_DO                                                                         \
	"two engines on one bucket would overwrite each other's customers: stop it first " \
	"(or give this mapping other target and metadata buckets)"

struct lockfile {
	dev_t dev; /* the store file's */
	ino_t ino;
	int fd;
	int refs;
	struct lockfile *next;
};

struct c360_iguard {
	struct lockfile *lf;
	bool shared;
	char who[160];
	char bucket[NB][C360_BUCKET_NAME_MAX + 1];
	struct c360_iguard *next;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct lockfile *files;
static struct c360_iguard *claims;

static off_t byte_of(const char *bucket)
{
	return (off_t)(c360_fnv1a(bucket, strlen(bucket)) & ((1ull << 40) - 1));
}

static int lock_byte(int fd, short type, off_t off)
{
	struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = off, .l_len = 1};
	return fcntl(fd, F_SETLK, &fl);
}

/* The process holding a lock on that byte, 0 when unknown (or none). */
static pid_t holder_of(int fd, off_t off)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = off, .l_len = 1};
	if (fcntl(fd, F_GETLK, &fl) || fl.l_type == F_UNLCK)
		return 0;
	return fl.l_pid;
}

static bool claims_bucket(const struct c360_iguard *g, const char *bucket)
{
	for (int i = 0; i < NB; i++)
		if (!strcmp(g->bucket[i], bucket))
			return true;
	return false;
}

/* Unlocks the bytes of g's first n buckets that no claim of this process
 * (g not among them) still holds. Called under mu. */
static void unlock_unclaimed(const struct c360_iguard *g, int n)
{
	for (int i = 0; i < n; i++) {
		bool kept = false;
		for (const struct c360_iguard *o = claims; o && !kept; o = o->next)
			kept = o->lf == g->lf && claims_bucket(o, g->bucket[i]);
		if (!kept)
			lock_byte(g->lf->fd, F_UNLCK, byte_of(g->bucket[i]));
	}
}

static void lockfile_put(struct lockfile *lf)
{
	if (--lf->refs)
		return;
	for (struct lockfile **p = &files; *p; p = &(*p)->next)
		if (*p == lf) {
			*p = lf->next;
			break;
		}
	close(lf->fd); /* drops whatever this process still held in it */
	free(lf);
}

/* Finds, or opens, the lock file of the store at store_path. One entry per
 * store file (its device and inode, so another path to the same store finds
 * it): a second descriptor of the lock file is never opened, since closing
 * it would drop every lock the process holds on the file. Called under mu. */
static c360_rc lockfile_get(const char *store_path, struct lockfile **out, char *err, size_t errlen)
{
	/* the store's real path: one reached through a symlink or another
	 * relative path is the same store, with the same lock file */
	char real[PATH_MAX], path[PATH_MAX + sizeof LOCK_SUFFIX];
	struct stat sb;
	if (!realpath(store_path, real) || stat(real, &sb)) {
		snprintf(err, errlen, "cannot resolve the store's path '%s': %s", store_path,
			 strerror(errno));
		return C360_ERR_IO;
	}
	for (struct lockfile *lf = files; lf; lf = lf->next)
		if (lf->dev == sb.st_dev && lf->ino == sb.st_ino) {
			lf->refs++;
			*out = lf;
			return C360_OK;
		}
	if ((size_t)snprintf(path, sizeof path, "%s%s", real, LOCK_SUFFIX) >= sizeof path) {
		snprintf(err, errlen, "the store's path is too long for its lock file");
		return C360_ERR_INVALID;
	}
	/* with the store's permissions, past the umask, as SQLite gives its -wal
	 * and -shm files: whoever may write the store may claim its buckets
	 * (best effort: a file of another owner keeps its mode) */
	mode_t mode = sb.st_mode & 0666;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, mode);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open the lock file '%s': %s", path, strerror(errno));
		return C360_ERR_IO;
	}
	struct stat lb;
	if (!fstat(fd, &lb) && lb.st_size == 0 && (lb.st_mode & 0777) != mode)
		(void)fchmod(fd, mode);
	struct lockfile *lf = calloc(1, sizeof *lf);
	if (!lf) {
		close(fd);
		return C360_ERR_NOMEM;
	}
	lf->dev = sb.st_dev; /* the store's */
	lf->ino = sb.st_ino;
	lf->fd = fd;
	lf->refs = 1;
	lf->next = files;
	files = lf;
	*out = lf;
	return C360_OK;
}

c360_rc c360_iguard_take(const char *store_path, const char *target, const char *meta, bool shared,
                         const char *who, struct c360_iguard **out, char *err, size_t errlen)
{
	*out = NULL;
	struct c360_iguard *g = calloc(1, sizeof *g);
	if (!g)
		return C360_ERR_NOMEM;
	g->shared = shared;
	snprintf(g->who, sizeof g->who, "%s", who);
	snprintf(g->bucket[0], sizeof g->bucket[0], "%s", target);
	snprintf(g->bucket[1], sizeof g->bucket[1], "%s", meta);
	pthread_mutex_lock(&mu);
	c360_rc rc = lockfile_get(store_path, &g->lf, err, errlen);
	if (rc)
		goto fail;
	/* inside this process */
	for (const struct c360_iguard *o = claims; o; o = o->next) {
		if (o->lf != g->lf || (o->shared && shared))
			continue;
		for (int i = 0; i < NB; i++)
			if (claims_bucket(o, g->bucket[i])) {
				snprintf(err, errlen,
					 "'%s' already integrates into bucket '%s' of this store "
					 "in this process; " WHAT_TO_DO,
					 o->who, g->bucket[i]);
				rc = C360_ERR_BUSY;
				goto fail_put;
			}
	}
	/* other processes: a byte per bucket (the same byte twice when target
	 * and metadata are one bucket) */
	for (int i = 0; i < NB; i++) {
		off_t off = byte_of(g->bucket[i]);
		if (!lock_byte(g->lf->fd, F_WRLCK, off))
			continue;
		int e = errno;
		if (e == EACCES || e == EAGAIN) {
			pid_t pid = holder_of(g->lf->fd, off);
			char by[64] = "another process";
			if (pid > 0)
				snprintf(by, sizeof by, "another process (pid %ld)", (long)pid);
			snprintf(err, errlen, "%s integrates into bucket '%s' of this store; " WHAT_TO_DO,
				 by, g->bucket[i]);
			rc = C360_ERR_BUSY;
		} else {
			snprintf(err, errlen,
			         "cannot lock bucket '%s' in the store's lock file: %s",
			         g->bucket[i], strerror(e));
			rc = C360_ERR_IO;
		}
		unlock_unclaimed(g, i);
		goto fail_put;
	}
	g->next = claims;
	claims = g;
	pthread_mutex_unlock(&mu);
	*out = g;
	return C360_OK;
fail_put:
	lockfile_put(g->lf);
fail:
	pthread_mutex_unlock(&mu);
	free(g);
	return rc;
}

void c360_iguard_drop(struct c360_iguard *g)
{
	if (!g)
		return;
	pthread_mutex_lock(&mu);
	for (struct c360_iguard **p = &claims; *p; p = &(*p)->next)
		if (*p == g) {
			*p = g->next;
			break;
		}
	unlock_unclaimed(g, NB);
	lockfile_put(g->lf);
	pthread_mutex_unlock(&mu);
	free(g);
}
