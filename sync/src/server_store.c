/* server_store.c - the server's central store on SQLite (server_store.h).
 *
 * One connection, guarded by a mutex: every request runs as one
 * BEGIN IMMEDIATE transaction while it holds the mutex, so requests are
 * serialised, cursors are handed out (and become visible) in commit order,
 * and a failed or refused request rolls back whole. WAL with
 * synchronous=NORMAL keeps commits cheap; a crash loses at most the last
 * commits, never consistency, and a device simply pushes again.
 *
 * The operation log and its merge state are the device schema
 * (veld__merge_schema) and every operation goes through veld__merge_apply,
 * the code devices run. The server's own tables:
 *
 *   devices(device, sign_pk, box_pk, team, role, label, enrolled, revoked,
 *           last_seq)          - enrolled devices; all of 1..last_seq held
 *   invites(auth, team, role, expires, tv, team_sealed, used)
 *                              - single-use enrollment invites, by auth
 *                                (the server never sees a code)
 *   nonces(device, nonce, time) - request nonces, pruned after the window
 *   feed(cursor, device, seq, team, client)
 *                              - every stored operation in arrival order
 *   batches(device, first, last, sig)
 *                              - batch signatures; the hashes are ops.hash
 *   envelopes(cursor, client, kv, to, tv, sealed, team)
 *                              - client data keys sealed for a team/office
 *   team_keys(team, tv, pk), team_key_sealed(team, tv, device, sealed)
 *   clients(client, team)      - the team a client was first seen with
 *   audit_log(cursor, device, seq, sealed, sig, arrived)
 *                              - devices' access-log entries in arrival
 *                                order, sealed to the office (schema v2)
 *   erasures(cursor, client, team, at)
 *                              - erased clients in the order they were
 *                                erased (schema v3); the merge's own
 *                                erased(client, at) holds them too, so the
 *                                merge rule drops their operations
 *   field_policy(team, at, mask, sig)
 *                              - each team's field policy as the office
 *                                signed it (schema v4); pulls of the team's
 *                                workers leave out the fields it keeps at
 *                                the office (the default without a row)
 *   erased_ops(device, seq, hash)
 *                              - the hashes of operations held but erased
 *                                since (or dropped on arrival): a batch
 *                                signature covers them, so the rest of
 *                                their batch stays verifiable (schema v3)
 *
 * Every seq 1..devices.last_seq of a device has its hash in ops or in
 * erased_ops.
 *
 * PRAGMA user_version holds the schema version; each migration runs in its
 * own transaction and only ever moves forward (as core/src/schema.c).
 */
#include "server_store.h"
#include "auth.h"
#include "error.h"
#include "merge.h"
#include "policy.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SERVER_SCHEMA_VERSION 4
#define WEEK_MS (7ull * 24 * 3600 * 1000)

int veld__team_valid(const char *team)
{
	size_t n = strlen(team);
	if (n == 0 || n > VELD_TEAM_MAX)
		return 0;
	return strspn(team, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._@-") == n;
}

/* ---- schema and statements ----------------------------------------------- */

/* Version 1: devices, invites, nonces and everything a push and a pull
 * need. The operation log and its merge state are veld__merge_schema; run
 * first. */
static const char schema_v1[] =
	"CREATE TABLE IF NOT EXISTS devices(device BLOB PRIMARY KEY, sign_pk BLOB NOT NULL,"
	"  box_pk BLOB NOT NULL, team TEXT NOT NULL, role TEXT NOT NULL, label TEXT NOT NULL,"
	"  enrolled INTEGER NOT NULL, revoked INTEGER, last_seq INTEGER NOT NULL DEFAULT 0)"
	"  WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS invites(auth BLOB PRIMARY KEY, team TEXT NOT NULL,"
	"  role TEXT NOT NULL, expires INTEGER NOT NULL, tv INTEGER NOT NULL, team_sealed BLOB,"
	"  used INTEGER) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS nonces(device BLOB NOT NULL, nonce BLOB NOT NULL,"
	"  time INTEGER NOT NULL, PRIMARY KEY(device, nonce)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS nonces_time ON nonces(time);"
	"CREATE TABLE IF NOT EXISTS feed(cursor INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  device BLOB NOT NULL, seq INTEGER NOT NULL, team TEXT NOT NULL, client BLOB NOT NULL);"
	"CREATE INDEX IF NOT EXISTS feed_team ON feed(team, cursor);"
	"CREATE TABLE IF NOT EXISTS batches(device BLOB NOT NULL, first INTEGER NOT NULL,"
	"  last INTEGER NOT NULL, sig BLOB NOT NULL, PRIMARY KEY(device, first, last)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS batches_last ON batches(device, last);"
	"CREATE TABLE IF NOT EXISTS envelopes(cursor INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  client BLOB NOT NULL, kv INTEGER NOT NULL, \"to\" TEXT NOT NULL, tv INTEGER NOT NULL,"
	"  sealed BLOB NOT NULL, team TEXT, UNIQUE(client, kv, \"to\", tv, sealed));"
	"CREATE INDEX IF NOT EXISTS envelopes_to ON envelopes(\"to\", cursor);"
	"CREATE TABLE IF NOT EXISTS team_keys(team TEXT NOT NULL, tv INTEGER NOT NULL,"
	"  pk BLOB NOT NULL, PRIMARY KEY(team, tv)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS team_key_sealed(team TEXT NOT NULL, tv INTEGER NOT NULL,"
	"  device BLOB NOT NULL, sealed BLOB NOT NULL, PRIMARY KEY(team, tv, device)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS team_key_sealed_device ON team_key_sealed(device);"
	"CREATE TABLE IF NOT EXISTS clients(client BLOB PRIMARY KEY, team TEXT NOT NULL)"
	"  WITHOUT ROWID;";

/* Version 2: access-log entries (POST /v1/audit), as they arrived: sealed
 * to the office and signed by their device. The cursor orders them by
 * arrival (AUTOINCREMENT: never reused); (device, seq) is unique, and per
 * device the seqs held are always 1..max (a push continues the sequence). */
static const char schema_v2[] =
	"CREATE TABLE IF NOT EXISTS audit_log(cursor INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  device BLOB NOT NULL, seq INTEGER NOT NULL, sealed BLOB NOT NULL, sig BLOB NOT NULL,"
	"  arrived INTEGER NOT NULL, UNIQUE(device, seq));";

/* Version 3: office-wide erasure (POST /v1/erase). `erasures` is the feed
 * of erasures pulls carry (AUTOINCREMENT: cursors never reused; one row a
 * client); `erased_ops` keeps the hash of every operation of an erased
 * client the server held or received, so the batches they were signed in
 * still verify for the operations that remain. */
static const char schema_v3[] =
	"CREATE TABLE IF NOT EXISTS erasures(cursor INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  client BLOB UNIQUE NOT NULL, team TEXT NOT NULL, at INTEGER NOT NULL,"
	"  sig BLOB NOT NULL);"
	"CREATE INDEX IF NOT EXISTS erasures_team ON erasures(team, cursor);"
	"CREATE TABLE IF NOT EXISTS erased_ops(device BLOB NOT NULL, seq INTEGER NOT NULL,"
	"  hash BLOB NOT NULL, PRIMARY KEY(device, seq)) WITHOUT ROWID;";

/* Version 4: each team's field policy (POST /v1/policy), one row a team. */
static const char schema_v4[] =
	"CREATE TABLE IF NOT EXISTS field_policy(team TEXT PRIMARY KEY, at INTEGER NOT NULL,"
	"  mask INTEGER NOT NULL, sig BLOB NOT NULL) WITHOUT ROWID;";

static const char *const migrations[SERVER_SCHEMA_VERSION] = {schema_v1, schema_v2, schema_v3,
                                                              schema_v4};

enum {
	S_BEGIN, S_COMMIT, S_ROLLBACK,
	S_DEV_GET, S_DEV_INSERT, S_DEV_SET_LAST, S_DEV_REVOKE, S_DEV_OFFICE, S_DEV_LIST,
	S_NONCE_GET, S_NONCE_PUT, S_NONCE_PRUNE,
	S_INV_GET, S_INV_PUT, S_INV_USE, S_INV_OFFICE_LIVE,
	S_OP_HASH, S_FEED_PUT, S_FEED_ALL, S_FEED_TEAM,
	S_BATCH_PUT, S_BATCH_FIND, S_BATCH_HASHES,
	S_CLIENT_GET, S_CLIENT_PUT, S_ENTITY_GET,
	S_ENV_PUT, S_ENV_PAGE,
	S_TK_CURRENT, S_TK_GET, S_TK_PUT, S_TKS_PUT, S_TKS_DEVICE,
	S_AUDIT_LAST, S_AUDIT_PUT, S_AUDIT_PAGE,
	S_ERASED_OP_PUT, S_ERASE_PUT, S_ERASE_KEEP_HASHES, S_ERASE_OPS, S_ERASE_SUPERSEDED,
	S_ERASE_CONFLICTS, S_ERASE_ENTITIES, S_ERASE_FEED, S_ERASE_CLIENT, S_ERASE_ENVELOPES,
	S_ERASE_MERGE, S_ERASE_PAGE_ALL, S_ERASE_PAGE_TEAM,
	S_POLICY_GET, S_POLICY_PUT,
	S__COUNT
};

#define DEV_COLS "device, sign_pk, box_pk, team, role, label, enrolled, revoked, last_seq"
#define OP_COLS "o.device, o.seq, o.hlc, o.kind, o.entity, o.client, o.team, o.kv, o.field," \
                " o.value, o.sup, o.hash"

static const char *const sql[S__COUNT] = {
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_DEV_GET] = "SELECT " DEV_COLS " FROM devices WHERE device = ?1",
	[S_DEV_INSERT] = "INSERT INTO devices(" DEV_COLS ") VALUES(?1,?2,?3,?4,?5,?6,?7,NULL,0)",
	[S_DEV_SET_LAST] = "UPDATE devices SET last_seq = ?2 WHERE device = ?1",
	[S_DEV_REVOKE] = "UPDATE devices SET revoked = ?2 WHERE device = ?1 AND revoked IS NULL",
	[S_DEV_OFFICE] = "SELECT " DEV_COLS " FROM devices WHERE role = 'office'"
	                 " ORDER BY enrolled LIMIT 1",
	[S_DEV_LIST] = "SELECT " DEV_COLS " FROM devices ORDER BY enrolled, device",
	[S_NONCE_GET] = "SELECT 1 FROM nonces WHERE device = ?1 AND nonce = ?2",
	[S_NONCE_PUT] = "INSERT INTO nonces(device, nonce, time) VALUES(?1, ?2, ?3)",
	[S_NONCE_PRUNE] = "DELETE FROM nonces WHERE time < ?1",
	[S_INV_GET] = "SELECT team, role, expires, tv, team_sealed, used FROM invites WHERE auth = ?1",
	[S_INV_PUT] = "INSERT INTO invites(auth, team, role, expires, tv, team_sealed, used)"
	              " VALUES(?1, ?2, ?3, ?4, ?5, ?6, NULL)",
	[S_INV_USE] = "UPDATE invites SET used = ?2 WHERE auth = ?1 AND used IS NULL",
	[S_INV_OFFICE_LIVE] = "SELECT 1 FROM invites WHERE role = 'office' AND used IS NULL"
	                      " AND expires > ?1 LIMIT 1",
	/* A held seq's hash: its operation's, or the one kept when it was erased. */
	[S_OP_HASH] = "SELECT hash, 0 FROM ops WHERE device = ?1 AND seq = ?2"
	              " UNION ALL SELECT hash, 1 FROM erased_ops WHERE device = ?1 AND seq = ?2"
	              " LIMIT 1",
	[S_FEED_PUT] = "INSERT INTO feed(device, seq, team, client) VALUES(?1, ?2, ?3, ?4)",
	[S_FEED_ALL] = "SELECT f.cursor, " OP_COLS " FROM feed f JOIN ops o"
	               " ON o.device = f.device AND o.seq = f.seq"
	               " WHERE f.cursor > ?1 ORDER BY f.cursor LIMIT ?2",
	[S_FEED_TEAM] = "SELECT f.cursor, " OP_COLS " FROM feed f JOIN ops o"
	                " ON o.device = f.device AND o.seq = f.seq"
	                " WHERE f.team = ?3 AND f.cursor > ?1"
	                " AND (veld_policy_bit(o.kind, o.field) & ~?4) = 0 ORDER BY f.cursor LIMIT ?2",
	[S_BATCH_PUT] = "INSERT OR IGNORE INTO batches(device, first, last, sig) VALUES(?1,?2,?3,?4)",
	[S_BATCH_FIND] = "SELECT first, last, sig FROM batches WHERE device = ?1 AND last >= ?2"
	                 " AND first <= ?2 ORDER BY last LIMIT 1",
	[S_BATCH_HASHES] = "SELECT seq, hash FROM ops WHERE device = ?1 AND seq BETWEEN ?2 AND ?3"
	                   " UNION ALL SELECT seq, hash FROM erased_ops WHERE device = ?1"
	                   " AND seq BETWEEN ?2 AND ?3 ORDER BY 1",
	/* A client's team, and whether it is erased (then clients has no row). */
	[S_CLIENT_GET] = "SELECT team, 0 FROM clients WHERE client = ?1"
	                 " UNION ALL SELECT team, 1 FROM erasures WHERE client = ?1"
	                 " ORDER BY 2 DESC LIMIT 1",
	[S_CLIENT_PUT] = "INSERT OR IGNORE INTO clients(client, team) VALUES(?1, ?2)",
	[S_ENTITY_GET] = "SELECT kind, client FROM entities WHERE entity = ?1",
	[S_ENV_PUT] = "INSERT OR IGNORE INTO envelopes(client, kv, \"to\", tv, sealed, team)"
	              " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
	[S_ENV_PAGE] = "SELECT cursor, client, kv, \"to\", tv, sealed FROM envelopes"
	               " WHERE \"to\" = ?1 AND cursor > ?2 ORDER BY cursor LIMIT ?3",
	[S_TK_CURRENT] = "SELECT max(tv) FROM team_keys WHERE team = ?1",
	[S_TK_GET] = "SELECT pk FROM team_keys WHERE team = ?1 AND tv = ?2",
	[S_TK_PUT] = "INSERT INTO team_keys(team, tv, pk) VALUES(?1, ?2, ?3)",
	[S_TKS_PUT] = "INSERT OR REPLACE INTO team_key_sealed(team, tv, device, sealed)"
	              " VALUES(?1, ?2, ?3, ?4)",
	[S_TKS_DEVICE] = "SELECT s.team, s.tv, k.pk, s.sealed FROM team_key_sealed s"
	                 " JOIN team_keys k ON k.team = s.team AND k.tv = s.tv"
	                 " WHERE s.device = ?1 ORDER BY s.tv DESC, s.team LIMIT 1000",
	[S_AUDIT_LAST] = "SELECT max(seq) FROM audit_log WHERE device = ?1",
	[S_AUDIT_PUT] = "INSERT INTO audit_log(device, seq, sealed, sig, arrived)"
	                " VALUES(?1, ?2, ?3, ?4, ?5)",
	[S_AUDIT_PAGE] = "SELECT cursor, device, seq, sealed, sig FROM audit_log WHERE cursor > ?1"
	                 " ORDER BY cursor LIMIT ?2",
	[S_ERASED_OP_PUT] = "INSERT OR IGNORE INTO erased_ops(device, seq, hash) VALUES(?1, ?2, ?3)",
	[S_ERASE_PUT] = "INSERT INTO erasures(client, team, at, sig) VALUES(?1, ?2, ?3, ?4)",
	/* A record's operations all carry its client (the merge keeps a
	 * record's client), so "the client's operations" are those of the
	 * records entities lists for it (indexed both ways). */
	[S_ERASE_KEEP_HASHES] = "INSERT OR IGNORE INTO erased_ops(device, seq, hash)"
	                        " SELECT device, seq, hash FROM ops WHERE entity IN"
	                        " (SELECT entity FROM entities WHERE client = ?1)",
	[S_ERASE_OPS] = "DELETE FROM ops WHERE entity IN (SELECT entity FROM entities WHERE client = ?1)",
	[S_ERASE_SUPERSEDED] = "DELETE FROM superseded WHERE entity IN"
	                       " (SELECT entity FROM entities WHERE client = ?1)",
	[S_ERASE_CONFLICTS] = "DELETE FROM conflicts WHERE entity IN"
	                      " (SELECT entity FROM entities WHERE client = ?1)",
	[S_ERASE_ENTITIES] = "DELETE FROM entities WHERE client = ?1",
	/* An operation's team is its client's (push checks it): the team's
	 * index narrows the search. */
	[S_ERASE_FEED] = "DELETE FROM feed WHERE team = ?2 AND client = ?1",
	[S_ERASE_CLIENT] = "DELETE FROM clients WHERE client = ?1",
	[S_ERASE_ENVELOPES] = "DELETE FROM envelopes WHERE client = ?1",
	[S_ERASE_MERGE] = "INSERT OR IGNORE INTO erased(client, at) VALUES(?1, ?2)",
	[S_ERASE_PAGE_ALL] = "SELECT cursor, client, at, sig FROM erasures WHERE cursor > ?1"
	                     " ORDER BY cursor LIMIT ?2",
	[S_ERASE_PAGE_TEAM] = "SELECT cursor, client, at, sig FROM erasures WHERE team = ?3"
	                      " AND cursor > ?1 ORDER BY cursor LIMIT ?2",
	[S_POLICY_GET] = "SELECT at, mask, sig FROM field_policy WHERE team = ?1",
	[S_POLICY_PUT] = "INSERT INTO field_policy(team, at, mask, sig) VALUES(?1, ?2, ?3, ?4)"
	                 " ON CONFLICT(team) DO UPDATE SET at = excluded.at, mask = excluded.mask,"
	                 " sig = excluded.sig",
};

