/* privs: -o setuid=USER, for mounts started by root (fstab, systemd): credentials are read as
 * USER, the mount is made by root on USER's behalf, and the daemon then runs as USER only. */
#ifndef DSWFS_PRIVS_H
#define DSWFS_PRIVS_H

#include <stddef.h>
#include <sys/types.h>

struct privs {
	uid_t uid;
	gid_t gid;
};

/* Becomes USER for everything but mounting: USER's groups, real and effective uid and gid,
 * and HOME, USER and LOGNAME from USER's passwd entry, so credential files are read from
 * USER's home with USER's rights; root stays only the saved uid. Needs euid 0. Returns 0, or
 * -errno with a one-line reason in why (-EPERM: not root; -ENOENT: no such user). */
int privs_become(const char *user, struct privs *p, char *why, size_t whylen);

/* Around fuse_session_mount: root's effective uid back (the real uid stays USER's, so libfuse
 * records user_id=USER and USER may unmount with fusermount3 -u). Returns 0 or -errno. */
int privs_mount_begin(const struct privs *p);

/* For good: every uid and gid USER's, no way back to root. Returns 0 or -errno. */
int privs_drop(const struct privs *p);

/* When dswfs runs as a user other than root with a HOME it cannot read (mount.fuse3's
 * setuid=USER switches users but keeps root's HOME, or none under systemd), HOME becomes the
 * user's home from passwd, so the credential files looked up are that user's. Returns 1 when
 * HOME was changed, else 0. */
int privs_fix_home(void);

#endif
