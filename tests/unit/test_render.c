/* test_render: instance objects as file trees: contents, numbers, escaping, redaction, limits. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cjson/cJSON.h>

#include "render.h"
#include "tf.h"
#include "alloc_fail.h"
#include "fixture.h"

/* Secrets of the example, none of which may survive redaction. */
static const char *const example_secrets[] = {
	"aGFyYm9yYWlAeGltYWxheWE6KioqKioq", "MAAS", "acs:ram::123******:role/****",
	"LT********", "456******", "AssumeRoleFor\": \"123", "\"Policy\": \"{}\"", NULL,
};

/* Parses, redacts (unless show), renders. */
static struct render_node *render_text(const char *json, bool show, cJSON **redacted)
{
	cJSON *inst = cJSON_Parse(json), *r;
	struct render_node *root = NULL;

	if (!inst) {
		tf_fail(__FILE__, __LINE__, "bad JSON in test");
		return NULL;
	}
	r = render_redact(inst, show);
	cJSON_Delete(inst);
	CHECK(r != NULL);
	CHECK_EQ_INT(render_instance(r, &root), 0);
	if (redacted) {
		*redacted = r;
	} else {
		/* The tree borrows r: kept until 32 renders later (trees here live shorter). */
		static cJSON *ring[32];
		static unsigned next;

		cJSON_Delete(ring[next % 32]);
		ring[next++ % 32] = r;
	}
	return root;
}

/* The content of the file at path, or NULL (as a string for CHECK_EQ_STR). */
static const char *file_at(const struct render_node *root, const char *path)
{
	const struct render_node *n = render_lookup(root, path);
	size_t len;
	const char *d;

	if (!n || render_is_dir(n))
		return NULL;
	d = render_data(n, &len);
	CHECK(d && strlen(d) == len);
	return d;
}

static bool valid_name(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n < 256 && !strchr(s, '/') && strcmp(s, ".") && strcmp(s, "..");
}

static bool mem_contains(const char *hay, size_t n, const char *needle)
{
	return memmem(hay, n, needle, strlen(needle)) != NULL;
}

/* Checks names, order and lookups everywhere below n; fails if any byte of a name or file
 * holds one of secrets. Returns the bytes of all files. */
static size_t walk(const struct render_node *root, const struct render_node *n, char *path,
		   size_t plen, const char *const *secrets)
{
	size_t total = 0;

	for (size_t i = 0; i < render_nchildren(n); i++) {
		const struct render_node *c = render_child(n, i);
		const char *name = render_name(c);
		size_t nlen = strlen(name);

		CHECK(valid_name(name));
		if (i)
			CHECK(strcmp(render_name(render_child(n, i - 1)), name) < 0);
		if (plen + nlen + 2 > 8192)
			continue;
		if (plen)
			path[plen] = '/';
		memcpy(path + plen + (plen ? 1 : 0), name, nlen + 1);
		CHECK(render_lookup(root, path) == c);
		for (const char *const *s = secrets; s && *s; s++)
			if (mem_contains(name, nlen, *s))
				tf_fail(__FILE__, __LINE__, "secret %s in name %s", *s, path);
		if (render_is_dir(c)) {
			CHECK(render_data(c, NULL) == NULL);
			total += walk(root, c, path, plen + nlen + (plen ? 1 : 0), secrets);
		} else {
			size_t len = 0;
			const char *d = render_data(c, &len);

			CHECK(d != NULL);
			CHECK_EQ_INT(render_nchildren(c), 0);
			CHECK(render_child(c, 0) == NULL);
			CHECK(d && d[len] == 0);
			for (const char *const *s = secrets; s && *s && d; s++)
				if (mem_contains(d, len, *s))
					tf_fail(__FILE__, __LINE__, "secret %s in %s", *s, path);
			total += len;
		}
		path[plen] = 0;
	}
	return total;
}

static size_t walk_all(const struct render_node *root, const char *const *secrets)
{
	char *path = calloc(1, 8192);
	size_t total = walk(root, root, path, 0, secrets);

	free(path);
	return total;
}

