/* tree: the mount's namespace, resolving every path to a directory, file or link of a snapshot. */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cache.h"
#include "ctl.h"
#include "diff.h"
#include "feed.h"
#include "hash.h"
#include "inode.h"
#include "log.h"
#include "metrics.h"
#include "path.h"
#include "query.h"
#include "refresh.h"
#include "render.h"
#include "snap.h"
#include "stats.h"
#include "tree.h"

/* Which directory paths the kernel has been shown for each query, so that when a refresh
 * replaces a query's snapshot the paths below them can be invalidated. Bounded: past the cap,
 * new paths are not remembered (their kernel entries then age out with the TTL). */
#define REG_BUCKETS 1024
#define REG_MAX_PATHS 65536

struct reg_path {
	struct reg_path *next;
	char path[];
};

struct reg_key {
	struct reg_key *next;
	struct reg_path *paths;
	char key[];
};

struct tree {
	struct tree_config cfg;
	char *workspace_id, *resource_id;
	struct query *base;
	struct cache *cache;
	struct snap_views *views;	/* what is rendered, bounded */
	struct refresh *refresh;
	struct ctl *ctl;		/* cfg.ctl, or owned_ctl */
	struct ctl *owned_ctl;
	time_t started;
	pthread_mutex_t reg_lock;
	struct reg_key *reg[REG_BUCKETS];
	size_t reg_count;
	/* Each calling thread's cancel token (tree_set_cancel): per thread because a FUSE
	 * worker serves one request at a time, and so the tree's calls need no extra argument. */
	pthread_key_t cancel_key;
	struct feed_set *feeds;
	char *region;
};

/* Bound of the per-mount views cache: instances whose files were read lately (a walk reads one
 * instance's files together; parallel walkers interleave a few). instances.json is never kept:
 * without OPEN (no-open) every read of a file resolves it afresh, so each read renders just the
 * instances its bytes cover (snap_instances_json_read). */
#define TREE_VIEWS_INSTANCES 64

struct tree_file {
	struct snap_view *view;	/* keeps data alive; NULL when data is owned */
	struct snap *listing;	/* instances.json of this snapshot (a reference); data is NULL */
	const char *data;
	char *owned;
	size_t len;
};

static double mono_now(void *ctx)
{
	struct timespec ts;

	(void)ctx;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The cache's clock: its context is the tree, whose config holds the caller's clock. */
static double tree_now(void *ctx)
{
	struct tree *t = ctx;

	return t->cfg.now ? t->cfg.now(t->cfg.now_ctx) : mono_now(NULL);
}

static size_t reg_hash(const char *s)
{
	return (size_t)(hash_str(s) % REG_BUCKETS);
}

/* Remembers that the kernel was shown the query directory dir (len bytes of it) for key. */
static void reg_note(struct tree *t, const char *key, const char *dir, size_t len)
{
	struct reg_key *k;
	struct reg_path *p;
	size_t b;

	if (!t->cfg.invalidate)
		return;
	b = reg_hash(key);
	pthread_mutex_lock(&t->reg_lock);
	for (k = t->reg[b]; k && strcmp(k->key, key); k = k->next)
		;
	if (!k && t->reg_count < REG_MAX_PATHS) {
		k = calloc(1, sizeof(*k) + strlen(key) + 1);
		if (k) {
			strcpy(k->key, key);
			k->next = t->reg[b];
			t->reg[b] = k;
		}
	}
	if (!k)
		goto out;
	for (p = k->paths; p; p = p->next)
		if (strlen(p->path) == len && memcmp(p->path, dir, len) == 0)
			goto out;
	if (t->reg_count >= REG_MAX_PATHS)
		goto out;
	p = malloc(sizeof(*p) + len + 1);
	if (!p)
		goto out;
	memcpy(p->path, dir, len);
	p->path[len] = 0;
	p->next = k->paths;
	k->paths = p;
	t->reg_count++;
out:
	pthread_mutex_unlock(&t->reg_lock);
}

/* A copy of the directories remembered for key (or for every key when key is NULL), as one
 * NUL-separated block ending in an empty string. Caller frees; NULL when there are none. */
static char *reg_paths(struct tree *t, const char *key)
{
	struct buf b;

	buf_init(&b, (size_t)REG_MAX_PATHS * 4096);
	pthread_mutex_lock(&t->reg_lock);
	for (size_t i = 0; i < REG_BUCKETS; i++) {
		if (key && i != reg_hash(key))
			continue;
		for (struct reg_key *k = t->reg[i]; k; k = k->next) {
			if (key && strcmp(k->key, key))
				continue;
			for (struct reg_path *p = k->paths; p; p = p->next)
				buf_append(&b, p->path, strlen(p->path) + 1);
		}
	}
	pthread_mutex_unlock(&t->reg_lock);
	if (b.len == 0 || buf_append(&b, "", 1) < 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b, NULL);
}

static void reg_free(struct tree *t)
{
	for (size_t i = 0; i < REG_BUCKETS; i++) {
		struct reg_key *k = t->reg[i], *kn;

		for (; k; k = kn) {
			struct reg_path *p = k->paths, *pn;

			for (; p; p = pn) {
				pn = p->next;
				free(p);
			}
			kn = k->next;
			free(k);
		}
	}
}

static void invalidate(struct tree *t, const char *dir, const char *a, const char *b)
{
	char path[8192];

	snprintf(path, sizeof(path), "%s%s%s%s%s", dir, a ? "/" : "", a ? a : "", b ? "/" : "",
		 b ? b : "");
	t->cfg.invalidate(t->cfg.invalidate_ctx, path);
}

/* Every file and directory below a rendered node, as dir/prefix/... */
static void invalidate_tree(struct tree *t, const char *dir, const struct render_node *n)
{
	char path[8192];

	for (size_t i = 0; i < render_nchildren(n); i++) {
		const struct render_node *c = render_child(n, i);

		if (snprintf(path, sizeof(path), "%s/%s", dir, render_name(c)) >= (int)sizeof(path))
			continue;
		t->cfg.invalidate(t->cfg.invalidate_ctx, path);
		if (render_is_dir(c))
			invalidate_tree(t, path, c);
	}
}

/* Invalidates what the kernel may hold for instance i of old under every directory in dirs:
 * the instance directory and, when anything below it was rendered (nothing below it was shown
 * otherwise), every file and directory below it. */
static void invalidate_instance(struct tree *t, const char *dirs, struct snap *old, size_t i)
{
	struct snap_view *v = NULL;
	const char *name = snap_dirname(old, i);
	char inst[8192];

	if (snap_shown(old, i) && snap_view_instance(t->views, old, i, &v))
		v = NULL;	/* ENOMEM: the directory itself is still invalidated */
	for (const char *d = dirs; d && *d; d += strlen(d) + 1) {
		if (snprintf(inst, sizeof(inst), "%s/%s", d, name) >= (int)sizeof(inst))
			continue;
		t->cfg.invalidate(t->cfg.invalidate_ctx, inst);
		if (v)
			invalidate_tree(t, inst, snap_view_root(v));
	}
	snap_view_put(v);
}

/* A directory whose listing changed; its own entry stays. */
static void invalidate_listing(struct tree *t, const char *dir)
{
	if (t->cfg.invalidate_listing)
		t->cfg.invalidate_listing(t->cfg.invalidate_ctx, dir);
	else
		t->cfg.invalidate(t->cfg.invalidate_ctx, dir);
}

static void invalidate_dirs(struct tree *t, const char *dirs, bool base)
{
	for (const char *d = dirs; d && *d; d += strlen(d) + 1) {
		invalidate_listing(t, d);
		invalidate(t, d, "instances.json", NULL);
		invalidate(t, d, ".query", NULL);
	}
	if (base) {
		invalidate_listing(t, "/by-name");
		invalidate_listing(t, "/workspaces");
		invalidate_listing(t, "/workspaces-by-name");
		invalidate_listing(t, "/users");
		invalidate_listing(t, "/users-by-name");
	}
}

/* The group link views (workspaces-by-name, users-by-name) of a replaced base answer: few
 * entries, and a new workspace can rename an old one's link (a shared name takes "@<id>"), so
 * every one the kernel may hold is invalidated. */
static void invalidate_group_links(struct tree *t, struct snap *old)
{
	static const enum snap_links views[] = { SNAP_LINKS_WORKSPACES, SNAP_LINKS_USERS };
	char dir[64];

	for (size_t v = 0; v < sizeof(views) / sizeof(views[0]); v++) {
		/* Never built: nobody looked, so the kernel holds none of its entries. */
		if (!snap_links_built(old, views[v]))
			continue;
		snprintf(dir, sizeof(dir), "/%s-by-name", path_view_dir((enum path_view)views[v]));
		for (size_t i = 0; i < snap_links_count(old, views[v]); i++)
			invalidate(t, dir, snap_links_name(old, views[v], i), NULL);
	}
}

struct replaced {
	struct tree *t;
	struct snap *old;
	const char *dirs;
	bool base;
};

static int invalidate_changed(void *ctx, enum diff_kind k, long i, long j)
{
	struct replaced *r = ctx;

	(void)j;
	if (k == DIFF_ADDED)
		return 0;	/* nothing of it was shown */
	invalidate_instance(r->t, r->dirs, r->old, (size_t)i);
	if (r->base && snap_link_name(r->old, (size_t)i))
		invalidate(r->t, "/by-name", snap_link_name(r->old, (size_t)i), NULL);
	return 0;
}

/* After a refresh: the directories showing key, and everything below each instance that
 * changed or went away (new == NULL: every instance), lose their kernel-cached attributes and
 * contents. */
static void on_replaced(void *ctx, const char *key, void *old_value, void *new_value)
{
	struct tree *t = ctx;
	struct replaced r = { .t = t, .old = old_value,
			      .base = strcmp(key, query_canonical(t->base)) == 0 };
	char *dirs = reg_paths(t, key);

	r.dirs = dirs;
	diff_each(old_value, new_value, invalidate_changed, &r);
	if (r.base)
		invalidate_group_links(t, r.old);
	invalidate_dirs(t, dirs, r.base);
	free(dirs);
}

/* A snapshot leaves the cache with no successor to compare with: everything it showed is
 * invalidated. */
static void on_dropped(void *ctx, const char *key, void *old_value)
{
	on_replaced(ctx, key, old_value, NULL);
}

static void *query_dup_cb(const void *q)
{
	return query_dup(q);
}

static void query_free_cb(void *q)
{
	query_free(q);
}

/* Filters whose server-side meaning is plain equality on one top-level member (a comma list
 * meaning any of its elements), so a cached broader answer can be narrowed locally with the
 * same result. Keys whose server semantics are undocumented are not here and always go to the
 * server. */
static const struct {
	const char *param;
	bool list;
} exact_keys[] = {
	{ "WorkspaceId", false }, { "Status", true }, { "AcceleratorType", false },
	{ "PaymentType", false }, { "Accessibility", false }, { "InstanceId", true },
};

static const struct sign_kv *find_param(const struct sign_kv *p, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(p[i].name, name) == 0)
			return &p[i];
	return NULL;
}

