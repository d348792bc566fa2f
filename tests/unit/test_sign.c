/* test_sign: the ACS3-HMAC-SHA256 signer against the published vectors and encoding edge cases. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sign.h"
#include "tf.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void check_encode(const char *in, const char *want, const char *file, int line)
{
	char *got = sign_encode(in);

	if (!got || strcmp(got, want) != 0)
		tf_fail(file, line, "sign_encode(\"%s\") is \"%s\", expected \"%s\"", in,
			got ? got : "(null)", want);
	free(got);
}
#define CHECK_ENCODE(in, want) check_encode(in, want, __FILE__, __LINE__)

static void check_path(const char *in, const char *want, const char *file, int line)
{
	char *got = sign_encode_path(in);

	if (!got || strcmp(got, want) != 0)
		tf_fail(file, line, "sign_encode_path(\"%s\") is \"%s\", expected \"%s\"", in,
			got ? got : "(null)", want);
	free(got);
}
#define CHECK_PATH(in, want) check_path(in, want, __FILE__, __LINE__)

/* The first published vector: an ECS RunInstances POST. */
static const struct sign_kv v1_query[] = {
	{ "RegionId", "cn-shanghai" },
	{ "ImageId", "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd" },
};
static const struct sign_kv v1_headers[] = {
	{ "host", "ecs.cn-shanghai.aliyuncs.com" },
	{ "x-acs-action", "RunInstances" },
	{ "x-acs-version", "2014-05-26" },
	{ "x-acs-date", "2023-10-26T10:22:32Z" },
	{ "x-acs-signature-nonce", "3156853299f313e23d1673dc12e1703d" },
	{ "x-acs-content-sha256", SIGN_EMPTY_SHA256 },
};

static struct sign_request v1_request(void)
{
	struct sign_request r = {
		.method = "POST", .path = "/", .query = v1_query, .nquery = N(v1_query),
		.headers = v1_headers, .nheaders = N(v1_headers), .payload_hash = SIGN_EMPTY_SHA256,
	};
	return r;
}

TEST(vector1_canonical_request_hash)
{
	struct sign_request r = v1_request();
	char *creq = sign_canonical_request(&r), hash[65];

	CHECK(creq != NULL);
	if (!creq)
		return;
	sign_sha256_hex(creq, strlen(creq), hash);
	CHECK_EQ_STR(hash, "7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259");
	CHECK_EQ_STR(creq,
		     "POST\n/\n"
		     "ImageId=win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd&RegionId=cn-shanghai\n"
		     "host:ecs.cn-shanghai.aliyuncs.com\n"
		     "x-acs-action:RunInstances\n"
		     "x-acs-content-sha256:" SIGN_EMPTY_SHA256 "\n"
		     "x-acs-date:2023-10-26T10:22:32Z\n"
		     "x-acs-signature-nonce:3156853299f313e23d1673dc12e1703d\n"
		     "x-acs-version:2014-05-26\n"
		     "\n"
		     "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;"
		     "x-acs-version\n" SIGN_EMPTY_SHA256);
	free(creq);
}

TEST(vector1_signature_and_authorization)
{
	struct sign_request r = v1_request();
	char sig[65], *sh = NULL, *auth;

	CHECK_EQ_INT(sign_signature(&r, "YourAccessKeySecret", sig, &sh), 0);
	CHECK_EQ_STR(sig, "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0");
	CHECK_EQ_STR(sh, "host;x-acs-action;x-acs-content-sha256;x-acs-date;"
			 "x-acs-signature-nonce;x-acs-version");
	free(sh);
	/* signed_headers may be NULL */
	CHECK_EQ_INT(sign_signature(&r, "YourAccessKeySecret", sig, NULL), 0);
	CHECK_EQ_STR(sig, "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0");
	auth = sign_authorization(&r, "YourAccessKeyId", "YourAccessKeySecret");
	CHECK_EQ_STR(auth, "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=host;"
			   "x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;"
			   "x-acs-version,Signature="
			   "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0");
	free(auth);
}

