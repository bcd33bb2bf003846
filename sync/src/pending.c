/* pending.c - what waits goes on when it can (apply.c says what waits and
 * why): an operation whose author the office has since certified (its
 * batch, kept when it arrived, is checked with the certified key now), whose
 * key has arrived, or whose time has come; a key envelope whose author is
 * certified now or has been seen creating the client. apply.c runs both on
 * every pulled page, in its transaction: operations first (so that only
 * verified ones show who created a client), envelopes, and operations
 * again when a key came. */
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
struct waiting_op {
	veld__op op;
	enum veld__wait wait;
	uint8_t *mem; /* its value and supersedes list */
};
struct waiting_ops {
	struct waiting_op w[RETRY_CHUNK];
	size_t n;
};

static int collect_op(const veld__op *op, enum veld__wait wait, void *arg)
{
	struct waiting_ops *w = arg;
	struct waiting_op *x = &w->w[w->n];
	size_t sup = op->nsup * sizeof *op->sup;
	if (w->n == RETRY_CHUNK)
		return 1; /* full: the rest at the next round */
	x->op = *op;
	x->wait = wait;
	if (!(x->mem = malloc(sup + op->value_len + 1)))
		return veld__err(VELD_ENOMEM, "out of memory");
	memcpy(x->mem, op->sup, sup);
	x->op.sup = op->nsup ? (veld__ref *)(void *)x->mem : NULL;
	if (op->value)
		memcpy(x->mem + sup, op->value, op->value_len);
	x->op.value = op->value ? x->mem + sup : NULL;
	w->n++;
	return VELD_OK;
}

/* One waiting operation again, then the same verdict as on arrival. One
 * that waited for its author's certificate is checked against the batch
 * kept for it, with the certified key (the server could have made up a
 * key for a device it made up); the others were checked on arrival. */
static int retry_op(veld_store *s, const struct waiting_op *x, const struct veld__apply_ctx *c,
                    struct veld__batch_cache *batch, struct veld__apply_report *r)
{
	const veld__op *op = &x->op;
	uint8_t pk[32];
	int rc, ok;
	if ((rc = veld__pending_op_drop(s, op->device, op->seq)) != VELD_OK)
		return rc;
	if (x->wait != VELD_WAIT_CERT)
		return veld__apply_op(s, op, NULL, c->skew_ms, r);
	if ((rc = veld__trusted_key(s, op->device, pk, NULL)) != VELD_OK)
		return rc;
	if ((ok = veld__batch_check(s, op->device, op->seq, op->hash, pk, batch)) < 0)
		return ok;
	if (!ok) {
		r->quarantined++;
		return veld__quarantine_op(s, op, "not signed with its device's certified key");
	}
	return veld__apply_op(s, op, NULL, c->skew_ms, r);
}

int veld__retry_ops(veld_store *s, const struct veld__apply_ctx *c, int keys,
                    struct veld__apply_report *r)
{
	struct waiting_ops *w = malloc(sizeof *w);
	struct veld__batch_cache batch = {0};
	uint64_t before = r->pending;
	uint64_t hlc_max = ((veld__hlc_now_ms() + c->skew_ms) << 16) | 0xffff;
	int rc = w ? VELD_OK : veld__err(VELD_ENOMEM, "out of memory"), full = 1;
	/* An operation taken leaves what is ready (merged, kept aside, or
	 * waiting for something not here), so each round reads new ones; a
	 * round that let none go on ends it. */
	while (rc == VELD_OK && full) {
		uint64_t waiting = r->pending;
		w->n = 0;
		rc = veld__pending_ops_ready(s, hlc_max, keys, collect_op, w);
		full = rc == 1;
		rc = full ? VELD_OK : rc;
		for (size_t i = 0; rc == VELD_OK && i < w->n; i++)
			rc = retry_op(s, &w->w[i], c, &batch, r);
		for (size_t i = 0; i < w->n; i++)
			free(w->w[i].mem);
		full = full && r->pending - waiting < w->n;
	}
	/* What still waits is not new on this page. */
	r->pending = before;
	veld__batch_cache_free(&batch);
	free(w);
	return rc;
}

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
			rc = veld__apply_envelope(s, &w.e[i], r);
	r->pending = before;
	free(w.e);
	return rc;
}