/* Answers a query from a cached answer of the base query (a fresh one; with stale, any the
 * cache still holds younger than max_stale) when every filter it adds is an exact-match one and
 * every instance's member compares provably as the server would compare it (query_field_match:
 * a member of an unexpected type, or a value a server could read as another number, sends the
 * query to the server). The answer is an index list into the base snapshot, as old as it.
 * Returns 0 with *out (and *base_age), or -ENOENT when the server must be asked, -ENOMEM. */
static int try_narrow(struct tree *t, const struct sign_kv *np, size_t nn, bool stale,
		      struct snap **out, double *base_age)
{
	const struct sign_kv *extra[sizeof(exact_keys) / sizeof(exact_keys[0])];
	bool extra_list[sizeof(exact_keys) / sizeof(exact_keys[0])];
	struct sign_kv *bp = NULL;
	size_t bn = 0, nextra = 0, nidx = 0, *idx = NULL;
	bool keys_only = true;
	struct snap *s = NULL;
	void *v;
	int rc = -ENOENT;

	if (query_params(t->base, &bp, &bn))
		return -ENOENT;
	/* Everything the base asks must be asked the same way, except an ALL workspace. */
	for (size_t i = 0; i < bn; i++) {
		const struct sign_kv *p = find_param(np, nn, bp[i].name);

		if (!p)
			goto out;
		if (strcmp(p->value, bp[i].value) != 0 &&
		    !(strcmp(bp[i].name, "WorkspaceId") == 0 && strcmp(bp[i].value, "ALL") == 0))
			goto out;
	}
	for (size_t i = 0; i < nn; i++) {
		const struct sign_kv *b = find_param(bp, bn, np[i].name);
		size_t k;

		if (b && strcmp(b->value, np[i].value) == 0)
			continue;
		/* An undocumented enumeration value is the server's to judge: a newer value it
		 * knows, or a ValidationError; an empty local answer would be neither. */
		if (!query_param_documented(np[i].name, np[i].value))
			goto out;
		for (k = 0; k < sizeof(exact_keys) / sizeof(exact_keys[0]); k++)
			if (strcmp(exact_keys[k].param, np[i].name) == 0)
				break;
		if (k == sizeof(exact_keys) / sizeof(exact_keys[0]) ||
		    nextra == sizeof(extra) / sizeof(extra[0]))
			goto out;
		if (strcmp(np[i].name, "WorkspaceId") == 0 && strcmp(np[i].value, "ALL") == 0)
			continue;
		extra[nextra] = &np[i];
		extra_list[nextra++] = exact_keys[k].list;
	}
	if (nextra == 0)
		goto out;	/* the base query itself, or the same answer: not a narrowing */
	for (size_t k = 0; k < nextra; k++)
		keys_only = keys_only && snap_keys_cover(extra[k]->name);
	if (stale ? cache_peek_stale(t->cache, query_canonical(t->base), t->cfg.max_stale, &v,
				     base_age)
		  : cache_peek(t->cache, query_canonical(t->base), &v, base_age))
		goto out;
	s = v;
	idx = malloc((snap_count(s) ? snap_count(s) : 1) * sizeof(*idx));
	if (!idx) {
		rc = -ENOMEM;
		goto out_snap;
	}
	for (size_t i = 0; i < snap_count(s); i++) {
		/* The key members alone parse in a fraction of the time: a large fleet is
		 * narrowed in milliseconds. */
		cJSON *inst = keys_only ? snap_parse_keys(s, i) : snap_parse(s, i);
		bool ok = true;

		if (!inst) {
			rc = -ENOMEM;
			goto out_snap;
		}
		for (size_t k = 0; k < nextra && ok; k++) {
			int m = query_field_match(cJSON_GetObjectItemCaseSensitive(
							  inst, extra[k]->name),
						  extra[k]->value, extra_list[k]);

			if (m < 0) {
				log_msg(LOG_DEBUG, "not narrowing %s=%s locally: instance %s has a "
					"member the server may compare differently", extra[k]->name,
					extra[k]->value, snap_dirname(s, i));
				cJSON_Delete(inst);
				goto out_snap;	/* rc is -ENOENT: ask the server */
			}
			ok = m == 1;
		}
		cJSON_Delete(inst);
		if (ok)
			idx[nidx++] = i;
	}
	rc = snap_narrow(s, idx, nidx, out);
	if (rc == 0)
		stats_add(STATS_QUERIES_NARROWED, 1);
out_snap:
	free(idx);
	snap_unref(s);
out:
	free(bp);
	return rc;
}