TEST(example_files)
{
	cJSON *red = NULL;
	struct render_node *root = render_text(example_instance, false, &red);
	const struct render_node *n;
	cJSON *back;
	size_t len;
	const char *d;

	CHECK(root && render_is_dir(root));
	CHECK_EQ_STR(render_name(root), "");
	CHECK(render_lookup(root, "") == root);
	CHECK_EQ_STR(file_at(root, "Status"), "Running\n");
	CHECK_EQ_STR(file_at(root, "WorkspaceId"), "40823\n");
	CHECK_EQ_STR(file_at(root, "InstanceId"), "dsw-730xxxxxxxxxx\n");
	CHECK_EQ_STR(file_at(root, "UserName"), "\xe6\xb5\x8b\xe8\xaf\x95\xe7\x94\xa8\xe6\x88\xb7\n");
	CHECK_EQ_STR(file_at(root, "AccumulatedRunningTimeInMs"), "3600000\n");
	CHECK_EQ_STR(file_at(root, "Priority"), "1\n");
	CHECK_EQ_STR(file_at(root, "GmtCreateTime"), "2021-01-12T14:36:01Z\n");
	CHECK_EQ_STR(file_at(root, "OversoldType"), "\n");
	CHECK_EQ_STR(file_at(root, "InstanceUrl"),
		     "https://dsw-cn-shanghai.data.aliyun.com/notebook.htm?instance=39772#/\n");
	n = render_lookup(root, "RequestedResource");
	CHECK(render_is_dir(n));
	CHECK_EQ_INT(render_nchildren(n), 5);
	CHECK_EQ_STR(file_at(root, "RequestedResource/CPU"), "32\n");
	CHECK_EQ_STR(file_at(root, "RequestedResource/GPU"), "4\n");
	CHECK_EQ_STR(file_at(root, "RequestedResource/GPUType"), "NVIDIA A10\n");
	CHECK_EQ_STR(file_at(root, "LatestSnapshot/Status"), "Pushing\n");
	CHECK_EQ_STR(file_at(root, "InstanceShutdownTimer/RemainingTimeInMs"), "3600000\n");
	CHECK_EQ_STR(file_at(root, "IdleInstanceCuller/CpuPercentThreshold"), "20\n");
	CHECK_EQ_STR(file_at(root, "Affinity/CPU/Enable"), "true\n");
	CHECK_EQ_STR(file_at(root, "UserVpc/VpcId"), "vpc-xxxxx\n");
	CHECK_EQ_STR(file_at(root, "UserVpc/BandwidthLimit/IngressRate"), "\n");
	CHECK(file_at(root, "UserVpc/BandwidthLimit/EgressWhitelists.json") != NULL);
	CHECK(file_at(root, "UserVpc/ForwardInfos.json") != NULL);
	CHECK_EQ_STR(file_at(root, "UserVpc/ExtendedCIDRs.json"), "[\"192.168.0.1/24\"]\n");
	CHECK(file_at(root, "DynamicMount/MountPoints.json") != NULL);
	CHECK_EQ_STR(file_at(root, "DynamicMount/Enable"), "true\n");

	/* arrays: the pretty JSON and "\n" */
	d = render_data(render_lookup(root, "Datasets.json"), &len);
	CHECK(d != NULL);
	{
		char *want = cJSON_Print(cJSON_GetObjectItem(red, "Datasets"));

		CHECK(want && len == strlen(want) + 1 && !strncmp(d, want, len - 1));
		CHECK(d[len - 1] == '\n');
		CHECK(strncmp(d, "[{\n\t\t\"DatasetId\":\t\"d-vsqjvsjp4orp5l206u\",\n", 40) == 0);
		CHECK(strstr(d, "\"Dynamic\":\tfalse") != NULL);
		free(want);
	}
	back = cJSON_Parse(d);
	CHECK(cJSON_Compare(back, cJSON_GetObjectItem(red, "Datasets"), true));
	cJSON_Delete(back);
	CHECK(render_lookup(root, "Datasets") == NULL);
	CHECK(render_lookup(root, "Labels.json") && render_lookup(root, "Tags.json"));
	CHECK(render_lookup(root, "InstanceSnapshotList.json") && render_lookup(root, "CloudDisks.json"));

	/* instance.json: the whole (redacted) object */
	d = render_data(render_lookup(root, "instance.json"), &len);
	CHECK(d && len > 1000 && d[len - 1] == '\n' && d[0] == '{');
	back = cJSON_Parse(d);
	CHECK(cJSON_Compare(back, red, true));
	cJSON_Delete(back);

	/* the top level: one entry per non-null member (arrays as .json), plus instance.json */
	{
		size_t want = 1;
		const cJSON *m;

		cJSON_ArrayForEach(m, red) {
			char name[300];

			if (cJSON_IsNull(m))
				continue;
			want++;
			snprintf(name, sizeof(name), "%s%s", m->string, cJSON_IsArray(m) ? ".json" : "");
			n = render_lookup(root, name);
			if (!n)
				tf_fail(__FILE__, __LINE__, "no %s", name);
			else
				CHECK(render_is_dir(n) == cJSON_IsObject(m));
		}
		CHECK_EQ_INT(render_nchildren(root), want);
	}
	CHECK_EQ_INT(render_bytes(root), walk_all(root, example_secrets));
	CHECK_EQ_INT(render_bytes(render_lookup(root, "Status")), 8);
	render_free(root);
	cJSON_Delete(red);
}

TEST(nulls_booleans_and_future_fields)
{
	struct render_node *root = render_text(
		"{\"A\":null,\"B\":true,\"C\":false,\"D\":{\"E\":null},\"F\":[null],"
		"\"FutureField\":\"x\",\"FutureObj\":{\"Deep\":{\"Deeper\":1.5}},"
		"\"FutureList\":[1,2],\"Empty\":{},\"EmptyList\":[]}", false, NULL);

	CHECK(render_lookup(root, "A") == NULL);
	CHECK_EQ_STR(file_at(root, "B"), "true\n");
	CHECK_EQ_STR(file_at(root, "C"), "false\n");
	CHECK(render_is_dir(render_lookup(root, "D")));
	CHECK_EQ_INT(render_nchildren(render_lookup(root, "D")), 0);
	CHECK(render_lookup(root, "D/E") == NULL);
	CHECK_EQ_STR(file_at(root, "F.json"), "[null]\n");
	CHECK_EQ_STR(file_at(root, "FutureField"), "x\n");
	CHECK_EQ_STR(file_at(root, "FutureObj/Deep/Deeper"), "1.5\n");
	CHECK_EQ_STR(file_at(root, "FutureList.json"), "[1, 2]\n");
	CHECK(render_is_dir(render_lookup(root, "Empty")));
	CHECK_EQ_STR(file_at(root, "EmptyList.json"), "[]\n");
	CHECK_EQ_INT(render_nchildren(root), 10);	/* A left out, instance.json added */
	render_free(root);
	render_free(NULL);
}

static void check_number(double d, const char *want)
{
	cJSON *n = cJSON_CreateNumber(d);
	size_t len = 0;
	char *s = render_scalar(n, &len);
	char w[64];

	snprintf(w, sizeof(w), "%s\n", want);
	CHECK_EQ_STR(s, w);
	CHECK(s && len == strlen(s));
	free(s);
	cJSON_Delete(n);
}

