/* buf: a growable byte buffer with a hard size cap, for anything filled from the network. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

void buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

/* Makes room for need more bytes plus the terminating NUL. The cap is checked by the caller. */
static int buf_reserve(struct buf *b, size_t need)
{
	size_t want, ncap;
	char *p;

	if (need > SIZE_MAX - b->len - 1)
		return -ENOMEM;
	want = b->len + need + 1;
	if (b->data && want <= b->cap)
		return 0;
	ncap = b->cap ? b->cap : 64;
	while (ncap < want)
		ncap = ncap > SIZE_MAX / 2 ? want : ncap * 2;
	/* Never reserve far beyond what the cap allows: a 64 MiB cap should not make a 33 MiB
	 * body allocate 64 MiB + growth slack twice over. */
	if (b->max < SIZE_MAX && ncap > b->max + 1)
		ncap = want > b->max + 1 ? want : b->max + 1;
	p = realloc(b->data, ncap);
	if (!p)
		return -ENOMEM;
	if (!b->data)
		p[0] = '\0';
	b->data = p;
	b->cap = ncap;
	return 0;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
	int rc;

	if (n > b->max || b->len > b->max - n)
		return -EFBIG;
	if (n == 0)
		return 0;
	rc = buf_reserve(b, n);
	if (rc)
		return rc;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int buf_puts(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap, ap2;
	char small[256];
	int n, rc;

	va_start(ap, fmt);
	va_copy(ap2, ap);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		va_end(ap2);
		return -EINVAL;
	}
	if ((size_t)n > b->max || b->len > b->max - (size_t)n) {
		va_end(ap2);
		return -EFBIG;
	}
	if ((size_t)n < sizeof(small)) {
		va_end(ap2);
		return buf_append(b, small, (size_t)n);
	}
	rc = buf_reserve(b, (size_t)n);
	if (rc) {
		va_end(ap2);
		return rc;
	}
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
	va_end(ap2);
	b->len += (size_t)n;
	return 0;
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

char *buf_steal(struct buf *b, size_t *len)
{
	char *p = b->data;
	size_t n = b->len;

	if (!p) {
		p = strdup("");
		if (!p)
			return NULL;
		n = 0;
	}
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	if (len)
		*len = n;
	return p;
}

void buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}
