/* http: the one libcurl wrapper the API client and the credential sources share. */
#ifndef DSWFS_HTTP_H
#define DSWFS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <curl/curl.h>

#include "buf.h"

/* Every `why` buffer below must be non-NULL with whylen > 0.
 *
 * libcurl's process-wide init, once (several modules and threads may be first). Returns 0, or
 * -EIO with libcurl's reason in why. */
int http_init(char *why, size_t whylen);

/* Splits and checks an endpoint "https://host[:port]" (or http:// for loopback hosts only:
 * 127.0.0.0/8, [::1], localhost). On success *base is scheme://authority and *host the Host
 * header value (lower-case, default port dropped), both malloc'd for the caller. Returns 0,
 * -EINVAL with the reason in why, or -ENOMEM. */
int http_parse_endpoint(const char *ep, char **base, char **host, bool *plain_http, char *why,
			size_t whylen);

/* What every dswfs transfer sets on an easy handle. Nothing is copied: the pointers must stay
 * valid until the transfer ends. */
struct http_setup {
	const char *url;
	const char *method;		/* NULL or "GET"; "POST" sends body */
	const char *body;		/* POST body (may hold secrets; not copied) */
	size_t body_len;
	struct curl_slist *headers;
	const char *user_agent;		/* NULL = "dswfs/<version>" */
	long connect_timeout_ms;
	long timeout_ms;		/* whole transfer; 0 = none */
	long read_timeout_ms;		/* no byte for this long ends it (0 = only timeout_ms) */
	bool plain_http;		/* http:// only (loopback); else https:// only */
	bool no_proxy;			/* never through a proxy (always so for plain_http) */
	const char *ca_file;		/* NULL = system CAs; peers are always verified */
	curl_write_callback write_cb;
	void *write_data;
	char *errbuf;			/* CURL_ERROR_SIZE bytes, or NULL */
};

/* Applies s to h (an easy handle, possibly reused: every option dswfs uses is set). */
void http_apply(CURL *h, const struct http_setup *s);

/* The body of one response, capped at cap bytes. When secret is set, the buffer is allocated
 * at its full cap before the transfer (growing would leave copies in freed memory) and wiped
 * by http_body_free. */
struct http_body {
	struct buf b;
	bool too_big;
	bool secret;
};

int http_body_init(struct http_body *hb, size_t cap, bool secret);
void http_body_free(struct http_body *hb);
size_t http_body_write(char *data, size_t size, size_t nmemb, void *ud);

/* Response headers worth keeping. Set CURLOPT_HEADERFUNCTION to http_header_cb and
 * CURLOPT_HEADERDATA to a zeroed struct http_hints. */
struct http_hints {
	long acs_ms;	/* x-acs-retry-after: milliseconds, what Alibaba Cloud's gateway sends */
	long std_s;	/* Retry-After: seconds */
};
size_t http_header_cb(char *data, size_t size, size_t nmemb, void *ud);

/* The throttling wait the response asked for in milliseconds (x-acs-retry-after wins over
 * Retry-After; both capped at an hour), 0 when neither was sent. */
long http_retry_after_ms(const struct http_hints *hi);

/* One self-contained request (a fresh handle, closed afterwards): for the credential sources,
 * which fetch rarely. s->write_cb/write_data are filled in here. Returns 0 with the HTTP status
 * in *status and the body in hb, or -ETIMEDOUT, -EIO (connection failed, body over the cap),
 * -ENOMEM, with a reason in why (never any of the request's or response's bytes). */
int http_fetch(struct http_setup *s, struct http_body *hb, long *status, char *why,
	       size_t whylen);

/* A URL for messages: scheme://host[:port] and "/..." when more followed, so a token in the
 * path, query or userinfo never reaches a log. */
void http_redact_url(const char *url, char *out, size_t n);

/* A fresh x-acs-signature-nonce: 32 hex digits from the CSPRNG. Returns 0 or -EIO. */
int http_nonce(char out[33]);

#endif
