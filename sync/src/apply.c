/* apply.c - what a device does with a pulled page (docs/protocol.md,
 * GET /v1/pull), trusting the server with nothing it cannot prove.
 *
 * In one transaction, in this order:
 *  1. The page's cursors: every item above the cursor asked for, in
 *     increasing order, and `next` the last one given, so a server can
 *     neither replay an old page nor move a cursor past what it delivers.
 *  2. Notices, each signed by the office (pinned at enrollment), numbered
 *     per team without a gap: certificates of devices, revocations,
 *     erasures, the team's field policy.
 *  3. Team keys, signed by the office.
 *  4. The operation feed, in cursor order: operations, and stubs of those
 *     this device may not see. Each checked against its author's signed
 *     batch; each author's sequence without a gap (a stub fills a place but
 *     must say why it is withheld, and the reason must hold here). An
 *     operation of a device the office has not certified yet, whose key is
 *     not here yet, or stamped ahead of this device's clock waits (pending);
 *     one whose value fails the writer's checks, or of a revoked device
 *     after its last accepted seq, is kept aside (quarantine). Neither
 *     enters the state; both are reported.
 *  5. Operations that waited and can go on now: their authors certified
 *     (the batch kept checked with the certified key), their time come.
 *  6. Key envelopes, each signed by its author, by the rules of
 *     docs/security.md (version 1 from the client's creator, seen in a
 *     verified operation, or the office; later versions from the office;
 *     never a second key for a version); envelopes that waited. If a key
 *     came, the operations that waited for it.
 *  7. The team's checkpoint, signed by the office; the page's cursors.
 * A page that fails a check the server is to blame for changes nothing
 * (VELD_EPROTO); a fault of one author's never stops the others. When what
 * the server left out may lie behind the cursor (a gap in an author's
 * seqs, or what the office's checkpoint counts), the operation feed is
 * pulled again from the start at the next sync (pull_again). */
#include "devsync.h"
#include "auth.h"
#include "error.h"
#include "hlc.h"
#include "kinds.h"
#include "policy.h"
#include "records.h"
#include "retention.h"
#include "syncstate.h"
#include "trust.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int veld__sync_cursors(veld_store *s, uint64_t *after, uint64_t *env_after,
                       uint64_t *notice_after)
{
	struct veld__step step;
	int rc = veld__step_begin(s, &step, 0);
	if (rc)
		return rc;
	if ((rc = veld__sync_u64(s, "pull_cursor", after)) == VELD_OK &&
	    (rc = veld__sync_u64(s, "env_cursor", env_after)) == VELD_OK)
		rc = veld__sync_u64(s, "notice_cursor", notice_after);
	return veld__step_end(s, &step, rc);
}

/* ---- whom a device trusts ------------------------------------------------------- */

/* The office's signing key: this store's own in the office, else the one
 * pinned at enrollment (proven by the invite code). */
int veld__office_sign_pk(veld_store *s, uint8_t pk[32])
{
	if (veld__store_is_office(s)) {
		memcpy(pk, veld__store_sign_pk(s), 32);
		return VELD_OK;
	}
	return veld__sync_bytes(s, "office_sign_pk", pk, 32);
}

static int is_office_device(veld_store *s, const uint8_t device[VELD_ID_BYTES])
{
	uint8_t office[VELD_ID_BYTES];
	int rc = veld__sync_bytes(s, "office_device", office, VELD_ID_BYTES);
	veld__err_clear();
	return rc == VELD_OK && memcmp(office, device, VELD_ID_BYTES) == 0;
}

int veld__author_trust(veld_store *s, const uint8_t device[VELD_ID_BYTES],
                       struct veld__author_trust *t)
{
	int rc;
	memset(t, 0, sizeof *t);
	if (memcmp(device, veld__store_device(s), VELD_ID_BYTES) == 0) {
		t->office = veld__store_is_office(s);
		memcpy(t->pk, veld__store_sign_pk(s), 32);
		return VELD_OK;
	}
	if ((t->office = is_office_device(s, device)))
		return veld__office_sign_pk(s, t->pk);
	if ((rc = veld__cert_get(s, device, &t->cert)) == VELD_ENOTFOUND) {
		veld__err_clear();
		t->uncertified = 1;
		return VELD_OK;
	}
	if (rc == VELD_OK)
		memcpy(t->pk, t->cert.sign_pk, 32);
	return rc;
}

int veld__trusted_key(veld_store *s, const uint8_t device[VELD_ID_BYTES], uint8_t pk[32],
                      struct veld__cert *cert)
{
	struct veld__author_trust t;
	int rc = veld__author_trust(s, device, &t);
	if (rc == VELD_OK && t.uncertified)
		rc = veld__cert_get(s, device, &t.cert); /* its VELD_ENOTFOUND and message */
	if (rc != VELD_OK)
		return rc;
	memcpy(pk, t.pk, 32);
	if (cert)
		*cert = t.cert;
	return VELD_OK;
}

/* ---- 1. cursors ------------------------------------------------------------------ */

/* A feed's cursors on the page: above `after`, increasing, and `next` the
 * last of them (or `after` with none). The operation feed has four lists
 * (operations, stubs, held, own runs), merged in; the others one. */
static int feed_cursors(const char *feed, uint64_t after, uint64_t next,
                        const uint64_t *const lists[4], const size_t counts[4])
{
	uint64_t last = after;
	for (int l = 0; l < 4; l++) {
		uint64_t prev = after;
		for (size_t i = 0; i < counts[l]; i++) {
			if (lists[l][i] <= prev)
				return veld__err(VELD_EPROTO, "the server's %s are not in increasing cursor"
				                 " order above the cursor asked for (a replayed or reordered"
				                 " page)", feed);
			prev = lists[l][i];
			if (prev > last)
				last = prev;
		}
	}
	if (next != last)
		return veld__err(VELD_EPROTO, "the server moved the cursor of its %s to another place"
		                 " than the last one it delivered", feed);
	return VELD_OK;
}

static int check_cursors(const struct veld__pull_resp *p, const struct veld__apply_ctx *c)
{
	const uint64_t *ops[4] = {p->cursors, p->stub_cursors, p->held_cursors, p->own_cursors};
	const size_t nops[4] = {p->nops, p->nstubs, p->nheld, p->nown};
	const uint64_t *envs[4] = {p->env_cursors, NULL, NULL, NULL};
	const size_t nenvs[4] = {p->nenvs, 0, 0, 0};
	const uint64_t *notices[4] = {p->notice_cursors, NULL, NULL, NULL};
	const size_t nnotices[4] = {p->nnotices, 0, 0, 0};
	int rc;
	if ((rc = feed_cursors("operations", c->after, p->next, ops, nops)) == VELD_OK &&
	    (rc = feed_cursors("key envelopes", c->env_after, p->env_next, envs, nenvs)) == VELD_OK)
		rc = feed_cursors("notices", c->notice_after, p->notice_next, notices, nnotices);
	return rc;
}

