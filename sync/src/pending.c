/* pending.c - what waits goes on when it can (apply.c says what waits and
 * why). Items of an author the office had not certified: taken in seq
 * order once it is, each checked against a batch kept for it and signed
 * with the certified key, as far as they go without a gap (what a server
 * made up is dropped; a gap leaves the rest waiting for the seqs before
 * it). Operations whose key has arrived or whose time has come. Key
 * envelopes whose author is certified now, whose team key version has
 * come, or whose author has been seen creating the client. apply.c runs
 * them on every pulled page, in its transaction. */
#include "devsync.h"
#include "error.h"
#include "hlc.h"
#include "syncstate.h"
#include "trust.h"

#include <stdlib.h>
#include <string.h>

/* What may go on, read out first (the checks below write the tables
 * read), a chunk at a time so that memory stays bounded. */
#define RETRY_CHUNK 512
struct waiting {
	struct veld__feed_item it;
	enum veld__wait wait;
	uint8_t *mem; /* its value and supersedes list */
};
struct waiting_chunk {
	struct waiting w[RETRY_CHUNK];
	size_t n;
};

static int collect(struct waiting_chunk *w, const struct veld__feed_item *it,
                   enum veld__wait wait)
{
	struct waiting *x = &w->w[w->n];
	const veld__op *op = &it->op;
	size_t sup = op->nsup * sizeof *op->sup;
	if (w->n == RETRY_CHUNK)
		return 1; /* full: the rest at the next round */
	x->it = *it;
	x->wait = wait;
	if (!(x->mem = malloc(sup + op->value_len + 1)))
		return veld__err(VELD_ENOMEM, "out of memory");
	memcpy(x->mem, op->sup, sup);
	x->it.op.sup = op->nsup ? (veld__ref *)(void *)x->mem : NULL;
	if (op->value)
		memcpy(x->mem + sup, op->value, op->value_len);
	x->it.op.value = op->value ? x->mem + sup : NULL;
	w->n++;
	return VELD_OK;
}

static void chunk_clear(struct waiting_chunk *w)
{
	for (size_t i = 0; i < w->n; i++)
		free(w->w[i].mem);
	w->n = 0;
}

static int collect_op(const veld__op *op, enum veld__wait wait, void *arg)
{
	struct veld__feed_item it;
	it.what = VELD_ITEM_OP;
	it.op = *op;
	return collect(arg, &it, wait);
}

static int collect_item(const struct veld__feed_item *it, void *arg)
{
	return collect(arg, it, VELD_WAIT_CERT);
}

/* ---- operations whose time or key has come ------------------------------------------ */

int veld__retry_ops(veld_store *s, const struct veld__apply_ctx *c, int keys,
                    struct veld__apply_report *r)
{
	struct waiting_chunk *w = calloc(1, sizeof *w);
	uint64_t before = r->pending;
	uint64_t hlc_max = ((veld__hlc_now_ms() + c->skew_ms) << 16) | 0xffff;
	int rc = w ? VELD_OK : veld__err(VELD_ENOMEM, "out of memory"), full = 1;
	/* An operation taken leaves what is ready (merged, kept aside, or
	 * waiting for something not here), so each round reads new ones; a
	 * round that let none go on ends it. */
	while (rc == VELD_OK && full) {
		uint64_t waiting = r->pending;
		rc = veld__pending_ops_ready(s, hlc_max, keys, collect_op, w);
		full = rc == 1;
		rc = full ? VELD_OK : rc;
		for (size_t i = 0; rc == VELD_OK && i < w->n; i++)
			if ((rc = veld__pending_op_drop(s, &w->w[i].it.op)) == VELD_OK)
				rc = veld__take_item(s, &w->w[i].it, NULL, c->skew_ms, r);
		full = full && r->pending - waiting < w->n;
		chunk_clear(w);
	}
	/* What still waits is not new on this page. */
	r->pending = before;
	free(w);
	return rc;
}

/* ---- items of an author certified since ----------------------------------------------- */

/* One item whose seq comes next: signed by its author (a kept batch with
 * the certified key holds its hash)? Then taken: TAKEN; made up: FORGED
 * (dropped with the rest of its seq). A stub whose reason does not hold
 * here ends the author's run: WITHHELD (the operation it stands for is
 * withheld). Or a negative code. */
enum { FORGED = 0, TAKEN = 1, WITHHELD = 2 };
static int release_one(veld_store *s, const struct waiting *x, const struct veld__author_trust *who,
                       const struct veld__apply_ctx *c, struct veld__batch_cache *batch,
                       struct veld__apply_report *r)
{
	const veld__op *op = &x->it.op;
	int rc = veld__batch_check(s, op->device, op->seq, op->hash, who->pk, batch);
	if (rc < 0)
		return rc;
	if (rc == 0) { /* dropped: it proves nothing, blames no one */
		r->forged++;
		return (rc = veld__pending_op_drop(s, op)) == VELD_OK ? FORGED : rc;
	}
	if ((rc = veld__pending_op_drop(s, op)) != VELD_OK)
		return rc;
	if ((rc = veld__take_item(s, &x->it, who, c->skew_ms, r)) == VELD_EPROTO) {
		veld__err_clear();
		return WITHHELD;
	}
	return rc == VELD_OK ? TAKEN : rc;
}

