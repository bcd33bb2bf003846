/* trust.c - the tables of what a store trusts and holds back (trust.h says
 * what each is for). */
#include "trust.h"
#include "error.h"
#include "hlc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	TR_CERT_PUT, TR_CERT_GET, TR_CERT_REVOKE, TR_CERTS_ALL,
	TR_NOTICE_PUT, TR_NOTICE_LAST, TR_NOTICES_ALL,
	TR_AUTHOR_GET, TR_AUTHOR_SET, TR_CREATOR,
	TR_PENDING_PUT, TR_PENDING_READY, TR_PENDING_DROP, TR_PENDING_COUNT,
	TR_HELD_AUTHORS, TR_HELD_ITEMS, TR_HELD_DROP, TR_HELD_GAP, TR_HELD_COUNT,
	TR_PENV_PUT, TR_PENV_READY, TR_PENV_DROP, TR_PENV_COUNT,
	TR_QUAR_OP, TR_QUAR_ENV, TR_QUAR_COUNT, TR_QUAR_LIST, TR_QUAR_AFTER, TR_QUAR_RETRY,
	TR_CP_PUT, TR_CP_GET, TR_CP_DATE,
	TR_INVITE_PUT, TR_INVITE_GET, TR_TEAMS,
	TR__COUNT
};

#define OP_COLUMNS "device, seq, ver, hlc, kind, entity, client, team, kv, field, value, sup, hash"
#define OP_COLUMNS_P                                                                          \
	"p.device, p.seq, p.ver, p.hlc, p.kind, p.entity, p.client, p.team, p.kv, p.field,"      \
	" p.value, p.sup, p.hash"

