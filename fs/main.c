/* main: parses the command line, checks credentials and the endpoint, then mounts (or --query). */
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fuse_lowlevel.h>

#include "api.h"
#include "buf.h"
#include "creds.h"
#include "ctl.h"
#include "fsops.h"
#include "inode.h"
#include "log.h"
#include "mountpoint.h"
#include "multi.h"
#include "opts.h"
#include "privs.h"
#include "progress.h"
#include "secmem.h"
#include "tree.h"
#include "shared.h"

/* libfuse reports bad arguments on stderr in its own words; they are caught here and said
 * again as one "dswfs: " line, the way every other start-up error is. */
struct captured {
	int saved;
	FILE *tmp;
};

static void capture_begin(struct captured *c)
{
	fflush(stderr);
	c->saved = -1;
	c->tmp = tmpfile();
	if (!c->tmp)
		return;
	c->saved = dup(STDERR_FILENO);
	if (c->saved < 0 || dup2(fileno(c->tmp), STDERR_FILENO) < 0) {
		if (c->saved >= 0)
			close(c->saved);
		c->saved = -1;
	}
}

/* Restores stderr and replays what was caught: as one "dswfs: " line when failed (newlines
 * folded, libfuse's own prefix dropped), verbatim otherwise. */
static void capture_end(struct captured *c, bool failed)
{
	char text[2048];
	size_t n = 0;

	if (c->saved >= 0) {
		fflush(stderr);
		dup2(c->saved, STDERR_FILENO);
		close(c->saved);
		rewind(c->tmp);
		n = fread(text, 1, sizeof(text) - 1, c->tmp);
	}
	if (c->tmp)
		fclose(c->tmp);
	text[n] = 0;
	while (n && text[n - 1] == '\n')
		text[--n] = 0;
	if (!failed) {
		if (n)
			fprintf(stderr, "%s\n", text);
		return;
	}
	for (char *p = text; *p; p++)
		if (*p == '\n')
			*p = ' ';
	fprintf(stderr, "dswfs: %s\n",
		n ? (strncmp(text, "fuse: ", 6) == 0 ? text + 6 : text) : "invalid arguments");
}

static int api_fetch(void *ctx, const struct sign_kv *params, size_t n, cJSON **instances,
		     struct err_info *err)
{
	struct api_result r;
	int rc;

	rc = api_list_instances(ctx, params, n, &r, err);
	if (rc)
		return rc;
	*instances = r.instances;
	r.instances = NULL;
	api_result_free(&r);
	return 0;
}

/* SIGHUP asks for a refresh (coalesced with .dswfs/refresh writes, and run by the refresh
 * module's own thread, so this one never waits for the API). The signal is blocked in every
 * thread and taken here, so the work runs in an ordinary thread rather than a signal handler.
 * At unmount the thread is told to stop (hup_stop, then a SIGHUP of its own) and joined
 * before the tree goes away. */
static int hup_stop;

static void *hup_thread(void *arg)
{
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	for (;;) {
		if (sigwait(&set, &sig) != 0 || sig != SIGHUP)
			continue;
		if (__atomic_load_n(&hup_stop, __ATOMIC_ACQUIRE))
			break;
		if (tree_refresh_kick(arg) != 0)
			log_msg(LOG_WARN, "SIGHUP: no thread to refresh in; the cache is kept");
	}
	return NULL;
}

/* Aborts the API client's transfers as soon as the session is told to exit (SIGTERM, SIGINT,
 * unmount): libfuse's loop joins its workers before it returns, and a worker waiting for a
 * fetch stalled on a silent server would otherwise hold the exit for the whole wait. Polls,
 * since libfuse offers no callback for it; stopped (stop, then the condition) after the loop. */
struct exit_watch {
	struct fuse_session *se;
	struct api_client *api;		/* one region's, or NULL */
	struct multi *multi;		/* several regions', or NULL */
	long mount_id;		/* our line in /proc/self/mountinfo, -1 when unknown */
	bool unmounted;		/* the session ended because the mount went away */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
};

