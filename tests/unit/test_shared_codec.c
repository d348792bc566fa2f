/* test_shared_codec: key file, derivation, entry names and the sealed envelope of the shared cache. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared_codec.h"
#include "tf.h"

static const char KEYHEX[] = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";

static void team_keys(struct shared_keys *k)
{
	unsigned char m[SHARED_KEY_BYTES];

	CHECK_EQ_INT(shared_codec_parse_key(KEYHEX, strlen(KEYHEX), m), 0);
	CHECK_EQ_INT(shared_codec_keys_from_master(m, k), 0);
}

TEST(parse_key_accepts_hex_with_space_only)
{
	unsigned char m[SHARED_KEY_BYTES];
	char buf[100];

	snprintf(buf, sizeof(buf), "  %s\n", KEYHEX);
	CHECK_EQ_INT(shared_codec_parse_key(buf, strlen(buf), m), 0);
	CHECK_EQ_INT(m[0], 0x00);
	CHECK_EQ_INT(m[31], 0xff);
	CHECK_EQ_INT(shared_codec_parse_key(KEYHEX, 63, m), -EINVAL);
	CHECK_EQ_INT(shared_codec_parse_key("", 0, m), -EINVAL);
	snprintf(buf, sizeof(buf), "%s", KEYHEX);
	buf[10] = 'g';
	CHECK_EQ_INT(shared_codec_parse_key(buf, strlen(buf), m), -EINVAL);
	snprintf(buf, sizeof(buf), "%s00", KEYHEX);
	CHECK_EQ_INT(shared_codec_parse_key(buf, strlen(buf), m), -EINVAL);
}

TEST(names_differ_by_every_part_and_hide_them)
{
	struct shared_keys k, k2;
	char a[SHARED_NAME_MAX], b[SHARED_NAME_MAX];

	team_keys(&k);
	CHECK_EQ_INT(shared_codec_entry_name(&k, "http://e", "cn", "AK1", "q=1", a), 0);
	CHECK_EQ_INT(strlen(a), 9 + 64);
	CHECK(strncmp(a, "dswfs:v1:", 9) == 0);
	CHECK(!strstr(a, "AK1"));
	CHECK_EQ_INT(shared_codec_entry_name(&k, "http://e", "cn", "AK1", "q=1", b), 0);
	CHECK_EQ_STR(a, b);
	CHECK_EQ_INT(shared_codec_entry_name(&k, "http://e", "cn", "AK2", "q=1", b), 0);
	CHECK(strcmp(a, b) != 0);
	CHECK_EQ_INT(shared_codec_entry_name(&k, "http://e", "cn", "AK1", "q=2", b), 0);
	CHECK(strcmp(a, b) != 0);
	CHECK_EQ_INT(shared_codec_entry_name(&k, "http://f", "cn", "AK1", "q=1", b), 0);
	CHECK(strcmp(a, b) != 0);
	/* Length prefixes: moving a byte between fields changes the name. */
	CHECK_EQ_INT(shared_codec_entry_name(&k, "http://e", "c", "nAK1", "q=1", b), 0);
	CHECK(strcmp(a, b) != 0);
	CHECK_EQ_INT(shared_codec_keys_from_secret("AK1", "secret", &k2), 0);
	CHECK_EQ_INT(shared_codec_entry_name(&k2, "http://e", "cn", "AK1", "q=1", b), 0);
	CHECK(strcmp(a, b) != 0);
	CHECK_EQ_INT(shared_codec_keys_from_secret("AK1", "", &k2), -EINVAL);
}

