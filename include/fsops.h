/* fsops: the FUSE callbacks, a thin layer mapping libfuse's calls onto the tree module. */
#ifndef DSWFS_FSOPS_H
#define DSWFS_FSOPS_H

#include <fuse.h>

struct tree;

struct fsops_inval;

/* What the callbacks need; passed as fuse_new's private data. */
struct fsops_ctx {
	struct tree *tree;
	double ttl;	/* kernel entry/attr timeouts follow the cache's TTL */
	struct fsops_inval *inval;
};

/* The operations table (static storage). */
const struct fuse_operations *fsops_operations(void);

/* A queue of paths whose kernel caches must be invalidated, drained by its own thread: the
 * kernel may wait on FUSE requests while handling an invalidation, so it is never done from a
 * request's thread. Returns NULL on ENOMEM. Free with fsops_inval_stop. */
struct fsops_inval *fsops_inval_new(void);

/* Starts draining into f's kernel caches. Returns 0 or -errno. */
int fsops_inval_start(struct fsops_inval *q, struct fuse *f);

/* Queues path (copied); a tree_config invalidate callback. Paths queued before start or after
 * the queue is full (it is bounded) are dropped: their kernel entries age out with the TTL. */
void fsops_invalidate(void *q, const char *path);

/* Stops the thread before the session goes away; later paths are dropped. NULL is fine. */
void fsops_inval_stop(struct fsops_inval *q);

/* Frees the queue once nothing can call fsops_invalidate any more. NULL is fine. */
void fsops_inval_free(struct fsops_inval *q);

#endif
