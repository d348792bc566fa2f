/* test_creds: the credentials chain with a fake HOME and environment, and the network sources
 * against an in-process HTTP stub on 127.0.0.1 (the clock is injected, so nothing sleeps). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "creds.h"
#include "log.h"
#include "sign.h"
#include "tf.h"

/* Every secret and token in these tests carries one of these markers, so a leak into an error
 * message or the log is a substring search. */
#define SECRET_MARK "Sekr1t"
#define TOKEN_MARK "T0ken"

__attribute__((constructor)) static void global_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

__attribute__((destructor)) static void global_cleanup(void)
{
	curl_global_cleanup();
}

/* ---- the fake clock */

#define T0 ((time_t)1700000000)

/* For requests that are expected to succeed: generous, so a loaded machine or valgrind never
 * turns them into timeouts. Timeouts themselves are tested with short explicit values. */
#define SLOW_OK_MS 10000

static time_t fake_now_v = T0;

static time_t fake_now(void)
{
	return __atomic_load_n(&fake_now_v, __ATOMIC_SEQ_CST);
}

static void set_now(time_t t)
{
	__atomic_store_n(&fake_now_v, t, __ATOMIC_SEQ_CST);
}

/* ---- fixture: a fresh HOME, no ALIBABA_CLOUD_* variables, stderr captured */

static char home[64];
static int cap_fd = -1, saved_stderr = -1;

static void clean_env(void)
{
	static const char *const vars[] = {
		"ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
		"ALIBABA_CLOUD_SECURITY_TOKEN", "ALIBABA_CLOUD_ROLE_ARN",
		"ALIBABA_CLOUD_OIDC_PROVIDER_ARN", "ALIBABA_CLOUD_OIDC_TOKEN_FILE",
		"ALIBABA_CLOUD_CONFIG_FILE", "ALIBABA_CLOUD_PROFILE",
		"ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "ALIBABA_CLOUD_CREDENTIALS_FILE",
		"ALIBABA_CLOUD_CREDENTIALS_URI", "ALIBABA_CLOUD_ECS_METADATA",
		"ALIBABA_CLOUD_ECS_METADATA_DISABLED", "ALIBABA_CLOUD_IMDSV1_DISABLED",
		"ALIBABA_CLOUD_REGION_ID", "http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY",
		"ALIBABA_CLOUD_ROLE_SESSION_NAME", "ALIBABA_CLOUD_STS_REGION",
		"ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED",
	};

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
}

static void fx_begin(void)
{
	char tmpl[] = "/tmp/dswfs-cap-XXXXXX";

	clean_env();
	snprintf(home, sizeof(home), "/tmp/dswfs-home-XXXXXX");
	if (!mkdtemp(home))
		abort();
	setenv("HOME", home, 1);
	set_now(T0);
	log_set_level(LOG_DEBUG);
	fflush(stderr);
	cap_fd = mkstemp(tmpl);
	if (cap_fd < 0)
		abort();
	unlink(tmpl);
	saved_stderr = dup(2);
	dup2(cap_fd, 2);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Ends the fixture; checks the log holds no secret; returns the log (caller frees). */
static char *fx_end(void)
{
	char *log = calloc(1, 1 << 16);
	ssize_t n;

	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	lseek(cap_fd, 0, SEEK_SET);
	n = read(cap_fd, log, (1 << 16) - 1);
	close(cap_fd);
	log[n > 0 ? n : 0] = '\0';
	if (strstr(log, SECRET_MARK) || strstr(log, TOKEN_MARK))
		tf_fail(__FILE__, __LINE__, "a secret reached the log: %s", log);
	nftw(home, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	log_set_level(LOG_WARN);
	clean_env();
	return log;
}

static void fx_end_free(void)
{
	free(fx_end());
}

/* Writes HOME/rel (creating directories). */
static void write_home(const char *rel, const char *content)
{
	char path[512], *slash;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", home, rel);
	for (slash = strchr(path + strlen(home) + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		mkdir(path, 0700);
		*slash = '/';
	}
	f = fopen(path, "w");
	if (!f)
		abort();
	fputs(content, f);
	fclose(f);
}

static char *home_file(const char *rel)
{
	static char path[512];

	snprintf(path, sizeof(path), "%s/%s", home, rel);
	return path;
}

/* ---- checks */

static void check_no_secret(const char *err, const char *file, int line)
{
	if (strstr(err, SECRET_MARK) || strstr(err, TOKEN_MARK))
		tf_fail(file, line, "the error message shows a secret: %s", err);
}
#define CHECK_NO_SECRET(err) check_no_secret(err, __FILE__, __LINE__)

static void check_contains(const char *s, const char *want, const char *file, int line)
{
	if (!s || !strstr(s, want))
		tf_fail(file, line, "\"%s\" does not contain \"%s\"", s ? s : "(null)", want);
}
#define CHECK_CONTAINS(s, want) check_contains(s, want, __FILE__, __LINE__)

/* Builds a provider and expects failure rc; returns nothing, checks the message. */
static void expect_fail(const struct creds_options *o, int want_rc, const char *want_msg,
			const char *file, int line)
{
	struct creds_provider *p = (struct creds_provider *)1;
	char err[2048] = "";
	int rc = creds_provider_new(o, &p, err, sizeof(err));

	if (rc != want_rc)
		tf_fail(file, line, "creds_provider_new returned %d (%s), expected %d", rc, err,
			want_rc);
	if (p)
		tf_fail(file, line, "*out is not NULL on failure");
	if (rc == 0)
		creds_provider_free(p);
	check_contains(err, want_msg, file, line);
	check_no_secret(err, file, line);
}
#define EXPECT_FAIL(o, rc, msg) expect_fail(o, rc, msg, __FILE__, __LINE__)

/* Builds a provider, expects success, checks the source and the credentials. */
static struct creds_provider *expect_ok(const struct creds_options *o, const char *source,
					const char *id, const char *secret, const char *token,
					const char *file, int line)
{
	struct creds_provider *p = NULL;
	struct creds c;
	char err[2048] = "";
	int rc = creds_provider_new(o, &p, err, sizeof(err));

	if (rc != 0 || !p) {
		tf_fail(file, line, "creds_provider_new returned %d: %s", rc, err);
		return NULL;
	}
	if (strcmp(creds_source(p), source) != 0)
		tf_fail(file, line, "source is %s, expected %s", creds_source(p), source);
	rc = creds_get(p, &c, err, sizeof(err));
	if (rc != 0) {
		tf_fail(file, line, "creds_get returned %d: %s", rc, err);
		return p;
	}
	if (strcmp(c.access_key_id, id) || strcmp(c.access_key_secret, secret) ||
	    (token ? !c.security_token || strcmp(c.security_token, token) : !!c.security_token))
		tf_fail(file, line, "got id %s token %s, expected id %s token %s", c.access_key_id,
			c.security_token ? c.security_token : "(none)", id, token ? token : "(none)");
	creds_clear(&c);
	return p;
}
#define EXPECT_OK(o, src, id, secret, token) expect_ok(o, src, id, secret, token, __FILE__, __LINE__)
#define EXPECT_OK_FREE(o, src, id, secret, token) \
	creds_provider_free(expect_ok(o, src, id, secret, token, __FILE__, __LINE__))

/* ---- the loopback HTTP stub */

struct route {
	char method[8];
	char path[256];
	int status;
	char *body;
	int delay_ms;
	int hits;
};

static struct stub {
	int lfd, port, stop[2];
	pthread_t th;
	pthread_mutex_t mu;
	struct route r[8];
	int n;
	const char *need_token;		/* when set, GETs without this IMDSv2 token get 401 */
	char last_req[8192];		/* the last request's head and body, as received */
	char ttl_seen[64];
	int unauthorized;
	int requests;
} S = { .mu = PTHREAD_MUTEX_INITIALIZER };

static const char *header_value(char *req, const char *name)
{
	size_t n = strlen(name);

	for (char *l = strstr(req, "\r\n"); l; l = strstr(l + 2, "\r\n")) {
		char *h = l + 2;

		if (strncasecmp(h, name, n) == 0 && h[n] == ':') {
			char *v = h + n + 1, *e;

			while (*v == ' ')
				v++;
			e = strstr(v, "\r\n");
			if (e)
				*e = '\0';
			return v;
		}
	}
	return NULL;
}

static void stub_serve(int fd)
{
	char req[8192], method[8] = "", path[256] = "", head[256];
	size_t len = 0, blen = 0;
	struct route *rt = NULL;
	int status = 404, delay = 0;
	char *body = NULL;
	const char *tok, *ttl;

	while (len < sizeof(req) - 1) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		ssize_t k;

		if (poll(&pf, 1, 2000) <= 0)
			return;
		k = recv(fd, req + len, sizeof(req) - 1 - len, 0);
		if (k <= 0)
			return;
		len += (size_t)k;
		req[len] = '\0';
		if (strstr(req, "\r\n\r\n")) {
			/* The body too (a POST), so closing never resets an unread request. */
			const char *cl = strcasestr(req, "\r\ncontent-length:");
			size_t want = (size_t)(strstr(req, "\r\n\r\n") - req) + 4 +
				      (cl ? strtoul(cl + 17, NULL, 10) : 0);

			if (len >= want || want >= sizeof(req) - 1)
				break;
		}
	}
	sscanf(req, "%7s %255s", method, path);
	{
		char copy1[8192], copy2[8192];

		memcpy(copy1, req, len + 1);
		memcpy(copy2, req, len + 1);
		tok = header_value(copy1, "x-aliyun-ecs-metadata-token");
		ttl = header_value(copy2, "x-aliyun-ecs-metadata-token-ttl-seconds");
		pthread_mutex_lock(&S.mu);
		S.requests++;
		memcpy(S.last_req, req, len + 1);
		if (ttl)
			snprintf(S.ttl_seen, sizeof(S.ttl_seen), "%s", ttl);
		for (int i = 0; i < S.n; i++)
			if (!strcmp(S.r[i].method, method) && !strcmp(S.r[i].path, path))
				rt = &S.r[i];
		if (rt) {
			rt->hits++;
			status = rt->status;
			delay = rt->delay_ms;
			body = rt->body ? strdup(rt->body) : NULL;
		}
		if (S.need_token && strcmp(method, "GET") == 0 &&
		    (!tok || strcmp(tok, S.need_token) != 0)) {
			S.unauthorized++;
			status = 401;
			free(body);
			body = NULL;
		}
		pthread_mutex_unlock(&S.mu);
	}
	if (delay) {
		struct pollfd pf = { .fd = S.stop[0], .events = POLLIN };

		if (poll(&pf, 1, delay) != 0)
			goto out;
	}
	blen = body ? strlen(body) : 0;
	snprintf(head, sizeof(head), "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
		 "Content-Length: %zu\r\nConnection: close\r\n\r\n", status, blen);
	if (send(fd, head, strlen(head), MSG_NOSIGNAL) < 0)
		goto out;
	for (size_t off = 0; off < blen;) {
		ssize_t k = send(fd, body + off, blen - off, MSG_NOSIGNAL);

		if (k <= 0)
			break;
		off += (size_t)k;
	}
out:
	free(body);
}

static void *stub_main(void *arg)
{
	(void)arg;
	for (;;) {
		struct pollfd pf[2] = { { .fd = S.lfd, .events = POLLIN },
					{ .fd = S.stop[0], .events = POLLIN } };
		int fd;

		if (poll(pf, 2, -1) < 0 || pf[1].revents)
			break;
		fd = accept(S.lfd, NULL, NULL);
		if (fd < 0)
			continue;
		stub_serve(fd);
		close(fd);
	}
	return NULL;
}

static int listen_loopback(int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		abort();
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 16) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &al) != 0)
		abort();
	*port = ntohs(a.sin_port);
	return fd;
}

