/* server_sqlite.c - the server's store on SQLite (server_sql.h): the
 * default backend, DIR/server.db and DIR/nonces.db.
 *
 * One writer connection: every request that writes runs as one BEGIN
 * IMMEDIATE transaction on it while it holds its mutex, so writes are
 * serialised, cursors (AUTOINCREMENT) are handed out and become visible in
 * commit order. Reads (pulls, the access-log pull, the device list,
 * authentication) run on reader connections of their own, each in one
 * deferred transaction: a snapshot of the last commit, taken without
 * waiting for a write in progress. Request nonces live in a database of
 * their own (nonces.db, server_nonces.c), so recording a pull's nonce does
 * not wait for server.db's write lock either. WAL with synchronous=NORMAL
 * keeps commits cheap; a crash loses at most the last commits, never
 * consistency, and a device simply pushes again. A directory lock
 * (server.c) keeps a second process out.
 *
 * The tables are server_store.c's, and the merge's (veld__merge_schema),
 * with `nonces(device, nonce, time)` left from before nonces.db: rows an
 * older veld left are carried over at start. PRAGMA user_version holds the
 * schema version; each migration runs in its own transaction and only ever
 * moves forward (as core/src/schema.c).
 */
#include "server_sql.h"
#include "error.h"
#include "server_nonces.h"
#include "auth.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SERVER_SCHEMA_VERSION 6

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

/* Version 6: clients moved to another team (a move notice): their
 * operations stay, whole for the office, as stubs for workers. */
static const char schema_v6[] =
	"CREATE TABLE IF NOT EXISTS moves(client BLOB PRIMARY KEY, team TEXT NOT NULL,"
	"  to_team TEXT NOT NULL, at INTEGER NOT NULL, sig BLOB NOT NULL) WITHOUT ROWID;";

static const char *const migrations[SERVER_SCHEMA_VERSION] = {schema_v1, schema_v2, schema_v3,
                                                              schema_v4, schema_v5, schema_v6};

/* The statements: the rules' (server_sql.h) and the driver's own. */
enum {
	SQ_CURSORS_BUMP = S__COUNT, SQ_CURSORS_ADD, SQ_NONCE_OLD, SQ_NONCE_OLD_CLEAR,
	SQ_BEGIN, SQ_BEGIN_READ, SQ_COMMIT, SQ_ROLLBACK,
	SQ__COUNT
};

#define DEV_COLS VELD__SQL_DEV_COLS
#define OP_COLS VELD__SQL_OP_COLS
#define FEED_COLS VELD__SQL_FEED_COLS
#define FEED_JOIN VELD__SQL_FEED_JOIN
#define NOTICE_COLS VELD__SQL_NOTICE_COLS

