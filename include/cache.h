/* cache: a TTL cache of reference-counted values keyed by canonical query, with single-flight
 * fetches and an injected clock. No FUSE, no network: the fetch is a callback. */
#ifndef DSWFS_CACHE_H
#define DSWFS_CACHE_H

#include <stddef.h>

#include "err.h"

struct cache_ops {
	/* Produces the value for key. Runs without any cache lock held, in the thread of the first
	 * caller that needed it. arg is cache_get's. Returns 0 and *value (one reference, handed to
	 * the cache) or -errno with *err filled. */
	int (*fetch)(void *ctx, const char *key, const void *arg, void **value,
		     struct err_info *err);
	void (*ref)(void *value);
	void (*unref)(void *value);
	/* Monotonic seconds. Tests pass a fake clock. */
	double (*now)(void *ctx);
};

struct cache_config {
	double ttl;		/* seconds a value is served without asking again */
	size_t max_entries;	/* 0 = unlimited; least recently used evicted first */
};

struct cache;

/* Returns 0 and *out (free with cache_free), -EINVAL, -ENOMEM. ops is copied; ctx is borrowed. */
int cache_new(const struct cache_config *cfg, const struct cache_ops *ops, void *ctx,
	      struct cache **out);

/* A referenced value for key (the caller unrefs it). Fresh: returned at once (a hit). Missing or
 * expired: fetched once, however many threads ask at the same moment; the others wait for that
 * fetch and share its result, success or error. *age (may be NULL) gets the value's age in
 * seconds. Returns 0, or the fetch's -errno with *err filled (nothing is cached on error). */
int cache_get(struct cache *c, const char *key, const void *arg, void **value, double *age,
	      struct err_info *err);

/* A referenced value for key only if one is cached and fresh, without fetching; -ENOENT
 * otherwise. Used to answer from what is already known. */
int cache_peek(struct cache *c, const char *key, void **value, double *age);

/* Drops every cached value (readers holding references keep theirs). Fetches under way finish
 * but their results are not kept beyond the callers waiting for them. */
void cache_drop_all(struct cache *c);

size_t cache_entries(struct cache *c);

/* Frees everything; no call may be in progress. */
void cache_free(struct cache *c);

#endif
