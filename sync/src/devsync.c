/* devsync.c - the device store's side of sync: what to push, how to check
 * and apply a pulled page, enrollment, and the office's key duties.
 *
 * Sync state lives in the store's meta table: server_url, sync_role,
 * acked_seq (the highest own seq the server holds), pull_cursor and
 * env_cursor (where the next pull starts), and the office's keys. A page is
 * applied and its cursors saved in one transaction, so an interrupted sync
 * resumes without loss or duplicates. */
#include "devsync.h"
#include "auth.h"
#include "error.h"
#include "hlc.h"
#include "op.h"
#include "policy.h"
#include "records.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- small helpers ----------------------------------------------------- */

/* A sync counter; one never written (before the first sync) is 0. */
int veld__sync_meta_u64(veld_store *s, const char *key, uint64_t *v)
{
	int rc = veld__meta_get_u64(s, key, v);
	if (rc == VELD_ENOTFOUND) {
		veld__err_clear();
		*v = 0;
		return VELD_OK;
	}
	return rc;
}

static int meta_str(veld_store *s, const char *key, char *out, size_t cap)
{
	size_t n = 0;
	int rc = veld__meta_get(s, key, out, cap - 1, &n);
	if (rc)
		return rc;
	out[n < cap - 1 ? n : cap - 1] = 0;
	return VELD_OK;
}

int veld__sync_enter_keys(veld_store *s)
{
	int rc = veld__enter(s);
	if (rc)
		return rc;
	if ((rc = veld__need_keys(s)) != VELD_OK)
		veld__leave(s);
	return rc;
}

/* Finish a transaction: commit on success, else roll back keeping the
 * first error's message. */
static int tx_end(veld_store *s, struct veld__tx *tx, int rc)
{
	char msg[512];
	if (rc == VELD_OK)
		return veld__tx_commit(s, tx);
	snprintf(msg, sizeof msg, "%s", veld_error_last());
	veld__tx_abort(s, tx);
	return veld__err(rc, "%s", msg);
}

int veld__sync_server(veld_store *s, char *url, size_t url_cap, char role[16])
{
	int rc = veld__enter(s);
	if (rc)
		return rc;
	rc = meta_str(s, "server_url", url, url_cap);
	if (rc == VELD_OK)
		rc = meta_str(s, "sync_role", role, 16);
	if (rc == VELD_ENOTFOUND)
		rc = veld__err(VELD_ENOTFOUND, "this store has not enrolled with a server yet "
		                               "(veld enroll URL CODE)");
	veld__leave(s);
	return rc;
}

int veld__sync_sign(veld_store *s, struct veld__auth_headers *h, const char *method,
                    const char *path, const uint8_t *body, size_t len)
{
	int rc = veld__sync_enter_keys(s);
	if (rc)
		return rc;
	veld__auth_sign(h, s->device, s->sign_sk, method, path, body, len);
	veld__leave(s);
	return VELD_OK;
}

/* ---- push ------------------------------------------------------------------ */

/* Everything an outbox points to, freed together. */
struct outmem {
	veld__op *ops;
	veld__ref *sups;
	uint8_t *values;
	struct veld__envelope *envs;
};

void veld__outbox_free(struct veld__outbox *o)
{
	struct outmem *m;
	if (!o || !(m = o->mem))
		return;
	if (m->values)
		sodium_memzero(m->values, 0); /* ciphertext: nothing secret, but tidy */
	free(m->ops);
	free(m->sups);
	free(m->values);
	free(m->envs);
	free(m);
	memset(o, 0, sizeof *o);
}

/* Read own operations above `acked` into out (up to max). Values are copied
 * into one buffer; a value removed by erasure is sent as nil and the hash is
 * taken over what is sent (the server re-hashes what it receives). */
static int load_own_ops(veld_store *s, uint64_t acked, size_t max, struct outmem *m, size_t *n)
{
	sqlite3_stmt *st;
	size_t cap_vals = 0, used_vals = 0, nsup_total = 0, i = 0;
	int rc = sqlite3_prepare_v2(s->db,
		"SELECT seq, hlc, kind, entity, client, team, kv, field, value, sup FROM ops"
		" WHERE device = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return veld__err_sqlite(rc, "reading operations to push");
	sqlite3_bind_blob(st, 1, s->device, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)acked);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)max);
	/* First pass: sizes. */
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		cap_vals += (size_t)sqlite3_column_bytes(st, 8);
		nsup_total += (size_t)sqlite3_column_bytes(st, 9) / 24;
		i++;
	}
	if (rc != SQLITE_DONE) {
		sqlite3_finalize(st);
		return veld__err_sqlite(rc, "reading operations to push");
	}
	*n = i;
	if (i == 0) {
		sqlite3_finalize(st);
		return VELD_OK;
	}
	m->ops = calloc(i, sizeof *m->ops);
	m->sups = calloc(nsup_total ? nsup_total : 1, sizeof *m->sups);
	m->values = malloc(cap_vals ? cap_vals : 1);
	if (!m->ops || !m->sups || !m->values) {
		sqlite3_finalize(st);
		return veld__err(VELD_ENOMEM, "out of memory");
	}
	sqlite3_reset(st);
	i = 0;
	nsup_total = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && i < *n) {
		veld__op *op = &m->ops[i++];
		size_t vlen = (size_t)sqlite3_column_bytes(st, 8), ns = 0;
		memcpy(op->device, s->device, VELD_ID_BYTES);
		op->seq = (uint64_t)sqlite3_column_int64(st, 0);
		op->hlc = (uint64_t)sqlite3_column_int64(st, 1);
		snprintf(op->kind, sizeof op->kind, "%s", (const char *)sqlite3_column_text(st, 2));
		memcpy(op->entity, sqlite3_column_blob(st, 3), VELD_ID_BYTES);
		memcpy(op->client, sqlite3_column_blob(st, 4), VELD_ID_BYTES);
		snprintf(op->team, sizeof op->team, "%s", (const char *)sqlite3_column_text(st, 5));
		op->kv = (uint64_t)sqlite3_column_int64(st, 6);
		snprintf(op->field, sizeof op->field, "%s", (const char *)sqlite3_column_text(st, 7));
		if (sqlite3_column_type(st, 8) != SQLITE_NULL) {
			memcpy(m->values + used_vals, sqlite3_column_blob(st, 8), vlen);
			op->value = m->values + used_vals;
			op->value_len = vlen;
			used_vals += vlen;
		}
		if ((rc = veld__sup_decode(m->sups + nsup_total, VELD_OP_MAX_SUPERSEDES,
		                           sqlite3_column_blob(st, 9), (size_t)sqlite3_column_bytes(st, 9),
		                           &ns)) != VELD_OK) {
			sqlite3_finalize(st);
			return rc;
		}
		op->sup = m->sups + nsup_total;
		op->nsup = ns;
		nsup_total += ns;
		veld__op_hash(op);
	}
	sqlite3_finalize(st);
	return VELD_OK;
}

