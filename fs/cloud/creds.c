/* creds: Alibaba Cloud credentials from the official chain, refreshed before STS expiry. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <openssl/crypto.h>

#include "buf.h"
#include "creds.h"
#include "err.h"
#include "http.h"
#include "isotime.h"
#include "log.h"
#include "secmem.h"
#include "sign.h"

#define NET_BODY_MAX (64 * 1024)	/* a credentials document is a few hundred bytes */
#define FILE_MAX (1024 * 1024)		/* config.json / credentials INI / OIDC token */
#define REFRESH_MARGIN 180		/* URI and ECS: refresh when this many seconds or fewer remain */
#define STS_STALE 900			/* STS sessions: 15 minutes, the official providers' stale time */
#define RETRY_INTERVAL 10		/* between refresh attempts while the old creds still work */
#define DEFAULT_ECS_ENDPOINT "http://100.100.100.200"
#define ECS_TIMEOUT_MS 1000		/* the metadata service is local: 1 s, as the official SDKs */
#define NET_CONNECT_MS 5000		/* URI and STS: the official 5 s connect ... */
#define NET_READ_MS 10000		/* ... and 10 s read timeouts */
#define ECS_TOKEN_TTL "21600"
#define STS_VERSION "2015-04-01"
#define STS_DEFAULT_HOST "sts.aliyuncs.com"
#define DURATION_DEFAULT 3600
#define DURATION_MIN 900
#define DURATION_MAX 43200
#define CHAIN_DEPTH_MAX 8		/* ChainableRamRoleArn source_profile hops */

enum source_kind { SRC_STATIC, SRC_URI, SRC_ECS, SRC_ROLE, SRC_OIDC };

struct creds_provider {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool refreshing;	/* one thread fetches; the others wait or use still-valid creds */
	time_t retry_at;	/* no refresh before this while the current creds are valid */
	struct creds cur;
	time_t issued;		/* when cur was fetched: an STS session's lifetime sets its margin */
	/* Fixed once creds_provider_new returns, so read without the lock. */
	enum source_kind kind;
	char *source;
	char *region;
	char *uri;		/* SRC_URI */
	char *ecs_base;		/* SRC_ECS: metadata base URL without a trailing '/' */
	char *role;		/* SRC_ECS */
	long timeout_ms;	/* explicit timeout for every network source, 0 = official ones */
	time_t (*now)(void);
	/* SRC_ROLE (AssumeRole) and SRC_OIDC (AssumeRoleWithOIDC) */
	char *sts_base, *sts_host;	/* scheme://authority and the signed Host value */
	bool sts_plain;			/* http:// (loopback only) */
	char *role_arn, *session_name, *policy, *external_id;
	long duration;			/* DurationSeconds */
	char *oidc_provider_arn, *oidc_token_file;
	struct creds_provider *inner;	/* SRC_ROLE: where the signing credentials come from */
};

/* What the chain learned on the way, for the final message when nothing matched. */
struct chain {
	const struct creds_options *o;
	const char *profile;		/* option or ALIBABA_CLOUD_PROFILE; NULL when neither */
	bool profile_seen;		/* a file source had the named profile */
	int first_rc;			/* the first broken source's error, 0 when none was */
	/* Sources skipped for a reason the user should hear about: one warning on success. */
	char hints[1024];
	/* Every source and why it gave nothing: the one-line error when none did. */
	char tried[1536];
};

static void note(char *buf, size_t size, const char *s)
{
	size_t n = strnlen(buf, size), k = strlen(s);

	/* Truncated to fit: a note is for a person, and the list must stay one line. */
	if (n + 3 >= size)
		return;
	if (n) {
		memcpy(buf + n, "; ", 2);
		n += 2;
	}
	if (k > size - n - 1)
		k = size - n - 1;
	memcpy(buf + n, s, k);
	buf[n + k] = '\0';
}

static void hint(struct chain *ch, const char *s)
{
	note(ch->hints, sizeof(ch->hints), s);
}

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* A set environment variable, or NULL when unset or empty. */
static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

static bool env_true(const char *name)
{
	const char *v = getenv(name);

	return v && strcasecmp(v, "true") == 0;
}

static void wipe_free(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

/* Secrets pass through cJSON's own strings; wipe them before cJSON_Delete frees them. */
static void json_wipe_delete(cJSON *j)
{
	cJSON *stack[64];
	int n = 0;

	if (!j)
		return;
	stack[n++] = j;
	while (n) {
		cJSON *it = stack[--n];

		for (; it; it = it->next) {
			if (it->valuestring)
				OPENSSL_cleanse(it->valuestring, strlen(it->valuestring));
			if (it->child) {
				if (n == (int)(sizeof(stack) / sizeof(stack[0]))) {
					/* Deeper than any credentials document; walk it recursively. */
					json_wipe_delete(it->child);
					it->child = NULL;
				} else {
					stack[n++] = it->child;
				}
			}
		}
	}
	cJSON_Delete(j);
}

void creds_clear(struct creds *c)
{
	if (!c)
		return;
	wipe_free(c->access_key_id);
	secmem_free(c->access_key_secret);
	secmem_free(c->security_token);
	c->access_key_id = NULL;
	c->access_key_secret = NULL;
	c->security_token = NULL;
	c->expiration = 0;
}

/* Fills c from the given strings (token may be NULL or ""). The secret and the token live in
 * secmem (out of core dumps): every long-lived copy, the provider's and each caller's, is made
 * here. Returns 0 or -ENOMEM. */
static int creds_set(struct creds *c, const char *id, const char *secret, const char *token,
		     time_t expiration)
{
	memset(c, 0, sizeof(*c));
	c->access_key_id = strdup(id);
	c->access_key_secret = secmem_strdup(secret);
	c->security_token = token && *token ? secmem_strdup(token) : NULL;
	c->expiration = expiration;
	if (!c->access_key_id || !c->access_key_secret || (token && *token && !c->security_token)) {
		creds_clear(c);
		return -ENOMEM;
	}
	return 0;
}

static time_t now_of(const struct creds_provider *p)
{
	return p->now ? p->now() : time(NULL);
}

/* ---- files */

/* Reads a whole file of at most FILE_MAX bytes (NUL-terminated, length in *lenp). Returns 0,
 * -ENOENT when it does not exist, -EFBIG, or another -errno. The contents may hold secrets:
 * they are in secmem; release with secmem_free (which wipes all of it, NULs from strsep
 * included). */
static int read_file(const char *path, char **out, size_t *lenp)
{
	struct stat st;
	size_t len = 0;
	char *data;
	int fd, rc = 0;

	*out = NULL;
	*lenp = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR ? -ENOENT : -errno;
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -EISDIR;
		goto out_close;
	}
	if (st.st_size > FILE_MAX) {
		rc = -EFBIG;
		goto out_close;
	}
	data = secmem_alloc((size_t)st.st_size + 1);
	if (!data) {
		rc = -ENOMEM;
		goto out_close;
	}
	for (;;) {
		ssize_t n = read(fd, data + len, (size_t)st.st_size - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			break;
		}
		if (n == 0 || (len += (size_t)n) == (size_t)st.st_size)
			break;
	}
	data[len] = '\0';
	if (rc) {
		secmem_free(data);
	} else {
		*out = data;
		*lenp = len;
	}
out_close:
	close(fd);
	return rc;
}

/* $HOME/<rel> into a malloc'd string, or NULL when HOME is unset or on ENOMEM. */
static char *home_path(const char *rel)
{
	const char *home = env("HOME");
	char *p;

	if (!home || asprintf(&p, "%s/%s", home, rel) < 0)
		return NULL;
	return p;
}

/* ---- the aliyun CLI config (config.json) */

