/* auditsync.c - the access log's way to the office (docs/protocol.md,
 * POST /v1/audit and GET /v1/audit).
 *
 * Every device pushes its own access-log entries, each sealed to the
 * office's box key (pinned at enrollment) and signed with the device's
 * signing key; the server stores them without being able to read them. The
 * office pulls them, checks each one and keeps a copy in `office_audit`.
 * The device's own log and its keyed hash chain stay as they are: the chain
 * key never leaves the device, so the office relies on the signatures and on
 * every device's entries arriving in seq order without gaps.
 *
 * Like the rest of the device side, each function is one step on the store
 * (syncstate.h); client.c drives HTTP. */
#include "devsync.h"
#include "audit.h"
#include "auth.h"
#include "error.h"
#include "syncstate.h"

#include <limits.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* sealed = epk (32) || XChaCha20-Poly1305 ciphertext and tag (16). */
#define SEAL_OVERHEAD (32 + crypto_aead_xchacha20poly1305_ietf_ABYTES)

/* The key of one push's entries: BLAKE2b-256 of "veld-audit-key-v1" ||
 * X25519(esk, office_pk) || epk || office_pk, for the ephemeral key pair
 * (epk, esk) of that push; `shared` is that X25519, which the office gets as
 * X25519(office secret key, epk). Wipes `shared`. */
static void entry_key_derive(uint8_t key[32], uint8_t shared[32], const uint8_t epk[32],
                             const uint8_t office_pk[32])
{
	crypto_generichash_state h;
	crypto_generichash_init(&h, NULL, 0, 32);
	crypto_generichash_update(&h, (const uint8_t *)"veld-audit-key-v1", 17);
	crypto_generichash_update(&h, shared, 32);
	crypto_generichash_update(&h, epk, 32);
	crypto_generichash_update(&h, office_pk, 32);
	crypto_generichash_final(&h, key, 32);
	sodium_memzero(shared, 32);
}

/* Nonce 16 zero bytes || BE64(seq): unique, as a push's key is its own and
 * its entries' seqs differ. Associated data "veld-audit-v1" || device ||
 * BE64(seq) ties the entry to its place. */
static void entry_nonce_ad(uint8_t nonce[24], uint8_t ad[37], const uint8_t device[VELD_ID_BYTES],
                           uint64_t seq)
{
	memset(nonce, 0, 24);
	memcpy(ad, "veld-audit-v1", 13);
	memcpy(ad + 13, device, VELD_ID_BYTES);
	veld__be64_put(ad + 29, seq);
	memcpy(nonce + 16, ad + 29, 8);
}

/* ---- device: push ------------------------------------------------------- */

static int sbuf_write(void *data, const char *buf, size_t len)
{
	return msgpack_sbuffer_write(data, buf, len);
}

/* What one push's entries are sealed with: its ephemeral public key and
 * the derived key; `out` and `mem` where the next entry goes. */
struct sealer {
	veld_store *s;
	uint8_t epk[32], key[32];
	struct veld__audit_push_req *req;
	uint8_t *mem;
};

/* Pack, pad and seal one entry row for the office under the push's key;
 * sign it. */
