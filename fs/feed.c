/* feed: change feeds per query (diffs of successive answers into bounded event logs) and the
 * background polling of the queries someone follows. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "diff.h"
#include "evlog.h"
#include "feed.h"
#include "log.h"
#include "query.h"
#include "snap.h"
#include "stats.h"

struct feed {
	char *key;
	struct query *query;
	struct evlog *log;
	struct snap *last;	/* the last answer diffed; its reference */
	double asked;		/* monotonic time of the last attribute or byte request */
	time_t mtime;		/* wall-clock time of the last line (or of the start) */
};

struct feed_set {
	struct feed_config cfg;
	char *region, *watch_key;
	struct query *watch_query;
	/* lock guards the table and each feed's fields; update_lock serialises feed_update, so
	 * differences are computed without holding lock (readers never wait for a diff). */
	pthread_mutex_t lock, update_lock;
	struct feed *feeds[FEED_MAX];
	size_t n;
	pthread_t thread;
	pthread_cond_t cond;
	bool started, stop;
};

static double now_of(struct feed_set *fs)
{
	return fs->cfg.now(fs->cfg.now_ctx);
}

static bool followed(const struct feed_set *fs, const struct feed *f, double now)
{
	return f->asked > 0 && now - f->asked < 2 * fs->cfg.ttl;
}

int feed_set_new(const struct feed_config *cfg, struct feed_set **out)
{
	struct feed_set *fs;

	if (!cfg->now || !cfg->poll || cfg->max_bytes == 0 || cfg->ttl < 0 ||
	    (!cfg->watch_key) != (!cfg->watch_query))
		return -EINVAL;
	fs = calloc(1, sizeof(*fs));
	if (!fs)
		return -ENOMEM;
	fs->cfg = *cfg;
	fs->region = strdup(cfg->region ? cfg->region : "");
	fs->watch_key = cfg->watch_key ? strdup(cfg->watch_key) : NULL;
	fs->watch_query = cfg->watch_query ? query_dup(cfg->watch_query) : NULL;
	if (!fs->region || (cfg->watch_key && (!fs->watch_key || !fs->watch_query))) {
		free(fs->region);
		free(fs->watch_key);
		query_free(fs->watch_query);
		free(fs);
		return -ENOMEM;
	}
	fs->cfg.region = fs->region;
	pthread_mutex_init(&fs->lock, NULL);
	pthread_mutex_init(&fs->update_lock, NULL);
	pthread_cond_init(&fs->cond, NULL);
	*out = fs;
	return 0;
}

static void feed_free(struct feed *f)
{
	if (!f)
		return;
	free(f->key);
	query_free(f->query);
	evlog_free(f->log);
	if (f->last)
		snap_unref(f->last);
	free(f);
}

/* The polling thread: a round every quarter TTL (between 50 ms and 1 s), so a followed query
 * is refetched within a quarter TTL of its answer expiring. */
static void *poll_main(void *arg)
{
	struct feed_set *fs = arg;
	double tick = fs->cfg.ttl / 4;
	struct timespec until;

	if (tick < 0.05)
		tick = 0.05;
	if (tick > 1)
		tick = 1;
	pthread_mutex_lock(&fs->lock);
	while (!fs->stop) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += (long)(tick * 1e9);
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&fs->cond, &fs->lock, &until);
		if (fs->stop)
			break;
		pthread_mutex_unlock(&fs->lock);
		feed_poll_once(fs);
		pthread_mutex_lock(&fs->lock);
	}
	pthread_mutex_unlock(&fs->lock);
	return NULL;
}

int feed_set_start(struct feed_set *fs)
{
	int rc = pthread_create(&fs->thread, NULL, poll_main, fs);

	if (rc)
		return -rc;
	fs->started = true;
	return 0;
}

void feed_set_stop(struct feed_set *fs)
{
	if (!fs || !fs->started)
		return;
	pthread_mutex_lock(&fs->lock);
	fs->stop = true;
	pthread_cond_signal(&fs->cond);
	pthread_mutex_unlock(&fs->lock);
	pthread_join(fs->thread, NULL);
	fs->started = false;
}

void feed_set_free(struct feed_set *fs)
{
	if (!fs)
		return;
	feed_set_stop(fs);
	for (size_t i = 0; i < fs->n; i++)
		feed_free(fs->feeds[i]);
	pthread_cond_destroy(&fs->cond);
	pthread_mutex_destroy(&fs->lock);
	pthread_mutex_destroy(&fs->update_lock);
	free(fs->region);
	free(fs->watch_key);
	query_free(fs->watch_query);
	free(fs);
}

/* Lock held. */
static struct feed *find(struct feed_set *fs, const char *key)
{
	for (size_t i = 0; i < fs->n; i++)
		if (strcmp(fs->feeds[i]->key, key) == 0)
			return fs->feeds[i];
	return NULL;
}

/* Makes room for one more feed by letting go of the least recently asked one nobody follows.
 * Lock held. Returns 0 or -ENOSPC. */
static int make_room(struct feed_set *fs, double now)
{
	size_t victim = fs->n;

	if (fs->n < FEED_MAX)
		return 0;
	for (size_t i = 0; i < fs->n; i++)
		if (!followed(fs, fs->feeds[i], now) &&
		    (victim == fs->n || fs->feeds[i]->asked < fs->feeds[victim]->asked))
			victim = i;
	if (victim == fs->n)
		return -ENOSPC;
	feed_free(fs->feeds[victim]);
	fs->feeds[victim] = fs->feeds[--fs->n];
	return 0;
}

