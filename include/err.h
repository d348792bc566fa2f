/* err: the one place where HTTP statuses, curl results and API error Codes become errno. */
#ifndef DSWFS_ERR_H
#define DSWFS_ERR_H

#include <stdbool.h>
#include <stddef.h>
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
	/* What the gateway adds for a person to act on (all "" when absent). */
	char host_id[96];		/* HostId: the endpoint that answered */
	char recommend[256];		/* Recommend: the diagnosis URL */
	char auth_action[128];		/* AccessDeniedDetail.AuthAction, e.g. pai:ListInstances */
	char auth_principal[160];	/* AccessDeniedDetail.AuthPrincipalDisplayName */
	char no_permission_type[64];	/* AccessDeniedDetail.NoPermissionType (ImplicitDeny, ...) */
	char policy_type[64];		/* AccessDeniedDetail.PolicyType */
};

struct cJSON;

/* Copies text into a fixed field: control characters become spaces (fields end up in one-line
 * logs) and a cut never splits a UTF-8 sequence. */
void err_copy_text(char *dst, size_t dstlen, const char *src, size_t srclen);
#define ERR_COPY_FIELD(field, s) err_copy_text((field), sizeof(field), (s), strlen(s))

/* Reads an error answer's fields into e the way the official engine does: Code or code,
 * Message or message, RequestId or requestId, HostId, Recommend, and AccessDeniedDetail
 * (an object, or a JSON string holding one). Fields the body lacks are left as they are.
 * Returns the Code found (borrowed from root) or NULL. */
const char *err_read_body(struct err_info *e, const struct cJSON *root);

/* A string member of an error body as the official engine finds it: name ("Code"), else the
 * same with a lower-case first letter ("code"). Borrowed from o; NULL when neither is a string. */
const char *err_json_str(const struct cJSON *o, const char *name);

/* Clears every field err_read_body fills. */
void err_clear_body(struct err_info *e);

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
 * (RequestId X, 3 attempts)"; a permission error adds "[missing permission <AuthAction> for
 * <principal>, <NoPermissionType>, <PolicyType>]" and a Recommend link "see <url>" when the API
 * gave them. Writes at most len bytes, always NUL-terminated. */
void err_format(const struct err_info *e, char *out, size_t len);

/* Just the answer: "HTTP 403 Code: message [missing permission ...]; see URL (RequestId X)",
 * for messages that say themselves which request it was. Same truncation contract. */
void err_format_brief(const struct err_info *e, char *out, size_t len);

/* Multi-line "name: value" form for .dswfs/last_error (when, query, errno, http_status, code,
 * message, request_id, attempts, then host_id, recommend, auth_action, auth_principal,
 * no_permission_type, policy_type when the API gave them). Same truncation contract. */
void err_format_long(const struct err_info *e, char *out, size_t len);

#endif