/* The failed query in last_error, with the region in a multi-region mount. */
static void err_query(const struct tree *t, struct err_info *e, const char *key)
{
	if (t->cfg.region)
		snprintf(e->query, sizeof(e->query), "[%s] %s", t->cfg.region, key);
	else
		snprintf(e->query, sizeof(e->query), "%s", key);
}

/* Skipped instances are listed nowhere, so they are counted in stats and said in last_error
 * (and the log) rather than only logged: the listing that leaves them out is otherwise
 * complete. */
static void record_skipped(struct tree *t, const char *key, size_t kept, size_t skipped)
{
	struct err_info e;

	memset(&e, 0, sizeof(e));
	stats_add(STATS_INSTANCES_SKIPPED, (int64_t)skipped);
	e.err = -EBADMSG;
	e.when = time(NULL);
	snprintf(e.message, sizeof(e.message), "skipped %zu instance(s) of %zu in the answer: "
		 "not an object, or InstanceId missing, empty, not a string or integer, or "
		 "repeated; the other %zu are listed", skipped, kept + skipped, kept);
	err_query(t, &e, key);
	ctl_record_error(t->ctl, &e);
}

/* During an outage: a query whose own answer is not held is answered by narrowing the stale
 * base answer (within max_stale), its age showing in .query, rather than failing. The failure
 * is still recorded. Returns 0 with *out, or -ENOENT. */
static int narrow_stale(struct tree *t, const char *key, const struct sign_kv *params, size_t n,
			const struct err_info *err, struct snap **out)
{
	struct err_info e = *err;
	double age = 0;
	void *own;

	if (t->cfg.max_stale <= 0)
		return -ENOENT;
	/* The query's own stale answer, if any, is the cache's to serve (with its back-off). */
	if (cache_peek_stale(t->cache, key, t->cfg.max_stale, &own, NULL) == 0) {
		snap_unref(own);
		return -ENOENT;
	}
	if (try_narrow(t, params, n, true, out, &age))
		return -ENOENT;
	if (!e.when)
		e.when = time(NULL);
	err_query(t, &e, key);
	ctl_record_error(t->ctl, &e);
	log_msg(LOG_WARN, "%s: the server failed (%s); answered from the base snapshot, %.0f s old",
		key, strerror(-e.err), age);
	return 0;
}

/* An enumeration value the documentation does not list goes to the server, which knows values
 * added since (or answers ValidationError): said at verbose=1, with the likely spelling. */
static void note_undocumented(const struct sign_kv *params, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int k;
		const char *sug;

		if (query_param_documented(params[i].name, params[i].value))
			continue;
		for (k = 0; k < QK__COUNT; k++)
			if (strcmp(query_key_param(k), params[i].name) == 0)
				break;
		sug = k < QK__COUNT ? query_suggest_value(k, params[i].value) : NULL;
		log_msg(LOG_INFO, "%s=%s is not a documented value; asking the server%s%s%s",
			params[i].name, params[i].value, sug ? " (did you mean " : "",
			sug ? sug : "", sug ? "?)" : "");
	}
}

/* The cache's fetch: one complete ListInstances answer turned into a snapshot, or a narrowing
 * of the base answer. Failures are recorded for last_error here, once per fetch, not once per
 * waiting reader. */
static int fetch_snap(void *ctx, const char *key, const void *arg, void **value,
		      struct err_info *err)
{
	struct tree *t = ctx;
	const struct query *q = arg;
	struct sign_kv *params = NULL;
	cJSON *arr = NULL;
	struct snap *s = NULL;
	time_t fetched_at = time(NULL);
	double base_age, data_age = 0;
	size_t n = 0;
	int rc;

	memset(err, 0, sizeof(*err));
	rc = query_params(q, &params, &n);
	if (rc)
		goto out_fail;
	note_undocumented(params, n);
	rc = try_narrow(t, params, n, false, &s, &base_age);
	if (rc == 0) {
		stats_add(STATS_QUERIES_FETCHED, 1);
		goto out_params;
	}
	if (rc == -ENOENT && t->cfg.fetch_snap) {
		/* A merged answer, whole: its parts were fetched and counted by their trees. */
		rc = t->cfg.fetch_snap(t->cfg.fetch_ctx, q, &s, err);
		if (rc == 0) {
			stats_add(STATS_QUERIES_FETCHED, 1);
			goto out_params;
		}
	} else if (rc == -ENOENT && t->cfg.fetch_aged) {
		rc = t->cfg.fetch_aged(t->cfg.fetch_ctx, params, n, &arr, &data_age, err);
	} else if (rc == -ENOENT) {
		rc = t->cfg.fetch(t->cfg.fetch_ctx, params, n, &arr, err);
	}
	if (rc && rc != -ENOMEM) {
		err->err = rc;
		if (narrow_stale(t, key, params, n, err, &s) == 0) {
			memset(err, 0, sizeof(*err));
			stats_add(STATS_QUERIES_FETCHED, 1);
			rc = 0;
			goto out_params;
		}
	}
	if (rc)
		goto out_params;
	if (err->message[0]) {
		/* A complete answer from a misbehaving server (the fetch's warning): never silent. */
		err->err = 0;
		err_query(t, err, key);
		ctl_record_error(t->ctl, err);
	}
	fetched_at -= (time_t)data_age;
	rc = snap_new(arr, t->cfg.show_secrets, fetched_at, &s);
	/* The parsed answer (several times its text) is gone now; its pages go back to the
	 * system rather than staying in this thread's arena as RSS until reused. */
	malloc_trim(0);
	if (rc)
		goto out_params;
	snap_set_stamp(s, tree_now(t) - data_age);
	if (snap_dropped(s))
		record_skipped(t, key, snap_count(s), snap_dropped(s));
	stats_add(STATS_QUERIES_FETCHED, 1);
out_params:
	free(params);
	if (rc)
		goto out_fail;
	/* Every new answer passes here, refreshes included (they drop the cached one first, so
	 * replaced never sees them): the feeds diff it against the last answer they saw. */
	feed_update(t->feeds, key, s);
	*value = s;
	return 0;
out_fail:
	stats_add(STATS_QUERIES_FAILED, 1);
	err->err = rc;
	if (!err->when)
		err->when = time(NULL);
	if (!err->message[0])
		snprintf(err->message, sizeof(err->message), "%s", strerror(-rc));
	err_query(t, err, key);
	ctl_record_error(t->ctl, err);
	return rc;
}

/* One refresh (refresh.h's run): nothing cached survives, and the base query is fetched again
 * before the writer hears back, so a read after `echo > .dswfs/refresh` is fresh even with a
 * long TTL. Narrower queries follow on demand, narrowed locally from the new base where they
 * can be: a refresh costs the base query's pages, not one fetch per query once cached. */
static int refresh_run(void *ctx, struct err_info *err)
{
	struct tree *t = ctx;
	void *v;
	int rc;

	/* Each dropped snapshot invalidates what it showed (on_dropped). The regions' answers go
	 * too: the union is fetched from them. */
	for (size_t i = 0; i < t->cfg.nsubs; i++)
		cache_drop_all(t->cfg.subs[i]->cache);
	cache_drop_all(t->cache);
	rc = cache_get(t->cache, query_canonical(t->base), t->base, &v, NULL, err);
	if (rc) {
		log_msg(LOG_WARN, "refresh: fetching %s failed: %s", query_canonical(t->base),
			strerror(-rc));
		return rc;
	}
	snap_unref(v);
	log_msg(LOG_INFO, "cache refreshed");
	return 0;
}

static void snap_ref_cb(void *v)
{
	snap_ref(v);
}

static void snap_unref_cb(void *v)
{
	snap_unref(v);
}

static size_t snap_bytes_cb(const void *v)
{
	return snap_bytes(v);
}

