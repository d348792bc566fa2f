/* test_cancel: cancel tokens, and the cache's cancellable wait (cache_get_cancellable): fired
 * before or during a wait, with other waiters, racing the fetch's end; a gated fake fetch. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "cancel.h"
#include "stats.h"
#include "tf.h"

static void count_wake(void *arg)
{
	__atomic_add_fetch((int *)arg, 1, __ATOMIC_RELAXED);
}

static int wakes(int *n)
{
	return __atomic_load_n(n, __ATOMIC_RELAXED);
}

TEST(token_fires_once_and_wakes_its_watcher)
{
	struct cancel *k = cancel_new();
	int n = 0;

	CHECK(k != NULL);
	CHECK(!cancel_fired(k));
	cancel_watch(k, count_wake, &n);
	cancel_fire(k);
	CHECK(cancel_fired(k));
	CHECK_EQ_INT(wakes(&n), 1);
	cancel_fire(k);
	CHECK_EQ_INT(wakes(&n), 1);
	cancel_free(k);
}

TEST(token_watched_after_firing_or_unwatched_calls_nothing)
{
	struct cancel *k = cancel_new(), *j = cancel_new();
	int n = 0;

	/* Fired first: the waiter learns it from cancel_fired, not from a call. */
	cancel_fire(k);
	cancel_watch(k, count_wake, &n);
	CHECK_EQ_INT(wakes(&n), 0);
	CHECK(cancel_fired(k));
	cancel_watch(j, count_wake, &n);
	cancel_watch(j, NULL, NULL);
	cancel_fire(j);
	CHECK_EQ_INT(wakes(&n), 0);
	cancel_free(k);
	cancel_free(j);
}

TEST(no_token_never_fires)
{
	CHECK(!cancel_fired(NULL));
	cancel_fire(NULL);
	cancel_watch(NULL, count_wake, NULL);
	cancel_free(NULL);
}

/* A value: a reference count. */
struct val {
	int refs;
};

static int live_values;

static void val_ref(void *p)
{
	__atomic_add_fetch(&((struct val *)p)->refs, 1, __ATOMIC_RELAXED);
}

static void val_unref(void *p)
{
	if (__atomic_sub_fetch(&((struct val *)p)->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		__atomic_sub_fetch(&live_values, 1, __ATOMIC_RELAXED);
		free(p);
	}
}

/* A fetch that parks on a gate while it is closed. */
struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool closed;
	int calls, parked;
};

static struct gate *gate_new(bool closed)
{
	struct gate *g = calloc(1, sizeof(*g));

	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv, NULL);
	g->closed = closed;
	return g;
}

static void gate_free(struct gate *g)
{
	pthread_mutex_destroy(&g->mu);
	pthread_cond_destroy(&g->cv);
	free(g);
}

