/* err: the one place where HTTP statuses, curl results and API error Codes become errno. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <ctype.h>
#include <curl/curl.h>
#include <cjson/cJSON.h>

#include "err.h"

/* How an API Code is matched: the whole Code, or any Code starting with the pattern. */
enum match { EXACT, PREFIX };

static const struct code_row {
	const char *code;
	enum match match;
	int err;
} code_table[] = {
	/* Flow control: retried with a longer backoff. */
	{ "Throttling", PREFIX, -EAGAIN },	/* Throttling, .User, .Api, ... */
	{ "Throttled", PREFIX, -EAGAIN },
	{ "ServiceUnavailable", PREFIX, -EIO },	/* ServiceUnavailable, ...Temporary */
	{ "InternalError", PREFIX, -EIO },
	{ "InternalFailure", PREFIX, -EIO },
	{ "UnknownError", EXACT, -EIO },
	/* A replayed nonce is not an authentication failure: libcurl resends a request by itself
	 * when a reused connection dies before the answer, nonce and all. A retry of ours signs
	 * afresh with a new nonce, so this is retryable. */
	{ "SignatureNonceUsed", EXACT, -EAGAIN },
	/* Authentication and authorisation: a retry cannot fix these. */
	{ "SignatureDoesNotMatch", EXACT, -EACCES },
	{ "IncompleteSignature", PREFIX, -EACCES },
	{ "InvalidSignature", PREFIX, -EACCES },
	{ "InvalidAccessKeyId", PREFIX, -EACCES },	/* incl. .NotFound (HTTP 404, not ENOENT) */
	{ "InvalidAccessKeySecret", PREFIX, -EACCES },
	{ "InvalidSecurityToken", PREFIX, -EACCES },
	{ "InvalidTimeStamp", PREFIX, -EACCES },	/* .Expired, .Format */
	{ "MissingAuthorization", PREFIX, -EACCES },
	{ "MissingSignature", PREFIX, -EACCES },
	{ "MissingAccessKeyId", PREFIX, -EACCES },
	{ "MissingSecurityToken", PREFIX, -EACCES },
	{ "MissingTimeStamp", PREFIX, -EACCES },
	{ "MissingSignatureNonce", PREFIX, -EACCES },
	{ "Forbidden", PREFIX, -EACCES },		/* Forbidden.RAM, Forbidden.AccessKeyDisabled */
	{ "NoPermission", PREFIX, -EACCES },
	{ "Unauthorized", PREFIX, -EACCES },
	/* The request itself is wrong. */
	{ "ValidationError", EXACT, -EINVAL },
	{ "InvalidParameter", PREFIX, -EINVAL },
	{ "MissingParameter", PREFIX, -EINVAL },
	{ "InvalidAction", PREFIX, -EINVAL },
	{ "InvalidVersion", PREFIX, -EINVAL },
};

/* Codes a successful 2xx answer may carry (the published example shows "null"). */
static bool code_is_success(const char *code)
{
	return !code || !code[0] || !strcasecmp(code, "null") || !strcmp(code, "200") ||
	       !strcasecmp(code, "OK") || !strcasecmp(code, "Success");
}

static int map_code(const char *code)
{
	for (size_t i = 0; i < sizeof(code_table) / sizeof(code_table[0]); i++) {
		const struct code_row *r = &code_table[i];

		if (r->match == EXACT ? !strcmp(code, r->code) :
					!strncmp(code, r->code, strlen(r->code)))
			return r->err;
	}
	return 0;
}

static int map_curl(long cc)
{
	switch (cc) {
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return -ECONNRESET;
	case CURLE_PARTIAL_FILE:	/* the body stopped short of its Content-Length */
	case CURLE_BAD_CONTENT_ENCODING:
	case CURLE_WEIRD_SERVER_REPLY:
		return -EBADMSG;
	case CURLE_WRITE_ERROR:		/* our write callback refuses data only at the cap */
	case CURLE_FILESIZE_EXCEEDED:
		return -EFBIG;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_SHUTDOWN_FAILED:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CLIENTCERT:
	case CURLE_USE_SSL_FAILED:
		return -EPROTO;
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_BAD_FUNCTION_ARGUMENT:
		return -EINVAL;
	case CURLE_ABORTED_BY_CALLBACK:
		return -ECANCELED;
	default:
		return -EIO;
	}
}

int err_map(int http_status, const char *code, long curl_code)
{
	bool ok_status = http_status >= 200 && http_status < 300;
	int rc;

	if (curl_code != 0)
		return map_curl(curl_code);
	if (ok_status && code_is_success(code))
		return 0;
	if (code && !code_is_success(code)) {
		rc = map_code(code);
		if (rc)
			return rc;
		/* An unknown Code: the HTTP status decides, and a 2xx carrying one is a failure. */
	}
	if (http_status == 429)
		return -EAGAIN;
	if (http_status == 401 || http_status == 403)
		return -EACCES;
	if (http_status == 404)
		return -ENOENT;
	if (http_status == 408)
		return -ETIMEDOUT;
	if (http_status >= 400 && http_status < 500)
		return -EINVAL;
	if (http_status >= 300 && http_status < 400)
		return -EPROTO;	/* redirects are never followed: the endpoint is wrong */
	return -EIO;		/* 5xx, 2xx with an unknown Code, or no status at all */
}

