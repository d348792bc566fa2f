/* shared: the shared cache level in Redis between the mount's cache and the API, so any number
 * of hosts cost the API what one costs. Redis is an optimisation, never a dependency: every
 * failure falls back to the API. */
#ifndef DSWFS_SHARED_H
#define DSWFS_SHARED_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>

#include "err.h"
#include "shared_codec.h"
#include "sign.h"
#include "tree.h"

/* Where Redis is: "redis://HOST[:PORT][/DB]" (port 6379, db 0 by default) or
 * "unix:/PATH[?db=N]". */
struct shared_addr {
	char host[256];		/* TCP host, or "" for a Unix socket */
	int port;
	char path[108];		/* Unix socket path, or "" */
	int db;
};

/* Parses url into *a. Returns 0 or -EINVAL (a reason in err). Pure. */
int shared_url_parse(const char *url, struct shared_addr *a, char *err, size_t errlen);

struct shared_config {
	const char *url;
	/* AUTH (both may be NULL; a user needs a password). Copied; never logged. */
	const char *user, *password;
	struct shared_keys keys;	/* copied, wiped by shared_free */
	/* What every entry name mixes in besides the query (shared_codec_entry_name). identity
	 * is the access key id, or the role for role-based credentials. */
	const char *endpoint, *region, *identity;
	double ttl, grace, max_stale;	/* as the mount's cache uses them */
	double timeout;		/* seconds for a connect and for each command; > 0 */
	/* Seconds a host waits for another host's fetch before it fetches itself; also the
	 * lock's own expiry, so a host that died holding it delays others at most this long. */
	double lock_wait;
	/* The API: what a miss, a fallback or an expired entry asks. */
	tree_fetch_fn fetch;
	void *fetch_ctx;
	/* Wall clock, Unix seconds (the shared fetch times are wall-clock times, since hosts
	 * share no monotonic clock); NULL = CLOCK_REALTIME. */
	double (*wall)(void *ctx);
	void *wall_ctx;
};

struct shared;

/* Returns 0 and *out (free with shared_free), -EINVAL (bad url or config, reason in err),
 * -ENOMEM. Does not connect: the first fetch does, so a Redis that is down at mount time is
 * only a fallback. */
int shared_new(const struct shared_config *cfg, struct shared **out, char *err, size_t errlen);

/* A tree_fetch_aged_fn: the instances of one query (caller owns *instances) and their age in
 * seconds by the fetching host's clock, from Redis when a valid entry is there, else from the
 * API (one host per query at a time; the others wait for its entry). A fallback to the API
 * leaves a warning in err->message with 0 returned. Failures are the API's -errno. Thread-safe:
 * Redis connections come from a pool (see shared.c). */
int shared_fetch(void *ctx, const struct sign_kv *params, size_t nparams, cJSON **instances,
		 double *age, struct err_info *err);

void shared_free(struct shared *s);

struct opts;
struct creds_provider;

/* Reads a secret file (key or password): a regular file owned by this user or root with no
 * group or other permission bits (0600 or 0400), at most cap - 1 bytes, NUL-terminated into
 * buf. Returns 0, -EPERM (mode or owner; reason in err), -errno from open/read, -EFBIG. */
int shared_read_secret_file(const char *path, char *buf, size_t cap, char *err, size_t errlen);

/* The shared level for the mount's options (o->shared_cache set): the identity from the
 * credentials (creds_role, else the access key id), the keys from shared_cache_key or, for a
 * plain access key only, from its secret; the AUTH password from DSWFS_REDIS_PASSWORD or
 * shared_cache_password_file, the user from shared_cache_user or DSWFS_REDIS_USER. Returns 0
 * and *out, or -errno with a one-line reason in err (role-based credentials without a key
 * file, STS credentials that name no role, a bad key file...). */
int shared_setup(const struct opts *o, struct creds_provider *cp, const char *endpoint,
		 tree_fetch_fn fetch, void *fetch_ctx, struct shared **out, char *err,
		 size_t errlen);

#endif