/* The second published vector: empty method and path, a repeated header, an empty value. */
TEST(vector2_empty_method_path_repeated_header)
{
	static const struct sign_kv q[] = { { "test", "ok" }, { "empty", "" } };
	static const struct sign_kv h[] = { { "x-acs-test", "http" }, { "x-acs-test", "https" } };
	struct sign_request r = {
		.method = "", .path = "", .query = q, .nquery = N(q), .headers = h,
		.nheaders = N(h),
		.payload_hash = "55e12e91650d2fec56ec74e1d3e4ddbfce2ef3a65890c2a19ecf88a307e76a23",
	};
	char sig[65], *sh = NULL, *creq = sign_canonical_request(&r), *auth;

	CHECK_EQ_STR(creq, "\n/\nempty=&test=ok\nx-acs-test:http,https\n\nx-acs-test\n"
			   "55e12e91650d2fec56ec74e1d3e4ddbfce2ef3a65890c2a19ecf88a307e76a23");
	free(creq);
	CHECK_EQ_INT(sign_signature(&r, "secret", sig, &sh), 0);
	CHECK_EQ_STR(sig, "4ab59fffe3c5738ff8a2729f90cc04fe18b02a4b15b2102cbaf92f9ff3df2ea3");
	CHECK_EQ_STR(sh, "x-acs-test");
	free(sh);
	auth = sign_authorization(&r, "acesskey", "secret");
	CHECK_EQ_STR(auth, "ACS3-HMAC-SHA256 Credential=acesskey,SignedHeaders=x-acs-test,"
			   "Signature=4ab59fffe3c5738ff8a2729f90cc04fe18b02a4b15b2102cbaf92f9ff3df2ea3");
	free(auth);
}

TEST(vector2_header_case_variants_merge)
{
	/* The same header under two spellings is one signed header. */
	static const struct sign_kv q[] = { { "empty", "" }, { "test", "ok" } };
	static const struct sign_kv h[] = { { "X-Acs-Test", "  http\t" }, { "x-ACS-test", " https " } };
	struct sign_request r = {
		.method = "", .path = NULL, .query = q, .nquery = N(q), .headers = h,
		.nheaders = N(h),
		.payload_hash = "55e12e91650d2fec56ec74e1d3e4ddbfce2ef3a65890c2a19ecf88a307e76a23",
	};
	char sig[65];

	CHECK_EQ_INT(sign_signature(&r, "secret", sig, NULL), 0);
	CHECK_EQ_STR(sig, "4ab59fffe3c5738ff8a2729f90cc04fe18b02a4b15b2102cbaf92f9ff3df2ea3");
}

TEST(encode_unreserved_kept)
{
	CHECK_ENCODE("", "");
	CHECK_ENCODE("AZaz09-_.~", "AZaz09-_.~");
	CHECK_ENCODE("abcXYZ", "abcXYZ");
}

TEST(encode_reserved_and_specials)
{
	CHECK_ENCODE(" ", "%20");
	CHECK_ENCODE("a b", "a%20b");
	CHECK_ENCODE("*", "%2A");
	CHECK_ENCODE("/", "%2F");
	CHECK_ENCODE("+", "%2B");
	CHECK_ENCODE("=", "%3D");
	CHECK_ENCODE("&", "%26");
	CHECK_ENCODE("%", "%25");
	CHECK_ENCODE("%20", "%2520");
	CHECK_ENCODE("!'()", "%21%27%28%29");
	CHECK_ENCODE(",;:@?#[]$", "%2C%3B%3A%40%3F%23%5B%5D%24");
	CHECK_ENCODE("\"{}\\|^`<>", "%22%7B%7D%5C%7C%5E%60%3C%3E");
	CHECK_ENCODE("\t\n\r\x01\x7f", "%09%0A%0D%01%7F");
	CHECK_ENCODE("{\"k1\":\"v 1\"}", "%7B%22k1%22%3A%22v%201%22%7D");
	CHECK_ENCODE("[{\"Key\":\"k\",\"Value\":\"v\"}]",
		     "%5B%7B%22Key%22%3A%22k%22%2C%22Value%22%3A%22v%22%7D%5D");
}

TEST(encode_unicode_bytes_upper_hex)
{
	CHECK_ENCODE("\xc3\xa9", "%C3%A9");		/* é */
	CHECK_ENCODE("\xe6\xb5\x8b\xe8\xaf\x95", "%E6%B5%8B%E8%AF%95");	/* 测试 */
	CHECK_ENCODE("\xf0\x9f\x98\x80", "%F0%9F%98%80");	/* emoji */
	CHECK_ENCODE("\xff\xfe", "%FF%FE");		/* invalid UTF-8 is still just bytes */
	CHECK_ENCODE("a\xc3\xa9z", "a%C3%A9z");
}

TEST(encode_null_is_empty)
{
	char *s = sign_encode(NULL);

	CHECK_EQ_STR(s, "");
	free(s);
}

TEST(encode_path)
{
	CHECK_PATH("", "/");
	CHECK_PATH(NULL, "/");
	CHECK_PATH("/", "/");
	CHECK_PATH("/api/v2/instances", "/api/v2/instances");
	CHECK_PATH("/api/v2/instances/dsw-123", "/api/v2/instances/dsw-123");
	CHECK_PATH("/a b/c*d/~e+f=g", "/a%20b/c%2Ad/~e%2Bf%3Dg");
	CHECK_PATH("//x//", "//x//");
	CHECK_PATH("/\xe6\xb5\x8b/%", "/%E6%B5%8B/%25");
	CHECK_PATH("rel/path", "rel/path");
}

