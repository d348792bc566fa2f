/* ctl: the mount's own state under .dswfs/ (stats, last_error, config, version, refresh). */
#ifndef DSWFS_CTL_H
#define DSWFS_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* One mount's state behind .dswfs/ (the last error, the config text). Thread-safe. */
struct ctl;

/* Returns a new, empty state (free with ctl_free), or NULL on ENOMEM. */
struct ctl *ctl_new(void);

/* NULL is fine. */
void ctl_free(struct ctl *c);

/* The files, in listing order. */
enum ctl_file { CTL_CONFIG, CTL_LAST_ERROR, CTL_REFRESH, CTL_STATS, CTL_VERSION, CTL__COUNT };

/* The file called name, or -ENOENT. */
int ctl_lookup(const char *name);

const char *ctl_name(enum ctl_file f);

/* Whether the file accepts writes (only refresh). */
bool ctl_writable(enum ctl_file f);

/* Remembers the most recent failure for last_error, and logs it. Thread-safe. */
void ctl_record_error(struct ctl *c, const struct err_info *e);

/* Failures recorded (ctl_record_error with err != 0) are counted by their API Code ("" when
 * there was none), for .dswfs/metrics; at most CTL_MAX_CODES distinct codes, the rest counted
 * as CTL_OTHER_CODE. */
#define CTL_MAX_CODES 32
#define CTL_OTHER_CODE "(other)"

/* Copies up to max (code, count) pairs into codes and counts; returns how many. Thread-safe. */
size_t ctl_error_codes(struct ctl *c, char (*codes)[96], uint64_t *counts, size_t max);

/* Sets the text of .dswfs/config (copied; NULL empties it). Thread-safe. Returns 0 or
 * -ENOMEM (the old text is kept then). */
int ctl_set_config(struct ctl *c, const char *text);

/* The current content of a file. Caller frees; NULL on ENOMEM. extra is appended to stats
 * (e.g. cache figures computed by the caller), may be NULL. */
char *ctl_render(struct ctl *c, enum ctl_file f, const char *extra, size_t *len);

#endif
