/* test_inode: the inode table: keys (path, version), lookup counts and forget, the root, kept
 * bytes, growth, and concurrent use from many threads. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "inode.h"
#include "tf.h"

static struct inode_attr file_at(uint64_t version, off_t size)
{
	struct inode_attr a = { .type = INODE_FILE, .mode = 0444, .size = size,
				.version = version };

	return a;
}

TEST(root_is_there_and_never_forgotten)
{
	struct inode_table *t;
	struct inode_attr a;
	char path[64];
	uint64_t ino;

	CHECK_EQ_INT(inode_table_new(&t), 0);
	CHECK_EQ_INT(inode_get(t, INODE_ROOT, path, sizeof(path), &a), 0);
	CHECK_EQ_STR(path, "/");
	CHECK_EQ_INT(a.type, INODE_DIR);
	inode_forget(t, INODE_ROOT, 1000);
	CHECK_EQ_INT(inode_get(t, INODE_ROOT, path, sizeof(path), NULL), 0);
	CHECK_EQ_INT(inode_find(t, "/", 0, &ino), 0);
	CHECK_EQ_INT(ino, INODE_ROOT);
	CHECK_EQ_INT(inode_count(t), 1);
	inode_table_free(t);
}

TEST(same_key_same_inode_new_version_new_inode)
{
	struct inode_table *t;
	struct inode_attr a = file_at(7, 10), got;
	uint64_t i1, i2, i3, i4;
	char path[64];

	CHECK_EQ_INT(inode_table_new(&t), 0);
	CHECK_EQ_INT(inode_ref(t, "/instances/a/Status", &a, NULL, 0, &i1), 0);
	CHECK_EQ_INT(inode_ref(t, "/instances/a/Status", &a, NULL, 0, &i2), 0);
	CHECK_EQ_INT(i1, i2);
	CHECK(i1 != INODE_ROOT);
	a = file_at(8, 12);
	CHECK_EQ_INT(inode_ref(t, "/instances/a/Status", &a, NULL, 0, &i3), 0);
	CHECK(i3 != i1);
	CHECK_EQ_INT(inode_ref(t, "/instances/b/Status", &a, NULL, 0, &i4), 0);
	CHECK(i4 != i3 && i4 != i1);
	CHECK_EQ_INT(inode_get(t, i1, path, sizeof(path), &got), 0);
	CHECK_EQ_STR(path, "/instances/a/Status");
	CHECK_EQ_INT(got.version, 7);
	CHECK_EQ_INT(got.size, 10);
	CHECK_EQ_INT(inode_get(t, i3, path, sizeof(path), &got), 0);
	CHECK_EQ_INT(got.version, 8);
	CHECK_EQ_INT(got.size, 12);
	CHECK_EQ_INT(inode_get(t, i1, path, 5, NULL), -ENAMETOOLONG);
	CHECK_EQ_INT(inode_count(t), 4);
	inode_table_free(t);
}

TEST(forget_frees_at_zero_and_numbers_are_never_reused)
{
	struct inode_table *t;
	struct inode_attr a = file_at(1, 1);
	uint64_t i1, i2, i3;
	char path[64];

	CHECK_EQ_INT(inode_table_new(&t), 0);
	CHECK_EQ_INT(inode_ref(t, "/x", &a, NULL, 0, &i1), 0);
	CHECK_EQ_INT(inode_ref(t, "/x", &a, NULL, 0, &i2), 0);
	CHECK_EQ_INT(inode_ref(t, "/x", &a, NULL, 0, &i2), 0);	/* three lookups */
	inode_forget(t, i1, 2);
	CHECK_EQ_INT(inode_get(t, i1, path, sizeof(path), NULL), 0);
	inode_forget(t, i1, 1);
	CHECK_EQ_INT(inode_get(t, i1, path, sizeof(path), NULL), -ESTALE);
	CHECK_EQ_INT(inode_find(t, "/x", 1, &i3), -ENOENT);
	CHECK_EQ_INT(inode_count(t), 1);
	/* The same key again is a new inode: the kernel may still hold the old number. */
	CHECK_EQ_INT(inode_ref(t, "/x", &a, NULL, 0, &i3), 0);
	CHECK(i3 != i1);
	/* Forgetting unknown numbers, or more than was looked up, is harmless. */
	inode_forget(t, 999999, 1);
	inode_forget(t, i3, 50);
	CHECK_EQ_INT(inode_count(t), 1);
	inode_table_free(t);
}

