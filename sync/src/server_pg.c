/* server_pg.c - the server's central store on PostgreSQL: a driver of
 * server_sql.h, through libpq.
 *
 * The rules of every endpoint are server_store.c's; this file gives them
 * connections, the schema, and a text in PostgreSQL's dialect for every
 * statement they name. What it takes to keep server_store.h's promises
 * when several server processes share one database:
 *
 *  - A pool of connections, each able to read and to write, each with the
 *    merge rule open on it (pg_merge_prims, the statements of
 *    core/src/merge_sqlite.c in this dialect).
 *  - A write runs in READ COMMITTED and first takes a transaction-scoped
 *    advisory lock (PG_LOCK_WRITE) that every write of every process takes:
 *    one writer at a time on the database, and the lock goes only once the
 *    commit is visible. So every statement of a write sees every earlier
 *    write, as the rules' checks need.
 *  - A feed's cursors come from its counter row in `cursors`, advanced
 *    under that lock: cursors are handed out in commit order and become
 *    visible in it. A sequence would not do: it hands out numbers at once
 *    and transactions commit them in any order, so a reader could pass a
 *    cursor that a slower transaction then commits below it.
 *  - A read runs in REPEATABLE READ, READ ONLY: one snapshot, and it never
 *    waits for a write.
 *  - Nonces live in the same database (table nonces): recorded inside a
 *    write's transaction, or in a statement of their own after a read.
 *  - A statement is prepared on a connection at its first use there, with
 *    its parameters and results in binary.
 *  - A failure another try may cure (a serialisation failure, a deadlock,
 *    a lock not granted, a connection lost before COMMIT was sent) is
 *    retryable; a lost connection is opened again at its next use.
 *
 * schema_version(version) holds the schema's version. Each migration runs
 * in its own transaction under another advisory lock (PG_LOCK_MIGRATE),
 * so processes that start at once on an empty database migrate it once.
 */
#include "auth.h"
#include "error.h"
#include "server_sql.h"

#include <libpq-fe.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The advisory lock keys: "veldW" and "veldM" as big-endian integers; any
 * numbers do that nothing else on the database takes. */
#define PG_LOCK_WRITE VELD__PG_LOCK_WRITE
#define PG_LOCK_MIGRATE "508507743309"

#define PG_SCHEMA_VERSION 2
/* The most parameters of a statement (ops has 14 columns). */
#define PG_MAX_PARAMS 16
/* How often, at most, a store deletes old nonces. */
#define PRUNE_EVERY_MS (60u * 1000u)

/* Type OIDs of parameters and columns (catalog/pg_type_d.h is a server
 * header). */
#define BYTEAOID 17
#define INT8OID 20
#define INT2OID 21
#define INT4OID 23
#define TEXTOID 25
#define BOOLOID 16

/* ---- schema ---------------------------------------------------------------------- */

/* Version 1: the whole schema of server_sqlite.c's version 5 (the merge
 * tables of veld__merge_schema first), with the nonces of nonces.db here
 * too, and the feeds' counters. INTEGER is bigint, BLOB bytea; a feed's
 * cursor is a plain key its counter gives. */
static const char schema_v1[] =
	"CREATE TABLE ops(device bytea NOT NULL, seq bigint NOT NULL, hlc bigint NOT NULL,"
	"  kind text NOT NULL, entity bytea NOT NULL, client bytea NOT NULL, team text NOT NULL,"
	"  kv bigint NOT NULL, field text NOT NULL, value bytea, sup bytea, hash bytea NOT NULL,"
	"  head bigint NOT NULL DEFAULT 1, ver bigint NOT NULL DEFAULT 1,"
	"  PRIMARY KEY(device, seq));"
	"CREATE INDEX ops_entity ON ops(entity, field);"
	"CREATE TABLE superseded(device bytea NOT NULL, seq bigint NOT NULL, entity bytea NOT NULL,"
	"  field text NOT NULL, PRIMARY KEY(device, seq, entity, field));"
	"CREATE TABLE entities(entity bytea PRIMARY KEY, kind text NOT NULL, client bytea NOT NULL,"
	"  team text NOT NULL, created bigint NOT NULL);"
	"CREATE INDEX entities_kind ON entities(kind, client);"
	"CREATE INDEX entities_client ON entities(client);"
	"CREATE TABLE erased(client bytea PRIMARY KEY, at bigint NOT NULL);"
	"CREATE TABLE conflicts(entity bytea NOT NULL, field text NOT NULL,"
	"  PRIMARY KEY(entity, field));"
	"CREATE TABLE devices(device bytea PRIMARY KEY, sign_pk bytea NOT NULL,"
	"  box_pk bytea NOT NULL, team text NOT NULL, role text NOT NULL, label text NOT NULL,"
	"  enrolled bigint NOT NULL, revoked bigint, last_seq bigint NOT NULL DEFAULT 0,"
	"  auth bytea, proof bytea);"
	"CREATE TABLE invites(auth bytea PRIMARY KEY, team text NOT NULL, role text NOT NULL,"
	"  expires bigint NOT NULL, tv bigint NOT NULL, team_sealed bytea, used bigint);"
	"CREATE TABLE nonces(device bytea NOT NULL, nonce bytea NOT NULL, time bigint NOT NULL,"
	"  PRIMARY KEY(device, nonce));"
	"CREATE INDEX nonces_time ON nonces(time);"
	"CREATE TABLE feed(cursor bigint PRIMARY KEY, device bytea NOT NULL, seq bigint NOT NULL,"
	"  team text NOT NULL, client bytea NOT NULL, UNIQUE(device, seq));"
	"CREATE INDEX feed_team ON feed(team, cursor);"
	"CREATE INDEX feed_device ON feed(device, cursor);"
	"CREATE TABLE batches(device bytea NOT NULL, first bigint NOT NULL, last bigint NOT NULL,"
	"  sig bytea NOT NULL, ver bigint NOT NULL DEFAULT 1, PRIMARY KEY(device, first, last));"
	"CREATE INDEX batches_last ON batches(device, last);"
	"CREATE TABLE envelopes(cursor bigint PRIMARY KEY, client bytea NOT NULL, kv bigint NOT NULL,"
	"  \"to\" text NOT NULL, tv bigint NOT NULL, sealed bytea NOT NULL, team text,"
	"  \"from\" bytea, sig bytea, UNIQUE(client, kv, \"to\", tv, sealed));"
	"CREATE INDEX envelopes_to ON envelopes(\"to\", cursor);"
	"CREATE TABLE team_keys(team text NOT NULL, tv bigint NOT NULL, pk bytea NOT NULL,"
	"  sig bytea, PRIMARY KEY(team, tv));"
	"CREATE TABLE team_key_sealed(team text NOT NULL, tv bigint NOT NULL, device bytea NOT NULL,"
	"  sealed bytea NOT NULL, PRIMARY KEY(team, tv, device));"
	"CREATE INDEX team_key_sealed_device ON team_key_sealed(device);"
	"CREATE TABLE clients(client bytea PRIMARY KEY, team text NOT NULL);"
	"CREATE TABLE audit_log(cursor bigint PRIMARY KEY, device bytea NOT NULL,"
	"  seq bigint NOT NULL, sealed bytea NOT NULL, sig bytea NOT NULL, arrived bigint NOT NULL,"
	"  UNIQUE(device, seq));"
	"CREATE TABLE erasures(cursor bigint PRIMARY KEY, client bytea UNIQUE NOT NULL,"
	"  team text NOT NULL, at bigint NOT NULL, sig bytea NOT NULL);"
	"CREATE INDEX erasures_team ON erasures(team, cursor);"
	"CREATE TABLE erased_ops(device bytea NOT NULL, seq bigint NOT NULL, hash bytea NOT NULL,"
	"  team text, client bytea, kh bytea, PRIMARY KEY(device, seq));"
	"CREATE TABLE field_policy(team text PRIMARY KEY, at bigint NOT NULL, mask bigint NOT NULL,"
	"  sig bytea NOT NULL);"
	"CREATE TABLE notices(cursor bigint PRIMARY KEY, team text NOT NULL, n bigint NOT NULL,"
	"  kind text NOT NULL, at bigint NOT NULL, body bytea NOT NULL, sig bytea NOT NULL,"
	"  UNIQUE(team, n));"
	"CREATE INDEX notices_team ON notices(team, cursor);"
	"CREATE TABLE checkpoints(team text PRIMARY KEY, at bigint NOT NULL, n bigint NOT NULL,"
	"  heads bytea NOT NULL, sig bytea NOT NULL);"
	"CREATE TABLE cursors(feed text PRIMARY KEY, last bigint NOT NULL);"
	"INSERT INTO cursors(feed, last) VALUES ('feed', 0), ('envelopes', 0), ('audit_log', 0),"
	"  ('erasures', 0), ('notices', 0);";