TEST(number_formatting)
{
	check_number(0, "0");
	check_number(-0.0, "0");
	check_number(1, "1");
	check_number(-1, "-1");
	check_number(3600000, "3600000");
	check_number(1612285282502324.0, "1612285282502324");
	check_number(9007199254740992.0, "9007199254740992");
	check_number(-9007199254740992.0, "-9007199254740992");
	check_number(9007199254740994.0, "9007199254740994");
	check_number(1e20, "1e+20");
	check_number(-1e300, "-1e+300");
	check_number(0.1, "0.1");
	check_number(0.5, "0.5");
	check_number(-2.5, "-2.5");
	check_number(1.5e-7, "1.5e-07");
	check_number(1.0 / 3.0, "0.3333333333333333");
	check_number(2.0 / 3.0, "0.6666666666666666");
	check_number(0.1 + 0.2, "0.30000000000000004");
	check_number(5e-324, "4.94065645841247e-324");
	check_number(1.7976931348623157e308, "1.7976931348623157e+308");
	/* every printed value reads back as the same double */
	for (int i = 0; i < 2000; i++) {
		double d = (i - 1000) * 0.001 * ldexp(1.0, i % 40) + (i % 7) / 3.0;
		cJSON *n = cJSON_CreateNumber(d);
		char *s = render_scalar(n, NULL);

		CHECK(s && strtod(s, NULL) == d && s[strlen(s) - 1] == '\n');
		free(s);
		cJSON_Delete(n);
	}
	/* from JSON text, as the API sends it */
	{
		struct render_node *root = render_text(
			"{\"I\":3600000,\"F\":20.0,\"E\":1E3,\"N\":-7,\"Big\":12345678901234567890,"
			"\"Inf\":1e999,\"Small\":1e-5}", false, NULL);

		CHECK_EQ_STR(file_at(root, "I"), "3600000\n");
		CHECK_EQ_STR(file_at(root, "F"), "20\n");
		CHECK_EQ_STR(file_at(root, "E"), "1000\n");
		CHECK_EQ_STR(file_at(root, "N"), "-7\n");
		CHECK_EQ_STR(file_at(root, "Big"), "1.2345678901234567e+19\n");
		CHECK(render_lookup(root, "Inf") == NULL);	/* out of range: null, as in instance.json */
		CHECK_EQ_STR(file_at(root, "Small"), "1e-05\n");
		render_free(root);
	}
}

TEST(scalar_contents)
{
	cJSON *j = cJSON_Parse("{\"s\":\"a\\nb\",\"e\":\"\",\"t\":true,\"f\":false,\"n\":null,"
			       "\"o\":{},\"a\":[],\"u\":\"\\u00e9\\ud83d\\ude00\"}");
	size_t len = 99;
	char *s;

	s = render_scalar(cJSON_GetObjectItem(j, "s"), &len);
	CHECK_EQ_STR(s, "a\nb\n");
	CHECK_EQ_INT(len, 4);
	free(s);
	s = render_scalar(cJSON_GetObjectItem(j, "e"), &len);
	CHECK_EQ_STR(s, "\n");
	CHECK_EQ_INT(len, 1);
	free(s);
	s = render_scalar(cJSON_GetObjectItem(j, "t"), NULL);
	CHECK_EQ_STR(s, "true\n");
	free(s);
	s = render_scalar(cJSON_GetObjectItem(j, "f"), NULL);
	CHECK_EQ_STR(s, "false\n");
	free(s);
	s = render_scalar(cJSON_GetObjectItem(j, "u"), NULL);
	CHECK_EQ_STR(s, "\xc3\xa9\xf0\x9f\x98\x80\n");
	free(s);
	CHECK(render_scalar(cJSON_GetObjectItem(j, "n"), &len) == NULL);
	CHECK(render_scalar(cJSON_GetObjectItem(j, "o"), &len) == NULL);
	CHECK(render_scalar(cJSON_GetObjectItem(j, "a"), &len) == NULL);
	CHECK(render_scalar(NULL, &len) == NULL);
	cJSON_Delete(j);
}

TEST(json_files)
{
	cJSON *j = cJSON_Parse("{\"a\":[1,{\"b\":\"c\"}],\"s\":\"x\"}");
	size_t len = 0;
	char *s = render_json(cJSON_GetObjectItem(j, "a"), &len);

	CHECK_EQ_STR(s, "[1, {\n\t\t\"b\":\t\"c\"\n\t}]\n");
	CHECK(s && len == strlen(s));
	free(s);
	s = render_json(cJSON_GetObjectItem(j, "s"), NULL);
	CHECK_EQ_STR(s, "\"x\"\n");
	free(s);
	s = render_json(j, &len);
	CHECK(s && s[len - 1] == '\n' && s[0] == '{');
	free(s);
	CHECK(render_json(NULL, &len) == NULL);
	cJSON_Delete(j);
}

TEST(redaction_of_example)
{
	cJSON *inst = cJSON_Parse(example_instance), *red = render_redact(inst, false), *c;
	struct render_node *root = NULL;
	const char *d;
	size_t len;

	CHECK(red != NULL && red != inst);
	/* the input is untouched */
	CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(inst, "ImageAuth")),
		     "aGFyYm9yYWlAeGltYWxheWE6KioqKioq");
	CHECK_EQ_INT(render_instance(red, &root), 0);
	CHECK_EQ_STR(file_at(root, "ImageAuth"), RENDER_REDACTED "\n");
	CHECK_EQ_STR(file_at(root, "EnvironmentVariables/key"), RENDER_REDACTED "\n");
	CHECK_EQ_INT(render_nchildren(render_lookup(root, "EnvironmentVariables")), 1);
	CHECK_EQ_STR(file_at(root, "CredentialConfig/Enable"), RENDER_REDACTED "\n");
	CHECK_EQ_STR(file_at(root, "CredentialConfig/AliyunEnvRoleKey"), RENDER_REDACTED "\n");
	d = file_at(root, "CredentialConfig/Configs.json");
	CHECK(d != NULL);
	c = cJSON_Parse(d);
	/* structure and names kept, every leaf replaced */
	{
		cJSON *role = cJSON_GetArrayItem(
			cJSON_GetObjectItem(cJSON_GetArrayItem(c, 0), "Roles"), 0);
		cJSON *ui = cJSON_GetObjectItem(role, "UserInfo");

		CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(role, "RoleArn")),
			     RENDER_REDACTED);
		CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(ui, "AccessKeyId")),
			     RENDER_REDACTED);
		CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(ui, "SecurityToken")),
			     RENDER_REDACTED);
		CHECK_EQ_INT(cJSON_GetArraySize(ui), 4);
	}
	cJSON_Delete(c);
	/* the other members are as they were */
	CHECK_EQ_STR(file_at(root, "Status"), "Running\n");
	CHECK_EQ_STR(file_at(root, "Labels.json"),
		     "[{\n\t\t\"Key\":\t\"stsTokenOwner\",\n\t\t\"Value\":\t\"123xxxxxxxx\"\n\t}]\n");
	walk_all(root, example_secrets);
	d = render_data(render_lookup(root, "instance.json"), &len);
	for (const char *const *s = example_secrets; *s; s++)
		CHECK(!mem_contains(d, len, *s));
	render_free(root);
	cJSON_Delete(red);

	/* show_secrets: a plain copy */
	red = render_redact(inst, true);
	CHECK(cJSON_Compare(red, inst, true));
	CHECK_EQ_INT(render_instance(red, &root), 0);
	CHECK_EQ_STR(file_at(root, "ImageAuth"), "aGFyYm9yYWlAeGltYWxheWE6KioqKioq\n");
	CHECK_EQ_STR(file_at(root, "EnvironmentVariables/key"), "MAAS\n");
	CHECK_EQ_STR(file_at(root, "CredentialConfig/Enable"), "true\n");
	render_free(root);
	cJSON_Delete(red);
	cJSON_Delete(inst);
}

