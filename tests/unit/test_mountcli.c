/* test_mountcli: mount SOURCE grammar, generic mount options, fsname, the mountinfo lookup, the
 * progress line and syslog lines. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "mountpoint.h"
#include "opts.h"
#include "progress.h"
#include "tf.h"

static void src_ok(const char *src, const char *profile, const char *region,
		   const char *endpoint)
{
	char *p, *r, *e, why[256] = "";
	int rc = opts_source_parse(src, &p, &r, &e, why, sizeof(why));

	if (rc != 0) {
		tf_fail(__FILE__, __LINE__, "source '%s' refused: %s", src, why);
		return;
	}
	if ((profile == NULL) != (p == NULL) || (profile && strcmp(profile, p)) ||
	    (region == NULL) != (r == NULL) || (region && strcmp(region, r)) ||
	    (endpoint == NULL) != (e == NULL) || (endpoint && strcmp(endpoint, e)))
		tf_fail(__FILE__, __LINE__, "source '%s' -> %s %s %s", src, p ? p : "-",
			r ? r : "-", e ? e : "-");
	free(p);
	free(r);
	free(e);
}

TEST(sources_split_into_profile_region_endpoint)
{
	src_ok("dswfs", NULL, NULL, NULL);
	src_ok("", NULL, NULL, NULL);
	src_ok("cn-shanghai", NULL, "cn-shanghai", NULL);
	src_ok("default@cn-shanghai", "default", "cn-shanghai", NULL);
	src_ok("work@", "work", NULL, NULL);
	src_ok("https://pai-dsw.cn-beijing.aliyuncs.com", NULL, NULL,
	       "https://pai-dsw.cn-beijing.aliyuncs.com");
	src_ok("Prod_1.x@http://127.0.0.1:8080", "Prod_1.x", NULL, "http://127.0.0.1:8080");
	/* An '@' after the scheme belongs to the URL. */
	src_ok("http://u@127.0.0.1:1", NULL, NULL, "http://u@127.0.0.1:1");
}

TEST(bad_sources_are_refused_with_the_grammar)
{
	static const char *const bad[] = {
		"@cn-shanghai", "a b@cn-shanghai", "default@CN-SHANGHAI", "cn_shanghai",
		"default@ftp://x", "p@q@cn-shanghai", "/mnt/dsw", "x:y",
		"default@cn-shanghai/extra",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@cn-shanghai",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *p = (char *)1, *r = (char *)1, *e = (char *)1, why[256] = "";
		int rc = opts_source_parse(bad[i], &p, &r, &e, why, sizeof(why));

		if (rc != -EINVAL || p || r || e || !strstr(why, "[PROFILE@]REGION"))
			tf_fail(__FILE__, __LINE__, "source '%s' accepted (%d) or left parts", bad[i],
				rc);
	}
}

TEST(generic_mount_options_are_recognised)
{
	static const char *const generic[] = {
		"relatime", "noatime_not", "_netdev", "nofail", "noauto", "auto", "user", "users",
		"defaults", "x-systemd.automount", "x-systemd.requires=network-online.target",
		"comment=systemd.automount", "nodiratime", "lazytime",
	};

	for (size_t i = 0; i < sizeof(generic) / sizeof(generic[0]); i++) {
		bool want = strcmp(generic[i], "noatime_not") != 0;

		if (opts_generic_mount_option(generic[i]) != want)
			tf_fail(__FILE__, __LINE__, "%s", generic[i]);
	}
	/* dswfs's and libfuse's own options are not swallowed. */
	CHECK(!opts_generic_mount_option("ttl=60"));
	CHECK(!opts_generic_mount_option("allow_other"));
	CHECK(!opts_generic_mount_option("rw"));
	CHECK(!opts_generic_mount_option("nosuid"));
	CHECK(!opts_generic_mount_option("xattr"));
}

TEST(fsname_is_a_source_that_mounts_the_same)
{
	struct opts o;
	char *s;

	memset(&o, 0, sizeof(o));
	s = opts_fsname(&o, "https://pai-dsw.cn-shanghai.aliyuncs.com");
	CHECK_EQ_STR(s, "cn-shanghai");
	free(s);
	o.profile = (char *)"default";
	s = opts_fsname(&o, "https://pai-dsw.cn-shanghai.aliyuncs.com");
	CHECK_EQ_STR(s, "default@cn-shanghai");
	free(s);
	/* An endpoint given explicitly stays one, even the region's usual one. */
	o.endpoint = (char *)"https://pai-dsw.cn-shanghai.aliyuncs.com";
	s = opts_fsname(&o, o.endpoint);
	CHECK_EQ_STR(s, "default@https://pai-dsw.cn-shanghai.aliyuncs.com");
	free(s);
	o.profile = NULL;
	o.endpoint = (char *)"http://127.0.0.1:8080";
	s = opts_fsname(&o, o.endpoint);
	CHECK_EQ_STR(s, "http://127.0.0.1:8080");
	free(s);
}

