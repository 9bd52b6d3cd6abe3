/*
 * connmem - slabs for what connections keep (connmem.h).
 */
#include <libwebsockets.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "connmem.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define CM_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define CM_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define CM_POISON(p, n) ((void)(p), (void)(n))
#define CM_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define CM_CHUNK (64 * 1024)	/* classes take the range in chunks of this */
#define CM_CLASSES 12		/* slot sizes; more go to malloc */
#define CM_ALIGN 16
#define CM_PAGE 4096		/* slots this big are whole pages */
/* per connection: what it keeps (~1.7 KiB) and a header table (~13 KiB) */
#define CM_PER_CONN (16 * 1024)

/*
 * lws 4.1's labels of the blocks it allocates once per connection or per
 * handshake (measured with a counting allocator, docs/bench-ws.md). A
 * label not here (lws's context, its tables, anything per message) stays
 * with malloc.
 */
static const char *const cm_reasons[] = {
	"new server wsi", "ws struct", "rx_ubuf", "user space",	/* kept */
	"ah struct", "ah data",					/* handshake */
};

struct cm_class {
	size_t size;		/* slot: multiple of CM_ALIGN, or of CM_PAGE */
	void **free;		/* free slots (a stack: LIFO reuse) */
	size_t nfree, capfree;
	char *bump, *end;	/* never used rest of the class's last chunk */
	size_t live;
};

static struct {
	char *base;		/* NULL: not initialised, all goes to malloc */
	size_t len, used;	/* reserved; handed to classes so far */
	unsigned char *owner;	/* per chunk: class index + 1, 0 = none */
	struct cm_class cls[CM_CLASSES];
	size_t ncls;
} cm;

static size_t cm_round(size_t n)
{
	size_t unit = n >= CM_PAGE ? CM_PAGE : CM_ALIGN;

	return (n + unit - 1) / unit * unit;
}

static int cm_owns(const void *p)
{
	return cm.base && (const char *)p >= cm.base && (const char *)p < cm.base + cm.used;
}

static struct cm_class *cm_class_of(const void *p)
{
	return &cm.cls[cm.owner[((const char *)p - cm.base) / CM_CHUNK] - 1];
}

/* The class of slots for blocks of n bytes; NULL when all are taken. */
static struct cm_class *cm_class_for(size_t n)
{
	size_t size = cm_round(n);

	for (size_t i = 0; i < cm.ncls; i++)
		if (cm.cls[i].size == size)
			return &cm.cls[i];
	if (cm.ncls == CM_CLASSES)
		return NULL;
	cm.cls[cm.ncls].size = size;
	return &cm.cls[cm.ncls++];
}

/* A slot for n bytes, NULL when the slabs cannot hold it. */
static void *cm_alloc(size_t n)
{
	struct cm_class *c;
	void *p;

	if (!cm.base || !n || !(c = cm_class_for(n)))
		return NULL;
	if (c->nfree) {
		p = c->free[--c->nfree];
	} else {
		if ((size_t)(c->end - c->bump) < c->size) {
			size_t take = (c->size + CM_CHUNK - 1) / CM_CHUNK * CM_CHUNK;

			if (cm.len - cm.used < take)
				return NULL;
			c->bump = cm.base + cm.used;
			c->end = c->bump + take;
			memset(cm.owner + cm.used / CM_CHUNK, (int)(c - cm.cls) + 1,
			       take / CM_CHUNK);
			cm.used += take;
			CM_POISON(c->bump, take);
		}
		p = c->bump;
		c->bump += c->size;
	}
	CM_UNPOISON(p, c->size);
	c->live++;
	return p;
}

static void cm_free(void *p)
{
	struct cm_class *c = cm_class_of(p);

	if (c->nfree == c->capfree) {
		size_t cap = c->capfree ? 2 * c->capfree : 64;
		void **f = realloc(c->free, cap * sizeof(*f));

		/* out of memory: the slot is lost (address space only) */
		if (!f) {
			c->live--;
			return;
		}
		c->free = f;
		c->capfree = cap;
	}
	/* whole pages (header tables) go back to the kernel now */
	if (c->size >= CM_PAGE)
		madvise(p, c->size, MADV_DONTNEED);
	CM_POISON(p, c->size);
	c->free[c->nfree++] = p;
	c->live--;
}

static int cm_wanted(const char *reason)
{
	for (size_t i = 0; i < sizeof(cm_reasons) / sizeof(cm_reasons[0]); i++)
		if (reason && !strcmp(reason, cm_reasons[i]))
			return 1;
	return 0;
}

void *connmem_realloc(void *p, size_t size, const char *reason)
{
	void *q;

	if (!size) {
		connmem_free(p);
		return NULL;
	}
	if (!p) {
		q = cm_wanted(reason) ? cm_alloc(size) : NULL;
		return q ? q : malloc(size);
	}
	if (!cm_owns(p))
		return realloc(p, size);
	if (size <= cm_class_of(p)->size)
		return p;
	q = cm_alloc(size);
	if (!q && !(q = malloc(size)))
		return NULL;
	memcpy(q, p, cm_class_of(p)->size);
	cm_free(p);
	return q;
}

void *connmem_zalloc(size_t size)
{
	void *p = cm_alloc(size);

	if (!p)
		return calloc(1, size);
	memset(p, 0, size);
	return p;
}

void connmem_free(void *p)
{
	if (!p)
		return;
	if (cm_owns(p))
		cm_free(p);
	else
		free(p);
}

size_t connmem_in_use(void)
{
	size_t n = 0;

	for (size_t i = 0; i < cm.ncls; i++)
		n += cm.cls[i].live;
	return n;
}

int connmem_init(size_t max_conns, char *err, size_t errlen)
{
	size_t len;
	void *base;

	if (cm.base) {
		snprintf(err, errlen, "connmem: already initialised");
		return -1;
	}
	if (!max_conns)
		max_conns = 1;
	len = (max_conns * CM_PER_CONN + CM_CHUNK - 1) / CM_CHUNK * CM_CHUNK;
	/* address space only: pages are used when a slot is first touched */
	base = mmap(NULL, len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED) {
		snprintf(err, errlen, "connmem: cannot reserve %zu MiB of address space",
			 len >> 20);
		return -1;
	}
	cm.owner = calloc(len / CM_CHUNK, 1);
	if (!cm.owner) {
		munmap(base, len);
		snprintf(err, errlen, "connmem: out of memory");
		return -1;
	}
	cm.base = base;
	cm.len = len;
	cm.used = 0;
	lws_set_allocator(connmem_realloc);
	return 0;
}

void connmem_release(void)
{
	if (!cm.base)
		return;
	CM_UNPOISON(cm.base, cm.used);
	munmap(cm.base, cm.len);
	free(cm.owner);
	for (size_t i = 0; i < cm.ncls; i++)
		free(cm.cls[i].free);
	memset(&cm, 0, sizeof(cm));
}
