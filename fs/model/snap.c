/* snap: an immutable, reference-counted query answer with O(1) indexes and lazy rendering. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "hash.h"
#include "isotime.h"
#include "snap.h"

/*
 * Memory: one snapshot holds its instances' redacted compact JSON texts in one allocation
 * (text), their directory names in another (names), and per instance a fixed index entry. A
 * narrowed snapshot owns only its index entries and points into its base's storage, holding a
 * reference to it. Nothing parsed is kept: key values and by-name links parse each instance
 * once when first asked for, files are rendered through the bounded views cache.
 *
 * Thread safety: everything built by snap_new is read-only afterwards. The lazy parts (key
 * values, by-name links) are built under s->lock by exactly one thread and then flagged ready
 * with a release store; the shown flags are atomic bytes.
 */

/* Open addressing over indices (slot = index + 1, 0 = empty), the strings living elsewhere. */
struct strtab {
	uint32_t *slot;
	size_t mask;
};

typedef const char *(*strtab_key_fn)(const void *ctx, size_t i);

struct inst {
	size_t text_off, text_len;	/* compact JSON in s->text */
	size_t keys_off, keys_len;	/* the key members' compact JSON, also in s->text */
	size_t dir_off;			/* escaped InstanceId in s->names */
	uint64_t hash;			/* of the text */
	time_t mtime, ctime;
	uint8_t shown;			/* atomic */
	uint16_t origin;		/* merged snapshots: index into origins */
};

struct keyvals {
	int ready;			/* atomic */
	char **v;
	size_t n;
};

/* One link view (by-name, workspaces-by-name, users-by-name): its entries' names, targets and
 * times, and a table from name to entry. Built once, under s->lock, then read-only. */
struct linkset {
	int ready;			/* atomic */
	size_t n;
	char **name;			/* entry i's link name */
	char **target;			/* entry i's target (an id); NULL for instances: the dirname */
	time_t *mtime;			/* entry i's newest instance mtime; NULL for instances */
	struct strtab tab;		/* name -> entry */
};

struct snap {
	int refs;			/* atomic */
	struct snap *base;		/* owner of text and names, when narrowed */
	const char *text, *names;	/* base's, or owned (below) */
	char *own_text, *own_names;
	struct inst *inst;
	size_t n, dropped;
	time_t fetched_at;
	time_t newest;			/* the newest instance mtime; fetched_at when there are none */
	double stamp;
	uint64_t hash;
	struct strtab ids;		/* dirname -> index */
	size_t base_bytes;
	size_t lazy_bytes;		/* atomic */
	/* instances.json: where instance i's piece starts (json_off[i]; json_off[n] is where
	 * "]\n" starts), built once under lock, then published with a release store. */
	size_t *json_off;		/* atomic pointer; NULL until built */

	pthread_mutex_t lock;		/* builds of the parts below */
	struct keyvals kv[QK__COUNT];
	struct linkset links[SNAP_LINKS__COUNT];
	/* Merged snapshots (snap_merge) and what is narrowed from them: the part (region) each
	 * instance came from, and a note for .query. Owned by the merged one, shared by
	 * narrowings (which hold a reference to it). */
	const char *const *origins;
	size_t norigins;
	const char *note;
	char **own_origins;
	char *own_note;
};

/* A by-name entry's InstanceId part is cut (with a hash) beyond this, so a name part fits. */
#define LINK_ID_MAX 200
#define NAME_MAX_LEN (RENDER_NAME_MAX - 1)
#define HASH_SUFFIX_LEN 9	/* "~" and 8 hex digits */

/* The seed by-name suffixes were always made with: kept, so no link name changes. */
#define LINK_HASH_SEED 1469598103934665603ULL

static uint32_t short_hash(const char *s, unsigned salt)
{
	uint64_t h = hash_more(LINK_HASH_SEED, s, strlen(s));

	h ^= salt;
	h *= 1099511628211ULL;
	return (uint32_t)(h ^ (h >> 32));
}

static int strtab_init(struct strtab *t, size_t n)
{
	size_t cap = 16;

	while (cap < n * 2) {
		if (cap > SIZE_MAX / 4 / sizeof(*t->slot))
			return -ENOMEM;
		cap *= 2;
	}
	t->slot = calloc(cap, sizeof(*t->slot));
	if (!t->slot)
		return -ENOMEM;
	t->mask = cap - 1;
	return 0;
}

static void strtab_free(struct strtab *t)
{
	free(t->slot);
	t->slot = NULL;
	t->mask = 0;
}

/* The slot holding key, or the empty slot where it belongs. The table is never more than half
 * full, so the probe ends. */
static size_t strtab_probe(const struct strtab *t, const char *key, strtab_key_fn kf,
			   const void *ctx)
{
	size_t i = (size_t)hash_str(key) & t->mask;

	while (t->slot[i] && strcmp(kf(ctx, t->slot[i] - 1), key) != 0)
		i = (i + 1) & t->mask;
	return i;
}

static long strtab_find(const struct strtab *t, const char *key, strtab_key_fn kf,
			const void *ctx)
{
	size_t pos;

	if (!t->slot || !key)
		return -ENOENT;
	pos = strtab_probe(t, key, kf, ctx);
	return t->slot[pos] ? (long)t->slot[pos] - 1 : -ENOENT;
}

/* Rebuilds t for n + 1 keys (indices 0..n-1 reinserted) when it would pass half full. */
static int strtab_reserve(struct strtab *t, size_t n, strtab_key_fn kf, const void *ctx)
{
	struct strtab bigger;

	if ((n + 1) * 2 <= t->mask + 1)
		return 0;
	if (strtab_init(&bigger, n + 1))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		bigger.slot[strtab_probe(&bigger, kf(ctx, i), kf, ctx)] = (uint32_t)(i + 1);
	strtab_free(t);
	*t = bigger;
	return 0;
}

static const char *dirname_key(const void *ctx, size_t i)
{
	const struct snap *s = ctx;

	return s->names + s->inst[i].dir_off;
}

static const char *link_key(const void *ctx, size_t i)
{
	return ((const struct linkset *)ctx)->name[i];
}

