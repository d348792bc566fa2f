/* test_cache: TTL, single flight, error sharing, drop_all, LRU, byte cap, stale-while-revalidate,
 * stale-on-error, back-off, background fetches and refcounts with a fake clock and fetch. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "stats.h"
#include "tf.h"

/* Fake values count their references; live_refs is the sum over all of them. */
struct fval {
	int id;
	int refs;
	size_t bytes;		/* what fv_size reports; tests grow it to mimic lazy rendering */
	char key[64];
};

static int live_refs;
static int live_values;

static void fv_ref(void *p)
{
	struct fval *v = p;

	__atomic_add_fetch(&v->refs, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&live_refs, 1, __ATOMIC_RELAXED);
}

static void fv_unref(void *p)
{
	struct fval *v = p;

	__atomic_sub_fetch(&live_refs, 1, __ATOMIC_RELAXED);
	if (__atomic_sub_fetch(&v->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		__atomic_sub_fetch(&live_values, 1, __ATOMIC_RELAXED);
		free(v);
	}
}

static int fv_refs(const struct fval *v)
{
	return __atomic_load_n(&v->refs, __ATOMIC_RELAXED);
}

struct fake {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int calls;
	int blocked;
	bool gate_closed;
	const char *slow_key;	/* only this key blocks on the gate; NULL = every key */
	int fail_rc;		/* 0 = succeed */
	int next_id;
	int64_t now_ms;
	int64_t call_ms[64];	/* the fake clock at each fetch call */
	char last_arg[64];	/* the arg string the last fetch saw (after its gate) */
	int replaced;		/* replaced callbacks */
	int replaced_old_id, replaced_new_id;
	int replaced_bad;	/* callbacks whose values were not alive or were equal */
	int dropped;		/* dropped callbacks */
	int dropped_id;		/* the last dropped value */
	int dropped_bad;	/* callbacks whose value was not alive or not the key's */
	size_t next_bytes;	/* size of the values fetched from now on */
};

static void fake_init(struct fake *f)
{
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	f->now_ms = 1000000;
}

static void fake_destroy(struct fake *f)
{
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->cv);
}

static double fake_now(void *ctx)
{
	struct fake *f = ctx;

	return (double)__atomic_load_n(&f->now_ms, __ATOMIC_RELAXED) / 1000.0;
}

static void fake_advance(struct fake *f, double seconds)
{
	__atomic_add_fetch(&f->now_ms, (int64_t)(seconds * 1000.0), __ATOMIC_RELAXED);
}

static int fake_fetch(void *ctx, const char *key, const void *arg, void **value,
		      struct err_info *err)
{
	struct fake *f = ctx;
	struct fval *v;
	int id, rc;

	(void)arg;
	pthread_mutex_lock(&f->mu);
	if (f->calls < 64)
		f->call_ms[f->calls] = __atomic_load_n(&f->now_ms, __ATOMIC_RELAXED);
	f->calls++;
	id = ++f->next_id;
	if (f->gate_closed && (!f->slow_key || strcmp(f->slow_key, key) == 0)) {
		f->blocked++;
		pthread_cond_broadcast(&f->cv);
		while (f->gate_closed)
			pthread_cond_wait(&f->cv, &f->mu);
		f->blocked--;
	}
	/* Read only now: a background fetch must still see the arg its caller passed. */
	if (arg)
		snprintf(f->last_arg, sizeof(f->last_arg), "%s", (const char *)arg);
	rc = f->fail_rc;
	pthread_mutex_unlock(&f->mu);
	if (rc) {
		memset(err, 0, sizeof(*err));
		err->err = rc;
		err->http_status = 503;
		snprintf(err->code, sizeof(err->code), "ServiceUnavailable");
		snprintf(err->message, sizeof(err->message), "fetch %d failed", id);
		return rc;
	}
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->id = id;
	v->refs = 1;
	pthread_mutex_lock(&f->mu);
	v->bytes = f->next_bytes;
	pthread_mutex_unlock(&f->mu);
	snprintf(v->key, sizeof(v->key), "%s", key);
	__atomic_add_fetch(&live_refs, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&live_values, 1, __ATOMIC_RELAXED);
	*value = v;
	return 0;
}

static int fake_calls(struct fake *f)
{
	int n;

	pthread_mutex_lock(&f->mu);
	n = f->calls;
	pthread_mutex_unlock(&f->mu);
	return n;
}

static void gate_close(struct fake *f, const char *slow_key)
{
	pthread_mutex_lock(&f->mu);
	f->gate_closed = true;
	f->slow_key = slow_key;
	pthread_mutex_unlock(&f->mu);
}

