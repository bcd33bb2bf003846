/* verify.c - the store's self-check (veld_store_verify).
 *
 * In order: SQLite's integrity check of the file; the access log's hash
 * chain and its recorded head; every operation against its stored hash;
 * every own batch signature; that own signatures cover every own operation;
 * every head flag against the supersedes lists; that a value is missing
 * only where an erasure or purge is logged; and last, that every sealed
 * value opens. The first failure stops the check and is the report's
 * error. */
#include "error.h"
#include "op.h"
#include "recbuild.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum verify_stmt {
	VF_INTEGRITY, VF_OPS, VF_BATCHES, VF_BATCH_HASHES,
	VF_OWN_OPS, VF_OWN_SIGNED, VF_OWN_MAX, VF_BATCH_GAPS,
	VF_REFS_CREATE, VF_REFS_FILL, VF_SUPS, VF_REFS_ADD, VF_HEADS_WRONG, VF_REFS_CLEAR,
	VF_REMOVED_UNLOGGED, VF_ENTITIES,
};
static const char *const verify_sql[] = {
	[VF_INTEGRITY] = "PRAGMA integrity_check",
	[VF_OPS] = "SELECT device, seq, hlc, kind, entity, client, team, field, value, sup, hash, kv,"
	           " ver FROM ops ORDER BY device, seq",
	[VF_BATCHES] = "SELECT first_seq, last_seq, sig, ver FROM batches WHERE device = ?1"
	               " ORDER BY first_seq",
	[VF_BATCH_HASHES] = "SELECT hash FROM ops WHERE device = ?1 AND seq BETWEEN ?2 AND ?3"
	                    " ORDER BY seq",
	/* Own signed batches must tile 1..last own seq with no gap or overlap. */
	[VF_OWN_OPS] = "SELECT count(*) FROM ops WHERE device = ?1",
	[VF_OWN_SIGNED] = "SELECT coalesce(sum(last_seq - first_seq + 1), 0) FROM batches"
	                  " WHERE device = ?1",
	[VF_OWN_MAX] = "SELECT coalesce(max(seq), 0) FROM ops WHERE device = ?1",
	[VF_BATCH_GAPS] = "SELECT count(*) FROM batches b WHERE b.device = ?1 AND b.first_seq > 1"
	                  " AND NOT EXISTS (SELECT 1 FROM batches p WHERE p.device = b.device"
	                  " AND p.last_seq = b.first_seq - 1)",
	/* Every supersession the log states, in a table of this connection:
	 * the pending ones (superseded) and those in operations' sup lists. */
	[VF_REFS_CREATE] = "CREATE TEMP TABLE IF NOT EXISTS vrefs(device BLOB, seq INTEGER,"
	                   " entity BLOB, field TEXT)",
	[VF_REFS_FILL] = "INSERT INTO vrefs SELECT device, seq, entity, field FROM superseded",
	[VF_SUPS] = "SELECT entity, field, sup FROM ops WHERE sup IS NOT NULL",
	[VF_REFS_ADD] = "INSERT INTO vrefs VALUES(?1, ?2, ?3, ?4)",
	/* A removed value's flag is not checked: the operations that
	 * superseded it may be gone with it (VF_REMOVED_UNLOGGED checks why). */
	[VF_HEADS_WRONG] = "SELECT count(*) FROM ops o WHERE (o.value IS NOT NULL OR o.field = '"
	                   VELD_TOMBSTONE_FIELD "') AND o.head != NOT EXISTS (SELECT 1 FROM vrefs r"
	                   " WHERE r.device = o.device AND r.seq = o.seq AND r.entity = o.entity"
	                   " AND r.field = o.field)",
	[VF_REFS_CLEAR] = "DELETE FROM vrefs",
	/* A value may be missing only where the (keyed) access log records
	 * that its client was erased or purged. */
	[VF_REMOVED_UNLOGGED] = "SELECT count(*) FROM ops WHERE value IS NULL AND field != '"
	                        VELD_TOMBSTONE_FIELD "' AND lower(hex(client)) NOT IN"
	                        " (SELECT client FROM audit WHERE event IN ('erase', 'purge')"
	                        " AND client IS NOT NULL)",
	[VF_ENTITIES] = "SELECT entity FROM entities",
};
static const struct veld__sqltab verify_tab = VELD_SQLTAB(VELD_SQL_VERIFY, verify_sql);

