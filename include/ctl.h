/* ctl: the mount's own state under .dswfs/ (stats, last_error, config, version, refresh). */
#ifndef DSWFS_CTL_H
#define DSWFS_CTL_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/* The files, in listing order. */
enum ctl_file { CTL_CONFIG, CTL_LAST_ERROR, CTL_REFRESH, CTL_STATS, CTL_VERSION, CTL__COUNT };

/* The file called name, or -ENOENT. */
int ctl_lookup(const char *name);

const char *ctl_name(enum ctl_file f);

/* Whether the file accepts writes (only refresh). */
bool ctl_writable(enum ctl_file f);

/* Remembers the most recent failure for last_error, and logs it. Thread-safe. */
void ctl_record_error(const struct err_info *e);

/* Forgets the last error (after a successful refresh of everything, or in tests). */
void ctl_clear_error(void);

/* Sets the text of .dswfs/config (copied). Thread-safe. */
void ctl_set_config(const char *text);

/* The current content of a file. Caller frees; NULL on ENOMEM. extra is appended to stats
 * (e.g. cache figures computed by the caller), may be NULL. */
char *ctl_render(enum ctl_file f, const char *extra, size_t *len);

#endif
