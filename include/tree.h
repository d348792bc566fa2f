/* tree: the mount's namespace: paths to directories, files and links built from cached
 * snapshots. No FUSE here, so it is tested directly; fsops.c is a thin layer over it. */
#ifndef DSWFS_TREE_H
#define DSWFS_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include <cjson/cJSON.h>

#include "err.h"
#include "sign.h"

/* Produces the instances of one query as a JSON array (ownership passes to the caller), or
 * -errno with *err filled. The API client in production, a fake in tests. A success may leave
 * a warning in err->message (a complete answer the server made hard to get, e.g. instances
 * without an id left out): it is recorded for .dswfs/last_error. */
struct query;
struct snap;

typedef int (*tree_fetch_fn)(void *ctx, const struct sign_kv *params, size_t nparams,
			     cJSON **instances, struct err_info *err);

/* tree_fetch_fn for answers that may be older than the call: *age is how many seconds ago the
 * answer was really fetched (a shared cache's entry), counted in its TTL. */
typedef int (*tree_fetch_aged_fn)(void *ctx, const struct sign_kv *params, size_t nparams,
				  cJSON **instances, double *age, struct err_info *err);

struct tree_config {
	const char *workspace_id;	/* base query */
	const char *resource_id;
	double ttl;
	size_t max_snapshots;
	size_t max_bytes;		/* cap on the cached snapshots' snap_bytes; 0 = none */
	bool show_secrets;
	tree_fetch_fn fetch;
	void *fetch_ctx;
	double (*now)(void *ctx);	/* monotonic clock for the cache; NULL = CLOCK_MONOTONIC */
	void *now_ctx;
	double grace;			/* stale-while-revalidate window past ttl (cache.h) */
	double max_stale;		/* stale-on-error limit (cache.h); 0 = off */
	/* Told each path whose kernel-cached attributes or contents may have changed, after a
	 * refresh replaced a snapshot (NULL = nobody to tell). Called from the thread that did
	 * the fetch, without tree locks; it must not block on FUSE requests. */
	void (*invalidate)(void *ctx, const char *path);
	void *invalidate_ctx;
	/* Told each directory whose listing may have changed (query directories, by-name,
	 * workspaces), with the same context; its entry itself stays valid. NULL: invalidate is
	 * told instead. */
	void (*invalidate_listing)(void *ctx, const char *path);
	/* A refresh asked within this many seconds of the last completed one is answered by it
	 * (refresh.h); 0 = every request refreshes unless one is in flight. */
	double refresh_min_interval;
	/* Where last_error and config live (borrowed; must outlive the tree). NULL: the tree
	 * keeps its own (tests). */
	struct ctl *ctl;
	/* A reader waiting for a fetch gives up after this many seconds with ETIMEDOUT, the fetch
	 * going on for the next reader (cache.h wait_timeout); 0 = waits as long as it takes. */
	double wait_timeout;
	/* Change feeds (feed.h): the region named in event lines (NULL = ""), each feed's
	 * retention in bytes (0 = TREE_EVENTS_DEFAULT_KB KiB), and whether instances/ is refreshed in
	 * the background every TTL even when no feed is followed (-o watch). NULL feed_region:
	 * region below, else "". */
	const char *feed_region;
	size_t events_max_bytes;
	bool watch;
	/* Optional: used instead of fetch (with fetch_ctx) when set; fetch must still be set. */
	tree_fetch_aged_fn fetch_aged;

	/* Multi-region mounts (multi.h). NULL/0/false: a one-region mount, as before. */
	/* The one region of several this tree shows: each instance directory has a hidden
	 * lookup-only .region file with it, and its failures name it in last_error's query. */
	const char *region;
	/* Shown below another tree (regions/<id>/): no .dswfs of its own. */
	bool sub;
	/* Used instead of fetch (which may then be NULL): a whole snapshot for q (the regions'
	 * answers merged), with fetch_ctx; its stamp set by the callee. Returns 0 and *out (one
	 * reference), or -errno with *err filled. */
	int (*fetch_snap)(void *ctx, const struct query *q, struct snap **out,
			  struct err_info *err);
	/* Extra .dswfs/stats lines (caller frees; NULL = none), with fetch_ctx. */
	char *(*stats_extra)(void *ctx);
	/* regions/<sub_names[i]>/ shows subs[i] (borrowed; they must outlive this tree). */
	struct tree *const *subs;
	const char *const *sub_names;
	size_t nsubs;
};

/* Default retention of one feed (-o events_max_kb). */
#define TREE_EVENTS_DEFAULT_KB 1024

struct tree;
struct ctl;

/* q's answer through t's cache (the same entry t's own paths use), waiting as long as the
 * fetch takes: for a tree merging other trees' answers. Returns 0 with *s (snap_unref) and
 * *age (may be NULL); *err then describes a failure the answer was kept through (stale on
 * error), or is cleared. Or -errno with *err filled. */
int tree_get_query(struct tree *t, const struct query *q, struct snap **s, double *age,
		   struct err_info *err);

/* t's TTL (seconds), and the monotonic clock its cache ages answers by (snap stamps). */
double tree_ttl(const struct tree *t);
double tree_clock(struct tree *t);

/* Returns 0 and *out (free with tree_free), -EINVAL, -ENOMEM. */
int tree_new(const struct tree_config *cfg, struct tree **out);
void tree_free(struct tree *t);

enum tree_type { TREE_DIR, TREE_FILE, TREE_LINK };

