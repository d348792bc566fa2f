/* multi: several regions in one mount: a tree per region and the union tree merging them. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "merge.h"
#include "multi.h"
#include "query.h"
#include "snap.h"

struct region {
	struct multi *m;
	char *id, *prefix;		/* "cn-hangzhou", "/regions/cn-hangzhou" */
	struct api_client *api;
	struct tree *tree;
	/* Counters for .dswfs/stats (atomic). */
	int64_t requests, pages, failures;
	int up;				/* the last fetch succeeded (1 until one fails) */
};

struct multi {
	struct region *r;
	size_t n;
	struct tree **subs;
	const char **names;
	struct tree *tree;		/* the union */
	void (*invalidate)(void *ctx, const char *path);
	void (*invalidate_listing)(void *ctx, const char *path);
	void *invalidate_ctx;
	/* How long a union fetch waits for the regions (0: as long as they take): less than a
	 * reader waits for the union, so a stalled region leaves the union partial rather than
	 * making its reader time out. */
	double part_wait;
	/* Region threads still running (a union fetch may leave slow ones behind). */
	pthread_mutex_t busy_mu;
	pthread_cond_t busy_cv;
	int busy;
};

/* A region's tree_fetch_fn: the API client, counted per region. */
static int region_fetch(void *ctx, const struct sign_kv *params, size_t n, cJSON **instances,
			struct err_info *err)
{
	struct region *r = ctx;
	struct api_result res;
	int rc = api_list_instances(r->api, params, n, &res, err);

	if (rc) {
		__atomic_add_fetch(&r->requests, err->attempts, __ATOMIC_RELAXED);
		__atomic_add_fetch(&r->failures, 1, __ATOMIC_RELAXED);
		__atomic_store_n(&r->up, 0, __ATOMIC_RELAXED);
		return rc;
	}
	__atomic_add_fetch(&r->requests, res.requests, __ATOMIC_RELAXED);
	__atomic_add_fetch(&r->pages, res.pages, __ATOMIC_RELAXED);
	__atomic_store_n(&r->up, 1, __ATOMIC_RELAXED);
	*instances = res.instances;
	res.instances = NULL;
	api_result_free(&res);
	return 0;
}

/* A region's tree tells of its paths; the kernel knows them under regions/<id>. */
static void region_path(const struct region *r, const char *path, char *out, size_t len)
{
	snprintf(out, len, "%s%s", r->prefix, strcmp(path, "/") == 0 ? "" : path);
}

static void region_invalidate(void *ctx, const char *path)
{
	struct region *r = ctx;
	char full[8192];

	region_path(r, path, full, sizeof(full));
	r->m->invalidate(r->m->invalidate_ctx, full);
}

static void region_invalidate_listing(void *ctx, const char *path)
{
	struct region *r = ctx;
	char full[8192];

	region_path(r, path, full, sizeof(full));
	r->m->invalidate_listing(r->m->invalidate_ctx, full);
}

/* One region's share of a union fetch, run in a thread of its own so regions are asked at
 * once. A region slower than the union's patience is left behind: its thread finishes on its
 * own (its answer lands in the region's cache for the next merge), so the job and its query
 * belong to the round, freed by whoever lets go of it last. */
struct part_job {
	struct round *rd;
	struct region *r;
	struct query *q;	/* owned copy */
	bool done;		/* the fields below are set (under rd->mu) */
	int rc;
	struct snap *snap;	/* one reference, taken by the fetch or freed with the round */
	double age;
	struct err_info err;
	char line[1024];
};

struct round {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int refs;		/* the fetch's, and each thread's */
	size_t pending, n;
	struct multi *m;
	struct part_job jobs[];
};

static void round_put(struct round *rd)
{
	bool last;

	pthread_mutex_lock(&rd->mu);
	last = --rd->refs == 0;
	pthread_mutex_unlock(&rd->mu);
	if (!last)
		return;
	for (size_t i = 0; i < rd->n; i++) {
		query_free(rd->jobs[i].q);
		if (rd->jobs[i].snap)
			snap_unref(rd->jobs[i].snap);
	}
	pthread_cond_destroy(&rd->cv);
	pthread_mutex_destroy(&rd->mu);
	free(rd);
}

static void busy_add(struct multi *m, int d)
{
	pthread_mutex_lock(&m->busy_mu);
	m->busy += d;
	if (m->busy == 0)
		pthread_cond_broadcast(&m->busy_cv);
	pthread_mutex_unlock(&m->busy_mu);
}