static const char *const sql[SQ__COUNT] = {
	[S_DEV_GET] = "SELECT " DEV_COLS " FROM devices WHERE device = ?1",
	[S_DEV_INSERT] = "INSERT INTO devices(" DEV_COLS ") VALUES(?1,?2,?3,?4,?5,?6,?7,NULL,0,?8,?9)",
	[S_DEV_SET_LAST] = "UPDATE devices SET last_seq = ?2 WHERE device = ?1",
	[S_DEV_REVOKE] = "UPDATE devices SET revoked = ?2 WHERE device = ?1 AND revoked IS NULL",
	[S_DEV_OFFICE] = "SELECT " DEV_COLS " FROM devices WHERE role = 'office'"
	                 " ORDER BY enrolled LIMIT 1",
	[S_DEV_LIST] = "SELECT " DEV_COLS " FROM devices ORDER BY enrolled, device",
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
	/* A client's team, whether it is erased (then clients has no row) and
	 * whether it moved to another team. */
	[S_CLIENT_GET] = "SELECT team, 0, EXISTS(SELECT 1 FROM moves WHERE client = ?1)"
	                 " FROM clients WHERE client = ?1"
	                 " UNION ALL SELECT team, 1, 0 FROM erasures WHERE client = ?1"
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
	/* The client's operations, as erase_keep_hashes (server_store.c) reads
	 * them: a record's operations all carry its client. */
	[S_ERASE_OPS_OF] = "SELECT ver, hash, device, seq, hlc, kind, entity, kv, field, value, sup,"
	                   " team, client FROM ops"
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
	[S_MOVE_PUT] = "INSERT OR IGNORE INTO moves(client, team, to_team, at, sig)"
	               " VALUES(?1, ?2, ?3, ?4, ?5)",
	/* The old team's copies of a moved client's key; the office's stay. */
	[S_MOVE_ENVELOPES] = "DELETE FROM envelopes WHERE client = ?1 AND \"to\" != 'office'",
	[S_TEAM_KNOWN] = "SELECT count(*) FROM team_keys WHERE team = ?1",
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
	[SQ_CURSORS_BUMP] = "UPDATE sqlite_sequence SET seq = ?1 WHERE seq < ?1 AND name IN"
	                    " ('feed', 'envelopes', 'audit_log', 'erasures', 'notices')",
	[SQ_CURSORS_ADD] = "INSERT INTO sqlite_sequence(name, seq) SELECT t, ?1 FROM (SELECT 'feed' AS t"
	                   " UNION ALL SELECT 'envelopes' UNION ALL SELECT 'audit_log'"
	                   " UNION ALL SELECT 'erasures' UNION ALL SELECT 'notices')"
	                   " WHERE t NOT IN (SELECT name FROM sqlite_sequence)",
	[SQ_NONCE_OLD] = "SELECT device, nonce, time FROM nonces WHERE time >= ?1",
	[SQ_NONCE_OLD_CLEAR] = "DELETE FROM nonces",
	[SQ_BEGIN] = "BEGIN IMMEDIATE",
	[SQ_BEGIN_READ] = "BEGIN",
	[SQ_COMMIT] = "COMMIT",
	[SQ_ROLLBACK] = "ROLLBACK",
};

struct sq_st {
	struct veld__sqlst h;
	sqlite3_stmt *st;
};

/* A connection: the writer or one of the readers. */
struct sq_conn {
	struct veld__sqlconn c;
	sqlite3 *db;
	struct sq_st st[SQ__COUNT];
	int bind_rc; /* a bind that failed since the last step (query, step) */
	struct sq_store *store;
};

struct sq_store {
	struct veld__sqlstore s;
	struct sq_conn writer;
	struct sq_conn *readers;
	size_t nreaders;
	unsigned next_reader;
	struct veld__nonces *nonces;
};

static const struct veld__sqldrv sqlite_drv;

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

/* Statement i, reset, with ?1, ?2, ... bound from `types` (server_store.c
 * lists the letters). */
static struct veld__sqlst *sq_query(struct veld__sqlconn *base, int i, const char *types,
                                    va_list ap)
{
	struct sq_conn *c = (struct sq_conn *)base;
	sqlite3_stmt *st = c->st[i].st;
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
		if (rc != SQLITE_OK && c->bind_rc == SQLITE_OK)
			c->bind_rc = rc;
	}
	return &c->st[i].h;
}

static struct veld__sqlst *sq_q(struct sq_conn *c, int i, const char *types, ...)
{
	struct veld__sqlst *st;
	va_list ap;
	va_start(ap, types);
	st = sq_query(&c->c, i, types, ap);
	va_end(ap);
	return st;
}

/* sqlite3_step, unless a bind of the last query failed: then its error. */
static int sq_step(struct veld__sqlconn *base, struct veld__sqlst *h)
{
	struct sq_conn *c = (struct sq_conn *)base;
	int rc = c->bind_rc;
	c->bind_rc = SQLITE_OK;
	if (rc == SQLITE_OK)
		rc = sqlite3_step(((struct sq_st *)h)->st);
	if (rc == SQLITE_ROW)
		return VELD__SQL_ROW;
	if (rc == SQLITE_DONE)
		return VELD__SQL_DONE;
	return veld__err_sqlite(rc, "the server database");
}

static void sq_reset(struct veld__sqlst *h)
{
	sqlite3_reset(((struct sq_st *)h)->st);
}

