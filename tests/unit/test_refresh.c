/* test_refresh: refresh coalescing (joins, minimum interval, failures, kicks) with a fake clock
 * and a gated run callback; no sleeps for synchronisation, only polls with a deadline. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "refresh.h"
#include "stats.h"
#include "tf.h"

struct fake {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	double now;
	int runs;		/* run callbacks entered */
	int fail;		/* -errno the next runs return */
	bool gated;		/* runs wait until open */
	bool open;
};

static double fake_now(void *ctx)
{
	struct fake *f = ctx;
	double t;

	pthread_mutex_lock(&f->mu);
	t = f->now;
	pthread_mutex_unlock(&f->mu);
	return t;
}

static int fake_run(void *ctx, struct err_info *err)
{
	struct fake *f = ctx;
	int rc;

	pthread_mutex_lock(&f->mu);
	f->runs++;
	pthread_cond_broadcast(&f->cv);
	while (f->gated && !f->open)
		pthread_cond_wait(&f->cv, &f->mu);
	rc = f->fail;
	pthread_mutex_unlock(&f->mu);
	if (rc) {
		err->http_status = 503;
		snprintf(err->message, sizeof(err->message), "refresh broke");
	}
	return rc;
}

static void fake_init(struct fake *f, bool gated)
{
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	f->now = 1000;
	f->gated = gated;
}

static void fake_destroy(struct fake *f)
{
	pthread_cond_destroy(&f->cv);
	pthread_mutex_destroy(&f->mu);
}

static void fake_set(struct fake *f, double now, int fail)
{
	pthread_mutex_lock(&f->mu);
	f->now = now;
	f->fail = fail;
	pthread_mutex_unlock(&f->mu);
}

