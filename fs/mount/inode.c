/* inode: inode numbers as slot + generation in a slab of small nodes, one open-addressing table
 * keyed by (parent, interned name, version), all under one lock. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "inode.h"

/* The kernel holds a node for every file a walk touched (millions on a big fleet), so a node is
 * kept to 36 bytes plus its slot in the key table: the inode number is the node's slot (low 32
 * bits, plus one) and the slot's generation (high 32 bits), so finding a node by number is an
 * index, not a second hash table; names and attributes repeat across instances ("Status" in
 * every instance directory, the same mode and times in every file of an instance), so a node
 * keeps an id of an interned copy, not its own. Sizes differ from file to file, so the size is
 * the node's own (interned with the times, nearly every record was unique: 20 bytes more per
 * node). A node keeps its parent alive (children counts the nodes naming
 * it), so a path can always be rebuilt while anything below it is held, whatever order the
 * kernel forgets in. */
struct node {
	uint32_t parent;	/* slot; NONE for the root; next free slot while free */
	uint32_t name;		/* id in names */
	uint32_t attr;		/* id in attrs; FREE while the slot is free */
	uint32_t gen;		/* the generation in the slot's inode number */
	uint32_t children;	/* nodes whose parent this is */
	uint32_t nlookup;	/* saturates at UINT32_MAX: the rest is an extra's more */
	uint32_t ver_lo, ver_hi;	/* the key's version, in halves: no padding */
	uint32_t size;		/* SIZE_IN_EXTRA: the size is its extra's */
};

#define SIZE_IN_EXTRA UINT32_MAX

#define NONE UINT32_MAX
#define FREE UINT32_MAX
/* Slots and pool ids stay below this so NONE/FREE and slot + 1 never collide. */
#define MAX_ID (UINT32_MAX - 2)
#define CHUNK_SHIFT 12
#define CHUNK_NODES (1u << CHUNK_SHIFT)

/* Interned byte strings by 32-bit id, counted by their users; one for names, one for
 * attribute records. */
struct blob {
	uint32_t refs;
	uint32_t hash;
	uint16_t len;
	char bytes[];
};

struct pool {
	struct blob **by_id;
	uint32_t nids, cap;	/* ids handed out so far, by_id's size */
	uint32_t *free_ids;	/* ids whose blob went, for reuse */
	uint32_t nfree, free_cap;
	uint32_t *table;	/* id + 1, 0 empty; linear probing */
	uint32_t mask, count;
};

/* What a node carries rarely: bytes kept with it, a lookup count past 32 bits, a size past
 * 32 bits. */
struct extra {
	struct extra *next;
	uint32_t slot;
	uint64_t more;		/* lookups beyond the node's saturated nlookup */
	uint64_t size;		/* the node's size when it says SIZE_IN_EXTRA */
	char *data;		/* owned; NULL unless bytes were given */
};

struct inode_table {
	pthread_mutex_t lock;
	struct node **chunks;	/* CHUNK_NODES nodes each */
	uint32_t nchunks, chunk_cap;
	uint32_t nslots;	/* slots handed out so far */
	uint32_t free_slot;	/* head of the free slots, NONE if none */
	uint32_t *keys;		/* slot + 1, 0 empty; linear probing on (parent, name, version) */
	uint32_t key_mask;
	size_t count;		/* nodes held */
	struct pool names, attrs;
	struct extra **extras;	/* chained by slot */
	uint32_t extra_mask, nextras;
};

#define GOLDEN 11400714819323198485ULL

/* --- open-addressing tables of ids (id + 1 per entry, 0 empty, linear probing) --- */

/* The hash of entry id, from whatever the table indexes. */
typedef uint32_t (*otab_hash)(const void *ctx, uint32_t id);

static void otab_place(uint32_t *e, uint32_t mask, uint32_t id, uint32_t h)
{
	uint32_t i = h & mask;

	while (e[i])
		i = (i + 1) & mask;
	e[i] = id + 1;
}

