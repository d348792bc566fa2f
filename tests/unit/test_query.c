/* test_query: filter keys, value validation, canonical queries, and the queries mount paths build. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "path.h"
#include "query.h"
#include "sign.h"
#include "tf.h"
#include "alloc_fail.h"
#include "fixture.h"

static const struct {
	enum query_key k;
	const char *dir, *param;
} key_table[] = {
	{ QK_WORKSPACE_ID, "workspace-id", "WorkspaceId" },
	{ QK_INSTANCE_ID, "instance-id", "InstanceId" },
	{ QK_INSTANCE_NAME, "instance-name", "InstanceName" },
	{ QK_RESOURCE_ID, "resource-id", "ResourceId" },
	{ QK_STATUS, "status", "Status" },
	{ QK_PAYMENT_TYPE, "payment-type", "PaymentType" },
	{ QK_ACCESSIBILITY, "accessibility", "Accessibility" },
	{ QK_ACCELERATOR_TYPE, "accelerator-type", "AcceleratorType" },
	{ QK_GPU_TYPE, "gpu-type", "GpuType" },
	{ QK_IMAGE_NAME, "image-name", "ImageName" },
	{ QK_CREATE_USER_ID, "create-user-id", "CreateUserId" },
	{ QK_MIN_CPU, "min-cpu", "MinCpu" },
	{ QK_MAX_CPU, "max-cpu", "MaxCpu" },
	{ QK_MIN_GPU, "min-gpu", "MinGpu" },
	{ QK_MAX_GPU, "max-gpu", "MaxGpu" },
	{ QK_MIN_MEMORY, "min-memory", "MinMemory" },
	{ QK_MAX_MEMORY, "max-memory", "MaxMemory" },
	{ QK_MIN_GPU_MEMORY, "min-gpu-memory", "MinGpuMemory" },
	{ QK_MAX_GPU_MEMORY, "max-gpu-memory", "MaxGpuMemory" },
	{ QK_CREATE_TIME_AFTER, "create-time-after", "CreateTimeAfter" },
	{ QK_CREATE_TIME_BEFORE, "create-time-before", "CreateTimeBefore" },
	{ QK_OVERSOLD_INFO, "oversold-info", "OversoldInfo" },
	{ QK_OVERSOLD_TYPE, "oversold-type", "OversoldType" },
	{ QK_LABEL, "label", "Labels" },
	{ QK_TAG, "tag", "Tag" },
};
#define NKEYS (sizeof(key_table) / sizeof(key_table[0]))

/* A valid value for every key. */
static const char *sample_value(enum query_key k)
{
	switch (k) {
	case QK_STATUS: return "Running";
	case QK_PAYMENT_TYPE: return "PayAsYouGo";
	case QK_ACCESSIBILITY: return "PUBLIC";
	case QK_ACCELERATOR_TYPE: return "GPU";
	case QK_MIN_CPU: case QK_MAX_CPU: case QK_MIN_GPU: case QK_MAX_GPU:
	case QK_MIN_MEMORY: case QK_MAX_MEMORY: case QK_MIN_GPU_MEMORY: case QK_MAX_GPU_MEMORY:
		return "2000";
	case QK_CREATE_TIME_AFTER: return "2024-01-12T14:36:01Z";
	case QK_CREATE_TIME_BEFORE: return "2024-01-12T15:36:01Z";
	case QK_LABEL: return "team=nlp";
	case QK_TAG: return "env=prod";
	case QK_WORKSPACE_ID: return "40823";
	case QK_CREATE_USER_ID: return "1612285282502324";
	default: return "some value";
	}
}

static struct query *base_all(void)
{
	struct query *q = query_new("ALL", "ALL");

	CHECK(q != NULL);
	return q;
}

/* The canonical string of path over the ALL/ALL base (malloc'd), or NULL with *rc set. */
static char *canon_of(const char *path, int *rc)
{
	struct query *base = base_all();
	struct path_info qp;
	char *s = NULL;

	*rc = path_parse(path, base, &qp);
	if (*rc == 0 && qp.query)
		s = strdup(query_canonical(qp.query));
	path_free(&qp);
	query_free(base);
	return s;
}

static int parse_rc(const char *path)
{
	struct query *base = base_all();
	struct path_info qp;
	int rc = path_parse(path, base, &qp);

	if (rc == 0)
		path_free(&qp);
	else
		CHECK(qp.query == NULL);
	query_free(base);
	return rc;
}

static int parse_node(const char *path)
{
	struct query *base = base_all();
	struct path_info qp;
	int rc = path_parse(path, base, &qp), node = rc ? rc : (int)qp.node;

	path_free(&qp);
	query_free(base);
	return node;
}

TEST(key_names_and_params)
{
	CHECK_EQ_INT(NKEYS, QK__COUNT);
	for (size_t i = 0; i < NKEYS; i++) {
		CHECK_EQ_STR(query_key_dirname(key_table[i].k), key_table[i].dir);
		CHECK_EQ_STR(query_key_param(key_table[i].k), key_table[i].param);
		CHECK_EQ_INT(query_key_lookup(key_table[i].dir), key_table[i].k);
		/* API names and odd spellings are not directory names */
		CHECK_EQ_INT(query_key_lookup(key_table[i].param), -ENOENT);
	}
	CHECK_EQ_INT(query_key_lookup("Status"), -ENOENT);
	CHECK_EQ_INT(query_key_lookup("status "), -ENOENT);
	CHECK_EQ_INT(query_key_lookup("statu"), -ENOENT);
	CHECK_EQ_INT(query_key_lookup("labels"), -ENOENT);
	CHECK_EQ_INT(query_key_lookup("tags"), -ENOENT);
	CHECK_EQ_INT(query_key_lookup(""), -ENOENT);
	CHECK_EQ_INT(query_key_lookup(NULL), -ENOENT);
	CHECK(query_key_dirname(QK__COUNT) == NULL);
	CHECK(query_key_param((enum query_key)-1) == NULL);
}

TEST(valid_statuses)
{
	static const char *const all[] = {
		"Creating", "SaveFailed", "Stopped", "Failed", "ResourceAllocating", "Stopping",
		"Updating", "Saving", "Queuing", "Recovering", "Starting", "Running", "Saved",
		"Deleting", "EnvPreparing",
	};
	char list[512] = "";

	for (size_t i = 0; i < 15; i++) {
		CHECK(query_value_valid(QK_STATUS, all[i]));
		if (i)
			strcat(list, ",");
		strcat(list, all[i]);
	}
	CHECK(query_value_valid(QK_STATUS, list));
	CHECK(query_value_valid(QK_STATUS, "Running,Stopped"));
	CHECK(query_value_valid(QK_STATUS, "Stopped,Running,Stopped"));
	for (size_t i = 0; i < 15; i++)
		CHECK(query_value_documented(QK_STATUS, all[i]));
	CHECK(query_value_documented(QK_STATUS, list));
	/* Well-formed but undocumented: accepted (the API adds values), the server judges. */
	CHECK(query_value_valid(QK_STATUS, "Runing"));
	CHECK(query_value_valid(QK_STATUS, "running"));
	CHECK(query_value_valid(QK_STATUS, "RUNNING"));
	CHECK(query_value_valid(QK_STATUS, "Running,Runing"));
	CHECK(query_value_valid(QK_STATUS, "Runing,Running"));
	CHECK(query_value_valid(QK_STATUS, "Committing"));	/* a snapshot status */
	CHECK(query_value_valid(QK_STATUS, "Paused_2"));
	CHECK(!query_value_documented(QK_STATUS, "Runing"));
	CHECK(!query_value_documented(QK_STATUS, "Running,Runing"));
	CHECK(!query_value_documented(QK_STATUS, "Committing"));
	CHECK(!query_value_documented(QK_STATUS, NULL));
	/* Shapes no enumeration value has: names nothing. */
	CHECK(!query_value_valid(QK_STATUS, "2Running"));
	CHECK(!query_value_valid(QK_STATUS, "Run-ning"));
	CHECK(!query_value_valid(QK_STATUS, "Run ning"));
	CHECK(!query_value_valid(QK_STATUS, "Running\n"));
	CHECK(!query_value_valid(QK_STATUS, "R\xc3\xbcnning"));
	CHECK(!query_value_valid(QK_STATUS, "Running,"));
	CHECK(!query_value_valid(QK_STATUS, ",Running"));
	CHECK(!query_value_valid(QK_STATUS, "Running,,Stopped"));
	CHECK(!query_value_valid(QK_STATUS, "Running, Stopped"));
	CHECK(!query_value_valid(QK_STATUS, ","));
	CHECK(!query_value_valid(QK_STATUS, "Running "));
	CHECK(!query_value_valid(QK_STATUS, ""));
	CHECK(!query_value_valid(QK_STATUS, NULL));
}

