/* stats: process-wide counters behind .dswfs/stats, lock-free atomics. */
#include "stats.h"

static int64_t counters[STATS__COUNT];

static const char *const names[STATS__COUNT] = {
	[STATS_API_REQUESTS] = "api_requests",
	[STATS_API_PAGES] = "api_pages",
	[STATS_API_ERRORS] = "api_errors",
	[STATS_API_RETRIES] = "api_retries",
	[STATS_API_THROTTLED] = "api_throttled",
	[STATS_API_BYTES] = "api_bytes",
	[STATS_QUERIES_FETCHED] = "queries_fetched",
	[STATS_QUERIES_FAILED] = "queries_failed",
	[STATS_CACHE_HITS] = "cache_hits",
	[STATS_CACHE_MISSES] = "cache_misses",
	[STATS_CACHE_STALE_SERVES] = "cache_stale_serves",
	[STATS_CACHE_REFRESHES] = "cache_refreshes",
	[STATS_CACHE_EVICTIONS] = "cache_evictions",
	[STATS_CACHE_ENTRIES] = "cache_entries",
	[STATS_CACHE_BYTES] = "cache_bytes",
	[STATS_QUERIES_NARROWED] = "queries_narrowed",
	[STATS_FS_READS] = "fs_reads",
	[STATS_FS_BYTES_READ] = "fs_bytes_read",
	[STATS_INSTANCES_SKIPPED] = "instances_skipped",
	[STATS_REFRESH_REQUESTS] = "refresh_requests",
	[STATS_REFRESHES] = "refreshes",
	[STATS_REFRESH_COALESCED] = "refresh_coalesced",
	[STATS_REFRESH_JOINED] = "refresh_joined",
	[STATS_TOTAL_COUNT_LIES] = "total_count_lies",
	[STATS_FS_LOOKUP] = "fs_lookup", [STATS_FS_FORGET] = "fs_forget",
	[STATS_FS_GETATTR] = "fs_getattr", [STATS_FS_SETATTR] = "fs_setattr",
	[STATS_FS_READLINK] = "fs_readlink", [STATS_FS_OPEN] = "fs_open",
	[STATS_FS_READ] = "fs_read", [STATS_FS_WRITE] = "fs_write",
	[STATS_FS_RELEASE] = "fs_release", [STATS_FS_OPENDIR] = "fs_opendir",
	[STATS_FS_READDIR] = "fs_readdir", [STATS_FS_READDIRPLUS] = "fs_readdirplus",
	[STATS_FS_RELEASEDIR] = "fs_releasedir", [STATS_FS_STATFS] = "fs_statfs",
	[STATS_FS_OTHER] = "fs_other", [STATS_FS_INODES] = "fs_inodes",
	[STATS_FS_STALE] = "fs_stale", [STATS_FS_NOTIFY] = "fs_notify",
	[STATS_FS_PRIMED] = "fs_primed", [STATS_FS_PRIME_MISSED] = "fs_prime_missed",
	[STATS_FS_INTERRUPTED] = "fs_interrupted",
	[STATS_EVENTS] = "events", [STATS_FEED_POLLS] = "feed_polls",
	[STATS_SHARED_HITS] = "shared_hits", [STATS_SHARED_MISSES] = "shared_misses",
	[STATS_SHARED_LOCK_WAITS] = "shared_lock_waits",
	[STATS_SHARED_LOCK_TIMEOUTS] = "shared_lock_timeouts",
	[STATS_SHARED_FALLBACKS] = "shared_fallbacks", [STATS_SHARED_REJECTED] = "shared_rejected",
	[STATS_SHARED_STORES] = "shared_stores",
	[STATS_SHARED_STORE_FAILURES] = "shared_store_failures",
	[STATS_SHARED_STALE_SERVES] = "shared_stale_serves",
};

void stats_add(enum stats_id id, int64_t n)
{
	__atomic_add_fetch(&counters[id], n, __ATOMIC_RELAXED);
}

void stats_set(enum stats_id id, int64_t v)
{
	__atomic_store_n(&counters[id], v, __ATOMIC_RELAXED);
}

int64_t stats_get(enum stats_id id)
{
	return __atomic_load_n(&counters[id], __ATOMIC_RELAXED);
}

const char *stats_name(enum stats_id id)
{
	return names[id];
}

int stats_is_gauge(enum stats_id id)
{
	return id == STATS_CACHE_ENTRIES || id == STATS_CACHE_BYTES || id == STATS_FS_INODES;
}

void stats_reset(void)
{
	for (int i = 0; i < STATS__COUNT; i++)
		stats_set((enum stats_id)i, 0);
}