TEST(kept_bytes_belong_to_their_inode)
{
	struct inode_table *t;
	struct inode_attr a = file_at(42, 5);
	uint64_t i1, i2, plain;
	char buf[16];
	size_t n;

	CHECK_EQ_INT(inode_table_new(&t), 0);
	CHECK_EQ_INT(inode_ref(t, "/.dswfs/stats", &a, "hello", 5, &i1), 0);
	/* An existing node keeps its bytes, whatever a later lookup brings. */
	CHECK_EQ_INT(inode_ref(t, "/.dswfs/stats", &a, "XXXXX", 5, &i2), 0);
	CHECK_EQ_INT(i1, i2);
	CHECK_EQ_INT(inode_read_data(t, i1, buf, sizeof(buf), 0, &n), 0);
	CHECK_EQ_INT(n, 5);
	CHECK(memcmp(buf, "hello", 5) == 0);
	CHECK_EQ_INT(inode_read_data(t, i1, buf, 2, 3, &n), 0);
	CHECK_EQ_INT(n, 2);
	CHECK(memcmp(buf, "lo", 2) == 0);
	CHECK_EQ_INT(inode_read_data(t, i1, buf, sizeof(buf), 5, &n), 0);
	CHECK_EQ_INT(n, 0);
	CHECK_EQ_INT(inode_read_data(t, i1, buf, sizeof(buf), 99, &n), 0);
	CHECK_EQ_INT(n, 0);
	CHECK_EQ_INT(inode_ref(t, "/empty", &a, "", 0, &i2), 0);
	CHECK_EQ_INT(inode_read_data(t, i2, buf, sizeof(buf), 0, &n), 0);
	CHECK_EQ_INT(n, 0);
	CHECK_EQ_INT(inode_ref(t, "/plain", &a, NULL, 0, &plain), 0);
	CHECK_EQ_INT(inode_read_data(t, plain, buf, sizeof(buf), 0, &n), -ENODATA);
	CHECK_EQ_INT(inode_read_data(t, 12345, buf, sizeof(buf), 0, &n), -ESTALE);
	inode_table_free(t);	/* frees kept bytes: valgrind/ASan see no leak */
}

TEST(grows_past_its_buckets)
{
	struct inode_table *t;
	struct inode_attr a = { .type = INODE_DIR, .mode = 0555 };
	uint64_t ino[5000], again;
	char path[64];

	CHECK_EQ_INT(inode_table_new(&t), 0);
	for (int i = 0; i < 5000; i++) {
		snprintf(path, sizeof(path), "/instances/i-%d", i);
		CHECK_EQ_INT(inode_ref(t, path, &a, NULL, 0, &ino[i]), 0);
	}
	CHECK_EQ_INT(inode_count(t), 5001);
	for (int i = 0; i < 5000; i++) {
		char want[64];

		snprintf(want, sizeof(want), "/instances/i-%d", i);
		CHECK_EQ_INT(inode_find(t, want, 0, &again), 0);
		CHECK_EQ_INT(again, ino[i]);
		CHECK_EQ_INT(inode_get(t, ino[i], path, sizeof(path), NULL), 0);
		CHECK_EQ_STR(path, want);
	}
	for (int i = 0; i < 5000; i += 2)
		inode_forget(t, ino[i], 1);
	CHECK_EQ_INT(inode_count(t), 2501);
	CHECK_EQ_INT(inode_get(t, ino[2], path, sizeof(path), NULL), -ESTALE);
	CHECK_EQ_INT(inode_get(t, ino[3], path, sizeof(path), NULL), 0);
	inode_table_free(t);
}

#define THREADS 4
#define ROUNDS 2000

static void *worker(void *arg)
{
	struct inode_table *t = arg;
	struct inode_attr a = file_at(0, 1);
	char path[64];
	uint64_t ino;

	for (int i = 0; i < ROUNDS; i++) {
		snprintf(path, sizeof(path), "/shared/%d", i % 50);
		a.version = (uint64_t)(i % 3);
		if (inode_ref(t, path, &a, "d", 1, &ino) != 0)
			return (void *)1;
		if (inode_get(t, ino, path, sizeof(path), NULL) != 0)
			return (void *)1;
		inode_forget(t, ino, 1);
	}
	return NULL;
}

TEST(concurrent_lookups_and_forgets_balance)
{
	struct inode_table *t;
	pthread_t th[THREADS];
	void *res;

	CHECK_EQ_INT(inode_table_new(&t), 0);
	for (int i = 0; i < THREADS; i++)
		CHECK_EQ_INT(pthread_create(&th[i], NULL, worker, t), 0);
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], &res);
		CHECK(res == NULL);
	}
	/* Every lookup was forgotten: only the root is left. */
	CHECK_EQ_INT(inode_count(t), 1);
	inode_table_free(t);
}
