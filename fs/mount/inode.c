/* inode: inode numbers keyed by (parent, name, version), two chained hash tables under one lock. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "inode.h"

/* A node is the kernel's inode: it names its parent node and its own name, not a whole path
 * (a path is rebuilt on demand by walking up), so a node costs about 100 bytes however deep it
 * sits. A node keeps its parent alive (children counts the nodes naming it), so a path can
 * always be rebuilt while anything below it is held, whatever order the kernel forgets in. */
struct node {
	struct node *next_ino, *next_key;
	struct node *parent;	/* NULL for the root */
	uint64_t ino;
	uint64_t nlookup;
	uint64_t version;
	int64_t size, mtime, ctime;
	char *data;		/* owned; NULL unless bytes were given (then size bytes) */
	uint32_t children;	/* nodes whose parent this is */
	uint32_t mtime_nsec;
	uint16_t mode;
	uint8_t type;
	uint8_t namelen;
	char name[];
};

struct inode_table {
	pthread_mutex_t lock;
	struct node **by_ino, **by_key;
	size_t nbuckets;	/* power of two, both tables */
	size_t count;
	uint64_t next_ino;
};

#define GOLDEN 11400714819323198485ULL

static size_t ino_bucket(const struct inode_table *t, uint64_t ino)
{
	return (size_t)((ino * GOLDEN) >> 20) & (t->nbuckets - 1);
}

static size_t key_bucket(const struct inode_table *t, uint64_t parent, const char *name,
			 size_t nlen, uint64_t version)
{
	uint64_t h = hash_more(HASH_INIT ^ (parent * GOLDEN), name, nlen);

	return (size_t)((h ^ (version * GOLDEN)) & (t->nbuckets - 1));
}

static size_t node_key_bucket(const struct inode_table *t, const struct node *n)
{
	return key_bucket(t, n->parent ? n->parent->ino : 0, n->name, n->namelen, n->version);
}

static void insert(struct inode_table *t, struct node *n)
{
	size_t bi = ino_bucket(t, n->ino), bk = node_key_bucket(t, n);

	n->next_ino = t->by_ino[bi];
	t->by_ino[bi] = n;
	n->next_key = t->by_key[bk];
	t->by_key[bk] = n;
}

/* Doubles both tables; on ENOMEM they stay as they are (longer chains, still correct). */
static void grow(struct inode_table *t)
{
	size_t old = t->nbuckets;
	struct node **oi = t->by_ino, **ni, **nk;

	ni = calloc(old * 2, sizeof(*ni));
	nk = calloc(old * 2, sizeof(*nk));
	if (!ni || !nk) {
		free(ni);
		free(nk);
		return;
	}
	free(t->by_key);
	t->by_ino = ni;
	t->by_key = nk;
	t->nbuckets = old * 2;
	for (size_t i = 0; i < old; i++) {
		struct node *n = oi[i], *next;

		for (; n; n = next) {
			next = n->next_ino;
			insert(t, n);
		}
	}
	free(oi);
}

static void set_attr(struct node *n, const struct inode_attr *a)
{
	n->type = (uint8_t)a->type;
	n->mode = (uint16_t)a->mode;
	n->size = a->size;
	n->mtime = a->mtime;
	n->ctime = a->ctime;
	n->mtime_nsec = (uint32_t)a->mtime_nsec;
	n->version = a->version;
}

static void get_attr(const struct node *n, struct inode_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->type = (enum inode_type)n->type;
	a->mode = n->mode;
	a->size = (off_t)n->size;
	a->mtime = (time_t)n->mtime;
	a->ctime = (time_t)n->ctime;
	a->mtime_nsec = (long)n->mtime_nsec;
	a->version = n->version;
}