bool err_retryable(int err)
{
	switch (err) {
	case -EAGAIN:
	case -EIO:
	case -ETIMEDOUT:
	case -ECONNRESET:
	case -ECONNREFUSED:
	case -EBADMSG:
		return true;
	default:
		return false;
	}
}

bool err_is_throttling(const char *code, int http_status)
{
	if (http_status == 429)
		return true;
	return code && (!strncmp(code, "Throttling", 10) || !strncmp(code, "Throttled", 9));
}

/* Appends to out without ever overflowing; *pos may pass len, later appends then do nothing. */
static void put(char *out, size_t len, size_t *pos, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void put(char *out, size_t len, size_t *pos, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*pos + 1 >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(out + *pos, len - *pos, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	*pos += (size_t)n;
	if (*pos >= len)
		*pos = len - 1;
}

static const char *errno_name(int e)
{
	switch (e) {
	case 0: return "0";
	case EAGAIN: return "EAGAIN";
	case EACCES: return "EACCES";
	case EINVAL: return "EINVAL";
	case ENOENT: return "ENOENT";
	case EIO: return "EIO";
	case ETIMEDOUT: return "ETIMEDOUT";
	case ECONNREFUSED: return "ECONNREFUSED";
	case EHOSTUNREACH: return "EHOSTUNREACH";
	case ECONNRESET: return "ECONNRESET";
	case EPROTO: return "EPROTO";
	case EFBIG: return "EFBIG";
	case EBADMSG: return "EBADMSG";
	case ENOMEM: return "ENOMEM";
	case ECANCELED: return "ECANCELED";
	case E2BIG: return "E2BIG";
	default: return NULL;
	}
}

static void format_when(time_t when, char out[32])
{
	struct tm tm;

	if (!when || !gmtime_r(&when, &tm) || !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, 32, "-");
}

/* Field lengths are bounded by the array even if a writer forgot the NUL. */
#define FIELD(e, f) (int)strnlen((e)->f, sizeof((e)->f)), (e)->f

/* The part of a report that is about the answer: "HTTP 403 Code: message [...]; see URL". */
static void format_answer(const struct err_info *e, char *out, size_t len, size_t *pos)
{
	char ebuf[128];
	const char *msg = e->message[0] ? NULL : strerror_r(-e->err, ebuf, sizeof(ebuf));

	if (e->http_status)
		put(out, len, pos, "HTTP %d ", e->http_status);
	else if (e->curl_code)
		put(out, len, pos, "curl error %ld ", e->curl_code);
	if (e->code[0])
		put(out, len, pos, "%.*s: ", FIELD(e, code));
	if (msg)
		put(out, len, pos, "%s", msg);
	else
		put(out, len, pos, "%.*s", FIELD(e, message));
	if (e->auth_action[0] || e->auth_principal[0]) {
		put(out, len, pos, " [missing permission %.*s", FIELD(e, auth_action));
		if (!e->auth_action[0])
			put(out, len, pos, "(action not named)");
		if (e->auth_principal[0])
			put(out, len, pos, " for %.*s", FIELD(e, auth_principal));
		if (e->no_permission_type[0])
			put(out, len, pos, ", %.*s", FIELD(e, no_permission_type));
		if (e->policy_type[0])
			put(out, len, pos, ", %.*s", FIELD(e, policy_type));
		put(out, len, pos, "]");
	}
	if (e->recommend[0])
		put(out, len, pos, "; see %.*s", FIELD(e, recommend));
}

void err_format_brief(const struct err_info *e, char *out, size_t len)
{
	size_t pos = 0;

	if (!out || len == 0)
		return;
	out[0] = '\0';
	format_answer(e, out, len, &pos);
	if (e->request_id[0])
		put(out, len, &pos, " (RequestId %.*s)", FIELD(e, request_id));
}

void err_format(const struct err_info *e, char *out, size_t len)
{
	char when[32];
	size_t pos = 0;

	if (!out || len == 0)
		return;
	out[0] = '\0';
	format_when(e->when, when);
	if (e->query[0])
		put(out, len, &pos, "%s %.*s: ", when, FIELD(e, query));
	else
		put(out, len, &pos, "%s (no filters): ", when);
	format_answer(e, out, len, &pos);
	put(out, len, &pos, " (");
	if (e->request_id[0])
		put(out, len, &pos, "RequestId %.*s, ", FIELD(e, request_id));
	put(out, len, &pos, "%d attempt%s)", e->attempts, e->attempts == 1 ? "" : "s");
}

void err_format_long(const struct err_info *e, char *out, size_t len)
{
	char when[32], ebuf[128];
	const char *name = errno_name(-e->err);
	size_t pos = 0;

	if (!out || len == 0)
		return;
	out[0] = '\0';
	format_when(e->when, when);
	put(out, len, &pos, "when: %s\n", when);
	put(out, len, &pos, "query: %.*s\n", FIELD(e, query));
	put(out, len, &pos, "errno: %d (%s: %s)\n", e->err, name ? name : "?",
	    strerror_r(-e->err, ebuf, sizeof(ebuf)));
	put(out, len, &pos, "http_status: %d\n", e->http_status);
	put(out, len, &pos, "curl_code: %ld", e->curl_code);
	if (e->curl_code)
		put(out, len, &pos, " (%s)", curl_easy_strerror((CURLcode)e->curl_code));
	put(out, len, &pos, "\n");
	put(out, len, &pos, "code: %.*s\n", FIELD(e, code));
	put(out, len, &pos, "message: %.*s\n", FIELD(e, message));
	put(out, len, &pos, "request_id: %.*s\n", FIELD(e, request_id));
	put(out, len, &pos, "attempts: %d\n", e->attempts);
	if (e->host_id[0])
		put(out, len, &pos, "host_id: %.*s\n", FIELD(e, host_id));
	if (e->recommend[0])
		put(out, len, &pos, "recommend: %.*s\n", FIELD(e, recommend));
	if (e->auth_action[0])
		put(out, len, &pos, "auth_action: %.*s\n", FIELD(e, auth_action));
	if (e->auth_principal[0])
		put(out, len, &pos, "auth_principal: %.*s\n", FIELD(e, auth_principal));
	if (e->no_permission_type[0])
		put(out, len, &pos, "no_permission_type: %.*s\n", FIELD(e, no_permission_type));
	if (e->policy_type[0])
		put(out, len, &pos, "policy_type: %.*s\n", FIELD(e, policy_type));
}

/* ---- reading error answers */

void err_copy_text(char *dst, size_t dstlen, const char *src, size_t srclen)
{
	size_t n = srclen < dstlen - 1 ? srclen : dstlen - 1;

	if (n < srclen)
		while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
			n--;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)src[i];

		dst[i] = (ch < 0x20 || ch == 0x7f) ? ' ' : (char)ch;
	}
	dst[n] = '\0';
}

