/* shared_codec: key derivation, entry names and the sealed, compressed envelope of shared entries. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <zstd.h>

#include "shared_codec.h"

/*
 * Envelope: "DSWS" | version 1 | 12-byte nonce | ciphertext | 16-byte GCM tag. The
 * authenticated data is the envelope's first 17 bytes followed by the entry's name, which binds
 * a value to the key it was stored under.
 * Payload (the plaintext): version 1 | fetched_ms (8 bytes, big-endian, signed) | declared
 * size (8 bytes, big-endian) | one zstd frame holding exactly that many bytes.
 */
#define ENV_MAGIC "DSWS"
#define ENV_VERSION 1
#define ENV_NONCE 12
#define ENV_TAG 16
#define ENV_HEAD (4 + 1 + ENV_NONCE)
#define PAY_VERSION 1
#define PAY_HEAD (1 + 8 + 8)
/* Fast enough for a 10,000-instance answer in tens of ms; JSON shrinks about tenfold. */
#define ZSTD_LEVEL 3

static int hkdf(const unsigned char *ikm, size_t ikmlen, const char *salt, const char *info,
		size_t infolen, unsigned char *out, size_t outlen)
{
	EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
	size_t n = outlen;
	int ok;

	if (!pc)
		return -EIO;
	ok = EVP_PKEY_derive_init(pc) > 0 &&
	     EVP_PKEY_CTX_set_hkdf_md(pc, EVP_sha256()) > 0 &&
	     EVP_PKEY_CTX_set1_hkdf_salt(pc, (const unsigned char *)salt, (int)strlen(salt)) > 0 &&
	     EVP_PKEY_CTX_set1_hkdf_key(pc, ikm, (int)ikmlen) > 0 &&
	     EVP_PKEY_CTX_add1_hkdf_info(pc, (const unsigned char *)info, (int)infolen) > 0 &&
	     EVP_PKEY_derive(pc, out, &n) > 0 && n == outlen;
	EVP_PKEY_CTX_free(pc);
	return ok ? 0 : -EIO;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int shared_codec_parse_key(const char *text, size_t len, unsigned char key[SHARED_KEY_BYTES])
{
	while (len && is_space(*text)) {
		text++;
		len--;
	}
	while (len && is_space(text[len - 1]))
		len--;
	if (len != 2 * SHARED_KEY_BYTES)
		return -EINVAL;
	for (size_t i = 0; i < SHARED_KEY_BYTES; i++) {
		int hi = hexval(text[2 * i]), lo = hexval(text[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			OPENSSL_cleanse(key, SHARED_KEY_BYTES);
			return -EINVAL;
		}
		key[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

int shared_codec_keys_from_master(const unsigned char master[SHARED_KEY_BYTES],
				  struct shared_keys *k)
{
	static const char name_info[] = "dswfs shared cache v1: entry names";
	static const char seal_info[] = "dswfs shared cache v1: entry values";
	int rc;

	rc = hkdf(master, SHARED_KEY_BYTES, "dswfs", name_info, sizeof(name_info) - 1, k->name,
		  sizeof(k->name));
	if (!rc)
		rc = hkdf(master, SHARED_KEY_BYTES, "dswfs", seal_info, sizeof(seal_info) - 1,
			  k->seal, sizeof(k->seal));
	if (rc)
		shared_codec_keys_wipe(k);
	return rc;
}

int shared_codec_keys_from_secret(const char *key_id, const char *secret, struct shared_keys *k)
{
	unsigned char master[SHARED_KEY_BYTES];
	int rc;

	if (!secret || !*secret || !key_id)
		return -EINVAL;
	/* The key id is the info, so two keys with one secret (never in practice) still differ. */
	rc = hkdf((const unsigned char *)secret, strlen(secret), "dswfs shared cache v1: secret",
		  key_id, strlen(key_id), master, sizeof(master));
	if (!rc)
		rc = shared_codec_keys_from_master(master, k);
	OPENSSL_cleanse(master, sizeof(master));
	return rc;
}

void shared_codec_keys_wipe(struct shared_keys *k)
{
	OPENSSL_cleanse(k, sizeof(*k));
}

static void mac_field(EVP_MAC_CTX *m, const char *s)
{
	unsigned char len[8];
	uint64_t n = s ? strlen(s) : 0;

	for (int i = 7; i >= 0; i--, n >>= 8)
		len[i] = (unsigned char)n;
	EVP_MAC_update(m, len, sizeof(len));
	if (s)
		EVP_MAC_update(m, (const unsigned char *)s, strlen(s));
}

int shared_codec_entry_name(const struct shared_keys *k, const char *endpoint, const char *region,
			    const char *identity, const char *query, char out[SHARED_NAME_MAX])
{
	static const char hex[] = "0123456789abcdef";
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *m = mac ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	unsigned char md[32];
	size_t mdlen = 0;
	int rc = -EIO;

	if (!m || !EVP_MAC_init(m, k->name, sizeof(k->name), params))
		goto out;
	mac_field(m, endpoint);
	mac_field(m, region);
	mac_field(m, identity);
	mac_field(m, query);
	if (!EVP_MAC_final(m, md, &mdlen, sizeof(md)) || mdlen != sizeof(md))
		goto out;
	memcpy(out, "dswfs:v1:", 9);
	for (size_t i = 0; i < sizeof(md); i++) {
		out[9 + 2 * i] = hex[md[i] >> 4];
		out[9 + 2 * i + 1] = hex[md[i] & 15];
	}
	out[9 + 2 * sizeof(md)] = '\0';
	rc = 0;
out:
	EVP_MAC_CTX_free(m);
	EVP_MAC_free(mac);
	return rc;
}

static void put_be64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

static uint64_t get_be64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

int shared_codec_payload_encode(const char *plain, size_t len, int64_t fetched_ms,
				unsigned char **out, size_t *outlen)
{
	size_t cap, n;
	unsigned char *p;

	if (len > SHARED_MAX_PLAIN)
		return -EFBIG;
	cap = PAY_HEAD + ZSTD_compressBound(len);
	p = malloc(cap);
	if (!p)
		return -ENOMEM;
	p[0] = PAY_VERSION;
	put_be64(p + 1, (uint64_t)fetched_ms);
	put_be64(p + 9, len);
	n = ZSTD_compress(p + PAY_HEAD, cap - PAY_HEAD, plain, len, ZSTD_LEVEL);
	if (ZSTD_isError(n)) {
		free(p);
		return -ENOMEM;	/* the only way compressing into a bound-sized buffer fails */
	}
	*out = p;
	*outlen = PAY_HEAD + n;
	return 0;
}

int shared_codec_payload_decode(const unsigned char *in, size_t inlen, size_t max_plain,
				char **plain, size_t *len, int64_t *fetched_ms)
{
	unsigned long long framed;
	uint64_t declared;
	size_t n;
	char *p;

	if (inlen < PAY_HEAD || in[0] != PAY_VERSION)
		return -EBADMSG;
	declared = get_be64(in + 9);
	if (declared > max_plain || declared > SHARED_MAX_PLAIN)
		return -EFBIG;
	/* The frame must say the same size, so the buffer is never sized by one and filled by
	 * the other. */
	framed = ZSTD_getFrameContentSize(in + PAY_HEAD, inlen - PAY_HEAD);
	if (framed == ZSTD_CONTENTSIZE_ERROR || framed == ZSTD_CONTENTSIZE_UNKNOWN ||
	    framed != declared)
		return -EBADMSG;
	p = malloc((size_t)declared + 1);
	if (!p)
		return -ENOMEM;
	n = ZSTD_decompress(p, (size_t)declared, in + PAY_HEAD, inlen - PAY_HEAD);
	if (ZSTD_isError(n) || n != declared) {
		free(p);
		return -EBADMSG;
	}
	p[n] = '\0';
	*plain = p;
	*len = n;
	*fetched_ms = (int64_t)get_be64(in + 1);
	return 0;
}

/* AES-256-GCM over in with aad = head (ENV_HEAD bytes) + name; enc selects the direction.
 * Decryption checks tag. Returns 0, -EBADMSG (authentication failed), -EIO. */
static int gcm(const struct shared_keys *k, bool enc, const unsigned char *head, const char *name,
	       const unsigned char *in, size_t inlen, unsigned char *out, unsigned char *tag)
{
	EVP_CIPHER_CTX *cx = EVP_CIPHER_CTX_new();
	int n = 0, rc = -EIO;

	if (!cx || inlen > (size_t)INT32_MAX)
		goto out;
	if (!EVP_CipherInit_ex(cx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) ||
	    !EVP_CIPHER_CTX_ctrl(cx, EVP_CTRL_GCM_SET_IVLEN, ENV_NONCE, NULL) ||
	    !EVP_CipherInit_ex(cx, NULL, NULL, k->seal, head + 5, enc) ||
	    !EVP_CipherUpdate(cx, NULL, &n, head, ENV_HEAD) ||
	    !EVP_CipherUpdate(cx, NULL, &n, (const unsigned char *)name, (int)strlen(name)) ||
	    !EVP_CipherUpdate(cx, out, &n, in, (int)inlen))
		goto out;
	if (!enc && !EVP_CIPHER_CTX_ctrl(cx, EVP_CTRL_GCM_SET_TAG, ENV_TAG, tag))
		goto out;
	if (!EVP_CipherFinal_ex(cx, out + n, &n)) {
		rc = enc ? -EIO : -EBADMSG;
		goto out;
	}
	if (enc && !EVP_CIPHER_CTX_ctrl(cx, EVP_CTRL_GCM_GET_TAG, ENV_TAG, tag))
		goto out;
	rc = 0;
out:
	EVP_CIPHER_CTX_free(cx);
	return rc;
}

int shared_codec_seal(const struct shared_keys *k, const char *name, const char *plain,
		      size_t len, int64_t fetched_ms, unsigned char **out, size_t *outlen)
{
	unsigned char *pay = NULL, *env;
	size_t paylen = 0;
	int rc;

	rc = shared_codec_payload_encode(plain, len, fetched_ms, &pay, &paylen);
	if (rc)
		return rc;
	env = malloc(ENV_HEAD + paylen + ENV_TAG);
	if (!env) {
		rc = -ENOMEM;
		goto out;
	}
	memcpy(env, ENV_MAGIC, 4);
	env[4] = ENV_VERSION;
	if (RAND_bytes(env + 5, ENV_NONCE) != 1) {
		rc = -EIO;
		goto out_env;
	}
	rc = gcm(k, true, env, name, pay, paylen, env + ENV_HEAD, env + ENV_HEAD + paylen);
	if (rc)
		goto out_env;
	*out = env;
	*outlen = ENV_HEAD + paylen + ENV_TAG;
	env = NULL;
out_env:
	free(env);
out:
	free(pay);
	return rc;
}

int shared_codec_open(const struct shared_keys *k, const char *name, const unsigned char *in,
		      size_t inlen, size_t max_plain, char **plain, size_t *len,
		      int64_t *fetched_ms)
{
	unsigned char tag[ENV_TAG], *pay;
	size_t paylen;
	int rc;

	if (inlen < ENV_HEAD + ENV_TAG || memcmp(in, ENV_MAGIC, 4) != 0 || in[4] != ENV_VERSION)
		return -EBADMSG;
	paylen = inlen - ENV_HEAD - ENV_TAG;
	pay = malloc(paylen ? paylen : 1);
	if (!pay)
		return -ENOMEM;
	memcpy(tag, in + ENV_HEAD + paylen, ENV_TAG);
	rc = gcm(k, false, in, name, in + ENV_HEAD, paylen, pay, tag);
	if (!rc)
		rc = shared_codec_payload_decode(pay, paylen, max_plain, plain, len, fetched_ms);
	free(pay);
	return rc;
}
