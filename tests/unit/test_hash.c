/* test_hash: the one hash is FNV-1a 64 and can run over pieces. */
#include <string.h>

#include "hash.h"
#include "tf.h"

TEST(hash_is_fnv1a_64)
{
	CHECK(hash_mem("", 0) == 14695981039346656037ULL);
	CHECK(hash_mem("a", 1) == 0xaf63dc4c8601ec8cULL);
	CHECK(hash_mem("ab", 2) != hash_mem("ba", 2));
}

TEST(hash_runs_over_pieces)
{
	CHECK(hash_more(hash_mem("ab", 2), "cd", 2) == hash_mem("abcd", 4));
	CHECK(hash_str("abcd") == hash_mem("abcd", 4));
}
