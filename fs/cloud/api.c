/* api: the PAI-DSW ListInstances client: signed requests, paging, retries, one errno mapping. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#include <curl/curl.h>
#include <openssl/rand.h>

#include "api.h"
#include "buf.h"
#include "hash.h"
#include "http.h"
#include "log.h"
#include "stats.h"

#define API_PATH "/api/v2/instances"
#define API_ACTION "ListInstances"
#define API_VERSION "2022-01-01"

#define DEF_CONNECT_TIMEOUT_MS 5000L
#define DEF_TIMEOUT_MS 30000L
#define DEF_BACKOFF_BASE_MS 200L
#define DEF_BACKOFF_MAX_MS 5000L
#define DEF_MAX_BODY ((size_t)64 << 20)
#define DEF_PAGE_SIZE 100
#define MAX_PAGE_SIZE 10000
#define MAX_RETRIES 20
#define MAX_PARALLEL 16
/* Throttling waits longer: the base is multiplied and the ceiling doubled. */
#define THROTTLE_BASE_FACTOR 4
#define THROTTLE_MAX_FACTOR 2
/* A walk that sees the list change under it is redone at most this many times in all. */
#define MAX_WALKS 3
/* Guards against runaway paging whatever the server claims. */
#define MAX_TOTAL_COUNT 10000000L
#define MAX_PAGES 100000L
#define POOL_IDLE_MAX 32
#define DEF_MAX_WALK_BYTES ((size_t)2048 << 20)
/* Longest Content-Type named in a message (media type only, token characters only). */
#define CTYPE_MAX 64

struct api_client {
	char *base_url;		/* scheme://authority, no path */
	char *host;		/* Host header value, exactly what is signed */
	bool plain_http;	/* loopback only */
	long connect_timeout_ms, timeout_ms;
	int max_retries;
	long backoff_base_ms, backoff_max_ms;
	size_t max_body, max_walk_bytes;
	int page_size, parallel_pages;
	char *ca_file, *user_agent;
	struct creds_provider *creds;
	void (*progress)(void *ctx, int pages_done, int pages_total);
	void *progress_ctx;

	/* DNS and TLS sessions are shared through the share handle. Connections are not:
	 * libcurl documents that sharing the connection cache between concurrent threads is
	 * unsupported (CURLSHOPT_SHARE, KNOWN_BUGS "A shared connection cache is not
	 * thread-safe"). Connections are reused instead through the pool below: an easy handle
	 * keeps its own connections, and handles move between threads through the pool. */
	CURLSH *share;
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
	pthread_mutex_t pool_lock;
	CURL *idle[POOL_IDLE_MAX];
	int nidle;

	/* api_client_abort: the flag every transfer and back-off checks, the sockets curl has
	 * open (shut down on abort so a transfer waiting for a silent server wakes at once) and
	 * the condition back-off waits sleep on. */
	int aborted;
	pthread_mutex_t abort_lock;
	pthread_cond_t abort_cv;	/* CLOCK_MONOTONIC */
	int *socks;
	size_t nsocks, socks_cap;
};

/* ---- small helpers ---- */

#define COPY_FIELD ERR_COPY_FIELD

static void set_msg(struct err_info *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_msg(struct err_info *e, const char *fmt, ...)
{
	char tmp[sizeof(e->message) * 2];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	err_copy_text(e->message, sizeof(e->message), tmp,
		  (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

static void prefix_msg(struct err_info *e, const char *prefix)
{
	char old[sizeof(e->message)];

	memcpy(old, e->message, sizeof(old));
	set_msg(e, "%s%s", prefix, old);
}

static uint32_t rand_u32(void)
{
	uint32_t v;

	if (RAND_bytes((unsigned char *)&v, sizeof(v)) != 1) {
		struct timespec ts;

		/* Only the jitter depends on this; a poor value merely synchronises retries. */
		clock_gettime(CLOCK_MONOTONIC, &ts);
		v = (uint32_t)ts.tv_nsec ^ (uint32_t)(uintptr_t)&ts;
	}
	return v;
}

static bool client_aborted(struct api_client *c)
{
	return __atomic_load_n(&c->aborted, __ATOMIC_ACQUIRE) != 0;
}

/* Sleeps ms, or less when the client is aborted meanwhile. */
static void sleep_ms(struct api_client *c, long ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&c->abort_lock);
	while (!client_aborted(c) &&
	       pthread_cond_timedwait(&c->abort_cv, &c->abort_lock, &ts) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&c->abort_lock);
}

/* curl's socket hooks: every socket a transfer opens is known, so an abort can shut it down. */
static curl_socket_t open_sock_cb(void *p, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct api_client *c = p;
	int fd;

	(void)purpose;
	pthread_mutex_lock(&c->abort_lock);
	if (client_aborted(c)) {
		pthread_mutex_unlock(&c->abort_lock);
		return CURL_SOCKET_BAD;
	}
	if (c->nsocks == c->socks_cap) {
		size_t cap = c->socks_cap ? c->socks_cap * 2 : 16;
		int *n = realloc(c->socks, cap * sizeof(*n));

		if (!n) {
			pthread_mutex_unlock(&c->abort_lock);
			return CURL_SOCKET_BAD;
		}
		c->socks = n;
		c->socks_cap = cap;
	}
	fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
	if (fd >= 0)
		c->socks[c->nsocks++] = fd;
	pthread_mutex_unlock(&c->abort_lock);
	return fd >= 0 ? fd : CURL_SOCKET_BAD;
}

static int close_sock_cb(void *p, curl_socket_t fd)
{
	struct api_client *c = p;

	/* Forgotten before it is closed, under the lock abort shuts sockets down with, so a
	 * reused descriptor number is never shut down by mistake. */
	pthread_mutex_lock(&c->abort_lock);
	for (size_t i = 0; i < c->nsocks; i++)
		if (c->socks[i] == fd) {
			c->socks[i] = c->socks[--c->nsocks];
			break;
		}
	pthread_mutex_unlock(&c->abort_lock);
	return close(fd);
}

static int xferinfo_cb(void *p, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	(void)dt; (void)dn; (void)ut; (void)un;
	return client_aborted(p) ? 1 : 0;
}

void api_client_abort(struct api_client *c)
{
	pthread_mutex_lock(&c->abort_lock);
	__atomic_store_n(&c->aborted, 1, __ATOMIC_RELEASE);
	for (size_t i = 0; i < c->nsocks; i++)
		shutdown(c->socks[i], SHUT_RDWR);
	pthread_cond_broadcast(&c->abort_cv);
	pthread_mutex_unlock(&c->abort_lock);
}

/* ---- endpoint ---- */

/* ---- client ---- */

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *ud)
{
	struct api_client *c = ud;

	(void)h;
	(void)access;
	if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
		pthread_mutex_lock(&c->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ud)
{
	struct api_client *c = ud;

	(void)h;
	if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
		pthread_mutex_unlock(&c->share_locks[data]);
}

int api_client_new(const struct api_config *cfg, struct creds_provider *creds,
		   struct api_client **out, struct err_info *err)
{
	struct err_info scratch;
	struct api_client *c;
	int rc;

	if (!err)
		err = &scratch;
	memset(err, 0, sizeof(*err));
	err->when = time(NULL);
	*out = NULL;
	if (!cfg) {
		err->err = -EINVAL;
		set_msg(err, "no configuration");
		return -EINVAL;
	}
	if (cfg->page_size < 0 || cfg->page_size > MAX_PAGE_SIZE) {
		err->err = -EINVAL;
		set_msg(err, "page size %d out of range 1..%d", cfg->page_size, MAX_PAGE_SIZE);
		return -EINVAL;
	}
	{
		char why[160] = "";

		if (http_init(why, sizeof(why)) != 0) {
			err->err = -EIO;
			set_msg(err, "%s", why);
			return -EIO;
		}
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		err->err = -ENOMEM;
		return -ENOMEM;
	}
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&c->share_locks[i], NULL);
	pthread_mutex_init(&c->pool_lock, NULL);
	pthread_mutex_init(&c->abort_lock, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&c->abort_cv, &ca);
		pthread_condattr_destroy(&ca);
	}
	{
		char why[400] = "";

		rc = http_parse_endpoint(cfg->endpoint, &c->base_url, &c->host, &c->plain_http,
					 why, sizeof(why));
		if (rc) {
			set_msg(err, "%s", why);
			goto out_free;
		}
	}
	c->connect_timeout_ms = cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms :
							      DEF_CONNECT_TIMEOUT_MS;
	c->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : DEF_TIMEOUT_MS;
	c->max_retries = cfg->max_retries < 0 ? 0 :
			 cfg->max_retries > MAX_RETRIES ? MAX_RETRIES : cfg->max_retries;
	c->backoff_base_ms = cfg->backoff_base_ms > 0 ? cfg->backoff_base_ms : DEF_BACKOFF_BASE_MS;
	c->backoff_max_ms = cfg->backoff_max_ms > 0 ? cfg->backoff_max_ms : DEF_BACKOFF_MAX_MS;
	if (c->backoff_max_ms < c->backoff_base_ms)
		c->backoff_max_ms = c->backoff_base_ms;
	c->max_body = cfg->max_body ? cfg->max_body : DEF_MAX_BODY;
	c->max_walk_bytes = cfg->max_walk_bytes ? cfg->max_walk_bytes : DEF_MAX_WALK_BYTES;
	c->page_size = cfg->page_size ? cfg->page_size : DEF_PAGE_SIZE;
	c->parallel_pages = cfg->parallel_pages < 1 ? 1 :
			    cfg->parallel_pages > MAX_PARALLEL ? MAX_PARALLEL : cfg->parallel_pages;
	c->creds = creds;
	c->progress = cfg->progress;
	c->progress_ctx = cfg->progress_ctx;
	rc = -ENOMEM;
	if (cfg->ca_file && !(c->ca_file = strdup(cfg->ca_file)))
		goto out_free;
	c->user_agent = strdup(cfg->user_agent ? cfg->user_agent : "dswfs/" DSWFS_VERSION);
	if (!c->user_agent)
		goto out_free;
	c->share = curl_share_init();
	if (!c->share)
		goto out_free;
	if (curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock) ||
	    curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock) ||
	    curl_share_setopt(c->share, CURLSHOPT_USERDATA, c) ||
	    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) ||
	    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION)) {
		rc = -EIO;
		set_msg(err, "curl share setup failed");
		goto out_free;
	}
	*out = c;
	return 0;
