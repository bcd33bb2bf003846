/* outbox.c - what a device pushes: its own operations above what the server
 * acknowledged, signed as one batch, and the client key envelopes waiting;
 * and what it records of the server's answers (docs/protocol.md 7, step 1).
 *
 * Sync state in the store: acked_seq (the highest own seq the server holds,
 * by its word), policy_seq (the highest own seq a push of operations
 * confirmed, up to which the field policy may remove own values) and
 * own_seen (how far this device's own operations came back in the pulled
 * feed without a gap, each checked against this device's own batch
 * signature: what the server proved it holds). Each function is one step
 * on the store (syncstate.h); client.c drives HTTP. */
#include "devsync.h"
#include "auth.h"
#include "error.h"
#include "op.h"
#include "retention.h"
#include "syncstate.h"

#include <sodium.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void veld__outbox_free(struct veld__outbox *o)
{
	if (!o)
		return;
	veld__opbuf_free(o->ops);
	free(o->ops);
	free(o->envs);
	free(o->out);
	memset(o, 0, sizeof *o);
}

/* The envelopes waiting, as the wire carries them. */
static int read_envelopes(veld_store *s, struct veld__outbox *o)
{
	size_t n = 0;
	int rc;
	if (!(o->out = calloc(VELD_WIRE_MAX_ENVS, sizeof *o->out)) ||
	    !(o->envs = calloc(VELD_WIRE_MAX_ENVS, sizeof *o->envs)))
		return veld__err(VELD_ENOMEM, "out of memory");
	if ((rc = veld__outbox_read(s, o->out, VELD_WIRE_MAX_ENVS, &n)) != VELD_OK)
		return rc;
	for (size_t i = 0; i < n; i++) {
		struct veld__envelope *e = &o->envs[i];
		uint8_t msg[VELD_ENVELOPE_SIG_MSG_MAX];
		memcpy(e->client, o->out[i].client, VELD_ID_BYTES);
		e->kv = o->out[i].kv;
		memcpy(e->to, o->out[i].to, sizeof e->to);
		e->tv = o->out[i].tv;
		memcpy(e->sealed, o->out[i].sealed, VELD_SEALED_KEY_BYTES);
		/* Signed by this device: who sealed a key is what every receiver
		 * checks before it takes the key (docs/security.md). */
		memcpy(e->from, veld__store_device(s), VELD_ID_BYTES);
		veld__store_sign(s, e->sig, msg, veld__envelope_sig_message(msg, e->from, e->client,
		                                                          e->kv, e->to, e->tv, e->sealed));
	}
	o->req.envs = o->envs;
	o->req.nenvs = n;
	return VELD_OK;
}

/* One signature over the batch as sent (docs/protocol.md 3), of the version
 * of its operations. */
static int sign_batch(veld_store *s, struct veld__push_req *req)
{
	uint8_t *hashes = malloc(req->nops * VELD_HASH_BYTES), msg[77];
	if (!hashes)
		return veld__err(VELD_ENOMEM, "out of memory");
	for (size_t i = 0; i < req->nops; i++)
		memcpy(hashes + i * VELD_HASH_BYTES, req->ops[i].hash, VELD_HASH_BYTES);
	veld__batch_digest(msg, req->ops[0].version, veld__store_device(s), req->ops[0].seq,
	                   req->ops[req->nops - 1].seq, hashes, req->nops);
	veld__store_sign(s, req->sig, msg, sizeof msg);
	req->has_sig = 1;
	free(hashes);
	return VELD_OK;
}

int veld__sync_next_push(veld_store *s, size_t max_ops, struct veld__outbox *out)
{
	struct veld__step step;
	uint64_t acked;
	int rc;
	memset(out, 0, sizeof *out);
	if (max_ops == 0 || max_ops > VELD_WIRE_MAX_OPS)
		max_ops = VELD_WIRE_MAX_OPS;
	if ((rc = veld__step_begin(s, &step, VELD_STEP_KEYS)) != VELD_OK)
		return rc;
	if (!(out->ops = calloc(1, sizeof *out->ops)))
		rc = veld__err(VELD_ENOMEM, "out of memory");
	else if ((rc = veld__sync_u64(s, "acked_seq", &acked)) == VELD_OK &&
	         (rc = veld__own_ops_read(s, acked, max_ops, out->ops)) == VELD_OK &&
	         (rc = read_envelopes(s, out)) == VELD_OK) {
		out->req.ops = out->ops->ops;
		out->req.nops = out->ops->n;
		/* A batch holds operations of one format: those a veld 0.1 wrote
		 * and never pushed go in a batch of their own. */
		for (size_t i = 1; i < out->req.nops; i++)
			if (out->req.ops[i].version != out->req.ops[0].version)
				out->req.nops = i;
		if (out->req.nops > 0)
			rc = sign_batch(s, &out->req);
	}
	rc = veld__step_end(s, &step, rc);
	if (rc != VELD_OK)
		veld__outbox_free(out);
	return rc;
}