static void stub_start(void)
{
	S.n = 0;
	S.need_token = NULL;
	S.ttl_seen[0] = '\0';
	S.unauthorized = 0;
	S.requests = 0;
	S.lfd = listen_loopback(&S.port);
	if (pipe(S.stop) != 0 || pthread_create(&S.th, NULL, stub_main, NULL) != 0)
		abort();
}

static void stub_stop(void)
{
	if (write(S.stop[1], "x", 1) != 1)
		abort();
	pthread_join(S.th, NULL);
	close(S.stop[0]);
	close(S.stop[1]);
	close(S.lfd);
	for (int i = 0; i < S.n; i++)
		free(S.r[i].body);
	S.n = 0;
}

/* Adds or replaces the answer for method + path. */
static void stub_route(const char *method, const char *path, int status, const char *body,
		       int delay_ms)
{
	struct route *rt = NULL;

	pthread_mutex_lock(&S.mu);
	for (int i = 0; i < S.n; i++)
		if (!strcmp(S.r[i].method, method) && !strcmp(S.r[i].path, path))
			rt = &S.r[i];
	if (!rt) {
		rt = &S.r[S.n++];
		memset(rt, 0, sizeof(*rt));
		snprintf(rt->method, sizeof(rt->method), "%s", method);
		snprintf(rt->path, sizeof(rt->path), "%s", path);
	}
	free(rt->body);
	rt->status = status;
	rt->body = body ? strdup(body) : NULL;
	rt->delay_ms = delay_ms;
	pthread_mutex_unlock(&S.mu);
}

static int stub_hits(const char *method, const char *path)
{
	int h = 0;

	pthread_mutex_lock(&S.mu);
	for (int i = 0; i < S.n; i++)
		if (!strcmp(S.r[i].method, method) && !strcmp(S.r[i].path, path))
			h = S.r[i].hits;
	pthread_mutex_unlock(&S.mu);
	return h;
}

static const char *stub_url(const char *path)
{
	static char url[300];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", S.port, path);
	return url;
}

/* An STS document as the URI and metadata services return it. */
static const char *sts_json(const char *id, const char *secret, const char *token, time_t exp)
{
	static char body[1024];
	char date[21];

	sign_format_date((long long)exp, date);
	snprintf(body, sizeof(body), "{\"Code\":\"Success\",\"AccessKeyId\":\"%s\","
		 "\"AccessKeySecret\":\"%s\",\"SecurityToken\":\"%s\",\"Expiration\":\"%s\","
		 "\"LastUpdated\":\"2023-01-01T00:00:00Z\"}", id, secret, token, date);
	return body;
}

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ======================================================================= environment */

TEST(env_access_key)
{
	struct creds_options o = { 0 };
	struct creds_provider *p;

	fx_begin();
	setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "EnvId", 1);
	setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "Env" SECRET_MARK, 1);
	p = EXPECT_OK(&o, "environment", "EnvId", "Env" SECRET_MARK, NULL);
	CHECK(creds_region(p) == NULL);
	creds_provider_free(p);
	fx_end_free();
}

TEST(env_sts_token_carried)
{
	struct creds_options o = { 0 };

	fx_begin();
	setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "STS.EnvId", 1);
	setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "Env" SECRET_MARK, 1);
	setenv("ALIBABA_CLOUD_SECURITY_TOKEN", "Env" TOKEN_MARK, 1);
	EXPECT_OK_FREE(&o, "environment", "STS.EnvId", "Env" SECRET_MARK, "Env" TOKEN_MARK);
	/* An empty token means none. */
	setenv("ALIBABA_CLOUD_SECURITY_TOKEN", "", 1);
	EXPECT_OK_FREE(&o, "environment", "STS.EnvId", "Env" SECRET_MARK, NULL);
	fx_end_free();
}

TEST(env_wins_over_files)
{
	struct creds_options o = { .profile = "p" };

	fx_begin();
	write_home(".aliyun/config.json", "{\"current\":\"p\",\"profiles\":[{\"name\":\"p\","
		   "\"mode\":\"AK\",\"access_key_id\":\"CliId\",\"access_key_secret\":\"Cli"
		   SECRET_MARK "\"}]}");
	setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "EnvId", 1);
	setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "Env" SECRET_MARK, 1);
	EXPECT_OK_FREE(&o, "environment", "EnvId", "Env" SECRET_MARK, NULL);
	fx_end_free();
}

TEST(env_half_set_goes_on)
{
	struct creds_options o = { 0 };
	char *log;

	fx_begin();
	setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "EnvId", 1);
	EXPECT_FAIL(&o, -ENOENT, "ALIBABA_CLOUD_ACCESS_KEY_SECRET is not set");
	/* a start-up failure is one line: nothing else is logged on the way */
	log = fx_end();
	CHECK_EQ_STR(log, "");
	free(log);
	fx_begin();
	setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "EnvId", 1);
	write_home(".alibabacloud/credentials",
		   "[default]\ntype = access_key\naccess_key_id = IniId\n"
		   "access_key_secret = Ini" SECRET_MARK "\n");
	EXPECT_OK_FREE(&o, "ini:default", "IniId", "Ini" SECRET_MARK, NULL);
	log = fx_end();
	CHECK_CONTAINS(log, "warning: credentials from ini:default (ALIBABA_CLOUD_ACCESS_KEY_ID is "
		       "set but ALIBABA_CLOUD_ACCESS_KEY_SECRET is not set");
	free(log);
}

TEST(nothing_configured)
{
	struct creds_options o = { 0 };

	fx_begin();
	EXPECT_FAIL(&o, -ENOENT, "no credentials found");
	EXPECT_FAIL(NULL, -ENOENT, "ALIBABA_CLOUD_ACCESS_KEY_ID");
	fx_end_free();
}

TEST(oidc_partial_env_noted)
{
	struct creds_options o = { 0 };
	char *log;

	/* All three set but the token file is missing: a broken source, named in the one line. */
	fx_begin();
	setenv("ALIBABA_CLOUD_ROLE_ARN", "acs:ram::1:role/r", 1);
	setenv("ALIBABA_CLOUD_OIDC_PROVIDER_ARN", "acs:ram::1:oidc-provider/p", 1);
	setenv("ALIBABA_CLOUD_OIDC_TOKEN_FILE", "/nonexistent", 1);
	o.sts_endpoint = "http://127.0.0.1:9";	/* never reached: the file is read first */
	EXPECT_FAIL(&o, -EINVAL, "oidc-role-arn: OIDC token file /nonexistent");
	log = fx_end();
	CHECK_EQ_STR(log, "");
	free(log);

	/* Partly set: not a source; a later source answers, with a warning. */
	fx_begin();
	setenv("ALIBABA_CLOUD_ROLE_ARN", "acs:ram::1:role/r", 1);
	setenv("ALIBABA_CLOUD_OIDC_TOKEN_FILE", "/nonexistent", 1);
	write_home(".alibabacloud/credentials",
		   "[default]\ntype=access_key\naccess_key_id=IniId\naccess_key_secret=Ini"
		   SECRET_MARK "\n");
	EXPECT_OK_FREE(&o, "ini:default", "IniId", "Ini" SECRET_MARK, NULL);
	log = fx_end();
	CHECK_CONTAINS(log, "OIDC role: ALIBABA_CLOUD_OIDC_PROVIDER_ARN not set");
	free(log);
}

/* ======================================================================= aliyun CLI config */

static const char cli_two[] =
	"{\"current\":\"second\",\"profiles\":["
	"{\"name\":\"default\",\"mode\":\"AK\",\"access_key_id\":\"DefId\","
	"\"access_key_secret\":\"Def" SECRET_MARK "\",\"region_id\":\"cn-hangzhou\"},"
	"{\"name\":\"second\",\"mode\":\"AK\",\"access_key_id\":\"SecondId\","
	"\"access_key_secret\":\"Second" SECRET_MARK "\",\"region_id\":\"cn-beijing\"},"
	"{\"name\":\"sts\",\"mode\":\"StsToken\",\"access_key_id\":\"STS.Id\","
	"\"access_key_secret\":\"Sts" SECRET_MARK "\",\"sts_token\":\"Sts" TOKEN_MARK "\","
	"\"region_id\":\"cn-shanghai\"}],\"meta_path\":\"\"}";

TEST(cli_current_profile)
{
	struct creds_options o = { 0 };
	struct creds_provider *p;

	fx_begin();
	write_home(".aliyun/config.json", cli_two);
	p = EXPECT_OK(&o, "cli-profile:second", "SecondId", "Second" SECRET_MARK, NULL);
	CHECK_EQ_STR(creds_region(p), "cn-beijing");
	creds_provider_free(p);
	fx_end_free();
}

TEST(cli_profile_precedence)
{
	struct creds_options o = { 0 };

	fx_begin();
	write_home(".aliyun/config.json", cli_two);
	/* ALIBABA_CLOUD_PROFILE beats "current" */
	setenv("ALIBABA_CLOUD_PROFILE", "default", 1);
	EXPECT_OK_FREE(&o, "cli-profile:default", "DefId", "Def" SECRET_MARK, NULL);
	/* the option beats ALIBABA_CLOUD_PROFILE */
	o.profile = "sts";
	EXPECT_OK_FREE(&o, "cli-profile:sts", "STS.Id", "Sts" SECRET_MARK, "Sts" TOKEN_MARK);
	/* an empty option is no option */
	o.profile = "";
	EXPECT_OK_FREE(&o, "cli-profile:default", "DefId", "Def" SECRET_MARK, NULL);
	fx_end_free();
}