out_free:
	err->err = rc;
	api_client_free(c);
	return rc;
}

void api_client_free(struct api_client *c)
{
	if (!c)
		return;
	/* Easy handles first: a share in use cannot be cleaned up. */
	for (int i = 0; i < c->nidle; i++)
		curl_easy_cleanup(c->idle[i]);
	if (c->share)
		curl_share_cleanup(c->share);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&c->share_locks[i]);
	pthread_mutex_destroy(&c->pool_lock);
	pthread_cond_destroy(&c->abort_cv);
	pthread_mutex_destroy(&c->abort_lock);
	free(c->socks);
	free(c->base_url);
	free(c->host);
	free(c->ca_file);
	free(c->user_agent);
	free(c);
}

static CURL *pool_get(struct api_client *c)
{
	CURL *h = NULL;

	pthread_mutex_lock(&c->pool_lock);
	if (c->nidle > 0)
		h = c->idle[--c->nidle];
	pthread_mutex_unlock(&c->pool_lock);
	if (h)
		return h;
	h = curl_easy_init();
	if (h && curl_easy_setopt(h, CURLOPT_SHARE, c->share) != CURLE_OK) {
		curl_easy_cleanup(h);
		h = NULL;
	}
	return h;
}

static void pool_put(struct api_client *c, CURL *h)
{
	/* Nothing of this request may outlive it in the handle. */
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, NULL);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, NULL);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, NULL);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	pthread_mutex_lock(&c->pool_lock);
	if (c->nidle < POOL_IDLE_MAX) {
		c->idle[c->nidle++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&c->pool_lock);
	if (h)
		curl_easy_cleanup(h);
}

/* ---- one request ---- */

/* A validated request: the filters and their canonical form for error reports. */
struct list_req {
	const struct sign_kv *filters;
	size_t nfilters;
	char *filter_query;
};

static int list_req_init(struct list_req *r, const struct sign_kv *filters, size_t nfilters,
			 struct err_info *err)
{
	r->filters = filters;
	r->nfilters = nfilters;
	r->filter_query = NULL;
	if (nfilters && !filters) {
		set_msg(err, "filters missing");
		return -EINVAL;
	}
	for (size_t i = 0; i < nfilters; i++) {
		const char *n = filters[i].name;

		if (!n || !*n || !filters[i].value) {
			set_msg(err, "filter %zu has no name or value", i);
			return -EINVAL;
		}
		if (!strcasecmp(n, "PageNumber") || !strcasecmp(n, "PageSize")) {
			set_msg(err, "filter %s is set by the client, not the caller", n);
			return -EINVAL;
		}
		for (size_t j = 0; j < i; j++)
			if (!strcmp(filters[j].name, n)) {
				set_msg(err, "filter %.100s given twice", n);
				return -EINVAL;
			}
	}
	r->filter_query = sign_query_string(filters, nfilters);
	if (!r->filter_query)
		return -ENOMEM;
	COPY_FIELD(err->query, r->filter_query);
	return 0;
}

struct xfer {
	struct buf body;
	int write_err;
	char ctype[CTYPE_MAX + 1];	/* the media type of Content-Type, sanitised, or "" */
};

/* Keeps the media type of a Content-Type header (up to ';'), only if it is made of token
 * characters: a header is server-controlled text and only this much of it is ever shown. */