int veld__sync_pushed(veld_store *s, const struct veld__outbox *o, const struct veld__push_resp *r)
{
	struct veld__step step;
	uint64_t acked;
	int rc = veld__step_begin(s, &step, VELD_STEP_KEYS | VELD_STEP_WRITE);
	if (rc)
		return rc;
	if ((rc = veld__sync_u64(s, "acked_seq", &acked)) != VELD_OK)
		goto done;
	if (r->acked > veld__store_last_seq(s)) {
		rc = veld__err(VELD_EPROTO, "the server acknowledged operations this device never wrote");
		goto done;
	}
	if (r->acked > acked && (rc = veld__sync_set_u64(s, "acked_seq", r->acked)) != VELD_OK)
		goto done;
	/* What a push of operations confirmed (not an empty probe, whose
	 * answer a server could inflate): the field policy removes own values
	 * only up to here (policy_seq). */
	if (o->req.nops > 0) {
		uint64_t last = o->req.ops[o->req.nops - 1].seq, held = 0;
		uint64_t confirmed = r->acked < last ? r->acked : last;
		if ((rc = veld__sync_u64(s, "policy_seq", &held)) != VELD_OK ||
		    (confirmed > held && (rc = veld__sync_set_u64(s, "policy_seq", confirmed)) != VELD_OK))
			goto done;
		/* Own operations of a client moved away waited for this push. */
		if (confirmed >= o->req.ops[0].seq &&
		    (rc = veld__moved_values_pushed(s, o->req.ops[0].seq, confirmed)) != VELD_OK)
			goto done;
	}
	for (size_t i = 0; rc == VELD_OK && i < o->req.nenvs; i++)
		rc = veld__outbox_remove(s, &o->out[i]);
done:
	return veld__step_end(s, &step, rc);
}

int veld__sync_acked(veld_store *s, uint64_t *acked)
{
	return veld__sync_u64_step(s, "acked_seq", acked);
}

int veld__sync_pending(veld_store *s, uint64_t *ops, uint64_t *envelopes)
{
	struct veld__step step;
	uint64_t acked = 0, last;
	int rc = veld__step_begin(s, &step, 0);
	if (rc)
		return rc;
	*ops = *envelopes = 0;
	if ((rc = veld__sync_u64(s, "acked_seq", &acked)) == VELD_OK) {
		last = veld__store_last_seq(s);
		*ops = last > acked ? last - acked : 0;
		rc = veld__outbox_count(s, envelopes);
	}
	return veld__step_end(s, &step, rc);
}

/* ---- own operations back in the feed ---------------------------------------------- */

#define OWN_SEEN "own_seen"

/* How far this device's own operations came back; *found 0 if never
 * recorded (a store from before this was kept). */
static int own_seen_get(veld_store *s, uint64_t *seen, int *found)
{
	uint8_t b[8];
	int rc = veld__sync_bytes(s, OWN_SEEN, b, sizeof b);
	*seen = 0;
	if (found)
		*found = rc == VELD_OK;
	if (rc == VELD_ENOTFOUND) {
		veld__err_clear();
		return VELD_OK;
	}
	if (rc == VELD_OK)
		*seen = veld__be64_get(b);
	return rc;
}

static int own_seen_set(veld_store *s, uint64_t seen)
{
	uint8_t b[8];
	veld__be64_put(b, seen);
	return veld__sync_set_bytes(s, OWN_SEEN, b, sizeof b);
}

/* Own seqs on a page: an item's [seq, seq], a run's [from, to]. */
struct span {
	uint64_t from, to;
};

static int by_from(const void *a, const void *b)
{
	uint64_t x = ((const struct span *)a)->from, y = ((const struct span *)b)->from;
	return x < y ? -1 : x > y;
}

