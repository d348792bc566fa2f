/* progress: a one-line "page N of M" display of slow listings on a terminal (--query, -f). */
#ifndef DSWFS_PROGRESS_H
#define DSWFS_PROGRESS_H

struct progress;

/* A display writing to fd (the caller decides it is a terminal). A listing shows up only once
 * delay seconds passed since its first page arrived, so fast listings print nothing; now is the
 * clock in seconds (NULL = CLOCK_MONOTONIC; tests inject one). Returns NULL on ENOMEM. */
struct progress *progress_new(int fd, double delay, double (*now)(void));

/* api_config.progress: pages_done of pages_total arrived (ctx is the struct progress). Draws
 * "\rdswfs: listing instances: page N of M" and erases it when done reaches total. One line
 * for all listings at once: the latest update wins. Thread-safe. */
void progress_pages(void *ctx, int pages_done, int pages_total);

/* Erases the line if one is shown (before other output, or at exit). NULL is a no-op. */
void progress_clear(struct progress *p);

void progress_free(struct progress *p);

#endif