/* Step a statement to its end, then reset it. */
static int sq_run(struct sq_conn *c, struct veld__sqlst *st)
{
	int rc = sq_step(&c->c, st);
	sq_reset(st);
	return rc < 0 ? rc : VELD_OK;
}

static int sq_col_null(struct veld__sqlst *h, int i)
{
	return sqlite3_column_type(((struct sq_st *)h)->st, i) == SQLITE_NULL;
}

static uint64_t sq_col_u64(struct veld__sqlst *h, int i)
{
	return (uint64_t)sqlite3_column_int64(((struct sq_st *)h)->st, i);
}

static const void *sq_col_blob(struct veld__sqlst *h, int i, size_t *n)
{
	sqlite3_stmt *st = ((struct sq_st *)h)->st;
	const void *p = sqlite3_column_blob(st, i);
	*n = (size_t)sqlite3_column_bytes(st, i);
	return p;
}

static const char *sq_col_text(struct veld__sqlst *h, int i)
{
	return (const char *)sqlite3_column_text(((struct sq_st *)h)->st, i);
}

static uint64_t sq_changes(struct veld__sqlconn *base)
{
	return (uint64_t)sqlite3_changes(((struct sq_conn *)base)->db);
}

/* The writer, or a reader for one read: a free one if there is, else the
 * next in turn, waited for (reads wait only for reads). */
static struct veld__sqlconn *sq_take(struct veld__sqlstore *base, int write)
{
	struct sq_store *s = (struct sq_store *)base;
	unsigned start;
	if (write) {
		pthread_mutex_lock(&s->writer.c.mu);
		return &s->writer.c;
	}
	start = __atomic_fetch_add(&s->next_reader, 1, __ATOMIC_RELAXED);
	for (size_t i = 0; i < s->nreaders; i++) {
		struct sq_conn *r = &s->readers[(start + i) % s->nreaders];
		if (pthread_mutex_trylock(&r->c.mu) == 0)
			return &r->c;
	}
	struct sq_conn *r = &s->readers[start % s->nreaders];
	pthread_mutex_lock(&r->c.mu);
	return &r->c;
}

static void sq_give(struct veld__sqlconn *c)
{
	pthread_mutex_unlock(&c->mu);
}

static int sq_begin(struct veld__sqlconn *base, int write)
{
	struct sq_conn *c = (struct sq_conn *)base;
	return sq_run(c, sq_q(c, write ? SQ_BEGIN : SQ_BEGIN_READ, ""));
}

/* Roll back whatever happened. Should the ROLLBACK fail (a statement left
 * running), every statement is reset and it is tried again: a reader must
 * not keep an old snapshot, which would also hold back the WAL's
 * checkpoints. */
static int sq_rollback(struct sq_conn *c)
{
	int rc;
	if (sqlite3_get_autocommit(c->db))
		return VELD_OK;
	if ((rc = sq_run(c, sq_q(c, SQ_ROLLBACK, ""))) == VELD_OK || sqlite3_get_autocommit(c->db))
		return rc;
	for (sqlite3_stmt *p = sqlite3_next_stmt(c->db, NULL); p; p = sqlite3_next_stmt(c->db, p))
		sqlite3_reset(p);
	rc = sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	return rc == SQLITE_OK ? VELD_OK : veld__err_sqlite(rc, "rolling back");
}

static int sq_end(struct veld__sqlconn *base, int commit)
{
	struct sq_conn *c = (struct sq_conn *)base;
	int rc;
	if (!commit)
		return sq_rollback(c);
	if ((rc = sq_run(c, sq_q(c, SQ_COMMIT, ""))) != VELD_OK)
		(void)sq_rollback(c);
	return rc;
}

/* SQLite has nothing another try would cure: one writer, and a busy
 * timeout for a checkpoint in the way. */
static int sq_retryable(struct veld__sqlconn *c)
{
	(void)c;
	return 0;
}

static int sq_nonce_seen(struct veld__sqlconn *base, const uint8_t device[16],
                         const uint8_t nonce[16], int *seen)
{
	return veld__nonces_seen(((struct sq_conn *)base)->store->nonces, device, nonce, seen);
}

