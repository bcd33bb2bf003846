/* apply.c - what a device does with a pulled page (docs/protocol.md,
 * GET /v1/pull): check every operation against its signed batch, erase the
 * clients the office erased, keep the team's field policy, open the team
 * keys and key envelopes addressed to it, merge, and save the page's
 * cursors, all in one transaction: a page that fails a check changes
 * nothing, and an interrupted sync resumes without loss or duplicates.
 *
 * Sync state in the store: pull_cursor, env_cursor and erase_cursor (where
 * the next pull starts). Each function is one step on the store
 * (syncstate.h); client.c drives HTTP. */
#include "devsync.h"
#include "auth.h"
#include "error.h"
#include "policy.h"
#include "records.h"
#include "retention.h"
#include "syncstate.h"

#include <stdio.h>
#include <string.h>

int veld__sync_cursors(veld_store *s, uint64_t *after, uint64_t *env_after,
                       uint64_t *erase_after)
{
	struct veld__step step;
	int rc = veld__step_begin(s, &step, 0);
	if (rc)
		return rc;
	if ((rc = veld__sync_u64(s, "pull_cursor", after)) == VELD_OK &&
	    (rc = veld__sync_u64(s, "env_cursor", env_after)) == VELD_OK)
		rc = veld__sync_u64(s, "erase_cursor", erase_after);
	return veld__step_end(s, &step, rc);
}

/* The office's signing key, which erasures and field policies must carry:
 * this store's own in the office, else the one pinned at enrollment. */
static int office_sign_pk(veld_store *s, uint8_t pk[32])
{
	if (veld__store_is_office(s)) {
		memcpy(pk, veld__store_sign_pk(s), 32);
		return VELD_OK;
	}
	return veld__sync_bytes(s, "office_sign_pk", pk, 32);
}

/* The signing key of an author: this device's own; the office's, pinned at
 * enrollment, which the server cannot replace; others come from the page
 * (and are remembered as peers). NULL if the page's key is not acceptable. */
static const uint8_t *author_key(veld_store *s, const struct veld__pull_resp *p,
                                 const uint8_t device[VELD_ID_BYTES], uint8_t pinned[32])
{
	uint8_t office[VELD_ID_BYTES];
	const uint8_t *given = NULL;
	for (size_t i = 0; i < p->nauthors; i++)
		if (memcmp(p->authors[i].device, device, VELD_ID_BYTES) == 0)
			given = p->authors[i].sign_pk;
	if (memcmp(device, veld__store_device(s), VELD_ID_BYTES) == 0)
		return veld__store_sign_pk(s);
	if (veld__sync_bytes(s, "office_device", office, VELD_ID_BYTES) == VELD_OK &&
	    memcmp(office, device, VELD_ID_BYTES) == 0 && office_sign_pk(s, pinned) == VELD_OK) {
		veld__err_clear();
		return given && sodium_memcmp(given, pinned, 32) == 0 ? pinned : NULL;
	}
	veld__err_clear();
	return given;
}

/* The operation's hash must be its batch's entry. VELD_ENOTFOUND if no
 * batch of the page holds it. */
static int op_in_batch(const struct veld__pull_resp *p, const veld__op *op)
{
	for (size_t b = 0; b < p->nbatches; b++) {
		const struct veld__batch *bt = &p->batches[b];
		if (memcmp(bt->device, op->device, VELD_ID_BYTES) != 0 || op->seq < bt->first ||
		    op->seq > bt->last)
			continue;
		if (sodium_memcmp(bt->hashes + (op->seq - bt->first) * VELD_HASH_BYTES, op->hash,
		                  VELD_HASH_BYTES) != 0)
			return veld__err(VELD_EPROTO, "pulled operation %llu does not match its signed "
			                 "batch", (unsigned long long)op->seq);
		return VELD_OK;
	}
	return veld__err(VELD_EPROTO, "pulled operation %llu is not in any signed batch",
	                 (unsigned long long)op->seq);
}

