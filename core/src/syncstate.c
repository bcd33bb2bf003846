/* syncstate.c - the store's side of what sync keeps: steps, identity, the
 * keys at work, counters, the outbox, own operations to push, pulled
 * signatures, and the access log's way to the office. syncstate.h says why
 * sync reaches the store only through here. */
#include "syncstate.h"
#include "error.h"
#include "crypto.h"
#include "hlc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	SY_OWN_OPS, SY_OWN_REMOVED, SY_OWN_RESTORE, SY_OWN_HASHES,
	SY_OUTBOX_READ, SY_OUTBOX_DEL, SY_OUTBOX_COUNT,
	SY_KEYS_ALL, SY_KEYS_TEAM, SY_KEYS_TEAM_ALL,
	SY_BATCH_KEEP, SY_BATCH_GET, SY_BATCH_DROP, SY_PEER_SET, SY_PEER_PIN, SY_PEER_GET,
	SY_AUDIT_ROWS, SY_OAUDIT_LAST, SY_OAUDIT_GET, SY_OAUDIT_PUT,
	SY__COUNT
};

static const char *const sync_sql[SY__COUNT] = {
	[SY_OWN_OPS] = "SELECT seq, hlc, kind, entity, client, team, kv, field, value, sup, ver"
	               " FROM ops WHERE device = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
	[SY_OWN_REMOVED] = "SELECT count(*) FROM ops WHERE device = ?1 AND seq >= ?2"
	                   " AND value IS NULL AND field != '" VELD_TOMBSTONE_FIELD "'",
	/* Only while the record is still here: one removed by retention or
	 * erasure stays removed. */
	[SY_OWN_RESTORE] = "UPDATE ops SET value = ?3 WHERE device = ?1 AND seq = ?2"
	                   " AND value IS NULL AND hash = ?4 AND EXISTS (SELECT 1 FROM"
	                   " entities e WHERE e.entity = ops.entity)",
	[SY_OWN_HASHES] = "SELECT seq, hash FROM ops WHERE device = ?1 AND seq BETWEEN ?2 AND ?3"
	                  " ORDER BY seq",
	[SY_OUTBOX_READ] = "SELECT client, kv, recipient, tv, sealed FROM outbox"
	                   " ORDER BY client, kv, recipient, tv LIMIT ?1",
	[SY_OUTBOX_DEL] = "DELETE FROM outbox WHERE client = ?1 AND kv = ?2 AND recipient = ?3"
	                  " AND tv = ?4",
	[SY_OUTBOX_COUNT] = "SELECT count(*) FROM outbox",
	[SY_KEYS_ALL] = "SELECT client, kv, team FROM client_keys",
	/* The team from the client's record: keys that arrived in an envelope
	 * before the record did carry no team. */
	[SY_KEYS_TEAM] = "SELECT k.client, max(k.kv) FROM client_keys k JOIN entities e"
	                 " ON e.entity = k.client WHERE e.team = ?1 GROUP BY k.client",
	[SY_KEYS_TEAM_ALL] = "SELECT k.client, k.kv FROM client_keys k JOIN entities e"
	                     " ON e.entity = k.client WHERE e.team = ?1",
	[SY_BATCH_KEEP] = "INSERT OR IGNORE INTO held_batches(device, first_seq, last_seq, id, sig,"
	                  " hashes, ver) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	/* Every batch kept that covers the seq: one a server made up does not
	 * hide the one its author signed. */
	[SY_BATCH_GET] = "SELECT first_seq, last_seq, sig, hashes, ver FROM held_batches"
	                 " WHERE device = ?1 AND first_seq <= ?2 AND last_seq >= ?2",
	[SY_BATCH_DROP] = "DELETE FROM held_batches WHERE device = ?1 AND last_seq <= ?2",
	[SY_PEER_SET] = "INSERT OR REPLACE INTO peers(device, sign_pk) VALUES(?1, ?2)",
	[SY_PEER_PIN] = "INSERT OR IGNORE INTO peers(device, sign_pk) VALUES(?1, ?2)",
	[SY_PEER_GET] = "SELECT sign_pk FROM peers WHERE device = ?1",
	[SY_AUDIT_ROWS] = "SELECT seq, at, event, outcome, client, user, role, device, purpose"
	                  " FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2",
	[SY_OAUDIT_LAST] = "SELECT max(seq) FROM office_audit WHERE device = ?1",
	[SY_OAUDIT_GET] = "SELECT at, event, outcome, client, user, role, purpose FROM office_audit"
	                  " WHERE device = ?1 AND seq = ?2",
	[SY_OAUDIT_PUT] = "INSERT INTO office_audit(device, seq, at, event, outcome, client, user,"
	                  " role, purpose) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
};