/* ---- 2. notices -------------------------------------------------------------------- */

/* The own seq up to which the team's current field policy was enforced
 * (veld__sync_policy_enforce); 0 = never, or not since a notice. Absent in
 * a store from before it was kept: then the next push enforces it all. */
#define POLICY_DONE "policy_done_seq"

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

/* The team's field policy from a notice: applied to what this store holds.
 * st->repull: it lets through a field the old one kept at the office, which
 * this device must now pull again. */
static int take_policy(veld_store *s, const struct veld__notice *n,
                       const struct veld__notice_body *b, struct veld__apply_state *st)
{
	uint64_t at = 0, acked = 0;
	uint32_t old = veld__policy_default;
	int rc;
	if ((rc = veld__policy_get(s, n->team, &at, &old, NULL)) == VELD_ENOTFOUND) {
		veld__err_clear();
		rc = VELD_OK;
	}
	if (rc != VELD_OK || (rc = veld__policy_put(s, n->team, n->at, b->mask, n->sig)) != VELD_OK)
		return rc;
	if (veld__store_is_office(s) || strcmp(n->team, veld__store_team(s)) != 0)
		return VELD_OK;
	if ((b->mask & ~old) != 0) {
		st->repull = 1;
		/* Own values come back with their operations: whole, not as runs. */
		if ((rc = veld__sync_set_u64(s, VELD__OWN_WHOLE, 1)) != VELD_OK)
			return rc;
	}
	if ((rc = removable_seq(s, &acked)) != VELD_OK ||
	    (rc = veld__policy_enforce(s, n->team, b->mask, acked, NULL)) != VELD_OK)
		return rc;
	return veld__sync_set_u64(s, POLICY_DONE, acked);
}

/* A version of the record schema: in force from now if it follows the one
 * in force. One held already (the office, hearing its own notice to each
 * team) must be the same document. */
static int take_schema(veld_store *s, const struct veld__notice *n,
                       const struct veld__notice_body *b, struct veld__apply_state *st)
{
	int rc, same;
	if (b->version <= s->schema->version) {
		if ((rc = veld__schema_held(s, b->version, (const char *)b->doc, b->doc_len, &same)) != VELD_OK)
			return rc;
		return same || b->version < s->schema->version
		       ? VELD_OK
		       : veld__err(VELD_EPROTO, "the office published two schemas as version %llu",
		                   (unsigned long long)b->version);
	}
	if ((rc = veld__schema_adopt(s, (const char *)b->doc, b->doc_len, n->at)) == VELD_OK)
		st->schema = 1;
	if (rc == VELD_EINVAL) {
		/* The office checks this before it signs; a device refuses it
		 * too rather than make its own records invalid. */
		char why[300];
		snprintf(why, sizeof why, "%s", veld_error_last());
		return veld__err(VELD_EPROTO, "the office's record schema version %llu does not follow"
		                 " the one in force: %s", (unsigned long long)b->version, why);
	}
	return rc;
}

static int take_cert(veld_store *s, const struct veld__notice *n, const struct veld__notice_body *b)
{
	struct veld__cert c, held;
	int rc = veld__cert_get(s, b->id, &held);
	if (rc == VELD_OK) /* the office certifies a device once */
		return sodium_memcmp(held.sign_pk, b->sign_pk, 32) == 0 &&
		       sodium_memcmp(held.box_pk, b->box_pk, 32) == 0 && strcmp(held.team, n->team) == 0
		       ? VELD_OK
		       : veld__err(VELD_EPROTO, "the office certified one device twice with other keys");
	if (rc != VELD_ENOTFOUND)
		return rc;
	memset(&c, 0, sizeof c);
	memcpy(c.device, b->id, VELD_ID_BYTES);
	snprintf(c.team, sizeof c.team, "%s", n->team);
	snprintf(c.role, sizeof c.role, "%s", b->role);
	memcpy(c.sign_pk, b->sign_pk, 32);
	memcpy(c.box_pk, b->box_pk, 32);
	c.enrolled = b->enrolled;
	return veld__cert_put(s, &c);
}

/* One notice: the office's signature, its place in the team's numbering,
 * what it says. */
static int take_notice(veld_store *s, const struct veld__notice *n, const uint8_t office_pk[32],
                       struct veld__apply_state *st)
{
	struct veld__notice_body b;
	struct veld__notice_row row;
	uint64_t last = 0, pushed = 0;
	size_t removed = 0;
	int rc;
	if (veld__notice_sig_verify(office_pk, n->team, n->n, n->kind, n->at, n->body, n->body_len,
	                            n->sig) != 0)
		return veld__err(VELD_EPROTO, "a pulled notice does not carry the office's signature");
	if (!veld__store_is_office(s) && strcmp(n->team, veld__store_team(s)) != 0)
		return veld__err(VELD_EPROTO, "the server sent a notice for another team");
	if ((rc = veld__wire_notice_body_decode(n->kind, n->body, n->body_len, &b)) != VELD_OK ||
	    (rc = veld__notice_last(s, n->team, &last)) != VELD_OK)
		return rc;
	if (n->n <= last)
		return VELD_OK; /* held already: notices are applied once */
	if (n->n != last + 1)
		return veld__err(VELD_EPROTO, "the server left out notices %llu to %llu of the office",
		                 (unsigned long long)(last + 1), (unsigned long long)(n->n - 1));
	switch (b.kind) {
	case VELD_NOTICE_CERT: rc = take_cert(s, n, &b); break;
	case VELD_NOTICE_REVOKE:
		/* What a withheld revocation let in left the state: what it
		 * contradicted is pulled again (trust.h). */
		if ((rc = veld__cert_revoke(s, b.id, b.last_seq, &removed)) == VELD_OK && removed)
			st->repull = 1;
		break;
	case VELD_NOTICE_ERASE:
		if ((rc = veld__client_erased_notice(s, b.id)) == VELD_OK)
			st->erased = 1;
		break;
	case VELD_NOTICE_MOVE:
		/* The office keeps the old client (it forwards what still comes
		 * for it, veld__office_forward); a worker removes it as an
		 * erasure, keeping own operations the server does not hold yet
		 * until they are pushed. */
		if (!veld__store_is_office(s) && (rc = veld__sync_u64(s, "policy_seq", &pushed)) ==
		    VELD_OK && (rc = veld__client_moved_notice(s, b.id, pushed)) == VELD_OK)
			st->erased = 1;
		break;
	case VELD_NOTICE_SCHEMA: rc = take_schema(s, n, &b, st); break;
	default: rc = take_policy(s, n, &b, st);
	}
	if (rc != VELD_OK)
		return rc;
	memset(&row, 0, sizeof row);
	snprintf(row.team, sizeof row.team, "%s", n->team);
	row.n = n->n;
	snprintf(row.kind, sizeof row.kind, "%s", n->kind);
	row.at = n->at;
	row.body = n->body;
	row.body_len = n->body_len;
	memcpy(row.sig, n->sig, 64);
	return veld__notice_put(s, &row);
}

