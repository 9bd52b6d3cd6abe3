#include "handoff.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

void handoff_init(struct handoff *h, void (*wake)(void *arg), void *arg)
{
	pthread_mutex_init(&h->mu, NULL);
	handoff_list_init(&h->items);
	h->wake = wake;
	h->wake_arg = arg;
}

void handoff_release(struct handoff *h)
{
	pthread_mutex_destroy(&h->mu);
	handoff_list_init(&h->items);
}

void handoff_put(struct handoff *h, struct handoff_list *l)
{
	int was_empty;

	if (!l->head)
		return;
	pthread_mutex_lock(&h->mu);
	was_empty = !h->items.head;
	*h->items.tail = l->head;
	h->items.tail = l->tail;
	pthread_mutex_unlock(&h->mu);
	handoff_list_init(l);
	/* one wake per burst: the consumer takes everything at once */
	if (was_empty && h->wake)
		h->wake(h->wake_arg);
}

struct handoff_link *handoff_take(struct handoff *h)
{
	struct handoff_link *head;

	pthread_mutex_lock(&h->mu);
	head = h->items.head;
	handoff_list_init(&h->items);
	pthread_mutex_unlock(&h->mu);
	return head;
}

int handoff_thread_start(pthread_t *t, void *(*fn)(void *), void *arg,
			 const char *what, char *err, size_t errlen)
{
	sigset_t all, old;
	int rc;

	/* the new thread inherits the mask: signals are the caller's business */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(t, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		snprintf(err, errlen, "cannot start the %s thread: %s", what, strerror(rc));
		return -1;
	}
	return 0;
}