TEST(valid_other_enumerations)
{
	CHECK(query_value_valid(QK_PAYMENT_TYPE, "PayAsYouGo"));
	CHECK(query_value_valid(QK_PAYMENT_TYPE, "Subscription"));
	CHECK(query_value_valid(QK_PAYMENT_TYPE, "payasyougo"));	/* the server judges */
	CHECK(!query_value_documented(QK_PAYMENT_TYPE, "payasyougo"));
	CHECK(!query_value_valid(QK_PAYMENT_TYPE, "PayAsYouGo,Subscription"));
	CHECK(query_value_valid(QK_PAYMENT_TYPE, "Postpaid"));
	CHECK(!query_value_valid(QK_PAYMENT_TYPE, "Pay As You Go"));
	CHECK(!query_value_valid(QK_PAYMENT_TYPE, ""));
	CHECK(query_value_valid(QK_ACCESSIBILITY, "PRIVATE"));
	CHECK(query_value_valid(QK_ACCESSIBILITY, "PUBLIC"));
	CHECK(query_value_documented(QK_ACCESSIBILITY, "PUBLIC"));
	CHECK(query_value_valid(QK_ACCESSIBILITY, "private"));
	CHECK(!query_value_documented(QK_ACCESSIBILITY, "private"));
	CHECK(!query_value_valid(QK_ACCESSIBILITY, "PRIVATE,PUBLIC"));
	CHECK(!query_value_valid(QK_ACCESSIBILITY, ""));
	CHECK(query_value_valid(QK_ACCELERATOR_TYPE, "CPU"));
	CHECK(query_value_valid(QK_ACCELERATOR_TYPE, "GPU"));
	CHECK(query_value_valid(QK_ACCELERATOR_TYPE, "NPU"));
	CHECK(!query_value_documented(QK_ACCELERATOR_TYPE, "NPU"));
	CHECK(query_value_documented(QK_INSTANCE_NAME, "anything"));
	CHECK(!query_value_valid(QK_ACCELERATOR_TYPE, "CPU,GPU"));
	CHECK(!query_value_valid(QK_ACCELERATOR_TYPE, "GPU\n"));
}

TEST(valid_numbers)
{
	static const enum query_key nk[] = {
		QK_MIN_CPU, QK_MAX_CPU, QK_MIN_GPU, QK_MAX_GPU, QK_MIN_MEMORY, QK_MAX_MEMORY,
		QK_MIN_GPU_MEMORY, QK_MAX_GPU_MEMORY,
	};

	for (size_t i = 0; i < sizeof(nk) / sizeof(nk[0]); i++) {
		CHECK(query_value_valid(nk[i], "2000"));
		CHECK(query_value_valid(nk[i], "0"));
		CHECK(query_value_valid(nk[i], "007"));
		CHECK(query_value_valid(nk[i], "123456789012345678901234567890"));
		CHECK(!query_value_valid(nk[i], ""));
		CHECK(!query_value_valid(nk[i], "-1"));
		CHECK(!query_value_valid(nk[i], "+1"));
		CHECK(!query_value_valid(nk[i], "1.5"));
		CHECK(!query_value_valid(nk[i], "1e3"));
		CHECK(!query_value_valid(nk[i], " 1"));
		CHECK(!query_value_valid(nk[i], "1 "));
		CHECK(!query_value_valid(nk[i], "0x10"));
		CHECK(!query_value_valid(nk[i], "8Gi"));
		CHECK(!query_value_valid(nk[i], "\xd9\xa1"));	/* ARABIC-INDIC DIGIT ONE */
	}
}

TEST(valid_times)
{
	static const enum query_key tk[] = { QK_CREATE_TIME_AFTER, QK_CREATE_TIME_BEFORE };

	for (size_t i = 0; i < 2; i++) {
		enum query_key k = tk[i];

		CHECK(query_value_valid(k, "2024-01-12T14:36:01Z"));
		CHECK(query_value_valid(k, "1970-01-01T00:00:00Z"));
		CHECK(query_value_valid(k, "2024-02-29T23:59:59Z"));
		CHECK(query_value_valid(k, "2000-02-29T00:00:00Z"));
		CHECK(query_value_valid(k, "2024-12-31T00:00:00Z"));
		CHECK(!query_value_valid(k, "2023-02-29T00:00:00Z"));
		CHECK(!query_value_valid(k, "1900-02-29T00:00:00Z"));
		CHECK(!query_value_valid(k, "2024-04-31T00:00:00Z"));
		CHECK(!query_value_valid(k, "2024-13-01T00:00:00Z"));
		CHECK(!query_value_valid(k, "2024-00-01T00:00:00Z"));
		CHECK(!query_value_valid(k, "2024-01-00T00:00:00Z"));
		CHECK(!query_value_valid(k, "2024-01-12T24:00:00Z"));
		CHECK(!query_value_valid(k, "2024-01-12T23:60:00Z"));
		CHECK(!query_value_valid(k, "2024-01-12T23:59:60Z"));
		CHECK(!query_value_valid(k, "2024-01-12 14:36:01Z"));
		CHECK(!query_value_valid(k, "2024-01-12t14:36:01z"));
		CHECK(!query_value_valid(k, "2024-01-12T14:36:01"));
		CHECK(!query_value_valid(k, "2024-01-12T14:36:01+08:00"));
		CHECK(!query_value_valid(k, "2024-01-12T14:36:01.000Z"));
		CHECK(!query_value_valid(k, "2024-1-12T14:36:01Z"));
		CHECK(query_value_valid(k, "2024-01-12"));	/* a plain date: 00:00:00Z */
		CHECK(query_value_valid(k, "2024-02-29"));
		CHECK(!query_value_valid(k, "2023-02-29"));
		CHECK(!query_value_valid(k, "2024-1-12"));
		CHECK(!query_value_valid(k, "2024-01-12T"));
		CHECK(!query_value_valid(k, "2024-01-12T14:36Z"));
		CHECK(!query_value_valid(k, "1705070161"));
		CHECK(!query_value_valid(k, "2O24-01-12T14:36:01Z"));
		CHECK(!query_value_valid(k, ""));
	}
}

TEST(valid_pairs_and_text)
{
	static const enum query_key pk[] = { QK_LABEL, QK_TAG };

	for (size_t i = 0; i < 2; i++) {
		CHECK(query_value_valid(pk[i], "k=v"));
		CHECK(query_value_valid(pk[i], "k="));
		CHECK(query_value_valid(pk[i], "k=v=w"));
		CHECK(query_value_valid(pk[i], "stsTokenOwner=123xxxxxxxx"));
		CHECK(query_value_valid(pk[i], "\xe5\x9b\xa2\xe9\x98\x9f=nlp team"));
		CHECK(!query_value_valid(pk[i], "=v"));
		CHECK(!query_value_valid(pk[i], "="));
		CHECK(!query_value_valid(pk[i], "k"));
		CHECK(!query_value_valid(pk[i], ""));
	}
	/* free text: anything non-empty, verbatim */
	for (size_t i = 0; i < NKEYS; i++) {
		enum query_key k = key_table[i].k;

		CHECK(query_value_valid(k, sample_value(k)));
		CHECK(!query_value_valid(k, ""));
		CHECK(!query_value_valid(k, NULL));
	}
	CHECK(query_value_valid(QK_INSTANCE_NAME, "my notebook \xe6\xb5\x8b\xe8\xaf\x95\n"));
	CHECK(query_value_valid(QK_INSTANCE_ID, "dsw-1,dsw-2"));
	CHECK(query_value_valid(QK_GPU_TYPE, "NVIDIA A10"));
	CHECK(query_value_valid(QK_OVERSOLD_INFO, "ForceQuotaOverSold"));
	CHECK(query_value_valid(QK_OVERSOLD_TYPE, "AcceptQuotaOverSold"));
	CHECK(query_value_valid(QK_WORKSPACE_ID, "ALL"));
	CHECK(!query_value_valid(QK__COUNT, "x"));
}

