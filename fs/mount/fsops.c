/* fsops: the low-level FUSE operations over the tree and the inode table; everything outside
 * .dswfs/refresh is read-only. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cancel.h"
#include "fsops.h"
#include "hash.h"
#include "inode.h"
#include "log.h"
#include "stats.h"
#include "tree.h"

#define PATH_CAP 8192

/* What one directory's priming pushes at most: bigger files and longer listings are read
 * through the daemon (their first read costs a round trip, nothing else). */
#define PRIME_FILE_MAX (64 * 1024)
#define PRIME_NAMES_MAX 4096
/* How long the request that ends a listing waits for its directory's priming: the walker's
 * next step is to read those files, and a file it reaches first is read through the daemon
 * (correct either way; only slower). Bounded, so a push the kernel makes wait (on a page lock
 * held by a read in flight) never holds the request long. */
#define PRIME_WAIT 0.5
#define PRIME_WAIT_AHEAD 2

/* Waits until every path queued so far has been told to the kernel, at most timeout seconds
 * (a refresh's write returns after its invalidations). Returns 0, or -ETIMEDOUT. NULL (or a
 * queue not started) returns 0 at once. */
static int fsops_inval_drain(struct fsops_inval *q, double timeout);

/* Queues the priming of directory dir's files, named in files (nfiles NUL-terminated names
 * back to back, taken over), for its own thread (dropped when the queue is full or not
 * started) and, unless a backlog is ahead of it, waits up to PRIME_WAIT for it. NULL q does
 * nothing but free files. */
static void fsops_prime(struct fsops_inval *q, const char *dir, char *files, size_t nfiles);

static struct fsops_ctx *ctx_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static void count(enum stats_id id)
{
	stats_add(id, 1);
}

static void on_interrupt(fuse_req_t req, void *k)
{
	(void)req;
	cancel_fire(k);
}

/* For a request that may wait for a fetch: a cancel token that the kernel's interrupt fires
 * (its caller got a signal: Ctrl-C), made the tree's for this thread until req_end, so the
 * wait ends with EINTR at once. libfuse calls on_interrupt at once when the interrupt came
 * first. Without memory for a token the request is just not interruptible. */
static struct cancel *req_begin(fuse_req_t req)
{
	struct cancel *k = cancel_new();

	if (k)
		fuse_req_interrupt_func(req, on_interrupt, k);
	tree_set_cancel(ctx_of(req)->tree, k);
	return k;
}

/* Undoes req_begin; before the reply, which may free req. libfuse runs on_interrupt under the
 * request's lock, which unregistering takes too, so once it returns nothing can fire k and k
 * can go. Returns rc; counts the requests an interrupt ended. */
static int req_end(fuse_req_t req, struct cancel *k, int rc)
{
	tree_set_cancel(ctx_of(req)->tree, NULL);
	if (k)
		fuse_req_interrupt_func(req, NULL, NULL);
	cancel_free(k);
	if (rc == -EINTR)
		count(STATS_FS_INTERRUPTED);
	return rc;
}

static void gauge_inodes(struct fsops_ctx *c)
{
	stats_set(STATS_FS_INODES, (int64_t)inode_count(c->inodes));
}

static enum inode_type type_of(enum tree_type t)
{
	return t == TREE_DIR ? INODE_DIR : t == TREE_LINK ? INODE_LINK : INODE_FILE;
}

static void to_inode_attr(const struct tree_attr *a, struct inode_attr *ia)
{
	memset(ia, 0, sizeof(*ia));
	ia->type = type_of(a->type);
	ia->mode = a->mode;
	ia->size = a->size;
	ia->mtime = a->mtime;
	ia->mtime_nsec = a->mtime_nsec;
	ia->ctime = a->ctime;
	/* Directories keep one inode per path: their listing is invalidated, not renumbered. */
	ia->version = a->type == TREE_DIR ? 0 : a->version;
}

/* The owner of every file: the daemon's user, taken once by init (after setuid= dropped
 * privileges): two system calls per entry otherwise, in every listing. */