static void *exit_watch_thread(void *arg)
{
	struct exit_watch *w = arg;
	struct timespec ts;
	unsigned ticks = 0;

	pthread_mutex_lock(&w->mu);
	while (!w->stop) {
		if (fuse_session_exited(w->se)) {
			if (w->api)
				api_client_abort(w->api);
			multi_abort(w->multi);
			break;
		}
		/* A lazy unmount (fusermount3 -u -z) with a file still open, e.g. a `tail -f` on
		 * a feed, leaves the connection up for as long as that reader lives, and a feed
		 * reader never lets go. Once our mount is gone from the table, the session ends
		 * as for SIGTERM: the connection closes and every such reader gets an error. */
		if (w->mount_id >= 0 && ++ticks % 20 == 0 &&
		    !mountpoint_present(w->mount_id)) {
			log_msg(LOG_INFO, "unmounted; ending the session");
			w->mount_id = -1;
			w->unmounted = true;
			kill(getpid(), SIGTERM);
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&w->cv, &w->mu, &ts);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static int run_query(struct tree *t, const char *path)
{
	struct err_info err;
	char line[1024];
	char *json = NULL;
	size_t len = 0;
	int rc;

	rc = tree_query_json(t, path, &json, &len, &err);
	if (rc) {
		if (err.when)
			;	/* a failed fetch, already reported on its own line */
		else if (err.message[0] && !err.http_status && !err.code[0] && !err.curl_code)
			fprintf(stderr, "dswfs: %s\n", err.message);
		else if (err.message[0]) {
			err_format(&err, line, sizeof(line));
			fprintf(stderr, "dswfs: %s\n", line);
		} else {
			fprintf(stderr, "dswfs: %s: %s\n", path, strerror(-rc));
		}
		return 1;
	}
	fwrite(json, 1, len, stdout);
	free(json);
	return fflush(stdout) == 0 ? 0 : 1;
}

/* The region event lines name: the option, the environment or profile, else the one in a
 * pai-dsw[-vpc].<region>.aliyuncs.com endpoint; "" when none is known. Caller frees. */
static char *region_of(const struct opts *o, const char *endpoint)
{
	const char *p = strstr(endpoint, "://"), *end;
	char *r = o->region ? strdup(o->region) : creds_default_region(o->profile);

	if (r)
		return r;
	p = p ? p + 3 : endpoint;
	if (strncmp(p, "pai-dsw-vpc.", 12) == 0)
		p += 12;
	else if (strncmp(p, "pai-dsw.", 8) == 0)
		p += 8;
	else
		return strdup("");
	end = strstr(p, ".aliyuncs.com");
	return end ? strndup(p, (size_t)(end - p)) : strdup("");
}

static void *prefetch_thread(void *arg)
{
	/* A failure is already in the log and last_error; the first access will retry. */
	tree_prefetch(arg);
	return NULL;
}

/* libfuse's own messages after mounting (a lost connection, a failed reply) go where dswfs's
 * lines go: to syslog once daemonized, where stderr is /dev/null. */
static void fuse_log_bridge(enum fuse_log_level level, const char *fmt, va_list ap)
{
	char text[512];
	int n = vsnprintf(text, sizeof(text), fmt, ap);

	if (n < 0)
		return;
	if (n >= (int)sizeof(text))
		n = (int)sizeof(text) - 1;
	while (n > 0 && text[n - 1] == '\n')
		text[--n] = 0;
	log_msg(level <= FUSE_LOG_ERR ? LOG_ERROR : level == FUSE_LOG_WARNING ? LOG_WARN :
		level <= FUSE_LOG_INFO ? LOG_INFO : LOG_DEBUG, "%s",
		strncmp(text, "fuse: ", 6) == 0 ? text + 6 : text);
}

/* Adds "-o name=value" for libfuse, value escaped for its option parser (',' and '\'). */
static int add_fuse_opt(struct fuse_args *args, const char *name, const char *value)
{
	char *opt = malloc(strlen(name) + 2 * strlen(value) + 1), *p;
	int rc;

	if (!opt)
		return -ENOMEM;
	p = stpcpy(opt, name);
	for (; *value; value++) {
		if (*value == ',' || *value == '\\')
			*p++ = '\\';
		*p++ = *value;
	}
	*p = 0;
	rc = fuse_opt_add_arg(args, "-o") || fuse_opt_add_arg(args, opt) ? -ENOMEM : 0;
	free(opt);
	return rc;
}

/* How the daemon runs once mounted: who it becomes, where its lines go. */
struct serve_opts {
	const struct privs *privs;	/* setuid=: mount as root for the user, then drop; or NULL */
	bool log_file;			/* lines go to -o log_file, not syslog, in the background */
	bool protect;			/* not allow_core_dumps: set again after the uid changes,
					 * which resets the process's dumpable flag */
};

/* Mounts se (made by fuse_session_new) and serves until unmounted; destroys se. */
static int mount_and_serve(struct fuse_session *se, struct fuse_cmdline_opts *co,
			   struct fsops_ctx *fc, bool prefetch, struct api_client *api,
			   struct multi *multi, const struct serve_opts *so)
{
	struct exit_watch ew = { .api = api, .multi = multi, .mu = PTHREAD_MUTEX_INITIALIZER,
				 .cv = PTHREAD_COND_INITIALIZER, .mount_id = -1 };
	char real[PATH_MAX];
	bool have_real;
	pthread_t ewt;
	bool ew_started = false;
	pthread_t pre;
	bool pre_started = false;
	struct fuse_loop_config *lc = NULL;
	pthread_t hup;
	bool hup_started = false;
	sigset_t set;
	int rc = 1;

	struct captured cap;
	int failed;

	if (so->privs && privs_mount_begin(so->privs) != 0) {
		fprintf(stderr, "dswfs: setuid=: cannot get root back to mount: %s\n",
			strerror(errno));
		goto out_destroy;
	}
	/* Before mounting: resolving it afterwards would ask this very daemon, not yet serving. */
	have_real = realpath(co->mountpoint, real) != NULL;
	capture_begin(&cap);
	failed = fuse_session_mount(se, co->mountpoint) != 0;
	capture_end(&cap, failed);
	if (failed)
		goto out_destroy;
	if (so->privs && (privs_drop(so->privs) != 0 || secmem_protect_process(so->protect))) {
		fprintf(stderr, "dswfs: setuid=: cannot drop root: %s\n", strerror(errno));
		goto out_unmount;
	}
	if (fuse_daemonize(co->foreground) != 0)
		goto out_unmount;
	/* In the background stderr is /dev/null: lines go to syslog, unless to a log file. */
	if (!co->foreground && !so->log_file)
		log_to_syslog("dswfs", NULL);
	fuse_set_log_func(fuse_log_bridge);
	if (fuse_set_signal_handlers(se) != 0)
		goto out_unmount;
	/* Blocked before any thread starts, so every thread inherits it and only hup_thread
	 * takes SIGHUP. Threads start only now: daemonizing forks, and a thread lives in one
	 * process only. */
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (fc->inval && fsops_inval_start(fc->inval, se, fc->tree) != 0)
		log_msg(LOG_WARN, "no invalidation thread: kernel caches will age out with the TTL");
	if (tree_start(fc->tree) != 0)
		log_msg(LOG_WARN, "no feed polling thread: followed feeds change only when read");
	if (have_real)
		ew.mount_id = mountpoint_id(real);
	hup_started = pthread_create(&hup, NULL, hup_thread, fc->tree) == 0;
	log_msg(LOG_INFO, "mounted on %s", co->mountpoint);
	if (prefetch && pthread_create(&pre, NULL, prefetch_thread, fc->tree) == 0)
		pre_started = true;
	ew.se = se;
	ew_started = pthread_create(&ewt, NULL, exit_watch_thread, &ew) == 0;
	if (co->singlethread) {
		rc = fuse_session_loop(se) ? 1 : 0;
	} else {
		lc = fuse_loop_cfg_create();
		if (!lc)
			goto out_signals;
		fuse_loop_cfg_set_clone_fd(lc, co->clone_fd);
		/* libfuse leaves "not given" as UINT_MAX; its own defaults apply then. */
		if (co->max_threads != UINT_MAX)
			fuse_loop_cfg_set_max_threads(lc, co->max_threads);
		if (co->max_idle_threads != UINT_MAX)
			fuse_loop_cfg_set_idle_threads(lc, co->max_idle_threads);
		rc = fuse_session_loop_mt(se, lc) ? 1 : 0;
		fuse_loop_cfg_destroy(lc);
	}
out_signals:
	if (ew_started) {
		pthread_mutex_lock(&ew.mu);
		ew.stop = true;
		pthread_cond_signal(&ew.cv);
		pthread_mutex_unlock(&ew.mu);
		pthread_join(ewt, NULL);
		/* an unmount is a normal end, not the SIGTERM that carried it out */
		if (ew.unmounted)
			rc = 0;
	}
	fuse_remove_signal_handlers(se);
	if (pre_started)
		pthread_join(pre, NULL);
	if (hup_started) {
		__atomic_store_n(&hup_stop, 1, __ATOMIC_RELEASE);
		pthread_kill(hup, SIGHUP);
		pthread_join(hup, NULL);
	}
out_unmount:
	fsops_inval_stop(fc->inval);
	fuse_session_unmount(se);
out_destroy:
	fuse_session_destroy(se);
	return rc;
}

/* glibc gives each thread that contends for the heap an arena of its own, up to 8 per core, and
 * keeps what an arena freed for that arena. A snapshot is built in whichever FUSE or background
 * thread fetched it, so under varying queries every arena grows to hold a few snapshots' worth
 * and RSS climbed to several times the cache's cap (soak, 1,000 instances, cache_max_mb=64:
 * 11 arenas, 390 MB held by malloc for 90 MB in use and still rising; with 2 arenas, a flat
 * 200 MB, and more queries per second). MALLOC_ARENA_MAX in the environment still wins. */
/* libfuse's default of 10 workers: a reader waiting for a stalled API holds one for up to
 * wait_timeout, so ten such readers would stop every other request (.dswfs, cached paths)
 * until the deadline. Workers are cheap and idle ones exit; -o max_threads still wins. */
#define DSWFS_MAX_THREADS 64

static void malloc_tune(void)
{
	if (!getenv("MALLOC_ARENA_MAX"))
		mallopt(M_ARENA_MAX, 2);
	/* glibc raises its mmap threshold after the first large free, so later big buffers (API
	 * pages, instances.json) would come from the heap and stay as RSS (measured with
	 * tests/tools/walk_rss): a fixed threshold returns them when freed. */
	if (!getenv("MALLOC_MMAP_THRESHOLD_"))
		mallopt(M_MMAP_THRESHOLD, 128 * 1024);
}

/* -o regions=: a client and tree per region and the union tree (multi.h), made from the
 * one-region settings. Returns 0 and *out, or 1 after saying why on stderr. */
static int multi_start(const struct opts *o, const struct api_config *acfg,
		       struct creds_provider *creds, const struct tree_config *tcfg,
		       struct multi **out, char **endpoints_text)
{
	struct multi_config mc = { .regions = o->region_ids, .nregions = o->nregions,
				   .api = acfg, .creds = creds, .tree = tcfg };
	char **endpoints = calloc(o->nregions, sizeof(*endpoints));
	struct err_info err;
	struct buf b;
	int rc = 1;

	buf_init(&b, 1 << 16);
	if (!endpoints)
		goto out_nomem;
	for (size_t i = 0; i < o->nregions; i++) {
		endpoints[i] = opts_region_endpoint(o, i);
		if (!endpoints[i] || buf_printf(&b, "%s%s=%s", i ? " " : "", o->region_ids[i],
						endpoints[i]) < 0)
			goto out_nomem;
	}
	mc.endpoints = (const char *const *)endpoints;
	if (multi_new(&mc, out, &err) != 0) {
		fprintf(stderr, "dswfs: %s\n", err.message);
		goto out;
	}
	*endpoints_text = buf_steal(&b, NULL);
	rc = 0;
	goto out;
out_nomem:
	fprintf(stderr, "dswfs: out of memory\n");
out:
	for (size_t i = 0; endpoints && i < o->nregions; i++)
		free(endpoints[i]);
	free(endpoints);
	buf_free(&b);
	return rc;
}

/* Every region is tried at mount time; the mount goes ahead while one answers, each region that
 * does not said on stderr and in last_error (its regions/<id>/ then fails as a one-region mount
 * would, and the union is marked partial). Returns 0, or 1 when none answers. */
static int multi_check(struct multi *m, const struct opts *o, struct ctl *ctl)
{
	struct sign_kv base[2] = { { "ResourceId", o->resource_id },
				   { "WorkspaceId", o->workspace_id } };
	struct err_info *errs = calloc(o->nregions, sizeof(*errs));
	char msg[1024];
	size_t failed;

	if (!errs) {
		fprintf(stderr, "dswfs: out of memory\n");
		return 1;
	}
	failed = multi_probe(m, base, 2, errs);
	for (size_t i = 0; i < o->nregions; i++) {
		if (!errs[i].err)
			continue;
		err_format(&errs[i], msg, sizeof(msg));
		fprintf(stderr, "dswfs: %s region %s: cannot list instances: %s\n",
			failed == o->nregions ? "error:" : "warning:", o->region_ids[i], msg);
		snprintf(errs[i].query, sizeof(errs[i].query), "[%s] mount-time check",
			 o->region_ids[i]);
		if (!errs[i].when)
			errs[i].when = time(NULL);
		ctl_record_error(ctl, &errs[i]);
	}
	free(errs);
	return failed == o->nregions ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts co;
	struct captured cap;
	struct fuse_session *fuse = NULL;
	struct inode_table *inodes = NULL;
	struct creds_options copt;
	struct creds_provider *creds = NULL;
	struct api_client *api = NULL;
	struct shared *shared = NULL;
	struct api_config acfg;
	struct tree_config tcfg;
	struct tree *tree = NULL;
	struct multi *multi = NULL;
	struct ctl *ctl = NULL;
	struct fsops_ctx fc = { 0 };
	struct err_info err;
	struct opts o;
	struct privs privs;
	struct serve_opts so = { 0 };
	struct progress *progress = NULL;
	char msg[2048], *endpoint = NULL, *config = NULL, *fsname = NULL, *region = NULL;
	int rc = 1, e, dump_rc;

	/* First of all, as ssh-agent does: no core dump and no same-user ptrace can reach the
	 * credentials read below. An explicit allow_core_dumps undoes it once parsed. */
	dump_rc = secmem_protect_process(true);
	malloc_tune();
	memset(&co, 0, sizeof(co));
	if (opts_parse(&args, &o) != 0) {
		fuse_opt_free_args(&args);
		return 2;
	}
	if (o.allow_core_dumps)
		dump_rc = secmem_protect_process(false);
	if (dump_rc) {
		fprintf(stderr, "dswfs: cannot set whether the process is dumpable: %s\n",
			strerror(-dump_rc));
		goto out_args;
	}
	capture_begin(&cap);
	e = fuse_parse_cmdline(&args, &co);
	capture_end(&cap, e != 0);
	if (e != 0) {
		rc = 2;
		goto out_args;
	}
	if (!o.max_threads_given)
		co.max_threads = DSWFS_MAX_THREADS;
	if (co.show_help) {
		opts_usage(stdout, "dswfs");
		printf("FUSE options:\n");
		fuse_cmdline_help();
		fuse_lowlevel_help();
		rc = 0;
		goto out_args;
	}
	if (co.show_version) {
		printf("dswfs %s\nlibfuse %s\n", DSWFS_VERSION, fuse_pkgversion());
		rc = 0;
		goto out_args;
	}
	log_set_level(co.debug ? LOG_DEBUG : (enum log_level)(LOG_WARN + o.verbose));
	if (!o.query_path && !co.mountpoint) {
		fprintf(stderr, "dswfs: no mount point given (usage: dswfs [options] [SOURCE] "
				"MOUNTPOINT; see --help)\n");
		rc = 2;
		goto out_args;
	}
	if (o.log_file && (e = log_to_file(o.log_file)) != 0) {
		fprintf(stderr, "dswfs: log_file=%s: %s\n", o.log_file, strerror(-e));
		goto out_args;
	}
	if (co.mountpoint && (e = mountpoint_check(co.mountpoint, o.nonempty, msg,
						  sizeof(msg))) != 0) {
		fprintf(stderr, "dswfs: %s\n", msg);
		goto out_args;
	}
	/* Who reads the credentials: setuid=USER's, or, run as a user by mount.fuse3's own
	 * setuid= with root's HOME, that user's home. */
	if (o.setuid_user) {
		if (privs_become(o.setuid_user, &privs, msg, sizeof(msg)) != 0) {
			fprintf(stderr, "dswfs: %s\n", msg);
			goto out_args;
		}
		so.privs = &privs;
		/* --query mounts nothing: root is not needed again. */
		if (o.query_path && privs_drop(&privs) != 0) {
			fprintf(stderr, "dswfs: setuid=: cannot drop root: %s\n", strerror(errno));
			goto out_args;
		}
		if (secmem_protect_process(!o.allow_core_dumps) != 0) {
			fprintf(stderr, "dswfs: cannot set whether the process is dumpable\n");
			goto out_args;
		}
	} else if (privs_fix_home()) {
		log_msg(LOG_INFO, "HOME was not readable by this user: credentials are looked up "
			"in %s", getenv("HOME"));
	}

	memset(&copt, 0, sizeof(copt));
	copt.profile = o.profile;
	copt.ecs_role = o.ecs_role;
	copt.ecs_endpoint = o.ecs_endpoint;
	copt.sts_endpoint = o.sts_endpoint;
	if (creds_provider_new(&copt, &creds, msg, sizeof(msg)) != 0) {
		fprintf(stderr, "dswfs: no usable credentials: %s\n", msg);
		goto out_args;
	}
	endpoint = o.nregions ? NULL : opts_endpoint(&o, &e);
	if (!endpoint && !o.nregions) {
		fprintf(stderr, "dswfs: %s\n", e == -ENOENT
			? "no region: give -o region=ID (e.g. cn-hangzhou), a SOURCE such as "
			  "default@cn-hangzhou or -o endpoint=URL, or set ALIBABA_CLOUD_REGION_ID"
			: strerror(-e));
		goto out_creds;
	}
	if (!o.query_path) {
		/* The mount shows its source (findmnt, df -a) and type fuse.dswfs. */
		fsname = opts_fsname(&o, endpoint);
		if (!fsname || (!o.fsname_given && add_fuse_opt(&args, "fsname=", fsname)) ||
		    (!o.subtype_given && add_fuse_opt(&args, "subtype=", "dswfs"))) {
			fprintf(stderr, "dswfs: out of memory\n");
			goto out_endpoint;
		}
		/* fuse_session_new is where libfuse checks its options: before any request. */
		capture_begin(&cap);
		fuse = fuse_session_new(&args, fsops_operations(), sizeof(struct fuse_lowlevel_ops),
					&fc);
		capture_end(&cap, !fuse);
		if (!fuse) {
			rc = 2;
			goto out_endpoint;
		}
	}
	/* "page N of M" for a slow listing, when someone watches a terminal. */
	if ((o.query_path || co.foreground) && !o.log_file && isatty(STDERR_FILENO))
		progress = progress_new(STDERR_FILENO, 0.5, NULL);
	memset(&acfg, 0, sizeof(acfg));
	acfg.endpoint = endpoint;
	acfg.connect_timeout_ms = o.connect_timeout_ms;
	acfg.timeout_ms = o.timeout_ms;
	acfg.max_retries = o.retries;
	acfg.page_size = o.page_size;
	acfg.parallel_pages = o.parallel_pages;
	acfg.max_walk_bytes = (size_t)o.max_walk_mb << 20;
	acfg.ca_file = o.ca_file;
	acfg.progress = progress ? progress_pages : NULL;
	acfg.progress_ctx = progress;
	if (!o.nregions && api_client_new(&acfg, creds, &api, &err) != 0) {
		fprintf(stderr, "dswfs: %s\n", err.message);
		goto out_endpoint;
	}

	ctl = ctl_new();
	if (!ctl) {
		fprintf(stderr, "dswfs: out of memory\n");
		goto out_api;
	}
	memset(&tcfg, 0, sizeof(tcfg));
	tcfg.ctl = ctl;
	tcfg.workspace_id = o.workspace_id;
	tcfg.resource_id = o.resource_id;
	tcfg.ttl = o.ttl;
	tcfg.max_snapshots = o.max_snapshots;
	tcfg.max_bytes = o.cache_max_mb << 20;
	tcfg.show_secrets = o.show_secrets;
	tcfg.fetch = api_fetch;
	tcfg.fetch_ctx = api;
	tcfg.grace = o.grace;
	tcfg.max_stale = o.max_stale;
	tcfg.refresh_min_interval = o.refresh_min_interval;
	tcfg.wait_timeout = o.wait_timeout;
	/* With regions=, each region's tree names its own in event lines. */
	region = o.nregions ? NULL : region_of(&o, endpoint);
	tcfg.feed_region = region;
	tcfg.events_max_bytes = o.events_max_kb << 10;
	tcfg.watch = o.watch;
	/* The shared level sits between the mount's cache and the API (shared.h). */
	if (o.shared_cache && o.nregions) {
		fprintf(stderr, "dswfs: shared_cache= does not work with regions= yet; mount each "
			"region on its own to share its cache\n");
		goto out_api;
	}
	if (o.shared_cache) {
		if (shared_setup(&o, creds, endpoint, api_fetch, api, &shared, msg,
				 sizeof(msg)) != 0) {
			fprintf(stderr, "dswfs: %s\n", msg);
			goto out_api;
		}
		tcfg.fetch_aged = shared_fetch;
		tcfg.fetch_ctx = shared;
	}
	if (!o.query_path) {
		if (inode_table_new(&inodes) != 0) {
			fprintf(stderr, "dswfs: out of memory\n");
			goto out_api;
		}
		fc.inodes = inodes;
		fc.inval = fsops_inval_new(inodes);
		tcfg.invalidate = fc.inval ? fsops_invalidate : NULL;
		tcfg.invalidate_listing = fc.inval ? fsops_invalidate_listing : NULL;
		tcfg.invalidate_ctx = fc.inval;
	}
	if (o.nregions) {
		if (multi_start(&o, &acfg, creds, &tcfg, &multi, &endpoint) != 0)
			goto out_api;
		tree = multi_tree(multi);
	} else if (tree_new(&tcfg, &tree) != 0) {
		fprintf(stderr, "dswfs: out of memory\n");
		goto out_api;
	}
	if (o.query_path) {
		rc = run_query(tree, o.query_path);
		goto out_tree;
	}

	/* Fail now, with the reason, rather than mount something that fails on every access. */
	if (multi) {
		if (multi_check(multi, &o, ctl) != 0)
			goto out_tree;
	} else {
		struct sign_kv base[2] = { { "ResourceId", o.resource_id },
					   { "WorkspaceId", o.workspace_id } };

		if (api_probe(api, base, 2, &err) != 0) {
			err_format(&err, msg, sizeof(msg));
			fprintf(stderr, "dswfs: cannot list instances at %s: %s\n", endpoint, msg);
			goto out_tree;
		}
	}
	config = opts_describe(&o, endpoint, creds_source(creds));
	if (!config || ctl_set_config(ctl, config) != 0)
		log_msg(LOG_WARN, ".dswfs/config stays empty: out of memory");
	fc.tree = tree;
	fc.ttl = o.ttl;
	fc.prime = o.prime;
	so.log_file = o.log_file != NULL;
	so.protect = !o.allow_core_dumps;
	rc = mount_and_serve(fuse, &co, &fc, o.prefetch, api, multi, &so);
	fuse = NULL;
	/* fetches still running end now, not when the server answers */
	if (api)
		api_client_abort(api);
	multi_abort(multi);
out_tree:
	if (multi)
		multi_free(multi);	/* the tree is the union's */
	else
		tree_free(tree);
	fsops_inval_free(fc.inval);
out_api:
	shared_free(shared);
	inode_table_free(inodes);
	ctl_free(ctl);
	api_client_free(api);
out_endpoint:
	free(region);
	free(endpoint);
	free(fsname);
out_creds:
	creds_provider_free(creds);
out_args:
	progress_clear(progress);
	progress_free(progress);
	if (fuse)
		fuse_session_destroy(fuse);
	free(config);
	free(co.mountpoint);
	opts_free(&o);
	fuse_opt_free_args(&args);
	return rc;
}
