/* evlog: an append-only log of lines with stable byte offsets and bounded retention, read the way
 * a growing file is (each reader keeps its own offset). No FUSE, no clock. */
#ifndef DSWFS_EVLOG_H
#define DSWFS_EVLOG_H

#include <stddef.h>
#include <stdint.h>

/* Every line is at least this long (shorter ones are padded with blanks before their newline),
 * so the overflow line always fits in the bytes of one dropped line. */
#define EVLOG_MIN_LINE 64

/* How many dropped lines' offsets are remembered to count what a late reader missed. */
#define EVLOG_DROP_INDEX 16384

/* Thread-safe; a reader never waits for a writer longer than one memcpy. */
struct evlog;

/* A log keeping at most max_bytes of its newest lines (the newest line is always kept, even when
 * longer). Returns 0 and *out (free with evlog_free), -EINVAL for max_bytes 0, -ENOMEM. */
int evlog_new(size_t max_bytes, struct evlog **out);
void evlog_free(struct evlog *l);

/* Appends line (len bytes, no newline in it) and a newline, then drops the oldest lines while
 * more than max_bytes are kept. Offsets of kept lines never change. Returns 0, -EINVAL (empty
 * line or a newline inside), -ENOMEM (nothing appended). */
int evlog_append(struct evlog *l, const char *line, size_t len);

/* The offset just past the last line: the size a reader sees. */
uint64_t evlog_size(struct evlog *l);

/* Offset of the oldest kept line; lines before it were dropped. */
uint64_t evlog_start(struct evlog *l);

/* Lines appended / dropped since the log began. */
uint64_t evlog_lines(struct evlog *l);
uint64_t evlog_dropped(struct evlog *l);

/* Copies the bytes at [off, off + size) (cut at evlog_size) into buf; returns the count.
 * Kept bytes are what was appended. Bytes that were dropped read as blanks, except that the
 * dropped range ends in one line {"kind":"overflow","dropped":N} (N: the dropped lines that
 * began at or after off; when off is older than the EVLOG_DROP_INDEX last dropped lines, every
 * line dropped before those is counted too, which is exact for off 0). So a reader whose
 * offset fell out of the window sees a single overflow line, then the kept lines. */
size_t evlog_read(struct evlog *l, uint64_t off, char *buf, size_t size);

#endif