static const struct veld__sqltab sync_tab = {VELD_SQL_SYNC, SY__COUNT, sync_sql};

static int stmt(veld_store *s, int i, sqlite3_stmt **st)
{
	return veld__sql(s, &sync_tab, i, st);
}

/* ---- a step ------------------------------------------------------------------ */

int veld__step_begin(veld_store *s, struct veld__step *st, int flags)
{
	int rc = veld__enter(s);
	if (rc)
		return rc;
	st->flags = flags;
	st->checkpoint = 0;
	if ((flags & VELD_STEP_KEYS) && (rc = veld__need_keys(s)) != VELD_OK) {
		veld__leave(s);
		return rc;
	}
	if ((flags & VELD_STEP_WRITE) && (rc = veld__tx_begin(s, &st->tx)) != VELD_OK) {
		veld__leave(s);
		return rc;
	}
	return VELD_OK;
}

int veld__step_end(veld_store *s, struct veld__step *st, int rc)
{
	if (st->flags & VELD_STEP_WRITE) {
		if (rc == VELD_OK) {
			rc = veld__tx_commit(s, &st->tx);
			if (rc == VELD_OK && st->checkpoint && s->tx_depth == 0)
				sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
		} else {
			char msg[512];
			snprintf(msg, sizeof msg, "%s", veld_error_last());
			veld__tx_abort(s, &st->tx);
			rc = veld__err(rc, "%s", msg);
		}
	}
	veld__leave(s);
	return rc;
}

int veld__sync_u64_step(veld_store *s, const char *key, uint64_t *v)
{
	struct veld__step step;
	int rc = veld__step_begin(s, &step, 0);
	if (rc)
		return rc;
	return veld__step_end(s, &step, veld__sync_u64(s, key, v));
}

/* ---- cancelling --------------------------------------------------------------------- */

atomic_int *veld__store_cancel_enter(veld_store *s)
{
	pthread_mutex_lock(&s->cancel_mu);
	if (s->cancel_users++ == 0)
		atomic_store(&s->cancel_flag, 0);
	pthread_mutex_unlock(&s->cancel_mu);
	return &s->cancel_flag;
}

void veld__store_cancel_leave(veld_store *s)
{
	pthread_mutex_lock(&s->cancel_mu);
	if (s->cancel_users > 0 && --s->cancel_users == 0)
		atomic_store(&s->cancel_flag, 0);
	pthread_mutex_unlock(&s->cancel_mu);
}

void veld__store_cancel(veld_store *s)
{
	pthread_mutex_lock(&s->cancel_mu);
	if (s->cancel_users > 0)
		atomic_store(&s->cancel_flag, 1);
	pthread_mutex_unlock(&s->cancel_mu);
}

/* ---- identity and keys --------------------------------------------------------- */

const uint8_t *veld__store_device(const veld_store *s) { return s->device; }
const uint8_t *veld__store_sign_pk(const veld_store *s) { return s->sign_pk; }
const uint8_t *veld__store_box_pk(const veld_store *s) { return s->box_pk; }
const char *veld__store_team(const veld_store *s) { return s->team; }
const char *veld__store_user(const veld_store *s) { return s->user; }
int veld__store_is_office(const veld_store *s) { return s->office; }
uint64_t veld__store_last_seq(const veld_store *s) { return s->next_seq - 1; }
uint64_t veld__store_audit_seq(const veld_store *s) { return s->audit_seq; }

int veld__store_set_team(veld_store *s, const char *team)
{
	if (strlen(team) > VELD_TEAM_MAX)
		return veld__err(VELD_EINVAL, "the team name is too long");
	snprintf(s->team, sizeof s->team, "%s", team);
	return veld__meta_put(s, "team", s->team, strlen(s->team));
}

