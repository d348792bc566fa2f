/* cache: a TTL cache of reference-counted values keyed by canonical query, with single-flight
 * fetches, stale-while-revalidate, stale-on-error and an injected clock. No FUSE, no network:
 * the fetch is a callback. */
#ifndef DSWFS_CACHE_H
#define DSWFS_CACHE_H

#include <stddef.h>

#include "err.h"

struct cancel;

/* At most this many background fetches run at once (one thread each, started on demand and
 * kept until cache_free); more wait their turn in order, so a burst of expiring keys cannot
 * become a burst of concurrent API requests. */
#define CACHE_BG_THREADS 4

struct cache_ops {
	/* Produces the value for key. Runs without any cache lock held, either in the thread of
	 * the first caller that needed it (cache_get's arg) or in a background thread (a copy of
	 * the arg made with arg_dup). Returns 0 and *value (one reference, handed to the cache) or
	 * -errno with *err filled. */
	int (*fetch)(void *ctx, const char *key, const void *arg, void **value,
		     struct err_info *err);
	void (*ref)(void *value);
	void (*unref)(void *value);
	/* Monotonic seconds. Tests pass a fake clock. */
	double (*now)(void *ctx);
	/* Optional (may be NULL). Called without locks after a successful fetch replaced a value
	 * the cache held for key (fresh or stale); old_value and new_value are both valid for the
	 * duration of the call only. Not called for a key fetched while it held no value (first
	 * fetch, or after cache_drop_all, eviction or expiry dropped it: see dropped). Runs in the thread that did the
	 * fetch: a cache_get caller or a background thread; calls for one key are not
	 * serialised against each other. */
	void (*replaced)(void *ctx, const char *key, void *old_value, void *new_value);
	/* Optional (may be NULL). Called without locks, just before the cache lets go of a value
	 * it held for key without a replacement: cache_drop_all, eviction, expiry past every
	 * stale limit, an error past max_stale. The value is valid for the duration of the call.
	 * Not called from cache_free. Together with replaced, it tells of every value that stops
	 * being served. */
	void (*dropped)(void *ctx, const char *key, void *old_value);
	/* Optional pair: background fetches outlive the call that started them, so they get a
	 * copy of its arg made by arg_dup (NULL means out of memory; never called for a NULL arg)
	 * and released with arg_free after the fetch. Both or neither must be set; without them a
	 * background fetch gets the very pointer the caller passed, which must then stay valid
	 * until cache_free (e.g. NULL). */
	void *(*arg_dup)(const void *arg);
	void (*arg_free)(void *arg);
	/* Optional (NULL = values are only counted, max_bytes must be 0): the bytes value holds
	 * now. Called with the cache lock held, like ref, so it must be cheap and must not call
	 * the cache. A value may grow after it is stored (a snapshot renders lazily), so sizes
	 * are measured again: every held value whenever a fetch stores one, and a value each time
	 * it is served (cache_get, cache_peek). Growth that happens after a value was served is
	 * therefore seen at its next serve or at the next store, whichever comes first. */
	size_t (*size)(const void *value);
	/* Optional (may be NULL): the now() time a freshly fetched value's data was really fetched,
	 * when it was made from an older value (a narrowed answer carries its base's time). The
	 * value's age counts from there (never from later than the fetch). A value already
	 * older than ttl when fetched (a shared cache's last good answer while the API fails) is
	 * kept as after a failed refresh: served at once while younger than max_stale, fetched
	 * again only after the back-off. */
	double (*stamp)(void *ctx, const void *value);
};

/* Ages are seconds since the value was fetched. With grace and max_stale 0 the cache behaves
 * as a plain TTL cache whose callers wait for every refetch. */
struct cache_config {
	double ttl;		/* seconds a value is served without asking again */
	size_t max_entries;	/* 0 = unlimited; least recently used evicted first */
	/* Stale-while-revalidate: a value aged in [ttl, ttl + grace) is returned at once while one
	 * background fetch replaces it. Past ttl + grace callers wait for the refetch. */
	double grace;
	/* Stale-on-error, 0 = off: when a refresh fails, the last good value is kept and served
	 * while its age is below max_stale (a total age, so only values above ttl matter). After a
	 * failure the key is not fetched again for a back-off of min(ttl, 1 s), doubling after
	 * each further failure up to ttl; meanwhile, and while the retry runs in the background,
	 * callers get the old value at once. A success ends the back-off. */
	double max_stale;
	/* 0 = unlimited. After a value is stored, and after a served value is found to have grown,
	 * least recently used values are evicted (told to dropped, counted in
	 * STATS_CACHE_EVICTIONS) until the bytes held are at most max_bytes. Never evicted for
	 * it: the value just stored or served, even when it alone exceeds max_bytes (a caller is
	 * being answered with it; it goes when something newer is stored), and values whose key
	 * has a fetch under way. max_entries applies as well; whichever is stricter wins. */
	size_t max_bytes;
	/* 0 = off. A fetch failing for a key holding no value (or only one too old ever to be
	 * served again, which is then let go) is remembered: for a back-off of
	 * min(ttl, 1 s), doubling after each further failure in a row up to min(ttl,
	 * fail_memory), callers get the same error at once (-errno, *err copied, its message
	 * saying it is a remembered failure and when it happened) instead of another fetch; the
	 * first caller after the back-off fetches again, and a success forgets it. Keys holding a
	 * value keep the stale-on-error rules above. -ECANCELED and -ENOMEM are never remembered;
	 * a remembered failure is forgotten fail_memory seconds after its back-off ended. */
	double fail_memory;
	/* 0 = wait as long as the fetch takes. Otherwise a caller that must wait for a fetch
	 * (its own or one under way) gives up wait_timeout seconds after it called, with
	 * -ETIMEDOUT and *err saying the fetch goes on; the fetch does, and its result is cached
	 * for the next caller. The caller's own fetch then runs in a thread of its own, so the
	 * caller's thread never waits past the deadline. */
	double wait_timeout;
};

