/* fsops: the FUSE callbacks, a thin layer mapping libfuse's calls onto the tree module. */
#ifndef DSWFS_FSOPS_H
#define DSWFS_FSOPS_H

#include <fuse.h>

struct tree;

/* What the callbacks need; passed as fuse_new's private data. */
struct fsops_ctx {
	struct tree *tree;
	double ttl;	/* kernel entry/attr/negative timeouts follow the cache's TTL */
};

/* The operations table (static storage). */
const struct fuse_operations *fsops_operations(void);

#endif
