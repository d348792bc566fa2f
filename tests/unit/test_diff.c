/* test_diff: snapshot differences and their event lines (redacted), and the feeds built on them
 * (feed.h) with a fake clock: diffs appended per query, following, polling, letting go. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "diff.h"
#include "feed.h"
#include "query.h"
#include "snap.h"
#include "tf.h"

static struct snap *mk(const char *json, double stamp)
{
	struct snap *s = NULL;

	CHECK_EQ_INT(snap_new(cJSON_Parse(json), false, 1700000000, &s), 0);
	if (s)
		snap_set_stamp(s, stamp);
	return s;
}

#define A "{\"InstanceId\":\"dsw-a\",\"InstanceName\":\"a\",\"WorkspaceId\":40823,\"Status\":\"Running\",\"ImageAuth\":\"c2VjcmV0\"}"
#define A2 "{\"InstanceId\":\"dsw-a\",\"InstanceName\":\"a\",\"WorkspaceId\":40823,\"Status\":\"Failed\",\"ImageAuth\":\"b3RoZXI=\",\"Reason\":\"oom\"}"
#define B "{\"InstanceId\":\"dsw-b\",\"InstanceName\":\"b\",\"WorkspaceId\":\"7\",\"Status\":\"Stopped\"}"
#define C "{\"InstanceId\":\"dsw-c\",\"InstanceName\":\"c\",\"WorkspaceId\":\"7\",\"Status\":\"Running\"}"

struct seen {
	int added, removed, changed;
	char kinds[16];
};

static int count_cb(void *ctx, enum diff_kind k, long i, long j)
{
	struct seen *s = ctx;
	size_t n = strlen(s->kinds);

	if (n + 1 < sizeof(s->kinds))
		s->kinds[n] = k == DIFF_ADDED ? 'a' : k == DIFF_REMOVED ? 'r' : 'c';
	if (k == DIFF_ADDED) {
		s->added++;
		CHECK(i == -1 && j >= 0);
	} else if (k == DIFF_REMOVED) {
		s->removed++;
		CHECK(i >= 0 && j == -1);
	} else {
		s->changed++;
		CHECK(i >= 0 && j >= 0);
	}
	return 0;
}

TEST(diff_finds_added_removed_changed)
{
	struct snap *o = mk("[" A "," B "]", 1), *n = mk("[" C "," A2 "]", 2);
	struct seen s = { 0 };

	CHECK_EQ_INT(diff_each(o, n, count_cb, &s), 0);
	CHECK_EQ_INT(s.added, 1);
	CHECK_EQ_INT(s.removed, 1);
	CHECK_EQ_INT(s.changed, 1);
	CHECK_EQ_STR(s.kinds, "cra");	/* old's order (A changed, B removed), then added */
	memset(&s, 0, sizeof(s));
	CHECK_EQ_INT(diff_each(o, o, count_cb, &s), 0);
	CHECK_EQ_STR(s.kinds, "");
	memset(&s, 0, sizeof(s));
	CHECK_EQ_INT(diff_each(o, NULL, count_cb, &s), 0);
	CHECK_EQ_STR(s.kinds, "rr");
	memset(&s, 0, sizeof(s));
	CHECK_EQ_INT(diff_each(NULL, n, count_cb, &s), 0);
	CHECK_EQ_STR(s.kinds, "aa");
	snap_unref(o);
	snap_unref(n);
}

static int stop_cb(void *ctx, enum diff_kind k, long i, long j)
{
	(void)k; (void)i; (void)j;
	++*(int *)ctx;
	return 7;
}

TEST(diff_stops_when_told)
{
	struct snap *o = mk("[" A "," B "]", 1);
	int calls = 0;

	CHECK_EQ_INT(diff_each(o, NULL, stop_cb, &calls), 7);
	CHECK_EQ_INT(calls, 1);
	snap_unref(o);
}

