#include "roomcache.h"

#include <stdlib.h>
#include <string.h>

static size_t rcache_hash(int64_t id, size_t cap)
{
	uint64_t h = (uint64_t)id * 0x9e3779b97f4a7c15ULL;

	return (size_t)(h >> 17) & (cap - 1);
}

void rcache_init(struct rcache *r)
{
	memset(r, 0, sizeof(*r));
}

void room_msg_free(struct room_msg *m)
{
	if (!m)
		return;
	frame_put(m->frame);
	free(m);
}

static void room_free(struct room *rm)
{
	struct room_msg *m, *next;

	for (m = rm->held; m; m = next) {
		next = m->next;
		room_msg_free(m);
	}
	free(rm->members);
	free(rm);
}

void rcache_release(struct rcache *r)
{
	for (size_t i = 0; i < r->cap; i++)
		if (r->slot[i])
			room_free(r->slot[i]);
	free(r->slot);
	memset(r, 0, sizeof(*r));
}

static size_t rcache_find(const struct rcache *r, int64_t id)
{
	size_t i = rcache_hash(id, r->cap);

	while (r->slot[i] && r->slot[i]->id != id)
		i = (i + 1) & (r->cap - 1);
	return i;
}

struct room *rcache_get(struct rcache *r, int64_t id)
{
	if (!r->cap)
		return NULL;
	return r->slot[rcache_find(r, id)];
}

static int rcache_grow(struct rcache *r)
{
	size_t cap = r->cap ? r->cap * 2 : 64;
	struct room **old = r->slot;
	size_t oldcap = r->cap;

	r->slot = calloc(cap, sizeof(*r->slot));
	if (!r->slot) {
		r->slot = old;
		return -1;
	}
	r->cap = cap;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i])
			r->slot[rcache_find(r, old[i]->id)] = old[i];
	free(old);
	return 0;
}

struct room *rcache_add(struct rcache *r, int64_t id)
{
	struct room *rm = rcache_get(r, id);

	if (rm)
		return rm;
	if ((r->count + 1) * 4 > r->cap * 3 && rcache_grow(r))
		return NULL;
	rm = calloc(1, sizeof(*rm));
	if (!rm)
		return NULL;
	rm->id = id;
	rm->state = ROOM_LOADING;
	r->slot[rcache_find(r, id)] = rm;
	r->count++;
	return rm;
}

/* Remove slot i, shifting back the entries of its probe run. */
static void rcache_unslot(struct rcache *r, size_t i)
{
	size_t j = i, mask = r->cap - 1;

	r->slot[i] = NULL;
	r->count--;
	for (;;) {
		size_t home;

		j = (j + 1) & mask;
		if (!r->slot[j])
			return;
		home = rcache_hash(r->slot[j]->id, r->cap);
		/* move j back to i unless its home lies cyclically in (i, j] */
		if ((j > i && (home <= i || home > j)) ||
		    (j < i && (home <= i && home > j))) {
			r->slot[i] = r->slot[j];
			r->slot[j] = NULL;
			i = j;
		}
	}
}

void rcache_del(struct rcache *r, int64_t id)
{
	size_t i;

	if (!r->cap)
		return;
	i = rcache_find(r, id);
	if (!r->slot[i])
		return;
	room_free(r->slot[i]);
	rcache_unslot(r, i);
}

void rcache_sweep(struct rcache *r, int (*fn)(struct room *rm, void *arg), void *arg)
{
	size_t i = 0;

	while (i < r->cap) {
		struct room *rm = r->slot[i];

		if (rm && fn(rm, arg)) {
			room_free(rm);
			rcache_unslot(r, i);
			/* an entry may have shifted into slot i: look again */
			continue;
		}
		i++;
	}
}

int room_set_members(struct room *rm, const struct uuid *users, size_t n)
{
	struct uuid *m = NULL;

	if (n) {
		m = malloc(n * sizeof(*m));
		if (!m)
			return -1;
		memcpy(m, users, n * sizeof(*m));
	}
	free(rm->members);
	rm->members = m;
	rm->n = rm->cap = (uint32_t)n;
	return 0;
}

int room_has_member(const struct room *rm, const struct uuid *user)
{
	for (uint32_t i = 0; i < rm->n; i++)
		if (uuid_eq(&rm->members[i], user))
			return 1;
	return 0;
}

int room_add_member(struct room *rm, const struct uuid *user)
{
	if (room_has_member(rm, user))
		return 0;
	if (rm->n == rm->cap) {
		uint32_t cap = rm->cap ? rm->cap * 2 : 4;
		struct uuid *m = realloc(rm->members, (size_t)cap * sizeof(*m));

		if (!m)
			return -1;
		rm->members = m;
		rm->cap = cap;
	}
	rm->members[rm->n++] = *user;
	return 0;
}

void room_remove_member(struct room *rm, const struct uuid *user)
{
	for (uint32_t i = 0; i < rm->n; i++) {
		if (uuid_eq(&rm->members[i], user)) {
			rm->members[i] = rm->members[--rm->n];
			return;
		}
	}
}

int room_hold(struct room *rm, struct room_msg *m)
{
	struct room_msg **pp = &rm->held;

	if (m->id <= rm->last_id) {
		room_msg_free(m);
		return 0;
	}
	while (*pp && (*pp)->id < m->id)
		pp = &(*pp)->next;
	if (*pp && (*pp)->id == m->id) {
		room_msg_free(m);	/* the same message twice */
		return 0;
	}
	m->next = *pp;
	*pp = m;
	return 1;
}

struct room_msg *room_next(struct room *rm, int64_t now_ms, int64_t gap_ms)
{
	struct room_msg *m = rm->held;

	if (!m || rm->state != ROOM_READY)
		return NULL;
	/* in order: the predecessor was released (or is older than that) */
	if (m->prev_id > rm->last_id) {
		if (!rm->gap_since_ms)
			rm->gap_since_ms = now_ms;
		if (now_ms - rm->gap_since_ms < gap_ms)
			return NULL;
	}
	rm->gap_since_ms = 0;
	rm->held = m->next;
	m->next = NULL;
	if (m->id > rm->last_id)
		rm->last_id = m->id;
	return m;
}

void room_start(struct room *rm, int64_t base_id)
{
	if (!rm->last_id)
		rm->last_id = base_id;
	rm->state = ROOM_READY;
}
