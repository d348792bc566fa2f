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
	int show_secrets, ecs_role, prefetch, noprime;
	int allow_core_dumps;
	char *cache_max_mb;
	char *wait_timeout;
	int max_threads_given;
	int nonempty, fsname_given, subtype_given;
	char *events_max_kb;
	int watch;
	char *shared_cache_timeout, *shared_cache_lock_wait;
	int vpc;
};

/* FUSE options dswfs only notes, leaving them to libfuse. */
enum { KEY_MAX_THREADS = 1, KEY_FSNAME, KEY_SUBTYPE };

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
	{ "noprime", offsetof(struct raw, noprime), 1 },
	{ "show_secrets", offsetof(struct raw, show_secrets), 1 },
	{ "ecs_role", offsetof(struct raw, ecs_role), 1 },
	{ "allow_core_dumps", offsetof(struct raw, allow_core_dumps), 1 },
	RAW("cache_max_mb=%s", cache_max_mb),
	RAW("wait_timeout=%s", wait_timeout),
	{ "vpc", offsetof(struct raw, vpc), 1 },
	FUSE_OPT_KEY("max_threads=", KEY_MAX_THREADS),
	{ "nonempty", offsetof(struct raw, nonempty), 1 },
	FUSE_OPT_KEY("fsname=", KEY_FSNAME), FUSE_OPT_KEY("subtype=", KEY_SUBTYPE),
	RAW("events_max_kb=%s", events_max_kb),
	{ "watch", offsetof(struct raw, watch), 1 },
	RAW("shared_cache_timeout=%s", shared_cache_timeout),
	RAW("shared_cache_lock_wait=%s", shared_cache_lock_wait),
	FUSE_OPT_END
};

static const struct fuse_opt str_spec[] = {
	STR("endpoint=%s", endpoint), STR("region=%s", region), STR("profile=%s", profile),
	STR("workspace_id=%s", workspace_id), STR("resource_id=%s", resource_id),
	STR("ecs_endpoint=%s", ecs_endpoint), STR("ca_file=%s", ca_file),
	/* The space form also matches "--query=x" (as "=x"): the '=' form comes after, to win. */
	STR("--query %s", query_path), STR("--query=%s", query_path),
	STR("--profile %s", profile), STR("--profile=%s", profile),
	STR("--region %s", region), STR("--region=%s", region),
	STR("setuid=%s", setuid_user), STR("log_file=%s", log_file),
	STR("shared_cache=%s", shared_cache), STR("shared_cache_key=%s", shared_cache_key),
	STR("shared_cache_password_file=%s", shared_cache_password_file),
	STR("shared_cache_user=%s", shared_cache_user),
	STR("sts_endpoint=%s", sts_endpoint),
	STR("regions=%s", regions),
	FUSE_OPT_END
};

/* The first pass's data: the options, and the arguments that are not options. */
struct first {
	struct opts o;		/* first: str_spec's offsets are struct opts's */
	char *pos[2];		/* [SOURCE] MOUNTPOINT */
	int npos;
};

/* Generic options of mount(8), mount.fuse3 and fstab that libfuse 3.14 refuses (the ones it
 * takes, rw, ro, dev, suid, exec, atime, sync and their no- forms, go on to the kernel).
 * atime policies and lazytime mean nothing to a read-only filesystem whose times come from the
 * API; the others are for mount(8), systemd or mount.fuse3 themselves. */
static const char *const generic_opts[] = {
	"relatime", "norelatime", "strictatime", "nostrictatime", "diratime", "nodiratime",
	"lazytime", "nolazytime", "iversion", "noiversion", "mand", "nomand", "silent", "loud",
	"_netdev", "nofail", "auto", "noauto", "user", "nouser", "users", "owner", "group",
	"defaults", "drop_privileges",
};

bool opts_generic_mount_option(const char *opt)
{
	if (strncmp(opt, "x-", 2) == 0 || strncmp(opt, "comment=", 8) == 0)
		return true;
	for (size_t i = 0; i < sizeof(generic_opts) / sizeof(generic_opts[0]); i++)
		if (strcmp(opt, generic_opts[i]) == 0)
			return true;
	return false;
}

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

/* Consumes the dswfs options, the generic mount options and [SOURCE] MOUNTPOINT; keeps
 * everything else for FUSE. */