TEST(cli_default_when_no_current)
{
	struct creds_options o = { 0 };

	fx_begin();
	write_home(".aliyun/config.json", "{\"profiles\":[{\"name\":\"other\",\"mode\":\"AK\","
		   "\"access_key_id\":\"O\",\"access_key_secret\":\"O" SECRET_MARK "\"},"
		   "{\"name\":\"default\",\"access_key_id\":\"D\",\"access_key_secret\":\"D"
		   SECRET_MARK "\"}]}");
	/* no "current": the "default" profile; no "mode": AK */
	EXPECT_OK_FREE(&o, "cli-profile:default", "D", "D" SECRET_MARK, NULL);
	fx_end_free();
}

TEST(cli_sts_token_mode)
{
	struct creds_options o = { .profile = "sts" };

	fx_begin();
	write_home(".aliyun/config.json", cli_two);
	EXPECT_OK_FREE(&o, "cli-profile:sts", "STS.Id", "Sts" SECRET_MARK, "Sts" TOKEN_MARK);
	write_home(".aliyun/config.json", "{\"current\":\"s\",\"profiles\":[{\"name\":\"s\","
		   "\"mode\":\"StsToken\",\"access_key_id\":\"STS.Id\",\"access_key_secret\":\"S"
		   SECRET_MARK "\",\"sts_token\":\"\"}]}");
	o.profile = NULL;
	EXPECT_FAIL(&o, -EINVAL, "profile s (mode StsToken) has no sts_token");
	fx_end_free();
}

TEST(cli_missing_fields)
{
	struct creds_options o = { 0 };

	fx_begin();
	write_home(".aliyun/config.json", "{\"current\":\"a\",\"profiles\":[{\"name\":\"a\","
		   "\"mode\":\"AK\",\"access_key_id\":\"AId\"}]}");
	EXPECT_FAIL(&o, -EINVAL, "profile a (mode AK) has no access_key_secret");
	write_home(".aliyun/config.json", "{\"current\":\"a\",\"profiles\":[{\"name\":\"a\","
		   "\"mode\":\"AK\",\"access_key_secret\":\"A" SECRET_MARK "\"}]}");
	EXPECT_FAIL(&o, -EINVAL, "has no access_key_id");
	/* wrongly typed fields count as missing */
	write_home(".aliyun/config.json", "{\"current\":\"a\",\"profiles\":[{\"name\":\"a\","
		   "\"mode\":\"AK\",\"access_key_id\":17,\"access_key_secret\":\"A" SECRET_MARK
		   "\"}]}");
	EXPECT_FAIL(&o, -EINVAL, "has no access_key_id");
	fx_end_free();
}

TEST(cli_empty_template_skipped)
{
	/* What `aliyun configure` leaves behind before keys are entered. */
	struct creds_options o = { 0 };

	fx_begin();
	write_home(".aliyun/config.json", "{\"current\":\"\",\"profiles\":[{\"name\":\"default\","
		   "\"mode\":\"AK\",\"access_key_id\":\"\",\"access_key_secret\":\"\","
		   "\"sts_token\":\"\",\"region_id\":\"cn-hangzhou\"}]}");
	EXPECT_FAIL(&o, -ENOENT, "no credentials found");
	write_home(".alibabacloud/credentials", "[default]\ntype = access_key\n"
		   "access_key_id = IniId\naccess_key_secret = Ini" SECRET_MARK "\n");
	EXPECT_OK_FREE(&o, "ini:default", "IniId", "Ini" SECRET_MARK, NULL);
	fx_end_free();
}

TEST(cli_malformed)
{
	struct creds_options o = { 0 };
	char want[600];

	fx_begin();
	write_home(".aliyun/config.json", "{\"current\":\"a\",\"profiles\":[{\"name\":\"a\","
		   "\"access_key_secret\":\"A" SECRET_MARK "\"");
	snprintf(want, sizeof(want), "aliyun CLI config %s: not a valid JSON object",
		 home_file(".aliyun/config.json"));
	EXPECT_FAIL(&o, -EINVAL, want);
	write_home(".aliyun/config.json", "[1,2]");
	EXPECT_FAIL(&o, -EINVAL, "not a valid JSON object");
	write_home(".aliyun/config.json", "{\"profiles\":\"A" SECRET_MARK "\"}");
	EXPECT_FAIL(&o, -EINVAL, "\"profiles\" is not an array");
	write_home(".aliyun/config.json", "");
	EXPECT_FAIL(&o, -EINVAL, "not a valid JSON object");
	/* "current" names a profile that is not there */
	write_home(".aliyun/config.json", "{\"current\":\"gone\",\"profiles\":[]}");
	EXPECT_FAIL(&o, -EINVAL, "the current profile \"gone\" is not in \"profiles\"");
	fx_end_free();
}

TEST(cli_unsupported_modes)
{
	static const char *const modes[] = { "CloudSSO", "External", "OAuth", "Bogus" };
	struct creds_options o = { 0 };

	fx_begin();
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		char cfg[512], want[256];

		snprintf(cfg, sizeof(cfg), "{\"current\":\"r\",\"profiles\":[{\"name\":\"r\","
			 "\"mode\":\"%s\",\"access_key_id\":\"I\",\"access_key_secret\":\"S"
			 SECRET_MARK "\",\"ram_role_arn\":\"acs:ram::1:role/x\"}]}", modes[i]);
		write_home(".aliyun/config.json", cfg);
		snprintf(want, sizeof(want), "profile r uses mode %s, which dswfs does not support",
			 modes[i]);
		EXPECT_FAIL(&o, -EINVAL, want);
	}
	fx_end_free();
}