/* Version 2 (server_sqlite.c's version 6): clients moved to another team
 * (a move notice): their operations stay, whole for the office, as stubs
 * for workers. */
static const char schema_v2[] =
	"CREATE TABLE moves(client bytea PRIMARY KEY, team text NOT NULL, to_team text NOT NULL,"
	"  at bigint NOT NULL, sig bytea NOT NULL);";

static const char *const migrations[PG_SCHEMA_VERSION] = {schema_v1, schema_v2};

/* ---- statements ------------------------------------------------------------------ */

/* The driver's own statements, numbered after the rules' (server_sql.h):
 * the merge primitives', the nonces', and the cursors' at start. */
enum {
	M_OP_HASH = S__COUNT, M_OP_INSERT, M_OP_UNHEAD, M_OP_ANY, M_SUP_CHECK, M_SUP_INSERT,
	M_ENTITY_GET, M_ENTITY_UPSERT, M_ERASED_CHECK, M_HEAD_COUNT, M_CONFLICT_ADD,
	M_CONFLICT_DEL,
	P_NONCE_GET, P_NONCE_PUT, P_NONCE_PRUNE, P_CURSORS_PAST_NOW,
	ST__COUNT
};

#define DEV_COLS VELD__SQL_DEV_COLS
#define OP_COLS VELD__SQL_OP_COLS
#define FEED_COLS VELD__SQL_FEED_COLS
#define FEED_JOIN VELD__SQL_FEED_JOIN
#define NOTICE_COLS VELD__SQL_NOTICE_COLS
/* The next cursor of a feed, for the INSERT ... SELECT last ... FROM c
 * that follows: its counter row, locked until the commit. */
#define NEXT_CURSOR(feed) \
	"WITH c AS (UPDATE cursors SET last = last + 1 WHERE feed = '" feed "' RETURNING last) "

