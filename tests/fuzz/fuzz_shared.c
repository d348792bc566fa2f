/* fuzz_shared: values read from Redis are hostile: the envelope opener and the payload decoder
 * must reject or decode any bytes without reading out of bounds, and whatever decodes must
 * encode back to itself. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

const char *const fuzz_seeds[] = {
	"DSWS\x01" "0123456789ab" "ciphertext and a sixteen byte tag",
	"\x01\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x05"
	"\x28\xb5\x2f\xfd\x20\x05\x29\x00\x00hello",
	"\x01\x00\x00\x00\x00\x00\x00\x00\x01\xff\xff\xff\xff\xff\xff\xff\xff",
	"",
	NULL,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned char master[SHARED_KEY_BYTES] = { 1, 2, 3 };
	struct shared_keys k;
	unsigned char *again = NULL;
	size_t len = 0, n = 0, len2 = 0;
	char *plain = NULL, *plain2 = NULL;
	int64_t at = 0, at2 = 0;

	if (shared_codec_keys_from_master(master, &k))
		abort();
	if (shared_codec_open(&k, "dswfs:v1:x", data, size, 1 << 20, &plain, &len, &at) == 0)
		abort();	/* forging a tag by chance is not expected */
	if (shared_codec_payload_decode(data, size, 1 << 20, &plain, &len, &at) == 0) {
		if (strlen(plain) > len)
			abort();
		if (shared_codec_payload_encode(plain, len, at, &again, &n) ||
		    shared_codec_payload_decode(again, n, 1 << 20, &plain2, &len2, &at2) ||
		    len2 != len || at2 != at || memcmp(plain, plain2, len) != 0)
			abort();
		free(plain2);
		free(again);
		free(plain);
	}
	shared_codec_keys_wipe(&k);
	return 0;
}