int veld__own_runs_check(veld_store *s, const struct veld__pull_resp *p)
{
	uint8_t *hashes = NULL, d[VELD_HASH_BYTES];
	uint64_t last = veld__store_last_seq(s);
	int rc = VELD_OK;
	for (size_t i = 0; rc == VELD_OK && i < p->nown; i++) {
		const struct veld__own_run *x = &p->own[i];
		size_t n = (size_t)(x->to - x->from + 1); /* the decoder bounds it */
		uint8_t *h;
		if (x->to > last)
			return veld__err(VELD_EPROTO, "the server shows operations up to %llu of this"
			                 " device, which wrote %llu", (unsigned long long)x->to,
			                 (unsigned long long)last);
		if (!(h = realloc(hashes, n * VELD_HASH_BYTES))) {
			rc = veld__err(VELD_ENOMEM, "out of memory");
			break;
		}
		hashes = h;
		if ((rc = veld__own_hashes(s, x->from, x->to, hashes, &n)) != VELD_OK)
			break;
		veld__own_run_digest(hashes, n, d);
		if (sodium_memcmp(d, x->d, sizeof d) != 0)
			rc = veld__err(VELD_EPROTO, "the server's digest of this device's operations %llu"
			               " to %llu is not that of what this device wrote",
			               (unsigned long long)x->from, (unsigned long long)x->to);
	}
	free(hashes);
	return rc;
}

int veld__own_returned(veld_store *s, const struct veld__pull_resp *p, uint64_t after)
{
	const uint8_t *me = veld__store_device(s);
	size_t n = 0, cap = p->nops + p->nstubs + p->nheld + p->nown;
	uint64_t seen = 0;
	struct span *seqs;
	int rc, found;
	if ((rc = own_seen_get(s, &seen, &found)) != VELD_OK)
		return rc;
	/* A store from before this was kept: the first pull from the start
	 * counts everything again; one that resumes trusts what the server
	 * acknowledged until now (there is nothing else to go by). */
	if (!found && after > 0 && (rc = veld__sync_u64(s, "acked_seq", &seen)) != VELD_OK)
		return rc;
	if (!(seqs = malloc((cap ? cap : 1) * sizeof *seqs)))
		return veld__err(VELD_ENOMEM, "out of memory");
	for (size_t i = 0; i < p->nops; i++)
		if (memcmp(p->ops[i].device, me, VELD_ID_BYTES) == 0)
			seqs[n].from = seqs[n].to = p->ops[i].seq, n++;
	for (size_t i = 0; i < p->nstubs; i++)
		if (memcmp(p->stubs[i].device, me, VELD_ID_BYTES) == 0)
			seqs[n].from = seqs[n].to = p->stubs[i].seq, n++;
	for (size_t i = 0; i < p->nheld; i++)
		if (memcmp(p->held[i].device, me, VELD_ID_BYTES) == 0)
			seqs[n].from = seqs[n].to = p->held[i].seq, n++;
	for (size_t i = 0; i < p->nown; i++)
		seqs[n].from = p->own[i].from, seqs[n].to = p->own[i].to, n++;
	qsort(seqs, n, sizeof *seqs, by_from);
	for (size_t i = 0; i < n && seqs[i].from <= seen + 1; i++)
		if (seqs[i].to > seen)
			seen = seqs[i].to;
	free(seqs);
	return own_seen_set(s, seen);
}

int veld__own_seen(veld_store *s, uint64_t *seen)
{
	uint64_t acked = 0;
	int found, rc = own_seen_get(s, seen, &found);
	if (rc == VELD_OK && (rc = veld__sync_u64(s, "acked_seq", &acked)) == VELD_OK &&
	    (!found || acked < *seen))
		*seen = acked;
	return rc;
}

int veld__sync_own_returned(veld_store *s, const struct veld__pull_resp *p, uint64_t after)
{
	struct veld__step step;
	int rc = veld__step_begin(s, &step, VELD_STEP_WRITE);
	if (rc)
		return rc;
	return veld__step_end(s, &step, veld__own_returned(s, p, after));
}

int veld__sync_own_check(veld_store *s, struct veld__own_check *c)
{
	struct veld__step step;
	uint64_t acked = 0, seen = 0, pseq = 0, from = 0, above = 0, whole = 0;
	int rc = veld__step_begin(s, &step, VELD_STEP_KEYS | VELD_STEP_WRITE), found;
	memset(c, 0, sizeof *c);
	if (rc)
		return rc;
	/* The pull is complete: what a widened policy lets back came with it. */
	if ((rc = veld__sync_u64(s, VELD__OWN_WHOLE, &whole)) != VELD_OK ||
	    (whole && (rc = veld__sync_set_u64(s, VELD__OWN_WHOLE, 0)) != VELD_OK) ||
	    (rc = veld__sync_u64(s, "acked_seq", &acked)) != VELD_OK ||
	    (rc = own_seen_get(s, &seen, &found)) != VELD_OK)
		goto done;
	if (!found) { /* nothing pulled yet since this was kept */
		rc = own_seen_set(s, acked);
		goto done;
	}
	if (acked <= seen)
		goto done;
	c->claimed = acked;
	c->seen = seen;
	/* Those whose value was removed here since cannot be sent again as
	 * they were signed: the server would rightly refuse them. */
	if ((rc = veld__own_values_removed(s, seen + 1, &from)) != VELD_OK ||
	    (rc = veld__own_values_removed(s, acked + 1, &above)) != VELD_OK)
		goto done;
	c->removed = from - above;
	if (c->removed > 0)
		goto done;
	/* Push them again, and count none of them as confirmed for the field
	 * policy until a push's answer does. */
	if ((rc = veld__sync_set_u64(s, "acked_seq", seen)) == VELD_OK &&
	    (rc = veld__sync_u64(s, "policy_seq", &pseq)) == VELD_OK && pseq > seen)
		rc = veld__sync_set_u64(s, "policy_seq", seen);
	c->lowered = rc == VELD_OK;
done:
	return veld__step_end(s, &step, rc);
}

