/* refresh: coalesces refresh requests (.dswfs/refresh writes, SIGHUP) so that at most one runs
 * at a time and a request loop cannot multiply API traffic. No FUSE, no network: the refresh
 * itself is a callback and the clock is injected. */
#ifndef DSWFS_REFRESH_H
#define DSWFS_REFRESH_H

#include "err.h"

struct refresh_config {
	/* Does one refresh (drop the cache, refetch). Runs without any refresh lock held, in the
	 * thread of the request that started it or in the module's own thread (refresh_kick).
	 * Returns 0 or -errno with *err filled. */
	int (*run)(void *ctx, struct err_info *err);
	void *run_ctx;
	/* A request arriving less than this many seconds after the last refresh completed is
	 * answered by that refresh (its result) instead of starting another. 0 = never. */
	double min_interval;
	double (*now)(void *ctx);	/* monotonic seconds; NULL = CLOCK_MONOTONIC */
	void *now_ctx;
};

struct refresh;

/* Returns 0 and *out (free with refresh_free), -EINVAL (no run, negative min_interval),
 * -ENOMEM. No thread is started here (the daemon may still fork after this). */
int refresh_new(const struct refresh_config *cfg, struct refresh **out);

/* Asks for a refresh and waits until the one that answers it has completed:
 * - one in flight: joins it (STATS_REFRESH_JOINED and STATS_REFRESH_COALESCED);
 * - the last one completed less than min_interval ago: answered by it, at once
 *   (STATS_REFRESH_COALESCED);
 * - otherwise runs one in this thread (STATS_REFRESHES).
 * Every call counts in STATS_REFRESH_REQUESTS. Returns the answering refresh's result: 0, or
 * its -errno with *err (may be NULL) filled with its failure. */
int refresh_request(struct refresh *r, struct err_info *err);

/* refresh_request without waiting, for a signal thread: the refresh (if one is needed) runs
 * in the module's own thread, started on first use. A kick while one is pending or in flight
 * joins it. Returns 0, or -errno when the thread could not be started (nothing is run then). */
int refresh_kick(struct refresh *r);

/* Blocks until no kicked refresh is pending or running (tests). */
void refresh_wait_idle(struct refresh *r);

/* Stops the module's thread (waiting for a refresh it runs) and frees everything. No
 * refresh_request may be in progress. NULL is fine. */
void refresh_free(struct refresh *r);

#endif
