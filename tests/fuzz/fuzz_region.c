/* fuzz_region: arbitrary -o regions= lists through region_list_parse; checks what it accepts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "region.h"

const char *const fuzz_seeds[] = {
	"cn-hangzhou",
	"cn-hangzhou:cn-shanghai",
	"cn-hangzhou+cn-shanghai+ap-southeast-1",
	"cn-hangzhou,cn-shanghai",
	" cn-hangzhou : cn-shanghai ",
	"cn-hangzhou::cn-shanghai",
	"cn-hangzhou:cn-hangzhou",
	"CN-x:../etc:a/b",
	"",
	NULL,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), why[256], **list = NULL;
	int n;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	n = region_list_parse(text, &list, why, sizeof(why));
	if (n > 0) {
		/* Every id accepted is a valid, distinct region id with a well-formed endpoint. */
		if (n > REGION_MAX)
			abort();
		for (int i = 0; i < n; i++) {
			char *e = region_endpoint(list[i], i & 1);

			if (!region_id_valid(list[i]) || !e || strchr(e, '/') != e + 6)
				abort();
			free(e);
			for (int j = 0; j < i; j++)
				if (strcmp(list[i], list[j]) == 0)
					abort();
		}
		if (list[n])
			abort();
	} else if (list) {
		abort();
	}
	region_list_free(list);
	free(text);
	return 0;
}
