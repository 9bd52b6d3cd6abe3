/*
 * tiershm - a file every rest-fcgi worker maps, so that the workers of a
 * tier (separate processes started by spawn-fcgi) share counters:
 * restmetrics.c's /metrics totals, listcache.c's change table.
 *
 * The file starts with struct tiershm_head. The first worker creates it
 * (zeroes), lets init() fill it, then publishes magic; later workers map it
 * as it is. A file whose size or layout is another build's is unlinked and
 * made again (workers of the older build keep their mapping of the old
 * one), so a rolling restart never mixes layouts. Creation is serialised
 * with flock(); everything in the file is changed with atomics only.
 *
 * Put the file on a tmpfs, in a directory only the service user may write
 * (O_NOFOLLOW; mode 0600).
 *
 * Layering: above log-free libc only; no tier header.
 */
#ifndef REST_TIERSHM_H
#define REST_TIERSHM_H

#include <stddef.h>
#include <stdint.h>

struct tiershm_head {
	uint64_t magic;		/* the user's magic once the file is set up */
	uint64_t layout;	/* the user's layout hash (tiershm_hash) */
};

/* FNV-1a of s (NUL included) continuing from h; start with TIERSHM_HASH0. */
#define TIERSHM_HASH0 0xcbf29ce484222325ULL
uint64_t tiershm_hash(uint64_t h, const char *s);

/*
 * Map path (size bytes, starting with a struct tiershm_head). init(p, arg)
 * runs once, on a new file, before magic is published (may be NULL).
 * setting names the file in messages (e.g. "CHAT_REST_METRICS_FILE").
 * 0 and *out = the shared mapping (munmap(*out, size) when done), or -1
 * with err.
 */
int tiershm_map(const char *path, const char *setting, size_t size, uint64_t magic,
		uint64_t layout, void (*init)(void *p, void *arg), void *arg, void **out,
		char *err, size_t errlen);

#endif