const char *err_json_str(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	char lower[64];

	if (cJSON_IsString(v) && v->valuestring)
		return v->valuestring;
	if (!name[0] || strlen(name) >= sizeof(lower))
		return NULL;
	snprintf(lower, sizeof(lower), "%s", name);
	lower[0] = (char)tolower((unsigned char)lower[0]);
	v = cJSON_GetObjectItemCaseSensitive(o, lower);
	return cJSON_IsString(v) && v->valuestring ? v->valuestring : NULL;
}

void err_clear_body(struct err_info *e)
{
	e->host_id[0] = e->recommend[0] = e->auth_action[0] = e->auth_principal[0] = '\0';
	e->no_permission_type[0] = e->policy_type[0] = '\0';
}

#define COPY_IF(field, s) do { if (s) ERR_COPY_FIELD(field, s); } while (0)

const char *err_read_body(struct err_info *e, const cJSON *root)
{
	const char *code = err_json_str(root, "Code"), *msg = err_json_str(root, "Message");
	const char *rid = err_json_str(root, "RequestId");
	const cJSON *d;
	cJSON *parsed = NULL;

	COPY_IF(e->code, code);
	COPY_IF(e->message, msg);
	COPY_IF(e->request_id, rid);
	COPY_IF(e->host_id, err_json_str(root, "HostId"));
	COPY_IF(e->recommend, err_json_str(root, "Recommend"));
	d = cJSON_GetObjectItemCaseSensitive(root, "AccessDeniedDetail");
	if (!d)
		d = cJSON_GetObjectItemCaseSensitive(root, "accessDeniedDetail");
	/* Some gateways send the detail as a JSON document inside a string. */
	if (cJSON_IsString(d) && d->valuestring && strlen(d->valuestring) < 8192) {
		parsed = cJSON_Parse(d->valuestring);
		d = parsed;
	}
	if (cJSON_IsObject(d)) {
		COPY_IF(e->auth_action, err_json_str(d, "AuthAction"));
		COPY_IF(e->auth_principal, err_json_str(d, "AuthPrincipalDisplayName"));
		COPY_IF(e->no_permission_type, err_json_str(d, "NoPermissionType"));
		COPY_IF(e->policy_type, err_json_str(d, "PolicyType"));
	}
	cJSON_Delete(parsed);
	return code;
}
