/* test_inode: the inode table: keys (parent, name, version), paths rebuilt from parents, lookup
 * counts and forget (parents kept while children are), the root, kept bytes, growth, and
 * concurrent use from many threads. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inode.h"
#include "tf.h"

static struct inode_attr file_at(uint64_t version, off_t size)
{
	struct inode_attr a = { .type = INODE_FILE, .mode = 0444, .size = size,
				.version = version };

	return a;
}

static struct inode_attr dir_at(void)
{
	struct inode_attr a = { .type = INODE_DIR, .mode = 0555 };

	return a;
}

/* A copy of len bytes of s, for inode_ref to take over. */
static char *dup_bytes(const char *s, size_t len)
{
	char *d = malloc(len ? len : 1);

	if (d)
		memcpy(d, s, len);
	return d;
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
	struct inode_attr a = file_at(7, 10), got, d = dir_at();
	uint64_t inst, da, db, i1, i2, i3, i4, found;
	char path[64];

	CHECK_EQ_INT(inode_table_new(&t), 0);
	CHECK_EQ_INT(inode_ref(t, INODE_ROOT, "instances", &d, NULL, &inst), 0);
	CHECK_EQ_INT(inode_ref(t, inst, "a", &d, NULL, &da), 0);
	CHECK_EQ_INT(inode_ref(t, inst, "b", &d, NULL, &db), 0);
	CHECK_EQ_INT(inode_ref(t, da, "Status", &a, NULL, &i1), 0);
	CHECK_EQ_INT(inode_ref(t, da, "Status", &a, NULL, &i2), 0);
	CHECK_EQ_INT(i1, i2);
	CHECK(i1 != INODE_ROOT);
	a = file_at(8, 12);
	CHECK_EQ_INT(inode_ref(t, da, "Status", &a, NULL, &i3), 0);
	CHECK(i3 != i1);
	CHECK_EQ_INT(inode_ref(t, db, "Status", &a, NULL, &i4), 0);
	CHECK(i4 != i3 && i4 != i1);
	CHECK_EQ_INT(inode_get(t, i1, path, sizeof(path), &got), 0);
	CHECK_EQ_STR(path, "/instances/a/Status");
	CHECK_EQ_INT(got.version, 7);
	CHECK_EQ_INT(got.size, 10);
	CHECK_EQ_INT(inode_get(t, i3, path, sizeof(path), &got), 0);
	CHECK_EQ_INT(got.version, 8);
	CHECK_EQ_INT(got.size, 12);
	CHECK_EQ_INT(inode_get(t, i4, path, sizeof(path), NULL), 0);
	CHECK_EQ_STR(path, "/instances/b/Status");
	CHECK_EQ_INT(inode_get(t, i1, path, 5, NULL), -ENAMETOOLONG);
	CHECK_EQ_INT(inode_get(t, i1, path, 19, NULL), -ENAMETOOLONG);
	CHECK_EQ_INT(inode_get(t, i1, path, 20, NULL), 0);
	CHECK_EQ_INT(inode_find(t, "/instances/a/Status", 8, &found), 0);
	CHECK_EQ_INT(found, i3);
	CHECK_EQ_INT(inode_find(t, "/instances/b", 0, &found), 0);
	CHECK_EQ_INT(found, db);
	CHECK_EQ_INT(inode_find(t, "/instances/c", 0, &found), -ENOENT);
	CHECK_EQ_INT(inode_ref(t, 424242, "x", &a, NULL, &found), -ESTALE);
	CHECK_EQ_INT(inode_ref(t, da, "", &a, NULL, &found), -EINVAL);
	CHECK_EQ_INT(inode_count(t), 7);
	inode_table_free(t);
}

/* Sizes are the node's own, in 32 bits: one past that lives beside it, and versions keep all
 * 64 bits. */
