/* test_shared_url: the shared_cache= URL forms, and the ones refused (credentials in the URL). */
#include <errno.h>

#include "shared.h"
#include "tf.h"

TEST(tcp_urls)
{
	struct shared_addr a;
	char err[512];

	CHECK_EQ_INT(shared_url_parse("redis://10.0.0.5:6380/2", &a, err, sizeof(err)), 0);
	CHECK_EQ_STR(a.host, "10.0.0.5");
	CHECK_EQ_INT(a.port, 6380);
	CHECK_EQ_INT(a.db, 2);
	CHECK_EQ_STR(a.path, "");
	CHECK_EQ_INT(shared_url_parse("redis://cache.internal", &a, err, sizeof(err)), 0);
	CHECK_EQ_STR(a.host, "cache.internal");
	CHECK_EQ_INT(a.port, 6379);
	CHECK_EQ_INT(a.db, 0);
	CHECK_EQ_INT(shared_url_parse("redis://h:1/", &a, err, sizeof(err)), 0);
	CHECK_EQ_INT(a.db, 0);
}

TEST(unix_urls)
{
	struct shared_addr a;
	char err[512];

	CHECK_EQ_INT(shared_url_parse("unix:/run/redis.sock?db=3", &a, err, sizeof(err)), 0);
	CHECK_EQ_STR(a.path, "/run/redis.sock");
	CHECK_EQ_INT(a.db, 3);
	CHECK_EQ_STR(a.host, "");
	CHECK_EQ_INT(shared_url_parse("unix:/run/redis.sock", &a, err, sizeof(err)), 0);
	CHECK_EQ_INT(a.db, 0);
}

TEST(refused_urls)
{
	static const char *const bad[] = {
		"", "http://h:1", "redis://", "redis://:6379", "redis://h:0", "redis://h:65536",
		"redis://h:x", "redis://h/x", "redis://h/-1", "redis://user:pw@h:6379",
		"unix:relative.sock", "unix:/s?db=x", "unix:/s?user=a", NULL,
	};
	struct shared_addr a;
	char err[512];

	for (int i = 0; bad[i]; i++) {
		err[0] = '\0';
		CHECK_EQ_INT(shared_url_parse(bad[i], &a, err, sizeof(err)), -EINVAL);
		CHECK(err[0] != '\0');
	}
	CHECK_EQ_INT(shared_url_parse(NULL, &a, err, sizeof(err)), -EINVAL);
}
