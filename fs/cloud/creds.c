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
#include "isotime.h"
#include "log.h"
#include "secmem.h"
#include "sign.h"

#define NET_BODY_MAX (64 * 1024)	/* a credentials document is a few hundred bytes */
#define FILE_MAX (1024 * 1024)		/* config.json / credentials INI */
#define REFRESH_MARGIN 180		/* refresh when this many seconds or fewer remain */
#define RETRY_INTERVAL 10		/* between refresh attempts while the old creds still work */
#define DEFAULT_ECS_ENDPOINT "http://100.100.100.200"
#define DEFAULT_TIMEOUT_MS 1000
#define ECS_TOKEN_TTL "21600"

enum source_kind { SRC_STATIC, SRC_URI, SRC_ECS };

struct creds_provider {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool refreshing;	/* one thread fetches; the others wait or use still-valid creds */
	time_t retry_at;	/* no refresh before this while the current creds are valid */
	struct creds cur;
	/* Fixed once creds_provider_new returns, so read without the lock. */
	enum source_kind kind;
	char *source;
	char *region;
	char *uri;		/* SRC_URI */
	char *ecs_base;		/* SRC_ECS: metadata base URL without a trailing '/' */
	char *role;		/* SRC_ECS */
	long timeout_ms;
	time_t (*now)(void);
};

/* What the chain learned on the way, for the final message when nothing matched. */
struct chain {
	const struct creds_options *o;
	const char *profile;		/* option or ALIBABA_CLOUD_PROFILE; NULL when neither */
	bool profile_seen;		/* a file source had the named profile */
	/* Sources skipped for a reason the user should hear about. Start-up failures must be
	 * one line, so these go into the error message, or into one warning on success. */
	char hints[768];
};

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