static int take_notices(veld_store *s, const struct veld__pull_resp *p,
                        struct veld__apply_state *st)
{
	uint8_t office_pk[32];
	int rc = VELD_OK;
	if (p->nnotices && (rc = veld__office_sign_pk(s, office_pk)) != VELD_OK)
		return rc;
	for (size_t i = 0; rc == VELD_OK && i < p->nnotices; i++)
		rc = take_notice(s, &p->notices[i], office_pk, st);
	return rc;
}

/* ---- 3. team keys -------------------------------------------------------------------- */

/* 1 if this device holds the team key already, with that public half (a
 * page carries the team's keys every time; the one held was checked when
 * it came); 0 if not; a negative code on a store failure. A key of a
 * version held with another public half goes through every check. */
static int team_key_held(veld_store *s, const struct veld__team_key *tk)
{
	uint8_t pk[32];
	uint64_t tv = tk->tv;
	int rc;
	if (tv == 0)
		return 0;
	if ((rc = veld__team_key_get(s, tk->team, &tv, pk, NULL)) == VELD_ENOTFOUND) {
		veld__err_clear();
		return 0;
	}
	if (rc != VELD_OK)
		return rc;
	return tv == tk->tv && sodium_memcmp(pk, tk->pk, 32) == 0;
}

static int take_team_keys(veld_store *s, const struct veld__pull_resp *p)
{
	uint8_t office_pk[32], *sk;
	int rc = VELD_OK;
	if (p->nteam_keys == 0)
		return VELD_OK;
	if ((rc = veld__office_sign_pk(s, office_pk)) != VELD_OK)
		return rc;
	if (!(sk = veld__secret_new(32)))
		return veld__err(VELD_ENOMEM, "out of memory");
	for (size_t i = 0; i < p->nteam_keys && rc == VELD_OK; i++) {
		const struct veld__team_key *tk = &p->team_keys[i];
		if ((rc = team_key_held(s, tk)) != 0) {
			rc = rc > 0 ? VELD_OK : rc; /* checked when it came */
			continue;
		}
		if (veld__team_key_sig_verify(office_pk, tk->team, tk->tv, tk->pk, tk->sig) != 0)
			rc = veld__err(VELD_EPROTO, "a pulled team key does not carry the office's"
			               " signature");
		else if (!veld__store_is_office(s) && strcmp(tk->team, veld__store_team(s)) != 0)
			rc = veld__err(VELD_EPROTO, "the server sent a key of another team");
		else if (veld__store_box_open(s, sk, tk->sealed, VELD_SEALED_KEY_BYTES) != 0)
			rc = veld__err(VELD_EPROTO, "a team key sealed for this device does not open");
		else
			rc = veld__team_key_put(s, tk->team, tk->tv, tk->pk, sk);
	}
	veld__secret_free(sk);
	return rc;
}

/* ---- 4. the operation feed --------------------------------------------------------- */

/* What the page's checks learn once: each batch's author as trusted here
 * (a batch is verified with its author's certified key, or waits for the
 * certificate), and each author's last seq seen, saved after the feed. */
struct author_seen {
	uint8_t device[VELD_ID_BYTES];
	uint64_t seen;
	int dirty;
};
struct page_trust {
	struct veld__author_trust *batch; /* one per batch of the page */
	unsigned char *used;              /* per batch: an item of the page is in it */
	struct author_seen *seen;         /* at most one per batch */
	size_t nseen;
	int gap; /* an author's seq the server left out */
};

static int verify_batches(veld_store *s, const struct veld__pull_resp *p, struct page_trust *t)
{
	for (size_t b = 0; b < p->nbatches; b++) {
		const struct veld__batch *bt = &p->batches[b];
		uint8_t msg[77];
		int rc = veld__author_trust(s, bt->device, &t->batch[b]);
		if (rc != VELD_OK)
			return rc;
		if (t->batch[b].uncertified)
			continue;
		if (bt->ver < 1 || bt->ver > VELD_OP_VERSION)
			return veld__err(VELD_EPROTO, "a pulled batch has an unknown version");
		veld__batch_digest(msg, (uint32_t)bt->ver, bt->device, bt->first, bt->last, bt->hashes,
		                   (size_t)(bt->last - bt->first + 1));
		if (crypto_sign_verify_detached(bt->sig, msg, sizeof msg, t->batch[b].pk) != 0)
			return veld__err(VELD_EPROTO, "a pulled batch does not carry its author's signature");
	}
	return VELD_OK;
}

/* The batch of the page holding (device, seq), or -1. */
static long find_batch(const struct veld__pull_resp *p, const uint8_t device[VELD_ID_BYTES],
                       uint64_t seq)
{
	for (size_t b = 0; b < p->nbatches; b++)
		if (memcmp(p->batches[b].device, device, VELD_ID_BYTES) == 0 &&
		    seq >= p->batches[b].first && seq <= p->batches[b].last)
			return (long)b;
	return -1;
}

/* The item's hash must be its batch's entry. */
static int in_batch(const struct veld__pull_resp *p, long b, uint64_t seq, const uint8_t hash[32])
{
	if (b < 0)
		return veld__err(VELD_EPROTO, "pulled operation %llu is not in any signed batch",
		                 (unsigned long long)seq);
	if (sodium_memcmp(p->batches[b].hashes + (seq - p->batches[b].first) * VELD_HASH_BYTES, hash,
	                  VELD_HASH_BYTES) != 0)
		return veld__err(VELD_EPROTO, "pulled operation %llu does not match its signed batch",
		                 (unsigned long long)seq);
	return VELD_OK;
}

/* Each author's sequence arrives without a gap; an item already seen is
 * fine (a widened policy pulls again from the start). The last seq seen is
 * read once per author and saved after the feed (save_seen). */
