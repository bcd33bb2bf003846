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
	S_CURSORS_BUMP, S_CURSORS_ADD,
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
	/* At every start (cursors_past_now): the four feeds' next cursor at
	 * least ?1, for the feeds that have handed out one and those that
	 * have not. */
	[S_CURSORS_BUMP] = "UPDATE sqlite_sequence SET seq = ?1 WHERE seq < ?1 AND name IN"
	                   " ('feed', 'envelopes', 'audit_log', 'erasures')",
	[S_CURSORS_ADD] = "INSERT INTO sqlite_sequence(name, seq) SELECT t, ?1 FROM (SELECT 'feed' AS t"
	                  " UNION ALL SELECT 'envelopes' UNION ALL SELECT 'audit_log'"
	                  " UNION ALL SELECT 'erasures')"
	                  " WHERE t NOT IN (SELECT name FROM sqlite_sequence)",
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
	int bind_rc; /* a bind that failed since the last step (query, step) */
	struct veld__merge merge;
	int merge_open;
};

/* ---- statements ---------------------------------------------------------------- */

static size_t blob_size(char type)
{
	switch (type) {
	case 'i': return VELD_ID_BYTES;
	case 'k': return 32;
	case 'g': return 64;
	case 'e': return VELD_SEALED_KEY_BYTES;
	default: return 0;
	}
}

/* Named statement i, reset, with ?1, ?2, ... bound from `types`, one
 * letter a parameter:
 *   i  16 bytes (const uint8_t *): an id or a nonce
 *   k  32 bytes (const uint8_t *): a public key, a code's auth, a hash
 *   g  64 bytes (const uint8_t *): a signature
 *   e  a sealed key, VELD_SEALED_KEY_BYTES (const uint8_t *)
 *   b  a blob of another size: const void *, then its size_t length
 *   u  a uint64_t (pass one: a narrower integer must be cast)
 *   t  text (const char *); NULL binds NULL, as a NULL blob does
 * Nothing is copied: what is bound must live until the statement is reset.
 * A bind that fails is not lost: the next step() returns its error. */
static sqlite3_stmt *vquery(struct sqlite_store *s, int i, const char *types, va_list ap)
{
	sqlite3_stmt *st = s->st[i];
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	for (int k = 1; *types; types++, k++) {
		int rc;
		if (*types == 'u') {
			rc = sqlite3_bind_int64(st, k, (sqlite3_int64)va_arg(ap, uint64_t));
		} else if (*types == 't') {
			const char *t = va_arg(ap, const char *);
			rc = t ? sqlite3_bind_text(st, k, t, -1, SQLITE_STATIC) : sqlite3_bind_null(st, k);
		} else {
			const void *p = va_arg(ap, const void *);
			size_t n = *types == 'b' ? va_arg(ap, size_t) : blob_size(*types);
			if (n == 0 && *types != 'b')
				rc = SQLITE_MISUSE; /* a letter this function does not know */
			else if (!p)
				rc = sqlite3_bind_null(st, k);
			else
				rc = sqlite3_bind_blob(st, k, p, (int)n, SQLITE_STATIC);
		}
		if (rc != SQLITE_OK && s->bind_rc == SQLITE_OK)
			s->bind_rc = rc;
	}
	return st;
}

static sqlite3_stmt *query(struct sqlite_store *s, int i, const char *types, ...)
{
	sqlite3_stmt *st;
	va_list ap;
	va_start(ap, types);
	st = vquery(s, i, types, ap);
	va_end(ap);
	return st;
}

/* sqlite3_step, unless a bind of the last query failed: then its error. */
static int step(struct sqlite_store *s, sqlite3_stmt *st)
{
	int rc = s->bind_rc;
	s->bind_rc = SQLITE_OK;
	return rc != SQLITE_OK ? rc : sqlite3_step(st);
}

