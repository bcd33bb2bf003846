/* arena.h - memory for one result, freed at once (private, server).
 *
 * A store call that answers a page (a pull, the device list) allocates
 * many small pieces of different types whose lives all end when the
 * answer has been encoded. An arena hands them out of a few large blocks
 * and frees them in one call, so the code that fills a page needs no free
 * on any of its error paths.
 *
 * Not thread-safe: an arena belongs to one request. */
#ifndef VELD_ARENA_H
#define VELD_ARENA_H

#include <stddef.h>

struct veld__arena_block;

/* Zero-initialise before the first use ({0} or memset). */
struct veld__arena {
	struct veld__arena_block *head;
};

/* n zeroed bytes aligned for any type, alive until veld__arena_free; NULL
 * when out of memory. */
void *veld__arena_alloc(struct veld__arena *a, size_t n);
/* A copy of the n bytes at p (NULL when out of memory). */
void *veld__arena_dup(struct veld__arena *a, const void *p, size_t n);
/* Free everything the arena handed out; it is empty (and usable) again. */
void veld__arena_free(struct veld__arena *a);

#endif
