/* snap: one query's answer at one moment, indexed for O(1) lookups and rendered lazily. */
#ifndef DSWFS_SNAP_H
#define DSWFS_SNAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <cjson/cJSON.h>

#include "query.h"
#include "render.h"

/* Immutable after snap_new (lazy parts are built once, under a lock), reference-counted, so a
 * reader keeps a consistent view however the cache moves on. Each instance is kept as its
 * redacted compact JSON text (all of a snapshot's texts in one allocation) plus a small fixed
 * index; no parsed tree is kept. Files are rendered on demand through a snap_views cache. */
struct snap;

/* Builds a snapshot from a JSON array of instance objects, taking ownership of it. Secrets are
 * redacted here unless show_secrets, so nothing downstream ever sees them. An InstanceId sent
 * as an integral number is used as its canonical text (query_int_text: 123 names "123"; the
 * object keeps the number). Entries that are not objects, or whose InstanceId is missing,
 * empty, or neither a string nor an integral number, are dropped and counted in snap_dropped,
 * as is every repeat of an InstanceId (the first is kept); the others are all kept.
 * fetched_at is wall-clock time (for .query and last_error).
 * Returns 0 and *out holding one reference, -EINVAL when instances is not an array, -ENOMEM
 * (instances is freed in every case). */
int snap_new(cJSON *instances, bool show_secrets, time_t fetched_at, struct snap **out);

/* A snapshot of the instances idx[0..n) of base (in that order, each at most once), sharing
 * base's storage (it holds a reference to base) and carrying base's fetched_at and stamp: a
 * narrowed answer is exactly as old as what it was narrowed from. Returns 0 and *out,
 * -EINVAL for an index out of range, -ENOMEM. */
int snap_narrow(struct snap *base, const size_t *idx, size_t n, struct snap **out);

/* Multi-region answers: the instances of parts[0..nparts) in order, instance k of that
 * concatenation named names[k] (the caller makes them distinct: "<id>@<region>" for an id
 * several parts hold) and tagged with labels[p] of its part (snap_origin). The texts are
 * copied: the parts stay the caller's. fetched_at and stamp are the caller's to set. Returns 0
 * and *out, -EINVAL for two equal names or more than 65535 parts, -ENOMEM. */
int snap_merge(struct snap *const *parts, const char *const *labels, size_t nparts,
	       const char *const *names, time_t fetched_at, struct snap **out);

/* The label of the part instance i came from (its region), or NULL when s was not merged (nor
 * narrowed from a merged one). Owned by s. */
const char *snap_origin(const struct snap *s, size_t i);

/* A text shown in .query below the standard lines (a merged answer's per-region state), or
 * NULL. Set once, before s is shared (copied; 0 or -ENOMEM); narrowings share it. */
int snap_set_note(struct snap *s, const char *text);
const char *snap_note(const struct snap *s);

void snap_ref(struct snap *s);
void snap_unref(struct snap *s);

size_t snap_count(const struct snap *s);
size_t snap_dropped(const struct snap *s);
time_t snap_fetched_at(const struct snap *s);

/* The newest snap_mtime of its instances (fetched_at when it has none): the mtime of its
 * instances.json, so `find -newer` sees it change only when an instance did. */
time_t snap_newest_mtime(const struct snap *s);

/* The owner's monotonic time of the fetch behind s (0 until set; snap_narrow copies it). Set
 * once, before s is shared. */
double snap_stamp(const struct snap *s);
void snap_set_stamp(struct snap *s, double stamp);

/* The directory name of instance i (its escaped InstanceId). Owned by s. */
const char *snap_dirname(const struct snap *s, size_t i);

/* Index of the instance whose directory name is name, or -ENOENT. O(1). */
long snap_find(const struct snap *s, const char *name);

/* The redacted compact JSON text of instance i (render_compact), owned by s; NULL past the end.
 * Equal texts are equal instances. */
const char *snap_text(const struct snap *s, size_t i, size_t *len);

/* Instance i parsed from its text. Caller cJSON_Deletes; NULL on ENOMEM. */
cJSON *snap_parse(const struct snap *s, size_t i);

/* Instance i's key members (WorkspaceId, Status, AcceleratorType, PaymentType, Accessibility,
 * InstanceId, InstanceName, WorkspaceName, UserId, UserName: every member of those names, in
 * order, nothing else) parsed from a small text kept beside its own: what narrowing and the
 * link views read, at a fraction of a whole parse. Caller cJSON_Deletes; NULL on ENOMEM. */
cJSON *snap_parse_keys(const struct snap *s, size_t i);

/* Whether snap_parse_keys holds the top-level member of that name. */
bool snap_keys_cover(const char *member);

/* A hash of instance i's text (computed once at snap_new), and of the whole answer (every
 * instance's hash in order): cheap version stamps for what is shown from them. */
uint64_t snap_instance_hash(const struct snap *s, size_t i);
uint64_t snap_hash(const struct snap *s);

