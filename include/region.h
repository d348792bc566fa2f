/* region: region lists and endpoints for multi-region mounts (-o regions=). Pure. */
#ifndef DSWFS_REGION_H
#define DSWFS_REGION_H

#include <stdbool.h>
#include <stddef.h>

/* At most this many regions in one mount. */
#define REGION_MAX 32
/* Longest region id, NUL excluded ("cn-wulanchabu", "ap-southeast-1": far shorter). */
#define REGION_ID_MAX 48

/* Whether id can be a region id: 1 to REGION_ID_MAX bytes of a-z, 0-9 and '-', not starting or
 * ending with '-'. It becomes a directory name and a host name label, so nothing else is let
 * in. */
bool region_id_valid(const char *id);

/* Splits a region list: ids separated by ':', '+' or ',' (FUSE's -o parsing splits on commas,
 * so a comma arrives only escaped as "\,"); blanks around ids are ignored. Returns the count
 * and *out (a NULL-terminated array, free with region_list_free), or -EINVAL with a reason in
 * why (an empty list or id, an invalid id, a repeated id, more than REGION_MAX), -ENOMEM. */
int region_list_parse(const char *text, char ***out, char *why, size_t why_len);

void region_list_free(char **list);

/* The official endpoint of a region: https://pai-dsw.<id>.aliyuncs.com, or with vpc
 * https://pai-dsw-vpc.<id>.aliyuncs.com. Caller frees; NULL on ENOMEM. */
char *region_endpoint(const char *id, bool vpc);

#endif