static const char *const pg_sql[S__COUNT] = {
	[S_DEV_GET] = "SELECT " DEV_COLS " FROM devices WHERE device = $1",
	[S_DEV_INSERT] = "INSERT INTO devices(" DEV_COLS ") VALUES($1,$2,$3,$4,$5,$6,$7,NULL,0,$8,$9)",
	[S_DEV_SET_LAST] = "UPDATE devices SET last_seq = $2 WHERE device = $1",
	[S_DEV_REVOKE] = "UPDATE devices SET revoked = $2 WHERE device = $1 AND revoked IS NULL",
	[S_DEV_OFFICE] = "SELECT " DEV_COLS " FROM devices WHERE role = 'office'"
	                 " ORDER BY enrolled LIMIT 1",
	[S_DEV_LIST] = "SELECT " DEV_COLS " FROM devices ORDER BY enrolled, device",
	[S_INV_GET] = "SELECT team, role, expires, tv, team_sealed, used FROM invites WHERE auth = $1",
	[S_INV_PUT] = "INSERT INTO invites(auth, team, role, expires, tv, team_sealed, used)"
	              " VALUES($1, $2, $3, $4, $5, $6, NULL)",
	[S_INV_USE] = "UPDATE invites SET used = $2 WHERE auth = $1 AND used IS NULL",
	[S_INV_OFFICE_LIVE] = "SELECT 1 FROM invites WHERE role = 'office' AND used IS NULL"
	                      " AND expires > $1 LIMIT 1",
	[S_OP_HASH] = "SELECT hash, 0 FROM ops WHERE device = $1 AND seq = $2"
	              " UNION ALL SELECT hash, 1 FROM erased_ops WHERE device = $1 AND seq = $2"
	              " LIMIT 1",
	[S_FEED_PUT] = NEXT_CURSOR("feed") "INSERT INTO feed(cursor, device, seq, team, client)"
	               " SELECT last, $1, $2, $3, $4 FROM c",
	[S_FEED_ALL] = "SELECT " FEED_COLS " FROM feed f" FEED_JOIN
	               " WHERE f.cursor > $1 ORDER BY f.cursor LIMIT $2",
	[S_FEED_TEAM] = "SELECT " FEED_COLS " FROM feed f" FEED_JOIN
	                " WHERE f.team = $3 AND f.cursor > $1 ORDER BY f.cursor LIMIT $2",
	[S_FEED_OFFICE] = "SELECT " FEED_COLS " FROM feed f" FEED_JOIN
	                  " WHERE f.device = $3 AND f.cursor > $1 ORDER BY f.cursor LIMIT $2",
	[S_BATCH_PUT] = "INSERT INTO batches(device, first, last, sig, ver) VALUES($1,$2,$3,$4,$5)"
	                " ON CONFLICT DO NOTHING",
	[S_BATCH_FIND] = "SELECT first, last, sig, ver FROM batches WHERE device = $1 AND last >= $2"
	                 " AND first <= $2 ORDER BY last LIMIT 1",
	[S_BATCH_HASHES] = "SELECT seq, hash FROM ops WHERE device = $1 AND seq BETWEEN $2 AND $3"
	                   " UNION ALL SELECT seq, hash FROM erased_ops WHERE device = $1"
	                   " AND seq BETWEEN $2 AND $3 ORDER BY 1",
	[S_CLIENT_GET] = "SELECT team, 0, (SELECT count(*) FROM moves WHERE client = $1)"
	                 " FROM clients WHERE client = $1"
	                 " UNION ALL SELECT team, 1, 0 FROM erasures WHERE client = $1"
	                 " ORDER BY 2 DESC LIMIT 1",
	[S_CLIENT_PUT] = "INSERT INTO clients(client, team) VALUES($1, $2) ON CONFLICT DO NOTHING",
	[S_ENTITY_GET] = "SELECT kind, client FROM entities WHERE entity = $1",
	/* The same envelope again changes nothing (its cursor number is
	 * spent, which no one notices: cursors only have to grow). */
	[S_ENV_PUT] = NEXT_CURSOR("envelopes") "INSERT INTO envelopes(cursor, client, kv, \"to\", tv,"
	              " sealed, team, \"from\", sig) SELECT last, $1, $2, $3, $4, $5, $6, $7, $8 FROM c"
	              " ON CONFLICT DO NOTHING",
	[S_ENV_PAGE] = "SELECT cursor, client, kv, \"to\", tv, sealed, \"from\", sig FROM envelopes"
	               " WHERE \"to\" = $1 AND cursor > $2 ORDER BY cursor LIMIT $3",
	[S_TK_CURRENT] = "SELECT max(tv) FROM team_keys WHERE team = $1",
	[S_TK_GET] = "SELECT pk FROM team_keys WHERE team = $1 AND tv = $2",
	[S_TK_PUT] = "INSERT INTO team_keys(team, tv, pk, sig) VALUES($1, $2, $3, $4)",
	[S_TKS_PUT] = "INSERT INTO team_key_sealed(team, tv, device, sealed) VALUES($1, $2, $3, $4)"
	              " ON CONFLICT (team, tv, device) DO UPDATE SET sealed = excluded.sealed",
	/* Teams in byte order, as SQLite sorts them, whatever the database's
	 * collation. */
	[S_TKS_DEVICE] = "SELECT s.team, s.tv, k.pk, s.sealed, k.sig FROM team_key_sealed s"
	                 " JOIN team_keys k ON k.team = s.team AND k.tv = s.tv"
	                 " WHERE s.device = $1 ORDER BY s.tv DESC, s.team COLLATE \"C\" LIMIT 1000",
	[S_AUDIT_LAST] = "SELECT max(seq) FROM audit_log WHERE device = $1",
	[S_AUDIT_PUT] = NEXT_CURSOR("audit_log") "INSERT INTO audit_log(cursor, device, seq, sealed,"
	                " sig, arrived) SELECT last, $1, $2, $3, $4, $5 FROM c",
	[S_AUDIT_PAGE] = "SELECT cursor, device, seq, sealed, sig FROM audit_log WHERE cursor > $1"
	                 " ORDER BY cursor LIMIT $2",
	[S_ERASED_OP_PUT] = "INSERT INTO erased_ops(device, seq, hash, team, client, kh)"
	                    " VALUES($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
	[S_ERASE_PUT] = NEXT_CURSOR("erasures") "INSERT INTO erasures(cursor, client, team, at, sig)"
	                " SELECT last, $1, $2, $3, $4 FROM c",
	[S_ERASE_OPS_OF] = "SELECT ver, hash, device, seq, hlc, kind, entity, kv, field, value, sup,"
	                   " team, client FROM ops"
	                   " WHERE entity IN (SELECT entity FROM entities WHERE client = $1)",
	[S_ERASE_OPS] = "DELETE FROM ops WHERE entity IN (SELECT entity FROM entities WHERE client = $1)",
	[S_ERASE_SUPERSEDED] = "DELETE FROM superseded WHERE entity IN"
	                       " (SELECT entity FROM entities WHERE client = $1)",
	[S_ERASE_CONFLICTS] = "DELETE FROM conflicts WHERE entity IN"
	                      " (SELECT entity FROM entities WHERE client = $1)",
	[S_ERASE_ENTITIES] = "DELETE FROM entities WHERE client = $1",
	[S_ERASE_CLIENT] = "DELETE FROM clients WHERE client = $1",
	[S_ERASE_ENVELOPES] = "DELETE FROM envelopes WHERE client = $1",
	[S_ERASE_MERGE] = "INSERT INTO erased(client, at) VALUES($1, $2) ON CONFLICT DO NOTHING",
	[S_POLICY_GET] = "SELECT at, mask FROM field_policy WHERE team = $1",
	[S_POLICY_PUT] = "INSERT INTO field_policy(team, at, mask, sig) VALUES($1, $2, $3, $4)"
	                 " ON CONFLICT (team) DO UPDATE SET at = excluded.at, mask = excluded.mask,"
	                 " sig = excluded.sig",
	[S_MOVE_PUT] = "INSERT INTO moves(client, team, to_team, at, sig) VALUES($1, $2, $3, $4, $5)"
	               " ON CONFLICT DO NOTHING",
	/* The old team's copies of a moved client's key; the office's stay. */
	[S_MOVE_ENVELOPES] = "DELETE FROM envelopes WHERE client = $1 AND \"to\" != 'office'",
	[S_TEAM_KNOWN] = "SELECT count(*) FROM team_keys WHERE team = $1",
	[S_NOTICE_LAST] = "SELECT max(n) FROM notices WHERE team = $1",
	[S_NOTICE_GET] = "SELECT kind, at, body, sig FROM notices WHERE team = $1 AND n = $2",
	[S_NOTICE_PUT] = NEXT_CURSOR("notices") "INSERT INTO notices(cursor, team, n, kind, at, body,"
	                 " sig) SELECT last, $1, $2, $3, $4, $5, $6 FROM c",
	[S_NOTICE_PAGE_ALL] = "SELECT " NOTICE_COLS " FROM notices WHERE cursor > $1"
	                      " ORDER BY cursor LIMIT $2",
	[S_NOTICE_PAGE_TEAM] = "SELECT " NOTICE_COLS " FROM notices WHERE team = $3 AND cursor > $1"
	                       " ORDER BY cursor LIMIT $2",
	[S_CKPT_GET] = "SELECT at, n, heads, sig FROM checkpoints WHERE team = $1",
	/* Each team keeps its latest: an older one changes nothing. */
	[S_CKPT_PUT] = "INSERT INTO checkpoints(team, at, n, heads, sig) VALUES($1, $2, $3, $4, $5)"
	               " ON CONFLICT (team) DO UPDATE SET at = excluded.at, n = excluded.n,"
	               " heads = excluded.heads, sig = excluded.sig WHERE excluded.at > checkpoints.at",
};

static const char *const own_sql[ST__COUNT - S__COUNT] = {
	[M_OP_HASH - S__COUNT] = "SELECT hash FROM ops WHERE device = $1 AND seq = $2",
	/* An operation held already (device, seq) is not written again: the
	 * rule compares it (veld__merge_apply). */
	[M_OP_INSERT - S__COUNT] = "INSERT INTO ops(device, seq, hlc, kind, entity, client, team, kv,"
	                           " field, value, sup, hash, head, ver)"
	                           " VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)"
	                           " ON CONFLICT (device, seq) DO NOTHING",
	[M_OP_UNHEAD - S__COUNT] = "UPDATE ops SET head = 0 WHERE device = $1 AND seq = $2"
	                           " AND entity = $3 AND field = $4",
	[M_OP_ANY - S__COUNT] = "SELECT 1 FROM ops WHERE entity = $1 LIMIT 1",
	[M_SUP_CHECK - S__COUNT] = "SELECT 1 FROM superseded WHERE device = $1 AND seq = $2"
	                           " AND entity = $3 AND field = $4",
	[M_SUP_INSERT - S__COUNT] = "INSERT INTO superseded(device, seq, entity, field)"
	                            " VALUES($1, $2, $3, $4) ON CONFLICT DO NOTHING",
	[M_ENTITY_GET - S__COUNT] = "SELECT kind, client, team FROM entities WHERE entity = $1",
	[M_ENTITY_UPSERT - S__COUNT] = "INSERT INTO entities(entity, kind, client, team, created)"
	                               " VALUES($1, $2, $3, $4, $5) ON CONFLICT (entity) DO UPDATE"
	                               " SET created = excluded.created"
	                               " WHERE excluded.created < entities.created",
	[M_ERASED_CHECK - S__COUNT] = "SELECT 1 FROM erased WHERE client = $1",
	[M_HEAD_COUNT - S__COUNT] = "SELECT count(*) FROM ops WHERE entity = $1 AND field = $2"
	                            " AND head = 1",
	[M_CONFLICT_ADD - S__COUNT] = "INSERT INTO conflicts(entity, field) VALUES($1, $2)"
	                              " ON CONFLICT DO NOTHING",
	[M_CONFLICT_DEL - S__COUNT] = "DELETE FROM conflicts WHERE entity = $1 AND field = $2",
	[P_NONCE_GET - S__COUNT] = "SELECT 1 FROM nonces WHERE device = $1 AND nonce = $2",
	[P_NONCE_PUT - S__COUNT] = "INSERT INTO nonces(device, nonce, time) VALUES($1, $2, $3)"
	                           " ON CONFLICT DO NOTHING",
	/* A batch at a time, passing over rows another prune holds: a
	 * prune never waits for anyone. */
	[P_NONCE_PRUNE - S__COUNT] = "DELETE FROM nonces WHERE ctid = ANY(ARRAY(SELECT ctid"
	                             " FROM nonces WHERE time < $1 LIMIT 10000"
	                             " FOR UPDATE SKIP LOCKED))",
	[P_CURSORS_PAST_NOW - S__COUNT] = "UPDATE cursors SET last = greatest(last, $1)",
};

