/* merge_sqlite.c - the merge state on SQLite (merge.h): its tables and
 * their migrations, and the rule's storage primitives, what devices and
 * the SQLite server merge on. One prepared statement a primitive; ?1.. are
 * bound from the arguments as given. */
#include "merge.h"
#include "error.h"
#include "op.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char veld__merge_schema[] =
	"CREATE TABLE IF NOT EXISTS ops("
	"  device BLOB NOT NULL, seq INTEGER NOT NULL, hlc INTEGER NOT NULL,"
	"  kind TEXT NOT NULL, entity BLOB NOT NULL, client BLOB NOT NULL, team TEXT NOT NULL,"
	"  kv INTEGER NOT NULL, field TEXT NOT NULL, value BLOB, sup BLOB, hash BLOB NOT NULL,"
	"  head INTEGER NOT NULL DEFAULT 1,"
	"  PRIMARY KEY(device, seq)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS ops_entity ON ops(entity, field);"
	"CREATE TABLE IF NOT EXISTS superseded(device BLOB NOT NULL, seq INTEGER NOT NULL,"
	"  entity BLOB NOT NULL, field TEXT NOT NULL,"
	"  PRIMARY KEY(device, seq, entity, field)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS entities(entity BLOB PRIMARY KEY, kind TEXT NOT NULL,"
	"  client BLOB NOT NULL, team TEXT NOT NULL, created INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS entities_kind ON entities(kind, client);"
	"CREATE INDEX IF NOT EXISTS entities_client ON entities(client);"
	"CREATE TABLE IF NOT EXISTS erased(client BLOB PRIMARY KEY, at INTEGER NOT NULL) WITHOUT ROWID;"
	/* The fields that have more than one current value, kept up to date by
	 * the merge, so conflicts are counted and listed without a scan. */
	"CREATE TABLE IF NOT EXISTS conflicts(entity BLOB NOT NULL, field TEXT NOT NULL,"
	"  PRIMARY KEY(entity, field)) WITHOUT ROWID;";

enum {
	MS_OP_GET_HASH, MS_OP_INSERT, MS_SUP_CHECK, MS_SUP_INSERT, MS_OP_UNHEAD,
	MS_ENTITY_UPSERT, MS_ENTITY_GET, MS_ERASED_CHECK,
	MS_HEAD_COUNT, MS_CONFLICT_ADD, MS_CONFLICT_DEL, MS_OP_ANY,
	MS__COUNT
};

static const char *const merge_sql[MS__COUNT] = {
	[MS_OP_GET_HASH] = "SELECT hash FROM ops WHERE device = ?1 AND seq = ?2",
	/* An operation held already (device, seq) is not written again: the
	 * rule compares it (veld__merge_apply). */
	[MS_OP_INSERT] = "INSERT INTO ops(device, seq, hlc, kind, entity, client, team, kv, field,"
	                 " value, sup, hash, head, ver)"
	                 " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14)"
	                 " ON CONFLICT(device, seq) DO NOTHING",
	[MS_SUP_CHECK] = "SELECT 1 FROM superseded WHERE device = ?1 AND seq = ?2"
	                 " AND entity = ?3 AND field = ?4",
	[MS_SUP_INSERT] = "INSERT OR IGNORE INTO superseded(device, seq, entity, field)"
	                  " VALUES(?1, ?2, ?3, ?4)",
	[MS_OP_UNHEAD] = "UPDATE ops SET head = 0 WHERE device = ?1 AND seq = ?2"
	                 " AND entity = ?3 AND field = ?4",
	[MS_ENTITY_UPSERT] = "INSERT INTO entities(entity, kind, client, team, created)"
	                     " VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(entity) DO UPDATE"
	                     " SET created = excluded.created WHERE excluded.created < created",
	[MS_ENTITY_GET] = "SELECT kind, client, team FROM entities WHERE entity = ?1",
	[MS_ERASED_CHECK] = "SELECT 1 FROM erased WHERE client = ?1",
	[MS_HEAD_COUNT] = "SELECT count(*) FROM ops WHERE entity = ?1 AND field = ?2 AND head = 1",
	[MS_CONFLICT_ADD] = "INSERT OR IGNORE INTO conflicts(entity, field) VALUES(?1, ?2)",
	[MS_CONFLICT_DEL] = "DELETE FROM conflicts WHERE entity = ?1 AND field = ?2",
	[MS_OP_ANY] = "SELECT 1 FROM ops WHERE entity = ?1 LIMIT 1",
};

struct sq {
	sqlite3 *db;
	sqlite3_stmt *st[MS__COUNT];
};

/* Step a statement whose answer is a row or none, then reset it: 1, 0,
 * or the error. */
static int row(sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return rc == SQLITE_ROW;
	return veld__err_sqlite(rc, what);
}

