/* arena.c - memory for one result, freed at once (arena.h).
 *
 * Blocks of 64 KiB are filled front to back; an allocation larger than a
 * quarter block gets a block of its own, linked behind the current one so
 * that the current block's free space stays in use. Nothing is ever freed
 * alone. */
#include "arena.h"

#include <stdlib.h>
#include <string.h>

struct veld__arena_block {
	struct veld__arena_block *next;
	size_t used, cap;
	_Alignas(max_align_t) unsigned char data[];
};

#define ARENA_BLOCK (64u * 1024u)

void *veld__arena_alloc(struct veld__arena *a, size_t n)
{
	struct veld__arena_block *b = a->head;
	size_t align = _Alignof(max_align_t);
	n = (n + align - 1) / align * align;
	if (n == 0)
		n = align;
	if (!b || b->cap - b->used < n) {
		size_t cap = n > ARENA_BLOCK / 4 ? n : ARENA_BLOCK;
		struct veld__arena_block *nb = malloc(sizeof *nb + cap);
		if (!nb)
			return NULL;
		nb->used = 0;
		nb->cap = cap;
		if (b && cap != ARENA_BLOCK) {
			/* A big allocation gets its own block behind the current one,
			 * so the current block's free space stays usable. */
			nb->next = b->next;
			b->next = nb;
		} else {
			nb->next = b;
			a->head = nb;
		}
		b = nb;
	}
	void *p = b->data + b->used;
	b->used += n;
	memset(p, 0, n);
	return p;
}

void *veld__arena_dup(struct veld__arena *a, const void *p, size_t n)
{
	void *q = veld__arena_alloc(a, n);
	if (q && n)
		memcpy(q, p, n);
	return q;
}

void veld__arena_free(struct veld__arena *a)
{
	struct veld__arena_block *b = a->head;
	while (b) {
		struct veld__arena_block *next = b->next;
		free(b);
		b = next;
	}
	a->head = NULL;
}
