/* sign: Alibaba Cloud ACS3-HMAC-SHA256 request signing (pure: no I/O, no clock, no randomness). */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "buf.h"
#include "sign.h"

#define ALGORITHM "ACS3-HMAC-SHA256"

static const char hexdig_upper[] = "0123456789ABCDEF";
static const char hexdig_lower[] = "0123456789abcdef";

static bool is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || c == '~';
}

/* Appends the encoding of s; keep_slash is for paths. Returns 0 or -ENOMEM. */
static int encode_into(struct buf *b, const char *s, bool keep_slash)
{
	const unsigned char *p = (const unsigned char *)s;
	int rc = 0;

	while (*p && !rc) {
		size_t run = 0;

		/* Copy runs of safe bytes in one append: names and values are mostly plain ASCII. */
		while (p[run] && (is_unreserved(p[run]) || (keep_slash && p[run] == '/')))
			run++;
		if (run) {
			rc = buf_append(b, p, run);
			p += run;
		} else {
			char esc[3] = { '%', hexdig_upper[*p >> 4], hexdig_upper[*p & 15] };

			rc = buf_append(b, esc, 3);
			p++;
		}
	}
	return rc;
}

/* A buffer's contents as a malloc'd string, or NULL (and nothing leaked) after an error. */
static char *finish(struct buf *b, int rc)
{
	char *s;

	if (rc) {
		buf_free(b);
		return NULL;
	}
	s = buf_steal(b, NULL);
	buf_free(b);
	return s;
}

char *sign_encode(const char *s)
{
	struct buf b;

	buf_init(&b, SIZE_MAX);
	return finish(&b, encode_into(&b, s ? s : "", false));
}

char *sign_encode_path(const char *path)
{
	struct buf b;

	/* Step 3 of the algorithm: an empty path is "/" (the second published vector needs it). */
	if (!path || !*path)
		return strdup("/");
	buf_init(&b, SIZE_MAX);
	return finish(&b, encode_into(&b, path, true));
}

/* Sorting is by raw name in byte order; ties keep the caller's order, so the output never
 * depends on qsort's instability. */
struct kv_ref {
	const char *name;	/* for headers: the lower-cased copy */
	const char *value;
	size_t index;
};

static int kv_ref_cmp(const void *a, const void *b)
{
	const struct kv_ref *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return x->index < y->index ? -1 : x->index > y->index;
}

