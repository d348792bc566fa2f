/* progress: draws and erases the "page N of M" line of slow listings on a terminal. */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"

struct progress {
	int fd;
	double delay;
	double (*now)(void);
	pthread_mutex_t lock;	/* guards the members below and the line on the terminal */
	double started;		/* when the first page of the listing shown arrived; <0 = none */
	bool shown;
};

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct progress *progress_new(int fd, double delay, double (*now)(void))
{
	struct progress *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->fd = fd;
	p->delay = delay;
	p->now = now ? now : mono_now;
	p->started = -1;
	pthread_mutex_init(&p->lock, NULL);
	return p;
}

/* One write() per update so a line is never torn; a failed write has nowhere to be reported. */
static void put(struct progress *p, const char *s, int n)
{
	if (n > 0 && write(p->fd, s, (size_t)n) < 0)
		return;
}

static void clear_locked(struct progress *p)
{
	static const char erase[] = "\r\033[K";

	if (p->shown)
		put(p, erase, (int)sizeof(erase) - 1);
	p->shown = false;
	p->started = -1;
}

void progress_pages(void *ctx, int pages_done, int pages_total)
{
	struct progress *p = ctx;
	char line[128];
	double t;

	pthread_mutex_lock(&p->lock);
	if (pages_done >= pages_total) {
		clear_locked(p);
		goto out;
	}
	t = p->now();
	if (p->started < 0 || pages_done <= 1)
		p->started = t;
	if (p->shown || t - p->started >= p->delay) {
		put(p, line, snprintf(line, sizeof(line),
				      "\rdswfs: listing instances: page %d of %d\033[K",
				      pages_done, pages_total));
		p->shown = true;
	}
out:
	pthread_mutex_unlock(&p->lock);
}

void progress_clear(struct progress *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	clear_locked(p);
	pthread_mutex_unlock(&p->lock);
}

void progress_free(struct progress *p)
{
	if (!p)
		return;
	pthread_mutex_destroy(&p->lock);
	free(p);
}