static void hint(struct chain *ch, const char *s)
{
	size_t n = strlen(ch->hints);

	snprintf(ch->hints + n, sizeof(ch->hints) - n, "%s%s", n ? "; " : "", s);
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

/* Returns 0 when the profile gave credentials (or a network source to fetch them from),
 * -ENOENT to go on with the chain, or an error that ends it. */
static int from_cli(struct chain *ch, struct creds_provider *p, char *err, size_t errlen)
{
	const cJSON *prof;
	const char *name = NULL, *mode, *id, *secret, *token, *region;
	cJSON *root = NULL;
	char *path;
	int rc;

	if (env_true("ALIBABA_CLOUD_CLI_PROFILE_DISABLED"))
		return -ENOENT;
	path = cli_config_path();
	if (!path)
		return -ENOENT;
	rc = cli_load(path, ch->profile, &root, &prof, &name, err, errlen);
	if (rc == -ENOENT && env("ALIBABA_CLOUD_CONFIG_FILE")) {
		seterr(err, errlen, "ALIBABA_CLOUD_CONFIG_FILE names %s, which does not exist", path);
		rc = -EINVAL;
		goto out;
	}
	if (rc == -ENOENT || rc == -ESRCH) {
		if (rc == -ESRCH && !ch->profile && jstr(root, "current")) {
			seterr(err, errlen, "aliyun CLI config %s: the current profile \"%s\" is not "
			       "in \"profiles\"", path, name);
			rc = -EINVAL;
			goto out;
		}
		rc = -ENOENT;
		goto out;
	}
	if (rc)
		goto out;
	ch->profile_seen = true;
	mode = jstr(prof, "mode");
	id = jstr(prof, "access_key_id");
	secret = jstr(prof, "access_key_secret");
	token = jstr(prof, "sts_token");
	region = jstr(prof, "region_id");
	if (!mode)
		mode = "AK";	/* the CLI's own default mode */
	if (strcmp(mode, "AK") == 0 || strcmp(mode, "StsToken") == 0) {
		bool sts = strcmp(mode, "StsToken") == 0;

		if (!id && !secret && !token && !sts) {
			/* `aliyun configure` leaves an empty AK profile behind: not configured. */
			log_msg(LOG_DEBUG, "aliyun CLI config %s: profile %s has no keys; skipped",
				path, name);
			ch->profile_seen = false;
			rc = -ENOENT;
			goto out;
		}
		if (!id || !secret || (sts && !token)) {
			seterr(err, errlen, "aliyun CLI config %s: profile %s (mode %s) has no %s",
			       path, name, mode, !id ? "access_key_id" : !secret ?
			       "access_key_secret" : "sts_token");
			rc = -EINVAL;
			goto out;
		}
		rc = creds_set(&p->cur, id, secret, sts ? token : NULL, 0);
		p->kind = SRC_STATIC;
		rc = rc ? rc : set_source(p, "cli-profile:%s", name);
	} else if (strcmp(mode, "EcsRamRole") == 0) {
		const char *role = jstr(prof, "ram_role_name");

		if (!role)
			role = env("ALIBABA_CLOUD_ECS_METADATA");
		if (!ecs_allowed(ch->o)) {
			seterr(err, errlen, "profile %s uses mode EcsRamRole, which needs the ECS RAM "
			       "role source: add -o ecs_role%s", name,
			       env_true("ALIBABA_CLOUD_ECS_METADATA_DISABLED")
			       ? " and unset ALIBABA_CLOUD_ECS_METADATA_DISABLED" : "");
			rc = -EINVAL;
			goto out;
		}
		p->kind = SRC_ECS;
		if (role && !(p->role = strdup(role)))
			rc = -ENOMEM;
	} else if (strcmp(mode, "CredentialsURI") == 0) {
		const char *uri = jstr(prof, "credentials_uri");

		if (!uri) {
			seterr(err, errlen, "aliyun CLI config %s: profile %s (mode CredentialsURI) "
			       "has no credentials_uri", path, name);
			rc = -EINVAL;
			goto out;
		}
		p->kind = SRC_URI;
		if (!(p->uri = strdup(uri)))
			rc = -ENOMEM;
		rc = rc ? rc : set_source(p, "cli-profile:%s/credentials-uri", name);
	} else {
		seterr(err, errlen, "profile %s uses mode %s, which dswfs does not support", name,
		       mode);
		rc = -EINVAL;
		goto out;
	}
	if (!rc && region && !(p->region = strdup(region)))
		rc = -ENOMEM;
	/* The ECS source names itself once it knows the role; remember the profile for it. */
	if (!rc && p->kind == SRC_ECS)
		rc = set_source(p, "cli-profile:%s", name);
out:
	json_wipe_delete(root);
	free(path);
	return rc;
}

/* ---- the credentials INI file */

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

struct ini_section {
	bool found, disabled;
	char *type, *id, *secret;	/* point into the file's text */
};

/* Finds section name in text (modified in place). Returns 0 or -EINVAL (line in *bad_line). */
static int ini_parse(char *text, const char *name, struct ini_section *s, int *bad_line)
{
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
		if (strcmp(k, "type") == 0)
			s->type = ini_value(eq + 1);
		else if (strcmp(k, "access_key_id") == 0)
			s->id = ini_value(eq + 1);
		else if (strcmp(k, "access_key_secret") == 0)
			s->secret = ini_value(eq + 1);
		else if (strcmp(k, "enable") == 0)
			s->disabled = strcasecmp(ini_value(eq + 1), "false") == 0;
	}
	return 0;
}