static struct node *node_new(struct node *parent, const char *name, size_t nlen,
			     const struct inode_attr *a)
{
	struct node *n = calloc(1, sizeof(*n) + nlen + 1);

	if (!n)
		return NULL;
	memcpy(n->name, name, nlen);
	n->namelen = (uint8_t)nlen;
	n->parent = parent;
	set_attr(n, a);
	return n;
}

int inode_table_new(struct inode_table **out)
{
	struct inode_attr root = { .type = INODE_DIR, .mode = 0555 };
	struct inode_table *t = calloc(1, sizeof(*t));
	struct node *n;

	if (!t)
		return -ENOMEM;
	t->nbuckets = 1024;
	t->by_ino = calloc(t->nbuckets, sizeof(*t->by_ino));
	t->by_key = calloc(t->nbuckets, sizeof(*t->by_key));
	n = node_new(NULL, "", 0, &root);
	if (!t->by_ino || !t->by_key || !n) {
		free(n);
		free(t->by_ino);
		free(t->by_key);
		free(t);
		return -ENOMEM;
	}
	pthread_mutex_init(&t->lock, NULL);
	n->ino = INODE_ROOT;
	n->nlookup = 1;
	insert(t, n);
	t->count = 1;
	t->next_ino = INODE_ROOT + 1;
	*out = t;
	return 0;
}

void inode_table_free(struct inode_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct node *n = t->by_ino[i], *next;

		for (; n; n = next) {
			next = n->next_ino;
			free(n->data);
			free(n);
		}
	}
	free(t->by_ino);
	free(t->by_key);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

static struct node *find_key(struct inode_table *t, const struct node *parent, const char *name,
			     size_t nlen, uint64_t version)
{
	struct node *n = t->by_key[key_bucket(t, parent ? parent->ino : 0, name, nlen, version)];

	for (; n; n = n->next_key)
		if (n->version == version && n->parent == parent && n->namelen == nlen &&
		    memcmp(n->name, name, nlen) == 0)
			return n;
	return NULL;
}

static struct node *find_ino(struct inode_table *t, uint64_t ino)
{
	struct node *n = t->by_ino[ino_bucket(t, ino)];

	while (n && n->ino != ino)
		n = n->next_ino;
	return n;
}

int inode_ref(struct inode_table *t, uint64_t parent, const char *name,
	      const struct inode_attr *a, char *data, uint64_t *ino)
{
	size_t nlen = strlen(name);
	struct node *p, *n;
	int rc = 0;

	if (nlen == 0 || nlen > 255) {
		free(data);
		return nlen ? -ENAMETOOLONG : -EINVAL;
	}
	pthread_mutex_lock(&t->lock);
	p = find_ino(t, parent);
	if (!p) {
		rc = -ESTALE;
		goto out;
	}
	n = find_key(t, p, name, nlen, a->version);
	if (!n) {
		n = node_new(p, name, nlen, a);
		if (!n) {
			rc = -ENOMEM;
			goto out;
		}
		n->data = data;
		data = NULL;
		n->ino = t->next_ino++;
		p->children++;
		/* Two nodes a bucket on average: the buckets cost 8 bytes a node per table
		 * instead of up to 32, and chains stay short. */
		if (t->count >= 2 * t->nbuckets)
			grow(t);
		insert(t, n);
		t->count++;
	}
	n->nlookup++;
	*ino = n->ino;
out:
	pthread_mutex_unlock(&t->lock);
	free(data);
	return rc;
}

/* Writes n's path into path (size bytes). Returns 0 or -ENAMETOOLONG. Lock held. */
static int build_path(const struct node *n, char *path, size_t size)
{
	size_t len = 0, pos;

	if (!n->parent) {
		if (size < 2)
			return -ENAMETOOLONG;
		memcpy(path, "/", 2);
		return 0;
	}
	for (const struct node *m = n; m->parent; m = m->parent)
		len += 1 + m->namelen;
	if (len >= size)
		return -ENAMETOOLONG;
	path[len] = 0;
	pos = len;
	for (const struct node *m = n; m->parent; m = m->parent) {
		pos -= m->namelen;
		memcpy(path + pos, m->name, m->namelen);
		path[--pos] = '/';
	}
	return 0;
}