static void media_type(char out[CTYPE_MAX + 1], const char *ct)
{
	size_t n = 0;

	out[0] = '\0';
	if (!ct)
		return;
	while (*ct == ' ')
		ct++;
	for (; ct[n] && ct[n] != ';' && ct[n] != ' '; n++) {
		unsigned char ch = (unsigned char)ct[n];

		if (n >= CTYPE_MAX || !(isalnum(ch) || strchr("!#$&^_.+-/", ch)))
			return;
	}
	memcpy(out, ct, n);
	out[n] = '\0';
}

static size_t write_cb(char *p, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	size_t n = size * nmemb;
	int rc = buf_append(&x->body, p, n);

	if (rc) {
		x->write_err = rc;
		return 0;	/* makes curl stop with CURLE_WRITE_ERROR */
	}
	return n;
}

static bool header_value_ok(const char *v)
{
	for (; *v; v++)
		if ((unsigned char)*v < 0x20 || *v == 0x7f)
			return false;
	return true;
}

/* Sends one signed request. Returns 0 with the body in x and *status set, or -errno with err
 * filled (transport failures; HTTP-level errors are left to the parser). */
static int send_once(struct api_client *c, const struct sign_kv *q, size_t nq,
		     struct xfer *x, int *status, long *retry_after_ms, bool *sent,
		     struct err_info *err)
{
	char cerr[256] = "", date[21], nonce[33], cbuf[256] = "";
	struct sign_kv hdrs[8];
	struct curl_slist *sl = NULL;
	struct creds cr = { 0 };
	char *qs = NULL, *url = NULL, *auth = NULL;
	size_t nh = 0;
	CURL *h = NULL;
	CURLcode cc;
	struct http_hints hints = { 0 };
	long code = 0;
	int rc;

	*status = 0;
	*retry_after_ms = 0;
	*sent = false;
	if (!c->creds) {
		set_msg(err, "no credentials configured");
		return -EACCES;
	}
	rc = creds_get(c->creds, &cr, cbuf, sizeof(cbuf));
	if (rc) {
		set_msg(err, "credentials: %s", cbuf[0] ? cbuf : "unavailable");
		return rc;
	}
	if (!cr.access_key_id || !cr.access_key_secret || !header_value_ok(cr.access_key_id) ||
	    (cr.security_token && !header_value_ok(cr.security_token))) {
		set_msg(err, "credentials are incomplete or contain control characters");
		rc = -EACCES;
		goto out;
	}
	rc = http_nonce(nonce);
	if (rc) {
		set_msg(err, "no randomness for the signature nonce");
		goto out;
	}
	sign_format_date((long long)time(NULL), date);
	hdrs[nh++] = (struct sign_kv){ "host", c->host };
	hdrs[nh++] = (struct sign_kv){ "x-acs-action", API_ACTION };
	hdrs[nh++] = (struct sign_kv){ "x-acs-version", API_VERSION };
	hdrs[nh++] = (struct sign_kv){ "x-acs-date", date };
	hdrs[nh++] = (struct sign_kv){ "x-acs-signature-nonce", nonce };
	hdrs[nh++] = (struct sign_kv){ "x-acs-content-sha256", SIGN_EMPTY_SHA256 };
	if (cr.security_token && cr.security_token[0]) {
		hdrs[nh++] = (struct sign_kv){ "x-acs-security-token", cr.security_token };
		hdrs[nh++] = (struct sign_kv){ "x-acs-accesskey-id", cr.access_key_id };
	}
	{
		struct sign_request sr = {
			.method = "GET", .path = API_PATH, .query = q, .nquery = nq,
			.headers = hdrs, .nheaders = nh, .payload_hash = SIGN_EMPTY_SHA256,
		};

		rc = -ENOMEM;
		auth = sign_authorization(&sr, cr.access_key_id, cr.access_key_secret);
		if (!auth)
			goto out;
	}
	/* The wire query is the canonical one, so the server hashes the bytes we signed. */
	qs = sign_query_string(q, nq);
	if (!qs || asprintf(&url, "%s%s%s%s", c->base_url, API_PATH, *qs ? "?" : "", qs) < 0) {
		url = NULL;
		goto out;
	}
	for (size_t i = 0; i < nh; i++) {
		char *line = NULL;
		struct curl_slist *n;

		if (asprintf(&line, "%s: %s", hdrs[i].name, hdrs[i].value) < 0)
			goto out;
		n = curl_slist_append(sl, line);
		free(line);
		if (!n)
			goto out;
		sl = n;
	}
	{
		char *line = NULL;
		struct curl_slist *n;

		if (asprintf(&line, "Authorization: %s", auth) < 0)
			goto out;
		n = curl_slist_append(sl, line);
		free(line);
		if (!n)
			goto out;
		sl = n;
		n = curl_slist_append(sl, "Accept: application/json");
		if (!n)
			goto out;
		sl = n;
	}
	h = pool_get(c);
	if (!h)
		goto out;
	{
		struct http_setup hs = {
			.url = url, .headers = sl, .user_agent = c->user_agent,
			.connect_timeout_ms = c->connect_timeout_ms, .timeout_ms = c->timeout_ms,
			.plain_http = c->plain_http, .ca_file = c->ca_file,
			.write_cb = write_cb, .write_data = x, .errbuf = cerr,
		};

		http_apply(h, &hs);
	}
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, http_header_cb);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &hints);
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->max_body);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_sock_cb);
	curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, c);
	curl_easy_setopt(h, CURLOPT_CLOSESOCKETFUNCTION, close_sock_cb);
	curl_easy_setopt(h, CURLOPT_CLOSESOCKETDATA, c);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, xferinfo_cb);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, c);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);

	cc = client_aborted(c) ? CURLE_ABORTED_BY_CALLBACK : curl_easy_perform(h);
	*sent = true;
	stats_add(STATS_API_REQUESTS, 1);
	stats_add(STATS_API_BYTES, (int64_t)x->body.len);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	{
		char *ct = NULL;

		if (curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK)
			media_type(x->ctype, ct);
	}
	*retry_after_ms = http_retry_after_ms(&hints);
	*status = (int)code;
	if (cc != CURLE_OK && client_aborted(c)) {
		err->curl_code = cc;
		rc = -ECANCELED;
		set_msg(err, "transfer aborted: dswfs is shutting down");
	} else if (cc == CURLE_WRITE_ERROR && x->write_err == -ENOMEM) {
		rc = -ENOMEM;
		set_msg(err, "out of memory reading the response");
	} else if (cc == CURLE_WRITE_ERROR || cc == CURLE_FILESIZE_EXCEEDED) {
		err->curl_code = cc;
		err->http_status = (int)code;
		rc = -EFBIG;
		set_msg(err, "response body exceeds the %zu-byte limit", c->max_body);
	} else if (cc != CURLE_OK) {
		err->curl_code = cc;
		err->http_status = (int)code;
		rc = err_map(0, NULL, cc);
		set_msg(err, "%s", cerr[0] ? cerr : curl_easy_strerror(cc));
	} else {
		rc = 0;
	}
	pool_put(c, h);