static int load_outbox(veld_store *s, struct outmem *m, size_t *n)
{
	sqlite3_stmt *st;
	size_t i = 0;
	int rc = sqlite3_prepare_v2(s->db, "SELECT client, kv, recipient, tv, sealed FROM outbox"
	                            " ORDER BY client, kv, recipient, tv LIMIT ?1", -1, &st, NULL);
	*n = 0;
	if (rc != SQLITE_OK)
		return veld__err_sqlite(rc, "reading key envelopes");
	sqlite3_bind_int(st, 1, VELD_WIRE_MAX_ENVS);
	if (!(m->envs = calloc(VELD_WIRE_MAX_ENVS, sizeof *m->envs))) {
		sqlite3_finalize(st);
		return veld__err(VELD_ENOMEM, "out of memory");
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && i < VELD_WIRE_MAX_ENVS) {
		struct veld__envelope *e = &m->envs[i];
		if (sqlite3_column_bytes(st, 4) != VELD_SEALED_KEY_BYTES)
			continue;
		memcpy(e->client, sqlite3_column_blob(st, 0), VELD_ID_BYTES);
		e->kv = (uint64_t)sqlite3_column_int64(st, 1);
		snprintf(e->to, sizeof e->to, "%s", (const char *)sqlite3_column_text(st, 2));
		e->tv = (uint64_t)sqlite3_column_int64(st, 3);
		memcpy(e->sealed, sqlite3_column_blob(st, 4), VELD_SEALED_KEY_BYTES);
		i++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return veld__err_sqlite(rc, "reading key envelopes");
	*n = i;
	return VELD_OK;
}

int veld__sync_next_push(veld_store *s, size_t max_ops, struct veld__outbox *out)
{
	struct outmem *m;
	uint64_t acked;
	size_t nops = 0, nenvs = 0;
	int rc;
	memset(out, 0, sizeof *out);
	if (max_ops == 0 || max_ops > VELD_WIRE_MAX_OPS)
		max_ops = VELD_WIRE_MAX_OPS;
	if ((rc = veld__sync_enter_keys(s)) != VELD_OK)
		return rc;
	if (!(m = calloc(1, sizeof *m))) {
		veld__leave(s);
		return veld__err(VELD_ENOMEM, "out of memory");
	}
	out->mem = m;
	if ((rc = veld__sync_meta_u64(s, "acked_seq", &acked)) == VELD_OK &&
	    (rc = load_own_ops(s, acked, max_ops, m, &nops)) == VELD_OK)
		rc = load_outbox(s, m, &nenvs);
	if (rc == VELD_OK && nops > 0) {
		/* One signature over the batch as sent (docs/protocol.md 3). */
		uint8_t *hashes = malloc(nops * VELD_HASH_BYTES), msg[77];
		if (!hashes) {
			rc = veld__err(VELD_ENOMEM, "out of memory");
		} else {
			for (size_t i = 0; i < nops; i++)
				memcpy(hashes + i * VELD_HASH_BYTES, m->ops[i].hash, VELD_HASH_BYTES);
			veld__batch_digest(msg, s->device, m->ops[0].seq, m->ops[nops - 1].seq, hashes, nops);
			crypto_sign_detached(out->req.sig, NULL, msg, sizeof msg, s->sign_sk);
			out->req.has_sig = 1;
			free(hashes);
		}
	}
	veld__leave(s);
	if (rc != VELD_OK) {
		veld__outbox_free(out);
		return rc;
	}
	out->req.ops = m->ops;
	out->req.nops = nops;
	out->req.envs = m->envs;
	out->req.nenvs = nenvs;
	return VELD_OK;
}

int veld__sync_pushed(veld_store *s, const struct veld__outbox *o, const struct veld__push_resp *r)
{
	struct veld__tx tx;
	uint64_t acked;
	sqlite3_stmt *st = NULL;
	int rc = veld__sync_enter_keys(s);
	if (rc)
		return rc;
	if ((rc = veld__tx_begin(s, &tx)) != VELD_OK) {
		veld__leave(s);
		return rc;
	}
	if ((rc = veld__sync_meta_u64(s, "acked_seq", &acked)) != VELD_OK)
		goto done;
	if (r->acked >= s->next_seq) {
		rc = veld__err(VELD_EPROTO, "the server acknowledged operations this device never wrote");
		goto done;
	}
	if (r->acked > acked && (rc = veld__meta_put_u64(s, "acked_seq", r->acked)) != VELD_OK)
		goto done;
	/* What a push of operations confirmed (not an empty probe, whose
	 * answer a server could inflate): the field policy removes own values
	 * only up to here (removable_seq). */
	if (o->req.nops > 0) {
		uint64_t last = o->req.ops[o->req.nops - 1].seq, held = 0;
		uint64_t confirmed = r->acked < last ? r->acked : last;
		if ((rc = veld__sync_meta_u64(s, "policy_seq", &held)) != VELD_OK ||
		    (confirmed > held && (rc = veld__meta_put_u64(s, "policy_seq", confirmed)) != VELD_OK))
			goto done;
	}
	rc = sqlite3_prepare_v2(s->db, "DELETE FROM outbox WHERE client = ?1 AND kv = ?2"
	                        " AND recipient = ?3 AND tv = ?4", -1, &st, NULL);
	if (rc != SQLITE_OK) {
		rc = veld__err_sqlite(rc, "recording the push");
		goto done;
	}
	rc = VELD_OK;
	for (size_t i = 0; i < o->req.nenvs && rc == VELD_OK; i++) {
		const struct veld__envelope *e = &o->req.envs[i];
		sqlite3_bind_blob(st, 1, e->client, VELD_ID_BYTES, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)e->kv);
		sqlite3_bind_text(st, 3, e->to, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)e->tv);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = veld__err_sqlite(sqlite3_errcode(s->db), "recording the push");
		sqlite3_reset(st);
	}