/* veld_policy_bit(kind, field): the field's bit in a team's field policy,
 * 0 for a field the policy does not govern (veld__policy_bit). The team
 * feed asks the policy module itself rather than naming the governed
 * fields, so a field added to policy.h's list is kept from workers here
 * without a change. */
static void sql_policy_bit(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	(void)argc;
	sqlite3_result_int64(ctx, veld__policy_bit((const char *)sqlite3_value_text(argv[0]),
	                                           (const char *)sqlite3_value_text(argv[1])));
}

struct sqlite_store {
	struct veld__sstore base;
	pthread_mutex_t mu;
	sqlite3 *db;
	sqlite3_stmt *st[S__COUNT];
	struct veld__merge merge;
	int merge_open;
};

/* ---- small helpers ----------------------------------------------------------- */

static void refuse(struct veld__srv_outcome *out, enum veld__srv_refusal r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void refuse(struct veld__srv_outcome *out, enum veld__srv_refusal r, const char *fmt, ...)
{
	va_list ap;
	out->refusal = r;
	va_start(ap, fmt);
	vsnprintf(out->message, sizeof out->message, fmt, ap);
	va_end(ap);
}

static sqlite3_stmt *stmt(struct sqlite_store *s, int i)
{
	sqlite3_stmt *st = s->st[i];
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return st;
}

static int step_done(sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? VELD_OK : veld__err_sqlite(rc, what);
}

static void bind_id(sqlite3_stmt *st, int i, const uint8_t *id)
{
	sqlite3_bind_blob(st, i, id, VELD_ID_BYTES, SQLITE_STATIC);
}

static void bind_u64(sqlite3_stmt *st, int i, uint64_t v)
{
	sqlite3_bind_int64(st, i, (sqlite3_int64)v);
}

static uint64_t col_u64(sqlite3_stmt *st, int i)
{
	return (uint64_t)sqlite3_column_int64(st, i);
}

/* Copy a blob column of exactly n bytes; -1 if it has another size. */
static int col_blob(sqlite3_stmt *st, int i, void *out, size_t n)
{
	if ((size_t)sqlite3_column_bytes(st, i) != n || (n && !sqlite3_column_blob(st, i)))
		return -1;
	memcpy(out, sqlite3_column_blob(st, i), n);
	return 0;
}

static void col_text(sqlite3_stmt *st, int i, char *out, size_t cap)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	snprintf(out, cap, "%s", t ? (const char *)t : "");
}

static int read_device(sqlite3_stmt *st, struct veld__srv_device *d)
{
	memset(d, 0, sizeof *d);
	if (col_blob(st, 0, d->device, VELD_ID_BYTES) || col_blob(st, 1, d->sign_pk, 32) ||
	    col_blob(st, 2, d->box_pk, 32))
		return veld__err(VELD_ECORRUPT, "a device row is damaged");
	col_text(st, 3, d->team, sizeof d->team);
	col_text(st, 4, d->role, sizeof d->role);
	col_text(st, 5, d->label, sizeof d->label);
	d->enrolled = col_u64(st, 6);
	d->revoked = sqlite3_column_type(st, 7) == SQLITE_NULL ? 0 : col_u64(st, 7);
	d->last_seq = col_u64(st, 8);
	return VELD_OK;
}

