/* fuzz_query: arbitrary mount paths through path_parse and path_hint; checks the canonical
 * form's laws. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "path.h"
#include "query.h"
#include "sign.h"

const char *const fuzz_seeds[] = {
	"/",
	"/instances",
	"/workspaces",
	"/by-name",
	"/.dswfs",
	"/.dswfs/stats",
	"/.dswfs/refresh",
	"/by-name/training_data",
	"/by-name/alpha@dsw-aaa",
	"/by-name/a%2Fb",
	"/instances/instances.json",
	"/instances/.query",
	"/instances/dsw-730xxxxxxxxxx",
	"/instances/dsw-730xxxxxxxxxx/Status",
	"/instances/dsw-730xxxxxxxxxx/RequestedResource/CPU",
	"/instances/dsw-730xxxxxxxxxx/Datasets.json",
	"/workspaces/40823",
	"/workspaces/040823",
	"/workspaces/40823.0/instance-id/-7,+7,007, 7,0",
	"/workspaces/40823/status/Running/accelerator-type/GPU",
	"/workspaces/40823/status/Running/accelerator-type/GPU/instances.json",
	"/workspaces/40823/status/Running/dsw-730xxxxxxxxxx/LatestSnapshot/Status",
	"/instances/status/Running,Stopped/payment-type/PayAsYouGo/accessibility/PUBLIC",
	"/instances/label/stsTokenOwner=123xxxxxxxx/tag/tag1=value1/.query",
	"/instances/label/a=1/label/b=2/label/c=3/label/d=4",
	"/instances/tag/k=1/tag/k=2/tag/a=/tag/z=z=z",
	"/instances/min-cpu/2000/max-cpu/30000/min-gpu/100/max-gpu/8000",
	"/instances/min-memory/4/max-memory/48/min-gpu-memory/8/max-gpu-memory/16",
	"/instances/create-time-after/2024-01-12T14:36:01Z/create-time-before/2024-01-12T15:36:01Z",
	"/instances/gpu-type/NVIDIA A10/image-name/modelscope:1.9.4-pytorch2.0.1tensorflow2.13.0-cpu-py38-ubuntu20.04",
	"/instances/create-user-id/12345*****67890/instance-name/training_data",
	"/instances/instance-id/dsw-1,dsw-2/resource-id/ALL/workspace-id/ALL",
	"/instances/oversold-info/ForceQuotaOverSold/oversold-type/AcceptQuotaOverSold",
	"/instances/instance-name/\xe6\xb5\x8b\xe8\xaf\x95 nb\n/label/\xe5\x9b\xa2=\"q\\",
	"/workspaces/1/workspace-id/2",
	"/instances/status/Runing",
	"/instances//status",
	"/instances/../by-name",
	"/nope",
	"/instances/status",
	"/instances/label",
	"/workspaces-by-name/training_data",
	"/users",
	"/users/1612285282502324/status/Running/dsw-1/Status",
	"/users-by-name/%2E%2E@1",
	"/instances/create-time-after/2025-01-01",
	"/instances/stauts/Runing",
	"/workspaces/abc",
	NULL,
};

static void fail(const char *what, const char *path)
{
	fprintf(stderr, "fuzz_query: %s for path \"%s\"\n", what, path);
	abort();
}

static int node_has_query(enum path_node n)
{
	return n == PATH_QUERY_DIR || n == PATH_KEY_DIR || n == PATH_INSTANCES_JSON ||
	       n == PATH_QUERY_INFO || n == PATH_INSTANCE;
}

static int name_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	return n > 0 && n < 256 && !strchr(s, '/') && strcmp(s, ".") && strcmp(s, "..");
}

/* Labels: an object of at most 4 strings with strictly increasing keys; Tag: an array of at
 * most 4 {"Key","Value"} in order. */
static void check_json_params(const struct sign_kv *kv, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++) {
		cJSON *j, *it, *prev = NULL;
		int count = 0;

		if (strcmp(kv[i].name, "Labels") && strcmp(kv[i].name, "Tag"))
			continue;
		j = cJSON_Parse(kv[i].value);
		if (!j)
			fail("unparseable JSON parameter", path);
		if (!strcmp(kv[i].name, "Labels") ? !cJSON_IsObject(j) : !cJSON_IsArray(j))
			fail("JSON parameter of the wrong shape", path);
		cJSON_ArrayForEach(it, j) {
			count++;
			if (!strcmp(kv[i].name, "Labels")) {
				if (!cJSON_IsString(it) || !it->string[0])
					fail("bad label", path);
				if (prev && strcmp(prev->string, it->string) >= 0)
					fail("labels not sorted", path);
			} else {
				const char *k = cJSON_GetStringValue(cJSON_GetObjectItem(it, "Key"));
				const char *v = cJSON_GetStringValue(cJSON_GetObjectItem(it, "Value"));

				if (!k || !v || !*k)
					fail("bad tag", path);
				if (prev) {
					const char *pk = cJSON_GetStringValue(
						cJSON_GetObjectItem(prev, "Key"));
					const char *pv = cJSON_GetStringValue(
						cJSON_GetObjectItem(prev, "Value"));
					int c = strcmp(pk, k);

					if (c > 0 || (c == 0 && strcmp(pv, v) >= 0))
						fail("tags not sorted", path);
				}
			}
			prev = it;
		}
		if (count < 1 || count > QUERY_MAX_LABELS)
			fail("wrong number of labels/tags", path);
		cJSON_Delete(j);
	}
}

/* /instances/k1/v1/k2/v2 (or /workspaces/ID/...) with the pairs reversed, all under
 * /instances: the same query. Returns NULL when the path has another shape. */
