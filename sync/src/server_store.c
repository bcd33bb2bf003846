/* server_store.c - the server's central store on SQLite (server_store.h).
 *
 * One writer connection, guarded by a mutex: every request that writes
 * runs as one BEGIN IMMEDIATE transaction while it holds the mutex, so
 * writes are serialised, cursors are handed out (and become visible) in
 * commit order, and a failed or refused request rolls back whole. Reads
 * (pulls, the access-log pull, the device list, authentication) run on
 * reader connections of their own, each in one deferred transaction: a
 * snapshot of the last commit, taken without waiting for a write in
 * progress. Request nonces live in a database of their own (nonces.db,
 * server_nonces.c), so recording a pull's nonce does not wait for
 * server.db's write lock either. WAL with synchronous=NORMAL keeps commits
 * cheap; a crash loses at most the last commits, never consistency, and a
 * device simply pushes again.
 *
 * The operation log and its merge state are the device schema
 * (veld__merge_schema) and every operation goes through veld__merge_apply,
 * the code devices run. The server's own tables:
 *
 *   devices(device, sign_pk, box_pk, team, role, label, enrolled, revoked,
 *           last_seq, auth, proof)
 *                              - enrolled devices; all of 1..last_seq held;
 *                                a worker's invite auth and enroll proof
 *   invites(auth, team, role, expires, tv, team_sealed, used)
 *                              - single-use enrollment invites, by auth
 *                                (the server never sees a code)
 *   nonces(device, nonce, time) - no longer used: request nonces moved to
 *                                nonces.db; rows left by an older veld are
 *                                carried over at start
 *   feed(cursor, device, seq, team, client)
 *                              - every operation in arrival order, also
 *                                those erased since or dropped on arrival
 *                                (a pull shows those as stubs)
 *   batches(device, first, last, sig, ver)
 *                              - batch signatures and the format of their
 *                                operations; the hashes are ops.hash and
 *                                erased_ops.hash
 *   envelopes(cursor, client, kv, to, tv, sealed, team, from, sig)
 *                              - client data keys sealed for a team/office,
 *                                signed by the device that sealed them
 *   team_keys(team, tv, pk, sig), team_key_sealed(team, tv, device, sealed)
 *                              - team keys as the office signed them
 *   clients(client, team)      - the team a client was first seen with
 *   audit_log(cursor, device, seq, sealed, sig, arrived)
 *                              - devices' access-log entries in arrival
 *                                order, sealed to the office (schema v2)
 *   erasures(cursor, client, team, at, sig)
 *                              - erased clients (schema v3), with the erase
 *                                notice's time and signature; the merge's
 *                                own erased(client, at) holds them too, so
 *                                the merge rule drops their operations
 *   field_policy(team, at, mask, sig)
 *                              - each team's field policy as its last
 *                                policy notice set it (schema v4); pulls of
 *                                the team's workers hold back the values of
 *                                the fields it keeps at the office (the
 *                                default without a row)
 *   erased_ops(device, seq, hash, team, client, kh)
 *                              - operations held but erased since (or
 *                                dropped on arrival): their hash, which a
 *                                batch signature covers, and what a stub
 *                                shows of them (schema v3, v5)
 *   notices(cursor, team, n, kind, at, body, sig)
 *                              - the office's notices in arrival order,
 *                                numbered per team (schema v5)
 *   checkpoints(team, at, n, heads, sig)
 *                              - each team's latest checkpoint (schema v5)
 *
 * Every seq 1..devices.last_seq of a device has its hash in ops or in
 * erased_ops, and (since schema 5) a feed row.
 *
 * PRAGMA user_version holds the schema version; each migration runs in its
 * own transaction and only ever moves forward (as core/src/schema.c).
 */
#include "server_store.h"
#include "auth.h"
#include "error.h"
#include "merge.h"
#include "policy.h"
#include "server_nonces.h"

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

#define SERVER_SCHEMA_VERSION 5
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

/* Version 5: trust no server (notes/trust.md). Operations and batches
 * carry their format version (rows from before are version 1; core's merge
 * writes `ver`, so the merge needs this step); a worker keeps the invite it
 * enrolled with and its enroll proof; envelopes keep their sealer and its
 * signature, team keys the office's (rows from before have none: devices
 * find them unsigned); the office's notices, a feed of their own; each
 * team's latest checkpoint; and erased operations keep their team, client
 * and kh, so pulls show a stub in their place. Rows of erased_ops from
 * before are version 1 operations, whose kh is their hash; their team and
 * client were not kept, nor their feed rows, so no pull shows them (a
 * device allows holes inside version 1 batches). */
static const char schema_v5[] =
	"ALTER TABLE ops ADD COLUMN ver INTEGER NOT NULL DEFAULT 1;"
	"ALTER TABLE batches ADD COLUMN ver INTEGER NOT NULL DEFAULT 1;"
	"ALTER TABLE devices ADD COLUMN auth BLOB;"
	"ALTER TABLE devices ADD COLUMN proof BLOB;"
	"ALTER TABLE envelopes ADD COLUMN \"from\" BLOB;"
	"ALTER TABLE envelopes ADD COLUMN sig BLOB;"
	"ALTER TABLE team_keys ADD COLUMN sig BLOB;"
	"ALTER TABLE erased_ops ADD COLUMN team TEXT;"
	"ALTER TABLE erased_ops ADD COLUMN client BLOB;"
	"ALTER TABLE erased_ops ADD COLUMN kh BLOB;"
	"UPDATE erased_ops SET kh = hash;"
	"CREATE INDEX IF NOT EXISTS feed_device ON feed(device, cursor);"
	"CREATE TABLE IF NOT EXISTS notices(cursor INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  team TEXT NOT NULL, n INTEGER NOT NULL, kind TEXT NOT NULL, at INTEGER NOT NULL,"
	"  body BLOB NOT NULL, sig BLOB NOT NULL, UNIQUE(team, n));"
	"CREATE INDEX IF NOT EXISTS notices_team ON notices(team, cursor);"
	"CREATE TABLE IF NOT EXISTS checkpoints(team TEXT PRIMARY KEY, at INTEGER NOT NULL,"
	"  n INTEGER NOT NULL, heads BLOB NOT NULL, sig BLOB NOT NULL) WITHOUT ROWID;";

static const char *const migrations[SERVER_SCHEMA_VERSION] = {schema_v1, schema_v2, schema_v3,
                                                              schema_v4, schema_v5};

enum {
	S_BEGIN, S_BEGIN_READ, S_COMMIT, S_ROLLBACK,
	S_DEV_GET, S_DEV_INSERT, S_DEV_SET_LAST, S_DEV_REVOKE, S_DEV_OFFICE, S_DEV_LIST,
	S_NONCE_OLD, S_NONCE_OLD_CLEAR,
	S_INV_GET, S_INV_PUT, S_INV_USE, S_INV_OFFICE_LIVE,
	S_OP_HASH, S_FEED_PUT, S_FEED_ALL, S_FEED_TEAM, S_FEED_OFFICE,
	S_BATCH_PUT, S_BATCH_FIND, S_BATCH_HASHES,
	S_CLIENT_GET, S_CLIENT_PUT, S_ENTITY_GET,
	S_ENV_PUT, S_ENV_PAGE,
	S_TK_CURRENT, S_TK_GET, S_TK_PUT, S_TKS_PUT, S_TKS_DEVICE,
	S_AUDIT_LAST, S_AUDIT_PUT, S_AUDIT_PAGE,
	S_ERASED_OP_PUT, S_ERASE_PUT, S_ERASE_KEEP_HASHES, S_ERASE_OPS, S_ERASE_SUPERSEDED,
	S_ERASE_CONFLICTS, S_ERASE_ENTITIES, S_ERASE_CLIENT, S_ERASE_ENVELOPES, S_ERASE_MERGE,
	S_POLICY_GET, S_POLICY_PUT,
	S_NOTICE_LAST, S_NOTICE_GET, S_NOTICE_PUT, S_NOTICE_PAGE_ALL, S_NOTICE_PAGE_TEAM,
	S_CKPT_GET, S_CKPT_PUT,
	S_CURSORS_BUMP, S_CURSORS_ADD,
	S__COUNT
};

#define DEV_COLS "device, sign_pk, box_pk, team, role, label, enrolled, revoked, last_seq," \
                 " auth, proof"
#define OP_COLS "o.device, o.seq, o.hlc, o.kind, o.entity, o.client, o.team, o.kv, o.field," \
                " o.value, o.sup, o.hash, o.ver"
/* A feed row as a page reads it: the cursor, the operation if it is held
 * (OP_COLS, NULL if erased), and the feed's device and seq with what
 * erased_ops kept if it is erased (NULL if held). */
#define FEED_COLS "f.cursor, " OP_COLS ", f.device, f.seq, x.team, x.client, x.kh, x.hash"
#define FEED_JOIN " LEFT JOIN ops o ON o.device = f.device AND o.seq = f.seq" \
                  " LEFT JOIN erased_ops x ON x.device = f.device AND x.seq = f.seq"
#define NOTICE_COLS "cursor, team, n, kind, at, body, sig"