void veld__store_sign(veld_store *s, uint8_t sig[64], const uint8_t *msg, size_t len)
{
	crypto_sign_detached(sig, NULL, msg, len, s->sign_sk);
}

int veld__store_box_open(veld_store *s, uint8_t *out, const uint8_t *sealed, size_t len)
{
	if (len < crypto_box_SEALBYTES)
		return -1;
	return crypto_box_seal_open(out, sealed, len, s->box_pk, s->box_sk) == 0 ? 0 : -1;
}

int veld__store_box_dh(veld_store *s, uint8_t shared[32], const uint8_t pk[32])
{
	return crypto_scalarmult(shared, s->box_sk, pk) == 0 ? 0 : -1;
}

/* ---- clock, merge, erasure, policy ---------------------------------------------- */

void veld__store_clock_seen(veld_store *s, uint64_t hlc)
{
	s->hlc = veld__hlc_recv(s->hlc, hlc, veld__hlc_now_ms());
}

int veld__store_merge(veld_store *s, const veld__op *op, int *applied)
{
	return veld__merge_apply(&s->m, op, applied);
}

int veld__store_is_erased(veld_store *s, const uint8_t client[VELD_ID_BYTES])
{
	return veld__merge_is_erased(&s->m, client);
}

void veld__store_policy_changed(veld_store *s)
{
	s->policy_cached = 0;
}

/* ---- counters and settings --------------------------------------------------------- */

int veld__sync_u64(veld_store *s, const char *key, uint64_t *v)
{
	int rc = veld__meta_get_u64(s, key, v);
	if (rc == VELD_ENOTFOUND) {
		veld__err_clear();
		*v = 0;
		return VELD_OK;
	}
	return rc;
}

int veld__sync_set_u64(veld_store *s, const char *key, uint64_t v)
{
	return veld__meta_put_u64(s, key, v);
}

int veld__sync_text(veld_store *s, const char *key, char *out, size_t cap)
{
	size_t n = 0;
	int rc = veld__meta_get(s, key, out, cap - 1, &n);
	if (rc)
		return rc;
	out[n < cap - 1 ? n : cap - 1] = 0;
	return VELD_OK;
}

int veld__sync_set_text(veld_store *s, const char *key, const char *v)
{
	return veld__meta_put(s, key, v, strlen(v));
}

int veld__sync_text_dup(veld_store *s, const char *key, size_t max, char **out)
{
	size_t n = 0, got = 0;
	int rc;
	*out = NULL;
	if ((rc = veld__meta_get(s, key, NULL, 0, &n)) != VELD_OK)
		return rc;
	if (n > max)
		return veld__err(VELD_ECORRUPT, "store metadata '%s' is too long", key);
	if (!(*out = malloc(n + 1)))
		return veld__err(VELD_ENOMEM, "out of memory");
	if ((rc = veld__meta_get(s, key, *out, n, &got)) != VELD_OK || got != n) {
		free(*out);
		*out = NULL;
		return rc ? rc : veld__err(VELD_ECORRUPT, "store metadata '%s' changed", key);
	}
	(*out)[n] = '\0';
	return VELD_OK;
}

int veld__sync_bytes(veld_store *s, const char *key, uint8_t *out, size_t n)
{
	return veld__meta_get(s, key, out, n, NULL);
}

int veld__sync_set_bytes(veld_store *s, const char *key, const uint8_t *v, size_t n)
{
	return veld__meta_put(s, key, v, n);
}

/* ---- own operations ------------------------------------------------------------------ */

void veld__opbuf_free(struct veld__opbuf *b)
{
	if (!b)
		return;
	free(b->ops);
	free(b->sups);
	free(b->values);
	memset(b, 0, sizeof *b);
}

/* One row of SY_OWN_OPS into op; its value and supersedes are copied to
 * the buffer's next free places. */
