/* shared_setup: the shared cache level from the mount's options, credentials and secret files. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "creds.h"
#include "opts.h"
#include "secmem.h"
#include "shared.h"

int shared_read_secret_file(const char *path, char *buf, size_t cap, char *err, size_t errlen)
{
	struct stat st;
	size_t len = 0;
	ssize_t n;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return rc;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = -EPERM;
		snprintf(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	if ((st.st_mode & 077) || (st.st_uid != geteuid() && st.st_uid != 0)) {
		rc = -EPERM;
		snprintf(err, errlen, "%s: mode %04o owner %u: must be readable by its owner only "
			 "(chmod 600) and owned by this user", path, (unsigned)(st.st_mode & 07777),
			 (unsigned)st.st_uid);
		goto out;
	}
	while ((n = read(fd, buf + len, cap - 1 - len)) > 0)
		len += (size_t)n;
	if (n < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (len == cap - 1) {
		char extra;

		if (read(fd, &extra, 1) > 0) {
			rc = -EFBIG;
			snprintf(err, errlen, "%s: too long", path);
			goto out;
		}
	}
	buf[len] = '\0';
out:
	close(fd);
	if (rc)
		OPENSSL_cleanse(buf, cap);
	return rc;
}

/* The password file's first line without its end. */
static void chomp(char *s)
{
	s[strcspn(s, "\r\n")] = '\0';
}

int shared_setup(const struct opts *o, struct creds_provider *cp, const char *endpoint,
		 tree_fetch_fn fetch, void *fetch_ctx, struct shared **out, char *err,
		 size_t errlen)
{
	struct shared_config cfg;
	struct creds c;
	const char *role = creds_role(cp);
	char *identity = NULL, *pw = NULL, why[256];
	const char *env_pw = getenv("DSWFS_REDIS_PASSWORD");
	int rc;

	memset(&cfg, 0, sizeof(cfg));
	memset(&c, 0, sizeof(c));
	rc = creds_get(cp, &c, why, sizeof(why));
	if (rc) {
		snprintf(err, errlen, "shared cache: no credentials: %s", why);
		return rc;
	}
	if (role) {
		if (asprintf(&identity, "role:%s", role) < 0)
			identity = NULL;
	} else if (c.security_token) {
		rc = -EINVAL;
		snprintf(err, errlen, "shared cache: the credentials from %s are STS keys that name "
			 "no role, so no identity is stable across hosts; use a plain access key "
			 "or a role source", creds_source(cp));
		goto out;
	} else if (asprintf(&identity, "key:%s", c.access_key_id) < 0) {
		identity = NULL;
	}
	if (!identity) {
		rc = -ENOMEM;
		snprintf(err, errlen, "shared cache: out of memory");
		goto out;
	}
	if (o->shared_cache_key) {
		char text[256];
		unsigned char master[SHARED_KEY_BYTES];

		rc = shared_read_secret_file(o->shared_cache_key, text, sizeof(text), why,
					     sizeof(why));
		if (!rc && shared_codec_parse_key(text, strlen(text), master) != 0) {
			rc = -EINVAL;
			snprintf(why, sizeof(why), "%s: expected 64 hexadecimal digits (make one "
				 "with: openssl rand -hex 32)", o->shared_cache_key);
		}
		OPENSSL_cleanse(text, sizeof(text));
		if (!rc)
			rc = shared_codec_keys_from_master(master, &cfg.keys);
		OPENSSL_cleanse(master, sizeof(master));
		if (rc) {
			snprintf(err, errlen, "shared cache key: %s", why);
			goto out;
		}
	} else if (role) {
		rc = -EINVAL;
		snprintf(err, errlen, "shared cache: role-based credentials (%s) need a team key: "
			 "-o shared_cache_key=FILE", creds_source(cp));
		goto out;
	} else {
		rc = shared_codec_keys_from_secret(c.access_key_id, c.access_key_secret, &cfg.keys);
		if (rc) {
			snprintf(err, errlen, "shared cache: deriving a key failed");
			goto out;
		}
	}
	if (o->shared_cache_password_file) {
		pw = secmem_alloc(1024);
		rc = pw ? shared_read_secret_file(o->shared_cache_password_file, pw, 1024, why,
						  sizeof(why)) : -ENOMEM;
		if (rc) {
			snprintf(err, errlen, "shared cache password: %s",
				 pw ? why : "out of memory");
			goto out;
		}
		chomp(pw);
	} else if (env_pw && *env_pw) {
		pw = secmem_strdup(env_pw);
		if (!pw) {
			rc = -ENOMEM;
			snprintf(err, errlen, "shared cache: out of memory");
			goto out;
		}
	}
	cfg.url = o->shared_cache;
	cfg.user = o->shared_cache_user ? o->shared_cache_user : getenv("DSWFS_REDIS_USER");
	if (cfg.user && !*cfg.user)
		cfg.user = NULL;
	cfg.password = pw;
	cfg.endpoint = endpoint;
	cfg.region = o->region;
	cfg.identity = identity;
	cfg.ttl = o->ttl;
	cfg.grace = o->grace;
	cfg.max_stale = o->max_stale;
	cfg.timeout = o->shared_cache_timeout;
	cfg.lock_wait = o->shared_cache_lock_wait;
	cfg.fetch = fetch;
	cfg.fetch_ctx = fetch_ctx;
	rc = shared_new(&cfg, out, err, errlen);
out:
	shared_codec_keys_wipe(&cfg.keys);
	secmem_free(pw);
	free(identity);
	creds_clear(&c);
	return rc;
}
