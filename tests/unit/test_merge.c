/* test_merge: several regions' answers as one: nothing dropped, names distinct, state noted. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "merge.h"
#include "snap.h"
#include "tf.h"

/* A snapshot of instances {"InstanceId": ids[i], "InstanceName": "n<i>", "Status": status}. */
static struct snap *mk(const char *const *ids, size_t n, const char *status, time_t at)
{
	cJSON *arr = cJSON_CreateArray();
	struct snap *s = NULL;

	for (size_t i = 0; i < n; i++) {
		cJSON *o = cJSON_CreateObject();
		char name[32];

		snprintf(name, sizeof(name), "n%zu", i);
		cJSON_AddStringToObject(o, "InstanceId", ids[i]);
		cJSON_AddStringToObject(o, "InstanceName", name);
		cJSON_AddStringToObject(o, "Status", status);
		cJSON_AddItemToArray(arr, o);
	}
	CHECK_EQ_INT(snap_new(arr, false, at, &s), 0);
	return s;
}

TEST(union_is_concatenation)
{
	static const char *const a_ids[] = { "dsw-a1", "dsw-a2" }, *const b_ids[] = { "dsw-b1" };
	struct snap *a = mk(a_ids, 2, "Running", 100), *b = mk(b_ids, 1, "Stopped", 90), *u = NULL;
	struct merge_part parts[] = { { "cn-hangzhou", a, false, NULL },
				      { "cn-shanghai", b, false, NULL } };

	CHECK_EQ_INT(merge_snaps(parts, 2, &u), 0);
	CHECK_EQ_INT(snap_count(u), 3);
	CHECK_EQ_STR(snap_dirname(u, 0), "dsw-a1");
	CHECK_EQ_STR(snap_dirname(u, 2), "dsw-b1");
	CHECK_EQ_STR(snap_origin(u, 1), "cn-hangzhou");
	CHECK_EQ_STR(snap_origin(u, 2), "cn-shanghai");
	CHECK(snap_origin(a, 0) == NULL);
	CHECK(snap_same(u, 2, b, 0));
	CHECK_EQ_INT(snap_fetched_at(u), 90);
	CHECK_EQ_INT(snap_find(u, "dsw-b1"), 2);
	CHECK(strstr(snap_note(u), "region cn-hangzhou ok instances 2") != NULL);
	CHECK(strstr(snap_note(u), "complete 1\n") != NULL);
	/* Narrowing keeps where each instance came from, and the note. */
	{
		size_t idx[] = { 2 };
		struct snap *n = NULL;

		CHECK_EQ_INT(snap_narrow(u, idx, 1, &n), 0);
		CHECK_EQ_STR(snap_origin(n, 0), "cn-shanghai");
		CHECK(snap_note(n) == snap_note(u));
		snap_unref(n);
	}
	snap_unref(u);
	snap_unref(a);
	snap_unref(b);
}

TEST(duplicate_ids_both_visible)
{
	static const char *const a_ids[] = { "dsw-1", "dsw-x" }, *const b_ids[] = { "dsw-1" },
			  *const c_ids[] = { "dsw-1@cn-hangzhou" };
	struct snap *a = mk(a_ids, 2, "Running", 100), *b = mk(b_ids, 1, "Running", 100);
	struct snap *c = mk(c_ids, 1, "Running", 100), *u = NULL;
	struct merge_part parts[] = { { "cn-hangzhou", a, false, NULL },
				      { "cn-shanghai", b, false, NULL },
				      { "cn-beijing", c, false, NULL } };

	CHECK_EQ_INT(merge_snaps(parts, 3, &u), 0);
	CHECK_EQ_INT(snap_count(u), 4);
	/* Both holders of dsw-1 get the suffixed name; the bare id that reads like one of them
	 * moves aside; nothing is dropped and every name differs. */
	CHECK_EQ_STR(snap_dirname(u, 0), "dsw-1@cn-hangzhou");
	CHECK_EQ_STR(snap_dirname(u, 1), "dsw-x");
	CHECK_EQ_STR(snap_dirname(u, 2), "dsw-1@cn-shanghai");
	CHECK(strcmp(snap_dirname(u, 3), "dsw-1@cn-hangzhou") != 0);
	CHECK(strncmp(snap_dirname(u, 3), "dsw-1@cn-hangzhou@cn-beijing~", 29) == 0);
	CHECK_EQ_INT(snap_find(u, "dsw-1"), -ENOENT);
	CHECK_EQ_STR(snap_origin(u, 3), "cn-beijing");
	snap_unref(u);
	snap_unref(a);
	snap_unref(b);
	snap_unref(c);
}