static int own_op_row(veld_store *s, sqlite3_stmt *st, struct veld__opbuf *b, veld__op *op,
                      size_t *used_vals, size_t *used_sups)
{
	size_t vlen = (size_t)sqlite3_column_bytes(st, 8), ns = 0;
	int rc;
	memcpy(op->device, s->device, VELD_ID_BYTES);
	op->version = (uint32_t)sqlite3_column_int(st, 10);
	op->seq = (uint64_t)sqlite3_column_int64(st, 0);
	op->hlc = (uint64_t)sqlite3_column_int64(st, 1);
	veld__sql_text(st, 2, op->kind, sizeof op->kind);
	memcpy(op->entity, sqlite3_column_blob(st, 3), VELD_ID_BYTES);
	memcpy(op->client, sqlite3_column_blob(st, 4), VELD_ID_BYTES);
	veld__sql_text(st, 5, op->team, sizeof op->team);
	op->kv = (uint64_t)sqlite3_column_int64(st, 6);
	veld__sql_text(st, 7, op->field, sizeof op->field);
	if (sqlite3_column_type(st, 8) != SQLITE_NULL) {
		memcpy(b->values + *used_vals, sqlite3_column_blob(st, 8), vlen);
		op->value = b->values + *used_vals;
		op->value_len = vlen;
		*used_vals += vlen;
	}
	if ((rc = veld__sup_decode(b->sups + *used_sups, VELD_OP_MAX_SUPERSEDES,
	                           sqlite3_column_blob(st, 9), (size_t)sqlite3_column_bytes(st, 9),
	                           &ns)) != VELD_OK)
		return rc;
	op->sup = b->sups + *used_sups;
	op->nsup = ns;
	*used_sups += ns;
	veld__op_hash(op);
	return VELD_OK;
}

int veld__own_ops_read(veld_store *s, uint64_t after, size_t max, struct veld__opbuf *out)
{
	sqlite3_stmt *st;
	size_t n = 0, vals = 0, sups = 0, used_vals = 0, used_sups = 0;
	int rc;
	memset(out, 0, sizeof *out);
	if ((rc = stmt(s, SY_OWN_OPS, &st)) != VELD_OK)
		return rc;
	sqlite3_bind_blob(st, 1, s->device, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)after);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)max);
	/* First pass: sizes, so everything lives in three blocks. */
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		vals += (size_t)sqlite3_column_bytes(st, 8);
		sups += (size_t)sqlite3_column_bytes(st, 9) / 24;
		n++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return veld__err_sqlite(rc, "reading operations to push");
	if (n == 0)
		return VELD_OK;
	out->ops = calloc(n, sizeof *out->ops);
	out->sups = calloc(sups ? sups : 1, sizeof *out->sups);
	out->values = malloc(vals ? vals : 1);
	if (!out->ops || !out->sups || !out->values) {
		veld__opbuf_free(out);
		return veld__err(VELD_ENOMEM, "out of memory");
	}
	rc = VELD_OK;
	while (rc == VELD_OK && out->n < n) {
		int src = sqlite3_step(st);
		if (src == SQLITE_DONE)
			break;
		if (src != SQLITE_ROW)
			rc = veld__err_sqlite(src, "reading operations to push");
		else
			rc = own_op_row(s, st, out, &out->ops[out->n++], &used_vals, &used_sups);
	}
	sqlite3_reset(st);
	if (rc != VELD_OK)
		veld__opbuf_free(out);
	return rc;
}

int veld__own_values_removed(veld_store *s, uint64_t from, uint64_t *n)
{
	sqlite3_stmt *st;
	int rc = stmt(s, SY_OWN_REMOVED, &st);
	if (rc)
		return rc;
	sqlite3_bind_blob(st, 1, s->device, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)from);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		*n = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? VELD_OK : veld__err_sqlite(rc, "reading the operation log");
}

int veld__own_hashes(veld_store *s, uint64_t from, uint64_t to, uint8_t *out, size_t *n)
{
	sqlite3_stmt *st;
	int rc = stmt(s, SY_OWN_HASHES, &st);
	*n = 0;
	if (rc)
		return rc;
	sqlite3_bind_blob(st, 1, s->device, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)from);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)to);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((uint64_t)sqlite3_column_int64(st, 0) != from + *n ||
		    sqlite3_column_bytes(st, 1) != VELD_HASH_BYTES) {
			rc = SQLITE_ROW;
			break;
		}
		memcpy(out + *n * VELD_HASH_BYTES, sqlite3_column_blob(st, 1), VELD_HASH_BYTES);
		(*n)++;
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW || *n != to - from + 1)
		return veld__err(VELD_ECORRUPT, "this device's own operations %llu to %llu are not all"
		                 " here", (unsigned long long)from, (unsigned long long)to);
	return rc == SQLITE_DONE ? VELD_OK : veld__err_sqlite(rc, "reading the operation log");
}