int inode_get(struct inode_table *t, uint64_t ino, char *path, size_t size,
	      struct inode_attr *a)
{
	struct node *n;
	int rc;

	pthread_mutex_lock(&t->lock);
	n = find_ino(t, ino);
	if (!n)
		rc = -ESTALE;
	else
		rc = build_path(n, path, size);
	if (rc == 0 && a)
		get_attr(n, a);
	pthread_mutex_unlock(&t->lock);
	return rc;
}

int inode_read_data(struct inode_table *t, uint64_t ino, char *buf, size_t size, off_t off,
		    size_t *n)
{
	struct node *nd;
	size_t len;
	int rc = 0;

	*n = 0;
	pthread_mutex_lock(&t->lock);
	nd = find_ino(t, ino);
	if (!nd)
		rc = -ESTALE;
	else if (!nd->data)
		rc = -ENODATA;
	else if (off >= 0 && (size_t)off < (len = (size_t)nd->size)) {
		*n = len - (size_t)off < size ? len - (size_t)off : size;
		memcpy(buf, nd->data + off, *n);
	}
	pthread_mutex_unlock(&t->lock);
	return rc;
}

static void unlink_node(struct inode_table *t, struct node *n)
{
	struct node **p;

	for (p = &t->by_ino[ino_bucket(t, n->ino)]; *p != n; p = &(*p)->next_ino)
		;
	*p = n->next_ino;
	for (p = &t->by_key[node_key_bucket(t, n)]; *p != n; p = &(*p)->next_key)
		;
	*p = n->next_key;
	t->count--;
}

void inode_forget(struct inode_table *t, uint64_t ino, uint64_t nlookup)
{
	struct node *n, *dead = NULL;

	pthread_mutex_lock(&t->lock);
	n = find_ino(t, ino);
	if (!n || ino == INODE_ROOT) {
		pthread_mutex_unlock(&t->lock);
		return;
	}
	n->nlookup = nlookup >= n->nlookup ? 0 : n->nlookup - nlookup;
	/* A node goes when neither the kernel nor a child holds it; its parent may follow. The
	 * dead are chained through next_ino and freed after the lock. */
	while (n && n->parent && n->nlookup == 0 && n->children == 0) {
		struct node *p = n->parent;

		unlink_node(t, n);
		n->next_ino = dead;
		dead = n;
		p->children--;
		n = p;
	}
	pthread_mutex_unlock(&t->lock);
	while (dead) {
		n = dead->next_ino;
		free(dead->data);
		free(dead);
		dead = n;
	}
}

int inode_find(struct inode_table *t, const char *path, uint64_t version, uint64_t *ino)
{
	struct node *n;
	const char *p = path, *slash;

	while (*p == '/')
		p++;
	pthread_mutex_lock(&t->lock);
	n = find_ino(t, INODE_ROOT);
	/* Every component but the last is a directory (version 0); the last has version. */
	while (n && *p) {
		size_t len;

		slash = strchr(p, '/');
		len = slash ? (size_t)(slash - p) : strlen(p);
		while (slash && slash[1] == '/')
			slash++;
		if (slash && !slash[1])
			slash = NULL;	/* a trailing slash */
		n = find_key(t, n, p, len, slash ? 0 : version);
		p = slash ? slash + 1 : p + len;
	}
	if (n && n->ino == INODE_ROOT && version != 0)
		n = NULL;
	if (n)
		*ino = n->ino;
	pthread_mutex_unlock(&t->lock);
	return n ? 0 : -ENOENT;
}

size_t inode_count(struct inode_table *t)
{
	size_t n;

	pthread_mutex_lock(&t->lock);
	n = t->count;
	pthread_mutex_unlock(&t->lock);
	return n;
}