static const char *const trust_sql[TR__COUNT] = {
	[TR_CERT_PUT] = "INSERT INTO certs(device, team, role, sign_pk, box_pk, enrolled)"
	                " VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(device) DO NOTHING",
	[TR_CERT_GET] = "SELECT team, role, sign_pk, box_pk, enrolled, revoked_seq FROM certs"
	                " WHERE device = ?1",
	[TR_CERT_REVOKE] = "UPDATE certs SET revoked_seq = ?2 WHERE device = ?1",
	[TR_CERTS_ALL] = "SELECT device, team, role, sign_pk, box_pk, enrolled, revoked_seq FROM certs"
	                 " WHERE ?1 IS NULL OR team = ?1 ORDER BY device",
	[TR_NOTICE_PUT] = "INSERT OR IGNORE INTO notices(team, n, kind, at, body, sig)"
	                  " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
	[TR_NOTICE_LAST] = "SELECT coalesce(max(n), 0) FROM notices WHERE team = ?1",
	[TR_NOTICES_ALL] = "SELECT team, n, kind, at, body, sig FROM notices ORDER BY team, n",
	[TR_AUTHOR_GET] = "SELECT seen FROM authors WHERE device = ?1",
	[TR_AUTHOR_SET] = "INSERT INTO authors(device, seen) VALUES(?1, ?2)"
	                  " ON CONFLICT(device) DO UPDATE SET seen = excluded.seen",
	/* A client record is created by a write of its fields that supersedes
	 * nothing; the creator may have written it here or be waiting (its
	 * batch verified: not for a certificate or earlier seqs). */
	[TR_CREATOR] = "SELECT 1 FROM ops WHERE entity = ?1 AND device = ?2 AND kind = 'client'"
	               " AND sup IS NULL UNION ALL SELECT 1 FROM pending_ops WHERE entity = ?1"
	               " AND device = ?2 AND kind = 'client' AND sup IS NULL AND what = 0"
	               " AND wait IN (2, 3) LIMIT 1",
	[TR_PENDING_PUT] = "INSERT OR IGNORE INTO pending_ops(" OP_COLUMNS ", wait, what, layer)"
	                   " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,"
	                   " ?16)",
	/* Driven by what is ready: the stamp's index, the keys held (only when
	 * a key came). */
	[TR_PENDING_READY] = "SELECT " OP_COLUMNS ", wait FROM pending_ops WHERE wait = 2"
	                     " AND hlc <= ?1 UNION ALL SELECT " OP_COLUMNS_P ", p.wait FROM"
	                     " client_keys AS k CROSS JOIN pending_ops AS p WHERE ?2 AND p.wait = 3"
	                     " AND p.client = k.client AND p.kv = k.kv"
	                     " UNION ALL SELECT " OP_COLUMNS ", wait FROM pending_ops WHERE ?3 AND wait = 7",
	[TR_PENDING_DROP] = "DELETE FROM pending_ops WHERE device = ?1 AND seq = ?2 AND hash = ?3",
	[TR_HELD_AUTHORS] = "SELECT DISTINCT device FROM pending_ops WHERE wait = 1"
	                    " AND device IN (SELECT device FROM certs)",
	[TR_HELD_ITEMS] = "SELECT " OP_COLUMNS ", what, layer FROM pending_ops WHERE device = ?1"
	                  " AND seq > ?2 AND wait IN (1, 6) ORDER BY seq LIMIT ?3",
	[TR_HELD_DROP] = "DELETE FROM pending_ops WHERE device = ?1 AND seq <= ?2 AND wait IN (1, 6)",
	[TR_HELD_GAP] = "UPDATE pending_ops SET wait = 6 WHERE device = ?1 AND wait = 1",
	[TR_HELD_COUNT] = "SELECT count(*), coalesce(max(wait = 6), 0) FROM pending_ops"
	                  " WHERE device = ?1 AND wait IN (1, 6)",
	[TR_PENDING_COUNT] = "SELECT count(*) FROM pending_ops",
	[TR_PENV_PUT] = "INSERT OR IGNORE INTO pending_envs(client, kv, recipient, tv, sealed, author,"
	                " sig, wait) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[TR_PENV_READY] = "SELECT client, kv, recipient, tv, sealed, author, sig FROM pending_envs"
	                  " WHERE wait = 4 OR (wait = 1 AND author IN (SELECT device FROM certs))"
	                  " OR (wait = 5 AND EXISTS (SELECT 1 FROM team_keys t WHERE"
	                  " 'team:' || t.team = recipient AND t.tv = pending_envs.tv))",
	[TR_PENV_DROP] = "DELETE FROM pending_envs WHERE client = ?1 AND kv = ?2 AND recipient = ?3"
	                 " AND tv = ?4 AND author = ?5 AND sig = ?6",
	[TR_PENV_COUNT] = "SELECT count(*) FROM pending_envs",
	[TR_QUAR_OP] = "INSERT OR IGNORE INTO quarantine(what, device, seq, client, kv, kind, field,"
	               " reason, at) VALUES('operation', ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	/* Once: the envelope feed is pulled again after a server restore. */
	[TR_QUAR_ENV] = "INSERT INTO quarantine(what, device, client, kv, reason, at)"
	                " SELECT 'envelope', ?1, ?2, ?3, ?4, ?5 WHERE NOT EXISTS (SELECT 1 FROM"
	                " quarantine WHERE what = 'envelope' AND device = ?1 AND client = ?2"
	                " AND kv = ?3 AND reason = ?4)",
	[TR_QUAR_COUNT] = "SELECT count(*) FROM quarantine",
	/* What a revoked device signed after its last accepted seq and this
	 * store merged before the revocation reached it. */
	[TR_QUAR_AFTER] = "INSERT OR IGNORE INTO quarantine(what, device, seq, client, kv, kind, field,"
	                  " reason, at) SELECT 'operation', device, seq, client, kv, kind, field, ?3, ?4"
	                  " FROM ops WHERE device = ?1 AND seq > ?2",
	/* Operations kept aside as contradicting what was held, taken again. */
	[TR_QUAR_RETRY] = "DELETE FROM quarantine WHERE what = 'operation' AND reason = ?1",
	[TR_QUAR_LIST] = "SELECT what, device, seq, client, kv, kind, field, reason, at FROM quarantine"
	                 " ORDER BY id DESC LIMIT ?1",
	[TR_CP_PUT] = "INSERT INTO checkpoints(team, at, n, heads, sig) VALUES(?1, ?2, ?3, ?4, ?5)"
	              " ON CONFLICT(team) DO UPDATE SET at = excluded.at, n = excluded.n,"
	              " heads = excluded.heads, sig = excluded.sig",
	[TR_CP_GET] = "SELECT at, n, heads, sig FROM checkpoints WHERE team = ?1",
	[TR_CP_DATE] = "SELECT at FROM checkpoints WHERE team = ?1",
	[TR_INVITE_PUT] = "INSERT INTO invites(auth, team, proof_key, expires) VALUES(?1, ?2, ?3, ?4)",
	[TR_INVITE_GET] = "SELECT team, proof_key FROM invites WHERE auth = ?1",
	[TR_TEAMS] = "SELECT team FROM certs UNION SELECT team FROM team_keys"
	             " UNION SELECT team FROM notices ORDER BY 1",
};

static const struct veld__sqltab trust_tab = VELD_SQLTAB(VELD_SQL_TRUST, trust_sql);

static int stmt(veld_store *s, int i, sqlite3_stmt **st)
{
	return veld__sql(s, &trust_tab, i, st);
}

static void text_col(sqlite3_stmt *st, int i, char *out, size_t cap)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	snprintf(out, cap, "%s", t ? (const char *)t : "");
}

/* A blob column of exactly n bytes into out; -1 if it has another size. */
static int blob_col(sqlite3_stmt *st, int i, void *out, size_t n)
{
	if ((size_t)sqlite3_column_bytes(st, i) != n)
		return -1;
	memcpy(out, sqlite3_column_blob(st, i), n);
	return 0;
}

