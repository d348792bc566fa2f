/* merge: one answer from several regions' answers (every instance kept, names made distinct)
 * and the per-region state a merged answer shows in .query. Pure. */
#ifndef DSWFS_MERGE_H
#define DSWFS_MERGE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct snap;

/* One region's part of a merged answer. */
struct merge_part {
	const char *region;	/* its id, the label of its instances (snap_origin) */
	struct snap *snap;	/* its answer (borrowed), or NULL when it has none to give */
	bool stale;		/* snap is past the TTL: served on error while refreshes fail */
	const char *error;	/* one line on why it is missing or stale, or NULL */
};

/* Directory names for the concatenation of parts' instances (in order): each instance's own
 * (escaped InstanceId) when no other part holds it; "<InstanceId>@<region>" (escaped as
 * by-name entries are, cut with a hash past 255 bytes) for an id two or more parts hold, so
 * both stay visible. Any name still equal to another (an id that itself reads "x@region")
 * moves aside with a hash suffix. Returns the count and *names (free with merge_names_free),
 * -ENOMEM. */
long merge_names(struct snap *const *parts, const char *const *labels, size_t nparts,
		 char ***names);
void merge_names_free(char **names, size_t n);

/* The merged answer of the parts that have one (snap_merge with merge_names), its note (below)
 * set. fetched_at is the oldest part's. Returns 0 and *out, -ENOENT when no part has an answer,
 * -ENOMEM. */
int merge_snaps(const struct merge_part *parts, size_t nparts, struct snap **out);

/* The .query lines on each region of a merged answer:
 *   region <id> ok instances <n> fetched_at <UTC time>
 *   region <id> stale instances <n> fetched_at <UTC time>: <error>
 *   region <id> missing: <error>
 *   complete 1|0                   (0 when a region is missing)
 *   missing <id> ...               (only when some are)
 *   stale <id> ...                 (only when some are)
 * Caller frees; NULL on ENOMEM. */
char *merge_note(const struct merge_part *parts, size_t nparts);

/* Whether every part has an answer. */
bool merge_complete(const struct merge_part *parts, size_t nparts);

#endif
