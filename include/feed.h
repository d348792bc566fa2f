/* feed: the mount's change feeds (.dswfs/events and each query directory's .events): one
 * bounded event log per query, fed with every new answer of that query, and the background
 * polling that keeps followed feeds (and, with watch, instances/) current. No FUSE. */
#ifndef DSWFS_FEED_H
#define DSWFS_FEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct snap;
struct query;

/* At most this many feeds exist at once; past it the least recently asked feed nobody
 * follows is let go (a new reader of it starts at offset 0 again). */
#define FEED_MAX 256

struct feed_config {
	double ttl;			/* a feed is followed while asked within 2 * ttl */
	size_t max_bytes;		/* retention of each feed's log (evlog.h) */
	const char *region;		/* for the event lines (copied); NULL = "" */
	double (*now)(void *ctx);	/* monotonic seconds (the cache's clock) */
	void *now_ctx;
	/* Starts a background refresh of key (its query q) unless its answer is fresh or one is
	 * under way; never waits. Returns 0 when one was started. */
	int (*poll)(void *ctx, const char *key, const struct query *q);
	void *poll_ctx;
	/* Always polled (-o watch), followed or not; NULL = none. Both copied. */
	const char *watch_key;
	const struct query *watch_query;
};

struct feed_set;

/* Returns 0 and *out (free with feed_set_free), -EINVAL, -ENOMEM. No thread yet. */
int feed_set_new(const struct feed_config *cfg, struct feed_set **out);

/* Starts the polling thread (after the daemon forked). Returns 0 or -errno. */
int feed_set_start(struct feed_set *fs);

/* Stops the polling thread (if started); feeds still take updates. NULL is fine. */
void feed_set_stop(struct feed_set *fs);

/* feed_set_stop, then frees everything; nothing may call feed_update any more. NULL is fine. */
void feed_set_free(struct feed_set *fs);

/* The feed of key (query q, copied), started with cur (the answer the caller holds: its
 * first events are the differences from it) when there is none (cur NULL: -ENOENT then);
 * counts as being asked.
 * *size gets its size and *mtime (may be NULL) the wall-clock time of its last line (or of
 * its start). Returns 0, -ENOENT, -ENOMEM, -ENOSPC (FEED_MAX feeds, all followed). */
int feed_size(struct feed_set *fs, const char *key, const struct query *q, struct snap *cur,
	      uint64_t *size, time_t *mtime);

/* Reads the feed of key at off (evlog_read); counts as being asked. *n gets the count.
 * Returns 0, or -ENOENT when key has no feed (it was let go). */
int feed_read(struct feed_set *fs, const char *key, uint64_t off, char *buf, size_t size,
	      size_t *n);

/* A new answer s for key: when key has a feed, the differences from the last answer it saw
 * are appended to it (one line each) and s becomes that last answer. Answers older than the
 * last one seen (an earlier fetch finishing later) are ignored. Never waits for a reader. */
void feed_update(struct feed_set *fs, const char *key, struct snap *s);

/* Feeds asked within 2 * ttl now. */
size_t feed_followed(struct feed_set *fs);

/* One round of the polling thread: poll every followed feed's query, and watch_key. Returns
 * how many refreshes were started (also counted in STATS_FEED_POLLS). */
size_t feed_poll_once(struct feed_set *fs);

#endif