/* Room for count + 1 entries, three quarters full at most so probes stay short. Returns 0 or
 * -ENOMEM (the table as it was). */
static int otab_reserve(uint32_t **e, uint32_t *mask, size_t count, otab_hash hash,
			const void *ctx)
{
	uint32_t *old = *e, omask = *mask, *n;

	if ((count + 1) * 4 <= ((size_t)omask + 1) * 3)
		return 0;
	if (omask >= UINT32_MAX / 2 || !(n = calloc(((size_t)omask + 1) * 2, sizeof(*n))))
		return -ENOMEM;
	*e = n;
	*mask = omask * 2 + 1;
	for (uint32_t k = 0; k <= omask; k++)
		if (old[k])
			otab_place(n, *mask, old[k] - 1, hash(ctx, old[k] - 1));
	free(old);
	return 0;
}

/* Removes id (present) by backward-shift deletion: later entries of the run move into the hole
 * when their home does not lie (cyclically) between the hole and them. */
static void otab_remove(uint32_t *e, uint32_t mask, uint32_t id, otab_hash hash,
			const void *ctx)
{
	uint32_t i, j;

	for (i = hash(ctx, id) & mask; e[i] != id + 1; i = (i + 1) & mask)
		;
	for (j = (i + 1) & mask; e[j]; j = (j + 1) & mask) {
		uint32_t home = hash(ctx, e[j] - 1) & mask;

		if (((j - home) & mask) >= ((j - i) & mask)) {
			e[i] = e[j];
			i = j;
		}
	}
	e[i] = 0;
}

/* --- pools --- */

static int pool_init(struct pool *p)
{
	memset(p, 0, sizeof(*p));
	p->mask = 63;
	p->table = calloc(p->mask + 1, sizeof(*p->table));
	return p->table ? 0 : -ENOMEM;
}

static void pool_fini(struct pool *p)
{
	for (uint32_t i = 0; i < p->nids; i++)
		free(p->by_id[i]);
	free(p->by_id);
	free(p->free_ids);
	free(p->table);
}

static uint32_t blob_hash(const void *bytes, size_t len)
{
	uint64_t h = hash_mem(bytes, len);

	return (uint32_t)(h ^ (h >> 32));
}

/* The id of the blob equal to bytes, or NONE. */
static uint32_t pool_find(const struct pool *p, const void *bytes, size_t len)
{
	uint32_t h = blob_hash(bytes, len);

	for (uint32_t i = h & p->mask; p->table[i]; i = (i + 1) & p->mask) {
		const struct blob *b = p->by_id[p->table[i] - 1];

		if (b->hash == h && b->len == len && memcmp(b->bytes, bytes, len) == 0)
			return p->table[i] - 1;
	}
	return NONE;
}

static uint32_t pool_hash(const void *ctx, uint32_t id)
{
	return ((const struct pool *)ctx)->by_id[id]->hash;
}

/* Counts one more user of the blob equal to bytes (len < 64 KiB), made if new; *id is its id.
 * Returns 0 or -ENOMEM (nothing changed). */
static int pool_get(struct pool *p, const void *bytes, size_t len, uint32_t *id)
{
	struct blob *b;
	uint32_t i = pool_find(p, bytes, len);

	if (i != NONE) {
		p->by_id[i]->refs++;
		*id = i;
		return 0;
	}
	if (otab_reserve(&p->table, &p->mask, p->count, pool_hash, p) != 0)
		return -ENOMEM;
	if (!p->nfree && p->nids == p->cap) {
		uint32_t cap = p->cap ? p->cap * 2 : 64;
		struct blob **n;

		if (p->cap >= MAX_ID / 2 || !(n = realloc(p->by_id, cap * sizeof(*n))))
			return -ENOMEM;
		p->by_id = n;
		p->cap = cap;
	}
	b = malloc(sizeof(*b) + len);
	if (!b)
		return -ENOMEM;
	b->refs = 1;
	b->hash = blob_hash(bytes, len);
	b->len = (uint16_t)len;
	memcpy(b->bytes, bytes, len);
	i = p->nfree ? p->free_ids[--p->nfree] : p->nids++;
	p->by_id[i] = b;
	otab_place(p->table, p->mask, i, b->hash);
	p->count++;
	*id = i;
	return 0;
}