/* Check every batch signature and every operation against its batch. The
 * decoder hashed each operation's canonical re-encoding. */
static int verify_page(veld_store *s, const struct veld__pull_resp *p)
{
	int rc;
	for (size_t b = 0; b < p->nbatches; b++) {
		const struct veld__batch *bt = &p->batches[b];
		uint8_t msg[77], pinned[32];
		const uint8_t *pk = author_key(s, p, bt->device, pinned);
		if (!pk)
			return veld__err(VELD_EPROTO, "a pulled batch has no trustworthy author key");
		veld__batch_digest(msg, bt->device, bt->first, bt->last, bt->hashes,
		                   (size_t)(bt->last - bt->first + 1));
		if (crypto_sign_verify_detached(bt->sig, msg, sizeof msg, pk) != 0)
			return veld__err(VELD_EPROTO, "a pulled batch's signature does not verify");
	}
	for (size_t i = 0; i < p->nops; i++)
		if ((rc = op_in_batch(p, &p->ops[i])) != VELD_OK)
			return rc;
	return VELD_OK;
}

static int store_batches(veld_store *s, const struct veld__pull_resp *p)
{
	const uint8_t *me = veld__store_device(s);
	int rc = VELD_OK;
	for (size_t b = 0; rc == VELD_OK && b < p->nbatches; b++) {
		const struct veld__batch *bt = &p->batches[b];
		if (memcmp(bt->device, me, VELD_ID_BYTES) != 0)
			rc = veld__batch_keep(s, bt->device, bt->first, bt->last, bt->sig, bt->hashes);
	}
	for (size_t a = 0; rc == VELD_OK && a < p->nauthors; a++)
		if (memcmp(p->authors[a].device, me, VELD_ID_BYTES) != 0)
			rc = veld__peer_set(s, p->authors[a].device, p->authors[a].sign_pk, 1);
	return rc;
}

static int open_team_keys(veld_store *s, const struct veld__pull_resp *p)
{
	uint8_t *sk = veld__secret_new(32);
	int rc = VELD_OK;
	if (!sk)
		return veld__err(VELD_ENOMEM, "out of memory");
	for (size_t i = 0; i < p->nteam_keys && rc == VELD_OK; i++) {
		const struct veld__team_key *tk = &p->team_keys[i];
		if (veld__store_box_open(s, sk, tk->sealed, VELD_SEALED_KEY_BYTES) != 0)
			rc = veld__err(VELD_EPROTO, "a team key sealed for this device does not open");
		else
			rc = veld__team_key_put(s, tk->team, tk->tv, tk->pk, sk);
	}
	veld__secret_free(sk);
	return rc;
}

/* Open one envelope into key. 1 if it is not for this store (another
 * recipient, or a team key version this device never received). *team gets
 * the client's team where the envelope says it. */
static int open_envelope(veld_store *s, const struct veld__envelope *e, uint8_t *sk,
                         uint8_t *key, char team[VELD_TEAM_MAX + 1])
{
	uint8_t pk[32];
	uint64_t tv = e->tv;
	int opened;
	team[0] = 0;
	if (strcmp(e->to, "office") == 0) {
		if (!veld__store_is_office(s))
			return 1;
		opened = veld__store_box_open(s, key, e->sealed, VELD_SEALED_KEY_BYTES) == 0;
	} else if (strncmp(e->to, "team:", 5) == 0) {
		snprintf(team, VELD_TEAM_MAX + 1, "%s", e->to + 5);
		if (veld__team_key_get(s, team, &tv, pk, sk) != VELD_OK || tv != e->tv) {
			veld__err_clear();
			return 1;
		}
		opened = crypto_box_seal_open(key, e->sealed, VELD_SEALED_KEY_BYTES, pk, sk) == 0;
	} else {
		return 1;
	}
	return opened ? VELD_OK
	              : veld__err(VELD_EPROTO, "a key envelope addressed to this device does not open");
}