TEST(redaction_of_odd_shapes)
{
	static const char *const secrets[] = {
		"S1-image", "S2-nested", "S3-deep", "987654321", "S5-env", "S6-envobj",
		"S7-envarr", "S8-dup", "S9-case", "S10-credstr", "S11-imgobj", "S12-key",
		"S13-nested", "S14-nested-env", NULL,
	};
	cJSON *red = NULL;
	struct render_node *root = render_text(
		"{\"ImageAuth\":\"S1-image\","
		" \"CredentialConfig\":{\"A\":[\"S2-nested\",[{\"B\":{\"C\":[[\"S3-deep\"]]}}]],"
		"   \"Num\":987654321,\"Flag\":false,\"Nil\":null,\"Obj\":{}},"
		" \"EnvironmentVariables\":{\"PLAIN\":\"S5-env\",\"OBJ\":{\"x\":\"S6-envobj\"},"
		"   \"NUM\":42,\"NIL\":null},"
		" \"ImageAuth\":\"S8-dup\", \"imageauth\":\"S9-case\","
		" \"Other\":{\"ImageAuth\":\"S13-nested\",\"List\":[{\"EnvironmentVariables\":"
		"   {\"K\":\"S14-nested-env\"}}],\"Plain\":\"kept\"}}",
		false, &red);
	char *all = cJSON_PrintUnformatted(red);

	CHECK_EQ_STR(file_at(root, "ImageAuth"), RENDER_REDACTED "\n");
	CHECK_EQ_STR(file_at(root, "imageauth"), RENDER_REDACTED "\n");
	CHECK_EQ_STR(file_at(root, "CredentialConfig/Num"), RENDER_REDACTED "\n");
	CHECK_EQ_STR(file_at(root, "CredentialConfig/Flag"), RENDER_REDACTED "\n");
	CHECK(render_lookup(root, "CredentialConfig/Nil") == NULL);
	CHECK(render_is_dir(render_lookup(root, "CredentialConfig/Obj")));
	CHECK_EQ_STR(file_at(root, "CredentialConfig/A.json"),
		     "[\"<redacted>\", [{\n\t\t\t\"B\":\t{\n\t\t\t\t\"C\":\t[[\"<redacted>\"]]\n"
		     "\t\t\t}\n\t\t}]]\n");
	CHECK_EQ_STR(file_at(root, "EnvironmentVariables/PLAIN"), RENDER_REDACTED "\n");
	CHECK_EQ_STR(file_at(root, "EnvironmentVariables/OBJ"), RENDER_REDACTED "\n");
	CHECK_EQ_STR(file_at(root, "EnvironmentVariables/NUM"), RENDER_REDACTED "\n");
	CHECK(render_lookup(root, "EnvironmentVariables/NIL") == NULL);
	/* found at any depth too */
	CHECK_EQ_STR(file_at(root, "Other/ImageAuth"), RENDER_REDACTED "\n");
	CHECK_EQ_STR(file_at(root, "Other/List.json"),
		     "[{\n\t\t\"EnvironmentVariables\":\t{\n\t\t\t\"K\":\t\"<redacted>\"\n\t\t}\n\t}]\n");
	CHECK_EQ_STR(file_at(root, "Other/Plain"), "kept\n");
	CHECK(all && !strstr(all, "S8-dup"));	/* the repeated member, printed in instance.json */
	walk_all(root, secrets);
	free(all);
	render_free(root);
	cJSON_Delete(red);

	root = render_text("{\"ImageAuth\":{\"u\":\"S11-imgobj\"},\"CredentialConfig\":\"S10-credstr\","
			   "\"EnvironmentVariables\":[{\"Name\":\"S12-key\",\"Value\":\"S7-envarr\"}]}",
			   false, NULL);
	CHECK_EQ_STR(file_at(root, "ImageAuth"), RENDER_REDACTED "\n");
	CHECK_EQ_STR(file_at(root, "CredentialConfig"), RENDER_REDACTED "\n");
	CHECK_EQ_STR(file_at(root, "EnvironmentVariables.json"),
		     "[{\n\t\t\"Name\":\t\"<redacted>\",\n\t\t\"Value\":\t\"<redacted>\"\n\t}]\n");
	walk_all(root, secrets);
	render_free(root);

	/* null secrets stay null (no file); arrays are searched as well */
	root = render_text("{\"ImageAuth\":null,\"EnvironmentVariables\":null}", false, NULL);
	CHECK(render_lookup(root, "ImageAuth") == NULL);
	CHECK(render_lookup(root, "EnvironmentVariables") == NULL);
	render_free(root);
	{
		cJSON *arr = cJSON_Parse("[{\"ImageAuth\":\"x\"},\"ImageAuth\"]");
		cJSON *c = render_redact(arr, false);
		char *txt = cJSON_PrintUnformatted(c);

		CHECK_EQ_STR(txt, "[{\"ImageAuth\":\"<redacted>\"},\"ImageAuth\"]");
		free(txt);
		cJSON_Delete(arr);
		cJSON_Delete(c);
	}
	CHECK(render_redact(NULL, false) == NULL);
}

