/* refresh: single-flight refreshes with a minimum interval, so a request loop costs at most one
 * refresh per interval (and one at a time) however fast it asks. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "refresh.h"
#include "stats.h"

struct refresh {
	struct refresh_config cfg;
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* broadcast on every state change below */
	bool running;			/* a refresh's run callback is under way */
	uint64_t gen_started, gen_done;	/* refreshes started / the last one completed */
	bool have_done;
	double last_done;		/* when the last refresh completed (cfg.now) */
	int last_rc;			/* its result */
	struct err_info last_err;
	/* The kick thread. */
	pthread_t thread;
	bool thread_started, pending, busy, stop;
};

static double clock_now(const struct refresh *r)
{
	struct timespec ts;

	if (r->cfg.now)
		return r->cfg.now(r->cfg.now_ctx);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Whether the last completed refresh answers a request made now. Lock held. */
static bool recent(const struct refresh *r)
{
	return r->have_done && r->cfg.min_interval > 0 &&
	       clock_now(r) - r->last_done < r->cfg.min_interval;
}

/* The outcome of one request (already counted in STATS_REFRESH_REQUESTS): join, answer from
 * the last refresh, or run one. Called and returns with the lock held; drops it meanwhile. */
static int answer_locked(struct refresh *r, struct err_info *err)
{
	struct err_info e;
	uint64_t mine;
	int rc;

	if (r->running) {
		/* A waiter may wake after a later refresh completed too: that one is at least as
		 * fresh as the one it joined, so its result answers. */
		mine = r->gen_started;
		stats_add(STATS_REFRESH_JOINED, 1);
		stats_add(STATS_REFRESH_COALESCED, 1);
		while (r->gen_done < mine)
			pthread_cond_wait(&r->cond, &r->lock);
	} else if (recent(r)) {
		stats_add(STATS_REFRESH_COALESCED, 1);
	} else {
		r->running = true;
		mine = ++r->gen_started;
		pthread_mutex_unlock(&r->lock);
		memset(&e, 0, sizeof(e));
		rc = r->cfg.run(r->cfg.run_ctx, &e);
		if (rc && !e.err)
			e.err = rc;
		stats_add(STATS_REFRESHES, 1);
		pthread_mutex_lock(&r->lock);
		r->running = false;
		r->gen_done = mine;
		r->have_done = true;
		r->last_done = clock_now(r);
		r->last_rc = rc;
		r->last_err = e;
		pthread_cond_broadcast(&r->cond);
	}
	if (r->last_rc && err)
		*err = r->last_err;
	return r->last_rc;
}

int refresh_new(const struct refresh_config *cfg, struct refresh **out)
{
	struct refresh *r;

	if (!cfg->run || !(cfg->min_interval >= 0))
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->cfg = *cfg;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	*out = r;
	return 0;
}

int refresh_request(struct refresh *r, struct err_info *err)
{
	int rc;

	stats_add(STATS_REFRESH_REQUESTS, 1);
	pthread_mutex_lock(&r->lock);
	rc = answer_locked(r, err);
	pthread_mutex_unlock(&r->lock);
	return rc;
}

static void *kick_main(void *arg)
{
	struct refresh *r = arg;

	pthread_mutex_lock(&r->lock);
	for (;;) {
		while (!r->pending && !r->stop)
			pthread_cond_wait(&r->cond, &r->lock);
		if (r->stop)
			break;
		/* Kicks arriving from now on see running (or the refresh this one joins). */
		r->pending = false;
		r->busy = true;
		answer_locked(r, NULL);
		r->busy = false;
		pthread_cond_broadcast(&r->cond);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

int refresh_kick(struct refresh *r)
{
	int rc = 0;

	stats_add(STATS_REFRESH_REQUESTS, 1);
	pthread_mutex_lock(&r->lock);
	if (r->running || r->pending) {
		stats_add(STATS_REFRESH_JOINED, 1);
		stats_add(STATS_REFRESH_COALESCED, 1);
		goto out;
	}
	if (recent(r)) {
		stats_add(STATS_REFRESH_COALESCED, 1);
		goto out;
	}
	if (!r->thread_started) {
		rc = -pthread_create(&r->thread, NULL, kick_main, r);
		if (rc)
			goto out;
		r->thread_started = true;
	}
	r->pending = true;
	pthread_cond_broadcast(&r->cond);
out:
	pthread_mutex_unlock(&r->lock);
	return rc;
}

void refresh_wait_idle(struct refresh *r)
{
	pthread_mutex_lock(&r->lock);
	while (r->pending || r->busy)
		pthread_cond_wait(&r->cond, &r->lock);
	pthread_mutex_unlock(&r->lock);
}

void refresh_free(struct refresh *r)
{
	bool started;

	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	r->stop = true;
	started = r->thread_started;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	if (started)
		pthread_join(r->thread, NULL);
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
	free(r);
}