int veld__own_value_restore(veld_store *s, const veld__op *op)
{
	sqlite3_stmt *st;
	int rc = stmt(s, SY_OWN_RESTORE, &st);
	if (rc)
		return rc;
	sqlite3_bind_blob(st, 1, op->device, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)op->seq);
	sqlite3_bind_blob(st, 3, op->value, (int)op->value_len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 4, op->hash, VELD_HASH_BYTES, SQLITE_STATIC);
	return veld__sql_run(st, "restoring a value");
}

/* ---- the outbox ------------------------------------------------------------------------ */

int veld__outbox_read(veld_store *s, struct veld__outbox_env *envs, size_t max, size_t *n)
{
	sqlite3_stmt *st;
	int rc = stmt(s, SY_OUTBOX_READ, &st);
	*n = 0;
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)max);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < max) {
		struct veld__outbox_env *e = &envs[*n];
		if (sqlite3_column_bytes(st, 4) != VELD_SEALED_KEY_BYTES)
			continue; /* not an envelope this version makes: never sent */
		memcpy(e->client, sqlite3_column_blob(st, 0), VELD_ID_BYTES);
		e->kv = (uint64_t)sqlite3_column_int64(st, 1);
		veld__sql_text(st, 2, e->to, sizeof e->to);
		e->tv = (uint64_t)sqlite3_column_int64(st, 3);
		memcpy(e->sealed, sqlite3_column_blob(st, 4), VELD_SEALED_KEY_BYTES);
		(*n)++;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? VELD_OK
	                                             : veld__err_sqlite(rc, "reading key envelopes");
}

int veld__outbox_remove(veld_store *s, const struct veld__outbox_env *e)
{
	sqlite3_stmt *st;
	int rc = stmt(s, SY_OUTBOX_DEL, &st);
	if (rc)
		return rc;
	sqlite3_bind_blob(st, 1, e->client, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)e->kv);
	sqlite3_bind_text(st, 3, e->to, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)e->tv);
	return veld__sql_run(st, "recording the push");
}

int veld__outbox_count(veld_store *s, uint64_t *n)
{
	sqlite3_stmt *st;
	int rc = stmt(s, SY_OUTBOX_COUNT, &st);
	if (rc)
		return rc;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		*n = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? VELD_OK : veld__err_sqlite(rc, "counting key envelopes");
}

/* ---- sharing and rotating client keys ------------------------------------------------ */

/* A client and key version read from client_keys. */
struct keyref {
	uint8_t client[VELD_ID_BYTES];
	uint64_t kv;
	char team[VELD_TEAM_MAX + 1];
};

/* Every row of a key query, collected first: the callers write the tables
 * they read. *out is malloc'ed (free it), *n its length. */
static int keyrefs_read(veld_store *s, int which, const char *team, struct keyref **out,
                        size_t *n)
{
	sqlite3_stmt *st;
	size_t cap = 0;
	int rc = stmt(s, which, &st);
	*out = NULL;
	*n = 0;
	if (rc)
		return rc;
	if (team)
		sqlite3_bind_text(st, 1, team, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			struct keyref *g = realloc(*out, (cap ? cap * 2 : 64) * sizeof *g);
			if (!g) {
				sqlite3_reset(st);
				free(*out);
				*out = NULL;
				return veld__err(VELD_ENOMEM, "out of memory");
			}
			*out = g;
			cap = cap ? cap * 2 : 64;
		}
		memcpy((*out)[*n].client, sqlite3_column_blob(st, 0), VELD_ID_BYTES);
		(*out)[*n].kv = (uint64_t)sqlite3_column_int64(st, 1);
		if (team)
			snprintf((*out)[*n].team, sizeof (*out)[*n].team, "%s", team);
		else
			veld__sql_text(st, 2, (*out)[*n].team, sizeof (*out)[*n].team);
		(*n)++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		free(*out);
		*out = NULL;
		return veld__err_sqlite(rc, "reading client keys");
	}
	return VELD_OK;
}

