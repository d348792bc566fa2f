/* driver: runs a libFuzzer-style target on seeds and deterministic mutations, for make check. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Each target lists interesting inputs; the driver mutates them. */
extern const char *const fuzz_seeds[];

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

int main(int argc, char **argv)
{
	long iterations = argc > 1 ? atol(argv[1]) : 20000;
	static const char alphabet[] = "/.%=,{}[]\":\\\n\t -_~*aZ09\x01\x7f\xc3\xa9\xe6\xb5\x8b";
	size_t nseeds = 0;
	uint8_t buf[4096];

	while (fuzz_seeds[nseeds])
		nseeds++;
	for (size_t i = 0; i < nseeds; i++)
		LLVMFuzzerTestOneInput((const uint8_t *)fuzz_seeds[i], strlen(fuzz_seeds[i]));
	for (long it = 0; it < iterations; it++) {
		const char *seed = fuzz_seeds[next() % nseeds];
		size_t len = strlen(seed);

		if (len > sizeof(buf))
			len = sizeof(buf);
		memcpy(buf, seed, len);
		int edits = 1 + (int)(next() % 8);
		for (int e = 0; e < edits; e++) {
			size_t pos = len ? next() % (len + 1) : 0;
			switch (next() % 4) {
			case 0: /* replace */
				if (pos < len)
					buf[pos] = (uint8_t)alphabet[next() % (sizeof(alphabet) - 1)];
				break;
			case 1: /* insert */
				if (len < sizeof(buf)) {
					memmove(buf + pos + 1, buf + pos, len - pos);
					buf[pos] = (uint8_t)alphabet[next() % (sizeof(alphabet) - 1)];
					len++;
				}
				break;
			case 2: /* delete */
				if (pos < len) {
					memmove(buf + pos, buf + pos + 1, len - pos - 1);
					len--;
				}
				break;
			default: /* truncate */
				len = pos;
				break;
			}
		}
		LLVMFuzzerTestOneInput(buf, len);
	}
	printf("PASS: fuzz %s (%zu seeds, %ld mutations)\n", argv[0], nseeds, iterations);
	return 0;
}
