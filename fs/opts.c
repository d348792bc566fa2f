/* opts: dswfs's command line, parsed with libfuse's option parser so FUSE's options pass through. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fuse.h>

#include "buf.h"
#include "creds.h"
#include "opts.h"
#include "region.h"

/* Raw text of the options that need checking after parsing. */
struct raw {
	char *ttl, *page_size, *connect_timeout, *timeout, *retries, *parallel, *max_snapshots;
	char *verbose, *grace, *max_stale;
	char *refresh_min_interval;
	char *max_walk_mb;
	int show_secrets, ecs_role, prefetch;
	int allow_core_dumps;
	char *cache_max_mb;
	char *wait_timeout;
	int max_threads_given;
	int vpc;
};

/* FUSE options dswfs only notes, leaving them to libfuse. */
enum { KEY_MAX_THREADS = 1 };

#define RAW(t, f) { t, offsetof(struct raw, f), 0 }
#define STR(t, f) { t, offsetof(struct opts, f), 0 }

static const struct fuse_opt raw_spec[] = {
	RAW("ttl=%s", ttl), RAW("page_size=%s", page_size),
	RAW("connect_timeout=%s", connect_timeout), RAW("timeout=%s", timeout),
	RAW("retries=%s", retries), RAW("parallel_pages=%s", parallel),
	RAW("max_snapshots=%s", max_snapshots), RAW("verbose=%s", verbose),
	RAW("grace=%s", grace), RAW("max_stale=%s", max_stale),
	RAW("refresh_min_interval=%s", refresh_min_interval),
	RAW("max_walk_mb=%s", max_walk_mb),
	{ "prefetch", offsetof(struct raw, prefetch), 1 },
	{ "show_secrets", offsetof(struct raw, show_secrets), 1 },
	{ "ecs_role", offsetof(struct raw, ecs_role), 1 },
	{ "allow_core_dumps", offsetof(struct raw, allow_core_dumps), 1 },
	RAW("cache_max_mb=%s", cache_max_mb),
	RAW("wait_timeout=%s", wait_timeout),
	{ "vpc", offsetof(struct raw, vpc), 1 },
	FUSE_OPT_KEY("max_threads=", KEY_MAX_THREADS),
	FUSE_OPT_END
};

static const struct fuse_opt str_spec[] = {
	STR("endpoint=%s", endpoint), STR("region=%s", region), STR("profile=%s", profile),
	STR("workspace_id=%s", workspace_id), STR("resource_id=%s", resource_id),
	STR("ecs_endpoint=%s", ecs_endpoint), STR("ca_file=%s", ca_file),
	STR("--query=%s", query_path), STR("--query %s", query_path),
	STR("regions=%s", regions),
	FUSE_OPT_END
};

/* endpoint.<region>=URL: a name libfuse's templates cannot match, so it is taken here. */
#define ENDPOINT_PREFIX "endpoint."

