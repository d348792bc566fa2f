/* fuzz_render: arbitrary JSON through redaction and rendering; checks names, lookups, secrets. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "path.h"
#include "query.h"
#include "render.h"
#include "../unit/fixture.h"

const char *const fuzz_seeds[] = {
	/* the reference's example instance */
	EXAMPLE_INSTANCE_JSON,
	/* the same, trimmed to fit the driver's mutation buffer */
	EXAMPLE_INSTANCE_HEAD
	"\"UserVpc\":{\"VpcId\":\"vpc-xxxxx\","
	"\"VSwitchId\":\"vsw-xxxxx\",\"SecurityGroupId\":\"sg-xxxxxx\",\"ExtendedCIDRs\":[\"192.168.0.1/24\"],"
	"\"DefaultRoute\":\"eth0 | eth1\",\"BandwidthLimit\":{\"EgressWhitelists\":[\"\"],\"IngressRate\":\"\","
	"\"EgressRate\":\"\",\"IngressWhitelists\":[\"\"]}},\"InstanceShutdownTimer\":{\"InstanceId\":\"dsw-730xxxxxxxxxx\","
	"\"GmtCreateTime\":\"2021-01-12T14:36:01Z\",\"GmtModifiedTime\":\"2021-01-12T14:36:01Z\","
	"\"DueTime\":\"2021-01-12T14:36:01Z\",\"RemainingTimeInMs\":3600000},\"ReasonCode\":\"Internal Error\","
	"\"ReasonMessage\":\"ImagePullBackOff\",\"PaymentType\":\"PayAsYouGo\",\"AcceleratorType\":\"CPU\","
	"\"Accessibility\":\"PRIVATE\",\"EnvironmentVariables\":{\"key\":\"MAAS\"},\"ResourceId\":\"dsw-123456789\","
	"\"ResourceName\":\"resource_group\",\"Priority\":1,\"RequestedResource\":{\"CPU\":\"32\","
	"\"Memory\":\"32\",\"SharedMemory\":\"32\",\"GPU\":\"4\",\"GPUType\":\"NVIDIA A10\"},\"Labels\":["
	"{\"Key\":\"stsTokenOwner\",\"Value\":\"123xxxxxxxx\"}],\"IdleInstanceCuller\":{\"InstanceId\":\"dsw-730xxxxxxxxxx\","
	"\"CpuPercentThreshold\":20,\"GpuPercentThreshold\":10,\"MaxIdleTimeInMinutes\":60,\"IdleTimeInMinutes\":30},"
	"\"WorkspaceSource\":\"d-123456789\",\"Driver\":\"535.54.03\",\"CredentialConfig\":{\"Enable\":true,"
	"\"AliyunEnvRoleKey\":\"0\",\"Configs\":[{\"Key\":\"0\",\"Type\":\"Role\",\"Roles\":[{\"RoleArn\":\"acs:ram::123******:role/****\","
	"\"RoleType\":\"service\",\"AssumeRoleFor\":\"123******\",\"Policy\":\"{}\",\"UserInfo\":{"
	"\"Id\":\"456******\",\"Type\":\"sub\",\"AccessKeyId\":\"LT********\",\"SecurityToken\":\"********\"}}]}]},"
	"\"Affinity\":{\"CPU\":{\"Enable\":true}},\"ImageAuth\":\"aGFyYm9yYWlAeGltYWxheWE6KioqKioq\","
	"\"Tags\":[{\"TagKey\":\"tag1\",\"TagValue\":\"value1\"}],\"DynamicMount\":{\"Enable\":true,"
	"\"MountPoints\":[{\"RootPath\":\"\",\"Options\":\"\"}]},\"OversoldType\":\"\",\"OversoldInfo\":\"\"}",
	"{\"InstanceId\":\"dsw-aaa\",\"InstanceName\":\"alpha\",\"WorkspaceId\":\"40823\","
	"\"Status\":\"Running\",\"AcceleratorType\":\"GPU\",\"GmtCreateTime\":\"2024-01-02T03:04:05Z\","
	"\"Priority\":1,\"RequestedResource\":{\"CPU\":\"4\",\"GPUType\":\"NVIDIA A10\"},"
	"\"Labels\":[{\"Key\":\"team\",\"Value\":\"nlp\"}],\"ImageAuth\":\"c2VjcmV0\","
	"\"EnvironmentVariables\":{\"TOKEN\":\"hunter2\"},\"Datasets\":[],\"Nothing\":null}",
	"{\"ImageAuth\":{\"u\":[1,{\"p\":\"x\"}]},\"CredentialConfig\":[[{\"a\":true}],7,null,\"s\"],"
	"\"EnvironmentVariables\":{\"A\":{\"B\":\"c\"},\"D\":[1],\"E\":null,\"F\":2.5},"
	"\"imageauth\":\"dup\",\"ImageAuth\":\"again\"}",
	"{\"a/b\":1,\"\":2,\".\":3,\"..\":4,\"x\\ny\":5,\"arr/\":[1],\"%\":6,\"\\u0000z\":7,"
	"\"X.json\":\"s\",\"X\":[1],\"instance.json\":0,\"instance\":[0],\"a\":1,\"a\":{\"b\":2}}",
	"{\"\xe6\xb5\x8b\xe8\xaf\x95\":\"\xe7\x94\xa8\xe6\x88\xb7\",\"\\u00e9\":\"\\ud83d\\ude00\","
	"\"Labels\":{\"foo\":\"bar\",\"k=v\":\"x\"},\"Tags\":[{\"Key\":\"k\",\"Value\":\"v\"},"
	"{\"TagKey\":\"t\",\"TagValue\":\"u/v\"}]}",
	"{\"n\":[0,-0,1e308,1e-308,5e-324,1e999,-1e999,9007199254740993,0.1,123456789012345678901234]}",
	"{\"Status\":5,\"RequestedResource\":\"x\",\"Datasets\":{\"a\":1},\"Labels\":\"str\","
	"\"Tags\":{},\"WorkspaceId\":40823,\"UserVpc\":[],\"Priority\":\"high\"}",
	/* 34 objects deep: beyond the 32 directory levels */
	"{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{"
	"\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{"
	"\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":[[[[1]]]]}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}",
	"{\"CredentialConfig\":{\"a\":[[[[[[[[[[\"deep\"]]]]]]]]]]}}",
	"{}",
	"[]",
	"[{\"InstanceId\":\"dsw-1\"}]",
	"\"str\"",
	"42",
	"null",
	NULL,
};

