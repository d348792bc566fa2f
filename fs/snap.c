/* snap: an immutable, reference-counted query answer with O(1) indexes and lazy rendering. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snap.h"

/*
 * Thread safety: everything built by snap_new is read-only afterwards. The lazy parts are
 * published with release stores and read with acquire loads, so the fast path takes no lock:
 * - instance trees: one atomic pointer per instance, set by compare-and-swap (two threads that
 *   race both render, the loser frees its copy; no lock serialises unrelated instances);
 * - instances.json, key values and by-name links: expensive or all-at-once, so built under
 *   s->lock by exactly one thread and then flagged ready.
 */

/* Open addressing over indices (slot = index + 1, 0 = empty), the strings living elsewhere. */
struct strtab {
	uint32_t *slot;
	size_t mask;
};

typedef const char *(*strtab_key_fn)(const void *ctx, size_t i);

struct inst {
	const cJSON *obj;		/* redacted, owned by s->arr */
	char *dirname;			/* escaped InstanceId */
	time_t mtime, ctime;
	struct render_node *tree;	/* atomic; NULL until first use */
	char *link;			/* by-name entry, once links_ready */
};

struct keyvals {
	int ready;			/* atomic */
	char **v;
	size_t n;
};

struct snap {
	int refs;			/* atomic */
	cJSON *arr;			/* the redacted instances kept, in API order */
	struct inst *inst;
	size_t n, dropped;
	time_t fetched_at;
	struct strtab ids;		/* dirname -> index */
	size_t base_bytes;
	size_t lazy_bytes;		/* atomic */

	pthread_mutex_t lock;		/* builds of the parts below */
	char *json;			/* atomic */
	size_t json_len;
	struct keyvals kv[QK__COUNT];
	int links_ready;		/* atomic */
	struct strtab links;		/* link name -> index */
};

/* A by-name entry's InstanceId part is cut (with a hash) beyond this, so a name part fits. */
#define LINK_ID_MAX 200
#define NAME_MAX_LEN (RENDER_NAME_MAX - 1)
#define HASH_SUFFIX_LEN 9	/* "~" and 8 hex digits */

static uint64_t fnv1a(const char *s, uint64_t h)
{
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

static uint64_t str_hash(const char *s)
{
	return fnv1a(s, 1469598103934665603ULL);
}

static uint32_t short_hash(const char *s, unsigned salt)
{
	uint64_t h = str_hash(s);

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
	size_t i = (size_t)str_hash(key) & t->mask;

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
	return ((const struct snap *)ctx)->inst[i].dirname;
}

static const char *link_key(const void *ctx, size_t i)
{
	return ((const struct snap *)ctx)->inst[i].link;
}

static const char *strv_key(const void *ctx, size_t i)
{
	return ((char *const *)ctx)[i];
}

/* Rough heap footprint of a cJSON tree. */
static size_t json_footprint(const cJSON *j)
{
	size_t n = 0;

	for (; j; j = j->next) {
		n += sizeof(*j);
		if (j->string)
			n += strlen(j->string) + 1;
		if (j->valuestring)
			n += strlen(j->valuestring) + 1;
		n += json_footprint(j->child);
	}
	return n;
}

static time_t member_time(const cJSON *obj, const char *name, time_t fallback)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, name);
	time_t t = render_parse_time(cJSON_IsString(m) ? m->valuestring : NULL);

	return t == (time_t)-1 ? fallback : t;
}

/* Takes ownership of item: keeps its redacted form as the next instance, or drops it. */
static int add_instance(struct snap *s, cJSON *item, bool show_secrets)
{
	char esc[RENDER_NAME_MAX], num[QUERY_INT_TEXT];
	const char *idtext;
	const cJSON *id;
	struct inst *in;
	cJSON *obj;
	size_t pos;

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
	if (show_secrets) {
		obj = item;	/* redaction with show_secrets is a plain copy: skip it */
	} else {
		obj = render_redact(item, false);
		cJSON_Delete(item);
		if (!obj)
			return -ENOMEM;
	}
	in = &s->inst[s->n];
	in->dirname = strdup(esc);
	if (!in->dirname) {
		cJSON_Delete(obj);
		return -ENOMEM;
	}
	in->obj = obj;
	cJSON_AddItemToArray(s->arr, obj);
	in->mtime = member_time(obj, "GmtModifiedTime", s->fetched_at);
	in->ctime = member_time(obj, "GmtCreateTime", s->fetched_at);
	s->ids.slot[pos] = (uint32_t)(s->n + 1);
	s->n++;
	s->base_bytes += sizeof(*in) + 2 * sizeof(uint32_t) + strlen(esc) + 1 +
			 json_footprint(obj->child) + sizeof(*obj);
	return 0;
drop:
	s->dropped++;
	cJSON_Delete(item);
	return 0;
}