static int device_load(struct sqlite_store *s, const uint8_t id[VELD_ID_BYTES],
                       struct veld__srv_device *d)
{
	sqlite3_stmt *st = stmt(s, S_DEV_GET);
	int rc;
	bind_id(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rc = read_device(st, d);
	else if (rc == SQLITE_DONE)
		rc = VELD_ENOTFOUND;
	else
		rc = veld__err_sqlite(rc, "reading a device");
	sqlite3_reset(st);
	return rc;
}

static int office_load(struct sqlite_store *s, struct veld__srv_device *d, int *found)
{
	sqlite3_stmt *st = stmt(s, S_DEV_OFFICE);
	int rc = sqlite3_step(st);
	*found = 0;
	if (rc == SQLITE_ROW) {
		*found = 1;
		rc = read_device(st, d);
	} else {
		rc = rc == SQLITE_DONE ? VELD_OK : veld__err_sqlite(rc, "reading the office device");
	}
	sqlite3_reset(st);
	return rc;
}

static int nonce_exists(struct sqlite_store *s, const uint8_t dev[VELD_ID_BYTES],
                        const uint8_t nonce[16], int *seen)
{
	sqlite3_stmt *st = stmt(s, S_NONCE_GET);
	int rc;
	bind_id(st, 1, dev);
	sqlite3_bind_blob(st, 2, nonce, 16, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	*seen = rc == SQLITE_ROW;
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? VELD_OK : veld__err_sqlite(rc, "reading nonces");
}

/* Team key version currently published for `team` (0 if none). */
static int team_current(struct sqlite_store *s, const char *team, uint64_t *tv)
{
	sqlite3_stmt *st = stmt(s, S_TK_CURRENT);
	int rc;
	sqlite3_bind_text(st, 1, team, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	*tv = rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL ? col_u64(st, 0) : 0;
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? VELD_OK : veld__err_sqlite(rc, "reading team keys");
}

/* ---- transactions ------------------------------------------------------------ */

static int tx_begin(struct sqlite_store *s)
{
	pthread_mutex_lock(&s->mu);
	int rc = step_done(stmt(s, S_BEGIN), "starting a transaction");
	if (rc != VELD_OK)
		pthread_mutex_unlock(&s->mu);
	return rc;
}

static void tx_rollback(struct sqlite_store *s)
{
	if (!sqlite3_get_autocommit(s->db))
		step_done(stmt(s, S_ROLLBACK), "rolling back");
	veld__merge_forget(&s->merge);
	pthread_mutex_unlock(&s->mu);
}

/* Record the request's nonce, drop nonces older than the window, commit. */
static int tx_finish(struct sqlite_store *s, const struct veld__srv_req *req)
{
	sqlite3_stmt *st = stmt(s, S_NONCE_PUT);
	int rc;
	bind_id(st, 1, req->device);
	sqlite3_bind_blob(st, 2, req->nonce, 16, SQLITE_STATIC);
	bind_u64(st, 3, req->time_ms);
	rc = step_done(st, "recording the nonce");
	if (rc == VELD_OK && req->now_ms > VELD_AUTH_WINDOW_MS) {
		st = stmt(s, S_NONCE_PRUNE);
		bind_u64(st, 1, req->now_ms - VELD_AUTH_WINDOW_MS);
		rc = step_done(st, "pruning nonces");
	}
	if (rc == VELD_OK)
		rc = step_done(stmt(s, S_COMMIT), "committing");
	if (rc != VELD_OK) {
		tx_rollback(s);
		return rc;
	}
	pthread_mutex_unlock(&s->mu);
	return VELD_OK;
}

/* Inside the transaction: the requester is still enrolled and active, and
 * its nonce is new. A refusal is left in `out`. */
static int requester(struct sqlite_store *s, const struct veld__srv_req *req,
                     struct veld__srv_device *dev, struct veld__srv_outcome *out)
{
	int seen, rc = device_load(s, req->device, dev);
	if (rc == VELD_ENOTFOUND) {
		refuse(out, VELD_SRV_UNKNOWN_DEVICE, "unknown device");
		return VELD_OK;
	}
	if (rc != VELD_OK)
		return rc;
	if (dev->revoked) {
		refuse(out, VELD_SRV_REVOKED, "this device was revoked; wipe its store");
		return VELD_OK;
	}
	if ((rc = nonce_exists(s, req->device, req->nonce, &seen)) != VELD_OK)
		return rc;
	if (seen)
		refuse(out, VELD_SRV_REPLAY, "nonce already used");
	return VELD_OK;
}

static int requester_office(struct sqlite_store *s, const struct veld__srv_req *req,
                            struct veld__srv_device *dev, struct veld__srv_outcome *out)
{
	int rc = requester(s, req, dev, out);
	if (rc == VELD_OK && out->refusal == VELD_SRV_OK && strcmp(dev->role, "office") != 0)
		refuse(out, VELD_SRV_FORBIDDEN, "only the office may do this");
	return rc;
}

/* Common tail: refused or failed -> roll back; else finish. */
static int tx_end(struct sqlite_store *s, const struct veld__srv_req *req, int rc,
                  const struct veld__srv_outcome *out)
{
	if (rc != VELD_OK || out->refusal != VELD_SRV_OK) {
		tx_rollback(s);
		return rc;
	}
	return tx_finish(s, req);
}

/* ---- setup ------------------------------------------------------------------- */

static int office_needed_locked(struct sqlite_store *s, uint64_t now_ms, int *needed)
{
	struct veld__srv_device office;
	int found, rc;
	sqlite3_stmt *st;
	*needed = 0;
	if ((rc = office_load(s, &office, &found)) != VELD_OK || found)
		return rc;
	st = stmt(s, S_INV_OFFICE_LIVE);
	bind_u64(st, 1, now_ms);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return veld__err_sqlite(rc, "reading invites");
	*needed = rc == SQLITE_DONE;
	return VELD_OK;
}

static int sq_office_needed(struct veld__sstore *base, uint64_t now_ms, int *needed)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	int rc;
	pthread_mutex_lock(&s->mu);
	rc = office_needed_locked(s, now_ms, needed);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static int sq_office_invite(struct veld__sstore *base, const uint8_t auth[32], uint64_t now_ms,
                            uint64_t expires_ms, int *created)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	sqlite3_stmt *st;
	int needed, rc;
	*created = 0;
	if ((rc = tx_begin(s)) != VELD_OK)
		return rc;
	if ((rc = office_needed_locked(s, now_ms, &needed)) != VELD_OK || !needed) {
		tx_rollback(s);
		return rc;
	}
	st = stmt(s, S_INV_PUT);
	sqlite3_bind_blob(st, 1, auth, 32, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, "*", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, "office", -1, SQLITE_STATIC);
	bind_u64(st, 4, expires_ms);
	bind_u64(st, 5, 0);
	sqlite3_bind_null(st, 6);
	if ((rc = step_done(st, "storing the office invite")) == VELD_OK)
		rc = step_done(stmt(s, S_COMMIT), "committing");
	if (rc != VELD_OK) {
		tx_rollback(s);
		return rc;
	}
	pthread_mutex_unlock(&s->mu);
	*created = 1;
	return VELD_OK;
}

/* ---- auth reads ------------------------------------------------------------ */

static int sq_device_get(struct veld__sstore *base, const uint8_t device[VELD_ID_BYTES],
                         struct veld__srv_device *out)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	int rc;
	pthread_mutex_lock(&s->mu);
	rc = device_load(s, device, out);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static int sq_nonce_seen(struct veld__sstore *base, const uint8_t device[VELD_ID_BYTES],
                         const uint8_t nonce[16], int *seen)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	int rc;
	pthread_mutex_lock(&s->mu);
	rc = nonce_exists(s, device, nonce, seen);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/* ---- enroll ------------------------------------------------------------------ */

static int enroll_locked(struct sqlite_store *s, const struct veld__srv_req *req,
                         const struct veld__enroll_req *m, struct veld__enroll_resp *resp,
                         struct veld__srv_outcome *out)
{
	struct veld__srv_device existing, office;
	char team[VELD_TEAM_MAX + 1], role[16];
	uint64_t expires, tv;
	uint8_t team_sealed[VELD_TEAM_SEALED_BYTES];
	int has_sealed = 0, used, seen, found, rc;
	sqlite3_stmt *st;

	if ((rc = nonce_exists(s, req->device, req->nonce, &seen)) != VELD_OK)
		return rc;
	if (seen) {
		refuse(out, VELD_SRV_REPLAY, "nonce already used");
		return VELD_OK;
	}

	st = stmt(s, S_INV_GET);
	sqlite3_bind_blob(st, 1, m->auth, 32, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			return veld__err_sqlite(rc, "reading invites");
		refuse(out, VELD_SRV_BAD_CODE, "the enrollment code is unknown, used or expired");
		return VELD_OK;
	}
	col_text(st, 0, team, sizeof team);
	col_text(st, 1, role, sizeof role);
	expires = col_u64(st, 2);
	tv = col_u64(st, 3);
	if (sqlite3_column_type(st, 4) != SQLITE_NULL) {
		if (col_blob(st, 4, team_sealed, sizeof team_sealed)) {
			sqlite3_reset(st);
			return veld__err(VELD_ECORRUPT, "an invite row is damaged");
		}
		has_sealed = 1;
	}
	used = sqlite3_column_type(st, 5) != SQLITE_NULL;
	sqlite3_reset(st);
	if (used || expires <= req->now_ms) {
		refuse(out, VELD_SRV_BAD_CODE, "the enrollment code is unknown, used or expired");
		return VELD_OK;
	}

	rc = device_load(s, m->device, &existing);
	if (rc == VELD_OK) {
		if (existing.revoked)
			refuse(out, VELD_SRV_REVOKED, "this device was revoked; wipe its store");
		else
			refuse(out, VELD_SRV_EQUIVOCATION, "this device id is already enrolled");
		return VELD_OK;
	}
	if (rc != VELD_ENOTFOUND)
		return rc;

	if ((rc = office_load(s, &office, &found)) != VELD_OK)
		return rc;
	memset(resp, 0, sizeof *resp);
	snprintf(resp->role, sizeof resp->role, "%s", role);
	snprintf(resp->team, sizeof resp->team, "%s", team);
	if (strcmp(role, "office") == 0) {
		if (found) {
			refuse(out, VELD_SRV_BAD_CODE, "the office is already enrolled");
			return VELD_OK;
		}
		resp->tv = 0;
	} else {
		if (!has_sealed)
			return veld__err(VELD_ECORRUPT, "a worker invite has no team key");
		st = stmt(s, S_TK_GET);
		sqlite3_bind_text(st, 1, team, -1, SQLITE_STATIC);
		bind_u64(st, 2, tv);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW && col_blob(st, 0, resp->team_pk, 32) == 0) {
			sqlite3_reset(st);
		} else {
			sqlite3_reset(st);
			return rc == SQLITE_ROW || rc == SQLITE_DONE
			       ? veld__err(VELD_ECORRUPT, "the invite's team key version is not published")
			       : veld__err_sqlite(rc, "reading team keys");
		}
		resp->tv = tv;
		resp->has_team_key = 1;
		memcpy(resp->team_sealed, team_sealed, sizeof team_sealed);
		if (found) {
			resp->has_office = 1;
			memcpy(resp->office_device, office.device, VELD_ID_BYTES);
			memcpy(resp->office_sign_pk, office.sign_pk, 32);
			memcpy(resp->office_box_pk, office.box_pk, 32);
		}
	}

	st = stmt(s, S_DEV_INSERT);
	bind_id(st, 1, m->device);
	sqlite3_bind_blob(st, 2, m->sign_pk, 32, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, m->box_pk, 32, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, team, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, role, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, m->label, -1, SQLITE_STATIC);
	bind_u64(st, 7, req->now_ms);
	if ((rc = step_done(st, "registering the device")) != VELD_OK)
		return rc;
	st = stmt(s, S_INV_USE);
	sqlite3_bind_blob(st, 1, m->auth, 32, SQLITE_STATIC);
	bind_u64(st, 2, req->now_ms);
	if ((rc = step_done(st, "using the invite")) != VELD_OK)
		return rc;
	if (sqlite3_changes(s->db) != 1)
		return veld__err(VELD_ERROR, "the invite was used concurrently");
	return VELD_OK;
}

static int sq_enroll(struct veld__sstore *base, const struct veld__srv_req *req,
                     const struct veld__enroll_req *m, struct veld__enroll_resp *resp,
                     struct veld__srv_outcome *out)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	int rc;
	memset(out, 0, sizeof *out);
	if ((rc = tx_begin(s)) != VELD_OK)
		return rc;
	rc = enroll_locked(s, req, m, resp, out);
	return tx_end(s, req, rc, out);
}