done:
	sqlite3_finalize(st);
	rc = tx_end(s, &tx, rc);
	veld__leave(s);
	return rc;
}

int veld__sync_acked(veld_store *s, uint64_t *acked)
{
	int rc = veld__enter(s);
	if (rc)
		return rc;
	rc = veld__sync_meta_u64(s, "acked_seq", acked);
	veld__leave(s);
	return rc;
}

int veld__sync_pending(veld_store *s, uint64_t *ops, uint64_t *envelopes)
{
	sqlite3_stmt *st;
	uint64_t acked = 0;
	int rc = veld__enter(s);
	if (rc)
		return rc;
	*ops = *envelopes = 0;
	if ((rc = veld__sync_meta_u64(s, "acked_seq", &acked)) == VELD_OK) {
		*ops = s->next_seq - 1 > acked ? s->next_seq - 1 - acked : 0;
		if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM outbox", -1, &st, NULL) == SQLITE_OK) {
			if (sqlite3_step(st) == SQLITE_ROW)
				*envelopes = (uint64_t)sqlite3_column_int64(st, 0);
			sqlite3_finalize(st);
		}
	}
	veld__leave(s);
	return rc;
}

/* ---- pull ------------------------------------------------------------------ */

int veld__sync_cursors(veld_store *s, uint64_t *after, uint64_t *env_after,
                       uint64_t *erase_after)
{
	int rc = veld__enter(s);
	if (rc)
		return rc;
	if ((rc = veld__sync_meta_u64(s, "pull_cursor", after)) == VELD_OK &&
	    (rc = veld__sync_meta_u64(s, "env_cursor", env_after)) == VELD_OK)
		rc = veld__sync_meta_u64(s, "erase_cursor", erase_after);
	veld__leave(s);
	return rc;
}

/* The signing key of an author: the office's is pinned at enrollment and
 * must not be replaced by the server; others come from the page (and are
 * remembered in `peers`). */
static const uint8_t *author_key(veld_store *s, const struct veld__pull_resp *p,
                                 const uint8_t device[VELD_ID_BYTES], uint8_t pinned[32],
                                 int *pinned_ok)
{
	uint8_t office[VELD_ID_BYTES];
	const uint8_t *given = NULL;
	for (size_t i = 0; i < p->nauthors; i++)
		if (memcmp(p->authors[i].device, device, VELD_ID_BYTES) == 0)
			given = p->authors[i].sign_pk;
	if (memcmp(device, s->device, VELD_ID_BYTES) == 0)
		return s->sign_pk;
	if (veld__meta_get(s, "office_device", office, VELD_ID_BYTES, NULL) == VELD_OK &&
	    memcmp(office, device, VELD_ID_BYTES) == 0 &&
	    veld__meta_get(s, "office_sign_pk", pinned, 32, NULL) == VELD_OK) {
		*pinned_ok = 1;
		veld__err_clear();
		return given && sodium_memcmp(given, pinned, 32) == 0 ? pinned : NULL;
	}
	veld__err_clear();
	return given;
}

/* Check every batch signature and every operation against its batch. */
static int verify_page(veld_store *s, const struct veld__pull_resp *p)
{
	for (size_t b = 0; b < p->nbatches; b++) {
		const struct veld__batch *bt = &p->batches[b];
		uint8_t msg[77], pinned[32];
		int pinned_ok = 0;
		const uint8_t *pk = author_key(s, p, bt->device, pinned, &pinned_ok);
		if (!pk)
			return veld__err(VELD_EPROTO, "a pulled batch has no trustworthy author key");
		veld__batch_digest(msg, bt->device, bt->first, bt->last, bt->hashes,
		                   (size_t)(bt->last - bt->first + 1));
		if (crypto_sign_verify_detached(bt->sig, msg, sizeof msg, pk) != 0)
			return veld__err(VELD_EPROTO, "a pulled batch's signature does not verify");
	}
	/* The decoder hashed each operation's canonical re-encoding. */
	for (size_t i = 0; i < p->nops; i++) {
		const veld__op op = p->ops[i];
		int found = 0;
		for (size_t b = 0; b < p->nbatches && !found; b++) {
			const struct veld__batch *bt = &p->batches[b];
			if (memcmp(bt->device, op.device, VELD_ID_BYTES) != 0 || op.seq < bt->first ||
			    op.seq > bt->last)
				continue;
			if (sodium_memcmp(bt->hashes + (op.seq - bt->first) * VELD_HASH_BYTES, op.hash,
			                  VELD_HASH_BYTES) != 0)
				return veld__err(VELD_EPROTO, "pulled operation %llu does not match its "
				                 "signed batch", (unsigned long long)op.seq);
			found = 1;
		}
		if (!found)
			return veld__err(VELD_EPROTO, "pulled operation %llu is not in any signed batch",
			                 (unsigned long long)op.seq);
	}
	return VELD_OK;
}