static int keep_unknown(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct first *f = data;

	(void)outargs;
	if (key == FUSE_OPT_KEY_OPT && strncmp(arg, ENDPOINT_PREFIX, strlen(ENDPOINT_PREFIX)) == 0)
		return add_override(&f->o, arg) ? -1 : 0;
	if (key == FUSE_OPT_KEY_NONOPT) {
		if (f->npos == 2) {
			fprintf(stderr, "dswfs: unexpected argument '%s' (usage: dswfs [options] "
				"[SOURCE] MOUNTPOINT; see --help)\n", arg);
			return -1;
		}
		f->pos[f->npos] = strdup(arg);
		return f->pos[f->npos++] ? 0 : -1;
	}
	if (key == FUSE_OPT_KEY_OPT && opts_generic_mount_option(arg))
		return 0;
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
	if (key == KEY_FSNAME)
		r->fsname_given = 1;
	if (key == KEY_SUBTYPE)
		r->subtype_given = 1;
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

/* Takes one part of the SOURCE (owned) into *opt, unless -o gave another value. */
static int merge_part(const char *src, const char *what, char **opt, char *part)
{
	if (!part)
		return 0;
	if (*opt && strcmp(*opt, part) != 0) {
		fprintf(stderr, "dswfs: source %s gives %s %s, but an option gives %s=%s\n", src,
			what, part, what, *opt);
		free(part);
		return -EINVAL;
	}
	free(*opt);
	*opt = part;
	return 0;
}

/* [SOURCE] MOUNTPOINT into o (SOURCE's parts merged) and the mount point back into args. */
static int take_positional(struct fuse_args *args, struct first *f)
{
	struct opts *o = &f->o;
	char *profile, *region, *endpoint, why[256];
	const char *mp = NULL;
	int rc;

	if (o->query_path) {
		if (f->npos > 1) {
			fprintf(stderr, "dswfs: with --query, only a SOURCE may be given, not "
				"'%s'\n", f->pos[1]);
			return -EINVAL;
		}
		if (f->npos == 1)
			o->source = f->pos[0];
	} else if (f->npos == 2) {
		o->source = f->pos[0];
		mp = f->pos[1];
	} else if (f->npos == 1) {
		mp = f->pos[0];
	}
	if (mp && fuse_opt_add_arg(args, mp) != 0)
		return -ENOMEM;
	if (!o->source)
		return 0;
	rc = opts_source_parse(o->source, &profile, &region, &endpoint, why, sizeof(why));
	if (rc) {
		fprintf(stderr, "dswfs: %s\n", why);
		return rc;
	}
	/* merge_part takes its part whatever it returns; the parts after a failure are freed. */
	rc = merge_part(o->source, "profile", &o->profile, profile);
	if (rc) {
		free(region);
		free(endpoint);
		return rc;
	}
	rc = merge_part(o->source, "region", &o->region, region);
	if (rc) {
		free(endpoint);
		return rc;
	}
	return merge_part(o->source, "endpoint", &o->endpoint, endpoint);
}

int opts_parse(struct fuse_args *args, struct opts *out)
{
	struct first f;
	struct opts *o = &f.o;
	struct raw r;
	long v;
	int rc = -EINVAL;

	memset(&f, 0, sizeof(f));
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
	o->events_max_kb = 1024;
	o->shared_cache_timeout = 0.5;
	o->shared_cache_lock_wait = 30;
	/* Two passes: libfuse's parser fills one struct per pass, and dswfs's options must not
	 * reach fuse_new, which rejects what it does not know. */
	if (fuse_opt_parse(args, &f, str_spec, keep_unknown) != 0)
		goto out;
	if (fuse_opt_parse(args, &r, raw_spec, keep_noting) != 0)
		goto out;
	o->show_secrets = r.show_secrets;
	o->ecs_role = r.ecs_role;
	o->prefetch = r.prefetch;
	o->prime = !r.noprime;
	o->allow_core_dumps = r.allow_core_dumps;
	o->max_threads_given = r.max_threads_given;
	o->nonempty = r.nonempty;
	o->fsname_given = r.fsname_given;
	o->subtype_given = r.subtype_given;
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
	rc = take_positional(args, &f);
	if (rc)
		goto out;
	rc = -EINVAL;
	o->watch = r.watch;
	v = (long)o->events_max_kb;
	if (parse_long("events_max_kb", r.events_max_kb, 1, 1 << 20, &v))
		goto out;
	o->events_max_kb = (size_t)v;
	if (parse_double("shared_cache_timeout", r.shared_cache_timeout, 0.001, 60,
			 &o->shared_cache_timeout))
		goto out;
	if (parse_double("shared_cache_lock_wait", r.shared_cache_lock_wait, 0.001, 3600,
			 &o->shared_cache_lock_wait))
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
	for (int i = 0; i < f.npos; i++)
		if (f.pos[i] != o->source)
			free(f.pos[i]);
	*out = f.o;
	free(r.events_max_kb);
	free(r.shared_cache_timeout); free(r.shared_cache_lock_wait);
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
"usage: %s [options] [SOURCE] MOUNTPOINT\n"
"       %s [options] [SOURCE] --query PATH\n"
"SOURCE: [PROFILE@]REGION, PROFILE@, [PROFILE@]https://ENDPOINT, or dswfs (the defaults);\n"
"it sets -o profile=, region=, endpoint= and names the mount (findmnt, df -a). E.g.\n"
"       %s default@cn-shanghai ~/dsw\n"
"       mount -t fuse.dswfs default@cn-shanghai /mnt/dsw -o ttl=60\n"
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
"    noprime               do not push a listed directory's files (up to 64 KiB each)\n"
"                          into the kernel's page cache; each is then read through\n"
"                          the daemon once (default: pushed, so a cold grep -r sends\n"
"                          no read request)\n"
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
"    watch                 refresh instances/ every ttl in the background, read or not\n"
"                          (for .dswfs/metrics and .dswfs/events; default: only while a\n"
"                          change feed is being followed)\n"
"    events_max_kb=KIB     what each change feed (.dswfs/events, .events) keeps; a reader\n"
"                          further behind gets an overflow line (default 1024)\n"
"    allow_core_dumps      for debugging: the process stays dumpable and the access key\n"
"                          secret and token may appear in a core dump (default: neither)\n"
"    nonempty              mount over a directory that holds files (default: refused)\n"
"    setuid=USER           started as root (fstab, systemd): read credentials as USER\n"
"                          (HOME from passwd), mount for USER, then run as USER only\n"
"    log_file=PATH         log there (appended, UTC timestamps) instead of stderr (-f) or,\n"
"                          once in the background, syslog (tag dswfs, facility daemon)\n"
"    fsname=NAME           the mount's source in findmnt, /proc/mounts, df -a (default:\n"
"                          SOURCE in canonical form, e.g. default@cn-shanghai)\n"
"    shared_cache=URL      share answers with other hosts through Redis:\n"
"                          redis://HOST[:PORT][/DB] or unix:/PATH[?db=N] (default off).\n"
"                          AUTH password from DSWFS_REDIS_PASSWORD or the file below\n"
"    shared_cache_key=FILE team key (64 hex digits, mode 0600) sealing the entries;\n"
"                          without it a plain access key's secret derives one\n"
"    shared_cache_password_file=FILE\n"
"                          Redis AUTH password (mode 0600)\n"
"    shared_cache_user=NAME\n"
"                          Redis ACL user (default DSWFS_REDIS_USER)\n"
"    shared_cache_timeout=SECONDS\n"
"                          Redis connect/command timeout (default 0.5)\n"
"    shared_cache_lock_wait=SECONDS\n"
"                          wait for another host's fetch at most this\n"
"                          long, then fetch (default 30)\n"
"    sts_endpoint=URL|HOST STS for RamRoleArn and OIDC credentials (default: the profile's\n"
"                          sts_endpoint, else sts.<sts_region>.aliyuncs.com, else\n"
"                          sts.aliyuncs.com; http:// only for loopback hosts)\n"
"    regions=ID:ID...      several regions in one mount (':' or '+' between ids):\n"
"                          instances/, workspaces/ and by-name/ show their union,\n"
"                          regions/<ID>/ each region alone; endpoint.<ID>=URL sets one\n"
"                          region's endpoint (default https://pai-dsw.<ID>.aliyuncs.com)\n"
"    vpc                   derived endpoints in the VPC form,\n"
"                          https://pai-dsw-vpc.<region>.aliyuncs.com\n"
"    Generic mount options (rw, ro, relatime, noatime, nodev, nosuid, noexec, _netdev,\n"
"    nofail, auto, noauto, user, users, defaults, x-*, comment=...) are accepted.\n"
"\n"
"    --query PATH          print the JSON PATH/instances.json would hold, without mounting\n"
"                          (e.g. --query workspaces/40823/status/Running); also --query=PATH\n"
"    --profile NAME        same as -o profile=NAME (also --profile=NAME)\n"
"    --region ID           same as -o region=ID (also --region=ID)\n"
"    -h, --help            this text and FUSE's options\n"
"    -V, --version         versions\n"
"\n"
"Credentials, first that works: ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET[/SECURITY_TOKEN],\n"
"OIDC role (ALIBABA_CLOUD_ROLE_ARN, _OIDC_PROVIDER_ARN, _OIDC_TOKEN_FILE),\n"
"~/.aliyun/config.json, ~/.alibabacloud/credentials, ECS RAM role (with ecs_role),\n"
"ALIBABA_CLOUD_CREDENTIALS_URI.\n"
"\n", prog, prog, prog);
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
	buf_printf(&b, "prime %d\n", o->prime);
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
	buf_printf(&b, "source %s\n", o->source ? o->source : "");
	buf_printf(&b, "nonempty %d\n", o->nonempty);
	buf_printf(&b, "setuid %s\n", o->setuid_user ? o->setuid_user : "");
	buf_printf(&b, "log_file %s\n", o->log_file ? o->log_file : "");
	buf_printf(&b, "watch %d\n", o->watch);
	buf_printf(&b, "events_max_kb %zu\n", o->events_max_kb);
	buf_printf(&b, "shared_cache %s\n", o->shared_cache ? o->shared_cache : "");
	buf_printf(&b, "shared_cache_key %s\n", o->shared_cache_key ? o->shared_cache_key : "");
	buf_printf(&b, "shared_cache_timeout %g\n", o->shared_cache_timeout);
	buf_printf(&b, "shared_cache_lock_wait %g\n", o->shared_cache_lock_wait);
	buf_printf(&b, "sts_endpoint %s\n", o->sts_endpoint ? o->sts_endpoint : "");
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
	free(o->source); free(o->setuid_user); free(o->log_file);
	free(o->shared_cache); free(o->shared_cache_key); free(o->shared_cache_password_file);
	free(o->shared_cache_user);
	free(o->sts_endpoint);
	free(o->regions);
	region_list_free(o->region_ids);
	for (size_t i = 0; i < o->noverrides; i++)
		free(o->endpoint_overrides[i]);
	free(o->endpoint_overrides);
	memset(o, 0, sizeof(*o));
}