static void to_stat(const struct fsops_ctx *c, uint64_t ino, const struct inode_attr *a,
		    struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = a->type == INODE_DIR ? S_IFDIR : a->type == INODE_LINK ? S_IFLNK : S_IFREG;
	st->st_mode |= a->mode;
	/* 1 tells find(1) the subdirectory count is unknown, so it never skips one. */
	st->st_nlink = 1;
	st->st_uid = __atomic_load_n(&c->uid, __ATOMIC_RELAXED);
	st->st_gid = __atomic_load_n(&c->gid, __ATOMIC_RELAXED);
	st->st_size = a->size;
	st->st_blksize = 4096;
	st->st_blocks = (a->size + 511) / 512;
	st->st_mtim.tv_sec = a->mtime;
	st->st_mtim.tv_nsec = a->mtime_nsec;
	st->st_atime = a->mtime;
	st->st_ctime = a->ctime;
}

/* parent's path + "/" + name into out. Returns 0 or -ENAMETOOLONG. */
static int child_path(const char *parent, const char *name, char *out, size_t size)
{
	int n = snprintf(out, size, "%s%s%s", parent, strcmp(parent, "/") ? "/" : "", name);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* Looks name up in directory parent (at path) for the kernel: resolves it once, finds or makes
 * its inode (one lookup counted) and fills *e. Files whose bytes change without a refresh get
 * those bytes, from the same resolution, kept with the inode (handed over, not copied), so the
 * inode always serves what its size says. Returns 0 or -errno. */
static int entry_for(struct fsops_ctx *c, fuse_ino_t parent, const char *name, const char *path,
		     struct fuse_entry_param *e)
{
	struct tree_attr a;
	struct inode_attr ia;
	char *data = NULL;
	int rc;

	rc = tree_getattr_data(c->tree, path, &a, &data);
	if (rc)
		return rc;
	to_inode_attr(&a, &ia);
	memset(e, 0, sizeof(*e));
	rc = inode_ref(c->inodes, parent, name, &ia, data, &e->ino);
	if (rc)
		return rc;
	gauge_inodes(c);
	to_stat(c, e->ino, &ia, &e->attr);
	/* A changing file is found again at every path walk (entry timeout 0), but what one
	 * inode shows never changes, so its attributes may be kept. A feed is the other way
	 * round: one inode for good, whose size the kernel must ask for every time. */
	e->entry_timeout = a.changing ? 0 : a.growing ? c->ttl : a.fresh_for;
	e->attr_timeout = a.changing ? c->ttl : a.growing ? 0 : a.fresh_for;
	return 0;
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fsops_ctx *c = userdata;

	/* Atomic: read by every request thread, which the kernel orders after INIT's reply
	 * in a way no thread sanitizer sees. */
	__atomic_store_n(&c->uid, getuid(), __ATOMIC_RELAXED);
	__atomic_store_n(&c->gid, getgid(), __ATOMIC_RELAXED);
	if (conn->capable & FUSE_CAP_NO_OPEN_SUPPORT)
		__atomic_store_n(&c->no_open, 1, __ATOMIC_RELEASE);
	if (conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT)
		__atomic_store_n(&c->no_opendir, 1, __ATOMIC_RELEASE);
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	/* Always plus: every listing brings its entries, so a walk needs no lookups. */
	conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
	/* A cached listing or page is dropped when the attributes say it changed. */
	if (conn->capable & FUSE_CAP_AUTO_INVAL_DATA)
		conn->want |= FUSE_CAP_AUTO_INVAL_DATA;
	/* Without OPEN requests an O_TRUNC must arrive as a setattr, where it is refused
	 * (EROFS) or checked (.dswfs/refresh). */
	conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fsops_ctx *c = ctx_of(req);
	struct fuse_entry_param e;
	char dir[PATH_CAP], path[PATH_CAP];
	int rc;

	count(STATS_FS_LOOKUP);
	rc = inode_get(c->inodes, parent, dir, sizeof(dir), NULL);
	if (rc == 0)
		rc = child_path(dir, name, path, sizeof(path));
	if (rc == 0) {
		struct cancel *k = req_begin(req);

		rc = req_end(req, k, entry_for(c, parent, name, path, &e));
	}
	/* An error reply caches nothing: a name that appears later is found at once. */
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_entry(req, &e);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct fsops_ctx *c = ctx_of(req);

	count(STATS_FS_FORGET);
	inode_forget(c->inodes, ino, nlookup);
	gauge_inodes(c);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count_, struct fuse_forget_data *fd)
{
	struct fsops_ctx *c = ctx_of(req);

	count(STATS_FS_FORGET);
	for (size_t i = 0; i < count_; i++)
		inode_forget(c->inodes, fd[i].ino, fd[i].nlookup);
	gauge_inodes(c);
	fuse_reply_none(req);
}

/* Attributes of ino. A file or link still at its version answers with the tree's current
 * attributes and timeouts; one whose version is gone keeps answering with the attributes it
 * was made with (they describe its bytes), uncached. */
static int attr_of(struct fsops_ctx *c, fuse_ino_t ino, struct stat *st, double *timeout)
{
	char path[PATH_CAP];
	struct inode_attr na, ia;
	struct tree_attr a;
	int rc;

	rc = inode_get(c->inodes, ino, path, sizeof(path), &na);
	if (rc)
		return rc;
	rc = tree_getattr(c->tree, path, &a);
	if (rc == 0 && a.type == TREE_FILE && a.changing && na.type == INODE_FILE) {
		to_stat(c, ino, &na, st);
		*timeout = c->ttl;
		return 0;
	}
	if (rc == 0) {
		to_inode_attr(&a, &ia);
		if (ia.type == na.type && ia.version == na.version) {
			to_stat(c, ino, &ia, st);
			*timeout = a.fresh_for;
			return 0;
		}
		if (na.type == INODE_DIR)
			return -ESTALE;	/* the path is no directory any more */
	} else if (rc != -ENOENT && rc != -ENOTDIR) {
		return rc;
	}
	if (na.type == INODE_DIR)
		return rc;
	to_stat(c, ino, &na, st);
	*timeout = 0;
	return 0;
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cancel *k;
	struct stat st;
	double timeout;
	int rc;

	(void)fi;
	count(STATS_FS_GETATTR);
	k = req_begin(req);
	rc = req_end(req, k, attr_of(ctx_of(req), ino, &st, &timeout));
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, timeout);
}