TEST(base_query)
{
	struct query *q = query_new("ALL", "ALL");

	CHECK_EQ_STR(query_canonical(q), "ResourceId=ALL&WorkspaceId=ALL");
	CHECK(!query_path_has(q, QK_WORKSPACE_ID));
	CHECK(!query_path_has(q, QK_RESOURCE_ID));
	query_free(q);
	q = query_new(NULL, "");
	CHECK_EQ_STR(query_canonical(q), "");
	query_free(q);
	q = query_new("", "rg-1");
	CHECK_EQ_STR(query_canonical(q), "ResourceId=rg-1");
	query_free(q);
	q = query_new("40823", NULL);
	CHECK_EQ_STR(query_canonical(q), "WorkspaceId=40823");
	query_free(q);
	query_free(NULL);
}

TEST(path_filters_override_base)
{
	struct query *q = base_all();

	CHECK_EQ_INT(query_add(q, QK_WORKSPACE_ID, "40823"), 0);
	CHECK(query_path_has(q, QK_WORKSPACE_ID));
	CHECK(!query_path_has(q, QK_RESOURCE_ID));
	CHECK_EQ_STR(query_canonical(q), "ResourceId=ALL&WorkspaceId=40823");
	CHECK_EQ_INT(query_add(q, QK_RESOURCE_ID, "rg-9"), 0);
	CHECK_EQ_STR(query_canonical(q), "ResourceId=rg-9&WorkspaceId=40823");
	/* the path sets a key once: the base does not count */
	CHECK_EQ_INT(query_add(q, QK_WORKSPACE_ID, "1"), -EEXIST);
	CHECK_EQ_INT(query_add(q, QK_RESOURCE_ID, "rg-9"), -EEXIST);
	CHECK_EQ_STR(query_canonical(q), "ResourceId=rg-9&WorkspaceId=40823");
	query_free(q);
}

TEST(add_every_key)
{
	struct query *q = query_new(NULL, NULL);
	struct sign_kv *kv = NULL;
	size_t n = 0;

	for (size_t i = 0; i < NKEYS; i++) {
		enum query_key k = key_table[i].k;

		CHECK(!query_path_has(q, k));
		CHECK_EQ_INT(query_add(q, k, sample_value(k)), 0);
		CHECK(query_path_has(q, k));
		if (k != QK_LABEL && k != QK_TAG)
			CHECK_EQ_INT(query_add(q, k, sample_value(k)), -EEXIST);
	}
	CHECK_EQ_INT(query_params(q, &kv, &n), 0);
	CHECK_EQ_INT(n, QK__COUNT);
	for (size_t i = 0; i < n; i++) {
		int found = 0;

		if (i)
			CHECK(strcmp(kv[i - 1].name, kv[i].name) < 0);
		for (size_t j = 0; j < NKEYS; j++) {
			if (strcmp(kv[i].name, key_table[j].param))
				continue;
			found = 1;
			if (key_table[j].k == QK_LABEL)
				CHECK_EQ_STR(kv[i].value, "{\"team\":\"nlp\"}");
			else if (key_table[j].k == QK_TAG)
				CHECK_EQ_STR(kv[i].value, "[{\"Key\":\"env\",\"Value\":\"prod\"}]");
			else
				CHECK_EQ_STR(kv[i].value, sample_value(key_table[j].k));
		}
		CHECK(found);
	}
	free(kv);
	query_free(q);
}

TEST(add_errors)
{
	struct query *q = base_all();
	char before[512];

	CHECK_EQ_INT(query_add(q, QK_STATUS, "Run ning"), -ENOENT);
	CHECK_EQ_INT(query_add(q, QK_WORKSPACE_ID, "abc"), -ENOENT);
	CHECK_EQ_INT(query_add(q, QK_CREATE_USER_ID, "ALL"), -ENOENT);
	CHECK_EQ_INT(query_add(q, QK_STATUS, ""), -ENOENT);
	CHECK_EQ_INT(query_add(q, QK_MIN_CPU, "two"), -ENOENT);
	CHECK_EQ_INT(query_add(q, QK_LABEL, "novalue"), -ENOENT);
	CHECK_EQ_INT(query_add(q, QK__COUNT, "x"), -ENOENT);
	CHECK(!query_path_has(q, QK_STATUS));
	CHECK_EQ_INT(query_add(q, QK_STATUS, "Running"), 0);
	CHECK_EQ_INT(query_add(q, QK_STATUS, "Running"), -EEXIST);
	CHECK_EQ_INT(query_add(q, QK_STATUS, "Stopped"), -EEXIST);
	/* labels: four, each key once */
	CHECK_EQ_INT(query_add(q, QK_LABEL, "a=1"), 0);
	CHECK_EQ_INT(query_add(q, QK_LABEL, "a=2"), -EEXIST);
	CHECK_EQ_INT(query_add(q, QK_LABEL, "a=1"), -EEXIST);
	CHECK_EQ_INT(query_add(q, QK_LABEL, "b=1"), 0);
	CHECK_EQ_INT(query_add(q, QK_LABEL, "c=1"), 0);
	CHECK_EQ_INT(query_add(q, QK_LABEL, "d="), 0);
	snprintf(before, sizeof(before), "%s", query_canonical(q));
	CHECK_EQ_INT(query_add(q, QK_LABEL, "e=1"), -E2BIG);
	CHECK_EQ_INT(query_add(q, QK_LABEL, "a=9"), -EEXIST);
	CHECK_EQ_STR(query_canonical(q), before);
	/* tags: four; a key may repeat with another value, not the same pair */
	CHECK_EQ_INT(query_add(q, QK_TAG, "env=prod"), 0);
	CHECK_EQ_INT(query_add(q, QK_TAG, "env=prod"), -EEXIST);
	CHECK_EQ_INT(query_add(q, QK_TAG, "env=dev"), 0);
	CHECK_EQ_INT(query_add(q, QK_TAG, "owner=me"), 0);
	CHECK_EQ_INT(query_add(q, QK_TAG, "x="), 0);
	CHECK_EQ_INT(query_add(q, QK_TAG, "y=1"), -E2BIG);
	CHECK_EQ_INT(query_add(NULL, QK_TAG, "y=1"), -EINVAL);
	query_free(q);
}

TEST(canonical_encoding)
{
	struct query *q = base_all();

	CHECK_EQ_INT(query_add(q, QK_LABEL, "b=2"), 0);
	CHECK_EQ_INT(query_add(q, QK_LABEL, "a=1"), 0);
	CHECK_EQ_INT(query_add(q, QK_TAG, "t=v"), 0);
	CHECK_EQ_INT(query_add(q, QK_STATUS, "Running,Stopped"), 0);
	CHECK_EQ_INT(query_add(q, QK_INSTANCE_NAME, "my nb"), 0);
	CHECK_EQ_STR(query_canonical(q),
		     "InstanceName=my%20nb"
		     "&Labels=%7B%22a%22%3A%221%22%2C%22b%22%3A%222%22%7D"
		     "&ResourceId=ALL"
		     "&Status=Running%2CStopped"
		     "&Tag=%5B%7B%22Key%22%3A%22t%22%2C%22Value%22%3A%22v%22%7D%5D"
		     "&WorkspaceId=ALL");
	query_free(q);
}