static int done(sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? VELD_OK : veld__err_sqlite(rc, what);
}

/* ?1 device, ?2 seq, ?3 entity, ?4 field. */
static sqlite3_stmt *ref_stmt(struct sq *q, int i, const uint8_t device[16], uint64_t seq,
                              const uint8_t entity[16], const char *field)
{
	sqlite3_stmt *st = q->st[i];
	sqlite3_bind_blob(st, 1, device, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)seq);
	sqlite3_bind_blob(st, 3, entity, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, field, -1, SQLITE_STATIC);
	return st;
}

static int sq_op_hash(void *db, const uint8_t device[16], uint64_t seq, uint8_t hash[32],
                      int *found)
{
	struct sq *q = db;
	sqlite3_stmt *st = q->st[MS_OP_GET_HASH];
	int rc;
	sqlite3_bind_blob(st, 1, device, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)seq);
	rc = sqlite3_step(st);
	*found = rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == VELD_HASH_BYTES;
	if (*found)
		memcpy(hash, sqlite3_column_blob(st, 0), VELD_HASH_BYTES);
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? VELD_OK
	       : veld__err_sqlite(rc, "reading the operation log");
}

static int sq_op_insert(void *db, const veld__op *op, int head, const uint8_t *sup,
                        size_t sup_len, int *inserted)
{
	struct sq *q = db;
	sqlite3_stmt *st = q->st[MS_OP_INSERT];
	int rc;
	sqlite3_bind_blob(st, 1, op->device, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)op->seq);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)op->hlc);
	sqlite3_bind_text(st, 4, op->kind, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 5, op->entity, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_blob(st, 6, op->client, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, op->team, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, (sqlite3_int64)op->kv);
	sqlite3_bind_text(st, 9, op->field, -1, SQLITE_STATIC);
	if (op->value)
		sqlite3_bind_blob(st, 10, op->value, (int)op->value_len, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 10);
	if (sup)
		sqlite3_bind_blob(st, 11, sup, (int)sup_len, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 11);
	sqlite3_bind_blob(st, 12, op->hash, VELD_HASH_BYTES, SQLITE_STATIC);
	sqlite3_bind_int(st, 13, head);
	sqlite3_bind_int(st, 14, (int)op->version);
	if ((rc = done(st, "writing the operation log")) != VELD_OK)
		return rc;
	*inserted = sqlite3_changes(q->db) != 0;
	return VELD_OK;
}

static int sq_op_unhead(void *db, const uint8_t device[16], uint64_t seq,
                        const uint8_t entity[16], const char *field, int *changed)
{
	struct sq *q = db;
	int rc = done(ref_stmt(q, MS_OP_UNHEAD, device, seq, entity, field), "merging an operation");
	*changed = rc == VELD_OK && sqlite3_changes(q->db) != 0;
	return rc;
}

static int sq_op_any(void *db, const uint8_t entity[16], int *any)
{
	struct sq *q = db;
	sqlite3_bind_blob(q->st[MS_OP_ANY], 1, entity, VELD_ID_BYTES, SQLITE_STATIC);
	int rc = row(q->st[MS_OP_ANY], "reading the operation log");
	*any = rc == 1;
	return rc < 0 ? rc : VELD_OK;
}

static int sq_sup_check(void *db, const uint8_t device[16], uint64_t seq,
                        const uint8_t entity[16], const char *field, int *superseded)
{
	struct sq *q = db;
	int rc = row(ref_stmt(q, MS_SUP_CHECK, device, seq, entity, field),
	             "merging an operation");
	*superseded = rc == 1;
	return rc < 0 ? rc : VELD_OK;
}

static int sq_sup_insert(void *db, const uint8_t device[16], uint64_t seq,
                         const uint8_t entity[16], const char *field)
{
	return done(ref_stmt(db, MS_SUP_INSERT, device, seq, entity, field), "merging an operation");
}

static int sq_entity_get(void *db, const uint8_t entity[16], char kind[VELD_KIND_MAX + 1],
                         uint8_t client[16], char team[VELD_TEAM_MAX + 1], int *found)
{
	struct sq *q = db;
	sqlite3_stmt *st = q->st[MS_ENTITY_GET];
	int rc;
	sqlite3_bind_blob(st, 1, entity, VELD_ID_BYTES, SQLITE_STATIC);
	rc = sqlite3_step(st);
	*found = rc == SQLITE_ROW;
	if (*found) {
		const char *k = (const char *)sqlite3_column_text(st, 0);
		const char *t = (const char *)sqlite3_column_text(st, 2);
		snprintf(kind, VELD_KIND_MAX + 1, "%s", k ? k : "");
		snprintf(team, VELD_TEAM_MAX + 1, "%s", t ? t : "");
		if (sqlite3_column_bytes(st, 1) == VELD_ID_BYTES)
			memcpy(client, sqlite3_column_blob(st, 1), VELD_ID_BYTES);
		else
			memset(client, 0, VELD_ID_BYTES); /* matches no client: refused as a change */
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? VELD_OK
	       : veld__err_sqlite(rc, "reading a record");
}

static int sq_entity_upsert(void *db, const veld__op *op)
{
	struct sq *q = db;
	sqlite3_stmt *st = q->st[MS_ENTITY_UPSERT];
	sqlite3_bind_blob(st, 1, op->entity, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, op->kind, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, op->client, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, op->team, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)op->hlc);
	return done(st, "writing a record");
}