static void gate_open(struct fake *f, int fail_rc)
{
	pthread_mutex_lock(&f->mu);
	f->fail_rc = fail_rc;
	f->gate_closed = false;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

static void set_fail(struct fake *f, int rc)
{
	pthread_mutex_lock(&f->mu);
	f->fail_rc = rc;
	pthread_mutex_unlock(&f->mu);
}

/* Waits (5 s at most) until n fetches are parked on the gate. */
static bool wait_blocked(struct fake *f, int n)
{
	struct timespec ts;
	bool ok = true;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 5;
	pthread_mutex_lock(&f->mu);
	while (f->blocked < n && ok)
		ok = pthread_cond_timedwait(&f->cv, &f->mu, &ts) == 0;
	ok = f->blocked >= n;
	pthread_mutex_unlock(&f->mu);
	return ok;
}

/* Waits (5 s at most) until the process has counted n cache misses: a waiter is counted under
 * the cache lock it keeps until it sleeps on the flight, so this means "n threads joined". */
static bool wait_misses(int64_t n)
{
	for (int i = 0; i < 5000; i++) {
		if (stats_get(STATS_CACHE_MISSES) >= n)
			return true;
		usleep(1000);
	}
	return false;
}

static struct cache *new_cache(struct fake *f, double ttl, size_t max)
{
	struct cache_config cfg = { .ttl = ttl, .max_entries = max };
	struct cache_ops ops = {
		.fetch = fake_fetch, .ref = fv_ref, .unref = fv_unref, .now = fake_now,
	};
	struct cache *c = NULL;

	stats_reset();
	__atomic_store_n(&live_refs, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&live_values, 0, __ATOMIC_RELAXED);
	CHECK_EQ_INT(cache_new(&cfg, &ops, f, &c), 0);
	return c;
}

static struct fval *get(struct cache *c, const char *key, int *rc, struct err_info *err)
{
	void *v = NULL;

	*rc = cache_get(c, key, NULL, &v, NULL, err);
	return *rc ? NULL : v;
}

static void finish(struct cache *c, struct fake *f)
{
	cache_free(c);
	fake_destroy(f);
	CHECK_EQ_INT(__atomic_load_n(&live_refs, __ATOMIC_RELAXED), 0);
	CHECK_EQ_INT(__atomic_load_n(&live_values, __ATOMIC_RELAXED), 0);
	CHECK_EQ_INT(stats_get(STATS_CACHE_ENTRIES), 0);
}

TEST(new_rejects_bad_arguments)
{
	struct cache_config cfg = { .ttl = 1 };
	struct cache_ops ops = { .fetch = fake_fetch, .ref = fv_ref, .unref = fv_unref };
	struct cache *c = NULL;

	CHECK_EQ_INT(cache_new(&cfg, &ops, NULL, &c), -EINVAL);	/* no clock */
	ops.now = fake_now;
	cfg.ttl = -1;
	CHECK_EQ_INT(cache_new(&cfg, &ops, NULL, &c), -EINVAL);
	CHECK(c == NULL);
	cache_free(NULL);
}

TEST(hit_within_ttl)
{
	struct fake f;
	struct cache *c;
	struct err_info err;
	struct fval *a, *b;
	double age = -1;
	void *p = NULL;
	int rc;

	fake_init(&f);
	c = new_cache(&f, 10, 0);
	a = get(c, "k", &rc, &err);
	CHECK_EQ_INT(rc, 0);
	CHECK(a && a->id == 1);
	CHECK_EQ_INT(fake_calls(&f), 1);
	CHECK_EQ_INT(stats_get(STATS_CACHE_MISSES), 1);
	fake_advance(&f, 9.5);
	rc = cache_get(c, "k", NULL, &p, &age, &err);
	b = p;
	CHECK_EQ_INT(rc, 0);
	CHECK(b == a);
	CHECK(age > 9.4 && age < 9.6);
	CHECK_EQ_INT(fake_calls(&f), 1);
	CHECK_EQ_INT(stats_get(STATS_CACHE_HITS), 1);
	CHECK_EQ_INT(fv_refs(a), 3);	/* cache + two callers */
	CHECK_EQ_INT(cache_entries(c), 1);
	CHECK_EQ_INT(stats_get(STATS_CACHE_ENTRIES), 1);
	fv_unref(a);
	fv_unref(b);
	finish(c, &f);
}

TEST(refetch_after_ttl_keeps_old_value_for_its_holders)
{
	struct fake f;
	struct cache *c;
	struct err_info err;
	struct fval *a, *b;
	int rc;

	fake_init(&f);
	c = new_cache(&f, 10, 0);
	a = get(c, "k", &rc, &err);
	fake_advance(&f, 10);
	b = get(c, "k", &rc, &err);
	CHECK_EQ_INT(rc, 0);
	CHECK(a && b && a != b);
	CHECK_EQ_INT(fake_calls(&f), 2);
	CHECK_EQ_INT(stats_get(STATS_CACHE_MISSES), 2);
	CHECK_EQ_INT(fv_refs(a), 1);	/* the cache let go of it */
	CHECK_EQ_INT(fv_refs(b), 2);
	CHECK_EQ_INT(cache_entries(c), 1);
	CHECK_EQ_INT(a->id, 1);		/* still readable by its holder */
	fv_unref(a);
	fv_unref(b);
	finish(c, &f);
}

TEST(zero_ttl_always_fetches)
{
	struct fake f;
	struct cache *c;
	struct err_info err;
	struct fval *a, *b;
	int rc;

	fake_init(&f);
	c = new_cache(&f, 0, 0);
	a = get(c, "k", &rc, &err);
	b = get(c, "k", &rc, &err);
	CHECK(a && b && a != b);
	CHECK_EQ_INT(fake_calls(&f), 2);
	fv_unref(a);
	fv_unref(b);
	finish(c, &f);
}

TEST(peek_answers_only_fresh_values)
{
	struct fake f;
	struct cache *c;
	struct err_info err;
	struct fval *a;
	void *p = NULL;
	double age = -1;
	int rc;

	fake_init(&f);
	c = new_cache(&f, 10, 0);
	CHECK_EQ_INT(cache_peek(c, "k", &p, NULL), -ENOENT);
	a = get(c, "k", &rc, &err);
	fake_advance(&f, 3);
	CHECK_EQ_INT(cache_peek(c, "k", &p, &age), 0);
	CHECK(p == a);
	CHECK(age > 2.9 && age < 3.1);
	fv_unref(p);
	fake_advance(&f, 7);
	CHECK_EQ_INT(cache_peek(c, "k", &p, NULL), -ENOENT);
	CHECK_EQ_INT(fake_calls(&f), 1);
	fv_unref(a);
	finish(c, &f);
}

TEST(errors_are_not_cached)
{
	struct fake f;
	struct cache *c;
	struct err_info err;
	struct fval *a;
	int rc;

	fake_init(&f);
	c = new_cache(&f, 10, 0);
	set_fail(&f, -EIO);
	memset(&err, 0, sizeof(err));
	a = get(c, "k", &rc, &err);
	CHECK(a == NULL);
	CHECK_EQ_INT(rc, -EIO);
	CHECK_EQ_INT(err.err, -EIO);
	CHECK_EQ_INT(err.http_status, 503);
	CHECK_EQ_STR(err.code, "ServiceUnavailable");
	CHECK_EQ_STR(err.message, "fetch 1 failed");
	CHECK_EQ_INT(cache_entries(c), 0);
	a = get(c, "k", &rc, &err);
	CHECK_EQ_INT(rc, -EIO);
	CHECK_EQ_INT(fake_calls(&f), 2);	/* retried, not answered from a cached error */
	set_fail(&f, 0);
	a = get(c, "k", &rc, &err);
	CHECK_EQ_INT(rc, 0);
	CHECK(a != NULL);
	CHECK_EQ_INT(fake_calls(&f), 3);
	if (a)
		fv_unref(a);
	finish(c, &f);
}

TEST(error_on_refresh_keeps_nothing_new)
{
	struct fake f;
	struct cache *c;
	struct err_info err;
	struct fval *a, *b;
	int rc;

	fake_init(&f);
	c = new_cache(&f, 10, 0);
	a = get(c, "k", &rc, &err);
	fake_advance(&f, 11);
	set_fail(&f, -ETIMEDOUT);
	b = get(c, "k", &rc, &err);
	CHECK(b == NULL);
	CHECK_EQ_INT(rc, -ETIMEDOUT);
	CHECK_EQ_INT(cache_peek(c, "k", (void **)&b, NULL), -ENOENT);
	set_fail(&f, 0);
	b = get(c, "k", &rc, &err);
	CHECK_EQ_INT(rc, 0);
	CHECK(b && b != a);
	CHECK_EQ_INT(fake_calls(&f), 3);
	CHECK_EQ_INT(cache_entries(c), 1);
	fv_unref(a);
	if (b)
		fv_unref(b);
	finish(c, &f);
}

/* Test threads get small stacks: under valgrind, creating 32 threads with the default 8 MiB
 * stacks costs seconds. */
static void thread_start(pthread_t *th, void *(*fn)(void *), void *arg)
{
	pthread_attr_t at;

	pthread_attr_init(&at);
	pthread_attr_setstacksize(&at, 256 * 1024);
	if (pthread_create(th, &at, fn, arg))
		abort();
	pthread_attr_destroy(&at);
}

struct getter {
	pthread_t th;
	struct cache *c;
	const char *key;
	pthread_barrier_t *start;
	int rc;
	struct fval *v;
	struct err_info err;
};

static void *getter_main(void *p)
{
	struct getter *g = p;
	void *v = NULL;

	if (g->start)
		pthread_barrier_wait(g->start);
	memset(&g->err, 0, sizeof(g->err));
	g->rc = cache_get(g->c, g->key, NULL, &v, NULL, &g->err);
	g->v = g->rc ? NULL : v;
	return NULL;
}

static void getter_start(struct getter *g, struct cache *c, const char *key,
			 pthread_barrier_t *start)
{
	memset(g, 0, sizeof(*g));
	g->c = c;
	g->key = key;
	g->start = start;
	g->rc = 1;
	thread_start(&g->th, getter_main, g);
}

TEST(error_is_shared_with_concurrent_waiters)
{
	enum { N = 8 };
	struct getter g[N];
	struct fake f;
	struct cache *c;
	struct err_info err;
	struct fval *v;
	int rc;

	fake_init(&f);
	c = new_cache(&f, 10, 0);
	gate_close(&f, NULL);
	getter_start(&g[0], c, "k", NULL);
	CHECK(wait_blocked(&f, 1));
	for (int i = 1; i < N; i++)
		getter_start(&g[i], c, "k", NULL);
	CHECK(wait_misses(N));
	gate_open(&f, -EAGAIN);
	for (int i = 0; i < N; i++) {
		pthread_join(g[i].th, NULL);
		CHECK_EQ_INT(g[i].rc, -EAGAIN);
		CHECK(g[i].v == NULL);
		CHECK_EQ_INT(g[i].err.err, -EAGAIN);
		CHECK_EQ_STR(g[i].err.message, "fetch 1 failed");
		CHECK_EQ_STR(g[i].err.code, "ServiceUnavailable");
	}
	CHECK_EQ_INT(fake_calls(&f), 1);
	CHECK_EQ_INT(cache_entries(c), 0);
	/* The failure was not kept: the next caller fetches again and succeeds. */
	set_fail(&f, 0);
	v = get(c, "k", &rc, &err);
	CHECK_EQ_INT(rc, 0);
	CHECK_EQ_INT(fake_calls(&f), 2);
	if (v)
		fv_unref(v);
	finish(c, &f);
}

TEST(thirty_two_threads_one_fetch)
{
	enum { N = 32 };
	struct getter g[N];
	pthread_barrier_t start;
	struct fake f;
	struct cache *c;
	struct fval *first = NULL;

	fake_init(&f);
	c = new_cache(&f, 30, 0);
	gate_close(&f, NULL);
	pthread_barrier_init(&start, NULL, N);
	for (int i = 0; i < N; i++)
		getter_start(&g[i], c, "WorkspaceId=ALL", &start);
	/* Hold the fetch until all 32 asked, so none can come late and be a plain hit. */
	CHECK(wait_blocked(&f, 1));
	CHECK(wait_misses(N));
	gate_open(&f, 0);
	for (int i = 0; i < N; i++) {
		pthread_join(g[i].th, NULL);
		CHECK_EQ_INT(g[i].rc, 0);
		if (!first)
			first = g[i].v;
		CHECK(g[i].v == first);
	}
	CHECK_EQ_INT(fake_calls(&f), 1);
	CHECK_EQ_INT(stats_get(STATS_CACHE_MISSES), N);
	CHECK_EQ_INT(stats_get(STATS_CACHE_HITS), 0);
	if (first) {
		CHECK_EQ_INT(fv_refs(first), N + 1);
		CHECK_EQ_STR(first->key, "WorkspaceId=ALL");
	}
	for (int i = 0; i < N; i++)
		if (g[i].v)
			fv_unref(g[i].v);
	pthread_barrier_destroy(&start);
	finish(c, &f);
}

TEST(slow_key_does_not_block_fast_key)
{
	struct getter slow;
	struct fake f;
	struct cache *c;
	struct err_info err;
	struct fval *fast, *again;
	int rc;

	fake_init(&f);
	c = new_cache(&f, 30, 0);
	gate_close(&f, "slow");
	getter_start(&slow, c, "slow", NULL);
	CHECK(wait_blocked(&f, 1));
	fast = get(c, "fast", &rc, &err);	/* completes while "slow" is still in flight */
	CHECK_EQ_INT(rc, 0);
	CHECK(fast && strcmp(fast->key, "fast") == 0);
	again = get(c, "fast", &rc, &err);
	CHECK(again == fast);
	CHECK_EQ_INT(fake_calls(&f), 2);
	CHECK_EQ_INT(cache_entries(c), 1);
	gate_open(&f, 0);
	pthread_join(slow.th, NULL);
	CHECK_EQ_INT(slow.rc, 0);
	CHECK(slow.v && strcmp(slow.v->key, "slow") == 0);
	CHECK_EQ_INT(cache_entries(c), 2);
	if (slow.v)
		fv_unref(slow.v);
	if (fast)
		fv_unref(fast);
	if (again)
		fv_unref(again);
	finish(c, &f);
}

TEST(drop_all_during_fetch_hands_result_to_waiters_only)
{
	struct getter a, b, late;
	struct fake f;
	struct cache *c;
	struct err_info err;
	struct fval *v;
	int rc;

	fake_init(&f);
	c = new_cache(&f, 30, 0);
	v = get(c, "other", &rc, &err);
	CHECK_EQ_INT(cache_entries(c), 1);
	gate_close(&f, "k");
	getter_start(&a, c, "k", NULL);
	CHECK(wait_blocked(&f, 1));
	getter_start(&b, c, "k", NULL);
	CHECK(wait_misses(3));
	cache_drop_all(c);
	CHECK_EQ_INT(cache_entries(c), 0);
	CHECK_EQ_INT(stats_get(STATS_CACHE_ENTRIES), 0);
	CHECK_EQ_INT(fv_refs(v), 1);	/* the caller's reference survives the drop */
	/* A caller arriving after the drop does not join the old flight: it fetches anew. */
	getter_start(&late, c, "k", NULL);
	CHECK(wait_blocked(&f, 2));
	gate_open(&f, 0);
	pthread_join(a.th, NULL);
	pthread_join(b.th, NULL);
	pthread_join(late.th, NULL);
	CHECK_EQ_INT(a.rc, 0);
	CHECK_EQ_INT(b.rc, 0);
	CHECK_EQ_INT(late.rc, 0);
	CHECK(a.v && a.v == b.v);
	CHECK(late.v && late.v != a.v);
	CHECK_EQ_INT(fake_calls(&f), 3);
	/* Only the late fetch was kept. */
	CHECK_EQ_INT(cache_entries(c), 1);
	if (a.v)
		CHECK_EQ_INT(fv_refs(a.v), 2);
	if (late.v)
		CHECK_EQ_INT(fv_refs(late.v), 2);
	fv_unref(a.v);
	fv_unref(b.v);
	fv_unref(late.v);
	fv_unref(v);
	finish(c, &f);
}

TEST(drop_all_releases_values)
{
	struct fake f;
	struct cache *c;
	struct err_info err;
	struct fval *a, *b;
	int rc;

	fake_init(&f);
	c = new_cache(&f, 30, 0);
	a = get(c, "a", &rc, &err);
	b = get(c, "b", &rc, &err);
	fv_unref(b);
	CHECK_EQ_INT(__atomic_load_n(&live_values, __ATOMIC_RELAXED), 2);
	cache_drop_all(c);
	CHECK_EQ_INT(__atomic_load_n(&live_values, __ATOMIC_RELAXED), 1);
	CHECK_EQ_INT(fv_refs(a), 1);
	CHECK_EQ_INT(cache_entries(c), 0);
	b = get(c, "a", &rc, &err);
	CHECK(b && b != a);
	CHECK_EQ_INT(fake_calls(&f), 3);
	fv_unref(a);
	fv_unref(b);
	finish(c, &f);
}

static bool fetched_again(struct cache *c, struct fake *f, const char *key)
{
	struct err_info err;
	struct fval *v;
	int before = fake_calls(f), rc;

	v = get(c, key, &rc, &err);
	if (v)
		fv_unref(v);
	return fake_calls(f) > before;
}

TEST(lru_eviction_order_and_cap)
{
	struct fake f;
	struct cache *c;

	fake_init(&f);
	c = new_cache(&f, 1000, 3);
	CHECK(fetched_again(c, &f, "a"));
	CHECK(fetched_again(c, &f, "b"));
	CHECK(fetched_again(c, &f, "c"));
	CHECK_EQ_INT(cache_entries(c), 3);
	CHECK(!fetched_again(c, &f, "a"));	/* a is now the most recent; b the least */
	CHECK(fetched_again(c, &f, "d"));	/* evicts b */
	CHECK_EQ_INT(cache_entries(c), 3);
	CHECK_EQ_INT(stats_get(STATS_CACHE_EVICTIONS), 1);
	CHECK_EQ_INT(stats_get(STATS_CACHE_ENTRIES), 3);
	CHECK(!fetched_again(c, &f, "c"));	/* order, oldest first: a, d, c */
	CHECK(!fetched_again(c, &f, "a"));	/* d, c, a */
	CHECK(fetched_again(c, &f, "b"));	/* evicts d: c, a, b */
	CHECK_EQ_INT(stats_get(STATS_CACHE_EVICTIONS), 2);
	CHECK(!fetched_again(c, &f, "c"));
	CHECK(!fetched_again(c, &f, "a"));
	CHECK(!fetched_again(c, &f, "b"));
	CHECK(fetched_again(c, &f, "d"));	/* evicts c */
	CHECK_EQ_INT(cache_entries(c), 3);
	CHECK_EQ_INT(__atomic_load_n(&live_values, __ATOMIC_RELAXED), 3);
	finish(c, &f);
}

TEST(eviction_spares_entries_being_refreshed)
{
	struct getter refresh;
	struct fake f;
	struct cache *c;

	fake_init(&f);
	c = new_cache(&f, 10, 2);
	CHECK(fetched_again(c, &f, "x"));
	fake_advance(&f, 5);
	CHECK(fetched_again(c, &f, "y"));
	fake_advance(&f, 6);			/* x expired, y fresh */
	gate_close(&f, "x");
	getter_start(&refresh, c, "x", NULL);
	CHECK(wait_blocked(&f, 1));
	CHECK(!fetched_again(c, &f, "y"));	/* LRU order now: x (in flight), y */
	CHECK(fetched_again(c, &f, "z"));	/* over the cap: y goes, x is spared */
	CHECK_EQ_INT(stats_get(STATS_CACHE_EVICTIONS), 1);
	CHECK_EQ_INT(cache_entries(c), 2);	/* x's old value is kept until replaced */
	gate_open(&f, 0);
	pthread_join(refresh.th, NULL);
	CHECK_EQ_INT(refresh.rc, 0);
	CHECK_EQ_INT(cache_entries(c), 2);
	CHECK(!fetched_again(c, &f, "x"));
	CHECK(!fetched_again(c, &f, "z"));
	CHECK(fetched_again(c, &f, "y"));
	if (refresh.v)
		fv_unref(refresh.v);
	finish(c, &f);
}

TEST(expired_values_are_released_on_the_next_miss)
{
	struct fake f;
	struct cache *c;

	fake_init(&f);
	c = new_cache(&f, 10, 0);
	CHECK(fetched_again(c, &f, "a"));
	CHECK(fetched_again(c, &f, "b"));
	fake_advance(&f, 20);
	CHECK(fetched_again(c, &f, "c"));
	CHECK_EQ_INT(cache_entries(c), 1);
	CHECK_EQ_INT(__atomic_load_n(&live_values, __ATOMIC_RELAXED), 1);
	finish(c, &f);
}

TEST(many_keys_grow_the_table)
{
	struct fake f;
	struct cache *c;
	char key[32];

	fake_init(&f);
	c = new_cache(&f, 100, 0);
	for (int i = 0; i < 500; i++) {
		snprintf(key, sizeof(key), "Status=Running&k=%d", i);
		CHECK(fetched_again(c, &f, key));
	}
	for (int i = 0; i < 500; i++) {
		snprintf(key, sizeof(key), "Status=Running&k=%d", i);
		CHECK(!fetched_again(c, &f, key));
	}
	CHECK_EQ_INT(cache_entries(c), 500);
	CHECK_EQ_INT(stats_get(STATS_CACHE_ENTRIES), 500);
	finish(c, &f);
}

struct stress {
	struct cache *c;
	struct fake *f;
	int seed;
	int failures;
};

/* A cache_get step of a stress thread: a value must be the key's own, an error only -EIO. */
static void stress_get(struct stress *s, const char *key, const void *arg)
{
	struct err_info err;
	void *v = NULL;
	int rc = cache_get(s->c, key, arg, &v, NULL, &err);

	if (rc == 0) {
		if (strcmp(((struct fval *)v)->key, key) != 0)
			s->failures++;
		fv_unref(v);
	} else if (rc != -EIO) {
		s->failures++;
	}
}

/* Runs fn on 8 threads sharing c (seeds seed0, seed0 + 1, ...); none may count a failure. */
static void stress_run(struct cache *c, struct fake *f, void *(*fn)(void *), int seed0)
{
	enum { N = 8 };
	struct stress s[N];
	pthread_t th[N];

	for (int i = 0; i < N; i++) {
		s[i] = (struct stress){ .c = c, .f = f, .seed = seed0 + i };
		thread_start(&th[i], fn, &s[i]);
	}
	for (int i = 0; i < N; i++) {
		pthread_join(th[i], NULL);
		CHECK_EQ_INT(s[i].failures, 0);
	}
}

static void *stress_main(void *p)
{
	struct stress *s = p;
	unsigned r = (unsigned)s->seed;
	char key[16];

	for (int i = 0; i < 400; i++) {
		void *v = NULL;

		r = r * 1103515245u + 12345u;
		snprintf(key, sizeof(key), "k%u", (r >> 16) % 7);
		switch ((r >> 8) % 16) {
		case 0:
			cache_drop_all(s->c);
			break;
		case 1:
			fake_advance(s->f, 1);
			break;
		case 2:
			if (cache_peek(s->c, key, &v, NULL) == 0)
				fv_unref(v);
			break;
		default:
			stress_get(s, key, NULL);
			break;
		}
		(void)cache_entries(s->c);
	}
	return NULL;
}

TEST(concurrent_mixed_operations_stay_consistent)
{
	struct fake f;
	struct cache *c;

	fake_init(&f);
	c = new_cache(&f, 3, 4);
	stress_run(c, &f, stress_main, 1);
	CHECK(cache_entries(c) <= 4);
	CHECK_EQ_INT((int64_t)cache_entries(c), stats_get(STATS_CACHE_ENTRIES));
	finish(c, &f);
}

/* ---- stale-while-revalidate, stale-on-error, background fetches ---- */

static void fake_replaced(void *ctx, const char *key, void *old_value, void *new_value)
{
	struct fake *f = ctx;
	struct fval *o = old_value, *n = new_value;

	pthread_mutex_lock(&f->mu);
	f->replaced++;
	f->replaced_old_id = o->id;
	f->replaced_new_id = n->id;
	if (o == n || fv_refs(o) < 1 || fv_refs(n) < 1 || strcmp(o->key, key) != 0 ||
	    strcmp(n->key, key) != 0)
		f->replaced_bad++;
	pthread_mutex_unlock(&f->mu);
}

static void fake_dropped(void *ctx, const char *key, void *old_value)
{
	struct fake *f = ctx;
	struct fval *o = old_value;

	pthread_mutex_lock(&f->mu);
	f->dropped++;
	f->dropped_id = o->id;
	if (fv_refs(o) < 1 || strcmp(o->key, key) != 0)
		f->dropped_bad++;
	pthread_mutex_unlock(&f->mu);
}

static int replaced_count(struct fake *f, int *old_id, int *new_id)
{
	int n;

	pthread_mutex_lock(&f->mu);
	n = f->replaced;
	if (old_id)
		*old_id = f->replaced_old_id;
	if (new_id)
		*new_id = f->replaced_new_id;
	CHECK_EQ_INT(f->replaced_bad, 0);
	pthread_mutex_unlock(&f->mu);
	return n;
}

static int arg_dups, arg_frees;

static void *arg_dup_str(const void *arg)
{
	__atomic_add_fetch(&arg_dups, 1, __ATOMIC_RELAXED);
	return strdup(arg);
}

static void arg_free_str(void *arg)
{
	__atomic_add_fetch(&arg_frees, 1, __ATOMIC_RELAXED);
	free(arg);
}

static struct cache *new_stale_cache(struct fake *f, double ttl, double grace, double max_stale,
				     size_t max)
{
	struct cache_config cfg = {
		.ttl = ttl, .max_entries = max, .grace = grace, .max_stale = max_stale,
	};
	struct cache_ops ops = {
		.fetch = fake_fetch, .ref = fv_ref, .unref = fv_unref, .now = fake_now,
		.replaced = fake_replaced, .dropped = fake_dropped, .arg_dup = arg_dup_str,
		.arg_free = arg_free_str,
	};
	struct cache *c = NULL;

	stats_reset();
	__atomic_store_n(&live_refs, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&live_values, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&arg_dups, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&arg_frees, 0, __ATOMIC_RELAXED);
	CHECK_EQ_INT(cache_new(&cfg, &ops, f, &c), 0);
	return c;
}

static void finish_stale(struct cache *c, struct fake *f)
{
	finish(c, f);
	CHECK_EQ_INT(__atomic_load_n(&arg_dups, __ATOMIC_RELAXED),
		     __atomic_load_n(&arg_frees, __ATOMIC_RELAXED));
}

static int fval_id(const struct fval *v)
{
	return v ? v->id : -1;
}

/* cache_get + unref, for callers that only care which value came back (-1 on error). */
static int get_id(struct cache *c, const char *key)
{
	struct err_info err;
	struct fval *v;
	int rc, id;

	v = get(c, key, &rc, &err);
	id = fval_id(v);
	if (v)
		fv_unref(v);
	return id;
}

/* Whether asking for key caused a request, background ones included (waited for). */
static bool asked_api(struct cache *c, struct fake *f, const char *key)
{
	int before = fake_calls(f);

	(void)get_id(c, key);
	cache_wait_background(c);
	return fake_calls(f) > before;
}

/* Joins with a 5 s deadline, so a caller wrongly waiting for a gated fetch fails the test
 * instead of hanging it; false if the thread is still running. */
static bool join_within(pthread_t th)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 5;
	return pthread_timedjoin_np(th, NULL, &ts) == 0;
}

