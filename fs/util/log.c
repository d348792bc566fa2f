/* log: one-line diagnostics to stderr, a file or syslog, one write per line so threads never
 * interleave. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* The process has one log: its level and destination are set by main before threads start
 * and changed at most at daemonizing; the lock covers the syslog socket's reconnects. */
enum sink { SINK_STDERR, SINK_FILE, SINK_SYSLOG };

static volatile int max_level = LOG_WARN;
static struct {
	pthread_mutex_t lock;
	enum sink sink;
	int fd;			/* the file, or the syslog socket (-1 until connected) */
	char tag[32];
	struct sockaddr_un addr;
} out = { .lock = PTHREAD_MUTEX_INITIALIZER, .sink = SINK_STDERR, .fd = -1 };

void log_set_level(enum log_level lvl)
{
	__atomic_store_n(&max_level, (int)lvl, __ATOMIC_RELAXED);
}

int log_to_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);

	if (fd < 0)
		return -errno;
	pthread_mutex_lock(&out.lock);
	if (out.fd >= 0)
		close(out.fd);
	out.fd = fd;
	out.sink = SINK_FILE;
	pthread_mutex_unlock(&out.lock);
	return 0;
}

void log_to_syslog(const char *tag, const char *sock_path)
{
	pthread_mutex_lock(&out.lock);
	if (out.fd >= 0)
		close(out.fd);
	out.fd = -1;
	snprintf(out.tag, sizeof(out.tag), "%s", tag);
	memset(&out.addr, 0, sizeof(out.addr));
	out.addr.sun_family = AF_UNIX;
	snprintf(out.addr.sun_path, sizeof(out.addr.sun_path), "%s",
		 sock_path ? sock_path : "/dev/log");
	out.sink = SINK_SYSLOG;
	pthread_mutex_unlock(&out.lock);
}

/* Sends one datagram to syslog, (re)connecting when the socket is missing or its listener
 * went away (a restarted journald): at most one new connection per line. */
static void syslog_send_locked(const char *msg, size_t len)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		if (out.fd < 0) {
			out.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
			if (out.fd < 0)
				return;
			if (connect(out.fd, (struct sockaddr *)&out.addr, sizeof(out.addr)) != 0) {
				close(out.fd);
				out.fd = -1;
				return;
			}
		}
		if (send(out.fd, msg, len, MSG_NOSIGNAL) >= 0)
			return;
		close(out.fd);
		out.fd = -1;
	}
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	/* syslog severities: err, warning, info, debug; facility daemon (3). */
	static const int sev[] = { 3, 4, 6, 7 };
	char line[1100];
	size_t cap = 1024;	/* of the message; the prefix has room besides */
	char msg[1024];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n, m;

	if ((int)lvl > __atomic_load_n(&max_level, __ATOMIC_RELAXED))
		return;
	va_start(ap, fmt);
	m = vsnprintf(msg, cap, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	if ((size_t)m >= cap)
		m = (int)cap - 1;
	pthread_mutex_lock(&out.lock);
	switch (out.sink) {
	case SINK_SYSLOG:
		/* RFC 3164 as glibc's syslog() sends it; journald and rsyslog both parse it. */
		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		n = snprintf(line, sizeof(line), "<%d>", 3 * 8 + sev[lvl]);
		n += (int)strftime(line + n, sizeof(line) - (size_t)n, "%b %e %H:%M:%S ", &tm);
		n += snprintf(line + n, sizeof(line) - (size_t)n, "%s[%d]: %s: %.*s", out.tag,
			      (int)getpid(), names[lvl], m, msg);
		if (n > (int)sizeof(line) - 1)
			n = (int)sizeof(line) - 1;
		syslog_send_locked(line, (size_t)n);
		break;
	case SINK_FILE:
	case SINK_STDERR:
		n = 0;
		if (out.sink == SINK_FILE) {
			clock_gettime(CLOCK_REALTIME, &ts);
			gmtime_r(&ts.tv_sec, &tm);
			n = (int)strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%SZ ", &tm);
		}
		n += snprintf(line + n, sizeof(line) - (size_t)n, "dswfs: %s: %.*s", names[lvl], m,
			      msg);
		if (n > (int)sizeof(line) - 2)
			n = (int)sizeof(line) - 2;
		line[n++] = '\n';
		/* A failed diagnostic write has nowhere better to be reported. */
		if (write(out.sink == SINK_FILE ? out.fd : STDERR_FILENO, line, (size_t)n) < 0)
			break;
		break;
	}
	pthread_mutex_unlock(&out.lock);
}