out:
	if (rc == -ENOMEM && !err->message[0])
		set_msg(err, "out of memory building the request");
	curl_slist_free_all(sl);
	free(url);
	free(qs);
	free(auth);
	creds_clear(&cr);
	return rc;
}

/* ---- parsing ---- */

static const char *json_type_name(const cJSON *v)
{
	if (!v)
		return "missing";
	if (cJSON_IsNull(v))
		return "null";
	if (cJSON_IsBool(v))
		return "a boolean";
	if (cJSON_IsNumber(v))
		return "a number";
	if (cJSON_IsString(v))
		return "a string";
	if (cJSON_IsArray(v))
		return "an array";
	if (cJSON_IsObject(v))
		return "an object";
	return "invalid";
}

/* Whether body[0..len) has the escape \u0000 inside a string. Only then is it copied. */
static bool has_nul_escape(const char *body, size_t len)
{
	for (const char *p = body; (p = memchr(p, '\\', len - (size_t)(p - body))) != NULL;) {
		size_t left = len - (size_t)(p - body);

		if (left >= 6 && !memcmp(p, "\\u0000", 6))
			return true;
		p += left >= 2 ? 2 : 1;	/* an escaped backslash cannot start an escape */
		if (p >= body + len)
			break;
	}
	return false;
}

/* A copy of body with every \u0000 inside a JSON string replaced by the raw bytes of
 * API_NUL_SENTINEL. An escape starts at a backslash inside a string that is not itself escaped:
 * scanning escape by escape keeps runs of backslashes right. *outlen gets the new length. */
static char *rewrite_nul_escapes(const char *body, size_t len, size_t *outlen)
{
	char *out = calloc(1, len ? len : 1);	/* zeroed: quiets a false uninitialised warning */
	bool in_str = false;
	size_t o = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len;) {
		char ch = body[i];

		if (!in_str) {
			in_str = ch == '"';
			out[o++] = body[i++];
		} else if (ch == '"') {
			in_str = false;
			out[o++] = body[i++];
		} else if (ch == '\\' && len - i >= 6 && !memcmp(body + i, "\\u0000", 6)) {
			memcpy(out + o, API_NUL_SENTINEL, 2);
			o += 2;
			i += 6;
		} else if (ch == '\\' && len - i >= 2) {
			out[o++] = body[i++];
			out[o++] = body[i++];
		} else {
			out[o++] = body[i++];
		}
	}
	*outlen = o;
	return out;
}

/* Describes a body that did not parse without quoting it: a hostile or broken server (or a
 * proxy) may put anything there, secrets included, and a message reaches logs and last_error. */
static void describe_unparsed(char *out, size_t outlen, const char *what, size_t len,
			      const char *ctype, long err_at)
{
	char at[48] = "", ct[CTYPE_MAX + 1];

	media_type(ct, ctype);
	ctype = ct;
	if (err_at >= 0)
		snprintf(at, sizeof(at), ", parse error at byte %ld", err_at);
	if (!len)
		snprintf(out, outlen, "empty body%s%s%s", ctype && *ctype ? " (" : "",
			 ctype && *ctype ? ctype : "", ctype && *ctype ? ")" : "");
	else
		snprintf(out, outlen, "%s (%s%s%zu bytes%s; body not shown)", what,
			 ctype && *ctype ? ctype : "", ctype && *ctype ? ", " : "", len, at);
}

/* The InstanceId of item made usable: a string as is (if not empty), a finite number turned
 * into one. NULL when there is none; why then says what it was. */
static const char *usable_id(cJSON *item, const char **why, int *rc)
{
	cJSON *id = cJSON_GetObjectItemCaseSensitive(item, "InstanceId");

	*rc = 0;
	if (cJSON_IsString(id) && id->valuestring && id->valuestring[0])
		return id->valuestring;
	if (cJSON_IsNumber(id) && isfinite(id->valuedouble)) {
		char num[40];
		double v = id->valuedouble;
		cJSON *str;

		if (v == floor(v) && fabs(v) < 1e18)
			snprintf(num, sizeof(num), "%.0f", v);
		else
			snprintf(num, sizeof(num), "%.17g", v);
		str = cJSON_CreateString(num);
		if (!str || !cJSON_ReplaceItemInObjectCaseSensitive(item, "InstanceId", str)) {
			cJSON_Delete(str);
			*rc = -ENOMEM;
			return NULL;
		}
		return str->valuestring;
	}
	*why = cJSON_IsString(id) ? "empty" : cJSON_IsNumber(id) ? "not a finite number" :
	       json_type_name(id);
	return NULL;
}