/* Drops one user of blob id; the last one frees it. */
static void pool_put(struct pool *p, uint32_t id)
{
	struct blob *b = p->by_id[id];

	if (--b->refs)
		return;
	otab_remove(p->table, p->mask, id, pool_hash, p);
	p->count--;
	free(b);
	p->by_id[id] = NULL;
	/* Keeping the id for reuse needs room; without it the id is simply not reused. */
	if (p->nfree == p->free_cap) {
		uint32_t cap = p->free_cap ? p->free_cap * 2 : 64;
		uint32_t *n = realloc(p->free_ids, cap * sizeof(*n));

		if (!n)
			return;
		p->free_ids = n;
		p->free_cap = cap;
	}
	p->free_ids[p->nfree++] = id;
}

static const struct blob *pool_blob(const struct pool *p, uint32_t id)
{
	return p->by_id[id];
}

/* An attribute record as interned bytes (all but the size and version, which are the node's):
 * fixed layout, no padding. */
#define ATTR_BYTES 23

static void attr_pack(const struct inode_attr *a, unsigned char *b)
{
	int64_t mtime = a->mtime, ctime = a->ctime;
	uint32_t nsec = (uint32_t)a->mtime_nsec;
	uint16_t mode = (uint16_t)a->mode;

	memcpy(b, &mtime, 8);
	memcpy(b + 8, &ctime, 8);
	memcpy(b + 16, &nsec, 4);
	memcpy(b + 20, &mode, 2);
	b[22] = (unsigned char)a->type;
}

static void attr_unpack(const char *b, struct inode_attr *a)
{
	int64_t mtime, ctime;
	uint32_t nsec;
	uint16_t mode;

	memcpy(&mtime, b, 8);
	memcpy(&ctime, b + 8, 8);
	memcpy(&nsec, b + 16, 4);
	memcpy(&mode, b + 20, 2);
	memset(a, 0, sizeof(*a));
	a->type = (enum inode_type)(unsigned char)b[22];
	a->mode = mode;
	a->mtime = (time_t)mtime;
	a->ctime = (time_t)ctime;
	a->mtime_nsec = (long)nsec;
}

/* --- nodes --- */

static struct node *node_at(const struct inode_table *t, uint32_t slot)
{
	return &t->chunks[slot >> CHUNK_SHIFT][slot & (CHUNK_NODES - 1)];
}

static uint64_t ino_of(const struct inode_table *t, uint32_t slot)
{
	return ((uint64_t)node_at(t, slot)->gen << 32) | (uint64_t)(slot + 1);
}

/* The slot of a held node numbered ino, or NONE. */
static uint32_t slot_of(const struct inode_table *t, uint64_t ino)
{
	uint64_t low = ino & 0xffffffffu;
	uint32_t slot;
	const struct node *n;

	if (low == 0 || low > t->nslots)
		return NONE;
	slot = (uint32_t)(low - 1);
	n = node_at(t, slot);
	if (n->attr == FREE || n->gen != (uint32_t)(ino >> 32))
		return NONE;
	return slot;
}

static uint32_t key_hash(uint32_t parent, uint32_t name, uint64_t version)
{
	uint64_t h = ((uint64_t)parent << 32 | name) * GOLDEN;

	h ^= (version ^ (h >> 29)) * GOLDEN;
	return (uint32_t)(h >> 32);
}

static uint64_t node_version(const struct node *n)
{
	return (uint64_t)n->ver_hi << 32 | n->ver_lo;
}