TEST(new_rejects_half_an_arg_pair_and_negative_windows)
{
	struct cache_config cfg = { .ttl = 1 };
	struct cache_ops ops = {
		.fetch = fake_fetch, .ref = fv_ref, .unref = fv_unref, .now = fake_now,
		.arg_dup = arg_dup_str,
	};
	struct cache *c = NULL;

	CHECK_EQ_INT(cache_new(&cfg, &ops, NULL, &c), -EINVAL);
	ops.arg_dup = NULL;
	ops.arg_free = arg_free_str;
	CHECK_EQ_INT(cache_new(&cfg, &ops, NULL, &c), -EINVAL);
	ops.arg_free = NULL;
	cfg.grace = -1;
	CHECK_EQ_INT(cache_new(&cfg, &ops, NULL, &c), -EINVAL);
	cfg.grace = 0;
	cfg.max_stale = -1;
	CHECK_EQ_INT(cache_new(&cfg, &ops, NULL, &c), -EINVAL);
	CHECK(c == NULL);
}

TEST(swr_serves_old_value_to_32_callers_with_one_background_fetch)
{
	enum { N = 32 };
	struct getter g[N];
	pthread_barrier_t start;
	struct fake f;
	struct cache *c;
	struct err_info err;
	struct fval *a, *b;
	double age = -1;
	void *p = NULL;
	int rc, old_id = 0, new_id = 0;
	bool all_returned = true;

	fake_init(&f);
	c = new_stale_cache(&f, 10, 20, 0, 0);
	a = get(c, "k", &rc, &err);
	CHECK_EQ_INT(fval_id(a), 1);
	fake_advance(&f, 12);
	gate_close(&f, NULL);
	pthread_barrier_init(&start, NULL, N);
	for (int i = 0; i < N; i++)
		getter_start(&g[i], c, "k", &start);
	/* Every caller returns while the refresh is still parked on the gate. */
	for (int i = 0; i < N; i++)
		all_returned &= join_within(g[i].th);
	CHECK(all_returned);
	CHECK(wait_blocked(&f, 1));
	CHECK_EQ_INT(fake_calls(&f), 2);
	CHECK_EQ_INT(stats_get(STATS_CACHE_STALE_SERVES), N);
	CHECK_EQ_INT(stats_get(STATS_CACHE_REFRESHES), 1);
	CHECK_EQ_INT(stats_get(STATS_CACHE_MISSES), 1);
	CHECK_EQ_INT(stats_get(STATS_CACHE_HITS), 0);
	if (all_returned) {
		for (int i = 0; i < N; i++) {
			CHECK_EQ_INT(g[i].rc, 0);
			CHECK(g[i].v == a);
		}
		CHECK_EQ_INT(fv_refs(a), N + 2);	/* cache, the first get, 32 callers */
	}
	CHECK_EQ_INT(replaced_count(&f, NULL, NULL), 0);
	gate_open(&f, 0);
	if (!all_returned)
		for (int i = 0; i < N; i++)
			pthread_join(g[i].th, NULL);
	cache_wait_background(c);
	CHECK_EQ_INT(replaced_count(&f, &old_id, &new_id), 1);
	CHECK_EQ_INT(old_id, 1);
	CHECK_EQ_INT(new_id, 2);
	rc = cache_get(c, "k", NULL, &p, &age, &err);
	b = p;
	CHECK_EQ_INT(rc, 0);
	CHECK_EQ_INT(fval_id(b), 2);
	CHECK(age >= 0 && age < 0.01);
	CHECK_EQ_INT(stats_get(STATS_CACHE_HITS), 1);
	CHECK_EQ_INT(fake_calls(&f), 2);
	CHECK_EQ_INT(fv_refs(a), N + 1);	/* the cache let go of it */
	CHECK_EQ_INT(cache_entries(c), 1);
	for (int i = 0; i < N; i++)
		if (g[i].v)
			fv_unref(g[i].v);
	fv_unref(a);
	if (b)
		fv_unref(b);
	pthread_barrier_destroy(&start);
	finish_stale(c, &f);
}

