/* log: one-line diagnostics to stderr (and the FUSE daemon's log); never given a secret. */
#ifndef DSWFS_LOG_H
#define DSWFS_LOG_H

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

/* Sets the most verbose level printed (default LOG_WARN). Thread-safe. */
void log_set_level(enum log_level lvl);

/* Prints "dswfs: <level>: <message>\n" to stderr when lvl is enabled. Thread-safe; a line is
 * written with one write() so lines from threads never interleave. */
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