static int add_override(struct opts *o, const char *arg)
{
	char **v = realloc(o->endpoint_overrides, (o->noverrides + 2) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	o->endpoint_overrides = v;
	v[o->noverrides] = strdup(arg + strlen(ENDPOINT_PREFIX));
	if (!v[o->noverrides])
		return -ENOMEM;
	v[++o->noverrides] = NULL;
	return 0;
}

/* Consumes the dswfs options in both passes; keeps everything else for FUSE. */
static int keep_unknown(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	(void)outargs;
	if (key == FUSE_OPT_KEY_OPT && strncmp(arg, ENDPOINT_PREFIX, strlen(ENDPOINT_PREFIX)) == 0)
		return add_override(data, arg) ? -1 : 0;
	return 1;
}

/* Checks -o regions= and the endpoint.<region>= overrides against it. */
static int check_regions(struct opts *o)
{
	char why[256];
	int n;

	if (!o->regions) {
		if (o->noverrides) {
			fprintf(stderr, "dswfs: option endpoint.%s needs regions= (one region: "
				"endpoint=URL)\n", o->endpoint_overrides[0]);
			return -EINVAL;
		}
		return 0;
	}
	n = region_list_parse(o->regions, &o->region_ids, why, sizeof(why));
	if (n < 0) {
		if (n == -EINVAL)
			fprintf(stderr, "dswfs: option regions=%s: %s\n", o->regions, why);
		return n;
	}
	o->nregions = (size_t)n;
	if (o->endpoint || o->region) {
		fprintf(stderr, "dswfs: option %s= names one region; with regions= give "
			"endpoint.<region>=URL per region\n", o->endpoint ? "endpoint" : "region");
		return -EINVAL;
	}
	for (size_t k = 0; k < o->noverrides; k++) {
		const char *ov = o->endpoint_overrides[k], *eq = strchr(ov, '=');
		size_t i;

		for (i = 0; eq && eq[1] && i < o->nregions; i++)
			if (strlen(o->region_ids[i]) == (size_t)(eq - ov) &&
			    strncmp(o->region_ids[i], ov, (size_t)(eq - ov)) == 0)
				break;
		if (!eq || !eq[1] || i == o->nregions) {
			fprintf(stderr, "dswfs: option endpoint.%s: expected endpoint.<region>=URL "
				"for a region of regions=\n", ov);
			return -EINVAL;
		}
	}
	return 0;
}

char *opts_region_endpoint(const struct opts *o, size_t i)
{
	const char *id = o->region_ids[i];
	size_t len = strlen(id);

	/* The last override given for a region wins, as with any repeated -o. */
	for (size_t k = o->noverrides; k-- > 0;) {
		const char *ov = o->endpoint_overrides[k];

		if (strncmp(ov, id, len) == 0 && ov[len] == '=')
			return strdup(ov + len + 1);
	}
	return region_endpoint(id, o->vpc);
}

/* The second pass's: like keep_unknown, noting which FUSE options were given. */
static int keep_noting(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct raw *r = data;

	(void)arg; (void)outargs;
	if (key == KEY_MAX_THREADS)
		r->max_threads_given = 1;
	return 1;
}

static int parse_double(const char *name, const char *s, double lo, double hi, double *out)
{
	char *end;
	double v;

	if (!s)
		return 0;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || v < lo || v > hi) {
		fprintf(stderr, "dswfs: option %s=%s: expected a number from %g to %g\n", name, s,
			lo, hi);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int parse_long(const char *name, const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	if (!s)
		return 0;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi) {
		fprintf(stderr, "dswfs: option %s=%s: expected a whole number from %ld to %ld\n",
			name, s, lo, hi);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static char *dup_or(char *s, const char *dflt)
{
	return s ? s : strdup(dflt);
}

int opts_parse(struct fuse_args *args, struct opts *o)
{
	struct raw r;
	long v;
	int rc = -EINVAL;

	memset(o, 0, sizeof(*o));
	memset(&r, 0, sizeof(r));
	o->ttl = 30;
	o->grace = 30;
	o->max_stale = 600;
	o->page_size = 100;
	o->connect_timeout_ms = 5000;
	o->timeout_ms = 30000;
	o->retries = 3;
	o->parallel_pages = 4;
	o->max_snapshots = 256;
	o->refresh_min_interval = 1;
	o->max_walk_mb = 2048;
	o->cache_max_mb = OPTS_CACHE_MAX_MB_DEFAULT;
	o->wait_timeout = 15;
	/* Two passes: libfuse's parser fills one struct per pass, and dswfs's options must not
	 * reach fuse_new, which rejects what it does not know. */
	if (fuse_opt_parse(args, o, str_spec, keep_unknown) != 0)
		goto out;
	if (fuse_opt_parse(args, &r, raw_spec, keep_noting) != 0)
		goto out;
	o->show_secrets = r.show_secrets;
	o->ecs_role = r.ecs_role;
	o->prefetch = r.prefetch;
	o->allow_core_dumps = r.allow_core_dumps;
	o->max_threads_given = r.max_threads_given;
	o->vpc = r.vpc;
	if (parse_double("ttl", r.ttl, 0, 86400 * 365, &o->ttl))
		goto out;
	if (parse_double("grace", r.grace, 0, 86400 * 365, &o->grace))
		goto out;
	if (parse_double("max_stale", r.max_stale, 0, 86400 * 365, &o->max_stale))
		goto out;
	v = o->page_size;
	if (parse_long("page_size", r.page_size, 1, 1000, &v))
		goto out;
	o->page_size = (int)v;
	if (parse_long("connect_timeout", r.connect_timeout, 1, 600000, &o->connect_timeout_ms))
		goto out;
	if (parse_long("timeout", r.timeout, 1, 3600000, &o->timeout_ms))
		goto out;
	v = o->retries;
	if (parse_long("retries", r.retries, 0, 20, &v))
		goto out;
	o->retries = (int)v;
	v = o->parallel_pages;
	if (parse_long("parallel_pages", r.parallel, 1, 64, &v))
		goto out;
	o->parallel_pages = (int)v;
	v = (long)o->max_snapshots;
	if (parse_long("max_snapshots", r.max_snapshots, 1, 1000000, &v))
		goto out;
	o->max_snapshots = (size_t)v;
	if (parse_long("max_walk_mb", r.max_walk_mb, 1, 1048576, &o->max_walk_mb))
		goto out;
	v = (long)o->cache_max_mb;
	if (parse_long("cache_max_mb", r.cache_max_mb, 0, 1 << 20, &v))
		goto out;
	o->cache_max_mb = (size_t)v;
	v = 0;
	if (parse_long("verbose", r.verbose, 0, 2, &v))
		goto out;
	o->verbose = (int)v;
	if (parse_double("refresh_min_interval", r.refresh_min_interval, 0, 86400,
			 &o->refresh_min_interval))
		goto out;
	if (parse_double("wait_timeout", r.wait_timeout, 0, 86400, &o->wait_timeout))
		goto out;
	if (o->endpoint && !*o->endpoint) {
		fprintf(stderr, "dswfs: option endpoint= needs a URL\n");
		goto out;
	}
	rc = check_regions(o);
	if (rc)
		goto out;
	rc = -EINVAL;
	o->workspace_id = dup_or(o->workspace_id, "ALL");
	o->resource_id = dup_or(o->resource_id, "ALL");
	if (!o->workspace_id || !o->resource_id) {
		rc = -ENOMEM;
		goto out;
	}
	rc = 0;
out:
	free(r.ttl); free(r.page_size); free(r.connect_timeout); free(r.timeout);
	free(r.retries); free(r.parallel); free(r.max_snapshots); free(r.verbose);
	free(r.grace); free(r.max_stale);
	free(r.refresh_min_interval);
	free(r.max_walk_mb);
	free(r.cache_max_mb);
	free(r.wait_timeout);
	return rc;
}

char *opts_endpoint(const struct opts *o, int *err)
{
	char *region = NULL, *url = NULL;

	*err = 0;
	if (o->endpoint) {
		url = strdup(o->endpoint);
		if (!url)
			*err = -ENOMEM;
		return url;
	}
	region = o->region ? strdup(o->region) : creds_default_region(o->profile);
	if (!region) {
		*err = -ENOENT;
		return NULL;
	}
	url = region_endpoint(region, o->vpc);
	if (!url)
		*err = -ENOMEM;
	free(region);
	return url;
}

void opts_usage(FILE *f, const char *prog)
{
	fprintf(f,
"usage: %s [options] MOUNTPOINT\n"
"       %s [options] --query PATH\n"
"\n"
"Shows Alibaba Cloud PAI-DSW notebook instances (ListInstances) as directories.\n"
"Unmount with: fusermount3 -u MOUNTPOINT\n"
"\n"
"dswfs options (-o name=value[,name=value...]):\n"
"    endpoint=URL          API endpoint (default https://pai-dsw.<region>.aliyuncs.com;\n"
"                          http:// only for loopback hosts)\n"
"    region=ID             region, e.g. cn-hangzhou (default ALIBABA_CLOUD_REGION_ID, then\n"
"                          the aliyun CLI profile's region_id)\n"
"    profile=NAME          aliyun CLI / credentials file profile (default\n"
"                          ALIBABA_CLOUD_PROFILE, then the CLI's current profile)\n"
"    ttl=SECONDS           how long a query's answer is reused (default 30)\n"
"    grace=SECONDS         past the TTL, serve the old answer at once while one\n"
"                          background fetch refreshes it (default 30)\n"
"    max_stale=SECONDS     when refreshes fail, keep serving the last good answer up\n"
"                          to this age (default 600; 0 = never)\n"
"    prefetch              fetch instances/ in the background at mount time\n"
"    page_size=N           instances per ListInstances page, 1-1000 (default 100)\n"
"    workspace_id=ID       base query behind instances/ (default ALL)\n"
"    resource_id=ID        base query behind instances/ (default ALL)\n"
"    show_secrets          show ImageAuth, CredentialConfig, environment values and\n"
"                          members named like *Password*, *Token*, *Secret*, *AccessKey*,\n"
"                          *PrivateKey* (default: replaced by <redacted>)\n"
"    connect_timeout=MS    TCP/TLS connect timeout (default 5000)\n"
"    timeout=MS            whole-request timeout (default 30000)\n"
"    retries=N             retries for throttling, 5xx and network errors (default 3)\n"
"    parallel_pages=N      pages fetched at once after the first (default 4)\n"
"    max_snapshots=N       cached query answers kept, least recently used dropped (256)\n"
"    max_walk_mb=N         MiB of responses one listing may hold; beyond it the listing\n"
"                          fails with EFBIG (default 2048, room for 100,000 instances)\n"
"    cache_max_mb=MIB      bytes of cached answers kept, least recently used dropped\n"
"                          first; 0 = no byte limit (default 4096: one fully read\n"
"                          100,000-instance answer is about 2,800 MiB)\n"
"    ecs_role              also try the ECS RAM role (instance metadata) credentials\n"
"    ecs_endpoint=URL      metadata service (default http://100.100.100.200)\n"
"    ca_file=FILE          extra CA bundle for TLS verification\n"
"    verbose=N             0 warnings, 1 info, 2 debug (default 0)\n"
"    refresh_min_interval=SECONDS  a refresh (.dswfs/refresh, SIGHUP) asked within this\n"
"                          of the last completed one is answered by it (default 1)\n"
"    wait_timeout=SECONDS  a reader waiting for an answer from the API gives up after\n"
"                          this long with ETIMEDOUT; the fetch goes on and its answer is\n"
"                          kept for the next reader (default 15; 0 = wait as long as it\n"
"                          takes). A failing query is answered from memory with its error\n"
"                          for 1 s, then 2, 4 ... up to 30 s (or ttl) before it is asked again\n"
"    allow_core_dumps      for debugging: the process stays dumpable and the access key\n"
"                          secret and token may appear in a core dump (default: neither)\n"
"    regions=ID:ID...      several regions in one mount (':' or '+' between ids):\n"
"                          instances/, workspaces/ and by-name/ show their union,\n"
"                          regions/<ID>/ each region alone; endpoint.<ID>=URL sets one\n"
"                          region's endpoint (default https://pai-dsw.<ID>.aliyuncs.com)\n"
"    vpc                   derived endpoints in the VPC form,\n"
"                          https://pai-dsw-vpc.<region>.aliyuncs.com\n"
"\n"
"    --query PATH          print the JSON PATH/instances.json would hold, without mounting\n"
"                          (e.g. --query workspaces/40823/status/Running)\n"
"    -h, --help            this text and FUSE's options\n"
"    -V, --version         versions\n"
"\n"
"Credentials: ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET[/SECURITY_TOKEN], ~/.aliyun/config.json,\n"
"~/.alibabacloud/credentials, ECS RAM role (with ecs_role), ALIBABA_CLOUD_CREDENTIALS_URI.\n"
"\n", prog, prog);
}

char *opts_describe(const struct opts *o, const char *endpoint, const char *creds_source)
{
	struct buf b;

	buf_init(&b, 1 << 16);
	buf_printf(&b, "endpoint %s\n", endpoint ? endpoint : "");
	buf_printf(&b, "region %s\n", o->region ? o->region : "");
	buf_printf(&b, "profile %s\n", o->profile ? o->profile : "");
	buf_printf(&b, "credentials %s\n", creds_source ? creds_source : "");
	buf_printf(&b, "ttl %g\n", o->ttl);
	buf_printf(&b, "grace %g\n", o->grace);
	buf_printf(&b, "max_stale %g\n", o->max_stale);
	buf_printf(&b, "prefetch %d\n", o->prefetch);
	buf_printf(&b, "page_size %d\n", o->page_size);
	buf_printf(&b, "workspace_id %s\n", o->workspace_id);
	buf_printf(&b, "resource_id %s\n", o->resource_id);
	buf_printf(&b, "show_secrets %d\n", o->show_secrets);
	buf_printf(&b, "connect_timeout %ld\n", o->connect_timeout_ms);
	buf_printf(&b, "timeout %ld\n", o->timeout_ms);
	buf_printf(&b, "retries %d\n", o->retries);
	buf_printf(&b, "parallel_pages %d\n", o->parallel_pages);
	buf_printf(&b, "max_snapshots %zu\n", o->max_snapshots);
	buf_printf(&b, "max_walk_mb %ld\n", o->max_walk_mb);
	buf_printf(&b, "cache_max_mb %zu\n", o->cache_max_mb);
	buf_printf(&b, "ecs_role %d\n", o->ecs_role);
	buf_printf(&b, "refresh_min_interval %g\n", o->refresh_min_interval);
	buf_printf(&b, "allow_core_dumps %d\n", o->allow_core_dumps);
	buf_printf(&b, "wait_timeout %g\n", o->wait_timeout);
	buf_printf(&b, "regions %s\n", o->regions ? o->regions : "");
	buf_printf(&b, "vpc %d\n", o->vpc);
	if (buf_printf(&b, "version %s\n", DSWFS_VERSION) < 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b, NULL);
}

void opts_free(struct opts *o)
{
	free(o->endpoint); free(o->region); free(o->profile); free(o->workspace_id);
	free(o->resource_id); free(o->ecs_endpoint); free(o->ca_file); free(o->query_path);
	free(o->mountpoint);
	free(o->regions);
	region_list_free(o->region_ids);
	for (size_t i = 0; i < o->noverrides; i++)
		free(o->endpoint_overrides[i]);
	free(o->endpoint_overrides);
	memset(o, 0, sizeof(*o));
}
