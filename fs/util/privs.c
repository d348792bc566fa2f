/* privs: setuid=USER: read credentials as USER, mount as root for USER, then serve as USER. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "privs.h"

/* HOME, USER and LOGNAME of a passwd entry. */
static int set_user_env(const struct passwd *pw)
{
	if (setenv("HOME", pw->pw_dir, 1) || setenv("USER", pw->pw_name, 1) ||
	    setenv("LOGNAME", pw->pw_name, 1))
		return -errno;
	return 0;
}

int privs_become(const char *user, struct privs *p, char *why, size_t whylen)
{
	struct passwd *pw;
	int rc;

	if (geteuid() != 0) {
		snprintf(why, whylen, "setuid=%s: only root can switch users", user);
		return -EPERM;
	}
	errno = 0;
	pw = getpwnam(user);
	if (!pw) {
		rc = errno ? -errno : -ENOENT;
		snprintf(why, whylen, "setuid=%s: no such user", user);
		return rc;
	}
	p->uid = pw->pw_uid;
	p->gid = pw->pw_gid;
	rc = set_user_env(pw);
	if (!rc && (initgroups(pw->pw_name, pw->pw_gid) || setresgid(p->gid, p->gid, 0) ||
		    setresuid(p->uid, p->uid, 0)))
		rc = -errno;
	if (rc)
		snprintf(why, whylen, "setuid=%s: %s", user, strerror(-rc));
	return rc;
}

int privs_mount_begin(const struct privs *p)
{
	(void)p;
	return seteuid(0) ? -errno : 0;
}

int privs_drop(const struct privs *p)
{
	if (setresgid(p->gid, p->gid, p->gid) || setresuid(p->uid, p->uid, p->uid))
		return -errno;
	/* Paranoia as the setuid(2) man page advises: root must be gone for good. */
	if (p->uid != 0 && (setuid(0) == 0 || seteuid(0) == 0))
		return -EPERM;
	return 0;
}

int privs_fix_home(void)
{
	const char *home = getenv("HOME");
	struct passwd *pw;

	if (getuid() == 0 || (home && *home && access(home, R_OK | X_OK) == 0))
		return 0;
	pw = getpwuid(getuid());
	if (!pw || !pw->pw_dir || (home && strcmp(home, pw->pw_dir) == 0))
		return 0;
	return set_user_env(pw) == 0;
}