TEST(redaction_by_name)
{
	static const char *const secrets[] = {
		"P1-code", "P2-jupyter", "P3-nested", "P4-inarray", "P5-upper", "P6-lower",
		"P7-obj", "P8-arr", "P9-pk", "P10-ak", "P11-tok", "P12-secret", "P13-objname",
		"P14-dup", "24680135", NULL,
	};
	static const char *const doc =
		"{\"ServiceConfig\":{\"CodeServerAuth\":\"password\",\"CodeServerPassword\":\"P1-code\","
		"  \"JupyterServerAuth\":\"none\",\"JupyterServerPassword\":\"P2-jupyter\"},"
		" \"Outer\":{\"Inner\":{\"DbPassword\":\"P3-nested\",\"Port\":5432}},"
		" \"Hosts\":[{\"Name\":\"h1\",\"ApiToken\":\"P4-inarray\"},[{\"PASSWORD\":\"P5-upper\"}]],"
		" \"sshprivatekey\":\"P6-lower\","
		" \"ClientSecret\":{\"P13-objname\":\"P7-obj\",\"n\":null},"
		" \"Tokens\":[\"P8-arr\",24680135],"
		" \"PrivateKeyPem\":\"P9-pk\",\"MyAccessKeyId\":\"P10-ak\",\"TokenExpireTime\":\"P11-tok\","
		" \"x_secret_y\":\"P12-secret\",\"ApiToken\":\"P14-dup\",\"ApiToken\":\"P14-dup\","
		" \"NullToken\":null,\"SSHPublicKey\":\"ssh-ed25519 kept\",\"Passwd\":\"kept-passwd\","
		" \"Access\":\"kept-access\"}";
	cJSON *red = NULL;
	struct render_node *root = render_text(doc, false, &red);
	char *all = cJSON_PrintUnformatted(red);

	/* the SDK's ServiceConfig: the passwords go, the auth modes stay */
	CHECK_EQ_STR(file_at(root, "ServiceConfig/CodeServerPassword"), RENDER_REDACTED "\n");
	CHECK_EQ_STR(file_at(root, "ServiceConfig/JupyterServerPassword"), RENDER_REDACTED "\n");
	CHECK_EQ_STR(file_at(root, "ServiceConfig/CodeServerAuth"), "password\n");
	CHECK_EQ_STR(file_at(root, "ServiceConfig/JupyterServerAuth"), "none\n");
	/* any depth, objects within arrays, any case */
	CHECK_EQ_STR(file_at(root, "Outer/Inner/DbPassword"), RENDER_REDACTED "\n");
	CHECK_EQ_STR(file_at(root, "Outer/Inner/Port"), "5432\n");
	CHECK_EQ_STR(file_at(root, "Hosts.json"),
		     "[{\n\t\t\"Name\":\t\"h1\",\n\t\t\"ApiToken\":\t\"<redacted>\"\n\t}, "
		     "[{\n\t\t\t\"PASSWORD\":\t\"<redacted>\"\n\t\t}]]\n");
	CHECK_EQ_STR(file_at(root, "sshprivatekey"), RENDER_REDACTED "\n");
	CHECK_EQ_STR(file_at(root, "PrivateKeyPem"), RENDER_REDACTED "\n");
	CHECK_EQ_STR(file_at(root, "MyAccessKeyId"), RENDER_REDACTED "\n");
	CHECK_EQ_STR(file_at(root, "x_secret_y"), RENDER_REDACTED "\n");
	/* the rule as stated: a substring is enough, even where the value is harmless */
	CHECK_EQ_STR(file_at(root, "TokenExpireTime"), RENDER_REDACTED "\n");
	/* an object or array under a secret name is replaced whole, names included */
	CHECK_EQ_STR(file_at(root, "ClientSecret"), RENDER_REDACTED "\n");
	CHECK(!render_is_dir(render_lookup(root, "ClientSecret")));
	CHECK_EQ_STR(file_at(root, "Tokens"), RENDER_REDACTED "\n");
	CHECK(render_lookup(root, "Tokens.json") == NULL);
	/* null stays null; near misses stay */
	CHECK(render_lookup(root, "NullToken") == NULL);
	CHECK(all && strstr(all, "\"NullToken\":null"));
	CHECK_EQ_STR(file_at(root, "SSHPublicKey"), "ssh-ed25519 kept\n");
	CHECK_EQ_STR(file_at(root, "Passwd"), "kept-passwd\n");
	CHECK_EQ_STR(file_at(root, "Access"), "kept-access\n");
	CHECK(all && !strstr(all, "P14-dup"));	/* the repeat too, as instance.json prints it */
	walk_all(root, secrets);
	free(all);
	render_free(root);
	cJSON_Delete(red);

	/* show_secrets: every value as sent */
	root = render_text(doc, true, NULL);
	CHECK_EQ_STR(file_at(root, "ServiceConfig/CodeServerPassword"), "P1-code\n");
	CHECK_EQ_STR(file_at(root, "ServiceConfig/JupyterServerPassword"), "P2-jupyter\n");
	CHECK_EQ_STR(file_at(root, "Outer/Inner/DbPassword"), "P3-nested\n");
	CHECK_EQ_STR(file_at(root, "ClientSecret/P13-objname"), "P7-obj\n");
	CHECK_EQ_STR(file_at(root, "TokenExpireTime"), "P11-tok\n");
	render_free(root);

	/* the three named rules come first: EnvironmentVariables keeps its (secret-looking)
	 * names, CredentialConfig keeps its structure */
	root = render_text("{\"EnvironmentVariables\":{\"DB_PASSWORD\":\"P5-upper\"},"
			   "\"CredentialConfig\":{\"UserInfo\":{\"SecurityToken\":\"P11-tok\"}}}",
			   false, NULL);
	CHECK_EQ_STR(file_at(root, "EnvironmentVariables/DB_PASSWORD"), RENDER_REDACTED "\n");
	CHECK_EQ_STR(file_at(root, "CredentialConfig/UserInfo/SecurityToken"),
		     RENDER_REDACTED "\n");
	walk_all(root, secrets);
	render_free(root);
}

static void check_escape(const char *in, const char *want)
{
	char out[RENDER_NAME_MAX];

	render_escape_name(in, out);
	CHECK_EQ_STR(out, want);
}

/* Whether s is valid UTF-8 (no sequence cut short). */
static bool utf8_ok(const unsigned char *s)
{
	while (*s) {
		int n = *s < 0x80 ? 0 : (*s & 0xe0) == 0xc0 ? 1 : (*s & 0xf0) == 0xe0 ? 2 :
			(*s & 0xf8) == 0xf0 ? 3 : -1;

		if (n < 0)
			return false;
		s++;
		for (int i = 0; i < n; i++, s++)
			if ((*s & 0xc0) != 0x80)
				return false;
	}
	return true;
}