TEST(query_sorted_encoded_empty)
{
	static const struct sign_kv q[] = {
		{ "PageSize", "100" }, { "Labels", "{\"k\":\"v w\"}" }, { "B", "" },
		{ "A", "x*y~z" }, { "a", "lower" }, { "PageNumber", "1" }, { "Z", NULL },
	};
	char *s = sign_query_string(q, N(q));

	CHECK_EQ_STR(s, "A=x%2Ay~z&B=&Labels=%7B%22k%22%3A%22v%20w%22%7D&PageNumber=1&"
			"PageSize=100&Z=&a=lower");
	free(s);
	s = sign_query_string(NULL, 0);
	CHECK_EQ_STR(s, "");
	free(s);
}

TEST(query_byte_order_and_stable_duplicates)
{
	/* Byte order: '_' (0x5F) sorts after upper-case letters and before lower-case ones;
	 * a name sorts before its extensions. Equal names keep the caller's order. */
	static const struct sign_kv q[] = {
		{ "a", "1" }, { "A_", "2" }, { "AB", "3" }, { "A", "4" }, { "dup", "second" },
		{ "dup", "first" }, { "A.b", "5" },
	};
	char *s = sign_query_string(q, N(q));

	CHECK_EQ_STR(s, "A=4&A.b=5&AB=3&A_=2&a=1&dup=second&dup=first");
	free(s);
}

TEST(query_names_encoded)
{
	static const struct sign_kv q[] = { { "we ird", "v" }, { "x", "a&b=c" } };
	char *s = sign_query_string(q, N(q));

	CHECK_EQ_STR(s, "we%20ird=v&x=a%26b%3Dc");
	free(s);
}

TEST(headers_selection_merge_trim)
{
	static const struct sign_kv h[] = {
		{ "User-Agent", "dswfs/0.1" },		/* not signed */
		{ "Accept", "application/json" },	/* not signed */
		{ "Host", "  pai-dsw.cn-hangzhou.aliyuncs.com  " },
		{ "X-Acs-Date", "2024-01-02T03:04:05Z" },
		{ "Content-Type", "application/json; charset=utf-8" },
		{ "x-acs-b", "2" },
		{ "X-ACS-B", "\t1 " },			/* merged in the order given, not sorted */
		{ "x-acsnot", "no" },			/* prefix must be x-acs- */
		{ "x-acs-empty", "   " },		/* trims to empty */
		{ "x-acs-inner", " a  b " },		/* inner spaces kept */
		{ "content-length", "0" },		/* not signed */
		{ "Authorization", "old" },		/* not signed */
	};
	struct sign_request r = {
		.method = "GET", .path = "/api/v2/instances", .headers = h, .nheaders = N(h),
		.payload_hash = SIGN_EMPTY_SHA256,
	};
	char *creq = sign_canonical_request(&r), sig[65], *sh = NULL;

	CHECK_EQ_STR(creq, "GET\n/api/v2/instances\n\n"
			   "content-type:application/json; charset=utf-8\n"
			   "host:pai-dsw.cn-hangzhou.aliyuncs.com\n"
			   "x-acs-b:2,1\n"
			   "x-acs-date:2024-01-02T03:04:05Z\n"
			   "x-acs-empty:\n"
			   "x-acs-inner:a  b\n"
			   "\n"
			   "content-type;host;x-acs-b;x-acs-date;x-acs-empty;x-acs-inner\n"
			   SIGN_EMPTY_SHA256);
	free(creq);
	CHECK_EQ_INT(sign_signature(&r, "k", sig, &sh), 0);
	CHECK_EQ_STR(sh, "content-type;host;x-acs-b;x-acs-date;x-acs-empty;x-acs-inner");
	CHECK_EQ_INT(strlen(sig), 64);
	free(sh);
}