static const char *const sql[S__COUNT] = {
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_BEGIN_READ] = "BEGIN",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_DEV_GET] = "SELECT " DEV_COLS " FROM devices WHERE device = ?1",
	[S_DEV_INSERT] = "INSERT INTO devices(" DEV_COLS ") VALUES(?1,?2,?3,?4,?5,?6,?7,NULL,0,?8,?9)",
	[S_DEV_SET_LAST] = "UPDATE devices SET last_seq = ?2 WHERE device = ?1",
	[S_DEV_REVOKE] = "UPDATE devices SET revoked = ?2 WHERE device = ?1 AND revoked IS NULL",
	[S_DEV_OFFICE] = "SELECT " DEV_COLS " FROM devices WHERE role = 'office'"
	                 " ORDER BY enrolled LIMIT 1",
	[S_DEV_LIST] = "SELECT " DEV_COLS " FROM devices ORDER BY enrolled, device",
	[S_NONCE_OLD] = "SELECT device, nonce, time FROM nonces WHERE time >= ?1",
	[S_NONCE_OLD_CLEAR] = "DELETE FROM nonces",
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
	[S_FEED_ALL] = "SELECT " FEED_COLS " FROM feed f" FEED_JOIN
	               " WHERE f.cursor > ?1 ORDER BY f.cursor LIMIT ?2",
	/* A worker's feed is two runs merged by cursor (page_feed): its team's
	 * rows, and the office's rows (?3 the office), whose other teams'
	 * operations share batches with the team's; a row in both is taken
	 * once. Each run takes its own index and stops at the page size, so a
	 * page costs the page, not the feed (an OR would gather every matching
	 * row to sort it; a UNION of cursors joined back to the feed costs half
	 * again as much; filtering the office's run by team would read all of
	 * its rows of the worker's team). */
	[S_FEED_TEAM] = "SELECT " FEED_COLS " FROM feed f" FEED_JOIN
	                " WHERE f.team = ?3 AND f.cursor > ?1 ORDER BY f.cursor LIMIT ?2",
	[S_FEED_OFFICE] = "SELECT " FEED_COLS " FROM feed f" FEED_JOIN
	                  " WHERE f.device = ?3 AND f.cursor > ?1 ORDER BY f.cursor LIMIT ?2",
	[S_BATCH_PUT] = "INSERT OR IGNORE INTO batches(device, first, last, sig, ver)"
	                " VALUES(?1,?2,?3,?4,?5)",
	[S_BATCH_FIND] = "SELECT first, last, sig, ver FROM batches WHERE device = ?1 AND last >= ?2"
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
	[S_ENV_PUT] = "INSERT OR IGNORE INTO envelopes(client, kv, \"to\", tv, sealed, team, \"from\","
	              " sig) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[S_ENV_PAGE] = "SELECT cursor, client, kv, \"to\", tv, sealed, \"from\", sig FROM envelopes"
	               " WHERE \"to\" = ?1 AND cursor > ?2 ORDER BY cursor LIMIT ?3",
	[S_TK_CURRENT] = "SELECT max(tv) FROM team_keys WHERE team = ?1",
	[S_TK_GET] = "SELECT pk FROM team_keys WHERE team = ?1 AND tv = ?2",
	[S_TK_PUT] = "INSERT INTO team_keys(team, tv, pk, sig) VALUES(?1, ?2, ?3, ?4)",
	[S_TKS_PUT] = "INSERT OR REPLACE INTO team_key_sealed(team, tv, device, sealed)"
	              " VALUES(?1, ?2, ?3, ?4)",
	[S_TKS_DEVICE] = "SELECT s.team, s.tv, k.pk, s.sealed, k.sig FROM team_key_sealed s"
	                 " JOIN team_keys k ON k.team = s.team AND k.tv = s.tv"
	                 " WHERE s.device = ?1 ORDER BY s.tv DESC, s.team LIMIT 1000",
	[S_AUDIT_LAST] = "SELECT max(seq) FROM audit_log WHERE device = ?1",
	[S_AUDIT_PUT] = "INSERT INTO audit_log(device, seq, sealed, sig, arrived)"
	                " VALUES(?1, ?2, ?3, ?4, ?5)",
	[S_AUDIT_PAGE] = "SELECT cursor, device, seq, sealed, sig FROM audit_log WHERE cursor > ?1"
	                 " ORDER BY cursor LIMIT ?2",
	[S_ERASED_OP_PUT] = "INSERT OR IGNORE INTO erased_ops(device, seq, hash, team, client, kh)"
	                    " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
	[S_ERASE_PUT] = "INSERT INTO erasures(client, team, at, sig) VALUES(?1, ?2, ?3, ?4)",
	/* A record's operations all carry its client (the merge keeps a
	 * record's client), so "the client's operations" are those of the
	 * records entities lists for it (indexed both ways). What a stub
	 * shows of each stays: its team, client and kh (veld_op_kh). */
	[S_ERASE_KEEP_HASHES] = "INSERT OR IGNORE INTO erased_ops(device, seq, hash, team, client, kh)"
	                        " SELECT device, seq, hash, team, client, veld_op_kh(ver, hash,"
	                        " device, seq, hlc, kind, entity, kv, field, value, sup) FROM ops"
	                        " WHERE entity IN (SELECT entity FROM entities WHERE client = ?1)",
	[S_ERASE_OPS] = "DELETE FROM ops WHERE entity IN (SELECT entity FROM entities WHERE client = ?1)",
	[S_ERASE_SUPERSEDED] = "DELETE FROM superseded WHERE entity IN"
	                       " (SELECT entity FROM entities WHERE client = ?1)",
	[S_ERASE_CONFLICTS] = "DELETE FROM conflicts WHERE entity IN"
	                      " (SELECT entity FROM entities WHERE client = ?1)",
	[S_ERASE_ENTITIES] = "DELETE FROM entities WHERE client = ?1",
	[S_ERASE_CLIENT] = "DELETE FROM clients WHERE client = ?1",
	[S_ERASE_ENVELOPES] = "DELETE FROM envelopes WHERE client = ?1",
	[S_ERASE_MERGE] = "INSERT OR IGNORE INTO erased(client, at) VALUES(?1, ?2)",
	[S_POLICY_GET] = "SELECT at, mask FROM field_policy WHERE team = ?1",
	[S_POLICY_PUT] = "INSERT INTO field_policy(team, at, mask, sig) VALUES(?1, ?2, ?3, ?4)"
	                 " ON CONFLICT(team) DO UPDATE SET at = excluded.at, mask = excluded.mask,"
	                 " sig = excluded.sig",
	[S_NOTICE_LAST] = "SELECT max(n) FROM notices WHERE team = ?1",
	[S_NOTICE_GET] = "SELECT kind, at, body, sig FROM notices WHERE team = ?1 AND n = ?2",
	[S_NOTICE_PUT] = "INSERT INTO notices(team, n, kind, at, body, sig)"
	                 " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
	[S_NOTICE_PAGE_ALL] = "SELECT " NOTICE_COLS " FROM notices WHERE cursor > ?1"
	                      " ORDER BY cursor LIMIT ?2",
	[S_NOTICE_PAGE_TEAM] = "SELECT " NOTICE_COLS " FROM notices WHERE team = ?3 AND cursor > ?1"
	                       " ORDER BY cursor LIMIT ?2",
	[S_CKPT_GET] = "SELECT at, n, heads, sig FROM checkpoints WHERE team = ?1",
	/* Each team keeps its latest: an older one changes nothing. */
	[S_CKPT_PUT] = "INSERT INTO checkpoints(team, at, n, heads, sig) VALUES(?1, ?2, ?3, ?4, ?5)"
	               " ON CONFLICT(team) DO UPDATE SET at = excluded.at, n = excluded.n,"
	               " heads = excluded.heads, sig = excluded.sig WHERE excluded.at > checkpoints.at",
	/* At every start (cursors_past_now): the feeds' next cursor at least
	 * ?1, for the feeds that have handed out one and those that have not.
	 * (The erasures table is no feed any more; its cursors stay unique.) */
	[S_CURSORS_BUMP] = "UPDATE sqlite_sequence SET seq = ?1 WHERE seq < ?1 AND name IN"
	                   " ('feed', 'envelopes', 'audit_log', 'erasures', 'notices')",
	[S_CURSORS_ADD] = "INSERT INTO sqlite_sequence(name, seq) SELECT t, ?1 FROM (SELECT 'feed' AS t"
	                  " UNION ALL SELECT 'envelopes' UNION ALL SELECT 'audit_log'"
	                  " UNION ALL SELECT 'erasures' UNION ALL SELECT 'notices')"
	                  " WHERE t NOT IN (SELECT name FROM sqlite_sequence)",
};

/* veld_op_kh(ver, hash, device, seq, hlc, kind, entity, kv, field, value,
 * sup): the kh layer of a stored operation's hash (core/src/op.h), which
 * its stub shows once it is erased. A version 2 operation's comes from its
 * parts, so an erasure keeps it in one statement; a version 1 operation has
 * no layers and its kh is its whole hash. A row that does not make an
 * operation is an error (the erasure then fails whole). */