TEST(escaped_and_long_ids)
{
	char longid[400];
	const char *a_ids[] = { ".hidden/x", longid }, *b_ids[] = { ".hidden/x", longid };
	struct snap *a, *b, *u = NULL;
	struct merge_part parts[2];

	memset(longid, 'i', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = 0;
	a = mk(a_ids, 2, "Running", 100);
	b = mk(b_ids, 2, "Running", 100);
	parts[0] = (struct merge_part){ "cn-hangzhou", a, false, NULL };
	parts[1] = (struct merge_part){ "cn-shanghai", b, false, NULL };
	CHECK_EQ_INT(merge_snaps(parts, 2, &u), 0);
	CHECK_EQ_INT(snap_count(u), 4);
	CHECK_EQ_STR(snap_dirname(u, 0), "%2Ehidden%2Fx@cn-hangzhou");
	CHECK_EQ_STR(snap_dirname(u, 2), "%2Ehidden%2Fx@cn-shanghai");
	for (size_t i = 0; i < 4; i++)
		CHECK(strlen(snap_dirname(u, i)) <= 255);
	CHECK(strstr(snap_dirname(u, 1), "@cn-hangzhou") != NULL);
	CHECK(strstr(snap_dirname(u, 3), "@cn-shanghai") != NULL);
	snap_unref(u);
	snap_unref(a);
	snap_unref(b);
}

TEST(partial_is_noted)
{
	static const char *const a_ids[] = { "dsw-a1" };
	struct snap *a = mk(a_ids, 1, "Running", 100), *u = NULL;
	struct merge_part parts[] = {
		{ "cn-hangzhou", a, false, NULL },
		{ "cn-shanghai", NULL, false, "HTTP 503 ServiceUnavailable" },
		{ "cn-beijing", NULL, false, NULL },
	};
	struct merge_part none[] = { { "cn-shanghai", NULL, false, NULL } };

	CHECK(!merge_complete(parts, 3));
	CHECK(merge_complete(parts, 1));
	CHECK_EQ_INT(merge_snaps(parts, 3, &u), 0);
	CHECK_EQ_INT(snap_count(u), 1);
	CHECK(strstr(snap_note(u), "region cn-shanghai missing: HTTP 503") != NULL);
	CHECK(strstr(snap_note(u), "complete 0\nmissing cn-shanghai cn-beijing\n") != NULL);
	CHECK(strstr(snap_note(u), "region cn-beijing missing: no answer\n") != NULL);
	snap_unref(u);
	u = NULL;
	CHECK_EQ_INT(merge_snaps(none, 1, &u), -ENOENT);
	CHECK(u == NULL);
	snap_unref(a);
}

TEST(stale_is_noted)
{
	static const char *const a_ids[] = { "dsw-a1" }, *const b_ids[] = { "dsw-b1" };
	struct snap *a = mk(a_ids, 1, "Running", 100), *b = mk(b_ids, 1, "Running", 50);
	struct merge_part parts[] = { { "cn-hangzhou", a, false, NULL },
				      { "cn-beijing", b, true, "HTTP 400 Throttling.User" } };
	char *note = merge_note(parts, 2);

	CHECK(strstr(note, "region cn-beijing stale instances 1 fetched_at 1970-01-01T00:00:50Z: "
		      "HTTP 400 Throttling.User\n") != NULL);
	CHECK(strstr(note, "complete 1\nstale cn-beijing\n") != NULL);
	free(note);
	snap_unref(a);
	snap_unref(b);
}