/* ---- office endpoints ---------------------------------------------------------- */

static int sq_invite(struct veld__sstore *base, const struct veld__srv_req *req,
                     const struct veld__invite_req *m, struct veld__srv_outcome *out)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	struct veld__srv_device dev;
	uint64_t current;
	sqlite3_stmt *st;
	int rc;

	memset(out, 0, sizeof *out);
	if ((rc = tx_begin(s)) != VELD_OK)
		return rc;
	rc = requester_office(s, req, &dev, out);
	if (rc != VELD_OK || out->refusal)
		goto done;
	if (!veld__team_valid(m->team)) {
		refuse(out, VELD_SRV_MALFORMED, "team: not a valid team name");
		goto done;
	}
	if (m->expires <= req->now_ms || m->expires > req->now_ms + WEEK_MS) {
		refuse(out, VELD_SRV_MALFORMED, "expires: must be in the future, at most 7 days ahead");
		goto done;
	}
	if ((rc = team_current(s, m->team, &current)) != VELD_OK)
		goto done;
	if (current == 0 || m->tv != current) {
		refuse(out, VELD_SRV_GAP, current == 0
		       ? "the team has no published key yet: publish one with /v1/team-keys"
		       : "tv is not the team's current key version");
		out->expected = current;
		goto done;
	}
	st = stmt(s, S_INV_GET);
	sqlite3_bind_blob(st, 1, m->auth, 32, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW) {
		rc = VELD_OK;
		refuse(out, VELD_SRV_EQUIVOCATION, "an invite with this code already exists");
		goto done;
	}
	if (rc != SQLITE_DONE) {
		rc = veld__err_sqlite(rc, "reading invites");
		goto done;
	}
	st = stmt(s, S_INV_PUT);
	sqlite3_bind_blob(st, 1, m->auth, 32, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, m->team, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, "worker", -1, SQLITE_STATIC);
	bind_u64(st, 4, m->expires);
	bind_u64(st, 5, m->tv);
	sqlite3_bind_blob(st, 6, m->team_sealed, sizeof m->team_sealed, SQLITE_STATIC);
	rc = step_done(st, "storing the invite");
done:
	return tx_end(s, req, rc, out);
}

static int sq_team_keys(struct veld__sstore *base, const struct veld__srv_req *req,
                        const struct veld__team_keys_req *m, struct veld__srv_outcome *out)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	struct veld__srv_device dev, holder;
	uint64_t current;
	sqlite3_stmt *st;
	int rc;

	memset(out, 0, sizeof *out);
	if ((rc = tx_begin(s)) != VELD_OK)
		return rc;
	rc = requester_office(s, req, &dev, out);
	if (rc != VELD_OK || out->refusal)
		goto done;
	if (!veld__team_valid(m->team)) {
		refuse(out, VELD_SRV_MALFORMED, "team: not a valid team name");
		goto done;
	}
	if ((rc = team_current(s, m->team, &current)) != VELD_OK)
		goto done;
	if (m->tv == current && current >= 1) {
		uint8_t pk[32];
		st = stmt(s, S_TK_GET);
		sqlite3_bind_text(st, 1, m->team, -1, SQLITE_STATIC);
		bind_u64(st, 2, current);
		rc = sqlite3_step(st);
		int bad = rc != SQLITE_ROW || col_blob(st, 0, pk, 32) != 0;
		sqlite3_reset(st);
		if (bad) {
			rc = veld__err(VELD_ECORRUPT, "a team key row is damaged");
			goto done;
		}
		rc = VELD_OK;
		if (sodium_memcmp(pk, m->pk, 32) != 0) {
			refuse(out, VELD_SRV_EQUIVOCATION,
			       "team key version %llu already has another public key",
			       (unsigned long long)current);
			goto done;
		}
	} else if (m->tv != current + 1) {
		refuse(out, VELD_SRV_GAP, "tv must be the current team key version or the next one");
		out->expected = current + 1;
		goto done;
	}
	for (size_t i = 0; i < m->nsealed; i++) {
		rc = device_load(s, m->sealed[i].device, &holder);
		if (rc == VELD_ENOTFOUND) {
			rc = VELD_OK;
			refuse(out, VELD_SRV_FORBIDDEN, "sealed[%zu]: unknown device", i);
			goto done;
		}
		if (rc != VELD_OK)
			goto done;
		if (holder.revoked) {
			refuse(out, VELD_SRV_FORBIDDEN, "sealed[%zu]: the device is revoked", i);
			goto done;
		}
		if (strcmp(holder.team, m->team) != 0 && strcmp(holder.role, "office") != 0) {
			refuse(out, VELD_SRV_FORBIDDEN, "sealed[%zu]: the device is not in this team", i);
			goto done;
		}
	}

	if (m->tv == current + 1) {
		st = stmt(s, S_TK_PUT);
		sqlite3_bind_text(st, 1, m->team, -1, SQLITE_STATIC);
		bind_u64(st, 2, m->tv);
		sqlite3_bind_blob(st, 3, m->pk, 32, SQLITE_STATIC);
		if ((rc = step_done(st, "storing the team key")) != VELD_OK)
			goto done;
	}
	for (size_t i = 0; i < m->nsealed; i++) {
		st = stmt(s, S_TKS_PUT);
		sqlite3_bind_text(st, 1, m->team, -1, SQLITE_STATIC);
		bind_u64(st, 2, m->tv);
		bind_id(st, 3, m->sealed[i].device);
		sqlite3_bind_blob(st, 4, m->sealed[i].sealed, VELD_SEALED_KEY_BYTES, SQLITE_STATIC);
		if ((rc = step_done(st, "storing a sealed team key")) != VELD_OK)
			goto done;
	}
done:
	return tx_end(s, req, rc, out);
}

static int sq_revoke(struct veld__sstore *base, const struct veld__srv_req *req,
                     const struct veld__revoke_req *m, struct veld__revoke_resp *resp,
                     struct veld__srv_outcome *out)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	struct veld__srv_device dev, target;
	sqlite3_stmt *st;
	int rc;

	memset(out, 0, sizeof *out);
	if ((rc = tx_begin(s)) != VELD_OK)
		return rc;
	rc = requester_office(s, req, &dev, out);
	if (rc != VELD_OK || out->refusal)
		goto done;
	rc = device_load(s, m->device, &target);
	if (rc == VELD_ENOTFOUND) {
		rc = VELD_OK;
		refuse(out, VELD_SRV_NOT_FOUND, "no such device");
		goto done;
	}
	if (rc != VELD_OK)
		goto done;
	if (strcmp(target.role, "office") == 0) {
		refuse(out, VELD_SRV_FORBIDDEN, "the office device cannot be revoked");
		goto done;
	}
	memset(resp, 0, sizeof *resp);
	snprintf(resp->team, sizeof resp->team, "%s", target.team);
	st = stmt(s, S_DEV_REVOKE);
	bind_id(st, 1, m->device);
	bind_u64(st, 2, req->now_ms);
	rc = step_done(st, "revoking the device"); /* already revoked: no change */
done:
	return tx_end(s, req, rc, out);
}

/* POST /v1/erase (protocol.md 6): the client's operations, the merge
 * state of its records (ops, superseded, conflicts, entities), its feed
 * entries, its row in clients and its key envelopes go; the erasure is
 * recorded with the next cursor of the erasure feed and in the merge's
 * erased table (so the merge rule drops its operations too). The hashes of
 * its operations move to erased_ops: the batches they were signed in may
 * hold other clients' operations, which must stay verifiable. */
static int erase_locked(struct sqlite_store *s, const struct veld__srv_req *req,
                        const struct veld__erase_req *m, struct veld__srv_outcome *out)
{
	static const int steps[] = {S_ERASE_KEEP_HASHES, S_ERASE_OPS, S_ERASE_SUPERSEDED,
	                            S_ERASE_CONFLICTS, S_ERASE_ENTITIES, S_ERASE_FEED,
	                            S_ERASE_CLIENT, S_ERASE_ENVELOPES};
	char team[VELD_TEAM_MAX + 1] = "";
	sqlite3_stmt *st = stmt(s, S_CLIENT_GET);
	int rc, erased = 0;

	bind_id(st, 1, m->client);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		col_text(st, 0, team, sizeof team);
		erased = sqlite3_column_int(st, 1) != 0;
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE) {
		refuse(out, VELD_SRV_NOT_FOUND, "no operation of this client was ever received");
		return VELD_OK;
	}
	if (rc != SQLITE_ROW)
		return veld__err_sqlite(rc, "reading clients");
	if (erased)
		return VELD_OK; /* the first erasure stays */

	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		st = stmt(s, steps[i]);
		bind_id(st, 1, m->client);
		if (steps[i] == S_ERASE_FEED)
			sqlite3_bind_text(st, 2, team, -1, SQLITE_STATIC);
		if ((rc = step_done(st, "erasing a client")) != VELD_OK)
			return rc;
	}
	st = stmt(s, S_ERASE_MERGE);
	bind_id(st, 1, m->client);
	bind_u64(st, 2, req->now_ms);
	if ((rc = step_done(st, "erasing a client")) != VELD_OK)
		return rc;
	/* The office's time and signature travel to the devices as they are. */
	st = stmt(s, S_ERASE_PUT);
	bind_id(st, 1, m->client);
	sqlite3_bind_text(st, 2, team, -1, SQLITE_STATIC);
	bind_u64(st, 3, m->at);
	sqlite3_bind_blob(st, 4, m->sig, 64, SQLITE_STATIC);
	return step_done(st, "recording the erasure");
}

static int sq_erase(struct veld__sstore *base, const struct veld__srv_req *req,
                    const struct veld__erase_req *m, struct veld__srv_outcome *out)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	struct veld__srv_device dev;
	int rc;

	memset(out, 0, sizeof *out);
	if ((rc = tx_begin(s)) != VELD_OK)
		return rc;
	rc = requester_office(s, req, &dev, out);
	if (rc == VELD_OK && !out->refusal)
		rc = erase_locked(s, req, m, out);
	/* Records went: the merge's cached record checks may name one. */
	veld__merge_forget(&s->merge);
	return tx_end(s, req, rc, out);
}

/* ---- field policy ------------------------------------------------------------ */

