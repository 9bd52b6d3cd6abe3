/* handoff: chains given by producer threads, taken whole, one wake a burst. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "handoff.h"

struct item {
	int payload;			/* the link need not come first */
	struct handoff_link link;
};

static int wakes;

static void count_wake(void *arg)
{
	__atomic_fetch_add((int *)arg, 1, __ATOMIC_RELAXED);
}

static struct item *next_item(struct item *it)
{
	return handoff_entry(it->link.next, struct item, link);
}

/* Give items first..last (one chain) to h. */
static void put_range(struct handoff *h, struct item *items, int first, int last)
{
	struct handoff_list l;

	handoff_list_init(&l);
	for (int i = first; i <= last; i++)
		handoff_list_add(&l, &items[i].link);
	handoff_put(h, &l);
	assert_null(l.head);		/* given: the list is left empty */
}

static void test_order_and_wakes(void **state)
{
	struct item items[6];
	struct handoff h;
	struct handoff_list empty;
	struct item *it;
	int n = 0;

	(void)state;
	for (int i = 0; i < 6; i++)
		items[i].payload = i;
	wakes = 0;
	handoff_init(&h, count_wake, &wakes);
	assert_null(handoff_take(&h));
	handoff_list_init(&empty);
	handoff_put(&h, &empty);
	assert_int_equal(wakes, 0);	/* nothing given, nobody woken */
	put_range(&h, items, 0, 1);
	assert_int_equal(wakes, 1);
	put_range(&h, items, 2, 4);	/* a wake is already on its way */
	assert_int_equal(wakes, 1);
	for (it = handoff_entry(handoff_take(&h), struct item, link); it; it = next_item(it))
		assert_int_equal(it->payload, n++);
	assert_int_equal(n, 5);
	assert_null(handoff_take(&h));
	put_range(&h, items, 5, 5);	/* empty again: wake */
	assert_int_equal(wakes, 2);
	it = handoff_entry(handoff_take(&h), struct item, link);
	assert_int_equal(it->payload, 5);
	assert_null(next_item(it));
	handoff_release(&h);
}

#define PRODUCERS 4
#define PER_PRODUCER 20000

struct producer {
	struct handoff *h;
	struct item *items;
	int sigterm_blocked;
};

static void *produce(void *arg)
{
	struct producer *p = arg;
	sigset_t mask;

	pthread_sigmask(SIG_SETMASK, NULL, &mask);
	p->sigterm_blocked = sigismember(&mask, SIGTERM) == 1 && sigismember(&mask, SIGINT) == 1;

	/* chains of 1 to 7 items */
	for (int i = 0; i < PER_PRODUCER; i += 7)
		put_range(p->h, p->items, i, i + 6 < PER_PRODUCER ? i + 6 : PER_PRODUCER - 1);
	return NULL;
}

/* Several producers at once: every item arrives once, each producer's in order. */
static void test_threads(void **state)
{
	struct producer p[PRODUCERS];
	pthread_t t[PRODUCERS];
	int last[PRODUCERS], seen = 0, taken = 0;
	struct handoff h;
	char err[128];

	(void)state;
	wakes = 0;
	handoff_init(&h, count_wake, &wakes);
	for (int k = 0; k < PRODUCERS; k++) {
		p[k].h = &h;
		p[k].items = calloc(PER_PRODUCER, sizeof(struct item));
		assert_non_null(p[k].items);
		for (int i = 0; i < PER_PRODUCER; i++)
			p[k].items[i].payload = k * PER_PRODUCER + i;
		last[k] = -1;
		assert_int_equal(handoff_thread_start(&t[k], produce, &p[k], "producer",
						      err, sizeof(err)), 0);
	}
	while (seen < PRODUCERS * PER_PRODUCER) {
		struct item *it = handoff_entry(handoff_take(&h), struct item, link);

		if (it)
			taken++;
		for (; it; it = next_item(it)) {
			int k = it->payload / PER_PRODUCER, i = it->payload % PER_PRODUCER;

			assert_int_equal(i, last[k] + 1);
			last[k] = i;
			seen++;
		}
	}
	for (int k = 0; k < PRODUCERS; k++) {
		pthread_join(t[k], NULL);
		assert_int_equal(p[k].sigterm_blocked, 1);	/* signals stay with main */
		free(p[k].items);
	}
	assert_null(handoff_take(&h));
	/* every non-empty take was preceded by a wake, and no more wakes than puts */
	assert_true(__atomic_load_n(&wakes, __ATOMIC_RELAXED) >= taken);
	handoff_release(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_and_wakes),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