struct tree_attr {
	enum tree_type type;
	mode_t mode;		/* permission bits */
	off_t size;
	time_t mtime, ctime;
	/* Changes whenever the bytes (file), the target (link) or the listing (dir) may have
	 * changed: the hash of a file's or link's content; the fetch time of the snapshot behind
	 * a directory (0 for directories that need none). The kernel sees a file at a new version
	 * as a new inode (fsops.c). */
	uint64_t version;
	/* Sub-second part of mtime: 1 on a directory whose answer is not fresh, so its mtime
	 * differs from every fresh answer's (whole seconds): the kernel rereads a listing whose
	 * mtime changed. */
	long mtime_nsec;
	/* Seconds the answer behind it stays fresh (ttl - age, >= 0): the kernel's entry and
	 * attribute timeouts. */
	double fresh_for;
	/* The bytes change without a refresh (.dswfs files, .query): fresh_for is 0 and a reader
	 * must take the bytes and the size from one call (tree_open_attr). */
	bool changing;
	/* A change feed (.dswfs/events, .events): one inode whose size only grows (version 0,
	 * fresh_for 0); its bytes are read at their offset with tree_feed_read. */
	bool growing;
};

/* Attributes of path. Returns 0, -ENOENT, or the fetch's -errno (the failure is recorded in
 * last_error). */
int tree_getattr(struct tree *t, const char *path, struct tree_attr *a);

/* Calls fill for each entry of directory path (without "." and ".."); a non-zero return from
 * fill stops the listing. Returns 0, -ENOTDIR, -ENOENT, or the fetch's -errno. */
int tree_readdir(struct tree *t, const char *path,
		 int (*fill)(void *ctx, const char *name, const struct tree_attr *a), void *ctx);

/* An open file's bytes, pinned for as long as it is open so every read sees one version. */
struct tree_file;

/* Returns 0 and *f (release with tree_close), -ENOENT, -EISDIR, the fetch's -errno. */
int tree_open(struct tree *t, const char *path, struct tree_file **f);

/* Copies up to size bytes at off into buf; returns the count (0 at EOF), or -ENOMEM (bytes
 * rendered per read, as instances.json's, may need memory). */
ssize_t tree_read(const struct tree_file *f, char *buf, size_t size, off_t off);
size_t tree_file_size(const struct tree_file *f);
void tree_close(struct tree_file *f);

/* The target of a by-name link into buf. Returns 0, -ENOENT, -EINVAL (not a link), the fetch's
 * -errno. */
int tree_readlink(struct tree *t, const char *path, char *buf, size_t size);

/* A write to path: only .dswfs/refresh accepts it, as tree_refresh; anything else is -EROFS
 * (or -ENOENT when it does not exist). Returns 0 or the refresh's -errno. Who may write is the
 * caller's business (fsops checks the uid). */
int tree_write(struct tree *t, const char *path);

/* Whether path accepts writes (only .dswfs/refresh), without writing: 0, -EROFS, -ENOENT. */
int tree_writable(struct tree *t, const char *path);

/* A refresh: drops every cached snapshot (invalidate hears of everything they showed) and
 * fetches the base query (instances/) again before returning, so a read after it sees the
 * server's current answer. Coalesced (refresh.h): a call while one is in flight waits for that
 * one; a call within refresh_min_interval of the last completed one is answered by it.
 * Returns 0 or the answering refresh's -errno (recorded in last_error by the fetch). */
int tree_refresh(struct tree *t);

/* tree_refresh without waiting (SIGHUP): runs in a thread of the refresh module. Returns 0 or
 * -errno when that thread could not be started. */
int tree_refresh_kick(struct tree *t);

/* Fetches the base query (instances/) now, for -o prefetch. Returns 0 or the fetch's -errno. */
int tree_prefetch(struct tree *t);

/* Blocks until background refreshes (kicked ones included) have landed (tests). */
void tree_settle(struct tree *t);

/* The JSON array path/instances.json would hold, for --query. path is relative to the mount
 * ("workspaces/40823/status/Running"). Caller frees; -ENOENT when path is not a query dir. */
int tree_query_json(struct tree *t, const char *path, char **json, size_t *len,
		    struct err_info *err);

/* Extra "name value" lines for .dswfs/stats (cache size, snapshot bytes). Caller frees. */
char *tree_stats(struct tree *t);

/* tree_getattr that also hands over, for a file whose bytes change without a refresh
 * (a->changing), those bytes (a->size of them, malloc'd, the caller frees) in *data, from the
 * same resolution as *a; *data is NULL for anything else. Returns as tree_getattr. */
int tree_getattr_data(struct tree *t, const char *path, struct tree_attr *a, char **data);

/* tree_open that also fills *a from the same bytes (size and version match *f's bytes even
 * for files that change without a refresh). Returns as tree_open. */
int tree_open_attr(struct tree *t, const char *path, struct tree_attr *a, struct tree_file **f);

struct cancel;

/* Makes k (borrowed; NULL = none) the cancel token of the calling thread's calls into t until
 * it is set again: a call of this thread that must wait for a fetch returns -EINTR as soon as k
 * fires (cache_get_cancellable), the fetch going on for the next reader. fsops sets a FUSE
 * request's token around each operation and clears it (NULL) before freeing it. */
void tree_set_cancel(struct tree *t, struct cancel *k);

/* Reads a change feed's bytes at off (path as for tree_getattr). *n gets the count. Returns 0,
 * -ENOTSUP when path is no feed, -ESTALE when its feed was let go, or a path error. */
int tree_feed_read(struct tree *t, const char *path, char *buf, size_t size, off_t off,
		   size_t *n);

/* Starts the feeds' background polling (after the daemon forked). Returns 0 or -errno. */
int tree_start(struct tree *t);

#endif