static void sql_op_kh(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	veld__ref sup[VELD_OP_MAX_SUPERSEDES];
	uint8_t rh[VELD_HASH_BYTES], kh[VELD_HASH_BYTES];
	const unsigned char *kind = sqlite3_value_text(argv[5]), *field = sqlite3_value_text(argv[8]);
	veld__op op;
	(void)argc;
	if (sqlite3_value_int64(argv[0]) < 2) {
		if (sqlite3_value_bytes(argv[1]) != VELD_HASH_BYTES)
			sqlite3_result_error(ctx, "an operation's hash is damaged", -1);
		else
			sqlite3_result_value(ctx, argv[1]);
		return;
	}
	memset(&op, 0, sizeof op);
	if (sqlite3_value_bytes(argv[2]) != VELD_ID_BYTES ||
	    sqlite3_value_bytes(argv[6]) != VELD_ID_BYTES || !kind || !field ||
	    strlen((const char *)kind) > VELD_KIND_MAX || strlen((const char *)field) > VELD_FIELD_MAX ||
	    veld__sup_decode(sup, VELD_OP_MAX_SUPERSEDES, sqlite3_value_blob(argv[10]),
	                     (size_t)sqlite3_value_bytes(argv[10]), &op.nsup) != VELD_OK) {
		sqlite3_result_error(ctx, "an operation row is damaged", -1);
		return;
	}
	op.version = 2;
	memcpy(op.device, sqlite3_value_blob(argv[2]), VELD_ID_BYTES);
	op.seq = (uint64_t)sqlite3_value_int64(argv[3]);
	op.hlc = (uint64_t)sqlite3_value_int64(argv[4]);
	snprintf(op.kind, sizeof op.kind, "%s", (const char *)kind);
	memcpy(op.entity, sqlite3_value_blob(argv[6]), VELD_ID_BYTES);
	op.kv = (uint64_t)sqlite3_value_int64(argv[7]);
	snprintf(op.field, sizeof op.field, "%s", (const char *)field);
	if (sqlite3_value_type(argv[9]) != SQLITE_NULL) {
		op.value_len = (size_t)sqlite3_value_bytes(argv[9]);
		op.value = sqlite3_value_blob(argv[9]);
		if (!op.value) /* an empty blob */
			op.value = (const uint8_t *)"";
	}
	op.sup = sup;
	veld__op_layers(&op, rh, kh);
	sqlite3_result_blob(ctx, kh, sizeof kh, SQLITE_TRANSIENT);
}

/* A connection and its statements: the writer (the handle itself, with
 * the merge state) or one of its readers. `mu` is held while a request
 * uses it. */
struct sqlite_store {
	struct veld__sstore base;
	pthread_mutex_t mu;
	sqlite3 *db;
	sqlite3_stmt *st[S__COUNT];
	int bind_rc; /* a bind that failed since the last step (query, step) */
	struct veld__merge merge;
	int merge_open;
	struct veld__nonces *nonces; /* the writer's, shared by its readers */
	struct sqlite_store *readers; /* the writer only: nreaders of them */
	size_t nreaders;
	unsigned next_reader;
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
	d->has_auth = sqlite3_column_type(st, 9) != SQLITE_NULL;
	if (d->has_auth && (col_blob(st, 9, d->auth, 32) || col_blob(st, 10, d->proof, 32)))
		return veld__err(VELD_ECORRUPT, "a device row is damaged");
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
	return veld__nonces_seen(s->nonces, dev, nonce, seen);
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
	else
		veld__merge_tx_begin(&s->merge);
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

/* Record a request's nonce once it succeeded: *fresh 0 if it was held
 * already. */
static int nonce_note(struct sqlite_store *s, const struct veld__srv_req *req, int *fresh)
{
	return veld__nonces_record(s->nonces, req->device, req->nonce, req->time_ms, req->now_ms,
	                           fresh);
}

/* One request = one transaction (server_store.h): the requester's checks,
 * the endpoint, its nonce, the commit; a refusal or a failure rolls back
 * everything. The nonce goes to nonces.db just before the commit, still
 * under the writer's mutex, so a replay that waits for this request finds
 * it; a nonce that cannot be recorded fails the request (500, nothing
 * written). A commit that fails after it has used the nonce up: the device
 * signs its retry anew. */
static int run_request(struct veld__sstore *base, const struct veld__srv_req *req, enum who who,
                       endpoint_fn fn, const struct call *call, struct veld__srv_outcome *out)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	struct veld__srv_device dev;
	int fresh, rc;
	memset(out, 0, sizeof *out);
	memset(&dev, 0, sizeof dev);
	if ((rc = tx_begin(s)) != VELD_OK)
		return rc;
	rc = requester(s, req, who, &dev, out);
	if (rc == VELD_OK && out->refusal == VELD_SRV_OK)
		rc = fn(s, req, &dev, call, out);
	if (rc == VELD_OK && out->refusal == VELD_SRV_OK &&
	    (rc = nonce_note(s, req, &fresh)) == VELD_OK && !fresh)
		rc = refuse(out, VELD_SRV_REPLAY, "nonce already used");
	if (rc != VELD_OK || out->refusal != VELD_SRV_OK)
		return tx_rollback(s, rc);
	return tx_commit(s, VELD_OK);
}

/* A reader connection for one read: a free one if there is, else the
 * next in turn, waited for (reads wait only for reads). */
static struct sqlite_store *reader_take(struct sqlite_store *w)
{
	unsigned start = __atomic_fetch_add(&w->next_reader, 1, __ATOMIC_RELAXED);
	for (size_t i = 0; i < w->nreaders; i++) {
		struct sqlite_store *r = &w->readers[(start + i) % w->nreaders];
		if (pthread_mutex_trylock(&r->mu) == 0)
			return r;
	}
	struct sqlite_store *r = &w->readers[start % w->nreaders];
	pthread_mutex_lock(&r->mu);
	return r;
}

static int reader_give(struct sqlite_store *r, int rc)
{
	pthread_mutex_unlock(&r->mu);
	return rc;
}

/* End a reader's transaction, whatever happened in it. Should the
 * ROLLBACK fail (a statement left running), every statement is reset and
 * it is tried again: a reader must not keep an old snapshot, which would
 * also hold back the WAL's checkpoints. */
static void read_end(struct sqlite_store *r)
{
	sqlite3_stmt *st = query(r, S_ROLLBACK, "");
	(void)step(r, st);
	sqlite3_reset(st);
	if (!sqlite3_get_autocommit(r->db)) {
		for (sqlite3_stmt *p = sqlite3_next_stmt(r->db, NULL); p; p = sqlite3_next_stmt(r->db, p))
			sqlite3_reset(p);
		(void)sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
	}
}

/* A request that only reads: the requester's checks and the endpoint in
 * one snapshot on a reader, then its nonce. A replay that raced its
 * original is refused when the nonce turns out to be held. */
static int run_read(struct veld__sstore *base, const struct veld__srv_req *req, enum who who,
                    endpoint_fn fn, const struct call *call, struct veld__srv_outcome *out)
{
	struct sqlite_store *r = reader_take((struct sqlite_store *)base);
	struct veld__srv_device dev;
	int fresh, rc;
	memset(out, 0, sizeof *out);
	memset(&dev, 0, sizeof dev);
	if ((rc = exec(r, "starting a read", S_BEGIN_READ, "")) != VELD_OK)
		return reader_give(r, rc);
	rc = requester(r, req, who, &dev, out);
	if (rc == VELD_OK && out->refusal == VELD_SRV_OK)
		rc = fn(r, req, &dev, call, out);
	read_end(r);
	if (rc == VELD_OK && out->refusal == VELD_SRV_OK &&
	    (rc = nonce_note(r, req, &fresh)) == VELD_OK && !fresh)
		rc = refuse(out, VELD_SRV_REPLAY, "nonce already used");
	return reader_give(r, rc);
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
	struct sqlite_store *r = reader_take((struct sqlite_store *)base);
	return reader_give(r, office_needed_locked(r, now_ms, needed));
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
	struct sqlite_store *r = reader_take((struct sqlite_store *)base);
	return reader_give(r, device_load(r, device, out));
}