TEST(past_grace_callers_wait_and_join_a_background_fetch)
{
	struct getter g;
	struct fake f;
	struct cache *c;
	struct err_info err;
	struct fval *a, *b, *s;
	int rc, old_id = 0, new_id = 0;

	fake_init(&f);
	c = new_stale_cache(&f, 10, 5, 0, 0);
	a = get(c, "k", &rc, &err);
	fake_advance(&f, 16);			/* past ttl + grace: a foreground refetch */
	b = get(c, "k", &rc, &err);
	CHECK_EQ_INT(fval_id(b), 2);
	CHECK_EQ_INT(stats_get(STATS_CACHE_MISSES), 2);
	CHECK_EQ_INT(stats_get(STATS_CACHE_STALE_SERVES), 0);
	CHECK_EQ_INT(replaced_count(&f, &old_id, &new_id), 1);
	CHECK_EQ_INT(old_id, 1);
	CHECK_EQ_INT(new_id, 2);
	fake_advance(&f, 11);			/* b in its grace period */
	gate_close(&f, NULL);
	s = get(c, "k", &rc, &err);
	CHECK(s == b);
	CHECK(wait_blocked(&f, 1));
	fake_advance(&f, 5);			/* b past grace while its refresh runs */
	getter_start(&g, c, "k", NULL);
	CHECK(wait_misses(3));
	CHECK_EQ_INT(fake_calls(&f), 3);	/* it joined the background fetch */
	gate_open(&f, 0);
	pthread_join(g.th, NULL);
	CHECK_EQ_INT(g.rc, 0);
	CHECK_EQ_INT(fval_id(g.v), 3);
	cache_wait_background(c);
	CHECK_EQ_INT(replaced_count(&f, &old_id, &new_id), 2);
	CHECK_EQ_INT(old_id, 2);
	CHECK_EQ_INT(new_id, 3);
	CHECK_EQ_INT(stats_get(STATS_CACHE_REFRESHES), 1);
	CHECK_EQ_INT(fake_calls(&f), 3);
	fv_unref(a);
	fv_unref(b);
	fv_unref(s);
	if (g.v)
		fv_unref(g.v);
	finish_stale(c, &f);
}

TEST(failed_refresh_serves_old_value_within_max_stale_then_fails)
{
	struct fake f;
	struct cache *c;
	struct err_info err;
	struct fval *a, *v;
	double age = -1;
	void *p = NULL;
	int rc;

	fake_init(&f);
	c = new_stale_cache(&f, 10, 5, 60, 0);
	a = get(c, "k", &rc, &err);
	fake_advance(&f, 11);
	set_fail(&f, -EIO);
	v = get(c, "k", &rc, &err);		/* stale, background refresh fails */
	CHECK(v == a);
	fv_unref(v);
	cache_wait_background(c);
	CHECK_EQ_INT(fake_calls(&f), 2);
	CHECK_EQ_INT(cache_entries(c), 1);
	v = get(c, "k", &rc, &err);		/* within the back-off: no request */
	CHECK(v == a);
	fv_unref(v);
	cache_wait_background(c);
	CHECK_EQ_INT(fake_calls(&f), 2);
	/* Past ttl + grace, but the API is failing: answered at once, retried behind. */
	fake_advance(&f, 10);
	gate_close(&f, NULL);
	rc = cache_get(c, "k", NULL, &p, &age, &err);
	CHECK_EQ_INT(rc, 0);
	CHECK(p == a);
	CHECK(age > 20.9 && age < 21.1);
	fv_unref(p);
	CHECK(wait_blocked(&f, 1));
	gate_open(&f, -EIO);
	cache_wait_background(c);
	CHECK_EQ_INT(fake_calls(&f), 3);
	CHECK_EQ_INT(stats_get(STATS_CACHE_STALE_SERVES), 3);
	CHECK_EQ_INT(stats_get(STATS_CACHE_REFRESHES), 2);
	CHECK_EQ_INT(cache_peek(c, "k", &p, NULL), -ENOENT);	/* peek answers fresh only */
	CHECK(cache_oldest_age(c) > 20.9);
	/* Past max_stale: the caller waits for the fetch and gets its error. */
	fake_advance(&f, 40);
	memset(&err, 0, sizeof(err));
	v = get(c, "k", &rc, &err);
	CHECK(v == NULL);
	CHECK_EQ_INT(rc, -EIO);
	CHECK_EQ_INT(err.err, -EIO);
	CHECK_EQ_STR(err.message, "fetch 4 failed");
	CHECK_EQ_INT(fake_calls(&f), 4);
	CHECK_EQ_INT(cache_entries(c), 0);	/* a is of no use to anyone now */
	CHECK_EQ_INT(fv_refs(a), 1);
	v = get(c, "k", &rc, &err);		/* no value: no back-off either */
	CHECK_EQ_INT(rc, -EIO);
	CHECK_EQ_INT(fake_calls(&f), 5);
	set_fail(&f, 0);
	v = get(c, "k", &rc, &err);
	CHECK_EQ_INT(rc, 0);
	CHECK_EQ_INT(fval_id(v), 6);
	CHECK_EQ_INT(replaced_count(&f, NULL, NULL), 0);
	if (v)
		fv_unref(v);
	fv_unref(a);
	finish_stale(c, &f);
}