/* The longest a failing query is answered from memory before it is asked again (cache.h
 * fail_memory): back-offs of min(ttl, 1 s), 2 s, 4 s ... up to this, or ttl when shorter. */
#define TREE_FAIL_MEMORY 30.0

static double snap_stamp_cb(void *ctx, const void *v)
{
	(void)ctx;
	return snap_stamp(v);
}

/* feed_config's poll: a background refresh of a followed query, unless its answer is fresh
 * or one is under way. */
static int poll_cb(void *ctx, const char *key, const struct query *q)
{
	struct tree *t = ctx;

	return cache_prefetch(t->cache, key, q);
}

int tree_new(const struct tree_config *cfg, struct tree **out)
{
	struct cache_config cc = {
		.ttl = cfg->ttl, .max_entries = cfg->max_snapshots, .grace = cfg->grace,
		.max_stale = cfg->max_stale, .max_bytes = cfg->max_bytes,
		.fail_memory = TREE_FAIL_MEMORY, .wait_timeout = cfg->wait_timeout,
	};
	struct cache_ops ops = {
		.fetch = fetch_snap, .ref = snap_ref_cb, .unref = snap_unref_cb,
		.now = tree_now, .arg_dup = query_dup_cb, .arg_free = query_free_cb,
		.replaced = cfg->invalidate ? on_replaced : NULL,
		.dropped = cfg->invalidate ? on_dropped : NULL, .size = snap_bytes_cb,
		.stamp = snap_stamp_cb,
	};
	struct refresh_config rc_cfg = {
		.run = refresh_run, .min_interval = cfg->refresh_min_interval, .now = tree_now,
	};
	struct tree *t;
	int rc = -ENOMEM;

	if (!cfg->fetch && !cfg->fetch_snap)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->cfg = *cfg;
	t->workspace_id = strdup(cfg->workspace_id ? cfg->workspace_id : "");
	t->resource_id = strdup(cfg->resource_id ? cfg->resource_id : "");
	if (!t->workspace_id || !t->resource_id)
		goto out_free;
	t->cfg.workspace_id = t->workspace_id;
	t->cfg.resource_id = t->resource_id;
	t->ctl = cfg->ctl;
	if (!t->ctl) {
		t->owned_ctl = t->ctl = ctl_new();
		if (!t->ctl)
			goto out_free;
	}
	t->base = query_new(t->workspace_id, t->resource_id);
	if (!t->base)
		goto out_free;
	rc = snap_views_new(TREE_VIEWS_INSTANCES,
			    &t->views);
	if (rc)
		goto out_query;
	rc = cache_new(&cc, &ops, t, &t->cache);
	if (rc)
		goto out_views;
	rc_cfg.run_ctx = t;
	rc_cfg.now_ctx = t;
	rc = refresh_new(&rc_cfg, &t->refresh);
	if (rc)
		goto out_cache;
	rc = -pthread_key_create(&t->cancel_key, NULL);
	if (rc)
		goto out_refresh;
	t->region = strdup(cfg->feed_region ? cfg->feed_region : cfg->region ? cfg->region : "");
	if (!t->region) {
		rc = -ENOMEM;
		goto out_key;
	}
	{
		struct feed_config fc = {
			.ttl = cfg->ttl, .region = t->region, .now = tree_now, .now_ctx = t,
			.poll = poll_cb, .poll_ctx = t,
			.max_bytes = cfg->events_max_bytes ? cfg->events_max_bytes
							   : (size_t)TREE_EVENTS_DEFAULT_KB << 10,
			.watch_key = cfg->watch ? query_canonical(t->base) : NULL,
			.watch_query = cfg->watch ? t->base : NULL,
		};

		rc = feed_set_new(&fc, &t->feeds);
		if (rc)
			goto out_region;
	}
	t->started = time(NULL);
	pthread_mutex_init(&t->reg_lock, NULL);
	*out = t;
	return 0;
out_region:
	free(t->region);
out_key:
	pthread_key_delete(t->cancel_key);
out_refresh:
	refresh_free(t->refresh);
out_cache:
	cache_free(t->cache);
out_views:
	snap_views_free(t->views);
out_query:
	query_free(t->base);
out_free:
	ctl_free(t->owned_ctl);
	free(t->workspace_id);
	free(t->resource_id);
	free(t);
	return rc;
}

void tree_free(struct tree *t)
{
	if (!t)
		return;
	/* First: the feeds' polling and a kicked refresh still running use the cache. */
	feed_set_stop(t->feeds);
	refresh_free(t->refresh);
	cache_free(t->cache);
	/* After the cache: its last background fetches still feed the feeds. */
	feed_set_free(t->feeds);
	free(t->region);
	snap_views_free(t->views);
	reg_free(t);
	pthread_mutex_destroy(&t->reg_lock);
	pthread_key_delete(t->cancel_key);
	query_free(t->base);
	ctl_free(t->owned_ctl);
	free(t->workspace_id);
	free(t->resource_id);
	free(t);
}

static int get_snap(struct tree *t, const struct query *q, struct snap **s, double *age)
{
	struct err_info err;
	void *v;
	int rc;

	rc = cache_get_cancellable(t->cache, query_canonical(q), q,
				   pthread_getspecific(t->cancel_key), &v, age, &err);
	/* The reader's own deadline, logged and recorded by ctl_record_error (the fetch's
	 * failures are recorded by fetch_snap). An interrupted reader (-EINTR) is no failure:
	 * nothing to record. */
	if (rc == -ETIMEDOUT && err.err == -ETIMEDOUT && !err.http_status && !err.curl_code)
		ctl_record_error(t->ctl, &err);
	if (rc)
		return rc;
	*s = v;
	return 0;
}

/* get_snap for a query directory the kernel is being shown (dir, len bytes of the path). */
static int get_snap_noted(struct tree *t, const struct query *q, const char *dir, size_t len,
			  struct snap **s, double *age)
{
	int rc = get_snap(t, q, s, age);

	if (rc == 0)
		reg_note(t, query_canonical(q), dir, len);
	return rc;
}

static void dir_attr(struct tree_attr *a, time_t mtime, time_t ctime_)
{
	memset(a, 0, sizeof(*a));
	a->type = TREE_DIR;
	a->mode = 0555;
	a->mtime = mtime;
	a->ctime = ctime_;
}

static void file_attr(struct tree_attr *a, size_t size, time_t mtime, time_t ctime_)
{
	memset(a, 0, sizeof(*a));
	a->type = TREE_FILE;
	a->mode = 0444;
	a->size = (off_t)size;
	a->mtime = mtime;
	a->ctime = ctime_;
}

/* The node below instance qp->name of s at qp->rest: 0 with *idx, *view (put it) and *node
 * (owned by the view), -ENOENT, -ENOMEM. */
static int instance_node(struct tree *t, struct snap *s, const struct path_info *qp,
			 size_t *idx, struct snap_view **view, const struct render_node **node)
{
	long i = snap_find(s, qp->name);
	int rc;

	if (i < 0)
		return -ENOENT;
	*idx = (size_t)i;
	rc = snap_view_instance(t->views, s, (size_t)i, view);
	if (rc)
		return rc;
	*node = render_lookup(snap_view_root(*view), qp->rest);
	if (*node)
		return 0;
	snap_view_put(*view);
	*view = NULL;
	return -ENOENT;
}

_Static_assert((int)PATH_VIEW_INSTANCES == (int)SNAP_LINKS_INSTANCES &&
	       (int)PATH_VIEW_WORKSPACES == (int)SNAP_LINKS_WORKSPACES &&
	       (int)PATH_VIEW_USERS == (int)SNAP_LINKS_USERS &&
	       (int)PATH_VIEW__COUNT == (int)SNAP_LINKS__COUNT, "link views are numbered alike");

/* The target of entry i of a link view: "../instances/<dirname>", "../workspaces/<id>",
 * "../users/<id>". Returns its length (snprintf's), or -ENOENT. */
