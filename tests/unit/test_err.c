/* test_err: every errno mapping row, retryability, throttling and the formatters' truncation. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "err.h"
#include "tf.h"

TEST(success)
{
	CHECK_EQ_INT(err_map(200, NULL, 0), 0);
	CHECK_EQ_INT(err_map(200, "", 0), 0);
	CHECK_EQ_INT(err_map(200, "null", 0), 0);
	CHECK_EQ_INT(err_map(204, NULL, 0), 0);
	CHECK_EQ_INT(err_map(200, "200", 0), 0);
	CHECK_EQ_INT(err_map(200, "OK", 0), 0);
}

static const struct {
	const char *code;
	int status, err;
} rows[] = {
	{ "Throttling", 400, -EAGAIN },
	{ "Throttling.User", 400, -EAGAIN },
	{ "Throttling.Api", 400, -EAGAIN },
	{ "Throttling.User", 503, -EAGAIN },
	{ "Throttling", 200, -EAGAIN },
	{ "SignatureDoesNotMatch", 400, -EACCES },
	{ "InvalidAccessKeyId.NotFound", 404, -EACCES }, /* not ENOENT despite the 404 */
	{ "InvalidAccessKeyId.Inactive", 400, -EACCES },
	{ "InvalidAccessKeyId", 400, -EACCES },
	{ "Forbidden.RAM", 403, -EACCES },
	{ "Forbidden.AccessKeyDisabled", 403, -EACCES },
	{ "Forbidden", 400, -EACCES },
	{ "InvalidSecurityToken.Expired", 400, -EACCES },
	{ "InvalidSecurityToken.Malformed", 400, -EACCES },
	{ "InvalidSecurityToken.MismatchWithAccessKey", 400, -EACCES },
	{ "InvalidTimeStamp.Expired", 400, -EACCES },
	{ "InvalidTimeStamp.Format", 400, -EACCES },
	{ "SignatureNonceUsed", 400, -EAGAIN }, /* retried with a fresh nonce */
	{ "MissingAuthorization", 400, -EACCES },
	{ "MissingSignature", 400, -EACCES },
	{ "MissingAccessKeyId", 400, -EACCES },
	{ "MissingSecurityToken", 400, -EACCES },
	{ "IncompleteSignature", 400, -EACCES },
	{ "InternalError", 500, -EIO },
	{ "InternalError", 400, -EIO },
	{ "InternalFailure", 500, -EIO },
	{ "ServiceUnavailable", 503, -EIO },
	{ "ServiceUnavailableTemporary", 503, -EIO },
	{ "ValidationError", 400, -EINVAL },
	{ "InvalidParameter", 400, -EINVAL },
	{ "InvalidParameter.PageSize", 400, -EINVAL },
	{ "MissingParameter", 400, -EINVAL },
	/* unknown Codes fall back on the status */
	{ "SomethingNew", 400, -EINVAL },
	{ "SomethingNew", 404, -ENOENT },
	{ "SomethingNew", 403, -EACCES },
	{ "SomethingNew", 401, -EACCES },
	{ "SomethingNew", 429, -EAGAIN },
	{ "SomethingNew", 500, -EIO },
	{ "SomethingNew", 502, -EIO },
	{ "SomethingNew", 200, -EIO }, /* a 2xx with an error Code is a failure */
	{ NULL, 400, -EINVAL },
	{ NULL, 404, -ENOENT },
	{ NULL, 401, -EACCES },
	{ NULL, 403, -EACCES },
	{ NULL, 408, -ETIMEDOUT },
	{ NULL, 429, -EAGAIN },
	{ NULL, 500, -EIO },
	{ NULL, 503, -EIO },
	{ NULL, 504, -EIO },
	{ NULL, 301, -EPROTO },
	{ NULL, 0, -EIO },
	{ "null", 500, -EIO },
};

TEST(code_and_status_rows)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int got = err_map(rows[i].status, rows[i].code, 0);

		if (got != rows[i].err)
			tf_fail(__FILE__, __LINE__, "err_map(%d, %s) = %d, expected %d",
				rows[i].status, rows[i].code ? rows[i].code : "NULL", got,
				rows[i].err);
	}
}

