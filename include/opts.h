/* opts: dswfs's command line (-o name=value options, --help, --version, --query). */
#ifndef DSWFS_OPTS_H
#define DSWFS_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct fuse_args;

/* A 100,000-instance answer of the demo fleet holds about 1,360 MiB as fetched and 2,820 MiB
 * once every file of every instance has been read (snap_bytes, measured with
 * scripts/dsw_fleet.py): the default keeps one such answer whole, with room for narrower ones. */
#define OPTS_CACHE_MAX_MB_DEFAULT 4096

/* Every dswfs option with its effective value. Strings are owned (opts_free). */
struct opts {
	char *endpoint;		/* explicit endpoint, or NULL (derived from region) */
	char *region;		/* -o region, or NULL */
	char *profile;		/* -o profile, or NULL */
	double ttl;		/* seconds, default 30 */
	double grace;		/* stale-while-revalidate window past ttl, default 30 */
	double max_stale;	/* serve the last answer this long when refreshes fail, 600 */
	bool prefetch;		/* warm instances/ at mount time */
	bool prime;		/* push listed directories' files into the page cache (noprime) */
	int page_size;		/* default 100 */
	char *workspace_id;	/* base query, default "ALL" */
	char *resource_id;	/* base query, default "ALL" */
	bool show_secrets;
	long connect_timeout_ms; /* default 5000 */
	long timeout_ms;	/* default 30000 */
	int retries;		/* default 3 */
	int parallel_pages;	/* default 4 */
	size_t max_snapshots;	/* default 256 */
	long max_walk_mb;	/* MiB of responses one listing may hold, default 2048 */
	size_t cache_max_mb;	/* MiB of cached snapshots (snap_bytes); 0 = no byte cap */
	bool ecs_role;		/* try the ECS RAM role source */
	char *ecs_endpoint;	/* metadata service base URL */
	char *ca_file;
	int verbose;		/* -o verbose=N: 0 warnings, 1 info, 2 debug */
	bool max_threads_given;	/* -o max_threads= was given (else dswfs picks the default) */
	bool allow_core_dumps;	/* keep the process dumpable, secrets in dumps (debugging) */
	char *query_path;	/* --query PATH */
	bool help, version;
	char *mountpoint;	/* the first non-option argument */
	double refresh_min_interval; /* refreshes within this of the last one coalesce, default 1 */
	double wait_timeout;	/* a reader waits this long for a fetch, default 15; 0 = no limit */

	/* Mounting the way mount(8) and fstab do (SOURCE, generic options, logs, setuid). */
	char *source;		/* SOURCE as given (its parts are in profile/region/endpoint) */
	bool nonempty;		/* -o nonempty: mount over a directory that holds files */
	char *setuid_user;	/* -o setuid=USER (root only) */
	char *log_file;		/* -o log_file=PATH: log lines there instead of stderr/syslog */
	bool fsname_given;	/* -o fsname= was given (else dswfs names the mount) */
	bool subtype_given;	/* -o subtype= was given (else "dswfs") */
	size_t events_max_kb;	/* KiB each change feed keeps, default TREE_EVENTS_DEFAULT_KB */
	bool watch;		/* keep instances/ refreshed every TTL (metrics, events) */
	/* The shared cache level in Redis (shared.h); off without shared_cache. */
	char *shared_cache;		/* redis://HOST[:PORT][/DB] or unix:/PATH[?db=N] */
	char *shared_cache_key;		/* team key file (0600), or NULL */
	char *shared_cache_password_file; /* AUTH password file (0600), or NULL */
	char *shared_cache_user;	/* ACL user, or NULL (DSWFS_REDIS_USER) */
	double shared_cache_timeout;	/* seconds per Redis connect/command, default 0.5 */
	double shared_cache_lock_wait;	/* seconds to wait for another host's fetch, default 30 */
	char *sts_endpoint;	/* -o sts_endpoint: STS for role credentials (URL or host) */
	/* Several regions in one mount (-o regions=). */
	char *regions;		/* the list as given, or NULL (one region) */
	char **region_ids;	/* parsed (region_list_parse), NULL-terminated; NULL without */
	size_t nregions;
	bool vpc;		/* derived endpoints in their VPC form */
	char **endpoint_overrides; /* "<region>=<URL>" from endpoint.<region>=URL, NULL-terminated */
	size_t noverrides;
};

/* Parses argv into *o, leaving FUSE's own options (and -f, -d, -s, -o allow_other, ...) in args
 * for fuse_main. Arguments that are not options are [SOURCE] MOUNTPOINT (with --query: at most
 * a SOURCE); the mount point is left in args. The generic options mount(8) and mount.fuse3
 * pass (opts_generic_mount_option) are dropped. Returns 0, or -EINVAL after printing a
 * one-line "dswfs: ..." reason to stderr (unknown dswfs option value, a number out of range,
 * an extra argument, a bad SOURCE or one contradicting -o profile/region/endpoint). */
int opts_parse(struct fuse_args *args, struct opts *o);

/* The endpoint to use: the explicit one, else https://pai-dsw.<region>.aliyuncs.com with the
 * region from the option, ALIBABA_CLOUD_REGION_ID or the CLI profile. Caller frees. NULL with
 * -ENOENT in *err when no region is known, -ENOMEM. */
char *opts_endpoint(const struct opts *o, int *err);

/* Region i's endpoint in a multi-region mount: its endpoint.<region>= override, else the
 * official one (region_endpoint, VPC form with -o vpc). Caller frees; NULL on ENOMEM. */
char *opts_region_endpoint(const struct opts *o, size_t i);

/* Prints the --help text. */
void opts_usage(FILE *f, const char *prog);

/* "name value" lines of the effective configuration (no secret is ever an option). Caller
 * frees; NULL on ENOMEM. */
char *opts_describe(const struct opts *o, const char *endpoint, const char *creds_source);

void opts_free(struct opts *o);

/* Splits a mount SOURCE: "dswfs" or "" (nothing), [PROFILE@]REGION, PROFILE@ (the profile's
 * region), or [PROFILE@]http(s)://ENDPOINT. PROFILE is letters, digits, '_', '.', '-' (at most
 * 64); REGION lowercase letters, digits and '-' (at most 64). Each part is malloc'd or NULL.
 * Returns 0, -EINVAL with a reason in why, or -ENOMEM. */
int opts_source_parse(const char *src, char **profile, char **region, char **endpoint,
		      char *why, size_t whylen);

/* Whether opt is one of the generic mount options mount(8), mount.fuse3 and fstab pass that mean
 * nothing to dswfs and that libfuse 3 would refuse (relatime, _netdev, nofail, noauto, user,
 * defaults, x-*, comment=..., ...). */
bool opts_generic_mount_option(const char *opt);

/* The name the mount shows as its source (findmnt, /proc/mounts, df): itself a SOURCE that
 * mounts the same thing: [PROFILE@]REGION, or [PROFILE@]ENDPOINT when the endpoint was given
 * (endpoint: the one in use); with regions=, [PROFILE@] and the list as given. Caller frees;
 * NULL on ENOMEM. */
char *opts_fsname(const struct opts *o, const char *endpoint);

#endif