static int seal_entry(const struct veld__audit_row *row, void *arg)
{
	struct sealer *x = arg;
	struct veld__audit_entry *e = &x->req->entries[x->req->n];
	const uint8_t *device = veld__store_device(x->s);
	uint8_t nonce[24], ad[37];
	msgpack_sbuffer sb;
	msgpack_packer pk;
	uint8_t padded[VELD_AUDIT_SEALED_MAX];
	uint8_t msg[VELD_AUDIT_SIG_MSG];
	char purpose[VELD_PURPOSE_MAX + 1];
	size_t plen = 0;
	int rc = VELD_OK;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, sbuf_write);
	e->seq = row->seq;
	/* An entry written before purposes were cut goes out cut the same way. */
	veld__purpose_cut(purpose, row->purpose);
	veld__audit_pack(&pk, e->seq, row->at, row->event, row->outcome,
	                 row->client[0] ? row->client : NULL, row->user, row->role, row->device,
	                 purpose);
	if (!sb.data || sb.size + VELD_PAD_BLOCK + SEAL_OVERHEAD > VELD_AUDIT_SEALED_MAX ||
	    sodium_pad(&plen, memcpy(padded, sb.data, sb.size), sb.size, VELD_PAD_BLOCK,
	               sizeof padded - SEAL_OVERHEAD) != 0) {
		rc = sb.data ? veld__err(VELD_EINVAL, "access-log entry %llu is too long to send",
		                         (unsigned long long)e->seq)
		             : veld__err(VELD_ENOMEM, "out of memory");
		goto out;
	}
	entry_nonce_ad(nonce, ad, device, e->seq);
	memcpy(x->mem, x->epk, 32);
	crypto_aead_xchacha20poly1305_ietf_encrypt(x->mem + 32, NULL, padded, plen, ad, sizeof ad,
	                                           NULL, nonce, x->key);
	e->sealed = x->mem;
	e->sealed_len = plen + SEAL_OVERHEAD;
	veld__audit_sig_message(msg, device, e->seq, e->sealed, e->sealed_len);
	veld__store_sign(x->s, e->sig, msg, sizeof msg);
	x->mem += VELD_AUDIT_SEALED_MAX;
	x->req->n++;
