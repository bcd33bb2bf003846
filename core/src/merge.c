/* merge.c - the merge rule, shared by devices and the server, over the
 * storage primitives of merge.h.
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

void veld__merge_open_on(struct veld__merge *m, const struct veld__merge_prims *p, void *db)
{
	memset(m, 0, sizeof *m);
	m->p = p;
	m->db = db;
}

/* A record keeps the kind, client and team it was created with; a new
 * record of a client held here is of the client's team. */
static int check_entity(struct veld__merge *m, const veld__op *op, int *known)
{
	char kind[VELD_KIND_MAX + 1], team[VELD_TEAM_MAX + 1];
	uint8_t client[VELD_ID_BYTES];
	int found, rc;
	if ((rc = m->p->entity_get(m->db, op->entity, kind, client, team, &found)) != VELD_OK)
		return rc;
	*known = found;
	if (found && (strcmp(kind, op->kind) != 0 || memcmp(client, op->client, VELD_ID_BYTES) != 0 ||
	              strcmp(team, op->team) != 0))
		return veld__err(VELD_ECORRUPT,
			"operation %llu changes the kind, client or team of an existing record",
			(unsigned long long)op->seq);
	if (found || memcmp(op->entity, op->client, VELD_ID_BYTES) == 0)
		return VELD_OK;
	if ((rc = m->p->entity_get(m->db, op->client, kind, client, team, &found)) != VELD_OK)
		return rc;
	if (found && strcmp(team, op->team) != 0)
		return veld__err(VELD_ECORRUPT, "operation %llu writes for a client of another team",
		                 (unsigned long long)op->seq);
	return VELD_OK;
}

static int same_entity(const struct veld__merge *m, const veld__op *op)
{
	return m->last_entity_ok && memcmp(m->last_entity, op->entity, VELD_ID_BYTES) == 0;
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
	uint8_t hash[VELD_HASH_BYTES];
	int found, rc;
	if ((rc = m->p->op_hash(m->db, op->device, op->seq, hash, &found)) != VELD_OK)
		return rc;
	if (!found)
		return veld__err(VELD_ECORRUPT, "an operation the log says it holds is not there");
	if (memcmp(hash, op->hash, VELD_HASH_BYTES) == 0)
		return VELD_OK;
	return veld__err(VELD_ECORRUPT, "two different operations claim sequence %llu of one device",
	                 (unsigned long long)op->seq);
}

int veld__merge_apply(struct veld__merge *m, const veld__op *op, int *applied)
{
	uint8_t supbuf[24 * VELD_OP_MAX_SUPERSEDES];
	int rc, head, known = 1, fresh, superseded;

	*applied = 0;
	if (!veld__kind_name_ok(op->kind))
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
		    (!known && (rc = m->p->op_any(m->db, op->entity, &known)) != VELD_OK))
			return rc;
	}
	fresh = !known || (same_entity(m, op) && fresh_field(m, op->field));

	/* Born superseded if a known operation already supersedes it. */
	if ((rc = m->p->sup_check(m->db, op->device, op->seq, op->entity, op->field,
	                          &superseded)) != VELD_OK)
		return rc;
	head = !superseded;
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
	int erased, rc = m->p->erased_check(m->db, client, &erased);
	return rc != VELD_OK ? rc : erased;
}

/* only_grew: the field gained a head and lost none, so it cannot have left
 * the conflicts table: skip the delete. */
static int track_conflict(struct veld__merge *m, const uint8_t entity[16], const char *field,
                          int only_grew)
{
	uint64_t heads;
	int rc;
	if ((rc = m->p->head_count(m->db, entity, field, &heads)) != VELD_OK)
		return rc;
	if (heads <= 1 && only_grew)
		return VELD_OK;
	return m->p->conflict_set(m->db, entity, field, heads > 1);
}

/* An operation on entity/field supersedes `ref`: clear ref's head flag if
 * it is held, else remember the supersession for when it comes. */
static int supersede(struct veld__merge *m, const veld__ref *ref, const uint8_t entity[16],
                     const char *field)
{
	int changed, rc = m->p->op_unhead(m->db, ref->device, ref->seq, entity, field, &changed);
	if (rc == VELD_OK && !changed)
		rc = m->p->sup_insert(m->db, ref->device, ref->seq, entity, field);
	return rc;
}

int veld__merge_insert(struct veld__merge *m, const veld__op *op, int head, uint8_t *supbuf,
                       int *applied)
{
	size_t sup_len = op->nsup ? veld__sup_encode(supbuf, op->sup, op->nsup) : 0;
	int inserted, rc;
	if ((rc = m->p->op_insert(m->db, op, head, op->nsup ? supbuf : NULL, sup_len, &inserted)) !=
	    VELD_OK)
		return rc;
	if (!inserted)
		return VELD_OK; /* held already (*applied stays 0) */
	if (same_entity(m, op))
		note_field(m, op->field);

	/* Clear the flag of a superseded operation held here; remember the
	 * supersession of one not held yet. */
	for (size_t i = 0; i < op->nsup; i++)
		if ((rc = supersede(m, &op->sup[i], op->entity, op->field)) != VELD_OK)
			return rc;

	/* The record's creation stamp is the lowest of its operations': an
	 * earlier one arriving late (a waiting operation, another device's)
	 * lowers it, also on the cached record. */
	if (same_entity(m, op) && (rc = check_cached(m, op)) != VELD_OK)
		return rc;
	if (!same_entity(m, op) || op->hlc < m->last_created) {
		if ((rc = m->p->entity_upsert(m->db, op)) != VELD_OK)
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
	int rc = sqlite3_prepare_v2(m->sqlite, sql, -1, &st, NULL);
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
	if ((rc = sqlite3_prepare_v2(m->sqlite, "SELECT sup FROM ops WHERE entity = ?1 AND field = ?2"
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
	rc = VELD_OK;
	for (size_t off = 0; rc == VELD_OK && off < nsups;) {
		size_t n = 0, len = 24 * (size_t)sups[off];
		rc = veld__sup_decode(refs, VELD_OP_MAX_SUPERSEDES, sups + off + 1, len, &n);
		for (size_t i = 0; rc == VELD_OK && i < n; i++)
			rc = supersede(m, &refs[i], entity, field);
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
	if (!m->sqlite)
		return veld__err(VELD_EINVAL, "taking operations out needs the SQLite merge");
	if ((rc = sqlite3_prepare_v2(m->sqlite, "SELECT entity, field, (SELECT min(hlc) FROM ops o WHERE"
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
	if ((rc = sqlite3_prepare_v2(m->sqlite, "DELETE FROM ops WHERE device = ?1 AND seq > ?2", -1, &st,
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
		*removed = (size_t)sqlite3_changes(m->sqlite);
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