static void *part_thread(void *arg)
{
	struct part_job *j = arg;
	struct round *rd = j->rd;
	struct multi *m = rd->m;
	struct snap *s = NULL;
	struct err_info e;
	double age = 0;
	int rc;

	memset(&e, 0, sizeof(e));
	rc = tree_get_query(j->r->tree, j->q, &s, &age, &e);
	pthread_mutex_lock(&rd->mu);
	j->rc = rc;
	j->snap = rc ? NULL : s;
	j->age = age;
	j->err = e;
	if (rc || e.err)
		err_format(&e, j->line, sizeof(j->line));
	j->done = true;
	rd->pending--;
	pthread_cond_broadcast(&rd->cv);
	pthread_mutex_unlock(&rd->mu);
	round_put(rd);
	busy_add(m, -1);
	return NULL;
}

/* Starts a thread per region for q. Returns the round (one reference for the caller), or NULL
 * on ENOMEM. */
static struct round *round_start(struct multi *m, const struct query *q)
{
	struct round *rd = calloc(1, sizeof(*rd) + m->n * sizeof(rd->jobs[0]));
	pthread_attr_t attr;

	if (!rd)
		return NULL;
	pthread_mutex_init(&rd->mu, NULL);
	pthread_cond_init(&rd->cv, NULL);
	rd->m = m;
	rd->n = m->n;
	rd->refs = 1;
	for (size_t i = 0; i < m->n; i++) {
		rd->jobs[i].rd = rd;
		rd->jobs[i].r = &m->r[i];
		rd->jobs[i].q = query_dup(q);
		if (!rd->jobs[i].q) {
			round_put(rd);
			return NULL;
		}
	}
	rd->pending = m->n;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (size_t i = 0; i < m->n; i++) {
		pthread_t th;

		pthread_mutex_lock(&rd->mu);
		rd->refs++;
		pthread_mutex_unlock(&rd->mu);
		busy_add(m, 1);
		if (pthread_create(&th, &attr, part_thread, &rd->jobs[i]) != 0)
			part_thread(&rd->jobs[i]);
	}
	pthread_attr_destroy(&attr);
	return rd;
}

/* Waits for every region's part, or until the union's patience runs out (m->part_wait). */
static void round_wait(struct round *rd, double patience)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (patience > 0) {
		ts.tv_sec += (time_t)patience;
		ts.tv_nsec += (long)((patience - (double)(time_t)patience) * 1e9);
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
	}
	pthread_mutex_lock(&rd->mu);
	while (rd->pending)
		if (patience > 0 ? pthread_cond_timedwait(&rd->cv, &rd->mu, &ts) != 0
				 : pthread_cond_wait(&rd->cv, &rd->mu) != 0)
			break;
	pthread_mutex_unlock(&rd->mu);
}

/* The union tree's fetch_snap: every region's answer to q (each through its own cache, so a
 * region's pages are fetched once whichever tree asks), merged. Regions that fail, or have not
 * answered when a reader would give up on the union, are left out and named in the answer's
 * note; only when none answers does the union fail. */
