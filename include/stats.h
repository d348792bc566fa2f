/* stats: process-wide counters behind .dswfs/stats, updated lock-free from any thread. */
#ifndef DSWFS_STATS_H
#define DSWFS_STATS_H

#include <stdint.h>
#include <stddef.h>

enum stats_id {
	STATS_API_REQUESTS,	/* HTTP requests sent to the API (each retry counts) */
	STATS_API_PAGES,	/* ListInstances pages successfully parsed */
	STATS_API_ERRORS,	/* requests that ended in an error (before retry) */
	STATS_API_RETRIES,	/* retries after a retryable error */
	STATS_API_THROTTLED,	/* responses with a Throttling* code */
	STATS_API_BYTES,	/* response body bytes received */
	STATS_QUERIES_FETCHED,	/* complete query fetches (all pages) that succeeded */
	STATS_QUERIES_FAILED,	/* complete query fetches that failed */
	STATS_CACHE_HITS,	/* cache lookups answered by a fresh snapshot */
	STATS_CACHE_MISSES,	/* cache lookups that had to fetch (or wait for a fetch) */
	STATS_CACHE_STALE_SERVES, /* lookups answered by a snapshot past its TTL */
	STATS_CACHE_REFRESHES,	/* background refreshes started */
	STATS_CACHE_EVICTIONS,	/* snapshots evicted to respect the cap */
	STATS_CACHE_ENTRIES,	/* gauge: snapshots held now */
	STATS_CACHE_BYTES,	/* gauge: bytes the held snapshots hold (snap_bytes, last measured) */
	STATS_QUERIES_NARROWED,	/* queries answered by filtering a cached broader answer */
	STATS_FS_READS,		/* read() calls served */
	STATS_FS_BYTES_READ,	/* bytes returned by read() */
	STATS_INSTANCES_SKIPPED,	/* instances left out of fetched answers: no usable or a
					 * repeated InstanceId, or not an object (api.c and
					 * snap.c count disjoint cases; on every fetch) */
	/* refresh (.dswfs/refresh writes and SIGHUP): requests == refreshes + coalesced */
	STATS_REFRESH_REQUESTS,	/* refreshes asked for */
	STATS_REFRESHES,	/* refreshes actually run */
	STATS_REFRESH_COALESCED, /* requests answered by another refresh (joined or recent) */
	STATS_REFRESH_JOINED,	/* of those, requests that joined one in flight */
	STATS_TOTAL_COUNT_LIES,	/* listings whose pages held more than TotalCount announced */
	/* FUSE requests reaching the daemon, per operation (fsops.c); a warm walk sends none */
	STATS_FS_LOOKUP, STATS_FS_FORGET, STATS_FS_GETATTR, STATS_FS_SETATTR, STATS_FS_READLINK,
	STATS_FS_OPEN, STATS_FS_READ, STATS_FS_WRITE, STATS_FS_RELEASE, STATS_FS_OPENDIR,
	STATS_FS_READDIR, STATS_FS_READDIRPLUS, STATS_FS_RELEASEDIR, STATS_FS_STATFS,
	STATS_FS_OTHER,		/* every refused write-side operation (mkdir, rename, ...) */
	STATS_FS_INODES,	/* gauge: inodes the kernel holds (inode table nodes) */
	STATS_FS_STALE,		/* requests on an inode whose version is gone: ESTALE */
	STATS_FS_NOTIFY,	/* kernel cache invalidations sent */
	STATS_FS_PRIMED,	/* files of a listed directory pushed into the page cache */
	STATS_FS_PRIME_MISSED,	/* pushes the kernel refused (it no longer held the inode) */
	STATS_FS_INTERRUPTED,	/* requests the kernel interrupted (Ctrl-C) while they waited
				 * for a fetch: answered EINTR at once */
	/* change feeds (.dswfs/events, .events) */
	STATS_EVENTS,		/* event lines appended to feeds */
	STATS_FEED_POLLS,	/* background refreshes started because a feed is followed (or watch) */
	/* The shared cache level in Redis (shared.c); all 0 without -o shared_cache */
	STATS_SHARED_HITS,	/* answers taken from a valid, fresh shared entry */
	STATS_SHARED_MISSES,	/* lookups that found no usable entry (absent, expired, rejected) */
	STATS_SHARED_LOCK_WAITS, /* lookups that waited for another host's fetch */
	STATS_SHARED_LOCK_TIMEOUTS, /* of those, waits that ended in a fetch of their own */
	STATS_SHARED_FALLBACKS,	/* fetches that went to the API because Redis failed or was down */
	STATS_SHARED_REJECTED,	/* entries that failed authentication or decoding: never served */
	STATS_SHARED_STORES,	/* answers stored for the other hosts */
	STATS_SHARED_STORE_FAILURES, /* answers Redis would not take (full, down, too big) */
	STATS_SHARED_STALE_SERVES, /* stale entries served: another host refreshing, or API down */
	STATS__COUNT
};

void stats_add(enum stats_id id, int64_t n);
void stats_set(enum stats_id id, int64_t v);
int64_t stats_get(enum stats_id id);

/* The name printed in .dswfs/stats, e.g. "api_requests". Static storage. */
const char *stats_name(enum stats_id id);

/* Whether id is a gauge (a level now) rather than a counter (a running total). */
int stats_is_gauge(enum stats_id id);

/* Zeroes every counter (tests only; gauges included). */
void stats_reset(void);

#endif