static uint32_t node_hash(const void *ctx, uint32_t slot)
{
	const struct node *n = node_at(ctx, slot);

	return key_hash(n->parent, n->name, node_version(n));
}

static uint32_t key_find(const struct inode_table *t, uint32_t parent, uint32_t name,
			 uint64_t version)
{
	for (uint32_t i = key_hash(parent, name, version) & t->key_mask; t->keys[i];
	     i = (i + 1) & t->key_mask) {
		const struct node *n = node_at(t, t->keys[i] - 1);

		if (n->parent == parent && n->name == name && node_version(n) == version)
			return t->keys[i] - 1;
	}
	return NONE;
}

static void key_place(struct inode_table *t, uint32_t slot)
{
	otab_place(t->keys, t->key_mask, slot, node_hash(t, slot));
}

/* A free slot (its node zeroed but for gen), or NONE on ENOMEM. */
static uint32_t slot_alloc(struct inode_table *t)
{
	uint32_t slot = t->free_slot;
	struct node *n;

	if (slot != NONE) {
		n = node_at(t, slot);
		t->free_slot = n->parent;
	} else {
		if (t->nslots >= MAX_ID)
			return NONE;
		if ((t->nslots >> CHUNK_SHIFT) == t->nchunks) {
			if (t->nchunks == t->chunk_cap) {
				uint32_t cap = t->chunk_cap ? t->chunk_cap * 2 : 16;
				struct node **c = realloc(t->chunks, cap * sizeof(*c));

				if (!c)
					return NONE;
				t->chunks = c;
				t->chunk_cap = cap;
			}
			t->chunks[t->nchunks] = calloc(CHUNK_NODES, sizeof(struct node));
			if (!t->chunks[t->nchunks])
				return NONE;
			t->nchunks++;
		}
		slot = t->nslots++;
		n = node_at(t, slot);
		n->gen = 0;
	}
	n->parent = NONE;
	n->name = 0;
	n->attr = FREE;
	n->children = 0;
	n->nlookup = 0;
	n->ver_lo = n->ver_hi = 0;
	n->size = 0;
	return slot;
}

/* Frees slot for reuse under its next generation; a slot whose generations ran out is never
 * reused, so a number is never handed out twice. */
static void slot_free(struct inode_table *t, uint32_t slot)
{
	struct node *n = node_at(t, slot);

	n->attr = FREE;
	if (++n->gen == 0)
		return;
	n->parent = t->free_slot;
	t->free_slot = slot;
}

/* --- extras --- */

static struct extra **extra_link(const struct inode_table *t, uint32_t slot)
{
	struct extra **e = &t->extras[(slot * 2654435761u) & t->extra_mask];

	while (*e && (*e)->slot != slot)
		e = &(*e)->next;
	return e;
}

/* slot's extra, made if missing. Returns NULL on ENOMEM. */
static struct extra *extra_get(struct inode_table *t, uint32_t slot)
{
	struct extra **e = extra_link(t, slot);

	if (*e)
		return *e;
	if (t->nextras > t->extra_mask) {
		uint32_t omask = t->extra_mask;
		struct extra **old = t->extras, *x, *next;

		t->extras = calloc(((size_t)omask + 1) * 2, sizeof(*t->extras));
		if (t->extras) {
			t->extra_mask = omask * 2 + 1;
			for (uint32_t i = 0; i <= omask; i++)
				for (x = old[i]; x; x = next) {
					next = x->next;
					x->next = t->extras[(x->slot * 2654435761u) &
							    t->extra_mask];
					t->extras[(x->slot * 2654435761u) & t->extra_mask] = x;
				}
			free(old);
		} else {
			t->extras = old;	/* longer chains, still correct */
		}
		e = extra_link(t, slot);
	}
	*e = calloc(1, sizeof(**e));
	if (!*e)
		return NULL;
	(*e)->slot = slot;
	t->nextras++;
	return *e;
}