/* The end of a loop over rows: a callback's failure (rc) after resetting
 * the statement, or how the last step (src) ended. */
static int each_end(sqlite3_stmt *st, int rc, int src, const char *what)
{
	if (rc != VELD_OK) {
		sqlite3_reset(st);
		return rc;
	}
	return veld__sql_done(st, src, what);
}

/* Step a statement answering at most one row: VELD_OK with a row (the
 * caller reads it, then resets), VELD_ENOTFOUND without, or the error. */
static int one_row(sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		return VELD_OK;
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? VELD_ENOTFOUND : veld__err_sqlite(rc, what);
}

static int count_of(veld_store *s, int which, uint64_t *n)
{
	sqlite3_stmt *st;
	int64_t v = 0;
	int rc = stmt(s, which, &st);
	if (rc == VELD_OK && (rc = veld__sql_int64(st, &v, "counting")) == VELD_OK)
		*n = (uint64_t)v;
	return rc;
}

/* ---- certificates ---------------------------------------------------------- */

int veld__cert_put(veld_store *s, const struct veld__cert *c)
{
	sqlite3_stmt *st;
	int rc = stmt(s, TR_CERT_PUT, &st);
	if (rc)
		return rc;
	sqlite3_bind_blob(st, 1, c->device, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->team, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, c->role, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 4, c->sign_pk, 32, SQLITE_STATIC);
	sqlite3_bind_blob(st, 5, c->box_pk, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)c->enrolled);
	return veld__sql_run(st, "storing a device certificate");
}

/* A row of certs from column `c0` (device first when with_device). */
static int cert_row(sqlite3_stmt *st, int with_device, struct veld__cert *out)
{
	int c0 = with_device ? 1 : 0;
	if (with_device && blob_col(st, 0, out->device, VELD_ID_BYTES) != 0)
		return -1;
	text_col(st, c0, out->team, sizeof out->team);
	text_col(st, c0 + 1, out->role, sizeof out->role);
	if (blob_col(st, c0 + 2, out->sign_pk, 32) != 0 || blob_col(st, c0 + 3, out->box_pk, 32) != 0)
		return -1;
	out->enrolled = (uint64_t)sqlite3_column_int64(st, c0 + 4);
	out->revoked = sqlite3_column_type(st, c0 + 5) != SQLITE_NULL;
	out->revoked_seq = out->revoked ? (uint64_t)sqlite3_column_int64(st, c0 + 5) : 0;
	return 0;
}

int veld__cert_get(veld_store *s, const uint8_t device[VELD_ID_BYTES], struct veld__cert *out)
{
	sqlite3_stmt *st;
	int rc = stmt(s, TR_CERT_GET, &st);
	if (rc)
		return rc;
	sqlite3_bind_blob(st, 1, device, VELD_ID_BYTES, SQLITE_STATIC);
	if ((rc = one_row(st, "reading a device certificate")) != VELD_OK)
		return rc;
	memset(out, 0, sizeof *out);
	memcpy(out->device, device, VELD_ID_BYTES);
	if (cert_row(st, 0, out) != 0)
		rc = veld__err(VELD_ECORRUPT, "a stored device certificate is damaged");
	sqlite3_reset(st);
	return rc;
}

int veld__cert_revoke(veld_store *s, const uint8_t device[VELD_ID_BYTES], uint64_t last_seq,
                      size_t *removed)
{
	sqlite3_stmt *st;
	size_t n = 0;
	int rc = stmt(s, TR_CERT_REVOKE, &st);
	if (removed)
		*removed = 0;
	if (rc)
		return rc;
	sqlite3_bind_blob(st, 1, device, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)last_seq);
	if ((rc = veld__sql_run(st, "recording a revocation")) != VELD_OK ||
	    memcmp(device, s->device, VELD_ID_BYTES) == 0)
		return rc;
	/* What it signed after and this store took in before the revocation
	 * reached it (a server withheld the revocation) leaves the state for
	 * the quarantine, as it would have on arrival. */
	if ((rc = stmt(s, TR_QUAR_AFTER, &st)) != VELD_OK)
		return rc;
	sqlite3_bind_blob(st, 1, device, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)last_seq);
	sqlite3_bind_text(st, 3, VELD_REVOKED_REASON, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)veld__hlc_now_ms());
	if ((rc = veld__sql_run(st, "quarantining a revoked device's operations")) != VELD_OK ||
	    (rc = veld__merge_drop_after(&s->m, device, last_seq, &n)) != VELD_OK || n == 0)
		return rc;
	if (removed)
		*removed = n;
	if ((rc = stmt(s, TR_QUAR_RETRY, &st)) != VELD_OK)
		return rc;
	sqlite3_bind_text(st, 1, VELD_CONTRADICTS_REASON, -1, SQLITE_STATIC);
	return veld__sql_run(st, "taking contradicting operations out of the quarantine");
}