/* Whether the caller may write path (.dswfs/refresh): only the mounting user (the daemon's
 * own uid, which also owns every file) and root. With allow_other, anyone else could
 * otherwise make the daemon drop its cache and refetch at will. Checked at every step
 * (open, truncate, write). Returns 0, or -EROFS / -ENOENT for paths that are not writable at
 * all, before -EACCES. */
static int may_write(fuse_req_t req, const char *path)
{
	int rc = tree_writable(ctx_of(req)->tree, path);
	uid_t uid = fuse_req_ctx(req)->uid;

	if (rc)
		return rc;
	return uid == 0 || uid == getuid() ? 0 : -EACCES;
}

static int path_of(fuse_req_t req, fuse_ino_t ino, char *path, size_t size,
		   struct inode_attr *a)
{
	int rc = inode_get(ctx_of(req)->inodes, ino, path, size, a);

	if (rc == -ESTALE)
		count(STATS_FS_STALE);
	return rc;
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	char path[PATH_CAP];
	struct stat st;
	double timeout;
	int rc;

	(void)attr; (void)fi;
	count(STATS_FS_SETATTR);
	rc = path_of(req, ino, path, sizeof(path), NULL);
	/* Only a truncation can be allowed (of .dswfs/refresh, as `echo > refresh` does);
	 * its time stamps come along with it and are ignored. */
	if (rc == 0)
		rc = to_set & FUSE_SET_ATTR_SIZE ? may_write(req, path) : -EROFS;
	if (rc == 0)
		rc = attr_of(ctx_of(req), ino, &st, &timeout);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, timeout);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char path[PATH_CAP], target[PATH_CAP];
	int rc;

	count(STATS_FS_READLINK);
	rc = path_of(req, ino, path, sizeof(path), NULL);
	if (rc == 0) {
		struct cancel *k = req_begin(req);

		rc = req_end(req, k, tree_readlink(ctx_of(req)->tree, path, target,
						   sizeof(target)));
	}
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_readlink(req, target);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	char path[PATH_CAP];
	int rc;

	count(STATS_FS_OPEN);
	rc = path_of(req, ino, path, sizeof(path), NULL);
	if (rc == 0 && (fi->flags & O_ACCMODE) != O_RDONLY) {
		rc = may_write(req, path);
		fi->direct_io = 1;
	} else if (rc == 0 && __atomic_load_n(&ctx_of(req)->no_open, __ATOMIC_ACQUIRE)) {
		/* The kernel opens by itself from now on, with its page cache kept: every
		 * inode's bytes are fixed, so there is nothing to open. */
		rc = -ENOSYS;
	} else if (rc == 0) {
		fi->keep_cache = 1;
	}
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_open(req, fi);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fsops_ctx *c = ctx_of(req);
	char path[PATH_CAP];
	struct inode_attr na;
	struct tree_attr a;
	struct tree_file *f = NULL;
	struct cancel *k;
	char *buf;
	size_t n = 0;
	ssize_t got;
	int rc;

	(void)fi;
	count(STATS_FS_READ);
	buf = malloc(size ? size : 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	rc = path_of(req, ino, path, sizeof(path), &na);
	if (rc)
		goto out;
	rc = inode_read_data(c->inodes, ino, buf, size, off, &n);
	if (rc != -ENODATA)
		goto out;
	/* A change feed: its bytes at their offset, whatever was appended since the size the
	 * kernel knows (it shows the reader no more than that size). */
	rc = tree_feed_read(c->tree, path, buf, size, off, &n);
	if (rc == -ESTALE)
		count(STATS_FS_STALE);
	if (rc != -ENOTSUP)
		goto out;
	k = req_begin(req);
	rc = req_end(req, k, tree_open_attr(c->tree, path, &a, &f));
	if (rc == -ENOENT || (rc == 0 && a.version != na.version)) {
		/* Its bytes are gone with their snapshot: the kernel looks the name up again. */
		count(STATS_FS_STALE);
		rc = -ESTALE;
	}
	if (rc)
		goto out;
	got = tree_read(f, buf, size, off);
	if (got < 0)
		rc = (int)got;
	else
		n = (size_t)got;
out:
	tree_close(f);
	if (rc) {
		fuse_reply_err(req, -rc);
	} else {
		stats_add(STATS_FS_READS, 1);
		stats_add(STATS_FS_BYTES_READ, (int64_t)n);
		fuse_reply_buf(req, buf, n);
	}
	free(buf);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	char path[PATH_CAP];
	int rc;

	(void)buf; (void)off; (void)fi;
	count(STATS_FS_WRITE);
	rc = path_of(req, ino, path, sizeof(path), NULL);
	if (rc == 0)
		rc = may_write(req, path);
	/* Returns once the refresh answering this write has completed, or with its error, and
	 * once the kernel has dropped what the refresh changed, so a read after it is fresh.
	 * Waiting here is safe: no invalidation concerns .dswfs, whose inode this write holds;
	 * it is bounded all the same. */
	if (rc == 0)
		rc = tree_write(ctx_of(req)->tree, path);
	if (rc == 0 && fsops_inval_drain(ctx_of(req)->inval, 10) != 0)
		log_msg(LOG_WARN, "refresh: kernel invalidations still queued after 10 s");
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_write(req, size);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino; (void)fi;
	count(STATS_FS_RELEASE);
	fuse_reply_err(req, 0);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	count(STATS_FS_OPENDIR);
	if (__atomic_load_n(&ctx_of(req)->no_opendir, __ATOMIC_ACQUIRE)) {
		/* The kernel then opens directories itself, caching their listings. */
		fuse_reply_err(req, ENOSYS);
		return;
	}
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino; (void)fi;
	count(STATS_FS_RELEASEDIR);
	fuse_reply_err(req, 0);
}