static const char *strv_key(const void *ctx, size_t i)
{
	return ((char *const *)ctx)[i];
}

static time_t member_time(const cJSON *obj, const char *name, time_t fallback)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, name);
	time_t t;

	return isotime_parse(cJSON_GetStringValue(m), ISOTIME_API, &t) ? fallback : t;
}

/* The top-level members kept a second time, in a small text of their own per instance, so
 * narrowing and by-name links need not parse whole instances. */
static const char *const key_members[] = {
	"WorkspaceId", "Status", "AcceleratorType", "PaymentType", "Accessibility", "InstanceId",
	"InstanceName", "WorkspaceName", "UserId", "UserName",
};

bool snap_keys_cover(const char *member)
{
	for (size_t i = 0; i < sizeof(key_members) / sizeof(key_members[0]); i++)
		if (strcmp(key_members[i], member) == 0)
			return true;
	return false;
}

/* Appends the compact text of an object holding obj's key members (every one of those names,
 * in order). */
static int append_keys(const cJSON *obj, struct buf *out)
{
	cJSON *k = cJSON_CreateObject();
	const cJSON *m;
	int rc = k ? 0 : -ENOMEM;

	cJSON_ArrayForEach(m, obj) {
		cJSON *copy;

		if (rc)
			break;
		if (!m->string || !snap_keys_cover(m->string))
			continue;
		copy = cJSON_Duplicate(m, true);
		if (!copy) {
			rc = -ENOMEM;
			break;
		}
		cJSON_AddItemToObject(k, m->string, copy);
	}
	if (!rc)
		rc = render_compact(k, out);
	cJSON_Delete(k);
	return rc;
}

/* Build state of snap_new: the growing text and name stores. */
struct builder {
	struct buf text, names;
};

/* Takes ownership of item: keeps its redacted compact text as the next instance, or drops it. */
static int add_instance(struct snap *s, struct builder *bd, cJSON *item, bool show_secrets)
{
	char esc[RENDER_NAME_MAX], num[QUERY_INT_TEXT];
	const char *idtext;
	const cJSON *id;
	struct inst *in;
	cJSON *obj = NULL;
	size_t pos;
	int rc;

	if (!cJSON_IsObject(item))
		goto drop;
	id = cJSON_GetObjectItemCaseSensitive(item, "InstanceId");
	/* One malformed instance must not cost the others: an id sent as an integral number names
	 * the same directory its string would; one that is missing, empty, a fraction or of
	 * another type cannot name a directory, so only that instance is dropped. */
	if (cJSON_IsString(id) && id->valuestring)
		idtext = id->valuestring;
	else if (query_int_text(id, num) == 0)
		idtext = num;
	else
		goto drop;
	if (!*idtext)
		goto drop;
	render_escape_name(idtext, esc);
	pos = strtab_probe(&s->ids, esc, dirname_key, s);
	if (s->ids.slot[pos])
		goto drop;	/* the first of a repeated InstanceId wins */
	if (!show_secrets) {
		obj = render_redact(item, false);
		if (!obj) {
			cJSON_Delete(item);
			return -ENOMEM;
		}
	}
	in = &s->inst[s->n];
	in->text_off = bd->text.len;
	in->dir_off = bd->names.len;
	in->ctime = member_time(obj ? obj : item, "GmtCreateTime", s->fetched_at);
	/* An instance never modified (GmtModifiedTime null or missing) was last changed when it
	 * was created: the fetch time would make it look changed after every refresh. */
	in->mtime = member_time(obj ? obj : item, "GmtModifiedTime", in->ctime);
	rc = render_compact(obj ? obj : item, &bd->text);
	if (!rc)
		rc = buf_append(&bd->text, "", 1);
	in->text_len = bd->text.len - 1 - in->text_off;
	in->keys_off = bd->text.len;
	if (!rc)
		rc = append_keys(obj ? obj : item, &bd->text);
	if (!rc)
		rc = buf_append(&bd->text, "", 1);
	in->keys_len = bd->text.len - 1 - in->keys_off;
	cJSON_Delete(obj);
	cJSON_Delete(item);
	if (!rc)
		rc = buf_append(&bd->names, esc, strlen(esc) + 1);
	if (rc)
		return rc == -EFBIG ? -ENOMEM : rc;
	s->text = bd->text.data;
	s->names = bd->names.data;
	in->hash = hash_mem(s->text + in->text_off, in->text_len);
	s->ids.slot[pos] = (uint32_t)(s->n + 1);
	s->n++;
	return 0;
drop:
	s->dropped++;
	cJSON_Delete(item);
	return 0;
}

static void linkset_free(struct linkset *ls)
{
	for (size_t i = 0; ls->name && i < ls->n; i++)
		free(ls->name[i]);
	for (size_t i = 0; ls->target && i < ls->n; i++)
		free(ls->target[i]);
	free(ls->name);
	free(ls->target);
	free(ls->mtime);
	strtab_free(&ls->tab);
	memset(ls, 0, sizeof(*ls));
}

static void snap_destroy(struct snap *s)
{
	for (int v = 0; v < SNAP_LINKS__COUNT; v++)
		linkset_free(&s->links[v]);
	for (int k = 0; k < QK__COUNT; k++) {
		for (size_t i = 0; i < s->kv[k].n; i++)
			free(s->kv[k].v[i]);
		free(s->kv[k].v);
	}
	free(s->own_text);
	free(s->own_names);
	for (size_t i = 0; i < s->norigins && s->own_origins; i++)
		free(s->own_origins[i]);
	free(s->own_origins);
	free(s->own_note);
	free(s->inst);
	free(s->json_off);
	strtab_free(&s->ids);
	pthread_mutex_destroy(&s->lock);
	snap_unref(s->base);
	free(s);
}

static struct snap *snap_alloc(size_t total, time_t fetched_at)
{
	struct snap *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	if (pthread_mutex_init(&s->lock, NULL)) {
		free(s);
		return NULL;
	}
	s->refs = 1;
	s->fetched_at = fetched_at;
	s->inst = calloc(total ? total : 1, sizeof(*s->inst));
	if (!s->inst || strtab_init(&s->ids, total)) {
		snap_destroy(s);
		return NULL;
	}
	return s;
}

