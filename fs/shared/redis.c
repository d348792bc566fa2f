/* shared: the shared cache level in Redis (hiredis): lookups, the cross-host fetch lock, stores, fallback. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <openssl/rand.h>

#include "buf.h"
#include "log.h"
#include "secmem.h"
#include "shared.h"
#include "stats.h"

/*
 * Connections: a hiredis context is not thread-safe, and FUSE worker threads fetch at the same
 * time, so contexts live in a small pool behind one mutex. A fetch takes a context (an idle one,
 * or a new connection), uses it alone, and gives it back; it never holds one across an API
 * call. At most SHARED_POOL_MAX idle contexts are kept; more concurrent fetches connect their
 * own and close them afterwards. The mutex guards only the pool and the back-off state;
 * nothing slow runs under it.
 *
 * Failure: any connection error or timeout drops the context and every idle one (a restarted
 * Redis invalidates them all) and starts a back-off (0.5 s, doubling to 30 s) during which
 * every fetch goes straight to the API without trying Redis, so a dead or paused Redis costs
 * one timeout per back-off period, not one per fetch. Error replies (full, wrong type) keep the
 * connection.
 */
#define SHARED_POOL_MAX 8
#define SHARED_BACKOFF_MIN 0.5
#define SHARED_BACKOFF_MAX 30.0
/* A sealed value bigger than this is neither stored nor read (GETRANGE caps what Redis sends):
 * a 10,000-instance answer seals to about 1 MiB. */
#define SHARED_MAX_VALUE ((size_t)64 << 20)
/* How often a host waiting for another host's fetch looks at the lock. */
#define SHARED_POLL_MS 20
/* Entries whose fetch time is further than this ahead of our clock are rejected: the
 * fetching host's clock is wrong, and its answer would look fresh for too long. Within it,
 * an answer can look up to this much younger than it is. */
#define SHARED_MAX_SKEW 5.0

/* Deletes the lock only if it still holds our token (it may have expired and been taken). */
static const char UNLOCK_LUA[] =
	"if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) "
	"else return 0 end";