static int from_ini(struct chain *ch, struct creds_provider *p, char *err, size_t errlen)
{
	const char *e = env("ALIBABA_CLOUD_CREDENTIALS_FILE");
	const char *name = ch->profile ? ch->profile : "default";
	struct ini_section s;
	char *path = e ? strdup(e) : home_path(".alibabacloud/credentials"), *text = NULL;
	size_t len = 0;
	int rc, bad_line = 0;

	if (!path)
		return -ENOENT;
	rc = read_file(path, &text, &len);
	if (rc == -ENOENT) {
		if (e) {
			seterr(err, errlen, "ALIBABA_CLOUD_CREDENTIALS_FILE names %s, which does not "
			       "exist", path);
			rc = -EINVAL;
		}
		goto out;
	}
	if (rc) {
		seterr(err, errlen, "credentials file %s: %s", path,
		       rc == -EFBIG ? "larger than 1 MiB" : strerror(-rc));
		rc = -EINVAL;
		goto out;
	}
	if (ini_parse(text, name, &s, &bad_line) != 0) {
		seterr(err, errlen, "credentials file %s: line %d is neither [section] nor "
		       "key = value", path, bad_line);
		rc = -EINVAL;
		goto out;
	}
	if (!s.found || s.disabled) {
		rc = -ENOENT;
		goto out;
	}
	ch->profile_seen = true;
	if (!s.type || !*s.type) {
		seterr(err, errlen, "credentials file %s: section [%s] has no type", path, name);
		rc = -EINVAL;
	} else if (strcmp(s.type, "access_key") != 0) {
		seterr(err, errlen, "credentials file %s: section [%s] has type %s, which dswfs "
		       "does not support (only access_key)", path, name, s.type);
		rc = -EINVAL;
	} else if (!s.id || !*s.id || !s.secret || !*s.secret) {
		seterr(err, errlen, "credentials file %s: section [%s] has no %s", path, name,
		       !s.id || !*s.id ? "access_key_id" : "access_key_secret");
		rc = -EINVAL;
	} else {
		p->kind = SRC_STATIC;
		rc = creds_set(&p->cur, s.id, s.secret, NULL, 0);
		rc = rc ? rc : set_source(p, "ini:%s", name);
	}
out:
	secmem_free(text);	/* all of it: strsep left NULs inside */
	free(path);
	return rc;
}

/* ---- network sources */

/* A URL for messages: scheme://host[:port] and "/..." when more followed, so a token in the
 * path, query or userinfo never reaches a log. */
static void redact_url(const char *url, char *out, size_t n)
{
	const char *s = strstr(url, "://"), *host, *end, *at;

	if (!s) {
		snprintf(out, n, "(a URL without a scheme)");
		return;
	}
	host = s + 3;
	end = host + strcspn(host, "/?#");
	at = memchr(host, '@', (size_t)(end - host));
	while (at && memchr(at + 1, '@', (size_t)(end - at - 1)))
		at = memchr(at + 1, '@', (size_t)(end - at - 1));
	if (at)
		host = at + 1;
	snprintf(out, n, "%.*s://%.*s%s", (int)(s - url), url, (int)(end - host), host,
		 *end ? "/..." : "");
}

struct http_body {
	struct buf b;
	bool too_big;
};

static size_t http_write(char *data, size_t size, size_t nmemb, void *ud)
{
	struct http_body *hb = ud;
	size_t n = size * nmemb;

	if (buf_append(&hb->b, data, n) != 0) {
		hb->too_big = true;
		return 0;
	}
	return n;
}

/* Makes the body buffer allocate its full cap up front, so growing never leaves a copy of a
 * secret behind in freed memory. */
static int body_init(struct http_body *hb)
{
	static const char zeros[4096];
	int rc = 0;

	buf_init(&hb->b, NET_BODY_MAX);
	hb->too_big = false;
	for (size_t done = 0; done < NET_BODY_MAX && !rc; done += sizeof(zeros))
		rc = buf_append(&hb->b, zeros, sizeof(zeros));
	buf_reset(&hb->b);
	return rc;
}

static void body_free(struct http_body *hb)
{
	if (hb->b.data)
		OPENSSL_cleanse(hb->b.data, hb->b.len);
	buf_free(&hb->b);
}

