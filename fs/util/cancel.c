/* cancel: one-shot cancellation tokens that wake a registered waiter when fired. */
#include <pthread.h>
#include <stdlib.h>

#include "cancel.h"

struct cancel {
	/* Serialises fire against watch, so an unregistered wake-up is never running. */
	pthread_mutex_t lock;
	int fired;		/* atomic: read without the lock */
	void (*wake)(void *arg);
	void *arg;
};

struct cancel *cancel_new(void)
{
	struct cancel *k = calloc(1, sizeof(*k));

	if (!k)
		return NULL;
	if (pthread_mutex_init(&k->lock, NULL)) {
		free(k);
		return NULL;
	}
	return k;
}

void cancel_free(struct cancel *k)
{
	if (!k)
		return;
	pthread_mutex_destroy(&k->lock);
	free(k);
}

void cancel_fire(struct cancel *k)
{
	if (!k)
		return;
	pthread_mutex_lock(&k->lock);
	/* Set before the wake-up runs: the woken waiter must see it. */
	if (!__atomic_exchange_n(&k->fired, 1, __ATOMIC_ACQ_REL) && k->wake)
		k->wake(k->arg);
	pthread_mutex_unlock(&k->lock);
}

bool cancel_fired(const struct cancel *k)
{
	return k && __atomic_load_n(&k->fired, __ATOMIC_ACQUIRE);
}

void cancel_watch(struct cancel *k, void (*wake)(void *arg), void *arg)
{
	if (!k)
		return;
	pthread_mutex_lock(&k->lock);
	k->wake = wake;
	k->arg = wake ? arg : NULL;
	pthread_mutex_unlock(&k->lock);
}
