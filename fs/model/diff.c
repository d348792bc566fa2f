/* diff: snapshot differences (for kernel invalidations and the change feeds) and their event
 * lines. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "diff.h"
#include "snap.h"

int diff_each(const struct snap *old, const struct snap *new,
	      int (*fn)(void *ctx, enum diff_kind k, long i, long j), void *ctx)
{
	int rc;

	for (size_t i = 0; old && i < snap_count(old); i++) {
		long j = new ? snap_find(new, snap_dirname(old, i)) : -1;

		if (j >= 0 && snap_same(old, i, new, (size_t)j))
			continue;
		if (j < 0)
			j = -1;	/* snap_find's -ENOENT */
		rc = fn(ctx, j >= 0 ? DIFF_CHANGED : DIFF_REMOVED, (long)i, j);
		if (rc)
			return rc;
	}
	for (size_t j = 0; new && j < snap_count(new); j++) {
		if (old && snap_find(old, snap_dirname(new, j)) >= 0)
			continue;
		rc = fn(ctx, DIFF_ADDED, -1, (long)j);
		if (rc)
			return rc;
	}
	return 0;
}

static const char *const kind_names[] = {
	[DIFF_ADDED] = "added", [DIFF_REMOVED] = "removed", [DIFF_CHANGED] = "changed",
};

/* Copies member name of from (if there) into to; false on ENOMEM. */
static bool copy_member(cJSON *to, const cJSON *from, const char *name)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(from, name);
	cJSON *c;

	if (!m)
		return true;
	c = cJSON_Duplicate(m, true);
	return c && cJSON_AddItemToObject(to, name, c);
}

static bool add_value(cJSON *to, const char *name, const cJSON *v)
{
	cJSON *c = v ? cJSON_Duplicate(v, true) : cJSON_CreateNull();

	return c && cJSON_AddItemToObject(to, name, c);
}

/* "fields" of a change: every top-level member of a or b whose values differ. */
static bool add_fields(cJSON *ev, const cJSON *a, const cJSON *b)
{
	cJSON *fields = cJSON_AddObjectToObject(ev, "fields");
	const cJSON *m;

	if (!fields)
		return false;
	cJSON_ArrayForEach(m, a) {
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(b, m->string);
		cJSON *f;

		if (!m->string || (n && cJSON_Compare(m, n, true)) ||
		    cJSON_GetObjectItemCaseSensitive(fields, m->string))
			continue;
		f = cJSON_AddObjectToObject(fields, m->string);
		if (!f || !add_value(f, "old", m) || !add_value(f, "new", n))
			return false;
	}
	cJSON_ArrayForEach(m, b) {
		cJSON *f;

		if (!m->string || cJSON_GetObjectItemCaseSensitive(a, m->string))
			continue;
		f = cJSON_AddObjectToObject(fields, m->string);
		if (!f || !add_value(f, "old", NULL) || !add_value(f, "new", m))
			return false;
	}
	return true;
}

char *diff_event(const struct snap *old, long i, const struct snap *new, long j,
		 enum diff_kind k, const char *region, time_t when, size_t *len)
{
	static const char *const keys[] = { "InstanceId", "InstanceName", "WorkspaceId", "Status" };
	cJSON *ev = cJSON_CreateObject(), *a = NULL, *b = NULL;
	const cJSON *id_from;
	char ts[32], *out = NULL;
	struct tm tm;
	bool ok;

	if (!ev)
		return NULL;
	if (i >= 0)
		a = k == DIFF_CHANGED ? snap_parse(old, (size_t)i) : snap_parse_keys(old, (size_t)i);
	if (j >= 0)
		b = k == DIFF_CHANGED ? snap_parse(new, (size_t)j) : snap_parse_keys(new, (size_t)j);
	if ((i >= 0 && !a) || (j >= 0 && !b))
		goto out;
	gmtime_r(&when, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	ok = cJSON_AddStringToObject(ev, "time", ts) &&
	     cJSON_AddStringToObject(ev, "kind", kind_names[k]) &&
	     cJSON_AddStringToObject(ev, "region", region ? region : "");
	/* The identity as it is now (the new side), or as it was for a removal. */
	id_from = b ? b : a;
	for (size_t n = 0; ok && n < sizeof(keys) / sizeof(keys[0]); n++)
		ok = copy_member(ev, id_from, keys[n]);
	if (ok && k == DIFF_CHANGED)
		ok = add_fields(ev, a, b);
	if (ok)
		out = cJSON_PrintUnformatted(ev);
	if (out && len)
		*len = strlen(out);
out:
	cJSON_Delete(a);
	cJSON_Delete(b);
	cJSON_Delete(ev);
	return out;
}