TEST(cli_disabled_switch)
{
	struct creds_options o = { 0 };

	fx_begin();
	write_home(".aliyun/config.json", cli_two);
	write_home(".alibabacloud/credentials", "[default]\ntype = access_key\n"
		   "access_key_id = IniId\naccess_key_secret = Ini" SECRET_MARK "\n");
	EXPECT_OK_FREE(&o, "cli-profile:second", "SecondId", "Second" SECRET_MARK, NULL);
	setenv("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "true", 1);
	EXPECT_OK_FREE(&o, "ini:default", "IniId", "Ini" SECRET_MARK, NULL);
	setenv("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "TRUE", 1);
	EXPECT_OK_FREE(&o, "ini:default", "IniId", "Ini" SECRET_MARK, NULL);
	setenv("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "false", 1);
	EXPECT_OK_FREE(&o, "cli-profile:second", "SecondId", "Second" SECRET_MARK, NULL);
	/* a broken config.json does not matter when disabled */
	write_home(".aliyun/config.json", "{broken");
	setenv("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "true", 1);
	EXPECT_OK_FREE(&o, "ini:default", "IniId", "Ini" SECRET_MARK, NULL);
	fx_end_free();
}

TEST(cli_config_file_variable)
{
	struct creds_options o = { 0 };
	char path[600];

	fx_begin();
	write_home("elsewhere/cfg.json", cli_two);
	snprintf(path, sizeof(path), "%s", home_file("elsewhere/cfg.json"));
	setenv("ALIBABA_CLOUD_CONFIG_FILE", path, 1);
	EXPECT_OK_FREE(&o, "cli-profile:second", "SecondId", "Second" SECRET_MARK, NULL);
	snprintf(path, sizeof(path), "%s", home_file("elsewhere/missing.json"));
	setenv("ALIBABA_CLOUD_CONFIG_FILE", path, 1);
	EXPECT_FAIL(&o, -EINVAL, "ALIBABA_CLOUD_CONFIG_FILE names");
	fx_end_free();
}

TEST(cli_ecs_mode_needs_option)
{
	struct creds_options o = { 0 };

	fx_begin();
	write_home(".aliyun/config.json", "{\"current\":\"e\",\"profiles\":[{\"name\":\"e\","
		   "\"mode\":\"EcsRamRole\",\"ram_role_name\":\"r\"}]}");
	EXPECT_FAIL(&o, -EINVAL, "profile e uses mode EcsRamRole");
	EXPECT_FAIL(&o, -EINVAL, "-o ecs_role");
	o.ecs_role = true;
	setenv("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true", 1);
	EXPECT_FAIL(&o, -EINVAL, "ALIBABA_CLOUD_ECS_METADATA_DISABLED");
	fx_end_free();
}

TEST(cli_ecs_and_uri_modes)
{
	struct creds_options o = { .ecs_role = true, .now = fake_now, .timeout_ms = SLOW_OK_MS };
	char cfg[1024], base[128];
	struct creds_provider *p;

	fx_begin();
	stub_start();
	snprintf(base, sizeof(base), "http://127.0.0.1:%d/", S.port);	/* trailing '/' is fine */
	o.ecs_endpoint = base;
	stub_route("PUT", "/latest/api/token", 200, "tok" TOKEN_MARK, 0);
	stub_route("GET", "/latest/meta-data/ram/security-credentials/cli-role", 200,
		   sts_json("STS.Ecs", "Ecs" SECRET_MARK, "Ecs" TOKEN_MARK, fake_now() + 3600), 0);
	stub_route("GET", "/creds", 200,
		   sts_json("STS.Uri", "Uri" SECRET_MARK, "Uri" TOKEN_MARK, fake_now() + 3600), 0);
	snprintf(cfg, sizeof(cfg), "{\"current\":\"e\",\"profiles\":["
		 "{\"name\":\"e\",\"mode\":\"EcsRamRole\",\"ram_role_name\":\"cli-role\","
		 "\"region_id\":\"cn-shenzhen\"},"
		 "{\"name\":\"u\",\"mode\":\"CredentialsURI\",\"credentials_uri\":\"%s\"},"
		 "{\"name\":\"nouri\",\"mode\":\"CredentialsURI\"}]}", stub_url("/creds"));
	write_home(".aliyun/config.json", cfg);
	p = EXPECT_OK(&o, "cli-profile:e/ecs-ram-role:cli-role", "STS.Ecs", "Ecs" SECRET_MARK,
		      "Ecs" TOKEN_MARK);
	CHECK_EQ_STR(creds_region(p), "cn-shenzhen");
	creds_provider_free(p);
	/* the role list was not needed: the profile names the role */
	CHECK_EQ_INT(stub_hits("GET", "/latest/meta-data/ram/security-credentials/"), 0);
	o.profile = "u";
	EXPECT_OK_FREE(&o, "cli-profile:u/credentials-uri", "STS.Uri", "Uri" SECRET_MARK,
		       "Uri" TOKEN_MARK);
	o.profile = "nouri";
	EXPECT_FAIL(&o, -EINVAL, "profile nouri (mode CredentialsURI) has no credentials_uri");
	/* the credentials file's ecs_ram_role type */
	unlink(home_file(".aliyun/config.json"));
	o.profile = NULL;
	write_home(".alibabacloud/credentials", "[default]\ntype = ecs_ram_role\n"
		   "role_name = cli-role\n");
	EXPECT_OK_FREE(&o, "ini:default/ecs-ram-role:cli-role", "STS.Ecs", "Ecs" SECRET_MARK,
		       "Ecs" TOKEN_MARK);
	stub_stop();
	fx_end_free();
}

TEST(profile_not_found_anywhere)
{
	struct creds_options o = { .profile = "nope" };

	fx_begin();
	write_home(".aliyun/config.json", cli_two);
	write_home(".alibabacloud/credentials", "[default]\ntype = access_key\n"
		   "access_key_id = IniId\naccess_key_secret = Ini" SECRET_MARK "\n");
	EXPECT_FAIL(&o, -ENOENT, "profile nope not found in");
	/* the CLI lacks it but the INI file has it */
	write_home(".alibabacloud/credentials", "[nope]\ntype = access_key\n"
		   "access_key_id = NopeId\naccess_key_secret = Nope" SECRET_MARK "\n");
	EXPECT_OK_FREE(&o, "ini:nope", "NopeId", "Nope" SECRET_MARK, NULL);
	fx_end_free();
}

/* ======================================================================= credentials INI */

TEST(ini_default_and_profiles)
{
	struct creds_options o = { 0 };

	fx_begin();
	write_home(".alibabacloud/credentials",
		   "; comment\n# another\n\n"
		   "[default]\r\n"
		   "  type = access_key  \r\n"
		   "access_key_id=DefId\r\n"
		   "access_key_secret = \"Def" SECRET_MARK "\"   ; trailing comment\r\n"
		   "[ other ]\n"
		   "type = access_key\n"
		   "access_key_id = 'OtherId'\n"
		   "access_key_secret = Other" SECRET_MARK "#notacomment\n"
		   "[disabled]\nenable = false\ntype = access_key\naccess_key_id = X\n"
		   "access_key_secret = X" SECRET_MARK "\n");
	EXPECT_OK_FREE(&o, "ini:default", "DefId", "Def" SECRET_MARK, NULL);
	setenv("ALIBABA_CLOUD_PROFILE", "other", 1);
	EXPECT_OK_FREE(&o, "ini:other", "OtherId", "Other" SECRET_MARK "#notacomment", NULL);
	o.profile = "default";
	EXPECT_OK_FREE(&o, "ini:default", "DefId", "Def" SECRET_MARK, NULL);
	o.profile = "disabled";
	EXPECT_FAIL(&o, -ENOENT, "profile disabled not found");
	fx_end_free();
}

TEST(ini_errors)
{
	struct creds_options o = { 0 };

	fx_begin();
	write_home(".alibabacloud/credentials", "[default]\ntype = ram_role_arn\n"
		   "access_key_id = I\naccess_key_secret = S" SECRET_MARK "\n");
	EXPECT_FAIL(&o, -EINVAL, "section [default] has no role ARN");
	write_home(".alibabacloud/credentials", "[default]\ntype = ecs_ram_role\n");
	EXPECT_FAIL(&o, -EINVAL, "has type ecs_ram_role, which needs the ECS RAM role source: add "
		    "-o ecs_role");
	write_home(".alibabacloud/credentials", "[default]\ntype = rsa_key_pair\n");
	EXPECT_FAIL(&o, -EINVAL, "has type rsa_key_pair, which dswfs does not support");
	write_home(".alibabacloud/credentials", "[default]\naccess_key_id = I\n"
		   "access_key_secret = S" SECRET_MARK "\n");
	EXPECT_FAIL(&o, -EINVAL, "section [default] has no type");
	write_home(".alibabacloud/credentials", "[default]\ntype = access_key\n"
		   "access_key_id = I\n");
	EXPECT_FAIL(&o, -EINVAL, "has no access_key_secret");
	write_home(".alibabacloud/credentials", "[default]\ntype = access_key\n"
		   "access_key_secret = S" SECRET_MARK "\n");
	EXPECT_FAIL(&o, -EINVAL, "has no access_key_id");
	write_home(".alibabacloud/credentials", "[default]\ntype = access_key\n"
		   "S" SECRET_MARK "\n");
	EXPECT_FAIL(&o, -EINVAL, "line 3 is neither [section] nor key = value");
	write_home(".alibabacloud/credentials", "[default\ntype = access_key\n");
	EXPECT_FAIL(&o, -EINVAL, "line 1");
	/* a file without the section: the chain goes on */
	write_home(".alibabacloud/credentials", "[other]\ntype = access_key\n");
	EXPECT_FAIL(&o, -ENOENT, "no credentials found");
	fx_end_free();
}

TEST(ini_file_variable)
{
	struct creds_options o = { 0 };
	char path[600];

	fx_begin();
	write_home("x/creds.ini", "[default]\ntype = access_key\naccess_key_id = XId\n"
		   "access_key_secret = X" SECRET_MARK "\n");
	snprintf(path, sizeof(path), "%s", home_file("x/creds.ini"));
	setenv("ALIBABA_CLOUD_CREDENTIALS_FILE", path, 1);
	EXPECT_OK_FREE(&o, "ini:default", "XId", "X" SECRET_MARK, NULL);
	setenv("ALIBABA_CLOUD_CREDENTIALS_FILE", "/nonexistent/dswfs/creds", 1);
	EXPECT_FAIL(&o, -EINVAL, "ALIBABA_CLOUD_CREDENTIALS_FILE names /nonexistent/dswfs/creds");
	fx_end_free();
}

TEST(cli_beats_ini)
{
	struct creds_options o = { 0 };

	fx_begin();
	write_home(".aliyun/config.json", cli_two);
	write_home(".alibabacloud/credentials", "[second]\ntype = access_key\n"
		   "access_key_id = IniId\naccess_key_secret = Ini" SECRET_MARK "\n");
	o.profile = "second";
	EXPECT_OK_FREE(&o, "cli-profile:second", "SecondId", "Second" SECRET_MARK, NULL);
	fx_end_free();
}

/* ======================================================================= default region */

TEST(default_region)
{
	char *r;

	fx_begin();
	CHECK(creds_default_region(NULL) == NULL);
	write_home(".aliyun/config.json", cli_two);
	r = creds_default_region(NULL);		/* current = second */
	CHECK_EQ_STR(r, "cn-beijing");
	free(r);
	r = creds_default_region("sts");
	CHECK_EQ_STR(r, "cn-shanghai");
	free(r);
	setenv("ALIBABA_CLOUD_PROFILE", "default", 1);
	r = creds_default_region(NULL);
	CHECK_EQ_STR(r, "cn-hangzhou");
	free(r);
	r = creds_default_region("missing");
	CHECK(r == NULL);
	free(r);
	setenv("ALIBABA_CLOUD_REGION_ID", "ap-southeast-1", 1);
	r = creds_default_region("sts");
	CHECK_EQ_STR(r, "ap-southeast-1");
	free(r);
	/* credentials from elsewhere: the region still comes from the CLI profile */
	unsetenv("ALIBABA_CLOUD_REGION_ID");
	setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "E", 1);
	setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "E" SECRET_MARK, 1);
	r = creds_default_region(NULL);
	CHECK_EQ_STR(r, "cn-hangzhou");
	free(r);
	write_home(".aliyun/config.json", "{bad json");
	CHECK(creds_default_region(NULL) == NULL);
	fx_end_free();
}

TEST(clear_is_safe)
{
	struct creds c;

	memset(&c, 0, sizeof(c));
	creds_clear(&c);
	creds_clear(NULL);
	creds_provider_free(NULL);
	CHECK(c.access_key_id == NULL);
	CHECK_EQ_STR(creds_source(NULL), "none");
	CHECK(creds_region(NULL) == NULL);
}

/* ======================================================================= credentials URI */

TEST(uri_success_and_expiry_refresh)
{
	struct creds_options o = { .now = fake_now, .timeout_ms = SLOW_OK_MS };
	struct creds_provider *p;
	struct creds c;
	char err[256];
	time_t t0 = T0;

	fx_begin();
	stub_start();
	stub_route("GET", "/sts", 200, sts_json("STS.One", "One" SECRET_MARK, "One" TOKEN_MARK,
						t0 + 3600), 0);
	setenv("ALIBABA_CLOUD_CREDENTIALS_URI", stub_url("/sts"), 1);
	p = EXPECT_OK(&o, "credentials-uri", "STS.One", "One" SECRET_MARK, "One" TOKEN_MARK);
	CHECK_EQ_INT(stub_hits("GET", "/sts"), 1);
	if (!p)
		goto out;
	CHECK_EQ_INT(creds_get(p, &c, err, sizeof(err)), 0);
	CHECK_EQ_INT(c.expiration, t0 + 3600);
	creds_clear(&c);

	/* 181 s left: no refresh */
	stub_route("GET", "/sts", 200, sts_json("STS.Two", "Two" SECRET_MARK, "Two" TOKEN_MARK,
						t0 + 7200), 0);
	set_now(t0 + 3600 - 181);
	CHECK_EQ_INT(creds_get(p, &c, err, sizeof(err)), 0);
	CHECK_EQ_STR(c.access_key_id, "STS.One");
	creds_clear(&c);
	CHECK_EQ_INT(stub_hits("GET", "/sts"), 1);

	/* 180 s left: refreshed */
	set_now(t0 + 3600 - 180);
	CHECK_EQ_INT(creds_get(p, &c, err, sizeof(err)), 0);
	CHECK_EQ_STR(c.access_key_id, "STS.Two");
	CHECK_EQ_STR(c.access_key_secret, "Two" SECRET_MARK);
	CHECK_EQ_STR(c.security_token, "Two" TOKEN_MARK);
	CHECK_EQ_INT(c.expiration, t0 + 7200);
	creds_clear(&c);
	CHECK_EQ_INT(stub_hits("GET", "/sts"), 2);
	CHECK_EQ_INT(creds_get(p, &c, err, sizeof(err)), 0);
	creds_clear(&c);
	CHECK_EQ_INT(stub_hits("GET", "/sts"), 2);
	creds_provider_free(p);
out:
	stub_stop();
	fx_end_free();
}

TEST(uri_refresh_failure_keeps_valid_creds)
{
	struct creds_options o = { .now = fake_now, .timeout_ms = SLOW_OK_MS };
	struct creds_provider *p = NULL;
	struct creds c;
	char err[256] = "";
	time_t t0 = T0;
	char *log;

	fx_begin();
	stub_start();
	stub_route("GET", "/sts", 200, sts_json("STS.One", "One" SECRET_MARK, "One" TOKEN_MARK,
						t0 + 3600), 0);
	setenv("ALIBABA_CLOUD_CREDENTIALS_URI", stub_url("/sts"), 1);
	CHECK_EQ_INT(creds_provider_new(&o, &p, err, sizeof(err)), 0);
	if (!p)
		goto out;
	stub_route("GET", "/sts", 500, "{\"Code\":\"InternalError\"}", 0);
	/* 100 s left and the source fails: the old creds are still good */
	set_now(t0 + 3500);
	CHECK_EQ_INT(creds_get(p, &c, err, sizeof(err)), 0);
	CHECK_EQ_STR(c.access_key_id, "STS.One");
	creds_clear(&c);
	CHECK_EQ_INT(stub_hits("GET", "/sts"), 2);
	/* no new attempt for a while */
	set_now(t0 + 3505);
	CHECK_EQ_INT(creds_get(p, &c, err, sizeof(err)), 0);
	creds_clear(&c);
	CHECK_EQ_INT(stub_hits("GET", "/sts"), 2);
	/* expired: the error comes through */
	set_now(t0 + 3600);
	CHECK_EQ_INT(creds_get(p, &c, err, sizeof(err)), -EIO);
	CHECK(c.access_key_id == NULL);
	CHECK_CONTAINS(err, "HTTP 500");
	CHECK_NO_SECRET(err);
	CHECK_EQ_INT(stub_hits("GET", "/sts"), 3);
	/* the source recovers */
	stub_route("GET", "/sts", 200, sts_json("STS.Three", "3" SECRET_MARK, "3" TOKEN_MARK,
						t0 + 9000), 0);
	CHECK_EQ_INT(creds_get(p, &c, err, sizeof(err)), 0);
	CHECK_EQ_STR(c.access_key_id, "STS.Three");
	creds_clear(&c);
	creds_provider_free(p);
out:
	stub_stop();
	log = fx_end();
	CHECK_CONTAINS(log, "refreshing credentials failed");
	free(log);
}

TEST(uri_server_errors)
{
	struct creds_options o = { .now = fake_now, .timeout_ms = SLOW_OK_MS };
	time_t t0 = T0;
	char big[100 * 1024];

	fx_begin();
	stub_start();
	setenv("ALIBABA_CLOUD_CREDENTIALS_URI", stub_url("/sts"), 1);
	stub_route("GET", "/sts", 500, "{}", 0);
	EXPECT_FAIL(&o, -EIO, "HTTP 500");
	stub_route("GET", "/sts", 403, "{}", 0);
	EXPECT_FAIL(&o, -EACCES, "HTTP 403");
	stub_route("GET", "/sts", 200, "{\"AccessKeyId\":\"I\",\"AccessKeySecret\":\"S"
		   SECRET_MARK "\",", 0);
	EXPECT_FAIL(&o, -EIO, "not a JSON object");
	stub_route("GET", "/sts", 200, "{\"AccessKeyId\":\"I\",\"AccessKeySecret\":\"S"
		   SECRET_MARK "\",\"Expiration\":\"2030-01-01T00:00:00Z\"}", 0);
	EXPECT_FAIL(&o, -EIO, "the response has no SecurityToken");
	stub_route("GET", "/sts", 200, "{\"AccessKeyId\":\"I\",\"AccessKeySecret\":\"S"
		   SECRET_MARK "\",\"SecurityToken\":\"T" TOKEN_MARK "\",\"Expiration\":\"soon\"}",
		   0);
	EXPECT_FAIL(&o, -EIO, "Expiration is not an ISO 8601 UTC time");
	stub_route("GET", "/sts", 200, "{\"Code\":\"Failed\",\"AccessKeyId\":\"I\"}", 0);
	EXPECT_FAIL(&o, -EIO, "Code Failed");
	stub_route("GET", "/sts", 200, "{\"AccessKeyId\":5,\"AccessKeySecret\":\"S"
		   SECRET_MARK "\"}", 0);
	EXPECT_FAIL(&o, -EIO, "has no AccessKeyId");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	stub_route("GET", "/sts", 200, big, 0);
	EXPECT_FAIL(&o, -EIO, "larger than 64 KiB");
	/* 404 on another path */
	setenv("ALIBABA_CLOUD_CREDENTIALS_URI", stub_url("/missing?token=" TOKEN_MARK), 1);
	EXPECT_FAIL(&o, -EIO, "HTTP 404");
	/* Expiration with an offset and a fraction */
	setenv("ALIBABA_CLOUD_CREDENTIALS_URI", stub_url("/sts"), 1);
	stub_route("GET", "/sts", 200, "{\"AccessKeyId\":\"I\",\"AccessKeySecret\":\"S"
		   SECRET_MARK "\",\"SecurityToken\":\"T" TOKEN_MARK "\","
		   "\"Expiration\":\"2023-11-15T00:13:20.123+01:00\"}", 0);
	{
		struct creds_provider *p = EXPECT_OK(&o, "credentials-uri", "I", "S" SECRET_MARK,
						     "T" TOKEN_MARK);
		struct creds c;
		char err[128];

		if (p && creds_get(p, &c, err, sizeof(err)) == 0) {
			CHECK_EQ_INT(c.expiration, t0 + 3600);	/* 2023-11-14T23:13:20Z */
			creds_clear(&c);
		}
		creds_provider_free(p);
	}
	stub_stop();
	fx_end_free();
}

TEST(uri_redacted_in_messages)
{
	struct creds_options o = { .timeout_ms = SLOW_OK_MS };
	char url[300], err[512] = "";
	struct creds_provider *p = NULL;

	fx_begin();
	stub_start();
	stub_route("GET", "/x", 500, "", 0);
	snprintf(url, sizeof(url), "http://user:pass%s@127.0.0.1:%d/x?sig=%s", TOKEN_MARK, S.port,
		 TOKEN_MARK);
	setenv("ALIBABA_CLOUD_CREDENTIALS_URI", url, 1);
	CHECK_EQ_INT(creds_provider_new(&o, &p, err, sizeof(err)), -EIO);
	CHECK_NO_SECRET(err);
	CHECK(!strstr(err, "pass"));
	CHECK_CONTAINS(err, "http://127.0.0.1:");
	CHECK_CONTAINS(err, "/...");
	stub_stop();
	fx_end_free();
}

TEST(uri_timeout_bounded)
{
	struct creds_options o = { .timeout_ms = 300 };
	double t;

	fx_begin();
	stub_start();
	stub_route("GET", "/slow", 200, sts_json("I", "S" SECRET_MARK, "T" TOKEN_MARK,
						 fake_now() + 3600), 10000);
	setenv("ALIBABA_CLOUD_CREDENTIALS_URI", stub_url("/slow"), 1);
	t = mono();
	EXPECT_FAIL(&o, -ETIMEDOUT, "no answer within 300 ms");
	t = mono() - t;
	if (t > 3.0)
		tf_fail(__FILE__, __LINE__, "the timeout took %.2f s", t);
	stub_stop();
	fx_end_free();
}

TEST(uri_connection_refused)
{
	struct creds_options o = { .timeout_ms = SLOW_OK_MS };
	char url[100];
	int port, fd = listen_loopback(&port);

	close(fd);	/* nothing listens there now */
	fx_begin();
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/sts", port);
	setenv("ALIBABA_CLOUD_CREDENTIALS_URI", url, 1);
	EXPECT_FAIL(&o, -EIO, "credentials URI http://127.0.0.1:");
	setenv("ALIBABA_CLOUD_CREDENTIALS_URI", "file:///etc/passwd", 1);
	EXPECT_FAIL(&o, -EIO, "credentials URI file://");
	fx_end_free();
}

/* ======================================================================= ECS RAM role */

static void ecs_routes(time_t exp)
{
	S.need_token = "imds" TOKEN_MARK;
	stub_route("PUT", "/latest/api/token", 200, "imds" TOKEN_MARK, 0);
	stub_route("GET", "/latest/meta-data/ram/security-credentials/", 200, "my-role\n", 0);
	stub_route("GET", "/latest/meta-data/ram/security-credentials/my-role", 200,
		   sts_json("STS.Ecs", "Ecs" SECRET_MARK, "Ecs" TOKEN_MARK, exp), 0);
}

TEST(ecs_off_unless_enabled)
{
	struct creds_options o = { .timeout_ms = SLOW_OK_MS };
	char base[64];

	fx_begin();
	stub_start();
	ecs_routes(fake_now() + 3600);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", S.port);
	o.ecs_endpoint = base;
	EXPECT_FAIL(&o, -ENOENT, "no credentials found");
	o.ecs_role = true;
	setenv("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true", 1);
	EXPECT_FAIL(&o, -ENOENT, "no credentials found");
	pthread_mutex_lock(&S.mu);
	CHECK_EQ_INT(S.requests, 0);
	pthread_mutex_unlock(&S.mu);
	stub_stop();
	fx_end_free();
}

TEST(ecs_imdsv2_flow_and_refresh)
{
	struct creds_options o = { .ecs_role = true, .now = fake_now, .timeout_ms = SLOW_OK_MS };
	struct creds_provider *p;
	struct creds c;
	char base[64], err[256];
	time_t t0 = T0;

	fx_begin();
	stub_start();
	ecs_routes(t0 + 21600);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", S.port);
	o.ecs_endpoint = base;
	p = EXPECT_OK(&o, "ecs-ram-role:my-role", "STS.Ecs", "Ecs" SECRET_MARK, "Ecs" TOKEN_MARK);
	CHECK_EQ_INT(stub_hits("PUT", "/latest/api/token"), 1);
	CHECK_EQ_INT(stub_hits("GET", "/latest/meta-data/ram/security-credentials/"), 1);
	CHECK_EQ_INT(stub_hits("GET", "/latest/meta-data/ram/security-credentials/my-role"), 1);
	CHECK_EQ_STR(S.ttl_seen, "21600");
	CHECK_EQ_INT(S.unauthorized, 0);
	if (!p)
		goto out;
	/* refresh near expiry: a new token, the same role (no new listing) */
	stub_route("GET", "/latest/meta-data/ram/security-credentials/my-role", 200,
		   sts_json("STS.Ecs2", "Ecs2" SECRET_MARK, "Ecs2" TOKEN_MARK, t0 + 43200), 0);
	set_now(t0 + 21600 - 60);
	CHECK_EQ_INT(creds_get(p, &c, err, sizeof(err)), 0);
	CHECK_EQ_STR(c.access_key_id, "STS.Ecs2");
	CHECK_EQ_STR(c.security_token, "Ecs2" TOKEN_MARK);
	creds_clear(&c);
	CHECK_EQ_INT(stub_hits("PUT", "/latest/api/token"), 2);
	CHECK_EQ_INT(stub_hits("GET", "/latest/meta-data/ram/security-credentials/"), 1);
	CHECK_EQ_INT(S.unauthorized, 0);
	creds_provider_free(p);
out:
	stub_stop();
	fx_end_free();
}

TEST(ecs_role_from_env)
{
	struct creds_options o = { .ecs_role = true, .timeout_ms = SLOW_OK_MS };
	char base[64];

	fx_begin();
	stub_start();
	ecs_routes(fake_now() + 3600);
	stub_route("GET", "/latest/meta-data/ram/security-credentials/env-role", 200,
		   sts_json("STS.Env", "E" SECRET_MARK, "E" TOKEN_MARK, fake_now() + 3600), 0);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", S.port);
	o.ecs_endpoint = base;
	setenv("ALIBABA_CLOUD_ECS_METADATA", "env-role", 1);
	EXPECT_OK_FREE(&o, "ecs-ram-role:env-role", "STS.Env", "E" SECRET_MARK, "E" TOKEN_MARK);
	CHECK_EQ_INT(stub_hits("GET", "/latest/meta-data/ram/security-credentials/"), 0);
	stub_stop();
	fx_end_free();
}

TEST(ecs_default_timeout_is_one_second)
{
	struct creds_options o = { .ecs_role = true };
	char base[64];
	double t;

	fx_begin();
	stub_start();
	ecs_routes(fake_now() + 3600);
	stub_route("PUT", "/latest/api/token", 200, "imds" TOKEN_MARK, 20000);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", S.port);
	o.ecs_endpoint = base;
	t = mono();
	EXPECT_FAIL(&o, -ETIMEDOUT, "no answer within 1000 ms");
	t = mono() - t;
	if (t < 0.9 || t > 4.0)
		tf_fail(__FILE__, __LINE__, "the default timeout took %.2f s", t);
	stub_stop();
	fx_end_free();
}

TEST(ecs_imdsv1_fallback)
{
	struct creds_options o = { .ecs_role = true, .timeout_ms = SLOW_OK_MS };
	char base[64];

	fx_begin();
	stub_start();
	ecs_routes(fake_now() + 3600);
	S.need_token = NULL;
	stub_route("PUT", "/latest/api/token", 403, "", 0);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", S.port);
	o.ecs_endpoint = base;
	EXPECT_OK_FREE(&o, "ecs-ram-role:my-role", "STS.Ecs", "Ecs" SECRET_MARK, "Ecs" TOKEN_MARK);
	setenv("ALIBABA_CLOUD_IMDSV1_DISABLED", "true", 1);
	EXPECT_FAIL(&o, -EACCES, "no IMDSv2 token (HTTP 403)");
	stub_stop();
	fx_end_free();
}

TEST(ecs_errors)
{
	struct creds_options o = { .ecs_role = true, .timeout_ms = SLOW_OK_MS };
	char base[64];
	double t;

	fx_begin();
	stub_start();
	ecs_routes(fake_now() + 3600);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", S.port);
	o.ecs_endpoint = base;
	/* no role attached */
	stub_route("GET", "/latest/meta-data/ram/security-credentials/", 404, "", 0);
	EXPECT_FAIL(&o, -EIO, "listing RAM roles gave HTTP 404");
	stub_route("GET", "/latest/meta-data/ram/security-credentials/", 200, "\n", 0);
	EXPECT_FAIL(&o, -EIO, "no RAM role is attached");
	/* the role's document is broken */
	stub_route("GET", "/latest/meta-data/ram/security-credentials/", 200, "my-role", 0);
	stub_route("GET", "/latest/meta-data/ram/security-credentials/my-role", 200,
		   "{\"Code\":\"Success\",\"AccessKeyId\":\"I\"}", 0);
	EXPECT_FAIL(&o, -EIO, "(RAM role my-role): the response has no AccessKeySecret");
	stub_route("GET", "/latest/meta-data/ram/security-credentials/my-role", 500, "", 0);
	EXPECT_FAIL(&o, -EIO, "credentials for RAM role my-role gave HTTP 500");
	/* a wrong token is refused */
	stub_route("GET", "/latest/meta-data/ram/security-credentials/my-role", 200,
		   sts_json("I", "S" SECRET_MARK, "T" TOKEN_MARK, fake_now() + 3600), 0);
	stub_route("PUT", "/latest/api/token", 200, "other" TOKEN_MARK, 0);
	EXPECT_FAIL(&o, -EACCES, "HTTP 401");
	/* a metadata service that never answers: bounded by the timeout */
	o.timeout_ms = 300;
	stub_route("PUT", "/latest/api/token", 200, "imds" TOKEN_MARK, 20000);
	t = mono();
	EXPECT_FAIL(&o, -ETIMEDOUT, "ECS metadata service http://127.0.0.1:");
	t = mono() - t;
	if (t > 3.0)
		tf_fail(__FILE__, __LINE__, "the timeout took %.2f s", t);
	stub_stop();
	fx_end_free();
}

TEST(ecs_failure_falls_to_uri)
{
	struct creds_options o = { .ecs_role = true, .timeout_ms = SLOW_OK_MS };
	char base[64];
	int port, fd = listen_loopback(&port);
	char *log;

	close(fd);
	fx_begin();
	stub_start();
	stub_route("GET", "/sts", 200, sts_json("STS.Uri", "U" SECRET_MARK, "U" TOKEN_MARK,
						fake_now() + 3600), 0);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", port);
	o.ecs_endpoint = base;
	EXPECT_FAIL(&o, -EIO, "ECS metadata service http://127.0.0.1:");
	setenv("ALIBABA_CLOUD_CREDENTIALS_URI", stub_url("/sts"), 1);
	EXPECT_OK_FREE(&o, "credentials-uri", "STS.Uri", "U" SECRET_MARK, "U" TOKEN_MARK);
	/* both fail: one message with both reasons */
	stub_route("GET", "/sts", 500, "", 0);
	EXPECT_FAIL(&o, -EIO, "ecs-ram-role: ECS metadata service http://127.0.0.1:");
	EXPECT_FAIL(&o, -EIO, "credentials-uri: credentials URI http://127.0.0.1:");
	EXPECT_FAIL(&o, -EIO, "/...: HTTP 500");
	stub_stop();
	log = fx_end();
	CHECK_CONTAINS(log, "credentials from credentials-uri (skipped ecs-ram-role (ECS "
		       "metadata service http://127.0.0.1:");
	free(log);
}

TEST(ecs_before_uri)
{
	/* Both configured: the facts' order puts the ECS role first. */
	struct creds_options o = { .ecs_role = true, .timeout_ms = SLOW_OK_MS };
	char base[64];

	fx_begin();
	stub_start();
	ecs_routes(fake_now() + 3600);
	stub_route("GET", "/sts", 200, sts_json("STS.Uri", "U" SECRET_MARK, "U" TOKEN_MARK,
						fake_now() + 3600), 0);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", S.port);
	o.ecs_endpoint = base;
	setenv("ALIBABA_CLOUD_CREDENTIALS_URI", stub_url("/sts"), 1);
	EXPECT_OK_FREE(&o, "ecs-ram-role:my-role", "STS.Ecs", "Ecs" SECRET_MARK, "Ecs" TOKEN_MARK);
	CHECK_EQ_INT(stub_hits("GET", "/sts"), 0);
	/* ...and files before both */
	write_home(".alibabacloud/credentials", "[default]\ntype = access_key\n"
		   "access_key_id = IniId\naccess_key_secret = Ini" SECRET_MARK "\n");
	EXPECT_OK_FREE(&o, "ini:default", "IniId", "Ini" SECRET_MARK, NULL);
	stub_stop();
	fx_end_free();
}

/* ======================================================================= threads */

struct worker {
	struct creds_provider *p;
	int calls, errors, mismatches;
};

static int workers_stop;

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	while (!__atomic_load_n(&workers_stop, __ATOMIC_SEQ_CST)) {
		struct creds c;
		char err[256];

		__atomic_add_fetch(&w->calls, 1, __ATOMIC_SEQ_CST);
		if (creds_get(w->p, &c, err, sizeof(err)) != 0) {
			w->errors++;
			continue;
		}
		/* id "STS.<n>" always pairs with secret "<n>Sekr1t": never a torn mix */
		if (strncmp(c.access_key_id, "STS.", 4) != 0 ||
		    strncmp(c.access_key_secret, c.access_key_id + 4,
			    strlen(c.access_key_id + 4)) != 0)
			w->mismatches++;
		creds_clear(&c);
		usleep(100);	/* leave the CPU to the refresher (valgrind runs one thread at once) */
	}
	return NULL;
}

TEST(concurrent_get_with_refreshes)
{
	struct creds_options o = { .now = fake_now, .timeout_ms = SLOW_OK_MS };
	struct creds_provider *p = NULL;
	struct worker w[6];
	pthread_t th[6];
	char err[256];
	time_t t0 = T0;

	fx_begin();
	stub_start();
	stub_route("GET", "/sts", 200, sts_json("STS.0", "0" SECRET_MARK, "0" TOKEN_MARK,
						t0 + 3600), 0);
	setenv("ALIBABA_CLOUD_CREDENTIALS_URI", stub_url("/sts"), 1);
	CHECK_EQ_INT(creds_provider_new(&o, &p, err, sizeof(err)), 0);
	if (!p)
		goto out;
	__atomic_store_n(&workers_stop, 0, __ATOMIC_SEQ_CST);
	for (int i = 0; i < 6; i++) {
		w[i].p = p;
		w[i].calls = w[i].errors = w[i].mismatches = 0;
		pthread_create(&th[i], NULL, worker_main, &w[i]);
	}
	/* Move the clock into the refresh window a few times while the workers run. */
	for (int round = 1; round <= 3; round++) {
		char id[16], secret[32], token[32];

		snprintf(id, sizeof(id), "STS.%d", round);
		snprintf(secret, sizeof(secret), "%d" SECRET_MARK, round);
		snprintf(token, sizeof(token), "%d" TOKEN_MARK, round);
		stub_route("GET", "/sts", 200, sts_json(id, secret, token,
							t0 + 3600 * (round + 1)), 0);
		set_now(t0 + 3600 * round - 100);
		/* Wait until a worker's refresh has landed (slow under valgrind) before the next
		 * round: creds that arrive already inside the refresh window are not refetched
		 * for a while. */
		for (int i = 0; i < 5000; i++) {
			struct creds c;
			bool done;

			if (creds_get(p, &c, err, sizeof(err)) != 0)
				break;
			done = strcmp(c.access_key_id, id) == 0;
			creds_clear(&c);
			if (done)
				break;
			usleep(1000);
		}
		usleep(5000);
	}
	/* Every worker must have made a call; a loaded machine may start
	 * them late, so wait for that (bounded) rather than assume it. */
	for (int i = 0; i < 6; i++)
		for (int ms = 0; ms < 10000 && !__atomic_load_n(&w[i].calls, __ATOMIC_SEQ_CST); ms++)
			usleep(1000);
	__atomic_store_n(&workers_stop, 1, __ATOMIC_SEQ_CST);
	for (int i = 0; i < 6; i++) {
		pthread_join(th[i], NULL);
		CHECK_EQ_INT(w[i].errors, 0);
		CHECK_EQ_INT(w[i].mismatches, 0);
		CHECK(w[i].calls > 0);
	}
	/* every round was fetched once: the others used the still-valid creds or waited */
	CHECK_EQ_INT(stub_hits("GET", "/sts"), 4);
	creds_provider_free(p);
out:
	stub_stop();
	fx_end_free();
}

/* ======================================================================= STS: roles and OIDC */

/* An STS AssumeRole / AssumeRoleWithOIDC answer. */
static const char *sts_role_json(const char *id, const char *secret, const char *token, time_t exp)
{
	static char body[1024];
	char date[21];

	sign_format_date((long long)exp, date);
	snprintf(body, sizeof(body), "{\"RequestId\":\"R-1\",\"AssumedRoleUser\":{\"Arn\":"
		 "\"acs:ram::1:role/x/s\",\"AssumedRoleId\":\"3:s\"},\"Credentials\":{"
		 "\"AccessKeyId\":\"%s\",\"AccessKeySecret\":\"%s\",\"SecurityToken\":\"%s\","
		 "\"Expiration\":\"%s\"}}", id, secret, token, date);
	return body;
}

/* The last request the stub saw (a copy). */
static const char *stub_last(void)
{
	static char copy[8192];

	pthread_mutex_lock(&S.mu);
	memcpy(copy, S.last_req, sizeof(copy));
	pthread_mutex_unlock(&S.mu);
	return copy;
}

static char sts_base[64];

static const char *stub_base(void)
{
	snprintf(sts_base, sizeof(sts_base), "http://127.0.0.1:%d", S.port);
	return sts_base;
}

TEST(cli_ram_role_arn_assume_and_refresh)
{
	struct creds_options o = { .now = fake_now, .timeout_ms = SLOW_OK_MS };
	struct creds_provider *p;
	struct creds c;
	char cfg[1024], err[1024];
	const char *req;

	fx_begin();
	stub_start();
	o.sts_endpoint = stub_base();
	stub_route("POST", "/", 200, sts_role_json("STS.Role1", "R1" SECRET_MARK, "R1" TOKEN_MARK,
						     fake_now() + 3600), 0);
	/* the mode as aliyun-cli reads it: case-insensitively */
	snprintf(cfg, sizeof(cfg), "{\"current\":\"r\",\"profiles\":[{\"name\":\"r\",\"mode\":"
		 "\"ramRoleARN\",\"access_key_id\":\"SrcId\",\"access_key_secret\":\"Src" SECRET_MARK
		 "\",\"ram_role_arn\":\"acs:ram::1:role/x\",\"ram_session_name\":\"sess-1\","
		 "\"expired_seconds\":1800,\"policy\":\"{\\\"Version\\\":\\\"1\\\"}\","
		 "\"external_id\":\"ext-9\",\"region_id\":\"cn-beijing\"}]}");
	write_home(".aliyun/config.json", cfg);
	p = EXPECT_OK(&o, "cli-profile:r/ram-role-arn", "STS.Role1", "R1" SECRET_MARK,
		      "R1" TOKEN_MARK);
	CHECK_EQ_STR(creds_region(p), "cn-beijing");
	req = stub_last();
	CHECK_CONTAINS(req, "x-acs-action: AssumeRole\r\n");
	CHECK_CONTAINS(req, "x-acs-version: 2015-04-01\r\n");
	CHECK_CONTAINS(req, "Authorization: ACS3-HMAC-SHA256 Credential=SrcId,SignedHeaders=");
	CHECK_CONTAINS(req, "content-type;host;x-acs-action;");
	CHECK_CONTAINS(req, "application/x-www-form-urlencoded");
	CHECK_CONTAINS(req, "DurationSeconds=1800");
	CHECK_CONTAINS(req, "ExternalId=ext-9");
	CHECK_CONTAINS(req, "Policy=%7B%22Version%22%3A%221%22%7D");
	CHECK_CONTAINS(req, "RoleArn=acs%3Aram%3A%3A1%3Arole%2Fx");
	CHECK_CONTAINS(req, "RoleSessionName=sess-1");
	CHECK(!strstr(req, "POST /?"));		/* nothing in the URL */
	CHECK_EQ_INT(stub_hits("POST", "/"), 1);
	/* 15 minutes before expiry: still the same session */
	set_now(T0 + 3600 - 901);
	CHECK_EQ_INT(creds_get(p, &c, err, sizeof(err)), 0);
	CHECK_EQ_STR(c.access_key_id, "STS.Role1");
	creds_clear(&c);
	CHECK_EQ_INT(stub_hits("POST", "/"), 1);
	/* inside the 15 minutes: a new AssumeRole */
	stub_route("POST", "/", 200, sts_role_json("STS.Role2", "R2" SECRET_MARK, "R2" TOKEN_MARK,
						     fake_now() + 3600), 0);
	set_now(T0 + 3600 - 899);
	CHECK_EQ_INT(creds_get(p, &c, err, sizeof(err)), 0);
	CHECK_EQ_STR(c.access_key_id, "STS.Role2");
	CHECK_EQ_STR(c.security_token, "R2" TOKEN_MARK);
	creds_clear(&c);
	CHECK_EQ_INT(stub_hits("POST", "/"), 2);
	creds_provider_free(p);
	stub_stop();
	fx_end_free();
}

TEST(short_sts_session_refreshes_half_way)
{
	struct creds_options o = { .now = fake_now, .timeout_ms = SLOW_OK_MS };
	struct creds_provider *p;
	struct creds c;
	char err[1024];

	fx_begin();
	stub_start();
	o.sts_endpoint = stub_base();
	stub_route("POST", "/", 200, sts_role_json("STS.S1", "S" SECRET_MARK, "S" TOKEN_MARK,
						     fake_now() + 100), 0);
	write_home(".alibabacloud/credentials", "[default]\ntype = ram_role_arn\n"
		   "access_key_id = IniId\naccess_key_secret = Ini" SECRET_MARK "\n"
		   "role_arn = acs:ram::1:role/ini\nrole_session_name = ini-s\n");
	p = EXPECT_OK(&o, "ini:default/ram-role-arn", "STS.S1", "S" SECRET_MARK, "S" TOKEN_MARK);
	CHECK_CONTAINS(stub_last(), "Credential=IniId,");
	CHECK_CONTAINS(stub_last(), "DurationSeconds=3600");	/* the default */
	/* a 100 s session is not stale from birth: refreshed after half of it */
	set_now(T0 + 49);
	CHECK_EQ_INT(creds_get(p, &c, err, sizeof(err)), 0);
	creds_clear(&c);
	CHECK_EQ_INT(stub_hits("POST", "/"), 1);
	stub_route("POST", "/", 200, sts_role_json("STS.S2", "S" SECRET_MARK, "S" TOKEN_MARK,
						     T0 + 150), 0);
	set_now(T0 + 51);
	CHECK_EQ_INT(creds_get(p, &c, err, sizeof(err)), 0);
	CHECK_EQ_STR(c.access_key_id, "STS.S2");
	creds_clear(&c);
	creds_provider_free(p);
	stub_stop();
	fx_end_free();
}

TEST(chainable_role_over_another_profile)
{
	struct creds_options o = { .now = fake_now, .timeout_ms = SLOW_OK_MS };
	char cfg[1024];

	fx_begin();
	stub_start();
	o.sts_endpoint = stub_base();
	stub_route("POST", "/", 200, sts_role_json("STS.Chain", "C" SECRET_MARK, "C" TOKEN_MARK,
						     fake_now() + 3600), 0);
	snprintf(cfg, sizeof(cfg), "{\"current\":\"chain\",\"profiles\":["
		 "{\"name\":\"base\",\"mode\":\"StsToken\",\"access_key_id\":\"STS.Base\","
		 "\"access_key_secret\":\"B" SECRET_MARK "\",\"sts_token\":\"B" TOKEN_MARK "\"},"
		 "{\"name\":\"chain\",\"mode\":\"ChainableRamRoleArn\",\"source_profile\":\"base\","
		 "\"ram_role_arn\":\"acs:ram::1:role/c\"},"
		 "{\"name\":\"loop1\",\"mode\":\"ChainableRamRoleArn\",\"source_profile\":\"loop2\","
		 "\"ram_role_arn\":\"acs:ram::1:role/c\"},"
		 "{\"name\":\"loop2\",\"mode\":\"ChainableRamRoleArn\",\"source_profile\":\"loop1\","
		 "\"ram_role_arn\":\"acs:ram::1:role/c\"},"
		 "{\"name\":\"short\",\"mode\":\"RamRoleArn\",\"access_key_id\":\"I\","
		 "\"access_key_secret\":\"S" SECRET_MARK "\",\"ram_role_arn\":\"acs:ram::1:role/c\","
		 "\"expired_seconds\":600}]}");
	write_home(".aliyun/config.json", cfg);
	EXPECT_OK_FREE(&o, "cli-profile:chain/chainable-ram-role-arn(cli-profile:base)",
		       "STS.Chain", "C" SECRET_MARK, "C" TOKEN_MARK);
	/* the source's STS token signs the AssumeRole */
	CHECK_CONTAINS(stub_last(), "Credential=STS.Base,");
	CHECK_CONTAINS(stub_last(), "x-acs-security-token: B" TOKEN_MARK "\r\n");
	o.profile = "loop1";
	EXPECT_FAIL(&o, -EINVAL, "source_profile chain longer than 8 (a loop?)");
	o.profile = "short";
	EXPECT_FAIL(&o, -EINVAL, "session duration 600 s is outside 900..43200");
	stub_stop();
	fx_end_free();
}

TEST(oidc_env_rereads_the_token_file)
{
	struct creds_options o = { .now = fake_now, .timeout_ms = SLOW_OK_MS };
	struct creds_provider *p;
	struct creds c;
	char err[1024];
	const char *req;

	fx_begin();
	stub_start();
	o.sts_endpoint = stub_base();
	stub_route("POST", "/", 200, sts_role_json("STS.Oidc", "O" SECRET_MARK, "O" TOKEN_MARK,
						     fake_now() + 3600), 0);
	write_home("token", "jwt-one" TOKEN_MARK "\n");
	setenv("ALIBABA_CLOUD_ROLE_ARN", "acs:ram::1:role/k8s", 1);
	setenv("ALIBABA_CLOUD_OIDC_PROVIDER_ARN", "acs:ram::1:oidc-provider/ack", 1);
	setenv("ALIBABA_CLOUD_OIDC_TOKEN_FILE", home_file("token"), 1);
	setenv("ALIBABA_CLOUD_ROLE_SESSION_NAME", "pod-1", 1);
	/* the chain's order: OIDC before the CLI profile and the INI file */
	write_home(".alibabacloud/credentials", "[default]\ntype = access_key\n"
		   "access_key_id = IniId\naccess_key_secret = Ini" SECRET_MARK "\n");
	p = EXPECT_OK(&o, "oidc-role-arn", "STS.Oidc", "O" SECRET_MARK, "O" TOKEN_MARK);
	req = stub_last();
	CHECK_CONTAINS(req, "x-acs-action: AssumeRoleWithOIDC\r\n");
	CHECK(!strstr(req, "Authorization:"));	/* anonymous: the token is the proof */
	CHECK_CONTAINS(req, "OIDCToken=jwt-one" TOKEN_MARK);
	CHECK_CONTAINS(req, "OIDCProviderArn=acs%3Aram%3A%3A1%3Aoidc-provider%2Fack");
	CHECK_CONTAINS(req, "RoleSessionName=pod-1");
	/* Kubernetes rotates the token: the refresh sends the new one */
	write_home("token", "jwt-two" TOKEN_MARK);
	set_now(T0 + 3600 - 100);
	CHECK_EQ_INT(creds_get(p, &c, err, sizeof(err)), 0);
	creds_clear(&c);
	CHECK_CONTAINS(stub_last(), "OIDCToken=jwt-two" TOKEN_MARK);
	creds_provider_free(p);
	/* an env AK comes first and is used as it is */
	setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "EnvId", 1);
	setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "Env" SECRET_MARK, 1);
	EXPECT_OK_FREE(&o, "environment", "EnvId", "Env" SECRET_MARK, NULL);
	CHECK_EQ_INT(stub_hits("POST", "/"), 2);
	stub_stop();
	fx_end_free();
}

