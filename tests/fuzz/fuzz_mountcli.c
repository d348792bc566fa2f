/* fuzz_mountcli: arbitrary mount SOURCEs and mountinfo text; checks what the parsers promise. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mountpoint.h"
#include "opts.h"

const char *const fuzz_seeds[] = {
	"dswfs",
	"default@cn-shanghai",
	"work@",
	"cn-hangzhou",
	"prod@https://pai-dsw.cn-beijing.aliyuncs.com",
	"http://u@127.0.0.1:8080",
	"22 1 8:1 / / rw shared:1 - ext4 /dev/sda1 rw\n"
	"32 31 0:42 / /mnt/dsw rw - fuse.dswfs default@cn-shanghai rw\n",
	"33 22 0:43 / /home/a\\040b rw - autofs systemd-1 rw",
	NULL,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), *p, *r, *e, why[256];
	struct mountpoint_entry *m = malloc(sizeof(*m));
	int rc;

	if (!s || !m)
		abort();
	memcpy(s, data, size);
	s[size] = 0;
	rc = opts_source_parse(s, &p, &r, &e, why, sizeof(why));
	/* Accepted: never both a region and an endpoint, and each part is a piece of the input. */
	if (rc == 0 && ((r && e) || (p && !strstr(s, p)) || (r && !strstr(s, r)) ||
			(e && !strstr(s, e))))
		abort();
	if (rc != 0 && (rc != -EINVAL || p || r || e))
		abort();
	free(p);
	free(r);
	free(e);
	/* The input as a mount table (not NUL-terminated: the parser must not run past size). */
	if (mountpoint_find((const char *)data, size, "/mnt/dsw/x", m) == 0 &&
	    (m->dir[0] != '/' || strlen(m->fstype) >= sizeof(m->fstype)))
		abort();
	free(m);
	free(s);
	return 0;
}