/* The process-wide libcurl init, once: creds may fetch before the API client exists, and from
 * several threads (refreshes). Never cleaned up; libcurl counts its inits. */
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init_once(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* One request. Returns 0 with the HTTP status in *status and the body in hb, or -ETIMEDOUT,
 * -EIO (connection failed, body over the cap) or -ENOMEM with a reason in why. */
static int http_do(const char *method, const char *url, const char *header1, const char *header2,
		   long timeout_ms, struct http_body *hb, long *status, char *why, size_t whylen)
{
	struct curl_slist *hdrs = NULL, *t;
	CURL *c;
	CURLcode cc;
	int rc = 0;

	*status = 0;
	pthread_once(&curl_once, curl_init_once);
	if (curl_init_rc != CURLE_OK) {
		seterr(why, whylen, "libcurl: %s", curl_easy_strerror(curl_init_rc));
		return -EIO;
	}
	c = curl_easy_init();
	if (!c)
		return -ENOMEM;
	for (int i = 0; i < 2; i++) {
		const char *h = i ? header2 : header1;

		if (!h)
			continue;
		t = curl_slist_append(hdrs, h);
		if (!t) {
			rc = -ENOMEM;
			goto out;
		}
		hdrs = t;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	/* Credentials never travel through a proxy, and the metadata service is link-local. */
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, hb);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "dswfs/" DSWFS_VERSION);
	if (strcmp(method, "GET") != 0)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (hdrs)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	cc = curl_easy_perform(c);
	if (cc == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	} else if (hb->too_big) {
		seterr(why, whylen, "response larger than %d KiB", NET_BODY_MAX / 1024);
		rc = -EIO;
	} else if (cc == CURLE_OPERATION_TIMEDOUT) {
		seterr(why, whylen, "no answer within %ld ms", timeout_ms);
		rc = -ETIMEDOUT;
	} else if (cc == CURLE_OUT_OF_MEMORY) {
		rc = -ENOMEM;
	} else {
		seterr(why, whylen, "%s", curl_easy_strerror(cc));
		rc = -EIO;
	}
out:
	/* The IMDSv2 token header is a capability; the slist copies must not linger. */
	for (t = hdrs; t; t = t->next)
		OPENSSL_cleanse(t->data, strlen(t->data));
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	return rc;
}

static int status_errno(long status)
{
	return status == 401 || status == 403 ? -EACCES : -EIO;
}

