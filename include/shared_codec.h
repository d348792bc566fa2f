/* shared_codec: the pure half of the shared (Redis) cache level: key file, key derivation,
 * entry names and the sealed envelope (zstd + AES-256-GCM). No network; values read back from
 * Redis are hostile input and every decode checks before it trusts. */
#ifndef DSWFS_SHARED_CODEC_H
#define DSWFS_SHARED_CODEC_H

#include <stddef.h>
#include <stdint.h>

#define SHARED_KEY_BYTES 32
/* "dswfs:v1:" + 64 hex digits + NUL. */
#define SHARED_NAME_MAX 80
/* What a decoded entry may hold (the answer's JSON text): about 24x a 10,000-instance
 * fleet's. A bigger value is neither stored nor trusted. */
#define SHARED_MAX_PLAIN ((size_t)512 << 20)

/* The two keys every entry is made with, both derived (HKDF-SHA256) from one master key so
 * naming and sealing never share a key. Wipe with shared_codec_keys_wipe. */
struct shared_keys {
	unsigned char name[SHARED_KEY_BYTES];	/* HMAC key for entry names */
	unsigned char seal[SHARED_KEY_BYTES];	/* AES-256-GCM key for values */
};

/* A team key file's text: 64 hexadecimal digits (upper or lower case), surrounding white
 * space ignored. Returns 0 and key, or -EINVAL for anything else. */
int shared_codec_parse_key(const char *text, size_t len, unsigned char key[SHARED_KEY_BYTES]);

/* Keys from a team key (every host holding the file shares entries). Returns 0 or -EIO when
 * libcrypto fails. */
int shared_codec_keys_from_master(const unsigned char master[SHARED_KEY_BYTES],
				  struct shared_keys *k);

/* Keys derived from a plain access key's secret (hosts using the same key share entries; the
 * key id is mixed in). Returns 0, -EINVAL for an empty secret, -EIO. */
int shared_codec_keys_from_secret(const char *key_id, const char *secret, struct shared_keys *k);

void shared_codec_keys_wipe(struct shared_keys *k);

/* The Redis key of one answer: "dswfs:v1:" and the hex HMAC-SHA256 (name key) of endpoint,
 * region, identity and canonical query, each length-prefixed so no two tuples collide. Redis
 * sees neither the identity nor the query. out must hold SHARED_NAME_MAX bytes. Returns 0 or
 * -EIO. */
int shared_codec_entry_name(const struct shared_keys *k, const char *endpoint, const char *region,
			    const char *identity, const char *query, char out[SHARED_NAME_MAX]);

/* Seals plain (len bytes, at most SHARED_MAX_PLAIN) fetched at fetched_ms (Unix ms, the
 * fetching host's clock) for the entry called name: compressed, then encrypted with a random
 * nonce; name and header are authenticated, so a value copied under another name fails to
 * open. Returns 0 and *out (malloc'd, caller frees) of *outlen bytes; -EFBIG, -ENOMEM, -EIO. */
int shared_codec_seal(const struct shared_keys *k, const char *name, const char *plain,
		      size_t len, int64_t fetched_ms, unsigned char **out, size_t *outlen);

/* Opens a value read from Redis for name. Returns 0 with *plain (malloc'd, NUL-terminated,
 * caller frees), *len and *fetched_ms; -EBADMSG when it is malformed, fails authentication
 * or does not decompress to exactly its declared size; -EFBIG when it declares more than
 * max_plain bytes; -ENOMEM, -EIO. Nothing is returned from a value that fails. */
int shared_codec_open(const struct shared_keys *k, const char *name, const unsigned char *in,
		      size_t inlen, size_t max_plain, char **plain, size_t *len,
		      int64_t *fetched_ms);

/* The inner payload alone (what the envelope encrypts): version, fetched_ms, declared size and
 * a zstd frame. Exposed for the fuzzer (the envelope's authentication stops hostile bytes
 * before this in production). Returns as shared_codec_open. */
int shared_codec_payload_decode(const unsigned char *in, size_t inlen, size_t max_plain,
				char **plain, size_t *len, int64_t *fetched_ms);

/* The payload for plain (for tests and seal). Returns 0 and *out (caller frees); -EFBIG,
 * -ENOMEM, -EIO. */
int shared_codec_payload_encode(const char *plain, size_t len, int64_t fetched_ms,
				unsigned char **out, size_t *outlen);

#endif