int veld__certs_each(veld_store *s, const char *team,
                     int (*fn)(const struct veld__cert *c, void *arg), void *arg)
{
	struct veld__cert c;
	sqlite3_stmt *st;
	int rc = stmt(s, TR_CERTS_ALL, &st), src = SQLITE_DONE;
	if (rc)
		return rc;
	if (team)
		sqlite3_bind_text(st, 1, team, -1, SQLITE_STATIC);
	while (rc == VELD_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&c, 0, sizeof c);
		rc = cert_row(st, 1, &c) == 0 ? fn(&c, arg)
		     : veld__err(VELD_ECORRUPT, "a stored device certificate is damaged");
	}
	return each_end(st, rc, src, "reading device certificates");
}

/* ---- notices ------------------------------------------------------------------ */

int veld__notice_put(veld_store *s, const struct veld__notice_row *r)
{
	sqlite3_stmt *st;
	int rc = stmt(s, TR_NOTICE_PUT, &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, r->team, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)r->n);
	sqlite3_bind_text(st, 3, r->kind, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)r->at);
	sqlite3_bind_blob(st, 5, r->body, (int)r->body_len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 6, r->sig, 64, SQLITE_STATIC);
	return veld__sql_run(st, "storing a notice");
}

int veld__notice_last(veld_store *s, const char *team, uint64_t *n)
{
	sqlite3_stmt *st;
	int64_t v = 0;
	int rc = stmt(s, TR_NOTICE_LAST, &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, team, -1, SQLITE_STATIC);
	if ((rc = veld__sql_int64(st, &v, "reading notices")) == VELD_OK)
		*n = (uint64_t)v;
	return rc;
}

int veld__notices_each(veld_store *s, int (*fn)(const struct veld__notice_row *r, void *arg),
                       void *arg)
{
	struct veld__notice_row r;
	sqlite3_stmt *st;
	int rc = stmt(s, TR_NOTICES_ALL, &st), src = SQLITE_DONE;
	if (rc)
		return rc;
	while (rc == VELD_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&r, 0, sizeof r);
		text_col(st, 0, r.team, sizeof r.team);
		r.n = (uint64_t)sqlite3_column_int64(st, 1);
		text_col(st, 2, r.kind, sizeof r.kind);
		r.at = (uint64_t)sqlite3_column_int64(st, 3);
		r.body = sqlite3_column_blob(st, 4);
		r.body_len = (size_t)sqlite3_column_bytes(st, 4);
		rc = blob_col(st, 5, r.sig, 64) == 0 ? fn(&r, arg)
		     : veld__err(VELD_ECORRUPT, "a stored notice is damaged");
	}
	return each_end(st, rc, src, "reading notices");
}

/* ---- authors ------------------------------------------------------------------- */

int veld__author_seen(veld_store *s, const uint8_t device[VELD_ID_BYTES], uint64_t *seen)
{
	sqlite3_stmt *st;
	int rc = stmt(s, TR_AUTHOR_GET, &st);
	*seen = 0;
	if (rc)
		return rc;
	sqlite3_bind_blob(st, 1, device, VELD_ID_BYTES, SQLITE_STATIC);
	if ((rc = one_row(st, "reading an author")) == VELD_ENOTFOUND)
		return VELD_OK;
	if (rc == VELD_OK) {
		*seen = (uint64_t)sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
	}
	return rc;
}

int veld__author_set(veld_store *s, const uint8_t device[VELD_ID_BYTES], uint64_t seen)
{
	sqlite3_stmt *st;
	int rc = stmt(s, TR_AUTHOR_SET, &st);
	if (rc)
		return rc;
	sqlite3_bind_blob(st, 1, device, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)seen);
	return veld__sql_run(st, "recording an author");
}

int veld__client_creator(veld_store *s, const uint8_t client[VELD_ID_BYTES],
                         const uint8_t device[VELD_ID_BYTES])
{
	sqlite3_stmt *st;
	int rc = stmt(s, TR_CREATOR, &st);
	if (rc)
		return rc;
	sqlite3_bind_blob(st, 1, client, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, device, VELD_ID_BYTES, SQLITE_STATIC);
	return veld__sql_exists(st, "reading a record's creation");
}

/* ---- what waits ------------------------------------------------------------------ */

