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
	long timeout_ms;		/* connect and total timeout of every network source; 0 = the
					 * official ones: 1 s for the metadata service, 5 s connect and
					 * 10 s read for the credentials URI and STS */
	const char *sts_endpoint;	/* STS for role sources: a URL or a host (https); NULL = the
					 * profile's sts_endpoint, else sts[-vpc].<sts region>.aliyuncs.com
					 * with a region, else sts.aliyuncs.com */
	time_t (*now)(void);		/* clock for expiry decisions; NULL = time() */
};

struct creds_provider;

/* Walks the official default chain: environment AK, the OIDC role (ALIBABA_CLOUD_ROLE_ARN,
 * _OIDC_PROVIDER_ARN, _OIDC_TOKEN_FILE), the aliyun CLI config.json profile (AK, StsToken,
 * RamRoleArn, ChainableRamRoleArn, OIDC, EcsRamRole, CredentialsURI), the
 * ~/.alibabacloud/credentials section (access_key, ram_role_arn), the ECS RAM role when
 * enabled, ALIBABA_CLOUD_CREDENTIALS_URI; keeps the first source that yields credentials (a
 * network source is fetched once here). A source that is broken is skipped with a note (logged
 * as one warning when a later one answers). Environment and files are read through getenv()
 * and $HOME. Returns 0 and *out (free with creds_provider_free); when no source yields
 * credentials, the first broken source's error (-EINVAL for an unusable file or profile, -EIO /
 * -ETIMEDOUT / -EACCES for a network source) or -ENOENT, with one line naming every source and
 * why it gave nothing (never a secret) in err. */
int creds_provider_new(const struct creds_options *o, struct creds_provider **out,
		       char *err, size_t errlen);

/* Copies the current credentials into *c (caller calls creds_clear). Expiring credentials from
 * a refreshable source are refreshed first: URI and ECS when 180 s or less remain, STS sessions
 * (role, OIDC) 15 minutes before expiry or half-way through a shorter session. Thread-safe.
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
 * host and rotate, the role does not): the role's name for the ECS RAM role, the role ARN for
 * a RamRoleArn (or ChainableRamRoleArn) or OIDC source. NULL for plain keys and for sources that name no
 * role (a credentials URI). Provider-owned, fixed once creds_provider_new returns. */
const char *creds_role(const struct creds_provider *p);
/* Parses an STS credentials document: {"AccessKeyId","AccessKeySecret","SecurityToken",
 * "Expiration"} at the top (credentials URI, ECS metadata) or inside "Credentials" (STS
 * AssumeRole*); a "Code" other than "Success" is a failure. body need not be NUL-terminated.
 * Returns 0 with *c (creds_clear it), -EIO with a reason naming `what` (never a secret) in err,
 * or -ENOMEM. Exposed for tests and the fuzzer. */
int creds_parse_sts(const char *body, size_t len, struct creds *c, const char *what, char *err,
		    size_t errlen);

/* The STS endpoint URL a role source uses, as the official providers pick it: option (-o
 * sts_endpoint), else the profile's sts_endpoint, else https://sts[-vpc].<region>.aliyuncs.com
 * when a region is known (prof_region, else ALIBABA_CLOUD_STS_REGION; -vpc with prof_vpc or
 * ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED=true), else https://sts.aliyuncs.com. A bare host gets
 * https://. Any argument may be NULL. Caller frees; NULL on ENOMEM. Pure but for getenv(). */
char *creds_sts_endpoint(const char *option, const char *prof_endpoint, const char *prof_region,
			 bool prof_vpc);

void creds_clear(struct creds *c);
void creds_provider_free(struct creds_provider *p);

#endif
