/* sign: Alibaba Cloud ACS3-HMAC-SHA256 request signing (pure: no I/O, no clock, no randomness). */
#ifndef DSWFS_SIGN_H
#define DSWFS_SIGN_H

#include <stddef.h>

/* A name/value pair: a query parameter or a header. Neither pointer is owned. */
struct sign_kv {
	const char *name;
	const char *value;
};

/* What is signed. Headers are everything that will be sent; the signer picks host,
 * content-type and x-acs-* (case-insensitively), merges repeated names with ',' in the order
 * given, trims values, and ignores the rest. */
struct sign_request {
	const char *method;		/* "GET"; may be "" */
	const char *path;		/* raw, unencoded path, e.g. "/api/v2/instances"; "" means "/" */
	const struct sign_kv *query;	/* raw (unencoded) values */
	size_t nquery;
	const struct sign_kv *headers;
	size_t nheaders;
	const char *payload_hash;	/* lower-case hex SHA-256 of the body */
};

/* Hex SHA-256 of an empty body. */
#define SIGN_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* RFC 3986 percent-encoding as ACS3 wants (unreserved stay, everything else %XX upper-case).
 * Returns a malloc'd string the caller frees, or NULL on allocation failure. */
char *sign_encode(const char *s);

/* Same, for a path: '/' is kept, every segment encoded. Caller frees; NULL on ENOMEM. */
char *sign_encode_path(const char *path);

/* The canonical query string, parameters sorted by name in byte order, values encoded. It is also
 * what dswfs puts on the wire, so client and server see the same bytes. Caller frees; NULL on
 * ENOMEM. Empty string for no parameters. */
char *sign_query_string(const struct sign_kv *query, size_t nquery);

/* The canonical request (step 1 of the algorithm). Caller frees; NULL on ENOMEM. */
char *sign_canonical_request(const struct sign_request *r);

/* Lower-case hex SHA-256 of data into out (65 bytes with the NUL). */
void sign_sha256_hex(const void *data, size_t len, char out[65]);

/* The signature (hex, 65 bytes with NUL) and, when signed_headers is not NULL, the
 * SignedHeaders list (caller frees). Returns 0 or -ENOMEM. */
int sign_signature(const struct sign_request *r, const char *secret, char out[65],
		   char **signed_headers);

/* The complete Authorization header value
 * "ACS3-HMAC-SHA256 Credential=<id>,SignedHeaders=<list>,Signature=<hex>".
 * Caller frees; NULL on ENOMEM. */
char *sign_authorization(const struct sign_request *r, const char *access_key_id,
			 const char *secret);

/* Formats t (seconds since the epoch) as the x-acs-date value yyyy-MM-ddTHH:mm:ssZ (UTC). */
void sign_format_date(long long t, char out[21]);

#endif