int veld__release_held(veld_store *s, const uint8_t device[VELD_ID_BYTES],
                       const struct veld__apply_ctx *c, struct veld__apply_report *r)
{
	struct waiting_chunk *w = NULL;
	struct veld__batch_cache batch = {0};
	struct veld__author_trust who;
	uint64_t seen = 0, start, before = r->pending;
	int rc, full = 1, stop = 0;
	if ((rc = veld__author_trust(s, device, &who)) != VELD_OK || who.uncertified)
		return rc;
	if ((rc = veld__author_seen(s, device, &seen)) != VELD_OK)
		return rc;
	if (!(w = calloc(1, sizeof *w)))
		return veld__err(VELD_ENOMEM, "out of memory");
	start = seen;
	while (rc == VELD_OK && full && !stop) {
		uint64_t was = seen;
		rc = veld__held_items(s, device, seen, RETRY_CHUNK, collect_item, w);
		full = w->n == RETRY_CHUNK;
		for (size_t i = 0; rc == VELD_OK && !stop && i < w->n; i++) {
			uint64_t seq = w->w[i].it.op.seq;
			int took;
			if (seq <= seen) { /* another item of a seq taken: made up */
				r->forged += seq > start;
				continue;
			}
			if (seq != seen + 1) {
				stop = 1; /* a gap: the rest waits for the seqs before it */
				break;
			}
			if ((took = release_one(s, &w->w[i], &who, c, &batch, r)) < 0)
				rc = took;
			else if (took == WITHHELD)
				stop = 1;
			else if (took == TAKEN)
				seen = seq;
		}
		chunk_clear(w);
		/* A full round of made-up items of one seq ends it too. */
		stop = stop || (full && seen == was);
	}
	if (rc == VELD_OK && (rc = veld__author_set(s, device, seen)) == VELD_OK &&
	    (rc = veld__held_drop(s, device, seen)) == VELD_OK &&
	    (rc = veld__held_gap(s, device)) == VELD_OK)
		rc = veld__batch_drop(s, device, seen);
	/* What still waits was counted when it came. */
	r->pending = before;
	veld__batch_cache_free(&batch);
	free(w);
	return rc;
}

/* ---- key envelopes ------------------------------------------------------------------------ */

struct waiting_envs {
	struct veld__pending_env *e;
	size_t n, cap;
};

static int collect_env(const struct veld__pending_env *e, void *arg)
{
	struct waiting_envs *w = arg;
	if (w->n == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 16;
		struct veld__pending_env *g = realloc(w->e, cap * sizeof *g);
		if (!g)
			return veld__err(VELD_ENOMEM, "out of memory");
		w->e = g;
		w->cap = cap;
	}
	w->e[w->n++] = *e;
	return VELD_OK;
}

int veld__retry_envs(veld_store *s, struct veld__apply_report *r)
{
	struct waiting_envs w = {0};
	uint64_t before = r->pending;
	int rc = veld__pending_envs_ready(s, collect_env, &w);
	for (size_t i = 0; rc == VELD_OK && i < w.n; i++)
		if ((rc = veld__pending_env_drop(s, &w.e[i])) == VELD_OK)
			rc = veld__apply_envelope(s, &w.e[i], 1, r);
	r->pending = before;
	free(w.e);
	return rc;
}

/* ---- operations that waited for a record schema in vain ------------------------------- */

struct schema_wait {
	veld__op *ops; /* without value and supersedes: only what the quarantine keeps */
	size_t n, cap;
};

static int collect_schema_wait(const veld__op *op, enum veld__wait wait, void *arg)
{
	struct schema_wait *w = arg;
	if (wait != VELD_WAIT_SCHEMA)
		return VELD_OK;
	if (w->n == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 64;
		veld__op *ops = realloc(w->ops, cap * sizeof *ops);
		if (!ops)
			return veld__err(VELD_ENOMEM, "out of memory");
		w->ops = ops;
		w->cap = cap;
	}
	w->ops[w->n] = *op;
	w->ops[w->n].value = NULL;
	w->ops[w->n].sup = NULL;
	w->ops[w->n].nsup = 0;
	w->n++;
	return VELD_OK;
}

/* The author's head in a checkpoint's heads (24 bytes each), or 0. */
static uint64_t head_of(const uint8_t *heads, size_t len, const uint8_t device[VELD_ID_BYTES])
{
	for (size_t i = 0; i + 24 <= len; i += 24)
		if (memcmp(heads + i, device, VELD_ID_BYTES) == 0)
			return veld__be64_get(heads + i + VELD_ID_BYTES);
	return 0;
}

int veld__settle_schema_waits(veld_store *s, const uint8_t *heads, size_t heads_len)
{
	struct schema_wait w = {NULL, 0, 0};
	int rc = veld__pending_ops_ready(s, 0, 2, collect_schema_wait, &w);
	for (size_t i = 0; rc == VELD_OK && i < w.n; i++) {
		const veld__op *op = &w.ops[i];
		if (op->seq > head_of(heads, heads_len, op->device))
			continue; /* the office had not seen it: a newer schema may still come */
		if ((rc = veld__pending_op_drop(s, op)) == VELD_OK)
			rc = veld__quarantine_op(s, op, "a value its writer's checks refuse");
	}
	free(w.ops);
	return rc;
}