TEST(event_lines_name_the_instance_and_the_fields_redacted)
{
	struct snap *o = mk("[" A "]", 1), *n = mk("[" A2 "," C "]", 2);
	size_t len = 0;
	char *line = diff_event(o, 0, n, 0, DIFF_CHANGED, "cn-x", 0, &len);
	cJSON *j = line ? cJSON_Parse(line) : NULL, *f;

	CHECK(line && j);
	CHECK_EQ_INT(len, line ? strlen(line) : 0);
	CHECK(line && !strchr(line, '\n'));
	CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "kind")), "changed");
	CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "time")), "1970-01-01T00:00:00Z");
	CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "region")), "cn-x");
	CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "InstanceId")), "dsw-a");
	CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "InstanceName")), "a");
	CHECK(cJSON_GetObjectItem(j, "WorkspaceId") &&
	      cJSON_GetObjectItem(j, "WorkspaceId")->valuedouble == 40823);
	f = cJSON_GetObjectItem(j, "fields");
	CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(f, "Status"), "old")),
		     "Running");
	CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(f, "Status"), "new")),
		     "Failed");
	CHECK(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetObjectItem(f, "Reason"), "old")));
	/* both secrets read <redacted>, so the change of the secret is not even told */
	CHECK(cJSON_GetObjectItem(f, "ImageAuth") == NULL);
	CHECK(line && !strstr(line, "c2VjcmV0") && !strstr(line, "b3RoZXI="));
	CHECK(cJSON_GetObjectItem(f, "InstanceName") == NULL);
	cJSON_Delete(j);
	free(line);
	line = diff_event(NULL, -1, n, 1, DIFF_ADDED, NULL, 0, NULL);
	CHECK(line && strstr(line, "\"kind\":\"added\"") && strstr(line, "\"InstanceId\":\"dsw-c\"") &&
	      strstr(line, "\"region\":\"\"") && !strstr(line, "fields"));
	free(line);
	line = diff_event(o, 0, NULL, -1, DIFF_REMOVED, "r", 0, NULL);
	CHECK(line && strstr(line, "\"kind\":\"removed\"") && strstr(line, "\"Status\":\"Running\""));
	free(line);
	snap_unref(o);
	snap_unref(n);
}

/* ---- feeds ---- */

static double fake_now;

static double clock_cb(void *ctx)
{
	(void)ctx;
	return fake_now;
}

static int polls;
static char polled[256];

static int poll_cb(void *ctx, const char *key, const struct query *q)
{
	(void)ctx; (void)q;
	polls++;
	snprintf(polled, sizeof(polled), "%s", key);
	return 0;
}

static struct feed_set *new_set(size_t max_bytes, const char *watch, const struct query *wq)
{
	struct feed_config cfg = { .ttl = 10, .max_bytes = max_bytes, .region = "cn-t",
				   .now = clock_cb, .poll = poll_cb, .watch_key = watch,
				   .watch_query = wq };
	struct feed_set *fs = NULL;

	CHECK_EQ_INT(feed_set_new(&cfg, &fs), 0);
	return fs;
}

static char *read_all(struct feed_set *fs, const char *key, uint64_t off)
{
	static char buf[65536];
	size_t n = 0;

	CHECK_EQ_INT(feed_read(fs, key, off, buf, sizeof(buf) - 1, &n), 0);
	buf[n] = 0;
	return buf;
}

