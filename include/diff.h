/* diff: what changed between two snapshots of one query, as the change events of the feeds.
 * Pure: no FUSE, no network, no clock. */
#ifndef DSWFS_DIFF_H
#define DSWFS_DIFF_H

#include <stddef.h>
#include <time.h>

struct snap;

enum diff_kind { DIFF_ADDED, DIFF_REMOVED, DIFF_CHANGED };

/* Calls fn for every instance that differs between old and new (matched by directory name,
 * compared by content with snap_same): removed (i in old, j -1) and changed (i in old, j in new)
 * in old's order, then added (i -1, j in new) in new's order. new NULL means every instance of
 * old went away; old NULL, every one of new is new. A non-zero return from fn stops the walk
 * and is returned; otherwise 0. */
int diff_each(const struct snap *old, const struct snap *new,
	      int (*fn)(void *ctx, enum diff_kind k, long i, long j), void *ctx);

/* The event line (compact JSON, no newline) for one difference found by diff_each:
 * {"time","kind","region","InstanceId","InstanceName","WorkspaceId","Status"} and, for a
 * change, "fields": {member: {"old": v, "new": v}} for every top-level member that differs
 * (absent on one side: null there). Values come from the snapshots' texts, which are redacted
 * as everywhere else. time is wall-clock seconds. Caller frees; NULL on ENOMEM. */
char *diff_event(const struct snap *old, long i, const struct snap *new, long j,
		 enum diff_kind k, const char *region, time_t when, size_t *len);

#endif