/* The answer's hash and the index's footprint, once every instance is in. */
static void snap_seal(struct snap *s, size_t own_bytes)
{
	uint64_t h = HASH_INIT;

	s->newest = s->n ? s->inst[0].mtime : s->fetched_at;
	for (size_t i = 0; i < s->n; i++) {
		h = hash_more(h, &s->inst[i].hash, sizeof(s->inst[i].hash));
		if (s->inst[i].mtime > s->newest)
			s->newest = s->inst[i].mtime;
	}
	s->hash = hash_more(h, &s->n, sizeof(s->n));
	s->base_bytes = sizeof(*s) + s->n * sizeof(*s->inst) +
			(s->ids.mask + 1) * sizeof(uint32_t) + own_bytes;
}

int snap_new(cJSON *instances, bool show_secrets, time_t fetched_at, struct snap **out)
{
	struct builder bd;
	struct snap *s;
	cJSON *item;
	size_t total, text_total;
	int rc = -ENOMEM;

	if (!cJSON_IsArray(instances)) {
		cJSON_Delete(instances);
		return -EINVAL;
	}
	buf_init(&bd.text, SIZE_MAX / 2);
	buf_init(&bd.names, SIZE_MAX / 2);
	total = (size_t)cJSON_GetArraySize(instances);
	s = snap_alloc(total, fetched_at);
	if (!s)
		goto out_json;
	/* Each original is released as soon as its text exists, so a large answer is never held
	 * twice in full. */
	while ((item = instances->child) != NULL) {
		cJSON_DetachItemViaPointer(instances, item);
		rc = add_instance(s, &bd, item, show_secrets);
		if (rc)
			goto out_destroy;
	}
	cJSON_Delete(instances);
	instances = NULL;
	/* The stores grew by doubling: give the slack back. */
	s->own_text = buf_steal(&bd.text, &text_total);
	if (!s->own_text)
		goto out_destroy;
	s->text = s->own_text = realloc(s->own_text, text_total + 1) ? : s->own_text;
	s->own_names = buf_steal(&bd.names, &total);
	if (!s->own_names)
		goto out_destroy;
	s->names = s->own_names = realloc(s->own_names, total + 1) ? : s->own_names;
	snap_seal(s, text_total + 1 + total + 1);
	*out = s;
	return 0;
out_destroy:
	snap_destroy(s);
out_json:
	buf_free(&bd.text);
	buf_free(&bd.names);
	cJSON_Delete(instances);
	return rc;
}

int snap_narrow(struct snap *base, const size_t *idx, size_t n, struct snap **out)
{
	struct snap *s;

	for (size_t k = 0; k < n; k++)
		if (idx[k] >= base->n)
			return -EINVAL;
	s = snap_alloc(n, base->fetched_at);
	if (!s)
		return -ENOMEM;
	snap_ref(base);
	s->base = base;
	s->text = base->text;
	s->names = base->names;
	s->stamp = base->stamp;
	s->origins = base->origins;
	s->norigins = base->norigins;
	s->note = base->note;
	for (size_t k = 0; k < n; k++) {
		const struct inst *from = &base->inst[idx[k]];
		size_t pos = strtab_probe(&s->ids, base->names + from->dir_off, dirname_key, s);

		if (s->ids.slot[pos]) {
			snap_destroy(s);
			return -EINVAL;	/* an index given twice */
		}
		/* Field by field: base's shown flags change under readers (atomics). */
		s->inst[s->n].text_off = from->text_off;
		s->inst[s->n].text_len = from->text_len;
		s->inst[s->n].keys_off = from->keys_off;
		s->inst[s->n].keys_len = from->keys_len;
		s->inst[s->n].dir_off = from->dir_off;
		s->inst[s->n].hash = from->hash;
		s->inst[s->n].mtime = from->mtime;
		s->inst[s->n].ctime = from->ctime;
		s->inst[s->n].origin = from->origin;
		s->ids.slot[pos] = (uint32_t)(s->n + 1);
		s->n++;
	}
	snap_seal(s, 0);
	*out = s;
	return 0;
}

/* Copies instance i of p (text, key text, name, stamps) into the stores of a merge. */
static int merge_one(struct snap *s, struct builder *bd, const struct snap *p, size_t i,
		     const char *name, uint16_t origin)
{
	const struct inst *from = &p->inst[i];
	struct inst *in = &s->inst[s->n];
	size_t pos = strtab_probe(&s->ids, name, dirname_key, s);
	int rc;

	if (s->ids.slot[pos])
		return -EINVAL;	/* two instances named alike: the caller's names must differ */
	in->text_off = bd->text.len;
	rc = buf_append(&bd->text, p->text + from->text_off, from->text_len + 1);
	in->text_len = from->text_len;
	in->keys_off = bd->text.len;
	if (!rc)
		rc = buf_append(&bd->text, p->text + from->keys_off, from->keys_len + 1);
	in->keys_len = from->keys_len;
	in->dir_off = bd->names.len;
	if (!rc)
		rc = buf_append(&bd->names, name, strlen(name) + 1);
	if (rc)
		return rc == -EFBIG ? -ENOMEM : rc;
	s->text = bd->text.data;
	s->names = bd->names.data;
	in->hash = from->hash;
	in->mtime = from->mtime;
	in->ctime = from->ctime;
	in->origin = origin;
	s->ids.slot[pos] = (uint32_t)(s->n + 1);
	s->n++;
	return 0;
}