TEST(cli_oidc_mode)
{
	struct creds_options o = { .now = fake_now, .timeout_ms = SLOW_OK_MS };
	char cfg[1024];

	fx_begin();
	stub_start();
	stub_route("POST", "/", 200, sts_role_json("STS.CliOidc", "O" SECRET_MARK, "O" TOKEN_MARK,
						     fake_now() + 3600), 0);
	write_home("tok", "cli-jwt" TOKEN_MARK);
	/* the profile's own sts_endpoint, no -o sts_endpoint */
	snprintf(cfg, sizeof(cfg), "{\"current\":\"o\",\"profiles\":[{\"name\":\"o\",\"mode\":\"oidc\","
		 "\"oidc_provider_arn\":\"acs:ram::1:oidc-provider/p\",\"oidc_token_file\":\"%s\","
		 "\"ram_role_arn\":\"acs:ram::1:role/o\",\"sts_endpoint\":\"%s\"}]}",
		 home_file("tok"), stub_base());
	write_home(".aliyun/config.json", cfg);
	EXPECT_OK_FREE(&o, "cli-profile:o/oidc", "STS.CliOidc", "O" SECRET_MARK, "O" TOKEN_MARK);
	CHECK_CONTAINS(stub_last(), "OIDCToken=cli-jwt" TOKEN_MARK);
	stub_stop();
	fx_end_free();
}