TEST(sizes_past_32_bits_and_64_bit_versions_survive)
{
	struct inode_table *t;
	struct inode_attr a = file_at(0xfedcba9876543210ULL, (off_t)5 << 30), b, got;
	char path[64];
	uint64_t dir, big, small, again;

	CHECK_EQ_INT(inode_table_new(&t), 0);
	b = file_at(0xfedcba9876543210ULL, 4095);
	b.mtime = 1700000000;
	b.mtime_nsec = 7;
	CHECK_EQ_INT(inode_ref(t, INODE_ROOT, "d", &(struct inode_attr){ .type = INODE_DIR },
			       NULL, &dir), 0);
	CHECK_EQ_INT(inode_ref(t, dir, "big", &a, NULL, &big), 0);
	CHECK_EQ_INT(inode_ref(t, dir, "small", &b, NULL, &small), 0);
	CHECK_EQ_INT(inode_get(t, big, path, sizeof(path), &got), 0);
	CHECK(got.size == (off_t)5 << 30);
	CHECK(got.version == 0xfedcba9876543210ULL);
	CHECK_EQ_INT(inode_get(t, small, path, sizeof(path), &got), 0);
	CHECK_EQ_INT(got.size, 4095);
	CHECK_EQ_INT(got.mtime, 1700000000);
	CHECK_EQ_INT(got.mtime_nsec, 7);
	CHECK(got.version == 0xfedcba9876543210ULL);
	CHECK_EQ_INT(inode_find(t, "/d/big", 0xfedcba9876543210ULL, &again), 0);
	CHECK(again == big);
	CHECK_EQ_INT(inode_find(t, "/d/big", 0x76543210ULL, &again), -ENOENT);
	inode_table_free(t);
}

TEST(forget_frees_at_zero_and_numbers_are_never_reused)
{
	struct inode_table *t;
	struct inode_attr a = file_at(1, 1);
	uint64_t i1, i2, i3;
	char path[64];

	CHECK_EQ_INT(inode_table_new(&t), 0);
	CHECK_EQ_INT(inode_ref(t, INODE_ROOT, "x", &a, NULL, &i1), 0);
	CHECK_EQ_INT(inode_ref(t, INODE_ROOT, "x", &a, NULL, &i2), 0);
	CHECK_EQ_INT(inode_ref(t, INODE_ROOT, "x", &a, NULL, &i2), 0);	/* three lookups */
	inode_forget(t, i1, 2);
	CHECK_EQ_INT(inode_get(t, i1, path, sizeof(path), NULL), 0);
	inode_forget(t, i1, 1);
	CHECK_EQ_INT(inode_get(t, i1, path, sizeof(path), NULL), -ESTALE);
	CHECK_EQ_INT(inode_find(t, "/x", 1, &i3), -ENOENT);
	CHECK_EQ_INT(inode_count(t), 1);
	/* The same key again is a new inode: the kernel may still hold the old number. */
	CHECK_EQ_INT(inode_ref(t, INODE_ROOT, "x", &a, NULL, &i3), 0);
	CHECK(i3 != i1);
	/* Forgetting unknown numbers, or more than was looked up, is harmless. */
	inode_forget(t, 999999, 1);
	inode_forget(t, i3, 50);
	CHECK_EQ_INT(inode_count(t), 1);
	inode_table_free(t);
}

/* The kernel may forget a directory before what is below it (an inode outliving its dentry):
 * the child's path must still be rebuilt, and the directory goes with its last child. */
TEST(parent_outlives_its_forget_while_a_child_is_held)
{
	struct inode_table *t;
	struct inode_attr a = file_at(3, 1), d = dir_at();
	uint64_t dir, sub, f, again;
	char path[64];

	CHECK_EQ_INT(inode_table_new(&t), 0);
	CHECK_EQ_INT(inode_ref(t, INODE_ROOT, "instances", &d, NULL, &dir), 0);
	CHECK_EQ_INT(inode_ref(t, dir, "i-1", &d, NULL, &sub), 0);
	CHECK_EQ_INT(inode_ref(t, sub, "Status", &a, NULL, &f), 0);
	inode_forget(t, dir, 1);
	inode_forget(t, sub, 1);
	CHECK_EQ_INT(inode_count(t), 4);
	CHECK_EQ_INT(inode_get(t, f, path, sizeof(path), NULL), 0);
	CHECK_EQ_STR(path, "/instances/i-1/Status");
	/* Forgotten by the kernel: asking for it by number is stale, yet a new lookup under the
	 * same name finds the same node (same key), counted afresh. */
	CHECK_EQ_INT(inode_get(t, dir, path, sizeof(path), NULL), 0);
	CHECK_EQ_INT(inode_ref(t, INODE_ROOT, "instances", &d, NULL, &again), 0);
	CHECK_EQ_INT(again, dir);
	inode_forget(t, again, 1);
	inode_forget(t, f, 1);
	CHECK_EQ_INT(inode_count(t), 1);
	CHECK_EQ_INT(inode_get(t, sub, path, sizeof(path), NULL), -ESTALE);
	CHECK_EQ_INT(inode_get(t, dir, path, sizeof(path), NULL), -ESTALE);
	inode_table_free(t);
}