int snap_merge(struct snap *const *parts, const char *const *labels, size_t nparts,
	       const char *const *names, time_t fetched_at, struct snap **out)
{
	struct builder bd;
	struct snap *s;
	size_t total = 0, k = 0, text_total, names_total;
	int rc = -ENOMEM;

	if (nparts > UINT16_MAX)
		return -EINVAL;
	for (size_t p = 0; p < nparts; p++)
		total += parts[p]->n;
	buf_init(&bd.text, SIZE_MAX / 2);
	buf_init(&bd.names, SIZE_MAX / 2);
	s = snap_alloc(total, fetched_at);
	if (!s)
		return -ENOMEM;
	s->own_origins = calloc(nparts ? nparts : 1, sizeof(*s->own_origins));
	if (!s->own_origins)
		goto out_destroy;
	s->norigins = nparts;
	for (size_t p = 0; p < nparts; p++) {
		s->own_origins[p] = strdup(labels[p]);
		if (!s->own_origins[p])
			goto out_destroy;
	}
	s->origins = (const char *const *)s->own_origins;
	for (size_t p = 0; p < nparts; p++)
		for (size_t i = 0; i < parts[p]->n; i++, k++) {
			rc = merge_one(s, &bd, parts[p], i, names[k], (uint16_t)p);
			if (rc)
				goto out_destroy;
		}
	rc = -ENOMEM;
	s->own_text = buf_steal(&bd.text, &text_total);
	s->own_names = buf_steal(&bd.names, &names_total);
	if (!s->own_text || !s->own_names)
		goto out_destroy;
	s->text = s->own_text;
	s->names = s->own_names;
	snap_seal(s, text_total + 1 + names_total + 1);
	*out = s;
	return 0;
out_destroy:
	buf_free(&bd.text);	/* empty once stolen: snap_destroy frees that */
	buf_free(&bd.names);
	snap_destroy(s);
	return rc;
}

const char *snap_origin(const struct snap *s, size_t i)
{
	if (i >= s->n || !s->origins || s->inst[i].origin >= s->norigins)
		return NULL;
	return s->origins[s->inst[i].origin];
}

int snap_set_note(struct snap *s, const char *text)
{
	char *copy = text ? strdup(text) : NULL;

	if (text && !copy)
		return -ENOMEM;
	free(s->own_note);
	s->own_note = copy;
	s->note = copy;
	if (copy)
		s->base_bytes += strlen(copy) + 1;
	return 0;
}

const char *snap_note(const struct snap *s)
{
	return s->note;
}

void snap_ref(struct snap *s)
{
	__atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
}

void snap_unref(struct snap *s)
{
	if (s && __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) == 0)
		snap_destroy(s);
}

size_t snap_count(const struct snap *s)
{
	return s->n;
}

size_t snap_dropped(const struct snap *s)
{
	return s->dropped;
}

time_t snap_fetched_at(const struct snap *s)
{
	return s->fetched_at;
}

time_t snap_newest_mtime(const struct snap *s)
{
	return s->newest;
}

double snap_stamp(const struct snap *s)
{
	return s->stamp;
}

void snap_set_stamp(struct snap *s, double stamp)
{
	s->stamp = stamp;
}

const char *snap_dirname(const struct snap *s, size_t i)
{
	return i < s->n ? s->names + s->inst[i].dir_off : NULL;
}

long snap_find(const struct snap *s, const char *name)
{
	return strtab_find(&s->ids, name, dirname_key, s);
}

const char *snap_text(const struct snap *s, size_t i, size_t *len)
{
	if (i >= s->n) {
		if (len)
			*len = 0;
		return NULL;
	}
	if (len)
		*len = s->inst[i].text_len;
	return s->text + s->inst[i].text_off;
}

cJSON *snap_parse(const struct snap *s, size_t i)
{
	size_t len;
	const char *t = snap_text(s, i, &len);

	return t ? cJSON_ParseWithLength(t, len) : NULL;
}

cJSON *snap_parse_keys(const struct snap *s, size_t i)
{
	return i < s->n ? cJSON_ParseWithLength(s->text + s->inst[i].keys_off, s->inst[i].keys_len)
			: NULL;
}

uint64_t snap_instance_hash(const struct snap *s, size_t i)
{
	return i < s->n ? s->inst[i].hash : 0;
}

uint64_t snap_hash(const struct snap *s)
{
	return s->hash;
}

bool snap_same(const struct snap *a, size_t i, const struct snap *b, size_t j)
{
	size_t la, lb;
	const char *ta = snap_text(a, i, &la), *tb = snap_text(b, j, &lb);

	return ta && tb && la == lb && a->inst[i].hash == b->inst[j].hash &&
	       memcmp(ta, tb, la) == 0;
}

time_t snap_mtime(const struct snap *s, size_t i)
{
	return i < s->n ? s->inst[i].mtime : s->fetched_at;
}

time_t snap_ctime(const struct snap *s, size_t i)
{
	return i < s->n ? s->inst[i].ctime : s->fetched_at;
}

bool snap_shown(const struct snap *s, size_t i)
{
	return i < s->n && __atomic_load_n(&s->inst[i].shown, __ATOMIC_RELAXED);
}

/* cJSON_Print of an array puts each element one level deeper than on its own: the element's
 * own pretty text with a tab after every newline (strings never hold a raw newline), the
 * elements separated by ", ". So instances.json is a sequence of pieces, one per instance
 * ("[" or ", " and its text), then "]\n": each piece renders alone from its instance, and a
 * read at any offset renders only the pieces it covers. Appends piece i to b; returns 0 or
 * -ENOMEM. */
static int json_piece(const struct snap *s, size_t i, struct buf *b)
{
	cJSON *obj = snap_parse(s, i);
	char *one = obj ? cJSON_Print(obj) : NULL;
	const char *p, *nl;
	int rc;

	cJSON_Delete(obj);
	if (!one)
		return -ENOMEM;
	rc = buf_append(b, i ? ", " : "[", i ? 2 : 1);
	for (p = one; !rc && (nl = strchr(p, '\n')) != NULL; p = nl + 1)
		rc = buf_append(b, p, (size_t)(nl - p + 1)) ?: buf_append(b, "\t", 1);
	if (!rc)
		rc = buf_puts(b, p);
	free(one);
	return rc;
}

char *snap_instances_json(struct snap *s, size_t *len)
{
	struct buf b;
	size_t n;
	char *out;
	int rc = 0;

	buf_init(&b, SIZE_MAX / 2);
	if (s->n == 0)
		rc = buf_append(&b, "[", 1);
	for (size_t i = 0; i < s->n && !rc; i++)
		rc = json_piece(s, i, &b);
	if (!rc)
		rc = buf_append(&b, "]\n", 2);
	if (rc) {
		buf_free(&b);
		return NULL;
	}
	out = buf_steal(&b, &n);
	if (len)
		*len = n;
	return out;
}

