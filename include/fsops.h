/* fsops: the FUSE low-level operations: inode numbers from the inode table, answers from the
 * tree, kernel caching with timeouts and invalidations sent from their own thread. */
#ifndef DSWFS_FSOPS_H
#define DSWFS_FSOPS_H

#include <stdbool.h>
#include <fuse_lowlevel.h>

struct tree;
struct inode_table;
struct fsops_inval;

/* What the operations need; passed as fuse_session_new's userdata. */
struct fsops_ctx {
	struct tree *tree;
	double ttl;			/* attribute timeout of content-addressed .dswfs files */
	struct inode_table *inodes;	/* owned by the caller */
	struct fsops_inval *inval;
	int no_open, no_opendir;	/* set by init: the kernel can do without OPEN(DIR) */
	uid_t uid;			/* set by init: the owner shown for every file */
	gid_t gid;
	bool prime;			/* push listed directories' files into the page cache */
};

/* The operations table (static storage). */
const struct fuse_lowlevel_ops *fsops_operations(void);

/* The kernel notifications: a queue of paths whose kernel caches must be invalidated, drained
 * by its own thread: the kernel may wait on FUSE requests while handling an invalidation, so
 * it is never done from a request's thread. A second queue and thread prime directories the
 * kernel has listed (ctx->prime): their files' bytes are stored in its page cache
 * (notify_store) under the inodes it holds, so a cold walk reads them without a request. Paths are turned into inode numbers there (inodes: borrowed, must outlive
 * the queue): a changed entry becomes an entry invalidation in its parent (the next lookup
 * finds the new inode), a directory an inode invalidation (its cached listing). Returns NULL
 * on ENOMEM. Free with fsops_inval_free. */
struct fsops_inval *fsops_inval_new(struct inode_table *inodes);

/* Starts draining into se's kernel caches; priming reads files from tree (borrowed, must
 * outlive the queue; NULL: no priming). Returns 0 or -errno (no invalidation thread; a
 * priming thread that failed to start is only logged). */
int fsops_inval_start(struct fsops_inval *q, struct fuse_session *se, struct tree *tree);

/* Queues path (copied); a tree_config invalidate callback. Paths queued before start or after
 * the queue is full (it is bounded) are dropped: their kernel entries age out with the TTL. */
void fsops_invalidate(void *q, const char *path);

/* Queues a directory whose listing changed (tree_config invalidate_listing); as above. */
void fsops_invalidate_listing(void *q, const char *path);


/* Stops the thread before the session goes away; later paths are dropped. NULL is fine. */
void fsops_inval_stop(struct fsops_inval *q);

/* Frees the queue once nothing can call fsops_invalidate any more. NULL is fine. */
void fsops_inval_free(struct fsops_inval *q);

#endif
