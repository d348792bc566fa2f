/* inode: the mount's inode table: inode numbers the kernel holds, each naming a name in a parent
 * directory at one version, counted by the kernel's lookups and freed when it forgets them. No
 * FUSE here. */
#ifndef DSWFS_INODE_H
#define DSWFS_INODE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define INODE_ROOT 1	/* FUSE_ROOT_ID: "/", never freed */

/* A node's kind; the caller's (fsops maps tree types onto it). */
enum inode_type { INODE_DIR, INODE_FILE, INODE_LINK };

/* What a node remembers of the answer it was made for: small and fixed, never snapshot data,
 * so an inode the kernel keeps after its snapshot went away costs a name and these. */
struct inode_attr {
	enum inode_type type;
	mode_t mode;
	off_t size;
	time_t mtime, ctime;
	long mtime_nsec;
	uint64_t version;	/* the key's version (0 for directories) */
};

struct inode_table;


/* Returns 0 and *out with the root (a directory, never freed), or -ENOMEM. */
int inode_table_new(struct inode_table **out);
void inode_table_free(struct inode_table *t);

/* Finds or makes the node keyed (parent, name, a->version) and counts one lookup of it; *ino is
 * its number. Numbers are never reused, so a new (parent, name, version) is a new inode to the
 * kernel: files key on their content's version, directories on version 0 (one inode per path).
 * data (a->size bytes, may be NULL) is taken over: a new node keeps it, otherwise it is freed
 * (also on failure). Bytes that change without a refresh (.dswfs files) are kept per version so
 * one inode always serves one content. An existing node keeps its attributes. A node keeps its
 * parent in the table while it is there. Returns 0, -ESTALE (parent unknown), -EINVAL (empty
 * name), -ENAMETOOLONG (name over 255 bytes), -ENOMEM. */
int inode_ref(struct inode_table *t, uint64_t parent, const char *name,
	      const struct inode_attr *a, char *data, uint64_t *ino);

/* Node ino's path (rebuilt from its parents into path, size bytes) and attributes. Returns 0,
 * -ESTALE (unknown or forgotten number), -ENAMETOOLONG. */
int inode_get(struct inode_table *t, uint64_t ino, char *path, size_t size,
	      struct inode_attr *a);

/* Copies up to size bytes at off of the data kept with ino into buf; *n is the count. Returns
 * 0, -ESTALE (unknown number), -ENODATA (the node keeps no data). */
int inode_read_data(struct inode_table *t, uint64_t ino, char *buf, size_t size, off_t off,
		    size_t *n);

/* The kernel forgot nlookup lookups of ino; the node is freed when none are left and no node
 * names it as parent, and then so is its parent on the same terms (the root never is). Unknown numbers are ignored (a forget cannot fail). */
void inode_forget(struct inode_table *t, uint64_t ino, uint64_t nlookup);

/* The number of the node at path ("/a/b": directories on the way at version 0, the last
 * component at version), without counting a lookup. Returns 0 or
 * -ENOENT. */
int inode_find(struct inode_table *t, const char *path, uint64_t version, uint64_t *ino);

/* Nodes held now (the root included). */
size_t inode_count(struct inode_table *t);

#endif
