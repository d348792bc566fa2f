/* buf: a growable byte buffer with a hard size cap, for anything filled from the network. */
#ifndef DSWFS_BUF_H
#define DSWFS_BUF_H

#include <stddef.h>

/* The struct is visible so it can live on the stack; touch fields only through buf_*. */
struct buf {
	char *data;	/* always NUL-terminated when non-NULL (the NUL is not counted in len) */
	size_t len;
	size_t cap;
	size_t max;	/* len never exceeds this */
};

/* Starts an empty buffer that refuses to grow beyond max bytes. Allocates nothing. */
void buf_init(struct buf *b, size_t max);

/* Appends n bytes. Returns 0, -EFBIG when the cap would be exceeded (the buffer is left as it
 * was), or -ENOMEM. */
int buf_append(struct buf *b, const void *p, size_t n);

/* Appends a NUL-terminated string; same returns as buf_append. */
int buf_puts(struct buf *b, const char *s);

/* Appends printf-formatted text; same returns as buf_append. */
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Empties the buffer, keeping its memory and cap. */
void buf_reset(struct buf *b);

/* Hands the contents to the caller (who frees them with free()) and leaves b empty. Returns a
 * NUL-terminated string ("" freshly allocated when empty) or NULL on -ENOMEM; *len gets the
 * length when len is not NULL. */
char *buf_steal(struct buf *b, size_t *len);

/* Frees the contents; b may be reused after buf_init. */
void buf_free(struct buf *b);

#endif