static const struct {
	long cc;
	int err;
} curl_rows[] = {
	{ CURLE_OPERATION_TIMEDOUT, -ETIMEDOUT },
	{ CURLE_COULDNT_CONNECT, -ECONNREFUSED },
	{ CURLE_COULDNT_RESOLVE_HOST, -EHOSTUNREACH },
	{ CURLE_COULDNT_RESOLVE_PROXY, -EHOSTUNREACH },
	{ CURLE_RECV_ERROR, -ECONNRESET },
	{ CURLE_SEND_ERROR, -ECONNRESET },
	{ CURLE_GOT_NOTHING, -ECONNRESET },
	{ CURLE_HTTP2_STREAM, -ECONNRESET },
	{ CURLE_PARTIAL_FILE, -EBADMSG },
	{ CURLE_WEIRD_SERVER_REPLY, -EBADMSG },
	{ CURLE_WRITE_ERROR, -EFBIG },
	{ CURLE_FILESIZE_EXCEEDED, -EFBIG },
	{ CURLE_OUT_OF_MEMORY, -ENOMEM },
	{ CURLE_SSL_CONNECT_ERROR, -EPROTO },
	{ CURLE_PEER_FAILED_VERIFICATION, -EPROTO },
	{ CURLE_SSL_CACERT_BADFILE, -EPROTO },
	{ CURLE_SSL_CERTPROBLEM, -EPROTO },
	{ CURLE_UNSUPPORTED_PROTOCOL, -EINVAL },
	{ CURLE_URL_MALFORMAT, -EINVAL },
	{ CURLE_ABORTED_BY_CALLBACK, -ECANCELED },
	{ CURLE_FAILED_INIT, -EIO },
};

TEST(curl_rows_win_over_status)
{
	for (size_t i = 0; i < sizeof(curl_rows) / sizeof(curl_rows[0]); i++) {
		/* a transfer failure decides, whatever status or Code came before it */
		int got = err_map(200, "Throttling", curl_rows[i].cc);

		if (got != curl_rows[i].err)
			tf_fail(__FILE__, __LINE__, "err_map(curl %ld) = %d, expected %d",
				curl_rows[i].cc, got, curl_rows[i].err);
	}
}

TEST(retryable)
{
	CHECK(err_retryable(-EAGAIN));
	CHECK(err_retryable(-EIO));
	CHECK(err_retryable(-ETIMEDOUT));
	CHECK(err_retryable(-ECONNRESET));
	CHECK(err_retryable(-ECONNREFUSED));
	CHECK(err_retryable(-EBADMSG));
	CHECK(!err_retryable(0));
	CHECK(!err_retryable(-EACCES));
	CHECK(!err_retryable(-EINVAL));
	CHECK(!err_retryable(-ENOENT));
	CHECK(!err_retryable(-EFBIG));
	CHECK(!err_retryable(-EPROTO));
	CHECK(!err_retryable(-ENOMEM));
	CHECK(!err_retryable(-EHOSTUNREACH));
	/* the mapping and the retry policy agree on the documented classes */
	CHECK(err_retryable(err_map(503, "ServiceUnavailableTemporary", 0)));
	CHECK(err_retryable(err_map(400, "Throttling.User", 0)));
	CHECK(!err_retryable(err_map(400, "SignatureDoesNotMatch", 0)));
	CHECK(!err_retryable(err_map(400, "ValidationError", 0)));
	CHECK(err_retryable(err_map(0, NULL, CURLE_PARTIAL_FILE)));
	CHECK(!err_retryable(err_map(0, NULL, CURLE_PEER_FAILED_VERIFICATION)));
}

TEST(throttling)
{
	CHECK(err_is_throttling("Throttling", 400));
	CHECK(err_is_throttling("Throttling.User", 400));
	CHECK(err_is_throttling("Throttling.Api", 503));
	CHECK(err_is_throttling(NULL, 429));
	CHECK(err_is_throttling("", 429));
	CHECK(!err_is_throttling(NULL, 503));
	CHECK(!err_is_throttling("ServiceUnavailable", 503));
	CHECK(!err_is_throttling("SignatureDoesNotMatch", 400));
	CHECK(!err_is_throttling(NULL, 0));
	CHECK(!err_is_throttling("SignatureNonceUsed", 400));
}

