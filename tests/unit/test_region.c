/* test_region: -o regions= lists and the endpoints derived for each region. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "region.h"
#include "tf.h"

TEST(list_separators)
{
	char why[256], **l = NULL;
	int n = region_list_parse("cn-hangzhou:cn-shanghai+ap-southeast-1, cn-beijing", &l, why,
				  sizeof(why));

	CHECK_EQ_INT(n, 4);
	CHECK_EQ_STR(l[0], "cn-hangzhou");
	CHECK_EQ_STR(l[1], "cn-shanghai");
	CHECK_EQ_STR(l[2], "ap-southeast-1");
	CHECK_EQ_STR(l[3], "cn-beijing");
	CHECK(l[4] == NULL);
	region_list_free(l);
	n = region_list_parse("cn-wulanchabu", &l, why, sizeof(why));
	CHECK_EQ_INT(n, 1);
	CHECK_EQ_STR(l[0], "cn-wulanchabu");
	region_list_free(l);
}

TEST(list_rejects)
{
	static const char *const bad[] = {
		"", ":", "cn-hangzhou:", ":cn-hangzhou", "cn-hangzhou::cn-shanghai",
		"cn-hangzhou:cn-hangzhou", "CN-HANGZHOU", "cn_hangzhou", "-cn", "cn-", "cn/x",
		"cn..x", "a b", "../etc", "cn-hangzhou:x%2F",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	};
	char why[256], **l = (char **)1;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = 0;
		CHECK_EQ_INT(region_list_parse(bad[i], &l, why, sizeof(why)), -EINVAL);
		CHECK(l == NULL);
		CHECK(why[0] != 0);
	}
	CHECK_EQ_INT(region_list_parse(NULL, &l, why, sizeof(why)), -EINVAL);
}

TEST(list_cap)
{
	char text[REGION_MAX * 8 + 16], why[256], **l = NULL;
	size_t o = 0;

	for (int i = 0; i < REGION_MAX; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o, "%sr%d", i ? ":" : "", i);
	CHECK_EQ_INT(region_list_parse(text, &l, why, sizeof(why)), REGION_MAX);
	region_list_free(l);
	snprintf(text + o, sizeof(text) - o, ":extra");
	CHECK_EQ_INT(region_list_parse(text, &l, why, sizeof(why)), -EINVAL);
	CHECK(strstr(why, "more than") != NULL);
}

TEST(endpoints)
{
	char *e = region_endpoint("cn-shanghai", false);

	CHECK_EQ_STR(e, "https://pai-dsw.cn-shanghai.aliyuncs.com");
	free(e);
	e = region_endpoint("ap-southeast-1", true);
	CHECK_EQ_STR(e, "https://pai-dsw-vpc.ap-southeast-1.aliyuncs.com");
	free(e);
	CHECK(region_id_valid("cn-hangzhou"));
	CHECK(!region_id_valid("cn.hangzhou"));
	CHECK(!region_id_valid(NULL));
}