/* Bind an operation to ?first.. in OP_COLUMNS order; supbuf holds 24 * 64. */
static void bind_op(sqlite3_stmt *st, int first, const veld__op *op, uint8_t *supbuf)
{
	int i = first;
	sqlite3_bind_blob(st, i++, op->device, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, i++, (sqlite3_int64)op->seq);
	sqlite3_bind_int(st, i++, (int)op->version);
	sqlite3_bind_int64(st, i++, (sqlite3_int64)op->hlc);
	sqlite3_bind_text(st, i++, op->kind, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, i++, op->entity, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_blob(st, i++, op->client, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_text(st, i++, op->team, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, i++, (sqlite3_int64)op->kv);
	sqlite3_bind_text(st, i++, op->field, -1, SQLITE_STATIC);
	if (op->value)
		sqlite3_bind_blob(st, i++, op->value, (int)op->value_len, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i++);
	if (op->nsup)
		sqlite3_bind_blob(st, i++, supbuf, (int)veld__sup_encode(supbuf, op->sup, op->nsup),
		                  SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i++);
	sqlite3_bind_blob(st, i, op->hash, VELD_HASH_BYTES, SQLITE_STATIC);
}

/* A row in OP_COLUMNS order into op; sup gets the supersedes list. */
static int read_op(sqlite3_stmt *st, veld__op *op, veld__ref sup[VELD_OP_MAX_SUPERSEDES])
{
	int rc;
	memset(op, 0, sizeof *op);
	if (blob_col(st, 0, op->device, VELD_ID_BYTES) != 0 ||
	    blob_col(st, 5, op->entity, VELD_ID_BYTES) != 0 ||
	    blob_col(st, 6, op->client, VELD_ID_BYTES) != 0 ||
	    blob_col(st, 12, op->hash, VELD_HASH_BYTES) != 0)
		return veld__err(VELD_ECORRUPT, "a waiting operation is damaged");
	op->seq = (uint64_t)sqlite3_column_int64(st, 1);
	op->version = (uint32_t)sqlite3_column_int(st, 2);
	op->hlc = (uint64_t)sqlite3_column_int64(st, 3);
	text_col(st, 4, op->kind, sizeof op->kind);
	text_col(st, 7, op->team, sizeof op->team);
	op->kv = (uint64_t)sqlite3_column_int64(st, 8);
	text_col(st, 9, op->field, sizeof op->field);
	if (sqlite3_column_type(st, 10) != SQLITE_NULL) {
		op->value = sqlite3_column_blob(st, 10);
		op->value_len = (size_t)sqlite3_column_bytes(st, 10);
	}
	if ((rc = veld__sup_decode(sup, VELD_OP_MAX_SUPERSEDES, sqlite3_column_blob(st, 11),
	                           (size_t)sqlite3_column_bytes(st, 11), &op->nsup)) != VELD_OK)
		return rc;
	op->sup = sup;
	return VELD_OK;
}

int veld__pending_item_put(veld_store *s, const struct veld__feed_item *it, enum veld__wait wait)
{
	uint8_t supbuf[24 * VELD_OP_MAX_SUPERSEDES];
	sqlite3_stmt *st;
	int rc = stmt(s, TR_PENDING_PUT, &st);
	if (rc)
		return rc;
	bind_op(st, 1, &it->op, supbuf);
	sqlite3_bind_int(st, 14, (int)wait);
	sqlite3_bind_int(st, 15, (int)it->what);
	if (it->what == VELD_ITEM_OP)
		sqlite3_bind_null(st, 16);
	else
		sqlite3_bind_blob(st, 16, it->layer, VELD_HASH_BYTES, SQLITE_STATIC);
	return veld__sql_run(st, "keeping a waiting operation");
}

int veld__pending_op_put(veld_store *s, const veld__op *op, enum veld__wait wait)
{
	struct veld__feed_item it;
	it.what = VELD_ITEM_OP;
	it.op = *op;
	return veld__pending_item_put(s, &it, wait);
}

int veld__pending_ops_ready(veld_store *s, uint64_t hlc_max, int keys,
                            int (*fn)(const veld__op *op, enum veld__wait wait, void *arg),
                            void *arg)
{
	veld__ref sup[VELD_OP_MAX_SUPERSEDES];
	veld__op op;
	sqlite3_stmt *st;
	int rc = stmt(s, TR_PENDING_READY, &st), src = SQLITE_DONE;
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, hlc_max > INT64_MAX ? INT64_MAX : (sqlite3_int64)hlc_max);
	sqlite3_bind_int(st, 2, (keys & 1) != 0);
	sqlite3_bind_int(st, 3, (keys & 2) != 0);
	while (rc == VELD_OK && (src = sqlite3_step(st)) == SQLITE_ROW)
		if ((rc = read_op(st, &op, sup)) == VELD_OK)
			rc = fn(&op, (enum veld__wait)sqlite3_column_int(st, 13), arg);
	return each_end(st, rc, src, "reading waiting operations");
}

int veld__pending_op_drop(veld_store *s, const veld__op *op)
{
	sqlite3_stmt *st;
	int rc = stmt(s, TR_PENDING_DROP, &st);
	if (rc)
		return rc;
	sqlite3_bind_blob(st, 1, op->device, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)op->seq);
	sqlite3_bind_blob(st, 3, op->hash, VELD_HASH_BYTES, SQLITE_STATIC);
	return veld__sql_run(st, "dropping a waiting operation");
}

