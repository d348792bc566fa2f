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
	/* Several regions in one mount (-o regions=). */
	char *regions;		/* the list as given, or NULL (one region) */
	char **region_ids;	/* parsed (region_list_parse), NULL-terminated; NULL without */
	size_t nregions;
	bool vpc;		/* derived endpoints in their VPC form */
	char **endpoint_overrides; /* "<region>=<URL>" from endpoint.<region>=URL, NULL-terminated */
	size_t noverrides;
};

/* Parses argv into *o, leaving FUSE's own options (and -f, -d, -s, -o allow_other, ...) in args
 * for fuse_main. Returns 0, or -EINVAL after printing a one-line "dswfs: ..." reason to stderr
 * (unknown dswfs option value, a number out of range, an extra argument). */
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

#endif