TEST(escape_rules)
{
	char out[RENDER_NAME_MAX], in[1200];

	check_escape("Status", "Status");
	check_escape("a/b", "a%2Fb");
	check_escape("100%", "100%25");
	check_escape("%2F", "%252F");
	check_escape("a\nb", "a%0Ab");
	check_escape("\x01\x1f\x7f", "%01%1F%7F");
	check_escape("tab\there", "tab%09here");
	check_escape(".", "%2E");
	check_escape("..", "%2E%2E");
	check_escape("...", "%2E..");
	check_escape(".hidden", "%2Ehidden");
	check_escape("a.b.", "a.b.");
	check_escape("a.", "a.");
	check_escape("", "%00");
	check_escape(NULL, "%00");
	check_escape(" spaced out ", " spaced out ");
	check_escape("\xe6\xb5\x8b\xe8\xaf\x95", "\xe6\xb5\x8b\xe8\xaf\x95");
	check_escape("\x80\xff", "\x80\xff");
	check_escape("dsw-730xxxxxxxxxx", "dsw-730xxxxxxxxxx");
	check_escape("name@dsw-1", "name@dsw-1");

	/* 255 bytes fit; 256 are cut to 246 + "~" + 8 hex digits */
	memset(in, 'x', 255);
	in[255] = 0;
	render_escape_name(in, out);
	CHECK_EQ_STR(out, in);
	in[255] = 'y';
	in[256] = 0;
	render_escape_name(in, out);
	CHECK_EQ_INT(strlen(out), 255);
	CHECK(!strncmp(out, in, 246) && out[246] == '~');
	CHECK_EQ_INT(strspn(out + 247, "0123456789abcdef"), 8);
	{
		char again[RENDER_NAME_MAX], other[RENDER_NAME_MAX];

		render_escape_name(in, again);
		CHECK_EQ_STR(again, out);	/* deterministic */
		in[255] = 'z';
		render_escape_name(in, other);
		CHECK(strcmp(other, out) != 0);	/* the tail still tells them apart */
		CHECK(!strncmp(other, out, 247));
	}

	/* escapes count after expansion: 85 slashes are 255 bytes, 86 are cut */
	memset(in, '/', 85);
	in[85] = 0;
	render_escape_name(in, out);
	CHECK_EQ_INT(strlen(out), 255);
	CHECK(!strchr(out, '~'));
	in[85] = '/';
	in[86] = 0;
	render_escape_name(in, out);
	CHECK_EQ_INT(strlen(out), 255);
	CHECK(out[246] == '~' && !strncmp(out, "%2F%2F", 6));
	/* and are never split: "a" + 81 escapes fill 244, a 245th..246th byte would split one */
	in[0] = 'a';
	render_escape_name(in, out);
	CHECK_EQ_INT(strlen(out), 253);
	CHECK(out[244] == '~' && !strncmp(out + 241, "%2F", 3));

	/* long unicode names are cut at a character boundary */
	in[0] = 'a';
	for (int i = 0; i < 100; i++)
		memcpy(in + 1 + 3 * i, "\xe6\xb5\x8b", 3);
	in[301] = 0;
	render_escape_name(in, out);
	CHECK_EQ_INT(strlen(out), 1 + 81 * 3 + 9);
	CHECK(utf8_ok((const unsigned char *)out));
	CHECK(out[244] == '~');
	for (int i = 0; i < 150; i++)
		memcpy(in + 2 * i, "\xc3\xa9", 2);
	in[300] = 0;
	render_escape_name(in, out);
	CHECK_EQ_INT(strlen(out), 255);
	CHECK(utf8_ok((const unsigned char *)out));
	for (int i = 0; i < 100; i++)
		memcpy(in + 4 * i, "\xf0\x9f\x98\x80", 4);
	in[400] = 0;
	render_escape_name(in, out);
	CHECK_EQ_INT(strlen(out), 244 + 9);
	CHECK(utf8_ok((const unsigned char *)out));
	/* a very long name */
	memset(in, 'q', sizeof(in) - 1);
	in[sizeof(in) - 1] = 0;
	render_escape_name(in, out);
	CHECK_EQ_INT(strlen(out), 255);
}

TEST(escaped_member_names)
{
	char longname[400], key[600], json[2000], want[RENDER_NAME_MAX + 8];
	struct render_node *root;

	root = render_text("{\"a/b\":1,\"\":2,\".\":3,\"..\":4,\"x\\ny\":5,\"arr/\":[1],"
			   "\"%\":6,\".\":\"dup\",\"\":[7],\"..\":{\"in\":8}}", false, NULL);
	CHECK_EQ_STR(file_at(root, "a%2Fb"), "1\n");
	CHECK_EQ_STR(file_at(root, "%00"), "2\n");
	CHECK_EQ_STR(file_at(root, "%2E"), "3\n");
	CHECK_EQ_STR(file_at(root, "%2E%2E"), "4\n");
	CHECK_EQ_STR(file_at(root, "x%0Ay"), "5\n");
	CHECK_EQ_STR(file_at(root, "arr%2F.json"), "[1]\n");
	CHECK_EQ_STR(file_at(root, "%25"), "6\n");
	CHECK_EQ_STR(file_at(root, "%00.json"), "[7]\n");
	CHECK_EQ_INT(render_nchildren(root), 9);
	walk_all(root, NULL);
	render_free(root);

	/* long names: members and arrays (whose ".json" survives the cut) */
	memset(longname, 'L', 300);
	longname[300] = 0;
	snprintf(json, sizeof(json), "{\"%s\":\"first\",\"%s\":\"second\",\"%s\":[1]}", longname,
		 longname, "A");
	root = render_text(json, false, NULL);
	render_escape_name(longname, key);
	CHECK_EQ_STR(file_at(root, key), "first\n");
	render_free(root);
	snprintf(json, sizeof(json), "{\"%s\":[1]}", longname);
	root = render_text(json, false, NULL);
	{
		const struct render_node *c = render_child(root, 0);
		const char *name;

		if (!strcmp(render_name(c), "instance.json"))
			c = render_child(root, 1);
		name = render_name(c);
		CHECK_EQ_INT(strlen(name), 255);
		CHECK(strlen(name) > 5 && !strcmp(name + strlen(name) - 5, ".json"));
		CHECK(name[strlen(name) - 14] == '~');
		CHECK_EQ_STR(render_data(c, NULL), "[1]\n");
		(void)want;
	}
	render_free(root);
}