static const char mountinfo[] =
	"22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
	"30 22 0:40 / /mnt rw - tmpfs tmpfs rw\n"
	"31 30 0:41 / /mnt/dsw rw,relatime shared:5 - autofs systemd-1 rw,fd=5\n"
	"32 31 0:42 / /mnt/dsw rw,nosuid,nodev - fuse.dswfs default@cn-shanghai rw,user_id=0\n"
	"33 22 0:43 / /home/a\\040b rw - fuse.dswfs http://127.0.0.1:1 rw\n"
	"garbage line\n"
	"34 22 0:44 / /mnt/dswx rw - autofs systemd-1 rw";

TEST(mountinfo_lookup_finds_the_mount_holding_a_path)
{
	struct mountpoint_entry e;
	size_t n = strlen(mountinfo);

	CHECK_EQ_INT(mountpoint_find(mountinfo, n, "/mnt/dsw", &e), 0);
	CHECK_EQ_STR(e.fstype, "fuse.dswfs");	/* the last of the stacked ones */
	CHECK_EQ_STR(e.source, "default@cn-shanghai");
	CHECK_EQ_INT(e.id, 32);
	CHECK_EQ_INT(mountpoint_find(mountinfo, n, "/mnt/dsw/instances/x", &e), 0);
	CHECK_EQ_STR(e.dir, "/mnt/dsw");
	CHECK_EQ_INT(mountpoint_find(mountinfo, n, "/mnt/dswx", &e), 0);
	CHECK_EQ_STR(e.fstype, "autofs");
	CHECK_EQ_INT(mountpoint_find(mountinfo, n, "/mnt/ds", &e), 0);
	CHECK_EQ_STR(e.dir, "/mnt");
	CHECK_EQ_INT(mountpoint_find(mountinfo, n, "/home/a b/c", &e), 0);
	CHECK_EQ_STR(e.dir, "/home/a b");
	CHECK_EQ_INT(mountpoint_find(mountinfo, n, "/home/a", &e), 0);
	CHECK_EQ_STR(e.dir, "/");
	CHECK_EQ_INT(mountpoint_find("", 0, "/x", &e), -ENOENT);
}

static double fake_now;

static double fake_clock(void)
{
	return fake_now;
}

/* What progress wrote to the pipe so far. */
static void drain(int fd, char *buf, size_t cap)
{
	ssize_t n = read(fd, buf, cap - 1);

	buf[n > 0 ? n : 0] = 0;
}

TEST(progress_shows_slow_listings_only_and_erases_its_line)
{
	char buf[512];
	int pfd[2];
	struct progress *p;

	CHECK(pipe2(pfd, O_NONBLOCK) == 0);
	p = progress_new(pfd[1], 0.5, fake_clock);
	fake_now = 100;
	progress_pages(p, 1, 3);
	fake_now = 100.2;
	progress_pages(p, 2, 3);
	progress_pages(p, 3, 3);	/* fast: nothing at all */
	drain(pfd[0], buf, sizeof(buf));
	CHECK_EQ_STR(buf, "");
	fake_now = 200;
	progress_pages(p, 1, 4);
	fake_now = 200.6;
	progress_pages(p, 2, 4);
	progress_pages(p, 3, 4);
	drain(pfd[0], buf, sizeof(buf));
	CHECK_EQ_STR(buf, "\rdswfs: listing instances: page 2 of 4\033[K"
			  "\rdswfs: listing instances: page 3 of 4\033[K");
	progress_pages(p, 4, 4);
	drain(pfd[0], buf, sizeof(buf));
	CHECK_EQ_STR(buf, "\r\033[K");
	progress_clear(p);	/* nothing shown: nothing to erase */
	drain(pfd[0], buf, sizeof(buf));
	CHECK_EQ_STR(buf, "");
	progress_free(p);
	close(pfd[0]);
	close(pfd[1]);
}

TEST(syslog_lines_are_tagged_datagrams_with_a_severity)
{
	char dir[] = "/tmp/dswfs-test-log-XXXXXX", path[64], buf[1200];
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int s;
	ssize_t n;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/log", dir);
	/* Nobody listening yet: the line is dropped, nothing fails. */
	log_to_syslog("dswfs", path);
	log_msg(LOG_ERROR, "lost");
	s = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	CHECK(bind(s, (struct sockaddr *)&a, sizeof(a)) == 0);
	log_set_level(LOG_INFO);
	log_msg(LOG_WARN, "cannot list %s", "x");
	log_msg(LOG_DEBUG, "not at this level");
	log_msg(LOG_INFO, "mounted");
	n = recv(s, buf, sizeof(buf) - 1, 0);
	CHECK(n > 0);
	buf[n > 0 ? n : 0] = 0;
	/* <28> = facility daemon (3) * 8 + warning (4) */
	CHECK(strncmp(buf, "<28>", 4) == 0);
	CHECK(strstr(buf, " dswfs[") != NULL);
	CHECK(strstr(buf, "]: warning: cannot list x") != NULL);
	n = recv(s, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = 0;
	CHECK(strncmp(buf, "<30>", 4) == 0 && strstr(buf, "info: mounted"));
	CHECK(recv(s, buf, sizeof(buf), 0) < 0);
	close(s);
	unlink(path);
	rmdir(dir);
	log_set_level(LOG_WARN);
}