/* One readdir(plus) reply being filled: entries before off are skipped (the listing is made
 * again for every request; offsets are positions in it). */
struct dir_fill {
	fuse_req_t req;
	struct fsops_ctx *c;
	const char *dir;
	fuse_ino_t ino;
	bool plus;
	char *buf;
	size_t size, used;
	off_t off, pos;
	int err;
	/* The end-of-listing request of a readdirplus (off > 0): the names of the files before
	 * off, for priming (NULL otherwise). */
	struct buf *files;
	size_t nfiles;
};

static int add_entry(struct dir_fill *d, const char *name, const struct tree_attr *a)
{
	struct fuse_entry_param e;
	char path[PATH_CAP];
	size_t need;
	bool dots = strcmp(name, ".") == 0 || strcmp(name, "..") == 0;

	if (d->pos++ < d->off) {
		if (d->files && a && a->type == TREE_FILE && d->nfiles < PRIME_NAMES_MAX &&
		    buf_append(d->files, name, strlen(name) + 1) == 0)
			d->nfiles++;
		return 0;
	}
	memset(&e, 0, sizeof(e));
	e.attr.st_mode = !a ? S_IFREG : a->type == TREE_DIR ? S_IFDIR :
			 a->type == TREE_LINK ? S_IFLNK : S_IFREG;
	/* A stand-in number for the dirent; the real one comes with the entry or a lookup. */
	e.attr.st_ino = dots ? d->ino : (hash_str(name) | 1u << 31);
	if (!d->plus) {
		need = fuse_add_direntry(d->req, d->buf + d->used, d->size - d->used, name,
					 &e.attr, d->pos);
		if (need > d->size - d->used)
			return 1;
		d->used += need;
		return 0;
	}
	need = fuse_add_direntry_plus(d->req, NULL, 0, name, NULL, 0);
	if (need > d->size - d->used)
		return 1;
	/* Only an entry that is sent counts as a lookup. A name that went away meanwhile is
	 * sent without an inode (0): the kernel then looks it up if it wants it. */
	if (!dots && child_path(d->dir, name, path, sizeof(path)) == 0 &&
	    entry_for(d->c, d->ino, name, path, &e) != 0)
		e.ino = 0;
	fuse_add_direntry_plus(d->req, d->buf + d->used, d->size - d->used, name, &e, d->pos);
	d->used += need;
	return 0;
}