/* Run a statement that returns no row; `what` names it in an error. */
static int exec(struct sqlite_store *s, const char *what, int i, const char *types, ...)
{
	sqlite3_stmt *st;
	va_list ap;
	int rc;
	va_start(ap, types);
	st = vquery(s, i, types, ap);
	va_end(ap);
	rc = step(s, st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? VELD_OK : veld__err_sqlite(rc, what);
}

/* Step to a statement's first row: 1 with `st` on it (the caller reads the
 * row, then resets), 0 when there is none, or an error; reset unless 1. */
static int first_row(struct sqlite_store *s, sqlite3_stmt *st, const char *what)
{
	int rc = step(s, st);
	if (rc == SQLITE_ROW)
		return 1;
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : veld__err_sqlite(rc, what);
}

/* Does a statement give a row? */
static int exists(struct sqlite_store *s, sqlite3_stmt *st, const char *what, int *found)
{
	int rc = first_row(s, st, what);
	if (rc == 1)
		sqlite3_reset(st);
	*found = rc == 1;
	return rc < 0 ? rc : VELD_OK;
}

static uint64_t col_u64(sqlite3_stmt *st, int i)
{
	return (uint64_t)sqlite3_column_int64(st, i);
}

/* A statement's one integer (max(...)): 0 for NULL. */
static int scalar(struct sqlite_store *s, sqlite3_stmt *st, const char *what, uint64_t *v)
{
	int rc = first_row(s, st, what);
	*v = rc == 1 ? col_u64(st, 0) : 0;
	if (rc == 1)
		sqlite3_reset(st);
	return rc < 0 ? rc : VELD_OK;
}

/* After a loop over rows: reset; VELD_OK when it ran out of rows or stopped
 * on one (a full page). An error of the loop's body stays as it is; a
 * failed step is reported as `what`. */
static int rows_end(sqlite3_stmt *st, int rc, const char *what)
{
	sqlite3_reset(st);
	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		return VELD_OK;
	return rc < 0 ? rc : veld__err_sqlite(rc, what);
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

/* Room for element n of an array that grows in an arena (doubling; the
 * old copies stay until the arena is freed): the element, zeroed, or NULL
 * when out of memory. */
static void *arena_grow(struct veld__arena *mem, void **arr, size_t n, size_t *cap, size_t size)
{
	if (n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;
		void *q = veld__arena_alloc(mem, ncap * size);
		if (!q)
			return NULL;
		if (n)
			memcpy(q, *arr, n * size);
		*arr = q;
		*cap = ncap;
	}
	return (unsigned char *)*arr + n * size;
}

/* ---- devices, nonces, team keys --------------------------------------------------- */

static int refuse(struct veld__srv_outcome *out, enum veld__srv_refusal r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Decide the request as refused; returns VELD_OK (the store did not fail). */
static int refuse(struct veld__srv_outcome *out, enum veld__srv_refusal r, const char *fmt, ...)
{
	va_list ap;
	out->refusal = r;
	va_start(ap, fmt);
	vsnprintf(out->message, sizeof out->message, fmt, ap);
	va_end(ap);
	return VELD_OK;
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

/* The device a statement's first row holds: VELD_ENOTFOUND if none. */
static int device_row(struct sqlite_store *s, sqlite3_stmt *st, const char *what,
                      struct veld__srv_device *d)
{
	int rc = first_row(s, st, what);
	if (rc != 1)
		return rc == 0 ? VELD_ENOTFOUND : rc;
	rc = read_device(st, d);
	sqlite3_reset(st);
	return rc;
}

static int device_load(struct sqlite_store *s, const uint8_t id[VELD_ID_BYTES],
                       struct veld__srv_device *d)
{
	return device_row(s, query(s, S_DEV_GET, "i", id), "reading a device", d);
}

static int office_load(struct sqlite_store *s, struct veld__srv_device *d, int *found)
{
	int rc = device_row(s, query(s, S_DEV_OFFICE, ""), "reading the office device", d);
	*found = rc == VELD_OK;
	return rc == VELD_ENOTFOUND ? VELD_OK : rc;
}

static int nonce_exists(struct sqlite_store *s, const uint8_t dev[VELD_ID_BYTES],
                        const uint8_t nonce[16], int *seen)
{
	return exists(s, query(s, S_NONCE_GET, "ii", dev, nonce), "reading nonces", seen);
}

/* Team key version currently published for `team` (0 if none). */
static int team_current(struct sqlite_store *s, const char *team, uint64_t *tv)
{
	return scalar(s, query(s, S_TK_CURRENT, "t", team), "reading team keys", tv);
}

/* The public key of a team's key version: VELD_ENOTFOUND if its row is
 * missing or damaged. */
static int team_key(struct sqlite_store *s, const char *team, uint64_t tv, uint8_t pk[32])
{
	sqlite3_stmt *st = query(s, S_TK_GET, "tu", team, tv);
	int rc = first_row(s, st, "reading team keys");
	if (rc != 1)
		return rc == 0 ? VELD_ENOTFOUND : rc;
	rc = col_blob(st, 0, pk, 32) ? VELD_ENOTFOUND : VELD_OK;
	sqlite3_reset(st);
	return rc;
}

/* ---- one request, one transaction ----------------------------------------------- */

static int tx_begin(struct sqlite_store *s)
{
	int rc;
	pthread_mutex_lock(&s->mu);
	if ((rc = exec(s, "starting a transaction", S_BEGIN, "")) != VELD_OK)
		pthread_mutex_unlock(&s->mu);
	return rc;
}

/* Roll back and release the store. Returns rc, or the rollback's own
 * failure when rc is VELD_OK: a refused request must not be answered as
 * if nothing was written when the rollback did not happen. */
static int tx_rollback(struct sqlite_store *s, int rc)
{
	if (!sqlite3_get_autocommit(s->db)) {
		sqlite3_stmt *st = query(s, S_ROLLBACK, "");
		int r = step(s, st);
		sqlite3_reset(st);
		if (r != SQLITE_DONE && rc == VELD_OK)
			rc = veld__err_sqlite(r, "rolling back");
	}
	veld__merge_forget(&s->merge);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/* Commit if rc is VELD_OK, else roll back; the store is released. */
static int tx_commit(struct sqlite_store *s, int rc)
{
	if (rc == VELD_OK)
		rc = exec(s, "committing", S_COMMIT, "");
	if (rc != VELD_OK)
		return tx_rollback(s, rc);
	pthread_mutex_unlock(&s->mu);
	return VELD_OK;
}

/* Who may make a request. */
enum who {
	NEW_DEVICE,  /* enroll: a device not enrolled yet (only its nonce is checked) */
	ANY_DEVICE,  /* an enrolled, active device */
	OFFICE_ONLY  /* the office's device */
};

/* Inside the transaction: the requester is (still) enrolled, active and
 * allowed, and its nonce is new. A refusal is left in `out`. */
static int requester(struct sqlite_store *s, const struct veld__srv_req *req, enum who who,
                     struct veld__srv_device *dev, struct veld__srv_outcome *out)
{
	int seen, rc = who == NEW_DEVICE ? VELD_OK : device_load(s, req->device, dev);
	if (rc == VELD_ENOTFOUND)
		return refuse(out, VELD_SRV_UNKNOWN_DEVICE, "unknown device");
	if (rc != VELD_OK)
		return rc;
	if (who != NEW_DEVICE && dev->revoked)
		return refuse(out, VELD_SRV_REVOKED, "this device was revoked; wipe its store");
	if ((rc = nonce_exists(s, req->device, req->nonce, &seen)) != VELD_OK)
		return rc;
	if (seen)
		return refuse(out, VELD_SRV_REPLAY, "nonce already used");
	if (who == OFFICE_ONLY && strcmp(dev->role, "office") != 0)
		return refuse(out, VELD_SRV_FORBIDDEN, "only the office may do this");
	return VELD_OK;
}

/* What an endpoint gets besides the request: its message, where its
 * answer goes, and (push, access-log push) whether the signatures
 * verified. */
struct call {
	const void *m;
	void *resp;
	int sig_ok;
};

/* An endpoint's own rules and writes, run once the requester passed; a
 * refusal goes to `out`. */
typedef int (*endpoint_fn)(struct sqlite_store *s, const struct veld__srv_req *req,
                           const struct veld__srv_device *dev, const struct call *call,
                           struct veld__srv_outcome *out);

/* One request = one transaction (server_store.h): the requester's checks,
 * the endpoint, then the nonce and the commit; a refusal or a failure
 * rolls back everything, the nonce too. */
static int run_request(struct veld__sstore *base, const struct veld__srv_req *req, enum who who,
                       endpoint_fn fn, const struct call *call, struct veld__srv_outcome *out)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	struct veld__srv_device dev;
	int rc;
	memset(out, 0, sizeof *out);
	memset(&dev, 0, sizeof dev);
	if ((rc = tx_begin(s)) != VELD_OK)
		return rc;
	rc = requester(s, req, who, &dev, out);
	if (rc == VELD_OK && out->refusal == VELD_SRV_OK)
		rc = fn(s, req, &dev, call, out);
	if (rc != VELD_OK || out->refusal != VELD_SRV_OK)
		return tx_rollback(s, rc);
	rc = exec(s, "recording the nonce", S_NONCE_PUT, "iiu", req->device, req->nonce, req->time_ms);
	if (rc == VELD_OK && req->now_ms > VELD_AUTH_WINDOW_MS)
		rc = exec(s, "pruning nonces", S_NONCE_PRUNE, "u", req->now_ms - VELD_AUTH_WINDOW_MS);
	return tx_commit(s, rc);
}

/* Calls that are no request run under the lock alone. */
static struct sqlite_store *lock(struct veld__sstore *base)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	pthread_mutex_lock(&s->mu);
	return s;
}

static int unlock(struct sqlite_store *s, int rc)
{
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/* ---- setup and the reads of authentication ---------------------------------------- */

static int office_needed_locked(struct sqlite_store *s, uint64_t now_ms, int *needed)
{
	struct veld__srv_device office;
	int found, live, rc;
	*needed = 0;
	if ((rc = office_load(s, &office, &found)) != VELD_OK || found)
		return rc;
	rc = exists(s, query(s, S_INV_OFFICE_LIVE, "u", now_ms), "reading invites", &live);
	*needed = rc == VELD_OK && !live;
	return rc;
}

static int sq_office_needed(struct veld__sstore *base, uint64_t now_ms, int *needed)
{
	struct sqlite_store *s = lock(base);
	return unlock(s, office_needed_locked(s, now_ms, needed));
}

static int sq_office_invite(struct veld__sstore *base, const uint8_t auth[32], uint64_t now_ms,
                            uint64_t expires_ms, int *created)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	int needed, rc;
	*created = 0;
	if ((rc = tx_begin(s)) != VELD_OK)
		return rc;
	if ((rc = office_needed_locked(s, now_ms, &needed)) != VELD_OK || !needed)
		return tx_rollback(s, rc);
	rc = exec(s, "storing the office invite", S_INV_PUT, "kttuub", auth, "*", "office", expires_ms,
	          (uint64_t)0, (const void *)NULL, (size_t)0);
	if ((rc = tx_commit(s, rc)) == VELD_OK)
		*created = 1;
	return rc;
}

static int sq_device_get(struct veld__sstore *base, const uint8_t device[VELD_ID_BYTES],
                         struct veld__srv_device *out)
{
	struct sqlite_store *s = lock(base);
	return unlock(s, device_load(s, device, out));
}

static int sq_nonce_seen(struct veld__sstore *base, const uint8_t device[VELD_ID_BYTES],
                         const uint8_t nonce[16], int *seen)
{
	struct sqlite_store *s = lock(base);
	return unlock(s, nonce_exists(s, device, nonce, seen));
}

/* ---- enroll ------------------------------------------------------------------------ */

/* An invite as stored. */
struct invite {
	char team[VELD_TEAM_MAX + 1], role[16];
	uint64_t expires, tv;
	uint8_t team_sealed[VELD_TEAM_SEALED_BYTES];
	int has_sealed, used;
};

/* The invite of a code's auth: 1, 0 if there is none, or an error. */
static int invite_load(struct sqlite_store *s, const uint8_t auth[32], struct invite *inv)
{
	sqlite3_stmt *st = query(s, S_INV_GET, "k", auth);
	int rc = first_row(s, st, "reading invites");
	if (rc != 1)
		return rc;
	memset(inv, 0, sizeof *inv);
	col_text(st, 0, inv->team, sizeof inv->team);
	col_text(st, 1, inv->role, sizeof inv->role);
	inv->expires = col_u64(st, 2);
	inv->tv = col_u64(st, 3);
	inv->has_sealed = sqlite3_column_type(st, 4) != SQLITE_NULL;
	rc = inv->has_sealed && col_blob(st, 4, inv->team_sealed, sizeof inv->team_sealed) != 0;
	inv->used = sqlite3_column_type(st, 5) != SQLITE_NULL;
	sqlite3_reset(st);
	return rc ? veld__err(VELD_ECORRUPT, "an invite row is damaged") : 1;
}

/* What an enrolled device learns: its role and team; a worker also its
 * team's key and, once there is one, the office's keys. */
static int enroll_answer(struct sqlite_store *s, const struct invite *inv,
                         struct veld__enroll_resp *resp, struct veld__srv_outcome *out)
{
	struct veld__srv_device office;
	int found, rc;
	if ((rc = office_load(s, &office, &found)) != VELD_OK)
		return rc;
	memset(resp, 0, sizeof *resp);
	snprintf(resp->role, sizeof resp->role, "%s", inv->role);
	snprintf(resp->team, sizeof resp->team, "%s", inv->team);
	if (strcmp(inv->role, "office") == 0)
		return found ? refuse(out, VELD_SRV_BAD_CODE, "the office is already enrolled") : VELD_OK;
	if (!inv->has_sealed)
		return veld__err(VELD_ECORRUPT, "a worker invite has no team key");
	if ((rc = team_key(s, inv->team, inv->tv, resp->team_pk)) != VELD_OK)
		return rc != VELD_ENOTFOUND ? rc : veld__err(VELD_ECORRUPT,
		       "the invite's team key version is not published");
	resp->tv = inv->tv;
	resp->has_team_key = 1;
	memcpy(resp->team_sealed, inv->team_sealed, sizeof resp->team_sealed);
	if (found) {
		resp->has_office = 1;
		memcpy(resp->office_device, office.device, VELD_ID_BYTES);
		memcpy(resp->office_sign_pk, office.sign_pk, 32);
		memcpy(resp->office_box_pk, office.box_pk, 32);
	}
	return VELD_OK;
}

static int enroll_locked(struct sqlite_store *s, const struct veld__srv_req *req,
                         const struct veld__srv_device *dev, const struct call *call,
                         struct veld__srv_outcome *out)
{
	const struct veld__enroll_req *m = call->m;
	struct veld__srv_device existing;
	struct invite inv;
	int rc = invite_load(s, m->auth, &inv);
	(void)dev;
	if (rc < 0)
		return rc;
	if (rc == 0 || inv.used || inv.expires <= req->now_ms)
		return refuse(out, VELD_SRV_BAD_CODE, "the enrollment code is unknown, used or expired");
	rc = device_load(s, m->device, &existing);
	if (rc == VELD_OK && existing.revoked)
		return refuse(out, VELD_SRV_REVOKED, "this device was revoked; wipe its store");
	if (rc == VELD_OK)
		return refuse(out, VELD_SRV_EQUIVOCATION, "this device id is already enrolled");
	if (rc != VELD_ENOTFOUND)
		return rc;
	if ((rc = enroll_answer(s, &inv, call->resp, out)) != VELD_OK || out->refusal)
		return rc;
	rc = exec(s, "registering the device", S_DEV_INSERT, "ikktttu", m->device, m->sign_pk,
	          m->box_pk, inv.team, inv.role, m->label, req->now_ms);
	if (rc == VELD_OK)
		rc = exec(s, "using the invite", S_INV_USE, "ku", m->auth, req->now_ms);
	if (rc == VELD_OK && sqlite3_changes(s->db) != 1)
		rc = veld__err(VELD_ERROR, "the invite was used concurrently");
	return rc;
}

static int sq_enroll(struct veld__sstore *base, const struct veld__srv_req *req,
                     const struct veld__enroll_req *m, struct veld__enroll_resp *resp,
                     struct veld__srv_outcome *out)
{
	const struct call call = {m, resp, 0};
	return run_request(base, req, NEW_DEVICE, enroll_locked, &call, out);
}

/* ---- office endpoints ------------------------------------------------------------ */

static int invite_locked(struct sqlite_store *s, const struct veld__srv_req *req,
                         const struct veld__srv_device *dev, const struct call *call,
                         struct veld__srv_outcome *out)
{
	const struct veld__invite_req *m = call->m;
	uint64_t current;
	int found, rc;
	(void)dev;
	if (!veld__team_valid(m->team))
		return refuse(out, VELD_SRV_MALFORMED, "team: not a valid team name");
	if (m->expires <= req->now_ms || m->expires > req->now_ms + WEEK_MS)
		return refuse(out, VELD_SRV_MALFORMED,
		              "expires: must be in the future, at most 7 days ahead");
	if ((rc = team_current(s, m->team, &current)) != VELD_OK)
		return rc;
	if (current == 0 || m->tv != current) {
		out->expected = current;
		return refuse(out, VELD_SRV_GAP, current == 0
		              ? "the team has no published key yet: publish one with /v1/team-keys"
		              : "tv is not the team's current key version");
	}
	if ((rc = exists(s, query(s, S_INV_GET, "k", m->auth), "reading invites", &found)) != VELD_OK)
		return rc;
	if (found)
		return refuse(out, VELD_SRV_EQUIVOCATION, "an invite with this code already exists");
	return exec(s, "storing the invite", S_INV_PUT, "kttuub", m->auth, m->team, "worker",
	            m->expires, m->tv, (const void *)m->team_sealed, sizeof m->team_sealed);
}

static int sq_invite(struct veld__sstore *base, const struct veld__srv_req *req,
                     const struct veld__invite_req *m, struct veld__srv_outcome *out)
{
	const struct call call = {m, NULL, 0};
	return run_request(base, req, OFFICE_ONLY, invite_locked, &call, out);
}

/* Every device a team key is sealed to is enrolled, active, and of the
 * team (or the office). */
static int key_holders_check(struct sqlite_store *s, const struct veld__team_keys_req *m,
                             struct veld__srv_outcome *out)
{
	struct veld__srv_device holder;
	for (size_t i = 0; i < m->nsealed; i++) {
		int rc = device_load(s, m->sealed[i].device, &holder);
		if (rc == VELD_ENOTFOUND)
			return refuse(out, VELD_SRV_FORBIDDEN, "sealed[%zu]: unknown device", i);
		if (rc != VELD_OK)
			return rc;
		if (holder.revoked)
			return refuse(out, VELD_SRV_FORBIDDEN, "sealed[%zu]: the device is revoked", i);
		if (strcmp(holder.team, m->team) != 0 && strcmp(holder.role, "office") != 0)
			return refuse(out, VELD_SRV_FORBIDDEN,
			              "sealed[%zu]: the device is not in this team", i);
	}
	return VELD_OK;
}

/* POST /v1/team-keys: publish the team's next key version, or seal the
 * current one to more devices. */
static int team_keys_locked(struct sqlite_store *s, const struct veld__srv_req *req,
                            const struct veld__srv_device *dev, const struct call *call,
                            struct veld__srv_outcome *out)
{
	const struct veld__team_keys_req *m = call->m;
	uint64_t current;
	uint8_t pk[32];
	int rc;
	(void)req;
	(void)dev;
	if (!veld__team_valid(m->team))
		return refuse(out, VELD_SRV_MALFORMED, "team: not a valid team name");
	if ((rc = team_current(s, m->team, &current)) != VELD_OK)
		return rc;
	if (m->tv == current && current >= 1) {
		if ((rc = team_key(s, m->team, current, pk)) != VELD_OK)
			return rc != VELD_ENOTFOUND ? rc
			       : veld__err(VELD_ECORRUPT, "a team key row is damaged");
		if (sodium_memcmp(pk, m->pk, 32) != 0)
			return refuse(out, VELD_SRV_EQUIVOCATION,
			              "team key version %llu already has another public key",
			              (unsigned long long)current);
	} else if (m->tv != current + 1) {
		out->expected = current + 1;
		return refuse(out, VELD_SRV_GAP,
		              "tv must be the current team key version or the next one");
	}
	if ((rc = key_holders_check(s, m, out)) != VELD_OK || out->refusal)
		return rc;
	if (m->tv == current + 1 &&
	    (rc = exec(s, "storing the team key", S_TK_PUT, "tuk", m->team, m->tv, m->pk)) != VELD_OK)
		return rc;
	for (size_t i = 0; i < m->nsealed && rc == VELD_OK; i++)
		rc = exec(s, "storing a sealed team key", S_TKS_PUT, "tuie", m->team, m->tv,
		          m->sealed[i].device, m->sealed[i].sealed);
	return rc;
}

static int sq_team_keys(struct veld__sstore *base, const struct veld__srv_req *req,
                        const struct veld__team_keys_req *m, struct veld__srv_outcome *out)
{
	const struct call call = {m, NULL, 0};
	return run_request(base, req, OFFICE_ONLY, team_keys_locked, &call, out);
}

static int revoke_locked(struct sqlite_store *s, const struct veld__srv_req *req,
                         const struct veld__srv_device *dev, const struct call *call,
                         struct veld__srv_outcome *out)
{
	const struct veld__revoke_req *m = call->m;
	struct veld__revoke_resp *resp = call->resp;
	struct veld__srv_device target;
	int rc = device_load(s, m->device, &target);
	(void)dev;
	if (rc == VELD_ENOTFOUND)
		return refuse(out, VELD_SRV_NOT_FOUND, "no such device");
	if (rc != VELD_OK)
		return rc;
	if (strcmp(target.role, "office") == 0)
		return refuse(out, VELD_SRV_FORBIDDEN, "the office device cannot be revoked");
	memset(resp, 0, sizeof *resp);
	snprintf(resp->team, sizeof resp->team, "%s", target.team);
	/* Revoked already: no change. */
	return exec(s, "revoking the device", S_DEV_REVOKE, "iu", m->device, req->now_ms);
}

static int sq_revoke(struct veld__sstore *base, const struct veld__srv_req *req,
                     const struct veld__revoke_req *m, struct veld__revoke_resp *resp,
                     struct veld__srv_outcome *out)
{
	const struct call call = {m, resp, 0};
	return run_request(base, req, OFFICE_ONLY, revoke_locked, &call, out);
}

/* POST /v1/erase (protocol.md 6): the client's operations, the merge
 * state of its records (ops, superseded, conflicts, entities), its feed
 * entries, its row in clients and its key envelopes go; the erasure is
 * recorded with the next cursor of the erasure feed and in the merge's
 * erased table (so the merge rule drops its operations too). The hashes of
 * its operations move to erased_ops: the batches they were signed in may
 * hold other clients' operations, which must stay verifiable. */
static int erase_locked(struct sqlite_store *s, const struct veld__srv_req *req,
                        const struct veld__srv_device *dev, const struct call *call,
                        struct veld__srv_outcome *out)
{
	static const int steps[] = {S_ERASE_KEEP_HASHES, S_ERASE_OPS, S_ERASE_SUPERSEDED,
	                            S_ERASE_CONFLICTS, S_ERASE_ENTITIES, S_ERASE_FEED,
	                            S_ERASE_CLIENT, S_ERASE_ENVELOPES};
	const struct veld__erase_req *m = call->m;
	char team[VELD_TEAM_MAX + 1] = "";
	sqlite3_stmt *st = query(s, S_CLIENT_GET, "i", m->client);
	int rc = first_row(s, st, "reading clients"), erased;
	(void)dev;
	if (rc == 0)
		return refuse(out, VELD_SRV_NOT_FOUND, "no operation of this client was ever received");
	if (rc < 0)
		return rc;
	col_text(st, 0, team, sizeof team);
	erased = sqlite3_column_int(st, 1) != 0;
	sqlite3_reset(st);
	if (erased)
		return VELD_OK; /* the first erasure stays */
	/* Records go: the merge's cached record check may name one. */
	veld__merge_forget(&s->merge);
	for (size_t i = 0; i < sizeof steps / sizeof steps[0] && rc >= 0; i++)
		rc = exec(s, "erasing a client", steps[i], steps[i] == S_ERASE_FEED ? "it" : "i",
		          m->client, team);
	if (rc == VELD_OK)
		rc = exec(s, "erasing a client", S_ERASE_MERGE, "iu", m->client, req->now_ms);
	/* The office's time and signature travel to the devices as they are. */
	if (rc == VELD_OK)
		rc = exec(s, "recording the erasure", S_ERASE_PUT, "itug", m->client, team, m->at,
		          m->sig);
	return rc;
}

static int sq_erase(struct veld__sstore *base, const struct veld__srv_req *req,
                    const struct veld__erase_req *m, struct veld__srv_outcome *out)
{
	const struct call call = {m, NULL, 0};
	return run_request(base, req, OFFICE_ONLY, erase_locked, &call, out);
}

/* A team's policy: *found 0 (and the default mask) if the office set none. */
static int policy_get(struct sqlite_store *s, const char *team, struct veld__field_policy *p,
                      int *found)
{
	sqlite3_stmt *st = query(s, S_POLICY_GET, "t", team);
	int rc = first_row(s, st, "reading a field policy");
	memset(p, 0, sizeof *p);
	snprintf(p->team, sizeof p->team, "%s", team);
	p->mask = veld__policy_default;
	*found = rc == 1;
	if (rc != 1)
		return rc;
	p->at = col_u64(st, 0);
	p->mask = (uint32_t)col_u64(st, 1);
	rc = col_blob(st, 2, p->sig, 64) || (p->mask & ~VELD_POLICY_ALL);
	sqlite3_reset(st);
	return rc ? veld__err(VELD_ECORRUPT, "a field policy row is damaged") : VELD_OK;
}

/* The rules of POST /v1/policy (protocol.md 6) after the signature, which
 * the HTTP side checked: a policy never goes back in time. */
static int policy_locked(struct sqlite_store *s, const struct veld__srv_req *req,
                         const struct veld__srv_device *dev, const struct call *call,
                         struct veld__srv_outcome *out)
{
	const struct veld__field_policy *m = call->m;
	struct veld__field_policy cur;
	int found, rc;
	(void)req;
	(void)dev;
	if (!veld__team_valid(m->team) || (m->mask & ~VELD_POLICY_ALL) || m->at < 1)
		return refuse(out, VELD_SRV_MALFORMED, "team, at or fields: not valid");
	if ((rc = policy_get(s, m->team, &cur, &found)) != VELD_OK)
		return rc;
	if (found && m->at == cur.at && m->mask == cur.mask)
		return VELD_OK; /* sent again: nothing changes */
	if (found && m->at <= cur.at)
		return refuse(out, VELD_SRV_REPLAY,
		              "the team has a policy signed at the same time or later");
	return exec(s, "storing a field policy", S_POLICY_PUT, "tuug", m->team, m->at,
	            (uint64_t)m->mask, m->sig);
}

static int sq_policy(struct veld__sstore *base, const struct veld__srv_req *req,
                     const struct veld__field_policy *m, struct veld__srv_outcome *out)
{
	const struct call call = {m, NULL, 0};
	return run_request(base, req, OFFICE_ONLY, policy_locked, &call, out);
}

static int devices_locked(struct sqlite_store *s, const struct veld__srv_req *req,
                          const struct veld__srv_device *dev, const struct call *call,
                          struct veld__srv_outcome *out)
{
	struct veld__srv_devices *list = call->resp;
	struct veld__devices_resp *r = &list->resp;
	sqlite3_stmt *st = query(s, S_DEV_LIST, "");
	struct veld__srv_device d;
	size_t cap = 0;
	int rc;
	(void)req;
	(void)dev;
	(void)out;
	while ((rc = step(s, st)) == SQLITE_ROW) {
		struct veld__device_info *o = arena_grow(&list->mem, (void **)&r->devices, r->ndevices,
		                                         &cap, sizeof *o);
		if (!o) {
			rc = veld__err(VELD_ENOMEM, "out of memory");
			break;
		}
		if ((rc = read_device(st, &d)) != VELD_OK)
			break;
		memcpy(o->device, d.device, VELD_ID_BYTES);
		memcpy(o->team, d.team, sizeof o->team);
		memcpy(o->role, d.role, sizeof o->role);
		memcpy(o->label, d.label, sizeof o->label);
		memcpy(o->sign_pk, d.sign_pk, 32);
		memcpy(o->box_pk, d.box_pk, 32);
		o->enrolled = d.enrolled;
		o->revoked = d.revoked;
		r->ndevices++;
	}
	return rows_end(st, rc, "listing devices");
}

static int sq_devices(struct veld__sstore *base, const struct veld__srv_req *req,
                      struct veld__srv_devices *list, struct veld__srv_outcome *out)
{
	const struct call call = {NULL, list, 0};
	memset(&list->resp, 0, sizeof list->resp);
	return run_request(base, req, OFFICE_ONLY, devices_locked, &call, out);
}

/* ---- push ----------------------------------------------------------------------- */

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
	struct seen_client *c = NULL;
	sqlite3_stmt *st;
	int rc = 1;
	for (size_t i = 0; i < w->nclients && !c; i++)
		if (memcmp(w->clients[i].client, client, VELD_ID_BYTES) == 0)
			c = &w->clients[i];
	if (!c) {
		st = query(s, S_CLIENT_GET, "i", client);
		if ((rc = first_row(s, st, "reading clients")) == 1) {
			c = &w->clients[w->nclients++];
			c->client = client;
			col_text(st, 0, c->team, sizeof c->team);
			c->erased = sqlite3_column_int(st, 1) != 0;
			sqlite3_reset(st);
		}
	}
	*team = c ? c->team : NULL;
	if (erased)
		*erased = c && c->erased;
	return rc < 0 ? rc : VELD_OK;
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
	st = query(s, S_ENTITY_GET, "i", op->entity);
	if ((rc = first_row(s, st, "reading records")) == 1) {
		const unsigned char *kind = sqlite3_column_text(st, 0);
		*ok = kind && strcmp((const char *)kind, op->kind) == 0 &&
		      sqlite3_column_bytes(st, 1) == VELD_ID_BYTES &&
		      memcmp(sqlite3_column_blob(st, 1), op->client, VELD_ID_BYTES) == 0;
		sqlite3_reset(st);
	}
	if (rc < 0)
		return rc;
	if (*ok) {
		struct seen_entity *e = &w->entities[w->nentities++];
		e->entity = op->entity;
		e->client = op->client;
		e->kind = op->kind;
	}
	return VELD_OK;
}

/* A held seq (stored, or its hash kept when its client was erased) must
 * come with the same operation. Not even an erased one is skipped
 * uncompared: the push's signature would be stored over a hash the pulls
 * do not serve, and its batch would never verify again. A device asks
 * first how far the server holds its operations (an empty push) and so
 * does not send held ones again. */
static int held_check(struct sqlite_store *s, const struct veld__srv_device *dev,
                      const struct veld__push_req *m, struct veld__srv_outcome *out)
{
	for (size_t i = 0; i < m->nops && m->ops[i].seq <= dev->last_seq; i++) {
		sqlite3_stmt *st = query(s, S_OP_HASH, "iu", dev->device, m->ops[i].seq);
		int same, rc = first_row(s, st, "reading the operation log");
		if (rc < 0)
			return rc;
		if (rc == 0)
			return veld__err(VELD_ECORRUPT, "a stored operation is missing");
		same = sqlite3_column_bytes(st, 0) == VELD_HASH_BYTES &&
		       memcmp(sqlite3_column_blob(st, 0), m->ops[i].hash, VELD_HASH_BYTES) == 0;
		sqlite3_reset(st);
		if (!same)
			return refuse(out, VELD_SRV_EQUIVOCATION,
			              "operation %llu differs from the one already stored",
			              (unsigned long long)m->ops[i].seq);
	}
	return VELD_OK;
}

/* The rules for the push's new operations: a valid team, the device's own
 * (but for the office), the client's team, the record's kind and client. */
static int new_ops_check(struct sqlite_store *s, const struct veld__srv_device *dev,
                         const struct veld__push_req *m, struct push_scratch *w,
                         struct veld__srv_outcome *out)
{
	int office = strcmp(dev->role, "office") == 0, ok, rc;
	for (size_t i = 0; i < m->nops; i++) {
		const veld__op *op = &m->ops[i];
		unsigned long long seq = (unsigned long long)op->seq;
		const char *team;
		if (op->seq <= dev->last_seq)
			continue;
		if (!veld__team_valid(op->team))
			return refuse(out, VELD_SRV_MALFORMED, "ops[%zu].team: not a valid team name", i);
		if (!office && strcmp(op->team, dev->team) != 0)
			return refuse(out, VELD_SRV_FORBIDDEN, "operation %llu: a client of another team",
			              seq);
		/* An erased client's team is in erasures: its operations still
		 * keep every rule, then push_write drops them. */
		if ((rc = client_team(s, w, op->client, &team, NULL)) != VELD_OK)
			return rc;
		if (team && strcmp(team, op->team) != 0)
			return refuse(out, VELD_SRV_FORBIDDEN,
			              "operation %llu: the client belongs to another team", seq);
		if (!team) {
			struct seen_client *c = &w->clients[w->nclients++];
			c->client = op->client;
			memcpy(c->team, op->team, sizeof c->team);
		}
		if ((rc = entity_check(s, w, op, &ok)) != VELD_OK)
			return rc;
		if (!ok)
			return refuse(out, VELD_SRV_FORBIDDEN,
			              "operation %llu changes the kind or client of an existing record",
			              seq);
	}
	return VELD_OK;
}

/* Envelopes go to the office or to a team; a worker's only to its own
 * team, and of its own team's clients. */
static int envelopes_check(struct sqlite_store *s, const struct veld__srv_device *dev,
                           const struct veld__push_req *m, struct push_scratch *w,
                           struct veld__srv_outcome *out)
{
	int office = strcmp(dev->role, "office") == 0, rc;
	for (size_t i = 0; i < m->nenvs; i++) {
		const struct veld__envelope *e = &m->envs[i];
		const char *to_team = NULL, *team;
		if (strcmp(e->to, "office") == 0) {
			if (e->tv != 0)
				return refuse(out, VELD_SRV_MALFORMED,
				              "envelopes[%zu].tv: must be 0 for the office", i);
		} else if (strncmp(e->to, "team:", 5) == 0 && veld__team_valid(e->to + 5)) {
			to_team = e->to + 5;
		} else {
			return refuse(out, VELD_SRV_MALFORMED,
			              "envelopes[%zu].to: not office or team:<team>", i);
		}
		if (!office && to_team && strcmp(to_team, dev->team) != 0)
			return refuse(out, VELD_SRV_FORBIDDEN, "envelopes[%zu]: addressed to another team",
			              i);
		/* Not every envelope's client need be known yet (its operations
		 * may come in a later batch); a known one fixes the team. */
		if ((rc = client_team(s, w, e->client, &team, NULL)) != VELD_OK)
			return rc;
		if (team && ((!office && strcmp(team, dev->team) != 0) ||
		             (to_team && strcmp(team, to_team) != 0)))
			return refuse(out, VELD_SRV_FORBIDDEN, "envelopes[%zu]: a client of another team",
			              i);
	}
	return VELD_OK;
}

/* All the checks of a push (protocol.md 6, /v1/push), in the order the
 * rules are listed, before anything is written. */
static int push_check(struct sqlite_store *s, const struct veld__srv_device *dev,
                      const struct veld__push_req *m, int sig_ok, struct push_scratch *w,
                      struct veld__srv_outcome *out)
{
	uint64_t last = dev->last_seq;
	int rc;
	if (m->nops && m->ops[0].seq > last + 1) {
		out->expected = last + 1;
		return refuse(out, VELD_SRV_GAP,
		              "the push does not continue the device's sequence: expected %llu",
		              (unsigned long long)(last + 1));
	}
	if ((rc = held_check(s, dev, m, out)) != VELD_OK || out->refusal)
		return rc;
	if (m->nops && !sig_ok)
		return refuse(out, VELD_SRV_BAD_BATCH, "the batch signature does not verify");
	if ((rc = new_ops_check(s, dev, m, w, out)) != VELD_OK || out->refusal)
		return rc;
	return envelopes_check(s, dev, m, w, out);
}

/* Store the push's new operations through the merge rule, each with the
 * next cursor of the feed; an erased client's are accepted but only their
 * hash is kept (the batch signature covers them). *stored counts those
 * stored. */
static int ops_write(struct sqlite_store *s, const struct veld__srv_device *dev,
                     const struct veld__push_req *m, struct push_scratch *w, uint64_t *stored,
                     struct veld__srv_outcome *out)
{
	const char *team;
	int rc, applied, erased;
	for (size_t i = 0; i < m->nops; i++) {
		const veld__op *op = &m->ops[i];
		if (op->seq <= dev->last_seq)
			continue;
		if ((rc = client_team(s, w, op->client, &team, &erased)) != VELD_OK)
			return rc;
		if (erased) {
			if ((rc = exec(s, "dropping an operation of an erased client", S_ERASED_OP_PUT,
			               "iuk", op->device, op->seq, op->hash)) != VELD_OK)
				return rc;
			continue;
		}
		rc = veld__merge_apply(&s->merge, op, &applied);
		if (rc == VELD_EINVAL || rc == VELD_ECORRUPT)
			return refuse(out, rc == VELD_EINVAL ? VELD_SRV_MALFORMED : VELD_SRV_FORBIDDEN,
			              "operation %llu: %s", (unsigned long long)op->seq, veld_error_last());
		if (rc != VELD_OK)
			return rc;
		if (!applied)
			return veld__err(VELD_ERROR, "operation %llu was not stored",
			                 (unsigned long long)op->seq);
		if ((rc = exec(s, "indexing an operation", S_FEED_PUT, "iuti", op->device, op->seq,
		               op->team, op->client)) != VELD_OK ||
		    (rc = exec(s, "recording a client", S_CLIENT_PUT, "it", op->client, op->team)) !=
		    VELD_OK)
			return rc;
		(*stored)++;
	}
	return VELD_OK;
}

static int push_write(struct sqlite_store *s, const struct veld__srv_device *dev,
                      const struct veld__push_req *m, struct push_scratch *w,
                      struct veld__push_resp *resp, struct veld__srv_outcome *out)
{
	uint64_t last = dev->last_seq, stored = 0;
	const char *team;
	int rc, erased;

	if ((rc = ops_write(s, dev, m, w, &stored, out)) != VELD_OK || out->refusal)
		return rc;
	if (m->nops && m->ops[m->nops - 1].seq > last) {
		/* New operations, stored or dropped: the sequence advances. The
		 * signature is kept for the operations a pull will serve. */
		last = m->ops[m->nops - 1].seq;
		if ((rc = exec(s, "advancing the device's sequence", S_DEV_SET_LAST, "iu", dev->device,
		               last)) != VELD_OK)
			return rc;
		if (stored && (rc = exec(s, "storing the batch signature", S_BATCH_PUT, "iuug",
		                         dev->device, m->ops[0].seq, last, m->sig)) != VELD_OK)
			return rc;
	}
	for (size_t i = 0; i < m->nenvs; i++) {
		const struct veld__envelope *e = &m->envs[i];
		if ((rc = client_team(s, w, e->client, &team, &erased)) != VELD_OK)
			return rc;
		if (erased)
			continue; /* an erased client's key: dropped */
		if (!team && strcmp(dev->role, "office") != 0)
			team = dev->team;
		if ((rc = exec(s, "storing an envelope", S_ENV_PUT, "iutuet", e->client, e->kv, e->to,
		               e->tv, e->sealed, team)) != VELD_OK)
			return rc;
	}
	resp->acked = last;
	resp->stored = stored;
	return VELD_OK;
}

static int push_locked(struct sqlite_store *s, const struct veld__srv_req *req,
                       const struct veld__srv_device *dev, const struct call *call,
                       struct veld__srv_outcome *out)
{
	const struct veld__push_req *m = call->m;
	struct push_scratch w = {0};
	size_t n = m->nops + m->nenvs;
	int rc;
	(void)req;
	w.clients = calloc(n ? n : 1, sizeof *w.clients);
	w.entities = calloc(m->nops ? m->nops : 1, sizeof *w.entities);
	if (!w.clients || !w.entities)
		rc = veld__err(VELD_ENOMEM, "out of memory");
	else if ((rc = push_check(s, dev, m, call->sig_ok, &w, out)) == VELD_OK && !out->refusal)
		rc = push_write(s, dev, m, &w, call->resp, out);
	free(w.clients);
	free(w.entities);
	return rc;
}

static int sq_push(struct veld__sstore *base, const struct veld__srv_req *req,
                   const struct veld__push_req *m, int sig_ok, struct veld__push_resp *resp,
                   struct veld__srv_outcome *out)
{
	const struct call call = {m, resp, sig_ok};
	memset(resp, 0, sizeof *resp);
	return run_request(base, req, ANY_DEVICE, push_locked, &call, out);
}

/* ---- pull ------------------------------------------------------------------------- */

/* Rough bytes an item adds to the encoded page, to bound its size. */
#define OP_OVERHEAD 160
#define BATCH_OVERHEAD 110
#define HASH_BYTES_ON_WIRE 32

static int read_op(sqlite3_stmt *st, struct veld__arena *mem, veld__op *op)
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
	return VELD_OK;
}

/* Add `device`'s signing key to a page's authors unless it is there (a
 * revoked device's too: what it signed before stays valid); `missing`
 * names the damage if the device is unknown. */
static int page_author(struct sqlite_store *s, struct veld__author *authors, size_t *n,
                       const uint8_t device[VELD_ID_BYTES], const char *missing)
{
	struct veld__srv_device d;
	int rc;
	for (size_t i = 0; i < *n; i++)
		if (memcmp(authors[i].device, device, VELD_ID_BYTES) == 0)
			return VELD_OK;
	if ((rc = device_load(s, device, &d)) != VELD_OK)
		return rc == VELD_ENOTFOUND ? veld__err(VELD_ECORRUPT, "%s", missing) : rc;
	memcpy(authors[*n].device, device, VELD_ID_BYTES);
	memcpy(authors[*n].sign_pk, d.sign_pk, 32);
	(*n)++;
	return VELD_OK;
}

/* The hashes of batch b's operations, from ops and from erased_ops for the
 * batch's erased operations. */
static int batch_hashes(struct sqlite_store *s, struct veld__batch *b, struct veld__arena *mem)
{
	size_t n = (size_t)(b->last - b->first + 1), got = 0;
	uint8_t *hashes = veld__arena_alloc(mem, n * VELD_HASH_BYTES);
	sqlite3_stmt *st;
	int rc, extra;
	if (!hashes)
		return veld__err(VELD_ENOMEM, "out of memory");
	st = query(s, S_BATCH_HASHES, "iuu", b->device, b->first, b->last);
	while ((rc = step(s, st)) == SQLITE_ROW && got < n) {
		if (col_u64(st, 0) != b->first + got ||
		    col_blob(st, 1, hashes + got * VELD_HASH_BYTES, VELD_HASH_BYTES))
			break;
		got++;
	}
	/* A row left over or out of place is damage, as a missing one is. */
	extra = rc == SQLITE_ROW;
	if ((rc = rows_end(st, rc, "reading operation hashes")) != VELD_OK)
		return rc;
	if (got != n || extra)
		return veld__err(VELD_ECORRUPT, "a batch's operations are incomplete");
	b->hashes = hashes;
	return VELD_OK;
}

/* Add the batch that holds (device, seq) unless the page has it already,
 * with its author's key. */
static int page_batch(struct sqlite_store *s, struct veld__pull_resp *r, struct veld__arena *mem,
                      const uint8_t *device, uint64_t seq, size_t *bytes)
{
	struct veld__batch *b;
	sqlite3_stmt *st;
	int rc;

	for (size_t i = r->nbatches; i-- > 0;) {
		b = &r->batches[i];
		if (b->first <= seq && seq <= b->last && memcmp(b->device, device, VELD_ID_BYTES) == 0)
			return VELD_OK;
	}
	st = query(s, S_BATCH_FIND, "iu", device, seq);
	if ((rc = first_row(s, st, "reading batches")) != 1)
		return rc == 0 ? veld__err(VELD_ECORRUPT, "a stored operation has no batch") : rc;
	b = &r->batches[r->nbatches];
	memset(b, 0, sizeof *b);
	memcpy(b->device, device, VELD_ID_BYTES);
	b->first = col_u64(st, 0);
	b->last = col_u64(st, 1);
	rc = col_blob(st, 2, b->sig, 64);
	sqlite3_reset(st);
	if (rc || b->last < b->first || b->last - b->first >= 1000000)
		return veld__err(VELD_ECORRUPT, "a batch row is damaged");
	if ((rc = batch_hashes(s, b, mem)) != VELD_OK)
		return rc;
	r->nbatches++;
	*bytes += BATCH_OVERHEAD + (size_t)(b->last - b->first + 1) * HASH_BYTES_ON_WIRE;
	return page_author(s, r->authors, &r->nauthors, device, "an operation's author is unknown");
}

/* Operations above a->after the device may see, each with its batch and
 * its author, until the page is full or past its byte budget. */
static int page_ops(struct sqlite_store *s, const struct veld__srv_device *dev, int office,
                    const struct veld__srv_pull_args *a, struct veld__srv_page *page)
{
	struct veld__pull_resp *r = &page->resp;
	uint64_t limit = (uint64_t)a->limit + 1; /* one more, to learn whether more wait */
	size_t bytes = 0;
	sqlite3_stmt *st;
	int found, rc;

	if (office) {
		st = query(s, S_FEED_ALL, "uu", a->after, limit);
	} else {
		/* A worker never receives a field its team's policy keeps at the
		 * office: ?4 is the policy's mask. */
		if ((rc = policy_get(s, dev->team, &r->policy, &found)) != VELD_OK)
			return rc;
		r->has_policy = found;
		st = query(s, S_FEED_TEAM, "uutu", a->after, limit, dev->team,
		           (uint64_t)r->policy.mask);
	}
	while ((rc = step(s, st)) == SQLITE_ROW) {
		veld__op *op = &r->ops[r->nops];
		/* The budget is soft: the op that crosses it still goes, and at
		 * least one op always does, so a page always makes progress. */
		if (r->nops == a->limit || (r->nops > 0 && bytes >= a->max_bytes)) {
			r->more = 1;
			break;
		}
		if ((rc = read_op(st, &page->mem, op)) != VELD_OK)
			break;
		bytes += OP_OVERHEAD + op->value_len + op->nsup * 28;
		/* page_batch runs other statements; st stays on its row. */
		if ((rc = page_batch(s, r, &page->mem, op->device, op->seq, &bytes)) != VELD_OK)
			break;
		r->cursors[r->nops] = col_u64(st, 0);
		r->next = r->cursors[r->nops];
		r->nops++;
	}
	return rows_end(st, rc, "reading operations");
}

/* Envelopes addressed to the device's team (or the office). At most
 * VELD_WIRE_MAX_ENVS of ~200 bytes: outside the byte budget. */
static int page_envelopes(struct sqlite_store *s, const struct veld__srv_device *dev, int office,
                          const struct veld__srv_pull_args *a, struct veld__pull_resp *r)
{
	char to[VELD_TEAM_MAX + 8];
	sqlite3_stmt *st;
	int rc;
	snprintf(to, sizeof to, office ? "office" : "team:%s", dev->team);
	st = query(s, S_ENV_PAGE, "tuu", to, a->env_after, (uint64_t)VELD_WIRE_MAX_ENVS + 1);
	while ((rc = step(s, st)) == SQLITE_ROW) {
		struct veld__envelope *e = &r->envs[r->nenvs];
		if (r->nenvs == VELD_WIRE_MAX_ENVS) {
			r->more = 1;
			break;
		}
		if (col_blob(st, 1, e->client, VELD_ID_BYTES) ||
		    col_blob(st, 5, e->sealed, VELD_SEALED_KEY_BYTES)) {
			rc = veld__err(VELD_ECORRUPT, "an envelope row is damaged");
			break;
		}
		e->kv = col_u64(st, 2);
		col_text(st, 3, e->to, sizeof e->to);
		e->tv = col_u64(st, 4);
		r->env_next = r->env_cursors[r->nenvs] = col_u64(st, 0);
		r->nenvs++;
	}
	return rows_end(st, rc, "reading envelopes");
}

/* Erasures of the team's clients (the office: all). At most
 * VELD_WIRE_MAX_ERASED of ~110 bytes each: outside the byte budget, as
 * envelopes are. */
static int page_erasures(struct sqlite_store *s, const struct veld__srv_device *dev, int office,
                         const struct veld__srv_pull_args *a, struct veld__pull_resp *r)
{
	uint64_t limit = (uint64_t)VELD_WIRE_MAX_ERASED + 1;
	sqlite3_stmt *st = office ? query(s, S_ERASE_PAGE_ALL, "uu", a->erase_after, limit)
	                          : query(s, S_ERASE_PAGE_TEAM, "uut", a->erase_after, limit, dev->team);
	int rc;
	while ((rc = step(s, st)) == SQLITE_ROW) {
		struct veld__erasure *x = &r->erased[r->nerased];
		if (r->nerased == VELD_WIRE_MAX_ERASED) {
			r->more = 1;
			break;
		}
		if (col_blob(st, 1, x->client, VELD_ID_BYTES) || col_blob(st, 3, x->sig, 64)) {
			rc = veld__err(VELD_ECORRUPT, "an erasure row is damaged");
			break;
		}
		x->cursor = col_u64(st, 0);
		x->at = col_u64(st, 2);
		r->erase_next = x->cursor;
		r->nerased++;
	}
	return rows_end(st, rc, "reading erasures");
}

/* The team keys sealed to this device. */
static int page_team_keys(struct sqlite_store *s, const struct veld__srv_device *dev,
                          struct veld__srv_page *page)
{
	struct veld__pull_resp *r = &page->resp;
	sqlite3_stmt *st = query(s, S_TKS_DEVICE, "i", dev->device);
	size_t cap = 0;
	int rc;
	while ((rc = step(s, st)) == SQLITE_ROW) {
		struct veld__team_key *k = arena_grow(&page->mem, (void **)&r->team_keys, r->nteam_keys,
		                                      &cap, sizeof *k);
		if (!k) {
			rc = veld__err(VELD_ENOMEM, "out of memory");
			break;
		}
		col_text(st, 0, k->team, sizeof k->team);
		k->tv = col_u64(st, 1);
		if (col_blob(st, 2, k->pk, 32) || col_blob(st, 3, k->sealed, VELD_SEALED_KEY_BYTES)) {
			rc = veld__err(VELD_ECORRUPT, "a team key row is damaged");
			break;
		}
		r->nteam_keys++;
	}
	return rows_end(st, rc, "reading team keys");
}

static int pull_locked(struct sqlite_store *s, const struct veld__srv_req *req,
                       const struct veld__srv_device *dev, const struct call *call,
                       struct veld__srv_outcome *out)
{
	const struct veld__srv_pull_args *a = call->m;
	struct veld__srv_page *page = call->resp;
	struct veld__pull_resp *r = &page->resp;
	struct veld__arena *mem = &page->mem;
	int office = strcmp(dev->role, "office") == 0, rc;
	(void)req;
	(void)out;
	r->next = a->after;
	r->env_next = a->env_after;
	r->erase_next = a->erase_after;
	r->cursors = veld__arena_alloc(mem, a->limit * sizeof *r->cursors);
	r->ops = veld__arena_alloc(mem, a->limit * sizeof *r->ops);
	r->batches = veld__arena_alloc(mem, a->limit * sizeof *r->batches);
	r->authors = veld__arena_alloc(mem, a->limit * sizeof *r->authors);
	r->env_cursors = veld__arena_alloc(mem, VELD_WIRE_MAX_ENVS * sizeof *r->env_cursors);
	r->envs = veld__arena_alloc(mem, VELD_WIRE_MAX_ENVS * sizeof *r->envs);
	r->erased = veld__arena_alloc(mem, VELD_WIRE_MAX_ERASED * sizeof *r->erased);
	if (!r->cursors || !r->ops || !r->batches || !r->authors || !r->env_cursors || !r->envs ||
	    !r->erased)
		return veld__err(VELD_ENOMEM, "out of memory");
	if ((rc = page_ops(s, dev, office, a, page)) != VELD_OK ||
	    (rc = page_envelopes(s, dev, office, a, r)) != VELD_OK ||
	    (rc = page_erasures(s, dev, office, a, r)) != VELD_OK)
		return rc;
	return page_team_keys(s, dev, page);
}

/* A page's request: the page size is checked before anything else. */
static int run_page(struct veld__sstore *base, const struct veld__srv_req *req, enum who who,
                    endpoint_fn fn, const struct call *call, struct veld__srv_outcome *out)
{
	const struct veld__srv_pull_args *args = call->m;
	if (args->limit >= 1 && args->limit <= VELD_WIRE_MAX_PAGE)
		return run_request(base, req, who, fn, call, out);
	memset(out, 0, sizeof *out);
	return refuse(out, VELD_SRV_MALFORMED, "limit: must be 1 to %d", VELD_WIRE_MAX_PAGE);
}

static int sq_pull(struct veld__sstore *base, const struct veld__srv_req *req,
                   const struct veld__srv_pull_args *args, struct veld__srv_page *page,
                   struct veld__srv_outcome *out)
{
	const struct call call = {args, page, 0};
	memset(&page->resp, 0, sizeof page->resp);
	return run_page(base, req, ANY_DEVICE, pull_locked, &call, out);
}

/* ---- access log ---------------------------------------------------------------- */

/* The rules of POST /v1/audit (protocol.md 6), in the order they are
 * listed, then the new entries. */
static int audit_push_locked(struct sqlite_store *s, const struct veld__srv_req *req,
                             const struct veld__srv_device *dev, const struct call *call,
                             struct veld__srv_outcome *out)
{
	const struct veld__audit_push_req *m = call->m;
	struct veld__push_resp *resp = call->resp;
	uint64_t last, stored = 0;
	int rc;
	(void)dev;
	/* The decoder's checks, again, before anything: a gap in what is
	 * stored would break "all of 1..max are held" for good. */
	for (size_t i = 0; i < m->n; i++) {
		const struct veld__audit_entry *e = &m->entries[i];
		if (e->seq != m->entries[0].seq + i || e->seq < 1 || !e->sealed ||
		    e->sealed_len == 0 || e->sealed_len > VELD_AUDIT_SEALED_MAX)
			return refuse(out, VELD_SRV_MALFORMED,
			              "entries[%zu]: not consecutive or badly sized", i);
	}
	/* The highest seq held (all lower ones are held too: a push must
	 * continue the sequence). */
	if ((rc = scalar(s, query(s, S_AUDIT_LAST, "i", req->device), "reading the access log",
	                 &last)) != VELD_OK)
		return rc;
	if (m->n && m->entries[0].seq > last + 1) {
		out->expected = last + 1;
		return refuse(out, VELD_SRV_GAP,
		              "the push does not continue the device's access log: expected %llu",
		              (unsigned long long)(last + 1));
	}
	if (m->n && !call->sig_ok)
		return refuse(out, VELD_SRV_BAD_BATCH, "an access-log entry's signature does not verify");
	for (size_t i = 0; i < m->n && rc == VELD_OK; i++) {
		const struct veld__audit_entry *e = &m->entries[i];
		if (e->seq <= last)
			continue; /* held already; not compared: sealing is randomized */
		rc = exec(s, "storing an access-log entry", S_AUDIT_PUT, "iubgu", req->device, e->seq,
		          (const void *)e->sealed, e->sealed_len, e->sig, req->now_ms);
		stored += rc == VELD_OK;
	}
	resp->acked = m->n && m->entries[m->n - 1].seq > last ? m->entries[m->n - 1].seq : last;
	resp->stored = stored;
	return rc;
}

static int sq_audit_push(struct veld__sstore *base, const struct veld__srv_req *req,
                         const struct veld__audit_push_req *m, int sig_ok,
                         struct veld__push_resp *resp, struct veld__srv_outcome *out)
{
	const struct call call = {m, resp, sig_ok};
	memset(resp, 0, sizeof *resp);
	return run_request(base, req, ANY_DEVICE, audit_push_locked, &call, out);
}

/* Rough bytes an entry adds to the encoded page besides its sealed bytes
 * (array header, cursor, device, seq, bin headers, signature), and an
 * author (device and key), to bound its size. */
#define AUDIT_OVERHEAD 112
#define AUTHOR_OVERHEAD 56

static int audit_pull_locked(struct sqlite_store *s, const struct veld__srv_req *req,
                             const struct veld__srv_device *dev, const struct call *call,
                             struct veld__srv_outcome *out)
{
	const struct veld__srv_pull_args *a = call->m;
	struct veld__srv_audit_page *page = call->resp;
	struct veld__audit_pull_resp *r = &page->resp;
	size_t bytes = 0;
	sqlite3_stmt *st;
	int rc;
	(void)req;
	(void)dev;
	(void)out;
	r->next = a->after;
	r->entries = veld__arena_alloc(&page->mem, a->limit * sizeof *r->entries);
	r->authors = veld__arena_alloc(&page->mem, a->limit * sizeof *r->authors);
	if (!r->entries || !r->authors)
		return veld__err(VELD_ENOMEM, "out of memory");
	/* One more than the page to learn whether more wait. */
	st = query(s, S_AUDIT_PAGE, "uu", a->after, (uint64_t)a->limit + 1);
	while ((rc = step(s, st)) == SQLITE_ROW) {
		struct veld__audit_entry *e = &r->entries[r->n];
		size_t len = (size_t)sqlite3_column_bytes(st, 3), cost;
		int known = 0;
		if (r->n == a->limit) {
			r->more = 1;
			break;
		}
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
		if (!(e->sealed = veld__arena_dup(&page->mem, sqlite3_column_blob(st, 3), len))) {
			rc = veld__err(VELD_ENOMEM, "out of memory");
			break;
		}
		e->sealed_len = len;
		/* page_author runs another statement; st stays on its row. */
		if ((rc = page_author(s, r->authors, &r->nauthors, e->device,
		                      "an access-log entry's device is unknown")) != VELD_OK)
			break;
		bytes += cost;
		r->next = e->cursor;
		r->n++;
	}
	return rows_end(st, rc, "reading the access log");
}

static int sq_audit_pull(struct veld__sstore *base, const struct veld__srv_req *req,
                         const struct veld__srv_pull_args *args, struct veld__srv_audit_page *page,
                         struct veld__srv_outcome *out)
{
	const struct call call = {args, page, 0};
	memset(&page->resp, 0, sizeof page->resp);
	return run_page(base, req, OFFICE_ONLY, audit_pull_locked, &call, out);
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

/* Every start moves the four feeds' next cursor to at least the wall clock
 * in milliseconds times 1024. A feed hands out one cursor per row, far
 * fewer than 1024 a millisecond, so a cursor issued during one run is below
 * the start of the next. That matters after a restore: an older backup's
 * counters would hand out again cursors that devices have already passed,
 * and those devices would skip what gets them. (It needs a clock that does
 * not go back.) */
static int cursors_past_now(struct sqlite_store *s)
{
	struct timespec ts;
	uint64_t start;
	int rc;
	clock_gettime(CLOCK_REALTIME, &ts);
	start = ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000) * 1024;
	if ((rc = tx_begin(s)) != VELD_OK)
		return rc;
	rc = exec(s, "setting the feeds' cursors", S_CURSORS_BUMP, "u", start);
	if (rc == VELD_OK)
		rc = exec(s, "setting the feeds' cursors", S_CURSORS_ADD, "u", start);
	return tx_commit(s, rc);
}

/* The connection's setup: WAL, the schema (each migration in its own
 * transaction, so a crash mid-way leaves the previous version whole), the
 * SQL function of the team feed, and the named statements. */
static int db_setup(struct sqlite_store *s)
{
	int rc;
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, 5000);
	if ((rc = sqlite3_exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
	                       " PRAGMA foreign_keys=ON;", NULL, NULL, NULL)) != SQLITE_OK)
		return veld__err_sqlite(rc, "configuring the server database");
	if ((rc = veld__merge_migrate(s->db, migrations, SERVER_SCHEMA_VERSION,
	                              "the server database")) != VELD_OK)
		return rc;
	rc = sqlite3_create_function_v2(s->db, "veld_policy_bit", 2,
	                                SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, NULL,
	                                sql_policy_bit, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return veld__err_sqlite(rc, "registering the server's SQL functions");
	for (int i = 0; i < S__COUNT; i++) {
		rc = sqlite3_prepare_v3(s->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL);
		if (rc != SQLITE_OK)
			return veld__err_sqlite(rc, "preparing the server statements");
	}
	return cursors_past_now(s);
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
	if (rc != SQLITE_OK)
		rc = veld__err_sqlite(rc, "opening the server database");
	else if ((rc = db_setup(s)) == VELD_OK && (rc = veld__merge_open(&s->merge, s->db)) == VELD_OK)
		s->merge_open = 1;
	if (rc != VELD_OK) {
		sq_close(&s->base);
		return rc;
	}
	*out = &s->base;
	return VELD_OK;
}