TEST(foreground_failure_gives_every_waiter_the_old_value_and_the_error)
{
	enum { N = 8 };
	struct getter g[N];
	struct fake f;
	struct cache *c;
	struct err_info err;
	struct fval *a, *v;
	int rc;

	fake_init(&f);
	c = new_stale_cache(&f, 10, 0, 60, 0);
	a = get(c, "k", &rc, &err);
	fake_advance(&f, 15);
	gate_close(&f, NULL);
	getter_start(&g[0], c, "k", NULL);
	CHECK(wait_blocked(&f, 1));
	for (int i = 1; i < N; i++)
		getter_start(&g[i], c, "k", NULL);
	CHECK(wait_misses(1 + N));
	gate_open(&f, -ETIMEDOUT);
	for (int i = 0; i < N; i++) {
		pthread_join(g[i].th, NULL);
		CHECK_EQ_INT(g[i].rc, 0);
		CHECK(g[i].v == a);
		CHECK_EQ_INT(g[i].err.err, -ETIMEDOUT);
		CHECK_EQ_STR(g[i].err.message, "fetch 2 failed");
	}
	CHECK_EQ_INT(fake_calls(&f), 2);
	CHECK_EQ_INT(stats_get(STATS_CACHE_STALE_SERVES), N);
	CHECK_EQ_INT(stats_get(STATS_CACHE_REFRESHES), 0);
	/* Now known to be failing: answered at once without a request during the back-off. */
	v = get(c, "k", &rc, &err);
	CHECK(v == a);
	CHECK_EQ_INT(fake_calls(&f), 2);
	CHECK_EQ_INT(stats_get(STATS_CACHE_MISSES), 1 + N);
	CHECK_EQ_INT(cache_entries(c), 1);
	for (int i = 0; i < N; i++)
		if (g[i].v)
			fv_unref(g[i].v);
	if (v)
		fv_unref(v);
	fv_unref(a);
	finish_stale(c, &f);
}

TEST(never_fetched_key_fails_every_time)
{
	struct fake f;
	struct cache *c;
	struct err_info err;
	int rc;

	fake_init(&f);
	c = new_stale_cache(&f, 10, 10, 100, 0);
	set_fail(&f, -EACCES);
	for (int i = 0; i < 3; i++) {
		memset(&err, 0, sizeof(err));
		CHECK(get(c, "k", &rc, &err) == NULL);
		CHECK_EQ_INT(rc, -EACCES);
		CHECK_EQ_INT(err.err, -EACCES);
	}
	CHECK_EQ_INT(fake_calls(&f), 3);
	CHECK_EQ_INT(cache_entries(c), 0);
	CHECK_EQ_INT(stats_get(STATS_CACHE_STALE_SERVES), 0);
	CHECK(cache_oldest_age(c) == 0);
	finish_stale(c, &f);
}

TEST(backoff_doubles_up_to_ttl_and_restarts_after_success)
{
	static const int expect_s[] = { 9, 10, 12, 16, 24, 32, 40, 48 };
	enum { NE = sizeof(expect_s) / sizeof(expect_s[0]) };
	struct fake f;
	struct cache *c;
	struct err_info err;
	struct fval *a, *v;
	int rc, bad = 0, calls;

	fake_init(&f);
	c = new_stale_cache(&f, 8, 0, 1000, 0);
	a = get(c, "k", &rc, &err);
	fake_advance(&f, 9);
	set_fail(&f, -EAGAIN);
	for (int i = 0; i < 80; i++) {		/* ask every 0.5 s for 40 s */
		v = get(c, "k", &rc, &err);
		bad += rc != 0 || v != a;
		if (v)
			fv_unref(v);
		cache_wait_background(c);
		fake_advance(&f, 0.5);
	}
	CHECK_EQ_INT(bad, 0);
	CHECK_EQ_INT(fake_calls(&f), 1 + NE);
	pthread_mutex_lock(&f.mu);
	for (int i = 0; i < NE; i++)
		CHECK_EQ_INT(f.call_ms[1 + i] - f.call_ms[0], expect_s[i] * 1000);
	pthread_mutex_unlock(&f.mu);
	/* Now at 49 s; the next retry is due at 56 s and succeeds. */
	set_fail(&f, 0);
	fake_advance(&f, 7);
	v = get(c, "k", &rc, &err);
	CHECK(v == a);
	if (v)
		fv_unref(v);
	cache_wait_background(c);
	CHECK_EQ_INT(fake_calls(&f), 2 + NE);
	CHECK_EQ_INT(replaced_count(&f, NULL, NULL), 1);
	v = get(c, "k", &rc, &err);
	CHECK_EQ_INT(fval_id(v), 2 + NE);
	CHECK_EQ_INT(stats_get(STATS_CACHE_HITS), 1);
	if (v)
		fv_unref(v);
	/* A new outage starts again from a 1 s back-off. */
	fake_advance(&f, 9);
	set_fail(&f, -EAGAIN);
	calls = fake_calls(&f);
	CHECK_EQ_INT(get_id(c, "k"), 2 + NE);	/* foreground failure, old value */
	CHECK_EQ_INT(fake_calls(&f), calls + 1);
	fake_advance(&f, 0.5);
	CHECK(!asked_api(c, &f, "k"));
	fake_advance(&f, 0.5);
	CHECK(asked_api(c, &f, "k"));
	CHECK_EQ_INT(fake_calls(&f), calls + 2);
	fv_unref(a);
	finish_stale(c, &f);
}

TEST(drop_all_during_background_refresh_does_not_resurrect)
{
	struct getter g;
	struct fake f;
	struct cache *c;
	struct err_info err;
	struct fval *a, *s, *v;
	int rc;

	fake_init(&f);
	c = new_stale_cache(&f, 10, 20, 0, 0);
	a = get(c, "k", &rc, &err);
	fake_advance(&f, 12);
	gate_close(&f, NULL);
	s = get(c, "k", &rc, &err);
	CHECK(s == a);
	CHECK(wait_blocked(&f, 1));
	fake_advance(&f, 20);			/* past grace: this caller waits for the refresh */
	getter_start(&g, c, "k", NULL);
	CHECK(wait_misses(2));
	cache_drop_all(c);
	CHECK_EQ_INT(cache_entries(c), 0);
	CHECK_EQ_INT(stats_get(STATS_CACHE_ENTRIES), 0);
	CHECK_EQ_INT(fv_refs(a), 2);		/* a and s */
	gate_open(&f, 0);
	pthread_join(g.th, NULL);
	CHECK_EQ_INT(g.rc, 0);			/* the waiter still gets the result */
	CHECK_EQ_INT(fval_id(g.v), 2);
	cache_wait_background(c);
	CHECK_EQ_INT(cache_entries(c), 0);	/* but the cache does not keep it */
	CHECK_EQ_INT(stats_get(STATS_CACHE_ENTRIES), 0);
	CHECK(cache_oldest_age(c) == 0);
	CHECK_EQ_INT(replaced_count(&f, NULL, NULL), 0);
	if (g.v)
		CHECK_EQ_INT(fv_refs(g.v), 1);
	v = get(c, "k", &rc, &err);
	CHECK_EQ_INT(fval_id(v), 3);
	CHECK_EQ_INT(fake_calls(&f), 3);
	CHECK_EQ_INT(cache_entries(c), 1);
	if (v)
		fv_unref(v);
	if (g.v)
		fv_unref(g.v);
	fv_unref(a);
	fv_unref(s);
	finish_stale(c, &f);
}

/* Fetches keys k0..k5, lets them go stale, and has each start a background refresh on a
 * closed gate: CACHE_BG_THREADS run, the rest queue. */
static void six_parked_refreshes(struct cache *c, struct fake *f)
{
	char key[16];

	for (int i = 0; i < 6; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		CHECK(fetched_again(c, f, key));
	}
	fake_advance(f, 12);
	gate_close(f, NULL);
	for (int i = 0; i < 6; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		CHECK_EQ_INT(get_id(c, key), i + 1);	/* stale, at once */
	}
	CHECK(wait_blocked(f, CACHE_BG_THREADS));
	CHECK_EQ_INT(stats_get(STATS_CACHE_REFRESHES), 6);
	CHECK_EQ_INT(fake_calls(f), 6 + CACHE_BG_THREADS);
}

TEST(background_fetches_are_capped_and_queued_ones_skipped_after_drop)
{
	struct fake f;
	struct cache *c;

	fake_init(&f);
	c = new_stale_cache(&f, 10, 20, 0, 0);
	six_parked_refreshes(c, &f);
	cache_drop_all(c);
	gate_open(&f, 0);
	cache_wait_background(c);
	/* Nobody waited for the queued two: their requests were not sent. */
	CHECK_EQ_INT(fake_calls(&f), 6 + CACHE_BG_THREADS);
	CHECK_EQ_INT(cache_entries(c), 0);
	CHECK_EQ_INT(__atomic_load_n(&live_values, __ATOMIC_RELAXED), 0);
	finish_stale(c, &f);
}

struct freer {
	struct cache *c;
	int done;
};