static int store_batches(veld_store *s, const struct veld__pull_resp *p)
{
	sqlite3_stmt *bst = NULL, *pst = NULL;
	int rc = sqlite3_prepare_v2(s->db, "INSERT OR IGNORE INTO batches(device, first_seq, last_seq,"
	                            " sig, hashes) VALUES(?1, ?2, ?3, ?4, ?5)", -1, &bst, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO peers(device, sign_pk)"
		                        " VALUES(?1, ?2)", -1, &pst, NULL);
	for (size_t b = 0; rc == SQLITE_OK && b < p->nbatches; b++) {
		const struct veld__batch *bt = &p->batches[b];
		if (memcmp(bt->device, s->device, VELD_ID_BYTES) == 0)
			continue;
		sqlite3_bind_blob(bst, 1, bt->device, VELD_ID_BYTES, SQLITE_STATIC);
		sqlite3_bind_int64(bst, 2, (sqlite3_int64)bt->first);
		sqlite3_bind_int64(bst, 3, (sqlite3_int64)bt->last);
		sqlite3_bind_blob(bst, 4, bt->sig, 64, SQLITE_STATIC);
		sqlite3_bind_blob(bst, 5, bt->hashes, (int)((bt->last - bt->first + 1) * VELD_HASH_BYTES),
		                  SQLITE_STATIC);
		rc = sqlite3_step(bst) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(s->db);
		sqlite3_reset(bst);
	}
	for (size_t a = 0; rc == SQLITE_OK && a < p->nauthors; a++) {
		if (memcmp(p->authors[a].device, s->device, VELD_ID_BYTES) == 0)
			continue;
		sqlite3_bind_blob(pst, 1, p->authors[a].device, VELD_ID_BYTES, SQLITE_STATIC);
		sqlite3_bind_blob(pst, 2, p->authors[a].sign_pk, 32, SQLITE_STATIC);
		rc = sqlite3_step(pst) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(s->db);
		sqlite3_reset(pst);
	}
	sqlite3_finalize(bst);
	sqlite3_finalize(pst);
	return rc == SQLITE_OK ? VELD_OK : veld__err_sqlite(rc, "storing pulled signatures");
}

static int open_team_keys(veld_store *s, const struct veld__pull_resp *p)
{
	uint8_t *sk = veld__secret_new(32);
	int rc = VELD_OK;
	if (!sk)
		return veld__err(VELD_ENOMEM, "out of memory");
	for (size_t i = 0; i < p->nteam_keys && rc == VELD_OK; i++) {
		const struct veld__team_key *tk = &p->team_keys[i];
		if (crypto_box_seal_open(sk, tk->sealed, VELD_SEALED_KEY_BYTES, s->box_pk, s->box_sk) != 0) {
			rc = veld__err(VELD_EPROTO, "a team key sealed for this device does not open");
			break;
		}
		rc = veld__team_key_put(s, tk->team, tk->tv, tk->pk, sk);
	}
	veld__secret_free(sk);
	return rc;
}

/* Open the envelopes this store can open; others (for a team key version
 * this device never received) are skipped: they were not meant for it. */