static int sq_nonce_seen(struct veld__sstore *base, const uint8_t device[VELD_ID_BYTES],
                         const uint8_t nonce[16], int *seen)
{
	return nonce_exists((struct sqlite_store *)base, device, nonce, seen);
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
	int office, rc = invite_load(s, m->auth, &inv);
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
	/* A worker's invite and proof are what the office certifies it by
	 * (GET /v1/devices); nobody certifies the office, which devices pin
	 * through their invite code. */
	office = strcmp(inv.role, "office") == 0;
	rc = exec(s, "registering the device", S_DEV_INSERT, "ikktttukk", m->device, m->sign_pk,
	          m->box_pk, inv.team, inv.role, m->label, req->now_ms, office ? NULL : m->auth,
	          office ? NULL : m->proof);
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

/* POST /v1/team-keys: publish the team's next key version, or seal one it
 * has (the current or an older one, with the same public key) to more
 * devices: the office gives a device it certified after a rotation every
 * version, so it reads what was sealed before. */
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
	if (m->tv >= 1 && m->tv <= current) {
		if ((rc = team_key(s, m->team, m->tv, pk)) != VELD_OK)
			return rc != VELD_ENOTFOUND ? rc
			       : veld__err(VELD_ECORRUPT, "a team key row is damaged");
		if (sodium_memcmp(pk, m->pk, 32) != 0)
			return refuse(out, VELD_SRV_EQUIVOCATION,
			              "team key version %llu already has another public key",
			              (unsigned long long)m->tv);
	} else if (m->tv != current + 1) {
		out->expected = current + 1;
		return refuse(out, VELD_SRV_GAP,
		              "tv must be a team key version the team has or the next one");
	}
	if ((rc = key_holders_check(s, m, out)) != VELD_OK || out->refusal)
		return rc;
	/* The office's signature travels with the key to the devices, which
	 * open no team key the office did not sign (the HTTP side checked it). */
	if (m->tv == current + 1 && (rc = exec(s, "storing the team key", S_TK_PUT, "tukg", m->team,
	                                       m->tv, m->pk, m->sig)) != VELD_OK)
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
	/* What the server holds of it, so the office's revoke notice can name
	 * the last seq it accepts from the device. */
	resp->acked = target.last_seq;
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

/* ---- notices and checkpoints ------------------------------------------------------ */

/* Erase a client (an erase notice of `team`): the client's operations, the
 * merge state of its records (ops, superseded, conflicts, entities), its
 * row in clients and its key envelopes go; the erasure is recorded with the
 * notice's time and signature and in the merge's erased table (so the merge
 * rule drops its operations too). Of each operation the hash and its kh
 * layer move to erased_ops and the feed row stays: the batches they were
 * signed in may hold other operations, which must stay verifiable, and a
 * device must see that no seq of the author is missing. */
static int erase_client(struct sqlite_store *s, const struct veld__srv_req *req,
                        const struct veld__notice *n, const uint8_t client[VELD_ID_BYTES],
                        size_t i, struct veld__srv_outcome *out)
{
	static const int steps[] = {S_ERASE_KEEP_HASHES, S_ERASE_OPS, S_ERASE_SUPERSEDED,
	                            S_ERASE_CONFLICTS, S_ERASE_ENTITIES, S_ERASE_CLIENT,
	                            S_ERASE_ENVELOPES};
	char team[VELD_TEAM_MAX + 1] = "";
	sqlite3_stmt *st = query(s, S_CLIENT_GET, "i", client);
	int rc = first_row(s, st, "reading clients"), erased;
	if (rc == 0)
		return refuse(out, VELD_SRV_NOT_FOUND,
		              "notices[%zu]: no operation of the client was ever received", i);
	if (rc < 0)
		return rc;
	col_text(st, 0, team, sizeof team);
	erased = sqlite3_column_int(st, 1) != 0;
	sqlite3_reset(st);
	/* A team's notices speak for its own clients only: devices of another
	 * team would never see this erasure. */
	if (strcmp(team, n->team) != 0)
		return refuse(out, VELD_SRV_FORBIDDEN,
		              "notices[%zu]: the client belongs to another team", i);
	if (erased)
		return VELD_OK; /* the first erasure stays */
	/* Records go: the merge's cached record check may name one. */
	veld__merge_forget(&s->merge);
	for (size_t k = 0; k < sizeof steps / sizeof steps[0] && rc >= 0; k++)
		rc = exec(s, "erasing a client", steps[k], "i", client);
	if (rc == VELD_OK)
		rc = exec(s, "erasing a client", S_ERASE_MERGE, "iu", client, req->now_ms);
	if (rc == VELD_OK)
		rc = exec(s, "recording the erasure", S_ERASE_PUT, "itug", client, team, n->at, n->sig);
	return rc;
}

/* A certificate must describe the device the server enrolled, exactly: a
 * device trusts the keys a certificate names, so the server must not keep
 * one for keys or a team it never saw enroll. */
static int cert_check(struct sqlite_store *s, const struct veld__srv_notice *x, size_t i,
                      struct veld__srv_outcome *out)
{
	struct veld__srv_device d;
	int rc = device_load(s, x->body.id, &d);
	if (rc != VELD_OK && rc != VELD_ENOTFOUND)
		return rc;
	if (rc == VELD_ENOTFOUND || strcmp(d.role, "office") == 0 ||
	    strcmp(d.team, x->n->team) != 0 || strcmp(d.role, x->body.role) != 0 ||
	    sodium_memcmp(d.sign_pk, x->body.sign_pk, 32) != 0 ||
	    sodium_memcmp(d.box_pk, x->body.box_pk, 32) != 0)
		return refuse(out, VELD_SRV_BAD_BATCH,
		              "notices[%zu]: the certificate does not match the enrolled device", i);
	return VELD_OK;
}

/* A revocation revokes a device of its team, as POST /v1/revoke does. */
static int revoke_notice(struct sqlite_store *s, const struct veld__srv_req *req,
                         const struct veld__srv_notice *x, size_t i,
                         struct veld__srv_outcome *out)
{
	struct veld__srv_device d;
	int rc = device_load(s, x->body.id, &d);
	if (rc != VELD_OK && rc != VELD_ENOTFOUND)
		return rc;
	if (rc == VELD_ENOTFOUND || strcmp(d.team, x->n->team) != 0)
		return refuse(out, VELD_SRV_BAD_BATCH,
		              "notices[%zu]: the revocation names no device of its team", i);
	/* Revoked already: no change. */
	return exec(s, "revoking the device", S_DEV_REVOKE, "iu", d.device, req->now_ms);
}

/* What a new notice does on the server, by its kind. */
static int notice_act(struct sqlite_store *s, const struct veld__srv_req *req,
                      const struct veld__srv_notice *x, size_t i, struct veld__srv_outcome *out)
{
	switch (x->body.kind) {
	case VELD_NOTICE_CERT:
		return cert_check(s, x, i, out);
	case VELD_NOTICE_REVOKE:
		return revoke_notice(s, req, x, i, out);
	case VELD_NOTICE_ERASE:
		return erase_client(s, req, x->n, x->body.id, i, out);
	case VELD_NOTICE_POLICY:
		/* The latest notice is the policy: numbering orders them. */
		return exec(s, "storing a field policy", S_POLICY_PUT, "tuug", x->n->team, x->n->at,
		            (uint64_t)x->body.mask, x->n->sig);
	default:
		return veld__err(VELD_ERROR, "a notice of an unknown kind passed the decoder");
	}
}

/* Is the held notice (team, n) this one, byte for byte? */
static int notice_same(struct sqlite_store *s, const struct veld__notice *n, int *same)
{
	sqlite3_stmt *st = query(s, S_NOTICE_GET, "tu", n->team, n->n);
	int rc = first_row(s, st, "reading notices");
	*same = 0;
	if (rc != 1)
		return rc == 0 ? veld__err(VELD_ECORRUPT, "a team's notices have a hole") : rc;
	*same = col_u64(st, 1) == n->at && (size_t)sqlite3_column_bytes(st, 2) == n->body_len &&
	        memcmp(sqlite3_column_blob(st, 2), n->body, n->body_len) == 0 &&
	        sqlite3_column_bytes(st, 3) == 64 && memcmp(sqlite3_column_blob(st, 3), n->sig, 64) == 0 &&
	        sqlite3_column_text(st, 0) &&
	        strcmp((const char *)sqlite3_column_text(st, 0), n->kind) == 0;
	sqlite3_reset(st);
	return VELD_OK;
}

/* One notice of POST /v1/notice, by the rules in their order. */
static int notice_one(struct sqlite_store *s, const struct veld__srv_req *req,
                      const struct veld__srv_notice *x, size_t i, struct veld__srv_outcome *out)
{
	const struct veld__notice *n = x->n;
	uint64_t last;
	int same, rc;
	if (!x->sig_ok)
		return refuse(out, VELD_SRV_BAD_BATCH,
		              "notices[%zu]: the office's signature does not verify", i);
	if (!x->body_ok)
		return refuse(out, VELD_SRV_MALFORMED,
		              "notices[%zu]: the body does not decode for its kind", i);
	/* Earlier notices of this request are in the table already: one
	 * request may carry a team's next several. */
	if ((rc = scalar(s, query(s, S_NOTICE_LAST, "t", n->team), "reading notices", &last)) !=
	    VELD_OK)
		return rc;
	if (n->n <= last) {
		/* A device holds what the server served under this number; the
		 * same notice again is harmless, another would split the team. */
		if ((rc = notice_same(s, n, &same)) != VELD_OK || same)
			return rc;
		return refuse(out, VELD_SRV_EQUIVOCATION,
		              "notices[%zu]: the team's notice of this number is held with other"
		              " contents", i);
	}
	if (n->n > last + 1) {
		out->expected = last + 1;
		return refuse(out, VELD_SRV_GAP,
		              "notices[%zu] does not continue the team's notices: expected %llu", i,
		              (unsigned long long)(last + 1));
	}
	if ((rc = notice_act(s, req, x, i, out)) != VELD_OK || out->refusal)
		return rc;
	return exec(s, "storing a notice", S_NOTICE_PUT, "tutubg", n->team, n->n, n->kind, n->at,
	            (const void *)n->body, n->body_len, n->sig);
}

/* The notices of a request: m is a struct notices. */
struct notices {
	const struct veld__srv_notice *v;
	size_t n;
};

static int notice_locked(struct sqlite_store *s, const struct veld__srv_req *req,
                         const struct veld__srv_device *dev, const struct call *call,
                         struct veld__srv_outcome *out)
{
	const struct notices *m = call->m;
	int rc = VELD_OK;
	(void)dev;
	for (size_t i = 0; i < m->n && rc == VELD_OK && !out->refusal; i++)
		rc = notice_one(s, req, &m->v[i], i, out);
	return rc;
}

static int sq_notice(struct veld__sstore *base, const struct veld__srv_req *req,
                     const struct veld__srv_notice *v, size_t n, struct veld__srv_outcome *out)
{
	const struct notices m = {v, n};
	const struct call call = {&m, NULL, 0};
	return run_request(base, req, OFFICE_ONLY, notice_locked, &call, out);
}

/* POST /v1/checkpoint: each team keeps its latest. An older one is no
 * error: the office may send again what a lost answer left unconfirmed. */
static int checkpoint_locked(struct sqlite_store *s, const struct veld__srv_req *req,
                             const struct veld__srv_device *dev, const struct call *call,
                             struct veld__srv_outcome *out)
{
	const struct veld__checkpoint_req *m = call->m;
	int rc = VELD_OK;
	(void)req;
	(void)dev;
	(void)out;
	for (size_t i = 0; i < m->n && rc == VELD_OK; i++) {
		const struct veld__checkpoint *c = &m->checkpoints[i];
		rc = exec(s, "storing a checkpoint", S_CKPT_PUT, "tuubg", c->team, c->at, c->n,
		          (const void *)c->heads, c->heads_len, c->sig);
	}
	return rc;
}

static int sq_checkpoint(struct veld__sstore *base, const struct veld__srv_req *req,
                         const struct veld__checkpoint_req *m, struct veld__srv_outcome *out)
{
	const struct call call = {m, NULL, 0};
	return run_request(base, req, OFFICE_ONLY, checkpoint_locked, &call, out);
}

/* A team's field policy mask: the default if the office set none. */
static int policy_mask(struct sqlite_store *s, const char *team, uint32_t *mask)
{
	sqlite3_stmt *st = query(s, S_POLICY_GET, "t", team);
	int rc = first_row(s, st, "reading a field policy");
	*mask = veld__policy_default;
	if (rc != 1)
		return rc;
	*mask = (uint32_t)col_u64(st, 1);
	rc = (col_u64(st, 1) & ~(uint64_t)VELD_POLICY_ALL) != 0;
	sqlite3_reset(st);
	return rc ? veld__err(VELD_ECORRUPT, "a field policy row is damaged") : VELD_OK;
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
		o->has_auth = d.has_auth;
		memcpy(o->auth, d.auth, 32);
		memcpy(o->proof, d.proof, 32);
		r->ndevices++;
	}
	return rows_end(st, rc, "listing devices");
}