TEST(broken_role_profile_skipped_for_the_uri)
{
	struct creds_options o = { .now = fake_now, .timeout_ms = SLOW_OK_MS };
	char cfg[512];
	char *log;

	fx_begin();
	stub_start();
	o.sts_endpoint = stub_base();
	/* STS denies the role: the profile is broken, the credentials URI still answers */
	stub_route("POST", "/", 403, "{\"RequestId\":\"R-9\",\"HostId\":\"sts.aliyuncs.com\","
		   "\"Code\":\"NoPermission\",\"Message\":\"You are not authorized to do this action.\","
		   "\"Recommend\":\"https://api.aliyun.com/troubleshoot?q=NoPermission\","
		   "\"AccessDeniedDetail\":{\"AuthAction\":\"sts:AssumeRole\","
		   "\"AuthPrincipalDisplayName\":\"alice\",\"NoPermissionType\":\"ImplicitDeny\","
		   "\"PolicyType\":\"AccountLevelIdentityBasedPolicy\"}}", 0);
	stub_route("GET", "/creds", 200, sts_json("STS.Uri", "U" SECRET_MARK, "U" TOKEN_MARK,
						  fake_now() + 3600), 0);
	snprintf(cfg, sizeof(cfg), "{\"current\":\"r\",\"profiles\":[{\"name\":\"r\",\"mode\":"
		 "\"RamRoleArn\",\"access_key_id\":\"SrcId\",\"access_key_secret\":\"Src" SECRET_MARK
		 "\",\"ram_role_arn\":\"acs:ram::1:role/x\"}]}");
	write_home(".aliyun/config.json", cfg);
	EXPECT_FAIL(&o, -EACCES, "HTTP 403 NoPermission: You are not authorized to do this action. "
		    "[missing permission sts:AssumeRole for alice, ImplicitDeny, "
		    "AccountLevelIdentityBasedPolicy]; see https://api.aliyun.com/troubleshoot?q="
		    "NoPermission (RequestId R-9)");
	setenv("ALIBABA_CLOUD_CREDENTIALS_URI", stub_url("/creds"), 1);
	EXPECT_OK_FREE(&o, "credentials-uri", "STS.Uri", "U" SECRET_MARK, "U" TOKEN_MARK);
	stub_stop();
	log = fx_end();
	CHECK_CONTAINS(log, "warning: credentials from credentials-uri (skipped cli-profile (STS "
		       "AssumeRole at http://127.0.0.1:");
	free(log);
}