static int link_target(struct snap *s, enum path_view v, size_t i, char *buf, size_t size)
{
	const char *target = snap_links_target(s, (enum snap_links)v, i);

	if (!target)
		return -ENOENT;
	return snprintf(buf, size, "../%s/%s", path_view_dir(v), target);
}

/* A link view's entry. */
static void link_attr(struct tree_attr *a, struct snap *s, enum path_view v, size_t i)
{
	char target[PATH_NAME_MAX + 32];
	int len = link_target(s, v, i, target, sizeof(target));

	memset(a, 0, sizeof(*a));
	a->type = TREE_LINK;
	a->mode = 0777;
	a->size = len > 0 ? (off_t)len : 0;
	a->mtime = snap_links_mtime(s, (enum snap_links)v, i);
	a->ctime = v == PATH_VIEW_INSTANCES ? snap_ctime(s, i) : a->mtime;
}

static char *query_info(const struct query *q, const struct snap *s, double age, size_t *len)
{
	char when[32];
	struct tm tm;
	time_t f = snap_fetched_at(s);
	struct buf b;

	gmtime_r(&f, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	/* A merged answer is as old as its oldest region's (its fetched_at); its cache age is
	 * shortened when a region is missing or stale, so that it is merged again soon. */
	if (snap_note(s))
		age = difftime(time(NULL), f);
	buf_init(&b, 1 << 16);
	if (buf_printf(&b, "query %s\nfetched_at %s\nage_seconds %.1f\ninstances %zu\n",
		       query_canonical(q), when, age, snap_count(s)) < 0 ||
	    (snap_note(s) && buf_puts(&b, snap_note(s)) < 0)) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b, len);
}

static char *stats_text(struct tree *t, size_t *len)
{
	char *extra = tree_stats(t);
	char *text = ctl_render(t->ctl, CTL_STATS, extra, len);

	free(extra);
	return text;
}

/* How long the kernel may keep what an answer age seconds old showed: the rest of its TTL. */
static double attr_fresh_for(const struct tree *t, double age)
{
	return age >= t->cfg.ttl ? 0 : t->cfg.ttl - (age > 0 ? age : 0);
}

/* The version of what a resolved path shows (tree_attr.version): a file's or link's content
 * hash, a directory's snapshot fetch time. */
static uint64_t attr_version(const struct tree_attr *a, const char *data, size_t len,
			     const struct snap *s)
{
	if (a->type == TREE_DIR)
		return s ? (uint64_t)snap_fetched_at(s) : 0;
	return hash_mem(data ? data : "", data ? len : 0);
}

/* Version, freshness and mtime of a directory listed from q's snapshot, peeked quietly, never
 * fetched (a stat needs no fetch). The kernel keeps a directory's listing until it is
 * invalidated (on_replaced) or its mtime changes, and asks for the attributes again when they
 * expire (fresh_for). So the mtime is the fetch time while the answer is fresh, and the current
 * time (with mtime_nsec 1, never equal to a fresh one) while it is not: a listing whose answer
 * went stale is read again, and that read refreshes the answer (stale-while-revalidate), as
 * when nothing was cached. */
static void listing_attr(struct tree *t, const struct query *q, struct tree_attr *a)
{
	double age;
	void *v;

	if (cache_peek_quiet(t->cache, query_canonical(q), &v, &age) == 0) {
		a->version = (uint64_t)snap_fetched_at(v);
		a->fresh_for = attr_fresh_for(t, age);
		a->mtime = snap_fetched_at(v);
		snap_unref(v);
		return;
	}
	a->fresh_for = 0;
	a->mtime = time(NULL);
	a->mtime_nsec = 1;
}

/* Multi-region mounts: what path is below regions/. Returns 1 for "/regions" itself; 0 with
 * *sub and *sub_path (the path inside it, "/" for its root) for "/regions/<id>[/...]"; 0 with
 * *sub NULL for any other path; -ENOENT for a region not mounted. */
static int route(const struct tree *t, const char *path, struct tree **sub,
		 const char **sub_path)
{
	const char *p;
	size_t len;

	*sub = NULL;
	if (!t->cfg.nsubs || strncmp(path, "/regions", 8) != 0 || (path[8] && path[8] != '/'))
		return 0;
	if (!path[8] || !path[9])
		return 1;
	p = path + 9;
	len = strcspn(p, "/");
	for (size_t i = 0; i < t->cfg.nsubs; i++)
		if (strlen(t->cfg.sub_names[i]) == len && memcmp(t->cfg.sub_names[i], p, len) == 0) {
			*sub = t->cfg.subs[i];
			*sub_path = p[len] ? p + len : "/";
			return 0;
		}
	return -ENOENT;
}

/* A call handed to a region's tree carries the caller's cancel token there, and only for the
 * call (the thread's next request may be another's). */
static void sub_enter(struct tree *t, struct tree *sub)
{
	pthread_setspecific(sub->cancel_key, pthread_getspecific(t->cancel_key));
}

static void sub_leave(struct tree *sub)
{
	pthread_setspecific(sub->cancel_key, NULL);
}

/* The region instance i of s lives in, for its .region file: the tree's own, or the part of a
 * merged answer it came from; NULL in a one-region mount (no such file). */
static const char *instance_region(const struct tree *t, const struct snap *s, size_t i)
{
	return t->cfg.region ? t->cfg.region : snap_origin(s, i);
}

static int resolve(struct tree *t, const char *path, struct tree_attr *a, struct tree_file **f,
		   char **changing);

/* resolve for multi-region paths: 1 when path is not one (resolve goes on), else its result. */
static int resolve_routed(struct tree *t, const char *path, struct tree_attr *a,
			  struct tree_file **f, char **changing)
{
	struct tree *sub;
	const char *sp;
	int rc = route(t, path, &sub, &sp);

	if (rc < 0)
		return rc;
	if (sub) {
		sub_enter(t, sub);
		rc = resolve(sub, sp, a, f, changing);
		sub_leave(sub);
		return rc;
	}
	if (rc == 0)
		return 1;
	dir_attr(a, t->started, t->started);
	a->fresh_for = t->cfg.ttl;
	return f ? -EISDIR : 0;
}

/* A change feed's attributes: one inode (version 0) whose size grows, never cached by the
 * kernel (fresh_for 0), so each fstat of `tail -f` sees the new size. Asking counts as
 * following. The feed starts from the answer held now (fetched if need be). */
static int feed_attr(struct tree *t, const struct query *q, struct tree_attr *a)
{
	const char *key = query_canonical(q);
	struct snap *s = NULL;
	uint64_t size = 0;
	time_t mtime = 0;
	int rc = feed_size(t->feeds, key, q, NULL, &size, &mtime);

	if (rc == -ENOENT) {
		rc = get_snap(t, q, &s, NULL);
		if (rc)
			return rc;
		rc = feed_size(t->feeds, key, q, s, &size, &mtime);
		snap_unref(s);
	}
	if (rc)
		return rc;
	file_attr(a, 0, mtime, t->started);
	a->size = (off_t)size;
	a->growing = true;
	return 0;
}

static long rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long pages = 0, resident = 0;

	if (!f)
		return 0;
	if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
		resident = 0;
	fclose(f);
	return resident * sysconf(_SC_PAGESIZE);
}

static int gauge(struct buf *b, const char *name, const char *help, double v)
{
	int rc = metrics_family(b, name, "gauge", help);

	return rc ? rc : metrics_sample(b, name, NULL, 0, v);
}

/* .dswfs/metrics: the counters of stats, the mount's own gauges, failures by Code, and the
 * fleet of the base answer (served as any read of instances/ would be: fetched or stale
 * within max_stale; without one, dswfs_fleet_up is 0 and the fleet gauges are left out). */