static void extra_drop(struct inode_table *t, uint32_t slot)
{
	struct extra **e = extra_link(t, slot), *x = *e;

	if (!x)
		return;
	*e = x->next;
	t->nextras--;
	free(x->data);
	free(x);
}

static uint64_t nlookup_of(const struct inode_table *t, uint32_t slot)
{
	const struct node *n = node_at(t, slot);
	struct extra *x;

	if (n->nlookup < UINT32_MAX)
		return n->nlookup;
	x = *extra_link(t, slot);
	return (uint64_t)n->nlookup + (x ? x->more : 0);
}

/* Sets slot's lookup count. Returns 0 or -ENOMEM (a count past 32 bits needs an extra). */
static int nlookup_set(struct inode_table *t, uint32_t slot, uint64_t count)
{
	struct node *n = node_at(t, slot);
	struct extra *x;

	if (count < UINT32_MAX) {
		x = n->nlookup == UINT32_MAX ? *extra_link(t, slot) : NULL;
		if (x)
			x->more = 0;
		n->nlookup = (uint32_t)count;
		return 0;
	}
	x = extra_get(t, slot);
	if (!x)
		return -ENOMEM;
	x->more = count - UINT32_MAX;
	n->nlookup = UINT32_MAX;
	return 0;
}

/* --- the table --- */

int inode_table_new(struct inode_table **out)
{
	static const struct inode_attr root = { .type = INODE_DIR, .mode = 0555 };
	unsigned char ab[ATTR_BYTES];
	struct inode_table *t = calloc(1, sizeof(*t));
	struct node *n;
	uint32_t slot;

	if (!t)
		return -ENOMEM;
	pthread_mutex_init(&t->lock, NULL);
	t->free_slot = NONE;
	t->key_mask = 1023;
	t->extra_mask = 15;
	t->keys = calloc(t->key_mask + 1, sizeof(*t->keys));
	t->extras = calloc(t->extra_mask + 1, sizeof(*t->extras));
	if (!t->keys || !t->extras || pool_init(&t->names) != 0 || pool_init(&t->attrs) != 0)
		goto out_free;
	attr_pack(&root, ab);
	slot = slot_alloc(t);
	if (slot == NONE)
		goto out_free;
	n = node_at(t, slot);
	/* The root is slot 0 at generation 0: number 1, FUSE_ROOT_ID. */
	if (pool_get(&t->names, "", 0, &n->name) != 0 ||
	    pool_get(&t->attrs, ab, sizeof(ab), &n->attr) != 0)
		goto out_free;
	n->nlookup = 1;
	key_place(t, slot);
	t->count = 1;
	*out = t;
	return 0;
out_free:
	inode_table_free(t);
	return -ENOMEM;
}