static char *reversed(const char *path)
{
	const char *comp[2100];
	size_t len[2100], n = 0, start, total = 0;
	const char *p = path + 1;
	char *out, *o;

	for (;;) {
		const char *slash = strchr(p, '/');

		if (n == sizeof(comp) / sizeof(comp[0]))
			return NULL;
		comp[n] = p;
		len[n] = slash ? (size_t)(slash - p) : strlen(p);
		total += len[n] + 1;
		n++;
		if (!slash)
			break;
		p = slash + 1;
	}
	if (len[0] == 10 && !memcmp(comp[0], "workspaces", 10)) {
		comp[0] = "workspace-id";
		len[0] = 12;
		total += 12;
		start = 0;
	} else {
		start = 1;
	}
	if ((n - start) % 2)
		return NULL;
	out = malloc(total + 16);
	if (!out)
		return NULL;
	o = out + sprintf(out, "/instances");
	for (size_t i = n; i > start; i -= 2) {
		o += sprintf(o, "/%.*s", (int)len[i - 2], comp[i - 2]);
		o += sprintf(o, "/%.*s", (int)len[i - 1], comp[i - 1]);
	}
	return out;
}

/* query_field_match's laws for a value a path asked for: the member sent as that very string
 * matches or is undecided, never a plain "no"; a number matches exactly when the value is its
 * canonical text; every answer is 1, 0 or -EDOM. */
static void check_field_match(const char *value, const char *path)
{
	cJSON *str = cJSON_CreateString(value), *num = cJSON_CreateNumber(strtod(value, NULL));
	char text[QUERY_INT_TEXT];
	int a, b, c;

	if (!str || !num)
		abort();
	a = query_field_match(str, value, false);
	b = query_field_match(str, value, true);
	c = query_field_match(num, value, false);
	if ((a != 1 && a != -EDOM) || (b != 0 && b != 1 && b != -EDOM) ||
	    (c != 0 && c != 1 && c != -EDOM))
		fail("field match out of range", path);
	if (query_int_text(num, text) == 0 && strcmp(text, value) == 0 && (a != 1 || c != 1))
		fail("a canonical integer does not match its number", path);
	if (c == 1 && (query_int_text(num, text) || strcmp(text, value)))
		fail("a number matched another spelling", path);
	if (query_field_match(NULL, value, false) != 0)
		fail("a missing member matched", path);
	cJSON_Delete(str);
	cJSON_Delete(num);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct query *base = query_new("ALL", "ALL");
	struct path_info qp, qp2;
	struct sign_kv *kv = NULL;
	char *path = malloc(size + 1), *qs, *rev;
	size_t n = 0;
	int rc;

	if (!base || !path)
		abort();
	memcpy(path, data, size);
	path[size] = 0;
	{
		char hint[48];

		memset(hint, 'x', sizeof(hint));
		if (path_hint(path, hint, sizeof(hint)) && !memchr(hint, 0, sizeof(hint)))
			fail("hint not terminated", path);
	}
	rc = path_parse(path, base, &qp);
	if (rc != 0 && rc != -ENOENT && rc != -ENAMETOOLONG)
		fail("unexpected error", path);
	if (rc) {
		if (qp.query)
			fail("query left behind on error", path);
		goto out;
	}
	if (!!qp.query != node_has_query(qp.node))
		fail("query presence does not match the node", path);
	if ((qp.node == PATH_INSTANCE || qp.node == PATH_LINK || qp.node == PATH_CTL_FILE) &&
	    !name_ok(qp.name))
		fail("invalid name", path);
	if (qp.node == PATH_INSTANCE &&
	    (!qp.rest || qp.rest < path || qp.rest > path + size || qp.rest[0] == '/'))
		fail("bad rest", path);
	if (qp.node == PATH_KEY_DIR && (qp.key < 0 || qp.key >= QK__COUNT))
		fail("bad key", path);
	if (!qp.query)
		goto out_qp;

	if (!query_canonical(qp.query))
		fail("no canonical form", path);
	if (query_params(qp.query, &kv, &n))
		abort();
	for (size_t i = 1; i < n; i++)
		if (strcmp(kv[i - 1].name, kv[i].name) >= 0)
			fail("params not sorted", path);
	for (size_t i = 0; i < n; i++)
		check_field_match(kv[i].value, path);
	check_json_params(kv, n, path);
	qs = sign_query_string(kv, n);
	if (!qs || strcmp(qs, query_canonical(qp.query)))
		fail("params do not give the canonical string", path);
	free(qs);
	free(kv);

	/* stable under re-parse and copy */
	if (path_parse(path, base, &qp2) || qp2.node != qp.node ||
	    strcmp(query_canonical(qp2.query), query_canonical(qp.query)))
		fail("re-parse differs", path);
	path_free(&qp2);
	{
		struct query *d = query_dup(qp.query);

		if (!d || strcmp(query_canonical(d), query_canonical(qp.query)))
			fail("dup differs", path);
		query_free(d);
	}

	/* the filters in another order (and workspaces/ID as workspace-id/ID) mean the same */
	if (qp.node == PATH_QUERY_DIR && (rev = reversed(path)) != NULL) {
		rc = path_parse(rev, base, &qp2);
		if (rc == 0) {
			if (qp2.node != PATH_QUERY_DIR ||
			    strcmp(query_canonical(qp2.query), query_canonical(qp.query)))
				fail("reordered path differs", rev);
			path_free(&qp2);
		} else if (rc != -ENAMETOOLONG) {
			fail("reordered path rejected", rev);
		}
		free(rev);
	}
out_qp:
	path_free(&qp);
out:
	free(path);
	query_free(base);
	return 0;
}