/* Whether instance i of a and instance j of b have the same content. */
bool snap_same(const struct snap *a, size_t i, const struct snap *b, size_t j);

/* GmtModifiedTime / GmtCreateTime of instance i. A missing, null or malformed GmtModifiedTime
 * falls back to GmtCreateTime (never modified), a missing GmtCreateTime to fetched_at. */
time_t snap_mtime(const struct snap *s, size_t i);
time_t snap_ctime(const struct snap *s, size_t i);

/* Whether anything below instance i's directory has been rendered for s (snap_view_instance),
 * so what the kernel may hold of it is worth invalidating. */
bool snap_shown(const struct snap *s, size_t i);

/* instances.json: the pretty-printed array of every instance (redacted) and "\n", the same
 * bytes cJSON_Print gives for the array, rendered now one instance at a time. Caller frees;
 * NULL on ENOMEM. */
char *snap_instances_json(struct snap *s, size_t *len);

/* instances.json's length. The first call renders every instance once to measure it and keeps
 * only where each one's part starts (8 bytes per instance). Returns 0 or -ENOMEM. */
int snap_instances_json_size(struct snap *s, size_t *len);

/* Copies up to size bytes of instances.json at off into out, rendering only the instances
 * those bytes cover (nothing is kept), so reading it through costs about one rendering however
 * it is chunked. *n is the count (0 at or past the end). Returns 0 or -ENOMEM. */
int snap_instances_json_read(struct snap *s, char *out, size_t size, size_t off, size_t *n);

/* Distinct values of key k among the instances (see query_key_values), sorted. Owned by s,
 * computed once per key; NULL with *n = 0 on ENOMEM or when there are none. */
const char *const *snap_key_values(struct snap *s, enum query_key k, size_t *n);

/* by-name/ entries: the escaped InstanceName, or "<name>@<InstanceId>" for every instance whose
 * name is shared (or missing: then "@<InstanceId>"). snap_link_name is owned by s. */
const char *snap_link_name(struct snap *s, size_t i);

/* Index of the instance whose by-name entry is name, or -ENOENT. O(1) after the first call. */
long snap_link_find(struct snap *s, const char *name);

/* The link views, each built on first use. Instances: entry i is instance i, named as
 * snap_link_name, its target its dirname. Workspaces (users): one entry per value of
 * snap_key_values(QK_WORKSPACE_ID) (QK_CREATE_USER_ID), in that order, its target that id,
 * named by the escaped WorkspaceName (UserName) of the first of its instances that has one;
 * shared and missing names take the "<name>@<id>" form as by-name does. */
enum snap_links { SNAP_LINKS_INSTANCES, SNAP_LINKS_WORKSPACES, SNAP_LINKS_USERS, SNAP_LINKS__COUNT };

/* Whether view v has been built (asked for) yet: what the kernel can have been shown. */
bool snap_links_built(const struct snap *s, enum snap_links v);

/* Number of entries (0 on ENOMEM). */
size_t snap_links_count(struct snap *s, enum snap_links v);

/* Entry i's name and target, owned by s; NULL past the end or on ENOMEM. */
const char *snap_links_name(struct snap *s, enum snap_links v, size_t i);
const char *snap_links_target(struct snap *s, enum snap_links v, size_t i);

/* Entry i's mtime: the instance's (snap_mtime), or the newest of the group's instances'. */
time_t snap_links_mtime(struct snap *s, enum snap_links v, size_t i);

/* The entry named name, or -ENOENT (-ENOMEM). O(1) after the first call. */
long snap_links_find(struct snap *s, enum snap_links v, const char *name);

/* Approximate bytes held (texts, index, key values, links; shared storage counted by its
 * owner only), for stats. */
size_t snap_bytes(const struct snap *s);

/*
 * Views: what is rendered from snapshots, in a small cache of bounded size per mount, so a walk
 * over one instance's files parses it once, and nothing rendered is kept per instance forever.
 * Views are keyed by content (equal texts share one view, whichever snapshot they come from).
 * instances.json needs none (snap_instances_json_read). Thread-safe.
 */
struct snap_views;
struct snap_view;

/* A cache holding at most max_instances views besides those still referenced. Returns 0 and
 * *out (free with snap_views_free, after every view has been put), -EINVAL for a zero count,
 * -ENOMEM. */
int snap_views_new(size_t max_instances, struct snap_views **out);
void snap_views_free(struct snap_views *c);

/* The rendered tree of instance i of s (render_instance over its parsed text; files render on
 * first read), and marks it shown. Returns 0 and *out (release with snap_view_put), -ENOENT
 * past the end, -ENOMEM. */
int snap_view_instance(struct snap_views *c, struct snap *s, size_t i, struct snap_view **out);

/* A view's tree. Owned by the view. */
const struct render_node *snap_view_root(const struct snap_view *v);

void snap_view_put(struct snap_view *v);

/* Bytes the cached views hold now, roughly (for stats). */
size_t snap_views_bytes(struct snap_views *c);

#endif