static int contiguous(veld_store *s, struct page_trust *t, const uint8_t device[VELD_ID_BYTES],
                      uint64_t seq)
{
	struct author_seen *a = NULL;
	int rc;
	if (memcmp(device, veld__store_device(s), VELD_ID_BYTES) == 0)
		return VELD_OK;
	for (size_t i = 0; !a && i < t->nseen; i++)
		if (memcmp(t->seen[i].device, device, VELD_ID_BYTES) == 0)
			a = &t->seen[i];
	if (!a) { /* every item is in a batch of the page: at most one per batch */
		a = &t->seen[t->nseen];
		memset(a, 0, sizeof *a);
		memcpy(a->device, device, VELD_ID_BYTES);
		if ((rc = veld__author_seen(s, device, &a->seen)) != VELD_OK)
			return rc;
		t->nseen++;
	}
	if (seq <= a->seen)
		return VELD_OK;
	if (seq != a->seen + 1) {
		t->gap = 1;
		return veld__err(VELD_EPROTO, "the server left out operations %llu to %llu of a device",
		                 (unsigned long long)(a->seen + 1), (unsigned long long)(seq - 1));
	}
	a->seen = seq;
	a->dirty = 1;
	return VELD_OK;
}

static int save_seen(veld_store *s, const struct page_trust *t)
{
	int rc = VELD_OK;
	for (size_t i = 0; rc == VELD_OK && i < t->nseen; i++)
		if (t->seen[i].dirty)
			rc = veld__author_set(s, t->seen[i].device, t->seen[i].seen);
	return rc;
}

/* The reason a stub or held item is withheld must hold here: a stub is of
 * another team's operation (only the office writes across teams) or an
 * erased client's; a held item is of a field the team's policy keeps at the
 * office. A version 1 operation (veld 0.1) has no layers: its stub shows the
 * whole hash, cannot bind its team, and may also stand for a held field
 * (docs/security.md says what that leaves open). VELD_EPROTO if the reason
 * does not hold: the server withholds without one. */
static int withheld_for_a_reason(veld_store *s, const struct veld__feed_item *it)
{
	const veld__op *op = &it->op;
	int erased, other, held, office = veld__store_is_office(s);
	uint32_t holds = VELD_POLICY_ALL & ~veld__policy_mask(s);
	if (it->what == VELD_ITEM_HELD) {
		if (!(veld__policy_bit(op->kind, op->field) & holds))
			return veld__err(VELD_EPROTO, "the server withholds a field of operation %llu that"
			                 " this team's policy lets through", (unsigned long long)op->seq);
		return VELD_OK;
	}
	if ((erased = veld__store_is_erased(s, op->client)) < 0)
		return erased;
	other = !office && strcmp(op->team, veld__store_team(s)) != 0;
	held = op->version < 2 && !office && holds != 0;
	if (!erased && !other && !held)
		return veld__err(VELD_EPROTO, "the server withholds operation %llu of a client of"
		                 " this team without a reason (no erasure, not another team, no"
		                 " field held by the policy)", (unsigned long long)op->seq);
	return VELD_OK;
}

/* Whether an operation can be applied now: VELD_OK (go on), or what it
 * waits for (*wait) or why it is kept aside (*quarantine, a rule, never a
 * value). */
static int op_verdict(veld_store *s, const veld__op *op, const struct veld__author_trust *who,
                      uint64_t skew_ms, enum veld__wait *wait, const char **quarantine)
{
	const struct veld__cert *c = &who->cert;
	const uint8_t *key;
	int rc;
	*wait = 0;
	*quarantine = NULL;
	if (who->uncertified) {
		*wait = VELD_WAIT_CERT;
		return VELD_OK;
	}
	if (c->revoked && op->seq > c->revoked_seq) {
		*quarantine = VELD_REVOKED_REASON;
		return VELD_OK;
	}
	if (!who->office && c->team[0] && strcmp(c->team, op->team) != 0) {
		*quarantine = "written by a device of another team";
		return VELD_OK;
	}
	/* A deletion carries no value; every other field does. */
	if (!op->value != (strcmp(op->field, VELD_TOMBSTONE_FIELD) == 0)) {
		*quarantine = op->value ? "a deletion that carries a value" : "a field without a value";
		return VELD_OK;
	}
	if ((op->hlc >> 16) > veld__hlc_now_ms() + skew_ms) {
		*wait = VELD_WAIT_TIME;
		return VELD_OK;
	}
	if (!op->value)
		return VELD_OK;
	if ((rc = veld__client_key(s, op->client, op->kv, &key)) == VELD_ENOTFOUND) {
		veld__err_clear();
		*wait = VELD_WAIT_KEY;
		return VELD_OK;
	}
	if (rc != VELD_OK)
		return rc;
	if ((rc = veld__op_value_check(s, op, key, quarantine)) == VELD_OK &&
	    *quarantine == veld__newer_schema) {
		/* Its writer may have held a record schema this device has not
		 * yet: it waits for a new version's notice, or until the office's
		 * checkpoint shows no such version exists (pending.c). The office
		 * makes every version: for it there is none to wait for. */
		if (veld__store_is_office(s)) {
			*quarantine = "a value its writer's checks refuse";
		} else {
			*quarantine = NULL;
			*wait = VELD_WAIT_SCHEMA;
		}
	}
	return rc;
}

/* Merge an operation that passed op_verdict, or put it where it belongs;
 * `who` its author (NULL: looked up here). */
static int apply_op(veld_store *s, const veld__op *op, const struct veld__author_trust *who,
                   uint64_t skew_ms, struct veld__apply_report *r)
{
	struct veld__author_trust own;
	const char *quarantine;
	enum veld__wait wait;
	int a = 0, rc = VELD_OK;
	if (!who && (rc = veld__author_trust(s, op->device, &own)) == VELD_OK)
		who = &own;
	if (rc == VELD_OK)
		rc = op_verdict(s, op, who, skew_ms, &wait, &quarantine);
	if (rc == VELD_ESHREDDED) { /* an erased client: its operations are dropped */
		veld__err_clear();
		return VELD_OK;
	}
	if (rc != VELD_OK)
		return rc;
	if (quarantine) {
		r->quarantined++;
		return veld__quarantine_op(s, op, quarantine);
	}
	if (wait) {
		r->pending++;
		return veld__pending_op_put(s, op, wait);
	}
	/* A signed operation that contradicts what is held here (another kind,
	 * client or team for a record, a second operation for one seq) is its
	 * author's fault: kept aside, the rest goes on. */
	if ((rc = veld__store_merge(s, op, &a)) == VELD_ECORRUPT || rc == VELD_EINVAL) {
		veld__err_clear();
		r->quarantined++;
		return veld__quarantine_op(s, op, VELD_CONTRADICTS_REASON);
	}
	if (rc != VELD_OK)
		return rc;
	r->applied += (uint64_t)a;
	veld__store_clock_seen(s, op->hlc);
	return VELD_OK;
}