static int fill_cb(void *p, const char *name, const struct tree_attr *a)
{
	return add_entry(p, name, a);
}

static void readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
	struct dir_fill d = { .req = req, .c = ctx_of(req), .ino = ino, .plus = plus,
			      .size = size, .off = off };
	char dir[PATH_CAP];
	struct tree_attr da;
	struct cancel *k;
	struct buf files;
	int rc;

	buf_init(&files, (size_t)PRIME_NAMES_MAX * 256);
	/* Only the request that may find the end of a listing collects what to prime. */
	if (plus && off > 0 && d.c->prime)
		d.files = &files;
	count(plus ? STATS_FS_READDIRPLUS : STATS_FS_READDIR);
	rc = path_of(req, ino, dir, sizeof(dir), NULL);
	if (rc)
		goto out;
	d.dir = dir;
	d.buf = malloc(size ? size : 1);
	if (!d.buf) {
		rc = -ENOMEM;
		goto out;
	}
	memset(&da, 0, sizeof(da));
	da.type = TREE_DIR;
	if (add_entry(&d, ".", &da) || add_entry(&d, "..", &da))
		goto reply;
	k = req_begin(req);
	rc = req_end(req, k, tree_readdir(d.c->tree, dir, fill_cb, &d));
	/* The request that finds the end of a listing comes after the kernel took in every
	 * entry before it, so it holds an inode for each file now: the time to prime them. */
	if (rc == 0 && d.files && d.used == 0 && d.nfiles)
		fsops_prime(d.c->inval, dir, buf_steal(&files, NULL), d.nfiles);
reply:
	if (rc == 0)
		fuse_reply_buf(req, d.buf, d.used);
out:
	if (rc)
		fuse_reply_err(req, -rc);
	free(d.buf);
	buf_free(&files);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	(void)fi;
	readdir_common(req, ino, size, off, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	(void)fi;
	readdir_common(req, ino, size, off, true);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	(void)ino;
	count(STATS_FS_STATFS);
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = 4096;
	sv.f_frsize = 4096;
	sv.f_namemax = 255;
	sv.f_flag = ST_RDONLY | ST_NOSUID | ST_NODEV;
	fuse_reply_statfs(req, &sv);
}

