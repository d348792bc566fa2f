/* fsops: the FUSE callbacks, each a few lines over tree_*: everything outside .dswfs is read-only. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsops.h"
#include "stats.h"
#include "tree.h"

static struct fsops_ctx *ctx_get(void)
{
	return fuse_get_context()->private_data;
}

static void to_stat(const struct tree_attr *a, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	switch (a->type) {
	case TREE_DIR: st->st_mode = S_IFDIR; break;
	case TREE_LINK: st->st_mode = S_IFLNK; break;
	default: st->st_mode = S_IFREG; break;
	}
	st->st_mode |= a->mode;
	/* 1 tells find(1) the subdirectory count is unknown, so it never skips one. */
	st->st_nlink = 1;
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_size = a->size;
	st->st_blksize = 4096;
	st->st_blocks = (a->size + 511) / 512;
	st->st_mtime = a->mtime;
	st->st_atime = a->mtime;
	st->st_ctime = a->ctime;
}

static void *op_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	struct fsops_ctx *c = ctx_get();

	(void)conn;
	cfg->entry_timeout = c->ttl;
	cfg->attr_timeout = c->ttl;
	/* Negative entries cannot be invalidated through the path API, so a new instance (or
	 * one that appears after a refresh) must not hide behind one; a failed lookup costs the
	 * daemon a hash lookup, never a request. */
	cfg->negative_timeout = 0;
	cfg->use_ino = 0;
	cfg->kernel_cache = 0;
	return c;
}

static int op_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct tree_attr a;
	int rc;

	(void)fi;
	rc = tree_getattr(ctx_get()->tree, path, &a);
	if (rc == 0)
		to_stat(&a, st);
	return rc;
}

struct fill_ctx {
	void *buf;
	fuse_fill_dir_t filler;
	enum fuse_readdir_flags flags;
};

static int fill_one(void *p, const char *name, const struct tree_attr *a)
{
	struct fill_ctx *f = p;
	struct stat st;

	if (a && (f->flags & FUSE_READDIR_PLUS)) {
		to_stat(a, &st);
		return f->filler(f->buf, name, &st, 0, FUSE_FILL_DIR_PLUS);
	}
	return f->filler(f->buf, name, NULL, 0, 0);
}

static int op_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct fill_ctx f = { buf, filler, flags };

	(void)off; (void)fi;
	filler(buf, ".", NULL, 0, 0);
	filler(buf, "..", NULL, 0, 0);
	return tree_readdir(ctx_get()->tree, path, fill_one, &f);
}

/* Whether the caller may write a writable path (.dswfs/refresh): only the mounting user (the
 * daemon's own uid, which also owns every file) and root. With allow_other, anyone else could
 * otherwise make the daemon drop its cache and refetch at will. Checked at every step
 * (open, truncate, write) rather than trusting an earlier check on a passed-on descriptor.
 * Returns 0, or -EROFS / -ENOENT for paths that are not writable at all, before -EACCES. */
static int may_write(const char *path)
{
	int rc = tree_writable(ctx_get()->tree, path);
	uid_t uid = fuse_get_context()->uid;

	if (rc)
		return rc;
	return uid == 0 || uid == getuid() ? 0 : -EACCES;
}

static int op_open(const char *path, struct fuse_file_info *fi)
{
	struct tree *t = ctx_get()->tree;
	struct tree_file *f;
	int rc;

	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		rc = may_write(path);
		if (rc)
			return rc;
		/* Each write() asks for a refresh (op_write), so a writer looping on one descriptor
		 * is coalesced like one reopening the file. */
		fi->fh = 0;
		fi->direct_io = 1;
		return 0;
	}
	rc = tree_open(t, path, &f);
	if (rc)
		return rc;
	fi->fh = (uint64_t)(uintptr_t)f;
	/* Reads come from the bytes pinned at open, never from a page cache that may hold an
	 * older snapshot's bytes. */
	fi->direct_io = 1;
	fi->keep_cache = 0;
	return 0;
}

static int op_read(const char *path, char *buf, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	struct tree_file *f = (struct tree_file *)(uintptr_t)fi->fh;
	size_t n;

	(void)path;
	if (!f)
		return 0;
	n = tree_read(f, buf, size, off);
	stats_add(STATS_FS_READS, 1);
	stats_add(STATS_FS_BYTES_READ, (int64_t)n);
	return (int)n;
}

static int op_release(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	tree_close((struct tree_file *)(uintptr_t)fi->fh);
	return 0;
}

static int op_write(const char *path, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	int rc;

	(void)buf; (void)off; (void)fi;
	rc = may_write(path);
	if (rc)
		return rc;
	/* Returns once the refresh answering this write has completed, or with its error. */
	rc = tree_write(ctx_get()->tree, path);
	return rc ? rc : (int)size;
}

static int op_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	(void)size; (void)fi;
	return may_write(path);
}

static int op_readlink(const char *path, char *buf, size_t size)
{
	return tree_readlink(ctx_get()->tree, path, buf, size);
}