static void sample(struct err_info *e)
{
	memset(e, 0, sizeof(*e));
	e->when = 1700000000; /* 2023-11-14T22:13:20Z */
	e->err = -EIO;
	e->http_status = 503;
	e->attempts = 3;
	snprintf(e->code, sizeof(e->code), "ServiceUnavailableTemporary");
	snprintf(e->message, sizeof(e->message), "The service is unavailable.");
	snprintf(e->request_id, sizeof(e->request_id), "REQ-1");
	snprintf(e->query, sizeof(e->query), "ResourceId=ALL&WorkspaceId=ALL");
}

TEST(format_line)
{
	struct err_info e;
	char out[1024];

	sample(&e);
	err_format(&e, out, sizeof(out));
	CHECK_EQ_STR(out, "2023-11-14T22:13:20Z ResourceId=ALL&WorkspaceId=ALL: HTTP 503 "
			  "ServiceUnavailableTemporary: The service is unavailable. "
			  "(RequestId REQ-1, 3 attempts)");
	CHECK(!strchr(out, '\n'));

	/* no HTTP answer, no message: curl code and strerror stand in */
	memset(&e, 0, sizeof(e));
	e.err = -ETIMEDOUT;
	e.curl_code = CURLE_OPERATION_TIMEDOUT;
	e.attempts = 1;
	err_format(&e, out, sizeof(out));
	CHECK(strstr(out, "(no filters): ") != NULL);
	CHECK(strstr(out, "curl error 28 ") != NULL);
	CHECK(strstr(out, "timed out") != NULL);
	CHECK(strstr(out, "(1 attempt)") != NULL);
}

TEST(format_long)
{
	struct err_info e;
	char out[2048];

	sample(&e);
	err_format_long(&e, out, sizeof(out));
	CHECK(strstr(out, "when: 2023-11-14T22:13:20Z\n") != NULL);
	CHECK(strstr(out, "query: ResourceId=ALL&WorkspaceId=ALL\n") != NULL);
	CHECK(strstr(out, "errno: -5 (EIO: ") != NULL);
	CHECK(strstr(out, "http_status: 503\n") != NULL);
	CHECK(strstr(out, "curl_code: 0\n") != NULL);
	CHECK(strstr(out, "code: ServiceUnavailableTemporary\n") != NULL);
	CHECK(strstr(out, "message: The service is unavailable.\n") != NULL);
	CHECK(strstr(out, "request_id: REQ-1\n") != NULL);
	CHECK(strstr(out, "attempts: 3\n") != NULL);
	e.curl_code = CURLE_COULDNT_CONNECT;
	err_format_long(&e, out, sizeof(out));
	CHECK(strstr(out, "curl_code: 7 (") != NULL);
}

/* A plain loop: GCC's -Wstringop-overread misjudges the bound of memchr/strnlen here. */
static bool has_nul(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!p[i])
			return true;
	return false;
}

TEST(format_truncation_never_overflows)
{
	struct err_info e;
	char out[300];

	sample(&e);
	/* fields filled to the brim, some without their NUL */
	memset(e.message, 'm', sizeof(e.message));
	memset(e.query, 'q', sizeof(e.query));
	memset(e.code, 'c', sizeof(e.code));
	memset(e.request_id, 'r', sizeof(e.request_id));
	for (size_t len = 0; len < sizeof(out); len++) {
		memset(out, 'X', sizeof(out));
		err_format(&e, out, len);
		if (len > 0 && !has_nul(out, len))
			tf_fail(__FILE__, __LINE__, "err_format: no NUL within %zu", len);
		for (size_t i = len; i < sizeof(out); i++)
			if (out[i] != 'X') {
				tf_fail(__FILE__, __LINE__, "err_format wrote byte %zu with len %zu",
					i, len);
				break;
			}
		memset(out, 'X', sizeof(out));
		err_format_long(&e, out, len);
		if (len > 0 && !has_nul(out, len))
			tf_fail(__FILE__, __LINE__, "err_format_long: no NUL within %zu", len);
		for (size_t i = len; i < sizeof(out); i++)
			if (out[i] != 'X') {
				tf_fail(__FILE__, __LINE__, "err_format_long wrote byte %zu, len %zu",
					i, len);
				break;
			}
	}
	err_format(&e, out, sizeof(out));
	CHECK_EQ_INT(strlen(out), sizeof(out) - 1);
	/* the field bound holds even without NULs: 512 'q's at most */
	{
		char big[4096];

		err_format(&e, big, sizeof(big));
		CHECK(strstr(big, "mmmm") != NULL);
		CHECK(strlen(big) < sizeof(e.query) + sizeof(e.code) + sizeof(e.message) +
					    sizeof(e.request_id) + 100);
	}
	err_format(&e, NULL, 0); /* nothing to write to: no crash */
}