/* Open the envelopes this store can open and keep their keys; others are
 * skipped: they were not meant for it. */
static int open_envelopes(veld_store *s, const struct veld__pull_resp *p)
{
	uint8_t *sk = veld__secret_new(32), *key = veld__secret_new(32);
	int rc = VELD_OK;
	if (!sk || !key) {
		veld__secret_free(sk);
		veld__secret_free(key);
		return veld__err(VELD_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < p->nenvs && rc == VELD_OK; i++) {
		const struct veld__envelope *e = &p->envs[i];
		char team[VELD_TEAM_MAX + 1];
		int r = open_envelope(s, e, sk, key, team);
		if (r == 1)
			continue;
		if ((rc = r) != VELD_OK)
			break;
		if (!team[0]) { /* the office: the client's team from its record, if known */
			uint8_t ent[VELD_ID_BYTES];
			char t[VELD_TEAM_MAX + 1], hex[33];
			veld__hex(hex, e->client, VELD_ID_BYTES);
			if (veld__resolve(s, "client", hex, ent, NULL, t, NULL) == VELD_OK)
				snprintf(team, sizeof team, "%s", t);
			veld__err_clear();
		}
		rc = veld__client_key_put(s, e->client, e->kv, team, key);
	}
	veld__secret_free(sk);
	veld__secret_free(key);
	return rc;
}

/* Own operations up to here may lose their values under the field policy:
 * the server acknowledged them in answer to a push that carried them. */
static int removable_seq(veld_store *s, uint64_t *seq)
{
	uint64_t acked = 0, pushed = 0;
	int rc;
	if ((rc = veld__sync_u64(s, "acked_seq", &acked)) == VELD_OK &&
	    (rc = veld__sync_u64(s, "policy_seq", &pushed)) == VELD_OK)
		*seq = acked < pushed ? acked : pushed;
	return rc;
}

/* The team's field policy a page brings: checked against the office's
 * pinned key, kept if newer than the one held, and applied to what this
 * store holds. *widened: it lets through a field the old one kept at the
 * office, which this device must now pull again. */
static int take_policy(veld_store *s, const struct veld__pull_resp *p, int *widened)
{
	const struct veld__field_policy *np = &p->policy;
	const char *team = veld__store_team(s);
	uint64_t at = 0, acked = 0;
	uint32_t old = veld__policy_default;
	uint8_t office_pk[32];
	int rc;
	*widened = 0;
	if (!p->has_policy || veld__store_is_office(s))
		return VELD_OK;
	if (strcmp(np->team, team) != 0)
		return veld__err(VELD_EPROTO, "a pulled field policy is for another team");
	if ((rc = office_sign_pk(s, office_pk)) != VELD_OK)
		return rc;
	if (veld__policy_sig_verify(office_pk, np->team, np->at, np->mask, np->sig) != 0)
		return veld__err(VELD_EPROTO, "a pulled field policy does not carry the office's"
		                 " signature");
	if ((rc = veld__policy_get(s, team, &at, &old, NULL)) == VELD_ENOTFOUND) {
		veld__err_clear();
		rc = VELD_OK;
	}
	if (rc != VELD_OK || np->at <= at) /* not newer: the one held stays */
		return rc;
	if ((rc = veld__policy_put(s, team, np->at, np->mask, np->sig)) != VELD_OK ||
	    (rc = removable_seq(s, &acked)) != VELD_OK)
		return rc;
	*widened = (np->mask & ~old) != 0;
	return veld__policy_enforce(s, team, np->mask, acked, NULL);
}

/* Erase every client the office erased; only with the office's signature,
 * so the server cannot have a client destroyed. */
static int take_erasures(veld_store *s, const struct veld__pull_resp *p)
{
	uint8_t office_pk[32];
	int rc;
	if (p->nerased == 0)
		return VELD_OK;
	if ((rc = office_sign_pk(s, office_pk)) != VELD_OK)
		return rc;
	for (size_t i = 0; i < p->nerased; i++) {
		const struct veld__erasure *x = &p->erased[i];
		if (veld__erase_sig_verify(office_pk, x->client, x->at, x->sig) != 0)
			return veld__err(VELD_EPROTO, "a pulled erasure does not carry the office's"
			                 " signature");
		if ((rc = veld__client_erased_notice(s, x->client)) != VELD_OK)
			return rc;
	}
	return VELD_OK;
}

/* Merge the page's operations. */
static int merge_ops(veld_store *s, const struct veld__pull_resp *p, uint64_t *applied)
{
	uint32_t mask = veld__policy_mask(s);
	int rc;
	for (size_t i = 0; i < p->nops; i++) {
		const veld__op *op = &p->ops[i];
		int a = 0;
		/* This device is the authority on its own operations; it only
		 * takes back a value the field policy made it remove. */
		if (memcmp(op->device, veld__store_device(s), VELD_ID_BYTES) == 0) {
			if (op->value && (veld__policy_bit(op->kind, op->field) & mask) &&
			    (rc = veld__own_value_restore(s, op)) != VELD_OK)
				return rc;
			continue;
		}
		/* A field the team's policy keeps at the office is not kept
		 * here, even if a server sends it. */
		if (veld__policy_bit(op->kind, op->field) & ~mask)
			continue;
		if ((rc = veld__store_merge(s, op, &a)) != VELD_OK)
			return rc;
		*applied += (uint64_t)a;
		veld__store_clock_seen(s, op->hlc);
	}
	return VELD_OK;
}

int veld__sync_apply_page(veld_store *s, const struct veld__pull_resp *p, uint64_t *applied)
{
	struct veld__step step;
	int widened = 0, rc;
	*applied = 0;
	if ((rc = veld__step_begin(s, &step, VELD_STEP_KEYS | VELD_STEP_WRITE)) != VELD_OK)
		return rc;
	/* Erasures first, so the merge drops the erased clients' operations on
	 * this page; team keys before envelopes: a page may bring both. */
	if ((rc = verify_page(s, p)) == VELD_OK && (rc = take_erasures(s, p)) == VELD_OK &&
	    (rc = take_policy(s, p, &widened)) == VELD_OK && (rc = open_team_keys(s, p)) == VELD_OK &&
	    (rc = open_envelopes(s, p)) == VELD_OK && (rc = store_batches(s, p)) == VELD_OK &&
	    (rc = merge_ops(s, p, applied)) == VELD_OK) {
		/* A widened policy: pull the team's operations again from the
		 * start (what is held already is skipped), for the fields now let
		 * through. */
		if ((rc = veld__sync_set_u64(s, "pull_cursor", widened ? 0 : p->next)) == VELD_OK &&
		    (rc = veld__sync_set_u64(s, "env_cursor", p->env_next)) == VELD_OK)
			rc = veld__sync_set_u64(s, "erase_cursor", p->erase_next);
	}
	/* Erased content out of the WAL, as veld_client_erase does. */
	step.checkpoint = p->nerased > 0;
	rc = veld__step_end(s, &step, rc);
	if (rc != VELD_OK)
		*applied = 0;
	return rc;
}

int veld__sync_policy_enforce(veld_store *s)
{
	struct veld__step step;
	uint64_t acked = 0;
	uint32_t mask;
	int rc = veld__step_begin(s, &step, VELD_STEP_KEYS | VELD_STEP_WRITE);
	if (rc)
		return rc;
	mask = veld__policy_mask(s);
	/* The office, or a store that follows no policy, removes nothing. */
	if (mask != VELD_POLICY_ALL && (rc = removable_seq(s, &acked)) == VELD_OK)
		rc = veld__policy_enforce(s, veld__store_team(s), mask, acked, NULL);
	return veld__step_end(s, &step, rc);
}