static const char *jstr(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

/* Parses the CLI config at path and finds the profile (the named one, else "current", else
 * "default"). Returns 0 with *root (json_wipe_delete it) and *prof, -ENOENT when the file
 * does not exist, -ESRCH when the profile is not in it, -EINVAL for an unusable file. */
static int cli_load(const char *path, const char *name, cJSON **root, const cJSON **prof,
		    const char **used_name, char *err, size_t errlen)
{
	const cJSON *profiles, *it;
	char *text;
	size_t len;
	int rc = read_file(path, &text, &len);

	*root = NULL;
	*prof = NULL;
	if (rc == -ENOENT)
		return rc;
	if (rc) {
		seterr(err, errlen, "aliyun CLI config %s: %s", path,
		       rc == -EFBIG ? "larger than 1 MiB" : strerror(-rc));
		return -EINVAL;
	}
	*root = cJSON_Parse(text);
	secmem_free(text);
	if (!cJSON_IsObject(*root)) {
		seterr(err, errlen, "aliyun CLI config %s: not a valid JSON object", path);
		rc = -EINVAL;
		goto out_fail;
	}
	profiles = cJSON_GetObjectItemCaseSensitive(*root, "profiles");
	if (profiles && !cJSON_IsArray(profiles)) {
		seterr(err, errlen, "aliyun CLI config %s: \"profiles\" is not an array", path);
		rc = -EINVAL;
		goto out_fail;
	}
	if (!name)
		name = jstr(*root, "current");
	if (!name)
		name = "default";
	*used_name = name;
	cJSON_ArrayForEach(it, profiles) {
		const char *n = jstr(it, "name");

		if (cJSON_IsObject(it) && n && strcmp(n, name) == 0) {
			*prof = it;
			return 0;
		}
	}
	return -ESRCH;
out_fail:
	json_wipe_delete(*root);
	*root = NULL;
	return rc;
}

static char *cli_config_path(void)
{
	const char *e = env("ALIBABA_CLOUD_CONFIG_FILE");

	return e ? strdup(e) : home_path(".aliyun/config.json");
}

/* The profile name the CLI config source uses: the option, else ALIBABA_CLOUD_PROFILE. */
static const char *named_profile(const struct creds_options *o)
{
	if (o && o->profile && *o->profile)
		return o->profile;
	return env("ALIBABA_CLOUD_PROFILE");
}

static int set_source(struct creds_provider *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int set_source(struct creds_provider *p, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	/* Formatted before the old name is freed: the old name may be an argument. */
	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	free(p->source);
	p->source = s;
	return 0;
}

static bool ecs_allowed(const struct creds_options *o)
{
	return o->ecs_role && !env_true("ALIBABA_CLOUD_ECS_METADATA_DISABLED");
}

static char *trim(char *s)
{
	size_t n;

	while (isspace((unsigned char)*s))
		s++;
	n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* Strips a comment that whitespace introduces, then matching quotes. */
static char *ini_value(char *v)
{
	size_t n;

	for (char *c = v; *c; c++) {
		if ((*c == ';' || *c == '#') && c > v && isspace((unsigned char)c[-1])) {
			*c = '\0';
			break;
		}
	}
	v = trim(v);
	n = strlen(v);
	if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
		v[n - 1] = '\0';
		v++;
	}
	return v;
}

/* ---- providers */

/* A provider with nothing configured yet (kind SRC_STATIC, no credentials). NULL on ENOMEM. */
static struct creds_provider *provider_alloc(const struct creds_options *o)
{
	struct creds_provider *p = calloc(1, sizeof(*p));
	const char *base = o->ecs_endpoint && *o->ecs_endpoint ? o->ecs_endpoint :
			   DEFAULT_ECS_ENDPOINT;

	if (!p)
		return NULL;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	p->now = o->now;
	p->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 0;
	p->ecs_base = strndup(base, strlen(base) - (base[strlen(base) - 1] == '/'));
	if (!p->ecs_base) {
		creds_provider_free(p);
		return NULL;
	}
	return p;
}

/* The timeouts of one network request: the explicit option for everything, else the official
 * ones (1 s for the metadata service; 5 s connect and 10 s read for the URI and STS). */
static void set_timeouts(const struct creds_provider *p, bool ecs, struct http_setup *s)
{
	if (p->timeout_ms) {
		s->connect_timeout_ms = s->timeout_ms = p->timeout_ms;
	} else if (ecs) {
		s->connect_timeout_ms = s->timeout_ms = ECS_TIMEOUT_MS;
	} else {
		s->connect_timeout_ms = NET_CONNECT_MS;
		s->read_timeout_ms = NET_READ_MS;
		s->timeout_ms = NET_CONNECT_MS + NET_READ_MS;
	}
}

static int dup_opt(char **dst, const char *src)
{
	if (!src || !*src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : -ENOMEM;
}

char *creds_sts_endpoint(const char *option, const char *prof_endpoint, const char *prof_region,
			 bool prof_vpc)
{
	const char *region = prof_region && *prof_region ? prof_region :
			     env("ALIBABA_CLOUD_STS_REGION");
	const char *given = option && *option ? option : prof_endpoint && *prof_endpoint ?
			    prof_endpoint : NULL;
	bool vpc = prof_vpc || env_true("ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED");
	char *ep;
	int n;

	if (given)
		n = asprintf(&ep, "%s%s", strstr(given, "://") ? "" : "https://", given);
	else if (region)
		n = asprintf(&ep, "https://sts%s.%s.aliyuncs.com", vpc ? "-vpc" : "", region);
	else
		n = asprintf(&ep, "https://" STS_DEFAULT_HOST);
	return n < 0 ? NULL : ep;
}

static int sts_endpoint_init(struct creds_provider *p, const struct chain *ch,
			     const char *prof_endpoint, const char *prof_region, bool prof_vpc,
			     char *why, size_t whylen)
{
	char *ep = creds_sts_endpoint(ch->o->sts_endpoint, prof_endpoint, prof_region, prof_vpc);
	int rc;

	if (!ep)
		return -ENOMEM;
	rc = http_parse_endpoint(ep, &p->sts_base, &p->sts_host, &p->sts_plain, why, whylen);
	if (rc == -EINVAL) {
		char tmp[400];

		snprintf(tmp, sizeof(tmp), "STS %s", why);
		seterr(why, whylen, "%s", tmp);
	}
	free(ep);
	return rc;
}

/* DurationSeconds from a profile: a JSON number or numeric string; 0 when absent. */
static long json_seconds(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (cJSON_IsNumber(v))
		return v->valuedouble >= 0 && v->valuedouble < 1e9 ? (long)v->valuedouble : -1;
	if (cJSON_IsString(v) && v->valuestring[0]) {
		char *end;
		long x = strtol(v->valuestring, &end, 10);

		return *end || x < 0 ? -1 : x;
	}
	return 0;
}

/* The role half of an STS source. session may be NULL (ALIBABA_CLOUD_ROLE_SESSION_NAME, else
 * "dswfs-<time>"), duration 0 (3600). Returns 0, -EINVAL (reason in why) or -ENOMEM. */
static int role_init(struct creds_provider *p, const char *what, const char *role_arn,
		     const char *session, long duration, const char *policy,
		     const char *external_id, char *why, size_t whylen)
{
	char defname[32];

	if (!role_arn) {
		seterr(why, whylen, "%s has no role ARN", what);
		return -EINVAL;
	}
	if (duration == 0)
		duration = DURATION_DEFAULT;
	if (duration < DURATION_MIN || duration > DURATION_MAX) {
		seterr(why, whylen, "%s: session duration %ld s is outside %d..%d", what, duration,
		       DURATION_MIN, DURATION_MAX);
		return -EINVAL;
	}
	if (!session)
		session = env("ALIBABA_CLOUD_ROLE_SESSION_NAME");
	if (!session) {
		snprintf(defname, sizeof(defname), "dswfs-%lld", (long long)now_of(p));
		session = defname;
	}
	p->duration = duration;
	if (dup_opt(&p->role_arn, role_arn) || dup_opt(&p->session_name, session) ||
	    dup_opt(&p->policy, policy) || dup_opt(&p->external_id, external_id))
		return -ENOMEM;
	return 0;
}

/* A chain step's ending: *out gets p when rc is 0, else p is freed. Returns rc. */
static int hand_over(struct creds_provider *p, int rc, struct creds_provider **out)
{
	if (rc)
		creds_provider_free(p);
	else
		*out = p;
	return rc;
}

static int fetch(struct creds_provider *p, struct creds *c, char *err, size_t errlen);

/* Fetches a network source's first credentials, so a broken one is skipped at mount time with
 * its reason rather than failing the first request. */
static int prime(struct creds_provider *p, char *why, size_t whylen)
{
	int rc;

	if (p->kind == SRC_STATIC)
		return 0;
	rc = fetch(p, &p->cur, why, whylen);
	if (!rc)
		p->issued = now_of(p);
	return rc;
}

/* The profile called name in the CLI config, or NULL. */
static const cJSON *cli_find(const cJSON *root, const char *name)
{
	const cJSON *it, *profiles = cJSON_GetObjectItemCaseSensitive(root, "profiles");

	cJSON_ArrayForEach(it, profiles) {
		const char *n = jstr(it, "name");

		if (cJSON_IsObject(it) && n && strcmp(n, name) == 0)
			return it;
	}
	return NULL;
}

static bool json_true(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsTrue(v) || (cJSON_IsString(v) && !strcasecmp(v->valuestring, "true"));
}

/* Configures p from one CLI profile and fetches a network source's first credentials.
 * Mode names are matched case-insensitively, as aliyun-cli (the file's owner) reads them.
 * Returns 0, -ENOENT for an empty template profile, or -errno with the reason in why. */
static int cli_configure(struct chain *ch, const char *path, const cJSON *root,
			 const cJSON *prof, const char *name, struct creds_provider *p, int depth,
			 char *why, size_t whylen)
{
	const char *mode = jstr(prof, "mode"), *id = jstr(prof, "access_key_id");
	const char *secret = jstr(prof, "access_key_secret"), *token = jstr(prof, "sts_token");
	const char *region = jstr(prof, "region_id");
	char what[300];
	int rc;

	if (!mode)
		mode = "AK";	/* the CLI's own default mode */
	snprintf(what, sizeof(what), "aliyun CLI config %s: profile %s (mode %s)", path, name, mode);
	if (!strcasecmp(mode, "AK") || !strcasecmp(mode, "StsToken")) {
		bool sts = !strcasecmp(mode, "StsToken");

		if (!id && !secret && !token && !sts) {
			/* `aliyun configure` leaves an empty AK profile behind: not configured. */
			log_msg(LOG_DEBUG, "aliyun CLI config %s: profile %s has no keys; skipped",
				path, name);
			return -ENOENT;
		}
		if (!id || !secret || (sts && !token)) {
			seterr(why, whylen, "%s has no %s", what, !id ? "access_key_id" : !secret ?
			       "access_key_secret" : "sts_token");
			return -EINVAL;
		}
		p->kind = SRC_STATIC;
		rc = creds_set(&p->cur, id, secret, sts ? token : NULL, 0);
		rc = rc ? rc : set_source(p, "cli-profile:%s", name);
	} else if (!strcasecmp(mode, "RamRoleArn") || !strcasecmp(mode, "ChainableRamRoleArn")) {
		bool chained = !strcasecmp(mode, "ChainableRamRoleArn");
		long dur = json_seconds(prof, "expired_seconds");

		p->kind = SRC_ROLE;
		p->inner = provider_alloc(ch->o);
		if (!p->inner)
			return -ENOMEM;
		if (chained) {
			const char *src = jstr(prof, "source_profile");
			const cJSON *sp = src ? cli_find(root, src) : NULL;

			if (!sp) {
				seterr(why, whylen, "%s: source_profile %s", what,
				       src ? "is not in \"profiles\"" : "is missing");
				return -EINVAL;
			}
			if (depth >= CHAIN_DEPTH_MAX) {
				seterr(why, whylen, "%s: source_profile chain longer than %d (a loop?)",
				       what, CHAIN_DEPTH_MAX);
				return -EINVAL;
			}
			rc = cli_configure(ch, path, root, sp, src, p->inner, depth + 1, why, whylen);
			if (rc == -ENOENT) {
				seterr(why, whylen, "%s: source profile %s has no keys", what, src);
				rc = -EINVAL;
			}
			if (rc)
				return rc;
		} else {
			if (!id || !secret) {
				seterr(why, whylen, "%s has no %s", what,
				       !id ? "access_key_id" : "access_key_secret");
				return -EINVAL;
			}
			rc = creds_set(&p->inner->cur, id, secret, NULL, 0);
			rc = rc ? rc : set_source(p->inner, "cli-profile:%s", name);
			if (rc)
				return rc;
		}
		rc = role_init(p, what, jstr(prof, "ram_role_arn"), jstr(prof, "ram_session_name"),
			       dur < 0 ? -1 : dur, jstr(prof, "policy"), jstr(prof, "external_id"),
			       why, whylen);
		rc = rc ? rc : sts_endpoint_init(p, ch, jstr(prof, "sts_endpoint"),
						 jstr(prof, "sts_region"),
						 json_true(prof, "enable_vpc"), why, whylen);
		if (rc)
			return rc;
		rc = chained ? set_source(p, "cli-profile:%s/chainable-ram-role-arn(%s)", name,
					  p->inner->source)
			     : set_source(p, "cli-profile:%s/ram-role-arn", name);
	} else if (!strcasecmp(mode, "OIDC")) {
		long dur = json_seconds(prof, "duration_seconds");

		if (!dur)
			dur = json_seconds(prof, "expired_seconds");
		p->kind = SRC_OIDC;
		if (!jstr(prof, "oidc_provider_arn") || !jstr(prof, "oidc_token_file")) {
			seterr(why, whylen, "%s has no %s", what, !jstr(prof, "oidc_provider_arn") ?
			       "oidc_provider_arn" : "oidc_token_file");
			return -EINVAL;
		}
		rc = role_init(p, what, jstr(prof, "ram_role_arn"), jstr(prof, "ram_session_name"),
			       dur < 0 ? -1 : dur, jstr(prof, "policy"), NULL, why, whylen);
		rc = rc ? rc : dup_opt(&p->oidc_provider_arn, jstr(prof, "oidc_provider_arn"));
		rc = rc ? rc : dup_opt(&p->oidc_token_file, jstr(prof, "oidc_token_file"));
		rc = rc ? rc : sts_endpoint_init(p, ch, jstr(prof, "sts_endpoint"),
						 jstr(prof, "sts_region"),
						 json_true(prof, "enable_vpc"), why, whylen);
		rc = rc ? rc : set_source(p, "cli-profile:%s/oidc", name);
	} else if (!strcasecmp(mode, "EcsRamRole")) {
		const char *role = jstr(prof, "ram_role_name");

		if (!role)
			role = env("ALIBABA_CLOUD_ECS_METADATA");
		if (!ecs_allowed(ch->o)) {
			seterr(why, whylen, "profile %s uses mode EcsRamRole, which needs the ECS RAM "
			       "role source: add -o ecs_role%s", name,
			       env_true("ALIBABA_CLOUD_ECS_METADATA_DISABLED")
			       ? " and unset ALIBABA_CLOUD_ECS_METADATA_DISABLED" : "");
			return -EINVAL;
		}
		p->kind = SRC_ECS;
		rc = dup_opt(&p->role, role);
		/* Named once the role is known (it may be discovered). */
		rc = rc ? rc : set_source(p, "cli-profile:%s", name);
	} else if (!strcasecmp(mode, "CredentialsURI")) {
		const char *uri = jstr(prof, "credentials_uri");

		if (!uri) {
			seterr(why, whylen, "%s has no credentials_uri", what);
			return -EINVAL;
		}
		p->kind = SRC_URI;
		rc = dup_opt(&p->uri, uri);
		rc = rc ? rc : set_source(p, "cli-profile:%s/credentials-uri", name);
	} else {
		seterr(why, whylen, "profile %s uses mode %s, which dswfs does not support", name,
		       mode);
		return -EINVAL;
	}
	if (!rc && region && !p->region && !(p->region = strdup(region)))
		rc = -ENOMEM;
	rc = rc ? rc : prime(p, why, whylen);
	if (!rc && p->kind == SRC_ECS)
		rc = set_source(p, "%s/ecs-ram-role:%s", p->source, p->role);
	return rc;
}

/* Step 3: the aliyun CLI config. 0 with *out, -ENOENT (note in why) or -errno (reason). */
static int from_cli(struct chain *ch, struct creds_provider **out, char *why, size_t whylen)
{
	const cJSON *prof;
	const char *name = NULL;
	struct creds_provider *p = NULL;
	cJSON *root = NULL;
	char *path;
	int rc;

	if (env_true("ALIBABA_CLOUD_CLI_PROFILE_DISABLED")) {
		seterr(why, whylen, "ALIBABA_CLOUD_CLI_PROFILE_DISABLED=true");
		return -ENOENT;
	}
	path = cli_config_path();
	if (!path) {
		seterr(why, whylen, "HOME is not set");
		return -ENOENT;
	}
	rc = cli_load(path, ch->profile, &root, &prof, &name, why, whylen);
	if (rc == -ENOENT && env("ALIBABA_CLOUD_CONFIG_FILE")) {
		seterr(why, whylen, "ALIBABA_CLOUD_CONFIG_FILE names %s, which does not exist", path);
		rc = -EINVAL;
		goto out;
	}
	if (rc == -ENOENT) {
		seterr(why, whylen, "no %s", path);
		goto out;
	}
	if (rc == -ESRCH) {
		if (!ch->profile && jstr(root, "current")) {
			seterr(why, whylen, "aliyun CLI config %s: the current profile \"%s\" is not "
			       "in \"profiles\"", path, name);
			rc = -EINVAL;
			goto out;
		}
		seterr(why, whylen, "no profile %s in %s", name, path);
		rc = -ENOENT;
		goto out;
	}
	if (rc)
		goto out;
	ch->profile_seen = true;
	p = provider_alloc(ch->o);
	if (!p) {
		rc = -ENOMEM;
		goto out;
	}
	rc = cli_configure(ch, path, root, prof, name, p, 0, why, whylen);
	if (rc == -ENOENT) {
		ch->profile_seen = false;
		seterr(why, whylen, "profile %s in %s has no keys", name, path);
	}
out:
	hand_over(p, rc, out);
	json_wipe_delete(root);
	free(path);
	return rc;
}

struct ini_section {
	bool found, disabled;
	/* point into the file's text */
	char *type, *id, *secret, *role_arn, *session, *policy, *external_id, *role_name;
};

/* Finds section name in text (modified in place). Returns 0 or -EINVAL (line in *bad_line). */
static int ini_parse(char *text, const char *name, struct ini_section *s, int *bad_line)
{
	static const struct {
		const char *key;
		size_t off;
	} keys[] = {
		{ "type", offsetof(struct ini_section, type) },
		{ "access_key_id", offsetof(struct ini_section, id) },
		{ "access_key_secret", offsetof(struct ini_section, secret) },
		{ "role_arn", offsetof(struct ini_section, role_arn) },
		{ "role_session_name", offsetof(struct ini_section, session) },
		{ "policy", offsetof(struct ini_section, policy) },
		{ "external_id", offsetof(struct ini_section, external_id) },
		{ "role_name", offsetof(struct ini_section, role_name) },
	};
	bool in = false;
	int lineno = 0;
	char *save = text, *line;

	memset(s, 0, sizeof(*s));
	while ((line = strsep(&save, "\n")) != NULL) {
		char *eq, *k;

		lineno++;
		line = trim(line);
		if (!*line || *line == ';' || *line == '#')
			continue;
		if (*line == '[') {
			char *end = strchr(line, ']');

			if (!end) {
				*bad_line = lineno;
				return -EINVAL;
			}
			*end = '\0';
			in = strcmp(trim(line + 1), name) == 0;
			s->found |= in;
			continue;
		}
		eq = strchr(line, '=');
		if (!eq) {
			*bad_line = lineno;
			return -EINVAL;
		}
		if (!in)
			continue;
		*eq = '\0';
		k = trim(line);
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (strcmp(k, keys[i].key) == 0)
				*(char **)((char *)s + keys[i].off) = ini_value(eq + 1);
		if (strcmp(k, "enable") == 0)
			s->disabled = strcasecmp(ini_value(eq + 1), "false") == 0;
	}
	return 0;
}

static const char *nz(const char *s)
{
	return s && *s ? s : NULL;
}

/* Step 4: the credentials INI file. Same returns as from_cli. */
static int from_ini(struct chain *ch, struct creds_provider **out, char *why, size_t whylen)
{
	const char *e = env("ALIBABA_CLOUD_CREDENTIALS_FILE");
	const char *name = ch->profile ? ch->profile : "default";
	struct creds_provider *p = NULL;
	struct ini_section s;
	char *path = e ? strdup(e) : home_path(".alibabacloud/credentials"), *text = NULL;
	char what[300];
	size_t len = 0;
	int rc, bad_line = 0;

	if (!path) {
		seterr(why, whylen, "HOME is not set");
		return -ENOENT;
	}
	rc = read_file(path, &text, &len);
	if (rc == -ENOENT) {
		if (e) {
			seterr(why, whylen, "ALIBABA_CLOUD_CREDENTIALS_FILE names %s, which does not "
			       "exist", path);
			rc = -EINVAL;
		} else {
			seterr(why, whylen, "no %s", path);
		}
		goto out;
	}
	if (rc) {
		seterr(why, whylen, "credentials file %s: %s", path,
		       rc == -EFBIG ? "larger than 1 MiB" : strerror(-rc));
		rc = -EINVAL;
		goto out;
	}
	if (ini_parse(text, name, &s, &bad_line) != 0) {
		seterr(why, whylen, "credentials file %s: line %d is neither [section] nor "
		       "key = value", path, bad_line);
		rc = -EINVAL;
		goto out;
	}
	if (!s.found || s.disabled) {
		seterr(why, whylen, "no section [%s] in %s", name, path);
		rc = -ENOENT;
		goto out;
	}
	ch->profile_seen = true;
	snprintf(what, sizeof(what), "credentials file %s: section [%s]", path, name);
	p = provider_alloc(ch->o);
	if (!p) {
		rc = -ENOMEM;
		goto out;
	}
	if (!s.type || !*s.type) {
		seterr(why, whylen, "%s has no type", what);
		rc = -EINVAL;
	} else if (strcmp(s.type, "access_key") != 0 && strcmp(s.type, "ram_role_arn") != 0 &&
		   strcmp(s.type, "ecs_ram_role") != 0) {
		seterr(why, whylen, "%s has type %s, which dswfs does not support (only access_key, "
		       "ram_role_arn and ecs_ram_role)", what, s.type);
		rc = -EINVAL;
	} else if (strcmp(s.type, "ecs_ram_role") == 0) {
		if (!ecs_allowed(ch->o)) {
			seterr(why, whylen, "%s has type ecs_ram_role, which needs the ECS RAM role "
			       "source: add -o ecs_role%s", what,
			       env_true("ALIBABA_CLOUD_ECS_METADATA_DISABLED")
			       ? " and unset ALIBABA_CLOUD_ECS_METADATA_DISABLED" : "");
			rc = -EINVAL;
		} else {
			p->kind = SRC_ECS;
			rc = dup_opt(&p->role, nz(s.role_name) ? s.role_name :
				     env("ALIBABA_CLOUD_ECS_METADATA"));
			rc = rc ? rc : prime(p, why, whylen);
			rc = rc ? rc : set_source(p, "ini:%s/ecs-ram-role:%s", name, p->role);
		}
	} else if (!nz(s.id) || !nz(s.secret)) {
		seterr(why, whylen, "%s has no %s", what,
		       !nz(s.id) ? "access_key_id" : "access_key_secret");
		rc = -EINVAL;
	} else if (strcmp(s.type, "access_key") == 0) {
		rc = creds_set(&p->cur, s.id, s.secret, NULL, 0);
		rc = rc ? rc : set_source(p, "ini:%s", name);
	} else {
		p->kind = SRC_ROLE;
		p->inner = provider_alloc(ch->o);
		rc = p->inner ? creds_set(&p->inner->cur, s.id, s.secret, NULL, 0) : -ENOMEM;
		rc = rc ? rc : set_source(p->inner, "ini:%s", name);
		rc = rc ? rc : role_init(p, what, nz(s.role_arn), nz(s.session), 0, nz(s.policy),
					 nz(s.external_id), why, whylen);
		rc = rc ? rc : sts_endpoint_init(p, ch, NULL, NULL, false, why, whylen);
		rc = rc ? rc : set_source(p, "ini:%s/ram-role-arn", name);
		rc = rc ? rc : prime(p, why, whylen);
	}
out:
	hand_over(p, rc, out);
	secmem_free(text);	/* all of it: strsep left NULs inside */
	free(path);
	return rc;
}

/* ---- network sources */

enum net_kind { NET_ECS, NET_URI, NET_STS };

/* One request of a credential source. The metadata service and the URI are never reached
 * through a proxy (link-local, or a local helper); an https STS endpoint goes the way the API
 * client's requests go. hdrs is borrowed. Returns as http_fetch. */
static int net_request(const struct creds_provider *p, enum net_kind kind, const char *method,
		       const char *url, struct curl_slist *hdrs, const char *body,
		       size_t body_len, struct http_body *hb, long *status, char *why,
		       size_t whylen)
{
	struct http_setup s = { .url = url, .method = method, .body = body, .body_len = body_len,
				.headers = hdrs, .no_proxy = kind != NET_STS };

	set_timeouts(p, kind == NET_ECS, &s);
	s.plain_http = strncasecmp(url, "https://", 8) != 0;
	return http_fetch(&s, hb, status, why, whylen);
}

/* Appends "name: value" to *l. Returns 0 or -ENOMEM (*l is then freed by the caller). */
static int hdr_add(struct curl_slist **l, const char *name, const char *value)
{
	struct curl_slist *t;
	char *line;

	if (asprintf(&line, "%s: %s", name, value) < 0)
		return -ENOMEM;
	t = curl_slist_append(*l, line);
	OPENSSL_cleanse(line, strlen(line));
	free(line);
	if (!t)
		return -ENOMEM;
	*l = t;
	return 0;
}

/* Frees a header list that may hold a token or a signature, wiping it first. */
static void hdr_free(struct curl_slist *l)
{
	for (struct curl_slist *t = l; t; t = t->next)
		OPENSSL_cleanse(t->data, strlen(t->data));
	curl_slist_free_all(l);
}

static int status_errno(long status)
{
	return status == 401 || status == 403 ? -EACCES : -EIO;
}

int creds_parse_sts(const char *body, size_t len, struct creds *c, const char *what, char *err,
		    size_t errlen)
{
	static const char *const fields[] = { "AccessKeyId", "AccessKeySecret", "SecurityToken",
					      "Expiration" };
	cJSON *j = cJSON_ParseWithLength(body ? body : "", body ? len : 0);
	const cJSON *doc = j, *inner;
	const char *v[4], *code;
	time_t exp;
	int rc = 0;

	memset(c, 0, sizeof(*c));
	if (!cJSON_IsObject(j)) {
		seterr(err, errlen, "%s: the response is not a JSON object", what);
		rc = -EIO;
		goto out;
	}
	code = jstr(j, "Code");
	if (code && strcmp(code, "Success") != 0) {
		seterr(err, errlen, "%s: the response has Code %.64s", what, code);
		rc = -EIO;
		goto out;
	}
	/* STS (AssumeRole*) nests the document in "Credentials"; the URI and metadata service
	 * answer with it at the top. */
	inner = cJSON_GetObjectItemCaseSensitive(j, "Credentials");
	if (inner) {
		if (!cJSON_IsObject(inner)) {
			seterr(err, errlen, "%s: Credentials is not an object", what);
			rc = -EIO;
			goto out;
		}
		doc = inner;
	}
	for (int i = 0; i < 4; i++) {
		v[i] = jstr(doc, fields[i]);
		if (!v[i]) {
			seterr(err, errlen, "%s: the response has no %s", what, fields[i]);
			rc = -EIO;
			goto out;
		}
	}
	/* STS and metadata servers may add a fraction or write an offset; a time before 1970
	 * would be a broken server, not an expired credential. */
	if (isotime_parse(v[3], ISOTIME_ZONE, &exp) != 0 || exp < 0) {
		seterr(err, errlen, "%s: Expiration is not an ISO 8601 UTC time", what);
		rc = -EIO;
		goto out;
	}
	rc = creds_set(c, v[0], v[1], v[2], exp);
out:
	json_wipe_delete(j);
	return rc;
}

static int fetch_uri(const struct creds_provider *p, struct creds *c, char *err, size_t errlen)
{
	struct http_body hb;
	char what[300], why[128] = "";
	long status;
	int rc;

	snprintf(what, sizeof(what), "credentials URI ");
	http_redact_url(p->uri, what + strlen(what), sizeof(what) - strlen(what));
	rc = http_body_init(&hb, NET_BODY_MAX, true);
	rc = rc ? rc : net_request(p, NET_URI, "GET", p->uri, NULL, NULL, 0, &hb, &status, why,
				   sizeof(why));
	if (rc) {
		seterr(err, errlen, "%s: %s", what, rc == -ENOMEM ? "out of memory" : why);
	} else if (status != 200) {
		seterr(err, errlen, "%s: HTTP %ld", what, status);
		rc = status_errno(status);
	} else {
		rc = creds_parse_sts(hb.b.data, hb.b.len, c, what, err, errlen);
	}
	http_body_free(&hb);
	return rc;
}

static int ecs_get(const struct creds_provider *p, const char *method, const char *path,
		   const char *h1, const char *h2, char **out, long *status, char *why,
		   size_t whylen)
{
	struct curl_slist *hdrs = NULL, *t;
	struct http_body hb;
	char *url;
	int rc;

	if (out)
		*out = NULL;
	if (asprintf(&url, "%s%s", p->ecs_base, path) < 0)
		return -ENOMEM;
	rc = http_body_init(&hb, NET_BODY_MAX, true);
	if (!rc && h1 && (t = curl_slist_append(hdrs, h1)) != NULL)
		hdrs = t;
	else if (!rc && h1)
		rc = -ENOMEM;
	if (!rc && h2 && (t = curl_slist_append(hdrs, h2)) != NULL)
		hdrs = t;
	else if (!rc && h2)
		rc = -ENOMEM;
	rc = rc ? rc : net_request(p, NET_ECS, method, url, hdrs, NULL, 0, &hb, status, why,
				   whylen);
	hdr_free(hdrs);
	if (!rc && out && !(*out = strdup(hb.b.data ? hb.b.data : "")))
		rc = -ENOMEM;
	http_body_free(&hb);
	free(url);
	return rc;
}

#define ROLE_LIST_PATH "/latest/meta-data/ram/security-credentials/"

/* Fetches the ECS RAM role credentials; discovers the role into *role when it is NULL. */
static int fetch_ecs(const struct creds_provider *p, char **role, struct creds *c, char *err,
		     size_t errlen)
{
	char what[300], why[128] = "", *token = NULL, *token_hdr = NULL, *body = NULL, *enc,
	     *path = NULL;
	long status;
	int rc;

	snprintf(what, sizeof(what), "ECS metadata service ");
	http_redact_url(p->ecs_base, what + strlen(what), sizeof(what) - strlen(what));

	/* IMDSv2: a session token first. An old metadata service without it answers with an
	 * HTTP error, which falls back to plain requests unless IMDSv1 is disabled. */
	rc = ecs_get(p, "PUT", "/latest/api/token",
		     "X-aliyun-ecs-metadata-token-ttl-seconds: " ECS_TOKEN_TTL, NULL, &token, &status,
		     why, sizeof(why));
	if (rc)
		goto out_net;
	if (status == 200 && *trim(token)) {
		if (asprintf(&token_hdr, "x-aliyun-ecs-metadata-token: %s", trim(token)) < 0) {
			token_hdr = NULL;
			rc = -ENOMEM;
			goto out;
		}
	} else if (env_true("ALIBABA_CLOUD_IMDSV1_DISABLED")) {
		seterr(err, errlen, "%s: no IMDSv2 token (HTTP %ld) and "
		       "ALIBABA_CLOUD_IMDSV1_DISABLED=true", what, status);
		rc = status_errno(status);
		goto out;
	} else {
		log_msg(LOG_DEBUG, "%s: no IMDSv2 token (HTTP %ld); using IMDSv1", what, status);
	}

	if (!*role) {
		rc = ecs_get(p, "GET", ROLE_LIST_PATH, token_hdr, NULL, &body, &status, why,
			     sizeof(why));
		if (rc)
			goto out_net;
		if (status != 200) {
			seterr(err, errlen, "%s: listing RAM roles gave HTTP %ld%s", what, status,
			       status == 404 ? " (no RAM role attached to this instance?)" : "");
			rc = status_errno(status);
			goto out;
		}
		body[strcspn(body, "\r\n")] = '\0';
		if (!*trim(body)) {
			seterr(err, errlen, "%s: no RAM role is attached to this instance", what);
			rc = -EIO;
			goto out;
		}
		if (!(*role = strdup(trim(body)))) {
			rc = -ENOMEM;
			goto out;
		}
		free(body);
		body = NULL;
	}
	enc = sign_encode(*role);
	if (!enc || asprintf(&path, ROLE_LIST_PATH "%s", enc) < 0) {
		free(enc);
		path = NULL;
		rc = -ENOMEM;
		goto out;
	}
	free(enc);
	rc = ecs_get(p, "GET", path, token_hdr, NULL, &body, &status, why, sizeof(why));
	if (rc)
		goto out_net;
	if (status != 200) {
		seterr(err, errlen, "%s: credentials for RAM role %s gave HTTP %ld", what, *role,
		       status);
		rc = status_errno(status);
		goto out;
	}
	{
		char w2[400];

		snprintf(w2, sizeof(w2), "%s (RAM role %s)", what, *role);
		rc = creds_parse_sts(body, strlen(body), c, w2, err, errlen);
	}
	goto out;
out_net:
	seterr(err, errlen, "%s: %s", what, rc == -ENOMEM ? "out of memory" : why);
out:
	wipe_free(body);
	wipe_free(token);
	wipe_free(token_hdr);
	free(path);
	return rc;
}

/* ---- STS */

/* Calls the STS action with the form parameters (sent as an x-www-form-urlencoded body, never
 * in the URL: they hold tokens and policies), signed with signer like any Alibaba Cloud API
 * (ACS3-HMAC-SHA256, which STS accepts besides the RPC signature), or anonymous when signer is
 * NULL (AssumeRoleWithOIDC: the OIDC token is the proof). Returns 0 with c, or -errno (err_map
 * of the STS answer, or the transport's) with the reason in err. */
static int sts_call(const struct creds_provider *p, const char *action,
		    const struct sign_kv *form, size_t nform, const struct creds *signer,
		    struct creds *c, char *err, size_t errlen)
{
	char date[21], nonce[33], hash[65], what[400], why[160] = "", *body, *auth = NULL;
	char *url = NULL;
	struct sign_kv hdrs[10];
	struct curl_slist *sl = NULL;
	struct http_body hb = { .secret = false };
	size_t nh = 0;
	long status = 0;
	int rc;

	snprintf(what, sizeof(what), "STS %s at %s", action, p->sts_base);
	body = sign_query_string(form, nform);
	if (!body)
		return -ENOMEM;
	rc = http_nonce(nonce);
	if (rc) {
		seterr(err, errlen, "%s: no randomness for the signature nonce", what);
		goto out;
	}
	sign_sha256_hex(body, strlen(body), hash);
	sign_format_date((long long)time(NULL), date);	/* STS checks it against the real clock */
	hdrs[nh++] = (struct sign_kv){ "host", p->sts_host };
	hdrs[nh++] = (struct sign_kv){ "content-type", "application/x-www-form-urlencoded" };
	hdrs[nh++] = (struct sign_kv){ "x-acs-action", action };
	hdrs[nh++] = (struct sign_kv){ "x-acs-version", STS_VERSION };
	hdrs[nh++] = (struct sign_kv){ "x-acs-date", date };
	hdrs[nh++] = (struct sign_kv){ "x-acs-signature-nonce", nonce };
	hdrs[nh++] = (struct sign_kv){ "x-acs-content-sha256", hash };
	if (signer && signer->security_token) {
		hdrs[nh++] = (struct sign_kv){ "x-acs-security-token", signer->security_token };
		hdrs[nh++] = (struct sign_kv){ "x-acs-accesskey-id", signer->access_key_id };
	}
	rc = -ENOMEM;
	if (signer) {
		struct sign_request sr = { .method = "POST", .path = "/", .headers = hdrs,
					   .nheaders = nh, .payload_hash = hash };

		auth = sign_authorization(&sr, signer->access_key_id, signer->access_key_secret);
		if (!auth)
			goto out;
	}
	for (size_t i = 0; i < nh; i++)
		if (hdr_add(&sl, hdrs[i].name, hdrs[i].value))
			goto out;
	if ((auth && hdr_add(&sl, "Authorization", auth)) || hdr_add(&sl, "Accept", "application/json"))
		goto out;
	if (asprintf(&url, "%s/", p->sts_base) < 0) {
		url = NULL;
		goto out;
	}
	rc = http_body_init(&hb, NET_BODY_MAX, true);
	rc = rc ? rc : net_request(p, NET_STS, "POST", url, sl, body, strlen(body), &hb, &status,
				   why, sizeof(why));
	if (rc) {
		seterr(err, errlen, "%s: %s", what, rc == -ENOMEM ? "out of memory" : why);
	} else if (status != 200) {
		struct err_info e;
		cJSON *j = cJSON_ParseWithLength(hb.b.data ? hb.b.data : "", hb.b.len);
		char brief[900];

		memset(&e, 0, sizeof(e));
		e.http_status = (int)status;
		if (cJSON_IsObject(j))
			err_read_body(&e, j);
		else
			snprintf(e.message, sizeof(e.message), "not a JSON error body (%zu bytes)",
				 hb.b.len);
		rc = err_map((int)status, e.code[0] ? e.code : NULL, 0);
		if (!rc)
			rc = -EIO;
		e.err = rc;
		err_format_brief(&e, brief, sizeof(brief));
		seterr(err, errlen, "%s: %s", what, brief);
		json_wipe_delete(j);
	} else {
		rc = creds_parse_sts(hb.b.data, hb.b.len, c, what, err, errlen);
	}
out:
	if (rc == -ENOMEM && err && errlen && !*err)
		seterr(err, errlen, "%s: out of memory", what);
	if (hb.b.cap)
		http_body_free(&hb);
	OPENSSL_cleanse(body, strlen(body));	/* an OIDC token */
	free(body);
	free(auth);
	free(url);
	hdr_free(sl);
	return rc;
}

/* AssumeRole with the inner source's credentials (which refresh themselves). */
static int fetch_role(struct creds_provider *p, struct creds *c, char *err, size_t errlen)
{
	struct sign_kv form[5];
	struct creds src;
	char dur[24], why[512] = "";
	size_t n = 0;
	int rc = creds_get(p->inner, &src, why, sizeof(why));

	if (rc) {
		seterr(err, errlen, "source credentials for AssumeRole (%s): %s",
		       creds_source(p->inner), why);
		return rc;
	}
	snprintf(dur, sizeof(dur), "%ld", p->duration);
	form[n++] = (struct sign_kv){ "RoleArn", p->role_arn };
	form[n++] = (struct sign_kv){ "RoleSessionName", p->session_name };
	form[n++] = (struct sign_kv){ "DurationSeconds", dur };
	if (p->policy)
		form[n++] = (struct sign_kv){ "Policy", p->policy };
	if (p->external_id)
		form[n++] = (struct sign_kv){ "ExternalId", p->external_id };
	rc = sts_call(p, "AssumeRole", form, n, &src, c, err, errlen);
	creds_clear(&src);
	return rc;
}

/* AssumeRoleWithOIDC; the token file is read afresh every time (Kubernetes rotates it). */
static int fetch_oidc(struct creds_provider *p, struct creds *c, char *err, size_t errlen)
{
	struct sign_kv form[6];
	char dur[24], *text = NULL, *tok;
	size_t n = 0, len;
	int rc = read_file(p->oidc_token_file, &text, &len);

	if (rc) {
		seterr(err, errlen, "OIDC token file %s: %s", p->oidc_token_file,
		       rc == -EFBIG ? "larger than 1 MiB" : strerror(-rc));
		return rc == -ENOMEM ? rc : -EINVAL;
	}
	tok = trim(text);
	if (!*tok) {
		seterr(err, errlen, "OIDC token file %s is empty", p->oidc_token_file);
		secmem_free(text);
		return -EINVAL;
	}
	snprintf(dur, sizeof(dur), "%ld", p->duration);
	form[n++] = (struct sign_kv){ "OIDCProviderArn", p->oidc_provider_arn };
	form[n++] = (struct sign_kv){ "OIDCToken", tok };
	form[n++] = (struct sign_kv){ "RoleArn", p->role_arn };
	form[n++] = (struct sign_kv){ "RoleSessionName", p->session_name };
	form[n++] = (struct sign_kv){ "DurationSeconds", dur };
	if (p->policy)
		form[n++] = (struct sign_kv){ "Policy", p->policy };
	rc = sts_call(p, "AssumeRoleWithOIDC", form, n, NULL, c, err, errlen);
	secmem_free(text);
	return rc;
}

/* Fetches fresh credentials from the provider's network source into c. */
static int fetch(struct creds_provider *p, struct creds *c, char *err, size_t errlen)
{
	switch (p->kind) {
	case SRC_URI:
		return fetch_uri(p, c, err, errlen);
	case SRC_ECS:
		return fetch_ecs(p, &p->role, c, err, errlen);
	case SRC_ROLE:
		return fetch_role(p, c, err, errlen);
	case SRC_OIDC:
		return fetch_oidc(p, c, err, errlen);
	default:
		seterr(err, errlen, "static credentials cannot be fetched");
		return -EINVAL;
	}
}

/* ---- the chain */

static int copy_creds(struct creds *dst, const struct creds *src)
{
	return creds_set(dst, src->access_key_id, src->access_key_secret, src->security_token,
			 src->expiration);
}

/* Step 1: ALIBABA_CLOUD_ACCESS_KEY_ID + _SECRET (+ _SECURITY_TOKEN), used as they are. */
static int from_env(struct chain *ch, struct creds_provider **out, char *why, size_t whylen)
{
	const char *id = env("ALIBABA_CLOUD_ACCESS_KEY_ID");
	const char *secret = env("ALIBABA_CLOUD_ACCESS_KEY_SECRET");
	struct creds_provider *p;
	int rc;

	if (!id || !secret) {
		seterr(why, whylen, "%s", !id && !secret ? "ALIBABA_CLOUD_ACCESS_KEY_ID not set" :
		       id ? "ALIBABA_CLOUD_ACCESS_KEY_ID is set but ALIBABA_CLOUD_ACCESS_KEY_SECRET "
			    "is not set, so the environment was ignored"
			  : "ALIBABA_CLOUD_ACCESS_KEY_SECRET is set but ALIBABA_CLOUD_ACCESS_KEY_ID "
			    "is not set, so the environment was ignored");
		if (id || secret)
			hint(ch, why);
		return -ENOENT;
	}
	p = provider_alloc(ch->o);
	if (!p)
		return -ENOMEM;
	rc = creds_set(&p->cur, id, secret, env("ALIBABA_CLOUD_SECURITY_TOKEN"), 0);
	rc = rc ? rc : set_source(p, "environment");
	return hand_over(p, rc, out);
}

/* Step 2: the OIDC role (Kubernetes RRSA), when all three variables are set. */
static int from_oidc_env(struct chain *ch, struct creds_provider **out, char *why,
			 size_t whylen)
{
	static const char *const vars[] = { "ALIBABA_CLOUD_ROLE_ARN",
					    "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
					    "ALIBABA_CLOUD_OIDC_TOKEN_FILE" };
	struct creds_provider *p;
	int set = 0, rc;

	for (int i = 0; i < 3; i++)
		set += env(vars[i]) != NULL;
	if (set < 3) {
		for (int i = 0; i < 3; i++)
			if (!env(vars[i])) {
				seterr(why, whylen, "%s not set", vars[i]);
				break;
			}
		if (set) {
			char h[200];

			snprintf(h, sizeof(h), "OIDC role: %s, so it was not used", why);
			hint(ch, h);
		}
		return -ENOENT;
	}
	p = provider_alloc(ch->o);
	if (!p)
		return -ENOMEM;
	p->kind = SRC_OIDC;
	rc = role_init(p, "OIDC role", env(vars[0]), NULL, 0, NULL, NULL, why, whylen);
	rc = rc ? rc : dup_opt(&p->oidc_provider_arn, env(vars[1]));
	rc = rc ? rc : dup_opt(&p->oidc_token_file, env(vars[2]));
	rc = rc ? rc : sts_endpoint_init(p, ch, NULL, NULL, false, why, whylen);
	rc = rc ? rc : set_source(p, "oidc-role-arn");
	rc = rc ? rc : prime(p, why, whylen);
	return hand_over(p, rc, out);
}

/* Step 5: the ECS RAM role (opt-in: -o ecs_role). */
static int from_ecs(struct chain *ch, struct creds_provider **out, char *why, size_t whylen)
{
	struct creds_provider *p;
	int rc;

	if (!ch->o->ecs_role) {
		seterr(why, whylen, "not enabled (-o ecs_role)");
		return -ENOENT;
	}
	if (env_true("ALIBABA_CLOUD_ECS_METADATA_DISABLED")) {
		seterr(why, whylen, "ALIBABA_CLOUD_ECS_METADATA_DISABLED=true");
		return -ENOENT;
	}
	p = provider_alloc(ch->o);
	if (!p)
		return -ENOMEM;
	p->kind = SRC_ECS;
	rc = dup_opt(&p->role, env("ALIBABA_CLOUD_ECS_METADATA"));
	rc = rc ? rc : prime(p, why, whylen);
	rc = rc ? rc : set_source(p, "ecs-ram-role:%s", p->role);
	return hand_over(p, rc, out);
}

/* Step 6: ALIBABA_CLOUD_CREDENTIALS_URI. */
static int from_uri(struct chain *ch, struct creds_provider **out, char *why, size_t whylen)
{
	const char *uri = env("ALIBABA_CLOUD_CREDENTIALS_URI");
	struct creds_provider *p;
	int rc;

	if (!uri) {
		seterr(why, whylen, "ALIBABA_CLOUD_CREDENTIALS_URI not set");
		return -ENOENT;
	}
	p = provider_alloc(ch->o);
	if (!p)
		return -ENOMEM;
	p->kind = SRC_URI;
	rc = dup_opt(&p->uri, uri);
	rc = rc ? rc : set_source(p, "credentials-uri");
	rc = rc ? rc : prime(p, why, whylen);
	return hand_over(p, rc, out);
}

/* The official default chain, in its order. A source that is not configured, or is configured
 * but broken, is noted and the chain goes on; the first that yields credentials wins. Returns
 * 0 with *out, or (none did) the first broken source's error, else -ENOENT, with every source
 * and its reason in err on one line. */
static int walk_chain(struct chain *ch, struct creds_provider **out, char *err, size_t errlen)
{
	static const struct {
		const char *name;
		int (*step)(struct chain *, struct creds_provider **, char *, size_t);
	} steps[] = {
		{ "environment", from_env },
		{ "oidc-role-arn", from_oidc_env },
		{ "cli-profile", from_cli },
		{ "ini-profile", from_ini },
		{ "ecs-ram-role", from_ecs },
		{ "credentials-uri", from_uri },
	};

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		char why[1024] = "", line[1100];
		int rc = steps[i].step(ch, out, why, sizeof(why));

		if (!rc)
			return 0;
		if (rc == -ENOMEM) {
			seterr(err, errlen, "out of memory");
			return rc;
		}
		snprintf(line, sizeof(line), "%s: %s", steps[i].name, why[0] ? why : strerror(-rc));
		note(ch->tried, sizeof(ch->tried), line);
		if (rc != -ENOENT) {
			if (!ch->first_rc)
				ch->first_rc = rc;
			snprintf(line, sizeof(line), "skipped %s (%s)", steps[i].name, why);
			hint(ch, line);
		}
	}
	if (ch->profile && !ch->profile_seen)
		seterr(err, errlen, "no credentials found: profile %s not found in the aliyun CLI "
		       "config or the credentials file (%s)", ch->profile, ch->tried);
	else
		seterr(err, errlen, "no credentials found (%s)", ch->tried);
	return ch->first_rc ? ch->first_rc : -ENOENT;
}

int creds_provider_new(const struct creds_options *o, struct creds_provider **out, char *err,
		       size_t errlen)
{
	static const struct creds_options defaults;
	struct creds_provider *p = NULL;
	struct chain *ch;
	int rc;

	*out = NULL;
	seterr(err, errlen, "%s", "");
	if (!o)
		o = &defaults;
	ch = calloc(1, sizeof(*ch));
	if (!ch) {
		seterr(err, errlen, "out of memory");
		return -ENOMEM;
	}
	ch->o = o;
	ch->profile = named_profile(o);
	rc = walk_chain(ch, &p, err, errlen);
	if (!rc) {
		if (ch->hints[0])
			log_msg(LOG_WARN, "credentials from %s (%s)", p->source, ch->hints);
		else
			log_msg(LOG_INFO, "credentials from %s", p->source);
		*out = p;
	}
	free(ch);
	return rc;
}

/* How long before expiry a refresh starts: 180 s for the URI and ECS sources; 15 minutes for
 * STS sessions as the official providers do, but at most half the session's lifetime, so a
 * short session is not stale from birth (which would make every request a refresh). */
static time_t margin(const struct creds_provider *p)
{
	if (p->kind == SRC_ROLE || p->kind == SRC_OIDC) {
		time_t life = p->cur.expiration - p->issued;

		return life > 0 && life / 2 < STS_STALE ? life / 2 : STS_STALE;
	}
	return REFRESH_MARGIN;
}

static bool needs_refresh(const struct creds_provider *p, time_t now)
{
	return p->kind != SRC_STATIC && p->cur.expiration != 0 &&
	       p->cur.expiration - now <= margin(p);
}

static bool still_valid(const struct creds_provider *p, time_t now)
{
	return p->cur.access_key_id && (p->cur.expiration == 0 || now < p->cur.expiration);
}

int creds_get(struct creds_provider *p, struct creds *c, char *err, size_t errlen)
{
	struct creds fresh;
	char why[512] = "";
	time_t now;
	int rc;

	memset(c, 0, sizeof(*c));
	pthread_mutex_lock(&p->lock);
	for (;;) {
		now = now_of(p);
		if (!needs_refresh(p, now) || (now < p->retry_at && still_valid(p, now)))
			goto out_copy;
		if (!p->refreshing)
			break;
		if (still_valid(p, now))
			goto out_copy;
		pthread_cond_wait(&p->cond, &p->lock);
	}
	p->refreshing = true;
	pthread_mutex_unlock(&p->lock);

	/* The fetch runs unlocked: the source's fields are fixed, and other threads keep using
	 * the current credentials while they are valid. */
	memset(&fresh, 0, sizeof(fresh));
	rc = fetch(p, &fresh, why, sizeof(why));

	pthread_mutex_lock(&p->lock);
	p->refreshing = false;
	pthread_cond_broadcast(&p->cond);
	now = now_of(p);
	if (!rc) {
		creds_clear(&p->cur);
		p->cur = fresh;
		p->issued = now;
		log_msg(LOG_DEBUG, "credentials from %s refreshed", p->source);
	} else if (still_valid(p, now)) {
		log_msg(LOG_WARN, "refreshing credentials failed (%s); using the current ones "
			"until they expire", why);
	} else {
		pthread_mutex_unlock(&p->lock);
		seterr(err, errlen, "%s", why);
		return rc;
	}
	/* Short-lived or unrefreshable credentials must not turn every call into a fetch. */
	if (needs_refresh(p, now))
		p->retry_at = now + RETRY_INTERVAL;
out_copy:
	rc = copy_creds(c, &p->cur);
	pthread_mutex_unlock(&p->lock);
	if (rc)
		seterr(err, errlen, "out of memory");
	return rc;
}

const char *creds_source(const struct creds_provider *p)
{
	return p && p->source ? p->source : "none";
}

const char *creds_role(const struct creds_provider *p)
{
	if (!p)
		return NULL;
	if (p->kind == SRC_ROLE || p->kind == SRC_OIDC)
		return p->role_arn;
	return p->kind == SRC_ECS ? p->role : NULL;
}

const char *creds_region(const struct creds_provider *p)
{
	return p ? p->region : NULL;
}

char *creds_default_region(const char *profile)
{
	const char *r = env("ALIBABA_CLOUD_REGION_ID"), *name = NULL;
	const cJSON *prof;
	cJSON *root = NULL;
	char *path, *out = NULL;

	if (r)
		return strdup(r);
	if (env_true("ALIBABA_CLOUD_CLI_PROFILE_DISABLED"))
		return NULL;
	path = cli_config_path();
	if (!path)
		return NULL;
	if (!profile || !*profile)
		profile = env("ALIBABA_CLOUD_PROFILE");
	if (cli_load(path, profile, &root, &prof, &name, NULL, 0) == 0 && jstr(prof, "region_id"))
		out = strdup(jstr(prof, "region_id"));
	json_wipe_delete(root);
	free(path);
	return out;
}

void creds_provider_free(struct creds_provider *p)
{
	if (!p)
		return;
	creds_clear(&p->cur);
	free(p->source);
	free(p->region);
	wipe_free(p->uri);	/* a URI may carry a token */
	free(p->ecs_base);
	free(p->role);
	free(p->sts_base);
	free(p->sts_host);
	free(p->role_arn);
	free(p->session_name);
	wipe_free(p->policy);
	wipe_free(p->external_id);	/* a shared secret between the role's owner and us */
	free(p->oidc_provider_arn);
	free(p->oidc_token_file);
	creds_provider_free(p->inner);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