TEST(kept_bytes_belong_to_their_inode)
{
	struct inode_table *t;
	struct inode_attr a = file_at(42, 5), z = file_at(42, 0), d = dir_at();
	uint64_t ctl, i1, i2, plain;
	char buf[16];
	size_t n;

	CHECK_EQ_INT(inode_table_new(&t), 0);
	CHECK_EQ_INT(inode_ref(t, INODE_ROOT, ".dswfs", &d, NULL, &ctl), 0);
	CHECK_EQ_INT(inode_ref(t, ctl, "stats", &a, dup_bytes("hello", 5), &i1), 0);
	/* An existing node keeps its bytes, whatever a later lookup brings (freed, not leaked). */
	CHECK_EQ_INT(inode_ref(t, ctl, "stats", &a, dup_bytes("XXXXX", 5), &i2), 0);
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
	CHECK_EQ_INT(inode_ref(t, INODE_ROOT, "empty", &z, dup_bytes("", 0), &i2), 0);
	CHECK_EQ_INT(inode_read_data(t, i2, buf, sizeof(buf), 0, &n), 0);
	CHECK_EQ_INT(n, 0);
	CHECK_EQ_INT(inode_ref(t, INODE_ROOT, "plain", &a, NULL, &plain), 0);
	CHECK_EQ_INT(inode_read_data(t, plain, buf, sizeof(buf), 0, &n), -ENODATA);
	CHECK_EQ_INT(inode_read_data(t, 12345, buf, sizeof(buf), 0, &n), -ESTALE);
	/* Bytes given with a failing lookup are freed too. */
	CHECK_EQ_INT(inode_ref(t, 12345, "x", &a, dup_bytes("abc", 3), &i2), -ESTALE);
	inode_table_free(t);	/* frees kept bytes: valgrind/ASan see no leak */
}

TEST(grows_past_its_buckets)
{
	struct inode_table *t;
	struct inode_attr a = dir_at();
	uint64_t ino[5000], again, dir;
	char path[64], name[32];

	CHECK_EQ_INT(inode_table_new(&t), 0);
	CHECK_EQ_INT(inode_ref(t, INODE_ROOT, "instances", &a, NULL, &dir), 0);
	for (int i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "i-%d", i);
		CHECK_EQ_INT(inode_ref(t, dir, name, &a, NULL, &ino[i]), 0);
	}
	CHECK_EQ_INT(inode_count(t), 5002);
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
	CHECK_EQ_INT(inode_count(t), 2502);
	CHECK_EQ_INT(inode_get(t, ino[2], path, sizeof(path), NULL), -ESTALE);
	CHECK_EQ_INT(inode_get(t, ino[3], path, sizeof(path), NULL), 0);
	inode_table_free(t);
}

/* A freed node's slot is reused under a new number: the old number stays stale, and the
 * attributes and names the two share (interned) belong to each as long as it is held. */