TEST(collisions_first_wins)
{
	struct render_node *root;

	root = render_text("{\"X.json\":\"scalar\",\"X\":[1]}", false, NULL);
	CHECK_EQ_STR(file_at(root, "X.json"), "scalar\n");
	CHECK_EQ_INT(render_nchildren(root), 2);
	render_free(root);
	root = render_text("{\"X\":[1],\"X.json\":\"scalar\"}", false, NULL);
	CHECK_EQ_STR(file_at(root, "X.json"), "[1]\n");
	render_free(root);
	root = render_text("{\"a\":1,\"a\":2,\"a\":{\"b\":3}}", false, NULL);
	CHECK_EQ_STR(file_at(root, "a"), "1\n");
	CHECK_EQ_INT(render_nchildren(root), 2);
	render_free(root);
	root = render_text("{\"a\":null,\"a\":{\"b\":3}}", false, NULL);
	CHECK_EQ_STR(file_at(root, "a/b"), "3\n");	/* a null member has no name to take */
	render_free(root);
	/* instance.json at the top is always the whole object */
	root = render_text("{\"instance.json\":\"fake\",\"instance\":[\"fake\"],"
			   "\"Sub\":{\"instance.json\":\"nested\"}}", false, NULL);
	CHECK(strncmp(file_at(root, "instance.json"), "{\n", 2) == 0);
	CHECK_EQ_STR(file_at(root, "Sub/instance.json"), "nested\n");
	CHECK_EQ_INT(render_nchildren(root), 2);
	render_free(root);
}

TEST(lookup_misses)
{
	struct render_node *root = render_text(example_instance, false, NULL);
	const struct render_node *st = render_lookup(root, "Status");

	CHECK(st && !render_is_dir(st));
	CHECK(render_lookup(root, "Nope") == NULL);
	CHECK(render_lookup(root, "Statu") == NULL);
	CHECK(render_lookup(root, "Status ") == NULL);
	CHECK(render_lookup(root, "status") == NULL);
	CHECK(render_lookup(root, "StatusX") == NULL);
	CHECK(render_lookup(root, "Status/x") == NULL);
	CHECK(render_lookup(root, "Status/") == NULL);
	CHECK(render_lookup(root, "/Status") == NULL);
	CHECK(render_lookup(root, "RequestedResource/") == NULL);
	CHECK(render_lookup(root, "RequestedResource//CPU") == NULL);
	CHECK(render_lookup(root, "RequestedResource/Nope") == NULL);
	CHECK(render_lookup(root, "RequestedResource/CPU/x") == NULL);
	CHECK(render_lookup(root, "Datasets") == NULL);
	CHECK(render_lookup(root, "Datasets.json/0") == NULL);
	CHECK(render_lookup(root, ".") == NULL);
	CHECK(render_lookup(root, "..") == NULL);
	CHECK(render_lookup(root, "\xff") == NULL);
	CHECK(render_lookup(root, "0") == NULL);
	CHECK(render_lookup(root, NULL) == NULL);
	CHECK(render_lookup(NULL, "Status") == NULL);
	CHECK(render_lookup(st, "") == st);
	CHECK(render_lookup(st, "x") == NULL);
	CHECK(!render_is_dir(NULL));
	CHECK(render_data(root, NULL) == NULL);
	{
		size_t sz = 99;

		CHECK(render_data(root, &sz) == NULL && sz == 0);
	}
	CHECK(render_child(root, render_nchildren(root)) == NULL);
	CHECK(render_name(NULL) == NULL);
	CHECK_EQ_INT(render_nchildren(NULL), 0);
	CHECK_EQ_INT(render_bytes(NULL), 0);
	render_free(root);
}

TEST(byte_order_and_wide_objects)
{
	struct render_node *root = render_text(
		"{\"b\":1,\"B\":2,\"a\":3,\"\xc3\xa9\":4,\"_\":5,\"~\":6,\"a b\":7,\"A\":8,"
		"\"aa\":9,\"a.json\":10}", false, NULL);
	static const char *const order[] = {
		"A", "B", "_", "a", "a b", "a.json", "aa", "b", "instance.json", "~", "\xc3\xa9",
	};

	CHECK_EQ_INT(render_nchildren(root), 11);
	for (size_t i = 0; i < 11; i++) {
		CHECK_EQ_STR(render_name(render_child(root, i)), order[i]);
		CHECK(render_lookup(root, order[i]) == render_child(root, i));
	}
	render_free(root);

	/* 2000 members, in reverse order */
	{
		cJSON *o = cJSON_CreateObject();
		char name[32];

		for (int i = 1999; i >= 0; i--) {
			snprintf(name, sizeof(name), "m%05d", i);
			cJSON_AddNumberToObject(o, name, i);
		}
		CHECK_EQ_INT(render_instance(o, &root), 0);
		CHECK_EQ_INT(render_nchildren(root), 2001);
		for (int i = 0; i < 2000; i += 7) {
			char want[32];

			snprintf(name, sizeof(name), "m%05d", i);
			snprintf(want, sizeof(want), "%d\n", i);
			CHECK_EQ_STR(file_at(root, name), want);
		}
		walk_all(root, NULL);
		render_free(root);
		cJSON_Delete(o);
	}
}

