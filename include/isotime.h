/* isotime: the one parser of ISO 8601 timestamps in dswfs (API times, filter values, credential
 * expirations). Pure: no TZ, locale or C library time state. */
#ifndef DSWFS_ISOTIME_H
#define DSWFS_ISOTIME_H

#include <time.h>

/* What isotime_parse accepts besides the API's own form, exactly "2021-01-12T14:36:01Z". */
enum isotime_flags {
	ISOTIME_API = 0,
	/* A plain date "2025-01-01", meaning 00:00:00 UTC that day. */
	ISOTIME_DATE = 1 << 0,
	/* A fraction of a second (".123", dropped), a lower-case 'z', an offset instead of 'Z'
	 * ("+08:00", "-0530"), and a leap second (:60, read as the next second): what STS and
	 * metadata servers write. */
	ISOTIME_ZONE = 1 << 1,
};

/* Length of the API form "yyyy-mm-ddThh:mm:ssZ" and of a plain date "yyyy-mm-dd". */
#define ISOTIME_API_LEN 20
#define ISOTIME_DATE_LEN 10

/* Parses s (NUL-terminated; NULL allowed) into seconds since the epoch in *out. Years are four
 * digits (0000-9999); months, month lengths and leap years are checked; hours stop at 23,
 * minutes and seconds at 59 (60 with ISOTIME_ZONE). Returns 0, or -EINVAL for anything else
 * (*out untouched). */
int isotime_parse(const char *s, unsigned flags, time_t *out);

#endif
