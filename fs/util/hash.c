/* hash: FNV-1a over bytes, the one hash behind every table and version stamp. */
#include <string.h>

#include "hash.h"

uint64_t hash_more(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return h;
}

uint64_t hash_mem(const void *data, size_t len)
{
	return hash_more(HASH_INIT, data, len);
}

uint64_t hash_str(const char *s)
{
	return hash_mem(s, strlen(s));
}