struct cache;

/* Returns 0 and *out (free with cache_free), -EINVAL, -ENOMEM. ops is copied; ctx is borrowed
 * and ops may be called with it (from background threads too) until cache_free returns.
 * -EINVAL for a missing fetch/ref/unref/now, only one of arg_dup/arg_free, a negative
 * ttl, grace, max_stale, fail_memory or wait_timeout, or max_bytes without size. */
int cache_new(const struct cache_config *cfg, const struct cache_ops *ops, void *ctx,
	      struct cache **out);

/* A referenced value for key (the caller unrefs it). *age (may be NULL) gets its age.
 * - Fresh (age < ttl): returned at once (STATS_CACHE_HITS).
 * - Stale within grace (age < ttl + grace), or within max_stale while the key's last refresh
 *   failed: returned at once (STATS_CACHE_STALE_SERVES); one background fetch is started
 *   (STATS_CACHE_REFRESHES) unless one is under way or the back-off is running.
 * - Otherwise (no value, or too old) a miss (STATS_CACHE_MISSES): fetched once, however many
 *   threads ask at the same moment (a background fetch under way counts); the others wait for
 *   that fetch and share its result. If it fails and the key still holds a value younger than
 *   max_stale, that value is returned with 0 (also counted as a stale serve) and *err
 *   describes the failure; else the fetch's -errno with *err filled. Without fail_memory errors
 *   are never cached: a key with no value is fetched again by the next caller, without
 *   back-off; with it, see fail_memory.
 * - With wait_timeout, a caller that waited that long: -ETIMEDOUT (see wait_timeout).
 * On other successes *err is left alone. -ENOMEM with *err filled when memory runs out. */
int cache_get(struct cache *c, const char *key, const void *arg, void **value, double *age,
	      struct err_info *err);

/* Wakes every caller waiting for a fetch so it reads the clock again: for a fake clock that
 * was just moved forward (tests); with a real one deadlines are kept without it. */
void cache_clock_advanced(struct cache *c);

/* A referenced value for key only if one is cached and fresh, without fetching; -ENOENT
 * otherwise. Used to answer from what is already known. */
int cache_peek(struct cache *c, const char *key, void **value, double *age);

/* A referenced value for key if one is held, fresh or stale, younger than max_age; -ENOENT
 * otherwise. Fetches nothing and counts nothing: for answering from stale data during an
 * outage. */
int cache_peek_stale(struct cache *c, const char *key, double max_age, void **value, double *age);

/* Starts a background fetch for key (arg as for cache_get, copied with arg_dup) unless a fresh
 * value is cached, a fetch is under way, or the key's back-off runs: -EALREADY then. Callers of
 * cache_get arriving meanwhile wait for it as for any fetch. Counted in STATS_CACHE_REFRESHES.
 * Returns 0 once it is queued (its own failure is reported only through the fetch callback),
 * -ENOMEM, or -EAGAIN when no thread could be started. */
int cache_prefetch(struct cache *c, const char *key, const void *arg);

/* Drops every cached value (readers holding references keep theirs). Fetches under way,
 * background ones included, finish but their results are not kept beyond the callers waiting
 * for them; background fetches still queued are skipped when nobody waits for them. */
void cache_drop_all(struct cache *c);

/* Values held now (also kept in the STATS_CACHE_ENTRIES gauge). */
size_t cache_entries(struct cache *c);

/* Bytes held now by the values, as last measured with ops->size (0 without it; also kept in the
 * STATS_CACHE_BYTES gauge). */
size_t cache_bytes(struct cache *c);

/* Age in seconds of the oldest value held now (stale ones included); 0 when there is none. */
double cache_oldest_age(struct cache *c);

/* Blocks until no background fetch is queued or running, replaced callbacks included (for
 * tests, and for callers wanting the refreshes they caused to land). Background fetches
 * started meanwhile are waited for too. */
void cache_wait_background(struct cache *c);

/* Frees everything; no call may be in progress. Waits for background fetches already running
 * to finish (their fetch, replaced and unref callbacks run before it returns); queued ones that
 * have not started are cancelled without calling fetch. */
void cache_free(struct cache *c);

/* cache_peek without counting a use: the LRU order and the hit counter stay as they are (the
 * kernel asking for a directory's attributes is no use of its answer). */
int cache_peek_quiet(struct cache *c, const char *key, void **value, double *age);

/* cache_get for a caller that may stop waiting (cancel.h; in the mount, a request the kernel
 * interrupted). When cancel (NULL = never) has fired before the caller would have to wait for
 * a fetch, or fires while it waits: -EINTR, *err saying so. A caller cancelled before it waits
 * neither starts nor joins a fetch; one cancelled while waiting leaves, and the fetch goes on
 * for the other waiters and is cached as any other (the next caller gets it without asking
 * the API again). Answers that need no wait are given as by cache_get, fired or not. The
 * caller's own fetch runs in a thread of its own (as with wait_timeout), so leaving never
 * waits for it. cancel is borrowed for the call and watched with cancel_watch meanwhile; the
 * caller must not hold a lock its wake-up takes. */
int cache_get_cancellable(struct cache *c, const char *key, const void *arg,
			  struct cancel *cancel, void **value, double *age,
			  struct err_info *err);

#endif
