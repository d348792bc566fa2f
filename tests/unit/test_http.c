/* test_http: the shared curl wrapper's pure parts: retry hints from headers, URL redaction. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "tf.h"

static long hints_of(const char *const *lines)
{
	struct http_hints h = { 0 };

	for (; *lines; lines++)
		http_header_cb((char *)*lines, 1, strlen(*lines), &h);
	return http_retry_after_ms(&h);
}

TEST(retry_after_headers)
{
	static const char *const none[] = { "HTTP/1.1 400 Bad\r\n", "Content-Type: x\r\n", NULL };
	static const char *const acs[] = { "x-acs-retry-after: 1500\r\n", NULL };
	static const char *const std[] = { "Retry-After: 2\r\n", NULL };
	static const char *const both[] = { "Retry-After: 9\r\n", "X-Acs-Retry-After: 250\r\n", NULL };
	static const char *const junk[] = { "x-acs-retry-after: soon\r\n", "Retry-After: -3\r\n",
					    "retry-after: Wed, 21 Oct 2015 07:28:00 GMT\r\n", NULL };
	static const char *const huge[] = { "x-acs-retry-after: 99999999999999999999\r\n", NULL };

	CHECK_EQ_INT(hints_of(none), 0);
	CHECK_EQ_INT(hints_of(acs), 1500);	/* milliseconds */
	CHECK_EQ_INT(hints_of(std), 2000);	/* seconds */
	CHECK_EQ_INT(hints_of(both), 250);	/* the gateway's own header wins */
	CHECK_EQ_INT(hints_of(junk), 0);
	CHECK_EQ_INT(hints_of(huge), 3600000);	/* capped at an hour */
}

TEST(redact_url)
{
	char out[128];

	http_redact_url("http://user:pw@127.0.0.1:8080/creds?token=abc", out, sizeof(out));
	CHECK_EQ_STR(out, "http://127.0.0.1:8080/...");
	http_redact_url("https://sts.aliyuncs.com", out, sizeof(out));
	CHECK_EQ_STR(out, "https://sts.aliyuncs.com");
	http_redact_url("no-scheme", out, sizeof(out));
	CHECK_EQ_STR(out, "(a URL without a scheme)");
}

TEST(parse_endpoint)
{
	char why[256], *base, *host;
	bool plain;

	CHECK_EQ_INT(http_parse_endpoint("https://STS.aliyuncs.com:443", &base, &host, &plain, why,
					 sizeof(why)), 0);
	CHECK_EQ_STR(base, "https://sts.aliyuncs.com");
	CHECK_EQ_STR(host, "sts.aliyuncs.com");
	CHECK(!plain);
	free(base);
	free(host);
	CHECK_EQ_INT(http_parse_endpoint("http://sts.aliyuncs.com", &base, &host, &plain, why,
					 sizeof(why)), -EINVAL);
	CHECK(strstr(why, "only for loopback") != NULL);
	CHECK_EQ_INT(http_parse_endpoint("https://sts.cn-beijing.aliyuncs.com/x", &base, &host, &plain,
					 why, sizeof(why)), -EINVAL);
}

TEST(nonce)
{
	char a[33], b[33];

	CHECK_EQ_INT(http_nonce(a), 0);
	CHECK_EQ_INT(http_nonce(b), 0);
	CHECK_EQ_INT((int)strlen(a), 32);
	CHECK(strcmp(a, b) != 0);
	CHECK_EQ_INT((int)strspn(a, "0123456789abcdef"), 32);
}