/* A team's policy: *found 0 (and the default mask) if the office set none. */
static int policy_get(struct sqlite_store *s, const char *team, struct veld__field_policy *p,
                      int *found)
{
	sqlite3_stmt *st = stmt(s, S_POLICY_GET);
	int rc;
	memset(p, 0, sizeof *p);
	snprintf(p->team, sizeof p->team, "%s", team);
	p->mask = veld__policy_default;
	*found = 0;
	sqlite3_bind_text(st, 1, team, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		p->at = col_u64(st, 0);
		p->mask = (uint32_t)col_u64(st, 1);
		if (col_blob(st, 2, p->sig, 64) || (p->mask & ~VELD_POLICY_ALL)) {
			sqlite3_reset(st);
			return veld__err(VELD_ECORRUPT, "a field policy row is damaged");
		}
		*found = 1;
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? VELD_OK
	                                             : veld__err_sqlite(rc, "reading a field policy");
}

/* The rules of POST /v1/policy (protocol.md 6) after the signature, which
 * the HTTP side checked: a policy never goes back in time. */
static int policy_locked(struct sqlite_store *s, const struct veld__srv_req *req,
                         const struct veld__field_policy *m, struct veld__srv_outcome *out)
{
	struct veld__field_policy cur;
	sqlite3_stmt *st;
	int found, rc;
	(void)req;
	if (!veld__team_valid(m->team) || (m->mask & ~VELD_POLICY_ALL) || m->at < 1) {
		refuse(out, VELD_SRV_MALFORMED, "team, at or fields: not valid");
		return VELD_OK;
	}
	if ((rc = policy_get(s, m->team, &cur, &found)) != VELD_OK)
		return rc;
	if (found && m->at == cur.at && m->mask == cur.mask)
		return VELD_OK; /* sent again: nothing changes */
	if (found && m->at <= cur.at) {
		refuse(out, VELD_SRV_REPLAY, "the team has a policy signed at the same time or later");
		return VELD_OK;
	}
	st = stmt(s, S_POLICY_PUT);
	sqlite3_bind_text(st, 1, m->team, -1, SQLITE_STATIC);
	bind_u64(st, 2, m->at);
	bind_u64(st, 3, m->mask);
	sqlite3_bind_blob(st, 4, m->sig, 64, SQLITE_STATIC);
	return step_done(st, "storing a field policy");
}

static int sq_policy(struct veld__sstore *base, const struct veld__srv_req *req,
                     const struct veld__field_policy *m, struct veld__srv_outcome *out)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	struct veld__srv_device dev;
	int rc;

	memset(out, 0, sizeof *out);
	if ((rc = tx_begin(s)) != VELD_OK)
		return rc;
	rc = requester_office(s, req, &dev, out);
	if (rc == VELD_OK && !out->refusal)
		rc = policy_locked(s, req, m, out);
	return tx_end(s, req, rc, out);
}

/* Grow a malloc'd array; 0 or -1. */
static int grow(void **p, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap * 2 : 16;
	while (n < need)
		n *= 2;
	void *q = realloc(*p, n * size);
	if (!q)
		return -1;
	*p = q;
	*cap = n;
	return 0;
}

static int sq_devices(struct veld__sstore *base, const struct veld__srv_req *req,
                      struct veld__srv_devices *list, struct veld__srv_outcome *out)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	struct veld__srv_device dev, d;
	struct veld__device_info *v = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *st;
	int rc;

	memset(out, 0, sizeof *out);
	memset(&list->resp, 0, sizeof list->resp);
	if ((rc = tx_begin(s)) != VELD_OK)
		return rc;
	rc = requester_office(s, req, &dev, out);
	if (rc != VELD_OK || out->refusal)
		goto done;
	st = stmt(s, S_DEV_LIST);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (grow((void **)&v, &cap, n + 1, sizeof *v)) {
			rc = veld__err(VELD_ENOMEM, "out of memory");
			break;
		}
		if ((rc = read_device(st, &d)) != VELD_OK)
			break;
		struct veld__device_info *o = &v[n++];
		memset(o, 0, sizeof *o);
		memcpy(o->device, d.device, VELD_ID_BYTES);
		memcpy(o->team, d.team, sizeof o->team);
		memcpy(o->role, d.role, sizeof o->role);
		memcpy(o->label, d.label, sizeof o->label);
		memcpy(o->sign_pk, d.sign_pk, 32);
		memcpy(o->box_pk, d.box_pk, 32);
		o->enrolled = d.enrolled;
		o->revoked = d.revoked;
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		rc = VELD_OK;
	else if (rc > 0)
		rc = veld__err_sqlite(rc, "listing devices");
	if (rc == VELD_OK && n) {
		list->resp.devices = veld__arena_dup(&list->mem, v, n * sizeof *v);
		if (!list->resp.devices)
			rc = veld__err(VELD_ENOMEM, "out of memory");
		list->resp.ndevices = n;
	}
done:
	free(v);
	return tx_end(s, req, rc, out);
}

/* ---- push ------------------------------------------------------------------- */

/* What this push learns about clients and records, before anything is
 * written: the team of each client and the kind/client of each record. */
struct seen_client {
	const uint8_t *client;
	char team[VELD_TEAM_MAX + 1];
	int erased; /* POST /v1/erase: its operations and envelopes are dropped */
};

struct seen_entity {
	const uint8_t *entity, *client;
	const char *kind;
};

struct push_scratch {
	struct seen_client *clients;
	size_t nclients;
	struct seen_entity *entities;
	size_t nentities;
};

/* The team `client` belongs to: from this push, the clients table or (for
 * an erased client) the erasures table. *team = NULL if it is new;
 * *erased (may be NULL) tells whether it is erased. */
static int client_team(struct sqlite_store *s, struct push_scratch *w, const uint8_t *client,
                       const char **team, int *erased)
{
	sqlite3_stmt *st;
	int rc;
	*team = NULL;
	if (erased)
		*erased = 0;
	for (size_t i = 0; i < w->nclients; i++)
		if (memcmp(w->clients[i].client, client, VELD_ID_BYTES) == 0) {
			*team = w->clients[i].team;
			if (erased)
				*erased = w->clients[i].erased;
			return VELD_OK;
		}
	st = stmt(s, S_CLIENT_GET);
	bind_id(st, 1, client);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		struct seen_client *c = &w->clients[w->nclients++];
		c->client = client;
		col_text(st, 0, c->team, sizeof c->team);
		c->erased = sqlite3_column_int(st, 1) != 0;
		*team = c->team;
		if (erased)
			*erased = c->erased;
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? VELD_OK : veld__err_sqlite(rc, "reading clients");
}

/* The record must keep the kind and client it was created with (checked
 * here because merge_apply trusts a run of writes to one record). */
static int entity_check(struct sqlite_store *s, struct push_scratch *w, const veld__op *op,
                        int *ok)
{
	sqlite3_stmt *st;
	int rc;
	*ok = 1;
	for (size_t i = 0; i < w->nentities; i++)
		if (memcmp(w->entities[i].entity, op->entity, VELD_ID_BYTES) == 0) {
			*ok = strcmp(w->entities[i].kind, op->kind) == 0 &&
			      memcmp(w->entities[i].client, op->client, VELD_ID_BYTES) == 0;
			return VELD_OK;
		}
	st = stmt(s, S_ENTITY_GET);
	bind_id(st, 1, op->entity);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const unsigned char *kind = sqlite3_column_text(st, 0);
		*ok = kind && strcmp((const char *)kind, op->kind) == 0 &&
		      sqlite3_column_bytes(st, 1) == VELD_ID_BYTES &&
		      memcmp(sqlite3_column_blob(st, 1), op->client, VELD_ID_BYTES) == 0;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return veld__err_sqlite(rc, "reading records");
	if (*ok) {
		struct seen_entity *e = &w->entities[w->nentities++];
		e->entity = op->entity;
		e->client = op->client;
		e->kind = op->kind;
	}
	return VELD_OK;
}

/* All the checks of a push (protocol.md 6, /v1/push), in the order the
 * rules are listed, before anything is written. */
static int push_check(struct sqlite_store *s, const struct veld__srv_device *dev,
                      const struct veld__push_req *m, int sig_ok, struct push_scratch *w,
                      struct veld__srv_outcome *out)
{
	int office = strcmp(dev->role, "office") == 0, rc;
	uint64_t last = dev->last_seq;

	if (m->nops && m->ops[0].seq > last + 1) {
		refuse(out, VELD_SRV_GAP, "the push does not continue the device's sequence: expected %llu",
		       (unsigned long long)(last + 1));
		out->expected = last + 1;
		return VELD_OK;
	}
	/* A held seq (stored, or its hash kept when its client was erased)
	 * must come with the same operation. Not even an erased one is
	 * skipped uncompared: the push's signature would be stored over a hash
	 * the pulls do not serve, and its batch would never verify again. A
	 * device asks first how far the server holds its operations (an empty
	 * push) and so does not send held ones again. */
	for (size_t i = 0; i < m->nops && m->ops[i].seq <= last; i++) {
		sqlite3_stmt *st = stmt(s, S_OP_HASH);
		int held, same = 0;
		bind_id(st, 1, dev->device);
		bind_u64(st, 2, m->ops[i].seq);
		rc = sqlite3_step(st);
		held = rc == SQLITE_ROW;
		if (held)
			same = sqlite3_column_bytes(st, 0) == VELD_HASH_BYTES &&
			       memcmp(sqlite3_column_blob(st, 0), m->ops[i].hash, VELD_HASH_BYTES) == 0;
		sqlite3_reset(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return veld__err_sqlite(rc, "reading the operation log");
		if (same)
			continue;
		if (!held)
			return veld__err(VELD_ECORRUPT, "a stored operation is missing");
		refuse(out, VELD_SRV_EQUIVOCATION, "operation %llu differs from the one already stored",
		       (unsigned long long)m->ops[i].seq);
		return VELD_OK;
	}
	if (m->nops && !sig_ok) {
		refuse(out, VELD_SRV_BAD_BATCH, "the batch signature does not verify");
		return VELD_OK;
	}
	for (size_t i = 0; i < m->nops; i++) {
		const veld__op *op = &m->ops[i];
		const char *team;
		int ok;
		if (op->seq <= last)
			continue;
		if (!veld__team_valid(op->team)) {
			refuse(out, VELD_SRV_MALFORMED, "ops[%zu].team: not a valid team name", i);
			return VELD_OK;
		}
		if (!office && strcmp(op->team, dev->team) != 0) {
			refuse(out, VELD_SRV_FORBIDDEN, "operation %llu: a client of another team",
			       (unsigned long long)op->seq);
			return VELD_OK;
		}
		/* An erased client's team is in erasures: its operations still
		 * keep every rule, then push_write drops them. */
		if ((rc = client_team(s, w, op->client, &team, NULL)) != VELD_OK)
			return rc;
		if (team && strcmp(team, op->team) != 0) {
			refuse(out, VELD_SRV_FORBIDDEN,
			       "operation %llu: the client belongs to another team",
			       (unsigned long long)op->seq);
			return VELD_OK;
		}
		if (!team) {
			struct seen_client *c = &w->clients[w->nclients++];
			c->client = op->client;
			memcpy(c->team, op->team, sizeof c->team);
		}
		if ((rc = entity_check(s, w, op, &ok)) != VELD_OK)
			return rc;
		if (!ok) {
			refuse(out, VELD_SRV_FORBIDDEN,
			       "operation %llu changes the kind or client of an existing record",
			       (unsigned long long)op->seq);
			return VELD_OK;
		}
	}
	for (size_t i = 0; i < m->nenvs; i++) {
		const struct veld__envelope *e = &m->envs[i];
		const char *to_team = NULL, *team;
		if (strcmp(e->to, "office") == 0) {
			if (e->tv != 0) {
				refuse(out, VELD_SRV_MALFORMED, "envelopes[%zu].tv: must be 0 for the office", i);
				return VELD_OK;
			}
		} else if (strncmp(e->to, "team:", 5) == 0 && veld__team_valid(e->to + 5)) {
			to_team = e->to + 5;
		} else {
			refuse(out, VELD_SRV_MALFORMED, "envelopes[%zu].to: not office or team:<team>", i);
			return VELD_OK;
		}
		if (!office && to_team && strcmp(to_team, dev->team) != 0) {
			refuse(out, VELD_SRV_FORBIDDEN, "envelopes[%zu]: addressed to another team", i);
			return VELD_OK;
		}
		/* Not every envelope's client need be known yet (its operations
		 * may come in a later batch); a known one fixes the team. */
		if ((rc = client_team(s, w, e->client, &team, NULL)) != VELD_OK)
			return rc;
		if (team && ((!office && strcmp(team, dev->team) != 0) ||
		             (to_team && strcmp(team, to_team) != 0))) {
			refuse(out, VELD_SRV_FORBIDDEN, "envelopes[%zu]: a client of another team", i);
			return VELD_OK;
		}
	}
	return VELD_OK;
}

static int push_write(struct sqlite_store *s, const struct veld__srv_device *dev,
                      const struct veld__push_req *m, struct push_scratch *w,
                      struct veld__push_resp *resp, struct veld__srv_outcome *out)
{
	uint64_t last = dev->last_seq, stored = 0;
	sqlite3_stmt *st;
	const char *team;
	int rc, applied, erased;