int veld__keys_share_all(veld_store *s)
{
	struct keyref *refs;
	size_t n;
	int rc = keyrefs_read(s, SY_KEYS_ALL, NULL, &refs, &n);
	for (size_t i = 0; rc == VELD_OK && i < n; i++) {
		const uint8_t *key;
		if ((rc = veld__client_key(s, refs[i].client, refs[i].kv, &key)) == VELD_OK)
			rc = veld__keys_share(s, refs[i].client, refs[i].kv, refs[i].team, key);
	}
	free(refs);
	return rc;
}

int veld__keys_rotate_team(veld_store *s, const char *team)
{
	struct keyref *refs;
	uint8_t *key = veld__secret_new(32);
	size_t n = 0;
	int rc;
	if (!key)
		return veld__err(VELD_ENOMEM, "out of memory");
	/* Every version held, shared again with the team's new key: a device
	 * of the team reads what was written before. */
	rc = keyrefs_read(s, SY_KEYS_TEAM_ALL, team, &refs, &n);
	for (size_t i = 0; rc == VELD_OK && i < n; i++) {
		const uint8_t *held;
		if ((rc = veld__client_key(s, refs[i].client, refs[i].kv, &held)) == VELD_OK)
			rc = veld__keys_share(s, refs[i].client, refs[i].kv, team, held);
	}
	free(refs);
	/* And a new version of each client's key for what is written next. */
	if (rc == VELD_OK)
		rc = keyrefs_read(s, SY_KEYS_TEAM, team, &refs, &n);
	else
		refs = NULL;
	for (size_t i = 0; rc == VELD_OK && i < n; i++) {
		crypto_aead_xchacha20poly1305_ietf_keygen(key);
		if ((rc = veld__client_key_put(s, refs[i].client, refs[i].kv + 1, team, key)) == VELD_OK)
			rc = veld__keys_share(s, refs[i].client, refs[i].kv + 1, team, key);
	}
	free(refs);
	veld__secret_free(key);
	return rc;
}

/* ---- pulled signatures and keys ------------------------------------------------------------ */

int veld__batch_keep(veld_store *s, const uint8_t device[VELD_ID_BYTES], uint64_t first,
                     uint64_t last, const uint8_t sig[64], const uint8_t *hashes, uint32_t ver)
{
	sqlite3_stmt *st;
	crypto_generichash_state h;
	uint8_t id[16], be[16];
	size_t n = (size_t)(last - first + 1) * VELD_HASH_BYTES;
	int rc = stmt(s, SY_BATCH_KEEP, &st);
	if (rc)
		return rc;
	veld__be64_put(be, last);
	veld__be64_put(be + 8, ver);
	crypto_generichash_init(&h, NULL, 0, sizeof id);
	crypto_generichash_update(&h, be, sizeof be);
	crypto_generichash_update(&h, sig, 64);
	crypto_generichash_update(&h, hashes, n);
	crypto_generichash_final(&h, id, sizeof id);
	sqlite3_bind_blob(st, 1, device, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)first);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)last);
	sqlite3_bind_blob(st, 4, id, sizeof id, SQLITE_STATIC);
	sqlite3_bind_blob(st, 5, sig, 64, SQLITE_STATIC);
	sqlite3_bind_blob(st, 6, hashes, (int)n, SQLITE_STATIC);
	sqlite3_bind_int(st, 7, (int)ver);
	return veld__sql_run(st, "keeping a batch of an author not certified yet");
}

int veld__batch_drop(veld_store *s, const uint8_t device[VELD_ID_BYTES], uint64_t upto)
{
	sqlite3_stmt *st;
	int rc = stmt(s, SY_BATCH_DROP, &st);
	if (rc)
		return rc;
	sqlite3_bind_blob(st, 1, device, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)upto);
	return veld__sql_run(st, "dropping kept batches");
}

void veld__batch_cache_free(struct veld__batch_cache *c)
{
	free(c->hashes);
	memset(c, 0, sizeof *c);
}