TEST(unsigned_headers_do_not_change_signature)
{
	static const struct sign_kv h1[] = { { "host", "h" }, { "x-acs-action", "ListInstances" } };
	static const struct sign_kv h2[] = {
		{ "user-agent", "a" }, { "x-acs-action", "ListInstances" }, { "accept", "*/*" },
		{ "HOST", "h" }, { "x-forwarded-for", "1.2.3.4" },
	};
	struct sign_request r1 = { .method = "GET", .path = "/p", .headers = h1, .nheaders = 2 };
	struct sign_request r2 = { .method = "GET", .path = "/p", .headers = h2, .nheaders = 5 };
	char s1[65], s2[65];

	CHECK_EQ_INT(sign_signature(&r1, "sec", s1, NULL), 0);
	CHECK_EQ_INT(sign_signature(&r2, "sec", s2, NULL), 0);
	CHECK_EQ_STR(s1, s2);
	/* ...but a signed one does. */
	r2.nheaders = 3;	/* drops HOST */
	CHECK_EQ_INT(sign_signature(&r2, "sec", s2, NULL), 0);
	CHECK(strcmp(s1, s2) != 0);
}

TEST(no_headers_no_query)
{
	struct sign_request r = { .method = "GET", .path = "/x" };
	char *creq = sign_canonical_request(&r), *auth;

	/* No payload hash means an empty body. */
	CHECK_EQ_STR(creq, "GET\n/x\n\n\n\n" SIGN_EMPTY_SHA256);
	free(creq);
	auth = sign_authorization(&r, "id", "");
	CHECK(auth && strncmp(auth, "ACS3-HMAC-SHA256 Credential=id,SignedHeaders=,Signature=",
			      56) == 0);
	CHECK(auth && strlen(auth) == 56 + 64);
	free(auth);
}

TEST(path_and_query_encoded_in_canonical_request)
{
	static const struct sign_kv q[] = { { "InstanceId", "dsw-1,dsw-2" }, { "Tag", "[ ]" } };
	struct sign_request r = { .method = "GET", .path = "/api/v2/instances/a b",
				  .query = q, .nquery = 2 };
	char *creq = sign_canonical_request(&r);

	CHECK_EQ_STR(creq, "GET\n/api/v2/instances/a%20b\nInstanceId=dsw-1%2Cdsw-2&Tag=%5B%20%5D\n"
			   "\n\n" SIGN_EMPTY_SHA256);
	free(creq);
}

TEST(secret_changes_signature_only)
{
	struct sign_request r = v1_request();
	char a[65], b[65];

	CHECK_EQ_INT(sign_signature(&r, "YourAccessKeySecret", a, NULL), 0);
	CHECK_EQ_INT(sign_signature(&r, "YourAccessKeySecreT", b, NULL), 0);
	CHECK(strcmp(a, b) != 0);
}

TEST(sha256_hex)
{
	char out[65];

	sign_sha256_hex("", 0, out);
	CHECK_EQ_STR(out, SIGN_EMPTY_SHA256);
	sign_sha256_hex("abc", 3, out);
	CHECK_EQ_STR(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	/* Binary data with a NUL inside is hashed by length, not as a C string. */
	sign_sha256_hex("a\0b", 3, out);
	CHECK(strcmp(out, "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb") != 0);
}

TEST(format_date)
{
	char d[21];

	sign_format_date(0, d);
	CHECK_EQ_STR(d, "1970-01-01T00:00:00Z");
	sign_format_date(1698315752LL, d);
	CHECK_EQ_STR(d, "2023-10-26T10:22:32Z");
	sign_format_date(951782400LL, d);	/* leap day 2000 */
	CHECK_EQ_STR(d, "2000-02-29T00:00:00Z");
	sign_format_date(1709251199LL, d);	/* last second of 2024-02-29 */
	CHECK_EQ_STR(d, "2024-02-29T23:59:59Z");
	sign_format_date(4102444800LL, d);	/* beyond 32-bit time_t */
	CHECK_EQ_STR(d, "2100-01-01T00:00:00Z");
	sign_format_date(-1, d);
	CHECK_EQ_STR(d, "1969-12-31T23:59:59Z");
	sign_format_date(253402300799LL, d);
	CHECK_EQ_STR(d, "9999-12-31T23:59:59Z");
	sign_format_date(253402300800LL * 100, d);	/* clamped, never overflows the buffer */
	CHECK_EQ_STR(d, "9999-12-31T23:59:59Z");
	sign_format_date(-99999999999999LL, d);
	CHECK_EQ_STR(d, "0000-01-01T00:00:00Z");
	CHECK_EQ_INT(strlen(d), 20);
}

TEST(format_date_matches_gmtime)
{
	/* A sweep across decades against the C library. */
	for (long long t = -2208988800LL; t < 4102444800LL; t += 7777777 + 3601) {
		time_t tt = (time_t)t;
		struct tm tm;
		char want[32], got[21];

		if (!gmtime_r(&tt, &tm))
			continue;
		strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%SZ", &tm);
		sign_format_date(t, got);
		if (strcmp(want, got) != 0) {
			tf_fail(__FILE__, __LINE__, "t=%lld: %s, expected %s", t, got, want);
			break;
		}
	}
}