	for (size_t i = 0; i < m->nops; i++) {
		const veld__op *op = &m->ops[i];
		if (op->seq <= last)
			continue;
		if ((rc = client_team(s, w, op->client, &team, &erased)) != VELD_OK)
			return rc;
		if (erased) {
			/* Accepted, not stored: only its hash, which the batch
			 * signature covers (the batch's other operations must
			 * still verify). */
			st = stmt(s, S_ERASED_OP_PUT);
			bind_id(st, 1, op->device);
			bind_u64(st, 2, op->seq);
			sqlite3_bind_blob(st, 3, op->hash, VELD_HASH_BYTES, SQLITE_STATIC);
			if ((rc = step_done(st, "dropping an operation of an erased client")) != VELD_OK)
				return rc;
			continue;
		}
		rc = veld__merge_apply(&s->merge, op, &applied);
		if (rc == VELD_EINVAL || rc == VELD_ECORRUPT) {
			refuse(out, rc == VELD_EINVAL ? VELD_SRV_MALFORMED : VELD_SRV_FORBIDDEN,
			       "operation %llu: %s", (unsigned long long)op->seq, veld_error_last());
			return VELD_OK;
		}
		if (rc != VELD_OK)
			return rc;
		if (!applied)
			return veld__err(VELD_ERROR, "operation %llu was not stored",
			                 (unsigned long long)op->seq);
		st = stmt(s, S_FEED_PUT);
		bind_id(st, 1, op->device);
		bind_u64(st, 2, op->seq);
		sqlite3_bind_text(st, 3, op->team, -1, SQLITE_STATIC);
		bind_id(st, 4, op->client);
		if ((rc = step_done(st, "indexing an operation")) != VELD_OK)
			return rc;
		st = stmt(s, S_CLIENT_PUT);
		bind_id(st, 1, op->client);
		sqlite3_bind_text(st, 2, op->team, -1, SQLITE_STATIC);
		if ((rc = step_done(st, "recording a client")) != VELD_OK)
			return rc;
		stored++;
	}
	if (m->nops && m->ops[m->nops - 1].seq > last) {
		/* New operations, stored or dropped: the sequence advances. The
		 * signature is kept for the operations a pull will serve. */
		const veld__op *first = &m->ops[0], *lastop = &m->ops[m->nops - 1];
		st = stmt(s, S_DEV_SET_LAST);
		bind_id(st, 1, dev->device);
		bind_u64(st, 2, lastop->seq);
		if ((rc = step_done(st, "advancing the device's sequence")) != VELD_OK)
			return rc;
		last = lastop->seq;
		if (stored) {
			st = stmt(s, S_BATCH_PUT);
			bind_id(st, 1, dev->device);
			bind_u64(st, 2, first->seq);
			bind_u64(st, 3, lastop->seq);
			sqlite3_bind_blob(st, 4, m->sig, 64, SQLITE_STATIC);
			if ((rc = step_done(st, "storing the batch signature")) != VELD_OK)
				return rc;
		}
	}
	for (size_t i = 0; i < m->nenvs; i++) {
		const struct veld__envelope *e = &m->envs[i];
		if ((rc = client_team(s, w, e->client, &team, &erased)) != VELD_OK)
			return rc;
		if (erased)
			continue; /* an erased client's key: dropped */
		if (!team && strcmp(dev->role, "office") != 0)
			team = dev->team;
		st = stmt(s, S_ENV_PUT);
		bind_id(st, 1, e->client);
		bind_u64(st, 2, e->kv);
		sqlite3_bind_text(st, 3, e->to, -1, SQLITE_STATIC);
		bind_u64(st, 4, e->tv);
		sqlite3_bind_blob(st, 5, e->sealed, VELD_SEALED_KEY_BYTES, SQLITE_STATIC);
		if (team)
			sqlite3_bind_text(st, 6, team, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(st, 6);
		if ((rc = step_done(st, "storing an envelope")) != VELD_OK)
			return rc;
	}
	resp->acked = last;
	resp->stored = stored;
	return VELD_OK;
}

static int sq_push(struct veld__sstore *base, const struct veld__srv_req *req,
                   const struct veld__push_req *m, int sig_ok, struct veld__push_resp *resp,
                   struct veld__srv_outcome *out)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	struct veld__srv_device dev;
	struct push_scratch w = {0};
	size_t n = m->nops + m->nenvs;
	int rc;

	memset(out, 0, sizeof *out);
	memset(resp, 0, sizeof *resp);
	w.clients = calloc(n ? n : 1, sizeof *w.clients);
	w.entities = calloc(m->nops ? m->nops : 1, sizeof *w.entities);
	if (!w.clients || !w.entities) {
		free(w.clients);
		free(w.entities);
		return veld__err(VELD_ENOMEM, "out of memory");
	}
	if ((rc = tx_begin(s)) != VELD_OK)
		goto out;
	rc = requester(s, req, &dev, out);
	if (rc == VELD_OK && !out->refusal)
		rc = push_check(s, &dev, m, sig_ok, &w, out);
	if (rc == VELD_OK && !out->refusal)
		rc = push_write(s, &dev, m, &w, resp, out);
	rc = tx_end(s, req, rc, out);
out:
	free(w.clients);
	free(w.entities);
	return rc;
}

/* ---- pull ------------------------------------------------------------------ */

/* Rough bytes an item adds to the encoded page, to bound its size. */
#define OP_OVERHEAD 160
#define BATCH_OVERHEAD 110
#define HASH_BYTES_ON_WIRE 32

static int read_op(struct sqlite_store *s, sqlite3_stmt *st, struct veld__arena *mem, veld__op *op)
{
	/* column 0 is the cursor; the op starts at column 1 */
	size_t vlen;
	memset(op, 0, sizeof *op);
	if (col_blob(st, 1, op->device, VELD_ID_BYTES) || col_blob(st, 5, op->entity, VELD_ID_BYTES) ||
	    col_blob(st, 6, op->client, VELD_ID_BYTES) || col_blob(st, 12, op->hash, VELD_HASH_BYTES))
		return veld__err(VELD_ECORRUPT, "an operation row is damaged");
	op->seq = col_u64(st, 2);
	op->hlc = col_u64(st, 3);
	col_text(st, 4, op->kind, sizeof op->kind);
	col_text(st, 7, op->team, sizeof op->team);
	op->kv = col_u64(st, 8);
	col_text(st, 9, op->field, sizeof op->field);
	if (sqlite3_column_type(st, 10) != SQLITE_NULL) {
		vlen = (size_t)sqlite3_column_bytes(st, 10);
		op->value = veld__arena_dup(mem, sqlite3_column_blob(st, 10), vlen);
		op->value_len = vlen;
		if (!op->value)
			return veld__err(VELD_ENOMEM, "out of memory");
	}
	if (sqlite3_column_type(st, 11) != SQLITE_NULL) {
		size_t blen = (size_t)sqlite3_column_bytes(st, 11), n;
		veld__ref *sup = veld__arena_alloc(mem, (blen / 24 + 1) * sizeof *sup);
		if (!sup)
			return veld__err(VELD_ENOMEM, "out of memory");
		if (veld__sup_decode(sup, VELD_OP_MAX_SUPERSEDES, sqlite3_column_blob(st, 11), blen, &n))
			return VELD_ECORRUPT;
		op->sup = sup;
		op->nsup = n;
	}
	(void)s;
	return VELD_OK;
}

/* Add the batch that holds (device, seq) unless the page has it already. */
static int page_batch(struct sqlite_store *s, struct veld__pull_resp *r, struct veld__arena *mem,
                      const uint8_t *device, uint64_t seq, size_t *bytes)
{
	sqlite3_stmt *st;
	struct veld__batch *b;
	uint64_t first, last;
	uint8_t *hashes;
	size_t n, got = 0;
	int rc;

	for (size_t i = r->nbatches; i-- > 0;) {
		b = &r->batches[i];
		if (b->first <= seq && seq <= b->last && memcmp(b->device, device, VELD_ID_BYTES) == 0)
			return VELD_OK;
	}
	st = stmt(s, S_BATCH_FIND);
	bind_id(st, 1, device);
	bind_u64(st, 2, seq);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? veld__err(VELD_ECORRUPT, "a stored operation has no batch")
		                         : veld__err_sqlite(rc, "reading batches");
	}
	b = &r->batches[r->nbatches];
	memset(b, 0, sizeof *b);
	memcpy(b->device, device, VELD_ID_BYTES);
	first = b->first = col_u64(st, 0);
	last = b->last = col_u64(st, 1);
	rc = col_blob(st, 2, b->sig, 64);
	sqlite3_reset(st);
	if (rc || last < first || last - first >= 1000000)
		return veld__err(VELD_ECORRUPT, "a batch row is damaged");
	n = (size_t)(last - first + 1);
	if (!(hashes = veld__arena_alloc(mem, n * VELD_HASH_BYTES)))
		return veld__err(VELD_ENOMEM, "out of memory");
	st = stmt(s, S_BATCH_HASHES);
	bind_id(st, 1, device);
	bind_u64(st, 2, first);
	bind_u64(st, 3, last);
	/* From ops, and from erased_ops for the batch's erased operations. */
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && got < n) {
		if (col_u64(st, 0) != first + got ||
		    col_blob(st, 1, hashes + got * VELD_HASH_BYTES, VELD_HASH_BYTES))
			break;
		got++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return veld__err_sqlite(rc, "reading operation hashes");
	if (got != n || rc == SQLITE_ROW)
		return veld__err(VELD_ECORRUPT, "a batch's operations are incomplete");
	b->hashes = hashes;
	r->nbatches++;
	*bytes += BATCH_OVERHEAD + n * HASH_BYTES_ON_WIRE;

	/* Its author's signing key, once per page. */
	for (size_t i = 0; i < r->nauthors; i++)
		if (memcmp(r->authors[i].device, device, VELD_ID_BYTES) == 0)
			return VELD_OK;
	struct veld__srv_device d;
	if ((rc = device_load(s, device, &d)) != VELD_OK)
		return rc == VELD_ENOTFOUND ? veld__err(VELD_ECORRUPT, "an operation's author is unknown")
		                            : rc;
	memcpy(r->authors[r->nauthors].device, device, VELD_ID_BYTES);
	memcpy(r->authors[r->nauthors].sign_pk, d.sign_pk, 32);
	r->nauthors++;
	return VELD_OK;
}

