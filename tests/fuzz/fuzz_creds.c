/* fuzz_creds: STS credential documents (URI, ECS, AssumeRole*) and error answers as dswfs reads
 * them: any input either parses into complete credentials with a sane expiry or fails with a
 * reason that never quotes the secret; the error reader always leaves NUL-terminated, one-line
 * fields, and the formatters stay inside their buffers. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "creds.h"
#include "err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

const char *const fuzz_seeds[] = {
	"{\"RequestId\":\"R\",\"Credentials\":{\"AccessKeyId\":\"STS.A\",\"AccessKeySecret\":\"S\","
	"\"SecurityToken\":\"T\",\"Expiration\":\"2030-01-01T00:00:00Z\"}}",
	"{\"Code\":\"Success\",\"AccessKeyId\":\"A\",\"AccessKeySecret\":\"S\",\"SecurityToken\":\"T\","
	"\"Expiration\":\"2030-01-01T00:00:00.123+08:00\"}",
	"{\"Credentials\":\"x\"}",
	"{\"code\":\"NoPermission\",\"message\":\"m\\n\",\"requestId\":\"r\",\"AccessDeniedDetail\":"
	"{\"AuthAction\":\"sts:AssumeRole\",\"AuthPrincipalDisplayName\":\"a\"}}",
	"{\"Code\":\"Forbidden.RAM\",\"AccessDeniedDetail\":\"{\\\"AuthAction\\\":\\\"pai:List\\\"}\","
	"\"Recommend\":\"https://x\",\"HostId\":\"h\"}",
	"[]",
	"",
	NULL,
};

static void check_field(const char *f, size_t n)
{
	if (!memchr(f, '\0', n))
		abort();
	for (; *f; f++)
		if ((unsigned char)*f < 0x20)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct creds c;
	struct err_info e;
	char err[512], line[300], lng[700];
	cJSON *j;
	int rc = creds_parse_sts((const char *)data, size, &c, "fuzz", err, sizeof(err));

	if (rc == 0) {
		if (!c.access_key_id || !c.access_key_secret || !c.security_token || !c.expiration)
			abort();
		creds_clear(&c);
	} else if (rc != -EIO && rc != -ENOMEM) {
		abort();
	} else if (!memchr(err, '\0', sizeof(err))) {
		abort();
	}
	j = cJSON_ParseWithLength((const char *)data, size);
	memset(&e, 0, sizeof(e));
	if (j) {
		err_read_body(&e, j);
		cJSON_Delete(j);
	}
	check_field(e.code, sizeof(e.code));
	check_field(e.message, sizeof(e.message));
	check_field(e.request_id, sizeof(e.request_id));
	check_field(e.host_id, sizeof(e.host_id));
	check_field(e.recommend, sizeof(e.recommend));
	check_field(e.auth_action, sizeof(e.auth_action));
	check_field(e.auth_principal, sizeof(e.auth_principal));
	check_field(e.no_permission_type, sizeof(e.no_permission_type));
	check_field(e.policy_type, sizeof(e.policy_type));
	e.err = -EACCES;
	err_format(&e, line, sizeof(line));
	err_format_brief(&e, line, sizeof(line));
	err_format_long(&e, lng, sizeof(lng));
	if (strlen(line) >= sizeof(line) || strlen(lng) >= sizeof(lng))
		abort();
	return 0;
}