/* Every label/tag JSON parses back to what was given, sorted. */
TEST(params_json)
{
	struct query *q = base_all();
	struct sign_kv *kv = NULL;
	size_t n = 0;
	const char *labels = NULL, *tag = NULL;
	cJSON *j, *it;
	char *qs;

	CHECK_EQ_INT(query_add(q, QK_LABEL, "zeta=last"), 0);
	CHECK_EQ_INT(query_add(q, QK_LABEL, "a=quote\" back\\slash"), 0);
	CHECK_EQ_INT(query_add(q, QK_LABEL, "a!=x"), 0);
	CHECK_EQ_INT(query_add(q, QK_LABEL, "\xe5\x9b\xa2=nl\npt\x01"), 0);
	CHECK_EQ_INT(query_add(q, QK_TAG, "k=2"), 0);
	CHECK_EQ_INT(query_add(q, QK_TAG, "k=10"), 0);
	CHECK_EQ_INT(query_add(q, QK_TAG, "a!=x"), 0);
	CHECK_EQ_INT(query_add(q, QK_TAG, "a=x=y"), 0);
	CHECK_EQ_INT(query_params(q, &kv, &n), 0);
	CHECK_EQ_INT(n, 4);
	for (size_t i = 0; i < n; i++) {
		if (i)
			CHECK(strcmp(kv[i - 1].name, kv[i].name) < 0);
		if (!strcmp(kv[i].name, "Labels"))
			labels = kv[i].value;
		if (!strcmp(kv[i].name, "Tag"))
			tag = kv[i].value;
	}
	CHECK(labels && tag);
	qs = sign_query_string(kv, n);
	CHECK_EQ_STR(qs, query_canonical(q));
	free(qs);

	j = cJSON_Parse(labels);
	CHECK(cJSON_IsObject(j));
	CHECK_EQ_INT(cJSON_GetArraySize(j), 4);
	{
		static const char *const order[] = { "a", "a!", "zeta", "\xe5\x9b\xa2" };
		static const char *const vals[] = { "quote\" back\\slash", "x", "last", "nl\npt\x01" };
		size_t i = 0;

		cJSON_ArrayForEach(it, j) {
			CHECK(i < 4);
			if (i >= 4)
				break;
			CHECK_EQ_STR(it->string, order[i]);
			CHECK_EQ_STR(cJSON_GetStringValue(it), vals[i]);
			i++;
		}
	}
	cJSON_Delete(j);

	j = cJSON_Parse(tag);
	CHECK(cJSON_IsArray(j));
	CHECK_EQ_INT(cJSON_GetArraySize(j), 4);
	{
		static const char *const keys[] = { "a", "a!", "k", "k" };
		static const char *const vals[] = { "x=y", "x", "10", "2" };
		size_t i = 0;

		cJSON_ArrayForEach(it, j) {
			if (i >= 4)
				break;
			CHECK_EQ_INT(cJSON_GetArraySize(it), 2);
			CHECK_EQ_STR(it->child->string, "Key");
			CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(it, "Key")), keys[i]);
			CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(it, "Value")), vals[i]);
			i++;
		}
	}
	cJSON_Delete(j);
	free(kv);
	query_free(q);
}

TEST(order_does_not_matter)
{
	struct query *a = base_all(), *b = base_all();

	for (size_t i = 0; i < NKEYS; i++)
		CHECK_EQ_INT(query_add(a, key_table[i].k, sample_value(key_table[i].k)), 0);
	CHECK_EQ_INT(query_add(a, QK_LABEL, "b=2"), 0);
	CHECK_EQ_INT(query_add(a, QK_LABEL, "c=3"), 0);
	CHECK_EQ_INT(query_add(a, QK_TAG, "env=dev"), 0);
	for (size_t i = NKEYS; i-- > 0;) {
		if (key_table[i].k == QK_LABEL)
			CHECK_EQ_INT(query_add(b, QK_LABEL, "c=3"), 0);
		if (key_table[i].k == QK_TAG)
			CHECK_EQ_INT(query_add(b, QK_TAG, "env=dev"), 0);
		CHECK_EQ_INT(query_add(b, key_table[i].k, sample_value(key_table[i].k)), 0);
		if (key_table[i].k == QK_LABEL)
			CHECK_EQ_INT(query_add(b, QK_LABEL, "b=2"), 0);
	}
	CHECK_EQ_STR(query_canonical(a), query_canonical(b));
	query_free(a);
	query_free(b);
}

TEST(status_lists_stay_verbatim)
{
	struct query *a = base_all(), *b = base_all();

	CHECK_EQ_INT(query_add(a, QK_STATUS, "Stopped,Running"), 0);
	CHECK_EQ_INT(query_add(b, QK_STATUS, "Running,Stopped"), 0);
	CHECK(strstr(query_canonical(a), "Status=Stopped%2CRunning") != NULL);
	CHECK(strcmp(query_canonical(a), query_canonical(b)) != 0);
	query_free(a);
	query_free(b);
}

TEST(dup_is_independent)
{
	struct query *a = base_all(), *b;

	CHECK_EQ_INT(query_add(a, QK_LABEL, "x=1"), 0);
	CHECK_EQ_INT(query_add(a, QK_TAG, "y=2"), 0);
	CHECK_EQ_INT(query_add(a, QK_STATUS, "Running"), 0);
	b = query_dup(a);
	CHECK(b != NULL);
	CHECK_EQ_STR(query_canonical(b), query_canonical(a));
	CHECK(query_canonical(b) != query_canonical(a));
	CHECK(query_path_has(b, QK_LABEL) && query_path_has(b, QK_TAG));
	CHECK_EQ_INT(query_add(b, QK_GPU_TYPE, "A10"), 0);
	CHECK(strstr(query_canonical(b), "GpuType=A10") != NULL);
	CHECK(strstr(query_canonical(a), "GpuType") == NULL);
	CHECK_EQ_INT(query_add(b, QK_STATUS, "Stopped"), -EEXIST);
	query_free(a);
	query_free(b);
	CHECK(query_dup(NULL) == NULL);
	CHECK(!query_path_has(NULL, QK_STATUS));
	CHECK(query_canonical(NULL) == NULL);
	path_free(NULL);
}

TEST(parse_root_and_top_level)
{
	struct query *base = base_all();
	struct path_info qp;

	CHECK_EQ_INT(path_parse("/", base, &qp), 0);
	CHECK_EQ_INT(qp.node, PATH_ROOT);
	CHECK(qp.query == NULL);
	path_free(&qp);
	CHECK_EQ_INT(path_parse("/instances", base, &qp), 0);
	CHECK_EQ_INT(qp.node, PATH_QUERY_DIR);
	CHECK_EQ_STR(query_canonical(qp.query), query_canonical(base));
	CHECK(qp.query != base);
	path_free(&qp);
	CHECK(qp.query == NULL);
	path_free(&qp);	/* twice is harmless */
	CHECK_EQ_INT(parse_node("/workspaces"), PATH_ID_DIR);
	CHECK_EQ_INT(parse_node("/by-name"), PATH_LINK_DIR);
	CHECK_EQ_INT(parse_node("/.dswfs"), PATH_CTL_DIR);
	CHECK_EQ_INT(parse_rc("/nope"), -ENOENT);
	CHECK_EQ_INT(parse_rc("/Instances"), -ENOENT);
	CHECK_EQ_INT(parse_rc("/instance"), -ENOENT);
	CHECK_EQ_INT(parse_rc("/instances.json"), -ENOENT);
	CHECK_EQ_INT(parse_rc("/.query"), -ENOENT);
	CHECK_EQ_INT(parse_rc("/status"), -ENOENT);
	CHECK_EQ_INT(parse_rc("/dsw-730xxxxxxxxxx"), -ENOENT);
	CHECK_EQ_INT(parse_rc(""), -ENOENT);
	CHECK_EQ_INT(parse_rc("instances"), -ENOENT);
	CHECK_EQ_INT(path_parse(NULL, base, &qp), -ENOENT);
	query_free(base);
}

TEST(parse_null_base)
{
	struct path_info qp;

	CHECK_EQ_INT(path_parse("/instances/status/Running", NULL, &qp), 0);
	CHECK_EQ_STR(query_canonical(qp.query), "Status=Running");
	path_free(&qp);
	CHECK_EQ_INT(path_parse("/workspaces/7", NULL, &qp), 0);
	CHECK_EQ_STR(query_canonical(qp.query), "WorkspaceId=7");
	path_free(&qp);
}

TEST(parse_workspaces)
{
	int rc;
	char *s = canon_of("/workspaces/40823", &rc);

	CHECK_EQ_INT(rc, 0);
	CHECK_EQ_STR(s, "ResourceId=ALL&WorkspaceId=40823");
	free(s);
	CHECK_EQ_INT(parse_node("/workspaces/40823"), PATH_QUERY_DIR);
	CHECK_EQ_INT(parse_rc("/workspaces/1/workspace-id/2"), -ENOENT);
	CHECK_EQ_INT(parse_rc("/workspaces/1/workspace-id/1"), -ENOENT);
	CHECK_EQ_INT(parse_rc("/workspaces/1/workspace-id"), -ENOENT);
	CHECK_EQ_INT(parse_node("/workspaces/1/resource-id"), PATH_KEY_DIR);
	CHECK_EQ_INT(parse_rc("/instances/workspace-id/1/workspace-id/1"), -ENOENT);
	/* a workspace id is decimal (or ALL): anything else is no workspace the API could have */
	CHECK_EQ_INT(parse_rc("/workspaces/instances.json"), -ENOENT);
	CHECK_EQ_INT(parse_node("/workspaces/ALL"), PATH_QUERY_DIR);
	CHECK_EQ_INT(parse_rc("/workspaces/status"), -ENOENT);
	CHECK_EQ_INT(parse_rc("/workspaces/abc"), -ENOENT);
	CHECK_EQ_INT(parse_rc("/workspaces/abc/instances.json"), -ENOENT);
	CHECK_EQ_INT(parse_rc("/workspaces/4082 3"), -ENOENT);
	CHECK_EQ_INT(parse_rc("/workspaces/-40823"), -ENOENT);
	CHECK_EQ_INT(parse_rc("/instances/workspace-id/abc"), -ENOENT);
	CHECK_EQ_INT(parse_node("/instances/workspace-id/ALL"), PATH_QUERY_DIR);
}