/* A count (a one-row, one-column statement), with this device as ?1. */
static int count(veld_store *s, enum verify_stmt which, int64_t *n)
{
	sqlite3_stmt *st;
	int rc = veld__sql(s, &verify_tab, which, &st);
	if (rc != VELD_OK)
		return rc;
	sqlite3_bind_blob(st, 1, s->device, VELD_ID_BYTES, SQLITE_STATIC);
	return veld__sql_int64(st, n, "verifying");
}

/* A statement that returns nothing, without parameters. */
static int run(veld_store *s, enum verify_stmt which)
{
	sqlite3_stmt *st;
	int rc = veld__sql(s, &verify_tab, which, &st);
	return rc != VELD_OK ? rc : veld__sql_run(st, "verifying heads");
}

static int verify_integrity(veld_store *s, json_t *report)
{
	sqlite3_stmt *st;
	const char *r;
	int rc = veld__sql(s, &verify_tab, VF_INTEGRITY, &st);
	if (rc != VELD_OK)
		return rc;
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		sqlite3_reset(st);
		return veld__err_sqlite(rc, "checking the store file");
	}
	r = (const char *)sqlite3_column_text(st, 0);
	json_object_set_new(report, "integrity_check", json_string(r));
	rc = strcmp(r, "ok") == 0 ? VELD_OK
	     : veld__err(VELD_ECORRUPT, "the store file failed its integrity check");
	sqlite3_reset(st);
	return rc;
}

/* An operation (a row of VF_OPS) against its stored hash. A value removed
 * by erasure or retention can no longer be hashed; its stored hash still
 * counts for the batch signature. */
static int verify_op(sqlite3_stmt *ops)
{
	veld__op op;
	veld__ref sup[VELD_OP_MAX_SUPERSEDES];
	int rc;
	memset(&op, 0, sizeof op);
	memcpy(op.device, sqlite3_column_blob(ops, 0), VELD_ID_BYTES);
	op.seq = (uint64_t)sqlite3_column_int64(ops, 1);
	op.hlc = (uint64_t)sqlite3_column_int64(ops, 2);
	snprintf(op.kind, sizeof op.kind, "%s", (const char *)sqlite3_column_text(ops, 3));
	memcpy(op.entity, sqlite3_column_blob(ops, 4), VELD_ID_BYTES);
	memcpy(op.client, sqlite3_column_blob(ops, 5), VELD_ID_BYTES);
	snprintf(op.team, sizeof op.team, "%s", (const char *)sqlite3_column_text(ops, 6));
	snprintf(op.field, sizeof op.field, "%s", (const char *)sqlite3_column_text(ops, 7));
	op.value = sqlite3_column_blob(ops, 8);
	op.value_len = (size_t)sqlite3_column_bytes(ops, 8);
	if ((rc = veld__sup_decode(sup, VELD_OP_MAX_SUPERSEDES, sqlite3_column_blob(ops, 9),
	                           (size_t)sqlite3_column_bytes(ops, 9), &op.nsup)) != VELD_OK)
		return rc;
	op.sup = sup;
	op.kv = (uint64_t)sqlite3_column_int64(ops, 11);
	op.version = (uint32_t)sqlite3_column_int(ops, 12);
	if (!op.value && strcmp(op.field, VELD_TOMBSTONE_FIELD) != 0)
		return VELD_OK;
	veld__op_hash(&op);
	if (sqlite3_column_bytes(ops, 10) != 32 || memcmp(op.hash, sqlite3_column_blob(ops, 10), 32) != 0)
		return veld__err(VELD_ECORRUPT, "operation %llu does not match its hash",
		                 (unsigned long long)op.seq);
	return VELD_OK;
}

static int verify_hashes(veld_store *s, int64_t *nops)
{
	sqlite3_stmt *ops;
	int rc;
	*nops = 0;
	if ((rc = veld__sql(s, &verify_tab, VF_OPS, &ops)) != VELD_OK)
		return rc;
	while ((rc = sqlite3_step(ops)) == SQLITE_ROW) {
		(*nops)++;
		if ((rc = verify_op(ops)) != VELD_OK) {
			sqlite3_reset(ops);
			return rc;
		}
	}
	return veld__sql_done(ops, rc, "verifying");
}