int veld__held_authors(veld_store *s, int (*fn)(const uint8_t device[VELD_ID_BYTES], void *arg),
                       void *arg)
{
	uint8_t device[VELD_ID_BYTES];
	sqlite3_stmt *st;
	int rc = stmt(s, TR_HELD_AUTHORS, &st), src = SQLITE_DONE;
	if (rc)
		return rc;
	while (rc == VELD_OK && (src = sqlite3_step(st)) == SQLITE_ROW)
		rc = blob_col(st, 0, device, VELD_ID_BYTES) != 0
		     ? veld__err(VELD_ECORRUPT, "a waiting operation is damaged")
		     : fn(device, arg);
	return each_end(st, rc, src, "reading waiting operations");
}

int veld__held_items(veld_store *s, const uint8_t device[VELD_ID_BYTES], uint64_t after,
                     unsigned limit, int (*fn)(const struct veld__feed_item *it, void *arg),
                     void *arg)
{
	veld__ref sup[VELD_OP_MAX_SUPERSEDES];
	struct veld__feed_item it;
	sqlite3_stmt *st;
	int rc = stmt(s, TR_HELD_ITEMS, &st), src = SQLITE_DONE;
	if (rc)
		return rc;
	sqlite3_bind_blob(st, 1, device, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)after);
	sqlite3_bind_int(st, 3, (int)limit);
	while (rc == VELD_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&it, 0, sizeof it);
		it.what = (enum veld__item_what)sqlite3_column_int(st, 13);
		if ((rc = read_op(st, &it.op, sup)) == VELD_OK && it.what != VELD_ITEM_OP &&
		    blob_col(st, 14, it.layer, VELD_HASH_BYTES) != 0)
			rc = veld__err(VELD_ECORRUPT, "a waiting operation is damaged");
		if (rc == VELD_OK)
			rc = fn(&it, arg);
	}
	return each_end(st, rc, src, "reading waiting operations");
}

static int held_run(veld_store *s, int which, const uint8_t device[VELD_ID_BYTES], uint64_t upto)
{
	sqlite3_stmt *st;
	int rc = stmt(s, which, &st);
	if (rc)
		return rc;
	sqlite3_bind_blob(st, 1, device, VELD_ID_BYTES, SQLITE_STATIC);
	if (which == TR_HELD_DROP)
		sqlite3_bind_int64(st, 2, (sqlite3_int64)upto);
	return veld__sql_run(st, "updating waiting operations");
}

int veld__held_drop(veld_store *s, const uint8_t device[VELD_ID_BYTES], uint64_t upto)
{
	return held_run(s, TR_HELD_DROP, device, upto);
}

int veld__held_gap(veld_store *s, const uint8_t device[VELD_ID_BYTES])
{
	return held_run(s, TR_HELD_GAP, device, 0);
}

int veld__held_count(veld_store *s, const uint8_t device[VELD_ID_BYTES], uint64_t *n, int *gaps)
{
	sqlite3_stmt *st;
	int rc = stmt(s, TR_HELD_COUNT, &st);
	if (rc)
		return rc;
	sqlite3_bind_blob(st, 1, device, VELD_ID_BYTES, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		sqlite3_reset(st);
		return veld__err_sqlite(rc, "counting waiting operations");
	}
	*n = (uint64_t)sqlite3_column_int64(st, 0);
	*gaps = sqlite3_column_int(st, 1);
	sqlite3_reset(st);
	return VELD_OK;
}

static void bind_env(sqlite3_stmt *st, const struct veld__pending_env *e)
{
	sqlite3_bind_blob(st, 1, e->client, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)e->kv);
	sqlite3_bind_text(st, 3, e->to, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)e->tv);
}

int veld__pending_env_put(veld_store *s, const struct veld__pending_env *e,
                          enum veld__wait wait)
{
	sqlite3_stmt *st;
	int rc = stmt(s, TR_PENV_PUT, &st);
	if (rc)
		return rc;
	bind_env(st, e);
	sqlite3_bind_blob(st, 5, e->sealed, VELD_SEALED_KEY_BYTES, SQLITE_STATIC);
	sqlite3_bind_blob(st, 6, e->author, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_blob(st, 7, e->sig, 64, SQLITE_STATIC);
	sqlite3_bind_int(st, 8, (int)wait);
	return veld__sql_run(st, "keeping a waiting key envelope");
}

int veld__pending_envs_ready(veld_store *s, int (*fn)(const struct veld__pending_env *e,
                                                       void *arg), void *arg)
{
	struct veld__pending_env e;
	sqlite3_stmt *st;
	int rc = stmt(s, TR_PENV_READY, &st), src = SQLITE_DONE;
	if (rc)
		return rc;
	while (rc == VELD_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&e, 0, sizeof e);
		e.kv = (uint64_t)sqlite3_column_int64(st, 1);
		text_col(st, 2, e.to, sizeof e.to);
		e.tv = (uint64_t)sqlite3_column_int64(st, 3);
		if (blob_col(st, 0, e.client, VELD_ID_BYTES) != 0 ||
		    blob_col(st, 4, e.sealed, VELD_SEALED_KEY_BYTES) != 0 ||
		    blob_col(st, 5, e.author, VELD_ID_BYTES) != 0 || blob_col(st, 6, e.sig, 64) != 0)
			rc = veld__err(VELD_ECORRUPT, "a waiting key envelope is damaged");
		else
			rc = fn(&e, arg);
	}
	return each_end(st, rc, src, "reading waiting key envelopes");
}