static int multi_fetch(void *ctx, const struct query *q, struct snap **out, struct err_info *err)
{
	struct multi *m = ctx;
	struct merge_part *parts = calloc(m->n, sizeof(*parts));
	struct snap **held = calloc(m->n, sizeof(*held));
	struct round *rd = NULL;
	double ttl = tree_ttl(m->tree), now, stamp = 0;
	char late[128];
	const struct part_job *failed = NULL;
	bool partial = false;
	int rc = -ENOMEM;

	if (!parts || !held)
		goto out;
	rd = round_start(m, q);
	if (!rd)
		goto out;
	round_wait(rd, m->part_wait);
	snprintf(late, sizeof(late), "no answer within %.0f s (still being fetched)", m->part_wait);
	pthread_mutex_lock(&rd->mu);
	for (size_t i = 0; i < m->n; i++) {
		struct part_job *j = &rd->jobs[i];

		parts[i].region = j->r->id;
		if (!j->done) {
			parts[i].error = late;
			partial = true;
			continue;
		}
		/* Done jobs are written no more: read after the lock too. */
		held[i] = j->snap;
		j->snap = NULL;
		parts[i].snap = held[i];
		parts[i].stale = held[i] && j->age >= ttl;
		parts[i].error = j->line[0] ? j->line : NULL;
		partial = partial || !held[i] || parts[i].stale;
		if (held[i] && (!stamp || snap_stamp(held[i]) < stamp))
			stamp = snap_stamp(held[i]);
		if (!held[i] && !failed)
			failed = j;
	}
	pthread_mutex_unlock(&rd->mu);
	rc = merge_snaps(parts, m->n, out);
	if (rc == -ENOENT) {
		/* No region answered: the first failure, saying so. */
		if (failed) {
			*err = failed->err;
			rc = failed->rc;
		} else {
			memset(err, 0, sizeof(*err));
			rc = -ETIMEDOUT;
		}
		snprintf(err->message, sizeof(err->message), "no region answered; %s: %.400s",
			 failed ? failed->r->id : m->r[0].id, failed ? failed->err.message : late);
		goto out;
	}
	if (rc) {
		memset(err, 0, sizeof(*err));
		goto out;
	}
	/* A union missing a region, or holding a stale one, is merged again a second (or the
	 * TTL, when shorter) from now: the regions' own caches and back-offs make that cheap,
	 * and a region that comes back shows up at once. */
	now = tree_clock(m->tree);
	if (partial)
		stamp = now - ttl + (ttl < 1 ? ttl : 1);
	snap_set_stamp(*out, stamp > now ? now : stamp);
out:
	for (size_t i = 0; held && i < m->n; i++)
		if (held[i])
			snap_unref(held[i]);
	if (rd)
		round_put(rd);
	free(held);
	free(parts);
	return rc;
}

/* Per-region lines for .dswfs/stats. */
static char *multi_stats(void *ctx)
{
	struct multi *m = ctx;
	struct buf b;
	int rc = 0;

	buf_init(&b, 1 << 20);
	for (size_t i = 0; i < m->n && !rc; i++) {
		struct region *r = &m->r[i];

		rc = buf_printf(&b, "api_requests.%s %lld\napi_pages.%s %lld\n"
				"queries_failed.%s %lld\nregion_up.%s %d\n",
				r->id, (long long)__atomic_load_n(&r->requests, __ATOMIC_RELAXED),
				r->id, (long long)__atomic_load_n(&r->pages, __ATOMIC_RELAXED),
				r->id, (long long)__atomic_load_n(&r->failures, __ATOMIC_RELAXED),
				r->id, __atomic_load_n(&r->up, __ATOMIC_RELAXED));
	}
	if (rc) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b, NULL);
}

/* The mount's tree settings without any multi-region part, with max_bytes bytes. */
static struct tree_config base_config(const struct tree_config *mount, size_t max_bytes)
{
	struct tree_config tc = *mount;

	tc.region = NULL;
	tc.sub = false;
	tc.fetch = NULL;
	tc.fetch_snap = NULL;
	tc.stats_extra = NULL;
	tc.subs = NULL;
	tc.sub_names = NULL;
	tc.nsubs = 0;
	tc.max_bytes = max_bytes;
	return tc;
}

