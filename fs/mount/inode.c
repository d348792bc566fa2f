/* inode: inode numbers keyed by (path, version), two chained hash tables under one lock. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "inode.h"

struct node {
	struct node *next_ino, *next_key;
	uint64_t ino;
	uint64_t nlookup;
	struct inode_attr attr;
	char *data;		/* owned; NULL unless bytes were given */
	size_t len;
	size_t plen;
	char path[];
};

struct inode_table {
	pthread_mutex_t lock;
	struct node **by_ino, **by_key;
	size_t nbuckets;	/* power of two, both tables */
	size_t count;
	uint64_t next_ino;
};

static size_t ino_bucket(const struct inode_table *t, uint64_t ino)
{
	return (size_t)((ino * 11400714819323198485ULL) >> 20) & (t->nbuckets - 1);
}

static size_t key_bucket(const struct inode_table *t, const char *path, size_t plen,
			 uint64_t version)
{
	return (size_t)((hash_mem(path, plen) ^ (version * 11400714819323198485ULL)) &
			(t->nbuckets - 1));
}

static void insert(struct inode_table *t, struct node *n)
{
	size_t bi = ino_bucket(t, n->ino), bk = key_bucket(t, n->path, n->plen, n->attr.version);

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

static struct node *node_new(const char *path, size_t plen, const struct inode_attr *a,
			     const void *data, size_t len)
{
	struct node *n = calloc(1, sizeof(*n) + plen + 1);

	if (!n)
		return NULL;
	if (data) {
		n->data = malloc(len ? len : 1);
		if (!n->data) {
			free(n);
			return NULL;
		}
		memcpy(n->data, data, len);
		n->len = len;
	}
	memcpy(n->path, path, plen);
	n->plen = plen;
	n->attr = *a;
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
	n = node_new("/", 1, &root, NULL, 0);
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

static struct node *find_key(struct inode_table *t, const char *path, size_t plen,
			     uint64_t version)
{
	struct node *n = t->by_key[key_bucket(t, path, plen, version)];

	for (; n; n = n->next_key)
		if (n->attr.version == version && n->plen == plen &&
		    memcmp(n->path, path, plen) == 0)
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

int inode_ref(struct inode_table *t, const char *path, const struct inode_attr *a,
	      const void *data, size_t len, uint64_t *ino)
{
	size_t plen = strlen(path);
	struct node *n;

	pthread_mutex_lock(&t->lock);
	n = find_key(t, path, plen, a->version);
	if (!n) {
		n = node_new(path, plen, a, data, len);
		if (!n) {
			pthread_mutex_unlock(&t->lock);
			return -ENOMEM;
		}
		n->ino = t->next_ino++;
		if (t->count >= t->nbuckets)
			grow(t);
		insert(t, n);
		t->count++;
	}
	n->nlookup++;
	*ino = n->ino;
	pthread_mutex_unlock(&t->lock);
	return 0;
}

int inode_get(struct inode_table *t, uint64_t ino, char *path, size_t size,
	      struct inode_attr *a)
{
	struct node *n;
	int rc = 0;

	pthread_mutex_lock(&t->lock);
	n = find_ino(t, ino);
	if (!n)
		rc = -ESTALE;
	else if (n->plen >= size)
		rc = -ENAMETOOLONG;
	else {
		memcpy(path, n->path, n->plen + 1);
		if (a)
			*a = n->attr;
	}
	pthread_mutex_unlock(&t->lock);
	return rc;
}

int inode_read_data(struct inode_table *t, uint64_t ino, char *buf, size_t size, off_t off,
		    size_t *n)
{
	struct node *nd;
	int rc = 0;

	*n = 0;
	pthread_mutex_lock(&t->lock);
	nd = find_ino(t, ino);
	if (!nd)
		rc = -ESTALE;
	else if (!nd->data)
		rc = -ENODATA;
	else if (off >= 0 && (size_t)off < nd->len) {
		*n = nd->len - (size_t)off < size ? nd->len - (size_t)off : size;
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
	for (p = &t->by_key[key_bucket(t, n->path, n->plen, n->attr.version)]; *p != n;
	     p = &(*p)->next_key)
		;
	*p = n->next_key;
	t->count--;
}

void inode_forget(struct inode_table *t, uint64_t ino, uint64_t nlookup)
{
	struct node *n;

	pthread_mutex_lock(&t->lock);
	n = find_ino(t, ino);
	if (!n || ino == INODE_ROOT) {
		pthread_mutex_unlock(&t->lock);
		return;
	}
	n->nlookup = nlookup >= n->nlookup ? 0 : n->nlookup - nlookup;
	if (n->nlookup == 0)
		unlink_node(t, n);
	else
		n = NULL;
	pthread_mutex_unlock(&t->lock);
	if (n) {
		free(n->data);
		free(n);
	}
}

int inode_find(struct inode_table *t, const char *path, uint64_t version, uint64_t *ino)
{
	struct node *n;

	pthread_mutex_lock(&t->lock);
	n = find_key(t, path, strlen(path), version);
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
