/* mountpoint: refuses mount points inside another dswfs mount, and non-empty ones unless asked. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mountpoint.h"

/* Copies the field at *p (ended by a space, newline or end) into dst, undoing the kernel's
 * octal escapes (\040 space, \011 tab, \012 newline, \134 backslash); advances *p past it. */
static void take_field(const char **p, const char *end, char *dst, size_t cap)
{
	const char *s = *p;
	size_t n = 0;

	while (s < end && *s != ' ' && *s != '\n') {
		char c = *s++;

		if (c == '\\' && end - s >= 3 && s[0] >= '0' && s[0] <= '3' && s[1] >= '0' &&
		    s[1] <= '7' && s[2] >= '0' && s[2] <= '7') {
			c = (char)((s[0] - '0') * 64 + (s[1] - '0') * 8 + (s[2] - '0'));
			s += 3;
		}
		if (n + 1 < cap)
			dst[n++] = c;
	}
	dst[n] = 0;
	if (s < end && *s == ' ')
		s++;
	*p = s;
}

static void skip_field(const char **p, const char *end)
{
	const char *s = *p;

	while (s < end && *s != ' ' && *s != '\n')
		s++;
	if (s < end && *s == ' ')
		s++;
	*p = s;
}

/* Whether dir is path or one of its parents. */
static size_t covers(const char *dir, const char *path)
{
	size_t n = strlen(dir);

	if (strcmp(dir, "/") == 0)
		return 1;
	if (strncmp(dir, path, n) != 0 || (path[n] != 0 && path[n] != '/'))
		return 0;
	return n;
}

int mountpoint_find(const char *mountinfo, size_t len, const char *path,
		    struct mountpoint_entry *out)
{
	const char *p = mountinfo, *end = mountinfo + len;
	struct mountpoint_entry e;
	size_t best = 0;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *lend = eol ? eol : end;
		const char *q = p;
		size_t n;

		/* id parent major:minor root MOUNTPOINT options [optional...] - FSTYPE SOURCE */
		e.id = strtol(q, NULL, 10);
		for (int i = 0; i < 4; i++)
			skip_field(&q, lend);
		take_field(&q, lend, e.dir, sizeof(e.dir));
		while (q < lend && !(q[0] == '-' && (q + 1 == lend || q[1] == ' ') &&
				     q[-1] == ' '))
			skip_field(&q, lend);
		if (q < lend && e.dir[0] == '/') {
			skip_field(&q, lend);	/* the "-" */
			take_field(&q, lend, e.fstype, sizeof(e.fstype));
			take_field(&q, lend, e.source, sizeof(e.source));
			n = covers(e.dir, path);
			if (n && n >= best) {
				best = n;
				*out = e;
			}
		}
		p = eol ? eol + 1 : end;
	}
	return best ? 0 : -ENOENT;
}

/* The whole of /proc/self/mountinfo (it cannot be sized in advance), NUL-terminated. */
static char *read_mountinfo(size_t *len)
{
	size_t cap = 1 << 16, n = 0;
	char *buf = NULL, *nb;
	ssize_t r;
	int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	for (;;) {
		if (!buf || n + 1 >= cap) {
			if (buf)
				cap *= 2;
			if (cap > (64u << 20) || !(nb = realloc(buf, cap)))
				goto fail;
			buf = nb;
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto fail;
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = 0;
	*len = n;
	return buf;
fail:
	close(fd);
	free(buf);
	return NULL;
}

long mountpoint_id(const char *path)
{
	struct mountpoint_entry *e = malloc(sizeof(*e));
	size_t len = 0;
	char *info = read_mountinfo(&len);
	long id = -1;

	if (e && info && mountpoint_find(info, len, path, e) == 0 && strcmp(e->dir, path) == 0)
		id = e->id;
	free(info);
	free(e);
	return id;
}

bool mountpoint_present(long id)
{
	size_t len = 0;
	char *info = read_mountinfo(&len), *p;
	bool found = false;

	if (!info)
		return true;
	for (p = info; p && *p && !found; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		found = strtol(p, NULL, 10) == id;
	free(info);
	return found;
}

int mountpoint_check(const char *path, bool nonempty, char *why, size_t whylen)
{
	struct mountpoint_entry *e;
	struct dirent *de;
	size_t len = 0;
	char *info;
	DIR *d;
	int rc = 0;

	if (strncmp(path, "/dev/fd/", 8) == 0)
		return 0;
	e = malloc(sizeof(*e));
	if (!e) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	info = read_mountinfo(&len);
	/* Without a mount table (no /proc) only the emptiness check is left. */
	if (info && mountpoint_find(info, len, path, e) == 0) {
		if (strcmp(e->fstype, "fuse.dswfs") == 0) {
			if (strcmp(e->dir, path) == 0)
				snprintf(why, whylen, "%s is already a dswfs mount (of %s); unmount "
					 "it first (fusermount3 -u %s)", path, e->source, path);
			else
				snprintf(why, whylen, "%s is inside the dswfs mount at %s (of %s)",
					 path, e->dir, e->source);
			rc = -EBUSY;
			goto out;
		}
		if (strcmp(e->fstype, "autofs") == 0 && strcmp(e->dir, path) == 0)
			goto out;
	}
	if (nonempty)
		goto out;
	d = opendir(path);
	if (!d) {
		rc = -errno;
		snprintf(why, whylen, "mount point %s: %s", path, strerror(errno));
		goto out;
	}
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			snprintf(why, whylen, "mount point %s is not empty (-o nonempty mounts "
				 "over it, hiding its files)", path);
			rc = -ENOTEMPTY;
			break;
		}
	}
	closedir(d);
out:
	free(info);
	free(e);
	return rc;
}
