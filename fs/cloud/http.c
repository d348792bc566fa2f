/* http: the one libcurl wrapper the API client and the credential sources share. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "http.h"

/* Never cleaned up: libcurl counts its inits, and the process ends with it in use. */
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init_once(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int http_init(char *why, size_t whylen)
{
	pthread_once(&curl_once, curl_init_once);
	if (curl_init_rc != CURLE_OK) {
		snprintf(why, whylen, "curl_global_init failed: %s", curl_easy_strerror(curl_init_rc));
		return -EIO;
	}
	return 0;
}

/* ---- endpoints */

static bool host_is_loopback(const char *host, bool bracketed)
{
	unsigned char a[16];

	if (bracketed)
		return inet_pton(AF_INET6, host, a) == 1 &&
		       IN6_IS_ADDR_LOOPBACK((const struct in6_addr *)a);
	if (!strcasecmp(host, "localhost"))
		return true;
	/* inet_pton takes only strict dotted quads: "127.1" or "0x7f.0.0.1" are not taken for
	 * loopback, since resolvers disagree on what they mean. */
	return inet_pton(AF_INET, host, a) == 1 && a[0] == 127;
}

static bool host_name_ok(const char *h)
{
	size_t n = strlen(h);

	if (n == 0 || n > 253 || h[0] == '.' || h[0] == '-' || strstr(h, ".."))
		return false;
	for (const char *p = h; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_'))
			return false;
	return true;
}

int http_parse_endpoint(const char *ep, char **base, char **host, bool *plain_http, char *why,
			size_t whylen)
{
	const char *rest, *end, *hs, *he, *port = NULL;
	char hostbuf[256], hostlc[256], portbuf[8] = "";
	bool https, bracketed = false;
	size_t alen, hlen;
	long portnum = 0;

	*base = *host = NULL;
	if (!ep || !*ep) {
		snprintf(why, whylen, "endpoint is empty");
		return -EINVAL;
	}
	if (!strncasecmp(ep, "https://", 8)) {
		https = true;
		rest = ep + 8;
	} else if (!strncasecmp(ep, "http://", 7)) {
		https = false;
		rest = ep + 7;
	} else {
		snprintf(why, whylen, "endpoint %.200s: scheme must be https:// (or http:// for a loopback "
			"address)", ep);
		return -EINVAL;
	}
	end = rest + strcspn(rest, "/?#");
	if (*end && strcmp(end, "/") != 0) {
		snprintf(why, whylen, "endpoint %.200s: must not have a path, query or fragment", ep);
		return -EINVAL;
	}
	alen = (size_t)(end - rest);
	if (alen == 0 || memchr(rest, '@', alen)) {
		snprintf(why, whylen, "endpoint %.200s: needs a host and no user information", ep);
		return -EINVAL;
	}
	if (rest[0] == '[') {
		const char *rb = memchr(rest, ']', alen);

		if (!rb) {
			snprintf(why, whylen, "endpoint %.200s: unterminated [IPv6] address", ep);
			return -EINVAL;
		}
		bracketed = true;
		hs = rest + 1;
		he = rb;
		if (rb + 1 < end) {
			if (rb[1] != ':') {
				snprintf(why, whylen, "endpoint %.200s: junk after [IPv6] address", ep);
				return -EINVAL;
			}
			port = rb + 2;
		}
	} else {
		const char *colon = memchr(rest, ':', alen);

		hs = rest;
		he = colon ? colon : end;
		if (colon)
			port = colon + 1;
	}
	hlen = (size_t)(he - hs);
	if (hlen == 0 || hlen >= sizeof(hostbuf)) {
		snprintf(why, whylen, "endpoint %.200s: bad host", ep);
		return -EINVAL;
	}
	memcpy(hostbuf, hs, hlen);
	hostbuf[hlen] = '\0';
	for (size_t i = 0; i <= hlen; i++)
		hostlc[i] = (hostbuf[i] >= 'A' && hostbuf[i] <= 'Z') ? (char)(hostbuf[i] + 32) :
			    hostbuf[i];
	if (bracketed) {
		unsigned char a[16];

		if (inet_pton(AF_INET6, hostbuf, a) != 1) {
			snprintf(why, whylen, "endpoint %.200s: bad IPv6 address", ep);
			return -EINVAL;
		}
	} else if (!host_name_ok(hostbuf)) {
		snprintf(why, whylen, "endpoint %.200s: bad host name", ep);
		return -EINVAL;
	}
	if (port) {
		size_t plen = (size_t)(end - port);

		if (plen == 0 || plen > 5 || strspn(port, "0123456789") < plen) {
			snprintf(why, whylen, "endpoint %.200s: bad port", ep);
			return -EINVAL;
		}
		memcpy(portbuf, port, plen);
		portbuf[plen] = '\0';
		portnum = strtol(portbuf, NULL, 10);
		if (portnum < 1 || portnum > 65535) {
			snprintf(why, whylen, "endpoint %.200s: port out of range", ep);
			return -EINVAL;
		}
	}
	if (!https && !host_is_loopback(hostbuf, bracketed)) {
		snprintf(why, whylen, "endpoint %.200s: plain http:// is allowed only for loopback hosts "
			"(127.0.0.0/8, [::1], localhost); use https://", ep);
		return -EINVAL;
	}
	{
		char portpart[8] = "", *b = NULL, *h = NULL;

		/* The Host header is signed, so it must be exactly what curl would send. */
		if (port && portnum != (https ? 443 : 80))
			snprintf(portpart, sizeof(portpart), ":%ld", portnum);
		if (asprintf(&h, "%s%s%s%s", bracketed ? "[" : "", hostlc, bracketed ? "]" : "",
			     portpart) < 0)
			return -ENOMEM;
		if (asprintf(&b, "%s://%s", https ? "https" : "http", h) < 0) {
			free(h);
			return -ENOMEM;
		}
		*base = b;
		*host = h;
	}
	*plain_http = !https;
	return 0;
}

void http_redact_url(const char *url, char *out, size_t n)
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

/* ---- one transfer */

void http_apply(CURL *h, const struct http_setup *s)
{
	bool post = s->method && strcmp(s->method, "GET") != 0;

	curl_easy_setopt(h, CURLOPT_URL, s->url);
	if (post && !strcmp(s->method, "POST")) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, s->body ? s->body : "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)s->body_len);
	} else if (post) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, s->method);
	} else {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, s->headers);
	curl_easy_setopt(h, CURLOPT_USERAGENT, s->user_agent ? s->user_agent : "dswfs/" DSWFS_VERSION);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, s->write_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, s->write_data);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, s->errbuf);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, s->connect_timeout_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, s->timeout_ms);
	/* A read timeout as the official SDKs have it: a stalled peer ends the transfer. */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, s->read_timeout_ms > 0 ? 1L : 0L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME,
			 s->read_timeout_ms > 0 ? (s->read_timeout_ms + 999) / 1000 : 0L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (s->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, s->ca_file);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, s->plain_http ? "http" : "https");
