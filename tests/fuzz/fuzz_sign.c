/* fuzz_sign: splits input into a request (method, path, params, headers) and checks the signer's
 * invariants: encodings only hold unreserved bytes and %XX and decode back, the canonical query
 * is sorted, the signed header list is sorted, unique and only host/content-type/x-acs-*. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Input: line 1 method, line 2 path, then "Hname:value" lines are headers and any other line
 * "name=value" (or just "name") is a query parameter. */
const char *const fuzz_seeds[] = {
	"GET\n/api/v2/instances\nPageSize=100\nPageNumber=1\nWorkspaceId=ALL\n"
	"Hhost:pai-dsw.cn-hangzhou.aliyuncs.com\nHx-acs-action:ListInstances\n"
	"Hx-acs-version:2022-01-01\nHx-acs-date:2024-01-01T00:00:00Z\nHuser-agent:dswfs",
	"POST\n/\nRegionId=cn-shanghai\nImageId=win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd\n"
	"Hhost:ecs.cn-shanghai.aliyuncs.com\nHx-acs-signature-nonce:3156853299f313e23d1673dc12e1703d",
	"\n\ntest=ok\nempty=\nHx-acs-test:http\nHx-acs-test:https",
	"GET\n/a b/c*d/~e\nLabels={\"k1\":\"v 1\",\"k2\":\"\xe6\xb5\x8b\"}\n"
	"Tag=[{\"Key\":\"k\",\"Value\":\"v\"}]\nStatus=Running,Stopped\nHX-ACS-B: 1 \nHx-acs-b:\t2\n",
	"GET\n/\xc3\xa9/%2F\nname with space=value+with=plus*star~tilde\n=\n==\n&=&\nHContent-Type:"
	" application/json \nHaccept:*/*\nHx-acsno:1\nH:\nH\n",
	"",
	NULL,
};

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;	/* lower-case hex is not allowed in the output */
}

static bool unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || c == '~';
}

/* Checks enc holds only unreserved bytes (and '/' when slash_ok) and %XX, and decodes it into
 * dec (at least strlen(enc)+1 bytes). */
static void check_encoding(const char *enc, bool slash_ok, char *dec)
{
	size_t j = 0;

	for (size_t i = 0; enc[i]; i++) {
		unsigned char c = (unsigned char)enc[i];

		if (c == '%') {
			int hi = hexval(enc[i + 1]), lo = hi < 0 ? -1 : hexval(enc[i + 2]);

			if (hi < 0 || lo < 0)
				abort();
			dec[j++] = (char)(hi * 16 + lo);
			i += 2;
		} else if (unreserved(c) || (slash_ok && c == '/')) {
			dec[j++] = (char)c;
		} else {
			abort();
		}
	}
	dec[j] = '\0';
}

static void check_roundtrip(const char *raw, const char *enc, bool slash_ok)
{
	char *dec = malloc(strlen(enc) + 1);

	if (!dec)
		abort();
	check_encoding(enc, slash_ok, dec);
	if (strcmp(dec, raw) != 0)
		abort();
	free(dec);
}

/* The query string: one name=value per parameter, names in non-decreasing byte order. */
static void check_query(const char *qs, size_t nquery)
{
	char *copy = strdup(qs), *save = NULL, *prev = NULL;
	size_t count = 0;

	if (!copy)
		abort();
	if (nquery == 0 && *qs)
		abort();
	for (char *part = strtok_r(copy, "&", &save); part; part = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(part, '=');
		char *name;

		if (!eq || strchr(eq + 1, '='))
			abort();
		*eq = '\0';
		name = malloc(strlen(part) + 1);
		if (!name)
			abort();
		check_encoding(part, false, name);
		check_encoding(eq + 1, false, eq + 1);	/* decodes in place: never longer */
		if (prev && strcmp(prev, name) > 0)
			abort();
		free(prev);
		prev = name;
		count++;
	}
	free(prev);
	/* Every parameter gives at least "=", so strtok never drops one. */
	if (count != nquery)
		abort();
	free(copy);
}

