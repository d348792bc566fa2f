/* snap: one query's answer at one moment, indexed for O(1) lookups and rendered lazily. */
#ifndef DSWFS_SNAP_H
#define DSWFS_SNAP_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include <cjson/cJSON.h>

#include "query.h"
#include "render.h"

/* Immutable after snap_new (lazy parts are built once, under a lock), reference-counted, so a
 * reader keeps a consistent view however the cache moves on. */
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

void snap_ref(struct snap *s);
void snap_unref(struct snap *s);

size_t snap_count(const struct snap *s);
size_t snap_dropped(const struct snap *s);
time_t snap_fetched_at(const struct snap *s);

/* The directory name of instance i (its escaped InstanceId). Owned by s. */
const char *snap_dirname(const struct snap *s, size_t i);

/* Index of the instance whose directory name is name, or -ENOENT. O(1). */
long snap_find(const struct snap *s, const char *name);

/* The (redacted) object of instance i. Owned by s. */
const cJSON *snap_instance(const struct snap *s, size_t i);

/* GmtModifiedTime / GmtCreateTime of instance i (fetched_at when missing or malformed). */
time_t snap_mtime(const struct snap *s, size_t i);
time_t snap_ctime(const struct snap *s, size_t i);

/* The file tree of instance i, rendered on first use. Owned by s; NULL on ENOMEM. */
const struct render_node *snap_tree(struct snap *s, size_t i);

/* The file tree of instance i if it has been rendered already, else NULL (never renders). */
const struct render_node *snap_tree_peek(const struct snap *s, size_t i);

/* instances.json: the pretty-printed array of every instance (redacted) and "\n", rendered on
 * first use. Owned by s; NULL on ENOMEM. */
const char *snap_instances_json(struct snap *s, size_t *len);

/* Distinct values of key k among the instances (see query_key_values), sorted. Owned by s,
 * computed once per key; NULL with *n = 0 on ENOMEM or when there are none. */
const char *const *snap_key_values(struct snap *s, enum query_key k, size_t *n);

/* by-name/ entries: the escaped InstanceName, or "<name>@<InstanceId>" for every instance whose
 * name is shared (or missing: then "@<InstanceId>"). snap_link_name is owned by s. */
const char *snap_link_name(struct snap *s, size_t i);

/* Index of the instance whose by-name entry is name, or -ENOENT. O(1) after the first call. */
long snap_link_find(struct snap *s, const char *name);

/* Approximate bytes held (raw JSON + rendered trees), for stats. */
size_t snap_bytes(const struct snap *s);

#endif