char *sign_query_string(const struct sign_kv *query, size_t nquery)
{
	struct kv_ref *refs;
	struct buf b;
	int rc = 0;

	buf_init(&b, SIZE_MAX);
	if (nquery == 0)
		return finish(&b, 0);
	refs = calloc(nquery, sizeof(*refs));
	if (!refs)
		return NULL;
	for (size_t i = 0; i < nquery; i++) {
		refs[i].name = query[i].name ? query[i].name : "";
		refs[i].value = query[i].value ? query[i].value : "";
		refs[i].index = i;
	}
	qsort(refs, nquery, sizeof(*refs), kv_ref_cmp);
	for (size_t i = 0; i < nquery && !rc; i++) {
		if (i)
			rc = buf_append(&b, "&", 1);
		/* Names are encoded too (RFC 3986 per the published algorithm): this string is also
		 * the wire query, where a raw '&' or '=' in a name would break it. */
		rc = rc ? rc : encode_into(&b, refs[i].name, false);
		rc = rc ? rc : buf_append(&b, "=", 1);
		rc = rc ? rc : encode_into(&b, refs[i].value, false);
	}
	free(refs);
	return finish(&b, rc);
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static bool header_is_signed(const char *lname)
{
	return strcmp(lname, "host") == 0 || strcmp(lname, "content-type") == 0 ||
	       strncmp(lname, "x-acs-", 6) == 0;
}

/* The signed headers sorted by lower-cased name (stable), with the lower-cased names
 * allocated in *names_mem. Returns the count or -ENOMEM. */
static long select_headers(const struct sign_request *r, struct kv_ref **out, char **names_mem)
{
	size_t total = 0, n = 0;
	struct kv_ref *refs;
	char *mem, *w;

	*out = NULL;
	*names_mem = NULL;
	for (size_t i = 0; i < r->nheaders; i++)
		total += strlen(r->headers[i].name ? r->headers[i].name : "") + 1;
	refs = calloc(r->nheaders ? r->nheaders : 1, sizeof(*refs));
	mem = malloc(total ? total : 1);
	if (!refs || !mem) {
		free(refs);
		free(mem);
		return -ENOMEM;
	}
	w = mem;
	for (size_t i = 0; i < r->nheaders; i++) {
		const char *s = r->headers[i].name ? r->headers[i].name : "";
		char *lname = w;

		for (; *s; s++)
			*w++ = (*s >= 'A' && *s <= 'Z') ? (char)(*s - 'A' + 'a') : *s;
		*w++ = '\0';
		if (!header_is_signed(lname))
			continue;
		refs[n].name = lname;
		refs[n].value = r->headers[i].value ? r->headers[i].value : "";
		refs[n].index = i;
		n++;
	}
	qsort(refs, n, sizeof(*refs), kv_ref_cmp);
	*out = refs;
	*names_mem = mem;
	return (long)n;
}

static int append_trimmed(struct buf *b, const char *v)
{
	size_t len;

	while (*v && is_space(*v))
		v++;
	len = strlen(v);
	while (len && is_space(v[len - 1]))
		len--;
	return buf_append(b, v, len);
}

/* Appends the canonical headers block to ch and the SignedHeaders list to sh. */
static int build_headers(const struct sign_request *r, struct buf *ch, struct buf *sh)
{
	struct kv_ref *refs;
	char *names;
	long n = select_headers(r, &refs, &names);
	int rc = 0;

	if (n < 0)
		return (int)n;
	for (long i = 0; i < n && !rc; i++) {
		bool first = i == 0 || strcmp(refs[i - 1].name, refs[i].name) != 0;
		bool last = i == n - 1 || strcmp(refs[i + 1].name, refs[i].name) != 0;

		if (first) {
			if (sh->len)
				rc = buf_append(sh, ";", 1);
			rc = rc ? rc : buf_puts(sh, refs[i].name);
			rc = rc ? rc : buf_puts(ch, refs[i].name);
			rc = rc ? rc : buf_append(ch, ":", 1);
		} else {
			rc = buf_append(ch, ",", 1);
		}
		rc = rc ? rc : append_trimmed(ch, refs[i].value);
		if (last)
			rc = rc ? rc : buf_append(ch, "\n", 1);
	}
	free(refs);
	free(names);
	return rc;
}

/* The canonical request; *signed_headers gets the list when not NULL. */
static char *canonical(const struct sign_request *r, char **signed_headers)
{
	struct buf b, sh;
	char *path = sign_encode_path(r->path);
	char *query = sign_query_string(r->query, r->nquery);
	int rc = (path && query) ? 0 : -ENOMEM;

	buf_init(&b, SIZE_MAX);
	buf_init(&sh, SIZE_MAX);
	rc = rc ? rc : buf_puts(&b, r->method ? r->method : "");
	rc = rc ? rc : buf_append(&b, "\n", 1);
	rc = rc ? rc : buf_puts(&b, path);
	rc = rc ? rc : buf_append(&b, "\n", 1);
	rc = rc ? rc : buf_puts(&b, query);
	rc = rc ? rc : buf_append(&b, "\n", 1);
	rc = rc ? rc : build_headers(r, &b, &sh);
	rc = rc ? rc : buf_append(&b, "\n", 1);
	rc = rc ? rc : buf_append(&b, sh.data ? sh.data : "", sh.len);
	rc = rc ? rc : buf_append(&b, "\n", 1);
	rc = rc ? rc : buf_puts(&b, r->payload_hash ? r->payload_hash : SIGN_EMPTY_SHA256);
	free(path);
	free(query);
	if (!rc && signed_headers) {
		*signed_headers = buf_steal(&sh, NULL);
		if (!*signed_headers)
			rc = -ENOMEM;
	}
	buf_free(&sh);
	return finish(&b, rc);
}

char *sign_canonical_request(const struct sign_request *r)
{
	return canonical(r, NULL);
}

static void to_hex(const unsigned char *d, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexdig_lower[d[i] >> 4];
		out[2 * i + 1] = hexdig_lower[d[i] & 15];
	}
	out[2 * n] = '\0';
}