TEST(nothing_works_names_every_source)
{
	struct creds_options o = { 0 };

	fx_begin();
	EXPECT_FAIL(&o, -ENOENT, "environment: ALIBABA_CLOUD_ACCESS_KEY_ID not set; oidc-role-arn: "
		    "ALIBABA_CLOUD_ROLE_ARN not set; cli-profile: no ");
	EXPECT_FAIL(&o, -ENOENT, "; ecs-ram-role: not enabled (-o ecs_role); credentials-uri: "
		    "ALIBABA_CLOUD_CREDENTIALS_URI not set)");
	fx_end_free();
}

TEST(sts_endpoint_defaults)
{
	static const struct {
		const char *opt, *prof, *region, *env_region, *env_vpc;
		bool vpc;
		const char *want;
	} cases[] = {
		{ NULL, NULL, NULL, NULL, NULL, false, "https://sts.aliyuncs.com" },
		{ NULL, NULL, "cn-beijing", NULL, NULL, false, "https://sts.cn-beijing.aliyuncs.com" },
		{ NULL, NULL, "cn-beijing", NULL, NULL, true, "https://sts-vpc.cn-beijing.aliyuncs.com" },
		{ NULL, NULL, NULL, "ap-southeast-1", NULL, false,
		  "https://sts.ap-southeast-1.aliyuncs.com" },
		{ NULL, NULL, NULL, "cn-shanghai", "TRUE", false,
		  "https://sts-vpc.cn-shanghai.aliyuncs.com" },
		{ NULL, "sts.example.internal", "cn-beijing", NULL, NULL, false,
		  "https://sts.example.internal" },
		{ "http://127.0.0.1:8080", "sts.example.internal", "cn-beijing", NULL, NULL, false,
		  "http://127.0.0.1:8080" },
	};

	fx_begin();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got;

		unsetenv("ALIBABA_CLOUD_STS_REGION");
		unsetenv("ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED");
		if (cases[i].env_region)
			setenv("ALIBABA_CLOUD_STS_REGION", cases[i].env_region, 1);
		if (cases[i].env_vpc)
			setenv("ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED", cases[i].env_vpc, 1);
		got = creds_sts_endpoint(cases[i].opt, cases[i].prof, cases[i].region, cases[i].vpc);
		CHECK_EQ_STR(got, cases[i].want);
		free(got);
	}
	unsetenv("ALIBABA_CLOUD_STS_REGION");
	unsetenv("ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED");
	fx_end_free();
}