static int open_envelopes(veld_store *s, const struct veld__pull_resp *p)
{
	uint8_t *sk = veld__secret_new(32), *key = veld__secret_new(32), pk[32];
	int rc = VELD_OK;
	if (!sk || !key) {
		veld__secret_free(sk);
		veld__secret_free(key);
		return veld__err(VELD_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < p->nenvs && rc == VELD_OK; i++) {
		const struct veld__envelope *e = &p->envs[i];
		char team[VELD_TEAM_MAX + 1] = "";
		const uint8_t *opk = NULL, *osk = NULL;
		uint64_t tv = e->tv;
		if (strcmp(e->to, "office") == 0) {
			if (!s->office)
				continue;
			opk = s->box_pk;
			osk = s->box_sk;
		} else if (strncmp(e->to, "team:", 5) == 0) {
			snprintf(team, sizeof team, "%s", e->to + 5);
			if (veld__team_key_get(s, team, &tv, pk, sk) != VELD_OK || tv != e->tv) {
				veld__err_clear();
				continue;
			}
			opk = pk;
			osk = sk;
		} else {
			continue;
		}
		if (crypto_box_seal_open(key, e->sealed, VELD_SEALED_KEY_BYTES, opk, osk) != 0) {
			rc = veld__err(VELD_EPROTO, "a key envelope addressed to this device does not open");
			break;
		}
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

/* The office's signing key, which erasures and field policies must carry:
 * this store's own in the office, else the one pinned at enrollment. */
static int office_sign_pk(veld_store *s, uint8_t pk[32])
{
	if (s->office) {
		memcpy(pk, s->sign_pk, 32);
		return VELD_OK;
	}
	return veld__meta_get(s, "office_sign_pk", pk, 32, NULL);
}

/* Own operations up to here may lose their values under the field policy:
 * the server acknowledged them in answer to a push that carried them. */
static int removable_seq(veld_store *s, uint64_t *seq)
{
	uint64_t acked = 0, pushed = 0;
	int rc;
	if ((rc = veld__sync_meta_u64(s, "acked_seq", &acked)) == VELD_OK &&
	    (rc = veld__sync_meta_u64(s, "policy_seq", &pushed)) == VELD_OK)
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
	uint64_t at = 0, acked = 0;
	uint32_t old = veld__policy_default;
	uint8_t office_pk[32];
	int rc;
	*widened = 0;
	if (!p->has_policy || s->office)
		return VELD_OK;
	if (strcmp(np->team, s->team) != 0)
		return veld__err(VELD_EPROTO, "a pulled field policy is for another team");
	if ((rc = office_sign_pk(s, office_pk)) != VELD_OK)
		return rc;
	if (veld__policy_sig_verify(office_pk, np->team, np->at, np->mask, np->sig) != 0)
		return veld__err(VELD_EPROTO, "a pulled field policy does not carry the office's"
		                 " signature");
	if ((rc = veld__policy_get(s, s->team, &at, &old, NULL)) == VELD_ENOTFOUND) {
		veld__err_clear();
		rc = VELD_OK;
	}
	if (rc != VELD_OK || np->at <= at) /* not newer: the one held stays */
		return rc;
	if ((rc = veld__policy_put(s, s->team, np->at, np->mask, np->sig)) != VELD_OK ||
	    (rc = removable_seq(s, &acked)) != VELD_OK)
		return rc;
	*widened = (np->mask & ~old) != 0;
	return veld__policy_enforce(s, s->team, np->mask, acked, NULL);
}

/* An own operation the server sent back whose value this store removed
 * under the field policy, which now lets it through: take the value back
 * (the stored hash proves it is the same operation). Records removed by
 * retention or erasure stay removed: their entities are gone. */
static int restore_own_value(veld_store *s, const veld__op *op)
{
	sqlite3_stmt *st;
	int rc;
	if (!op->value || !(veld__policy_bit(op->kind, op->field) & veld__policy_mask(s)))
		return VELD_OK;
	rc = sqlite3_prepare_v2(s->db, "UPDATE ops SET value = ?3 WHERE device = ?1 AND seq = ?2"
	                        " AND value IS NULL AND hash = ?4 AND EXISTS (SELECT 1 FROM"
	                        " entities e WHERE e.entity = ops.entity)", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return veld__err_sqlite(rc, "restoring a value");
	sqlite3_bind_blob(st, 1, op->device, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)op->seq);
	sqlite3_bind_blob(st, 3, op->value, (int)op->value_len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 4, op->hash, VELD_HASH_BYTES, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? VELD_OK : veld__err_sqlite(rc, "restoring a value");
}

int veld__sync_policy_enforce(veld_store *s)
{
	struct veld__tx tx;
	uint64_t acked = 0;
	uint32_t mask;
	int rc = veld__sync_enter_keys(s);
	if (rc)
		return rc;
	mask = veld__policy_mask(s);
	if (mask == VELD_POLICY_ALL) { /* the office, or a store that follows no policy */
		veld__leave(s);
		return VELD_OK;
	}
	if ((rc = removable_seq(s, &acked)) == VELD_OK && (rc = veld__tx_begin(s, &tx)) == VELD_OK)
		rc = tx_end(s, &tx, veld__policy_enforce(s, s->team, mask, acked, NULL));
	veld__leave(s);
	return rc;
}

int veld__sync_apply_page(veld_store *s, const struct veld__pull_resp *p, uint64_t *applied)
{
	int widened = 0;
	uint32_t mask;
	struct veld__tx tx;
	uint64_t now = veld__hlc_now_ms();
	int rc = veld__sync_enter_keys(s);
	*applied = 0;
	if (rc)
		return rc;
	if ((rc = verify_page(s, p)) != VELD_OK) {
		veld__leave(s);
		return rc;
	}
	if ((rc = veld__tx_begin(s, &tx)) != VELD_OK) {
		veld__leave(s);
		return rc;
	}
	/* Erasures first, so the merge drops the erased clients' operations
	 * on this page; team keys before envelopes: a page may bring both.
	 * An erasure counts only with the office's signature: the server
	 * cannot have a client destroyed. */
	if (p->nerased > 0) {
		uint8_t office_pk[32];
		if ((rc = office_sign_pk(s, office_pk)) != VELD_OK)
			goto done;
		for (size_t i = 0; i < p->nerased; i++) {
			const struct veld__erasure *x = &p->erased[i];
			if (veld__erase_sig_verify(office_pk, x->client, x->at, x->sig) != 0) {
				rc = veld__err(VELD_EPROTO, "a pulled erasure does not carry the office's"
				               " signature");
				goto done;
			}
			if ((rc = veld__client_erased_notice(s, x->client)) != VELD_OK)
				goto done;
		}
	}
	if ((rc = take_policy(s, p, &widened)) != VELD_OK || (rc = open_team_keys(s, p)) != VELD_OK ||
	    (rc = open_envelopes(s, p)) != VELD_OK || (rc = store_batches(s, p)) != VELD_OK)
		goto done;
	mask = veld__policy_mask(s);
	for (size_t i = 0; i < p->nops; i++) {
		veld__op op = p->ops[i];
		int a = 0;
		/* This device is the authority on its own operations; it only
		 * takes back a value the field policy made it remove. */
		if (memcmp(op.device, s->device, VELD_ID_BYTES) == 0) {
			if ((rc = restore_own_value(s, &op)) != VELD_OK)
				goto done;
			continue;
		}
		/* A field the team's policy keeps at the office is not kept
		 * here, even if a server sends it. */
		if (veld__policy_bit(op.kind, op.field) & ~mask)
			continue;
		if ((rc = veld__merge_apply(&s->m, &op, &a)) != VELD_OK)
			goto done;
		*applied += (uint64_t)a;
		s->hlc = veld__hlc_recv(s->hlc, op.hlc, now);
	}
	/* A widened policy: pull the team's operations again from the start
	 * (what is held already is skipped), for the fields now let through. */
	if ((rc = veld__meta_put_u64(s, "pull_cursor", widened ? 0 : p->next)) == VELD_OK &&
	    (rc = veld__meta_put_u64(s, "env_cursor", p->env_next)) == VELD_OK)
		rc = veld__meta_put_u64(s, "erase_cursor", p->erase_next);
done:
	rc = tx_end(s, &tx, rc);
	if (rc != VELD_OK)
		*applied = 0;
	else if (p->nerased > 0) /* erased content out of the WAL, as veld_client_erase does */
		sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	veld__leave(s);
	return rc;
}

static int share_all_keys(veld_store *s);

int veld__sync_rewind(veld_store *s, uint64_t expected)
{
	struct veld__tx tx;
	int rc = veld__sync_enter_keys(s);
	if (rc)
		return rc;
	if (expected == 0 || expected > s->next_seq) {
		veld__leave(s);
		return veld__err(VELD_EPROTO, "the server expects operation %llu of this device, "
		                 "which never wrote it", (unsigned long long)expected);
	}
	/* A value removed here since the server held its operation (field
	 * policy, retention) cannot be sent again as it was signed; sending it
	 * without its value would be a different operation under the same seq. */
	{
		sqlite3_stmt *st;
		int64_t n = -1;
		if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM ops WHERE device = ?1 AND seq >= ?2"
		                       " AND value IS NULL AND field != '" VELD_TOMBSTONE_FIELD "'", -1,
		                       &st, NULL) == SQLITE_OK) {
			sqlite3_bind_blob(st, 1, s->device, VELD_ID_BYTES, SQLITE_STATIC);
			sqlite3_bind_int64(st, 2, (sqlite3_int64)expected);
			if (sqlite3_step(st) == SQLITE_ROW)
				n = sqlite3_column_int64(st, 0);
			sqlite3_finalize(st);
		}
		if (n != 0) {
			veld__leave(s);
			return n < 0 ? veld__err(VELD_ERROR, "reading the operation log")
			       : veld__err(VELD_EPROTO, "the server lost operations %llu and later of this"
			                   " device, and this device has since removed values of %lld of"
			                   " them (field policy or retention), so they cannot be sent again:"
			                   " the server must be restored from a newer backup",
			                   (unsigned long long)expected, (long long)n);
		}
	}
	if ((rc = veld__tx_begin(s, &tx)) != VELD_OK) {
		veld__leave(s);
		return rc;
	}
	uint64_t pseq = 0;
	if ((rc = veld__sync_meta_u64(s, "policy_seq", &pseq)) == VELD_OK && pseq >= expected)
		rc = veld__meta_put_u64(s, "policy_seq", expected - 1);
	if (rc == VELD_OK && (rc = veld__meta_put_u64(s, "acked_seq", expected - 1)) == VELD_OK &&
	    (rc = veld__meta_put_u64(s, "pull_cursor", 0)) == VELD_OK &&
	    (rc = veld__meta_put_u64(s, "env_cursor", 0)) == VELD_OK &&
	    (rc = veld__meta_put_u64(s, "erase_cursor", 0)) == VELD_OK)
		rc = share_all_keys(s);
	rc = tx_end(s, &tx, rc);
	veld__leave(s);
	return rc;
}

/* ---- enrollment ----------------------------------------------------------- */

int veld__sync_enroll_request(veld_store *s, const uint8_t code[20], const char *label,
                              struct veld__enroll_req *req)
{
	int rc = veld__sync_enter_keys(s);
	if (rc)
		return rc;
	memset(req, 0, sizeof *req);
	veld__code_auth(req->auth, code);
	memcpy(req->device, s->device, VELD_ID_BYTES);
	memcpy(req->sign_pk, s->sign_pk, 32);
	memcpy(req->box_pk, s->box_pk, 32);
	snprintf(req->label, sizeof req->label, "%s", label && *label ? label : s->user);
	veld__leave(s);
	return VELD_OK;
}

static size_t invite_ad(uint8_t *ad, const char *team, uint64_t tv)
{
	size_t n = strlen(team);
	memcpy(ad, "veld-team-key-v1", 16);
	memcpy(ad + 16, team, n + 1);
	veld__be64_put(ad + 17 + n, tv);
	return 25 + n;
}

/* Seal every client key this store holds for the team and the office. */
static int share_all_keys(veld_store *s)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, "SELECT client, kv, team FROM client_keys", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return veld__err_sqlite(rc, "sharing client keys");
	rc = VELD_OK;
	while (rc == VELD_OK && sqlite3_step(st) == SQLITE_ROW) {
		uint8_t client[VELD_ID_BYTES];
		const uint8_t *key;
		char team[VELD_TEAM_MAX + 1];
		uint64_t kv = (uint64_t)sqlite3_column_int64(st, 1);
		memcpy(client, sqlite3_column_blob(st, 0), VELD_ID_BYTES);
		snprintf(team, sizeof team, "%s", (const char *)sqlite3_column_text(st, 2));
		if ((rc = veld__client_key(s, client, kv, &key)) == VELD_OK)
			rc = veld__keys_share(s, client, kv, team, key);
	}
	sqlite3_finalize(st);
	return rc;
}

int veld__sync_enroll_finish(veld_store *s, const char *url, const uint8_t code[20],
                             const struct veld__enroll_resp *r)
{
	struct veld__tx tx;
	char existing[512];
	uint8_t *sk = NULL, ckey[32], ad[VELD_TEAM_MAX + 32];
	int office = strcmp(r->role, "office") == 0, rc = veld__sync_enter_keys(s);
	if (rc)
		return rc;
	if (meta_str(s, "server_url", existing, sizeof existing) == VELD_OK) {
		veld__leave(s);
		return veld__err(VELD_EEXISTS, "this store is already enrolled");
	}
	veld__err_clear();
	if (office != s->office) {
		veld__leave(s);
		return veld__err(VELD_EINVAL, office
			? "this is an office setup code: enroll the office store with it"
			: "an office store enrolls with the server's setup code, not a worker invite");
	}
	if ((rc = veld__tx_begin(s, &tx)) != VELD_OK) {
		veld__leave(s);
		return rc;
	}
	if (!office) {
		if (!r->has_team_key) {
			rc = veld__err(VELD_EPROTO, "the server sent no team key");
			goto done;
		}
		if (strcmp(r->team, s->team) != 0) {
			/* A fresh store takes the invite's team; one with records
			 * keeps its own. */
			if (s->next_seq > 1) {
				rc = veld__err(VELD_EINVAL, "this store holds records of team %s; the invite is "
				               "for team %s", s->team, r->team);
				goto done;
			}
			snprintf(s->team, sizeof s->team, "%s", r->team);
			if ((rc = veld__meta_put(s, "team", s->team, strlen(s->team))) != VELD_OK)
				goto done;
		}
		if (!(sk = veld__secret_new(32))) {
			rc = veld__err(VELD_ENOMEM, "out of memory");
			goto done;
		}
		veld__code_key(ckey, code);
		if (veld__open(sk, r->team_sealed, VELD_TEAM_SEALED_BYTES, ad,
		               invite_ad(ad, r->team, r->tv), ckey) != 0) {
			rc = veld__err(VELD_EPROTO, "the team key in the enrollment answer does not open "
			               "with this code");
			goto done;
		}
		if ((rc = veld__team_key_put(s, r->team, r->tv, r->team_pk, sk)) != VELD_OK)
			goto done;
		if (!r->has_office) {
			rc = veld__err(VELD_EPROTO, "the server sent no office keys");
			goto done;
		}
		if ((rc = veld__meta_put(s, "office_device", r->office_device, VELD_ID_BYTES)) ||
		    (rc = veld__meta_put(s, "office_sign_pk", r->office_sign_pk, 32)) ||
		    (rc = veld__meta_put(s, "office_box_pk", r->office_box_pk, 32)))
			goto done;
	} else {
		if ((rc = veld__meta_put(s, "office_device", s->device, VELD_ID_BYTES)) ||
		    (rc = veld__meta_put(s, "office_sign_pk", s->sign_pk, 32)) ||
		    (rc = veld__meta_put(s, "office_box_pk", s->box_pk, 32)))
			goto done;
	}
	if ((rc = veld__meta_put(s, "server_url", url, strlen(url))) ||
	    (rc = veld__meta_put(s, "sync_role", r->role, strlen(r->role))) ||
	    (rc = share_all_keys(s)) ||
	    (rc = veld__audit(s, "enroll", "success", NULL, "setup")))
		goto done;
done:
	sodium_memzero(ckey, sizeof ckey);
	veld__secret_free(sk);
	s->policy_cached = 0; /* a worker follows its team's field policy from now on */
	rc = tx_end(s, &tx, rc);
	veld__leave(s);
	return rc;
}

/* ---- office ---------------------------------------------------------------------- */

static int need_office(veld_store *s)
{
	if (!s->office)
		return veld__err(VELD_EPERM, "only the office store can do this");
	return VELD_OK;
}

/* A new team key version (tv = current + 1), stored; secret half in sk. */
static int new_team_key(veld_store *s, const char *team, uint64_t *tv, uint8_t pk[32], uint8_t *sk)
{
	uint64_t cur = 0;
	uint8_t oldpk[32];
	if (veld__team_key_get(s, team, &cur, oldpk, NULL) != VELD_OK) {
		veld__err_clear();
		cur = 0;
	}
	*tv = cur + 1;
	crypto_box_keypair(pk, sk);
	return veld__team_key_put(s, team, *tv, pk, sk);
}

int veld__office_erase_client(veld_store *s, const char *client_id,
                              struct veld__erase_req *req)
{
	uint8_t *client = req->client, msg[VELD_ERASE_SIG_MSG];
	uint8_t entity[VELD_ID_BYTES];
	int rc = veld__sync_enter_keys(s);
	if (rc)
		return rc;
	if (!s->office) {
		rc = veld__err(VELD_EPERM, "only the office erases a client everywhere; this device"
		               " can erase it from its own store (veld client erase)");
	} else if ((rc = veld__resolve(s, "client", client_id, entity, client, NULL, NULL)) ==
	           VELD_ESHREDDED || rc == VELD_ENOTFOUND) {
		/* Erased here already (an erasure the server did not confirm): a
		 * full id is enough to finish it. */
		if (client_id && veld__unhex(client, VELD_ID_BYTES, client_id) == 0 &&
		    veld__merge_is_erased(&s->m, client) == 1) {
			veld__err_clear();
			rc = VELD_OK;
		}
	}
	if (rc == VELD_OK) {
		req->at = veld__hlc_now_ms();
		veld__erase_sig_message(msg, client, req->at);
		crypto_sign_detached(req->sig, NULL, msg, sizeof msg, s->sign_sk);
	}
	veld__leave(s);
	return rc;
}

int veld__office_policy_sign(veld_store *s, const char *team, uint32_t mask,
                             struct veld__field_policy *out)
{
	uint8_t msg[VELD_POLICY_SIG_MSG_MAX];
	uint64_t at = 0;
	uint32_t old;
	size_t n;
	int rc = veld__sync_enter_keys(s);
	if (rc)
		return rc;
	memset(out, 0, sizeof *out);
	if ((rc = need_office(s)) != VELD_OK)
		goto out;
	if (mask & ~VELD_POLICY_ALL) {
		rc = veld__err(VELD_EINVAL, "the policy names a field it does not govern");
		goto out;
	}
	if ((rc = veld__policy_get(s, team, &at, &old, NULL)) == VELD_ENOTFOUND) {
		veld__err_clear();
		rc = VELD_OK;
	}
	if (rc != VELD_OK)
		goto out;
	snprintf(out->team, sizeof out->team, "%s", team);
	out->at = veld__hlc_now_ms();
	if (out->at <= at) /* never back in time, also with a clock set back */
		out->at = at + 1;
	out->mask = mask;
	n = veld__policy_sig_message(msg, team, out->at, mask);
	crypto_sign_detached(out->sig, NULL, msg, n, s->sign_sk);
out:
	veld__leave(s);
	return rc;
}

int veld__office_policy_saved(veld_store *s, const struct veld__field_policy *p)
{
	struct veld__tx tx;
	char purpose[VELD_TEAM_MAX + 32];
	int rc = veld__sync_enter_keys(s);
	if (rc)
		return rc;
	snprintf(purpose, sizeof purpose, "field policy of team %s", p->team);
	if ((rc = veld__tx_begin(s, &tx)) == VELD_OK) {
		rc = veld__policy_put(s, p->team, p->at, p->mask, p->sig);
		if (rc == VELD_OK)
			rc = veld__audit(s, "policy-change", "success", NULL, purpose);
		rc = tx_end(s, &tx, rc);
	}
	veld__leave(s);
	return rc;
}

int veld__office_invite(veld_store *s, const char *team, uint64_t expires_ms,
                        char code_text[48], struct veld__invite_req *req, int *new_team)
{
	struct veld__tx tx;
	uint8_t code[VELD_CODE_BYTES], ckey[32], pk[32], ad[VELD_TEAM_MAX + 32], *sk;
	uint64_t tv = 0;
	int rc = veld__sync_enter_keys(s);
	if (rc)
		return rc;
	*new_team = 0;
	memset(req, 0, sizeof *req);
	if ((rc = need_office(s)) != VELD_OK) {
		veld__leave(s);
		return rc;
	}
	if (!team || !*team || strlen(team) > VELD_TEAM_MAX ||
	    strspn(team, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@-") !=
	        strlen(team) || strcmp(team, "office") == 0) {
		veld__leave(s);
		return veld__err(VELD_EINVAL, "a team name is 1-64 letters, digits or ._@- (not 'office')");
	}
	if (!(sk = veld__secret_new(32))) {
		veld__leave(s);
		return veld__err(VELD_ENOMEM, "out of memory");
	}
	if ((rc = veld__tx_begin(s, &tx)) != VELD_OK)
		goto out;
	if (veld__team_key_get(s, team, &tv, pk, sk) != VELD_OK) {
		veld__err_clear();
		if ((rc = new_team_key(s, team, &tv, pk, sk)) != VELD_OK)
			goto done;
		*new_team = 1;
	}
	veld__code_new(code, code_text);
	veld__code_auth(req->auth, code);
	veld__code_key(ckey, code);
	snprintf(req->team, sizeof req->team, "%s", team);
	req->expires = expires_ms;
	req->tv = tv;
	veld__seal(req->team_sealed, sk, 32, ad, invite_ad(ad, team, tv), ckey);
	rc = veld__audit(s, "invite", "success", NULL, "device enrollment");
done:
	sodium_memzero(code, sizeof code);
	sodium_memzero(ckey, sizeof ckey);
	rc = tx_end(s, &tx, rc);
out:
	veld__secret_free(sk);
	veld__leave(s);
	return rc;
}

void veld__team_keys_out_free(struct veld__team_keys_out *o)
{
	if (!o)
		return;
	free(o->mem);
	memset(o, 0, sizeof *o);
}

/* New versions of every client key of `team`, shared with the new team key
 * and the office, so that what is written from now on is sealed with keys
 * a revoked device never held. */
static int rotate_client_keys(veld_store *s, const char *team)
{
	sqlite3_stmt *st;
	uint8_t *key = veld__secret_new(32);
	int rc;
	if (!key)
		return veld__err(VELD_ENOMEM, "out of memory");
	/* The team from the client's record: keys that arrived in an envelope
	 * before the record did carry no team. */
	rc = sqlite3_prepare_v2(s->db, "SELECT k.client, max(k.kv) FROM client_keys k"
	                        " JOIN entities e ON e.entity = k.client WHERE e.team = ?1"
	                        " GROUP BY k.client", -1, &st, NULL);
	if (rc != SQLITE_OK) {
		veld__secret_free(key);
		return veld__err_sqlite(rc, "rotating client keys");
	}
	sqlite3_bind_text(st, 1, team, -1, SQLITE_STATIC);
	/* Collect first: we insert into the table we read. */
	{
		size_t n = 0, cap = 64;
		uint8_t (*ids)[VELD_ID_BYTES] = malloc(cap * VELD_ID_BYTES);
		uint64_t *kvs = malloc(cap * sizeof *kvs);
		rc = ids && kvs ? VELD_OK : veld__err(VELD_ENOMEM, "out of memory");
		while (rc == VELD_OK && sqlite3_step(st) == SQLITE_ROW) {
			if (n == cap) {
				void *a = realloc(ids, 2 * cap * VELD_ID_BYTES), *b = realloc(kvs, 2 * cap * sizeof *kvs);
				if (a)
					ids = a;
				if (b)
					kvs = b;
				if (!a || !b) {
					rc = veld__err(VELD_ENOMEM, "out of memory");
					break;
				}
				cap *= 2;
			}
			memcpy(ids[n], sqlite3_column_blob(st, 0), VELD_ID_BYTES);
			kvs[n++] = (uint64_t)sqlite3_column_int64(st, 1);
		}
		sqlite3_finalize(st);
		for (size_t i = 0; i < n && rc == VELD_OK; i++) {
			crypto_aead_xchacha20poly1305_ietf_keygen(key);
			if ((rc = veld__client_key_put(s, ids[i], kvs[i] + 1, team, key)) == VELD_OK)
				rc = veld__keys_share(s, ids[i], kvs[i] + 1, team, key);
		}
		free(ids);
		free(kvs);
	}
	veld__secret_free(key);
	return rc;
}

int veld__office_team_keys(veld_store *s, const char *team, int rotate,
                           const struct veld__devices_resp *devices, struct veld__team_keys_out *out)
{
	struct veld__tx tx;
	uint8_t *sk;
	uint64_t tv = 0;
	size_t n = 0;
	int rc = veld__sync_enter_keys(s);
	if (rc)
		return rc;
	memset(out, 0, sizeof *out);
	if ((rc = need_office(s)) != VELD_OK) {
		veld__leave(s);
		return rc;
	}
	if (!(sk = veld__secret_new(32)) ||
	    !(out->mem = calloc(devices->ndevices ? devices->ndevices : 1, sizeof(struct veld__sealed_for)))) {
		veld__secret_free(sk);
		veld__leave(s);
		return veld__err(VELD_ENOMEM, "out of memory");
	}
	if ((rc = veld__tx_begin(s, &tx)) != VELD_OK)
		goto out;
	if (rotate) {
		if ((rc = new_team_key(s, team, &tv, out->req.pk, sk)) != VELD_OK ||
		    (rc = rotate_client_keys(s, team)) != VELD_OK)
			goto done;
	} else if ((rc = veld__team_key_get(s, team, &tv, out->req.pk, sk)) != VELD_OK) {
		goto done;
	}
	out->req.sealed = out->mem;
	for (size_t i = 0; i < devices->ndevices; i++) {
		const struct veld__device_info *d = &devices->devices[i];
		if (d->revoked || strcmp(d->team, team) != 0 || strcmp(d->role, "worker") != 0)
			continue;
		memcpy(out->req.sealed[n].device, d->device, VELD_ID_BYTES);
		crypto_box_seal(out->req.sealed[n].sealed, sk, 32, d->box_pk);
		n++;
	}
	snprintf(out->req.team, sizeof out->req.team, "%s", team);
	out->req.tv = tv;
	out->req.nsealed = n;
	rc = rotate ? veld__audit(s, "team-key-rotate", "success", NULL, "revocation") : VELD_OK;
done:
	rc = tx_end(s, &tx, rc);
out:
	veld__secret_free(sk);
	veld__leave(s);
	if (rc != VELD_OK)
		veld__team_keys_out_free(out);
	return rc;
}