int veld__take_item(veld_store *s, const struct veld__feed_item *it,
                    const struct veld__author_trust *who, uint64_t skew_ms,
                    struct veld__apply_report *r)
{
	const veld__op *op = &it->op;
	uint32_t mask = veld__policy_mask(s);
	if (it->what != VELD_ITEM_OP)
		return withheld_for_a_reason(s, it);
	/* This device is the authority on its own operations; it only takes
	 * back a value the field policy made it remove. */
	if (memcmp(op->device, veld__store_device(s), VELD_ID_BYTES) == 0)
		return op->value && (veld__policy_bit(op->kind, op->field) & mask)
		       ? veld__own_value_restore(s, op) : VELD_OK;
	/* A field the team's policy keeps at the office is not kept here, even
	 * if a server sends it; nor the office's writes for another team. */
	if (veld__policy_bit(op->kind, op->field) & ~mask)
		return VELD_OK;
	if (who && who->office && !veld__store_is_office(s) &&
	    strcmp(op->team, veld__store_team(s)) != 0)
		return VELD_OK;
	return apply_op(s, op, who, skew_ms, r);
}

/* An item of the page, in its signed batch. An author's items arrive
 * without a gap and are taken; an author the office has not certified yet
 * proves nothing: its items are kept as they came, touch nothing else, and
 * are taken in seq order when the certificate comes (pending.c). */
static int take_page_item(veld_store *s, const struct veld__pull_resp *p, struct page_trust *t,
                          const struct veld__feed_item *it, const struct veld__apply_ctx *c,
                          struct veld__apply_report *r)
{
	const veld__op *op = &it->op;
	long b = find_batch(p, op->device, op->seq);
	int rc;
	if ((rc = in_batch(p, b, op->seq, op->hash)) != VELD_OK)
		return rc;
	if (it->what == VELD_ITEM_OP ? p->batches[b].ver != op->version
	                             : it->what == VELD_ITEM_HELD && p->batches[b].ver < 2)
		return veld__err(VELD_EPROTO, "pulled operation %llu is not of its batch's version",
		                 (unsigned long long)op->seq);
	t->used[b] = 1;
	if (t->batch[b].uncertified) {
		r->pending++;
		return veld__pending_item_put(s, it, VELD_WAIT_CERT);
	}
	if ((rc = contiguous(s, t, op->device, op->seq)) != VELD_OK)
		return rc;
	return veld__take_item(s, it, &t->batch[b], c->skew_ms, r);
}

/* The feed's stubs and held items as the items they stand for: the
 * operation's hash from the layers they show. */
static void stub_item(const struct veld__pull_resp *p, const struct veld__stub *x,
                      struct veld__feed_item *it)
{
	long b = find_batch(p, x->device, x->seq);
	memset(it, 0, sizeof *it);
	it->what = VELD_ITEM_STUB;
	memcpy(it->op.device, x->device, VELD_ID_BYTES);
	it->op.seq = x->seq;
	it->op.version = b >= 0 ? (uint32_t)p->batches[b].ver : 1;
	snprintf(it->op.team, sizeof it->op.team, "%s", x->team);
	memcpy(it->op.client, x->client, VELD_ID_BYTES);
	memcpy(it->layer, x->kh, VELD_HASH_BYTES);
	if (it->op.version >= 2)
		veld__op_hash2(x->team, x->client, x->kh, it->op.hash);
	else
		memcpy(it->op.hash, x->kh, VELD_HASH_BYTES);
}

static void held_item(const struct veld__held *x, struct veld__feed_item *it)
{
	uint8_t kh[VELD_HASH_BYTES];
	memset(it, 0, sizeof *it);
	it->what = VELD_ITEM_HELD;
	memcpy(it->op.device, x->device, VELD_ID_BYTES);
	it->op.seq = x->seq;
	it->op.version = 2;
	snprintf(it->op.team, sizeof it->op.team, "%s", x->team);
	memcpy(it->op.client, x->client, VELD_ID_BYTES);
	snprintf(it->op.kind, sizeof it->op.kind, "%s", x->kind);
	snprintf(it->op.field, sizeof it->op.field, "%s", x->field);
	memcpy(it->layer, x->rh, VELD_HASH_BYTES);
	veld__op_kind_hash(x->kind, x->field, x->rh, kh);
	veld__op_hash2(x->team, x->client, kh, it->op.hash);
}

/* Authors whose seq moved on this page and who have items waiting for it. */
static int release_gaps(veld_store *s, const struct page_trust *t, const struct veld__apply_ctx *c,
                        struct veld__apply_report *r)
{
	uint64_t n;
	int gaps, rc = VELD_OK;
	for (size_t i = 0; rc == VELD_OK && i < t->nseen; i++)
		if (t->seen[i].dirty &&
		    (rc = veld__held_count(s, t->seen[i].device, &n, &gaps)) == VELD_OK && gaps)
			rc = veld__release_held(s, t->seen[i].device, c, r);
	return rc;
}

/* A page's batches: each holds an item of the page (a server's extra
 * batch is refused); those of authors not certified yet are kept for when
 * the certificate comes, and what waits of each is bounded. */
static int batches_after_feed(veld_store *s, const struct veld__pull_resp *p,
                              const struct page_trust *t)
{
	uint64_t n;
	int gaps, rc = VELD_OK;
	for (size_t b = 0; rc == VELD_OK && b < p->nbatches; b++) {
		const struct veld__batch *bt = &p->batches[b];
		if (!t->used[b])
			return veld__err(VELD_EPROTO, "the server sent a signed batch no item of the page"
			                 " is in");
		if (!t->batch[b].uncertified)
			continue;
		if ((rc = veld__batch_keep(s, bt->device, bt->first, bt->last, bt->sig, bt->hashes,
		                           (uint32_t)bt->ver)) == VELD_OK &&
		    (rc = veld__held_count(s, bt->device, &n, &gaps)) == VELD_OK &&
		    n > VELD_HELD_MAX)
			rc = veld__err(VELD_EPROTO, "the server sends more than %d operations of a device"
			               " the office has not certified", VELD_HELD_MAX);
	}
	return rc;
}

/* The three lists of the operation feed in cursor order. */
static int take_feed(veld_store *s, const struct veld__pull_resp *p, struct page_trust *t,
                     const struct veld__apply_ctx *c, struct veld__apply_report *r)
{
	struct veld__feed_item it;
	size_t i = 0, j = 0, k = 0;
	int rc = VELD_OK;
	while (rc == VELD_OK && (i < p->nops || j < p->nstubs || k < p->nheld)) {
		uint64_t ci = i < p->nops ? p->cursors[i] : UINT64_MAX;
		uint64_t cj = j < p->nstubs ? p->stub_cursors[j] : UINT64_MAX;
		uint64_t ck = k < p->nheld ? p->held_cursors[k] : UINT64_MAX;
		if (ci <= cj && ci <= ck) {
			it.what = VELD_ITEM_OP;
			it.op = p->ops[i++];
		} else if (cj <= ck) {
			stub_item(p, &p->stubs[j++], &it);
		} else {
			held_item(&p->held[k++], &it);
		}
		rc = take_page_item(s, p, t, &it, c, r);
	}
	if (rc == VELD_OK && (rc = save_seen(s, t)) == VELD_OK &&
	    (rc = batches_after_feed(s, p, t)) == VELD_OK)
		rc = release_gaps(s, t, c, r);
	return rc;
}