/* Everything that would change the tree. */
static void refuse(fuse_req_t req)
{
	count(STATS_FS_OTHER);
	fuse_reply_err(req, EROFS);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		     dev_t rdev)
{
	(void)parent; (void)name; (void)mode; (void)rdev;
	refuse(req);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	(void)parent; (void)name; (void)mode;
	refuse(req);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	(void)parent; (void)name;
	refuse(req);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	(void)link; (void)parent; (void)name;
	refuse(req);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	(void)parent; (void)name; (void)newparent; (void)newname; (void)flags;
	refuse(req);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	(void)ino; (void)newparent; (void)newname;
	refuse(req);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	(void)parent; (void)name; (void)mode; (void)fi;
	refuse(req);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			size_t size, int flags)
{
	(void)ino; (void)name; (void)value; (void)size; (void)flags;
	refuse(req);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	(void)ino; (void)name;
	refuse(req);
}

static const struct fuse_lowlevel_ops ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.readlink = op_readlink,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_unlink,
	.symlink = op_symlink,
	.rename = op_rename,
	.link = op_link,
	.open = op_open,
	.read = op_read,
	.write = op_write,
	.release = op_release,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.statfs = op_statfs,
	.create = op_create,
	.setxattr = op_setxattr,
	.removexattr = op_removexattr,
};

const struct fuse_lowlevel_ops *fsops_operations(void)
{
	return &ops;
}

/* Bounds of the queues: an invalidation dropped ages out with the TTL; a directory not primed
 * is read through the daemon as before. */
#define INVAL_MAX 1000000
#define PRIME_MAX 4096
enum note_kind {
	NOTE_ENTRY,	/* a path whose entry and inode changed */
	NOTE_LISTING,	/* a directory of which only the listing changed */
	NOTE_PRIME,	/* a directory the kernel listed: push its files' bytes */
};

struct note {
	struct note *next;
	enum note_kind kind;
	char *files;		/* NOTE_PRIME: nfiles names back to back (owned) */
	size_t nfiles;
	char path[];
};

struct fsops_inval;

/* One queue and the thread draining it. */
struct lane {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct note *head, *tail;
	size_t count, max;
	uint64_t queued, done;	/* notes queued and run so far, in order */
	pthread_cond_t ran;	/* signalled when done grows */
	pthread_t thread;
	int running, stop;
	struct fsops_inval *q;
	void (*run)(struct fsops_inval *q, const struct note *n);
};

/* Two lanes, so a long priming never delays an invalidation a refresh waits for. */
struct fsops_inval {
	struct inode_table *inodes;
	struct tree *tree;
	struct fuse_session *se;
	struct lane inval, prime;
};

/* Tells the kernel about one path. Only inodes it was given can be in its caches, so paths
 * the table does not know need nothing. -ENOENT from the kernel means the same. */
static void inval_one(struct fsops_inval *q, const struct note *n)
{
	char parent[PATH_CAP];
	const char *slash = strrchr(n->path, '/');
	uint64_t ino;

	if (inode_find(q->inodes, n->path, 0, &ino) == 0) {
		stats_add(STATS_FS_NOTIFY, 1);
		fuse_lowlevel_notify_inval_inode(q->se, ino, 0, 0);
	}
	if (n->kind == NOTE_LISTING || !slash || !slash[1] ||
	    (size_t)(slash - n->path) >= sizeof(parent))
		return;
	/* The entry: its next lookup finds the inode of the new version. */
	memcpy(parent, n->path, (size_t)(slash - n->path));
	parent[slash - n->path] = 0;
	if (inode_find(q->inodes, slash == n->path ? "/" : parent, 0, &ino) == 0) {
		stats_add(STATS_FS_NOTIFY, 1);
		fuse_lowlevel_notify_inval_entry(q->se, ino, slash + 1, strlen(slash + 1));
	}
}

/* Pushes one file's bytes into the kernel's page cache under the inode the kernel was given for
 * them. The inode is found by the version of the bytes just rendered, so what is pushed is what
 * that inode shows: the content-addressed numbering makes a stale push impossible. Returns 1
 * when pushed, 0 when there was nothing to push. */