static int sq_devices(struct veld__sstore *base, const struct veld__srv_req *req,
                      struct veld__srv_devices *list, struct veld__srv_outcome *out)
{
	const struct call call = {NULL, list, 0};
	memset(&list->resp, 0, sizeof list->resp);
	return run_read(base, req, OFFICE_ONLY, devices_locked, &call, out);
}

/* ---- push ----------------------------------------------------------------------- */

/* What this push learns about clients and records, before anything is
 * written: the team of each client and the kind/client of each record. */
struct seen_client {
	const uint8_t *client;
	char team[VELD_TEAM_MAX + 1];
	int erased; /* an erase notice: its operations and envelopes are dropped */
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

/* No new operation may be stamped more than the allowed skew ahead of the
 * server's clock: devices hold back what is stamped in their future, and a
 * stamp far ahead would win every merge until the clocks catch up. Nor at
 * 2^63 or above, which SQLite's signed integers would hold as a negative
 * stamp. Held seqs were checked when they came. */
static int clock_check(struct sqlite_store *s, const struct veld__srv_req *req,
                       const struct veld__srv_device *dev, const struct veld__push_req *m,
                       struct veld__srv_outcome *out)
{
	for (size_t i = 0; i < m->nops; i++) {
		const veld__op *op = &m->ops[i];
		uint64_t ms = op->hlc >> 16;
		if (op->seq <= dev->last_seq)
			continue;
		if (op->hlc >= (1ull << 63))
			return refuse(out, VELD_SRV_CLOCK,
			              "operation %llu is stamped beyond any valid time:"
			              " this device's clock is wrong", (unsigned long long)op->seq);
		if (ms > req->now_ms && ms - req->now_ms > s->base.max_skew_ms)
			return refuse(out, VELD_SRV_CLOCK,
			              "operation %llu is stamped %llu s ahead of the server's clock:"
			              " this device's clock is wrong", (unsigned long long)op->seq,
			              (unsigned long long)((ms - req->now_ms + 999) / 1000));
	}
	return VELD_OK;
}

/* All the checks of a push (protocol.md 6, /v1/push), in the order the
 * rules are listed, before anything is written. */
static int push_check(struct sqlite_store *s, const struct veld__srv_req *req,
                      const struct veld__srv_device *dev, const struct veld__push_req *m,
                      int sig_ok, struct push_scratch *w, struct veld__srv_outcome *out)
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
	if ((rc = clock_check(s, req, dev, m, out)) != VELD_OK || out->refusal)
		return rc;
	if ((rc = new_ops_check(s, dev, m, w, out)) != VELD_OK || out->refusal)
		return rc;
	return envelopes_check(s, dev, m, w, out);
}

/* An operation of an erased client, arrived after the erasure: only its
 * hash (the batch signature covers it) and what its stub shows are kept. */
static int drop_erased(struct sqlite_store *s, const veld__op *op)
{
	uint8_t rh[VELD_HASH_BYTES], kh[VELD_HASH_BYTES];
	if (op->version >= 2)
		veld__op_layers(op, rh, kh);
	else
		memcpy(kh, op->hash, sizeof kh); /* version 1 has no layers */
	return exec(s, "dropping an operation of an erased client", S_ERASED_OP_PUT, "iuktik",
	            op->device, op->seq, op->hash, op->team, op->client, kh);
}

/* Store the push's new operations through the merge rule; an erased
 * client's are accepted but not stored (drop_erased). Every one gets the
 * next cursor of the feed, so a pull shows it or its stub and no seq of
 * the device is missing. *stored counts those stored. */
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
			if ((rc = drop_erased(s, op)) != VELD_OK ||
			    (rc = exec(s, "indexing an operation", S_FEED_PUT, "iuti", op->device, op->seq,
			               op->team, op->client)) != VELD_OK)
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
		 * signature is kept, with the operations' version (they share
		 * one), for the operations and stubs a pull serves. */
		last = m->ops[m->nops - 1].seq;
		if ((rc = exec(s, "advancing the device's sequence", S_DEV_SET_LAST, "iu", dev->device,
		               last)) != VELD_OK ||
		    (rc = exec(s, "storing the batch signature", S_BATCH_PUT, "iuugu", dev->device,
		               m->ops[0].seq, last, m->sig, (uint64_t)m->ops[0].version)) != VELD_OK)
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
		/* Its sealer and signature travel with it (the HTTP side checked
		 * both): a device takes no key the server could have made. */
		if ((rc = exec(s, "storing an envelope", S_ENV_PUT, "iutuetig", e->client, e->kv, e->to,
		               e->tv, e->sealed, team, e->from, e->sig)) != VELD_OK)
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
	w.clients = calloc(n ? n : 1, sizeof *w.clients);
	w.entities = calloc(m->nops ? m->nops : 1, sizeof *w.entities);
	if (!w.clients || !w.entities)
		rc = veld__err(VELD_ENOMEM, "out of memory");
	else if ((rc = push_check(s, req, dev, m, call->sig_ok, &w, out)) == VELD_OK &&
	         !out->refusal)
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
#define STUB_OVERHEAD 170
#define HELD_OVERHEAD 290
#define BATCH_OVERHEAD 120
#define HASH_BYTES_ON_WIRE 32