/* The pieces' offsets, built on first use: every instance is rendered once to measure it and
 * nothing rendered is kept (8 bytes per instance). NULL on ENOMEM. */
static const size_t *json_offsets(struct snap *s)
{
	size_t *off = __atomic_load_n(&s->json_off, __ATOMIC_ACQUIRE);
	struct buf b;

	if (off)
		return off;
	pthread_mutex_lock(&s->lock);
	off = s->json_off;
	if (off)
		goto out;
	off = malloc((s->n + 1) * sizeof(*off));
	if (!off)
		goto out;
	off[0] = 0;
	buf_init(&b, SIZE_MAX / 2);
	for (size_t i = 0; i < s->n; i++) {
		b.len = 0;
		if (json_piece(s, i, &b)) {
			buf_free(&b);
			free(off);
			off = NULL;
			goto out;
		}
		off[i + 1] = off[i] + b.len;
	}
	if (s->n == 0)
		off[0] = 1;	/* "[" alone */
	buf_free(&b);
	__atomic_add_fetch(&s->lazy_bytes, (s->n + 1) * sizeof(*off), __ATOMIC_RELAXED);
	__atomic_store_n(&s->json_off, off, __ATOMIC_RELEASE);
out:
	pthread_mutex_unlock(&s->lock);
	return off;
}

int snap_instances_json_size(struct snap *s, size_t *len)
{
	const size_t *off = json_offsets(s);

	if (!off)
		return -ENOMEM;
	*len = off[s->n] + 2;
	return 0;
}

int snap_instances_json_read(struct snap *s, char *out, size_t size, size_t off, size_t *n)
{
	const size_t *po = json_offsets(s);
	static const char head[] = "[]\n";	/* an empty answer: "[" then "]\n" */
	size_t lo = 0, hi, total;
	struct buf b;
	int rc = 0;

	*n = 0;
	if (!po)
		return -ENOMEM;
	total = po[s->n] + 2;
	if (off >= total || size == 0)
		return 0;
	if (size > total - off)
		size = total - off;
	if (s->n == 0) {
		memcpy(out, head + off, size);
		*n = size;
		return 0;
	}
	/* The last piece starting at or before off. */
	hi = s->n;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (po[mid] <= off)
			lo = mid;
		else
			hi = mid;
	}
	buf_init(&b, SIZE_MAX / 2);
	for (size_t i = lo; *n < size && i <= s->n && !rc; i++) {
		size_t start = i < s->n ? po[i] : po[s->n], skip, take;
		const char *p = "]\n";
		size_t plen = 2;

		if (i < s->n) {
			b.len = 0;
			rc = json_piece(s, i, &b);
			if (rc)
				break;
			if (b.len != po[i + 1] - po[i]) {
				rc = -EIO;	/* rendering is deterministic: never */
				break;
			}
			p = b.data;
			plen = b.len;
		}
		skip = off + *n > start ? off + *n - start : 0;
		if (skip >= plen)
			continue;	/* off lies past this piece (in "]\n") */
		take = plen - skip < size - *n ? plen - skip : size - *n;
		memcpy(out + *n, p + skip, take);
		*n += take;
	}
	buf_free(&b);
	if (rc)
		*n = 0;
	return rc;
}

struct collect {
	char **v;
	size_t n, cap;
	struct strtab seen;
	int rc;
};

static void collect_value(const char *value, void *ctx)
{
	struct collect *c = ctx;
	size_t pos;
	char *copy;

	if (c->rc || !value)
		return;
	if (strtab_find(&c->seen, value, strv_key, c->v) >= 0)
		return;
	if (strtab_reserve(&c->seen, c->n, strv_key, c->v))
		goto out_nomem;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		char **v = realloc(c->v, cap * sizeof(*v));

		if (!v)
			goto out_nomem;
		c->v = v;
		c->cap = cap;
	}
	copy = strdup(value);
	if (!copy)
		goto out_nomem;
	c->v[c->n] = copy;
	pos = strtab_probe(&c->seen, copy, strv_key, c->v);
	c->seen.slot[pos] = (uint32_t)(c->n + 1);
	c->n++;
	return;
out_nomem:
	c->rc = -ENOMEM;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Called with s->lock held. */
static int build_key_values(struct snap *s, enum query_key k, struct keyvals *kv)
{
	struct collect c = { 0 };
	size_t bytes = 0;

	if (strtab_init(&c.seen, 8))
		return -ENOMEM;
	for (size_t i = 0; i < s->n && !c.rc; i++) {
		cJSON *obj = snap_parse(s, i);

		if (!obj) {
			c.rc = -ENOMEM;
			break;
		}
		query_key_values(k, obj, collect_value, &c);
		cJSON_Delete(obj);
	}
	strtab_free(&c.seen);
	if (c.rc) {
		for (size_t i = 0; i < c.n; i++)
			free(c.v[i]);
		free(c.v);
		return c.rc;
	}
	if (c.n)
		qsort(c.v, c.n, sizeof(*c.v), cmp_str);
	for (size_t i = 0; i < c.n; i++)
		bytes += strlen(c.v[i]) + 1 + sizeof(char *);
	kv->v = c.v;
	kv->n = c.n;
	__atomic_add_fetch(&s->lazy_bytes, bytes, __ATOMIC_RELAXED);
	return 0;
}

const char *const *snap_key_values(struct snap *s, enum query_key k, size_t *n)
{
	struct keyvals *kv;

	*n = 0;
	if ((unsigned)k >= QK__COUNT)
		return NULL;
	kv = &s->kv[k];
	if (!__atomic_load_n(&kv->ready, __ATOMIC_ACQUIRE)) {
		pthread_mutex_lock(&s->lock);
		if (!__atomic_load_n(&kv->ready, __ATOMIC_ACQUIRE) &&
		    build_key_values(s, k, kv) == 0)
			__atomic_store_n(&kv->ready, 1, __ATOMIC_RELEASE);
		pthread_mutex_unlock(&s->lock);
		if (!__atomic_load_n(&kv->ready, __ATOMIC_ACQUIRE))
			return NULL;
	}
	*n = kv->n;
	return kv->n ? (const char *const *)kv->v : NULL;
}