int veld__pending_env_drop(veld_store *s, const struct veld__pending_env *e)
{
	sqlite3_stmt *st;
	int rc = stmt(s, TR_PENV_DROP, &st);
	if (rc)
		return rc;
	bind_env(st, e);
	sqlite3_bind_blob(st, 5, e->author, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_blob(st, 6, e->sig, 64, SQLITE_STATIC);
	return veld__sql_run(st, "dropping a waiting key envelope");
}

int veld__pending_count(veld_store *s, uint64_t *ops, uint64_t *envs)
{
	int rc = count_of(s, TR_PENDING_COUNT, ops);
	return rc == VELD_OK ? count_of(s, TR_PENV_COUNT, envs) : rc;
}

/* ---- quarantine ------------------------------------------------------------------- */

int veld__quarantine_op(veld_store *s, const veld__op *op, const char *reason)
{
	sqlite3_stmt *st;
	int rc = stmt(s, TR_QUAR_OP, &st);
	if (rc)
		return rc;
	sqlite3_bind_blob(st, 1, op->device, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)op->seq);
	sqlite3_bind_blob(st, 3, op->client, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)op->kv);
	sqlite3_bind_text(st, 5, op->kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, op->field, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, reason, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, (sqlite3_int64)veld__hlc_now_ms());
	return veld__sql_run(st, "quarantining an operation");
}

int veld__quarantine_env(veld_store *s, const uint8_t author[VELD_ID_BYTES],
                         const uint8_t client[VELD_ID_BYTES], uint64_t kv, const char *reason)
{
	sqlite3_stmt *st;
	int rc = stmt(s, TR_QUAR_ENV, &st);
	if (rc)
		return rc;
	sqlite3_bind_blob(st, 1, author, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, client, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)kv);
	sqlite3_bind_text(st, 4, reason, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)veld__hlc_now_ms());
	return veld__sql_run(st, "quarantining a key envelope");
}

int veld__quarantine_count(veld_store *s, uint64_t *n)
{
	return count_of(s, TR_QUAR_COUNT, n);
}

/* A hex id column, or JSON null. */
static json_t *hex_or_null(sqlite3_stmt *st, int i)
{
	char hex[2 * VELD_ID_BYTES + 1];
	if (sqlite3_column_bytes(st, i) != VELD_ID_BYTES)
		return json_null();
	veld__hex(hex, sqlite3_column_blob(st, i), VELD_ID_BYTES);
	return json_string(hex);
}

static json_t *int_or_null(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? json_null()
	       : json_integer((json_int_t)sqlite3_column_int64(st, i));
}

static json_t *text_or_null(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? json_string((const char *)t) : json_null();
}

int veld__quarantine_list(veld_store *s, size_t limit, json_t **out)
{
	sqlite3_stmt *st;
	json_t *arr = json_array();
	int rc = stmt(s, TR_QUAR_LIST, &st), src = SQLITE_DONE;
	*out = NULL;
	if (!arr)
		return veld__err(VELD_ENOMEM, "out of memory");
	if (rc) {
		json_decref(arr);
		return rc;
	}
	sqlite3_bind_int64(st, 1, limit ? (sqlite3_int64)limit : -1);
	while (rc == VELD_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
		char at[32];
		json_t *o;
		veld__iso8601(at, (uint64_t)sqlite3_column_int64(st, 8));
		o = json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:s}", "what", text_or_null(st, 0),
		              "device", hex_or_null(st, 1), "seq", int_or_null(st, 2),
		              "client", hex_or_null(st, 3), "kv", int_or_null(st, 4),
		              "kind", text_or_null(st, 5), "field", text_or_null(st, 6),
		              "reason", text_or_null(st, 7), "at", at);
		if (!o || json_array_append_new(arr, o) != 0)
			rc = veld__err(VELD_ENOMEM, "out of memory");
	}
	if ((rc = each_end(st, rc, src, "reading the quarantine")) != VELD_OK)
		json_decref(arr);
	else
		*out = arr;
	return rc;
}

/* ---- the team's checkpoint ---------------------------------------------------------- */

