/* evlog: the bounded event log behind .dswfs/events and every .events: offsets stay stable
 * while old lines are dropped, and a reader that fell behind is told so in one line. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evlog.h"

struct evlog {
	pthread_mutex_t lock;
	size_t max_bytes;
	/* Kept bytes: data[head, len) holds the log's bytes [start, end). */
	char *data;
	size_t head, len, cap;
	uint64_t start, end;
	/* Start offsets of the kept lines: lines[lhead, nlines). */
	uint64_t *lines;
	size_t lhead, nlines, lcap;
	uint64_t appended, dropped;
	/* Start offsets of the last dropped lines, a ring of EVLOG_DROP_INDEX (allocated at the
	 * first drop): drops[(dhead + k) % EVLOG_DROP_INDEX] for k < dcount, oldest first. */
	uint64_t *drops;
	size_t dhead, dcount;
};

int evlog_new(size_t max_bytes, struct evlog **out)
{
	struct evlog *l;

	if (max_bytes == 0)
		return -EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->max_bytes = max_bytes;
	pthread_mutex_init(&l->lock, NULL);
	*out = l;
	return 0;
}

void evlog_free(struct evlog *l)
{
	if (!l)
		return;
	pthread_mutex_destroy(&l->lock);
	free(l->data);
	free(l->lines);
	free(l->drops);
	free(l);
}

/* Room for n more bytes and one more line start, compacting before growing. */
static int reserve(struct evlog *l, size_t n)
{
	if (l->head && l->len + n > l->cap) {
		memmove(l->data, l->data + l->head, l->len - l->head);
		l->len -= l->head;
		l->head = 0;
	}
	if (l->len + n > l->cap) {
		size_t cap = l->cap ? l->cap : 4096;
		char *d;

		while (cap < l->len + n)
			cap *= 2;
		d = realloc(l->data, cap);
		if (!d)
			return -ENOMEM;
		l->data = d;
		l->cap = cap;
	}
	if (l->lhead && l->nlines == l->lcap) {
		memmove(l->lines, l->lines + l->lhead, (l->nlines - l->lhead) * sizeof(*l->lines));
		l->nlines -= l->lhead;
		l->lhead = 0;
	}
	if (l->nlines == l->lcap) {
		size_t cap = l->lcap ? l->lcap * 2 : 64;
		uint64_t *p = realloc(l->lines, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		l->lines = p;
		l->lcap = cap;
	}
	return 0;
}

/* Drops the oldest kept line, remembering where it began. */
static void drop_oldest(struct evlog *l)
{
	uint64_t s = l->lines[l->lhead++];
	uint64_t next = l->lhead < l->nlines ? l->lines[l->lhead] : l->end;

	if (!l->drops)
		l->drops = malloc(EVLOG_DROP_INDEX * sizeof(*l->drops));
	if (l->drops) {
		if (l->dcount == EVLOG_DROP_INDEX) {
			l->dhead = (l->dhead + 1) % EVLOG_DROP_INDEX;
			l->dcount--;
		}
		l->drops[(l->dhead + l->dcount) % EVLOG_DROP_INDEX] = s;
		l->dcount++;
	}
	l->head += (size_t)(next - l->start);
	l->start = next;
	l->dropped++;
}

int evlog_append(struct evlog *l, const char *line, size_t len)
{
	size_t total = len + 1 < EVLOG_MIN_LINE ? EVLOG_MIN_LINE : len + 1;
	int rc;

	if (len == 0 || memchr(line, '\n', len))
		return -EINVAL;
	pthread_mutex_lock(&l->lock);
	rc = reserve(l, total);
	if (rc)
		goto out;
	memcpy(l->data + l->len, line, len);
	memset(l->data + l->len + len, ' ', total - len - 1);
	l->data[l->len + total - 1] = '\n';
	l->len += total;
	l->lines[l->nlines++] = l->end;
	l->end += total;
	l->appended++;
	while (l->nlines - l->lhead > 1 && l->end - l->start > l->max_bytes)
		drop_oldest(l);
out:
	pthread_mutex_unlock(&l->lock);
	return rc;
}

/* One counter read under the lock (appends may run in other threads). */
static uint64_t locked(struct evlog *l, const uint64_t *field)
{
	uint64_t v;

	pthread_mutex_lock(&l->lock);
	v = *field;
	pthread_mutex_unlock(&l->lock);
	return v;
}

uint64_t evlog_size(struct evlog *l) { return locked(l, &l->end); }
uint64_t evlog_start(struct evlog *l) { return locked(l, &l->start); }
uint64_t evlog_lines(struct evlog *l) { return locked(l, &l->appended); }
uint64_t evlog_dropped(struct evlog *l) { return locked(l, &l->dropped); }

/* Dropped lines that began at or after off (see evlog_read). Lock held. */
static uint64_t missed(const struct evlog *l, uint64_t off)
{
	size_t lo = 0, hi = l->dcount;

	if (!l->dcount || off <= l->drops[l->dhead])
		return l->dropped;
	/* the first remembered drop at or after off */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (l->drops[(l->dhead + mid) % EVLOG_DROP_INDEX] < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return l->dcount - lo;
}

size_t evlog_read(struct evlog *l, uint64_t off, char *buf, size_t size)
{
	size_t n = 0;

	pthread_mutex_lock(&l->lock);
	if (off >= l->end)
		goto out;
	if (size > l->end - off)
		size = (size_t)(l->end - off);
	if (off < l->start) {
		char text[EVLOG_MIN_LINE];
		int tl = snprintf(text, sizeof(text), "{\"kind\":\"overflow\",\"dropped\":%llu}\n",
				  (unsigned long long)missed(l, off));
		uint64_t tpos = l->start - (uint64_t)tl;	/* where the line begins */
		size_t gap = (size_t)(l->start - off < size ? l->start - off : size);

		for (size_t k = 0; k < gap; k++) {
			uint64_t at = off + k;

			buf[k] = at >= tpos ? text[at - tpos] : ' ';
		}
		n = gap;
		off += gap;
	}
	if (n < size) {
		memcpy(buf + n, l->data + l->head + (size_t)(off - l->start), size - n);
		n = size;
	}
out:
	pthread_mutex_unlock(&l->lock);
	return n;
}