static int op_statfs(const char *path, struct statvfs *sv)
{
	(void)path;
	memset(sv, 0, sizeof(*sv));
	sv->f_bsize = 4096;
	sv->f_frsize = 4096;
	sv->f_namemax = 255;
	sv->f_flag = ST_RDONLY | ST_NOSUID | ST_NODEV;
	return 0;
}

static int op_rofs_path(const char *path)
{
	(void)path;
	return -EROFS;
}

static int op_mkdir(const char *path, mode_t mode)
{
	(void)mode;
	return op_rofs_path(path);
}

static int op_mknod(const char *path, mode_t mode, dev_t dev)
{
	(void)mode; (void)dev;
	return op_rofs_path(path);
}

static int op_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	(void)mode; (void)fi;
	return op_rofs_path(path);
}

static int op_two_paths(const char *from, const char *to)
{
	(void)from; (void)to;
	return -EROFS;
}

static int op_rename(const char *from, const char *to, unsigned int flags)
{
	(void)flags;
	return op_two_paths(from, to);
}

static int op_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	(void)mode; (void)fi;
	return op_rofs_path(path);
}

static int op_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	(void)uid; (void)gid; (void)fi;
	return op_rofs_path(path);
}

static int op_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	(void)tv; (void)fi;
	return op_rofs_path(path);
}

static int op_setxattr(const char *path, const char *name, const char *value, size_t size,
		       int flags)
{
	(void)name; (void)value; (void)size; (void)flags;
	return op_rofs_path(path);
}

static int op_removexattr(const char *path, const char *name)
{
	(void)name;
	return op_rofs_path(path);
}

static const struct fuse_operations ops = {
	.init = op_init,
	.getattr = op_getattr,
	.readdir = op_readdir,
	.open = op_open,
	.read = op_read,
	.release = op_release,
	.write = op_write,
	.truncate = op_truncate,
	.readlink = op_readlink,
	.statfs = op_statfs,
	.mkdir = op_mkdir,
	.mknod = op_mknod,
	.create = op_create,
	.unlink = op_rofs_path,
	.rmdir = op_rofs_path,
	.symlink = op_two_paths,
	.link = op_two_paths,
	.rename = op_rename,
	.chmod = op_chmod,
	.chown = op_chown,
	.utimens = op_utimens,
	.setxattr = op_setxattr,
	.removexattr = op_removexattr,
};

const struct fuse_operations *fsops_operations(void)
{
	return &ops;
}

#define INVAL_MAX 1000000

struct inval_item {
	struct inval_item *next;
	char path[];
};

struct fsops_inval {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct inval_item *head, *tail;
	size_t count;
	struct fuse *fuse;
	pthread_t thread;
	int running, stop;
};

struct fsops_inval *fsops_inval_new(void)
{
	struct fsops_inval *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
	return q;
}

static void *inval_main(void *arg)
{
	struct fsops_inval *q = arg;
	struct inval_item *it;

	pthread_mutex_lock(&q->lock);
	for (;;) {
		while (!q->head && !q->stop)
			pthread_cond_wait(&q->cond, &q->lock);
		if (q->stop)
			break;
		it = q->head;
		q->head = it->next;
		if (!q->head)
			q->tail = NULL;
		q->count--;
		pthread_mutex_unlock(&q->lock);
		/* -ENOENT means the kernel never saw the path: nothing to invalidate. */
		fuse_invalidate_path(q->fuse, it->path);
		free(it);
		pthread_mutex_lock(&q->lock);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

int fsops_inval_start(struct fsops_inval *q, struct fuse *f)
{
	int rc;

	q->fuse = f;
	rc = pthread_create(&q->thread, NULL, inval_main, q);
	if (rc)
		return -rc;
	pthread_mutex_lock(&q->lock);
	q->running = 1;
	pthread_mutex_unlock(&q->lock);
	return 0;
}

void fsops_invalidate(void *arg, const char *path)
{
	struct fsops_inval *q = arg;
	size_t len = strlen(path);
	struct inval_item *it;

	pthread_mutex_lock(&q->lock);
	if (!q->running || q->count >= INVAL_MAX) {
		pthread_mutex_unlock(&q->lock);
		return;
	}
	pthread_mutex_unlock(&q->lock);
	it = malloc(sizeof(*it) + len + 1);
	if (!it)
		return;
	memcpy(it->path, path, len + 1);
	it->next = NULL;
	pthread_mutex_lock(&q->lock);
	if (q->tail)
		q->tail->next = it;
	else
		q->head = it;
	q->tail = it;
	q->count++;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

void fsops_inval_stop(struct fsops_inval *q)
{
	int running;

	if (!q)
		return;
	pthread_mutex_lock(&q->lock);
	q->stop = 1;
	running = q->running;
	q->running = 0;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
	if (running)
		pthread_join(q->thread, NULL);
}

void fsops_inval_free(struct fsops_inval *q)
{
	struct inval_item *it, *next;

	if (!q)
		return;
	fsops_inval_stop(q);
	for (it = q->head; it; it = next) {
		next = it->next;
		free(it);
	}
	pthread_cond_destroy(&q->cond);
	pthread_mutex_destroy(&q->lock);
	free(q);
}
