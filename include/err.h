/* err: the one place where HTTP statuses, curl results and API error Codes become errno. */
#ifndef DSWFS_ERR_H
#define DSWFS_ERR_H

#include <stdbool.h>
#include <time.h>

/* Everything the user is told about a failed API call. Fixed-size so it can be copied freely
 * between threads; longer texts are truncated. */
struct err_info {
	time_t when;
	int err;		/* the -errno the call returned */
	int http_status;	/* 0 when no HTTP response arrived */
	long curl_code;		/* CURLcode, 0 when the transfer itself succeeded */
	int attempts;		/* requests sent, retries included */
	char code[96];		/* API Code, or "" */
	char message[512];	/* API Message, or curl's / dswfs's own explanation */
	char request_id[96];	/* RequestId, or "" */
	char query[512];	/* the canonical query that failed */
};

/* Maps the outcome of one request to -errno; 0 means success (HTTP 2xx, no Code or an
 * empty/"null" Code, Success not false). code may be NULL. curl_code is a CURLcode.
 *   throttling Codes, HTTP 429, SignatureNonceUsed (a replayed nonce; a retry re-signs) -> -EAGAIN
 *   auth Codes (signature, key, token, timestamp, Forbidden*), HTTP 401/403 -> -EACCES
 *   ValidationError / other 4xx        -> -EINVAL (404 without a known Code -> -ENOENT)
 *   5xx, InternalError, ServiceUnavailable* -> -EIO
 *   curl timeouts                      -> -ETIMEDOUT
 *   curl connect / resolve failures    -> -ECONNREFUSED / -EHOSTUNREACH
 *   curl resets, empty replies, recv/send errors -> -ECONNRESET
 *   TLS and certificate errors         -> -EPROTO
 *   body over the cap                  -> -EFBIG
 * Malformed bodies are mapped by the caller to -EBADMSG (no HTTP or Code involved). */
int err_map(int http_status, const char *code, long curl_code);

/* Whether a request that failed with this -errno (from err_map, or -EBADMSG) is worth retrying:
 * throttling, 5xx, timeouts, resets, refused connections, truncated bodies. */
bool err_retryable(int err);

/* Whether the failure was throttling (so backoff should be longer). */
bool err_is_throttling(const char *code, int http_status);

/* One line for logs and .dswfs/last_error: "when query: HTTP 503 ServiceUnavailable: msg
 * (RequestId X, 3 attempts)". Writes at most len bytes, always NUL-terminated. */
void err_format(const struct err_info *e, char *out, size_t len);

/* Multi-line "name: value" form for .dswfs/last_error (when, query, errno, http_status, code,
 * message, request_id, attempts). Same truncation contract. */
void err_format_long(const struct err_info *e, char *out, size_t len);

#endif