int feed_size(struct feed_set *fs, const char *key, const struct query *q, struct snap *cur,
	      uint64_t *size, time_t *mtime)
{
	double now = now_of(fs);
	struct feed *f;
	bool updating = false;
	int rc = 0;

	pthread_mutex_lock(&fs->lock);
	f = find(fs, key);
	if (!f && cur) {
		/* Letting a feed go must not race a feed_update writing to it: a new feed is
		 * made under update_lock too (taken first, as feed_update does). */
		pthread_mutex_unlock(&fs->lock);
		pthread_mutex_lock(&fs->update_lock);
		updating = true;
		pthread_mutex_lock(&fs->lock);
		f = find(fs, key);
	}
	if (!f && !cur) {
		rc = -ENOENT;
		goto out;
	}
	if (!f) {
		rc = make_room(fs, now);
		if (rc)
			goto out;
		rc = -ENOMEM;
		f = calloc(1, sizeof(*f));
		if (!f)
			goto out;
		f->key = strdup(key);
		f->query = query_dup(q);
		if (!f->key || !f->query || evlog_new(fs->cfg.max_bytes, &f->log)) {
			feed_free(f);
			goto out;
		}
		snap_ref(cur);
		f->last = cur;
		f->mtime = time(NULL);
		fs->feeds[fs->n++] = f;
		rc = 0;
	}
	f->asked = now;
	*size = evlog_size(f->log);
	if (mtime)
		*mtime = f->mtime;
out:
	pthread_mutex_unlock(&fs->lock);
	if (updating)
		pthread_mutex_unlock(&fs->update_lock);
	return rc;
}

int feed_read(struct feed_set *fs, const char *key, uint64_t off, char *buf, size_t size,
	      size_t *n)
{
	struct feed *f;

	pthread_mutex_lock(&fs->lock);
	f = find(fs, key);
	if (f) {
		f->asked = now_of(fs);
		*n = evlog_read(f->log, off, buf, size);
	}
	pthread_mutex_unlock(&fs->lock);
	return f ? 0 : -ENOENT;
}

struct update {
	struct feed_set *fs;
	struct snap *old, *new;
	struct evlog *log;
	size_t lines;
};

static int append_event(void *ctx, enum diff_kind k, long i, long j)
{
	struct update *u = ctx;
	size_t len;
	char *line = diff_event(u->old, i, u->new, j, k, u->fs->region, snap_fetched_at(u->new),
				&len);

	if (!line || evlog_append(u->log, line, len) != 0) {
		log_msg(LOG_WARN, "feed: an event was lost: out of memory");
	} else {
		u->lines++;
		stats_add(STATS_EVENTS, 1);
	}
	free(line);
	return 0;
}

void feed_update(struct feed_set *fs, const char *key, struct snap *s)
{
	struct update u = { .fs = fs, .new = s };
	struct feed *f;

	pthread_mutex_lock(&fs->update_lock);
	pthread_mutex_lock(&fs->lock);
	f = find(fs, key);
	if (!f || (f->last && snap_stamp(s) < snap_stamp(f->last)) || f->last == s) {
		pthread_mutex_unlock(&fs->lock);
		goto out;
	}
	/* Feeds are let go only under update_lock (feed_size), so f and its log stay while
	 * the differences are appended without lock. */
	u.old = f->last;
	snap_ref(u.old);
	u.log = f->log;
	pthread_mutex_unlock(&fs->lock);
	diff_each(u.old, s, append_event, &u);
	pthread_mutex_lock(&fs->lock);
	if (f == find(fs, key)) {
		snap_ref(s);
		if (f->last)
			snap_unref(f->last);
		f->last = s;
		if (u.lines)
			f->mtime = time(NULL);
	}
	pthread_mutex_unlock(&fs->lock);
	snap_unref(u.old);
out:
	pthread_mutex_unlock(&fs->update_lock);
}

size_t feed_followed(struct feed_set *fs)
{
	double now = now_of(fs);
	size_t n = 0;

	pthread_mutex_lock(&fs->lock);
	for (size_t i = 0; i < fs->n; i++)
		n += followed(fs, fs->feeds[i], now);
	pthread_mutex_unlock(&fs->lock);
	return n;
}

size_t feed_poll_once(struct feed_set *fs)
{
	struct {
		char *key;
		struct query *q;
	} todo[FEED_MAX + 1];
	double now = now_of(fs);
	size_t n = 0, started = 0;

	pthread_mutex_lock(&fs->lock);
	for (size_t i = 0; i < fs->n; i++) {
		struct feed *f = fs->feeds[i];

		if (!followed(fs, f, now))
			continue;
		todo[n].key = strdup(f->key);
		todo[n].q = query_dup(f->query);
		n++;
	}
	if (fs->watch_key) {
		/* watched whether anyone follows it or not */
		bool there = false;

		for (size_t i = 0; i < n; i++)
			there = there || (todo[i].key && strcmp(todo[i].key, fs->watch_key) == 0);
		if (!there) {
			todo[n].key = strdup(fs->watch_key);
			todo[n].q = query_dup(fs->watch_query);
			n++;
		}
	}
	pthread_mutex_unlock(&fs->lock);
	for (size_t i = 0; i < n; i++) {
		if (todo[i].key && todo[i].q &&
		    fs->cfg.poll(fs->cfg.poll_ctx, todo[i].key, todo[i].q) == 0) {
			started++;
			stats_add(STATS_FEED_POLLS, 1);
		}
		free(todo[i].key);
		query_free(todo[i].q);
	}
	return started;
}