/* Authors the office certified since their items came: taken now, before
 * the page's own items of them. */
struct release_ctx {
	uint8_t (*devices)[VELD_ID_BYTES];
	size_t n, cap;
};

static int collect_author(const uint8_t device[VELD_ID_BYTES], void *arg)
{
	struct release_ctx *x = arg;
	if (x->n == x->cap) {
		size_t cap = x->cap ? 2 * x->cap : 8;
		uint8_t (*g)[VELD_ID_BYTES] = realloc(x->devices, cap * sizeof *g);
		if (!g)
			return veld__err(VELD_ENOMEM, "out of memory");
		x->devices = g;
		x->cap = cap;
	}
	memcpy(x->devices[x->n++], device, VELD_ID_BYTES);
	return VELD_OK;
}

static int release_certified(veld_store *s, const struct veld__apply_ctx *c,
                             struct veld__apply_report *r)
{
	struct release_ctx x = {NULL, 0, 0};
	int rc = veld__held_authors(s, collect_author, &x);
	for (size_t i = 0; rc == VELD_OK && i < x.n; i++)
		rc = veld__release_held(s, x.devices[i], c, r);
	free(x.devices);
	return rc;
}

/* ---- 5. key envelopes ---------------------------------------------------------------- */

/* Where an envelope may be opened here: *team the team it is sealed to
 * ("" for the office's own), or 0 if this store is not a recipient. */
static int envelope_recipient(veld_store *s, const struct veld__pending_env *e,
                              char team[VELD_TEAM_MAX + 1])
{
	team[0] = 0;
	if (strcmp(e->to, "office") == 0)
		return veld__store_is_office(s);
	if (strncmp(e->to, "team:", 5) != 0)
		return 0; /* a recipient this version does not know */
	snprintf(team, VELD_TEAM_MAX + 1, "%s", e->to + 5);
	return veld__store_is_office(s) || strcmp(team, veld__store_team(s)) == 0;
}

/* The rules of docs/security.md for who may give which key version, given
 * the author's certificate: NULL (go on), or why it goes to quarantine;
 * *wait if it waits for the client's creation to be seen. */
static int envelope_rule(veld_store *s, const struct veld__pending_env *e, int office,
                         const struct veld__cert *c, const char *team, const char **why,
                         enum veld__wait *wait)
{
	int created;
	*why = NULL;
	*wait = 0;
	if (office)
		return VELD_OK;
	if (c->revoked)
		*why = "sealed by a revoked device";
	else if (team[0] && strcmp(c->team, team) != 0)
		*why = "sealed by a device of another team";
	else if (e->kv > 1)
		*why = "a later key version not from the office";
	else if ((created = veld__client_creator(s, e->client, e->author)) < 0)
		return created;
	else if (!created)
		*wait = VELD_WAIT_CREATOR;
	return VELD_OK;
}

/* Open the envelope with the office's box key or the team key version it
 * is sealed to, into key: VELD_OK, 1 (does not open), or *wait. */
static int envelope_open(veld_store *s, const struct veld__pending_env *e, const char *team,
                         uint8_t *key, enum veld__wait *wait)
{
	uint8_t tpk[32], *sk;
	uint64_t tv = e->tv;
	int rc;
	if (!team[0])
		return veld__store_box_open(s, key, e->sealed, VELD_SEALED_KEY_BYTES) == 0 ? VELD_OK : 1;
	if (!(sk = veld__secret_new(32)))
		return veld__err(VELD_ENOMEM, "out of memory");
	if ((rc = veld__team_key_get(s, team, &tv, tpk, sk)) == VELD_ENOTFOUND || tv != e->tv) {
		veld__err_clear();
		*wait = VELD_WAIT_TEAMKEY; /* a version this device did not receive yet */
		rc = VELD_OK;
	} else if (rc == VELD_OK) {
		rc = crypto_box_seal_open(key, e->sealed, VELD_SEALED_KEY_BYTES, tpk, sk) == 0 ? VELD_OK : 1;
	}
	veld__secret_free(sk);
	return rc;
}

int veld__apply_envelope(veld_store *s, const struct veld__pending_env *e, int waited,
                         struct veld__apply_report *r)
{
	const char *why = NULL;
	enum veld__wait wait = 0;
	struct veld__author_trust who;
	const struct veld__cert *c = &who.cert;
	uint8_t *key = NULL;
	char team[VELD_TEAM_MAX + 1];
	int rc;

	if (!envelope_recipient(s, e, team))
		return VELD_OK;
	if ((rc = veld__author_trust(s, e->author, &who)) != VELD_OK)
		return rc;
	if (who.uncertified) {
		r->pending++;
		return veld__pending_env_put(s, e, VELD_WAIT_CERT);
	}
	if (veld__envelope_sig_verify(who.pk, e->author, e->client, e->kv, e->to, e->tv, e->sealed,
	                              e->sig) != 0) {
		/* Only the server can have made it. One that came on this page
		 * refuses the page; one that waited for its author's certificate
		 * is dropped: the page now did not bring it. */
		if (!waited)
			return veld__err(VELD_EPROTO, "a key envelope does not carry its author's"
			                 " signature");
		r->forged++;
		return VELD_OK;
	}
	if ((rc = envelope_rule(s, e, who.office, c, team, &why, &wait)) != VELD_OK)
		return rc;
	if (!why && !wait) {
		if (!(key = veld__secret_new(32)))
			return veld__err(VELD_ENOMEM, "out of memory");
		if ((rc = envelope_open(s, e, team, key, &wait)) == 1)
			why = "does not open";
		else if (rc != VELD_OK)
			goto out;
	}
	if (why) {
		r->quarantined++;
		rc = veld__quarantine_env(s, e->author, e->client, e->kv, why);
	} else if (wait) {
		r->pending++;
		rc = veld__pending_env_put(s, e, wait);
	} else {
		/* The office: the client's team from the certificate. */
		rc = veld__client_key_put(s, e->client, e->kv, team[0] || who.office ? team : c->team,
		                          key);
		if (rc == VELD_OK) {
			r->keys++;
		} else if (rc == VELD_EEXISTS) {
			veld__err_clear();
			r->quarantined++;
			rc = veld__quarantine_env(s, e->author, e->client, e->kv,
			                          "another key for a version held here");
		} else if (rc == VELD_ESHREDDED) {
			veld__err_clear();
			rc = VELD_OK;
		}
	}
out:
	veld__secret_free(key);
	return rc;
}

