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
 * Like devsync.c, each function takes the store's mutex for its own short
 * step and writes in one transaction; client.c drives HTTP. */
#include "devsync.h"
#include "auth.h"
#include "error.h"

#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* sealed = epk (32) || XChaCha20-Poly1305 ciphertext and tag (16). */
#define SEAL_OVERHEAD (32 + crypto_aead_xchacha20poly1305_ietf_ABYTES)

/* The key of one push's entries: BLAKE2b-256 of "veld-audit-key-v1" ||
 * X25519(esk, office_pk) || epk || office_pk, for the ephemeral key pair
 * (epk, esk) of that push. The office derives it from its secret key and
 * epk. -1 if the shared point is degenerate. */
static int entry_key_derive(uint8_t key[32], const uint8_t sk[32], const uint8_t pk[32],
                            const uint8_t epk[32], const uint8_t office_pk[32])
{
	crypto_generichash_state h;
	uint8_t shared[32];
	if (crypto_scalarmult(shared, sk, pk) != 0)
		return -1;
	crypto_generichash_init(&h, NULL, 0, 32);
	crypto_generichash_update(&h, (const uint8_t *)"veld-audit-key-v1", 17);
	crypto_generichash_update(&h, shared, 32);
	crypto_generichash_update(&h, epk, 32);
	crypto_generichash_update(&h, office_pk, 32);
	crypto_generichash_final(&h, key, 32);
	sodium_memzero(shared, sizeof shared);
	return 0;
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

static const char *col_text(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

/* ---- device: push ------------------------------------------------------- */

static int sbuf_write(void *data, const char *buf, size_t len)
{
	return msgpack_sbuffer_write(data, buf, len);
}

/* Pack, pad and seal one entry row (seq, at, event, outcome, client, user,
 * role, device, purpose) for the office under the push's key; sign it. */
static int seal_entry(veld_store *s, sqlite3_stmt *st, const uint8_t epk[32], const uint8_t key[32],
                      struct veld__audit_entry *e, uint8_t *out)
{
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
	e->seq = (uint64_t)sqlite3_column_int64(st, 0);
	/* An entry written before purposes were cut goes out cut the same way. */
	veld__purpose_cut(purpose, col_text(st, 8));
	veld__audit_pack(&pk, e->seq, (uint64_t)sqlite3_column_int64(st, 1), col_text(st, 2),
	                 col_text(st, 3), col_text(st, 4), col_text(st, 5), col_text(st, 6),
	                 col_text(st, 7), purpose);
	if (!sb.data || sb.size + VELD_PAD_BLOCK + SEAL_OVERHEAD > VELD_AUDIT_SEALED_MAX) {
		rc = sb.data ? veld__err(VELD_EINVAL, "access-log entry %llu is too long to send",
		                         (unsigned long long)e->seq)
		             : veld__err(VELD_ENOMEM, "out of memory");
		goto out;
	}
	memcpy(padded, sb.data, sb.size);
	if (sodium_pad(&plen, padded, sb.size, VELD_PAD_BLOCK, sizeof padded - SEAL_OVERHEAD) != 0) {
		rc = veld__err(VELD_EINVAL, "access-log entry %llu is too long to send",
		               (unsigned long long)e->seq);
		goto out;
	}
	entry_nonce_ad(nonce, ad, s->device, e->seq);
	memcpy(out, epk, 32);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + 32, NULL, padded, plen, ad, sizeof ad, NULL,
	                                           nonce, key);
	e->sealed = out;
	e->sealed_len = plen + SEAL_OVERHEAD;
	veld__audit_sig_message(msg, s->device, e->seq, e->sealed, e->sealed_len);
	crypto_sign_detached(e->sig, NULL, msg, sizeof msg, s->sign_sk);
out:
	sodium_memzero(padded, sizeof padded);
	if (sb.data)
		sodium_memzero(sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

int veld__audit_next_push(veld_store *s, size_t max, struct veld__audit_outbox *out)
{
	sqlite3_stmt *st = NULL;
	uint8_t office_pk[32], epk[32], esk[32], key[32];
	uint64_t acked = 0;
	uint8_t *mem;
	int rc;

	memset(out, 0, sizeof *out);
	sodium_memzero(key, sizeof key);
	if (max == 0 || max > VELD_WIRE_MAX_AUDIT)
		max = VELD_WIRE_MAX_AUDIT;
	if ((rc = veld__sync_enter_keys(s)) != VELD_OK)
		return rc;
	if ((rc = veld__meta_get(s, "office_box_pk", office_pk, 32, NULL)) != VELD_OK) {
		if (rc == VELD_ENOTFOUND)
			rc = veld__err(VELD_ENOTFOUND, "this store has no office key: enroll it first");
		goto out;
	}
	if ((rc = veld__sync_meta_u64(s, "audit_acked", &acked)) != VELD_OK)
		goto out;
	/* One ephemeral key pair per push: one X25519 for all its entries. */
	crypto_box_keypair(epk, esk);
	if (entry_key_derive(key, esk, office_pk, epk, office_pk) != 0) {
		rc = veld__err(VELD_ECORRUPT, "the office key this store holds is not usable");
		goto out;
	}
	mem = calloc(1, max * (sizeof *out->req.entries + VELD_AUDIT_SEALED_MAX));
	if (!(out->mem = mem)) {
		rc = veld__err(VELD_ENOMEM, "out of memory");
		goto out;
	}
	out->req.entries = (struct veld__audit_entry *)mem;
	mem += max * sizeof *out->req.entries;
	rc = sqlite3_prepare_v2(s->db,
		"SELECT seq, at, event, outcome, client, user, role, device, purpose FROM audit"
		" WHERE seq > ?1 ORDER BY seq LIMIT ?2", -1, &st, NULL);
	if (rc != SQLITE_OK) {
		rc = veld__err_sqlite(rc, "reading the access log");
		goto out;
	}
	sqlite3_bind_int64(st, 1, (sqlite3_int64)acked);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct veld__audit_entry *e = &out->req.entries[out->req.n];
		if ((rc = seal_entry(s, st, epk, key, e, mem)) != VELD_OK)
			goto out;
		mem += VELD_AUDIT_SEALED_MAX;
		out->req.n++;
	}
	rc = rc == SQLITE_DONE ? VELD_OK : veld__err_sqlite(rc, "reading the access log");
out:
	sodium_memzero(esk, sizeof esk);
	sodium_memzero(key, sizeof key);
	sqlite3_finalize(st);
	if (rc != VELD_OK)
		veld__audit_outbox_free(out);
	veld__leave(s);
	return rc;
}

void veld__audit_outbox_free(struct veld__audit_outbox *o)
{
	free(o->mem);
	memset(o, 0, sizeof *o);
}

int veld__audit_acked(veld_store *s, uint64_t *acked, uint64_t *pending)
{
	int rc = veld__enter(s);
	if (rc)
		return rc;
	if ((rc = veld__sync_meta_u64(s, "audit_acked", acked)) == VELD_OK && pending)
		*pending = s->audit_seq > *acked ? s->audit_seq - *acked : 0;
	veld__leave(s);
	return rc;
}

int veld__audit_set_acked(veld_store *s, uint64_t acked)
{
	struct veld__tx tx;
	int rc = veld__enter(s);
	if (rc)
		return rc;
	if (acked > s->audit_seq)
		rc = veld__err(VELD_EPROTO, "the server acknowledged access-log entries up to %llu,"
		               " but this store has only %llu", (unsigned long long)acked,
		               (unsigned long long)s->audit_seq);
	else if ((rc = veld__tx_begin(s, &tx)) == VELD_OK) {
		rc = veld__meta_put_u64(s, "audit_acked", acked);
		rc = rc == VELD_OK ? veld__tx_commit(s, &tx) : (veld__tx_abort(s, &tx), rc);
	}
	veld__leave(s);
	return rc;
}

/* ---- office: pull ------------------------------------------------------------ */

int veld__audit_cursor(veld_store *s, uint64_t *after)
{
	int rc = veld__enter(s);
	if (rc)
		return rc;
	rc = veld__sync_meta_u64(s, "audit_cursor", after);
	veld__leave(s);
	return rc;
}

enum { A_PEER_GET, A_PEER_PUT, A_LAST, A_GET, A_PUT, A__COUNT };

static const char *const apply_sql[A__COUNT] = {
	[A_PEER_GET] = "SELECT sign_pk FROM peers WHERE device = ?1",
	[A_PEER_PUT] = "INSERT OR IGNORE INTO peers(device, sign_pk) VALUES(?1, ?2)",
	[A_LAST] = "SELECT max(seq) FROM office_audit WHERE device = ?1",
	[A_GET] = "SELECT at, event, outcome, client, user, role, purpose FROM office_audit"
	          " WHERE device = ?1 AND seq = ?2",
	[A_PUT] = "INSERT INTO office_audit(device, seq, at, event, outcome, client, user, role,"
	          " purpose) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
};

/* The key an entry's signature must verify with: this store's own, or the
 * one the page gives, which must match a key already known for the device. */
static int entry_key(veld_store *s, sqlite3_stmt **st, const struct veld__audit_pull_resp *p,
                     const uint8_t device[VELD_ID_BYTES], uint8_t key[32])
{
	const uint8_t *given = NULL;
	int rc, ret = VELD_OK;
	if (memcmp(device, s->device, VELD_ID_BYTES) == 0) {
		memcpy(key, s->sign_pk, 32);
		return VELD_OK;
	}
	for (size_t i = 0; i < p->nauthors; i++)
		if (memcmp(p->authors[i].device, device, VELD_ID_BYTES) == 0)
			given = p->authors[i].sign_pk;
	if (!given)
		return veld__err(VELD_EPROTO, "a pulled access-log entry has no author key");
	sqlite3_bind_blob(st[A_PEER_GET], 1, device, VELD_ID_BYTES, SQLITE_STATIC);
	rc = sqlite3_step(st[A_PEER_GET]);
	if (rc == SQLITE_ROW && (sqlite3_column_bytes(st[A_PEER_GET], 0) != 32 ||
	                         sodium_memcmp(sqlite3_column_blob(st[A_PEER_GET], 0), given, 32) != 0))
		ret = veld__err(VELD_EPROTO, "a pulled access-log entry names another signing key"
		                " than the one known for its device");
	else if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		ret = veld__err_sqlite(rc, "reading device keys");
	sqlite3_reset(st[A_PEER_GET]);
	if (ret == VELD_OK && rc == SQLITE_DONE) {
		sqlite3_bind_blob(st[A_PEER_PUT], 1, device, VELD_ID_BYTES, SQLITE_STATIC);
		sqlite3_bind_blob(st[A_PEER_PUT], 2, given, 32, SQLITE_STATIC);
		rc = sqlite3_step(st[A_PEER_PUT]);
		sqlite3_reset(st[A_PEER_PUT]);
		if (rc != SQLITE_DONE)
			ret = veld__err_sqlite(rc, "storing device keys");
	}
	if (ret == VELD_OK)
		memcpy(key, given, 32);
	return ret;
}

/* The key of the push an entry came in, kept for the next entry of the
 * same push (a page holds whole pushes, so this saves an X25519 each). */
struct push_key {
	uint8_t epk[32], key[32];
	int ok;
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
		memcpy(pk->epk, e->sealed, 32);
		pk->ok = entry_key_derive(pk->key, s->box_sk, pk->epk, pk->epk, s->box_pk) == 0;
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

static int same_text(sqlite3_stmt *st, int col, const char *v)
{
	const char *t = col_text(st, col);
	return t ? v && strcmp(t, v) == 0 : !v;
}

/* Keep one checked entry: new if it continues its device's log; an entry
 * held already must be the same; a jump means the server left some out. */
static int keep_entry(sqlite3_stmt **st, const struct veld__audit_entry *e,
                      const struct veld__audit_plain *pl, uint64_t *kept)
{
	const char *client = pl->client[0] ? pl->client : NULL;
	uint64_t last = 0;
	int rc, ret = VELD_OK;

	sqlite3_bind_blob(st[A_LAST], 1, e->device, VELD_ID_BYTES, SQLITE_STATIC);
	if ((rc = sqlite3_step(st[A_LAST])) == SQLITE_ROW)
		last = (uint64_t)sqlite3_column_int64(st[A_LAST], 0);
	sqlite3_reset(st[A_LAST]);
	if (rc != SQLITE_ROW)
		return veld__err_sqlite(rc, "reading the office's access log");
	if (e->seq > last + 1)
		return veld__err(VELD_EPROTO, "access-log entries %llu to %llu of a device are missing"
		                 " from the server's feed", (unsigned long long)(last + 1),
		                 (unsigned long long)(e->seq - 1));
	if (e->seq <= last) {
		sqlite3_stmt *g = st[A_GET];
		sqlite3_bind_blob(g, 1, e->device, VELD_ID_BYTES, SQLITE_STATIC);
		sqlite3_bind_int64(g, 2, (sqlite3_int64)e->seq);
		rc = sqlite3_step(g);
		if (rc != SQLITE_ROW)
			ret = rc == SQLITE_DONE ? veld__err(VELD_ECORRUPT, "the office's copy of a"
			                                    " device's access log has a hole")
			                        : veld__err_sqlite(rc, "reading the office's access log");
		else if (same_text(g, 1, UNREADABLE) || strcmp(pl->event, UNREADABLE) == 0)
			ret = VELD_OK; /* nothing to compare with */
		else if ((uint64_t)sqlite3_column_int64(g, 0) != pl->at ||
		         !same_text(g, 1, pl->event) || !same_text(g, 2, pl->outcome) ||
		         !same_text(g, 3, client) || !same_text(g, 4, pl->user) ||
		         !same_text(g, 5, pl->role) || !same_text(g, 6, pl->purpose))
			ret = veld__err(VELD_EPROTO, "the server holds two different access-log entries"
			                " %llu of one device", (unsigned long long)e->seq);
		sqlite3_reset(g);
		return ret;
	}
	{
		sqlite3_stmt *p = st[A_PUT];
		sqlite3_bind_blob(p, 1, e->device, VELD_ID_BYTES, SQLITE_STATIC);
		sqlite3_bind_int64(p, 2, (sqlite3_int64)e->seq);
		sqlite3_bind_int64(p, 3, (sqlite3_int64)pl->at);
		sqlite3_bind_text(p, 4, pl->event, -1, SQLITE_STATIC);
		sqlite3_bind_text(p, 5, pl->outcome, -1, SQLITE_STATIC);
		if (client)
			sqlite3_bind_text(p, 6, client, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(p, 6);
		sqlite3_bind_text(p, 7, pl->user, -1, SQLITE_STATIC);
		sqlite3_bind_text(p, 8, pl->role, -1, SQLITE_STATIC);
		sqlite3_bind_text(p, 9, pl->purpose, -1, SQLITE_STATIC);
		rc = sqlite3_step(p);
		sqlite3_reset(p);
		if (rc != SQLITE_DONE)
			return veld__err_sqlite(rc, "writing the office's access log");
	}
	(*kept)++;
	return VELD_OK;
}

int veld__audit_apply_page(veld_store *s, const struct veld__audit_pull_resp *page,
                           uint64_t *applied)
{
	sqlite3_stmt *st[A__COUNT] = {0};
	struct veld__audit_plain *pl = NULL;
	struct push_key pkey = {{0}, {0}, 0};
	struct veld__tx tx;
	uint64_t kept = 0;
	int rc, in_tx = 0;

	*applied = 0;
	if ((rc = veld__sync_enter_keys(s)) != VELD_OK)
		return rc;
	if (!s->office) {
		rc = veld__err(VELD_EPERM, "only the office receives the devices' access logs");
		goto out;
	}
	if (!(pl = malloc(sizeof *pl))) {
		rc = veld__err(VELD_ENOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < A__COUNT; i++)
		if ((rc = sqlite3_prepare_v2(s->db, apply_sql[i], -1, &st[i], NULL)) != SQLITE_OK) {
			rc = veld__err_sqlite(rc, "preparing the office's access log");
			goto out;
		}
	if ((rc = veld__tx_begin(s, &tx)) != VELD_OK)
		goto out;
	in_tx = 1;
	for (size_t i = 0; i < page->n && rc == VELD_OK; i++) {
		const struct veld__audit_entry *e = &page->entries[i];
		uint8_t key[32];
		if ((rc = entry_key(s, st, page, e->device, key)) != VELD_OK)
			break;
		if (veld__audit_sig_verify(key, e->device, e->seq, e->sealed, e->sealed_len,
		                           e->sig) != 0) {
			rc = veld__err(VELD_EPROTO, "access-log entry %llu of a device does not carry"
			               " its device's signature", (unsigned long long)e->seq);
			break;
		}
		if ((rc = open_entry(s, &pkey, e, pl)) == VELD_EPROTO) {
			veld__err_clear();
			unreadable_entry(e, pl);
			rc = VELD_OK;
		}
		if (rc == VELD_OK)
			rc = keep_entry(st, e, pl, &kept);
	}
	if (rc == VELD_OK)
		rc = veld__meta_put_u64(s, "audit_cursor", page->next);
	if (rc == VELD_OK) {
		in_tx = 0;
		rc = veld__tx_commit(s, &tx);
	}
	if (rc == VELD_OK)
		*applied = kept;
out:
	if (in_tx) {
		char msg[512];
		snprintf(msg, sizeof msg, "%s", veld_error_last());
		veld__tx_abort(s, &tx);
		veld__err(rc, "%s", msg);
	}
	for (int i = 0; i < A__COUNT; i++)
		sqlite3_finalize(st[i]);
	if (pl)
		sodium_memzero(pl, sizeof *pl);
	free(pl);
	sodium_memzero(&pkey, sizeof pkey);
	veld__leave(s);
	return rc;
}
