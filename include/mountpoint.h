/* mountpoint: what a mount point is before dswfs mounts on it (the mount it lies in, whether
 * it is empty), so mounting over files or over another dswfs mount is refused clearly. */
#ifndef DSWFS_MOUNTPOINT_H
#define DSWFS_MOUNTPOINT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

struct mountpoint_entry {
	long id;		/* the mount's id (mountinfo's first field) */
	char dir[PATH_MAX];	/* mount point, unescaped */
	char fstype[64];	/* "fuse.dswfs", "autofs", "ext4", ... */
	char source[256];	/* fsname; "" when none */
};

/* Finds, in the text of a /proc/self/mountinfo (len bytes, need not end in NUL), the mount that
 * holds path (absolute, no "." or ".." parts): the one with the longest mount point that is
 * path or a parent of it, the last listed when several are stacked. Lines it cannot parse are
 * skipped; fields too long for *out are cut. Returns 0 with *out, or -ENOENT. */
int mountpoint_find(const char *mountinfo, size_t len, const char *path,
		    struct mountpoint_entry *out);

/* Checks that dswfs may mount on path (absolute, resolved): it is not inside (or the top of)
 * another dswfs mount, and it is an empty directory unless nonempty. An autofs mount exactly
 * at path (systemd's x-systemd.automount trigger) is accepted without looking inside, which
 * would wait for this very mount. A path of the form /dev/fd/N (mount.fuse3's
 * drop_privileges: already mounted) is not checked. Returns 0, or -errno with a one-line
 * reason in why (-EBUSY: a dswfs mount; -ENOTEMPTY: files there). */
/* The id of the topmost mount whose mount point is exactly path (absolute, resolved) in
 * /proc/self/mountinfo; -1 when there is none or the table cannot be read. */
long mountpoint_id(const char *path);

/* Whether the mount with this id is still in /proc/self/mountinfo. True when the table cannot be
 * read, so that a caller never ends a session on a guess. */
bool mountpoint_present(long id);

int mountpoint_check(const char *path, bool nonempty, char *why, size_t whylen);

#endif
