/* cancel: a one-shot cancellation token. Any thread may fire it (in the mount: the kernel
 * interrupting a request because its caller got a signal); a waiter that registered a wake-up
 * hears of it at once. No FUSE here. */
#ifndef DSWFS_CANCEL_H
#define DSWFS_CANCEL_H

#include <stdbool.h>

struct cancel;

/* A new token that has not fired (free with cancel_free), or NULL when memory runs out. */
struct cancel *cancel_new(void);

/* Frees k once nothing can fire or watch it any more. NULL is fine. */
void cancel_free(struct cancel *k);

/* Fires k: cancel_fired is true from now on, and the wake-up registered with cancel_watch, if
 * any, is called in this thread with k's lock held (so it must not call cancel_* on k). Only the
 * first call does anything. The caller must not hold a lock the wake-up takes. */
void cancel_fire(struct cancel *k);

/* Whether k has fired; lock-free, so a waiter may ask under its own lock. NULL never fires. */
bool cancel_fired(const struct cancel *k);

/* Registers wake(arg), replacing an earlier one; wake NULL unregisters. Once this returns, no
 * call of an earlier wake-up is running or will start, so its arg may go away. Registering on a
 * token that has already fired calls nothing: a waiter registers first and then asks
 * cancel_fired under the lock its wake-up takes, before each wait; fired after that check, the
 * wake-up can only get that lock once the waiter sleeps, so nothing is missed. The caller must
 * not hold a lock the wake-up takes. NULL k does nothing. */
void cancel_watch(struct cancel *k, void (*wake)(void *arg), void *arg);

#endif