/* Also frees a table inode_table_new gave up on half made. */
void inode_table_free(struct inode_table *t)
{
	if (!t)
		return;
	for (uint32_t i = 0; t->extras && i <= t->extra_mask; i++) {
		struct extra *x = t->extras[i], *next;

		for (; x; x = next) {
			next = x->next;
			free(x->data);
			free(x);
		}
	}
	for (uint32_t i = 0; i < t->nchunks; i++)
		free(t->chunks[i]);
	free(t->chunks);
	pool_fini(&t->names);
	pool_fini(&t->attrs);
	free(t->keys);
	free(t->extras);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

/* slot's attributes. Lock held. */
static void node_attr(const struct inode_table *t, uint32_t slot, struct inode_attr *a)
{
	const struct node *n = node_at(t, slot);
	const struct extra *x;

	attr_unpack(pool_blob(&t->attrs, n->attr)->bytes, a);
	a->version = node_version(n);
	if (n->size != SIZE_IN_EXTRA) {
		a->size = (off_t)n->size;
	} else {
		x = *extra_link(t, slot);
		a->size = x ? (off_t)x->size : 0;
	}
}

/* Adds a node keyed (parent, name, a->version) with one lookup, keeping data. Returns its slot
 * or NONE on ENOMEM (nothing changed, data not taken). Lock held. */
static uint32_t node_add(struct inode_table *t, uint32_t parent, const char *name, size_t nlen,
			 const struct inode_attr *a, char *data)
{
	unsigned char ab[ATTR_BYTES];
	uint32_t slot, nid, aid;
	struct node *n;
	struct extra *x = NULL;

	attr_pack(a, ab);
	if (otab_reserve(&t->keys, &t->key_mask, t->count, node_hash, t) != 0 || pool_get(&t->names, name, nlen, &nid) != 0)
		return NONE;
	if (pool_get(&t->attrs, ab, sizeof(ab), &aid) != 0)
		goto out_name;
	slot = slot_alloc(t);
	if (slot == NONE)
		goto out_attr;
	if ((data || (uint64_t)a->size >= SIZE_IN_EXTRA) && !(x = extra_get(t, slot)))
		goto out_slot;
	n = node_at(t, slot);
	n->parent = parent;
	n->name = nid;
	n->attr = aid;
	n->ver_lo = (uint32_t)a->version;
	n->ver_hi = (uint32_t)(a->version >> 32);
	n->size = (uint64_t)a->size >= SIZE_IN_EXTRA ? SIZE_IN_EXTRA : (uint32_t)a->size;
	n->nlookup = 1;
	if (x) {
		x->data = data;
		x->size = (uint64_t)a->size;
	}
	key_place(t, slot);
	node_at(t, parent)->children++;
	t->count++;
	return slot;
out_slot:
	slot_free(t, slot);
out_attr:
	pool_put(&t->attrs, aid);
out_name:
	pool_put(&t->names, nid);
	return NONE;
}

int inode_ref(struct inode_table *t, uint64_t parent, const char *name,
	      const struct inode_attr *a, char *data, uint64_t *ino)
{
	size_t nlen = strlen(name);
	uint32_t p, nid, slot = NONE;
	int rc = 0;

	if (nlen == 0 || nlen > 255) {
		free(data);
		return nlen ? -ENAMETOOLONG : -EINVAL;
	}
	pthread_mutex_lock(&t->lock);
	p = slot_of(t, parent);
	if (p == NONE) {
		rc = -ESTALE;
		goto out;
	}
	nid = pool_find(&t->names, name, nlen);
	if (nid != NONE)
		slot = key_find(t, p, nid, a->version);
	if (slot == NONE) {
		slot = node_add(t, p, name, nlen, a, data);
		if (slot == NONE) {
			rc = -ENOMEM;
			goto out;
		}
		data = NULL;
	} else if (nlookup_set(t, slot, nlookup_of(t, slot) + 1) != 0) {
		rc = -ENOMEM;
		goto out;
	}
	*ino = ino_of(t, slot);
out:
	pthread_mutex_unlock(&t->lock);
	free(data);
	return rc;
}

/* Writes slot's path into path (size bytes). Returns 0 or -ENAMETOOLONG. Lock held. */
static int build_path(const struct inode_table *t, uint32_t slot, char *path, size_t size)
{
	size_t len = 0, pos;
	const struct node *m;

	if (node_at(t, slot)->parent == NONE) {
		if (size < 2)
			return -ENAMETOOLONG;
		memcpy(path, "/", 2);
		return 0;
	}
	for (m = node_at(t, slot); m->parent != NONE; m = node_at(t, m->parent))
		len += 1 + pool_blob(&t->names, m->name)->len;
	if (len >= size)
		return -ENAMETOOLONG;
	path[len] = 0;
	pos = len;
	for (m = node_at(t, slot); m->parent != NONE; m = node_at(t, m->parent)) {
		const struct blob *b = pool_blob(&t->names, m->name);

		pos -= b->len;
		memcpy(path + pos, b->bytes, b->len);
		path[--pos] = '/';
	}
	return 0;
}

int inode_get(struct inode_table *t, uint64_t ino, char *path, size_t size,
	      struct inode_attr *a)
{
	uint32_t slot;
	int rc;

	pthread_mutex_lock(&t->lock);
	slot = slot_of(t, ino);
	if (slot == NONE)
		rc = -ESTALE;
	else
		rc = build_path(t, slot, path, size);
	if (rc == 0 && a)
		node_attr(t, slot, a);
	pthread_mutex_unlock(&t->lock);
	return rc;
}

int inode_read_data(struct inode_table *t, uint64_t ino, char *buf, size_t size, off_t off,
		    size_t *n)
{
	struct inode_attr a;
	struct extra *x;
	uint32_t slot;
	size_t len;
	int rc = 0;

	*n = 0;
	pthread_mutex_lock(&t->lock);
	slot = slot_of(t, ino);
	x = slot == NONE ? NULL : *extra_link(t, slot);
	if (slot == NONE)
		rc = -ESTALE;
	else if (!x || !x->data)
		rc = -ENODATA;
	else {
		node_attr(t, slot, &a);
		len = (size_t)a.size;
		if (off >= 0 && (size_t)off < len) {
			*n = len - (size_t)off < size ? len - (size_t)off : size;
			memcpy(buf, x->data + off, *n);
		}
	}
	pthread_mutex_unlock(&t->lock);
	return rc;
}

void inode_forget(struct inode_table *t, uint64_t ino, uint64_t nlookup)
{
	uint32_t slot;
	uint64_t have;

	pthread_mutex_lock(&t->lock);
	slot = slot_of(t, ino);
	if (slot == NONE || ino == INODE_ROOT) {
		pthread_mutex_unlock(&t->lock);
		return;
	}
	have = nlookup_of(t, slot);
	/* Lowering a count needs no memory: the extra, if any, is already there. */
	(void)nlookup_set(t, slot, nlookup >= have ? 0 : have - nlookup);
	/* A node goes when neither the kernel nor a child holds it; its parent may follow. */
	while (slot != NONE) {
		struct node *n = node_at(t, slot);
		uint32_t p = n->parent;

		if (p == NONE || n->nlookup || n->children)
			break;
		otab_remove(t->keys, t->key_mask, slot, node_hash, t);
		pool_put(&t->names, n->name);
		pool_put(&t->attrs, n->attr);
		extra_drop(t, slot);
		slot_free(t, slot);
		t->count--;
		node_at(t, p)->children--;
		slot = p;
	}
	pthread_mutex_unlock(&t->lock);
}

int inode_find(struct inode_table *t, const char *path, uint64_t version, uint64_t *ino)
{
	uint32_t slot = 0;	/* the root */
	const char *p = path, *slash;

	while (*p == '/')
		p++;
	pthread_mutex_lock(&t->lock);
	/* Every component but the last is a directory (version 0); the last has version. */
	while (slot != NONE && *p) {
		size_t len;
		uint32_t nid;

		slash = strchr(p, '/');
		len = slash ? (size_t)(slash - p) : strlen(p);
		while (slash && slash[1] == '/')
			slash++;
		if (slash && !slash[1])
			slash = NULL;	/* a trailing slash */
		nid = pool_find(&t->names, p, len);
		slot = nid == NONE ? NONE : key_find(t, slot, nid, slash ? 0 : version);
		p = slash ? slash + 1 : p + len;
	}
	if (slot == 0 && version != 0)
		slot = NONE;
	if (slot != NONE)
		*ino = ino_of(t, slot);
	pthread_mutex_unlock(&t->lock);
	return slot != NONE ? 0 : -ENOENT;
}

size_t inode_count(struct inode_table *t)
{
	size_t n;

	pthread_mutex_lock(&t->lock);
	n = t->count;
	pthread_mutex_unlock(&t->lock);
	return n;
}