static void check_signed_headers(const char *sh)
{
	char *copy = strdup(sh), *save = NULL, *prev = NULL;

	if (!copy)
		abort();
	for (char *n = strtok_r(copy, ";", &save); n; n = strtok_r(NULL, ";", &save)) {
		for (const char *c = n; *c; c++)
			if (*c >= 'A' && *c <= 'Z')
				abort();
		if (strcmp(n, "host") && strcmp(n, "content-type") && strncmp(n, "x-acs-", 6))
			abort();
		if (prev && strcmp(prev, n) >= 0)
			abort();
		prev = n;
	}
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), *save = NULL, *line;
	struct sign_kv *query = calloc(size + 1, sizeof(*query));
	struct sign_kv *headers = calloc(size + 1, sizeof(*headers));
	struct sign_request r = { .method = "", .path = "", .payload_hash = SIGN_EMPTY_SHA256 };
	char *enc, *qs, *creq, *auth, *auth2, *sh = NULL, sig[65], date[21];
	int lineno = 0;

	if (!text || !query || !headers)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	/* strsep keeps empty lines, so empty methods, paths and names are exercised too. */
	save = text;
	while ((line = strsep(&save, "\n")) != NULL) {
		char *sep;

		if (lineno == 0) {
			r.method = line;
		} else if (lineno == 1) {
			r.path = line;
		} else if (line[0] == 'H') {
			sep = strchr(line + 1, ':');
			if (sep)
				*sep++ = '\0';
			/* ';' separates SignedHeaders and is no HTTP header name character. */
			for (char *c = line + 1; *c; c++)
				if (*c == ';')
					*c = '_';
			headers[r.nheaders].name = line + 1;
			headers[r.nheaders].value = sep;	/* NULL is allowed: an empty value */
			r.nheaders++;
		} else {
			sep = strchr(line, '=');
			if (sep)
				*sep++ = '\0';
			query[r.nquery].name = line;
			query[r.nquery].value = sep ? sep : "";
			r.nquery++;
		}
		lineno++;
	}
	r.query = query;
	r.headers = headers;

	for (size_t i = 0; i < r.nquery; i++) {
		enc = sign_encode(query[i].value);
		if (!enc)
			abort();
		check_roundtrip(query[i].value, enc, false);
		free(enc);
	}
	enc = sign_encode_path(r.path);
	if (!enc)
		abort();
	check_roundtrip(*r.path ? r.path : "/", enc, true);
	free(enc);

	qs = sign_query_string(r.query, r.nquery);
	if (!qs)
		abort();
	check_query(qs, r.nquery);

	creq = sign_canonical_request(&r);
	if (!creq)
		abort();
	/* The first three lines are the method, the encoded path and the query string. */
	if (strncmp(creq, r.method, strlen(r.method)) != 0 || creq[strlen(r.method)] != '\n')
		abort();
	if (!strstr(creq, qs))
		abort();
	{
		size_t cl = strlen(creq), hl = strlen(SIGN_EMPTY_SHA256);

		if (cl < hl + 1 || strcmp(creq + cl - hl, SIGN_EMPTY_SHA256) != 0 ||
		    creq[cl - hl - 1] != '\n')
			abort();
	}

	if (sign_signature(&r, "fuzz-secret", sig, &sh) != 0)
		abort();
	if (strlen(sig) != 64 || strspn(sig, "0123456789abcdef") != 64)
		abort();
	check_signed_headers(sh);
	auth = sign_authorization(&r, "id", "fuzz-secret");
	auth2 = sign_authorization(&r, "id", "fuzz-secret");
	if (!auth || !auth2 || strcmp(auth, auth2) != 0 || !strstr(auth, sig) || !strstr(auth, sh))
		abort();

	sign_format_date((long long)size * 7919 - 5000000000LL, date);
	if (strlen(date) != 20 || date[19] != 'Z')
		abort();

	free(auth);
	free(auth2);
	free(sh);
	free(creq);
	free(qs);
	free(text);
	free(query);
	free(headers);
	return 0;
}