/* Parses an STS credentials document (URI and ECS sources). Returns 0 or -EIO. */
static int parse_sts(const char *body, struct creds *c, const char *what, char *err,
		     size_t errlen)
{
	static const char *const fields[] = { "AccessKeyId", "AccessKeySecret", "SecurityToken",
					      "Expiration" };
	cJSON *j = cJSON_Parse(body);
	const char *v[4], *code;
	time_t exp;
	int rc = 0;

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
	for (int i = 0; i < 4; i++) {
		v[i] = jstr(j, fields[i]);
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
	redact_url(p->uri, what + strlen(what), sizeof(what) - strlen(what));
	rc = body_init(&hb);
	rc = rc ? rc : http_do("GET", p->uri, NULL, NULL, p->timeout_ms, &hb, &status, why,
			       sizeof(why));
	if (rc) {
		seterr(err, errlen, "%s: %s", what, rc == -ENOMEM ? "out of memory" : why);
	} else if (status != 200) {
		seterr(err, errlen, "%s: HTTP %ld", what, status);
		rc = status_errno(status);
	} else {
		rc = parse_sts(hb.b.data ? hb.b.data : "", c, what, err, errlen);
	}
	body_free(&hb);
	return rc;
}

/* A metadata request; the body (trimmed) into *out when out is not NULL. */
static int ecs_get(const struct creds_provider *p, const char *method, const char *path,
		   const char *h1, const char *h2, char **out, long *status, char *why,
		   size_t whylen)
{
	struct http_body hb;
	char *url;
	int rc;

	if (out)
		*out = NULL;
	if (asprintf(&url, "%s%s", p->ecs_base, path) < 0)
		return -ENOMEM;
	rc = body_init(&hb);
	rc = rc ? rc : http_do(method, url, h1, h2, p->timeout_ms, &hb, status, why, whylen);
	if (!rc && out && !(*out = strdup(hb.b.data ? hb.b.data : "")))
		rc = -ENOMEM;
	body_free(&hb);
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
	redact_url(p->ecs_base, what + strlen(what), sizeof(what) - strlen(what));

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
		rc = parse_sts(body, c, w2, err, errlen);
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

/* Fetches fresh credentials from the provider's network source into c. */
static int fetch(struct creds_provider *p, struct creds *c, char *err, size_t errlen)
{
	if (p->kind == SRC_URI)
		return fetch_uri(p, c, err, errlen);
	return fetch_ecs(p, &p->role, c, err, errlen);
}

/* ---- the provider */

static int copy_creds(struct creds *dst, const struct creds *src)
{
	return creds_set(dst, src->access_key_id, src->access_key_secret, src->security_token,
			 src->expiration);
}

/* Walks the chain. Returns 0 with p configured (network sources not fetched yet). */
static int walk_chain(struct chain *ch, struct creds_provider *p, char *err, size_t errlen)
{
	const char *id = env("ALIBABA_CLOUD_ACCESS_KEY_ID");
	const char *secret = env("ALIBABA_CLOUD_ACCESS_KEY_SECRET");
	char ecs_err[512] = "";
	int rc, ecs_rc = 0;

	/* 1. environment */
	if (id && secret) {
		p->kind = SRC_STATIC;
		rc = creds_set(&p->cur, id, secret, env("ALIBABA_CLOUD_SECURITY_TOKEN"), 0);
		return rc ? rc : set_source(p, "environment");
	}
	if (id || secret) {
		hint(ch, id ? "ALIBABA_CLOUD_ACCESS_KEY_ID is set but ALIBABA_CLOUD_ACCESS_KEY_SECRET "
			      "is not set, so the environment was ignored"
			    : "ALIBABA_CLOUD_ACCESS_KEY_SECRET is set but ALIBABA_CLOUD_ACCESS_KEY_ID "
			      "is not set, so the environment was ignored");
	}

	/* 2. OIDC role: exchanging the token at STS is not implemented. */
	if (env("ALIBABA_CLOUD_ROLE_ARN") &&
	    (env("ALIBABA_CLOUD_OIDC_PROVIDER_ARN") || env("ALIBABA_CLOUD_OIDC_TOKEN_FILE"))) {
		hint(ch, "ALIBABA_CLOUD_ROLE_ARN and ALIBABA_CLOUD_OIDC_* are set, but dswfs does "
			 "not support OIDC role credentials");
	}

	/* 3. aliyun CLI config.json, 4. credentials INI */
	rc = from_cli(ch, p, err, errlen);
	if (rc != -ENOENT)
		return rc;
	rc = from_ini(ch, p, err, errlen);
	if (rc != -ENOENT)
		return rc;
	if (ch->profile && !ch->profile_seen) {
		char *cli = cli_config_path(), *ini = home_path(".alibabacloud/credentials");
		const char *inip = env("ALIBABA_CLOUD_CREDENTIALS_FILE");

		seterr(err, errlen, "profile %s not found in %s or %s", ch->profile,
		       env_true("ALIBABA_CLOUD_CLI_PROFILE_DISABLED") ? "(the aliyun CLI config, "
		       "disabled)" : cli ? cli : "~/.aliyun/config.json",
		       inip ? inip : ini ? ini : "~/.alibabacloud/credentials");
		free(cli);
		free(ini);
		return -ENOENT;
	}

	/* 5. ECS RAM role (opt-in): a failure here still lets a credentials URI answer. */
	if (ecs_allowed(ch->o)) {
		const char *role = env("ALIBABA_CLOUD_ECS_METADATA");

		p->kind = SRC_ECS;
		if (role && !(p->role = strdup(role)))
			return -ENOMEM;
		ecs_rc = fetch(p, &p->cur, ecs_err, sizeof(ecs_err));
		if (!ecs_rc)
			return set_source(p, "ecs-ram-role:%s", p->role);
		if (ecs_rc == -ENOMEM)
			return ecs_rc;
		free(p->role);
		p->role = NULL;
		p->kind = SRC_STATIC;
	}

	/* 6. credentials URI */
	{
		const char *uri = env("ALIBABA_CLOUD_CREDENTIALS_URI");

		if (uri) {
			if (ecs_rc) {
				char h[600];

				snprintf(h, sizeof(h), "the ECS RAM role failed (%s), so "
					 "ALIBABA_CLOUD_CREDENTIALS_URI was tried", ecs_err);
				hint(ch, h);
			}
			p->kind = SRC_URI;
			if (!(p->uri = strdup(uri)))
				return -ENOMEM;
			return set_source(p, "credentials-uri");
		}
	}
	if (ecs_rc) {
		seterr(err, errlen, "%s", ecs_err);
		return ecs_rc;
	}
	seterr(err, errlen, "no credentials found: set ALIBABA_CLOUD_ACCESS_KEY_ID and "
	       "ALIBABA_CLOUD_ACCESS_KEY_SECRET, or configure a profile in ~/.aliyun/config.json "
	       "or ~/.alibabacloud/credentials%s%s%s", ch->hints[0] ? " (" : "", ch->hints,
	       ch->hints[0] ? ")" : "");
	return -ENOENT;
}

int creds_provider_new(const struct creds_options *o, struct creds_provider **out, char *err,
		       size_t errlen)
{
	static const struct creds_options defaults;
	struct creds_provider *p;
	struct chain ch;
	const char *base;
	int rc;

	*out = NULL;
	seterr(err, errlen, "%s", "");
	if (!o)
		o = &defaults;
	memset(&ch, 0, sizeof(ch));
	ch.o = o;
	ch.profile = named_profile(o);
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	p->now = o->now;
	p->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
	base = o->ecs_endpoint && *o->ecs_endpoint ? o->ecs_endpoint : DEFAULT_ECS_ENDPOINT;
	p->ecs_base = strndup(base, strlen(base) - (base[strlen(base) - 1] == '/'));
	if (!p->ecs_base) {
		rc = -ENOMEM;
		goto out_fail;
	}
	rc = walk_chain(&ch, p, err, errlen);
	if (rc)
		goto out_fail;
	if (p->kind != SRC_STATIC && !p->cur.access_key_id) {
		/* A source that is only known by where to fetch from: fetch now, so a broken one
		 * fails at mount time with its reason rather than on the first request. */
		rc = fetch(p, &p->cur, err, errlen);
		if (rc)
			goto out_fail;
	}
	if (p->kind == SRC_ECS && strncmp(p->source ? p->source : "", "cli-profile:", 12) == 0)
		rc = set_source(p, "%s/ecs-ram-role:%s", p->source, p->role);
	if (rc)
		goto out_fail;
	if (ch.hints[0])
		log_msg(LOG_WARN, "credentials from %s (%s)", p->source, ch.hints);
	else
		log_msg(LOG_INFO, "credentials from %s", p->source);
	*out = p;
	return 0;
out_fail:
	if (rc == -ENOMEM && (!err || !*err))
		seterr(err, errlen, "out of memory");
	if (ch.hints[0] && err && errlen && !strstr(err, ch.hints)) {
		size_t n = strlen(err);

		snprintf(err + n, errlen - n, " (%s)", ch.hints);
	}
	creds_provider_free(p);
	return rc;
}

static bool needs_refresh(const struct creds_provider *p, time_t now)
{
	return p->kind != SRC_STATIC && p->cur.expiration != 0 &&
	       p->cur.expiration - now <= REFRESH_MARGIN;
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
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