/* The operation of a feed row (FEED_COLS), whose values go into `mem`. */
static int read_op(sqlite3_stmt *st, struct veld__arena *mem, veld__op *op)
{
	/* column 0 is the cursor; the op starts at column 1 */
	size_t vlen;
	uint64_t ver = col_u64(st, 13);
	memset(op, 0, sizeof *op);
	if (col_blob(st, 1, op->device, VELD_ID_BYTES) || col_blob(st, 5, op->entity, VELD_ID_BYTES) ||
	    col_blob(st, 6, op->client, VELD_ID_BYTES) || col_blob(st, 12, op->hash, VELD_HASH_BYTES) ||
	    ver < 1 || ver > VELD_OP_VERSION)
		return veld__err(VELD_ECORRUPT, "an operation row is damaged");
	op->version = (uint32_t)ver;
	op->seq = col_u64(st, 2);
	op->hlc = col_u64(st, 3);
	col_text(st, 4, op->kind, sizeof op->kind);
	col_text(st, 7, op->team, sizeof op->team);
	op->kv = col_u64(st, 8);
	col_text(st, 9, op->field, sizeof op->field);
	if (sqlite3_column_type(st, 10) != SQLITE_NULL) {
		vlen = (size_t)sqlite3_column_bytes(st, 10);
		/* (an empty value is still a value, not a tombstone) */
		op->value = vlen ? veld__arena_dup(mem, sqlite3_column_blob(st, 10), vlen)
		                 : veld__arena_alloc(mem, 1);
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

/* Add the batch that holds (device, seq) unless the page has it already.
 * Its author's key is not on the page: a device checks a batch with the
 * key the office certified for its author. */
static int page_batch(struct sqlite_store *s, struct veld__pull_resp *r, struct veld__arena *mem,
                      const uint8_t *device, uint64_t seq, size_t *bytes)
{
	struct veld__batch *b;
	sqlite3_stmt *st;
	uint64_t ver;
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
	ver = col_u64(st, 3);
	sqlite3_reset(st);
	if (rc || b->last < b->first || b->last - b->first >= 1000000 || ver < 1 ||
	    ver > VELD_OP_VERSION)
		return veld__err(VELD_ECORRUPT, "a batch row is damaged");
	b->ver = ver;
	if ((rc = batch_hashes(s, b, mem)) != VELD_OK)
		return rc;
	r->nbatches++;
	*bytes += BATCH_OVERHEAD + (size_t)(b->last - b->first + 1) * HASH_BYTES_ON_WIRE;
	return VELD_OK;
}

/* Who pulls the operation feed, and what it may read of it. */
struct reader {
	int office;
	const char *team;
	uint32_t mask; /* a worker's team's field policy */
};

/* The page's arrays that grow with its stubs and held entries. */
struct feed_page {
	struct veld__srv_page *page;
	size_t stub_cap, stub_cur_cap, held_cap, held_cur_cap;
};

/* A stub of an operation: `kh` the layer a device checks it by. */
static int add_stub(struct feed_page *fp, uint64_t cursor, const uint8_t device[VELD_ID_BYTES],
                    uint64_t seq, const char *team, const uint8_t client[VELD_ID_BYTES],
                    const uint8_t kh[VELD_HASH_BYTES])
{
	struct veld__pull_resp *r = &fp->page->resp;
	struct veld__arena *mem = &fp->page->mem;
	struct veld__stub *x = arena_grow(mem, (void **)&r->stubs, r->nstubs, &fp->stub_cap,
	                                  sizeof *x);
	uint64_t *c = arena_grow(mem, (void **)&r->stub_cursors, r->nstubs, &fp->stub_cur_cap,
	                         sizeof *c);
	if (!x || !c)
		return veld__err(VELD_ENOMEM, "out of memory");
	memcpy(x->device, device, VELD_ID_BYTES);
	x->seq = seq;
	snprintf(x->team, sizeof x->team, "%s", team);
	memcpy(x->client, client, VELD_ID_BYTES);
	memcpy(x->kh, kh, VELD_HASH_BYTES);
	*c = cursor;
	r->nstubs++;
	return VELD_OK;
}

/* A held entry: a version 2 operation on a field the reader's policy keeps
 * at the office, shown by its rh layer with its kind and field. */
static int add_held(struct feed_page *fp, uint64_t cursor, const veld__op *op)
{
	struct veld__pull_resp *r = &fp->page->resp;
	struct veld__arena *mem = &fp->page->mem;
	struct veld__held *x = arena_grow(mem, (void **)&r->held, r->nheld, &fp->held_cap,
	                                  sizeof *x);
	uint64_t *c = arena_grow(mem, (void **)&r->held_cursors, r->nheld, &fp->held_cur_cap,
	                         sizeof *c);
	uint8_t kh[VELD_HASH_BYTES];
	if (!x || !c)
		return veld__err(VELD_ENOMEM, "out of memory");
	memcpy(x->device, op->device, VELD_ID_BYTES);
	x->seq = op->seq;
	snprintf(x->team, sizeof x->team, "%s", op->team);
	memcpy(x->client, op->client, VELD_ID_BYTES);
	snprintf(x->kind, sizeof x->kind, "%s", op->kind);
	snprintf(x->field, sizeof x->field, "%s", op->field);
	veld__op_layers(op, x->rh, kh);
	*c = cursor;
	r->nheld++;
	return VELD_OK;
}

/* A held operation, as the reader may see it: whole; as a stub when it is
 * another team's (a worker sees the office's other teams' operations, which
 * share batches with its own); held back by the team's policy (held, or a
 * stub for a version 1 operation, which has no rh layer). *cost gets its
 * rough size. */
static int add_op(struct feed_page *fp, const struct reader *who, uint64_t cursor,
                  const veld__op *op, size_t *cost)
{
	struct veld__pull_resp *r = &fp->page->resp;
	uint8_t rh[VELD_HASH_BYTES], kh[VELD_HASH_BYTES];
	if (!who->office && strcmp(op->team, who->team) != 0) {
		if (op->version >= 2)
			veld__op_layers(op, rh, kh);
		else
			memcpy(kh, op->hash, sizeof kh);
		*cost = STUB_OVERHEAD;
		return add_stub(fp, cursor, op->device, op->seq, op->team, op->client, kh);
	}
	if (!who->office && (veld__policy_bit(op->kind, op->field) & ~who->mask)) {
		*cost = op->version >= 2 ? HELD_OVERHEAD : STUB_OVERHEAD;
		return op->version >= 2
		       ? add_held(fp, cursor, op)
		       : add_stub(fp, cursor, op->device, op->seq, op->team, op->client, op->hash);
	}
	r->ops[r->nops] = *op;
	r->cursors[r->nops] = cursor;
	r->nops++;
	*cost = OP_OVERHEAD + op->value_len + op->nsup * 28;
	return VELD_OK;
}

/* One feed row (FEED_COLS): its operation, or the stub of an erased one. */
static int add_row(struct feed_page *fp, const struct reader *who, sqlite3_stmt *st,
                   uint64_t cursor, uint8_t device[VELD_ID_BYTES], uint64_t *seq, size_t *cost)
{
	char team[VELD_TEAM_MAX + 1];
	uint8_t client[VELD_ID_BYTES], kh[VELD_HASH_BYTES];
	veld__op op;
	int rc;
	if (sqlite3_column_type(st, 1) != SQLITE_NULL) {
		if ((rc = read_op(st, &fp->page->mem, &op)) != VELD_OK)
			return rc;
		memcpy(device, op.device, VELD_ID_BYTES);
		*seq = op.seq;
		return add_op(fp, who, cursor, &op, cost);
	}
	/* Erased: what erased_ops kept of it. */
	if (col_blob(st, 14, device, VELD_ID_BYTES) || col_blob(st, 17, client, VELD_ID_BYTES) ||
	    col_blob(st, 18, kh, VELD_HASH_BYTES) || sqlite3_column_type(st, 16) != SQLITE_TEXT)
		return veld__err(VELD_ECORRUPT, "a feed row has no operation and no erased one");
	*seq = col_u64(st, 15);
	col_text(st, 16, team, sizeof team);
	*cost = STUB_OVERHEAD;
	return add_stub(fp, cursor, device, *seq, team, client, kh);
}

/* The feed's rows in cursor order: one run (the office reads the whole
 * feed), or a worker's two (S_FEED_TEAM) merged. */
struct feed_runs {
	sqlite3_stmt *st[2];
	int rc[2]; /* each run's last step: SQLITE_ROW while it has a row */
	int cur;   /* the run whose row is next */
	uint8_t office[VELD_ID_BYTES]; /* bound to the second run */
};

/* A step failed (not SQLITE_ROW or SQLITE_DONE): its code, else 0. */
static int runs_failed(const struct feed_runs *f)
{
	for (int i = 0; i < 2; i++)
		if (f->st[i] && f->rc[i] != SQLITE_ROW && f->rc[i] != SQLITE_DONE)
			return f->rc[i];
	return 0;
}

/* Picks the run with the lower cursor, passing the office's run over a
 * row the team's run has too; 0 when both are done (or a step failed). */
static int runs_next(struct feed_runs *f)
{
	int row0 = f->rc[0] == SQLITE_ROW, row1 = f->st[1] && f->rc[1] == SQLITE_ROW;
	while (row0 && row1 && col_u64(f->st[1], 0) == col_u64(f->st[0], 0)) {
		f->rc[1] = sqlite3_step(f->st[1]);
		row1 = f->rc[1] == SQLITE_ROW;
	}
	if ((!row0 && !row1) || runs_failed(f))
		return 0;
	f->cur = !row0 || (row1 && col_u64(f->st[1], 0) < col_u64(f->st[0], 0));
	return 1;
}

static int runs_open(struct sqlite_store *s, const struct veld__srv_device *dev, int office,
                     uint64_t after, uint64_t limit, struct reader *who, struct feed_runs *f)
{
	struct veld__srv_device o;
	int found, rc;
	memset(f, 0, sizeof *f);
	if (office) {
		f->st[0] = query(s, S_FEED_ALL, "uu", after, limit);
		f->rc[0] = step(s, f->st[0]);
		return VELD_OK;
	}
	if ((rc = policy_mask(s, dev->team, &who->mask)) != VELD_OK ||
	    (rc = office_load(s, &o, &found)) != VELD_OK)
		return rc;
	f->st[0] = query(s, S_FEED_TEAM, "uut", after, limit, dev->team);
	f->rc[0] = step(s, f->st[0]);
	if (found) { /* each query's binds are checked by its first step */
		memcpy(f->office, o.device, VELD_ID_BYTES);
		f->st[1] = query(s, S_FEED_OFFICE, "uui", after, limit, f->office);
		f->rc[1] = step(s, f->st[1]);
	}
	return VELD_OK;
}

/* The puller's own operations on the page as runs (own=1): consecutive
 * seqs, each run shown by the digest of its hashes. A device's seqs follow
 * cursor order, so a run breaks only at a page's end. */
struct own_runs {
	int open;
	uint64_t from, to, cursor;
	uint8_t *hashes; /* the open run's: a page holds `limit` rows at most */
	size_t cap, cur_cap;
};

static int own_run_close(struct own_runs *o, struct veld__srv_page *page)
{
	struct veld__pull_resp *r = &page->resp;
	struct veld__own_run *x;
	uint64_t *c;
	if (!o->open)
		return VELD_OK;
	o->open = 0;
	x = arena_grow(&page->mem, (void **)&r->own, r->nown, &o->cap, sizeof *x);
	c = arena_grow(&page->mem, (void **)&r->own_cursors, r->nown, &o->cur_cap, sizeof *c);
	if (!x || !c)
		return veld__err(VELD_ENOMEM, "out of memory");
	x->from = o->from;
	x->to = o->to;
	veld__own_run_digest(o->hashes, (size_t)(o->to - o->from + 1), x->d);
	*c = o->cursor;
	r->nown++;
	return VELD_OK;
}

/* One own row: its hash (the operation's, or the one kept when it was
 * erased) joins the open run or starts the next. */
static int own_row(struct own_runs *o, struct veld__srv_page *page, sqlite3_stmt *st,
                   uint64_t cursor, uint64_t seq, uint32_t limit)
{
	int live = sqlite3_column_type(st, 1) != SQLITE_NULL, rc;
	if (o->open && seq != o->to + 1 && (rc = own_run_close(o, page)) != VELD_OK)
		return rc;
	if (!o->hashes && !(o->hashes = veld__arena_alloc(&page->mem, (size_t)limit * VELD_HASH_BYTES)))
		return veld__err(VELD_ENOMEM, "out of memory");
	if (!o->open) {
		o->open = 1;
		o->from = seq;
	}
	if (col_blob(st, live ? 12 : 19, o->hashes + (seq - o->from) * VELD_HASH_BYTES,
	             VELD_HASH_BYTES))
		return veld__err(VELD_ECORRUPT, "a feed row has no operation and no erased one");
	o->to = seq;
	o->cursor = cursor;
	return VELD_OK;
}

/* The operation feed above a->after as the reader may see it, each item
 * with its batch, until the page is full or past its byte budget. */
static int page_feed(struct sqlite_store *s, const struct veld__srv_device *dev, int office,
                     const struct veld__srv_pull_args *a, struct veld__srv_page *page)
{
	struct veld__pull_resp *r = &page->resp;
	struct feed_page fp = {page, 0, 0, 0, 0};
	struct reader who = {office, dev->team, VELD_POLICY_ALL};
	struct feed_runs f;
	struct own_runs own = {0, 0, 0, 0, NULL, 0, 0};
	size_t bytes = 0, n = 0;
	int rc = runs_open(s, dev, office, a->after, (uint64_t)a->limit + 1, &who, &f);
	while (rc == VELD_OK && !runs_failed(&f) && runs_next(&f)) {
		sqlite3_stmt *st = f.st[f.cur];
		uint64_t cursor = col_u64(st, 0), seq = 0;
		uint8_t device[VELD_ID_BYTES];
		size_t cost = 0;
		/* The budget is soft: the item that crosses it still goes, and
		 * at least one always does, so a page always makes progress.
		 * Each run reads one row more than the page holds, to learn
		 * whether more wait. */
		if (n == a->limit || (n > 0 && bytes >= a->max_bytes)) {
			r->more = 1;
			break;
		}
		if (a->own_runs && sqlite3_column_bytes(st, 14) == VELD_ID_BYTES &&
		    memcmp(sqlite3_column_blob(st, 14), dev->device, VELD_ID_BYTES) == 0) {
			if ((rc = own_row(&own, page, st, cursor, col_u64(st, 15), a->limit)) != VELD_OK)
				break;
			r->next = cursor;
			n++;
			f.rc[f.cur] = step(s, st);
			continue;
		}
		if ((rc = add_row(&fp, &who, st, cursor, device, &seq, &cost)) != VELD_OK)
			break;
		bytes += cost;
		/* page_batch runs other statements; the runs stay on their rows. */
		if ((rc = page_batch(s, r, &page->mem, device, seq, &bytes)) != VELD_OK)
			break;
		r->next = cursor;
		n++;
		f.rc[f.cur] = step(s, st);
	}
	if (rc == VELD_OK && (rc = runs_failed(&f)) != 0)
		rc = veld__err_sqlite(rc, "reading operations");
	if (rc == VELD_OK)
		rc = own_run_close(&own, page);
	for (int i = 0; i < 2; i++)
		if (f.st[i])
			sqlite3_reset(f.st[i]);
	return rc;
}

/* A signature column that may be NULL (rows from before signatures were
 * kept): zeros, which verify for nobody, so a device treats the row as the
 * unsigned thing it is. */
static int col_sig(sqlite3_stmt *st, int i, uint8_t sig[64])
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL) {
		memset(sig, 0, 64);
		return 0;
	}
	return col_blob(st, i, sig, 64);
}