/* Length to keep of escaped name s so that it is at most max bytes, cut neither inside a UTF-8
 * sequence nor inside a %XX escape. */
static size_t cut_len(const char *s, size_t len, size_t max)
{
	size_t n;

	if (len <= max)
		return len;
	n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	if (n >= 1 && s[n - 1] == '%')
		n -= 1;
	else if (n >= 2 && s[n - 2] == '%')
		n -= 2;
	return n;
}

/*
 * "<name>@<id>" for a shared or missing name. '@' inside the name part becomes %40 so the first
 * '@' always separates the two parts: with distinct ids, two such names can only be equal if a
 * hash below collides. The result fits NAME_MAX_LEN: a (pathological) id longer than
 * LINK_ID_MAX and then the name part are cut and end in "~" and a hash of what was cut. salt >
 * 0 asks for a hash-suffixed name part whatever its length, to get out of such a collision.
 * Returns NULL on ENOMEM.
 */
static char *link_suffixed(const char *esc_name, const char *esc_id, unsigned salt)
{
	char name[3 * RENDER_NAME_MAX], id[RENDER_NAME_MAX];
	size_t idlen = strlen(esc_id), len = 0, room, keep;
	char *out;

	if (idlen > LINK_ID_MAX) {
		keep = cut_len(esc_id, idlen, LINK_ID_MAX - HASH_SUFFIX_LEN);
		snprintf(id, sizeof(id), "%.*s~%08x", (int)keep, esc_id, short_hash(esc_id, 0));
	} else {
		memcpy(id, esc_id, idlen + 1);
	}
	for (const char *p = esc_name; *p && len + 4 < sizeof(name); p++) {
		if (*p == '@') {
			memcpy(name + len, "%40", 3);
			len += 3;
		} else {
			name[len++] = *p;
		}
	}
	name[len] = '\0';
	room = NAME_MAX_LEN - 1 - strlen(id);
	if (salt || len > room) {
		uint32_t h = short_hash(name, salt);

		keep = cut_len(name, len, room - HASH_SUFFIX_LEN);
		snprintf(name + keep, sizeof(name) - keep, "~%08x", h);
	}
	if (asprintf(&out, "%s@%s", name, id) < 0)
		return NULL;
	return out;
}

/* Puts entry i's link into the table, trying salted names while it collides. */
static int link_insert(struct linkset *ls, size_t i, const char *esc_name, const char *id)
{
	size_t pos = strtab_probe(&ls->tab, ls->name[i], link_key, ls);

	for (unsigned salt = 1; ls->tab.slot[pos]; salt++) {
		free(ls->name[i]);
		ls->name[i] = link_suffixed(esc_name, id, salt);
		if (!ls->name[i])
			return -ENOMEM;
		pos = strtab_probe(&ls->tab, ls->name[i], link_key, ls);
	}
	ls->tab.slot[pos] = (uint32_t)(i + 1);
	return 0;
}

/*
 * Names every entry of ls (ls->n entries; esc[i] the escaped name of entry i or NULL when it
 * has none, ids[i] its escaped id; esc[i] is taken when used). A name is shared when several
 * entries have the same escaped name, which covers equal raw names and distinct raw names that
 * escape alike. Shared and missing names get the suffixed form "<name>@<id>"; they go into the
 * table first so a plain name that happens to equal one of them ("a@dsw-1" against the shared
 * "a") is the one that moves aside.
 */
static int links_name(struct linkset *ls, char **esc, const char *const *ids)
{
	uint32_t *first = calloc(ls->n ? ls->n : 1, sizeof(*first));
	uint32_t *count = calloc(ls->n ? ls->n : 1, sizeof(*count));
	struct strtab names = { 0 };
	int rc = -ENOMEM;

	ls->name = calloc(ls->n ? ls->n : 1, sizeof(*ls->name));
	if (!first || !count || !ls->name || strtab_init(&names, ls->n) ||
	    strtab_init(&ls->tab, ls->n))
		goto out;
	for (size_t i = 0; i < ls->n; i++) {
		size_t pos;

		if (!esc[i])
			continue;
		pos = strtab_probe(&names, esc[i], strv_key, esc);
		if (!names.slot[pos])
			names.slot[pos] = (uint32_t)(i + 1);
		first[i] = names.slot[pos] - 1;
		count[first[i]]++;
	}
	for (size_t i = 0; i < ls->n; i++) {
		if (esc[i] && count[first[i]] == 1)
			continue;
		ls->name[i] = link_suffixed(esc[i] ? esc[i] : "", ids[i], 0);
		if (!ls->name[i] || link_insert(ls, i, esc[i] ? esc[i] : "", ids[i]))
			goto out;
	}
	for (size_t i = 0; i < ls->n; i++) {
		size_t pos;

		if (!esc[i] || count[first[i]] != 1)
			continue;
		pos = strtab_probe(&ls->tab, esc[i], link_key, ls);
		if (!ls->tab.slot[pos]) {
			ls->name[i] = esc[i];
			esc[i] = NULL;
			ls->tab.slot[pos] = (uint32_t)(i + 1);
			continue;
		}
		ls->name[i] = link_suffixed(esc[i], ids[i], 0);
		if (!ls->name[i] || link_insert(ls, i, esc[i], ids[i]))
			goto out;
	}
	rc = 0;
out:
	free(first);
	free(count);
	strtab_free(&names);
	return rc;
}

/* The escaped string member name of obj, or NULL (when missing or not a string). */
static char *escaped_member(const cJSON *obj, const char *name)
{
	char buf[RENDER_NAME_MAX];
	const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, name));

	if (!v)
		return NULL;
	render_escape_name(v, buf);
	return strdup(buf);
}