static void snap_destroy(struct snap *s)
{
	for (size_t i = 0; i < s->n; i++) {
		render_free(s->inst[i].tree);
		free(s->inst[i].dirname);
		free(s->inst[i].link);
	}
	for (int k = 0; k < QK__COUNT; k++) {
		for (size_t i = 0; i < s->kv[k].n; i++)
			free(s->kv[k].v[i]);
		free(s->kv[k].v);
	}
	free(s->json);
	free(s->inst);
	strtab_free(&s->ids);
	strtab_free(&s->links);
	cJSON_Delete(s->arr);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

int snap_new(cJSON *instances, bool show_secrets, time_t fetched_at, struct snap **out)
{
	struct snap *s;
	cJSON *item;
	size_t total;
	int rc = -ENOMEM;

	if (!cJSON_IsArray(instances)) {
		cJSON_Delete(instances);
		return -EINVAL;
	}
	total = (size_t)cJSON_GetArraySize(instances);
	s = calloc(1, sizeof(*s));
	if (!s)
		goto out_json;
	if (pthread_mutex_init(&s->lock, NULL))
		goto out_snap;
	s->refs = 1;
	s->fetched_at = fetched_at;
	s->inst = calloc(total ? total : 1, sizeof(*s->inst));
	s->arr = cJSON_CreateArray();
	if (!s->inst || !s->arr || strtab_init(&s->ids, total))
		goto out_destroy;
	/* Each original is released as soon as its redacted copy exists, so a large answer is
	 * never held twice in full. */
	while ((item = instances->child) != NULL) {
		cJSON_DetachItemViaPointer(instances, item);
		rc = add_instance(s, item, show_secrets);
		if (rc)
			goto out_destroy;
	}
	cJSON_Delete(instances);
	s->base_bytes += sizeof(*s) + (s->ids.mask + 1) * sizeof(uint32_t);
	*out = s;
	return 0;
out_destroy:
	snap_destroy(s);
	goto out_json;
out_snap:
	free(s);
out_json:
	cJSON_Delete(instances);
	return rc;
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

const char *snap_dirname(const struct snap *s, size_t i)
{
	return i < s->n ? s->inst[i].dirname : NULL;
}

long snap_find(const struct snap *s, const char *name)
{
	return strtab_find(&s->ids, name, dirname_key, s);
}

const cJSON *snap_instance(const struct snap *s, size_t i)
{
	return i < s->n ? s->inst[i].obj : NULL;
}

time_t snap_mtime(const struct snap *s, size_t i)
{
	return i < s->n ? s->inst[i].mtime : s->fetched_at;
}

time_t snap_ctime(const struct snap *s, size_t i)
{
	return i < s->n ? s->inst[i].ctime : s->fetched_at;
}

const struct render_node *snap_tree(struct snap *s, size_t i)
{
	struct render_node *t, *expected = NULL;

	if (i >= s->n)
		return NULL;
	t = __atomic_load_n(&s->inst[i].tree, __ATOMIC_ACQUIRE);
	if (t)
		return t;
	if (render_instance(s->inst[i].obj, &t))
		return NULL;
	if (!__atomic_compare_exchange_n(&s->inst[i].tree, &expected, t, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		render_free(t);
		return expected;
	}
	__atomic_add_fetch(&s->lazy_bytes, render_bytes(t), __ATOMIC_RELAXED);
	return t;
}

const struct render_node *snap_tree_peek(const struct snap *s, size_t i)
{
	return i < s->n ? __atomic_load_n(&s->inst[i].tree, __ATOMIC_ACQUIRE) : NULL;
}

const char *snap_instances_json(struct snap *s, size_t *len)
{
	char *j = __atomic_load_n(&s->json, __ATOMIC_ACQUIRE);
	size_t n = 0;

	if (!j) {
		pthread_mutex_lock(&s->lock);
		j = __atomic_load_n(&s->json, __ATOMIC_ACQUIRE);
		if (!j) {
			j = render_json(s->arr, &n);
			if (j) {
				s->json_len = n;
				__atomic_store_n(&s->json, j, __ATOMIC_RELEASE);
				__atomic_add_fetch(&s->lazy_bytes, n, __ATOMIC_RELAXED);
			}
		}
		pthread_mutex_unlock(&s->lock);
	}
	if (len)
		*len = j ? s->json_len : 0;
	return j;
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
	for (size_t i = 0; i < s->n && !c.rc; i++)
		query_key_values(k, s->inst[i].obj, collect_value, &c);
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

/* Puts inst i's link into the table, trying salted names while it collides. */
static int link_insert(struct snap *s, size_t i, const char *esc_name)
{
	size_t pos = strtab_probe(&s->links, s->inst[i].link, link_key, s);

	for (unsigned salt = 1; s->links.slot[pos]; salt++) {
		free(s->inst[i].link);
		s->inst[i].link = link_suffixed(esc_name, s->inst[i].dirname, salt);
		if (!s->inst[i].link)
			return -ENOMEM;
		pos = strtab_probe(&s->links, s->inst[i].link, link_key, s);
	}
	s->links.slot[pos] = (uint32_t)(i + 1);
	return 0;
}

/*
 * Builds every by-name entry at once (called with s->lock held). A name is shared when several
 * instances have the same escaped name, which covers equal raw names and distinct raw names
 * that escape alike. Shared and missing names get the suffixed form; they go into the table
 * first so a plain name that happens to equal one of them ("a@dsw-1" against the shared "a")
 * is the one that moves aside.
 */
static int build_links(struct snap *s)
{
	char buf[RENDER_NAME_MAX];
	char **esc = calloc(s->n ? s->n : 1, sizeof(*esc));
	uint32_t *first = calloc(s->n ? s->n : 1, sizeof(*first));
	uint32_t *count = calloc(s->n ? s->n : 1, sizeof(*count));
	struct strtab names = { 0 };
	size_t bytes = 0;
	int rc = -ENOMEM;

	if (!esc || !first || !count || strtab_init(&names, s->n) ||
	    strtab_init(&s->links, s->n))
		goto out;
	for (size_t i = 0; i < s->n; i++) {
		const cJSON *nm = cJSON_GetObjectItemCaseSensitive(s->inst[i].obj, "InstanceName");
		size_t pos;

		if (!cJSON_IsString(nm) || !nm->valuestring)
			continue;
		render_escape_name(nm->valuestring, buf);
		esc[i] = strdup(buf);
		if (!esc[i])
			goto out;
		pos = strtab_probe(&names, buf, strv_key, esc);
		if (!names.slot[pos])
			names.slot[pos] = (uint32_t)(i + 1);
		first[i] = names.slot[pos] - 1;
		count[first[i]]++;
	}
	for (size_t i = 0; i < s->n; i++) {
		if (esc[i] && count[first[i]] == 1)
			continue;
		s->inst[i].link = link_suffixed(esc[i] ? esc[i] : "", s->inst[i].dirname, 0);
		if (!s->inst[i].link || link_insert(s, i, esc[i] ? esc[i] : ""))
			goto out;
	}
	for (size_t i = 0; i < s->n; i++) {
		size_t pos;

		if (!esc[i] || count[first[i]] != 1)
			continue;
		pos = strtab_probe(&s->links, esc[i], link_key, s);
		if (!s->links.slot[pos]) {
			s->inst[i].link = esc[i];
			esc[i] = NULL;
			s->links.slot[pos] = (uint32_t)(i + 1);
			continue;
		}
		s->inst[i].link = link_suffixed(esc[i], s->inst[i].dirname, 0);
		if (!s->inst[i].link || link_insert(s, i, esc[i]))
			goto out;
	}
	for (size_t i = 0; i < s->n; i++)
		bytes += strlen(s->inst[i].link) + 1 + sizeof(uint32_t) * 2;
	__atomic_add_fetch(&s->lazy_bytes, bytes, __ATOMIC_RELAXED);
	rc = 0;
out:
	if (rc) {
		for (size_t i = 0; i < s->n; i++) {
			free(s->inst[i].link);
			s->inst[i].link = NULL;
		}
		strtab_free(&s->links);
	}
	for (size_t i = 0; esc && i < s->n; i++)
		free(esc[i]);
	free(esc);
	free(first);
	free(count);
	strtab_free(&names);
	return rc;
}

static int links_ready(struct snap *s)
{
	int rc = 0;

	if (__atomic_load_n(&s->links_ready, __ATOMIC_ACQUIRE))
		return 0;
	pthread_mutex_lock(&s->lock);
	if (!__atomic_load_n(&s->links_ready, __ATOMIC_ACQUIRE)) {
		rc = build_links(s);
		if (rc == 0)
			__atomic_store_n(&s->links_ready, 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

const char *snap_link_name(struct snap *s, size_t i)
{
	if (i >= s->n || links_ready(s))
		return NULL;
	return s->inst[i].link;
}

long snap_link_find(struct snap *s, const char *name)
{
	int rc = links_ready(s);

	if (rc)
		return rc;
	return strtab_find(&s->links, name, link_key, s);
}

size_t snap_bytes(const struct snap *s)
{
	return s->base_bytes + __atomic_load_n(&s->lazy_bytes, __ATOMIC_RELAXED);
}
