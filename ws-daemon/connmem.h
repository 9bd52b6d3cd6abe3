/*
 * connmem - the memory connections live in: slabs of fixed-size slots for
 * what every connection keeps (lws's wsi, its websocket state, receive
 * buffer and user space, the daemon's struct conn) and for the header
 * tables of handshakes in progress.
 *
 * Why (issue 12, docs/bench-ws.md "Memory"): with glibc's malloc an idle
 * connection cost 2.35 KiB of RSS, of which 0.5 KiB was holes. A
 * handshake allocates a 12 KiB header table and the verification of the
 * token a few short-lived blocks, all between the blocks the connection
 * keeps; when they are freed the holes left between long-lived blocks are
 * too small or badly placed for the next connection, and stay resident.
 * Here every kind of block has slots of its own size, packed, without
 * malloc's header, reused LIFO; a freed header table's pages are given
 * back to the kernel at once (MADV_DONTNEED), so a reconnect storm leaves
 * nothing resident behind it.
 *
 * The slabs are carved from one range of address space reserved at start
 * (connmem_init: no memory is used until a slot is touched). Whatever does
 * not fit (a size not seen before when every class is taken, the range
 * used up) goes to malloc, so running out of slabs costs memory, never a
 * connection. connmem_realloc() is lws's allocator (lws_set_allocator):
 * blocks lws allocates for the reasons in connmem.c's list go to the
 * slabs, the rest to malloc; free and realloc tell the two apart by
 * address.
 *
 * Under AddressSanitizer free slots are poisoned, so a use after free is
 * still reported.
 *
 * Service thread only: lws runs on one thread and calls its allocator
 * there, and struct conn is allocated and freed there (conn.c).
 */
#ifndef WS_CONNMEM_H
#define WS_CONNMEM_H

#include <stddef.h>

/*
 * Reserves address space for about max_conns connections (their header
 * tables included) and installs connmem_realloc as lws's allocator. Call
 * before lws_create_context(). 0, or -1 with err set (then nothing is
 * installed and everything stays with malloc).
 */
int connmem_init(size_t max_conns, char *err, size_t errlen);

/*
 * lws's allocator (lws_set_allocator's contract): size 0 frees p and
 * returns NULL; p NULL allocates; otherwise resizes. reason is lws's
 * label for the block, which decides slab or malloc.
 */
void *connmem_realloc(void *p, size_t size, const char *reason);

/* A zeroed block of size bytes in a slab (else malloc), NULL when out of
 * memory; freed with connmem_free(). For the daemon's struct conn. */
void *connmem_zalloc(size_t size);

/* Frees a block of connmem_zalloc or connmem_realloc; NULL is ignored. */
void connmem_free(void *p);

/* Slots in use, all classes together (for the tests). */
size_t connmem_in_use(void);

/*
 * Gives the reserved range back, after lws_context_destroy() and the last
 * connmem_free(): lws's allocator is back to malloc. Blocks still in the
 * slabs are lost.
 */
void connmem_release(void);

#endif
