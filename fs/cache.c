/* cache: TTL cache of reference-counted values with single-flight, background and stale fetches. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "cancel.h"
#include "hash.h"
#include "stats.h"

/*
 * Locking: one mutex guards the table, the LRU list, every entry, every flight and the
 * background queue. Nothing slow runs under it: fetch, now, unref, replaced and the arg ops
 * are called with it released (unref may free a whole snapshot). Only ops->ref runs under it,
 * because a value may lose its last cache reference the moment the lock is dropped; ref must
 * therefore be cheap and must not call the cache.
 *
 * An entry's value and its flight are independent: an expired value stays in place while its
 * replacement is fetched and is swapped only once the new one is ready. That is what lets a
 * stale value be served while a background fetch refreshes it, and kept when a refresh fails.
 *
 * A background fetch is a flight like any other (callers that must wait join it); its
 * fetcher is a job run by one of at most CACHE_BG_THREADS worker threads. Workers are
 * started on demand, sleep while the queue is empty and are joined by cache_free.
 */

/* One fetch in progress (or finished, until every participant has collected its result). */
struct flight {
	pthread_cond_t done_cv;
	struct entry *entry;	/* where the result goes; NULL once detached by drop_all */
	unsigned users;		/* the fetcher plus waiters that have not collected the result */
	bool done;
	int rc;
	void *value;		/* the fetch's own reference, released by the last user */
	double fetched_at;
	void *stale;		/* on failure: a reference to the old value still worth serving */
	double stale_at;
	struct err_info err;
};

struct entry {
	char *key;
	uint64_t hash;
	struct entry *chain;		/* hash bucket list */
	struct entry *newer, *older;	/* LRU list, newest at c->mru */
	void *value;			/* one cache reference, or NULL */
	double fetched_at;
	struct flight *flight;		/* fetch under way for this key, or NULL */
	unsigned failures;		/* refreshes failed in a row since value was fetched */
	double retry_at;		/* no refresh before this while failures > 0 */
	size_t bytes;			/* value's size when last measured, counted in c->bytes */
	struct err_info *neg;		/* without a value: the failure remembered (fail_memory) */
};

/* A foreground fetch run in a thread of its own, so its caller can stop waiting for it. */
struct fg_thread {
	struct fg_thread *next;
	pthread_t th;
	bool finished;		/* its thread has returned and may be joined */
	struct cache *c;
	struct flight *flight;	/* the thread is one of its users */
	char *key;
	void *arg;		/* arg_dup's copy, or the caller's pointer without arg_dup */
};

/* A background fetch waiting for, or running in, a worker. */
struct job {
	struct job *next;
	struct flight *flight;	/* the job is one of its users */
	char *key;
	void *arg;		/* arg_dup's copy, or the caller's pointer without arg_dup */
};

struct cache {
	pthread_mutex_t lock;
	struct cache_config cfg;
	struct cache_ops ops;
	void *ctx;
	struct entry **buckets;
	size_t nbuckets;	/* power of two */
	size_t nentries;	/* entries in the table (with a value, a flight or both) */
	size_t nvalues;		/* entries holding a value: what max_entries limits */
	size_t bytes;		/* sum of the entries' bytes: what max_bytes limits */
	struct entry *mru, *lru;

	pthread_cond_t work_cv;		/* workers wait here for jobs or for stopping */
	pthread_cond_t idle_cv;		/* broadcast when bg_pending drops to 0 */
	struct job *queue_head, *queue_tail;
	size_t nqueued;
	size_t bg_pending;		/* background flights not yet completed */
	pthread_t workers[CACHE_BG_THREADS];
	unsigned nworkers;		/* started and recorded in workers[] */
	unsigned nspawning;		/* being started by some caller right now */
	unsigned nidle;			/* workers waiting on work_cv */
	bool stopping;
	struct fg_thread *fg;		/* foreground fetch threads not yet joined */
};

#define CACHE_MIN_BUCKETS 16

static struct entry *table_find(struct cache *c, const char *key, uint64_t h)
{
	struct entry *e;