#else
	curl_easy_setopt(h, CURLOPT_PROTOCOLS, s->plain_http ? CURLPROTO_HTTP : CURLPROTO_HTTPS);
#endif
	/* A loopback endpoint must not be sent through an environment proxy. */
	if (s->plain_http || s->no_proxy) {
		curl_easy_setopt(h, CURLOPT_PROXY, "");
		curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	}
}

int http_body_init(struct http_body *hb, size_t cap, bool secret)
{
	static const char zeros[4096];
	int rc = 0;

	buf_init(&hb->b, cap);
	hb->too_big = false;
	hb->secret = secret;
	if (!secret)
		return 0;
	for (size_t done = 0; done < cap && !rc; done += sizeof(zeros))
		rc = buf_append(&hb->b, zeros, cap - done < sizeof(zeros) ? cap - done : sizeof(zeros));
	buf_reset(&hb->b);
	return rc;
}

void http_body_free(struct http_body *hb)
{
	if (hb->secret && hb->b.data)
		OPENSSL_cleanse(hb->b.data, hb->b.len);
	buf_free(&hb->b);
}

size_t http_body_write(char *data, size_t size, size_t nmemb, void *ud)
{
	struct http_body *hb = ud;
	size_t n = size * nmemb;

	if (buf_append(&hb->b, data, n) != 0) {
		hb->too_big = true;
		return 0;
	}
	return n;
}

/* Parses a non-negative decimal header value, capped; -1 when it is not one. */
static long header_number(const char *v, size_t n, long cap)
{
	long x = 0;
	size_t i = 0;

	while (i < n && (v[i] == ' ' || v[i] == '\t'))
		i++;
	if (i == n || !isdigit((unsigned char)v[i]))
		return -1;
	for (; i < n && isdigit((unsigned char)v[i]); i++)
		if ((x = x * 10 + (v[i] - '0')) > cap)
			x = cap;
	while (i < n && isspace((unsigned char)v[i]))
		i++;
	return i == n ? x : -1;
}

#define RETRY_AFTER_CAP_MS 3600000L

size_t http_header_cb(char *data, size_t size, size_t nmemb, void *ud)
{
	struct http_hints *hi = ud;
	size_t n = size * nmemb;
	static const char acs[] = "x-acs-retry-after:", std[] = "retry-after:";

	if (n > sizeof(acs) - 1 && !strncasecmp(data, acs, sizeof(acs) - 1)) {
		long v = header_number(data + sizeof(acs) - 1, n - (sizeof(acs) - 1),
				       RETRY_AFTER_CAP_MS);

		if (v > 0)
			hi->acs_ms = v;
	} else if (n > sizeof(std) - 1 && !strncasecmp(data, std, sizeof(std) - 1)) {
		/* Seconds; the HTTP-date form is not used by the gateway and is ignored. */
		long v = header_number(data + sizeof(std) - 1, n - (sizeof(std) - 1),
				       RETRY_AFTER_CAP_MS / 1000);

		if (v > 0)
			hi->std_s = v;
	}
	return n;
}

long http_retry_after_ms(const struct http_hints *hi)
{
	return hi->acs_ms > 0 ? hi->acs_ms : hi->std_s * 1000;
}

int http_fetch(struct http_setup *s, struct http_body *hb, long *status, char *why,
	       size_t whylen)
{
	CURL *c;
	CURLcode cc;
	int rc = http_init(why, whylen);

	*status = 0;
	if (rc)
		return rc;
	c = curl_easy_init();
	if (!c)
		return -ENOMEM;
	s->write_cb = http_body_write;
	s->write_data = hb;
	s->errbuf = NULL;
	http_apply(c, s);
	cc = curl_easy_perform(c);
	if (cc == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	} else if (hb->too_big) {
		snprintf(why, whylen, "response larger than %zu KiB", hb->b.cap / 1024);
		rc = -EIO;
	} else if (cc == CURLE_OPERATION_TIMEDOUT) {
		snprintf(why, whylen, "no answer within %ld ms", s->timeout_ms);
		rc = -ETIMEDOUT;
	} else if (cc == CURLE_OUT_OF_MEMORY) {
		rc = -ENOMEM;
	} else {
		snprintf(why, whylen, "%s", curl_easy_strerror(cc));
		rc = -EIO;
	}
	curl_easy_cleanup(c);
	return rc;
}

int http_nonce(char out[33])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[16];

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return -EIO;
	for (size_t i = 0; i < sizeof(raw); i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[32] = '\0';
	return 0;
}