static void gate_open(struct gate *g)
{
	pthread_mutex_lock(&g->mu);
	g->closed = false;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

static int gate_calls(struct gate *g)
{
	int n;

	pthread_mutex_lock(&g->mu);
	n = g->calls;
	pthread_mutex_unlock(&g->mu);
	return n;
}

/* Waits (5 s at most, a failure bound only) until a fetch is parked on the gate. */
static bool gate_wait_parked(struct gate *g)
{
	struct timespec ts;
	bool parked;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 5;
	pthread_mutex_lock(&g->mu);
	while (!g->parked && pthread_cond_timedwait(&g->cv, &g->mu, &ts) == 0)
		;
	parked = g->parked > 0;
	pthread_mutex_unlock(&g->mu);
	return parked;
}

static int gate_fetch(void *ctx, const char *key, const void *arg, void **value,
		      struct err_info *err)
{
	struct gate *g = ctx;
	struct val *v;

	(void)key; (void)arg; (void)err;
	pthread_mutex_lock(&g->mu);
	g->calls++;
	g->parked++;
	pthread_cond_broadcast(&g->cv);
	while (g->closed)
		pthread_cond_wait(&g->cv, &g->mu);
	g->parked--;
	pthread_mutex_unlock(&g->mu);
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->refs = 1;
	__atomic_add_fetch(&live_values, 1, __ATOMIC_RELAXED);
	*value = v;
	return 0;
}

static double fixed_now(void *ctx)
{
	(void)ctx;
	return 1000.0;
}

static struct cache *cache_for(struct gate *g, double wait_timeout)
{
	struct cache_config cfg = { .ttl = 60, .wait_timeout = wait_timeout };
	struct cache_ops ops = { .fetch = gate_fetch, .ref = val_ref, .unref = val_unref,
				 .now = fixed_now };
	struct cache *c = NULL;

	CHECK_EQ_INT(cache_new(&cfg, &ops, g, &c), 0);
	return c;
}

struct getter {
	pthread_t th;
	struct cache *c;
	struct cancel *k;	/* NULL: a plain cache_get */
	int rc;
	void *v;
	struct err_info err;
};

static void *getter_main(void *p)
{
	struct getter *a = p;

	a->rc = a->k ? cache_get_cancellable(a->c, "q", NULL, a->k, &a->v, NULL, &a->err)
		     : cache_get(a->c, "q", NULL, &a->v, NULL, &a->err);
	return NULL;
}

static void getter_start(struct getter *a, struct cache *c, struct cancel *k)
{
	memset(a, 0, sizeof(*a));
	a->c = c;
	a->k = k;
	CHECK_EQ_INT(pthread_create(&a->th, NULL, getter_main, a), 0);
}

/* Waits (5 s at most) until the cache has counted n more misses than base: a joining waiter
 * is counted under the cache lock, which it keeps until it sleeps on the fetch. */
static bool wait_misses(int64_t base, int64_t n)
{
	struct timespec ts = { 0, 1000000 };

	for (int i = 0; i < 5000; i++) {
		if (stats_get(STATS_CACHE_MISSES) - base >= n)
			return true;
		nanosleep(&ts, NULL);	/* polling with a deadline, not synchronisation */
	}
	return false;
}

/* The reader leaves when its token fires during the wait; the fetch goes on and is cached, so
 * the next reader gets it without a second fetch. Both wait modes: forever and with a
 * deadline. */
static void check_interrupted_waiter(double wait_timeout)
{
	struct gate *g = gate_new(true);
	struct cache *c = cache_for(g, wait_timeout);
	struct cancel *k = cancel_new();
	struct getter a, b;
	int64_t misses = stats_get(STATS_CACHE_MISSES);
	void *v = NULL;

	/* b starts the fetch, a joins it: a is asleep on it once its miss is counted. */
	getter_start(&b, c, NULL);
	CHECK(gate_wait_parked(g));
	getter_start(&a, c, k);
	CHECK(wait_misses(misses, 2));
	cancel_fire(k);
	pthread_join(a.th, NULL);
	CHECK_EQ_INT(a.rc, -EINTR);
	CHECK_EQ_INT(a.err.err, -EINTR);
	CHECK(strstr(a.err.message, "interrupted") != NULL);
	gate_open(g);
	pthread_join(b.th, NULL);
	CHECK_EQ_INT(b.rc, 0);
	CHECK_EQ_INT(cache_get(c, "q", NULL, &v, NULL, NULL), 0);
	CHECK(v == b.v);
	CHECK_EQ_INT(gate_calls(g), 1);
	val_unref(b.v);
	val_unref(v);
	cache_free(c);
	cancel_free(k);
	gate_free(g);
	CHECK_EQ_INT(__atomic_load_n(&live_values, __ATOMIC_RELAXED), 0);
}

TEST(interrupted_waiter_leaves_and_the_fetch_lands)
{
	check_interrupted_waiter(0);
	check_interrupted_waiter(30);
}

/* The reader whose token fires is the one that started the fetch: it leaves at once although
 * wait_timeout is 0 (its fetch runs in a thread of its own), and the fetch still lands. */
TEST(interrupted_fetcher_leaves_and_its_fetch_lands)
{
	struct gate *g = gate_new(true);
	struct cache *c = cache_for(g, 0);
	struct cancel *k = cancel_new();
	struct getter a;
	void *v = NULL;

	getter_start(&a, c, k);
	CHECK(gate_wait_parked(g));
	cancel_fire(k);
	pthread_join(a.th, NULL);
	CHECK_EQ_INT(a.rc, -EINTR);
	gate_open(g);
	cache_wait_background(c);
	CHECK_EQ_INT(cache_entries(c), 1);
	CHECK_EQ_INT(cache_get(c, "q", NULL, &v, NULL, NULL), 0);
	CHECK_EQ_INT(gate_calls(g), 1);
	val_unref(v);
	cache_free(c);
	cancel_free(k);
	gate_free(g);
	CHECK_EQ_INT(__atomic_load_n(&live_values, __ATOMIC_RELAXED), 0);
}

/* Interrupted before it would wait (the interrupt came before the request got that far): no
 * fetch is started for nobody; an answer already cached is still given. */
TEST(fired_token_starts_no_fetch_but_gets_cached_answers)
{
	struct gate *g = gate_new(false);
	struct cache *c = cache_for(g, 0);
	struct cancel *k = cancel_new();
	struct err_info err;
	void *v = NULL;

	cancel_fire(k);
	CHECK_EQ_INT(cache_get_cancellable(c, "q", NULL, k, &v, NULL, &err), -EINTR);
	CHECK_EQ_INT(err.err, -EINTR);
	CHECK_EQ_INT(gate_calls(g), 0);
	CHECK_EQ_INT(cache_entries(c), 0);
	CHECK_EQ_INT(cache_get(c, "q", NULL, &v, NULL, NULL), 0);
	val_unref(v);
	v = NULL;
	CHECK_EQ_INT(cache_get_cancellable(c, "q", NULL, k, &v, NULL, &err), 0);
	CHECK(v != NULL);
	val_unref(v);
	CHECK_EQ_INT(gate_calls(g), 1);
	cache_free(c);
	cancel_free(k);
	gate_free(g);
}

/* A token that never fires changes nothing. */
TEST(unfired_token_gets_the_answer)
{
	struct gate *g = gate_new(false);
	struct cache *c = cache_for(g, 0);
	struct cancel *k = cancel_new();
	void *v = NULL;

	CHECK_EQ_INT(cache_get_cancellable(c, "q", NULL, k, &v, NULL, NULL), 0);
	CHECK(v != NULL);
	val_unref(v);
	cache_free(c);
	cancel_free(k);
	gate_free(g);
}

struct firer {
	pthread_t th;
	struct cancel *k;
};

static void *firer_main(void *p)
{
	cancel_fire(((struct firer *)p)->k);
	return NULL;
}

/* The interrupt racing the fetch's end, the wait's start and the call's return: every outcome
 * is an answer or EINTR, nothing leaks, and the token can be freed once the call returned and
 * the firer is done (TSan and ASan runs check the rest). */
TEST(fire_racing_the_fetch_is_answer_or_eintr)
{
	int answers = 0, interrupted = 0;

	for (int i = 0; i < 200; i++) {
		struct gate *g = gate_new(false);
		struct cache *c = cache_for(g, i % 2 ? 30 : 0);
		struct cancel *k = cancel_new();
		struct firer f = { .k = k };
		struct getter a;

		CHECK_EQ_INT(pthread_create(&f.th, NULL, firer_main, &f), 0);
		getter_start(&a, c, k);
		pthread_join(a.th, NULL);
		pthread_join(f.th, NULL);
		if (a.rc == 0) {
			answers++;
			val_unref(a.v);
		} else {
			CHECK_EQ_INT(a.rc, -EINTR);
			interrupted++;
		}
		cache_free(c);
		cancel_free(k);
		gate_free(g);
	}
	CHECK_EQ_INT(answers + interrupted, 200);
	CHECK_EQ_INT(__atomic_load_n(&live_values, __ATOMIC_RELAXED), 0);
}