TEST(feed_appends_differences_of_each_new_answer)
{
	struct query *q = query_new("ALL", "ALL");
	struct feed_set *fs = new_set(1 << 20, NULL, NULL);
	struct snap *s1 = mk("[" A "," B "]", 1), *s2 = mk("[" A2 "," C "]", 2);
	uint64_t size = 1;
	time_t mtime;
	const char *text;

	fake_now = 100;
	/* an update for a key nobody asked for is dropped */
	feed_update(fs, "k", s1);
	CHECK_EQ_INT(feed_size(fs, "k", q, NULL, &size, NULL), -ENOENT);
	CHECK_EQ_INT(feed_size(fs, "k", q, s1, &size, &mtime), 0);
	CHECK_EQ_INT(size, 0);
	feed_update(fs, "k", s1);	/* the same answer: nothing */
	CHECK_EQ_INT(feed_size(fs, "k", q, NULL, &size, NULL), 0);
	CHECK_EQ_INT(size, 0);
	feed_update(fs, "k", s2);
	CHECK_EQ_INT(feed_size(fs, "k", q, NULL, &size, NULL), 0);
	CHECK(size > 0);
	text = read_all(fs, "k", 0);
	CHECK(strstr(text, "\"kind\":\"changed\"") && strstr(text, "\"kind\":\"removed\"") &&
	      strstr(text, "\"kind\":\"added\""));
	CHECK(strstr(text, "\"region\":\"cn-t\"") != NULL);
	/* an older answer finishing later changes nothing */
	feed_update(fs, "k", s1);
	{
		uint64_t again;

		CHECK_EQ_INT(feed_size(fs, "k", q, NULL, &again, NULL), 0);
		CHECK_EQ_INT(again, size);
	}
	CHECK_EQ_INT(feed_read(fs, "nope", 0, (char[8]){ 0 }, 8, &(size_t){ 0 }), -ENOENT);
	feed_set_free(fs);
	snap_unref(s1);
	snap_unref(s2);
	query_free(q);
}

TEST(feeds_are_followed_for_two_ttls_and_polled_only_then)
{
	struct query *q = query_new("ALL", "ALL");
	struct feed_set *fs = new_set(1 << 20, NULL, NULL);
	struct snap *s1 = mk("[" A "]", 1);
	uint64_t size;
	size_t n;
	char buf[8];

	fake_now = 1000;
	polls = 0;
	CHECK_EQ_INT(feed_followed(fs), 0);
	CHECK_EQ_INT(feed_poll_once(fs), 0);
	CHECK_EQ_INT(feed_size(fs, "k", q, s1, &size, NULL), 0);
	CHECK_EQ_INT(feed_followed(fs), 1);
	CHECK_EQ_INT(feed_poll_once(fs), 1);
	CHECK_EQ_STR(polled, "k");
	fake_now += 19.9;
	CHECK_EQ_INT(feed_followed(fs), 1);
	fake_now += 0.2;	/* two TTLs since it was asked: nobody follows, no polling */
	CHECK_EQ_INT(feed_followed(fs), 0);
	CHECK_EQ_INT(feed_poll_once(fs), 0);
	CHECK_EQ_INT(polls, 1);
	/* a read counts as following too */
	CHECK_EQ_INT(feed_read(fs, "k", 0, buf, sizeof(buf), &n), 0);
	CHECK_EQ_INT(feed_followed(fs), 1);
	feed_set_free(fs);
	snap_unref(s1);
	query_free(q);
}

TEST(watch_polls_without_followers)
{
	struct query *q = query_new("ALL", "ALL");
	struct feed_set *fs = new_set(1 << 20, "base", q);
	struct snap *s1 = mk("[" A "]", 1);
	uint64_t size;

	fake_now = 5000;
	polls = 0;
	CHECK_EQ_INT(feed_poll_once(fs), 1);
	CHECK_EQ_STR(polled, "base");
	/* followed and watched: polled once per round, not twice */
	CHECK_EQ_INT(feed_size(fs, "base", q, s1, &size, NULL), 0);
	CHECK_EQ_INT(feed_poll_once(fs), 1);
	feed_set_free(fs);
	snap_unref(s1);
	query_free(q);
}

TEST(unfollowed_feeds_are_let_go_past_the_limit)
{
	struct query *q = query_new("ALL", "ALL");
	struct feed_set *fs = new_set(1 << 20, NULL, NULL);
	struct snap *s1 = mk("[" A "]", 1);
	char key[32];
	uint64_t size;

	fake_now = 9000;
	for (int i = 0; i < FEED_MAX; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		CHECK_EQ_INT(feed_size(fs, key, q, s1, &size, NULL), 0);
	}
	/* all followed: no room */
	CHECK_EQ_INT(feed_size(fs, "one-more", q, s1, &size, NULL), -ENOSPC);
	fake_now += 100;
	CHECK_EQ_INT(feed_size(fs, "one-more", q, s1, &size, NULL), 0);
	CHECK_EQ_INT(feed_followed(fs), 1);
	feed_set_free(fs);
	snap_unref(s1);
	query_free(q);
}