out:
	sodium_memzero(padded, sizeof padded);
	if (sb.data)
		sodium_memzero(sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

/* The sealer of a new push: a fresh ephemeral key pair, one X25519 with
 * the office's key for all its entries. */
static int sealer_init(struct sealer *x, const uint8_t office_pk[32])
{
	uint8_t esk[32], shared[32];
	int rc = VELD_OK;
	crypto_box_keypair(x->epk, esk);
	if (crypto_scalarmult(shared, esk, office_pk) != 0)
		rc = veld__err(VELD_ECORRUPT, "the office key this store holds is not usable");
	else
		entry_key_derive(x->key, shared, x->epk, office_pk);
	sodium_memzero(esk, sizeof esk);
	return rc;
}

int veld__audit_next_push(veld_store *s, size_t max, struct veld__audit_outbox *out)
{
	struct veld__step step;
	struct sealer x;
	uint8_t office_pk[32];
	uint64_t acked = 0;
	uint8_t *mem;
	int rc;

	memset(out, 0, sizeof *out);
	memset(&x, 0, sizeof x);
	if (max == 0 || max > VELD_WIRE_MAX_AUDIT)
		max = VELD_WIRE_MAX_AUDIT;
	if ((rc = veld__step_begin(s, &step, VELD_STEP_KEYS)) != VELD_OK)
		return rc;
	if ((rc = veld__sync_bytes(s, "office_box_pk", office_pk, 32)) != VELD_OK) {
		if (rc == VELD_ENOTFOUND)
			rc = veld__err(VELD_ENOTFOUND, "this store has no office key: enroll it first");
		goto out;
	}
	if ((rc = veld__sync_u64(s, "audit_acked", &acked)) != VELD_OK ||
	    (rc = sealer_init(&x, office_pk)) != VELD_OK)
		goto out;
	mem = calloc(1, max * (sizeof *out->req.entries + VELD_AUDIT_SEALED_MAX));
	if (!(out->mem = mem)) {
		rc = veld__err(VELD_ENOMEM, "out of memory");
		goto out;
	}
	out->req.entries = (struct veld__audit_entry *)mem;
	x.s = s;
	x.req = &out->req;
	x.mem = mem + max * sizeof *out->req.entries;
	rc = veld__audit_rows(s, acked, max, seal_entry, &x);
out:
	sodium_memzero(&x, sizeof x);
	if (rc != VELD_OK)
		veld__audit_outbox_free(out);
	return veld__step_end(s, &step, rc);
}

void veld__audit_outbox_free(struct veld__audit_outbox *o)
{
	free(o->mem);
	memset(o, 0, sizeof *o);
}

int veld__audit_acked(veld_store *s, uint64_t *acked)
{
	return veld__sync_u64_step(s, "audit_acked", acked);
}

int veld__audit_pending(veld_store *s, uint64_t *n)
{
	struct veld__step step;
	uint64_t acked = 0;
	int rc = veld__step_begin(s, &step, 0);
	if (rc)
		return rc;
	*n = 0;
	if ((rc = veld__sync_u64(s, "audit_acked", &acked)) == VELD_OK)
		*n = veld__store_audit_seq(s) > acked ? veld__store_audit_seq(s) - acked : 0;
	return veld__step_end(s, &step, rc);
}

int veld__audit_set_acked(veld_store *s, uint64_t acked)
{
	struct veld__step step;
	int rc = veld__step_begin(s, &step, VELD_STEP_WRITE);
	if (rc)
		return rc;
	if (acked > veld__store_audit_seq(s))
		rc = veld__err(VELD_EPROTO, "the server acknowledged access-log entries up to %llu,"
		               " but this store has only %llu", (unsigned long long)acked,
		               (unsigned long long)veld__store_audit_seq(s));
	else
		rc = veld__sync_set_u64(s, "audit_acked", acked);
	return veld__step_end(s, &step, rc);
}

/* ---- office: pull ------------------------------------------------------------ */

/* The marks of waiting devices the office has certified since they came:
 * the cursor goes back to just below the first entry of each that was passed
 * over, so the pull brings those entries again, now to be checked (entries of
 * other devices that come again are compared with those held). */
static int resume_certified(veld_store *s, uint64_t *after)
{
	struct veld__audit_mark *m = NULL;
	size_t n = 0;
	uint64_t cursor = *after;
	int rc = veld__audit_marks_all(s, &m, &n);
	for (size_t i = 0; rc == VELD_OK && i < n; i++) {
		uint8_t key[32];
		if (m[i].state != VELD_AUDIT_WAITING)
			continue;
		if ((rc = veld__trusted_key(s, m[i].device, key, NULL)) == VELD_ENOTFOUND) {
			veld__err_clear();
			rc = VELD_OK;
			continue;
		}
		if (rc == VELD_OK && (rc = veld__audit_mark_del(s, m[i].device)) == VELD_OK &&
		    m[i].resume < cursor)
			cursor = m[i].resume;
	}
	free(m);
	if (rc == VELD_OK && cursor != *after && (rc = veld__sync_set_u64(s, "audit_cursor",
	                                                                  cursor)) == VELD_OK)
		*after = cursor;
	return rc;
}

int veld__audit_cursor(veld_store *s, uint64_t *after)
{
	struct veld__step step;
	int rc = veld__step_begin(s, &step, VELD_STEP_WRITE);
	if (rc)
		return rc;
	if ((rc = veld__sync_u64(s, "audit_cursor", after)) == VELD_OK && veld__store_is_office(s))
		rc = resume_certified(s, after);
	return veld__step_end(s, &step, rc);
}

/* The key of the push an entry came in, kept for the next entry of the
 * same push (a page holds whole pushes, so this saves an X25519 each). */
struct push_key {
	uint8_t epk[32], key[32];
	int ok;
};

/* What the entries of one page go through. */
struct page_work {
	struct push_key pkey;
	struct veld__audit_plain pl;
	struct veld__audit_row rows[2]; /* the entry, the one held under its seq */
	uint64_t kept;                  /* new entries kept */
	long waiting;                   /* devices waiting, -1 until counted */
};

/* Open and decode one entry; check it names its own place. */
static int open_entry(veld_store *s, struct push_key *pk, const struct veld__audit_entry *e,
                      struct veld__audit_plain *pl)
{
	uint8_t padded[VELD_AUDIT_SEALED_MAX], nonce[24], ad[37];
	char dhex[2 * VELD_ID_BYTES + 1];
	size_t plen = 0, n;
	int rc;
	if (e->sealed_len <= SEAL_OVERHEAD || e->sealed_len > VELD_AUDIT_SEALED_MAX)
		return veld__err(VELD_EPROTO, "access-log entry %llu of a device has a bad size",
		                 (unsigned long long)e->seq);
	if (!pk->ok || memcmp(pk->epk, e->sealed, 32) != 0) {
		uint8_t shared[32];
		memcpy(pk->epk, e->sealed, 32);
		pk->ok = veld__store_box_dh(s, shared, pk->epk) == 0;
		if (pk->ok)
			entry_key_derive(pk->key, shared, pk->epk, veld__store_box_pk(s));
		sodium_memzero(shared, sizeof shared);
	}
	entry_nonce_ad(nonce, ad, e->device, e->seq);
	if (!pk->ok || crypto_aead_xchacha20poly1305_ietf_decrypt(padded, NULL, NULL, e->sealed + 32,
	                   e->sealed_len - 32, ad, sizeof ad, nonce, pk->key) != 0)
		return veld__err(VELD_EPROTO, "access-log entry %llu of a device does not open with"
		                 " the office key", (unsigned long long)e->seq);
	n = e->sealed_len - SEAL_OVERHEAD;
	if (sodium_unpad(&plen, padded, n, VELD_PAD_BLOCK) != 0)
		rc = veld__err(VELD_EPROTO, "access-log entry %llu of a device is badly padded",
		               (unsigned long long)e->seq);
	else
		rc = veld__wire_audit_plain_decode(padded, plen, pl);
	sodium_memzero(padded, sizeof padded);
	if (rc != VELD_OK)
		return rc;
	veld__hex(dhex, e->device, VELD_ID_BYTES);
	if (pl->seq != e->seq || strcmp(pl->device, dhex) != 0)
		return veld__err(VELD_EPROTO, "access-log entry %llu of a device was sealed for"
		                 " another place", (unsigned long long)e->seq);
	return VELD_OK;
}

/* An entry its device signed but that does not open or decode here: the
 * device (not the server, which cannot sign for it) sent something broken.
 * It keeps its place in the device's log as this, so one faulty device
 * cannot stop the office from receiving every other entry. */
#define UNREADABLE "unreadable"
/* An entry the office cannot take as genuine: of a device it has not
 * certified and will not (nothing of it can be checked), or signed by its
 * device after the office revoked it. It keeps its place as this, with
 * nothing of what it says (which may be made up), outcome "failure". */
#define UNVERIFIED "unverified"
#define NOT_CERTIFIED "the office did not certify its device, so nothing of it could be" \
                      " checked: not taken as genuine"
#define AFTER_REVOCATION "signed by its device after the office revoked it: not taken as" \
                         " genuine"

static void unreadable_entry(const struct veld__audit_entry *e, struct veld__audit_plain *pl)
{
	memset(pl, 0, sizeof *pl);
	pl->seq = e->seq;
	snprintf(pl->event, sizeof pl->event, "%s", UNREADABLE);
	snprintf(pl->outcome, sizeof pl->outcome, "failure");
	veld__hex(pl->device, e->device, VELD_ID_BYTES);
	snprintf(pl->purpose, sizeof pl->purpose, "signed by its device, but it did not open or"
	         " decode at the office");
}

/* Keep entry `seq` of `device` as unverified, for the reason `why`. */
static int keep_unverified(veld_store *s, const uint8_t device[VELD_ID_BYTES], uint64_t seq,
                           const char *why, struct veld__audit_row *r)
{
	memset(r, 0, sizeof *r);
	r->seq = seq;
	snprintf(r->event, sizeof r->event, "%s", UNVERIFIED);
	snprintf(r->outcome, sizeof r->outcome, "failure");
	snprintf(r->purpose, sizeof r->purpose, "%s", why);
	return veld__office_audit_put(s, device, r);
}

/* Does this entry say anything to compare? */
static int telling(const struct veld__audit_row *r)
{
	return strcmp(r->event, UNREADABLE) != 0 && strcmp(r->event, UNVERIFIED) != 0;
}

/* The plaintext of a checked entry as the office keeps it. */
static void row_of(const struct veld__audit_plain *pl, struct veld__audit_row *r)
{
	memset(r, 0, sizeof *r);
	r->seq = pl->seq;
	r->at = pl->at;
	snprintf(r->event, sizeof r->event, "%s", pl->event);
	snprintf(r->outcome, sizeof r->outcome, "%s", pl->outcome);
	snprintf(r->client, sizeof r->client, "%s", pl->client);
	snprintf(r->user, sizeof r->user, "%s", pl->user);
	snprintf(r->role, sizeof r->role, "%s", pl->role);
	snprintf(r->purpose, sizeof r->purpose, "%s", pl->purpose);
}

static int same_row(const struct veld__audit_row *a, const struct veld__audit_row *b)
{
	return a->at == b->at && strcmp(a->event, b->event) == 0 &&
	       strcmp(a->outcome, b->outcome) == 0 && strcmp(a->client, b->client) == 0 &&
	       strcmp(a->user, b->user) == 0 && strcmp(a->role, b->role) == 0 &&
	       strcmp(a->purpose, b->purpose) == 0;
}

static int gap(const struct veld__audit_entry *e, uint64_t last)
{
	return veld__err(VELD_EPROTO, "access-log entries %llu to %llu of a device are missing"
	                 " from the server's feed", (unsigned long long)(last + 1),
	                 (unsigned long long)(e->seq - 1));
}

/* Keep one checked entry: new if it continues its device's log; an entry
 * held already must be the same; a jump means the server left some out.
 * `held` is scratch space for the entry held. */
static int keep_entry(veld_store *s, const struct veld__audit_entry *e,
                      const struct veld__audit_row *row, struct veld__audit_row *held,
                      uint64_t *kept)
{
	uint64_t last = 0;
	int rc;
	if ((rc = veld__office_audit_last(s, e->device, &last)) != VELD_OK)
		return rc;
	if (e->seq > last + 1)
		return gap(e, last);
	if (e->seq <= last) {
		rc = veld__office_audit_get(s, e->device, e->seq, held);
		if (rc == VELD_ENOTFOUND)
			return veld__err(VELD_ECORRUPT, "the office's copy of a device's access log has"
			                 " a hole");
		if (rc != VELD_OK || !telling(held) || !telling(row))
			return rc; /* nothing to compare with */
		return same_row(held, row) ? VELD_OK
		       : veld__err(VELD_EPROTO, "the server holds two different access-log entries"
		                   " %llu of one device", (unsigned long long)e->seq);
	}
	if ((rc = veld__office_audit_put(s, e->device, row)) == VELD_OK)
		(*kept)++;
	return rc;
}

static int check_sig(const struct veld__audit_entry *e, const uint8_t key[32])
{
	if (veld__audit_sig_verify(key, e->device, e->seq, e->sealed, e->sealed_len, e->sig) != 0)
		return veld__err(VELD_EPROTO, "access-log entry %llu of a device does not carry its"
		                 " device's signature", (unsigned long long)e->seq);
	return VELD_OK;
}

/* Check one entry of a page and keep it. The key is the one the office
 * certified for the entry's device (or its own). */
static int take_entry(veld_store *s, const struct veld__audit_entry *e, const uint8_t key[32],
                      struct page_work *w)
{
	int rc;
	if ((rc = check_sig(e, key)) != VELD_OK)
		return rc;
	if ((rc = open_entry(s, &w->pkey, e, &w->pl)) == VELD_EPROTO) {
		veld__err_clear();
		unreadable_entry(e, &w->pl);
		rc = VELD_OK;
	}
	if (rc != VELD_OK)
		return rc;
	row_of(&w->pl, &w->rows[0]);
	return keep_entry(s, e, &w->rows[0], &w->rows[1], &w->kept);
}

static int count_marks(veld_store *s, int state, long *count)
{
	struct veld__audit_mark *m = NULL;
	size_t n = 0;
	int rc = veld__audit_marks_all(s, &m, &n);
	*count = 0;
	for (size_t i = 0; rc == VELD_OK && i < n; i++)
		*count += m[i].state == state;
	free(m);
	return rc;
}

/* An entry of a device the office has not certified (m: its mark, NULL if
 * none yet), or has certified since the device's entries began to wait
 * (they come again from the mark's cursor, in order): nothing of it can be
 * checked now. It is passed over, and the cursor moves on: one device does
 * not hold up the others. The mark keeps no part of the entry, only where
 * the device's entries start in the feed. With VELD_AUDIT_MARKS_MAX devices
 * waiting, the entry of one more is not passed over: the page stops before
 * it (*stop) and the pull goes on once the office has certified some or
 * given up on them. */
static int set_aside(veld_store *s, const struct veld__audit_entry *e,
                     struct veld__audit_mark *m, struct page_work *w, int *stop)
{
	struct veld__audit_mark fresh;
	int changed = 0, rc;
	if (!m) {
		if (w->waiting < 0 && (rc = count_marks(s, VELD_AUDIT_WAITING, &w->waiting)) != VELD_OK)
			return rc;
		if (w->waiting >= VELD_AUDIT_MARKS_MAX) {
			*stop = 1;
			return VELD_OK;
		}
		memset(&fresh, 0, sizeof fresh);
		memcpy(fresh.device, e->device, VELD_ID_BYTES);
		fresh.state = VELD_AUDIT_WAITING;
		fresh.resume = e->cursor ? e->cursor - 1 : 0;
		fresh.next = 1;
		m = &fresh;
		changed = 1;
		w->waiting++;
	}
	if (e->seq == m->next) {
		m->next++;
		changed = 1;
	}
	if (e->seq > m->top) {
		m->top = e->seq;
		changed = 1;
	}
	return changed ? veld__audit_mark_put(s, m) : VELD_OK;
}

/* An entry of a device the office gave up on (its mark m): kept as
 * unverified if it continues the device's log, up to
 * VELD_AUDIT_UNVERIFIED_MAX entries; anything else of it is passed over
 * (the server may make up what it likes for such a device). */
static int unverifiable_entry(veld_store *s, const struct veld__audit_entry *e,
                              struct veld__audit_mark *m, struct page_work *w)
{
	uint64_t last = 0;
	int rc;
	if (e->seq > m->top) {
		m->top = e->seq;
		if ((rc = veld__audit_mark_put(s, m)) != VELD_OK)
			return rc;
	}
	if ((rc = veld__office_audit_last(s, e->device, &last)) != VELD_OK)
		return rc;
	if (e->seq != last + 1 || last >= VELD_AUDIT_UNVERIFIED_MAX)
		return VELD_OK;
	if ((rc = keep_unverified(s, e->device, e->seq, NOT_CERTIFIED, &w->rows[0])) == VELD_OK)
		w->kept++;
	return rc;
}

/* An entry of a device whose certificate the office revoked (m: its mark,
 * NULL if none yet). Its signature must verify, as for every certified
 * device. The revocation point of an access log is what the office held of
 * it when it revoked the device: seqs of the access log are the device's
 * own (not those of its operations, which the revocation notice counts),
 * and the time inside an entry is the device's word. So an entry held
 * already is compared as ever, and one that is new to the office now was
 * not there at the revocation: it is kept as unverified (up to
 * VELD_AUDIT_UNVERIFIED_MAX after the point), and the mark records the
 * point the first time. */
static int revoked_entry(veld_store *s, const struct veld__audit_entry *e, const uint8_t key[32],
                         struct veld__audit_mark *m, struct page_work *w)
{
	struct veld__audit_mark fresh;
	uint64_t last = 0;
	int rc;
	if ((rc = veld__office_audit_last(s, e->device, &last)) != VELD_OK)
		return rc;
	if (e->seq <= last)
		return take_entry(s, e, key, w);
	if ((rc = check_sig(e, key)) != VELD_OK)
		return rc;
	if (!m) {
		memset(&fresh, 0, sizeof fresh);
		memcpy(fresh.device, e->device, VELD_ID_BYTES);
		fresh.state = VELD_AUDIT_REVOKED;
		fresh.point = last;
		m = &fresh;
	}
	if (m->top < e->seq) {
		m->top = e->seq;
		if ((rc = veld__audit_mark_put(s, m)) != VELD_OK)
			return rc;
	}
	if (last - m->point >= VELD_AUDIT_UNVERIFIED_MAX)
		return VELD_OK;
	if (e->seq > last + 1)
		return gap(e, last);
	if ((rc = keep_unverified(s, e->device, e->seq, AFTER_REVOCATION, &w->rows[0])) == VELD_OK)
		w->kept++;
	return rc;
}

/* One entry of a page, by what the office knows of its device. */
static int take_one(veld_store *s, const struct veld__audit_entry *e, struct page_work *w,
                    int *stop)
{
	struct veld__audit_mark m;
	struct veld__cert c;
	uint8_t key[32];
	int marked, rc = veld__audit_mark_get(s, e->device, &m);
	if (rc != VELD_OK && rc != VELD_ENOTFOUND)
		return rc;
	marked = rc == VELD_OK;
	/* Given up on once, always: its first entries are unverified already. */
	if (marked && m.state == VELD_AUDIT_UNVERIFIABLE)
		return unverifiable_entry(s, e, &m, w);
	if ((rc = veld__trusted_key(s, e->device, key, &c)) == VELD_ENOTFOUND) {
		veld__err_clear();
		return set_aside(s, e, marked ? &m : NULL, w, stop);
	}
	if (rc != VELD_OK)
		return rc;
	if (marked && m.state == VELD_AUDIT_WAITING)
		return set_aside(s, e, &m, w, stop);
	if (c.revoked)
		return revoked_entry(s, e, key, marked ? &m : NULL, w);
	return take_entry(s, e, key, w);
}

/* Every entry of the page, in order; the cursor moves past each. Only with
 * too many devices waiting does the page stop before an entry (*stop). */
static int take_entries(veld_store *s, const struct veld__audit_pull_resp *page,
                        struct page_work *w, uint64_t *cursor, int *stop)
{
	int rc = VELD_OK;
	for (size_t i = 0; rc == VELD_OK && i < page->n; i++) {
		const struct veld__audit_entry *e = &page->entries[i];
		if ((rc = take_one(s, e, w, stop)) == VELD_OK && *stop)
			return VELD_OK;
		if (rc == VELD_OK)
			*cursor = e->cursor;
	}
	if (rc == VELD_OK)
		*cursor = page->next;
	return rc;
}

int veld__audit_apply_page(veld_store *s, const struct veld__audit_pull_resp *page,
                           uint64_t after, uint64_t *applied, int *waiting)
{
	struct veld__step step;
	struct page_work *w = NULL;
	uint64_t cursor = after;
	int rc, stop = 0;

	*applied = 0;
	*waiting = 0;
	if ((rc = veld__step_begin(s, &step, VELD_STEP_KEYS | VELD_STEP_WRITE)) != VELD_OK)
		return rc;
	if (!veld__store_is_office(s))
		rc = veld__err(VELD_EPERM, "only the office receives the devices' access logs");
	else if (!(w = calloc(1, sizeof *w)))
		rc = veld__err(VELD_ENOMEM, "out of memory");
	if (rc == VELD_OK) {
		w->waiting = -1;
		rc = take_entries(s, page, w, &cursor, &stop);
	}
	if (rc == VELD_OK)
		rc = veld__sync_set_u64(s, "audit_cursor", cursor);
	/* The pull ends here: say how many devices' entries wait. */
	if (rc == VELD_OK && (stop || !page->more) && w->waiting < 0)
		rc = count_marks(s, VELD_AUDIT_WAITING, &w->waiting);
	if (rc == VELD_OK && (stop || !page->more))
		*waiting = stop && w->waiting < 1 ? 1 : w->waiting > INT_MAX ? INT_MAX : (int)w->waiting;
	if (rc == VELD_OK)
		*applied = w->kept;
	if (w)
		sodium_memzero(w, sizeof *w);
	free(w);
	rc = veld__step_end(s, &step, rc);
	if (rc != VELD_OK) {
		*applied = 0;
		*waiting = 0;
	}
	return rc;
}

/* ---- office: devices it will not certify ------------------------------------------- */

int veld__audit_after_certify(veld_store *s, size_t *given_up)
{
	struct veld__step step;
	struct veld__audit_mark *m = NULL;
	struct veld__audit_row row;
	size_t n = 0;
	long unverifiable = 0;
	int rc;

	*given_up = 0;
	if ((rc = veld__step_begin(s, &step, VELD_STEP_WRITE)) != VELD_OK)
		return rc;
	if (!veld__store_is_office(s))
		rc = veld__err(VELD_EPERM, "only the office receives the devices' access logs");
	else
		rc = veld__audit_marks_all(s, &m, &n);
	for (size_t i = 0; rc == VELD_OK && i < n; i++)
		unverifiable += m[i].state == VELD_AUDIT_UNVERIFIABLE;
	for (size_t i = 0; rc == VELD_OK && i < n; i++) {
		uint8_t key[32];
		uint64_t last = 0;
		if (m[i].state != VELD_AUDIT_WAITING || unverifiable >= VELD_AUDIT_MARKS_MAX)
			continue;
		if ((rc = veld__trusted_key(s, m[i].device, key, NULL)) != VELD_ENOTFOUND)
			continue; /* certified: its entries come again (veld__audit_cursor) */
		veld__err_clear();
		/* Its entries that came, from 1 on without a gap, keep their place. */
		rc = veld__office_audit_last(s, m[i].device, &last);
		for (uint64_t seq = last + 1; rc == VELD_OK && seq < m[i].next &&
		     seq <= VELD_AUDIT_UNVERIFIED_MAX; seq++)
			rc = keep_unverified(s, m[i].device, seq, NOT_CERTIFIED, &row);
		m[i].state = VELD_AUDIT_UNVERIFIABLE;
		m[i].resume = m[i].next = 0;
		if (rc == VELD_OK && (rc = veld__audit_mark_put(s, &m[i])) == VELD_OK) {
			unverifiable++;
			(*given_up)++;
		}
	}
	free(m);
	rc = veld__step_end(s, &step, rc);
	if (rc != VELD_OK)
		*given_up = 0;
	return rc;
}

int veld__audit_status(veld_store *s, struct veld__audit_status *st)
{
	struct veld__step step;
	struct veld__audit_mark *m = NULL;
	size_t n = 0;
	int rc;

	memset(st, 0, sizeof *st);
	if ((rc = veld__step_begin(s, &step, 0)) != VELD_OK)
		return rc;
	if (veld__store_is_office(s))
		rc = veld__audit_marks_all(s, &m, &n);
	for (size_t i = 0; rc == VELD_OK && i < n; i++) {
		uint64_t last = 0;
		if (m[i].state == VELD_AUDIT_WAITING) {
			st->waiting++;
			st->waiting_entries += m[i].top;
			continue;
		}
		if ((rc = veld__office_audit_last(s, m[i].device, &last)) != VELD_OK)
			break;
		if (m[i].state == VELD_AUDIT_UNVERIFIABLE) {
			st->unverifiable++;
			st->unverified += last;
		} else {
			st->unverified += last > m[i].point ? last - m[i].point : 0;
		}
		st->not_kept += m[i].top > last ? m[i].top - last : 0;
	}
	free(m);
	if (rc == VELD_OK)
		st->full = st->waiting >= VELD_AUDIT_MARKS_MAX || st->unverifiable >= VELD_AUDIT_MARKS_MAX;
	return veld__step_end(s, &step, rc);
}