struct shared {
	struct shared_config cfg;	/* strings below are our copies */
	struct shared_addr addr;
	char *url, *endpoint, *region, *identity;
	char *user, *password;		/* secmem */
	pthread_mutex_t lock;
	redisContext *idle[SHARED_POOL_MAX];
	unsigned nidle;
	unsigned failures;		/* Redis failures in a row */
	double down_until;		/* monotonic; no Redis before this */
	char down_reason[256];
	unsigned api_failures;		/* API failures in a row (stale-on-error back-off) */
	double api_retry_at;		/* monotonic */
};

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double wall(const struct shared *s)
{
	struct timespec ts;

	if (s->cfg.wall)
		return s->cfg.wall(s->cfg.wall_ctx);
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static struct timeval to_tv(double sec)
{
	struct timeval tv;

	tv.tv_sec = (time_t)sec;
	tv.tv_usec = (suseconds_t)((sec - (double)tv.tv_sec) * 1e6);
	return tv;
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

int shared_url_parse(const char *url, struct shared_addr *a, char *err, size_t errlen)
{
	char tmp[512], *p, *slash, *colon;

	memset(a, 0, sizeof(*a));
	a->port = 6379;
	if (!url || strlen(url) >= sizeof(tmp))
		goto bad;
	snprintf(tmp, sizeof(tmp), "%s", url);
	if (strncmp(tmp, "unix:", 5) == 0) {
		char *q;

		p = tmp + 5;
		q = strchr(p, '?');
		if (q) {
			*q++ = '\0';
			if (strncmp(q, "db=", 3) != 0 || parse_int(q + 3, 0, 1 << 20, &a->db))
				goto bad;
		}
		if (*p != '/' || strlen(p) >= sizeof(a->path))
			goto bad;
		memcpy(a->path, p, strlen(p) + 1);	/* length checked above */
		return 0;
	}
	if (strncmp(tmp, "redis://", 8) != 0)
		goto bad;
	p = tmp + 8;
	slash = strchr(p, '/');
	if (slash) {
		*slash = '\0';
		if (slash[1] && parse_int(slash + 1, 0, 1 << 20, &a->db))
			goto bad;
	}
	/* No credentials in the URL: they would show in ps and in .dswfs/config. */
	if (strchr(p, '@'))
		goto bad;
	colon = strrchr(p, ':');
	if (colon) {
		*colon = '\0';
		if (parse_int(colon + 1, 1, 65535, &a->port))
			goto bad;
	}
	if (!*p || strlen(p) >= sizeof(a->host))
		goto bad;
	memcpy(a->host, p, strlen(p) + 1);	/* length checked above */
	return 0;
bad:
	snprintf(err, errlen, "shared_cache=%s: expected redis://HOST[:PORT][/DB] or "
		 "unix:/PATH[?db=N] (a password comes from DSWFS_REDIS_PASSWORD or "
		 "shared_cache_password_file, never the URL)", url ? url : "");
	return -EINVAL;
}

/* Drops every idle context and starts (or extends) the back-off. */
static void redis_failed(struct shared *s, const char *why)
{
	redisContext *drop[SHARED_POOL_MAX];
	unsigned n, failures;
	double backoff;

	pthread_mutex_lock(&s->lock);
	n = s->nidle;
	memcpy(drop, s->idle, n * sizeof(drop[0]));
	s->nidle = 0;
	if (s->failures < 32)
		s->failures++;
	failures = s->failures;
	backoff = fmin(SHARED_BACKOFF_MIN * pow(2, failures - 1), SHARED_BACKOFF_MAX);
	s->down_until = mono() + backoff;
	snprintf(s->down_reason, sizeof(s->down_reason), "%s", why);
	pthread_mutex_unlock(&s->lock);
	for (unsigned i = 0; i < n; i++)
		redisFree(drop[i]);
	log_msg(LOG_WARN, "shared cache %s: %s; using the API directly for %.1f s", s->url, why,
		backoff);
}

static void redis_ok(struct shared *s)
{
	pthread_mutex_lock(&s->lock);
	s->failures = 0;
	pthread_mutex_unlock(&s->lock);
}

/* Sends one command with the pool's rules; NULL when the connection failed (then *c is freed
 * and set to NULL, the back-off started and note says why). */
static redisReply *cmd(struct shared *s, redisContext **c, char *note, size_t notelen,
		       const char *fmt, ...)
{
	redisReply *r;
	va_list ap;

	va_start(ap, fmt);
	r = redisvCommand(*c, fmt, ap);
	va_end(ap);
	if (!r) {
		snprintf(note, notelen, "shared cache %s: %s", s->url,
			 (*c)->errstr[0] ? (*c)->errstr : "connection lost");
		redis_failed(s, (*c)->errstr[0] ? (*c)->errstr : "connection lost");
		redisFree(*c);
		*c = NULL;
	}
	return r;
}

/* The reply to a connection set-up command (AUTH, SELECT): 0, or -EIO with *c gone (an error
 * reply drops the connection too: it is of no use). */
static int setup_reply(struct shared *s, redisContext **c, redisReply *r, const char *what,
		       char *note, size_t notelen)
{
	char why[200];

	if (!r)
		return -EIO;
	if (r->type != REDIS_REPLY_ERROR) {
		freeReplyObject(r);
		return 0;
	}
	snprintf(why, sizeof(why), "%s refused: %.150s", what, r->str);
	snprintf(note, notelen, "shared cache %s: %s", s->url, why);
	freeReplyObject(r);
	redis_failed(s, why);
	redisFree(*c);
	*c = NULL;
	return -EIO;
}

/* A connection for this thread alone, or NULL (note says why) while Redis is failing. */
static redisContext *conn_get(struct shared *s, char *note, size_t notelen)
{
	struct timeval tv = to_tv(s->cfg.timeout);
	redisContext *c = NULL;
	double left;

	pthread_mutex_lock(&s->lock);
	left = s->down_until - mono();
	if (left > 0) {
		snprintf(note, notelen, "shared cache %s: %s (next try in %.1f s)", s->url,
			 s->down_reason, left);
		pthread_mutex_unlock(&s->lock);
		return NULL;
	}
	if (s->nidle)
		c = s->idle[--s->nidle];
	pthread_mutex_unlock(&s->lock);
	if (c)
		return c;
	c = s->addr.path[0] ? redisConnectUnixWithTimeout(s->addr.path, tv)
			    : redisConnectWithTimeout(s->addr.host, s->addr.port, tv);
	if (!c || c->err) {
		char why[200];

		snprintf(why, sizeof(why), "connecting: %s", c ? c->errstr : "out of memory");
		snprintf(note, notelen, "shared cache %s: %s", s->url, why);
		redis_failed(s, why);
		redisFree(c);
		return NULL;
	}
	if (redisSetTimeout(c, tv) != REDIS_OK) {
		snprintf(note, notelen, "shared cache %s: setting the timeout failed", s->url);
		redis_failed(s, "setting the timeout failed");
		redisFree(c);
		return NULL;
	}
	if (s->password &&
	    setup_reply(s, &c, s->user ? cmd(s, &c, note, notelen, "AUTH %s %s", s->user,
					     s->password)
				       : cmd(s, &c, note, notelen, "AUTH %s", s->password),
			"AUTH", note, notelen))
		return NULL;
	if (s->addr.db && setup_reply(s, &c, cmd(s, &c, note, notelen, "SELECT %d", s->addr.db),
				      "SELECT", note, notelen))
		return NULL;
	return c;
}

static void conn_put(struct shared *s, redisContext *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&s->lock);
	if (s->nidle < SHARED_POOL_MAX) {
		s->idle[s->nidle++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&s->lock);
	redisFree(c);
}

/* The query as one string for the entry name: each parameter length-prefixed. NULL on ENOMEM. */
static char *canonical(const struct sign_kv *params, size_t n)
{
	struct buf b;

	buf_init(&b, 1 << 20);
	for (size_t i = 0; i < n; i++)
		if (buf_printf(&b, "%zu:%s=%zu:%s;", strlen(params[i].name), params[i].name,
			       strlen(params[i].value), params[i].value) < 0) {
			buf_free(&b);
			return NULL;
		}
	return buf_steal(&b, NULL);
}

/* One entry as read: the answer and the wall-clock time it was fetched. */
struct found {
	cJSON *instances;
	double fetched_at;
};

static void reject(struct shared *s, const char *name, const char *why, char *note,
		   size_t notelen)
{
	stats_add(STATS_SHARED_REJECTED, 1);
	snprintf(note, notelen, "shared cache %s: entry %s rejected (%s); not served", s->url,
		 name, why);
	log_msg(LOG_WARN, "%s", note);
}

/* Reads name: 0 with *f, -ENOENT (absent, or rejected: counted and noted), -EIO (connection
 * failed; *c is gone). */
static int entry_get(struct shared *s, redisContext **c, const char *name, struct found *f,
		     char *note, size_t notelen)
{
	redisReply *r;
	char *plain = NULL;
	size_t len = 0;
	int64_t ms = 0;
	int rc = -ENOENT;

	f->instances = NULL;
	/* GETRANGE caps what Redis sends; a missing key reads as "". */
	r = cmd(s, c, note, notelen, "GETRANGE %s 0 %lld", name, (long long)SHARED_MAX_VALUE);
	if (!r)
		return -EIO;
	if (r->type == REDIS_REPLY_ERROR) {
		reject(s, name, r->str, note, notelen);
		goto out;
	}
	if (r->type != REDIS_REPLY_STRING || r->len == 0)
		goto out;	/* absent */
	if ((size_t)r->len > SHARED_MAX_VALUE) {
		reject(s, name, "too large", note, notelen);
		goto out;
	}
	rc = shared_codec_open(&s->cfg.keys, name, (const unsigned char *)r->str, r->len,
			       SHARED_MAX_PLAIN, &plain, &len, &ms);
	if (rc) {
		reject(s, name, rc == -EBADMSG ? "authentication or format check failed"
			       : strerror(-rc), note, notelen);
		rc = -ENOENT;
		goto out;
	}
	rc = -ENOENT;
	if ((double)ms / 1000.0 > wall(s) + SHARED_MAX_SKEW) {
		reject(s, name, "fetch time ahead of this host's clock by more than 5 s", note,
		       notelen);
		goto out;
	}
	f->instances = cJSON_ParseWithLength(plain, len);
	if (!f->instances || !cJSON_IsArray(f->instances)) {
		cJSON_Delete(f->instances);
		f->instances = NULL;
		reject(s, name, "not a JSON array", note, notelen);
		goto out;
	}
	f->fetched_at = (double)ms / 1000.0;
	rc = 0;
out:
	free(plain);
	freeReplyObject(r);
	return rc;
}

static double age_of(const struct shared *s, const struct found *f)
{
	double a = wall(s) - f->fetched_at;

	return a > 0 ? a : 0;
}

/* Stores instances under name with their fetch time; failures are counted and noted only. */
static void entry_put(struct shared *s, redisContext **c, const char *name,
		      const cJSON *instances, double fetched_at, char *note, size_t notelen)
{
	/* Kept as long as any host could still serve it (grace or max_stale), then Redis drops
	 * it on its own. */
	double keep = s->cfg.ttl + fmax(s->cfg.grace, s->cfg.max_stale) + 60;
	unsigned char *sealed = NULL;
	size_t sealedlen = 0;
	char *json;
	redisReply *r;
	int rc;

	json = cJSON_PrintUnformatted(instances);
	if (!json) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = shared_codec_seal(&s->cfg.keys, name, json, strlen(json),
			       (int64_t)llround(fetched_at * 1000.0), &sealed, &sealedlen);
	free(json);
	if (!rc && sealedlen > SHARED_MAX_VALUE)
		rc = -EFBIG;
	if (rc)
		goto fail;
	r = cmd(s, c, note, notelen, "SET %s %b PX %lld", name, sealed, sealedlen,
		(long long)(keep * 1000));
	free(sealed);
	if (!r) {
		stats_add(STATS_SHARED_STORE_FAILURES, 1);
		return;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		stats_add(STATS_SHARED_STORE_FAILURES, 1);
		snprintf(note, notelen, "shared cache %s: storing the answer failed: %.200s",
			 s->url, r->str);
		log_msg(LOG_WARN, "%s", note);
	} else {
		stats_add(STATS_SHARED_STORES, 1);
	}
	freeReplyObject(r);
	return;
fail:
	free(sealed);
	stats_add(STATS_SHARED_STORE_FAILURES, 1);
	snprintf(note, notelen, "shared cache %s: not storing the answer: %s", s->url,
		 strerror(-rc));
}

/* SET NX: 1 taken, 0 held by another host, -EIO connection failed (*c gone), -ENOSPC error
 * reply (Redis full, read-only replica...). */
static int lock_take(struct shared *s, redisContext **c, const char *lockname, const char *token,
		     char *note, size_t notelen)
{
	redisReply *r = cmd(s, c, note, notelen, "SET %s %s NX PX %lld", lockname, token,
			    (long long)(s->cfg.lock_wait * 1000));
	int rc;

	if (!r)
		return -EIO;
	if (r->type == REDIS_REPLY_ERROR) {
		snprintf(note, notelen, "shared cache %s: taking the fetch lock failed: %.200s",
			 s->url, r->str);
		rc = -ENOSPC;
	} else {
		rc = r->type == REDIS_REPLY_STATUS ? 1 : 0;
	}
	freeReplyObject(r);
	return rc;
}

/* 1 while the lock exists, 0 once gone, -EIO. */
static int lock_held(struct shared *s, redisContext **c, const char *lockname, char *note,
		     size_t notelen)
{
	redisReply *r = cmd(s, c, note, notelen, "EXISTS %s", lockname);
	int rc;

	if (!r)
		return -EIO;
	rc = r->type == REDIS_REPLY_INTEGER && r->integer > 0;
	freeReplyObject(r);
	return rc;
}

static void lock_release(struct shared *s, redisContext **c, const char *lockname,
			 const char *token, char *note, size_t notelen)
{
	redisReply *r;

	if (!*c)
		return;
	r = cmd(s, c, note, notelen, "EVAL %s 1 %s %s", UNLOCK_LUA, lockname, token);
	freeReplyObject(r);
}

static bool api_backing_off(struct shared *s)
{
	bool b;

	pthread_mutex_lock(&s->lock);
	b = s->api_failures && mono() < s->api_retry_at;
	pthread_mutex_unlock(&s->lock);
	return b;
}

/* The API's outcome, for the stale-on-error back-off across hosts: after a failure, a stale
 * entry is served without asking the API again for min(ttl, 1 s), doubling up to ttl (the
 * mount's own cache does the same with its own values). */
static void api_outcome(struct shared *s, int rc)
{
	pthread_mutex_lock(&s->lock);
	if (rc == 0) {
		s->api_failures = 0;
	} else {
		double b = fmin(s->cfg.ttl, 1.0);

		if (s->api_failures < 32)
			s->api_failures++;
		b = fmin(b * pow(2, s->api_failures - 1), s->cfg.ttl);
		s->api_retry_at = mono() + b;
	}
	pthread_mutex_unlock(&s->lock);
}

/* Serves a stale entry in place of a failed (or skipped) API fetch; err becomes a warning. */
static int serve_stale(struct shared *s, struct found *f, cJSON **instances, double *age,
		       struct err_info *err, const char *why)
{
	char msg[sizeof(err->message)];

	*age = age_of(s, f);
	snprintf(msg, sizeof(msg), "%.300s; answered from the shared cache's entry, %.0f s old",
		 why, *age);
	memset(err, 0, sizeof(*err));
	snprintf(err->message, sizeof(err->message), "%s", msg);
	*instances = f->instances;
	f->instances = NULL;
	stats_add(STATS_SHARED_STALE_SERVES, 1);
	return 0;
}

/* The API fetch behind a miss (under the lock or after waiting too long): stores a success;
 * on failure serves f when it is younger than max_stale. */
static int fetch_api(struct shared *s, redisContext **c, const char *name,
		     const struct sign_kv *params, size_t n, struct found *f, cJSON **instances,
		     double *age, struct err_info *err, char *note, size_t notelen)
{
	double at = wall(s);
	int rc;

	conn_put(s, *c);	/* no connection is held across the API call */
	*c = NULL;
	rc = s->cfg.fetch(s->cfg.fetch_ctx, params, n, instances, err);
	api_outcome(s, rc);
	if (rc == 0) {
		*c = conn_get(s, note, notelen);
		if (*c)
			entry_put(s, c, name, *instances, at, note, notelen);
		*age = 0;
		return 0;
	}
	if (rc != -ENOMEM && f->instances && age_of(s, f) < s->cfg.max_stale) {
		char why[400];

		snprintf(why, sizeof(why), "the API failed (%.300s)",
			 err->message[0] ? err->message : strerror(-rc));
		*c = conn_get(s, note, notelen);
		return serve_stale(s, f, instances, age, err, why);
	}
	*c = conn_get(s, note, notelen);
	return rc;
}

int shared_fetch(void *ctx, const struct sign_kv *params, size_t nparams, cJSON **instances,
		 double *age, struct err_info *err)
{
	struct shared *s = ctx;
	char name[SHARED_NAME_MAX], lockname[SHARED_NAME_MAX + 8], token[33], note[400] = "";
	unsigned char rnd[16];
	struct found f = { NULL, 0 };
	redisContext *c = NULL;
	bool locked = false, waited = false;
	double deadline;
	char *query;
	int rc;

	*age = 0;
	query = canonical(params, nparams);
	if (!query)
		return -ENOMEM;
	rc = shared_codec_entry_name(&s->cfg.keys, s->endpoint, s->region, s->identity, query,
				     name);
	free(query);
	if (rc || RAND_bytes(rnd, sizeof(rnd)) != 1) {
		snprintf(note, sizeof(note), "shared cache: libcrypto failed");
		goto fallback;
	}
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(token + 2 * i, 3, "%02x", rnd[i]);
	snprintf(lockname, sizeof(lockname), "%s:lock", name);

	c = conn_get(s, note, sizeof(note));
	if (!c)
		goto fallback;
	rc = entry_get(s, &c, name, &f, note, sizeof(note));
	if (rc == -EIO)
		goto fallback;
	if (rc == 0) {
		redis_ok(s);
		if (age_of(s, &f) < s->cfg.ttl) {
			stats_add(STATS_SHARED_HITS, 1);
			goto out_hit;
		}
		/* The API failed a moment ago (here): the stale entry, without asking again. */
		if (api_backing_off(s) && age_of(s, &f) < s->cfg.max_stale) {
			rc = serve_stale(s, &f, instances, age, err, "the API failed recently");
			goto out;
		}
	}
	stats_add(STATS_SHARED_MISSES, 1);
	deadline = mono() + s->cfg.lock_wait;
	for (;;) {
		rc = lock_take(s, &c, lockname, token, note, sizeof(note));
		if (rc < 0)
			goto fallback;
		if (rc == 1) {
			locked = true;
			break;
		}
		/* Another host is fetching: a stale entry within grace is served meanwhile, as the
		 * mount's own cache serves its own stale values. */
		if (f.instances && age_of(s, &f) < s->cfg.ttl + s->cfg.grace) {
			rc = serve_stale(s, &f, instances, age, err,
					 "another host is refreshing this answer");
			memset(err, 0, sizeof(*err));	/* not worth a last_error line */
			goto out;
		}
		if (!waited) {
			stats_add(STATS_SHARED_LOCK_WAITS, 1);
			waited = true;
		}
		while ((rc = lock_held(s, &c, lockname, note, sizeof(note))) == 1 &&
		       mono() < deadline)
			sleep_ms(SHARED_POLL_MS);
		if (rc < 0)
			goto fallback;
		if (rc == 1) {
			stats_add(STATS_SHARED_LOCK_TIMEOUTS, 1);
			break;	/* fetch without the lock */
		}
		cJSON_Delete(f.instances);
		f.instances = NULL;
		rc = entry_get(s, &c, name, &f, note, sizeof(note));
		if (rc == -EIO)
			goto fallback;
		if (rc == 0 && age_of(s, &f) < s->cfg.ttl) {
			stats_add(STATS_SHARED_HITS, 1);
			goto out_hit;
		}
		/* The fetch under the lock failed or stored nothing: take our own turn. */
	}
	rc = fetch_api(s, &c, name, params, nparams, &f, instances, age, err, note, sizeof(note));
	if (locked)
		lock_release(s, &c, lockname, token, note, sizeof(note));
	goto out;
out_hit:
	*instances = f.instances;
	f.instances = NULL;
	*age = age_of(s, &f);
	rc = 0;
	goto out;
fallback:
	stats_add(STATS_SHARED_FALLBACKS, 1);
	if (c) {
		conn_put(s, c);
		c = NULL;
	}
	rc = s->cfg.fetch(s->cfg.fetch_ctx, params, nparams, instances, err);
	if (rc == 0 && !err->message[0])
		snprintf(err->message, sizeof(err->message), "%.300s; answered from the API", note);
	note[0] = '\0';
out:
	conn_put(s, c);
	cJSON_Delete(f.instances);
	/* Something about Redis worth hearing of (a rejected entry, a failed store), when the
	 * answer itself carries no warning of its own. */
	if (rc == 0 && note[0] && !err->message[0])
		snprintf(err->message, sizeof(err->message), "%s", note);
	return rc;
}

int shared_new(const struct shared_config *cfg, struct shared **out, char *err, size_t errlen)
{
	struct shared *s;
	int rc;

	if (!cfg->fetch || !(cfg->timeout > 0) || !(cfg->lock_wait > 0) || cfg->ttl < 0 ||
	    (cfg->user && !cfg->password)) {
		snprintf(err, errlen, "shared cache: bad configuration%s",
			 cfg->user && !cfg->password ? " (a Redis user needs a password)" : "");
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	rc = shared_url_parse(cfg->url, &s->addr, err, errlen);
	if (rc)
		goto out_free;
	rc = -ENOMEM;
	s->cfg = *cfg;
	s->url = strdup(cfg->url);
	s->endpoint = strdup(cfg->endpoint ? cfg->endpoint : "");
	s->region = strdup(cfg->region ? cfg->region : "");
	s->identity = strdup(cfg->identity ? cfg->identity : "");
	if (!s->url || !s->endpoint || !s->region || !s->identity)
		goto out_free;
	if (cfg->user && !(s->user = secmem_strdup(cfg->user)))
		goto out_free;
	if (cfg->password && !(s->password = secmem_strdup(cfg->password)))
		goto out_free;
	*out = s;
	return 0;
out_free:
	shared_free(s);
	if (rc == -ENOMEM)
		snprintf(err, errlen, "shared cache: out of memory");
	return rc;
}

void shared_free(struct shared *s)
{
	if (!s)
		return;
	for (unsigned i = 0; i < s->nidle; i++)
		redisFree(s->idle[i]);
	pthread_mutex_destroy(&s->lock);
	shared_codec_keys_wipe(&s->cfg.keys);
	free(s->url);
	free(s->endpoint);
	free(s->region);
	free(s->identity);
	secmem_free(s->user);
	secmem_free(s->password);
	free(s);
}