/* by-name: one entry per instance, named by InstanceName. */
static int build_instance_links(struct snap *s, struct linkset *ls, char **esc,
				const char **ids)
{
	for (size_t i = 0; i < s->n; i++) {
		cJSON *obj = snap_parse_keys(s, i);
		bool named;

		if (!obj)
			return -ENOMEM;
		named = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(obj, "InstanceName"));
		esc[i] = escaped_member(obj, "InstanceName");
		cJSON_Delete(obj);
		if (!esc[i] && named)
			return -ENOMEM;
		ids[i] = snap_dirname(s, i);
	}
	return links_name(ls, esc, ids);
}

/* What one instance tells a group view (workspaces, users): its id's position among the
 * group's sorted ids. */
struct group_ctx {
	const char *const *ids;
	size_t n;
	long found;
};

static int id_cmp(const void *key, const void *elem)
{
	return strcmp(key, *(const char *const *)elem);
}

static void group_emit(const char *value, void *ctx)
{
	struct group_ctx *g = ctx;
	const char *const *hit = bsearch(value, g->ids, g->n, sizeof(*g->ids), id_cmp);

	if (hit)
		g->found = hit - g->ids;
}

/* workspaces-by-name, users-by-name: one entry per id of key k (snap_key_values: the ids that
 * have query directories), named by the name member of the first instance carrying that id
 * that has one, its mtime the newest of those instances'. */
static int build_group_links(struct snap *s, struct linkset *ls, enum query_key k,
			     const char *name_member, const char *const *vals, char **esc)
{
	ls->target = calloc(ls->n ? ls->n : 1, sizeof(*ls->target));
	ls->mtime = calloc(ls->n ? ls->n : 1, sizeof(*ls->mtime));
	if (!ls->target || !ls->mtime)
		return -ENOMEM;
	for (size_t j = 0; j < ls->n; j++) {
		ls->target[j] = strdup(vals[j]);
		if (!ls->target[j])
			return -ENOMEM;
	}
	for (size_t i = 0; i < s->n && ls->n; i++) {
		struct group_ctx g = { vals, ls->n, -1 };
		cJSON *obj = snap_parse_keys(s, i);

		if (!obj)
			return -ENOMEM;
		query_key_values(k, obj, group_emit, &g);
		if (g.found >= 0) {
			size_t j = (size_t)g.found;

			if (s->inst[i].mtime > ls->mtime[j])
				ls->mtime[j] = s->inst[i].mtime;
			if (!esc[j] && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(obj,
										   name_member))) {
				esc[j] = escaped_member(obj, name_member);
				if (!esc[j]) {
					cJSON_Delete(obj);
					return -ENOMEM;
				}
			}
		}
		cJSON_Delete(obj);
	}
	/* Ids are query values (digits): escaping leaves them as they are. */
	return links_name(ls, esc, (const char *const *)ls->target);
}

/* The key and name member behind a group view. */
static const struct {
	enum query_key key;
	const char *name_member;
} groups[SNAP_LINKS__COUNT] = {
	[SNAP_LINKS_WORKSPACES] = { QK_WORKSPACE_ID, "WorkspaceName" },
	[SNAP_LINKS_USERS] = { QK_CREATE_USER_ID, "UserName" },
};

/* Builds view v (called with s->lock held; vals/nvals: the group's ids, read before taking
 * the lock, which snap_key_values takes itself). */
static int build_links(struct snap *s, enum snap_links v, const char *const *vals, size_t nvals)
{
	struct linkset *ls = &s->links[v];
	size_t n = v == SNAP_LINKS_INSTANCES ? s->n : nvals, bytes = 0;
	char **esc = calloc(n ? n : 1, sizeof(*esc));
	const char **ids = calloc(n ? n : 1, sizeof(*ids));
	int rc = -ENOMEM;

	ls->n = n;
	if (!esc || !ids)
		goto out;
	if (v == SNAP_LINKS_INSTANCES)
		rc = build_instance_links(s, ls, esc, ids);
	else
		rc = build_group_links(s, ls, groups[v].key, groups[v].name_member, vals, esc);
	if (rc)
		goto out;
	for (size_t i = 0; i < n; i++)
		bytes += strlen(ls->name[i]) + 1 + sizeof(uint32_t) * 2 + sizeof(char *) +
			 (ls->target ? strlen(ls->target[i]) + 1 + sizeof(time_t) : 0);
	__atomic_add_fetch(&s->lazy_bytes, bytes, __ATOMIC_RELAXED);
out:
	if (rc)
		linkset_free(ls);
	for (size_t i = 0; esc && i < n; i++)
		free(esc[i]);
	free(esc);
	free(ids);
	return rc;
}

