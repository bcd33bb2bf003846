/* merge.c - the merge rule, shared by devices and the server.
 *
 * An operation is inserted once (its identity is device+seq; a second,
 * different operation with the same identity is refused as corrupt). Every
 * reference in its supersedes list either clears the `head` flag of an
 * operation we hold on the same entity and field, or - if we do not hold it
 * yet - is remembered in `superseded` so that it is born without the flag
 * when it arrives. So after any order of arrival, head = "no known operation
 * supersedes it", and the winner of a field is its head with the highest
 * (hlc, device). */
#include "merge.h"
#include "error.h"
#include "kinds.h"
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

static const char *const merge_sql[MS__COUNT] = {
	[MS_OP_GET_HASH] = "SELECT hash FROM ops WHERE device = ?1 AND seq = ?2",
	/* An operation held already (device, seq) is not written again: the
	 * caller compares it (veld__merge_apply). */
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

int veld__merge_open(struct veld__merge *m, sqlite3 *db)
{
	memset(m, 0, sizeof *m);
	m->db = db;
	for (int i = 0; i < MS__COUNT; i++) {
		int rc = sqlite3_prepare_v3(db, merge_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &m->st[i], NULL);
		if (rc != SQLITE_OK) {
			veld__merge_close(m);
			return veld__err_sqlite(rc, "preparing the merge statements");
		}
	}
	return VELD_OK;
}

void veld__merge_close(struct veld__merge *m)
{
	for (int i = 0; i < MS__COUNT; i++)
		sqlite3_finalize(m->st[i]);
	memset(m->st, 0, sizeof m->st);
}

static int step_done(sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? VELD_OK : veld__err_sqlite(rc, what);
}

/* A record keeps the kind, client and team it was created with; a new
 * record of a client held here is of the client's team. */
static int check_entity(struct veld__merge *m, const veld__op *op, int *known)
{
	sqlite3_stmt *st = m->st[MS_ENTITY_GET];
	int rc, ret = VELD_OK;
	sqlite3_bind_blob(st, 1, op->entity, VELD_ID_BYTES, SQLITE_STATIC);
	rc = sqlite3_step(st);
	*known = rc == SQLITE_ROW;
	if (rc == SQLITE_ROW) {
		if (strcmp((const char *)sqlite3_column_text(st, 0), op->kind) != 0 ||
		    sqlite3_column_bytes(st, 1) != VELD_ID_BYTES ||
		    memcmp(sqlite3_column_blob(st, 1), op->client, VELD_ID_BYTES) != 0 ||
		    strcmp((const char *)sqlite3_column_text(st, 2), op->team) != 0)
			ret = veld__err(VELD_ECORRUPT,
				"operation %llu changes the kind, client or team of an existing record",
				(unsigned long long)op->seq);
	} else if (rc != SQLITE_DONE) {
		ret = veld__err_sqlite(rc, "reading a record");
	}
	sqlite3_reset(st);
	if (ret != VELD_OK || *known || memcmp(op->entity, op->client, VELD_ID_BYTES) == 0)
		return ret;
	sqlite3_bind_blob(st, 1, op->client, VELD_ID_BYTES, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW &&
	    strcmp((const char *)sqlite3_column_text(st, 2), op->team) != 0)
		ret = veld__err(VELD_ECORRUPT, "operation %llu writes for a client of another team",
		                (unsigned long long)op->seq);
	else if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		ret = veld__err_sqlite(rc, "reading a record");
	sqlite3_reset(st);
	return ret;
}

static int same_entity(const struct veld__merge *m, const veld__op *op)
{
	return m->last_entity_ok && memcmp(m->last_entity, op->entity, VELD_ID_BYTES) == 0;
}

/* Whether the log holds an operation of the record (*any). */
static int has_ops(struct veld__merge *m, const uint8_t entity[16], int *any)
{
	sqlite3_stmt *st = m->st[MS_OP_ANY];
	int rc;
	sqlite3_bind_blob(st, 1, entity, VELD_ID_BYTES, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	*any = rc == SQLITE_ROW;
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? VELD_OK
	       : veld__err_sqlite(rc, "reading the operation log");
}

/* The field of the cached new record has no operation yet. */
static int fresh_field(const struct veld__merge *m, const char *field)
{
	if (!m->last_new)
		return 0;
	for (int i = 0; i < m->nfresh; i++)
		if (strcmp(m->fresh[i], field) == 0)
			return 0;
	return 1;
}

/* An operation was written to the cached record's field. */
static void note_field(struct veld__merge *m, const char *field)
{
	if (!fresh_field(m, field))
		return;
	if (m->nfresh == VELD_MERGE_FRESH) {
		m->last_new = 0; /* too many to remember: count heads from now on */
		return;
	}
	snprintf(m->fresh[m->nfresh++], sizeof m->fresh[0], "%s", field);
}

/* The cached record must still be the same kind and client. */
static int check_cached(const struct veld__merge *m, const veld__op *op)
{
	if (strcmp(m->last_kind, op->kind) != 0 ||
	    memcmp(m->last_client, op->client, VELD_ID_BYTES) != 0 || strcmp(m->last_team, op->team) != 0)
		return veld__err(VELD_ECORRUPT,
			"operation %llu changes the kind, client or team of an existing record",
			(unsigned long long)op->seq);
	return VELD_OK;
}

static int track_conflict(struct veld__merge *m, const uint8_t entity[16], const char *field,
                          int only_grew);

/* An operation whose (device, seq) is held: identical, nothing to do;
 * different, its author signed two (equivocation). */
static int known_op(struct veld__merge *m, const veld__op *op)
{
	sqlite3_stmt *st = m->st[MS_OP_GET_HASH];
	int rc, same = 0;
	sqlite3_bind_blob(st, 1, op->device, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)op->seq);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		same = sqlite3_column_bytes(st, 0) == VELD_HASH_BYTES &&
		       memcmp(sqlite3_column_blob(st, 0), op->hash, VELD_HASH_BYTES) == 0;
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return veld__err_sqlite(rc == SQLITE_DONE ? SQLITE_CORRUPT : rc,
		                        "reading the operation log");
	if (same)
		return VELD_OK;
	return veld__err(VELD_ECORRUPT, "two different operations claim sequence %llu of one device",
	                 (unsigned long long)op->seq);
}

int veld__merge_apply(struct veld__merge *m, const veld__op *op, int *applied)
{
	sqlite3_stmt *st;
	uint8_t supbuf[24 * VELD_OP_MAX_SUPERSEDES];
	int rc, head, known = 1, fresh;

	*applied = 0;
	if (!veld__kind_known(op->kind))
		return veld__err(VELD_EINVAL, "unknown record kind in operation");
	if (op->version < 1 || op->version > VELD_OP_VERSION)
		return veld__err(VELD_EINVAL, "operation %llu has an unknown format version",
		                 (unsigned long long)op->seq);
	/* SQLite keeps integers signed: a stamp from 2^63 on would sort as the
	 * oldest. No honest clock gets there; refuse it rather than store it. */
	if (op->hlc > (uint64_t)INT64_MAX)
		return veld__err(VELD_EINVAL, "operation %llu has a clock stamp out of range",
		                 (unsigned long long)op->seq);
	if (op->nsup > VELD_OP_MAX_SUPERSEDES)
		return veld__err(VELD_EINVAL, "operation supersedes too many values");

	if (same_entity(m, op)) {
		if ((rc = check_cached(m, op)) != VELD_OK)
			return rc;
	} else {
		/* Received for a client erased here: drop it. */
		if ((rc = veld__merge_is_erased(m, op->client)) != 0)
			return rc < 0 ? rc : VELD_OK;
		if ((rc = check_entity(m, op, &known)) != VELD_OK ||
		    (!known && (rc = has_ops(m, op->entity, &known)) != VELD_OK))
			return rc;
	}
	fresh = !known || (same_entity(m, op) && fresh_field(m, op->field));

	/* Born superseded if a known operation already supersedes it. */
	st = m->st[MS_SUP_CHECK];
	sqlite3_bind_blob(st, 1, op->device, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)op->seq);
	sqlite3_bind_blob(st, 3, op->entity, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, op->field, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	head = rc != SQLITE_ROW;
	if ((rc = veld__merge_insert(m, op, head, supbuf, applied)) != VELD_OK)
		return rc;
	if (!*applied) /* held already: the same, or an equivocation */
		return known_op(m, op);
	if (!known) { /* a record with no operation before this one */
		m->last_new = 1;
		note_field(m, op->field);
	}
	/* A field's head count changes only if this operation is a head or
	 * superseded heads; without supersedes it can only grow. The first
	 * operation of a field is its only head. */
	if ((op->nsup == 0 && !head) || fresh)
		return VELD_OK;
	return track_conflict(m, op->entity, op->field, op->nsup == 0);
}

int veld__merge_is_erased(struct veld__merge *m, const uint8_t client[16])
{
	sqlite3_stmt *st = m->st[MS_ERASED_CHECK];
	int rc;
	sqlite3_bind_blob(st, 1, client, VELD_ID_BYTES, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return rc == SQLITE_ROW;
	return veld__err_sqlite(rc, "reading erased clients");
}

/* only_grew: the field gained a head and lost none, so it cannot have left
 * the conflicts table: skip the delete. */
static int track_conflict(struct veld__merge *m, const uint8_t entity[16], const char *field,
                          int only_grew)
{
	sqlite3_stmt *st = m->st[MS_HEAD_COUNT];
	int64_t heads;
	int rc;
	sqlite3_bind_blob(st, 1, entity, 16, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, field, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	heads = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return veld__err_sqlite(rc, "merging an operation");
	if (heads <= 1 && only_grew)
		return VELD_OK;
	st = m->st[heads > 1 ? MS_CONFLICT_ADD : MS_CONFLICT_DEL];
	sqlite3_bind_blob(st, 1, entity, 16, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, field, -1, SQLITE_STATIC);
	return step_done(st, "merging an operation");
}

/* Run a statement on a superseded operation `ref` of op's field:
 * ?1 device, ?2 seq, ?3 entity, ?4 field. */
static int step_ref(struct veld__merge *m, enum veld__merge_stmt which, const veld__ref *ref,
                    const veld__op *op)
{
	sqlite3_stmt *st = m->st[which];
	sqlite3_bind_blob(st, 1, ref->device, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)ref->seq);
	sqlite3_bind_blob(st, 3, op->entity, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, op->field, -1, SQLITE_STATIC);
	return step_done(st, "merging an operation");
}

int veld__merge_insert(struct veld__merge *m, const veld__op *op, int head, uint8_t *supbuf,
                       int *applied)
{
	sqlite3_stmt *st = m->st[MS_OP_INSERT];
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
	if (op->nsup)
		sqlite3_bind_blob(st, 11, supbuf, (int)veld__sup_encode(supbuf, op->sup, op->nsup),
		                  SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 11);
	sqlite3_bind_blob(st, 12, op->hash, VELD_HASH_BYTES, SQLITE_STATIC);
	sqlite3_bind_int(st, 13, head);
	sqlite3_bind_int(st, 14, (int)op->version);
	if ((rc = step_done(st, "writing the operation log")) != VELD_OK)
		return rc;
	if (sqlite3_changes(m->db) == 0)
		return VELD_OK; /* held already (*applied stays 0) */
	if (same_entity(m, op))
		note_field(m, op->field);

	for (size_t i = 0; i < op->nsup; i++) {
		/* Clear the flag of a superseded operation held here; remember
		 * the supersession of one not held yet. */
		if ((rc = step_ref(m, MS_OP_UNHEAD, &op->sup[i], op)) != VELD_OK)
			return rc;
		if (sqlite3_changes(m->db) == 0 &&
		    (rc = step_ref(m, MS_SUP_INSERT, &op->sup[i], op)) != VELD_OK)
			return rc;
	}

	/* The record's creation stamp is the lowest of its operations': an
	 * earlier one arriving late (a waiting operation, another device's)
	 * lowers it, also on the cached record. */
	if (same_entity(m, op) && (rc = check_cached(m, op)) != VELD_OK)
		return rc;
	if (!same_entity(m, op) || op->hlc < m->last_created) {
		st = m->st[MS_ENTITY_UPSERT];
		sqlite3_bind_blob(st, 1, op->entity, VELD_ID_BYTES, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, op->kind, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 3, op->client, VELD_ID_BYTES, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, op->team, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, (sqlite3_int64)op->hlc);
		if ((rc = step_done(st, "writing a record")) != VELD_OK)
			return rc;
		if (!same_entity(m, op)) { /* another record: new only if the caller says so */
			m->last_new = 0;
			m->nfresh = 0;
		}
		memcpy(m->last_entity, op->entity, VELD_ID_BYTES);
		memcpy(m->last_client, op->client, VELD_ID_BYTES);
		snprintf(m->last_kind, sizeof m->last_kind, "%s", op->kind);
		snprintf(m->last_team, sizeof m->last_team, "%s", op->team);
		m->last_entity_ok = 1;
		m->last_created = op->hlc;
	}
	*applied = 1;
	return VELD_OK;
}

/* ---- taking operations out ------------------------------------------------- */

/* One statement made for a rare job (prepared here, not kept). */
static int run_sql(struct veld__merge *m, const char *sql, const uint8_t entity[16],
                   const char *field)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(m->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return veld__err_sqlite(rc, "taking operations out");
	sqlite3_bind_blob(st, 1, entity, VELD_ID_BYTES, SQLITE_STATIC);
	if (field)
		sqlite3_bind_text(st, 2, field, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? VELD_OK : veld__err_sqlite(rc, "taking operations out");
}

/* A field's heads, and the supersessions of operations not held yet, from
 * the operations held on it now (every supersession of the field came from
 * one of its operations). */
static int field_rebuild(struct veld__merge *m, const uint8_t entity[16], const char *field)
{
	veld__op at;
	veld__ref refs[VELD_OP_MAX_SUPERSEDES];
	sqlite3_stmt *st;
	uint8_t *sups = NULL;
	size_t nsups = 0, cap = 0;
	int rc;
	if ((rc = run_sql(m, "DELETE FROM superseded WHERE entity = ?1 AND field = ?2", entity,
	                  field)) != VELD_OK ||
	    (rc = run_sql(m, "UPDATE ops SET head = 1 WHERE entity = ?1 AND field = ?2", entity,
	                  field)) != VELD_OK)
		return rc;
	/* The supersedes lists first (24 bytes a reference), then their
	 * effect: no update while the table is read. */
	if ((rc = sqlite3_prepare_v2(m->db, "SELECT sup FROM ops WHERE entity = ?1 AND field = ?2"
	                             " AND sup IS NOT NULL", -1, &st, NULL)) != SQLITE_OK)
		return veld__err_sqlite(rc, "taking operations out");
	sqlite3_bind_blob(st, 1, entity, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, field, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		size_t len = (size_t)sqlite3_column_bytes(st, 0);
		if (len % 24 != 0 || len / 24 > VELD_OP_MAX_SUPERSEDES) {
			free(sups);
			sqlite3_finalize(st);
			return veld__err(VELD_ECORRUPT, "a stored supersedes list is malformed");
		}
		if (nsups + len + 1 > cap) {
			size_t ncap = 2 * (nsups + len + 1);
			uint8_t *g = realloc(sups, ncap);
			if (!g) {
				free(sups);
				sqlite3_finalize(st);
				return veld__err(VELD_ENOMEM, "out of memory");
			}
			sups = g;
			cap = ncap;
		}
		sups[nsups] = (uint8_t)(len / 24); /* at most 64 references */
		memcpy(sups + nsups + 1, sqlite3_column_blob(st, 0), len);
		nsups += len + 1;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		free(sups);
		return veld__err_sqlite(rc, "taking operations out");
	}
	memset(&at, 0, sizeof at);
	memcpy(at.entity, entity, VELD_ID_BYTES);
	snprintf(at.field, sizeof at.field, "%s", field);
	rc = VELD_OK;
	for (size_t off = 0; rc == VELD_OK && off < nsups;) {
		size_t n = 0, len = 24 * (size_t)sups[off];
		rc = veld__sup_decode(refs, VELD_OP_MAX_SUPERSEDES, sups + off + 1, len, &n);
		for (size_t i = 0; rc == VELD_OK && i < n; i++)
			if ((rc = step_ref(m, MS_OP_UNHEAD, &refs[i], &at)) == VELD_OK &&
			    sqlite3_changes(m->db) == 0)
				rc = step_ref(m, MS_SUP_INSERT, &refs[i], &at);
		off += len + 1;
	}
	free(sups);
	return rc == VELD_OK ? track_conflict(m, entity, field, 0) : rc;
}

struct dropped {
	uint8_t entity[VELD_ID_BYTES];
	char field[VELD_FIELD_MAX + 1];
	int64_t min_hlc; /* the lowest stamp of the entity's operations taken out */
};

int veld__merge_drop_after(struct veld__merge *m, const uint8_t device[16], uint64_t last,
                           size_t *removed)
{
	struct dropped *d = NULL;
	sqlite3_stmt *st;
	size_t n = 0, cap = 0;
	int rc;
	*removed = 0;
	if ((rc = sqlite3_prepare_v2(m->db, "SELECT entity, field, (SELECT min(hlc) FROM ops o WHERE"
	                             " o.device = ?1 AND o.seq > ?2 AND o.entity = ops.entity) FROM ops"
	                             " WHERE device = ?1 AND seq > ?2 GROUP BY entity, field", -1, &st,
	                             NULL)) != SQLITE_OK)
		return veld__err_sqlite(rc, "taking operations out");
	sqlite3_bind_blob(st, 1, device, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)last);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			size_t ncap = cap ? 2 * cap : 8;
			struct dropped *g = realloc(d, ncap * sizeof *g);
			if (!g) {
				rc = SQLITE_NOMEM;
				break;
			}
			d = g;
			cap = ncap;
		}
		if (sqlite3_column_bytes(st, 0) != VELD_ID_BYTES)
			continue;
		memcpy(d[n].entity, sqlite3_column_blob(st, 0), VELD_ID_BYTES);
		snprintf(d[n].field, sizeof d[n].field, "%s", (const char *)sqlite3_column_text(st, 1));
		d[n].min_hlc = sqlite3_column_int64(st, 2);
		n++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		free(d);
		return veld__err_sqlite(rc, "taking operations out");
	}
	if ((rc = sqlite3_prepare_v2(m->db, "DELETE FROM ops WHERE device = ?1 AND seq > ?2", -1, &st,
	                             NULL)) != SQLITE_OK) {
		free(d);
		return veld__err_sqlite(rc, "taking operations out");
	}
	sqlite3_bind_blob(st, 1, device, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)last);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	rc = rc == SQLITE_DONE ? VELD_OK : veld__err_sqlite(rc, "taking operations out");
	if (rc == VELD_OK)
		*removed = (size_t)sqlite3_changes(m->db);
	for (size_t i = 0; rc == VELD_OK && i < n; i++)
		rc = field_rebuild(m, d[i].entity, d[i].field);
	/* A record made only of what went goes; one whose creation stamp came
	 * from what went gets the lowest of what is left. */
	for (size_t i = 0; rc == VELD_OK && i < n; i++) {
		char sql[200];
		if ((rc = run_sql(m, "DELETE FROM entities WHERE entity = ?1 AND NOT EXISTS"
		                  " (SELECT 1 FROM ops WHERE entity = ?1)", d[i].entity, NULL)) != VELD_OK)
			break;
		snprintf(sql, sizeof sql, "UPDATE entities SET created = (SELECT min(hlc) FROM ops WHERE"
		         " entity = ?1) WHERE entity = ?1 AND created = %lld", (long long)d[i].min_hlc);
		rc = run_sql(m, sql, d[i].entity, NULL);
	}
	free(d);
	veld__merge_forget(m);
	return rc;
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
