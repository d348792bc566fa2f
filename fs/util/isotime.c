/* isotime: ISO 8601 timestamps to epoch seconds, by hand so no TZ or locale state is involved. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "isotime.h"

/* n decimal digits at s, or -1. */
static int digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static bool leap(int y)
{
	return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar (years 0-9999). */
static long long days_from_civil(int y, int m, int d)
{
	static const int before[12] = { 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334 };
	/* Leap days in the years before y, counted from year 0 (itself a leap year). */
	long long yp = y - 1, leaps = y > 0 ? yp / 4 - yp / 100 + yp / 400 + 1 : 0;
	long long days = 365LL * y + leaps + before[m - 1] + (m > 2 && leap(y)) + d - 1;

	return days - 719528;	/* days from 0000-01-01 to 1970-01-01 */
}

/* yyyy-mm-dd at s: 0 with the day count, or -EINVAL. */
static int parse_date(const char *s, long long *days)
{
	static const int mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, m, d;

	if (s[4] != '-' || s[7] != '-')
		return -EINVAL;
	y = digits(s, 4);
	m = digits(s + 5, 2);
	d = digits(s + 8, 2);
	if (y < 0 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1] ||
	    (m == 2 && d == 29 && !leap(y)))
		return -EINVAL;
	*days = days_from_civil(y, m, d);
	return 0;
}

/* What follows the seconds with ISOTIME_ZONE: [.digits] then z, Z, or +hh[:]mm / -hh[:]mm.
 * *offset gets the zone's seconds east of UTC. */
static int parse_zone(const char *p, long long *offset)
{
	int sign, oh, om;

	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if ((*p == 'Z' || *p == 'z') && !p[1]) {
		*offset = 0;
		return 0;
	}
	if (*p != '+' && *p != '-')
		return -EINVAL;
	sign = *p == '-' ? -1 : 1;
	oh = digits(p + 1, 2);
	p += 3;
	if (oh < 0)
		return -EINVAL;
	if (*p == ':')
		p++;
	om = digits(p, 2);
	if (om < 0 || oh > 23 || om > 59 || p[2])
		return -EINVAL;
	*offset = sign * (oh * 3600LL + om * 60LL);
	return 0;
}

int isotime_parse(const char *s, unsigned flags, time_t *out)
{
	long long days, offset = 0, t;
	size_t len;
	int h, mi, se;

	if (!s)
		return -EINVAL;
	len = strlen(s);
	if (len < ISOTIME_DATE_LEN || parse_date(s, &days))
		return -EINVAL;
	if (len == ISOTIME_DATE_LEN) {
		if (!(flags & ISOTIME_DATE))
			return -EINVAL;
		*out = (time_t)(days * 86400);
		return 0;
	}
	if (len < ISOTIME_API_LEN || s[10] != 'T' || s[13] != ':' || s[16] != ':')
		return -EINVAL;
	h = digits(s + 11, 2);
	mi = digits(s + 14, 2);
	se = digits(s + 17, 2);
	if (h < 0 || mi < 0 || se < 0 || h > 23 || mi > 59 || se > ((flags & ISOTIME_ZONE) ? 60 : 59))
		return -EINVAL;
	if (flags & ISOTIME_ZONE) {
		if (parse_zone(s + 19, &offset))
			return -EINVAL;
	} else if (len != ISOTIME_API_LEN || s[19] != 'Z') {
		return -EINVAL;
	}
	t = days * 86400 + h * 3600LL + mi * 60LL + se - offset;
	*out = (time_t)t;
	return 0;
}