TEST(hostile_inputs)
{
	struct render_node *root = (struct render_node *)1;
	cJSON *j;

	j = cJSON_Parse("[1,2]");
	CHECK_EQ_INT(render_instance(j, &root), -EINVAL);
	CHECK(root == NULL);
	cJSON_Delete(j);
	j = cJSON_Parse("\"str\"");
	CHECK_EQ_INT(render_instance(j, &root), -EINVAL);
	cJSON_Delete(j);
	CHECK_EQ_INT(render_instance(NULL, &root), -EINVAL);

	/* wrong types everywhere render as what they are */
	root = render_text("{\"Status\":5,\"RequestedResource\":\"x\",\"Datasets\":{\"a\":1},"
			   "\"Labels\":\"str\",\"Priority\":\"high\",\"UserVpc\":[],"
			   "\"EnvironmentVariables\":\"FOO=bar\",\"CredentialConfig\":7}", false, NULL);
	CHECK_EQ_STR(file_at(root, "Status"), "5\n");
	CHECK_EQ_STR(file_at(root, "RequestedResource"), "x\n");
	CHECK_EQ_STR(file_at(root, "Datasets/a"), "1\n");
	CHECK_EQ_STR(file_at(root, "Labels"), "str\n");
	CHECK_EQ_STR(file_at(root, "Priority"), "high\n");
	CHECK_EQ_STR(file_at(root, "UserVpc.json"), "[]\n");
	CHECK_EQ_STR(file_at(root, "EnvironmentVariables"), RENDER_REDACTED "\n");
	CHECK_EQ_STR(file_at(root, "CredentialConfig"), RENDER_REDACTED "\n");
	render_free(root);

	/* a huge string */
	{
		size_t big = 2u << 20;
		cJSON *o = cJSON_CreateObject();
		char *s = malloc(big + 1);
		size_t len = 0;

		memset(s, 'h', big);
		s[big] = 0;
		cJSON_AddStringToObject(o, "Huge", s);
		CHECK_EQ_INT(render_instance(o, &root), 0);
		CHECK(render_data(render_lookup(root, "Huge"), &len) != NULL);
		CHECK_EQ_INT(len, big + 1);
		CHECK(render_bytes(root) > 2 * big);	/* the file and instance.json */
		render_free(root);
		cJSON_Delete(o);
		free(s);
	}
}

/* {"a":{"a":...{"a":1}...}} nested depth objects deep, via the parser (which caps at 1000). */
static char *nested(int depth, const char *open, const char *close, const char *leaf)
{
	size_t lo = strlen(open), lc = strlen(close), ll = strlen(leaf);
	char *s = malloc((size_t)depth * (lo + lc) + ll + 1), *p = s;

	for (int i = 0; i < depth; i++, p += lo)
		memcpy(p, open, lo);
	memcpy(p, leaf, ll);
	p += ll;
	for (int i = 0; i < depth; i++, p += lc)
		memcpy(p, close, lc);
	*p = 0;
	return s;
}

TEST(deep_nesting)
{
	char *s = nested(1000, "{\"a\":", "}", "1");	/* cJSON's limit */
	cJSON *j = cJSON_Parse(s), *red;
	struct render_node *root = NULL;
	const struct render_node *n;
	char path[200] = "";

	CHECK(j != NULL);
	red = render_redact(j, false);
	CHECK(red != NULL);
	CHECK_EQ_INT(render_instance(red, &root), 0);
	/* 32 levels of directories below the instance, then the rest as one JSON file */
	for (int i = 0; i < 32; i++)
		strcat(path, i ? "/a" : "a");
	n = render_lookup(root, path);
	CHECK(n && render_is_dir(n));
	CHECK_EQ_INT(render_nchildren(n), 1);
	strcat(path, "/a.json");
	n = render_lookup(root, path);
	CHECK(n && !render_is_dir(n));
	{
		/* (cJSON_Compare is exponential in the depth of objects: compare texts) */
		cJSON *back = cJSON_Parse(render_data(n, NULL));
		cJSON *want = j;
		char *x, *y;

		for (int i = 0; i < 33; i++)
			want = cJSON_GetObjectItem(want, "a");
		x = cJSON_PrintUnformatted(back);
		y = cJSON_PrintUnformatted(want);
		CHECK(x && y && strlen(y) == 967 * 6 + 1 && !strcmp(x, y));
		free(x);
		free(y);
		cJSON_Delete(back);
	}
	walk_all(root, NULL);
	render_free(root);
	cJSON_Delete(red);
	cJSON_Delete(j);
	free(s);

	/* deep secrets are still found */
	s = nested(998, "[", "]", "\"S-deep-secret\"");
	{
		char *doc = malloc(strlen(s) + 64);
		static const char *const secrets[] = { "S-deep-secret", NULL };

		sprintf(doc, "{\"CredentialConfig\":{\"x\":%s}}", s);
		j = cJSON_Parse(doc);
		CHECK(j != NULL);
		red = render_redact(j, false);
		CHECK_EQ_INT(render_instance(red, &root), 0);
		walk_all(root, secrets);
		render_free(root);
		cJSON_Delete(red);
		cJSON_Delete(j);
		free(doc);
	}
	free(s);
	/* beyond the parser's limit nothing reaches us */
	s = nested(1001, "{\"a\":", "}", "1");
	CHECK(cJSON_Parse(s) == NULL);
	free(s);
}

static cJSON *failure_input;

static void render_scenario(void)
{
	cJSON *red = render_redact(failure_input, false);
	struct render_node *root = NULL;
	char *s;
	size_t len;
	int rc;

	if (!red)
		return;
	rc = render_instance(red, &root);
	if (rc) {
		CHECK_EQ_INT(rc, -ENOMEM);
		CHECK(root == NULL);
	} else {
		/* bytes render on read: that may fail alone, leaving the tree usable */
		const char *d = render_data(render_lookup(root, "ImageAuth"), &len);

		CHECK(!d || !strcmp(d, RENDER_REDACTED "\n"));
		d = render_data(render_lookup(root, "RequestedResource/CPU"), &len);
		CHECK(!d || !strcmp(d, "32\n"));
		d = render_data(render_lookup(root, "instance.json"), &len);
		CHECK(!d || (len == strlen(d) && d[0] == '{'));
		render_free(root);
	}
	s = render_json(cJSON_GetObjectItem(red, "Datasets"), &len);
	free(s);
	s = render_scalar(cJSON_GetObjectItem(red, "Status"), &len);
	CHECK(!s || !strcmp(s, "Running\n"));
	free(s);
	cJSON_Delete(red);
}

TEST(allocation_failures)
{
	failure_input = cJSON_Parse(example_instance);
	each_failure(render_scenario);
	cJSON_Delete(failure_input);
}