int api_parse_page(const char *body, size_t len, int http_status, const char *content_type,
		   cJSON **page, int *skipped, struct err_info *err)
{
	bool ok_status = http_status >= 200 && http_status < 300;
	const cJSON *tc, *succ;
	cJSON *inst, *it, *next;
	const char *code, *msg, *rid;
	struct err_info scratch;
	const char *end = NULL, *text = body;
	char *copy = NULL;
	size_t tlen = len;
	int nskipped = 0;
	cJSON *root;
	double t;
	int rc, i = 0;

	if (!err)
		err = &scratch;
	if (skipped)
		*skipped = 0;
	*page = NULL;
	if (body && has_nul_escape(body, len)) {
		copy = rewrite_nul_escapes(body, len, &tlen);
		if (!copy) {
			set_msg(err, "out of memory parsing the response");
			return -ENOMEM;
		}
		text = copy;
	}
	root = text ? cJSON_ParseWithLengthOpts(text, tlen, &end, 0) : NULL;
	if (root) {
		/* Trailing bytes (a second document, a NUL, garbage) make the body suspect. */
		size_t used = (size_t)(end - text);

		while (used < tlen && (text[used] == ' ' || text[used] == '\t' ||
				       text[used] == '\r' || text[used] == '\n'))
			used++;
		if (used < tlen) {
			cJSON_Delete(root);
			root = NULL;
			end = text + used;
		}
	}
	if (!root || !cJSON_IsObject(root)) {
		char what[200];
		long at = !root && end && end >= text && end <= text + tlen ? (long)(end - text) : -1;

		err->http_status = http_status;
		describe_unparsed(what, sizeof(what), root ? "not a JSON object" : "not valid JSON",
				  len, content_type, at);
		cJSON_Delete(root);
		free(copy);
		if (!ok_status) {
			rc = err_map(http_status, NULL, 0);
			set_msg(err, "HTTP %d: %s", http_status, what);
			return rc;
		}
		set_msg(err, "malformed response: %s", what);
		return -EBADMSG;
	}
	free(copy);
	code = err_json_str(root, "Code");
	msg = err_json_str(root, "Message");
	rid = err_json_str(root, "RequestId");
	if (rid)
		COPY_FIELD(err->request_id, rid);
	err->http_status = http_status;
	succ = cJSON_GetObjectItemCaseSensitive(root, "Success");
	rc = err_map(http_status, code, 0);
	if (ok_status && (rc || cJSON_IsFalse(succ))) {
		/* A failure inside a 2xx: the body's own HttpStatusCode says what kind. */
		const cJSON *hs = cJSON_GetObjectItemCaseSensitive(root, "HttpStatusCode");

		if (cJSON_IsNumber(hs) && hs->valuedouble >= 400 && hs->valuedouble < 600)
			rc = err_map((int)hs->valuedouble, code, 0);
		if (!rc)
			rc = -EIO;
		if (!msg && cJSON_IsFalse(succ))
			set_msg(err, "Success is false");
	}
	if (rc) {
		err_read_body(err, root);
		if (code)
			COPY_FIELD(err->code, code);
		if (msg)
			COPY_FIELD(err->message, msg);
		else if (!err->message[0])
			set_msg(err, "HTTP %d%s%s", http_status, code ? " " : "", code ? code : "");
		cJSON_Delete(root);
		return rc;
	}
	tc = cJSON_GetObjectItemCaseSensitive(root, "TotalCount");
	inst = cJSON_GetObjectItemCaseSensitive(root, "Instances");
	if (!tc) {
		set_msg(err, "malformed response: TotalCount is missing");
		goto bad;
	}
	if (!cJSON_IsNumber(tc)) {
		set_msg(err, "malformed response: TotalCount is %s, expected a number",
			json_type_name(tc));
		goto bad;
	}
	t = tc->valuedouble;
	if (!isfinite(t) || t < 0 || t > (double)MAX_TOTAL_COUNT || t != floor(t)) {
		set_msg(err, "malformed response: TotalCount %g is not an integer in 0..%ld", t,
			MAX_TOTAL_COUNT);
		goto bad;
	}
	if (!inst || cJSON_IsNull(inst)) {
		if (t != 0) {
			set_msg(err, "malformed response: Instances is %s but TotalCount is %.0f",
				json_type_name(inst), t);
			goto bad;
		}
		cJSON_DeleteItemFromObjectCaseSensitive(root, "Instances");
		if (!cJSON_AddArrayToObject(root, "Instances")) {
			cJSON_Delete(root);
			return -ENOMEM;
		}
		*page = root;
		return 0;
	}
	if (!cJSON_IsArray(inst)) {
		set_msg(err, "malformed response: Instances is %s, expected an array",
			json_type_name(inst));
		goto bad;
	}
	for (it = inst->child; it; it = next, i++) {
		const char *why = NULL;

		next = it->next;
		if (!cJSON_IsObject(it)) {
			why = json_type_name(it);
		} else if (!usable_id(it, &why, &rc)) {
			if (rc) {
				cJSON_Delete(root);
				return rc;
			}
		} else {
			continue;
		}
		/* One bad instance must not deny the fleet: it is left out and reported. */
		if (!nskipped++)
			set_msg(err, "Instances[%d] skipped: %s %s", i,
				cJSON_IsObject(it) ? "its InstanceId is" : "it is", why);
		cJSON_Delete(cJSON_DetachItemViaPointer(inst, it));
	}
	if (skipped)
		*skipped = nskipped;
	*page = root;
	return 0;
bad:
	cJSON_Delete(root);
	return -EBADMSG;
}

/* ---- one page with retries ---- */

static long backoff_ms(const struct api_client *c, int retry, bool throttled, long retry_after_ms)
{
	long base = c->backoff_base_ms, cap = c->backoff_max_ms, ceiling;

	if (throttled) {
		base *= THROTTLE_BASE_FACTOR;
		cap *= THROTTLE_MAX_FACTOR;
	}
	if (retry_after_ms > 0)
		return retry_after_ms < cap ? retry_after_ms : cap;
	ceiling = base;
	for (int i = 1; i < retry && ceiling < cap; i++)
		ceiling *= 2;
	if (ceiling > cap)
		ceiling = cap;
	/* Full jitter spreads retries of many clients; throttled ones still wait at least half. */
	if (throttled)
		return ceiling / 2 + (long)(rand_u32() % (uint32_t)(ceiling / 2 + 1));
	return (long)(rand_u32() % (uint32_t)(ceiling + 1));
}

/* What a fetched page brought besides its JSON. */
struct page_meta {
	size_t bytes;		/* response body length */
	int skipped;		/* instances api_parse_page left out */
	char skip_note[128];	/* which one first, or "" */
};

/* Fetches and validates one page, retrying what err_retryable allows. *requests counts the
 * HTTP requests sent (added atomically: pages may be fetched by several threads). meta may be
 * NULL; on success err->err is 0 and err->message empty. */
static int fetch_page(struct api_client *c, const struct list_req *r, int pn, int ps,
		      cJSON **page, struct page_meta *meta, int *requests, struct err_info *err)
{
	struct page_meta scratch;
	char pnbuf[16], psbuf[16];
	struct sign_kv *q;
	size_t nq = r->nfilters + 2;
	bool throttled = false;
	long retry_after = 0;
	int rc = 0, attempt;

	*page = NULL;
	if (!meta)
		meta = &scratch;
	memset(meta, 0, sizeof(*meta));
	q = malloc(nq * sizeof(*q));
	if (!q) {
		set_msg(err, "out of memory");
		rc = -ENOMEM;
		goto out_fill;
	}
	if (r->nfilters)
		memcpy(q, r->filters, r->nfilters * sizeof(*q));
	snprintf(pnbuf, sizeof(pnbuf), "%d", pn);
	snprintf(psbuf, sizeof(psbuf), "%d", ps);
	q[r->nfilters] = (struct sign_kv){ "PageNumber", pnbuf };
	q[r->nfilters + 1] = (struct sign_kv){ "PageSize", psbuf };
	for (attempt = 0;; attempt++) {
		struct xfer x = { .write_err = 0 };
		int status = 0;
		bool sent;

		if (attempt > 0) {
			stats_add(STATS_API_RETRIES, 1);
			sleep_ms(c, backoff_ms(c, attempt, throttled, retry_after));
		}
		if (client_aborted(c)) {
			rc = -ECANCELED;
			set_msg(err, "transfer aborted: dswfs is shutting down");
			break;
		}
		err->http_status = 0;
		err->curl_code = 0;
		err->code[0] = err->message[0] = err->request_id[0] = '\0';
		err_clear_body(err);
		buf_init(&x.body, c->max_body);
		rc = send_once(c, q, nq, &x, &status, &retry_after, &sent, err);
		if (sent)
			__atomic_add_fetch(requests, 1, __ATOMIC_RELAXED);
		if (!rc)
			rc = api_parse_page(x.body.data, x.body.len, status, x.ctype, page,
					    &meta->skipped, err);
		meta->bytes = x.body.len;
		buf_free(&x.body);
		if (!rc) {
			if (meta->skipped)
				COPY_FIELD(meta->skip_note, err->message);
			err->message[0] = '\0';
			stats_add(STATS_API_PAGES, 1);
			break;
		}
		stats_add(STATS_API_ERRORS, 1);
		throttled = err_is_throttling(err->code, err->http_status);
		if (throttled)
			stats_add(STATS_API_THROTTLED, 1);
		if (rc == -EBADMSG && pn > 1) {
			char pfx[32];

			snprintf(pfx, sizeof(pfx), "page %d: ", pn);
			prefix_msg(err, pfx);
		}
		if (!err_retryable(rc) || attempt >= c->max_retries)
			break;
		log_msg(LOG_DEBUG, "ListInstances page %d attempt %d failed (%d): %s", pn,
			attempt + 1, rc, err->message);
	}
	free(q);
	err->attempts = attempt + 1;
out_fill:
	err->err = rc;
	err->when = time(NULL);
	COPY_FIELD(err->query, r->filter_query);
	return rc;
}