/* The signature of own batch first..last (sig) over the stored hashes. */
static int verify_batch(veld_store *s, uint32_t version, uint64_t first, uint64_t last,
                        const void *sig, int siglen)
{
	crypto_generichash_state h;
	uint8_t inner[32], msg[77];
	uint64_t n = 0;
	sqlite3_stmt *st;
	int rc = veld__sql(s, &verify_tab, VF_BATCH_HASHES, &st);
	if (rc != VELD_OK)
		return rc;
	crypto_generichash_init(&h, NULL, 0, 32);
	sqlite3_bind_blob(st, 1, s->device, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)first);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)last);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		crypto_generichash_update(&h, sqlite3_column_blob(st, 0), 32);
		n++;
	}
	if ((rc = veld__sql_done(st, rc, "verifying")) != VELD_OK)
		return rc;
	crypto_generichash_final(&h, inner, 32);
	veld__batch_message(msg, version, s->device, first, last, inner);
	if (n != last - first + 1 || siglen != crypto_sign_BYTES ||
	    crypto_sign_verify_detached(sig, msg, sizeof msg, s->sign_pk) != 0)
		return veld__err(VELD_ECORRUPT, "the signature over operations %llu-%llu does not verify",
		                 (unsigned long long)first, (unsigned long long)last);
	return VELD_OK;
}

static int verify_batches(veld_store *s, int64_t *nbatches)
{
	sqlite3_stmt *st;
	int rc;
	*nbatches = 0;
	if ((rc = veld__sql(s, &verify_tab, VF_BATCHES, &st)) != VELD_OK)
		return rc;
	sqlite3_bind_blob(st, 1, s->device, VELD_ID_BYTES, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((rc = verify_batch(s, (uint32_t)sqlite3_column_int(st, 3),
		                       (uint64_t)sqlite3_column_int64(st, 0),
		                       (uint64_t)sqlite3_column_int64(st, 1), sqlite3_column_blob(st, 2),
		                       sqlite3_column_bytes(st, 2))) != VELD_OK) {
			sqlite3_reset(st);
			return rc;
		}
		(*nbatches)++;
	}
	return veld__sql_done(st, rc, "verifying");
}

/* Own signed batches must tile 1..last own seq with no gap or overlap, so an
 * operation added to the file without the signing key is caught. */
static int verify_coverage(veld_store *s)
{
	int64_t own, covered, maxseq, gaps;
	int rc;
	if ((rc = count(s, VF_OWN_OPS, &own)) || (rc = count(s, VF_OWN_SIGNED, &covered)) ||
	    (rc = count(s, VF_OWN_MAX, &maxseq)) || (rc = count(s, VF_BATCH_GAPS, &gaps)))
		return rc;
	if (own != maxseq || covered != own || gaps != 0)
		return veld__err(VELD_ECORRUPT, "this device's operations are not all covered by its "
		                 "signatures (%lld operations, %lld signed)", (long long)own,
		                 (long long)covered);
	return VELD_OK;
}

/* The supersessions of one operation (a row of VF_SUPS) into vrefs. */
static int add_refs(veld_store *s, sqlite3_stmt *ops)
{
	veld__ref sup[VELD_OP_MAX_SUPERSEDES];
	sqlite3_stmt *ins;
	size_t n = 0;
	int rc;
	if ((rc = veld__sup_decode(sup, VELD_OP_MAX_SUPERSEDES, sqlite3_column_blob(ops, 2),
	                           (size_t)sqlite3_column_bytes(ops, 2), &n)) != VELD_OK ||
	    (rc = veld__sql(s, &verify_tab, VF_REFS_ADD, &ins)) != VELD_OK)
		return rc;
	for (size_t i = 0; i < n; i++) {
		sqlite3_bind_blob(ins, 1, sup[i].device, VELD_ID_BYTES, SQLITE_TRANSIENT);
		sqlite3_bind_int64(ins, 2, (sqlite3_int64)sup[i].seq);
		sqlite3_bind_value(ins, 3, sqlite3_column_value(ops, 0));
		sqlite3_bind_value(ins, 4, sqlite3_column_value(ops, 1));
		if ((rc = veld__sql_run(ins, "verifying heads")) != VELD_OK)
			return rc;
	}
	return VELD_OK;
}