static const char *stmt_text(int i)
{
	return i < S__COUNT ? pg_sql[i] : own_sql[i - S__COUNT];
}

/* A statement of one connection: its parameters as query bound them, and
 * its result once the first step ran it. */
struct pg_st {
	struct veld__sqlst base; /* first: the rules hold this */
	PGresult *res;
	int row;      /* the current row of res */
	int prepared; /* in the connection's current session */
	int nparams;
	int bind_bad; /* a parameter query could not bind: step reports it */
	Oid types[PG_MAX_PARAMS];
	const char *values[PG_MAX_PARAMS];
	int lengths[PG_MAX_PARAMS];
	int formats[PG_MAX_PARAMS];
	unsigned char ints[PG_MAX_PARAMS][8]; /* the u parameters, big-endian */
};

struct pg_store;

/* One connection of the pool; `c` first, as the rules cast. */
struct pg_conn {
	struct veld__sqlconn c;
	PGconn *pg;
	struct pg_store *s;
	struct pg_st st[ST__COUNT];
	uint64_t changes; /* rows of the last statement that wrote */
	int retry;        /* the last failure may pass on another try */
	int committing;   /* a COMMIT was sent: if the connection dies, its fate is unknown */
	int bump;         /* a new session: move the cursors past the clock at its first write */
	int ended;        /* the server said it ends the session (notice_receive) */
};

struct pg_store {
	struct veld__sqlstore base;
	struct pg_conn *conns;
	size_t nconns;
	unsigned next;      /* where take starts looking (round robin) */
	uint64_t pruned_ms; /* when this store last deleted old nonces (atomic) */
};

/* ---- failures ---------------------------------------------------------------------- */

/* A failure by SQLSTATE: what it means, for a message (no value), and the
 * veld code. First match wins. */
static const struct {
	const char *prefix, *meaning;
	int code;
} states[] = {
	{"53100", "disk full; nothing was written", VELD_EIO},
	{"53200", "the database server is out of memory", VELD_EIO},
	{"53", "the database server lacks resources", VELD_EIO},
	{"08", "the connection to the database failed", VELD_EIO},
	{"57", "the database server ended the session", VELD_EIO},
	{"40001", "a serialisation failure", VELD_EIO},
	{"40P01", "a deadlock", VELD_EIO},
	{"55P03", "a lock was not granted in time", VELD_EIO},
	{"23505", "a unique constraint refused the row", VELD_EEXISTS},
	{"23", "a constraint refused the row", VELD_EEXISTS},
	{"XX001", "the database is damaged", VELD_ECORRUPT},
	{"XX002", "an index of the database is damaged", VELD_ECORRUPT},
	{"42", "the statement was refused (syntax, schema or privileges)", VELD_EIO},
	{"", "the database refused it", VELD_EIO},
};

static int retryable_state(const char *state)
{
	return strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
	       strcmp(state, "55P03") == 0;
}

/* Report a failure of `what` on the connection (r its result, NULL when
 * libpq made none): the veld code, a message with the SQLSTATE and the
 * constraint if any (names of the schema, never a value), the SQLSTATE for
 * the server's log (veld__err_sqlstate), and whether another try may pass.
 * A connection that is gone without a SQLSTATE counts as 08006 (connection
 * failure). */