static void *freer_main(void *p)
{
	struct freer *fr = p;

	cache_free(fr->c);
	__atomic_store_n(&fr->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

TEST(cache_free_waits_for_running_background_fetches)
{
	struct freer fr;
	pthread_t th;
	struct fake f;
	struct cache *c;
	int calls;

	fake_init(&f);
	c = new_stale_cache(&f, 10, 20, 0, 0);
	six_parked_refreshes(c, &f);
	fr = (struct freer){ .c = c };
	thread_start(&th, freer_main, &fr);
	/* However long we look, it cannot return while fetches are parked. */
	for (int i = 0; i < 20; i++) {
		CHECK(!__atomic_load_n(&fr.done, __ATOMIC_ACQUIRE));
		usleep(1000);
	}
	gate_open(&f, 0);
	pthread_join(th, NULL);
	calls = fake_calls(&f);
	/* Queued refreshes a worker picked up before it saw the stop may have run too. */
	CHECK(calls >= 6 + CACHE_BG_THREADS && calls <= 12);
	CHECK_EQ_INT(replaced_count(&f, NULL, NULL), calls - 6);
	fake_destroy(&f);
	CHECK_EQ_INT(__atomic_load_n(&live_refs, __ATOMIC_RELAXED), 0);
	CHECK_EQ_INT(__atomic_load_n(&live_values, __ATOMIC_RELAXED), 0);
	CHECK_EQ_INT(stats_get(STATS_CACHE_ENTRIES), 0);
	CHECK_EQ_INT(__atomic_load_n(&arg_dups, __ATOMIC_RELAXED),
		     __atomic_load_n(&arg_frees, __ATOMIC_RELAXED));
}

TEST(oldest_age_tracks_held_values)
{
	struct fake f;
	struct cache *c;
	double a;

	fake_init(&f);
	c = new_stale_cache(&f, 10, 100, 0, 0);
	CHECK(cache_oldest_age(c) == 0);
	CHECK(fetched_again(c, &f, "a"));
	fake_advance(&f, 5);
	CHECK(fetched_again(c, &f, "b"));
	fake_advance(&f, 2);
	a = cache_oldest_age(c);
	CHECK(a > 6.99 && a < 7.01);
	fake_advance(&f, 10);			/* a is stale but still held */
	a = cache_oldest_age(c);
	CHECK(a > 16.99 && a < 17.01);
	CHECK(asked_api(c, &f, "a"));		/* stale serve, refreshed behind */
	a = cache_oldest_age(c);
	CHECK(a > 11.99 && a < 12.01);		/* now b is the oldest */
	CHECK_EQ_INT(cache_entries(c), 2);
	CHECK_EQ_INT(stats_get(STATS_CACHE_ENTRIES), 2);
	cache_drop_all(c);
	CHECK(cache_oldest_age(c) == 0);
	finish_stale(c, &f);
}

TEST(dropped_tells_of_every_value_let_go_without_a_successor)
{
	struct fake f;
	struct cache *c;

	fake_init(&f);
	c = new_stale_cache(&f, 10, 0, 0, 2);
	CHECK_EQ_INT(get_id(c, "a"), 1);
	CHECK_EQ_INT(get_id(c, "b"), 2);
	CHECK_EQ_INT(f.dropped, 0);
	CHECK_EQ_INT(get_id(c, "c"), 3);	/* evicts a, the least recently used */
	CHECK_EQ_INT(f.dropped, 1);
	CHECK_EQ_INT(f.dropped_id, 1);
	fake_advance(&f, 11);			/* b and c expire; c is refetched: a replacement */
	CHECK_EQ_INT(get_id(c, "c"), 4);
	CHECK_EQ_INT(replaced_count(&f, NULL, NULL), 1);
	CHECK_EQ_INT(f.dropped, 2);		/* b was swept on that miss */
	CHECK_EQ_INT(f.dropped_id, 2);
	cache_drop_all(c);
	CHECK_EQ_INT(f.dropped, 3);
	CHECK_EQ_INT(f.dropped_id, 4);
	CHECK_EQ_INT(f.dropped_bad, 0);
	CHECK_EQ_INT(get_id(c, "d"), 5);
	finish_stale(c, &f);			/* cache_free tells nothing */
	CHECK_EQ_INT(f.dropped, 3);
}

TEST(prefetch_warms_a_key_that_callers_then_share)
{
	struct getter g;
	struct fake f;
	struct cache *c;

	fake_init(&f);
	c = new_stale_cache(&f, 10, 0, 0, 0);
	gate_close(&f, NULL);
	CHECK_EQ_INT(cache_prefetch(c, "k", "Status=Running"), 0);
	CHECK(wait_blocked(&f, 1));
	CHECK_EQ_INT(cache_prefetch(c, "k", "Status=Running"), -EALREADY);	/* in flight */
	getter_start(&g, c, "k", NULL);
	CHECK(wait_misses(1));
	gate_open(&f, 0);
	pthread_join(g.th, NULL);
	CHECK_EQ_INT(g.rc, 0);
	CHECK_EQ_INT(fval_id(g.v), 1);
	cache_wait_background(c);
	pthread_mutex_lock(&f.mu);
	CHECK_EQ_STR(f.last_arg, "Status=Running");
	pthread_mutex_unlock(&f.mu);
	CHECK_EQ_INT(fake_calls(&f), 1);
	CHECK_EQ_INT(stats_get(STATS_CACHE_REFRESHES), 1);
	CHECK_EQ_INT(cache_prefetch(c, "k", NULL), -EALREADY);	/* fresh */
	fake_advance(&f, 11);
	CHECK_EQ_INT(cache_prefetch(c, "k", NULL), 0);		/* expired: refreshed */
	cache_wait_background(c);
	CHECK_EQ_INT(fake_calls(&f), 2);
	CHECK_EQ_INT(replaced_count(&f, NULL, NULL), 1);
	CHECK_EQ_INT(cache_entries(c), 1);
	/* A failed prefetch of a cold key leaves nothing behind. */
	set_fail(&f, -EIO);
	CHECK_EQ_INT(cache_prefetch(c, "cold", NULL), 0);
	cache_wait_background(c);
	CHECK_EQ_INT(fake_calls(&f), 3);
	CHECK_EQ_INT(cache_entries(c), 1);
	CHECK_EQ_INT(cache_prefetch(c, "cold", NULL), 0);	/* and is not backed off */
	cache_wait_background(c);
	CHECK_EQ_INT(fake_calls(&f), 4);
	if (g.v)
		fv_unref(g.v);
	finish_stale(c, &f);
}

TEST(background_fetch_gets_its_own_copy_of_arg)
{
	struct fake f;
	struct cache *c;
	struct err_info err;
	char arg[16] = "q1";
	void *v = NULL;

	fake_init(&f);
	c = new_stale_cache(&f, 10, 20, 0, 0);
	CHECK_EQ_INT(cache_get(c, "k", arg, &v, NULL, &err), 0);
	fv_unref(v);
	CHECK_EQ_INT(__atomic_load_n(&arg_dups, __ATOMIC_RELAXED), 0);	/* foreground: no copy */
	fake_advance(&f, 12);
	gate_close(&f, NULL);
	CHECK_EQ_INT(cache_get(c, "k", arg, &v, NULL, &err), 0);
	fv_unref(v);
	snprintf(arg, sizeof(arg), "XX");	/* the caller's arg is gone */
	CHECK(wait_blocked(&f, 1));
	gate_open(&f, 0);
	cache_wait_background(c);
	pthread_mutex_lock(&f.mu);
	CHECK_EQ_STR(f.last_arg, "q1");
	pthread_mutex_unlock(&f.mu);
	CHECK_EQ_INT(__atomic_load_n(&arg_dups, __ATOMIC_RELAXED), 1);
	CHECK_EQ_INT(__atomic_load_n(&arg_frees, __ATOMIC_RELAXED), 1);
	finish_stale(c, &f);
}

static void *stale_stress_main(void *p)
{
	struct stress *s = p;
	unsigned r = (unsigned)s->seed;
	char key[16];

	for (int i = 0; i < 300; i++) {
		void *v = NULL;
		int rc;

		r = r * 1103515245u + 12345u;
		snprintf(key, sizeof(key), "k%u", (r >> 16) % 6);
		switch ((r >> 8) % 20) {
		case 0:
			cache_drop_all(s->c);
			break;
		case 1:
		case 2:
			fake_advance(s->f, 1);
			break;
		case 3:
			set_fail(s->f, (r >> 20) % 2 ? -EIO : 0);
			break;
		case 4:
			rc = cache_prefetch(s->c, key, "arg");
			if (rc && rc != -EALREADY)
				s->failures++;
			break;
		case 5:
			if (cache_oldest_age(s->c) < 0)
				s->failures++;
			break;
		case 6:
			if (cache_peek(s->c, key, &v, NULL) == 0)
				fv_unref(v);
			break;
		default:
			stress_get(s, key, "arg");
			break;
		}
	}
	return NULL;
}

TEST(concurrent_stale_and_background_operations_stay_consistent)
{
	struct fake f;
	struct cache *c;

	fake_init(&f);
	c = new_stale_cache(&f, 2, 2, 8, 4);
	stress_run(c, &f, stale_stress_main, 100);
	cache_wait_background(c);
	CHECK(cache_entries(c) <= 4);
	CHECK_EQ_INT((int64_t)cache_entries(c), stats_get(STATS_CACHE_ENTRIES));
	CHECK(stats_get(STATS_CACHE_REFRESHES) > 0);
	CHECK(stats_get(STATS_CACHE_STALE_SERVES) > 0);
	finish_stale(c, &f);
}

/* ---- byte cap ---- */

static size_t fv_size(const void *p)
{
	const struct fval *v = p;

	return __atomic_load_n(&v->bytes, __ATOMIC_RELAXED);
}

static void fv_grow(struct fval *v, size_t bytes)
{
	__atomic_store_n(&v->bytes, bytes, __ATOMIC_RELAXED);
}

static void set_next_bytes(struct fake *f, size_t bytes)
{
	pthread_mutex_lock(&f->mu);
	f->next_bytes = bytes;
	pthread_mutex_unlock(&f->mu);
}

static struct cache *new_bytes_cache(struct fake *f, double ttl, size_t max_entries,
				     size_t max_bytes)
{
	struct cache_config cfg = { .ttl = ttl, .max_entries = max_entries, .max_bytes = max_bytes };
	struct cache_ops ops = {
		.fetch = fake_fetch, .ref = fv_ref, .unref = fv_unref, .now = fake_now,
		.dropped = fake_dropped, .size = fv_size,
	};
	struct cache *c = NULL;

	stats_reset();
	__atomic_store_n(&live_refs, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&live_values, 0, __ATOMIC_RELAXED);
	CHECK_EQ_INT(cache_new(&cfg, &ops, f, &c), 0);
	return c;
}

/* Fetches key with values of the given size; the fetched id, or -1 when it was a hit. */
static int fetch_sized(struct cache *c, struct fake *f, const char *key, size_t bytes)
{
	int before = fake_calls(f), id;

	set_next_bytes(f, bytes);
	id = get_id(c, key);
	return fake_calls(f) > before ? id : -1;
}

static void check_bytes(struct cache *c, size_t want)
{
	CHECK_EQ_INT(cache_bytes(c), want);
	CHECK_EQ_INT(stats_get(STATS_CACHE_BYTES), want);
}

static int dropped_count(struct fake *f, int *last_id)
{
	int n;

	pthread_mutex_lock(&f->mu);
	n = f->dropped;
	if (last_id)
		*last_id = f->dropped_id;
	CHECK_EQ_INT(f->dropped_bad, 0);
	pthread_mutex_unlock(&f->mu);
	return n;
}

TEST(byte_cap_needs_a_size_callback)
{
	struct cache_config cfg = { .ttl = 1, .max_bytes = 100 };
	struct cache_ops ops = {
		.fetch = fake_fetch, .ref = fv_ref, .unref = fv_unref, .now = fake_now,
	};
	struct fake f;
	struct cache *c = NULL;

	fake_init(&f);
	CHECK_EQ_INT(cache_new(&cfg, &ops, &f, &c), -EINVAL);
	CHECK(c == NULL);
	ops.size = fv_size;
	CHECK_EQ_INT(cache_new(&cfg, &ops, &f, &c), 0);
	cache_free(c);
	fake_destroy(&f);
}

TEST(byte_cap_evicts_least_recently_used_first)
{
	struct fake f;
	struct cache *c;
	int id;

	fake_init(&f);
	c = new_bytes_cache(&f, 1000, 0, 100);
	CHECK_EQ_INT(fetch_sized(c, &f, "a", 40), 1);
	CHECK_EQ_INT(fetch_sized(c, &f, "b", 40), 2);
	check_bytes(c, 80);
	CHECK_EQ_INT(fetch_sized(c, &f, "a", 40), -1);	/* a is now the most recent: b, a */
	CHECK_EQ_INT(stats_get(STATS_CACHE_EVICTIONS), 0);
	CHECK_EQ_INT(fetch_sized(c, &f, "c", 40), 3);	/* 120 > 100: b goes, not a */
	CHECK_EQ_INT(stats_get(STATS_CACHE_EVICTIONS), 1);
	CHECK_EQ_INT(dropped_count(&f, &id), 1);
	CHECK_EQ_INT(id, 2);
	check_bytes(c, 80);
	CHECK_EQ_INT(cache_entries(c), 2);
	CHECK_EQ_INT(fetch_sized(c, &f, "d", 30), 4);	/* a, c, d = 110: a goes */
	CHECK_EQ_INT(dropped_count(&f, &id), 2);
	CHECK_EQ_INT(id, 1);
	check_bytes(c, 70);
	CHECK_EQ_INT(fetch_sized(c, &f, "c", 0), -1);	/* still held */
	CHECK_EQ_INT(fetch_sized(c, &f, "d", 0), -1);
	CHECK_EQ_INT(fetch_sized(c, &f, "e", 30), 5);	/* exactly 100: nothing goes */
	CHECK_EQ_INT(stats_get(STATS_CACHE_EVICTIONS), 2);
	check_bytes(c, 100);
	CHECK_EQ_INT(__atomic_load_n(&live_values, __ATOMIC_RELAXED), 3);
	cache_drop_all(c);
	check_bytes(c, 0);
	CHECK_EQ_INT(dropped_count(&f, NULL), 5);
	finish(c, &f);
	CHECK_EQ_INT(stats_get(STATS_CACHE_BYTES), 0);
}

TEST(count_cap_still_holds_under_a_byte_cap)
{
	struct fake f;
	struct cache *c;
	int id;

	fake_init(&f);
	c = new_bytes_cache(&f, 1000, 2, 1000);
	CHECK_EQ_INT(fetch_sized(c, &f, "a", 10), 1);
	CHECK_EQ_INT(fetch_sized(c, &f, "b", 10), 2);
	CHECK_EQ_INT(fetch_sized(c, &f, "c", 10), 3);	/* 30 bytes is fine, 3 values are not */
	CHECK_EQ_INT(cache_entries(c), 2);
	CHECK_EQ_INT(stats_get(STATS_CACHE_EVICTIONS), 1);
	CHECK_EQ_INT(dropped_count(&f, &id), 1);
	CHECK_EQ_INT(id, 1);
	check_bytes(c, 20);
	CHECK_EQ_INT(fetch_sized(c, &f, "b", 0), -1);
	CHECK_EQ_INT(fetch_sized(c, &f, "a", 10), 4);
	CHECK_EQ_INT(fetch_sized(c, &f, "b", 0), -1);	/* c went, b stayed */
	CHECK_EQ_INT(fetch_sized(c, &f, "c", 10), 5);
	check_bytes(c, 20);
	finish(c, &f);
}

TEST(a_value_bigger_than_the_cap_is_kept_while_it_is_the_newest)
{
	struct fake f;
	struct cache *c;
	struct fval *big;
	struct err_info err;
	int rc, id;

	fake_init(&f);
	c = new_bytes_cache(&f, 1000, 0, 100);
	CHECK_EQ_INT(fetch_sized(c, &f, "a", 30), 1);
	CHECK_EQ_INT(fetch_sized(c, &f, "b", 30), 2);
	set_next_bytes(&f, 500);
	big = get(c, "big", &rc, &err);			/* alone over the cap: everything else goes */
	CHECK_EQ_INT(rc, 0);
	CHECK_EQ_INT(fval_id(big), 3);
	CHECK_EQ_INT(cache_entries(c), 1);
	CHECK_EQ_INT(stats_get(STATS_CACHE_EVICTIONS), 2);
	CHECK_EQ_INT(dropped_count(&f, NULL), 2);
	check_bytes(c, 500);
	CHECK_EQ_INT(fetch_sized(c, &f, "big", 0), -1);	/* still served from the cache */
	CHECK_EQ_INT(fetch_sized(c, &f, "a", 10), 4);	/* something newer: now big goes */
	CHECK_EQ_INT(dropped_count(&f, &id), 3);
	CHECK_EQ_INT(id, 3);
	check_bytes(c, 10);
	CHECK_EQ_INT(fv_refs(big), 1);			/* its reader keeps it */
	fv_unref(big);
	finish(c, &f);
}

TEST(growth_is_seen_when_served_and_when_another_value_is_stored)
{
	struct fake f;
	struct cache *c;
	struct fval *a, *b;
	struct err_info err;
	int rc, id;

	fake_init(&f);
	c = new_bytes_cache(&f, 1000, 0, 100);
	set_next_bytes(&f, 40);
	a = get(c, "a", &rc, &err);
	b = get(c, "b", &rc, &err);
	CHECK(a && b);
	check_bytes(c, 80);
	/* A reader renders a's lazy parts: the cache learns of it when a is served again. */
	fv_grow(a, 90);
	check_bytes(c, 80);
	CHECK_EQ_INT(fetch_sized(c, &f, "b", 0), -1);	/* b did not grow: nothing happens */
	check_bytes(c, 80);
	CHECK_EQ_INT(fetch_sized(c, &f, "a", 0), -1);	/* 130 > 100: b goes, a is served */
	CHECK_EQ_INT(dropped_count(&f, &id), 1);
	CHECK_EQ_INT(id, fval_id(b));
	check_bytes(c, 90);
	CHECK_EQ_INT(cache_entries(c), 1);
	fv_unref(b);

	/* Growth of a value nobody asks for again is seen when the next fetch stores a value. */
	CHECK_EQ_INT(fetch_sized(c, &f, "c", 5), 3);	/* 95 */
	check_bytes(c, 95);
	fv_grow(a, 99);
	CHECK_EQ_INT(fetch_sized(c, &f, "d", 5), 4);	/* 99 + 5 + 5: a (least recent) goes */
	CHECK_EQ_INT(dropped_count(&f, &id), 2);
	CHECK_EQ_INT(id, fval_id(a));
	check_bytes(c, 10);
	fv_unref(a);
	finish(c, &f);
}

TEST(refetched_value_replaces_the_old_ones_bytes)
{
	struct fake f;
	struct cache *c;

	fake_init(&f);
	c = new_bytes_cache(&f, 10, 0, 100);
	CHECK_EQ_INT(fetch_sized(c, &f, "a", 40), 1);
	fake_advance(&f, 5);
	CHECK_EQ_INT(fetch_sized(c, &f, "b", 20), 2);
	fake_advance(&f, 6);				/* a expired, b fresh */
	CHECK_EQ_INT(fetch_sized(c, &f, "a", 70), 3);	/* 70 + 20: a's old 40 no longer counts */
	check_bytes(c, 90);
	CHECK_EQ_INT(stats_get(STATS_CACHE_EVICTIONS), 0);
	CHECK_EQ_INT(dropped_count(&f, NULL), 0);
	fake_advance(&f, 20);				/* both expired: the miss sweeps b */
	CHECK_EQ_INT(fetch_sized(c, &f, "c", 1), 4);
	check_bytes(c, 1);
	finish(c, &f);
}

/* Readers growing values while others fetch: the total must always equal what was measured
 * last, and end at 0. */
static void *bytes_stress_main(void *p)
{
	struct stress *s = p;
	unsigned r = (unsigned)s->seed;
	char key[16];

	for (int i = 0; i < 400; i++) {
		void *v = NULL;

		r = r * 1103515245u + 12345u;
		snprintf(key, sizeof(key), "k%u", (r >> 16) % 9);
		switch ((r >> 8) % 16) {
		case 0:
			cache_drop_all(s->c);
			break;
		case 1:
			fake_advance(s->f, 1);
			break;
		case 2:
		case 3:
			if (cache_get(s->c, key, NULL, &v, NULL, NULL) == 0) {
				fv_grow(v, fv_size(v) + (r >> 20) % 50);
				fv_unref(v);
			} else {
				s->failures++;
			}
			break;
		default:
			set_next_bytes(s->f, (r >> 12) % 60);
			stress_get(s, key, NULL);
			break;
		}
		(void)cache_bytes(s->c);
	}
	return NULL;
}

TEST(concurrent_growth_and_eviction_keep_the_total_consistent)
{
	struct fake f;
	struct cache *c;

	fake_init(&f);
	c = new_bytes_cache(&f, 3, 6, 150);
	stress_run(c, &f, bytes_stress_main, 7);
	CHECK_EQ_INT((int64_t)cache_bytes(c), stats_get(STATS_CACHE_BYTES));
	cache_drop_all(c);
	check_bytes(c, 0);
	finish(c, &f);
}

static struct cache *new_cache_cfg(struct fake *f, const struct cache_config *cfg)
{
	struct cache_ops ops = {
		.fetch = fake_fetch, .ref = fv_ref, .unref = fv_unref, .now = fake_now,
	};
	struct cache *c = NULL;

	stats_reset();
	__atomic_store_n(&live_refs, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&live_values, 0, __ATOMIC_RELAXED);
	CHECK_EQ_INT(cache_new(cfg, &ops, f, &c), 0);
	return c;
}

/* Fails the next get of "k" at once from memory (no fetch), with the error's details. */
static void check_remembered(struct cache *c, struct fake *f, int calls, int rc_want)
{
	struct err_info err;
	int rc;

	memset(&err, 0, sizeof(err));
	CHECK(get(c, "k", &rc, &err) == NULL);
	CHECK_EQ_INT(rc, rc_want);
	CHECK_EQ_INT(err.err, rc_want);
	CHECK_EQ_INT(err.http_status, 503);
	CHECK_EQ_STR(err.code, "ServiceUnavailable");
	CHECK(strstr(err.message, "remembered failure from ") != NULL);
	CHECK(strstr(err.message, "fetch ") != NULL);
	CHECK(err.when != 0);
	CHECK_EQ_INT(fake_calls(f), calls);
}

/* Expects "k" to be fetched (and fail) by the next get. */
static void check_refetched(struct cache *c, struct fake *f, int calls, int rc_want)
{
	struct err_info err;
	int rc;

	memset(&err, 0, sizeof(err));
	CHECK(get(c, "k", &rc, &err) == NULL);
	CHECK_EQ_INT(rc, rc_want);
	CHECK(strstr(err.message, "remembered") == NULL);
	CHECK_EQ_INT(fake_calls(f), calls);
}

TEST(failing_query_is_remembered_with_doubling_backoff)
{
	struct cache_config cfg = { .ttl = 10, .fail_memory = 3 };
	struct fake f;
	struct cache *c;
	struct fval *a;
	int rc;

	fake_init(&f);
	c = new_cache_cfg(&f, &cfg);
	set_fail(&f, -EIO);
	check_refetched(c, &f, 1, -EIO);
	/* An immediate retry does not fetch again: min(ttl, 1 s) of back-off. */
	check_remembered(c, &f, 1, -EIO);
	fake_advance(&f, 0.9);
	check_remembered(c, &f, 1, -EIO);
	CHECK_EQ_INT(cache_prefetch(c, "k", NULL), -EALREADY);
	fake_advance(&f, 0.1);
	check_refetched(c, &f, 2, -EIO);
	/* Doubled to 2 s, */
	fake_advance(&f, 1.9);
	check_remembered(c, &f, 2, -EIO);
	fake_advance(&f, 0.1);
	check_refetched(c, &f, 3, -EIO);
	/* then capped at fail_memory (3 s, not 4). */
	fake_advance(&f, 2.9);
	check_remembered(c, &f, 3, -EIO);
	fake_advance(&f, 0.1);
	check_refetched(c, &f, 4, -EIO);
	fake_advance(&f, 2.9);
	check_remembered(c, &f, 4, -EIO);
	CHECK_EQ_INT(cache_entries(c), 0);
	/* A success forgets it and the back-off starts again from 1 s. */
	fake_advance(&f, 0.1);
	set_fail(&f, 0);
	a = get(c, "k", &rc, NULL);
	CHECK_EQ_INT(rc, 0);
	CHECK_EQ_INT(fake_calls(&f), 5);
	if (a)
		fv_unref(a);
	cache_drop_all(c);
	set_fail(&f, -EACCES);
	check_refetched(c, &f, 6, -EACCES);
	fake_advance(&f, 0.5);
	{
		struct err_info err;

		CHECK(get(c, "k", &rc, &err) == NULL);
		CHECK_EQ_INT(rc, -EACCES);
		CHECK(strstr(err.message, "remembered failure") != NULL);
	}
	fake_advance(&f, 0.5);
	check_refetched(c, &f, 7, -EACCES);
	/* Forgotten fail_memory after its back-off ended: a miss on another key sweeps it. */
	fake_advance(&f, 1.0 + 3.0);
	set_fail(&f, 0);
	a = get(c, "other", &rc, NULL);
	CHECK_EQ_INT(rc, 0);
	if (a)
		fv_unref(a);
	finish(c, &f);
}

TEST(remembered_failures_leave_stale_on_error_alone)
{
	struct cache_config cfg = { .ttl = 10, .max_stale = 100, .fail_memory = 30 };
	struct err_info err;
	struct fake f;
	struct cache *c;
	struct fval *a;
	int rc;

	fake_init(&f);
	c = new_cache_cfg(&f, &cfg);
	a = get(c, "k", &rc, NULL);
	CHECK_EQ_INT(rc, 0);
	if (a)
		fv_unref(a);
	fake_advance(&f, 11);
	set_fail(&f, -EIO);
	/* The old value, with the error, as before. */
	memset(&err, 0, sizeof(err));
	a = get(c, "k", &rc, &err);
	CHECK_EQ_INT(rc, 0);
	CHECK(a != NULL);
	CHECK_EQ_INT(err.err, -EIO);
	CHECK(strstr(err.message, "remembered") == NULL);
	if (a)
		fv_unref(a);
	a = get(c, "k", &rc, &err);
	CHECK_EQ_INT(rc, 0);
	CHECK(a != NULL);
	if (a)
		fv_unref(a);
	CHECK_EQ_INT(fake_calls(&f), 2);
	finish(c, &f);
}

struct waiter {
	struct cache *c;
	const char *key;
	int rc;
	struct err_info err;
	struct fval *v;
	int done;
};

static void *waiter_main(void *p)
{
	struct waiter *w = p;
	void *v = NULL;

	w->rc = cache_get(w->c, w->key, NULL, &v, NULL, &w->err);
	w->v = v;
	__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* Moves nothing: wakes waiters until w is done (5 s at most). */
static bool wait_done(struct cache *c, struct waiter *w)
{
	for (int i = 0; i < 5000; i++) {
		if (__atomic_load_n(&w->done, __ATOMIC_ACQUIRE))
			return true;
		cache_clock_advanced(c);
		usleep(1000);
	}
	return false;
}

TEST(waiting_readers_give_up_at_their_deadline_and_the_fetch_lands)
{
	struct cache_config cfg = { .ttl = 10, .wait_timeout = 5 };
	struct waiter a = { .key = "k" }, b = { .key = "k" };
	struct timespec t0, t1;
	pthread_t ta, tb;
	struct fake f;
	struct cache *c;
	struct fval *v;
	int rc;

	fake_init(&f);
	c = new_cache_cfg(&f, &cfg);
	a.c = b.c = c;
	gate_close(&f, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_EQ_INT(pthread_create(&ta, NULL, waiter_main, &a), 0);
	CHECK(wait_blocked(&f, 1));	/* a's own fetch runs, in a thread of its own */
	fake_advance(&f, 2);
	CHECK_EQ_INT(pthread_create(&tb, NULL, waiter_main, &b), 0);
	CHECK(wait_misses(2));		/* b joined it, deadline 2 s later than a's */
	fake_advance(&f, 3);
	CHECK(wait_done(c, &a));
	CHECK_EQ_INT(a.rc, -ETIMEDOUT);
	CHECK_EQ_INT(a.err.err, -ETIMEDOUT);
	CHECK(strstr(a.err.message, "the fetch goes on") != NULL);
	CHECK_EQ_STR(a.err.query, "k");
	CHECK(!__atomic_load_n(&b.done, __ATOMIC_ACQUIRE));
	fake_advance(&f, 2);
	CHECK(wait_done(c, &b));
	CHECK_EQ_INT(b.rc, -ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* The fake clock, not the real one, decided. */
	CHECK((double)(t1.tv_sec - t0.tv_sec) < 4.5);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	CHECK_EQ_INT(fake_calls(&f), 1);
	/* The fetch went on and its answer is there for the next reader. */
	gate_open(&f, 0);
	cache_wait_background(c);
	v = get(c, "k", &rc, NULL);
	CHECK_EQ_INT(rc, 0);
	CHECK(v && v->id == 1);
	CHECK_EQ_INT(fake_calls(&f), 1);
	if (v)
		fv_unref(v);
	finish(c, &f);
}

TEST(a_waiter_answered_in_time_gets_the_value)
{
	struct cache_config cfg = { .ttl = 10, .wait_timeout = 5 };
	struct waiter a = { .key = "k" };
	pthread_t ta;
	struct fake f;
	struct cache *c;

	fake_init(&f);
	c = new_cache_cfg(&f, &cfg);
	a.c = c;
	gate_close(&f, NULL);
	CHECK_EQ_INT(pthread_create(&ta, NULL, waiter_main, &a), 0);
	CHECK(wait_blocked(&f, 1));
	fake_advance(&f, 4.9);
	cache_clock_advanced(c);
	gate_open(&f, 0);
	pthread_join(ta, NULL);
	CHECK_EQ_INT(a.rc, 0);
	CHECK(a.v && a.v->id == 1);
	if (a.v)
		fv_unref(a.v);
	finish(c, &f);
}

TEST(cache_free_joins_a_fetch_its_caller_gave_up_on)
{
	struct cache_config cfg = { .ttl = 10, .wait_timeout = 1 };
	struct waiter a = { .key = "k" };
	pthread_t ta;
	struct fake f;
	struct cache *c;

	fake_init(&f);
	c = new_cache_cfg(&f, &cfg);
	a.c = c;
	gate_close(&f, NULL);
	CHECK_EQ_INT(pthread_create(&ta, NULL, waiter_main, &a), 0);
	CHECK(wait_blocked(&f, 1));
	fake_advance(&f, 1);
	CHECK(wait_done(c, &a));
	pthread_join(ta, NULL);
	CHECK_EQ_INT(a.rc, -ETIMEDOUT);
	gate_open(&f, 0);
	finish(c, &f);		/* joins the fetch thread; no value leaks */
}

TEST(a_failure_past_every_stale_limit_is_remembered_too)
{
	struct cache_config cfg = { .ttl = 10, .max_stale = 20, .fail_memory = 30 };
	struct fake f;
	struct cache *c;
	struct fval *a;
	int rc;

	fake_init(&f);
	c = new_cache_cfg(&f, &cfg);
	a = get(c, "k", &rc, NULL);
	CHECK_EQ_INT(rc, 0);
	if (a)
		fv_unref(a);
	fake_advance(&f, 25);		/* past max_stale: the old value can never be served */
	set_fail(&f, -EIO);
	check_refetched(c, &f, 2, -EIO);
	CHECK_EQ_INT(cache_entries(c), 0);
	CHECK_EQ_INT(__atomic_load_n(&live_values, __ATOMIC_RELAXED), 0);
	check_remembered(c, &f, 2, -EIO);
	fake_advance(&f, 1);
	check_refetched(c, &f, 3, -EIO);
	finish(c, &f);
}

/* Every fetched value claims to be 100 s old (a shared cache's last good answer). */
static double old_stamp(void *ctx, const void *v)
{
	(void)v;
	return fake_now(ctx) - 100;
}

TEST(value_stale_when_fetched_is_served_with_back_off)
{
	struct fake f;
	struct cache_config cfg = { .ttl = 10, .max_stale = 600 };
	struct cache_ops ops = {
		.fetch = fake_fetch, .ref = fv_ref, .unref = fv_unref, .now = fake_now,
		.stamp = old_stamp,
	};
	struct cache *c = NULL;
	struct err_info err;
	struct fval *v;
	double age = 0;
	void *p;
	int rc;

	fake_init(&f);
	stats_reset();
	__atomic_store_n(&live_refs, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&live_values, 0, __ATOMIC_RELAXED);
	CHECK_EQ_INT(cache_new(&cfg, &ops, &f, &c), 0);
	v = get(c, "k", &rc, &err);
	CHECK_EQ_INT(rc, 0);
	CHECK_EQ_INT(fake_calls(&f), 1);
	fv_unref(v);
	/* Within the back-off: the old value at once, no fetch per reader. */
	for (int i = 0; i < 5; i++) {
		rc = cache_get(c, "k", NULL, &p, &age, &err);
		CHECK_EQ_INT(rc, 0);
		CHECK(age >= 100);
		if (!rc)
			fv_unref(p);
	}
	CHECK_EQ_INT(fake_calls(&f), 1);
	/* After it: still served at once, one background fetch asks again. */
	fake_advance(&f, 1.5);
	rc = cache_get(c, "k", NULL, &p, &age, &err);
	CHECK_EQ_INT(rc, 0);
	if (!rc)
		fv_unref(p);
	cache_wait_background(c);
	CHECK_EQ_INT(fake_calls(&f), 2);
	finish(c, &f);
}
