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
#include "syncstate.h"
#include "trust.h"

#include <stdlib.h>
#include <string.h>

/* What waits, read out first: the checks below write the tables read. */
struct waiting_op {
	veld__op op;
	veld__ref sup[VELD_OP_MAX_SUPERSEDES];
	uint8_t *value;
};
struct waiting_ops {
	struct waiting_op *w;
	size_t n, cap;
};

static int collect_op(const veld__op *op, const char *reason, void *arg)
{
	struct waiting_ops *w = arg;
	struct waiting_op *x;
	(void)reason;
	if (w->n == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 16;
		struct waiting_op *g = realloc(w->w, cap * sizeof *g);
		if (!g)
			return veld__err(VELD_ENOMEM, "out of memory");
		w->w = g;
		w->cap = cap;
	}
	x = &w->w[w->n];
	x->op = *op;
	x->value = NULL;
	memcpy(x->sup, op->sup, op->nsup * sizeof *op->sup);
	if (op->value && !(x->value = malloc(op->value_len)))
		return veld__err(VELD_ENOMEM, "out of memory");
	if (op->value)
		memcpy(x->value, op->value, op->value_len);
	w->n++;
	return VELD_OK;
}

/* One waiting operation again: its author's certificate must cover it now
 * (or it still waits), then the same verdict as on arrival. */
static int retry_op(veld_store *s, const veld__op *op, const struct veld__apply_ctx *c,
                    struct veld__apply_report *r)
{
	uint8_t pk[32];
	int rc, ok;
	if ((rc = veld__pending_op_drop(s, op->device, op->seq)) != VELD_OK)
		return rc;
	if ((rc = veld__trusted_key(s, op->device, pk, NULL)) == VELD_ENOTFOUND) {
		veld__err_clear();
		return veld__apply_op(s, op, 1, c->skew_ms, r); /* waits again */
	}
	if (rc != VELD_OK)
		return rc;
	/* Signed by the key the office certified? The batch it came in was
	 * kept; the server could have made up a key for a device it made up. */
	if ((ok = veld__batch_check(s, op->device, op->seq, op->hash, pk)) < 0)
		return ok;
	if (!ok) {
		r->quarantined++;
		return veld__quarantine_op(s, op, "not signed with its device's certified key");
	}
	return veld__apply_op(s, op, 0, c->skew_ms, r);
}

int veld__retry_ops(veld_store *s, const struct veld__apply_ctx *c, struct veld__apply_report *r)
{
	struct waiting_ops w = {0};
	uint64_t before = r->pending;
	int rc = veld__pending_ops_each(s, collect_op, &w);
	for (size_t i = 0; rc == VELD_OK && i < w.n; i++) {
		veld__op *op = &w.w[i].op;
		op->sup = op->nsup ? w.w[i].sup : NULL;
		op->value = w.w[i].value;
		rc = retry_op(s, op, c, r);
	}
	/* What still waits is not new on this page. */
	r->pending = before;
	for (size_t i = 0; i < w.n; i++)
		free(w.w[i].value);
	free(w.w);
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
	int rc = veld__pending_envs_each(s, collect_env, &w);
	for (size_t i = 0; rc == VELD_OK && i < w.n; i++)
		if ((rc = veld__pending_env_drop(s, &w.e[i])) == VELD_OK)
			rc = veld__apply_envelope(s, &w.e[i], r);
	r->pending = before;
	free(w.e);
	return rc;
}
