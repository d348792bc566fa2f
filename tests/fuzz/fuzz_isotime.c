/* fuzz_isotime: arbitrary text through isotime_parse under every flag set; checks its laws. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "isotime.h"

const char *const fuzz_seeds[] = {
	"2021-01-12T14:36:01Z",
	"2025-01-01",
	"2024-02-29T23:59:59Z",
	"0000-01-01T00:00:00Z",
	"9999-12-31T23:59:59Z",
	"2023-11-15T00:13:20.123+01:00",
	"2023-11-15T00:13:20-0530",
	"2016-12-31T23:59:60z",
	"2023-02-29",
	"yesterday",
	"",
	NULL,
};

static void fail(const char *what, const char *s)
{
	fprintf(stderr, "fuzz_isotime: %s for \"%s\"\n", what, s);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	time_t t[4];
	int rc[4];

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = 0;
	for (unsigned f = 0; f < 4; f++) {
		t[f] = 7;
		rc[f] = isotime_parse(s, f, &t[f]);
		if (rc[f] != 0 && rc[f] != -22)
			fail("not 0 or -EINVAL", s);
		if (rc[f] && t[f] != 7)
			fail("output written on error", s);
	}
	/* each flag only widens what is accepted, and never changes an answer */
	for (unsigned f = 0; f < 4; f++)
		for (unsigned g = 0; g < 4; g++)
			if ((f & g) == f && rc[f] == 0 && (rc[g] != 0 || t[g] != t[f]))
				fail("a wider flag set disagrees", s);
	if (rc[0] == 0) {
		/* the API form is exactly what gmtime prints back */
		struct tm tm;
		char back[32];

		if (strlen(s) != ISOTIME_API_LEN || !gmtime_r(&t[0], &tm))
			fail("API form of another length", s);
		strftime(back, sizeof(back), "%Y-%m-%dT%H:%M:%SZ", &tm);
		if (tm.tm_year + 1900 <= 9999 && tm.tm_year + 1900 >= 1000 && strcmp(back, s))
			fail("does not print back", s);
	}
	if (rc[ISOTIME_DATE] == 0 && rc[0] != 0 && (strlen(s) != ISOTIME_DATE_LEN ||
						     t[ISOTIME_DATE] % 86400))
		fail("a date that is not midnight", s);
	free(s);
	return 0;
}