/* ---------------------------------------------------------------- reading error answers */

TEST(read_body_as_the_official_engine)
{
	struct err_info e;
	char line[2048], lng[4096];
	cJSON *j;

	/* lower-case keys, AccessDeniedDetail as an object */
	memset(&e, 0, sizeof(e));
	j = cJSON_Parse("{\"code\":\"Forbidden.RAM\",\"message\":\"User not authorized\","
			"\"requestId\":\"RID-1\",\"HostId\":\"pai-dsw.cn-hangzhou.aliyuncs.com\","
			"\"Recommend\":\"https://api.aliyun.com/troubleshoot?q=Forbidden.RAM\","
			"\"AccessDeniedDetail\":{\"AuthAction\":\"pai:ListInstances\","
			"\"AuthPrincipalType\":\"SubUser\",\"AuthPrincipalDisplayName\":\"bob@corp\","
			"\"NoPermissionType\":\"ImplicitDeny\",\"PolicyType\":\"ResourceGroupLevel\"}}");
	CHECK_EQ_STR(err_read_body(&e, j), "Forbidden.RAM");
	cJSON_Delete(j);
	CHECK_EQ_STR(e.code, "Forbidden.RAM");
	CHECK_EQ_STR(e.message, "User not authorized");
	CHECK_EQ_STR(e.request_id, "RID-1");
	CHECK_EQ_STR(e.host_id, "pai-dsw.cn-hangzhou.aliyuncs.com");
	CHECK_EQ_STR(e.auth_action, "pai:ListInstances");
	CHECK_EQ_STR(e.auth_principal, "bob@corp");
	e.http_status = 403;
	e.err = -EACCES;
	e.attempts = 1;
	err_format(&e, line, sizeof(line));
	CHECK(strstr(line, "HTTP 403 Forbidden.RAM: User not authorized [missing permission "
		     "pai:ListInstances for bob@corp, ImplicitDeny, ResourceGroupLevel]; see "
		     "https://api.aliyun.com/troubleshoot?q=Forbidden.RAM (RequestId RID-1, "
		     "1 attempt)") != NULL);
	err_format_long(&e, lng, sizeof(lng));
	CHECK(strstr(lng, "host_id: pai-dsw.cn-hangzhou.aliyuncs.com\n") != NULL);
	CHECK(strstr(lng, "auth_action: pai:ListInstances\n") != NULL);
	CHECK(strstr(lng, "auth_principal: bob@corp\n") != NULL);
	CHECK(strstr(lng, "recommend: https://api.aliyun.com/troubleshoot?q=Forbidden.RAM\n") != NULL);
	err_clear_body(&e);
	CHECK_EQ_STR(e.auth_action, "");

	/* capitalised keys win; the detail inside a JSON string; control characters flattened */
	memset(&e, 0, sizeof(e));
	j = cJSON_Parse("{\"Code\":\"A\",\"code\":\"b\",\"Message\":\"two\\nlines\","
			"\"AccessDeniedDetail\":\"{\\\"AuthAction\\\":\\\"pai:ListInstances\\\"}\"}");
	CHECK_EQ_STR(err_read_body(&e, j), "A");
	cJSON_Delete(j);
	CHECK_EQ_STR(e.message, "two lines");
	CHECK_EQ_STR(e.auth_action, "pai:ListInstances");
	CHECK_EQ_STR(e.auth_principal, "");
	err_format_brief(&e, line, sizeof(line));
	CHECK(strstr(line, "A: two lines [missing permission pai:ListInstances]") != NULL);

	/* wrong types are ignored, not trusted */
	memset(&e, 0, sizeof(e));
	j = cJSON_Parse("{\"Code\":7,\"AccessDeniedDetail\":[1],\"Recommend\":null}");
	CHECK(err_read_body(&e, j) == NULL);
	cJSON_Delete(j);
	CHECK_EQ_STR(e.code, "");
	CHECK_EQ_STR(e.recommend, "");
}