static int pull_locked(struct sqlite_store *s, const struct veld__srv_device *dev,
                       const struct veld__srv_pull_args *a, struct veld__srv_page *page)
{
	struct veld__pull_resp *r = &page->resp;
	struct veld__arena *mem = &page->mem;
	int office = strcmp(dev->role, "office") == 0, rc;
	size_t bytes = 0, cap = a->limit;
	char to[VELD_TEAM_MAX + 8];
	sqlite3_stmt *st;

	r->next = a->after;
	r->env_next = a->env_after;
	r->erase_next = a->erase_after;
	r->cursors = veld__arena_alloc(mem, cap * sizeof *r->cursors);
	r->ops = veld__arena_alloc(mem, cap * sizeof *r->ops);
	r->batches = veld__arena_alloc(mem, cap * sizeof *r->batches);
	r->authors = veld__arena_alloc(mem, cap * sizeof *r->authors);
	r->env_cursors = veld__arena_alloc(mem, VELD_WIRE_MAX_ENVS * sizeof *r->env_cursors);
	r->envs = veld__arena_alloc(mem, VELD_WIRE_MAX_ENVS * sizeof *r->envs);
	r->erased = veld__arena_alloc(mem, VELD_WIRE_MAX_ERASED * sizeof *r->erased);
	if (!r->cursors || !r->ops || !r->batches || !r->authors || !r->env_cursors || !r->envs ||
	    !r->erased)
		return veld__err(VELD_ENOMEM, "out of memory");

	/* Operations: one more than the page to learn whether more wait. */
	st = stmt(s, office ? S_FEED_ALL : S_FEED_TEAM);
	bind_u64(st, 1, a->after);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)a->limit + 1);
	if (!office) {
		/* A worker never receives a field its team's policy keeps at the
		 * office: ?4 is the policy's mask. */
		int found;
		if ((rc = policy_get(s, dev->team, &r->policy, &found)) != VELD_OK) {
			sqlite3_reset(st);
			return rc;
		}
		r->has_policy = found;
		sqlite3_bind_text(st, 3, dev->team, -1, SQLITE_STATIC);
		bind_u64(st, 4, r->policy.mask);
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		veld__op *op = &r->ops[r->nops];
		/* The budget is soft: the op that crosses it still goes, and at
		 * least one op always does, so a page always makes progress. */
		if (r->nops == cap || (r->nops > 0 && bytes >= a->max_bytes)) {
			r->more = 1;
			break;
		}
		if ((rc = read_op(s, st, mem, op)) != VELD_OK)
			break;
		bytes += OP_OVERHEAD + op->value_len + op->nsup * 28;
		/* page_batch runs other statements; st stays on its row. */
		if ((rc = page_batch(s, r, mem, op->device, op->seq, &bytes)) != VELD_OK)
			break;
		r->cursors[r->nops] = col_u64(st, 0);
		r->next = r->cursors[r->nops];
		r->nops++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW && rc != VELD_OK)
		return rc < 0 ? rc : veld__err_sqlite(rc, "reading operations");

	/* Envelopes addressed to the device's team (or the office). */
	snprintf(to, sizeof to, office ? "office" : "team:%s", dev->team);
	st = stmt(s, S_ENV_PAGE);
	sqlite3_bind_text(st, 1, to, -1, SQLITE_TRANSIENT);
	bind_u64(st, 2, a->env_after);
	sqlite3_bind_int(st, 3, VELD_WIRE_MAX_ENVS + 1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct veld__envelope *e = &r->envs[r->nenvs];
		if (r->nenvs == VELD_WIRE_MAX_ENVS) {
			r->more = 1;
			break;
		}
		memset(e, 0, sizeof *e);
		if (col_blob(st, 1, e->client, VELD_ID_BYTES) ||
		    col_blob(st, 5, e->sealed, VELD_SEALED_KEY_BYTES)) {
			sqlite3_reset(st);
			return veld__err(VELD_ECORRUPT, "an envelope row is damaged");
		}
		e->kv = col_u64(st, 2);
		col_text(st, 3, e->to, sizeof e->to);
		e->tv = col_u64(st, 4);
		r->env_cursors[r->nenvs] = col_u64(st, 0);
		r->env_next = r->env_cursors[r->nenvs];
		r->nenvs++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return veld__err_sqlite(rc, "reading envelopes");

	/* Erasures of the team's clients (the office: all). At most 1000 of
	 * ~110 bytes each: outside the byte budget, as envelopes are. */
	st = stmt(s, office ? S_ERASE_PAGE_ALL : S_ERASE_PAGE_TEAM);
	bind_u64(st, 1, a->erase_after);
	sqlite3_bind_int(st, 2, VELD_WIRE_MAX_ERASED + 1);
	if (!office)
		sqlite3_bind_text(st, 3, dev->team, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (r->nerased == VELD_WIRE_MAX_ERASED) {
			r->more = 1;
			break;
		}
		struct veld__erasure *x = &r->erased[r->nerased];
		if (col_blob(st, 1, x->client, VELD_ID_BYTES) || col_blob(st, 3, x->sig, 64)) {
			sqlite3_reset(st);
			return veld__err(VELD_ECORRUPT, "an erasure row is damaged");
		}
		x->cursor = col_u64(st, 0);
		x->at = col_u64(st, 2);
		r->erase_next = x->cursor;
		r->nerased++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return veld__err_sqlite(rc, "reading erasures");

	/* The team keys sealed to this device. */
	struct veld__team_key *tk = NULL;
	size_t ntk = 0, tkcap = 0;
	st = stmt(s, S_TKS_DEVICE);
	bind_id(st, 1, dev->device);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (grow((void **)&tk, &tkcap, ntk + 1, sizeof *tk)) {
			rc = veld__err(VELD_ENOMEM, "out of memory");
			break;
		}
		struct veld__team_key *k = &tk[ntk];
		memset(k, 0, sizeof *k);
		col_text(st, 0, k->team, sizeof k->team);
		k->tv = col_u64(st, 1);
		if (col_blob(st, 2, k->pk, 32) || col_blob(st, 3, k->sealed, VELD_SEALED_KEY_BYTES)) {
			rc = veld__err(VELD_ECORRUPT, "a team key row is damaged");
			break;
		}
		ntk++;
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE && ntk) {
		r->team_keys = veld__arena_dup(mem, tk, ntk * sizeof *tk);
		r->nteam_keys = ntk;
		rc = r->team_keys ? VELD_OK : veld__err(VELD_ENOMEM, "out of memory");
	} else if (rc == SQLITE_DONE) {
		rc = VELD_OK;
	} else if (rc > 0) {
		rc = veld__err_sqlite(rc, "reading team keys");
	}
	free(tk);
	return rc;
}

static int sq_pull(struct veld__sstore *base, const struct veld__srv_req *req,
                   const struct veld__srv_pull_args *args, struct veld__srv_page *page,
                   struct veld__srv_outcome *out)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	struct veld__srv_device dev;
	int rc;

	memset(out, 0, sizeof *out);
	memset(&page->resp, 0, sizeof page->resp);
	if (args->limit < 1 || args->limit > VELD_WIRE_MAX_PAGE) {
		refuse(out, VELD_SRV_MALFORMED, "limit: must be 1 to %d", VELD_WIRE_MAX_PAGE);
		return VELD_OK;
	}
	if ((rc = tx_begin(s)) != VELD_OK)
		return rc;
	rc = requester(s, req, &dev, out);
	if (rc == VELD_OK && !out->refusal)
		rc = pull_locked(s, &dev, args, page);
	return tx_end(s, req, rc, out);
}

/* ---- access log ---------------------------------------------------------------- */

/* The highest access-log seq held for `device` (0 if none); all lower ones
 * are held too, because a push must continue the sequence. */
static int audit_last(struct sqlite_store *s, const uint8_t device[VELD_ID_BYTES], uint64_t *last)
{
	sqlite3_stmt *st = stmt(s, S_AUDIT_LAST);
	int rc;
	bind_id(st, 1, device);
	rc = sqlite3_step(st);
	*last = rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL ? col_u64(st, 0) : 0;
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? VELD_OK : veld__err_sqlite(rc, "reading the access log");
}

/* The rules of POST /v1/audit (protocol.md 6), in the order they are
 * listed, then the new entries. */
static int audit_push_locked(struct sqlite_store *s, const struct veld__srv_req *req,
                             const struct veld__audit_push_req *m, int sig_ok,
                             struct veld__push_resp *resp, struct veld__srv_outcome *out)
{
	uint64_t last, stored = 0;
	sqlite3_stmt *st;
	int rc;