TEST(reused_slots_keep_old_numbers_stale)
{
	struct inode_table *t;
	struct inode_attr a = file_at(5, 7), b = file_at(6, 9), got, d = dir_at();
	uint64_t d1, d2, f1, f2, old, fresh;
	char path[64];

	CHECK_EQ_INT(inode_table_new(&t), 0);
	CHECK_EQ_INT(inode_ref(t, INODE_ROOT, "i-1", &d, NULL, &d1), 0);
	CHECK_EQ_INT(inode_ref(t, INODE_ROOT, "i-2", &d, NULL, &d2), 0);
	CHECK_EQ_INT(inode_ref(t, d1, "Status", &a, NULL, &f1), 0);
	CHECK_EQ_INT(inode_ref(t, d2, "Status", &a, NULL, &f2), 0);
	CHECK(f1 != f2);
	inode_forget(t, f1, 1);
	inode_forget(t, d1, 1);
	/* The shared name and attributes outlive the first holder. */
	CHECK_EQ_INT(inode_get(t, f2, path, sizeof(path), &got), 0);
	CHECK_EQ_STR(path, "/i-2/Status");
	CHECK_EQ_INT(got.size, 7);
	CHECK_EQ_INT(got.version, 5);
	CHECK_EQ_INT(got.mode, 0444);
	CHECK_EQ_INT(inode_find(t, "/i-2/Status", 5, &old), 0);
	CHECK_EQ_INT(old, f2);
	CHECK_EQ_INT(inode_find(t, "/i-1/Status", 5, &old), -ENOENT);
	/* New nodes take the freed slots, never the freed numbers. */
	for (int i = 0; i < 4; i++) {
		old = f2;
		CHECK_EQ_INT(inode_ref(t, d2, "Status", &b, NULL, &fresh), 0);
		inode_forget(t, f2, 1);
		CHECK_EQ_INT(inode_get(t, old, path, sizeof(path), NULL), -ESTALE);
		CHECK(fresh != old && fresh != f1 && fresh != d1);
		CHECK_EQ_INT(inode_get(t, fresh, path, sizeof(path), &got), 0);
		CHECK_EQ_STR(path, "/i-2/Status");
		CHECK_EQ_INT(got.size, 9);
		CHECK_EQ_INT(inode_ref(t, d2, "Status", &a, NULL, &f2), 0);
		inode_forget(t, fresh, 1);
		CHECK_EQ_INT(inode_get(t, fresh, path, sizeof(path), NULL), -ESTALE);
		CHECK_EQ_INT(inode_get(t, d1, path, sizeof(path), NULL), -ESTALE);
	}
	CHECK_EQ_INT(inode_count(t), 3);
	inode_forget(t, f2, 1);
	inode_forget(t, d2, 1);
	CHECK_EQ_INT(inode_count(t), 1);
	inode_table_free(t);
}

/* Many nodes come and go (the key table shrinks its runs as they leave): every one held is
 * still found by key and by number, and no one forgotten is. */
TEST(churn_keeps_every_key_findable)
{
	struct inode_table *t;
	struct inode_attr a = file_at(0, 1), d = dir_at();
	static uint64_t ino[3000];
	uint64_t dir, again;
	char name[32], want[64], path[64];

	CHECK_EQ_INT(inode_table_new(&t), 0);
	CHECK_EQ_INT(inode_ref(t, INODE_ROOT, "d", &d, NULL, &dir), 0);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 3000; i++) {
			if (round && i % 3 != round)
				continue;
			a.version = (uint64_t)(round * 7 + i % 5);
			snprintf(name, sizeof(name), "f%d", i % 1000);
			CHECK_EQ_INT(inode_ref(t, dir, name, &a, NULL, &ino[i]), 0);
		}
		for (int i = 0; i < 3000; i += 3 - round % 2)
			if (ino[i]) {
				inode_forget(t, ino[i], 1);
				ino[i] = 0;
			}
	}
	for (int i = 0; i < 3000; i++) {
		if (!ino[i])
			continue;
		snprintf(want, sizeof(want), "/d/f%d", i % 1000);
		CHECK_EQ_INT(inode_get(t, ino[i], path, sizeof(path), &a), 0);
		CHECK_EQ_STR(path, want);
		CHECK_EQ_INT(inode_find(t, want, a.version, &again), 0);
		CHECK_EQ_INT(again, ino[i]);
	}
	inode_table_free(t);
}

#define THREADS 4
#define ROUNDS 2000

static void *worker(void *arg)
{
	struct inode_table *t = arg;
	struct inode_attr a = file_at(0, 1), d = dir_at();
	char path[64], name[16];
	uint64_t ino, dir;

	for (int i = 0; i < ROUNDS; i++) {
		snprintf(name, sizeof(name), "%d", i % 50);
		a.version = (uint64_t)(i % 3);
		if (inode_ref(t, INODE_ROOT, "shared", &d, NULL, &dir) != 0)
			return (void *)1;
		if (inode_ref(t, dir, name, &a, dup_bytes("d", 1), &ino) != 0)
			return (void *)1;
		if (inode_get(t, ino, path, sizeof(path), NULL) != 0)
			return (void *)1;
		inode_forget(t, dir, 1);	/* the directory first: the child keeps it */
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
