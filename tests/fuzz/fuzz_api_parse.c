/* fuzz_api_parse: feeds arbitrary bodies to api_parse_page and checks its contract: a success
 * is a well-typed page (Instances an array of objects with non-empty string InstanceIds, bad
 * instances counted as skipped, TotalCount an integral number), a failure has no page and a
 * NUL-terminated one-line message (test_api checks it never quotes an unparsed body). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

const char *const fuzz_seeds[] = {
	"{\"RequestId\":\"R\",\"Success\":true,\"Code\":\"null\",\"TotalCount\":2,\"Instances\":["
	"{\"InstanceId\":\"dsw-1\",\"InstanceName\":\"a\",\"Labels\":[{\"Key\":\"k\",\"Value\":\"v\"}]},"
	"{\"InstanceId\":\"dsw-2\",\"UserName\":\"\\u6d4b\\u8bd5\",\"Priority\":1}]}",
	"{\"TotalCount\":0}",
	"{\"TotalCount\":0,\"Instances\":null}",
	"{\"TotalCount\":\"5\",\"Instances\":\"x\"}",
	"{\"TotalCount\":1,\"Instances\":[{\"InstanceId\":5},null,[],\"s\"]}",
	"{\"RequestId\":\"R\",\"HostId\":\"h\",\"Code\":\"Throttling.User\",\"Message\":\"slow\\ndown\"}",
	"{\"Code\":\"SignatureDoesNotMatch\",\"Message\":\"m\",\"RequestId\":\"r\",\"Recommend\":\"x\"}",
	"{\"Success\":false,\"HttpStatusCode\":404,\"Code\":\"x\"}",
	"<html><body>502 Bad Gateway</body></html>",
	"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
	"{\"TotalCount\":1e400,\"Instances\":[]} trailing",
	"{\"TotalCount\":4,\"Instances\":[{\"InstanceId\":\"a\\u0000x\"},{\"InstanceId\":\"a\\\\u0000y\"},"
	"{\"InstanceId\":12},{\"InstanceId\":\"\"},{\"InstanceId\":{}}]}",
	"AccessKeySecret=FUZZSECRETFUZZSECRET <html>",
	"",
	NULL,
};

static void check_message(const struct err_info *e)
{
	if (!memchr(e->message, '\0', sizeof(e->message)) || !memchr(e->code, '\0', sizeof(e->code)) ||
	    !memchr(e->request_id, '\0', sizeof(e->request_id)))
		abort();
	for (const char *p = e->message; *p; p++)
		if ((unsigned char)*p < 0x20)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int statuses[] = { 200, 400, 404, 503 };
	/* The first byte picks the HTTP status, so error paths are fuzzed too. */
	int status = size ? statuses[data[0] % 4] : 200;

	for (int pass = 0; pass < 2; pass++) {
		const char *body = (const char *)data + (pass ? (size ? 1 : 0) : 0);
		size_t len = pass ? (size ? size - 1 : 0) : size;
		int st = pass ? status : 200;
		struct err_info e;
		cJSON *page = (cJSON *)&e;
		int rc, skipped = -1;

		memset(&e, 0, sizeof(e));
		rc = api_parse_page(body, len, st, "text/html", &page, &skipped, &e);
		if (rc) {
			if (page || rc > 0)
				abort();
			check_message(&e);
			continue;
		}
		if (skipped < 0 || (skipped > 0) != (e.message[0] != '\0'))
			abort();
		check_message(&e);
		if (st != 200 || !page)
			abort();
		{
			const cJSON *inst = cJSON_GetObjectItemCaseSensitive(page, "Instances");
			const cJSON *tc = cJSON_GetObjectItemCaseSensitive(page, "TotalCount");
			const cJSON *it;

			if (!cJSON_IsArray(inst) || !cJSON_IsNumber(tc) || tc->valuedouble < 0)
				abort();
			cJSON_ArrayForEach(it, inst) {
				const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "InstanceId");

				if (!cJSON_IsObject(it) || !cJSON_IsString(id) || !id->valuestring[0])
					abort();
			}
		}
		cJSON_Delete(page);
	}
	return 0;
}