static int collect_sups(veld_store *s)
{
	sqlite3_stmt *ops;
	int rc = veld__sql(s, &verify_tab, VF_SUPS, &ops);
	if (rc != VELD_OK)
		return rc;
	while ((rc = sqlite3_step(ops)) == SQLITE_ROW) {
		if ((rc = add_refs(s, ops)) != VELD_OK) {
			sqlite3_reset(ops);
			return rc;
		}
	}
	return veld__sql_done(ops, rc, "verifying heads");
}

/* Recompute every head flag from the supersedes lists. */
static int verify_heads(veld_store *s)
{
	int64_t bad = 0;
	int rc;
	if ((rc = run(s, VF_REFS_CREATE)) != VELD_OK)
		return rc;
	if ((rc = run(s, VF_REFS_CLEAR)) == VELD_OK && (rc = run(s, VF_REFS_FILL)) == VELD_OK &&
	    (rc = collect_sups(s)) == VELD_OK)
		rc = count(s, VF_HEADS_WRONG, &bad);
	/* Empty it again: the table lives as long as the connection. */
	if (rc == VELD_OK)
		rc = run(s, VF_REFS_CLEAR);
	if (rc != VELD_OK)
		return rc;
	if (bad != 0)
		return veld__err(VELD_ECORRUPT, "%lld field values are marked current or superseded "
		                 "against the operation log", (long long)bad);
	return VELD_OK;
}

static int verify_removals(veld_store *s)
{
	int64_t bad;
	int rc = count(s, VF_REMOVED_UNLOGGED, &bad);
	if (rc != VELD_OK)
		return rc;
	if (bad != 0)
		return veld__err(VELD_ECORRUPT, "%lld sealed values were removed without an erasure "
		                 "or purge on record", (long long)bad);
	return VELD_OK;
}

/* Every sealed value must open: build every record. A client erased or
 * whose key is not here is not a failure. */
static int verify_records(veld_store *s, int64_t *n)
{
	sqlite3_stmt *st;
	int rc;
	*n = 0;
	if ((rc = veld__sql(s, &verify_tab, VF_ENTITIES, &st)) != VELD_OK)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *rec = NULL;
		int brc = veld__record_build(s, sqlite3_column_blob(st, 0), &rec);
		json_decref(rec);
		(*n)++;
		if (brc != VELD_OK && brc != VELD_ESHREDDED && brc != VELD_ENOTFOUND) {
			sqlite3_reset(st);
			return brc;
		}
	}
	return veld__sql_done(st, rc, "verifying");
}

/* The checks in order; each adds what it counted to the report. */
static int verify_all(veld_store *s, json_t *report)
{
	int64_t nops, nbatches, nrecords;
	uint64_t entries = 0;
	int rc;
	if ((rc = verify_integrity(s, report)) != VELD_OK ||
	    (rc = veld__audit_verify(s, &entries)) != VELD_OK)
		return rc;
	json_object_set_new(report, "audit_entries", json_integer((json_int_t)entries));
	if ((rc = verify_hashes(s, &nops)) != VELD_OK || (rc = verify_batches(s, &nbatches)) != VELD_OK ||
	    (rc = verify_coverage(s)) != VELD_OK || (rc = verify_heads(s)) != VELD_OK ||
	    (rc = verify_removals(s)) != VELD_OK)
		return rc;
	json_object_set_new(report, "operations", json_integer(nops));
	json_object_set_new(report, "signed_batches", json_integer(nbatches));
	/* Set for real by the caller; here so the report keeps its key order
	 * ("ok" before "records"). */
	json_object_set_new(report, "ok", json_false());
	rc = verify_records(s, &nrecords);
	json_object_set_new(report, "records", json_integer(nrecords));
	return rc;
}

int veld_store_verify(veld_store *s, char **json_out)
{
	json_t *report;
	int rc = veld__enter(s);
	if (rc)
		return rc;
	if (json_out)
		*json_out = NULL;
	if ((rc = veld__need_keys(s)) != VELD_OK)
		goto out;
	report = json_object();
	rc = verify_all(s, report);
	json_object_set_new(report, "ok", json_boolean(rc == VELD_OK));
	/* The report goes back either way: it says what failed. */
	if (json_out)
		*json_out = json_dumps(report, JSON_COMPACT);
	json_decref(report);
out:
	veld__leave(s);
	return rc;
}