static int sq_nonce_record(struct veld__sqlconn *base, const uint8_t device[16],
                           const uint8_t nonce[16], uint64_t time_ms, uint64_t now_ms,
                           int *fresh)
{
	return veld__nonces_record(((struct sq_conn *)base)->store->nonces, device, nonce, time_ms,
	                           now_ms, fresh);
}

/* Close one connection (its statements, then the database). */
static void conn_close(struct sq_conn *c)
{
	if (c->c.merge_open)
		veld__merge_close(&c->c.merge);
	for (int i = 0; i < SQ__COUNT; i++)
		sqlite3_finalize(c->st[i].st);
	sqlite3_close(c->db);
	pthread_mutex_destroy(&c->c.mu);
}

static void sq_close(struct veld__sqlstore *base)
{
	struct sq_store *s = (struct sq_store *)base;
	for (size_t i = 0; i < s->nreaders; i++)
		conn_close(&s->readers[i]);
	free(s->readers);
	/* The writer closes last: a clean close checkpoints the WAL into the
	 * database file when no reader is left. */
	conn_close(&s->writer);
	veld__nonces_close(s->nonces);
	free(s);
}

static const struct veld__sqldrv sqlite_drv = {
	.query = sq_query,
	.step = sq_step,
	.reset = sq_reset,
	.col_null = sq_col_null,
	.col_u64 = sq_col_u64,
	.col_blob = sq_col_blob,
	.col_text = sq_col_text,
	.changes = sq_changes,
	.take = sq_take,
	.give = sq_give,
	.begin = sq_begin,
	.end = sq_end,
	.retryable = sq_retryable,
	.nonce_seen = sq_nonce_seen,
	.nonce_record = sq_nonce_record,
	.close = sq_close,
};

/* ---- open ------------------------------------------------------------------------ */

/* Every start moves the feeds' next cursor to at least the wall clock
 * in milliseconds times 1024. A feed hands out one cursor per row, far
 * fewer than 1024 a millisecond, so a cursor issued during one run is below
 * the start of the next. That matters after a restore: an older backup's
 * counters would hand out again cursors that devices have already passed,
 * and those devices would skip what gets them. (It needs a clock that does
 * not go back.) */
static int cursors_past_now(struct sq_conn *c)
{
	struct timespec ts;
	uint64_t start;
	int rc;
	clock_gettime(CLOCK_REALTIME, &ts);
	start = ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000) * 1024;
	if ((rc = sq_begin(&c->c, 1)) != VELD_OK)
		return rc;
	rc = sq_run(c, sq_q(c, SQ_CURSORS_BUMP, "u", start));
	if (rc == VELD_OK)
		rc = sq_run(c, sq_q(c, SQ_CURSORS_ADD, "u", start));
	if (rc != VELD_OK) {
		(void)sq_rollback(c);
		return veld__err_prefix(rc, "setting the feeds' cursors");
	}
	return sq_end(&c->c, 1);
}

/* Nonces an older veld kept in server.db, still inside the window, move
 * to nonces.db, so an upgrade does not open a window for replays. */
static int nonces_carry_over(struct sq_store *s)
{
	struct sq_conn *c = &s->writer;
	struct veld__sqlst *st;
	struct timespec ts;
	uint64_t now, since;
	int fresh, rc;
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	since = now > VELD_AUTH_WINDOW_MS ? now - VELD_AUTH_WINDOW_MS : 0;
	st = sq_q(c, SQ_NONCE_OLD, "u", since);
	while ((rc = sq_step(&c->c, st)) == VELD__SQL_ROW) {
		uint8_t dev[VELD_ID_BYTES], nonce[16];
		size_t nd, nn;
		const void *pd = sq_col_blob(st, 0, &nd), *pn = sq_col_blob(st, 1, &nn);
		if (nd != sizeof dev || nn != sizeof nonce)
			continue; /* not a nonce this server wrote: nothing to keep */
		memcpy(dev, pd, sizeof dev);
		memcpy(nonce, pn, sizeof nonce);
		if ((rc = veld__nonces_record(s->nonces, dev, nonce, sq_col_u64(st, 2), now, &fresh)) !=
		    VELD_OK)
			break;
	}
	sq_reset(st);
	if (rc < 0)
		return veld__err_prefix(rc, "reading the old nonces");
	return sq_run(c, sq_q(c, SQ_NONCE_OLD_CLEAR, ""));
}

