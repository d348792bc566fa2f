/* test_buf: the capped growable buffer (cap, growth, steal, printf, reset). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "tf.h"

TEST(init_allocates_nothing)
{
	struct buf b;

	buf_init(&b, 10);
	CHECK(b.data == NULL);
	CHECK_EQ_INT(b.len, 0);
	CHECK_EQ_INT(b.max, 10);
	buf_free(&b);
	buf_free(&b); /* twice is harmless */
}

TEST(append_and_nul_terminated)
{
	struct buf b;

	buf_init(&b, 100);
	CHECK_EQ_INT(buf_append(&b, "abc", 3), 0);
	CHECK_EQ_INT(buf_append(&b, "de", 2), 0);
	CHECK_EQ_INT(b.len, 5);
	CHECK_EQ_STR(b.data, "abcde");
	CHECK_EQ_INT(buf_append(&b, "", 0), 0);
	CHECK_EQ_INT(b.len, 5);
	/* embedded NULs are bytes like any other */
	CHECK_EQ_INT(buf_append(&b, "x\0y", 3), 0);
	CHECK_EQ_INT(b.len, 8);
	CHECK(memcmp(b.data, "abcdex\0y", 9) == 0);
	buf_free(&b);
}

TEST(cap_exact_and_refusal_leaves_buffer)
{
	struct buf b;

	buf_init(&b, 5);
	CHECK_EQ_INT(buf_append(&b, "12345", 5), 0);
	CHECK_EQ_INT(buf_append(&b, "6", 1), -EFBIG);
	CHECK_EQ_INT(b.len, 5);
	CHECK_EQ_STR(b.data, "12345");
	CHECK_EQ_INT(buf_puts(&b, "x"), -EFBIG);
	CHECK_EQ_INT(buf_printf(&b, "%d", 7), -EFBIG);
	CHECK_EQ_STR(b.data, "12345");
	buf_reset(&b);
	CHECK_EQ_INT(b.len, 0);
	CHECK_EQ_STR(b.data, "");
	CHECK_EQ_INT(buf_append(&b, "abcde", 5), 0);
	buf_free(&b);

	buf_init(&b, 3);
	CHECK_EQ_INT(buf_append(&b, "abcd", 4), -EFBIG);
	CHECK(b.data == NULL);
	CHECK_EQ_INT(buf_append(&b, "ab", 2), 0);
	CHECK_EQ_INT(buf_append(&b, "cd", 2), -EFBIG);
	CHECK_EQ_STR(b.data, "ab");
	buf_free(&b);

	/* a zero cap refuses everything but empty appends */
	buf_init(&b, 0);
	CHECK_EQ_INT(buf_append(&b, "a", 1), -EFBIG);
	CHECK_EQ_INT(buf_append(&b, "", 0), 0);
	buf_free(&b);
}

TEST(huge_length_does_not_overflow)
{
	struct buf b;

	buf_init(&b, (size_t)-1);
	CHECK_EQ_INT(buf_append(&b, "ab", 2), 0);
	/* len + n wraps around: must be refused, not treated as small */
	CHECK(buf_append(&b, "x", (size_t)-1) < 0);
	CHECK_EQ_STR(b.data, "ab");
	buf_free(&b);
}

TEST(growth_many_appends)
{
	struct buf b;
	char expect[10001];

	buf_init(&b, 10000);
	for (int i = 0; i < 10000; i++) {
		char ch = (char)('a' + i % 26);

		expect[i] = ch;
		if (buf_append(&b, &ch, 1) != 0) {
			CHECK(0);
			break;
		}
	}
	expect[10000] = '\0';
	CHECK_EQ_INT(b.len, 10000);
	CHECK(b.cap >= b.len + 1);
	CHECK(b.cap <= 10001); /* never reserves beyond the cap */
	CHECK_EQ_STR(b.data, expect);
	CHECK_EQ_INT(buf_append(&b, "z", 1), -EFBIG);
	buf_free(&b);
}

TEST(printf_short_and_long)
{
	struct buf b;
	char big[1000];

	buf_init(&b, 4096);
	CHECK_EQ_INT(buf_printf(&b, "%s=%d;", "a", 42), 0);
	CHECK_EQ_STR(b.data, "a=42;");
	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	/* longer than the internal scratch buffer */
	CHECK_EQ_INT(buf_printf(&b, "[%s]", big), 0);
	CHECK_EQ_INT(b.len, 5 + 1001);
	CHECK(b.data[5] == '[' && b.data[b.len - 1] == ']' && b.data[b.len] == '\0');
	CHECK_EQ_INT(buf_printf(&b, "%s", ""), 0);
	CHECK_EQ_INT(b.len, 1006);
	buf_free(&b);

	buf_init(&b, 10);
	CHECK_EQ_INT(buf_printf(&b, "%s", "0123456789"), 0);
	CHECK_EQ_INT(buf_printf(&b, "%c", 'x'), -EFBIG);
	CHECK_EQ_STR(b.data, "0123456789");
	buf_free(&b);

	buf_init(&b, 500);
	CHECK_EQ_INT(buf_printf(&b, "[%s]", big), -EFBIG);
	CHECK(b.data == NULL || b.len == 0);
	buf_free(&b);
}

TEST(steal_contents_and_empty)
{
	struct buf b;
	size_t len = 99;
	char *s;

	buf_init(&b, 100);
	s = buf_steal(&b, &len);
	CHECK(s != NULL);
	CHECK_EQ_STR(s, "");
	CHECK_EQ_INT(len, 0);
	free(s);

	CHECK_EQ_INT(buf_puts(&b, "hello"), 0);
	s = buf_steal(&b, &len);
	CHECK_EQ_STR(s, "hello");
	CHECK_EQ_INT(len, 5);
	CHECK(b.data == NULL);
	CHECK_EQ_INT(b.len, 0);
	CHECK_EQ_INT(b.max, 100);
	free(s);
	/* the buffer is usable again, with its cap */
	CHECK_EQ_INT(buf_puts(&b, "again"), 0);
	s = buf_steal(&b, NULL);
	CHECK_EQ_STR(s, "again");
	free(s);
	buf_free(&b);
}

TEST(reset_keeps_memory)
{
	struct buf b;
	char *before;

	buf_init(&b, 100);
	CHECK_EQ_INT(buf_puts(&b, "some text"), 0);
	before = b.data;
	buf_reset(&b);
	CHECK(b.data == before);
	CHECK_EQ_INT(b.len, 0);
	CHECK_EQ_STR(b.data, "");
	buf_reset(&b);
	CHECK_EQ_INT(buf_puts(&b, "x"), 0);
	CHECK_EQ_STR(b.data, "x");
	buf_free(&b);

	buf_init(&b, 1);
	buf_reset(&b); /* on an unallocated buffer */
	CHECK(b.data == NULL);
	buf_free(&b);
}
