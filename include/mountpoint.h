/* mountpoint: what a mount point is before dswfs mounts on it (the mount it lies in, whether
 * it is empty), so mounting over files or over another dswfs mount is refused clearly. */
#ifndef DSWFS_MOUNTPOINT_H
#define DSWFS_MOUNTPOINT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

struct mountpoint_entry {
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
int mountpoint_check(const char *path, bool nonempty, char *why, size_t whylen);

#endif