	/* The decoder's checks, again, before anything: a gap in what is
	 * stored would break "all of 1..max are held" for good. */
	for (size_t i = 0; i < m->n; i++) {
		const struct veld__audit_entry *e = &m->entries[i];
		if (e->seq != m->entries[0].seq + i || e->seq < 1 || !e->sealed ||
		    e->sealed_len == 0 || e->sealed_len > VELD_AUDIT_SEALED_MAX) {
			refuse(out, VELD_SRV_MALFORMED, "entries[%zu]: not consecutive or badly sized", i);
			return VELD_OK;
		}
	}
	if ((rc = audit_last(s, req->device, &last)) != VELD_OK)
		return rc;
	if (m->n && m->entries[0].seq > last + 1) {
		refuse(out, VELD_SRV_GAP,
		       "the push does not continue the device's access log: expected %llu",
		       (unsigned long long)(last + 1));
		out->expected = last + 1;
		return VELD_OK;
	}
	if (m->n && !sig_ok) {
		refuse(out, VELD_SRV_BAD_BATCH, "an access-log entry's signature does not verify");
		return VELD_OK;
	}
	for (size_t i = 0; i < m->n; i++) {
		const struct veld__audit_entry *e = &m->entries[i];
		if (e->seq <= last)
			continue; /* held already; not compared: sealing is randomized */
		st = stmt(s, S_AUDIT_PUT);
		bind_id(st, 1, req->device);
		bind_u64(st, 2, e->seq);
		sqlite3_bind_blob(st, 3, e->sealed, (int)e->sealed_len, SQLITE_STATIC);
		sqlite3_bind_blob(st, 4, e->sig, 64, SQLITE_STATIC);
		bind_u64(st, 5, req->now_ms);
		if ((rc = step_done(st, "storing an access-log entry")) != VELD_OK)
			return rc;
		stored++;
	}
	resp->acked = m->n && m->entries[m->n - 1].seq > last ? m->entries[m->n - 1].seq : last;
	resp->stored = stored;
	return VELD_OK;
}

static int sq_audit_push(struct veld__sstore *base, const struct veld__srv_req *req,
                         const struct veld__audit_push_req *m, int sig_ok,
                         struct veld__push_resp *resp, struct veld__srv_outcome *out)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	struct veld__srv_device dev;
	int rc;

	memset(out, 0, sizeof *out);
	memset(resp, 0, sizeof *resp);
	if ((rc = tx_begin(s)) != VELD_OK)
		return rc;
	rc = requester(s, req, &dev, out);
	if (rc == VELD_OK && !out->refusal)
		rc = audit_push_locked(s, req, m, sig_ok, resp, out);
	return tx_end(s, req, rc, out);
}

/* Rough bytes an entry adds to the encoded page besides its sealed bytes
 * (array header, cursor, device, seq, bin headers, signature), and an
 * author (device and key), to bound its size. */
#define AUDIT_OVERHEAD 112
#define AUTHOR_OVERHEAD 56

static int audit_pull_locked(struct sqlite_store *s, const struct veld__srv_pull_args *a,
                             struct veld__srv_audit_page *page)
{
	struct veld__audit_pull_resp *r = &page->resp;
	struct veld__arena *mem = &page->mem;
	size_t bytes = 0, cap = a->limit;
	sqlite3_stmt *st;
	int rc;

	r->next = a->after;
	r->entries = veld__arena_alloc(mem, cap * sizeof *r->entries);
	r->authors = veld__arena_alloc(mem, cap * sizeof *r->authors);
	if (!r->entries || !r->authors)
		return veld__err(VELD_ENOMEM, "out of memory");

	/* One more than the page to learn whether more wait. */
	st = stmt(s, S_AUDIT_PAGE);
	bind_u64(st, 1, a->after);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)a->limit + 1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct veld__audit_entry *e = &r->entries[r->n];
		size_t len = (size_t)sqlite3_column_bytes(st, 3), cost;
		int known = 0;
		if (r->n == cap) {
			r->more = 1;
			break;
		}
		memset(e, 0, sizeof *e);
		if (col_blob(st, 1, e->device, VELD_ID_BYTES) || col_blob(st, 4, e->sig, 64) ||
		    len == 0 || len > VELD_AUDIT_SEALED_MAX) {
			rc = veld__err(VELD_ECORRUPT, "an access-log row is damaged");
			break;
		}
		for (size_t i = 0; i < r->nauthors && !known; i++)
			known = memcmp(r->authors[i].device, e->device, VELD_ID_BYTES) == 0;
		cost = AUDIT_OVERHEAD + len + (known ? 0 : AUTHOR_OVERHEAD);
		/* The entry that would pass the budget waits for the next page;
		 * the first always goes, so a page always makes progress. */
		if (r->n > 0 && bytes + cost > a->max_bytes) {
			r->more = 1;
			break;
		}
		e->cursor = col_u64(st, 0);
		e->seq = col_u64(st, 2);
		if (!(e->sealed = veld__arena_dup(mem, sqlite3_column_blob(st, 3), len))) {
			rc = veld__err(VELD_ENOMEM, "out of memory");
			break;
		}
		e->sealed_len = len;
		if (!known) {
			/* Its device's signing key, once per page (a revoked
			 * device's too: its entries from before stay valid).
			 * device_load runs another statement; st stays on its row. */
			struct veld__srv_device d;
			if ((rc = device_load(s, e->device, &d)) != VELD_OK) {
				if (rc == VELD_ENOTFOUND)
					rc = veld__err(VELD_ECORRUPT, "an access-log entry's device is unknown");
				break;
			}
			memcpy(r->authors[r->nauthors].device, e->device, VELD_ID_BYTES);
			memcpy(r->authors[r->nauthors].sign_pk, d.sign_pk, 32);
			r->nauthors++;
		}
		bytes += cost;
		r->next = e->cursor;
		r->n++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return rc < 0 ? rc : veld__err_sqlite(rc, "reading the access log");
	return VELD_OK;
}

static int sq_audit_pull(struct veld__sstore *base, const struct veld__srv_req *req,
                         const struct veld__srv_pull_args *args, struct veld__srv_audit_page *page,
                         struct veld__srv_outcome *out)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	struct veld__srv_device dev;
	int rc;

	memset(out, 0, sizeof *out);
	memset(&page->resp, 0, sizeof page->resp);
	if (args->limit < 1 || args->limit > VELD_WIRE_MAX_PAGE) {
		refuse(out, VELD_SRV_MALFORMED, "limit: must be 1 to %d", VELD_WIRE_MAX_PAGE);
		return VELD_OK;
	}
	if ((rc = tx_begin(s)) != VELD_OK)
		return rc;
	rc = requester_office(s, req, &dev, out);
	if (rc == VELD_OK && !out->refusal)
		rc = audit_pull_locked(s, args, page);
	return tx_end(s, req, rc, out);
}

/* ---- open and close ---------------------------------------------------------- */

static void sq_close(struct veld__sstore *base)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	if (!s)
		return;
	if (s->merge_open)
		veld__merge_close(&s->merge);
	for (int i = 0; i < S__COUNT; i++)
		sqlite3_finalize(s->st[i]);
	if (s->db) {
		/* A clean close checkpoints the WAL into the database file. */
		sqlite3_close(s->db);
	}
	pthread_mutex_destroy(&s->mu);
	free(s);
}

static const struct veld__sstore_ops sqlite_ops = {
	.name = "sqlite",
	.close = sq_close,
	.office_needed = sq_office_needed,
	.office_invite = sq_office_invite,
	.device_get = sq_device_get,
	.nonce_seen = sq_nonce_seen,
	.enroll = sq_enroll,
	.invite = sq_invite,
	.team_keys = sq_team_keys,
	.revoke = sq_revoke,
	.erase = sq_erase,
	.policy = sq_policy,
	.push = sq_push,
	.pull = sq_pull,
	.devices = sq_devices,
	.audit_push = sq_audit_push,
	.audit_pull = sq_audit_pull,
};

/* Each step in its own transaction: a crash mid-way leaves the previous
 * version whole, and the next start goes on from there. */
static int migrate(sqlite3 *db)
{
	return veld__merge_migrate(db, migrations, SERVER_SCHEMA_VERSION, "the server database");
}

/* Every start moves the four feeds' next cursor to at least the wall clock
 * in milliseconds times 1024. A feed hands out one cursor per row, far
 * fewer than 1024 a millisecond, so a cursor issued during one run is below
 * the start of the next. That matters after a restore: an older backup's
 * counters would hand out again cursors that devices have already passed,
 * and those devices would skip what gets them. (It needs a clock that does
 * not go back.) */
static int cursors_past_now(sqlite3 *db)
{
	static const char bump[] =
		"UPDATE sqlite_sequence SET seq = ?1 WHERE seq < ?1 AND name IN"
		" ('feed', 'envelopes', 'audit_log', 'erasures');"
		"INSERT INTO sqlite_sequence(name, seq) SELECT t, ?1 FROM (SELECT 'feed' AS t"
		" UNION ALL SELECT 'envelopes' UNION ALL SELECT 'audit_log' UNION ALL SELECT 'erasures')"
		" WHERE t NOT IN (SELECT name FROM sqlite_sequence)";
	struct timespec ts;
	const char *tail = bump;
	int rc = SQLITE_OK;
	clock_gettime(CLOCK_REALTIME, &ts);
	sqlite3_int64 floor = ((sqlite3_int64)ts.tv_sec * 1000 + ts.tv_nsec / 1000000) * 1024;
	if ((rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL)) != SQLITE_OK)
		return veld__err_sqlite(rc, "setting the feeds' cursors");
	while (rc == SQLITE_OK && *tail) {
		sqlite3_stmt *st = NULL;
		rc = sqlite3_prepare_v2(db, tail, -1, &st, &tail);
		if (rc == SQLITE_OK && st) {
			sqlite3_bind_int64(st, 1, floor);
			rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
		}
		sqlite3_finalize(st);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return veld__err_sqlite(rc, "setting the feeds' cursors");
	}
	return VELD_OK;
}

int veld__sstore_sqlite_open(struct veld__sstore **out, const char *dir)
{
	struct sqlite_store *s;
	char path[4096];
	int rc, fd;

	*out = NULL;
	if (snprintf(path, sizeof path, "%s/server.db", dir) >= (int)sizeof path)
		return veld__err(VELD_EINVAL, "the data directory path is too long");
	/* Create the file first so it gets mode 0600 whatever the umask;
	 * SQLite gives the WAL and shm files the same mode. */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return veld__err(VELD_EIO, "cannot open the server database: %s", strerror(errno));
	close(fd);

	if (!(s = calloc(1, sizeof *s)))
		return veld__err(VELD_ENOMEM, "out of memory");
	s->base.ops = &sqlite_ops;
	pthread_mutex_init(&s->mu, NULL);
	rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		rc = veld__err_sqlite(rc, "opening the server database");
		goto fail;
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, 5000);
	if ((rc = sqlite3_exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
	                       " PRAGMA foreign_keys=ON;", NULL, NULL, NULL)) != SQLITE_OK) {
		rc = veld__err_sqlite(rc, "configuring the server database");
		goto fail;
	}
	if ((rc = migrate(s->db)) != VELD_OK || (rc = cursors_past_now(s->db)) != VELD_OK)
		goto fail;
	rc = sqlite3_create_function_v2(s->db, "veld_policy_bit", 2,
	                                SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, NULL,
	                                sql_policy_bit, NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		rc = veld__err_sqlite(rc, "registering the server's SQL functions");
		goto fail;
	}
	for (int i = 0; i < S__COUNT; i++) {
		rc = sqlite3_prepare_v3(s->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL);
		if (rc != SQLITE_OK) {
			rc = veld__err_sqlite(rc, "preparing the server statements");
			goto fail;
		}
	}
	if ((rc = veld__merge_open(&s->merge, s->db)) != VELD_OK)
		goto fail;
	s->merge_open = 1;
	*out = &s->base;
	return VELD_OK;
fail:
	sq_close(&s->base);
	return rc;
}
