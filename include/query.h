/* query: ListInstances queries (filter keys, value rules, canonical form, hints). Pure. The mount
 * path grammar that builds them is path.h. */
#ifndef DSWFS_QUERY_H
#define DSWFS_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>

#include "sign.h"

/* Filter keys, in the order of the brief. */
enum query_key {
	QK_WORKSPACE_ID, QK_INSTANCE_ID, QK_INSTANCE_NAME, QK_RESOURCE_ID, QK_STATUS,
	QK_PAYMENT_TYPE, QK_ACCESSIBILITY, QK_ACCELERATOR_TYPE, QK_GPU_TYPE, QK_IMAGE_NAME,
	QK_CREATE_USER_ID, QK_MIN_CPU, QK_MAX_CPU, QK_MIN_GPU, QK_MAX_GPU, QK_MIN_MEMORY,
	QK_MAX_MEMORY, QK_MIN_GPU_MEMORY, QK_MAX_GPU_MEMORY, QK_CREATE_TIME_AFTER,
	QK_CREATE_TIME_BEFORE, QK_OVERSOLD_INFO, QK_OVERSOLD_TYPE, QK_LABEL, QK_TAG,
	QK__COUNT
};

/* Label and tag filters may each appear this many times in one query. */
#define QUERY_MAX_LABELS 4

/* Directory name of a key ("workspace-id", "label", ...). Static storage. */
const char *query_key_dirname(enum query_key k);

/* API parameter of a key ("WorkspaceId", "Labels", "Tag", ...). Static storage. */
const char *query_key_param(enum query_key k);

/* The key whose directory name is name, or -ENOENT. */
int query_key_lookup(const char *name);

/* Whether value is acceptable for key, that is could be something the API has:
 * - enumerated keys (status: a comma list; payment-type, accessibility, accelerator-type): an
 *   ASCII word (letters, then letters, digits, '_'; at most 64) per element. Values the
 *   documentation does not list are accepted (the API adds values over time) and left to the
 *   server to judge; query_value_documented tells them apart;
 * - workspace-id: decimal digits (at most 32), or ALL; create-user-id: decimal digits;
 * - numeric keys (min-/max-*): decimal digits;
 * - create-time-*: the API's yyyy-mm-ddThh:mm:ssZ or a plain yyyy-mm-dd (00:00:00Z that day),
 *   a real moment (isotime.h);
 * - label/tag: "<key>=<value>" with a non-empty key;
 * every value must be non-empty. */
bool query_value_valid(enum query_key k, const char *value);

/* Calls emit once for each value of key k that inst carries and that could be typed back as a
 * path component (non-empty, no '/', not "." or "..", valid for the key): the Status of the
 * instance, each "k=v" of its Labels (Key/Value) or Tags (TagKey/TagValue), its
 * RequestedResource.GPUType for gpu-type, its UserId for create-user-id, ... Range keys
 * (min-/max-*, create-time-*) emit nothing. Only string members count (the ids WorkspaceId,
 * InstanceId, ResourceId and UserId may also be integral numbers: their query_int_text);
 * Labels may also be an object {"k": "v"}, Tags entries may use Key/Value; a label/tag key
 * holding '=' is skipped (it would not read back as the same pair). */
void query_key_values(enum query_key k, const cJSON *inst,
		      void (*emit)(const char *value, void *ctx), void *ctx);

/* Room for query_int_text's output: "-9007199254740992" and its NUL, with margin. */
#define QUERY_INT_TEXT 24

/* The canonical decimal text ("40823", "-7", "0", never "-0" or "40823.0") of a JSON number
 * holding an integer a double represents exactly (|v| <= 2^53; JSON has one number type, so
 * 40823 and 40823.0 are the same value). Returns 0, or -EDOM for anything else: not a number,
 * a fraction, beyond 2^53, non-finite. */
int query_int_text(const cJSON *item, char out[QUERY_INT_TEXT]);

/* Whether an instance member satisfies an exact-match filter as the server judges it. want is
 * one value, or with list a comma list meaning any of its elements. Returns 1 (match), 0 (no
 * match; also for a missing member), or -EDOM when the local answer is not provably the
 * server's, so the server must be asked: a member that is neither a string nor an integral
 * number (null, true/false, object, array, 1.5, beyond 2^53); a value or member whose spelling
 * a server reading numbers could take for another one ("040823", "+1", "4e4", "40823.0",
 * " 7", "7 "), or an empty list element. An integral number equals its canonical text. */
int query_field_match(const cJSON *member, const char *want, bool list);

/* A set of filters: the mount's base (workspace_id, resource_id) plus those from the path. */
struct query;

/* A query holding only the base filters; an empty string or NULL leaves that parameter out.
 * Returns NULL on ENOMEM. Free with query_free. */
struct query *query_new(const char *workspace_id, const char *resource_id);

/* Copy; NULL on ENOMEM. */
struct query *query_dup(const struct query *q);

/* Adds a path filter. A path filter replaces the base value of the same key; a key already set
 * by the path gives -EEXIST (label/tag: more than QUERY_MAX_LABELS gives -E2BIG, the same label
 * key twice -EEXIST); an invalid value -ENOENT; -ENOMEM. */
int query_add(struct query *q, enum query_key k, const char *value);

/* query_add without recomputing the canonical form: several filters cost one query_finish,
 * which must come before query_canonical, query_params or query_dup read q. Returns as
 * query_add. */
int query_add_deferred(struct query *q, enum query_key k, const char *value);

/* Recomputes the canonical form after query_add_deferred. Returns 0 or -ENOMEM. */
int query_finish(struct query *q);

/* Whether the path could still add key k: not set by the path (label/tag: fewer than
 * QUERY_MAX_LABELS). */
bool query_can_add(const struct query *q, enum query_key k);

/* Whether the path (not the base) already set key k (label/tag: at least once). */
bool query_path_has(const struct query *q, enum query_key k);

/* The canonical form: sign_query_string() of query_params(). Two paths that mean the same query
 * give the same string; it is the cache key. Owned by q, valid until q changes or is freed. */
const char *query_canonical(const struct query *q);

/* The API parameters (Labels as one JSON object string with sorted keys, Tag as one JSON array
 * of {"Key","Value"} sorted by key). *out is an array the caller frees (free(*out)); the strings
 * point into q. Returns 0 or -ENOMEM. */
int query_params(const struct query *q, struct sign_kv **out, size_t *n);

void query_free(struct query *q);

/* Whether every element of value is a documented value of key k (dsw-api-facts.md,
 * "Enumerations"); true for keys that are not enumerated. */
bool query_value_documented(enum query_key k, const char *value);

/* query_value_documented for the key whose API parameter is param; true for other params. */
bool query_param_documented(const char *param, const char *value);

/* The filter key directory name closest to name (case, '_' for '-' and up to two edits, for
 * "did you mean"), or NULL when none is close. Static storage. */
const char *query_suggest_key(const char *name);

/* For an enumerated key: the documented value closest to value's first undocumented element
 * ("Runing" -> "Running", "running" -> "Running"), or NULL when there is none or none is
 * close. Static storage. */
const char *query_suggest_value(enum query_key k, const char *value);

#endif