TEST(parse_chains_in_any_order)
{
	static const char *const same[] = {
		"/workspaces/40823/status/Running/accelerator-type/GPU",
		"/workspaces/40823/accelerator-type/GPU/status/Running",
		"/instances/workspace-id/40823/status/Running/accelerator-type/GPU",
		"/instances/status/Running/workspace-id/40823/accelerator-type/GPU",
		"/instances/accelerator-type/GPU/status/Running/workspace-id/40823",
		"/instances/accelerator-type/GPU/workspace-id/40823/status/Running",
	};
	int rc;
	char *first = canon_of(same[0], &rc);

	CHECK_EQ_INT(rc, 0);
	CHECK_EQ_STR(first, "AcceleratorType=GPU&ResourceId=ALL&Status=Running&WorkspaceId=40823");
	for (size_t i = 1; i < sizeof(same) / sizeof(same[0]); i++) {
		char *s = canon_of(same[i], &rc);

		CHECK_EQ_INT(rc, 0);
		CHECK_EQ_STR(s, first);
		free(s);
	}
	free(first);
}

TEST(parse_every_key_both_ways)
{
	char fwd[4096] = "/instances", rev[4096] = "/instances";
	char *a, *b;
	int rc;

	for (size_t i = 0; i < NKEYS; i++) {
		char p[300];
		int k = key_table[i].k;

		snprintf(p, sizeof(p), "/instances/%s", key_table[i].dir);
		CHECK_EQ_INT(parse_node(p), PATH_KEY_DIR);
		snprintf(p, sizeof(p), "/instances/%s/%s", key_table[i].dir, sample_value(k));
		CHECK_EQ_INT(parse_node(p), PATH_QUERY_DIR);
		snprintf(fwd + strlen(fwd), sizeof(fwd) - strlen(fwd), "/%s/%s", key_table[i].dir,
			 sample_value(k));
	}
	strcat(fwd, "/label/z=26/tag/env=dev");
	strcat(rev, "/tag/env=dev/label/z=26");
	for (size_t i = NKEYS; i-- > 0;)
		snprintf(rev + strlen(rev), sizeof(rev) - strlen(rev), "/%s/%s", key_table[i].dir,
			 sample_value(key_table[i].k));
	a = canon_of(fwd, &rc);
	CHECK_EQ_INT(rc, 0);
	b = canon_of(rev, &rc);
	CHECK_EQ_INT(rc, 0);
	CHECK(a && b);
	CHECK_EQ_STR(a, b);
	CHECK(a && strstr(a, "Labels=%7B%22team%22%3A%22nlp%22%2C%22z%22%3A%2226%22%7D"));
	free(a);
	free(b);
}

TEST(parse_key_dirs)
{
	struct query *base = base_all();
	struct path_info qp;

	CHECK_EQ_INT(path_parse("/instances/status", base, &qp), 0);
	CHECK_EQ_INT(qp.node, PATH_KEY_DIR);
	CHECK_EQ_INT(qp.key, QK_STATUS);
	CHECK_EQ_STR(query_canonical(qp.query), "ResourceId=ALL&WorkspaceId=ALL");
	path_free(&qp);
	CHECK_EQ_INT(path_parse("/workspaces/9/status/Stopped/label", base, &qp), 0);
	CHECK_EQ_INT(qp.node, PATH_KEY_DIR);
	CHECK_EQ_INT(qp.key, QK_LABEL);
	CHECK_EQ_STR(query_canonical(qp.query), "ResourceId=ALL&Status=Stopped&WorkspaceId=9");
	path_free(&qp);
	CHECK_EQ_INT(parse_node("/instances/status/Runing"), PATH_QUERY_DIR);	/* server's call */
	CHECK_EQ_INT(parse_rc("/instances/status/Run ning"), -ENOENT);
	CHECK_EQ_INT(parse_rc("/instances/status/Running,Run.ing"), -ENOENT);
	CHECK_EQ_INT(parse_rc("/instances/status/Running/status"), -ENOENT);
	CHECK_EQ_INT(parse_rc("/instances/status/Running/status/Stopped"), -ENOENT);
	CHECK_EQ_INT(parse_rc("/instances/min-cpu/lots"), -ENOENT);
	CHECK_EQ_INT(parse_rc("/instances/create-time-after/yesterday"), -ENOENT);
	CHECK_EQ_INT(parse_rc("/instances/payment-type/Free!"), -ENOENT);
	CHECK_EQ_INT(parse_rc("/instances/label/novalue"), -ENOENT);
	CHECK_EQ_INT(parse_rc("/instances/tag/=v"), -ENOENT);
	CHECK_EQ_INT(parse_node("/instances/status/Running,Stopped"), PATH_QUERY_DIR);
	CHECK_EQ_INT(parse_node("/instances/label/k="), PATH_QUERY_DIR);
	/* a key dir's child is always a value, even when it looks like a reserved name */
	CHECK_EQ_INT(parse_node("/instances/instance-name/instances.json"), PATH_QUERY_DIR);
	CHECK_EQ_INT(parse_node("/instances/instance-name/.query"), PATH_QUERY_DIR);
	CHECK_EQ_INT(parse_node("/instances/instance-name/status"), PATH_QUERY_DIR);
	CHECK_EQ_INT(parse_rc("/instances/status/.query"), -ENOENT);
	query_free(base);
}

TEST(parse_label_limits)
{
	int rc;
	char *s;

	CHECK_EQ_INT(parse_node("/instances/label/a=1/label/b=2/label/c=3/label/d=4"),
		     PATH_QUERY_DIR);
	CHECK_EQ_INT(parse_node("/instances/label/a=1/label/b=2/label/c=3/label"), PATH_KEY_DIR);
	CHECK_EQ_INT(parse_rc("/instances/label/a=1/label/b=2/label/c=3/label/d=4/label"),
		     -ENOENT);
	CHECK_EQ_INT(parse_rc("/instances/label/a=1/label/b=2/label/c=3/label/d=4/label/e=5"),
		     -ENOENT);
	CHECK_EQ_INT(parse_rc("/instances/label/a=1/label/a=2"), -ENOENT);
	CHECK_EQ_INT(parse_rc("/instances/tag/a=1/tag/a=1"), -ENOENT);
	CHECK_EQ_INT(parse_node("/instances/tag/a=1/tag/a=2"), PATH_QUERY_DIR);
	CHECK_EQ_INT(parse_node("/instances/tag/a=1/tag/b=2/tag/c=3/tag/d=4/label/a=1"),
		     PATH_QUERY_DIR);
	CHECK_EQ_INT(parse_rc("/instances/tag/a=1/tag/b=2/tag/c=3/tag/d=4/tag"), -ENOENT);
	/* labels and tags in any order give one query */
	s = canon_of("/instances/label/b=2/tag/y=1/label/a=1/tag/x=1", &rc);
	{
		char *t = canon_of("/instances/tag/x=1/label/a=1/tag/y=1/label/b=2", &rc);

		CHECK_EQ_STR(s, t);
		free(t);
	}
	free(s);
}

TEST(parse_reserved_files)
{
	struct query *base = base_all();
	struct path_info qp;

	CHECK_EQ_INT(path_parse("/instances/instances.json", base, &qp), 0);
	CHECK_EQ_INT(qp.node, PATH_INSTANCES_JSON);
	CHECK_EQ_STR(query_canonical(qp.query), "ResourceId=ALL&WorkspaceId=ALL");
	path_free(&qp);
	CHECK_EQ_INT(path_parse("/workspaces/7/status/Running/.query", base, &qp), 0);
	CHECK_EQ_INT(qp.node, PATH_QUERY_INFO);
	CHECK_EQ_STR(query_canonical(qp.query), "ResourceId=ALL&Status=Running&WorkspaceId=7");
	path_free(&qp);
	CHECK_EQ_INT(parse_node("/workspaces/7/instances.json"), PATH_INSTANCES_JSON);
	CHECK_EQ_INT(parse_rc("/instances/instances.json/x"), -ENOENT);
	CHECK_EQ_INT(parse_rc("/instances/.query/x"), -ENOENT);
	CHECK_EQ_INT(parse_rc("/instances/status/instances.json"), -ENOENT);
	query_free(base);
}