static int take_envelopes(veld_store *s, const struct veld__pull_resp *p,
                          struct veld__apply_report *r)
{
	int rc = VELD_OK;
	for (size_t i = 0; rc == VELD_OK && i < p->nenvs; i++) {
		const struct veld__envelope *w = &p->envs[i];
		struct veld__pending_env e;
		if (memcmp(w->from, veld__store_device(s), VELD_ID_BYTES) == 0)
			continue; /* this device's own, sent back */
		memset(&e, 0, sizeof e);
		memcpy(e.client, w->client, VELD_ID_BYTES);
		e.kv = w->kv;
		snprintf(e.to, sizeof e.to, "%s", w->to);
		e.tv = w->tv;
		memcpy(e.sealed, w->sealed, VELD_SEALED_KEY_BYTES);
		memcpy(e.author, w->from, VELD_ID_BYTES);
		memcpy(e.sig, w->sig, 64);
		rc = veld__apply_envelope(s, &e, 0, r);
	}
	return rc;
}

/* ---- 7. the checkpoint ------------------------------------------------------------------ */

/* 1 if the checkpoint is the one this device holds, byte for byte (a page
 * carries the team's latest every time; the one held was checked when it
 * came); 0 if not; a negative code on a store failure. */
static int checkpoint_held(veld_store *s, const struct veld__checkpoint *cp)
{
	struct veld__checkpoint_row row;
	uint8_t *buf = malloc(cp->heads_len ? cp->heads_len : 1);
	int rc, same;
	if (!buf)
		return veld__err(VELD_ENOMEM, "out of memory");
	rc = veld__checkpoint_get(s, cp->team, &row, buf, cp->heads_len);
	same = rc == VELD_OK && row.at == cp->at && row.n == cp->n &&
	       row.heads_len == cp->heads_len && memcmp(row.sig, cp->sig, 64) == 0 &&
	       (cp->heads_len == 0 || memcmp(buf, cp->heads, cp->heads_len) == 0);
	free(buf);
	if (rc == VELD_ENOTFOUND || rc == VELD_ECORRUPT) { /* none, or another size */
		veld__err_clear();
		return 0;
	}
	return rc != VELD_OK ? rc : same;
}

static int take_checkpoint(veld_store *s, const struct veld__pull_resp *p, uint64_t skew_ms)
{
	const struct veld__checkpoint *cp = &p->checkpoint;
	struct veld__checkpoint_row row;
	uint8_t office_pk[32];
	uint64_t held_at = 0;
	int rc;
	if (!p->has_checkpoint || veld__store_is_office(s))
		return VELD_OK;
	if ((rc = checkpoint_held(s, cp)) != 0)
		return rc > 0 ? VELD_OK : rc; /* checked when it came */
	if ((rc = veld__office_sign_pk(s, office_pk)) != VELD_OK)
		return rc;
	if (veld__checkpoint_sig_verify(office_pk, cp->team, cp->at, cp->n, cp->heads, cp->heads_len,
	                                cp->sig) != 0)
		return veld__err(VELD_EPROTO, "a pulled checkpoint does not carry the office's signature");
	if (strcmp(cp->team, veld__store_team(s)) != 0 || cp->heads_len % 24 != 0)
		return veld__err(VELD_EPROTO, "a pulled checkpoint is not this team's or is malformed");
	if (cp->at > veld__hlc_now_ms() + skew_ms)
		return veld__err(VELD_EPROTO, "a pulled checkpoint is dated ahead of this device's clock");
	if ((rc = veld__checkpoint_date(s, cp->team, &held_at)) != VELD_OK && rc != VELD_ENOTFOUND)
		return rc;
	if (rc == VELD_OK && held_at >= cp->at)
		return VELD_OK; /* not newer: the one held stays */
	memset(&row, 0, sizeof row);
	snprintf(row.team, sizeof row.team, "%s", cp->team);
	row.at = cp->at;
	row.n = cp->n;
	row.heads = cp->heads;
	row.heads_len = cp->heads_len;
	memcpy(row.sig, cp->sig, 64);
	return veld__checkpoint_put(s, &row);
}

/* ---- the page ----------------------------------------------------------------------- */

static int apply_all(veld_store *s, const struct veld__pull_resp *p,
                     const struct veld__apply_ctx *c, struct veld__apply_report *r,
                     struct veld__apply_state *st)
{
	struct page_trust t = {0};
	size_t n = p->nbatches ? p->nbatches : 1;
	int rc;
	t.batch = calloc(n, sizeof *t.batch);
	t.used = calloc(n, 1);
	t.seen = calloc(n, sizeof *t.seen);
	if (!t.batch || !t.used || !t.seen)
		rc = veld__err(VELD_ENOMEM, "out of memory");
	else if ((rc = check_cursors(p, c)) == VELD_OK && (rc = take_notices(s, p, st)) == VELD_OK &&
	         (rc = take_team_keys(s, p)) == VELD_OK && (rc = verify_batches(s, p, &t)) == VELD_OK &&
	         (rc = release_certified(s, c, r)) == VELD_OK &&
	         (rc = take_feed(s, p, &t, c, r)) == VELD_OK &&
	         (rc = veld__own_runs_check(s, p)) == VELD_OK &&
	         (rc = veld__own_returned(s, p, c->after)) == VELD_OK &&
	         (rc = veld__retry_ops(s, c, st->schema ? 2 : 0, r)) == VELD_OK &&
	         (rc = take_envelopes(s, p, r)) == VELD_OK && (rc = veld__retry_envs(s, r)) == VELD_OK &&
	         (rc = r->keys ? veld__retry_ops(s, c, 1, r) : VELD_OK) == VELD_OK)
		rc = take_checkpoint(s, p, c->skew_ms);
	st->op_gap = t.gap;
	free(t.batch);
	free(t.used);
	free(t.seen);
	return rc;
}

/* The server left out an author's operation that may lie behind this
 * device's cursor (passed on an earlier page that showed another author's
 * item after it; the gap shows at the author's next seq, or the office's
 * checkpoint counts it): the operation feed is pulled again from the start
 * at the next sync (what is held is skipped), so it comes once the server
 * hands it out. Otherwise the device would stay refused for good. (A notice
 * cannot be passed so: the notices a device gets are all its team's,
 * numbered without a gap, and `notice_next` is the last one delivered.)
 * Keeps the refusal's code and message. */