void sign_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	/* EVP_Digest only fails on allocation failure inside OpenSSL; an all-zero digest then
	 * yields a signature the server rejects, which is the safe outcome. */
	if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
		memset(md, 0, 32);
	to_hex(md, 32, out);
}

int sign_signature(const struct sign_request *r, const char *secret, char out[65],
		   char **signed_headers)
{
	char *creq, *sh = NULL, sts[sizeof(ALGORITHM) + 65];
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	size_t slen = secret ? strlen(secret) : 0;

	out[0] = '\0';
	if (signed_headers)
		*signed_headers = NULL;
	creq = canonical(r, &sh);
	if (!creq)
		return -ENOMEM;
	memcpy(sts, ALGORITHM "\n", sizeof(ALGORITHM));
	sign_sha256_hex(creq, strlen(creq), sts + sizeof(ALGORITHM));
	free(creq);
	/* The key is read in place from the caller's buffer (creds keep it in secmem): no copy
	 * is made here, and OpenSSL wipes its own transient one before HMAC() returns. */
	if (slen > INT32_MAX ||
	    !HMAC(EVP_sha256(), secret ? secret : "", (int)slen, (const unsigned char *)sts,
		  strlen(sts), mac, &maclen) || maclen != 32) {
		free(sh);
		return -ENOMEM;
	}
	to_hex(mac, 32, out);
	if (signed_headers)
		*signed_headers = sh;
	else
		free(sh);
	return 0;
}

char *sign_authorization(const struct sign_request *r, const char *access_key_id,
			 const char *secret)
{
	char sig[65], *sh;
	struct buf b;

	if (sign_signature(r, secret, sig, &sh) != 0)
		return NULL;
	buf_init(&b, SIZE_MAX);
	if (buf_printf(&b, ALGORITHM " Credential=%s,SignedHeaders=%s,Signature=%s",
		       access_key_id ? access_key_id : "", sh, sig) != 0) {
		free(sh);
		buf_free(&b);
		return NULL;
	}
	free(sh);
	return finish(&b, 0);
}

void sign_format_date(long long t, char out[21])
{
	/* Proleptic Gregorian civil date from a day count; no gmtime so nothing depends on TZ or
	 * on time_t's width, and the output always fits its 20 characters. */
	static const long long min_t = -62167219200LL;	/* 0000-01-01T00:00:00Z */
	static const long long max_t = 253402300799LL;	/* 9999-12-31T23:59:59Z */
	long long days, secs, era, doe, yoe, doy, mp, y, m, d;

	if (t < min_t)
		t = min_t;
	if (t > max_t)
		t = max_t;
	days = t / 86400;
	secs = t % 86400;
	if (secs < 0) {
		secs += 86400;
		days--;
	}
	days += 719468;		/* shift the epoch to 0000-03-01 */
	era = (days >= 0 ? days : days - 146096) / 146097;
	doe = days - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = doy - (153 * mp + 2) / 5 + 1;
	m = mp < 10 ? mp + 3 : mp - 9;
	y = yoe + era * 400 + (m <= 2);
	out[0] = (char)('0' + y / 1000);
	out[1] = (char)('0' + y / 100 % 10);
	out[2] = (char)('0' + y / 10 % 10);
	out[3] = (char)('0' + y % 10);
	out[4] = '-';
	out[5] = (char)('0' + m / 10);
	out[6] = (char)('0' + m % 10);
	out[7] = '-';
	out[8] = (char)('0' + d / 10);
	out[9] = (char)('0' + d % 10);
	out[10] = 'T';
	out[11] = (char)('0' + secs / 36000);
	out[12] = (char)('0' + secs / 3600 % 10);
	out[13] = ':';
	out[14] = (char)('0' + secs % 3600 / 600);
	out[15] = (char)('0' + secs % 3600 / 60 % 10);
	out[16] = ':';
	out[17] = (char)('0' + secs % 60 / 10);
	out[18] = (char)('0' + secs % 10);
	out[19] = 'Z';
	out[20] = '\0';
}