static int prime_file(struct fsops_inval *q, const char *path, char **buf)
{
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(0);
	struct tree_file *f = NULL;
	struct tree_attr a;
	uint64_t ino;
	ssize_t got;
	int rc = 0;

	if (tree_open_attr(q->tree, path, &a, &f) != 0)
		goto out;
	if (a.type != TREE_FILE || a.changing || a.growing || a.size <= 0 ||
	    a.size > PRIME_FILE_MAX || inode_find(q->inodes, path, a.version, &ino) != 0)
		goto out;
	if (!*buf && !(*buf = malloc(PRIME_FILE_MAX)))
		goto out;
	got = tree_read(f, *buf, (size_t)a.size, 0);
	if (got != (ssize_t)a.size)
		goto out;
	bv.buf[0].mem = *buf;
	bv.buf[0].size = (size_t)got;
	/* -ENOENT: the kernel forgot the inode meanwhile; its next read asks the daemon. */
	if (fuse_lowlevel_notify_store(q->se, ino, 0, &bv, 0) == 0) {
		stats_add(STATS_FS_PRIMED, 1);
		rc = 1;
	} else {
		stats_add(STATS_FS_PRIME_MISSED, 1);
	}
out:
	tree_close(f);
	return rc;
}

/* Primes the files of a directory the kernel has just listed in full (readdirplus: it holds
 * an inode for each), so the walk that listed it reads them from the page cache without a
 * round trip each, and without the attribute request a read through the daemon costs the
 * next walk (the kernel drops a file's atime after such a read). */
static void prime_one(struct fsops_inval *q, const struct note *n)
{
	char path[PATH_CAP];
	const char *name = n->files;
	char *buf = NULL;

	for (size_t i = 0; i < n->nfiles; i++, name += strlen(name) + 1)
		if (child_path(n->path, name, path, sizeof(path)) == 0)
			prime_file(q, path, &buf);
	free(buf);
}

static void *lane_main(void *arg)
{
	struct lane *l = arg;
	struct note *n;

	pthread_mutex_lock(&l->lock);
	for (;;) {
		while (!l->head && !l->stop)
			pthread_cond_wait(&l->cond, &l->lock);
		if (l->stop)
			break;
		n = l->head;
		l->head = n->next;
		if (!l->head)
			l->tail = NULL;
		l->count--;
		pthread_mutex_unlock(&l->lock);
		l->run(l->q, n);
		free(n->files);
		free(n);
		pthread_mutex_lock(&l->lock);
		l->done++;
		pthread_cond_broadcast(&l->ran);
	}
	pthread_cond_broadcast(&l->ran);
	pthread_mutex_unlock(&l->lock);
	return NULL;
}

static void lane_init(struct lane *l, struct fsops_inval *q, size_t max,
		      void (*run)(struct fsops_inval *, const struct note *))
{
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->cond, NULL);
	pthread_cond_init(&l->ran, NULL);
	l->q = q;
	l->max = max;
	l->run = run;
}

struct fsops_inval *fsops_inval_new(struct inode_table *inodes)
{
	struct fsops_inval *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	q->inodes = inodes;
	lane_init(&q->inval, q, INVAL_MAX, inval_one);
	lane_init(&q->prime, q, PRIME_MAX, prime_one);
	return q;
}

static int lane_start(struct lane *l)
{
	int rc = pthread_create(&l->thread, NULL, lane_main, l);

	if (rc)
		return -rc;
	pthread_mutex_lock(&l->lock);
	l->running = 1;
	pthread_mutex_unlock(&l->lock);
	return 0;
}

int fsops_inval_start(struct fsops_inval *q, struct fuse_session *se, struct tree *tree)
{
	int rc;

	q->se = se;
	q->tree = tree;
	rc = lane_start(&q->inval);
	/* Without a priming thread files are read through the daemon, as without -o prime. */
	if (rc == 0 && tree && lane_start(&q->prime) != 0)
		log_msg(LOG_WARN, "no priming thread: each file's first read asks the daemon");
	return rc;
}

/* Queues a note for path; files (nfiles names, may be NULL) is taken over, freed when the note
 * is dropped. Returns the note's sequence number (lane_wait), or 0 when it was dropped; *ahead
 * (may be NULL) gets how many notes were queued or running before it. */