/* A connection's setup: busy timeout and the named statements; the writer
 * also sets up WAL and the schema (each migration in its own transaction,
 * so a crash mid-way leaves the previous version whole) before. */
static int conn_setup(struct sq_conn *c, int writer)
{
	int rc;
	sqlite3_extended_result_codes(c->db, 1);
	sqlite3_busy_timeout(c->db, 5000);
	if (writer) {
		/* Readers read while the writer commits: the WAL is copied back
		 * up to the oldest reader's snapshot and restarts once none
		 * needs it; after that it shrinks back to 64 MiB at most. */
		rc = sqlite3_exec(c->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
		                  " PRAGMA foreign_keys=ON; PRAGMA journal_size_limit=67108864;",
		                  NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			return veld__err_sqlite(rc, "configuring the server database");
		if ((rc = veld__merge_migrate(c->db, migrations, SERVER_SCHEMA_VERSION,
		                              "the server database")) != VELD_OK)
			return rc;
	} else if ((rc = sqlite3_exec(c->db, "PRAGMA query_only=ON;", NULL, NULL, NULL)) !=
	           SQLITE_OK) {
		return veld__err_sqlite(rc, "configuring a reader of the server database");
	}
	for (int i = 0; i < SQ__COUNT; i++) {
		c->st[i].h.drv = &sqlite_drv;
		rc = sqlite3_prepare_v3(c->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &c->st[i].st,
		                        NULL);
		if (rc != SQLITE_OK)
			return veld__err_sqlite(rc, "preparing the server statements");
	}
	return VELD_OK;
}

static int conn_open(struct sq_store *s, struct sq_conn *c, const char *path, int writer)
{
	int rc;
	c->c.drv = &sqlite_drv;
	c->c.store = &s->s;
	c->store = s;
	pthread_mutex_init(&c->c.mu, NULL);
	rc = sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK)
		return veld__err_sqlite(rc, "opening the server database");
	return conn_setup(c, writer);
}

int veld__sstore_sqlite_open(struct veld__sstore **out, const char *dir, size_t readers)
{
	struct sq_store *s;
	char path[4096];
	int rc;

	*out = NULL;
	if ((rc = veld__db_file(path, sizeof path, dir, "server.db", "the server database")) !=
	    VELD_OK)
		return rc;
	if (!(s = calloc(1, sizeof *s)))
		return veld__err(VELD_ENOMEM, "out of memory");
	s->s.base.ops = &veld__sql_rules;
	s->s.base.max_skew_ms = VELD_SRV_MAX_SKEW_MS;
	s->s.drv = &sqlite_drv;
	if (!(s->readers = calloc(readers ? readers : 1, sizeof *s->readers))) {
		free(s);
		return veld__err(VELD_ENOMEM, "out of memory");
	}
	if ((rc = conn_open(s, &s->writer, path, 1)) == VELD_OK &&
	    (rc = veld__nonces_open(&s->nonces, dir)) == VELD_OK &&
	    (rc = cursors_past_now(&s->writer)) == VELD_OK && (rc = nonces_carry_over(s)) == VELD_OK &&
	    (rc = veld__merge_open(&s->writer.c.merge, s->writer.db)) == VELD_OK)
		s->writer.c.merge_open = 1;
	while (rc == VELD_OK && s->nreaders < (readers ? readers : 1)) {
		struct sq_conn *r = &s->readers[s->nreaders];
		if ((rc = conn_open(s, r, path, 0)) != VELD_OK)
			conn_close(r);
		else
			s->nreaders++;
	}
	if (rc != VELD_OK) {
		sq_close(&s->s);
		return rc;
	}
	*out = &s->s.base;
	return VELD_OK;
}