/* ---- paging ---- */

/* InstanceId -> first page it was seen on; open addressing, keys borrowed from kept items. */
struct idset {
	struct idslot {
		const char *id;
		int page;
	} *slots;
	size_t cap, n;
};

static int idset_init(struct idset *s, size_t expect)
{
	s->cap = 64;
	while (s->cap < expect * 2 + 1)
		s->cap *= 2;
	s->n = 0;
	s->slots = calloc(s->cap, sizeof(*s->slots));
	return s->slots ? 0 : -ENOMEM;
}

/* Returns the page id was first seen on, or 0 after inserting it for page; -ENOMEM. */
static int idset_add(struct idset *s, const char *id, int page)
{
	size_t i;

	if ((s->n + 1) * 2 > s->cap) {
		struct idset big;

		if (idset_init(&big, s->cap) != 0)
			return -ENOMEM;
		for (size_t k = 0; k < s->cap; k++) {
			if (!s->slots[k].id)
				continue;
			i = hash_str(s->slots[k].id) & (big.cap - 1);
			while (big.slots[i].id)
				i = (i + 1) & (big.cap - 1);
			big.slots[i] = s->slots[k];
		}
		big.n = s->n;
		free(s->slots);
		*s = big;
	}
	i = hash_str(id) & (s->cap - 1);
	while (s->slots[i].id) {
		if (!strcmp(s->slots[i].id, id))
			return s->slots[i].page;
		i = (i + 1) & (s->cap - 1);
	}
	s->slots[i].id = id;
	s->slots[i].page = page;
	s->n++;
	return 0;
}

static long page_total(const cJSON *page)
{
	return (long)cJSON_GetObjectItemCaseSensitive(page, "TotalCount")->valuedouble;
}

static int page_count(const cJSON *page)
{
	return cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(page, "Instances"));
}

/* State shared by the threads fetching pages 2..npages of one walk. */
struct walk {
	struct api_client *c;
	const struct list_req *r;
	int ps;			/* PageSize in use: the configured one, or the server's cap */
	int npages;		/* pages TotalCount implies at ps; workers stop there */
	long total;		/* TotalCount of page 1 */
	cJSON **pages;		/* [1..slots], NULL when not fetched */
	int *counts;		/* [1..slots] instances each page held as sent, skipped included */
	int slots;
	int next;		/* next page to claim */
	int stop;		/* set on a failure, a TotalCount change or a short page */
	int requests, fetched;
	pthread_mutex_t lock;	/* guards the members below and pages/counts while workers run */
	struct idset seen;	/* InstanceIds of the pages arrived so far -> the page */
	size_t bytes;		/* response bytes of the pages held */
	int skipped, skip_page;
	char skip_note[128];
	int rc;
	int fail_page;
	struct err_info err;
};

/* Records a failure of page pn found after it arrived (w->lock held). */
static void walk_fail_locked(struct walk *w, int pn, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void walk_fail_locked(struct walk *w, int pn, int rc, const char *fmt, ...)
{
	char msg[sizeof(w->err.message)];
	va_list ap;

	if (w->rc && pn >= w->fail_page)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	memset(&w->err, 0, sizeof(w->err));
	w->err.err = rc;
	w->err.when = time(NULL);
	w->err.attempts = 1;
	set_msg(&w->err, "%s", msg);
	COPY_FIELD(w->err.query, w->r->filter_query);
	w->rc = rc;
	w->fail_page = pn;
	__atomic_store_n(&w->stop, 1, __ATOMIC_RELEASE);
}

/* Takes page pn into the walk the moment it arrives (w->lock held). A page that only repeats
 * instances of other pages, or one that takes the walk past max_walk_bytes, fails the walk here
 * and stops the fetching: judging only at the end let a server that ignores PageNumber fill
 * memory for as long as its TotalCount promised more pages. */
static void walk_arrive_locked(struct walk *w, int pn, cJSON *page, const struct page_meta *m)
{
	const cJSON *it;
	int n = 0, repeats = 0, repeat_of = 0;

	w->pages[pn] = page;
	w->counts[pn] = page_count(page) + m->skipped;
	w->bytes += m->bytes;
	if (m->skipped) {
		w->skipped += m->skipped;
		if (!w->skip_page || pn < w->skip_page) {
			w->skip_page = pn;
			COPY_FIELD(w->skip_note, m->skip_note);
		}
	}
	if (w->bytes > w->c->max_walk_bytes) {
		walk_fail_locked(w, pn, -EFBIG, "the listing exceeds max_walk_mb=%zu (MiB of "
				 "responses) at page %d of %d (TotalCount %ld)",
				 w->c->max_walk_bytes >> 20, pn, w->npages, w->total);
		return;
	}
	if (page_total(page) != w->total) {
		/* The list changed: judged (and the walk redone) at the end. */
		__atomic_store_n(&w->stop, 1, __ATOMIC_RELEASE);
		return;
	}
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(page, "Instances")) {
		int seen = idset_add(&w->seen, cJSON_GetObjectItemCaseSensitive(it,
						"InstanceId")->valuestring, pn);

		if (seen < 0) {
			walk_fail_locked(w, pn, -ENOMEM, "out of memory");
			return;
		}
		n++;
		if (seen && seen != pn) {
			repeats++;
			if (!repeat_of)
				repeat_of = seen;
		}
	}
	if (n > 0 && repeats == n) {
		walk_fail_locked(w, pn, -EPROTO, "server returned page %d again as page %d: all %d "
				 "of its instances were listed already (it ignores PageNumber?)",
				 repeat_of, pn, n);
		return;
	}
	if (pn < w->npages && w->counts[pn] < w->ps)
		__atomic_store_n(&w->stop, 1, __ATOMIC_RELEASE);	/* later pages are wasted */
}

/* Tells the progress hook how many pages arrived; total 0 = the walk is over. */
static void walk_progress(const struct walk *w, int done, int total)
{
	if (w->c->progress)
		w->c->progress(w->c->progress_ctx, done, total ? total : done);
}

