/* creds: Alibaba Cloud credentials from the official chain, refreshed before STS expiry. */
#ifndef DSWFS_CREDS_H
#define DSWFS_CREDS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* One set of credentials. Every string is owned by the struct; release with creds_clear(),
 * which also wipes the secret. */
struct creds {
	char *access_key_id;
	char *access_key_secret;
	char *security_token;	/* NULL when not STS */
	time_t expiration;	/* 0 = does not expire */
};

struct creds_options {
	const char *profile;		/* overrides ALIBABA_CLOUD_PROFILE and the CLI's "current" */
	bool ecs_role;			/* the ECS RAM role source is tried only when true */
	const char *ecs_endpoint;	/* base URL of the metadata service; NULL = http://100.100.100.200 */
	long timeout_ms;		/* for the URI and metadata sources; 0 = 1000 */
	time_t (*now)(void);		/* clock for expiry decisions; NULL = time() */
};

struct creds_provider;

/* Walks the chain (environment, aliyun CLI config.json, ~/.alibabacloud/credentials,
 * the ECS RAM role when enabled, ALIBABA_CLOUD_CREDENTIALS_URI) and keeps the first source that
 * yields credentials. Environment and files are read through getenv() and $HOME.
 * Returns 0 and *out (free with creds_provider_free), -ENOENT when no source has credentials,
 * -EINVAL for a malformed source (a file that exists but cannot be used), -EIO / -ETIMEDOUT /
 * -EACCES when a network source fails. On failure a one-line reason (never a secret) is written
 * to err. */
int creds_provider_new(const struct creds_options *o, struct creds_provider **out,
		       char *err, size_t errlen);

/* Copies the current credentials into *c (caller calls creds_clear). Expiring credentials from
 * a refreshable source (URI, ECS) are refreshed first when 180 s or less remain. Thread-safe.
 * Returns 0, or the source's error (-EIO, -ETIMEDOUT, -EACCES, -ENOMEM) with a reason in err. */
int creds_get(struct creds_provider *p, struct creds *c, char *err, size_t errlen);

/* Human-readable source, e.g. "environment", "cli-profile:default", "ini:default",
 * "credentials-uri", "ecs-ram-role:myrole". Static or provider-owned storage. */
const char *creds_source(const struct creds_provider *p);

/* The region the chosen profile names, or NULL. Provider-owned. */
const char *creds_region(const struct creds_provider *p);

/* Region from ALIBABA_CLOUD_REGION_ID, else the CLI profile's region_id (looked up even when
 * credentials come from elsewhere), else NULL. Caller frees. */
char *creds_default_region(const char *profile);

/* The role whose permissions a role-based source's credentials carry (its STS keys differ per
 * host and rotate, the role does not): the role's name for the ECS RAM role; a RamRoleArn or
 * OIDC source gives its role ARN. NULL for plain keys and for sources that name no
 * role (a credentials URI). Provider-owned, fixed once creds_provider_new returns. */
const char *creds_role(const struct creds_provider *p);

void creds_clear(struct creds *c);
void creds_provider_free(struct creds_provider *p);

#endif