static int cached(const struct veld__batch_cache *c, const uint8_t device[VELD_ID_BYTES],
                  uint64_t seq, const uint8_t hash[VELD_HASH_BYTES], const uint8_t pk[32])
{
	return c->hashes && memcmp(c->device, device, VELD_ID_BYTES) == 0 && seq >= c->first &&
	       seq <= c->last && memcmp(c->pk, pk, 32) == 0 &&
	       sodium_memcmp(c->hashes + (seq - c->first) * VELD_HASH_BYTES, hash, VELD_HASH_BYTES) ==
	       0;
}

/* The kept batch on the statement's row, if it holds `hash` at seq and is
 * signed with pk: into c (1), else 0. */
static int batch_row(sqlite3_stmt *st, const uint8_t device[VELD_ID_BYTES], uint64_t seq,
                     const uint8_t hash[VELD_HASH_BYTES], const uint8_t pk[32],
                     struct veld__batch_cache *c)
{
	uint64_t first = (uint64_t)sqlite3_column_int64(st, 0), last = (uint64_t)sqlite3_column_int64(st, 1);
	size_t n = (size_t)(last - first + 1);
	const uint8_t *hashes = sqlite3_column_blob(st, 3);
	uint8_t msg[77];
	if (last < first || sqlite3_column_bytes(st, 2) != 64 ||
	    (size_t)sqlite3_column_bytes(st, 3) != n * VELD_HASH_BYTES ||
	    sodium_memcmp(hashes + (seq - first) * VELD_HASH_BYTES, hash, VELD_HASH_BYTES) != 0)
		return 0;
	veld__batch_digest(msg, (uint32_t)sqlite3_column_int(st, 4), device, first, last, hashes, n);
	if (crypto_sign_verify_detached(sqlite3_column_blob(st, 2), msg, sizeof msg, pk) != 0)
		return 0;
	veld__batch_cache_free(c);
	if (!(c->hashes = malloc(n * VELD_HASH_BYTES)))
		return veld__err(VELD_ENOMEM, "out of memory");
	memcpy(c->hashes, hashes, n * VELD_HASH_BYTES);
	memcpy(c->device, device, VELD_ID_BYTES);
	memcpy(c->pk, pk, 32);
	c->first = first;
	c->last = last;
	return 1;
}

int veld__batch_check(veld_store *s, const uint8_t device[VELD_ID_BYTES], uint64_t seq,
                      const uint8_t hash[VELD_HASH_BYTES], const uint8_t sign_pk[32],
                      struct veld__batch_cache *cache)
{
	struct veld__batch_cache own = {0}, *c = cache ? cache : &own;
	sqlite3_stmt *st;
	int rc, src = SQLITE_DONE, ok = 0;
	if (cached(c, device, seq, hash, sign_pk))
		return 1;
	if ((rc = stmt(s, SY_BATCH_GET, &st)) != VELD_OK)
		return rc;
	sqlite3_bind_blob(st, 1, device, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)seq);
	while (ok == 0 && (src = sqlite3_step(st)) == SQLITE_ROW)
		ok = batch_row(st, device, seq, hash, sign_pk, c);
	veld__batch_cache_free(&own);
	if (ok != 0) {
		sqlite3_reset(st);
		return ok;
	}
	rc = veld__sql_done(st, src, "reading kept batches");
	return rc == VELD_OK ? 0 : rc;
}

int veld__peer_set(veld_store *s, const uint8_t device[VELD_ID_BYTES], const uint8_t pk[32],
                   int replace)
{
	sqlite3_stmt *st;
	int rc = stmt(s, replace ? SY_PEER_SET : SY_PEER_PIN, &st);
	if (rc)
		return rc;
	sqlite3_bind_blob(st, 1, device, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, pk, 32, SQLITE_STATIC);
	return veld__sql_run(st, "storing device keys");
}

int veld__peer_get(veld_store *s, const uint8_t device[VELD_ID_BYTES], uint8_t pk[32])
{
	sqlite3_stmt *st;
	int rc = stmt(s, SY_PEER_GET, &st), ret;
	if (rc)
		return rc;
	sqlite3_bind_blob(st, 1, device, VELD_ID_BYTES, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 32) {
		memcpy(pk, sqlite3_column_blob(st, 0), 32);
		ret = VELD_OK;
	} else if (rc == SQLITE_ROW) {
		ret = veld__err(VELD_ECORRUPT, "a stored device key has the wrong size");
	} else if (rc == SQLITE_DONE) {
		ret = VELD_ENOTFOUND;
	} else {
		ret = veld__err_sqlite(rc, "reading device keys");
	}
	sqlite3_reset(st);
	return ret;
}