static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_render: %s: %s\n", what, detail ? detail : "");
	abort();
}

static int name_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n < RENDER_NAME_MAX && !strchr(s, '/') && strcmp(s, ".") && strcmp(s, "..");
}

struct secrets {
	char text[40];	/* planted string secret */
	char number[24];	/* planted number secret, as it would print */
	int check_number;
};

static void check_bytes(const char *p, size_t n, const struct secrets *sec, const char *where)
{
	if (!sec)
		return;
	if (memmem(p, n, sec->text, strlen(sec->text)))
		fail("string secret rendered", where);
	if (sec->check_number && memmem(p, n, sec->number, strlen(sec->number)))
		fail("number secret rendered", where);
}

/* Every name valid, children strictly sorted, each reachable by render_lookup; no secret in any
 * byte. Returns the bytes of the files below n. */
static size_t walk(const struct render_node *root, const struct render_node *n, char *path,
		   size_t plen, const struct secrets *sec)
{
	size_t total = 0;

	for (size_t i = 0; i < render_nchildren(n); i++) {
		const struct render_node *c = render_child(n, i);
		const char *name = render_name(c);
		size_t nlen = strlen(name), dlen = 0;

		if (!name_ok(name))
			fail("invalid name", name);
		if (i && strcmp(render_name(render_child(n, i - 1)), name) >= 0)
			fail("children not strictly sorted", name);
		check_bytes(name, nlen, sec, name);
		memcpy(path + plen + (plen ? 1 : 0), name, nlen + 1);
		if (plen)
			path[plen] = '/';
		if (render_lookup(root, path) != c)
			fail("lookup does not find the child", path);
		if (render_is_dir(c)) {
			total += walk(root, c, path, plen + nlen + (plen ? 1 : 0), sec);
		} else {
			const char *d = render_data(c, &dlen);

			if (!d || d[dlen] != 0)
				fail("file without data", path);
			check_bytes(d, dlen, sec, path);
			total += dlen;
		}
		path[plen] = 0;
	}
	return total;
}

static size_t walk_all(const struct render_node *root, const struct secrets *sec)
{
	/* 32 levels of at most 255-byte names, and the file below them */
	static char path[40 * 260];

	path[0] = 0;
	return walk(root, root, path, 0, sec);
}

static uint64_t hash(const uint8_t *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return h;
}

/* Puts secrets where the API keeps them: another ImageAuth member, a leaf deep in
 * CredentialConfig (and a number), an environment variable; and under secret-looking names
 * (render.h's name rule): a password in a ServiceConfig, a token in an object within an array,
 * a key below the first object member the input has, each in its own case. */