TEST(seal_open_round_trip_with_fetch_time)
{
	struct shared_keys k;
	const char *json = "[{\"InstanceId\":\"dsw-1\",\"Secret\":\"s3cr3t\"}]";
	unsigned char *env = NULL;
	size_t envlen = 0, len = 0;
	char *plain = NULL;
	int64_t at = 0;

	team_keys(&k);
	CHECK_EQ_INT(shared_codec_seal(&k, "dswfs:v1:a", json, strlen(json), 1700000000123LL, &env,
				       &envlen), 0);
	CHECK(!memmem(env, envlen, "s3cr3t", 6));
	CHECK_EQ_INT(shared_codec_open(&k, "dswfs:v1:a", env, envlen, SHARED_MAX_PLAIN, &plain,
				       &len, &at), 0);
	CHECK_EQ_STR(plain, json);
	CHECK_EQ_INT(len, strlen(json));
	CHECK_EQ_INT(at, 1700000000123LL);
	free(plain);
	/* Too big for this reader. */
	CHECK_EQ_INT(shared_codec_open(&k, "dswfs:v1:a", env, envlen, 4, &plain, &len, &at),
		     -EFBIG);
	free(env);
}

TEST(empty_value_round_trips)
{
	struct shared_keys k;
	unsigned char *env = NULL;
	size_t envlen = 0, len = 1;
	char *plain = NULL;
	int64_t at = 0;

	team_keys(&k);
	CHECK_EQ_INT(shared_codec_seal(&k, "n", "", 0, 5, &env, &envlen), 0);
	CHECK_EQ_INT(shared_codec_open(&k, "n", env, envlen, 10, &plain, &len, &at), 0);
	CHECK_EQ_INT(len, 0);
	CHECK_EQ_INT(at, 5);
	free(plain);
	free(env);
}

TEST(tampered_moved_or_foreign_values_are_rejected)
{
	struct shared_keys k, other;
	const char *json = "[1,2,3]";
	unsigned char *env = NULL;
	size_t envlen = 0, len;
	char *plain = NULL;
	int64_t at;

	team_keys(&k);
	CHECK_EQ_INT(shared_codec_keys_from_secret("AK", "secret", &other), 0);
	CHECK_EQ_INT(shared_codec_seal(&k, "dswfs:v1:a", json, strlen(json), 1, &env, &envlen), 0);
	/* Every single flipped byte fails authentication (or the header check). */
	for (size_t i = 0; i < envlen; i++) {
		env[i] ^= 0x20;
		CHECK_EQ_INT(shared_codec_open(&k, "dswfs:v1:a", env, envlen, 1 << 20, &plain,
					       &len, &at), -EBADMSG);
		env[i] ^= 0x20;
	}
	/* Copied under another key. */
	CHECK_EQ_INT(shared_codec_open(&k, "dswfs:v1:b", env, envlen, 1 << 20, &plain, &len, &at),
		     -EBADMSG);
	/* Another key's holder. */
	CHECK_EQ_INT(shared_codec_open(&other, "dswfs:v1:a", env, envlen, 1 << 20, &plain, &len,
				       &at), -EBADMSG);
	/* Truncated anywhere. */
	for (size_t n = 0; n < envlen; n++)
		CHECK_EQ_INT(shared_codec_open(&k, "dswfs:v1:a", env, n, 1 << 20, &plain, &len,
					       &at), -EBADMSG);
	free(env);
}

TEST(payload_decode_checks_declared_size)
{
	unsigned char *p = NULL;
	size_t n = 0, len;
	char *plain = NULL;
	int64_t at;

	CHECK_EQ_INT(shared_codec_payload_encode("hello hello hello", 17, -3, &p, &n), 0);
	CHECK_EQ_INT(shared_codec_payload_decode(p, n, 100, &plain, &len, &at), 0);
	CHECK_EQ_STR(plain, "hello hello hello");
	CHECK_EQ_INT(at, -3);
	free(plain);
	/* A declared size that disagrees with the frame's. */
	p[16] ^= 1;
	CHECK_EQ_INT(shared_codec_payload_decode(p, n, 100, &plain, &len, &at), -EBADMSG);
	/* A huge declared size is refused before any allocation. */
	memset(p + 9, 0xff, 8);
	CHECK_EQ_INT(shared_codec_payload_decode(p, n, 100, &plain, &len, &at), -EFBIG);
	p[0] = 9;
	CHECK_EQ_INT(shared_codec_payload_decode(p, n, 100, &plain, &len, &at), -EBADMSG);
	free(p);
}