int veld__checkpoint_put(veld_store *s, const struct veld__checkpoint_row *c)
{
	sqlite3_stmt *st;
	int rc = stmt(s, TR_CP_PUT, &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, c->team, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)c->at);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)c->n);
	sqlite3_bind_blob(st, 4, c->heads, (int)c->heads_len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 5, c->sig, 64, SQLITE_STATIC);
	return veld__sql_run(st, "storing a checkpoint");
}

int veld__checkpoint_get(veld_store *s, const char *team, struct veld__checkpoint_row *out,
                         uint8_t *buf, size_t cap)
{
	sqlite3_stmt *st;
	size_t n;
	int rc = stmt(s, TR_CP_GET, &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, team, -1, SQLITE_STATIC);
	if ((rc = one_row(st, "reading a checkpoint")) != VELD_OK)
		return rc;
	memset(out, 0, sizeof *out);
	snprintf(out->team, sizeof out->team, "%s", team);
	out->at = (uint64_t)sqlite3_column_int64(st, 0);
	out->n = (uint64_t)sqlite3_column_int64(st, 1);
	n = (size_t)sqlite3_column_bytes(st, 2);
	if (n > cap || blob_col(st, 3, out->sig, 64) != 0) {
		rc = veld__err(VELD_ECORRUPT, "a stored checkpoint is damaged");
	} else {
		if (n)
			memcpy(buf, sqlite3_column_blob(st, 2), n);
		out->heads = buf;
		out->heads_len = n;
	}
	sqlite3_reset(st);
	return rc;
}

int veld__checkpoint_date(veld_store *s, const char *team, uint64_t *at)
{
	sqlite3_stmt *st;
	int rc = stmt(s, TR_CP_DATE, &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, team, -1, SQLITE_STATIC);
	if ((rc = one_row(st, "reading a checkpoint")) != VELD_OK)
		return rc;
	*at = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return VELD_OK;
}

/* ---- the office's invites --------------------------------------------------------------- */

static size_t invite_key_ad(uint8_t ad[48], const uint8_t auth[32])
{
	memcpy(ad, "veld-ik-v1", 10);
	memcpy(ad + 10, auth, 32);
	return 42;
}

int veld__invite_put(veld_store *s, const uint8_t auth[32], const char *team,
                     const uint8_t proof_key[32], uint64_t expires)
{
	uint8_t wrapped[32 + VELD_SEAL_OVERHEAD], ad[48];
	sqlite3_stmt *st;
	int rc = stmt(s, TR_INVITE_PUT, &st);
	if (rc)
		return rc;
	veld__seal(wrapped, proof_key, 32, ad, invite_key_ad(ad, auth), s->master);
	sqlite3_bind_blob(st, 1, auth, 32, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, team, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, wrapped, sizeof wrapped, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)expires);
	return veld__sql_run(st, "keeping an invite");
}

int veld__invite_get(veld_store *s, const uint8_t auth[32], char team[VELD_TEAM_MAX + 1],
                     uint8_t proof_key[32])
{
	uint8_t ad[48];
	sqlite3_stmt *st;
	int rc = stmt(s, TR_INVITE_GET, &st);
	if (rc)
		return rc;
	sqlite3_bind_blob(st, 1, auth, 32, SQLITE_STATIC);
	if ((rc = one_row(st, "reading an invite")) != VELD_OK)
		return rc;
	text_col(st, 0, team, VELD_TEAM_MAX + 1);
	if (sqlite3_column_bytes(st, 1) != 32 + VELD_SEAL_OVERHEAD ||
	    veld__open(proof_key, sqlite3_column_blob(st, 1), 32 + VELD_SEAL_OVERHEAD, ad,
	               invite_key_ad(ad, auth), s->master) != 0)
		rc = veld__err(VELD_ECORRUPT, "a kept invite failed authentication");
	sqlite3_reset(st);
	return rc;
}

int veld__teams_each(veld_store *s, int (*fn)(const char *team, void *arg), void *arg)
{
	char team[VELD_TEAM_MAX + 1];
	sqlite3_stmt *st;
	int rc = stmt(s, TR_TEAMS, &st), src = SQLITE_DONE;
	if (rc)
		return rc;
	while (rc == VELD_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
		text_col(st, 0, team, sizeof team);
		rc = fn(team, arg);
	}
	return each_end(st, rc, src, "reading teams");
}

/* ---- the public face ------------------------------------------------------------ */

int veld_quarantine_list(veld_store *s, char **json_out)
{
	json_t *arr = NULL;
	int rc = veld__enter_json(s, json_out, 0);
	if (rc)
		return rc;
	if ((rc = veld__quarantine_list(s, 0, &arr)) == VELD_OK)
		rc = veld__json_answer(arr, json_out);
	json_decref(arr);
	veld__leave(s);
	return rc;
}