static char *metrics_text(struct tree *t, size_t *len)
{
	char codes[CTL_MAX_CODES][96];
	uint64_t counts[CTL_MAX_CODES];
	size_t nc = ctl_error_codes(t->ctl, codes, counts, CTL_MAX_CODES);
	struct snap *s = NULL;
	double age = 0;
	struct buf b;
	int rc;

	buf_init(&b, (size_t)256 << 20);
	rc = metrics_stats(&b);
	if (rc == 0)
		rc = gauge(&b, "dswfs_feeds_followed", "change feeds read within two TTLs",
			   (double)feed_followed(t->feeds));
	if (rc == 0)
		rc = gauge(&b, "dswfs_cache_oldest_age_seconds", "age of the oldest cached answer",
			   cache_oldest_age(t->cache));
	if (rc == 0)
		rc = gauge(&b, "process_resident_memory_bytes", "resident memory of the daemon",
			   (double)rss_bytes());
	if (rc == 0)
		rc = metrics_family(&b, "dswfs_errors_total", "counter",
				    "failures recorded in last_error, by API Code (\"\" for none)");
	for (size_t i = 0; i < nc && rc == 0; i++) {
		const char *labels[] = { "code", codes[i] };

		rc = metrics_sample(&b, "dswfs_errors_total", labels, 1, (double)counts[i]);
	}
	if (rc == 0) {
		bool up = get_snap(t, t->base, &s, &age) == 0;

		rc = gauge(&b, "dswfs_fleet_up", "whether an answer for instances/ could be served",
			   up);
		if (rc == 0 && up)
			rc = gauge(&b, "dswfs_base_snapshot_age_seconds",
				   "age of the answer for instances/ these gauges come from", age);
		if (rc == 0 && up)
			rc = metrics_fleet(&b, s, t->region);
		if (s)
			snap_unref(s);
	}
	if (rc) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b, len);
}

/* Resolves a path to what it names. For files the bytes come back in *f (when f is not NULL),
 * pinned by a snapshot reference or owned. With changing not NULL, the bytes of a file that
 * changes without a refresh are handed over in *changing (NULL for anything else). */
static int resolve(struct tree *t, const char *path, struct tree_attr *a, struct tree_file **f,
		   char **changing)
{
	struct path_info qp;
	struct snap *s = NULL;
	struct snap_view *view = NULL;
	const struct render_node *node;
	const char *data = NULL;
	char *owned = NULL;
	size_t len = 0;
	uint64_t answer_version = 0;	/* set where bytes are versioned by their answer */
	struct snap *json_snap = NULL;	/* instances.json's snapshot */
	double age = 0;
	bool listing = false, feed = false;
	size_t k;
	long i;
	int rc;

	rc = resolve_routed(t, path, a, f, changing);
	if (rc <= 0)
		return rc;
	rc = path_parse(path, t->base, &qp);
	if (rc)
		return rc;
	/* A region's tree has no .dswfs: the mount's is at the top. */
	if (t->cfg.sub && (qp.node == PATH_CTL_DIR || qp.node == PATH_CTL_FILE)) {
		rc = -ENOENT;
		goto out;
	}
	switch (qp.node) {
	case PATH_ROOT: case PATH_CTL_DIR:
		dir_attr(a, t->started, t->started);
		break;
	case PATH_ID_DIR: case PATH_LINK_DIR: case PATH_QUERY_DIR: case PATH_KEY_DIR:
		dir_attr(a, t->started, t->started);
		listing_attr(t, qp.node == PATH_ID_DIR || qp.node == PATH_LINK_DIR ? t->base : qp.query,
			     a);
		listing = true;
		break;
	case PATH_INSTANCES_JSON:
		rc = get_snap_noted(t, qp.query, path, strlen(path) - strlen("/instances.json"), &s,
				    &age);
		if (rc)
			break;
		/* Its length is measured once per answer; its bytes are rendered per read. */
		rc = snap_instances_json_size(s, &len);
		if (rc)
			break;
		json_snap = s;
		/* Changed when an instance did, not at every fetch (find -newer). */
		file_attr(a, len, snap_newest_mtime(s), snap_fetched_at(s));
		/* Versioned by the answer, not by bytes a stat does not render. */
		answer_version = snap_hash(s) | 1;
		break;
	case PATH_QUERY_INFO:
		rc = get_snap(t, qp.query, &s, &age);
		if (rc)
			break;
		owned = query_info(qp.query, s, age, &len);
		if (!owned) {
			rc = -ENOMEM;
			break;
		}
		file_attr(a, len, snap_fetched_at(s), snap_fetched_at(s));
		break;
	case PATH_INSTANCE:
		/* The instance directory's own lookup is where its query directory gets noted:
		 * nothing below it is reached without that lookup. */
		if (!*qp.rest)
			rc = get_snap_noted(t, qp.query, path, (size_t)(qp.name - path - 1), &s, &age);
		else
			rc = get_snap(t, qp.query, &s, &age);
		if (rc)
			break;
		if (strcmp(qp.rest, ".region") == 0 && (i = snap_find(s, qp.name)) >= 0 &&
		    instance_region(t, s, (size_t)i)) {
			/* Hidden and lookup-only, beside the API's own fields: where it lives. */
			if (asprintf(&owned, "%s\n", instance_region(t, s, (size_t)i)) < 0) {
				owned = NULL;
				rc = -ENOMEM;
				break;
			}
			len = strlen(owned);
			file_attr(a, len, snap_mtime(s, (size_t)i), snap_ctime(s, (size_t)i));
			break;
		}
		if (!*qp.rest) {
			/* The directory itself needs no rendering. */
			i = snap_find(s, qp.name);
			if (i < 0)
				rc = -ENOENT;
			else
				dir_attr(a, snap_mtime(s, (size_t)i), snap_ctime(s, (size_t)i));
			break;
		}
		rc = instance_node(t, s, &qp, &k, &view, &node);
		if (rc)
			break;
		if (render_is_dir(node)) {
			dir_attr(a, snap_mtime(s, k), snap_ctime(s, k));
			break;
		}
		/* Renders this one file (and keeps it in the view): the size must be exact. */
		data = render_data(node, &len);
		if (!data) {
			rc = -ENOMEM;
			break;
		}
		file_attr(a, len, snap_mtime(s, k), snap_ctime(s, k));
		break;
	case PATH_LINK:
		rc = get_snap(t, t->base, &s, &age);
		if (rc)
			break;
		i = snap_links_find(s, (enum snap_links)qp.view, qp.name);
		if (i < 0) {
			rc = i == -ENOMEM ? -ENOMEM : -ENOENT;
		} else {
			link_attr(a, s, qp.view, (size_t)i);
			/* Versioned by the target it names. */
			data = snap_links_target(s, (enum snap_links)qp.view, (size_t)i);
			len = data ? strlen(data) : 0;
		}
		break;
	case PATH_EVENTS:
		rc = feed_attr(t, qp.query, a);
		feed = true;
		break;
	case PATH_CTL_FILE:
		if (strcmp(qp.name, "events") == 0) {
			rc = feed_attr(t, t->base, a);
			feed = true;
			break;
		}
		if (strcmp(qp.name, "metrics") == 0) {
			owned = metrics_text(t, &len);
			rc = owned ? 0 : -ENOMEM;
			if (owned)
				file_attr(a, len, time(NULL), t->started);
			break;
		}
		rc = ctl_lookup(qp.name);
		if (rc < 0)
			break;
		owned = rc == CTL_STATS ? stats_text(t, &len) : ctl_render(t->ctl, rc, NULL, &len);
		if (!owned) {
			rc = -ENOMEM;
			break;
		}
		file_attr(a, len, time(NULL), t->started);
		if (ctl_writable(rc))
			a->mode = 0644;
		rc = 0;
		break;
	}
	if (rc == 0 && !listing && !feed) {
		a->version = answer_version ? answer_version
					    : attr_version(a, owned ? owned : data, len, s);
		a->changing = qp.node == PATH_CTL_FILE || qp.node == PATH_QUERY_INFO;
		a->fresh_for = a->changing ? 0 : s ? attr_fresh_for(t, age) : t->cfg.ttl;
	}
	if (rc == 0 && f && a->type == TREE_FILE) {
		struct tree_file *tf = calloc(1, sizeof(*tf));

		if (!tf) {
			rc = -ENOMEM;
			goto out;
		}
		tf->view = owned ? NULL : view;
		tf->data = owned ? owned : data;
		if (json_snap) {
			snap_ref(json_snap);
			tf->listing = json_snap;
		}
		tf->owned = owned;
		tf->len = len;
		if (!owned)
			view = NULL;	/* the file keeps the reference */
		owned = NULL;
		*f = tf;
	} else if (rc == 0 && f) {
		rc = a->type == TREE_DIR ? -EISDIR : -EINVAL;
	}
	if (rc == 0 && changing) {
		*changing = a->changing ? owned : NULL;
		if (a->changing)
			owned = NULL;
	}
out:
	free(owned);
	snap_view_put(view);
	if (s)
		snap_unref(s);
	path_free(&qp);
	return rc;
}