TEST(parse_instances)
{
	struct query *base = base_all();
	struct path_info qp;
	const char *path;

	path = "/instances/dsw-730xxxxxxxxxx";
	CHECK_EQ_INT(path_parse(path, base, &qp), 0);
	CHECK_EQ_INT(qp.node, PATH_INSTANCE);
	CHECK_EQ_STR(qp.name, "dsw-730xxxxxxxxxx");
	CHECK_EQ_STR(qp.rest, "");
	CHECK(qp.name >= path && qp.name < path + strlen(path));
	CHECK(qp.query != NULL);
	path_free(&qp);

	path = "/instances/dsw-730xxxxxxxxxx/Status";
	CHECK_EQ_INT(path_parse(path, base, &qp), 0);
	CHECK_EQ_INT(qp.node, PATH_INSTANCE);
	CHECK_EQ_STR(qp.name, "dsw-730xxxxxxxxxx");
	CHECK_EQ_STR(qp.rest, "Status");
	CHECK(qp.rest == path + strlen("/instances/dsw-730xxxxxxxxxx/"));
	path_free(&qp);

	path = "/workspaces/40823/status/Running/label/a=b/dsw-1/RequestedResource/CPU";
	CHECK_EQ_INT(path_parse(path, base, &qp), 0);
	CHECK_EQ_INT(qp.node, PATH_INSTANCE);
	CHECK_EQ_STR(qp.name, "dsw-1");
	CHECK_EQ_STR(qp.rest, "RequestedResource/CPU");
	CHECK_EQ_STR(query_canonical(qp.query),
		     "Labels=%7B%22a%22%3A%22b%22%7D&ResourceId=ALL&Status=Running&WorkspaceId=40823");
	path_free(&qp);

	/* anything that is a valid file name may be an (escaped) instance id */
	path = "/instances/my inst\n\xe6\xb5\x8b\xe8\xaf\x95 %2F\t/a b/c\nd";
	CHECK_EQ_INT(path_parse(path, base, &qp), 0);
	CHECK_EQ_INT(qp.node, PATH_INSTANCE);
	CHECK_EQ_STR(qp.name, "my inst\n\xe6\xb5\x8b\xe8\xaf\x95 %2F\t");
	CHECK_EQ_STR(qp.rest, "a b/c\nd");
	path_free(&qp);
	CHECK_EQ_INT(parse_node("/instances/%2E"), PATH_INSTANCE);
	CHECK_EQ_INT(parse_node("/instances/..."), PATH_INSTANCE);
	CHECK_EQ_INT(parse_node("/instances/instances.json2"), PATH_INSTANCE);
	CHECK_EQ_INT(parse_node("/instances/Status"), PATH_INSTANCE);
	/* rest paths are checked like the rest */
	CHECK_EQ_INT(parse_rc("/instances/dsw-1/a//b"), -ENOENT);
	CHECK_EQ_INT(parse_rc("/instances/dsw-1/a/.."), -ENOENT);
	CHECK_EQ_INT(parse_rc("/instances/dsw-1/"), -ENOENT);
	query_free(base);
}

TEST(parse_byname_and_ctl)
{
	struct query *base = base_all();
	struct path_info qp;

	CHECK_EQ_INT(path_parse("/by-name/alpha@dsw-1", base, &qp), 0);
	CHECK_EQ_INT(qp.node, PATH_LINK);
	CHECK_EQ_STR(qp.name, "alpha@dsw-1");
	CHECK(qp.query == NULL);
	path_free(&qp);
	CHECK_EQ_INT(path_parse("/by-name/a%2Fb \xe6\xb5\x8b\n", base, &qp), 0);
	CHECK_EQ_STR(qp.name, "a%2Fb \xe6\xb5\x8b\n");
	path_free(&qp);
	CHECK_EQ_INT(parse_rc("/by-name/a/b"), -ENOENT);
	CHECK_EQ_INT(path_parse("/.dswfs/stats", base, &qp), 0);
	CHECK_EQ_INT(qp.node, PATH_CTL_FILE);
	CHECK_EQ_STR(qp.name, "stats");
	CHECK(qp.query == NULL);
	path_free(&qp);
	/* which control files exist is ctl's business */
	CHECK_EQ_INT(parse_node("/.dswfs/whatever"), PATH_CTL_FILE);
	CHECK_EQ_INT(parse_rc("/.dswfs/stats/x"), -ENOENT);
	query_free(base);
}

TEST(parse_odd_components)
{
	static const char *const bad[] = {
		"//", "///", "/instances/", "//instances", "/instances//status",
		"/instances/status/", "/instances/status//Running", "/.", "/..", "/./instances",
		"/instances/.", "/instances/..", "/instances/../by-name", "/by-name/..",
		"/by-name/.", "/.dswfs/..", "/workspaces/..", "/workspaces/.", "/workspaces/",
		"/by-name/", "/.dswfs/", "/instances/status/..", "/instances/label/.",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = parse_rc(bad[i]);

		if (rc != -ENOENT)
			tf_fail(__FILE__, __LINE__, "\"%s\" gave %d", bad[i], rc);
	}
}

TEST(parse_long_paths)
{
	char comp[300], path[5000];
	size_t n;

	memset(comp, 'x', 255);
	comp[255] = 0;
	snprintf(path, sizeof(path), "/instances/%s", comp);
	CHECK_EQ_INT(parse_node(path), PATH_INSTANCE);
	snprintf(path, sizeof(path), "/by-name/%s", comp);
	CHECK_EQ_INT(parse_node(path), PATH_LINK);
	snprintf(path, sizeof(path), "/instances/instance-name/%s", comp);
	CHECK_EQ_INT(parse_node(path), PATH_QUERY_DIR);
	comp[255] = 'x';
	comp[256] = 0;
	snprintf(path, sizeof(path), "/instances/%s", comp);
	CHECK_EQ_INT(parse_rc(path), -ENAMETOOLONG);
	snprintf(path, sizeof(path), "/instances/instance-name/%s", comp);
	CHECK_EQ_INT(parse_rc(path), -ENAMETOOLONG);
	snprintf(path, sizeof(path), "/instances/dsw-1/%s", comp);
	CHECK_EQ_INT(parse_rc(path), -ENAMETOOLONG);
	snprintf(path, sizeof(path), "/%s", comp);
	CHECK_EQ_INT(parse_rc(path), -ENAMETOOLONG);
	/* a 4095-byte path is fine, a 4096-byte one is not */
	strcpy(path, "/instances/dsw-1");
	while ((n = strlen(path)) < 4095 - 10)
		strcat(path, "/a");
	strcat(path, "/");
	while (strlen(path) < 4095)
		strcat(path, "b");
	CHECK_EQ_INT(strlen(path), 4095);
	CHECK_EQ_INT(parse_node(path), PATH_INSTANCE);
	strcat(path, "b");
	CHECK_EQ_INT(parse_rc(path), -ENAMETOOLONG);
	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = 0;
	CHECK_EQ_INT(parse_rc(path), -ENAMETOOLONG);
}

TEST(parse_unicode_values)
{
	struct query *base = base_all();
	struct path_info qp;
	struct sign_kv *kv = NULL;
	size_t n = 0;

	CHECK_EQ_INT(path_parse("/instances/instance-name/\xe6\xb5\x8b\xe8\xaf\x95 nb\n"
				      "/label/\xe5\x9b\xa2\xe9\x98\x9f=a b",
				      base, &qp), 0);
	CHECK_EQ_INT(qp.node, PATH_QUERY_DIR);
	CHECK_EQ_INT(query_params(qp.query, &kv, &n), 0);
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(kv[i].name, "InstanceName"))
			CHECK_EQ_STR(kv[i].value, "\xe6\xb5\x8b\xe8\xaf\x95 nb\n");
		if (!strcmp(kv[i].name, "Labels"))
			CHECK_EQ_STR(kv[i].value, "{\"\xe5\x9b\xa2\xe9\x98\x9f\":\"a b\"}");
	}
	CHECK(strstr(query_canonical(qp.query), "InstanceName=%E6%B5%8B%E8%AF%95%20nb%0A"));
	free(kv);
	path_free(&qp);
	query_free(base);
}

/* ---- query_key_values ---- */

struct collected {
	char vals[16][300];
	int n;
};

static void collect(const char *v, void *ctx)
{
	struct collected *c = ctx;

	if (c->n < 16)
		snprintf(c->vals[c->n], sizeof(c->vals[0]), "%s", v);
	c->n++;
}