/* ---- the access log ----------------------------------------------------------------------- */

/* An access-log row's event, outcome, client, user and role, from column i
 * on. */
static void audit_texts(sqlite3_stmt *st, int i, struct veld__audit_row *row)
{
	veld__sql_text(st, i, row->event, sizeof row->event);
	veld__sql_text(st, i + 1, row->outcome, sizeof row->outcome);
	veld__sql_text(st, i + 2, row->client, sizeof row->client);
	veld__sql_text(st, i + 3, row->user, sizeof row->user);
	veld__sql_text(st, i + 4, row->role, sizeof row->role);
}

int veld__audit_rows(veld_store *s, uint64_t after, size_t max,
                     int (*fn)(const struct veld__audit_row *row, void *arg), void *arg)
{
	struct veld__audit_row *row = calloc(1, sizeof *row);
	sqlite3_stmt *st;
	int rc, src = SQLITE_DONE;
	if (!row)
		return veld__err(VELD_ENOMEM, "out of memory");
	if ((rc = stmt(s, SY_AUDIT_ROWS, &st)) != VELD_OK) {
		free(row);
		return rc;
	}
	sqlite3_bind_int64(st, 1, (sqlite3_int64)after);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
	while (rc == VELD_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
		row->seq = (uint64_t)sqlite3_column_int64(st, 0);
		row->at = (uint64_t)sqlite3_column_int64(st, 1);
		audit_texts(st, 2, row);
		veld__sql_text(st, 7, row->device, sizeof row->device);
		veld__sql_text(st, 8, row->purpose, sizeof row->purpose);
		rc = fn(row, arg);
	}
	if (rc == VELD_OK && src != SQLITE_DONE)
		rc = veld__err_sqlite(src, "reading the access log");
	sqlite3_reset(st);
	sodium_memzero(row, sizeof *row);
	free(row);
	return rc;
}

int veld__office_audit_last(veld_store *s, const uint8_t device[VELD_ID_BYTES], uint64_t *last)
{
	sqlite3_stmt *st;
	int rc = stmt(s, SY_OAUDIT_LAST, &st);
	if (rc)
		return rc;
	sqlite3_bind_blob(st, 1, device, VELD_ID_BYTES, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		*last = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? VELD_OK : veld__err_sqlite(rc, "reading the office's access log");
}

int veld__office_audit_get(veld_store *s, const uint8_t device[VELD_ID_BYTES], uint64_t seq,
                           struct veld__audit_row *out)
{
	sqlite3_stmt *st;
	int rc = stmt(s, SY_OAUDIT_GET, &st), ret = VELD_OK;
	if (rc)
		return rc;
	sqlite3_bind_blob(st, 1, device, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)seq);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		memset(out, 0, sizeof *out);
		out->seq = seq;
		out->at = (uint64_t)sqlite3_column_int64(st, 0);
		audit_texts(st, 1, out);
		veld__sql_text(st, 6, out->purpose, sizeof out->purpose);
	} else {
		ret = rc == SQLITE_DONE ? VELD_ENOTFOUND : veld__err_sqlite(rc, "reading the office's"
		                                                            " access log");
	}
	sqlite3_reset(st);
	return ret;
}

int veld__office_audit_put(veld_store *s, const uint8_t device[VELD_ID_BYTES],
                           const struct veld__audit_row *r)
{
	sqlite3_stmt *st;
	int rc = stmt(s, SY_OAUDIT_PUT, &st);
	if (rc)
		return rc;
	sqlite3_bind_blob(st, 1, device, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)r->seq);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)r->at);
	sqlite3_bind_text(st, 4, r->event, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, r->outcome, -1, SQLITE_STATIC);
	if (r->client[0])
		sqlite3_bind_text(st, 6, r->client, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 6);
	sqlite3_bind_text(st, 7, r->user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, r->role, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, r->purpose, -1, SQLITE_STATIC);
	return veld__sql_run(st, "writing the office's access log");
}
