/*
 * handoff - give items from a producer thread to a consumer thread that
 * is woken by a callback rather than a condition variable: the
 * websocket tier's lws service thread, whose wake is lws_cancel_service()
 * and which must never wait on a lock held for long.
 *
 * Items are the producers' own structs, linked through an embedded
 * struct handoff_link (handoff_entry() gets the struct back). A producer
 * builds a chain of any length without a lock (struct handoff_list), then
 * gives it with one handoff_put(): one short lock, and one wake per
 * burst. The wake is called only when the hand-off was empty, because
 * the consumer takes everything waiting with one handoff_take(): a
 * hand-off that is not empty already has a wake on its way.
 *
 * Ownership: items given to handoff_put() belong to the hand-off until
 * handoff_take() returns them; then the chain is the consumer's.
 *
 * handoff_thread_start() starts such a producer thread with every signal
 * blocked, so that signals reach the thread that installed the handlers.
 *
 * Layering: a base module. handoff.h and handoff.c include only libc and
 * pthread headers and never another header of this project.
 */
#ifndef CHAT_HANDOFF_H
#define CHAT_HANDOFF_H

#include <pthread.h>
#include <stddef.h>

struct handoff_link {
	struct handoff_link *next;
};

/* A FIFO chain that one thread builds, without a lock. */
struct handoff_list {
	struct handoff_link *head;
	struct handoff_link **tail;	/* &head, or &last->next */
};

static inline void handoff_list_init(struct handoff_list *l)
{
	l->head = NULL;
	l->tail = &l->head;
}

/* Append n (its next is overwritten). */
static inline void handoff_list_add(struct handoff_list *l, struct handoff_link *n)
{
	n->next = NULL;
	*l->tail = n;
	l->tail = &n->next;
}

/* The struct that holds link at offset off; NULL for NULL. */
static inline void *handoff_entry_at(struct handoff_link *link, size_t off)
{
	return link ? (char *)link - off : NULL;
}

/* The struct of type type whose member member is link (NULL for NULL). */
#define handoff_entry(link, type, member) \
	((type *)handoff_entry_at((link), offsetof(type, member)))

struct handoff {
	pthread_mutex_t mu;
	struct handoff_list items;	/* given, not taken yet */
	void (*wake)(void *arg);
	void *wake_arg;
};

/* An empty hand-off whose puts call wake(arg) (any thread). */
void handoff_init(struct handoff *h, void (*wake)(void *arg), void *arg);

/*
 * Free what handoff_init() made. Items still in it are not freed: take
 * them first.
 */
void handoff_release(struct handoff *h);

/*
 * Any thread: append l's chain (l is left empty) and call the wake when
 * the hand-off was empty. An empty l does nothing.
 */
void handoff_put(struct handoff *h, struct handoff_list *l);

/* The consumer: every item given so far, oldest first, or NULL. */
struct handoff_link *handoff_take(struct handoff *h);

/*
 * Start fn(arg) on a new thread with every signal blocked; what names
 * the thread in err ("cannot start the <what> thread: ..."). 0, or -1.
 */
int handoff_thread_start(pthread_t *t, void *(*fn)(void *), void *arg,
			 const char *what, char *err, size_t errlen);

#endif