static void fake_open(struct fake *f)
{
	pthread_mutex_lock(&f->mu);
	f->open = true;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

static int fake_runs(struct fake *f)
{
	int n;

	pthread_mutex_lock(&f->mu);
	n = f->runs;
	pthread_mutex_unlock(&f->mu);
	return n;
}

/* Polls (5 s deadline) until the fake has entered n runs. */
static bool wait_runs(struct fake *f, int n)
{
	struct timespec ts;
	bool ok = true;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 5;
	pthread_mutex_lock(&f->mu);
	while (f->runs < n && ok)
		ok = pthread_cond_timedwait(&f->cv, &f->mu, &ts) == 0;
	ok = f->runs >= n;
	pthread_mutex_unlock(&f->mu);
	return ok;
}

/* Polls (5 s deadline) until a counter reaches n. */
static bool wait_stat(enum stats_id id, int64_t n)
{
	for (int i = 0; i < 5000; i++) {
		if (stats_get(id) >= n)
			return true;
		usleep(1000);
	}
	return false;
}

static struct refresh *make(struct fake *f, double min_interval)
{
	struct refresh_config c = {
		.run = fake_run, .run_ctx = f, .min_interval = min_interval,
		.now = fake_now, .now_ctx = f,
	};
	struct refresh *r = NULL;

	stats_reset();
	CHECK_EQ_INT(refresh_new(&c, &r), 0);
	return r;
}

TEST(rejects_bad_config)
{
	struct refresh_config c = { .run = fake_run, .min_interval = -1 };
	struct refresh *r = NULL;

	CHECK_EQ_INT(refresh_new(&c, &r), -EINVAL);
	c.min_interval = 0;
	c.run = NULL;
	CHECK_EQ_INT(refresh_new(&c, &r), -EINVAL);
	CHECK(r == NULL);
}

TEST(min_interval_answers_from_the_last_refresh)
{
	struct fake f;
	struct refresh *r;

	fake_init(&f, false);
	r = make(&f, 1);
	CHECK_EQ_INT(refresh_request(r, NULL), 0);
	CHECK_EQ_INT(fake_runs(&f), 1);
	for (int i = 0; i < 200; i++)
		CHECK_EQ_INT(refresh_request(r, NULL), 0);
	CHECK_EQ_INT(fake_runs(&f), 1);
	fake_set(&f, 1000.999, 0);
	CHECK_EQ_INT(refresh_request(r, NULL), 0);
	CHECK_EQ_INT(fake_runs(&f), 1);
	fake_set(&f, 1001, 0);	/* the interval counts from completion: 1 s later runs again */
	CHECK_EQ_INT(refresh_request(r, NULL), 0);
	CHECK_EQ_INT(fake_runs(&f), 2);
	CHECK_EQ_INT(stats_get(STATS_REFRESH_REQUESTS), 203);
	CHECK_EQ_INT(stats_get(STATS_REFRESHES), 2);
	CHECK_EQ_INT(stats_get(STATS_REFRESH_COALESCED), 201);
	CHECK_EQ_INT(stats_get(STATS_REFRESH_JOINED), 0);
	refresh_free(r);
	fake_destroy(&f);
}

TEST(zero_interval_runs_every_request)
{
	struct fake f;
	struct refresh *r;

	fake_init(&f, false);
	r = make(&f, 0);
	for (int i = 0; i < 5; i++)
		CHECK_EQ_INT(refresh_request(r, NULL), 0);
	CHECK_EQ_INT(fake_runs(&f), 5);
	CHECK_EQ_INT(stats_get(STATS_REFRESH_COALESCED), 0);
	refresh_free(r);
	fake_destroy(&f);
}

TEST(failure_reaches_the_requester_and_those_it_answers)
{
	struct fake f;
	struct refresh *r;
	struct err_info err;

	fake_init(&f, false);
	r = make(&f, 1);
	fake_set(&f, 1000, -EIO);
	memset(&err, 0, sizeof(err));
	CHECK_EQ_INT(refresh_request(r, &err), -EIO);
	CHECK_EQ_INT(err.err, -EIO);
	CHECK_EQ_INT(err.http_status, 503);
	CHECK_EQ_STR(err.message, "refresh broke");
	/* Within the interval, the failure answers without asking again. */
	memset(&err, 0, sizeof(err));
	CHECK_EQ_INT(refresh_request(r, &err), -EIO);
	CHECK_EQ_STR(err.message, "refresh broke");
	CHECK_EQ_INT(fake_runs(&f), 1);
	/* After it, a success clears the failure. */
	fake_set(&f, 1002, 0);
	memset(&err, 0, sizeof(err));
	CHECK_EQ_INT(refresh_request(r, &err), 0);
	CHECK_EQ_INT(err.err, 0);
	CHECK_EQ_INT(fake_runs(&f), 2);
	refresh_free(r);
	fake_destroy(&f);
}

struct requester {
	pthread_t tid;
	struct refresh *r;
	struct fake *f;
	int rc;
	bool saw_open;	/* the gate was open when the request returned */
};

static void *requester_main(void *arg)
{
	struct requester *q = arg;

	q->rc = refresh_request(q->r, NULL);
	pthread_mutex_lock(&q->f->mu);
	q->saw_open = q->f->open;
	pthread_mutex_unlock(&q->f->mu);
	return NULL;
}

TEST(requests_during_a_refresh_join_it_and_wait_for_it)
{
	enum { N = 8 };
	struct requester q[N + 1];
	struct fake f;
	struct refresh *r;

	fake_init(&f, true);
	r = make(&f, 0);	/* even without an interval, joiners cost nothing */
	fake_set(&f, 1000, -ETIMEDOUT);
	q[0] = (struct requester){ .r = r, .f = &f };
	CHECK_EQ_INT(pthread_create(&q[0].tid, NULL, requester_main, &q[0]), 0);
	CHECK(wait_runs(&f, 1));
	for (int i = 1; i <= N; i++) {
		q[i] = (struct requester){ .r = r, .f = &f };
		CHECK_EQ_INT(pthread_create(&q[i].tid, NULL, requester_main, &q[i]), 0);
	}
	CHECK(wait_stat(STATS_REFRESH_JOINED, N));
	fake_open(&f);
	for (int i = 0; i <= N; i++) {
		pthread_join(q[i].tid, NULL);
		CHECK_EQ_INT(q[i].rc, -ETIMEDOUT);
		CHECK(q[i].saw_open);
	}
	CHECK_EQ_INT(fake_runs(&f), 1);
	CHECK_EQ_INT(stats_get(STATS_REFRESHES), 1);
	CHECK_EQ_INT(stats_get(STATS_REFRESH_REQUESTS), N + 1);
	CHECK_EQ_INT(stats_get(STATS_REFRESH_JOINED), N);
	CHECK_EQ_INT(stats_get(STATS_REFRESH_COALESCED), N);
	/* A request after it completed runs a new one. */
	fake_set(&f, 1000, 0);
	CHECK_EQ_INT(refresh_request(r, NULL), 0);
	CHECK_EQ_INT(fake_runs(&f), 2);
	refresh_free(r);
	fake_destroy(&f);
}

TEST(kicks_run_in_the_background_and_coalesce)
{
	struct requester q = { 0 };
	struct fake f;
	struct refresh *r;

	fake_init(&f, true);
	r = make(&f, 1);
	CHECK_EQ_INT(refresh_kick(r), 0);	/* returns while the run is gated */
	CHECK(wait_runs(&f, 1));
	for (int i = 0; i < 10; i++)
		CHECK_EQ_INT(refresh_kick(r), 0);
	/* A writer arriving now joins the kicked refresh and waits for it. */
	q.r = r;
	q.f = &f;
	CHECK_EQ_INT(pthread_create(&q.tid, NULL, requester_main, &q), 0);
	CHECK(wait_stat(STATS_REFRESH_JOINED, 11));
	fake_open(&f);
	pthread_join(q.tid, NULL);
	CHECK_EQ_INT(q.rc, 0);
	CHECK(q.saw_open);
	refresh_wait_idle(r);
	CHECK_EQ_INT(fake_runs(&f), 1);
	/* Within the interval a kick is answered at once; after it, one more runs. */
	CHECK_EQ_INT(refresh_kick(r), 0);
	refresh_wait_idle(r);
	CHECK_EQ_INT(fake_runs(&f), 1);
	fake_set(&f, 1005, 0);
	CHECK_EQ_INT(refresh_kick(r), 0);
	refresh_wait_idle(r);
	CHECK_EQ_INT(fake_runs(&f), 2);
	CHECK_EQ_INT(stats_get(STATS_REFRESH_REQUESTS), 14);
	CHECK_EQ_INT(stats_get(STATS_REFRESHES), 2);
	CHECK_EQ_INT(stats_get(STATS_REFRESH_COALESCED), 12);
	refresh_free(r);
	fake_destroy(&f);
}

TEST(free_waits_for_a_kicked_refresh)
{
	struct fake f;
	struct refresh *r;

	fake_init(&f, false);
	r = make(&f, 0);
	CHECK_EQ_INT(refresh_kick(r), 0);
	refresh_free(r);	/* joins the thread whether or not it ran; no leak, no race */
	CHECK(fake_runs(&f) <= 1);
	fake_destroy(&f);
}