/* resolve for a stat or lookup. Every lookup of a name goes through here: a misspelt key or
 * value is said once per lookup (verbose=1), never for names that merely do not exist. */
static int getattr_hinted(struct tree *t, const char *path, struct tree_attr *a, char **data)
{
	int rc = resolve(t, path, a, NULL, data);
	char hint[512];

	if (rc == -ENOENT && path_hint(path, hint, sizeof(hint)))
		log_msg(LOG_INFO, "%s: %s", path, hint);
	return rc;
}

int tree_getattr(struct tree *t, const char *path, struct tree_attr *a)
{
	return getattr_hinted(t, path, a, NULL);
}

int tree_getattr_data(struct tree *t, const char *path, struct tree_attr *a, char **data)
{
	*data = NULL;
	return getattr_hinted(t, path, a, data);
}

int tree_open(struct tree *t, const char *path, struct tree_file **f)
{
	struct tree_attr a;

	return resolve(t, path, &a, f, NULL);
}

int tree_open_attr(struct tree *t, const char *path, struct tree_attr *a, struct tree_file **f)
{
	return resolve(t, path, a, f, NULL);
}

ssize_t tree_read(const struct tree_file *f, char *buf, size_t size, off_t off)
{
	size_t n = 0;
	int rc;

	if (off < 0 || (size_t)off >= f->len)
		return 0;
	if (size > f->len - (size_t)off)
		size = f->len - (size_t)off;
	if (f->listing) {
		rc = snap_instances_json_read(f->listing, buf, size, (size_t)off, &n);
		return rc ? rc : (ssize_t)n;
	}
	memcpy(buf, f->data + off, size);
	return (ssize_t)size;
}

size_t tree_file_size(const struct tree_file *f)
{
	return f->len;
}

void tree_close(struct tree_file *f)
{
	if (!f)
		return;
	snap_view_put(f->view);
	snap_unref(f->listing);
	free(f->owned);
	free(f);
}

int tree_readlink(struct tree *t, const char *path, char *buf, size_t size)
{
	struct path_info qp;
	struct snap *s = NULL;
	struct tree *sub;
	const char *sp;
	long i;
	int rc;

	rc = route(t, path, &sub, &sp);
	if (rc)
		return rc < 0 ? rc : -EINVAL;
	if (sub) {
		sub_enter(t, sub);
		rc = tree_readlink(sub, sp, buf, size);
		sub_leave(sub);
		return rc;
	}
	rc = path_parse(path, t->base, &qp);
	if (rc)
		return rc;
	if (qp.node != PATH_LINK) {
		rc = -EINVAL;
		goto out;
	}
	rc = get_snap(t, t->base, &s, NULL);
	if (rc)
		goto out;
	i = snap_links_find(s, (enum snap_links)qp.view, qp.name);
	if (i < 0) {
		rc = i == -ENOMEM ? -ENOMEM : -ENOENT;
		goto out_snap;
	}
	rc = link_target(s, qp.view, (size_t)i, buf, size);
	rc = rc < 0 ? rc : 0;
out_snap:
	snap_unref(s);
out:
	path_free(&qp);
	return rc;
}

/* Lists instance directories with exact attributes, so readdirplus spares the lookups.
 * instances.json is not listed: it repeats every instance's values, so a walk (ls, find,
 * grep -r) would see each of them again; it stays readable by name, like the filter keys. */
static int list_instances(struct snap *s, int (*fill)(void *, const char *, const struct tree_attr *),
			  void *ctx)
{
	struct tree_attr a;

	for (size_t i = 0; i < snap_count(s); i++) {
		dir_attr(&a, snap_mtime(s, i), snap_ctime(s, i));
		if (fill(ctx, snap_dirname(s, i), &a))
			break;
	}
	return 0;
}

static int list_values(struct tree *t, struct snap *s, enum query_key k,
		       int (*fill)(void *, const char *, const struct tree_attr *), void *ctx)
{
	struct tree_attr a;
	const char *const *v;
	size_t n;

	v = snap_key_values(s, k, &n);
	dir_attr(&a, t->started, t->started);
	for (size_t i = 0; i < n; i++)
		if (fill(ctx, v[i], &a))
			break;
	return 0;
}

int tree_readdir(struct tree *t, const char *path,
		 int (*fill)(void *ctx, const char *name, const struct tree_attr *a), void *ctx)
{
	struct path_info qp;
	struct snap *s = NULL;
	struct snap_view *view = NULL;
	const struct render_node *node;
	struct tree_attr a;
	struct tree *sub;
	const char *sp;
	size_t i, n;
	int rc;

	rc = route(t, path, &sub, &sp);
	if (rc < 0)
		return rc;
	if (sub) {
		sub_enter(t, sub);
		rc = tree_readdir(sub, sp, fill, ctx);
		sub_leave(sub);
		return rc;
	}
	if (rc == 1) {
		dir_attr(&a, t->started, t->started);
		for (size_t k = 0; k < t->cfg.nsubs; k++)
			if (fill(ctx, t->cfg.sub_names[k], &a))
				break;
		return 0;
	}
	rc = path_parse(path, t->base, &qp);
	if (rc)
		return rc;
	if (t->cfg.sub && qp.node == PATH_CTL_DIR) {
		rc = -ENOENT;
		goto out;
	}
	switch (qp.node) {
	case PATH_ROOT:
		dir_attr(&a, t->started, t->started);
		for (size_t k = 0; path_top_entry(k); k++) {
			if (t->cfg.sub && strcmp(path_top_entry(k), ".dswfs") == 0)
				continue;
			if (fill(ctx, path_top_entry(k), &a))
				goto out;
		}
		if (t->cfg.nsubs)
			fill(ctx, "regions", &a);
		break;
	case PATH_CTL_DIR:
		for (int k = 0; k < CTL__COUNT; k++)
			if (fill(ctx, ctl_name(k), NULL))
				break;
		/* metrics is listed; events, a feed that never ends, is not (grep -r, find). */
		fill(ctx, "metrics", NULL);
		break;
	case PATH_QUERY_DIR:
		rc = get_snap_noted(t, qp.query, path, strlen(path), &s, NULL);
		if (rc == 0)
			rc = list_instances(s, fill, ctx);
		break;
	case PATH_KEY_DIR:
		rc = get_snap(t, qp.query, &s, NULL);
		if (rc == 0)
			rc = list_values(t, s, qp.key, fill, ctx);
		break;
	case PATH_ID_DIR:
		rc = get_snap(t, t->base, &s, NULL);
		if (rc == 0)
			rc = list_values(t, s, qp.key, fill, ctx);
		break;
	case PATH_LINK_DIR:
		rc = get_snap(t, t->base, &s, NULL);
		if (rc)
			break;
		n = qp.view == PATH_VIEW_INSTANCES ? snap_count(s)
						   : snap_links_count(s, (enum snap_links)qp.view);
		for (size_t k = 0; k < n; k++) {
			const char *name = snap_links_name(s, (enum snap_links)qp.view, k);

			if (!name) {
				rc = -ENOMEM;
				break;
			}
			link_attr(&a, s, qp.view, k);
			if (fill(ctx, name, &a))
				break;
		}
		break;
	case PATH_INSTANCE:
		rc = get_snap(t, qp.query, &s, NULL);
		if (rc == 0)
			rc = instance_node(t, s, &qp, &i, &view, &node);
		if (rc)
			break;
		if (!render_is_dir(node)) {
			rc = -ENOTDIR;
			break;
		}
		/* Names, and attributes only where they cost no rendering (directories,
		 * scalars): a listing renders no JSON file. */
		for (size_t k = 0; k < render_nchildren(node); k++) {
			const struct render_node *c = render_child(node, k);
			const struct tree_attr *ap = &a;
			size_t len = 0;

			/* The whole instance again: readable by name, not listed (see list_instances). */
			if (!*qp.rest && !render_is_dir(c) &&
			    strcmp(render_name(c), "instance.json") == 0)
				continue;
			if (render_is_dir(c))
				dir_attr(&a, snap_mtime(s, (size_t)i), snap_ctime(s, (size_t)i));
			else if (render_size_known(c, &len))
				file_attr(&a, len, snap_mtime(s, (size_t)i), snap_ctime(s, (size_t)i));
			else
				ap = NULL;
			if (fill(ctx, render_name(c), ap))
				break;
		}
		break;
	default:
		rc = -ENOTDIR;
		break;
	}
out:
	snap_view_put(view);
	if (s)
		snap_unref(s);
	path_free(&qp);
	return rc;
}

