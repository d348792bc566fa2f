/* sign_cli: signs JSON-described requests from stdin (one per line) and prints one Authorization
 * value per line, so other test suites can hold our signer against Alibaba Cloud's own.
 *
 * Input line: {"method": "GET", "path": "/x", "query": {"name": "value"}, "headers": {...},
 *              "payload_hash": "<hex>" | "body": "<text>", "access_key_id": "id",
 *              "access_key_secret": "secret"}
 * ("key_id" and "secret" are accepted as short names). query and headers may also be arrays
 * of [name, value] pairs, which allows repeated names. A null value is an empty one.
 * With --canonical, each output line is the canonical request as a JSON string instead.
 * A line that cannot be used prints "ERROR: <reason>"; the exit status is then 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "sign.h"

static const char *str_member(const cJSON *o, const char *a, const char *b)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);

	if (!v && b)
		v = cJSON_GetObjectItemCaseSensitive(o, b);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Fills *out with the pairs of an object or an array of [name, value]; returns the count or
 * -1 for a malformed member. */
static long pairs(const cJSON *v, struct sign_kv **out)
{
	long n = 0;
	const cJSON *it;

	*out = NULL;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsObject(v) && !cJSON_IsArray(v))
		return -1;
	*out = calloc((size_t)cJSON_GetArraySize(v) + 1, sizeof(**out));
	if (!*out)
		return -1;
	cJSON_ArrayForEach(it, v) {
		const cJSON *val = it;

		if (cJSON_IsArray(v)) {
			const cJSON *name = cJSON_GetArrayItem(it, 0);

			if (!cJSON_IsArray(it) || !cJSON_IsString(name))
				return -1;
			(*out)[n].name = name->valuestring;
			val = cJSON_GetArrayItem(it, 1);
		} else {
			(*out)[n].name = it->string;
		}
		if (cJSON_IsString(val))
			(*out)[n].value = val->valuestring;
		else if (!val || cJSON_IsNull(val))
			(*out)[n].value = NULL;
		else
			return -1;
		n++;
	}
	return n;
}

static void print_json_string(const char *s)
{
	cJSON *j = cJSON_CreateString(s);
	char *p = j ? cJSON_PrintUnformatted(j) : NULL;

	puts(p ? p : "null");
	free(p);
	cJSON_Delete(j);
}

/* Signs one line; returns 0 or prints an ERROR line and returns 1. */
static int sign_line(const char *line, int canonical_only)
{
	cJSON *o = cJSON_Parse(line);
	struct sign_kv *q = NULL, *h = NULL;
	struct sign_request r;
	char hash[65], *out = NULL;
	const char *body, *id, *secret, *why = NULL;
	long nq, nh;

	if (!cJSON_IsObject(o)) {
		why = "not a JSON object";
		goto out;
	}
	nq = pairs(cJSON_GetObjectItemCaseSensitive(o, "query"), &q);
	nh = pairs(cJSON_GetObjectItemCaseSensitive(o, "headers"), &h);
	if (nq < 0 || nh < 0) {
		why = "query and headers must be objects or [name, value] arrays of strings";
		goto out;
	}
	memset(&r, 0, sizeof(r));
	r.method = str_member(o, "method", NULL);
	r.path = str_member(o, "path", "pathname");
	r.query = q;
	r.nquery = (size_t)nq;
	r.headers = h;
	r.nheaders = (size_t)nh;
	r.payload_hash = str_member(o, "payload_hash", NULL);
	body = str_member(o, "body", NULL);
	if (!r.payload_hash) {
		sign_sha256_hex(body ? body : "", body ? strlen(body) : 0, hash);
		r.payload_hash = hash;
	}
	if (!r.method)
		r.method = "";
	id = str_member(o, "access_key_id", "key_id");
	secret = str_member(o, "access_key_secret", "secret");
	if (!canonical_only && (!id || !secret)) {
		why = "access_key_id and access_key_secret are required";
		goto out;
	}
	out = canonical_only ? sign_canonical_request(&r) : sign_authorization(&r, id, secret);
	if (!out) {
		why = "out of memory";
		goto out;
	}
	if (canonical_only)
		print_json_string(out);
	else
		puts(out);
out:
	if (why)
		printf("ERROR: %s\n", why);
	free(out);
	free(q);
	free(h);
	cJSON_Delete(o);
	return why ? 1 : 0;
}

int main(int argc, char **argv)
{
	int canonical_only = argc > 1 && strcmp(argv[1], "--canonical") == 0;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc = 0;

	if (argc > 1 && !canonical_only) {
		fprintf(stderr, "usage: %s [--canonical] < cases.jsonl\n", argv[0]);
		return 2;
	}
	while ((n = getline(&line, &cap, stdin)) >= 0) {
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n == 0)
			continue;	/* blank lines separate nothing and give no output */
		rc |= sign_line(line, canonical_only);
	}
	free(line);
	fflush(stdout);
	return rc;
}