static struct collected values_of(enum query_key k, const cJSON *inst)
{
	struct collected c;

	memset(&c, 0, sizeof(c));
	query_key_values(k, inst, collect, &c);
	return c;
}

TEST(key_values_of_example)
{
	static const struct {
		enum query_key k;
		const char *v;	/* NULL: none */
	} want[] = {
		{ QK_WORKSPACE_ID, "40823" }, { QK_INSTANCE_ID, "dsw-730xxxxxxxxxx" },
		{ QK_INSTANCE_NAME, "training_data" }, { QK_RESOURCE_ID, "dsw-123456789" },
		{ QK_STATUS, "Running" }, { QK_PAYMENT_TYPE, "PayAsYouGo" },
		{ QK_ACCESSIBILITY, "PRIVATE" }, { QK_ACCELERATOR_TYPE, "CPU" },
		{ QK_GPU_TYPE, "NVIDIA A10" }, { QK_IMAGE_NAME, "py36_cpu_tf1.12_ubuntu" },
		{ QK_CREATE_USER_ID, "1612285282502324" }, { QK_MIN_CPU, NULL },
		{ QK_MAX_CPU, NULL }, { QK_MIN_GPU, NULL }, { QK_MAX_GPU, NULL },
		{ QK_MIN_MEMORY, NULL }, { QK_MAX_MEMORY, NULL }, { QK_MIN_GPU_MEMORY, NULL },
		{ QK_MAX_GPU_MEMORY, NULL }, { QK_CREATE_TIME_AFTER, NULL },
		{ QK_CREATE_TIME_BEFORE, NULL },
		{ QK_OVERSOLD_INFO, NULL },	/* "" in the example */
		{ QK_OVERSOLD_TYPE, NULL },
		{ QK_LABEL, "stsTokenOwner=123xxxxxxxx" }, { QK_TAG, "tag1=value1" },
	};
	cJSON *inst = cJSON_Parse(example_instance);
	struct query *base = base_all();

	CHECK(cJSON_IsObject(inst));
	CHECK_EQ_INT(sizeof(want) / sizeof(want[0]), QK__COUNT);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		struct collected c = values_of(want[i].k, inst);

		if (!want[i].v) {
			if (c.n)
				tf_fail(__FILE__, __LINE__, "%s: unexpected %s",
					query_key_dirname(want[i].k), c.vals[0]);
			continue;
		}
		CHECK_EQ_INT(c.n, 1);
		CHECK_EQ_STR(c.vals[0], want[i].v);
		/* every value can be typed back */
		{
			char path[600];
			struct path_info qp;

			snprintf(path, sizeof(path), "/instances/%s/%s",
				 query_key_dirname(want[i].k), c.vals[0]);
			CHECK_EQ_INT(path_parse(path, base, &qp), 0);
			CHECK_EQ_INT(qp.node, PATH_QUERY_DIR);
			path_free(&qp);
		}
	}
	query_free(base);
	cJSON_Delete(inst);
}

TEST(key_values_skip_what_cannot_be_typed)
{
	cJSON *inst = cJSON_Parse(
		"{\"Status\":\"Run ning\",\"InstanceName\":\"a/b\",\"WorkspaceId\":\"ws-1\","
		"\"InstanceId\":\".\",\"ResourceId\":\"\",\"PaymentType\":\"Free!\","
		"\"Accessibility\":\"pri-vate\",\"AcceleratorType\":7,\"UserId\":1.5,"
		"\"ImageName\":null,\"RequestedResource\":\"NVIDIA A10\","
		"\"Labels\":[{\"Key\":\"\",\"Value\":\"v\"},{\"Key\":\"a=b\",\"Value\":\"c\"},"
		"{\"Key\":\"k\",\"Value\":5},{\"Key\":\"k\"},{\"Key\":\"s\",\"Value\":\"x/y\"},"
		"\"str\",null,{\"Key\":\"ok\",\"Value\":\"\"}],"
		"\"Tags\":{\"TagKey\":\"t\",\"TagValue\":\"v\"}}");
	struct collected c;

	CHECK(inst != NULL);
	for (int k = 0; k < QK__COUNT; k++) {
		c = values_of(k, inst);
		if (k == QK_LABEL) {
			CHECK_EQ_INT(c.n, 1);
			CHECK_EQ_STR(c.vals[0], "ok=");
		} else if (c.n) {
			tf_fail(__FILE__, __LINE__, "%s: unexpected %s", query_key_dirname(k),
				c.vals[0]);
		}
	}
	cJSON_Delete(inst);

	/* too long to be a file name */
	{
		char big[400];

		memset(big, 'n', 300);
		big[300] = 0;
		inst = cJSON_CreateObject();
		cJSON_AddStringToObject(inst, "InstanceName", big);
		big[255] = 0;
		cJSON_AddStringToObject(inst, "ImageName", big);
		c = values_of(QK_INSTANCE_NAME, inst);
		CHECK_EQ_INT(c.n, 0);
		c = values_of(QK_IMAGE_NAME, inst);
		CHECK_EQ_INT(c.n, 1);
		cJSON_Delete(inst);
	}

	/* not an object, or nothing */
	inst = cJSON_Parse("[{\"Status\":\"Running\"}]");
	c = values_of(QK_STATUS, inst);
	CHECK_EQ_INT(c.n, 0);
	cJSON_Delete(inst);
	c = values_of(QK_STATUS, NULL);
	CHECK_EQ_INT(c.n, 0);
	query_key_values(QK__COUNT, NULL, collect, &c);
}

TEST(key_values_other_shapes)
{
	cJSON *inst = cJSON_Parse(
		"{\"Labels\":{\"foo\":\"bar\",\"n\":1,\"e\":\"\"},"
		"\"Tags\":[{\"Key\":\"k\",\"Value\":\"v\"},{\"TagKey\":\"a\",\"TagValue\":\"b\"},"
		"{\"TagKey\":\"c\"},7],"
		"\"RequestedResource\":{\"GPUType\":\"Tesla-V100-16G\"},"
		"\"Status\":\"Stopped\"}");
	struct collected c;

	c = values_of(QK_LABEL, inst);
	CHECK_EQ_INT(c.n, 2);
	CHECK_EQ_STR(c.vals[0], "foo=bar");
	CHECK_EQ_STR(c.vals[1], "e=");
	c = values_of(QK_TAG, inst);
	CHECK_EQ_INT(c.n, 2);
	CHECK_EQ_STR(c.vals[0], "k=v");
	CHECK_EQ_STR(c.vals[1], "a=b");
	c = values_of(QK_GPU_TYPE, inst);
	CHECK_EQ_INT(c.n, 1);
	CHECK_EQ_STR(c.vals[0], "Tesla-V100-16G");
	c = values_of(QK_STATUS, inst);
	CHECK_EQ_INT(c.n, 1);
	CHECK_EQ_STR(c.vals[0], "Stopped");
	cJSON_Delete(inst);
}

TEST(key_values_long_pairs)
{
	char k[200], v[200];
	cJSON *inst = cJSON_CreateObject(), *labels = cJSON_AddArrayToObject(inst, "Labels");
	cJSON *l = cJSON_CreateObject();
	struct collected c;

	memset(k, 'k', 127);
	k[127] = 0;
	memset(v, 'v', 127);
	v[127] = 0;
	cJSON_AddStringToObject(l, "Key", k);
	cJSON_AddStringToObject(l, "Value", v);
	cJSON_AddItemToArray(labels, l);
	c = values_of(QK_LABEL, inst);
	CHECK_EQ_INT(c.n, 1);	/* 255 bytes */
	v[126] = 'w';
	cJSON_ReplaceItemInObject(l, "Value", cJSON_CreateString(strcat(v, "x")));
	c = values_of(QK_LABEL, inst);
	CHECK_EQ_INT(c.n, 0);	/* 256 bytes */
	cJSON_Delete(inst);
}