int veld__sync_rewind(veld_store *s, uint64_t expected)
{
	struct veld__step step;
	uint64_t removed = 0, pseq = 0;
	int rc = veld__step_begin(s, &step, VELD_STEP_KEYS | VELD_STEP_WRITE);
	if (rc)
		return rc;
	if (expected == 0 || expected > veld__store_last_seq(s) + 1) {
		rc = veld__err(VELD_EPROTO, "the server expects operation %llu of this device, "
		               "which never wrote it", (unsigned long long)expected);
		goto done;
	}
	/* A value removed here since the server held its operation (field
	 * policy, retention) cannot be sent again as it was signed; sending it
	 * without its value would be a different operation under the same seq. */
	if ((rc = veld__own_values_removed(s, expected, &removed)) != VELD_OK)
		goto done;
	if (removed > 0) {
		rc = veld__err(VELD_EPROTO, "the server lost operations %llu and later of this device,"
		               " and this device has since removed values of %llu of them (field"
		               " policy or retention), so they cannot be sent again: the server must"
		               " be restored from a newer backup", (unsigned long long)expected,
		               (unsigned long long)removed);
		goto done;
	}
	if ((rc = veld__sync_u64(s, "policy_seq", &pseq)) == VELD_OK && pseq >= expected)
		rc = veld__sync_set_u64(s, "policy_seq", expected - 1);
	/* What the server lost must come back again once pushed again. */
	if (rc == VELD_OK && (rc = own_seen_get(s, &pseq, NULL)) == VELD_OK && pseq >= expected)
		rc = own_seen_set(s, expected - 1);
	if (rc == VELD_OK && (rc = veld__sync_set_u64(s, "acked_seq", expected - 1)) == VELD_OK &&
	    (rc = veld__sync_set_u64(s, "pull_cursor", 0)) == VELD_OK &&
	    (rc = veld__sync_set_u64(s, "env_cursor", 0)) == VELD_OK &&
	    (rc = veld__sync_set_u64(s, "notice_cursor", 0)) == VELD_OK)
		rc = veld__keys_share_all(s);
done:
	return veld__step_end(s, &step, rc);
}

/* ---- warnings kept for the next sync summary ------------------------------------ */

#define WARNINGS_KEY "sync_warnings"
#define WARNINGS_MAX 2048

int veld__sync_warn(veld_store *s, const char *line)
{
	char buf[WARNINGS_MAX];
	size_t n;
	int rc = veld__sync_text(s, WARNINGS_KEY, buf, sizeof buf);
	if (rc == VELD_ENOTFOUND) {
		veld__err_clear();
		buf[0] = 0;
		rc = VELD_OK;
	}
	if (rc != VELD_OK)
		return rc;
	n = strlen(buf);
	if (n + strlen(line) + 2 > sizeof buf)
		return VELD_OK; /* full: the older warnings stand until a summary shows them */
	snprintf(buf + n, sizeof buf - n, "%s%s", n ? "\n" : "", line);
	return veld__sync_set_text(s, WARNINGS_KEY, buf);
}

int veld__sync_warnings_take(veld_store *s, char *buf, size_t cap)
{
	struct veld__step step;
	int rc = veld__step_begin(s, &step, VELD_STEP_WRITE);
	if (rc)
		return rc;
	buf[0] = 0;
	rc = veld__sync_text(s, WARNINGS_KEY, buf, cap);
	if (rc == VELD_ENOTFOUND) {
		veld__err_clear();
		rc = VELD_OK;
	} else if (rc == VELD_OK && buf[0]) {
		rc = veld__sync_set_text(s, WARNINGS_KEY, "");
	}
	return veld__step_end(s, &step, rc);
}