static uint64_t enqueue(struct lane *l, const char *path, enum note_kind kind, char *files,
			size_t nfiles, size_t *ahead)
{
	size_t len = strlen(path);
	struct note *n;
	uint64_t seq;

	pthread_mutex_lock(&l->lock);
	if (!l->running || l->count >= l->max) {
		pthread_mutex_unlock(&l->lock);
		free(files);
		return 0;
	}
	pthread_mutex_unlock(&l->lock);
	n = malloc(sizeof(*n) + len + 1);
	if (!n) {
		free(files);
		return 0;
	}
	memcpy(n->path, path, len + 1);
	n->kind = kind;
	n->files = files;
	n->nfiles = nfiles;
	n->next = NULL;
	pthread_mutex_lock(&l->lock);
	if (l->tail)
		l->tail->next = n;
	else
		l->head = n;
	l->tail = n;
	if (ahead)
		*ahead = (size_t)(l->queued - l->done);
	l->count++;
	seq = ++l->queued;
	pthread_cond_signal(&l->cond);
	pthread_mutex_unlock(&l->lock);
	return seq;
}

static void deadline_in(struct timespec *until, double seconds)
{
	clock_gettime(CLOCK_REALTIME, until);
	until->tv_sec += (time_t)seconds;
	until->tv_nsec += (long)((seconds - (double)(time_t)seconds) * 1e9);
	if (until->tv_nsec >= 1000000000L) {
		until->tv_sec++;
		until->tv_nsec -= 1000000000L;
	}
}

/* Waits until note seq (and every note before it) has run, at most seconds. Returns 0 (also
 * when the lane stopped), or -ETIMEDOUT. */
static int lane_wait(struct lane *l, uint64_t seq, double seconds)
{
	struct timespec until;
	int rc = 0;

	deadline_in(&until, seconds);
	pthread_mutex_lock(&l->lock);
	while (l->running && l->done < seq && rc == 0)
		rc = pthread_cond_timedwait(&l->ran, &l->lock, &until);
	pthread_mutex_unlock(&l->lock);
	return rc ? -ETIMEDOUT : 0;
}

void fsops_invalidate(void *q, const char *path)
{
	enqueue(&((struct fsops_inval *)q)->inval, path, NOTE_ENTRY, NULL, 0, NULL);
}

void fsops_invalidate_listing(void *q, const char *path)
{
	enqueue(&((struct fsops_inval *)q)->inval, path, NOTE_LISTING, NULL, 0, NULL);
}

static void fsops_prime(struct fsops_inval *q, const char *dir, char *files, size_t nfiles)
{
	size_t ahead = 0;
	uint64_t seq;

	if (!q) {
		free(files);
		return;
	}
	seq = enqueue(&q->prime, dir, NOTE_PRIME, files, nfiles, &ahead);

	/* Behind a backlog (many walkers, or a priming stuck waiting for a fetch) waiting would
	 * only slow the walker down: its files are then read through the daemon if it gets
	 * there first. */
	if (seq && ahead <= PRIME_WAIT_AHEAD)
		lane_wait(&q->prime, seq, PRIME_WAIT);
}

static int fsops_inval_drain(struct fsops_inval *q, double timeout)
{
	uint64_t last;

	if (!q)
		return 0;
	pthread_mutex_lock(&q->inval.lock);
	last = q->inval.queued;
	pthread_mutex_unlock(&q->inval.lock);
	return lane_wait(&q->inval, last, timeout);
}

static void lane_stop(struct lane *l)
{
	int running;

	pthread_mutex_lock(&l->lock);
	l->stop = 1;
	running = l->running;
	l->running = 0;
	pthread_cond_signal(&l->cond);
	pthread_cond_broadcast(&l->ran);
	pthread_mutex_unlock(&l->lock);
	if (running)
		pthread_join(l->thread, NULL);
}

void fsops_inval_stop(struct fsops_inval *q)
{
	if (!q)
		return;
	lane_stop(&q->prime);
	lane_stop(&q->inval);
}

static void lane_free(struct lane *l)
{
	struct note *n, *next;

	for (n = l->head; n; n = next) {
		next = n->next;
		free(n->files);
		free(n);
	}
	pthread_cond_destroy(&l->cond);
	pthread_cond_destroy(&l->ran);
	pthread_mutex_destroy(&l->lock);
}

void fsops_inval_free(struct fsops_inval *q)
{
	if (!q)
		return;
	fsops_inval_stop(q);
	lane_free(&q->prime);
	lane_free(&q->inval);
	free(q);
}
