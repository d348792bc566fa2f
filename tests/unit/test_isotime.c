/* test_isotime: the one ISO 8601 parser, against the C library and at its edges. */
#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "isotime.h"
#include "tf.h"

/* The parse of s with flags, or a sentinel for an error. */
static long long parsed(const char *s, unsigned flags)
{
	time_t t = 12345;

	return isotime_parse(s, flags, &t) ? -999999999999LL : (long long)t;
}

TEST(api_form)
{
	CHECK_EQ_INT(parsed("2021-01-12T14:36:01Z", ISOTIME_API), 1610462161);
	CHECK_EQ_INT(parsed("1970-01-01T00:00:00Z", ISOTIME_API), 0);
	CHECK_EQ_INT(parsed("2024-02-29T12:00:00Z", ISOTIME_API), 1709208000);
	CHECK_EQ_INT(parsed("2000-03-01T00:00:00Z", ISOTIME_API), 951868800);
	CHECK_EQ_INT(parsed("1969-12-31T23:59:58Z", ISOTIME_API), -2);
	CHECK_EQ_INT(parsed("1969-12-31T23:59:59Z", ISOTIME_API), -1);	/* not an error */
	CHECK_EQ_INT(parsed("1900-03-01T00:00:00Z", ISOTIME_API), -2203891200LL);
	CHECK_EQ_INT(parsed("9999-12-31T23:59:59Z", ISOTIME_API), 253402300799LL);
	CHECK_EQ_INT(parsed("0000-01-01T00:00:00Z", ISOTIME_API), -62167219200LL);
	CHECK_EQ_INT(parsed("0000-03-01T00:00:00Z", ISOTIME_API), -62162035200LL);	/* 0 leaps */
}

TEST(against_the_c_library)
{
	/* a week and an hour at a time over four centuries, both sides of 1970 */
	for (long long t = -2208988800LL; t < 4102444800LL; t += 86400 * 7 + 3671) {
		time_t tt = (time_t)t, got;
		struct tm tm;
		char s[32];

		gmtime_r(&tt, &tm);
		strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm);
		if (isotime_parse(s, ISOTIME_API, &got) || got != tt) {
			tf_fail(__FILE__, __LINE__, "%s -> %lld", s, (long long)got);
			break;
		}
		strftime(s, sizeof(s), "%Y-%m-%d", &tm);
		if (isotime_parse(s, ISOTIME_DATE, &got) || got != tt - tt % 86400 -
		    (tt % 86400 < 0 ? 86400 : 0)) {
			tf_fail(__FILE__, __LINE__, "%s -> %lld", s, (long long)got);
			break;
		}
	}
}

TEST(plain_dates_only_when_asked)
{
	CHECK_EQ_INT(parsed("2025-01-01", ISOTIME_DATE), 1735689600);
	CHECK_EQ_INT(parsed("2025-01-01", ISOTIME_DATE), parsed("2025-01-01T00:00:00Z", 0));
	CHECK_EQ_INT(parsed("2024-02-29", ISOTIME_DATE), 1709164800);
	CHECK_EQ_INT(parsed("2025-01-01", ISOTIME_API), -999999999999LL);
	CHECK_EQ_INT(parsed("2025-01-01", ISOTIME_ZONE), -999999999999LL);
	CHECK_EQ_INT(parsed("2023-02-29", ISOTIME_DATE), -999999999999LL);
	CHECK_EQ_INT(parsed("2025-1-01", ISOTIME_DATE), -999999999999LL);
	CHECK_EQ_INT(parsed("2025-01-01T", ISOTIME_DATE), -999999999999LL);
	CHECK_EQ_INT(parsed("2025-01-01 ", ISOTIME_DATE), -999999999999LL);
	CHECK_EQ_INT(parsed("20250101", ISOTIME_DATE), -999999999999LL);
}

TEST(zones_fractions_and_leap_seconds_only_when_asked)
{
	CHECK_EQ_INT(parsed("2023-11-15T00:13:20Z", ISOTIME_ZONE), 1700007200);
	CHECK_EQ_INT(parsed("2023-11-15T00:13:20z", ISOTIME_ZONE), 1700007200);
	CHECK_EQ_INT(parsed("2023-11-15T00:13:20.123+01:00", ISOTIME_ZONE), 1700007200 - 3600);
	CHECK_EQ_INT(parsed("2023-11-15T00:13:20-0530", ISOTIME_ZONE), 1700007200 + 19800);
	CHECK_EQ_INT(parsed("2016-12-31T23:59:60Z", ISOTIME_ZONE), 1483228800);
	CHECK_EQ_INT(parsed("2023-11-15T00:13:20.5Z", ISOTIME_API), -999999999999LL);
	CHECK_EQ_INT(parsed("2023-11-15T00:13:20+01:00", ISOTIME_API), -999999999999LL);
	CHECK_EQ_INT(parsed("2016-12-31T23:59:60Z", ISOTIME_API), -999999999999LL);
	static const char *const bad[] = {
		"2023-11-15T00:13:20.Z", "2023-11-15T00:13:20+1:00", "2023-11-15T00:13:20+01:0",
		"2023-11-15T00:13:20+24:00", "2023-11-15T00:13:20+01:60", "2023-11-15T00:13:20",
		"2023-11-15T00:13:20Zjunk", "2023-11-15T00:13:20+01:00:00", "2023-11-15T00:13:61Z",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parsed(bad[i], ISOTIME_ZONE | ISOTIME_DATE) != -999999999999LL)
			tf_fail(__FILE__, __LINE__, "\"%s\" accepted", bad[i]);
}

TEST(malformed_is_einval_and_leaves_out_alone)
{
	static const char *const bad[] = {
		"", "2021-01-12T14:36:01", "2021-01-12 14:36:01Z", "2021-01-12t14:36:01Z",
		"2021-13-12T14:36:01Z", "2021-00-12T14:36:01Z", "2021-02-29T00:00:00Z",
		"1900-02-29T00:00:00Z", "2021-04-31T00:00:00Z", "2021-01-32T00:00:00Z",
		"2021-01-12T14:36:01.5Z", "2021-01-12T24:00:00Z", "2021-01-12T23:60:00Z",
		"2021-01-12T23:59:60Z", "abcd-01-12T14:36:01Z", " 2021-01-12T14:36:01Z",
		"2021-01-12T14:36:01Z ", "2021-1-12T14:36:01Z", "-021-01-12T14:36:01Z",
		"2021-01-12T14:36:01+00:00", "2021/01/12T14:36:01Z", "2021-01-12T14:3a:01Z",
		"yesterday", "2021", "2021-01-1", "+2021-01-12T14:36:01Z",
	};
	time_t t = 42;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (isotime_parse(bad[i], ISOTIME_API, &t) != -EINVAL)
			tf_fail(__FILE__, __LINE__, "\"%s\" accepted", bad[i]);
	CHECK_EQ_INT(isotime_parse(NULL, ISOTIME_DATE | ISOTIME_ZONE, &t), -EINVAL);
	CHECK_EQ_INT(t, 42);
}