static int pull_again(veld_store *s, int rc)
{
	struct veld__step step;
	char msg[512];
	int r;
	snprintf(msg, sizeof msg, "%s", veld_error_last());
	if ((r = veld__step_begin(s, &step, VELD_STEP_WRITE)) != VELD_OK)
		return r;
	r = veld__sync_set_u64(s, "pull_cursor", 0);
	if ((r = veld__step_end(s, &step, r)) != VELD_OK)
		return r;
	return veld__err(rc, "%s", msg);
}

int veld__sync_apply_page(veld_store *s, const struct veld__pull_resp *p,
                          const struct veld__apply_ctx *c, struct veld__apply_report *r)
{
	struct veld__apply_state st = {0, 0, 0, 0};
	struct veld__step step;
	int rc;
	memset(r, 0, sizeof *r);
	if ((rc = veld__step_begin(s, &step, VELD_STEP_KEYS | VELD_STEP_WRITE)) != VELD_OK)
		return rc;
	if ((rc = apply_all(s, p, c, r, &st)) == VELD_OK &&
	    /* Pull the team's operations again from the start (what is held
	     * already is skipped): for the fields a widened policy lets
	     * through, or what a revocation's operations contradicted. */
	    (rc = veld__sync_set_u64(s, "pull_cursor", st.repull ? 0 : p->next)) == VELD_OK &&
	    (rc = veld__sync_set_u64(s, "env_cursor", p->env_next)) == VELD_OK)
		rc = veld__sync_set_u64(s, "notice_cursor", p->notice_next);
	/* Erased content out of the WAL, as veld_client_erase does. */
	step.checkpoint = st.erased;
	r->repull = st.repull;
	rc = veld__step_end(s, &step, rc);
	if (rc != VELD_OK)
		memset(r, 0, sizeof *r);
	if (rc == VELD_EPROTO && st.op_gap)
		rc = pull_again(s, rc);
	return rc;
}

/* After a push: what the server now holds of fields the policy keeps at
 * the office leaves this device. Everything else is enforced already (a
 * notice enforces the whole store, and what arrives is filtered as it
 * comes: veld__take_item), so only the own operations confirmed since the
 * last time are looked at; a sync costs what it pushed, not the history. */
int veld__sync_policy_enforce(veld_store *s)
{
	struct veld__step step;
	uint64_t acked = 0, done = 0;
	uint8_t b[8];
	uint32_t mask;
	int rc = veld__step_begin(s, &step, VELD_STEP_KEYS | VELD_STEP_WRITE), found;
	if (rc)
		return rc;
	mask = veld__policy_mask(s);
	/* The office, or a store that follows no policy, removes nothing. */
	if (mask == VELD_POLICY_ALL || (rc = removable_seq(s, &acked)) != VELD_OK)
		return veld__step_end(s, &step, rc);
	/* As veld__sync_set_u64 writes it: 8 bytes, big-endian. */
	rc = veld__sync_bytes(s, POLICY_DONE, b, sizeof b);
	if ((found = rc == VELD_OK))
		done = veld__be64_get(b);
	else if (rc == VELD_ENOTFOUND)
		veld__err_clear();
	else
		return veld__step_end(s, &step, rc);
	rc = VELD_OK;
	if (!found)
		rc = veld__policy_enforce(s, veld__store_team(s), mask, acked, NULL);
	else if (acked > done)
		rc = veld__policy_enforce_own(s, veld__store_team(s), mask, done, acked, NULL);
	if (rc == VELD_OK && (!found || acked > done))
		rc = veld__sync_set_u64(s, POLICY_DONE, acked);
	return veld__step_end(s, &step, rc);
}

/* ---- after a pull: did the server deliver what the office holds? ------------------------- */

/* Every author the checkpoint names must have arrived here as far as the
 * office holds it, and every notice it counts. */
static int checkpoint_covered(veld_store *s, const struct veld__checkpoint_row *cp,
                              struct veld__apply_state *st)
{
	uint64_t last = 0, seen;
	int rc;
	if ((rc = veld__notice_last(s, cp->team, &last)) != VELD_OK)
		return rc;
	if (last < cp->n)
		return veld__err(VELD_EPROTO, "the server withholds notices %llu to %llu of the office"
		                 " (the office's checkpoint counts them)", (unsigned long long)(last + 1),
		                 (unsigned long long)cp->n);
	for (size_t i = 0; i + 24 <= cp->heads_len; i += 24) {
		const uint8_t *dev = cp->heads + i;
		uint64_t head = veld__be64_get(cp->heads + i + VELD_ID_BYTES);
		if (memcmp(dev, veld__store_device(s), VELD_ID_BYTES) == 0)
			continue;
		if ((rc = veld__author_seen(s, dev, &seen)) != VELD_OK)
			return rc;
		if (seen < head) {
			st->op_gap = 1;
			return veld__err(VELD_EPROTO, "the server withholds operations %llu to %llu of a"
			                 " device (the office's checkpoint holds them)",
			                 (unsigned long long)(seen + 1), (unsigned long long)head);
		}
	}
	return VELD_OK;
}

int veld__sync_checkpoint_check(veld_store *s, uint64_t max_age_ms, struct veld__freshness *f)
{
	struct veld__checkpoint_row cp;
	struct veld__apply_state st = {0, 0, 0, 0};
	struct veld__step step;
	uint8_t *buf = malloc(24 * VELD_WIRE_MAX_HEADS);
	uint64_t now = veld__hlc_now_ms();
	int rc;
	memset(f, 0, sizeof *f);
	if (!buf)
		return veld__err(VELD_ENOMEM, "out of memory");
	if ((rc = veld__step_begin(s, &step, VELD_STEP_KEYS)) != VELD_OK) {
		free(buf);
		return rc;
	}
	if (!veld__store_is_office(s)) {
		rc = veld__checkpoint_get(s, veld__store_team(s), &cp, buf, 24 * VELD_WIRE_MAX_HEADS);
		if (rc == VELD_ENOTFOUND) {
			f->stale = 1; /* the office never vouched for what this device has */
			rc = VELD_OK;
		} else if (rc == VELD_OK) {
			f->has = 1;
			f->at = cp.at;
			f->age_ms = now > cp.at ? now - cp.at : 0;
			f->stale = f->age_ms > max_age_ms;
			rc = checkpoint_covered(s, &cp, &st);
		}
	}
	rc = veld__step_end(s, &step, rc);
	if (rc == VELD_OK && f->has && (rc = veld__step_begin(s, &step, VELD_STEP_KEYS | VELD_STEP_WRITE)) == VELD_OK)
		rc = veld__step_end(s, &step, veld__settle_schema_waits(s, cp.heads, cp.heads_len));
	free(buf);
	if (rc == VELD_EPROTO && st.op_gap)
		rc = pull_again(s, rc);
	return rc;
}