/* Whether s[0..n) is 1..max characters, each a letter, digit or one of extra; lower: letters
 * must be lowercase. */
static bool word_ok(const char *s, size_t n, size_t max, const char *extra, bool lower)
{
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		    (!lower && c >= 'A' && c <= 'Z') || (c && strchr(extra, c)))
			continue;
		return false;
	}
	return true;
}

int opts_source_parse(const char *src, char **profile, char **region, char **endpoint,
		      char *why, size_t whylen)
{
	const char *at, *scheme, *rest;

	*profile = *region = *endpoint = NULL;
	if (!src || !*src || strcmp(src, "dswfs") == 0)
		return 0;
	at = strchr(src, '@');
	scheme = strstr(src, "://");
	if (scheme && at && at > scheme)
		at = NULL;	/* an '@' inside the URL belongs to it */
	rest = at ? at + 1 : src;
	if (at && !word_ok(src, (size_t)(at - src), 64, "_.-", false))
		goto bad;
	if (scheme) {
		if (strncmp(rest, "https://", 8) != 0 && strncmp(rest, "http://", 7) != 0)
			goto bad;
		if (!(*endpoint = strdup(rest)))
			goto nomem;
	} else if (*rest) {
		if (!word_ok(rest, strlen(rest), 64, "-", true))
			goto bad;
		if (!(*region = strdup(rest)))
			goto nomem;
	} else if (!at) {
		goto bad;
	}
	if (at && !(*profile = strndup(src, (size_t)(at - src))))
		goto nomem;
	return 0;
bad:
	snprintf(why, whylen, "bad source '%.200s': expected [PROFILE@]REGION (default@cn-hangzhou), "
		 "[PROFILE@]https://ENDPOINT or dswfs", src);
	free(*endpoint);
	free(*region);
	*endpoint = *region = NULL;
	return -EINVAL;
nomem:
	snprintf(why, whylen, "out of memory");
	free(*endpoint);
	free(*region);
	*endpoint = *region = NULL;
	return -ENOMEM;
}

char *opts_fsname(const struct opts *o, const char *endpoint)
{
	static const char pre[] = "https://pai-dsw.", post[] = ".aliyuncs.com";
	/* Several regions: their list, as given (never empty: libfuse refuses an empty fsname). */
	const char *where = o->nregions ? o->regions : endpoint ? endpoint : "";
	size_t n = strlen(where), np = sizeof(pre) - 1, ns = sizeof(post) - 1;
	int wlen = (int)n;
	char *out;

	/* The endpoint dswfs derived from a region reads better as that region. */
	if (!o->endpoint && n > np + ns && strncmp(where, pre, np) == 0 &&
	    strcmp(where + n - ns, post) == 0) {
		where += np;
		wlen = (int)(n - np - ns);
	}
	if (asprintf(&out, "%s%s%.*s", o->profile ? o->profile : "", o->profile ? "@" : "",
		     wlen, where) < 0)
		return NULL;
	return out;
}