static int sq_erased_check(void *db, const uint8_t client[16], int *erased)
{
	struct sq *q = db;
	sqlite3_bind_blob(q->st[MS_ERASED_CHECK], 1, client, VELD_ID_BYTES, SQLITE_STATIC);
	int rc = row(q->st[MS_ERASED_CHECK], "reading erased clients");
	*erased = rc == 1;
	return rc < 0 ? rc : VELD_OK;
}

static int sq_head_count(void *db, const uint8_t entity[16], const char *field, uint64_t *heads)
{
	struct sq *q = db;
	sqlite3_stmt *st = q->st[MS_HEAD_COUNT];
	int rc;
	sqlite3_bind_blob(st, 1, entity, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, field, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	*heads = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? VELD_OK : veld__err_sqlite(rc, "merging an operation");
}

static int sq_conflict_set(void *db, const uint8_t entity[16], const char *field, int on)
{
	struct sq *q = db;
	sqlite3_stmt *st = q->st[on ? MS_CONFLICT_ADD : MS_CONFLICT_DEL];
	sqlite3_bind_blob(st, 1, entity, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, field, -1, SQLITE_STATIC);
	return done(st, "merging an operation");
}

static const struct veld__merge_prims sqlite_prims = {
	.op_hash = sq_op_hash,
	.op_insert = sq_op_insert,
	.op_unhead = sq_op_unhead,
	.op_any = sq_op_any,
	.sup_check = sq_sup_check,
	.sup_insert = sq_sup_insert,
	.entity_get = sq_entity_get,
	.entity_upsert = sq_entity_upsert,
	.erased_check = sq_erased_check,
	.head_count = sq_head_count,
	.conflict_set = sq_conflict_set,
};

int veld__merge_open(struct veld__merge *m, sqlite3 *db)
{
	struct sq *q = calloc(1, sizeof *q);
	if (!q)
		return veld__err(VELD_ENOMEM, "out of memory");
	q->db = db;
	for (int i = 0; i < MS__COUNT; i++) {
		int rc = sqlite3_prepare_v3(db, merge_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &q->st[i],
		                            NULL);
		if (rc != SQLITE_OK) {
			for (int k = 0; k < i; k++)
				sqlite3_finalize(q->st[k]);
			free(q);
			return veld__err_sqlite(rc, "preparing the merge statements");
		}
	}
	veld__merge_open_on(m, &sqlite_prims, q);
	m->sqlite = db;
	return VELD_OK;
}

void veld__merge_close(struct veld__merge *m)
{
	struct sq *q = m->db;
	if (m->p != &sqlite_prims || !q)
		return;
	for (int i = 0; i < MS__COUNT; i++)
		sqlite3_finalize(q->st[i]);
	free(q);
	m->db = NULL;
}

int veld__merge_migrate(sqlite3 *db, const char *const *steps, int nsteps, const char *name)
{
	sqlite3_stmt *st;
	int version, rc;

	if ((rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL)) != SQLITE_OK)
		return veld__err_sqlite(rc, "reading the schema version");
	rc = sqlite3_step(st);
	version = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return veld__err_sqlite(rc, "reading the schema version");
	if (version > nsteps)
		return veld__err(VELD_ESCHEMA, "%s has schema version %d; this veld knows up to %d:"
		                 " upgrade veld", name, version, nsteps);
	for (; version < nsteps; version++) {
		char pragma[64];
		if ((rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL)) != SQLITE_OK)
			return veld__err_sqlite(rc, "starting a migration");
		rc = version == 0 ? sqlite3_exec(db, veld__merge_schema, NULL, NULL, NULL) : SQLITE_OK;
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(db, steps[version], NULL, NULL, NULL);
		snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", version + 1);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(db, pragma, NULL, NULL, NULL);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
		if (rc != SQLITE_OK) {
			char what[64];
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			snprintf(what, sizeof what, "%s %s", version == 0 ? "creating" : "migrating", name);
			return veld__err_sqlite(rc, what);
		}
	}
	return VELD_OK;
}