	for (e = c->buckets[h & (c->nbuckets - 1)]; e; e = e->chain)
		if (e->hash == h && strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

/* Doubling is best effort: on ENOMEM the chains just get longer. */
static void table_grow(struct cache *c)
{
	size_t n = c->nbuckets * 2;
	struct entry **b = calloc(n, sizeof(*b));

	if (!b)
		return;
	for (size_t i = 0; i < c->nbuckets; i++) {
		struct entry *e = c->buckets[i], *next;

		for (; e; e = next) {
			next = e->chain;
			e->chain = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	}
	free(c->buckets);
	c->buckets = b;
	c->nbuckets = n;
}

static void table_insert(struct cache *c, struct entry *e)
{
	struct entry **b;

	if (c->nentries >= c->nbuckets)
		table_grow(c);
	b = &c->buckets[e->hash & (c->nbuckets - 1)];
	e->chain = *b;
	*b = e;
	c->nentries++;
}

static void table_remove(struct cache *c, struct entry *e)
{
	struct entry **p = &c->buckets[e->hash & (c->nbuckets - 1)];

	while (*p != e)
		p = &(*p)->chain;
	*p = e->chain;
	e->chain = NULL;
	c->nentries--;
}

static void lru_unlink(struct cache *c, struct entry *e)
{
	if (e->newer)
		e->newer->older = e->older;
	else
		c->mru = e->older;
	if (e->older)
		e->older->newer = e->newer;
	else
		c->lru = e->newer;
	e->newer = e->older = NULL;
}

static void lru_push(struct cache *c, struct entry *e)
{
	e->newer = NULL;
	e->older = c->mru;
	if (c->mru)
		c->mru->newer = e;
	else
		c->lru = e;
	c->mru = e;
}

static void lru_touch(struct cache *c, struct entry *e)
{
	if (c->mru == e)
		return;
	lru_unlink(c, e);
	lru_push(c, e);
}

/* A new, empty entry for key in the table and at the head of the LRU list; NULL on ENOMEM. */
static struct entry *entry_new(struct cache *c, const char *key, uint64_t h)
{
	struct entry *e = calloc(1, sizeof(*e));

	if (!e || !(e->key = strdup(key))) {
		free(e);
		return NULL;
	}
	e->hash = h;
	table_insert(c, e);
	lru_push(c, e);
	return e;
}

/* The gauge is set, not adjusted, so a stats_reset() cannot leave it off for good. */
static void values_changed(struct cache *c, long delta)
{
	c->nvalues = (size_t)((long)c->nvalues + delta);
	stats_set(STATS_CACHE_ENTRIES, (int64_t)c->nvalues);
}

static void bytes_changed(struct cache *c, size_t old_bytes, size_t new_bytes)
{
	c->bytes = c->bytes - old_bytes + new_bytes;
	stats_set(STATS_CACHE_BYTES, (int64_t)c->bytes);
}

/* Measures e's value again; returns whether it grew. */
static bool entry_measure(struct cache *c, struct entry *e)
{
	size_t b = c->ops.size && e->value ? c->ops.size(e->value) : 0;
	bool grew = b > e->bytes;

	if (b != e->bytes) {
		bytes_changed(c, e->bytes, b);
		e->bytes = b;
	}
	return grew;
}

/* Takes e out of the table and the LRU list and onto *garbage (linked through chain), to be
 * released with the lock dropped. A flight still running for it is detached: its result goes
 * to its waiters only. */
static void entry_retire(struct cache *c, struct entry *e, struct entry **garbage)
{
	table_remove(c, e);
	lru_unlink(c, e);
	if (e->value)
		values_changed(c, -1);
	if (e->bytes) {
		bytes_changed(c, e->bytes, 0);
		e->bytes = 0;
	}
	if (e->flight) {
		e->flight->entry = NULL;
		e->flight = NULL;
	}
	e->chain = *garbage;
	*garbage = e;
}

static void garbage_release(struct cache *c, struct entry *garbage)
{
	struct entry *next;

	for (; garbage; garbage = next) {
		next = garbage->chain;
		/* stopping is only set by cache_free, after which nobody may be told anything. */
		if (garbage->value && c->ops.dropped && !c->stopping)
			c->ops.dropped(c->ctx, garbage->key, garbage->value);
		if (garbage->value)
			c->ops.unref(garbage->value);
		free(garbage->neg);
		free(garbage->key);
		free(garbage);
	}
}

static double value_age(double now, double fetched_at)
{
	return now > fetched_at ? now - fetched_at : 0.0;
}

static bool entry_fresh(const struct cache *c, const struct entry *e, double now)
{
	return e->value && value_age(now, e->fetched_at) < c->cfg.ttl;
}

/* Whether a value of this age may be answered without waiting: within the grace period, or
 * within max_stale once a refresh has failed (the API is known to be in trouble, so making
 * callers wait for it would only make them slow as well). */
static bool entry_stale_servable(const struct cache *c, const struct entry *e, double age)
{
	return age < c->cfg.ttl + c->cfg.grace || (e->failures && age < c->cfg.max_stale);
}

/* The age past which a value can never be served again, however fetches go. */
static double stale_limit(const struct cache *c)
{
	double l = c->cfg.ttl + c->cfg.grace;

	return c->cfg.max_stale > l ? c->cfg.max_stale : l;
}

/* min(ttl, 1 s) after the first failure, doubling up to ttl: an outage costs one request per
 * key per ttl at most, while a blip is retried within a second. */
static double backoff(const struct cache *c, unsigned failures)
{
	double ttl = c->cfg.ttl, b = ttl < 1.0 ? ttl : 1.0;

	for (unsigned i = 1; i < failures && b < ttl; i++)
		b *= 2;
	return b < ttl ? b : ttl;
}

/* Values nobody can be served any more are dead weight (a snapshot can be large). Runs only on
 * misses, which are about to cost a network fetch anyway, so a scan is affordable there. */
static void sweep_expired(struct cache *c, double now, struct entry **garbage)
{
	struct entry *e = c->lru, *newer;

	for (; e; e = newer) {
		newer = e->newer;
		if (!e->flight && e->value && value_age(now, e->fetched_at) >= stale_limit(c))
			entry_retire(c, e, garbage);
		else if (!e->flight && e->neg && now >= e->retry_at + c->cfg.fail_memory)
			entry_retire(c, e, garbage);
	}
}

/* The back-off of a remembered failure: like backoff(), but at most fail_memory. */
static double fail_backoff(const struct cache *c, unsigned failures)
{
	double b = backoff(c, failures);

	return b < c->cfg.fail_memory ? b : c->cfg.fail_memory;
}

static bool over_cap(const struct cache *c)
{
	return (c->cfg.max_entries && c->nvalues > c->cfg.max_entries) ||
	       (c->cfg.max_bytes && c->bytes > c->cfg.max_bytes);
}

/* Evicts least recently used values until both caps hold, sparing keep and any entry with a
 * fetch under way (its waiters are about to need it). May stay over a cap when only those
 * are left. Values grow while they are read, so every size is measured again first: a scan
 * of the held values, done only after a fetch stored one or a served one grew, cheap next to
 * the fetch behind it (misses already scan them all in sweep_expired). */
static void evict_over_cap(struct cache *c, const struct entry *keep, struct entry **garbage)
{
	struct entry *e, *newer;

	if (c->ops.size)
		for (e = c->lru; e; e = e->newer)
			entry_measure(c, e);
	for (e = c->lru; e && over_cap(c); e = newer) {
		newer = e->newer;
		if (e == keep || e->flight || !e->value)
			continue;
		entry_retire(c, e, garbage);
		stats_add(STATS_CACHE_EVICTIONS, 1);
	}
}

/* With the lock held, for a value about to be served: makes it the most recent, and when it
 * has grown since it was last measured, evicts others to keep the byte cap. */
static void serve_touch(struct cache *c, struct entry *e, struct entry **garbage)
{
	lru_touch(c, e);
	if (entry_measure(c, e) && over_cap(c))
		evict_over_cap(c, e, garbage);
}

static void err_fill(struct err_info *err, int rc, const char *key, const char *msg)
{
	memset(err, 0, sizeof(*err));
	err->err = rc;
	snprintf(err->message, sizeof(err->message), "%s", msg);
	snprintf(err->query, sizeof(err->query), "%s", key);
}

int cache_new(const struct cache_config *cfg, const struct cache_ops *ops, void *ctx,
	      struct cache **out)
{
	struct cache *c;

	if (!cfg || !ops || !out || !ops->fetch || !ops->ref || !ops->unref || !ops->now ||
	    !ops->arg_dup != !ops->arg_free || !(cfg->ttl >= 0) || !(cfg->grace >= 0) ||
	    !(cfg->max_stale >= 0) || !(cfg->fail_memory >= 0) || !(cfg->wait_timeout >= 0) ||
	    (cfg->max_bytes && !ops->size))
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->buckets = calloc(CACHE_MIN_BUCKETS, sizeof(*c->buckets));
	if (!c->buckets)
		goto out_free;
	c->nbuckets = CACHE_MIN_BUCKETS;
	if (pthread_mutex_init(&c->lock, NULL))
		goto out_buckets;
	if (pthread_cond_init(&c->work_cv, NULL))
		goto out_lock;
	if (pthread_cond_init(&c->idle_cv, NULL))
		goto out_work_cv;
	c->cfg = *cfg;
	c->ops = *ops;
	c->ctx = ctx;
	*out = c;
	return 0;
out_work_cv:
	pthread_cond_destroy(&c->work_cv);
out_lock:
	pthread_mutex_destroy(&c->lock);
out_buckets:
	free(c->buckets);
out_free:
	free(c);
	return -ENOMEM;
}

/* Its condition variable runs on CLOCK_MONOTONIC, so waiting deadlines ignore clock jumps. */
static struct flight *flight_new(void)
{
	struct flight *f = calloc(1, sizeof(*f));
	pthread_condattr_t attr;
	int rc;

	if (!f)
		return NULL;
	if (pthread_condattr_init(&attr)) {
		free(f);
		return NULL;
	}
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	rc = pthread_cond_init(&f->done_cv, &attr);
	pthread_condattr_destroy(&attr);
	if (rc) {
		free(f);
		return NULL;
	}
	return f;
}

static void flight_free(struct cache *c, struct flight *f)
{
	if (f->value)
		c->ops.unref(f->value);
	if (f->stale)
		c->ops.unref(f->stale);
	pthread_cond_destroy(&f->done_cv);
	free(f);
}

/* With the lock held: moves e's value onto *garbage (in an entry of its own, so dropped and
 * unref run once the lock is dropped) and leaves e in place without a value. False, with
 * nothing changed, when memory runs out. */
static bool entry_drop_value(struct cache *c, struct entry *e, struct entry **garbage)
{
	struct entry *g = calloc(1, sizeof(*g));

	if (!g || !(g->key = strdup(e->key))) {
		free(g);
		return false;
	}
	g->value = e->value;
	e->value = NULL;
	values_changed(c, -1);
	if (e->bytes) {
		bytes_changed(c, e->bytes, 0);
		e->bytes = 0;
	}
	e->failures = 0;
	g->chain = *garbage;
	*garbage = g;
	return true;
}

/* With the lock held, for a failed fetch of e, which holds no value: keeps the error for a
 * back-off (fail_memory), or, when that is off or does not apply, retires e so the next caller
 * fetches again. */
static void remember_failure(struct cache *c, struct entry *e, int rc, double now,
			     const struct err_info *err, struct entry **garbage)
{
	unsigned failures = e->failures < 64 ? e->failures + 1 : e->failures;

	if (!c->cfg.fail_memory || rc == -ECANCELED || rc == -ENOMEM ||
	    !(fail_backoff(c, failures) > 0)) {
		entry_retire(c, e, garbage);
		return;
	}
	if (!e->neg && !(e->neg = malloc(sizeof(*e->neg)))) {
		entry_retire(c, e, garbage);
		return;
	}
	*e->neg = *err;
	if (!e->neg->when)
		e->neg->when = time(NULL);
	e->failures = failures;
	e->retry_at = now + fail_backoff(c, failures);
}

/* Called by the fetcher with the lock held: publishes the result to the entry (unless
 * detached) and to the waiters. A value it replaces comes back in *old, to be released once the
 * lock is dropped. A failure keeps the old value, hands it to the waiters while it is younger
 * than max_stale, and starts or extends the back-off. */
static void flight_finish(struct cache *c, struct flight *f, int rc, void *value,
			  double now, const struct err_info *err, void **old,
			  struct entry **garbage)
{
	struct entry *e = f->entry;
	double fetch_end = now;

	f->done = true;
	f->rc = rc;
	f->value = rc ? NULL : value;
	/* A value made from an older one (a narrowed answer) is as old as its source. */
	if (rc == 0 && c->ops.stamp) {
		double at = c->ops.stamp(c->ctx, value);

		if (at < now)
			now = at;
	}
	f->fetched_at = now;
	if (rc)
		f->err = *err;
	if (e) {
		e->flight = NULL;
		f->entry = NULL;
		if (rc == 0) {
			/* The old value goes only now that its replacement exists. */
			if (e->value)
				*old = e->value;
			else
				values_changed(c, 1);
			c->ops.ref(value);
			e->value = value;
			e->fetched_at = now;
			if (value_age(fetch_end, now) >= c->cfg.ttl && c->cfg.ttl > 0) {
				/* Already stale when fetched (a shared cache's last good answer while
				 * the API fails): kept and served as after a failed refresh, asked
				 * again only after the back-off, not by every reader. */
				if (e->failures < 64)
					e->failures++;
				e->retry_at = fetch_end + backoff(c, e->failures);
			} else {
				e->failures = 0;
				e->retry_at = 0;
			}
			free(e->neg);
			e->neg = NULL;
			lru_touch(c, e);
			entry_measure(c, e);
			evict_over_cap(c, e, garbage);
		} else if (!e->value) {
			remember_failure(c, e, rc, now, err, garbage);
		} else {
			double age = value_age(now, e->fetched_at);

			if (age < c->cfg.max_stale) {
				c->ops.ref(e->value);
				f->stale = e->value;
				f->stale_at = e->fetched_at;
			}
			if (age >= stale_limit(c)) {
				/* Nothing left to serve: from here on it is a key without a value. */
				if (!c->cfg.fail_memory || !entry_drop_value(c, e, garbage))
					entry_retire(c, e, garbage);
				else
					remember_failure(c, e, rc, now, err, garbage);
			} else {
				if (e->failures < 64)
					e->failures++;
				e->retry_at = now + backoff(c, e->failures);
			}
		}
	}
	pthread_cond_broadcast(&f->done_cv);
}

/* Runs the fetch callback with no lock held and normalises what it returns. */
static int run_fetch(struct cache *c, const char *key, const void *arg, void **value,
		     struct err_info *err)
{
	int rc;

	*value = NULL;
	memset(err, 0, sizeof(*err));
	rc = c->ops.fetch(c->ctx, key, arg, value, err);
	if (rc > 0)
		rc = -rc;
	if (rc == 0 && !*value) {
		rc = -EIO;
		err_fill(err, rc, key, "fetch produced no value");
	}
	if (rc)
		*value = NULL;
	if (rc && !err->err)
		err->err = rc;
	return rc;
}

/* With the lock held: a flight for e whose fetcher will be a background job (its one user
 * until waiters join). NULL on ENOMEM. */
static struct flight *bg_flight_start(struct cache *c, struct entry *e)
{
	struct flight *f = flight_new();

	if (!f)
		return NULL;
	f->entry = e;
	f->users = 1;
	e->flight = f;
	c->bg_pending++;
	stats_add(STATS_CACHE_REFRESHES, 1);
	return f;
}

/* The end of a background flight, in place of the fetcher: publishes rc/value (see
 * flight_finish) and tells ops->replaced. No lock held. */
static void bg_flight_end(struct cache *c, struct flight *f, const char *key, int rc,
			  void *value, const struct err_info *err)
{
	struct entry *garbage = NULL;
	void *old = NULL, *nv = NULL;
	double now = c->ops.now(c->ctx);
	bool last;

	pthread_mutex_lock(&c->lock);
	flight_finish(c, f, rc, value, now, err, &old, &garbage);
	/* The flight's own reference may go with the last waiter: take one for the callback. */
	if (old && c->ops.replaced) {
		nv = f->value;
		c->ops.ref(nv);
	}
	last = --f->users == 0;
	pthread_mutex_unlock(&c->lock);

	if (nv) {
		c->ops.replaced(c->ctx, key, old, nv);
		c->ops.unref(nv);
	}
	if (last)
		flight_free(c, f);
	if (old)
		c->ops.unref(old);
	garbage_release(c, garbage);
}

/* A background flight is wholly over (its job and arg copy released too): lets
 * cache_wait_background go when it was the last. */
static void bg_done(struct cache *c)
{
	pthread_mutex_lock(&c->lock);
	if (--c->bg_pending == 0)
		pthread_cond_broadcast(&c->idle_cv);
	pthread_mutex_unlock(&c->lock);
}

static void job_free(struct cache *c, struct job *j)
{
	if (j->arg && c->ops.arg_free)
		c->ops.arg_free(j->arg);
	free(j->key);
	free(j);
}

static void job_run(struct cache *c, struct job *j)
{
	struct err_info err;
	void *v = NULL;
	bool wanted;
	int rc;

	/* Dropped before it started and nobody waiting: the API call would be thrown away. */
	pthread_mutex_lock(&c->lock);
	wanted = j->flight->entry || j->flight->users > 1;
	pthread_mutex_unlock(&c->lock);
	if (wanted) {
		rc = run_fetch(c, j->key, j->arg, &v, &err);
	} else {
		rc = -ECANCELED;
		err_fill(&err, rc, j->key, "background fetch cancelled: cache dropped");
	}
	bg_flight_end(c, j->flight, j->key, rc, v, &err);
	job_free(c, j);
	bg_done(c);
}

/* Ends jobs without running them (no worker could be started). */
static void jobs_fail(struct cache *c, struct job *j, int rc, const char *msg)
{
	struct err_info err;
	struct job *next;

	for (; j; j = next) {
		next = j->next;
		err_fill(&err, rc, j->key, msg);
		bg_flight_end(c, j->flight, j->key, rc, NULL, &err);
		job_free(c, j);
		bg_done(c);
	}
}

static void *worker_main(void *p)
{
	struct cache *c = p;
	struct job *j;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		while (!c->queue_head && !c->stopping) {
			c->nidle++;
			pthread_cond_wait(&c->work_cv, &c->lock);
			c->nidle--;
		}
		/* Jobs still queued then are cancelled by cache_free. */
		if (c->stopping)
			break;
		j = c->queue_head;
		c->queue_head = j->next;
		if (!c->queue_head)
			c->queue_tail = NULL;
		c->nqueued--;
		j->next = NULL;
		pthread_mutex_unlock(&c->lock);
		job_run(c, j);
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* Starts a fetch thread. Asynchronous signals stay blocked in it, so they keep going to the
 * threads that expect them; the synchronous ones must not be, or a crash in a fetch would kill
 * the process without its handler (or a sanitizer's report) ever running. Returns
 * pthread_create's result. */
static int thread_spawn(pthread_t *th, void *(*fn)(void *), void *arg)
{
	static const int sync_signals[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS,
					    SIGABRT };
	sigset_t mask, saved;
	int rc;

	sigfillset(&mask);
	for (size_t i = 0; i < sizeof(sync_signals) / sizeof(sync_signals[0]); i++)
		sigdelset(&mask, sync_signals[i]);
	pthread_sigmask(SIG_SETMASK, &mask, &saved);
	rc = pthread_create(th, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	return rc;
}

/* Starts one more worker. Returns 0 or -EAGAIN. */
static int worker_spawn(struct cache *c)
{
	pthread_t th;
	int rc;

	rc = thread_spawn(&th, worker_main, c);
	pthread_mutex_lock(&c->lock);
	c->nspawning--;
	if (rc == 0)
		c->workers[c->nworkers++] = th;
	pthread_mutex_unlock(&c->lock);
	return rc ? -EAGAIN : 0;
}

/* Hands flight f (from bg_flight_start) to a worker, with a copy of arg. No lock held. On
 * failure the flight is ended with the error (so its waiters and back-off see a failed
 * refresh) and -ENOMEM or -EAGAIN is returned. */
static int bg_submit(struct cache *c, struct flight *f, const char *key, const void *arg)
{
	struct job *j = calloc(1, sizeof(*j)), *orphans = NULL;
	struct err_info err;
	bool spawn = false, ours_failed = false;

	if (!j || !(j->key = strdup(key)))
		goto out_nomem;
	if (arg && c->ops.arg_dup) {
		j->arg = c->ops.arg_dup(arg);
		if (!j->arg)
			goto out_nomem;
	} else {
		j->arg = (void *)arg;
	}
	j->flight = f;

	pthread_mutex_lock(&c->lock);
	if (c->queue_tail)
		c->queue_tail->next = j;
	else
		c->queue_head = j;
	c->queue_tail = j;
	c->nqueued++;
	pthread_cond_signal(&c->work_cv);
	/* Idle workers may already have been claimed by jobs queued just before this one. */
	if (c->nqueued > c->nidle + c->nspawning &&
	    c->nworkers + c->nspawning < CACHE_BG_THREADS) {
		c->nspawning++;
		spawn = true;
	}
	pthread_mutex_unlock(&c->lock);
	if (!spawn || worker_spawn(c) == 0)
		return 0;

	/* With no worker at all, nothing would ever run the queue or wake its waiters. */
	pthread_mutex_lock(&c->lock);
	if (!c->nworkers && !c->nspawning) {
		orphans = c->queue_head;
		c->queue_head = c->queue_tail = NULL;
		c->nqueued = 0;
		for (struct job *o = orphans; o; o = o->next)
			ours_failed |= o == j;
	}
	pthread_mutex_unlock(&c->lock);
	jobs_fail(c, orphans, -EAGAIN, "cannot start a background fetch thread");
	return ours_failed ? -EAGAIN : 0;

out_nomem:
	if (j)
		free(j->key);
	free(j);
	err_fill(&err, -ENOMEM, key, "out of memory");
	bg_flight_end(c, f, key, -ENOMEM, NULL, &err);
	bg_done(c);
	return -ENOMEM;
}

static void fg_free(struct cache *c, struct fg_thread *t)
{
	if (t->arg && c->ops.arg_free)
		c->ops.arg_free(t->arg);
	free(t->key);
	free(t);
}

/* Joins and frees the foreground threads on list (linked through next). No lock held. */
static void fg_reap(struct fg_thread *list)
{
	struct fg_thread *next;

	for (; list; list = next) {
		next = list->next;
		pthread_join(list->th, NULL);
		free(list);
	}
}

/* With the lock held: takes the finished foreground threads off c->fg, for fg_reap. */
static struct fg_thread *fg_collect_finished(struct cache *c)
{
	struct fg_thread **p = &c->fg, *done = NULL, *t;

	while ((t = *p)) {
		if (t->finished) {
			*p = t->next;
			t->next = done;
			done = t;
		} else {
			p = &t->next;
		}
	}
	return done;
}

static void *fg_main(void *p)
{
	struct fg_thread *t = p;
	struct cache *c = t->c;
	struct err_info err;
	void *v = NULL;
	int rc;

	rc = run_fetch(c, t->key, t->arg, &v, &err);
	bg_flight_end(c, t->flight, t->key, rc, v, &err);
	if (t->arg && c->ops.arg_free)
		c->ops.arg_free(t->arg);
	free(t->key);
	t->arg = NULL;
	t->key = NULL;
	/* t belongs to whoever reaps it from here on. */
	pthread_mutex_lock(&c->lock);
	t->finished = true;
	if (--c->bg_pending == 0)
		pthread_cond_broadcast(&c->idle_cv);
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* Hands flight f, whose fetcher the caller was to be, to a thread of its own; the caller stays
 * a user and waits for it like any waiter. No lock held. Returns 0, or -ENOMEM/-EAGAIN with
 * nothing changed (the caller then fetches itself). */
static int fg_start(struct cache *c, struct flight *f, const char *key, const void *arg)
{
	struct fg_thread *t = calloc(1, sizeof(*t)), *done;
	int rc;

	if (!t || !(t->key = strdup(key)))
		goto out_nomem;
	if (arg && c->ops.arg_dup) {
		t->arg = c->ops.arg_dup(arg);
		if (!t->arg)
			goto out_nomem;
	} else {
		t->arg = (void *)arg;
	}
	t->c = c;
	t->flight = f;
	pthread_mutex_lock(&c->lock);
	f->users++;
	c->bg_pending++;
	pthread_mutex_unlock(&c->lock);
	rc = thread_spawn(&t->th, fg_main, t);
	pthread_mutex_lock(&c->lock);
	if (rc == 0) {
		/* Linked only now that t->th is set: reapers join what they find here. */
		t->next = c->fg;
		c->fg = t;
	} else {
		f->users--;
		if (--c->bg_pending == 0)
			pthread_cond_broadcast(&c->idle_cv);
	}
	done = fg_collect_finished(c);
	pthread_mutex_unlock(&c->lock);
	fg_reap(done);
	if (rc) {
		fg_free(c, t);
		return -EAGAIN;
	}
	return 0;

out_nomem:
	if (t)
		free(t->key);
	free(t);
	return -ENOMEM;
}

/* With the lock held: waits until f is done (0), or with wait_timeout until deadline on the
 * cache's clock (-ETIMEDOUT), or until cx fires (-EINTR; its wake-up is cancel_wake). The real
 * wait is the clock's remaining time, measured again at every wake-up, so a fake clock moved
 * forward plus cache_clock_advanced ends it. */
static int flight_wait(struct cache *c, struct flight *f, double deadline,
		       const struct cancel *cx)
{
	while (!f->done) {
		struct timespec ts;
		double left;

		if (cancel_fired(cx))
			return -EINTR;
		if (!c->cfg.wait_timeout) {
			pthread_cond_wait(&f->done_cv, &c->lock);
			continue;
		}
		left = deadline - c->ops.now(c->ctx);
		if (!(left > 0))
			return -ETIMEDOUT;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		left += (double)ts.tv_nsec / 1e9;
		ts.tv_sec += (time_t)left;
		ts.tv_nsec = (long)((left - (double)(time_t)left) * 1e9);
		if (ts.tv_nsec >= 1000000000L)
			ts.tv_nsec = 999999999L;
		pthread_cond_timedwait(&f->done_cv, &c->lock, &ts);
	}
	return 0;
}

void cache_clock_advanced(struct cache *c)
{
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->nbuckets; i++)
		for (struct entry *e = c->buckets[i]; e; e = e->chain)
			if (e->flight)
				pthread_cond_broadcast(&e->flight->done_cv);
	pthread_mutex_unlock(&c->lock);
}

/* *err for a caller answered from a remembered failure (e->neg, lock held). */
static void remembered_err(const struct entry *e, double now, struct err_info *err)
{
	char when[32] = "?", msg[400];
	struct tm tm;

	*err = *e->neg;
	if (gmtime_r(&e->neg->when, &tm))
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	/* Cut short: the prefix below must fit as well. */
	snprintf(msg, sizeof(msg), "%.*s", (int)sizeof(msg) - 1, e->neg->message);
	snprintf(err->message, sizeof(err->message),
		 "remembered failure from %s, not retried for %.1f s more: %s", when,
		 e->retry_at - now, msg);
}

/* cache_get_cancellable without the cancel_watch around it. */
static int get(struct cache *c, const char *key, const void *arg, const struct cancel *cx,
	       void **value, double *age, struct err_info *err)
{
	struct err_info local_err, fetch_err;
	struct entry *garbage = NULL, *e;
	struct flight *f, *bg = NULL;
	double now = c->ops.now(c->ctx), at = 0, deadline = now + c->cfg.wait_timeout;
	uint64_t h = hash_str(key);
	void *v = NULL, *old = NULL;
	bool last, stale = false;
	int rc;

	if (!err)
		err = &local_err;
	pthread_mutex_lock(&c->lock);
	e = table_find(c, key, h);
	if (e && e->value && entry_stale_servable(c, e, value_age(now, e->fetched_at))) {
		enum stats_id counter = STATS_CACHE_HITS;

		if (!entry_fresh(c, e, now)) {
			counter = STATS_CACHE_STALE_SERVES;
			if (!e->flight && !(e->failures && now < e->retry_at))
				bg = bg_flight_start(c, e);
		}
		v = e->value;
		at = e->fetched_at;
		c->ops.ref(v);
		serve_touch(c, e, &garbage);
		pthread_mutex_unlock(&c->lock);
		garbage_release(c, garbage);
		stats_add(counter, 1);
		/* A failure to start it is a failed refresh: the value stays, the back-off runs. */
		if (bg)
			bg_submit(c, bg, key, arg);
		*value = v;
		if (age)
			*age = value_age(now, at);
		return 0;
	}
	if (e && !e->value && !e->flight && e->neg && now < e->retry_at) {
		remembered_err(e, now, err);
		rc = e->neg->err ? e->neg->err : -EIO;
		pthread_mutex_unlock(&c->lock);
		return rc;
	}
	if (cancel_fired(cx)) {
		pthread_mutex_unlock(&c->lock);
		goto out_cancelled;
	}
	stats_add(STATS_CACHE_MISSES, 1);
	if (e && e->flight) {
		f = e->flight;
		f->users++;
		lru_touch(c, e);
		goto wait;
	}
	f = flight_new();
	if (!f)
		goto out_nomem;
	if (!e) {
		e = entry_new(c, key, h);
		if (!e) {
			flight_free(c, f);
			goto out_nomem;
		}
	} else {
		lru_touch(c, e);
	}
	f->entry = e;
	f->users = 1;
	e->flight = f;
	sweep_expired(c, now, &garbage);
	pthread_mutex_unlock(&c->lock);

	garbage_release(c, garbage);
	garbage = NULL;
	if ((c->cfg.wait_timeout > 0 || cx) && fg_start(c, f, key, arg) == 0) {
		pthread_mutex_lock(&c->lock);
		goto wait;
	}
	rc = run_fetch(c, key, arg, &v, &fetch_err);
	now = c->ops.now(c->ctx);

	pthread_mutex_lock(&c->lock);
	flight_finish(c, f, rc, v, now, &fetch_err, &old, &garbage);
	goto collect;
wait:
	rc = flight_wait(c, f, deadline, cx);
	if (rc) {
		/* The fetcher is still a user, so this is not the last one. */
		f->users--;
		pthread_mutex_unlock(&c->lock);
		if (rc == -EINTR)
			goto out_cancelled;
		err_fill(err, -ETIMEDOUT, key, "");
		snprintf(err->message, sizeof(err->message),
			 "no answer within wait_timeout (%g s); the fetch goes on and its "
			 "answer will be cached for the next reader", c->cfg.wait_timeout);
		err->when = time(NULL);
		return -ETIMEDOUT;
	}
collect:
	rc = f->rc;
	if (rc == 0) {
		v = f->value;
		at = f->fetched_at;
		c->ops.ref(v);
	} else {
		*err = f->err;
		if (f->stale) {
			v = f->stale;
			at = f->stale_at;
			c->ops.ref(v);
			stale = true;
		}
	}
	last = --f->users == 0;
	pthread_mutex_unlock(&c->lock);

	/* Only the fetcher gets old, and only after a success: v is then the new value. */
	if (old && c->ops.replaced)
		c->ops.replaced(c->ctx, key, old, v);
	if (last)
		flight_free(c, f);
	if (old)
		c->ops.unref(old);
	garbage_release(c, garbage);
	if (stale) {
		stats_add(STATS_CACHE_STALE_SERVES, 1);
		rc = 0;
	}
	if (rc)
		return rc;
	*value = v;
	if (age)
		*age = value_age(c->ops.now(c->ctx), at);
	return 0;

out_nomem:
	pthread_mutex_unlock(&c->lock);
	err_fill(err, -ENOMEM, key, "out of memory");
	return -ENOMEM;
out_cancelled:
	err_fill(err, -EINTR, key, "interrupted while waiting for the answer; a fetch under way "
		 "goes on and its answer will be cached for the next reader");
	err->when = time(NULL);
	return -EINTR;
}

int cache_get(struct cache *c, const char *key, const void *arg, void **value, double *age,
	      struct err_info *err)
{
	return get(c, key, arg, NULL, value, age, err);
}

/* A fired token's wake-up: every waiter looks at its token again (only the fired one leaves). */
static void cancel_wake(void *c)
{
	cache_clock_advanced(c);
}

int cache_get_cancellable(struct cache *c, const char *key, const void *arg,
			  struct cancel *cancel, void **value, double *age,
			  struct err_info *err)
{
	int rc;

	/* Watched around the whole call, with no cache lock held (cancel_fire takes the
	 * token's lock, then the cache's): a fire at any point is seen by the wait. */
	cancel_watch(cancel, cancel_wake, c);
	rc = get(c, key, arg, cancel, value, age, err);
	cancel_watch(cancel, NULL, NULL);
	return rc;
}

/* A fresh value for key, referenced; touch also counts it as served (LRU order, the hit
 * counter and the size re-measure), which a kernel getattr must not do. */
static int peek(struct cache *c, const char *key, void **value, double *age, bool touch)
{
	double now = c->ops.now(c->ctx), at;
	struct entry *e, *garbage = NULL;
	void *v;

	pthread_mutex_lock(&c->lock);
	e = table_find(c, key, hash_str(key));
	if (!e || !entry_fresh(c, e, now)) {
		pthread_mutex_unlock(&c->lock);
		return -ENOENT;
	}
	v = e->value;
	at = e->fetched_at;
	c->ops.ref(v);
	if (touch)
		serve_touch(c, e, &garbage);
	pthread_mutex_unlock(&c->lock);
	if (touch) {
		garbage_release(c, garbage);
		stats_add(STATS_CACHE_HITS, 1);
	}
	*value = v;
	if (age)
		*age = value_age(now, at);
	return 0;
}

int cache_peek(struct cache *c, const char *key, void **value, double *age)
{
	return peek(c, key, value, age, true);
}

int cache_prefetch(struct cache *c, const char *key, const void *arg)
{
	double now = c->ops.now(c->ctx);
	uint64_t h = hash_str(key);
	struct flight *f;
	struct entry *e;

	pthread_mutex_lock(&c->lock);
	e = table_find(c, key, h);
	if (e && (e->flight || entry_fresh(c, e, now) ||
		  ((e->value || e->neg) && e->failures && now < e->retry_at))) {
		pthread_mutex_unlock(&c->lock);
		return -EALREADY;
	}
	if (!e && !(e = entry_new(c, key, h))) {
		pthread_mutex_unlock(&c->lock);
		return -ENOMEM;
	}
	f = bg_flight_start(c, e);
	if (!f) {
		struct entry *garbage = NULL;

		if (!e->value)
			entry_retire(c, e, &garbage);
		pthread_mutex_unlock(&c->lock);
		garbage_release(c, garbage);
		return -ENOMEM;
	}
	lru_touch(c, e);
	pthread_mutex_unlock(&c->lock);
	return bg_submit(c, f, key, arg);
}

void cache_drop_all(struct cache *c)
{
	struct entry *garbage = NULL;

	pthread_mutex_lock(&c->lock);
	while (c->lru)
		entry_retire(c, c->lru, &garbage);
	pthread_mutex_unlock(&c->lock);
	garbage_release(c, garbage);
}

size_t cache_entries(struct cache *c)
{
	size_t n;

	pthread_mutex_lock(&c->lock);
	n = c->nvalues;
	pthread_mutex_unlock(&c->lock);
	return n;
}

size_t cache_bytes(struct cache *c)
{
	size_t n;

	pthread_mutex_lock(&c->lock);
	n = c->bytes;
	pthread_mutex_unlock(&c->lock);
	return n;
}

double cache_oldest_age(struct cache *c)
{
	double now = c->ops.now(c->ctx), oldest = 0;

	pthread_mutex_lock(&c->lock);
	for (struct entry *e = c->lru; e; e = e->newer) {
		double a;

		if (!e->value)
			continue;
		a = value_age(now, e->fetched_at);
		if (a > oldest)
			oldest = a;
	}
	pthread_mutex_unlock(&c->lock);
	return oldest;
}

void cache_wait_background(struct cache *c)
{
	pthread_mutex_lock(&c->lock);
	while (c->bg_pending)
		pthread_cond_wait(&c->idle_cv, &c->lock);
	pthread_mutex_unlock(&c->lock);
}

void cache_free(struct cache *c)
{
	struct entry *garbage = NULL;
	struct job *j, *next;

	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->stopping = true;
	pthread_cond_broadcast(&c->work_cv);
	pthread_mutex_unlock(&c->lock);
	/* No call is in progress, so nworkers is final: nobody can be spawning one. */
	for (unsigned i = 0; i < c->nworkers; i++)
		pthread_join(c->workers[i], NULL);
	/* Fetches their callers stopped waiting for end here; nobody else starts one now. */
	fg_reap(c->fg);
	c->fg = NULL;

	/* Queued jobs have no waiters (no call is in progress): just take their flights down. */
	for (j = c->queue_head; j; j = next) {
		next = j->next;
		if (j->flight->entry)
			j->flight->entry->flight = NULL;
		flight_free(c, j->flight);
		job_free(c, j);
	}
	while (c->lru)
		entry_retire(c, c->lru, &garbage);
	garbage_release(c, garbage);
	pthread_cond_destroy(&c->idle_cv);
	pthread_cond_destroy(&c->work_cv);
	pthread_mutex_destroy(&c->lock);
	free(c->buckets);
	free(c);
}

int cache_peek_quiet(struct cache *c, const char *key, void **value, double *age)
{
	return peek(c, key, value, age, false);
}

int cache_peek_stale(struct cache *c, const char *key, double max_age, void **value, double *age)
{
	double now = c->ops.now(c->ctx), a;
	struct entry *e;
	void *v = NULL;

	pthread_mutex_lock(&c->lock);
	e = table_find(c, key, hash_str(key));
	if (e && e->value && (a = value_age(now, e->fetched_at)) < max_age) {
		v = e->value;
		c->ops.ref(v);
		if (age)
			*age = a;
	}
	pthread_mutex_unlock(&c->lock);
	if (!v)
		return -ENOENT;
	*value = v;
	return 0;
}
