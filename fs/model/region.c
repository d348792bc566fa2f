/* region: parsing -o regions= lists and deriving each region's official endpoint. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "region.h"

bool region_id_valid(const char *id)
{
	size_t n = id ? strlen(id) : 0;

	if (n == 0 || n > REGION_ID_MAX || id[0] == '-' || id[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= '0' && id[i] <= '9') ||
		      id[i] == '-'))
			return false;
	return true;
}

void region_list_free(char **list)
{
	for (size_t i = 0; list && list[i]; i++)
		free(list[i]);
	free(list);
}

static bool is_sep(char c)
{
	return c == ':' || c == '+' || c == ',';
}

int region_list_parse(const char *text, char ***out, char *why, size_t why_len)
{
	char **list = calloc(REGION_MAX + 1, sizeof(*list));
	const char *p = text ? text : "";
	size_t n = 0;
	int rc = -EINVAL;

	*out = NULL;
	if (!list)
		return -ENOMEM;
	for (;;) {
		const char *start, *end;
		char id[REGION_ID_MAX + 1];
		size_t len;

		while (*p == ' ' || *p == '\t')
			p++;
		start = p;
		while (*p && !is_sep(*p))
			p++;
		end = p;
		while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		len = (size_t)(end - start);
		if (len == 0) {
			snprintf(why, why_len, "empty region id in the list \"%.64s\"", text ? text : "");
			goto out_fail;
		}
		if (len > REGION_ID_MAX) {
			snprintf(why, why_len, "region id \"%.*s...\" is longer than %d bytes", 16, start,
				 REGION_ID_MAX);
			goto out_fail;
		}
		memcpy(id, start, len);
		id[len] = 0;
		if (!region_id_valid(id)) {
			snprintf(why, why_len, "\"%s\" is not a region id (lower-case letters, digits "
				 "and '-', e.g. cn-hangzhou)", id);
			goto out_fail;
		}
		for (size_t i = 0; i < n; i++)
			if (strcmp(list[i], id) == 0) {
				snprintf(why, why_len, "region %s is listed twice", id);
				goto out_fail;
			}
		if (n == REGION_MAX) {
			snprintf(why, why_len, "more than %d regions", REGION_MAX);
			goto out_fail;
		}
		list[n] = strdup(id);
		if (!list[n]) {
			rc = -ENOMEM;
			goto out_fail;
		}
		n++;
		if (!*p)
			break;
		p++;
	}
	*out = list;
	return (int)n;
out_fail:
	region_list_free(list);
	return rc;
}

char *region_endpoint(const char *id, bool vpc)
{
	char *url;

	if (asprintf(&url, "https://pai-dsw%s.%s.aliyuncs.com", vpc ? "-vpc" : "", id) < 0)
		return NULL;
	return url;
}