static void *walk_worker(void *arg)
{
	struct walk *w = arg;
	struct err_info e;

	for (;;) {
		struct page_meta m;
		cJSON *page = NULL;
		int pn, rc;

		if (__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE))
			break;
		pn = __atomic_fetch_add(&w->next, 1, __ATOMIC_ACQ_REL);
		if (pn > w->npages)
			break;
		memset(&e, 0, sizeof(e));
		rc = fetch_page(w->c, w->r, pn, w->ps, &page, &m, &w->requests, &e);
		if (rc) {
			pthread_mutex_lock(&w->lock);
			/* Report the earliest failing page so the message is stable. */
			if (!w->rc || pn < w->fail_page) {
				w->rc = rc;
				w->fail_page = pn;
				w->err = e;
			}
			pthread_mutex_unlock(&w->lock);
			__atomic_store_n(&w->stop, 1, __ATOMIC_RELEASE);
			break;
		}
		walk_progress(w, __atomic_add_fetch(&w->fetched, 1, __ATOMIC_RELAXED), w->npages);
		pthread_mutex_lock(&w->lock);
		walk_arrive_locked(w, pn, page, &m);
		pthread_mutex_unlock(&w->lock);
	}
	return NULL;
}

static void walk_fetch_rest(struct walk *w, int workers)
{
	pthread_t tids[MAX_PARALLEL];
	int started = 0;

	for (int i = 1; i < workers; i++) {
		if (pthread_create(&tids[started], NULL, walk_worker, w) != 0)
			break;	/* fewer threads only means slower */
		started++;
	}
	walk_worker(w);
	for (int i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
}

/* Whether the pages held more distinct usable instances than TotalCount. Skipped elements do
 * not count: a server may well pad a page with junk that TotalCount never counted. */
static bool walk_lied(const struct walk *w)
{
	return (long)w->seen.n > w->total;
}

/* Room for pages up to pn (only while no worker runs). */
static int walk_grow(struct walk *w, int pn)
{
	int slots = w->slots;
	cJSON **pages;
	int *counts;

	if (pn <= slots)
		return 0;
	while (slots < pn)
		slots = slots < 16 ? 16 : slots * 2;
	pages = realloc(w->pages, ((size_t)slots + 1) * sizeof(*pages));
	if (!pages)
		return -ENOMEM;
	w->pages = pages;
	counts = realloc(w->counts, ((size_t)slots + 1) * sizeof(*counts));
	if (!counts)
		return -ENOMEM;
	w->counts = counts;
	for (int i = w->slots + 1; i <= slots; i++) {
		w->pages[i] = NULL;
		w->counts[i] = 0;
	}
	w->slots = slots;
	return 0;
}

/* Fetches pages 1.. into w: page 1, then (in parallel) the rest TotalCount implies, then, when
 * the pages held more than TotalCount said, one page at a time until a short one. Returns 0
 * (w->rc and w->err say whether a page failed), or -errno for the walk itself with err set. */
static int walk_fetch(struct walk *w, struct err_info *err)
{
	struct api_client *c = w->c;
	struct page_meta m;
	cJSON *first = NULL;
	int rc, n1, asked = w->ps;

	rc = fetch_page(c, w->r, 1, w->ps, &first, &m, &w->requests, err);
	if (rc)
		return rc;
	w->fetched++;
	w->total = page_total(first);
	n1 = page_count(first) + m.skipped;
	if (n1 > 0 && n1 < w->ps && w->total > n1) {
		/* A full first page shorter than asked: the server caps PageSize. Paging on with
		 * the cap keeps PageNumber's offsets right ((n-1) * cap, whatever was asked). */
		log_msg(LOG_INFO, "ListInstances %s: the server caps PageSize at %d (asked %d)",
			w->r->filter_query, n1, asked);
		w->ps = n1;
	}
	if (w->total / w->ps + 1 > MAX_PAGES) {
		cJSON_Delete(first);
		err->err = -EFBIG;
		err->when = time(NULL);
		err->attempts = 1;
		set_msg(err, "TotalCount %ld needs more than %ld pages of %d", w->total, MAX_PAGES,
			w->ps);
		return -EFBIG;
	}
	w->npages = w->total == 0 ? 1 : (int)((w->total + w->ps - 1) / w->ps);
	if (walk_grow(w, w->npages) != 0 || idset_init(&w->seen, (size_t)w->ps * 2) != 0) {
		cJSON_Delete(first);
		set_msg(err, "out of memory");
		return -ENOMEM;
	}
	walk_arrive_locked(w, 1, first, &m);	/* no other thread yet */
	walk_progress(w, 1, w->npages);
	w->next = 2;
	if (w->npages > 1 && !w->stop) {
		if (n1 == 0)
			w->stop = 1;	/* an empty first page: no point fetching more */
		else
			walk_fetch_rest(w, w->npages - 1 < c->parallel_pages ? w->npages - 1 :
									c->parallel_pages);
	}
	/* More instances than TotalCount announced: it is wrong, so only a short page ends the
	 * list. One page at a time: how many remain is unknown. */
	for (int pn = w->npages + 1; !w->stop && !w->rc && walk_lied(w) &&
				     w->counts[pn - 1] >= w->ps; pn++) {
		cJSON *page = NULL;
		struct err_info e;

		if (pn > MAX_PAGES) {
			walk_fail_locked(w, pn, -EFBIG, "more than %ld pages of %d (TotalCount %ld "
					 "was contradicted by the pages)", MAX_PAGES, w->ps,
					 w->total);
			break;
		}
		if (walk_grow(w, pn) != 0) {
			walk_fail_locked(w, pn, -ENOMEM, "out of memory");
			break;
		}
		memset(&e, 0, sizeof(e));
		rc = fetch_page(c, w->r, pn, w->ps, &page, &m, &w->requests, &e);
		if (rc) {
			w->rc = rc;
			w->fail_page = pn;
			w->err = e;
			break;
		}
		w->fetched++;
		walk_arrive_locked(w, pn, page, &m);
	}
	return 0;
}

enum walk_outcome { WALK_OK, WALK_INCONSISTENT };

/* One walk over every page. Returns WALK_OK with the instances in out, WALK_INCONSISTENT with
 * the reason in why (the list changed while paging), or -errno with err filled. lenient: accept
 * overlapping pages as long as TotalCount held and enough distinct instances were seen. */
static int walk_once(struct api_client *c, const struct list_req *r, bool lenient,
		     struct api_result *res, char *why, size_t whylen, struct err_info *err)
{
	struct walk w = { .c = c, .r = r, .ps = c->page_size };
	struct idset ids = { 0 };
	cJSON *out = NULL;
	int rc, overlap_page = 0, overlaps = 0, short_page = 0, drift_page = 0, last = 0;
	long drift_total = 0;
	bool lied;

	pthread_mutex_init(&w.lock, NULL);
	rc = walk_fetch(&w, err);
	walk_progress(&w, w.fetched, 0);	/* over: whatever the pages said */
	res->requests += w.requests;
	res->pages += w.fetched;
	lied = walk_lied(&w);
	/* What arrived is judged below; the early checks' index is no longer needed. */
	free(w.seen.slots);
	w.seen.slots = NULL;
	if (rc)
		goto out;
	if (w.rc) {
		*err = w.err;
		rc = w.rc;
		goto out;
	}
	{
		/* Sized by what arrived, not by TotalCount, which the server could inflate. */
		size_t items = 0;

		while (last < w.slots && w.pages[last + 1])
			items += (size_t)page_count(w.pages[++last]);
		rc = idset_init(&ids, items);
	}
	out = cJSON_CreateArray();
	if (rc || !out) {
		rc = -ENOMEM;
		set_msg(err, "out of memory");
		goto out;
	}
	for (int pn = 1; pn <= last; pn++) {
		cJSON *page = w.pages[pn], *list, *it;

		if (page_total(page) != w.total && !drift_page) {
			drift_page = pn;
			drift_total = page_total(page);
		}
		list = cJSON_GetObjectItemCaseSensitive(page, "Instances");
		if (pn < w.npages && w.counts[pn] < w.ps && !short_page)
			short_page = pn;
		while ((it = list->child) != NULL) {
			const char *id;
			int seen;

			cJSON_DetachItemViaPointer(list, it);
			id = cJSON_GetObjectItemCaseSensitive(it, "InstanceId")->valuestring;
			seen = idset_add(&ids, id, pn);
			if (seen < 0) {
				cJSON_Delete(it);
				rc = -ENOMEM;
				set_msg(err, "out of memory");
				goto out;
			}
			if (seen) {
				/* A repeat on the same page is a server quirk; one from an
				 * earlier page means the list shifted under us. */
				if (seen != pn && !overlap_page)
					overlap_page = pn;
				if (seen != pn)
					overlaps++;
				cJSON_Delete(it);
				continue;
			}
			cJSON_AddItemToArray(out, it);
		}
	}
	/* Skipped instances count towards TotalCount: the server did send them. */
	if (drift_page)
		snprintf(why, whylen, "TotalCount changed from %ld to %ld at page %d", w.total,
			 drift_total, drift_page);
	else if (overlap_page && !lenient)
		snprintf(why, whylen, "page %d repeated %d instance(s) of earlier pages",
			 overlap_page, overlaps);
	else if ((long)ids.n + w.skipped < w.total && short_page)
		snprintf(why, whylen, "page %d returned fewer than %d instances before "
			 "TotalCount %ld was reached (%zu seen)", short_page, w.ps, w.total, ids.n);
	else if ((long)ids.n + w.skipped < w.total)
		snprintf(why, whylen, "only %zu distinct instances listed but TotalCount is %ld",
			 ids.n, w.total);
	else
		why[0] = '\0';
	res->total_count = w.total;
	if (why[0]) {
		rc = WALK_INCONSISTENT;
		goto out;
	}
	rc = WALK_OK;
	res->instances = out;
	out = NULL;
	res->page_size = w.ps;
	res->skipped = w.skipped;
	res->total_lied = lied;
	{
		char lie[190] = "", skip[190] = "";	/* both fit res->warning */

		if (res->total_lied)
			snprintf(lie, sizeof(lie), "TotalCount %ld is smaller than the %ld "
				 "instances the pages held: paged on until a short page (%d pages "
				 "of %d)", w.total, (long)ids.n, last, w.ps);
		if (w.skipped)
			snprintf(skip, sizeof(skip), "%d instance(s) without a usable InstanceId "
				 "left out (page %d: %s)", w.skipped, w.skip_page, w.skip_note);
		snprintf(res->warning, sizeof(res->warning), "%s%s%s", lie,
			 lie[0] && skip[0] ? "; " : "", skip);
	}
out:
	cJSON_Delete(out);
	free(ids.slots);
	for (int pn = 1; pn <= w.slots; pn++)
		cJSON_Delete(w.pages[pn]);
	free(w.pages);
	free(w.counts);
	pthread_mutex_destroy(&w.lock);
	return rc;
}

int api_list_instances(struct api_client *c, const struct sign_kv *filters, size_t nfilters,
		       struct api_result *out, struct err_info *err)
{
	struct err_info scratch;
	struct list_req r;
	char why[256] = "";
	int rc = 0, walkno;

	if (!err)
		err = &scratch;
	memset(err, 0, sizeof(*err));
	memset(out, 0, sizeof(*out));
	rc = list_req_init(&r, filters, nfilters, err);
	if (rc)
		goto out_fail;
	for (walkno = 1; walkno <= MAX_WALKS; walkno++) {
		rc = walk_once(c, &r, walkno == MAX_WALKS, out, why, sizeof(why), err);
		if (rc < 0)
			goto out_fail;
		if (rc == WALK_OK) {
			stats_add(STATS_INSTANCES_SKIPPED, out->skipped);
			stats_add(STATS_TOTAL_COUNT_LIES, out->total_lied);
			memset(err, 0, sizeof(*err));
			if (out->warning[0]) {
				/* Complete, but the server misbehaved: the caller records it. */
				err->when = time(NULL);
				err->attempts = out->requests;
				set_msg(err, "%s", out->warning);
				COPY_FIELD(err->query, r.filter_query);
			}
			free(r.filter_query);
			return 0;
		}
		log_msg(LOG_INFO, "ListInstances %s: walk %d inconsistent (%s), %s",
			r.filter_query, walkno, why, walkno < MAX_WALKS ? "restarting" : "giving up");
	}
	memset(err, 0, sizeof(*err));
	rc = -EAGAIN;
	err->attempts = out->requests;
	set_msg(err, "the instance list kept changing while it was paged through (%d walks): %s",
		MAX_WALKS, why);
out_fail:
	err->err = rc;
	err->when = time(NULL);
	if (r.filter_query)
		COPY_FIELD(err->query, r.filter_query);
	free(r.filter_query);
	{
		int pages = out->pages, requests = out->requests;

		memset(out, 0, sizeof(*out));
		out->pages = pages;
		out->requests = requests;
	}
	return rc;
}

int api_list_page(struct api_client *c, const struct sign_kv *filters, size_t nfilters,
		  int page_number, int page_size, cJSON **page, struct err_info *err)
{
	struct err_info scratch;
	struct list_req r;
	int requests = 0, rc;

	if (!err)
		err = &scratch;
	memset(err, 0, sizeof(*err));
	*page = NULL;
	rc = list_req_init(&r, filters, nfilters, err);
	if (!rc && (page_number < 1 || page_size < 1 || page_size > MAX_PAGE_SIZE)) {
		set_msg(err, "page %d of size %d is out of range", page_number, page_size);
		rc = -EINVAL;
	}
	if (rc) {
		err->err = rc;
		err->when = time(NULL);
		free(r.filter_query);
		return rc;
	}
	rc = fetch_page(c, &r, page_number, page_size, page, NULL, &requests, err);
	free(r.filter_query);
	return rc;
}

void api_result_free(struct api_result *r)
{
	if (!r)
		return;
	cJSON_Delete(r->instances);
	r->instances = NULL;
}

int api_probe(struct api_client *c, const struct sign_kv *filters, size_t nfilters,
	      struct err_info *err)
{
	cJSON *page = NULL;
	int rc = api_list_page(c, filters, nfilters, 1, 1, &page, err);

	cJSON_Delete(page);
	return rc;
}
