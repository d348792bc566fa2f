/* log: one-line diagnostics to stderr, a log file or syslog; never given a secret. */
#ifndef DSWFS_LOG_H
#define DSWFS_LOG_H

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

/* Sets the most verbose level written (default LOG_WARN), whatever the destination.
 * Thread-safe. */
void log_set_level(enum log_level lvl);

/* Writes "dswfs: <level>: <message>\n" when lvl is enabled: to stderr (the default), to the
 * file of log_to_file with a UTC timestamp in front, or to syslog as "<level>: <message>".
 * Thread-safe; a line is written with one write()/send() so lines from threads never
 * interleave. */
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* From now on lines go to path, opened for appending (created 0600). Returns 0 or -errno (the
 * destination is then unchanged). Open it before daemonizing: a relative path is resolved
 * against the current directory. */
int log_to_file(const char *path);

/* From now on lines go to syslog, facility daemon, tagged tag[pid], through the datagram
 * socket at sock_path (NULL = /dev/log, where journald and syslog daemons listen); lines are
 * dropped while nobody listens there (connecting is retried with each line). tag is copied. */
void log_to_syslog(const char *tag, const char *sock_path);

#endif