/* Envelopes addressed to the device's team (or the office). At most
 * VELD_WIRE_MAX_ENVS of ~330 bytes: outside the byte budget. */
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
		    col_blob(st, 5, e->sealed, VELD_SEALED_KEY_BYTES) || col_sig(st, 7, e->sig) ||
		    (sqlite3_column_type(st, 6) != SQLITE_NULL &&
		     col_blob(st, 6, e->from, VELD_ID_BYTES))) {
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

/* Notices of the device's team (the office: all). At most
 * VELD_WIRE_MAX_NOTICES of at most ~720 bytes: outside the byte budget, as
 * envelopes are. */
static int page_notices(struct sqlite_store *s, const struct veld__srv_device *dev, int office,
                        const struct veld__srv_pull_args *a, struct veld__srv_page *page)
{
	struct veld__pull_resp *r = &page->resp;
	uint64_t limit = (uint64_t)VELD_WIRE_MAX_NOTICES + 1;
	sqlite3_stmt *st = office ? query(s, S_NOTICE_PAGE_ALL, "uu", a->notice_after, limit)
	                          : query(s, S_NOTICE_PAGE_TEAM, "uut", a->notice_after, limit,
	                                  dev->team);
	int rc;
	while ((rc = step(s, st)) == SQLITE_ROW) {
		struct veld__notice *x = &r->notices[r->nnotices];
		size_t len = (size_t)sqlite3_column_bytes(st, 5);
		if (r->nnotices == VELD_WIRE_MAX_NOTICES) {
			r->more = 1;
			break;
		}
		if (col_blob(st, 6, x->sig, 64) || len == 0 || len > VELD_NOTICE_BODY_MAX) {
			rc = veld__err(VELD_ECORRUPT, "a notice row is damaged");
			break;
		}
		if (!(x->body = veld__arena_dup(&page->mem, sqlite3_column_blob(st, 5), len))) {
			rc = veld__err(VELD_ENOMEM, "out of memory");
			break;
		}
		x->body_len = len;
		col_text(st, 1, x->team, sizeof x->team);
		x->n = col_u64(st, 2);
		col_text(st, 3, x->kind, sizeof x->kind);
		x->at = col_u64(st, 4);
		r->notice_next = r->notice_cursors[r->nnotices] = col_u64(st, 0);
		r->nnotices++;
	}
	return rows_end(st, rc, "reading notices");
}

/* The team's checkpoint, for a worker's pull (at most ~240 KB of heads:
 * outside the byte budget). */
static int page_checkpoint(struct sqlite_store *s, const struct veld__srv_device *dev,
                           struct veld__srv_page *page)
{
	struct veld__checkpoint *c = &page->resp.checkpoint;
	sqlite3_stmt *st = query(s, S_CKPT_GET, "t", dev->team);
	size_t len;
	int rc = first_row(s, st, "reading checkpoints");
	if (rc != 1)
		return rc;
	len = (size_t)sqlite3_column_bytes(st, 2);
	snprintf(c->team, sizeof c->team, "%s", dev->team);
	c->at = col_u64(st, 0);
	c->n = col_u64(st, 1);
	/* No heads is a team without authors yet: the notices still count. */
	if (col_blob(st, 3, c->sig, 64) || len % 24 || len > 24 * VELD_WIRE_MAX_HEADS)
		rc = veld__err(VELD_ECORRUPT, "a checkpoint row is damaged");
	else if (!(c->heads = len ? veld__arena_dup(&page->mem, sqlite3_column_blob(st, 2), len)
	                          : veld__arena_alloc(&page->mem, 1)))
		rc = veld__err(VELD_ENOMEM, "out of memory");
	else
		rc = VELD_OK;
	c->heads_len = len;
	sqlite3_reset(st);
	page->resp.has_checkpoint = rc == VELD_OK;
	return rc;
}

/* The team keys sealed to this device, with the office's signatures. */
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
		if (col_blob(st, 2, k->pk, 32) || col_blob(st, 3, k->sealed, VELD_SEALED_KEY_BYTES) ||
		    col_sig(st, 4, k->sig)) {
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
	r->notice_next = a->notice_after;
	r->cursors = veld__arena_alloc(mem, a->limit * sizeof *r->cursors);
	r->ops = veld__arena_alloc(mem, a->limit * sizeof *r->ops);
	r->batches = veld__arena_alloc(mem, a->limit * sizeof *r->batches);
	r->env_cursors = veld__arena_alloc(mem, VELD_WIRE_MAX_ENVS * sizeof *r->env_cursors);
	r->envs = veld__arena_alloc(mem, VELD_WIRE_MAX_ENVS * sizeof *r->envs);
	r->notice_cursors = veld__arena_alloc(mem, VELD_WIRE_MAX_NOTICES * sizeof *r->notice_cursors);
	r->notices = veld__arena_alloc(mem, VELD_WIRE_MAX_NOTICES * sizeof *r->notices);
	if (!r->cursors || !r->ops || !r->batches || !r->env_cursors || !r->envs ||
	    !r->notice_cursors || !r->notices)
		return veld__err(VELD_ENOMEM, "out of memory");
	if ((rc = page_feed(s, dev, office, a, page)) != VELD_OK ||
	    (rc = page_envelopes(s, dev, office, a, r)) != VELD_OK ||
	    (rc = page_notices(s, dev, office, a, page)) != VELD_OK ||
	    (!office && (rc = page_checkpoint(s, dev, page)) != VELD_OK))
		return rc;
	return page_team_keys(s, dev, page);
}

/* A page's request: the page size is checked before anything else. */
static int run_page(struct veld__sstore *base, const struct veld__srv_req *req, enum who who,
                    endpoint_fn fn, const struct call *call, struct veld__srv_outcome *out)
{
	const struct veld__srv_pull_args *args = call->m;
	if (args->limit >= 1 && args->limit <= VELD_WIRE_MAX_PAGE)
		return run_read(base, req, who, fn, call, out);
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
 * (array header, cursor, device, seq, bin headers, signature), to bound its
 * size. */
#define AUDIT_OVERHEAD 112

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
	if (!r->entries)
		return veld__err(VELD_ENOMEM, "out of memory");
	/* One more than the page to learn whether more wait. */
	st = query(s, S_AUDIT_PAGE, "uu", a->after, (uint64_t)a->limit + 1);
	while ((rc = step(s, st)) == SQLITE_ROW) {
		struct veld__audit_entry *e = &r->entries[r->n];
		size_t len = (size_t)sqlite3_column_bytes(st, 3), cost = AUDIT_OVERHEAD + len;
		if (r->n == a->limit) {
			r->more = 1;
			break;
		}
		if (col_blob(st, 1, e->device, VELD_ID_BYTES) || col_blob(st, 4, e->sig, 64) ||
		    len == 0 || len > VELD_AUDIT_SEALED_MAX) {
			rc = veld__err(VELD_ECORRUPT, "an access-log row is damaged");
			break;
		}
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

/* Close one connection (its statements, then the database). */
static void conn_close(struct sqlite_store *c)
{
	for (int i = 0; i < S__COUNT; i++)
		sqlite3_finalize(c->st[i]);
	sqlite3_close(c->db);
	pthread_mutex_destroy(&c->mu);
}

static void sq_close(struct veld__sstore *base)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	if (!s)
		return;
	for (size_t i = 0; i < s->nreaders; i++)
		conn_close(&s->readers[i]);
	free(s->readers);
	if (s->merge_open)
		veld__merge_close(&s->merge);
	/* The writer closes last: a clean close checkpoints the WAL into the
	 * database file when no reader is left. */
	conn_close(s);
	veld__nonces_close(s->nonces);
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
	.push = sq_push,
	.notice = sq_notice,
	.checkpoint = sq_checkpoint,
	.pull = sq_pull,
	.devices = sq_devices,
	.audit_push = sq_audit_push,
	.audit_pull = sq_audit_pull,
};

/* Every start moves the feeds' next cursor to at least the wall clock
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

/* Nonces an older veld kept in server.db, still inside the window, move
 * to nonces.db, so an upgrade does not open a window for replays. */
static int nonces_carry_over(struct sqlite_store *s)
{
	struct timespec ts;
	uint64_t now, since;
	int fresh, rc;
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	since = now > VELD_AUTH_WINDOW_MS ? now - VELD_AUTH_WINDOW_MS : 0;
	sqlite3_stmt *st = query(s, S_NONCE_OLD, "u", since);
	while ((rc = step(s, st)) == SQLITE_ROW) {
		uint8_t dev[VELD_ID_BYTES], nonce[16];
		if (col_blob(st, 0, dev, sizeof dev) || col_blob(st, 1, nonce, sizeof nonce))
			continue; /* not a nonce this server wrote: nothing to keep */
		if ((rc = veld__nonces_record(s->nonces, dev, nonce, col_u64(st, 2), now, &fresh)) !=
		    VELD_OK)
			break;
	}
	if ((rc = rows_end(st, rc, "reading the old nonces")) != VELD_OK)
		return rc;
	return exec(s, "clearing the old nonces", S_NONCE_OLD_CLEAR, "");
}

/* A connection's setup: busy timeout, the SQL function of erasure and the
 * named statements; the writer also sets up WAL and the schema (each
 * migration in its own transaction, so a crash mid-way leaves the
 * previous version whole) before. */
static int conn_setup(struct sqlite_store *s, int writer)
{
	int rc;
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, 5000);
	if (writer) {
		/* Readers read while the writer commits: the WAL is copied back
		 * up to the oldest reader's snapshot and restarts once none
		 * needs it; after that it shrinks back to 64 MiB at most. */
		rc = sqlite3_exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
		                  " PRAGMA foreign_keys=ON; PRAGMA journal_size_limit=67108864;",
		                  NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			return veld__err_sqlite(rc, "configuring the server database");
		if ((rc = veld__merge_migrate(s->db, migrations, SERVER_SCHEMA_VERSION,
		                              "the server database")) != VELD_OK)
			return rc;
	} else if ((rc = sqlite3_exec(s->db, "PRAGMA query_only=ON;", NULL, NULL, NULL)) !=
	           SQLITE_OK) {
		return veld__err_sqlite(rc, "configuring a reader of the server database");
	}
	rc = sqlite3_create_function_v2(s->db, "veld_op_kh", 11,
	                                SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, NULL,
	                                sql_op_kh, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return veld__err_sqlite(rc, "registering the server's SQL functions");
	for (int i = 0; i < S__COUNT; i++) {
		rc = sqlite3_prepare_v3(s->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL);
		if (rc != SQLITE_OK)
			return veld__err_sqlite(rc, "preparing the server statements");
	}
	return VELD_OK;
}

static int conn_open(struct sqlite_store *c, const char *path, int writer)
{
	int rc;
	pthread_mutex_init(&c->mu, NULL);
	rc = sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK)
		return veld__err_sqlite(rc, "opening the server database");
	return conn_setup(c, writer);
}

int veld__sstore_sqlite_open(struct veld__sstore **out, const char *dir, size_t readers)
{
	struct sqlite_store *s;
	char path[4096];
	int rc;

	*out = NULL;
	if ((rc = veld__db_file(path, sizeof path, dir, "server.db", "the server database")) !=
	    VELD_OK)
		return rc;

	if (!(s = calloc(1, sizeof *s)))
		return veld__err(VELD_ENOMEM, "out of memory");
	s->base.ops = &sqlite_ops;
	s->base.max_skew_ms = VELD_SRV_MAX_SKEW_MS;
	if (!(s->readers = calloc(readers ? readers : 1, sizeof *s->readers))) {
		free(s);
		return veld__err(VELD_ENOMEM, "out of memory");
	}
	if ((rc = conn_open(s, path, 1)) == VELD_OK &&
	    (rc = veld__nonces_open(&s->nonces, dir)) == VELD_OK &&
	    (rc = cursors_past_now(s)) == VELD_OK && (rc = nonces_carry_over(s)) == VELD_OK &&
	    (rc = veld__merge_open(&s->merge, s->db)) == VELD_OK)
		s->merge_open = 1;
	while (rc == VELD_OK && s->nreaders < (readers ? readers : 1)) {
		struct sqlite_store *r = &s->readers[s->nreaders];
		r->nonces = s->nonces;
		if ((rc = conn_open(r, path, 0)) != VELD_OK)
			conn_close(r);
		else
			s->nreaders++;
	}
	if (rc != VELD_OK) {
		sq_close(&s->base);
		return rc;
	}
	*out = &s->base;
	return VELD_OK;
}