static void query_scenario(void)
{
	struct query *q = query_new("ALL", "rg"), *d;
	struct path_info qp;
	struct sign_kv *kv;
	size_t n;
	char before[1024];
	int rc;

	if (!q)
		return;
	static const struct {
		enum query_key k;
		const char *v;
	} adds[] = {
		{ QK_LABEL, "b=2" }, { QK_LABEL, "a=1" }, { QK_TAG, "t=1" }, { QK_TAG, "s=\"" },
		{ QK_STATUS, "Running" }, { QK_WORKSPACE_ID, "7" },
	};
	for (size_t i = 0; i < sizeof(adds) / sizeof(adds[0]); i++) {
		snprintf(before, sizeof(before), "%s", query_canonical(q));
		rc = query_add(q, adds[i].k, adds[i].v);
		if (rc) {
			CHECK_EQ_INT(rc, -ENOMEM);
			/* a failed add leaves the query as it was, and it can be retried */
			CHECK_EQ_STR(query_canonical(q), before);
			CHECK(adds[i].k == QK_LABEL || adds[i].k == QK_TAG ||
			      !query_path_has(q, adds[i].k));
		}
	}
	d = query_dup(q);
	if (d)
		CHECK_EQ_STR(query_canonical(d), query_canonical(q));
	query_free(d);
	if (query_params(q, &kv, &n) == 0)
		free(kv);
	query_free(q);
	q = query_new("ALL", "ALL");
	if (!q)
		return;
	rc = path_parse("/workspaces/9/label/c=3/tag/x=y/min-cpu/1000/dsw-1/A/B", q, &qp);
	if (rc) {
		CHECK_EQ_INT(rc, -ENOMEM);
		CHECK(qp.query == NULL);
	} else {
		CHECK_EQ_INT(qp.node, PATH_INSTANCE);
		CHECK_EQ_STR(qp.name, "dsw-1");
		CHECK_EQ_STR(query_canonical(qp.query),
			     "Labels=%7B%22c%22%3A%223%22%7D&MinCpu=1000&ResourceId=ALL"
			     "&Tag=%5B%7B%22Key%22%3A%22x%22%2C%22Value%22%3A%22y%22%7D%5D"
			     "&WorkspaceId=9");
	}
	path_free(&qp);
	rc = path_parse("/instances/dsw-1", q, &qp);
	CHECK(rc == 0 || rc == -ENOMEM);
	path_free(&qp);
	query_free(q);
}

/* ---- type drift: numbers where strings were expected ---------------------------------- */

static int match_json(const char *member_json, const char *want, bool list)
{
	cJSON *m = member_json ? cJSON_Parse(member_json) : NULL;
	int rc;

	if (member_json && !m) {
		tf_fail(__FILE__, __LINE__, "bad fixture %s", member_json);
		return 99;
	}
	rc = query_field_match(m, want, list);
	cJSON_Delete(m);
	return rc;
}

TEST(int_text_is_exact_integers_only)
{
	static const struct {
		const char *json, *want;	/* want NULL: -EDOM */
	} cases[] = {
		{ "40823", "40823" }, { "40823.0", "40823" }, { "4.0823e4", "40823" },
		{ "0", "0" }, { "-0", "0" }, { "-0.0", "0" }, { "-7", "-7" },
		{ "9007199254740992", "9007199254740992" },
		{ "-9007199254740992", "-9007199254740992" },
		{ "9007199254740994", NULL }, { "1e300", NULL }, { "1e999", NULL },
		{ "40823.5", NULL }, { "0.1", NULL }, { "\"40823\"", NULL }, { "true", NULL },
		{ "null", NULL }, { "[1]", NULL }, { "{}", NULL },
	};
	char out[QUERY_INT_TEXT];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cJSON *j = cJSON_Parse(cases[i].json);
		int rc;

		CHECK(j != NULL);
		strcpy(out, "unchanged");
		rc = query_int_text(j, out);
		if (cases[i].want) {
			CHECK_EQ_INT(rc, 0);
			CHECK_EQ_STR(out, cases[i].want);
		} else if (rc != -EDOM) {
			tf_fail(__FILE__, __LINE__, "%s: %d, expected -EDOM", cases[i].json, rc);
		}
		cJSON_Delete(j);
	}
	CHECK_EQ_INT(query_int_text(NULL, out), -EDOM);
}

TEST(field_match_is_the_server_comparison_or_undecided)
{
	static const struct {
		const char *member;	/* JSON text; NULL: the member is missing */
		const char *want;
		bool list;
		int rc;
	} cases[] = {
		/* strings compare as today */
		{ "\"40823\"", "40823", false, 1 },
		{ "\"40823\"", "7", false, 0 },
		{ "\"Running\"", "Running", true, 1 },
		{ "\"Running\"", "Stopped,Running", true, 1 },
		{ "\"Running\"", "Stopped,Failed", true, 0 },
		{ "\"Running\"", "Running,Stopped", false, 0 },	/* not a list key: one value */
		{ "\"dsw-1\"", "dsw-2,dsw-1", true, 1 },
		{ "\"\"", "CPU", false, 0 },
		{ NULL, "40823", false, 0 },
		/* an integral number is its canonical text */
		{ "40823", "40823", false, 1 },
		{ "40823.0", "40823", false, 1 },
		{ "40823", "7", false, 0 },
		{ "40823", "dsw-1,40823", true, 1 },
		{ "-5", "-5", false, 1 },
		{ "0", "0", false, 1 },
		{ "40823", "ALL", false, 0 },
		/* spellings a server reading numbers could equate: undecided, whatever the member */
		{ "40823", "040823", false, -EDOM },
		{ "\"40823\"", "040823", false, -EDOM },
		{ "\"ws-a\"", "040823", false, -EDOM },
		{ "\"040823\"", "40823", false, -EDOM },
		{ "40823", "40823.0", false, -EDOM },
		{ "40823", "+40823", false, -EDOM },
		{ "40823", "4.0823e4", false, -EDOM },
		{ "40823", " 40823", false, -EDOM },
		{ "\"40823\"", "40823 ", false, -EDOM },
		{ "\"a\"", "a,,b", true, -EDOM },
		{ "\"a\"", "b,-0", true, -EDOM },
		{ "\"-\"", "a", false, -EDOM },
		{ "\"-x\"", "-x", false, 1 },
		{ "\"a\"", "-.5", false, -EDOM },
		/* members of unexpected types: undecided */
		{ "40823.5", "40823", false, -EDOM },
		{ "9007199254740994", "9007199254740994", false, -EDOM },
		{ "true", "true", false, -EDOM },
		{ "false", "CPU", false, -EDOM },
		{ "null", "Running", true, -EDOM },
		{ "[\"Running\"]", "Running", true, -EDOM },
		{ "{\"Status\":\"Running\"}", "Running", true, -EDOM },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = match_json(cases[i].member, cases[i].want, cases[i].list);

		if (rc != cases[i].rc)
			tf_fail(__FILE__, __LINE__, "member %s, want \"%s\"%s: %d, expected %d",
				cases[i].member ? cases[i].member : "(missing)", cases[i].want,
				cases[i].list ? " (list)" : "", rc, cases[i].rc);
	}
	CHECK_EQ_INT(query_field_match(NULL, NULL, false), -EDOM);
}

TEST(key_values_of_numeric_ids)
{
	cJSON *inst = cJSON_Parse(
		"{\"WorkspaceId\":40823,\"InstanceId\":123456789,\"ResourceId\":7.0,"
		"\"UserId\":1612285282502324,\"InstanceName\":42,\"Status\":1,"
		"\"ImageName\":3,\"OversoldInfo\":1}");
	static const struct {
		enum query_key k;
		const char *v;	/* NULL: none */
	} want[] = {
		{ QK_WORKSPACE_ID, "40823" }, { QK_INSTANCE_ID, "123456789" },
		{ QK_RESOURCE_ID, "7" }, { QK_CREATE_USER_ID, "1612285282502324" },
		{ QK_INSTANCE_NAME, NULL }, { QK_STATUS, NULL }, { QK_IMAGE_NAME, NULL },
		{ QK_OVERSOLD_INFO, NULL },
	};
	struct collected c;

	CHECK(inst != NULL);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		c = values_of(want[i].k, inst);
		if (!want[i].v) {
			if (c.n)
				tf_fail(__FILE__, __LINE__, "%s: unexpected %s",
					query_key_dirname(want[i].k), c.vals[0]);
			continue;
		}
		CHECK_EQ_INT(c.n, 1);
		CHECK_EQ_STR(c.vals[0], want[i].v);
	}
	cJSON_Delete(inst);
	/* a fraction or a bool is no id */
	inst = cJSON_Parse("{\"WorkspaceId\":40823.5,\"InstanceId\":true,\"ResourceId\":null}");
	CHECK_EQ_INT(values_of(QK_WORKSPACE_ID, inst).n, 0);
	CHECK_EQ_INT(values_of(QK_INSTANCE_ID, inst).n, 0);
	CHECK_EQ_INT(values_of(QK_RESOURCE_ID, inst).n, 0);
	cJSON_Delete(inst);
}

TEST(allocation_failures)
{
	each_failure(query_scenario);
}