int tree_writable(struct tree *t, const char *path)
{
	struct path_info qp;
	struct tree *sub;
	const char *sp;
	int rc;

	rc = route(t, path, &sub, &sp);
	if (rc || sub)
		return rc < 0 ? rc : rc == 1 ? -EROFS : tree_writable(sub, sp);
	rc = path_parse(path, t->base, &qp);
	if (rc)
		return rc;
	if (t->cfg.sub && (qp.node == PATH_CTL_DIR || qp.node == PATH_CTL_FILE))
		rc = -ENOENT;
	else
		rc = qp.node == PATH_CTL_FILE && ctl_lookup(qp.name) == CTL_REFRESH ? 0 : -EROFS;
	path_free(&qp);
	return rc;
}

int tree_write(struct tree *t, const char *path)
{
	int rc = tree_writable(t, path);

	if (rc == 0)
		rc = tree_refresh(t);
	return rc;
}

int tree_refresh(struct tree *t)
{
	return refresh_request(t->refresh, NULL);
}

int tree_refresh_kick(struct tree *t)
{
	return refresh_kick(t->refresh);
}

int tree_prefetch(struct tree *t)
{
	struct snap *s;
	int rc = get_snap(t, t->base, &s, NULL);

	if (rc == 0)
		snap_unref(s);
	return rc;
}

void tree_settle(struct tree *t)
{
	refresh_wait_idle(t->refresh);
	cache_wait_background(t->cache);
	for (size_t i = 0; i < t->cfg.nsubs; i++)
		tree_settle(t->cfg.subs[i]);
}

int tree_get_query(struct tree *t, const struct query *q, struct snap **s, double *age,
		   struct err_info *err)
{
	void *v;
	int rc = cache_get(t->cache, query_canonical(q), q, &v, age, err);

	if (rc == 0)
		*s = v;
	return rc;
}

double tree_ttl(const struct tree *t)
{
	return t->cfg.ttl;
}

double tree_clock(struct tree *t)
{
	return tree_now(t);
}

int tree_query_json(struct tree *t, const char *path, char **json, size_t *len,
		    struct err_info *err)
{
	struct path_info qp;
	struct snap *s = NULL;
	char *full = NULL;
	void *v;
	int rc;

	memset(err, 0, sizeof(*err));
	while (*path == '/')
		path++;
	if (asprintf(&full, "/%s", path) < 0)
		return -ENOMEM;
	/* Trailing slashes are what shells complete directory names with. */
	for (size_t n = strlen(full); n > 1 && full[n - 1] == '/'; n--)
		full[n - 1] = 0;
	{
		struct tree *sub;
		const char *sp;

		rc = route(t, full, &sub, &sp);
		if (sub) {
			rc = tree_query_json(sub, sp, json, len, err);
			goto out;
		}
		if (rc) {
			rc = -ENOENT;
			snprintf(err->message, sizeof(err->message),
				 "%s is not a query directory (try regions/ID/instances)", path);
			goto out;
		}
	}
	rc = path_parse(full, t->base, &qp);
	/* A command line's typo deserves the "did you mean" a mount logs at verbose=1. */
	if ((rc == -ENOENT || (rc == 0 && qp.node != PATH_QUERY_DIR)) &&
	    path_hint(full, err->message, sizeof(err->message))) {
		rc = -ENOENT;
		goto out_qp;
	}
	if (rc)
		goto out;
	if (qp.node != PATH_QUERY_DIR) {
		rc = -ENOENT;
		snprintf(err->message, sizeof(err->message),
			 "%s is not a query directory (try instances/ or workspaces/ID/status/Running)",
			 path);
		goto out_qp;
	}
	rc = cache_get(t->cache, query_canonical(qp.query), qp.query, &v, NULL, err);
	if (rc)
		goto out_qp;
	s = v;
	*json = snap_instances_json(s, len);
	if (!*json)
		rc = -ENOMEM;
	snap_unref(s);
out_qp:
	path_free(&qp);
out:
	free(full);
	return rc;
}

char *tree_stats(struct tree *t)
{
	char *extra = t->cfg.stats_extra ? t->cfg.stats_extra(t->cfg.fetch_ctx) : NULL;
	char *s = NULL;

	if (asprintf(&s, "cache_oldest_age_seconds %.1f\nrender_cache_bytes %zu\n"
		     "feeds_followed %zu\n%s", cache_oldest_age(t->cache),
		     snap_views_bytes(t->views), feed_followed(t->feeds), extra ? extra : "") < 0)
		s = NULL;
	free(extra);
	return s;
}

void tree_set_cancel(struct tree *t, struct cancel *k)
{
	pthread_setspecific(t->cancel_key, k);
}

int tree_feed_read(struct tree *t, const char *path, char *buf, size_t size, off_t off,
		   size_t *n)
{
	struct path_info qp;
	const struct query *q;
	int rc;

	struct tree *sub;
	const char *sp;

	*n = 0;
	if (off < 0)
		return -EINVAL;
	rc = route(t, path, &sub, &sp);
	if (rc)
		return rc < 0 ? rc : -ENOTSUP;
	if (sub)
		return tree_feed_read(sub, sp, buf, size, off, n);
	rc = path_parse(path, t->base, &qp);
	if (rc)
		return rc == -ENOENT ? -ENOTSUP : rc;
	q = qp.node == PATH_EVENTS ? qp.query
	    : qp.node == PATH_CTL_FILE && strcmp(qp.name, "events") == 0 ? t->base : NULL;
	rc = q ? feed_read(t->feeds, query_canonical(q), (uint64_t)off, buf, size, n) : -ENOTSUP;
	if (rc == -ENOENT)
		rc = -ESTALE;	/* its feed was let go: a new lookup starts another */
	path_free(&qp);
	return rc;
}

int tree_start(struct tree *t)
{
	return feed_set_start(t->feeds);
}