static int links_ready(struct snap *s, enum snap_links v)
{
	const char *const *vals = NULL;
	size_t nvals = 0;
	int rc = 0;

	if ((unsigned)v >= SNAP_LINKS__COUNT)
		return -EINVAL;
	if (__atomic_load_n(&s->links[v].ready, __ATOMIC_ACQUIRE))
		return 0;
	if (v != SNAP_LINKS_INSTANCES)
		vals = snap_key_values(s, groups[v].key, &nvals);
	pthread_mutex_lock(&s->lock);
	if (!__atomic_load_n(&s->links[v].ready, __ATOMIC_ACQUIRE)) {
		rc = build_links(s, v, vals, nvals);
		if (rc == 0)
			__atomic_store_n(&s->links[v].ready, 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

bool snap_links_built(const struct snap *s, enum snap_links v)
{
	return (unsigned)v < SNAP_LINKS__COUNT &&
	       __atomic_load_n(&s->links[v].ready, __ATOMIC_ACQUIRE);
}

size_t snap_links_count(struct snap *s, enum snap_links v)
{
	return links_ready(s, v) ? 0 : s->links[v].n;
}

const char *snap_links_name(struct snap *s, enum snap_links v, size_t i)
{
	if (links_ready(s, v) || i >= s->links[v].n)
		return NULL;
	return s->links[v].name[i];
}

const char *snap_links_target(struct snap *s, enum snap_links v, size_t i)
{
	if (links_ready(s, v) || i >= s->links[v].n)
		return NULL;
	return s->links[v].target ? s->links[v].target[i] : snap_dirname(s, i);
}

time_t snap_links_mtime(struct snap *s, enum snap_links v, size_t i)
{
	if (links_ready(s, v) || i >= s->links[v].n)
		return s->fetched_at;
	return s->links[v].mtime ? s->links[v].mtime[i] : snap_mtime(s, i);
}

long snap_links_find(struct snap *s, enum snap_links v, const char *name)
{
	int rc = links_ready(s, v);

	if (rc)
		return rc;
	return strtab_find(&s->links[v].tab, name, link_key, &s->links[v]);
}

const char *snap_link_name(struct snap *s, size_t i)
{
	return snap_links_name(s, SNAP_LINKS_INSTANCES, i);
}

long snap_link_find(struct snap *s, const char *name)
{
	return snap_links_find(s, SNAP_LINKS_INSTANCES, name);
}

size_t snap_bytes(const struct snap *s)
{
	return s->base_bytes + __atomic_load_n(&s->lazy_bytes, __ATOMIC_RELAXED);
}

/* ---- views ---- */

struct snap_view {
	int refs;			/* atomic; the cache holds one while the view is in it */
	/* The instance's text (the key, compared in full: a hash alone could be forced to
	 * collide by a hostile server), the parse and the tree borrowing it. */
	uint64_t hash;
	char *text;
	size_t text_len;
	cJSON *obj;
	struct render_node *root;
	uint64_t used;			/* LRU tick, under the cache lock */
};

struct snap_views {
	pthread_mutex_t lock;
	struct snap_view **inst;
	size_t max_inst;
	uint64_t tick;
};

static void view_free(struct snap_view *v)
{
	render_free(v->root);
	cJSON_Delete(v->obj);
	free(v->text);
	free(v);
}

void snap_view_put(struct snap_view *v)
{
	if (v && __atomic_sub_fetch(&v->refs, 1, __ATOMIC_ACQ_REL) == 0)
		view_free(v);
}

int snap_views_new(size_t max_instances, struct snap_views **out)
{
	struct snap_views *c;

	if (!max_instances)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->inst = calloc(max_instances, sizeof(*c->inst));
	if (!c->inst || pthread_mutex_init(&c->lock, NULL)) {
		free(c->inst);
		free(c);
		return -ENOMEM;
	}
	c->max_inst = max_instances;
	*out = c;
	return 0;
}

void snap_views_free(struct snap_views *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->max_inst; i++)
		snap_view_put(c->inst[i]);
	pthread_mutex_destroy(&c->lock);
	free(c->inst);
	free(c);
}

/* The slot of the first of slots[0..n) matching (or, with match NULL, the one to reuse: empty
 * or least recently used). Called with the lock held. */
static size_t views_slot(struct snap_view **slots, size_t n,
			 bool (*match)(const struct snap_view *, const void *), const void *key)
{
	size_t victim = 0;

	for (size_t i = 0; i < n; i++) {
		if (match) {
			if (slots[i] && match(slots[i], key))
				return i;
			continue;
		}
		if (!slots[i])
			return i;
		if (slots[i]->used < slots[victim]->used)
			victim = i;
	}
	return match ? n : victim;
}

/* Looks key up; on a miss inserts v (when not NULL), or, when an equal view got there first,
 * drops v and returns that one. Returns a referenced view, or NULL on a miss without v. */
static struct snap_view *views_get(struct snap_views *c, struct snap_view **slots, size_t n,
				   bool (*match)(const struct snap_view *, const void *),
				   const void *key, struct snap_view *v)
{
	struct snap_view *hit = NULL, *evicted = NULL;
	size_t i;

	pthread_mutex_lock(&c->lock);
	i = views_slot(slots, n, match, key);
	if (i < n) {
		hit = slots[i];
		__atomic_add_fetch(&hit->refs, 1, __ATOMIC_RELAXED);
		hit->used = ++c->tick;
	} else if (v) {
		i = views_slot(slots, n, NULL, NULL);
		evicted = slots[i];
		v->refs = 2;	/* the cache's and the caller's */
		v->used = ++c->tick;
		slots[i] = hit = v;
		v = NULL;
	}
	pthread_mutex_unlock(&c->lock);
	snap_view_put(evicted);
	if (v)
		view_free(v);
	return hit;
}

static bool inst_match(const struct snap_view *v, const void *key)
{
	const struct snap_view *k = key;

	return v->text && v->hash == k->hash && v->text_len == k->text_len &&
	       memcmp(v->text, k->text, k->text_len) == 0;
}

int snap_view_instance(struct snap_views *c, struct snap *s, size_t i, struct snap_view **out)
{
	struct snap_view key = { 0 }, *v;
	int rc;

	if (i >= s->n)
		return -ENOENT;
	__atomic_store_n(&s->inst[i].shown, 1, __ATOMIC_RELAXED);
	key.hash = s->inst[i].hash;
	key.text = (char *)snap_text(s, i, &key.text_len);
	v = views_get(c, c->inst, c->max_inst, inst_match, &key, NULL);
	if (v) {
		*out = v;
		return 0;
	}
	/* Built outside the lock: two threads missing at once both build, one copy is kept. */
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->hash = key.hash;
	v->text_len = key.text_len;
	v->text = malloc(key.text_len + 1);
	if (!v->text)
		goto out_nomem;
	memcpy(v->text, key.text, key.text_len + 1);
	v->obj = cJSON_ParseWithLength(v->text, v->text_len);
	if (!v->obj)
		goto out_nomem;
	rc = render_instance(v->obj, &v->root);
	if (rc) {
		view_free(v);
		return rc;
	}
	*out = views_get(c, c->inst, c->max_inst, inst_match, &key, v);
	return 0;
out_nomem:
	view_free(v);
	return -ENOMEM;
}

const struct render_node *snap_view_root(const struct snap_view *v)
{
	return v->root;
}

size_t snap_views_bytes(struct snap_views *c)
{
	size_t n = 0;

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->max_inst; i++)
		if (c->inst[i])
			n += c->inst[i]->text_len * 4;	/* text, parse and what was rendered */
	pthread_mutex_unlock(&c->lock);
	return n;
}