TEST(parse_sts_documents)
{
	struct creds c;
	char err[256];

	CHECK_EQ_INT(creds_parse_sts(sts_role_json("A", "B", "C", T0), strlen(sts_role_json("A", "B",
		     "C", T0)), &c, "x", err, sizeof(err)), 0);
	CHECK_EQ_STR(c.access_key_id, "A");
	CHECK_EQ_INT((long long)c.expiration, (long long)T0);
	creds_clear(&c);
	CHECK_EQ_INT(creds_parse_sts("{\"Credentials\":[]}", 18, &c, "x", err, sizeof(err)), -EIO);
	CHECK_CONTAINS(err, "Credentials is not an object");
	CHECK_EQ_INT(creds_parse_sts("{\"Credentials\":{\"AccessKeyId\":\"A\",\"AccessKeySecret\":"
				     "\"B\",\"Expiration\":\"2030-01-01T00:00:00Z\"}}", 94, &c, "x",
				     err, sizeof(err)), -EIO);
	CHECK_CONTAINS(err, "has no SecurityToken");
	CHECK_EQ_INT(creds_parse_sts("{\"AccessKeyId\":\"A\",\"AccessKeySecret\":\"B\","
				     "\"SecurityToken\":\"C\",\"Expiration\":\"soon\"}", 82, &c, "x",
				     err, sizeof(err)), -EIO);
	CHECK_CONTAINS(err, "Expiration is not an ISO 8601");
	/* not NUL-terminated: only len bytes count */
	CHECK_EQ_INT(creds_parse_sts("{}garbage", 2, &c, "x", err, sizeof(err)), -EIO);
	CHECK_CONTAINS(err, "has no AccessKeyId");
	CHECK_EQ_INT(creds_parse_sts(NULL, 0, &c, "x", err, sizeof(err)), -EIO);
}
