/* fuzz_snap: arbitrary JSON answers through snap_new (with and without show_secrets); checks the
 * directory names, by-name links and key values every listing is built from. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "query.h"
#include "snap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

const char *const fuzz_seeds[] = {
	"[{\"InstanceId\":\"dsw-1\",\"InstanceName\":\"a\",\"WorkspaceId\":\"40823\","
	"\"Status\":\"Running\",\"AcceleratorType\":\"GPU\",\"PaymentType\":\"PayAsYouGo\","
	"\"Accessibility\":\"PRIVATE\",\"UserId\":\"1612285282502324\",\"ResourceId\":\"r-1\"},"
	"{\"InstanceId\":\"dsw-2\",\"InstanceName\":\"a\",\"WorkspaceId\":40823}]",
	"[{\"InstanceId\":123456789,\"InstanceName\":\"n\"},{\"InstanceId\":\"123456789\"},"
	"{\"InstanceId\":\"\"},{\"InstanceId\":1.5},{\"InstanceId\":true},{\"InstanceId\":null},"
	"{\"InstanceId\":-0},{\"InstanceId\":9007199254740993},{}, 42, \"dsw-s\", null, []]",
	"[{\"InstanceId\":\"dsw-a\",\"InstanceName\":\"x@dsw-b\"},{\"InstanceId\":\"dsw-b\","
	"\"InstanceName\":\"x\"},{\"InstanceId\":\"dsw-c\",\"InstanceName\":\"x\"},"
	"{\"InstanceId\":\"dsw-d\"},{\"InstanceId\":\"dsw-e\",\"InstanceName\":\"@dsw-d\"}]",
	"[{\"InstanceId\":\"..\",\"InstanceName\":\".\"},{\"InstanceId\":\".\",\"InstanceName\":\"..\"},"
	"{\"InstanceId\":\"a/b\",\"InstanceName\":\"a/b\"},{\"InstanceId\":\"a%2Fb\","
	"\"InstanceName\":\"a%2Fb\"},{\"InstanceId\":\"x\\u0000y\",\"InstanceName\":\"\\u0001\\n\"}]",
	"[{\"InstanceId\":\"dsw-long\",\"InstanceName\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	"xxxxxxxxxxxxxx"
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	"xxxxxxxxxxxxxxxxxxxxx\"},{\"InstanceId\":\"dsw-long2\",\"InstanceName\":\"\\u6d4b\\u8bd5"
	"\\u6d4b\\u8bd5\\u6d4b\\u8bd5\\u6d4b\\u8bd5\\u6d4b\\u8bd5\\u6d4b\\u8bd5\\u6d4b\\u8bd5\\u6d4b"
	"\\u8bd5\\u6d4b\\u8bd5\\u6d4b\\u8bd5\\u6d4b\\u8bd5\\u6d4b\\u8bd5\\u6d4b\\u8bd5\"}]",
	"[{\"InstanceId\":\"dsw-l\",\"Labels\":[{\"Key\":\"team\",\"Value\":\"nlp\"},{\"Key\":\"a=b\","
	"\"Value\":\"c\"},{\"Key\":\"k\",\"Value\":5}],\"Tags\":[{\"TagKey\":\"env\",\"TagValue\":"
	"\"prod\"},{\"Key\":\"k\",\"Value\":\"v/w\"}],\"RequestedResource\":{\"GPUType\":\"NVIDIA A10\"}},"
	"{\"InstanceId\":\"dsw-m\",\"Labels\":{\"team\":\"cv\"},\"Status\":\"Runing\"}]",
	"[{\"InstanceId\":\"dsw-s\",\"ServiceConfig\":{\"CodeServerPassword\":\"p\",\"JupyterServerAuth\":"
	"\"pw\"},\"EnvironmentVariables\":{\"TOKEN\":\"t\"},\"UserVpc\":{\"SecretKey\":\"k\"},"
	"\"ImageAuth\":\"c2VjcmV0\",\"GmtCreateTime\":\"2024-01-02T03:04:05Z\","
	"\"GmtModifiedTime\":\"yesterday\",\"Priority\":1e300,\"Datasets\":[]}]",
	"{\"Instances\":[{\"InstanceId\":\"dsw-o\"}],\"TotalCount\":1}",
	"dsw-1,a\ndsw-2,a\ndsw-3\n,empty\n#42,n\n#42.5,f\na@b,a\ndsw-1,again\n..,..\n/,/",
	"x,a@dsw-2\ndsw-2,a\ndsw-3,a\n\xc3\xa9,\xe6\xb5\x8b\n%2F,a%2Fb\n\x01,\x7f",
	"[]",
	"null",
	"",
	NULL,
};

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A name that can be one directory entry: non-empty, at most 255 bytes, no '/', not . or .. */
static void check_entry_name(const char *name)
{
	size_t len;

	if (!name)
		abort();
	len = strlen(name);
	if (len == 0 || len > 255 || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
		abort();
}

/* Sorts names (a scratch array of n) and aborts on a repeat. */
static void check_unique(const char **names, size_t n)
{
	qsort(names, n, sizeof(*names), cmp_strp);
	for (size_t i = 1; i < n; i++)
		if (strcmp(names[i - 1], names[i]) == 0)
			abort();
}

/* Each value a key directory lists reads back as a value of that key, once, in order; for
 * the exact-match keys dswfs narrows, the instance it came from matches it or is undecided. */
static void check_key_values(struct snap *s)
{
	for (int k = 0; k < QK__COUNT; k++) {
		size_t n = 0;
		const char *const *v = snap_key_values(s, (enum query_key)k, &n);

		if (n && !v)
			abort();
		for (size_t i = 0; i < n; i++) {
			check_entry_name(v[i]);
			if (!query_value_valid((enum query_key)k, v[i]))
				abort();
			if (i && strcmp(v[i - 1], v[i]) >= 0)
				abort();
		}
		if (snap_key_values(s, (enum query_key)k, &n) != v)
			abort();	/* computed once */
	}
	for (size_t i = 0; i < snap_count(s); i++) {
		static const enum query_key exact[] = { QK_WORKSPACE_ID, QK_INSTANCE_ID, QK_STATUS,
							QK_PAYMENT_TYPE, QK_ACCESSIBILITY,
							QK_ACCELERATOR_TYPE };
		cJSON *inst = snap_parse(s, i), *keys = snap_parse_keys(s, i);

		for (size_t e = 0; e < sizeof(exact) / sizeof(exact[0]); e++) {
			const cJSON *m = cJSON_GetObjectItemCaseSensitive(
				inst, query_key_param(exact[e]));

			/* narrowing reads the key members' own text: it must agree */
			if (inst && keys && (!snap_keys_cover(query_key_param(exact[e])) ||
					     !cJSON_Compare(m, cJSON_GetObjectItemCaseSensitive(
							keys, query_key_param(exact[e])), true)) &&
			    m)
				abort();
			size_t n = 0;
			const char *const *v = snap_key_values(s, exact[e], &n);

			for (size_t j = 0; j < n; j++) {
				int rc = query_field_match(m, v[j], false);

				if (rc != 0 && rc != 1 && rc != -EDOM)
					abort();
			}
		}
		cJSON_Delete(inst);
		cJSON_Delete(keys);
	}
}

static void check_snap(struct snap *s, size_t total)
{
	size_t n = snap_count(s);
	const char **names = calloc(n + 1, sizeof(*names));

	if (!names)
		return;
	if (n + snap_dropped(s) != total)
		abort();
	for (size_t i = 0; i < n; i++) {
		names[i] = snap_dirname(s, i);
		check_entry_name(names[i]);
		if (snap_find(s, names[i]) != (long)i)
			abort();
		{
			size_t len = 0;
			const char *t = snap_text(s, i, &len);
			cJSON *back = t ? cJSON_ParseWithLength(t, len) : NULL;

			/* every kept instance's text reads back as an object (ENOMEM aside) */
			if (!t || strlen(t) != len || (back && !cJSON_IsObject(back)))
				abort();
			cJSON_Delete(back);
		}
	}
	check_unique(names, n);
	if (snap_find(s, "") != -ENOENT || snap_dirname(s, n) != NULL)
		abort();
	for (size_t i = 0; i < n; i++) {
		const char *link = snap_link_name(s, i);

		if (!link)
			goto out;	/* ENOMEM only */
		check_entry_name(link);
		if (snap_link_find(s, link) != (long)i)
			abort();
		names[i] = link;
	}
	check_unique(names, n);
	if (snap_link_name(s, n) != NULL)
		abort();
	/* the group views: valid unique names, each found again, targets among the group's ids */
	for (int v = SNAP_LINKS_WORKSPACES; v <= SNAP_LINKS_USERS; v++) {
		size_t m = snap_links_count(s, v), nids = 0;
		const char *const *ids = snap_key_values(s, v == SNAP_LINKS_WORKSPACES ?
							 QK_WORKSPACE_ID : QK_CREATE_USER_ID, &nids);
		const char **gnames = calloc(m ? m : 1, sizeof(*gnames));

		if (!gnames)
			abort();
		if (m && m != nids)
			abort();
		for (size_t i = 0; i < m; i++) {
			gnames[i] = snap_links_name(s, v, i);
			check_entry_name(gnames[i]);
			if (snap_links_find(s, v, gnames[i]) != (long)i ||
			    strcmp(snap_links_target(s, v, i), ids[i]))
				abort();
		}
		check_unique(gnames, m);
		free(gnames);
	}
	check_key_values(s);
	{
		struct snap_views *vc = NULL;
		struct snap_view *v;

		if (snap_views_new(2, &vc) == 0) {
			for (size_t i = 0; i < n && i < 4; i++) {
				if (snap_view_instance(vc, s, i, &v))
					continue;
				(void)render_bytes(snap_view_root(v));
				snap_view_put(v);
			}
			{
				char b[512];
				size_t len = 0, got;

				if (snap_instances_json_size(s, &len) == 0 && len > 100)
					(void)snap_instances_json_read(s, b, sizeof(b), len - 100, &got);
			}
			snap_views_free(vc);
		}
	}
out:
	free(names);
}

/* Input that is not JSON still makes instances (most mutations break the JSON): each line is
 * "<id>,<name>" (no comma: id only; an id after '#' is a number), so arbitrary bytes reach
 * escaping, by-name suffixes and collisions. */
static cJSON *lines_to_instances(const char *text)
{
	cJSON *arr = cJSON_CreateArray();

	for (const char *p = text; arr && *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char *line = strndup(p, len), *comma;
		cJSON *o = cJSON_CreateObject();

		if (!line || !o) {
			free(line);
			cJSON_Delete(o);
			cJSON_Delete(arr);
			return NULL;
		}
		comma = strchr(line, ',');
		if (comma) {
			*comma = '\0';
			cJSON_AddStringToObject(o, "InstanceName", comma + 1);
		}
		if (line[0] == '#')
			cJSON_AddNumberToObject(o, "InstanceId", strtod(line + 1, NULL));
		else
			cJSON_AddStringToObject(o, "InstanceId", line);
		cJSON_AddItemToArray(arr, o);
		free(line);
		p += len + (nl ? 1 : 0);
	}
	return arr;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	struct snap *plain = NULL, *secret = NULL;
	cJSON *j, *arr;
	size_t total;
	int rc;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	j = cJSON_Parse(text);
	if (!j)
		j = lines_to_instances(text);
	free(text);
	if (!j)
		return 0;
	/* An answer object is taken for its Instances, so both seed shapes reach the index. */
	arr = cJSON_IsObject(j) ? cJSON_DetachItemFromObjectCaseSensitive(j, "Instances") : NULL;
	if (arr) {
		cJSON_Delete(j);
		j = arr;
	}
	if (!cJSON_IsArray(j)) {
		if (snap_new(j, false, 0, &plain) != -EINVAL || plain)
			abort();
		return 0;
	}
	total = (size_t)cJSON_GetArraySize(j);
	arr = cJSON_Duplicate(j, 1);
	rc = snap_new(j, false, 1000, &plain);
	if (rc == 0)
		check_snap(plain, total);
	else if (rc != -ENOMEM)
		abort();
	if (arr) {
		rc = snap_new(arr, true, 1000, &secret);
		if (rc == 0) {
			check_snap(secret, total);
			/* redaction never touches ids: the same instances, the same names */
			if (plain) {
				if (snap_count(plain) != snap_count(secret))
					abort();
				for (size_t i = 0; i < snap_count(plain); i++)
					if (strcmp(snap_dirname(plain, i), snap_dirname(secret, i)))
						abort();
			}
		} else if (rc != -ENOMEM) {
			abort();
		}
	}
	snap_unref(plain);
	snap_unref(secret);
	return 0;
}