static int fail(struct pg_conn *c, const PGresult *r, const char *what)
{
	const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	const char *constraint = PQresultErrorField(r, PG_DIAG_CONSTRAINT_NAME);
	int lost = PQstatus(c->pg) == CONNECTION_BAD || c->ended, rc;
	size_t k = 0;
	/* What the database server says goes into messages: only the names
	 * of the schema's own alphabet (a server that is not ours, or a
	 * connection someone altered, says what it likes). */
	if (state && (strlen(state) != 5 || strspn(state, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") != 5))
		state = "XX000";
	if (constraint && (strlen(constraint) > 63 ||
	                   constraint[strspn(constraint, "abcdefghijklmnopqrstuvwxyz0123456789_")]))
		constraint = NULL;
	if (!state)
		state = lost ? "08006" : "";
	c->retry = (lost && !c->committing) || retryable_state(state);
	while (strncmp(state, states[k].prefix, strlen(states[k].prefix)) != 0)
		k++;
	if (!r && !lost)
		rc = veld__err(VELD_ENOMEM, "%s: out of memory", what);
	else if (!*state)
		rc = veld__err(VELD_EIO, "%s: the PostgreSQL client failed", what);
	else
		rc = veld__err(states[k].code, "%s: %s%s%s (SQLSTATE %s)", what, states[k].meaning,
		               constraint ? " on " : "", constraint ? constraint : "", state);
	veld__err_sqlstate(state);
	return rc;
}

/* What statement i does, for a message: its verb and first table
 * ("writing feed", "reading devices"). The texts hold no value, so naming
 * them leaks none. */
static void stmt_what(int i, char *out, size_t cap)
{
	static const struct {
		const char *key, *verb;
	} verbs[] = {
		{"INSERT INTO ", "writing"}, {"DELETE FROM ", "deleting from"},
		{"UPDATE ", "updating"},     {" FROM ", "reading"},
	};
	const char *sql = stmt_text(i), *p;
	for (size_t k = 0; k < sizeof verbs / sizeof verbs[0]; k++)
		if ((p = strstr(sql, verbs[k].key)) != NULL) {
			p += strlen(verbs[k].key);
			snprintf(out, cap, "%s %.*s", verbs[k].verb,
			         (int)strspn(p, "abcdefghijklmnopqrstuvwxyz_"), p);
			return;
		}
	snprintf(out, cap, "running a statement");
}

/* ---- connections ------------------------------------------------------------------- */

/* A new session on a lost connection: none of the statements is prepared
 * there. Should it fail, the connection stays lost and its next statement
 * fails as retryable. */
static void conn_reset(struct pg_conn *c)
{
	PQreset(c->pg);
	c->ended = 0;
	c->bump = 1;
	for (int i = 0; i < ST__COUNT; i++)
		c->st[i].prepared = 0;
}

/* Has the server ended this idle connection? A server that ends a session
 * (a restart, pg_terminate_backend) sends a FATAL error and closes it, and
 * libpq learns of it only when it next reads: reading what waits tells
 * (the error comes as a notice, the close as the end of the input). So a
 * pool whose server restarted finds each connection lost before it uses
 * it, not one failed request at a time. */
static int conn_lost(struct pg_conn *c)
{
	struct pollfd p = {PQsocket(c->pg), POLLIN, 0};
	for (int k = 0; k < 4 && PQstatus(c->pg) == CONNECTION_OK && p.fd >= 0 && poll(&p, 1, 0) == 1;
	     k++)
		if (!PQconsumeInput(c->pg))
			break;
	(void)PQisBusy(c->pg); /* parses what came: notices go to notice_receive */
	return PQstatus(c->pg) == CONNECTION_BAD || c->ended;
}

static void conn_heal(struct pg_conn *c)
{
	if (conn_lost(c))
		conn_reset(c);
}

/* A command without parameters (text results), with its failure reported
 * as `what`. */
static int command(struct pg_conn *c, const char *sql, const char *what)
{
	PGresult *r = PQexec(c->pg, sql);
	ExecStatusType t = PQresultStatus(r);
	int rc = t == PGRES_COMMAND_OK || t == PGRES_TUPLES_OK ? VELD_OK : fail(c, r, what);
	PQclear(r);
	return rc;
}

/* A command whose failure is no one's business (the caller copes). */
static int quiet(struct pg_conn *c, const char *sql)
{
	PGresult *r = PQexec(c->pg, sql);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	PQclear(r);
	return ok;
}

/* Out of any transaction, whatever happened: ROLLBACK, or if even that
 * fails, a new session (the server rolls back what the old one left). The
 * last failure's error and retry flag stay. */
static void tx_out(struct pg_conn *c)
{
	PGTransactionStatusType t = PQtransactionStatus(c->pg);
	if (t == PQTRANS_IDLE)
		return;
	if (t != PQTRANS_UNKNOWN && quiet(c, "ROLLBACK") &&
	    PQtransactionStatus(c->pg) == PQTRANS_IDLE)
		return;
	conn_reset(c);
}

/* ---- the driver: statements ---------------------------------------------------------- */

static struct pg_st *ps(struct veld__sqlst *st)
{
	return (struct pg_st *)st;
}

static void pg_reset(struct veld__sqlst *st)
{
	PQclear(ps(st)->res);
	ps(st)->res = NULL;
}

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

/* Parameter k: binary, of type `type`; a NULL `v` is SQL NULL. */
static void param_set(struct pg_st *st, int k, Oid type, const void *v, size_t n)
{
	st->types[k] = type;
	st->values[k] = v;
	st->lengths[k] = (int)n;
	st->formats[k] = 1;
	if (n > INT_MAX)
		st->bind_bad = 1;
}

/* The letters are server_store.c's (vquery): i k g e b bytea, u int8,
 * t text. The u values are copied; blobs and texts are not. */
static struct veld__sqlst *pg_query(struct veld__sqlconn *cc, int i, const char *types,
                                    va_list ap)
{
	struct pg_st *st = &((struct pg_conn *)cc)->st[i];
	pg_reset(&st->base);
	st->nparams = 0;
	st->bind_bad = 0;
	for (; *types && !st->bind_bad; types++) {
		int k = st->nparams++;
		if (k == PG_MAX_PARAMS) {
			st->bind_bad = 1;
		} else if (*types == 'u') {
			uint64_t v = va_arg(ap, uint64_t);
			for (int b = 0; b < 8; b++)
				st->ints[k][b] = (unsigned char)(v >> (56 - 8 * b));
			param_set(st, k, INT8OID, st->ints[k], 8);
		} else if (*types == 't') {
			const char *t = va_arg(ap, const char *);
			param_set(st, k, TEXTOID, t, t ? strlen(t) : 0);
		} else if (*types == 'b') {
			const void *p = va_arg(ap, const void *);
			param_set(st, k, BYTEAOID, p, va_arg(ap, size_t));
		} else if (blob_size(*types)) {
			param_set(st, k, BYTEAOID, va_arg(ap, const void *), blob_size(*types));
		} else {
			st->bind_bad = 1; /* a letter this driver does not know */
		}
	}
	return &st->base;
}

/* Rows a write changed: PQcmdTuples of an INSERT, UPDATE or DELETE (a
 * SELECT leaves the count of the last write, as in SQLite). */
static void note_changes(struct pg_conn *c, PGresult *r)
{
	const char *tag = PQcmdStatus(r);
	if (strncmp(tag, "INSERT ", 7) == 0 || strncmp(tag, "UPDATE ", 7) == 0 ||
	    strncmp(tag, "DELETE ", 7) == 0)
		c->changes = strtoull(PQcmdTuples(r), NULL, 10);
}

/* Run a bound statement: prepared first if the session has not seen it.
 * st->res is its result, or the failure's (NULL if libpq had no memory).
 * 0 when it ran, -1 when not; nothing is reported. */
static int st_execute(struct pg_conn *c, struct pg_st *st)
{
	int i = (int)(st - c->st);
	char name[16];
	snprintf(name, sizeof name, "veld%d", i);
	if (!st->prepared) {
		st->res = PQprepare(c->pg, name, stmt_text(i), st->nparams, st->types);
		if (PQresultStatus(st->res) != PGRES_COMMAND_OK)
			return -1;
		PQclear(st->res);
		st->prepared = 1;
	}
	st->res = PQexecPrepared(c->pg, name, st->nparams, st->values, st->lengths, st->formats, 1);
	st->row = 0;
	if (PQresultStatus(st->res) != PGRES_TUPLES_OK && PQresultStatus(st->res) != PGRES_COMMAND_OK)
		return -1;
	note_changes(c, st->res);
	return 0;
}

/* The first step runs the statement and stands on its first row; later
 * ones move on. */
static int pg_step(struct veld__sqlconn *cc, struct veld__sqlst *base)
{
	struct pg_conn *c = (struct pg_conn *)cc;
	struct pg_st *st = ps(base);
	char what[64];
	if (st->res) {
		st->row++;
	} else if (st->bind_bad || st_execute(c, st) != 0) {
		int rc;
		stmt_what((int)(st - c->st), what, sizeof what);
		rc = st->bind_bad ? veld__err(VELD_ERROR, "%s: a parameter cannot be bound", what)
		                  : fail(c, st->res, what);
		pg_reset(base);
		return rc;
	}
	return st->row < PQntuples(st->res) ? VELD__SQL_ROW : VELD__SQL_DONE;
}

static int pg_col_null(struct veld__sqlst *base, int i)
{
	struct pg_st *st = ps(base);
	return !st->res || PQgetisnull(st->res, st->row, i);
}

/* An integer column: int2, int4, int8 (sign-extended, as SQLite's are) or
 * bool; 0 for NULL or another type. */
static uint64_t pg_col_u64(struct veld__sqlst *base, int i)
{
	struct pg_st *st = ps(base);
	const unsigned char *p;
	uint64_t v = 0;
	int n, size;
	if (pg_col_null(base, i))
		return 0;
	switch (PQftype(st->res, i)) {
	case BOOLOID: size = 1; break;
	case INT2OID: size = 2; break;
	case INT4OID: size = 4; break;
	case INT8OID: size = 8; break;
	default: return 0;
	}
	p = (const unsigned char *)PQgetvalue(st->res, st->row, i);
	if ((n = PQgetlength(st->res, st->row, i)) != size)
		return 0;
	for (int b = 0; b < n; b++)
		v = v << 8 | p[b];
	if (n > 1 && n < 8 && (p[0] & 0x80))
		v |= ~(uint64_t)0 << (8 * n);
	return v;
}

static const void *pg_col_blob(struct veld__sqlst *base, int i, size_t *n)
{
	struct pg_st *st = ps(base);
	if (pg_col_null(base, i)) {
		*n = 0;
		return NULL;
	}
	*n = (size_t)PQgetlength(st->res, st->row, i);
	return PQgetvalue(st->res, st->row, i);
}

/* libpq ends every value with a NUL, binary ones too. */
static const char *pg_col_text(struct veld__sqlst *base, int i)
{
	return pg_col_null(base, i) ? NULL : PQgetvalue(ps(base)->res, ps(base)->row, i);
}

static uint64_t pg_changes(struct veld__sqlconn *cc)
{
	return ((struct pg_conn *)cc)->changes;
}

/* The driver's own calls of the above. */
static struct veld__sqlst *q(struct pg_conn *c, int i, const char *types, ...)
{
	struct veld__sqlst *st;
	va_list ap;
	va_start(ap, types);
	st = pg_query(&c->c, i, types, ap);
	va_end(ap);
	return st;
}

/* Step to a statement's first row: 1 on it (the caller reads, then
 * resets), 0 when there is none, or an error; reset unless 1. */
static int first_row(struct pg_conn *c, struct veld__sqlst *st)
{
	int rc = pg_step(&c->c, st);
	if (rc != VELD__SQL_ROW)
		pg_reset(st);
	return rc == VELD__SQL_ROW ? 1 : rc;
}

/* Run a statement: 1 if it gave a row, 0 if not, or an error. */
static int run(struct pg_conn *c, struct veld__sqlst *st)
{
	int rc = first_row(c, st);
	if (rc == 1)
		pg_reset(st);
	return rc;
}

/* ---- the driver: connections and transactions ---------------------------------------- */

/* A free connection if there is one, else the next in turn, waited for. */
static struct veld__sqlconn *pg_take(struct veld__sqlstore *base, int write)
{
	struct pg_store *s = (struct pg_store *)base;
	unsigned start = __atomic_fetch_add(&s->next, 1, __ATOMIC_RELAXED);
	struct pg_conn *c = NULL;
	(void)write; /* every connection writes */
	for (size_t k = 0; k < s->nconns && !c; k++)
		if (pthread_mutex_trylock(&s->conns[(start + k) % s->nconns].c.mu) == 0)
			c = &s->conns[(start + k) % s->nconns];
	if (!c) {
		c = &s->conns[start % s->nconns];
		pthread_mutex_lock(&c->c.mu);
	}
	conn_heal(c);
	return &c->c;
}

static void pg_give(struct veld__sqlconn *c)
{
	pthread_mutex_unlock(&c->mu);
}

/* The wall clock in milliseconds times 1024: at least every feed's next
 * cursor at a start, and whenever a connection came back (cursors_past_now
 * says why; after a failover to a standby that had not received the last
 * commits, the cursors handed out since would otherwise come again). */
static uint64_t cursor_floor(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000) * 1024;
}

static int bump_cursors(struct pg_conn *c)
{
	int rc = run(c, q(c, P_CURSORS_PAST_NOW, "u", cursor_floor()));
	if (rc == VELD_OK && c->changes != 5)
		rc = veld__err(VELD_ECORRUPT, "the feeds' cursor counters are not all there");
	if (rc == VELD_OK)
		c->bump = 0;
	return rc;
}

/* A write waits for the write lock in its first statement, so the
 * statements after it see every write committed before. */
static int pg_begin(struct veld__sqlconn *cc, int write)
{
	struct pg_conn *c = (struct pg_conn *)cc;
	int rc;
	conn_heal(c);
	c->retry = 0;
	c->committing = 0;
	if (!write)
		return command(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "starting a read");
	/* The lock is waited for 5 s at most (55P03 is retryable): a server
	 * that stopped while it held it is cut off by the session's
	 * idle-in-transaction timeout (conn_open), not waited for. */
	rc = command(c, "BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL lock_timeout = '5s';"
	             " SELECT pg_advisory_xact_lock(" PG_LOCK_WRITE ")", "starting a write");
	if (rc == VELD_OK && c->bump)
		rc = bump_cursors(c);
	if (rc != VELD_OK)
		tx_out(c);
	return rc;
}

/* COMMIT. A transaction that failed earlier ends in a rollback that
 * PostgreSQL reports as a successful COMMIT of tag ROLLBACK: that is a
 * failure here. A connection found lost before COMMIT was sent failed
 * with nothing written (retryable); lost after, nobody knows. */
static int tx_commit(struct pg_conn *c)
{
	PGresult *r;
	int rc = VELD_OK;
	if (conn_lost(c)) {
		rc = fail(c, NULL, "committing");
	} else {
		c->committing = 1;
		r = PQexec(c->pg, "COMMIT");
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			rc = fail(c, r, "committing");
		else if (strcmp(PQcmdStatus(r), "COMMIT") != 0)
			rc = veld__err(VELD_ERROR,
			               "committing: the transaction had failed; nothing was written");
		PQclear(r);
		c->committing = 0;
	}
	tx_out(c);
	return rc;
}

/* A rollback cannot fail to undo (tx_out): it reports nothing. */
static int pg_end(struct veld__sqlconn *cc, int commit)
{
	struct pg_conn *c = (struct pg_conn *)cc;
	if (commit)
		return tx_commit(c);
	tx_out(c);
	return VELD_OK;
}

static int pg_retryable(struct veld__sqlconn *c)
{
	return ((struct pg_conn *)c)->retry;
}

/* ---- nonces ------------------------------------------------------------------------------ */

static int pg_nonce_seen(struct veld__sqlconn *cc, const uint8_t device[16],
                         const uint8_t nonce[16], int *seen)
{
	struct pg_conn *c = (struct pg_conn *)cc;
	int rc = run(c, q(c, P_NONCE_GET, "ii", device, nonce));
	*seen = rc == 1;
	return rc < 0 ? rc : VELD_OK;
}

/* Delete the nonces older than twice the authentication window, at most
 * once a minute a store, after a read (outside any transaction: never
 * under the write lock, and a batch at a time that skips rows another
 * prune holds, so it waits for no one). A failure loses nothing (it is
 * tried again next time) and does not fail the request. Servers' clocks
 * must agree within the window (they check requests' times with it too). */
static void nonces_prune(struct pg_conn *c, uint64_t now_ms)
{
	uint64_t last = __atomic_load_n(&c->s->pruned_ms, __ATOMIC_RELAXED), changes = c->changes;
	struct pg_st *st;
	int ok;
	if (PQtransactionStatus(c->pg) != PQTRANS_IDLE ||
	    now_ms <= 2 * (uint64_t)VELD_AUTH_WINDOW_MS || now_ms - last < PRUNE_EVERY_MS ||
	    !__atomic_compare_exchange_n(&c->s->pruned_ms, &last, now_ms, 0, __ATOMIC_RELAXED,
	                                 __ATOMIC_RELAXED))
		return; /* in a write, not due, or another connection of the store does it */
	st = ps(q(c, P_NONCE_PRUNE, "u", now_ms - 2 * (uint64_t)VELD_AUTH_WINDOW_MS));
	ok = st->bind_bad == 0 && st_execute(c, st) == 0;
	pg_reset(&st->base);
	if (!ok)
		__atomic_store_n(&c->s->pruned_ms, last, __ATOMIC_RELAXED);
	c->changes = changes; /* still the nonce's insert */
}

/* Record-if-absent: inside a write's transaction, or in a statement of its
 * own after a read. *fresh 0 when a copy of the request recorded it. */
static int pg_nonce_record(struct veld__sqlconn *cc, const uint8_t device[16],
                           const uint8_t nonce[16], uint64_t time_ms, uint64_t now_ms,
                           int *fresh)
{
	struct pg_conn *c = (struct pg_conn *)cc;
	int rc;
	/* After a read the insert commits on its own: lost on the way, it may
	 * have landed, and a retry would find its own nonce. */
	c->committing = PQtransactionStatus(c->pg) == PQTRANS_IDLE;
	rc = run(c, q(c, P_NONCE_PUT, "iiu", device, nonce, time_ms));
	c->committing = 0;
	*fresh = rc == 0 && c->changes == 1;
	if (rc < 0)
		return rc;
	nonces_prune(c, now_ms);
	return VELD_OK;
}

/* ---- merge primitives (merge.h), as core/src/merge_sqlite.c ------------------------------ */

static int pm_op_hash(void *db, const uint8_t device[16], uint64_t seq, uint8_t hash[32],
                      int *found)
{
	struct pg_conn *c = db;
	struct veld__sqlst *st = q(c, M_OP_HASH, "iu", device, seq);
	int rc = first_row(c, st);
	const void *p;
	size_t n;
	*found = 0;
	if (rc == 1) {
		p = pg_col_blob(st, 0, &n);
		if ((*found = p && n == VELD_HASH_BYTES))
			memcpy(hash, p, VELD_HASH_BYTES);
		pg_reset(st);
	}
	return rc < 0 ? rc : VELD_OK;
}

static int pm_op_insert(void *db, const veld__op *op, int head, const uint8_t *sup,
                        size_t sup_len, int *inserted)
{
	struct pg_conn *c = db;
	int rc = run(c, q(c, M_OP_INSERT, "iuutiitutbbkuu", op->device, op->seq, op->hlc, op->kind,
	                  op->entity, op->client, op->team, op->kv, op->field,
	                  (const void *)op->value, op->value_len, (const void *)sup, sup_len,
	                  op->hash, (uint64_t)head, (uint64_t)op->version));
	if (rc < 0)
		return rc;
	*inserted = c->changes != 0;
	return VELD_OK;
}

static int pm_op_unhead(void *db, const uint8_t device[16], uint64_t seq,
                        const uint8_t entity[16], const char *field, int *changed)
{
	struct pg_conn *c = db;
	int rc = run(c, q(c, M_OP_UNHEAD, "iuit", device, seq, entity, field));
	*changed = rc == 0 && c->changes != 0;
	return rc < 0 ? rc : VELD_OK;
}

static int pm_op_any(void *db, const uint8_t entity[16], int *any)
{
	struct pg_conn *c = db;
	int rc = run(c, q(c, M_OP_ANY, "i", entity));
	*any = rc == 1;
	return rc < 0 ? rc : VELD_OK;
}

static int pm_sup_check(void *db, const uint8_t device[16], uint64_t seq,
                        const uint8_t entity[16], const char *field, int *superseded)
{
	struct pg_conn *c = db;
	int rc = run(c, q(c, M_SUP_CHECK, "iuit", device, seq, entity, field));
	*superseded = rc == 1;
	return rc < 0 ? rc : VELD_OK;
}

static int pm_sup_insert(void *db, const uint8_t device[16], uint64_t seq,
                         const uint8_t entity[16], const char *field)
{
	struct pg_conn *c = db;
	int rc = run(c, q(c, M_SUP_INSERT, "iuit", device, seq, entity, field));
	return rc < 0 ? rc : VELD_OK;
}

static int pm_entity_get(void *db, const uint8_t entity[16], char kind[VELD_KIND_MAX + 1],
                         uint8_t client[16], char team[VELD_TEAM_MAX + 1], int *found)
{
	struct pg_conn *c = db;
	struct veld__sqlst *st = q(c, M_ENTITY_GET, "i", entity);
	int rc = first_row(c, st);
	*found = rc == 1;
	if (rc == 1) {
		const char *k = pg_col_text(st, 0), *t = pg_col_text(st, 2);
		size_t n;
		const void *p = pg_col_blob(st, 1, &n);
		snprintf(kind, VELD_KIND_MAX + 1, "%s", k ? k : "");
		snprintf(team, VELD_TEAM_MAX + 1, "%s", t ? t : "");
		if (p && n == VELD_ID_BYTES)
			memcpy(client, p, VELD_ID_BYTES);
		else
			memset(client, 0, VELD_ID_BYTES); /* matches no client: refused as a change */
		pg_reset(st);
	}
	return rc < 0 ? rc : VELD_OK;
}

static int pm_entity_upsert(void *db, const veld__op *op)
{
	struct pg_conn *c = db;
	int rc = run(c, q(c, M_ENTITY_UPSERT, "ititu", op->entity, op->kind, op->client, op->team,
	                  op->hlc));
	return rc < 0 ? rc : VELD_OK;
}

static int pm_erased_check(void *db, const uint8_t client[16], int *erased)
{
	struct pg_conn *c = db;
	int rc = run(c, q(c, M_ERASED_CHECK, "i", client));
	*erased = rc == 1;
	return rc < 0 ? rc : VELD_OK;
}

static int pm_head_count(void *db, const uint8_t entity[16], const char *field, uint64_t *heads)
{
	struct pg_conn *c = db;
	struct veld__sqlst *st = q(c, M_HEAD_COUNT, "it", entity, field);
	int rc = first_row(c, st);
	*heads = rc == 1 ? pg_col_u64(st, 0) : 0;
	if (rc == 1)
		pg_reset(st);
	if (rc == 0)
		return veld__err(VELD_ERROR, "counting a field's heads: no answer");
	return rc < 0 ? rc : VELD_OK;
}

static int pm_conflict_set(void *db, const uint8_t entity[16], const char *field, int on)
{
	struct pg_conn *c = db;
	int rc = run(c, q(c, on ? M_CONFLICT_ADD : M_CONFLICT_DEL, "it", entity, field));
	return rc < 0 ? rc : VELD_OK;
}

static const struct veld__merge_prims pg_merge_prims = {
	.op_hash = pm_op_hash,
	.op_insert = pm_op_insert,
	.op_unhead = pm_op_unhead,
	.op_any = pm_op_any,
	.sup_check = pm_sup_check,
	.sup_insert = pm_sup_insert,
	.entity_get = pm_entity_get,
	.entity_upsert = pm_entity_upsert,
	.erased_check = pm_erased_check,
	.head_count = pm_head_count,
	.conflict_set = pm_conflict_set,
};

/* ---- open and close -------------------------------------------------------------------- */

static void conn_close(struct pg_conn *c)
{
	for (int i = 0; i < ST__COUNT; i++)
		pg_reset(&c->st[i].base);
	PQfinish(c->pg);
	pthread_mutex_destroy(&c->c.mu);
}

static void pg_close(struct veld__sqlstore *base)
{
	struct pg_store *s = (struct pg_store *)base;
	if (!s)
		return;
	for (size_t k = 0; k < s->nconns; k++)
		conn_close(&s->conns[k]);
	free(s->conns);
	free(s);
}

static const struct veld__sqldrv pg_driver = {
	.query = pg_query,
	.step = pg_step,
	.reset = pg_reset,
	.col_null = pg_col_null,
	.col_u64 = pg_col_u64,
	.col_blob = pg_col_blob,
	.col_text = pg_col_text,
	.changes = pg_changes,
	.take = pg_take,
	.give = pg_give,
	.begin = pg_begin,
	.end = pg_end,
	.retryable = pg_retryable,
	.nonce_seen = pg_nonce_seen,
	.nonce_record = pg_nonce_record,
	.close = pg_close,
};

/* Notices: the server has no use for PostgreSQL's ("already exists,
 * skipping"; libpq would print them on stderr), but for the FATAL error of a
 * session the server ends, which reaches an idle connection as one. */
static void notice_receive(void *arg, const PGresult *r)
{
	struct pg_conn *c = arg;
	const char *severity = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
	if (severity && (strcmp(severity, "FATAL") == 0 || strcmp(severity, "PANIC") == 0))
		c->ended = 1;
}

/* A connection of the pool, in UTF-8 whatever the connection string says
 * (binary text travels in the client's encoding). What libpq says of a
 * failed connection names hosts and users, so it is not passed on. */
static int conn_open(struct pg_conn *c, struct pg_store *s, const char *conninfo)
{
	/* Defaults first, so the connection string overrides them: give up
	 * connecting after 10 s; notice a peer gone within a minute (TCP
	 * keepalives, unacknowledged data); end a session left idle inside a
	 * transaction (a server process stopped while it held the write
	 * lock) after a minute. The encoding comes last: it is not a choice. */
	static const char *const keys[] = {
		"connect_timeout", "keepalives", "keepalives_idle", "keepalives_interval",
		"keepalives_count", "tcp_user_timeout", "options", "dbname", "client_encoding", NULL};
	const char *const values[] = {
		"10", "1", "30", "10", "3", "60000", "-c idle_in_transaction_session_timeout=60000",
		conninfo, "UTF8", NULL};
	c->c.drv = &pg_driver;
	c->c.store = &s->base;
	c->s = s;
	for (int i = 0; i < ST__COUNT; i++)
		c->st[i].base.drv = &pg_driver;
	pthread_mutex_init(&c->c.mu, NULL);
	if (!(c->pg = PQconnectdbParams(keys, values, 1)))
		return veld__err(VELD_ENOMEM, "out of memory");
	if (PQstatus(c->pg) != CONNECTION_OK)
		return veld__err(VELD_EIO, "cannot connect to the PostgreSQL database: check the"
		                 " connection string, that the server runs and what it allows");
	PQsetNoticeReceiver(c->pg, notice_receive, c);
	veld__merge_open_on(&c->c.merge, &pg_merge_prims, c);
	c->c.merge_open = 1;
	return VELD_OK;
}

/* Text travels as UTF-8, and any a device sends must fit: a database in
 * another encoding would refuse some labels with a 500 that SQLite takes. */
static int utf8_only(struct pg_conn *c)
{
	PGresult *r = PQexec(c->pg, "SHOW server_encoding");
	int rc = VELD_OK;
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
		rc = fail(c, r, "reading the database's encoding");
	else if (strcmp(PQgetvalue(r, 0, 0), "UTF8") != 0)
		rc = veld__err(VELD_EINVAL, "the PostgreSQL database is not in UTF-8: make one with"
		               " CREATE DATABASE ... ENCODING 'UTF8' TEMPLATE template0");
	PQclear(r);
	return rc;
}

/* The schema's version, inside the migration's transaction (0: none yet). */
static int schema_version(struct pg_conn *c, int *version)
{
	PGresult *r = PQexec(c->pg, "SELECT coalesce(max(version), 0) FROM schema_version");
	int rc = VELD_OK;
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		*version = atoi(PQgetvalue(r, 0, 0));
	else
		rc = fail(c, r, "reading the schema version");
	PQclear(r);
	return rc;
}

/* Does the table exist (to_regclass)? 0 with *rc set on a failure. */
static int table_exists(struct pg_conn *c, const char *table, int *rc)
{
	const char *const params[] = {table};
	PGresult *r = PQexecParams(c->pg, "SELECT to_regclass($1) IS NOT NULL", 1, NULL, params,
	                           NULL, NULL, 0);
	int yes = 0;
	*rc = VELD_OK;
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		yes = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	else
		*rc = fail(c, r, "reading the schema");
	PQclear(r);
	return yes;
}

/* One migration, if one is due, in its own transaction under the migration
 * lock: the version is read once the lock is held, so a process that
 * waited for another's migration finds it done. *version gets the version
 * the database is at after. */
static int migrate_step(struct pg_conn *c, int *version)
{
	char sql[96];
	/* (The table is made only when missing: a user that may only read and
	 * write the tables may not create one, even one that exists.) */
	int rc = command(c, "BEGIN; SELECT pg_advisory_xact_lock(" PG_LOCK_MIGRATE ")",
	                 "starting a migration");
	if (rc == VELD_OK && !table_exists(c, "schema_version", &rc) && rc == VELD_OK)
		rc = command(c, "CREATE TABLE schema_version(version integer NOT NULL)",
		             "starting a migration");
	if (rc == VELD_OK)
		rc = schema_version(c, version);
	if (rc == VELD_OK && *version > PG_SCHEMA_VERSION)
		rc = veld__err(VELD_ESCHEMA, "the server database has schema version %d; this veld"
		               " knows up to %d: upgrade veld", *version, PG_SCHEMA_VERSION);
	if (rc == VELD_OK && *version < PG_SCHEMA_VERSION) {
		snprintf(sql, sizeof sql, "DELETE FROM schema_version;"
		         " INSERT INTO schema_version(version) VALUES (%d)", *version + 1);
		if ((rc = command(c, migrations[*version], "migrating the server database")) == VELD_OK &&
		    (rc = command(c, sql, "migrating the server database")) == VELD_OK)
			(*version)++;
	}
	if (rc == VELD_OK)
		return tx_commit(c);
	tx_out(c);
	return rc;
}

static int migrate(struct pg_conn *c)
{
	int version = 0, rc;
	do
		rc = migrate_step(c, &version);
	while (rc == VELD_OK && version < PG_SCHEMA_VERSION);
	return rc;
}

/* Every start moves the feeds' next cursor to at least the wall clock in
 * milliseconds times 1024. A feed hands out one cursor per row, far fewer
 * than 1024 a millisecond, so a cursor issued during one run is below the
 * start of the next. That matters after a restore: an older backup's
 * counters would hand out again cursors that devices have already passed,
 * and those devices would skip what gets them. (It needs a clock that does
 * not go back.) */
static int cursors_past_now(struct pg_conn *c)
{
	int rc;
	c->bump = 1;
	if ((rc = pg_begin(&c->c, 1)) != VELD_OK) /* bumps */
		return rc;
	return tx_commit(c);
}

int veld__sstore_pg_open(struct veld__sstore **out, const char *conninfo, size_t conns)
{
	struct pg_store *s;
	int rc = VELD_OK;
	*out = NULL;
	for (int i = 0; i < ST__COUNT; i++)
		if (!stmt_text(i))
			return veld__err(VELD_ERROR, "a statement has no PostgreSQL text");
	if (conns < 2)
		conns = 2;
	if (!(s = calloc(1, sizeof *s)) || !(s->conns = calloc(conns, sizeof *s->conns))) {
		free(s);
		return veld__err(VELD_ENOMEM, "out of memory");
	}
	s->base.base.ops = &veld__sql_rules;
	s->base.base.max_skew_ms = VELD_SRV_MAX_SKEW_MS;
	s->base.drv = &pg_driver;
	while (rc == VELD_OK && s->nconns < conns)
		rc = conn_open(&s->conns[s->nconns++], s, conninfo);
	if (rc == VELD_OK && (rc = utf8_only(&s->conns[0])) == VELD_OK &&
	    (rc = migrate(&s->conns[0])) == VELD_OK)
		rc = cursors_past_now(&s->conns[0]);
	if (rc != VELD_OK) {
		pg_close(&s->base);
		return rc;
	}
	*out = &s->base.base;
	return VELD_OK;
}