int multi_new(const struct multi_config *cfg, struct multi **out, struct err_info *err)
{
	struct multi *m;
	struct tree_config tc;
	struct api_config ac;
	size_t share;
	int rc = -ENOMEM;

	memset(err, 0, sizeof(*err));
	if (cfg->nregions == 0)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->r = calloc(cfg->nregions, sizeof(*m->r));
	m->subs = calloc(cfg->nregions, sizeof(*m->subs));
	m->names = calloc(cfg->nregions, sizeof(*m->names));
	if (!m->r || !m->subs || !m->names)
		goto out_fail;
	m->n = cfg->nregions;
	pthread_mutex_init(&m->busy_mu, NULL);
	pthread_cond_init(&m->busy_cv, NULL);
	m->part_wait = cfg->tree->wait_timeout * 0.6;
	m->invalidate = cfg->tree->invalidate;
	m->invalidate_listing = cfg->tree->invalidate_listing ? cfg->tree->invalidate_listing
							       : cfg->tree->invalidate;
	m->invalidate_ctx = cfg->tree->invalidate_ctx;
	/* The byte cap is the mount's: shared out among the regions' trees and the union. */
	share = cfg->tree->max_bytes / (cfg->nregions + 1);
	if (cfg->tree->max_bytes && share == 0)
		share = 1;
	for (size_t i = 0; i < m->n; i++) {
		struct region *r = &m->r[i];

		r->m = m;
		r->up = 1;
		r->id = strdup(cfg->regions[i]);
		if (!r->id || asprintf(&r->prefix, "/regions/%s", r->id) < 0) {
			r->prefix = NULL;
			goto out_fail;
		}
		ac = *cfg->api;
		ac.endpoint = cfg->endpoints[i];
		rc = api_client_new(&ac, cfg->creds, &r->api, err);
		if (rc) {
			char why[sizeof(err->message)];

			snprintf(why, sizeof(why), "%s", err->message);
			snprintf(err->message, sizeof(err->message), "region %s: %.400s", r->id, why);
			goto out_fail;
		}
		tc = base_config(cfg->tree, share);
		tc.region = r->id;
		tc.sub = true;
		tc.fetch = region_fetch;
		tc.fetch_ctx = r;
		tc.invalidate = m->invalidate ? region_invalidate : NULL;
		tc.invalidate_listing = m->invalidate ? region_invalidate_listing : NULL;
		tc.invalidate_ctx = r;
		rc = tree_new(&tc, &r->tree);
		if (rc)
			goto out_fail;
		m->subs[i] = r->tree;
		m->names[i] = r->id;
	}
	tc = base_config(cfg->tree, share);
	tc.fetch_snap = multi_fetch;
	tc.fetch_ctx = m;
	tc.stats_extra = multi_stats;
	tc.subs = m->subs;
	tc.sub_names = m->names;
	tc.nsubs = m->n;
	rc = tree_new(&tc, &m->tree);
	if (rc)
		goto out_fail;
	*out = m;
	return 0;
out_fail:
	if (!err->message[0])
		snprintf(err->message, sizeof(err->message), "%s", strerror(-rc));
	multi_free(m);
	return rc;
}

struct tree *multi_tree(struct multi *m)
{
	return m->tree;
}

struct probe_job {
	struct region *r;
	const struct sign_kv *base;
	size_t nbase;
	struct err_info *err;
	pthread_t th;
	bool started;
};

static void *probe_thread(void *arg)
{
	struct probe_job *j = arg;

	if (api_probe(j->r->api, j->base, j->nbase, j->err) == 0)
		memset(j->err, 0, sizeof(*j->err));
	else if (!j->err->err)
		j->err->err = -EIO;
	return NULL;
}

size_t multi_probe(struct multi *m, const struct sign_kv *base, size_t nbase,
		   struct err_info *errs)
{
	struct probe_job *jobs = calloc(m->n, sizeof(*jobs));
	size_t failed = 0;

	for (size_t i = 0; i < m->n; i++) {
		memset(&errs[i], 0, sizeof(errs[i]));
		if (!jobs) {
			errs[i].err = -ENOMEM;
			snprintf(errs[i].message, sizeof(errs[i].message), "out of memory");
			continue;
		}
		jobs[i] = (struct probe_job){ .r = &m->r[i], .base = base, .nbase = nbase,
					      .err = &errs[i] };
		jobs[i].started = pthread_create(&jobs[i].th, NULL, probe_thread, &jobs[i]) == 0;
		if (!jobs[i].started)
			probe_thread(&jobs[i]);
	}
	for (size_t i = 0; i < m->n; i++) {
		if (jobs && jobs[i].started)
			pthread_join(jobs[i].th, NULL);
		if (errs[i].err)
			failed++;
	}
	free(jobs);
	return failed;
}

void multi_abort(struct multi *m)
{
	for (size_t i = 0; m && i < m->n; i++)
		if (m->r[i].api)
			api_client_abort(m->r[i].api);
}

void multi_free(struct multi *m)
{
	if (!m)
		return;
	/* The union first: its background fetches use the regions' trees; then the region
	 * threads it left behind (multi_abort makes them quick). */
	tree_free(m->tree);
	if (m->r) {
		pthread_mutex_lock(&m->busy_mu);
		while (m->busy)
			pthread_cond_wait(&m->busy_cv, &m->busy_mu);
		pthread_mutex_unlock(&m->busy_mu);
		pthread_cond_destroy(&m->busy_cv);
		pthread_mutex_destroy(&m->busy_mu);
	}
	for (size_t i = 0; m->r && i < m->n; i++) {
		tree_free(m->r[i].tree);
		api_client_free(m->r[i].api);
		free(m->r[i].id);
		free(m->r[i].prefix);
	}
	free(m->r);
	free(m->subs);
	free(m->names);
	free(m);
}