static void plant(cJSON *inst, const struct secrets *sec)
{
	cJSON *cc = cJSON_GetObjectItemCaseSensitive(inst, "CredentialConfig");
	cJSON *env = cJSON_GetObjectItemCaseSensitive(inst, "EnvironmentVariables");
	cJSON *deep = cJSON_CreateObject(), *arr = cJSON_CreateArray();

	cJSON_AddItemToArray(arr, cJSON_CreateString(sec->text));
	cJSON_AddItemToArray(arr, cJSON_CreateNumber(strtod(sec->number, NULL)));
	cJSON_AddItemToObject(deep, "Planted", arr);
	if (cJSON_IsObject(cc))
		cJSON_AddItemToObject(cc, "FuzzPlanted", deep);
	else if (cJSON_IsArray(cc))
		cJSON_AddItemToArray(cc, deep);
	else
		cJSON_AddItemToObject(inst, "CredentialConfig", deep);
	if (cJSON_IsObject(env))
		cJSON_AddStringToObject(env, "FUZZ_PLANTED", sec->text);
	else
		cJSON_AddStringToObject(inst, "EnvironmentVariables", sec->text);
	cJSON_AddStringToObject(inst, "ImageAuth", sec->text);
	{
		cJSON *svc = cJSON_CreateObject(), *list = cJSON_CreateArray();
		cJSON *el = cJSON_CreateObject(), *m;

		cJSON_AddStringToObject(svc, "CodeServerAuth", "password");
		cJSON_AddStringToObject(svc, "JupyterServerPASSWORD", sec->text);
		cJSON_AddItemToObject(inst, "ServiceConfig", svc);
		cJSON_AddNumberToObject(el, "apitoken", strtod(sec->number, NULL));
		cJSON_AddItemToArray(list, el);
		cJSON_AddItemToObject(inst, "FuzzList", list);
		cJSON_ArrayForEach(m, inst)
			if (cJSON_IsObject(m) && m != svc) {
				cJSON_AddStringToObject(m, "FuzzPrivateKey", sec->text);
				break;
			}
	}
}

static void emit_value(const char *v, void *ctx)
{
	enum query_key k = *(enum query_key *)ctx;
	struct query *base = query_new("ALL", "ALL");
	struct path_info qp;
	char path[600];
	int rc;

	if (!name_ok(v) || !query_value_valid(k, v))
		fail("emitted value cannot be typed back", v);
	snprintf(path, sizeof(path), "/instances/%s/%s", query_key_dirname(k), v);
	rc = path_parse(path, base, &qp);
	if (rc || qp.node != PATH_QUERY_DIR)
		fail("emitted value does not parse", path);
	path_free(&qp);
	query_free(base);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *inst = cJSON_ParseWithLength((const char *)data, size), *red;
	struct render_node *root = NULL;
	struct secrets sec;
	char *str, esc[RENDER_NAME_MAX];
	size_t len;
	uint64_t h = hash(data, size);
	int rc;

	/* names from the raw bytes */
	str = malloc(size + 1);
	memcpy(str, data, size);
	str[size] = 0;
	render_escape_name(str, esc);
	if (!name_ok(esc))
		fail("escaped name invalid", esc);
	free(str);
	if (!inst)
		return 0;

	if (!cJSON_IsObject(inst)) {
		if (render_instance(inst, &root) != -EINVAL || root)
			fail("non-object rendered", NULL);
		red = render_redact(inst, false);
		str = render_json(red, &len);
		if (!red || !str || str[len - 1] != '\n')
			fail("render_json", NULL);
		free(str);
		free(render_scalar(inst, &len));
		cJSON_Delete(red);
		cJSON_Delete(inst);
		return 0;
	}

	for (int k = 0; k < QK__COUNT; k++) {
		enum query_key key = (enum query_key)k;

		query_key_values(key, inst, emit_value, &key);
	}

	snprintf(sec.text, sizeof(sec.text), "zQ%016llxSeCrEt", (unsigned long long)h);
	snprintf(sec.number, sizeof(sec.number), "%llu",
		 (unsigned long long)(100000000000ULL + h % 800000000000ULL));
	sec.check_number = !memmem(data, size, sec.number, strlen(sec.number));
	plant(inst, &sec);

	/* redacted: no trace of the planted secrets anywhere */
	red = render_redact(inst, false);
	if (!red)
		fail("render_redact", NULL);
	rc = render_instance(red, &root);
	if (rc)
		fail("render_instance", NULL);
	if (walk_all(root, &sec) != render_bytes(root))
		fail("render_bytes disagrees", NULL);
	if (render_lookup(root, "") != root || !render_lookup(root, "instance.json"))
		fail("root lookups", NULL);
	render_free(root);
	cJSON_Delete(red);

	/* shown: the same tree with the secrets in it (so the check above was not vacuous) */
	red = render_redact(inst, true);
	if (!red || render_instance(red, &root))
		fail("render with secrets", NULL);
	walk_all(root, NULL);
	{
		const char *d = render_data(render_lookup(root, "instance.json"), &len);

		if (!d || !memmem(d, len, sec.text, strlen(sec.text)))
			fail("planted secret missing from instance.json", NULL);
	}
	render_free(root);
	cJSON_Delete(red);
	cJSON_Delete(inst);
	return 0;
}
